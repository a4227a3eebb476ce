"""Optimisers, written out: plain SGD and Adam, each update recorded per parameter."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class UpdateStep(NamedTuple):
    """One parameter's update: ``after = before − lr · direction``.

    For SGD the direction is the gradient itself; for Adam it is
    m̂ / (√v̂ + ε), the gradient smoothed over steps and scaled per element.
    """

    name: str
    before: np.ndarray
    grad: np.ndarray
    after: np.ndarray
    lr: float
    optimizer: str = "sgd"

    @property
    def direction(self) -> np.ndarray:
        return (self.before - self.after) / self.lr


def check_learning_rate(lr) -> float:
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"learning rate must be a number, got {lr!r}") from None
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate must be a positive finite number, got {lr}")
    return lr


def sgd_updates(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                lr: float) -> list[UpdateStep]:
    """w ← w − lr · ∂L/∂w for every parameter (new arrays; the old ones stay intact)."""
    lr = check_learning_rate(lr)
    return [UpdateStep(name, params[name], grads[name], params[name] - lr * grads[name], lr)
            for name in params]


@dataclass
class Adam:
    """Adam (Kingma & Ba), as ``torch.optim.Adam`` with its defaults.

    m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);
    w ← w − lr · m̂ / (√v̂ + ε). Each weight gets its own step size: large where
    gradients have been small and steady, small where they have been large or noisy.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: dict = field(default_factory=dict)
    v: dict = field(default_factory=dict)

    def __post_init__(self):
        self.lr = check_learning_rate(self.lr)

    def updates(self, params: dict[str, np.ndarray],
                grads: dict[str, np.ndarray]) -> list[UpdateStep]:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        steps = []
        for name, w in params.items():
            g = grads[name]
            m = self.m[name] = b1 * self.m.get(name, 0.0) + (1 - b1) * g
            v = self.v[name] = b2 * self.v.get(name, 0.0) + (1 - b2) * g * g
            m_hat = m / (1 - b1 ** self.t)
            v_hat = v / (1 - b2 ** self.t)
            after = w - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
            steps.append(UpdateStep(name, w, g, after, self.lr, "adam"))
        return steps


def apply(params: dict[str, np.ndarray], updates: list[UpdateStep]) -> dict[str, np.ndarray]:
    """The parameters after the updates (a new dict)."""
    new = dict(params)
    for u in updates:
        new[u.name] = u.after
    return new
