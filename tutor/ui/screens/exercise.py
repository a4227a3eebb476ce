"""``tutor exercise NAME``: the stepper on the exercise's run, at its step, with the
exercise pane open (``tutor.ui.tools.exercise``)."""

from __future__ import annotations

from pathlib import Path

from tutor.lessons.exercise_check import ExerciseRun
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.tools.exercise import ExerciseTool
from tutor.views.session import Session


class ExerciseScreen(StepperScreen):
    def __init__(self, run: ExerciseRun, store=None, folder: Path | None = None) -> None:
        super().__init__(Session(run.timeline, run.title or run.exercise.where, model=run.model))
        self.exercise_run = run
        self.store = store
        self.folder = folder

    def on_mount(self) -> None:
        """Before the stepper draws (Textual calls its ``on_mount`` next): start at the
        exercise's step; the pane opens once the screen is up."""
        self.session.timeline.jump(self.exercise_run.position)
        self.with_tools(self._open_pane)

    def _open_pane(self) -> None:
        self.query_one(ExerciseTool).open_exercise(self.exercise_run, self.store, self.folder)

    def status_extra(self) -> str:
        return f"exercise {self.exercise_run.exercise.name} (w)"
