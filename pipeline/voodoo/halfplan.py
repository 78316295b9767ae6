"""Which dtype each part of the three networks computes in: the half-precision plan.

``ModelConfig.dtype`` names the precision asked for; :func:`precision_plan` turns it into a
plan that keeps the parts known to be fragile out of it:

``float32``
    everything in float32 (the reference).
``bfloat16``
    the Lp3D encoder, the expression encoder and the super-resolution network in bfloat16
    (float32's range, 8 significant bits), except the super-resolution's *float32 islands*
    below.
``float16``
    the super-resolution network in float16 (3 more significant bits than bfloat16, but a
    largest finite value of 65504), except its float32 islands; the two encoders in
    **bfloat16**: their ResNet trunks have no normalisation, so their activations are not
    bounded by construction and the trained weights may leave float16's range (on tensor-core
    GPUs bfloat16 and float16 matrix products run at the same rate, so nothing is lost);
    any layer named in ``fp16_keep`` (patterns, e.g. from ``python -m
    pipeline.voodoo.precision --peaks-out``) in bfloat16.

The super-resolution's float32 islands (:data:`SR_FLOAT32_ISLANDS`) are what a GFPGAN run
wholly in float16 gets wrong: the 16 latent codes and the per-layer styles derived from them
(every modulated convolution scales its input by a style; a style error moves a whole
channel), and the RGB skip sum that becomes the output image. They are 0.07 % of the
network's matrix arithmetic (0.27 of 395.5 GFLOP per view, counted by PyTorch's
``FlopCounterMode``). The demodulation of every modulated convolution is computed in float32
whatever the plan (:func:`pipeline.voodoo.superres.modulated_conv2d_unfused`).

The renderer (rays, samples, tri-plane MLP, compositing) is not part of a plan: it is always
float32 (see ``pipeline/voodoo/README.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = [
    "DTYPES",
    "FP16_MAX",
    "NETWORKS",
    "SR_FLOAT32_ISLANDS",
    "DType",
    "PrecisionPlan",
    "apply_plan",
    "layers_near_fp16_max",
    "precision_plan",
]

DType = Literal["float32", "float16", "bfloat16"]
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
FP16_MAX = float(torch.finfo(torch.float16).max)

#: The networks a plan covers (attribute names of :class:`pipeline.voodoo.model.Voodoo3D`).
NETWORKS = ("triplane_encoder", "exp_transfer", "superresolution")

#: Module-name patterns (``fnmatch``, under the model) of the super-resolution computed in
#: float32 in every half-precision plan.
SR_FLOAT32_ISLANDS = (
    "superresolution.final_linear",  # the 16 x 512 latent codes
    "superresolution.stylegan_decoder.*.modulation",  # the style of every modulated conv
    "superresolution.stylegan_decoder.to_rgb1",  # the RGB skip sum -> the output image
    "superresolution.stylegan_decoder.to_rgbs.*",
)

#: Layers whose inputs are cast to their own dtype when a network mixes dtypes.
_CASTING_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear, nn.LayerNorm)


@dataclass(frozen=True)
class PrecisionPlan:
    """Compute dtype per network, plus sub-modules (islands) computed in another dtype.

    Attributes:
        networks: ``(network attribute, dtype)`` for each of :data:`NETWORKS`.
        islands: ``(module-name pattern, dtype)``; the first pattern matching a module wins
            and covers its whole subtree.
    """

    networks: tuple[tuple[str, DType], ...]
    islands: tuple[tuple[str, DType], ...] = ()

    def network_dtype(self, name: str) -> torch.dtype:
        """The dtype a network's inputs are given in."""
        for net, dt in self.networks:
            if net == name:
                return DTYPES[dt]
        raise KeyError(f"no network {name!r} in the plan")

    def describe(self) -> list[str]:
        """One line per network and island (for logs and bench records)."""
        lines = [f"{net}: {dt}" for net, dt in self.networks]
        lines += [f"{pattern}: {dt}" for pattern, dt in self.islands]
        return lines


def precision_plan(dtype: DType, fp16_keep: Sequence[str] = ()) -> PrecisionPlan:
    """The plan for ``ModelConfig.dtype`` (see the module docstring for the rules)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if dtype == "float32":
        return PrecisionPlan(tuple((n, "float32") for n in NETWORKS))
    encoders: DType = "bfloat16"  # float16 is not trusted on the normalisation-free trunks
    networks: tuple[tuple[str, DType], ...] = (
        ("triplane_encoder", encoders),
        ("exp_transfer", encoders),
        ("superresolution", dtype),
    )
    islands: list[tuple[str, DType]] = [(p, "float32") for p in SR_FLOAT32_ISLANDS]
    if dtype == "float16":
        islands += [(p, "bfloat16") for p in fp16_keep]
    return PrecisionPlan(networks, tuple(islands))


def layers_near_fp16_max(peaks: Mapping[str, float], headroom: float = 16.0) -> list[str]:
    """Layers whose largest float32 |output| times ``headroom`` reaches float16's largest value.

    ``peaks`` maps layer names to the largest |output| of a float32 run
    (:func:`pipeline.voodoo.precision.record_peaks`); the names can be given to
    ``ModelConfig.fp16_keep``. Non-finite peaks count as reaching it.
    """
    if headroom < 1:
        raise ValueError(f"headroom must be >= 1, got {headroom}")
    return [name for name, v in peaks.items() if not v * headroom < FP16_MAX]


def _cast_to(dtype: torch.dtype):
    def hook(_module: nn.Module, args: tuple) -> tuple:
        return tuple(a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args)

    return hook


def _module_dtype(m: nn.Module) -> torch.dtype | None:
    for p in m.parameters(recurse=False):
        return p.dtype
    return None


def _islands(model: nn.Module, islands: Iterable[tuple[str, DType]]) -> list[tuple[str, nn.Module, DType]]:
    found: list[tuple[str, nn.Module, DType]] = []
    patterns = list(islands)
    for name, m in model.named_modules():
        if any(name.startswith(f"{outer}.") for outer, _, _ in found):
            continue  # inside an island already claimed
        for pattern, dt in patterns:
            if fnmatchcase(name, pattern):
                found.append((name, m, dt))
                break
    return found


def apply_plan(model: nn.Module, plan: PrecisionPlan) -> list[RemovableHandle]:
    """Cast ``model``'s networks and islands as ``plan`` says; returns the hooks it added.

    In a network holding islands, every convolution, linear and layer-norm layer (and every
    modulated convolution) casts its inputs to its own dtype, so float16, bfloat16 and
    float32 layers can follow each other. Remove the returned hooks before applying
    another plan.
    """
    from pipeline.voodoo.superres import ModulatedConv

    for net, dt in plan.networks:
        getattr(model, net).to(dtype=DTYPES[dt])
    found = _islands(model, plan.islands)
    for _, m, dt in found:
        m.to(dtype=DTYPES[dt])
    handles: list[RemovableHandle] = []
    mixed = {name.split(".", 1)[0] for name, _, _ in found}
    for net in sorted(mixed):
        for m in getattr(model, net).modules():
            if isinstance(m, (*_CASTING_LAYERS, ModulatedConv)):
                dtype = _module_dtype(m)
                if dtype is not None:
                    handles.append(m.register_forward_pre_hook(_cast_to(dtype)))
    return handles
