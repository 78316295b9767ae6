"""The ``neural`` avatar backend: conversions and batching (fast), real weights (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.avatar import AvatarBackend, FaceObservation
from pipeline.cameras import Camera, canonical_camera, view_sweep
from pipeline.voodoo.backend import NeuralBackend, NeuralScene, crop_to_signed, load_backend, signed_to_u8
from pipeline.voodoo.model import RenderedBatch


def _obs(crop: np.ndarray, camera: Camera | None = None, seq: int = 0) -> FaceObservation:
    return FaceObservation(
        crop_rgb_u8=crop,
        matte=np.ones(crop.shape[:2], np.float32),
        camera=camera or canonical_camera(),
        landmarks_px=np.zeros((478, 3), np.float32),
        seq=seq,
        timestamp_ns=1000 + seq,
    )


def test_crop_conversion_is_the_official_one() -> None:
    crop = np.zeros((512, 512, 3), np.uint8)
    crop[0, 0] = (0, 128, 255)
    x = crop_to_signed(crop)
    assert x.shape == (1, 3, 512, 512) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == [-1.0, float(np.float32(128 / 255 * 2 - 1)), 1.0]
    with pytest.raises(ValueError, match="512x512x3 uint8"):
        crop_to_signed(np.zeros((256, 256, 3), np.uint8))
    assert signed_to_u8(torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 1, 5).expand(1, 3, 1, 5))[
        0, 0
    ].T.tolist()[0] == [0, 0, 128, 255, 255]


def test_scene_arrays_round_trip_and_validation() -> None:
    planes = torch.randn(1, 3, 32, 256, 256)
    cam = view_sweep(canonical_camera(), 5)[1]
    scene = NeuralScene(seq=7, timestamp_ns=123, camera=cam, planes=planes)
    back = NeuralScene.from_arrays(scene.to_arrays())
    assert back.seq == 7 and back.timestamp_ns == 123
    assert torch.equal(back.planes, planes) and np.allclose(back.camera.cam2world, cam.cam2world)
    with pytest.raises(ValueError, match="planes"):
        NeuralScene(0, 0, cam, torch.zeros(1, 3, 32, 128, 128))
    arrays = scene.to_arrays()
    del arrays["planes"]
    with pytest.raises(ValueError, match="planes"):
        NeuralScene.from_arrays(arrays)


class _StubModel:
    """Stands in for Voodoo3D: records what the backend passes, returns shaped tensors."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def prepare_source(self, source_signed):
        self.calls.append(("prepare", source_signed))
        return "cache"

    def drive(self, cache, driver_signed):
        self.calls.append(("drive", cache, driver_signed))
        return torch.zeros(1, 3, 32, 256, 256), None, None

    def render(self, planes, cam2world, intrinsics, super_resolve=False):
        self.calls.append(("render", cam2world, intrinsics, super_resolve))
        n = cam2world.shape[0]
        ramp = torch.linspace(-1, 1, 128).expand(n, 3, 128, 128)
        image = torch.linspace(-1, 1, 512).expand(n, 3, 512, 512) if super_resolve else None
        return RenderedBatch(ramp, torch.full((n, 1, 128, 128), 2.7), torch.ones(n, 1, 128, 128), ramp, image)


def test_backend_batches_cameras_and_resizes() -> None:
    stub = _StubModel()
    backend = NeuralBackend(stub, super_resolve=False)  # type: ignore[arg-type]
    assert isinstance(backend, AvatarBackend) and backend.name == "neural"
    crop = np.full((512, 512, 3), 255, np.uint8)
    src = backend.prepare_source(_obs(crop))
    assert torch.equal(stub.calls[0][1], torch.ones(1, 3, 512, 512)) and len(src.key) == 40
    scene = backend.drive(src, _obs(crop, seq=5))
    assert scene.seq == 5 and scene.timestamp_ns == 1005
    cams = [c.with_size(64) for c in view_sweep(canonical_camera(), 24)]
    views = backend.render(scene, cams[3:7], view_ids=[3, 4, 5, 6])
    _, c2w, k, sr = stub.calls[-1]
    assert c2w.shape == (4, 4, 4) and k.shape == (4, 3, 3) and sr is False
    assert np.allclose(c2w[1].numpy(), cams[4].cam2world, atol=1e-6)
    assert views.rgb_u8.shape == (4, 64, 64, 3) and views.rgb_u8.dtype == np.uint8
    assert list(views.view_ids) == [3, 4, 5, 6]
    assert views.depth is not None and views.depth.shape == (4, 64, 64)
    row = views.rgb_u8[0, 0, :, 0].astype(int)
    assert row[0] < 10 and row[-1] > 245 and np.all(np.diff(row) >= 0)  # the ramp survived resizing
    with pytest.raises(ValueError, match="share one image size"):
        backend.render(scene, [cams[0], cams[1].with_size(32)])
    with pytest.raises(TypeError):
        backend.drive("not a source", _obs(crop))  # type: ignore[arg-type]
    # A driver tracked for the mesh avatar (landmarks and pose, no crop image) is refused.
    with pytest.raises(ValueError, match="crop=False"):
        backend.drive(src, _obs(np.zeros((0, 0, 3), np.uint8)))


@pytest.mark.slow
def test_backend_reproduces_the_fixture_output(parity_weights: Path, parity_fixture: Path) -> None:
    with np.load(parity_fixture) as z:
        src_u8 = z["in_source_u8"][0].transpose(1, 2, 0).copy()
        drv_u8 = z["in_driver_u8"][0].transpose(1, 2, 0).copy()
        cam = Camera(
            z["in_driver_cam2world"][0].astype(np.float64), z["in_driver_intrinsics"][0].astype(np.float64)
        )
        idx, src_sampled = z["triplane_sample_idx"], z["source_triplane_sampled"]
        out_image = z["out_image"]
    backend = load_backend(parity_weights, progress=False)
    source = backend.prepare_source(_obs(src_u8))
    got = source.cache.planes.numpy().reshape(-1)[idx]
    assert np.linalg.norm(got - src_sampled) / np.linalg.norm(src_sampled) < 1e-4
    scene = backend.drive(source, _obs(drv_u8, cam, seq=1))
    views = backend.render(scene, [cam])
    expected = np.rint((np.clip(out_image[0], -1, 1) + 1) * 127.5).astype(int).transpose(1, 2, 0)
    diff = np.abs(views.rgb_u8[0].astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
