"""Open what a call side talks to: microphone and speaker (or WAV files).

The display is opened with :func:`display.output.open_output`, as in the live call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.call.audio import AudioSink, AudioSource, AudioUnavailableError

__all__ = ["open_audio"]


def open_audio(
    audio: Any, sends: bool, receives: bool, log: Callable[[str], None]
) -> tuple[AudioSource | None, AudioSink | None, str]:
    """``(microphone, speaker, note)`` for an :class:`app.call.session.AudioConfig`.

    Without a usable sound device the call goes on silently and ``note`` says why.
    """
    if audio.mode == "off":
        return None, None, "audio off"
    mic: AudioSource | None = None
    spk: AudioSink | None = None
    if audio.mode == "files":
        from pipeline.call.audio import WavSink, WavSource

        mic = WavSource(audio.audio_in, audio.fmt) if (sends and audio.audio_in) else None
        spk = WavSink(audio.audio_out, audio.fmt) if (receives and audio.audio_out) else None
        return mic, spk, ""
    from pipeline.call.audio import DeviceSink, DeviceSource

    try:
        mic = DeviceSource(audio.fmt) if sends else None
        spk = DeviceSink(audio.fmt) if receives else None
    except AudioUnavailableError as e:
        if mic is not None:
            mic.close()
        log(f"{e}\nthe call goes on without sound")
        return None, None, str(e)
    return mic, spk, ""
