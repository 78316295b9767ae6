"""Property tests of the wire codec: whatever the frames hold, decode raises only WireError.

Fast (default tier): modest example counts, derandomised so every run checks the same cases.
``tests/robustness/fuzz_wire.py`` explores further at random.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pipeline import wire
from pipeline.wire import Message, WireError, decode, encode

PROPS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

WIRE_DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64", "bool"]

#: Any JSON value, including integers far outside int64 and odd floats.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)

#: A dimension: mostly plausible, sometimes hostile.
dims = st.one_of(
    st.integers(0, 6),
    st.sampled_from([2**24, 2**24 + 1, 2**31, 2**62, 2**63 - 1, -1, -(2**40)]),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.none(),
)

descriptors = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=8), json_values),
        "dtype": st.one_of(st.sampled_from(WIRE_DTYPES + ["object", "float128", "<f4"]), json_values),
        "shape": st.one_of(st.lists(dims, max_size=8), json_values),
    },
)

stamps = st.one_of(
    st.integers(0, 2**63 - 1), st.sampled_from([-1, 2**63, 2**64, 2**80, True, 1.5, "3"]), json_values
)

headers = st.fixed_dictionaries(
    {},
    optional={
        "v": st.one_of(st.just(1), json_values),
        "kind": st.one_of(st.sampled_from(sorted(wire.KINDS)), json_values),
        "seq": stamps,
        "t_capture_ns": stamps,
        "t_sent_ns": stamps,
        "arrays": st.one_of(st.lists(descriptors, max_size=4), json_values),
        "meta": st.one_of(st.dictionaries(st.text(max_size=6), json_values, max_size=4), json_values),
    },
)


def _decodes_or_refuses(frames) -> Message | None:
    try:
        return decode(frames)
    except WireError as e:
        assert e.reason and isinstance(e.reason, str)
        return None


@PROPS
@given(st.binary(max_size=400), st.lists(st.binary(max_size=64), max_size=3))
def test_any_bytes(head, rest):
    _decodes_or_refuses([head, *rest])
    _decodes_or_refuses([wire.MAGIC + head, *rest])


@PROPS
@given(headers, st.lists(st.binary(max_size=96), max_size=4))
def test_any_header_with_any_frames(header, payload):
    _decodes_or_refuses([wire.MAGIC + json.dumps(header).encode(), *payload])


@PROPS
@given(headers, st.data())
def test_headers_with_frames_of_the_declared_size(header, data):
    """Frames sized to match a plausible descriptor reach the payload checks."""
    frames = [wire.MAGIC + json.dumps(header).encode()]
    descs = header.get("arrays") if isinstance(header.get("arrays"), list) else []
    for d in descs:
        shape, dtype = (d.get("shape"), d.get("dtype")) if isinstance(d, dict) else (None, None)
        n = 0
        if isinstance(shape, list) and all(type(s) is int and 0 <= s <= 8 for s in shape):
            n = int(np.prod(shape)) * (np.dtype(dtype).itemsize if dtype in WIRE_DTYPES else 1)
        frames.append(data.draw(st.binary(min_size=n, max_size=n)))
    _decodes_or_refuses(frames)


@PROPS
@given(
    st.sampled_from(sorted(wire.KINDS)),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        hnp.arrays(
            st.sampled_from(WIRE_DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
        ),
        max_size=4,
    ),
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
)
def test_valid_messages_round_trip(kind, seq, t_capture, arrays, meta):
    # Integers beyond int64 anywhere in meta are refused by decode (bad_number); others round-trip.
    frames = [bytes(f) for f in encode(Message(kind, seq, t_capture, arrays, meta), now_ns=5)]
    try:
        out = decode(frames)
    except WireError as e:
        assert e.reason == "bad_number"
        assert "integer" in str(e)
        return
    assert (out.kind, out.seq, out.t_capture_ns, out.t_sent_ns) == (kind, seq, t_capture, 5)
    assert out.meta == meta
    assert sorted(out.arrays) == sorted(arrays)
    for name, a in arrays.items():
        np.testing.assert_array_equal(out.arrays[name], a)
        assert out.arrays[name].dtype == a.dtype


@PROPS
@given(st.data())
def test_one_byte_changed_or_cut(data):
    arrays = {"rgb_u8": np.zeros((2, 3, 4, 3), np.uint8), "k": np.eye(3)}
    frames = [bytes(f) for f in encode(Message("views", 3, 4, arrays, {"view_ids": [0, 1]}))]
    i = data.draw(st.integers(0, len(frames) - 1))
    f = bytearray(frames[i])
    if f and data.draw(st.booleans()):
        f[data.draw(st.integers(0, len(f) - 1))] = data.draw(st.integers(0, 255))
    else:
        f = f[: data.draw(st.integers(0, len(f)))]
    frames[i] = bytes(f)
    _decodes_or_refuses(frames)
