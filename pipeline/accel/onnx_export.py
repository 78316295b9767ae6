"""ONNX export of the encoder, expression and super-resolution networks, checked against
PyTorch with onnxruntime.

``export_onnx(model, out_dir)`` writes ``encoder.onnx``, ``expression.onnx``,
``superres.onnx`` and ``manifest.json`` (opset, file hashes, input shapes, the weights'
identity and the measured max abs error of each file against the PyTorch reference).
Weights are stored inside each file (they are below the 2 GB protobuf limit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipeline.accel.networks import NETWORK_NAMES, NetworkSpec, network_specs
from pipeline.voodoo.model import Voodoo3D
from pipeline.voodoo.superres import ModulatedConv, set_fused_modconv

__all__ = [
    "MANIFEST_NAME",
    "ExportManifest",
    "NetworkExport",
    "check_onnx",
    "export_onnx",
    "file_sha256",
    "read_manifest",
    "weights_identity",
]

MANIFEST_NAME = "manifest.json"
_FORMAT = 1


@dataclass
class NetworkExport:
    """One exported network (an entry of ``manifest.json``)."""

    file: str
    sha256: str
    inputs: dict[str, list[int]]
    outputs: list[str]
    dynamic_batch: bool
    max_abs_err: float | None = None
    ref_max_abs: float | None = None
    checked_batches: list[int] = field(default_factory=list)
    export_s: float = 0.0


@dataclass
class ExportManifest:
    """What an export folder holds (``manifest.json``)."""

    opset: int
    torch_version: str
    weights: str
    networks: dict[str, NetworkExport]
    format: int = _FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def read_manifest(folder: str | os.PathLike[str]) -> ExportManifest:
    """Read ``folder/manifest.json``; raises ``FileNotFoundError`` / ``ValueError``."""
    p = Path(folder) / MANIFEST_NAME
    raw = json.loads(p.read_text())
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
        raise ValueError(f"{p}: not an export manifest of format {_FORMAT}")
    try:
        nets = {k: NetworkExport(**v) for k, v in raw["networks"].items()}
        return ExportManifest(int(raw["opset"]), str(raw["torch_version"]), str(raw["weights"]), nets)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{p}: malformed export manifest: {e}") from e


def file_sha256(path: str | os.PathLike[str], chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_identity(path: str | os.PathLike[str] | None, seed: int | None = None) -> str:
    """A short identity of a checkpoint (size + hash of its first and last 16 MB), or of
    random weights (``random-seed<N>``): ONNX files and engines are valid for it only."""
    if path is None:
        return f"random-seed{0 if seed is None else seed}"
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(p, "rb") as f:
        h.update(f.read(16 << 20))
        if size > 32 << 20:
            f.seek(size - (16 << 20))
            h.update(f.read())
    return f"{p.name}-{h.hexdigest()[:16]}"


@contextlib.contextmanager
def _export_form(model: Voodoo3D) -> Iterator[None]:
    """The shared-kernel modulated convolution during export; each module's form is restored."""
    before = [(m, m.fused) for m in model.superresolution.modules() if isinstance(m, ModulatedConv)]
    set_fused_modconv(model.superresolution, False)
    try:
        yield
    finally:
        for m, fused in before:
            m.fused = fused


def _export_one(spec: NetworkSpec, path: Path, opset: int, device: torch.device) -> None:
    args = tuple(a.to(device) for a in spec.example(1, 0))
    dynamic = None
    if spec.dynamic_batch:
        dynamic = {n: {0: "batch"} for n in (*spec.inputs, *spec.outputs)}
    with warnings.catch_warnings():
        # the TorchScript exporter announces its own deprecation; it is the one that
        # exports these networks in seconds (torch.export needs minutes and more memory)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            spec.module,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )


def check_onnx(
    spec: NetworkSpec, path: str | os.PathLike[str], batches: Sequence[int] = (1,), seed: int = 1
) -> tuple[float, float]:
    """Run ``path`` with onnxruntime (CPU) and the PyTorch reference on the same inputs.

    Returns:
        (max abs difference, max abs value of the reference) over ``batches``.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    dev = next(spec.module.parameters()).device
    err, ref_max = 0.0, 0.0
    for b in batches:
        args = spec.example(b, seed + b)
        feeds = {n: a.numpy() for n, a in zip(spec.inputs, args, strict=True)}
        got = sess.run(list(spec.outputs), feeds)
        with torch.inference_mode():
            ref = spec.module(*(a.to(dev) for a in args))
        refs = ref if isinstance(ref, tuple) else (ref,)
        for g, r in zip(got, refs, strict=True):
            r_np = r.float().cpu().numpy()
            if g.shape != r_np.shape:
                raise ValueError(f"{path}: output shape {g.shape} != PyTorch {r_np.shape}")
            err = max(err, float(np.max(np.abs(g.astype(np.float64) - r_np))))
            ref_max = max(ref_max, float(np.max(np.abs(r_np))))
    return err, ref_max


def export_onnx(
    model: Voodoo3D,
    out_dir: str | os.PathLike[str],
    *,
    names: Sequence[str] = NETWORK_NAMES,
    opset: int = 18,
    weights_id: str = "random-seed0",
    check: bool = True,
    progress: Callable[[str], None] | None = print,
) -> ExportManifest:
    """Export ``names`` of ``model`` (float32) to ``out_dir`` and write the manifest.

    With ``check`` each file is run with onnxruntime on CPU against the PyTorch reference
    (the super-resolution in the modulated-conv form the model runs) and the max abs error
    goes into the manifest.
    """
    if model.config.dtype != "float32":
        raise ValueError("export a float32 model (TensorRT makes its own fp16 engine from it)")
    unknown = [n for n in names if n not in NETWORK_NAMES]
    if unknown:
        raise ValueError(f"unknown network(s) {unknown}; known: {list(NETWORK_NAMES)}")
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = network_specs(model)
    dev = model.device
    previous = {}
    with contextlib.suppress(FileNotFoundError):
        previous = read_manifest(out).networks
    nets: dict[str, NetworkExport] = dict(previous)
    for name in names:
        spec = specs[name]
        path = out / f"{name}.onnx"
        say(f"exporting {name} to {path} (opset {opset}) ...")
        t0 = time.perf_counter()
        with _export_form(model):
            _export_one(spec, path, opset, dev)
        took = time.perf_counter() - t0
        entry = NetworkExport(
            file=path.name,
            sha256=file_sha256(path),
            inputs={k: list(v) for k, v in spec.shapes.items()},
            outputs=list(spec.outputs),
            dynamic_batch=spec.dynamic_batch,
            export_s=round(took, 2),
        )
        say(f"  {name}: {path.stat().st_size / 1e6:.1f} MB in {took:.1f} s")
        if check:
            batches = [1, 2] if spec.dynamic_batch else [1]
            say(f"  checking {name} with onnxruntime (batch {', '.join(map(str, batches))}) ...")
            err, ref_max = check_onnx(spec, path, batches)
            entry.max_abs_err, entry.ref_max_abs, entry.checked_batches = err, ref_max, batches
            say(f"  {name}: max abs error vs PyTorch {err:.3g} (outputs up to {ref_max:.3g})")
        nets[name] = entry
    manifest = ExportManifest(opset, torch.__version__, weights_id, nets)
    (out / MANIFEST_NAME).write_text(manifest.to_json())
    return manifest
