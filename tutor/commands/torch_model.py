"""``tutor torch FILE.py[:FACTORY]``: record your own PyTorch model and step through it.

FILE.py is your own code. It is imported — and so runs, with everything it does —
only because you named it on the command line, exactly as ``python FILE.py`` would
run it; nothing else ever imports it. FACTORY (default ``make``) is a function in it
that takes no arguments and returns ``(model, inputs)``, ``(model, inputs, loss_fn)``
or a dict with those keys: ``model`` a ``torch.nn.Module``; ``inputs`` a tensor, a
tuple of positional arguments or a dict of keyword arguments; ``loss_fn(output)`` a
number (default: ``output.sum()``). The model runs once forward and once backward
while ``engine.pytorch.record`` writes down every op and every autograd step.

``--trace`` prints the record, one line per step (the aten ops of a call indented under
it), filtered like ``tutor trace`` by ``--forward``/``--backward``/``--scope``. ``--check``
compares the record with PyTorch (``engine.pytorch.check``) and prints one line: exit 0
when everything matches, 1 on a mismatch or when the recorder itself fails (naming the
step, with a one-line reason).

Every mistake gets one line on stderr and exit status 2; ``--verbose`` (when the
parser offers it) adds the traceback.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from pathlib import Path

from rich.console import Console
from rich.text import Text

from engine.timeline import Timeline

DEFAULT_FACTORY = "make"


class TorchCliError(Exception):
    """A mistake in the target file or what its factory returns; the message says which."""


def split_target(target: str) -> tuple[Path, str | None]:
    """``models/mlp.py:build`` → (Path("models/mlp.py"), "build"); no colon → no factory.
    (A Windows drive colon, ``C:\\m.py``, is not a factory separator.)"""
    head, sep, tail = target.rpartition(":")
    if sep and tail.isidentifier() and head and not (len(head) == 1 and head.isalpha()):
        return Path(head), tail
    return Path(target), None


def _user_line(error: BaseException, path: Path) -> str:
    """`` (mlp.py line 12)``: the deepest frame of the traceback inside the user's file."""
    if isinstance(error, SyntaxError) and error.filename == str(path) and error.lineno:
        return f" ({path.name} line {error.lineno})"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    return f" ({path.name} line {frames[-1].lineno})" if frames else ""


def _raised(what: str, error: BaseException, path: Path) -> TorchCliError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{what} raised {type(error).__name__}"
    return TorchCliError(f"{text}: {message}{_user_line(error, path)}" if message
                         else f"{text}{_user_line(error, path)}")


def check_path(path: Path) -> None:
    if not path.exists():
        raise TorchCliError(f"no such file: {path}")
    if path.is_dir() or path.suffix != ".py":
        raise TorchCliError(f"{path} is not a Python file: give a .py file, e.g. "
                            "tutor torch my_model.py")


def load_file(path: Path):
    """Import the learner's file by path (their code; see the module docstring)."""
    check_path(path)
    name = f"tutor_user_{path.stem}" if path.stem.isidentifier() else "tutor_user_model"
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        line = f" line {error.lineno}" if error.lineno else ""
        raise TorchCliError(f"syntax error in {path}{line}: {error.msg}") from error
    except ModuleNotFoundError as error:
        if error.name == "torch":
            raise TorchCliError(_torch_missing_message()) from error
        raise _raised(f"importing {path.name}", error, path) from error
    except SystemExit as error:
        raise TorchCliError(f"importing {path.name} called sys.exit({error.code!r}){_user_line(error, path)}; "
                            "put the script part under `if __name__ == \"__main__\":`") from error
    except Exception as error:
        raise _raised(f"importing {path.name}", error, path) from error
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
        sys.modules.pop(name, None)
    return module


def _torch_missing_message() -> str:
    from engine.pytorch import TorchMissing, import_torch
    try:
        import_torch()
    except TorchMissing as error:
        return str(error)
    return "PyTorch is not installed"  # pragma: no cover - torch importable after all


def _candidates(module) -> list[str]:
    """Functions defined in the file itself that can be called with no arguments."""
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if obj.__module__ != module.__name__:
            continue
        try:
            required = [p for p in inspect.signature(obj).parameters.values()
                        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                               p.POSITIONAL_OR_KEYWORD,
                                                               p.KEYWORD_ONLY)]
        except (TypeError, ValueError):
            continue
        if not required:
            names.append(name)
    return names


def find_factory(module, path: Path, name: str | None):
    """(the factory, a note saying what was tried when it was not named ``make``)."""
    callables = _candidates(module)
    if name is not None:
        factory = getattr(module, name, None)
        if callable(factory):
            return factory, ""
        raise TorchCliError(f"{path} has no function {name!r}; "
                            f"{_found(callables)}")
    factory = getattr(module, DEFAULT_FACTORY, None)
    if callable(factory):
        return factory, ""
    if len(callables) == 1:
        only = callables[0]
        return getattr(module, only), (f"{path.name} has no {DEFAULT_FACTORY}(); using "
                                       f"{only}(), the only function without arguments in it")
    raise TorchCliError(f"{path} has no function {DEFAULT_FACTORY!r}; {_found(callables)}")


def _found(callables: list[str]) -> str:
    if not callables:
        return ("it defines no function without arguments. Add def make(): return model, "
                "inputs[, loss_fn]")
    listed = ", ".join(callables)
    return f"functions found: {listed}. Name one: FILE.py:{callables[0]}"


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def unpack(result, label: str, torch):
    """(model, inputs, loss_fn) from what the factory returned, or a clear error."""
    if isinstance(result, dict):
        missing = [k for k in ("model", "inputs") if k not in result]
        unknown = sorted(set(result) - {"model", "inputs", "loss_fn"}, key=str)
        if missing or unknown:
            problem = (f"without {', '.join(map(repr, missing))}" if missing
                       else f"with unexpected key {unknown[0]!r}")
            raise TorchCliError(f"{label} returned a dict {problem}; its keys must be 'model', "
                                "'inputs' and optionally 'loss_fn'")
        model, inputs, loss_fn = result["model"], result["inputs"], result.get("loss_fn")
    elif isinstance(result, (tuple, list)) and len(result) in (2, 3):
        model, inputs, loss_fn = (*result, None) if len(result) == 2 else result
    else:
        raise TorchCliError(f"{label} must return (model, inputs) or (model, inputs, loss_fn), "
                            f"or a dict with those keys; it returned {_describe(result)}")
    if not isinstance(model, torch.nn.Module):
        raise TorchCliError(f"{label} returned a model of type {type(model).__name__}; the "
                            "model must be a torch.nn.Module")
    if loss_fn is not None and not callable(loss_fn):
        raise TorchCliError(f"{label} returned a loss_fn of type {type(loss_fn).__name__}; "
                            "it must be a function of the model's output")
    return model, inputs, loss_fn


def build(args):
    """Load the file and call its factory: (path, factory, note on the factory chosen,
    model, inputs, loss_fn).
    Raises TorchCliError."""
    from engine.pytorch import TorchMissing, import_torch

    path, factory_name = split_target(args.target)
    check_path(path)
    try:
        torch = import_torch()
    except TorchMissing as error:
        raise TorchCliError(str(error)) from error
    module = load_file(path)
    factory, tried = find_factory(module, path, factory_name)
    label = f"{factory.__name__}()"
    try:
        result = factory()
    except SystemExit as error:
        raise TorchCliError(f"{label} called sys.exit({error.code!r}){_user_line(error, path)}") \
            from error
    except Exception as error:
        raise _raised(label, error, path) from error
    model, inputs, loss_fn = unpack(result, label, torch)
    return path, factory, tried, model, inputs, loss_fn


def recorded(run, path: Path):
    """``run()`` (a recording), with the model's own errors and the recorder's refusals
    as TorchCliError; a failure of the recorder itself (RecordFailure) passes on."""
    from engine.pytorch.record import RecordError, RecordFailure

    try:
        return run()
    except RecordError as error:
        raise TorchCliError(str(error)) from error
    except RecordFailure:
        raise
    except Exception as error:
        raise _raised("running the model", error, path) from error


def prepare(args):
    """Everything before the UI: (timeline, title, notes). Raises TorchCliError, or
    RecordFailure when the recorder itself fails."""
    from engine.pytorch.record import record_module

    path, factory, tried, model, inputs, loss_fn = build(args)
    record = recorded(lambda: record_module(model, inputs, loss_fn,
                                            shapes_only=args.shapes_only), path)
    notes = [tried] if tried else []
    if loss_fn is None:
        notes.append(f"loss: {record.loss_note}")
    notes += list(dict.fromkeys(record.notes))
    if record.shapes_only:
        notes.append("shapes only: no values were recorded")
    title = f"{path.name}:{factory.__name__} — {type(model).__name__}"
    return Timeline(record), title, notes


def print_trace(console: Console, timeline: Timeline, title: str, notes: list[str],
                phases=("forward", "backward"), scope: str | None = None) -> int:
    """The record, one line per step; a call's aten ops indented under it. Returns how
    many steps were shown."""
    from tutor.commands.trace import matches, step_line

    record = timeline.tape
    calls = sum(1 for n in record.nodes if getattr(n.op, "level", "") in ("function", "custom"))
    console.print(Text(title, style="bold"))
    console.print(Text(f"{len(record.nodes)} forward ops ({calls} calls you wrote, the aten "
                       f"ops they ran indented under them), {len(record.steps)} backward "
                       "steps", style="dim"))
    for note in notes:
        console.print(Text(f"note: {note}", style="yellow"))
    shown = 0
    for step in timeline.steps:
        if step.phase not in phases or not matches(step, scope):
            continue
        line = step_line(timeline, step, record.shapes_only)
        if step.node is not None and step.node.index in record.parent:
            head = len(f"{step.index + 1:>4} {step.phase:<8} ")
            line = Text.assemble(line[:head], "  ", line[head:])
        console.print(line)
        shown += 1
    return shown


def run_check(args, console: Console) -> int:
    """``--check``: one line; 0 when all matches, 1 on a mismatch or a recorder failure."""
    from engine.pytorch.check import check_model

    path, factory, tried, model, inputs, loss_fn = build(args)
    outcome = recorded(lambda: check_model(model, inputs, loss_fn), path)
    console.print(Text(outcome.summary()))
    if not outcome.ok:
        print(f"tutor torch: {path.name}:{factory.__name__}: {outcome.first_problem()}",
              file=sys.stderr)
        return 1
    return 0


def run_torch(args) -> int:
    """Record FILE.py's model, then print it (``--trace``), check it (``--check``) or
    open the stepper on it."""
    from engine.pytorch.errors import RecordFailure

    console = Console(highlight=False, soft_wrap=True, emoji=False)
    verbose = getattr(args, "verbose", False)
    filters = [flag for flag, given in (("--forward", getattr(args, "forward", False)),
                                        ("--backward", getattr(args, "backward", False)),
                                        ("--scope", getattr(args, "scope", None)))
               if given]
    if filters and not args.trace:
        print(f"tutor torch: {filters[0]} filters the printed record: add --trace",
              file=sys.stderr)
        return 2
    if getattr(args, "check", False) and args.shapes_only:
        print("tutor torch: --check compares values, and --shapes-only records none: "
              "leave one out", file=sys.stderr)
        return 2
    try:
        if getattr(args, "check", False):
            return run_check(args, console)
        timeline, title, notes = prepare(args)
    except TorchCliError as error:
        print(f"tutor torch: {error}", file=sys.stderr)
        if verbose and error.__cause__ is not None:
            traceback.print_exception(error.__cause__, file=sys.stderr)
        return 2
    except RecordFailure as error:
        print(f"tutor torch: {error}", file=sys.stderr)
        if verbose:
            traceback.print_exception(error, file=sys.stderr)
        return 1
    if args.trace:
        phases = ("forward",) if getattr(args, "forward", False) else \
            ("backward",) if getattr(args, "backward", False) else ("forward", "backward")
        scope = getattr(args, "scope", None)
        if print_trace(console, timeline, title, notes, phases, scope) == 0:
            print(f"tutor torch: no step matches {scope!r}", file=sys.stderr)
            return 1
        return 0
    from tutor.commands.explore import run_stepper

    for note in notes:
        console.print(Text(f"note: {note}", style="yellow"))
    return run_stepper(timeline, title=title, notes=notes)
