"""The timeline tree: phases → scopes → ops, the cursor's unit highlighted.

Drawn line by line (Textual's line API) with one cached strip per line: moving the
cursor repaints two lines, and opening a scope draws only the lines it adds or moves.
(Textual's Tree widget redrew every visible line whenever any scope opened, 10–20 ms
at 120×40, and rebuilt each line's guides from its styles.)
"""

from __future__ import annotations

from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.timeline import ScopeNode, Timeline
from tutor.ui.widgets.kept_lines import KeptLines

PHASE_STYLE = {"forward": "cyan", "backward": "magenta", "update": "green"}
OPEN, CLOSED = "▼ ", "▶ "


class TreeLine(NamedTuple):
    """One visible line: its scope, and the guides drawn before it (``│ ├ ``)."""

    scope: ScopeNode
    guides: str


class TimelineTree(KeptLines, ScrollView, can_focus=False):
    """Collapsible, clickable; clicking an op jumps the stepper to it, clicking a scope
    opens or closes it. It never takes the keyboard: the keys step the cursor (and `g`
    finds a step by name)."""

    COMPONENT_CLASSES = {"timeline-tree--cursor", "timeline-tree--guides"}
    DEFAULT_CSS = """
    TimelineTree { background: $surface; }
    TimelineTree > .timeline-tree--cursor {
        background: $block-cursor-blurred-background;
        text-style: $block-cursor-blurred-text-style;
    }
    TimelineTree > .timeline-tree--guides { color: $surface-lighten-2; }
    """

    class StepChosen(Message):
        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._phases: list[ScopeNode] = []
        self._timeline: Timeline | None = None
        self._expanded: set[tuple] = set()
        self._lines: list[TreeLine] = []
        self._line_of: dict[tuple, int] = {}
        self._current: tuple | None = None
        self._strips: dict[tuple, Strip] = {}  # (path, expanded, current, width) → strip
        self._base: Style | None = None  # the widget's style, as the strips are drawn on

    # the structure ------------------------------------------------------------------
    def build(self, timeline: Timeline) -> None:
        """The phases of ``timeline``, all closed."""
        self._timeline = timeline
        self._phases = timeline.scope_tree().children
        self._expanded = set()
        self._current = None
        self._relayout()

    def _relayout(self) -> None:
        lines: list[TreeLine] = []

        def add(scopes: list[ScopeNode], guides: str, depth: int) -> None:
            for i, scope in enumerate(scopes):
                last = i == len(scopes) - 1
                own = "" if depth == 1 else guides + ("└ " if last else "├ ")
                lines.append(TreeLine(scope, own))
                if scope.path in self._expanded and scope.children:
                    below = "" if depth == 1 else guides + ("  " if last else "│ ")
                    add(scope.children, below, depth + 1)

        add(self._phases, "", 1)
        self._lines = lines
        self._line_of = {line.scope.path: y for y, line in enumerate(lines)}
        self.virtual_size = Size(0, len(lines))  # never wider than it is: no sideways scroll
        self.refresh()

    def is_expanded(self, path: tuple) -> bool:
        return path in self._expanded

    def scope_at_line(self, y: int) -> ScopeNode | None:
        """The scope drawn on line ``y`` of the whole tree (0 is the first phase)."""
        return self._lines[y].scope if 0 <= y < len(self._lines) else None

    def line_of(self, path: tuple) -> int | None:
        return self._line_of.get(path)

    def toggle(self, path: tuple) -> None:
        """Open or close a scope."""
        self._expanded.symmetric_difference_update({path})
        self._relayout()

    # the cursor ---------------------------------------------------------------------
    def show(self, unit_path: tuple) -> None:
        """Highlight the cursor's unit, opening the scopes above it, and scroll it into
        view if it is not."""
        above = {unit_path[:depth] for depth in range(1, len(unit_path))}
        if not above <= self._expanded:
            self._expanded |= above
            self._relayout()
        previous, self._current = self._current, unit_path
        for path in (previous, unit_path):
            self._refresh_path(path)
        y = self._line_of.get(unit_path)
        if y is None:
            return
        top, height = round(self.scroll_offset.y), self.scrollable_content_region.height
        if not top <= y < top + height:
            self.scroll_to(y=max(0, y - height // 3), animate=False)

    def _refresh_path(self, path: tuple | None) -> None:
        y = self._line_of.get(path) if path is not None else None
        if y is not None:
            self.refresh(Region(0, y - round(self.scroll_offset.y), self.size.width, 1))

    # drawing --------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._base = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = y + round(self.scroll_offset.y)
        if self._base is None:  # worked out from the DOM once per style, not per line
            self._base = self.rich_style
        base = self._base
        if not 0 <= index < len(self._lines) or width <= 0:
            return Strip.blank(max(width, 0), base)
        line = self._lines[index]
        path = line.scope.path
        key = (path, path in self._expanded, path == self._current, width)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._draw(line, key[1], key[2], width, base)
        return strip

    def _draw(self, line: TreeLine, expanded: bool, current: bool, width: int,
              base: Style) -> Strip:
        scope = line.scope
        if current:
            base = base + self.get_component_rich_style("timeline-tree--cursor")
        guides = base + self.get_component_rich_style("timeline-tree--guides", partial=True)
        dim = base + Style(dim=True)
        segments = [Segment(line.guides, guides)] if line.guides else []
        if scope.children:
            segments.append(Segment(OPEN if expanded else CLOSED, base))
        if len(scope.path) == 1:
            colour = PHASE_STYLE.get(scope.label)
            segments.append(Segment(scope.label, base + Style(bold=True, color=colour)))
            segments.append(Segment(f"  {scope.last - scope.first + 1} steps", dim))
        else:
            segments.append(Segment(scope.label, base))
            if scope.is_step and self._timeline is not None:
                segments.append(Segment(f"  {self._timeline.steps[scope.first].op_name}", dim))
        return Strip(segments).crop_extend(0, width, base)

    # the mouse ------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scope = self.scope_at_line(offset.y + round(self.scroll_offset.y))
        if scope is None:
            return
        event.stop()
        if scope.is_step:
            self.post_message(self.StepChosen(scope.first))
        else:
            self.toggle(scope.path)
