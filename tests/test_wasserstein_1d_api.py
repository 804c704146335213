"""The 1-D functions as POT has them: batched (n, d) values, return_plans, emd2_1d, and torch tensors in
and out with gradients (against POT's torch backend and finite differences)."""
import numpy as np
import ot
import pytest

import otkit


def _problem(seed, n=7, m=5, d=3):
    rng = np.random.default_rng(seed)
    wu, wv = rng.random((n, d)) + 0.1, rng.random(m) + 0.1
    # probability weights (otkit normalizes the weights; POT integrates the unnormalized cumulative sums)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.3, wu / wu.sum(0), wv / wv.sum()


@pytest.mark.parametrize("p", [1, 2, 1.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_batched_values_agree_with_pot(p, seed):
    u, v, wu, wv = _problem(seed)
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v, p=p), ot.wasserstein_1d(u, v, p=p), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v, wu, wv, p=p),
                               ot.wasserstein_1d(u, v, wu, np.repeat(wv[:, None], 3, 1), p=p), rtol=1e-12, atol=1e-14)
    # the batched form is the 1-D form column by column
    for k in range(3):
        np.testing.assert_allclose(otkit.wasserstein_1d(u, v, wu, wv, p=p)[k],
                                   otkit.wasserstein_1d(u[:, k], v[:, k], wu[:, k], wv, p=p), rtol=1e-13)


def test_return_plans():
    u, v, wu, wv = _problem(2)
    cost, plans = otkit.wasserstein_1d(u, v, wu, wv, p=2, return_plans=True)
    ref_cost, ref_plans = ot.wasserstein_1d(u, v, wu, np.repeat(wv[:, None], 3, 1), p=2, return_plans=True)
    np.testing.assert_allclose(cost, ref_cost, rtol=1e-12)
    assert len(plans) == 3
    for P, R, k in zip(plans, ref_plans, range(3)):
        np.testing.assert_allclose(P.toarray(), R.toarray(), atol=1e-14)
        np.testing.assert_allclose(P.toarray().sum(1), wu[:, k] / wu[:, k].sum(), atol=1e-14)
    c1, P1 = otkit.wasserstein_1d(u[:, 0], v[:, 0], return_plans=True)  # 1-D input: one plan (POT raises here)
    assert P1.shape == (7, 5) and np.isclose(c1, otkit.wasserstein_1d(u[:, 0], v[:, 0]))
    data, rows, cols = otkit.wasserstein_1d(u[:, 0], v[:, 0], return_plans="coo_tuple")[1]
    np.testing.assert_allclose(np.bincount(rows, weights=data, minlength=7), 1 / 7, atol=1e-14)
    with pytest.raises(ValueError, match="return_plans must be"):
        otkit.wasserstein_1d(u, v, return_plans="dense")
    with pytest.raises(ValueError, match="u_weights must have shape"):
        otkit.wasserstein_1d(u, v, u_weights=np.ones((7, 2)))
    with pytest.raises(ValueError, match="same d"):
        otkit.wasserstein_1d(u, v[:, :2])


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock"])
def test_emd2_1d_agrees_with_pot(metric):
    rng = np.random.default_rng(3)
    xa, xb = rng.normal(size=9), rng.normal(size=6)
    a, b = rng.random(9), rng.random(6)
    a, b = a / a.sum(), b / b.sum()
    np.testing.assert_allclose(otkit.emd2_1d(xa, xb, a, b, metric=metric), ot.emd2_1d(xa, xb, a, b, metric=metric),
                               rtol=1e-12)
    cost, lg = otkit.emd2_1d(xa, xb, a, b, metric=metric, log=True)
    np.testing.assert_allclose(lg["G"], ot.emd_1d(xa, xb, a, b, metric=metric), atol=1e-15)
    np.testing.assert_allclose(cost, (lg["G"] * ot.dist(xa[:, None], xb[:, None], metric=metric)).sum(), rtol=1e-12)


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("p", [1, 2])
def test_torch_values_and_gradients_match_pot(p):
    u, v, wu, wv = _problem(4)
    ut = torch.tensor(u, requires_grad=True)
    vt = torch.tensor(v, requires_grad=True)
    wut = torch.tensor(wu, requires_grad=True)
    wvt = torch.tensor(np.repeat(wv[:, None], 3, 1), requires_grad=True)
    ours = otkit.wasserstein_1d(ut, vt, wut, wvt, p=p)
    assert isinstance(ours, torch.Tensor) and ours.shape == (3,) and ours.dtype == torch.float64
    ours.sum().backward()
    ref_in = [torch.tensor(x, requires_grad=True) for x in (u, v, wu, np.repeat(wv[:, None], 3, 1))]
    ref = ot.wasserstein_1d(*ref_in, p=p)
    ref.sum().backward()
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    for mine, theirs in zip((ut, vt), ref_in[:2]):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    # weights: otkit normalizes them, so its gradient is defined up to a constant per column (the direction
    # that changes the mass); along every mass-preserving direction both derivatives agree
    for mine, theirs in zip((wut, wvt), ref_in[2:]):
        g1, g2 = mine.grad.numpy(), theirs.grad.numpy()
        np.testing.assert_allclose(g1 - g1.mean(0), g2 - g2.mean(0), rtol=1e-9, atol=1e-12)


def test_torch_gradient_finite_differences_and_dtype():
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(size=8), rng.normal(size=5)
    a = rng.random(8) + 0.2
    a /= a.sum()
    x = torch.tensor(xa, requires_grad=True)
    w = torch.tensor(a, requires_grad=True)
    cost = otkit.emd2_1d(x, torch.tensor(xb), w, None)
    cost.backward()
    h = 1e-6
    for i in range(8):
        e = np.zeros(8)
        e[i] = h
        fd = (otkit.emd2_1d(xa + e, xb, a, None) - otkit.emd2_1d(xa - e, xb, a, None)) / (2 * h)
        np.testing.assert_allclose(x.grad[i].item(), fd, rtol=1e-6, atol=1e-8)
    # weight direction that keeps the mass: finite difference along a - e_0 + e_1
    dvec = np.zeros(8)
    dvec[0], dvec[1] = 1.0, -1.0
    fd = (otkit.emd2_1d(xa, xb, a + h * dvec, None) - otkit.emd2_1d(xa, xb, a - h * dvec, None)) / (2 * h)
    np.testing.assert_allclose(float(w.grad @ torch.tensor(dvec)), fd, rtol=1e-5, atol=1e-8)
    # float32 stays float32
    c32 = otkit.wasserstein_1d(torch.tensor(xa, dtype=torch.float32), torch.tensor(xb, dtype=torch.float32), p=2)
    assert c32.dtype == torch.float32
    np.testing.assert_allclose(c32.item(), otkit.wasserstein_1d(xa, xb, p=2), rtol=1e-5)


def test_float32_inputs_give_float32_results():
    """POT's rule: the result takes the input's dtype (emd: M's; emd_1d: the supports'; barycenters: A's)."""
    rng = np.random.default_rng(6)
    M = rng.random((6, 6)).astype(np.float32)
    a = np.full(6, 1 / 6, dtype=np.float32)
    A = rng.random((6, 3))
    A /= A.sum(0)
    G32 = otkit.emd(a, a, M)
    assert G32.dtype == np.float32 and otkit.emd(a, a, M, sparse=True).dtype == np.float32
    np.testing.assert_allclose(G32, otkit.emd(a, a, M.astype(np.float64)), atol=1e-7)
    assert otkit.emd(a, a, M.astype(np.float64)).dtype == np.float64
    x32 = rng.random(6).astype(np.float32)
    assert otkit.emd_1d(x32, x32[::-1].copy()).dtype == np.float32
    b32 = otkit.barycenter(A.astype(np.float32), M, 0.1)
    assert b32.dtype == np.float32
    np.testing.assert_allclose(b32, otkit.barycenter(A, M.astype(np.float64), 0.1), rtol=1e-5)
    imgs = np.ones((2, 8, 8), np.float32) / 64
    assert otkit.convolutional_barycenter2d(imgs, 0.01).dtype == np.float32
    assert otkit.convolutional_barycenter2d(imgs.astype(np.float64), 0.01).dtype == np.float64


def test_wasserstein_point_clouds_on_torch():
    """otkit.wasserstein on tensors: W_p with the gradient of POT's emd2 on ot.dist(...)**p, then ^(1/p)."""
    rng = np.random.default_rng(8)
    x, y, a = rng.normal(size=(7, 2)), rng.normal(size=(5, 2)), rng.random(7) + 0.1
    a /= a.sum()
    for p, metric in ((2, "euclidean"), (1, "cityblock")):
        xt, at = torch.tensor(x, requires_grad=True), torch.tensor(a, requires_grad=True)
        w = otkit.wasserstein(xt, torch.tensor(y), at, None, p=p, metric=metric)
        w.backward()
        xp, ap = torch.tensor(x, requires_grad=True), torch.tensor(a, requires_grad=True)
        ref = ot.emd2(ap, torch.full((5,), 0.2, dtype=torch.float64),
                      ot.dist(xp, torch.tensor(y), metric=metric) ** p) ** (1 / p)
        ref.backward()
        np.testing.assert_allclose(w.item(), otkit.wasserstein(x, y, a, None, p=p, metric=metric), rtol=1e-12)
        np.testing.assert_allclose(w.item(), ref.item(), rtol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), xp.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(at.grad.numpy(), ap.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_torch_plans_come_back_as_tensors():
    """return_plans and emd2_1d's log on tensors: torch results (sparse COO / dense), equal to the NumPy ones."""
    u, v, wu, wv = _problem(9)
    _, P = otkit.wasserstein_1d(torch.tensor(u[:, 0]), torch.tensor(v[:, 0]), return_plans=True)
    assert isinstance(P, torch.Tensor) and P.is_sparse
    np.testing.assert_allclose(P.to_dense().numpy(), otkit.wasserstein_1d(u[:, 0], v[:, 0], return_plans=True)[1].toarray(),
                               atol=1e-15)
    data, rows, cols = otkit.wasserstein_1d(torch.tensor(u), torch.tensor(v), return_plans="coo_tuple")[1][0]
    assert all(isinstance(t, torch.Tensor) for t in (data, rows, cols))
    _, lg = otkit.emd2_1d(torch.tensor(u[:, 0]), torch.tensor(v[:, 0]), log=True)
    assert isinstance(lg["G"], torch.Tensor) and lg["G"].dtype == torch.float64
    np.testing.assert_allclose(lg["G"].numpy(), otkit.emd_1d(u[:, 0], v[:, 0]), atol=1e-15)
