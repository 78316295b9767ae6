"""Files a user gives us (images, visual.json, config.json, checkpoints): one error type each.

Whatever a file holds, its reader raises only its documented error, with a one-line message:
``UnreadablePhotoError`` (images), ``CalibrationError`` (visual.json), ``ConfigError``
(config.json), ``CheckpointError`` (weights). Hostile cases from issue #19 are pinned; the
property tests mutate real files.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app import cli
from app.config import ConfigError, load_config
from app.paths import user_paths
from calibration.visual import CalibrationError, load_visual, parse_visual
from pipeline.capture import ImageFolderSource
from pipeline.tracking.errors import UnreadablePhotoError
from pipeline.tracking.image_io import MAX_IMAGE_PIXELS, load_image, read_image
from pipeline.voodoo.checkpoint import (
    CheckpointError,
    expected_layout,
    load_model,
    read_state_dict,
    validate_checkpoint_file,
)
from pipeline.voodoo.renderer import PLANE_AXES

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"
VISUAL = DATA / "portrait_visual.json"

PROPS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text and text.isprintable(), repr(text)
    return text


# -- images -----------------------------------------------------------------------------------
def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width x height`` grey pixels (the data is not there)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(20000, 20000), (11000, 11000), (65535, 65535)])
def test_huge_declared_images_are_refused_before_decoding(tmp_path, size):
    # 20000 x 20000 is Pillow's decompression-bomb error; 11000 x 11000 only its warning,
    # and above this program's own limit.
    path = tmp_path / "huge.png"
    path.write_bytes(png_declaring(*size))
    assert path.stat().st_size < 1000 and size[0] * size[1] > MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(UnreadablePhotoError) as e:
            load_image(path)
    assert "too large" in one_line(e.value) and "megapixels" in str(e.value)
    assert not [w for w in seen if "decompression" in str(w.message).lower()]
    with pytest.raises(UnreadablePhotoError, match="too large"):
        read_image(path, what="quilt image")


def test_images_at_the_limit_are_read(tmp_path):
    path = tmp_path / "ok.png"
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(path)
    assert read_image(path, max_pixels=1200).shape == (40, 30, 3)
    with pytest.raises(UnreadablePhotoError, match="30x40 pixels"):
        read_image(path, max_pixels=1199)


def test_a_huge_frame_in_a_driver_folder_is_skipped(tmp_path):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(png_declaring(20000, 20000))
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "c.png")
    src = ImageFolderSource(tmp_path)
    assert [f.index_in_source for f in src] == [0, 2]
    assert [p.name for p in src.unreadable] == ["b.png"]


def test_lenticular_says_one_line_for_a_huge_quilt(tmp_path, capsys):
    quilt = tmp_path / "q_qs2x2a1.png"
    quilt.write_bytes(png_declaring(20000, 20000))
    rc = cli.main(["lenticular", str(quilt), "--calibration", str(VISUAL), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "too large" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def _image_bytes(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


IMAGES = {fmt: _image_bytes(fmt) for fmt in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")}


def _mutated(data: bytes, d: st.DataObject) -> bytes:
    b = bytearray(data)
    for _ in range(d.draw(st.integers(1, 6))):
        op = d.draw(st.integers(0, 2))
        if op == 0 and b:
            b[d.draw(st.integers(0, len(b) - 1))] = d.draw(st.integers(0, 255))
        elif op == 1:
            b = b[: d.draw(st.integers(0, len(b)))]
        else:
            at = d.draw(st.integers(0, len(b)))
            b[at:at] = d.draw(st.binary(min_size=1, max_size=16))
    return bytes(b)


@PROPS
@given(st.sampled_from(sorted(IMAGES)), st.data())
def test_mutated_images_raise_only_unreadable_photo_error(tmp_path, fmt, data):
    path = tmp_path / f"m.{fmt.lower()}"
    path.write_bytes(_mutated(IMAGES[fmt], data))
    try:
        rgb = load_image(path)
    except UnreadablePhotoError as e:
        one_line(e)
    else:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


@PROPS
@given(st.binary(max_size=200))
def test_any_bytes_as_an_image(tmp_path, blob):
    path = tmp_path / "any.jpg"
    path.write_bytes(blob)
    with pytest.raises(UnreadablePhotoError):
        load_image(path)


# -- visual.json ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 200_000, "nested too deeply"),
        ('{"pitch": {"value": ' + "9" * 5000 + "}}", "5000 digits"),
        ('{"pitch": {"value": ' + "9" * 400 + "}}", "400 digits"),
        (" " * (2 << 20), "too large"),
    ],
)
def test_hostile_visual_json_is_a_calibration_error(tmp_path, text, words):
    path = tmp_path / "visual.json"
    path.write_text(text)
    with pytest.raises(CalibrationError) as e:
        load_visual(path)
    assert words in one_line(e.value) and str(path) in str(e.value)


def test_huge_numbers_in_a_decoded_visual_json_are_named():
    raw = json.loads(VISUAL.read_text())
    for key, value in (("pitch", {"value": 10**400}), ("serial", 10**5000), ("center", 10**5000)):
        with pytest.raises(CalibrationError) as e:
            parse_visual({**raw, key: value})
        assert e.value.field == key and "too many digits" in one_line(e.value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@PROPS
@given(st.data())
def test_visual_json_with_any_values_in_its_fields(data):
    raw = json.loads(VISUAL.read_text())
    keys = [*sorted(raw), "subpixelCells", "CellPatternMode", "x"]
    for key in data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True)):
        if data.draw(st.booleans()):
            raw.pop(key, None)
        elif data.draw(st.booleans()):
            raw[key] = {"value": data.draw(json_values)}
        else:
            raw[key] = data.draw(json_values)
    try:
        parse_visual(raw)
    except CalibrationError as e:
        one_line(e)


@PROPS
@given(st.data())
def test_mutated_visual_json_files(tmp_path, data):
    path = tmp_path / "visual.json"
    path.write_bytes(_mutated(VISUAL.read_bytes(), data))
    try:
        load_visual(path)
    except CalibrationError as e:
        one_line(e)


# -- config.json ------------------------------------------------------------------------------
def _write_config(content: bytes) -> Path:
    p = user_paths().config_file
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content)
    return p


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{broken", "not valid JSON at line 1"),
        (b"[" * 200_000, "nested too deeply"),
        (b'{"a": ' + b"7" * 5000 + b"}", "5000 digits"),
        (b'{"a": "\xff\xfe"}', "cannot be read"),
        (b"[1, 2]", "JSON object"),
        (b" " * (2 << 20), "too large"),
    ],
)
def test_damaged_settings_file_is_one_config_error(content, words):
    p = _write_config(content)
    with pytest.raises(ConfigError) as e:
        load_config()
    assert words in one_line(e.value) and str(p) in str(e.value) and "delete" in str(e.value)
    assert p.read_bytes() == content  # never overwritten


def test_every_command_reports_a_damaged_settings_file_in_one_line(tmp_path, capsys):
    _write_config(b"[" * 200_000)
    rc = cli.main(["lenticular", "--test-pattern", "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("voodoo-holo lenticular: settings file") and "nested too deeply" in err


@PROPS
@given(st.data())
def test_mutated_settings_files(data):
    good = json.dumps({"source_photo": "/photos/me.jpg", "backend": "mesh", "n": [1, 2.5, {"k": None}]})
    _write_config(_mutated(good.encode(), data))
    try:
        assert isinstance(load_config(), dict)
    except ConfigError as e:
        one_line(e)


# -- checkpoints ------------------------------------------------------------------------------
def _layout_state(**override: torch.Tensor) -> dict[str, torch.Tensor]:
    """The official layout as zero-stride views: saving it writes a small file."""
    state = {k: torch.zeros(()).expand(shape) for k, (shape, _) in expected_layout(True).items()}
    state["renderer.plane_axes"] = torch.tensor(PLANE_AXES)
    state.update(override)
    return state


def _save(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


NAN_KEY = "decoder.net.0.weight"


def test_validate_checkpoint_file_checks_the_layout_without_values(tmp_path):
    shape = expected_layout(True)[NAN_KEY][0]
    good = _save(tmp_path / "good.pth", _layout_state())
    report = validate_checkpoint_file(good)
    assert report.ok and not report.values_checked and not report.non_finite
    bad = _save(tmp_path / "bad.pth", _layout_state(**{NAN_KEY: torch.zeros(3)}))
    report = validate_checkpoint_file(bad)
    assert not report.ok and report.mismatched == [(NAN_KEY, shape, (3,))]
    assert NAN_KEY in one_line(CheckpointError(report.error_message(str(bad))))
    nan = _save(tmp_path / "nan.pth", _layout_state(**{NAN_KEY: torch.full((), float("nan")).expand(shape)}))
    assert validate_checkpoint_file(nan).ok  # values are not read by default
    axes = _save(
        tmp_path / "axes.pth", _layout_state(**{"renderer.plane_axes": torch.eye(3).expand(3, 3, 3)})
    )
    report = validate_checkpoint_file(axes)
    assert not report.ok and "plane_axes" in report.error_message("axes.pth")
    report = validate_checkpoint_file(nan, check_values=True)
    assert report.values_checked and report.non_finite == [NAN_KEY] and not report.ok
    message = report.error_message(str(nan))
    assert "NaN or infinity" in message and NAN_KEY in message and "download" in message


def test_load_model_refuses_a_weight_with_infinity(tmp_path):
    shape = expected_layout(True)[NAN_KEY][0]
    path = _save(tmp_path / "inf.pth", _layout_state(**{NAN_KEY: torch.full((), float("inf")).expand(shape)}))
    with pytest.raises(CheckpointError) as e:
        load_model(path, progress=False)
    assert NAN_KEY in one_line(e.value) and "NaN or infinity" in str(e.value)


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused_without_terminal_codes_or_a_bypass_hint(tmp_path, capsys):
    path = _save(tmp_path / "evil.pth", {"a": torch.zeros(2), "b": _RunsCode()})
    for read in (read_state_dict, validate_checkpoint_file):
        with pytest.raises(CheckpointError) as e:
            read(path)
        text = one_line(e.value)
        assert "refused" in text and "print" in text and "official voodoo3d.pth" in text
        for hint in ("weights_only", "safe_globals", "trust", "\x1b"):
            assert hint not in text
    assert "this must never run" not in capsys.readouterr().out


@PROPS
@given(st.sampled_from(["zip", "legacy"]), st.data())
def test_mutated_checkpoint_files(tmp_path, fmt, data):
    state = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.float16)}
    buf = io.BytesIO()
    torch.save(state, buf, _use_new_zipfile_serialization=fmt == "zip")
    path = tmp_path / "m.pth"
    path.write_bytes(_mutated(buf.getvalue(), data))
    for read in (read_state_dict, validate_checkpoint_file):
        try:
            read(path)
        except CheckpointError as e:
            one_line(e)
