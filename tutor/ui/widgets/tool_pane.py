"""The base of the panes the tools put in the stepper's tool area (under the tensors)."""

from __future__ import annotations

from textual.widgets import Static

from tutor.ui.widgets.parts import Parts


class ToolPane(Static):
    """A block of styled text with its plain text kept for tests.

    ``tool`` names the tool that owns the pane (``"nudge"``, ``"descent"``,
    ``"decode"``), so a tool following the cursor removes only its own pane.
    """

    DEFAULT_CSS = """
    ToolPane {
        height: auto;
        padding: 0 1;
        border-top: hkey $accent-darken-2;
        background: $boost;
    }
    ToolPane.compact {
        border-top: none;
    }
    """

    tool = ""

    def __init__(self, parts: Parts | None = None, *, compact: bool = False,
                 id: str | None = None) -> None:
        super().__init__("", id=id, classes="compact" if compact else None)
        self.plain = ""
        if parts is not None:
            self.set_parts(parts)

    def set_parts(self, parts: Parts) -> None:
        self.plain = parts.plain.rstrip("\n")
        self.update(parts.content())


def message_pane(tool: str, title: str, text: str) -> ToolPane:
    """A pane that only says something (what to select, why a tool does not apply)."""
    pane = ToolPane()
    pane.tool = tool
    pane.set_parts(Parts().add(f"{title}  ", "bold").add(text, "italic"))
    return pane
