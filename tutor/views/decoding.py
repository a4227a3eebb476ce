"""The numbers of a decoding: each pass of a run recorded by ``Transformer.generate``
placed on the timeline, and the argmax pick beside a pick sampled at temperature T."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TOP_K = 5


@dataclass(frozen=True)
class TokenStep:
    """Pass k of a decoding: what the decoder read and what came out at its last position."""

    number: int  # k, from 1
    scope: str  # "token_k" (with any outer scope)
    prefix: np.ndarray  # (B, k): the tokens the decoder read
    logits: np.ndarray  # (B, vocab) at the last position: the generator's output
    probs: np.ndarray  # (B, vocab) at the last position, as recorded
    temperature: float | None  # the run's own temperature (None: greedy)
    chosen: np.ndarray | None  # (B,): the token the run appended (None: not recorded)
    first: int  # timeline positions: the pass's first step,
    probs_step: int  # its softmax step,
    last: int  # and its last step


@dataclass(frozen=True)
class DecodeRun:
    passes: list[TokenStep]
    vocab_size: int
    seed: int = 0

    def at(self, position: int) -> TokenStep | None:
        """The pass holding timeline ``position`` (None: before the first, in the encoder)."""
        for p in self.passes:
            if p.first <= position <= p.last:
                return p
        return None

    def generated(self, upto: int) -> list[int]:
        """Tokens appended by passes 1 … ``upto`` (row 0)."""
        return [int(p.chosen[0]) for p in self.passes[:upto] if p.chosen is not None]


def find_decoding(timeline, decoding, seed: int = 0) -> DecodeRun | None:
    """The passes of ``decoding`` (an ``engine.Decoding`` recorded on ``timeline``'s tape)
    placed on the timeline; None when there is no recorded decoding."""
    if decoding is None or decoding.tape is not timeline.tape or not decoding.steps:
        return None
    passes = []
    for step in decoding.steps:
        passes.append(TokenStep(
            number=step.position, scope=f"token_{step.position}", prefix=step.prefix,
            logits=step.logits, probs=step.probs, temperature=step.temperature,
            chosen=step.chosen, first=timeline.forward_index[step.nodes.start],
            probs_step=timeline.forward_index[step.probs_node],
            last=timeline.forward_index[step.nodes.stop - 1]))
    return DecodeRun(passes, passes[0].logits.shape[-1], seed)


# the numbers on the bars -------------------------------------------------------------
def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) = exp((zᵢ − max z)/T) / Σⱼ exp((zⱼ − max z)/T)"""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(probs: np.ndarray, k: int = TOP_K) -> list[tuple[int, float]]:
    """The k most likely tokens, most likely first (ties: the smaller id first)."""
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    return [(i, float(probs[i])) for i in order[:k]]


def sample(probs: np.ndarray, seed: int, number: int) -> int:
    """A token drawn from ``probs`` with a generator seeded by (seed, pass number), so
    the same pass at the same temperature always draws the same token."""
    rng = np.random.default_rng([seed, number])
    p = np.asarray(probs, dtype=np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


@dataclass(frozen=True)
class Comparison:
    """Row 0 of one pass: the argmax pick beside a pick sampled at temperature T."""

    greedy_probs: np.ndarray  # softmax(logits): what argmax reads
    greedy_pick: int
    temperature: float
    tempered_probs: np.ndarray  # softmax(logits / T)
    sampled_pick: int
    recorded: str  # "argmax" | "sample": which of the two the run itself appended


def compare(step: TokenStep, temperature: float, seed: int = 0) -> Comparison:
    """For a greedy run the left column is the recorded softmax and argmax; for a run
    sampled at T, the right column at that T is the recorded distribution and pick."""
    if step.temperature is None:
        greedy = step.probs[0]
        greedy_pick = int(step.chosen[0]) if step.chosen is not None else int(np.argmax(greedy))
    else:
        greedy = softmax(step.logits[0])
        greedy_pick = int(np.argmax(greedy))
    if step.temperature is not None and math.isclose(temperature, step.temperature) \
            and step.chosen is not None:
        return Comparison(greedy, greedy_pick, temperature, step.probs[0], int(step.chosen[0]),
                          "sample")
    tempered = softmax(step.logits[0], temperature)
    return Comparison(greedy, greedy_pick, temperature, tempered,
                      sample(tempered, seed, step.number),
                      "argmax" if step.temperature is None else "sample")


def token_name(token: int, vocab_size: int) -> str:
    """Digits as themselves; the task vocabulary's BOS (10) and PAD (11) by name."""
    from engine.tasks import BOS, PAD, VOCAB_SIZE

    if vocab_size == VOCAB_SIZE and token in (BOS, PAD):
        return "BOS" if token == BOS else "PAD"
    return str(token)
