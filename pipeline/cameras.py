"""Camera conventions: the one place where they are written down.

Every module of voodoo-holo that builds, packs or consumes a camera goes through here.

World frame (EG3D / VOODOO 3D)
    The head sits near the origin and faces **+z**; world **+y is up**, +x is the head's left
    (the viewer's right when looking at the face). Units are EG3D units: the tri-plane covers
    the cube [-0.5, 0.5]^3, the canonical camera is 2.7 from the origin.

Camera axes (OpenCV)
    +x right in the image, +y down in the image, +z forward (the viewing direction).

``cam2world``
    A 4x4 float64 matrix, **column-vector** convention: ``p_world = cam2world @ p_cam``.
    Columns 0, 1, 2 are the camera x, y, z axes expressed in world coordinates, column 3 is
    the camera centre, the last row is (0, 0, 0, 1). ``world2cam`` is its inverse.

Intrinsics
    ``intrinsics`` are *normalised* by the image size (EG3D): ``[[fx, skew, cx], [0, fy, cy],
    [0, 0, 1]]`` with image coordinates u, v in [0, 1] (u right, v down; pixel (row i, col j)
    of an R x R image has centre u = (j + 0.5)/R, v = (i + 0.5)/R). ``K_px`` is the same
    matrix in pixels for a given width/height.

Angles
    ``yaw_deg``/``pitch_deg``/``roll_deg`` are degrees; functions taking radians say so in
    their argument names (``..._rad``).

Views of the Looking Glass sweep
    24 views, **view 0 is the left-most camera**: view i has yaw
    ``theta_i = -17.5 deg + i * 35 deg / 23`` (negative = the camera moved to its own left).
    Two rigs are offered (:func:`view_sweep`):

    * ``"offaxis"`` (the default): every view keeps the base camera's orientation, moves
      along its own x axis by ``x_i = D * tan(theta_i)`` (D = distance to the focal plane
      through the pivot) and shifts its principal point by ``fx * tan(theta_i)`` so the focal
      plane lands on the same pixels in every view. This is what Looking Glass prescribes
      (no keystone, no vertical disparity; see spec/looking-glass.md section 1.4) and it is
      exact for a ray-marching renderer, which accepts any camera.
    * ``"orbit"``: every view is the base camera rotated by ``theta_i`` about the camera's up
      axis through the pivot (a "toe-in" turntable). Useful for previews and for measuring
      the head yaw a tracker sees in a view.

    The sweep spans the display's view cone (its calibration's ``viewCone``) when it is known,
    35 degrees otherwise (``app.compose.plan_views``).

Focus (the zero-parallax plane)
    The pivot is the **eye midpoint** (:data:`FACE_EYES_POINT`): the world is the head's frame,
    so every head-pose camera sees the eyes there, and both avatars put them there (the neural
    one because the pose fit places faces so; the mesh one lifts its face to match). The plane
    through the pivot facing the base camera lands on the same pixels in every off-axis view:
    the panel's surface, where the hologram is sharpest. :func:`focus_pivot` moves it by
    ``focus_cm`` centimetres of head towards the viewer (``ViewSettings.focus_cm``, ``--focus``).

Framing
    :func:`framed_camera` keeps the base camera's pose and chooses its intrinsics: square
    pixels, and the one zoom and image centre that keep :data:`HEAD_VOLUME` (chin to the top of
    a full head of hair, around the eyes) inside every view of the sweep, parallax included,
    for driver head turns up to +-15 deg and nods up to +-10 deg, with :class:`Framing`'s
    headroom and side margins. It depends on the view size, aspect, cone, rig and focus only:
    one zoom for a whole call. Avatars draw any camera (the neural one its enclosing square,
    cropped back), so the framed cameras serve both.

Image layout
    Model tensors are ``B x 3 x H x W`` float32 RGB. Names carry the range: ``*_rgb01`` in
    [0, 1], ``*_signed`` in [-1, 1]; OpenCV frames are ``frame_bgr_u8`` (H x W x 3 uint8).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "CANONICAL_FOV_DEG",
    "EG3D_PER_CM",
    "FACE_EYES_POINT",
    "HEAD_VOLUME",
    "CANONICAL_RADIUS",
    "LOOKAT_POINT",
    "POSE_ESTIMATOR_FOCAL",
    "Camera",
    "Framing",
    "HeadVolume",
    "SweepMode",
    "aimed_at",
    "canonical_camera",
    "eg3d_orbit_cam2world",
    "euler_from_rotation",
    "focal_to_fov_deg",
    "focus_pivot",
    "fov_to_focal",
    "framed_camera",
    "from_eg3d_conditioning",
    "look_at_cam2world",
    "normalized_intrinsics",
    "opencv_cam2world_to_opengl_view",
    "opengl_projection_from_intrinsics",
    "pixel_homography",
    "rotation_about_axis",
    "stack_cameras",
    "to_eg3d_conditioning",
    "view_sweep",
    "view_yaws_deg",
]

#: EG3D's canonical field of view. It is effectively a *diagonal* FOV (see fov_to_focal).
CANONICAL_FOV_DEG = 18.837
#: Distance of the canonical camera from the world origin (not from the look-at point).
CANONICAL_RADIUS = 2.7
#: Point the canonical camera looks at.
LOOKAT_POINT = (0.0, 0.0, 0.2)
#: Normalised focal length of the cameras produced by the official pose estimator
#: (2985.29 px for a 700 px crop). Differs slightly from fov_to_focal(18.837) = 4.263391.
POSE_ESTIMATOR_FOCAL = 2985.29 / 700.0

#: Default Looking Glass sweep: 24 views spanning 35 degrees.
DEFAULT_NUM_VIEWS = 24
DEFAULT_VIEW_CONE_DEG = 35.0

#: The eye midpoint of a head in the EG3D world: where the pose fit puts the eyes of the
#: standard face (0.27 x the BFM eye midpoint + (0, 0.006, 0.161) = (0, 0.084, 0.197), moved
#: 2-6 % towards the camera by the normalisation onto the 2.7 sphere; measured 0.178-0.197 in
#: z on six photos). Every head-pose camera sees the eyes there: the world is the head's frame.
#: The default zero-parallax (focus) point of the sweep.
FACE_EYES_POINT = (0.0, 0.08, 0.19)
#: EG3D world units per centimetre of a real head (the pose fit's 0.27 per BFM unit, one BFM
#: unit being about 10.2 cm of the canonical face): the unit of ``focus_cm``.
EG3D_PER_CM = 0.0265

SweepMode = Literal["offaxis", "orbit"]


def fov_to_focal(fov_deg: float) -> float:
    """Normalised focal length for EG3D's field of view (``FOV_to_intrinsics``).

    EG3D uses a truncated pi (3.14159) and sqrt(2) (1.414), so the angle behaves like a
    diagonal FOV. Reproduced exactly so cameras match the official buffers.

    >>> round(fov_to_focal(18.837), 6)
    4.263391
    """
    return 1.0 / (math.tan(fov_deg * 3.14159 / 360.0) * 1.414)


def focal_to_fov_deg(focal: float) -> float:
    """Inverse of :func:`fov_to_focal` (EG3D's diagonal-FOV convention)."""
    return math.atan(1.0 / (focal * 1.414)) * 360.0 / 3.14159


def normalized_intrinsics(focal: float, cx: float = 0.5, cy: float = 0.5, skew: float = 0.0) -> np.ndarray:
    """3x3 normalised intrinsics ``[[f, skew, cx], [0, f, cy], [0, 0, 1]]``."""
    return np.array([[focal, skew, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def look_at_cam2world(
    origin: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    up: Sequence[float] | np.ndarray = (0.0, 1.0, 0.0),
) -> np.ndarray:
    """OpenCV-axes cam2world for a camera at ``origin`` looking at ``target``.

    Follows EG3D's ``create_cam2world_matrix``: forward = normalize(target - origin),
    right = -normalize(up x forward), camera y (image down) = normalize(forward x right).
    With ``up`` = world +y the image's down direction points towards world -y.
    """
    o = np.asarray(origin, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64) - o
    f = f / np.linalg.norm(f)
    up_v = np.asarray(up, dtype=np.float64)
    right = -np.cross(up_v, f)
    n = np.linalg.norm(right)
    if n < 1e-12:
        raise ValueError("look_at_cam2world: the viewing direction is parallel to 'up'")
    right = right / n
    cam_y = np.cross(f, right)
    cam_y = cam_y / np.linalg.norm(cam_y)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, cam_y, f, o
    return m


def eg3d_orbit_cam2world(
    horizontal_rad: float,
    vertical_rad: float,
    radius: float = CANONICAL_RADIUS,
    lookat: Sequence[float] = LOOKAT_POINT,
) -> np.ndarray:
    """EG3D's ``LookAtPoseSampler`` with zero spread.

    ``horizontal_rad`` = pi/2 and ``vertical_rad`` = pi/2 is the frontal camera; increasing
    ``horizontal_rad`` moves the camera towards +x. The radius is measured from the world
    origin, not from ``lookat``.
    """
    v = float(np.clip(vertical_rad, 1e-5, math.pi - 1e-5))
    phi = math.acos(1.0 - 2.0 * v / math.pi)
    theta = math.pi - horizontal_rad
    origin = np.array(
        [
            radius * math.sin(phi) * math.cos(theta),
            radius * math.cos(phi),
            radius * math.sin(phi) * math.sin(theta),
        ]
    )
    return look_at_cam2world(origin, lookat)


def rotation_about_axis(axis: Sequence[float] | np.ndarray, angle_rad: float) -> np.ndarray:
    """3x3 right-handed rotation by ``angle_rad`` about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    x, y, z = a
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) * c + s * k + (1.0 - c) * np.outer(a, a)


_EYE3 = np.eye(3)
_ROT_TOL = 1e-4 + 1e-5 * _EYE3  # np.allclose(rot.T @ rot, I, atol=1e-4)
_LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])
_LAST_ROW_TOL = 1e-8 + 1e-5 * _LAST_ROW  # np.allclose's defaults


@dataclass(frozen=True)
class Camera:
    """A pinhole camera in our conventions (see the module docstring).

    Attributes:
        cam2world: 4x4 camera-to-world matrix, OpenCV axes, EG3D world frame.
        intrinsics: 3x3 intrinsics normalised by the image size (cx = cy = 0.5 when centred).
        width: image width in pixels the camera is rendered at.
        height: image height in pixels.
    """

    cam2world: np.ndarray
    intrinsics: np.ndarray = field(
        default_factory=lambda: normalized_intrinsics(fov_to_focal(CANONICAL_FOV_DEG))
    )
    width: int = 512
    height: int = 512

    def __post_init__(self) -> None:
        c2w = np.array(self.cam2world, dtype=np.float64)
        k = np.array(self.intrinsics, dtype=np.float64)
        if c2w.shape != (4, 4):
            raise ValueError(f"Camera.cam2world must be 4x4, got shape {c2w.shape}")
        if k.shape != (3, 3):
            raise ValueError(f"Camera.intrinsics must be 3x3, got shape {k.shape}")
        if not (np.isfinite(c2w).all() and np.isfinite(k).all()):
            raise ValueError("Camera matrices contain NaN or infinity")
        # The tolerances of np.allclose(..., atol=1e-4) and np.allclose(...), written out: a
        # sweep makes a dozen cameras a frame, and allclose costs more than the rest together.
        rot = c2w[:3, :3]
        if (np.abs(rot.T @ rot - _EYE3) > _ROT_TOL).any() or np.linalg.det(rot) < 0:
            raise ValueError("Camera.cam2world's 3x3 part is not a rotation (orthonormal, det +1)")
        if (np.abs(c2w[3] - _LAST_ROW) > _LAST_ROW_TOL).any():
            raise ValueError("Camera.cam2world's last row must be (0, 0, 0, 1)")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Camera size must be positive, got {self.width}x{self.height}")
        c2w.setflags(write=False)
        k.setflags(write=False)
        object.__setattr__(self, "cam2world", c2w)
        object.__setattr__(self, "intrinsics", k)

    # -- derived quantities -------------------------------------------------------------
    @property
    def world2cam(self) -> np.ndarray:
        """Inverse of ``cam2world`` (rigid inverse)."""
        r, t = self.cam2world[:3, :3], self.cam2world[:3, 3]
        m = np.eye(4)
        m[:3, :3] = r.T
        m[:3, 3] = -r.T @ t
        return m

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return self.cam2world[:3, 3].copy()

    @property
    def forward(self) -> np.ndarray:
        """Viewing direction (camera +z) in world coordinates."""
        return self.cam2world[:3, 2].copy()

    @property
    def K_px(self) -> np.ndarray:
        """Intrinsics in pixels for ``width`` x ``height``."""
        s = np.diag([self.width, self.height, 1.0])
        return s @ self.intrinsics

    def with_size(self, width: int, height: int | None = None) -> Camera:
        """Same camera rendered at another resolution (normalised intrinsics unchanged)."""
        return Camera(self.cam2world, self.intrinsics, width, width if height is None else height)

    def cropped(self, x0_px: float, y0_px: float, width: int, height: int) -> Camera:
        """The camera of the ``width x height`` window of this image whose top-left corner is
        pixel ``(x0_px, y0_px)`` (may lie outside the image): same centre and rotation, same
        focal length in pixels, principal point moved. Exact for any pinhole renderer.

        >>> c = Camera(np.eye(4), width=512, height=512).cropped(64, 0, 384, 512)
        >>> (c.width, c.height, round(c.K_px[0, 2], 3), round(c.K_px[0, 0] / c.K_px[1, 1], 3))
        (384, 512, 192.0, 1.0)
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"crop size must be positive, got {width}x{height}")
        k_px = self.K_px.copy()
        k_px[0, 2] -= x0_px
        k_px[1, 2] -= y0_px
        k = np.diag([1.0 / width, 1.0 / height, 1.0]) @ k_px
        return Camera(self.cam2world, k, width, height)

    def centre_crop(self, width: int, height: int) -> Camera:
        """The centred ``width x height`` window of this camera's image (see :meth:`cropped`)."""
        return self.cropped((self.width - width) / 2.0, (self.height - height) / 2.0, width, height)

    def enclosing_square(self) -> Camera:
        """The centred square camera of side ``max(width, height)`` whose centre crop is this one
        (inverse of :meth:`centre_crop` for a renderer that only draws square images)."""
        side = max(self.width, self.height)
        return self.cropped(-(side - self.width) / 2.0, -(side - self.height) / 2.0, side, side)

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """Project N x 3 world points to N x 2 pixel coordinates (x right, y down).

        Pixel (0, 0) is the *corner* of the top-left pixel; its centre is (0.5, 0.5).
        """
        p = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        pc = (self.world2cam[:3, :3] @ p.T).T + self.world2cam[:3, 3]
        uvw = (self.K_px @ pc.T).T
        return uvw[:, :2] / uvw[:, 2:3]

    def yaw_pitch_roll_deg(self) -> tuple[float, float, float]:
        """Head pose seen by this camera, in degrees (see :func:`euler_from_rotation`)."""
        return euler_from_rotation(self.cam2world[:3, :3])


def euler_from_rotation(cam2world_rot: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) of a camera relative to the frontal camera.

    The camera rotation is factored as ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll) @ diag(1,-1,-1)``
    (world axes). Signs: positive yaw = the camera moved towards world +x, the subject's
    left (it sees the left cheek; the face turns towards the image's left); positive pitch
    = the camera above the head looking down; positive roll = the camera rolled
    anticlockwise about its viewing axis, so the head appears rotated clockwise in the
    image.
    """
    r = np.asarray(cam2world_rot, dtype=np.float64)[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    # r = Ry(yaw) Rx(pitch') Rz(roll') with pitch' = -pitch so that "above" is positive.
    sp = -r[1, 2]
    pitch = math.asin(float(np.clip(sp, -1.0, 1.0)))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return math.degrees(yaw), -math.degrees(pitch), math.degrees(roll)


def canonical_camera(width: int = 512, height: int = 512) -> Camera:
    """The frontal camera of VOODOO 3D (its ``canonical_cam2world``/``canonical_intrinsics``).

    Computed in float32 like the official buffers, so values agree with the state dict to
    float32 precision (including the ~1e-7 off-diagonal terms).
    """
    import numpy as _np

    half_pi = _np.float32(math.pi / 2)
    v = _np.clip(half_pi, _np.float32(1e-5), _np.float32(math.pi - 1e-5))
    phi = _np.arccos(_np.float32(1) - _np.float32(2) * v / _np.float32(math.pi))
    theta = _np.float32(math.pi) - half_pi
    r = _np.float32(CANONICAL_RADIUS)
    origin = _np.array(
        [r * _np.sin(phi) * _np.cos(theta), r * _np.cos(phi), r * _np.sin(phi) * _np.sin(theta)],
        dtype=_np.float32,
    )
    target = _np.asarray(LOOKAT_POINT, dtype=_np.float32)
    f = target - origin
    f = f / _np.linalg.norm(f)
    up = _np.array([0, 1, 0], dtype=_np.float32)
    right = -_np.cross(up, f)
    right = right / _np.linalg.norm(right)
    cam_y = _np.cross(f, right)
    cam_y = cam_y / _np.linalg.norm(cam_y)
    m = _np.eye(4, dtype=_np.float32)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, cam_y, f, origin
    focal = _np.float32(fov_to_focal(CANONICAL_FOV_DEG))
    k = normalized_intrinsics(float(focal))
    return Camera(m.astype(np.float64), k, width, height)


def view_yaws_deg(
    num_views: int = DEFAULT_NUM_VIEWS, view_cone_deg: float = DEFAULT_VIEW_CONE_DEG
) -> np.ndarray:
    """Yaw of each view, view 0 left-most: ``-cone/2 + i * cone / (N - 1)``.

    >>> view_yaws_deg(24)[[0, 23]].tolist()
    [-17.5, 17.5]
    """
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")
    if num_views == 1:
        return np.zeros(1)
    return -view_cone_deg / 2.0 + np.arange(num_views) * view_cone_deg / (num_views - 1)


def view_sweep(
    base: Camera,
    num_views: int = DEFAULT_NUM_VIEWS,
    view_cone_deg: float = DEFAULT_VIEW_CONE_DEG,
    mode: SweepMode = "offaxis",
    pivot: Sequence[float] | np.ndarray = FACE_EYES_POINT,
    views: Sequence[int] | None = None,
) -> list[Camera]:
    """Cameras of the Looking Glass sweep around ``base`` (view 0 = left-most).

    Args:
        base: the centre camera (typically the driver's head-pose camera).
        num_views: number of views in the whole sweep.
        view_cone_deg: angle spanned by the sweep (35 degrees by default).
        mode: ``"offaxis"`` (shifted camera + sheared frustum, default) or ``"orbit"``.
        pivot: world point on the focal plane (off-axis) or the centre of rotation (orbit).
        views: optional subset of view indices to build (e.g. one renderer's slice).
    """
    if mode not in ("offaxis", "orbit"):
        raise ValueError(f"view_sweep mode must be 'offaxis' or 'orbit', got {mode!r}")
    yaws = view_yaws_deg(num_views, view_cone_deg)
    idx = range(num_views) if views is None else views
    p = np.asarray(pivot, dtype=np.float64)
    o = base.center
    out: list[Camera] = []
    for i in idx:
        if not 0 <= i < num_views:
            raise IndexError(f"view index {i} outside 0..{num_views - 1}")
        t = math.radians(float(yaws[i]))
        if mode == "orbit":
            up = -base.cam2world[:3, 1]
            r = rotation_about_axis(up, t)
            m = np.eye(4)
            m[:3, :3] = r @ base.cam2world[:3, :3]
            m[:3, 3] = r @ (o - p) + p
            out.append(Camera(m, base.intrinsics, base.width, base.height))
        else:
            right = base.cam2world[:3, 0]
            depth = float(np.dot(p - o, base.forward))
            if depth <= 0:
                raise ValueError("view_sweep: the pivot is behind the base camera")
            m = base.cam2world.copy()
            m[:3, 3] = o + right * depth * math.tan(t)
            k = base.intrinsics.copy()
            k[0, 2] = k[0, 2] + k[0, 0] * math.tan(t)
            out.append(Camera(m, k, base.width, base.height))
    return out


# -- framing and focus ------------------------------------------------------------------------
@dataclass(frozen=True)
class HeadVolume:
    """An ellipsoid that holds a head with its hair, in the EG3D world (the head's frame).

    Attributes:
        centre: world position of the ellipsoid's centre.
        radii: half extents along world x (ear to ear), y (chin to crown), z (nose to nape).
    """

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (*self.centre, *self.radii)) or min(self.radii) <= 0:
            raise ValueError(f"HeadVolume needs finite values and positive radii, got {self}")

    def surface_points(self, rings: int = 12, per_ring: int = 24) -> np.ndarray:
        """``N x 3`` world points on the ellipsoid (both poles and ``rings`` latitude rings)."""
        lat = np.linspace(-math.pi / 2, math.pi / 2, rings + 2)
        lon = np.linspace(0.0, 2.0 * math.pi, per_ring, endpoint=False)
        la, lo = np.meshgrid(lat[1:-1], lon, indexing="ij")
        unit = np.stack([np.cos(la) * np.sin(lo), np.sin(la), np.cos(la) * np.cos(lo)], -1).reshape(-1, 3)
        unit = np.concatenate([unit, [[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]])
        return np.asarray(self.centre) + unit * np.asarray(self.radii)


#: The head every view must hold: from 0.30 below the eyes (chin) to 0.36 above them (top of
#: the hair), 0.30 either side (ears and a full head of hair) and from 0.11 in front of them (nose tip) to
#: 0.45 behind (nape): an adult head of 11 + 13.5 cm height, 23 cm width with hair and 21 cm
#: depth, around :data:`FACE_EYES_POINT`. Centred over the world origin, about which the
#: head-pose cameras turn, so a turning head stays inside.
HEAD_VOLUME = HeadVolume(centre=(0.0, 0.11, 0.02), radii=(0.30, 0.33, 0.28))


@dataclass(frozen=True)
class Framing:
    """Where the head sits in every view, as fractions of the view's size.

    Attributes:
        headroom: least empty space above the head volume (fraction of the view height).
        side_margin: least empty space left and right of it (fraction of the view width).
        chin_margin: least space under it (fraction of the height); it decides the zoom only
            in wide views, where the head's height fills the view.
        head: the head volume every view holds.
        poses_deg: the driver head poses ``(yaw, pitch)`` the framing holds the head for:
            one zoom for every frame, so a turning head turns and never breathes.
    """

    headroom: float = 0.05
    side_margin: float = 0.03
    chin_margin: float = 0.03
    head: HeadVolume = HEAD_VOLUME
    poses_deg: tuple[tuple[float, float], ...] = (
        (0.0, 0.0),
        (-15.0, 0.0),
        (15.0, 0.0),
        (0.0, -10.0),
        (0.0, 10.0),
    )

    def __post_init__(self) -> None:
        for name in ("headroom", "side_margin", "chin_margin"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v < 0.4):
                raise ValueError(f"Framing.{name} must be in [0, 0.4), got {v}")
        if not self.poses_deg:
            raise ValueError("Framing.poses_deg needs at least one pose")


def focus_pivot(camera: Camera, focus_cm: float = 0.0) -> np.ndarray:
    """The world point the zero-parallax plane goes through: the eyes
    (:data:`FACE_EYES_POINT`), moved ``focus_cm`` centimetres of head towards ``camera``
    (negative: away from it, into the head; the nose tip is about +3, the ears about -9)."""
    return np.asarray(FACE_EYES_POINT, dtype=np.float64) - focus_cm * EG3D_PER_CM * camera.forward


def _reference_camera(yaw_deg: float, pitch_deg: float) -> Camera:
    """A head-pose camera for a head turned by ``yaw_deg``/``pitch_deg``: on the 2.7 sphere,
    aimed at the look-at point (where the pose fit aims every camera, to a few hundredths)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    origin = CANONICAL_RADIUS * np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])
    return Camera(look_at_cam2world(origin, LOOKAT_POINT))


@functools.lru_cache(maxsize=64)
def _framed_intrinsics(
    width: int, height: int, num_views: int, view_cone_deg: float, mode: SweepMode, focus_cm: float,
    framing: Framing,
) -> tuple[float, float, float, float]:  # fmt: skip
    """``(fx, fy, cx, cy)`` normalised, shared by every head pose (see :func:`framed_camera`)."""
    points = framing.head.surface_points()
    # Normalised image coordinates (focal 1 px, principal point 0) of the head in every view
    # of every reference pose: pixel = f * a + c for the focal f and centre c chosen below.
    unit = np.diag([1.0 / width, 1.0 / height, 1.0])
    a_lo = b_lo = math.inf
    a_hi = b_hi = -math.inf
    for yaw, pitch in framing.poses_deg:
        ref = _reference_camera(yaw, pitch)
        cam = Camera(ref.cam2world, unit, width, height)
        for view in view_sweep(cam, num_views, view_cone_deg, mode, pivot=focus_pivot(ref, focus_cm)):
            if np.any((points - view.center) @ view.forward <= 1e-3):
                raise ValueError("framing: the head volume reaches behind a view's camera")
            ab = view.project(points)
            a_lo, a_hi = min(a_lo, float(ab[:, 0].min())), max(a_hi, float(ab[:, 0].max()))
            b_lo, b_hi = min(b_lo, float(ab[:, 1].min())), max(b_hi, float(ab[:, 1].max()))
    room_w = width * (1.0 - 2.0 * framing.side_margin)
    room_h = height * (1.0 - framing.headroom - framing.chin_margin)
    f = min(room_w / (a_hi - a_lo), room_h / (b_hi - b_lo))
    cx = width / 2.0 - f * (a_lo + a_hi) / 2.0
    cy = height * framing.headroom - f * b_lo
    return f / width, f / height, cx / width, cy / height


def framed_camera(
    base: Camera,
    width: int,
    height: int,
    *,
    num_views: int = DEFAULT_NUM_VIEWS,
    view_cone_deg: float = DEFAULT_VIEW_CONE_DEG,
    mode: SweepMode = "offaxis",
    focus_cm: float = 0.0,
    framing: Framing = Framing(),
) -> Camera:
    """The centre camera of a sweep, ``width x height``, framed around the head.

    Keeps ``base``'s pose (the driver's head pose) and replaces its intrinsics: the focal
    length and principal point put the head volume inside the view with the framing's
    margins in *every* view of the sweep (parallax and all) and for every head pose in
    ``framing.poses_deg``. They depend only on the arguments, not on ``base``: one zoom for
    every frame of a call. Square pixels (fx = fy in pixels).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"framed_camera: the view size must be positive, got {width}x{height}")
    fx, fy, cx, cy = _framed_intrinsics(
        int(width), int(height), int(num_views), float(view_cone_deg), mode, float(focus_cm), framing
    )
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return Camera(base.cam2world, k, int(width), int(height))


def aimed_at(camera: Camera, target: Sequence[float] | np.ndarray) -> Camera:
    """The camera at ``camera``'s centre turned to look straight at ``target`` (principal point
    at the image centre, the same focal length in pixels, the image's up kept as far as it
    can be): the toe-in view an off-axis view is a sheared crop of. Relate the two images
    with :func:`pixel_homography`."""
    up = -camera.cam2world[:3, 1]
    c2w = look_at_cam2world(camera.center, target, up)
    k_px = camera.K_px
    k = normalized_intrinsics(1.0)
    k[0, 0], k[1, 1] = k_px[0, 0] / camera.width, k_px[1, 1] / camera.height
    return Camera(c2w, k, camera.width, camera.height)


def pixel_homography(src: Camera, dst: Camera) -> np.ndarray:
    """The 3x3 map from ``src``'s pixel coordinates to ``dst``'s (both in the corner
    convention of :meth:`Camera.project`) for two cameras with one centre: exact for every
    point, whatever its depth (a rotation and a change of intrinsics)."""
    if not np.allclose(src.center, dst.center, atol=1e-9):
        raise ValueError("pixel_homography: the two cameras must share their centre")
    rel = dst.cam2world[:3, :3].T @ src.cam2world[:3, :3]
    h = dst.K_px @ rel @ np.linalg.inv(src.K_px)
    return h / h[2, 2]


def stack_cameras(cameras: Sequence[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """Pack cameras into ``(cam2world N x 4 x 4, intrinsics N x 3 x 3)`` float32 arrays."""
    if not cameras:
        raise ValueError("stack_cameras needs at least one camera")
    c2w = np.stack([c.cam2world for c in cameras]).astype(np.float32)
    k = np.stack([c.intrinsics for c in cameras]).astype(np.float32)
    return c2w, k


def to_eg3d_conditioning(camera: Camera) -> np.ndarray:
    """EG3D's packed 25-float camera vector: flattened cam2world (16) + intrinsics (9).

    Only for network adapters that need it; everything else passes :class:`Camera`.
    """
    return np.concatenate([camera.cam2world.reshape(-1), camera.intrinsics.reshape(-1)]).astype(np.float32)


def from_eg3d_conditioning(c: np.ndarray, width: int = 512, height: int = 512) -> Camera:
    """Inverse of :func:`to_eg3d_conditioning`."""
    c = np.asarray(c, dtype=np.float64).reshape(-1)
    if c.shape[0] != 25:
        raise ValueError(f"an EG3D camera vector has 25 values, got {c.shape[0]}")
    return Camera(c[:16].reshape(4, 4), c[16:].reshape(3, 3), width, height)


# -- OpenGL interop (mesh backend, display) -------------------------------------------------
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def opencv_cam2world_to_opengl_view(cam2world: np.ndarray) -> np.ndarray:
    """OpenGL view matrix (world -> eye, eye looks down -z, y up) from an OpenCV cam2world."""
    c2w = np.asarray(cam2world, dtype=np.float64)
    r, t = c2w[:3, :3], c2w[:3, 3]
    w2c = np.eye(4)
    w2c[:3, :3] = r.T
    w2c[:3, 3] = -r.T @ t
    return _CV_TO_GL @ w2c


def opengl_projection_from_intrinsics(intrinsics: np.ndarray, near: float, far: float) -> np.ndarray:
    """OpenGL projection matrix (column-vector, clip = P @ eye) for normalised intrinsics.

    Handles an off-centre principal point (off-axis views) and skew-free cameras. NDC x = -1
    is the image's left edge and NDC y = +1 its *top* edge, so an image read back from GL
    with rows bottom-up must be flipped vertically to match OpenCV's row order.
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if abs(k[0, 1]) > 1e-9:
        raise ValueError("opengl_projection_from_intrinsics does not support skew")
    if not 0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    p = np.zeros((4, 4))
    p[0, 0] = 2.0 * fx
    p[0, 2] = 1.0 - 2.0 * cx  # eye z is negative: x_ndc = (2 fx x/(-z)) + (2cx - 1)
    p[1, 1] = 2.0 * fy
    p[1, 2] = 2.0 * cy - 1.0
    p[2, 2] = -(far + near) / (far - near)
    p[2, 3] = -2.0 * far * near / (far - near)
    p[3, 2] = -1.0
    return p
