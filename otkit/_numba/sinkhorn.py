"""Numba fallback of the Sinkhorn kernels (same names, arguments and results as ``otkit._ext``).

The algorithms are those of csrc/cpu/sinkhorn_cpu.cpp: a fused pass per iteration computes
``u = a / (K v)`` and ``K^T u`` row by row (one read of K per iteration), rows split into one
block per thread, each with its own accumulator. The batched pass (several b) runs its two products
per panel of rows through NumPy's BLAS (np.dot in nopython mode).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from . import _interrupt
from ._types import SinkhornMethod, SinkhornOptions, UnbalancedMethod  # noqa: F401  (names of otkit._ext)
from ._types import anneal_stages, check_options, no_anderson, no_annealing
from .anderson import anderson_check, anderson_enabled, anderson_state, anderson_step
from ._vexp import exp_inplace, exp_nonpos_inplace

OK, MAX_ITER, NUMERICAL_ERROR = 0, 1, 2
OMEGA_AUTO_MAX = 1.9  # kOmegaAutoMax (csrc/common/sinkhorn_types.h)


# Cost geometries of the log-domain passes (CloudRows / DenseRows in csrc/cpu/sinkhorn_cpu.cpp): C is either the
# cost matrix M (n x m) or a point-cloud tuple (x (n x d), yT (d x m), euclidean); the passes read the cost
# rows t0 .. t1-1 through _cost_tile, which returns a view of M or computes them into `buf` (R x m).
def _cost_tile(C, t0, t1, buf):
    """Python version (NUMBA_DISABLE_JIT=1); nopython code uses the overload below."""
    if isinstance(C, np.ndarray):
        return C[t0:t1]
    x, yT, euclidean = C
    D = ((x[t0:t1, :, None] - yT[None, :, :]) ** 2).sum(1)
    buf[:t1 - t0] = np.sqrt(D) if euclidean else D
    return buf[:t1 - t0]


def _cost_shape(C):
    return C.shape if isinstance(C, np.ndarray) else (C[0].shape[0], C[1].shape[1])


@overload(_cost_tile, inline="always")
def _cost_tile_ov(C, t0, t1, buf):
    if isinstance(C, types.Array):
        return lambda C, t0, t1, buf: C[t0:t1]

    def impl(C, t0, t1, buf):
        x, yT, euclidean = C
        d, m = yT.shape
        for i in range(t0, t1):
            Ci = buf[i - t0]
            Ci[:] = 0.0
            for k in range(d):  # (x_ik - y_jk)^2 summed over k in order, as NumPy's sum(-1)
                xk = x[i, k]
                for j in range(m):
                    t = xk - yT[k, j]
                    Ci[j] += t * t
            if euclidean:
                for j in range(m):
                    Ci[j] = math.sqrt(Ci[j])
        return buf[:t1 - t0]
    return impl


@overload(_cost_shape, inline="always")
def _cost_shape_ov(C):
    if isinstance(C, types.Array):
        return lambda C: (C.shape[0], C.shape[1])
    return lambda C: (C[0].shape[0], C[1].shape[1])


@njit(cache=True, error_model="numpy", nogil=True)
def _push(trace, ntrace, x):
    """Append x to the trace (grown by doubling: sized by the iterations run, not by numItermax)."""
    if ntrace == trace.size:
        bigger = np.empty(2 * trace.size + 16)
        bigger[:ntrace] = trace[:ntrace]
        trace = bigger
    trace[ntrace] = x
    return trace, ntrace + 1


@njit(cache=True, inline="always", error_model="numpy", nogil=True)
def _relax(old, fresh, omega):
    if fresh == 0.0 or old == 0.0:
        return fresh
    return old * (fresh / old) ** omega


@njit(cache=True, error_model="numpy", nogil=True)
def _guard(omega, start, err, best, state, prev, period):
    """Safeguarded over-relaxation, as OmegaGuard in csrc/common/sinkhorn_types.h.

    state: 0 not yet relaxing, 1 relaxing, 2 switched off for good; omega <= 0: automatic (the SOR optimum
    2 / (1 + sqrt(1 - r)) for the rate r per iteration measured between the last two checks, at most 1.9).
    Returns (omega_eff, best, state, prev, omega).
    """
    if (omega == 1.0) or state == 2:
        return 1.0, best, state, prev, omega
    if state == 1 and not (err <= 10.0 * best):
        return 1.0, best, 2, prev, omega
    best = min(best, err)
    if state == 0 and omega <= 0.0:
        r = (err / prev) ** (1.0 / period) if prev > 0.0 else 1.0
        prev = err
        if err < start and r < 1.0:
            return min(OMEGA_AUTO_MAX, 2.0 / (1.0 + math.sqrt(1.0 - r))), best, 1, prev, \
                min(OMEGA_AUTO_MAX, 2.0 / (1.0 + math.sqrt(1.0 - r)))
        return 1.0, best, 0, prev, omega
    if err < start:
        state = 1
    return (omega if state == 1 else 1.0), best, state, prev, omega


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _build_kernel(M, reg, K, U0, ktu, nblocks):
    # K = exp(-M / reg) and ktu = K^T U0 (U0: n x N)
    n, m = M.shape
    N = U0.shape[1]
    acc = np.zeros((nblocks, m, N), dtype=M.dtype)
    scale = -1.0 / reg
    chunk = (n + nblocks - 1) // nblocks
    for t in prange(nblocks):
        kb1 = np.empty(m, dtype=np.int64)
        kb2 = np.empty(m, dtype=np.int64)
        row = np.empty(m, dtype=np.float64)
        for i in range(t * chunk, min(n, (t + 1) * chunk)):
            for j in range(m):
                row[j] = M[i, j] * scale
            exp_inplace(row, kb1, kb2)  # vectorized (math.exp is a scalar call per entry)
            for j in range(m):
                K[i, j] = row[j]
            if N == 1:
                u0 = U0[i, 0]
                for j in range(m):
                    acc[t, j, 0] += row[j] * u0
            else:
                for j in range(m):
                    kij = row[j]
                    for k in range(N):
                        acc[t, j, k] += kij * U0[i, k]
    ktu[:, :] = acc.sum(axis=0)


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract", "reassoc"}, nogil=True)
def _pass_single(K, a, v, u, ktu, nblocks, omega):
    # u_i = a_i / (K v)_i ; ktu = K^T u  (v, u, ktu: 1-D)
    n, m = K.shape
    acc = np.zeros((nblocks, m), dtype=K.dtype)
    chunk = (n + nblocks - 1) // nblocks
    for t in prange(nblocks):
        for i in range(t * chunk, min(n, (t + 1) * chunk)):
            s = 0.0
            for j in range(m):
                s += K[i, j] * v[j]
            ui = 0.0 if a[i] == 0.0 else a[i] / s
            if omega != 1.0:
                ui = _relax(u[i], ui, omega)
            u[i] = ui
            if ui != 0.0:
                for j in range(m):
                    acc[t, j] += K[i, j] * ui
    for j in range(m):
        s = 0.0
        for t in range(nblocks):
            s += acc[t, j]
        ktu[j] = s


@njit(cache=True, error_model="numpy", nogil=True)
def _pass_multi_blas(K, a, V, U, KTU, omega):
    # The batched pass as two matrix products per panel of rows (NumPy's BLAS, multithreaded):
    # S = K_p V, U_p = a_p / S, KTU += K_p^T U_p, with the panel (<= 1 MiB) still in cache for the
    # second product, so K is read from memory once per iteration as in the C++ pass (1 MiB panels: 32 rows
    # at d = 1024 made 64 small BLAS calls per iteration, 2.6x slower).
    n, m = K.shape
    na = V.shape[1]
    rb = max(8, min(n, (1024 * 1024) // (8 * m)))
    acc = np.zeros((m, na), dtype=K.dtype)
    tmp = np.empty((m, na), dtype=K.dtype)
    S = np.empty((rb, na), dtype=K.dtype)
    Ub = np.empty((rb, na), dtype=K.dtype)
    for i0 in range(0, n, rb):
        i1 = min(n, i0 + rb)
        h = i1 - i0
        Kp = K[i0:i1]
        if h == rb:
            np.dot(Kp, V, S)
        else:
            S[:h] = np.dot(Kp, V)
        for r in range(h):
            i = i0 + r
            for k in range(na):
                fresh = 0.0 if a[i] == 0.0 else a[i] / S[r, k]
                ui = _relax(U[i, k], fresh, omega) if omega != 1.0 else fresh
                U[i, k] = ui
                Ub[r, k] = ui
        if h == rb:
            np.dot(Kp.T, Ub, tmp)
            acc += tmp
        else:
            acc += np.dot(Kp.T, Ub[:h])
    KTU[:, :] = acc


@njit(cache=True, error_model="numpy", nogil=True)
def _knopp_driver(M, a, B, reg, U, V, max_iter, stop_thr, check_every, omega_target, omega_start, want_plan,
                  want_value, want_trace, nblocks, aR, aY, amix, ast, abest, stop):
    # aR, aY, amix, ast, abest: the Anderson mixer of log v (otkit/_numba/anderson.py; off when aR is empty)
    n, m = M.shape
    N = B.shape[1]
    K = np.empty((n, m), dtype=M.dtype)
    ktu = np.empty((m, N), dtype=M.dtype)
    _build_kernel(M, reg, K, U, ktu, nblocks)
    status = np.full(N, MAX_ITER, dtype=np.int32)
    niter = np.zeros(N, dtype=np.int32)
    err = np.ones(N, dtype=np.float64)
    trace = np.empty(64, dtype=np.float64)
    ntrace = 0
    cols = np.arange(N)
    Up = U.copy()
    Vp = V.copy()
    Bp = B.copy()
    ktu_new = np.empty_like(ktu)
    # buffers of the loop, allocated once (columns past na unused once some have converged)
    Uprev = np.empty_like(Up)
    Vprev = np.empty_like(Vp)
    u1 = np.empty(n, dtype=M.dtype)
    v1 = np.empty(m, dtype=M.dtype)
    kt1 = np.empty(m, dtype=M.dtype)
    bad_buf = np.empty(N, dtype=np.bool_)
    keep_buf = np.empty(N, dtype=np.bool_)
    omega, best, gstate, gprev_err = M.dtype.type(1.0), np.inf, 0, 0.0
    # exp of the mixed log-scalings must stay a normal number
    alo = math.log(np.finfo(M.dtype).tiny) + 1.0
    ahi = math.log(np.finfo(M.dtype).max) - 1.0
    xl = np.empty(m)
    yl = np.empty(m)
    ii = 0
    while ii < max_iter and cols.size > 0 and stop[0] == 0:  # stop: Ctrl-C (see _interrupt)
        na = cols.size
        Uprev[:, :na] = Up
        Vprev[:, :na] = Vp
        bad = bad_buf[:na]
        bad[:] = False
        for j in range(m):
            for k in range(na):
                kt = ktu[j, k]
                if Bp[j, k] == 0.0:  # empty column: v_j = 0
                    Vp[j, k] = 0.0
                    continue
                vj = Bp[j, k] / kt
                if omega != 1.0:
                    vj = _relax(Vp[j, k], vj, omega)
                Vp[j, k] = vj
                if kt == 0.0 or not np.isfinite(vj):
                    bad[k] = True
        if N == 1 and anderson_enabled(aR, ast) and not bad[0]:  # v <- exp(Anderson mix of log v)
            for j in range(m):
                xl[j] = math.log(Vprev[j, 0]) if Vprev[j, 0] > 0.0 else -np.inf
                yl[j] = math.log(Vp[j, 0]) if Vp[j, 0] > 0.0 else -np.inf
            if anderson_step(xl, yl, aR, aY, amix, ast, alo, ahi):
                for j in range(m):
                    if math.isfinite(xl[j]) and math.isfinite(yl[j]):
                        Vp[j, 0] = math.exp(yl[j])
        if na == 1:
            u1[:] = Up[:, 0]
            v1[:] = Vp[:, 0]
            _pass_single(K, a, v1, u1, kt1, nblocks, omega)
            Up[:, 0] = u1
            ktu_new[:, 0] = kt1
        else:
            _pass_multi_blas(K, a, Vp, Up, ktu_new[:, :na], omega)
        for i in range(n):
            for k in range(na):
                if not np.isfinite(Up[i, k]):
                    bad[k] = True
        check = ii % check_every == 0
        keep = keep_buf[:na]
        keep[:] = True
        for k in range(na):
            col = cols[k]
            if bad[k]:
                U[:, col] = Uprev[:, k]
                V[:, col] = Vprev[:, k]
                status[col] = NUMERICAL_ERROR
                niter[col] = ii
                keep[k] = False
                continue
            if check:
                e2 = 0.0
                for j in range(m):
                    d = Vp[j, k] * ktu_new[j, k] - Bp[j, k]
                    e2 += d * d
                e = math.sqrt(e2)
                err[col] = e
                if want_trace and N == 1:
                    trace, ntrace = _push(trace, ntrace, e)
                if N == 1:
                    om, best, gstate, gprev_err, omega_target = _guard(omega_target, omega_start, e, best, gstate,
                                                                       gprev_err, check_every)
                    omega = M.dtype.type(om)
                    if anderson_enabled(aR, ast):
                        anderson_check(e, ast, abest)
                if e < stop_thr:
                    U[:, col] = Up[:, k]
                    V[:, col] = Vp[:, k]
                    status[col] = OK
                    niter[col] = ii
                    keep[k] = False
        ktu[:, :na] = ktu_new[:, :na]
        if not keep.all():
            idx = np.nonzero(keep)[0]
            cols = cols[idx]
            Up = Up[:, idx].copy()
            Vp = Vp[:, idx].copy()
            Bp = Bp[:, idx].copy()
            ktu = ktu[:, idx].copy()
            ktu_new = np.empty_like(ktu)
        ii += 1
    for k in range(cols.size):
        col = cols[k]
        U[:, col] = Up[:, k]
        V[:, col] = Vp[:, k]
        niter[col] = max(0, ii - 1)
    values = np.zeros(N, dtype=M.dtype)
    plan = np.empty((n if want_plan else 0, m if want_plan else 0), dtype=M.dtype)
    if want_value or want_plan:
        _finish_knopp(M, K, U, V, values, plan, want_plan, nblocks)
    return values, plan, status, niter, err, trace[:ntrace]


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract", "reassoc"}, nogil=True)
def _finish_knopp(M, K, U, V, values, plan, want_plan, nblocks):
    n, m = M.shape
    N = U.shape[1]
    acc = np.zeros((nblocks, N))
    chunk = (n + nblocks - 1) // nblocks
    for t in prange(nblocks):
        for i in range(t * chunk, min(n, (t + 1) * chunk)):
            if N == 1:  # contiguous inner loops (vectorized)
                ui = U[i, 0]
                s = 0.0
                if want_plan:
                    for j in range(m):
                        p = ui * K[i, j] * V[j, 0]
                        plan[i, j] = p
                        s += p * M[i, j]
                else:
                    for j in range(m):
                        s += ui * K[i, j] * V[j, 0] * M[i, j]
                acc[t, 0] += s
                continue
            for j in range(m):
                w = K[i, j]
                for k in range(N):
                    p = U[i, k] * w * V[j, k]
                    acc[t, k] += p * M[i, j]
    for k in range(N):
        values[k] = acc[:, k].sum()


def _nblocks(n, m, num_threads):
    if n * m < (1 << 14):
        return 1
    t = num_threads if num_threads and num_threads > 0 else numba.get_num_threads()
    return max(1, min(int(t), n))


class _threads:
    """Run small problems on one Numba thread: a parallel region costs more than it saves there
    (and its thread wake-ups compete with the C++ extension's OpenMP threads)."""

    def __init__(self, nblocks):
        self.one = nblocks == 1

    def __enter__(self):
        if self.one:
            self.saved = numba.get_num_threads()
            numba.set_num_threads(1)

    def __exit__(self, *exc):
        if self.one:
            numba.set_num_threads(self.saved)


def _omega_arg(o):
    """The drivers' omega argument: 0 for the automatic choice (see _guard)."""
    return 0.0 if o.omega_auto else float(o.omega)


def _work(M, B, max_iter):
    """Entries x iterations of a call (M: a matrix or a point-cloud tuple), for _interrupt.run."""
    n, m = M.shape if hasattr(M, "shape") else (M[0].shape[0], M[1].shape[1])
    return float(n) * m * max(1, B.shape[1] if B.ndim == 2 else 1) * max(1, int(max_iter))


def _finite_or_error(values, status):
    """A value that is not finite is never reported with status OK (as the C++ bindings' Outputs)."""
    status = np.array(status, dtype=np.int32, copy=True)
    vals = np.asarray(values)
    if vals.size == status.size:
        status[(~np.isfinite(vals.reshape(status.shape))) & (status == OK)] = NUMERICAL_ERROR
    return status


def _as_dict(values, plan, status, niter, err, trace, want_plan):
    status = _finite_or_error(values, status)
    return {
        "values": values,
        "plan": plan if want_plan else None,
        "status": status,
        "niter": niter,
        "err": err,
        "trace": [float(x) for x in trace],
    }


def _knopp(M, a, B, reg, U, V, options, want_plan, want_value, want_trace):
    """Kernel-form Sinkhorn on N problems sharing M (B: m x N); U, V updated in place."""
    o = options
    if (o.omega != 1.0 or o.omega_auto) and B.shape[1] != 1:
        raise ValueError("over-relaxation (omega != 1) of the kernel form is for single problems")
    if B.shape[1] != 1:
        no_anderson(o, "batched problems of the kernel form")
    nb = _nblocks(*M.shape, o.num_threads)
    with _threads(nb):
        out = _interrupt.run(_knopp_driver, M, a, B, M.dtype.type(reg), U, V, int(o.max_iter), float(o.stop_thr),
                             int(o.check_every), _omega_arg(o), float(o.omega_start), bool(want_plan),
                             bool(want_value), bool(want_trace), nb, *anderson_state(int(o.anderson), M.shape[1]),
                             work=_work(M, B, o.max_iter))
    return _as_dict(*out, want_plan)


def sinkhorn_f64(M, a, B, reg, X, Y, *, method, options, want_plan=False, want_value=True, want_trace=False):
    """Sinkhorn on N problems sharing M (B: m x N), as otkit._ext.sinkhorn_f64: X (n x N), Y (m x N) updated in
    place (scalings u, v for KERNEL, log-scalings f, g for LOG, potentials alpha, beta for STABILIZED)."""
    o = options
    check_options(o)
    if B.ndim != 2 or B.shape[1] == 0:
        raise ValueError(f"sinkhorn: B has shape {B.shape}: no histogram")
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"sinkhorn: M is empty (shape {M.shape})")
    n, m = M.shape
    N = B.shape[1]
    if a.shape != (n,) or B.shape[0] != m or X.shape != (n, N) or Y.shape != (m, N):
        raise ValueError("sinkhorn: inconsistent shapes")
    if want_plan and N != 1:
        raise ValueError("a plan is only returned for a single problem")
    method = SinkhornMethod(int(method))
    if method != SinkhornMethod.LOG:
        no_annealing(o, "this method")
    if method == SinkhornMethod.KERNEL:
        return _knopp(M, a, B, reg, X, Y, o, want_plan, want_value, want_trace)
    if o.omega_auto and method == SinkhornMethod.STABILIZED:
        raise ValueError("omega='auto' (over-relaxation) is for single problems of the kernel-form and log-domain "
                         "methods")
    if method == SinkhornMethod.STABILIZED and o.omega != 1.0:
        raise ValueError("over-relaxation (omega != 1) is not available for the stabilized method")
    if method == SinkhornMethod.STABILIZED:
        no_anderson(o, "the stabilized method")
    kind = 0 if method == SinkhornMethod.LOG else 1
    nb = _nblocks(n, m, o.num_threads)
    out = None
    values = np.empty(N, dtype=M.dtype)
    status = np.empty(N, dtype=np.int32)
    niter = np.empty(N, dtype=np.int32)
    err = np.empty(N)
    for k in range(N):  # the problems one after the other, as the C++ entry point
        x, y = np.ascontiguousarray(X[:, k]), np.ascontiguousarray(Y[:, k])
        with _threads(nb):
            r = _log_or_stab(kind, M, a, np.ascontiguousarray(B[:, k]), M.dtype.type, reg, x, y, o, want_plan,
                             want_trace, nb)
        X[:, k], Y[:, k] = x, y
        values[k], status[k], niter[k], err[k] = r["values"][0], r["status"][0], r["niter"][0], r["err"][0]
        if out is None:
            out = r
    out.update(values=values, status=status, niter=niter, err=err)
    if N != 1:
        out["trace"] = []
    return out


def sinkhorn_f32(M, a, B, reg, X, Y, **kwargs):
    """float32 entry point: computes in float64 (no second JIT compilation) and casts the results back."""
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    out = sinkhorn_f64(M.astype(np.float64), a.astype(np.float64), B.astype(np.float64), reg, X64, Y64, **kwargs)
    X[...] = X64
    Y[...] = Y64
    return _cast32(out)


def _cast32(out):
    out["values"] = out["values"].astype(np.float32)
    if out["plan"] is not None:
        out["plan"] = out["plan"].astype(np.float32)
    return out


# ------------------------------------------------------------------------------------------
# Log-domain and stabilized
# ------------------------------------------------------------------------------------------
@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract", "reassoc"}, nogil=True)
def _log_pass(C, scale, loga, g, f, update_rows, lse, nblocks, omega, expo=1.0):
    # f_i = log a_i - LSE_j(M_ij scale + g_j)  (if update_rows); lse_j = LSE_i(M_ij scale + f_i)
    # expo != 1: the unbalanced rule f_i = expo (log a_i - LSE_j(...)) (UnbalancedRule, csrc/common/sinkhorn_rules.h)
    n, m = _cost_shape(C)
    R = 8
    colmax = np.full((nblocks, m), -np.inf, dtype=f.dtype)
    colsum = np.zeros((nblocks, m), dtype=f.dtype)
    chunk = (n + nblocks - 1) // nblocks
    for t in prange(nblocks):
        tilemax = np.empty(m, dtype=f.dtype)
        buf = np.empty((R, m), dtype=f.dtype)
        i0, i1 = t * chunk, min(n, (t + 1) * chunk)
        for t0 in range(i0, i1, R):
            t1 = min(i1, t0 + R)
            M = _cost_tile(C, t0, t1, buf)  # rows t0 .. t1-1 (local index i - t0)
            if update_rows:
                for i in range(t0, t1):
                    mx = -np.inf
                    for j in range(m):
                        x = M[i - t0, j] * scale + g[j]
                        if x > mx:
                            mx = x
                    if mx == -np.inf:
                        lse_i = -np.inf
                    else:
                        s = 0.0
                        for j in range(m):
                            s += math.exp(M[i - t0, j] * scale + g[j] - mx)
                        lse_i = mx + math.log(s)
                    if expo != 1.0:  # (UnbalancedRule::log)
                        fresh = loga[i] if loga[i] == -np.inf else expo * (loga[i] - lse_i)
                    else:
                        fresh = loga[i] - lse_i
                    if omega != 1.0 and fresh != -np.inf and f[i] != -np.inf:
                        f[i] = (1.0 - omega) * f[i] + omega * fresh
                    else:
                        f[i] = fresh
            tilemax[:] = -np.inf
            for i in range(t0, t1):
                fi = f[i]
                if fi == -np.inf:
                    continue
                for j in range(m):
                    x = M[i - t0, j] * scale + fi
                    if x > tilemax[j]:
                        tilemax[j] = x
            for j in range(m):
                newm = max(colmax[t, j], tilemax[j])
                if newm != -np.inf and colmax[t, j] != newm:
                    colsum[t, j] *= math.exp(colmax[t, j] - newm)
                colmax[t, j] = newm
            for i in range(t0, t1):
                fi = f[i]
                if fi == -np.inf:
                    continue
                for j in range(m):
                    cm = colmax[t, j]
                    safe = 0.0 if cm == -np.inf else cm
                    colsum[t, j] += math.exp(M[i - t0, j] * scale + fi - safe)
    for j in range(m):
        gm = -np.inf
        for t in range(nblocks):
            gm = max(gm, colmax[t, j])
        if gm == -np.inf:
            lse[j] = -np.inf
            continue
        s = 0.0
        for t in range(nblocks):
            if colmax[t, j] != -np.inf:
                s += colsum[t, j] * math.exp(colmax[t, j] - gm)
        lse[j] = gm + math.log(s)


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract", "reassoc"}, nogil=True)
def _log_pass_onexp(C, scale, a, b, loga, g, f, lse, nblocks, omega, expo=1.0):
    # One exp per entry (csrc/cpu/sinkhorn_cpu.cpp, log_pass_onexp): e_ij = exp(M_ij scale + g_j - mx_i),
    # f_i from the row sums, S_j = sum_i e_ij A_i (A_i = exp(f_i + mx_i)) the column marginal and
    # lse_j = log S_j - g_j. Returns False when a column sum is below 1e-200 (or not finite): then the
    # caller redoes the pass with the exact two-exp _log_pass.
    n, m = _cost_shape(C)
    R = 8
    S = np.zeros((nblocks, m), dtype=f.dtype)
    bad = np.zeros(nblocks, dtype=np.bool_)
    tot = np.zeros(nblocks)  # <P, M> of this pass's plan P_ij = e_ij A_i
    chunk = (n + nblocks - 1) // nblocks
    tiny = 1e-200  # the Numba kernels always compute in float64
    for t in prange(nblocks):
        E = np.empty((R, m), dtype=np.float64)
        kbuf = np.empty(m, dtype=np.int64)
        A = np.zeros(R, dtype=f.dtype)
        buf = np.empty((R, m), dtype=f.dtype)
        i0, i1 = t * chunk, min(n, (t + 1) * chunk)
        for t0 in range(i0, i1, R):
            rows = min(R, i1 - t0)
            M = _cost_tile(C, t0, t0 + rows, buf)
            for r in range(rows):
                i = t0 + r
                mx = -np.inf
                for j in range(m):
                    x = M[r, j] * scale + g[j]
                    if x > mx:
                        mx = x
                lse_i = -np.inf
                s = 0.0
                sm = 0.0
                if mx != -np.inf:
                    Er = E[r]
                    for j in range(m):
                        Er[j] = M[r, j] * scale + g[j] - mx
                    exp_nonpos_inplace(Er, kbuf)
                    for j in range(m):
                        s += Er[j]
                        sm += Er[j] * M[r, j]
                    lse_i = mx + math.log(s)
                else:
                    E[r, :] = 0.0
                if expo != 1.0:  # the unbalanced rule (UnbalancedRule::log)
                    fresh = loga[i] if loga[i] == -np.inf else expo * (loga[i] - lse_i)
                else:
                    fresh = loga[i] - lse_i
                relaxed = omega != 1.0 and fresh != -np.inf and f[i] != -np.inf
                f[i] = (1.0 - omega) * f[i] + omega * fresh if relaxed else fresh
                if f[i] == -np.inf or mx == -np.inf:
                    A[r] = 0.0
                elif relaxed or expo != 1.0:
                    A[r] = math.exp(f[i] + mx)
                else:
                    A[r] = a[i] / s
                if not np.isfinite(A[r]) or (not np.isfinite(f[i]) and f[i] != -np.inf):
                    bad[t] = True
                tot[t] += A[r] * sm
            for r in range(rows):
                ar = A[r]
                if ar != 0.0:
                    for j in range(m):
                        S[t, j] += E[r, j] * ar
    ok = not bad.any()
    for j in range(m):
        if g[j] == -np.inf:  # empty column (b_j = 0): g_j stays -inf with any finite lse_j
            lse[j] = 0.0
            if b[j] != 0.0:
                ok = False
            continue
        sj = 0.0
        for t in range(nblocks):
            sj += S[t, j]
        if not (sj >= tiny) or not np.isfinite(sj):
            ok = False
        lse[j] = math.log(sj) - g[j] if sj > 0.0 else -np.inf
    return ok, tot.sum()


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _log_plan_value(C, scale, f, g, plan, want_plan, nblocks):
    n, m = _cost_shape(C)
    acc = np.zeros(nblocks)
    chunk = (n + nblocks - 1) // nblocks
    for t in prange(nblocks):
        buf = np.empty((1, m), dtype=f.dtype)
        for i in range(t * chunk, min(n, (t + 1) * chunk)):
            Mi = _cost_tile(C, i, i + 1, buf)[0]
            s = 0.0
            for j in range(m):
                p = math.exp(Mi[j] * scale + f[i] + g[j])
                if want_plan:
                    plan[i, j] = p
                s += p * Mi[j]
            acc[t] += s
    return acc.sum()


@njit(cache=True, error_model="numpy", nogil=True)
def _log_row_step(M, scale, a, b, loga, g, f, lse, nblocks, omega, log_fast, fprev):
    """f from g and the column LSE of the new f (csrc/cpu/sinkhorn_cpu.cpp's row_step): one exp per entry where
    safe, else the exact two-exp pass from fprev (which holds f on entry). Returns (fast, <P, M> of the fast
    pass)."""
    if log_fast:
        fast, pass_value = _log_pass_onexp(M, scale, a, b, loga, g, f, lse, nblocks, omega)
        if fast:
            return True, pass_value
        f[:] = fprev
    _log_pass(M, scale, loga, g, f, True, lse, nblocks, omega)
    return False, 0.0


@njit(cache=True, error_model="numpy", nogil=True)
def _finite_log(x):
    for i in range(x.shape[0]):
        if np.isnan(x[i]) or x[i] == np.inf:
            return False
    return True


@njit(cache=True, error_model="numpy", nogil=True)
def _log_driver(M, a, b, reg, f, g, max_iter, stop_thr, check_every, omega_target, omega_start, want_plan,
                want_trace, nblocks, log_fast, stages, inner, aR, aY, amix, ast, abest, stop):
    # M: the cost matrix, or a point-cloud tuple (x, yT, euclidean) (see _cost_tile); stages: the epsilon-scaling
    # regularizations above reg (inner iterations each), as the C++ driver
    n, m = _cost_shape(M)
    scale = -1.0 / reg
    loga = np.log(a)
    logb = np.log(b)
    lse = np.empty(m, dtype=f.dtype)
    omega, best, gstate, gprev_err = 1.0, np.inf, 0, 0.0
    fprev = np.empty_like(f)
    gprev = np.empty_like(g)
    annealed = 0
    if stages.shape[0] > 0:
        r_prev = reg
        for rk in stages:
            fkeep, gkeep, r_keep = f.copy(), g.copy(), r_prev
            f *= r_prev / rk
            g *= r_prev / rk
            r_prev = rk
            for t in range(inner):
                if stop[0] != 0:
                    break
                fprev[:] = f
                _log_row_step(M, -1.0 / rk, a, b, loga, g, f, lse, nblocks, 1.0, log_fast, fprev)
                for j in range(m):
                    g[j] = logb[j] - lse[j]
            if not (_finite_log(f) and _finite_log(g)):
                f[:] = fkeep
                g[:] = gkeep
                r_prev = r_keep
                break
            annealed += inner
        f *= r_prev / reg
        g *= r_prev / reg
        fprev[:] = f
        _log_row_step(M, scale, a, b, loga, g, f, lse, nblocks, 1.0, log_fast, fprev)
    else:
        _log_pass(M, scale, loga, g, f, False, lse, nblocks, omega)
    value_ready, pass_value = False, 0.0
    status, niter, err = MAX_ITER, 0, 1.0
    trace = np.empty(64)
    ntrace = 0
    ii = 0
    while ii < max_iter and stop[0] == 0:  # stop: Ctrl-C (see _interrupt)
        fprev[:] = f
        gprev[:] = g
        for j in range(m):
            fresh = logb[j] - lse[j]
            if omega != 1.0 and fresh != -np.inf and g[j] != -np.inf:
                g[j] = (1.0 - omega) * g[j] + omega * fresh
            else:
                g[j] = fresh
        if anderson_enabled(aR, ast):  # g <- the Anderson mix (gprev: the map's input)
            anderson_step(gprev, g, aR, aY, amix, ast, -np.inf, np.inf)
        # one exp per entry where safe, else the exact two-exp pass (as the C++ kernel); <P, M> of the final
        # (f, g) comes with a fast pass
        value_ready, pass_value = _log_row_step(M, scale, a, b, loga, g, f, lse, nblocks, omega, log_fast, fprev)
        if not (_finite_log(f) and _finite_log(g)):
            f[:] = fprev
            g[:] = gprev
            status, niter = NUMERICAL_ERROR, ii + annealed
            value_ready = False
            break
        if ii % check_every == 0:
            e2 = 0.0
            for j in range(m):
                d = math.exp(g[j] + lse[j]) - b[j]
                e2 += d * d
            err = math.sqrt(e2)
            if want_trace:
                trace, ntrace = _push(trace, ntrace, err)
            if err < stop_thr:
                status, niter = OK, ii + annealed
                break
            om, best, gstate, gprev_err, omega_target = _guard(omega_target, omega_start, err, best, gstate,
                                                               gprev_err, check_every)
            omega = om
            if anderson_enabled(aR, ast):
                anderson_check(err, ast, abest)
        ii += 1
    if status == MAX_ITER:
        niter = max(0, ii - 1) + annealed
    plan = np.empty((n if want_plan else 0, m if want_plan else 0), dtype=f.dtype)
    if value_ready and not want_plan:
        value = pass_value
    else:
        value = _log_plan_value(M, scale, f, g, plan, want_plan, nblocks)
    return value, plan, status, niter, err, trace[:ntrace]


@njit(cache=True, error_model="numpy", nogil=True)
def _stab_rebuild(M, alpha, beta, reg, K, u, v, ktu, nblocks):
    # POT's iterates (csrc/cpu/sinkhorn_cpu.cpp): K_ij = exp((alpha_i + beta_j - M_ij) / reg), u, v from 1/n, 1/m
    n, m = M.shape
    Ms = np.empty_like(M)
    for i in range(n):
        for j in range(m):
            Ms[i, j] = M[i, j] - alpha[i] - beta[j]
    u[:] = 1.0 / n
    v[:] = 1.0 / m
    k2 = np.empty((m, 1), dtype=M.dtype)
    _build_kernel(Ms, reg, K, u.reshape(n, 1), k2, nblocks)
    ktu[:] = k2[:, 0]


@njit(cache=True, error_model="numpy", nogil=True)
def _stab_driver(M, a, b, reg, alpha, beta, max_iter, stop_thr, check_every, tau, want_plan, want_trace,
                 nblocks, stop):
    n, m = M.shape
    K = np.empty((n, m), dtype=M.dtype)
    u = np.empty(n, dtype=M.dtype)
    v = np.empty(m, dtype=M.dtype)
    ktu = np.empty(m, dtype=M.dtype)
    ktu_new = np.empty(m, dtype=M.dtype)
    _stab_rebuild(M, alpha, beta, reg, K, u, v, ktu, nblocks)
    status, niter, err = MAX_ITER, 0, 1.0
    trace = np.empty(64)
    ntrace = 0
    ii = 0
    uprev = np.empty_like(u)
    vprev = np.empty_like(v)
    # absorbed: the last iteration ended with an absorption; its plan is then K itself (u, v restarted)
    absorbed = False
    while ii < max_iter and stop[0] == 0:  # stop: Ctrl-C (see _interrupt)
        uprev[:] = u
        vprev[:] = v
        absorbed_prev = absorbed
        absorbed = False
        for j in range(m):
            v[j] = 0.0 if b[j] == 0.0 else b[j] / ktu[j]
        _pass_single(K, a, v, u, ktu_new, nblocks, 1.0)
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            u[:] = uprev
            v[:] = vprev
            absorbed = absorbed_prev
            status, niter = NUMERICAL_ERROR, ii
            break
        if ii % check_every == 0:
            e2 = 0.0
            for j in range(m):
                d = v[j] * ktu_new[j] - b[j]
                e2 += d * d
            err = math.sqrt(e2)
            if want_trace:
                trace, ntrace = _push(trace, ntrace, err)
            if err < stop_thr:
                status, niter = OK, ii
                break
        if np.abs(u).max() > tau or np.abs(v).max() > tau:
            for i in range(n):
                alpha[i] = -np.inf if a[i] == 0.0 else alpha[i] + reg * math.log(u[i])
            for j in range(m):
                beta[j] = -np.inf if b[j] == 0.0 else beta[j] + reg * math.log(v[j])
            _stab_rebuild(M, alpha, beta, reg, K, u, v, ktu, nblocks)
            absorbed = True
        else:
            ktu[:] = ktu_new
        ii += 1
    if status == MAX_ITER:
        niter = max(0, ii - 1)
    for i in range(n):
        if a[i] == 0.0:
            alpha[i] = -np.inf
        elif not absorbed:
            alpha[i] += reg * math.log(u[i])
    for j in range(m):
        if b[j] == 0.0:
            beta[j] = -np.inf
        elif not absorbed:
            beta[j] += reg * math.log(v[j])
    plan = np.empty((n if want_plan else 0, m if want_plan else 0), dtype=M.dtype)
    value = _log_plan_value(M, -1.0 / reg, alpha / reg, beta / reg, plan, want_plan, nblocks)
    return value, plan, status, niter, err, trace[:ntrace]


def _log_or_stab(kind, M, a, b, t, reg, x, y, o, want_plan, want_trace, nb):
    work = _work(M, b, o.max_iter)
    if kind == 0:
        value, plan, status, niter, err, trace = _interrupt.run(
            _log_driver, M, a, b, t(reg), x, y, int(o.max_iter), float(o.stop_thr), int(o.check_every),
            _omega_arg(o), float(o.omega_start), bool(want_plan), bool(want_trace), nb, bool(o.log_fast),
            np.array(anneal_stages(o, float(reg)), dtype=np.float64), int(o.anneal_inner),
            *anderson_state(int(o.anderson), b.shape[0]), work=work)
    else:
        value, plan, status, niter, err, trace = _interrupt.run(
            _stab_driver, M, a, b, t(reg), x, y, int(o.max_iter), float(o.stop_thr), int(o.check_every), t(o.tau),
            bool(want_plan), bool(want_trace), nb, work=work)
    return _as_dict(np.array([value], dtype=M.dtype), plan, np.array([status], dtype=np.int32),
                    np.array([niter], dtype=np.int32), np.array([err]), trace, want_plan)


def sinkhorn_cloud_f64(x, y, a, B, reg, X, Y, *, metric, options, want_plan=False, want_value=True, want_trace=False):
    """Log-domain Sinkhorn between point clouds x (n x d), y (m x d), as otkit._ext.sinkhorn_cloud_f64: the costs
    are computed tile by tile in each pass (never stored); X (n x N), Y (m x N) log-scalings updated in place."""
    o = options
    if metric not in ("sqeuclidean", "euclidean"):
        raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean', got {metric!r}")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError("x and y must have the same number of columns (dimension)")
    n, m, N = x.shape[0], y.shape[0], B.shape[1]
    if n == 0 or m == 0 or N == 0:
        raise ValueError("sinkhorn_cloud: empty problem")
    if want_plan and N != 1:
        raise ValueError("a plan is only returned for a single problem")
    check_options(o)
    C = (np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y.T, dtype=np.float64),
         metric == "euclidean")
    nb = _nblocks(n, m, o.num_threads)
    values = np.empty(N)
    status = np.empty(N, dtype=np.int32)
    niter = np.empty(N, dtype=np.int32)
    err = np.empty(N)
    plan, trace = None, []
    for k in range(N):
        f, g = X[:, k].astype(np.float64), Y[:, k].astype(np.float64)
        with _threads(nb):
            value, P, st, it, e, tr = _interrupt.run(
                _log_driver, C, a.astype(np.float64), B[:, k].astype(np.float64), float(reg), f, g, int(o.max_iter),
                float(o.stop_thr), int(o.check_every), _omega_arg(o), float(o.omega_start), bool(want_plan),
                bool(want_trace), nb, bool(o.log_fast), np.array(anneal_stages(o, float(reg)), dtype=np.float64),
                int(o.anneal_inner), *anderson_state(int(o.anderson), m), work=_work(C, B[:, k], o.max_iter))
        X[:, k], Y[:, k] = f, g
        values[k], status[k], niter[k], err[k] = value, st, it, e
        if N == 1:
            plan, trace = (P if want_plan else None), [float(t) for t in tr]
    return {"values": values, "plan": plan, "status": _finite_or_error(values, status), "niter": niter, "err": err,
            "trace": trace}


def sinkhorn_cloud_f32(x, y, a, B, reg, X, Y, **kwargs):
    """float32 entry point: computes in float64 and casts the results back."""
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    out = sinkhorn_cloud_f64(x, y, a, B, reg, X64, Y64, **kwargs)
    X[...] = X64
    Y[...] = Y64
    return _cast32(out)



@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _apply_T(C, scale, loga, f, tf, nblocks, fi):
    # tf_i = log a_i - fi LSE_j(C_ij scale + f_j) (the symmetric driver's map, csrc/cpu/sinkhorn_cpu.cpp)
    n, m = _cost_shape(C)
    R = 8
    chunk = (n + nblocks - 1) // nblocks
    for t in prange(nblocks):
        buf = np.empty((R, m), dtype=f.dtype)
        i0, i1 = t * chunk, min(n, (t + 1) * chunk)
        for t0 in range(i0, i1, R):
            t1 = min(i1, t0 + R)
            M = _cost_tile(C, t0, t1, buf)
            for i in range(t0, t1):
                if loga[i] == -np.inf:
                    tf[i] = -np.inf
                    continue
                mx = -np.inf
                for j in range(m):
                    x = M[i - t0, j] * scale + f[j]
                    if x > mx:
                        mx = x
                s = 0.0
                for j in range(m):
                    s += math.exp(M[i - t0, j] * scale + f[j] - mx)
                tf[i] = loga[i] - fi * (mx + math.log(s))


@njit(cache=True, error_model="numpy", nogil=True)
def _average_log(f, tf):
    for i in range(f.shape[0]):
        f[i] = tf[i] if (tf[i] == -np.inf or f[i] == -np.inf) else 0.5 * f[i] + 0.5 * tf[i]


@njit(cache=True, error_model="numpy", nogil=True)
def _rescale(x, logx, c, kl_ref):
    # rescale_log (csrc/cpu/sinkhorn_cpu.cpp): x <- (x - ref) c + ref, ref = log a (kl_ref) or 0; -inf stays, a
    # target of -inf is left for the next update; c = 1 leaves x as it is
    if c == 1.0:
        return
    for i in range(x.size):
        ref = logx[i] if kl_ref else 0.0
        if x[i] != -np.inf and ref != -np.inf:
            x[i] = (x[i] - ref) * c + ref


@njit(cache=True, error_model="numpy", nogil=True)
def _symmetric_driver(C, a, reg, reg_m, f, max_iter, stop_thr, check_every, want_trace, nblocks, stages, inner,
                      stop):
    # The averaged fixed point of the symmetric problem (csrc/cpu/sinkhorn_cpu.cpp, symmetric_driver); reg_m < inf:
    # unbalanced (reference a a^T), the map log a - fi LSE and the potentials reg_k (f - log a) carried over
    n = f.shape[0]
    loga = np.log(a)
    tf = np.empty_like(f)
    annealed = 0
    r_prev = reg
    relaxed = reg_m != np.inf
    for rk in stages:
        _rescale(f, loga, r_prev / rk, relaxed)
        r_prev = rk
        fi = 1.0 if not relaxed else reg_m / (reg_m + rk)
        for t in range(inner):
            if stop[0] != 0:
                break
            _apply_T(C, -1.0 / rk, loga, f, tf, nblocks, fi)
            if not _finite_log(tf):
                break
            _average_log(f, tf)
            annealed += 1
    _rescale(f, loga, r_prev / reg, relaxed)
    fi = 1.0 if not relaxed else reg_m / (reg_m + reg)
    err = 1.0
    trace = np.empty(64)
    ntrace = 0
    ii = 0
    while ii < max_iter and stop[0] == 0:
        _apply_T(C, -1.0 / reg, loga, f, tf, nblocks, fi)
        if not _finite_log(tf):
            return NUMERICAL_ERROR, ii + annealed, err, trace[:ntrace]
        if ii % check_every == 0:
            err = 0.0
            for i in range(n):
                if a[i] != 0.0:
                    err += a[i] * abs(math.expm1(f[i] - tf[i]))
            if want_trace:
                trace, ntrace = _push(trace, ntrace, err)
            if err < stop_thr:
                return OK, ii + annealed, err, trace[:ntrace]
        _average_log(f, tf)
        ii += 1
    return MAX_ITER, max(0, ii - 1) + annealed, err, trace[:ntrace]


def sinkhorn_symmetric_cloud_f64(x, a, reg, f, *, metric, options, want_trace=False, reg_m=np.inf):
    """The symmetric problem (a, a) on one point cloud x (n x d), as otkit._ext.sinkhorn_symmetric_cloud_f64: the
    averaged fixed point on the log-scaling f (n), updated in place."""
    o = options
    check_options(o)
    no_anderson(o, "the symmetric (debiasing) problems")
    if metric not in ("sqeuclidean", "euclidean"):
        raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean', got {metric!r}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("sinkhorn_symmetric_cloud: empty point cloud")
    if a.shape != (n,) or f.shape != (n,):
        raise ValueError("sinkhorn_symmetric_cloud: a and f must have n entries")
    if not (reg > 0 and math.isfinite(reg)):
        raise ValueError("reg must be a finite number > 0")
    if not reg_m > 0:
        raise ValueError("reg_m must be > 0 (inf: balanced)")
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    C = (x64, np.ascontiguousarray(x64.T), metric == "euclidean")
    nb = _nblocks(n, n, o.num_threads)
    f64 = f.astype(np.float64)
    with _threads(nb):
        st, it, e, tr = _interrupt.run(
            _symmetric_driver, C, a.astype(np.float64), float(reg), float(reg_m), f64, int(o.max_iter), float(o.stop_thr),
            int(o.check_every), bool(want_trace), nb, np.array(anneal_stages(o, float(reg)), dtype=np.float64),
            int(o.anneal_inner), work=_work(C, a[:, None], o.max_iter))
    f[...] = f64
    return {"status": np.array([st], dtype=np.int32), "niter": np.array([it], dtype=np.int32),
            "err": np.array([e]), "trace": [float(t) for t in tr]}


sinkhorn_symmetric_cloud_f32 = sinkhorn_symmetric_cloud_f64


def sinkhorn_batch_f64(M, x, y, a, b, reg, X, Y, *, method, metric="sqeuclidean", options, want_plans=False):
    """nb independent problems, as otkit._ext.sinkhorn_batch_f64 (costs M (nb, n, m), or point clouds x (nb, n, d),
    y (nb, m, d) when M is None; X (nb, n), Y (nb, m) updated in place): each with the single-problem solver, one
    after the other (the C++ entry point spreads them over threads; the results are the same)."""
    if M is not None:
        if M.ndim != 3:
            raise ValueError("M: expected 3 dimensions")
        nb, n, m = M.shape
    else:
        if x.ndim != 3 or y.ndim != 3 or y.shape[0] != x.shape[0] or y.shape[2] != x.shape[2]:
            raise ValueError("sinkhorn_batch: x and y must be (B, n, d), (B, m, d)")
        if metric not in ("sqeuclidean", "euclidean"):
            raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean', got {metric!r}")
        nb, n, m = x.shape[0], x.shape[1], y.shape[1]
    if nb == 0 or n == 0 or m == 0:
        raise ValueError("sinkhorn_batch: empty problem")
    if a.shape != (nb, n) or X.shape != (nb, n):
        raise ValueError("sinkhorn_batch: a and X must be (B, n)")
    if b.shape != (nb, m) or Y.shape != (nb, m):
        raise ValueError("sinkhorn_batch: b and Y must be (B, m)")
    check_options(options)
    if (options.omega != 1.0 or options.omega_auto) and SinkhornMethod(int(method)) == SinkhornMethod.STABILIZED:
        raise ValueError("sinkhorn_batch: no over-relaxation (omega != 1) for the stabilized method")
    if SinkhornMethod(int(method)) != SinkhornMethod.LOG:
        no_annealing(options, "the kernel-form and stabilized methods")
    values = np.empty(nb)
    status = np.empty(nb, dtype=np.int32)
    niter = np.empty(nb, dtype=np.int32)
    err = np.empty(nb)
    plans = np.empty((nb, n, m)) if want_plans else None
    for k in range(nb):
        if M is not None:
            Mk = np.ascontiguousarray(M[k], dtype=np.float64)
        else:  # the costs as CloudRows: (x_ic - y_jc)^2 summed over c in order
            Mk = ((x[k][:, None, :].astype(np.float64) - y[k][None, :, :].astype(np.float64)) ** 2).sum(-1)
            if metric == "euclidean":
                Mk = np.sqrt(Mk)
        xk, yk = X[k].astype(np.float64)[:, None], Y[k].astype(np.float64)[:, None]
        r = sinkhorn_f64(Mk, a[k].astype(np.float64), b[k].astype(np.float64)[:, None], reg, xk, yk, method=method,
                         options=options, want_plan=want_plans)
        X[k], Y[k] = xk[:, 0], yk[:, 0]
        values[k], status[k], niter[k], err[k] = r["values"][0], r["status"][0], r["niter"][0], r["err"][0]
        if want_plans:
            plans[k] = r["plan"]
    return {"values": values, "plans": plans, "status": _finite_or_error(values, status), "niter": niter, "err": err,
            "trace": []}


def sinkhorn_batch_f32(M, x, y, a, b, reg, X, Y, **kwargs):
    """float32 entry point: computes in float64 and casts the results back."""
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    out = sinkhorn_batch_f64(M, x, y, a, b, reg, X64, Y64, **kwargs)
    X[...] = X64
    Y[...] = Y64
    out["values"] = out["values"].astype(np.float32)
    if out["plans"] is not None:
        out["plans"] = out["plans"].astype(np.float32)
    return out
