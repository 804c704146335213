"""Small MLP generators and discriminators (CPU-sized)."""
from __future__ import annotations

from torch import nn


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim, out_dim, hidden=128, layers=3, tanh=False):
        super().__init__()
        self.latent_dim = latent_dim
        mods, d = [], latent_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        mods.append(nn.Linear(d, out_dim))
        if tanh:
            mods.append(nn.Tanh())
        self.net = nn.Sequential(*mods)

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_dim, hidden=128, layers=3):
        super().__init__()
        mods, d = [], in_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        mods.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x.reshape(x.shape[0], -1)).squeeze(1)


def make_generator(dataset, hidden=128, layers=3):
    """Generator sized for ``dataset`` (a :class:`~otkit.proximal.datasets.Dataset`)."""
    return MLPGenerator(dataset.latent_dim, dataset.dim, hidden=hidden, layers=layers, tanh=dataset.kind == "image")


def make_discriminator(dataset, hidden=128, layers=3):
    return MLPDiscriminator(dataset.dim, hidden=hidden, layers=layers)
