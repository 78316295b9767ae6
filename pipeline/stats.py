"""Rolling statistics of a stage: latency percentiles, counters and event rates.

Every process shell (the live call's roles, a call's link and session) keeps one
:class:`Stats`, sends its :meth:`Stats.snapshot` with its heartbeats, and the metrics files are
made of these snapshots.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

import numpy as np

__all__ = ["Stats"]


class Stats:
    """Rolling statistics of one role."""

    def __init__(self, window: int = 240) -> None:
        self._lat: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self.counters: dict[str, int] = defaultdict(int)
        self._events: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))

    def time(self, stage: str, ms: float) -> None:
        self._lat[stage].append(ms)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] += n

    def tick(self, event: str) -> None:
        """Record an event for rate computation (e.g. 'frames')."""
        self._events[event].append(time.monotonic())
        self.counters[event] += 1

    def rate(self, event: str, horizon_s: float = 3.0) -> float:
        ev = self._events.get(event)
        if not ev or len(ev) < 2:
            return 0.0
        now = time.monotonic()
        recent = [t for t in ev if now - t <= horizon_s]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        lat = {}
        for k, v in self._lat.items():
            if v:
                a = np.fromiter(v, dtype=np.float64)
                lat[k] = {
                    "p50": round(float(np.percentile(a, 50)), 3),
                    "p90": round(float(np.percentile(a, 90)), 3),
                    "p99": round(float(np.percentile(a, 99)), 3),
                    "n": len(a),
                }
        rates = {k: round(self.rate(k), 3) for k in self._events}
        return {"latency_ms": lat, "counters": dict(self.counters), "rates_hz": rates}
