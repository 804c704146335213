"""Numba kernels of the regularized semi-dual stochastic solvers.

Same functions, arguments and results as the C++ bindings in csrc/bind/semidual_bind.cpp
(``semidual_sag_f64``, ``semidual_sgd_f64``, ``semidual_ctransform_f64`` and their ``_f32``
twins): state arrays are updated in place and every function returns an ``otkit._status`` code.
See csrc/cpu/semidual_cpu.h for the algorithms (Genevay, Cuturi, Peyre, Bach 2016, Alg. 1 and 2).
"""
import math

import numba
import numpy as np

from .. import _status
from . import _checks

OK = _status.OK
NUMERICAL_ERROR = _status.NUMERICAL_ERROR
BAD_INPUT = _status.BAD_INPUT


@numba.njit(cache=True, nogil=True)
def _log_weights(b):
    m = b.shape[0]
    logb = np.empty(m, dtype=np.float64)
    for j in range(m):
        logb[j] = math.log(b[j]) if b[j] > 0 else -np.inf
    return logb


@numba.njit(cache=True, nogil=True)
def _row_softmax(C, r, v, logb, reg, p):
    """v^{c,reg} of cost row C[r]; p <- pi (softmax of (v - c)/reg + log b); returns (alpha, argmax)."""
    m = v.shape[0]
    if reg == 0.0:
        best = np.inf
        jb = 0
        for j in range(m):
            s = C[r, j] - v[j]
            if logb[j] > -np.inf and s < best:
                best = s
                jb = j
        for j in range(m):
            p[j] = 0.0
        p[jb] = 1.0
        return best, jb
    inv = 1.0 / reg
    mx = -np.inf
    jb = 0
    for j in range(m):
        z = (v[j] - C[r, j]) * inv + logb[j]
        p[j] = z
        if z > mx:
            mx = z
            jb = j
    s = 0.0
    for j in range(m):
        e = math.exp(p[j] - mx)
        p[j] = e
        s += e
    inv_s = 1.0 / s
    for j in range(m):
        p[j] *= inv_s
    return -reg * (mx + math.log(s)), jb


@numba.njit(cache=True, nogil=True)
def _all_finite(x):
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _sag_kernel(M, a, b, reg, lr, idx, v, G, d):
    """SAG (Alg. 1) over the index stream ``idx``: g = a_i (b - pi(x_i)), d += g - G_i, G_i = g, v += lr/n d."""
    n, m = M.shape
    if not reg > 0:
        return BAD_INPUT
    logb = _log_weights(b)
    p = np.empty(m, dtype=np.float64)
    step = lr / n
    for t in range(idx.shape[0]):
        i = idx[t]
        if i < 0 or i >= n:
            return BAD_INPUT
        _row_softmax(M, i, v, logb, reg, p)
        ai = a[i]
        for j in range(m):
            g = ai * (b[j] - p[j])
            d[j] += g - G[i, j]
            G[i, j] = g
            v[j] += step * d[j]
    return OK if _all_finite(v) else NUMERICAL_ERROR


@numba.njit(cache=True, nogil=True)
def _sgd_kernel(C, b, reg, lr, idx, batch, k0, averaged, v, vbar, num_threads=0):
    """(Averaged) mini-batch SGD (Alg. 2): v += lr/sqrt(k) (b - mean_batch pi), vbar += (v - vbar)/k."""
    rows, m = C.shape
    if batch < 1 or reg < 0 or idx.shape[0] % batch != 0:
        return BAD_INPUT
    for t in range(idx.shape[0]):
        if idx[t] < 0 or idx[t] >= rows:
            return BAD_INPUT
    logb = _log_weights(b)
    p = np.empty(m, dtype=np.float64)
    acc = np.empty(m, dtype=np.float64)
    nsteps = idx.shape[0] // batch
    inv_batch = 1.0 / batch
    for s in range(nsteps):
        acc[:] = 0.0
        for r in range(batch):
            row = idx[s * batch + r]
            if reg == 0.0:
                _, jb = _row_softmax(C, row, v, logb, reg, p)
                acc[jb] += 1.0
            else:
                _row_softmax(C, row, v, logb, reg, p)
                for j in range(m):
                    acc[j] += p[j]
        k = float(k0 + s + 1)
        step = lr / math.sqrt(k)
        w = 1.0 / k
        for j in range(m):
            v[j] += step * (b[j] - acc[j] * inv_batch)
            if averaged:
                vbar[j] += (v[j] - vbar[j]) * w
    if not _all_finite(v):
        return NUMERICAL_ERROR
    if averaged and not _all_finite(vbar):
        return NUMERICAL_ERROR
    return OK


@numba.njit(cache=True, nogil=True)
def _ctransform_kernel(C, b, reg, v, alpha, want_plan, P, want_arg, arg, num_threads=0):
    """alpha_r = v^{c,reg}(x_r) for every cost row; P[r] = pi(x_r) and arg[r] = argmax pi when asked."""
    rows, m = C.shape
    if reg < 0:
        return BAD_INPUT
    logb = _log_weights(b)
    p = np.empty(m, dtype=np.float64)
    for r in range(rows):
        val, jb = _row_softmax(C, r, v, logb, reg, p)
        alpha[r] = val
        if want_plan:
            for j in range(m):
                P[r, j] = p[j]
        if want_arg:
            arg[r] = jb
    return OK if _all_finite(alpha) else NUMERICAL_ERROR


# The entry points: the shape checks of csrc/bind/semidual_bind.cpp, then the jitted kernel.


def semidual_sag(M, a, b, reg, lr, idx, v, G, d):
    _checks.arrays(M=(M, 2), a=(a, 1), b=(b, 1), v=(v, 1), G=(G, 2), d=(d, 1))
    _checks.index(idx)
    n, m = M.shape
    _checks.need(a.shape[0] == n and b.shape[0] == m and v.shape[0] == m and G.shape == (n, m) and d.shape[0] == m,
                 "semidual_sag: inconsistent shapes")
    return _sag_kernel(M, a, b, reg, lr, idx, v, G, d)


def semidual_sgd(C, b, reg, lr, idx, batch, k0, averaged, v, vbar, num_threads=0):
    _checks.arrays(C=(C, 2), b=(b, 1), v=(v, 1), vbar=(vbar, 1))
    _checks.index(idx)
    m = C.shape[1]
    _checks.need(batch >= 1, "semidual_sgd: batch must be >= 1")
    _checks.need(k0 >= 0, "semidual_sgd: k0 must be >= 0")
    _checks.need(idx.shape[0] % batch == 0, "semidual_sgd: len(idx) must be a multiple of batch")
    _checks.need(b.shape[0] == m and v.shape[0] == m and vbar.shape[0] == m, "semidual_sgd: inconsistent shapes")
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0: otkit's default), got {num_threads}")
    return _sgd_kernel(C, b, reg, lr, idx, batch, k0, averaged, v, vbar, num_threads)


def semidual_ctransform(C, b, reg, v, alpha, want_plan, P, want_arg, arg, num_threads=0):
    _checks.arrays(C=(C, 2), b=(b, 1), v=(v, 1), alpha=(alpha, 1))
    rows, m = C.shape
    _checks.need(b.shape[0] == m and v.shape[0] == m and alpha.shape[0] == rows,
                 "semidual_ctransform: inconsistent shapes")
    if want_plan:
        _checks.arrays(P=(P, 2))
        _checks.need(P.shape == (rows, m), "semidual_ctransform: P must be (rows, m)")
    if want_arg:
        _checks.index(arg)
        _checks.need(arg.shape[0] == rows, "semidual_ctransform: arg must be (rows,)")
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0: otkit's default), got {num_threads}")
    return _ctransform_kernel(C, b, reg, v, alpha, want_plan, P, want_arg, arg, num_threads)


# one entry point per kernel serves both dtypes (the C++ module has one function per dtype)
semidual_sag_f64 = semidual_sag_f32 = semidual_sag
semidual_sgd_f64 = semidual_sgd_f32 = semidual_sgd
semidual_ctransform_f64 = semidual_ctransform_f32 = semidual_ctransform
