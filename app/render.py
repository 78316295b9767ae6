"""Offline rendering: re-enact a photo from every frame of a driver video and write video files.

This is the core of ``voodoo-holo render``. It runs the shared stages of
:mod:`pipeline.reenact` in one process (``Reenactor.track`` -> ``drive`` -> ``render``, the
same ones the live pipeline runs in its worker processes) and streams what they draw to
H.264 MP4 files:

- ``quilt`` (default): one quilt video for a Looking Glass, named by the quilt convention
  (``astronaut_qs6x4a0.75.mp4``): the views of :class:`app.compose.ViewPlan`, one per tile.
- ``views``: one video per view, ``<stem>_views/view_00.mp4`` ...
- ``sbs``: source | driver | result side by side (the result is the single centre view).

Every driver frame gives exactly one output frame, at the driver's frame rate. Frames where
the tracker finds no face hold the last pose; frames before the first face show the first
face's pose; both are counted (:attr:`RenderResult.frames_without_face`). The driver's audio
track, if any, is muxed into the finished files.

Interruptions: the MP4 files are written fragmented, frame by frame, so an interrupted
render (Ctrl-C, which finishes the files properly, or even a killed process) leaves files
that play up to where the render stopped. ``resume=True`` counts the frames already in each
output and renders only the rest into a new segment, then joins the two
(:func:`display.video.concat_videos`, stream copy). The frames before the resume point are still tracked and driven,
without rendering, so the tracker's smoothing and the avatar's neutral frame are the same as
in an uninterrupted render.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.compose import AvatarChoice, ViewPlan, plan_views
from app.text import plural
from display.quilt import quilt_filename
from display.video import VideoError, VideoWriter, concat_videos, mux_audio, probe_video

__all__ = [
    "DEFAULT_IMAGE_FPS",
    "OutputFormat",
    "RenderConfig",
    "RenderError",
    "RenderResult",
    "output_paths",
    "render_offline",
    "sample_driver",
    "sample_source",
]

OutputFormat = Literal["quilt", "views", "sbs"]

#: Frame rate given to a folder of images (a video file keeps its own).
DEFAULT_IMAGE_FPS = 25.0


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
        plan: the views and their quilt (:func:`app.compose.plan_views`).
        avatar: the avatar (:func:`app.compose.choose_avatar`).
        out: output folder, or (``quilt``/``sbs``) a ``.mp4`` file name whose stem is used.
        format: ``quilt`` | ``views`` | ``sbs`` (see the module docstring).
        image_fps: frame rate of a folder-of-images driver.
        max_frames: render only the first N driver frames (None = all).
        crf / preset: x264 quality and speed.
        resume: continue the outputs already on disk instead of starting over.
        audio: copy the driver's audio track into finished outputs.
    """

    source: Path
    driver: Path
    plan: ViewPlan = field(default_factory=plan_views)
    avatar: AvatarChoice = field(default_factory=AvatarChoice)
    out: Path = Path(".")
    format: OutputFormat = "quilt"
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


def output_paths(config: RenderConfig) -> list[Path]:
    """The files a render writes, in order (views: view 0 first)."""
    d, stem = config.out_dir, config.stem
    if config.format == "quilt":
        return [d / quilt_filename(stem, config.plan.quilt, ".mp4")]
    if config.format == "sbs":
        return [d / f"{stem}_sbs.mp4"]
    n = config.plan.views.num_views
    width = max(2, len(str(n - 1)))
    return [d / f"{stem}_views" / f"view_{v:0{width}d}.mp4" for v in range(n)]


# -- the outputs of one render ------------------------------------------------------------------
@dataclass
class _Output:
    """One output file: frames ``start..`` of this run go to ``writer`` (a segment when resuming)."""

    path: Path
    start: int
    writer: VideoWriter
    resumed: bool = False
    has_audio: bool = False


@dataclass
class _Frames:
    """Turns rendered views + the driver frame into the frame of each output file."""

    format: OutputFormat
    plan: ViewPlan
    source_panel: np.ndarray | None = None
    _driver_w: int = field(default=0, repr=False)

    def driver_panel(self, frame_rgb_u8: np.ndarray) -> np.ndarray:
        import cv2

        h, w = frame_rgb_u8.shape[:2]
        s = self.plan.views.height_px
        if not self._driver_w:
            self._driver_w = max(2, 2 * round(s * w / h / 2))
        return cv2.resize(frame_rgb_u8, (self._driver_w, s), interpolation=cv2.INTER_AREA)

    def make(self, views_rgb_u8: np.ndarray, driver_panel: np.ndarray | None) -> list[np.ndarray]:
        from display.quilt import assemble_quilt

        if self.format == "quilt":
            return [assemble_quilt(views_rgb_u8, self.plan.quilt)]
        if self.format == "views":
            return list(views_rgb_u8)
        assert self.source_panel is not None and driver_panel is not None
        return [np.concatenate([self.source_panel, driver_panel, views_rgb_u8[0]], axis=1)]

    def frame_size(self, driver_size: tuple[int, int]) -> tuple[int, int]:
        """``(width, height)`` of each output frame (even, as the encoder makes it)."""
        even = lambda n: n + n % 2  # noqa: E731
        v = self.plan.views
        if self.format == "quilt":
            return even(self.plan.quilt.quilt_w_px), even(self.plan.quilt.quilt_h_px)
        if self.format == "views":
            return even(v.width_px), even(v.height_px)
        w, h = driver_size
        s = v.height_px
        return even(s + max(2, 2 * round(s * w / h / 2)) + v.width_px), even(s)


def _open_driver(config: RenderConfig) -> Any:
    from pipeline.capture import CaptureError, ImageFolderSource, open_source

    path = config.driver.expanduser()
    try:
        if path.is_dir():
            return ImageFolderSource(path, fps=config.image_fps)
        return open_source(path)
    except CaptureError as e:
        raise RenderError(str(e)) from e


def _plan_outputs(
    config: RenderConfig, frame_size: tuple[int, int], fps: float, log_fn: Callable[[str], object]
) -> list[_Output]:
    outs = []
    for path in output_paths(config):
        start, has_audio = 0, False
        if config.resume and path.exists():
            try:
                probe = probe_video(path)
            except VideoError as e:
                raise RenderError(str(e)) from e
            if (probe.width, probe.height) != frame_size:
                raise RenderError(
                    f"cannot resume {path}: it is {probe.width}x{probe.height} but this render makes "
                    f"{frame_size[0]}x{frame_size[1]} frames; use the same --views, --view-size, --aspect and "
                    "--format as before, or render again without --resume"
                )
            start, has_audio = probe.frames, probe.has_audio
        elif config.resume:
            log_fn(f"note: {path} does not exist yet; rendering it from the start")
        target = path.with_name(path.stem + ".resume-part.mp4") if start > 0 else path
        writer = VideoWriter(target, fps, crf=config.crf, preset=config.preset)
        outs.append(_Output(path, start, writer, start > 0, has_audio))
    return outs


def _driver_has_audio(driver: Path) -> bool:
    if driver.is_dir():
        return False
    try:
        return probe_video(driver, count_frames=False).has_audio
    except VideoError:
        return False


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
    from pipeline.reenact import Reenactor
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
        maker = _Frames(config.format, config.plan)
        frame_size = maker.frame_size(src.size)
        outputs = _plan_outputs(config, frame_size, fps, log_fn)
        resume_at = min(o.start for o in outputs)
        if total is not None and resume_at >= total:
            log_fn(f"{outputs[0].path} already holds all {plural(total, 'frame')}; nothing to render")
            return _finish(config, outputs, total, 0, resume_at, 0, fps, frame_size, False, t0)
        views = config.plan.views
        if config.format == "sbs":
            views = views.with_views(1)
        try:
            backend = config.avatar.build(progress=progress)
        except (OSError, ValueError, RuntimeError) as e:
            raise RenderError(f"cannot load the {config.avatar.backend} avatar: {e}") from e
        reen = Reenactor(backend, views)
        try:
            try:
                face = reen.set_source(source_path)
            except PhotoError as e:
                raise RenderError(str(e)) from e
            if config.format == "sbs":
                import cv2

                photo = face.extras.get("crop_unmatted_rgb_u8", face.crop_rgb_u8)
                s = views.height_px
                maker.source_panel = cv2.resize(photo, (s, s), interpolation=cv2.INTER_AREA)
            log_fn(f"source: {source_path} ({config.avatar.backend} avatar)")
            log_fn(
                f"driver: {src.description}"
                + (f", {plural(total, 'frame')}" if total is not None else "")
                + (f"; resuming at frame {resume_at}" if resume_at else "")
            )
            names = (
                outputs[0].path if len(outputs) == 1 else f"{len(outputs)} files in {outputs[0].path.parent}"
            )
            log_fn(f"writing {names} ({frame_size[0]}x{frame_size[1]}, {fps:.3g} fps)")
            frames, rendered, no_face, interrupted = _loop(src, reen, maker, outputs, fps, total, progress)
        finally:
            for o in outputs:
                o.writer.close()
            reen.close()
    finally:
        src.close()

    return _finish(config, outputs, frames, rendered, resume_at, no_face, fps, frame_size, interrupted, t0)


def _finish(
    config: RenderConfig,
    outputs: list[_Output],
    frames: int,
    rendered: int,
    resume_at: int,
    no_face: int,
    fps: float,
    frame_size: tuple[int, int],
    interrupted: bool,
    t0: float,
) -> RenderResult:
    """Join resumed segments, add the driver's audio to finished files, report."""
    try:
        for o in outputs:
            if o.resumed and o.writer.frames_written:
                concat_videos(o.path, o.start, o.writer.path)
        audio = False
        driver = config.driver.expanduser()
        if not interrupted and frames > 0 and config.audio and _driver_has_audio(driver):
            for o in outputs:
                if o.path.exists() and not (o.has_audio and o.writer.frames_written == 0):
                    mux_audio(o.path, driver, (o.start + o.writer.frames_written) / fps)
            audio = True
    except VideoError as e:
        raise RenderError(str(e)) from e
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


def _loop(
    src: Any, reen: Any, maker: _Frames, outputs: list[_Output], fps: float, total: int | None, progress: bool
) -> tuple[int, int, int, bool]:
    """Track, drive and render every driver frame; returns (frames, rendered, no_face, interrupted).

    Frames before the resume point are tracked and driven but not rendered, so the tracker's
    smoothing and the avatar's neutral frame are those of an uninterrupted render.
    """
    import cv2
    from tqdm import tqdm

    from pipeline.capture import track_frames
    from pipeline.tracking import StreamTracker

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
    tracker = StreamTracker()
    try:
        stream = track_frames(src, tracker, timestamp_ns=lambda f: round(f.index_in_source * 1e9 / fps))
        for tracked in stream:
            i = frames
            if stop.requested:
                interrupted = True
                break
            if total is not None and i >= total:
                break
            obs = tracked.face
            if obs is None or not obs.tracked:
                no_face += 1
            scene = reen.drive(obs)
            frames += 1
            panel = maker.driver_panel(tracked.frame.rgb_u8) if maker.format == "sbs" else None
            if scene is None:
                packed = None if panel is None else cv2.imencode(".png", panel)[1].tobytes()
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
    except VideoError as e:
        raise RenderError(str(e)) from e
    finally:
        bar.close()
        stop.restore()
        tracker.close()
    if not interrupted and frames and len(pending) == frames:
        raise RenderError(
            (
                "no face found in the driver frame"
                if frames == 1
                else f"no face found in any of the {frames} driver frames"
            )
            + "; use a video where a face is clearly visible"
        )
    return frames, rendered, no_face, interrupted


class _StopRequest:
    """The first Ctrl-C asks the render loop to stop after the current frame (so no frame is
    half-written); a second one interrupts at once. Only installed in the main thread."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
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
