"""Numba fallback of the unbalanced Sinkhorn kernel (same name, arguments and results as
``otkit._ext.sinkhorn_unbalanced_*``; the algorithm of ``sinkhorn_unbalanced_cpu`` in
csrc/cpu/sinkhorn_cpu.cpp, with the update rule of csrc/common/sinkhorn_rules.h).

The products ``K v`` and ``K^T u`` go through NumPy's BLAS (``np.dot`` in nopython mode); the log-domain
method through row/column log-sum-exps. U, V hold log-scalings in and out, as in the C++ kernel.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit

from . import _checks, _interrupt
from ._types import SinkhornOptions, UnbalancedMethod  # noqa: F401  (same names as otkit._ext)
from ._types import check_options, no_anderson, no_annealing
from .sinkhorn import _guard, _log_pass, _log_pass_onexp, _nblocks, _omega_arg, _rescale

OK, MAX_ITER, NUMERICAL_ERROR = 0, 1, 2


@njit(cache=True, inline="always", error_model="numpy", nogil=True)
def _rule(target, s, fi, eps, phi):
    """UnbalancedRule: phi (target / (s + eps))^fi; 0 where target = 0."""
    if target == 0.0:
        return 0.0
    r = target / (s + eps)
    x = r if fi == 1.0 else r ** fi
    return x * phi


@njit(cache=True, error_model="numpy", nogil=True)
def _rel_change(x, y):
    num = np.max(np.abs(x - y))
    return num / max(np.max(np.abs(x)), np.max(np.abs(y)), 1.0)


@njit(cache=True, error_model="numpy", nogil=True)
def _rel_change_log(f, fp):
    F = max(np.max(f), np.max(fp), 0.0)
    x = np.exp(f - F)
    y = np.exp(fp - F)
    return np.max(np.abs(x - y)) / max(np.max(x), np.max(y), math.exp(-F))


@njit(cache=True, inline="always", error_model="numpy", nogil=True)
def _exponent(reg_m, reg):
    return 1.0 if reg_m == np.inf else reg_m / (reg_m + reg)


@njit(cache=True, error_model="numpy", nogil=True)
def _iterate(C, scale, a, b, ta, tb, f, g, lse, fi1, fi2, omega, log_fast, nblocks):
    # f, and the column LSE of the new f: one exp per entry where safe, else the exact pass (from f on entry)
    fast = False
    if log_fast:
        fsave = f.copy()
        fast, _ = _log_pass_onexp(C, scale, a, b, ta, g, f, lse, nblocks, omega, fi1)
        if not fast:
            f[:] = fsave
    if not fast:
        _log_pass(C, scale, ta, g, f, True, lse, nblocks, omega, fi1)
    for j in range(g.size):
        if tb[j] == -np.inf:
            g[j] = tb[j]
            continue
        fresh = fi2 * (tb[j] - lse[j])
        relaxed = omega != 1.0 and fresh != -np.inf and g[j] != -np.inf
        g[j] = (1.0 - omega) * g[j] + omega * fresh if relaxed else fresh


@njit(cache=True, error_model="numpy", nogil=True)
def _finite(x):
    return not (np.any(np.isnan(x)) or np.any(x == np.inf))


@njit(cache=True, error_model="numpy", nogil=True)
def _log_single(C, a, b, reg, r1, r2, kl_ref, max_iter, stop_thr, f, g, trace, nblocks, stages, inner, omega_target,
                omega_start, log_fast, stop):
    """unbalanced_log_driver (csrc/cpu/sinkhorn_cpu.cpp): the log-domain passes of the balanced solver (_log_pass,
    _log_pass_onexp) with the unbalanced rule, on a cost matrix or point clouds (C); kl_ref: targets log a / fi
    (reference a b^T); epsilon scaling over `stages`; the safeguarded over-relaxation (omega_target <= 0: auto)."""
    loga, logb = np.log(a), np.log(b)
    lse = np.empty(g.size)
    annealed = 0
    r_prev = reg
    for rk in stages:
        fkeep, gkeep = f.copy(), g.copy()
        _rescale(f, loga, r_prev / rk, kl_ref)
        _rescale(g, logb, r_prev / rk, kl_ref)
        fi1, fi2 = _exponent(r1, rk), _exponent(r2, rk)
        ta, tb = (loga / fi1, logb / fi2) if kl_ref else (loga, logb)
        for t in range(inner):
            if stop[0] != 0:
                break
            _iterate(C, -1.0 / rk, a, b, ta, tb, f, g, lse, fi1, fi2, 1.0, log_fast, nblocks)
        if not (_finite(f) and _finite(g)):  # the stage is undone, the annealing ends
            f[:] = fkeep
            g[:] = gkeep
            break
        r_prev = rk
        annealed += inner
    _rescale(f, loga, r_prev / reg, kl_ref)
    _rescale(g, logb, r_prev / reg, kl_ref)
    fi1, fi2 = _exponent(r1, reg), _exponent(r2, reg)
    ta, tb = (loga / fi1, logb / fi2) if kl_ref else (loga, logb)
    err = 1.0
    om, best, gstate, gprev_err = 1.0, np.inf, 0, 0.0
    ii = 0
    while ii < max_iter and stop[0] == 0:  # stop: Ctrl-C (see _interrupt)
        fprev, gprev = f.copy(), g.copy()
        _iterate(C, -1.0 / reg, a, b, ta, tb, f, g, lse, fi1, fi2, om, log_fast, nblocks)
        if not (_finite(f) and _finite(g)):
            f[:] = fprev
            g[:] = gprev
            return NUMERICAL_ERROR, ii + annealed, err
        err = 0.5 * (_rel_change_log(f, fprev) + _rel_change_log(g, gprev))
        trace.append(err)
        if err < stop_thr:
            return OK, ii + annealed, err
        om, best, gstate, gprev_err, omega_target = _guard(omega_target, omega_start, err, best, gstate, gprev_err,
                                                           1)
        ii += 1
    return MAX_ITER, max(0, ii - 1) + annealed, err


@njit(cache=True, error_model="numpy", nogil=True)
def _kernel_driver(Mk, a, B, reg, r1, r2, method, max_iter, stop_thr, tau, U, V, trace, stop):
    """Kernel forms (KNOPP, TRANSLATION_INVARIANT, STABILIZED) on u (n x N), v (m x N)."""
    n, m = Mk.shape
    N = B.shape[1]
    fi1 = 1.0 if r1 == np.inf else r1 / (r1 + reg)
    fi2 = 1.0 if r2 == np.inf else r2 / (r2 + reg)
    ti = method == 1
    stab = method == 2
    eps = 1e-16 if stab else 0.0
    K = np.exp(Mk * (-1.0 / reg))
    u = np.exp(U)
    v = np.exp(V)
    uit, vit = u.copy(), v.copy()
    alpha, beta = np.zeros(n), np.zeros(m)
    phia, phib = np.ones(n), np.ones(m)
    # translation-invariant constants (Sejourne et al. 2022, as in POT)
    rr1 = 0.0 if r1 == np.inf else reg / r1
    rr2 = 0.0 if r2 == np.inf else reg / r2
    k1 = 0.0 if r1 == np.inf else reg * r1 / ((reg + r1) * (r1 + r2))
    k2 = 0.0 if r2 == np.inf else reg * r2 / ((reg + r2) * (r1 + r2))
    krho1 = 0.0 if r1 == np.inf else k1 * r1 / reg
    krho2 = 0.0 if r2 == np.inf else k2 * r2 / reg
    if r1 == np.inf and r2 == np.inf:
        xi1, xi2, fi12 = 0.0, 0.0, 1.0
    elif r1 == np.inf:
        xi1, xi2, fi12 = 0.0, reg / r2, r2
    elif r2 == np.inf:
        xi1, xi2, fi12 = reg / r1, 0.0, r1
    else:
        xi1 = (r2 * reg) / (r1 * (reg + r1 + r2))
        xi2 = (r1 * reg) / (r2 * (reg + r1 + r2))
        fi12 = r1 * r2 / (r1 + r2)
    xirho1 = 0.0 if r1 == np.inf else xi1 * r1 / reg
    xirho2 = 0.0 if r2 == np.inf else xi2 * r2 / reg
    status, niter, err = MAX_ITER, 0, 1.0
    su = np.zeros(N)
    cv = np.ones(N)  # per-histogram factors of the translation-invariant updates (reused every iteration)
    ii = 0
    while ii < max_iter and stop[0] == 0:  # stop: Ctrl-C (see _interrupt)
        uprev, vprev = u.copy(), v.copy()
        if stab:
            for i in range(n):
                phia[i] = 1.0 if r1 == np.inf else math.exp(-alpha[i] / (reg + r1))
            for j in range(m):
                phib[j] = 1.0 if r2 == np.inf else math.exp(-beta[j] / (reg + r2))
        cv[:] = 1.0
        if ti:
            for k in range(N):
                cv[k] = np.sum(B[:, k] * vit[:, k] ** rr2) ** krho2
        Kv = np.dot(K, vit)
        for i in range(n):
            for k in range(N):
                uit[i, k] = _rule(a[i], Kv[i, k], fi1, eps, phia[i])
        if ti:
            for k in range(N):
                s = np.sum(a * (cv[k] * uit[:, k]) ** (-rr1))
                uit[:, k] *= cv[k] * s ** (-xirho1)
                su[k] = np.sum(a * uit[:, k] ** (-rr1))
        ktu = np.dot(K.T, uit)
        for j in range(m):
            for k in range(N):
                vit[j, k] = _rule(B[j, k], ktu[j, k], fi2, eps, phib[j])
        if ti:
            for k in range(N):
                c1 = su[k] ** krho1
                s = np.sum(B[:, k] * (c1 * vit[:, k]) ** (-rr2))
                vit[:, k] *= c1 * s ** (-xirho2)
        bad = np.any(ktu == 0.0)
        absorbing = False
        if stab and (np.max(uit) > tau or np.max(vit) > tau):
            absorbing = True
            for i in range(n):
                alpha[i] += reg * math.log(np.max(uit) if N == 1 else np.max(uit[i]))
            for j in range(m):
                beta[j] += reg * math.log(np.max(vit) if N == 1 else np.max(vit[j]))
            K = np.exp((alpha.reshape(n, 1) + beta.reshape(1, m) - Mk) / reg)
            vit[:] = 1.0
        bad = bad or not (np.all(np.isfinite(uit)) and np.all(np.isfinite(vit)))
        if bad:
            u, v = uprev, vprev
            status, niter = NUMERICAL_ERROR, ii
            break
        if ti:
            for k in range(N):
                t = (su[k] / np.sum(B[:, k] * vit[:, k] ** (-rr2))) ** (fi12 / reg)
                u[:, k] = uit[:, k] * t
                v[:, k] = vit[:, k] / t
            # t overflows at small reg: stop on a numerical error (as the C++ kernel)
            okf = True
            for e in range(u.size):
                x, xi = u.flat[e], uit.flat[e]
                okf = okf and ((np.isfinite(x) and x != 0.0) or xi == 0.0)
            for e in range(v.size):
                x, xi = v.flat[e], vit.flat[e]
                okf = okf and ((np.isfinite(x) and x != 0.0) or xi == 0.0)
            if not okf:
                u, v = uprev, vprev
                status, niter = NUMERICAL_ERROR, ii
                break
        else:
            u, v = uit.copy(), vit.copy()
        if stab:
            if (ii % 10 == 0 and not absorbing) or ii == 0:
                err = _rel_change(u, uprev)
                trace.append(err)
                if err <= stop_thr:
                    status, niter = OK, ii
                    break
        else:
            err = 0.5 * (_rel_change(u, uprev) + _rel_change(v, vprev))
            trace.append(err)
            if err < stop_thr:
                status, niter = OK, ii
                break
        ii += 1
    if status == MAX_ITER:
        niter = max(0, ii - 1)
    for i in range(n):
        for k in range(N):
            U[i, k] = (alpha[i] / reg if stab else 0.0) + math.log(u[i, k])
    for j in range(m):
        for k in range(N):
            V[j, k] = (beta[j] / reg if stab else 0.0) + math.log(v[j, k])
    return status, niter, err


@njit(cache=True, error_model="numpy", nogil=True)
def _plan_values(M, Mk, reg, F, G, want_plan):
    n, m = M.shape
    N = F.shape[1]
    values = np.zeros(N)
    plan = np.zeros((n, m)) if want_plan else np.zeros((0, 0))
    for k in range(N):
        tot = 0.0
        for i in range(n):
            if F[i, k] == -np.inf:
                continue
            s = 0.0
            for j in range(m):
                p = math.exp(-Mk[i, j] / reg + F[i, k] + G[j, k])
                if want_plan:
                    plan[i, j] = p
                s += p * M[i, j]
            tot += s
        values[k] = tot
    return values, plan


def _check(M, Mk, a, B, reg, U, V, reg_m1, reg_m2, options):
    """The refusals of the C++ binding (csrc/bind/sinkhorn_bind.cpp, sinkhorn_unbalanced)."""
    _checks.arrays(M=(M, 2), Mk=(Mk, 2), a=(a, 1), B=(B, 2), U=(U, 2), V=(V, 2))
    n, m = M.shape
    N = B.shape[1]
    _checks.need(a.shape[0] == n and B.shape[0] == m and U.shape == (n, N) and V.shape == (m, N),
                 "sinkhorn_unbalanced: inconsistent shapes")
    _checks.need(Mk.shape == M.shape, "sinkhorn_unbalanced: Mk must have the shape of M")
    _checks.need(n > 0 and m > 0 and N > 0, "sinkhorn_unbalanced: empty problem")
    _checks.need(reg > 0 and np.isfinite(reg), "reg must be a finite number > 0")
    _checks.need(reg_m1 > 0 and reg_m2 > 0, "reg_m must be > 0 (inf: balanced)")
    _checks.need(options.max_iter >= 0, "numItermax must be >= 0")


def _run(M, Mk, a, B, reg, U, V, reg_m1, reg_m2, method, options, want_plan, want_value, want_trace, dt):
    _check(M, Mk, a, B, reg, U, V, reg_m1, reg_m2, options)
    check_options(options)
    no_annealing(options, "sinkhorn_unbalanced")
    no_anderson(options, "sinkhorn_unbalanced")
    if options.omega_auto or options.omega != 1.0:
        raise ValueError("sinkhorn_unbalanced: no over-relaxation (omega)")
    M64, Mk64 = M.astype(np.float64), Mk.astype(np.float64)
    a64, B64 = a.astype(np.float64), B.astype(np.float64)
    U64, V64 = U.astype(np.float64), V.astype(np.float64)
    n, m = M.shape
    N = B.shape[1]
    if want_plan and N != 1:
        raise ValueError("a plan is only returned for a single problem")
    method = int(method)
    work = float(n) * m * max(1, int(options.max_iter))  # per problem, for _interrupt.run
    from numba.typed import List
    trace = List.empty_list(numba.float64)
    r1, r2 = float(reg_m1), float(reg_m2)
    if method == UnbalancedMethod.LOG:
        status, niter, err = OK, 0, 0.0
        for k in range(N):
            f, g = U64[:, k].copy(), V64[:, k].copy()
            tr = List.empty_list(numba.float64)
            s, it, e = _interrupt.run(
                _log_single, Mk64, a64, B64[:, k].copy(), float(reg), r1, r2, False, int(options.max_iter),
                float(options.stop_thr), f, g, tr, _nblocks(*Mk64.shape, options.num_threads), np.zeros(0), 0,
                1.0, 1.0, bool(options.log_fast), work=work)
            if k == 0 or s > status:
                status, err = s, e
            niter = max(niter, it)
            U64[:, k], V64[:, k] = f, g
            if N == 1:
                trace = tr
        values, plan = _plan_values(M64, Mk64, float(reg), U64, V64, bool(want_plan))
    else:
        status, niter, err = _interrupt.run(_kernel_driver, Mk64, a64, B64, float(reg), r1, r2, method,
                                            int(options.max_iter), float(options.stop_thr), float(options.tau), U64,
                                            V64, trace, work=work * N)
        values, plan = _plan_values(M64, Mk64, float(reg), U64, V64, bool(want_plan))
        if method != UnbalancedMethod.STABILIZED:  # out as POT's log(u + 1e-300)
            with np.errstate(divide="ignore"):
                U64[...] = np.log(np.exp(U64) + 1e-300)
                V64[...] = np.log(np.exp(V64) + 1e-300)
    U[...] = U64
    V[...] = V64
    return {
        "values": values.astype(dt),
        "plan": plan.astype(dt) if want_plan else None,
        "status": np.array([NUMERICAL_ERROR if status == OK and not np.isfinite(values).all() else status],
                           dtype=np.int32),
        "niter": np.array([niter], dtype=np.int32),
        "err": np.array([err]),
        "trace": list(trace) if want_trace else [],
    }


def sinkhorn_unbalanced_f64(M, Mk, a, B, reg, U, V, *, reg_m1, reg_m2, method, options, want_plan=False,
                            want_value=True, want_trace=False):
    return _run(M, Mk, a, B, reg, U, V, reg_m1, reg_m2, method, options, want_plan, want_value, want_trace,
                np.float64)


def sinkhorn_unbalanced_f32(M, Mk, a, B, reg, U, V, *, reg_m1, reg_m2, method, options, want_plan=False,
                            want_value=True, want_trace=False):
    return _run(M, Mk, a, B, reg, U, V, reg_m1, reg_m2, method, options, want_plan, want_value, want_trace,
                np.float32)


def sinkhorn_unbalanced_cloud_f64(x, y, a, b, reg, f, g, *, reg_m1, reg_m2, kl_ref, metric, options,
                                  want_trace=False):
    """Unbalanced log-domain Sinkhorn between point clouds, as otkit._ext.sinkhorn_unbalanced_cloud_f64
    (sinkhorn_unbalanced_cloud_cpu): f (n), g (m) log-scalings updated in place; returns dict(value <P, c>,
    row_mass, col_mass, status, niter, err, trace)."""
    from .sinkhorn import _log_plan_value, _threads, _work

    _checks.arrays(x=(x, 2), y=(y, 2), a=(a, 1), b=(b, 1), f=(f, 1), g=(g, 1))
    n, m = x.shape[0], y.shape[0]
    _checks.need(x.shape[1] == y.shape[1], "x and y must have the same number of columns (dimension)")
    _checks.need(n > 0 and m > 0, "sinkhorn_unbalanced_cloud: empty problem")
    _checks.need(a.shape[0] == n and f.shape[0] == n, "sinkhorn_unbalanced_cloud: a and f must have n entries")
    _checks.need(b.shape[0] == m and g.shape[0] == m, "sinkhorn_unbalanced_cloud: b and g must have m entries")
    _checks.need(metric in ("sqeuclidean", "euclidean"),
                 f"metric must be 'sqeuclidean' or 'euclidean', got '{metric}'")
    _checks.need(reg > 0 and np.isfinite(reg), "reg must be a finite number > 0")
    _checks.need(reg_m1 > 0 and reg_m2 > 0, "reg_m must be > 0 (inf: balanced)")
    o = options
    check_options(o)
    no_anderson(o, "sinkhorn_unbalanced_cloud")
    from ._types import anneal_stages

    x64, y64 = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
    euclid = metric == "euclidean"
    C, CT = (x64, np.ascontiguousarray(y64.T), euclid), (y64, np.ascontiguousarray(x64.T), euclid)
    nb = _nblocks(n, m, o.num_threads)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    f64, g64 = f.astype(np.float64), g.astype(np.float64)
    from numba.typed import List
    tr = List.empty_list(numba.float64)
    with _threads(nb):
        st, it, e = _interrupt.run(_log_single, C, a64, b64, float(reg), float(reg_m1), float(reg_m2), bool(kl_ref),
                                   int(o.max_iter), float(o.stop_thr), f64, g64, tr, nb,
                                   np.array(anneal_stages(o, float(reg)), dtype=np.float64), int(o.anneal_inner),
                                   _omega_arg(o), float(o.omega_start), bool(o.log_fast),
                                   work=_work(C, b64[:, None], o.max_iter))
        # the marginals (column passes of C and C^T that leave the potentials as they are) and <P, c>
        lse_c, lse_r = np.empty(m), np.empty(n)
        _log_pass(C, -1.0 / reg, a64, g64, f64, False, lse_c, nb, 1.0)
        _log_pass(CT, -1.0 / reg, b64, f64, g64, False, lse_r, nb, 1.0)
        value = _log_plan_value(C, -1.0 / reg, f64, g64, np.zeros((0, 0)), False, nb)
    f[...] = f64
    g[...] = g64
    dt = f.dtype
    return {"status": np.array([st], dtype=np.int32), "niter": np.array([it], dtype=np.int32),
            "err": np.array([e]), "trace": [float(t) for t in tr] if want_trace else [],
            "value": float(value), "row_mass": np.exp(f64 + lse_r).astype(dt),
            "col_mass": np.exp(g64 + lse_c).astype(dt)}


sinkhorn_unbalanced_cloud_f32 = sinkhorn_unbalanced_cloud_f64
