r"""The Wasserstein proximal step on generator parameters.

.. math::
    \theta_{k+1} = \arg\min_\theta\; F(\rho_\theta) + \frac{1}{2h}\, d_W(\theta, \theta_k)^2,
    \qquad \rho_\theta = g_{\theta\#}p,

with :math:`d_W^2` estimated on a latent batch (relaxed: mean squared displacement of the same
latent points; exact / sinkhorn: W2^2 / Sinkhorn divergence between the two pushforwards) and the
argmin replaced by ``inner_steps`` optimizer steps.
"""
from __future__ import annotations

import math

import torch

from ..metric import KINDS, w2_samples
from ..utils import check_positive_int, check_reg


class NonFiniteGeneratorError(FloatingPointError):
    """The generator produced NaN or inf."""


def _check_h(h):
    if isinstance(h, (int, float)) and not isinstance(h, bool) and math.isinf(h) and h > 0:
        return math.inf  # h = inf: no proximal term, plain generator steps
    return check_reg(h, "h")


def _latent_dim(generator):
    dim = getattr(generator, "latent_dim", None)
    if dim is not None:
        return int(dim)
    for m in generator.modules():
        if isinstance(m, torch.nn.Linear):
            return m.in_features
    return None


def check_latent(generator, z):
    """z must be a 2-D float tensor (batch, latent_dim) matching the generator."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"z must be a (batch, latent_dim) tensor with batch >= 1, got shape {tuple(z.shape)}")
    dim = _latent_dim(generator)
    if dim is not None and z.shape[1] != dim:
        raise ValueError(f"z has shape {tuple(z.shape)} but the generator takes latent_dim = {dim}: "
                         f"expected shape (batch, {dim})")
    if not torch.isfinite(z).all():
        raise ValueError("z has non-finite entries (NaN or inf)")


class WassersteinProximal:
    r"""Wasserstein proximal (JKO) step for a generator.

    Each :meth:`step` freezes :math:`y_k = g_{\theta_k}(z)` and runs ``inner_steps`` steps of
    ``optimizer`` on

    .. math::
        \mathrm{loss\_fn}(g_\theta(z)) + \frac{1}{2h}\, \mathrm{metric}(g_\theta(z), y_k).

    Parameters
    ----------
    generator : torch.nn.Module
        Maps a (B, latent_dim) batch to (B, ...) samples.
    optimizer : torch.optim.Optimizer
        Over the generator's parameters (any optimizer).
    h : float
        Proximal step size, > 0; ``math.inf`` drops the proximal term (plain generator steps).
    inner_steps : int
        Optimizer steps per proximal step, >= 1.
    metric : {"relaxed", "exact", "sinkhorn"}
        ``"relaxed"`` is RWP, the mean squared displacement :math:`\frac1B\sum_i\|g_\theta(z_i) - y_{k,i}\|^2`;
        ``"exact"`` the exact W2^2 between the two empirical pushforwards (``otkit.emd``);
        ``"sinkhorn"`` the debiased Sinkhorn divergence with regularization ``reg``.
    reg : float, optional
        For ``metric="sinkhorn"``.

    Examples
    --------
    >>> import torch
    >>> from otkit.proximal import WassersteinProximal
    >>> g = torch.nn.Linear(2, 2)
    >>> prox = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-2), h=0.1, inner_steps=5)
    >>> info = prox.step(lambda x: (x ** 2).sum(1).mean(), torch.randn(64, 2))
    >>> sorted(info)
    ['loss', 'loss_start', 'prox', 'total']

    References
    ----------
    A. T. Lin, W. Li, S. Osher, G. Montúfar, "Wasserstein proximal of GANs", GSI 2021.
    """

    def __init__(self, generator, optimizer, h=0.1, inner_steps=10, metric="relaxed", reg=None):
        if not isinstance(generator, torch.nn.Module):
            raise TypeError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if metric not in KINDS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {KINDS}")
        self.generator = generator
        self.optimizer = optimizer
        self.h = _check_h(h)
        self.inner_steps = check_positive_int(inner_steps, "inner_steps")
        self.metric = metric
        self.reg = None if reg is None else check_reg(reg)
        self._yk = None

    def proximal_term(self, x, y_k=None):
        r""":math:`\mathrm{metric}(x, y_k) / (2h)` (0 when h is infinite)."""
        y_k = self._yk if y_k is None else y_k
        if y_k is None:
            raise RuntimeError("no anchor y_k: call step() first or pass y_k")
        if math.isinf(self.h):
            return x.new_zeros(())
        flat_x, flat_y = x.reshape(x.shape[0], -1), y_k.reshape(y_k.shape[0], -1)
        return w2_samples(flat_x, flat_y, kind=self.metric, reg=self.reg) / (2.0 * self.h)

    def _forward(self, z):
        x = self.generator(z)
        if not torch.isfinite(x).all():
            raise NonFiniteGeneratorError("the generator produced non-finite values (NaN or inf)")
        return x

    def step(self, loss_fn, z):
        """One proximal step: returns a dict with the generator loss before/after and the proximal term.

        Raises :class:`NonFiniteGeneratorError` when the generator output is not finite.
        """
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        check_latent(self.generator, z)
        with torch.no_grad():
            self._yk = self._forward(z).detach()
        loss_start = None
        for _ in range(self.inner_steps):
            self.optimizer.zero_grad(set_to_none=True)
            x = self._forward(z)
            loss = loss_fn(x)
            prox = self.proximal_term(x)
            total = loss + prox
            if loss_start is None:
                loss_start = float(loss.detach())
            total.backward()
            self.optimizer.step()
        return {"loss_start": loss_start, "loss": float(loss.detach()), "prox": float(prox.detach()),
                "total": float(total.detach())}
