"""The ``tutor`` command. Parsing only; each command's work lives in its own module,
imported when that command runs (so ``tutor --version`` never imports Textual or torch).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

# the commands that open a screen at once (a lesson's name does too): see hold_collections
SCREEN_COMMANDS = (None, "home", "explore", "decode", "review", "exercise")


MAX_SEED = 2**63 - 1
MAX_STEPS = 10_000_000


class Parser(argparse.ArgumentParser):
    """One line for a mistake (naming the flag), exit status 2: no usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} -h)\n")


def whole(low: int, high: int):
    """An argparse type: a whole number in [low, high]."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value
    return convert


def positive(text: str) -> float:
    """An argparse type: a positive finite number."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0, help="weight seed (default 0)")
    p.add_argument("--weights", type=Path, metavar="NPZ",
                   help="load trained weights saved by `tutor train`")
    p.add_argument("--src", metavar="IDS", help="source token ids, e.g. 3,1,4,1,5")
    p.add_argument("--tgt", metavar="IDS", help="target token ids (default: src reversed)")
    p.add_argument("--config", metavar="K=V,...",
                   help="model sizes, e.g. d_model=16,n_heads=2 (see `tutor explore -h`)")
    p.add_argument("--lr", type=positive, default=0.1, help="learning rate of the update phase")


def explore_options(sub) -> None:
    p = sub.add_parser("explore", help="step through the default tiny model (no lesson)")
    model_options(p)
    p.add_argument("--notes", type=Path, metavar="PATH", dest="sub_notes", help=argparse.SUPPRESS)


def trace_options(sub) -> None:
    p = sub.add_parser("trace", help="print every step of a run, one line each (no UI)")
    model_options(p)
    phase = p.add_mutually_exclusive_group()
    phase.add_argument("--backward", action="store_true", help="only the backward pass")
    phase.add_argument("--forward", action="store_true", help="only the forward pass")
    p.add_argument("--scope", metavar="PATTERN",
                   help="only steps whose name matches, e.g. 'decoder.layers.0.*' or 'softmax'")
    p.add_argument("--lesson", metavar="LESSON", help="trace a lesson's scenario instead")


def check_options(sub) -> None:
    p = sub.add_parser("check", help="check the engine against PyTorch (needs torch)")
    p.add_argument("--configs", type=whole(0, 100), default=3,
                   help="random configurations besides the default (default 3)")


def lessons_options(sub) -> None:
    p = sub.add_parser("lessons", help="list the lessons, or --check lesson files")
    p.add_argument("--check", nargs="?", const="", metavar="DIR",
                   help="validate lesson files (the shipped ones, or those in DIR)")


def progress_options(sub) -> None:
    p = sub.add_parser("progress", help="show your progress and where it is saved")
    p.add_argument("--reset", action="store_true", help="forget all progress (asks first)")
    p.add_argument("--yes", action="store_true", help="with --reset: do not ask")


def train_options(sub) -> None:
    p = sub.add_parser("train", help="train the model on a toy task and save the weights")
    p.add_argument("--task", choices=("copy", "reverse", "sort"), default="reverse")
    p.add_argument("--steps", type=whole(1, MAX_STEPS), default=None, help="training steps")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    p.add_argument("--lr", type=positive, default=None, help="learning rate")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--out", type=Path, metavar="PATH", help="where to save the weights (.npz)")
    p.add_argument("--ui", action="store_true", help="train in the TUI with a live loss plot")


def torch_options(sub) -> None:
    p = sub.add_parser("torch", help="record your own PyTorch model and step through it",
                       description="Record every operation of your own PyTorch model, forward "
                                   "and backward, and step through it. Your file is imported "
                                   "(and so run) because you named it.")
    p.add_argument("target", metavar="FILE.py[:FACTORY]",
                   help="a Python file with a factory returning (model, inputs[, loss_fn])")
    p.add_argument("--shapes-only", action="store_true",
                   help="record shapes but not values (for large models)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--trace", action="store_true",
                      help="print the record instead of opening it")
    mode.add_argument("--check", action="store_true",
                      help="check the record against PyTorch (loss, gradients, every step) "
                           "and print one line; exit 0 if all match, 1 if not")
    phase = p.add_mutually_exclusive_group()
    phase.add_argument("--backward", action="store_true", help="with --trace: only backward")
    phase.add_argument("--forward", action="store_true", help="with --trace: only forward")
    p.add_argument("--scope", metavar="PATTERN",
                   help="with --trace: only steps whose name matches, e.g. 'h.0.*' or 'linear'")
    p.add_argument("--verbose", action="store_true",
                   help="show the full traceback of an error raised by your file")


def decode_options(sub) -> None:
    p = sub.add_parser("decode", help="watch the model generate its answer token by token")
    p.add_argument("--task", choices=("copy", "reverse", "sort"), default="reverse",
                   help="use the weights `tutor train --task TASK` saved (default reverse)")
    p.add_argument("--weights", type=Path, metavar="NPZ", help="use these weights instead")
    p.add_argument("--src", metavar="IDS", help="source digits, e.g. 3,1,4,1,5,9")
    p.add_argument("--temperature", type=positive, default=None,
                   help="sample with this temperature instead of taking the argmax")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0, help="sampling seed")


def exercises_options(sub) -> None:
    sub.add_parser("exercises", help="the code exercises, with your status")


def exercise_options(sub) -> None:
    p = sub.add_parser("exercise", help="write it yourself: open a code exercise, or --check a "
                                        "file on the live run")
    p.add_argument("name", metavar="NAME", help="the exercise (`tutor exercises` lists them)")
    p.add_argument("--check", metavar="FILE",
                   help="check FILE and print the result (exit 0 right, 1 wrong)")


def home_options(sub) -> None:
    sub.add_parser("home", help="the lesson list (the same as `tutor` alone)")


def review_options(sub) -> None:
    p = sub.add_parser("review", help="practise the quizzes you got wrong or skipped, on fresh "
                                      "numbers")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=None,
                   help="seed for the fresh numbers (default: different every time)")


def serve_options(sub) -> None:
    p = sub.add_parser("serve", help="the tutor in a browser tab (needs the [web] extra)",
                       description="Serve the tutor to web browsers: each tab runs its own "
                                   "`tutor ARGS` (default: the lesson list), with your progress.",
                       epilog="Options of serve come before ARGS, e.g. "
                              "`tutor serve --port 8001 explore --seed 3`.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=whole(1, 65535), default=8000, help="port (default 8000)")
    p.add_argument("served", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="what each tab runs: a lesson, explore, decode, ... (as after `tutor`)")


# each command's options, in the order `tutor -h` lists them
COMMAND_OPTIONS = {
    "explore": explore_options, "trace": trace_options, "check": check_options,
    "lessons": lessons_options, "progress": progress_options, "train": train_options,
    "torch": torch_options, "decode": decode_options, "exercises": exercises_options,
    "exercise": exercise_options, "home": home_options, "review": review_options,
    "serve": serve_options,
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``tutor`` command line: every command, or with ``only`` just that one (what
    ``parse`` builds for a command line that starts with a command's name, or is empty).

    Building all thirteen costs argparse 8–13 ms (a help formatter and a locale lookup
    for each option), most of a launch's time before the engine starts."""
    from tutor import __version__

    parser = Parser(
        prog="tutor",
        description="Step through a tiny encoder–decoder transformer, forward and backward, "
                    "one operation at a time.",
        epilog="Run `tutor` alone for the lesson list, `tutor LESSON` to open a lesson "
               "(its number or name), or `tutor explore` to step through the model freely.")
    parser.add_argument("--version", action="version", version=f"transformer-tutor {__version__}")
    parser.add_argument("--notes", type=Path, metavar="PATH",
                        help="append notes (key m) to this Markdown file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, add_options in COMMAND_OPTIONS.items():
        if only is None or name == only:
            add_options(sub)
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, str | None]:
    """A ``tutor`` command line: (its options, the lesson it names first or None)."""
    argv = list(argv)
    lesson = None
    if argv and not argv[0].startswith("-") and argv[0] not in COMMAND_OPTIONS:
        lesson = argv.pop(0)
    first = argv[0] if argv else "home"  # `tutor` alone opens the lesson list
    args = build_parser(first if first in COMMAND_OPTIONS else None).parse_args(argv)
    if getattr(args, "sub_notes", None):
        args.notes = args.sub_notes
    return args, lesson


def main(argv: list[str] | None = None) -> int:
    # The tutor's matrices are tiny: one BLAS thread is as fast, and starting a pool
    # costs ~20 ms at launch. Set OPENBLAS_NUM_THREADS yourself to override.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Textual paces frames at TEXTUAL_FPS; a frame asked for just after another (the rows a
    # layout change moves, the text a message brings) waits one to two of its periods:
    # 17–33 ms at its default of 60, 8–17 at 120. Our own updates come at ≤ 50 Hz, so
    # the cap only shortens that wait. Set TEXTUAL_FPS yourself to override.
    os.environ.setdefault("TEXTUAL_FPS", "120")
    args, lesson = parse(sys.argv[1:] if argv is None else argv)
    if lesson is not None or args.command in SCREEN_COMMANDS:
        hold_collections()
    try:
        return _dispatch(args, lesson)
    except KeyboardInterrupt:
        return 130
    finally:
        gc.enable()  # a screen that never opened (a bad option, say) did not turn it on


def hold_collections() -> None:
    """No garbage collection until the first frame (``TutorApp`` turns it back on).

    A launch makes about a million objects (modules, the recorded run, the widgets) and
    frees almost none; Python's collector, triggered by the count of new objects, walked
    them some 150 times before the first frame, 30–45 ms of a 0.6 s launch, to find
    nothing. Only commands that open a screen hold it: the others may run long loops."""
    gc.disable()


def run() -> None:
    """The ``tutor`` command: ``main()``, then leave at once.

    When ``main()`` returns, all the tutor writes is on disk (progress, notes and weights
    are written atomically, and closed, as they change). Python's own shutdown would then
    wait for a worker thread still running (a PyTorch check after q) and tear down torch,
    NumPy and Textual module by module: 0.1–0.5 s between q and the shell prompt, for
    nothing. ``os._exit`` skips it; the streams are flushed first."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said anyway
            pass
    os._exit(code)


def _dispatch(args, lesson: str | None) -> int:
    command = args.command
    if lesson is not None:
        from tutor.commands.home import open_lesson
        return open_lesson(lesson, args)
    if command in (None, "home"):
        from tutor.commands.home import open_home
        return open_home(args)
    if command == "explore":
        from tutor.commands.explore import run_explore
        return run_explore(args)
    if command == "trace":
        from tutor.commands.trace import run_trace
        return run_trace(args)
    if command == "check":
        from tutor.commands.check import run_check
        return run_check(args)
    if command == "lessons":
        from tutor.commands.lessons import run_lessons
        return run_lessons(args)
    if command == "progress":
        from tutor.commands.progress import run_progress
        return run_progress(args)
    if command == "train":
        from tutor.commands.train import run_train
        return run_train(args)
    if command == "torch":
        from tutor.commands.torch_model import run_torch
        return run_torch(args)
    if command in ("exercise", "exercises"):
        from tutor.commands.exercise import run_exercise, run_exercises
        return run_exercise(args) if command == "exercise" else run_exercises(args)
    if command == "decode":
        from tutor.commands.decode import run_decode
        return run_decode(args)
    if command == "review":
        from tutor.commands.review import run_review
        return run_review(args)
    if command == "serve":
        from tutor.commands.serve import run_serve
        return run_serve(args, parse)
    raise AssertionError(command)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    run()
