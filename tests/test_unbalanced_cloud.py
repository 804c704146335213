"""Unbalanced OT between point clouds, the costs computed in the passes (otkit.unbalanced.unbalanced_cloud,
solve_sample(lazy=True, unbalanced=...), SamplesLoss(reach=...)).

References: otkit's dense unbalanced log-domain solver on dist(x, y) (itself equal to POT's, tests/test_unbalanced*),
POT's sinkhorn_unbalanced on the dense cost, GeomLoss 0.3 (tensorized backend, reach) for SamplesLoss, the
alternating solver for the symmetric terms, central finite differences for gradients, C++ against Numba.
"""

import numpy as np
import pytest

import otkit
from otkit.unbalanced import unbalanced_cloud

ot = pytest.importorskip("ot")
torch = pytest.importorskip("torch")


def clouds(n=40, m=30, seed=0, d=2, masses=(1.0, 1.0)):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.2, rng.random(m) + 0.2
    return (rng.random((n, d)), rng.random((m, d)) + 0.3, masses[0] * a / a.sum(), masses[1] * b / b.sum())


def dense_reference(x, y, a, b, reg, reg_m, metric, reg_type):
    M = otkit.dist(x, y, metric=metric)
    _, lg = otkit.sinkhorn_unbalanced(a, b, M, reg, reg_m, method="sinkhorn_log", reg_type=reg_type, log=True,
                                      stopThr=1e-14, numItermax=100000, backend="cpp")
    plan = np.exp(lg["logu"][:, None] + lg["logv"][None, :]
                  - (M - (reg * np.log(a)[:, None] + reg * np.log(b)[None, :] if reg_type == "kl" else 0)) / reg)
    return lg, plan


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("reg_type", ["kl", "entropy"])
@pytest.mark.parametrize("reg_m", [0.5, (0.2, np.inf), 5.0])
def test_equals_the_dense_unbalanced_solver(backend, metric, reg_type, reg_m):
    x, y, a, b = clouds(37, 29, masses=(1.0, 1.7))
    reg = 0.05 if metric == "sqeuclidean" else 0.1
    r = unbalanced_cloud(x, y, a, b, reg, reg_m, metric=metric, reg_type=reg_type, stopThr=1e-14,
                         numItermax=100000, backend=backend)
    assert r["status"] == 0
    lg, plan = dense_reference(x, y, a, b, reg, reg_m, metric, reg_type)
    shift = (np.log(a), np.log(b)) if reg_type == "kl" else (0.0, 0.0)
    np.testing.assert_allclose(r["f"] - shift[0], lg["logu"], atol=1e-9)
    np.testing.assert_allclose(r["g"] - shift[1], lg["logv"], atol=1e-9)
    M = otkit.dist(x, y, metric=metric)
    np.testing.assert_allclose(r["cost"], np.sum(plan * M), rtol=1e-10)
    np.testing.assert_allclose(r["row_mass"], plan.sum(1), rtol=1e-10)
    np.testing.assert_allclose(r["col_mass"], plan.sum(0), rtol=1e-10)
    # POT's total cost on the dense plan (its kl_div terms without the mass terms: with the reference a b^T it is 0
    # at the fixed point, reg sum P log(P / ab) = -reg_m1 sum P1 log(P1 / a) - reg_m2 ... - <P, M>)
    total = otkit.sinkhorn_unbalanced2(a, b, M, reg, reg_m, method="sinkhorn_log", reg_type=reg_type,
                                       returnCost="total", stopThr=1e-14, numItermax=100000)
    np.testing.assert_allclose(r["total_cost"], total, rtol=1e-9, atol=1e-10 * r["cost"])


@pytest.mark.parametrize("reg_type", ["kl", "entropy"])
def test_matches_pot(reg_type):
    x, y, a, b = clouds(25, 20, seed=3, masses=(2.0, 1.0))
    M = ot.dist(x, y)
    kw = dict(reg_type=reg_type, stopThr=1e-15, numItermax=100000)
    lin = ot.unbalanced.sinkhorn_unbalanced2(a, b, M, 0.1, 1.0, method="sinkhorn", returnCost="linear", **kw)
    total = ot.unbalanced.sinkhorn_unbalanced2(a, b, M, 0.1, 1.0, method="sinkhorn", returnCost="total", **kw)
    r = unbalanced_cloud(x, y, a, b, 0.1, 1.0, **kw)
    np.testing.assert_allclose(r["cost"], float(lin), rtol=1e-9)
    np.testing.assert_allclose(r["total_cost"], float(total), rtol=1e-8, atol=1e-10 * float(lin))
    if reg_type == "kl":  # POT's total (kl_div without its mass terms) is 0 at the fixed point
        assert abs(r["total_cost"]) < 1e-10 * r["cost"]


def test_zero_weights_and_duplicate_points(backend):
    x, y, a, b = clouds(20, 16, seed=4)
    a[3] = 0.0
    b[[0, 5]] = 0.0
    y[7] = y[8]
    r = unbalanced_cloud(x, y, a, b, 0.05, 1.0, stopThr=1e-14, numItermax=100000, backend=backend)
    with np.errstate(divide="ignore"):
        lg, plan = dense_reference(x, y, a, b, 0.05, 1.0, "sqeuclidean", "kl")
    assert r["row_mass"][3] == 0 and r["col_mass"][0] == 0 and r["col_mass"][5] == 0
    np.testing.assert_allclose(r["row_mass"], np.nan_to_num(plan).sum(1), rtol=1e-10, atol=1e-300)
    assert np.isfinite(r["total_cost"])


def test_annealing_reaches_the_same_solution(backend):
    x, y, a, b = clouds(60, 50, seed=5, masses=(1.0, 0.6))
    plain = unbalanced_cloud(x, y, a, b, 0.002, 0.3, stopThr=1e-12, numItermax=100000, backend=backend)
    annealed = unbalanced_cloud(x, y, a, b, 0.002, 0.3, stopThr=1e-12, numItermax=100000, epsilon0=2.0,
                                epsilon_factor=0.5, backend=backend)
    assert plain["status"] == 0 and annealed["status"] == 0
    np.testing.assert_allclose(annealed["cost"], plain["cost"], rtol=1e-9)
    np.testing.assert_allclose(annealed["total_cost"], plain["total_cost"], atol=1e-10 * plain["cost"])
    np.testing.assert_allclose(annealed["f"], plain["f"], atol=1e-7)
    assert annealed["niter"] < plain["niter"]


@pytest.mark.parametrize("omega", [1.5, "auto"])
def test_over_relaxation_reaches_the_same_solution(backend, omega):
    x, y, a, b = clouds(50, 45, seed=14, masses=(1.0, 1.3))
    kw = dict(reg=0.003, reg_m=0.5, stopThr=1e-12, numItermax=100000, backend=backend)
    plain = unbalanced_cloud(x, y, a, b, **kw)
    relaxed = unbalanced_cloud(x, y, a, b, omega=omega, **kw)
    assert plain["status"] == 0 and relaxed["status"] == 0
    np.testing.assert_allclose(relaxed["f"], plain["f"], atol=1e-8)
    np.testing.assert_allclose(relaxed["cost"], plain["cost"], rtol=1e-9)
    assert relaxed["niter"] < plain["niter"]


def test_cpp_equals_numba():
    pytest.importorskip("numba")
    x, y, a, b = clouds(33, 21, seed=6, d=3, masses=(1.0, 1.3))
    kw = dict(reg=0.03, reg_m=(0.4, 0.7), stopThr=1e-12, numItermax=100000, epsilon0=3.0, epsilon_factor=0.7,
              omega="auto")
    rc = unbalanced_cloud(x, y, a, b, backend="cpp", **kw)
    rn = unbalanced_cloud(x, y, a, b, backend="numba", **kw)
    assert rc["niter"] == rn["niter"]
    np.testing.assert_allclose(rc["f"], rn["f"], atol=1e-11)
    np.testing.assert_allclose(rc["g"], rn["g"], atol=1e-11)
    np.testing.assert_allclose(rc["cost"], rn["cost"], rtol=1e-11)
    np.testing.assert_allclose(rc["total_cost"], rn["total_cost"], atol=1e-11 * rc["cost"])


@pytest.mark.parametrize("reg_type", ["KL", "entropy"])
def test_solve_sample_lazy_equals_dense(reg_type):
    x, y, a, b = clouds(30, 25, seed=7, masses=(1.0, 1.5))
    kw = dict(reg=0.05, unbalanced=0.8, reg_type=reg_type, tol=1e-14, max_iter=100000)
    dense = otkit.solve_sample(x, y, a, b, method="sinkhorn_log", **kw)
    lazy = otkit.solve_sample(x, y, a, b, lazy=True, **kw)
    assert lazy.plan is None and lazy.status == "Converged"
    np.testing.assert_allclose(lazy.value, dense.value, rtol=1e-9, atol=1e-10 * dense.value_linear)
    np.testing.assert_allclose(lazy.value_linear, dense.value_linear, rtol=1e-10)
    np.testing.assert_allclose(lazy.potentials[0], dense.potentials[0], atol=1e-9)
    np.testing.assert_allclose(lazy.potentials[1], dense.potentials[1], atol=1e-9)
    np.testing.assert_allclose(np.asarray(lazy.lazy_plan), dense.plan, rtol=1e-8, atol=1e-15)
    # a warm start from the solution stops at once
    warm = otkit.solve_sample(x, y, a, b, lazy=True, potentials_init=lazy.potentials, **kw)
    assert warm.log["niter"] <= 2


def test_solve_sample_lazy_torch_in_torch_out():
    x, y, a, b = clouds(20, 15, seed=8)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    with pytest.warns(UserWarning, match="no autograd graph"):
        res = otkit.solve_sample(xt, torch.tensor(y, dtype=torch.float32), reg=0.1, unbalanced=1.0, lazy=True)
    assert isinstance(res.value, torch.Tensor) and res.value.dtype == torch.float32
    assert isinstance(res.potentials[0], torch.Tensor) and res.potentials[0].shape == (20,)
    ref = otkit.solve_sample(x, y, reg=0.1, unbalanced=1.0, lazy=True)
    np.testing.assert_allclose(res.value.item(), ref.value, rtol=1e-5)


def test_errors_name_the_argument():
    x, y, a, b = clouds(10, 8)
    with pytest.raises(ValueError, match="reg_m"):
        unbalanced_cloud(x, y, a, b, 0.1, -1.0)
    with pytest.raises(ValueError, match="metric"):
        otkit.solve_sample(x, y, reg=0.1, unbalanced=1.0, lazy=True, metric="cityblock")
    with pytest.raises(NotImplementedError, match="unbalanced"):
        otkit.solve_sample(x, y, reg=0, unbalanced=1.0, lazy=True)
    with pytest.raises(ValueError, match="reg_type"):
        unbalanced_cloud(x, y, a, b, 0.1, 1.0, reg_type="l2")
    with pytest.raises(ValueError, match="a"):
        unbalanced_cloud(x, y, a[:-1], b, 0.1, 1.0)
    with pytest.raises(ValueError, match="reach"):
        otkit.SamplesLoss(reach=0.0)
    with pytest.raises(ValueError, match="multiscale"):
        otkit.SamplesLoss(reach=0.5, backend="multiscale")(x, y)
    with pytest.raises(ValueError, match="omega"):
        unbalanced_cloud(x, y, a, b, 0.1, 1.0, omega=2.5)


def test_non_convergence_is_reported():
    x, y, a, b = clouds(20, 15)
    r = unbalanced_cloud(x, y, a, b, 0.01, 1.0, numItermax=3)
    assert r["status"] == 1 and r["niter"] <= 3
    with pytest.warns(UserWarning, match="did not converge"):
        otkit.SamplesLoss(blur=0.1, reach=0.5, max_iter=2, debias=False)(x, y)


# ---------------------------------------------------------------------------------------------------------------
# SamplesLoss(reach=...)
# ---------------------------------------------------------------------------------------------------------------

def geomloss_value(a, x, b, y, p, eps, rho):
    """GeomLoss's unbalanced OT_eps,rho from the dense fixed point, computed here in float64 (reference a b^T)."""
    C = ot.dist(x, y) / 2 if p == 2 else ot.dist(x, y, metric="euclidean")
    _, lg = otkit.sinkhorn_unbalanced(a, b, C, eps, rho, method="sinkhorn_log", reg_type="kl", log=True,
                                      stopThr=1e-15, numItermax=200000)
    f, g = eps * lg["logu"], eps * lg["logv"]  # kl-form log-scalings: the GeomLoss potentials
    return (rho + eps / 2) * (a @ (1 - np.exp(-f / rho)) + b @ (1 - np.exp(-g / rho)))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("debias", [False, True])
def test_samples_loss_reach_equals_the_dense_fixed_point(backend, p, debias):
    x, y, a, b = clouds(35, 28, seed=9)
    blur, reach = 0.2, 0.5
    eps, rho = blur ** p, reach ** p
    L = otkit.SamplesLoss("sinkhorn", p=p, blur=blur, reach=reach, debias=debias, tol=1e-14, backend=backend)
    ref = geomloss_value(a, x, b, y, p, eps, rho)
    if debias:
        ref -= 0.5 * (geomloss_value(a, x, a, x, p, eps, rho) + geomloss_value(b, y, b, y, p, eps, rho))
    np.testing.assert_allclose(L(a, x, b, y), ref, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("debias", [True])  # (debias=False: the dense fixed point test above)
def test_samples_loss_reach_matches_geomloss(p, debias):
    """Values equal GeomLoss's (to its accuracy at scaling 0.999, which tends to otkit's value as scaling -> 1); gradients equal the finite differences of GeomLoss's value. (GeomLoss's own unbalanced
    gradient is that of its last extrapolation step, not of its value: on this problem its directional derivative
    differs from the finite differences of its value by about 5%, where otkit's equals its own to 1e-8, see
    test_samples_loss_reach_gradients_by_finite_differences.)"""
    geomloss = pytest.importorskip("geomloss")
    x, y, a, b = clouds(seed=10)
    G = geomloss.SamplesLoss("sinkhorn", p=p, blur=0.1, reach=0.3, debias=debias, scaling=0.999,
                             backend="tensorized")
    L = otkit.SamplesLoss("sinkhorn", p=p, blur=0.1, reach=0.3, debias=debias, tol=1e-12)
    ref = lambda a_, x_: G(*(torch.tensor(t) for t in (a_, x_, b, y))).item()  # noqa: E731
    xt, at = torch.tensor(x, requires_grad=True), torch.tensor(a, requires_grad=True)
    v = L(at, xt, torch.tensor(b), torch.tensor(y))
    v.backward()
    np.testing.assert_allclose(v.item(), ref(a, x), rtol=5e-4)  # GeomLoss: 2.7e-4 from convergence at 0.999
    rng = np.random.default_rng(0)
    E, e = rng.standard_normal(x.shape), rng.standard_normal(a.shape) * a
    h = 1e-5
    fd_x = (ref(a, x + h * E) - ref(a, x - h * E)) / (2 * h)
    fd_a = (ref(a + h * e, x) - ref(a - h * e, x)) / (2 * h)
    np.testing.assert_allclose((xt.grad.numpy() * E).sum(), fd_x, rtol=2e-2)
    np.testing.assert_allclose((at.grad.numpy() * e).sum(), fd_a, rtol=2e-2)


@pytest.mark.parametrize("p,debias", [(2, False), (2, True), (1, True)])
def test_samples_loss_reach_gradients_by_finite_differences(p, debias):
    x, y, a, b = clouds(15, 12, seed=11, masses=(1.0, 1.4))
    L = otkit.SamplesLoss("sinkhorn", p=p, blur=0.3, reach=0.4, debias=debias, tol=1e-14)
    xt, at = torch.tensor(x, requires_grad=True), torch.tensor(a, requires_grad=True)
    L(at, xt, torch.tensor(b), torch.tensor(y)).backward()
    rng = np.random.default_rng(0)
    E, e = rng.standard_normal(x.shape), rng.standard_normal(a.shape) * a
    h = 1e-6
    fd_x = (L(a, x + h * E, b, y) - L(a, x - h * E, b, y)) / (2 * h)
    fd_a = (L(a + h * e, x, b, y) - L(a - h * e, x, b, y)) / (2 * h)
    np.testing.assert_allclose((xt.grad.numpy() * E).sum(), fd_x, rtol=1e-6)
    np.testing.assert_allclose((at.grad.numpy() * e).sum(), fd_a, rtol=1e-6)


def test_samples_loss_large_reach_tends_to_balanced():
    x, y, a, b = clouds(25, 20, seed=12)
    bal = otkit.SamplesLoss(blur=0.1, tol=1e-12)(a, x, b, y)
    unb = otkit.SamplesLoss(blur=0.1, reach=1e3, tol=1e-12)(a, x, b, y)
    np.testing.assert_allclose(unb, bal, rtol=1e-4)


def test_samples_loss_reach_symmetric_term_equals_alternating_solver():
    """L(x, x) = 0 with debias, and the debiasing term's averaged fixed point equals the alternating solver's."""
    x, _, a, _ = clouds(30, 2, seed=13)
    L = otkit.SamplesLoss(blur=0.15, reach=0.5, tol=1e-13)
    assert abs(L(a, x, a, x)) < 1e-10
    x2 = x.copy()  # a different object: the cross-term solver
    biased = otkit.SamplesLoss(blur=0.15, reach=0.5, tol=1e-13, debias=False)
    np.testing.assert_allclose(biased(a, x, a, x), biased(a, x, a, x2), rtol=1e-9)


def test_doctests():
    import doctest
    import sys

    res = doctest.testmod(sys.modules["otkit.unbalanced"], optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
