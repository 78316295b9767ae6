"""Looking Glass Bridge's HTTP API, against a real HTTP server on 127.0.0.1 answering as Bridge does."""

from __future__ import annotations

import http.client
import json

import pytest
from standins import DATA, BridgeStandIn, bridge_display

from calibration.bridge import (
    CONNECT_TIMEOUT_S,
    BridgeClient,
    BridgeError,
    BridgeNotRunningError,
    bridge_url_from_environment,
    parse_output_devices,
)
from calibration.discovery import NotLightFieldError, resolve_calibration
from calibration.visual import load_visual

PORTRAIT = json.loads((DATA / "portrait_visual.json").read_text())
GEN3 = json.loads((DATA / "gen3_visual.json").read_text())
#: A 16" Gen3 landscape unit's default quilt as a live Bridge reported it: 8x6 = 48 views.
GEN3_QUILT = {"quiltAspect": 1.77778, "quiltX": 7680, "quiltY": 4320, "tileX": 8, "tileY": 6}
PORTRAIT_QUILT = {"quiltAspect": 0.75, "quiltX": 3360, "quiltY": 3360, "tileX": 8, "tileY": 6}


@pytest.fixture
def bridge():
    with BridgeStandIn([bridge_display(PORTRAIT, default_quilt=PORTRAIT_QUILT)]) as b:
        yield b


def test_the_client_reads_every_field_with_put_and_leaves_the_orchestration(bridge):
    (d,) = BridgeClient(bridge.url).displays()
    assert d.calibration == load_visual(DATA / "portrait_visual.json")
    assert (d.index, d.hwid, d.hardware_version, d.state) == (0, "LKG-P03996", "portrait", "ok")
    assert d.window_xy == (1920, 0) and d.serial == "LKG-PORT-02283"
    q = d.default_quilt
    assert q is not None and (q.cols, q.rows, q.views, q.quilt_w_px, q.quilt_h_px, q.aspect) == (
        8, 6, 48, 3360, 3360, 0.75,
    )  # fmt: skip
    methods = [(m, p) for m, p, _ in bridge.requests]
    assert methods == [
        ("PUT", "/enter_orchestration"),
        ("PUT", "/available_output_devices"),
        ("PUT", "/exit_orchestration"),
    ]
    assert bridge.requests[0][2] == {} and bridge.requests[1][2] == {"orchestration": BridgeStandIn.TOKEN}
    assert bridge.exited == [BridgeStandIn.TOKEN]


def test_a_48_view_gen3_default_quilt_and_cells_come_through(bridge):
    bridge.displays = [
        bridge_display(GEN3, hardware_version="16_gen3_l", hwid="LKG-J00001", default_quilt=GEN3_QUILT)
    ]
    found = resolve_calibration(bridge_url=bridge.url, hid=None, drive_roots=[])
    assert found.route == "bridge" and found.model == 'Looking Glass 16" Spatial Display (landscape)'
    assert found.default_quilt is not None and found.default_quilt.views == 48
    assert (found.default_quilt.cols, found.default_quilt.rows) == (8, 6)
    assert found.calibration is not None and len(found.calibration.subpixel_cells) == 4
    assert found.view_cone_deg == 50.0 and found.window_xy == (1920, 0)
    assert "8x6 (48 views), 7680x4320 px" in found.describe()


def test_bridge_answers_a_post_with_an_empty_200_which_the_client_treats_as_failure(bridge):
    conn = http.client.HTTPConnection("127.0.0.1", int(bridge.url.rsplit(":", 1)[1].strip("/")), timeout=2)
    conn.request("POST", "/enter_orchestration", body=b"{}", headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b""  # the stand-in behaves as Bridge does
    conn.close()
    # An address whose endpoints Bridge does not know gets the same empty 200.
    with pytest.raises(BridgeError, match="empty body"):
        BridgeClient(bridge.url + "not_bridge/").displays()


def test_a_status_other_than_completion_is_a_failure(bridge):
    bridge.status = "Failure"
    with pytest.raises(BridgeError, match="status 'Failure'"):
        BridgeClient(bridge.url).displays()


def test_a_stopped_bridge_is_not_running_and_discovery_moves_on(bridge, tmp_path):
    url = bridge.url
    bridge.stop()
    with pytest.raises(BridgeNotRunningError, match="not running"):
        BridgeClient(url).displays()
    drive = tmp_path / "LKG-P1" / "LKG_calibration" / "visual.json"
    drive.parent.mkdir(parents=True)
    drive.write_text(json.dumps(GEN3))
    found = resolve_calibration(bridge_url=url, hid=None, drive_roots=[tmp_path])
    assert found.route == "drive" and found.path == drive
    assert [(a.route, a.outcome) for a in found.attempts] == [
        ("bridge", "none"),
        ("hid", "skipped"),
        ("drive", "found"),
    ]


def test_a_missing_bridge_is_given_a_short_connection_timeout():
    # Speed is measured by 'voodoo-holo doctor' (it prints how long Bridge took); here only the budget.
    assert BridgeClient().connect_timeout_s == CONNECT_TIMEOUT_S <= 0.25


def test_a_hung_service_times_out_with_a_clear_message(bridge):
    bridge.stall_s = 0.5
    with pytest.raises(BridgeError, match="did not answer enter_orchestration .no answer in time"):
        BridgeClient(bridge.url, read_timeout_s=0.1).displays()


def test_a_display_with_a_bad_calibration_is_named_and_the_next_one_is_used(bridge):
    bad = dict(PORTRAIT, pitch={"value": "wide"})
    bridge.displays = [
        bridge_display(bad, index=0, hwid="LKG-P00001"),
        bridge_display(GEN3, index=1, hardware_version="16_gen3_l", hwid="LKG-J00001", window_xy=(3840, 0)),
    ]
    displays = BridgeClient(bridge.url).displays()
    assert displays[0].calibration is None and "pitch" in displays[0].calibration_problem
    found = resolve_calibration(bridge_url=bridge.url, hid=None, drive_roots=[])
    assert found.calibration is not None and found.serial == "LKG-J00001" and found.window_xy == (3840, 0)
    assert "display 0: portrait" in found.attempts[0].detail and "pitch" in found.attempts[0].detail


def test_a_display_without_calibration_and_nothing_else_fails_with_the_reason(bridge):
    bridge.displays = [bridge_display(None, state="nocalibration")]
    with pytest.raises(Exception, match="no usable display .display 0: portrait, state nocalibration"):
        resolve_calibration(bridge_url=bridge.url, hid=None, drive_roots=[])


def test_a_hololuminescent_display_is_recognised_and_offers_the_single_view_output(bridge):
    hld = bridge_display(
        None, index=0, hardware_version="27_hld_l", hwid="LKG-HLD-00042", window_xy=(0, -2160)
    )
    bridge.displays = [hld, bridge_display(PORTRAIT, index=1)]
    found = resolve_calibration(bridge_url=bridge.url, hid=None, drive_roots=[])
    assert not found.is_hld and found.serial == "LKG-PORT-02283"  # the light-field display is preferred
    bridge.displays = [hld]
    found = resolve_calibration(bridge_url=bridge.url, hid=None, drive_roots=[])
    assert found.is_hld and found.route == "bridge" and found.window_xy == (0, -2160)
    with pytest.raises(
        NotLightFieldError, match="Hololuminescent display: it shows 2D video.*single-view output"
    ):
        found.lenticular()


def test_parse_output_devices_accepts_an_empty_payload_and_rejects_other_shapes():
    ok = {"name": "available_output_devices", "status": {"value": "Completion"}}
    assert parse_output_devices({**ok, "payload": {"name": "", "type": "VARIANT_MAP", "value": None}}) == []
    assert parse_output_devices(ok) == []
    with pytest.raises(BridgeError, match="not a map"):
        parse_output_devices({**ok, "payload": {"value": [1, 2]}})
    with pytest.raises(BridgeError, match="not a JSON object"):
        parse_output_devices([])


def test_the_address_comes_from_the_environment_and_off_skips_bridge(monkeypatch, bridge):
    monkeypatch.setenv("VOODOO_HOLO_BRIDGE_URL", "off")
    assert bridge_url_from_environment() is None
    with pytest.raises(Exception, match="bridge: not asked"):
        resolve_calibration(hid=None, drive_roots=[])
    monkeypatch.setenv("VOODOO_HOLO_BRIDGE_URL", bridge.url)
    assert resolve_calibration(hid=None, drive_roots=[]).route == "bridge"
    monkeypatch.delenv("VOODOO_HOLO_BRIDGE_URL")
    assert bridge_url_from_environment() == "http://localhost:33334/"
    with pytest.raises(ValueError, match="http://HOST:PORT/"):
        BridgeClient("ftp://localhost/")
