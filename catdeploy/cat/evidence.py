"""The evidence a correction must show before it is applied (CAT and --affine-layers).

Every image is scored by a fit that did not see it (cross-fitting over folds of the CAT images, or
a fit part and a scoring part). A candidate is compared with no correction on the same images,
pairwise: d_i = correct_i(candidate) - correct_i(none) in {-1, 0, 1}, gain = mean(d) in points
with its standard error sd(d) / sqrt(n) and a two-sided normal interval. The intervals are
simultaneous over the candidates (Bonferroni: each at 1 - (1 - CONFIDENCE) / m for m candidates),
because the winner of many noisy comparisons looks better than it is. Among the candidates whose
cost is acceptable, the best estimated gain is found, and the cheapest candidate within one
standard error of it is taken (the one-standard-error rule); it is applied only when its interval
lies above zero, else "none: gain not significant".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


def simultaneous_z(candidates: int, confidence: float = CONFIDENCE) -> float:
    """Normal quantile of two-sided intervals that hold together for `candidates` comparisons."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / (2.0 * max(candidates, 1)))


@dataclass(frozen=True)
class Gain:
    """Paired gain of a candidate over no correction, in top-1 points, on `n` images."""

    mean: float
    se: float
    n: int
    z: float = 1.959963984540054   # of the interval (simultaneous_z for m candidates)

    @property
    def low(self) -> float:
        return self.mean - self.z * self.se

    @property
    def high(self) -> float:
        return self.mean + self.z * self.se

    @property
    def significant(self) -> bool:
        return self.low > 0.0

    def to_dict(self) -> dict:
        return {"gain": self.mean, "gain_se": self.se, "gain_low": self.low, "gain_high": self.high,
                "images": self.n, "interval_z": self.z}

    def __str__(self) -> str:
        return f"{self.mean:+.2f} points [{self.low:+.2f}, {self.high:+.2f}] ({self.n} images)"


def paired_gain(correct_candidate: np.ndarray, correct_none: np.ndarray, z: float = 1.959963984540054) -> Gain:
    """Gain (points) of per-image correctness `correct_candidate` over `correct_none` (same
    images), with an interval of `z` standard errors."""
    a = np.asarray(correct_candidate, np.float64)
    b = np.asarray(correct_none, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired_gain: correctness vectors {a.shape} and {b.shape} must be equal and 1-D")
    d = a - b
    n = len(d)
    se = float(np.std(d, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return Gain(100.0 * float(d.mean()), 100.0 * se, n, z)


def correct_top1(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row top-1 correctness (lower index on ties, like TFLite ARG_MAX and integer/metrics.top_k)."""
    return np.argmax(np.asarray(logits, np.float64), axis=1) == np.asarray(labels)


@dataclass(frozen=True)
class Choice:
    """The selected candidate's index (None: no correction) and why."""

    index: int | None
    reason: str


def choose_by_evidence(gains: list[Gain], costs: list[float], eligible: list[bool], order: list[tuple]) -> Choice:
    """One-standard-error rule with a significance gate.

    gains[i], costs[i] (the candidate's cost share, for the record), eligible[i] (its cost is
    acceptable), order[i] (a sort key, smallest = cheapest / simplest). Returns the cheapest eligible
    candidate whose gain is within one standard error of the best eligible gain, if its interval
    lies above zero."""
    candidates = [i for i, ok in enumerate(eligible) if ok]
    if not candidates:
        return Choice(None, "none: no candidate within the cost limit")
    best = max(candidates, key=lambda i: (gains[i].mean, -gains[i].se, [-v for v in order[i]]))
    threshold = gains[best].mean - gains[best].se
    near = [i for i in candidates if gains[i].mean >= threshold]
    chosen = min(near, key=lambda i: (order[i], -gains[i].mean))
    g = gains[chosen]
    if not g.significant:
        return Choice(None, f"none: gain not significant (best {gains[best]}; one-SE choice {g})")
    why = "the best estimated gain" if chosen == best else \
        f"the simplest within one standard error of the best ({gains[best].mean:+.2f} points)"
    return Choice(chosen, f"applied: {why}, gain {g}, cost {costs[chosen]:.1%}")
