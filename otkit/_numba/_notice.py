"""A one-line notice on stderr when a Numba kernel family is compiled for the first time.

Every kernel in ``otkit._numba`` is ``@njit(cache=True)``: the first call in a fresh environment
compiles it (seconds to a minute, with nothing on screen), and the machine code is then saved in
Numba's cache (``__pycache__`` next to the module, or ``NUMBA_CACHE_DIR``), so later processes load
it in milliseconds. Numba triggers its ``"numba:compile"`` event only on a cache miss (a hit is
loaded without it), so a listener on that event knows when a real compilation starts; the first one
of a family in a process prints

    otkit: compiling Numba kernels for sinkhorn (one time, about 40 s; cached for later runs)

on stderr, once per family and process. Kernels compiled inside another family's kernel (nested
calls) are covered by the outer notice. When a tqdm bar is on screen the line is written through
``tqdm.write`` so that it lands above the bar instead of inside it.

Why a plain stderr line and not ``warnings.warn``: a warning is two lines (with the source line),
is shown only once per call site by default filters and is collected, not shown, by pytest; the notice
is progress information, not a problem. ``OTKIT_NUMBA_NOTICE=0`` turns it off.
"""
from __future__ import annotations

import os
import sys
import threading

ENV = "OTKIT_NUMBA_NOTICE"

# Compilation time of each family with an empty cache, measured on the 2-core development machine
# (Numba 0.68, load average about 2): sinkhorn 36 s for the kernel form, 25 s for the log-domain,
# 55 s for both; emd 13 s (emd2 and emd); barycenter 4 s (sinkhorn) to 15 s (log, stabilized,
# convolutional 2-D); semidual 3 s (SAG and ASGD). A faster machine takes less, a loaded one more.
ESTIMATE_S = {"sinkhorn": 40, "emd": 15, "barycenter": 10, "semidual": 5}
# modules that are helpers of a family, not a family of their own
FAMILY_OF = {"_vexp": "sinkhorn"}

_announced: set = set()
_local = threading.local()
_installed = False


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def family_of(dispatcher) -> str | None:
    """The kernel family of a Numba dispatcher defined in ``otkit._numba.<family>``, else None."""
    mod = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
    if not mod.startswith("otkit._numba."):
        return None
    name = mod.rsplit(".", 1)[1]
    return FAMILY_OF.get(name, name)


def message(family: str) -> str:
    est = ESTIMATE_S.get(family)
    about = f"about {est} s" if est else "up to a minute"
    return f"otkit: compiling Numba kernels for {family} (one time, {about}; cached for later runs)"


def _write(line: str) -> None:
    tq = sys.modules.get("tqdm")
    try:
        if tq is not None and getattr(tq.tqdm, "_instances", None):
            tq.tqdm.write(line, file=sys.stderr)
            return
    except Exception:  # pragma: no cover - a tqdm without write(): fall back to a plain line
        pass
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _on_start(dispatcher) -> None:
    fam = family_of(dispatcher)
    if fam is None:
        return
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    if depth == 0 and fam not in _announced:
        _announced.add(fam)
        if enabled():
            _write(message(fam))


def _on_end(dispatcher) -> None:
    if family_of(dispatcher) is not None:
        _local.depth = max(0, getattr(_local, "depth", 1) - 1)


def install() -> bool:
    """Register the listener on Numba's compile event (once per process); False if Numba has no event API."""
    global _installed
    if _installed:
        return True
    try:
        from numba.core import event
    except ImportError:  # pragma: no cover - Numba < 0.53
        return False

    class _Listener(event.Listener):
        def on_start(self, ev):
            try:
                _on_start((ev.data or {}).get("dispatcher"))
            except Exception:  # pragma: no cover - a notice must never break a compilation
                pass

        def on_end(self, ev):
            try:
                _on_end((ev.data or {}).get("dispatcher"))
            except Exception:  # pragma: no cover
                pass

    event.register("numba:compile", _Listener())
    _installed = True
    return True
