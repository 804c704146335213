r"""Pairwise OT distance matrices between many histograms on one support, on one machine or on a
Dask cluster.

Every row of the matrix is one batched kernel call: histogram ``A[:, i]`` against all the columns of
``B`` sharing the cost ``M`` (``otkit.sinkhorn2`` with ``b`` of shape (m, NB): a matrix-matrix product
per iteration). Rows are grouped into tasks of ``chunk`` rows; with ``client`` (a
``dask.distributed.Client``) the tasks run on the cluster, M shipped to the workers once.
"""
from __future__ import annotations

import numpy as np

from . import bregman
from .utils import as_float_array, check_cost, check_hist, check_positive_int

__all__ = ["pairwise_sinkhorn2"]


def _rows(A, B, M, reg, rows, symmetric, kw):
    """Values of rows ``rows`` of the matrix: one batched sinkhorn2 call per row."""
    out = np.full((len(rows), B.shape[1]), np.nan)
    for r, i in enumerate(rows):
        j0 = i if symmetric else 0
        cols = B[:, j0:]
        vals = bregman.sinkhorn2(A[:, i], cols, M, reg, **kw)
        out[r, j0:] = np.atleast_1d(vals)
    return out


def pairwise_sinkhorn2(A, B, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, backend="auto",
                       symmetric=None, chunk=8, client=None, **kwargs):
    r"""Matrix of entropic OT losses :math:`W_{ij} = \langle \gamma^*_{ij}, M \rangle` between the columns
    of ``A`` and of ``B`` (``otkit.sinkhorn2`` for each pair, same arguments and values).

    Parameters
    ----------
    A : (n, NA) array_like
        NA histograms on the n points of the first support (one per column, as ``b`` in POT's
        batched ``sinkhorn2``).
    B : (m, NB) array_like or None
        NB histograms on the second support; None: ``B = A`` (then ``M`` must be square).
    M : (n, m) array_like
        Cost matrix.
    reg : float
        Entropic regularization.
    method, numItermax, stopThr, backend, **kwargs
        As for :func:`otkit.sinkhorn2` (``warn``, ``dtype``, ``num_threads``, ...).
    symmetric : bool, optional
        Compute only :math:`j \ge i` and mirror (default: when ``B`` is None and ``M`` equals its
        transpose; the value of a pair is then the same both ways).
    chunk : int
        Rows per task.
    client : dask.distributed.Client, optional
        Run the tasks on this cluster (``pip install "otkit[dist]"``); M, A and B are scattered to
        the workers once. Without it the tasks run here, one after the other (each one already uses
        the kernels' threads).

    Returns
    -------
    W : (NA, NB) ndarray

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.arange(4.0)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> A = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)
    >>> otkit.pairwise_sinkhorn2(A, None, M, 0.05).round(6)
    array([[0., 1., 4.],
           [1., 0., 1.],
           [4., 1., 0.]])
    """
    A = as_float_array(A, "A")
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D (one histogram per column), got shape {A.shape}")
    same = B is None
    B = A if same else as_float_array(B, "B")
    if B.ndim != 2:
        raise ValueError(f"B must be 2-D (one histogram per column), got shape {B.shape}")
    M = check_cost(M)
    if A.shape[0] != M.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but M.shape[0] = {M.shape[0]}")
    if B.shape[0] != M.shape[1]:
        raise ValueError(f"B has {B.shape[0]} rows but M.shape[1] = {M.shape[1]}")
    # the histograms, named as the caller knows them (sinkhorn2 would call them a and b)
    A = check_hist(A, "A", M.shape[0], allow_2d=True, other="M.shape[0]")
    B = A if same else check_hist(B, "B", M.shape[1], allow_2d=True, other="M.shape[1]")
    sums = np.concatenate([A.sum(0), B.sum(0)])
    rtol = float(kwargs.get("mass_rtol", 1e-6))
    bad = np.flatnonzero(np.abs(sums - sums[0]) > rtol * np.maximum(sums, sums[0]))
    if bad.size:
        k = int(bad[0])
        which = f"A[:, {k}]" if k < A.shape[1] else f"B[:, {k - A.shape[1]}]"
        raise ValueError(f"every column of A and B must have the same total mass: sum(A[:, 0]) = {sums[0]:.12g}, "
                         f"sum({which}) = {sums[k]:.12g} (relative tolerance {rtol:g}); normalize them")
    chunk = check_positive_int(chunk, "chunk")
    if symmetric is None:
        symmetric = same and M.shape[0] == M.shape[1] and np.array_equal(M, M.T)
    elif symmetric and not same:
        raise ValueError("symmetric=True needs B=None (the pairs of A with itself)")
    kw = dict(method=method, numItermax=numItermax, stopThr=stopThr, backend=backend, **kwargs)
    NA = A.shape[1]
    tasks = [list(range(i0, min(NA, i0 + chunk))) for i0 in range(0, NA, chunk)]
    if client is None:
        parts = [_rows(A, B, M, reg, rows, symmetric, kw) for rows in tasks]
    else:
        fA, fB, fM = client.scatter([A, B, M], broadcast=True)
        futures = [client.submit(_rows, fA, fB, fM, reg, rows, symmetric, kw, pure=False) for rows in tasks]
        parts = client.gather(futures)
    W = np.vstack(parts)
    if symmetric:
        low = np.tril_indices(NA, -1)
        W[low] = W.T[low]
    return W
