"""Offline rendering: re-enact a photo from every frame of a driver video and write video files.

This is the core of ``voodoo-holo render``. It runs the shared stages of
:mod:`pipeline.reenact` in one process (``Reenactor.track`` -> ``drive`` -> ``render``, the
same ones the live pipeline runs in its worker processes) and streams what they draw to
H.264 MP4 files:

- ``quilt`` (default): one quilt video for a Looking Glass, named by the quilt convention
  (``astronaut_qs6x4a0.75.mp4``): the views of :class:`app.compose.ViewPlan`, one per tile.
- ``views``: one video per view, ``<stem>_views/view_00.mp4`` ...
- ``sbs``: source | driver | result side by side (the result is the single centre view).

An ``--out`` file name is used as given (a quilt's name without the ``_qs`` tag gets a note that
Looking Glass software reads the layout from it; a tag that names another layout is refused).

Nothing is replaced silently: existing outputs are refused unless ``force`` (replace them) or
``resume`` (continue them). Beside every video is a record of what it was made from
(:mod:`app.render_record`), written with its first frame; ``resume`` continues a video only
when the source photo, the driver and the settings are those of its record. Before any work,
the output folder is checked to accept files.

Every driver frame gives exactly one output frame, at the driver's frame rate. Frames where
the tracker finds no face hold the last pose; frames before the first face show the first
face's pose; both are counted (:attr:`RenderResult.frames_without_face`). The driver's audio
track, if any, is muxed into the finished files.

Interruptions: the MP4 files are written fragmented, frame by frame, so an interrupted
render (Ctrl-C, which finishes the files properly, or even a killed process) leaves files
that play up to where the render stopped.

Rendered views whose coverage or depth hold NaN or infinity (weights or a precision that
overflow), or that are black wherever the head is, are counted
(:attr:`RenderResult.frames_not_finite`) and reported once, when the first one is seen. ``resume=True`` counts the frames already in each
output and renders only the rest into a new segment, then joins the two
(:func:`display.video.concat_videos`, stream copy). The frames before the resume point are still tracked and driven,
without rendering, so the tracker's smoothing and the avatar's neutral frame are the same as
in an uninterrupted render.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.compose import AvatarChoice, ViewPlan, plan_views
from app.outputs import OutputError, check_folder_writable, refuse_existing
from app.render_record import RecordError, RenderRecord, file_sha256, folder_sha256
from app.text import plural
from display.quilt import format_aspect, parse_quilt_filename, quilt_filename
from display.video import VideoError, VideoWriter, concat_videos, mux_audio, probe_video

__all__ = [
    "DEFAULT_IMAGE_FPS",
    "OutputFormat",
    "RenderConfig",
    "RenderError",
    "RenderResult",
    "output_paths",
    "record_path",
    "render_offline",
    "sample_driver",
    "sample_source",
    "views_problem",
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
        out: output folder, or (``quilt``/``sbs``) the ``.mp4`` file to write.
        format: ``quilt`` | ``views`` | ``sbs`` (see the module docstring).
        image_fps: frame rate of a folder-of-images driver.
        max_frames: render only the first N driver frames (None = all).
        crf / preset: x264 quality and speed.
        resume: continue the outputs already on disk instead of starting over.
        force: replace outputs already on disk (without it, they are refused).
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
    force: bool = False
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
        if self.resume and self.force:
            raise ValueError("--resume continues the existing outputs and --force replaces them: give one")
        tag = parse_quilt_filename(self.out) if self.out.suffix.lower() == ".mp4" else None
        q = self.plan.quilt
        if (
            self.format == "quilt"
            and tag is not None
            and ((tag[0], tag[1]) != (q.cols, q.rows) or format_aspect(tag[2]) != format_aspect(q.aspect))
        ):
            raise ValueError(
                f"--out {self.out.name} says the quilt is {tag[0]}x{tag[1]} at aspect {format_aspect(tag[2])}, "
                f"but this render makes {q.cols}x{q.rows} at {format_aspect(q.aspect)}: "
                f"name it {quilt_filename(self.out.stem, q, '.mp4')}, or leave the _qs tag out"
            )

    @property
    def stem(self) -> str:
        """Base name of the outputs: the ``--out`` file's stem, else the source photo's."""
        if self.out.suffix.lower() == ".mp4":
            return self.out.stem
        return self.source.stem

    @property
    def out_file(self) -> bool:
        """``out`` names the output file itself (``quilt``/``sbs`` with a ``.mp4`` name)."""
        return self.out.suffix.lower() == ".mp4"

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
        frames_not_finite: frames whose rendered views held NaN/infinity or were blank.
        not_finite_reason: what was wrong with the first of them ('' when none).
        still: the driver was one photo and the outputs are images (:mod:`app.still`).
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
    frames_not_finite: int = 0
    not_finite_reason: str = ""
    still: bool = False


def output_paths(config: RenderConfig) -> list[Path]:
    """The files a render writes, in order (views: view 0 first)."""
    d, stem = config.out_dir, config.stem
    if config.out_file:
        return [config.out]
    if config.format == "quilt":
        return [d / quilt_filename(stem, config.plan.quilt, ".mp4")]
    if config.format == "sbs":
        return [d / f"{stem}_sbs.mp4"]
    n = config.plan.views.num_views
    width = max(2, len(str(n - 1)))
    return [d / f"{stem}_views" / f"view_{v:0{width}d}.mp4" for v in range(n)]


def record_path(config: RenderConfig) -> Path:
    """The record of what the outputs were made from (see :mod:`app.render_record`)."""
    first = output_paths(config)[0]
    if config.format == "views":
        return first.parent / "render.json"
    return first.with_name(first.stem + ".render.json")


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


def _check_source(source: Path) -> Path:
    from app.compose import ChoiceError, resolve_source

    try:
        return resolve_source(source)
    except ChoiceError as e:
        raise RenderError(str(e)) from e


def open_reenactor(config: RenderConfig, views: Any, source: Path, progress: bool) -> tuple[Any, Any]:
    """``(Reenactor, source face)``: the avatar built and the source photo prepared; raises
    :class:`RenderError` when either cannot be."""
    from pipeline.reenact import Reenactor
    from pipeline.tracking import PhotoError

    try:
        backend = config.avatar.build(progress=progress)
    except (OSError, ValueError, RuntimeError) as e:
        raise RenderError(f"cannot load the {config.avatar.backend} avatar: {e}") from e
    reen = Reenactor(backend, views)
    try:
        return reen, reen.set_source(source)
    except PhotoError as e:
        reen.close()
        raise RenderError(str(e)) from e


def _check_outputs(config: RenderConfig) -> None:
    """Before any work: the output folder takes files, and nothing is replaced silently."""
    paths = output_paths(config)
    folder = paths[0].parent
    if config.format == "views" and folder.is_dir():  # with --force, every earlier view goes
        paths = sorted(set(paths) | set(folder.glob("view_*.mp4")))
    try:
        check_folder_writable(folder)
        if not (config.resume or config.force):
            refuse_existing(paths, extra_fix="--resume to continue")
    except OutputError as e:
        raise RenderError(str(e)) from e


def _make_record(config: RenderConfig, source: Path, fps: float) -> RenderRecord:
    from pipeline.capture import IMAGE_SUFFIXES
    from pipeline.jsonconfig import to_jsonable

    driver = config.driver.expanduser()
    driver_sha = folder_sha256(driver, IMAGE_SUFFIXES) if driver.is_dir() else file_sha256(driver)
    avatar: dict[str, Any] = {"backend": config.avatar.backend}
    if config.avatar.backend == "neural":
        w = config.avatar.weights
        size = w.stat().st_size if w is not None and w.is_file() else None
        avatar.update(
            precision=config.avatar.precision, weights={"name": w.name if w else None, "bytes": size}
        )
    settings = {
        "format": config.format,
        "plan": to_jsonable(config.plan),
        "avatar": avatar,
        "fps": round(fps, 6),
        "crf": config.crf,
        "preset": config.preset,
    }
    return RenderRecord(
        source={"name": source.name, "sha256": file_sha256(source)},
        driver={"name": driver.name, "sha256": driver_sha},
        settings=json.loads(json.dumps(settings)),  # as it reads back from the file
    )


def _check_resume(config: RenderConfig, path: Path, record: RenderRecord) -> None:
    """Refuse to continue ``path`` unless its record says it was made as this render makes it."""
    where = record_path(config)
    try:
        old = RenderRecord.read(where)
    except RecordError as e:
        raise RenderError(
            f"cannot resume {path}: what it was rendered from is unknown ({e}); "
            "render it again with --force, or choose another --out"
        ) from e
    differ = old.differences(record)
    if differ:
        raise RenderError(
            f"cannot resume {path}: its {' and '.join(differ)} {'is' if len(differ) == 1 else 'are'} not "
            "this render's; give the same as before, render it again with --force, or choose another --out"
        )


def _plan_outputs(
    config: RenderConfig,
    frame_size: tuple[int, int],
    fps: float,
    record: RenderRecord,
    log_fn: Callable[[str], object],
) -> list[_Output]:
    outs = []
    for path in output_paths(config):
        start, has_audio = 0, False
        if config.resume and path.exists():
            _check_resume(config, path, record)
            try:
                probe = probe_video(path)
            except VideoError as e:
                raise RenderError(str(e)) from e
            if (probe.width, probe.height) != frame_size:
                raise RenderError(
                    f"cannot resume {path}: it is {probe.width}x{probe.height} but this render makes "
                    f"{frame_size[0]}x{frame_size[1]} frames; use the same --views, --view-size, --aspect and "
                    "--format as before, or render it again with --force"
                )
            start, has_audio = probe.frames, probe.has_audio
        elif config.resume:
            log_fn(f"note: {path} does not exist yet; rendering it from the start")
        target = path.with_name(path.stem + ".resume-part.mp4") if start > 0 else path
        writer = VideoWriter(target, fps, crf=config.crf, preset=config.preset)
        outs.append(_Output(path, start, writer, start > 0, has_audio))
    return outs


def _start_writing(config: RenderConfig, record: RenderRecord) -> None:
    """With the first frame: the record goes beside the outputs and, with ``force``, the view
    files of an earlier render that this one does not write go away (nothing stays mixed)."""
    where = record_path(config)
    where.parent.mkdir(parents=True, exist_ok=True)
    if config.format == "views" and config.force:
        keep = set(output_paths(config))
        for old in where.parent.glob("view_*.mp4"):
            if old not in keep:
                old.unlink()
    record.write(where)


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

    t0 = time.monotonic()
    source_path = _check_source(config.source)
    _check_outputs(config)
    src = _open_driver(config)
    try:
        fps = float(src.fps)
        total = src.frame_count
        if config.max_frames is not None:
            total = config.max_frames if total is None else min(total, config.max_frames)
        maker = _Frames(config.format, config.plan)
        frame_size = maker.frame_size(src.size)
        record = _make_record(config, source_path, fps)
        outputs = _plan_outputs(config, frame_size, fps, record, log_fn)
        resume_at = min(o.start for o in outputs)
        if total is not None and resume_at >= total:
            log_fn(f"{outputs[0].path} already holds all {plural(total, 'frame')}; nothing to render")
            return _finish(config, outputs, _Loop(frames=total), resume_at, fps, frame_size, t0)
        if config.format == "quilt" and config.out_file and parse_quilt_filename(config.out) is None:
            tagged = quilt_filename(config.out.stem, config.plan.quilt, ".mp4")
            log_fn(
                f"note: writing {config.out.name} as named; Looking Glass software reads a quilt's layout "
                f"from names like {tagged}"
            )
        views = config.plan.views
        if config.format == "sbs":
            views = views.with_views(1)
        reen, face = open_reenactor(config, views, source_path, progress)
        try:
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
            run = _Loop(on_first_frame=lambda: _start_writing(config, record))
            run.run(src, reen, maker, outputs, fps, total, progress)
        finally:
            for o in outputs:
                o.writer.close()
            reen.close()
    finally:
        src.close()

    return _finish(config, outputs, run, resume_at, fps, frame_size, t0)


def _finish(
    config: RenderConfig,
    outputs: list[_Output],
    run: _Loop,
    resume_at: int,
    fps: float,
    frame_size: tuple[int, int],
    t0: float,
) -> RenderResult:
    """Join resumed segments, add the driver's audio to finished files, report."""
    try:
        for o in outputs:
            if o.resumed and o.writer.frames_written:
                concat_videos(o.path, o.start, o.writer.path)
        audio = False
        driver = config.driver.expanduser()
        if not run.interrupted and run.frames > 0 and config.audio and _driver_has_audio(driver):
            for o in outputs:
                if o.path.exists() and not (o.has_audio and o.writer.frames_written == 0):
                    mux_audio(o.path, driver, (o.start + o.writer.frames_written) / fps)
            audio = True
    except VideoError as e:
        raise RenderError(_video_error_line(e)) from e
    return RenderResult(
        paths=[o.path for o in outputs],
        frames_total=run.frames,
        frames_rendered=run.rendered,
        frames_in_output=outputs[0].start + outputs[0].writer.frames_written,
        resumed_from=resume_at,
        frames_without_face=run.no_face,
        fps=fps,
        frame_size=frame_size,
        audio=audio,
        interrupted=run.interrupted,
        elapsed_s=time.monotonic() - t0,
        frames_not_finite=run.not_finite,
        not_finite_reason=run.not_finite_reason,
    )


def _video_error_line(e: VideoError) -> str:
    """One line for a video that could not be written (ffmpeg's own report spans many)."""
    text = str(e)
    if "\n" not in text:
        return text
    cause = e.__cause__
    why = (cause.strerror if isinstance(cause, OSError) else None) or text.splitlines()[0]
    return f"{text.split(' (', 1)[0]} ({why}); is the disk full or the folder writable?"


def views_problem(views: Any) -> str:
    """What is wrong with rendered views (``pipeline.avatar.RenderedViews``), or '' when nothing:
    NaN or infinite coverage, NaN depth, or black images wherever the head covers them (NaN turns
    black when converted to 8-bit)."""
    alpha, depth = views.alpha, views.depth
    if alpha is not None and not np.isfinite(alpha).all():
        return "NaN or infinite values in the rendered coverage"
    if depth is not None and np.isnan(depth).any():
        return "NaN in the rendered depth"
    if alpha is not None and alpha.size and float(alpha.mean()) > 0.01 and not views.rgb_u8.any():
        return "black images where the head is"
    return ""


@dataclass
class _Loop:
    """One pass over the driver: what it did (see :meth:`run`)."""

    on_first_frame: Callable[[], None] | None = None
    frames: int = 0
    rendered: int = 0
    no_face: int = 0
    interrupted: bool = False
    not_finite: int = 0
    not_finite_reason: str = ""
    _written: bool = False

    def _append(self, output: _Output, frame: np.ndarray) -> None:
        if not self._written:
            self._written = True
            if self.on_first_frame is not None:
                self.on_first_frame()
        output.writer.append(frame)

    def _check(self, views: Any, index: int, warn: Callable[[str], object]) -> None:
        problem = views_problem(views)
        if not problem:
            return
        self.not_finite += 1
        if self.not_finite == 1:
            self.not_finite_reason = problem
            warn(
                f"warning: frame {index}: {problem}; the avatar's output is broken (damaged weights, or "
                "a precision that overflows: try --precision float32); counting such frames, no more warnings"
            )

    def run(
        self,
        src: Any,
        reen: Any,
        maker: _Frames,
        outputs: list[_Output],
        fps: float,
        total: int | None,
        progress: bool,
    ) -> None:
        """Track, drive and render every driver frame into ``outputs``.

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

        def warn(message: str) -> None:
            tqdm.write(message, file=sys.stderr)

        stop = _StopRequest()
        # Frames seen before the first face: they get the first face's pose once there is one.
        # For side-by-side outputs their driver panels are kept (PNG-compressed) until then.
        pending: list[bytes | None] = []
        tracker = StreamTracker()
        try:
            stream = track_frames(src, tracker, timestamp_ns=lambda f: round(f.index_in_source * 1e9 / fps))
            for tracked in stream:
                i = self.frames
                if stop.requested:
                    self.interrupted = True
                    break
                if total is not None and i >= total:
                    break
                obs = tracked.face
                if obs is None or not obs.tracked:
                    self.no_face += 1
                scene = reen.drive(obs)
                self.frames += 1
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
                    rendered = reen.render(scene)
                    self._check(rendered, i, warn)
                    self.rendered += 1
                    for k, pnl in enumerate(panels):
                        j = first + k
                        for o, f in zip(outputs, maker.make(rendered.rgb_u8, pnl), strict=True):
                            if j >= o.start:
                                self._append(o, f)
                bar.update(1)
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once (the files are still closed)
            self.interrupted = True
        except VideoError as e:
            raise RenderError(_video_error_line(e)) from e
        finally:
            bar.close()
            stop.restore()
            tracker.close()
        if not self.interrupted and self.frames and len(pending) == self.frames:
            raise RenderError(
                (
                    "no face found in the driver frame; "
                    if self.frames == 1
                    else f"no face found in any of the {self.frames} driver frames; "
                )
                + "use a video where a face is clearly visible"
            )


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
