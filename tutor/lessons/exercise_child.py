"""The child process that runs a learner's exercise file: ``python -m
tutor.lessons.exercise_child FOLDER``.

The tutor (``tutor.lessons.exercise_runner``) writes ``FOLDER/request.pickle`` (the file,
the function, its arguments as arrays, the limits) and starts this module. It imports
what the harness needs (torch only for the PyTorch exercises), limits its own memory,
says ``ready`` on stdout (the time limit starts then), and runs the learner's file as
``python FILE`` would, under another ``__name__``. What the learner's code prints is
captured, bounded, never mixed with the answer. It writes ``FOLDER/status.json`` (what
happened, the learner's own traceback lines) and ``FOLDER/parts.npz`` (the returned
arrays, read back with ``allow_pickle=False``), then ends at once.

Kept to the standard library and NumPy, so it starts fast.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import runpy
import sys
import traceback
from pathlib import Path

import numpy as np

MAX_ELEMENTS = 4_000_000  # far above any exercise's answer; keeps a runaway result small
TORCH_MISSING = ("PyTorch is not installed, so this exercise cannot run. Install it with: "
                 "pip install 'transformer-tutor[torch]'")


class Failure(Exception):
    """The learner's code did not give an answer: ``status`` says how."""

    def __init__(self, status: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.trace = status, message, trace or []


class Capture(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` for the learner: keeps the first ``limit`` characters
    and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.kept, self.size, self.total = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.total += len(text)
        room = self.limit - self.size
        if room > 0:
            self.kept.append(text[:room])
            self.size += min(room, len(text))
        return len(text)

    def text(self) -> str:
        return "".join(self.kept)


# limits -------------------------------------------------------------------------------

def _mapped_bytes() -> int:
    """The address space this process has mapped already (Linux), or 0 if unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    """At most ``memory_bytes`` more address space than is mapped now (imports such as
    torch map a lot before the learner's code runs), and a CPU-time backstop."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a Unix
        return
    for which, extra, base in ((resource.RLIMIT_AS, memory_bytes, _mapped_bytes()),
                               (resource.RLIMIT_CPU, cpu_seconds,
                                int(resource.getrusage(resource.RUSAGE_SELF).ru_utime) + 1)):
        soft, hard = resource.getrlimit(which)
        limit = base + extra
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        try:
            resource.setrlimit(which, (limit, hard))
        except (ValueError, OSError):  # pragma: no cover - a platform that refuses
            pass


# the learner's code ------------------------------------------------------------------

def learner_lines(error: BaseException, path: str) -> list[str]:
    """The traceback lines in the learner's own file, then the error itself."""
    if isinstance(error, SyntaxError) and error.filename == path:
        lines = [f"  line {error.lineno}"]
        if error.text:
            lines.append("    " + error.text.rstrip("\n"))
            if error.offset:
                lines.append("    " + " " * (max(error.offset, 1) - 1) + "^")
        return lines + [f"SyntaxError: {error.msg}"]
    lines = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == path:
            lines.append(f"  line {frame.lineno}, in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line.strip()}")
    return lines + traceback.format_exception_only(type(error), error)[-1:]


def _describe(value) -> str:
    if value is None:
        return "None (is a return missing?)"
    kind = type(value)
    if kind.__module__.startswith("torch"):
        return f"a {kind.__module__}.{kind.__name__}"
    return f"a {kind.__name__}"


def as_array(value, what: str, from_torch: bool, notes: list) -> np.ndarray:
    """A returned value as a float64 array, or ``Failure("bad_return")`` saying what it is."""
    if from_torch and type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, np.bool_)):
        raise Failure("bad_return", f"{what} is {value!r}, a truth value, not an array")
    if isinstance(value, (int, float, np.number)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        hint = " (call .numpy() on it)" if type(value).__module__.startswith("torch") else ""
        raise Failure("bad_return", f"{what} is {_describe(value)}, not a NumPy array{hint}")
    if value.dtype.kind not in "fiu":
        raise Failure("bad_return", f"{what} is an array of {value.dtype}, not of numbers")
    if value.size > MAX_ELEMENTS:
        raise Failure("bad_return", f"{what} has shape {value.shape}: {value.size:,} numbers, "
                      "far more than this exercise's answer")
    if value.dtype != np.float64:
        notes.append(f"{what} is {value.dtype}; it was compared as float64")
    return np.array(value, dtype=np.float64)


def split_parts(value, names: list[str], function: str) -> list:
    """One value per expected part: a tuple of ``len(names)`` when there are several."""
    if len(names) == 1:
        if isinstance(value, tuple):
            raise Failure("bad_return", f"{function} returned a tuple of {len(value)}; return "
                          f"one array ({names[0]})")
        return [value]
    wanted = f"return a tuple of {len(names)} arrays ({', '.join(names)})"
    if not isinstance(value, (tuple, list)):
        raise Failure("bad_return", f"{function} returned {_describe(value)}; {wanted}")
    if len(value) != len(names):
        raise Failure("bad_return", f"{function} returned {len(value)} values; {wanted}")
    return list(value)


def call(what: str, path: str, function, *arguments):
    """Run the learner's code; its exceptions become ``Failure`` with their own lines."""
    try:
        return function(*arguments)
    except Failure:
        raise
    except NotImplementedError as error:
        raise Failure("todo", f"{what} is not written yet (it raises NotImplementedError)",
                      learner_lines(error, path)) from None
    except MemoryError:
        raise Failure("memory", f"{what} ran out of memory") from None
    except RecursionError as error:
        raise Failure("raised", f"{what} recursed too deeply",
                      learner_lines(error, path)[-6:]) from None
    except SystemExit as error:
        raise Failure("raised", f"{what} called sys.exit({error.code!r})",
                      learner_lines(error, path)) from None
    except BaseException as error:  # the learner's code: anything may come out
        first = (str(error).strip().splitlines() or [""])[0][:300]
        raise Failure("raised", f"{what} raised {type(error).__name__}"
                      + (f": {first}" if first else ""), learner_lines(error, path)) from None


def load_function(path: str, name: str):
    def run_file():
        return runpy.run_path(path, run_name="__exercise__")

    namespace = call(f"running {Path(path).name}", path, run_file)
    function = namespace.get(name)
    if function is None:
        raise Failure("no_function", f"{Path(path).name} defines no function {name}(…); keep "
                      "the name and signature of the starter")
    if not callable(function):
        raise Failure("no_function", f"{name} in {Path(path).name} is {_describe(function)}, "
                      "not a function")
    return function


# harnesses: how the learner's function is called and what comes back -----------------

def run_call(request: dict, function, notes: list) -> list:
    names, path, name = request["parts"], request["path"], request["function"]
    value = call(f"{name}(…)", path, function, *request["call"])
    values = split_parts(value, names, name)
    return [(n, call(f"reading {n}", path, as_array, v, n, False, notes))
            for n, v in zip(names, values)]


def run_torch_module(request: dict, function, notes: list) -> list:
    import torch

    path, name, named = request["path"], request["function"], request["named"]
    module = call(f"{name}(…)", path, function, *request["call"])
    if not isinstance(module, torch.nn.Module):
        raise Failure("bad_return", f"{name} returned {_describe(module)}; return a "
                      "torch.nn.Module")
    state = {k: torch.from_numpy(np.array(v)) for k, v in named["state"].items()}

    def load():
        module.to(torch.float64)
        module.load_state_dict(state, strict=True)
        module.eval()

    call("loading the engine's weights into your module (load_state_dict)", path, load)
    x = torch.from_numpy(np.array(named["x"]))
    with torch.no_grad():
        out = call("module(x)", path, module, x)
    return [(request["parts"][0], as_array(out, "module(x)", True, notes))]


def run_torch_training_step(request: dict, function, notes: list) -> list:
    import torch

    from engine.config import ModelConfig
    from engine.model import Transformer
    from engine.pytorch.twin import TorchTwin

    path, name, named = request["path"], request["function"], request["named"]
    engine_model = Transformer(ModelConfig(**named["config"]), params=named["params"])
    twin = TorchTwin(engine_model)

    class Model(torch.nn.Module):
        """Lesson 14's transformer: ``model(src, tgt_in)`` gives the logits."""

        def __init__(self):
            super().__init__()
            self.parts = twin.modules

        def forward(self, src, tgt_in):
            return twin.logits(src, tgt_in)

    model = Model()
    optimizer = torch.optim.SGD(model.parameters(), lr=named["lr"])
    src, tgt_in, tgt_out = (torch.as_tensor(np.array(a)) for a in request["call"])
    stale = model(src.flip(-1), tgt_in)  # an earlier batch's gradients, left in .grad
    torch.nn.functional.cross_entropy(stale.reshape(-1, stale.shape[-1]),
                                      tgt_out.reshape(-1)).backward()
    loss = call(f"{name}(…)", path, function, model, optimizer, src, tgt_in, tgt_out)
    parts = [("loss", as_array(loss, "the returned loss", True, notes))]
    with torch.no_grad():
        for n, p in twin.named_parameters().items():
            parts.append((n, p.detach().numpy().copy()))
    return parts


HARNESSES = {"call": run_call, "torch_module": run_torch_module,
             "torch_training_step": run_torch_training_step}


# the process ------------------------------------------------------------------------

def serve(folder: Path) -> None:
    request = pickle.loads((folder / "request.pickle").read_bytes())
    control = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # output written straight to the file descriptor goes with stderr
    capture = Capture(request["output_chars"])
    status = {"status": "ok", "message": "", "traceback": [], "notes": []}
    parts: list = []
    try:
        if request["harness"] != "call":
            try:
                import torch  # noqa: F401  (before the memory limit: torch maps a lot)
            except ImportError:
                raise Failure("torch_missing", TORCH_MISSING) from None
        limit_resources(request["memory_bytes"], request["cpu_seconds"])
        control.write("ready\n")
        control.flush()
        sys.stdout = sys.stderr = capture
        function = load_function(request["path"], request["function"])
        parts = HARNESSES[request["harness"]](request, function, status["notes"])
    except Failure as failure:
        status.update(status=failure.status, message=failure.message, traceback=failure.trace)
    except MemoryError:
        status.update(status="memory", message="your code ran out of memory")
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    status.update(output=capture.text(), output_total=capture.total,
                  parts=[name for name, _ in parts])
    np.savez(folder / "parts.npz", *[array for _, array in parts])
    (folder / "status.json").write_text(json.dumps(status), encoding="utf-8")


def main() -> None:  # pragma: no cover - runs in the child process
    serve(Path(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)  # no waiting for threads the learner's code may have left running


if __name__ == "__main__":  # pragma: no cover
    main()
