"""The ``otkit`` command (console script ``otkit = "otkit.cli:main"``).

Subcommands: ``bench`` (otkit.bench.cli: sweep vs POT/FastEMD, batch, bandwidth, knn) and ``gan``
(otkit.proximal.cli: Wasserstein-proximal GAN training; needs torch, ``pip install "otkit[gan]"``).
``python -m otkit ...`` is the same command (otkit/__main__.py).

Errors in the command line end with ``otkit <command>: error: <message>`` on stderr and exit status 2
(argparse's convention), whether argparse finds them or the command does (otkit._cli_common.CLIError).
"""
from __future__ import annotations

import argparse
import sys

from ._cli_common import CLIError, report


def _add_gan(subparsers):
    try:
        from .proximal.cli import add_parser
    except ImportError as exc:  # torch missing: keep the subcommand, explain how to get it
        msg = str(exc)
        p = subparsers.add_parser("gan", help="train a GAN (needs the gan extra: pip install \"otkit[gan]\")",
                                  add_help=False)
        p.set_defaults(func=lambda args: report("otkit gan", msg), _any_args=True)
        return p
    return add_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .bench import cli as bench_cli

    ap = argparse.ArgumentParser(prog="otkit", description="otkit: numerical optimal transport with compiled kernels")
    ap.add_argument("--version", action="version", version=f"otkit {__version__}")
    sp = ap.add_subparsers(dest="command", metavar="COMMAND")
    bench_cli.add_parser(sp)
    _add_gan(sp)
    return ap


def main(argv=None) -> int:
    """Entry point of the ``otkit`` console script; returns the exit status."""
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    if extra and not getattr(args, "_any_args", False):
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        ap.print_help()
        return 0
    try:
        if args.command == "bench":
            from .bench import cli as bench_cli

            return bench_cli.run(args)
        return int(args.func(args) or 0)
    except CLIError as exc:  # a bad command line found after parsing: like argparse, no traceback
        return report(f"otkit {args.command}", exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
