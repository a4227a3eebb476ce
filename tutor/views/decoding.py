"""The numbers of a decoding: each ``token_k`` pass of a run recorded by
``Transformer.generate``, read off the tape, and the argmax pick beside a pick sampled
at temperature T. Imported only when a run holds such passes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

TOP_K = 5
_PROBS = re.compile(r"^(?:(?P<outer>.*)\.)?token_(?P<k>\d+)\.probs$")


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


def find_decoding(timeline, decoding=None, seed: int = 0) -> DecodeRun | None:
    """The decoding recorded on ``timeline``'s tape, or None if it holds no ``token_k``
    passes. ``decoding`` (an ``engine.Decoding``) supplies the last pick of a sampled run,
    which no later pass records."""
    tape = timeline.tape
    by_name = {n.name: n for n in tape.nodes}
    inputs = {t.name: t for t in tape.tensors if t.kind == "input"}
    found = []
    for node in tape.nodes:
        match = _PROBS.match(node.name)
        if match:
            found.append((int(match["k"]), node))
    if not found:
        return None
    passes = []
    found.sort(key=lambda item: item[0])
    for k, probs_node in found:
        scope = probs_node.name[: -len(".probs")]
        generator = by_name.get(f"{scope}.generator")
        prefix = inputs.get(f"prefix_{k}")
        if generator is None or prefix is None:
            return None
        scaled = by_name.get(f"{scope}.temperature")
        temperature = 1.0 / scaled.attrs["c"] if scaled is not None else None
        argmax = by_name.get(f"{scope}.argmax")
        nodes = [n.index for n in tape.nodes if n.name.startswith(scope + ".")]
        passes.append(dict(number=k, scope=scope, prefix=prefix.value,
                           logits=generator.output.value[:, -1],
                           probs=probs_node.output.value[:, -1], temperature=temperature,
                           chosen=argmax.output.value[:, -1] if argmax is not None else None,
                           first=timeline.forward_index[min(nodes)],
                           probs_step=timeline.forward_index[probs_node.index],
                           last=timeline.forward_index[max(nodes)]))
    for this, following in zip(passes, passes[1:]):
        this["chosen"] = following["prefix"][:, -1]
    if passes[-1]["chosen"] is None and decoding is not None:
        passes[-1]["chosen"] = np.asarray(decoding.tokens)[:, -1]
    vocab = passes[0]["logits"].shape[-1]
    return DecodeRun([TokenStep(**p) for p in passes], vocab, seed)


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
