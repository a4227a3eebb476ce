"""Build what a lesson's ``[scenario]`` table asks for: a recorded run to step through.

``build_scenario(spec)`` reads the table (``kind`` plus that kind's options, see
lessons/README.md), checks every field — an unknown kind or option, a wrong type,
an impossible size, a token outside the vocabulary, a program that does not parse
— and raises ``ScenarioError`` naming the field (``scenario.d_model: …``).

The small kinds are built from the same tape ops and the same ``Transformer``
helpers the full model uses, so their step names read like the model's:
``self_attn.weights``, ``add_norm1.layer_norm``, ``ff.relu``. Their loss is the
mean squared error to a random target, ``loss = mean((out − target)²)``, recorded
as three steps ``error`` → ``squared`` → ``loss``.

Token sequences for ``transformer``: the decoder reads ``tgt_in = [start] + tgt[:-1]``
and is scored on ``tgt_out = tgt`` (teacher forcing). The start token is the one
training uses, ``engine.tasks.BOS`` (10), whenever the vocabulary holds it (the
default vocabulary of 12 does); in a vocabulary of 10 or fewer it is 0. ``tgt``
defaults to ``src`` reversed, or with ``weights = "trained:TASK"`` to the task's answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.config import LIMITS, MAX_PARAMETERS, ModelConfig
from engine.expr import ExpressionError, build_program, check_name, did_you_mean, parse_program
from engine.model import Decoding, Transformer, causal_mask
from engine.ops import Power
from engine.optim import UpdateStep, sgd_updates
from engine.replay import resolve_tensor
from tutor.lessons.scenario_spec import (KINDS, MODEL_FIELDS, ScenarioError,
                            SpecReader, check_numbers, check_tokens)
from engine.tasks import BOS, TASKS, target_for
from engine.tape import Tape, Tensor
from engine.timeline import Timeline
from engine.weights import load_weights

__all__ = ["KINDS", "Scenario", "ScenarioError", "WeightsResolver", "build_scenario",
           "load_trained", "start_token"]

DEFAULT_SRC = (3, 1, 4, 1, 5, 9)
WeightsResolver = Callable[[str], "str | Path | None"]


@dataclass
class Scenario:
    """A recorded run ready for a timeline. ``tape`` has run backward, except for
    ``decode`` (forward only, ``loss`` None); ``updates`` is one SGD step per
    parameter when the spec set ``lr``; ``options`` holds every option with defaults."""

    kind: str
    tape: Tape
    updates: list[UpdateStep]
    loss: float | None
    model: Transformer | None
    params: dict[str, np.ndarray]
    description: str
    options: dict = field(default_factory=dict)
    decoding: Decoding | None = None

    def timeline(self) -> Timeline:
        return Timeline(self.tape, self.updates)

    def tensor(self, name: str) -> Tensor:
        """The tape's tensor with this name (an input, a parameter or a step)."""
        return resolve_tensor(self.tape, name)


def build_scenario(spec: dict, weights_resolver: WeightsResolver | None = None) -> Scenario:
    """Check ``spec`` and build its scenario. ``weights_resolver`` maps a task name to
    the ``.npz`` that ``tutor train --task TASK`` saved (or None if there is none)."""
    read = SpecReader(spec)
    seed = read.whole("seed", 0, 0, 2**63 - 1)
    lr = read.learning_rate()
    scenario = _BUILDERS[read.kind](read, seed, lr, weights_resolver)
    scenario.options = {"kind": read.kind, **read.used}
    return scenario


def _finish(kind, tape, loss_tensor, params, lr, description) -> Scenario:
    """Run backward from the loss and, with ``lr``, record one SGD step per parameter."""
    tape.backward(loss_tensor)
    values = {name: t.value for name, t in params.items()}
    grads = {name: t.grad for name, t in params.items()}
    updates = sgd_updates(values, grads, lr) if lr is not None else []
    return Scenario(kind, tape, updates, float(loss_tensor.value), None, values, description)


def _mse(tape: Tape, out: Tensor, target: np.ndarray) -> Tensor:
    """loss = mean((out − target)²), as the steps error → squared → loss."""
    error = tape.sub(out, tape.input("target", target, requires_grad=False), "error")
    return tape.mean(tape.apply(Power, error, p=2.0, label="squared"), label="loss")


# expression -------------------------------------------------------------------

def _build_expression(read: SpecReader, seed, lr, _resolver) -> Scenario:
    raw_inputs = read.get("inputs", {})
    if not isinstance(raw_inputs, dict):
        raise ScenarioError("scenario.inputs", "must be a table of name = number or list")
    weights = read.get("params", list(raw_inputs))
    if not isinstance(weights, list) or any(not isinstance(n, str) or n not in raw_inputs
                                            for n in weights):
        raise ScenarioError("scenario.params", f"must list input names (the weights the update "
                            f"step moves), from {', '.join(raw_inputs) or 'no inputs'}; "
                            f"got {weights!r:.60}")
    tape, inputs = Tape(), {}
    for name, value in raw_inputs.items():
        where = f"scenario.inputs.{name}"
        why = check_name(name) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else \
            "a name is letters, digits and _, not starting with a digit"
        if why:
            raise ScenarioError(where, f"cannot be an input name: {why}")
        check_numbers(value, where)
        try:
            array = np.array(value, dtype=np.float64)
        except ValueError:
            raise ScenarioError(where, "is a ragged list: every row needs the same length") \
                from None
        if not np.all(np.isfinite(array)) or array.size > 100_000:
            raise ScenarioError(where, "must hold finite numbers (at most 100000 of them)")
        # weights are parameters (updated with lr); the other inputs are data, but still
        # get a gradient so a lesson can ask what ∂L/∂x is
        inputs[name] = tape.param(name, array) if name in weights else tape.input(name, array)
    program = read.get("program", None)
    if not isinstance(program, str):
        raise ScenarioError("scenario.program",
                            "missing: write lines like 'loss = (w * x - y) ** 2'"
                            if program is None else f"must be text, got {program!r:.40}")
    try:
        lines = build_program(tape, parse_program(program, inputs), inputs)
    except ExpressionError as error:
        raise ScenarioError("scenario.program", str(error)) from None
    output = read.get("output", list(lines)[-1])
    if not isinstance(output, str) or output not in lines:
        raise ScenarioError("scenario.output", f"{output!r} is not a line of the program; "
                            f"choose one of {', '.join(lines)}")
    out = lines[output]
    if out.value.size != 1:
        raise ScenarioError("scenario.output", f"{output!r} has shape {out.shape}; the output "
                            f"must be a single number (wrap it in sum(...) or mean(...))")
    if not np.isfinite(out.value).all():
        raise ScenarioError("scenario.program", f"the output {output!r} is {float(out.value)} for "
                            "these inputs (a log or division of zero or a negative number?)")
    return _finish("expression", tape, out, {n: inputs[n] for n in weights}, lr,
                   f"{output} from {len(lines)} line(s) of arithmetic on "
                   f"{', '.join(inputs) or 'numbers'}")


# mlp ---------------------------------------------------------------------------

def _build_mlp(read: SpecReader, seed, lr, _resolver) -> Scenario:
    sizes = read.get("sizes", [3, 4, 2])
    if (not isinstance(sizes, list) or not 2 <= len(sizes) <= 8 or
            any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1024
                for n in sizes)):
        raise ScenarioError("scenario.sizes", f"must be a list of 2 to 8 whole numbers from 1 "
                            f"to 1024 (input, hidden…, output), got {sizes!r}")
    batch = read.whole("batch", 2, 1, 256)
    activation = read.choice("activation", "relu", ("relu", "none"))
    loss_kind = read.choice("loss", "mse", ("mse", "cross_entropy"))
    if loss_kind == "cross_entropy" and sizes[-1] < 2:
        raise ScenarioError("scenario.sizes", "cross_entropy needs at least 2 outputs (classes)")
    rng = np.random.default_rng(seed)
    tape, params = Tape(), {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        bound = 1.0 / math.sqrt(n_in)  # torch.nn.Linear's default initialisation
        params[f"layer{i}.weight"] = tape.param(f"layer{i}.weight",
                                                rng.uniform(-bound, bound, (n_out, n_in)))
        params[f"layer{i}.bias"] = tape.param(f"layer{i}.bias", rng.uniform(-bound, bound, n_out))
    h = tape.input("x", rng.normal(size=(batch, sizes[0])), requires_grad=False)
    layers = len(sizes) - 1
    for i in range(1, layers + 1):
        h = tape.linear(h, params[f"layer{i}.weight"], params[f"layer{i}.bias"], f"layer{i}")
        if i < layers and activation == "relu":
            h = tape.relu(h, "relu" if layers == 2 else f"relu{i}")
    if loss_kind == "mse":
        loss = _mse(tape, h, rng.normal(size=(batch, sizes[-1])))
    else:
        targets = tape.input("target", rng.integers(0, sizes[-1], batch), requires_grad=False)
        loss = tape.cross_entropy(h, targets, "loss")
    arrows = " → ".join(str(n) for n in sizes)
    return _finish("mlp", tape, loss, params, lr, f"a {arrows} perceptron ({activation}), "
                   f"{loss_kind} loss on a batch of {batch}")


# attention and single layers -------------------------------------------------------

def _layer_model(read: SpecReader, seed, n_heads: int, lengths: tuple, with_ff=True) -> Transformer:
    """A one-layer model whose layer 0 supplies the weights (the model's own init)."""
    d_model = read.whole("d_model", 8, 1, 256)
    n_heads = read.whole("n_heads", n_heads, 1, 64)
    d_ff = read.whole("d_ff", 16, 1, 1024) if with_ff else 1
    config = read.config(vocab_size=1, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                         n_encoder_layers=1, n_decoder_layers=1, max_len=max(lengths))
    return Transformer(config, seed)


def _bind(tape: Tape, model: Transformer, prefix: str, rename: str = ""):
    """Parameters under ``prefix`` as tape leaves named without it (``rename`` + rest);
    also the lookup the model's helpers use, where ``layer`` stands for the prefix."""
    params, lookup = {}, {}
    for name, value in model.params.items():
        if name.startswith(prefix + "."):
            rest = name[len(prefix) + 1:]
            tensor = params[rename + rest] = tape.param(rename + rest, value)
            lookup[f"layer.{rest}"] = tensor
    return params, lookup


def _data(seed, *shapes):
    rng = np.random.default_rng([seed, 1])  # a stream apart from the weights'
    return [rng.normal(size=shape) for shape in shapes]


def _build_attention(read: SpecReader, seed, lr, _resolver) -> Scenario:
    seq_len = read.whole("seq_len", 4, 1, 256)
    memory_len = read.get("memory_len", None)
    if memory_len is not None:
        memory_len = read.whole("memory_len", None, 1, 256)
    causal = read.flag("causal", False)
    if causal and memory_len is not None:
        raise ScenarioError("scenario.causal", "a causal mask is for self-attention; "
                            "remove memory_len or set causal = false")
    model = _layer_model(read, seed, 1, (seq_len, memory_len or 1), with_ff=False)
    d = model.config.d_model
    tape = Tape()
    which = "decoder.layers.0.cross_attn" if memory_len else "encoder.layers.0.self_attn"
    params, lookup = _bind(tape, model, which, rename="attn.")
    x_value, memory_value, target = _data(seed, (1, seq_len, d), (1, memory_len or 1, d),
                                          (1, seq_len, d))
    x = tape.input("x", x_value)
    memory = tape.input("memory", memory_value) if memory_len else x
    with tape.scope("attn"):
        out = model.attention(tape, lookup, "layer", x, memory,
                              causal_mask(seq_len) if causal else None)
    what = (f"cross-attention from {seq_len} queries to {memory_len} memory positions"
            if memory_len else
            f"{'causal ' if causal else ''}self-attention over {seq_len} positions")
    return _finish("attention", tape, _mse(tape, out, target), params, lr,
                   f"{what}, d_model {d}, {model.config.n_heads} head(s), MSE loss")


def _build_encoder_layer(read: SpecReader, seed, lr, _resolver) -> Scenario:
    seq_len = read.whole("seq_len", 4, 1, 256)
    model = _layer_model(read, seed, 2, (seq_len,))
    tape = Tape()
    params, P = _bind(tape, model, "encoder.layers.0")
    shape = (1, seq_len, model.config.d_model)
    x_value, target = _data(seed, shape, shape)
    x = model.encoder_layer(tape, P, "layer", tape.input("x", x_value))
    c = model.config
    return _finish("encoder_layer", tape, _mse(tape, x, target), params, lr,
                   f"one post-norm encoder layer over {seq_len} positions (d_model {c.d_model}, "
                   f"{c.n_heads} heads, d_ff {c.d_ff}), MSE loss")


def _build_decoder_layer(read: SpecReader, seed, lr, _resolver) -> Scenario:
    seq_len = read.whole("seq_len", 4, 1, 256)
    memory_len = read.whole("memory_len", 5, 1, 256)
    model = _layer_model(read, seed, 2, (seq_len, memory_len))
    d = model.config.d_model
    tape = Tape()
    params, P = _bind(tape, model, "decoder.layers.0")
    x_value, memory_value, target = _data(seed, (1, seq_len, d), (1, memory_len, d),
                                          (1, seq_len, d))
    x, memory = tape.input("x", x_value), tape.input("memory", memory_value)
    x = model.decoder_layer(tape, P, "layer", x, memory, causal_mask(seq_len))
    cfg = model.config
    return _finish("decoder_layer", tape, _mse(tape, x, target), params, lr,
                   f"one decoder layer: masked self-attention over {seq_len} positions, "
                   f"cross-attention to {memory_len}, feed-forward (d_model {d}, "
                   f"{cfg.n_heads} heads, d_ff {cfg.d_ff}), MSE loss")


# the full model ------------------------------------------------------------------

def start_token(config: ModelConfig) -> int:
    """What the decoder reads first: BOS as in training, or 0 in a vocabulary without it."""
    return BOS if config.vocab_size > BOS else 0


def _model(read: SpecReader, seed, resolver) -> tuple[Transformer, str | None]:
    """The model and, for trained weights, the task they were trained on."""
    weights = read.get("weights", "random")
    task = weights[len("trained:"):] if isinstance(weights, str) and \
        weights.startswith("trained:") else None
    if weights != "random" and task is None:
        raise ScenarioError("scenario.weights", f"must be \"random\" or \"trained:TASK\" (TASK "
                                                f"one of {', '.join(TASKS)}), got {weights!r}")
    if task is None:
        sizes = {name: read.whole(name, getattr(ModelConfig, name), 1, high)
                 for name, high in LIMITS.items()}
        config = read.config(**sizes)
        if config.parameter_count() > MAX_PARAMETERS:
            raise ScenarioError("scenario", f"the model would have {config.parameter_count():,} "
                                f"parameters; the tutor allows at most {MAX_PARAMETERS:,}")
        return Transformer(config, seed), None
    if task not in TASKS:
        raise ScenarioError("scenario.weights", f"unknown task {task!r}"
                            f"{did_you_mean(task, TASKS)}; tasks: {', '.join(TASKS)}")
    path = resolver(task) if resolver is not None else None
    if path is None:
        raise ScenarioError("scenario.weights", f"no trained weights for task {task!r} yet; "
                            f"run `tutor train --task {task}` first")
    model = load_trained(path, task)
    for name in MODEL_FIELDS:
        trained = getattr(model.config, name)
        if name in read.spec and read.whole(name, None, 1, 10**9) != trained:
            raise ScenarioError(f"scenario.{name}", f"is {read.spec[name]} but the trained "
                                f"weights have {trained}; remove it")
        read.used[name] = trained
    return model, task


def load_trained(path, task: str) -> Transformer:
    """The model ``tutor train --task TASK`` saved (``engine.weights.load_weights``)."""
    try:
        return load_weights(path)
    except ValueError as error:
        raise ScenarioError("scenario.weights", f"{error} (run `tutor train --task {task}` "
                                                "again)") from None


def _src(read: SpecReader, config: ModelConfig) -> np.ndarray:
    default = [t % config.vocab_size for t in DEFAULT_SRC][:config.max_len]
    return check_tokens(read.get("src", default), "src", config)


def _default_tgt(src_option: list, src: np.ndarray, task: str | None) -> list:
    """``src`` reversed (or the trained task's answer), nested as ``src`` was written."""
    tgt = (src[:, ::-1] if task is None else target_for(task, src)).tolist()
    return tgt if isinstance(src_option[0], list) else tgt[0]


def _show(tokens: np.ndarray) -> str:
    return " | ".join("[" + " ".join(map(str, row)) + "]" for row in tokens)


def _build_transformer(read: SpecReader, seed, lr, resolver) -> Scenario:
    model, task = _model(read, seed, resolver)
    src = _src(read, model.config)
    default_tgt = _default_tgt(read.used["src"], src, task)
    tgt = check_tokens(read.get("tgt", default_tgt), "tgt", model.config)
    if tgt.shape[0] != src.shape[0]:
        raise ScenarioError("scenario.tgt", f"has {tgt.shape[0]} sequences but src has "
                                            f"{src.shape[0]}")
    tgt_in = np.concatenate([np.full((tgt.shape[0], 1), start_token(model.config)), tgt[:, :-1]],
                            axis=1)
    run = model.run(src, tgt_in, tgt)
    updates = sgd_updates(model.params, run.grads, lr) if lr is not None else []
    c = model.config
    return Scenario("transformer", run.tape, updates, run.loss, model, dict(model.params),
                    f"the encoder–decoder (d_model {c.d_model}, {c.n_heads} heads, "
                    f"{c.n_encoder_layers}+{c.n_decoder_layers} layers, vocab {c.vocab_size}): "
                    f"{_show(src)} → {_show(tgt)}, {read.used['weights']} weights")


def _build_decode(read: SpecReader, seed, lr, resolver) -> Scenario:
    if lr is not None:
        raise ScenarioError("scenario.lr", "decode runs forward only, so there is nothing to "
                                           "update; remove lr")
    model, _ = _model(read, seed, resolver)
    c = model.config
    src = _src(read, c)
    if c.max_len < 2:
        raise ScenarioError("scenario.max_len", "decode needs max_len of at least 2 "
                                                "(the start token and one new token)")
    start = read.whole("start_token", start_token(c), 0, c.vocab_size - 1)
    steps = read.whole("steps", min(src.shape[1], c.max_len - 1), 1, c.max_len - 1)
    temperature = read.get("temperature", None)
    if temperature is not None and (isinstance(temperature, bool) or
                                    not isinstance(temperature, (int, float)) or
                                    not 0 < temperature < math.inf):
        raise ScenarioError("scenario.temperature", f"must be a positive number, got "
                            f"{temperature!r} (leave it out for greedy decoding)")
    decoding = model.generate(src, start, steps, None if temperature is None else
                              float(temperature), rng=np.random.default_rng(seed))
    how = "greedy" if temperature is None else f"sampled at temperature {temperature}"
    return Scenario("decode", decoding.tape, [], None, model, dict(model.params),
                    f"generate {steps} token(s) after {start} for {_show(src)}, {how}, "
                    f"{read.used['weights']} weights", decoding=decoding)


_BUILDERS = {"expression": _build_expression, "mlp": _build_mlp, "attention": _build_attention,
             "encoder_layer": _build_encoder_layer, "decoder_layer": _build_decoder_layer,
             "transformer": _build_transformer, "decode": _build_decode}
