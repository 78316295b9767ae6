"""Layouts as data files, and GPU pinning of child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.live.layouts import LayoutError, auto_layout, bundled_layouts, load_layout


def test_bundled_layouts():
    lays = bundled_layouts()
    assert set(lays) >= {"seven-gpu", "one-gpu", "cpu"}
    seven = lays["seven-gpu"]
    assert [r.gpu for r in seven.roles] == [0, 1, 2, 3, 4, 5, 6]
    assert [r.views for r in seven.renderers] == [tuple(range(i, i + 6)) for i in (0, 6, 12, 18)]
    assert all(r.gpu is None for r in lays["cpu"].roles)


def test_auto_layout_follows_gpu_count():
    assert auto_layout(0).name == "cpu"
    assert auto_layout(1).name == "one-gpu"
    assert auto_layout(8).name == "seven-gpu"


def test_with_views_spreads_views():
    lay = load_layout("seven-gpu").with_views(10, 128)
    assert [len(r.views) for r in lay.renderers] == [3, 3, 2, 2]
    assert lay.view_size == 128


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"renderers": [{"gpu": 0, "views": [0, 1]}]}, "exactly once"),
        ({"capture": {"gpu": -1}}, "capture.gpu"),
        ({"num_views": "24"}, "num_views"),
        ({"extra": 1}, "unknown field"),
        ({"renderers": [{"gpu": 0, "views": "0-23"}]}, "views must be a list"),
    ],
)
def test_malformed_layout_names_the_field(tmp_path, patch, message):
    base = {
        "name": "x",
        "num_views": 24,
        "view_size": 256,
        "capture": {"gpu": 0},
        "estimator": {"gpu": 0},
        "renderers": [{"gpu": 0, "views": list(range(24))}],
        "compositor": {"gpu": 0},
    }
    base.update(patch)
    p = tmp_path / "lay.json"
    p.write_text(json.dumps(base))
    with pytest.raises(LayoutError, match=message):
        load_layout(p)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{" + '"a":{' * 50_000 + "}" * 50_001, "nested too deeply"),
        ('{"name": "x", "num_views": ' + "9" * 5000 + "}", "thousands of digits"),
        (" " * (2 << 20), "over 1024 KB"),
        ("[1, 2", "not a readable JSON file"),
    ],
)
def test_hostile_layout_files_are_refused_with_a_layout_error(tmp_path, text, message):
    path = tmp_path / "layout.json"
    path.write_text(text)
    with pytest.raises(LayoutError, match=message):
        load_layout(path)


def test_unknown_layout_name():
    with pytest.raises(LayoutError, match="bundled"):
        load_layout("twelve-gpu")


_CHILD = (
    "import json, os\n"
    "import torch\n"
    "print(json.dumps({'cvd': os.environ.get('CUDA_VISIBLE_DEVICES'), 'n': torch.cuda.device_count()}))\n"
)


@pytest.mark.parametrize("layout_name", ["seven-gpu", "cpu"])
def test_child_sees_only_its_device(layout_name):
    lay = load_layout(layout_name)
    for role in (lay.estimator, lay.renderers[-1]):
        env = {**os.environ, **role.env()}
        out = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
        )
        seen = json.loads(out.stdout.strip().splitlines()[-1])
        assert seen["cvd"] == ("" if role.gpu is None else str(role.gpu))
        # At most the one pinned device is visible (none on a machine without that GPU).
        assert seen["n"] <= (0 if role.gpu is None else 1)
