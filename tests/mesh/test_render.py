"""The mesh avatar through moderngl (EGL): frontal fidelity, the 24-view sweep, renderer lifetime."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from mesh_support import PhotoTracker, save_png

from pipeline.avatar import FaceObservation
from pipeline.cameras import view_sweep
from pipeline.face_model import canonical_face_model
from pipeline.mesh.backend import MeshBackend
from pipeline.mesh.renderer import MeshRenderer, RendererConfig
from pipeline.mesh.topology import FACE_OVAL_LOOP

pytestmark = pytest.mark.gl


def face_region_mask(landmarks_px: np.ndarray, size: int = 512, erode_px: int = 6) -> np.ndarray:
    """Inside the face oval, a few pixels in from its edge."""
    mask = np.zeros((size, size), np.uint8)
    pts = np.round((landmarks_px[list(FACE_OVAL_LOOP), :2] - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, shift=4)
    return cv2.erode(mask, np.ones((2 * erode_px + 1,) * 2, np.uint8)) > 0


def psnr_db(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    d = a.astype(np.float64)[mask] - b.astype(np.float64)[mask]
    return float(10.0 * np.log10(255.0**2 / max(np.mean(d**2), 1e-12)))


def grid(views: np.ndarray, cols: int) -> np.ndarray:
    rows = [np.concatenate(list(views[i : i + cols]), axis=1) for i in range(0, len(views), cols)]
    return np.concatenate(rows, axis=0)


@pytest.mark.parametrize("who", ["astronaut", "hopper"])
def test_frontal_view_matches_the_source_crop(
    who: str, request: pytest.FixtureRequest, out_dir: Path
) -> None:
    obs: FaceObservation = request.getfixturevalue(f"{who}_obs")
    be: MeshBackend = request.getfixturevalue("mesh_backend")
    src = be.prepare_source(obs)
    be.reset_neutral(None)
    scene = be.drive(src, obs)  # source = driver: no expression change, the source's pose
    views = be.render(scene, [scene.camera])
    img = views.rgb_u8[0]
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    save_png(out_dir / f"frontal_{who}.png", np.concatenate([obs.crop_rgb_u8, img], axis=1))
    mask = face_region_mask(obs.landmarks_px)
    assert mask.sum() > 20000
    value = psnr_db(img, obs.crop_rgb_u8, mask)
    assert value >= 25.0, f"frontal PSNR in the face region {value:.2f} dB"
    # The whole head, not just the face: the render covers the matte almost everywhere.
    cover = views.alpha[0] > 0.5
    matte = obs.matte > 0.5
    assert (cover & matte).sum() / matte.sum() > 0.9
    assert not cover[~cv2.dilate(matte.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)].any()
    # Black background, and a corrupted render would fail this: compare with a shifted crop.
    assert img[views.alpha[0] == 0].max() == 0
    assert psnr_db(img, np.roll(obs.crop_rgb_u8, 12, axis=1), mask) < value - 3.0


def test_background_in_the_matte_is_not_drawn(astronaut_obs: FaceObservation) -> None:
    """Whatever the source matte calls background stays empty, on the face mesh as on the shell.

    FaceMesh's outline points can sit a few pixels outside the silhouette (the astronaut's jaw
    below the ear); the face mesh must not paint the crop's black background there.
    """
    import dataclasses

    lm = astronaut_obs.landmarks_px
    cheek = np.round(lm[[50, 205, 187, 123], :2].mean(axis=0)).astype(int)  # right cheek, in the oval
    hole = (slice(cheek[1] - 12, cheek[1] + 12), slice(cheek[0] - 12, cheek[0] + 12))
    matte = astronaut_obs.matte.copy()
    matte[hole] = 0.0
    holed = dataclasses.replace(astronaut_obs, matte=matte)
    be = MeshBackend()
    try:
        for obs, drawn in ((astronaut_obs, True), (holed, False)):
            src = be.prepare_source(obs)
            be.reset_neutral(None)
            scene = be.drive(src, obs)
            alpha = be.render(scene, [scene.camera]).alpha[0]
            inner = alpha[hole][4:-4, 4:-4]
            assert (inner > 0.5).all() if drawn else (inner == 0).all(), drawn
    finally:
        be.close()


def test_view_sweep_is_tracked_in_every_view(
    astronaut_obs: FaceObservation, mesh_backend: MeshBackend, tracker: PhotoTracker, out_dir: Path
) -> None:
    """Orbit sweep (the camera turns about the pivot): the tracked yaw follows the views.

    Issue 5's target: a face in all 24 views, strictly rising yaw, a measured span of 30-40 deg
    for the 35 deg sweep. Measured on the astronaut: 31.5 deg (26.8 deg with the earlier
    ellipsoid shell and a face lifted with FaceMesh's depth as read). Grace Hopper's sweep is
    not part of the test: it spans 28.2 deg and two neighbouring views (1.5 deg apart) swap
    by up to 0.2 deg (twice); the tracker reads her texture (glasses) with that much noise and bias
    even on the canonical face without any shell (29.3 deg).
    """
    be = mesh_backend
    src = be.prepare_source(astronaut_obs)
    be.reset_neutral(None)
    scene = be.drive(src, astronaut_obs)
    cams = view_sweep(scene.camera, 24, mode="orbit")
    views = be.render(scene, cams)
    assert views.rgb_u8.shape == (24, 512, 512, 3) and list(views.view_ids) == list(range(24))
    save_png(out_dir / "sweep_orbit_24.png", grid(views.rgb_u8[:, ::2, ::2], 6))
    base_yaw = scene.camera.yaw_pitch_roll_deg()[0]
    yaws = []
    for i, img in enumerate(views.rgb_u8):
        seen = tracker.observe(img)
        assert seen is not None, f"the tracker found no face in view {i}"
        yaws.append(seen.camera.yaw_pitch_roll_deg()[0] - base_yaw)
    yaws_a = np.asarray(yaws)
    (out_dir / "sweep_orbit_yaws_deg.txt").write_text(
        f"tracker: {tracker.name}\n" + " ".join(f"{y:.2f}" for y in yaws_a) + "\n"
    )
    assert np.all(np.diff(yaws_a) > 0), f"yaws not rising: {np.round(yaws_a, 2).tolist()}"
    span = yaws_a[-1] - yaws_a[0]
    assert 30.0 <= span <= 40.0, f"measured yaw span {span:.1f} deg"


def test_facemesh_under_reads_the_depth_of_a_known_face(
    astronaut_obs: FaceObservation, tracker: PhotoTracker
) -> None:
    """Why the source face is lifted with ``face_depth_gain`` > 1.

    The canonical face (known geometry, the astronaut's face texture) rendered at 0 and +-20
    deg: FaceMesh's z over the tracker's interior landmarks, against the true depth in the
    same pixel units, comes out below its x against the true x (measured 0.91-0.95 here).
    """
    import dataclasses

    from pipeline.face_model import canonical_face_model
    from pipeline.mesh.geometry import camera_depth, similarity_fit
    from pipeline.mesh.shell import HeadShell
    from pipeline.mesh.state import MeshScene
    from pipeline.tracking.pose import FIT_LANDMARKS

    be = MeshBackend()
    try:
        src = be.prepare_source(astronaut_obs)
        model = canonical_face_model().vertices_cm
        face = similarity_fit(model, src.face_world).apply(model)
        empty = HeadShell(
            np.zeros((0, 3), np.float32), np.zeros((0, 2), np.float32), np.zeros((0, 3), np.int32)
        )
        canon = dataclasses.replace(src, face_world=face, shell=empty)
        be.load_source(canon)
        ids = np.asarray(FIT_LANDMARKS)
        ratios = []
        for cam in view_sweep(
            astronaut_obs.camera, 3, view_cone_deg=40.0, mode="orbit", pivot=(0.0, 0.0, 0.0)
        ):
            img = be.render(MeshScene(0, 0, cam, face, 0.0, canon.key), [cam]).rgb_u8[0]
            seen = tracker.observe(img)
            assert seen is not None
            lm = seen.landmarks_px[ids]
            d0 = float(camera_depth(face[ids], cam).mean())  # the weak-perspective depth
            true_z = (camera_depth(face[ids], cam) - d0) * cam.K_px[0, 0] / d0
            true_x = cam.project(face[ids])[:, 0]
            ratios.append(np.polyfit(true_z, lm[:, 2], 1)[0] / np.polyfit(true_x, lm[:, 0], 1)[0])
    finally:
        be.close()
    assert 0.8 < float(np.mean(ratios)) < 0.97, ratios
    assert 0.9 < 1.0 / float(np.mean(ratios)) / MeshBackend().config.face_depth_gain < 1.1


def test_renderer_tiles_reuse_and_lifetime(astronaut_obs: FaceObservation) -> None:
    be = MeshBackend()
    src = be.prepare_source(astronaut_obs)
    scene = be.drive(src, astronaut_obs)
    cams = [c.with_size(96) for c in view_sweep(scene.camera, 5, mode="offaxis")]
    with MeshRenderer(RendererConfig(msaa_samples=0)) as r:
        with pytest.raises(RuntimeError, match="no source"):
            r.render(scene, cams)
        r.load_source(src)
        a = r.render(scene, cams, view_ids=[10, 11, 12, 13, 14])
        b = r.render(scene, cams, view_ids=[10, 11, 12, 13, 14])
        np.testing.assert_array_equal(a.rgb_u8, b.rgb_u8)  # reusable, deterministic
        assert list(a.view_ids) == [10, 11, 12, 13, 14]
        # Views differ from each other (a real sweep) but each is a face-sized blob.
        assert np.abs(a.rgb_u8[0].astype(int) - a.rgb_u8[4].astype(int)).mean() > 3
        assert all(0.2 < (al > 0.5).mean() < 0.9 for al in a.alpha)
        # Several passes through a small framebuffer give the same pixels as one pass.
        with MeshRenderer(RendererConfig(msaa_samples=0, max_framebuffer_px=200), ctx=r.ctx) as small:
            small.load_source(src)
            c = small.render(scene, cams)
        diff = np.abs(a.rgb_u8.astype(int) - c.rgb_u8.astype(int))
        # llvmpipe rounds texture lookups per viewport offset: a few values differ, by a few levels
        assert diff.max() <= 8 and (diff > 0).mean() < 1e-3 and (diff > 2).sum() <= 10
        assert not r.ctx.error or r.ctx.error == "GL_NO_ERROR"
        with pytest.raises(ValueError, match="same size"):
            r.render(scene, [cams[0], cams[1].with_size(64)])
        other = MeshBackend().prepare_source(
            FaceObservation(
                astronaut_obs.crop_rgb_u8[:, ::-1].copy(),
                astronaut_obs.matte[:, ::-1].copy(),
                astronaut_obs.camera,
                astronaut_obs.landmarks_px * np.array([-1.0, 1.0, 1.0]) + np.array([512.0, 0.0, 0.0]),
            )
        )
        with pytest.raises(ValueError, match="another source"):
            r.render(be.drive(other, astronaut_obs), cams)
    with pytest.raises(RuntimeError, match="closed"):
        r.render(scene, cams)
    be.close()


def test_render_lands_where_the_camera_projects(
    astronaut_obs: FaceObservation, mesh_backend: MeshBackend
) -> None:
    """Conventions: the rendered face sits where Camera.project puts its vertices (incl. off-axis views)."""
    be = mesh_backend
    src = be.prepare_source(astronaut_obs)
    be.reset_neutral(None)
    scene = be.drive(src, astronaut_obs)
    for cam in view_sweep(scene.camera, 3, mode="offaxis"):
        cam = cam.with_size(256)
        img = be.render(scene, [cam]).rgb_u8[0]
        px = cam.project(src.face_world)
        lm_tri = canonical_face_model().triangles
        mask = np.zeros((256, 256), np.uint8)
        for t in lm_tri:
            cv2.fillConvexPoly(mask, np.round(px[t] - 0.5).astype(np.int32), 1)
        # The projected face footprint is covered by bright skin, not by background.
        assert (img[mask > 0].max(axis=1) > 30).mean() > 0.97
