"""TensorRT engines built from the exported ONNX files, cached per GPU and TensorRT version.

TensorRT is optional (``pip install 'voodoo-holo[trt]'`` on a machine that reaches NVIDIA's
package index, with an NVIDIA GPU and driver): :func:`tensorrt_available` says why it cannot
be used; nothing here imports it at module import time.

An engine is a cached build output. Its key hashes everything it depends on: the GPU name
and compute capability, the TensorRT version, the ONNX file's SHA-256, the input shape
profile (min/opt/max) and the precision. Engines live in the user cache
(``voodoo-holo doctor`` prints where; ``app.paths.UserPaths.engines_dir``) as
``<network>-<key>.engine`` with a ``.json`` sidecar recording the key's fields. A build
takes minutes and prints progress; a cached engine loads in about a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = [
    "INSTALL_HINT",
    "EngineKey",
    "EngineRunError",
    "Precision",
    "ShapeProfile",
    "TrtRunner",
    "build_engine",
    "engine_key",
    "ensure_engine",
    "tensorrt_available",
]

INSTALL_HINT = (
    "TensorRT is not installed: on a machine with an NVIDIA GPU that can reach NVIDIA's package "
    "index, run  pip install 'voodoo-holo[trt]'  (see 'voodoo-holo doctor')"
)

Precision = Literal["fp16", "bf16", "fp32"]


class EngineRunError(RuntimeError):
    """An engine could not run these inputs (shape outside its profile, CUDA error...)."""


def tensorrt_available() -> tuple[bool, str]:
    """``(True, version)`` when TensorRT can build and run engines here, else ``(False, why)``."""
    try:
        import tensorrt as trt
    except ImportError as e:
        return False, f"{INSTALL_HINT} ({e})"
    if not torch.cuda.is_available():
        return False, "TensorRT is installed but torch sees no CUDA GPU"
    return True, str(trt.__version__)


@dataclass(frozen=True)
class ShapeProfile:
    """Input name -> (min, opt, max) shapes of one optimisation profile."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]

    @classmethod
    def fixed(cls, shapes: Mapping[str, tuple[int, ...]]) -> ShapeProfile:
        return cls({k: (tuple(v), tuple(v), tuple(v)) for k, v in shapes.items()})

    @classmethod
    def batch_range(cls, shapes: Mapping[str, tuple[int, ...]], opt: int, max_batch: int) -> ShapeProfile:
        return cls({k: ((1, *v[1:]), (opt, *v[1:]), (max_batch, *v[1:])) for k, v in shapes.items()})

    def to_json(self) -> dict[str, list[list[int]]]:
        return {k: [list(s) for s in v] for k, v in sorted(self.shapes.items())}


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; :meth:`digest` names the cached file."""

    network: str
    onnx_sha256: str
    gpu: str
    compute_capability: str
    tensorrt: str
    profile: dict[str, list[list[int]]]
    precision: str

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def path(self, engines_dir: str | os.PathLike[str]) -> Path:
        return Path(engines_dir) / f"{self.network}-{self.digest()}.engine"


def engine_key(
    network: str,
    onnx_sha256: str,
    profile: ShapeProfile,
    precision: Precision,
    device: int | None = None,
    tensorrt_version: str | None = None,
) -> EngineKey:
    """The cache key of an engine for the current (or given) GPU and TensorRT."""
    if tensorrt_version is None:
        import tensorrt as trt

        tensorrt_version = str(trt.__version__)
    dev = torch.cuda.current_device() if device is None else device
    props = torch.cuda.get_device_properties(dev)
    return EngineKey(
        network,
        onnx_sha256,
        str(props.name),
        f"{props.major}.{props.minor}",
        tensorrt_version,
        profile.to_json(),
        precision,
    )


def _heartbeat(say: Callable[[str], None], what: str, stop: threading.Event) -> None:
    t0 = time.monotonic()
    while not stop.wait(15.0):
        say(f"  still building {what} ({time.monotonic() - t0:.0f} s) ...")


def build_engine(
    onnx_path: str | os.PathLike[str],
    profile: ShapeProfile,
    precision: Precision = "fp16",
    workspace_bytes: int = 8 << 30,
    progress: Callable[[str], None] | None = print,
) -> bytes:
    """Parse an ONNX file and build a serialised engine (minutes; prints progress)."""
    import tensorrt as trt

    say = progress or (lambda _m: None)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "bf16":
        config.set_flag(trt.BuilderFlag.BF16)
    opt = builder.create_optimization_profile()
    for name, (lo, mid, hi) in profile.shapes.items():
        opt.set_shape(name, lo, mid, hi)
    config.add_optimization_profile(opt)
    what = f"{Path(onnx_path).name} ({precision})"
    say(f"building TensorRT engine for {what}; this takes a few minutes ...")
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(say, what, stop), daemon=True)
    beat.start()
    t0 = time.monotonic()
    try:
        blob = builder.build_serialized_network(network, config)
    finally:
        stop.set()
    if blob is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {onnx_path} (see its log above)")
    say(f"  built {what} in {time.monotonic() - t0:.0f} s")
    return bytes(blob)


def ensure_engine(
    onnx_path: str | os.PathLike[str],
    key: EngineKey,
    profile: ShapeProfile,
    engines_dir: str | os.PathLike[str],
    build_missing: bool = True,
    progress: Callable[[str], None] | None = print,
) -> Path:
    """The cached engine for ``key``, built (and cached atomically) when absent."""
    path = key.path(engines_dir)
    if path.is_file():
        return path
    if not build_missing:
        raise FileNotFoundError(f"no cached TensorRT engine {path.name}; run 'voodoo-holo export trt'")
    blob = build_engine(onnx_path, profile, key.precision, progress=progress)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(blob)
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(asdict(key), indent=2))
    return path


class TrtRunner:
    """Runs one engine on CUDA tensors of the current stream (inputs/outputs float32)."""

    def __init__(self, engine_path: str | os.PathLike[str], device: torch.device) -> None:
        import tensorrt as trt

        self._trt = trt
        self.device = device
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{engine_path}: not an engine for this GPU/TensorRT (rebuild it)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) != mode]

    def __call__(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        ctx = self.context
        keep: list[torch.Tensor] = []
        for name in self.inputs:
            t = inputs[name].to(self.device, torch.float32).contiguous()
            keep.append(t)
            if not ctx.set_input_shape(name, tuple(t.shape)):
                raise EngineRunError(f"input {name} shape {tuple(t.shape)} is outside the engine profile")
            ctx.set_tensor_address(name, t.data_ptr())
        outs: dict[str, torch.Tensor] = {}
        for name in self.outputs:
            shape = tuple(ctx.get_tensor_shape(name))
            outs[name] = torch.empty(shape, dtype=torch.float32, device=self.device)
            ctx.set_tensor_address(name, outs[name].data_ptr())
        if not ctx.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise EngineRunError("TensorRT execution failed")
        return outs

    def describe(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "outputs": self.outputs}
