"""Data sets that need no download: ``ring8``, ``grid25`` and scikit-learn's 8x8 ``digits``."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

DATASETS = ("ring8", "grid25", "digits")


@dataclass
class Dataset:
    """A training sampler plus a held-out sample.

    Attributes
    ----------
    name : str
    kind : {"points", "image"}
    dim : int, the sample dimension (2, or 64 for digits)
    latent_dim : int, the generator's latent dimension used by ``otkit gan``
    modes : (K, 2) ndarray or None, the mode centres of the 2-D mixtures
    std : float or None, the standard deviation of each mode
    image_shape : tuple or None
    """

    name: str
    kind: str
    dim: int
    latent_dim: int
    modes: np.ndarray | None = None
    std: float | None = None
    image_shape: tuple | None = None
    train_x: np.ndarray | None = None  # finite training set (digits)
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    train_y: np.ndarray | None = None
    _heldout: dict = field(default_factory=dict, repr=False)

    def _mixture(self, n, rng):
        k = rng.integers(0, len(self.modes), size=n)
        return self.modes[k] + self.std * rng.standard_normal((n, 2))

    def sample(self, n, generator: torch.Generator):
        """A (n, dim) float32 training batch drawn with the torch ``generator``."""
        if self.train_x is not None:
            idx = torch.randint(0, len(self.train_x), (n,), generator=generator).numpy()
            return torch.from_numpy(self.train_x[idx])
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return torch.from_numpy(self._mixture(n, np.random.default_rng(seed)).astype(np.float32))

    def heldout(self, n=2000):
        """Held-out real samples (never used for training): at most ``n`` rows, always the same."""
        if self.test_x is not None:
            return self.test_x[:n]
        if n not in self._heldout:
            self._heldout[n] = self._mixture(n, np.random.default_rng(12345))
        return self._heldout[n]


def ring_modes(k=8, radius=2.0):
    # endpoint=False: linspace(0, 2 pi, k) would repeat the first angle and give k-1 distinct modes
    ang = np.linspace(0.0, 2.0 * np.pi, k, endpoint=False)
    return radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)


def grid_modes(k=5, spacing=2.0):
    c = (np.arange(k) - (k - 1) / 2.0) * spacing
    gx, gy = np.meshgrid(c, c, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data.astype(np.float32) / 8.0 - 1.0)  # pixel values 0..16 -> [-1, 1]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.3, random_state=0, stratify=d.target)
    return np.ascontiguousarray(xtr), np.ascontiguousarray(xte), ytr, yte


def check_dataset_name(name):
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    return name


def make_dataset(name):
    """The data set called ``name``, one of ``DATASETS``.

    ``ring8``: 8 Gaussians of std 0.02 on the circle of radius 2 (8 distinct angles 2 pi k / 8);
    ``grid25``: 25 Gaussians of std 0.05 on the 5 x 5 grid {-4, -2, 0, 2, 4}^2;
    ``digits``: scikit-learn's 1,797 8 x 8 digits scaled to [-1, 1], 70 % train / 30 % held out.
    """
    check_dataset_name(name)
    if name == "ring8":
        return Dataset("ring8", "points", 2, 8, modes=ring_modes(), std=0.02)
    if name == "grid25":
        return Dataset("grid25", "points", 2, 8, modes=grid_modes(), std=0.05)
    xtr, xte, ytr, yte = _digits()  # "digits"
    return Dataset("digits", "image", 64, 16, image_shape=(8, 8), train_x=xtr, test_x=xte,
                   train_y=ytr, test_y=yte)
