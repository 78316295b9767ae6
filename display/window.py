"""Windows (pyglet + moderngl): the Looking Glass output and the regular-monitor preview.

* :func:`find_looking_glass` picks the screen at the desktop position Looking Glass Bridge
  reports for the display (``windowCoords``) when that is known, else the screen whose size
  equals the calibration's ``screenW x screenH`` (a name containing "LKG" or "Looking Glass"
  wins a tie).
* :func:`open_display` opens a borderless, vsynced window exactly covering that screen at its
  origin and checks that its framebuffer is the panel's size; without a Looking Glass it says so
  and opens a regular preview window instead.
* :class:`DisplayApp` connects the window to a :class:`display.compositor.Compositor`: arrow
  keys or a horizontal mouse drag sweep through the views in preview, ``t`` toggles the test
  pattern, ``q`` or Esc closes.

pyglet must be configured before ``pyglet.window`` is imported (``headless`` for EGL, and
``debug_gl`` off because moderngl leaves benign errors queued); :func:`configure_pyglet` does it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import moderngl

from calibration.visual import Calibration
from display.compositor import Compositor, CompositorConfig
from display.quilt import QuiltLayout

__all__ = [
    "DisplayApp",
    "ScreenInfo",
    "WindowSink",
    "configure_pyglet",
    "find_looking_glass",
    "list_screens",
    "open_display",
]

#: Pixels of horizontal mouse drag per view step in preview.
DRAG_PX_PER_VIEW = 12


@dataclass(frozen=True)
class ScreenInfo:
    x: int
    y: int
    width_px: int
    height_px: int
    name: str = ""


def configure_pyglet(headless: bool = False) -> None:
    """Set pyglet's options; must run before anything imports ``pyglet.window``."""
    import pyglet

    if "pyglet.window" in sys.modules and bool(pyglet.options["headless"]) != headless:
        raise RuntimeError("pyglet.window was imported before configure_pyglet(); call it first")
    pyglet.options["headless"] = headless
    pyglet.options["debug_gl"] = False
    pyglet.options["shadow_window"] = False


def list_screens() -> list[ScreenInfo]:
    import pyglet

    out = []
    for s in pyglet.display.get_display().get_screens():
        name = ""
        get_name = getattr(s, "get_monitor_name", None)
        if callable(get_name):
            try:
                name = str(get_name() or "")
            except (AttributeError, NotImplementedError, OSError):
                name = ""
        out.append(ScreenInfo(s.x, s.y, s.width, s.height, name))
    return out


def find_looking_glass(
    screens: Sequence[ScreenInfo],
    calibration: Calibration,
    window_xy: tuple[int, int] | None = None,
    log: Callable[[str], None] | None = None,
) -> ScreenInfo | None:
    """The Looking Glass among ``screens``.

    With ``window_xy`` (Bridge's ``windowCoords``: the panel's top-left on the desktop), the
    screen whose top-left is there, provided it runs at the panel's native size (else None: the
    panel shows a hologram only 1:1). When no screen starts there (e.g. the desktop was
    rearranged since Bridge looked), or without ``window_xy``: the screen with the panel's native
    size (ties: a Looking Glass name, then not the first).
    """
    size = (calibration.screen_w_px, calibration.screen_h_px)
    if window_xy is not None:
        at = [s for s in screens if (s.x, s.y) == tuple(window_xy)]
        if at:
            s = at[0]
            if (s.width_px, s.height_px) == size:
                return s
            if log is not None:
                log(
                    f"The Looking Glass at ({s.x}, {s.y}) runs at {s.width_px}x{s.height_px} px, not its native "
                    f"{size[0]}x{size[1]}: set its native resolution at 100% scale."
                )
            return None
        if log is not None:
            log(
                f"No screen starts at ({window_xy[0]}, {window_xy[1]}), where Looking Glass Bridge places the "
                "display; looking for it by size."
            )
    matches = [s for s in screens if (s.width_px, s.height_px) == size]
    if not matches:
        return None
    named = [s for s in matches if "lkg" in s.name.lower() or "looking glass" in s.name.lower()]
    if named:
        return named[0]
    if len(matches) > 1 and screens and matches[0] == screens[0]:
        return matches[1]  # the primary monitor is rarely the Looking Glass
    return matches[0]


class WindowSink:
    """Draw into a pyglet window's default framebuffer through moderngl."""

    def __init__(self, window: Any, ctx: moderngl.Context) -> None:
        self.window = window
        self.ctx = ctx
        #: When True, each finished frame is read back into ``last_rgb`` before the swap.
        self.capture = False
        self.last_rgb: Any = None

    @property
    def size_px(self) -> tuple[int, int]:
        w, h = self.window.get_framebuffer_size()
        return int(w), int(h)

    def begin(self) -> None:
        self.window.switch_to()
        self.ctx.screen.use()
        self.ctx.screen.clear(0.0, 0.0, 0.0, 1.0)
        self._drain_default_framebuffer_error()

    def _drain_default_framebuffer_error(self) -> None:
        # moderngl's use()/clear()/read() on a window's default framebuffer queue a benign
        # GL_INVALID_OPERATION (it queries attachments that do not exist there). Drain it so
        # errors from our own drawing are the ones the compositor reports.
        _ = self.ctx.error

    def finish(self) -> None:
        if self.capture:
            self.last_rgb = self.read_rgb()
        self.window.flip()

    def read_rgb(self) -> Any:
        """The back buffer as drawn (top-down RGB); call between drawing and ``finish``."""
        import numpy as np

        from display.gl import check_gl_error

        check_gl_error(self.ctx, "drawing into the window")  # before the read's benign error
        w, h = self.size_px
        data = self.ctx.screen.read(components=3, alignment=1)
        self._drain_default_framebuffer_error()
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()

    def release(self) -> None:
        """The window owns its framebuffer; nothing to free here."""


def gl_config() -> Any:
    """The OpenGL 4.1 core, double-buffered configuration of every window of the app."""
    import pyglet

    config: Any = pyglet.gl.Config  # a factory of the platform's Config class (abstract in the stubs)
    return config(major_version=4, minor_version=1, forward_compatible=True, double_buffer=True)


def open_display(
    calibration: Calibration | None,
    layout: QuiltLayout,
    preview_size_px: tuple[int, int] = (960, 720),
    force_preview: bool = False,
    log: Callable[[str], Any] = print,
    *,
    window_xy: tuple[int, int] | None = None,
    caption: str = "voodoo-holo",
) -> tuple[Any, Compositor]:
    """Open the Looking Glass window (lenticular) or, without one, a preview window.

    ``window_xy``: where Looking Glass Bridge says the panel sits on the desktop, when known
    (see :func:`find_looking_glass`). ``caption`` names the window (the preview adds
    "preview"). Returns ``(window, compositor)``; the caller releases the compositor and
    closes the window.
    """
    import pyglet

    screen_info = None
    if calibration is not None and not force_preview:
        screen_info = find_looking_glass(list_screens(), calibration, window_xy, log)
        if screen_info is None:
            log(
                f"No Looking Glass found: no screen is {calibration.screen_w_px}x{calibration.screen_h_px} px "
                "(connect it, set it to its native resolution at 100% scale, extended desktop). "
                "Showing the preview instead."
            )
    elif calibration is None and not force_preview:
        log("No Looking Glass calibration: showing the preview.")
    display = pyglet.display.get_display()
    if screen_info is not None:
        assert calibration is not None
        screen = next(
            s for s in display.get_screens() if (s.x, s.y, s.width, s.height) == (
                screen_info.x, screen_info.y, screen_info.width_px, screen_info.height_px,
            )
        )  # fmt: skip
        window = pyglet.window.Window(
            width=screen_info.width_px,
            height=screen_info.height_px,
            style=pyglet.window.Window.WINDOW_STYLE_BORDERLESS,
            screen=screen,
            vsync=True,
            config=gl_config(),
            caption=f"{caption} (Looking Glass)",
        )
        window.set_location(screen_info.x, screen_info.y)
        ctx = moderngl.create_context(require=410)
        ctx.gc_mode = "context_gc"
        sink = WindowSink(window, ctx)
        if sink.size_px != (calibration.screen_w_px, calibration.screen_h_px):
            window.close()
            raise RuntimeError(
                f"the Looking Glass window's framebuffer is {sink.size_px[0]}x{sink.size_px[1]} px, not the "
                f"panel's {calibration.screen_w_px}x{calibration.screen_h_px}: set the display's scale to 100%"
            )
        comp = Compositor(sink, CompositorConfig(layout, "lenticular"), calibration.shader_params())
        log(
            f"Looking Glass: {screen_info.width_px}x{screen_info.height_px} px at ({screen_info.x}, {screen_info.y})"
        )
        return window, comp
    window = pyglet.window.Window(
        width=preview_size_px[0],
        height=preview_size_px[1],
        resizable=True,
        vsync=True,
        config=gl_config(),
        caption=f"{caption} (preview)",
    )
    ctx = moderngl.create_context(require=410)
    ctx.gc_mode = "context_gc"
    comp = Compositor(WindowSink(window, ctx), CompositorConfig(layout, "preview"))
    return window, comp


class DisplayApp:
    """Event handling for a display window: views sweep, test pattern, close keys.

    ``poll`` (optional) is called once per tick with the compositor, to submit new views.
    """

    def __init__(self, window: Any, compositor: Compositor, poll: Callable[[Compositor], None] | None = None):
        from pyglet.window import key

        self.window = window
        self.compositor = compositor
        self.poll = poll
        self.closed = False
        self._drag_px = 0.0
        self._key = key
        window.push_handlers(
            on_key_press=self.on_key_press,
            on_mouse_drag=self.on_mouse_drag,
            on_draw=self.on_draw,
            on_close=self.on_close,
        )

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        k = self._key
        if symbol in (k.Q, k.ESCAPE):
            self.on_close()
            return True
        if symbol == k.RIGHT:
            self.compositor.step_view(1)
        elif symbol == k.LEFT:
            self.compositor.step_view(-1)
        elif symbol == k.T:
            self.compositor.show_test_pattern(not self.compositor.test_pattern)
        else:
            return False
        return True

    def on_mouse_drag(self, x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int) -> None:
        self._drag_px += dx
        steps = int(self._drag_px / DRAG_PX_PER_VIEW)
        if steps:
            self._drag_px -= steps * DRAG_PX_PER_VIEW
            self.compositor.step_view(steps)

    def on_draw(self) -> None:
        self.compositor.present(force=True)

    def on_close(self) -> bool:
        self.closed = True
        return True

    def tick(self) -> None:
        """One iteration: events, new views, draw if something changed."""
        self.window.dispatch_events()
        if self.poll is not None:
            self.poll(self.compositor)
        if not self.closed:
            self.compositor.present()

    def run(self, max_frames: int | None = None) -> None:
        """Loop until closed (or ``max_frames`` ticks); vsync paces the loop."""
        n = 0
        try:
            while not self.closed and (max_frames is None or n < max_frames):
                self.tick()
                n += 1
        finally:
            self.compositor.release()
            self.window.close()
