r"""Pairwise OT distance matrices between many histograms on one support, on one machine or on a
Dask cluster.

Every row of the matrix is one batched kernel call: histogram ``A[:, i]`` against all the columns of
``B`` sharing the cost ``M`` (``otkit.sinkhorn2`` with ``b`` of shape (m, NB): a matrix-matrix product
per iteration). Rows are grouped into tasks of ``chunk`` rows; with ``client`` (a
``dask.distributed.Client``) the tasks run on the cluster, M shipped to the workers once.
"""
from __future__ import annotations

import numpy as np

from . import _autograd, bregman
from .utils import as_float_array, check_cost, check_hist, check_positive_int, check_reg

__all__ = ["pairwise_sinkhorn2", "pairwise_emd2"]


def _rows(A, B, M, rows, symmetric, reg, kw):
    """Values of rows ``rows`` of the matrix: one batched sinkhorn2 call per row."""
    out = np.full((len(rows), B.shape[1]), np.nan)
    for r, i in enumerate(rows):
        j0 = i if symmetric else 0
        cols = B[:, j0:]
        vals = bregman.sinkhorn2(A[:, i], cols, M, reg, **kw)
        out[r, j0:] = np.atleast_1d(vals)
    return out


@_autograd.tensors_in_out("pairwise_sinkhorn2", ('M', 'A', 'B'))
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
    A, B, M, same = _validate(A, B, M, float(kwargs.get("mass_rtol", 1e-6)))
    chunk = check_positive_int(chunk, "chunk")
    symmetric = _symmetric(symmetric, same, M)
    kw = dict(method=method, numItermax=numItermax, stopThr=stopThr, backend=backend, **kwargs)
    return _run_rows(_rows, (reg, kw), A, B, M, symmetric, chunk, client, threads=1)


def _emd_rows(A, B, M, rows, symmetric, numItermax, backend, warm):
    """Values of rows ``rows`` of the exact matrix: one network simplex per pair, the potentials of the previous
    pair of the row as the warm start of the next (``warm``)."""
    from .emd import _solve

    out = np.full((len(rows), B.shape[1]), np.nan)
    for r, i in enumerate(rows):
        a = np.ascontiguousarray(A[:, i])
        init = None
        for j in range(i if symmetric else 0, B.shape[1]):
            b = np.ascontiguousarray(B[:, j] * (a.sum() / B[:, j].sum()))  # equal totals, exactly (as otkit.emd)
            _, _, _, cost, lg = _solve(a, b, M, numItermax, False, backend, init)
            out[r, j] = cost
            if warm and np.isfinite(lg["u"]).all() and np.isfinite(lg["v"]).all():
                init = (lg["u"], lg["v"])
    return out


@_autograd.tensors_in_out("pairwise_emd2", ('M', 'A', 'B'))
def pairwise_emd2(A, B, M, numItermax=100000, backend="auto", symmetric=None, num_threads=0, warm_start=False,
                  chunk=4, client=None, mass_rtol=1e-6):
    r"""Matrix of exact OT costs :math:`W_{ij} = \min_{\gamma \in \Pi(A_i, B_j)} \langle \gamma, M 
angle`
    between the columns of ``A`` and of ``B`` (``otkit.emd2`` for each pair; PyEMD's ``PairwiseEMD`` job).

    Parameters
    ----------
    A : (n, NA) array_like
        NA histograms on the n points of the first support (one per column).
    B : (m, NB) array_like or None
        NB histograms on the second support; None: ``B = A`` (then ``M`` must be square).
    M : (n, m) array_like
        Cost matrix.
    numItermax, backend
        As for :func:`otkit.emd2` (pivots per pair).
    symmetric : bool, optional
        Compute only :math:`j \ge i` and mirror (default: when ``B`` is None and ``M`` equals its transpose).
    num_threads : int
        Threads that solve pairs at once (0: ``otkit.get_num_threads()``); each network simplex is sequential
        and releases the GIL.
    warm_start : bool
        Start each pair of a row from the dual potentials of the previous pair (``potentials_init`` of
        :func:`otkit.emd`); same optimum. Off by default: on random histograms it did not save time here.
    chunk : int
        Rows per task (a thread or a Dask task).
    client : dask.distributed.Client, optional
        Run the tasks on this cluster (``pip install "otkit[dist]"``); A, B and M are scattered once.
    mass_rtol : float
        Every column of A and B must have the same total mass to this relative tolerance; each ``b`` is then
        rescaled to its ``a``'s mass exactly.

    Returns
    -------
    W : (NA, NB) ndarray

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.arange(4.0)
    >>> M = np.abs(x[:, None] - x[None, :])
    >>> A = np.array([[1, 0, .5], [0, 1, 0], [0, 0, .5], [0, 0, 0]])
    >>> otkit.pairwise_emd2(A, None, M)  # the third is half at 0, half at 2: W_1 to the others is 1
    array([[0., 1., 1.],
           [1., 0., 1.],
           [1., 1., 0.]])
    """
    from ._threads import get_num_threads
    from .emd import _max_iter

    A, B, M, same = _validate(A, B, M, check_reg(mass_rtol, "mass_rtol"))
    numItermax = _max_iter(numItermax)
    chunk = check_positive_int(chunk, "chunk")
    threads = check_positive_int(num_threads, "num_threads", minimum=0) or get_num_threads()
    symmetric = _symmetric(symmetric, same, M)
    return _run_rows(_emd_rows, (numItermax, backend, bool(warm_start)), A, B, M, symmetric, chunk, client, threads)


def _symmetric(symmetric, same, M):
    """Whether to compute j >= i only: by default when B is A and M equals its transpose."""
    if symmetric is None:
        return same and M.shape[0] == M.shape[1] and np.array_equal(M, M.T)
    if symmetric and not same:
        raise ValueError("symmetric=True needs B=None (the pairs of A with itself)")
    return bool(symmetric)


def _validate(A, B, M, rtol):
    """(A, B, M, same): checked float64 arrays (B = A when None), errors naming A, B and M."""
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
    bad = np.flatnonzero(np.abs(sums - sums[0]) > rtol * np.maximum(sums, sums[0]))
    if bad.size:
        k = int(bad[0])
        which = f"A[:, {k}]" if k < A.shape[1] else f"B[:, {k - A.shape[1]}]"
        raise ValueError(f"every column of A and B must have the same total mass: sum(A[:, 0]) = {sums[0]:.12g}, "
                         f"sum({which}) = {sums[k]:.12g} (relative tolerance {rtol:g}); normalize them")
    return A, B, M, same


def _run_rows(rowfn, args, A, B, M, symmetric, chunk, client, threads):
    """The matrix from rowfn(A, B, M, rows, symmetric, *args) on tasks of ``chunk`` rows: on the Dask
    ``client`` (A, B, M scattered once), else here on ``threads`` threads (the kernels release the GIL)."""
    NA = A.shape[1]
    tasks = [list(range(i0, min(NA, i0 + chunk))) for i0 in range(0, NA, chunk)]
    if client is not None:
        # hash=False: fresh keys per call (the same arrays scattered again by a later call would otherwise get
        # the keys of this call's data while the scheduler releases it: "lost dependencies")
        fA, fB, fM = client.scatter([A, B, M], broadcast=True, hash=False)
        parts = client.gather([client.submit(rowfn, fA, fB, fM, rows, symmetric, *args, pure=False) for rows in tasks])
    elif threads > 1 and len(tasks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(lambda rows: rowfn(A, B, M, rows, symmetric, *args), tasks))
    else:
        parts = [rowfn(A, B, M, rows, symmetric, *args) for rows in tasks]
    W = np.vstack(parts)
    if symmetric:
        low = np.tril_indices(NA, -1)
        W[low] = W.T[low]
    return W
