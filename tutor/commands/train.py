"""``tutor train --task {copy,reverse,sort} [--steps N] [--seed S] [--lr X]
[--optimizer adam|sgd] [--out PATH] [--ui]``: train in the terminal, save the weights.

A Rich progress bar shows the loss, the latest held-out exact match and steps per
second. At the end: the held-out exact match and where the weights went
(``$TUTOR_HOME/weights/<task>.npz`` by default). Ctrl-C stops training and saves
nothing, so a good file from an earlier run is never replaced by half-trained
weights. Bad arguments get one line and exit status 2.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from engine.memory import reuse_freed_memory
from engine.train import DEFAULT_LR, DEFAULT_STEPS, Progress as TrainProgress, train

from tutor.storage.paths import trained_weights
from tutor.storage.weights import save_weights

EXIT_BAD_ARGUMENTS = 2
EXIT_INTERRUPTED = 130


class BadArgument(ValueError):
    """An argument the learner can fix; the message says how."""


def check_arguments(args) -> tuple[int, float, int, Path]:
    """(steps, lr, seed, output path) with the defaults filled in, or BadArgument naming
    the problem (argparse has checked each value's type and range)."""
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    out = args.out if args.out is not None else trained_weights(args.task)
    check_writable(Path(out).expanduser())
    return steps, float(lr), args.seed, Path(out).expanduser()


def check_writable(path: Path) -> None:
    """Fail now, not after a minute of training, if the weights could not be saved."""
    if path.is_dir():
        raise BadArgument(f"--out {path} is a folder; give a file name such as "
                          f"{path / 'weights.npz'}")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise BadArgument(f"cannot write the weights to {path}: {ancestor} is a file, not a "
                          "folder; choose another place with --out")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise BadArgument(f"cannot write the weights to {path}: {reason}; "
                          "choose another place with --out") from None


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]}"), TextColumn("held-out {task.fields[accuracy]}"),
        TextColumn("{task.fields[rate]} steps/s"), TimeElapsedColumn(),
        console=console, transient=False, refresh_per_second=4)


def run_train(args) -> int:
    console = Console(highlight=False, emoji=False)
    errors = Console(stderr=True, highlight=False, emoji=False)
    try:
        steps, lr, seed, out = check_arguments(args)
    except BadArgument as problem:
        errors.print(f"tutor train: {problem}", markup=False, soft_wrap=True)
        return EXIT_BAD_ARGUMENTS
    reuse_freed_memory()  # each step frees and reallocates the same big arrays
    if getattr(args, "ui", False):
        return run_training_view(args.task, steps, seed, lr, args.optimizer, out)
    console.print(f"training {args.task} (seed {seed}, {args.optimizer}, lr {lr:g}, "
                  f"{steps} steps)", markup=False, soft_wrap=True)

    with _progress_bar(console) as bar:
        task_id = bar.add_task(args.task, total=steps, loss="—", accuracy="—", rate="—")
        accuracy_text = ["—"]

        def show(progress: TrainProgress) -> None:
            if progress.accuracy is not None:
                accuracy_text[0] = f"{progress.accuracy:.0%}"
            elif progress.step % 10 and progress.step != progress.steps:
                return
            bar.update(task_id, completed=progress.step, loss=f"{progress.loss:.4f}",
                       accuracy=accuracy_text[0], rate=f"{progress.steps_per_second:.0f}")

        try:
            result = train(args.task, steps=steps, seed=seed, lr=lr, optimizer=args.optimizer,
                           callback=show)
        except KeyboardInterrupt:
            bar.stop()
            kept = " (the file already there is unchanged)" if out.exists() else ""
            console.print(f"interrupted: nothing saved to {out}{kept}", markup=False,
                          soft_wrap=True)
            return EXIT_INTERRUPTED
        except FloatingPointError as problem:
            bar.stop()
            errors.print(f"tutor train: {problem}; nothing saved", markup=False, soft_wrap=True)
            return 1

    try:
        save_weights(out, result.model)
    except OSError as error:
        errors.print(f"tutor train: could not save the weights to {out}: "
                     f"{error.strerror or error}", markup=False, soft_wrap=True)
        return 1
    console.print(f"held-out exact match: {result.final_accuracy * 100:.1f}%  "
                  f"({result.wall_time:.1f} s, {result.steps_per_second:.0f} steps/s)",
                  markup=False, soft_wrap=True)
    console.print(f"weights saved to {out}", markup=False, soft_wrap=True)
    return 0


def run_training_view(task: str, steps: int, seed: int, lr: float, optimizer: str,
                      out: Path | None) -> int:
    """``tutor train --ui``: the training view; after it closes, one line on what happened.
    Exit status 0 when the weights were saved, 130 when training was stopped before the end
    (nothing saved), 1 when it failed."""
    from engine.train import Trainer
    from tutor.ui.app import TutorApp, run_app
    from tutor.ui.screens.training import TrainingScreen

    run = Trainer(task, steps, seed=seed, lr=lr, optimizer=optimizer)
    screens: list = []

    def make():
        screens.append(TrainingScreen(run, out))
        return screens[0]

    if run_app(TutorApp(make)):
        return 1  # a crash: run_app said where its log is
    screen = screens[0] if screens else None
    if screen is not None and screen.saved is not None:
        accuracy = run.accuracies[-1][1] if run.accuracies else math.nan
        print(f"held-out exact match: {accuracy * 100:.1f}%  ({run.steps_done} steps)")
        print(f"weights saved to {screen.saved}")
        return 0
    if screen is not None and screen.problem:
        print(f"tutor train: {screen.problem}")
        return 1
    kept = " (the file already there is unchanged)" if out is not None and out.exists() else ""
    print(f"stopped at step {run.steps_done} of {run.steps}: nothing saved to {out}{kept}")
    return 130
