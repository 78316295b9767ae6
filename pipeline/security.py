"""ZeroMQ CURVE keys and the list of peers this machine trusts.

Every socket that leaves the machine (calls, remote workers) is encrypted and authenticated
with CURVE. Each machine has one long-lived keypair; peers exchange public keys out of band
(``voodoo-holo keys`` prints it) and accept each other, like SSH's ``known_hosts``:

>>> kp = load_or_create_keypair(keys_dir)                  # doctest: +SKIP
>>> kp.public_text, fingerprint(kp.public)                 # doctest: +SKIP
>>> peers = KnownPeers.load(peers_file); peers.add(other_key, name="alice")   # doctest: +SKIP

The folders are the caller's choice (the app keeps them in the user's config folder,
``app.paths.UserPaths.keys_dir`` / ``known_peers_file``).

* :func:`configure_server` / :func:`configure_client` set the CURVE options of a socket; the
  client pins the server key it was told to trust.
* :func:`start_authenticator` answers the ZAP requests of a context's server sockets with a
  callback (normally ``KnownPeers.is_known``), so only accepted client keys get through.

Files (in the user config folder, see :mod:`app.paths` for where that is):
``keys/this-machine.key`` (public) and ``keys/this-machine.key_secret`` (secret, mode 0600),
written by pyzmq's certificate functions; ``known_peers.json`` lists accepted keys.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

__all__ = [
    "Keypair",
    "KnownPeer",
    "KnownPeers",
    "configure_client",
    "configure_server",
    "fingerprint",
    "load_or_create_keypair",
    "parse_public_key",
    "SecurityError",
    "start_authenticator",
]

KEY_NAME = "this-machine"
KNOWN_PEERS_FILE = "known_peers.json"


class SecurityError(ValueError):
    """A key or key file that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Keypair:
    """A CURVE keypair as 40-character Z85 byte strings."""

    public: bytes
    secret: bytes = field(repr=False)

    @property
    def public_text(self) -> str:
        return self.public.decode("ascii")


def parse_public_key(text: str | bytes) -> bytes:
    """Validate a Z85 public key (40 characters) as typed or pasted by a user."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    raw = raw.strip()
    if len(raw) != 40:
        raise SecurityError(
            f"a public key is 40 characters (as printed by 'voodoo-holo keys'), got {len(raw)}: {raw[:60]!r}"
        )
    try:
        decoded = zmq.utils.z85.decode(raw)
    except (ValueError, KeyError, TypeError) as e:
        raise SecurityError(f"{raw.decode('ascii', 'replace')!r} is not a Z85 public key: {e}") from e
    if len(decoded) != 32:
        raise SecurityError(f"{raw!r} does not decode to a 32-byte CURVE key")
    return raw


def fingerprint(public_key: str | bytes) -> str:
    """Short, comparable form of a public key: ``SHA256:`` + base64 of the digest (like ssh)."""
    raw = zmq.utils.z85.decode(parse_public_key(public_key))
    digest = hashlib.sha256(raw).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def load_or_create_keypair(key_dir: Path) -> Keypair:
    """This machine's keypair in ``key_dir``, created on first use (secret file readable by the
    owner only)."""
    key_dir = Path(key_dir).expanduser()
    public_file = key_dir / f"{KEY_NAME}.key"
    secret_file = key_dir / f"{KEY_NAME}.key_secret"
    if not secret_file.is_file():
        key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(key_dir, 0o700)
        zmq.auth.create_certificates(key_dir, KEY_NAME)
        os.chmod(secret_file, 0o600)
    elif os.name == "posix" and secret_file.stat().st_mode & 0o077:
        raise SecurityError(
            f"{secret_file} can be read by other users; run 'chmod 600 {secret_file}' and try again"
        )
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as e:
        raise SecurityError(f"cannot read {secret_file} ({e}); delete it to create a new key") from e
    if secret is None:
        raise SecurityError(f"{secret_file} holds no secret key; delete it to create a new key")
    if public_file.is_file() and zmq.auth.load_certificate(public_file)[0] != public:
        raise SecurityError(f"{public_file} does not match {secret_file}; delete both to create a new key")
    return Keypair(parse_public_key(public), secret)


@dataclass
class KnownPeer:
    """An accepted peer: its key, a name for people, and the addresses it was reached at."""

    key: str
    name: str = ""
    hosts: list[str] = field(default_factory=list)
    added: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def label(self) -> str:
        return f"{self.name} ({self.fingerprint})" if self.name else self.fingerprint


class KnownPeers:
    """The accepted peers file (``known_peers.json``); every change is saved at once."""

    def __init__(self, path: Path, peers: list[KnownPeer] | None = None) -> None:
        self.path = path
        self.peers = list(peers or [])

    @classmethod
    def load(cls, path: Path) -> KnownPeers:
        path = Path(path)
        if not path.is_file():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            peers = [KnownPeer(**p) for p in data["peers"]]
            for p in peers:
                parse_public_key(p.key)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, SecurityError) as e:
            raise SecurityError(f"known peers file {path} is damaged ({e}); fix or delete it") from e
        return cls(path, peers)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        data = {"version": 1, "peers": [asdict(p) for p in self.peers]}
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    def find(self, key: str | bytes) -> KnownPeer | None:
        k = parse_public_key(key).decode("ascii")
        return next((p for p in self.peers if p.key == k), None)

    def is_known(self, key: str | bytes) -> bool:
        try:
            return self.find(key) is not None
        except SecurityError:
            return False

    def key_for_host(self, host: str) -> KnownPeer | None:
        return next((p for p in self.peers if host in p.hosts), None)

    def add(self, key: str | bytes, name: str = "", host: str | None = None) -> KnownPeer:
        """Accept ``key`` (or update its name / hosts) and save."""
        k = parse_public_key(key).decode("ascii")
        peer = self.find(k)
        if peer is None:
            now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            peer = KnownPeer(k, name, [], now)
            self.peers.append(peer)
        if name:
            peer.name = name
        if host:
            for other in self.peers:  # one key per address
                if other is not peer and host in other.hosts:
                    other.hosts.remove(host)
            if host not in peer.hosts:
                peer.hosts.append(host)
        self.save()
        return peer

    def remove(self, key_or_name: str) -> KnownPeer | None:
        match = next((p for p in self.peers if key_or_name in (p.key, p.name, p.fingerprint)), None)
        if match is not None:
            self.peers.remove(match)
            self.save()
        return match


def configure_server(sock: zmq.Socket, keypair: Keypair) -> None:
    """Make ``sock`` a CURVE server (call before ``bind``); clients are checked by ZAP."""
    sock.curve_secretkey = keypair.secret
    sock.curve_publickey = keypair.public
    sock.curve_server = True


def configure_client(sock: zmq.Socket, keypair: Keypair, server_key: str | bytes) -> None:
    """Make ``sock`` a CURVE client that only talks to the server holding ``server_key``."""
    sock.curve_serverkey = parse_public_key(server_key)
    sock.curve_publickey = keypair.public
    sock.curve_secretkey = keypair.secret


class _KeyCheck:
    def __init__(self, allow: Callable[[bytes], bool]) -> None:
        self.allow = allow

    def callback(self, domain: str, client_key: bytes) -> bool:
        return bool(self.allow(client_key))


def start_authenticator(ctx: zmq.Context, allow: Callable[[bytes], bool]) -> ThreadAuthenticator:
    """Start ZAP for ``ctx``: a client key (Z85 bytes) gets in only when ``allow(key)`` is true.

    ``allow`` runs on the authenticator's thread; keep it quick. Call ``.stop()`` when done.
    The accepted key is the ``User-Id`` property of every message received from that client.
    """
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve_callback("*", _KeyCheck(allow))
    return auth
