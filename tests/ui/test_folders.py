"""Choosing a folder inside the selection window: likely folders, the path field, the chooser;
and what a photo without a face is called (real MediaPipe on real photos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from ui_support import astronaut_rgb

from app.text import plural, signed
from app.ui.folders import (
    FolderChooser,
    FolderEntry,
    OpenFolder,
    PathField,
    likely_folders,
    short_path,
)
from app.ui.photo_grid import Rect

REPO = Path(__file__).resolve().parents[2]


def _photos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(np.full((8, 8, 3), 30 * k, np.uint8)).save(folder / f"p{k}.jpg")
    return folder


def test_likely_folders_are_the_ones_with_photos(tmp_path):
    home = tmp_path / "home"
    _photos(home / "Downloads", 3)
    _photos(home / "Pictures" / "2023 holiday", 1)
    (home / "Desktop").mkdir(parents=True)  # no photos: not listed
    (home / "Documents").mkdir()
    (home / "Documents" / "notes.txt").write_text("x")
    _photos(home / "Pictures" / ".thumbnails", 4)  # hidden: not listed
    webcam = _photos(tmp_path / "data" / "photos", 2)
    got = likely_folders(home, extra=[(webcam, "Webcam photos"), (tmp_path / "missing", "Gone")])
    assert [(e.label, e.note) for e in got] == [
        ("Webcam photos", "2 photos"),
        ("~/Downloads", "3 photos"),
        ("~/Pictures/2023 holiday", "1 photo"),
    ]
    assert likely_folders(home, skip=[home / "Downloads"], limit=1)[0].label == "~/Pictures/2023 holiday"
    assert likely_folders(tmp_path / "nobody") == []


def test_short_paths_and_plurals(tmp_path):
    assert short_path(tmp_path / "a" / "b", tmp_path) == "~/a/b"
    assert short_path(tmp_path, tmp_path) == "~"
    assert short_path(Path("/elsewhere/x"), tmp_path) == "/elsewhere/x"
    assert (signed(-0.04), signed(-0.4, 0), signed(3.26), signed(-12.0, 0)) == ("+0.0", "+0", "+3.3", "-12")
    assert (plural(1, "photo"), plural(0, "photo"), plural(2, "person", "people")) == (
        "1 photo",
        "0 photos",
        "2 people",
    )


def test_path_field_completes_folder_names(tmp_path):
    for name in ("Pictures", "Pics-old", "Music", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "Picture.txt").write_text("a file is never completed")
    f = PathField(f"{tmp_path}/Mu")
    assert f.complete() == ["Music"] and f.text == f"{tmp_path}/Music/"
    f = PathField(f"{tmp_path}/Pi")
    assert f.complete() == ["Pics-old", "Pictures"] and f.text == f"{tmp_path}/Pic"  # as far as they agree
    f = PathField(f"{tmp_path}/")
    assert ".hidden" not in f.complete()
    f = PathField(f"{tmp_path}/zz")
    assert f.complete() == [] and f.text == f"{tmp_path}/zz"
    f.type("a\tb\r")
    assert f.text == f"{tmp_path}/zzab"  # control characters are not typed
    f.backspace()
    assert f.folder() == tmp_path / "zza"


def test_chooser_keys_text_and_clicks(tmp_path):
    photos = _photos(tmp_path / "mine", 2)
    entries = [
        FolderEntry(REPO / "assets" / "samples", "Sample photos", "two portraits", "samples"),
        FolderEntry(photos, "~/mine", "2 photos"),
    ]
    ch = FolderChooser(entries=entries, message="There is no Pictures folder.")
    assert ch.focus == 0
    assert ch.handle_key("enter") == OpenFolder(REPO / "assets" / "samples", samples=True)
    assert ch.handle_key("down") is None and ch.handle_key("enter") == OpenFolder(photos)
    ch.handle_key("up")
    ch.handle_key("up")
    assert ch.focus == -1  # the path field
    assert ch.handle_key("enter") is None and "type the path" in ch.error
    ch.handle_text(str(tmp_path / "nothing"))
    assert ch.handle_key("enter") is None and ch.error.endswith("nothing is not a folder")
    for _ in "nothing":
        ch.handle_key("backspace")
    ch.handle_text("mi")
    ch.handle_key("tab")
    assert ch.path_field.text == f"{tmp_path}/mine/" and ch.handle_key("enter") == OpenFolder(photos)
    ch.handle_key("down")
    ch.handle_text("q")  # typing takes the focus back to the field: 'q' is a letter here, not quit
    assert ch.focus == -1 and ch.path_field.text.endswith("q")
    field_rect, rows = Rect(0, 0, 100, 30), [Rect(0, 50, 100, 30), Rect(0, 90, 100, 30)]
    assert ch.handle_click(10, 100, field_rect, rows) == OpenFolder(photos)
    assert ch.handle_click(10, 10, field_rect, rows) is None and ch.focus == -1
    assert ch.handle_key("escape") == "quit"  # a first run: nothing to go back to
    assert FolderChooser(entries=entries, can_go_back=True).handle_key("escape") == "back"
    assert FolderChooser().focus == -1  # no folders to list: the field has the focus


@pytest.fixture(scope="module")
def preprocessor():
    from pipeline.tracking import PhotoConfig, PhotoPreprocessor

    with PhotoPreprocessor(PhotoConfig(matte=None)) as pp:
        yield pp


def test_a_face_too_blurred_to_find_is_called_too_blurry_not_no_face(preprocessor, tmp_path):
    """Real MediaPipe on a real portrait: blurred until no face is found, it is "too blurry";
    a sharp photo of no face, and a flat grey image, are "no face"."""
    import skimage.data

    from app.ui.photo_grid import short_reason
    from app.ui.scan import check_photo, too_blurry_for_a_face

    astro = astronaut_rgb()
    blurred = cv2.GaussianBlur(astro, (0, 0), 10)
    cases = {
        "blurred.png": blurred,
        "coffee.png": skimage.data.coffee(),
        "grey.png": np.full((300, 300, 3), 128, np.uint8),
        "sharp.png": astro,
    }
    got = {}
    for name, rgb in cases.items():
        Image.fromarray(rgb).save(tmp_path / name)
        it = check_photo(preprocessor, tmp_path / name, 64)
        got[name] = (it.status, it.problem_kind, short_reason(it))
    assert got["blurred.png"] == ("unusable", "too_blurry", "TOO BLURRY")
    assert got["coffee.png"] == ("unusable", "no_face", "NO FACE")
    assert got["grey.png"] == ("unusable", "no_face", "NO FACE")
    assert got["sharp.png"][0] in ("good", "fair")
    assert too_blurry_for_a_face(blurred) and not too_blurry_for_a_face(skimage.data.coffee())
    # A blurred face that is still found is usable, and its badge says what is wrong.
    mild = check_photo(preprocessor, _save(tmp_path / "mild.png", cv2.GaussianBlur(astro, (0, 0), 3)), 64)
    assert mild.status == "fair" and short_reason(mild) == "TOO BLURRY"


def _save(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path)
    return path
