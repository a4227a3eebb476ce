"""Reference solutions of the code exercises (``right/``), a typical wrong one each
(``wrong/``, its docstring names the mistake) and learner files that misbehave
(``broken/``). They live with the tests only: the wheel never ships them.

``run_of(name)`` builds an exercise's run once per test session."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tutor.lessons.exercise_check import ExerciseRun, build_run
from tutor.lessons.exercises import Exercise, find_exercise, load_exercises

HERE = Path(__file__).resolve().parent
RIGHT, WRONG, BROKEN = HERE / "right", HERE / "wrong", HERE / "broken"


@lru_cache(maxsize=None)
def shipped() -> tuple[Exercise, ...]:
    exercises, problems = load_exercises()
    assert not problems, problems
    return tuple(exercises)


def exercise(name: str) -> Exercise:
    return find_exercise(name, list(shipped()))


@lru_cache(maxsize=None)
def run_of(name: str) -> ExerciseRun:
    return build_run(exercise(name))


def right(e: Exercise) -> Path:
    return RIGHT / e.file_name


def wrong(e: Exercise) -> Path:
    return WRONG / e.file_name
