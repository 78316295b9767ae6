"""Acceleration of the VOODOO 3D model: ONNX export, TensorRT engines (cached per GPU,
TensorRT version and shapes) and backend selection with the PyTorch reference as fallback.

See ``pipeline/accel/README.md``. TensorRT and onnxruntime are optional extras
(``voodoo-holo[trt]``, ``voodoo-holo[onnx]``) and are imported only when used.
"""

from pipeline.accel.backend import AccelConfig, AccelReport, accelerate, load_accelerated_backend
from pipeline.accel.networks import NETWORK_NAMES

__all__ = ["NETWORK_NAMES", "AccelConfig", "AccelReport", "accelerate", "load_accelerated_backend"]
