"""Anderson acceleration of the Sinkhorn map on the column log-scalings: the Numba twin of AndersonMixer
(csrc/common/anderson.h; the method and its safeguards are described there).

State: ``R``, ``Y`` ((memory + 1) x m rings of residuals r_i = G(g_i) - g_i and outputs y_i = G(g_i)),
``mixed`` (m), ``st`` = [count, restarts] (int64) and ``best`` = [best marginal error since the last restart].
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

MAX_RESTARTS = 8  # AndersonMixer::kMaxRestarts


def anderson_state(memory, m):
    """A fresh mixer of ``memory`` past iterates (0: off) for vectors of m entries."""
    rows = memory + 1 if memory > 0 else 0
    return (np.zeros((rows, m)), np.zeros((rows, m)), np.zeros(m if memory > 0 else 0),
            np.zeros(2, dtype=np.int64), np.full(1, np.inf))


@njit(cache=True, error_model="numpy", nogil=True)
def anderson_enabled(R, st):
    return R.shape[0] > 1 and st[1] <= MAX_RESTARTS


@njit(cache=True, error_model="numpy", nogil=True)
def _restart(st):
    st[0] = 0
    st[1] += 1


@njit(cache=True, error_model="numpy", nogil=True)
def anderson_check(err, st, best):
    """The safeguard at a check of the marginal error: restart when it grew 10x above its best."""
    if not (err <= 10.0 * best[0]):
        _restart(st)
        best[0] = err
    else:
        best[0] = min(best[0], err)


@njit(cache=True, error_model="numpy", nogil=True)
def anderson_step(x, y, R, Y, mixed, st, lo, hi):
    """x: the map's input g_k, y: its output G(g_k) (log-scalings); y is overwritten with g_{k+1} on its finite
    entries where x is finite too. Returns True when a mix was applied."""
    size = R.shape[0]
    mem = size - 1
    n = y.shape[0]
    slot = st[0] % size
    for i in range(n):
        live = math.isfinite(y[i]) and math.isfinite(x[i])
        Y[slot, i] = y[i] if live else 0.0
        R[slot, i] = y[i] - x[i] if live else 0.0
    st[0] += 1
    k = min(st[0] - 1, mem)
    if k == 0:
        return False
    idx = np.empty(k + 1, dtype=np.int64)  # ring slot of the entry `back` steps before the newest
    for back in range(k + 1):
        idx[back] = ((st[0] - 1 - back) % size + size) % size
    G = np.empty((k, k))
    rhs = np.empty(k)
    for c in range(k):
        s = 0.0
        for i in range(n):
            s += (R[idx[c], i] - R[idx[c + 1], i]) * R[slot, i]
        rhs[c] = s
        for e in range(c + 1):
            t = 0.0
            for i in range(n):
                t += (R[idx[c], i] - R[idx[c + 1], i]) * (R[idx[e], i] - R[idx[e + 1], i])
            G[c, e] = t
            G[e, c] = t
    tr = 0.0
    for c in range(k):
        tr += G[c, c]
    if not (tr > 0.0) or not math.isfinite(tr):
        return False
    for c in range(k):
        G[c, c] += 1e-10 * tr
    # Cholesky solve (as AndersonMixer::solve_spd)
    for c in range(k):
        d = G[c, c]
        for e in range(c):
            d -= G[c, e] * G[c, e]
        if not (d > 0.0):
            return False
        d = math.sqrt(d)
        G[c, c] = d
        for r in range(c + 1, k):
            s = G[r, c]
            for e in range(c):
                s -= G[r, e] * G[c, e]
            G[r, c] = s / d
    gam = np.empty(k)
    for c in range(k):
        s = rhs[c]
        for e in range(c):
            s -= G[c, e] * gam[e]
        gam[c] = s / G[c, c]
    for c in range(k - 1, -1, -1):
        s = gam[c]
        for e in range(c + 1, k):
            s -= G[e, c] * gam[e]
        gam[c] = s / G[c, c]
    for c in range(k):
        if not math.isfinite(gam[c]):
            return False
    for i in range(n):
        v = Y[slot, i]
        for c in range(k):
            v -= (Y[idx[c], i] - Y[idx[c + 1], i]) * gam[c]
        mixed[i] = v
    for i in range(n):
        if not (math.isfinite(y[i]) and math.isfinite(x[i])):
            continue
        if not (mixed[i] >= lo and mixed[i] <= hi):
            _restart(st)
            return False
    for i in range(n):
        if math.isfinite(y[i]) and math.isfinite(x[i]):
            y[i] = mixed[i]
    return True
