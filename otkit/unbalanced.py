r"""Unbalanced entropic optimal transport (POT-compatible ``sinkhorn_unbalanced`` / ``sinkhorn_unbalanced2``).

The marginal constraints are relaxed by KL penalties of weight ``reg_m``:

.. math::
    \min_{\gamma \ge 0} \langle \gamma, M \rangle + \mathrm{reg}\, \mathrm{KL}(\gamma \| c)
    + \mathrm{reg_m}_1 \mathrm{KL}(\gamma 1 \| a) + \mathrm{reg_m}_2 \mathrm{KL}(\gamma^T 1 \| b)

solved by scaling with the update rule ``u = (a / K v)^(reg_m / (reg_m + reg))`` [1] on the same operator
passes as the balanced solvers (csrc/common/sinkhorn_rules.h: one rule, no new kernels). The methods,
order of updates, stopping rule (relative change of the scalings, every iteration) and results are POT's
``ot.unbalanced.sinkhorn_unbalanced``; ``reg_m = inf`` is the balanced problem.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _autograd, _backend, geometry
from . import _status as st
from .bregman import _check_warm_pair, _warm
from .utils import as_float_array, check_threshold, check_cost, check_hist, check_max_iter, check_positive_int
from .utils import check_method, check_reg, resolve_dtype

__all__ = ["sinkhorn_unbalanced", "sinkhorn_unbalanced2"]

METHODS = ("sinkhorn", "sinkhorn_stabilized", "sinkhorn_translation_invariant", "sinkhorn_log", "auto",
           "sinkhorn_reg_scaling")


def _reg_pair(reg_m, name="reg_m"):
    """POT's get_parameter_pair: a scalar, or (reg_m1, reg_m2); errors name the caller's argument."""
    if reg_m is None or isinstance(reg_m, (str, bytes, bool, np.bool_)) or np.iscomplexobj(reg_m):
        raise TypeError(f"{name} must be a real number > 0 or a pair of them, got {type(reg_m).__name__}")
    if np.ndim(reg_m) == 0:
        r1 = r2 = reg_m
    else:
        try:
            vals = list(np.asarray(reg_m, dtype=float).ravel())
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number > 0 or a pair of them, got {reg_m!r}") from None
        if len(vals) == 1:
            r1 = r2 = vals[0]
        elif len(vals) == 2:
            r1, r2 = vals
        else:
            raise ValueError(f"{name} must be a number or a pair (reg_m1, reg_m2), got {reg_m!r}")
    out = []
    for r in (r1, r2):
        r = float(r)
        if not (r > 0):  # NaN too
            raise ValueError(f"{name} must be > 0 (inf: the marginal is a hard constraint), got {r}")
        out.append(r)
    return out


def _kl(p, q):
    """POT's kl_div (mass=False): sum p log(p / q + 1e-16)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = p * np.log(p / q + 1e-16)
    return float(np.sum(np.where(p == 0, 0.0, t)))


def _solve(a, b, M, reg, reg_m, method, reg_type, c, warmstart, numItermax, stopThr, verbose, log, backend,
           dtype, want_plan, num_threads, tau=1e5):
    method = check_method(method, METHODS)
    if method == "sinkhorn_reg_scaling":  # as POT
        warnings.warn("Method not implemented yet. Using classic Sinkhorn-Knopp", UserWarning, stacklevel=3)
        method = "sinkhorn"
    if not isinstance(reg_type, str) or reg_type.lower() not in ("kl", "entropy"):
        raise ValueError(f"reg_type must be 'kl' or 'entropy', got {reg_type!r}")
    reg_type = reg_type.lower()
    numItermax = check_max_iter(numItermax)
    stopThr = check_threshold(stopThr)
    num_threads = check_positive_int(num_threads, "num_threads", minimum=0)
    if isinstance(M, geometry.DenseCost):
        M = M.M
    elif isinstance(M, geometry.Geometry):
        raise ValueError(f"sinkhorn_unbalanced takes a cost matrix (or a DenseCost), not a {type(M).__name__}: "
                         "the point-cloud geometry runs the balanced log-domain solver only (for now)")
    dt = resolve_dtype(dtype, M)
    reg = check_reg(reg)
    M = check_cost(as_float_array(M, "M", dt), dt, reg=reg)
    n, m = M.shape
    a = check_hist(a, "a", n, dt, other="M.shape[0]")
    b = check_hist(b, "b", m, dt, allow_2d=True, other="M.shape[1]")
    r1, r2 = _reg_pair(reg_m)
    batched = b.ndim == 2
    B = np.ascontiguousarray(b if batched else b[:, None])
    N = B.shape[1]
    # the kernel's cost Mk = M - reg log c: c = a b^T (reg_type "kl", one b, as POT), a given c, or 1
    if reg_type == "entropy":
        if c is not None:
            warnings.warn("If reg_type = entropy, then the matrix c is overwritten by the one matrix.",
                          UserWarning, stacklevel=3)
        c = None
        Mk = M
    elif batched:  # POT: the reference measure applies to a single b only
        Mk = M
    else:
        if c is None:
            with np.errstate(divide="ignore"):
                Mk = np.ascontiguousarray(M - reg * (np.log(a)[:, None] + np.log(b)[None, :]), dtype=dt)
        else:
            c = as_float_array(c, "c", dt)
            if c.shape != (n, m):
                raise ValueError(f"c must have the shape of M {(n, m)}, got {c.shape}")
            if (c < 0).any() or not np.isfinite(c).all():
                raise ValueError("c must be finite and >= 0")
            with np.errstate(divide="ignore"):
                Mk = np.ascontiguousarray(M - reg * np.log(c), dtype=dt)
    chosen = method
    if method == "auto":  # the kernel form when exp(-Mk/reg) stays in range, the log-domain otherwise
        fin = Mk[np.isfinite(Mk)]
        lo = np.log(np.finfo(dt).tiny)
        chosen = "sinkhorn" if fin.size and -fin.max() / reg > lo and -fin.min() / reg < -lo else "sinkhorn_log"
    be, impl = _backend.kernels(backend, "unbalanced")
    kinds = impl.UnbalancedMethod
    code = {"sinkhorn": kinds.KNOPP, "sinkhorn_translation_invariant": kinds.TRANSLATION_INVARIANT,
            "sinkhorn_stabilized": kinds.STABILIZED, "sinkhorn_log": kinds.LOG}[chosen]
    _check_warm_pair(warmstart)
    if warmstart is None:
        U, V = np.zeros((n, N), dtype=dt), np.zeros((m, N), dtype=dt)
    else:
        U = np.array(_warm(warmstart[0], n, N, dt, "warmstart[0]").T, order="C")  # writable copies
        V = np.array(_warm(warmstart[1], m, N, dt, "warmstart[1]").T, order="C")
    opts = impl.SinkhornOptions(max_iter=int(numItermax), stop_thr=float(stopThr), tau=float(tau),
                                num_threads=int(num_threads))
    fn = getattr(impl, "sinkhorn_unbalanced_" + ("f64" if dt == np.float64 else "f32"))
    res = fn(M, Mk, a, B, reg, U, V, reg_m1=r1, reg_m2=r2, method=code, options=opts,
             want_plan=bool(want_plan and not batched), want_value=True, want_trace=True)
    status, niter, trace = int(res["status"][0]), int(res["niter"][0]), res["trace"]
    if status == st.NUMERICAL_ERROR:
        warnings.warn(f"Numerical errors at iteration {niter}", UserWarning, stacklevel=3)
    elif status == st.MAX_ITER and chosen == "sinkhorn_stabilized":  # POT warns for this method only
        warnings.warn("Stabilized Unbalanced Sinkhorn did not converge. Try a larger entropy `reg` or a lower "
                      "mass `reg_m`. Or a larger absorption threshold `tau`.", UserWarning, stacklevel=3)
    if verbose:
        for k, e in enumerate(trace):
            if k % 50 == 0:
                print("{:5s}|{:12s}".format("It.", "Err") + "\n" + "-" * 19)
            print("{:5d}|{:8e}|".format(k, e))
    lg = {"err": list(trace), "niter": niter, "status": status, "converged": status == st.OK,
          "method": chosen, "backend": be,
          "logu": U[:, 0] if not batched else U, "logv": V[:, 0] if not batched else V}
    values = res["values"]
    plan = res["plan"]
    if not batched:
        lg["cost"] = values[0]
    if plan is not None:
        cref = np.exp(-(Mk - M) / reg) if (reg_type == "kl" and Mk is not M) else np.ones_like(M)
        total = float(values[0]) + reg * _kl(plan, cref)
        if np.isfinite(r1):
            total += r1 * _kl(plan.sum(1), a)
        if np.isfinite(r2):
            total += r2 * _kl(plan.sum(0), b)
        lg["total_cost"] = dt.type(total)
    return values, plan, lg


@_autograd.tensors_in_out("sinkhorn_unbalanced", ('M', 'a', 'b'))
def sinkhorn_unbalanced(a, b, M, reg, reg_m, method="sinkhorn", reg_type="kl", c=None, warmstart=None,
                        numItermax=1000, stopThr=1e-6, verbose=False, log=False, backend="auto", dtype=None,
                        tau=1e5, num_threads=0, **kwargs):
    r"""Solve the unbalanced entropic OT problem and return the plan (POT's ``ot.sinkhorn_unbalanced``).

    .. math::
        \gamma = \mathop{\arg\min}_{\gamma \ge 0} \langle \gamma, M \rangle_F
        + \mathrm{reg}\, \mathrm{KL}(\gamma \| c) + \mathrm{reg_m}_1 \mathrm{KL}(\gamma 1 \| a)
        + \mathrm{reg_m}_2 \mathrm{KL}(\gamma^T 1 \| b)

    Parameters
    ----------
    a : (n,) array_like
        Source measure (empty or None: uniform); need not have the mass of ``b``.
    b : (m,) or (m, N) array_like
        Target measure, or N target measures (then the (N,) vector of losses is returned, as in POT).
    M : (n, m) array_like
        Cost matrix.
    reg : float
        Entropic regularization (> 0).
    reg_m : float or (float, float)
        Marginal relaxation weights (reg_m1 on a, reg_m2 on b); ``inf`` makes that marginal a hard
        constraint (``reg_m = inf``: balanced Sinkhorn with POT's unbalanced stopping rule).
    method : {"sinkhorn", "sinkhorn_stabilized", "sinkhorn_translation_invariant", "sinkhorn_log", "auto"}
        POT's three algorithms [1, 2, 3], our log-domain iterates of ``"sinkhorn"`` (stable at any reg; same
        stopping rule), or ``"auto"``: the kernel form where ``exp(-M/reg)`` stays in range, else the log-domain.
    reg_type : {"kl", "entropy"}
        Reference measure of the entropic term: ``c = a b^T`` ("kl", for a single b as POT) or 1.
    c : (n, m) array_like, optional
        Reference measure (reg_type "kl"); default ``a b^T``.
    warmstart : tuple of arrays, optional
        Initial log-scalings (log u, log v).
    numItermax : int
        Maximum number of iterations.
    stopThr : float
        Stop when the relative change of the scalings, ``0.5 (||du||_inf / max(...) + ||dv||_inf / max(...))``,
        is below this (POT's rule; checked every iteration, every 10 for the stabilized method).
    verbose : bool
        Print the error trace.
    log : bool
        Also return a dict with ``err``, ``logu``, ``logv``, ``niter``, ``converged``, ``method``,
        ``backend``, and (one b) ``cost`` (the linear part) and ``total_cost`` (with POT's ``kl_div``).
    backend : {"auto", "cpp", "numba"}
        Where the kernel runs.
    dtype : {None, numpy.float64, numpy.float32}
        Working precision (None: float64 unless M is float32).
    tau : float
        Absorption threshold of ``"sinkhorn_stabilized"`` (POT's default 1e5).
    num_threads : int
        Threads of the C++ kernels at most (0: the default).

    Returns
    -------
    gamma : (n, m) ndarray, or (N,) losses when ``b`` has N columns
    log : dict (only if ``log=True``)

    Examples
    --------
    >>> import otkit
    >>> a, b, M = [0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]]
    >>> otkit.sinkhorn_unbalanced(a, b, M, 1.0, 1.0).round(6)
    array([[0.322054, 0.118477],
           [0.118477, 0.322054]])

    References
    ----------
    .. [1] L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard, Scaling algorithms for unbalanced transport
       problems, Math. Comp. 2018.
    .. [2] B. Schmitzer, Stabilized sparse scaling algorithms for entropy regularized transport problems,
       SIAM J. Sci. Comput. 2019.
    .. [3] T. Séjourné, F.-X. Vialard, G. Peyré, Faster unbalanced optimal transport: translation invariant
       Sinkhorn and 1-D Frank-Wolfe, AISTATS 2022.
    """
    tau = kwargs.pop("tau", tau)
    _reject_kwargs(kwargs)
    values, plan, lg = _solve(a, b, M, reg, reg_m, method, reg_type, c, warmstart, numItermax, stopThr, verbose,
                              log, backend, dtype, True, num_threads, tau)
    out = values if plan is None else plan
    return (out, lg) if log else out


def sinkhorn_unbalanced2(a, b, M, reg, reg_m, method="sinkhorn", reg_type="kl", c=None, warmstart=None,
                         returnCost="linear", numItermax=1000, stopThr=1e-6, verbose=False, log=False,
                         backend="auto", dtype=None, tau=1e5, num_threads=0, **kwargs):
    r"""The loss of :func:`sinkhorn_unbalanced` (POT's ``ot.sinkhorn_unbalanced2``).

    ``returnCost="linear"``: :math:`\langle \gamma^*, M \rangle`; ``"total"``: the whole objective (one b),
    as POT. Same arguments as :func:`sinkhorn_unbalanced`.

    Torch tensors give a tensor of M's dtype and device. With one b, no ``c`` and no ``log``, it is
    connected to the graph of a, b and M by the implicit derivative through the optimality conditions of
    the unbalanced problem (``otkit._autograd.unbalanced2_autograd``): the gradients POT's torch backend
    gets by differentiating through its iterations, once they have converged.

    Examples
    --------
    >>> import otkit
    >>> a, b, M = [0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]]
    >>> round(float(otkit.sinkhorn_unbalanced2(a, b, M, 1.0, 1.0)), 6)
    0.236954
    """
    torch = _autograd.torch_module(a, b, M)
    if (torch is not None and any(isinstance(x, torch.Tensor) and x.requires_grad for x in (a, b, M))
            and c is None and not log and np.ndim(_autograd.host_or_device(torch, b)) == 1):
        if returnCost not in ("linear", "total"):
            raise ValueError("Unknown returnCost = {}".format(returnCost))
        r1, r2 = _reg_pair(reg_m)
        rt = reg_type.lower() if isinstance(reg_type, str) else reg_type

        def solve(ha, hb, hM):
            values, plan, lg = _solve(ha, hb, hM, reg, reg_m, method, reg_type, None, warmstart, numItermax,
                                      stopThr, verbose, False, backend, dtype, True, num_threads, tau)
            return (lg["total_cost"] if returnCost == "total" else values[0]), plan

        return _autograd.unbalanced2_autograd(torch, a, b, M, check_reg(reg), r1, r2, rt, returnCost == "total",
                                              solve)
    return _sinkhorn_unbalanced2_arrays(a, b, M, reg, reg_m, method=method, reg_type=reg_type, c=c,
                                        warmstart=warmstart, returnCost=returnCost, numItermax=numItermax,
                                        stopThr=stopThr, verbose=verbose, log=log, backend=backend, dtype=dtype,
                                        tau=tau, num_threads=num_threads, **kwargs)


@_autograd.tensors_in_out("sinkhorn_unbalanced2", ('M', 'a', 'b'))
def _sinkhorn_unbalanced2_arrays(a, b, M, reg, reg_m, method="sinkhorn", reg_type="kl", c=None, warmstart=None,
                         returnCost="linear", numItermax=1000, stopThr=1e-6, verbose=False, log=False,
                         backend="auto", dtype=None, tau=1e5, num_threads=0, **kwargs):
    """sinkhorn_unbalanced2 on arrays (torch CPU tensors read as NumPy, no graph)."""
    tau = kwargs.pop("tau", tau)
    _reject_kwargs(kwargs)
    if returnCost not in ("linear", "total"):
        raise ValueError("Unknown returnCost = {}".format(returnCost))
    values, plan, lg = _solve(a, b, M, reg, reg_m, method, reg_type, c, warmstart, numItermax, stopThr, verbose,
                              log, backend, dtype, returnCost == "total", num_threads, tau)
    if np.ndim(values) == 1 and plan is None and np.asarray(b).ndim == 2:
        if returnCost == "total":
            raise ValueError("returnCost='total' is for a single b (as POT)")
        out = values
    else:
        out = lg["total_cost"] if returnCost == "total" else values[0]
    return (out, lg) if log else out


def _reject_kwargs(kwargs):
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")


# POT's ot.unbalanced namespace also holds the unbalanced barycenters (they live with the other barycenters)
from .barycenter import (barycenter_unbalanced, barycenter_unbalanced_sinkhorn,  # noqa: E402
                         barycenter_unbalanced_stabilized)

__all__ += ["barycenter_unbalanced", "barycenter_unbalanced_sinkhorn", "barycenter_unbalanced_stabilized"]


def unbalanced_cloud(x, y, a, b, reg, reg_m, metric="sqeuclidean", reg_type="kl", numItermax=10000, stopThr=1e-9,
                     warmstart=None, epsilon0=None, epsilon_factor=0.5, omega=1.0, backend="auto", num_threads=0):
    r"""Unbalanced entropic OT between the point clouds ``x`` (n, d) and ``y`` (m, d), the costs computed inside the
    solver's passes (never stored; memory O((n + m) d)).

    Solves POT's unbalanced problem (module docstring) on :math:`C_{ij} = \|x_i - y_j\|^2` ("sqeuclidean") or
    :math:`\|x_i - y_j\|` ("euclidean") by the log-domain iterates of ``sinkhorn_unbalanced(method="sinkhorn_log")``
    on the cost matrix, with the reference measure :math:`c = a b^T` (``reg_type="kl"``) or 1 ("entropy"), and
    optional epsilon scaling (``epsilon0``: the first regularization, divided by ``1 / epsilon_factor`` at each
    stage, one iteration per stage; the potentials carried over). ``omega``: over-relaxation of both updates at
    ``reg`` (a number in (0, 2), or "auto": the SOR optimum for the measured rate), safeguarded as in
    :func:`otkit.sinkhorn` (plain steps until the error is below 1e-2, and for good if it grows 10x). One exp per
    cost entry and iteration where safe. Host arrays (NumPy); :func:`otkit.solve_sample` and
    :class:`otkit.SamplesLoss` are the user-facing calls.

    Returns
    -------
    dict
        ``f``, ``g``: log-scalings with :math:`P_{ij} = \exp(f_i + g_j - C_{ij} / reg)` (float64); ``cost``:
        :math:`\langle P, C\rangle`; ``total_cost``: the objective with POT's ``kl_div`` terms (POT's
        ``sinkhorn_unbalanced2(..., returnCost="total")``); ``row_mass`` :math:`P 1`, ``col_mass``
        :math:`P^T 1`; ``status``, ``niter``, ``err``, ``backend``.

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.unbalanced import unbalanced_cloud
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((50, 2)), rng.random((40, 2))
    >>> a, b = np.full(50, 1 / 50), np.full(40, 2 / 40)      # masses 1 and 2
    >>> r = unbalanced_cloud(x, y, a, b, reg=0.05, reg_m=1.0)
    >>> bool(1.0 < r["row_mass"].sum() < 2.0), r["status"] == 0
    (True, True)
    """
    reg = check_reg(reg)
    r1, r2 = _reg_pair(reg_m)
    if not isinstance(reg_type, str) or reg_type.lower() not in ("kl", "entropy"):
        raise ValueError(f"reg_type must be 'kl' or 'entropy', got {reg_type!r}")
    if metric not in geometry.COSTS:
        raise ValueError(f"metric must be one of {geometry.COSTS} for point clouds, got {metric!r}")
    numItermax = check_max_iter(numItermax)
    stopThr = check_threshold(stopThr)
    n, m = len(x), len(y)
    a = check_hist(a, "a", n, np.float64, other="x.shape[0]")
    b = check_hist(b, "b", m, np.float64, other="y.shape[0]")
    be, impl = _backend.kernels(backend, "unbalanced")
    fn = getattr(impl, "sinkhorn_unbalanced_cloud_f64", None)
    if fn is None:
        raise ValueError(f"backend {be!r} has no unbalanced point-cloud kernel; use backend='cpp' or 'numba'")
    _check_warm_pair(warmstart)
    if warmstart is None:
        f, g = np.zeros(n), np.zeros(m)
    else:
        f = np.array(_warm(warmstart[0], n, 1, np.float64, "warmstart[0]")[0], dtype=np.float64)
        g = np.array(_warm(warmstart[1], m, 1, np.float64, "warmstart[1]")[0], dtype=np.float64)
    anneal = {}
    if epsilon0 is not None:
        if not (np.isfinite(epsilon0) and epsilon0 > 0) or not 0.0 < epsilon_factor < 1.0:
            raise ValueError(f"epsilon0 must be > 0 and epsilon_factor in (0, 1), got {epsilon0!r}, "
                             f"{epsilon_factor!r}")
        anneal = dict(anneal_start=float(epsilon0), anneal_factor=float(epsilon_factor), anneal_inner=1)
    from .utils import check_omega
    om, auto = check_omega(omega)
    relax = dict(omega_auto=True) if auto else dict(omega=om)
    opts = impl.SinkhornOptions(max_iter=int(numItermax), stop_thr=float(stopThr),
                                num_threads=check_positive_int(num_threads, "num_threads", minimum=0), **anneal,
                                **relax)
    kl = reg_type.lower() == "kl"
    res = fn(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64), a, b, float(reg),
             f, g, reg_m1=r1, reg_m2=r2, kl_ref=kl, metric=metric, options=opts)
    status = int(res["status"][0])
    alpha, beta, lin = res["row_mass"], res["col_mass"], float(res["value"])
    with np.errstate(divide="ignore", invalid="ignore"):
        loga, logb = np.log(a), np.log(b)
        # sum P log(P / c) = <P 1, f - log a> + <P^T 1, g - log b> - <P, C> / reg (reference a b^T; 1: no log terms)
        pf = np.where(alpha > 0, alpha * (f - (loga if kl else 0.0)), 0.0)
        pg = np.where(beta > 0, beta * (g - (logb if kl else 0.0)), 0.0)
        total = lin + reg * (float(pf.sum() + pg.sum()) - lin / reg)
    if np.isfinite(r1):
        total += r1 * _kl(alpha, a)
    if np.isfinite(r2):
        total += r2 * _kl(beta, b)
    if status == st.NUMERICAL_ERROR or not np.isfinite(total):
        warnings.warn(f"Numerical errors at iteration {int(res['niter'][0])}", UserWarning, stacklevel=2)
    return {"f": f, "g": g, "cost": lin, "total_cost": total, "row_mass": alpha, "col_mass": beta,
            "status": status, "niter": int(res["niter"][0]), "err": float(res["err"][0]), "backend": be}
