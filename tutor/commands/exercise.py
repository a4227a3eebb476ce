"""``tutor exercises`` (the list, with your status) and ``tutor exercise NAME`` (open it in
the stepper at its step, with the exercise pane) or ``tutor exercise NAME --check FILE``
(check FILE on the live run and print the result: exit 0 when right, 1 when wrong,
crashed, timed out or not written yet, 2 on a usage error)."""

from __future__ import annotations

import sys
from pathlib import Path

from tutor.lessons.exercises import ExerciseNotFound, find_exercise, load_exercises


def _store():
    from tutor.storage.progress import ProgressStore

    return ProgressStore()


def _status(exercise, store) -> str:
    from tutor.storage.paths import exercise_file

    entry = store.exercise(exercise.name) if store is not None else {}
    if entry.get("done"):
        return "done"
    if entry.get("checks"):
        return {"todo": "not written yet", "torch_missing": "needs PyTorch"}.get(
            entry.get("last", ""), "tried")
    return "started" if exercise_file(exercise.file_name).exists() else "—"


def run_exercises(args) -> int:
    exercises, problems = load_exercises()
    for problem in problems:
        print(f"tutor exercises: {problem}", file=sys.stderr)
    store = _store()
    for message in store.warnings:
        print(f"warning: {message}", file=sys.stderr)
    width = max((len(e.name) for e in exercises), default=10)
    done = 0
    for e in exercises:
        status = _status(e, store)
        done += status == "done"
        tag = "  (PyTorch)" if e.needs_torch else ""
        print(f"{e.number:>2}  {e.name:<{width}}  {status:<15}  {e.where}, {e.at}{tag}")
    print(f"{done}/{len(exercises)} done. `tutor exercise NAME` opens one; your files are in "
          f"{_workspace()}")
    following = next((e for e in exercises if _status(e, store) != "done"), None)
    if following is not None:
        print(f"Next: tutor exercise {following.name}")
    return 1 if problems else 0


def _workspace() -> Path:
    from tutor.storage.paths import exercises_dir

    return exercises_dir()


def run_exercise(args) -> int:
    exercises, problems = load_exercises()
    try:
        exercise = find_exercise(args.name, exercises)
    except ExerciseNotFound as error:
        print(f"tutor exercise: {error}", file=sys.stderr)
        return 2
    check = getattr(args, "check", None)
    if check is not None:
        path = Path(check)
        if not path.is_file() or path.suffix != ".py":
            print(f"tutor exercise: --check {path}: " + ("not a .py file" if path.is_file()
                  else "no such file"), file=sys.stderr)
            return 2
    from tutor.lessons.exercise_check import ExerciseError, build_run

    try:
        run = build_run(exercise)
    except (ExerciseError, ValueError) as error:
        print(f"tutor exercise: {exercise.name} cannot be set up: {error}", file=sys.stderr)
        return 1
    if check is None:
        return _open(run)
    return _check(run, Path(check))


def _check(run, path: Path) -> int:
    from tutor.lessons.exercise_check import check_file
    from tutor.storage.paths import exercise_file

    result = check_file(run, path)
    first, *rest = result.lines()
    print(f"{run.exercise.name}: {first}")
    for line in rest:
        print(f"  {line}")
    if path.resolve() == exercise_file(run.exercise.file_name).resolve():
        store = _store()
        warning = store.record_exercise(run.exercise.name, result.status)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return 0 if result.correct else 1


def _open(run) -> int:
    from engine.memory import reuse_freed_memory

    from tutor.ui.app import TutorApp, run_app
    from tutor.ui.screens.exercise import ExerciseScreen

    store = _store()
    reuse_freed_memory()
    return run_app(TutorApp(lambda: ExerciseScreen(run, store)))
