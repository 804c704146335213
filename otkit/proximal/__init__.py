"""Wasserstein proximal training of GANs (needs PyTorch: ``pip install "otkit[gan]"``).

* :class:`WassersteinProximal` -- the (relaxed) Wasserstein proximal / JKO step on generator
  parameters, usable with any torch generator, loss and optimizer.
* :func:`make_dataset` (ring8, grid25, digits), :func:`get_loss` (ns, wgan-gp),
  :func:`evaluate` (exact W2 to held-out data, modes, high-quality share, digit classes),
  :func:`train` / :class:`TrainConfig` -- the trainer behind ``otkit gan``.
"""
try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "otkit.proximal needs PyTorch, which is an optional extra of otkit: "
        'pip install "otkit[gan]" (CPU build: pip install torch first)'
    ) from exc

from .core import NonFiniteGeneratorError, WassersteinProximal
from .datasets import DATASETS, Dataset, make_dataset
from .losses import LOSSES, get_loss
from .metrics import digit_classes_covered, evaluate, mode_stats, w2_exact
from .models import make_discriminator, make_generator
from .trainer import PROX_CHOICES, ResumeError, TrainConfig, TrainResult, train

__all__ = [
    "WassersteinProximal",
    "NonFiniteGeneratorError",
    "DATASETS",
    "Dataset",
    "make_dataset",
    "LOSSES",
    "get_loss",
    "evaluate",
    "mode_stats",
    "w2_exact",
    "digit_classes_covered",
    "make_generator",
    "make_discriminator",
    "PROX_CHOICES",
    "TrainConfig",
    "TrainResult",
    "ResumeError",
    "train",
]
