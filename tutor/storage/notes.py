"""Notes: one step's op card appended to a Markdown file (key ``m`` in the stepper).

The learner keeps a running notebook of what they looked at: which step, the
formula and local derivative, the shapes, the numbers worked through, the PyTorch
line and the lesson's sentence, each under a heading with the time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tutor.storage.paths import notes_path



class NotesError(Exception):
    """The notes file could not be written (one line: where and why)."""


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
