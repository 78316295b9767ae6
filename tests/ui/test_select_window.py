"""The photo-selection window under Xvfb, driven by synthetic key and mouse events (mesh avatar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.window, pytest.mark.gl]

GREEN, AMBER, RED = [70, 190, 95], [235, 170, 40], [220, 60, 60]
HIGHLIGHT = [80, 150, 255]


def test_grid_ranks_and_badges_photos_then_select_preview_and_use(
    probe, photo_folder, camera_frames, tmp_path
):
    r = probe("select_probe.py", "grid", str(photo_folder), str(tmp_path), str(camera_frames), out=tmp_path)
    # Best candidates first: the sharp large frontal face, then usable ones with notes, then the rest.
    assert r["order"][0] == "grace.jpg"
    assert set(r["order"][1:3]) == {"astronaut.png", "dark_blurry.png"}
    assert r["order"].index("astronaut.png") < r["order"].index("dark_blurry.png")  # fewer problems first
    assert set(r["order"][3:]) == {"broken.jpg", "coffee.png", "tiny.png"}  # notes.txt is not a photo
    assert r["status"]["grace.jpg"] == "good" and r["status"]["dark_blurry.png"] == "fair"
    assert any("dark" in w for w in r["warnings"]["dark_blurry.png"])
    assert "no face" in r["problems"]["coffee.png"]
    assert "36 pixels" in r["problems"]["tiny.png"] or "pixels tall" in r["problems"]["tiny.png"]
    assert "decoded" in r["problems"]["broken.jpg"]
    # Badge colours read back from the screenshot, in grid order, and the badges' words.
    assert r["badge_rgb"] == [GREEN, AMBER, AMBER, RED, RED, RED]
    assert r["badges"]["grace.jpg"] == "GOOD" and r["badges"]["dark_blurry.png"] == "TOO BLURRY"
    assert r["badges"]["coffee.png"] == "NO FACE" and r["badges"]["broken.jpg"] == "CANNOT OPEN"
    assert r["details"]["grace.jpg"][0] == "Face found: one face"
    assert r["details"]["grace.jpg"][3] == "Sharpness: sharp"
    # Keys: nothing is highlighted at first; the first arrow picks the best photo, the next moves;
    # the selected photo shows its crop, matte and a moving 3D preview.
    assert r["selected_at_start"] is None
    assert r["first_arrow"] == "grace.jpg" and r["second_arrow"] != "grace.jpg"
    assert r["selected_by_keys"] == "grace.jpg"
    assert r["crop_mean"] > 60 and r["matte_values"] == [0, 255]
    assert r["orbit_mean"] > 30  # the rendered face, not the black placeholder
    assert abs(r["orbit_views"][1] - r["orbit_views"][0]) >= 3 and r["orbit_changed"] > 3
    # Mouse: a click selects; "use" is refused for an unusable photo; the button uses the photo.
    assert r["selected_by_click"] == "grace.jpg"
    assert r["selected_last"] in ("broken.jpg", "coffee.png", "tiny.png")
    assert r["closed_after_u_on_unusable"] is False
    assert r["captured"].startswith("webcam-") and r["captured_status"] in ("good", "fair")
    assert r["closed"] is True and r["chosen"] == str((photo_folder / "grace.jpg").resolve())
    grid = np.asarray(Image.open(tmp_path / "select_grid.png"))
    assert grid.shape == (600, 900, 3)
    for name in ("select_preview.png", "select_unusable.png", "select_camera.png"):
        assert (tmp_path / name).is_file()


def test_first_run_opens_the_selection_and_stores_the_photo(probe, photo_folder, tmp_path):
    r = probe("select_probe.py", "firstrun", str(photo_folder), str(tmp_path), out=tmp_path)
    expected = str((photo_folder / "grace.jpg").resolve())
    assert r["chosen"] == expected and r["stored"] == expected


def test_a_folder_without_usable_photos_says_so(probe, tmp_path):
    folder = tmp_path / "nothing_usable"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(folder / "grey.png")
    out = tmp_path / "out"
    out.mkdir()
    r = probe("select_probe.py", "empty", str(folder), str(out), out=out)
    assert "None of the 2 photos" in r["message"] and "Press O" in r["message"]
    assert r["use_refused"] is True
    shot = np.asarray(Image.open(out / "select_empty.png"))
    assert shot.shape[0] > 0 and Path(out / "select_empty.png").is_file()


def test_first_run_without_pictures_offers_samples_folders_and_a_path(probe, photo_folder, tmp_path):
    """No Pictures folder: the chooser lists the sample photos and the folders with photos; C
    says there is no webcam; the samples open; O and a typed (Tab-completed) path open a folder."""
    home = tmp_path / "home"
    downloads = home / "Downloads"
    downloads.mkdir(parents=True)
    Image.open(photo_folder / "grace.jpg").save(downloads / "me.jpg")
    out = tmp_path / "out"
    out.mkdir()
    # A copy of the photos in a folder whose name Tab can complete from all but its last 2 letters.
    folder = tmp_path / "unique-photos-folder"
    folder.mkdir()
    for p in photo_folder.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    r = probe("select_probe.py", "chooser", str(folder), str(out), str(home), out=out)
    assert "There is no Pictures folder" in r["start_message"] and "sample photos" in r["start_message"]
    assert r["entries"] == [["Sample photos", "two portraits to try it with"], ["~/Downloads", "1 photo"]]
    assert r["focus"] == 0 and r["field"] == "~/"
    assert r["camera_notice"].startswith("No webcam was found") and "--camera" in r["camera_notice"]
    assert r["grid_camera_notice"] == r["camera_notice"]
    assert r["after_enter_chooser"] is False and r["folder_label"] == "sample photos"
    assert r["sample_badges"]["grace_hopper.jpg"] == "GOOD" and set(r["sample_badges"]) == {
        "grace_hopper.jpg",
        "astronaut.jpg",
    }
    assert r["reopened"] is True and r["completed"] == f"{folder}/"
    assert r["typed_error"] == f"{folder}/nowhere is not a folder"
    assert r["opened"] == str(folder) and r["order"][0] == "grace.jpg" and r["selected"] == "grace.jpg"
    shot = np.asarray(Image.open(out / "first_run_chooser.png"))
    assert shot.shape == (600, 900, 3)
    # The focused entry (the samples) wears the highlight; the notice box is amber-framed.
    assert (shot == HIGHLIGHT).all(axis=2).sum() > 200
    notice = np.asarray(Image.open(out / "first_run_no_webcam.png"))
    assert (notice == AMBER).all(axis=2).sum() > 200 and (shot == AMBER).all(axis=2).sum() == 0


def test_the_last_row_shows_above_the_hint_bar(probe, photo_folder, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(10):
        (folder / f"p{k:02d}_grace.jpg").write_bytes((photo_folder / "grace.jpg").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    r = probe("select_probe.py", "scrolled", str(folder), str(out), out=out)
    assert r["scroll"] > 0 and r["wheel_scroll"] == r["scroll"]
    assert r["last_caption_bottom"] <= r["footer_top"]
    assert r["last_thumb_rgb"] != r["footer_rgb"]  # the thumbnail, not the bar, is drawn there
