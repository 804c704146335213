"""The ``otkit`` command: ``otkit <subcommand> ...`` (``otkit gan --help``)."""
from __future__ import annotations

import argparse
import sys


def _add_gan(subparsers):
    try:
        from .proximal.cli import add_parser
    except ImportError as exc:  # torch missing: keep the subcommand, explain how to get it
        msg = str(exc)
        p = subparsers.add_parser("gan", help="train a GAN (needs the gan extra: pip install \"otkit[gan]\")",
                                  add_help=False)
        p.set_defaults(func=lambda args: (print(f"error: {msg}", file=sys.stderr), 2)[1], _any_args=True)
        return p
    return add_parser(subparsers)


def build_parser():
    parser = argparse.ArgumentParser(prog="otkit", description="otkit: numerical optimal transport")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    _add_gan(sub)
    return parser


def main(argv=None):
    """Entry point of the ``otkit`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_any_args", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
