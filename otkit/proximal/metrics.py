"""Quality metrics of generated samples.

Exact W2 to held-out data (and its sampling floor ``w2_floor``), modes captured, the high-quality
share and the mode-balance KL (2-D mixtures), digit classes covered and a Frechet distance in the
feature space of a small digits classifier (``feature_frechet_distance``, an 8x8 analogue of FID).
"""
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


# ----------------------------------------------------------------------------------------------
# Digits feature network: a small MLP classifier whose penultimate layer is the feature space of
# the Frechet distance (the role Inception plays for FID).

_FEATNET_VERSION = "v1"  # bump when the architecture or the training recipe changes
_FEATNET_SHAPES = {"w1": (64, 128), "b1": (128,), "w2": (128, 64), "b2": (64,), "w3": (64, 10), "b3": (10,)}


@functools.lru_cache(maxsize=1)
def _digits_data():
    from .datasets import make_dataset

    return make_dataset("digits")


def _as_digits(x, name, min_n=0):
    """``x`` as a float64 (n, 64) array; ValueError naming ``name`` for a wrong shape, too few rows
    or non-finite values."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric array of 8x8 digits: {e}") from None
    if not ((a.ndim == 2 and a.shape[1] == 64) or (a.ndim == 3 and a.shape[1:] == (8, 8))
            or (a.ndim == 4 and a.shape[1:] == (1, 8, 8))):
        raise ValueError(f"{name} must have shape (n, 64), (n, 8, 8) or (n, 1, 8, 8); got {a.shape}")
    a = a.reshape(len(a), 64)
    if len(a) < min_n:
        raise ValueError(f"{name} needs at least {min_n} samples to fit a mean and covariance; got {len(a)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite values (NaN or inf)")
    return a


class DigitsFeatureNet:
    """A trained 64 -> 128 -> 64 -> 10 ReLU classifier of the 8x8 digits, evaluated in NumPy.

    Build it with :func:`digits_feature_net` (trained once, cached). ``params`` holds float64
    arrays ``w1 (64, 128), b1, w2 (128, 64), b2, w3 (64, 10), b3`` (``x @ w + b`` per layer).
    """

    def __init__(self, params):
        self.params = {k: np.ascontiguousarray(params[k], dtype=np.float64) for k in _FEATNET_SHAPES}
        self._heldout = None  # (mean, covariance, covariance square root) of the held-out features

    def _hidden(self, x):
        p = self.params
        h = np.maximum(x @ p["w1"] + p["b1"], 0.0)
        return np.maximum(h @ p["w2"] + p["b2"], 0.0)

    def features(self, x):
        """Penultimate-layer activations: float64 (n, 64) from (n, 64), (n, 8, 8) or (n, 1, 8, 8)."""
        return self._hidden(_as_digits(x, "x"))

    def logits(self, x):
        """Class scores, float64 (n, 10)."""
        return self._hidden(_as_digits(x, "x")) @ self.params["w3"] + self.params["b3"]

    def predict_proba(self, x):
        """Class probabilities, float64 (n, 10), rows summing to 1."""
        z = self.logits(x)
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    def predict(self, x):
        """The most probable class of each row, int (n,)."""
        return self.logits(x).argmax(1)

    def heldout_stats(self):
        """Mean, covariance and covariance square root of the held-out digits' features (cached)."""
        if self._heldout is None:
            mu, cov = _gauss_fit(self.features(_digits_data().test_x))
            self._heldout = (mu, cov, _sqrt_psd(cov))
        return self._heldout


def _train_feature_net(seed=0):
    """Train the feature MLP on the digits training split; ~1-2 s on one CPU thread.

    Minibatch Adam (batch 64, 40 epochs, cosine learning rate from 2e-3) on float64 inputs with
    Gaussian input noise of std 0.3 (a regulariser: ~98 % held-out accuracy instead of ~97 %).
    The global torch RNG state is left untouched.
    """
    import torch

    ds = _digits_data()
    x = torch.as_tensor(ds.train_x, dtype=torch.float64)
    y = torch.as_tensor(ds.train_y, dtype=torch.long)
    bs, epochs = 64, 40
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the layers' initialisation
        net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                  torch.nn.ReLU(), torch.nn.Linear(64, 10)).double()
    gen = torch.Generator().manual_seed(seed)  # minibatches and input noise
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * -(-len(x) // bs))
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            xb = x[idx] + 0.3 * torch.randn((len(idx), 64), generator=gen, dtype=torch.float64)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xb), y[idx]).backward()
            opt.step()
            sched.step()
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    out = {}
    for i, m in enumerate(lin, 1):
        out[f"w{i}"] = m.weight.detach().numpy().T.copy()
        out[f"b{i}"] = m.bias.detach().numpy().copy()
    return out


def _load_params(path):
    with np.load(path, allow_pickle=False) as f:
        params = {k: np.array(f[k], dtype=np.float64) for k in _FEATNET_SHAPES}
    for k, shape in _FEATNET_SHAPES.items():
        if params[k].shape != shape or not np.isfinite(params[k]).all():
            raise ValueError(f"bad cached parameter {k}")
    return params


@functools.lru_cache(maxsize=4)
def _feature_net_at(directory):
    path = os.path.join(directory, f"digits_featnet_{_FEATNET_VERSION}.npz")
    try:
        return DigitsFeatureNet(_load_params(path))
    except Exception:  # noqa: BLE001 - missing, truncated or stale cache: retrain
        pass
    params = _train_feature_net()
    try:  # atomic write: a concurrent reader sees the old file or the complete new one
        os.makedirs(directory, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **params)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only cache: keep the trained network in memory only
    return DigitsFeatureNet(params)


def digits_feature_net():
    """The digits feature network, trained once and cached on disk and in memory.

    A 64 -> 128 -> 64 -> 10 ReLU MLP trained (fixed seed, ~1-2 s of CPU, needs torch) on the
    digits training split; ~98 % accuracy on the held-out split. The weights are stored in
    ``$OTKIT_CACHE/digits_featnet_v1.npz`` (default ``~/.cache/otkit``) and retrained when that
    file is missing or unreadable; ``digits_feature_net.cache_clear()`` empties the memory cache.

    Returns
    -------
    DigitsFeatureNet
        With ``features(x)`` (penultimate activations, float64 (n, 64)), ``predict_proba(x)``
        (float64 (n, 10)) and ``predict(x)``.

    Examples
    --------
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.metrics import digits_feature_net
    >>> ds = make_dataset("digits")
    >>> net = digits_feature_net()
    >>> net.features(ds.test_x[:5]).shape
    (5, 64)
    >>> bool((net.predict(ds.test_x) == ds.test_y).mean() >= 0.97)
    True
    """
    return _feature_net_at(os.path.abspath(_cache_dir()))


digits_feature_net.cache_clear = _feature_net_at.cache_clear


# ----------------------------------------------------------------------------------------------
# Frechet distance between Gaussian fits


def _gauss_fit(f):
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def _sqrt_psd(s):
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh(0.5 * (s + s.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _frechet(mu1, s1, mu2, s2, s2_sqrt=None):
    # tr((S1^1/2 S2 S1^1/2)^1/2) = tr((S2^1/2 S1 S2^1/2)^1/2): the square root of S2 can be cached
    r = _sqrt_psd(s2) if s2_sqrt is None else s2_sqrt
    m = r @ s1 @ r
    ev = np.linalg.eigvalsh(0.5 * (m + m.T))
    tr_cross = np.sqrt(np.clip(ev, 0.0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * tr_cross)
    return max(d, 0.0)


def gaussian_frechet_distance(mu1, cov1, mu2, cov2):
    """Frechet (W2 squared) distance between N(mu1, cov1) and N(mu2, cov2).

    ``||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1^1/2 cov2 cov1^1/2)^1/2)``, with the matrix square
    roots from symmetric eigendecompositions (tiny negative eigenvalues clipped at 0).

    Parameters
    ----------
    mu1, mu2 : array_like, shape (d,)
    cov1, cov2 : array_like, shape (d, d), symmetric positive semi-definite

    Returns
    -------
    float >= 0

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.proximal.metrics import gaussian_frechet_distance
    >>> round(gaussian_frechet_distance([0, 0], np.eye(2), [3, 0], 4 * np.eye(2)), 6)  # 9 + 2 * (2 - 1)^2
    11.0
    """
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    d = len(mu1)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    for name, a in (("mu2", mu2), ("cov1", cov1), ("cov2", cov2)):
        want = (d,) if name == "mu2" else (d, d)
        if a.shape != want:
            raise ValueError(f"{name} must have shape {want} (from mu1 of length {d}); got {a.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("cov1", cov1), ("cov2", cov2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has non-finite values (NaN or inf)")
    return _frechet(mu1, cov1, mu2, cov2)


def feature_frechet_distance(samples, reference=None):
    """Frechet distance between digit sets in the feature space of :func:`digits_feature_net`.

    Fits a Gaussian to the 64 penultimate-layer features of ``samples`` and of ``reference`` and
    returns ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`` (FID's formula). Like FID
    it is biased upwards for small sample counts: compare values at the same count.

    Parameters
    ----------
    samples : array_like, shape (n, 64), (n, 8, 8) or (n, 1, 8, 8)
        Digits with pixels in [-1, 1], n >= 2.
    reference : array_like, same shapes, optional
        Default: the held-out digits (540 images); their feature statistics are cached.

    Returns
    -------
    float >= 0

    Raises
    ------
    ValueError
        For a wrong shape, fewer than 2 rows or non-finite values (the message names the argument).

    Examples
    --------
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.metrics import feature_frechet_distance
    >>> ds = make_dataset("digits")
    >>> feature_frechet_distance(ds.test_x, ds.test_x) < 1e-6
    True
    >>> bool(feature_frechet_distance(ds.train_x[:540]) < feature_frechet_distance(ds.train_x[:540] * 0))
    True
    """
    x = _as_digits(samples, "samples", min_n=2)
    ref = None if reference is None else _as_digits(reference, "reference", min_n=2)
    net = digits_feature_net()
    mu1, s1 = _gauss_fit(net._hidden(x))
    if ref is None:
        mu2, s2, r2 = net.heldout_stats()
    else:
        mu2, s2 = _gauss_fit(net._hidden(ref))
        r2 = None
    return _frechet(mu1, s1, mu2, s2, r2)


def feature_fd_reference_levels(n=None, seed=0):
    """Feature Frechet distance to the held-out digits of simple reference generators.

    Calibrates :func:`feature_frechet_distance`: each generator draws ``n`` images (default 540,
    the held-out count) with ``numpy.random.default_rng(seed)``.

    * ``"train"``: real training images (the level of a perfect generator at this count);
    * ``"prototypes"``: the class-mean training image of each drawn image's class (no diversity
      within a class);
    * ``"noisy"``: training images plus Gaussian noise of std 0.5, clipped to [-1, 1];
    * ``"half_classes"``: training images of classes 0-4 only (half the modes dropped);
    * ``"collapse"``: one training image repeated.

    Returns
    -------
    dict
        name -> float; typically ``train < prototypes, noisy < half_classes < collapse``.

    Examples
    --------
    >>> from otkit.proximal.metrics import feature_fd_reference_levels
    >>> lv = feature_fd_reference_levels(300)
    >>> lv["train"] < lv["half_classes"] < lv["collapse"]
    True
    """
    ds = _digits_data()
    if n is None:
        n = len(ds.test_x)
    n = int(n)
    if n < 2:
        raise ValueError(f"n must be >= 2; got {n}")
    rng = np.random.default_rng(seed)
    x, y = ds.train_x.astype(np.float64), ds.train_y

    def draw(pool):
        return pool[rng.choice(len(pool), n, replace=n > len(pool))]

    train = draw(np.arange(len(x)))
    means = np.stack([x[y == c].mean(0) for c in range(10)])
    gens = {
        "train": x[train],
        "prototypes": means[y[train]],
        "noisy": np.clip(x[train] + 0.5 * rng.standard_normal((n, 64)), -1.0, 1.0),
        "half_classes": x[draw(np.flatnonzero(y < 5))],
        "collapse": np.repeat(x[rng.integers(len(x))][None], n, axis=0),
    }
    return {k: feature_frechet_distance(v) for k, v in gens.items()}


# ----------------------------------------------------------------------------------------------
# Mode balance of the 2-D mixtures


def _hq_counts(samples, modes, std, n_std):
    """High-quality samples per mode (K,) and the sample count."""
    modes = np.asarray(modes, np.float64)
    x = samples.detach().cpu().numpy() if hasattr(samples, "detach") else samples
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != modes.shape[1]:
        raise ValueError(f"samples must have shape (n, {modes.shape[1]}); got {x.shape}")
    if len(x) == 0:
        raise ValueError("samples is empty")
    if not np.isfinite(x).all():
        raise ValueError("samples has non-finite values (NaN or inf)")
    d2 = dist(x, modes)
    nearest = d2.argmin(1)
    hq = np.sqrt(d2[np.arange(len(x)), nearest]) <= n_std * std
    return np.bincount(nearest[hq], minlength=len(modes)), len(x)


def mode_masses(samples, modes, std, n_std=3.0):
    """Share of all samples that are high quality at each mode.

    A sample counts for its nearest mode when it lies within ``n_std * std`` of it (the rule of
    :func:`mode_stats`); the result sums to the high-quality share.

    Parameters
    ----------
    samples : array_like, shape (n, 2)
    modes : array_like, shape (K, 2)
    std : float, the standard deviation of each mode
    n_std : float, default 3.0

    Returns
    -------
    ndarray, shape (K,), float64 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.metrics import mode_masses
    >>> ring = make_dataset("ring8")
    >>> m = mode_masses(ring.heldout(2000), ring.modes, ring.std)
    >>> m.shape, bool(0.97 < m.sum() <= 1)  # ~98.9 % of 2-D Gaussian samples lie within 3 std
    ((8,), True)
    """
    counts, n = _hq_counts(samples, modes, std, n_std)
    return counts / float(n)


def mode_kl(samples, modes, std, n_std=3.0, eps=1e-10):
    """KL(q || uniform) of the high-quality samples' distribution q over the modes.

    0 when the high-quality samples are spread evenly over the K modes, ``log K`` when they all
    sit at one mode. ``q`` is smoothed, ``q = (p + eps) / (1 + K eps)``, so every term is finite;
    when no sample is high quality the result is ``log K`` (as bad as a collapse).

    Parameters
    ----------
    samples : array_like, shape (n, 2)
    modes : array_like, shape (K, 2)
    std : float, the standard deviation of each mode
    n_std : float, default 3.0, the high-quality radius in standard deviations
    eps : float, default 1e-10

    Returns
    -------
    float in [0, log K]

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.metrics import mode_kl
    >>> ring = make_dataset("ring8")
    >>> mode_kl(ring.heldout(2000), ring.modes, ring.std) < 0.01
    True
    >>> bool(abs(mode_kl(np.repeat(ring.modes[:1], 100, 0), ring.modes, ring.std) - np.log(8)) < 1e-6)
    True
    """
    counts, _ = _hq_counts(samples, modes, std, n_std)
    k = len(counts)
    if counts.sum() == 0:
        return float(np.log(k))
    q = (counts / counts.sum() + eps) / (1.0 + k * eps)
    return float(max((q * np.log(q * k)).sum(), 0.0))


def digit_class_masses(samples, min_prob=0.5):
    """Share of all digits that :func:`digits_feature_net` assigns to each class with probability
    >= ``min_prob`` (the digits' analogue of :func:`mode_masses`), float64 (10,).

    Examples
    --------
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.metrics import digit_class_masses
    >>> digit_class_masses(make_dataset("digits").test_x).shape
    (10,)
    """
    x = _as_digits(samples, "samples", min_n=1)
    p = digits_feature_net().predict_proba(x)
    conf = p.max(1) >= min_prob
    return np.bincount(p.argmax(1)[conf], minlength=10) / float(len(x))


# ----------------------------------------------------------------------------------------------
# W2 resolution and the evaluation dict


def w2_floor(dataset, n, seed=0):
    """Exact W2 between two independent true samples: the level at which W2 stops resolving quality.

    2-D mixtures: two fresh draws of ``n`` points. Digits: two disjoint random subsets of the
    held-out split, of ``min(n, 270)`` images each (the split has 540), so at ``n > 270`` this is
    an upper bound of the floor at ``n``.

    Parameters
    ----------
    dataset : Dataset or str
        A :func:`~otkit.proximal.make_dataset` data set or its name.
    n : int >= 1
    seed : int, default 0

    Returns
    -------
    float > 0

    Examples
    --------
    >>> from otkit.proximal.metrics import w2_floor
    >>> 0 < w2_floor("ring8", 500) < 0.5
    True
    """
    if isinstance(dataset, str):
        from .datasets import make_dataset

        dataset = make_dataset(dataset)
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    rng = np.random.default_rng(seed)
    if dataset.kind == "points":
        return w2_exact(dataset._mixture(n, rng), dataset._mixture(n, rng))
    held = dataset.heldout(len(dataset.test_x))
    m = min(n, len(held) // 2)
    perm = rng.permutation(len(held))
    return w2_exact(held[perm[:m]], held[perm[m:2 * m]])


@functools.lru_cache(maxsize=16)
def _w2_floor_cached(name, n):
    return w2_floor(name, n)


def evaluate(dataset, samples, n=2000):
    """All metrics of generated ``samples`` against ``dataset``'s held-out data.

    ``w2`` uses at most ``n`` samples on each side (the digits hold out 540 images, so 540 there).
    Returns a dict with ``w2``, ``modes`` (modes captured, or digit classes covered) and ``hq``
    (the high-quality share, or the share of confidently classified digits), ``w2_floor`` (the W2
    between two true samples of the same size, :func:`w2_floor`: W2 cannot resolve quality below it),
    plus ``kl`` (:func:`mode_kl`, 2-D mixtures) or ``fd`` (:func:`feature_frechet_distance` of all the
    samples to the held-out digits).

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.metrics import evaluate
    >>> ring = make_dataset("ring8")
    >>> sorted(evaluate(ring, ring._mixture(300, np.random.default_rng(0))))
    ['hq', 'kl', 'modes', 'w2', 'w2_floor']
    """
    held = dataset.heldout(n)
    m = min(len(held), len(samples))
    out = {"w2": w2_exact(samples[:m], held[:m]), "w2_floor": _w2_floor_cached(dataset.name, m)}
    if dataset.kind == "points":
        out["modes"], out["hq"] = mode_stats(samples, dataset.modes, dataset.std)
        out["kl"] = mode_kl(samples, dataset.modes, dataset.std)
    else:
        out["modes"], out["hq"] = digit_classes_covered(samples)
        out["fd"] = feature_frechet_distance(samples)
    return out
