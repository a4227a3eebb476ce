"""Drawing ahead: while the learner reads a step, the steps ``n`` and ``p`` go to are drawn
off screen (panel grid, op card, status and torch lines), so a key only swaps in finished
lines. The work is done a piece at a time, one piece per idle moment (a panel, say), so a
key pressed meanwhile waits for one piece at most; it is dropped when the step changes.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from engine.timeline import Cursor, Timeline

MOVES = ("next", "previous")  # the timeline's moves whose steps are drawn ahead


class Stepper(Protocol):
    """What drawing ahead needs of the screen (a ``StepperScreen``)."""

    is_current: bool

    def call_after_refresh(self, callback, *args) -> bool: ...

    def draw_step(self, cursor: Cursor) -> Iterator[bool]: ...

    @property
    def timeline(self) -> Timeline: ...


class DrawAhead:
    """``start()`` after each step is shown (and when the screen is back on top)."""

    def __init__(self, screen: Stepper) -> None:
        self.screen = screen
        self.generation = 0  # of the step shown: pieces for another are dropped
        self.done = False  # is everything for the step shown drawn?

    def start(self) -> None:
        self.generation += 1
        self.done = False
        self.screen.call_after_refresh(self._move, self.generation, MOVES)

    def _current(self, generation: int) -> bool:
        return generation == self.generation and self.screen.is_current

    def _move(self, generation: int, moves: tuple[str, ...]) -> None:
        """Draw the step ``moves[0]`` goes to, then the others'."""
        if not self._current(generation):
            return
        if not moves:
            self.done = True
            return
        timeline = self.screen.timeline
        cursor = timeline.peek(getattr(timeline, moves[0]))
        pieces = self.screen.draw_step(cursor) if cursor is not None else iter(())
        self._piece(generation, pieces, moves[1:])

    def _piece(self, generation: int, pieces: Iterator[bool], moves: tuple[str, ...]) -> None:
        if not self._current(generation):
            return
        if next(pieces, False):
            self.screen.call_after_refresh(self._piece, generation, pieces, moves)
        else:
            self.screen.call_after_refresh(self._move, generation, moves)
