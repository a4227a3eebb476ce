"""Is a quiz's answer on screen? Read the way a learner reads the values of a step: the
panels' cells (under their common factor), the op card's worked and adds-up lines, the
numbers the lesson text fills in from the run, the quiz's own prompt; the shapes line and
panel layouts for a shape; the zero and sign patterns of the panels for positions.

"On screen" means printed as the tutor prints the answer: the same 4 significant digits
in text, the same cell text in a panel."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from engine.ops.base import fmt
from tutor.lessons.live import format_value
from tutor.lessons.templates import split_template
from tutor.ui.widgets.lesson_prose import LessonProse
from tutor.ui.widgets.op_card import OpCard
from tutor.ui.widgets.panel_grid import PanelGrid
from tutor.ui.widgets.tensor_panel import TensorPanel
from tutor.views.cells import cell_text

NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?(?![\w.])")
INDEX = re.compile(r"(?<=[\w)])\[[^\]]*\]")  # x[0, 3]: a position, not values
FACTOR = re.compile(r"values ×1e(-?\d+)")


def numbers(text: str) -> list[str]:
    text = INDEX.sub(" ", text.replace("−", "-"))
    return [m.group() for m in NUMBER.finditer(text)]


def visible_panels(lesson) -> list[TensorPanel]:
    return lesson.query_one(PanelGrid).shown


def card_numbers(lesson) -> str:
    """The card's numbers: the worked line's arithmetic and result, the adds-up lines
    (its target and symbols name positions and letters, not values)."""
    card = lesson.query_one(OpCard)
    parts = list(card.adds_up)
    if card.worked is not None:
        parts += [card.worked.numeric, card.worked.result]
    return "\n".join(parts)


def card_lines(lesson, starts) -> str:
    return "\n".join(line for line in lesson.query_one(OpCard).plain.splitlines()
                     if line.strip().startswith(starts))


def prose_numbers(lesson) -> list[str]:
    """The numbers the lesson text filled in from the run (its literal ones left out)."""
    shown = Counter(numbers(lesson.query_one(LessonProse).text))
    index = lesson.placements.section_of[lesson.session.timeline.position]
    if index is not None:
        source = lesson.placements.sections[index]
        literal = "".join(part for part in split_template(source.text) if isinstance(part, str))
        shown -= Counter(numbers(literal + " " + (source.title or "")))
    return list(shown.elements())


def reveals(session, lesson, quiz_screen=None) -> list[str]:
    """How the screen gives the quiz's answer away (empty: it does not)."""
    kind, expected = session.quiz.kind, session.expected
    found = []
    if kind == "number":
        printed = fmt(expected)
        texts = [("op card", card_numbers(lesson)), ("quiz prompt",
                 quiz_screen.session.prompt_text() if quiz_screen else "")]
        for where, text in texts:
            found += [f"{printed} in the {where}" for x in numbers(text) if fmt(float(x)) == printed]
        found += [f"{printed} in the lesson text" for x in prose_numbers(lesson)
                  if fmt(float(x)) == printed]
        for panel in visible_panels(lesson):
            factor = FACTOR.search(str(panel.border_subtitle))
            unit = 10.0 ** int(factor.group(1)) if factor else 1.0
            cell = cell_text(expected / unit)
            integer = np.asarray(panel.slot.value).dtype.kind in "iub"
            for _, text in panel.value_cells():
                if text == cell or (integer and text == printed):
                    found.append(f"{text} in panel {panel.slot.label}")
    elif kind == "shape":
        printed = format_value(expected)
        shapes = card_lines(lesson, ("shapes",)) + "\n" + "\n".join(
            str(p.border_subtitle) for p in visible_panels(lesson))
        if printed in shapes or printed in lesson.query_one(LessonProse).text:
            found.append(f"the text {printed}")
        for panel in visible_panels(lesson):
            if not panel.slot.concealed and panel.slot.value is not None and \
                    np.shape(panel.slot.value) == tuple(expected):
                found.append(f"the layout of panel {panel.slot.label}")
    elif kind == "elements" and expected:  # (no pattern gives away "none")
        for panel in visible_panels(lesson):
            if expected in patterns(panel):
                found.append(f"the pattern of panel {panel.slot.label}")
    return found


def patterns(panel: TensorPanel) -> list[frozenset]:
    """What a panel's grid shows at a glance: where it is 0, negative, positive."""
    if panel.slot.concealed or panel.slot.value is None:
        return []
    value = np.asarray(panel.slot.value, dtype=float)
    if value.ndim == 0:
        return []
    hidden = panel.slot.hidden if panel.slot.hidden is not None else np.zeros(value.shape, bool)
    return [frozenset(tuple(int(i) for i in p) for p in np.argwhere(mask & ~hidden))
            for mask in (value == 0, value < 0, value > 0)]


def hidden_anywhere(lesson) -> bool:
    """Does anything on the step still show as ? (hidden for a quiz)?"""
    return any(p.slot.concealed or (p.slot.hidden is not None and p.slot.hidden.any())
               for p in visible_panels(lesson)) or "= ?" in lesson.query_one(OpCard).plain
