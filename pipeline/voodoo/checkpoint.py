"""Reading and checking VOODOO 3D checkpoints (the official ``voodoo3d.pth`` layout).

* The file is read with ``torch.load(weights_only=True)`` (no pickled code runs), memory-
  mapped when the format allows it; a ``{"state_dict": ...}`` wrapper is unwrapped.
* Every parameter of the official layout (701 tensors, 240,987,421 values) must be present
  with its exact shape; the 15 StyleGAN noise maps too. The other buffers (canonical
  camera, ``lookat_point``, ``plane_axes``, coordinate grids) are rebuilt when absent.
* Extra keys are reported (e.g. from a training wrapper) and ignored.
* Every value must be finite: a NaN or infinity in one weight would render black frames
  without any other sign, so such a file is refused, naming the tensors.

Problems raise :class:`CheckpointError` with a one-line message that names the offending keys
(and never suggests how to load a refused file anyway). :func:`validate_checkpoint_file` checks a
file without loading the model: keys and shapes only (cheap: the zip format is memory-mapped and
no tensor data is read), or every value too when asked.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import struct
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from pipeline.voodoo.blocks import coordinate_grid
from pipeline.voodoo.model import ModelConfig, Voodoo3D, canonical_buffers
from pipeline.voodoo.renderer import PLANE_AXES

__all__ = [
    "CheckpointError",
    "CheckpointReport",
    "expected_layout",
    "load_model",
    "read_state_dict",
    "validate_checkpoint_file",
    "validate_state_dict",
]

log = logging.getLogger(__name__)

_LIST_LIMIT = 12
#: What torch.load raises on bytes that are not (or no longer) a PyTorch file: the weights-only
#: unpickler fails in many ways on garbage input.
_READ_ERRORS = (
    RuntimeError,
    EOFError,
    OSError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    OverflowError,
    MemoryError,
    AssertionError,  # torch's own consistency checks on damaged archives
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    struct.error,
    io.UnsupportedOperation,
)


class CheckpointError(ValueError):
    """The file is not a usable VOODOO 3D checkpoint; the message says why in one line."""


@dataclass
class CheckpointReport:
    """What :func:`validate_state_dict` found.

    Attributes:
        missing: required keys absent from the file.
        mismatched: ``(key, expected shape, found shape)`` for keys with a wrong shape.
        extra: keys the model does not know (ignored).
        rebuilt: recomputable buffers that were absent and will be rebuilt.
        not_float: keys whose tensor is not floating point.
        non_finite: keys whose tensor holds NaN or infinity (only filled when values are
            checked: :func:`load_model`, or :func:`validate_checkpoint_file` with
            ``check_values=True``).
        values_checked: whether ``non_finite`` was computed.
        wrong_values: fixed buffers whose values differ from this renderer's
            (``renderer.plane_axes``), with what is wrong.
    """

    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    not_float: list[str] = field(default_factory=list)
    non_finite: list[str] = field(default_factory=list)
    values_checked: bool = False
    wrong_values: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.not_float or self.non_finite or self.wrong_values)

    def error_message(self, source: str) -> str:
        def names(items: list[str]) -> str:
            more = f" (+{len(items) - _LIST_LIMIT} more)" if len(items) > _LIST_LIMIT else ""
            return ", ".join(items[:_LIST_LIMIT]) + more

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing key(s): {names(self.missing)}")
        if self.mismatched:
            shown = [f"{k} expected {list(e)} found {list(f)}" for k, e, f in self.mismatched]
            parts.append(f"{len(self.mismatched)} key(s) with the wrong shape: {names(shown)}")
        if self.not_float:
            parts.append(f"{len(self.not_float)} non-float tensor(s): {names(self.not_float)}")
        if self.wrong_values:
            parts.append("; ".join(self.wrong_values))
        if self.non_finite and not parts:
            return (
                f"{source} is damaged: {len(self.non_finite)} tensor(s) hold NaN or infinity "
                f"({names(self.non_finite)}); download voodoo3d.pth again"
            )
        if self.non_finite:
            parts.append(f"{len(self.non_finite)} tensor(s) with NaN or infinity: {names(self.non_finite)}")
        return f"{source} is not a VOODOO 3D checkpoint in the official layout: " + "; ".join(parts)


def _is_recomputable(key: str) -> bool:
    return key in ("lookat_point", "canonical_cam2world", "canonical_intrinsics", "renderer.plane_axes") or (
        key.endswith(".id_grid")
    )


def expected_layout(keep_unused: bool = True) -> dict[str, tuple[tuple[int, ...], str]]:
    """``key -> (shape, "param" | "buffer")`` of the official state dict (723 entries).

    Built from our module tree on the meta device (no memory, no initialisation).
    """
    with torch.device("meta"):
        model = Voodoo3D(ModelConfig(keep_unused=keep_unused))
    layout = {k: (tuple(v.shape), "param") for k, v in model.named_parameters()}
    layout.update({k: (tuple(v.shape), "buffer") for k, v in model.named_buffers()})
    return layout


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Load a state dict from ``path`` safely; raises :class:`CheckpointError` on any problem."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist or is not a file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {p} is empty")
    try:
        mmap = zipfile.is_zipfile(p)  # only the zip format can be memory-mapped
        with warnings.catch_warnings():
            # Damaged files make torch warn about odd pickle protocols before it fails.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj = torch.load(p, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"checkpoint {p} was refused: it holds Python objects other than tensors{_refused_what(e)}, "
            "which could run code when loaded. Use the official voodoo3d.pth from the authors' release"
        ) from e
    except _READ_ERRORS as e:
        raise CheckpointError(
            f"checkpoint {p} cannot be read (truncated or not a PyTorch file): {_first_line(e)}"
        ) from e
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {p} holds a {type(obj).__name__}, not a state dict")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(
            f"checkpoint {p} has {len(bad)} entries that are not named tensors, e.g. {bad[0]}"
        )
    if not obj:
        raise CheckpointError(f"checkpoint {p} is an empty state dict")
    return dict(obj)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_UNSUPPORTED = re.compile(r"Unsupported (?:global|class|operand)[^.\n]*?\b(?:GLOBAL )?([A-Za-z_][\w.]*)")


def _first_line(e: BaseException) -> str:
    """The first line of an exception's text, printable only: no terminal codes (bounded)."""
    text = _ANSI.sub("", str(e)).strip()
    line = text.splitlines()[0][:200] if text else ""
    return "".join(c if c.isprintable() else "?" for c in line) or type(e).__name__


def _refused_what(e: BaseException) -> str:
    """`` (e.g. builtins.print)`` naming what the weights-only unpickler refused, when it says."""
    found = _UNSUPPORTED.search(_ANSI.sub("", str(e)))
    return f" (e.g. {found.group(1)[:80]})" if found else ""


def validate_state_dict(state: Mapping[str, Tensor]) -> CheckpointReport:
    """Compare a state dict with the official layout (see the module docstring)."""
    layout = expected_layout(keep_unused=True)
    report = CheckpointReport()
    for key, (shape, _) in layout.items():
        if key not in state:
            (report.rebuilt if _is_recomputable(key) else report.missing).append(key)
            continue
        found = tuple(state[key].shape)
        if found != shape:
            report.mismatched.append((key, shape, found))
        elif not state[key].is_floating_point():
            report.not_float.append(key)
    report.extra = sorted(k for k in state if k not in layout)
    axes = state.get("renderer.plane_axes")
    if (
        axes is not None
        and axes.shape == (3, 3, 3)
        and not torch.equal(axes.float(), torch.tensor(PLANE_AXES))
    ):
        report.wrong_values.append("renderer.plane_axes is not the (XY, XZ, ZY) layout this renderer uses")
    return report


def _non_finite(state: Mapping[str, Tensor], keys: list[str]) -> list[str]:
    """The keys among ``keys`` whose floating-point tensor holds NaN or infinity."""
    return [
        k
        for k in keys
        if k in state and state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all())
    ]


def validate_checkpoint_file(path: str | os.PathLike[str], *, check_values: bool = False) -> CheckpointReport:
    """Check a checkpoint file without building the model.

    By default only the keys and shapes are checked: for the zip format (every file written by
    PyTorch 1.6 or later, the official one too) the file is memory-mapped and no tensor data
    is read. ``check_values=True`` also reads every value and reports NaN/infinity.

    Returns:
        the report; ``report.ok`` and ``report.error_message(path)`` say whether and why the
        file would be refused by :func:`load_model`.

    Raises:
        CheckpointError: the file cannot be read at all (missing, empty, truncated, pickled
            objects, not a state dict).
    """
    state = read_state_dict(path)
    report = validate_state_dict(state)
    if check_values:
        report.non_finite = _non_finite(state, [k for k in expected_layout(keep_unused=True) if k in state])
        report.values_checked = True
    return report


def _rebuilt_buffer(key: str, shape: tuple[int, ...]) -> Tensor:
    if key == "renderer.plane_axes":
        return torch.tensor(PLANE_AXES, dtype=torch.float32)
    if key.endswith(".id_grid"):
        return coordinate_grid(shape[-2], shape[-1])
    return canonical_buffers()[key]


def load_model(
    path: str | os.PathLike[str], config: ModelConfig | None = None, progress: bool = True
) -> tuple[Voodoo3D, CheckpointReport]:
    """Read, check and load a checkpoint; returns the placed model and the report.

    Raises:
        CheckpointError: unreadable file, missing/reshaped keys, or unsupported values.
    """
    from tqdm.auto import tqdm

    config = config or ModelConfig()
    state = read_state_dict(path)
    report = validate_state_dict(state)
    if not report.ok:
        raise CheckpointError(report.error_message(str(path)))
    if report.extra:
        log.warning(
            "%s: ignoring %d unknown key(s): %s", path, len(report.extra), ", ".join(report.extra[:8])
        )
    layout = expected_layout(keep_unused=config.keep_unused)
    dev = torch.device(config.device)
    wanted = list(layout)
    total = sum(int(torch.Size(layout[k][0]).numel()) * 4 for k in wanted)
    tensors: dict[str, Tensor] = {}
    with tqdm(total=total, unit="B", unit_scale=True, desc="loading VOODOO 3D", disable=not progress) as bar:
        for key in wanted:
            src = state.pop(key) if key in state else _rebuilt_buffer(key, layout[key][0])
            tensors[key] = src.to(device=dev, dtype=torch.float32, copy=True)
            del src
            bar.update(tensors[key].numel() * 4)
    state.clear()
    # Checked after the copy (on the device): float64 values beyond float32's range count too.
    report.non_finite = _non_finite(tensors, wanted)
    report.values_checked = True
    if report.non_finite:
        raise CheckpointError(report.error_message(str(path)))
    with torch.device("meta"):
        model = Voodoo3D(config)
    model.load_state_dict(tensors, strict=True, assign=True)
    return model.place(), report
