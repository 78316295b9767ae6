"""Gen1 Looking Glass over USB HID: the paged EEPROM protocol, against a stand-in device."""

from __future__ import annotations

import json
import struct
import sys

import pytest
from standins import DATA, Gen1BackendStandIn, Gen1DeviceStandIn, eeprom_image, gen1_bus, gen1_info

from calibration.discovery import resolve_calibration
from calibration.hid import (
    GEN1_PRODUCT_ID,
    GEN1_VENDOR_ID,
    Gen1HidError,
    HidDeviceInfo,
    HidUnavailableError,
    find_gen1_devices,
    load_hidapi,
    read_eeprom_json,
    read_gen1_calibration,
)
from calibration.visual import load_visual

PORTRAIT_BYTES = (DATA / "portrait_visual.json").read_bytes()


def test_pages_are_requested_with_the_documented_feature_report():
    dev = Gen1DeviceStandIn(eeprom_image(PORTRAIT_BYTES))
    assert read_eeprom_json(dev) == PORTRAIT_BYTES
    pages = -(-(4 + len(PORTRAIT_BYTES)) // 64)
    assert len(dev.requests) == pages > 1
    for n, req in enumerate(dev.requests):
        # report id 0, command 0 (read), big-endian page address, 64 zero bytes
        assert req == bytes([0, 0]) + struct.pack(">H", n) + bytes(64)


def test_button_reports_and_split_answers_are_handled():
    bus = gen1_bus(button_reports_before_answer=2, split_answers=True, buttons=0b0101)
    (info,) = find_gen1_devices(bus)
    cal = read_gen1_calibration(bus, info)
    assert cal == load_visual(DATA / "portrait_visual.json")
    assert bus.devices[info].closed


def test_discovery_finds_a_gen1_display_over_hid():
    found = resolve_calibration(bridge_url=None, hid=gen1_bus(), drive_roots=[])
    assert found.route == "hid" and found.calibration is not None and found.serial == "LKG-PORT-02283"
    assert "Gen1 HID EEPROM (HoloPlay, 00A1)" in found.source
    assert [(a.route, a.outcome) for a in found.attempts] == [("bridge", "skipped"), ("hid", "found")]


def test_a_blank_eeprom_says_so():
    dev = Gen1DeviceStandIn(b"\xff" * 256)
    with pytest.raises(Gen1HidError, match="holds no calibration"):
        read_eeprom_json(dev)


def test_a_device_that_never_answers_times_out():
    dev = Gen1DeviceStandIn(eeprom_image(PORTRAIT_BYTES), silent=True, button_reports_before_answer=1)
    with pytest.raises(Gen1HidError, match="no answer for EEPROM page 0 within 30 ms"):
        read_eeprom_json(dev, timeout_ms=30)


def test_an_implausible_length_is_refused():
    with pytest.raises(Gen1HidError, match="implausible"):
        read_eeprom_json(Gen1DeviceStandIn(struct.pack(">I", 10_000_000) + b"{}"))


def test_a_damaged_calibration_names_the_field_and_discovery_moves_on(tmp_path):
    raw = json.loads(PORTRAIT_BYTES)
    raw["slope"] = {"value": 0.0}
    bus = Gen1BackendStandIn({gen1_info(): Gen1DeviceStandIn(eeprom_image(json.dumps(raw).encode()))})
    with pytest.raises(Gen1HidError, match="Gen1 HID EEPROM.*'slope'"):
        read_gen1_calibration(bus, gen1_info())
    bus = Gen1BackendStandIn({gen1_info(): Gen1DeviceStandIn(eeprom_image(b"{not json"))})
    with pytest.raises(Gen1HidError, match="not valid JSON"):
        read_gen1_calibration(bus, gen1_info())
    with pytest.raises(LookupError, match="hid: .*not valid JSON"):
        resolve_calibration(bridge_url=None, hid=bus, drive_roots=[tmp_path])


def test_no_permission_points_at_the_udev_rule(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    bus = gen1_bus()
    bus.deny_open = True
    with pytest.raises(Gen1HidError, match="Permission denied.*70-looking-glass-gen1.rules"):
        read_gen1_calibration(bus, gen1_info())


def test_other_devices_on_the_same_ids_are_not_taken():
    other = HidDeviceInfo(b"/dev/hidraw9", GEN1_VENDOR_ID, GEN1_PRODUCT_ID, "PICkit Serial", "1")
    unnamed = gen1_info(product="")
    bus = Gen1BackendStandIn({other: Gen1DeviceStandIn(b""), unnamed: Gen1DeviceStandIn(b"")})
    assert find_gen1_devices(bus) == [unnamed]


def test_without_hidapi_gen1_discovery_is_skipped_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "hid", None)  # makes 'import hid' fail as if not installed
    with pytest.raises(HidUnavailableError, match=r"pip install 'voodoo-holo\[hid\]'"):
        load_hidapi()
    with pytest.raises(LookupError) as e:
        resolve_calibration(bridge_url=None, drive_roots=[tmp_path])
    (hid,) = [a for a in e.value.attempts if a.route == "hid"]
    assert hid.outcome == "skipped" and "pip install 'voodoo-holo[hid]'" in hid.detail


def test_the_real_hidapi_backend_lists_devices():
    pytest.importorskip("hid", reason="the optional hidapi package is not installed")
    backend = load_hidapi()
    devices = backend.enumerate(GEN1_VENDOR_ID, GEN1_PRODUCT_ID)  # none on a test machine, but a real call
    assert isinstance(devices, list) and all(isinstance(d, HidDeviceInfo) for d in devices)
