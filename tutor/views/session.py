"""The run a stepper session walks: the default tiny model, or one from options."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine import Decoding, ModelConfig, Run, Transformer
from engine.config import TokenError, check_size, check_tokens
from engine.optim import sgd_updates
from engine.timeline import Timeline

DEFAULT_SRC = (3, 1, 4, 1, 5, 9, 2, 6)
START_TOKEN = 10


class SessionError(ValueError):
    """A bad option; the message names it and says what to do."""


class Session(NamedTuple):
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


MAX_ID = 10**9  # far above any vocabulary, far below what would overflow an array


def parse_ids(text: str, option: str) -> list[int]:
    """``3,1,4`` (or ``3 1 4``) → [3, 1, 4]; anything else is a ``SessionError`` naming
    ``option``."""
    parts = text.replace(",", " ").split()
    if not parts:
        raise SessionError(f"{option} is empty; give token ids such as 3,1,4")
    if "," in text and any(not p.strip() for p in text.split(",")):
        raise SessionError(f"{option} has an empty place between commas: {text!r}")
    try:
        ids = [int(part) for part in parts]
    except ValueError:
        raise SessionError(f"{option} must be token ids separated by commas, e.g. 3,1,4 "
                           f"(got {text!r})") from None
    bad = next((i for i in ids if not 0 <= i <= MAX_ID), None)
    if bad is not None:
        raise SessionError(f"{option}: token {bad} is not a token id (ids are whole numbers "
                           "from 0 up to the vocabulary size)")
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


def _tokens(ids: list[int], option: str, config: ModelConfig) -> np.ndarray:
    try:
        return check_tokens(option, [ids], config)
    except TokenError as error:
        raise SessionError(str(error)) from None


def explore_session(args) -> Session:
    """The default run: source ``3 1 4 1 5 9 2 6``, target the same reversed."""
    model = load_model(args)
    config = model.config
    src_text, tgt_text = getattr(args, "src", None), getattr(args, "tgt", None)
    if src_text is None:
        src = [i % config.vocab_size for i in DEFAULT_SRC][:config.max_len]
    else:
        src = parse_ids(src_text, "--src")
    tgt = src[::-1] if tgt_text is None else parse_ids(tgt_text, "--tgt")
    src_array = _tokens(src, "--src", config)
    tgt_array = _tokens(tgt, "--tgt", config)
    start = START_TOKEN if START_TOKEN < config.vocab_size else 0
    tgt_in = np.concatenate([[[start]], tgt_array[:, :-1]], axis=1)
    lr = getattr(args, "lr", 0.1)
    try:
        run = model.run(src_array, tgt_in, tgt_array)
        updates = sgd_updates(model.params, run.grads, lr)
    except ValueError as error:
        raise SessionError(str(error)) from None
    c = config
    title = (f"explore · d_model {c.d_model} · {c.n_heads} heads · "
             f"{c.n_encoder_layers}+{c.n_decoder_layers} layers · src {' '.join(map(str, src))}")
    return Session(Timeline(run.tape, updates), title, model, run, lr)
