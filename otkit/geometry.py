r"""Cost geometries: what the Sinkhorn solvers transport over.

``otkit.sinkhorn(a, b, M, reg)`` takes a cost matrix ``M``, or a geometry in its place:

* :class:`DenseCost` -- a cost matrix in memory (the same as passing ``M``);
* :class:`PointCloud` -- two point clouds and a cost ``c(x_i, y_j)`` that the kernels compute tile by tile
  inside each log-domain pass, never storing the n x m matrix (memory O((n + m) d)).

In the kernels a geometry is a row provider of the log-domain passes (``DenseRows`` / ``CloudRows`` in
csrc/cpu/sinkhorn_cpu.cpp, ``_cost_tile`` in otkit/_numba/sinkhorn.py): one driver runs on every geometry.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Geometry", "DenseCost", "PointCloud"]

COSTS = ("sqeuclidean", "euclidean")


class Geometry:
    """Base class of the cost geometries (``shape``: (n, m); ``cost_matrix()``: the n x m costs)."""

    shape: tuple

    def cost_matrix(self) -> np.ndarray:
        raise NotImplementedError


class DenseCost(Geometry):
    """A cost matrix held in memory.

    Examples
    --------
    >>> import otkit
    >>> g = otkit.geometry.DenseCost([[0.0, 1.0], [1.0, 0.0]])
    >>> round(float(otkit.sinkhorn2([0.5, 0.5], [0.5, 0.5], g, 1.0)), 6)
    0.268941
    """

    def __init__(self, M):
        self.M = M
        self.shape = tuple(np.shape(M))

    def cost_matrix(self):
        return self.M


class PointCloud(Geometry):
    r"""Two point clouds ``x`` (n, d) and ``y`` (m, d) (``y=None``: ``x``) with the cost
    ``c(x_i, y_j) = ||x_i - y_j||^2`` (``cost="sqeuclidean"``, POT's ``dist`` default) or ``||x_i - y_j||``
    (``"euclidean"``).

    The Sinkhorn solvers run in the log-domain on it, computing the costs inside each pass: the same iterates
    as on ``cost_matrix()``, without the n x m memory. ``method="sinkhorn"`` (POT's iterates, the default),
    ``"sinkhorn_log"`` and ``"auto"`` all run the log-domain solver (``log["method"]`` says so), and
    ``"sinkhorn_epsilon_scaling"`` takes ``epsilon_schedule="geometric"``; ``"sinkhorn_stabilized"`` (which
    stores the kernel) raises.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([[0.0], [1.0]]); y = np.array([[0.0], [2.0]])
    >>> g = otkit.geometry.PointCloud(x, y)
    >>> w1 = otkit.sinkhorn2([0.5, 0.5], [0.5, 0.5], g, 0.5)
    >>> w2 = otkit.sinkhorn2([0.5, 0.5], [0.5, 0.5], g.cost_matrix(), 0.5, method="sinkhorn_log")
    >>> bool(np.isclose(w1, w2, rtol=1e-12))
    True
    """

    def __init__(self, x, y=None, cost: str = "sqeuclidean"):
        if not isinstance(cost, str) or cost not in COSTS:
            raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
        self.x = x
        self.y = x if y is None else y
        self.cost = cost
        xs, ys = np.shape(self.x), np.shape(self.y)
        if len(xs) != 2 or len(ys) != 2:
            raise ValueError(f"x and y must be 2-D arrays (points x dimensions), got shapes {xs} and {ys}")
        if xs[1] != ys[1]:
            raise ValueError(f"x and y must have the same dimension, got {xs[1]} and {ys[1]}")
        self.shape = (xs[0], ys[0])

    def cost_matrix(self) -> np.ndarray:
        """The n x m cost matrix (materialized: n m entries)."""
        x, y = np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64)
        C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.sqrt(C) if self.cost == "euclidean" else C
