"""The PyTorch twin tool: ``x`` opens a pane under the tensors that redoes the current
step in PyTorch and follows the cursor; ``X`` checks every step with a progress bar.

Torch is imported the first time it is needed, in a worker thread, so the screen never
freezes (the pane says so while it loads). Each step's result is cached for the
screen's life: moving back to a step shows it at once. What the pane shows is plain
data from ``tutor.views.twin``; this module only runs it and puts it on screen.
"""

from __future__ import annotations

import sys
import time
import weakref
from dataclasses import dataclass
from functools import partial

from engine.pytorch import TorchMissing
from engine.pytorch import steps as torch_steps

from tutor.views import twin as twin_check
from tutor.views.twin import EveryStep, TwinResult

PROGRESS_INTERVAL = 0.05  # seconds between progress bar updates
MAX_NOTES = 6


@dataclass(frozen=True)
class Trouble:
    """Why torch gave no result: not installed (``missing``), or it raised."""

    message: str
    missing: bool = False


class _Cancelled(Exception):
    pass


def _torch_loaded() -> bool:
    return "torch" in sys.modules


class TwinTool:
    """The twin's state on one stepper screen: the open pane, the per-step cache, the
    check of every step."""

    def __init__(self, screen) -> None:
        self._screen = weakref.ref(screen)
        self.open = False  # the learner opened the twin (x) and has not closed it
        self.pane = None
        self.progress = None
        self.report = None
        self.cache: dict[int, tuple] = {}  # id(step) → (step, TwinResult | Trouble)
        self.waiting_for: int | None = None  # id of the step a worker is computing
        self.missing: Trouble | None = None  # torch is not installed
        self.all_worker = None
        self.done = 0
        self.focus_before = None

    @property
    def screen(self):
        return self._screen()

    @property
    def d_model(self) -> int | None:
        config = getattr(self.screen.session.model, "config", None)
        return getattr(config, "d_model", None)

    # the live pane ------------------------------------------------------------------
    def shown(self, widget) -> bool:
        """Is ``widget`` what the tool area shows (not removed, not being replaced)?"""
        if not _attached(widget) or getattr(widget, "_pruning", False):
            return False
        children = self.screen.query_one("#tools").children
        return bool(children) and children[-1] is widget

    def toggle_pane(self) -> None:
        """x: close the twin if it is showing; else open it (or bring it back in front
        of another tool's pane)."""
        if self.open and self.shown(self.pane):
            self.close_pane()
            return
        if self.progress is not None:
            self.cancel_all()
        screen = self.screen
        self.open = True
        self.report = None
        if self.follow not in screen.on_step_hooks:
            screen.on_step_hooks.append(self.follow)
        self.follow()

    def _mount_pane(self) -> None:
        from tutor.ui.widgets.tensor_view import TensorView
        from tutor.ui.widgets.twin_pane import TwinPane

        screen = self.screen
        self.pane = TwinPane()
        screen.show_tool(self.pane)
        for view in screen.query(TensorView).results(TensorView):
            self.pane.watch(view, "cursor", partial(self._cursor_moved, view), init=False)

    def close_pane(self) -> None:
        screen = self.screen
        self.open = False
        if self.shown(self.pane):
            screen.show_tool(None)
        self.pane = None
        if self.follow in screen.on_step_hooks:
            screen.on_step_hooks.remove(self.follow)

    def follow(self) -> None:
        """After every cursor move: show the step (from the cache, or start a worker).

        Open, the twin stays until x closes it: a pane another tool put up in the
        meantime (the descent pane of an update step, a nudge) gives way to it on the
        next move."""
        screen = self.screen
        if screen is None:
            return
        if not self.open:
            if self.follow in screen.on_step_hooks:
                screen.on_step_hooks.remove(self.follow)
            return
        if not self.shown(self.pane):
            self._mount_pane()
        slot, index = screen.selected_element()
        key = slot.key if slot is not None else screen.selected[0]
        self.show_current(key, tuple(index or ()))

    def _cursor_moved(self, view, index) -> None:
        """A panel's cell cursor moved: the pane shows that element (no recomputation)."""
        if self.open and self.shown(self.pane) and view.slot is not None:
            self.show_current(view.slot.key, tuple(index))

    def show_current(self, slot_key: str, index: tuple) -> None:
        screen = self.screen
        timeline = screen.session.timeline
        position = timeline.position
        step = timeline.steps[position]
        where = twin_check.torch_name_of(timeline, step, slot_key, index, self.d_model)
        cached = self.cache.get(id(step))
        if cached is not None or self.missing is not None:
            self._draw(cached[1] if cached is not None else self.missing, step, index, where)
            return
        self.pane.show_waiting(twin_check.code_lines(step), where, loading=not _torch_loaded())
        if self.waiting_for != id(step):
            self._start(step, position)

    def _start(self, step, position: int) -> None:
        screen = self.screen
        timeline = screen.session.timeline
        app = screen.app
        self.waiting_for = id(step)

        def work() -> None:
            try:
                outcome = twin_check.check_step(timeline, position)
            except TorchMissing as error:
                outcome = Trouble(str(error), missing=True)
            except Exception as error:  # torch refused the op: say so, keep the app alive
                outcome = Trouble(f"PyTorch could not redo this step: {type(error).__name__}: "
                                  f"{error}")
            _call_from_thread(app, self._deliver, step, outcome)

        screen.run_worker(work, name="twin step", group="twin-step", exclusive=True,
                          thread=True, exit_on_error=False)

    def _deliver(self, step, outcome) -> None:
        if self.waiting_for == id(step):
            self.waiting_for = None
        if isinstance(outcome, Trouble) and outcome.missing:
            self.missing = outcome  # every step would say the same: no more workers
        else:
            self.cache[id(step)] = (step, outcome)  # the step is kept, so its id stays its own
        screen = self.screen
        if screen is None or not self.open or not self.shown(self.pane):
            return
        if screen.session.timeline.step is step:
            self.follow()

    def _draw(self, outcome, step, index: tuple, where: str) -> None:
        if isinstance(outcome, TwinResult):
            self.pane.show_result(outcome, index, where,
                                  compact=self.screen.has_class("compact"))
        else:
            self.pane.show_message("  " + outcome.message, "error",
                                   twin_check.code_lines(step), where)

    # every step ----------------------------------------------------------------------
    def toggle_check_all(self) -> None:
        """X: check every step; while it runs, cancel; with its report shown, close it."""
        if self.progress is not None:
            self.cancel_all()
        elif self.shown(self.report):
            self.report = None
            self.screen.show_tool(None)
        else:
            self.start_all()

    def start_all(self) -> None:
        from tutor.ui.widgets.twin_pane import TwinPane, TwinProgress

        screen = self.screen
        timeline = screen.session.timeline
        tape = timeline.tape
        updates = timeline.steps[timeline.update_start:]
        total = len(tape.nodes) + len(tape.steps) + len(updates)
        self.close_pane()  # the report takes the tool area; x brings the twin back
        if tape.shapes_only:
            self.report = TwinPane()
            screen.show_tool(self.report)
            self.report.show_message(
                "  shape only: this record holds shapes, no values (--shapes-only): nothing to "
                "check. Record without --shapes-only to compare every number.", closes="X closes")
            return
        app = screen.app
        self.done = 0
        self.focus_before = screen.focused
        progress = self.progress = TwinProgress(total, self.cancel_all, not _torch_loaded())
        screen.show_tool(progress)
        screen.call_after_refresh(progress.focus)

        def work() -> None:
            from textual.worker import get_current_worker

            worker = get_current_worker()
            last = [0.0]

            def tick(done: int, _n: int) -> None:
                if worker.is_cancelled:
                    raise _Cancelled
                self.done = done
                now = time.monotonic()
                if done == total or now - last[0] > PROGRESS_INTERVAL:
                    last[0] = now
                    _call_from_thread(app, progress.advance_to, done)

            try:
                report = torch_steps.check_every_step(tape, progress=tick)
                checked = []
                for k, s in enumerate(updates, len(report.steps) + 1):
                    ok = s.update.optimizer == "sgd"
                    checked.append((s.index, twin_check.check_update(s.update) if ok else None))
                    tick(k, total)
                outcome = EveryStep(report, tuple(checked))
            except _Cancelled:
                return
            except TorchMissing as error:
                outcome = Trouble(str(error), missing=True)
            except Exception as error:
                outcome = Trouble(f"PyTorch could not redo step {self.done + 1}: "
                                  f"{type(error).__name__}: {error}")
            _call_from_thread(app, self._all_done, progress, outcome)

        self.all_worker = screen.run_worker(work, name="twin every step", group="twin-all",
                                            exclusive=True, thread=True, exit_on_error=False)

    def cancel_all(self) -> None:
        if self.all_worker is not None:
            self.all_worker.cancel()
            self.all_worker = None
        progress, self.progress = self.progress, None
        if progress is not None:
            self._show_report(f"  Check cancelled after {self.done} of {progress.total} steps "
                              f"(X starts it again).", "warning")

    def _all_done(self, progress, outcome) -> None:
        if progress is not self.progress:
            return  # cancelled meanwhile
        self.progress = None
        self.all_worker = None
        if isinstance(outcome, Trouble):
            self._show_report("  " + outcome.message, "error")
            return
        text, mismatch = twin_check.every_step_summary(self.screen.session.timeline, outcome)
        self._show_report(text, "error" if mismatch is not None else "ok")
        if mismatch is not None:
            self.screen.go_to(mismatch)

    def _show_report(self, text: str, severity: str) -> None:
        from tutor.ui.widgets.twin_pane import TwinPane

        screen = self.screen
        self.report = TwinPane()
        screen.show_tool(self.report)
        self.report.show_message(text, severity, closes="X closes")
        before, self.focus_before = self.focus_before, None
        screen.set_focus(before if _attached(before) else None)


def _attached(widget) -> bool:
    return widget is not None and widget.is_attached


def _call_from_thread(app, callback, *args) -> None:
    try:
        app.call_from_thread(callback, *args)
    except RuntimeError:
        pass  # the app closed while torch was working


# the tool's entry points ---------------------------------------------------------------
_TOOLS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def tool_of(screen) -> TwinTool:
    tool = _TOOLS.get(screen)
    if tool is None:
        tool = _TOOLS[screen] = TwinTool(screen)
    return tool


def check_step(screen) -> None:
    """``x``: open (or close) the twin of the current step; it follows the cursor."""
    tool_of(screen).toggle_pane()


def check_all(screen) -> None:
    """``X``: check every step in PyTorch (again: cancel, or close the report)."""
    tool_of(screen).toggle_check_all()


def attach(screen) -> None:
    """A run recorded from PyTorch (``tutor torch``) says once what the record could not
    pair (``record.notes``) and whether it holds shapes only."""
    tape = screen.session.timeline.tape
    if tape.origin != "pytorch":
        return
    notes = screen.session.extras.get("notes")
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
    screen.notify("\n".join(f"• {n}" for n in shown), title="Recorded from PyTorch",
                  severity="warning" if unpaired or tape.shapes_only else "information",
                  timeout=15)
