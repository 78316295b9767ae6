"""One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on arrays, for landmark smoothing.

A low-pass filter whose cutoff rises with the signal's speed: at rest the cutoff is
``min_cutoff_hz`` (jitter is removed), during fast motion it grows by ``beta`` per unit of
speed so the output follows without visible lag. Every array element is filtered
independently, with its own speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["OneEuroConfig", "OneEuroFilter"]


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of :class:`OneEuroFilter` (units: the signal's unit, seconds).

    Attributes:
        min_cutoff_hz: cutoff at rest (lower = smoother, more lag for slow drifts).
        beta: cutoff increase per unit/s of speed (higher = less lag on fast motion).
        d_cutoff_hz: cutoff of the speed estimate itself.
    """

    min_cutoff_hz: float = 1.0
    beta: float = 0.05
    d_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff_hz <= 0 or self.d_cutoff_hz <= 0:
            raise ValueError("One-Euro cutoffs must be > 0 Hz")
        if self.beta < 0:
            raise ValueError(f"One-Euro beta must be >= 0, got {self.beta}")


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Stateful One-Euro filter over arrays of a fixed shape."""

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t_s: float | None = None

    def reset(self) -> None:
        """Forget the history (the next sample passes through unchanged)."""
        self._x = self._dx = self._t_s = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t_s`` (seconds, increasing)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or self._t_s is None:
            self._x, self._dx, self._t_s = x.copy(), np.zeros_like(x), t_s
            return x.copy()
        dt = t_s - self._t_s
        if dt <= 0:
            # Same or older timestamp (a repeated frame): keep the state, return the estimate.
            return self._x.copy()
        c = self.config
        dx = (x - self._x) / dt
        dx_hat = self._dx + _alpha(c.d_cutoff_hz, dt) * (dx - self._dx)
        cutoff = c.min_cutoff_hz + c.beta * np.abs(dx_hat)
        x_hat = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._x, self._dx, self._t_s = x_hat, dx_hat, t_s
        return x_hat.copy()
