"""What a live call tells the person who started it: a status line every few seconds, the driver's
face lost and found, and a summary at the end. Made from the launcher's metrics (the roles'
heartbeats), so it says the same as ``--metrics-out``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["CallReport"]


def _counter(m: Mapping[str, Any], role: str, key: str) -> int:
    r = m.get("roles", {}).get(role)
    return int(r["stats"].get("counters", {}).get(key, 0)) if r else 0


class CallReport:
    """Prints (through ``log``) at most one status line per ``every_s`` seconds.

    Args:
        log: where the lines go (the launcher's log: the terminal).
        every_s: seconds between status lines.
        face_lost_s: a driver without a face for this long is reported once (and its return).
    """

    def __init__(self, log: Callable[[str], Any], every_s: float = 5.0, face_lost_s: float = 3.0) -> None:
        self.log = log
        self.every_s = every_s
        self.face_lost_s = face_lost_s
        self._last_line = -1e9
        self._sent = 0
        self._last_face = 0.0
        self._face_reported = False

    def update(self, m: Mapping[str, Any]) -> None:
        """Called with fresh metrics (about once a second)."""
        t = float(m.get("elapsed_s", 0.0))
        self._watch_face(m, t)
        if t - self._last_line < self.every_s:
            return
        self._last_line = t
        f = m.get("frames", {})
        if not f.get("presented"):
            self.log(f"live call: starting ({t:.0f} s): preparing the photo, waiting for the first frame")
            return
        g2g = f.get("glass_to_glass_ms", {})
        restarts = sum(int(r.get("restarts", 0)) for r in m.get("roles", {}).values())
        self.log(
            f"live call: {f.get('fps', 0.0):.1f} fps, glass-to-glass {g2g.get('p50', 0):.0f} ms "
            f"(p90 {g2g.get('p90', 0):.0f}), {f['presented']} frames, "
            f"{_counter(m, 'compositor', 'frames_partial')} partial, {restarts} restarts"
        )

    def _watch_face(self, m: Mapping[str, Any], t: float) -> None:
        sent = _counter(m, "capture", "frames_sent")
        if sent != self._sent:
            if self._face_reported:
                self.log("live call: the driver's face is back")
            self._sent, self._last_face, self._face_reported = sent, t, False
            return
        if (
            not self._face_reported
            and _counter(m, "capture", "no_face")
            and t - self._last_face >= self.face_lost_s
        ):
            self._face_reported = True
            self.log(
                f"live call: no face in the driver for {t - self._last_face:.0f} s (face the camera, "
                "in even light; the hologram holds the last pose)"
            )

    def summary(self, m: Mapping[str, Any]) -> str:
        """One paragraph for the end of the call."""
        f = m.get("frames", {})
        g2g = f.get("glass_to_glass_ms", {})
        t = float(m.get("elapsed_s", 0.0))
        restarts = sum(int(r.get("restarts", 0)) for r in m.get("roles", {}).values())
        presented = int(f.get("presented", 0))
        complete = _counter(m, "compositor", "frames_complete")
        if not presented:
            no_face = _counter(m, "capture", "no_face")
            why = (
                "no face was found in the driver"
                if no_face and not _counter(m, "capture", "frames_sent")
                else "no frame was shown"
            )
            return f"summary: {t:.0f} s, {why}"
        comp = m.get("roles", {}).get("compositor", {})
        start = float(comp.get("startup_s") or 0.0)
        shown_for = max(t - start, 1e-9)
        return (
            f"summary: {t:.0f} s, {presented} frames shown ({complete} complete, "
            f"{complete / shown_for:.1f} complete frames/s after the first), glass-to-glass "
            f"p50 {g2g.get('p50', 0):.0f} ms / p90 {g2g.get('p90', 0):.0f} ms, "
            f"{_counter(m, 'compositor', 'frames_partial')} partial, {restarts} restarts, "
            f"{_counter(m, 'capture', 'no_face')} driver frames without a face"
        )
