"""BSP matchings (otkit.bsp, solve_sample(method="bsp")): bijections, exact in 1-D, merging never worse, close to
exact OT and to POT's solver, torch gradients, errors."""
import numpy as np
import pytest

import otkit
from otkit import bsp


def test_one_dimension_is_the_sorted_matching():
    rng = np.random.default_rng(0)
    x, y = rng.random((777, 1)), rng.normal(size=(777, 1))
    cost, perm, _ = bsp.compute_bspot_bijection(x, y, n_plans=2)
    np.testing.assert_array_equal(np.argsort(x[:, 0]), np.argsort(y[perm, 0]))  # monotone
    np.testing.assert_allclose(cost, otkit.wasserstein_1d(x[:, 0], y[:, 0], p=2), rtol=1e-12)


@pytest.mark.parametrize("n,d", [(1, 2), (2, 3), (7, 2), (300, 3)])
def test_matchings_are_bijections_and_merging_never_loses(n, d):
    rng = np.random.default_rng(n)
    x, y = rng.random((n, d)), rng.random((n, d)) + 0.5
    gen = np.random.default_rng(1)
    s, t = bsp.bsp_matching(x, y, gen), bsp.bsp_matching(x, y, gen, gaussian_slicing=True)
    for q in (s, t):
        np.testing.assert_array_equal(np.sort(q), np.arange(n))
    m = bsp.merge_bijections(x, y, s, t)
    np.testing.assert_array_equal(np.sort(m), np.arange(n))
    cost = lambda q: float(((x - y[q]) ** 2).sum())  # noqa: E731
    assert cost(m) <= min(cost(s), cost(t)) + 1e-12


def test_close_to_exact_ot_and_to_pot():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(2)
    x, y = rng.random((600, 2)), rng.random((600, 2)) + [1.0, 0.5]
    cost, perm, perms = bsp.compute_bspot_bijection(x, y, n_plans=32)
    exact = ot.emd2([], [], ot.dist(x, y))
    assert exact - 1e-12 <= cost <= exact * 1.01
    assert perms.shape == (32, 600)
    try:
        from ot.solvers._linear import compute_bspot_bijection as pot_bsp
    except ImportError:
        return
    pcost, _, _ = pot_bsp(x, y, n_plans=32)
    assert cost <= float(pcost) * 1.01


def test_solve_sample_bsp():
    rng = np.random.default_rng(3)
    x, y = rng.random((200, 2)), rng.random((200, 2)) + 1.0
    res = otkit.solve_sample(x, y, method="bsp", n_projections=8, random_state=4)
    P = res.sparse_plan.toarray()
    np.testing.assert_allclose(P.sum(0), 1 / 200)
    np.testing.assert_allclose(P.sum(1), 1 / 200)
    np.testing.assert_allclose(res.value, float(np.sum(P * otkit.dist(x, y))), rtol=1e-12)
    assert res.value == otkit.solve_sample(x, y, method="bsp", n_projections=8, random_state=4).value
    with pytest.raises(ValueError, match="uniform"):
        otkit.solve_sample(x, y, a=np.full(200, 1 / 200), method="bsp")


def test_torch_gradients_and_errors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, y = rng.random((50, 2)), rng.random((50, 2))
    X = torch.tensor(x, requires_grad=True)
    cost, perm, _ = bsp.compute_bspot_bijection(X, torch.tensor(y), n_plans=4)
    cost.backward()
    np.testing.assert_allclose(X.grad.numpy(), 2 * (x - y[perm.numpy()]) / 50, rtol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        bsp.compute_bspot_bijection(x, y[:10])
    with pytest.raises(ValueError, match="finite"):
        bsp.compute_bspot_bijection(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_plans"):
        bsp.compute_bspot_bijection(x, y, n_plans=0)
    with pytest.raises(ValueError, match="p must"):
        bsp.compute_bspot_bijection(x, y, p=0.5)
    with pytest.raises(ValueError, match="initial_perm"):
        bsp.compute_bspot_bijection(x, y, initial_perm=np.zeros(50, dtype=int))
    _, perm0, _ = bsp.compute_bspot_bijection(x, y, n_plans=1, seed=9)
    c1, _, _ = bsp.compute_bspot_bijection(x, y, n_plans=3, initial_perm=perm0)
    assert c1 <= float(np.mean(np.sum((x - y[perm0]) ** 2, 1))) + 1e-15
