"""Training the model on a toy task, fast, with the engine's own ops and backward.

A recorded run (``Transformer.run``) keeps every node, name and backward step so
the tutor can show them; training needs none of that. ``LeanTape`` is a ``Tape``
that runs the very same model code (``Transformer.forward``), so the very same op
classes' ``forward`` and ``backward`` in the very same order, but keeps only what
the backward pass needs: no names, no scopes, no ``BackwardStep`` records. Its
gradients equal ``Transformer.run``'s bit for bit (tests/test_train.py).

The optimiser sees all parameters as one flat vector (each parameter a view into
it), so an Adam step is a dozen NumPy calls instead of a dozen per parameter. The
update is elementwise, so this changes no number, only the time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.config import ModelConfig
from engine.model import Transformer
from engine.optim import Adam, check_learning_rate, sgd_updates
from engine.tape import Tape, Tensor
from engine.tasks import BOS, DEFAULT_LENGTH, VOCAB_SIZE, check_length, check_task, held_out, make_batch

OPTIMIZERS = ("adam", "sgd")
DEFAULT_STEPS = 1000
DEFAULT_BATCH = 32
DEFAULT_LR = {"adam": 3e-3, "sgd": 0.3}
DEFAULT_EVAL_EVERY = 100
_NO_SCOPE = contextlib.nullcontext()


# the lean pass -----------------------------------------------------------------
class LeanTape(Tape):
    """A ``Tape`` that runs ops without recording them for display.

    ``apply`` runs ``op.forward`` and keeps ``(op, inputs, output, saved)``;
    ``backward`` walks those in exact reverse order calling ``op.backward`` and sums
    contributions exactly as ``Tape.backward`` does (``before + dx``), so every
    gradient is the same float. It returns ``{tensor id: gradient}``.

    ``LeanTape(for_backward=False)`` is for forward passes alone (greedy decoding):
    it keeps nothing at all, so each activation is freed once no op needs it.
    """

    def __init__(self, for_backward: bool = True):
        super().__init__()
        self.for_backward = for_backward
        self.calls: list[tuple] = []
        if not for_backward:
            self.tensors = _Count()

    def scope(self, name: str):
        return _NO_SCOPE

    def apply(self, op, *inputs, label=None, **attrs) -> Tensor:
        tensors = [x if isinstance(x, Tensor) else self.constant(None, x) for x in inputs]
        value, saved = op.forward(*[x.value for x in tensors], **attrs)
        needs_grad = any(x.requires_grad and d for x, d in zip(tensors, op.differentiable))
        output = Tensor(self, np.asarray(value), label or op.name, "activation", None, needs_grad)
        if self.for_backward:
            self.calls.append((op, tensors, output, saved))
        return output

    def backward(self, y: Tensor, seed=None) -> dict[int, np.ndarray]:
        if not self.for_backward:
            raise RuntimeError("this LeanTape kept nothing for a backward pass")
        if y.value.size != 1 and seed is None:
            raise ValueError("LeanTape.backward needs a scalar output or a seed gradient")
        grads = {y.id: np.asarray(seed, dtype=float) if seed is not None
                 else np.ones_like(y.value, dtype=float)}
        for op, inputs, output, saved in reversed(self.calls):
            g = grads.pop(output.id, None)
            if g is None:
                continue
            for x, dx in zip(inputs, op.backward(g, saved)):
                if dx is None or not x.requires_grad:
                    continue
                dx = np.asarray(dx)
                before = grads.get(x.id)
                grads[x.id] = dx if before is None else before + dx
        self.calls.clear()
        return grads


class _Count:
    """Stands in for ``Tape.tensors`` when nothing is kept: a tensor's id is how many
    came before it, so ids stay unique while the tensors themselves are not held."""

    def __init__(self):
        self.count = 0

    def append(self, _tensor) -> None:
        self.count += 1

    def __len__(self) -> int:
        return self.count


def loss_and_grads(model: Transformer, src, tgt_in, tgt_out) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy and ∂L/∂(every parameter): ``Transformer.run`` without the record."""
    src, tgt_in, tgt_out = model.check_inputs(src, tgt_in, tgt_out)
    tape = LeanTape()
    params = model.bind(tape)
    logits = model.forward(tape, params, src, tgt_in)
    loss = tape.cross_entropy(logits, tape.input("tgt_out", tgt_out, requires_grad=False), "loss")
    grads = tape.backward(loss)
    return float(loss.value), {name: grads[t.id] if t.id in grads else np.zeros_like(t.value)
                               for name, t in params.items()}


# flat parameters ----------------------------------------------------------------
class FlatParams:
    """All parameters in one float64 vector; ``views`` are the named parameters."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.names = list(params)
        self.shapes = [np.shape(params[n]) for n in self.names]
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.vector = np.concatenate([np.ravel(params[n]).astype(np.float64) for n in self.names])
        self.views = self.unflatten(self.vector)

    def unflatten(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        return {n: vector[a:b].reshape(s) for n, s, a, b
                in zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:])}

    def flatten(self, values: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(values[n]) for n in self.names])


# training --------------------------------------------------------------------------
def default_config() -> ModelConfig:
    """The tutor-scale model: vocab 12, d_model 32, 4 heads, d_ff 64, 2 + 2 layers."""
    return ModelConfig(vocab_size=VOCAB_SIZE)


def default_warmup(steps: int) -> int:
    """A tenth of the run, at most 100 steps."""
    return min(100, steps // 10)


def learning_rate_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to lr/10 at the last step.

    Warm-up keeps Adam's first, poorly estimated steps small; the decay lets the
    last steps settle into the minimum instead of bouncing around it.
    """
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    span = max(steps - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


@dataclass
class Progress:
    """What a callback sees after each step."""

    step: int  # 1-based: steps done so far
    steps: int
    loss: float
    lr: float
    accuracy: float | None  # latest held-out exact match, if measured at this step
    elapsed: float
    steps_per_second: float


@dataclass
class TrainResult:
    task: str
    seed: int
    model: Transformer
    losses: list[float]
    accuracies: list[tuple[int, float]]  # (steps done, held-out exact match)
    wall_time: float  # seconds, training and evaluation together
    eval_time: float  # seconds spent measuring held-out accuracy
    steps_done: int
    stopped_early: bool = False
    settings: dict = field(default_factory=dict)

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.model.params

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.wall_time if self.wall_time > 0 else float("inf")

    @property
    def final_accuracy(self) -> float | None:
        return self.accuracies[-1][1] if self.accuracies else None


def check_training_settings(steps, lr, optimizer, batch, warmup, eval_every=1) -> None:
    """ValueError naming the first impossible setting."""
    for name, value, low in (("steps", steps, 1), ("batch", batch, 1), ("warmup", warmup, 0),
                             ("eval_every", eval_every, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be a whole number ≥ {low}, got {value!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    check_learning_rate(lr)


def train(task: str, steps: int = DEFAULT_STEPS, seed: int = 0, lr: float | None = None,
          optimizer: str = "adam", batch: int = DEFAULT_BATCH, length: int = DEFAULT_LENGTH,
          config: ModelConfig | None = None, warmup: int | None = None,
          eval_every: int = DEFAULT_EVAL_EVERY, stop_at_accuracy: float | None = None,
          callback: Callable[[Progress], bool | None] | None = None) -> TrainResult:
    """Train a fresh model (weights from ``seed``) on ``task`` for ``steps`` steps.

    Batches come from ``np.random.default_rng(seed)``; the held-out exact match is
    measured every ``eval_every`` steps and at the end. ``callback(progress)`` runs
    after every step; returning True stops training early (so does reaching
    ``stop_at_accuracy``). Ctrl-C raises ``KeyboardInterrupt`` out of here as usual.
    """
    check_task(task)
    length = check_length(length)
    lr = DEFAULT_LR.get(optimizer, 0.0) if lr is None else lr
    if warmup is None and isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
        warmup = default_warmup(steps)
    check_training_settings(steps, lr, optimizer, batch, warmup, eval_every)
    lr = float(lr)
    config = config or default_config()
    if config.vocab_size < BOS + 1:
        raise ValueError(f"the tasks need vocab_size ≥ {BOS + 1} (digits 0–9 and BOS = {BOS}), "
                         f"got {config.vocab_size}")
    if length > config.max_len:
        raise ValueError(f"length {length} is longer than the model's max_len {config.max_len}")
    initial = Transformer(config, seed=seed)
    flat = FlatParams(initial.params)
    model = Transformer(config, seed=seed, params=flat.views)
    model.params = flat.views  # train in place: the views share flat.vector's memory
    adam = Adam(lr=lr) if optimizer == "adam" else None
    rng = np.random.default_rng(seed)

    losses: list[float] = []
    accuracies: list[tuple[int, float]] = []
    eval_time = 0.0
    stopped = False
    start = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        src, tgt_in, tgt_out = make_batch(task, batch, length, rng)
        loss, grads = loss_and_grads(model, src, tgt_in, tgt_out)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {step}; "
                                     f"try a smaller learning rate than {lr}")
        rate = learning_rate_at(step - 1, steps, lr, warmup)
        gradient = {"all": flat.flatten(grads)}
        if adam is not None:
            adam.lr = rate
            (update,) = adam.updates({"all": flat.vector}, gradient)
        else:
            (update,) = sgd_updates({"all": flat.vector}, gradient, rate)
        flat.vector[...] = update.after
        losses.append(loss)

        accuracy = None
        if step % eval_every == 0 or step == steps:
            tick = time.perf_counter()
            accuracy = evaluate(model, task, length)
            eval_time += time.perf_counter() - tick
            accuracies.append((step, accuracy))
        elapsed = time.perf_counter() - start
        if callback is not None:
            request = callback(Progress(step, steps, loss, rate, accuracy, elapsed,
                                        step / elapsed if elapsed > 0 else 0.0))
            if request is True:
                stopped = True
        if stop_at_accuracy is not None and accuracy is not None and accuracy >= stop_at_accuracy:
            stopped = stopped or step < steps
            break
        if stopped:
            break
    if stopped and (not accuracies or accuracies[-1][0] != step):
        tick = time.perf_counter()
        accuracies.append((step, evaluate(model, task, length)))
        eval_time += time.perf_counter() - tick
    wall = time.perf_counter() - start
    final = Transformer(config, seed=seed, params={n: v.copy() for n, v in flat.views.items()})
    settings = dict(steps=steps, lr=lr, optimizer=optimizer, batch=batch, length=length,
                    warmup=warmup, eval_every=eval_every, config=dataclasses.asdict(config))
    return TrainResult(task, seed, final, losses, accuracies, wall, eval_time, step, stopped,
                       settings)


# measuring ---------------------------------------------------------------------------
def greedy_decode(model: Transformer, src, start_token: int, steps: int) -> np.ndarray:
    """``Transformer.generate(src, start_token, steps).tokens`` without the record.

    The same calls in the same order as ``generate``'s greedy branch — encode once;
    per new token: decode the prefix, generator, softmax, argmax at the last
    position — on a ``LeanTape`` that keeps nothing, so the tokens are identical
    (tests/test_train.py) at a fraction of the time and memory.
    """
    src, _, _ = model.check_inputs(src, np.zeros((np.asarray(src).shape[0], 1), dtype=int))
    if not 1 <= steps < model.config.max_len:
        raise ValueError(f"steps must be in [1, {model.config.max_len - 1}], got {steps}")
    tape = LeanTape(for_backward=False)
    params = model.bind(tape)
    memory = model.encode(tape, params, tape.input("src", src, requires_grad=False))
    tokens = np.full((src.shape[0], 1), start_token, dtype=np.int64)
    for _ in range(steps):
        out = model.decode(tape, params, memory, tape.input("prefix", tokens, requires_grad=False))
        logits = tape.linear(out, params["generator.weight"], params["generator.bias"])
        chosen = tape.argmax(tape.softmax(logits)).value[:, -1]
        tokens = np.concatenate([tokens, chosen[:, None]], axis=1)
    return tokens


def evaluate(model: Transformer, task: str, length: int = DEFAULT_LENGTH) -> float:
    """Held-out exact match: the fraction of held-out sequences answered all right.

    Greedy decoding from BOS for ``length`` tokens (``greedy_decode``, which gives
    ``Transformer.generate``'s tokens); a sequence counts only if every token matches.
    """
    examples = held_out(task, length)
    return exact_match(model, examples.src, examples.tgt_out)


def exact_match(model: Transformer, src: np.ndarray, target: np.ndarray) -> float:
    tokens = greedy_decode(model, src, BOS, target.shape[1])[:, 1:]
    return float(np.mean(np.all(tokens == target, axis=1)))


# weights on disk -------------------------------------------------------------------------
def weights_path(task: str, base_dir: str | os.PathLike) -> Path:
    """``<base_dir>/weights/<task>.npz``: where ``tutor train`` keeps a task's weights."""
    return Path(base_dir) / "weights" / f"{check_task(task)}.npz"


def save_weights(path: str | os.PathLike, model: Transformer) -> Path:
    """``np.savez(path, config=json, **params)``, written to a temporary file first and
    renamed into place, so a crash never leaves half a file. The path is used as given
    (no ``.npz`` is appended)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = json.dumps(dataclasses.asdict(model.config))
    tmp = path.parent / f".{path.name}.{os.getpid()}.{time.time_ns()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, config=config, **model.params)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def load_weights(path: str | os.PathLike) -> Transformer:
    """The model saved at ``path``, or ValueError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no weights file at {path}; train one with `tutor train`")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a weights file saved by `tutor train` "
                         f"(it could not be read: {error}); train again to replace it") from None
    if not all(isinstance(value, np.ndarray) for value in arrays.values()):
        raise ValueError(f"{path} is not a weights file saved by `tutor train` (it holds "
                         "entries that are not arrays); train again to replace it")
    if "config" not in arrays:
        raise ValueError(f"{path} has no model config; it was not saved by `tutor train`")
    try:
        fields = json.loads(str(arrays.pop("config")))
        if not isinstance(fields, dict):
            raise TypeError("the config is not a JSON object")
        config = ModelConfig(**fields)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds an unusable model config: {error}") from None
    extra = sorted(set(arrays) - set(config.parameter_shapes()))
    if extra:
        raise ValueError(f"{path} holds {extra[0]!r}, which is not a parameter of this model")
    for name, value in arrays.items():
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{path}: parameter {name!r} is not numeric (dtype {value.dtype})")
    try:
        return Transformer(config, params=arrays)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
