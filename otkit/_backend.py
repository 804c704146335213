"""One registry of compute backends.

``backend="auto" | "cpp" | "numba"`` on every public function; ``OTKIT_BACKEND`` in the environment
sets what ``"auto"`` means. Asking for a backend that is not available raises; otkit never silently
falls back from an explicit request.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os

BACKENDS = ("cpp", "numba")
_AUTO_ORDER = ("cpp", "numba")  # fastest first

_ext = None
_ext_error = None
try:  # the compiled C++ kernels
    from . import _ext as _ext  # type: ignore[no-redef]
except Exception as exc:  # pragma: no cover - depends on the build
    _ext = None
    _ext_error = f"{type(exc).__name__}: {exc}"


def ext():
    """The compiled module ``otkit._ext`` (raises when it did not build)."""
    if _ext is None:
        raise RuntimeError(
            "otkit's C++ extension (otkit._ext) is not available"
            + (f" ({_ext_error})" if _ext_error else "")
            + "; reinstall with a C++17 compiler, or use backend='numba'."
        )
    return _ext


@functools.lru_cache(maxsize=None)
def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def is_available(name: str) -> bool:
    if name == "cpp":
        return _ext is not None
    if name == "numba":
        return numba_available()
    return False


def available_backends() -> list[str]:
    """Names of the backends that can run here, fastest first."""
    return [b for b in _AUTO_ORDER if is_available(b)]


def default_backend() -> str:
    """What ``backend="auto"`` resolves to (``OTKIT_BACKEND`` respected)."""
    return resolve_backend("auto")


def resolve_backend(backend: str | None = "auto") -> str:
    """Turn ``backend`` (``"auto"``, ``"cpp"``, ``"numba"`` or None) into an available backend name."""
    if backend is None:
        backend = "auto"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, one of {('auto',) + BACKENDS}, got {backend!r}")
    name = backend.lower()
    if name == "auto":
        env = os.environ.get("OTKIT_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(f"OTKIT_BACKEND={env!r} is not a backend; choose one of {('auto',) + BACKENDS}")
            name = env
        else:
            avail = available_backends()
            if not avail:
                raise RuntimeError("no otkit backend is available: neither the C++ extension nor numba")
            return avail[0]
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {('auto',) + BACKENDS}")
    if not is_available(name):
        if name == "cpp":
            ext()  # raises with the reason
        raise RuntimeError(f"backend {name!r} is not available (is numba installed?)")
    return name


def numba_module(family: str):
    """Import ``otkit._numba.<family>`` (compiles lazily on first use)."""
    if not numba_available():
        raise RuntimeError("backend 'numba' is not available: install numba")
    return importlib.import_module(f"otkit._numba.{family}")
