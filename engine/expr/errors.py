"""The language's one error, and the "did you mean" every message about a name uses."""

from __future__ import annotations

import difflib


class ExpressionError(ValueError):
    """Text that cannot be read, built or evaluated.

    ``message`` is plain; ``position`` is the 0-based character where the trouble is
    (None when it is not about one place); ``line`` is set for a line of a program,
    and then ``str(error)`` says ``line L, col C: message``.
    """

    def __init__(self, message: str, position: int | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position
        self.line = line

    @property
    def column(self) -> int | None:
        """1-based, as editors count."""
        return None if self.position is None else self.position + 1

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}, col {self.column or 1}: {self.message}"

    def pointer(self, text: str) -> str:
        """The text with a caret under the bad character (for a learner's input)."""
        if self.position is None:
            return text
        return f"{text}\n{' ' * min(self.position, len(text))}^"


def did_you_mean(name, choices, cutoff: float = 0.6, most: int = 1, prefix: str = "") -> str:
    """`` (did you mean 'grad'?)`` for a near miss (up to ``most`` of them, joined with
    "or", each shown after ``prefix``), else nothing."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=most,
                                      cutoff=cutoff)
    shown = " or ".join(repr(prefix + c) for c in close)
    return f" (did you mean {shown}?)" if close else ""
