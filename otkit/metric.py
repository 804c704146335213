r"""The parametric Wasserstein metric: W2 pulled back to the parameters of a generator.

Two tools live here:

* :func:`param_w2` estimates :math:`d_W(\theta_0, \theta_1)^2 = W_2^2(g_{\theta_0\#}p, g_{\theta_1\#}p)`
  on a batch of latent samples ``z``, in three flavours (``"relaxed"``, ``"exact"``, ``"sinkhorn"``),
  on NumPy arrays or on torch tensors (differentiable with autograd). :func:`w2_samples` is the same
  thing on two point clouds that are already pushed forward.
* :func:`wasserstein_information_matrix` and :func:`wasserstein_natural_gradient_step`: the
  Wasserstein information matrix of a 1-D parametric density family and the natural-gradient step
  that uses it (Li and Montúfar, "Natural gradient via optimal transport", 2018).

NumPy is enough for everything here; torch is imported only when a torch tensor or module is
passed in.

The exact and entropic solvers are reached through :func:`_emd` and :func:`_sinkhorn`, which use
``otkit.emd`` / ``otkit.sinkhorn`` when this otkit provides them and POT's ``ot.emd`` /
``ot.sinkhorn`` otherwise (same signatures).
"""
from __future__ import annotations

import numpy as np

from .utils import as_float_array, check_reg, unif

__all__ = [
    "param_w2",
    "w2_samples",
    "wasserstein_information_matrix",
    "wasserstein_natural_gradient_step",
]

KINDS = ("relaxed", "exact", "sinkhorn")


# --------------------------------------------------------------------------------------------
# Solvers: otkit's own, through the public API.
# --------------------------------------------------------------------------------------------
def _emd(a, b, M, backend="auto"):
    """Optimal plan (n, m) between histograms a (n,) and b (m,) for the cost M (n, m)."""
    from .emd import emd

    return np.asarray(emd(a, b, M, numItermax=10_000_000, backend=backend))


def _sinkhorn(a, b, M, reg, backend="auto", stop_thr=1e-7):
    """Entropic plan (n, m): the kernel form where exp(-M/reg) is safe, the log-domain otherwise."""
    from .bregman import sinkhorn

    return np.asarray(sinkhorn(a, b, M, reg, method="auto", numItermax=5000, stopThr=stop_thr, backend=backend))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _is_torch(*xs) -> bool:
    for x in xs:
        mod = type(x).__module__
        if mod.startswith("torch"):
            return True
    return False


def _as_2d(x, name):
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be a (n, d) array of samples, got shape {tuple(x.shape)}")
    return x


def _sq_cost(x, y):
    """(n, m) squared Euclidean costs; works for NumPy arrays and torch tensors."""
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    if _is_torch(d):
        return d.clamp_min(0.0)
    return np.maximum(d, 0.0)


def _default_reg(C_np):
    # 5% of the median cost: small enough to be close to W2^2, large enough to converge quickly.
    med = float(np.median(C_np))
    return 0.05 * med if med > 0 else 1e-3


def _entropic_value(x, y, reg, backend="auto", stop_thr=1e-7):
    r"""Primal entropic OT :math:`\langle P, C\rangle + \varepsilon\,\mathrm{KL}(P\,|\,a\otimes b)` at
    the Sinkhorn plan, with the plan held fixed: by the envelope theorem (optimality of the dual
    potentials) its gradient in the points is the true gradient of the entropic cost."""
    C = _sq_cost(x, y)
    C_np = C.detach().cpu().numpy().astype(np.float64) if _is_torch(C) else C
    n, m = C_np.shape
    a, b = unif(n), unif(m)
    P = _sinkhorn(a, b, C_np, reg, backend, stop_thr)
    ab = a[:, None] * b[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(P > 0, P * np.log(P / ab), 0.0).sum() - P.sum() + 1.0
    if _is_torch(C):
        import torch

        Pt = torch.as_tensor(P, dtype=C.dtype, device=C.device)
        return (Pt * C).sum() + reg * float(kl)
    return float((P * C).sum() + reg * kl)


def w2_samples(x, y, kind="exact", reg=None, backend="auto", stop_thr=1e-7):
    r"""Squared 2-Wasserstein distance between two uniform point clouds.

    .. math::
        W_2^2(\hat\mu_x, \hat\mu_y) = \min_{P \in \Pi(1/n, 1/m)} \sum_{ij} P_{ij}\,\|x_i - y_j\|^2

    Parameters
    ----------
    x : (n, d) array_like or torch.Tensor
    y : (m, d) array_like or torch.Tensor (n == m for ``kind="relaxed"``)
    kind : {"exact", "relaxed", "sinkhorn"}
        ``"exact"``: the optimal plan by ``otkit.emd``; ``"relaxed"``: the mean squared displacement
        :math:`\frac1n\sum_i \|x_i - y_i\|^2` (the identity coupling, an upper bound of the exact
        value); ``"sinkhorn"``: the debiased Sinkhorn divergence
        :math:`S_\varepsilon = OT_\varepsilon(x, y) - \frac12 OT_\varepsilon(x, x) - \frac12 OT_\varepsilon(y, y)`.
    reg : float, optional
        Entropic regularization for ``"sinkhorn"``; default 5% of the median cost between x and y.
    backend : {"auto", "cpp", "numba"}
        Backend of the exact (``otkit.emd``) or entropic (``otkit.sinkhorn``) solver.
    stop_thr : float
        ``"sinkhorn"``: the marginal error at which the Sinkhorn solves stop (at most 5000 iterations).

    Returns
    -------
    w : float, or a 0-d torch tensor differentiable in x and y (through the fixed optimal plan,
        by the envelope theorem) when torch tensors are given.

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.metric import w2_samples
    >>> round(w2_samples(np.array([[0.0], [1.0]]), np.array([[3.0], [2.0]])), 6)
    4.0
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    torch_mode = _is_torch(x, y)
    if not torch_mode:
        x = as_float_array(x, "x")
        y = as_float_array(y, "y")
    x = _as_2d(x, "x")
    y = _as_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("x and y must hold at least one sample each")
    if kind == "relaxed":
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"kind='relaxed' pairs x[i] with y[i]: x and y need the same number of rows, "
                             f"got {x.shape[0]} and {y.shape[0]}")
        val = ((x - y) ** 2).sum(1).mean()
        if not bool(np.isfinite(float(val.detach()) if torch_mode else float(val))):
            raise ValueError("x and y must be finite: the mean squared displacement is not finite (NaN or inf in "
                             "the samples, e.g. from NaN parameters theta0/theta1 or latents z, or a generator "
                             "that outputs NaN)")
        return val if torch_mode else float(val)
    C = _sq_cost(x, y)
    C_np = C.detach().cpu().numpy().astype(np.float64) if torch_mode else C
    if not np.isfinite(C_np).all():
        raise ValueError("x and y must be finite (the cost matrix has NaN or inf entries)")
    if kind == "exact":
        P = _emd(unif(x.shape[0]), unif(y.shape[0]), C_np, backend)
        if torch_mode:
            import torch

            return (torch.as_tensor(P, dtype=C.dtype, device=C.device) * C).sum()
        return float((P * C).sum())
    # debiased Sinkhorn divergence, one reg for the three terms
    reg = _default_reg(C_np) if reg is None else check_reg(reg)
    return (_entropic_value(x, y, reg, backend, stop_thr) - 0.5 * _entropic_value(x, x, reg, backend, stop_thr)
            - 0.5 * _entropic_value(y, y, reg, backend, stop_thr))


def _module_as_function(module):
    """Turn a torch module into g(theta_flat, z) through torch.func.functional_call."""
    import torch
    from torch.func import functional_call

    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for _, p in module.named_parameters()]
    sizes = [p.numel() for _, p in module.named_parameters()]
    total = sum(sizes)

    def g(theta, z):
        theta = torch.as_tensor(theta)
        if theta.ndim != 1 or theta.numel() != total:
            raise ValueError(f"theta must be a flat vector of the module's {total} parameters, got shape {tuple(theta.shape)}")
        parts = torch.split(theta, sizes)
        params = {n: p.view(s) for n, p, s in zip(names, parts, shapes)}
        return functional_call(module, params, (z,))

    return g


def param_w2(g, theta0, theta1, z, kind="relaxed", reg=None, backend="auto"):
    r"""Parametric Wasserstein distance :math:`d_W(\theta_0, \theta_1)^2` estimated on a latent batch.

    .. math::
        d_W(\theta_0, \theta_1)^2 = W_2^2\big(g_{\theta_0\#} p,\; g_{\theta_1\#} p\big)
        \approx W_2^2\Big(\tfrac1B\sum_i \delta_{g(\theta_0, z_i)},\; \tfrac1B\sum_i \delta_{g(\theta_1, z_i)}\Big)

    Parameters
    ----------
    g : callable ``g(theta, z) -> (B, d) samples``, or a ``torch.nn.Module``
        For a module, ``theta0``/``theta1`` are flat parameter vectors
        (``torch.nn.utils.parameters_to_vector(module.parameters())``) and the module is evaluated
        with them through ``torch.func.functional_call``.
    theta0, theta1 : array_like or torch.Tensor
        The two parameter values.
    z : (B, k) array_like or torch.Tensor
        Latent batch shared by both pushforwards.
    kind : {"relaxed", "exact", "sinkhorn"}
        ``"relaxed"``: :math:`\frac1B\sum_i\|g(\theta_0,z_i) - g(\theta_1,z_i)\|^2`, the relaxed
        Wasserstein proximal (RWP) term, an upper bound of the exact value; ``"exact"``: W2^2 between
        the two empirical pushforwards (``otkit.emd``); ``"sinkhorn"``: the debiased Sinkhorn
        divergence with regularization ``reg``. See :func:`w2_samples`.
    reg : float, optional
        Entropic regularization for ``"sinkhorn"``.
    backend : {"auto", "cpp", "numba"}
        Backend of the exact (``otkit.emd``) or entropic (``otkit.sinkhorn``) solver.

    Returns
    -------
    d2 : float, or a 0-d torch tensor when any input is a torch tensor or module; it is
        differentiable in ``theta0`` and ``theta1`` (for ``"exact"`` and ``"sinkhorn"`` through the
        fixed optimal plan, i.e. by the envelope theorem).

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.metric import param_w2
    >>> g = lambda th, z: th[0] + th[1] * z          # affine generator of N(th0, th1^2)
    >>> z = np.random.default_rng(0).standard_normal((500, 1))
    >>> round(param_w2(g, [0.0, 1.0], [1.0, 1.0], z), 6)   # a pure shift by 1
    1.0

    References
    ----------
    A. T. Lin, W. Li, S. Osher, G. Montúfar, "Wasserstein proximal of GANs", GSI 2021.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    if not callable(g):
        raise TypeError(f"g must be a callable g(theta, z) or a torch module, got {type(g).__name__}")
    if _is_torch(g):
        import torch

        if isinstance(g, torch.nn.Module):
            g = _module_as_function(g)
    if _is_torch(theta0, theta1, z):
        import torch

        z = torch.as_tensor(z)
        theta0 = torch.as_tensor(theta0)
        theta1 = torch.as_tensor(theta1)
    else:
        z = as_float_array(z, "z")
        theta0 = as_float_array(theta0, "theta0")
        theta1 = as_float_array(theta1, "theta1")
    if z.ndim not in (1, 2) or z.shape[0] == 0:
        raise ValueError(f"z must be a non-empty (B,) or (B, k) batch of latent samples, got shape {tuple(z.shape)}")
    x0 = g(theta0, z)
    x1 = g(theta1, z)
    if tuple(x0.shape) != tuple(x1.shape) or x0.shape[0] != z.shape[0]:
        raise ValueError(f"g must return one sample per row of z: got shapes {tuple(x0.shape)} and "
                         f"{tuple(x1.shape)} for z of shape {tuple(z.shape)}")
    return w2_samples(x0, x1, kind=kind, reg=reg, backend=backend)


# --------------------------------------------------------------------------------------------
# 1-D Wasserstein information matrix and natural gradient
# --------------------------------------------------------------------------------------------
def wasserstein_information_matrix(cdf, theta, x, pdf=None, eps=1e-5, tol=1e-12):
    r"""Wasserstein information matrix of a 1-D parametric family of densities.

    .. math::
        G_W(\theta)_{ij} = \int_{\mathbb R} \frac{\partial_{\theta_i} F(x;\theta)\;
        \partial_{\theta_j} F(x;\theta)}{\rho(x;\theta)}\, dx

    with :math:`F` the cumulative distribution function and :math:`\rho = \partial_x F` the density.
    It is the pull-back of the Wasserstein-2 metric to the parameters:
    :math:`W_2^2(\rho_\theta, \rho_{\theta + d\theta}) = d\theta^\top G_W(\theta)\, d\theta + o(|d\theta|^2)`.

    Parameters
    ----------
    cdf : callable ``cdf(x, theta) -> (n,)``
        The CDF on a grid ``x`` for a parameter vector ``theta``.
    theta : (p,) array_like
    x : (n,) array_like
        Increasing grid covering the support (the integral uses the trapezoid rule on it).
    pdf : callable ``pdf(x, theta) -> (n,)``, optional
        The density; by default the derivative of the CDF along the grid.
    eps : float
        Step of the central differences in theta.
    tol : float
        Grid points where the density is below ``tol`` are left out (0/0 in the tails).

    Returns
    -------
    G : (p, p) ndarray, symmetric positive semi-definite.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import norm
    >>> from otkit.metric import wasserstein_information_matrix
    >>> cdf = lambda x, th: norm.cdf(x, loc=th[0], scale=th[1])
    >>> G = wasserstein_information_matrix(cdf, [0.5, 2.0], np.linspace(-20, 20, 8001))
    >>> np.round(G, 4) + 0.0       # the identity in (mu, sigma) coordinates
    array([[1., 0.],
           [0., 1.]])

    References
    ----------
    W. Li, G. Montúfar, "Natural gradient via optimal transport", Information Geometry 1, 2018.
    """
    theta = as_float_array(theta, "theta")
    x = as_float_array(x, "x")
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(f"theta must be a non-empty 1-D parameter vector, got shape {theta.shape}")
    if x.ndim != 1 or x.size < 3 or not np.all(np.diff(x) > 0):
        raise ValueError("x must be an increasing 1-D grid with at least 3 points")
    eps = check_reg(eps, "eps")
    p = theta.size
    dF = np.empty((p, x.size))
    for i in range(p):  # central differences in theta_i
        e = np.zeros(p)
        e[i] = eps
        dF[i] = (np.asarray(cdf(x, theta + e), float) - np.asarray(cdf(x, theta - e), float)) / (2 * eps)
    rho = np.asarray(pdf(x, theta), float) if pdf is not None else np.gradient(np.asarray(cdf(x, theta), float), x)
    keep = rho > tol
    w = np.where(keep, 1.0 / np.where(keep, rho, 1.0), 0.0)
    G = np.trapezoid(dF[:, None, :] * dF[None, :, :] * w, x, axis=-1) if hasattr(np, "trapezoid") else \
        np.trapz(dF[:, None, :] * dF[None, :, :] * w, x, axis=-1)
    return 0.5 * (G + G.T)


def wasserstein_natural_gradient_step(theta, grad, cdf, x, lr=0.1, pdf=None, ridge=0.0):
    r"""One Wasserstein natural-gradient step :math:`\theta - \eta\, G_W(\theta)^{-1} \nabla_\theta f`.

    Parameters
    ----------
    theta : (p,) array_like
    grad : (p,) array_like or callable ``grad(theta) -> (p,)``
        The Euclidean gradient of the objective at ``theta``.
    cdf, x, pdf :
        The family and the grid, as in :func:`wasserstein_information_matrix`.
    lr : float
        Step size :math:`\eta > 0`.
    ridge : float
        Added to the diagonal of :math:`G_W` before solving (for a singular metric).

    Returns
    -------
    theta_new : (p,) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import norm
    >>> from otkit.metric import wasserstein_natural_gradient_step
    >>> cdf = lambda x, th: norm.cdf(x, loc=th[0], scale=np.exp(th[1]))   # (mu, log sigma)
    >>> th = wasserstein_natural_gradient_step([0.0, np.log(2.0)], [0.0, 1.0], cdf,
    ...                                         np.linspace(-30, 30, 12001), lr=0.1)
    >>> round(float(th[1]), 4)     # G_W = diag(1, sigma^2): the log-sigma step is 0.1 / 4
    0.6681
    """
    theta = as_float_array(theta, "theta")
    lr = check_reg(lr, "lr")
    g = np.asarray(grad(theta) if callable(grad) else as_float_array(grad, "grad"), float)
    if g.shape != theta.shape:
        raise ValueError(f"grad must have the shape of theta {theta.shape}, got {g.shape}")
    G = wasserstein_information_matrix(cdf, theta, x, pdf=pdf)
    if ridge:
        G = G + float(ridge) * np.eye(theta.size)
    return theta - lr * np.linalg.solve(G, g)
