"""MediaPipe FaceMesh landmarks and their mapping to the points the official pipeline reads.

Landmark arrays are ``478 x 3`` float32 in **pixels of the image they were found in**:
x right, y down, with pixel (0, 0) the *corner* of the top-left pixel (MediaPipe's
normalised x times the width), and z = MediaPipe's relative depth times the image width
(MediaPipe scales z like x), negative towards the camera. Points 0-467 are the face mesh
(vertex i of the canonical face model), 468-477 the irises (refined landmarks).

"Right"/"left" below are the **subject's** sides: the subject's right eye is on the image's
left in an unmirrored photo.

Mapping to the 68-point (iBUG / face_alignment) positions that VOODOO 3D's pre-processing
reads (spec section 10):

=================  ==================  =====================================================
68-point index     FaceMesh index      meaning
=================  ==================  =====================================================
36, 37, 38         33, 160, 158        right eye: outer corner, upper lid (outer, inner)
39, 40, 41         133, 153, 144       right eye: inner corner, lower lid (inner, outer)
42, 43, 44         362, 385, 387       left eye: inner corner, upper lid (inner, outer)
45, 46, 47         263, 373, 380       left eye: outer corner, lower lid (outer, inner)
30                 4                   nose tip (the most anterior point of the canonical mesh)
48, 54             61, 291             mouth corners (right, left), on the outer lip line
=================  ==================  =====================================================

Derived points: the quad alignment uses the mean of the six eye points per eye; the 5-point
crop uses the mean of the two eye corners (36+39, 42+45), the nose tip and the mouth corners.
The iris centres (468 right, 473 left) are not used by the alignment (the official detector
has no iris) but are available for gaze.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tracking.native_log import QuietWindow

__all__ = [
    "FACEMESH_FROM_68",
    "IRIS_CENTER_LEFT",
    "IRIS_CENTER_RIGHT",
    "NUM_LANDMARKS",
    "FaceMeshDetector",
    "five_points",
    "landmarks_68_subset",
    "quad_points",
]

NUM_LANDMARKS = 478
IRIS_CENTER_RIGHT = 468
IRIS_CENTER_LEFT = 473

#: 68-point index -> FaceMesh landmark index, for the positions the official pipeline reads.
FACEMESH_FROM_68: dict[int, int] = {
    30: 4,
    36: 33,
    37: 160,
    38: 158,
    39: 133,
    40: 153,
    41: 144,
    42: 362,
    43: 385,
    44: 387,
    45: 263,
    46: 373,
    47: 380,
    48: 61,
    54: 291,
}

_RIGHT_EYE_6 = np.array([FACEMESH_FROM_68[i] for i in range(36, 42)])
_LEFT_EYE_6 = np.array([FACEMESH_FROM_68[i] for i in range(42, 48)])


def landmarks_68_subset(lm: np.ndarray) -> dict[int, np.ndarray]:
    """The 68-point positions the official pipeline reads, keyed by their 68-point index."""
    return {k: np.asarray(lm[v, :2], dtype=np.float64) for k, v in FACEMESH_FROM_68.items()}


def quad_points(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right-eye centre, left-eye centre, mouth centre) as the FFHQ quad alignment uses them.

    Eye centres are the mean of the six 68-point eye contour points, the mouth centre the
    mean of the two mouth corners (spec section 10 step 3). Returns 2-vectors in pixels.
    """
    p = np.asarray(lm, dtype=np.float64)[:, :2]
    eye_r = p[_RIGHT_EYE_6].mean(axis=0)
    eye_l = p[_LEFT_EYE_6].mean(axis=0)
    mouth = 0.5 * (p[FACEMESH_FROM_68[48]] + p[FACEMESH_FROM_68[54]])
    return eye_r, eye_l, mouth


def five_points(lm: np.ndarray) -> np.ndarray:
    """``5 x 2`` points of the 5-point crop: right eye, left eye, nose tip, mouth corners.

    Eye points are the mean of the two eye corners (68-point 36+39 and 42+45), as in the
    official ``ImageCropper``.
    """
    p = np.asarray(lm, dtype=np.float64)[:, :2]
    m = FACEMESH_FROM_68
    return np.stack(
        [
            0.5 * (p[m[36]] + p[m[39]]),
            0.5 * (p[m[42]] + p[m[45]]),
            p[m[30]],
            p[m[48]],
            p[m[54]],
        ]
    )


def _result_to_arrays(result, width: int, height: int) -> list[np.ndarray]:
    faces = getattr(result, "multi_face_landmarks", None) or []
    out = []
    for face in faces:
        a = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
        if a.shape != (NUM_LANDMARKS, 3):
            raise RuntimeError(
                f"FaceMesh returned {a.shape[0]} landmarks, expected {NUM_LANDMARKS} (refine_landmarks)"
            )
        a *= np.array([width, height, width], dtype=np.float32)
        out.append(a)
    return out


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of :class:`FaceMeshDetector`.

    Attributes:
        video: MediaPipe video mode (tracks the previous frame's face instead of re-detecting).
        max_faces: how many faces FaceMesh reports (>= 1).
        min_detection_confidence: face detector threshold in [0, 1].
        min_tracking_confidence: video-mode landmark tracking threshold in [0, 1].
    """

    video: bool = False
    max_faces: int = 4
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {self.max_faces}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")


class FaceMeshDetector:
    """MediaPipe FaceMesh (478 refined landmarks) on ``H x W x 3`` uint8 RGB images.

    In photo mode the full-range face detector backs up FaceMesh's short-range one (see
    :meth:`detect`). Close it with :meth:`close` (or use it as a context manager).
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        import mediapipe as mp

        self.config = config or DetectorConfig()
        c = self.config
        # Each graph logs native notices while it starts and during its first complete
        # inference (one that found a face: every model and calculator has run): they are
        # filtered from before the graph is created until then (or until close()).
        self._quiet: dict[int, QuietWindow] = {}
        self._mesh = self._quietly(
            lambda: mp.solutions.face_mesh.FaceMesh(
                static_image_mode=not c.video,
                max_num_faces=c.max_faces,
                refine_landmarks=True,
                min_detection_confidence=c.min_detection_confidence,
                min_tracking_confidence=c.min_tracking_confidence,
            )
        )
        self._fallback = None
        self._fallback_mesh = None
        if not c.video:
            self._fallback = self._quietly(
                lambda: mp.solutions.face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=c.min_detection_confidence
                )
            )
            self._fallback_mesh = self._quietly(
                lambda: mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True,
                    max_num_faces=1,
                    refine_landmarks=True,
                    min_detection_confidence=c.min_detection_confidence,
                )
            )

    def _quietly(self, make_graph):
        window = QuietWindow().open()
        try:
            graph = make_graph()
        except BaseException:
            window.close()
            raise
        self._quiet[id(graph)] = window
        return graph

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for g in (self._mesh, self._fallback, self._fallback_mesh):
            if g is not None:
                g.close()
        self._mesh = self._fallback = self._fallback_mesh = None
        for window in self._quiet.values():
            window.close()
        self._quiet.clear()

    def detect(self, image_rgb_u8: np.ndarray) -> list[np.ndarray]:
        """All faces found, each ``478 x 3`` float32 in image pixels (see module docstring).

        In photo mode the full-range face detector also runs, and FaceMesh is run again on
        a crop around every detected face that FaceMesh's own detector missed (small faces
        beside a big one, faces far from the camera).
        """
        if self._mesh is None:
            raise RuntimeError("FaceMeshDetector is closed")
        img = _check_rgb_u8(image_rgb_u8)
        h, w = img.shape[:2]
        faces = _result_to_arrays(self._process(self._mesh, img), w, h)
        if self._fallback is None or len(faces) >= self.config.max_faces:
            return faces
        return faces + self._detect_missed(img, faces)

    def _process(self, graph, img: np.ndarray):
        result = graph.process(img)
        window = self._quiet.get(id(graph))
        # process() returns once the graph is idle, so its notices are written by now.
        if window is not None and (
            getattr(result, "multi_face_landmarks", None) or getattr(result, "detections", None)
        ):
            window.close()
        return result

    def _detect_missed(self, img: np.ndarray, faces: list[np.ndarray]) -> list[np.ndarray]:
        h, w = img.shape[:2]
        res = self._process(self._fallback, img)
        out: list[np.ndarray] = []
        for det in getattr(res, "detections", None) or []:
            bb = det.location_data.relative_bounding_box
            cx, cy = (bb.xmin + bb.width / 2) * w, (bb.ymin + bb.height / 2) * h
            if any(_contains(f, cx, cy) for f in faces + out):
                continue
            side = 2.2 * max(bb.width * w, bb.height * h)
            x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            sub = np.ascontiguousarray(img[y0:y1, x0:x1])
            for f in _result_to_arrays(self._process(self._fallback_mesh, sub), x1 - x0, y1 - y0):
                f[:, 0] += x0
                f[:, 1] += y0
                out.append(f)
        return out[: max(0, self.config.max_faces - len(faces))]


def _contains(face: np.ndarray, x: float, y: float) -> bool:
    lo, hi = face[:, :2].min(axis=0), face[:, :2].max(axis=0)
    return bool(lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1])


def _check_rgb_u8(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got shape {a.shape} dtype {a.dtype}")
    return np.ascontiguousarray(a)
