"""``voodoo-holo call`` argument errors: clear messages before anything starts."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import zmq

from app.cli import main
from pipeline.security import parse_public_key, shareable_key


def test_call_needs_a_peer_or_listen(capsys):
    assert main(["call", "--no-audio"]) == 2
    assert "--listen" in capsys.readouterr().err
    assert main(["call", "example.org", "--listen"]) == 2
    assert "not both" in capsys.readouterr().err


def test_calling_an_unknown_address_without_its_key_says_how_to_get_it(capsys, tmp_path):
    photo = "assets/samples/astronaut.jpg"
    assert main(["call", "127.0.0.1:5", "--source", photo, "--no-audio"]) == 2
    err = capsys.readouterr().err
    assert "no key known for 127.0.0.1:5" in err and "--peer-key" in err and "voodoo-holo keys" in err
    assert main(["call", "127.0.0.1:5", "--peer-key", "not-a-key", "--source", photo]) == 2
    assert "as 'voodoo-holo keys' prints it" in capsys.readouterr().err


def test_peer_key_is_remembered_for_the_address(capsys):
    from app.paths import user_paths
    from pipeline.security import KnownPeers

    key = zmq.curve_keypair()[0].decode()
    # A missing source photo stops the call after the key was checked and stored.
    assert main(["call", "[::1]:6000", "--peer-key", key, "--source", "missing.jpg", "--no-audio"]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert KnownPeers.load(user_paths().known_peers_file).key_for_host("[::1]:6000").key == key
    # The same in the shareable form, and an older key that begins with '-' (not an option).
    dashed = _z85_key_starting_with("-")
    argv = ["call", "[::1]:6001", "--peer-key", shareable_key(dashed), "--accept-key", dashed]
    assert main([*argv, "--source", "missing.jpg", "--no-audio"]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    peers = KnownPeers.load(user_paths().known_peers_file)
    assert peers.key_for_host("[::1]:6001").key == dashed and peers.is_known(dashed)


def test_worker_takes_a_server_key_in_either_form():
    from app.cli import build_parser
    from app.commands.keys import join_key_values

    dashed = _z85_key_starting_with("-")
    for given in (dashed, shareable_key(dashed)):
        argv = ["worker", "--launcher", "h:5600", "--server-key", given, "--name", "renderer-3"]
        assert (
            parse_public_key(build_parser().parse_args(join_key_values(argv)).server_key) == dashed.encode()
        )


def _z85_key_starting_with(char: str) -> str:
    while True:
        key = zmq.utils.z85.encode(os.urandom(32)).decode()
        if key.startswith(char):
            return key


REPO = Path(__file__).resolve().parents[2]


def _as_bash_reads(command: str) -> list[str]:
    """The words bash passes to ``voodoo-holo`` for ``command``, as typed at a prompt."""
    shim = "voodoo-holo() { printf '%s\\0' \"$@\"; }\n"
    done = subprocess.run(["bash", "-c", shim + command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{command!r} fails in bash: {done.stderr}"
    return done.stdout.split("\0")[:-1]


def test_readme_key_commands_work_pasted_into_bash(capsys):
    """Every README command with a key placeholder, the placeholder replaced by a real key as
    printed by 'voodoo-holo keys': bash runs it and the parser reads the key back."""
    from app.cli import build_parser
    from app.commands.keys import join_key_values
    from app.paths import user_paths
    from pipeline.security import KnownPeers

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^\s*(voodoo-holo [^\n]*\b[A-Z]+_KEY\b[^\n]*)$", readme, re.M)
    assert len(commands) >= 4, commands  # keys --accept x2, call --peer-key, worker --server-key
    for command in commands:
        keys = {name: zmq.curve_keypair()[0] for name in re.findall(r"\b[A-Z]+_KEY\b", command)}
        pasted = command
        for name, key in keys.items():
            pasted = re.sub(rf"\b{name}\b", shareable_key(key), pasted)
        argv = _as_bash_reads(pasted)
        args = build_parser().parse_args(join_key_values(argv))
        given = [
            v for o in ("accept", "peer_key", "server_key") if isinstance(v := getattr(args, o, None), str)
        ]
        assert [parse_public_key(v) for v in given] == list(keys.values()), (command, argv)
        if argv[:2] == ["keys", "--accept"]:  # this one changes nothing but the peers file: run it
            assert main(argv) == 0
            assert KnownPeers.load(user_paths().known_peers_file).is_known(next(iter(keys.values())))
    # The README's example keys: the shareable one and the older form, quoted as it says.
    example = re.search(r"`(vhk1_[a-z2-7]+)`", readme)
    old = re.search(r"`(--accept '[^`]+')`", readme)
    assert example and old
    argv = _as_bash_reads(f"voodoo-holo keys {old.group(1)}")
    assert parse_public_key(argv[2]) == parse_public_key(example.group(1))
    assert main(argv) == 0
    capsys.readouterr()


def test_the_prompt_takes_a_pasted_key_in_either_form(monkeypatch, capsys):
    """Calling an unknown address from a terminal: the key pasted at the prompt, as printed
    (shareable form) or an older key pasted with the quotes a shell needed, then 'y'."""
    import io
    from argparse import Namespace

    from app.commands.call import _peer_key
    from app.paths import user_paths
    from pipeline.security import KnownPeers, SecurityError

    for pasted, host in ((None, "h1:1"), ("quoted", "h2:2")):
        key = _z85_key_starting_with("-")
        text = shareable_key(key) if pasted is None else f"'{key}'"
        monkeypatch.setattr("sys.stdin", io.StringIO(f"  {text}  \ny\n"))
        known = KnownPeers.load(user_paths().known_peers_file)
        assert _peer_key(Namespace(peer_key=None), known, host, interactive=True) == key.encode()
        assert KnownPeers.load(user_paths().known_peers_file).key_for_host(host).key == key
    monkeypatch.setattr("sys.stdin", io.StringIO("vhk1_abc\n"))
    with pytest.raises(SecurityError, match="cut short"):
        _peer_key(Namespace(peer_key=None), known, "h3:3", interactive=True)
    capsys.readouterr()
