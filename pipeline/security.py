"""ZeroMQ CURVE keys and the list of peers this machine trusts.

Every socket that leaves the machine (calls, remote workers) is encrypted and authenticated
with CURVE. Each machine has one long-lived keypair; peers exchange public keys out of band
(``voodoo-holo keys`` prints it) and accept each other, like SSH's ``known_hosts``:

>>> kp = load_or_create_keypair(keys_dir)                  # doctest: +SKIP
>>> kp.shareable, fingerprint(kp.public)                   # doctest: +SKIP
>>> peers = KnownPeers.load(peers_file); peers.add(other_key, name="alice")   # doctest: +SKIP

The folders are the caller's choice (the app keeps them in the user's config folder,
``app.paths.UserPaths.keys_dir`` / ``known_peers_file``).

Two written forms of a public key:

* **Z85**, ZeroMQ's own (40 characters): what sockets take and what the files store. Its alphabet
  holds ``& < > $ ( ) = . ; ?`` and more, so a Z85 key pasted into a shell breaks the command,
  and one starting with ``-`` reads as an option.
* **the shareable form** (:func:`shareable_key`), which is what people see and paste:
  ``vhk1_`` + 56 characters of lower-case base32 (``a-z``, ``2-7``) encoding the 32 key bytes and
  the first 3 bytes of their SHA-256. Nothing in it means anything to a shell, it never starts
  with ``-``, a double click selects all of it, and a mistyped character is caught by the check
  bytes instead of silently naming another key.

:func:`parse_public_key` reads both (and either one wrapped in quotes) and returns Z85.

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
    "SHAREABLE_PREFIX",
    "shareable_key",
    "start_authenticator",
]

KEY_NAME = "this-machine"
KNOWN_PEERS_FILE = "known_peers.json"
#: How a shareable key begins ("voodoo-holo key", format 1).
SHAREABLE_PREFIX = "vhk1_"
_CHECK_BYTES = 3  # 32 key bytes + 3 check bytes = 280 bits = exactly 56 base32 characters
_SHAREABLE_CHARS = 56


class SecurityError(ValueError):
    """A key or key file that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Keypair:
    """A CURVE keypair as 40-character Z85 byte strings."""

    public: bytes
    secret: bytes = field(repr=False)

    @property
    def public_text(self) -> str:
        """The public key in Z85, for sockets and files (not for people: see :attr:`shareable`)."""
        return self.public.decode("ascii")

    @property
    def shareable(self) -> str:
        """The public key as people copy and paste it (:func:`shareable_key`)."""
        return shareable_key(self.public)


def _check(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:_CHECK_BYTES]


def shareable_key(public_key: str | bytes) -> str:
    """``vhk1_`` + lower-case base32 of the key and its check bytes: safe to paste into any shell.

    >>> shareable_key(b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")[:20]
    'vhk1_kt6lujhjgjezney'
    """
    raw = zmq.utils.z85.decode(parse_public_key(public_key))
    return SHAREABLE_PREFIX + base64.b32encode(raw + _check(raw)).decode("ascii").lower()


_HOW = (
    f"a public key is '{SHAREABLE_PREFIX}' and {_SHAREABLE_CHARS} letters and digits "
    "(or 40 characters in the older Z85 form), as 'voodoo-holo keys' prints it"
)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text


def parse_public_key(text: str | bytes) -> bytes:
    """A public key as typed or pasted by a user, in either form (see the module notes) -> Z85.

    Surrounding white space and one pair of quotes are ignored. Raises :class:`SecurityError`
    with what is wrong: the length, a character outside the alphabet, or a check that fails
    (a mistyped character).
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("ascii", "replace")
    text = _unquote(text)
    if text[: len(SHAREABLE_PREFIX)].lower() == SHAREABLE_PREFIX:
        return _parse_shareable(text)
    raw = text.encode("ascii", "replace")
    if len(raw) != 40:
        raise SecurityError(f"{_HOW}; got {len(raw)} characters: {text[:70]!r}")
    try:
        decoded = zmq.utils.z85.decode(raw)
    except (ValueError, KeyError, TypeError) as e:
        raise SecurityError(f"{text!r} is not a public key ({_HOW}): {e}") from e
    if len(decoded) != 32:
        raise SecurityError(f"{text!r} does not decode to a 32-byte CURVE key")
    return raw


def _parse_shareable(text: str) -> bytes:
    body = text[len(SHAREABLE_PREFIX) :]
    if len(body) != _SHAREABLE_CHARS:
        raise SecurityError(
            f"{_HOW}; this one has {len(body)} after '{SHAREABLE_PREFIX}': was it cut short when copied?"
        )
    try:
        data = base64.b32decode(body.upper())
    except ValueError as e:
        bad = sorted({c for c in body.lower() if c not in "abcdefghijklmnopqrstuvwxyz234567"})
        raise SecurityError(
            f"{text!r} has characters a key never holds ({' '.join(bad) or e}); copy it again"
        ) from e
    raw, check = data[:32], data[32:]
    if check != _check(raw):
        raise SecurityError(f"{text!r} is mistyped (its check characters do not match); copy it again")
    return zmq.utils.z85.encode(raw)


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
        try:
            key = parse_public_key(key_or_name).decode("ascii")
        except SecurityError:
            key = key_or_name
        match = next((p for p in self.peers if key_or_name in (p.name, p.fingerprint) or p.key == key), None)
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
