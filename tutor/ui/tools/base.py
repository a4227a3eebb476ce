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

import inspect
from collections.abc import Callable
from typing import NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from tutor.ui.widgets.parts import Parts
from tutor.views.session import Session
from tutor.views.step import TensorSlot


class Selection(NamedTuple):
    """The element the op card works through: what a tool acts on."""

    slot: TensorSlot | None
    index: tuple


class StepperState(NamedTuple):
    """What a tool follows: where the cursor is, what is selected, the layout."""

    position: int
    selection: Selection
    compact: bool


def tool_bindings(tool_keys) -> list[Binding]:
    """Each tool's keys (``(tool id, keys)`` pairs), forwarded from the stepper to the
    tool (``action_tool``) so they work wherever the focus is; a tool with focus gets
    them directly."""
    return [Binding(b.key, f"tool({tool_id!r}, {b.action!r})", b.description,
                    show=False, key_display=b.key_display)
            for tool_id, keys in tool_keys for b in keys]


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
    """Under the tensors: the tools, one shown at a time.

    The screen mounts its tools here just after its first frame (``fill``): hidden until
    a key opens one, they cost 30 ms of a launch. What needs them sooner (a key typed
    ahead, a pane to open) waits for them (``when_filled``)."""

    DEFAULT_CSS = """
    ToolArea {
        height: auto;
        max-height: 16;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._waiting: list | None = []  # (callback, args); None once filled

    async def fill(self, tools: list[Tool], still_open: Callable[[], bool]) -> None:
        """Mount ``tools``, then run what waited for them, in order, while the screen
        is ``still_open`` (a later key of the same burst may have closed it)."""
        await self.mount_all(tools)
        waiting, self._waiting = self._waiting or [], None
        for callback, args in waiting:
            if not still_open():
                return
            result = callback(*args)
            if inspect.isawaitable(result):
                await result

    @property
    def filled(self) -> bool:
        return self._waiting is None

    def when_filled(self, callback, *args) -> None:
        """Run ``callback(*args)`` once the tools are mounted (next, if they are)."""
        if self._waiting is None:
            self.call_later(callback, *args)
        else:
            self._waiting.append((callback, args))

    def for_key(self, tool: Tool, action: str) -> tuple[Tool, str] | None:
        """Who runs a tool key: ``tool`` if ``action`` applies, else another tool with the
        same key that applies (``<`` is decoding's and descent's), else no one. The
        stepper checks this before a key when the tools are there; a key typed before
        them is checked here, once they are."""
        if tool.applies(action.split("(")[0]):
            return tool, action
        key = next(b.key for b in type(tool).BINDINGS if b.action == action)
        for other in self.query_children(Tool):
            for binding in type(other).BINDINGS:
                if binding.key == key and other.applies(binding.action.split("(")[0]):
                    return other, binding.action
        return None

    async def run_key(self, tool_id: str, action: str) -> bool:
        """Run a tool's key (``action`` of the tool ``tool_id``) by the tool it applies to
        (``for_key``); False when none does."""
        tool = next((t for t in self.query_children(Tool) if t.id == tool_id), None)
        found = None if tool is None else self.for_key(tool, action)
        if found is None:
            return False
        await found[0].run_action(found[1])
        return True

    def on_tool_opened(self, event: Tool.Opened) -> None:
        for tool in self.query_children(Tool):
            if tool is not event.tool:
                tool.close()

    @property
    def shown(self) -> Tool | None:
        return next((t for t in self.query_children(Tool) if t.display), None)
