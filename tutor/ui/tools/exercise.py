"""Write it yourself: the exercise pane, under the tensors of the exercise's step.

It shows where the learner's file is, and the last check of it on the live run: correct,
or the first wrong element beside the engine's value and the op card's worked line, or
what went wrong running it. The file is watched (its modification time, polled) and
re-checked on every save, as rustlings does; ``e`` opens it in ``$VISUAL``/``$EDITOR``
with the app suspended (``App.suspend``), ``h`` shows the next hint, ``r`` checks again,
``w`` shows or hides the pane. Checks run the learner's code in a child process
(``tutor.lessons.exercise_runner``) from a worker thread, one at a time, so the app never
waits on it; each result is saved to progress.

A screen opens an exercise with ``ExerciseTool.open_exercise`` (``tutor exercise NAME``)
or ``open_exercise_here`` (a lesson, on Enter at an exercise's step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import shlex
import subprocess
from pathlib import Path

from textual.app import SuspendNotSupported
from textual.message import Message

from tutor.ui.tools.base import Tool
from tutor.ui.tools.keys import EXERCISE_KEYS
from tutor.ui.widgets.parts import Parts

if TYPE_CHECKING:  # the checking machinery is imported when an exercise opens, not at start
    from tutor.lessons.exercise_check import CheckResult, ExerciseRun

POLL_INTERVAL = 0.5  # seconds between looks at the file's modification time
STATUS_STYLE = {"correct": ("✓ correct", "bold green"), "wrong": ("✗ wrong", "bold red"),
                "todo": ("not written yet", "bold yellow"), "error": ("✗ did not run", "bold red"),
                "timeout": ("✗ stopped", "bold red"), "torch_missing": ("needs PyTorch", "yellow")}


class ExerciseTool(Tool):
    BINDINGS = EXERCISE_KEYS

    class Checked(Message):
        """A check of the learner's file finished with ``result``."""

        def __init__(self, tool: "ExerciseTool", result: CheckResult) -> None:
            super().__init__()
            self.tool, self.result = tool, result

    def __init__(self, session, *, id: str = "exercise") -> None:
        super().__init__(session, id=id)
        self.run: ExerciseRun | None = None
        self.path: Path | None = None
        self.store = None
        self.result: CheckResult | None = None
        self.hints_shown = 0
        self.checking = False
        self.checks_done = 0
        self.check_again = False  # a save arrived while a check ran
        self.file_stamp = None
        self.done_before = False
        self.poll_timer = None
        self.child = None  # the process running the learner's code, while a check runs

    def applies(self, action: str) -> bool:
        """Only with an exercise open (``e`` is the nudge's ε otherwise)."""
        return self.run is not None

    # opening -----------------------------------------------------------------------------
    def open_exercise(self, run: ExerciseRun, store=None, folder: Path | None = None) -> None:
        """Show ``run``'s exercise: make the learner's file from the starter if it is not
        there (never overwriting it), then check it and watch it."""
        from tutor.lessons.exercise_check import ExerciseError, ensure_workspace_file

        try:
            path, created = ensure_workspace_file(run, folder)
        except (OSError, ExerciseError) as error:
            self.show_message("exercise", f"{run.exercise.name} cannot start: "
                                          f"{getattr(error, 'strerror', None) or error}")
            return
        self.run, self.path, self.store = run, path, store
        self.result, self.hints_shown, self.file_stamp = None, 0, None
        saved = store.exercise(run.exercise.name) if store is not None else {}
        self.done_before = bool(saved.get("done"))
        self.hints_shown = min(int(saved.get("hints", 0)), len(run.exercise.hints))
        if created:
            self.notify(f"Your file for {run.exercise.name}: {path}. Save it and it is checked.",
                        timeout=6)
        if self.poll_timer is None:
            self.poll_timer = self.set_interval(POLL_INTERVAL, self._poll)
        self._poll()

    def _poll(self) -> None:
        if self.path is None:
            return
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp != self.file_stamp:
            self.file_stamp = stamp
            self.check_now()

    # checking ------------------------------------------------------------------------------
    def check_now(self) -> None:
        if self.run is None:
            return
        if self.checking:
            self.check_again = True
            return
        self.checking = True
        self.draw()
        run, path, app = self.run, self.path, self.app

        def work() -> None:
            from tutor.lessons.exercise_check import CheckResult, ExerciseError, check_file

            try:
                result = check_file(run, path, started=self._child_started)
            except ExerciseError as error:
                result = CheckResult("error", f"this exercise cannot be set here: {error}")
            except Exception as error:  # never let a check take the app down
                result = CheckResult("error", f"the check failed: {type(error).__name__}: "
                                              f"{error}")
            try:
                app.call_from_thread(self._deliver, run, result)
            except RuntimeError:
                pass  # the app closed while the learner's code ran

        self.run_worker(work, name="exercise check", group="exercise", thread=True,
                        exit_on_error=False)

    def _child_started(self, process) -> None:
        self.child = process

    def on_unmount(self) -> None:
        """Leaving (quitting, say) while the learner's code runs: stop it now rather than
        wait out its time limit."""
        child, self.child = self.child, None
        if child is not None and child.poll() is None:
            from tutor.lessons.exercise_runner import stop_child  # loaded: it started the child

            stop_child(child)

    def _deliver(self, run: ExerciseRun, result: CheckResult) -> None:
        self.checking = False
        self.child = None
        if run is not self.run:  # another exercise was opened meanwhile: check that one
            self.check_now()
            return
        self.checks_done += 1
        self.result = result
        if self.store is not None and self.run is not None:
            warning = self.store.record_exercise(self.run.exercise.name, result.status,
                                                 self.hints_shown)
            if warning:
                self.notify(warning, severity="warning", timeout=8)
        if result.correct and not self.done_before:
            self.done_before = True
            self.notify(f"{self.run.exercise.name}: correct, on the live run. Done.", timeout=6)
        self.draw()
        self.post_message(self.Checked(self, result))
        if self.check_again:
            self.check_again = False
            self.check_now()

    # keys ----------------------------------------------------------------------------------
    def action_toggle_pane(self) -> None:
        if self.is_open:
            self.close()
        else:
            self.draw()

    def action_hint(self) -> None:
        if self.run is None:
            return
        hints = self.run.exercise.hints
        if self.hints_shown >= len(hints):
            self.notify("That was the last hint.", timeout=3)
        self.hints_shown = min(self.hints_shown + 1, len(hints))
        self.draw()

    def action_recheck(self) -> None:
        self.check_now()

    def action_edit(self) -> None:
        """Open the file in the learner's editor, the app suspended meanwhile."""
        if self.path is None:
            return
        command = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        try:
            with self.app.suspend():
                subprocess.run(command + [str(self.path)], check=False)
        except SuspendNotSupported:
            self.notify(f"Cannot open an editor from here: edit {self.path} in yours; every "
                        "save is checked.", timeout=8)
            return
        except OSError as error:
            self.notify(f"Could not start {command[0]!r} ({error.strerror or error}); set "
                        f"$EDITOR, or edit {self.path} yourself.", severity="error", timeout=8)
            return
        self._poll()

    # drawing -------------------------------------------------------------------------------
    def draw(self) -> None:
        if self.run is not None:
            self.show_parts(exercise_parts(self, self.compact))


def exercise_parts(tool: ExerciseTool, compact: bool) -> Parts:
    exercise, result = tool.run.exercise, tool.result
    text = Parts()
    text.add(f"exercise {exercise.number:02d} ", "bold").add(exercise.name, "bold yellow")
    text.add(f"  {exercise.signature}  ", "dim")
    if tool.checking:
        text.add("checking…", "italic")
    elif result is not None:
        label, style = STATUS_STYLE.get(result.status, (result.status, "bold"))
        text.add(label, style)
    if tool.done_before:
        text.add("  (done)", "green")
    text.add("\n")
    step = tool.run.step
    text.add(f"file {tool.path}", "dim")
    text.add(f" · checked at step {step.index + 1} {step.phase}:{step.name}\n", "dim")
    if result is not None:
        lines = result.lines()
        keep = 3 if compact else 8
        for line in lines[:keep]:
            text.add(line + "\n", "bold" if line is lines[0] else "")
        if len(lines) > keep:
            text.add(f"… {len(lines) - keep} more line(s): run "
                     f"tutor exercise {exercise.name} --check {tool.path}\n", "dim")
    for i, hint in enumerate(exercise.hints[:tool.hints_shown]):
        if not compact or i == tool.hints_shown - 1:
            text.add(f"hint {i + 1}/{len(exercise.hints)}: ", "bold cyan").add(hint + "\n")
    text.add("e edit · h hint · r check again · w hide · saving the file checks it", "dim")
    return text


def open_exercise_here(screen, lesson_id: str, store=None) -> bool:
    """For a lesson screen (Enter): open the exercise tied to the step under the cursor,
    if there is one (the next one, where several share the step and one is open); False
    when there is none here."""
    from tutor.lessons.exercise_check import exercise_run
    from tutor.lessons.exercises import exercises_at

    timeline = screen.session.timeline
    here = exercises_at(lesson_id, timeline).get(timeline.position, [])
    if not here:
        return False
    tool = screen.query_one(ExerciseTool)
    names = [e.name for e in here]
    current = tool.run.exercise.name if tool.run is not None else None
    chosen = here[(names.index(current) + 1) % len(here)] if current in names else here[0]
    tool.open_exercise(exercise_run(chosen, timeline, screen.session.model,
                                    screen.session.title), store)
    return True
