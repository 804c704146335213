"""solve_sample's GeomLoss method, debias (True / "split") and scaler, against POT, GeomLoss, otkit's own
converged solvers and the primal objective computed on the dense plan."""
import inspect
import warnings

import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")


def _clouds(n=60, m=45, seed=0):
    rng = np.random.default_rng(seed)
    xa, xb = rng.random((n, 2)), rng.random((m, 2)) + [0.3, 0.0]
    a = rng.random(n) + 0.1
    return xa, xb, a / a.sum()


def _pot_has(kw):
    return kw in inspect.signature(ot.solve_sample).parameters


def _kl(p, q):
    p, q = np.ravel(p), np.ravel(q)
    return float(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / q), 0.0)) - p.sum() + q.sum())


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("reg", [0.1, 0.02])
def test_geomloss_method_is_the_regularized_objective(metric, reg):
    xa, xb, a = _clouds()
    res = otkit.solve_sample(xa, xb, a=a, reg=reg, metric=metric, method="geomloss", tol=1e-12)
    # the dense log-domain solve of the same problem: its plan's primal objective
    M = otkit.dist(xa, xb, metric=metric)
    b = np.full(len(xb), 1.0 / len(xb))
    P = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=100000)
    primal = float(np.sum(P * M)) + reg * _kl(P, np.outer(a, b))
    np.testing.assert_allclose(res.value, primal, rtol=1e-9)
    assert res.value_linear is None and res.status == "Converged"
    # potentials: P = a b^T exp((f + g - C) / reg), the lazy plan is that plan
    f, g = res.potentials
    np.testing.assert_allclose(np.outer(a, b) * np.exp((f[:, None] + g[None, :] - M) / reg), P, atol=1e-12)
    np.testing.assert_allclose(np.asarray(res.lazy_plan), P, atol=1e-12)


@pytest.mark.parametrize("method", ["geomloss_tensorized", "geomloss_online", "geomloss_multiscale", "geomloss_auto"])
def test_geomloss_backends_agree(method):
    xa, xb, a = _clouds(120, 90, seed=1)
    ref = otkit.solve_sample(xa, xb, a=a, reg=0.05, method="geomloss", tol=1e-11)
    res = otkit.solve_sample(xa, xb, a=a, reg=0.05, method=method, tol=1e-11)
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-8)


def test_geomloss_method_matches_geomloss():
    torch = pytest.importorskip("torch")
    got = pytest.importorskip("geomloss.ot")
    xa, xb, a = _clouds(150, 100, seed=2)
    T = torch.tensor
    for unbalanced in (None, 0.5):
        ref = got.solve_sample(T(xa), T(xb), a=T(a), reg=0.05, unbalanced=unbalanced, max_iter=1000)
        res = otkit.solve_sample(xa, xb, a=a, reg=0.05, unbalanced=unbalanced, method="geomloss")
        # GeomLoss stops after its 1000 annealing steps; otkit goes on to tol 1e-9
        np.testing.assert_allclose(res.value, float(ref.value), rtol=2e-4)
    if _pot_has("debias"):
        pot = ot.solve_sample(T(xa), T(xb), a=T(a), reg=0.05, method="geomloss")
        res = otkit.solve_sample(xa, xb, a=a, reg=0.05, method="geomloss")
        np.testing.assert_allclose(res.value, float(pot.value), rtol=1e-6)
        f, g = res.potentials  # defined up to f + c, g - c
        c = np.mean(pot.potential_a.numpy() - f)
        np.testing.assert_allclose(pot.potential_a.numpy() - c, f, atol=1e-3)
        np.testing.assert_allclose(pot.potential_b.numpy() + c, g, atol=1e-3)


def test_geomloss_unbalanced_is_its_primal_objective():
    xa, xb, a = _clouds(50, 40, seed=3)
    reg, rho = 0.05, 0.5
    res = otkit.solve_sample(xa, xb, a=a, reg=reg, unbalanced=rho, method="geomloss", tol=1e-12)
    M = otkit.dist(xa, xb)
    b = np.full(len(xb), 1.0 / len(xb))
    P = ot.unbalanced.sinkhorn_unbalanced(a, b, M, reg, rho, stopThr=1e-14, numItermax=200000)
    primal = (float(np.sum(P * M)) + reg * _kl(P, np.outer(a, b)) + rho * (_kl(P.sum(1), a) + _kl(P.sum(0), b)))
    np.testing.assert_allclose(res.value, primal, rtol=1e-8)


def test_geomloss_method_gradients():
    torch = pytest.importorskip("torch")
    xa, xb, a = _clouds(30, 25, seed=4)
    X = torch.tensor(xa, requires_grad=True)
    res = otkit.solve_sample(X, torch.tensor(xb), a=torch.tensor(a), reg=0.1, method="geomloss", tol=1e-12)
    assert isinstance(res.value, torch.Tensor) and res.value.dtype == torch.float64
    res.value.backward()
    h, k = 1e-6, (3, 1)
    fd = []
    for s in (1, -1):
        xp = xa.copy()
        xp[k] += s * h
        fd.append(otkit.solve_sample(xp, xb, a=a, reg=0.1, method="geomloss", tol=1e-12).value)
    np.testing.assert_allclose(X.grad[k].item(), (fd[0] - fd[1]) / (2 * h), rtol=1e-5)
    assert isinstance(res.potentials[0], torch.Tensor)


def test_geomloss_method_errors():
    xa, xb, _ = _clouds()
    with pytest.raises(TypeError, match="reg > 0"):
        otkit.solve_sample(xa, xb, method="geomloss")
    with pytest.raises(ValueError, match="reg > 0"):
        otkit.solve_sample(xa, xb, reg=0, method="geomloss")
    with pytest.raises(NotImplementedError, match="metric"):
        otkit.solve_sample(xa, xb, reg=0.1, metric="cityblock", method="geomloss")
    with pytest.raises(ValueError, match="geomloss_fast"):
        otkit.solve_sample(xa, xb, reg=0.1, method="geomloss_fast")
    with pytest.raises(ValueError, match="scaling"):
        otkit.solve_sample(xa, xb, reg=0.1, method="geomloss", scaling=1.5)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = otkit.solve_sample(xa, xb, reg=0.001, method="geomloss", max_iter=3)
    assert res.status != "Converged" and any("did not converge" in str(x.message) for x in w)


@pytest.mark.parametrize("kw", [dict(reg=0.05), dict(), dict(reg=0.05, unbalanced=1.0)])
def test_debias_matches_pot(kw):
    if not _pot_has("debias"):
        pytest.skip("POT without solve_sample(debias=...)")
    xa, xb, a = _clouds(40, 30, seed=5)
    for debias in (True, "split"):
        ref = ot.solve_sample(xa, xb, a=a, debias=debias, tol=1e-12, max_iter=100000, **kw)
        res = otkit.solve_sample(xa, xb, a=a, debias=debias, tol=1e-12, max_iter=100000, **kw)
        np.testing.assert_allclose(res.value, ref.value, rtol=1e-8, atol=1e-12)
        if debias is True and ref.value_linear is not None:
            np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-8, atol=1e-12)
        keys = {"res_aa", "res_bb", "res_ab"} if debias is True else {"res_aa", "res_bb", "res_ab1", "res_ab2"}
        assert keys <= set(res.log)


def test_debias_lazy_equals_dense():
    # (POT's lazy value is None, so its debiased lazy solve fails: compared with otkit's dense one)
    xa, xb, a = _clouds(40, 30, seed=5)
    for debias in (True, "split"):
        dense = otkit.solve_sample(xa, xb, a=a, reg=0.05, debias=debias, tol=1e-12, max_iter=100000)
        lazy = otkit.solve_sample(xa, xb, a=a, reg=0.05, debias=debias, tol=1e-12, max_iter=100000, lazy=True)
        np.testing.assert_allclose(lazy.value, dense.value, rtol=1e-7)


def test_debias_identical_clouds_and_split_halves():
    xa, _, a = _clouds(41, 30, seed=6)
    res = otkit.solve_sample(xa, xa, a=a, b=a, reg=0.05, debias=True)
    assert abs(res.value) < 1e-12
    # the split point is shared: the halves hold half the mass each, one point in both
    from otkit.solve import _split_half

    X1, w1, X2, w2 = _split_half(xa, a, None, ("X_a", "a"))
    np.testing.assert_allclose([w1.sum(), w2.sum()], [0.5 * a.sum()] * 2, rtol=1e-14)
    assert len(X1) + len(X2) in (len(xa), len(xa) + 1)
    with pytest.raises(ValueError, match="debias"):
        otkit.solve_sample(xa, xa, reg=0.05, debias="halves")
    with pytest.raises(ValueError, match="a must be finite"):
        otkit.solve_sample(xa, xa, a=-a, reg=0.05, debias="split")
    with pytest.raises(ValueError, match="b has shape"):
        otkit.solve_sample(xa, xa, b=a[1:], reg=0.05, debias="split")


def test_debias_torch_gradients_flow():
    torch = pytest.importorskip("torch")
    xa, xb, a = _clouds(30, 20, seed=7)
    X = torch.tensor(xa, requires_grad=True)
    res = otkit.solve_sample(X, torch.tensor(xb), reg=0.1, debias=True)
    res.value.backward()
    assert X.grad is not None and torch.isfinite(X.grad).all()


def test_scaler():
    xa, xb, a = _clouds(30, 20, seed=8)
    ref = otkit.solve_sample(2 * xa, 2 * xb, reg=0.1)

    class Doubler:
        def transform(self, x):
            return 2 * x

    for scaler in (Doubler(), lambda x: 2 * x):
        np.testing.assert_allclose(otkit.solve_sample(xa, xb, reg=0.1, scaler=scaler).value, ref.value, rtol=1e-14)
    with pytest.raises(TypeError, match="scaler"):
        otkit.solve_sample(xa, xb, reg=0.1, scaler=3)
