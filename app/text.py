"""Small helpers for the words and numbers the app prints.

>>> plural(1, "frame"), plural(20, "frame"), plural(2, "person", "people")
('1 frame', '20 frames', '2 people')
>>> signed(-0.04), signed(12.345), signed(-3.0, 0)
('+0.0', '+12.3', '-3')
"""

from __future__ import annotations

__all__ = ["plural", "signed"]


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 frame``, ``2 frames`` (``words`` for an irregular plural)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def signed(value: float, digits: int = 1) -> str:
    """``value`` with its sign and ``digits`` decimals, never ``-0`` (-0.04 -> ``+0.0``)."""
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text
