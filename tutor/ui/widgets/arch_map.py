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
        # a learner's own model (tutor torch): its modules, by its own names (its calls
        # and their aten ops are in the tree), and the loss
        self._own = timeline.tape.origin == "pytorch"
        self._modules = set(getattr(timeline.tape, "modules", ())) | {("loss",)}

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
        rows = self.rows(where)
        for i, (indent, label, marked) in enumerate(rows):
            text.add(("▶ " if marked else "  ") + "  " * indent, "yellow")
            style = "bold black on yellow" if marked else ("bold" if indent == 0 else "")
            text.add(label, style)
            if indent == 0 and i + 1 < len(rows) and rows[i + 1][0] == 0:
                text.add(f"\n  {arrow}", "dim")
            text.add("\n")
        if text.plain != getattr(self, "plain", None):
            self.plain = text.plain
            update_static(self, text.content())

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
