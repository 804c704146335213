"""GAN losses: non-saturating (``"ns"``) and WGAN with gradient penalty (``"wgan-gp"``).

Each loss is a pair of functions
``d_loss(D, real, fake) -> scalar`` (the discriminator / critic minimizes it) and
``g_loss(D, fake) -> scalar`` (the generator minimizes it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class GANLoss:
    name: str
    d_loss: callable
    g_loss: callable
    n_critic: int  # default discriminator steps per generator step


def _ns_d(D, real, fake):
    # -log sigmoid(D(real)) - log(1 - sigmoid(D(fake)))
    return F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()


def _ns_g(D, fake):
    # non-saturating: -log sigmoid(D(G(z)))
    return F.softplus(-D(fake)).mean()


def gradient_penalty(D, real, fake, weight=10.0):
    """Gulrajani et al. 2017: weight * E[(||grad D(x_hat)|| - 1)^2] on random interpolates."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return weight * ((grad.reshape(grad.shape[0], -1).norm(dim=1) - 1.0) ** 2).mean()


def _wgan_d(D, real, fake):
    return D(fake).mean() - D(real).mean() + gradient_penalty(D, real, fake)


def _wgan_g(D, fake):
    return -D(fake).mean()


LOSSES = {
    "ns": GANLoss("ns", _ns_d, _ns_g, 1),
    "wgan-gp": GANLoss("wgan-gp", _wgan_d, _wgan_g, 5),
}


def get_loss(name):
    """The :class:`GANLoss` called ``name`` (one of ``LOSSES``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {tuple(LOSSES)}")
    return LOSSES[name]
