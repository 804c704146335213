r"""Wasserstein-2 distance between Gaussians (Bures-Wasserstein), closed form, and between the Gaussians fitted to
two samples (POT's ``ot.gaussian.bures_wasserstein_distance`` and ``empirical_bures_wasserstein_distance``).

.. math::
    W_2^2(\mathcal N(m_s, \Sigma_s), \mathcal N(m_t, \Sigma_t)) = \|m_s - m_t\|^2
    + \mathrm{Tr}\big(\Sigma_s + \Sigma_t - 2 (\Sigma_s^{1/2} \Sigma_t \Sigma_s^{1/2})^{1/2}\big)

(Peyré and Cuturi 2019, Remark 2.31). Matrix square roots by symmetric eigendecomposition (eigenvalues clipped at
0). NumPy arrays give floats; torch tensors give tensors, differentiable (``torch.linalg.eigh``).

In high dimension p, :func:`empirical_bures_wasserstein_distance_hd` fits probabilistic PCA models
:math:`\Sigma = U \Lambda U^T + \sigma^2 I_p` (Tipping and Bishop 1999) of intrinsic dimension d and
:func:`bures_wasserstein_distance_hd` evaluates the distance between them (Bouveyron and Corneli, Prop. 2.3) in
O(p d^2) time and O(p d) memory: the two models act as :math:`\sigma_s \sigma_t` times the identity outside the
span of :math:`[U_s, U_t]`, so the trace of the matrix square root splits into a (d_s + d_t)-dimensional part and
:math:`(p - k)\,\sigma_s \sigma_t`.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _autograd
from .utils import as_float_array

__all__ = ["bures_wasserstein_distance", "empirical_bures_wasserstein_distance", "bures_wasserstein_distance_hd",
           "empirical_bures_wasserstein_distance_hd"]


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


def _weights(x, w, torch, name):
    """The checked (n, 1) weights of the sample x (uniform if None)."""
    n = x.shape[0]
    if w is None:
        return torch.full((n, 1), 1.0 / n, dtype=x.dtype, device=x.device) if torch is not None else np.full((n, 1), 1 / n)
    w = w if torch is not None else as_float_array(w, name)
    if tuple(w.shape) not in ((n,), (n, 1)):
        raise ValueError(f"{name} must have shape ({n},) or ({n}, 1), got {tuple(w.shape)}")
    if not _finite(w, torch) or bool((w < 0).any()) or not float(w.sum()) > 0:
        raise ValueError(f"{name} must be finite, >= 0 and not all 0")
    return w.reshape(n, 1)


def _moments(x, w, bias, reg, torch, name):
    d = x.shape[1]
    w = _weights(x, w, torch, name)
    total = w.sum()
    m = (w * x).sum(0) / total if bias else x[0] * 0
    xc = x - m
    eye = torch.eye(d, dtype=x.dtype, device=x.device) if torch is not None else np.eye(d)
    return m, (xc * w).T @ xc / total + reg * eye


def _samples(xs, xt, ws, wt, reg):
    """The checked samples (n, d), (m, d) of one dimension, the torch module (or None) and reg (a finite number
    >= 0): the common input of the empirical distances."""
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
    return xs, xt, torch, float(reg)


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
    xs, xt, torch, reg = _samples(xs, xt, ws, wt, reg)
    ms, Cs = _moments(xs, ws, bias, reg, torch, "ws")
    mt, Ct = _moments(xt, wt, bias, reg, torch, "wt")
    W, lg = bures_wasserstein_distance(ms, mt, Cs, Ct, log=True)
    lg.update(Cs=Cs, Ct=Ct)
    return (W, lg) if log else W


def _orth(B, torch):
    """An orthonormal basis of the columns of B (QR; columns of near-zero norm dropped)."""
    if torch is not None:
        Q, R = torch.linalg.qr(B)
        keep = torch.abs(torch.diagonal(R)) > 1e-12 * max(1.0, float(torch.abs(R).max().detach()))
        return Q[:, keep]
    Q, R = np.linalg.qr(B)
    keep = np.abs(np.diag(R)) > 1e-12 * max(1.0, float(np.abs(R).max()))
    return Q[:, keep]


def bures_wasserstein_distance_hd(ms, mt, Us, Ut, ls, lt, sigma2_s, sigma2_t, log=False):
    r"""Bures-Wasserstein distance :math:`W_2` between the high-dimensional Gaussians
    :math:`\mathcal N(m_s, U_s \mathrm{diag}(l_s) U_s^T + \sigma_s^2 I_p)` and the same for t (POT's
    ``ot.gaussian.bures_wasserstein_distance_hd``; Bouveyron and Corneli, Prop. 2.3):

    .. math::
        W_2^2 = \|m_s - m_t\|^2 + \textstyle\sum l_s + \sum l_t + p (\sigma_s^2 + \sigma_t^2)
        - 2 \mathrm{Tr}\big((\Sigma_s^{1/2} \Sigma_t \Sigma_s^{1/2})^{1/2}\big)

    with :math:`\Sigma_s^{1/2} = \sigma_s I_p + U_s \mathrm{diag}(\sqrt{l_s + \sigma_s^2} - \sigma_s) U_s^T`.
    ``Us`` (p, d_s) and ``Ut`` (p, d_t) have orthonormal columns. The trace is computed on the span of
    :math:`[U_s, U_t]` (k <= d_s + d_t dimensions) plus :math:`(p - k) \sigma_s \sigma_t` outside it: O(p (d_s +
    d_t)^2), no p x p matrix. ``log``: ``{"basis": that span's orthonormal basis (p, k), "trace_sqrt": the
    trace}``.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> p = 50; U = np.eye(p)[:, :2]
    >>> w = otkit.gaussian.bures_wasserstein_distance_hd(np.zeros(p), np.ones(p), U, U, np.array([3., 1.]),
    ...                                                  np.array([3., 1.]), 0.5, 0.5)
    >>> float(np.round(w ** 2, 10))   # the same covariance: only the means differ
    50.0
    """
    torch = _autograd.torch_module(ms, mt, Us, Ut, ls, lt, sigma2_s, sigma2_t)
    if torch is None:
        ms, mt, Us, Ut, ls, lt = (as_float_array(x, name) for x, name in
                                  ((ms, "ms"), (mt, "mt"), (Us, "Us"), (Ut, "Ut"), (ls, "ls"), (lt, "lt")))
        sigma2_s, sigma2_t = (float(np.asarray(x).reshape(-1)[0]) for x in (sigma2_s, sigma2_t))
    ms, mt, ls, lt = (x.reshape(-1) for x in (ms, mt, ls, lt))
    p = Us.shape[0]
    if Us.ndim != 2 or Ut.ndim != 2 or Ut.shape[0] != p or ms.shape[0] != p or mt.shape[0] != p:
        raise ValueError(f"Us (p, d_s), Ut (p, d_t), ms and mt (p,) must share p, got shapes {tuple(Us.shape)}, "
                         f"{tuple(Ut.shape)}, {tuple(ms.shape)}, {tuple(mt.shape)}")
    if ls.shape[0] != Us.shape[1] or lt.shape[0] != Ut.shape[1]:
        raise ValueError(f"ls and lt must have d_s = {Us.shape[1]} and d_t = {Ut.shape[1]} entries, got "
                         f"{ls.shape[0]} and {lt.shape[0]}")
    xp = torch if torch is not None else np
    if torch is not None:
        sigma2_s, sigma2_t = (torch.as_tensor(x, dtype=Us.dtype).reshape(-1)[0] for x in (sigma2_s, sigma2_t))
    ss, st = xp.sqrt(sigma2_s), xp.sqrt(sigma2_t)
    V = _orth(torch.cat([Us, Ut], 1) if torch is not None else np.concatenate([Us, Ut], 1), torch)
    k = V.shape[1]
    As, At = V.T @ Us, V.T @ Ut  # the models restricted to span(V), k x k
    eye = torch.eye(k, dtype=Us.dtype, device=Us.device) if torch is not None else np.eye(k)
    S12 = ss * eye + (As * (xp.sqrt(ls + sigma2_s) - ss)) @ As.T
    T = (At * lt) @ At.T + sigma2_t * eye
    trace_sqrt = _trace(_sqrtm(S12 @ T @ S12, torch)) + (p - k) * ss * st
    W2 = ((ms - mt) ** 2).sum() + ls.sum() + lt.sum() + p * (sigma2_s + sigma2_t) - 2 * trace_sqrt
    W = torch.sqrt(torch.clamp(W2, min=0)) if torch is not None else float(np.sqrt(max(float(W2), 0.0)))
    return (W, {"basis": V, "trace_sqrt": trace_sqrt}) if log else W


def _ppca(x, w, d, reg, bias, torch, name):
    """Probabilistic PCA of the weighted sample x (n, p): mean, the top-d eigenvectors U and l = eigenvalues - sigma2
    of the covariance (+ reg I), sigma2 = (trace - sum of the top d) / (p - d + reg) floored at reg (POT's estimator,
    which adds reg to the denominator too). From the SVD of the weighted centred sample: O(n p min(n, p))."""
    n, p = x.shape
    w = _weights(x, w, torch, name)
    m = (w * x).sum(0) / w.sum() if bias else x[0] * 0
    Xw = (x - m) * ((w / w.sum()) ** 0.5)
    if torch is not None:
        _, sv, Vt = torch.linalg.svd(Xw, full_matrices=False)
    else:
        _, sv, Vt = np.linalg.svd(Xw, full_matrices=False)
    if sv.shape[0] < d:  # fewer samples than d: the model is not identifiable
        raise ValueError(f"d_intrinsic = {d} is larger than the {sv.shape[0]} directions {name}'s sample spans; "
                         f"use a smaller d_intrinsic")
    top = sv[:d] ** 2 + reg  # the covariance's top d eigenvalues (decreasing)
    trace = (sv ** 2).sum() + p * reg
    sigma2 = (trace - top.sum()) / (p - d + reg) if p - d + reg > 0 else trace * 0
    U = Vt[:d].T
    l = top - sigma2
    sigma2 = torch.clamp(sigma2, min=reg) if torch is not None else max(float(sigma2), reg)
    return m, U, l, sigma2


def empirical_bures_wasserstein_distance_hd(xs, xt, d_intrinsic, reg=0.0, ws=None, wt=None, bias=True, log=False):
    r"""Bures-Wasserstein distance between the high-dimensional Gaussians fitted to ``xs`` (n, p) and ``xt``
    (m, p) by probabilistic PCA of intrinsic dimension ``d_intrinsic`` (an int, or a pair for the two samples;
    POT's ``ot.gaussian.empirical_bures_wasserstein_distance_hd``, same arguments and value): weighted means (0 if
    not ``bias``), the top eigenpairs of the weighted covariances (+ ``reg`` I) from the SVD of the centred
    samples (no p x p matrix), the noise variance from the remaining trace; then
    :func:`bures_wasserstein_distance_hd`. ``log``: the fitted models (``ms``, ``Us``, ``ls``, ``sigma2_s`` and the
    same for t).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> xs = rng.standard_normal((200, 100)); xt = xs + 0.1     # the same covariance, the mean moved
    >>> w = otkit.gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, 5)
    >>> float(np.round(w ** 2, 8))     # |m_s - m_t|^2
    1.0
    """
    xs, xt, torch, reg = _samples(xs, xt, ws, wt, reg)
    p = xs.shape[1]
    ds, dt = (d_intrinsic, d_intrinsic) if not isinstance(d_intrinsic, (tuple, list)) else tuple(d_intrinsic)
    for d in (ds, dt):
        if isinstance(d, bool) or not isinstance(d, (numbers.Integral, np.integer)):
            raise TypeError(f"d_intrinsic must be an int (or a pair of ints), got {type(d).__name__}")
        if not 1 <= d <= p:
            raise ValueError(f"d_intrinsic must be in [1, p = {p}], got {d_intrinsic!r}")
    ms, Us, ls, s2s = _ppca(xs, ws, int(ds), float(reg), bias, torch, "ws")
    mt, Ut, lt, s2t = _ppca(xt, wt, int(dt), float(reg), bias, torch, "wt")
    W, lg = bures_wasserstein_distance_hd(ms, mt, Us, Ut, ls, lt, s2s, s2t, log=True)
    lg.update(ms=ms, mt=mt, Us=Us, Ut=Ut, ls=ls, lt=lt, sigma2_s=s2s, sigma2_t=s2t)
    return (W, lg) if log else W
