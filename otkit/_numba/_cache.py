"""Keep Numba's on-disk cache of this package consistent across its modules.

Numba invalidates a cached function when *its own* source file changes, but not when a function it calls
from another file does (its machine code is part of the cached library): a cache written for an older
``sinkhorn.py`` can then be loaded by ``unbalanced.py`` and crash the process. Here the package keeps one
fingerprint of all its sources; when it differs from the one the cache was written with, the package's
cache files (``__pycache__/*.nbi``, ``*.nbc``) are removed before anything is compiled or loaded.
"""
from __future__ import annotations

import glob
import hashlib
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_STAMP = os.path.join(_HERE, "__pycache__", "otkit_numba_sources.sha256")


def fingerprint() -> str:
    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(_HERE, "*.py"))):
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    return h.hexdigest()


def ensure_consistent() -> None:
    """Drop the package's Numba cache if the sources changed since it was written (best effort: a read-only
    install keeps its cache, which Numba then only reads)."""
    try:
        current = fingerprint()
        try:
            with open(_STAMP) as f:
                if f.read().strip() == current:
                    return
        except OSError:
            pass
        for path in glob.glob(os.path.join(_HERE, "__pycache__", "*.nb[ic]")):
            try:
                os.remove(path)
            except OSError:
                pass
        os.makedirs(os.path.dirname(_STAMP), exist_ok=True)
        with open(_STAMP, "w") as f:
            f.write(current + "\n")
    except OSError:
        pass
