"""The typed message API: round trips, the wire format sent today, and hostile payloads.

Every parser of :mod:`pipeline.messages` (and every avatar state's ``from_arrays``) must
raise only ``WireError``, whatever arrays and meta a decoded message holds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pipeline import messages as m
from pipeline.avatar import FaceObservation, RenderedViews
from pipeline.cameras import canonical_camera, view_sweep
from pipeline.mesh.state import MeshScene, MeshSource
from pipeline.voodoo.backend import NeuralScene
from pipeline.wire import Message, WireError, decode, encode

PROPS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def wire_trip(msg: Message) -> Message:
    return decode([bytes(f) for f in encode(msg)], copy=True)


def _camera():
    return view_sweep(canonical_camera(), views=[3])[0]


def _face(size: int = 64) -> FaceObservation:
    rng = np.random.default_rng(0)
    return FaceObservation(
        crop_rgb_u8=rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        matte=rng.random((size, size)).astype(np.float32),
        camera=_camera(),
        landmarks_px=(rng.random((478, 3)) * size).astype(np.float32),
        crop_from_frame=np.array([[0.5, 0, 10], [0, 0.5, 20], [0, 0, 1.0]]),
        frame_size=(640, 480),
        timestamp_ns=5,
        seq=6,
        tracked=False,
    )


def _mesh_scene() -> MeshScene:
    rng = np.random.default_rng(1)
    return MeshScene(9, 1000, _camera(), rng.normal(size=(468, 3)).astype(np.float32), 0.5, "a" * 40, True)


def _mesh_source_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {
        **m.camera_to_arrays(_camera()),
        "crop_rgb_u8": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
        "atlas_rgb_u8": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
        "crop_matte_u8": rng.integers(0, 255, (32, 32), dtype=np.uint8),
        "face_world": rng.normal(size=(468, 3)),
        "face_frontal_cm": rng.normal(size=(468, 3)),
        "frontal_to_world": np.diag([2.0, 2.0, 2.0, 1.0]),
        "shell_vertices_world": rng.normal(size=(20, 3)).astype(np.float32),
        "shell_texcoords": rng.random((20, 2)).astype(np.float32),
        "shell_triangles": rng.integers(0, 20, (30, 3)).astype(np.int32),
        "mouth_open_ratio": np.array([0.1]),
    }


# -- round trips and the format sent today ----------------------------------------------------
def test_heartbeat_round_trip_and_flags():
    stats = {
        "latency_ms": {"render": {"p50": 1.5, "p90": 2.0, "p99": 3.0, "n": 10}},
        "counters": {"frames_sent": 4, "malformed.bad_header": 1},
        "rates_hz": {"frames_sent": 25.0},
        "window_closed": True,
        "status": "view 3",
        "views": [0, 1],
    }
    hb = m.heartbeat_from_message(wire_trip(m.heartbeat_message("compositor", 4321, stats, seq=8)))
    assert (hb.role, hb.pid, hb.seq) == ("compositor", 4321, 8)
    assert hb.window_closed and not hb.driver_ended
    assert hb.rates_hz == {"frames_sent": 25.0} and hb.counters["frames_sent"] == 4
    assert hb.extra == {"window_closed": True, "status": "view 3", "views": [0, 1]}
    assert hb.stats == stats


@pytest.mark.parametrize(
    "meta",
    [
        {"role": "capture", "pid": 123, "stats": [1, 2]},  # issue #19: killed the launcher
        {"role": "capture", "pid": 123, "stats": {"rates_hz": [1]}},
        {"role": "capture", "pid": 123, "stats": {"counters": {"a": "many"}}},
        {"role": "capture", "pid": 123, "stats": {"latency_ms": {"track": 3}}},
        {"role": "capture", "pid": 123, "stats": {"window_closed": "yes"}},
        {"role": "capture", "pid": True, "stats": {}},
        {"role": "capture", "pid": -4, "stats": {}},
        {"role": ["capture"], "pid": 123, "stats": {}},
        {"role": "", "pid": 123, "stats": {}},
        {"pid": 123, "stats": {}},
    ],
)
def test_bad_heartbeats_are_wire_errors(meta):
    with pytest.raises(WireError) as e:
        m.heartbeat_from_message(wire_trip(Message("heartbeat", 1, 0, {}, meta)))
    assert e.value.reason == "bad_meta"


def test_ready_credit_matches_what_renderers_send():
    # pipeline/workers/roles.py sends Message("control", meta={"ready": cfg.name}).
    assert m.ready_message("renderer-1").meta == {"ready": "renderer-1"}
    assert m.ready_from_message(wire_trip(Message("control", meta={"ready": "renderer-1"}))) == "renderer-1"
    for meta in ({"ready": 3}, {"ready": ""}, {"ready": "x" * 65}, {"type": "ping", "id": 1}, {}):
        with pytest.raises(WireError):
            m.ready_from_message(wire_trip(Message("control", meta=meta)))
    with pytest.raises(WireError, match="wrong_kind"):
        m.ready_from_message(wire_trip(Message("heartbeat", meta={"ready": "renderer-1"})))


@pytest.mark.parametrize(
    ("ctl", "meta", "seq"),
    [
        # The exact meta app/call/transport.py builds today.
        (
            m.Hello("ada", "0a1b2c", True, False),
            {"type": "hello", "name": "ada", "session": "0a1b2c", "sends": True, "receives": False},
            0,
        ),
        (m.Ping(7), {"type": "ping", "id": 7}, 0),
        (m.Pong(7, 100, 200), {"type": "pong", "id": 7, "t0": 100, "t1": 200}, 0),
        (m.Ack(41), {"type": "ack"}, 41),
        (m.Bye(), {"type": "bye"}, 0),
        (m.Who(), {"type": "who"}, 0),
    ],
)
def test_link_control_round_trip_in_todays_format(ctl, meta, seq):
    msg = m.link_control_to_message(ctl)
    assert (msg.kind, msg.meta, msg.seq) == ("control", meta, seq)
    assert m.link_control_from_message(wire_trip(Message("control", seq, meta=meta))) == ctl


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"type": "ping"}, "bad_meta"),
        ({"type": "ping", "id": "7"}, "bad_meta"),
        ({"type": "pong", "id": 7, "t0": 1}, "bad_meta"),
        ({"type": "pong", "id": 7, "t0": 1, "t1": -2}, "bad_meta"),
        ({"type": "hello", "name": 5, "session": "s", "sends": True, "receives": True}, "bad_meta"),
        ({"type": "hello", "name": "a", "session": "s", "sends": 1, "receives": True}, "bad_meta"),
        ({"type": "hello", "name": "a", "sends": True, "receives": True}, "bad_meta"),
        ({"type": "need_more"}, "unknown_control"),
        ({"type": ["ping"]}, "unknown_control"),
        ({"ready": "renderer-0"}, "unknown_control"),
    ],
)
def test_bad_link_control_is_a_wire_error(meta, reason):
    with pytest.raises(WireError) as e:
        m.link_control_from_message(wire_trip(Message("control", meta=meta)))
    assert e.value.reason == reason


def test_hello_names_are_cut_like_the_transport_does():
    meta = {"type": "hello", "name": "n" * 300, "session": "s", "sends": True, "receives": True}
    assert m.link_control_from_message(Message("control", meta=meta)).name == "n" * 64


def test_audio_round_trip_in_todays_format_and_format_checks():
    codes = np.arange(320, dtype=np.uint8)
    msg = m.audio_to_message(m.AudioBlock(3, 99, codes, "mulaw", 16000))
    # app/call/session.py builds Message("audio", seq, t_capture, {"pcm": codes}, {"codec": ..., "rate": ...}).
    assert (msg.kind, msg.seq, msg.t_capture_ns, msg.meta) == (
        "audio",
        3,
        99,
        {"codec": "mulaw", "rate": 16000},
    )
    block = m.audio_from_message(wire_trip(msg), codec="mulaw", rate=16000, samples=320)
    np.testing.assert_array_equal(block.codes, codes)
    assert (block.seq, block.t_capture_ns, block.codec, block.rate) == (3, 99, "mulaw", 16000)
    for kwargs in ({"codec": "opus"}, {"rate": 48000}, {"samples": 960}):
        with pytest.raises(WireError) as e:
            m.audio_from_message(wire_trip(msg), **kwargs)
        assert e.value.reason == "audio_format"
    for arrays, meta in (
        ({"pcm": codes.astype(np.int16)}, msg.meta),
        ({"pcm": codes.reshape(16, 20)}, msg.meta),
        ({"pcm": np.zeros(48001, np.uint8)}, msg.meta),
        ({}, msg.meta),
        ({"pcm": codes}, {"codec": "mulaw", "rate": "16000"}),
        ({"pcm": codes}, {"codec": None, "rate": 16000}),
    ):
        with pytest.raises(WireError):
            m.audio_from_message(wire_trip(Message("audio", 1, 1, arrays, meta)))


def test_views_ids_are_checked():
    rgb = np.zeros((2, 4, 4, 3), np.uint8)
    ok = m.views_from_message(wire_trip(m.views_to_message(1, 2, RenderedViews(rgb, [5, 6]), worker="r")), 24)
    assert list(ok.view_ids) == [5, 6]
    for ids in ([5, 24], [5, 5], [5], [-1, 0], [True, 0], [0, 2**40], "01", None):
        with pytest.raises(WireError):
            m.views_from_message(wire_trip(Message("views", 1, 2, {"rgb_u8": rgb}, {"view_ids": ids})), 24)
    with pytest.raises(WireError, match="rgb_u8"):
        m.views_from_message(
            wire_trip(Message("views", 1, 2, {"rgb_u8": rgb[..., :2]}, {"view_ids": [0, 1]}))
        )


def test_driver_frame_checks_its_meta_and_arrays():
    good = m.driver_frame_to_message(_face())
    back = m.driver_frame_from_message(wire_trip(good))
    assert (back.frame_size, back.tracked, back.seq, back.timestamp_ns) == ((640, 480), False, 6, 5)
    for key, value in (
        ("frame_size", {"a": 1}),
        ("frame_size", [640]),
        ("frame_size", [2**40, 1]),
        ("tracked", "no"),
    ):
        with pytest.raises(WireError):
            m.driver_frame_from_message(
                wire_trip(Message("driver_frame", 1, 1, good.arrays, {**good.meta, key: value}))
            )
    for name, value in (
        ("landmarks_px", np.full((478, 3), np.nan, np.float32)),
        ("landmarks_px", np.zeros((478, 4), np.float32)),
        ("matte_u8", np.zeros((63, 64), np.uint8)),
        ("crop_rgb_u8", np.zeros((64, 64, 3), np.uint16)),
        ("crop_from_frame", np.eye(2)),
        ("cam.size", np.array([0, 64], np.int32)),
        ("cam.intrinsics", np.zeros((3, 3))),
        ("cam.cam2world", np.diag([1.0, 1.0, -1.0, 1.0])),
    ):
        with pytest.raises(WireError):
            m.driver_frame_from_message(
                wire_trip(Message("driver_frame", 1, 1, {**good.arrays, name: value}, good.meta))
            )


def test_state_envelope_and_scene_parsers():
    scene = _mesh_scene()
    msg = wire_trip(m.state_message("scene", 9, 1000, scene.to_arrays(), source_key="a" * 40))
    env = m.state_from_message(msg, "scene")
    assert (env.kind, env.seq, env.source_key, env.shm) == ("scene", 9, "a" * 40, None)
    back = MeshScene.from_arrays(env.arrays)
    assert (back.seq, back.source_key, back.expression_held) == (9, "a" * 40, True)
    with pytest.raises(WireError, match="wrong_kind"):
        m.state_from_message(msg, "source")
    for meta in ({"source_key": 5}, {"shm": [1]}):
        with pytest.raises(WireError, match="bad_meta"):
            m.state_from_message(wire_trip(Message("scene", 1, 1, {}, meta)))
    src = MeshSource.from_arrays(_mesh_source_arrays())
    assert len(src.key) == 40


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("seq", np.array([2**62, 1], np.int64)),  # not one value
        ("seq", np.array([-1], np.int64)),
        ("seq", np.zeros((0,), np.int64)),
        ("timestamp_ns", np.array([1.5])),
        ("mouth_interior", np.array([np.nan], np.float32)),
        ("source_key", np.frombuffer(b"\xff" * 40, np.uint8)),
        ("source_key", np.zeros(39, np.uint8)),
        ("face_world", np.full((468, 3), 1e300)),
        ("face_world", np.zeros((467, 3), np.float32)),
        ("expression_held", np.array([2], np.int64)),
        ("cam.size", np.array([1.5e300, 3.0])),
    ],
)
def test_mesh_scene_refuses_bad_arrays(name, value):
    arrays = {**_mesh_scene().to_arrays(), name: value}
    with pytest.raises(WireError):
        MeshScene.from_arrays(arrays)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("frontal_to_world", np.zeros(2)),  # an IndexError in Similarity.from_matrix before
        ("frontal_to_world", np.diag([-1.0, 1.0, 1.0, 1.0])),
        ("shell_triangles", np.full((30, 3), 20, np.int32)),
        ("shell_texcoords", np.zeros((19, 2), np.float32)),
        ("crop_matte_u8", np.zeros((32, 31), np.uint8)),
        ("atlas_rgb_u8", np.zeros((16, 16, 3), np.float32)),
        ("mouth_open_ratio", np.array([], np.float64)),
    ],
)
def test_mesh_source_refuses_bad_arrays(name, value):
    with pytest.raises(WireError):
        MeshSource.from_arrays({**_mesh_source_arrays(), name: value})


def test_neural_scene_refuses_bad_planes():
    arrays = {
        **m.camera_to_arrays(_camera()),
        "planes": np.zeros((1, 3, 32, 256, 256), np.float32),
        "seq": np.array([1], np.int64),
        "timestamp_ns": np.array([2], np.int64),
    }
    assert NeuralScene.from_arrays(arrays).seq == 1
    for value in (np.zeros((1, 3, 32, 256, 255), np.float32), np.full((1, 3, 32, 256, 256), 1e300)):
        with pytest.raises(WireError, match="planes"):
            NeuralScene.from_arrays({**arrays, "planes": value})


# -- properties: any arrays, any meta ---------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
small_arrays = hnp.arrays(
    st.sampled_from(["uint8", "int16", "int32", "int64", "float16", "float32", "float64", "bool"]),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
)
poisons = st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0, 2.0**70])


def _seeds() -> dict[str, tuple[Message, object]]:
    views = RenderedViews(np.zeros((2, 4, 4, 3), np.uint8), [0, 1])
    src = _mesh_source_arrays()
    return {
        "driver_frame": (m.driver_frame_to_message(_face(32)), m.driver_frame_from_message),
        "views": (m.views_to_message(1, 2, views, worker="r"), m.views_from_message),
        "heartbeat": (
            m.heartbeat_message("capture", 1234, {"counters": {"a": 1}}, 1),
            m.heartbeat_from_message,
        ),
        "ready": (m.ready_message("renderer-0"), m.ready_from_message),
        "link": (m.link_control_to_message(m.Pong(1, 2, 3)), m.link_control_from_message),
        "hello": (m.link_control_to_message(m.Hello("a", "s", True, True)), m.link_control_from_message),
        "audio": (
            m.audio_to_message(m.AudioBlock(1, 2, np.zeros(320, np.uint8), "mulaw", 16000)),
            m.audio_from_message,
        ),
        "mesh_scene": (
            m.state_message("scene", 1, 2, _mesh_scene().to_arrays()),
            lambda msg: MeshScene.from_arrays(m.state_from_message(msg, "scene").arrays),
        ),
        "mesh_source": (
            m.state_message("source", 0, 0, src),
            lambda msg: MeshSource.from_arrays(m.state_from_message(msg, "source").arrays),
        ),
    }


SEEDS = _seeds()


def _parse_only_wire_errors(parser, msg: Message) -> None:
    try:
        parser(msg)
    except WireError as e:
        assert e.reason and isinstance(e.reason, str)


@PROPS
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_any_array_swapped_in(seed, data):
    msg, parser = SEEDS[seed]
    arrays = dict(msg.arrays)
    names = sorted(arrays) + ["extra"]
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()) and name in arrays:
            del arrays[name]
        else:
            arrays[name] = data.draw(small_arrays)
    _parse_only_wire_errors(parser, wire_trip(Message(msg.kind, msg.seq, msg.t_capture_ns, arrays, msg.meta)))


@PROPS
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_poisoned_values_in_the_right_shapes(seed, data):
    msg, parser = SEEDS[seed]
    arrays = {k: np.array(v) for k, v in msg.arrays.items()}
    if not arrays:
        return
    name = data.draw(st.sampled_from(sorted(arrays)))
    a = arrays[name]
    if a.size and a.dtype.kind == "f":
        with np.errstate(over="ignore"):  # 1e300 in a float32 array is meant to become inf
            a.reshape(-1)[data.draw(st.integers(0, a.size - 1))] = data.draw(poisons)
    elif a.size and a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        a.reshape(-1)[data.draw(st.integers(0, a.size - 1))] = data.draw(
            st.sampled_from([info.min, info.max, 0])
        )
    _parse_only_wire_errors(parser, wire_trip(Message(msg.kind, msg.seq, msg.t_capture_ns, arrays, msg.meta)))


@PROPS
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_any_meta(seed, data):
    msg, parser = SEEDS[seed]
    meta = json.loads(json.dumps(msg.meta))
    keys = sorted(meta) + ["view_ids", "stats", "frame_size", "shm", "source_key", "type", "zz"]
    for key in data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = data.draw(json_values)
    kind = data.draw(st.sampled_from([msg.kind, msg.kind, msg.kind, "control", "scene", "audio"]))
    _parse_only_wire_errors(
        parser, wire_trip(Message(kind, msg.seq, msg.t_capture_ns, dict(msg.arrays), meta))
    )


@PROPS
@given(
    st.text(min_size=1, max_size=64),
    st.integers(1, 2**32),
    st.dictionaries(st.text(max_size=8), st.integers(0, 2**40) | st.floats(0, 1e9), max_size=5),
    st.dictionaries(st.text(max_size=8), st.floats(0, 1e6), max_size=5),
)
def test_heartbeats_round_trip(role, pid, counters, rates):
    stats = {"latency_ms": {}, "counters": counters, "rates_hz": rates}
    hb = m.heartbeat_from_message(wire_trip(m.heartbeat_message(role, pid, stats)))
    assert (hb.role, hb.pid, hb.counters, hb.rates_hz) == (role, pid, counters, rates)
