"""The architecture map: the blocks of the run, where the cursor is, which way data flows."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from engine.timeline import ScopeNode, Timeline
from tutor.ui.widgets.kept_lines import kept_frame
from tutor.views.recent import Recent


LABELS = {
    "src_embed": "source: embed ×√d + pos",
    "tgt_embed": "target: embed ×√d + pos",
    "encoder": "ENCODER",
    "decoder": "DECODER",
    "self_attn": "self-attention",
    "cross_attn": "cross-attn ← encoder",
    "add_norm1": "add & norm",
    "add_norm2": "add & norm",
    "add_norm3": "add & norm",
    "ff": "feed-forward",
    "norm": "final layer norm",
    "generator": "linear → logits",
    "loss": "loss",
    "probs": "softmax → probabilities",
    "argmax": "argmax → next token",
    "lookup": "embedding lookup",
    "scale": "× √d_model",
    "add_position": "+ positional encoding",
    "attn": "attention",
}
HEADER = {"forward": (("data flows ↓ (forward)", "cyan"),),
          "backward": (("gradients flow ↑ (backward)", "magenta"),),
          "update": (("weights step against ∂L/∂w", "green"),)}
MORE = (("  ⋮", "dim"),)
UPDATE_ALIASES = {"norm1": "add_norm1", "norm2": "add_norm2", "norm3": "add_norm3",
                  "linear1": "ff", "linear2": "ff"}


def label_for(path: tuple[str, ...], op: str = "") -> str:
    last = path[-1]
    if last == "loss" and op == "cross_entropy":
        return "softmax · cross-entropy"
    if last.startswith("layers."):
        return f"layer {last.split('.', 1)[1]}"
    if last.startswith("token_"):
        return f"generate token {last.split('_', 1)[1]}"
    if last == "self_attn" and "decoder" in path:
        return "masked self-attn"
    return LABELS.get(last, last.replace("_", " "))


class ArchMap(Widget):
    """Blocks of the forward pass, top to bottom; the cursor's block marked ▶.

    Drawn line by line with a cached strip per line: a step that moves the marker
    redraws two lines. Taller than its box (a lesson caps it at 40%), it shows the
    window of rows around the marker, ``⋮`` where rows are left out above or below."""

    DEFAULT_CSS = "ArchMap { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plain = ""
        self._lines: list[tuple] = []  # per line: ((text, style), ...)
        self._marked = 0  # the line with the marker
        self._window: tuple | None = None  # (size, the lines shown in it)
        self._strips: dict[tuple, Strip] = {}
        self._styles: dict[str, Style] = {}
        self._start = 1  # the first line under the header, when they do not all fit
        self._base: tuple | None = None  # (theme, the map's rich style)
        self._made: dict[tuple, tuple] = {}  # (where, phase) → (lines, marked): a run's map
        self._frames = Recent(12)  # what the box shows → its lines, as drawn

    def build(self, timeline: Timeline) -> None:
        self._made = {}
        tree = timeline.scope_tree()
        forward = next((c for c in tree.children if c.label == "forward"), None)
        self._blocks = forward.children if forward is not None else []
        self._ops = {s.path[1:]: s.op_name for s in timeline.steps if s.phase == "forward"}
        # a learner's own model (tutor torch): its modules, by its own names (its calls
        # and their aten ops are in the tree), and the loss
        self._own = timeline.tape.origin == "pytorch"
        self._modules = set(getattr(timeline.tape, "modules", ())) | {("loss",)}

    def show(self, timeline: Timeline) -> None:
        self._show_lines(*self._made_at(timeline))

    def prepare(self, timeline: Timeline) -> None:
        """Draw, off screen and at the map's size now, what ``show(timeline)`` will show
        (the map of the step a key is likely to go to, drawn while the learner reads)."""
        if not self.outer_size.area:
            return
        lines, marked, _ = self._made_at(timeline)
        shown = self._lines, self._marked, self._window, self._start
        self._lines, self._marked, self._window = lines, marked, None
        try:
            self.render_lines(self.outer_size.region)
        finally:
            self._lines, self._marked, self._window, self._start = shown
            self._styles_cache.clear()

    def _made_at(self, timeline: Timeline) -> tuple[list[tuple], int, str]:
        step = timeline.step
        where = tuple(UPDATE_ALIASES.get(p, p) for p in step.path[1:])
        made = self._made.get((where, step.phase))
        if made is None:
            made = self._made[(where, step.phase)] = self._map_lines(where, step.phase)
        return made

    def _map_lines(self, where: tuple, phase: str) -> tuple[list[tuple], int, str]:
        """The map's lines with the cursor at ``where`` in ``phase``, which is marked, and
        the text they show."""
        lines: list[tuple] = [HEADER[phase]]
        arrow = "↓" if phase == "forward" else "↑"
        rows = self.rows(where)
        marked = 0
        for i, (indent, label, here) in enumerate(rows):
            if here:
                marked = len(lines)
            style = "bold black on yellow" if here else ("bold" if indent == 0 else "")
            lines.append(((("▶ " if here else "  ") + "  " * indent, "yellow"), (label, style)))
            if indent == 0 and i + 1 < len(rows) and rows[i + 1][0] == 0:
                lines.append(((f"  {arrow}", "dim"),))
        plain = "\n".join("".join(text for text, _ in line) for line in lines) + "\n"
        return lines, marked, plain

    def _show_lines(self, lines: list[tuple], marked: int, plain: str) -> None:
        if lines is self._lines or lines == self._lines:
            return
        width, shown = self._inner_size()
        before, drawn = len(self._lines), self._drawn()
        self._lines, self._marked, self._window = lines, marked, None
        self.plain = plain
        # a new height needs a layout pass, unless the map is cut at its cap and still is
        clipped = 0 < shown < before and shown <= len(lines)
        if len(lines) != before and not clipped:
            self.refresh(layout=True)
            return
        now = self._drawn()  # the same height: repaint the lines that changed
        changed = [y for y in range(len(now)) if y >= len(drawn) or now[y] != drawn[y]]
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def _inner_size(self) -> tuple[int, int]:
        """``content_size``, from the widget's own size (not its place on the screen)."""
        width, height = self.outer_size
        gutter = self.styles.gutter
        return max(width - gutter.width, 0), max(height - gutter.height, 0)

    def _drawn(self) -> list[tuple]:
        """What each row of the box shows."""
        width, height = self._inner_size()
        if self._window is None or self._window[0] != (width, height):
            self._window = ((width, height), [self._lines[k] if k is not None else MORE
                                              for k in self._shown_lines(height)])
        return self._window[1]

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._lines)

    def rows(self, where: tuple) -> list[tuple[int, str, bool]]:
        """(indent, label, is it the cursor's block) per line of the map; ``where`` is the
        cursor's path without its phase."""
        rows: list[tuple[int, tuple]] = []
        previous = None
        for block in self._blocks:
            if self._own and not self._is_block(block):
                continue
            start = len(rows)
            self._rows(block, 0, where, rows)
            if self._own and block.path == previous:  # back in the module above: go on
                del rows[start]
            previous = block.path
        here = max((r for r in rows if where[:len(r[1])] == r[1]), key=lambda r: len(r[1]),
                   default=None)
        return [(indent, path[-1] if self._own else label_for(path, self._ops.get(path, "")),
                 row is here) for row in rows for indent, path in [row]]

    def _is_block(self, node: ScopeNode) -> bool:
        if self._own:
            return node.path[1:] in self._modules
        return bool(node.children)

    def _rows(self, node: ScopeNode, indent: int, where: tuple, rows: list) -> None:
        """Containers (encoder, decoder) always list their parts; a layer or a block of
        ops opens only when the cursor is inside it. A learner's model lists its modules
        only (its calls and ops are in the tree)."""
        path = node.path[1:]
        rows.append((indent, path))
        if not self._is_block(node):
            return
        inside = where[:len(path)] == path
        is_container = indent == 0 and any(self._is_block(c) for c in node.children)
        if is_container or inside:
            for child in node.children:
                if self._is_block(child) or (indent == 0 and not self._own):
                    self._rows(child, indent + 1, where, rows)

    # drawing --------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()
        self._base = None
        self._frames = Recent(12)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The map's lines, kept by what they show: a map drawn ahead (``prepare``) or
        shown before is handed over as drawn, not styled again line by line."""
        key = (tuple(self._drawn()), self.outer_size, self.app.theme, self.app.ansi_color)
        return kept_frame(self, self._frames, key, crop)

    def _shown_lines(self, height: int) -> list[int | None]:
        """The lines that fit in ``height`` rows, around the marker (None: ``⋮``)."""
        total = len(self._lines)
        if total <= height:
            return list(range(total))
        if height < 3:
            return list(range(height))
        room = height - 1  # under the header
        marked = self._marked
        start = min(max(1, self._start), total - room)  # it moves only to keep the marker
        first = start + (start > 1)  # the first and last lines not given to ⋮
        last = start + room - 1 - (start + room < total)
        if marked and not first <= marked <= last:
            start = min(max(1, marked - room // 2), total - room)
        self._start = start
        shown: list[int | None] = [0, *range(start, start + room)]
        if start > 1:
            shown[1] = None
        if start + room < total:
            shown[-1] = None
        return shown

    def _base_style(self) -> Style:
        """The map's own style (worked out from the DOM once per theme and style change,
        not once per line)."""
        key = self.app.theme
        if self._base is None or self._base[0] != key:
            self._base = (key, self.rich_style)
        return self._base[1]

    def render_line(self, y: int) -> Strip:
        width = self._inner_size()[0]
        base = self._base_style()
        drawn = self._drawn()
        if not 0 <= y < len(drawn) or width <= 0:
            return Strip.blank(max(width, 0), base)
        line = drawn[y]
        key = (line, width)
        strip = self._strips.get(key)
        if strip is None:
            segments = [Segment(text, base + self._style(style)) for text, style in line]
            strip = self._strips[key] = Strip(segments).adjust_cell_length(width, base)
        return strip

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = Style.parse(name) if name else Style()
        return style
