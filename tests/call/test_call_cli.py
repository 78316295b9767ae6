"""``voodoo-holo call`` argument errors: clear messages before anything starts."""

from __future__ import annotations

import zmq

from app.cli import main


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
    assert "40 characters" in capsys.readouterr().err


def test_peer_key_is_remembered_for_the_address(capsys):
    from app.paths import user_paths
    from pipeline.security import KnownPeers

    key = zmq.curve_keypair()[0].decode()
    # A missing source photo stops the call after the key was checked and stored.
    assert main(["call", "[::1]:6000", "--peer-key", key, "--source", "missing.jpg", "--no-audio"]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert KnownPeers.load(user_paths().known_peers_file).key_for_host("[::1]:6000").key == key
