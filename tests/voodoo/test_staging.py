"""Pinned-memory uploads and the on-device crop conversion (CPU; CUDA in the GPU tier)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.voodoo.backend import crop_to_signed
from pipeline.voodoo.staging import HostStaging, crop_u8_to_signed


def _crop(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (512, 512, 3), dtype=np.uint8)


def test_device_conversion_is_bit_identical_to_the_official_one() -> None:
    staging = HostStaging("cpu")
    crop = _crop(0)
    got = crop_u8_to_signed(crop, staging)
    assert got.dtype == torch.float32 and got.shape == (1, 3, 512, 512)
    assert torch.equal(got, crop_to_signed(crop))
    assert not staging.pinned and staging.buffers == 0  # off CUDA: no pinned memory


@pytest.mark.gpu
def test_pinned_uploads_reuse_one_buffer_and_keep_earlier_results() -> None:
    staging = HostStaging("cuda")
    a, b = _crop(1), _crop(2)
    ta = crop_u8_to_signed(a, staging)
    tb = crop_u8_to_signed(b, staging)  # same shape: the same pinned buffer, reused
    assert staging.pinned and staging.buffers == 1
    assert ta.device.type == "cuda"
    assert torch.equal(ta.cpu(), crop_to_signed(a)) and torch.equal(tb.cpu(), crop_to_signed(b))
    planes = np.random.default_rng(3).standard_normal((1, 3, 32, 256, 256)).astype(np.float32)
    up = staging.upload(planes)
    assert staging.buffers == 2 and torch.equal(up.cpu(), torch.from_numpy(planes))
