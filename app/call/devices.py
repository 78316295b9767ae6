"""Open what a call side talks to: microphone and speaker (or WAV files), and the display."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.call.audio import AudioSink, AudioSource, AudioUnavailableError

__all__ = ["open_audio", "open_display_output"]


def open_audio(
    audio: Any, sends: bool, receives: bool, log: Callable[[str], None]
) -> tuple[AudioSource | None, AudioSink | None, str]:
    """``(microphone, speaker, note)`` for an :class:`app.call.session.AudioConfig`.

    Without a usable sound device the call goes on silently and ``note`` says why.
    """
    if audio.mode == "off":
        return None, None, "audio off"
    if audio.mode == "files":
        from app.call.audio import WavSink, WavSource

        mic = WavSource(audio.audio_in, audio.fmt) if (sends and audio.audio_in) else None
        spk = WavSink(audio.audio_out, audio.fmt) if (receives and audio.audio_out) else None
        return mic, spk, ""
    from app.call.audio import DeviceSink, DeviceSource

    mic = None
    try:
        mic = DeviceSource(audio.fmt) if sends else None
        spk = DeviceSink(audio.fmt) if receives else None
    except AudioUnavailableError as e:
        if mic is not None:
            mic.close()
        log(f"{e}\nthe call goes on without sound")
        return None, None, str(e)
    return mic, spk, ""


def open_display_output(
    sink: str, num_views: int, view_size: int, calibration_path: str | None, log: Callable[[str], None]
) -> tuple[Any, Any]:
    """``(compositor, DisplayApp or None)``: offscreen quilt, preview window or Looking Glass.

    Raises ValueError for a calibration file that cannot be used.
    """
    from display.quilt import layout_for_views

    layout = layout_for_views(num_views, 1.0, view_size)
    if sink == "headless":
        from display.compositor import Compositor, CompositorConfig
        from display.gl import create_headless_context
        from display.sinks import OffscreenSink

        ctx = create_headless_context()
        w, h = layout.tile_w_px * layout.cols, layout.tile_h_px * layout.rows
        comp = Compositor(OffscreenSink(ctx, w, h), CompositorConfig(layout, "quilt", show_status=False))
        return comp, None
    from display.window import configure_pyglet

    configure_pyglet(headless=False)
    from app.calibration_settings import find_display
    from calibration.discovery import NoCalibrationError
    from calibration.visual import CalibrationError
    from display.window import DisplayApp, open_display

    calibration, window_xy = None, None
    if sink == "lookingglass":
        try:
            found = find_display(calibration_path)
            calibration, window_xy = found.lenticular(), found.window_xy
        except NoCalibrationError as e:  # also a Hololuminescent display: its message offers the preview
            log(str(e))
        except CalibrationError as e:
            raise ValueError(str(e)) from e
    window, comp = open_display(
        calibration, layout, force_preview=sink == "preview", log=log, window_xy=window_xy
    )
    return comp, DisplayApp(window, comp)
