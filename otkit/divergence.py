r"""Debiased Sinkhorn divergences (Feydy et al. 2019), differentiable on torch tensors.

.. math::
    S(a, b) = W(a, b) - \tfrac12 W(a, a) - \tfrac12 W(b, b),
    \quad W(a, b) = \langle P^*_{ab}, M_{ab} \rangle  \text{ (sinkhorn2's value)}

as POT's ``ot.bregman.empirical_sinkhorn_divergence`` (the same three ``sinkhorn2`` values, clipped at 0).
Each term goes through :func:`otkit.sinkhorn2`, so with torch tensors the result is a tensor whose gradient is
sinkhorn2's implicit gradient: a drop-in loss.
"""
from __future__ import annotations

import numpy as np

from . import _autograd
from .bregman import sinkhorn2
from .utils import as_float_array, dist, host_dist

__all__ = ["sinkhorn_divergence", "empirical_sinkhorn_divergence"]


def _maximum0(torch, S):
    if torch is not None and isinstance(S, torch.Tensor):
        return torch.clamp(S, min=0.0)
    return np.maximum(0.0, S)


def sinkhorn_divergence(a, b, M_ab, M_aa, M_bb, reg, clip=True, **kwargs):
    r"""Debiased Sinkhorn divergence from the three cost matrices.

    Parameters
    ----------
    a : (n,) array_like or tensor
    b : (m,) array_like or tensor
    M_ab, M_aa, M_bb : (n, m), (n, n), (m, m) cost matrices
    reg : float
        Entropic regularization.
    clip : bool
        Clip the result at 0 (POT does; the exact divergence is >= 0 at convergence, a small negative value
        is a convergence error).
    **kwargs
        Passed to :func:`otkit.sinkhorn2` (``method``, ``stopThr``, ``numItermax``, ``grad``, ``backend``, ...).

    Returns
    -------
    S : float, or a 0-d tensor for torch input (differentiable)

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([[0.0], [1.0]]); y = np.array([[0.5], [1.5]])
    >>> s = otkit.sinkhorn_divergence(None, None, otkit.dist(x, y), otkit.dist(x, x), otkit.dist(y, y), 0.1)
    >>> bool(0.0 < s < 0.25)
    True
    """
    torch = _autograd.torch_module(a, b, M_ab, M_aa, M_bb)
    if a is None:
        a = np.ones(np.shape(M_ab)[0]) / np.shape(M_ab)[0]
    if b is None:
        b = np.ones(np.shape(M_ab)[1]) / np.shape(M_ab)[1]
    if torch is not None:  # uniform weights of the tensors' dtype and device
        ref = _autograd._ref(torch, M_ab, M_aa, M_bb, a, b)
        a, b = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=ref.dtype,
                                                                         device=ref.device) for x in (a, b))
    for name, x in (("a", a), ("b", b)):
        if isinstance(x, (str, bytes)) or (torch is None and np.asarray(x).dtype.kind not in "biuf"):
            raise TypeError(f"{name} must hold real numbers, got {type(x).__name__}")
        if len(np.shape(x)) != 1:
            raise ValueError(f"{name} must be a 1-D histogram (one measure), got shape {tuple(np.shape(x))}")
    w_ab = _term(a, b, M_ab, reg, "M_ab", "(a, b)", kwargs)
    w_aa = _term(a, a, M_aa, reg, "M_aa", "(a, a)", kwargs)
    w_bb = _term(b, b, M_bb, reg, "M_bb", "(b, b)", kwargs)
    S = w_ab - 0.5 * (w_aa + w_bb)
    return _maximum0(torch, S) if clip else S


def _term(x, y, M, reg, name, pair, kwargs):
    """sinkhorn2 of one term; its errors say which cost matrix and weights they are about."""
    try:
        return sinkhorn2(x, y, M, reg, **kwargs)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"in the {name} term (sinkhorn2 of {pair} on {name}): {exc}") from None


def _dist(X, Y, metric, torch, names):
    """The cost matrix: otkit.dist (torch ops on tensors, so the graph flows back to the points); errors name
    the point sets as ``names``."""
    if torch is not None:
        return dist(X, Y, metric=metric)
    X, Y = as_float_array(X, names[0]), as_float_array(Y, names[1])
    for name, P in zip(names, (X, Y)):
        if P.shape[0] == 0:
            raise ValueError(f"{name} is empty (shape {P.shape}): a point cloud needs at least one point")
    return host_dist(X, Y, metric, names=names)


def empirical_sinkhorn_divergence(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=10000,
                                  stopThr=1e-9, verbose=False, log=False, warn=True, **kwargs):
    r"""Debiased Sinkhorn divergence between point clouds (POT's ``ot.bregman.empirical_sinkhorn_divergence``).

    The cost matrices ``dist(X_s, X_t)``, ``dist(X_s, X_s)`` and ``dist(X_t, X_t)`` are built (with torch ops
    on tensors, so the gradient reaches the points), then :func:`sinkhorn_divergence`.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 2))
    >>> float(otkit.empirical_sinkhorn_divergence(X, X, 0.5)) < 1e-9
    True
    """
    torch = _autograd.torch_module(X_s, X_t, a, b)
    if log:
        raise ValueError("log=True is not supported by otkit's empirical_sinkhorn_divergence")
    kw = dict(numItermax=numIterMax, stopThr=stopThr, verbose=verbose, warn=warn, **kwargs)
    return sinkhorn_divergence(a, b, _dist(X_s, X_t, metric, torch, ("X_s", "X_t")),
                               _dist(X_s, X_s, metric, torch, ("X_s", "X_s")),
                               _dist(X_t, X_t, metric, torch, ("X_t", "X_t")), reg, **kw)
