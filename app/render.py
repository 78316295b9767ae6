"""Offline rendering: re-enact a photo from every frame of a driver video and write video files.

This is the core of ``voodoo-holo render``. It runs the shared stages of
:mod:`pipeline.reenact` in one process (``Reenactor.track`` -> ``drive`` -> ``render``, the
same ones the live pipeline runs in its worker processes) and streams what they draw to
H.264 MP4 files:

- ``quilt`` (default): one quilt video for a Looking Glass, named by the quilt convention
  (``astronaut_qs6x4a0.75.mp4``). Views are rendered square (``view_size``) and each tile is
  the centre of a view cropped to the display aspect.
- ``views``: one video per view, ``<stem>_views/view_00.mp4`` ... (square views).
- ``sbs``: source | driver | result side by side (the result is the single centre view).

Every driver frame gives exactly one output frame, at the driver's frame rate. Frames where
the tracker finds no face hold the last pose; frames before the first face show the first
face's pose; both are counted (:attr:`RenderResult.frames_without_face`). The driver's audio
track, if any, is muxed into the finished files.

Interruptions: the MP4 files are written fragmented, frame by frame, so an interrupted
render (Ctrl-C, which finishes the files properly, or even a killed process) leaves files
that play up to where the render stopped. ``resume=True`` counts the frames already in each
output and renders only the rest into a new segment, then joins the two with ffmpeg's concat
demuxer (stream copy). The frames before the resume point are still tracked and driven,
without rendering, so the tracker's smoothing and the avatar's neutral frame are the same as
in an uninterrupted render.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from display.quilt import QuiltLayout, layout_for_views, quilt_filename
from pipeline.cameras import DEFAULT_VIEW_CONE_DEG, SweepMode

__all__ = [
    "DEFAULT_ASPECT",
    "DEFAULT_VIEW_SIZE",
    "OutputFormat",
    "RenderConfig",
    "RenderError",
    "RenderResult",
    "VideoProbe",
    "output_paths",
    "probe_video",
    "quilt_layout",
    "render_offline",
    "sample_driver",
    "sample_source",
]

OutputFormat = Literal["quilt", "views", "sbs"]

#: Default view aspect of quilt tiles: the Looking Glass Portrait's 3:4 (portrait-shaped
#: heads fill it; 24 views then tile as a near-square 6 x 4 quilt).
DEFAULT_ASPECT = 0.75
#: Default rendered view size: 24 views of 384 px render in about half a second on a
#: 2-core CPU with the mesh avatar; the quilt is 1728 x 1536.
DEFAULT_VIEW_SIZE = 384
#: Frame rate given to a folder of images (a video file keeps its own).
DEFAULT_IMAGE_FPS = 25.0

_FRAGMENTED = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]


class RenderError(RuntimeError):
    """An offline render that cannot start or go on; ``str(e)`` says what to do."""


def sample_source() -> Path:
    """The bundled sample photo (public domain), the default source."""
    return Path(str(resources.files("assets.samples").joinpath("astronaut.jpg")))


def sample_driver() -> Path:
    """The bundled sample driver clip (made by ``assets/samples/make_driver_clip.py``)."""
    return Path(str(resources.files("assets.samples").joinpath("hopper_driver.mp4")))


@dataclass(frozen=True)
class RenderConfig:
    """What to render and how.

    Attributes:
        source: the portrait photo to re-enact.
        driver: a video file or a folder of images (in name order).
        out: output folder, or (``quilt``/``sbs``) a ``.mp4`` file name whose stem is used.
        format: ``quilt`` | ``views`` | ``sbs`` (see the module docstring).
        backend: ``mesh`` (weight-free) or ``neural`` (VOODOO 3D, needs ``weights``).
        weights: the VOODOO 3D checkpoint for the neural backend.
        device: torch device of the neural backend.
        num_views: views in the sweep (view 0 = left-most).
        view_size: side of each rendered (square) view in pixels.
        aspect: width/height of a quilt tile (the centre of each view is cropped to it).
        sweep: ``offaxis`` (Looking Glass cameras, default) or ``orbit``.
        view_cone_deg: angle spanned by the sweep.
        image_fps: frame rate of a folder-of-images driver.
        max_frames: render only the first N driver frames (None = all).
        crf / preset: x264 quality and speed.
        resume: continue the outputs already on disk instead of starting over.
        audio: copy the driver's audio track into finished outputs.
    """

    source: Path
    driver: Path
    out: Path = Path(".")
    format: OutputFormat = "quilt"
    backend: Literal["mesh", "neural"] = "mesh"
    weights: Path | None = None
    device: str = "cpu"
    num_views: int = 24
    view_size: int = DEFAULT_VIEW_SIZE
    aspect: float = DEFAULT_ASPECT
    sweep: SweepMode = "offaxis"
    view_cone_deg: float = DEFAULT_VIEW_CONE_DEG
    image_fps: float = DEFAULT_IMAGE_FPS
    max_frames: int | None = None
    crf: int = 20
    preset: str = "veryfast"
    resume: bool = False
    audio: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", Path(self.source))
        object.__setattr__(self, "driver", Path(self.driver))
        object.__setattr__(self, "out", Path(self.out))
        if self.format not in ("quilt", "views", "sbs"):
            raise ValueError(f"format must be quilt, views or sbs, got {self.format!r}")
        if self.backend not in ("mesh", "neural"):
            raise ValueError(f"backend must be mesh or neural, got {self.backend!r}")
        if self.backend == "neural" and self.weights is None:
            raise ValueError("the neural backend needs a weights file")
        if not 1 <= self.num_views <= 256:
            raise ValueError(f"the number of views must be 1..256, got {self.num_views}")
        if not 32 <= self.view_size <= 2048:
            raise ValueError(f"the view size must be 32..2048 pixels, got {self.view_size}")
        if not (math.isfinite(self.aspect) and 0.2 <= self.aspect <= 5.0):
            raise ValueError(f"the aspect must be a width/height ratio in 0.2..5, got {self.aspect}")
        if self.sweep not in ("offaxis", "orbit"):
            raise ValueError(f"sweep must be offaxis or orbit, got {self.sweep!r}")
        if not 0.0 <= self.view_cone_deg <= 120.0:
            raise ValueError(f"the view cone must be 0..120 degrees, got {self.view_cone_deg}")
        if not 1.0 <= self.image_fps <= 240.0:
            raise ValueError(f"the frame rate must be 1..240 fps, got {self.image_fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"the number of frames must be at least 1, got {self.max_frames}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be 0..51, got {self.crf}")
        if self.out.suffix.lower() == ".mp4" and self.format == "views":
            raise ValueError(
                "--format views writes one file per view: give an output folder, not a .mp4 name"
            )

    @property
    def stem(self) -> str:
        """Base name of the outputs: the ``--out`` file's stem, else the source photo's."""
        if self.out.suffix.lower() == ".mp4":
            return self.out.stem
        return self.source.stem

    @property
    def out_dir(self) -> Path:
        return self.out.parent if self.out.suffix.lower() == ".mp4" else self.out


@dataclass(frozen=True)
class RenderResult:
    """What a render did.

    Attributes:
        paths: the output files.
        frames_total: driver frames seen (= frames in each finished output).
        frames_rendered: frames rendered in this run (fewer when resuming).
        frames_in_output: frames now in the (first) output file.
        resumed_from: frames already in the outputs when the run started (per output, min).
        frames_without_face: driver frames where the tracker found no face (pose held).
        fps: frame rate of the outputs (the driver's).
        frame_size: ``(width, height)`` of each output video.
        audio: the driver's audio was copied into the outputs.
        interrupted: the run was stopped (Ctrl-C); the outputs hold what was rendered.
        elapsed_s: wall-clock time of the run.
    """

    paths: list[Path]
    frames_total: int
    frames_rendered: int
    frames_in_output: int
    resumed_from: int
    frames_without_face: int
    fps: float
    frame_size: tuple[int, int]
    audio: bool
    interrupted: bool
    elapsed_s: float


# -- layout and names ---------------------------------------------------------------------------
def quilt_layout(num_views: int, view_size: int, aspect: float) -> QuiltLayout:
    """The quilt of ``num_views`` tiles, each the centre of a ``view_size`` view at ``aspect``.

    The grid is the near-square one :func:`display.quilt.layout_for_views` picks (24 views at
    0.75: 6 x 4). Tiles are as large as fit in the square view, with even sides.
    """
    if aspect <= 1.0:
        th, tw = view_size, min(view_size, max(2, 2 * round(view_size * aspect / 2)))
    else:
        tw, th = view_size, min(view_size, max(2, 2 * round(view_size / aspect / 2)))
    grid = layout_for_views(num_views, aspect, th)
    return QuiltLayout(grid.cols, grid.rows, tw, th, float(aspect), num_views)


def crop_views(views_rgb_u8: np.ndarray, tile_w: int, tile_h: int) -> np.ndarray:
    """The centre ``tile_w x tile_h`` of each view (``N x S x S x 3``)."""
    _, h, w, _ = views_rgb_u8.shape
    if tile_w > w or tile_h > h:
        raise ValueError(f"cannot crop {tile_w}x{tile_h} tiles from {w}x{h} views")
    x0, y0 = (w - tile_w) // 2, (h - tile_h) // 2
    return np.ascontiguousarray(views_rgb_u8[:, y0 : y0 + tile_h, x0 : x0 + tile_w])


def output_paths(config: RenderConfig) -> list[Path]:
    """The files a render writes, in order (views: view 0 first)."""
    d, stem = config.out_dir, config.stem
    if config.format == "quilt":
        return [
            d / quilt_filename(stem, quilt_layout(config.num_views, config.view_size, config.aspect), ".mp4")
        ]
    if config.format == "sbs":
        return [d / f"{stem}_sbs.mp4"]
    width = max(2, len(str(config.num_views - 1)))
    return [d / f"{stem}_views" / f"view_{v:0{width}d}.mp4" for v in range(config.num_views)]


# -- ffmpeg helpers -----------------------------------------------------------------------------
def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoProbe:
    """What ffmpeg reads in a video file: ``frames`` = decodable video packets."""

    frames: int
    width: int
    height: int
    fps: float | None
    has_audio: bool


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (.*)")
_SIZE_RE = re.compile(r"(?:^|[ ,])(\d{2,5})x(\d{2,5})(?:[ ,\]]|$)")
_FPS_RE = re.compile(r"([\d.]+) fps")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def probe_video(path: Path, *, count_frames: bool = True) -> VideoProbe:
    """Inspect ``path`` with ffmpeg (stream copy, no decoding); RenderError if it holds no video.

    Corrupt packets (the unfinished last fragment of a killed recording) are not counted.
    """
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-fflags", "+discardcorrupt", "-i", str(path)]
    if count_frames:
        cmd += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    text = proc.stderr
    video = [m.group(2) for m in _STREAM_RE.finditer(text) if m.group(1) == "Video"]
    if not video:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise RenderError(f"{path} holds no readable video ({last})")
    size = _SIZE_RE.search(video[0])
    fps = _FPS_RE.search(video[0])
    frames = 0
    if count_frames:
        if proc.returncode != 0:
            raise RenderError(f"{path} cannot be read to the end ({text.strip().splitlines()[-1]})")
        counts = _FRAME_RE.findall(text)
        frames = int(counts[-1]) if counts else 0
    return VideoProbe(
        frames=frames,
        width=int(size.group(1)) if size else 0,
        height=int(size.group(2)) if size else 0,
        fps=float(fps.group(1)) if fps else None,
        has_audio=any(m.group(1) == "Audio" for m in _STREAM_RE.finditer(text)),
    )


def _run_ffmpeg(args: list[str], what: str) -> None:
    proc = subprocess.run(
        [_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise RenderError(f"ffmpeg could not {what}: {detail}")


def _concat(first: Path, keep_frames: int, segment: Path) -> None:
    """The first ``keep_frames`` frames of ``first`` + ``segment`` (same encoding) -> ``first``.

    ``first`` may end in a cut-off fragment (a killed render): it is remuxed on its own first,
    dropping corrupt packets and anything past ``keep_frames``, so that the join has exact
    timestamps. Our files have no B-frames, so those frames are frames 0..keep_frames-1.
    """
    head = segment.with_name(segment.stem + ".head.mp4")
    listing = segment.with_suffix(".txt")
    joined = segment.with_name(segment.stem + ".joined.mp4")
    try:
        _run_ffmpeg(
            ["-fflags", "+discardcorrupt", "-i", str(first), "-map", "0:v:0", "-c", "copy",
             "-frames:v", str(keep_frames), *_FRAGMENTED, str(head)],
            f"read the frames already in {first.name}",
        )  # fmt: skip
        listing.write_text("".join(f"file '{p.resolve().as_posix()}'\n" for p in (head, segment)))
        _run_ffmpeg(
            ["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0", "-c", "copy", *_FRAGMENTED,
             str(joined)],
            f"join {segment.name} to {first.name}",
        )  # fmt: skip
        os.replace(joined, first)
        segment.unlink()
    finally:
        for p in (head, listing, joined):
            p.unlink(missing_ok=True)


def _mux_audio(video: Path, driver: Path, duration_s: float) -> None:
    """Replace ``video`` by itself plus the driver's first audio track (AAC), cut to the video.

    The cut is ``-t`` (the video's length), not ``-shortest``: with a stream-copied video,
    ``-shortest`` can drop the last video frames when the audio ends a little earlier.
    """
    tmp = video.with_name(video.stem + ".audio.mp4")
    try:
        _run_ffmpeg(
            ["-i", str(video), "-i", str(driver), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
             "-c:a", "aac", "-b:a", "128k", "-t", f"{duration_s:.6f}", "-movflags", "+faststart", str(tmp)],
            f"copy the audio of {driver.name} into {video.name}",
        )  # fmt: skip
        os.replace(tmp, video)
    finally:
        tmp.unlink(missing_ok=True)


class _VideoFile:
    """A fragmented H.264 MP4 fed frame by frame (started on the first frame).

    Like :class:`display.export.QuiltVideoWriter` (same fragmenting, even sizes by
    :func:`display.export.pad_to_even`), for any frame, with any file name, and without
    B-frames: decoding order is then display order, so the frames that survive a killed render
    are always the first N and ``--resume`` can continue from frame N.
    """

    def __init__(self, path: Path, fps: float, crf: int, preset: str) -> None:
        self.path, self.fps, self.crf, self.preset = path, fps, crf, preset
        self.frames_written = 0
        self._gen = None
        self._size: tuple[int, int] | None = None

    def append(self, frame_rgb_u8: np.ndarray) -> None:
        from display.export import pad_to_even

        frame = pad_to_even(frame_rgb_u8)
        size = (frame.shape[1], frame.shape[0])
        if self._gen is None:
            import imageio_ffmpeg

            self.path.parent.mkdir(parents=True, exist_ok=True)
            gop = max(1, round(self.fps))
            self._gen = imageio_ffmpeg.write_frames(
                str(self.path), size, fps=self.fps, codec="libx264", pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p", macro_block_size=1, quality=None,
                output_params=["-crf", str(self.crf), "-preset", self.preset, "-g", str(gop), "-bf", "0", *_FRAGMENTED],
            )  # fmt: skip
            self._gen.send(None)
            self._size = size
        elif size != self._size:
            raise ValueError(f"frame size changed from {self._size} to {size} in {self.path.name}")
        self._gen.send(np.ascontiguousarray(frame))
        self.frames_written += 1

    def close(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            gen.close()


# -- the outputs of one render ------------------------------------------------------------------
@dataclass
class _Output:
    """One output file: frames ``start..`` of this run go to ``writer`` (a segment when resuming)."""

    path: Path
    start: int
    writer: _VideoFile
    resumed: bool = False
    has_audio: bool = False


@dataclass
class _Frames:
    """Turns rendered views + the driver frame into the frame of each output file."""

    format: OutputFormat
    layout: QuiltLayout
    view_size: int
    source_panel: np.ndarray | None = None
    _driver_w: int = field(default=0, repr=False)

    def driver_panel(self, frame_rgb_u8: np.ndarray) -> np.ndarray:
        import cv2

        h, w = frame_rgb_u8.shape[:2]
        s = self.view_size
        if not self._driver_w:
            self._driver_w = max(2, 2 * round(s * w / h / 2))
        return cv2.resize(frame_rgb_u8, (self._driver_w, s), interpolation=cv2.INTER_AREA)

    def make(self, views_rgb_u8: np.ndarray, driver_panel: np.ndarray | None) -> list[np.ndarray]:
        from display.quilt import assemble_quilt

        if self.format == "quilt":
            tiles = crop_views(views_rgb_u8, self.layout.tile_w_px, self.layout.tile_h_px)
            return [assemble_quilt(tiles, self.layout)]
        if self.format == "views":
            return list(views_rgb_u8)
        assert self.source_panel is not None and driver_panel is not None
        return [np.concatenate([self.source_panel, driver_panel, views_rgb_u8[0]], axis=1)]


def _open_driver(config: RenderConfig):
    from pipeline.capture import CaptureError, ImageFolderSource, open_source

    path = config.driver.expanduser()
    try:
        if path.is_dir():
            return ImageFolderSource(path, fps=config.image_fps)
        return open_source(path)
    except CaptureError as e:
        raise RenderError(str(e)) from e


def _plan_outputs(config: RenderConfig, frame_size: tuple[int, int], fps: float, log_fn) -> list[_Output]:
    outs = []
    for path in output_paths(config):
        start, has_audio = 0, False
        if config.resume and path.exists():
            probe = probe_video(path)
            if (probe.width, probe.height) != frame_size:
                raise RenderError(
                    f"cannot resume {path}: it is {probe.width}x{probe.height} but this render makes "
                    f"{frame_size[0]}x{frame_size[1]} frames; use the same --views, --view-size, --aspect and "
                    "--format as before, or render again without --resume"
                )
            start, has_audio = probe.frames, probe.has_audio
        elif config.resume:
            log_fn(f"note: {path} does not exist yet; rendering it from the start")
        target = path
        if start > 0:
            target = path.with_name(path.stem + ".resume-part.mp4")
        outs.append(
            _Output(path, start, _VideoFile(target, fps, config.crf, config.preset), start > 0, has_audio)
        )
    return outs


def _driver_has_audio(driver: Path) -> bool:
    if driver.is_dir():
        return False
    try:
        return probe_video(driver, count_frames=False).has_audio
    except RenderError:
        return False


def _output_frame_size(
    config: RenderConfig, layout: QuiltLayout, driver_size: tuple[int, int]
) -> tuple[int, int]:
    even = lambda n: n + n % 2  # noqa: E731
    s = config.view_size
    if config.format == "quilt":
        return even(layout.quilt_w_px), even(layout.quilt_h_px)
    if config.format == "views":
        return even(s), even(s)
    w, h = driver_size
    return even(s + max(2, 2 * round(s * w / h / 2)) + s), even(s)


def render_offline(
    config: RenderConfig,
    *,
    progress: bool = True,
    log_fn: Callable[[str], object] = print,
) -> RenderResult:
    """Render ``config``; see the module docstring. Raises :class:`RenderError` on bad input.

    Ctrl-C (KeyboardInterrupt) stops the render cleanly: the files are finished and the result
    says ``interrupted``.
    """
    from pipeline.reenact import Reenactor, ReenactSettings, create_backend
    from pipeline.tracking import PhotoError

    t0 = time.monotonic()
    source_path = config.source.expanduser()
    if not source_path.is_file():
        raise RenderError(f"source photo {source_path} does not exist")
    src = _open_driver(config)
    try:
        fps = float(src.fps)
        total = src.frame_count
        if config.max_frames is not None:
            total = config.max_frames if total is None else min(total, config.max_frames)
        layout = quilt_layout(config.num_views, config.view_size, config.aspect)
        frame_size = _output_frame_size(config, layout, src.size)
        outputs = _plan_outputs(config, frame_size, fps, log_fn)
        resume_at = min(o.start for o in outputs)
        if total is not None and resume_at >= total:
            log_fn(f"{outputs[0].path} already holds all {total} frames; nothing to render")
            return _finish(config, outputs, total, 0, resume_at, 0, fps, frame_size, False, t0)
        settings = ReenactSettings(
            num_views=1 if config.format == "sbs" else config.num_views,
            view_size=config.view_size,
            sweep=config.sweep,
            view_cone_deg=config.view_cone_deg,
        )
        try:
            backend = create_backend(
                config.backend, weights=config.weights, device=config.device, progress=progress
            )
        except (OSError, ValueError) as e:
            raise RenderError(f"cannot load the {config.backend} avatar: {e}") from e
        reen = Reenactor(backend, settings)
        try:
            try:
                face = reen.set_source(source_path)
            except PhotoError as e:
                raise RenderError(str(e)) from e
            maker = _Frames(config.format, layout, config.view_size)
            if config.format == "sbs":
                import cv2

                photo = face.extras.get("crop_unmatted_rgb_u8", face.crop_rgb_u8)
                s = config.view_size
                maker.source_panel = cv2.resize(photo, (s, s), interpolation=cv2.INTER_AREA)
            log_fn(f"source: {source_path} ({config.backend} avatar)")
            log_fn(
                f"driver: {src.description}"
                + (f", {total} frames" if total is not None else "")
                + (f"; resuming at frame {resume_at}" if resume_at else "")
            )
            names = (
                outputs[0].path if len(outputs) == 1 else f"{len(outputs)} files in {outputs[0].path.parent}"
            )
            log_fn(f"writing {names} ({frame_size[0]}x{frame_size[1]}, {fps:.3g} fps)")
            frames, rendered, no_face, interrupted = _loop(
                config, src, reen, maker, outputs, fps, total, resume_at, progress
            )
        finally:
            for o in outputs:
                o.writer.close()
            reen.close()
    finally:
        src.close()

    return _finish(config, outputs, frames, rendered, resume_at, no_face, fps, frame_size, interrupted, t0)


def _finish(
    config, outputs, frames, rendered, resume_at, no_face, fps, frame_size, interrupted, t0
) -> RenderResult:
    """Join resumed segments, add the driver's audio to finished files, report."""
    for o in outputs:
        if o.resumed and o.writer.frames_written:
            _concat(o.path, o.start, o.writer.path)
    audio = False
    driver = config.driver.expanduser()
    if not interrupted and frames > 0 and config.audio and _driver_has_audio(driver):
        for o in outputs:
            if o.path.exists() and not (o.has_audio and o.writer.frames_written == 0):
                _mux_audio(o.path, driver, (o.start + o.writer.frames_written) / fps)
        audio = True
    return RenderResult(
        paths=[o.path for o in outputs],
        frames_total=frames,
        frames_rendered=rendered,
        frames_in_output=outputs[0].start + outputs[0].writer.frames_written,
        resumed_from=resume_at,
        frames_without_face=no_face,
        fps=fps,
        frame_size=frame_size,
        audio=audio,
        interrupted=interrupted,
        elapsed_s=time.monotonic() - t0,
    )


def _loop(config, src, reen, maker: _Frames, outputs: list[_Output], fps, total, resume_at, progress):
    """Track, drive and render every driver frame; returns (frames, rendered, no_face, interrupted)."""
    import cv2
    from tqdm import tqdm

    bar = tqdm(
        total=total, unit="frame", desc="render", disable=not progress, dynamic_ncols=True,
        initial=0, smoothing=0.1,
    )  # fmt: skip
    frames = rendered = no_face = 0
    stop = _StopRequest()
    # Frames seen before the first face: they get the first face's pose once there is one.
    # For side-by-side outputs their driver panels are kept (PNG-compressed) until then.
    pending: list[bytes | None] = []
    interrupted = False
    try:
        for captured in src:
            i = frames
            if stop.requested:
                interrupted = True
                break
            if total is not None and i >= total:
                break
            t_ns = round(i * 1e9 / fps)
            obs = reen.track(captured.rgb_u8, t_ns)
            if obs is None or not obs.tracked:
                no_face += 1
            scene = reen.drive(obs)
            frames += 1
            panel = maker.driver_panel(captured.rgb_u8) if maker.format == "sbs" else None
            if scene is None:
                packed = None
                if panel is not None:
                    packed = cv2.imencode(".png", panel)[1].tobytes()
                pending.append(packed)
                bar.update(1)
                continue
            first = i - len(pending)
            panels = [
                None if p is None else cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_UNCHANGED)
                for p in pending
            ]
            panels.append(panel)
            pending = []
            if any(o.start <= i for o in outputs):
                views = reen.render(scene).rgb_u8
                rendered += 1
                for k, pnl in enumerate(panels):
                    j = first + k
                    for o, f in zip(outputs, maker.make(views, pnl), strict=True):
                        if j >= o.start:
                            o.writer.append(f)
            bar.update(1)
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once (the files are still closed)
        interrupted = True
    finally:
        bar.close()
        stop.restore()
    if not interrupted and frames and len(pending) == frames:
        raise RenderError(
            f"no face found in any of the {frames} driver frames; use a video where a face is clearly visible"
        )
    return frames, rendered, no_face, interrupted


class _StopRequest:
    """The first Ctrl-C asks the render loop to stop after the current frame (so no frame is
    half-written); a second one interrupts at once. Only installed in the main thread."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
