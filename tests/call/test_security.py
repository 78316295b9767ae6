"""Keys, known peers and CURVE sockets (real ZeroMQ in one process, loopback only)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

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
    shareable_key,
    start_authenticator,
)

REPO = Path(__file__).resolve().parents[2]


def _z85_key_starting_with(char: str) -> str:
    """A (random) public key whose Z85 form begins with ``char``."""
    while True:
        key = zmq.utils.z85.encode(os.urandom(32)).decode()
        if key.startswith(char):
            return key


def _bash(command: str, home: Path) -> subprocess.CompletedProcess:
    """Run ``command`` as pasted into bash, with ``voodoo-holo`` this checkout's CLI."""
    shim = f'voodoo-holo() {{ {shlex.quote(sys.executable)} -m app.cli "$@"; }}\n'
    env = {**os.environ, "VOODOO_HOLO_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        ["bash", "-c", shim + command], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
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


def test_shareable_keys_are_shell_safe_and_read_back_in_every_form():
    for _ in range(200):
        z85 = zmq.curve_keypair()[0]
        text = shareable_key(z85)
        assert re.fullmatch(r"vhk1_[a-z2-7]{56}", text), text
        assert shlex.quote(text) == text  # nothing a shell would interpret
        assert shareable_key(z85.decode()) == text and fingerprint(text) == fingerprint(z85)
        for pasted in (
            text,
            f" {text}\n",
            f"'{text}'",
            f'"{text}"',
            text.upper(),
            z85.decode(),
            f"'{z85.decode()}'",
        ):
            assert parse_public_key(pasted) == z85, pasted
    # The shareable form carries the key's bytes, readable without this app.
    raw = zmq.utils.z85.decode(z85)
    assert base64.b32decode(text[5:].upper())[:32] == raw


def test_mistyped_shareable_keys_are_refused_with_what_is_wrong():
    text = shareable_key(zmq.curve_keypair()[0])
    i = 20
    typo = text[:i] + ("a" if text[i] != "a" else "b") + text[i + 1 :]
    with pytest.raises(SecurityError, match="mistyped"):
        parse_public_key(typo)
    with pytest.raises(SecurityError, match="cut short"):
        parse_public_key(text[:-3])
    with pytest.raises(SecurityError, match=r"characters a key never holds \(1\)"):
        parse_public_key(text[:-1] + "1")
    with pytest.raises(SecurityError, match="vhk1_"):  # the message says what a key looks like
        parse_public_key("BOBS_KEY")


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
    assert mine.startswith("vhk1_") and mine in out and f"voodoo-holo keys --accept {mine}\n" in out
    other = zmq.curve_keypair()[0].decode()
    assert main(["keys", "--accept", other, "--name", "alice", "--host", "h:1"]) == 0
    out = capsys.readouterr().out
    assert "accepted alice" in out and shareable_key(other) in out and "at h:1" in out
    assert main(["keys", "--accept", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "vhk1_" in err and "40 characters" in err and "got 8 characters" in err
    assert main(["keys", "--forget", shareable_key(other)]) == 0  # by key, in the form printed
    assert main(["keys", "--accept", shareable_key(other), "--name", "alice"]) == 0
    assert main(["keys", "--forget", "alice"]) == 0
    assert main(["keys", "--forget", "alice"]) == 1
    from app.paths import user_paths

    data = json.loads((user_paths().config_dir / "known_peers.json").read_text())
    assert data["peers"] == []


def test_keys_beginning_with_a_dash_pass_the_argument_parser(capsys):
    from app.paths import user_paths

    dashed = _z85_key_starting_with("-")
    assert main(["keys", "--accept", dashed, "--name", "dash"]) == 0
    assert "accepted dash" in capsys.readouterr().out
    assert KnownPeers.load(user_paths().known_peers_file).is_known(dashed)
    assert main(["keys", "--forget", dashed]) == 0
    # A missing value is still reported as one, not swallowed as a key.
    with pytest.raises(SystemExit):
        main(["keys", "--accept", "--name", "x"])
    assert "expected one argument" in capsys.readouterr().err


def test_the_printed_accept_command_works_pasted_into_bash(tmp_path):
    """Machine A prints its key; the command it shows, run by bash on machine B, accepts it."""
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    shown = _bash("voodoo-holo keys", home_a)
    assert shown.returncode == 0, shown.stderr
    command = next(line.strip() for line in shown.stdout.splitlines() if "keys --accept" in line)
    key_a = load_or_create_keypair(home_a / "config" / "keys")
    assert command == f"voodoo-holo keys --accept {key_a.shareable}"
    done = _bash(command + " --name alice", home_b)
    assert done.returncode == 0 and "accepted alice" in done.stdout, done.stderr
    assert KnownPeers.load(home_b / "config" / "known_peers.json").is_known(key_a.public)
    # An old-style key with shell characters, single-quoted as the README says, and a dashed one.
    for old in (_z85_key_starting_with("&"), _z85_key_starting_with("-")):
        done = _bash(f"voodoo-holo keys --accept '{old}'", home_b)
        assert done.returncode == 0, done.stderr
        assert KnownPeers.load(home_b / "config" / "known_peers.json").is_known(old)
