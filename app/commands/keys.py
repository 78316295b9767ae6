"""``voodoo-holo keys``: this machine's call key, and the peers it accepts.

::

    voodoo-holo keys                              create (first time) and print the public key
    voodoo-holo keys --accept KEY [--name alice]  accept a peer's key (they printed it with 'keys')
    voodoo-holo keys --accept KEY --host H:PORT   ... and remember it as the key of that address
    voodoo-holo keys --forget alice               remove a peer (name, key or fingerprint)

Keys are printed in the shareable form (``vhk1_...``, see :mod:`pipeline.security`), which pastes
into any shell as it is; the older 40-character Z85 form is read everywhere too.
"""

from __future__ import annotations

import argparse
import sys

#: Options of any command whose value is a public key.
KEY_OPTIONS = ("--accept", "--forget", "--peer-key", "--accept-key", "--server-key")


def join_key_values(argv: list[str]) -> list[str]:
    """``--peer-key -x...`` -> ``--peer-key=-x...`` when the value is a public key.

    A Z85 key may begin with ``-``; argparse takes such a word for an option and stops with
    "expected one argument". Only words that parse as a key are joined, so a missing value is
    still reported as one.
    """
    from pipeline.security import SecurityError, parse_public_key

    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return out + argv[i:]
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if word in KEY_OPTIONS and value.startswith("-"):
            try:
                parse_public_key(value)
            except SecurityError:
                pass
            else:
                out.append(f"{word}={value}")
                i += 2
                continue
        out.append(word)
        i += 1
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--accept", metavar="KEY", help="accept a peer's public key (as their 'voodoo-holo keys' prints it)"
    )
    p.add_argument("--name", default="", help="a name for the accepted peer")
    p.add_argument("--host", default=None, metavar="HOST:PORT", help="the address this key answers on")
    p.add_argument("--forget", metavar="NAME|KEY|FINGERPRINT", help="remove an accepted peer")
    p.add_argument("--quiet", action="store_true", help="print only the public key")


def run(args: argparse.Namespace) -> int:
    from app.paths import user_paths
    from pipeline.security import (
        KnownPeers,
        SecurityError,
        fingerprint,
        load_or_create_keypair,
        shareable_key,
    )

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
        print(kp.shareable)
        return 0
    print(f"this machine's public key: {kp.shareable}")
    print(f"fingerprint:               {fingerprint(kp.public)}")
    print("give the key to the people you call; they accept it with:")
    print(f"  voodoo-holo keys --accept {kp.shareable}")
    if peers.peers:
        print(f"\naccepted peers ({peers.path}):")
        for p in peers.peers:
            hosts = f"  at {', '.join(p.hosts)}" if p.hosts else ""
            print(f"  {p.label()}  {shareable_key(p.key)}{hosts}")
    else:
        print("\nno accepted peers yet")
    return 0
