"""Notes: one step's op card appended to a Markdown file (key ``m`` in the stepper).

The learner keeps a running notebook of what they looked at: which step, the
formula and local derivative, the shapes, the numbers worked through, the PyTorch
line, what the lesson says there (without its instructions about keys), and the quizzes
answered there — the question, the learner's answers, the right one and why — each
under a heading with the time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tutor.storage.paths import notes_path



class NotesError(Exception):
    """The notes file could not be written (one line: where and why)."""


@dataclass
class QuizNote:
    """A quiz answered at the step: the question, what the learner typed (in order), how
    it ended, the right answer and the lesson's explanation."""

    prompt: str
    answers: list[str]
    result: str
    right: str
    explanation: str


@dataclass
class NoteCard:
    """What a note holds; every field is display text (empty fields are left out)."""

    step: str
    phase: str
    formula: str = ""
    derivative: str = ""
    shapes: str = ""
    worked: str = ""
    torch: str = ""
    lesson: str = ""
    sentence: str = ""
    quizzes: list[QuizNote] = field(default_factory=list)
    timestamp: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))


def default_notes_path() -> Path:
    return notes_path()


def _code(text: str) -> str:
    """Inline code that survives backticks inside it."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _block(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text.rstrip()}\n{fence}"


# a sentence that tells the learner which key to press is about the tutor, not the subject
_INSTRUCTION = re.compile(r"\b((?i:press|presses|pressing|click)|Tab|Shift\+Tab|PgUp|PgDn|"
                          r"PageUp|PageDown|Enter|Esc)\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*`])")


def without_instructions(markdown: str) -> str:
    """Lesson text as a learner would keep it: sentences about keys dropped, code kept."""
    kept, in_code = [], False
    for block in re.split(r"\n\s*\n", markdown.strip()):
        if "```" in block or in_code:
            kept.append(block)
            in_code = (block.count("```") % 2 == 1) != in_code
            continue
        if re.match(r"\s*([-*#|>]|\d+\.)", block):  # a list, table, heading: line by line
            lines = [line for line in block.split("\n") if not _INSTRUCTION.search(line)]
            if lines:
                kept.append("\n".join(lines))
            continue
        sentences = [s for s in _SENTENCE_END.split(" ".join(block.split()))
                     if not _INSTRUCTION.search(s)]
        if sentences:
            kept.append(" ".join(sentences))
    return "\n\n".join(kept)


RESULT_WORDS = {"correct": "right", "correct_after_hints": "right, after a hint",
                "wrong": "not right", "skipped": "skipped"}


def _quiz_markdown(quiz: QuizNote) -> list[str]:
    lines = ["", f"**Quiz.** {' '.join(quiz.prompt.split())}", ""]
    if quiz.answers:
        lines.append(f"- My answers: {', '.join(_code(a) for a in quiz.answers)} "
                     f"({RESULT_WORDS.get(quiz.result, quiz.result)})")
    else:
        lines.append(f"- {RESULT_WORDS.get(quiz.result, quiz.result).capitalize()}")
    lines.append(f"- Answer: {_code(quiz.right)}")
    if quiz.explanation.strip():
        lines.append(f"- Why: {' '.join(quiz.explanation.split())}")
    return lines


def card_markdown(card: NoteCard) -> str:
    """The Markdown for one card (heading, fields, sentence as a quote)."""
    where = " · ".join(p for p in (card.lesson, card.phase, card.step) if p)
    lines = [f"## {where}", "", f"*{card.timestamp}*", ""]
    for label, value in (("Formula", card.formula), ("Local derivative", card.derivative),
                         ("Shapes", card.shapes), ("PyTorch", card.torch)):
        if value.strip():
            lines.append(f"- **{label}:** {_code(' '.join(value.split()))}")
    if card.worked.strip():
        lines += ["", "Worked numbers:", "", _block(card.worked)]
    if card.sentence.strip():
        lines += [""] + ["> " + line if line else ">" for line in card.sentence.strip().split("\n")]
    for quiz in card.quizzes:
        lines += _quiz_markdown(quiz)
    return "\n".join(lines) + "\n"


def append_note(path: Path | str | None, card: NoteCard) -> Path:
    """Append ``card`` to the notes file (created with its folders); returns the path.

    Raises ``NotesError`` with a one-line reason when it cannot be written.
    """
    path = Path(path).expanduser() if path is not None else default_notes_path()
    text = card_markdown(card)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise NotesError(f"cannot write notes to {path}: it is a folder; give a file path "
                             "like notes.md")
        needs_gap = path.exists() and path.stat().st_size > 0
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(("\n" if needs_gap else "") + text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise NotesError(f"cannot write notes to {path} ({error.strerror or error}); "
                         "choose another file with --notes PATH") from None
    return path
