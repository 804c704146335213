r"""Sliced Wasserstein distances (POT's ``ot.sliced_wasserstein_distance``, ``ot.max_sliced_wasserstein_distance``).

The points are projected on unit directions :math:`\theta_k` and the 1-D distances between the projections come
from :func:`otkit.wasserstein_1d` (sorting, exact):

.. math::
    SW_p(\mu, \nu) = \Big(\frac{1}{K} \sum_k W_p^p(\theta_k \# \mu, \theta_k \# \nu)\Big)^{1/p}, \qquad
    \max\text{-}SW_p = \Big(\max_k W_p^p(\theta_k \# \mu, \theta_k \# \nu)\Big)^{1/p}

(Bonneel et al. 2015; Deshpande et al. 2019 for the max). NumPy arrays give floats; torch tensors give tensors
(dtype and device of ``X_s``) differentiable in the points and weights, through ``wasserstein_1d``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _autograd
from .utils import as_float_array
from .wasserstein import wasserstein_1d

__all__ = ["get_random_projections", "sliced_wasserstein_distance", "max_sliced_wasserstein_distance"]


def get_random_projections(d, n_projections, seed=None, type_as=None):
    r"""``n_projections`` directions drawn uniformly on the unit sphere of :math:`\mathbb{R}^d`, as the columns of
    a (d, n_projections) array (POT's ``ot.sliced.get_random_projections``: normalized standard Gaussian draws of
    ``np.random.RandomState(seed)``, so a seed gives POT's directions). ``type_as``: a torch tensor makes a
    tensor of its dtype and device.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> P = otkit.get_random_projections(3, 5, seed=0)
    >>> P.shape, bool(np.allclose(np.linalg.norm(P, axis=0), 1.0))
    ((3, 5), True)
    """
    for name, v in (("d", d), ("n_projections", n_projections)):
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be a positive integer, got {type(v).__name__}")
        if v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if int(d) * int(n_projections) > 2 ** 28:
        raise MemoryError(f"n_projections={n_projections}: {d} x {n_projections} directions (and the projected "
                          "points) would not fit in memory")
    rng = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)
    P = rng.randn(int(d), int(n_projections))
    P /= np.sqrt(np.sum(P ** 2, axis=0, keepdims=True))
    torch = _autograd.torch_module(type_as)
    if torch is not None:
        return torch.as_tensor(P, dtype=type_as.dtype, device=type_as.device)
    return P


def _projected_distances(X_s, X_t, a, b, n_projections, p, projections, seed):
    """W_p^p of the projections on each direction (K,), and the directions (d, K)."""
    torch = _autograd.torch_module(X_s, X_t, a, b, projections)
    if isinstance(p, bool) or not isinstance(p, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"p must be a finite number > 0, got {type(p).__name__}")
    if not (p > 0 and np.isfinite(p)):
        raise ValueError(f"p must be a finite number > 0, got {p!r}")
    if torch is None:
        X_s, X_t = as_float_array(X_s, "X_s"), as_float_array(X_t, "X_t")
    for name, X in (("X_s", X_s), ("X_t", X_t)):
        if X.ndim != 2 or 0 in X.shape:
            raise ValueError(f"{name} must be a non-empty 2-D array (points x dimensions), got shape {tuple(X.shape)}")
        finite = bool(torch.isfinite(X).all()) if torch is not None and isinstance(X, torch.Tensor) else \
            bool(np.isfinite(np.asarray(X)).all())
        if not finite:
            raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if X_s.shape[1] != X_t.shape[1]:
        raise ValueError(f"X_s and X_t must have the same dimension, got {X_s.shape[1]} and {X_t.shape[1]}")
    d = X_s.shape[1]
    if projections is None:
        ref = next((x for x in (X_s, X_t) if torch is not None and isinstance(x, torch.Tensor)), None)
        projections = get_random_projections(d, n_projections, seed, type_as=ref)
    else:
        if torch is None:
            projections = as_float_array(projections, "projections")
        if projections.ndim != 2 or projections.shape[0] != d:
            raise ValueError(f"projections must be a (d, n_projections) = ({d}, K) array, got shape "
                             f"{tuple(projections.shape)}")
    if torch is not None:
        ref = next(x for x in (X_s, X_t, projections) if isinstance(x, torch.Tensor))
        X_s, X_t, projections = (torch.as_tensor(x, dtype=ref.dtype, device=ref.device) for x in
                                 (X_s, X_t, projections))
    proj_s, proj_t = X_s @ projections, X_t @ projections  # (n, K), (m, K)
    return wasserstein_1d(proj_s, proj_t, a, b, p=p), projections


def sliced_wasserstein_distance(X_s, X_t, a=None, b=None, n_projections=50, p=2, projections=None, seed=None,
                                log=False):
    r"""Monte-Carlo sliced p-Wasserstein distance between the empirical measures on the points ``X_s`` (n, d) and
    ``X_t`` (m, d) (POT's ``ot.sliced_wasserstein_distance``, same arguments and value).

    Parameters
    ----------
    X_s, X_t : (n, d), (m, d) array_like or tensors
    a, b : (n,), (m,), optional
        Weights (uniform if None).
    n_projections : int
        Number of random directions (when ``projections`` is None).
    p : float
        Exponent of the 1-D distances, > 0.
    projections : (d, K), optional
        The directions (unit columns), instead of random ones.
    seed : int or numpy RandomState, optional
        Seed of the random directions (POT's: the same seed gives the same directions).
    log : bool
        Also return ``{"projections": (d, K), "projected_emds": (K,) the W_p^p per direction}``.

    Returns
    -------
    float or tensor, and the log if asked

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 2))
    >>> sw = otkit.sliced_wasserstein_distance(x, x + [3.0, 0.0], n_projections=200, seed=0)
    >>> bool(1.8 < sw < 2.4)          # |shift| sqrt(E cos^2) = 3 / sqrt(2)
    True
    """
    W, projections = _projected_distances(X_s, X_t, a, b, n_projections, p, projections, seed)
    res = W.mean() ** (1.0 / p)
    res = res if hasattr(res, "detach") else float(res)
    return (res, {"projections": projections, "projected_emds": W}) if log else res


def max_sliced_wasserstein_distance(X_s, X_t, a=None, b=None, n_projections=50, p=2, projections=None, seed=None,
                                    log=False):
    r"""Max-sliced p-Wasserstein distance: the largest 1-D distance over the directions (POT's
    ``ot.max_sliced_wasserstein_distance``, same arguments and value; see :func:`sliced_wasserstein_distance`).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.zeros((10, 2))
    >>> float(otkit.max_sliced_wasserstein_distance(x, x + [1.0, 0.0], projections=np.eye(2)))
    1.0
    """
    W, projections = _projected_distances(X_s, X_t, a, b, n_projections, p, projections, seed)
    res = W.max() ** (1.0 / p)
    res = res if hasattr(res, "detach") else float(res)
    return (res, {"projections": projections, "projected_emds": W}) if log else res
