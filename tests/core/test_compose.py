"""The composition layer: the avatar, views/quilt and output choices, their JSON form, and the
platform choices (GL context backend, process links), each fallback forced on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.compose import AvatarChoice, ChoiceError, OutputChoice, choose_avatar, choose_output, plan_views
from app.live.runtime import RoleConfig
from app.platform import gl_backend, link_transport
from calibration.visual import load_visual
from pipeline.jsonconfig import ConfigJSONError, from_json, to_json

REPO = Path(__file__).resolve().parents[2]
PORTRAIT = REPO / "tests" / "data" / "looking_glass" / "portrait_visual.json"
GEN3 = REPO / "tests" / "data" / "looking_glass" / "gen3_visual.json"


def test_role_config_round_trips_through_json_with_every_choice() -> None:
    cal = load_visual(PORTRAIT)
    cfg = RoleConfig(
        "renderer",
        "renderer-1",
        {"views": "ipc://x/views"},
        plan=plan_views(24, 192, calibration=cal),
        view_ids=[12, 13],
        avatar=AvatarChoice("neural", Path("w.pth"), "cuda:0", "bfloat16"),
        output=OutputChoice("lookingglass", cal, "bridge", "Portrait", (8, 6), (1920, 0)),
        source=Path("me.jpg"),
        pace_driver=False,
    )
    again = RoleConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.output.calibration is not None and again.output.calibration.serial == cal.serial
    assert isinstance(again.output.window_xy, tuple) and isinstance(again.avatar.weights, Path)


def test_config_json_names_the_bad_field() -> None:
    text = to_json(plan_views(24, 192))
    with pytest.raises(ConfigJSONError, match="unknown field"):
        from_json(AvatarChoice, '{"backend": "mesh", "gpu": 3}')
    with pytest.raises(ConfigJSONError, match=r"AvatarChoice\.backend: 'cats' is not one of"):
        from_json(AvatarChoice, '{"backend": "cats"}')
    with pytest.raises(ConfigJSONError, match="views.num_views: expected int"):
        from_json(type(plan_views()), text.replace('"num_views": 24', '"num_views": "24"', 1))


def test_the_quilt_follows_the_display() -> None:
    portrait, gen3 = load_visual(PORTRAIT), load_visual(GEN3)
    p = plan_views(24, 384, calibration=portrait).quilt
    assert (p.cols, p.rows, p.tile_w_px, p.tile_h_px, p.aspect) == (6, 4, 288, 384, 0.75)
    g = plan_views(24, 384, calibration=gen3).quilt
    assert (g.cols, g.rows) == (4, 6) and g.tile_w_px == 384 and abs(g.aspect - gen3.display_aspect) < 1e-9
    # A display's own default grid is used when it holds exactly the views rendered.
    assert (plan_views(48, 256, calibration=portrait, default_grid=(8, 6)).quilt.cols) == 8
    assert (plan_views(24, 256, calibration=portrait, default_grid=(8, 6)).quilt.cols) == 6
    # An explicit aspect wins over the display's.
    assert plan_views(24, 256, aspect=1.0, calibration=portrait).quilt.tile_w_px == 256


def test_avatar_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOODOO_HOLO_HOME", str(tmp_path / "home"))
    probes: list[int] = []

    def gpus(n: int):
        return lambda: probes.append(n) or n

    assert choose_avatar("auto", count_gpus=gpus(1)).backend == "mesh"
    assert probes == [], "no weights: GPUs are not probed"
    with pytest.raises(ChoiceError, match="needs the VOODOO 3D weights"):
        choose_avatar("neural", count_gpus=gpus(1))
    with pytest.raises(ChoiceError, match="does not exist"):
        choose_avatar("auto", tmp_path / "missing.pth", count_gpus=gpus(1))
    weights = tmp_path / "voodoo3d.pth"
    weights.write_bytes(b"not loaded here")
    on_gpu = choose_avatar("auto", weights, count_gpus=gpus(1))
    assert (on_gpu.backend, on_gpu.device, on_gpu.note) == ("neural", "cuda", "")
    no_gpu = choose_avatar("auto", weights, count_gpus=gpus(0))
    assert no_gpu.backend == "mesh" and "no CUDA GPU" in no_gpu.note
    forced = choose_avatar("neural", weights, count_gpus=gpus(0))
    assert forced.device == "cpu" and "few seconds per frame" in forced.note
    assert choose_avatar("mesh", weights, count_gpus=gpus(1)).backend == "mesh"
    assert on_gpu.on_device("cuda:0").device == "cuda:0"


def test_output_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOODOO_HOLO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VOODOO_HOLO_BRIDGE_URL", "off")
    headless = choose_output("headless", PORTRAIT)
    assert headless.kind == "headless" and headless.calibration is not None and headless.route == "argument"
    blind = choose_output("auto", PORTRAIT, can_show=lambda: False, headless_hint="use --metrics-out")
    assert blind.kind == "headless" and "use --metrics-out" in blind.note and blind.calibration is not None
    with pytest.raises(ChoiceError, match="visual.json"):
        choose_output("headless", tmp_path / "missing_visual.json")


def test_gl_backend_per_platform_and_forced() -> None:
    assert gl_backend("linux", {}) == "egl"
    assert gl_backend("darwin", {}) == "default"  # macOS has no EGL: CGL
    assert gl_backend("win32", {}) == "default"  # WGL
    assert gl_backend("linux", {"VOODOO_HOLO_GL": "x11"}) == "x11"
    with pytest.raises(ValueError, match="VOODOO_HOLO_GL"):
        gl_backend("linux", {"VOODOO_HOLO_GL": "vulkan"})


def test_link_transport_per_platform_and_forced() -> None:
    assert link_transport("win32", {}) == "tcp"
    assert link_transport("linux-other", {}) == "ipc"
    assert link_transport("linux", {"VOODOO_HOLO_LINKS": "tcp"}) == "tcp"
    with pytest.raises(ValueError, match="VOODOO_HOLO_LINKS"):
        link_transport("linux", {"VOODOO_HOLO_LINKS": "carrier-pigeon"})


def _gl_probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from app.platform import create_gl_context\n"
        "ctx = create_gl_context()\n"
        "print(ctx.info['GL_RENDERER'])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.gl
def test_forced_gl_backends_make_a_context_or_say_why() -> None:
    egl = _gl_probe({"VOODOO_HOLO_GL": "egl"})
    assert egl.returncode == 0 and egl.stdout.strip(), egl.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    no_x = subprocess.run(
        [sys.executable, "-c", "from app.platform import create_gl_context; create_gl_context()"],
        env={**env, "PYTHONPATH": str(REPO), "VOODOO_HOLO_GL": "x11"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_x.returncode != 0 and "no OpenGL 4.1 context: x11:" in no_x.stderr
