"""Stand-ins for the Looking Glass hardware and service that cannot exist on a test machine.

* :class:`BridgeStandIn`: a real HTTP server on 127.0.0.1 (a thread) answering like Looking Glass
  Bridge's HTTP API: PUT ``enter_orchestration`` / ``available_output_devices`` /
  ``exit_orchestration`` with the documented message shapes (value-wrapped fields, calibration
  and default quilt as JSON strings), and 200 with an empty body for a POST or an unknown
  endpoint, as Bridge does.
* :class:`Gen1DeviceStandIn` / :class:`Gen1BackendStandIn`: a first-generation Looking Glass's
  USB HID device behind the same interface as the hidapi one (:class:`calibration.hid.HidDevice`
  / :class:`calibration.hid.HidBackend`): it answers the paged EEPROM read protocol from an
  EEPROM image holding a real ``visual.json``, and can interleave button reports and split
  answers in two, as real HID stacks do.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from calibration.hid import GEN1_PRODUCT_ID, GEN1_VENDOR_ID, HidDeviceInfo

DATA = Path(__file__).resolve().parents[1] / "data" / "looking_glass"


def wrapped(value: Any, kind: str, name: str = "") -> dict[str, Any]:
    """Bridge's ``{"name", "type", "value"}`` wrapper."""
    return {"name": name, "type": kind, "value": value}


def bridge_display(
    calibration: Mapping[str, Any] | str | None,
    index: int = 0,
    hardware_version: str = "portrait",
    hwid: str = "LKG-P03996",
    state: str = "ok",
    window_xy: tuple[int, int] = (1920, 0),
    default_quilt: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of ``available_output_devices``, shaped as Bridge sends it."""
    cal_text = calibration if isinstance(calibration, str) else json.dumps(calibration) if calibration else ""
    quilt_text = json.dumps(default_quilt) if default_quilt is not None else ""
    return wrapped(
        {
            "calibration": wrapped(cal_text, "WSTRING", "calibration"),
            "defaultQuilt": wrapped(quilt_text, "WSTRING", "defaultQuilt"),
            "hardwareVersion": wrapped(hardware_version, "WSTRING", "hardwareVersion"),
            "hwid": wrapped(hwid, "WSTRING", "hwid"),
            "index": wrapped(index, "UNSIGNED_INT", "index"),
            "state": wrapped(state, "WSTRING", "state"),
            "windowCoords": wrapped({"x": window_xy[0], "y": window_xy[1]}, "INT2", "windowCoords"),
        },
        "VARIANT_MAP",
        str(index),
    )


class BridgeStandIn:
    """Looking Glass Bridge's HTTP API on ``127.0.0.1:<free port>``, in a thread.

    Attributes:
        displays: entries served by ``available_output_devices`` (see :func:`bridge_display`).
        requests: ``(method, path, body)`` of every request received.
        stall_s: when > 0, every answer waits this long first (a hung service).
        status: the ``status`` value of every answer (``Completion`` for a healthy Bridge).
    """

    TOKEN = "orchestration-7f3a"

    def __init__(self, displays: list[dict[str, Any]] | None = None) -> None:
        self.displays = list(displays or [])
        self.requests: list[tuple[str, str, Any]] = []
        self.stall_s = 0.0
        self.status = "Completion"
        self.exited: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> BridgeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering and close the port (a Bridge that was quit)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def _answer(self, endpoint: str, body: Any) -> dict[str, Any] | None:
        status = wrapped(self.status, "WSTRING", "status")
        if endpoint == "enter_orchestration":
            return {
                "name": "enter_orchestration",
                "payload": wrapped(self.TOKEN, "WSTRING", "message"),
                "status": status,
            }
        if endpoint in ("available_output_devices", "exit_orchestration"):
            token = body.get("orchestration") if isinstance(body, dict) else None
            if token != self.TOKEN:
                status = wrapped("UnknownOrchestration", "WSTRING", "status")
            answer: dict[str, Any] = {
                "name": endpoint,
                "orchestration": wrapped(token or "", "WSTRING", "orchestration"),
                "status": status,
            }
            if endpoint == "exit_orchestration":
                self.exited.append(str(token))
            else:
                devices = {str(d["value"]["index"]["value"]): d for d in self.displays}
                answer["payload"] = wrapped(devices, "VARIANT_MAP", "devices")
            return answer
        return None  # unknown endpoint: Bridge answers 200 with nothing

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    return json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    return raw

            def _send(self, answer: dict[str, Any] | None) -> None:
                if outer.stall_s:
                    time.sleep(outer.stall_s)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the hung-service test)

            def do_PUT(self) -> None:
                body = self._body()
                outer.requests.append(("PUT", self.path, body))
                self._send(outer._answer(self.path.strip("/"), body))

            def do_POST(self) -> None:  # Bridge ignores POSTs: 200, empty body
                outer.requests.append(("POST", self.path, self._body()))
                self._send(None)

            def do_GET(self) -> None:
                outer.requests.append(("GET", self.path, None))
                self._send(None)

        return Handler


def eeprom_image(json_bytes: bytes) -> bytes:
    """What a Gen1 EEPROM holds: a big-endian uint32 length, then the JSON."""
    return struct.pack(">I", len(json_bytes)) + json_bytes


class Gen1DeviceStandIn:
    """A Gen1 Looking Glass's HID device answering EEPROM page reads (same interface as hidapi's).

    Attributes:
        eeprom: the EEPROM contents (pages past the end read as 0xff, like erased memory).
        buttons: the button bits sent in every report.
        button_reports_before_answer: unsolicited button reports queued before each answer.
        split_answers: deliver each 68-byte answer in two reads.
        silent: never answer.
        requests: every feature report received.
    """

    def __init__(
        self,
        eeprom: bytes,
        buttons: int = 0b0000,
        button_reports_before_answer: int = 0,
        split_answers: bool = False,
        silent: bool = False,
    ) -> None:
        self.eeprom = eeprom
        self.buttons = buttons
        self.button_reports_before_answer = button_reports_before_answer
        self.split_answers = split_answers
        self.silent = silent
        self.requests: list[bytes] = []
        self.closed = False
        self._queue: deque[bytes] = deque()

    def send_feature_report(self, data: bytes) -> int:
        data = bytes(data)
        self.requests.append(data)
        if len(data) != 68 or data[0] != 0 or data[1] != 0:
            return -1  # not a read request: the real device stalls the transfer
        page = (data[2] << 8) | data[3]
        chunk = self.eeprom[page * 64 : page * 64 + 64]
        chunk += b"\xff" * (64 - len(chunk))
        for _ in range(self.button_reports_before_answer):
            self._queue.append(bytes([self.buttons | 0b1000, 0x5A, 0xA5, 0x00]) + bytes(64))
        if not self.silent:
            answer = bytes([self.buttons, 0, data[2], data[3]]) + chunk
            if self.split_answers:
                self._queue.extend([answer[:64], answer[64:]])
            else:
                self._queue.append(answer)
        return len(data)

    def read(self, max_length: int, timeout_ms: int) -> bytes:
        if not self._queue:
            time.sleep(timeout_ms / 1000.0)  # a real read blocks until the timeout
            return b""
        report = self._queue.popleft()
        return report[:max_length]

    def close(self) -> None:
        self.closed = True


class Gen1BackendStandIn:
    """A HID bus with the given devices (same interface as :class:`calibration.hid.HidapiBackend`)."""

    def __init__(self, devices: dict[HidDeviceInfo, Gen1DeviceStandIn], deny_open: bool = False) -> None:
        self.devices = devices
        self.deny_open = deny_open
        self.opened: list[HidDeviceInfo] = []

    def enumerate(self, vendor_id: int, product_id: int) -> list[HidDeviceInfo]:
        return [d for d in self.devices if (d.vendor_id, d.product_id) == (vendor_id, product_id)]

    def open(self, info: HidDeviceInfo) -> Gen1DeviceStandIn:
        if self.deny_open:
            raise PermissionError(13, "Permission denied", info.path.decode())
        self.opened.append(info)
        return self.devices[info]


def gen1_info(
    serial: str = "00A1", product: str = "HoloPlay", path: bytes = b"/dev/hidraw3"
) -> HidDeviceInfo:
    return HidDeviceInfo(path, GEN1_VENDOR_ID, GEN1_PRODUCT_ID, product, serial)


def gen1_bus(json_path: Path = DATA / "portrait_visual.json", **device_options: Any) -> Gen1BackendStandIn:
    """One Gen1 device whose EEPROM holds ``json_path``."""
    dev = Gen1DeviceStandIn(eeprom_image(json_path.read_bytes()), **device_options)
    return Gen1BackendStandIn({gen1_info(): dev})
