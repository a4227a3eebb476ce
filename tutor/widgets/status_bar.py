"""The status line: phase, step K/N, where the cursor is, how it steps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..stepview import StepView

PHASE_STYLE = {"forward": "bold black on cyan", "backward": "bold black on magenta",
               "update": "bold black on green"}


class StatusBar(Static):
    def show(self, view: StepView, title: str, extra: str = "") -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {view.phase.upper()} ", style=PHASE_STYLE[view.phase])
        text.append(f" step {view.position + 1}/{view.total} ", style="bold")
        text.append(f" {view.name} ", style="bold")
        text.append(f"· {view.op_name} ", style="dim")
        text.append(f"· {view.depth_label} ", style="dim")
        if extra:
            text.append(f"· {extra} ", style="yellow")
        text.append(f"  {title}", style="dim")
        self.update(text)
