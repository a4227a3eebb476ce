"""Training one step at a time, able to bring back any step it has taken.

``engine.train.train`` runs its loop to the end; the training view needs to pause it,
plot it as it goes, and open any past step in the stepper: ``Transformer.run`` on
that step's batch with the weights as they were at that step. ``TrainingRun`` is the
same loop, one ``advance()`` per step, in the same order with the same functions —
batches from ``np.random.default_rng(seed)`` (``make_batch``), ``loss_and_grads``,
``learning_rate_at``, Adam or SGD on all parameters as one flat vector — so its losses
and final weights are the engine's bit for bit (tests/test_training_ui.py checks).

Keeping every step's weights would cost ~0.35 MB a step. Instead a snapshot (the
weights, Adam's m, v and t, the batch generator's state) is kept every
``snapshot_every`` steps, and a step is re-created by replaying the few steps after
the snapshot before it: deterministic arithmetic gives the very same numbers.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from engine.model import Run, Transformer
from engine.optim import Adam, UpdateStep, sgd_updates
from engine.tasks import Batch, DEFAULT_LENGTH, check_length, check_task, make_batch
from engine.train import (DEFAULT_BATCH, DEFAULT_EVAL_EVERY, DEFAULT_LR, FlatParams,
                          check_training_settings, default_config, default_warmup, evaluate,
                          learning_rate_at, loss_and_grads)

MAX_SNAPSHOTS = 32
MIN_SNAPSHOT_EVERY = 20


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


class TrainingRun:
    """``TrainingRun(task, steps, …)``; call ``advance()`` until ``finished``."""

    def __init__(self, task: str, steps: int, seed: int = 0, lr: float | None = None,
                 optimizer: str = "adam", batch: int = DEFAULT_BATCH,
                 length: int = DEFAULT_LENGTH, config=None, warmup: int | None = None,
                 eval_every: int = DEFAULT_EVAL_EVERY, snapshot_every: int | None = None):
        self.task = check_task(task)
        self.length = check_length(length)
        self.lr = float(DEFAULT_LR.get(optimizer, 0.0) if lr is None else lr)
        if warmup is None and isinstance(steps, int) and not isinstance(steps, bool):
            warmup = default_warmup(steps)
        check_training_settings(steps, self.lr, optimizer, batch, warmup)
        self.steps, self.seed, self.optimizer = steps, seed, optimizer
        self.batch, self.warmup, self.eval_every = batch, warmup, eval_every
        self.config = config or default_config()
        if self.length > self.config.max_len:
            raise ValueError(f"length {self.length} is longer than the model's max_len "
                             f"{self.config.max_len}")
        self.snapshot_every = snapshot_every or max(MIN_SNAPSHOT_EVERY,
                                                    math.ceil(steps / MAX_SNAPSHOTS))
        self._flat = FlatParams(Transformer(self.config, seed=seed).params)
        self._state = self._new_state(self._flat.vector,
                                      Adam(lr=self.lr) if optimizer == "adam" else None,
                                      np.random.default_rng(seed))
        self.model = self._state.model  # trained in place, as engine.train does
        self.losses: list[float] = []
        self.rates: list[float] = []
        self.accuracies: list[tuple[int, float]] = []
        self._snapshots: list[_Snapshot] = []

    # training ---------------------------------------------------------------------------
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
        if self.steps_done % self.snapshot_every == 0:
            self._snapshots.append(self._snapshot())
        step = self.steps_done + 1
        loss, rate = self._step(self._state, step)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {step}; "
                                     f"try a smaller learning rate than {self.lr}")
        self.losses.append(loss)
        self.rates.append(rate)
        if step % self.eval_every == 0 or step == self.steps:
            self.accuracies.append((step, evaluate(self.model, self.task, self.length)))
        return loss

    def _new_state(self, vector: np.ndarray, adam: Adam | None,
                   rng: np.random.Generator) -> _State:
        model = Transformer(self.config, seed=self.seed, params=self._flat.unflatten(vector))
        model.params = self._flat.unflatten(vector)  # views: an update moves the model
        return _State(vector, adam, rng, model)

    def _step(self, state: _State, step: int) -> tuple[float, float]:
        """engine.train.train's step ``step`` on ``state``: (loss, learning rate)."""
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

    # bringing a step back -------------------------------------------------------------------
    def _state_before(self, step: int) -> _State:
        """The state after ``step − 1`` steps, replayed from the snapshot before it."""
        if not 1 <= step <= self.steps_done:
            raise ValueError(f"step {step} has not been taken yet (steps 1–{self.steps_done})")
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
