"""Numba fallbacks of the barycenter kernels (csrc/cpu/barycenter_cpu.*).

Same function names, arguments and results as the C++ bindings in ``otkit._ext``:
each returns ``dict(bar=..., status=..., niter=..., err=..., errs=[...])``. The iterates,
stopping rules and returned values are those of the POT functions named in each docstring.
Single-threaded; products go through ``np.dot`` (fixed-support kernel form) or plain loops
(``_mm``: faster to compile).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import _status
from . import _checks, _interrupt

_OK, _MAX_ITER, _NUM = _status.OK, _status.MAX_ITER, _status.NUMERICAL_ERROR


def _result(bar, status, niter, err, errs, nerr, **extra):
    out = {"bar": bar, "status": int(status), "niter": int(niter), "err": float(err),
           "errs": [float(e) for e in errs[:nerr]]}
    out.update(extra)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def _mm(A, B):
    # A @ B by loops (i, k, j order: the inner loop runs along rows of B and of the result);
    # compiles much faster than np.dot, and these fallbacks are single-threaded anyway
    n, m = A.shape
    p = B.shape[1]
    out = np.zeros((n, p))
    for i in range(n):
        for k in range(m):
            a = A[i, k]
            if a != 0.0:
                for j in range(p):
                    out[i, j] += a * B[k, j]
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def _sum_std_rows(X):
    # sum_i std_k X[i, k] (population std, two-pass)
    d, N = X.shape
    tot = 0.0
    for i in range(d):
        m = 0.0
        for k in range(N):
            m += X[i, k]
        m /= N
        v = 0.0
        for k in range(N):
            e = X[i, k] - m
            v += e * e
        tot += np.sqrt(v / N)
    return tot


@njit(cache=True, error_model="numpy", nogil=True)
def _check(err, stop_thr, errs, nerr):
    # -> (stop, status)
    errs[nerr] = err
    if not np.isfinite(err):
        return True, _NUM
    if err < stop_thr:
        return True, _OK
    return False, _MAX_ITER


@njit(cache=True, error_model="numpy", nogil=True)
def _kernel(M, reg):
    d = M.shape[0]
    K = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            K[i, j] = np.exp(-M[i, j] / reg)
    return K


@njit(cache=True, error_model="numpy", nogil=True)
def _initial_scalings(K, A):
    # POT's start of the kernel-form solvers: UKv = K (A / colsum(K)), u = geomean_k(UKv) / UKv
    d, N = A.shape
    colsum = np.zeros(d)
    for i in range(d):
        for j in range(d):
            colsum[j] += K[i, j]
    B0 = np.empty((d, N))
    for j in range(d):
        for k in range(N):
            B0[j, k] = A[j, k] / colsum[j]
    UKv = np.dot(K, B0)
    u = np.empty((d, N))
    for i in range(d):
        s = 0.0
        for k in range(N):
            s += np.log(UKv[i, k])
        gm = np.exp(s / N)
        for k in range(N):
            u[i, k] = gm / UKv[i, k]
    return u


@njit(cache=True, error_model="numpy", nogil=True)
def _sinkhorn_core(M, A, w, reg, max_iter, stop_thr, halt):
    d, N = A.shape
    K = _kernel(M, reg)
    u = _initial_scalings(K, A)
    KT = np.ascontiguousarray(K.T)
    bar = np.zeros(d)
    errs = np.zeros(max_iter // 10 + 2)
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    Y = np.empty((d, N))
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        X = np.dot(K, u)
        for i in range(d):
            for k in range(N):
                Y[i, k] = A[i, k] / X[i, k]
        UKv = np.dot(KT, Y)
        for i in range(d):
            for k in range(N):
                UKv[i, k] *= u[i, k]
        for j in range(d):
            s = 0.0
            for k in range(N):
                s += w[k] * np.log(UKv[j, k])
            bar[j] = np.exp(s)
            for k in range(N):
                u[j, k] = u[j, k] * bar[j] / UKv[j, k]
        if ii % 10 == 1:
            err = _sum_std_rows(UKv)
            stop, status = _check(err, stop_thr, errs, nerr)
            nerr += 1
            if stop:
                niter = ii
                break
    for j in range(d):
        if not np.isfinite(bar[j]):
            status = _NUM
    return bar, status, niter, err, errs, nerr


@njit(cache=True, error_model="numpy", nogil=True)
def _debiased_core(M, A, w, reg, max_iter, stop_thr, halt):
    # POT's _barycenter_debiased: UKv = K (A / K u), bar = c * exp(log(UKv) w), u = bar / UKv,
    # c = sqrt(c * bar / K c) (the c of the previous iteration in K c); err = max|bar - bar_prev| /
    # max(max(bar), 1) when ii % 10 == 9, which stops the loop only when ii > 20
    d, N = A.shape
    K = _kernel(M, reg)
    u = _initial_scalings(K, A)
    c = np.ones(d)
    bar = np.ones(d)
    bold = np.empty(d)
    Y = np.empty((d, N))
    errs = np.zeros(max_iter // 10 + 2)
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        bold[:] = bar
        X = np.dot(K, u)
        Kc = np.dot(K, c)
        for i in range(d):
            for k in range(N):
                Y[i, k] = A[i, k] / X[i, k]
        UKv = np.dot(K, Y)
        for j in range(d):
            s = 0.0
            for k in range(N):
                s += w[k] * np.log(UKv[j, k])
            bar[j] = c[j] * np.exp(s)
            for k in range(N):
                u[j, k] = bar[j] / UKv[j, k]
            c[j] = np.sqrt(c[j] * bar[j] / Kc[j])
        if ii % 10 == 9:
            diff = 0.0
            top = 0.0
            finite = True
            for j in range(d):
                if not (np.isfinite(bar[j]) and np.isfinite(bold[j])):
                    finite = False
                diff = max(diff, abs(bar[j] - bold[j]))
                top = max(top, bar[j])
            err = diff / max(top, 1.0) if finite else np.nan
            # a stopThr of -inf: no stop (but on a non-finite error) before ii > 20
            stop, status = _check(err, stop_thr if ii > 20 else -np.inf, errs, nerr)
            nerr += 1
            if stop:
                niter = ii
                break
    for j in range(d):
        if not np.isfinite(bar[j]):
            status = _NUM
    return bar, status, niter, err, errs, nerr


@njit(cache=True, error_model="numpy", nogil=True)
def _lse_rows_plus(Ms, g, logA, k, F):
    # F[i, k] = logA[i, k] - LSE_j(Ms[i, j] + g[j])
    d = Ms.shape[0]
    for i in range(d):
        mx = -np.inf
        for j in range(d):
            t = Ms[i, j] + g[j]
            if t > mx:
                mx = t
        s = 0.0
        if mx != -np.inf:
            for j in range(d):
                s += np.exp(Ms[i, j] + g[j] - mx)
        F[i, k] = logA[i, k] - (mx + np.log(s))


@njit(cache=True, error_model="numpy", nogil=True)
def _log_core(M, A, w, reg, max_iter, stop_thr, debiased, halt):
    # debiased: POT's _barycenter_debiased_log, logbar = sum_k w_k log KU_k + c, then 10 times
    # c = (c + logbar - LSE_i(-M_ij / reg + c_i)) / 2; stops only when ii > 20
    d, N = A.shape
    c = np.zeros(d)
    Ms = -M / reg
    logA = np.log(A + 1e-16)
    G = np.zeros((d, N))
    LKU = np.zeros((d, N))
    F = np.empty((d, N))
    logbar = np.zeros(d)
    mx = np.empty(d)
    sm = np.empty(d)
    errs = np.zeros(max_iter // 10 + 2)
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        for k in range(N):
            _lse_rows_plus(Ms, G[:, k].copy(), logA, k, F)
            # log KU[:, k] = LSE_i(Ms[i, :] + f_i)
            mx[:] = -np.inf
            for i in range(d):
                fi = F[i, k]
                for j in range(d):
                    t = Ms[i, j] + fi
                    if t > mx[j]:
                        mx[j] = t
            sm[:] = 0.0
            for i in range(d):
                fi = F[i, k]
                for j in range(d):
                    sm[j] += np.exp(Ms[i, j] + fi - mx[j])
            for j in range(d):
                LKU[j, k] = -np.inf if mx[j] == -np.inf else mx[j] + np.log(sm[j])
        logbar[:] = 0.0
        for j in range(d):
            for k in range(N):
                logbar[j] += w[k] * LKU[j, k]
            if debiased:
                logbar[j] += c[j]
        if ii % 10 == 1:
            err = _sum_std_rows(np.exp(G + LKU))
            stop, status = _check(err, stop_thr if ii > 20 or not debiased else -np.inf, errs, nerr)
            nerr += 1
            if stop:
                niter = ii
                break
        for j in range(d):
            for k in range(N):
                G[j, k] = logbar[j] - LKU[j, k]
        if debiased:
            for _ in range(10):
                # sm = LSE_i(Ms[i, :] + c_i), then c = (c + logbar - sm) / 2
                mx[:] = -np.inf
                for i in range(d):
                    for j in range(d):
                        t = Ms[i, j] + c[i]
                        if t > mx[j]:
                            mx[j] = t
                sm[:] = 0.0
                for i in range(d):
                    for j in range(d):
                        sm[j] += np.exp(Ms[i, j] + c[i] - mx[j])
                for j in range(d):
                    c[j] = 0.5 * (c[j] + logbar[j] - (mx[j] + np.log(sm[j])))
    bar = np.exp(logbar)
    for j in range(d):
        if not np.isfinite(bar[j]):
            status = _NUM
    return bar, status, niter, err, errs, nerr


@njit(cache=True, error_model="numpy", nogil=True)
def _absorb(u, v, alpha, beta, K, M, reg, tau):
    # POT's absorption of the stabilized barycenters: when a scaling exceeds tau, alpha += reg log max_k u,
    # beta += reg log max_k v, K = exp((alpha_i + beta_j - M_ij) / reg) and v = 1. Returns whether it absorbed.
    d, N = u.shape
    absorbing = False
    for i in range(d):
        for k in range(N):
            if u[i, k] > tau or v[i, k] > tau:
                absorbing = True
    if absorbing:
        for i in range(d):
            mu = u[i, 0]
            mv = v[i, 0]
            for k in range(1, N):
                mu = max(mu, u[i, k])
                mv = max(mv, v[i, k])
            alpha[i] += reg * np.log(mu)
            beta[i] += reg * np.log(mv)
        for i in range(d):
            for j in range(d):
                K[i, j] = np.exp((alpha[i] + beta[j] - M[i, j]) / reg)
        v.fill(1.0)
    return absorbing


@njit(cache=True, error_model="numpy", nogil=True)
def _stabilized_core(M, A, w, reg, tau, max_iter, stop_thr, halt):
    # explicit loops (array expressions make Numba's compile time much longer)
    d, N = A.shape
    u = np.empty((d, N))
    v = np.empty((d, N))
    u.fill(1.0 / d)
    v.fill(1.0 / d)
    K = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            K[i, j] = np.exp(-M[i, j] / reg)
    alpha = np.zeros(d)
    beta = np.zeros(d)
    q = np.empty(d)
    q.fill(1.0 / d)
    qprev = np.empty(d)
    errs = np.zeros(max_iter // 10 + 2)
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        qprev[:] = q
        Kv = _mm(K, v)
        for i in range(d):
            for k in range(N):
                u[i, k] = A[i, k] / Kv[i, k]
        Ktu = _mm(np.ascontiguousarray(K.T), u)
        for j in range(d):
            s = 0.0
            for k in range(N):
                s += w[k] * np.log(Ktu[j, k])
            q[j] = np.exp(s)
            for k in range(N):
                v[j, k] = q[j] / Ktu[j, k]
        absorbing = _absorb(u, v, alpha, beta, K, M, reg, tau)
        Kv = _mm(K, v)
        bad = False
        for i in range(d):
            for k in range(N):
                if Ktu[i, k] == 0.0 or not np.isfinite(u[i, k]) or not np.isfinite(v[i, k]):
                    bad = True
        if bad:
            q[:] = qprev
            status = _NUM
            niter = ii
            break
        if (ii % 10 == 0 and not absorbing) or ii == 0:
            err = 0.0
            for i in range(d):
                for k in range(N):
                    e = abs(u[i, k] * Kv[i, k] - A[i, k])
                    if e > err or np.isnan(e):
                        err = e
            stop, status = _check(err, stop_thr, errs, nerr)
            nerr += 1
            if stop:
                niter = ii
                break
    return q, status, niter, err, errs, nerr


@njit(cache=True, error_model="numpy", nogil=True)
def _unbalanced_core(M, A, w, reg, reg_m, stabilized, tau, max_iter, stop_thr, halt):
    # POT's barycenter_unbalanced_sinkhorn (stabilized: barycenter_unbalanced_stabilized); the iteration is
    # documented at barycenter_unbalanced_cpu (csrc/cpu/barycenter_cpu.cpp). fi = 1 (reg_m = inf): the
    # geometric mean, the limit of the power mean.
    d, N = A.shape
    fi = 1.0 if np.isinf(reg_m) else reg_m / (reg_m + reg)
    g = 1.0 - fi
    eps = 1e-16 if stabilized else 0.0
    start = 1.0 / d if stabilized else 1.0
    K = _kernel(M, reg)
    u = np.full((d, N), start)
    v = np.full((d, N), start)
    q = np.full(d, start)
    qprev = np.empty(d)
    uprev = np.empty((d, N))
    vprev = np.empty((d, N))
    alpha = np.zeros(d)
    beta = np.zeros(d)
    fa = np.ones(d)
    fb = np.ones(d)
    errs = np.zeros(min(max_iter + 1, 1024))  # grows with the iterations run
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        qprev[:] = q
        uprev[:] = u
        vprev[:] = v
        if stabilized:
            for i in range(d):
                fa[i] = np.exp(-alpha[i] / (reg + reg_m))
                fb[i] = np.exp(-beta[i] / (reg + reg_m))
        Kv = np.dot(K, v)
        for i in range(d):
            for k in range(N):
                r = A[i, k] / (Kv[i, k] + eps)
                u[i, k] = (r if fi == 1.0 else r ** fi) * fa[i]
        Ktu = np.dot(K.T, u)
        bad = False
        for j in range(d):
            s = 0.0
            for k in range(N):
                z = Ktu[j, k]
                if z == 0.0:
                    bad = True
                if fi == 1.0:
                    s += w[k] * np.log(z)
                else:
                    s += z ** g * fb[j] * w[k]
            if fi == 1.0:
                q[j] = np.exp(s - beta[j] / reg) if stabilized else np.exp(s)
            else:
                q[j] = s ** (1.0 / g)
            for k in range(N):
                r = q[j] / (Ktu[j, k] + eps)
                v[j, k] = (r if fi == 1.0 else r ** fi) * fb[j]
        absorbing = stabilized and _absorb(u, v, alpha, beta, K, M, reg, tau)
        for i in range(d):
            for k in range(N):
                if not (np.isfinite(u[i, k]) and np.isfinite(v[i, k])):
                    bad = True
        if bad:  # machine precision reached: the previous iterate (stabilized: q only), as POT
            q[:] = qprev
            if not stabilized:
                u[:] = uprev
                v[:] = vprev
            status = _NUM
            niter = ii
            break
        if stabilized and not ((ii % 10 == 0 and not absorbing) or ii == 0):
            continue
        diff = 0.0
        top = 1.0
        for j in range(d):
            diff = max(diff, abs(q[j] - qprev[j]))
            top = max(top, max(abs(q[j]), abs(qprev[j])))
        err = diff / top
        if nerr == errs.shape[0]:
            errs = np.concatenate((errs, np.zeros(errs.shape[0])))
        stop, status = _check(err, stop_thr if (stabilized or ii > 10) else -np.inf, errs, nerr)
        nerr += 1
        if stop:
            niter = ii
            break
    for j in range(d):
        if not np.isfinite(q[j]):
            status = _NUM
    logu = np.log(u + 1e-300)
    logv = np.log(v + 1e-300)
    return q, status, niter, err, errs, nerr, logu, logv


def _fixed_work(A, max_iter):
    """Entries x iterations of a fixed-support barycenter call (d x d kernel, N histograms), for _interrupt.run."""
    return float(A.shape[0]) ** 2 * A.shape[1] * max(1, int(max_iter))


def _conv_work(A, max_iter):
    """The same for the convolutional barycenters (N images R x C, two 1-D convolutions per pass)."""
    N, R, C = A.shape
    return float(N) * R * C * (R + C) * max(1, int(max_iter))


def bary_sinkhorn(M, A, weights, reg, max_iter, stop_thr, num_threads=0):
    """Fixed-support barycenter, kernel form (POT's ``ot.bregman.barycenter_sinkhorn``)."""
    _checks.bary_fixed(M, A, weights, reg, max_iter)
    return _result(*_interrupt.run(_sinkhorn_core, M, A, weights, float(reg), int(max_iter), float(stop_thr),
                                          work=_fixed_work(A, max_iter)))


def bary_sinkhorn_log(M, A, weights, reg, max_iter, stop_thr, num_threads=0):
    """Fixed-support barycenter, log domain (POT's ``barycenter(..., method="sinkhorn_log")``)."""
    _checks.bary_fixed(M, A, weights, reg, max_iter)
    return _result(*_interrupt.run(_log_core, M, A, weights, float(reg), int(max_iter), float(stop_thr), False,
                                          work=_fixed_work(A, max_iter)))


def bary_sinkhorn_stabilized(M, A, weights, reg, tau, max_iter, stop_thr, num_threads=0):
    """Fixed-support barycenter, stabilized kernel form (POT's ``barycenter_stabilized``)."""
    _checks.bary_fixed(M, A, weights, reg, max_iter)
    return _result(*_interrupt.run(_stabilized_core, M, A, weights, float(reg), float(tau), int(max_iter),
                                          float(stop_thr), work=_fixed_work(A, max_iter)))


def bary_debiased(M, A, weights, reg, max_iter, stop_thr, num_threads=0):
    """Fixed-support debiased barycenter, kernel form (POT's ``_barycenter_debiased``)."""
    _checks.bary_fixed(M, A, weights, reg, max_iter)
    return _result(*_interrupt.run(_debiased_core, M, A, weights, float(reg), int(max_iter), float(stop_thr),
                                          work=_fixed_work(A, max_iter)))


def bary_debiased_log(M, A, weights, reg, max_iter, stop_thr, num_threads=0):
    """Fixed-support debiased barycenter, log domain (POT's ``_barycenter_debiased_log``)."""
    _checks.bary_fixed(M, A, weights, reg, max_iter)
    return _result(*_interrupt.run(_log_core, M, A, weights, float(reg), int(max_iter), float(stop_thr), True,
                                          work=_fixed_work(A, max_iter)))


def _unbalanced(M, A, weights, reg, reg_m, stabilized, tau, max_iter, stop_thr):
    _checks.bary_fixed(M, A, weights, reg, max_iter)
    _checks.need(reg_m > 0, "reg_m must be > 0 (inf: balanced)")
    q, status, niter, err, errs, nerr, logu, logv = _interrupt.run(
        _unbalanced_core, M, A, weights, float(reg), float(reg_m), stabilized, float(tau), int(max_iter),
        float(stop_thr), work=_fixed_work(A, max_iter))
    return _result(q, status, niter, err, errs, nerr, logu=logu, logv=logv)


def bary_unbalanced(M, A, weights, reg, reg_m, max_iter, stop_thr, num_threads=0):
    """Unbalanced fixed-support barycenter (POT's ``barycenter_unbalanced_sinkhorn``); also ``logu``, ``logv``."""
    return _unbalanced(M, A, weights, reg, reg_m, False, 0.0, max_iter, stop_thr)


def bary_unbalanced_stabilized(M, A, weights, reg, reg_m, tau, max_iter, stop_thr, num_threads=0):
    """Unbalanced fixed-support barycenter, stabilized (POT's ``barycenter_unbalanced_stabilized``)."""
    return _unbalanced(M, A, weights, reg, reg_m, True, tau, max_iter, stop_thr)


# ---------------------------------------------------------------------------------------
# Convolutional (2-D images, separable Gaussian kernel)
# ---------------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy", nogil=True)
def _gauss1d(n, reg, log_domain):
    t = np.linspace(0.0, 1.0, n)
    K = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            x = -((t[i] - t[j]) ** 2) / reg
            K[i, j] = x if log_domain else np.exp(x)
    return K


@njit(cache=True, error_model="numpy", nogil=True)
def _conv(K1, K2, X, T, out):
    # out_k = K1 X_k K2: N products K1 X_k into T (N R x C), then one (N R x C) x (C x C) product
    N, R, C = X.shape
    for k in range(N):
        T[k * R:(k + 1) * R, :] = _mm(K1, X[k])
    out[:, :, :] = _mm(T, K2).reshape(N, R, C)


@njit(cache=True, error_model="numpy", nogil=True)
def _sum_std_images(X):
    N, R, C = X.shape
    tot = 0.0
    for r in range(R):
        for c in range(C):
            m = 0.0
            for k in range(N):
                m += X[k, r, c]
            m /= N
            v = 0.0
            for k in range(N):
                e = X[k, r, c] - m
                v += e * e
            tot += np.sqrt(v / N)
    return tot


@njit(cache=True, error_model="numpy", nogil=True)
def _conv_core(A, w, reg, max_iter, stop_thr, stab_thr, debiased, halt):
    # debiased: POT's _convolutional_barycenter2d_debiased, bar = c * exp(...), then 10 times
    # c = sqrt(c * bar / K c); stops only when ii > 20. Also returns the last U and V.
    N, R, C = A.shape
    c = np.ones((1, R, C))
    KC = np.empty((1, R, C))
    T1 = np.empty((R, C))
    K1 = _gauss1d(R, reg, False)
    K2 = _gauss1d(C, reg, False)
    bar = np.empty((R, C))
    bar.fill(1.0 / (R * C))
    U = np.ones((N, R, C))
    V = np.empty((N, R, C))
    KU = np.empty((N, R, C))
    KV = np.empty((N, R, C))
    E = np.empty((N, R, C))
    T = np.empty((N * R, C))
    _conv(K1, K2, U, T, KU)
    errs = np.zeros(max_iter // 10 + 2)
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        for k in range(N):
            for r in range(R):
                for q in range(C):
                    V[k, r, q] = bar[r, q] / KU[k, r, q]
        _conv(K1, K2, V, T, KV)
        for k in range(N):
            for r in range(R):
                for q in range(C):
                    U[k, r, q] = A[k, r, q] / KV[k, r, q]
        _conv(K1, K2, U, T, KU)
        for r in range(R):
            for q in range(C):
                s = 0.0
                for k in range(N):
                    s += w[k] * np.log(KU[k, r, q] + stab_thr)
                bar[r, q] = c[0, r, q] * np.exp(s) if debiased else np.exp(s)
        if debiased:
            for _ in range(10):
                _conv(K1, K2, c, T1, KC)
                for r in range(R):
                    for q in range(C):
                        c[0, r, q] = np.sqrt(c[0, r, q] * bar[r, q] / KC[0, r, q])
        if ii % 10 == 9:
            for k in range(N):
                for r in range(R):
                    for q in range(C):
                        E[k, r, q] = V[k, r, q] * KU[k, r, q]
            err = _sum_std_images(E)
            stop, status = _check(err, stop_thr if ii > 20 or not debiased else -np.inf, errs, nerr)
            nerr += 1
            if stop:
                niter = ii
                break
    for r in range(R):
        for q in range(C):
            if not np.isfinite(bar[r, q]):
                status = _NUM
    return bar, status, niter, err, errs, nerr, U, V


@njit(cache=True, error_model="numpy", nogil=True)
def _lse_product(A, B):
    # out[i, l] = LSE_j(A[i, j] + B[j, l]): the log-domain matrix product (max-shifted)
    n, k = A.shape
    m = B.shape[1]
    out = np.empty((n, m))
    for i in range(n):
        for l in range(m):
            mx = -np.inf
            for j in range(k):
                t = A[i, j] + B[j, l]
                if t > mx:
                    mx = t
            s = 0.0
            if mx != -np.inf:
                for j in range(k):
                    s += np.exp(A[i, j] + B[j, l] - mx)
            out[i, l] = -np.inf if mx == -np.inf else mx + np.log(s)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def _lconv(M1, M2, X):
    # Y[i, l] = LSE_j(M1[i, j] + X[j, l]);  out[i, l] = LSE_j(Y[i, j] + M2[l, j])
    return _lse_product(_lse_product(M1, X), M2.T)


@njit(cache=True, error_model="numpy", nogil=True)
def _conv_log_core(A, w, reg, max_iter, stop_thr, stab_thr, debiased, halt):
    # debiased: POT's _convolutional_barycenter2d_debiased_log, logbar += c, then 10 times
    # c = (c + logbar - lconv(c)) / 2; stops only when ii > 20
    N, R, C = A.shape
    cpot = np.zeros((R, C))
    M1 = _gauss1d(R, reg, True)
    M2 = _gauss1d(C, reg, True)
    logA = np.empty((N, R, C))
    for k in range(N):
        for r in range(R):
            for c in range(C):
                logA[k, r, c] = np.log(A[k, r, c] + stab_thr)
    G = np.zeros((N, R, C))
    LKU = np.zeros((N, R, C))
    E = np.empty((N, R, C))
    f = np.empty((R, C))
    logbar = np.zeros((R, C))
    errs = np.zeros(max_iter // 10 + 2)
    nerr = 0
    status = _MAX_ITER
    err = 1.0
    niter = max_iter - 1
    for ii in range(max_iter):
        if halt[0] != 0:  # Ctrl-C (see _interrupt): the result is discarded
            break
        logbar.fill(0.0)
        for k in range(N):
            cg = _lconv(M1, M2, G[k])
            for r in range(R):
                for c in range(C):
                    f[r, c] = logA[k, r, c] - cg[r, c]
            cf = _lconv(M1, M2, f)
            for r in range(R):
                for c in range(C):
                    LKU[k, r, c] = cf[r, c]
                    logbar[r, c] += w[k] * cf[r, c]
        if debiased:
            for r in range(R):
                for c in range(C):
                    logbar[r, c] += cpot[r, c]
            for _ in range(10):  # (POT updates c before its check, which does not read c)
                cc = _lconv(M1, M2, cpot)
                for r in range(R):
                    for c in range(C):
                        cpot[r, c] = 0.5 * (cpot[r, c] + logbar[r, c] - cc[r, c])
        if ii % 10 == 9:
            for k in range(N):
                for r in range(R):
                    for c in range(C):
                        E[k, r, c] = np.exp(G[k, r, c] + LKU[k, r, c])
            err = _sum_std_images(E)
            stop, status = _check(err, stop_thr if ii > 20 or not debiased else -np.inf, errs, nerr)
            nerr += 1
            if stop:
                niter = ii
                break
        for k in range(N):
            for r in range(R):
                for c in range(C):
                    G[k, r, c] = logbar[r, c] - LKU[k, r, c]
    bar = np.empty((R, C))
    for r in range(R):
        for c in range(C):
            bar[r, c] = np.exp(logbar[r, c])
            if not np.isfinite(bar[r, c]):
                status = _NUM
    return bar, status, niter, err, errs, nerr


def bary_conv2d(A, weights, reg, max_iter, stop_thr, stab_thr, num_threads=0):
    """Convolutional barycenter (POT's ``_convolutional_barycenter2d``)."""
    _checks.bary_conv(A, weights, reg, max_iter)
    return _result(*_interrupt.run(_conv_core, A, weights, float(reg), int(max_iter), float(stop_thr), float(stab_thr),
                                          False, work=_conv_work(A, max_iter))[:6])


def bary_conv2d_log(A, weights, reg, max_iter, stop_thr, stab_thr, num_threads=0):
    """Convolutional barycenter, log domain (POT's ``_convolutional_barycenter2d_log``)."""
    _checks.bary_conv(A, weights, reg, max_iter)
    return _result(*_interrupt.run(_conv_log_core, A, weights, float(reg), int(max_iter), float(stop_thr),
                                          float(stab_thr), False, work=_conv_work(A, max_iter)))


def bary_conv2d_debiased(A, weights, reg, max_iter, stop_thr, stab_thr, num_threads=0):
    """Debiased convolutional barycenter (POT's ``_convolutional_barycenter2d_debiased``); also returns the
    last scalings ``U`` and ``V``."""
    _checks.bary_conv(A, weights, reg, max_iter)
    bar, status, niter, err, errs, nerr, U, V = _interrupt.run(
        _conv_core, A, weights, float(reg), int(max_iter), float(stop_thr), float(stab_thr), True,
        work=_conv_work(A, max_iter))
    return _result(bar, status, niter, err, errs, nerr, U=U, V=V)


def bary_conv2d_debiased_log(A, weights, reg, max_iter, stop_thr, stab_thr, num_threads=0):
    """Debiased convolutional barycenter, log domain (POT's ``_convolutional_barycenter2d_debiased_log``)."""
    _checks.bary_conv(A, weights, reg, max_iter)
    return _result(*_interrupt.run(_conv_log_core, A, weights, float(reg), int(max_iter), float(stop_thr),
                                          float(stab_thr), True, work=_conv_work(A, max_iter)))
