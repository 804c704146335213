"""Quality metrics: exact W2 to held-out data, modes captured, high-quality share, digit classes."""
from __future__ import annotations

import functools
import os
import pickle

import numpy as np

from ..metric import w2_samples
from ..utils import dist


def w2_exact(x, y):
    """Exact W2 (not squared) between two uniform point clouds (``otkit.emd`` under the hood)."""
    return float(np.sqrt(max(w2_samples(np.asarray(x, np.float64).reshape(len(x), -1),
                                        np.asarray(y, np.float64).reshape(len(y), -1), kind="exact"), 0.0)))


def mode_stats(x, modes, std, n_std=3.0, min_count=None):
    """Modes captured and the share of high-quality samples of a 2-D mixture.

    A sample is high quality when it lies within ``n_std`` standard deviations of its nearest
    mode; a mode is captured when at least ``min_count`` high-quality samples sit at it (default
    1 % of the samples, at least 1).

    Returns
    -------
    modes_captured : int
    hq_share : float in [0, 1]
    """
    x = np.asarray(x, np.float64)
    d2 = dist(x, modes)
    nearest = d2.argmin(1)
    hq = np.sqrt(d2[np.arange(len(x)), nearest]) <= n_std * std
    counts = np.bincount(nearest[hq], minlength=len(modes))
    if min_count is None:
        min_count = max(1, int(round(0.01 * len(x))))
    return int((counts >= min_count).sum()), float(hq.mean())


def _cache_dir():
    return os.environ.get("OTKIT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "otkit"))


@functools.lru_cache(maxsize=1)
def digits_classifier():
    """A logistic-regression classifier of the 8x8 digits trained on the training split, cached
    in memory and on disk (``$OTKIT_CACHE`` or ``~/.cache/otkit``)."""
    path = os.path.join(_cache_dir(), "digits_classifier_v1.pkl")
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - missing or stale cache: retrain
        pass
    from sklearn.linear_model import LogisticRegression

    from .datasets import make_dataset

    ds = make_dataset("digits")
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(ds.train_x, ds.train_y)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(clf, f)
        os.replace(tmp, path)
    except OSError:
        pass
    return clf


def digit_classes_covered(x, min_count=None, min_prob=0.5):
    """How many of the 10 classes the classifier assigns (with probability >= ``min_prob``) to at
    least ``min_count`` samples (default 1 % of them), and the share of such confident samples."""
    p = digits_classifier().predict_proba(np.asarray(x, np.float64).reshape(len(x), -1))
    lab, conf = p.argmax(1), p.max(1) >= min_prob
    counts = np.bincount(lab[conf], minlength=10)
    if min_count is None:
        min_count = max(1, int(round(0.01 * len(x))))
    return int((counts >= min_count).sum()), float(conf.mean())


def evaluate(dataset, samples, n=2000):
    """All metrics of generated ``samples`` against ``dataset``'s held-out data.

    ``w2`` uses at most ``n`` samples on each side (the digits hold out 540 images, so 540 there).
    Returns a dict with ``w2``, ``modes`` (modes captured, or digit classes covered) and ``hq``
    (the high-quality share, or the share of confidently classified digits).
    """
    held = dataset.heldout(n)
    m = min(len(held), len(samples))
    out = {"w2": w2_exact(samples[:m], held[:m])}
    if dataset.kind == "points":
        out["modes"], out["hq"] = mode_stats(samples, dataset.modes, dataset.std)
    else:
        out["modes"], out["hq"] = digit_classes_covered(samples)
    return out
