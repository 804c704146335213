"""Generators and discriminators sized for the built-in data sets: MLPs and a small DCGAN."""
from __future__ import annotations

from torch import nn

MODELS = ("mlp", "dcgan")


class MLPGenerator(nn.Module):
    """Latents (B, latent_dim) -> samples (B, out_dim)."""

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
        return self.net(z.reshape(z.shape[0], -1))


class MLPDiscriminator(nn.Module):
    """Samples (B, ...) -> scores (B,)."""

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


def _doublings(size):
    k, s = 0, 4
    while s < size:
        s, k = 2 * s, k + 1
    if s != size:
        raise ValueError(f"image side must be a power of two >= 4, got {size}")
    return k


class DCGANGenerator(nn.Module):
    """Radford et al. 2016: latents (B, nz, 1, 1) -> images (B, channels, size, size) in [-1, 1].

    A 4 x 4 transposed convolution from the latent, then stride-2 transposed convolutions that double
    the side, BatchNorm + ReLU between them, tanh at the end.
    """

    def __init__(self, latent_dim=16, size=8, channels=1, width=32):
        super().__init__()
        self.latent_dim = latent_dim
        k = _doublings(size)
        c = width * 2 ** k
        mods = [nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(k):
            mods += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        mods += [nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*mods)

    def forward(self, z):
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Images (B, channels, size, size) (or flattened) -> scores (B,): stride-2 convolutions down to
    4 x 4 with LeakyReLU (no BatchNorm, so it also serves as a WGAN-GP critic), then a 4 x 4 convolution."""

    def __init__(self, size=8, channels=1, width=32):
        super().__init__()
        self.shape = (channels, size, size)
        k = _doublings(size)
        mods, c_in, c = [], channels, width
        for _ in range(k):
            mods += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            c_in, c = c, 2 * c
        mods += [nn.Conv2d(c_in, c, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(c, 1, 4, 1, 0)]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x.reshape(x.shape[0], *self.shape)).reshape(x.shape[0])


def check_model_name(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    return name


def make_generator(dataset, hidden=128, layers=3, model="mlp"):
    """Generator sized for ``dataset`` (a :class:`~otkit.proximal.datasets.Dataset`).

    ``model="dcgan"`` (image data only) outputs (B, 1, H, W) images from (B, latent_dim, 1, 1) latents.
    """
    if check_model_name(model) == "dcgan":
        if dataset.kind != "image":
            raise ValueError(f"model 'dcgan' needs image data, {dataset.name!r} holds 2-D points; use model 'mlp'")
        return DCGANGenerator(dataset.latent_dim, size=dataset.image_shape[0])
    return MLPGenerator(dataset.latent_dim, dataset.dim, hidden=hidden, layers=layers, tanh=dataset.kind == "image")


def make_discriminator(dataset, hidden=128, layers=3, model="mlp"):
    if check_model_name(model) == "dcgan":
        if dataset.kind != "image":
            raise ValueError(f"model 'dcgan' needs image data, {dataset.name!r} holds 2-D points; use model 'mlp'")
        return DCGANDiscriminator(size=dataset.image_shape[0])
    return MLPDiscriminator(dataset.dim, hidden=hidden, layers=layers)
