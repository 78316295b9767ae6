"""Ask Looking Glass Bridge, over its local HTTP API, which displays are connected.

Bridge is the service that knows every current Looking Glass (Gen2, Gen3, Portrait, Go): each
display's calibration, default quilt and where it sits on the desktop. Its HTTP API listens on
``http://localhost:33334/`` and takes **PUT** requests with a JSON body (display spec section 2.3):

1. ``enter_orchestration`` with ``{}`` answers ``{"payload": {"value": TOKEN}, "status": ...}``;
2. ``available_output_devices`` with ``{"orchestration": TOKEN}`` answers a ``payload`` whose
   ``value`` maps each display to value-wrapped fields: ``calibration`` and ``defaultQuilt``
   (each a JSON *string*), ``hwid``, ``hardwareVersion``, ``index``, ``state`` and
   ``windowCoords`` (``{"x", "y"}``: the panel's top-left on the desktop);
3. ``exit_orchestration`` with the token, to leave nothing behind.

Every answer carries ``status.value``; anything but ``Completion`` is a failure. Bridge answers
a POST, or an endpoint it does not know, with 200 and an empty body: that is a failure too.

A missing Bridge must cost little: the connection is given :data:`CONNECT_TIMEOUT_S` (a refused
connection returns at once); only a server that accepted it gets :data:`READ_TIMEOUT_S` to answer.
``VOODOO_HOLO_BRIDGE_URL`` overrides the address (``off`` skips Bridge).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from calibration.devices import DefaultQuilt, parse_default_quilt
from calibration.visual import Calibration, CalibrationError, parse_visual

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_BRIDGE_URL",
    "ENV_BRIDGE_URL",
    "READ_TIMEOUT_S",
    "BridgeClient",
    "BridgeDisplay",
    "BridgeError",
    "BridgeNotRunningError",
    "bridge_url_from_environment",
    "parse_output_devices",
]

DEFAULT_BRIDGE_URL = "http://localhost:33334/"
#: Environment variable naming Bridge's address; ``off`` (or empty) skips Bridge.
ENV_BRIDGE_URL = "VOODOO_HOLO_BRIDGE_URL"
#: Seconds to open the connection (a Bridge that is not running refuses it at once).
CONNECT_TIMEOUT_S = 0.2
#: Seconds an accepted request may take to answer.
READ_TIMEOUT_S = 1.5
#: Largest answer read (a few displays with Gen3 calibrations are a few kB).
MAX_ANSWER_BYTES = 4 << 20


class BridgeError(RuntimeError):
    """Bridge did not give a usable answer; the message says what happened, in one line."""


class BridgeNotRunningError(BridgeError):
    """Nothing answered at Bridge's address."""


def bridge_url_from_environment() -> str | None:
    """``$VOODOO_HOLO_BRIDGE_URL``, else the default address; None when set to ``off`` or empty."""
    value = os.environ.get(ENV_BRIDGE_URL)
    if value is None:
        return DEFAULT_BRIDGE_URL
    value = value.strip()
    return None if value.lower() in ("", "off", "none", "0") else value


@dataclass(frozen=True)
class BridgeDisplay:
    """One display as Bridge reports it.

    Attributes:
        index: Bridge's head index.
        hwid: hardware id (a display name such as ``LKG-P03996``; not always the serial).
        hardware_version: model string, e.g. ``portrait``, ``16_gen3_l``.
        state: ``ok`` when usable (Bridge also reports e.g. ``nocalibration``).
        window_xy: the panel's top-left in desktop coordinates, None when not reported.
        calibration: the parsed ``visual.json``; None when missing or invalid.
        calibration_problem: why ``calibration`` is None ("" when it is not).
        default_quilt: the display's default quilt; None when missing or invalid.
    """

    index: int
    hwid: str
    hardware_version: str
    state: str
    window_xy: tuple[int, int] | None
    calibration: Calibration | None
    calibration_problem: str = ""
    default_quilt: DefaultQuilt | None = None

    @property
    def serial(self) -> str:
        return self.calibration.serial if self.calibration is not None else ""


def _unwrap(field: Any) -> Any:
    """Bridge wraps every value as ``{"name", "type", "value"}``; plain values pass through."""
    if isinstance(field, Mapping) and "value" in field:
        return field["value"]
    return field


def _text(field: Any) -> str:
    v = _unwrap(field)
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _whole(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
        return None
    return int(v)


def _window_xy(field: Any) -> tuple[int, int] | None:
    v = _unwrap(field)
    if not isinstance(v, Mapping):
        return None
    x, y = _whole(v.get("x")), _whole(v.get("y"))
    return None if x is None or y is None else (x, y)


def _display(key: str, item: Any) -> BridgeDisplay:
    fields = _unwrap(item)
    if not isinstance(fields, Mapping):
        raise BridgeError(f"display {key!r} is not an object")
    index_raw = _unwrap(fields.get("index"))
    try:
        index = int(index_raw if index_raw is not None else key)
    except (TypeError, ValueError):
        index = -1
    hardware_version = _text(fields.get("hardwareVersion"))
    source = f"Looking Glass Bridge, display {index} ({hardware_version or 'unknown model'})"
    calibration, problem = None, ""
    raw_cal = _unwrap(fields.get("calibration"))
    if raw_cal in (None, "", {}):
        problem = "Bridge reports no calibration for it"
    else:
        try:
            if isinstance(raw_cal, (str, bytes)):
                raw_cal = json.loads(raw_cal)
            calibration = parse_visual(raw_cal, source=source)
        except json.JSONDecodeError as e:
            problem = f"its calibration is not valid JSON ({e.msg})"
        except CalibrationError as e:
            problem = str(e)
    quilt = None
    raw_quilt = _unwrap(fields.get("defaultQuilt"))
    if raw_quilt not in (None, "", {}):
        try:
            quilt = parse_default_quilt(raw_quilt)
        except ValueError:
            quilt = None  # the calibration is still usable; the caller falls back to its own table
    return BridgeDisplay(
        index=index,
        hwid=_text(fields.get("hwid")),
        hardware_version=hardware_version,
        state=_text(fields.get("state")),
        window_xy=_window_xy(fields.get("windowCoords")),
        calibration=calibration,
        calibration_problem=problem,
        default_quilt=quilt,
    )


def _check_status(answer: Mapping[str, Any], endpoint: str) -> None:
    status = _text(answer.get("status"))
    if status != "Completion":
        raise BridgeError(f"Bridge's {endpoint} answered status {status or 'none'!r}, not 'Completion'")


def parse_output_devices(answer: Any) -> list[BridgeDisplay]:
    """The displays in a decoded ``available_output_devices`` answer, by index.

    Raises :class:`BridgeError` when the answer is not of that shape.
    """
    if not isinstance(answer, Mapping):
        raise BridgeError("Bridge's available_output_devices answer is not a JSON object")
    _check_status(answer, "available_output_devices")
    payload = answer.get("payload")
    if payload is None:
        return []
    devices = _unwrap(payload)
    if devices in (None, ""):
        return []
    if not isinstance(devices, Mapping):
        raise BridgeError("Bridge's available_output_devices payload is not a map of displays")
    return sorted((_display(str(k), v) for k, v in devices.items()), key=lambda d: d.index)


class BridgeClient:
    """A Looking Glass Bridge HTTP client that only reads (displays and their calibration)."""

    def __init__(
        self,
        url: str = DEFAULT_BRIDGE_URL,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"Bridge's address must look like http://HOST:PORT/, got {url!r}")
        self.url = url if url.endswith("/") else url + "/"
        self._host = parts.hostname
        self._port = parts.port or 80
        self._base_path = parts.path.rstrip("/") + "/"
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s

    def put(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT ``body`` as JSON to ``endpoint``; the decoded JSON answer (raises :class:`BridgeError`)."""
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout_s)
        try:
            try:
                conn.connect()
            except OSError as e:
                raise BridgeNotRunningError(
                    f"Looking Glass Bridge is not running at {self.url} ({_reason(e)})"
                ) from e
            assert conn.sock is not None
            conn.sock.settimeout(self.read_timeout_s)
            data = json.dumps(dict(body)).encode()
            try:
                conn.request(
                    "PUT", self._base_path + endpoint, body=data, headers={"Content-Type": "application/json"}
                )
                resp = conn.getresponse()
                raw = resp.read(MAX_ANSWER_BYTES + 1)
            except (OSError, http.client.HTTPException) as e:
                raise BridgeError(
                    f"Looking Glass Bridge at {self.url} did not answer {endpoint} ({_reason(e)})"
                ) from e
        finally:
            conn.close()
        if resp.status != 200:
            raise BridgeError(
                f"Looking Glass Bridge answered {endpoint} with HTTP {resp.status} {resp.reason}"
            )
        if len(raw) > MAX_ANSWER_BYTES:
            raise BridgeError(f"Looking Glass Bridge's answer to {endpoint} is over {MAX_ANSWER_BYTES} bytes")
        if not raw.strip():
            raise BridgeError(
                f"Looking Glass Bridge answered {endpoint} with an empty body (it does so for requests it "
                "does not understand; is this Bridge too old for its HTTP API?)"
            )
        try:
            answer = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BridgeError(f"Looking Glass Bridge's answer to {endpoint} is not JSON ({e})") from None
        if not isinstance(answer, dict):
            raise BridgeError(f"Looking Glass Bridge's answer to {endpoint} is not a JSON object")
        return answer

    def enter_orchestration(self) -> str:
        answer = self.put("enter_orchestration", {})
        _check_status(answer, "enter_orchestration")
        token = _unwrap(answer.get("payload"))
        if not isinstance(token, str) or not token:
            raise BridgeError("Bridge's enter_orchestration answer carries no orchestration token")
        return token

    def exit_orchestration(self, token: str) -> None:
        self.put("exit_orchestration", {"orchestration": token})

    def displays(self) -> list[BridgeDisplay]:
        """Every display Bridge knows, by index (raises :class:`BridgeError`)."""
        token = self.enter_orchestration()
        try:
            return parse_output_devices(self.put("available_output_devices", {"orchestration": token}))
        finally:
            try:
                self.exit_orchestration(token)
            except BridgeError:
                pass  # leaving is a courtesy; the displays were read (or the real error is raised)


def _reason(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "no answer in time"
    return str(e) or type(e).__name__
