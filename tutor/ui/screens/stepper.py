"""The stepper: walk a recorded run forward, backward, into, out of, and back again."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from tutor.views.session import Session
from tutor.views.step import StepView, build_view, shape_text, worked_element
from tutor.ui.widgets.arch_map import ArchMap
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.status_bar import StatusBar
from tutor.ui.widgets.tensor_view import TensorView
from tutor.ui.widgets.timeline_tree import TimelineTree

MAX_PANELS = 6
COMPACT_WIDTH, COMPACT_HEIGHT = 110, 34
MIN_WIDTH, MIN_HEIGHT = 70, 20
TREE_DELAY = 0.05  # seconds


def _step_commands():
    """The command palette's step finder, imported when the palette first opens."""
    from tutor.ui.screens.step_commands import StepCommands

    return StepCommands


# Keys of the tools in tutor/tools/: tool('module', 'function', arguments…)
TOOL_BINDINGS: list[Binding] = [
    Binding("plus", "tool('nudge', 'nudge', 1)", "nudge +ε", show=False),
    Binding("equals_sign", "tool('nudge', 'nudge', 1)", "nudge +ε", show=False),
    Binding("minus", "tool('nudge', 'nudge', -1)", "nudge −ε", show=False),
    Binding("e", "tool('nudge', 'cycle_epsilon')", "change ε", show=False),
    Binding("d", "tool('descent', 'descent_step')", "descent step", show=False),
    Binding("less_than_sign", "tool('descent', 'scale_lr', 0.5)", "lr ÷2 (decoding: T ÷2)",
            show=False),
    Binding("greater_than_sign", "tool('descent', 'scale_lr', 2.0)", "lr ×2 (decoding: T ×2)",
            show=False),
    Binding("L", "tool('descent', 'lr_lab')", "learning-rate lab", show=False),
    Binding("x", "tool('twin', 'check_step')", "check in PyTorch", show=False),
    Binding("X", "tool('twin', 'check_all')", "check every step", show=False),
    Binding("k", "tool('decode', 'toggle')", "top-k probabilities", show=False),
]
# Tools whose module has ``attach(screen)``: called when a stepper opens, each decides
# whether it applies (the decoding bars only on a decoding run, say).
AUTO_TOOLS = ("decode", "twin", "nudge", "descent")


class StepperScreen(Screen):
    """Every panel derives from the timeline's cursor; keys only move the cursor."""

    CSS_PATH = "stepper.tcss"
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
        Binding("B", "backward_start", "to backward", key_display="B"),
        Binding("g", "go", "go to"),
        Binding("u", "back", "undo move", show=False),
        Binding("home", "start", "first step", show=False),
        Binding("end", "end", "last step", show=False),
        Binding("c", "continue", "next quiz/bookmark", show=False),
        Binding("m", "note", "note", show=False),
        Binding("t", "toggle_tree", "tree", show=False),
        Binding("a", "toggle_map", "map", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ] + TOOL_BINDINGS

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.selected: tuple[str, tuple] = ("out", ())
        self.view: StepView | None = None
        self._panel_layout: tuple | None = None
        self._tree_timer = None
        self.on_step_hooks: list = []  # tools that follow the cursor

    # layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield TimelineTree(id="tree")
            with Vertical(id="center"):
                yield OpCard(id="card")
                with Vertical(id="panels"):
                    for i in range(MAX_PANELS):
                        yield TensorView(id=f"panel{i}", classes="panel")
                yield Vertical(id="tools")
            with Vertical(id="side"):
                yield ArchMap(id="map")
                yield from self.compose_side()

        yield Static(id="torch")
        yield Static("", id="too-small")
        yield Footer()

    def compose_side(self) -> ComposeResult:
        """Extra widgets under the map (a lesson's prose)."""
        return iter(())

    def on_mount(self) -> None:
        # the widgets every step redraws, looked up once (a query walks the DOM)
        self._panels = list(self.query(TensorView).results(TensorView))
        self._card = self.query_one(OpCard)
        self._status = self.query_one(StatusBar)
        self._map = self.query_one(ArchMap)
        self._torch = self.query_one("#torch", Static)
        self._tree = self.query_one(TimelineTree)
        self._attach_tools()
        timeline = self.session.timeline
        self._tree.build(timeline)
        self._map.build(timeline)
        self._apply_size(self.size.width, self.size.height)
        self.refresh_step()

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
        timeline = self.session.timeline
        view = self.view = build_view(timeline)
        keys = [slot.key for slot in view.slots]
        slot_key, index = self.selected
        if slot_key not in keys:
            slot_key = self._default_slot(view)
        self.selected = (slot_key, index)
        count = min(len(view.slots), MAX_PANELS)
        columns = 1 if count <= 2 and not self.has_class("compact") else 2
        layout = (columns, _grid_rows(view.slots[:count], columns))
        if layout != self._panel_layout:  # restyling costs a layout pass: only on change
            self._panel_layout = layout
            panels = self.query_one("#panels")
            panels.styles.grid_size_columns, panels.styles.grid_rows = layout
        for i, view_widget in enumerate(self._panels):
            if i < count:
                slot = view.slots[i]
                if not view_widget.display:
                    view_widget.display = True
                view_widget.show(slot, index)
                if view_widget.has_class("selected") != (slot.key == slot_key):
                    view_widget.set_class(slot.key == slot_key, "selected")
                span = 2 if (columns == 2 and count % 2 and i == count - 1) else 1
                if view_widget.styles.column_span != span:
                    view_widget.styles.column_span = span
            elif view_widget.display:
                view_widget.display = False
                view_widget.show(None)
        self._refresh_card()
        self._status.show(view, self.session.title, self.status_extra())
        self._map.show(timeline)
        # the tree follows a moment later, so a held-down key is not slowed by it
        if self._tree_timer is not None:
            self._tree_timer.stop()
        self._tree_timer = self.set_timer(TREE_DELAY, self._show_in_tree)
        self._torch.update(
            Content.assemble(("torch  ", "dim"), view.torch_line), layout=False)
        for hook in list(self.on_step_hooks):
            hook()
        self.after_step()

    @property
    def settled(self) -> bool:
        """Has everything that follows the cursor caught up (the tree moves a moment later)?"""
        return self._tree_timer is None

    def _show_in_tree(self) -> None:
        self._tree_timer = None
        self._tree.show(self.session.timeline.unit_path())

    def _default_slot(self, view: StepView) -> str:
        for role in ("downstream", "output", "param"):
            for slot in view.slots:
                if slot.role == role:
                    return slot.key
        return view.slots[0].key if view.slots else "out"

    def _refresh_card(self) -> None:
        slot_key, index = self.selected
        worked = worked_element(self.session.timeline, self.session.timeline.position, slot_key,
                                tuple(self._panel(slot_key).cursor) if self._panel(slot_key)
                                else index)
        self._card.show(self.view, worked, self.card_sentence(),
                                    compact=self.has_class("compact"))

    def _panel(self, slot_key: str) -> TensorView | None:
        for widget in self._panels:
            if widget.slot is not None and widget.slot.key == slot_key:
                return widget
        return None

    # tools ------------------------------------------------------------------------
    def _attach_tools(self) -> None:
        import importlib

        for name in AUTO_TOOLS:
            try:
                tool = importlib.import_module(f"tutor.ui.tools.{name}")
            except ModuleNotFoundError as error:
                if error.name == f"tutor.ui.tools.{name}":
                    continue  # that tool is not part of this build
                raise
            attach = getattr(tool, "attach", None)
            if attach is not None:
                attach(self)

    def action_tool(self, module: str, function: str, *args) -> None:
        """Run ``tutor.ui.tools.<module>.<function>(screen, *args)`` (imported on first use)."""
        import importlib

        try:
            tool = importlib.import_module(f"tutor.ui.tools.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"tutor.ui.tools.{module}":
                raise
            self.notify(f"The {module} tool is not part of this build.", timeout=3)
            return
        getattr(tool, function)(self, *args)

    def show_tool(self, widget) -> None:
        """Put ``widget`` in the tool area (replacing what was there); None empties it."""
        area = self.query_one("#tools")
        area.remove_children()
        if widget is not None:
            area.mount(widget)
        area.set_class(widget is not None, "open")
        self.set_class(widget is not None, "tool-open")

    def selected_element(self) -> tuple:
        """(slot, index) of the element the op card works through: what a tool acts on."""
        slot_key, index = self.selected
        panel = self._panel(slot_key)
        if panel is None or panel.slot is None:
            return None, index
        return panel.slot, tuple(panel.cursor)

    # hooks for lessons -------------------------------------------------
    def status_extra(self) -> str:
        return ""

    def card_sentence(self) -> str | None:
        return None

    def after_step(self) -> None:
        """Called after every redraw (lessons place quizzes and prose here)."""

    # moves ----------------------------------------------------------------------
    def may_leave_step(self) -> bool:
        """False keeps the cursor where it is (a quiz here is not answered yet)."""
        return True

    def stop_between(self, old: int, new: int) -> int | None:
        """A step in (old, new) that a forward move must stop at (a waiting quiz)."""
        return None

    def _move(self, move) -> None:
        """Make a move; a forward move may not leave an unanswered quiz or pass one."""
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
                timeline.jump(stop)
                self.notify("A quiz is waiting at this step.", timeout=3)
        self.refresh_step()

    def may_leave_step_at(self, position: int) -> bool:
        return self.may_leave_step()

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
        from tutor.storage.notes import NoteCard, NotesError, append_note

        view = self.view
        slot_key, index = self.selected
        panel = self._panel(slot_key)
        worked = worked_element(self.session.timeline, self.session.timeline.position, slot_key,
                                tuple(panel.cursor) if panel else index)
        card = NoteCard(
            step=f"step {view.position + 1}/{view.total} {view.name}", phase=view.phase,
            formula=view.formula, derivative=view.derivative,
            shapes="   ".join(f"{label} {shape_text(shape)}" for label, shape in view.shapes),
            worked=str(worked) if worked is not None else "", torch=view.torch_line,
            lesson=self.note_lesson(), sentence=self.note_sentence())
        try:
            path = append_note(getattr(self.app, "notes_path", None), card)
        except NotesError as error:
            self.notify(str(error), severity="error", timeout=8)
            return
        self.notify(f"Noted in {path}", timeout=4)

    def note_lesson(self) -> str:
        return ""

    def note_sentence(self) -> str:
        return self.view.sentence if self.view else ""

    def action_toggle_tree(self) -> None:
        self.toggle_class("show-tree")

    def action_toggle_map(self) -> None:
        self.toggle_class("show-map")

    def action_help(self) -> None:
        from tutor.ui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_quit(self) -> None:
        self.app.exit()

    # events -----------------------------------------------------------------------
    @on(TensorView.CellSelected)
    def _cell_selected(self, event: TensorView.CellSelected) -> None:
        if event.view.slot is None:
            return
        self.selected = (event.view.slot.key, event.index)
        for widget in self._panels:
            if widget.has_class("selected") != (widget is event.view):
                widget.set_class(widget is event.view, "selected")
        self._refresh_card()

    @on(TimelineTree.StepChosen)
    def _step_chosen(self, event: TimelineTree.StepChosen) -> None:
        self.go_to(event.position)


def _grid_rows(slots, columns: int) -> str:
    """Rows of vectors and numbers need 3–4 lines; rows holding a matrix share the rest."""
    rows = []
    for start in range(0, len(slots), columns):
        row = slots[start:start + columns]
        small = all(s.value is not None and s.value.ndim <= 1 for s in row)
        rows.append("4" if small else "1fr")
    return " ".join(rows) or "1fr"


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
