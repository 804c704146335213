"""Exact OT between point clouds without the cost matrix: otkit.emd2_sample / emd_sample against POT's dense
ot.emd2, scipy (linprog HiGHS, wasserstein_distance), LP optimality of the returned potentials, torch gradients
against POT's and finite differences, and solve_sample(lazy=True, reg=0)."""
import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.stats import wasserstein_distance

import otkit
from otkit.emd import cloud_costs

METRICS = ["sqeuclidean", "euclidean"]


def _clouds(n, m, d, seed, weights=True):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5
    if not weights:
        return x, y, np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    a, b = rng.random(n) + 0.05, rng.random(m) + 0.05
    return x, y, a / a.sum(), b / b.sum()


def _check_optimality(x, y, a, b, metric, W, lg, rtol=1e-12):
    """Primal feasible, dual feasible, complementary slackness, zero duality gap (certifies optimality)."""
    C = cloud_costs(x, y, metric == "euclidean")
    u, v = lg["u"], lg["v"]
    scale = np.abs(C).max()
    assert (u[:, None] + v[None, :] - C).max() <= 1e-12 * scale
    G = lg["G"].toarray()
    assert G.min() >= 0
    np.testing.assert_allclose(G.sum(1), a, rtol=0, atol=1e-14)
    np.testing.assert_allclose(G.sum(0), b, rtol=0, atol=1e-14)
    on = G > 0
    np.testing.assert_allclose((u[:, None] + v[None, :])[on], C[on], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(float(a @ u + b @ v), W, rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(float((G * C).sum()), W, rtol=rtol)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n,m,d,uniform", [(40, 40, 2, True), (57, 31, 3, False), (120, 90, 2, False),
                                           (25, 60, 1, False), (200, 200, 2, True)])
def test_equals_pot_dense_and_is_optimal(backend, metric, n, m, d, uniform):
    x, y, a, b = _clouds(n, m, d, n + m + d, weights=not uniform)
    W, lg = otkit.emd2_sample(x, y, a, b, metric=metric, return_plan=True, backend=backend)
    ref = ot.emd2(a, b, ot.dist(x, y, metric=metric), numItermax=10**7)
    np.testing.assert_allclose(W, ref, rtol=1e-9)
    assert lg["converged"] and lg["result_code"] == 1 and lg["backend"] == backend
    _check_optimality(x, y, a, b, metric, W, lg)
    # the same optimum as otkit's dense solver on the same costs
    Wd, lgd = otkit.emd2(a, b, cloud_costs(x, y, metric == "euclidean"), numItermax=10**7, log=True, backend=backend)
    np.testing.assert_allclose(W, Wd, rtol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_linprog_highs(metric):
    x, y, a, b = _clouds(12, 9, 2, 7)
    C = cloud_costs(x, y, metric == "euclidean")
    n, m = C.shape
    A = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    res = linprog(C.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    np.testing.assert_allclose(otkit.emd2_sample(x, y, a, b, metric=metric), res.fun, rtol=1e-9)


def test_one_dimension_closed_form(backend):
    rng = np.random.default_rng(3)
    x, y = rng.random(300), rng.random(250) * 2
    a, b = rng.random(300), rng.random(250)
    a, b = a / a.sum(), b / b.sum()
    W = otkit.emd2_sample(x[:, None], y[:, None], a, b, metric="euclidean", backend=backend)
    np.testing.assert_allclose(W, wasserstein_distance(x, y, a, b), rtol=1e-10)
    W2 = otkit.emd2_sample(x[:, None], y[:, None], a, b, backend=backend)
    np.testing.assert_allclose(W2, ot.wasserstein_1d(x, y, a, b, p=2), rtol=1e-10)


def test_degenerate_instances(backend):
    rng = np.random.default_rng(5)
    # duplicate points, integer grid (many ties), zero weights, n != m
    x = np.repeat(rng.integers(0, 4, size=(15, 2)).astype(float), 2, axis=0)
    y = rng.integers(0, 4, size=(23, 2)).astype(float)
    a, b = np.full(30, 1 / 30), rng.random(23)
    a[[0, 5, 6]] = 0.0
    b[[2, 3]] = 0.0
    a, b = a / a.sum(), b / b.sum()
    for metric in METRICS:
        W, lg = otkit.emd2_sample(x, y, a, b, metric=metric, return_plan=True, backend=backend)
        np.testing.assert_allclose(W, ot.emd2(a, b, ot.dist(x, y, metric=metric)), rtol=1e-12, atol=1e-15)
        _check_optimality(x, y, a, b, metric, W, lg)
    # identical clouds: zero cost, the identity plan
    G = otkit.emd_sample(y, y, backend=backend).toarray()
    np.testing.assert_allclose(G, np.eye(23) / 23, atol=1e-15)


def test_emd_sample_plan_and_log():
    x, y, a, b = _clouds(50, 40, 2, 11)
    G, lg = otkit.emd_sample(x, y, a, b, log=True)
    ref = ot.emd(a, b, ot.dist(x, y))
    np.testing.assert_allclose(G.toarray(), ref, atol=1e-14)  # unique optimum on generic points
    assert G.nnz <= 50 + 40 - 1
    np.testing.assert_allclose(lg["cost"], (ref * ot.dist(x, y)).sum(), rtol=1e-12)


def test_pivot_budget_warns_and_stays_feasible():
    x, y, a, b = _clouds(60, 60, 2, 2)
    with pytest.warns(UserWarning, match="numItermax"):
        W, lg = otkit.emd2_sample(x, y, a, b, numItermax=5, return_plan=True)
    assert not lg["converged"] and lg["result_code"] == 3
    G = lg["G"].toarray()
    np.testing.assert_allclose(G.sum(1), a, atol=1e-14)
    assert W >= otkit.emd2_sample(x, y, a, b) - 1e-15


def test_bad_input_names_the_argument():
    x, y, a, b = _clouds(10, 8, 2, 0)
    with pytest.raises(ValueError, match="metric"):
        otkit.emd2_sample(x, y, metric="cityblock")
    with pytest.raises(ValueError, match="same dimension"):
        otkit.emd2_sample(x, y[:, :1])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X_a"):
        otkit.emd2_sample(bad, y)
    with pytest.raises(ValueError, match="X_b"):
        otkit.emd2_sample(x, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="a"):
        otkit.emd2_sample(x, y, -a, b)
    with pytest.raises(ValueError, match="b"):
        otkit.emd2_sample(x, y, a, b[:5])
    with pytest.raises(ValueError, match="mass"):
        otkit.emd2_sample(x, y, a, 2 * b)
    np.testing.assert_allclose(otkit.emd2_sample(x, y, a, 2 * b, check_marginals=False), otkit.emd2_sample(x, y, a, b),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="numItermax"):
        otkit.emd2_sample(x, y, numItermax=-1)


def test_numba_fallback_refuses_what_does_not_fit(monkeypatch):
    from otkit import bregman
    from otkit._numba import emd as nemd

    monkeypatch.setattr(bregman, "_kernel_fits", lambda n, m, dt: False)
    x, y, a, b = _clouds(10, 8, 2, 0)
    with pytest.raises(MemoryError, match="on the fly"):
        nemd.emd_network_simplex_cloud(x, y, a, b, 100)


def test_torch_gradients_equal_pot_and_finite_differences():
    torch = pytest.importorskip("torch")
    x, y, a, b = _clouds(70, 50, 2, 21)
    for metric in METRICS:
        xt, yt, at, bt = (torch.tensor(v, requires_grad=True) for v in (x, y, a, b))
        W = otkit.emd2_sample(xt, yt, at, bt, metric=metric)
        assert isinstance(W, torch.Tensor) and W.dtype == torch.float64 and W.requires_grad
        W.backward()
        xr, yr, ar, br = (torch.tensor(v, requires_grad=True) for v in (x, y, a, b))
        R = ot.emd2(ar, br, ot.dist(xr, yr, metric=metric))
        R.backward()
        np.testing.assert_allclose(W.item(), R.item(), rtol=1e-12)
        for g, r in ((xt.grad, xr.grad), (yt.grad, yr.grad), (at.grad, ar.grad), (bt.grad, br.grad)):
            np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-7, atol=1e-12)
    # finite differences in the points (the optimal plan is unique on generic points: the value is smooth there)
    xt = torch.tensor(x, requires_grad=True)
    otkit.emd2_sample(xt, y, a, b).backward()
    h = 1e-6
    for i, c in [(0, 0), (13, 1), (69, 0)]:
        xp, xm = x.copy(), x.copy()
        xp[i, c] += h
        xm[i, c] -= h
        fd = (otkit.emd2_sample(xp, y, a, b) - otkit.emd2_sample(xm, y, a, b)) / (2 * h)
        np.testing.assert_allclose(xt.grad[i, c].item(), fd, rtol=1e-6, atol=1e-10)


def test_emd_sample_torch_returns_a_sparse_tensor():
    torch = pytest.importorskip("torch")
    x, y, a, b = _clouds(30, 20, 2, 6)
    G = otkit.emd_sample(torch.tensor(x, dtype=torch.float32, requires_grad=True), torch.tensor(y, dtype=torch.float32))
    assert G.is_sparse and G.dtype == torch.float32 and G.shape == (30, 20)
    np.testing.assert_allclose(G.to_dense().numpy(), otkit.emd_sample(x, y).toarray(), rtol=1e-6, atol=1e-7)


def test_torch_float32_stays_float32():
    torch = pytest.importorskip("torch")
    x, y, a, b = _clouds(30, 20, 2, 4)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    W = otkit.emd2_sample(xt, torch.tensor(y, dtype=torch.float32))
    assert W.dtype == torch.float32
    W.backward()
    assert xt.grad.dtype == torch.float32
    np.testing.assert_allclose(W.item(), otkit.emd2_sample(x.astype(np.float32), y.astype(np.float32)), rtol=1e-6)


def test_solve_sample_lazy_exact():
    x, y, a, b = _clouds(80, 60, 2, 8)
    lazy = otkit.solve_sample(x, y, a, b, lazy=True)
    dense = otkit.solve_sample(x, y, a, b)
    np.testing.assert_allclose(lazy.value, dense.value, rtol=1e-12)
    np.testing.assert_allclose(lazy.value_linear, dense.value_linear, rtol=1e-12)
    assert lazy.plan is None and lazy.status == "Converged"
    np.testing.assert_allclose(lazy.sparse_plan.toarray(), dense.plan, atol=1e-14)
    lazy0 = otkit.solve_sample(x, y, a, b, reg=0.0, lazy=True, metric="euclidean")
    np.testing.assert_allclose(lazy0.value, otkit.solve_sample(x, y, a, b, metric="euclidean").value, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), d=st.integers(1, 3), seed=st.integers(0, 10**6),
       metric=st.sampled_from(METRICS), grid=st.booleans())
def test_property_equals_dense_emd_and_bounds(n, m, d, seed, metric, grid):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    if grid:  # ties and duplicate points
        x, y = np.round(x), np.round(y)
    a, b = rng.random(n) + 1e-3, rng.random(m) + 1e-3
    a, b = a / a.sum(), b / b.sum()
    W = otkit.emd2_sample(x, y, a, b, metric=metric)
    C = cloud_costs(x, y, metric == "euclidean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = otkit.emd2(a, b, C)
    np.testing.assert_allclose(W, ref, rtol=1e-12, atol=1e-15)
    assert W <= float(a @ C @ b) + 1e-12  # no plan beats the optimum: the product plan is one
    assert W >= -1e-15
