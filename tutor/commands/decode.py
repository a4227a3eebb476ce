"""``tutor decode [--task T] [--weights NPZ] [--src IDS] [--temperature X] [--seed S]``:
the trained model writes its answer token by token, and the stepper walks it.

The weights are those ``tutor train --task T`` saved (``engine.weights.weights_path``
under the data directory), or ``--weights``. Without either the learner is told
exactly how to get them, and the exit status is 2. The source defaults to the first
held-out sequence of the task — one the model never saw in training.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from tutor.views.session import Session, SessionError, parse_ids

EXIT_BAD_ARGUMENTS = 2


def load_decoder(args):
    """(model, where the weights came from), or SessionError saying how to get weights."""
    from engine.weights import load_weights

    from tutor.storage.paths import trained_weights

    weights: Path | None = getattr(args, "weights", None)
    if weights is None:
        path = trained_weights(args.task)
        if not path.is_file():
            raise SessionError(
                f"no trained weights for the {args.task} task yet (looked in {path}).\n"
                f"Train them first (about a minute):  tutor train --task {args.task}\n"
                f"then run:  tutor decode --task {args.task}\n"
                f"(or give a weights file with --weights FILE.npz)")
    else:
        path = Path(weights).expanduser()
    try:
        return load_weights(path), path
    except ValueError as error:
        raise SessionError(f"--weights {path}: {error}" if weights is not None
                           else str(error)) from None


def source_tokens(args, model) -> np.ndarray:
    """``--src`` as a (1, T) row of digits, or the task's first held-out sequence."""
    from engine.tasks import DEFAULT_LENGTH, DIGITS, held_out

    limit = model.config.max_len - 1
    if not getattr(args, "src", None):
        length = min(DEFAULT_LENGTH, limit)
        return held_out(args.task, length).src[:1]
    ids = parse_ids(args.src, "--src")
    bad = [i for i in ids if not 0 <= i < DIGITS]
    if bad:
        raise SessionError(f"--src: {bad[0]} is not a digit; the tasks use the digits 0–9 "
                           f"(e.g. --src 3,1,4,1,5,9)")
    if len(ids) > limit:
        raise SessionError(f"--src has {len(ids)} digits; this model answers at most {limit} "
                           f"(its max_len is {model.config.max_len}, one place is the start token)")
    return np.array([ids], dtype=np.int64)


def decode_session(args) -> Session:
    """The decoding run as a stepper session (SessionError for anything the learner can fix)."""
    from engine.tasks import BOS, target_for
    from engine.timeline import Timeline

    temperature = getattr(args, "temperature", None)
    if temperature is not None and not (temperature > 0 and math.isfinite(temperature)):
        raise SessionError(f"--temperature must be a positive number, got {temperature} "
                           "(leave it out to take the argmax)")
    seed = getattr(args, "seed", 0) or 0
    if seed < 0:
        raise SessionError(f"--seed must be 0 or more, got {seed}")
    model, path = load_decoder(args)
    if model.config.vocab_size <= BOS:
        raise SessionError(f"{path}: the model's vocabulary ({model.config.vocab_size}) has no "
                           f"start token {BOS}; decode needs a model saved by `tutor train`")
    src = source_tokens(args, model)
    decoding = model.generate(src, BOS, src.shape[1], temperature,
                              rng=np.random.default_rng(seed))
    answer = target_for(args.task, src)[0]
    how = "argmax" if temperature is None else f"sampled at T={temperature:g}, seed {seed}"
    title = (f"decode · {args.task} · src {' '.join(map(str, src[0]))} · expected "
             f"{' '.join(map(str, answer))} · {how}")
    return Session(Timeline(decoding.tape), title, model, None, decoding=decoding, seed=seed,
                   temperature=temperature)


def run_decode(args) -> int:
    try:
        session = decode_session(args)
    except SessionError as error:
        print(f"tutor decode: {error}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    from tutor.commands.explore import run_session

    return run_session(session, getattr(args, "notes", None))
