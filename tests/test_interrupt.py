"""Ctrl-C (SIGINT) stops long kernel calls (issue 20): csrc/common/interrupt.h.

A child process starts one long call (it would run for minutes), the parent sends SIGINT 1 s later,
and the child must print the marker of its ``except KeyboardInterrupt`` and exit within 2 s more. The
child then runs a small problem again in the same process (nothing left in a bad state).

The long Numba kernels (Sinkhorn balanced and unbalanced, the network simplex, the barycenters) run in a
worker thread when called from the main thread and stop at the next iteration (pivot) once Ctrl-C is seen
(otkit/_numba/_interrupt.py); the semi-dual solvers return to Python every 16384 steps.
"""
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import CHILD_CWD, child_env, require_backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    import otkit
    from otkit._backend import ext
    _ext = ext()  # the module loaded for this CPU
    from otkit._numba import emd as _numba_emd
    warnings.simplefilter("ignore")
    kind, be = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    d = 2000
    M = rng.random((d, d))
    M /= np.median(M)
    a = b = np.full(d, 1 / d)
    kw = dict(numItermax=10**7, stopThr=0.0, backend=be)
    if kind == "emd":  # a supermodular cost: ~3e6 pivots at d = 4000, ~10 s (the call checks in its pivot loop)
        d = 4000
        x, y = rng.random(d), rng.random(d)
        M = np.ascontiguousarray(-np.outer(x, y) + 1.0)
        a = b = np.full(d, 1 / d)
    A = rng.random((d, 3))
    A /= A.sum(axis=0)
    imgs = rng.random((3, 300, 300)) + 0.1
    imgs /= imgs.sum(axis=(1, 2), keepdims=True)
    calls = {
        "sinkhorn": lambda: otkit.sinkhorn2(a, b, M, 0.1, **kw),
        "sinkhorn_log": lambda: otkit.sinkhorn2(a, b, M, 0.1, method="sinkhorn_log", **kw),
        "sinkhorn_stabilized": lambda: otkit.sinkhorn(a, b, M, 0.1, method="sinkhorn_stabilized", **kw),
        "batched": lambda: otkit.sinkhorn2(a, np.tile(b[:, None], (1, 5)), M, 0.1, **kw),
        "unbalanced": lambda: otkit.sinkhorn_unbalanced2(a, b, M, 0.1, 1.0, **kw),
        "unbalanced_log": lambda: otkit.sinkhorn_unbalanced2(a, b, M, 0.1, 1.0, method="sinkhorn_log", **kw),
        "emd": lambda: (_ext if be == "cpp" else _numba_emd).emd_network_simplex(M, a, b, 10**12),
        "barycenter": lambda: otkit.barycenter(A, M, 0.1, **kw),
        "barycenter_log": lambda: otkit.barycenter(A, M, 0.1, method="sinkhorn_log", **kw),
        "barycenter_stabilized": lambda: otkit.barycenter(A, M, 0.1, method="sinkhorn_stabilized", **kw),
        "conv_barycenter": lambda: otkit.convolutional_barycenter2d(
            imgs, 0.01, numItermax=kw["numItermax"], stopThr=0.0, backend=be),
        "semidual": lambda: otkit.stochastic.solve_semi_dual_entropic(a, b, M, 1.0, "SAG",
                                                                      numItermax=kw["numItermax"] * 1000,
                                                                      backend=be, warn=False),
        "semidual_sag": lambda: _ext.semidual_sag_f64(
            M, a, b, 1.0, 1.0, rng.integers(0, d, 5 * 10**6), np.zeros(d), np.zeros((d, d)), np.zeros(d)),
        "semidual_sgd": lambda: _ext.semidual_sgd_f64(
            M, b, 1.0, 1.0, rng.integers(0, d, 10**7), 8, 0, True, np.zeros(d), np.zeros(d), 2),
    }
    call = calls[kind]
    if be == "numba":  # compile (or load from the cache) on a small problem first: the test times the call
        saved = a, b, M, A, imgs
        a, b, M = a[:4] * d / 4, b[:4] * d / 4, M[:4, :4].copy()
        A, imgs = A[:4] / A[:4].sum(0), imgs[:, :8, :8] / imgs[:, :8, :8].sum((1, 2), keepdims=True)
        kw["numItermax"] = 20
        calls[kind]()
        a, b, M, A, imgs = saved
        kw["numItermax"] = 10**7
    print("START", flush=True)
    try:
        call()
        print("FINISHED", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    # the process goes on normally
    small = otkit.sinkhorn2(a[:3] * d / 3, b[:3] * d / 3, M[:3, :3], 1.0, backend=be if be != "cuda" else "cpp")
    print("AGAIN", np.isfinite(small), flush=True)
    """
)

KINDS = ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "batched", "emd", "barycenter", "barycenter_log",
         "barycenter_stabilized", "conv_barycenter", "semidual_sag", "semidual_sgd"]


@pytest.mark.parametrize("kind", KINDS)
def test_sigint_stops_long_cpp_call(kind):
    require_backend("cpp")
    _run_and_time(kind, "cpp")


@pytest.mark.parametrize("kind", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "batched", "unbalanced",
                                  "unbalanced_log", "emd", "barycenter", "barycenter_log", "barycenter_stabilized",
                                  "conv_barycenter", "semidual"])
def test_sigint_stops_long_numba_call(kind):
    require_backend("numba")
    _run_and_time(kind, "numba")


@pytest.mark.parametrize("kind", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "batched"])
def test_sigint_stops_long_cuda_call(kind):
    require_backend("cuda")
    _run_and_time(kind, "cuda")


def _run_and_time(kind, backend, grace=2.0):
    p = subprocess.Popen([sys.executable, "-c", CHILD, kind, backend], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env(), cwd=CHILD_CWD)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x.strip()) for x in p.stdout], daemon=True)
    reader.start()
    try:
        first = None
        deadline = time.monotonic() + 120  # imports and set-up first; a child that died is seen at once
        while first is None and time.monotonic() < deadline:
            try:
                first = lines.get(timeout=0.5)
            except queue.Empty:
                if p.poll() is not None and lines.empty():
                    break
        assert first == "START", (first, p.stderr.read() if p.poll() is not None else "")
        time.sleep(1.0)
        assert p.poll() is None, "the call ended before the signal"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        try:
            marker = lines.get(timeout=grace)
        except queue.Empty:
            pytest.fail(f"{kind}: no KeyboardInterrupt {grace} s after SIGINT")
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{kind}: still running {grace} s after SIGINT (marker {marker!r})")
        exited = time.monotonic() - t0
        reader.join(5)
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        err = p.stderr.read()
        assert marker == "INTERRUPTED", (marker, rest, err)
        assert exited < grace, f"{kind}: the child exited {exited:.2f} s after SIGINT"
        assert p.returncode == 0, (p.returncode, err)
        assert "AGAIN True" in rest, (rest, err)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
