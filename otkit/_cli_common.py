"""What the ``otkit bench`` and ``otkit gan`` command lines share.

* Argument types for argparse (:func:`int_arg`, :func:`float_arg`, :func:`int_list_arg`,
  :func:`float_list_arg`): a bad value stops the command at parse time with argparse's
  ``argument --flag: ...`` message, so the user reads the flag they typed.
* :func:`check_out_dir`: the ``--out`` folder is created and checked for writing before any work starts.
* :class:`HelpFormatter`: ``--help`` text that does not break ``./otkit-bench`` or ``--eval-n`` at the hyphen.
* :class:`CLIError` and :func:`report`: an error found after parsing ends the command the way argparse
  does, ``otkit <command>: error: <message>`` on stderr and exit status 2, never a traceback.

Nothing here imports torch or the benchmark dependencies.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from pathlib import Path


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, without line breaks at hyphens (``./otkit-bench``, ``--eval-n`` stay whole)."""

    def _split_lines(self, text, width):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False)

    def _fill_text(self, text, width, indent):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)


class CLIError(ValueError):
    """A bad command line found after parsing; :func:`otkit.cli.main` prints it and returns 2."""


def report(prog: str, exc) -> int:
    """Print ``<prog>: error: <exc>`` on stderr (argparse's format) and return the exit status 2."""
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 2


def check_out_dir(out, flag: str = "--out") -> Path:
    """Create the folder ``out`` (with its parents) and check that a file can be written in it.

    Raises :class:`CLIError` (a ``ValueError``) naming ``flag`` when ``out`` is an existing file or cannot
    be created or written.
    """
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise CLIError(f"{flag} {str(out)!r} is an existing file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".otkit_write_test_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise CLIError(f"{flag} {str(out)!r} cannot be written: {exc.strerror or exc}") from None
    return p


def _int(tok: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{tok!r} is not an integer") from None


def _float(tok: str) -> float:
    try:
        return float(tok)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{tok!r} is not a number") from None


def int_arg(minimum: int = 1):
    """argparse type: an integer >= ``minimum``."""
    def parse(s):
        v = _int(str(s).strip())
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
        return v
    parse.__name__ = "integer"
    return parse


def float_arg(allow_inf: bool = False):
    """argparse type: a finite number > 0 (``allow_inf``: also ``inf``/``infinity``)."""
    def parse(s):
        s = str(s).strip()
        if allow_inf and s.lower() in ("inf", "+inf", "infinity"):
            return math.inf
        v = _float(s)
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(
                f"must be a finite number > 0{' (or inf)' if allow_inf else ''}, got {s}")
        return v
    parse.__name__ = "number"
    return parse


def int_list_arg():
    """argparse type: comma-separated positive integers, e.g. ``64,128,256``."""
    def parse(s):
        out = []
        for tok in str(s).split(","):
            tok = tok.strip()
            try:
                v = int(tok)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{tok!r} is not an integer (expected e.g. 64,128,256)") from None
            if v < 1:
                raise argparse.ArgumentTypeError(f"{v} is not a positive integer")
            out.append(v)
        return out
    parse.__name__ = "integer list"
    return parse


def float_list_arg():
    """argparse type: comma-separated finite numbers > 0, e.g. ``1,0.1,0.02``."""
    def parse(s):
        out = []
        for tok in str(s).split(","):
            tok = tok.strip()
            v = _float(tok)
            if not (v > 0 and math.isfinite(v)):
                raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {tok}")
            out.append(v)
        return out
    parse.__name__ = "number list"
    return parse
