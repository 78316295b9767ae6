"""The one place where a session's three decisions are made: which avatar, which views, which output.

Every front end (the live call, a two-party call, the offline render, the preview, the photo
picker, ``calibrate`` and ``lenticular``) turns its command-line flags (:mod:`app.options`)
and the user's settings into these values with the functions below, and nothing else in the
app makes these decisions::

    --backend --weights            --> choose_avatar()  --> AvatarChoice --> .build() -> AvatarBackend
    --headless --preview
    --calibration                  --> choose_output()  --> OutputChoice --> display.output.open_output()
    --views --view-size --sweep --focus
    --aspect + the output's display --> plan_views()     --> ViewPlan: ViewSettings + QuiltLayout

The three values are frozen dataclasses of plain values, so the live call's launcher hands
them to its role processes as JSON (:mod:`pipeline.jsonconfig`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from app.paths import user_paths
from app.platform import count_cuda_gpus, display_available
from calibration.visual import Calibration
from display.quilt import QuiltLayout, quilt_for_views
from pipeline.cameras import DEFAULT_VIEW_CONE_DEG, SweepMode
from pipeline.reenact import DEFAULT_VIEW_ASPECT, DEFAULT_VIEW_SIZE, ViewSettings

if TYPE_CHECKING:
    from calibration.discovery import FoundCalibration
    from pipeline.avatar import AvatarBackend

__all__ = [
    "AvatarChoice",
    "ChoiceError",
    "OutputChoice",
    "ViewPlan",
    "choose_avatar",
    "choose_output",
    "plan_views",
    "quilt_summary",
    "resolve_source",
]

BackendRequest = Literal["auto", "neural", "mesh"]
Precision = Literal["float32", "bfloat16", "float16"]
OutputRequest = Literal["auto", "lookingglass", "preview", "headless"]


class ChoiceError(RuntimeError):
    """A choice that cannot be made (missing weights, photo or calibration); says what to do."""


# -- what avatar ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AvatarChoice:
    """Which avatar a session uses.

    Attributes:
        backend: ``mesh`` (weight-free) or ``neural`` (VOODOO 3D).
        weights: the VOODOO 3D checkpoint (neural only).
        device: torch device of the neural avatar inside the process that runs it.
        precision: the neural networks' dtype (half precision needs CUDA).
        note: why this avatar was chosen, for the user (empty when they asked for it).
    """

    backend: Literal["mesh", "neural"] = "mesh"
    weights: Path | None = None
    device: str = "cpu"
    precision: Precision = "float32"
    note: str = ""

    def __post_init__(self) -> None:
        if self.backend not in ("mesh", "neural"):
            raise ValueError(f"backend must be mesh or neural, got {self.backend!r}")
        if self.backend == "neural" and self.weights is None:
            raise ValueError("the neural avatar needs a weights file")
        if self.precision not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"precision must be float32, bfloat16 or float16, got {self.precision!r}")

    @property
    def uses_driver_matte(self) -> bool:
        """Whether the avatar looks at the driver's matted crop (the neural avatar's expression
        encoder does); the mesh avatar only needs the driver's landmarks and head pose, so the
        live capture makes neither the matte (a third of tracking's cost) nor the crop image."""
        return self.backend == "neural"

    def on_device(self, device: str) -> AvatarChoice:
        """The same avatar on another device (a role pinned to a GPU sees it as ``cuda:0``)."""
        if self.backend == "mesh":
            return self
        return dataclasses.replace(self, device=device)

    def build(self, *, progress: bool = True) -> AvatarBackend[Any, Any]:
        """Create the backend (loads the weights: seconds, with a progress bar)."""
        from app.platform import create_gl_context
        from pipeline.reenact import create_backend

        paths = user_paths()
        return create_backend(
            self.backend,
            weights=self.weights,
            device=self.device,
            dtype=self.precision,
            progress=progress,
            onnx_root=paths.onnx_dir,
            engines_dir=paths.engines_dir,
            gl_context=create_gl_context,
        )


def choose_avatar(
    requested: BackendRequest = "auto",
    weights: Path | None = None,
    *,
    precision: Precision = "float32",
    count_gpus: Callable[[], int] = count_cuda_gpus,
) -> AvatarChoice:
    """The avatar for ``--backend`` / ``--weights``: neural with weights and a CUDA GPU (``auto``),
    else the weight-free mesh avatar with a note saying why. GPUs are only probed when the
    neural avatar could be used. Raises :class:`ChoiceError` for a missing weights file."""
    if weights is not None:
        weights = weights.expanduser()
        if not weights.is_file():
            raise ChoiceError(f"weights file {weights} does not exist")
    if requested == "mesh":
        return AvatarChoice("mesh")
    found = weights if weights is not None else user_paths().find_weights()
    if requested == "neural":
        if found is None:
            raise ChoiceError(
                "the neural avatar needs the VOODOO 3D weights: put voodoo3d.pth where 'voodoo-holo doctor' "
                "says, or pass --weights PATH (or use --backend mesh)"
            )
        gpus = count_gpus()
        note = "" if gpus else "no CUDA GPU: the neural avatar runs on the CPU at a few seconds per frame"
        return AvatarChoice("neural", found, "cuda" if gpus else "cpu", precision, note)
    if found is None:
        return AvatarChoice("mesh", note="using the weight-free mesh avatar (no VOODOO 3D weights found)")
    if count_gpus() == 0:
        return AvatarChoice(
            "mesh", note="using the weight-free mesh avatar (no CUDA GPU for the neural avatar)"
        )
    return AvatarChoice("neural", found, "cuda", precision)


# -- what output ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputChoice:
    """Where views are shown.

    Attributes:
        kind: ``lookingglass`` (lenticular on the panel; a preview window when the panel is not
            connected), ``preview`` (one view in a window) or ``headless`` (nothing shown: an
            offscreen quilt, a file).
        calibration: the display's calibration, when one was found or given; it also sets the
            views' aspect and the quilt.
        route: how the display was found (``argument``, ``bridge``, ``hid``, ``drive``,
            ``settings``), empty when none was.
        display: the display in words (model, serial, route, panel, view cone).
        default_grid: ``(cols, rows)`` of the display's own default quilt, when known.
        window_xy: where the panel sits on the desktop, when known.
        note: what the user should know about this choice (empty when it is what they asked).
    """

    kind: Literal["lookingglass", "preview", "headless"] = "headless"
    calibration: Calibration | None = None
    route: str = ""
    display: str = ""
    default_grid: tuple[int, int] | None = None
    window_xy: tuple[int, int] | None = None
    note: str = ""


def _find_display(explicit: Path | None, required: bool) -> FoundCalibration | None:
    from app.calibration_settings import find_display
    from calibration.discovery import NoCalibrationError
    from calibration.visual import CalibrationError

    try:
        return find_display(explicit)
    except NoCalibrationError as e:
        if required:
            raise ChoiceError(str(e)) from e
        return None
    except CalibrationError as e:
        raise ChoiceError(str(e)) from e


def _output(
    kind: Literal["lookingglass", "preview", "headless"], found: FoundCalibration | None, note: str = ""
) -> OutputChoice:
    if found is None:
        return OutputChoice(kind, note=note)
    if found.is_hld or found.calibration is None:
        hld = (
            f"{found.describe()}: a Hololuminescent display shows 2D video, not a hologram; "
            "showing the single-view output instead"
        )
        return OutputChoice("preview" if kind == "lookingglass" else kind, display=found.describe(), note=hld)
    grid = (found.default_quilt.cols, found.default_quilt.rows) if found.default_quilt else None
    return OutputChoice(kind, found.calibration, found.route, found.describe(), grid, found.window_xy, note)


def choose_output(
    requested: OutputRequest = "auto",
    calibration: Path | None = None,
    *,
    headless_hint: str = "",
    can_show: Callable[[], bool] = display_available,
) -> OutputChoice:
    """The output for ``--headless`` / ``--preview`` / ``--calibration`` (``auto``: the Looking
    Glass when one is found, else a preview window; headless without any display).

    A ``--calibration`` file is used in every case (it sets the views' aspect, view cone and
    quilt); without one, only a Looking Glass output looks for the display (Bridge, USB, settings).
    Raises :class:`ChoiceError` for a calibration file that cannot be used.
    """
    given = _find_display(calibration, required=True) if calibration is not None else None
    if requested in ("headless", "preview"):
        return _output(requested, given)
    if not can_show():
        hint = f" ({headless_hint})" if headless_hint else ""
        return _output("headless", given, f"no display found: running headless{hint}")
    found = given or _find_display(None, required=requested == "lookingglass")
    note = "" if found else "no Looking Glass calibration found: showing a preview window"
    return _output("lookingglass", found, note)


# -- what views -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ViewPlan:
    """The views of a session and the quilt that holds them (tiles = views, 1:1)."""

    views: ViewSettings
    quilt: QuiltLayout


def plan_views(
    num_views: int = 24,
    view_size: int = DEFAULT_VIEW_SIZE,
    *,
    sweep: SweepMode = "offaxis",
    aspect: float | None = None,
    focus_cm: float = 0.0,
    calibration: Calibration | None = None,
    default_grid: tuple[int, int] | None = None,
) -> ViewPlan:
    """Views and quilt for a display.

    The view aspect is ``aspect`` when given, else the display's (its calibration), else
    :data:`~pipeline.reenact.DEFAULT_VIEW_ASPECT` (Looking Glass Portrait); the view cone is
    the display's ``viewCone`` when its calibration is known (as Looking Glass's own tools
    render), else :data:`~pipeline.cameras.DEFAULT_VIEW_CONE_DEG` (35 degrees); ``focus_cm``
    moves the zero-parallax plane from the eyes (:class:`~pipeline.reenact.ViewSettings`).
    The quilt comes from :func:`display.quilt.quilt_for_views` (the display's own grid when it
    holds exactly these views). The one function behind the views and quilt of the live call,
    calls, the offline render, the preview, ``calibrate`` and ``lenticular``."""
    if aspect is None:
        aspect = calibration.display_aspect if calibration is not None else DEFAULT_VIEW_ASPECT
    cone = calibration.view_cone_deg if calibration is not None else DEFAULT_VIEW_CONE_DEG
    views = ViewSettings(
        num_views=num_views, view_size=view_size, aspect=float(aspect), sweep=sweep,
        view_cone_deg=float(cone), focus_cm=float(focus_cm),
    )  # fmt: skip
    quilt = quilt_for_views(num_views, views.width_px, views.height_px, views.aspect, default_grid)
    return ViewPlan(views, quilt)


def quilt_summary(quilt: QuiltLayout) -> dict[str, Any]:
    """The quilt as metrics files record it."""
    return {
        "cols": quilt.cols,
        "rows": quilt.rows,
        "tile_px": [quilt.tile_w_px, quilt.tile_h_px],
        "aspect": round(quilt.aspect, 4),
        "views": quilt.num_views,
    }


# -- what photo -----------------------------------------------------------------------------
def resolve_source(
    source: Path | None,
    *,
    pick: Callable[[], Path | None] | None = None,
) -> Path:
    """The source photo: ``source``, else the one stored in the settings, else (first run) what
    ``pick`` returns (the photo picker, when a window can be shown). Raises :class:`ChoiceError`."""
    from app.config import ConfigError, load_config

    if source is None:
        try:
            chosen = load_config().get("source_photo")
        except ConfigError as e:
            raise ChoiceError(str(e)) from e
        if not chosen and pick is not None:
            picked = pick()
            if picked is None:
                raise ChoiceError("no photo chosen: pick one in the window, or pass --source PHOTO")
            chosen = str(picked)
        if not chosen:
            raise ChoiceError(
                "no source photo: pass --source PHOTO, or choose one with 'voodoo-holo select' first"
            )
        source = Path(str(chosen))
    source = source.expanduser()
    if source.is_dir():
        raise ChoiceError(
            f"source photo {source} is a folder: give one photo, or pick one with 'voodoo-holo select {source}'"
        )
    if not source.is_file():
        raise ChoiceError(f"source photo {source} does not exist")
    return source.resolve()
