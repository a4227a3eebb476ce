"""What can go wrong while recording a PyTorch model, as the recorder reports it."""

from __future__ import annotations


class RecordError(ValueError):
    """The model, its inputs or its loss cannot be recorded; the message says why."""


class RecordTooLarge(RecordError):
    """The recording passed a stated limit; the message suggests ``--shapes-only``."""


class RecordFailure(RuntimeError):
    """The recorder itself failed at a step (not the model): ``where`` names the step,
    ``reason`` is one line."""

    def __init__(self, where: str, error: BaseException):
        self.where = where
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        self.reason = f"{type(error).__name__}: {first}" if first else type(error).__name__
        super().__init__(f"recording failed at {where}: {self.reason}")
