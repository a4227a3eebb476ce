"""Toy sequence tasks the model learns: copy, reverse and sort a row of digits.

Token layout (vocabulary of 12, the default ``ModelConfig.vocab_size``)::

    0 … 9   the digits
    10      BOS  start of the decoder's input ("begin the answer")
    11      PAD  reserved; never produced, since every sequence has the same length

One example of ``reverse`` with length 6::

    src     = 3 1 4 1 5 9          what the encoder reads
    target  = 9 5 1 4 1 3          the answer
    tgt_in  = BOS 9 5 1 4 1        the decoder reads the answer shifted right by one
    tgt_out = 9 5 1 4 1 3          and predicts it (teacher forcing)

so at position t the decoder has seen BOS and target[:t] and must say target[t].

The held-out set is a fixed sample drawn with its own seed (``HELD_OUT_SEED``);
training batches never contain one of its source sequences (``make_batch``
redraws any that would), so held-out accuracy measures the rule learned, not
sequences remembered.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

DIGITS = 10
BOS = 10
PAD = 11
VOCAB_SIZE = 12
TASKS = ("copy", "reverse", "sort")
DEFAULT_LENGTH = 6
HELD_OUT_SEED = 1_000_003
HELD_OUT_SIZE = 500
MAX_LENGTH = 15


class Batch(NamedTuple):
    """Source ids, decoder input ([BOS] + target[:-1]) and decoder target, each (B, T)."""

    src: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return task


def check_length(length) -> int:
    """1 ≤ length ≤ MAX_LENGTH (a sequence's id, read as a base-10 number, fits in int64)."""
    if (isinstance(length, bool) or not isinstance(length, (int, np.integer))
            or not 1 <= length <= MAX_LENGTH):
        raise ValueError(f"sequence length must be a whole number in [1, {MAX_LENGTH}], "
                         f"got {length!r}")
    return int(length)


def target_for(task: str, src: np.ndarray) -> np.ndarray:
    """The answer to ``task`` for each row of ``src`` (B, T)."""
    check_task(task)
    src = np.asarray(src)
    if task == "copy":
        return src.copy()
    if task == "reverse":
        return src[:, ::-1].copy()
    return np.sort(src, axis=1)


def teacher_forcing(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tgt_in, tgt_out) = ([BOS] + target[:-1], target)."""
    bos = np.full((target.shape[0], 1), BOS, dtype=np.int64)
    return np.concatenate([bos, target[:, :-1]], axis=1), target.copy()


def sequence_codes(src: np.ndarray) -> np.ndarray:
    """Each row of digits read as one base-10 number: a sequence's unique id."""
    src = np.asarray(src, dtype=np.int64)
    return src @ (DIGITS ** np.arange(src.shape[1] - 1, -1, -1, dtype=np.int64))


def batch_from_sources(task: str, src: np.ndarray) -> Batch:
    src = np.asarray(src, dtype=np.int64)
    tgt_in, tgt_out = teacher_forcing(target_for(task, src))
    return Batch(src, tgt_in, tgt_out)


def make_batch(task: str, batch: int, length: int, rng: np.random.Generator) -> Batch:
    """``batch`` random training examples, none of them in the held-out set.

    Returns ``Batch(src, tgt_in, tgt_out)``; it also unpacks as a 3-tuple.
    """
    check_task(task)
    length = check_length(length)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch size must be a whole number ≥ 1, got {batch!r}")
    excluded = _held_out_codes(length)
    src = rng.integers(0, DIGITS, (batch, length), dtype=np.int64)
    clash = np.isin(sequence_codes(src), excluded)
    while clash.any():
        src[clash] = rng.integers(0, DIGITS, (int(clash.sum()), length), dtype=np.int64)
        clash = np.isin(sequence_codes(src), excluded)
    return batch_from_sources(task, src)


def held_out_size(length: int, size: int = HELD_OUT_SIZE) -> int:
    """At most a tenth of all 10^length sequences, so training keeps the rest."""
    return min(size, DIGITS ** length // 10)


@lru_cache(maxsize=16)
def _held_out_sources(length: int) -> np.ndarray:
    """A fixed sample of distinct sequences (the same for every task)."""
    n = held_out_size(length)
    rng = np.random.default_rng(HELD_OUT_SEED + length)
    codes = rng.choice(DIGITS ** length, size=n, replace=False)
    digits = ((codes[:, None] // DIGITS ** np.arange(length - 1, -1, -1)) % DIGITS).astype(np.int64)
    digits.setflags(write=False)
    return digits


@lru_cache(maxsize=16)
def _held_out_codes(length: int) -> np.ndarray:
    codes = np.sort(sequence_codes(_held_out_sources(length)))
    codes.setflags(write=False)
    return codes


def held_out(task: str, length: int = DEFAULT_LENGTH) -> Batch:
    """The fixed held-out examples for ``task`` at ``length`` (never seen in training)."""
    check_task(task)
    length = check_length(length)
    return batch_from_sources(task, _held_out_sources(length).copy())
