"""The run a stepper session walks: the default tiny model, or one from options."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from engine import Decoding, ModelConfig, Run, Transformer
from engine.config import check_size
from engine.optim import sgd_updates
from engine.timeline import Timeline

DEFAULT_SRC = (3, 1, 4, 1, 5, 9, 2, 6)
START_TOKEN = 10


class SessionError(ValueError):
    """A bad option; the message names it and says what to do."""


@dataclass
class Session:
    """A timeline to step through, and what it came from."""

    timeline: Timeline
    title: str
    model: Transformer | None = None
    run: Run | None = None
    lr: float = 0.1
    decoding: Decoding | None = None  # a recorded generation (tutor decode, lesson 13)
    seed: int = 0  # a decoding's sampling seed
    temperature: float | None = None  # a decoding's sampling temperature (None: argmax)
    notes: list[str] | None = None  # what a PyTorch recording could not do, said once


def parse_ids(text: str, option: str) -> list[int]:
    try:
        ids = [int(part) for part in text.replace(" ", ",").split(",") if part]
    except ValueError:
        raise SessionError(f"{option} must be token ids separated by commas, e.g. 3,1,4 "
                           f"(got {text!r})") from None
    if not ids:
        raise SessionError(f"{option} is empty; give token ids such as 3,1,4")
    return ids


def parse_config(text: str | None) -> ModelConfig:
    if not text:
        return ModelConfig()
    names = {f.name for f in fields(ModelConfig)}
    values = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise SessionError(f"--config: {part.strip()!r} is not NAME=NUMBER with NAME one of "
                               f"{', '.join(sorted(names))}")
        try:
            values[key] = int(raw)
        except ValueError:
            raise SessionError(f"--config: {key} must be a whole number, got {raw!r}") from None
    try:
        return check_size(ModelConfig(**values))
    except ValueError as error:
        raise SessionError(f"--config: {error}") from None


def load_model(args) -> Transformer:
    weights: Path | None = getattr(args, "weights", None)
    if weights is not None:
        from engine.weights import load_weights

        try:
            return load_weights(weights)
        except (OSError, ValueError) as error:
            raise SessionError(f"--weights {weights}: {error}") from None
    return Transformer(parse_config(getattr(args, "config", None)), seed=getattr(args, "seed", 0))


def explore_session(args) -> Session:
    """The default run: source ``3 1 4 1 5 9 2 6``, target the same reversed."""
    model = load_model(args)
    config = model.config
    src = parse_ids(args.src, "--src") if getattr(args, "src", None) else list(DEFAULT_SRC)
    src = [i % config.vocab_size for i in src] if not getattr(args, "src", None) else src
    tgt = parse_ids(args.tgt, "--tgt") if getattr(args, "tgt", None) else src[::-1]
    start = START_TOKEN if START_TOKEN < config.vocab_size else 0
    tgt_in = [start] + tgt[:-1]
    lr = getattr(args, "lr", 0.1)
    try:
        run = model.run(np.array([src]), np.array([tgt_in]), np.array([tgt]))
        updates = sgd_updates(model.params, run.grads, lr)
    except ValueError as error:
        raise SessionError(str(error)) from None
    c = config
    title = (f"explore · d_model {c.d_model} · {c.n_heads} heads · "
             f"{c.n_encoder_layers}+{c.n_decoder_layers} layers · src {' '.join(map(str, src))}")
    return Session(Timeline(run.tape, updates), title, model, run, lr)
