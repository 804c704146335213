"""otkit.proximal metrics and plots: the digits feature network and its Frechet distance, mode
balance, the W2 sampling floor and the PNG writers."""
import math
import os
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from otkit.proximal import make_dataset  # noqa: E402
from otkit.proximal import metrics as M  # noqa: E402
from otkit.proximal import plots as P  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """Every test here uses a fresh on-disk cache (the feature network is trained once for the file)."""
    d = str(tmp_path_factory.mktemp("otkit_cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OTKIT_CACHE", d)
        M.digits_feature_net.cache_clear()
        yield d
    M.digits_feature_net.cache_clear()


@pytest.fixture(scope="module")
def digits():
    return make_dataset("digits")


@pytest.fixture(scope="module")
def ring():
    return make_dataset("ring8")


def _assert_png(path):
    assert os.path.getsize(path) > 100
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC


# ------------------------------------------------------------------------------ feature network

def test_feature_net_accuracy_and_shapes(digits):
    net = M.digits_feature_net()
    assert M.digits_feature_net() is net  # memory cache
    acc = float((net.predict(digits.test_x) == digits.test_y).mean())
    assert acc >= 0.97, acc
    x = digits.test_x[:7]
    f = net.features(x)
    assert f.shape == (7, 64) and f.dtype == np.float64 and (f >= 0).all()
    np.testing.assert_allclose(net.features(x.reshape(7, 8, 8)), f, rtol=0, atol=0)
    np.testing.assert_allclose(net.features(torch.from_numpy(x).reshape(7, 1, 8, 8)), f, rtol=0, atol=0)
    p = net.predict_proba(x)
    assert p.shape == (7, 10)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=0, atol=1e-12)


def test_feature_net_disk_cache(cache_dir, monkeypatch):
    net = M.digits_feature_net()
    path = os.path.join(cache_dir, f"digits_featnet_{M._FEATNET_VERSION}.npz")
    assert os.path.exists(path)
    assert [n for n in os.listdir(cache_dir) if n.endswith(".tmp")] == []  # atomic write left no temp file
    ref = net.features(make_dataset("digits").test_x[:20])

    def no_training(*a, **k):
        raise AssertionError("retrained although the cache file is valid")

    M.digits_feature_net.cache_clear()
    with monkeypatch.context() as mp:
        mp.setattr(M, "_train_feature_net", no_training)
        loaded = M.digits_feature_net()  # from disk
    assert loaded is not net
    np.testing.assert_allclose(loaded.features(make_dataset("digits").test_x[:20]), ref, rtol=0, atol=0)

    # an unreadable cache file is replaced by a retrained (deterministic: the same) network
    calls = []
    real_train = M._train_feature_net
    monkeypatch.setattr(M, "_train_feature_net", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    with open(path, "wb") as f:
        f.write(b"not an npz file")
    M.digits_feature_net.cache_clear()
    rng_state = torch.get_rng_state()
    again = M.digits_feature_net()
    assert calls == [1]
    assert torch.equal(torch.get_rng_state(), rng_state)  # training leaves the global torch RNG alone
    np.testing.assert_allclose(again.features(make_dataset("digits").test_x[:20]), ref, rtol=1e-9, atol=1e-9)
    M._load_params(path)  # the rewritten file is readable


# ------------------------------------------------------------------------------ Frechet distance

def test_fd_self_zero_symmetric_and_default_reference(digits):
    a, b = digits.train_x[:400], digits.test_x
    assert abs(M.feature_frechet_distance(b, b)) < 1e-6
    assert abs(M.feature_frechet_distance(a, a)) < 1e-6
    ab, ba = M.feature_frechet_distance(a, b), M.feature_frechet_distance(b, a)
    assert ab > 0
    np.testing.assert_allclose(ab, ba, rtol=1e-6, atol=1e-9)
    # the default reference is the held-out split (cached statistics give the same number)
    np.testing.assert_allclose(M.feature_frechet_distance(a), ab, rtol=1e-8, atol=1e-9)
    # image-shaped input is flattened
    np.testing.assert_allclose(M.feature_frechet_distance(a.reshape(-1, 1, 8, 8)), ab, rtol=1e-8, atol=1e-9)


def test_gaussian_frechet_closed_form():
    rng = np.random.default_rng(0)
    # commuting (diagonal) covariances: ||mu1 - mu2||^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.1, 2.0, 5), rng.uniform(0.1, 2.0, 5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    want = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    np.testing.assert_allclose(M.gaussian_frechet_distance(mu1, np.diag(a), mu2, np.diag(b)), want, rtol=1e-10)
    # a rotation of both leaves it unchanged; a singular covariance is fine
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    got = M.gaussian_frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu2, q @ np.diag(b) @ q.T)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    s = np.diag([1.0, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(M.gaussian_frechet_distance(np.zeros(5), s, np.zeros(5), s), 0.0, atol=1e-12)
    # non-commuting covariances: tr((S1^1/2 S2 S1^1/2)^1/2) is the nuclear norm of S1^1/2 S2^1/2
    c1, c2 = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    c1, c2 = c1 @ c1.T, c2 @ c2.T
    tr_cross = np.linalg.svd(M._sqrt_psd(c1) @ M._sqrt_psd(c2), compute_uv=False).sum()  # nuclear norm
    want = np.trace(c1) + np.trace(c2) - 2 * tr_cross
    np.testing.assert_allclose(M.gaussian_frechet_distance(np.zeros(5), c1, np.zeros(5), c2), want, rtol=1e-8)
    with pytest.raises(ValueError, match="cov2"):
        M.gaussian_frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))


def test_fd_bad_input(digits):
    x = digits.test_x[:50].copy()
    x[3, 5] = np.nan
    with pytest.raises(ValueError, match="samples.*non-finite"):
        M.feature_frechet_distance(x)
    with pytest.raises(ValueError, match="reference.*non-finite"):
        M.feature_frechet_distance(digits.test_x[:50], x)
    with pytest.raises(ValueError, match=r"samples must have shape"):
        M.feature_frechet_distance(np.zeros((10, 63)))
    with pytest.raises(ValueError, match="samples needs at least 2"):
        M.feature_frechet_distance(digits.test_x[:1])
    with pytest.raises(ValueError, match="n must be >= 2"):
        M.feature_fd_reference_levels(1)


def test_reference_levels_order():
    lv = M.feature_fd_reference_levels(seed=0)
    assert set(lv) == {"train", "prototypes", "noisy", "half_classes", "collapse"}
    assert all(math.isfinite(v) and v >= 0 for v in lv.values())
    assert lv["train"] < min(lv["prototypes"], lv["noisy"])
    assert max(lv["prototypes"], lv["noisy"]) < lv["half_classes"] < lv["collapse"]
    lv2 = M.feature_fd_reference_levels(300, seed=1)
    assert lv2["train"] < min(lv2["prototypes"], lv2["noisy"])
    assert max(lv2["prototypes"], lv2["noisy"]) < lv2["half_classes"] < lv2["collapse"]


# ------------------------------------------------------------------------------ modes, floor, evaluate

def test_mode_kl_and_masses(ring):
    balanced = ring.heldout(2000)
    assert 0 <= M.mode_kl(balanced, ring.modes, ring.std) < 0.01
    one = ring.modes[0] + ring.std * np.random.default_rng(0).standard_normal((500, 2))
    np.testing.assert_allclose(M.mode_kl(one, ring.modes, ring.std), np.log(8), rtol=1e-6)
    far = np.full((10, 2), 50.0)  # no high-quality sample: as bad as a collapse
    np.testing.assert_allclose(M.mode_kl(far, ring.modes, ring.std), np.log(8), rtol=0, atol=1e-12)
    mixed = np.concatenate([balanced[:300], one[:200], far])
    m = M.mode_masses(mixed, ring.modes, ring.std)
    assert m.shape == (8,) and (m >= 0).all()
    hq = M.mode_stats(mixed, ring.modes, ring.std)[1]
    np.testing.assert_allclose(m.sum(), hq, rtol=0, atol=1e-12)
    assert m[0] == m.max()  # the extra single-mode samples
    with pytest.raises(ValueError, match="samples.*non-finite"):
        M.mode_kl(np.array([[np.nan, 0.0], [0.0, 0.0]]), ring.modes, ring.std)
    with pytest.raises(ValueError, match=r"samples must have shape \(n, 2\)"):
        M.mode_masses(np.zeros((4, 3)), ring.modes, ring.std)


def test_w2_floor(ring, digits):
    f = M.w2_floor(ring, 300, seed=0)
    assert 0 < f < 1 and f == M.w2_floor("ring8", 300, seed=0)
    assert M.w2_floor(ring, 300, seed=1) != f
    fd = M.w2_floor(digits, 200)
    assert fd > 0
    assert M.w2_floor(digits, 1000) == M.w2_floor(digits, 270)  # two disjoint halves of the 540
    with pytest.raises(ValueError, match="n must be >= 1"):
        M.w2_floor(ring, 0)


def test_evaluate_adds_fd_and_kl(ring, digits):
    x = digits.train_x[:500]
    r = M.evaluate(digits, x)
    assert set(r) == {"w2", "w2_floor", "modes", "hq", "fd"}
    np.testing.assert_allclose(r["w2_floor"], M.w2_floor(digits, 500), rtol=1e-12)
    np.testing.assert_allclose(r["fd"], M.feature_frechet_distance(x), rtol=1e-12)
    best = min(_timed(M.evaluate, digits, digits.train_x[i:i + 500]) for i in range(3))
    assert best < 0.5, best  # ~15 ms on one core: nothing is retrained or refitted per call
    r = M.evaluate(ring, ring._mixture(400, np.random.default_rng(3)), n=400)
    assert set(r) == {"w2", "w2_floor", "modes", "hq", "kl"} and r["kl"] < 0.05 and r["modes"] == 8
    assert r["w2"] < 2 * r["w2_floor"]  # a true sample scores near the floor


def _timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


# ------------------------------------------------------------------------------ plots

def test_save_samples_and_grids(tmp_path, ring, digits):
    plt = P._plt()
    rng = np.random.default_rng(0)
    P.save_samples(ring, ring.modes[0] + 0.02 * rng.standard_normal((300, 2)), tmp_path / "ring.png", "collapse")
    P.save_samples(digits, digits.train_x[:100], tmp_path / "digits.png")
    snaps = [(0.0, rng.standard_normal((200, 2))), (12.5, ring._mixture(200, rng)), (900.0, ring._mixture(200, rng))]
    P.save_sample_grids(ring, snaps, tmp_path / "ring_t.png", "ring8")
    P.save_sample_grids(digits, [(3.0, digits.train_x[:36])], tmp_path / "digits_t.png")
    P.save_sample_grids(ring, [], tmp_path / "empty.png")
    for name in ("ring", "digits", "ring_t", "digits_t", "empty"):
        _assert_png(tmp_path / f"{name}.png")
    assert plt.get_fignums() == []


def test_save_mode_histogram(tmp_path, ring, digits):
    grid = make_dataset("grid25")
    one = np.repeat(ring.modes[:1], 50, 0)
    P.save_mode_histogram(ring, {"data": ring.heldout(500), "one mode": one,
                                 "nan": np.full((5, 2), np.nan)}, tmp_path / "ring.png", "ring8")
    P.save_mode_histogram(grid, grid.heldout(500), tmp_path / "grid.png")
    P.save_mode_histogram(digits, {"train": digits.train_x, "0-4": digits.train_x[digits.train_y < 5]},
                          tmp_path / "digits.png")
    for name in ("ring", "grid", "digits"):
        _assert_png(tmp_path / f"{name}.png")
    masses = M.digit_class_masses(digits.test_x)
    assert masses.shape == (10,) and 0.9 < masses.sum() <= 1.0
    assert P._plt().get_fignums() == []


def test_save_metric_vs_time_with_nan(tmp_path):
    nan, inf = float("nan"), float("inf")
    curves = {
        "rwp": [[(0, 2.0), (10, 1.0), (20, 0.5)], [(0, 2.2), (9, nan), (19, 0.6), (30, 0.4)]],
        "plain": [[(0, 2.0), (15, inf), (30, 1.2)], [(5, 1.5)]],
        "diverged": [[(0, nan), (10, nan)]],
        "none": [],
    }
    for logy in (False, True):
        P.save_metric_vs_time(curves, tmp_path / f"c{logy}.png", "exact W2", "W2 vs time", logy=logy)
        _assert_png(tmp_path / f"c{logy}.png")
    P.save_metric_vs_time({"neg": [[(0, -1.0), (1, 0.0)]]}, tmp_path / "neg.png", "loss", logy=True)
    P.save_metric_vs_time({}, tmp_path / "empty.png", "W2")
    _assert_png(tmp_path / "neg.png")
    _assert_png(tmp_path / "empty.png")
    assert P._plt().get_fignums() == []


def test_interp_nan_gaps():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    v = np.array([0.0, 1.0, np.nan, 3.0])
    g = np.array([-1.0, 0.0, 0.5, 1.0, 1.5, 2.5, 3.0, 4.0])
    got = P._interp_nan(g, t, v)
    np.testing.assert_allclose(got, [np.nan, 0.0, 0.5, 1.0, np.nan, np.nan, 3.0, np.nan], rtol=0, atol=1e-15)
