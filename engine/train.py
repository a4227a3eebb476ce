"""Training the model on a toy task: one step at a time, fast, reproducible.

``loss_and_grads`` is ``Transformer.run`` on a ``LeanTape`` (the same ops, no record).
``Trainer`` is the one training loop, one ``advance()`` per step: a batch from
``np.random.default_rng(seed)``, the loss and gradients, the learning rate of the
schedule, and Adam or SGD on all parameters seen as one flat vector (each parameter
a view into it, so an Adam step is a dozen NumPy calls, not a dozen per parameter;
the update is elementwise, so this changes no number, only the time). ``train`` runs
a ``Trainer`` to the end; the training view advances one and can re-create any step
it has taken in full (``record_step``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.config import ModelConfig
from engine.lean import LeanTape
from engine.model import Run, Transformer
from engine.optim import Adam, UpdateStep, check_learning_rate, sgd_updates
from engine.tasks import (BOS, DEFAULT_LENGTH, VOCAB_SIZE, Batch, check_length, check_task,
                          held_out, make_batch)

OPTIMIZERS = ("adam", "sgd")
DEFAULT_STEPS = 1000
DEFAULT_BATCH = 32
DEFAULT_LR = {"adam": 3e-3, "sgd": 0.3}
DEFAULT_EVAL_EVERY = 100
MAX_SNAPSHOTS = 32
MIN_SNAPSHOT_EVERY = 20


def loss_and_grads(model: Transformer, src, tgt_in, tgt_out) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy and ∂L/∂(every parameter): ``Transformer.run`` without the record."""
    src, tgt_in, tgt_out = model.check_inputs(src, tgt_in, tgt_out)
    tape = LeanTape()
    params = model.bind(tape)
    with model.buffers.active():
        logits = model.forward(tape, params, src, tgt_in)
        loss = tape.cross_entropy(logits, tape.input("tgt_out", tgt_out, requires_grad=False),
                                  "loss")
        grads = tape.backward(loss)
    return float(loss.value), {name: grads[t.id] if t.id in grads else np.zeros_like(t.value)
                               for name, t in params.items()}


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


# settings --------------------------------------------------------------------------
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


def check_training_settings(steps, lr, optimizer, batch, warmup, eval_every=1) -> None:
    """ValueError naming the first impossible setting."""
    for name, value, low in (("steps", steps, 1), ("batch", batch, 1), ("warmup", warmup, 0),
                             ("eval_every", eval_every, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be a whole number ≥ {low}, got {value!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    check_learning_rate(lr)


# the one training loop ------------------------------------------------------------------
@dataclass
class _State:
    """Everything the next step depends on: weights, optimiser memory, batch generator."""

    vector: np.ndarray
    adam: Adam | None
    rng: np.random.Generator
    model: Transformer  # its params are views into ``vector``


@dataclass(frozen=True)
class _Snapshot:
    steps_done: int
    vector: np.ndarray
    m: np.ndarray | None
    v: np.ndarray | None
    t: int
    rng_state: dict


@dataclass
class RecordedStep:
    """Training step ``step`` re-created: its full recorded run and its real update."""

    step: int
    run: Run
    model: Transformer  # the weights the step started from
    batch: Batch
    rate: float  # the learning rate the schedule gave this step
    updates: list[UpdateStep]  # the optimiser's update of every parameter, as training made it
    logged_loss: float


class Trainer:
    """``Trainer(task, steps, …)``; call ``advance()`` until ``finished``.

    Keeping every step's weights would cost ~0.35 MB a step, so a snapshot (weights,
    Adam's m, v and t, the batch generator's state) is kept every ``snapshot_every``
    steps; a step is re-created by replaying the few steps after the snapshot before
    it, and deterministic arithmetic gives the very same numbers.
    """

    def __init__(self, task: str, steps: int, seed: int = 0, lr: float | None = None,
                 optimizer: str = "adam", batch: int = DEFAULT_BATCH,
                 length: int = DEFAULT_LENGTH, config: ModelConfig | None = None,
                 warmup: int | None = None, eval_every: int = DEFAULT_EVAL_EVERY,
                 snapshot_every: int | None = None, snapshots: bool = True):
        self.task = check_task(task)
        self.length = check_length(length)
        self.lr = DEFAULT_LR.get(optimizer, 0.0) if lr is None else lr
        if warmup is None and isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
            warmup = default_warmup(steps)
        check_training_settings(steps, self.lr, optimizer, batch, warmup, eval_every)
        self.lr = float(self.lr)
        self.steps, self.seed, self.optimizer = steps, seed, optimizer
        self.batch, self.warmup, self.eval_every = batch, warmup, eval_every
        self.config = config or default_config()
        if self.config.vocab_size < BOS + 1:
            raise ValueError(f"the tasks need vocab_size ≥ {BOS + 1} (digits 0–9 and BOS = "
                             f"{BOS}), got {self.config.vocab_size}")
        if self.length > self.config.max_len:
            raise ValueError(f"length {self.length} is longer than the model's max_len "
                             f"{self.config.max_len}")
        self.keep_snapshots = snapshots
        self.snapshot_every = snapshot_every or max(MIN_SNAPSHOT_EVERY,
                                                    math.ceil(steps / MAX_SNAPSHOTS))
        self._flat = FlatParams(Transformer(self.config, seed=seed).params)
        self._state = self._new_state(self._flat.vector,
                                      Adam(lr=self.lr) if optimizer == "adam" else None,
                                      np.random.default_rng(seed))
        self.model = self._state.model  # trained in place
        self.losses: list[float] = []
        self.rates: list[float] = []
        self.accuracies: list[tuple[int, float]] = []
        self.eval_time = 0.0
        self._snapshots: list[_Snapshot] = []

    @property
    def steps_done(self) -> int:
        return len(self.losses)

    @property
    def finished(self) -> bool:
        return self.steps_done >= self.steps

    def advance(self) -> float:
        """Take the next step (and measure held-out accuracy when it is due); its loss."""
        if self.finished:
            raise RuntimeError("training is finished")
        if self.keep_snapshots and self.steps_done % self.snapshot_every == 0:
            self._snapshots.append(self._snapshot())
        step = self.steps_done + 1
        loss, rate = self._step(self._state, step)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {step}; "
                                     f"try a smaller learning rate than {self.lr}")
        self.losses.append(loss)
        self.rates.append(rate)
        if step % self.eval_every == 0 or step == self.steps:
            self.measure()
        return loss

    def measure(self) -> float:
        """Held-out exact match now (recorded once per step)."""
        step = self.steps_done
        if self.accuracies and self.accuracies[-1][0] == step:
            return self.accuracies[-1][1]
        tick = time.perf_counter()
        accuracy = evaluate(self.model, self.task, self.length)
        self.eval_time += time.perf_counter() - tick
        self.accuracies.append((step, accuracy))
        return accuracy

    def _new_state(self, vector: np.ndarray, adam: Adam | None,
                   rng: np.random.Generator) -> _State:
        model = Transformer(self.config, seed=self.seed, params=self._flat.unflatten(vector))
        model.params = self._flat.unflatten(vector)  # views: an update moves the model
        return _State(vector, adam, rng, model)

    def _step(self, state: _State, step: int) -> tuple[float, float]:
        """Training step ``step`` on ``state``: (loss, learning rate). The one step."""
        flat = self._flat
        batch = make_batch(self.task, self.batch, self.length, state.rng)
        loss, grads = loss_and_grads(state.model, *batch)
        if not math.isfinite(loss):
            return loss, math.nan
        rate = learning_rate_at(step - 1, self.steps, self.lr, self.warmup)
        gradient = {"all": flat.flatten(grads)}
        if state.adam is not None:
            state.adam.lr = rate
            (update,) = state.adam.updates({"all": state.vector}, gradient)
        else:
            (update,) = sgd_updates({"all": state.vector}, gradient, rate)
        state.vector[...] = update.after
        return loss, rate

    def _snapshot(self) -> _Snapshot:
        adam = self._state.adam
        return _Snapshot(self.steps_done, self._state.vector.copy(),
                         None if adam is None else adam.m.get("all"),
                         None if adam is None else adam.v.get("all"),
                         0 if adam is None else adam.t,
                         copy.deepcopy(self._state.rng.bit_generator.state))

    def final_model(self) -> Transformer:
        """The trained weights, copied (training may go on changing the live ones)."""
        return Transformer(self.config, seed=self.seed,
                           params={n: v.copy() for n, v in self._flat.views.items()})

    def settings(self) -> dict:
        return dict(steps=self.steps, lr=self.lr, optimizer=self.optimizer, batch=self.batch,
                    length=self.length, warmup=self.warmup, eval_every=self.eval_every,
                    config=dataclasses.asdict(self.config))

    # bringing a step back ----------------------------------------------------------------
    def _state_before(self, step: int) -> _State:
        """The state after ``step − 1`` steps, replayed from the snapshot before it."""
        if not 1 <= step <= self.steps_done:
            raise ValueError(f"step {step} has not been taken yet (steps 1–{self.steps_done})")
        if not self._snapshots:
            raise ValueError("this trainer keeps no snapshots, so no step can be re-created")
        snapshot = max((s for s in self._snapshots if s.steps_done <= step - 1),
                       key=lambda s: s.steps_done)
        adam = None
        if self.optimizer == "adam":
            adam = Adam(lr=self.lr, t=snapshot.t)
            if snapshot.m is not None:
                adam.m["all"], adam.v["all"] = snapshot.m, snapshot.v
        rng = np.random.default_rng()
        rng.bit_generator.state = copy.deepcopy(snapshot.rng_state)
        state = self._new_state(snapshot.vector.copy(), adam, rng)
        for k in range(snapshot.steps_done + 1, step):
            self._step(state, k)
        return state

    def record_step(self, step: int) -> RecordedStep:
        """Training step ``step`` (1-based) with every op recorded: ``Transformer.run`` on
        its batch with the weights it started from, and the update training then made."""
        state = self._state_before(step)
        batch = make_batch(self.task, self.batch, self.length, state.rng)
        params = {n: v.copy() for n, v in self._flat.unflatten(state.vector).items()}
        model = Transformer(self.config, self.seed, params=params)
        run = model.run(*batch)
        rate = learning_rate_at(step - 1, self.steps, self.lr, self.warmup)
        if state.adam is not None:
            flat = self._flat
            adam = Adam(lr=rate, t=state.adam.t)
            if "all" in state.adam.m:
                adam.m = flat.unflatten(state.adam.m["all"])
                adam.v = flat.unflatten(state.adam.v["all"])
            updates = adam.updates(model.params, run.grads)
        else:
            updates = sgd_updates(model.params, run.grads, rate)
        return RecordedStep(step, run, model, batch, rate, updates, self.losses[step - 1])


# training to the end -------------------------------------------------------------------------
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


def train(task: str, steps: int = DEFAULT_STEPS, seed: int = 0, lr: float | None = None,
          optimizer: str = "adam", batch: int = DEFAULT_BATCH, length: int = DEFAULT_LENGTH,
          config: ModelConfig | None = None, warmup: int | None = None,
          eval_every: int = DEFAULT_EVAL_EVERY, stop_at_accuracy: float | None = None,
          callback: Callable[[Progress], bool | None] | None = None) -> TrainResult:
    """Train a fresh model (weights from ``seed``) on ``task`` for ``steps`` steps.

    The held-out exact match is measured every ``eval_every`` steps and at the end.
    ``callback(progress)`` runs after every step; returning True stops training early
    (so does reaching ``stop_at_accuracy``). Ctrl-C raises ``KeyboardInterrupt`` out of
    here as usual.
    """
    trainer = Trainer(task, steps, seed, lr, optimizer, batch, length, config, warmup,
                      eval_every, snapshots=False)
    stopped = False
    start = time.perf_counter()
    while not trainer.finished:
        loss = trainer.advance()
        step = trainer.steps_done
        measured = trainer.accuracies[-1] if trainer.accuracies else None
        accuracy = measured[1] if measured is not None and measured[0] == step else None
        elapsed = time.perf_counter() - start
        if callback is not None and callback(Progress(
                step, steps, loss, trainer.rates[-1], accuracy, elapsed,
                step / elapsed if elapsed > 0 else 0.0)) is True:
            stopped = True
        if stop_at_accuracy is not None and accuracy is not None and accuracy >= stop_at_accuracy:
            stopped = stopped or step < steps
            break
        if stopped:
            break
    if stopped:
        trainer.measure()
    return TrainResult(task, seed, trainer.final_model(), trainer.losses, trainer.accuracies,
                       time.perf_counter() - start, trainer.eval_time, trainer.steps_done,
                       stopped, trainer.settings())


# measuring -------------------------------------------------------------------------------
def evaluate(model: Transformer, task: str, length: int = DEFAULT_LENGTH) -> float:
    """Held-out exact match: the fraction of held-out sequences answered all right by
    greedy decoding from BOS (a sequence counts only if every token matches)."""
    examples = held_out(task, length)
    return exact_match(model, examples.src, examples.tgt_out)


def exact_match(model: Transformer, src: np.ndarray, target: np.ndarray) -> float:
    tokens = model.generate(src, BOS, target.shape[1], record=False).tokens[:, 1:]
    return float(np.mean(np.all(tokens == target, axis=1)))
