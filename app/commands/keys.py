"""``voodoo-holo keys``: this machine's call key, and the peers it accepts.

::

    voodoo-holo keys                              create (first time) and print the public key
    voodoo-holo keys --accept KEY [--name alice]  accept a peer's key (they printed it with 'keys')
    voodoo-holo keys --accept KEY --host H:PORT   ... and remember it as the key of that address
    voodoo-holo keys --forget alice               remove a peer (name, key or fingerprint)
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--accept", metavar="KEY", help="accept a peer's public key (40 characters)")
    p.add_argument("--name", default="", help="a name for the accepted peer")
    p.add_argument("--host", default=None, metavar="HOST:PORT", help="the address this key answers on")
    p.add_argument("--forget", metavar="NAME|KEY|FINGERPRINT", help="remove an accepted peer")
    p.add_argument("--quiet", action="store_true", help="print only the public key")


def run(args: argparse.Namespace) -> int:
    from app.paths import user_paths
    from pipeline.security import KnownPeers, SecurityError, fingerprint, load_or_create_keypair

    try:
        kp = load_or_create_keypair(user_paths().keys_dir)
        peers = KnownPeers.load(user_paths().known_peers_file)
        if args.accept:
            peer = peers.add(args.accept, name=args.name, host=args.host)
            print(f"accepted {peer.label()}")
        if args.forget:
            gone = peers.remove(args.forget)
            if gone is None:
                print(f"voodoo-holo keys: no accepted peer matches {args.forget!r}", file=sys.stderr)
                return 1
            print(f"forgot {gone.label()}")
    except SecurityError as e:
        print(f"voodoo-holo keys: {e}", file=sys.stderr)
        return 2
    if args.quiet:
        print(kp.public_text)
        return 0
    print(f"this machine's public key: {kp.public_text}")
    print(f"fingerprint:               {fingerprint(kp.public)}")
    print("give the key to the people you call; they accept it with 'voodoo-holo keys --accept KEY'")
    if peers.peers:
        print(f"\naccepted peers ({peers.path}):")
        for p in peers.peers:
            hosts = f"  at {', '.join(p.hosts)}" if p.hosts else ""
            print(f"  {p.label()}  {p.key}{hosts}")
    else:
        print("\nno accepted peers yet")
    return 0
