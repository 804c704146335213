"""Wasserstein proximal training of GANs (needs PyTorch: ``pip install "otkit[gan]"``).

* :class:`WassersteinProximal` -- the (relaxed) Wasserstein proximal / JKO step on generator
  parameters, usable with any torch generator, loss and optimizer.
* :func:`train` -- a trainer for your own generator, discriminator and data (tensor or DataLoader)
  or the built-in ones (MLP, DCGAN; ring8, grid25, digits), with callbacks, checkpoint/resume, CSV and
  TensorBoard logging, EMA of the generator weights; :class:`TrainConfig` -- the options of ``otkit gan``.
* :func:`make_dataset`, :func:`get_loss` (ns, wgan-gp), :func:`evaluate` (exact W2 to held-out data
  beside its true-vs-true floor :func:`w2_floor`, modes, high-quality share, :func:`mode_kl`; on digits
  classes covered and :func:`feature_frechet_distance`).
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
from .metrics import (digit_classes_covered, evaluate, feature_frechet_distance, mode_kl, mode_masses, mode_stats,
                      w2_exact, w2_floor)
from .models import MODELS, DCGANDiscriminator, DCGANGenerator, make_discriminator, make_generator
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
    "feature_frechet_distance",
    "mode_kl",
    "mode_masses",
    "w2_floor",
    "MODELS",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "make_generator",
    "make_discriminator",
    "PROX_CHOICES",
    "TrainConfig",
    "TrainResult",
    "ResumeError",
    "train",
]
