"""Check a learner's exercise file on the live run, against the engine.

``ExerciseRun`` is an exercise on the run it belongs to (a lesson's scenario or
``tutor explore``'s model) at its step. Its arguments and the engine's answer are read
at that step with the one expression language (``tutor.lessons.live.StepContext``:
``upstream``, ``input(0)``, ``contribution(1)``…), or from an engine ``reference``; the
op card's worked line for any element of the answer comes from the engine op's own
``worked_backward``/``worked_forward`` (``tutor.views.step.worked_element``).
``check_file`` runs the learner's function in a child process
(``tutor.lessons.exercise_runner``) and compares (``tutor.lessons.exercise_compare``).
"""

from __future__ import annotations

import re
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.expr import ExpressionError, evaluate
from engine.timeline import Timeline
from tutor.lessons.exercise_compare import CheckResult, Expected, Mismatch, compare, show_number
from tutor.lessons.exercise_runner import run_in_child
from tutor.lessons.exercises import Exercise, starter_text
from tutor.lessons.live import StepContext
from tutor.lessons.schema import Selector
from tutor.views.step import PanelKey, Role, worked_element

__all__ = ["ExerciseError", "ExerciseRun", "Expected", "Mismatch", "CheckResult", "build_run",
           "exercise_run", "check_file", "compare", "ensure_workspace_file", "show_number"]


class ExerciseError(ValueError):
    """The exercise cannot be set on its run (a broken exercise file or lesson)."""


@dataclass
class ExerciseRun:
    exercise: Exercise
    timeline: Timeline
    position: int
    model: object = None  # the run's Transformer, when it has one
    title: str = ""

    @property
    def step(self):
        return self.timeline.steps[self.position]

    def context(self) -> StepContext:
        return StepContext(self.timeline, self.position)

    def arguments(self) -> dict[str, object]:
        """Every argument's value at the step, typed as the signature says."""
        ctx = self.context()
        values = {}
        for a in self.exercise.arguments:
            try:
                values[a.name] = _typed(a, ctx, self.model)
            except (ExpressionError, ValueError, TypeError) as error:
                raise ExerciseError(f"{self.exercise.name}: argument {a.name} = {a.value!r} "
                                    f"cannot be read at {self.exercise.at}: {error}") from None
        return values

    def expected(self, arguments: dict | None = None) -> list[Expected]:
        arguments = self.arguments() if arguments is None else arguments
        reference = self.exercise.reference
        if reference == "adam":
            return _adam_reference(arguments)
        if reference == "training_step":
            return _training_reference(self)
        ctx = self.context()
        parts = []
        for r in self.exercise.results:
            try:
                value = np.array(evaluate(r.expect, ctx), dtype=np.float64)
            except ExpressionError as error:
                raise ExerciseError(f"{self.exercise.name}: result {r.name} = {r.expect!r} "
                                    f"cannot be read at {self.exercise.at}: {error}") from None
            parts.append(Expected(r.name, value, self._worked_for(r)))
        return parts

    def _worked_for(self, result) -> Callable[[tuple], str | None]:
        panel = result.worked_panel or _default_panel(result.expect)
        if panel is None:
            return lambda index: None
        position = self.position if result.worked_at is None else \
            find_position(self.timeline, result.worked_at)
        if panel == "output":
            key = PanelKey(Role.OUTPUT)
        elif panel == "update":
            key = PanelKey(Role.AFTER)
        else:
            key = PanelKey(Role.DOWNSTREAM, int(panel.split(":")[1]))
        prefix = result.worked_prefix
        return lambda index: _worked_text(self.timeline, position, key, prefix + tuple(index))

    def shapes(self, arguments: dict | None = None) -> dict[str, str]:
        """How each argument and result looks at this step, for the starter file."""
        arguments = self.arguments() if arguments is None else arguments
        shown = {name: _shape_text(value) for name, value in arguments.items()}
        if self.exercise.reference != "training_step":
            for part in self.expected(arguments):
                shown[part.name] = _shape_text(part.value)
        return shown


def find_position(timeline: Timeline, at: str) -> int:
    selector = Selector.parse(at)
    for step in timeline.steps:
        if selector.matches(step):
            return step.index
    raise ExerciseError(f"no step matches {at!r} in this run")


def exercise_run(exercise: Exercise, timeline: Timeline, model=None, title: str = "") -> ExerciseRun:
    """The exercise on a run already built (a lesson screen's)."""
    return ExerciseRun(exercise, timeline, find_position(timeline, exercise.at), model, title)


def build_run(exercise: Exercise) -> ExerciseRun:
    """Build the run the exercise belongs to (its lesson's scenario, or explore's model)."""
    if exercise.run == "explore":
        from tutor.views.session import explore_session

        session = explore_session(Namespace())
        return exercise_run(exercise, session.timeline, session.model, session.title)
    from tutor.lessons.run import lesson_by_query, start

    try:
        run = start(lesson_by_query(exercise.run))
    except ValueError as error:
        raise ExerciseError(f"{exercise.name}: lesson {exercise.run} could not start: {error}") \
            from None
    return exercise_run(exercise, run.timeline, run.scenario.model, run.title)


# reading values -------------------------------------------------------------------------

def _typed(argument, ctx: StepContext, model):
    kind = argument.type
    if kind in ("state_dict", "model_params", "model_config"):
        if model is None:
            raise ValueError("this run has no model")
        if kind == "model_config":
            return dict(vars(model.config))
        source = model.torch_state_dict() if kind == "state_dict" else model.params
        prefix = argument.value
        return {name[len(prefix):]: np.array(value) for name, value in source.items()
                if name.startswith(prefix)}
    value = evaluate(argument.value, ctx)
    if kind in ("int", "float"):
        if not isinstance(value, float):
            raise ValueError(f"it is not a single number ({type(value).__name__})")
        if kind == "int":
            if value != int(value):
                raise ValueError(f"{value} is not a whole number")
            return int(value)
        return float(value)
    array = np.array(value, dtype=np.float64)
    if kind == "ids":
        if not np.all(array == np.round(array)):
            raise ValueError("token ids must be whole numbers")
        return array.astype(np.int64)
    return array


def _shape_text(value) -> str:
    if isinstance(value, np.ndarray):
        return str(tuple(value.shape))
    if isinstance(value, (int, float)):
        return f"= {value:g}"
    return ""


def _default_panel(expect: str | None) -> str | None:
    if expect is None:
        return None
    match = re.fullmatch(r"\s*contribution\((\d)\)\s*", expect)
    if match:
        return f"downstream:{match.group(1)}"
    return {"output": "output", "after": "update"}.get(expect.strip())


def _worked_text(timeline, position: int, key: PanelKey, index: tuple) -> str | None:
    worked = worked_element(timeline, position, key, index)
    return None if worked is None else str(worked)


def _adam_reference(arguments: dict) -> list[Expected]:
    """``engine.optim.Adam`` holding m and v from t − 1 earlier steps, taking step t."""
    from engine.optim import Adam

    a = arguments
    adam = Adam(lr=a["lr"], beta1=a["beta1"], beta2=a["beta2"], eps=a["eps"], t=a["t"] - 1,
                m={"w": a["m"]}, v={"w": a["v"]})
    (update,) = adam.updates({"w": a["w"]}, {"w": a["g"]})
    return [Expected("w_new", update.after), Expected("m_new", adam.m["w"]),
            Expected("v_new", adam.v["w"])]


def _training_reference(run: ExerciseRun) -> list[Expected]:
    """The run's loss, then every parameter after its update, under torch's names; each
    element's worked line is its update step's (``w − lr · ∂L/∂w``)."""
    from engine.model import torch_location

    timeline, model = run.timeline, run.model
    updates = [s for s in timeline.steps if s.update is not None]
    after = {s.update.name: s.update.after for s in updates}
    where = {s.update.name: s.index for s in updates}
    parts = [Expected("loss", np.array(run.context()["loss"]))]
    places: dict[str, list] = {}
    for name in after:
        location = torch_location(name, model.config.d_model)
        places.setdefault(location.name, []).append((name, location.rows))

    def worked(torch_name):
        def text(index):
            for name, rows in places.get(torch_name, []):
                if rows is None:
                    return _worked_text(timeline, where[name], PanelKey(Role.AFTER), index)
                if rows[0] <= index[0] < rows[1]:
                    inner = (index[0] - rows[0],) + tuple(index[1:])
                    return _worked_text(timeline, where[name], PanelKey(Role.AFTER), inner)
            return None
        return text

    for torch_name, value in model.torch_state_dict(after).items():
        parts.append(Expected(torch_name, np.array(value), worked(torch_name)))
    return parts


# the learner's file --------------------------------------------------------------------

def check_file(run: ExerciseRun, path: Path, time_limit: float | None = None,
               env: dict | None = None, started=None) -> CheckResult:
    """Run the learner's ``path`` on the step's tensors and compare with the engine
    (``started``: see ``exercise_runner.run_in_child``)."""
    path = Path(path)
    if not path.is_file():
        return CheckResult("error", f"no file at {path}")
    arguments = run.arguments()
    expected = run.expected(arguments)
    exercise = run.exercise
    call = [arguments[a.name] for a in exercise.call_arguments]
    named = {a.name: arguments[a.name] for a in exercise.arguments if a.role == "harness"}
    outcome = run_in_child(path, exercise.function, exercise.harness, call, named,
                           [p.name for p in expected] if exercise.harness == "call" else
                           [r.name for r in exercise.results], time_limit, env, started)
    return compare(expected, outcome, exercise.tolerance, f"{exercise.function}(…)")


def check_command(exercise: Exercise, path: Path | str = "FILE") -> str:
    return f"tutor exercise {exercise.name} --check {path}"


def ensure_workspace_file(run: ExerciseRun, folder: Path | None = None) -> tuple[Path, bool]:
    """The learner's file for this exercise, created from the starter if it is not there
    yet (never overwritten): (path, created)."""
    from tutor.storage.paths import exercises_dir

    folder = exercises_dir() if folder is None else Path(folder)
    path = folder / run.exercise.file_name
    if path.exists():
        return path, False
    folder.mkdir(parents=True, exist_ok=True)
    text = starter_text(run.exercise, run.shapes(), check_command(run.exercise, path))
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:  # made a moment ago by another tutor: theirs stands
        return path, False
    return path, True
