"""Host -> device uploads through reused pinned (page-locked) buffers.

A renderer receives each frame's tri-plane (25 MB float32) and an estimator each driver crop
in ordinary (pageable) host memory. Copying pageable memory to a CUDA device is synchronous
and goes through a driver-side bounce buffer; from page-locked memory the copy is a direct
DMA that runs asynchronously on the current stream, so the host can queue the frame's work
behind it. :class:`HostStaging` keeps one pinned buffer per array shape and dtype and reuses
it for every frame (allocating page-locked memory costs milliseconds); before a buffer is
overwritten it waits on an event recorded after its previous copy, which has long finished
in a frame loop.

Off CUDA it is a plain ``torch.from_numpy`` (no copy where the array allows it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["HostStaging", "crop_u8_to_signed"]


class HostStaging:
    """Uploads numpy arrays to ``device`` through reused pinned buffers (CUDA).

    Args:
        device: the target device; pinned buffers are used when it is a CUDA device.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.pinned = self.device.type == "cuda"
        self._buffers: dict[tuple, tuple[Tensor, torch.cuda.Event | None]] = {}

    @property
    def buffers(self) -> int:
        """Pinned buffers held (one per shape and dtype uploaded so far)."""
        return len(self._buffers)

    def upload(self, array: np.ndarray) -> Tensor:
        """``array`` as a tensor on the device (the copy is queued on the current stream on CUDA:
        use the result on that stream, as every model stage does)."""
        host = torch.from_numpy(np.ascontiguousarray(array))
        if not self.pinned:
            return host.to(self.device)
        key = (tuple(host.shape), host.dtype)
        buf, done = self._buffers.get(key, (None, None))
        if buf is None:
            buf = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
        elif done is not None:
            done.synchronize()  # the previous copy out of this buffer has finished
        buf.copy_(host)
        out = buf.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        self._buffers[key] = (buf, event)
        return out


def crop_u8_to_signed(crop_rgb_u8: np.ndarray, staging: HostStaging) -> Tensor:
    """``H x W x 3`` uint8 RGB -> ``1 x 3 x H x W`` float32 in [-1, 1] on the staging device.

    Uploads the bytes (a quarter of the float32 image) and converts on the device with the
    official arithmetic (``u8 / 255 * 2 - 1`` in float64, then float32): bit-identical to
    :func:`pipeline.voodoo.backend.crop_to_signed`.
    """
    u8 = staging.upload(crop_rgb_u8)
    signed = (u8.to(torch.float64) / 255.0 * 2.0 - 1.0).to(torch.float32)
    return signed.permute(2, 0, 1).unsqueeze(0).contiguous()
