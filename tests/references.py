"""Independent recomputations the tests check the tutor against: written here, plainly,
with code paths of their own (the model's recorded run and the optimiser's updates), so
a test never compares the tutor with itself."""

from __future__ import annotations

import math

import numpy as np

from engine.optim import apply, sgd_updates


def sgd_losses(model, batch, lr: float, steps: int) -> list[float]:
    """L₀ … L_steps of plain gradient descent w ← w − lr·g on one batch, each step a full
    ``Transformer.run``; ends early with nan/inf once the loss or a weight is not finite."""
    losses = []
    with np.errstate(all="ignore"):
        for step in range(steps + 1):
            run = model.run(*batch)
            losses.append(run.loss)
            if not math.isfinite(run.loss) or step == steps:
                break
            params = apply(model.params, sgd_updates(model.params, run.grads, lr))
            if not all(np.all(np.isfinite(p)) for p in params.values()):
                losses.append(math.nan)
                break
            model = model.with_params(params)
    return losses
