r"""Wasserstein distances between discrete measures: point clouds in R^k (network simplex) and
1-D measures (sorting and quantile functions, O(n log n))."""
from __future__ import annotations

import numpy as np

from . import _autograd, _backend
from .emd import emd2
from .utils import as_float_array, check_hist, check_masses, check_reg, dist

__all__ = ["wasserstein", "wasserstein_1d", "emd_1d"]


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


@_autograd.tensors_in_out("wasserstein", ('x_a', 'x_b', 'a', 'b'))
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
    W : float

    Examples
    --------
    >>> import otkit
    >>> round(otkit.wasserstein([[0.0], [1.0]], [[2.0], [3.0]], p=2), 12)
    2.0
    """
    p = check_reg(p, "p")
    x_a = _points(x_a, "x_a")
    x_b = _points(x_b, "x_b")
    if x_a.shape[1] != x_b.shape[1]:
        raise ValueError(f"x_a and x_b must have the same dimension, got {x_a.shape[1]} and {x_b.shape[1]}")
    a = check_hist(a, "a", x_a.shape[0], other="len(x_a)")
    b = check_hist(b, "b", x_b.shape[0], other="len(x_b)")
    M = dist(x_a, x_b, metric=metric)
    if p != 1.0:
        M = M ** p
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


def _monotone_coupling(wu, wv):
    """The north-west-corner (monotone) coupling of two sorted 1-D histograms of equal mass.

    Returns (iu, iv, mass): the pieces of mass ``mass[k]`` sent from sorted position iu[k] to
    sorted position iv[k] (quantile functions evaluated on the merged breakpoints).
    """
    cu = np.cumsum(wu)
    cv = np.cumsum(wv)
    total = cu[-1]
    cu[-1] = total
    cv[-1] = total
    qs = np.unique(np.concatenate([cu, cv]))
    qs = qs[qs <= total]
    mass = np.diff(qs, prepend=0.0)
    iu = np.minimum(np.searchsorted(cu, qs, side="left"), wu.size - 1)
    iv = np.minimum(np.searchsorted(cv, qs, side="left"), wv.size - 1)
    keep = mass > 0
    return iu[keep], iv[keep], mass[keep]


@_autograd.tensors_in_out("wasserstein_1d", ('u_values', 'v_values', 'u_weights', 'v_weights'))
def wasserstein_1d(u_values, v_values, u_weights=None, v_weights=None, p=1, require_sort=True, backend="auto"):
    r"""p-Wasserstein distance between two 1-D measures, **raised to the power p** (as POT's
    ``ot.wasserstein_1d``).

    .. math::
        W_p^p(u, v) = \int_0^1 |F_u^{-1}(q) - F_v^{-1}(q)|^p \, dq

    computed exactly from the quantile functions (sorting, O(n log n)). The weights are
    normalized to probability vectors. For p < 1 this is the cost of the monotone coupling.

    Parameters
    ----------
    u_values : (n,) array_like
    v_values : (m,) array_like
    u_weights : (n,) array_like, optional (uniform if None)
    v_weights : (m,) array_like, optional (uniform if None)
    p : float, optional (default=1)
        > 0.
    require_sort : bool
        Ignored (the values are always sorted); kept for POT compatibility.
    backend : {"auto", "cpp", "numba"}
        Accepted for uniformity; the computation is vectorized NumPy.

    Returns
    -------
    float
        :math:`W_p^p` (for p = 1, the 1-Wasserstein distance itself).

    Examples
    --------
    >>> import otkit
    >>> float(otkit.wasserstein_1d([0.0, 1.0], [1.0, 2.0], p=2))
    1.0
    """
    _backend.resolve_backend(backend, family="emd")
    p = check_reg(p, "p")
    u, wu, pu = _sorted_1d(u_values, u_weights, "u_values", "u_weights")
    v, wv, pv = _sorted_1d(v_values, v_weights, "v_values", "v_weights")
    us, vs = u[pu], v[pv]
    iu, iv, mass = _monotone_coupling(wu[pu] / wu.sum(), wv[pv] / wv.sum())
    return float(np.sum(mass * np.abs(us[iu] - vs[iv]) ** p))


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
    xa, wa, pa = _sorted_1d(np.ravel(x_a) if np.ndim(x_a) == 2 and np.shape(x_a)[1] == 1 else x_a, a, "x_a", "a")
    xb, wb, pb = _sorted_1d(np.ravel(x_b) if np.ndim(x_b) == 2 and np.shape(x_b)[1] == 1 else x_b, b, "x_b", "b")
    if check_marginals:
        check_masses(wa, wb, rtol=1e-6)
    wb = wb * (wa.sum() / wb.sum())
    iu, iv, mass = _monotone_coupling(wa[pa], wb[pb])
    I, J = pa[iu], pb[iv]
    cost = float(np.sum(mass * _pair_cost(xa[I], xb[J], metric, p)))
    shape = (xa.size, xb.size)
    if dense:
        G = np.zeros(shape)
        np.add.at(G, (I, J), mass)
    else:
        from scipy.sparse import coo_matrix

        G = coo_matrix((mass, (I, J)), shape=shape)
    if log:
        return G, {"cost": cost}
    return G
