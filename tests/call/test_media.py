"""What a call sends: compressed driver frames, the source, audio blocks and their playout."""

from __future__ import annotations

import time
import wave
from importlib import resources

import numpy as np
import pytest

from pipeline.call.audio import AudioFormat, MuLawCodec, Playout, WavSink, WavSource
from pipeline.call.media import (
    MediaSettings,
    pack_driver_frame,
    pack_source,
    unpack_driver_frame,
    unpack_source,
)
from pipeline.wire import WireError, decode, encode


@pytest.fixture(scope="module")
def face():
    from pipeline.tracking import prepare_photo

    return prepare_photo(str(resources.files("assets.samples").joinpath("astronaut.jpg")))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-9)))


def test_driver_frame_round_trip_through_the_wire(face):
    settings = MediaSettings()
    msg = pack_driver_frame(face, settings)
    frames = encode(msg)
    size = sum(memoryview(f).nbytes for f in frames)
    out = unpack_driver_frame(decode(frames, copy=True))
    print(f"driver frame on the wire: {size / 1000:.1f} kB (256 px crop, JPEG 70)")
    assert size < 25_000, "a compressed driver frame should be a few kB, not a raw crop (786 kB)"
    assert out.crop_rgb_u8.shape == (512, 512, 3) and out.matte.shape == (512, 512)
    assert _psnr(out.crop_rgb_u8, face.crop_rgb_u8) > 25.0
    assert np.abs(out.matte - face.matte).mean() < 0.01
    assert np.abs(out.landmarks_px - face.landmarks_px).max() <= 1 / 64 + 1e-6
    np.testing.assert_allclose(out.camera.cam2world, face.camera.cam2world)
    np.testing.assert_allclose(out.camera.intrinsics, face.camera.intrinsics)


def test_source_round_trip_keeps_full_quality(face):
    msg = pack_source(face, MediaSettings(), name="astronaut")
    out = unpack_source(decode(encode(msg), copy=True))
    assert msg.kind == "source" and msg.meta["name"] == "astronaut"
    assert _psnr(out.crop_rgb_u8, face.crop_rgb_u8) > 35.0
    np.testing.assert_array_equal(out.landmarks_px, face.landmarks_px.astype(np.float32))


def test_bad_payloads_raise_wire_errors(face):
    msg = pack_driver_frame(face, MediaSettings())
    msg.arrays["crop_jpeg"] = np.frombuffer(b"not a jpeg at all", np.uint8)
    with pytest.raises(WireError) as e:
        unpack_driver_frame(decode(encode(msg), copy=True))
    assert e.value.reason == "bad_image"
    msg = pack_driver_frame(face, MediaSettings())
    msg.meta["codec"] = "raw"
    with pytest.raises(WireError, match="codec"):
        unpack_driver_frame(msg)
    msg = pack_driver_frame(face, MediaSettings())
    del msg.arrays["matte_jpeg"]
    with pytest.raises(WireError, match="matte_jpeg"):
        unpack_driver_frame(msg)
    with pytest.raises(ValueError):
        MediaSettings(crop_px=32)


def test_a_crop_declaring_a_huge_image_is_refused_before_decoding(face):
    """A peer's JPEG whose header claims 30000 x 30000 px (3 GB decoded) is refused from its header."""
    msg = pack_driver_frame(face, MediaSettings())
    jpeg = bytearray(msg.arrays["crop_jpeg"].tobytes())
    sof = bytes(jpeg).find(b"\xff\xc0")
    assert sof > 0
    jpeg[sof + 5 : sof + 9] = (30000).to_bytes(2, "big") * 2
    msg.arrays["crop_jpeg"] = np.frombuffer(bytes(jpeg), np.uint8)
    with pytest.raises(WireError, match="declares 30000x30000"):
        unpack_driver_frame(msg)


def test_mulaw_codec_halves_the_size_and_keeps_speech_quality():
    codec = MuLawCodec()
    t = np.arange(16000) / 16000
    pcm = (6000 * np.sin(2 * np.pi * 440 * t) + 800 * np.sin(2 * np.pi * 3100 * t)).astype(np.int16)
    codes = codec.encode(pcm)
    assert codes.dtype == np.uint8 and codes.nbytes * 2 == pcm.nbytes
    back = codec.decode(codes)
    err = back.astype(np.float64) - pcm
    snr = 10 * np.log10(np.mean(pcm.astype(np.float64) ** 2) / np.mean(err**2))
    assert snr > 30.0, f"mu-law SNR {snr:.1f} dB"
    assert codec.decode(codec.encode(np.zeros(10, np.int16))).max() <= 8


def test_playout_plays_in_order_at_the_delay_and_drops_late_blocks():
    fmt = AudioFormat(16000, 20)
    p = Playout(fmt, delay_ms=100)
    blk = fmt.block_ns
    for k in range(5):
        p.push(k * blk, np.full(fmt.block_samples, k + 1, np.int16))
    assert p.pull(50_000_000, fmt.block_samples).max() == 0  # nothing due yet (silence)
    played = [int(p.pull(100_000_000 + k * blk, fmt.block_samples)[0]) for k in range(3)]
    assert played == [1, 2, 3]
    p.pull(100_000_000 + 10 * blk, fmt.block_samples)  # far later: blocks 4 and 5 are too late
    assert p.late_dropped == 2 and p.played == 3 and p.silent == 2


def test_playout_follows_the_video_latency():
    """Simulated clock: blocks arrive 25 ms after capture, the avatar shows frames 150 ms late."""
    fmt = AudioFormat(16000, 20)
    p = Playout(fmt)
    blk = fmt.block_ns
    t_pull = 0
    for k in range(600):
        p.push(k * blk, np.ones(fmt.block_samples, np.int16))
        t_pull = k * blk + 25_000_000
        p.follow_video(150.0)
        p.pull(t_pull, fmt.block_samples)
    offsets = list(p.offsets_ms)[-100:]
    assert p.played > 400
    assert abs(float(np.median(offsets))) <= fmt.block_ms, f"audio-video offset {np.median(offsets):.1f} ms"


def test_wav_source_and_sink(tmp_path):
    fmt = AudioFormat(16000, 20)
    src_path = tmp_path / "in.wav"
    pcm = (3000 * np.sin(2 * np.pi * 500 * np.arange(8000) / 8000)).astype("<i2")
    with wave.open(str(src_path), "wb") as w:  # 8 kHz stereo: resampled and mixed down
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.repeat(pcm, 2).tobytes())
    src = WavSource(src_path, fmt, loop=False)
    blocks = []
    while (b := src.read()) is not None:
        blocks.append(b)
    assert len(blocks) == 50 and all(b[0].shape == (320,) for b in blocks)
    assert [b[1] for b in blocks] == sorted(b[1] for b in blocks)
    spectrum = np.abs(np.fft.rfft(np.concatenate([b[0] for b in blocks]).astype(np.float64)))
    freq = np.argmax(spectrum) * 16000 / (2 * (spectrum.size - 1))
    assert abs(freq - 500) <= 2

    out = tmp_path / "out.wav"
    sink = WavSink(out, fmt)
    pulls = []

    def pull(t_ns: int, n: int) -> np.ndarray:
        pulls.append(t_ns)
        return np.full(n, 7, np.int16)

    sink.start(pull)
    deadline = time.monotonic() + 30
    while len(pulls) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    sink.close()
    with wave.open(str(out), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert len(pulls) >= 10 and pulls == sorted(pulls)
    assert data.size >= 10 * 320 and set(np.unique(data)) == {7}
    with pytest.raises(Exception, match="cannot read"):
        WavSource(tmp_path / "missing.wav", fmt)


def test_missing_sound_devices_are_reported_and_the_call_goes_on():
    from app.call.devices import open_audio
    from app.call.session import AudioConfig

    said: list[str] = []
    mic, spk, note = open_audio(AudioConfig("device"), True, True, said.append)
    if mic is None and spk is None:  # this machine: no PortAudio, or no devices
        assert "--no-audio" in note and "without sound" in said[0]
    else:  # a machine with a microphone and a speaker
        assert note == ""
        for d in (mic, spk):
            if d is not None:
                d.close()
    assert open_audio(AudioConfig("off"), True, True, said.append)[:2] == (None, None)


def test_a_sound_device_stream_is_opened_mono_int16_and_its_failure_says_what_to_do():
    """The stream opening shared by microphone and speaker (PortAudio itself cannot be assumed
    here: its stream type is stood in for)."""
    from pipeline.call.audio import AudioUnavailableError, _start_stream

    opened: dict = {}

    class Stream:
        def __init__(self, **kwargs) -> None:
            opened.update(kwargs)

        def start(self) -> None:
            opened["started"] = True

    fmt = AudioFormat()
    s = _start_stream(Stream, fmt, 3, print, "microphone", "use --no-audio")
    assert isinstance(s, Stream) and opened["started"] and opened["device"] == 3
    assert (opened["channels"], opened["dtype"], opened["samplerate"]) == (1, "int16", fmt.rate)

    class Missing:
        def __init__(self, **kwargs) -> None:
            raise ValueError("No output device matching 'USB'")

    with pytest.raises(
        AudioUnavailableError, match=r"^no speaker: No output device matching 'USB'\. use --no-audio$"
    ):
        _start_stream(Missing, fmt, "USB", print, "speaker", "use --no-audio")
