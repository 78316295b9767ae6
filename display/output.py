"""Open where views are shown: the Looking Glass, a preview window, or an offscreen quilt.

:func:`open_output` is the one way the live call's compositor and a two-party call open their
output; both then feed the returned :class:`~display.compositor.Compositor` with views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from calibration.visual import Calibration
from display.compositor import Compositor, CompositorConfig
from display.quilt import QuiltLayout

if TYPE_CHECKING:
    import moderngl

    from display.window import DisplayApp

__all__ = ["OutputKind", "open_output"]

#: ``lookingglass``: lenticular output on the panel (a preview window when it is not
#: connected); ``preview``: one view in a regular window; ``headless``: an offscreen quilt.
OutputKind = Literal["lookingglass", "preview", "headless"]


def open_output(
    kind: OutputKind,
    layout: QuiltLayout,
    calibration: Calibration | None,
    *,
    make_context: Callable[[], moderngl.Context],
    window_xy: tuple[int, int] | None = None,
    caption: str = "voodoo-holo",
    log: Callable[[str], Any] = print,
) -> tuple[Compositor, DisplayApp | None]:
    """``(compositor, window app or None)`` for ``kind``.

    ``make_context`` makes the offscreen context of the headless output (windows bring their
    own); ``window_xy`` is where the Looking Glass sits on the desktop when known.
    Raises RuntimeError when a window cannot be opened on the panel as required.
    """
    if kind == "headless":
        from display.sinks import OffscreenSink

        ctx = make_context()
        sink = OffscreenSink(ctx, layout.quilt_w_px, layout.quilt_h_px)
        return Compositor(sink, CompositorConfig(layout, "quilt", show_status=False)), None
    from display.window import configure_pyglet

    configure_pyglet(headless=False)
    from display.window import DisplayApp, open_display

    window, comp = open_display(
        calibration if kind == "lookingglass" else None,
        layout,
        force_preview=kind == "preview",
        window_xy=window_xy,
        caption=caption,
        log=log,
    )
    return comp, DisplayApp(window, comp)
