r"""POT's unified solvers, ``ot.solve(M, ...)`` and ``ot.solve_sample(X_a, X_b, ...)``, on otkit's kernels.

One call for exact, entropic and unbalanced OT, returning an :class:`OTResult` (``value``, ``value_linear``,
``plan``, ``potentials``, ``lazy_plan``, ``status``, ``log``). Supported, with POT's defaults and values:

========================================  ==============================================================
``reg`` None or 0, balanced               exact OT (:func:`otkit.emd`, network simplex): plan, potentials
``reg`` > 0, ``reg_type`` "KL"/"entropy"  entropic OT, POT's ``sinkhorn_log`` iterates
                                          (:func:`otkit.sinkhorn`, ``method="sinkhorn_log"``)
``reg`` > 0, ``unbalanced`` (KL)          unbalanced entropic OT (:func:`otkit.sinkhorn_unbalanced`,
                                          ``reg_type`` "kl" or "entropy"; ``method`` "sinkhorn" or
                                          "sinkhorn_log")
``solve_sample(..., lazy=True)``, reg>0   costs computed on the fly (:func:`otkit.empirical_sinkhorn2`,
                                          ``isLazy=True``; with ``unbalanced``:
                                          :func:`otkit.unbalanced.unbalanced_cloud`; metrics sqeuclidean
                                          and euclidean); reg 0: :func:`otkit.emd2_sample`
``solve_sample`` ``method`` "1d",         values only: :func:`otkit.wasserstein_1d` per dimension,
"sliced", "max_sliced", "gaussian",       :func:`otkit.sliced_wasserstein_distance`, its max form (p = 2
"gaussian_hd"                             for "sqeuclidean", 1 for "euclidean"/"cityblock"), the squared
                                          :func:`otkit.empirical_bures_wasserstein_distance` (its
                                          probabilistic-PCA form of intrinsic dimension ``rank``)
``solve_sample`` ``method`` "geomloss",   GeomLoss's entropic (and KL-unbalanced) OT value, annealed, on
"geomloss_tensorized|online|multiscale"   :class:`otkit.SamplesLoss`'s solvers, differentiable on torch
``solve_sample`` ``method`` "lowrank",    low-rank couplings, Nystroem Sinkhorn, factored OT
"nystroem", "factored"                    (:mod:`otkit.lowrank`; "sqeuclidean"; ``rank``)
``solve_sample`` ``method`` "bsp"          a bijection by merged BSP matchings (:mod:`otkit.bsp`; an upper
                                          bound of exact OT; n points each, uniform weights)
``solve_sample`` ``debias`` True/"split"  OT(a, b) - (OT(a, a) + OT(b, b)) / 2, or the split-halves form
``solve_sample`` ``scaler``               applied to both clouds first (``.transform`` or a callable)
========================================  ==============================================================

The other combinations of POT (``reg_type="L2"`` or a custom regularizer, ``unbalanced_type`` "L2"/"TV",
exact unbalanced OT, the "mm"/"lbfgsb" methods) raise NotImplementedError naming the option.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _autograd, geometry
from .utils import as_float_array, check_max_iter, check_method

__all__ = ["OTResult", "solve", "solve_sample"]


class OTResult:
    """The result of :func:`solve` / :func:`solve_sample` (POT's ``ot.utils.OTResult`` attributes).

    Attributes
    ----------
    value : float
        The objective: ``value_linear`` plus the regularization (``reg * KL(plan | a b^T)`` for reg_type "KL",
        ``reg * sum plan log plan`` for "entropy") and, unbalanced, the marginal penalties (POT's
        ``total_cost``).
    value_linear : float
        :math:`\\langle P, M \\rangle`.
    plan : (n, m) array or None
        The plan (None for lazy solves: see ``lazy_plan``).
    potentials : (f, g) or None
        Dual potentials: exact OT, POT's ``u``, ``v``; entropic, the log-scalings ``log_u``, ``log_v``.
    lazy_plan : LazyPlan or None
        The plan of a lazy solve, computed block by block on demand.
    status : str
        "Converged", or why not.
    log : dict or None
        The solver's log.
    """

    def __init__(self, value=None, value_linear=None, plan=None, potentials=None, lazy_plan=None, status=None,
                 log=None, sparse_plan=None):
        self.value, self.value_linear, self.plan = value, value_linear, plan
        self.potentials, self.lazy_plan, self.status, self.log = potentials, lazy_plan, status, log
        self.sparse_plan = sparse_plan
        self.value_quad = None

    @property
    def marginals(self):
        """(plan.sum(1), plan.sum(0)) of the plan (or of the lazy plan)."""
        P = self.plan if self.plan is not None else self.lazy_plan
        if P is None:
            raise NotImplementedError("no plan: this result holds no marginals")
        return P.sum(1) if self.plan is not None else P.sum(axis=1), P.sum(0) if self.plan is not None else P.sum(
            axis=0)

    @property
    def marginal_a(self):
        return self.marginals[0]

    @property
    def marginal_b(self):
        return self.marginals[1]

    def __repr__(self):
        return f"OTResult(value={self.value!r}, value_linear={self.value_linear!r}, status={self.status!r})"


def _status(lg):
    if lg.get("converged", True):
        return "Converged"
    return str(lg.get("status", "not converged"))


def _unsupported(what):
    raise NotImplementedError(f"otkit.solve: {what} is not implemented (supported: exact balanced OT, entropic OT "
                              "with reg_type 'KL' or 'entropy', unbalanced entropic OT with KL marginals)")


def _check_reg_type(reg_type):
    if isinstance(reg_type, tuple):
        _unsupported("a custom regularization reg_type=(f, df)")
    if not isinstance(reg_type, str) or reg_type.lower() not in ("kl", "entropy", "l2"):
        raise ValueError(f"reg_type must be 'KL', 'entropy' or 'L2', got {reg_type!r}")
    if reg_type.lower() == "l2":
        _unsupported("reg_type='L2'")
    return reg_type.lower()


def _check_unbalanced_type(unbalanced_type):
    if not isinstance(unbalanced_type, str) or unbalanced_type.lower() not in ("kl", "l2", "tv"):
        raise ValueError(f"unbalanced_type must be 'KL', 'L2' or 'TV', got {unbalanced_type!r}")
    if unbalanced_type.lower() != "kl":
        _unsupported(f"unbalanced_type={unbalanced_type!r}")


def _check_unbalanced(unbalanced):
    """unbalanced: None (balanced) or POT's reg_m (a number > 0 or a pair), errors naming the argument."""
    if unbalanced is not None:
        from .unbalanced import _reg_pair
        _reg_pair(unbalanced, "unbalanced")


def _reg_value(reg):
    if reg is None:
        return 0.0
    if isinstance(reg, (bool, np.bool_)) or not isinstance(reg, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"reg must be a real number >= 0 or None, got {type(reg).__name__}")
    reg = float(reg)
    if not (reg >= 0 and np.isfinite(reg)):
        raise ValueError(f"reg must be a finite number >= 0 (0 or None: exact OT), got {reg}")
    return reg


def _xlogy_sum(torch, P, Q):
    """sum P log(P / Q) with 0 log 0 = 0 (POT's kl_div: P log(P / Q + 1e-16)); NumPy or torch."""
    if torch is not None and isinstance(P, torch.Tensor):
        return torch.sum(P * torch.log(P / Q + 1e-16))
    return float(np.sum(P * np.log(P / Q + 1e-16)))


def solve(M, a=None, b=None, reg=None, c=None, reg_type="KL", unbalanced=None, unbalanced_type="KL", method=None,
          n_threads=1, max_iter=None, plan_init=None, potentials_init=None, tol=None, verbose=False,
          grad="autodiff", backend="auto"):
    r"""Solve an OT problem on the cost matrix ``M`` (POT's ``ot.solve``).

    Parameters
    ----------
    M : (n, m) array_like
        Cost matrix.
    a, b : (n,), (m,) array_like, optional
        Weights (uniform by default).
    reg : float, optional
        Entropic regularization; None or 0: exact OT.
    c : (n, m) array_like, optional
        Reference measure of the regularization of unbalanced OT (default a b^T).
    reg_type : {"KL", "entropy"}
        ``reg * KL(P | a b^T)`` or ``reg * sum P log P`` (the same plan; different ``value``).
    unbalanced : float or (float, float), optional
        KL marginal relaxation (None: balanced).
    unbalanced_type : {"KL"}
    method : {None, "sinkhorn", "sinkhorn_log"}
        Unbalanced entropic solver (POT's default "sinkhorn").
    n_threads : int or "max"
        Threads of the exact solver (as POT's ``numThreads``).
    max_iter, tol : optional
        Iteration cap and tolerance (POT's defaults: exact 1e6 iterations; entropic 1000 and 1e-9).
    plan_init : ignored by these solvers (POT's too)
    potentials_init : (f, g), optional
        Warm start: exact OT, dual potentials; entropic, log-scalings.
    verbose : bool
    grad : {"autodiff", "envelope", "implicit"}
        Torch tensors: the gradient of ``value_linear``/``value`` (otkit's implicit derivative through the
        fixed point for entropic OT, the plan and potentials for exact OT).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    res : OTResult

    Examples
    --------
    >>> import numpy as np, otkit
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> res = otkit.solve(M)                         # exact
    >>> float(res.value), res.plan.round(3).tolist()
    (0.0, [[0.5, 0.0], [0.0, 0.5]])
    >>> res = otkit.solve(M, reg=1.0)                # entropic, value = <P, M> + reg KL(P | a b^T)
    >>> round(float(res.value_linear), 6), round(float(res.value), 6)
    (0.268941, 0.379885)
    """
    from .bregman import sinkhorn
    from .emd import emd
    from .unbalanced import sinkhorn_unbalanced

    torch = _autograd.torch_module(M, a, b, c)
    reg = _reg_value(reg)
    _check_unbalanced(unbalanced)
    reg_type = _check_reg_type(reg_type)
    _check_unbalanced_type(unbalanced_type)
    if method is not None:
        method = check_method(method, ("sinkhorn", "sinkhorn_log", "mm", "lbfgsb"))
        if method in ("mm", "lbfgsb"):
            _unsupported(f"method={method!r}")
    if grad not in ("autodiff", "envelope", "implicit", "detach", "last_step"):
        raise ValueError(f"grad must be 'autodiff', 'envelope', 'implicit' or 'detach', got {grad!r}")
    if max_iter is not None:
        max_iter = check_max_iter(max_iter, "max_iter")
    if torch is None:
        M = as_float_array(M, "M")
        if M.ndim != 2 or 0 in M.shape:
            raise ValueError(f"M must be a non-empty 2-D cost matrix, got shape {M.shape}")
        a, b = (None if x is None or (np.ndim(x) == 1 and len(x) == 0) else as_float_array(x, name)
                for x, name in ((a, "a"), (b, "b")))
    n, m = np.shape(M)[:2] if np.ndim(M) >= 2 else (None, None)
    if a is None and n is not None:
        a = _uniform_like(torch, n, M)
    if b is None and m is not None:
        b = _uniform_like(torch, m, M)
    graph = grad != "detach" and _requires_grad(torch, M, a, b, c)
    # solves on detached tensors (their results have no graph); `graph`: the values get one below
    Md, ad, bd, cd = (_detach(torch, x) for x in (M, a, b, c))
    if reg == 0:
        if unbalanced is not None:
            _unsupported("exact (reg = 0) unbalanced OT")
        plan, lg = emd(ad, bd, Md, numItermax=1000000 if max_iter is None else max_iter, log=True,
                       numThreads=n_threads, potentials_init=potentials_init, backend=backend)
        value = _sum(torch, plan * Md)
        lg["u"], lg["v"] = _like(torch, lg["u"], M), _like(torch, lg["v"], M)
        if graph:  # emd2's gradients: the plan in M, the centred potentials in a and b
            value = _envelope(torch, value, (M, plan), (a, _centred(torch, lg["u"])), (b, _centred(torch, lg["v"])))
        return OTResult(value=value, value_linear=value, plan=plan, potentials=(lg["u"], lg["v"]),
                        status="Converged" if not lg.get("warning") else str(lg["warning"]), log=lg)
    max_iter = 1000 if max_iter is None else max_iter
    tol = 1e-9 if tol is None else tol
    if unbalanced is None:
        if c is not None:
            _unsupported("a reference measure c for balanced entropic OT")
        plan, lg = sinkhorn(ad, bd, Md, reg, method="sinkhorn_log", numItermax=max_iter, stopThr=tol, verbose=verbose,
                            log=True, warmstart=potentials_init, backend=backend)
        f, g = _like(torch, lg["log_u"], M), _like(torch, lg["log_v"], M)
        value_linear = _sum(torch, plan * Md)
        if reg_type == "entropy":
            value = value_linear + reg * _sum(torch, plan * _log(torch, plan + 1e-16))
            ga, gb = reg * f, reg * g
        else:
            value = value_linear + reg * _xlogy_sum(torch, plan, ad[:, None] * bd[None, :] + 1e-15)
            ga, gb = reg * (f - _log(torch, ad)), reg * (g - _log(torch, bd))
        if graph:
            # value: the regularized optimum, whose derivatives are the plan (M) and the potentials (a, b)
            # (envelope theorem); value_linear = <P*, M>: sinkhorn2's implicit derivative through the fixed point
            value = _envelope(torch, value, (M, plan), (a, _centred(torch, ga)), (b, _centred(torch, gb)))
            # sinkhorn2's derivative node, fed with the solution above (no second solve)
            solved = (_host(value_linear), {"log_u": _host(f), "log_v": _host(g)})
            value_linear = _autograd.sinkhorn2_autograd(torch, a, b, M, reg, grad if grad == "envelope" else "implicit",
                                                        lambda *_: solved)
        return OTResult(value=value, value_linear=value_linear, plan=plan, potentials=(f, g), status=_status(lg),
                        log=lg)
    plan, lg = sinkhorn_unbalanced(ad, bd, Md, reg, unbalanced, method=method or "sinkhorn", reg_type=reg_type, c=cd,
                                   warmstart=potentials_init, numItermax=max_iter, stopThr=tol, verbose=verbose,
                                   log=True, backend=backend)
    value, value_linear = lg["total_cost"], lg["cost"]
    if graph and c is None:  # sinkhorn_unbalanced2's implicit derivatives of both costs, fed with the solution
        from .unbalanced import _reg_pair
        r1, r2 = _reg_pair(unbalanced)
        hplan = _host(plan)
        value, value_linear = (_autograd.unbalanced2_autograd(torch, a, b, M, reg, r1, r2, reg_type, total,
                                                              lambda *_, v=v: (v, hplan))
                               for total, v in ((True, _host(value)), (False, _host(value_linear))))
    elif graph:  # a user c: sinkhorn_unbalanced2 says that it returns no graph
        from .unbalanced import sinkhorn_unbalanced2
        kw = dict(method=method or "sinkhorn", reg_type=reg_type, c=c, numItermax=max_iter, stopThr=tol, backend=backend)
        value = sinkhorn_unbalanced2(a, b, M, reg, unbalanced, returnCost="total", **kw)
        value_linear = sinkhorn_unbalanced2(a, b, M, reg, unbalanced, returnCost="linear", **kw)
    return OTResult(value=value, value_linear=value_linear, plan=plan,
                    potentials=(_like(torch, lg["logu"], M), _like(torch, lg["logv"], M)),
                    status=_status(lg), log=lg)


_SAMPLE_CLOSED = ("1d", "sliced", "max_sliced", "gaussian", "gaussian_hd")  # solve_sample's methods without a plan (_closed_sample)
_SAMPLE_LOWRANK = ("lowrank", "nystroem", "factored")  # otkit.lowrank
_GEOMLOSS = {"geomloss": "auto", "geomloss_auto": "auto", "geomloss_tensorized": "tensorized",
             "geomloss_online": "online", "geomloss_multiscale": "multiscale"}  # method -> SamplesLoss backend


def solve_sample(X_a, X_b, a=None, b=None, metric="sqeuclidean", reg=None, c=None, reg_type="KL", unbalanced=None,
                 unbalanced_type="KL", lazy=False, batch_size=None, method=None, n_threads=1, max_iter=None,
                 plan_init=None, potentials_init=None, tol=None, verbose=False, grad="autodiff", backend="auto",
                 **kwargs):
    r"""Solve an OT problem between the empirical measures on the points ``X_a`` and ``X_b`` (POT's
    ``ot.solve_sample``).

    Not lazy: :func:`solve` on ``dist(X_a, X_b, metric)`` (POT's iterates and values). ``lazy=True`` with
    ``reg > 0`` (balanced): the costs are computed inside the solver's passes (metrics "sqeuclidean",
    "euclidean"), never stored; ``res.plan`` is None and ``res.lazy_plan`` computes blocks on demand;
    ``res.value`` is the regularized objective from the dual, :math:`reg (\langle a, f - \log a\rangle +
    \langle b, g - \log b\rangle)`, equal to the primal ``<P, C> + reg KL(P | a b^T)`` at convergence (POT
    returns None there). ``lazy=True`` with ``reg`` None or 0: exact OT by :func:`otkit.emd2_sample` (no cost
    matrix either; the plan in ``res.sparse_plan``, a coo_matrix). ``lazy=True`` with ``unbalanced=reg_m`` (KL
    marginals, ``reg > 0``): the unbalanced log-domain solver on the points (the values and potentials of
    :func:`solve` on the cost matrix with ``method="sinkhorn_log"``; no autograd graph, see
    :class:`otkit.SamplesLoss` with ``reach`` for a differentiable loss). ``method="geomloss"`` (or
    "geomloss_tensorized", "geomloss_online", "geomloss_multiscale"): GeomLoss's value (the objective above, and
    the KL marginal penalties with ``unbalanced``), annealed with ``scaling`` (0.95) and solved to ``tol``,
    differentiable on torch; ``res.value_linear`` is None as in POT. ``debias=True``: ``res.value`` is
    OT(a, b) - (OT(a, a) + OT(b, b)) / 2 (``value_linear`` likewise), plan and potentials those of OT(a, b), the
    three results in ``res.log``; ``debias="split"``: each cloud cut in two halves of equal mass in point order,
    OT(a1, b1) + OT(a2, b2) - OT(a1, a2) - OT(b1, b2), no plan (POT's semantics). ``scaler``: a fitted
    transformer (``.transform``) or a callable applied to both clouds first. Other arguments as :func:`solve`;
    ``batch_size`` is accepted (otkit's kernels tile on their own).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> xa, xb = rng.random((100, 2)), rng.random((80, 2))
    >>> res = otkit.solve_sample(xa, xb, reg=0.05)
    >>> lazy = otkit.solve_sample(xa, xb, reg=0.05, lazy=True)
    >>> bool(np.isclose(res.value, lazy.value, rtol=1e-7)), lazy.plan is None, lazy.lazy_plan.shape
    (True, True, (100, 80))
    >>> exact = otkit.solve_sample(xa, xb)                  # reg None: exact OT, the smallest <P, C>
    >>> bool(exact.value <= res.value_linear)
    True
    >>> gl = otkit.solve_sample(xa, xb, reg=0.05, method="geomloss")  # GeomLoss's value, annealed
    >>> bool(np.isclose(gl.value, res.value, rtol=1e-6))
    True
    >>> div = otkit.solve_sample(xa, xb, reg=0.05, debias=True)      # OT(a, b) - (OT(a, a) + OT(b, b)) / 2
    >>> bool(0 < div.value < res.value)
    True
    """
    from .empirical import _dense, empirical_sinkhorn2
    from .utils import dist

    unknown = set(kwargs) - {"debias", "rank", "scaling", "X_init", "random_state", "n_projections", "projections",
                             "scaler"}
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    X_a, X_b = _apply_scaler(X_a, X_b, kwargs.pop("scaler", None))
    debias = kwargs.pop("debias", False)
    if debias is not False and debias is not None:
        params = dict(metric=metric, reg=reg, c=c, reg_type=reg_type, unbalanced=unbalanced,
                      unbalanced_type=unbalanced_type, lazy=lazy, batch_size=batch_size, method=method,
                      n_threads=n_threads, max_iter=max_iter, plan_init=plan_init, potentials_init=potentials_init,
                      tol=tol, verbose=verbose, grad=grad, backend=backend, **kwargs)
        return _debiased_sample(debias, X_a, X_b, a, b, params)
    if isinstance(method, str) and method.lower().startswith("geomloss"):
        return _geomloss_sample(method.lower(), X_a, X_b, a, b, metric, reg, unbalanced, unbalanced_type, max_iter,
                                tol, kwargs.get("scaling"), backend)
    if isinstance(method, str) and method.lower() == "bsp":
        return _bsp_sample(X_a, X_b, a, b, metric, kwargs)
    if isinstance(method, str) and method.lower() in _SAMPLE_CLOSED:
        return _closed_sample(method.lower(), X_a, X_b, a, b, metric, reg, kwargs)
    if isinstance(method, str) and method.lower() in _SAMPLE_LOWRANK:
        return _lowrank_sample(method.lower(), X_a, X_b, a, b, metric, reg, lazy, max_iter, tol, verbose, kwargs)
    torch = _autograd.torch_module(X_a, X_b, a, b)
    if not lazy:
        M = dist(X_a, X_b, metric=metric) if torch is not None else _dense(X_a, X_b, metric)
        return solve(M, a, b, reg=reg, c=c, reg_type=reg_type, unbalanced=unbalanced,
                     unbalanced_type=unbalanced_type, method=method, n_threads=n_threads, max_iter=max_iter,
                     plan_init=plan_init, potentials_init=potentials_init, tol=tol, verbose=verbose, grad=grad,
                     backend=backend)
    reg = _reg_value(reg)
    _check_unbalanced(unbalanced)
    reg_type = _check_reg_type(reg_type)
    _check_unbalanced_type(unbalanced_type)
    if reg == 0:  # exact OT: the point-cloud network simplex, costs on the fly
        if unbalanced is not None:
            _unsupported("exact (reg = 0) unbalanced OT")
        return _exact_sample(torch, X_a, X_b, a, b, metric, max_iter, backend)
    if unbalanced is not None:
        return _unbalanced_sample(torch, X_a, X_b, a, b, metric, reg, reg_type, unbalanced, max_iter, tol,
                                  potentials_init, backend)
    n, m = np.shape(X_a)[0], np.shape(X_b)[0]
    if a is None:
        a = _uniform_like(torch, n, X_a)
    if b is None:
        b = _uniform_like(torch, m, X_b)
    value_linear, lg = empirical_sinkhorn2(X_a, X_b, reg, a, b, metric=metric,
                                           numIterMax=1000 if max_iter is None else max_iter,
                                           stopThr=1e-9 if tol is None else tol, isLazy=True,
                                           batchSize=100 if batch_size is None else batch_size, verbose=verbose,
                                           log=True, warmstart=potentials_init, backend=backend)
    f, g = lg["log_u"], lg["log_v"]
    ah, bh = (np.asarray(_detach(torch, x).cpu() if torch is not None and isinstance(x, torch.Tensor) else x,
                         dtype=np.float64) for x in (a, b))
    if reg_type == "kl":
        value = reg * (float(ah @ (f - np.log(ah))) + float(bh @ (g - np.log(bh))))
    else:  # sum P log P = <a, f> + <b, g> - <P, C> / reg at convergence
        value = reg * (float(ah @ f) + float(bh @ g))
    if torch is not None:
        ref = next(x for x in (X_a, X_b, a, b) if isinstance(x, torch.Tensor))
        f, g = (torch.as_tensor(x, dtype=ref.dtype, device=ref.device) for x in (f, g))
        if _requires_grad(torch, X_a, X_b, a, b):
            import warnings
            warnings.warn("otkit.solve_sample(lazy=True): res.value (the regularized objective) has no autograd "
                          "graph; res.value_linear has one (gradients in the points and weights)", UserWarning,
                          stacklevel=2)
        value = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    return OTResult(value=value, value_linear=value_linear, plan=None, potentials=(f, g),
                    lazy_plan=lg["lazy_plan"], status=_status(lg), log=lg)


def _apply_scaler(X_a, X_b, scaler):
    """POT's ``scaler``: None (the points as given), an object with ``.transform`` (e.g. a fitted scikit-learn
    scaler) or a callable, applied to both clouds."""
    if scaler is None:
        return X_a, X_b
    if callable(getattr(scaler, "transform", None)):
        return scaler.transform(X_a), scaler.transform(X_b)
    if callable(scaler):
        return scaler(X_a), scaler(X_b)
    raise TypeError(f"scaler must be None, an object with a .transform method or a callable, got "
                    f"{type(scaler).__name__}")


def _split_half(X, w, torch, names):
    """POT's ``split_sample_ratio`` at 1/2, in point order: the first points up to half the mass and the rest; the
    point where the cumulative mass crosses the half goes to both halves with its mass shared between them (and
    to one only if its share on the other side is 0). Returns (X1, w1, X2, w2)."""
    if np.ndim(X) != 2:
        raise ValueError(f"{names[0]} must be a 2-D array (points x dimensions), got shape {np.shape(X)}")
    n = np.shape(X)[0]
    if w is None:
        w = _uniform_like(torch, n, X)
    wh = as_float_array(_host(w), names[1])
    if wh.shape != (n,):
        raise ValueError(f"{names[1]} has shape {wh.shape} but {names[0]} has {n} points")
    if not (np.all(np.isfinite(wh)) and np.all(wh >= 0) and wh.sum() > 0):
        raise ValueError(f"{names[1]} must be finite, >= 0 and of positive sum (debias='split')")
    if n < 2:
        raise ValueError(f"debias='split' needs at least 2 points in {names[0]}, got {n}")
    cs = np.cumsum(wh)
    half = 0.5 * cs[-1]
    k = min(int(np.searchsorted(cs, half, side="right")), n - 1)
    left = half - (cs[k - 1] if k > 0 else 0.0)  # the share of point k in the first half
    right = wh[k] - left
    lo = k + 1 if left > 0 else k
    hi = k if right > 0 else k + 1
    def part(i0, i1, first, last):
        wk = w[i0:i1]
        if torch is not None and isinstance(w, torch.Tensor):
            wk = wk.clone()
        else:
            wk = np.array(wk, dtype=np.float64)
        if first is not None:
            wk[0] = wk[0] * 0 + first
        if last is not None:
            wk[-1] = wk[-1] * 0 + last
        return X[i0:i1], wk
    X1, w1 = part(0, lo, None, left if lo == k + 1 else None)
    X2, w2 = part(hi, n, right if hi == k else None, None)
    return X1, w1, X2, w2


def _debiased_sample(debias, X_a, X_b, a, b, params):
    """solve_sample(debias=...) as POT: True, the Sinkhorn-divergence-style value OT(a, b) - (OT(a, a) +
    OT(b, b)) / 2 (with the plan and potentials of OT(a, b)); "split", each cloud cut in two halves of equal mass
    (:func:`_split_half`) and OT(a1, b1) + OT(a2, b2) - OT(a1, a2) - OT(b1, b2), no plan (Fatras et al.'s minibatch
    debiasing). The terms are in ``res.log``."""
    from .empirical import _check_clouds

    _check_clouds(_host(X_a), _host(X_b), names=("X_a", "X_b"))  # (errors named as this call's arguments)
    if debias is True:
        ab = solve_sample(X_a, X_b, a, b, **params)
        aa = solve_sample(X_a, X_a, a, a, **params)
        bb = solve_sample(X_b, X_b, b, b, **params)
        lin = None if ab.value_linear is None else ab.value_linear - 0.5 * (aa.value_linear + bb.value_linear)
        return OTResult(value=ab.value - 0.5 * (aa.value + bb.value), value_linear=lin, plan=ab.plan,
                        potentials=ab.potentials, lazy_plan=ab.lazy_plan, status=ab.status,
                        log={"res_aa": aa, "res_bb": bb, "res_ab": ab}, sparse_plan=ab.sparse_plan)
    if debias != "split":
        raise ValueError(f"debias must be True, False or 'split', got {debias!r}")
    torch = _autograd.torch_module(X_a, X_b, a, b)
    Xa1, a1, Xa2, a2 = _split_half(X_a, a, torch, ("X_a", "a"))
    Xb1, b1, Xb2, b2 = _split_half(X_b, b, torch, ("X_b", "b"))
    aa = solve_sample(Xa1, Xa2, a1, a2, **params)
    bb = solve_sample(Xb1, Xb2, b1, b2, **params)
    ab1 = solve_sample(Xa1, Xb1, a1, b1, **params)
    ab2 = solve_sample(Xa2, Xb2, a2, b2, **params)
    value = ab1.value + ab2.value - (aa.value + bb.value)
    return OTResult(value=value, value_linear=value, status="Debiased",
                    log={"res_aa": aa, "res_bb": bb, "res_ab1": ab1, "res_ab2": ab2, "a1": a1, "a2": a2, "b1": b1,
                         "b2": b2})


def _lowrank_sample(method, X_a, X_b, a, b, metric, reg, lazy, max_iter, tol, verbose, kwargs):
    """solve_sample's low-rank methods (:mod:`otkit.lowrank`, squared Euclidean cost; ``rank`` 100 by default):
    "lowrank", :func:`otkit.lowrank_sinkhorn` (reg 0 if None; value with the entropies, value_linear <P, C>);
    "nystroem", :func:`otkit.lowrank.empirical_sinkhorn_nystroem2` with ``rank`` anchors (reg 1 if None; value
    and value_linear <P, C>, as POT's value); "factored", :func:`otkit.factored_optimal_transport` with ``rank``
    points started at ``X_init`` (value = value_linear = the two OT costs; unlike POT's solve_sample, which drops
    them, ``a`` and ``b`` are used). ``res.lazy_plan`` is the :class:`otkit.lowrank.LowRankPlan`; ``res.plan``
    the dense plan unless ``lazy=True``."""
    from . import lowrank

    if metric != "sqeuclidean":
        _unsupported(f"solve_sample method={method!r} with metric={metric!r} (only 'sqeuclidean')")
    rank = kwargs.get("rank", 100)
    rank = 100 if rank is None else rank
    if method == "lowrank":
        Q, R, g, lg = lowrank.lowrank_sinkhorn(X_a, X_b, a, b, reg=0 if reg is None else reg, rank=rank,
                                               numItermax=2000 if max_iter is None else max_iter,
                                               stopThr=1e-7 if tol is None else tol, log=True)
        lg.update(Q=Q, R=R, g=g)
        value, value_linear = lg["value"], lg["value_linear"]
    elif method == "nystroem":
        value, lg = lowrank.empirical_sinkhorn_nystroem2(
            X_a, X_b, reg=1.0 if reg is None else reg, anchors=rank, a=a, b=b,
            numItermax=1000 if max_iter is None else max_iter, stopThr=1e-7 if tol is None else tol,
            verbose=verbose, random_state=kwargs.get("random_state"), log=True)
        value_linear = value
    else:
        Ga, Gb, X, lg = lowrank.factored_optimal_transport(
            X_a, X_b, a, b, reg=0.0 if reg is None else reg, r=rank, X0=kwargs.get("X_init"),
            stopThr=1e-7 if tol is None else tol, numItermax=100 if max_iter is None else max_iter, verbose=verbose,
            log=True, random_state=kwargs.get("random_state"))
        lg.update(Ga=Ga, Gb=Gb, X=X)
        value = value_linear = lg["costa"] + lg["costb"]
    plan = None if lazy else lg["lazy_plan"][:, :]
    return OTResult(value=value, value_linear=value_linear, plan=plan, lazy_plan=lg["lazy_plan"], status="Converged",
                    log=lg)


def _bsp_sample(X_a, X_b, a, b, metric, kwargs):
    """solve_sample(method="bsp"): :func:`otkit.bsp.compute_bspot_bijection` (POT's semantics: equal counts and
    uniform weights, ``n_projections`` plans, seed ``random_state`` (0), p = 2 for "sqeuclidean" and 1, the
    coordinate-wise |.|, for "euclidean" and "cityblock"); the bijection as ``res.sparse_plan`` (1/n per pair)."""
    from scipy.sparse import coo_matrix

    from .bsp import compute_bspot_bijection

    p = {"sqeuclidean": 2, "euclidean": 1, "cityblock": 1}.get(metric) if isinstance(metric, str) else None
    if p is None:
        _unsupported(f"solve_sample method='bsp' with metric={metric!r}")
    if np.shape(X_a)[0] != np.shape(X_b)[0] or a is not None or b is not None:
        raise ValueError("solve_sample(method='bsp') needs the same number of points in X_a and X_b and uniform "
                         "weights (a = b = None)")
    seed = kwargs.get("random_state")
    value, perm, perms = compute_bspot_bijection(X_a, X_b, n_plans=kwargs.get("n_projections") or 50, p=p,
                                                 seed=0 if seed is None else seed)
    n = np.shape(X_a)[0]
    ph = np.asarray(_host(perm))
    return OTResult(value=value, value_linear=value, status="Converged",
                    sparse_plan=coo_matrix((np.full(n, 1.0 / n), (np.arange(n), ph)), shape=(n, n)),
                    log={"perm": perm, "perms": perms})


def _geomloss_sample(method, X_a, X_b, a, b, metric, reg, unbalanced, unbalanced_type, max_iter, tol, scaling,
                     backend):
    """solve_sample(method="geomloss[_auto|_tensorized|_online|_multiscale]"): GeomLoss's entropic OT between
    the clouds (POT hands this method to ``geomloss.ot.solve_sample``) on otkit's :class:`otkit.SamplesLoss`
    solvers. ``res.value`` is the objective <P, C> + reg KL(P | a b^T) (+ unbalanced KL(P 1 | a) + unbalanced
    KL(P^T 1 | b) with ``unbalanced``: GeomLoss's value), differentiable in the points and weights on torch;
    ``res.potentials`` are f, g with P = a b^T exp((f + g - C) / reg); ``res.lazy_plan`` the plan's blocks;
    ``res.value_linear`` None (as POT). The solve anneals reg as GeomLoss (``scaling``, 0.95 by default) and goes
    on to ``tol`` (1e-9 by default; ``max_iter`` caps the iterations, 100000 by default)."""
    from .divergence import SamplesLoss
    from .empirical import LazyPlan, _check_clouds

    if method not in _GEOMLOSS:
        raise ValueError(f"method {method!r}: the GeomLoss methods are {tuple(_GEOMLOSS)}")
    p = {"sqeuclidean": 2, "euclidean": 1}.get(metric) if isinstance(metric, str) else None
    if p is None:
        _unsupported(f"solve_sample method={method!r} with metric={metric!r} (only 'sqeuclidean', 'euclidean')")
    if reg is None:
        raise TypeError(f"solve_sample(method={method!r}) needs reg > 0 (GeomLoss's entropic OT), got None")
    reg = _reg_value(reg)
    if reg == 0:
        raise ValueError(f"solve_sample(method={method!r}) needs reg > 0 (GeomLoss's entropic OT; exact OT: "
                         "method=None, lazy=True), got 0")
    _check_unbalanced_type(unbalanced_type)
    if unbalanced is not None:
        _check_unbalanced(unbalanced)
        if not isinstance(unbalanced, numbers.Real):
            _unsupported(f"solve_sample method={method!r} with a pair of marginal penalties")
    torch = _autograd.torch_module(X_a, X_b, a, b)
    _check_clouds(_host(X_a), _host(X_b), names=("X_a", "X_b"))  # (errors named as this call's arguments)
    # SamplesLoss's cost is |x - y|^p / p at eps = blur^p: for p = 2, OT_reg(|x - y|^2) = 2 OT_{reg/2}(|x - y|^2 / 2)
    # (and the marginal penalty halves with it); for p = 1 the two problems are the same
    k = 2.0 if p == 2 else 1.0
    reach = None if unbalanced is None or unbalanced == float("inf") else (float(unbalanced) / k) ** (1.0 / p)
    try:
        loss = SamplesLoss("sinkhorn", p=p, blur=(reg / k) ** (1.0 / p), debias=False, reach=reach,
                           scaling=0.95 if scaling is None else scaling, tol=1e-9 if tol is None else tol,
                           max_iter=100000 if max_iter is None else max_iter, backend=_GEOMLOSS[method]
                           if backend == "auto" else backend)
    except ValueError as exc:  # SamplesLoss names blur / reach: say which argument of this call set them
        if "blur" in str(exc) or "reach" in str(exc):
            raise ValueError(f"reg={reg:g}, unbalanced={unbalanced}: {exc}") from None
        raise
    if a is None:
        a = _uniform_like(torch, np.shape(X_a)[0], X_a)
    if b is None:
        b = _uniform_like(torch, np.shape(X_b)[0], X_b)
    d = {}
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = k * loss._ot(torch, a, X_a, b, X_b, details=d)
    status = "Converged"
    for w in caught:  # passed on; a solve that did not converge says so in res.status too
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if "did not converge" in str(w.message):
            status = str(w.message)
    f, g = k * d["f"], k * d["g"]
    if torch is not None:
        ref = next(x for x in (X_a, X_b, a, b) if isinstance(x, torch.Tensor))
        f, g = (torch.as_tensor(x, dtype=ref.dtype, device=ref.device) for x in (f, g))
    return OTResult(value=value, value_linear=None, potentials=(f, g), status=status,
                    lazy_plan=LazyPlan(d["x"], d["y"], d["F"], d["G"], d["reg"], d["cost"]),
                    log={"reg": d["reg"], "metric": d["cost"]})


def _closed_sample(method, X_a, X_b, a, b, metric, reg, kwargs):
    """POT's solve_sample methods that return a value only: "1d" (W_p^p per dimension, p = 2 for "sqeuclidean",
    1 for "euclidean"/"cityblock"), "sliced" and "max_sliced" (sliced distances, same p; ``n_projections``,
    ``projections``, ``random_state``), "gaussian" (the squared Bures-Wasserstein distance of the fitted Gaussians,
    ``reg`` added to the covariances, 1e-6 if None; metric "sqeuclidean")."""
    from .gaussian import empirical_bures_wasserstein_distance, empirical_bures_wasserstein_distance_hd
    from .sliced import max_sliced_wasserstein_distance, sliced_wasserstein_distance
    from .wasserstein import wasserstein_1d

    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__}")
    if method in ("gaussian", "gaussian_hd"):
        if metric != "sqeuclidean":
            _unsupported(f"solve_sample method={method!r} with metric={metric!r} (only 'sqeuclidean')")
        if method == "gaussian":
            W, lg = empirical_bures_wasserstein_distance(X_a, X_b, reg=1e-6 if reg is None else reg, ws=a, wt=b,
                                                         log=True)
        else:
            rank = kwargs.get("rank", 100)
            rank = 100 if rank is None else rank
            p = np.shape(X_a)[1]
            if isinstance(rank, numbers.Integral) and rank > p:
                import warnings
                warnings.warn(f"solve_sample(method='gaussian_hd'): rank={rank} is larger than the dimension {p}; "
                              f"using {p} (full rank)", UserWarning, stacklevel=3)
                rank = p
            W, lg = empirical_bures_wasserstein_distance_hd(X_a, X_b, rank, reg=1e-5 if reg is None else reg, ws=a,
                                                            wt=b, log=True)
        value = W ** 2
        return OTResult(value=value, value_linear=value, status="Converged", log=lg)
    p = {"sqeuclidean": 2, "euclidean": 1, "cityblock": 1}.get(metric)
    if p is None:
        _unsupported(f"solve_sample method={method!r} with metric={metric!r}")
    lg = None
    if method == "1d":
        value = wasserstein_1d(X_a, X_b, a, b, p=p)
    else:
        fn = sliced_wasserstein_distance if method == "sliced" else max_sliced_wasserstein_distance
        value, lg = fn(X_a, X_b, a, b, n_projections=kwargs.get("n_projections") or 50, p=p,
                       projections=kwargs.get("projections"), seed=kwargs.get("random_state"), log=True)
    return OTResult(value=value, value_linear=value, status="Converged", log=lg)


def _unbalanced_sample(torch, X_a, X_b, a, b, metric, reg, reg_type, unbalanced, max_iter, tol, potentials_init,
                       backend):
    """solve_sample(lazy=True, unbalanced=reg_m, reg > 0): :func:`otkit.unbalanced.unbalanced_cloud` (costs computed
    in the passes). The result is that of :func:`solve` on the cost matrix with ``method="sinkhorn_log"``:
    potentials log u, log v with P = exp(log u + log v - Mk / reg), Mk = C - reg log(a b^T) for reg_type "KL"
    (C for "entropy"), value = POT's total cost, value_linear = <P, C>; ``res.lazy_plan`` gives the plan's
    blocks. No autograd graph (a UserWarning says so)."""
    from .empirical import LazyPlan, _check_clouds
    from .unbalanced import unbalanced_cloud

    if metric not in geometry.COSTS:
        raise ValueError(f"solve_sample(lazy=True, unbalanced=...) computes the costs in its passes for metric in "
                         f"{geometry.COSTS}, got {metric!r}; use lazy=False")
    xh, yh = _check_clouds(_host(X_a), _host(X_b), names=("X_a", "X_b"))
    n, m = len(xh), len(yh)
    ah = np.full(n, 1.0 / n) if a is None else _host(a).astype(np.float64)
    bh = np.full(m, 1.0 / m) if b is None else _host(b).astype(np.float64)
    kl = reg_type == "kl"
    with np.errstate(divide="ignore"):
        la, lb = (np.log(ah), np.log(bh)) if kl else (0.0, 0.0)
    warm = None
    if potentials_init is not None:  # given as the result's potentials (log u, log v)
        warm = tuple(np.asarray(_host(p), dtype=np.float64) + l for p, l in zip(potentials_init, (la, lb)))
    r = unbalanced_cloud(xh, yh, ah, bh, reg, unbalanced, metric=metric, reg_type=reg_type,
                         numItermax=1000 if max_iter is None else max_iter, stopThr=1e-9 if tol is None else tol,
                         warmstart=warm, backend=backend)
    with np.errstate(invalid="ignore"):
        f, g = r["f"] - la, r["g"] - lb
    lg = {"niter": r["niter"], "err": r["err"], "status": r["status"], "converged": r["status"] == 0,
          "backend": r["backend"], "cost": r["cost"], "total_cost": r["total_cost"], "logu": f, "logv": g,
          "row_mass": r["row_mass"], "col_mass": r["col_mass"]}
    value, value_linear = r["total_cost"], r["cost"]
    if torch is not None:
        ref = next(x for x in (X_a, X_b, a, b) if isinstance(x, torch.Tensor))
        f, g, value, value_linear = (torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
                                     for x in (f, g, value, value_linear))
        if _requires_grad(torch, X_a, X_b, a, b):
            import warnings
            warnings.warn("otkit.solve_sample(lazy=True, unbalanced=...): the values have no autograd graph; "
                          "otkit.SamplesLoss(reach=...) is the differentiable unbalanced loss between point clouds",
                          UserWarning, stacklevel=3)
    return OTResult(value=value, value_linear=value_linear, plan=None, potentials=(f, g),
                    lazy_plan=LazyPlan(xh, yh, r["f"], r["g"], reg, metric), status=_status(lg), log=lg)


def _exact_sample(torch, X_a, X_b, a, b, metric, max_iter, backend):
    """solve_sample(lazy=True, reg=0 or None): :func:`otkit.emd2_sample` (no cost matrix); the plan is sparse
    (``res.sparse_plan``, at most n + m - 1 nonzeros), ``res.plan`` None."""
    from .emd import emd2_sample

    value, lg = emd2_sample(X_a, X_b, a, b, metric=metric, numItermax=max_iter, return_plan=True, backend=backend)
    u, v = lg["u"], lg["v"]
    if torch is not None:
        ref = next(x for x in (X_a, X_b, a, b) if isinstance(x, torch.Tensor))
        u, v = (torch.as_tensor(x, dtype=ref.dtype, device=ref.device) for x in (u, v))
    return OTResult(value=value, value_linear=value, plan=None, potentials=(u, v), status=_status(lg), log=lg,
                    sparse_plan=lg["G"])


def _like(torch, x, ref):
    """x as a tensor of ref's dtype and device when ref is a tensor."""
    if torch is not None and isinstance(ref, torch.Tensor) and not isinstance(x, torch.Tensor):
        return torch.as_tensor(np.asarray(x), dtype=ref.dtype, device=ref.device)
    return x


def _host(x):
    """A NumPy copy of a (possibly torch) array or number, for the autograd nodes fed with a solution."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _requires_grad(torch, *xs):
    return torch is not None and any(isinstance(x, torch.Tensor) and x.requires_grad for x in xs)


def _detach(torch, x):
    return x.detach() if torch is not None and isinstance(x, torch.Tensor) else x


def _centred(torch, x):
    return x - x.mean()


def _envelope(torch, value, *pairs):
    """``value`` (a number or a detached 0-d tensor) as a tensor whose gradient in each x of ``pairs`` = (x, dx)
    is dx: value + sum <dx, x - x.detach()> (zero in value, dx in gradient)."""
    out = torch.as_tensor(value, dtype=pairs[0][0].dtype, device=pairs[0][0].device).detach()
    for x, dx in pairs:
        if isinstance(x, torch.Tensor) and x.requires_grad:
            out = out + torch.sum(torch.as_tensor(dx, dtype=x.dtype, device=x.device) * (x - x.detach()))
    return out


def _uniform_like(torch, n, ref):
    if torch is not None and isinstance(ref, torch.Tensor):
        return torch.full((n,), 1.0 / n, dtype=ref.dtype, device=ref.device)
    return np.full(n, 1.0 / n)


def _sum(torch, x):
    return x.sum() if torch is not None and isinstance(x, torch.Tensor) else float(np.sum(x))


def _log(torch, x):
    return torch.log(x) if torch is not None and isinstance(x, torch.Tensor) else np.log(x)
