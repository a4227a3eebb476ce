"""A cursor over a recorded run: forward ops → loss → backward steps → updates.

The state at the cursor is derived from the record, never mutated as the cursor
moves: a value exists once the step that computes it has run; a gradient is the
latest running total of the contributions made up to the cursor, or ``None``
("not yet") before the first one. So stepping back is exact and cheap.

Moving works like a debugger's. The cursor sits at a *unit*: with grouping depth
``d`` a unit is a run of steps sharing the first ``d + 1`` parts of their path
(phase, then scopes), and the cursor stands on its last step — the unit has run.
``next``/``previous`` move one unit at that depth, ``step_into`` opens the unit
(depth + 1), ``step_out`` finishes the enclosing one (depth − 1). At ``OP_LEVEL``
every step is its own unit.

A step may have parts: a step whose path is a prefix of other steps' paths (a recorded
``F.linear`` whose aten ops ``t`` and ``addmm`` ran under ``fc1.linear``) comes after its
parts, and at ``OP_LEVEL`` it and its parts are one unit — the cursor stands on the call.
``step_into`` opens it (``OP_LEVEL + 1``: each part its own unit, nested calls open at
``OP_LEVEL + 2`` …); moving past its end, or ``step_out``, returns to the level of the
step the cursor lands on, as a debugger returns from a function. Tapes without such
steps (the engine's own) behave as before.
"""

from __future__ import annotations

import bisect
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, NamedTuple

import numpy as np

from engine.optim import UpdateStep
from engine.tape import BackwardStep, Node, Tape, Tensor

OP_LEVEL = 99
PHASES = ("forward", "backward", "update")


class Step:
    """One position on the timeline: ``path`` is the phase, then scopes, then the op."""

    __slots__ = ("index", "phase", "path", "node", "backward", "update")

    def __init__(self, index: int, phase: str, path: tuple[str, ...], node: Node | None = None,
                 backward: BackwardStep | None = None, update: UpdateStep | None = None):
        self.index = index
        self.phase = phase
        self.path = path
        self.node = node
        self.backward = backward
        self.update = update

    def __repr__(self) -> str:
        return f"Step({self.index}, {self.phase}:{self.name})"

    @property
    def name(self) -> str:
        """The hierarchical name without the phase: ``decoder.layers.0.ff.relu``."""
        return ".".join(self.path[1:])

    @property
    def op_name(self) -> str:
        if self.node is not None:
            return self.node.op.name
        return self.update.optimizer if self.update is not None else ""


@dataclass
class ScopeNode:
    """A scope (or an op) in the tree of the run, with the steps it spans."""

    label: str
    path: tuple[str, ...]
    first: int
    last: int
    children: list["ScopeNode"] = field(default_factory=list)

    @property
    def is_step(self) -> bool:
        return not self.children and self.first == self.last


class Cursor(NamedTuple):
    position: int
    depth: int


def _update_path(name: str) -> tuple[str, ...]:
    """``encoder.layers.0.norm1.weight`` → (encoder, layers.0, norm1, weight)."""
    parts = name.split(".")
    out: list[str] = []
    i = 0
    while i < len(parts):
        if parts[i] == "layers" and i + 1 < len(parts) and parts[i + 1].isdigit():
            out.append(f"layers.{parts[i + 1]}")
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return tuple(out)


class Timeline:
    """``Timeline(tape, updates)``: the steps of a recorded run and a cursor over them."""

    def __init__(self, tape: Tape, updates: list[UpdateStep] | None = None):
        self.tape = tape
        steps: list[Step] = []
        self.forward_index: dict[int, int] = {}  # node index → step
        self.backward_index: dict[int, int] = {}
        for node in tape.nodes:
            self.forward_index[node.index] = len(steps)
            steps.append(Step(len(steps), "forward", ("forward",) + node.path, node=node))
        self.backward_start = len(steps)
        for b in tape.steps:
            self.backward_index[b.node.index] = len(steps)
            steps.append(Step(len(steps), "backward", ("backward",) + b.node.path, node=b.node,
                              backward=b))
        self.update_start = len(steps)
        for u in updates or []:
            steps.append(Step(len(steps), "update", ("update",) + _update_path(u.name), update=u))
        if not steps:
            raise ValueError("the tape recorded no ops: nothing to step through")
        self.steps = steps
        self._grad_positions, self._grad_totals = self._index_gradients()
        self._update_at = {s.update.name: s.index for s in steps if s.update is not None}
        self._callers = self._index_callers()
        self.bookmarks: set[int] = set()
        self.cursor = Cursor(self.unit(0, OP_LEVEL)[1], OP_LEVEL)
        self._history: list[Cursor] = []
        self._scope_tree: ScopeNode | None = None

    def _index_gradients(self):
        positions: dict[int, list[int]] = {}
        totals: dict[int, list[np.ndarray]] = {}
        for s in self.steps[self.backward_start:self.update_start]:
            for c in s.backward.contributions:
                positions.setdefault(c.tensor.id, []).append(s.index)
                totals.setdefault(c.tensor.id, []).append(c.after)
        return positions, totals

    def _index_callers(self) -> dict[int, tuple[int, ...]]:
        """Step → the path lengths of the steps it is a part of, outermost first."""
        paths = {s.path for s in self.steps}
        callers = {}
        for s in self.steps:
            lengths = tuple(n for n in range(2, len(s.path)) if s.path[:n] in paths)
            if lengths:
                callers[s.index] = lengths
        return callers

    # where the cursor is ---------------------------------------------------
    def __len__(self) -> int:
        return len(self.steps)

    @property
    def position(self) -> int:
        return self.cursor.position

    @property
    def depth(self) -> int:
        return self.cursor.depth

    @property
    def step(self) -> Step:
        return self.steps[self.cursor.position]

    @property
    def phase(self) -> str:
        return self.step.phase

    def has_phase(self, phase: str) -> bool:
        return any(s.phase == phase for s in self.steps)

    # the state at the cursor, derived from the record ---------------------
    def value_ready(self, tensor: Tensor) -> bool:
        """Has the step that computes ``tensor`` run yet?"""
        if tensor.node is None:
            return True
        return self.forward_index[tensor.node.index] <= self.cursor.position

    def value(self, tensor: Tensor) -> np.ndarray | None:
        """The tensor's value at the cursor (None before it is computed). Parameters
        show their updated value once their update step has run."""
        if not self.value_ready(tensor):
            return None
        if tensor.kind == "param" and tensor.name in self._update_at:
            if self._update_at[tensor.name] <= self.cursor.position:
                return self.steps[self._update_at[tensor.name]].update.after
        return tensor.value

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        """∂L/∂tensor summed over the contributions made so far; None = not yet."""
        positions = self._grad_positions.get(tensor.id)
        if not positions:
            return None
        k = bisect.bisect_right(positions, self.cursor.position)
        return self._grad_totals[tensor.id][k - 1] if k else None

    def grad_complete(self, tensor: Tensor) -> bool:
        """Have all of this tensor's consumers sent their contribution?"""
        positions = self._grad_positions.get(tensor.id)
        return bool(positions) and positions[-1] <= self.cursor.position

    def state(self) -> dict:
        """Everything derived at the cursor, for comparing two cursors exactly."""
        return {
            "position": self.cursor.position,
            "depth": self.cursor.depth,
            "phase": self.phase,
            "ready": tuple(t.id for t in self.tape.tensors if self.value_ready(t)),
            "grads": {t.id: self.grad(t) for t in self.tape.tensors if t.id in self._grad_positions},
        }

    # units ------------------------------------------------------------------
    def _key(self, position: int, depth: int) -> tuple[str, ...]:
        path = self.steps[position].path
        if depth >= OP_LEVEL:  # a part is one unit with the step it is part of
            callers = self._callers.get(position, ())
            level = depth - OP_LEVEL
            return path[:callers[level]] if level < len(callers) else path
        return path if depth + 1 >= len(path) else path[:depth + 1]

    def unit(self, position: int | None = None, depth: int | None = None) -> tuple[int, int]:
        """(first, last) step of the unit holding ``position`` at ``depth``."""
        position = self.cursor.position if position is None else position
        depth = self.cursor.depth if depth is None else depth
        key = self._key(position, depth)
        first = position
        while first > 0 and self._key(first - 1, depth) == key:
            first -= 1
        last = position
        while last + 1 < len(self.steps) and self._key(last + 1, depth) == key:
            last += 1
        return first, last

    def unit_path(self) -> tuple[str, ...]:
        return self._key(self.cursor.position, self.cursor.depth)

    def _effective_depth(self) -> int:
        return min(self.cursor.depth, len(self.step.path) - 1)

    def peek(self, move: Callable[[], bool]) -> Cursor | None:
        """Where ``move`` (``next`` or ``previous``, say) would take the cursor; None if
        nowhere. The cursor and the moves it remembers are left as they were."""
        cursor, history = self.cursor, list(self._history)
        try:
            return self.cursor if move() else None
        finally:
            self.cursor = cursor
            self._history[:] = history

    @contextmanager
    def standing_at(self, cursor: Cursor) -> Iterator["Timeline"]:
        """The timeline as if its cursor were at ``cursor`` until the block ends: what a
        step will show can be worked out before the learner moves there."""
        saved = self.cursor
        self.cursor = cursor
        try:
            yield self
        finally:
            self.cursor = saved

    # moves (each returns True if the cursor moved) -------------------------
    def _go(self, position: int, depth: int, remember: bool = True) -> bool:
        if depth > OP_LEVEL:  # never deeper than the parts the step sits in
            depth = OP_LEVEL + min(depth - OP_LEVEL, len(self._callers.get(position, ())))
        new = Cursor(position, depth)
        if new == self.cursor:
            return False
        if remember:
            self._history.append(self.cursor)
        self.cursor = new
        return True

    def next(self) -> bool:
        """Step over: to the next unit at this depth (the next op at op level)."""
        _, last = self.unit()
        if last + 1 >= len(self.steps):
            return False
        return self._go(self.unit(last + 1)[1], self.cursor.depth)

    def previous(self) -> bool:
        """Reverse step: back to the previous unit at this depth."""
        first, _ = self.unit()
        if first == 0:
            return False
        return self._go(first - 1, self.cursor.depth)

    def step_into(self) -> bool:
        """Open the current unit: stand on its first part, one level deeper."""
        first, last = self.unit()
        if first == last and self._key(first, self.cursor.depth) == self.steps[first].path:
            return False
        if self.cursor.depth >= OP_LEVEL:  # into a step's parts
            depth = self.cursor.depth + 1
            return self._go(self.unit(first, depth)[1], depth)
        depth = self._effective_depth() + 1
        return self._go(self.unit(first, depth)[1], depth)

    def step_out(self) -> bool:
        """Finish the enclosing scope: stand on its last step, one level up."""
        if self.cursor.depth > OP_LEVEL:  # out of a step's parts: onto the step
            depth = self.cursor.depth - 1
            return self._go(self.unit(self.cursor.position, depth)[1], depth)
        depth = self._effective_depth() - 1
        if depth < 0:
            return False
        return self._go(self.unit(self.cursor.position, depth)[1], depth)

    def jump(self, position: int) -> bool:
        """To any step, at op level (a part of a step: at its parts' level)."""
        if not 0 <= position < len(self.steps):
            raise IndexError(f"step {position} is outside 0..{len(self.steps) - 1}")
        return self._go(position, OP_LEVEL + len(self._callers.get(position, ())))

    def jump_to_name(self, name: str, phase: str | None = None) -> bool:
        """To the step named ``name`` (``encoder.layers.0.self_attn.softmax``)."""
        for s in self.steps:
            if s.name == name and (phase is None or s.phase == phase):
                return self.jump(s.index)
        raise KeyError(f"no step named {name!r}")

    def twin(self, position: int | None = None) -> int | None:
        """The other half of an op: its backward step from the forward one, and back."""
        s = self.steps[self.cursor.position if position is None else position]
        if s.node is None:
            return None
        table = self.backward_index if s.phase == "forward" else self.forward_index
        return table.get(s.node.index)

    def jump_to_twin(self) -> bool:
        target = self.twin()
        return False if target is None else self.jump(target)

    def jump_to_backward_start(self) -> bool:
        if self.backward_start >= self.update_start:
            return False
        return self.jump(self.backward_start)

    def run_to_bookmark(self) -> bool:
        """Run forward to the next bookmarked step (a quiz, say)."""
        later = [b for b in self.bookmarks if b > self.cursor.position]
        return self.jump(min(later)) if later else False

    def to_start(self) -> bool:
        return self._go(self.unit(0, OP_LEVEL)[1], OP_LEVEL)

    def to_end(self) -> bool:
        return self._go(len(self.steps) - 1, OP_LEVEL)

    def back(self) -> bool:
        """Undo the last move, whatever it was."""
        if not self._history:
            return False
        self.cursor = self._history.pop()
        return True

    # the shape of the run -----------------------------------------------------
    def scope_tree(self) -> ScopeNode:
        """Phases → scopes → steps, each with the range of steps it spans. Built once (the
        tree and the map both draw from it, 1 ms each time): read it, do not change it."""
        if self._scope_tree is None:
            self._scope_tree = self._build_scope_tree()
        return self._scope_tree

    def _build_scope_tree(self) -> ScopeNode:
        root = ScopeNode("run", (), 0, len(self.steps) - 1)
        for s in self.steps:
            parent = root
            for depth in range(1, len(s.path) + 1):
                prefix = s.path[:depth]
                child = parent.children[-1] if parent.children else None
                if child is None or child.path != prefix:
                    child = ScopeNode(prefix[-1], prefix, s.index, s.index)
                    parent.children.append(child)
                child.last = s.index
                parent = child
        return root
