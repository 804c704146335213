"""otkit.lowrank (Nystroem Sinkhorn, low-rank Sinkhorn, factored OT) and solve_sample's methods "nystroem",
"lowrank", "factored": against POT (same anchors, same start), the dense solvers, exact OT and the constraints."""
import warnings

import numpy as np
import pytest

import otkit
from otkit import lowrank

ot = pytest.importorskip("ot")


def _clouds(n=60, m=50, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2)) + 0.2
    a = rng.random(n) + 0.2
    return x, y, a / a.sum()


def _clusters(seed=0):
    rng = np.random.default_rng(seed)
    c = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = np.concatenate([rng.normal(k, 0.1, (50, 2)) for k in c])
    y = np.concatenate([rng.normal(k, 0.1, (40, 2)) for k in c]) + 0.3
    return x, y


# ---------------------------------------------------------------------------------------------- Nystroem

@pytest.mark.parametrize("anchors,seed", [(10, 0), (21, 3), (40, 1)])
def test_nystroem_factors_match_pot(anchors, seed):
    x, y, _ = _clouds()
    K1, K2 = lowrank.kernel_nystroem(x, y, anchors=anchors, sigma=0.3, random_state=seed)
    P1, P2 = ot.lowrank.kernel_nystroem(x, y, anchors=anchors, sigma=0.3, random_state=seed)
    np.testing.assert_allclose(K2, P2, rtol=1e-12)
    np.testing.assert_allclose(K1, P1, atol=1e-8 * np.abs(P1).max())
    np.testing.assert_allclose(K1 @ K2.T, P1 @ P2.T, atol=1e-10)


def test_nystroem_all_anchors_is_dense_sinkhorn():
    # every point an anchor and a well-conditioned basis kernel: the factors are the kernel, the iterates Sinkhorn's
    rng = np.random.default_rng(3)
    x, y = rng.random((8, 2)) * 3, rng.random((6, 2)) * 3
    a = np.full(8, 1 / 8)
    value = lowrank.empirical_sinkhorn_nystroem2(x, y, 0.5, anchors=16, a=a, stopThr=1e-12, numItermax=10000)
    ref = otkit.sinkhorn2(a, np.full(6, 1 / 6), otkit.dist(x, y), 0.5, stopThr=1e-12, numItermax=10000)
    np.testing.assert_allclose(value, ref, rtol=1e-9)


@pytest.mark.parametrize("reg", [1.0, 0.5])
def test_nystroem_matches_pot(reg):
    x, y, a = _clouds()
    v, lg = lowrank.empirical_sinkhorn_nystroem2(x, y, reg, anchors=10, a=a, random_state=1, log=True)
    pv, plg = ot.bregman.empirical_sinkhorn_nystroem2(x, y, reg, anchors=10, a=a, random_state=1, log=True)
    np.testing.assert_allclose(v, pv, rtol=1e-10)
    np.testing.assert_allclose(lg["u"], plg["u"], rtol=1e-9)
    assert lg["niter"] == plg["niter"]
    P = np.asarray(lowrank.empirical_sinkhorn_nystroem(x, y, reg, anchors=10, a=a, random_state=1))
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-7)
    np.testing.assert_allclose(float(np.sum(P * otkit.dist(x, y))), v, rtol=1e-10)
    assert otkit.bregman.empirical_sinkhorn_nystroem2 is lowrank.empirical_sinkhorn_nystroem2


def test_sinkhorn_low_rank_kernel_iterates_match_pot():
    rng = np.random.default_rng(5)
    K1, K2 = rng.random((20, 4)) + 0.1, rng.random((15, 4)) + 0.1
    u, v = lowrank.sinkhorn_low_rank_kernel(K1, K2, numItermax=37, warn=False)
    pu, pv = ot.lowrank.sinkhorn_low_rank_kernel(K1, K2, numItermax=37, warn=False)
    np.testing.assert_allclose(u, pu, rtol=1e-12)
    np.testing.assert_allclose(v, pv, rtol=1e-12)
    with pytest.warns(UserWarning, match="did not converge"):
        lowrank.sinkhorn_low_rank_kernel(K1, K2, numItermax=3, stopThr=0)
    with pytest.raises(ValueError, match="rank"):
        lowrank.sinkhorn_low_rank_kernel(K1, K2[:, :3])


# ---------------------------------------------------------------------------------------------- factored

@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_factored_matches_pot_from_the_same_start(reg):
    x, y, a = _clouds()
    X0 = np.random.default_rng(2).normal(size=(6, 2))
    Ga, Gb, X, lg = otkit.factored_optimal_transport(x, y, a=a, r=6, X0=X0, reg=reg, log=True)
    Pa, Pb, PX, plg = ot.factored_optimal_transport(x, y, a=a, r=6, X0=X0, reg=reg, log=True)
    np.testing.assert_allclose(Ga, Pa, atol=1e-12)
    np.testing.assert_allclose(Gb, Pb, atol=1e-12)
    np.testing.assert_allclose(X, PX, atol=1e-10)
    np.testing.assert_allclose(lg["costa"] + lg["costb"], plg["costa"] + plg["costb"], rtol=1e-10)
    assert len(lg["delta_iter"]) == len(plg["delta_iter"])
    P = np.asarray(lg["lazy_plan"])  # r Ga Gb: a coupling of a and b
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-9)
    np.testing.assert_allclose(P.sum(0), 1 / 50, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- low rank

def _objective(Q, R, g, reg, x, y):
    """The objective lowrank_sinkhorn minimizes (the rescaled cost, as its iterations use it)."""
    M1, M2 = lowrank.compute_lr_sqeuclidean_matrix(x, y, True)
    return float(np.sum((Q / g) @ R.T * (M1 @ M2.T)) + reg * sum(np.sum(z * np.log(z)) for z in (Q, R, g)))


@pytest.mark.parametrize("reg", [0.0, 0.01, 1.0])
def test_lowrank_reaches_pots_optimum_on_clusters(reg):
    x, y = _clusters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # POT's Dykstra warns here
        PQ, PR, Pg = ot.lowrank_sinkhorn(x, y, rank=3, reg=reg)
        Q, R, g, lg = otkit.lowrank_sinkhorn(x, y, rank=3, reg=reg, log=True)
    np.testing.assert_allclose(_objective(Q, R, g, reg, x, y), _objective(PQ, PR, Pg, reg, x, y), rtol=1e-6, atol=1e-7)
    C = otkit.dist(x, y)
    P = (Q / g) @ R.T
    np.testing.assert_allclose(lg["value_linear"], float(np.sum(P * C)), rtol=1e-10)  # in C's own units
    assert lg["value_linear"] >= otkit.emd2([], [], C) - 1e-12  # exact OT is a lower bound
    np.testing.assert_allclose(Q.sum(1), 1 / 150, rtol=1e-9)
    np.testing.assert_allclose(R.sum(1), 1 / 120, rtol=1e-9)
    np.testing.assert_allclose(Q.sum(0), g, atol=1e-6)
    np.testing.assert_allclose(R.sum(0), g, atol=1e-6)
    np.testing.assert_allclose(np.asarray(lg["lazy_plan"]), P, atol=1e-15)


@pytest.mark.parametrize("init", ["random", "deterministic", "kmeans"])
def test_lowrank_inits_and_rank_bounds(init):
    x, y, a = _clouds(40, 30, seed=3)
    Q, R, g, lg = otkit.lowrank_sinkhorn(x, y, a=a, rank=4, reg=0.0, init=init, log=True, warn=False,
                                         numItermax=300)
    assert Q.shape == (40, 4) and R.shape == (30, 4) and g.shape == (4,)
    np.testing.assert_allclose(Q.sum(1), a, rtol=1e-8)
    assert np.all(g >= 1e-10)
    exact = otkit.emd2(a, [], otkit.dist(x, y))
    assert lg["value_linear"] >= exact - 1e-12
    # better than the independent coupling a b^T (rank 1, a feasible point)
    assert lg["value_linear"] < 0.8 * float(a @ otkit.dist(x, y) @ np.full(30, 1 / 30))
    Q2, _, _ = otkit.lowrank_sinkhorn(x, y, a=a, rank=100, reg=0.05, init=init, warn=False, numItermax=50)
    assert Q2.shape[1] == 30  # rank capped at min(n, m)


def test_lowrank_torch_float32_and_gradients():
    torch = pytest.importorskip("torch")
    x, y, _ = _clouds(30, 20, seed=4)
    X = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    Q, R, g, lg = otkit.lowrank_sinkhorn(X, torch.tensor(y, dtype=torch.float32), rank=3, reg=0.1, log=True,
                                         warn=False)
    assert Q.dtype == torch.float32 and lg["value"].dtype == torch.float32
    lg["value"].backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    Qn, _, _ = otkit.lowrank_sinkhorn(x.astype(np.float32), y.astype(np.float32), rank=3, reg=0.1, warn=False)
    assert Qn.dtype == np.float32


def test_lowrank_errors():
    x, y, _ = _clouds(10, 8)
    with pytest.raises(ValueError, match="rank"):
        otkit.lowrank_sinkhorn(x, y, rank=0)
    with pytest.raises(ValueError, match="alpha"):
        otkit.lowrank_sinkhorn(x, y, rank=4, alpha=0.5)
    with pytest.raises(ValueError, match="init"):
        otkit.lowrank_sinkhorn(x, y, rank=2, init="spectral")
    with pytest.raises(ValueError, match="reg"):
        otkit.lowrank_sinkhorn(x, y, rank=2, reg=-1)
    with pytest.raises(ValueError, match="X_t"):
        otkit.lowrank_sinkhorn(x, np.full((8, 2), np.nan), rank=2)
    with pytest.raises(ValueError, match="same dimension"):
        otkit.lowrank_sinkhorn(x, y[:, :1], rank=2)
    with pytest.raises(ValueError, match="a must be"):
        otkit.lowrank_sinkhorn(x, y, a=-np.ones(10), rank=2)
    with pytest.raises(ValueError, match="anchors"):
        lowrank.kernel_nystroem(x, y, anchors=1)
    with pytest.raises(ValueError, match="X0"):
        otkit.factored_optimal_transport(x, y, r=3, X0=np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------------- solve_sample

@pytest.mark.parametrize("method", ["lowrank", "nystroem", "factored"])
def test_solve_sample_lowrank_methods(method):
    x, y, a = _clouds(40, 30, seed=6)
    reg = {"nystroem": 0.5, "lowrank": 0.1}.get(method)
    kw = dict(rank=6, random_state=0) if method != "factored" else dict(rank=6, X_init=x[:6])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = otkit.solve_sample(x, y, a=a, reg=reg, method=method, **kw)
        lazy = otkit.solve_sample(x, y, a=a, reg=reg, method=method, lazy=True, **kw)
    assert lazy.plan is None and isinstance(lazy.lazy_plan, lowrank.LowRankPlan)
    np.testing.assert_allclose(lazy.value, res.value, rtol=1e-12)
    np.testing.assert_allclose(res.plan.sum(1), a, rtol=1e-6)
    if method != "factored":  # (factored: POT's value, the two costs to the anchor points)
        np.testing.assert_allclose(res.value_linear, float(np.sum(res.plan * otkit.dist(x, y))), rtol=1e-9)
    if method == "nystroem":  # POT's value (its solve_sample ignores nothing here)
        pot = ot.solve_sample(x, y, a=a, reg=reg, method=method, **kw)
        np.testing.assert_allclose(res.value, pot.value, rtol=1e-7)
    if method == "factored":  # the same start as POT's function (POT's solve_sample drops a, b and X_init)
        _, _, _, plg = ot.factored_optimal_transport(x, y, a=a, r=6, X0=x[:6], log=True)
        np.testing.assert_allclose(res.value, plg["costa"] + plg["costb"], rtol=1e-10)
    with pytest.raises(NotImplementedError, match="metric"):
        otkit.solve_sample(x, y, reg=reg, method=method, metric="euclidean", **kw)


@pytest.mark.parametrize("method", ["lowrank", "nystroem", "factored"])
def test_solve_sample_lowrank_methods_torch(method):
    torch = pytest.importorskip("torch")
    x, y, _ = _clouds(30, 20, seed=7)
    X = torch.tensor(x, requires_grad=True)
    reg = {"nystroem": 0.5, "lowrank": 0.1}.get(method)
    kw = dict(rank=5, random_state=0) if method != "factored" else dict(rank=5, X_init=x[:5])
    if method == "lowrank":  # (autograd through every iteration, as POT: kept short)
        kw["max_iter"] = 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = otkit.solve_sample(X, torch.tensor(y), reg=reg, method=method, **kw)
    assert isinstance(res.value, torch.Tensor) and res.value.dtype == torch.float64
    res.value.backward()
    assert torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    if method == "factored":  # the gradient of the two OT costs with the plans fixed (envelope): finite differences
        h, k = 1e-6, (4, 0)
        vals = []
        for s in (1, -1):
            xp = x.copy()
            xp[k] += s * h
            vals.append(otkit.solve_sample(xp, y, method=method, **kw).value)
        np.testing.assert_allclose(X.grad[k].item(), (vals[0] - vals[1]) / (2 * h), rtol=1e-5, atol=1e-8)
