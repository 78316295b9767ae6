"""CURVE on the live pipeline's tcp links (roles on other hosts).

ipc endpoints stay unencrypted (they never leave the machine). Every ``tcp://`` socket is a
CURVE server when it binds (clients are checked against the accepted keys, see
:mod:`pipeline.security`) or a CURVE client pinned to the launcher machine's key when it
connects. A role gets ``RoleConfig.curve_server_key`` from the launcher when its links are tcp.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = ["CurveSockets", "free_port_range", "split_host_port"]


def free_port_range(count: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """The first of ``count`` consecutive tcp ports on ``host`` that are free right now."""
    import random
    import socket

    for _ in range(attempts):
        base = random.randint(20000, 60000 - count)
        held = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise OSError(f"no {count} consecutive free tcp ports on {host}")


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) -> ``(host, port)``."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not host:
        raise ValueError(f"no host in {text!r}")
    try:
        p = int(port)
    except ValueError as e:
        raise ValueError(f"bad port in {text!r}") from e
    if not 1 <= p <= 65535:
        raise ValueError(f"port {p} is outside 1..65535")
    return host, p


class CurveSockets:
    """Applies CURVE to a context's tcp sockets (one ZAP authenticator per context)."""

    def __init__(self, ctx: zmq.Context, server_key: str) -> None:
        from app.paths import user_paths
        from pipeline.security import KnownPeers, load_or_create_keypair

        self.ctx = ctx
        self.server_key = server_key
        self.keypair = load_or_create_keypair(user_paths().keys_dir)
        self._peers = KnownPeers.load(user_paths().known_peers_file)
        self._auth: Any = None

    def _allow(self, client_key: bytes) -> bool:
        # Our own machine's roles use this machine's key; other hosts must have been accepted.
        return client_key == self.keypair.public or self._peers.is_known(client_key)

    def prepare(self, sock: zmq.Socket, endpoint: str, *, bind: bool) -> None:
        if not endpoint.startswith("tcp://"):
            return
        from pipeline.security import configure_client, configure_server, start_authenticator

        if bind:
            if self._auth is None:
                self._auth = start_authenticator(self.ctx, self._allow)
            configure_server(sock, self.keypair)
        else:
            configure_client(sock, self.keypair, self.server_key)

    def close(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
