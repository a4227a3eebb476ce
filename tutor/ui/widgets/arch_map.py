"""The architecture map: the blocks of the run, where the cursor is, which way data flows."""

from __future__ import annotations

from textual.widgets import Static

from engine.timeline import ScopeNode, Timeline

from tutor.ui.widgets.parts import Parts, update_static

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


class ArchMap(Static):
    """Blocks of the forward pass, top to bottom; the cursor's block marked ▶."""

    def build(self, timeline: Timeline) -> None:
        tree = timeline.scope_tree()
        forward = next((c for c in tree.children if c.label == "forward"), None)
        self._blocks = forward.children if forward is not None else []
        self._ops = {s.path[1:]: s.op_name for s in timeline.steps if s.phase == "forward"}

    def show(self, timeline: Timeline) -> None:
        step = timeline.step
        where = tuple(UPDATE_ALIASES.get(p, p) for p in step.path[1:])
        phase = step.phase
        text = Parts()
        if phase == "forward":
            text.add("data flows ↓ (forward)\n", "cyan")
        elif phase == "backward":
            text.add("gradients flow ↑ (backward)\n", "magenta")
        else:
            text.add("weights step against ∂L/∂w\n", "green")
        arrow = "↓" if phase == "forward" else "↑"
        rows: list[tuple[int, tuple]] = []
        for block in self._blocks:
            self._rows(block, 0, where, rows)
        here = max((r for r in rows if where[:len(r[1])] == r[1]), key=lambda r: len(r[1]),
                   default=None)
        for i, row in enumerate(rows):
            indent, path = row
            marked = row is here
            text.add(("▶ " if marked else "  ") + "  " * indent, "yellow")
            style = "bold black on yellow" if marked else ("bold" if indent == 0 else "")
            text.add(label_for(path, self._ops.get(path, "")), style)
            if indent == 0 and i + 1 < len(rows) and rows[i + 1][0] == 0:
                text.add(f"\n  {arrow}", "dim")
            text.add("\n")
        if text.plain != getattr(self, "plain", None):
            self.plain = text.plain
            update_static(self, text.content())

    def _rows(self, node: ScopeNode, indent: int, where: tuple, rows: list) -> None:
        """Containers (encoder, decoder) always list their parts; a layer or a block of
        ops opens only when the cursor is inside it."""
        path = node.path[1:]
        rows.append((indent, path))
        if not node.children:
            return
        inside = where[:len(path)] == path
        is_container = indent == 0 and any(c.children for c in node.children)
        if is_container or inside:
            for child in node.children:
                if child.children or indent == 0:
                    self._rows(child, indent + 1, where, rows)
