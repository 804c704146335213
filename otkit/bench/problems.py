"""Benchmark problems of the sweep protocol (docs/bench.md; Cuturi 2013, Sec. 5), reused by ``otkit bench``.

* :func:`graph_metric`     all-pairs shortest paths on a random graph, rescaled to unit median
* :func:`euclidean_metric` distances between random points of the unit square, unit median
* :func:`random_histograms` histograms drawn uniformly on the simplex (Dirichlet(1, ..., 1))

Every function is deterministic given its ``seed``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["graph_metric", "euclidean_metric", "random_histograms"]


def _unit_median(M: np.ndarray) -> np.ndarray:
    """Divide ``M`` (d x d, zero diagonal) by the median of its off-diagonal entries."""
    d = M.shape[0]
    off = M[~np.eye(d, dtype=bool)] if d > 1 else M.ravel()
    med = float(np.median(off))
    if med > 0:
        M /= med
    return M


def graph_metric(d: int, seed: int = 0) -> np.ndarray:
    """Shortest-path metric of a random graph on ``d`` vertices, rescaled to unit median.

    Each of the d(d-1)/2 edges is present with probability 1/2 and weighs U[0, 1]; the
    metric is the all-pairs shortest-path length (``scipy.sparse.csgraph``).

    Exactness of the fast path: a shortest path of length L uses only edges of weight <= L,
    so the distances computed on the subgraph of edges of weight <= tau are the true ones
    whenever all of them are <= tau. tau starts near the expected diameter and grows until that holds (with
    tau >= 1 this is the full graph).

    Returns
    -------
    M : (d, d) ndarray, float64, C-contiguous, symmetric, zero diagonal
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    if d == 1:
        return np.zeros((1, 1))
    rng = np.random.default_rng(seed)
    iu, ju = np.triu_indices(d, k=1)
    present = rng.random(iu.size) < 0.5
    w = rng.random(iu.size)
    iu, ju, w = iu[present], ju[present], w[present]
    tau = min(1.0, 8.0 * np.log(d) / d)  # the diameter is about 7 log(d) / d
    while True:
        keep = w <= tau
        G = coo_matrix((w[keep], (iu[keep], ju[keep])), shape=(d, d)).tocsr()
        D = shortest_path(G, method="D", directed=False)
        if tau >= 1.0 or (np.isfinite(D).all() and D.max() <= tau):
            break
        tau = min(1.0, 1.5 * tau)
    if not np.isfinite(D).all():  # a disconnected graph (tiny d): cap at twice the diameter
        fin = D[np.isfinite(D)]
        D[~np.isfinite(D)] = 2.0 * (fin.max() if fin.size else 1.0)
    return np.ascontiguousarray(_unit_median(D))


def euclidean_metric(d: int, seed: int = 0) -> np.ndarray:
    """Euclidean distances between ``d`` uniform random points of the unit square, unit median.

    Returns
    -------
    M : (d, d) ndarray, float64, C-contiguous
    """
    from scipy.spatial.distance import cdist

    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    x = np.random.default_rng(seed).random((d, 2))
    return np.ascontiguousarray(_unit_median(cdist(x, x)))


def random_histograms(d: int, n: int = 2, seed: int = 0) -> np.ndarray:
    """``n`` histograms of dimension ``d`` drawn from Dirichlet(1, ..., 1).

    Returns
    -------
    H : (n, d) ndarray, one histogram per row (``a, b = random_histograms(d, 2, seed)``)
    """
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(int(d)), size=int(n))
