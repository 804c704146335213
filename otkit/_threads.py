"""How many threads otkit's kernels use: ``set_num_threads``, ``get_num_threads``, ``num_threads``.

The C++ kernels split a problem into parts only when each thread gets enough work between two
barriers (about 20 microseconds of it), and per iteration they run on all threads or on one,
whichever they measure to be faster (on a busy machine, one). This module sets the most threads a
call uses (like ``torch.set_num_threads``); a call's own ``num_threads=`` takes precedence. Without
either, the OpenMP default applies (``OMP_NUM_THREADS``, or threadpoolctl's
``threadpool_limits(n, user_api="openmp")``). The Numba kernels follow the same setting.
"""
from __future__ import annotations

import contextlib
import sys

from . import _backend
from .utils import check_positive_int


def set_num_threads(n: int) -> None:
    """Use at most ``n`` threads in otkit's kernels (``0``: back to the OpenMP default).

    Parameters
    ----------
    n : int
        Threads, >= 1; more than the processors is capped at their number. ``0`` removes the limit.

    Examples
    --------
    >>> import otkit
    >>> otkit.set_num_threads(1)
    >>> otkit.get_num_threads()
    1
    >>> otkit.set_num_threads(0)
    """
    n = check_positive_int(n, "n", minimum=0)
    if _backend._ext is not None:
        _backend._ext.set_thread_limit(n)
    numba = sys.modules.get("numba")  # only once numba is in use: importing it takes a second
    if numba is not None and hasattr(numba, "set_num_threads"):
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS) if n > 0 else numba.config.NUMBA_NUM_THREADS)


def get_num_threads() -> int:
    """The most threads a kernel call uses now (without a ``num_threads=`` of its own)."""
    if _backend._ext is not None:
        return int(_backend._ext.max_threads())
    numba = sys.modules.get("numba")
    return int(numba.get_num_threads()) if numba is not None else 1


@contextlib.contextmanager
def num_threads(n: int):
    """Context manager: ``with otkit.num_threads(1): ...`` runs the block's kernels on at most ``n`` threads.

    Examples
    --------
    >>> import otkit
    >>> with otkit.num_threads(1):
    ...     otkit.get_num_threads()
    1
    """
    n = check_positive_int(n, "n", minimum=1)
    old = int(_backend._ext.thread_limit()) if _backend._ext is not None else 0
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(old)
