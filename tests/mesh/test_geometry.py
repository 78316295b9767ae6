"""Pure geometry of the mesh avatar (no GL): fits, lifting, topology, shell, texture, states."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.avatar import FaceObservation
from pipeline.cameras import Camera, rotation_about_axis
from pipeline.face_model import canonical_face_model
from pipeline.mesh.backend import DriveConfig, MeshBackend, MeshBackendConfig
from pipeline.mesh.geometry import (
    camera_depth,
    frontalize,
    lift_landmarks_to_world,
    similarity_fit,
    validate_landmarks,
)
from pipeline.mesh.raster import interpolate, rasterize_triangles
from pipeline.mesh.renderer import RendererConfig
from pipeline.mesh.shell import HeadShell, ShellConfig
from pipeline.mesh.state import MeshScene, MeshSource
from pipeline.mesh.texture import own_texture_weight
from pipeline.mesh.topology import (
    FACE_OVAL_LOOP,
    LEFT_EYE_LOOP,
    LIPS_INNER_LOOP,
    RIGHT_EYE_LOOP,
    mirror_index,
    mouth_triangle_mask,
)
from pipeline.wire import Message, WireError, decode, encode


def _loop_edges(loop: tuple[int, ...]) -> set[frozenset[int]]:
    return {frozenset((loop[i], loop[(i + 1) % len(loop)])) for i in range(len(loop))}


def test_loops_match_mediapipe_connections() -> None:
    from mediapipe.python.solutions import face_mesh_connections as c

    def edges(conn: frozenset[tuple[int, int]]) -> set[frozenset[int]]:
        return {frozenset(e) for e in conn}

    assert _loop_edges(LEFT_EYE_LOOP) == edges(c.FACEMESH_LEFT_EYE)
    assert _loop_edges(RIGHT_EYE_LOOP) == edges(c.FACEMESH_RIGHT_EYE)
    assert _loop_edges(FACE_OVAL_LOOP) == edges(c.FACEMESH_FACE_OVAL)
    assert _loop_edges(LIPS_INNER_LOOP) <= edges(c.FACEMESH_LIPS)


def test_mirror_index_and_mouth_triangles() -> None:
    mir = mirror_index()
    v = canonical_face_model().vertices_cm
    assert np.array_equal(mir[mir], np.arange(len(v)))
    np.testing.assert_allclose(v[mir] * [-1, 1, 1], v, atol=1e-3)
    assert mir[1] == 1 and mir[33] == 263  # nose tip on the axis; eye corners swap
    mouth = mouth_triangle_mask()
    assert 10 <= mouth.sum() <= 30
    tri = canonical_face_model().triangles[mouth]
    assert np.all(np.abs(v[tri][..., 1] - v[13, 1]) < 1.5)  # all within 1.5 cm of the lip line


def test_similarity_fit_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    r = rotation_about_axis((0.3, 1.0, -0.2), 0.7)
    y = 2.5 * x @ r.T + np.array([1.0, -2.0, 3.0])
    fit = similarity_fit(x, y)
    assert fit.scale == pytest.approx(2.5)
    np.testing.assert_allclose(fit.rotation, r, atol=1e-9)
    np.testing.assert_allclose(fit.apply(x), y, atol=1e-9)
    np.testing.assert_allclose(fit.inverse_apply(y), x, atol=1e-9)


def test_frontalize_removes_head_pose_and_size() -> None:
    model = canonical_face_model()
    shape = model.vertices_cm.copy()
    shape[14] -= (0.0, 0.8, 0.0)  # an expression: the lower lip drops
    flip = np.diag([1.0, -1.0, -1.0])
    lm_a = 30.0 * shape @ flip.T + (256.0, 250.0, 0.0)
    r = rotation_about_axis((0.0, 1.0, 0.0), 0.4) @ rotation_about_axis((1.0, 0.0, 0.0), -0.2)
    lm_b = 18.0 * shape @ (r @ flip).T + (200.0, 300.0, 5.0)
    fa, _ = frontalize(lm_a)
    fb, _ = frontalize(lm_b)
    np.testing.assert_allclose(fa, fb, atol=1e-6)
    assert np.linalg.norm(fa[13] - fa[14]) > 0.5  # the expression survives


def test_validate_landmarks_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="468 FaceMesh landmarks"):
        validate_landmarks(np.zeros((68, 2)))
    bad = np.ones((478, 3))
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        validate_landmarks(bad)
    with pytest.raises(ValueError, match="collapsed"):
        validate_landmarks(np.ones((478, 3)))


def test_lifted_face_projects_onto_the_landmarks(astronaut_obs: FaceObservation) -> None:
    lm = astronaut_obs.landmarks_px
    world = lift_landmarks_to_world(lm, astronaut_obs.camera)
    np.testing.assert_allclose(astronaut_obs.camera.project(world), lm[:468, :2], atol=1e-6)
    # The head sits near the world origin, about as wide as the canonical framing implies.
    width = np.linalg.norm(world[234] - world[454])
    assert 0.2 < width < 0.45, width
    assert np.linalg.norm(world.mean(axis=0)) < 0.3
    # The nose tip is nearer the camera than the cheeks.
    d = camera_depth(world, astronaut_obs.camera)
    assert d[1] < d[234] and d[1] < d[454]


def shell_depth_image(shell: HeadShell, camera: Camera) -> np.ndarray:
    """The shell's depth along ``camera``'s axis at each pixel of ``camera``'s image (NaN where it
    has none)."""
    px = camera.project(shell.vertices_world)
    depth = camera_depth(shell.vertices_world, camera)
    order = np.argsort(-depth[shell.triangles].mean(axis=1))  # far to near
    raster = rasterize_triangles(px, shell.triangles, camera.width, camera.height, draw_order=order)
    out = interpolate(raster, shell.triangles, depth)
    out[~raster.mask] = np.nan
    return out


def test_source_state(astronaut_obs: FaceObservation) -> None:
    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    cam = astronaut_obs.camera
    # Shell vertices lie on the pixel rays of their texture coordinates (in the source's
    # context crop: the aligned crop with the hair above it and the shoulders around it).
    sh = src.shell
    size = np.array([src.camera.width, src.camera.height])
    assert src.crop_rgb_u8.shape[:2] == (size[1], size[0]) and size[0] > 512
    np.testing.assert_allclose(src.camera.project(sh.vertices_world), sh.texcoords * size, atol=0.05)
    # It covers the person (the matte cuts it per pixel when drawn) but for the middle of the
    # face, which the face mesh hides from every view ...
    depth = shell_depth_image(sh, cam)
    person = astronaut_obs.matte > 0.5
    oval = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(oval, [np.round(astronaut_obs.landmarks_px[list(FACE_OVAL_LOOP), :2]).astype(np.int32)], 1)
    inside = cv2.distanceTransform(oval, cv2.DIST_L2, 5)
    hidden = ShellConfig().hidden_inside_px
    assert np.isfinite(depth[person & (inside < hidden - 8)]).mean() > 0.99
    assert np.isfinite(depth[inside > hidden + 8]).mean() < 0.2
    # ... and lies behind the face: compare with the face depth near the oval.
    face_px = astronaut_obs.landmarks_px[:468, :2]
    shell_px = cam.project(sh.vertices_world)
    face_d = camera_depth(src.face_world, cam)
    for i in (10, 50, 280, 152, 109, 338):  # near the oval (the middle is left out)
        x, y = np.floor(face_px[i]).astype(int)
        assert depth[y, x] > face_d[i], i
    # The shell reaches above the face (hair) and below it (neck) inside the matte.
    assert shell_px[:, 1].min() < face_px[:, 1].min() - 30
    assert shell_px[:, 1].max() > face_px[:, 1].max() + 30
    # Texture: a frontal source uses its own pixels in the middle of the face.
    w = own_texture_weight(src.face_world, cam)
    assert w[[1, 4, 13, 14, 33, 263]].min() > 0.99
    assert src.atlas_rgb_u8.shape == (1024, 1024, 3) and src.atlas_rgb_u8.mean() > 60


@pytest.mark.parametrize("who", ["astronaut", "hopper"])
def test_shell_joins_the_face_and_goes_back_like_a_head(who: str, request: pytest.FixtureRequest) -> None:
    """No step where the shell meets the face; hair, neck and silhouette at a head's depths."""
    obs: FaceObservation = request.getfixturevalue(f"{who}_obs")
    src = MeshBackend().prepare_source(obs)
    cam = obs.camera
    sh = src.shell
    face_px = obs.landmarks_px[:468, :2]
    face_d = camera_depth(src.face_world, cam)
    width = float(np.linalg.norm(src.face_world[234] - src.face_world[454]))

    depth = shell_depth_image(sh, cam)

    def shell_depth_at(p: np.ndarray) -> float:
        x, y = np.floor(p).astype(int)
        assert np.isfinite(depth[y, x]), p
        return float(depth[y, x])

    # Just outside the upper face oval (forehead, temples), in the matte: the shell continues
    # the face's depth. (234 / 454 are left out: there the cheek folds over its own outline.)
    centre = face_px.mean(axis=0)
    level = 0.5 * (face_px[234, 1] + face_px[454, 1])
    steps = []
    for i in FACE_OVAL_LOOP:
        out = face_px[i] + 4.0 * (face_px[i] - centre) / np.linalg.norm(face_px[i] - centre)
        if i in (234, 454) or face_px[i, 1] > level or obs.matte[int(out[1]), int(out[0])] < 0.5:
            continue
        steps.append((shell_depth_at(out) - face_d[i]) / width)
    steps_a = np.abs(steps)
    assert len(steps_a) >= 10
    assert steps_a.max() < 0.05 and np.median(steps_a) < 0.02, np.round(steps, 3).tolist()
    # Its silhouette lies far behind the nose tip (the ear plane, 0.7 face widths), ...
    edge = cv2.distanceTransform((obs.matte > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    rows = np.arange(512)[:, None]
    rim = (edge > 0) & (edge < 3.0) & (rows < face_px[152, 1]) & (rows > 4) & np.isfinite(depth)
    assert rim.sum() > 200
    assert np.median(depth[rim] - face_d[1]) / width > 0.65
    # ... the hair above the forehead between the forehead and that plane, and the neck
    # below the chin well behind the chin.
    hair = (shell_depth_at(face_px[10] - (0.0, 40.0)) - face_d[1]) / width
    assert (face_d[10] - face_d[1]) / width - 0.02 < hair < 0.7
    neck = shell_depth_at(np.array([face_px[152, 0], min(face_px[152, 1] + 40.0, 508.0)]))
    assert (neck - face_d[152]) / width > 0.3


def test_mirror_fill_for_a_turned_source(astronaut_obs: FaceObservation) -> None:
    # Seen from 60 degrees to the side, the far cheek is hidden and borrows from its mirror.
    from pipeline.cameras import view_sweep

    cam = view_sweep(astronaut_obs.camera, 2, 120.0, mode="orbit", pivot=(0.0, 0.0, 0.0))[1]
    world = lift_landmarks_to_world(astronaut_obs.landmarks_px, astronaut_obs.camera)
    w = own_texture_weight(world, cam)
    near_cheek, far_cheek = (454, 234) if cam.center[0] > 0 else (234, 454)
    assert w[near_cheek] > 0.9 and w[far_cheek] < 0.3


def test_states_cross_the_wire(astronaut_obs: FaceObservation) -> None:
    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    scene = be.drive(src, astronaut_obs)
    for state, cls, kind in ((src, MeshSource, "source"), (scene, MeshScene, "scene")):
        msg = decode(encode(Message(kind, 7, 123, state.to_arrays(), {})), copy=True)
        back = cls.from_arrays(msg.arrays)
        for name, a in state.to_arrays().items():
            np.testing.assert_array_equal(np.asarray(msg.arrays[name]), a, err_msg=name)
        assert isinstance(back, cls)
    back_src = MeshSource.from_arrays(src.to_arrays())
    assert back_src.key == src.key
    # The key travels with the source (a live call's estimator names scenes by it, and a
    # renderer adopts a source once per key) and must match what arrived.
    assert bytes(src.to_arrays()["source_key"]).decode() == src.key
    tampered = dict(src.to_arrays())
    tampered["crop_rgb_u8"] = tampered["crop_rgb_u8"].copy()
    tampered["crop_rgb_u8"][0, 0] ^= 1
    with pytest.raises(WireError, match="source_key"):
        MeshSource.from_arrays(tampered)
    back_scene = MeshScene.from_arrays(scene.to_arrays())
    assert back_scene.source_key == src.key and back_scene.seq == scene.seq
    np.testing.assert_array_equal(back_scene.face_world, scene.face_world)
    with pytest.raises(ValueError, match="face_world"):
        arrays = dict(scene.to_arrays())
        del arrays["face_world"]
        MeshScene.from_arrays(arrays)


def test_configs_validate() -> None:
    with pytest.raises(ValueError, match="grid_step_px"):
        ShellConfig(grid_step_px=0)
    with pytest.raises(ValueError, match="msaa_samples"):
        RendererConfig(msaa_samples=3)
    with pytest.raises(ValueError, match="expression_gain"):
        DriveConfig(expression_gain=-1.0)
    with pytest.raises(ValueError, match="eyes_closed_at"):
        DriveConfig(eyes_closed_at=0.9, eyes_open_at=0.8)
    with pytest.raises(ValueError, match="strategy"):
        RendererConfig(strategy="layered")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="face_depth_lift_world"):
        RendererConfig(face_depth_lift_world=-0.1)
    with pytest.raises(ValueError, match="simplify_px"):
        ShellConfig(simplify_px=-1.0)
    with pytest.raises(ValueError, match="atlas_size_px"):
        MeshBackendConfig(atlas_size_px=10)


def test_eyelids_and_closing_them() -> None:
    from pipeline.mesh.geometry import close_eyes, eye_openness
    from pipeline.mesh.topology import EYELIDS

    v = canonical_face_model().vertices_cm
    mir = mirror_index()
    for eye in EYELIDS:
        up, low = list(eye.upper), list(eye.lower)
        assert len(up) == len(low) == len(eye.skin1) == len(eye.skin2) == 7
        assert np.all(v[up, 1] > v[low, 1]) and np.all(np.abs(v[up, 0] - v[low, 0]) < 0.35)
        assert np.all(v[list(eye.skin1), 1] > v[up, 1]) and np.all(
            v[list(eye.skin2), 1] > v[list(eye.skin1), 1]
        )
    np.testing.assert_array_equal(mir[list(EYELIDS[0].upper)], EYELIDS[1].upper)  # the two eyes mirror
    open_cm = eye_openness(v)
    assert np.all(open_cm > 0.3) and abs(open_cm[0] - open_cm[1]) < 0.05
    shut = close_eyes(v, v, 0.0)
    np.testing.assert_allclose(eye_openness(shut), 0.0, atol=1e-9)
    half = close_eyes(v, v, 0.5)
    np.testing.assert_allclose(eye_openness(half), 0.5 * open_cm, rtol=1e-9)
    # The lid skin follows; nothing else moves; a gap already smaller is kept; 1 changes nothing.
    moved = np.abs(shut - v).max(axis=1) > 0
    lids = {i for e in EYELIDS for i in (*e.upper, *e.skin1, *e.skin2)}
    assert set(np.nonzero(moved)[0].tolist()) == lids
    np.testing.assert_array_equal(close_eyes(half, v, 0.8), half)
    np.testing.assert_array_equal(close_eyes(v, v, 1.0), v)
