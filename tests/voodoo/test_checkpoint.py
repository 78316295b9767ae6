"""Checkpoint layout, validation and safe loading."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from pipeline.voodoo.checkpoint import (
    CheckpointError,
    expected_layout,
    load_model,
    read_state_dict,
    validate_state_dict,
)
from pipeline.voodoo.renderer import PLANE_AXES


def test_layout_equals_the_official_manifest(manifest_path: Path) -> None:
    manifest = json.loads(manifest_path.read_text())
    official = {e["key"]: (tuple(e["shape"]), e["kind"]) for e in manifest["entries"]}
    assert expected_layout(keep_unused=True) == official


def test_layout_counts_and_unused_weights() -> None:
    full = expected_layout(keep_unused=True)
    params = {k: s for k, (s, kind) in full.items() if kind == "param"}
    assert len(full) == 723 and len(params) == 701
    n_full = sum(torch.Size(s).numel() for s in params.values())
    assert n_full == 240_987_421
    lean = expected_layout(keep_unused=False)
    n_lean = sum(torch.Size(s).numel() for s, kind in lean.values() if kind == "param")
    assert n_full - n_lean == 61_894_581  # ResNet layer3/4 x 3, style MLP, U-Net toRGB
    assert not any(".layer3." in k or ".style_mlp." in k or ".toRGB." in k for k in lean)


def test_validation_names_missing_renamed_and_reshaped_keys(zero_state_dict) -> None:
    sd = dict(zero_state_dict)
    del sd["exp_transfer.block2.attn.q.weight"]
    sd["decoder.net.9.weight"] = sd.pop("decoder.net.2.weight")  # renamed
    sd["superresolution.final_linear.bias"] = torch.zeros(8191)  # reshaped
    del sd["superresolution.stylegan_decoder.noises.noise7"]  # real state, not rebuildable
    report = validate_state_dict(sd)
    assert not report.ok
    assert set(report.missing) == {
        "exp_transfer.block2.attn.q.weight",
        "decoder.net.2.weight",
        "superresolution.stylegan_decoder.noises.noise7",
    }
    assert report.extra == ["decoder.net.9.weight"]
    assert report.mismatched == [("superresolution.final_linear.bias", (8192,), (8191,))]
    msg = report.error_message("w.pt")
    assert "decoder.net.2.weight" in msg and "expected [8192] found [8191]" in msg and "\n" not in msg


def test_recomputable_buffers_may_be_absent(zero_state_dict) -> None:
    sd = dict(zero_state_dict)
    for key in ("canonical_cam2world", "renderer.plane_axes", "exp_transfer.id_grid", "lookat_point"):
        del sd[key]
    report = validate_state_dict(sd)
    assert report.ok
    assert sorted(report.rebuilt) == sorted(
        ["canonical_cam2world", "renderer.plane_axes", "exp_transfer.id_grid", "lookat_point"]
    )


def _write(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


class _Foreign:
    pass


def test_unreadable_files_get_one_line_errors(tmp_path: Path, zero_state_dict) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        read_state_dict(tmp_path / "empty.pth")
    (tmp_path / "text.pth").write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="cannot be read|refused"):
        read_state_dict(tmp_path / "text.pth")
    good = _write(tmp_path / "good.pth", {"a": torch.zeros(3), "b": torch.ones(2)})
    data = good.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated") as e:
        read_state_dict(tmp_path / "cut.pth")
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(_write(tmp_path / "foreign.pth", {"a": _Foreign()}))
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_state_dict(_write(tmp_path / "list.pth", [torch.zeros(1)]))
    with pytest.raises(CheckpointError, match="not named tensors"):
        read_state_dict(_write(tmp_path / "mixed.pth", {"a": torch.zeros(1), "epoch": 3}))


def test_state_dict_wrapper_is_unwrapped(tmp_path: Path) -> None:
    inner = OrderedDict(a=torch.arange(3.0))
    got = read_state_dict(_write(tmp_path / "wrapped.pth", {"state_dict": inner, "epoch": torch.tensor(1)}))
    assert list(got) == ["a"] and torch.equal(got["a"], inner["a"])


def test_load_model_refuses_a_reshaped_key_by_name(tmp_path: Path, zero_state_dict) -> None:
    sd = dict(zero_state_dict)
    sd["triplane_encoder.conv6.weight"] = torch.zeros(()).expand(96, 128, 3, 1)
    path = _write(tmp_path / "bad.pth", sd)
    assert path.stat().st_size < 5_000_000  # zero-stride tensors keep the file tiny
    with pytest.raises(CheckpointError, match=r"triplane_encoder\.conv6\.weight expected \[96, 128, 3, 3\]"):
        load_model(path, progress=False)


def test_load_model_rebuilds_buffers_and_reports_extras(tmp_path: Path, zero_state_dict) -> None:
    sd = dict(zero_state_dict)
    del sd["renderer.plane_axes"], sd["triplane_encoder.ehi.id_grid"], sd["canonical_cam2world"]
    sd["optimizer_step"] = torch.zeros(1)
    model, report = load_model(_write(tmp_path / "w.pth", {"state_dict": sd}), progress=False)
    assert report.extra == ["optimizer_step"]
    assert torch.equal(model.renderer.plane_axes, torch.tensor(PLANE_AXES))
    grid = model.triplane_encoder.ehi.id_grid
    assert grid[0, 0, 0, 0] == -1 and grid[0, 0, 0, -1] == 1 and grid[0, 1, -1, 0] == 1
    assert torch.allclose(model.canonical_cam2world[0, :3, 3], torch.tensor([0.0, 0.0, 2.7]), atol=1e-6)
    assert not hasattr(model.triplane_encoder.elo.deeplabv3_backbone.encoder, "layer3")
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())


def test_wrong_plane_axes_are_refused(tmp_path: Path, zero_state_dict) -> None:
    sd = dict(zero_state_dict)
    sd["renderer.plane_axes"] = torch.eye(3).expand(3, 3, 3)
    with pytest.raises(CheckpointError, match="plane_axes"):
        load_model(_write(tmp_path / "axes.pth", sd), progress=False)
