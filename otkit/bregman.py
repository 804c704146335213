r"""Entropic optimal transport by Sinkhorn matrix scaling (POT-compatible ``sinkhorn``/``sinkhorn2``).

The solvers run in one compiled kernel call (C++ ``otkit._ext`` or the Numba fallback
``otkit._numba.sinkhorn``, same signatures); this module validates the input once, picks the method
and the backend, and turns the kernel's status into a result, a warning or a ``log`` entry.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _autograd, _backend, _device, geometry
from . import _status as st
from .utils import as_float_array, check_cost, check_hist, check_masses, check_positive_int, check_reg, check_threshold
from .utils import check_anderson, check_omega, resolve_dtype
from .utils import array_range, check_method, check_max_iter, check_reg_scale, dtype_name

__all__ = ["sinkhorn", "sinkhorn2", "kernel_form_is_safe"]

METHODS = ("sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "sinkhorn_epsilon_scaling", "auto")
# POT checks the marginal error every 10 iterations (every 20 in sinkhorn_stabilized, also in the inner
# solves of sinkhorn_epsilon_scaling)
_CHECK_EVERY = {"sinkhorn": 10, "sinkhorn_log": 10, "sinkhorn_stabilized": 20, "sinkhorn_epsilon_scaling": 20}
SCHEDULES = ("pot", "geometric")
_KERNEL_METHOD = {"sinkhorn": "KERNEL", "sinkhorn_log": "LOG", "sinkhorn_stabilized": "STABILIZED"}


def kernel_form_is_safe(M, reg, dtype=np.float64) -> bool:
    """True when no entry of ``exp(-M / reg)`` underflows (to a subnormal or 0) or overflows in ``dtype``.

    This is the rule ``method="auto"`` uses to choose the kernel form over the log-domain.
    """
    return _safe_range(float(np.min(M)), float(np.max(M)), reg, dtype)


def _safe_range(mmin, mmax, reg, dtype):
    fi = np.finfo(dtype)
    return -mmax / reg > np.log(fi.tiny) and -mmin / reg < np.log(fi.max)


def _available_memory():
    """Bytes of memory available to this process (Linux: MemAvailable of /proc/meminfo), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


_SMALL_K = 256 * 2**20  # bytes of K that are taken to fit without reading /proc/meminfo (a file read per call)


def _kernel_fits(n, m, dt) -> bool:
    """Whether the kernel form's K (n x m, besides M) fits in 80% of the available memory (method='auto');
    the log-domain needs no n x m buffer of its own."""
    need = n * m * np.dtype(dt).itemsize
    if need < _SMALL_K:
        return True
    avail = _available_memory()
    return avail is None or need < 0.8 * avail


def _on_device(M, backend):
    """True when M is an array in GPU memory that the CUDA kernels should take in place: backend "cuda",
    or "auto" when otkit's CUDA kernels can run (else the input is copied to the host, as before)."""
    if not _device.is_device_array(M):
        return False
    name = (backend or "auto").lower()
    if name == "cuda":
        return True
    env = _backend.env_backend()
    return name == "auto" and env not in ("cpp", "numba") and _backend.is_available("cuda")


def _prepare_device(a, b, M, reg, dtype, mass_rtol):
    """_prepare for a cost matrix in GPU memory: M stays there (a copy only to change its dtype or make it
    contiguous); the histograms (small) are validated on the host and placed on M's device."""
    dt = resolve_dtype(dtype, M)
    ops = _device.DeviceOps(M, dt)
    if M.ndim != 2:
        raise ValueError(f"M must be a 2-D cost matrix, got shape {tuple(M.shape)}")
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"M is empty (shape {tuple(M.shape)})")
    contiguous = M.is_contiguous() if ops.lib == "torch" else M.flags.c_contiguous
    if dtype_name(M) != dt.name or not contiguous:
        M = ops.asarray(M)  # another dtype (integers too) or strided: converted (a copy)
    mmin, mmax = ops.range(M)
    if not (np.isfinite(mmin) and np.isfinite(mmax)):
        raise ValueError("M has non-finite entries (NaN or inf)")
    n, m = M.shape
    host = lambda x: ops.host(x) if _device.is_device_array(x) else x  # noqa: E731
    a = check_hist(host(a), "a", n, dt, other="M.shape[0]")
    b = check_hist(host(b), "b", m, dt, allow_2d=True, other="M.shape[1]")
    check_masses(a, b, rtol=mass_rtol)
    reg = check_reg(reg)
    check_reg_scale(reg, (mmin, mmax), dt)
    return ops.asarray(a), ops.asarray(b), M, reg, dt, (mmin, mmax), ops


def _prepare(a, b, M, reg, dtype, mass_rtol):
    dt = resolve_dtype(dtype, M)
    M = as_float_array(M, "M", dt)
    value_range = array_range(M) if M.ndim == 2 and M.size else None
    M = check_cost(M, dt, value_range=value_range)  # one pass for min/max, none for finiteness
    n, m = M.shape
    a = check_hist(a, "a", n, dt, other="M.shape[0]")
    b = check_hist(b, "b", m, dt, allow_2d=True, other="M.shape[1]")
    check_masses(a, b, rtol=mass_rtol)
    reg = check_reg(reg)
    check_reg_scale(reg, value_range, dt)
    return a, b, M, reg, dt, value_range


def _prepare_cloud(a, b, geom, reg, dtype, mass_rtol, backend):
    """Validate a PointCloud problem: returns (a, b, geometry (host arrays), reg, dtype, backend, kernels)."""
    x, y = geom.x, geom.y
    if _device.is_device_array(x) or _device.is_device_array(y):
        raise TypeError("PointCloud: the point-cloud kernels run on the CPU; pass host arrays (x.cpu(), cupy.asnumpy)")
    dt = resolve_dtype(dtype, x)
    x = np.ascontiguousarray(as_float_array(x, "x", dt))
    y = np.ascontiguousarray(as_float_array(y, "y", dt))
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError(f"PointCloud: empty point cloud (x {x.shape}, y {y.shape})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("PointCloud: x or y has non-finite entries (NaN or inf)")
    if x.shape[1] > 0:  # the largest cost (the bounding box's squared diagonal) must be finite in dtype
        span = np.maximum(x.max(0), y.max(0)).astype(np.float64) - np.minimum(x.min(0), y.min(0))
        with np.errstate(over="ignore"):
            diam2 = float(np.sum(span ** 2))
        if not np.isfinite(diam2) or diam2 > np.finfo(dt).max:
            raise ValueError(f"PointCloud: the costs overflow {np.dtype(dt).name} (the clouds span "
                             f"{np.max(span):.3g} in one coordinate); rescale x and y")
    n, m = x.shape[0], y.shape[0]
    a = check_hist(a, "a", n, dt, other="x.shape[0]")
    b = check_hist(b, "b", m, dt, allow_2d=True, other="y.shape[0]")
    check_masses(a, b, rtol=mass_rtol)
    reg = check_reg(reg)
    if x.shape[1] > 0:
        check_reg_scale(reg, (0.0, diam2), dt, cost="the point-cloud costs")
    be, impl = _backend.kernels(backend, "sinkhorn")
    if be == "cuda":
        raise ValueError("backend 'cuda' has no point-cloud kernels yet; use backend='cpp' or 'auto'")
    g = geometry.PointCloud(x, y, geom.cost)
    return a, b, g, reg, dt, be, _device.CloudKernels(impl, dt, x, y, geom.cost)


def _warn_not_converged(err, stopThr, niter):
    warnings.warn(
        "Sinkhorn did not converge. You might want to increase the number of iterations `numItermax` "
        f"or the regularization parameter `reg` (marginal error {err:.3e} > stopThr {stopThr:.1e} "
        f"after {niter + 1} iterations).",
        UserWarning,
        stacklevel=4,
    )


def _print_trace(trace, period):
    for k, e in enumerate(trace):
        ii = k * period
        if ii % (period * 20) == 0:
            print("{:5s}|{:12s}".format("It.", "Err") + "\n" + "-" * 19)
        print("{:5d}|{:8e}|".format(ii, e))


def _check_warm_pair(warmstart):
    """warmstart: None or a pair (u, v) (an IndexError before)."""
    if warmstart is not None and (not isinstance(warmstart, (tuple, list)) or len(warmstart) != 2):
        if not isinstance(warmstart, (tuple, list)):
            raise TypeError(f"warmstart must be a pair (u, v) of log-scalings or dual potentials, got "
                            f"{type(warmstart).__name__}")
        raise ValueError(f"warmstart must be a pair (u, v) of log-scalings or dual potentials, got length "
                         f"{len(warmstart)}")


def _warm(x, size, N, dt, name):
    """A warm start of shape (size,) or (size, N), returned as an (N, size) array (a copy)."""
    x = as_float_array(x, name, dt).copy()
    if x.shape not in ((size,), (size, N)):
        raise ValueError(f"{name} must have shape ({size},) or ({size}, {N}), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    return np.ascontiguousarray(np.broadcast_to(x.reshape(size, -1), (size, N)).T)


def _epsilon_scaling(kern, ops, M, a, B, reg, numItermax, stopThr, warn, warmstart, dt, tau, num_threads, eps):
    """Epsilon scaling: a sequence of warm-started solves at decreasing regularizations.

    ``eps["schedule"] == "pot"``: POT's ``sinkhorn_epsilon_scaling`` -- outer iteration k solves the stabilized
    problem at reg_k = (epsilon0 - reg) e^{-k} + reg for at most numInnerItermax iterations, warm-started at the
    previous dual potentials (alpha, beta); every 10 outer iterations the error ||P^T 1 - b||^2 + ||P 1 - a||^2
    is computed, and the loop stops when it is <= stopThr after at least 35 outer iterations.
    ``"geometric"``: ours -- log-domain stages at reg_k = epsilon0 * factor^k > reg, numInnerItermax
    iterations each on the warm-started potentials, then the log-domain solve at reg to stopThr (at most
    numItermax iterations); on the host kernels the stages run inside the kernel's driver (one call). Returns (values (N,), plan, log dict) for each column of B.
    """
    n, m = M.shape
    N = B.shape[1]
    values = np.empty(N, dtype=dt)
    status = np.empty(N, dtype=np.int32)
    niter = np.empty(N, dtype=np.int64)
    errs, plan, alphas, betas, traces = [], None, [], [], []
    inner = int(eps["numInnerItermax"])
    eps0 = float(eps["epsilon0"])
    for k in range(N):
        bk = ops.contiguous(B[:, k:k + 1])

        def solve1(method, reg_i, x, y, max_iter, thr, check_every, want_plan, want_trace, anneal=None):
            """One problem; x, y (vectors) updated in place through their (size, 1) views."""
            opts = dict(max_iter=int(max_iter), stop_thr=float(thr), check_every=check_every, tau=float(tau),
                        num_threads=int(num_threads), **(anneal or {}))
            return kern.solve(method, M, a, bk, reg_i, x.reshape(n, 1), y.reshape(m, 1), opts,
                              want_plan=bool(want_plan), want_value=True, want_trace=bool(want_trace))

        if warmstart is None:
            alpha, beta = ops.zeros(n), ops.zeros(m)
        else:  # dual potentials (alpha, beta), as POT's
            alpha = ops.asarray(_warm(warmstart[0], n, N, dt, "warmstart[0]")[k])
            beta = ops.asarray(_warm(warmstart[1], m, N, dt, "warmstart[1]")[k])
        trace = []
        if eps["schedule"] == "pot":
            outer = max(35, numItermax)  # POT: "ensure that last value is exact"
            err, ii, st_k = 1.0, 0, st.MAX_ITER
            for ii in range(outer):
                reg_i = (eps0 - reg) * np.exp(-ii) + reg
                check = ii % 10 == 0
                # the plan where the error is computed, and where the loop ends (err changes at checks only)
                last = check or ii == outer - 1 or (err <= stopThr and ii > 35)
                r = solve1("STABILIZED", reg_i, alpha, beta, inner, stopThr, 20, last, False)
                G = r["plan"]
                if check:
                    with np.errstate(over="ignore"):
                        err = (float(((G.sum(0) - bk[:, 0]) ** 2).sum()) + float(((G.sum(1) - a) ** 2).sum()))
                    trace.append(err)
                if err <= stopThr and ii > 35:
                    st_k = st.OK
                    break
            if not np.isfinite(float(r["values"][0])):  # overflow (huge masses against the warm starts)
                st_k = st.NUMERICAL_ERROR
            values[k], status[k], niter[k] = r["values"][0], st_k, ii
            errs.append(err)
        else:
            factor = float(eps["factor"])
            if not (0.0 < factor < 1.0):
                raise ValueError(f"epsilon scaling factor must be in (0, 1), got {factor}")
            stages = 0
            if getattr(kern, "anneals", False):  # the stages inside the kernel's log-domain driver: one call
                f, g = ops.asarray(alpha / reg), ops.asarray(beta / reg)
                r = solve1("LOG", reg, f, g, numItermax, stopThr, 10, N == 1, True,
                           dict(anneal_start=eps0, anneal_factor=factor, anneal_inner=inner, **eps["relax"]))
            else:  # (CUDA) one call per stage, as the host driver: the potentials reg_i f carried over
                reg_i = max(reg, eps0) if eps0 > reg else reg
                while reg_i > reg:
                    fi, gi = ops.asarray(alpha / reg_i), ops.asarray(beta / reg_i)
                    solve1("LOG", reg_i, fi, gi, inner, 0.0, 10, False, False)
                    alpha, beta = fi * reg_i, gi * reg_i
                    stages += 1
                    reg_i = max(reg, reg_i * factor)
                f, g = ops.asarray(alpha / reg), ops.asarray(beta / reg)
                r = solve1("LOG", reg, f, g, numItermax, stopThr, 10, N == 1, True, eps["relax"])
            alpha, beta = f * reg, g * reg
            values[k], status[k], niter[k] = r["values"][0], r["status"][0], r["niter"][0] + stages * inner
            errs.append(float(r["err"][0]))
            trace = list(r["trace"])
            G = r["plan"]
        if N == 1:
            plan = G
        alphas.append(alpha)
        betas.append(beta)
        traces.append(trace)
    if np.any(status == st.NUMERICAL_ERROR):
        warnings.warn("Warning: numerical errors in sinkhorn_epsilon_scaling (the value overflowed); the result "
                      "is not finite", UserWarning, stacklevel=4)
    elif warn and np.any(status == st.MAX_ITER):
        warnings.warn("Sinkhorn did not converge. You might want to increase the number of iterations `numItermax` "
                      "or the regularization parameter `reg`.", UserWarning, stacklevel=4)
    lg = {"err": traces[0] if N == 1 else errs, "status": int(status[0]) if N == 1 else status,
          "niter": int(niter[0]) if N == 1 else niter,
          "converged": bool(status[0] == st.OK) if N == 1 else status == st.OK}
    lg["alpha"] = alphas[0] if N == 1 else np.stack([ops.host(x) for x in alphas], 1)
    lg["beta"] = betas[0] if N == 1 else np.stack([ops.host(x) for x in betas], 1)
    lg["warmstart"] = (lg["alpha"], lg["beta"])
    lg["log_u"], lg["log_v"] = lg["alpha"] / reg, lg["beta"] / reg
    return values, plan, lg


def _solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart, backend, dtype,
           want_plan, omega=1.0, tau=1e3, mass_rtol=1e-6, num_threads=0, omega_start=1e-2, eps=None, anderson=0):
    """Run one method on validated input. Returns (values (N,), plan or None, log dict)."""
    method = check_method(method, METHODS)
    numItermax = check_max_iter(numItermax)
    num_threads = check_positive_int(num_threads, "num_threads", minimum=0)
    stopThr = check_threshold(stopThr)
    omega, omega_auto = check_omega(omega)
    anderson = check_anderson(anderson, relaxed=omega_auto or omega != 1.0)
    if isinstance(M, geometry.DenseCost):
        M = M.M
    cloud = isinstance(M, geometry.PointCloud)
    if cloud:
        a, b, M, reg, dt, be, kern = _prepare_cloud(a, b, M, reg, dtype, mass_rtol, backend)
        ops = _device.HostOps(dt)
        mmin = mmax = None
        if method == "sinkhorn":  # the same iterates, evaluated in the log-domain (K would take n x m memory)
            method = "sinkhorn_log"
        if method == "sinkhorn_stabilized" or (
                method == "sinkhorn_epsilon_scaling" and eps["schedule"] != "geometric"):
            raise ValueError(f"method={method!r}: point clouds run in the log-domain (the stabilized kernel would "
                             "store the n x m kernel); use method='sinkhorn_log' or 'auto', or "
                             "'sinkhorn_epsilon_scaling' with epsilon_schedule='geometric'")
    elif isinstance(M, geometry.Geometry):
        raise TypeError(f"unsupported geometry {type(M).__name__}")
    elif _on_device(M, backend):
        if anderson:
            raise ValueError("anderson (Anderson acceleration) runs in the CPU kernels only: pass M as a host "
                             "array, or use omega='auto' on the GPU")
        be = _backend.resolve_backend("cuda", family="sinkhorn")
        a, b, M, reg, dt, (mmin, mmax), ops = _prepare_device(a, b, M, reg, dtype, mass_rtol)
        kern = _device.DeviceKernels(_backend.cuda(), ops)
    else:
        if _device.is_device_array(a) or _device.is_device_array(b):
            raise TypeError("a or b is in GPU memory but M is not: pass M on the same GPU (backend 'cuda'), "
                            "or all three as host arrays")
        a, b, M, reg, dt, (mmin, mmax) = _prepare(a, b, M, reg, dtype, mass_rtol)
        be, impl = _backend.kernels(backend, "sinkhorn")
        ops = _device.HostOps(dt)
        kern = _device.HostKernels(impl, dt)
    n, m = M.shape
    batched = b.ndim == 2
    B = b if batched else b[:, None]
    N = B.shape[1]

    chosen = method
    safe = (not cloud) and _safe_range(mmin, mmax, reg, dt)
    if method == "auto":  # the kernel form when exp(-M/reg) is representable and K fits in memory
        chosen = "sinkhorn" if safe and _kernel_fits(n, m, dt) else "sinkhorn_log"
    elif method == "sinkhorn" and not safe:
        warnings.warn(
            f"method='sinkhorn': exp(-M/reg) under- or overflows in {dt} at reg={reg:g} "
            f"(M/reg spans [{mmin / reg:.3g}, {mmax / reg:.3g}]); the kernel form may stop on "
            "numerical errors. Use method='sinkhorn_log' or method='auto' (log-domain), or a larger reg.",
            UserWarning,
            stacklevel=3,
        )
    relaxed = omega_auto or omega != 1.0
    no_plain_driver = chosen == "sinkhorn_stabilized" or (chosen == "sinkhorn_epsilon_scaling" and
                                                          eps["schedule"] != "geometric")
    for used, what in ((relaxed, "over-relaxation (omega != 1)"), (anderson, "anderson (Anderson acceleration)")):
        if used and no_plain_driver:
            raise ValueError(f"{what} is available for 'sinkhorn', 'sinkhorn_log', 'auto' and the geometric "
                             "epsilon schedule")
        if used and chosen == "sinkhorn" and batched:
            raise ValueError(f"{what} of the kernel form is for a single b; use method='sinkhorn_log' for batched "
                             "problems")
    check_every = _CHECK_EVERY[chosen]
    lg: dict = {"method": chosen, "backend": be}

    _check_warm_pair(warmstart)
    if warmstart is not None:  # host copies of warm starts given in GPU memory
        warmstart = tuple(ops.host(w) if _device.is_device_array(w) else w for w in warmstart)
    if chosen == "sinkhorn_epsilon_scaling":
        relax = dict(omega=float(omega), omega_start=float(omega_start), omega_auto=omega_auto, anderson=anderson)
        values, plan, le = _epsilon_scaling(kern, ops, M, a, B, reg, numItermax, stopThr, warn, warmstart, dt, tau,
                                            num_threads, dict(eps, relax=relax))
        if verbose and not batched:
            _print_trace(le["err"], 10 if eps["schedule"] == "pot" else check_every)
        lg.update(le)
        return ops.result(values), plan, lg
    opts = dict(max_iter=numItermax, stop_thr=float(stopThr), check_every=check_every, tau=float(tau),
                omega=float(omega), omega_start=float(omega_start), num_threads=int(num_threads), omega_auto=omega_auto,
                anderson=anderson)
    if chosen == "sinkhorn":  # scalings u, v
        if warmstart is None:
            X, Y = ops.full((n, N), 1.0 / n), ops.full((m, N), 1.0 / m)
        else:  # log-scalings: u = exp(warmstart[0]) must be a normal positive number
            logs = [_warm(warmstart[k], size, N, dt, f"warmstart[{k}]") for k, size in ((0, n), (1, m))]
            lim = np.log(np.finfo(dt).max) - 1.0
            for k, w in enumerate(logs):
                big = float(np.max(np.abs(w), initial=0.0))
                if big > lim:
                    raise ValueError(f"warmstart[{k}] has entries of magnitude {big:.3g}: the kernel form's scalings "
                                     f"exp(warmstart) overflow {np.dtype(dt).name} (|entries| must be < {lim:.0f}); "
                                     "use method='sinkhorn_log'")
            X, Y = ops.asarray(np.exp(logs[0]).T), ops.asarray(np.exp(logs[1]).T)
    else:  # log-scalings f, g or dual potentials alpha, beta
        X = ops.zeros((n, N)) if warmstart is None else ops.asarray(_warm(warmstart[0], n, N, dt, "warmstart[0]").T)
        Y = ops.zeros((m, N)) if warmstart is None else ops.asarray(_warm(warmstart[1], m, N, dt, "warmstart[1]").T)
    try:
        res = kern.solve(_KERNEL_METHOD[chosen], M, a, ops.contiguous(B), reg, X, Y, opts,
                         want_plan=bool(want_plan and not batched), want_value=True, want_trace=bool(log or verbose))
    except MemoryError:
        if not (chosen == "sinkhorn" and method == "auto"):
            raise
        res = None  # K did not fit after all: the log-domain reads M in place
    if res is None or chosen == "sinkhorn" and method == "auto" and np.any(res["status"] == st.NUMERICAL_ERROR):
        # the scalings over/underflowed although K did not: redo in the log-domain
        return _solve(a, b, M, reg, "sinkhorn_log", numItermax, stopThr, verbose, log, warn, None,
                      be, dt, want_plan, "auto" if omega_auto else omega, tau, mass_rtol, num_threads, omega_start,
                      anderson=anderson)
    values, plan = res["values"], res["plan"]
    status, niter, err, trace = res["status"], res["niter"], res["err"], res["trace"]
    Xo = X[:, 0] if not batched else X
    Yo = Y[:, 0] if not batched else Y
    if chosen == "sinkhorn":
        lg.update(u=Xo, v=Yo, log_u=ops.log(Xo), log_v=ops.log(Yo))
    else:
        if chosen == "sinkhorn_log":  # log-scalings f, g
            lg.update(log_u=Xo, log_v=Yo)
        else:  # dual potentials alpha, beta (POT's sinkhorn_stabilized log)
            lg.update(alpha=Xo, beta=Yo, log_u=Xo / reg, log_v=Yo / reg, logu=Xo / reg, logv=Yo / reg)
            lg["warmstart"] = (Xo, Yo)
        with np.errstate(over="ignore"):
            lg.update(u=ops.exp(lg["log_u"]), v=ops.exp(lg["log_v"]))

    if verbose and not batched:
        _print_trace(trace, check_every)
    for k in range(N):
        if status[k] == st.NUMERICAL_ERROR:
            hint = ("; the kernel form underflowed: use method='sinkhorn_log' or 'auto'"
                    if chosen == "sinkhorn" else "")
            warnings.warn(f"Warning: numerical errors at iteration {int(niter[k])}"
                          + (f" (histogram {k})" if batched else "") + hint, UserWarning, stacklevel=3)
    if warn and np.any(status == st.MAX_ITER):
        k = int(np.argmax(np.where(status == st.MAX_ITER, err, -np.inf)))
        _warn_not_converged(float(err[k]), stopThr, int(niter[k]))

    values = ops.result(values)
    converged = status == st.OK
    if batched:
        lg.update(niter=niter, err=err, converged=converged, status=status)
    else:
        lg.update(niter=int(niter[0]), err=list(trace) if trace else [float(err[0])],
                  converged=bool(converged[0]), status=int(status[0]))
        if chosen == "sinkhorn_stabilized":
            lg["n_iter"] = lg["niter"]
    return values, plan, lg


def sinkhorn(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False, log=False,
             warn=True, warmstart=None, backend="auto", dtype=None, omega=1.0, omega_start=1e-2, tau=1e3,
             mass_rtol=1e-6, num_threads=0, epsilon0=1e4, numInnerItermax=100, epsilon_schedule="pot",
             epsilon_factor=0.5, anderson=0, **kwargs):
    r"""Solve the entropic regularization optimal transport problem and return the OT plan.

    .. math::
        \gamma = \mathop{\arg\min}_{\gamma \in \Pi(a, b)} \langle \gamma, M \rangle_F
                 + \mathrm{reg} \sum_{ij} \gamma_{ij} (\log \gamma_{ij} - 1)

    solved by Sinkhorn-Knopp matrix scaling :math:`\gamma = \mathrm{diag}(u) K \mathrm{diag}(v)`,
    :math:`K = e^{-M / \mathrm{reg}}` [1], in the same order of updates, stopping rule (the L2 norm of
    the column-marginal violation below ``stopThr``, checked every 10 iterations) and values as POT's
    ``ot.sinkhorn``.

    Parameters
    ----------
    a : (n,) array_like
        Source histogram (empty or None: uniform).
    b : (m,) or (m, N) array_like
        Target histogram, or N target histograms sharing ``M`` (empty or None: uniform). With N
        histograms the result is the (N,) vector of losses, as in POT.
    M : (n, m) array_like
        Cost matrix.
    reg : float
        Entropic regularization (> 0).
    method : {"sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "sinkhorn_epsilon_scaling", "auto"}
        ``"sinkhorn"``: kernel form (u, v scalings); ``"sinkhorn_log"``: log-domain, stable at any reg;
        ``"sinkhorn_stabilized"``: kernel form with absorption of large scalings into the dual
        potentials [2]; ``"sinkhorn_epsilon_scaling"``: warm-started solves at decreasing
        regularizations (see ``epsilon_schedule``); ``"auto"``: the kernel form when no entry of
        ``exp(-M/reg)`` under- or overflows, the log-domain otherwise (and whenever the kernel form hits
        a numerical error).
    numItermax : int
        Maximum number of iterations.
    stopThr : float
        Stop when the marginal violation ``||gamma^T 1 - b||_2`` is below this.
    verbose : bool
        Print the error trace.
    log : bool
        Also return a dict with ``niter``, ``err`` (the errors at each check), ``converged``, ``u``,
        ``v``, ``log_u``, ``log_v`` (and ``alpha``, ``beta`` for the stabilized method), ``method`` and
        ``backend``.
    warn : bool
        Warn when the algorithm does not converge.
    warmstart : tuple of arrays, optional
        Initial log-scalings (log u, log v) (dual potentials alpha, beta for ``sinkhorn_stabilized``).
    backend : {"auto", "cpp", "numba", "cuda"}
        Where the kernel runs. ``"cuda"``: on the GPU (``otkit._cuda``). With M in GPU memory (a torch CUDA
        tensor or a CuPy array) the kernels use it in place and return arrays of the same library on its
        device, and ``"auto"`` does so by itself; NumPy inputs are copied to the GPU at each call, and
        ``"auto"`` keeps them on the CPU.
    dtype : {None, numpy.float64, numpy.float32}
        Working precision (None: float64 unless M is float32).
    omega : float in (0, 2) or "auto"
        Over-relaxation of the scaling updates, ``u <- u^(1-omega) (a / K v)^omega`` [3]; 1 (the
        default) is plain Sinkhorn with POT's iterates. omega in (1, 2) (e.g. 1.5-1.8) cuts the
        number of iterations when reg is small and Sinkhorn is slow; it does not help at large reg.
        ``"auto"``: the SOR optimum 2 / (1 + sqrt(1 - r)) (at most 1.9) for the rate r per iteration
        of the plain steps, measured between the last two checks before ``omega_start``.
        Safeguarded: plain steps until the marginal error is below ``omega_start``, and plain steps
        again for good if the error grows between two checks. Single problems only in kernel form.
    omega_start : float
        Marginal error below which over-relaxation starts.
    anderson : int
        Anderson acceleration [4] with this many past iterates (0, the default: off; 5 is a good value): each
        iteration's new log-scaling log v is replaced by the combination of the last ``anderson`` iterates whose
        residuals cancel best (regularized type-II mixing), at no extra pass over K or M. The answer is the same
        fixed point, reached in fewer iterations when reg is small (d = 4096, reg 0.02: 6x fewer than
        ``omega="auto"``, docs/sinkhorn.md); the iterates are no longer POT's. Safeguarded: a mix that is not
        finite (or whose scalings would under/overflow) is discarded, the history restarts when the marginal
        error grows 10x above its best, and after 8 restarts plain Sinkhorn steps go on. CPU kernels,
        ``"sinkhorn"`` (single ``b``), ``"sinkhorn_log"``, ``"auto"`` and the geometric epsilon schedule;
        exclusive with ``omega``.
    tau : float
        Absorption threshold of ``sinkhorn_stabilized``.
    mass_rtol : float
        Relative tolerance on the difference of total masses of ``a`` and ``b``.
    epsilon0, numInnerItermax : float, int
        ``"sinkhorn_epsilon_scaling"``: the first regularization and the iterations per stage (POT's).
    epsilon_schedule : {"pot", "geometric"}
        ``"pot"`` (default): POT's ``sinkhorn_epsilon_scaling`` -- outer iteration k runs at most
        numInnerItermax stabilized iterations at reg_k = (epsilon0 - reg) e^{-k} + reg, warm-started, and
        ``numItermax`` (at least 35) bounds the outer iterations; the error is
        ``||P^T 1 - b||^2 + ||P 1 - a||^2``, checked every 10 outer iterations. ``"geometric"``: log-domain
        stages at reg_k = epsilon0 epsilon_factor^k down to reg, numInnerItermax iterations each, then the
        log-domain solve at reg to ``stopThr`` (the marginal error of the other methods).
    epsilon_factor : float in (0, 1)
        Ratio of two successive regularizations of the ``"geometric"`` schedule.
    num_threads : int
        Threads of the C++ kernels at most (0: the default, see :func:`otkit.set_num_threads`; more than
        the processors is capped). Small problems run on one thread, and on a busy machine the kernels
        switch to one thread when that is faster (docs/threads.md); results depend on the problem and
        this setting only.

    Returns
    -------
    gamma : (n, m) ndarray
        Optimal plan (for a single target histogram), or (N,) losses when ``b`` has N columns.
    log : dict
        Only if ``log=True``.

    Examples
    --------
    >>> import otkit
    >>> a, b, M = [0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]]
    >>> otkit.sinkhorn(a, b, M, 1.0).round(8)
    array([[0.36552929, 0.13447071],
           [0.13447071, 0.36552929]])

    References
    ----------
    .. [1] M. Cuturi, Sinkhorn Distances: Lightspeed Computation of Optimal Transport, NIPS 2013.
    .. [2] B. Schmitzer, Stabilized Sparse Scaling Algorithms for Entropy Regularized Transport
       Problems, SIAM J. Sci. Comput. 2019.
    .. [3] A. Thibault, L. Chizat, C. Dossal, N. Papadakis, Overrelaxed Sinkhorn-Knopp Algorithm for
       Regularized Optimal Transport, Algorithms 2021.
    .. [4] H. F. Walker, P. Ni, Anderson Acceleration for Fixed-Point Iterations, SIAM J. Numer. Anal. 2011.
    """
    _reject_kwargs(kwargs)
    eps = _eps_options(epsilon0, numInnerItermax, epsilon_schedule, epsilon_factor)
    torch = _autograd.torch_module(a, b, M)
    if torch is not None and not isinstance(M, geometry.Geometry):  # the plan as a tensor like M (no graph)
        if any(isinstance(x, torch.Tensor) and x.requires_grad for x in (a, b, M)):
            warnings.warn("otkit.sinkhorn returns the plan without an autograd graph; differentiate "
                          "otkit.sinkhorn2 (the loss) instead", UserWarning, stacklevel=2)
        ref = (a, b, M)
        a, b, M = (_autograd.host_or_device(torch, x) for x in ref)
    values, plan, lg = _solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart,
                              backend, dtype, want_plan=True, omega=omega, tau=tau, mass_rtol=mass_rtol,
                              num_threads=num_threads, omega_start=omega_start, eps=eps, anderson=anderson)
    out = values if plan is None else plan
    if torch is not None and not isinstance(M, geometry.Geometry):
        out = _autograd.as_tensor_like(torch, out, ref[2], ref[0], ref[1])
    return (out, lg) if log else out


def sinkhorn2(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False, log=False,
              warn=True, warmstart=None, backend="auto", dtype=None, omega=1.0, omega_start=1e-2, tau=1e3,
              mass_rtol=1e-6, num_threads=0, epsilon0=1e4, numInnerItermax=100, epsilon_schedule="pot",
              epsilon_factor=0.5, grad="implicit", anderson=0, **kwargs):
    r"""Solve the entropic regularization OT problem and return the loss :math:`\langle \gamma^*, M \rangle_F`.

    Same arguments, stopping rule and value as POT's ``ot.sinkhorn2``, except one default: ``warn=True``
    (POT's is False), so that a value from iterates that did not reach ``stopThr`` -- which can lie
    below the exact OT cost, where no coupling can be -- is never returned silently; pass
    ``warn=False`` for POT's behaviour. The plan is never materialized: the kernel accumulates
    :math:`\sum_{ij} u_i K_{ij} v_j M_{ij}` directly. See :func:`sinkhorn` for the parameters.

    With torch tensors the result is a tensor of M's dtype and device, connected to the graph of ``a``,
    ``b``, ``M`` (one ``b``, or N columns: an (N,) tensor, solved in one batched call, each column
    differentiated on its own): ``grad="implicit"`` (default) differentiates the returned <P, M> exactly
    through the Sinkhorn fixed point (equal to POT's torch gradient at convergence), ``grad="envelope"``
    gives the cheaper gradient of the regularized objective (dM = P, da, db = the dual potentials); see
    otkit/_autograd.py. Double backward is not supported.

    Returns
    -------
    W : float, or (N,) ndarray when ``b`` has N columns (a tensor for torch input)
    log : dict (only if ``log=True``)

    Examples
    --------
    >>> import otkit
    >>> float(otkit.sinkhorn2([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], 1.0))  # doctest: +ELLIPSIS
    0.268941...
    """
    _reject_kwargs(kwargs)
    eps = _eps_options(epsilon0, numInnerItermax, epsilon_schedule, epsilon_factor)

    def solve(a, b, M, want_log=log):
        values, _, lg = _solve(a, b, M, reg, method, numItermax, stopThr, verbose, want_log, warn, warmstart,
                               backend, dtype, want_plan=False, omega=omega, tau=tau, mass_rtol=mass_rtol,
                               num_threads=num_threads, omega_start=omega_start, eps=eps, anderson=anderson)
        return (values if np.ndim(lg["niter"]) == 1 else values[0]), lg

    if isinstance(M, geometry.PointCloud) and _autograd.torch_module(a, b, M.x, M.y) is not None:
        return _cloud_sinkhorn2_torch(a, b, M, reg, grad, solve, log)
    torch = _autograd.torch_module(a, b, M)
    if torch is not None and not isinstance(M, geometry.Geometry):
        if np.ndim(b) != 2 or any(isinstance(x, torch.Tensor) and x.requires_grad for x in (a, b, M)):
            holder = {}

            def solve1(a, b, M):
                out, lg = solve(a, b, M, want_log=True)
                holder["lg"] = lg
                return out, lg

            out = _autograd.sinkhorn2_autograd(torch, a, b, M, reg, grad, solve1)
            return (out, holder["lg"]) if log else out
        out, lg = solve(_autograd.host_or_device(torch, a), _autograd.host_or_device(torch, b),
                        _autograd.host_or_device(torch, M))
        out = _autograd.as_tensor_like(torch, out, M, a, b)
        return (out, lg) if log else out
    out, lg = solve(a, b, M)
    return (out, lg) if log else out


def _cloud_sinkhorn2_torch(a, b, geom, reg, grad, solve, log):
    """sinkhorn2 on a PointCloud of torch tensors: a tensor of x's dtype, with gradients in a, b, x, y."""
    torch = _autograd.torch_module(a, b, geom.x, geom.y)
    host = lambda t: _autograd.host_or_device(torch, t)  # noqa: E731
    if np.ndim(host(b)) == 2:
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in (a, b, geom.x, geom.y)):
            raise NotImplementedError("sinkhorn2: gradients of batched problems (b of shape (m, N)) are not "
                                      "supported yet; call it once per column of b")
        out, lg = solve(host(a), host(b), geometry.PointCloud(host(geom.x), host(geom.y), geom.cost))
        ref = next(t for t in (geom.x, geom.y, a, b) if isinstance(t, torch.Tensor))
        out = _autograd.as_tensor_like(torch, out, ref)
        return (out, lg) if log else out
    holder = {}

    def solve1(ha, hb, hx, hy):
        out, lg = solve(ha, hb, geometry.PointCloud(hx, hy, geom.cost), want_log=True)
        holder["lg"] = lg
        return out, lg

    x = geom.x if isinstance(geom.x, torch.Tensor) else torch.as_tensor(np.asarray(geom.x))
    y = geom.y if isinstance(geom.y, torch.Tensor) else torch.as_tensor(np.asarray(geom.y), dtype=x.dtype)
    out = _autograd.cloud_sinkhorn2_autograd(torch, a, b, x, y, geom.cost, check_reg(reg), grad, solve1)
    return (out, holder["lg"]) if log else out


def _eps_options(epsilon0, numInnerItermax, schedule, factor):
    if not isinstance(schedule, str) or schedule.lower() not in SCHEDULES:
        raise ValueError(f"epsilon_schedule must be one of {SCHEDULES}, got {schedule!r}")
    if isinstance(epsilon0, (bool, np.bool_)) or not isinstance(epsilon0, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"epsilon0 must be a finite number > 0, got {type(epsilon0).__name__}")
    if not (np.isfinite(epsilon0) and epsilon0 > 0):
        raise ValueError(f"epsilon0 must be a finite number > 0, got {epsilon0}")
    inner = check_max_iter(numInnerItermax, "numInnerItermax")
    if not (0.0 < float(factor) < 1.0):
        raise ValueError(f"epsilon_factor must be in (0, 1), got {factor}")
    return {"epsilon0": float(epsilon0), "numInnerItermax": inner, "schedule": schedule.lower(),
            "factor": float(factor)}


def _reject_kwargs(kwargs):
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")


def __getattr__(name):  # POT's ot.bregman names defined in divergence.py, empirical.py, lowrank.py
    if name in ("empirical_sinkhorn_divergence", "sinkhorn_divergence"):
        from . import divergence
        return getattr(divergence, name)
    if name in ("empirical_sinkhorn", "empirical_sinkhorn2"):
        from . import empirical
        return getattr(empirical, name)
    if name in ("empirical_sinkhorn_nystroem", "empirical_sinkhorn_nystroem2"):
        from . import lowrank
        return getattr(lowrank, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

