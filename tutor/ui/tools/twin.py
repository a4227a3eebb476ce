"""The PyTorch twin: ``x`` redoes the current step in PyTorch beside the engine and
follows the cursor; ``X`` checks every step with a progress bar and jumps to the
first mismatch.

PyTorch runs the first time it is needed, in a helper process (``tutor.views.twin_checks``)
waited on by a worker thread, so the screen never freezes while torch loads (the pane
says so meanwhile) or works. Each step's result is kept for the screen's life: moving
back to a step shows it at once. What the pane shows is plain data from
``tutor.views.twin``, written by ``twin_text``; this module runs it and owns its keys.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from tutor.ui.tools import twin_text
from tutor.ui.tools.base import StepperState, Tool
from tutor.ui.tools.keys import TWIN_KEYS
from tutor.ui.widgets.parts import Parts, update_static
from tutor.views.twin_checks import Trouble

PROGRESS_INTERVAL = 0.05  # seconds between progress bar updates
MAX_NOTES = 6


class TwinProgress(Static, can_focus=True):
    """Checking every step: what runs and a bar; Esc (or X again) cancels.

    One widget draws both (not a label beside Textual's ``ProgressBar``, five widgets):
    it takes the focus so that Esc reaches it, and Textual restyles a widget that gains
    or loses the focus with all it holds — with five, 8–15 ms just after ``X`` and again
    on the way out when ``q`` followed."""

    DEFAULT_CSS = """
    TwinProgress { height: auto; display: none; }
    TwinProgress:focus { background-tint: $warning 8%; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel the check")]

    class Cancelled(Message):
        pass

    def __init__(self) -> None:
        super().__init__("")
        self.total = 0
        self.done = 0
        self.torch_loading = False

    def start(self, total: int, loading: bool) -> None:
        self.total, self.done, self.torch_loading = total, 0, loading
        self._draw()
        self.display = True

    def advance_to(self, done: int) -> None:
        self.torch_loading = False  # steps are being checked: torch is loaded
        self.done = done
        self._draw()

    def _draw(self) -> None:
        update_static(self, twin_text.progress_parts(self.total, self.done,
                                                     self.torch_loading).content())

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())


class TwinTool(Tool):
    BINDINGS = TWIN_KEYS

    class MismatchFound(Message):
        """Checking every step found the first mismatch at ``position``."""

        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    def __init__(self, session, *, id: str = "twin") -> None:
        super().__init__(session, id=id)
        self.following = False  # the learner opened the twin (x) and has not closed it
        self.report_shown = False
        self.cache: dict[int, tuple] = {}  # id(step) → (step, TwinResult | Trouble)
        self.waiting_for: int | None = None  # id of the step a worker is computing
        self.missing: Trouble | None = None  # torch is not installed
        self.all_worker = None
        self.checking = False
        self.done = 0
        self.focus_before = None
        self.checks = None  # where torch runs: made on the first check (twin_checks)

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield TwinProgress()

    def on_mount(self) -> None:
        self._say_recording_notes()

    def on_unmount(self) -> None:
        if self.checks is not None:
            self.checks.close()

    def _checks(self):
        if self.checks is None:
            from tutor.views.twin_checks import twin_checks

            self.checks = twin_checks(self.timeline)
        return self.checks

    @property
    def torch_ready(self) -> bool:
        return self.checks is not None and self.checks.ready

    @property
    def d_model(self) -> int | None:
        config = getattr(self.session.model, "config", None)
        return getattr(config, "d_model", None)

    # the live pane ------------------------------------------------------------------
    def action_toggle_pane(self) -> None:
        """x: close the twin if it is showing; else open it (or bring it back in front
        of another tool's pane)."""
        if self.following and self.is_open and not self.report_shown:
            self.following = False
            self.close()
            return
        if self.checking:
            self.cancel_all()
        self.following = True
        self.report_shown = False
        self.follow()

    def watch_state(self, old: StepperState | None, new: StepperState | None) -> None:
        if self.following and new is not None:
            self.follow()

    def follow(self) -> None:
        """Show the step under the cursor (from the cache, or start a worker)."""
        selection = self.state.selection if self.state is not None else None
        key = selection.slot.key if selection is not None and selection.slot else None
        index = tuple(selection.index) if selection is not None else ()
        from tutor.views.twin import code_lines, torch_name_of

        position = self.timeline.position
        step = self.timeline.steps[position]
        where = torch_name_of(self.timeline, step, key, index, self.d_model)
        cached = self.cache.get(id(step))
        if cached is not None or self.missing is not None:
            self._draw(cached[1] if cached is not None else self.missing, step, index, where)
            return
        self.show_parts(twin_text.waiting_parts(code_lines(step), where,
                                                loading=not self.torch_ready))
        if self.waiting_for != id(step):
            self._start(step, position)

    def _start(self, step, position: int) -> None:
        checks, app = self._checks(), self.app
        self.waiting_for = id(step)

        def work() -> None:
            _call_from_thread(app, self._deliver, step, checks.step(position))

        def begin() -> None:  # after the frame: starting the helper would hold it up
            if self.waiting_for == id(step):  # not moved on meanwhile
                self.run_worker(work, name="twin step", group="twin-step", exclusive=True,
                                thread=True, exit_on_error=False)

        self.call_after_refresh(begin)

    def _deliver(self, step, outcome) -> None:
        if self.waiting_for == id(step):
            self.waiting_for = None
        if isinstance(outcome, Trouble) and outcome.missing:
            self.missing = outcome  # every step would say the same: no more workers
        else:
            self.cache[id(step)] = (step, outcome)  # the step is kept, so its id stays its own
        if self.following and not self.report_shown and self.timeline.step is step:
            self.follow()

    def _draw(self, outcome, step, index: tuple, where: str) -> None:
        from tutor.views.twin import TwinResult, code_lines

        if isinstance(outcome, TwinResult):
            self.show_parts(twin_text.result_parts(outcome, index, where, self.compact))
        else:
            self.show_parts(twin_text.message_parts("  " + outcome.message, "error",
                                                    code_lines(step), where))

    def on_tool_closed(self, event: Tool.Closed) -> None:
        if event.tool is self:  # another tool took the area: the twin comes back on a move
            self.report_shown = False

    # every step ----------------------------------------------------------------------
    def action_toggle_check_all(self) -> None:
        """X: check every step; while it runs, cancel; with its report shown, close it."""
        if self.checking:
            self.cancel_all()
        elif self.report_shown and self.is_open:
            self.report_shown = False
            self.close()
        else:
            self.start_all()

    def start_all(self) -> None:
        timeline, tape, app = self.timeline, self.timeline.tape, self.app
        updates = timeline.steps[timeline.update_start:]
        total = len(tape.nodes) + len(tape.steps) + len(updates)
        self.following = False  # the report takes the area; x brings the twin back
        if tape.shapes_only:
            self._show_report("  shape only: this record holds shapes, no values "
                              "(--shapes-only): nothing to check. Record without "
                              "--shapes-only to compare every number.", "warning")
            return
        self.done = 0
        self.checking = True
        self.focus_before = self.screen.focused
        self.show_parts(Parts())
        progress = self.query_one(TwinProgress)
        checks = self._checks()
        progress.start(total, not checks.ready)
        self.call_after_refresh(progress.focus)

        def work() -> None:
            from textual.worker import get_current_worker

            worker = get_current_worker()
            last = [0.0]

            def tick(done: int, _total: int) -> None:
                self.done = done
                now = time.monotonic()
                if done == total or now - last[0] > PROGRESS_INTERVAL:
                    last[0] = now
                    _call_from_thread(app, progress.advance_to, done)

            outcome = checks.every_step(tick, lambda: worker.is_cancelled)
            if outcome is not None:  # None: cancelled
                _call_from_thread(app, self._all_done, worker, outcome)

        def begin() -> None:  # after the frame: starting the helper would hold it up
            if self.checking and self.all_worker is None:  # not cancelled meanwhile
                self.all_worker = self.run_worker(work, name="twin every step",
                                                  group="twin-all", exclusive=True,
                                                  thread=True, exit_on_error=False)

        self.all_worker = None
        self.call_after_refresh(begin)

    def on_twin_progress_cancelled(self, event: TwinProgress.Cancelled) -> None:
        event.stop()
        self.cancel_all()

    def cancel_all(self) -> None:
        if self.all_worker is not None:
            self.all_worker.cancel()
            self.all_worker = None
        if self.checking:
            self.checking = False
            total = self.query_one(TwinProgress).total
            self._show_report(f"  Check cancelled after {self.done} of {total} steps "
                              f"(X starts it again).", "warning")

    def _all_done(self, worker, outcome) -> None:
        if worker is not self.all_worker or not self.checking:
            return  # cancelled meanwhile
        self.checking = False
        self.all_worker = None
        if isinstance(outcome, Trouble):
            self._show_report("  " + outcome.message, "error")
            return
        from tutor.views.twin import every_step_summary

        text, mismatch = every_step_summary(self.timeline, outcome)
        self._show_report(text, "error" if mismatch is not None else "ok")
        if mismatch is not None:
            self.post_message(self.MismatchFound(mismatch))

    def _show_report(self, text: str, severity: str) -> None:
        self.query_one(TwinProgress).display = False
        self.report_shown = True
        self.show_parts(twin_text.message_parts(text, severity, closes="X closes"))
        before, self.focus_before = self.focus_before, None
        self.screen.set_focus(before if before is not None and before.is_attached else None)

    # a recording from PyTorch ----------------------------------------------------------
    def _say_recording_notes(self) -> None:
        """A run recorded from PyTorch (``tutor torch``) says once what the record could
        not pair and whether it holds shapes only."""
        tape = self.timeline.tape
        if tape.origin != "pytorch":
            return
        notes = self.session.notes
        if notes is None:
            notes = list(dict.fromkeys(getattr(tape, "notes", None) or []))
            if tape.shapes_only:
                notes.append("shapes only: no values were recorded")
        notes = list(notes)
        if not notes:
            return
        shown = notes[:MAX_NOTES]
        if len(notes) > MAX_NOTES:
            shown.append(f"… and {len(notes) - MAX_NOTES} more (tutor torch --trace lists them)")
        unpaired = any("matches no recorded forward op" in n or "left out" in n for n in notes)
        self.notify("\n".join(f"• {n}" for n in shown), title="Recorded from PyTorch",
                    severity="warning" if unpaired or tape.shapes_only else "information",
                    timeout=15)


def _call_from_thread(app, callback, *args) -> None:
    try:
        app.call_from_thread(callback, *args)
    except RuntimeError:
        pass  # the app closed while torch was working
