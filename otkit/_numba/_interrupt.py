"""Ctrl-C for the Numba kernels. A jitted loop cannot see signals (Python runs its handlers only between
bytecodes of the main thread), so a long call from the main thread runs the kernel in a worker thread (the
kernels release the GIL) while the main thread waits in 50 ms slices: Ctrl-C raises KeyboardInterrupt
there, sets ``stop[0] = 1``, which the kernel reads at every iteration and returns, and the worker is
joined before the exception propagates (no thread left running). The kernels' arithmetic is unchanged:
``stop`` is only read. Short calls (under ~0.2 s of estimated work) run directly."""
from __future__ import annotations

import threading

import numpy as np

SHORT = 2e7  # entries x iterations under which a call runs directly (it returns within ~0.2 s anyway)


def run(kernel, *args, work=float("inf")):
    """kernel(*args, stop) with ``stop`` a 1-element int64 array; see the module docstring."""
    stop = np.zeros(1, dtype=np.int64)
    if work < SHORT or threading.current_thread() is not threading.main_thread():
        return kernel(*args, stop)
    box = {}

    def target():
        try:
            box["out"] = kernel(*args, stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["exc"] = exc

    worker = threading.Thread(target=target, name="otkit-numba-kernel", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:  # KeyboardInterrupt (or another async exception): stop the kernel, then re-raise
        stop[0] = 1
        worker.join()
        raise
    if "exc" in box:
        raise box["exc"]
    return box["out"]
