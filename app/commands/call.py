"""``voodoo-holo call``: a two-party call over the network.

::

    voodoo-holo call --listen [PORT]            wait for a peer (binds every interface, default port 47820)
    voodoo-holo call HOST[:PORT] --peer-key KEY call a peer that is listening

Both sides need each other's public key ('voodoo-holo keys' prints it): the caller gives the
listener's with ``--peer-key`` (remembered for that address), the listener accepts the
caller's with ``voodoo-holo keys --accept KEY`` or ``--accept-key KEY``, or answers the prompt
that appears when an unknown key knocks (only when run from a terminal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from app.options import add_avatar_flags, add_driver_flags, add_output_flags, add_source_flag, add_view_flags

DEFAULT_PORT = 47820


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("peer", nargs="?", metavar="HOST[:PORT]", help="the peer to call (omit with --listen)")
    p.add_argument(
        "--listen",
        nargs="?",
        const=DEFAULT_PORT,
        type=int,
        metavar="PORT",
        help=f"wait for a caller on PORT (default {DEFAULT_PORT}; 0 = any free port)",
    )
    p.add_argument(
        "--bind",
        default="*",
        metavar="ADDR",
        help="with --listen: the interface to listen on (default: all; 127.0.0.1 for this machine only)",
    )
    p.add_argument("--peer-key", metavar="KEY", help="the listener's public key (remembered for HOST:PORT)")
    p.add_argument(
        "--accept-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept a caller's public key (repeatable; remembered)",
    )
    p.add_argument("--name", default="", help="how you are introduced to the peer")
    add_source_flag(p)
    add_driver_flags(p)
    one_way = p.add_mutually_exclusive_group()
    one_way.add_argument("--send-only", action="store_true", help="present: send your avatar, show nothing")
    one_way.add_argument("--receive-only", action="store_true", help="watch: show the peer, send nothing")
    add_avatar_flags(p)
    add_output_flags(p)
    add_view_flags(
        p, views=None, view_size=None, views_help="24 on a Looking Glass, else 1",
        size_help="as in a live call on this machine: 192 without a GPU",
    )  # fmt: skip
    p.add_argument(
        "--crop-size", type=int, default=256, help="size of the face crop sent per frame (64..512)"
    )
    p.add_argument("--jpeg-quality", type=int, default=70, help="JPEG quality of the sent crops (10..100)")
    p.add_argument("--max-kBps", type=float, default=None, help="cap what this side sends (kB/s)")
    p.add_argument("--no-audio", action="store_true", help="no microphone or speaker")
    p.add_argument("--audio-in", type=Path, default=None, help="a 16-bit WAV file instead of the microphone")
    p.add_argument("--audio-out", type=Path, default=None, help="write the peer's audio to a WAV file")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="end the call after this")
    p.add_argument(
        "--metrics-out", type=Path, default=None, metavar="FILE.json", help="state, bandwidth, latency"
    )
    p.add_argument(
        "--snapshot", type=Path, default=None, metavar="FILE.png", help="last frontal view of the peer"
    )
    p.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE.mp4",
        help="record the peer as shown (quilt video, named by the quilt convention) with their voice",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --record file")


def _split_host(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, DEFAULT_PORT


def _peer_key(args, known, address: str, interactive: bool) -> bytes:
    from pipeline.security import fingerprint, parse_public_key

    if args.peer_key:
        key = parse_public_key(args.peer_key)
        known.add(key, host=address)
        return key
    peer = known.key_for_host(address)
    if peer is not None:
        return peer.key.encode("ascii")
    if not interactive:
        raise ValueError(
            f"no key known for {address}: pass --peer-key KEY (on that machine 'voodoo-holo keys' prints it)"
        )
    text = input(f"{address} is not known yet. Paste its public key (they see it with 'voodoo-holo keys'): ")
    key = parse_public_key(text)
    answer = input(f"fingerprint {fingerprint(key)}: does it match theirs? Remember it for {address}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise ValueError("call cancelled: the key was not confirmed")
    known.add(key, host=address)
    return key


def _record_path(args: argparse.Namespace, quilt: Any, receives: bool) -> Path | None:
    """``--record`` named by the quilt convention; refused when there is nothing to record or the
    file exists without ``--force`` (raises ValueError)."""
    if args.record is None:
        return None
    if not receives:
        raise ValueError("--record records the peer, and --send-only shows nothing to record")
    from app.outputs import check_new_file
    from display.quilt import quilt_filename

    given = args.record.expanduser()
    path = given.with_name(quilt_filename(given.stem, quilt, given.suffix or ".mp4"))
    check_new_file(path, flag="--record", force=args.force)
    print(f"recording the peer to {path}")
    return path


def _build(args: argparse.Namespace):
    from app.call.session import AudioConfig, CallConfig
    from app.compose import AvatarChoice, choose_avatar, choose_output, resolve_source
    from app.live.layouts import auto_layout
    from app.options import views_from_args
    from app.paths import user_paths
    from app.platform import count_cuda_gpus
    from pipeline.call.audio import AudioFormat
    from pipeline.call.media import MediaSettings
    from pipeline.call.transport import LinkSettings
    from pipeline.security import KnownPeers, load_or_create_keypair, parse_public_key

    if args.listen is not None and args.peer is not None:
        raise ValueError("give either --listen [PORT] or the peer to call (HOST[:PORT]), not both")
    if args.listen is None and args.peer is None:
        raise ValueError("wait for a call with --listen [PORT], or give the peer to call: HOST[:PORT]")
    interactive = sys.stdin.isatty()
    keypair = load_or_create_keypair(user_paths().keys_dir)
    known = KnownPeers.load(user_paths().known_peers_file)
    accept = set()
    for k in args.accept_key:
        key = parse_public_key(k)
        known.add(key)
        accept.add(key)
    if args.listen is not None:
        if not 0 <= args.listen <= 65535:
            raise ValueError(f"port {args.listen} is not 0..65535")
        bind = f"[{args.bind}]" if ":" in args.bind else args.bind
        link_kw: dict[str, Any] = {"mode": "listen", "endpoint": f"tcp://{bind}:{args.listen}"}
    else:
        host, port = _split_host(args.peer)
        h = f"[{host}]" if ":" in host else host
        address = f"{h}:{port}"
        key = _peer_key(args, known, address, interactive)
        link_kw = {"mode": "dial", "endpoint": f"tcp://{address}", "peer_key": key}
    sends, receives = not args.receive_only, not args.send_only
    source = resolve_source(args.source) if sends else None
    avatar, gpus = AvatarChoice("mesh"), 0
    if receives:
        gpus = 0 if args.backend == "mesh" else count_cuda_gpus()
        avatar = choose_avatar(args.backend, args.weights, precision=args.precision, count_gpus=lambda: gpus)
    requested: Literal["headless", "preview", "auto"] = "auto"
    if args.headless or not receives:
        requested = "headless"
    elif args.preview:
        requested = "preview"
    output = choose_output(
        requested, args.calibration, headless_hint="use --metrics-out / --snapshot to see what happens"
    )
    plan = views_from_args(
        args, output, views=24 if output.kind == "lookingglass" else 1, view_size=auto_layout(gpus).view_size
    )
    if args.no_audio:
        audio = AudioConfig("off")
    elif args.audio_in or args.audio_out:
        audio = AudioConfig("files", args.audio_in, args.audio_out, AudioFormat())
    else:
        audio = AudioConfig("device")
    name = args.name or (source.stem if source else "")
    for note in (avatar.note, output.note):
        if note:
            print(note)
    cfg = CallConfig(
        link=LinkSettings(name=name, sends=sends, receives=receives, max_kBps=args.max_kBps, **link_kw),
        source=source,
        driver=args.driver,
        loop_driver=not args.no_loop,
        avatar=avatar,
        output=output,
        plan=plan,
        media=MediaSettings(args.crop_size, args.jpeg_quality),
        audio=audio,
        duration_s=args.duration,
        metrics_out=args.metrics_out,
        snapshot=args.snapshot,
        record=_record_path(args, plan.quilt, receives),
        interactive=interactive,
    )
    return cfg, keypair, known, accept


def run(args: argparse.Namespace) -> int:
    from app.call.session import CallError, CallSession
    from app.compose import ChoiceError
    from pipeline.call.audio import AudioUnavailableError
    from pipeline.security import SecurityError

    try:
        cfg, keypair, known, accept = _build(args)
    except (CallError, ChoiceError, SecurityError, ValueError) as e:
        print(f"voodoo-holo call: {e}", file=sys.stderr)
        return 2
    try:
        return CallSession(cfg, keypair, known, accept).run()
    except (CallError, AudioUnavailableError) as e:
        print(f"voodoo-holo call: {e}", file=sys.stderr)
        return 1
