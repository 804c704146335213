r"""Entropic OT between point clouds (POT's ``ot.bregman.empirical_sinkhorn`` and ``empirical_sinkhorn2``).

* ``isLazy=False`` (POT's default): the cost matrix ``dist(X_s, X_t, metric)`` is built and
  :func:`otkit.sinkhorn` / :func:`otkit.sinkhorn2` solve on it -- POT's iterates and values (torch tensors keep
  their graph through :func:`otkit.dist`).
* ``isLazy=True``: the n x m costs are never stored. For ``metric="sqeuclidean"`` or ``"euclidean"`` the
  solver runs on a :class:`otkit.geometry.PointCloud`, computing the costs tile by tile inside each
  log-domain pass (memory O((n + m) d), all cores); other metrics build the matrix (and say so when it would
  not fit). The result is POT's: the log-scalings ``(f, g)`` (:func:`empirical_sinkhorn`) or the loss
  :math:`\langle P, C \rangle` (:func:`empirical_sinkhorn2`), and ``log["lazy_plan"]``, a :class:`LazyPlan`
  whose blocks are computed on demand. The iterates are those of ``sinkhorn(..., method="sinkhorn_log")``
  (error: the L2 norm of the column-marginal violation every 10 iterations); POT's lazy loop checks the L1
  norm of the row-marginal violation after every 10th iteration, so at the same ``stopThr`` the two stop at
  nearby iterations and agree to the tolerance reached (tests/test_empirical.py).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _autograd, geometry
from .bregman import _kernel_fits, sinkhorn, sinkhorn2
from .utils import as_float_array, check_max_iter, dist, host_dist

__all__ = ["empirical_sinkhorn", "empirical_sinkhorn2", "LazyPlan"]


class LazyPlan:
    r"""The entropic plan :math:`P_{ij} = \exp(f_i + g_j - C(x_i, y_j) / reg)` of two point clouds, computed on
    demand (POT's ``log["lazy_plan"]``): ``P[i0:i1]``, ``P[:, j]``, ``P[rows, cols]`` compute only that block;
    ``np.asarray(P)`` materializes it all; ``P.sum(axis)`` sums block by block.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([[0.0], [1.0]]); y = np.array([[0.0], [2.0], [3.0]])
    >>> f, g, lg = otkit.empirical_sinkhorn(x, y, 0.5, isLazy=True, log=True)
    >>> P = lg["lazy_plan"]
    >>> P.shape, bool(np.allclose(P[:, 1:], np.asarray(P)[:, 1:]))
    ((2, 3), True)
    >>> bool(np.allclose(P.sum(axis=0), 1 / 3))
    True
    """

    def __init__(self, x, y, f, g, reg, metric="sqeuclidean"):
        self.x, self.y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self.f, self.g = np.asarray(f, dtype=np.float64), np.asarray(g, dtype=np.float64)
        self.reg, self.metric = float(reg), metric
        self.shape = (self.x.shape[0], self.y.shape[0])

    def _block(self, rows, cols):
        C = host_dist(self.x[rows], self.y[cols], self.metric, names=("X_s", "X_t"))
        return np.exp(self.f[rows][:, None] + self.g[cols][None, :] - C / self.reg)

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        squeeze = [isinstance(k, (numbers.Integral, np.integer)) for k in (rows, cols)]
        rows = [rows] if squeeze[0] else rows
        cols = [cols] if squeeze[1] else cols
        out = self._block(np.arange(self.shape[0])[rows], np.arange(self.shape[1])[cols])
        if squeeze[0] and squeeze[1]:
            return out[0, 0]
        return out[0] if squeeze[0] else (out[:, 0] if squeeze[1] else out)

    def dot(self, Y):
        """P @ Y for a (m, k) array Y, in blocks of rows of at most 2**22 entries (32 MiB; never the whole plan)."""
        Y = np.asarray(Y, dtype=np.float64)
        out = np.empty((self.shape[0],) + Y.shape[1:])
        batch = max(1, 2**22 // max(1, self.shape[1]))
        for i0 in range(0, self.shape[0], batch):
            out[i0:i0 + batch] = self[i0:i0 + batch] @ Y
        return out

    def __array__(self, dtype=None, copy=None):
        n, m = self.shape
        if not _kernel_fits(n, m, np.float64):
            raise MemoryError(f"the plan has {n} x {m} entries ({n * m * 8 / 2**30:.1f} GiB in float64), more than "
                              "the memory available; index blocks of it (P[i0:i1]) instead")
        out = self._block(np.arange(n), np.arange(m))
        return out if dtype is None else out.astype(dtype)

    def sum(self, axis=None):
        """Sums over rows (axis 0: the (m,) column marginal), columns (axis 1: (n,)) or all, in blocks of rows of
        at most 2**22 entries (32 MiB)."""
        batch = max(1, 2**22 // max(1, self.shape[1]))
        tot = np.zeros(self.shape[1]) if axis == 0 else (np.zeros(self.shape[0]) if axis == 1 else 0.0)
        for i0 in range(0, self.shape[0], batch):
            B = self[i0:i0 + batch]
            if axis == 0:
                tot += B.sum(axis=0)
            elif axis == 1:
                tot[i0:i0 + batch] = B.sum(axis=1)
            else:
                tot += float(B.sum())
        return tot

    def __repr__(self):
        return f"LazyPlan(shape={self.shape}, metric={self.metric!r}, reg={self.reg:g})"


def _check_batch(batchSize):
    """POT's check of batchSize (otkit's kernels tile on their own: the value is not used otherwise)."""
    ok = lambda v: isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) and v >= 1  # noqa: E731
    if ok(batchSize) or (isinstance(batchSize, tuple) and len(batchSize) == 2 and all(ok(v) for v in batchSize)):
        return
    raise ValueError(f"batchSize must be a positive integer or a tuple of two, got {batchSize!r}")


def _lazy_geometry(X_s, X_t, metric, torch):
    """The geometry of a lazy solve: a PointCloud for the (squared) Euclidean metrics, else the cost matrix."""
    if metric in geometry.COSTS:
        return geometry.PointCloud(X_s, X_t, cost=metric)
    if torch is not None:
        return dist(X_s, X_t, metric=metric)
    X_s, X_t = as_float_array(X_s, "X_s"), as_float_array(X_t, "X_t")
    if X_s.ndim == 2 and X_t.ndim == 2 and not _kernel_fits(X_s.shape[0], X_t.shape[0], np.float64):
        raise MemoryError(f"isLazy=True with metric={metric!r} needs the {X_s.shape[0]} x {X_t.shape[0]} cost "
                          "matrix, which does not fit in memory; the costs are computed on the fly only for "
                          f"metric in {geometry.COSTS}")
    return host_dist(X_s, X_t, metric, names=("X_s", "X_t"))


def _check_clouds(X_s, X_t, names=("X_s", "X_t")):
    """Host point clouds checked with the caller's names (the geometry would call them x and y)."""
    X_s, X_t = as_float_array(X_s, names[0]), as_float_array(X_t, names[1])
    for name, X in zip(names, (X_s, X_t)):
        if X.ndim != 2 or 0 in X.shape:
            raise ValueError(f"{name} must be a non-empty 2-D array (points x dimensions), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if X_s.shape[1] != X_t.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same dimension, got {X_s.shape[1]} and "
                         f"{X_t.shape[1]}")
    with np.errstate(over="ignore"):
        for name, X in zip(names, (X_s, X_t)):
            big = np.float64(np.abs(X).max())
            if not np.isfinite(4.0 * big * big * X.shape[1]):
                raise ValueError(f"the costs of {name} overflow float64 (coordinates up to {np.abs(X).max():.3g}); "
                                 "rescale the points")
    return X_s, X_t


def _lazy(X_s, X_t, reg, a, b, metric, numIterMax, stopThr, verbose, warn, warmstart, kwargs):
    torch = _autograd.torch_module(X_s, X_t, a, b)
    numIterMax = check_max_iter(numIterMax, "numIterMax")
    if torch is None:
        X_s, X_t = _check_clouds(X_s, X_t)
    C = _lazy_geometry(X_s, X_t, metric, torch)
    kwargs.setdefault("method", "sinkhorn_log")
    value, lg = sinkhorn2(a, b, C, reg, numItermax=numIterMax, stopThr=stopThr, verbose=verbose, log=True,
                          warn=warn, warmstart=warmstart, **kwargs)
    return value, lg


def empirical_sinkhorn(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=10000, stopThr=1e-9,
                       isLazy=False, batchSize=100, verbose=False, log=False, warn=True, warmstart=None, **kwargs):
    r"""Entropic OT plan between the empirical measures on the points ``X_s`` and ``X_t`` (POT's
    ``ot.bregman.empirical_sinkhorn``).

    Parameters
    ----------
    X_s : (n, d) array_like
        Source points.
    X_t : (m, d) array_like
        Target points.
    reg : float
        Entropic regularization, > 0.
    a, b : (n,), (m,) array_like, optional
        Weights of the points (uniform by default).
    metric : str
        Ground cost, as :func:`otkit.dist` (``"sqeuclidean"`` by default).
    numIterMax : int
        Maximum number of iterations.
    stopThr : float
        Stop when the marginal violation falls below this.
    isLazy : bool
        Never store the n x m costs (see the module docstring); return the log-scalings ``(f, g)``.
    batchSize : int or (int, int)
        Accepted and checked as POT does; otkit's kernels choose their own tiles.
    verbose, log, warn, warmstart
        As :func:`otkit.sinkhorn` (``warmstart``: the log-scalings (f, g) to start from).
    **kwargs
        Passed to :func:`otkit.sinkhorn` (``backend``, ``num_threads``, ...; ``method`` when not lazy).

    Returns
    -------
    P : (n, m) ndarray, or (f, g) when ``isLazy``
        The plan, or the log-scalings with P = exp(f_i + g_j - C_ij / reg).
    log : dict
        Only if ``log`` is True; with ``isLazy``: ``u`` = f, ``v`` = g, ``niter``, ``err`` and ``lazy_plan``
        (a :class:`LazyPlan`).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((50, 2)), rng.random((40, 2))
    >>> P = otkit.empirical_sinkhorn(x, y, 0.1)
    >>> f, g = otkit.empirical_sinkhorn(x, y, 0.1, isLazy=True)
    >>> bool(np.allclose(P, np.exp(f[:, None] + g[None, :] - otkit.dist(x, y) / 0.1), atol=1e-8))
    True
    """
    _check_batch(batchSize)
    if not isLazy:
        return _on_matrix(sinkhorn, X_s, X_t, reg, a, b, metric, numIterMax, stopThr, verbose, log, warn, warmstart,
                          kwargs)
    _, lg = _lazy(X_s, X_t, reg, a, b, metric, numIterMax, stopThr, verbose, warn, warmstart, kwargs)
    lazy_plan = LazyPlan(_host(X_s), _host(X_t), _host(lg["log_u"]), _host(lg["log_v"]), reg, metric)
    torch = _autograd.torch_module(X_s, X_t, a, b)
    if torch is not None:  # the log-scalings as tensors of the points' dtype and device (as POT)
        ref = next(t for t in (X_s, X_t, a, b) if isinstance(t, torch.Tensor))
        f, g = (torch.as_tensor(_host(lg[k]), dtype=ref.dtype, device=ref.device) for k in ("log_u", "log_v"))
    else:
        f, g = lg["log_u"], lg["log_v"]
    if not log:
        return f, g
    return f, g, dict(lg, u=f, v=g, lazy_plan=lazy_plan)


def empirical_sinkhorn2(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=10000, stopThr=1e-9,
                        isLazy=False, batchSize=100, verbose=False, log=False, warn=True, warmstart=None, **kwargs):
    r"""Entropic OT loss :math:`\langle P, C \rangle` between the empirical measures on ``X_s`` and ``X_t``
    (POT's ``ot.bregman.empirical_sinkhorn2``). Arguments as :func:`empirical_sinkhorn`; with ``isLazy`` the
    loss is accumulated inside the last pass (never a stored plan or cost matrix).

    On torch tensors the loss is a tensor with gradients in the points and weights (through
    :func:`otkit.dist` when not lazy; through the point-cloud solver's implicit gradient when lazy).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((50, 2)), rng.random((40, 2))
    >>> w = otkit.empirical_sinkhorn2(x, y, 0.1)
    >>> w_lazy = otkit.empirical_sinkhorn2(x, y, 0.1, isLazy=True)
    >>> bool(np.isclose(w, w_lazy, rtol=1e-8))
    True
    """
    _check_batch(batchSize)
    if not isLazy:
        return _on_matrix(sinkhorn2, X_s, X_t, reg, a, b, metric, numIterMax, stopThr, verbose, log, warn, warmstart,
                          kwargs)
    value, lg = _lazy(X_s, X_t, reg, a, b, metric, numIterMax, stopThr, verbose, warn, warmstart, kwargs)
    if not log:
        return value
    lg = dict(lg, u=lg["log_u"], v=lg["log_v"])
    lg["lazy_plan"] = LazyPlan(_host(X_s), _host(X_t), _host(lg["log_u"]), _host(lg["log_v"]), reg, metric)
    return value, lg


def _on_matrix(solver, X_s, X_t, reg, a, b, metric, numIterMax, stopThr, verbose, log, warn, warmstart, kwargs):
    """The not-lazy path (POT's): ``solver`` (sinkhorn or sinkhorn2) on dist(X_s, X_t, metric)."""
    numIterMax = check_max_iter(numIterMax, "numIterMax")
    torch = _autograd.torch_module(X_s, X_t, a, b)
    M = dist(X_s, X_t, metric=metric) if torch is not None else _dense(X_s, X_t, metric)
    return solver(a, b, M, reg, numItermax=numIterMax, stopThr=stopThr, verbose=verbose, log=log, warn=warn,
                  warmstart=warmstart, **kwargs)


def _dense(X_s, X_t, metric):
    X_s, X_t = _check_clouds(X_s, X_t)
    return host_dist(X_s, X_t, metric, names=("X_s", "X_t"))


def _host(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
