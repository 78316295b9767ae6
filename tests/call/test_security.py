"""Keys, known peers and CURVE sockets (real ZeroMQ in one process, loopback only)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from app.cli import main
from pipeline.security import (
    KnownPeers,
    SecurityError,
    configure_client,
    configure_server,
    fingerprint,
    load_or_create_keypair,
    parse_public_key,
    start_authenticator,
)


def test_keypair_is_created_once_and_kept_private(tmp_path):
    a = load_or_create_keypair(tmp_path / "keys")
    b = load_or_create_keypair(tmp_path / "keys")
    assert a == b and len(a.public) == 40 and a.public != a.secret
    mode = stat.S_IMODE((tmp_path / "keys" / "this-machine.key_secret").stat().st_mode)
    assert mode == 0o600
    os.chmod(tmp_path / "keys" / "this-machine.key_secret", 0o644)
    with pytest.raises(SecurityError, match="chmod 600"):
        load_or_create_keypair(tmp_path / "keys")


def test_fingerprint_and_key_parsing():
    pub, _ = zmq.curve_keypair()
    fp = fingerprint(pub)
    assert fp.startswith("SHA256:") and fp == fingerprint(pub.decode() + "\n")
    assert fp != fingerprint(zmq.curve_keypair()[0])
    for bad in ("", "short", "x" * 41, "~" * 40):
        with pytest.raises(SecurityError):
            parse_public_key(bad)


def test_known_peers_store(tmp_path):
    path = tmp_path / "known_peers.json"
    k1, k2 = zmq.curve_keypair()[0], zmq.curve_keypair()[0]
    peers = KnownPeers.load(path)
    assert not peers.is_known(k1) and not peers.is_known(b"garbage")
    peers.add(k1, name="alice", host="10.0.0.5:47820")
    peers.add(k2, name="bob", host="10.0.0.5:47820")  # the address now answers with bob's key
    again = KnownPeers.load(path)
    assert again.is_known(k1) and again.is_known(k2)
    assert again.key_for_host("10.0.0.5:47820").name == "bob"
    assert again.remove("alice").key == k1.decode()
    assert not KnownPeers.load(path).is_known(k1)
    path.write_text("{not json")
    with pytest.raises(SecurityError, match="damaged"):
        KnownPeers.load(path)


def _pair(server_kp, client_kp, server_key_for_client, allow):
    """A CURVE ROUTER (ZAP with ``allow``) and a DEALER connecting to it, in a fresh context."""
    ctx = zmq.Context()
    auth = start_authenticator(ctx, allow)
    router = ctx.socket(zmq.ROUTER)
    configure_server(router, server_kp)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = ctx.socket(zmq.DEALER)
    configure_client(dealer, client_kp, server_key_for_client)
    mon = dealer.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    return ctx, auth, router, dealer, mon


def _close(ctx, auth, router, dealer, mon):
    dealer.disable_monitor()
    for s in (router, dealer, mon):
        s.close(linger=0)
    auth.stop()
    ctx.term()


def _events(mon, timeout_s=5.0):
    out = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not out:
        if mon.poll(100):
            out.append(recv_monitor_message(mon)["event"])
    return out


def test_curve_accepts_a_known_key_and_refuses_others(tmp_path):
    server = load_or_create_keypair(tmp_path / "s")
    client = load_or_create_keypair(tmp_path / "c")
    stranger = load_or_create_keypair(tmp_path / "x")

    parts = _pair(server, client, server.public, lambda k: k == client.public)
    ctx, auth, router, dealer, mon = parts
    try:
        assert _events(mon) == [zmq.EVENT_HANDSHAKE_SUCCEEDED]
        dealer.send(b"hello")
        assert router.poll(5000)
        frames = router.recv_multipart(copy=False)
        assert frames[1].bytes == b"hello" and frames[1].get("User-Id") == client.public_text
    finally:
        _close(*parts)

    parts = _pair(server, stranger, server.public, lambda k: k == client.public)
    ctx, auth, router, dealer, mon = parts
    try:
        assert _events(mon) == [zmq.EVENT_HANDSHAKE_FAILED_AUTH]
        with contextlib.suppress(zmq.Again):  # no connection left to queue on
            dealer.send(b"let me in", flags=zmq.NOBLOCK)
        assert not router.poll(500)
    finally:
        _close(*parts)

    # A client pinned to another server key never gets through either.
    parts = _pair(server, client, stranger.public, lambda k: True)
    ctx, auth, router, dealer, mon = parts
    try:
        with contextlib.suppress(zmq.Again):
            dealer.send(b"hello?", flags=zmq.NOBLOCK)
        assert not router.poll(1000)
    finally:
        _close(*parts)


def test_keys_command(capsys):
    assert main(["keys"]) == 0
    out = capsys.readouterr().out
    assert "public key:" in out and "SHA256:" in out and "no accepted peers" in out
    assert main(["keys", "--quiet"]) == 0
    mine = capsys.readouterr().out.strip()
    assert mine in out
    other = zmq.curve_keypair()[0].decode()
    assert main(["keys", "--accept", other, "--name", "alice", "--host", "h:1"]) == 0
    out = capsys.readouterr().out
    assert "accepted alice" in out and other in out and "at h:1" in out
    assert main(["keys", "--accept", "nonsense"]) == 2
    assert "40 characters" in capsys.readouterr().err
    assert main(["keys", "--forget", "alice"]) == 0
    assert main(["keys", "--forget", "alice"]) == 1
    from app.paths import user_paths

    data = json.loads((user_paths().config_dir / "known_peers.json").read_text())
    assert data["peers"] == []
