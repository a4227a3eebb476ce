"""The tensor panels of a step, boxed in a grid, drawn by one widget.

One widget rather than a widget per panel in a CSS grid: a step changes how many panels
there are and how tall their rows are, and re-gridding widgets costs Textual a layout
pass of the whole screen (about half the time of a key). Here the boxes are arithmetic
(``boxes``), each panel's lines are built once per change (``TensorPanel``), and each
row of the widget is one cached Strip.

Tab moves between the panels (then on to the next widget), arrows move the cell, ``[``
``]`` the slice of a 3-D or 4-D tensor, Esc leaves; a click picks a cell.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tutor.ui.widgets.kept_lines import changed_rows, cropped, pre_render
from tutor.ui.widgets.tensor_panel import TensorPanel
from tutor.views.recent import Recent
from tutor.views.step import TensorSlot

SMALL_ROW = 4  # lines for a row of vectors and numbers
MIN_ROW = 3
ROUND = "╭╮╰╯─│"
HEAVY = "┏┓┗┛━┃"


class Box(NamedTuple):
    x: int
    y: int
    width: int
    height: int


def _split(total: int, parts: int) -> list[int]:
    """``total`` cells in ``parts`` near-equal sizes, the larger ones last."""
    base, extra = divmod(max(total, 0), parts)
    return [base + (1 if k >= parts - extra else 0) for k in range(parts)]


def boxes(width: int, height: int, count: int, columns: int, small_rows: list[bool]
          ) -> list[Box]:
    """Where each of ``count`` panels goes: ``columns`` across with a one-cell gutter,
    rows of vectors and numbers ``SMALL_ROW`` tall, the other rows sharing the rest; an
    odd last panel of two columns spans both."""
    if count == 0 or width <= 0 or height <= 0:
        return []
    flexible = small_rows.count(False)
    spare = height - SMALL_ROW * (len(small_rows) - flexible)
    shares = iter(_split(spare, flexible)) if flexible else iter(())
    heights = [SMALL_ROW if small else max(MIN_ROW, next(shares)) for small in small_rows]
    widths = _split(width - (columns - 1), columns)
    result, y = [], 0
    for row, row_height in enumerate(heights):
        x = 0
        for column in range(columns):
            index = row * columns + column
            if index >= count:
                break
            w = widths[column]
            if index == count - 1 and column == 0 and columns > 1:
                w = width  # the odd one out spans the row
            result.append(Box(x, y, w, row_height))
            x += w + 1
        y += row_height
    return result


class PanelGrid(Widget, can_focus=True):
    """Up to six ``TensorPanel``s; the selected one's box is accented, the one with the
    cursor (while the grid has focus) is drawn heavy."""

    COMPONENT_CLASSES = {"panel-grid--border", "panel-grid--selected", "panel-grid--title",
                         "panel-grid--subtitle"}
    DEFAULT_CSS = """
    PanelGrid { height: 1fr; }
    PanelGrid > .panel-grid--border { color: $surface-lighten-2; }
    PanelGrid > .panel-grid--selected { color: $accent; }
    PanelGrid > .panel-grid--title { color: $foreground-muted; }
    PanelGrid > .panel-grid--subtitle { color: $warning; }
    """
    BINDINGS = [
        Binding("up", "move(-1, 0)", "cell up", show=False),
        Binding("down", "move(1, 0)", "cell down", show=False),
        Binding("left", "move(0, -1)", "cell left", show=False),
        Binding("right", "move(0, 1)", "cell right", show=False),
        Binding("left_square_bracket", "slice(-1)", "previous slice", show=False),
        Binding("right_square_bracket", "slice(1)", "next slice", show=False),
        Binding("tab", "cycle(1)", "next panel", show=False),
        Binding("shift+tab", "cycle(-1)", "previous panel", show=False),
        Binding("escape", "leave", "leave panel", show=False),
    ]

    class CellSelected(Message):
        """The learner picked an element of ``panel``."""

        def __init__(self, panel: TensorPanel, index: tuple) -> None:
            super().__init__()
            self.panel = panel
            self.index = index

    def __init__(self, count: int = 6, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._built = Recent(64)  # the panels' data and lines, shared (see ``prepare``)
        self._drawn = Recent(8)  # whole grids as drawn: rows of the widget, by their inputs
        self.panels = [TensorPanel(self._built) for _ in range(count)]
        self.count = 0
        self.columns = 1
        self.small_rows: list[bool] = []
        self.selected: TensorPanel | None = None  # the panel the op card works through
        self.active = 0  # the panel the arrows move in while the grid has focus
        self._chosen = False  # has a key or a click chosen a panel since the grid got focus
        self._rows: list[Strip] | None = None  # each row of the widget, as last drawn
        self._rows_size = None
        self._boxes: list[Box] = []
        self._styles: tuple = ()
        self._styles_key: tuple | None = None

    # what is shown ----------------------------------------------------------------------
    @property
    def shown(self) -> list[TensorPanel]:
        return self.panels[:self.count]

    def show(self, slots: list[TensorSlot], columns: int, small_rows: list[bool],
             cursor: tuple, selected_key) -> None:
        """Show ``slots`` (the cursor applies where it fits), ``selected_key``'s accented."""
        self.count, self.columns, self.small_rows = len(slots), columns, small_rows
        for k, panel in enumerate(self.panels):
            panel.show(slots[k] if k < len(slots) else None, cursor)
        self.active = min(self.active, max(self.count - 1, 0))
        self.select(selected_key)

    def prepare(self, slots: list[TensorSlot], columns: int, small_rows: list[bool],
                cursor: tuple, selected_key) -> Iterator[list[TensorPanel]]:
        """Draw, off screen, what ``show`` with these arguments will show: the step a key
        is likely to go to is drawn while the learner reads, and the key only swaps it in.
        A generator of the panels, drawn one more at each step (a key pressed meanwhile
        waits for one panel, not a grid). Drawn at the grid's focus and size then; if
        they change, the key draws as before."""
        panels = [TensorPanel(self._built) for _ in slots]
        for panel, slot in zip(panels, slots):
            panel.show(slot, cursor)
        yield panels
        width, height = self.outer_size
        if not width or not height:
            return
        active = min(self.active, max(len(panels) - 1, 0))
        focused = active if self.has_focus else -1
        for k, box in enumerate(boxes(width, height, len(panels), columns, small_rows)):
            if box.width >= 4 and box.height >= 2:
                panels[k].lines(*_inner(box), k == focused, self.rich_style)
                yield panels
        selected = next((p for p in panels if p.slot.key == selected_key), None)
        self._rows_of(panels, columns, small_rows, selected, active)
        yield panels

    def panel_for(self, key) -> TensorPanel | None:
        return next((p for p in self.shown if p.slot.key == key), None)

    def select(self, key) -> None:
        self.selected = self.panel_for(key)
        self.redraw()

    def box_of(self, panel: TensorPanel) -> Box | None:
        """Where ``panel`` is drawn, in the widget's coordinates (for clicks in tests)."""
        self._layout()
        k = self.panels.index(panel)
        return self._boxes[k] if k < len(self._boxes) else None

    # keys -------------------------------------------------------------------------------
    def _choose(self, panel: TensorPanel, index: tuple) -> None:
        self._chosen = True  # while the grid has focus
        panel.set_cursor(index)
        # to the screen itself, not bubbled up through the columns: each hop waits a turn
        # of the event loop, so the grid's repaint went out in a frame of its own and the
        # op card followed in the next, which Textual paces 17–33 ms later
        self.screen.post_message(self.CellSelected(panel, panel.cursor))
        self.redraw()

    def action_move(self, drow: int, dcol: int) -> None:
        panel = self._active_panel()
        index = panel.moved(drow, dcol) if panel is not None else None
        if index is not None:
            self._choose(panel, index)

    def action_slice(self, delta: int) -> None:
        panel = self._active_panel()
        index = panel.sliced(delta) if panel is not None else None
        if index is not None:
            self._choose(panel, index)

    def action_cycle(self, delta: int) -> None:
        """Tab: the next panel; past the last (or before the first), the next widget."""
        k = self.active + delta
        if 0 <= k < self.count:
            self._activate(k)
            return
        target = self.screen.focus_next() if delta > 0 else self.screen.focus_previous()
        if target is self or target is None:  # nothing else to go to: wrap around
            self._activate(k % self.count if self.count else 0)

    def enter_at_end(self) -> None:
        """Focus came in backwards (Shift+Tab): the last panel."""
        if self.count:
            self._activate(self.count - 1)

    def action_leave(self) -> None:
        self.screen.set_focus(None)

    def _active_panel(self) -> TensorPanel | None:
        return self.panels[self.active] if self.active < self.count else None

    def _activate(self, k: int) -> None:
        self.active = k
        panel = self._active_panel()
        if panel is not None:
            self._choose(panel, panel.cursor)

    def on_focus(self) -> None:
        """Tabbing in selects the first panel: its element is what the card works through
        and what a tool acts on. (Keys typed ahead of this event, a second Tab say, or the
        click that focused the grid, have chosen already.)"""
        if not self._chosen:
            self._activate(0)

    def on_blur(self) -> None:
        self.active, self._chosen = 0, False  # the next Tab in starts at the first panel
        self.redraw()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        self._layout()
        for k, box in enumerate(self._boxes):
            if box.x <= offset.x < box.x + box.width and box.y <= offset.y < box.y + box.height:
                panel = self.panels[k]
                index = panel.index_at(offset.x - box.x - 2, offset.y - box.y - 1)
                if index is None:
                    return
                self.active = k
                self._choose(panel, index)
                self.focus()
                return

    # drawing ----------------------------------------------------------------------------
    def refresh(self, *args, **kwargs):
        self._rows = None
        return super().refresh(*args, **kwargs)

    def redraw(self) -> None:
        """Refresh the rows that change, drawn now (a grid drawn ahead is a lookup): a
        step that keeps a panel, or a box's edge, does not send its rows again. All of
        them when the rows before cannot be compared (first drawn, resized)."""
        before = self._rows if self._rows_size == self.outer_size else None
        self._rows = None
        regions = None if before is None else changed_rows(before, self._current_rows())
        if regions is None:
            super().refresh()
        elif regions:
            super().refresh(*regions)

    def _layout(self) -> None:
        width, height = self.outer_size
        self._boxes = boxes(width, height, self.count, self.columns, self.small_rows)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows = None  # a new theme: new border colours
        self._styles_key = None

    def render_lines(self, crop) -> list[Strip]:
        """The rows as drawn (filters applied once, when drawn), not line by line through
        Textual's styles: the grid has no border or padding of its own, and a frame that
        only swaps in rows prepared before the key must not pay to restyle them."""
        rows = self._current_rows()
        width = self.outer_size.width
        if len(rows) < crop.bottom:
            rows = rows + [Strip.blank(width)] * (crop.bottom - len(rows))
        return cropped(rows, crop, width)

    def render_line(self, y: int) -> Strip:
        rows = self._current_rows()
        return rows[y] if y < len(rows) else Strip.blank(self.outer_size.width)

    def _current_rows(self) -> list[Strip]:
        size = self.outer_size  # (no border or padding: the content's size)
        if self._rows is None or self._rows_size != size:
            self._layout()
            self._rows = self._rows_of(self.shown, self.columns, self.small_rows,
                                       self.selected, self.active)
            self._rows_size = size
        return self._rows

    def _rows_of(self, panels: list[TensorPanel], columns: int, small_rows: list[bool],
                 selected: TensorPanel | None, active: int) -> list[Strip]:
        """The grid's rows for ``panels``, from the grids drawn before when it is there."""
        width, height = self.outer_size
        base = self.rich_style
        styles, filters, background = self._edge_styles(base)
        focused = active if self.has_focus else -1
        where = boxes(width, height, len(panels), columns, small_rows)
        key = (width, height, base, self._styles_key, focused,
               panels.index(selected) if selected in panels else -1, columns,
               tuple(small_rows), tuple((p.identity, p.cursor, p.border_title,
                                         p.border_subtitle) for p in panels))
        drawn = self._drawn.get(key)
        if drawn is None:
            rows = self._draw(panels, where, selected, focused, base, styles)
            for f in filters:
                rows = [row.apply_filter(f, background) for row in rows]
            rows = [row.simplify() for row in rows]  # neighbours of one colour: one run
            pre_render(rows, self.app.console)
            drawn = (rows, [p.slot for p in panels])  # the slots keep the key's ids alive
            self._drawn.put(key, drawn)
        else:  # the panels take the lines drawn then (and so where a click lands)
            for k, box in enumerate(where):
                if box.width >= 4 and box.height >= 2:
                    panels[k].lines(*_inner(box), k == focused, base)
        return drawn[0]

    def _edge_styles(self, base: Style) -> tuple[dict[str, Style], tuple, object]:
        """The styles of the boxes' edges and labels on ``base``, the app's line filters
        and the background they apply on: kept while the theme and the grid's own style
        are the same (a step need not work them out again)."""
        key = (base, self.app.theme, self.app.ansi_color)
        if self._styles_key != key:
            self._styles = ({name: base + self.get_component_rich_style(
                f"panel-grid--{name}", partial=True)
                for name in ("border", "selected", "title", "subtitle")},
                tuple(self.get_line_filters()), self.background_colors[1])
            self._styles_key = key
        return self._styles

    def _draw(self, panels: list[TensorPanel], where: list[Box], selected, focused: int,
              base: Style, styles: dict[str, Style]) -> list[Strip]:
        """Every row of the widget: the boxes side by side, gutters and gaps blank."""
        width, height = self.outer_size
        rows: list[list[Segment]] = [[] for _ in range(height)]
        ends = [0] * height  # the cell each row has been drawn up to
        for k, box in enumerate(where):
            panel = panels[k]
            lines = self._box_lines(panel, box, k == focused, panel is selected, base, styles)
            for dy, line in enumerate(lines):
                y = box.y + dy
                if y >= height:
                    break
                if box.x > ends[y]:
                    rows[y].append(Segment(" " * (box.x - ends[y]), base))
                rows[y] += line
                ends[y] = box.x + box.width
        for y, row in enumerate(rows):
            if ends[y] < width:
                row.append(Segment(" " * (width - ends[y]), base))
        return [Strip(row, width) if ends[y] <= width else Strip(row).crop(0, width)
                for y, row in enumerate(rows)]

    @staticmethod
    def _box_lines(panel: TensorPanel, box: Box, focused: bool, selected: bool, base: Style,
                   styles: dict[str, Style]) -> list[list[Segment]]:
        """A panel in its box: the title in the top edge, the subtitle in the bottom."""
        w, h = box.width, box.height
        if w < 4 or h < 2:
            return []
        edge = styles["selected"] if focused or selected else styles["border"]
        tl, tr, bl, br, across, side = HEAVY if focused else ROUND
        inner_w, inner_h = _inner(box)
        content = panel.lines(inner_w, inner_h, focused, base)
        left, right = Segment(side + " ", edge), Segment(side, edge)
        blank = [Segment(" " * inner_w, base)]
        lines = [_edge(tl, tr, across, panel.border_title, w, edge, styles["title"], False)]
        for k in range(inner_h):
            lines.append([left, *(content[k] if k < len(content) else blank), right])
        lines.append(_edge(bl, br, across, panel.border_subtitle, w, edge,
                           styles["subtitle"], True))
        return lines


def _inner(box: Box) -> tuple[int, int]:
    """The content's size in a panel's box: inside the edges, one cell of margin left."""
    return box.width - 3, box.height - 2


def _edge(first: str, last: str, across: str, label: str, width: int, edge: Style,
          label_style: Style, right: bool) -> list[Segment]:
    """``╭─ label ───╮`` (or ``╰─── label ─╯``): the label cut to fit with an ellipsis."""
    room = width - 6
    if label and room >= 1:
        if len(label) > room:
            label = label[:room - 1] + "…"
        fill = across * (width - 6 - len(label))
        middle = ([Segment(across + fill + " ", edge), Segment(label, label_style),
                   Segment(" " + across, edge)] if right else
                  [Segment(across + " ", edge), Segment(label, label_style),
                   Segment(" " + across + fill, edge)])
    else:
        middle = [Segment(across * (width - 2), edge)]
    return [Segment(first, edge), *middle, Segment(last, edge)]
