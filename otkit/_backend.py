"""One registry of compute backends.

``backend="auto" | "cpp" | "numba" | "cuda"`` on every public function; ``OTKIT_BACKEND`` in the
environment sets what ``"auto"`` means. Asking for a backend that is not available raises; otkit never
silently falls back from an explicit request.

``"cuda"`` runs the kernels of ``otkit._cuda`` on a GPU, for the kernel families listed in
``CUDA_FAMILIES``. Arrays already in GPU memory (torch CUDA tensors, CuPy arrays) are used in place, and
for them the family's ``"auto"`` is the GPU (otkit/bregman.py). NumPy arrays are copied to the GPU at each
call, which does not pay for small problems, so for them ``"auto"`` resolves to a CPU backend here and the
GPU is asked for by name (or by ``OTKIT_BACKEND=cuda``, which applies to those families only).
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os

BACKENDS = ("cpp", "numba", "cuda")
_AUTO_ORDER = ("cpp", "numba")  # fastest first (cuda: by name only)
CUDA_FAMILIES = ("sinkhorn",)  # kernel families with CUDA kernels

from . import _build

_build.configure_openmp()  # before the first OpenMP runtime of the process is loaded
_ext, _ext_error, _ext_target = _build.load_cpu_extension()
_cuda, _cuda_error = _build.load_module("otkit._cuda")
if _ext is None:
    _build.warn_fallback(_ext_error)


@functools.lru_cache(maxsize=None)
def cuda_device_count() -> int:
    """CUDA devices otkit's CUDA kernels can use (0 when otkit._cuda is not built or no GPU is present)."""
    return int(_cuda.device_count()) if _cuda is not None else 0


def cuda():
    """The compiled module ``otkit._cuda`` (raises when it is not built or no GPU is present)."""
    if _cuda is None:
        raise RuntimeError(
            "otkit's CUDA extension (otkit._cuda) is not available"
            + (f" ({_cuda_error})" if _cuda_error else "")
            + "; it is built when nvcc is found at install time (see OTKIT_NO_CUDA, CUDA_HOME)."
        )
    if cuda_device_count() == 0:
        raise RuntimeError("backend 'cuda': otkit._cuda is built but no CUDA device is visible "
                           "(check the driver and CUDA_VISIBLE_DEVICES)")
    return _cuda


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
    if name == "cuda":
        return cuda_device_count() > 0
    return False


def available_backends() -> list[str]:
    """Names of the backends that can run here, fastest first."""
    return [b for b in _AUTO_ORDER if is_available(b)]


def default_backend() -> str:
    """What ``backend="auto"`` resolves to (``OTKIT_BACKEND`` respected)."""
    return resolve_backend("auto")


def env_backend() -> str:
    """``OTKIT_BACKEND`` (lower case; "" when unset), the preference ``backend="auto"`` follows."""
    return os.environ.get("OTKIT_BACKEND", "").strip().lower()


# kernel family -> its module in otkit._numba (the families of otkit._ext share one module)
FAMILIES = {"sinkhorn": "sinkhorn", "unbalanced": "unbalanced", "barycenter": "barycenter", "emd": "emd",
            "semidual": "semidual", "multiscale": "multiscale"}


def kernels(backend: str | None, family: str):
    """The one dispatch helper of every solver family: ``(name, module)`` where ``module`` holds the family's
    kernels with the same names and arguments on every backend (``otkit._ext``, ``otkit._cuda`` or
    ``otkit._numba.<family>``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}")
    name = resolve_backend(backend, family=family)
    if name == "cuda":
        return name, cuda()
    return name, (ext() if name == "cpp" else numba_module(FAMILIES[family]))


def resolve_backend(backend: str | None = "auto", family: str | None = None) -> str:
    """Turn ``backend`` (``"auto"``, ``"cpp"``, ``"numba"``, ``"cuda"`` or None) into an available backend
    name for the kernel family ``family`` (``"cuda"`` only where the family has CUDA kernels)."""
    if backend is None:
        backend = "auto"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, one of {('auto',) + BACKENDS}, got {backend!r}")
    name = backend.lower()
    if name == "auto":
        env = env_backend()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(f"OTKIT_BACKEND={env!r} is not a backend; choose one of {('auto',) + BACKENDS}")
            name = env
            if name == "cuda" and family not in CUDA_FAMILIES:  # the preference covers the CUDA families
                name = "auto"
        if name == "auto":
            avail = available_backends()
            if not avail:
                raise RuntimeError("no otkit backend is available: neither the C++ extension nor numba")
            return avail[0]
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {('auto',) + BACKENDS}")
    if name == "cuda" and family not in CUDA_FAMILIES:
        raise ValueError(f"backend 'cuda' has no kernels for {family or 'this function'}; "
                         f"it runs {', '.join(CUDA_FAMILIES)} (use backend='cpp' or 'auto' here)")
    if not is_available(name):
        if name == "cpp":
            ext()  # raises with the reason
        if name == "cuda":
            cuda()  # raises with the reason
        raise RuntimeError(f"backend {name!r} is not available (is numba installed?)")
    return name


def numba_module(family: str):
    """Import ``otkit._numba.<family>`` (compiles lazily on first use)."""
    if not numba_available():
        raise RuntimeError("backend 'numba' is not available: install numba")
    return importlib.import_module(f"otkit._numba.{family}")
