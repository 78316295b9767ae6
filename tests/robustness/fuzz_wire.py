"""Fuzz the wire codec and the message parsers; report what escapes, by exception type.

Not a test (pytest does not collect it): a tool to run by hand or in CI.

    python tests/robustness/fuzz_wire.py --messages 20000 [--seed 0] [--show 3]

Every message starts from a valid message of one kind (driver frame, mesh and neural scene,
mesh source, views, heartbeat, renderer credit, call-link control, audio) and gets one random
mutation: a header field replaced by hostile JSON (deep nesting, 5000-digit or 2^70 integers,
NaN, wrong types), a key removed, header bytes flipped or cut, frames dropped, cut or added, or
a consistent message whose arrays or meta have other shapes, types or values. The result goes
through :func:`pipeline.wire.decode` and then through the parser of its kind.

Anything other than :class:`pipeline.wire.WireError` is an *escape*. The exit status is 0
when nothing escaped, 1 otherwise. Parsers this build does not have are skipped (and listed).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import messages, wire
from pipeline.avatar import FaceObservation, RenderedViews
from pipeline.cameras import canonical_camera, view_sweep
from pipeline.wire import Message, WireError, decode, encode

HOSTILE_JSON = [
    "[" * 30000 + "]" * 30000,
    "{" + '"a":{' * 9000 + "}" * 9001,
    "9" * 5000,
    "-" + "9" * 4400,
    str(2**70),
    str(2**62),
    str(2**80),
    str(-(2**63) - 1),
    "-1",
    "0",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "1.5",
    "true",
    "false",
    "null",
    '"x"',
    '""',
    "[]",
    "{}",
    "[1,2]",
    '["a","b"]',
    '{"a":[1,2]}',
    "[[1,2],[3,4]]",
    '"' + "z" * 2000 + '"',
    "[" + ",".join(["1"] * 2000) + "]",
]

SHAPE_VALUES = [2**62, 2**70, 2**31, -1, 0, 1, 3, True, 1.0, "4", None, [2], 10**19]


# -- valid seeds ---------------------------------------------------------------------------
def _camera():
    return view_sweep(canonical_camera(), views=[7])[0]


def _face(rng: np.random.Generator, size: int = 512) -> FaceObservation:
    return FaceObservation(
        crop_rgb_u8=rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        matte=rng.random((size, size)).astype(np.float32),
        camera=_camera(),
        landmarks_px=(rng.random((478, 3)) * size).astype(np.float32),
        crop_from_frame=np.array([[0.5, 0, 10], [0, 0.5, 20], [0, 0, 1.0]]),
        frame_size=(640, 480),
        timestamp_ns=123456789,
        seq=42,
        tracked=True,
    )


def _mesh_scene_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        **messages.camera_to_arrays(_camera()),
        "face_world": rng.normal(size=(468, 3)).astype(np.float32),
        "mouth_interior": np.array([0.25], np.float32),
        "source_key": np.frombuffer(b"0123456789abcdef0123456789abcdef01234567", np.uint8).copy(),
        "seq": np.array([9], np.int64),
        "timestamp_ns": np.array([1000], np.int64),
        "expression_held": np.array([False]),
    }


def _mesh_source_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    tri = rng.integers(0, 50, (80, 3)).astype(np.int32)
    return {
        **messages.camera_to_arrays(_camera()),
        "crop_rgb_u8": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        "atlas_rgb_u8": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
        "crop_matte_u8": rng.integers(0, 255, (64, 64), dtype=np.uint8),
        "face_world": rng.normal(size=(468, 3)),
        "face_frontal_cm": rng.normal(size=(468, 3)),
        "frontal_to_world": np.diag([2.0, 2.0, 2.0, 1.0]),
        "shell_vertices_world": rng.normal(size=(50, 3)).astype(np.float32),
        "shell_texcoords": rng.random((50, 2)).astype(np.float32),
        "shell_triangles": tri,
        "mouth_open_ratio": np.array([0.1]),
    }


def _neural_scene_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        **messages.camera_to_arrays(_camera()),
        "planes": np.zeros((1, 3, 32, 256, 256), np.float32),
        "seq": np.array([9], np.int64),
        "timestamp_ns": np.array([1000], np.int64),
    }


def _seeds(rng: np.random.Generator) -> list[tuple[str, Message, float]]:
    """``(parser name, valid message, weight)``."""
    stats = {
        "latency_ms": {"track": {"p50": 1.0, "p90": 2.0, "p99": 3.0, "n": 4}},
        "counters": {"frames_sent": 3},
        "rates_hz": {"frames_sent": 25.0},
        "window_closed": False,
    }
    views = RenderedViews(rng.integers(0, 255, (6, 16, 12, 3), dtype=np.uint8), [0, 1, 2, 3, 4, 5])
    return [
        ("driver_frame", messages.driver_frame_to_message(_face(rng)), 1.0),
        ("views", messages.views_to_message(5, 77, views, worker="renderer-1"), 1.0),
        (
            "mesh_scene",
            messages.state_message("scene", 9, 1000, _mesh_scene_arrays(rng), source_key="k"),
            1.0,
        ),
        ("neural_scene", messages.state_message("scene", 9, 1000, _neural_scene_arrays(rng)), 0.1),
        (
            "mesh_source",
            messages.state_message("source", 0, 0, _mesh_source_arrays(rng), source_key="k"),
            1.0,
        ),
        ("heartbeat", messages.heartbeat_message("capture", 1234, stats, 3), 1.0),
        ("ready", Message("control", meta={"ready": "renderer-0"}), 1.0),
        ("link", Message("control", meta={"type": "ping", "id": 4}), 0.3),
        ("link", Message("control", meta={"type": "pong", "id": 4, "t0": 10, "t1": 20}), 0.3),
        ("link", Message("control", 12, meta={"type": "ack"}), 0.2),
        ("link", Message("control", meta={"type": "bye"}), 0.1),
        ("link", Message("control", meta={"type": "who"}), 0.1),
        (
            "link",
            Message(
                "control",
                meta={"type": "hello", "name": "ada", "session": "s1", "sends": True, "receives": True},
            ),
            0.3,
        ),
        (
            "audio",
            Message(
                "audio",
                3,
                500,
                {"pcm": rng.integers(0, 255, 320, dtype=np.uint8)},
                {"codec": "mulaw", "rate": 16000},
            ),
            1.0,
        ),
    ]


# -- the parsers under test ----------------------------------------------------------------
def _parsers() -> tuple[dict[str, Callable[[Message], object]], list[str]]:
    """Parser per seed name; the names of those this build lacks."""
    from pipeline.mesh.state import MeshScene, MeshSource
    from pipeline.voodoo.backend import NeuralScene

    table: dict[str, Callable[[Message], object]] = {
        "driver_frame": messages.driver_frame_from_message,
        "views": messages.views_from_message,
        "mesh_scene": lambda m: MeshScene.from_arrays(m.arrays),
        "neural_scene": lambda m: NeuralScene.from_arrays(m.arrays),
        "mesh_source": lambda m: MeshSource.from_arrays(m.arrays),
    }
    missing = []
    for seed, name in (
        ("heartbeat", "heartbeat_from_message"),
        ("ready", "ready_from_message"),
        ("link", "link_control_from_message"),
        ("audio", "audio_from_message"),
    ):
        fn = getattr(messages, name, None)
        if fn is None:
            missing.append(f"{seed} ({name})")
        else:
            table[seed] = fn
    # Where this build has it, the envelope of source/scene messages is checked first.
    envelope = getattr(messages, "state_from_message", None)
    if envelope is None:
        missing.append("source/scene envelope (state_from_message)")
    else:
        table["mesh_scene"] = lambda m: MeshScene.from_arrays(envelope(m, "scene").arrays)
        table["neural_scene"] = lambda m: NeuralScene.from_arrays(envelope(m, "scene").arrays)
        table["mesh_source"] = lambda m: MeshSource.from_arrays(envelope(m, "source").arrays)
    return table, missing


# -- mutations -----------------------------------------------------------------------------
def _header(frames: list[bytes]) -> dict:
    return json.loads(frames[0][len(wire.MAGIC) :])


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:8]):
            yield from _paths(v, (*prefix, i))


def _set(obj, path, value):
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


def _with_raw(header: dict, path: tuple, raw: str) -> bytes:
    """The header with the value at ``path`` replaced by raw JSON text."""
    marker = "@@HOSTILE@@"
    if path:
        _set(header, path, marker)
        text = json.dumps(header, separators=(",", ":")).replace(json.dumps(marker), raw)
    else:
        text = raw
    return wire.MAGIC + text.encode()


def mutate(rng: random.Random, msg: Message) -> list[bytes]:
    frames = [bytes(f) for f in encode(msg)]
    header = _header(frames)
    choice = rng.randrange(12)
    if choice in (0, 1, 2):  # one field of the header -> hostile JSON
        path = rng.choice(list(_paths(header)))
        return [_with_raw(header, path, rng.choice(HOSTILE_JSON)), *frames[1:]]
    if choice == 3 and header["arrays"]:  # one dimension or the dtype of an array
        d = rng.choice(header["arrays"])
        if rng.random() < 0.7 and d["shape"]:
            d["shape"][rng.randrange(len(d["shape"]))] = rng.choice(SHAPE_VALUES)
        elif rng.random() < 0.5:
            d["shape"] = rng.choice([[2**62, 4], [2**70], [2**32, 2**32], [1] * 9, "12", {"a": 1}, [[4]]])
        else:
            d["dtype"] = rng.choice([["uint8"], {"x": 1}, 5, None, "object", "float128", "<f4"])
        return [wire.MAGIC + json.dumps(header).encode(), *frames[1:]]
    if choice == 4:  # remove a key somewhere
        paths = [p for p in _paths(header) if p and isinstance(p[-1], str)]
        if paths:
            path = rng.choice(paths)
            parent = header
            for p in path[:-1]:
                parent = parent[p]
            del parent[path[-1]]
        return [wire.MAGIC + json.dumps(header).encode(), *frames[1:]]
    if choice == 5:  # header bytes flipped, cut or grown
        h = bytearray(frames[0])
        for _ in range(rng.randint(1, 8)):
            if h:
                h[rng.randrange(len(h))] = rng.randrange(256)
        if rng.random() < 0.3:
            h = h[: rng.randrange(len(h) + 1)]
        return [bytes(h), *frames[1:]]
    if choice == 6:  # frames dropped, cut, duplicated or added
        out = list(frames)
        op = rng.randrange(4)
        if op == 0 and len(out) > 1:
            del out[rng.randrange(1, len(out))]
        elif op == 1 and len(out) > 1:
            i = rng.randrange(1, len(out))
            out[i] = out[i][: rng.randrange(len(out[i]) + 1)]
        elif op == 2:
            out.append(bytes(rng.randrange(64)))
        else:
            out = out[:1] if rng.random() < 0.5 else []
        return out
    if choice in (7, 8):  # a consistent message whose arrays have other shapes/dtypes/values
        arrays = dict(msg.arrays)
        if arrays:
            name = rng.choice(sorted(arrays))
            arrays[name] = _odd_array(rng, arrays[name])
        if rng.random() < 0.2:
            arrays[f"extra{rng.randrange(3)}"] = _odd_array(rng, np.zeros(3))
        return [
            bytes(f) for f in encode(Message(msg.kind, msg.seq, msg.t_capture_ns, arrays, dict(msg.meta)))
        ]
    if choice in (9, 10):  # a consistent message whose meta has other values
        meta = json.loads(json.dumps(msg.meta))
        paths = [p for p in _paths(meta) if p]
        value = rng.choice(
            [None, True, -1, 0, 2**62, 1.5, "x", [], {}, [1, 2], {"a": 1}, "9" * 50, [[0]], -(2**63)]
        )
        if paths and rng.random() < 0.8:
            _set(meta, rng.choice(paths), value)
        else:
            meta[
                rng.choice(["stats", "view_ids", "frame_size", "ready", "type", "codec", "rate", "shm", "zz"])
            ] = value
        kind = msg.kind if rng.random() < 0.9 else rng.choice(sorted(wire.KINDS))
        return [bytes(f) for f in encode(Message(kind, msg.seq, msg.t_capture_ns, dict(msg.arrays), meta))]
    # seq / t_capture_ns at the edges of int64 and beyond
    header[rng.choice(["seq", "t_capture_ns", "t_sent_ns"])] = rng.choice(
        [2**80, 2**63, 2**63 - 1, -1, -(2**63), True, 1.5, "7", None, [1]]
    )
    return [wire.MAGIC + json.dumps(header).encode(), *frames[1:]]


def _odd_array(rng: random.Random, like: np.ndarray) -> np.ndarray:
    nprng = np.random.default_rng(rng.randrange(2**32))
    op = rng.randrange(6)
    if op == 0:  # same shape, poisoned values
        a = np.array(like, dtype=np.float64 if like.dtype.kind == "f" else like.dtype)
        if a.size and a.dtype.kind == "f":
            a.reshape(-1)[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e300])
        elif a.size:
            a.reshape(-1)[rng.randrange(a.size)] = np.iinfo(a.dtype).max if a.dtype.kind in "iu" else True
        return a
    if op == 1:  # other dtype
        return np.asarray(like).astype(rng.choice(["float16", "int64", "bool", "uint8", "int8"]))
    if op == 2:  # empty
        return np.zeros((0,) * rng.randint(1, 3), np.float32)
    if op == 3:  # scalar-ish
        return np.array(rng.choice([0, 1, -1, 2**40]), np.int64).reshape(())
    if op == 4:  # other shape, same dtype
        shape = tuple(rng.randint(0, 6) for _ in range(rng.randint(1, 4)))
        return (nprng.random(shape) * 255).astype(like.dtype)
    return nprng.normal(size=(rng.randint(1, 600), rng.randint(1, 5))).astype(np.float32)


# -- run -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000, help="how many mutated messages (default 20000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--show", type=int, default=2, help="examples to print per escape type (default 2)")
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    seeds = _seeds(np.random.default_rng(args.seed))
    parsers, missing = _parsers()
    weights = [w for _, _, w in seeds]
    escapes: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    outcome: Counter[str] = Counter()
    t0 = time.perf_counter()
    for _ in range(args.messages):
        name, msg, _w = rng.choices(seeds, weights)[0]
        frames = mutate(rng, msg)
        stage = "decode"
        try:
            decoded = decode(frames)
            stage = f"parse:{name}"
            parser = parsers.get(name)
            if parser is None:
                outcome["decoded, no parser"] += 1
                continue
            parser(decoded)
            outcome["accepted"] += 1
        except WireError:
            outcome[f"WireError at {stage.split(':')[0]}"] += 1
        except Exception as e:  # counting every escape is the point
            key = (stage, type(e).__name__)
            escapes[key] += 1
            if len(examples[key]) < args.show:
                tb = traceback.extract_tb(e.__traceback__)[-1]
                examples[key].append(f"{str(e)[:120]!r} at {Path(tb.filename).name}:{tb.lineno}")
    dt = time.perf_counter() - t0

    print(f"{args.messages} mutated messages (seed {args.seed}) in {dt:.1f} s")
    for k, n in sorted(outcome.items()):
        print(f"  {k:28s} {n:6d}")
    if missing:
        print("parsers not in this build (their messages were decoded only): " + ", ".join(missing))
    total = sum(escapes.values())
    print(f"escapes: {total}")
    by_type: Counter[str] = Counter()
    for (_stage, etype), n in escapes.items():
        by_type[etype] += n
    for etype, n in by_type.most_common():
        print(f"  {etype:20s} {n:6d}")
    for (stage, etype), n in sorted(escapes.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:22s} {etype:20s} {n:6d}")
        for ex in examples[(stage, etype)]:
            print(f"      e.g. {ex}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
