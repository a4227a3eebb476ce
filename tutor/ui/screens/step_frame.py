"""What a step shows, worked out from the timeline's cursor: the view, the panel the card
works through, and how the grid is laid out. The stepper draws it; it also works it out
for the steps the next keys go to, before they are pressed (``StepperScreen._prepare``)."""

from __future__ import annotations

from typing import NamedTuple

from engine.timeline import Timeline
from tutor.ui.widgets.parts import Parts
from tutor.views.secret import Concealment
from tutor.views.recent import Recent
from tutor.views.step import PanelKey, Role, StepView, TensorSlot, build_view, worked_element

MAX_PANELS = 6
DEFAULT_SLOTS = (Role.DOWNSTREAM, Role.OUTPUT, Role.AFTER)


class StepFrame(NamedTuple):
    view: StepView
    key: PanelKey | None  # the panel the card works through
    index: tuple  # and its element
    slots: list[TensorSlot]  # the panels shown (at most MAX_PANELS)
    columns: int
    small_rows: list[bool]


class StepMemo:
    """A run's step views and worked elements, each worked out once: a recorded run never
    changes, so the step drawn ahead of its key (or come back to) is a lookup."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._views = Recent(16)
        self._worked = Recent(64)

    def view(self) -> StepView:
        """``build_view`` at the timeline's cursor."""
        cursor = self.timeline.cursor
        view = self._views.get(cursor)
        if view is None:
            view = build_view(self.timeline)
            self._views.put(cursor, view)
        return view

    def worked(self, key: PanelKey | None, index: tuple):
        """``worked_element`` at the cursor, for the element ``index`` of panel ``key``."""
        position = self.timeline.position
        found = self._worked.get((position, key, index))
        if found is None:
            found = (worked_element(self.timeline, position, key, index),)
            self._worked.put((position, key, index), found)
        return found[0]


def step_frame(view: StepView, conceal: Concealment, selected: tuple, compact: bool
               ) -> StepFrame:
    """The frame of the step ``view`` shows. ``selected`` (key, index) stays selected
    where the step has that panel; else the gradient sent down, or the output, is."""
    view = conceal.view(view)
    key, index = selected
    if view.slot(key) is None:
        key = default_key(view)
    count = min(len(view.slots), MAX_PANELS)
    columns = 1 if count <= 2 and not compact else 2
    slots = view.slots[:count]
    return StepFrame(view, key, index, slots, columns, small_rows(slots, columns))


def default_key(view: StepView) -> PanelKey | None:
    for role in DEFAULT_SLOTS:
        for slot in view.slots:
            if slot.role is role:
                return slot.key
    return view.slots[0].key if view.slots else None


def small_rows(slots: list[TensorSlot], columns: int) -> list[bool]:
    """Rows of vectors and numbers need 3–4 lines; rows holding a matrix share the rest."""
    return [all(s.value is not None and s.value.ndim <= 1 for s in slots[start:start + columns])
            for start in range(0, len(slots), columns)] or [False]


def torch_text(view: StepView) -> Parts:
    """The step as one line of PyTorch."""
    return Parts().add("torch  ", "dim").add(view.torch_line)
