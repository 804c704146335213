"""Sliced Wasserstein distances and the Bures-Wasserstein distance (otkit.sliced, otkit.gaussian) and the
solve_sample methods built on them ("1d", "sliced", "max_sliced", "gaussian").

References: POT (same seeds, same directions), closed forms (shifted clouds, Gaussians with commuting
covariances), scipy's 1-D distance, central finite differences for torch gradients.
"""
import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")


def clouds(n=60, m=45, d=3, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return rng.standard_normal((n, d)), rng.standard_normal((m, d)) + 0.5, a / a.sum(), b / b.sum()


def test_random_projections_are_pots():
    P = otkit.get_random_projections(4, 7, seed=3)
    np.testing.assert_allclose(P, ot.sliced.get_random_projections(4, 7, seed=3), rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(P, axis=0), 1.0, rtol=1e-14)


@pytest.mark.parametrize("p", [1, 2, 1.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_sliced_equals_pot(p, weighted):
    xs, xt, a, b = clouds()
    w = dict(a=a, b=b) if weighted else {}
    for fn, ref in ((otkit.sliced_wasserstein_distance, ot.sliced_wasserstein_distance),
                    (otkit.max_sliced_wasserstein_distance, ot.max_sliced_wasserstein_distance)):
        v, lg = fn(xs, xt, n_projections=30, p=p, seed=5, log=True, **w)
        r, rlg = ref(xs, xt, n_projections=30, p=p, seed=5, log=True, **w)
        np.testing.assert_allclose(v, r, rtol=1e-12)
        np.testing.assert_allclose(lg["projected_emds"], rlg["projected_emds"], rtol=1e-12)
        P = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
        np.testing.assert_allclose(fn(xs, xt, projections=P, p=p, **w), ref(xs, xt, projections=P, p=p, **w),
                                   rtol=1e-12)


def test_sliced_closed_forms():
    x = np.random.default_rng(0).standard_normal((300, 2))
    P = np.array([[1.0, 0.0], [0.0, 1.0]]).T
    # a shift t: W_p along theta is |<t, theta>| for every p
    sw = otkit.sliced_wasserstein_distance(x, x + [3.0, 4.0], projections=P, p=2)
    np.testing.assert_allclose(sw, np.sqrt((9 + 16) / 2), rtol=1e-12)
    np.testing.assert_allclose(otkit.max_sliced_wasserstein_distance(x, x + [3.0, 4.0], projections=P, p=1), 4.0,
                               rtol=1e-12)
    from scipy.stats import wasserstein_distance
    y = np.random.default_rng(1).standard_normal((200, 2))
    e = np.array([[1.0], [0.0]])
    np.testing.assert_allclose(otkit.sliced_wasserstein_distance(x, y, projections=e, p=1),
                               wasserstein_distance(x[:, 0], y[:, 0]), rtol=1e-12)


def test_sliced_torch_gradient_and_dtype():
    torch = pytest.importorskip("torch")
    xs, xt, a, b = clouds(20, 15, d=2)
    P = otkit.get_random_projections(2, 10, seed=0)
    X = torch.tensor(xs, requires_grad=True)
    v = otkit.sliced_wasserstein_distance(X, torch.tensor(xt), projections=torch.tensor(P))
    assert isinstance(v, torch.Tensor) and v.dtype == torch.float64
    v.backward()
    E = np.random.default_rng(2).standard_normal(xs.shape)
    h = 1e-6
    fd = (otkit.sliced_wasserstein_distance(xs + h * E, xt, projections=P)
          - otkit.sliced_wasserstein_distance(xs - h * E, xt, projections=P)) / (2 * h)
    np.testing.assert_allclose((X.grad.numpy() * E).sum(), fd, rtol=1e-6)
    v32 = otkit.sliced_wasserstein_distance(torch.tensor(xs, dtype=torch.float32), torch.tensor(xt, dtype=torch.float32),
                                            seed=0)
    assert v32.dtype == torch.float32


def test_bures_closed_form_and_pot():
    ms, mt = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    Cs, Ct = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    ref = 4 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2  # commuting covariances: (sqrt(s) - sqrt(t))^2 per axis
    np.testing.assert_allclose(otkit.bures_wasserstein_distance(ms, mt, Cs, Ct) ** 2, ref, rtol=1e-12)
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    Cs, Ct = A @ A.T + 0.1 * np.eye(3), B @ B.T + 0.1 * np.eye(3)
    np.testing.assert_allclose(otkit.bures_wasserstein_distance(ms[:1].repeat(3), mt[:1].repeat(3), Cs, Ct),
                               ot.gaussian.bures_wasserstein_distance(ms[:1].repeat(3), mt[:1].repeat(3), Cs, Ct),
                               rtol=1e-9)


@pytest.mark.parametrize("bias", [True, False])
def test_empirical_bures_equals_pot(bias):
    xs, xt, a, b = clouds()
    ref = ot.gaussian.empirical_bures_wasserstein_distance(xs, xt, reg=1e-3, ws=a[:, None], wt=b[:, None], bias=bias)
    np.testing.assert_allclose(otkit.empirical_bures_wasserstein_distance(xs, xt, reg=1e-3, ws=a, wt=b, bias=bias),
                               ref, rtol=1e-9)
    np.testing.assert_allclose(otkit.empirical_bures_wasserstein_distance(xs, xt),
                               ot.gaussian.empirical_bures_wasserstein_distance(xs, xt), rtol=1e-9)


def test_empirical_bures_torch_gradient():
    torch = pytest.importorskip("torch")
    xs, xt, _, _ = clouds(30, 25, d=2)
    X = torch.tensor(xs, requires_grad=True)
    otkit.empirical_bures_wasserstein_distance(X, torch.tensor(xt)).backward()
    E = np.random.default_rng(4).standard_normal(xs.shape)
    h = 1e-6
    fd = (otkit.empirical_bures_wasserstein_distance(xs + h * E, xt)
          - otkit.empirical_bures_wasserstein_distance(xs - h * E, xt)) / (2 * h)
    np.testing.assert_allclose((X.grad.numpy() * E).sum(), fd, rtol=1e-6)


@pytest.mark.parametrize("method,metric", [("1d", "sqeuclidean"), ("1d", "euclidean"), ("sliced", "sqeuclidean"),
                                           ("max_sliced", "euclidean"), ("gaussian", "sqeuclidean")])
def test_solve_sample_methods_equal_pot(method, metric):
    xs, xt, a, b = clouds()
    kw = dict(n_projections=20, random_state=7) if "sliced" in method else {}
    res = otkit.solve_sample(xs, xt, a, b, metric=metric, method=method, **kw)
    ref = ot.solve_sample(xs, xt, a, b, metric=metric, method=method, **kw)
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-9)
    np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-9)
    assert res.plan is None


def test_errors_name_the_argument():
    xs, xt, a, b = clouds()
    with pytest.raises(ValueError, match="projections"):
        otkit.sliced_wasserstein_distance(xs, xt, projections=np.eye(2))
    with pytest.raises(ValueError, match="p must"):
        otkit.sliced_wasserstein_distance(xs, xt, p=0)
    with pytest.raises(ValueError, match="same dimension"):
        otkit.sliced_wasserstein_distance(xs, xt[:, :2])
    with pytest.raises(ValueError, match="n_projections"):
        otkit.sliced_wasserstein_distance(xs, xt, n_projections=0)
    with pytest.raises(ValueError, match="Ct"):
        otkit.bures_wasserstein_distance(np.zeros(2), np.zeros(2), np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="ws"):
        otkit.empirical_bures_wasserstein_distance(xs, xt, ws=a[:-1])
    with pytest.raises(NotImplementedError, match="gaussian"):
        otkit.solve_sample(xs, xt, method="gaussian", metric="euclidean")


def test_doctests():
    import doctest
    import sys

    for name in ("otkit.sliced", "otkit.gaussian"):
        res = doctest.testmod(sys.modules[name], optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.attempted > 0 and res.failed == 0, name


# ------------------------------------------------------------------ high-dimensional Gaussians (probabilistic PCA)

@pytest.mark.parametrize("n,p,d,reg", [(100, 30, 5, 0.0), (80, 200, 10, 1e-5), (300, 50, (3, 7), 0.1)])
def test_bures_hd_matches_pot_and_the_full_covariance_formula(n, p, d, reg):
    ot = pytest.importorskip("ot")
    from otkit import gaussian

    rng = np.random.default_rng(p)
    xs = rng.standard_normal((n, p)) @ rng.standard_normal((p, p)) * 0.3
    xt = rng.standard_normal((n + 10, p)) + 0.2
    ws = rng.random(n) + 0.1
    W, lg = gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, d, reg=reg, ws=ws, log=True)
    ref = ot.gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, d, reg=reg, ws=ws.reshape(-1, 1))
    np.testing.assert_allclose(W, float(np.ravel(ref)[0]), rtol=1e-10)
    # the trace of the square root on span(Us, Ut) plus its closed form outside: the p x p formula's value
    Cs = lg["Us"] @ np.diag(lg["ls"]) @ lg["Us"].T + lg["sigma2_s"] * np.eye(p)
    Ct = lg["Ut"] @ np.diag(lg["lt"]) @ lg["Ut"].T + lg["sigma2_t"] * np.eye(p)
    np.testing.assert_allclose(otkit.bures_wasserstein_distance(lg["ms"], lg["mt"], Cs, Ct), W, rtol=1e-10)


def test_bures_hd_solve_sample_torch_and_errors():
    torch = pytest.importorskip("torch")
    from otkit import gaussian

    rng = np.random.default_rng(1)
    xs, xt = rng.standard_normal((60, 20)), rng.standard_normal((50, 20)) + 0.3
    res = otkit.solve_sample(xs, xt, method="gaussian_hd", rank=4)
    np.testing.assert_allclose(res.value, gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, 4, reg=1e-5) ** 2,
                               rtol=1e-14)
    with pytest.warns(UserWarning, match="rank"):
        otkit.solve_sample(xs, xt, method="gaussian_hd", rank=50)
    X = torch.tensor(xs, requires_grad=True)
    W = gaussian.empirical_bures_wasserstein_distance_hd(X, torch.tensor(xt), 3, reg=1e-3)
    W.backward()
    assert isinstance(W, torch.Tensor) and torch.isfinite(X.grad).all()
    k, h = (2, 5), 1e-6
    vals = []
    for s in (1, -1):
        xp = xs.copy()
        xp[k] += s * h
        vals.append(gaussian.empirical_bures_wasserstein_distance_hd(xp, xt, 3, reg=1e-3))
    np.testing.assert_allclose(X.grad[k].item(), (vals[0] - vals[1]) / (2 * h), rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="d_intrinsic"):
        gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, 0)
    with pytest.raises(ValueError, match="d_intrinsic"):
        gaussian.empirical_bures_wasserstein_distance_hd(xs[:5], xt, 10)
    with pytest.raises(ValueError, match="xt has non-finite"):
        gaussian.empirical_bures_wasserstein_distance_hd(xs, np.full((5, 20), np.nan), 3)
    with pytest.raises(ValueError, match="ws"):
        gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, 3, ws=-np.ones(60))
    with pytest.raises(ValueError, match="reg"):
        gaussian.empirical_bures_wasserstein_distance_hd(xs, xt, 3, reg=-1.0)
