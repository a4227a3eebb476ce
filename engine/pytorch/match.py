"""The one rule for "the engine matches PyTorch", and the one result it gives.

Two tensors match when max |engine − torch| ≤ tolerance · max(1, max |torch|):
absolute for values of order one, relative for large ones. Equal infinities (a masked
−∞ score) count as equal; a NaN on one side only, or a shape mismatch, never matches.
The tutor's float64 engine agrees with torch to about 1e-15; ``TOLERANCE`` leaves room
for a long chain of rounding, not for a wrong formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-10
# float32 (a learner's default dtype) carries ~7 digits; half precision ~3
TOLERANCE_FLOAT32 = 1e-5
TOLERANCE_HALF = 1e-2


def tolerance_for(arrays, tolerance: float = TOLERANCE) -> float:
    """``tolerance`` for float64 values, widened to what the narrowest float among
    ``arrays`` can hold."""
    sizes = [np.asarray(a).dtype.itemsize for a in arrays if np.asarray(a).dtype.kind in "fc"]
    narrowest = min(sizes, default=8)
    if narrowest <= 2:
        return max(tolerance, TOLERANCE_HALF)
    if narrowest <= 4:
        return max(tolerance, TOLERANCE_FLOAT32)
    return tolerance


@dataclass(frozen=True)
class Match:
    """One quantity computed by both: how far apart, and whether that is within the rule.
    ``engine`` and ``torch`` keep the two values where a caller shows them."""

    label: str
    max_abs_diff: float
    scale: float  # max |torch value| over the finite elements (0 if none)
    tolerance: float = TOLERANCE
    accumulates: bool = False  # a contribution added to a gradient already there
    engine: np.ndarray | None = None
    torch: np.ndarray | None = None

    @property
    def allowed(self) -> float:
        return self.tolerance * max(1.0, self.scale)

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.allowed

    @property
    def relative(self) -> float:
        """max |Δ| / max |torch|: the error in units of the quantity's own size."""
        if self.scale > 0:
            return self.max_abs_diff / self.scale
        return 0.0 if self.max_abs_diff == 0 else float("inf")


def match(label: str, engine, torch, tolerance: float = TOLERANCE, accumulates: bool = False,
          keep_values: bool = True) -> Match:
    """Compare ``engine`` with ``torch`` (arrays or numbers) by the one rule."""
    engine, torch = np.asarray(engine), np.asarray(torch)
    return Match(label, max_abs_diff(engine, torch), finite_scale(torch), tolerance, accumulates,
                 engine if keep_values else None, torch if keep_values else None)


def combined(label: str, matches) -> Match:
    """Several matches judged as one (a backward step's contributions): the largest
    difference against the largest scale."""
    matches = list(matches)
    return Match(label, max((m.max_abs_diff for m in matches), default=0.0),
                 max((m.scale for m in matches), default=0.0),
                 min((m.tolerance for m in matches), default=TOLERANCE))


def max_abs_diff(a, b) -> float:
    """max |a − b| over all elements; equal infinities (a masked −∞) count as 0 and a
    shape mismatch or a NaN on one side only as ∞."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.where(np.isnan(diff), np.inf, diff).max())


def finite_scale(*arrays) -> float:
    """max |value| over the finite elements of ``arrays`` (0 if there are none)."""
    scale = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=float)
        finite = a[np.isfinite(a)]
        if finite.size:
            scale = max(scale, float(np.abs(finite).max()))
    return scale
