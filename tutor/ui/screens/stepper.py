"""The stepper: walk a recorded run forward, backward, into, out of, and back again."""

from __future__ import annotations

import gc
from typing import Iterator

from textual import on
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from tutor.ui.tools.base import Selection, StepperState, Tool, ToolArea, tool_bindings
from tutor.ui.tools.keys import TOOL_KEYS
from tutor.ui.widgets.arch_map import ArchMap
from tutor.ui.widgets.key_bar import KeyBar
from tutor.ui.widgets.layout import Column, Row
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.panel_grid import PanelGrid
from tutor.ui.widgets.prepared_static import PreparedStatic
from tutor.ui.widgets.status_bar import StatusBar
from tutor.ui.widgets.timeline_tree import TimelineTree
from tutor.views.session import Session
from tutor.views.secret import NOTHING, Concealment, WorkedLine
from engine.timeline import Cursor, Timeline
from tutor.ui.screens.step_ahead import DrawAhead
from tutor.ui.screens.step_frame import (MAX_PANELS, StepFrame, StepMemo, step_frame,
                                         torch_text)
from tutor.ui.styles import StyledOnMount, screen_styles
from tutor.views.step import PanelKey, StepView

COMPACT_WIDTH, COMPACT_HEIGHT = 110, 34
MIN_WIDTH, MIN_HEIGHT = 70, 20
TREE_DELAY = 0.05  # seconds


def _step_commands():
    """The command palette's step finder, imported when the palette first opens."""
    from tutor.ui.screens.step_commands import StepCommands

    return StepCommands


class StepperScreen(StyledOnMount, Screen):
    """Every panel derives from the timeline's cursor; keys only move the cursor."""

    DEFAULT_CSS = screen_styles("stepper.tcss")  # parsed when the screen first opens
    SCOPED_CSS = False
    BLANK = True  # its widgets cover it (see ``Row``)
    COMMANDS = {_step_commands}
    AUTO_FOCUS = ""  # nothing focused: keys step the cursor until the learner tabs into a panel
    BINDINGS = [
        Binding("n", "next", "next"),
        Binding("right", "next", "next", show=False),
        Binding("p", "previous", "prev"),
        Binding("left", "previous", "prev", show=False),
        Binding("s", "step_into", "into"),
        Binding("o", "step_out", "out"),
        Binding("b", "other_half", "fwd⇄bwd"),
        Binding("B", "backward_start", "to backward", key_display="B", show=False),
        Binding("g", "go", "go to"),
        Binding("u", "back", "undo move", show=False),
        Binding("home", "start", "first step", show=False),
        Binding("end", "end", "last step", show=False),
        Binding("c", "continue", "next quiz/bookmark", show=False),
        Binding("m", "note", "note", show=False),
        Binding("t", "toggle_tree", "tree", show=False),
        Binding("a", "toggle_map", "map", show=False),
        Binding("shift+tab", "focus_back", "previous panel", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ] + tool_bindings(TOOL_KEYS)

    # repaint=False: publishing the state must not repaint the whole screen (a full frame)
    state: reactive[StepperState | None] = reactive(None, init=False, always_update=True,
                                                    repaint=False)

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.selected: tuple[PanelKey | None, tuple] = (None, ())
        self.view: StepView | None = None
        self._tree_timer = None
        self.ahead = DrawAhead(self)  # the steps the next keys go to, drawn while one reads
        self.steps = StepMemo(session.timeline)
        self.tool_area = ToolArea(id="tools")

    # layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Row(id="main"):
            yield TimelineTree(id="tree")
            with Column(id="center"):
                yield OpCard(id="card")
                yield PanelGrid(MAX_PANELS, id="panels")
                yield self.tool_area  # the tools come after the first frame
            with Column(id="side"):
                yield ArchMap(id="map")
                yield from self.compose_side()
        yield PreparedStatic(id="torch")
        yield Static("", id="too-small")
        yield KeyBar()

    def compose_side(self) -> ComposeResult:
        """Extra widgets under the map (a lesson's prose)."""
        return iter(())

    def on_mount(self) -> None:
        # the widgets every step redraws, looked up once (a query walks the DOM)
        self._grid = self.query_one(PanelGrid)
        self._card = self.query_one(OpCard)
        self._status = self.query_one(StatusBar)
        self._map = self.query_one(ArchMap)
        self._torch = self.query_one("#torch", PreparedStatic)
        self._tree = self.query_one(TimelineTree)
        timeline = self.session.timeline
        self._tree.build(timeline)
        self._tree.show(timeline.unit_path())  # opened now, not after the first frame: a
        # tree that grows later makes the whole screen lay out and redraw again
        self._map.build(timeline)
        self._apply_size(self.size.width, self.size.height)
        self.refresh_step()
        self.call_after_refresh(gc.freeze)
        self.call_after_refresh(self._mount_tools)

    def on_unmount(self) -> None:
        """A recorded run is hundreds of thousands of long-lived objects (nodes, arrays,
        strips): each full garbage collection walked them all, 15–40 ms in a held key.
        They are frozen (not collected) while the stepper is open, given back here."""
        gc.unfreeze()

    def on_resize(self, event) -> None:
        was_compact = self.has_class("compact")
        self._apply_size(event.size.width, event.size.height)
        if self.view is not None and was_compact != self.has_class("compact"):
            self.refresh_step()

    def _apply_size(self, width: int, height: int) -> None:
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.set_class(too_small, "too-small")
        self.set_class(not too_small and (width < COMPACT_WIDTH or height < COMPACT_HEIGHT),
                       "compact")
        if too_small:
            self.query_one("#too-small", Static).update(
                f"The terminal is {width}×{height}.\n"
                f"Make it at least {MIN_WIDTH}×{MIN_HEIGHT} (80×24 or larger is best).\n\n"
                "Press q to quit.")

    # drawing ----------------------------------------------------------------
    def refresh_step(self) -> None:
        """Redraw every panel from the cursor (the only place panels change)."""
        if not self.is_attached:  # a late callback (the step finder's) after the screen left
            return
        timeline = self.session.timeline
        frame = self._frame()
        self.view, self.selected = frame.view, (frame.key, frame.index)
        self._grid.show(frame.slots, frame.columns, frame.small_rows, frame.index, frame.key)
        self._refresh_card()
        self._status.show(frame.view, self.session.title, self.status_extra())
        if self.map_in_view():
            self._map.show(timeline)
        # the tree follows a moment later, so a held-down key is not slowed by it
        if self._tree_timer is not None:
            self._tree_timer.stop()
        self._tree_timer = self.set_timer(TREE_DELAY, self._show_in_tree)
        self._torch.show_parts(torch_text(frame.view), layout=False)
        self._publish_state()
        self.after_step()
        self.ahead.start()

    def _frame(self) -> StepFrame:
        """What the step at the timeline's cursor shows."""
        return step_frame(self.steps.view(), self.concealment(), self.selected,
                          self.has_class("compact"))

    def on_screen_resume(self) -> None:  # back from help or a quiz: ahead again
        if self.view is not None:
            self.ahead.start()

    @property
    def timeline(self) -> Timeline:
        return self.session.timeline

    def draw_step(self, cursor: Cursor) -> Iterator[bool]:
        """The step at ``cursor`` drawn off screen, a piece at a time (``DrawAhead``). The
        timeline stands at ``cursor`` only within a piece: between pieces a key may move it."""
        timeline = self.session.timeline
        with timeline.standing_at(cursor):
            frame, conceal = self._frame(), self.concealment()
            self._status.prepare(frame.view, self.session.title, self.status_extra())
            self._map.prepare(timeline)
        self._torch.prepare_parts(torch_text(frame.view))
        grid = self._grid.prepare(frame.slots, frame.columns, frame.small_rows, frame.index,
                                  frame.key)
        selection = next((Selection(p.slot, tuple(p.cursor)) for p in next(grid)
                          if p.slot.key == frame.key), Selection(None, frame.index))
        with timeline.standing_at(cursor):
            card = self._card_text(frame.view, selection, conceal)
        self._card.prepare(*card)
        yield True
        for _ in grid:
            yield True

    def _publish_state(self) -> None:
        """What the tools follow (they are bound to ``state``)."""
        self.state = StepperState(self.session.timeline.position, self.selection(),
                                  self.has_class("compact"))

    @property
    def settled(self) -> bool:
        """Has everything that follows the cursor caught up (the tree moves a moment later)?"""
        return self._tree_timer is None

    def _show_in_tree(self) -> None:
        self._tree_timer = None
        self._tree.show(self.session.timeline.unit_path())

    def selection(self) -> Selection:
        """The element the op card works through: what a tool acts on."""
        key, index = self.selected
        panel = self._grid.panel_for(key)
        if panel is None or panel.slot is None:
            return Selection(None, index)
        return Selection(panel.slot, tuple(panel.cursor))

    def _refresh_card(self) -> None:
        self._card.show(*self._card_text(self.view, self.selection(), self.concealment()))

    def _card_text(self, view: StepView, selection: Selection, conceal: Concealment) -> tuple:
        """What the op card is given for ``selection`` at the timeline's cursor."""
        key = selection.slot.key if selection.slot is not None else None
        worked = conceal.worked(WorkedLine.of(self.steps.worked(key, selection.index)))
        return (view, worked, self.card_sentence(), selection.index,
                self.has_class("compact"), conceal)

    # tools ------------------------------------------------------------------------
    async def _mount_tools(self) -> None:
        """The tools, into their area, once the first frame is out (``ToolArea.fill``):
        their modules are loaded then too (their keys are bound before: ``TOOL_KEYS``)."""
        from tutor.ui.tools.stepper_tools import TOOLS

        if self.in_use:
            await self.tool_area.fill(
                [tool(self.session, id=tool.__name__).data_bind(StepperScreen.state)
                 for tool in TOOLS], lambda: self.in_use)

    @property
    def in_use(self) -> bool:
        """Is the screen still open (on the stack, maybe under a dialog)? While a closed
        screen is taken down it is still attached."""
        return self.is_attached and self in self.app.screen_stack

    @property
    def tools_mounted(self) -> bool:
        return self.tool_area.filled

    def with_tools(self, callback, *args) -> None:
        """Run ``callback(*args)`` once the tools are mounted (next, if they are)."""
        self.tool_area.when_filled(callback, *args)

    def _tool(self, tool_id: str) -> Tool | None:
        try:
            return self.query_one(f"#{tool_id}", Tool)
        except NoMatches:  # the screen is still being built, or taken down
            return None

    async def action_tool(self, tool_id: str, action: str) -> None:
        """A tool's key pressed with the focus elsewhere: the tool runs it (a key typed
        before the tools were mounted waits for them)."""
        if self.tools_mounted:
            await self._run_tool(tool_id, action)
        else:
            self.with_tools(self._run_tool, tool_id, action)

    async def _run_tool(self, tool_id: str, action: str) -> None:
        if self.in_use and not await self.tool_area.run_key(tool_id, action):
            self.app.bell()  # (not in use: the screen closed while the key waited)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """No key acts before the screen has drawn its first step; a key two tools share
        (``<`` ``>``) goes to the one it applies to."""
        if self.view is None:
            return False
        if action == "tool":
            tool_id, tool_action = parameters
            if not self.tools_mounted:
                return True  # the key waits for the tools (``action_tool``)
            tool = self._tool(tool_id)
            return tool is not None and tool.applies(tool_action.split("(")[0])
        return True

    @on(Tool.Opened)
    @on(Tool.Closed)
    def _tool_shown(self) -> None:
        """At 80×24 an open tool takes the op card's place."""
        self._card.set_class(self.tool_area.shown is not None, "tool-open")

    def on_descent_tool_lab_requested(self, event) -> None:  # DescentTool.LabRequested
        from tutor.ui.screens.lr_lab import LrLabScreen

        self.app.push_screen(LrLabScreen(event.tape, event.lr, self.session.title))

    def on_twin_tool_mismatch_found(self, event) -> None:  # TwinTool.MismatchFound
        self.go_to(event.position)

    # hooks for lessons -------------------------------------------------
    def status_extra(self) -> str:
        return ""

    def card_sentence(self) -> str | None:
        return None

    def concealment(self) -> Concealment:
        """What to hide at this step until a quiz is answered (lessons hide their answers)."""
        return NOTHING

    def after_step(self) -> None:
        """Called after every redraw (lessons place quizzes and prose here)."""

    def stop_between(self, old: int, new: int) -> int | None:
        """A step in (old, new) that a forward move must stop at (a waiting quiz)."""
        return None

    def may_leave_step_at(self, position: int) -> bool:
        """False keeps the cursor where it is (a quiz here is not answered yet)."""
        return True

    # moves ----------------------------------------------------------------------
    def _move(self, move) -> None:
        """Make a move; a forward move may not leave an unanswered quiz or pass one."""
        if not self.is_attached or self.view is None:
            return
        timeline = self.session.timeline
        old = timeline.position
        if not move():
            self.app.bell()
            return
        new = timeline.position
        if new > old:
            if not self.may_leave_step_at(old):
                timeline.back()
                return
            stop = self.stop_between(old, new)
            if stop is not None:
                timeline.back()
                timeline.jump(stop)  # the quiz that opens there says why
        self.refresh_step()

    def go_to(self, position: int) -> None:
        self._move(lambda: self.session.timeline.jump(position))

    def action_next(self) -> None:
        self._move(self.session.timeline.next)

    def action_previous(self) -> None:
        self._move(self.session.timeline.previous)

    def action_step_into(self) -> None:
        self._move(self.session.timeline.step_into)

    def action_step_out(self) -> None:
        self._move(self.session.timeline.step_out)

    def action_other_half(self) -> None:
        self._move(self.session.timeline.jump_to_twin)

    def action_backward_start(self) -> None:
        self._move(self.session.timeline.jump_to_backward_start)

    def action_continue(self) -> None:
        self._move(self.session.timeline.run_to_bookmark)

    def action_back(self) -> None:
        self._move(self.session.timeline.back)

    def action_start(self) -> None:
        self._move(self.session.timeline.to_start)

    def action_end(self) -> None:
        self._move(self.session.timeline.to_end)

    def action_go(self) -> None:
        self.app.action_command_palette()

    def action_note(self) -> None:
        """Append this step's card to the notes file, and say where."""
        from tutor.ui.screens.step_note import note_step

        note_step(self)

    def note_lesson(self) -> str:
        return ""

    def note_quizzes(self) -> list:
        """The quizzes answered at this step, for the notes (``QuizNote``s)."""
        return []

    def note_sentence(self) -> str:
        return self.view.sentence if self.view else ""

    def action_focus_back(self) -> None:
        """Shift+Tab into the panels lands on the last one, as Tab lands on the first."""
        if self.focus_previous() is self._grid:
            self._grid.enter_at_end()

    def action_toggle_tree(self) -> None:
        self._tree.toggle_class("shown")

    def action_toggle_map(self) -> None:
        self.show_side(not self.side_shown())
        if self.map_in_view():
            self._map.show(self.session.timeline)

    def side_shown(self) -> bool:
        """At 80×24: is the side column (the map, a lesson's prose) asked for?"""
        return self.query_one("#side").has_class("shown")

    def show_side(self, shown: bool) -> None:
        self.query_one("#side").set_class(shown, "shown")

    def map_in_view(self) -> bool:
        """Is the map on screen (stepper.tcss)? At 80×24 only when asked for (a hidden
        map is worked out when it comes back, not on every key)."""
        return not self.has_class("compact") or self.side_shown()

    def action_help(self) -> None:
        from tutor.ui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_quit(self) -> None:
        self.app.exit()

    # events -----------------------------------------------------------------------
    @on(PanelGrid.CellSelected)
    def _cell_selected(self, event: PanelGrid.CellSelected) -> None:
        if event.panel.slot is None:
            return
        self.selected = (event.panel.slot.key, event.index)
        self._grid.select(event.panel.slot.key)
        self._refresh_card()
        self._publish_state()

    @on(TimelineTree.StepChosen)
    def _step_chosen(self, event: TimelineTree.StepChosen) -> None:
        self.go_to(event.position)

