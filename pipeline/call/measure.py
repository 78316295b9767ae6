"""Measurements of a call link: bytes per second and the peer's clock offset.

:class:`ClockSync` estimates, from ping/pong exchanges, how far the peer's
``time.monotonic_ns()`` clock is from ours (NTP's formula on the sample with the smallest
round trip, whose error is at most half that round trip), so that the peer's capture times can
be compared with our display times.
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["ClockSync", "Rate"]


class Rate:
    """Bytes per second over the last ``horizon_s`` seconds, and the total."""

    def __init__(self, horizon_s: float = 3.0) -> None:
        self.horizon = horizon_s
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.events.append((now, n))
            self.total += n
            while self.events and now - self.events[0][0] > self.horizon:
                self.events.popleft()

    def kBps(self) -> float:
        now = time.monotonic()
        with self._lock:
            recent = sum(n for t, n in self.events if now - t <= self.horizon)
        return recent / self.horizon / 1000.0


class ClockSync:
    """Peer clock offset from ping/pong timestamps (all in ns).

    ``t0`` ping sent (our clock), ``t1`` ping received (peer), ``t2`` pong sent (peer), ``t3``
    pong received (ours): offset = ((t1 - t0) + (t2 - t3)) / 2, rtt = (t3 - t0) - (t2 - t1).

    >>> c = ClockSync(); c.add(0, 1_000_500, 1_000_600, 1_100)   # peer 1 ms ahead, 1 ms RTT
    >>> c.offset_ns(), c.rtt_ns()
    (1000000, 1000)
    """

    def __init__(self, samples: int = 16) -> None:
        self._samples: deque[tuple[int, int]] = deque(maxlen=samples)  # (rtt, offset)
        self._lock = threading.Lock()

    def add(self, t0: int, t1: int, t2: int, t3: int) -> None:
        with self._lock:
            self._samples.append(((t3 - t0) - (t2 - t1), ((t1 - t0) + (t2 - t3)) // 2))

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def _best(self) -> tuple[int, int] | None:
        with self._lock:
            return min(self._samples) if self._samples else None

    def offset_ns(self) -> int | None:
        best = self._best()
        return None if best is None else best[1]

    def rtt_ns(self) -> int | None:
        best = self._best()
        return None if best is None else best[0]

    def to_local(self, t_peer_ns: int) -> int | None:
        """A peer time on our clock (None before the first pong)."""
        offset = self.offset_ns()
        return None if offset is None else t_peer_ns - offset
