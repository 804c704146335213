r"""Wasserstein distances between discrete measures: point clouds in R^k (network simplex) and
1-D measures (sorting and quantile functions, O(n log n))."""
from __future__ import annotations

import numpy as np

from . import _autograd, _backend
from .emd import emd2
from .utils import as_float_array, check_hist, check_masses, check_reg, dist, host_dist, resolve_dtype

__all__ = ["wasserstein", "wasserstein_1d", "emd_1d", "emd2_1d"]


def _points(x, name):
    x = as_float_array(x, name)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be an (n,) or (n, k) array of points, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: no points")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    return x


def wasserstein(x_a, x_b, a=None, b=None, p=2, metric="euclidean", numItermax=100000, check_marginals=True,
                backend="auto"):
    r"""p-Wasserstein distance between two weighted point clouds.

    .. math::
        W_p(\mu, \nu) = \Big(\min_{\gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij}\, d(x_i, y_j)^p\Big)^{1/p}

    with :math:`d` the ground ``metric`` (:func:`otkit.dist`), solved exactly by the network
    simplex (:func:`otkit.emd2`).

    Parameters
    ----------
    x_a : (ns,) or (ns, k) array_like
        Source points.
    x_b : (nt,) or (nt, k) array_like
        Target points.
    a, b : (ns,), (nt,) array_like, optional
        Weights (uniform if None); their totals must agree (1e-6 relative).
    p : float, optional (default=2)
        Order of the distance, > 0 (a metric for p >= 1).
    metric : str, optional (default="euclidean")
        Ground metric, any metric of :func:`otkit.dist`.
    numItermax, check_marginals, backend
        As in :func:`otkit.emd2`.

    Returns
    -------
    W : float, or a 0-d tensor for torch input (differentiable in the points and weights: the cost by
        torch ops, :math:`W_p^p` by :func:`otkit.emd2`'s gradients)

    Examples
    --------
    >>> import otkit
    >>> round(otkit.wasserstein([[0.0], [1.0]], [[2.0], [3.0]], p=2), 12)
    2.0
    """
    p = check_reg(p, "p")
    if _any_tensor(x_a, x_b, a, b):
        t = _tensor_inputs({"x_a": x_a, "x_b": x_b, "a": a, "b": b})
        xa, xb = (v if v.ndim == 2 else v.reshape(-1, 1) for v in (t["x_a"], t["x_b"]))
        for name, v in (("x_a", xa), ("x_b", xb)):
            _points(_host(v), name)
        if xa.shape[1] != xb.shape[1]:
            raise ValueError(f"x_a and x_b must have the same dimension, got {xa.shape[1]} and {xb.shape[1]}")
        M = dist(xa, xb, metric=metric)
        if p != 1.0:
            M = M ** p
        cost = emd2(t["a"] if t["a"] is not None else [], t["b"] if t["b"] is not None else [], M,
                    numItermax=numItermax, check_marginals=check_marginals, backend=backend)
        return cost.clamp_min(0.0) ** (1.0 / p)
    x_a = _points(x_a, "x_a")
    x_b = _points(x_b, "x_b")
    if x_a.shape[1] != x_b.shape[1]:
        raise ValueError(f"x_a and x_b must have the same dimension, got {x_a.shape[1]} and {x_b.shape[1]}")
    a = check_hist(a, "a", x_a.shape[0], other="len(x_a)")
    b = check_hist(b, "b", x_b.shape[0], other="len(x_b)")
    M = D = host_dist(x_a, x_b, metric=metric, names=("x_a", "x_b"))
    if p != 1.0:
        with np.errstate(over="ignore"):
            M = D ** p
        if not np.isfinite(M).all():
            raise ValueError(f"the costs d(x_a, x_b)^p overflow float64 at p = {p:g} (largest distance "
                             f"{float(D.max()):.3g}); rescale x_a and x_b")
    cost = emd2(a, b, M, numItermax=numItermax, check_marginals=check_marginals, backend=backend)
    return float(max(cost, 0.0) ** (1.0 / p))


def _sorted_1d(values, weights, vname, wname):
    x = as_float_array(values, vname)
    if x.ndim != 1:
        raise ValueError(f"{vname} must be a 1-D array, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{vname} is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"{vname} has non-finite entries (NaN or inf)")
    w = check_hist(weights, wname, x.size, other=f"len({vname})")
    perm = np.argsort(x, kind="stable")
    return x, w, perm


def _host(x):
    """A NumPy view (or copy, for GPU tensors) of x, for the index computations and checks."""
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _monotone_coupling(wu, wv):
    """The north-west-corner (monotone) coupling of two sorted 1-D histograms of equal mass.

    ``wu``, ``wv``: NumPy arrays or torch tensors (then ``mass`` is differentiable in them).
    Returns (iu, iv, mass): the piece k carries ``mass[k]`` from sorted position iu[k] to sorted
    position iv[k] -- the quantile functions F_u^{-1}, F_v^{-1} on the merged breakpoints of the two
    cumulative sums (positions as NumPy integer arrays; pieces of zero mass may appear and cost nothing).
    """
    cu, cv = wu.cumsum(0), wv.cumsum(0)
    cu_h, cv_h = _host(cu).copy(), _host(cv).copy()
    total = cu_h[-1]
    cv_h[-1] = total  # equal totals: the last breakpoint is u's total on both sides
    # breakpoints: every interior cumulative weight of either side, then the total
    merged = [cu[:-1], cv[:-1], cu[-1:]]
    merged_h = np.concatenate([cu_h[:-1], cv_h[:-1], cu_h[-1:]])
    order = np.argsort(merged_h, kind="stable")
    order = order[merged_h[order] <= total]
    qs_h = merged_h[order]
    if type(wu).__module__.startswith("torch"):
        import torch

        qs = torch.cat(merged)[torch.as_tensor(order, device=wu.device)]
        mass = torch.diff(qs, prepend=qs.new_zeros(1))
    else:
        mass = np.diff(np.concatenate(merged)[order], prepend=0.0)
    iu = np.minimum(np.searchsorted(cu_h, qs_h, side="left"), len(cu_h) - 1)
    iv = np.minimum(np.searchsorted(cv_h, qs_h, side="left"), len(cv_h) - 1)
    return iu, iv, mass


def _tensor_inputs(names_values):
    """The torch tensors among the inputs: the other array inputs are converted to tensors on the same
    device and dtype; mixed devices raise."""
    import torch

    tensors = {k: v for k, v in names_values.items() if isinstance(v, torch.Tensor)}
    ref = next(iter(tensors.values()))
    _autograd.check_same_device(torch, tuple(tensors), *tensors.values())
    dtype = ref.dtype if ref.is_floating_point() else torch.float64
    out = {}
    for k, v in names_values.items():
        if v is None or isinstance(v, torch.Tensor):
            out[k] = v if v is None or v.is_floating_point() else v.to(dtype)
        else:
            out[k] = torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype, device=ref.device)
    return out


def _any_tensor(*xs):
    return _autograd.torch_module(*xs) is not None


def _values_2d(x, name):
    """(n,) or (n, d) values, validated on the host; returns x with a column axis and whether it had one."""
    h = _host(x)
    if h.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {h.dtype}")
    if h.ndim not in (1, 2):
        raise ValueError(f"{name} must be an (n,) or (n, d) array, got shape {h.shape}")
    if h.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(h).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    return (x if h.ndim == 2 else x[:, None]), h.ndim == 2


def _weights_2d(w, name, n, d, like, vname):
    """Weights for d columns of n values: None (uniform), (n,) (shared) or (n, d); each column normalized."""
    if w is None:
        w = like.new_ones((n, 1)) if hasattr(like, "new_ones") else np.ones((n, 1))
    h = _host(w)
    if h.ndim == 1:
        w, h = w[:, None], h[:, None]
    if h.ndim != 2 or h.shape[0] != n or h.shape[1] not in (1, d):
        raise ValueError(f"{name} must have shape ({n},) or ({n}, {d}) like {vname}, got {tuple(_host(w).shape)}")
    if not np.isfinite(h).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if (h < 0).any():
        raise ValueError(f"{name} has negative entries (min {h.min():.6g}); weights must be >= 0")
    if (h.sum(0) <= 0).any():
        raise ValueError(f"{name} has zero total mass")
    return w / w.sum(0, keepdims=True) if not hasattr(w, "new_ones") else w / w.sum(0, keepdim=True)


def _coo_plans(kind, pieces, shape, xp_like):
    """POT's ``return_plans``: coo_matrix per column (True) or (data, rows, cols) tuples ("coo_tuple")."""
    plans = []
    for I, J, mass in pieces:
        if hasattr(xp_like, "new_ones"):  # torch: tensors on the values' device (a sparse COO tensor for True)
            import torch

            rows, cols = torch.as_tensor(I, device=mass.device), torch.as_tensor(J, device=mass.device)
            plans.append((mass, rows, cols) if kind == "coo_tuple" else
                         torch.sparse_coo_tensor(torch.stack([rows, cols]), mass, shape))
        elif kind == "coo_tuple":
            plans.append((mass, I, J))
        else:
            from scipy.sparse import coo_matrix

            plans.append(coo_matrix((_host(mass).astype(np.float64), (I, J)), shape=shape))
    return plans


def wasserstein_1d(u_values, v_values, u_weights=None, v_weights=None, p=1, require_sort=True, return_plans=False,
                   backend="auto"):
    r"""p-Wasserstein distance between two 1-D measures, **raised to the power p** (as POT's
    ``ot.wasserstein_1d``).

    .. math::
        W_p^p(u, v) = \int_0^1 |F_u^{-1}(q) - F_v^{-1}(q)|^p \, dq

    computed exactly from the quantile functions (sorting, O(n log n)). The weights are
    normalized to probability vectors. For p < 1 this is the cost of the monotone coupling.
    (n, d) values give d distances, one per column (POT's batched form).

    NumPy arrays give NumPy results. Torch tensors (CPU or GPU) give a tensor of the values' dtype
    and device, differentiable in the values and the weights (the coupling's breakpoints are chosen on
    the host, the arithmetic stays on the device).

    Parameters
    ----------
    u_values : (n,) or (n, d) array_like or tensor
    v_values : (m,) or (m, d) array_like or tensor
    u_weights : (n,) or (n, d), optional (uniform if None)
    v_weights : (m,) or (m, d), optional (uniform if None)
    p : float, optional (default=1)
        > 0.
    require_sort : bool
        Ignored (the values are always sorted); kept for POT compatibility.
    return_plans : bool or "coo_tuple"
        Also return the optimal plans: a ``scipy.sparse.coo_matrix`` (n, m) for 1-D input, a list of
        them (one per column) for (n, d) input (torch values: a sparse COO tensor); ``"coo_tuple"``:
        ``(data, rows, cols)`` instead.
    backend : {"auto", "cpp", "numba"}
        Accepted for uniformity; the computation is vectorized NumPy / torch.

    Returns
    -------
    float, (d,) array or tensor
        :math:`W_p^p` (for p = 1, the 1-Wasserstein distance itself).
    plans, only if ``return_plans``

    Examples
    --------
    >>> import otkit
    >>> float(otkit.wasserstein_1d([0.0, 1.0], [1.0, 2.0], p=2))
    1.0
    >>> otkit.wasserstein_1d([[0.0, 0.0], [1.0, 2.0]], [[1.0, 0.0], [2.0, 2.0]], p=1)
    array([1., 0.])
    """
    _backend.resolve_backend(backend, family="emd")
    p = check_reg(p, "p")
    if return_plans not in (False, True, "coo_tuple"):
        raise ValueError(f"return_plans must be True, False or 'coo_tuple', got {return_plans!r}")
    torch_mode = _any_tensor(u_values, v_values, u_weights, v_weights)
    if torch_mode:
        t = _tensor_inputs({"u_values": u_values, "v_values": v_values, "u_weights": u_weights,
                            "v_weights": v_weights})
        u_values, v_values, u_weights, v_weights = t["u_values"], t["v_values"], t["u_weights"], t["v_weights"]
    else:
        u_values = as_float_array(u_values, "u_values")
        v_values = as_float_array(v_values, "v_values")
        u_weights = None if u_weights is None else as_float_array(u_weights, "u_weights")
        v_weights = None if v_weights is None else as_float_array(v_weights, "v_weights")
    u, batched = _values_2d(u_values, "u_values")
    v, batched_v = _values_2d(v_values, "v_values")
    if batched != batched_v or u.shape[1] != v.shape[1]:
        raise ValueError(f"u_values and v_values must both be 1-D or both (n, d) with the same d, got shapes "
                         f"{tuple(u_values.shape)} and {tuple(v_values.shape)}")
    n, d = u.shape
    m = v.shape[0]
    wu = _weights_2d(u_weights, "u_weights", n, d, u, "u_values")
    wv = _weights_2d(v_weights, "v_weights", m, d, v, "v_values")
    costs, pieces = [], []
    for k in range(d):
        uk, vk = u[:, k], v[:, k]
        wuk, wvk = wu[:, min(k, wu.shape[1] - 1)], wv[:, min(k, wv.shape[1] - 1)]
        pu = np.argsort(_host(uk), kind="stable")
        pv = np.argsort(_host(vk), kind="stable")
        iu, iv, mass = _monotone_coupling(wuk[pu], wvk[pv])
        I, J = pu[iu], pv[iv]
        costs.append((mass * (uk[I] - vk[J]).abs() ** p).sum() if torch_mode
                     else float(np.sum(mass * np.abs(uk[I] - vk[J]) ** p)))
        if return_plans:
            pieces.append((I, J, mass))
    if torch_mode:
        import torch

        cost = torch.stack(costs) if batched else costs[0]
    else:
        cost = np.asarray(costs) if batched else costs[0]
    if not return_plans:
        return cost
    plans = _coo_plans(return_plans, pieces, (n, m), u)
    return cost, (plans if batched else plans[0])


def _pair_cost(x, y, metric, p):
    d = np.abs(x - y)
    if metric == "sqeuclidean":
        return d * d
    if metric in ("euclidean", "cityblock", "chebyshev", "minkowski"):
        return d
    raise ValueError(f"metric must be one of 'sqeuclidean', 'euclidean', 'cityblock', 'chebyshev', "
                     f"'minkowski' for 1-D measures, got {metric!r}")


@_autograd.tensors_in_out("emd_1d", ('x_a', 'x_b', 'a', 'b'))
def emd_1d(x_a, x_b, a=None, b=None, metric="sqeuclidean", p=1.0, dense=True, log=False, check_marginals=True,
           backend="auto"):
    r"""Exact optimal transport plan between two 1-D measures (POT's ``ot.emd_1d``).

    For a cost that is a convex function of :math:`|x - y|` (all the metrics accepted here)
    the monotone coupling of the sorted supports is optimal; it is built from the quantile
    functions in O((ns + nt) log(ns + nt)) and has at most ns + nt - 1 nonzeros.

    Parameters
    ----------
    x_a : (ns,) array_like
        Source support.
    x_b : (nt,) array_like
        Target support.
    a, b : (ns,), (nt,) array_like, optional
        Weights (uniform if None); their totals must agree (1e-6 relative) unless
        ``check_marginals=False`` (b is then rescaled to the mass of a).
    metric : str, optional (default="sqeuclidean")
        "sqeuclidean", "euclidean", "cityblock", "chebyshev" or "minkowski".
    p : float
        Accepted for POT compatibility (in 1-D every Minkowski metric is |x - y|).
    dense : bool, optional (default=True)
        Return a dense (ns, nt) array, else a ``scipy.sparse.coo_matrix``.
    log : bool, optional
        Also return ``{"cost": <gamma, M>}``.
    check_marginals : bool
    backend : {"auto", "cpp", "numba"}
        Accepted for uniformity; the computation is vectorized NumPy.

    Returns
    -------
    gamma : (ns, nt) ndarray or coo_matrix
    log : dict, only if ``log`` is True

    Examples
    --------
    >>> import otkit
    >>> otkit.emd_1d([0.0, 1.0], [1.0, 0.0])
    array([[0. , 0.5],
           [0.5, 0. ]])
    """
    _backend.resolve_backend(backend, family="emd")
    dtype = resolve_dtype(None, x_a)
    xa, wa, pa = _sorted_1d(np.ravel(x_a) if np.ndim(x_a) == 2 and np.shape(x_a)[1] == 1 else x_a, a, "x_a", "a")
    xb, wb, pb = _sorted_1d(np.ravel(x_b) if np.ndim(x_b) == 2 and np.shape(x_b)[1] == 1 else x_b, b, "x_b", "b")
    if check_marginals:
        check_masses(wa, wb, rtol=1e-6)
    wb = wb * (wa.sum() / wb.sum())
    iu, iv, mass = _monotone_coupling(wa[pa], wb[pb])
    keep = mass > 0
    I, J, mass = pa[iu[keep]], pb[iv[keep]], mass[keep]
    cost = float(np.sum(mass * _pair_cost(xa[I], xb[J], metric, p)))
    shape = (xa.size, xb.size)
    if dense:
        G = np.zeros(shape)
        np.add.at(G, (I, J), mass)
    else:
        from scipy.sparse import coo_matrix

        G = coo_matrix((mass, (I, J)), shape=shape)
    G = G.astype(dtype, copy=False)  # float32 supports: a float32 plan, as POT
    if log:
        return G, {"cost": cost}
    return G


def emd2_1d(x_a, x_b, a=None, b=None, metric="sqeuclidean", p=1.0, dense=True, log=False, backend="auto"):
    r"""Exact optimal transport cost between two 1-D measures (POT's ``ot.emd2_1d``).

    .. math::
        \min_{\gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij}\, c(x_i, y_j)

    with the monotone coupling of :func:`emd_1d` (optimal for every metric accepted here). NumPy in,
    float out; torch tensors (CPU or GPU) in, a 0-d tensor out, differentiable in the supports and the
    weights.

    Parameters
    ----------
    x_a : (ns,) array_like or tensor
    x_b : (nt,) array_like or tensor
    a, b : (ns,), (nt,), optional
        Weights (uniform if None); their totals must agree (1e-6 relative).
    metric : str, optional (default="sqeuclidean")
        "sqeuclidean" (cost |x - y|^2), "euclidean", "cityblock", "chebyshev" or "minkowski" (|x - y|).
    p : float
        Accepted for POT compatibility (in 1-D every Minkowski metric is |x - y|).
    dense : bool
        The plan in ``log["G"]`` dense (default) or a ``scipy.sparse.coo_matrix``.
    log : bool
        Also return ``{"G": plan}``.
    backend : {"auto", "cpp", "numba"}
        Accepted for uniformity.

    Returns
    -------
    cost : float or 0-d tensor
    log : dict, only if ``log``

    Examples
    --------
    >>> import otkit
    >>> otkit.emd2_1d([0.0, 1.0], [1.0, 3.0])
    2.5
    """
    _backend.resolve_backend(backend, family="emd")
    if metric not in ("sqeuclidean", "euclidean", "cityblock", "chebyshev", "minkowski"):
        _pair_cost(0.0, 0.0, metric, p)  # raises the error naming the accepted metrics
    q = 2.0 if metric == "sqeuclidean" else 1.0
    if not _any_tensor(x_a, x_b, a, b):
        G, lg = emd_1d(x_a, x_b, a, b, metric=metric, p=p, dense=dense, log=True)
        return (lg["cost"], {"G": G}) if log else lg["cost"]
    t = _tensor_inputs({"x_a": x_a, "x_b": x_b, "a": a, "b": b})
    xa, xb = t["x_a"].reshape(-1), t["x_b"].reshape(-1)
    for name, x in (("x_a", xa), ("x_b", xb)):
        _values_2d(x, name)
    wa = _weights_2d(t["a"], "a", xa.shape[0], 1, xa, "x_a")[:, 0]
    wb = _weights_2d(t["b"], "b", xb.shape[0], 1, xb, "x_b")[:, 0]
    if t["a"] is not None and t["b"] is not None:
        check_masses(_host(t["a"]), _host(t["b"]), rtol=1e-6)
    scale = t["a"].sum() if t["a"] is not None else 1.0  # the weights' own mass, as emd_1d
    pa = np.argsort(_host(xa), kind="stable")
    pb = np.argsort(_host(xb), kind="stable")
    iu, iv, mass = _monotone_coupling(wa[pa], wb[pb])
    I, J = pa[iu], pb[iv]
    cost = scale * (mass * (xa[I] - xb[J]).abs() ** q).sum()
    if log:
        G, _ = emd_1d(_host(xa), _host(xb), _host(wa * scale), _host(wb * scale), metric=metric, dense=dense, log=True)
        if dense:  # the plan like the supports (a sparse plan stays a scipy coo_matrix)
            import torch

            G = torch.as_tensor(G, dtype=xa.dtype, device=xa.device)
        return cost, {"G": G}
    return cost
