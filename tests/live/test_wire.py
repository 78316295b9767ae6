"""Wire format: round trips without sockets, pinned header, and hostile input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline import wire
from pipeline.avatar import FaceObservation, RenderedViews
from pipeline.cameras import canonical_camera, view_sweep
from pipeline.messages import (
    driver_frame_from_message,
    driver_frame_to_message,
    views_from_message,
    views_to_message,
)
from pipeline.wire import Message, WireError, decode, encode


def _as_bytes(frames):
    return [bytes(f) for f in frames]


def test_header_fields_and_version_are_pinned():
    # Changing the wire format must be a reviewed decision: update this test and SCHEMA_VERSION.
    assert wire.SCHEMA_VERSION == 1
    frames = encode(Message("views", 7, 123, {"a": np.zeros((2, 3), np.float32)}, {"k": 1}), now_ns=456)
    head = json.loads(bytes(frames[0])[len(wire.MAGIC) :])
    assert head == {
        "v": 1,
        "kind": "views",
        "seq": 7,
        "t_capture_ns": 123,
        "t_sent_ns": 456,
        "arrays": [{"name": "a", "dtype": "float32", "shape": [2, 3]}],
        "meta": {"k": 1},
    }


@pytest.mark.parametrize("dtype", ["uint8", "float16", "float32", "float64", "int32", "bool"])
def test_roundtrip_dtypes(dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((3, 4, 5)) * 100).astype(dtype)
    empty = np.zeros((0, 4), dtype)
    msg = Message("scene", 3, 99, {"a": a, "empty": empty, "t": a.transpose(2, 0, 1)}, {"x": [1, 2]})
    out = decode(_as_bytes(encode(msg)), copy=True)
    assert out.kind == "scene" and out.seq == 3 and out.t_capture_ns == 99 and out.meta == {"x": [1, 2]}
    np.testing.assert_array_equal(out.arrays["a"], a)
    np.testing.assert_array_equal(out.arrays["t"], a.transpose(2, 0, 1))
    assert out.arrays["empty"].shape == (0, 4)
    assert out.arrays["a"].flags.writeable


def test_zero_copy_decode_is_read_only_view():
    a = np.arange(12, dtype=np.float32)
    frames = _as_bytes(encode(Message("scene", arrays={"a": a})))
    out = decode(frames)
    assert not out.arrays["a"].flags.writeable


def test_driver_frame_roundtrip():
    rng = np.random.default_rng(1)
    obs = FaceObservation(
        crop_rgb_u8=rng.integers(0, 255, (512, 512, 3), dtype=np.uint8),
        matte=rng.random((512, 512)).astype(np.float32),
        camera=view_sweep(canonical_camera(), views=[4])[0],
        landmarks_px=rng.random((478, 3)).astype(np.float32) * 512,
        crop_from_frame=np.array([[0.5, 0, 10], [0, 0.5, 20], [0, 0, 1.0]]),
        frame_size=(640, 480),
        timestamp_ns=123456789,
        seq=42,
        tracked=False,
    )
    back = driver_frame_from_message(decode(_as_bytes(encode(driver_frame_to_message(obs)))))
    np.testing.assert_array_equal(back.crop_rgb_u8, obs.crop_rgb_u8)
    np.testing.assert_allclose(back.matte, obs.matte, atol=1 / 255)
    np.testing.assert_allclose(back.camera.cam2world, obs.camera.cam2world)
    np.testing.assert_allclose(back.camera.intrinsics, obs.camera.intrinsics)
    np.testing.assert_allclose(back.landmarks_px, obs.landmarks_px)
    assert (back.seq, back.timestamp_ns, back.frame_size, back.tracked) == (42, 123456789, (640, 480), False)


def test_views_roundtrip():
    views = RenderedViews(np.full((6, 8, 10, 3), 7, np.uint8), [6, 7, 8, 9, 10, 11])
    msg = decode(_as_bytes(encode(views_to_message(5, 77, views, worker="renderer-1"))))
    back = views_from_message(msg)
    assert list(back.view_ids) == [6, 7, 8, 9, 10, 11]
    np.testing.assert_array_equal(back.rgb_u8, views.rgb_u8)
    assert msg.meta["worker"] == "renderer-1"


def _valid():
    return _as_bytes(encode(Message("views", 1, 2, {"a": np.zeros((4, 4), np.uint8)}, {"view_ids": [0]})))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda f: [], "empty"),
        (lambda f: [b"garbage", *f[1:]], "bad_magic"),
        (lambda f: [wire.MAGIC + b"{not json", *f[1:]], "bad_header"),
        (lambda f: [f[0].replace(b'"v":1', b'"v":2'), *f[1:]], "version"),
        (lambda f: [f[0].replace(b'"views"', b'"pickle"'), *f[1:]], "bad_kind"),
        (lambda f: [f[0].replace(b'"uint8"', b'"object"'), *f[1:]], "bad_dtype"),
        (lambda f: [f[0], f[1][:-1]], "size_mismatch"),
        (lambda f: [f[0]], "frame_count"),
        (lambda f: [f[0].replace(b"[4,4]", b"[4,-4]"), *f[1:]], "bad_shape"),
        (lambda f: [f[0].replace(b"[4,4]", b"[100000,100000,100000]"), *f[1:]], "oversized"),
        (lambda f: [wire.MAGIC + b"x" * 70000, *f[1:]], "oversized"),
    ],
)
def test_malformed_messages_raise_wire_error_with_reason(mutate, reason):
    with pytest.raises(WireError) as e:
        decode(mutate(_valid()))
    assert e.value.reason == reason


def test_payload_checks():
    msg = decode(_valid())
    with pytest.raises(WireError, match="wrong_kind"):
        driver_frame_from_message(msg)
    bad_ids = Message("views", 1, 2, {"rgb_u8": np.zeros((1, 2, 2, 3), np.uint8)}, {"view_ids": "0"})
    with pytest.raises(WireError):
        views_from_message(decode(_as_bytes(encode(bad_ids))))


def test_encode_rejects_what_cannot_be_sent():
    with pytest.raises(ValueError, match="dtype"):
        encode(Message("scene", arrays={"o": np.array([object()])}))
    with pytest.raises(ValueError, match="kind"):
        encode(Message("nope"))
    with pytest.raises(ValueError, match="JSON"):
        encode(Message("scene", meta={"x": object()}))


def _header_with(raw_field: str, raw_value: str) -> list[bytes]:
    """The valid views message with one header field's JSON text replaced."""
    frames = _valid()
    head = json.loads(frames[0][len(wire.MAGIC) :])
    head[raw_field] = "@@"
    text = json.dumps(head, separators=(",", ":")).replace('"@@"', raw_value)
    return [wire.MAGIC + text.encode(), *frames[1:]]


def _shape(shape_json: str) -> list[bytes]:
    f = _valid()
    return [f[0].replace(b"[4,4]", shape_json.encode()), *f[1:]]


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        # 64 KB of '[' fits the header limit; parsing it would exhaust the recursion limit.
        ([wire.MAGIC + b"[" * (64 * 1024 - len(wire.MAGIC))], "too_deep"),
        (_header_with("meta", "{" + '"a":{' * 2000 + "}" * 2001), "too_deep"),
        (_header_with("meta", "[" * 33 + "]" * 33), "too_deep"),
        (_header_with("meta", '{"k":' + "9" * 5000 + "}"), "bad_number"),
        (_header_with("seq", "9" * 5000), "bad_number"),
        (_header_with("seq", str(2**80)), "bad_number"),
        (_header_with("seq", str(2**63)), "bad_number"),
        (_header_with("seq", "-1"), "bad_header"),
        (_header_with("seq", "true"), "bad_header"),
        (_header_with("seq", "1.0"), "bad_header"),
        (_header_with("seq", '"7"'), "bad_header"),
        (_header_with("t_capture_ns", "[1]"), "bad_header"),
        (_header_with("meta", "NaN"), "bad_number"),
        (_header_with("meta", '{"x":1e999}'), "bad_number"),
        (_header_with("meta", "[]"), "bad_header"),
        (_header_with("meta", '"text"'), "bad_header"),
        (_header_with("kind", '["views"]'), "bad_kind"),
        (_header_with("v", "true"), "version"),
        (_header_with("arrays", '[{"name":"a","dtype":["uint8"],"shape":[4,4]}]'), "bad_dtype"),
        (_header_with("arrays", '[{"name":["a"],"dtype":"uint8","shape":[4,4]}]'), "bad_header"),
        (_header_with("arrays", '["a"]'), "bad_header"),
        (_shape(f"[{2**70}]"), "bad_number"),
        (_shape(f"[{2**62},4]"), "bad_shape"),
        (_shape(f"[{2**32},{2**32}]"), "bad_shape"),
        (_shape("[true,16]"), "bad_shape"),
        (_shape("[4.0,4]"), "bad_shape"),
        (_shape('"44"'), "bad_shape"),
        (_shape("[[4],4]"), "bad_shape"),
        (_shape("[1,1,1,1,1,1,16]"), "bad_shape"),
        # Each dimension is allowed, the product is not (and must not wrap around to 0).
        (_shape(f"[{2**24},{2**24},{2**24}]"), "oversized"),
        ([_valid()[0], 12345], "bad_frame"),
    ],
)
def test_hostile_headers_raise_only_wire_error(frames, reason):
    with pytest.raises(WireError) as e:
        decode(frames)
    assert e.value.reason == reason, str(e.value)


def test_two_arrays_of_one_name_are_refused():
    frames = _valid()
    head = json.loads(frames[0][len(wire.MAGIC) :])
    head["arrays"] = head["arrays"] * 2
    with pytest.raises(WireError, match="same name"):
        decode([wire.MAGIC + json.dumps(head).encode(), frames[1], frames[1]])


def test_limits_at_the_edge_still_decode():
    # Exactly at the bounds: the largest int64 seq, max_json_depth levels, a zero-size array.
    deep = "[" * 30 + "]" * 30  # 30 levels inside meta{...} inside the header{...}: 32 in all
    msg = decode(_header_with("meta", '{"d":' + deep + "}"))
    assert json.dumps(msg.meta["d"], separators=(",", ":")) == deep
    assert decode(_header_with("seq", str(wire.INT64_MAX))).seq == wire.INT64_MAX
    empty = decode(_as_bytes(encode(Message("scene", arrays={"e": np.zeros((0, 2**24), np.uint8)}))))
    assert empty.arrays["e"].shape == (0, 2**24)


def test_json_depth_ignores_brackets_inside_strings():
    assert wire.json_depth(b"") == 0
    assert wire.json_depth(b'"[[[["') == 0
    assert wire.json_depth(b'{"a": "]]}", "b": [[1]]}') == 3
    assert wire.json_depth(b'["\\"[[", [2]]') == 2  # an escaped quote does not end the string
    assert wire.json_depth(b'["\\\\", [[2]]]') == 3  # an escaped backslash, then a real quote
    body = json.dumps({"x": [{"y": ["[{", {"z": []}]}], "s": 'q"[\\'}).encode()
    assert wire.json_depth(body) == 6


def test_encode_refuses_what_decode_would_refuse():
    for field_values in ({"seq": -1}, {"seq": 2**63}, {"t_capture_ns": True}, {"t_sent_ns": -5}):
        with pytest.raises(ValueError, match="2\\*\\*63"):
            encode(Message("views", **field_values))
