"""Read the calibration of a first-generation Looking Glass from its USB HID EEPROM.

Gen1 units (8.9", 15.6", 8K) keep their ``visual.json`` in an EEPROM behind a USB HID device
(Microchip VID ``0x04d8``, PID ``0xef7e``, product "HoloPlay"; display spec section 2.3):

* to read 64-byte page ``n``, send the feature report ``[0 (report id), 0 (command: read),
  n >> 8, n & 0xff, 64 zero bytes]``;
* the device answers with an input report ``[buttons, 0, n >> 8, n & 0xff, 64 data bytes]``
  (the same device also sends button reports, which are skipped);
* the pages hold a big-endian ``uint32`` length followed by that many bytes of JSON.

The device sits behind :class:`HidBackend` / :class:`HidDevice`, which the ``hidapi`` package
implements (:class:`HidapiBackend`, installed with ``pip install 'voodoo-holo[hid]'``). On Linux
the hidraw node is root-only until a udev rule grants access: see :data:`UDEV_RULE`.
"""

from __future__ import annotations

import json
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from calibration.visual import Calibration, CalibrationError, parse_visual

__all__ = [
    "GEN1_PRODUCT_ID",
    "GEN1_VENDOR_ID",
    "PAGE_BYTES",
    "UDEV_RULE",
    "Gen1HidError",
    "HidBackend",
    "HidDevice",
    "HidDeviceInfo",
    "HidUnavailableError",
    "HidapiBackend",
    "find_gen1_devices",
    "install_hint",
    "load_hidapi",
    "read_eeprom_json",
    "read_gen1_calibration",
    "udev_hint",
]

GEN1_VENDOR_ID = 0x04D8
GEN1_PRODUCT_ID = 0xEF7E
GEN1_PRODUCT = "HoloPlay"
PAGE_BYTES = 64
#: Request and answer length on the wire (header + one page).
REPORT_BYTES = 4 + PAGE_BYTES
#: A calibration is well under a kilobyte; anything longer is a blank or foreign EEPROM.
MAX_JSON_BYTES = 64 * 1024
#: How long one page may take to come back (the device answers in milliseconds).
PAGE_TIMEOUT_MS = 1000
#: The udev rule shipped with the app (gives the ``plugdev`` group access to the device).
UDEV_RULE = Path(__file__).resolve().parents[1] / "assets" / "calibration" / "70-looking-glass-gen1.rules"


class HidUnavailableError(RuntimeError):
    """No HID library: Gen1 discovery is skipped; the message says what to install."""


class Gen1HidError(RuntimeError):
    """A Gen1 device was found but its calibration could not be read; the message says why."""


@dataclass(frozen=True)
class HidDeviceInfo:
    """A HID device seen by :meth:`HidBackend.enumerate`."""

    path: bytes
    vendor_id: int
    product_id: int
    product: str = ""
    serial: str = ""


class HidDevice(Protocol):
    """An open HID device (the subset of hidapi used here)."""

    def send_feature_report(self, data: bytes) -> int:
        """Send a feature report; ``data[0]`` is the report id. Returns the bytes written."""
        ...

    def read(self, max_length: int, timeout_ms: int) -> bytes:
        """One input report (at most ``max_length`` bytes), or ``b""`` after ``timeout_ms``."""
        ...

    def close(self) -> None: ...


class HidBackend(Protocol):
    """Finds and opens HID devices."""

    def enumerate(self, vendor_id: int, product_id: int) -> list[HidDeviceInfo]: ...

    def open(self, info: HidDeviceInfo) -> HidDevice:
        """Open a device; raises OSError when it cannot be opened (e.g. no permission)."""
        ...


def udev_hint() -> str:
    """How a Linux user gives their account access to the Gen1 HID device."""
    return f"allow access with the udev rule: sudo cp {UDEV_RULE} /etc/udev/rules.d/ && sudo udevadm trigger"


def install_hint(platform: str | None = None) -> str:
    """What a user does to enable Gen1 discovery."""
    platform = sys.platform if platform is None else platform
    hint = "pip install 'voodoo-holo[hid]'"
    if platform.startswith("linux"):
        hint += ", then " + udev_hint()
    return hint


class _HidapiDevice:
    """:class:`HidDevice` over a ``hid.device`` from the hidapi package."""

    def __init__(self, dev: Any) -> None:
        self._dev = dev

    def send_feature_report(self, data: bytes) -> int:
        return int(self._dev.send_feature_report(bytes(data)))

    def read(self, max_length: int, timeout_ms: int) -> bytes:
        return bytes(self._dev.read(max_length, timeout_ms))

    def close(self) -> None:
        self._dev.close()


class HidapiBackend:
    """:class:`HidBackend` over the ``hidapi`` package (module ``hid``)."""

    def __init__(self, module: Any) -> None:
        self._hid = module

    def enumerate(self, vendor_id: int, product_id: int) -> list[HidDeviceInfo]:
        out = []
        for d in self._hid.enumerate(vendor_id, product_id):
            out.append(
                HidDeviceInfo(
                    path=bytes(d.get("path") or b""),
                    vendor_id=int(d.get("vendor_id", vendor_id)),
                    product_id=int(d.get("product_id", product_id)),
                    product=str(d.get("product_string") or ""),
                    serial=str(d.get("serial_number") or ""),
                )
            )
        return out

    def open(self, info: HidDeviceInfo) -> HidDevice:
        dev = self._hid.device()
        dev.open_path(info.path)
        return _HidapiDevice(dev)


def load_hidapi() -> HidapiBackend:
    """The hidapi backend; raises :class:`HidUnavailableError` with what to install."""
    try:
        import hid  # the optional 'hidapi' package; imported here so the app runs without it
    except ImportError as e:
        raise HidUnavailableError(f"the hidapi package is not installed ({install_hint()})") from e
    if not hasattr(hid, "device") or not hasattr(hid, "enumerate"):
        raise HidUnavailableError(
            f"the 'hid' module found is not the hidapi package's ({install_hint()}; uninstall other 'hid' packages)"
        )
    return HidapiBackend(hid)


def find_gen1_devices(backend: HidBackend) -> list[HidDeviceInfo]:
    """The Gen1 Looking Glass HID devices (VID/PID, and a "HoloPlay" product name when one is given)."""
    found = backend.enumerate(GEN1_VENDOR_ID, GEN1_PRODUCT_ID)
    return [
        d
        for d in found
        if (d.vendor_id, d.product_id) == (GEN1_VENDOR_ID, GEN1_PRODUCT_ID)
        and (not d.product or d.product.strip().lower() == GEN1_PRODUCT.lower())
    ]


def _read_page(device: HidDevice, page: int, timeout_ms: int) -> bytes:
    """The 64 data bytes of EEPROM page ``page``."""
    header = struct.pack(">BBH", 0, 0, page)  # report id 0, command 0 (read), page address
    request = header + bytes(PAGE_BYTES)
    if device.send_feature_report(request) < 0:
        raise Gen1HidError(f"the device refused the request for EEPROM page {page}")
    want = header[1:]  # command and address, echoed after the buttons byte
    deadline = time.monotonic() + timeout_ms / 1000.0
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise Gen1HidError(f"no answer for EEPROM page {page} within {timeout_ms} ms")
        report = device.read(REPORT_BYTES, left_ms)
        if len(report) < 4 or report[1:4] != want:
            continue  # a button report, or an answer to an earlier request
        while len(report) < REPORT_BYTES:  # some HID stacks split a 68-byte report in two
            left_ms = int((deadline - time.monotonic()) * 1000)
            more = device.read(REPORT_BYTES - len(report), max(left_ms, 1)) if left_ms > 0 else b""
            if not more:
                raise Gen1HidError(
                    f"EEPROM page {page} came back short ({len(report)} of {REPORT_BYTES} bytes)"
                )
            report += more
        return bytes(report[4:REPORT_BYTES])


def read_eeprom_json(device: HidDevice, timeout_ms: int = PAGE_TIMEOUT_MS) -> bytes:
    """The JSON bytes stored in the EEPROM (length-prefixed, read page by page)."""
    first = _read_page(device, 0, timeout_ms)
    (length,) = struct.unpack(">I", first[:4])
    if length == 0xFFFFFFFF or length == 0:
        raise Gen1HidError("the display's EEPROM holds no calibration (it reads as blank)")
    if length > MAX_JSON_BYTES:
        raise Gen1HidError(f"the EEPROM says the calibration is {length} bytes long, which is implausible")
    total = 4 + length
    data = bytearray(first)
    page = 1
    while len(data) < total:
        data += _read_page(device, page, timeout_ms)
        page += 1
    return bytes(data[4:total])


def read_gen1_calibration(
    backend: HidBackend, info: HidDeviceInfo, timeout_ms: int = PAGE_TIMEOUT_MS
) -> Calibration:
    """Open a Gen1 device, read its EEPROM and parse the calibration (raises :class:`Gen1HidError`)."""
    try:
        device = backend.open(info)
    except OSError as e:
        what = udev_hint() if sys.platform.startswith("linux") else "check its USB cable"
        raise Gen1HidError(
            f"cannot open the Looking Glass HID device ({e or 'permission denied?'}); {what}"
        ) from e
    try:
        raw = read_eeprom_json(device, timeout_ms)
    finally:
        device.close()
    source = f"Gen1 HID EEPROM ({info.product or GEN1_PRODUCT}{', ' + info.serial if info.serial else ''})"
    try:
        text = raw.decode("utf-8").rstrip("\x00")
        return parse_visual(json.loads(text), source=source)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Gen1HidError(f"{source}: the stored calibration is not valid JSON ({e})") from None
    except CalibrationError as e:
        raise Gen1HidError(str(e)) from None
