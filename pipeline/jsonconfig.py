"""Typed configs to JSON and back (the live call hands its configs to role processes this way).

Only values cross: dataclasses are written as objects of their fields, ``Path`` as text,
tuples as lists; reading builds the declared types again from the annotations and refuses
unknown or missing fields with a message naming them. Supported field types: ``bool``,
``int``, ``float``, ``str``, ``Path``, ``Literal[...]``, ``X | None``, ``list[X]``,
``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]``, nested dataclasses, and a few
non-dataclass values with ``to_json_dict``/``from_json_dict`` (a Looking Glass calibration).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

__all__ = ["ConfigJSONError", "from_json", "from_jsonable", "to_json", "to_jsonable"]

T = TypeVar("T")


class ConfigJSONError(ValueError):
    """JSON that does not describe the expected config; the message names the field."""


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_json_dict"):
            return value.to_json_dict()
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> str:
    return json.dumps(to_jsonable(value))


def _convert(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        last: Exception | None = None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, data, where)
            except ConfigJSONError as e:
                last = e
        raise last or ConfigJSONError(f"{where}: no type of {tp} fits {data!r}")
    if origin is Literal:
        if data not in args:
            raise ConfigJSONError(f"{where}: {data!r} is not one of {list(args)}")
        return data
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise ConfigJSONError(f"{where}: expected a list, got {type(data).__name__}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(data):
                raise ConfigJSONError(f"{where}: expected {len(args)} values, got {len(data)}")
            return tuple(
                _convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True))
            )
        item = args[0] if args else Any
        out = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(data, dict):
            raise ConfigJSONError(f"{where}: expected an object, got {type(data).__name__}")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_jsonable(tp, data, where)
    if isinstance(tp, type) and hasattr(tp, "from_json_dict"):
        return tp.from_json_dict(data)
    if tp is Path:
        if not isinstance(data, str):
            raise ConfigJSONError(f"{where}: expected a path, got {type(data).__name__}")
        return Path(data)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ConfigJSONError(f"{where}: expected a number, got {data!r}")
        return float(data)
    if tp in (int, str, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise ConfigJSONError(f"{where}: expected {tp.__name__}, got {data!r}")
        return data
    raise ConfigJSONError(f"{where}: cannot read a field of type {tp}")


def from_jsonable(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass ``cls`` from plain data made by :func:`to_jsonable`."""
    where = where or cls.__name__
    if hasattr(cls, "from_json_dict"):
        return cls.from_json_dict(data)  # type: ignore[attr-defined]
    if not isinstance(data, dict):
        raise ConfigJSONError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigJSONError(f"{where}: unknown field(s) {sorted(unknown)}")
    kwargs = {}
    for name in fields:
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigJSONError(f"{where}: {e}") from e


def from_json(cls: type[T], text: str) -> T:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigJSONError(f"{cls.__name__}: not JSON ({e})") from e
    return from_jsonable(cls, data)
