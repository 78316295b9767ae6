"""Backend selection: run the exported networks with TensorRT (or onnxruntime) inside a
:class:`~pipeline.voodoo.model.Voodoo3D`, with PyTorch as the reference and the fallback.

``accelerate(model, AccelConfig(backend="auto"), weights_id)`` swaps the model's encoder,
the per-frame part of its expression encoder and its super-resolution for thin modules that
call an engine; every stage of the model (``prepare_source``, ``drive``, ``render``) then
uses them unchanged. Each swapped module keeps the PyTorch network it replaces:

* at selection time, a network whose backend cannot be used (TensorRT not installed, no
  CUDA, no exported ONNX for these weights, an engine that fails to build or load) stays in
  PyTorch; :class:`AccelReport` says which backend each network got and why;
* at run time, an engine error (e.g. a batch outside the engine's profile) runs that call in
  PyTorch, logs a warning the first time and counts it (``fallback_calls``).

``backend``: ``"torch"`` (reference, any device), ``"tensorrt"`` (CUDA), ``"onnxruntime"``
(CPU, or CUDA when onnxruntime-gpu is installed; mostly for checking), ``"auto"``
(TensorRT when usable, else PyTorch).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeGuard

import numpy as np
import torch
from torch import Tensor, nn

from pipeline.accel.networks import NETWORK_NAMES
from pipeline.accel.onnx_export import ExportManifest, read_manifest
from pipeline.accel.tensorrt import EngineRunError, Precision
from pipeline.voodoo.expression import ExpressionEncoder
from pipeline.voodoo.model import Voodoo3D

__all__ = [
    "AccelConfig",
    "AccelReport",
    "Backend",
    "EngineModule",
    "OrtRunner",
    "accelerate",
    "is_backend",
    "load_accelerated_backend",
    "restore_reference",
]

log = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "tensorrt", "onnxruntime"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "tensorrt", "onnxruntime")


def is_backend(name: object) -> TypeGuard[Backend]:
    """True when ``name`` is one of :data:`BACKENDS` (a command-line word, a setting)."""
    return name in BACKENDS


Runner = Callable[..., dict[str, Tensor]]


@dataclass(frozen=True)
class AccelConfig:
    """Which backend runs the exported networks.

    Attributes:
        backend: see the module docstring.
        networks: which of ``encoder``, ``expression``, ``superres`` to accelerate.
        onnx_dir: exported ONNX folder of these weights (default: ``onnx_root / weights id``).
        onnx_root: folder holding one export folder per set of weights (the app passes the
            user's cache folder; ``voodoo-holo export onnx`` writes there).
        engines_dir: TensorRT engine cache (the app passes the user's cache folder); without
            it TensorRT is not used.
        build_missing: build absent TensorRT engines (minutes, with progress messages);
            False falls back to PyTorch instead.
        precision: TensorRT precision ("fp16" default; "bf16" keeps float32's range for the
            normalisation-free encoders, "fp32" for checking).
        sr_max_batch: largest super-resolution batch the TensorRT engine accepts (views per
            renderer); larger batches run in PyTorch.
    """

    backend: Backend = "auto"
    networks: tuple[str, ...] = NETWORK_NAMES
    onnx_dir: Path | None = None
    onnx_root: Path | None = None
    engines_dir: Path | None = None
    build_missing: bool = True
    precision: Precision = "fp16"
    sr_max_batch: int = 8

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"AccelConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        bad = [n for n in self.networks if n not in NETWORK_NAMES]
        if bad:
            raise ValueError(f"AccelConfig.networks: unknown {bad}; known {list(NETWORK_NAMES)}")
        if self.precision not in ("fp16", "bf16", "fp32"):
            raise ValueError(f"AccelConfig.precision must be fp16, bf16 or fp32, got {self.precision!r}")
        if self.sr_max_batch < 1:
            raise ValueError("AccelConfig.sr_max_batch must be >= 1")


@dataclass
class AccelReport:
    """What :func:`accelerate` did: backend per network and the reason of each fallback."""

    requested: str
    used: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = []
        for name, be in self.used.items():
            why = f" ({self.reasons[name]})" if name in self.reasons else ""
            parts.append(f"{name}: {be}{why}")
        return "; ".join(parts)


class OrtRunner:
    """An onnxruntime session called like a TensorRT runner (tensors in, tensors out)."""

    def __init__(self, path: str | os.PathLike[str], device: torch.device) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.device = device
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, **inputs: Tensor) -> dict[str, Tensor]:
        feeds = {k: np.ascontiguousarray(v.detach().float().cpu().numpy()) for k, v in inputs.items()}
        try:
            got = self.session.run(self.outputs, feeds)
        except Exception as e:  # onnxruntime raises its own untyped errors: rethrow as ours
            raise EngineRunError(f"onnxruntime: {e}") from e
        return {k: torch.from_numpy(v).to(self.device) for k, v in zip(self.outputs, got, strict=True)}


class EngineModule(nn.Module):
    """Base of the swapped-in modules: run the engine, fall back to the reference on error."""

    def __init__(self, name: str, runner: Runner, backend: str, reference: nn.Module) -> None:
        super().__init__()
        self.name = name
        self.runner = runner
        self.backend = backend
        self.reference = reference
        self.fallback_calls = 0

    def _run(self, output: str, fallback: Callable[[], Tensor], **inputs: Tensor) -> Tensor:
        try:
            return self.runner(**inputs)[output]
        except EngineRunError as e:
            if self.fallback_calls == 0:
                log.warning(
                    "%s: %s engine failed (%s); running this call in PyTorch", self.name, self.backend, e
                )
            self.fallback_calls += 1
            return fallback()


class _EncoderEngine(EngineModule):
    def forward(self, image_signed: Tensor) -> Tensor:
        return self._run("planes", lambda: self.reference(image_signed), image=image_signed)


class _SuperResEngine(EngineModule):
    def forward(self, image_raw: Tensor) -> Tensor:
        return self._run("image", lambda: self.reference(image_raw), image_raw=image_raw)


class _ExpressionEngine(EngineModule):
    """Source-side features in PyTorch (once per call), the per-frame delta in the engine."""

    reference: ExpressionEncoder  # what accelerate() wraps as "expression"

    def source_features(self, x: Tensor) -> Tensor:
        return self.reference.source_features(x)

    def triplane_features(self, planes: Tensor) -> Tensor:
        return self.reference.triplane_features(planes)

    def delta_from_features(
        self, source_feats: Tensor, triplane_feats: Tensor, driver_rgb01: Tensor
    ) -> Tensor:
        return self._run(
            "delta",
            lambda: self.reference.delta_from_features(source_feats, triplane_feats, driver_rgb01),
            source_feats=source_feats,
            triplane_feats=triplane_feats,
            driver_rgb01=driver_rgb01,
        )


_ATTR = {"encoder": "triplane_encoder", "expression": "exp_transfer", "superres": "superresolution"}
_WRAP = {"encoder": _EncoderEngine, "expression": _ExpressionEngine, "superres": _SuperResEngine}


def _make_runner(
    name: str, backend: str, manifest: ExportManifest, onnx_dir: Path, config: AccelConfig, dev: torch.device
) -> Runner:
    entry = manifest.networks[name]
    onnx_path = onnx_dir / entry.file
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path} is missing")
    if backend == "onnxruntime":
        return OrtRunner(onnx_path, dev)
    from pipeline.accel.tensorrt import ShapeProfile, TrtRunner, engine_key, ensure_engine

    shapes = {k: tuple(v) for k, v in entry.inputs.items()}
    if entry.dynamic_batch:
        top = config.sr_max_batch
        profile = ShapeProfile.batch_range(shapes, opt=top, max_batch=top)
    else:
        profile = ShapeProfile.fixed(shapes)
    key = engine_key(name, entry.sha256, profile, config.precision, dev.index)
    if config.engines_dir is None:
        raise RuntimeError("no TensorRT engine cache folder was given (AccelConfig.engines_dir)")
    path = ensure_engine(onnx_path, key, profile, config.engines_dir, config.build_missing)
    return TrtRunner(path, dev)


def accelerate(model: Voodoo3D, config: AccelConfig, weights_id: str) -> AccelReport:
    """Swap the model's networks for engine-backed modules where the backend is usable.

    Args:
        model: a placed float32 model (the PyTorch networks stay inside as the reference).
        config: backend and where to find ONNX files / engines.
        weights_id: :func:`pipeline.accel.onnx_export.weights_identity` of the model's
            weights; ONNX files exported from other weights are refused.
    """
    report = AccelReport(config.backend)
    dev = model.device
    backend = config.backend
    if backend == "torch":
        report.used = dict.fromkeys(config.networks, "torch")
        return report

    def fall_all(reason: str) -> AccelReport:
        for n in config.networks:
            report.used[n], report.reasons[n] = "torch", reason
        log.info("accelerated backend not used: %s", reason)
        return report

    if backend in ("auto", "tensorrt"):
        from pipeline.accel.tensorrt import tensorrt_available

        ok, why = tensorrt_available() if dev.type == "cuda" else (False, f"device is {dev.type}, not CUDA")
        if not ok:
            return fall_all(why)
        backend = "tensorrt"
    if model.config.dtype != "float32":
        return fall_all(f"model dtype is {model.config.dtype}; engines take the float32 model's inputs")
    onnx_dir = config.onnx_dir or (config.onnx_root / weights_id if config.onnx_root else None)
    if onnx_dir is None:
        return fall_all("no ONNX folder was given (AccelConfig.onnx_dir / onnx_root)")
    try:
        manifest = read_manifest(onnx_dir)
    except FileNotFoundError:
        return fall_all(f"no ONNX export in {onnx_dir} (run 'voodoo-holo export onnx')")
    except ValueError as e:
        return fall_all(str(e))
    if manifest.weights != weights_id:
        return fall_all(f"ONNX files in {onnx_dir} are for weights {manifest.weights}, not {weights_id}")
    for name in config.networks:
        if name not in manifest.networks:
            report.used[name], report.reasons[name] = "torch", "not exported"
            continue
        try:
            runner = _make_runner(name, backend, manifest, Path(onnx_dir), config, dev)
        except (OSError, RuntimeError, ValueError) as e:
            report.used[name], report.reasons[name] = "torch", f"{backend} unavailable: {e}"
            log.warning("%s stays in PyTorch: %s", name, e)
            continue
        attr = _ATTR[name]
        reference = getattr(model, attr)
        if isinstance(reference, EngineModule):
            reference = reference.reference
        setattr(model, attr, _WRAP[name](name, runner, backend, reference))
        report.used[name] = backend
    return report


def load_accelerated_backend(
    weights_path: str | os.PathLike[str],
    device: str = "cuda",
    config: AccelConfig | None = None,
    super_resolve: bool = True,
):
    """A :class:`~pipeline.voodoo.backend.NeuralBackend` whose networks use ``config.backend``
    where possible (what a renderer worker calls); returns ``(backend, report)``."""
    from pipeline.accel.onnx_export import weights_identity
    from pipeline.voodoo.backend import load_backend

    neural = load_backend(weights_path, device=device, super_resolve=super_resolve)
    report = accelerate(neural.model, config or AccelConfig(), weights_identity(weights_path))
    log.info("neural backend: %s", report.summary())
    return neural, report


def restore_reference(model: Voodoo3D, names: Sequence[str] = NETWORK_NAMES) -> None:
    """Undo :func:`accelerate` (put the PyTorch networks back)."""
    for name in names:
        mod = getattr(model, _ATTR[name])
        if isinstance(mod, EngineModule):
            setattr(model, _ATTR[name], mod.reference)
