"""What every tool of the stepper is, and the area under the tensors they share.

A tool (nudge, descent, decode, the PyTorch twin) is a widget in the ``ToolArea``,
hidden until it has something to show. It owns its keys (``BINDINGS``: they work when
the tool has focus, and the stepper forwards them from anywhere else — see
``StepperScreen.action_tool``), its state, and its messages: it posts ``Tool.Opened``
and ``Tool.Closed``, and the area keeps one tool shown at a time. It follows the
stepper through ``state``, bound to the screen's (``data_bind``): the step under the
cursor and the element selected in its panels. A tool never reaches into the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from tutor.ui.widgets.parts import Parts
from tutor.views.session import Session
from tutor.views.step import TensorSlot


@dataclass(frozen=True)
class Selection:
    """The element the op card works through: what a tool acts on."""

    slot: TensorSlot | None
    index: tuple


@dataclass(frozen=True)
class StepperState:
    """What a tool follows: where the cursor is, what is selected, the layout."""

    position: int
    selection: Selection
    compact: bool


class Tool(Vertical):
    """A tool's pane: a block of styled text (``plain`` keeps it for tests)."""

    DEFAULT_CSS = """
    Tool {
        display: none;
        height: auto;
        max-height: 16;
        padding: 0 1;
        border-top: hkey $accent-darken-2;
        background: $boost;
    }
    Tool.compact {
        border-top: none;
    }
    Tool > .tool-body {
        height: auto;
    }
    """

    state: reactive[StepperState | None] = reactive(None, init=False, repaint=False)

    class Opened(Message):
        def __init__(self, tool: "Tool") -> None:
            super().__init__()
            self.tool = tool

    class Closed(Message):
        def __init__(self, tool: "Tool") -> None:
            super().__init__()
            self.tool = tool

    def __init__(self, session: Session, *, id: str) -> None:
        super().__init__(id=id)
        self.session = session
        self.timeline = session.timeline
        self.plain = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="tool-body")

    @property
    def is_open(self) -> bool:
        return bool(self.display)

    @property
    def compact(self) -> bool:
        return bool(self.state and self.state.compact)

    @property
    def width(self) -> int:
        """The columns the tool's text has (its area's width less the padding)."""
        return max((self.parent.size.width if self.parent else 80) - 2, 40)

    def applies(self, action: str) -> bool:
        """Whether ``action`` does anything on this run (a key another tool may take)."""
        return True

    def show_parts(self, parts: Parts) -> None:
        """Show this text and open the pane (it takes the place of any other tool)."""
        self.plain = parts.plain.rstrip("\n")
        self.query_one(".tool-body", Static).update(parts.content())
        self.set_class(self.compact, "compact")
        self.open()

    def show_message(self, title: str, text: str) -> None:
        """Say something instead (what to select, why the tool does not apply)."""
        self.show_parts(Parts().add(f"{title}  ", "bold").add(text, "italic"))

    def open(self) -> None:
        if not self.display:
            self.display = True
            self.post_message(self.Opened(self))

    def close(self) -> None:
        if self.display:
            self.display = False
            self.post_message(self.Closed(self))


class ToolArea(Vertical):
    """Under the tensors: the tools, one shown at a time."""

    DEFAULT_CSS = """
    ToolArea {
        height: auto;
        max-height: 16;
    }
    """

    def on_tool_opened(self, event: Tool.Opened) -> None:
        for tool in self.query_children(Tool):
            if tool is not event.tool:
                tool.close()

    @property
    def shown(self) -> Tool | None:
        return next((t for t in self.query_children(Tool) if t.display), None)
