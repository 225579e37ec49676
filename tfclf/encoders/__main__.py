"""``python -m tfclf.encoders``: list the encoder registry, or build an offline encoder.

Usage::

    python -m tfclf.encoders list
    python -m tfclf.encoders build minilm [--force]
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from tfclf import cli, encoders


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf encoders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="Print the encoder registry.")
    build = sub.add_parser("build", help="Convert an offline encoder into the cache.")
    build.add_argument("name", help=f"One of {sorted(encoders.BUILDERS)}.")
    build.add_argument("--force", action="store_true", help="Rebuild even if cached.")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> None:
        if args.command == "list":
            sys.stdout.write(encoders.format_table() + "\n")
        else:
            sys.stdout.write(f"{encoders.ensure_built(args.name, force=args.force)}\n")

    return cli.run_main(run)


if __name__ == "__main__":
    sys.exit(main())
