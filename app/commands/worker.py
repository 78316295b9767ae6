"""``voodoo-holo worker``: run one role of a live call on this host for a launcher elsewhere.

On the launcher's machine::

    voodoo-holo --source me.jpg --expose 0.0.0.0:5600 --remote renderer-3
    voodoo-holo keys --accept WORKER_KEY   # what 'voodoo-holo keys' prints on the worker's machine

On the worker's machine::

    voodoo-holo worker --launcher studio-pc:5600 --server-key LAUNCHER_KEY --name renderer-3

Every link is encrypted and authenticated with ZeroMQ CURVE: the worker only talks to the
launcher holding ``--server-key``, and the launcher only accepts workers whose keys were
accepted with ``voodoo-holo keys``. ``voodoo-holo keys`` prints this machine's public key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--launcher", required=True, metavar="HOST[:PORT]", help="the launcher's --expose address")
    p.add_argument(
        "--server-key", required=True, help="the launcher machine's public key ('voodoo-holo keys' there)"
    )
    p.add_argument(
        "--name", required=True, help="the role to run, as the launcher names it (renderer-3, capture)"
    )
    p.add_argument(
        "--gpu", type=int, default=None, help="CUDA device for this role (default: CPU unless CUDA is set)"
    )
    p.add_argument(
        "--driver", default=None, help="for a remote capture: webcam index or video file on this host"
    )
    p.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the launcher (default 15)"
    )


def fetch_config(launcher: str, server_key: str, name: str, timeout_s: float):
    import zmq

    from app.live.launcher import CONFIG_PORT_OFFSET
    from app.live.netsec import split_host_port
    from app.live.runtime import RoleConfig
    from app.paths import user_paths
    from pipeline.jsonconfig import from_jsonable
    from pipeline.security import configure_client, load_or_create_keypair

    host, port = split_host_port(launcher, 5600)
    keypair = load_or_create_keypair(user_paths().keys_dir)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        configure_client(sock, keypair, server_key)
        sock.connect(f"tcp://{host}:{port + CONFIG_PORT_OFFSET}")
        sock.send(json.dumps({"name": name}).encode())
        if not sock.poll(int(timeout_s * 1000)):
            raise RuntimeError(
                f"the launcher at {host}:{port} did not answer within {timeout_s:g} s. Check the address, that it "
                f"runs with --expose and --remote {name}, that --server-key is its key, and that it accepted this "
                f"machine's key with: voodoo-holo keys --accept {keypair.shareable}"
            )
        reply = json.loads(sock.recv().decode("utf-8"))
    finally:
        sock.close(linger=0)
        ctx.term()
    if "error" in reply:
        raise RuntimeError(f"the launcher refused: {reply['error']}")
    cfg = from_jsonable(RoleConfig, reply["config"])
    # Reach every link at the address we dialled; no launcher process to watch on this host.
    cfg.endpoints = {k: f"tcp://{host}:{v.rsplit(':', 1)[1]}" for k, v in cfg.endpoints.items()}
    cfg.bind_endpoints = {}
    cfg.launcher_pid = 0
    return cfg


def run(args: argparse.Namespace) -> int:
    from pipeline.security import SecurityError

    # Pin the device before anything imports torch.
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if args.gpu is None else str(args.gpu)
    try:
        cfg = fetch_config(args.launcher, args.server_key, args.name, args.timeout)
    except (RuntimeError, SecurityError, ValueError) as e:
        print(f"voodoo-holo worker: {e}", file=sys.stderr)
        return 2
    if args.driver is not None:
        cfg.driver = args.driver
    if cfg.role in ("estimator", "compositor"):
        print(f"voodoo-holo worker: {cfg.role} must run on the launcher's host", file=sys.stderr)
        return 2
    print(f"running {cfg.name} ({cfg.role}) for the launcher at {args.launcher}")
    from app.live.roles import run_role

    return run_role(cfg)
