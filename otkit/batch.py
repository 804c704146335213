r"""Batches of independent OT problems in one call (minibatch OT: flow matching, GAN training).

* :func:`sinkhorn2_batch` -- B entropic problems on a (B, n, m) stack of cost matrices, or
  :func:`empirical_sinkhorn2_batch` on (B, n, d) and (B, m, d) point clouds (the costs of each problem computed
  by the thread that solves it, never a (B, n, m) array). Each problem is exactly one :func:`otkit.sinkhorn2`
  call (POT's iterates and stopping rule, its own iteration count), solved on one thread; the threads share the
  problems. Torch tensors give a (B,) tensor with each problem's implicit gradient.
* :func:`solve_batch`, :func:`solve_sample_batch` -- POT's ``ot.batch`` calls, returning an
  :class:`otkit.OTResult` of (B,) values and (B, n, m) plans. Two differences from POT, both on purpose:
  ``reg`` None or 0 solves the exact problems (network simplex, :func:`otkit.emd2_batch`) where POT runs an
  approximate proximal-point method; and each problem stops on its own (the column-marginal error of
  :func:`otkit.sinkhorn`), where POT iterates all problems until the largest row-marginal error is below ``tol``
  -- at the same ``tol`` the two agree to the tolerance reached.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _autograd, _backend
from . import _status as st
from .utils import (as_float_array, check_max_iter, check_method, check_positive_int, check_reg, check_threshold,
                    check_anderson, check_omega, resolve_dtype)

__all__ = ["sinkhorn2_batch", "empirical_sinkhorn2_batch", "solve_batch", "solve_sample_batch"]

_METHODS = ("sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "auto")
_KERNEL_METHOD = {"sinkhorn": "KERNEL", "sinkhorn_log": "LOG", "sinkhorn_stabilized": "STABILIZED"}


def _weights(x, name, nb, size, dt):
    """(B, size) weights from None (uniform), one (size,) row shared by all problems, or (B, size)."""
    if x is None:
        return np.full((nb, size), 1.0 / size, dtype=dt)
    x = as_float_array(x, name)
    if x.ndim == 1:
        x = np.broadcast_to(x, (nb, x.shape[0]))
    if x.ndim != 2 or x.shape != (nb, size):
        raise ValueError(f"{name} must be ({size},) or (B, {size}) with B = {nb}, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if (x < 0).any():
        k = int(np.argwhere(x < 0)[0, 0])
        raise ValueError(f"{name} has negative entries (problem {k}); weights must be >= 0")
    sums = x.sum(1)
    if (sums <= 0).any():
        k = int(np.argmax(sums <= 0))
        raise ValueError(f"{name}[{k}] has zero mass")
    return np.ascontiguousarray(x, dtype=dt)


def _check_masses(A, B, rtol=1e-6):
    sa, sb = A.sum(1), B.sum(1)
    bad = np.abs(sa - sb) > rtol * np.maximum(sa, sb)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"problem {k}: a[{k}] and b[{k}] have different masses ({sa[k]:.12g} and {sb[k]:.12g}); "
                         "balanced OT needs equal masses (normalize them, or use the unbalanced solvers)")


def _check_plans_fit(nb, n, m, dt):
    """A clear MemoryError before allocating (B, n, m) plans that cannot fit in the available memory."""
    from .bregman import _available_memory

    need = nb * n * m * np.dtype(dt).itemsize
    avail = _available_memory() if need >= 2**28 else None
    if avail is not None and need > 0.8 * avail:
        raise MemoryError(f"return_plans=True needs {need / 2**30:.1f} GiB for the ({nb}, {n}, {m}) plans, more than "
                          f"the {avail / 2**30:.1f} GiB available; solve fewer problems per call, or ask for the "
                          "losses only")


def _chunks(nb, progress):
    """Problem ranges of one kernel call each: all at once, or (progress) about 1% of the problems per call with a
    tqdm bar (plain text when tqdm is missing)."""
    if not progress:
        return [(0, nb)]
    step = max(1, -(-nb // 100))
    return [(k, min(nb, k + step)) for k in range(0, nb, step)]


def _solve_batch(M, x, y, metric, a, b, reg, method, numItermax, stopThr, num_threads, want_plans, warn, backend,
                 dtype, progress=False, omega=1.0, anderson=0):
    """The kernels on validated host arrays. Returns (values (B,), plans or None, log dict)."""
    method = check_method(method, _METHODS)
    omega_value, omega_auto = check_omega(omega)
    anderson = check_anderson(anderson, relaxed=omega_auto or omega_value != 1.0)
    for used, what in ((omega_auto or omega_value != 1.0, "over-relaxation (omega != 1)"),
                       (anderson, "anderson (Anderson acceleration)")):
        if used and method == "sinkhorn_stabilized":
            raise ValueError(f"{what} is available for 'sinkhorn' and 'sinkhorn_log'")
    reg = check_reg(reg)
    numItermax = check_max_iter(numItermax)
    stopThr = check_threshold(stopThr)
    num_threads = check_positive_int(num_threads, "num_threads", minimum=0)
    dt = np.float32 if dtype == np.float32 else np.float64
    if M is not None:
        nb, n, m = M.shape
        lo, hi = float(M.min()), float(M.max())
    else:
        nb, n, m = x.shape[0], x.shape[1], y.shape[1]
        lo = 0.0
        # the largest cost is at most (diameter of the union)^2
        span = float(max(np.ptp(x.reshape(-1, x.shape[2]), axis=0).max(initial=0.0),
                         np.ptp(y.reshape(-1, y.shape[2]), axis=0).max(initial=0.0),
                         np.abs(x).max(initial=0.0) + np.abs(y).max(initial=0.0)))
        hi = (span * span * x.shape[2]) if metric == "sqeuclidean" else span * np.sqrt(x.shape[2])
    A, Bw = _weights(a, "a", nb, n, dt), _weights(b, "b", nb, m, dt)
    _check_masses(A, Bw)
    if want_plans:
        _check_plans_fit(nb, n, m, dt)
    from .bregman import _safe_range

    chosen = method
    if method == "auto":
        chosen = "sinkhorn" if _safe_range(lo, hi, reg, dt) else "sinkhorn_log"
    name, impl = _backend.kernels(backend, "sinkhorn")
    fn = getattr(impl, "sinkhorn_batch_" + ("f64" if dt == np.float64 else "f32"), None)
    if fn is None:
        raise ValueError(f"backend {name!r} has no batched Sinkhorn kernels yet; use backend='cpp' or 'auto'")
    if chosen == "sinkhorn":
        X, Y = np.full((nb, n), 1.0 / n, dtype=dt), np.full((nb, m), 1.0 / m, dtype=dt)
    else:
        X, Y = np.zeros((nb, n), dtype=dt), np.zeros((nb, m), dtype=dt)
    from .bregman import _CHECK_EVERY

    opts = impl.SinkhornOptions(max_iter=numItermax, stop_thr=float(stopThr), check_every=_CHECK_EVERY[chosen],
                                num_threads=int(num_threads), omega=omega_value, omega_auto=omega_auto,
                                anderson=anderson)
    kmethod = getattr(impl.SinkhornMethod, _KERNEL_METHOD[chosen])
    parts = _chunks(nb, progress)
    bar = _progress_bar(nb, progress)
    outs = []
    for k0, k1 in parts:  # one kernel call per range (one range unless progress)
        sl = slice(k0, k1)
        outs.append(fn(None if M is None else M[sl], None if x is None else x[sl], None if y is None else y[sl],
                       A[sl], Bw[sl], float(reg), X[sl], Y[sl], method=kmethod, metric=metric, options=opts,
                       want_plans=bool(want_plans)))
        if bar is not None:
            bar.update(k1 - k0)
    if bar is not None:
        bar.close()
    res = outs[0] if len(outs) == 1 else {
        key: np.concatenate([np.asarray(o[key]) for o in outs]) for key in ("values", "status", "niter", "err")}
    if len(outs) > 1:
        res["plans"] = np.concatenate([o["plans"] for o in outs]) if want_plans else None
    status = np.asarray(res["status"])
    if method == "auto" and chosen == "sinkhorn" and (status == st.NUMERICAL_ERROR).any():
        # the kernel form under/overflowed on some problem: all again in the log-domain (as sinkhorn2's "auto")
        return _solve_batch(M, x, y, metric, A, Bw, reg, "sinkhorn_log", numItermax, stopThr, num_threads,
                            want_plans, warn, backend, dtype, progress, omega, anderson)
    bad = np.flatnonzero(status == st.NUMERICAL_ERROR)
    if bad.size:
        hint = "; use method='sinkhorn_log' or 'auto'" if chosen == "sinkhorn" else ""
        warnings.warn(f"numerical errors in {bad.size} of {nb} problems (e.g. problem {int(bad[0])}){hint}",
                      UserWarning, stacklevel=3)
    late = np.flatnonzero(status == st.MAX_ITER)
    if warn and late.size:
        k = int(late[np.argmax(np.asarray(res["err"])[late])])
        warnings.warn(f"Sinkhorn did not converge in {late.size} of {nb} problems (numItermax={numItermax}); "
                      f"the largest marginal error is {float(res['err'][k]):.3e} > stopThr {stopThr:.1e} (problem "
                      f"{k}). Increase numItermax or reg.", UserWarning, stacklevel=3)
    if chosen == "sinkhorn":
        with np.errstate(divide="ignore"):
            log_u, log_v = np.log(X), np.log(Y)
    else:
        log_u, log_v = X, Y
    if chosen == "sinkhorn_stabilized":
        log_u, log_v = X / reg, Y / reg
    lg = {"method": chosen, "niter": np.asarray(res["niter"]), "err": np.asarray(res["err"]), "status": status,
          "converged": status == st.OK, "log_u": log_u, "log_v": log_v}
    values = np.asarray(res["values"]).astype(dt, copy=False)
    return values, res["plans"], lg


def _progress_bar(total, progress):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        class _Text:  # a line per tenth, on stderr
            def __init__(self):
                self.done, self.shown = 0, 0

            def update(self, k):
                import sys
                self.done += k
                if self.done * 10 // total > self.shown:
                    self.shown = self.done * 10 // total
                    print(f"otkit: {self.done}/{total} problems", file=sys.stderr)

            def close(self):
                pass
        return _Text()
    return tqdm(total=total, desc="otkit batch", unit="problem")


def sinkhorn2_batch(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, num_threads=0,
                    return_plans=False, log=False, warn=True, grad="implicit", backend="auto", progress=False,
                    omega=1.0, anderson=0):
    r"""Entropic OT losses of B independent problems in one call.

    .. math::
        W_k = \langle \gamma_k^*, M_k \rangle_F, \quad \gamma_k^* = \mathop{\arg\min}_{\gamma \in \Pi(a_k, b_k)}
        \langle \gamma, M_k \rangle_F + \mathrm{reg} \sum_{ij} \gamma_{ij} (\log \gamma_{ij} - 1)

    Each problem is one :func:`otkit.sinkhorn2` call with ``num_threads=1`` (the same iterates, stopping rule and
    value, bit for bit), and the threads share the problems: no barrier inside a problem, so small problems
    (minibatches of a few hundred points) run at the speed of one core each.

    Parameters
    ----------
    a : (B, n) or (n,) array_like, or None
        Source weights per problem (one row shared by all, or None: uniform).
    b : (B, m) or (m,) array_like, or None
        Target weights per problem (each row with the mass of the matching row of a).
    M : (B, n, m) array_like
        Cost matrices.
    reg : float
        Entropic regularization, > 0.
    method : {"sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "auto"}
        As :func:`otkit.sinkhorn` (``"auto"``: the kernel form when exp(-M/reg) is representable for all
        problems, else the log-domain).
    numItermax, stopThr : per problem, as :func:`otkit.sinkhorn2`.
    num_threads : int
        Threads (0: ``otkit.get_num_threads()``); with fewer problems than threads, the problems run one after the
        other, each on all threads.
    return_plans : bool
        Also return the (B, n, m) plans.
    log : bool
        Also return a dict with ``niter``, ``err``, ``status``, ``converged`` (each (B,)), ``log_u``, ``log_v``
        ((B, n), (B, m)) and ``method``.
    warn : bool
        Warn when some problem did not converge (the warning says how many and the largest error).
    grad : {"implicit", "envelope"}
        Torch tensors: the gradient of each loss (as :func:`otkit.sinkhorn2`).
    backend : {"auto", "cpp", "numba"}
    progress : bool
        Show a progress bar (tqdm; a line per tenth on stderr without it): the problems then go to the kernel in
        about 100 calls instead of one (the same results). ``return_plans=True`` raises a MemoryError naming the
        size before allocating plans that cannot fit.
    omega : float in (0, 2) or "auto"
        Over-relaxation of each problem's Sinkhorn (methods ``"sinkhorn"`` and ``"sinkhorn_log"``; see
        :func:`otkit.sinkhorn`): 1 (default) gives POT's iterates, ``"auto"`` fewer iterations to the same
        ``stopThr``.
    anderson : int
        Anderson acceleration of each problem's Sinkhorn with this many past iterates (0: off; see
        :func:`otkit.sinkhorn`); methods ``"sinkhorn"`` and ``"sinkhorn_log"``, exclusive with ``omega``.

    Returns
    -------
    W : (B,) ndarray (torch tensors in: a (B,) tensor of M's dtype, connected to the graph of a, b and M)
    plans : (B, n, m) ndarray, only if ``return_plans``
    log : dict, only if ``log``

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((3, 5, 2)), rng.random((3, 4, 2))
    >>> M = ((X[:, :, None, :] - Y[:, None, :, :]) ** 2).sum(-1)
    >>> W = otkit.sinkhorn2_batch(None, None, M, 0.1)
    >>> bool(np.allclose(W, [otkit.sinkhorn2(None, None, M[k], 0.1) for k in range(3)], rtol=1e-12))
    True
    """
    torch = _autograd.torch_module(a, b, M)
    if torch is not None:
        return _torch_batch(torch, a, b, M, reg, method, numItermax, stopThr, num_threads, return_plans, log, warn,
                            grad, backend, progress, omega, anderson)
    dtype = resolve_dtype(None, M)
    M = as_float_array(M, "M")
    if M.ndim != 3 or 0 in M.shape:
        raise ValueError(f"M must be a non-empty (B, n, m) stack of cost matrices, got shape {M.shape}")
    if not np.isfinite(M).all():
        k = int(np.argwhere(~np.isfinite(M))[0, 0])
        raise ValueError(f"M has non-finite entries (NaN or inf), e.g. in problem {k}")
    dt = np.float32 if dtype == np.float32 else np.float64
    M = np.ascontiguousarray(M, dtype=dt)
    W, plans, lg = _solve_batch(M, None, None, "sqeuclidean", a, b, reg, method, numItermax, stopThr, num_threads,
                                return_plans, warn, backend, dt, progress, omega, anderson)
    return _pack(W, plans, lg, return_plans, log)


def _pack(W, plans, lg, return_plans, log):
    out = (W,) + ((plans,) if return_plans else ()) + ((lg,) if log else ())
    return out if len(out) > 1 else W


def empirical_sinkhorn2_batch(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=1000, stopThr=1e-9,
                              method="sinkhorn", num_threads=0, return_plans=False, log=False, warn=True,
                              grad="implicit", backend="auto", progress=False, omega=1.0, anderson=0):
    r"""Entropic OT losses between B pairs of point clouds, X_s[k] (n, d) and X_t[k] (m, d), in one call.

    The same as :func:`sinkhorn2_batch` on the (B, n, m) costs ``c(x, y) = ||x - y||^2`` (``"sqeuclidean"``) or
    ``||x - y||`` (``"euclidean"``), without ever storing them: each thread computes the costs of the problem it
    solves (n m entries) and solves it. Torch tensors give a (B,) tensor with gradients in the points and weights.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((8, 50, 2)), rng.random((8, 40, 2))
    >>> W = otkit.empirical_sinkhorn2_batch(X, Y, 0.05)
    >>> bool(np.isclose(W[3], otkit.sinkhorn2(None, None, otkit.dist(X[3], Y[3]), 0.05), rtol=1e-10))
    True
    """
    if metric not in ("sqeuclidean", "euclidean"):
        raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean' for the batched point clouds, got {metric!r}")
    torch = _autograd.torch_module(X_s, X_t, a, b)
    if torch is not None:  # the costs in torch (differentiable in the points), then the batched losses
        Xs = torch.as_tensor(X_s)
        Xt = torch.as_tensor(X_t, dtype=Xs.dtype, device=Xs.device)
        if Xs.ndim != 3 or Xt.ndim != 3:
            raise ValueError("X_s and X_t must be (B, n, d) and (B, m, d) point clouds")
        C = ((Xs[:, :, None, :] - Xt[:, None, :, :]) ** 2).sum(-1)
        if metric == "euclidean":
            C = torch.sqrt(C)
        return sinkhorn2_batch(a, b, C, reg, method=method, numItermax=numIterMax, stopThr=stopThr,
                               num_threads=num_threads, return_plans=return_plans, log=log, warn=warn, grad=grad,
                               backend=backend, progress=progress, omega=omega, anderson=anderson)
    dtype = resolve_dtype(None, X_s)
    dt = np.float32 if dtype == np.float32 else np.float64
    x, y = as_float_array(X_s, "X_s"), as_float_array(X_t, "X_t")
    if x.ndim != 3 or y.ndim != 3:
        raise ValueError(f"X_s and X_t must be (B, n, d) and (B, m, d) point clouds, got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"X_s and X_t must have the same B and d, got shapes {x.shape} and {y.shape}")
    if 0 in x.shape or 0 in y.shape:
        raise ValueError(f"empty point clouds (shapes {x.shape} and {y.shape})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("X_s and X_t must be finite")
    with np.errstate(over="ignore"):
        if not np.isfinite((float(np.abs(x).max()) + float(np.abs(y).max())) ** 2 * x.shape[2]):
            raise ValueError("the costs of X_s and X_t overflow float64; rescale the points")
    x, y = np.ascontiguousarray(x, dtype=dt), np.ascontiguousarray(y, dtype=dt)
    W, plans, lg = _solve_batch(None, x, y, metric, a, b, reg, method, numIterMax, stopThr, num_threads,
                                return_plans, warn, backend, dt, progress, omega, anderson)
    return _pack(W, plans, lg, return_plans, log)


def _torch_batch(torch, a, b, M, reg, method, numItermax, stopThr, num_threads, return_plans, log, warn, grad,
                 backend, progress=False, omega=1.0, anderson=0):
    """sinkhorn2_batch on torch tensors: one batched solve on host copies, then one sinkhorn2 autograd node per
    problem fed with its solution (each problem's implicit gradient, as otkit.sinkhorn2)."""
    if not isinstance(M, torch.Tensor) or M.ndim != 3 or 0 in M.shape:
        raise ValueError(f"M must be a non-empty (B, n, m) tensor of cost matrices, got {type(M).__name__} of shape "
                         f"{tuple(np.shape(M))}")
    if M.device.type != "cpu":
        raise TypeError("otkit.sinkhorn2_batch: M is in GPU memory, but the batched kernels run on the CPU; copy it "
                        "with M.cpu()")
    nb, n, m = M.shape
    host = lambda t: t if t is None else (t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)  # noqa
    Mh = np.ascontiguousarray(host(M))
    if not np.isfinite(Mh).all():
        raise ValueError("M has non-finite entries (NaN or inf)")
    dt = np.float32 if Mh.dtype == np.float32 else np.float64
    W, plans, lg = _solve_batch(Mh.astype(dt, copy=False), None, None, "sqeuclidean", host(a), host(b), reg, method,
                                numItermax, stopThr, num_threads, return_plans, warn, backend, dt, progress, omega,
                                anderson)
    A = _weights(host(a), "a", nb, n, np.float64)
    B = _weights(host(b), "b", nb, m, np.float64)
    graph = any(isinstance(t, torch.Tensor) and t.requires_grad for t in (a, b, M))
    if not graph:
        out = torch.as_tensor(W, dtype=M.dtype)
    else:
        def rows(t, size, k):
            if not isinstance(t, torch.Tensor):
                return A[k] if size == n else B[k]
            return t if t.ndim == 1 else t[k]

        vals = []
        for k in range(nb):
            def solve1(ak, bk, Mk, k=k):
                return W[k], {"log_u": lg["log_u"][k], "log_v": lg["log_v"][k]}
            vals.append(_autograd.sinkhorn2_autograd(torch, rows(a, n, k), rows(b, m, k), M[k], float(reg), grad,
                                                     solve1))
        out = torch.stack(vals)
    if return_plans:
        plans = torch.as_tensor(plans, dtype=M.dtype)
    return _pack(out, plans, lg, return_plans, log)


# ---------------------------------------------------------------------------------------
# POT's ot.batch calls
# ---------------------------------------------------------------------------------------
_POT_METHODS = ("auto", "sinkhorn", "log_sinkhorn", "proximal")


def _batch_result(torch, W, plans, lg, reg, reg_type, a, b, nb, n, m):
    from .solve import OTResult

    if reg:
        T = plans
        if reg_type == "entropy":
            ent = (T * np.log(T + 1e-16)).sum(axis=(1, 2))
        else:
            ref = _weights(a, "a", nb, n, np.float64)[:, :, None] * _weights(b, "b", nb, m, np.float64)[:, None, :]
            ent = (T * np.log(T / ref + 1e-16)).sum(axis=(1, 2))
        value = W + reg * ent
    else:
        value = W
    return OTResult(value=value, value_linear=W, plan=plans,
                    potentials=None if lg is None else (lg["log_u"], lg["log_v"]),
                    status="Converged" if lg is None or bool(np.all(lg["converged"])) else "not converged", log=lg)


def solve_batch(M, reg=None, a=None, b=None, max_iter=1000, tol=1e-5, method="auto", inner_iter=1, inner_reg=1e-3,
                reg_type="entropy", grad="envelope", backend="auto"):
    r"""Solve B independent OT problems given by a (B, n, m) stack of costs (POT's ``ot.batch.solve_batch``).

    Returns an :class:`otkit.OTResult` with ``value`` and ``value_linear`` (B,), ``plan`` (B, n, m) and
    ``potentials`` (the log-scalings, (B, n) and (B, m); None for exact OT). ``reg`` None or 0: exact OT per
    problem (:func:`otkit.emd2_batch`); ``reg`` > 0: Sinkhorn per problem (``method`` "sinkhorn": kernel form;
    "log_sinkhorn" or "auto": log-domain), each stopping on its own at ``tol`` (see the module docstring).
    ``reg_type`` "entropy" (``value = value_linear + reg sum T log T``) or "KL" (``reg KL(T | a b^T)``).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> M = rng.random((4, 6, 5))
    >>> res = otkit.batch.solve_batch(M, reg=0.1)
    >>> res.value.shape, res.plan.shape
    ((4,), (4, 6, 5))
    >>> exact = otkit.batch.solve_batch(M)
    >>> bool(np.all(exact.value <= res.value_linear + 1e-12))
    True
    """
    if method not in _POT_METHODS:
        raise ValueError(f"Unknown method: {method}. Must be one of {list(_POT_METHODS)}.")
    if not isinstance(reg_type, str) or reg_type.lower() not in ("entropy", "kl"):
        raise ValueError(f"Unknown reg_type: {reg_type}. Must be one of ['entropy', 'kl'].")
    if grad not in ("envelope", "detach", "autodiff", "last_step", "implicit"):
        raise ValueError(f"Unknown grad: {grad}.")
    torch = _autograd.torch_module(M, a, b)
    if torch is not None:
        raise TypeError("otkit.batch.solve_batch takes NumPy arrays; for torch losses with gradients use "
                        "otkit.sinkhorn2_batch or otkit.emd2_batch")
    M = as_float_array(M, "M")
    if M.ndim != 3 or 0 in M.shape:
        raise ValueError(f"M must be a non-empty (B, n, m) stack of cost matrices, got shape {M.shape}")
    nb, n, m = M.shape
    if method in ("sinkhorn", "log_sinkhorn") and (reg is None or reg <= 0):
        raise ValueError("Sinkhorn methods require a strictly positive reg parameter. Please provide a valid reg value.")
    if reg is None or reg == 0 or method == "proximal":
        if reg:
            raise NotImplementedError("method='proximal' with reg > 0 is not implemented; use method='auto'")
        from .emd import emd2_batch
        W, plans = emd2_batch(a, b, M, numItermax=max(100000, int(max_iter)), return_plans=True, backend=backend)
        return _batch_result(None, W, plans, None, 0.0, reg_type.lower(), a, b, nb, n, m)
    W, plans, lg = sinkhorn2_batch(a, b, M, reg, method="sinkhorn" if method == "sinkhorn" else "sinkhorn_log",
                                   numItermax=max_iter, stopThr=tol, return_plans=True, log=True, warn=False,
                                   backend=backend)
    return _batch_result(None, W, plans, lg, float(reg), reg_type.lower(), a, b, nb, n, m)


def solve_sample_batch(X_a, X_b, reg=None, a=None, b=None, metric="sqeuclidean", p=2, max_iter=1000, tol=1e-5,
                       method="auto", inner_iter=1, inner_reg=1e-3, reg_type="entropy", grad="envelope",
                       backend="auto"):
    r"""Solve B independent OT problems between point clouds X_a (B, n, d) and X_b (B, m, d) (POT's
    ``ot.batch.solve_sample_batch``): :func:`solve_batch` on their costs (``metric`` "sqeuclidean" or
    "euclidean"; entropic problems compute them per problem inside the kernels).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> res = otkit.batch.solve_sample_batch(rng.random((3, 10, 2)), rng.random((3, 8, 2)), reg=0.05)
    >>> res.plan.shape, bool(np.allclose(res.plan.sum(2), 0.1))
    ((3, 10, 8), True)
    """
    if metric == "minkowski" and p == 2:
        metric = "euclidean"
    if metric in ("minkowski", "kl"):
        raise NotImplementedError(f"solve_sample_batch: metric={metric!r} is not implemented (supported: "
                                  "'sqeuclidean', 'euclidean', 'minkowski' with p=2)")
    if metric not in ("sqeuclidean", "euclidean"):
        raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean', got {metric!r}")
    x, y = as_float_array(X_a, "X_a"), as_float_array(X_b, "X_b")
    if x.ndim != 3 or y.ndim != 3:
        raise ValueError(f"X_a and X_b must be (B, n, d) and (B, m, d), got shapes {x.shape} and {y.shape}")
    if reg is None or reg == 0 or method == "proximal":
        C = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
        return solve_batch(np.sqrt(C) if metric == "euclidean" else C, reg, a, b, max_iter, tol, method, inner_iter,
                           inner_reg, reg_type, grad, backend)
    if method not in _POT_METHODS:
        raise ValueError(f"Unknown method: {method}. Must be one of {list(_POT_METHODS)}.")
    W, plans, lg = empirical_sinkhorn2_batch(x, y, reg, a, b, metric=metric, numIterMax=max_iter, stopThr=tol,
                                             method="sinkhorn" if method == "sinkhorn" else "sinkhorn_log",
                                             return_plans=True, log=True, warn=False, backend=backend)
    return _batch_result(None, W, plans, lg, float(reg), reg_type.lower(), a, b, x.shape[0], x.shape[1],
                         y.shape[1])
