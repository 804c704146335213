"""The ``otkit`` command (console script ``otkit = "otkit.cli:main"``).

Subcommands: ``bench`` (otkit.bench.cli) and, when the proximal module is present, ``gan``
(otkit.proximal.cli).
"""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .bench import cli as bench_cli

    ap = argparse.ArgumentParser(prog="otkit", description="otkit: numerical optimal transport with compiled kernels")
    ap.add_argument("--version", action="version", version=f"otkit {__version__}")
    sp = ap.add_subparsers(dest="command", metavar="COMMAND")
    bench_cli.add_parser(sp)
    try:
        from .proximal import cli as gan_cli  # written on the GAN branch
    except ImportError:
        gan_cli = None
    if gan_cli is not None:
        gan_cli.add_parser(sp)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help()
        return 0
    if args.command == "bench":
        from .bench import cli as bench_cli

        return bench_cli.run(args)
    func = getattr(args, "func", None) or getattr(args, "_func", None)
    if func is None:
        ap.error(f"no handler for {args.command!r}")
    rc = func(args)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
