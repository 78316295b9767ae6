"""The compositor starts first and the other roles wait for its window (bounded), so the window
saying what is starting appears before they compete with it for the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.compose import AvatarChoice, OutputChoice, plan_views
from app.live.launcher import CallSettings, Launcher
from app.live.layouts import load_layout

SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"


class _Running:
    def poll(self) -> None:
        return None


def _order(
    monkeypatch: pytest.MonkeyPatch, kind: str, window_after_drains: int | None
) -> tuple[list[str], int]:
    settings = CallSettings(
        source=SAMPLES / "astronaut.jpg",
        driver=str(SAMPLES / "hopper_driver.mp4"),
        avatar=AvatarChoice("mesh"),
        output=OutputChoice(kind=kind),  # type: ignore[arg-type]
        plan=plan_views(24, 96),
        window_head_start_s=0.5,
    )
    launcher = Launcher(load_layout("cpu"), settings, log=lambda _line: None)
    spawned: list[str] = []
    drains = 0

    def spawn(child) -> None:  # type: ignore[no-untyped-def]
        spawned.append(child.spec.name)
        child.proc = _Running()
        child.last_stats = {}

    def drain(_timeout_ms: int) -> None:
        nonlocal drains
        drains += 1
        if window_after_drains is not None and drains >= window_after_drains:
            launcher.children["compositor"].last_stats = {"status": "starting"}

    monkeypatch.setattr(launcher, "_spawn", spawn)
    monkeypatch.setattr(launcher, "_drain_heartbeats", drain)
    monkeypatch.setattr("app.live.launcher.sweep_dead_run_folders", lambda: [])
    launcher.start()
    return spawned, drains


def test_the_compositor_starts_first_and_the_rest_wait_for_its_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned, drains = _order(monkeypatch, "preview", window_after_drains=3)
    assert spawned[0].startswith("compositor") and len(spawned) == len(set(spawned)) > 1
    assert drains == 3  # waited exactly until the window's status arrived


def test_a_window_that_never_comes_delays_the_rest_only_by_the_head_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned, drains = _order(monkeypatch, "preview", window_after_drains=None)
    assert spawned[0].startswith("compositor") and len(spawned) > 1
    assert drains >= 1  # it waited, and then started the others anyway


def test_headless_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    spawned, drains = _order(monkeypatch, "headless", window_after_drains=None)
    assert spawned[0].startswith("compositor") and drains == 0
