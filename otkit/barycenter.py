r"""Wasserstein barycenters: fixed support (iterative Bregman projections), convolutional on 2-D
grids, and free support (POT-compatible calls).

* :func:`barycenter` -- entropic barycenter of histograms on a shared support (Benamou et al.
  2015), ``method="sinkhorn"`` (kernel form), ``"sinkhorn_log"`` (log domain, for small
  ``reg``) or ``"sinkhorn_stabilized"`` (absorption). Same iterates, stopping rule and values
  as :func:`ot.bregman.barycenter`.
* :func:`convolutional_barycenter2d` -- entropic barycenter of images, the Gaussian kernel
  applied as two 1-D convolutions (Solomon et al. 2015); same as
  :func:`ot.bregman.convolutional_barycenter2d`.
* :func:`barycenter_debiased`, :func:`convolutional_barycenter2d_debiased` -- debiased
  (Sinkhorn divergence) barycenters (Janati et al. 2020), without the entropic blur; same as
  :func:`ot.bregman.barycenter_debiased` and :func:`ot.bregman.convolutional_barycenter2d_debiased`.
* :func:`barycenter_unbalanced` -- barycenter for KL-relaxed marginals (Chizat et al. 2016); same as
  :func:`ot.unbalanced.barycenter_unbalanced`.
* :func:`free_support_barycenter` -- W2 barycenter with free support (Cuturi and Doucet 2014),
  each step solving exact OT; same as :func:`ot.lp.free_support_barycenter`.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _autograd, _backend, _status
from .utils import (as_float_array, check_cost, check_hist, check_max_iter, check_method, check_reg,
                    check_threshold, dist, resolve_dtype, unif)

__all__ = [
    "barycenter",
    "barycenter_sinkhorn",
    "barycenter_stabilized",
    "barycenter_debiased",
    "barycenter_unbalanced",
    "barycenter_unbalanced_sinkhorn",
    "barycenter_unbalanced_stabilized",
    "convolutional_barycenter2d",
    "convolutional_barycenter2d_debiased",
    "free_support_sinkhorn_barycenter",
    "free_support_barycenter",
]

_METHODS = ("sinkhorn", "sinkhorn_log", "sinkhorn_stabilized")
_FN = {"sinkhorn": "bary_sinkhorn", "sinkhorn_log": "bary_sinkhorn_log",
       "sinkhorn_stabilized": "bary_sinkhorn_stabilized"}
_SUM_RTOL = 1e-6  # tolerance on "sums to 1" (histograms, images, weights)


# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------
def _check_sums_to_one(sums, name, what):
    sums = np.atleast_1d(np.asarray(sums, dtype=np.float64))
    bad = np.abs(sums - 1.0) > _SUM_RTOL
    if bad.any():
        k = int(np.argmax(bad))
        where = f"{what} {k} of {name}" if sums.size > 1 else name
        raise ValueError(
            f"{where} must be a probability vector (sum to 1), but sums to {sums[k]:.12g}; "
            f"normalize it, e.g. x / x.sum()")


def _check_weights(weights, n, name="weights", what="histograms"):
    if weights is None:
        return unif(n)
    w = as_float_array(weights, name)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of length {n} (one weight per {what[:-1]}), "
                         f"got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if (w < 0).any():
        raise ValueError(f"{name} has negative entries (min {w.min():.6g}); weights must be >= 0")
    _check_sums_to_one(w.sum(), name, "")
    return w


def _check_stop(numItermax, stopThr):
    return check_max_iter(numItermax), check_threshold(stopThr)


def _finish(res, what, stopThr, numItermax, verbose, log, warn, hint, dtype=np.float64):
    """Turn a kernel result dict into (bar[, log]) and warnings (POT's conventions); bar in ``dtype``
    (the input's: float32 stays float32)."""
    status = int(res["status"])
    errs = list(res["errs"])
    if verbose:
        print("{:5s}|{:12s}".format("It.", "Err") + "\n" + "-" * 19)
        for e in errs:
            print("     |{:8e}|".format(e))
    converged = status == _status.OK
    if status == _status.NUMERICAL_ERROR:
        warnings.warn(
            f"{what}: numerical error (a scaling underflowed or overflowed) by iteration {res['niter']}, "
            f"last error {res['err']:.6g}; {hint}", RuntimeWarning, stacklevel=3)
    elif not converged and warn:
        warnings.warn(
            f"{what} did not converge in numItermax={numItermax} iterations: reached error "
            f"{res['err']:.6g} > stopThr={stopThr:g}. You might want to increase the number of "
            f"iterations `numItermax` or the regularization parameter `reg`.", UserWarning, stacklevel=3)
    bar = np.asarray(res["bar"]).astype(dtype, copy=False)
    if log:
        return bar, {"err": errs, "niter": int(res["niter"]), "converged": converged,
                     "status": _status.NAMES.get(status, str(status))}
    return bar


# ---------------------------------------------------------------------------------------
# fixed support
# ---------------------------------------------------------------------------------------
def barycenter(A, M, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-4, verbose=False,
               log=False, warn=True, tau=1e10, backend="auto"):
    r"""Entropic regularized Wasserstein barycenter of the histograms in the columns of ``A``.

    Torch tensors give a tensor of A's dtype and device. When ``A``, ``M`` or ``weights`` requires grad
    (every method; the stabilized one takes its absorption decisions on the torch iterates), the barycenter is
    differentiable: the compiled kernel
    finds the number of iterations, then the same iterations run in torch and autograd differentiates
    through them (*unrolled*, as POT's torch backend; memory grows with the iterations).

    Solves

    .. math::
        \mathbf{a} = \mathop{\arg \min}_\mathbf{a} \quad \sum_i w_i W_{reg}(\mathbf{a}, \mathbf{a}_i)

    where :math:`W_{reg}` is the entropic regularized Wasserstein distance with cost
    :math:`\mathbf{M}` and the :math:`\mathbf{a}_i` are the columns of :math:`\mathbf{A}`, by
    iterative Bregman projections [3]_. All N histograms are scaled at once: one kernel pass per
    iteration applies :math:`\mathbf{K} = e^{-\mathbf{M}/reg}` and :math:`\mathbf{K}^T` to the
    N scalings (a fused, cache-blocked matrix-matrix product). The iterates, the stopping rule
    (``err`` = sum over bins of the standard deviation over histograms of the current marginals,
    checked when ``ii % 10 == 1``) and the result are those of :func:`ot.bregman.barycenter`.

    Parameters
    ----------
    A : (dim, n_hists) array_like
        The histograms, one per column (each >= 0 and summing to 1).
    M : (dim, dim) array_like
        Cost matrix.
    reg : float
        Entropic regularization, > 0.
    weights : (n_hists,) array_like, optional
        Barycentric coordinates (>= 0, summing to 1); uniform by default.
    method : {"sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"}
        Kernel form (fastest), log domain (stable for small ``reg``, where the kernel form
        underflows), or POT's stabilized kernel form with absorption threshold ``tau``.
    numItermax : int
        Maximum number of iterations.
    stopThr : float
        Stop when the error falls below this threshold.
    verbose : bool
        Print the errors (after the run: the loop runs in the compiled kernel).
    log : bool
        Also return a dict with ``err`` (list of the errors computed), ``niter``,
        ``converged`` and ``status``.
    warn : bool
        Warn when ``numItermax`` is reached before ``stopThr`` (the warning gives the error reached).
    tau : float
        Absorption threshold of ``"sinkhorn_stabilized"`` (POT's ``tau``).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    a : (dim,) ndarray
        The barycenter.
    log : dict
        Only if ``log`` is True.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.arange(50, dtype=float)
    >>> M = otkit.dist(x[:, None], x[:, None]); M /= M.max()
    >>> A = np.zeros((50, 2)); A[10, 0] = 1.0; A[30, 1] = 1.0
    >>> bar = otkit.barycenter(A, M, reg=1e-2)
    >>> bar.shape, round(float(bar.sum()), 6), int(np.argmax(bar))
    ((50,), 1.0, 20)

    References
    ----------
    .. [3] Benamou, J. D., Carlier, G., Cuturi, M., Nenna, L., & Peyré, G. (2015). Iterative
       Bregman projections for regularized transportation problems. SIAM Journal on Scientific
       Computing, 37(2), A1111-A1138.
    """
    torch = _autograd.torch_module(A, M, weights)
    if (torch is not None and isinstance(method, str) and method.lower() in _METHODS
            and any(isinstance(t, torch.Tensor) and t.requires_grad for t in (A, M, weights))):
        meth = method.lower()
        return _unrolled_fixed(
            torch, A, M, weights, log,
            lambda hA, hM, hw: _barycenter_arrays(hA, hM, reg, weights=hw, method=meth, numItermax=numItermax,
                                                  stopThr=stopThr, verbose=verbose, log=True, warn=warn, tau=tau,
                                                  backend=backend)[1],
            lambda At, Mt, w, iters: _ITERATE[meth](At, Mt, w, iters, reg, tau))
    return _barycenter_arrays(A, M, reg, weights=weights, method=method, numItermax=numItermax, stopThr=stopThr,
                              verbose=verbose, log=log, warn=warn, tau=tau, backend=backend)


def _unrolled_fixed(torch, A, M, weights, log, solve, iterate, count=lambda lg: lg["niter"] + 1):
    """The differentiable fixed-support barycenters: ``solve(A, M, weights)`` (the compiled kernel on host copies)
    gives the log and the iteration count, then ``iterate(A, M, w, iters)`` runs the same iterations in torch and
    autograd differentiates through them (unrolled, as POT's torch backend)."""
    _autograd.check_same_device(torch, ("A", "M", "weights"), A, M, weights)

    def host(t):
        t = _autograd.host_or_device(torch, t)
        return t.cpu().numpy() if torch.is_tensor(t) else t

    lg = solve(host(A), host(M), host(weights))
    ref = next(t for t in (A, M, weights) if isinstance(t, torch.Tensor))
    dt = ref.dtype if ref.is_floating_point() else torch.float64
    as_t = lambda t: t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t), device=ref.device)  # noqa: E731
    At, Mt = as_t(A).to(dt), as_t(M).to(dt)
    N = At.shape[1]
    w = as_t(weights).to(dt) if weights is not None else torch.full((N,), 1.0 / N, dtype=dt, device=ref.device)
    bar = iterate(At, Mt, w, count(lg))  # (by default the barycenter of iteration niter, 0-based)
    return (bar, lg) if log else bar


def _iterate_sinkhorn(At, Mt, w, iters, reg, tau=None):
    """Bregman projections (Benamou et al. 2015, eq. (21)), POT's barycenter_sinkhorn iterates."""
    import torch
    K = torch.exp(-Mt / reg)
    UKv = K @ (At / K.sum(0)[:, None])
    u = torch.exp(torch.log(UKv).mean(1))[:, None] / UKv
    for _ in range(iters):
        UKv = u * (K.T @ (At / (K @ u)))
        bar = torch.exp(torch.log(UKv) @ w)
        u = u * bar[:, None] / UKv
    return bar


def _iterate_log(At, Mt, w, iters, reg, tau=None):
    """The same projections in log-sum-exp form (POT's _barycenter_sinkhorn_log)."""
    import torch
    Ms = -Mt / reg
    logA = torch.log(At + 1e-16)
    G = torch.zeros_like(At)
    for it in range(iters):
        F = logA - torch.logsumexp(Ms[:, :, None] + G[None, :, :], dim=1)  # F_ik = log A_ik - LSE_j(Ms_ij + G_jk)
        LKU = torch.logsumexp(Ms[:, :, None] + F[:, None, :], dim=0)  # LKU_jk = LSE_i(Ms_ij + F_ik)
        logbar = LKU @ w
        if it < iters - 1:
            G = logbar[:, None] - LKU
    return torch.exp(logbar)


def _iterate_stabilized(At, Mt, w, iters, reg, tau):
    """POT's barycenter_stabilized: scalings absorbed into the potentials (alpha, beta) when one exceeds tau, the
    absorption decided on the torch iterates (the kernel's decisions, up to rounding)."""
    import torch
    dim, N = At.shape
    u = torch.full((dim, N), 1.0 / dim, dtype=At.dtype, device=At.device)
    v = u.clone()
    K = torch.exp(-Mt / reg)
    alpha = torch.zeros(dim, dtype=At.dtype, device=At.device)
    beta = torch.zeros_like(alpha)
    for _ in range(iters):
        u = At / (K @ v)
        Ktu = K.T @ u
        q = torch.exp(torch.log(Ktu) @ w)
        v = q[:, None] / Ktu
        if bool((u > tau).any()) or bool((v > tau).any()):
            alpha, beta, K, v = _absorb(torch, u, v, alpha, beta, Mt, reg)
    return q


def _absorb(torch, u, v, alpha, beta, Mt, reg):
    """POT's absorption of the scalings into the potentials: alpha += reg log max_k u_k (beta likewise), the kernel
    K = exp((alpha_i + beta_j - M_ij) / reg) rebuilt and v reset to 1 (u is kept)."""
    alpha = alpha + reg * torch.log(u.max(1).values)
    beta = beta + reg * torch.log(v.max(1).values)
    return alpha, beta, torch.exp((alpha[:, None] + beta[None, :] - Mt) / reg), torch.ones_like(v)


def _iterate_debiased(At, Mt, w, iters, reg, tau=None):
    """Debiased Bregman projections (Janati et al. 2020, Alg. 1), POT's _barycenter_debiased iterates: the
    barycenter times the debiasing factor c, c <- sqrt(c bar / K c)."""
    import torch
    K = torch.exp(-Mt / reg)
    UKv = K @ (At / K.sum(0)[:, None])
    u = torch.exp(torch.log(UKv).mean(1))[:, None] / UKv
    c = torch.ones(At.shape[0], dtype=At.dtype, device=At.device)
    for _ in range(iters):
        UKv = K @ (At / (K @ u))
        bar = c * torch.exp(torch.log(UKv) @ w)
        u = bar[:, None] / UKv
        c = torch.sqrt(c * bar / (K @ c))
    return bar


def _iterate_debiased_log(At, Mt, w, iters, reg, tau=None):
    """The debiased projections in log-sum-exp form (POT's _barycenter_debiased_log: 10 averaged steps of the
    debiasing potential c per iteration)."""
    import torch
    Ms = -Mt / reg
    logA = torch.log(At + 1e-16)
    G = torch.zeros_like(At)
    c = torch.zeros(At.shape[0], dtype=At.dtype, device=At.device)
    for it in range(iters):
        F = logA - torch.logsumexp(Ms[:, :, None] + G[None, :, :], dim=1)
        LKU = torch.logsumexp(Ms[:, :, None] + F[:, None, :], dim=0)
        logbar = LKU @ w + c
        if it < iters - 1:
            G = logbar[:, None] - LKU
            for _ in range(10):
                c = 0.5 * (c + logbar - torch.logsumexp(Ms + c[:, None], dim=0))
    return torch.exp(logbar)


_ITERATE = {"sinkhorn": _iterate_sinkhorn, "sinkhorn_log": _iterate_log, "sinkhorn_stabilized": _iterate_stabilized}


def _check_fixed(A, M, reg, weights, numItermax, stopThr, balanced=True):
    """The checked arguments of the fixed-support barycenters: (A, M, reg, w, numItermax, stopThr). The columns
    of A must sum to 1 unless not ``balanced``."""
    A = as_float_array(A, "A")
    if A.ndim != 2:
        raise ValueError(f"A must be a 2-D array (dim, n_hists), one histogram per column, got shape {A.shape}")
    reg = check_reg(reg)
    M = check_cost(M, reg=reg)
    d, n = A.shape
    if M.shape != (d, d):
        raise ValueError(f"M must have shape (dim, dim) = ({d}, {d}) with dim = A.shape[0], got {M.shape}")
    A = check_hist(A, "A", d, allow_2d=True, other="M.shape[0]")
    if balanced:
        _check_sums_to_one(A.sum(axis=0), "A", "column")
    w = _check_weights(weights, n)
    numItermax, stopThr = _check_stop(numItermax, stopThr)
    return A, M, reg, w, numItermax, stopThr


@_autograd.tensors_in_out("barycenter", ('A', 'M'))
def _barycenter_arrays(A, M, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-4, verbose=False,
                       log=False, warn=True, tau=1e10, backend="auto"):
    """barycenter on arrays (torch CPU tensors read as NumPy, no graph)."""
    method = check_method(method, _METHODS)
    impl = _backend.kernels(backend, "barycenter")[1]
    dtype = resolve_dtype(None, A)  # float32 stays float32
    A, M, reg, w, numItermax, stopThr = _check_fixed(A, M, reg, weights, numItermax, stopThr)
    if method == "sinkhorn_stabilized":
        tau = check_reg(tau, "tau")
        res = impl.bary_sinkhorn_stabilized(M, A, w, reg, tau, numItermax, stopThr)
    else:
        res = getattr(impl, _FN[method])(M, A, w, reg, numItermax, stopThr)
    hint = "use method='sinkhorn_log' (or a larger reg)." if method != "sinkhorn_log" else "try a larger reg."
    return _finish(res, "Barycenter (" + method + ")", stopThr, numItermax, verbose, log, warn, hint, dtype)


def barycenter_sinkhorn(A, M, reg, weights=None, numItermax=1000, stopThr=1e-4, verbose=False, log=False,
                        warn=True, backend="auto"):
    """Kernel-form barycenter, :func:`barycenter` with ``method="sinkhorn"`` (POT's
    ``ot.bregman.barycenter_sinkhorn``, same defaults)."""
    return barycenter(A, M, reg, weights=weights, method="sinkhorn", numItermax=numItermax, stopThr=stopThr,
                      verbose=verbose, log=log, warn=warn, backend=backend)


@_autograd.tensors_in_out("barycenter_stabilized", ('A', 'M'))
def barycenter_stabilized(A, M, reg, tau=1e10, weights=None, numItermax=1000, stopThr=1e-4, verbose=False,
                          log=False, warn=True, backend="auto"):
    """Stabilized barycenter, :func:`barycenter` with ``method="sinkhorn_stabilized"`` (POT's
    ``ot.bregman.barycenter_stabilized``, same arguments and defaults)."""
    return barycenter(A, M, reg, weights=weights, method="sinkhorn_stabilized", numItermax=numItermax,
                      stopThr=stopThr, verbose=verbose, log=log, warn=warn, tau=tau, backend=backend)


def barycenter_debiased(A, M, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-4, verbose=False,
                        log=False, warn=True, backend="auto"):
    r"""Debiased Sinkhorn barycenter of the histograms in the columns of ``A`` (Janati et al. 2020).

    Solves

    .. math::
        \mathbf{a} = \mathop{\arg \min}_\mathbf{a} \quad \sum_i w_i S_{reg}(\mathbf{a}, \mathbf{a}_i)

    where :math:`S_{reg}` is the Sinkhorn divergence (the entropic OT cost minus half the costs of each
    measure with itself) with cost :math:`\mathbf{M}` [37]_. Unlike :func:`barycenter`, whose result is
    blurred by the entropy (the barycenter of N copies of one histogram is wider than it), the debiased
    barycenter has no such bias: of N copies of a histogram it is that histogram (up to the convergence
    of the iterations). The scalings are those of :func:`barycenter` times a debiasing potential
    :math:`\mathbf{c}` updated at each iteration, :math:`\mathbf{c} \leftarrow
    (\mathbf{c} \odot \mathbf{a} / \mathbf{K}\mathbf{c})^{1/2}`, applied through the same kernel pass
    as the histograms. Iterates, stopping rule (``err`` = the largest change of the barycenter over 10
    iterations divided by max(max(a), 1), checked when ``ii % 10 == 9``; log domain: as
    :func:`barycenter`, ``ii % 10 == 1``; the loop stops only after iteration 20, as the iterates
    need not converge monotonically) and result are those of :func:`ot.bregman.barycenter_debiased`.

    Parameters
    ----------
    A : (dim, n_hists) array_like
        The histograms, one per column (each >= 0 and summing to 1).
    M : (dim, dim) array_like
        Cost matrix.
    reg : float
        Entropic regularization, > 0.
    weights : (n_hists,) array_like, optional
        Barycentric coordinates (>= 0, summing to 1); uniform by default.
    method : {"sinkhorn", "sinkhorn_log"}
        Kernel form (fastest), or log domain (stable for small ``reg``, where the kernel form
        underflows).
    numItermax : int
        Maximum number of iterations.
    stopThr : float
        Stop when the error falls below this threshold (after iteration 20).
    verbose : bool
        Print the errors (after the run: the loop runs in the compiled kernel).
    log : bool
        Also return a dict with ``err`` (list of the errors computed), ``niter`` (index of the last
        iteration, as POT), ``converged`` and ``status``.
    warn : bool
        Warn when ``numItermax`` is reached before ``stopThr`` (the warning gives the error reached).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    a : (dim,) ndarray
        The debiased barycenter (torch CPU tensors in: a tensor). When ``A``, ``M`` or ``weights`` requires
        grad, it is differentiable by unrolling: the kernel finds the iteration count, then the same iterations
        run in torch (memory grows with the iterations).
    log : dict
        Only if ``log`` is True.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.arange(60, dtype=float)
    >>> M = otkit.dist(x[:, None], x[:, None]); M /= M.max()
    >>> a = np.exp(-0.5 * ((x - 30) / 4) ** 2); a /= a.sum()
    >>> A = np.stack([a, a], axis=1)
    >>> deb = otkit.barycenter_debiased(A, M, reg=1e-2)
    >>> blur = otkit.barycenter(A, M, reg=1e-2)
    >>> bool(np.abs(deb - a).max() < 0.05 * np.abs(blur - a).max())
    True

    References
    ----------
    .. [37] Janati, H., Cuturi, M., Gramfort, A. (2020). Debiased Sinkhorn barycenters. Proceedings of
       the 37th International Conference on Machine Learning, PMLR 119:4692-4701.
    """
    torch = _autograd.torch_module(A, M, weights)
    if (torch is not None and isinstance(method, str) and method.lower() in ("sinkhorn", "sinkhorn_log")
            and any(isinstance(t, torch.Tensor) and t.requires_grad for t in (A, M, weights))):
        meth = method.lower()
        return _unrolled_fixed(
            torch, A, M, weights, log,
            lambda hA, hM, hw: _debiased_arrays(hA, hM, reg, weights=hw, method=meth, numItermax=numItermax,
                                                stopThr=stopThr, verbose=verbose, log=True, warn=warn,
                                                backend=backend)[1],
            lambda At, Mt, w, iters: (_iterate_debiased_log if meth == "sinkhorn_log" else _iterate_debiased)(
                At, Mt, w, iters, reg))
    return _debiased_arrays(A, M, reg, weights=weights, method=method, numItermax=numItermax, stopThr=stopThr,
                            verbose=verbose, log=log, warn=warn, backend=backend)


@_autograd.tensors_in_out("barycenter_debiased", ('A', 'M'))
def _debiased_arrays(A, M, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-4, verbose=False,
                     log=False, warn=True, backend="auto"):
    """barycenter_debiased on arrays (torch CPU tensors read as NumPy, no graph)."""
    check_method(method, ("sinkhorn", "sinkhorn_log"))
    method = method.lower()
    impl = _backend.kernels(backend, "barycenter")[1]
    dtype = resolve_dtype(None, A)  # float32 stays float32
    A, M, reg, w, numItermax, stopThr = _check_fixed(A, M, reg, weights, numItermax, stopThr)
    fn = impl.bary_debiased_log if method == "sinkhorn_log" else impl.bary_debiased
    res = fn(M, A, w, reg, numItermax, stopThr)
    hint = "use method='sinkhorn_log' (or a larger reg)." if method == "sinkhorn" else "try a larger reg."
    return _finish(res, "Debiased barycenter (" + method + ")", stopThr, numItermax, verbose, log, warn, hint,
                   dtype)


_UNBALANCED_METHODS = ("sinkhorn", "sinkhorn_stabilized")


def barycenter_unbalanced(A, M, reg, reg_m, method="sinkhorn", weights=None, numItermax=1000, stopThr=1e-6,
                          verbose=False, log=False, tau=1e3, warn=True, backend="auto"):
    r"""Entropic unbalanced Wasserstein barycenter of the histograms in the columns of ``A``.

    Solves

    .. math::
        \mathbf{q} = \mathop{\arg \min}_\mathbf{q} \quad \sum_i w_i W_{u}(\mathbf{q}, \mathbf{a}_i)

    where :math:`W_u` is the unbalanced entropic OT cost of :func:`sinkhorn_unbalanced` (cost
    :math:`\mathbf{M}`, entropy ``reg``, KL marginal penalties of weight ``reg_m``), by the generalized
    Sinkhorn scaling of Chizat et al. [10]_: with :math:`\phi = reg_m / (reg_m + reg)`, each iteration runs one
    fused kernel pass over the N histograms,

    .. math::
        \mathbf{u} = (\mathbf{A} / \mathbf{K}\mathbf{v})^\phi, \quad
        \mathbf{q} = \Big(\sum_k w_k (\mathbf{K}^T\mathbf{u}_k)^{1-\phi}\Big)^{1/(1-\phi)}, \quad
        \mathbf{v} = (\mathbf{q} / \mathbf{K}^T\mathbf{u})^\phi .

    The histograms need not have the same mass (nor mass 1), and neither has the barycenter. ``reg_m = inf``
    is the balanced problem: the power mean becomes its limit, the weighted geometric mean, and the result is
    the fixed point of :func:`barycenter` (POT returns NaN there). Iterates, stopping rule (``err`` = the
    largest change of q relative to max(max q, max q_prev, 1), at every iteration, stopping when ``err <
    stopThr`` after iteration 10; stabilized: every 10th iteration without absorption) and results are those of
    :func:`ot.unbalanced.barycenter_unbalanced`.

    Parameters
    ----------
    A : (dim, n_hists) array_like
        The histograms, one per column (>= 0; any masses).
    M : (dim, dim) array_like
        Cost matrix.
    reg : float
        Entropic regularization, > 0.
    reg_m : float
        Marginal relaxation, > 0 (``inf``: balanced).
    method : {"sinkhorn", "sinkhorn_stabilized"}
        Kernel form, or POT's stabilized kernel form (absorption of the scalings above ``tau`` into the
        kernel, for small ``reg``).
    weights : (n_hists,) array_like, optional
        Barycentric coordinates (>= 0, summing to 1); uniform by default.
    numItermax : int
        Maximum number of iterations.
    stopThr : float
        Stop when the error falls below this threshold.
    verbose : bool
        Print the errors (after the run: the loop runs in the compiled kernel).
    log : bool
        Also return a dict with ``err`` (the errors computed), ``niter`` (index of the last iteration),
        ``logu``, ``logv`` (the logs of the last scalings, (dim, n_hists), as POT), ``converged``, ``status``.
    tau : float
        Absorption threshold of ``"sinkhorn_stabilized"`` (POT's default 1e3).
    warn : bool
        Warn when ``numItermax`` is reached before ``stopThr``.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    q : (dim,) ndarray
        The unbalanced barycenter. Torch tensors in: a tensor; when ``A``, ``M`` or ``weights`` requires grad
        (either method), it is differentiable by unrolling: the compiled kernel finds the iteration count, then
        the same iterations run in torch (as POT's torch backend differentiates them; the stabilized method's
        absorptions are decided on the torch iterates).
    log : dict
        Only if ``log`` is True.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.arange(40, dtype=float)
    >>> M = otkit.dist(x[:, None], x[:, None]); M /= M.max()
    >>> A = np.zeros((40, 2)); A[10, 0] = 1.0; A[30, 1] = 2.0   # masses 1 and 2
    >>> q = otkit.barycenter_unbalanced(A, M, reg=1e-2, reg_m=1.0)
    >>> q.shape, bool(1.0 < q.sum() < 2.0)
    ((40,), True)

    References
    ----------
    .. [10] Chizat, L., Peyré, G., Schmitzer, B., & Vialard, F. X. (2016). Scaling algorithms for unbalanced
       transport problems. arXiv preprint arXiv:1607.05816.
    """
    torch = _autograd.torch_module(A, M, weights)
    if (torch is not None and isinstance(method, str) and method.lower() in _UNBALANCED_METHODS
            and any(isinstance(t, torch.Tensor) and t.requires_grad for t in (A, M, weights))):
        from .unbalanced import _reg_pair

        rm = _reg_pair(reg_m)[0]
        fi = 1.0 if np.isinf(rm) else rm / (rm + reg)
        stab = method.lower() == "sinkhorn_stabilized"
        return _unrolled_fixed(
            torch, A, M, weights, log,
            lambda hA, hM, hw: _barycenter_unbalanced_arrays(hA, hM, reg, reg_m, method=method, weights=hw,
                                                             numItermax=numItermax, stopThr=stopThr, verbose=verbose,
                                                             log=True, tau=tau, warn=warn, backend=backend)[1],
            (lambda At, Mt, w, iters: _iterate_unbalanced_stabilized(At, Mt, w, iters, reg, rm, tau)) if stab else
            (lambda At, Mt, w, iters: _iterate_unbalanced(At, Mt, w, iters, reg, fi)),
            # the kernel's q is that of iteration niter (0-based), or of the one before it on a numerical error
            lambda lg: lg["niter"] + (0 if lg["status"] == _status.NAMES.get(_status.NUMERICAL_ERROR) else 1))
    return _barycenter_unbalanced_arrays(A, M, reg, reg_m, method=method, weights=weights, numItermax=numItermax,
                                         stopThr=stopThr, verbose=verbose, log=log, tau=tau, warn=warn,
                                         backend=backend)


def _iterate_unbalanced(At, Mt, w, iters, reg, fi):
    """The unbalanced barycenter's iterations (u = (A / K v)^fi, q = power mean of K^T u, v = (q / K^T u)^fi)."""
    import torch
    K = torch.exp(-Mt / reg)
    v = torch.ones_like(At)
    q = torch.ones(At.shape[0], dtype=At.dtype, device=At.device)
    for _ in range(iters):
        u = (At / (K @ v)) ** fi
        Ktu = K.T @ u
        if fi == 1.0:
            q = torch.exp(torch.log(Ktu) @ w)
        else:
            q = ((Ktu ** (1.0 - fi)) @ w) ** (1.0 / (1.0 - fi))
        v = (q[:, None] / Ktu) ** fi
    return q


def _iterate_unbalanced_stabilized(At, Mt, w, iters, reg, reg_m, tau):
    """POT's barycenter_unbalanced_stabilized iterations (barycenter_unbalanced_cpu, stabilized): u = (A / (K v +
    eps))^fi f_alpha, q = (sum_k w_k (K^T u)_k^(1-fi) f_beta)^(1/(1-fi)) (fi = 1: the geometric mean times
    exp(-beta / reg)), v = (q / (K^T u + eps))^fi f_beta, with f = exp(-potential / (reg + reg_m)); a scaling above
    tau is absorbed into the potentials (alpha, beta) and K = exp((alpha + beta - M) / reg) rebuilt, decided on the
    torch iterates (the kernel's decisions, up to rounding)."""
    import torch
    d, N = At.shape
    fi = 1.0 if np.isinf(reg_m) else reg_m / (reg_m + reg)
    g, eps = 1.0 - fi, 1e-16
    u = torch.full((d, N), 1.0 / d, dtype=At.dtype, device=At.device)
    v = u.clone()
    q = torch.full((d,), 1.0 / d, dtype=At.dtype, device=At.device)
    alpha = torch.zeros(d, dtype=At.dtype, device=At.device)
    beta = torch.zeros_like(alpha)
    K = torch.exp(-Mt / reg)
    for _ in range(iters):
        fa, fb = torch.exp(-alpha / (reg + reg_m)), torch.exp(-beta / (reg + reg_m))
        u = (At / (K @ v + eps)) ** fi * fa[:, None]
        Ktu = K.T @ u
        if fi == 1.0:
            q = torch.exp(torch.log(Ktu) @ w - beta / reg)
        else:
            q = ((Ktu ** g * fb[:, None]) @ w) ** (1.0 / g)
        v = (q[:, None] / (Ktu + eps)) ** fi * fb[:, None]
        if bool((u > tau).any()) or bool((v > tau).any()):
            alpha, beta, K, v = _absorb(torch, u, v, alpha, beta, Mt, reg)
    return q


@_autograd.tensors_in_out("barycenter_unbalanced", ('A', 'M'))
def _barycenter_unbalanced_arrays(A, M, reg, reg_m, method="sinkhorn", weights=None, numItermax=1000, stopThr=1e-6,
                                  verbose=False, log=False, tau=1e3, warn=True, backend="auto"):
    """barycenter_unbalanced on arrays (torch CPU tensors read as NumPy, no graph)."""
    from .unbalanced import _reg_pair

    method = check_method(method, _UNBALANCED_METHODS)
    if np.ndim(reg_m) != 0:
        raise ValueError(f"reg_m must be one number > 0 (inf: balanced) for barycenter_unbalanced, got {reg_m!r}")
    reg_m = _reg_pair(reg_m)[0]
    impl = _backend.kernels(backend, "barycenter")[1]
    dtype = resolve_dtype(None, A)  # float32 stays float32
    A, M, reg, w, numItermax, stopThr = _check_fixed(A, M, reg, weights, numItermax, stopThr, balanced=False)
    if method == "sinkhorn_stabilized":
        tau = check_reg(tau, "tau")
        res = impl.bary_unbalanced_stabilized(M, A, w, reg, reg_m, tau, numItermax, stopThr)
    else:
        res = impl.bary_unbalanced(M, A, w, reg, reg_m, numItermax, stopThr)
    hint = ("use method='sinkhorn_stabilized' (or a larger reg)." if method == "sinkhorn"
            else "try a larger reg, a smaller reg_m or a larger tau.")
    out = _finish(res, "Unbalanced barycenter (" + method + ")", stopThr, numItermax, verbose, log, warn, hint,
                  dtype)
    if log:
        out[1]["logu"] = np.asarray(res["logu"])
        out[1]["logv"] = np.asarray(res["logv"])
    return out


def barycenter_unbalanced_sinkhorn(A, M, reg, reg_m, weights=None, numItermax=1000, stopThr=1e-6, verbose=False,
                                   log=False, warn=True, backend="auto"):
    """:func:`barycenter_unbalanced` with ``method="sinkhorn"`` (POT's name)."""
    return barycenter_unbalanced(A, M, reg, reg_m, method="sinkhorn", weights=weights, numItermax=numItermax,
                                 stopThr=stopThr, verbose=verbose, log=log, warn=warn, backend=backend)


def barycenter_unbalanced_stabilized(A, M, reg, reg_m, weights=None, tau=1e3, numItermax=1000, stopThr=1e-6,
                                     verbose=False, log=False, warn=True, backend="auto"):
    """:func:`barycenter_unbalanced` with ``method="sinkhorn_stabilized"`` (POT's name)."""
    return barycenter_unbalanced(A, M, reg, reg_m, method="sinkhorn_stabilized", weights=weights,
                                 numItermax=numItermax, stopThr=stopThr, verbose=verbose, log=log, tau=tau,
                                 warn=warn, backend=backend)


# ---------------------------------------------------------------------------------------
# convolutional (2-D images)
# ---------------------------------------------------------------------------------------
def _check_images(A):
    if isinstance(A, (list, tuple)):
        imgs = [as_float_array(a, f"A[{k}]") for k, a in enumerate(A)]
        if not imgs:
            raise ValueError("A is empty: give at least one image")
        for k, im in enumerate(imgs):
            if im.ndim != 2:
                raise ValueError(f"A[{k}] must be a 2-D image, got shape {im.shape}")
            if im.shape != imgs[0].shape:
                raise ValueError(f"all images in A must have the same shape: A[0] has shape {imgs[0].shape} "
                                 f"but A[{k}] has shape {im.shape}")
        A = np.stack(imgs)
    else:
        A = as_float_array(A, "A")
    if A.ndim != 3:
        raise ValueError(f"A must be a 3-D array (n_hists, height, width) of images, got shape {A.shape}")
    if 0 in A.shape:
        raise ValueError(f"A is empty (shape {A.shape})")
    if not np.isfinite(A).all():
        k = int(np.argwhere(~np.isfinite(A))[0, 0])
        raise ValueError(f"A has non-finite entries (NaN or inf), e.g. in image {k}")
    if (A < 0).any():
        k = int(np.argwhere(A < 0)[0, 0])
        raise ValueError(f"A has negative entries (min {A.min():.6g}), e.g. in image {k}; images must be >= 0")
    _check_sums_to_one(A.sum(axis=(1, 2)), "A", "image")
    return np.ascontiguousarray(A)


def _check_stab(stabThr):
    if isinstance(stabThr, (bool, np.bool_)) or not isinstance(stabThr, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"stabThr must be a real number, got {type(stabThr).__name__}")
    stabThr = float(stabThr)
    if not (np.isfinite(stabThr) and stabThr >= 0):
        raise ValueError(f"stabThr must be a finite number >= 0, got {stabThr}")
    return stabThr


def convolutional_barycenter2d(A, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-4,
                               verbose=False, log=False, warn=True, stabThr=1e-30, backend="auto"):
    r"""Entropic regularized Wasserstein barycenter of 2-D images (convolutional Wasserstein
    barycenter).

    Solves

    .. math::
        \mathbf{a} = \mathop{\arg \min}_\mathbf{a} \quad \sum_i w_i W_{reg}(\mathbf{a}, \mathbf{a}_i)

    for images :math:`\mathbf{a}_i` on a regular grid of :math:`[0, 1]^2` with the squared
    Euclidean cost, by iterative Bregman projections where the Gaussian kernel
    :math:`e^{-\|x - y\|^2 / reg}` is applied as two 1-D convolutions, one per axis [21]_: a
    product costs :math:`O(hw(h + w))` and the :math:`(hw \times hw)` kernel is never formed.
    Same iterates, stopping rule (``ii % 10 == 9``) and result as
    :func:`ot.bregman.convolutional_barycenter2d`.

    Parameters
    ----------
    A : (n_hists, height, width) array_like, or a list of (height, width) arrays
        The images (each >= 0, summing to 1; all of one shape).
    reg : float
        Entropic regularization, > 0 (on the unit square).
    weights : (n_hists,) array_like, optional
        Barycentric coordinates (>= 0, summing to 1); uniform by default.
    method : {"sinkhorn", "sinkhorn_log"}
        Kernel form, or log domain (stable for small ``reg``, much slower).
    numItermax : int
    stopThr : float
    verbose : bool
    log : bool
        Also return a dict with ``err``, ``niter``, ``converged``, ``status``.
    warn : bool
    stabThr : float
        Added inside the logarithms (POT's ``stabThr``).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    a : (height, width) ndarray
        Torch tensors in: a tensor; when the images or ``weights`` require grad (``method="sinkhorn"``) it is
        differentiable by unrolling (the kernel finds the iteration count, then the same iterations run in
        torch, as POT's torch backend differentiates them).
    log : dict (only if ``log``)

    Examples
    --------
    >>> import numpy as np, otkit
    >>> A = np.zeros((2, 20, 20)); A[0, 5, 5] = 1.0; A[1, 15, 15] = 1.0
    >>> bar = otkit.convolutional_barycenter2d(A, reg=4e-3)
    >>> bar.shape, tuple(int(i) for i in np.unravel_index(np.argmax(bar), bar.shape))
    ((20, 20), (10, 10))

    References
    ----------
    .. [21] Solomon, J., De Goes, F., Peyré, G., Cuturi, M., Butscher, A., Nguyen, A., ... &
       Guibas, L. (2015). Convolutional Wasserstein distances: Efficient optimal transportation on
       geometric domains. ACM Transactions on Graphics (TOG), 34(4), 66.
    """
    torch = _autograd.torch_module(*(A if isinstance(A, (list, tuple)) else [A]), weights)
    if (torch is not None and isinstance(method, str) and method.lower() in ("sinkhorn", "sinkhorn_log")
            and any(isinstance(t, torch.Tensor) and t.requires_grad
                    for t in list(A if isinstance(A, (list, tuple)) else [A]) + [weights])):
        meth = method.lower()
        return _conv_unrolled(
            torch, A, weights, log,
            lambda hA, hw: _conv_arrays(hA, reg, weights=hw, method=meth, numItermax=numItermax, stopThr=stopThr,
                                        verbose=verbose, log=True, warn=warn, stabThr=stabThr, backend=backend)[1],
            lambda At, w, iters: (_iterate_conv_log if meth == "sinkhorn_log" else _iterate_conv)(
                At, w, iters, reg, stabThr))
    return _conv_arrays(A, reg, weights=weights, method=method, numItermax=numItermax, stopThr=stopThr,
                        verbose=verbose, log=log, warn=warn, stabThr=stabThr, backend=backend)


def _conv_unrolled(torch, A, weights, log, solve, iterate):
    """The differentiable convolutional barycenters: ``solve(images, weights)`` (the compiled kernel on host
    copies) gives the log and the iteration count, then ``iterate(images, w, iters)`` runs POT's iterations in
    torch (the Gaussian kernel applied along each axis) and autograd differentiates through them."""
    imgs = torch.stack(list(A)) if isinstance(A, (list, tuple)) else A
    _autograd.check_same_device(torch, ("A", "weights"), imgs, weights)
    host = lambda t: None if t is None else (t.detach().cpu().numpy() if torch.is_tensor(t) else t)  # noqa: E731
    lg = solve(host(imgs), host(weights))
    At = imgs if imgs.is_floating_point() else imgs.to(torch.float64)
    N = At.shape[0]
    w = (torch.as_tensor(weights, dtype=At.dtype, device=At.device) if weights is not None
         else torch.full((N,), 1.0 / N, dtype=At.dtype, device=At.device))
    bar = iterate(At, w, lg["niter"] + 1)  # the kernel's barycenter is that of iteration niter (0-based)
    return (bar, lg) if log else bar


def _gauss_conv(At, reg):
    """X -> K1 X K2^T with the Gaussian kernels exp(-(t_i - t_j)^2 / reg) of each axis (POT's convolution)."""
    import torch

    def gauss(n):
        t = torch.linspace(0, 1, n, dtype=At.dtype, device=At.device)
        return torch.exp(-((t[:, None] - t[None, :]) ** 2) / reg)

    K1, K2 = gauss(At.shape[1]), gauss(At.shape[2])
    return lambda X: torch.einsum("ij,klj->kli", K2, torch.einsum("ij,kjl->kil", K1, X))


def _iterate_conv(At, w, iters, reg, stabThr, debiased=False):
    """POT's _convolutional_barycenter2d (and _debiased: the barycenter times c, c <- sqrt(c bar / K c) ten times
    per iteration) in torch."""
    import torch
    conv = _gauss_conv(At, reg)
    N, R, C = At.shape
    bar = torch.full((R, C), 1.0 / (R * C), dtype=At.dtype, device=At.device)
    c = torch.ones((R, C), dtype=At.dtype, device=At.device)
    KU = conv(torch.ones_like(At))
    for _ in range(iters):
        KV = conv(bar[None] / KU)
        KU = conv(At / KV)
        bar = torch.exp(torch.sum(w[:, None, None] * torch.log(KU + stabThr), dim=0))
        if debiased:
            bar = c * bar
            for _ in range(10):
                c = torch.sqrt(c * bar / conv(c[None])[0])
    return bar


def _iterate_conv_log(At, w, iters, reg, stabThr, debiased=False):
    """POT's _convolutional_barycenter2d_log (and _debiased_log: plus the debiasing potential c, ten averaged
    steps per iteration) in torch: the log-domain Gaussian convolution LSE_j(-(t_i - t_j)^2 / reg + X_jl) along
    each axis."""
    import torch
    N, R, C = At.shape

    def lmat(n):
        t = torch.linspace(0, 1, n, dtype=At.dtype, device=At.device)
        return -((t[:, None] - t[None, :]) ** 2) / reg

    L1, L2 = lmat(R), lmat(C)

    def conv(X):  # (N, R, C): rows by L1, then columns by L2
        Y = torch.logsumexp(L1[None, :, :, None] + X[:, None, :, :], dim=2)
        return torch.logsumexp(L2[None, None, :, :] + Y[:, :, None, :], dim=3)

    logA = torch.log(At + stabThr)
    G = torch.zeros_like(At)
    c = torch.zeros((R, C), dtype=At.dtype, device=At.device)
    for it in range(iters):
        LKU = conv(logA - conv(G))
        log_bar = torch.sum(w[:, None, None] * LKU, dim=0)
        if debiased:
            log_bar = log_bar + c
            for _ in range(10):
                c = 0.5 * (c + log_bar - conv(c[None])[0])
        if it < iters - 1:
            G = log_bar[None] - LKU
    return torch.exp(log_bar)


@_autograd.tensors_in_out("convolutional_barycenter2d", ('A',))
def _conv_arrays(A, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-4, verbose=False, log=False,
                 warn=True, stabThr=1e-30, backend="auto"):
    """convolutional_barycenter2d on arrays (torch CPU tensors read as NumPy, no graph)."""
    check_method(method, ("sinkhorn", "sinkhorn_log"))
    method = method.lower()
    impl = _backend.kernels(backend, "barycenter")[1]
    dtype = resolve_dtype(None, *(A if isinstance(A, (list, tuple)) else [A]))  # float32 images stay float32
    A = _check_images(A)
    reg = check_reg(reg)
    w = _check_weights(weights, A.shape[0], what="images")
    numItermax, stopThr = _check_stop(numItermax, stopThr)
    stabThr = _check_stab(stabThr)
    fn = impl.bary_conv2d_log if method == "sinkhorn_log" else impl.bary_conv2d
    res = fn(A, w, reg, numItermax, stopThr, stabThr)
    hint = "use method='sinkhorn_log' (or a larger reg)." if method == "sinkhorn" else "try a larger reg."
    return _finish(res, "Convolutional barycenter (" + method + ")", stopThr, numItermax, verbose, log, warn, hint,
                   dtype)


def convolutional_barycenter2d_debiased(A, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-3,
                                        verbose=False, log=False, warn=True, stabThr=None, backend="auto"):
    r"""Debiased Sinkhorn barycenter of 2-D images (Janati et al. 2020), convolutional.

    Solves

    .. math::
        \mathbf{a} = \mathop{\arg \min}_\mathbf{a} \quad \sum_i w_i S_{reg}(\mathbf{a}, \mathbf{a}_i)

    for images on a regular grid of :math:`[0, 1]^2` with the squared Euclidean cost, where
    :math:`S_{reg}` is the Sinkhorn divergence [37]_: the barycenter of
    :func:`convolutional_barycenter2d` without its entropic blur. The Gaussian kernel is applied as two
    1-D convolutions per axis (the :math:`(hw \times hw)` kernel is never formed), to the N images and,
    10 times per iteration, to the debiasing potential :math:`\mathbf{c}`. Same iterates, stopping
    rule (``ii % 10 == 9``, and only after iteration 20) and result as
    :func:`ot.bregman.convolutional_barycenter2d_debiased`.

    Parameters
    ----------
    A : (n_hists, height, width) array_like, or a list of (height, width) arrays
        The images (each >= 0, summing to 1; all of one shape).
    reg : float
        Entropic regularization, > 0 (on the unit square).
    weights : (n_hists,) array_like, optional
        Barycentric coordinates (>= 0, summing to 1); uniform by default.
    method : {"sinkhorn", "sinkhorn_log"}
        Kernel form, or log domain (stable for small ``reg``, much slower).
    numItermax : int
    stopThr : float
    verbose : bool
    log : bool
        Also return a dict with ``err``, ``niter``, ``converged``, ``status``; for ``"sinkhorn"``
        also POT's ``U`` and ``V`` (the last scalings, (n_hists, height, width) NumPy arrays).
    warn : bool
    stabThr : float, optional
        Added inside the logarithms (POT's ``stabThr``); default 1e-15 (``"sinkhorn"``) or 1e-30
        (``"sinkhorn_log"``), POT's.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    a : (height, width) ndarray
        Torch tensors in: a tensor, differentiable by unrolling when ``A`` or ``weights`` requires grad (the
        kernel finds the iteration count, then the same iterations run in torch).
    log : dict (only if ``log``)

    Examples
    --------
    >>> import numpy as np, otkit
    >>> t = np.linspace(0, 1, 20)
    >>> img = np.exp(-((t[:, None] - 0.5) ** 2 + (t[None, :] - 0.5) ** 2) / 0.01); img /= img.sum()
    >>> A = np.stack([img, img, img])
    >>> deb = otkit.convolutional_barycenter2d_debiased(A, reg=4e-3)
    >>> blur = otkit.convolutional_barycenter2d(A, reg=4e-3)
    >>> bool(np.abs(deb - img).max() < 0.1 * np.abs(blur - img).max())
    True

    References
    ----------
    .. [37] Janati, H., Cuturi, M., Gramfort, A. (2020). Debiased Sinkhorn barycenters. Proceedings of
       the 37th International Conference on Machine Learning, PMLR 119:4692-4701.
    """
    torch = _autograd.torch_module(*(A if isinstance(A, (list, tuple)) else [A]), weights)
    if (torch is not None and isinstance(method, str) and method.lower() in ("sinkhorn", "sinkhorn_log")
            and any(isinstance(t, torch.Tensor) and t.requires_grad
                    for t in list(A if isinstance(A, (list, tuple)) else [A]) + [weights])):
        meth = method.lower()
        stab = (1e-30 if meth == "sinkhorn_log" else 1e-15) if stabThr is None else stabThr
        return _conv_unrolled(
            torch, A, weights, log,
            lambda hA, hw: _conv_debiased_arrays(hA, reg, weights=hw, method=meth, numItermax=numItermax,
                                                 stopThr=stopThr, verbose=verbose, log=True, warn=warn,
                                                 stabThr=stabThr, backend=backend)[1],
            lambda At, w, iters: (_iterate_conv_log if meth == "sinkhorn_log" else _iterate_conv)(
                At, w, iters, reg, stab, debiased=True))
    return _conv_debiased_arrays(A, reg, weights=weights, method=method, numItermax=numItermax, stopThr=stopThr,
                                 verbose=verbose, log=log, warn=warn, stabThr=stabThr, backend=backend)


@_autograd.tensors_in_out("convolutional_barycenter2d_debiased", ('A',))
def _conv_debiased_arrays(A, reg, weights=None, method="sinkhorn", numItermax=10000, stopThr=1e-3, verbose=False,
                          log=False, warn=True, stabThr=None, backend="auto"):
    """convolutional_barycenter2d_debiased on arrays (torch CPU tensors read as NumPy, no graph)."""
    check_method(method, ("sinkhorn", "sinkhorn_log"))
    method = method.lower()
    impl = _backend.kernels(backend, "barycenter")[1]
    dtype = resolve_dtype(None, *(A if isinstance(A, (list, tuple)) else [A]))  # float32 images stay float32
    A = _check_images(A)
    reg = check_reg(reg)
    w = _check_weights(weights, A.shape[0], what="images")
    numItermax, stopThr = _check_stop(numItermax, stopThr)
    if stabThr is None:
        stabThr = 1e-30 if method == "sinkhorn_log" else 1e-15
    stabThr = _check_stab(stabThr)
    fn = impl.bary_conv2d_debiased_log if method == "sinkhorn_log" else impl.bary_conv2d_debiased
    res = fn(A, w, reg, numItermax, stopThr, stabThr)
    hint = "use method='sinkhorn_log' (or a larger reg)." if method == "sinkhorn" else "try a larger reg."
    out = _finish(res, "Debiased convolutional barycenter (" + method + ")", stopThr, numItermax, verbose, log, warn,
                  hint, dtype)
    if log and "U" in res:
        out[1]["U"] = np.asarray(res["U"]).astype(dtype, copy=False)
        out[1]["V"] = np.asarray(res["V"]).astype(dtype, copy=False)
    return out


# ---------------------------------------------------------------------------------------
# free support
# ---------------------------------------------------------------------------------------
def _check_free_support(measures_locations, measures_weights, X_init, b, weights, numItermax, stopThr):
    """The validated inputs of the free-support barycenters: (X, locations, weights, b, w, numItermax, stopThr)."""
    if isinstance(measures_locations, np.ndarray) and measures_locations.ndim == 3:
        measures_locations = list(measures_locations)
    if isinstance(measures_weights, np.ndarray) and measures_weights.ndim == 2:
        measures_weights = list(measures_weights)
    if not isinstance(measures_locations, (list, tuple)) or not isinstance(measures_weights, (list, tuple)):
        raise TypeError("measures_locations and measures_weights must be lists of arrays (one per measure)")
    N = len(measures_locations)
    if N == 0:
        raise ValueError("measures_locations is empty: give at least one measure")
    if len(measures_weights) != N:
        raise ValueError(f"measures_weights has {len(measures_weights)} entries but measures_locations has {N}")
    X = as_float_array(X_init, "X_init")
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"X_init must be a non-empty 2-D array (k, d), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X_init has non-finite entries (NaN or inf)")
    k, dim = X.shape
    locs, wts = [], []
    for i, (Xi, ai) in enumerate(zip(measures_locations, measures_weights)):
        Xi = as_float_array(Xi, f"measures_locations[{i}]")
        if Xi.ndim != 2 or Xi.shape[1] != dim or Xi.shape[0] == 0:
            raise ValueError(f"measures_locations[{i}] must be a (k_i, {dim}) array (d = X_init.shape[1]), "
                             f"got shape {Xi.shape}")
        if not np.isfinite(Xi).all():
            raise ValueError(f"measures_locations[{i}] has non-finite entries (NaN or inf)")
        ai = check_hist(ai, f"measures_weights[{i}]", Xi.shape[0], other=f"measures_locations[{i}].shape[0]")
        _check_sums_to_one(ai.sum(), f"measures_weights[{i}]", "")
        locs.append(Xi)
        wts.append(ai)
    b = check_hist(b, "b", k, other="X_init.shape[0]")
    if (b <= 0).any():
        raise ValueError("b must be > 0 everywhere (the update divides by b)")
    _check_sums_to_one(b.sum(), "b", "")
    w = _check_weights(weights, N, what="measures")
    numItermax = check_max_iter(numItermax, minimum=0, cap=None)
    _, stopThr = _check_stop(1, stopThr)
    if X.shape[1]:  # the squared distances between all these points must stay far from overflow
        lo = np.min([X.min(0)] + [x.min(0) for x in locs], axis=0)
        hi = np.max([X.max(0)] + [x.max(0) for x in locs], axis=0)
        with np.errstate(over="ignore"):
            diam2 = float(np.sum((hi - lo) ** 2))
        if not diam2 < np.finfo(np.float64).max * 1e-6:
            raise ValueError(f"X_init and measures_locations span {float(np.max(hi - lo)):.3g} in one coordinate: "
                             "their squared distances overflow float64; rescale them")
    return X, locs, wts, b, w, numItermax, stopThr


def _fixed_point(step, X, numItermax, stopThr, verbose, log, what):
    """The free-support iteration X <- step(X) (POT's), until the squared displacement is <= stopThr or
    numItermax steps; the warning, verbose lines and log of both free-support solvers."""
    norms = []
    disp = stopThr + 1.0
    it = 0
    while disp > stopThr and it < numItermax:
        X_new = step(X)
        disp = float(np.sum((X_new - X) ** 2))
        norms.append(disp)
        X = X_new
        if verbose:
            print(f"iteration {it}, displacement_square_norm={disp:f}")
        it += 1
    converged = disp <= stopThr
    if not converged and numItermax > 0:
        warnings.warn(
            f"{what} did not converge in numItermax={numItermax} iterations: squared "
            f"displacement {disp:.6g} > stopThr={stopThr:g}; increase numItermax.", UserWarning, stacklevel=3)
    if log:
        return X, {"displacement_square_norms": norms, "niter": it, "err": disp if norms else None,
                   "converged": bool(converged)}
    return X


@_autograd.tensors_in_out("free_support_barycenter", ('X_init', 'measures_locations'))
def free_support_barycenter(measures_locations, measures_weights, X_init, b=None, weights=None, numItermax=100,
                            stopThr=1e-7, verbose=False, log=None, numThreads=1, backend="auto"):
    r"""Free-support Wasserstein barycenter (the weights ``b`` are fixed, the locations move).

    Solves

    .. math::
        \min_\mathbf{X} \quad \sum_{i=1}^N w_i W_2^2(\mathbf{b}, \mathbf{X}, \mathbf{a}_i, \mathbf{X}_i)

    by the fixed-point iteration of Cuturi and Doucet [20]_ (Algorithm 2 with
    :math:`\theta = 1`): each step solves the exact OT problems
    :math:`\mathbf{T}_i` between the current barycenter and every measure, then moves
    :math:`\mathbf{X} \leftarrow \sum_i w_i \, \mathrm{diag}(1/\mathbf{b}) \mathbf{T}_i \mathbf{X}_i`.
    Stops when the squared displacement :math:`\|\mathbf{X}^{new} - \mathbf{X}\|^2` is at most
    ``stopThr`` or after ``numItermax`` steps, as :func:`ot.lp.free_support_barycenter`.

    Parameters
    ----------
    measures_locations : list of N (k_i, d) array_like
        Support points of each input measure.
    measures_weights : list of N (k_i,) array_like
        Their weights (each >= 0, summing to 1).
    X_init : (k, d) array_like
        Initial support of the barycenter.
    b : (k,) array_like, optional
        Weights of the barycenter (> 0, summing to 1); uniform by default.
    weights : (N,) array_like, optional
        Barycentric coordinates (>= 0, summing to 1); uniform by default.
    numItermax : int
    stopThr : float
    verbose : bool
    log : bool
        Also return a dict with ``displacement_square_norms`` (as POT), ``niter``,
        ``err`` (the last squared displacement) and ``converged``.
    numThreads : int
        Accepted for POT compatibility; ignored.
    backend : {"auto", "cpp", "numba"}
        Backend of the exact OT solver ``otkit.emd`` called at each step.

    Returns
    -------
    X : (k, d) ndarray
        Support of the barycenter.
    log : dict (only if ``log``)

    Examples
    --------
    >>> import numpy as np, otkit
    >>> X1 = np.array([[0.0], [1.0]]); X2 = np.array([[2.0], [3.0]])
    >>> a = np.array([0.5, 0.5])
    >>> X = otkit.free_support_barycenter([X1, X2], [a, a], X_init=np.array([[0.0], [1.0]]))
    >>> X.ravel().tolist()
    [1.0, 2.0]

    References
    ----------
    .. [20] Cuturi, M., and Doucet, A. (2014). Fast computation of Wasserstein barycenters.
       International Conference on Machine Learning.
    """
    _backend.resolve_backend(backend, family="barycenter")
    X, locs, wts, b, w, numItermax, stopThr = _check_free_support(measures_locations, measures_weights, X_init, b,
                                                                   weights, numItermax, stopThr)
    k, dim = X.shape
    N = len(locs)

    from .emd import _solve

    # the masses of every problem (b, a_i) stay the same from step to step (a_i rescaled once to
    # the mass of b: the solver needs equal totals, as in otkit.emd), so the optimal tree of a
    # problem at one step is a feasible basis of the same problem at the next, where only the
    # costs changed: the network simplex goes on from it. Same optimum as a cold start; the
    # pivots fall from ~3000 to tens once the support moves little (200 points)
    wts = [np.ascontiguousarray(ai * (b.sum() / ai.sum())) for ai in wts]
    bases = [None] * N

    def step(X):
        T_sum = np.zeros((k, dim))
        for q, (Xi, ai, wi) in enumerate(zip(locs, wts, w)):
            I, J, P, _, lg = _solve(b, ai, dist(X, Xi), 100000, False, backend, basis=bases[q], keep_basis=True)
            bases[q] = lg["basis"]
            # T_i X_i from the plan's support (at most k + k_i - 1 cells)
            TX = np.stack([np.bincount(I, P * Xi[J, c], minlength=k) for c in range(dim)], axis=1)
            T_sum += wi * TX / b[:, None]
        return T_sum

    return _fixed_point(step, X, numItermax, stopThr, verbose, log, "free_support_barycenter")


@_autograd.tensors_in_out("free_support_sinkhorn_barycenter", ('X_init', 'measures_locations'))
def free_support_sinkhorn_barycenter(measures_locations, measures_weights, X_init, reg, b=None, weights=None,
                                     numItermax=100, numInnerItermax=1000, stopThr=1e-7, verbose=False, log=None,
                                     backend="auto", lazy=False, **kwargs):
    r"""Free-support entropic barycenter (POT's ``ot.bregman.free_support_sinkhorn_barycenter``).

    .. math::
        \min_X \sum_i w_i\, W_{reg}(b, X; a_i, X_i)

    by the fixed point :math:`X \leftarrow \sum_i w_i\, \mathrm{diag}(1/b)\, T_i X_i` of
    :func:`free_support_barycenter`, with :math:`T_i` the entropic plan of :func:`otkit.sinkhorn` (squared
    Euclidean cost, regularization ``reg``, at most ``numInnerItermax`` iterations; ``kwargs`` go to
    ``sinkhorn``, e.g. ``method="sinkhorn_log"`` for small ``reg``). Same iterates, stopping rule (squared
    displacement <= ``stopThr``) and ``log["displacement_square_norms"]`` as POT.

    Parameters
    ----------
    measures_locations : list of (k_i, d) arrays
    measures_weights : list of (k_i,) arrays (each sums to 1)
    X_init : (k, d) array, the initial support
    reg : float, > 0
    b : (k,) array, optional, the barycenter's weights (uniform by default)
    weights : (N,) array, optional, the barycentric coordinates (uniform by default)
    numItermax, numInnerItermax : int
    stopThr : float
    verbose, log : bool
    backend : {"auto", "cpp", "numba"}
    lazy : bool
        Never store a cost matrix or a plan (otkit's option): each :math:`T_i` is the log-domain solution on an
        :class:`otkit.geometry.PointCloud` (costs computed inside the solver's passes) and :math:`T_i X_i` is
        accumulated block by block, so memory is O((k + k_i) d) instead of k x k_i per measure. The iterates are
        those of ``method="sinkhorn_log"``.

    Returns
    -------
    X : (k, d) ndarray
    log : dict, only if ``log`` (``displacement_square_norms``, ``niter``, ``err``, ``converged``)

    Examples
    --------
    >>> import numpy as np, otkit
    >>> X1, X2 = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    >>> w = [np.full(2, 0.5)] * 2
    >>> X = otkit.free_support_sinkhorn_barycenter([X1, X2], w, np.array([[0.0], [3.0]]), reg=0.05)
    >>> np.round(X.ravel(), 3)
    array([1., 2.])
    """
    from .bregman import sinkhorn

    reg = check_reg(reg)
    numInnerItermax = check_max_iter(numInnerItermax, "numInnerItermax")
    X, locs, wts, b, w, numItermax, stopThr = _check_free_support(measures_locations, measures_weights, X_init, b,
                                                                   weights, numItermax, stopThr)
    k, dim = X.shape

    def plan_times(X, Xi, ai):  # T_i X_i
        if not lazy:
            return sinkhorn(b, ai, dist(X, Xi), reg, numItermax=numInnerItermax, backend=backend, **kwargs) @ Xi
        from . import geometry
        from .bregman import sinkhorn2
        from .empirical import LazyPlan
        _, lg = sinkhorn2(b, ai, geometry.PointCloud(X, Xi), reg, numItermax=numInnerItermax, log=True,
                          backend=backend, **kwargs)
        return LazyPlan(X, Xi, lg["log_u"], lg["log_v"], reg).dot(Xi)

    def step(X):
        T_sum = np.zeros((k, dim))
        for Xi, ai, wi in zip(locs, wts, w):
            T_sum += wi / b[:, None] * plan_times(X, Xi, ai)
        return T_sum

    return _fixed_point(step, X, numItermax, stopThr, verbose, log, "free_support_sinkhorn_barycenter")
