r"""Wasserstein-2 distance between Gaussians (Bures-Wasserstein), closed form, and between the Gaussians fitted to
two samples (POT's ``ot.gaussian.bures_wasserstein_distance`` and ``empirical_bures_wasserstein_distance``).

.. math::
    W_2^2(\mathcal N(m_s, \Sigma_s), \mathcal N(m_t, \Sigma_t)) = \|m_s - m_t\|^2
    + \mathrm{Tr}\big(\Sigma_s + \Sigma_t - 2 (\Sigma_s^{1/2} \Sigma_t \Sigma_s^{1/2})^{1/2}\big)

(Peyré and Cuturi 2019, Remark 2.31). Matrix square roots by symmetric eigendecomposition (eigenvalues clipped at
0). NumPy arrays give floats; torch tensors give tensors, differentiable (``torch.linalg.eigh``).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _autograd
from .utils import as_float_array

__all__ = ["bures_wasserstein_distance", "empirical_bures_wasserstein_distance"]


def _sqrtm(C, torch):
    """Square root of a symmetric positive semi-definite matrix (eigenvalues below 0 clipped)."""
    if torch is not None:
        w, V = torch.linalg.eigh((C + C.T) / 2)
        return (V * torch.sqrt(torch.clamp(w, min=0))) @ V.T
    w, V = np.linalg.eigh((C + C.T) / 2)
    return (V * np.sqrt(np.maximum(w, 0))) @ V.T


def _finite(x, torch):
    return bool(torch.isfinite(x).all()) if torch is not None and hasattr(x, "detach") else bool(np.isfinite(x).all())


def _trace(C):
    return C.diagonal().sum()


def bures_wasserstein_distance(ms, mt, Cs, Ct, log=False):
    r"""Bures-Wasserstein distance :math:`W_2` between :math:`\mathcal N(m_s, C_s)` and :math:`\mathcal N(m_t, C_t)`
    (the distance, not its square, as POT).

    Parameters
    ----------
    ms, mt : (d,) means
    Cs, Ct : (d, d) symmetric positive semi-definite covariances
    log : bool
        Also return ``{"Cs12": C_s^{1/2}}``.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> float(otkit.bures_wasserstein_distance(np.zeros(2), np.ones(2), np.eye(2), 4 * np.eye(2)) ** 2)
    4.0
    """
    torch = _autograd.torch_module(ms, mt, Cs, Ct)
    if torch is None:
        ms, mt = as_float_array(ms, "ms"), as_float_array(mt, "mt")
        Cs, Ct = as_float_array(Cs, "Cs"), as_float_array(Ct, "Ct")
    d = ms.shape[-1]
    for name, m in (("ms", ms), ("mt", mt)):
        if tuple(m.shape) != (d,):
            raise ValueError(f"{name} must be a (d,) mean vector of the same d, got shape {tuple(m.shape)}")
    for name, C in (("Cs", Cs), ("Ct", Ct)):
        if tuple(C.shape) != (d, d):
            raise ValueError(f"{name} must be a ({d}, {d}) covariance, got shape {tuple(C.shape)}")
    Cs12 = _sqrtm(Cs, torch)
    cross = _sqrtm(Cs12 @ Ct @ Cs12, torch)
    W2 = ((ms - mt) ** 2).sum() + _trace(Cs) + _trace(Ct) - 2 * _trace(cross)
    W = torch.sqrt(torch.clamp(W2, min=0)) if torch is not None else float(np.sqrt(max(float(W2), 0.0)))
    return (W, {"Cs12": Cs12}) if log else W


def _moments(x, w, bias, reg, torch, name):
    n, d = x.shape
    if w is None:
        w = torch.full((n, 1), 1.0 / n, dtype=x.dtype, device=x.device) if torch is not None else np.full((n, 1), 1 / n)
    else:
        w = w if torch is not None else as_float_array(w, name)
        if tuple(w.shape) not in ((n,), (n, 1)):
            raise ValueError(f"{name} must have shape ({n},) or ({n}, 1), got {tuple(w.shape)}")
        if not _finite(w, torch) or bool((w < 0).any()) or not float(w.sum()) > 0:
            raise ValueError(f"{name} must be finite, >= 0 and not all 0")
        w = w.reshape(n, 1)
    total = w.sum()
    m = (w * x).sum(0) / total if bias else x[0] * 0
    xc = x - m
    eye = torch.eye(d, dtype=x.dtype, device=x.device) if torch is not None else np.eye(d)
    return m, (xc * w).T @ xc / total + reg * eye


def empirical_bures_wasserstein_distance(xs, xt, reg=1e-6, ws=None, wt=None, bias=True, log=False):
    r"""Bures-Wasserstein distance between the Gaussians fitted to the samples ``xs`` (n, d) and ``xt`` (m, d):
    weighted means (0 if not ``bias``) and weighted covariances :math:`\sum_i w_i (x_i - m)(x_i - m)^T / \sum_i w_i
    + \mathrm{reg}\, I` (POT's ``ot.gaussian.empirical_bures_wasserstein_distance``, same arguments and value).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> xs = rng.standard_normal((5000, 2)); xt = 2 * rng.standard_normal((5000, 2)) + 1
    >>> bool(abs(otkit.empirical_bures_wasserstein_distance(xs, xt) ** 2 - 4.0) < 0.2)   # 2 + 2 (1 - 2)^2
    True
    """
    torch = _autograd.torch_module(xs, xt, ws, wt)
    if torch is None:
        xs, xt = as_float_array(xs, "xs"), as_float_array(xt, "xt")
    for name, x in (("xs", xs), ("xt", xt)):
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty 2-D array (samples x dimensions), got shape "
                             f"{tuple(x.shape)}")
        if not _finite(x, torch):
            raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"xs and xt must have the same dimension, got {xs.shape[1]} and {xt.shape[1]}")
    if isinstance(reg, bool) or not isinstance(reg, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"reg must be a finite number >= 0, got {type(reg).__name__}")
    if not (np.isfinite(float(reg)) and float(reg) >= 0):
        raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
    ms, Cs = _moments(xs, ws, bias, reg, torch, "ws")
    mt, Ct = _moments(xt, wt, bias, reg, torch, "wt")
    W, lg = bures_wasserstein_distance(ms, mt, Cs, Ct, log=True)
    lg.update(Cs=Cs, Ct=Ct)
    return (W, lg) if log else W
