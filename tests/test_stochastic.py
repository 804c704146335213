"""Tests of otkit.stochastic: the regularized semi-dual stochastic solvers (Genevay et al. 2016).

References: POT (``ot.sinkhorn`` for the regularized optimum, ``ot.stochastic`` for the iterates
on the same random index stream, ``ot.emd2`` on a fine discretization), closed forms for the
semi-discrete problems (1-D quantile cells, a Gaussian split by a hyperplane).
"""
import doctest

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy.stats import norm

from otkit import _backend, stochastic
from otkit.stochastic import plan_from_dual, semi_discrete, semi_dual_value, solve_semi_dual_entropic


def _problem(n=12, m=9, seed=0, uniform_a=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = rng.normal(size=(m, 2)) + 0.5
    M = ot.dist(x, y)
    M /= np.median(M)
    a = np.full(n, 1.0 / n) if uniform_a else rng.random(n) + 0.2
    b = rng.random(m) + 0.2
    return a / a.sum(), b / b.sum(), M


def _entropic_optimum(a, b, M, reg):
    """min_P <P, M> + reg KL(P | a b^T) from a tightly converged POT Sinkhorn (log-domain)."""
    P = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=100000)
    return float((P * M).sum() + reg * (P * np.log(P / np.outer(a, b))).sum()), P


def _pot_stream(n, T, seed):
    """The index stream POT's solvers draw from the global RandomState after np.random.seed(seed)."""
    np.random.seed(seed)
    return np.array([np.random.randint(n) for _ in range(T)], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# discrete problems
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["SAG", "ASGD"])
def test_same_iterates_as_pot_on_the_same_index_stream(backend, method):
    # uniform a: POT and otkit run the same algorithm; feed the kernel POT's index stream
    a, b, M = _problem(9, 7, seed=1, uniform_a=True)
    reg, T = 0.3, 400
    np.random.seed(5)
    G_pot, log_pot = ot.stochastic.solve_semi_dual_entropic(a, b, M, reg, method, numItermax=T, log=True)
    idx = _pot_stream(len(a), T, 5)
    impl = _backend.ext() if backend == "cpp" else _backend.numba_module("semidual")
    lr = reg / a.max()  # POT's default
    v = np.zeros(len(b))
    if method == "SAG":
        status = impl.semidual_sag_f64(M, a, b, reg, lr, idx, v, np.zeros(M.shape), np.zeros(len(b)))
    else:
        vbar = np.zeros(len(b))
        status = impl.semidual_sgd_f64(M, b, reg, lr, idx, 1, 0, True, v, vbar)
        v = vbar
    assert status == 0
    np.testing.assert_allclose(v, log_pot["beta"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(plan_from_dual(a, b, M, reg, v, backend=backend), G_pot, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("method,niter", [("SAG", 20000), ("ASGD", 60000)])
def test_value_reaches_the_entropic_optimum(backend, method, niter):
    a, b, M = _problem(15, 10, seed=2, uniform_a=(method == "ASGD"))
    reg = 0.5
    ref, P_ref = _entropic_optimum(a, b, M, reg)
    P, log = solve_semi_dual_entropic(a, b, M, reg, method, numItermax=niter, log=True, seed=3, backend=backend)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-3)
    np.testing.assert_allclose(semi_dual_value(a, b, M, reg, log["beta"], backend=backend), log["value"], rtol=1e-12)
    # plan: rows sum to a exactly, columns approach b
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-12)
    np.testing.assert_allclose(P.sum(0), b, atol=2e-3)
    np.testing.assert_allclose(P, P_ref, atol=2e-3)
    # alpha is the c-transform of beta; plan_from_dual gives the same plan
    np.testing.assert_allclose(P, plan_from_dual(a, b, M, reg, log["beta"], backend=backend), rtol=1e-12, atol=1e-15)
    assert set(["alpha", "beta", "niter", "converged", "err", "value"]) <= set(log)
    assert log["niter"] == niter and log["alpha"].shape == a.shape and log["beta"].shape == b.shape


def test_value_matches_otkit_sinkhorn_objective(backend):
    # otkit's own Sinkhorn (once merged with the Sinkhorn API): the same regularized optimum
    import otkit

    if not hasattr(otkit, "sinkhorn"):
        pytest.skip("otkit.sinkhorn is not in this checkout")
    a, b, M = _problem(15, 10, seed=2)
    reg = 0.5
    P = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=100000)
    ref = float((P * M).sum() + reg * (P * np.log(P / np.outer(a, b))).sum())
    _, log = solve_semi_dual_entropic(a, b, M, reg, "SAG", numItermax=20000, log=True, seed=3, backend=backend)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-3)


def test_sag_converges_to_machine_precision(backend):
    a, b, M = _problem(10, 8, seed=4)
    reg = 0.2
    ref, P_ref = _entropic_optimum(a, b, M, reg)
    P, log = solve_semi_dual_entropic(a, b, M, reg, "SAG", numItermax=60000, log=True, seed=0, backend=backend)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-10)
    np.testing.assert_allclose(P, P_ref, atol=1e-9)


def test_asgd_samples_from_a_for_non_uniform_weights(backend):
    # ASGD draws i ~ a (POT draws i uniformly): the optimum is that of the weighted problem
    a, b, M = _problem(12, 6, seed=6)
    a = a ** 3 / (a ** 3).sum()
    reg = 0.5
    ref, _ = _entropic_optimum(a, b, M, reg)
    _, log = solve_semi_dual_entropic(a, b, M, reg, "ASGD", numItermax=60000, log=True, seed=1, backend=backend)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-3)


def test_plain_sgd_and_batches(backend):
    a, b, M = _problem(12, 8, seed=7, uniform_a=True)
    reg = 0.5
    ref, _ = _entropic_optimum(a, b, M, reg)
    _, log = solve_semi_dual_entropic(a, b, M, reg, "sgd", numItermax=30000, log=True, seed=2, backend=backend)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-2)
    _, log = solve_semi_dual_entropic(a, b, M, reg, "ASGD", numItermax=5000, batch_size=8, log=True, seed=2,
                                      backend=backend)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-3)


def test_discrete_stopping_rule(backend):
    a, b, M = _problem(10, 8, seed=8)
    reg = 0.3
    _, log = solve_semi_dual_entropic(a, b, M, reg, "SAG", numItermax=10 ** 6, tol=1e-12, check_every=1000,
                                      log=True, seed=0, backend=backend)
    assert log["converged"] and log["niter"] < 10 ** 6 and log["niter"] % 1000 == 0
    assert log["err"] <= 1e-12 * max(1.0, abs(log["trace"][-1]))
    ref, _ = _entropic_optimum(a, b, M, reg)
    np.testing.assert_allclose(log["value"], ref, rtol=1e-9)


def test_small_reg_is_stable(backend):
    # max-shifted log-sum-exp: no overflow or underflow of exp(-M / reg)
    a, b, M = _problem(8, 6, seed=9)
    reg = 1e-4
    P, log = solve_semi_dual_entropic(a, b, M * 1000, reg, "SAG", numItermax=2000, log=True, seed=0, backend=backend)
    assert np.isfinite(P).all() and np.isfinite(log["alpha"]).all() and np.isfinite(log["value"])
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-12)


def test_plan_from_dual_matches_the_closed_form(backend):
    a, b, M = _problem(7, 5, seed=10)
    reg = 0.7
    v = np.random.default_rng(0).normal(size=5)
    alpha = -reg * np.log((b * np.exp((v[None] - M) / reg)).sum(1))  # c-transform (paper Prop. 2.1)
    expected = np.exp((alpha[:, None] + v[None] - M) / reg) * np.outer(a, b)
    np.testing.assert_allclose(plan_from_dual(a, b, M, reg, v, backend=backend), expected, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(semi_dual_value(a, b, M, reg, v, backend=backend), alpha @ a + v @ b, rtol=1e-12)
    # reg = 0: the assignment plan and the hard c-transform
    P0 = plan_from_dual(a, b, M, 0.0, v, backend=backend)
    j = np.argmin(M - v[None], axis=1)
    np.testing.assert_array_equal(P0, np.eye(5)[j] * a[:, None])
    np.testing.assert_allclose(semi_dual_value(a, b, M, 0, v, backend=backend), (M - v).min(1) @ a + v @ b, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=hst.integers(1, 6), m=hst.integers(1, 6), logreg=hst.floats(-3, 1), seed=hst.integers(0, 10 ** 6))
def test_plan_from_dual_rows_sum_to_a(n, m, logreg, seed):
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.01
    b = rng.random(m) + 0.01
    a, b = a / a.sum(), b / b.sum()
    M = rng.random((n, m)) * 10
    v = rng.normal(size=m) * 5
    P = plan_from_dual(a, b, M, 10.0 ** logreg, v)
    assert np.isfinite(P).all() and (P >= 0).all()
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-10)


def test_float32_and_inputs_untouched(backend):
    a, b, M = _problem(10, 7, seed=11)
    copies = [x.copy() for x in (a, b, M)]
    P64, log64 = solve_semi_dual_entropic(a, b, M, 0.5, "SAG", numItermax=5000, log=True, seed=0, backend=backend)
    P32, log32 = solve_semi_dual_entropic(a.astype(np.float32), b.astype(np.float32), M.astype(np.float32), 0.5,
                                          "SAG", numItermax=5000, log=True, seed=0, backend=backend)
    assert P32.dtype == np.float32 and log32["beta"].dtype == np.float32
    np.testing.assert_allclose(P32, P64, atol=1e-5)
    for x, c in zip((a, b, M), copies):
        np.testing.assert_array_equal(x, c)


def test_divergence_warns(backend):
    a, b, M = _problem(6, 5, seed=12)
    with pytest.warns(RuntimeWarning, match="lr"):
        P, log = solve_semi_dual_entropic(a, b, M, 1e-3, "SAG", numItermax=1000, lr=1e308, log=True,
                                          seed=0, backend=backend)
    assert log["status"] == "numerical error"


@pytest.mark.parametrize("reg, scale, match", [(1e-310, 1.0, "subnormal"), (1e-305, 1.0, "too small"),
                                               (0.1, 1e305, "too large")])
def test_costs_out_of_range_for_reg_raise(backend, reg, scale, match):
    """Issue 20: a subnormal reg, or M / reg beyond float64, gave NaN potentials; now a ValueError."""
    a, b, M = _problem(6, 5, seed=12)
    with pytest.raises(ValueError, match=match):
        solve_semi_dual_entropic(a, b, M * scale, reg, "SAG", numItermax=100, seed=0, backend=backend)
    with pytest.raises(ValueError, match=match):
        plan_from_dual(a, b, M * scale, reg, np.zeros(5), backend=backend)


def test_verbose_progress(capsys):
    a, b, M = _problem(6, 5, seed=13)
    solve_semi_dual_entropic(a, b, M, 0.5, "SAG", numItermax=100, seed=0, verbose=True)
    semi_discrete(lambda n, rng: rng.random((n, 1)), [0.2, 0.8], [0.5, 0.5], 0.0, numItermax=50, seed=0,
                  verbose=True)
    err = capsys.readouterr().err
    assert "semi-dual SAG" in err and "semi-discrete ASGD" in err


# ---------------------------------------------------------------------------------------------
# semi-discrete problems
# ---------------------------------------------------------------------------------------------

def _uniform(n, rng):
    return rng.random((n, 1))


def test_semi_discrete_1d_uniform_quantile_cells(backend):
    # reg = 0: the Laguerre cells of U[0, 1] are intervals of length b_j (quantile cells)
    Y = np.array([0.1, 0.35, 0.5, 0.8, 0.95])
    b = np.array([0.3, 0.1, 0.25, 0.15, 0.2])
    v, value, T, log = semi_discrete(_uniform, Y[:, None], b, 0.0, batch_size=64, numItermax=3000, seed=0, log=True,
                                     backend=backend)
    # cell boundaries where (x - y_j)^2 - v_j = (x - y_{j+1})^2 - v_{j+1}
    t = (Y[1:] ** 2 - Y[:-1] ** 2 + v[:-1] - v[1:]) / (2 * (Y[1:] - Y[:-1]))
    masses = np.diff(np.concatenate([[0.0], np.clip(t, 0, 1), [1.0]]))
    np.testing.assert_allclose(masses, b, atol=1e-2)
    grid = (np.arange(100000) + 0.5) / 100000
    np.testing.assert_allclose(np.bincount(T.assign(grid), minlength=5) / grid.size, b, atol=1e-2)
    np.testing.assert_array_equal(T(grid[:, None])[:, 0], Y[T.assign(grid[:, None])])
    # value: W_2^2 between U[0, 1] and nu (monotone rearrangement, exact integral over quantile cells)
    q = np.concatenate([[0.0], np.cumsum(b)])
    exact = sum(((q[j + 1] - Y[j]) ** 3 - (q[j] - Y[j]) ** 3) / 3 for j in range(5))
    np.testing.assert_allclose(value, exact, rtol=2e-2)
    assert log["n_samples"] == 3000 * 64 and log["niter"] == 3000 and len(log["objective"]) >= 1


def test_semi_discrete_gaussian_two_atoms(backend):
    # mu = N(mean, sig^2 I) in 2-D, nu = b_0 delta_{y_0} + b_1 delta_{y_1}, reg = 0: the cells are
    # split by a line orthogonal to y_1 - y_0 at <x, y_1 - y_0> = t with Phi((t - <mean, d>) / (sig |d|)) = b_0
    mean, sig = np.array([0.5, -0.2]), 0.8
    Y = np.array([[0.0, 0.0], [1.5, 1.0]])
    b = np.array([0.3, 0.7])

    def gauss(n, rng):
        return mean + sig * rng.standard_normal((n, 2))

    d = Y[1] - Y[0]
    t = mean @ d + sig * np.linalg.norm(d) * norm.ppf(b[0])
    dv_exact = 2 * t - Y[1] @ Y[1] + Y[0] @ Y[0]  # v_0 - v_1 that puts the boundary at t
    v, value, T, log = semi_discrete(gauss, Y, b, 0.0, batch_size=64, numItermax=20000, holdout=50000, seed=1,
                                     log=True, backend=backend)
    np.testing.assert_allclose(v[0] - v[1], dv_exact, atol=0.05)
    t_hat = (Y[1] @ Y[1] - Y[0] @ Y[0] + v[0] - v[1]) / 2
    np.testing.assert_allclose(norm.cdf((t_hat - mean @ d) / (sig * np.linalg.norm(d))), b[0], atol=1e-2)
    # value against a fine discretization of mu solved exactly
    g = np.linspace(-5, 5, 121)
    gx, gy = np.meshgrid(g, g)
    pts = mean + sig * np.stack([gx.ravel(), gy.ravel()], 1)
    w = np.exp(-0.5 * (gx.ravel() ** 2 + gy.ravel() ** 2))
    W = ot.emd2(w / w.sum(), b, ot.dist(pts, Y))
    np.testing.assert_allclose(value, W, rtol=1e-2)
    assert abs(value - W) < 4 * log["value_std"] + 1e-3 * W
    x = gauss(1000, np.random.default_rng(7))
    side = (x @ d > t).astype(int)
    assert np.mean(T.assign(x) == side) > 0.98


def test_semi_discrete_entropic_matches_discrete_optimum(backend):
    # mu discrete (sampled with replacement), reg > 0: H reaches the entropic optimum
    a, b, M = _problem(20, 6, seed=14, uniform_a=True)
    rng0 = np.random.default_rng(14)
    X = rng0.normal(size=(20, 2))
    Y = rng0.normal(size=(6, 2)) + 0.5
    M = ot.dist(X, Y)
    reg = 0.5
    ref, _ = _entropic_optimum(a, b, M, reg)

    def sampler(n, rng):
        return X[rng.integers(0, 20, n)]

    v, value, T = semi_discrete(sampler, Y, b, reg, batch_size=32, numItermax=20000, holdout=20000, seed=2,
                                backend=backend)
    # exact semi-dual value of the learned v on the discrete mu
    np.testing.assert_allclose(semi_dual_value(a, b, M, reg, v), ref, rtol=1e-3)
    np.testing.assert_allclose(value, ref, rtol=2e-2)
    # the barycentric map is the plan's conditional mean
    P = plan_from_dual(a, b, M, reg, v)
    np.testing.assert_allclose(T(X), (P / a[:, None]) @ Y, rtol=1e-10)


def test_semi_discrete_stopping_rule(backend):
    Y = np.array([[0.2], [0.5], [0.9]])
    b = np.array([0.2, 0.5, 0.3])
    v, value, T, log = semi_discrete(_uniform, Y, b, 0.0, batch_size=32, numItermax=10 ** 6, tol=1e-5,
                                     check_every=100, seed=3, log=True, backend=backend)
    assert log["converged"] and log["niter"] < 10 ** 6
    assert log["n_samples"] == log["niter"] * 32
    assert len(log["objective"]) == log["niter"] // 100
    assert log["err"] <= 1e-5 * max(1.0, abs(log["objective"][-1]))
    grid = (np.arange(20000) + 0.5) / 20000
    np.testing.assert_allclose(np.bincount(T.assign(grid), minlength=3) / grid.size, b, atol=2e-2)


def test_semi_discrete_sgd_and_callable_cost(backend):
    Y = np.array([[0.25], [0.75]])
    b = np.array([0.5, 0.5])
    v, value, T = semi_discrete(_uniform, Y, b, 0.0, method="SGD", numItermax=3000, seed=0, backend=backend,
                                cost=lambda x, y: np.abs(x - y.T))
    np.testing.assert_allclose(value, 0.125, rtol=2e-2)  # W_1(U[0,1], {1/4, 3/4}) = 1/8
    np.testing.assert_allclose(T.assign([[0.1], [0.9]]), [0, 1])


# ---------------------------------------------------------------------------------------------
# both backends give the same results for the same seed
# ---------------------------------------------------------------------------------------------

def _both():
    if not (_backend.is_available("cpp") and _backend.is_available("numba")):
        pytest.skip("needs both backends")


@pytest.mark.parametrize("method", ["SAG", "ASGD", "SGD"])
def test_cpp_and_numba_agree_discrete(method):
    _both()
    a, b, M = _problem(30, 20, seed=15)
    out = {be: solve_semi_dual_entropic(a, b, M, 0.1, method, numItermax=20000, batch_size=1, log=True, seed=7,
                                        backend=be) for be in ("cpp", "numba")}
    np.testing.assert_allclose(out["cpp"][1]["beta"], out["numba"][1]["beta"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["cpp"][0], out["numba"][0], rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("method", ["SAG", "ASGD"])
def test_cpp_and_numba_agree_when_the_logit_bound_is_far_off(method):
    # tiny reg and a wide cost range: the C++ one-pass softmax shift (an upper bound of the logits)
    # is far above their max and the kernel falls back to the exact max for those rows
    _both()
    a, b, M = _problem(10, 8, seed=18)
    M = M * 100
    M[:, 0] += 1e4  # one very expensive atom: min_j M_ij and the v-dependent max are far apart
    out = {be: solve_semi_dual_entropic(a, b, M, 1e-3, method, numItermax=3000, log=True, seed=4, backend=be)
           for be in ("cpp", "numba")}
    assert np.isfinite(out["cpp"][1]["beta"]).all()
    np.testing.assert_allclose(out["cpp"][1]["beta"], out["numba"][1]["beta"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["cpp"][0], out["numba"][0], rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_cpp_and_numba_agree_semi_discrete(reg):
    _both()
    rng0 = np.random.default_rng(16)
    Y = rng0.random((8, 2))
    b = rng0.random(8) + 0.1
    b /= b.sum()

    def sampler(n, rng):
        return rng.random((n, 2))

    res = {be: semi_discrete(sampler, Y, b, reg, batch_size=200, numItermax=400, seed=11, log=True, backend=be)
           for be in ("cpp", "numba")}
    np.testing.assert_allclose(res["cpp"][0], res["numba"][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res["cpp"][1], res["numba"][1], rtol=1e-10)
    np.testing.assert_allclose(res["cpp"][3]["objective"], res["numba"][3]["objective"], rtol=1e-10)


def test_cpp_openmp_paths_agree_with_numba():
    # calls of >= 4M cost entries run on OpenMP threads in C++ (mini-batch rows, c-transform rows)
    _both()
    rng = np.random.default_rng(19)
    rows, m, batch = 4096, 1024, 4096
    C = rng.random((rows, m))
    b = rng.random(m) + 0.1
    b /= b.sum()
    idx = np.concatenate([rng.permutation(rows) for _ in range(2)]).astype(np.int64)
    out = {}
    for be in ("cpp", "numba"):
        impl = _backend.ext() if be == "cpp" else _backend.numba_module("semidual")
        v, vbar = np.zeros(m), np.zeros(m)
        assert impl.semidual_sgd_f64(C, b, 0.05, 0.5, idx, batch, 0, True, v, vbar) == 0
        alpha, P, arg = np.empty(rows), np.empty((rows, m)), np.empty(rows, dtype=np.int64)
        assert impl.semidual_ctransform_f64(C, b, 0.05, vbar, alpha, True, P, True, arg) == 0
        out[be] = (v, vbar, alpha, P, arg)
    for x, y in zip(out["cpp"], out["numba"]):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

def test_bad_input_discrete():
    a, b, M = _problem(5, 4, seed=17)
    with pytest.raises(ValueError, match="reg"):
        solve_semi_dual_entropic(a, b, M, -1.0)
    with pytest.raises(ValueError, match="reg"):
        solve_semi_dual_entropic(a, b, M, 0.0)
    with pytest.raises(ValueError, match="lr"):
        solve_semi_dual_entropic(a, b, M, 0.1, lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        solve_semi_dual_entropic(a, b, M, 0.1, lr=-2)
    with pytest.raises(ValueError, match="batch_size"):
        solve_semi_dual_entropic(a, b, M, 0.1, "ASGD", batch_size=0)
    with pytest.raises(ValueError, match="method"):
        solve_semi_dual_entropic(a, b, M, 0.1, "LBFGS")
    with pytest.raises(ValueError, match="b"):
        solve_semi_dual_entropic(a, b * 2, M, 0.1)
    with pytest.raises(ValueError, match="b has negative"):
        solve_semi_dual_entropic(a, np.array([1.5, -0.5, 0, 0]), M, 0.1)
    with pytest.raises(ValueError, match="b has length"):
        solve_semi_dual_entropic(a, b[:3] / b[:3].sum(), M, 0.1)
    with pytest.raises(ValueError, match="M"):
        solve_semi_dual_entropic(a, b, np.full_like(M, np.nan), 0.1)
    with pytest.raises(ValueError, match="numItermax"):
        solve_semi_dual_entropic(a, b, M, 0.1, numItermax=-1)
    with pytest.raises(ValueError, match="v must have shape"):
        plan_from_dual(a, b, M, 0.1, np.zeros(3))
    with pytest.raises(ValueError, match="reg"):
        plan_from_dual(a, b, M, -0.1, np.zeros(4))
    with pytest.raises(ValueError, match="backend"):
        solve_semi_dual_entropic(a, b, M, 0.1, backend="fortran")


def test_bad_input_semi_discrete():
    Y = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = np.array([0.5, 0.5])

    def good(n, rng):
        return rng.random((n, 2))

    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        semi_discrete(good, Y, b, -0.1)
    with pytest.raises(ValueError, match=r"sampler\(n, rng\) must return an array of shape"):
        semi_discrete(lambda n, rng: rng.random((n, 3)), Y, b, 0.1)
    with pytest.raises(ValueError, match=r"sampler\(n, rng\) must return an array of shape"):
        semi_discrete(lambda n, rng: rng.random((n + 1, 2)), Y, b, 0.1)
    with pytest.raises(ValueError, match="non-finite"):
        semi_discrete(lambda n, rng: np.full((n, 2), np.nan), Y, b, 0.1)

    calls = []

    def goes_bad(n, rng):  # fine for the held-out batch, then infinite points
        calls.append(n)
        return rng.random((n, 2)) if len(calls) == 1 else np.full((n, 2), np.inf)

    with pytest.raises(ValueError, match="non-finite"):
        semi_discrete(goes_bad, Y, b, 0.1, numItermax=10)
    with pytest.raises(TypeError, match="sampler"):
        semi_discrete(np.zeros(3), Y, b, 0.1)
    with pytest.raises(TypeError, match="sampler"):
        semi_discrete(lambda n, rng: "points", Y, b, 0.1)
    with pytest.raises(ValueError, match="b"):
        semi_discrete(good, Y, [0.5, 0.6], 0.1)
    with pytest.raises(ValueError, match="b"):
        semi_discrete(good, Y, [1.5, -0.5], 0.1)
    with pytest.raises(ValueError, match="b has length"):
        semi_discrete(good, Y, [1.0], 0.1)
    with pytest.raises(ValueError, match="lr"):
        semi_discrete(good, Y, b, 0.1, lr=0)
    with pytest.raises(ValueError, match="batch_size"):
        semi_discrete(good, Y, b, 0.1, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        semi_discrete(good, Y, b, 0.1, batch_size=2.5)
    with pytest.raises(ValueError, match="method"):
        semi_discrete(good, Y, b, 0.1, method="SAG")
    with pytest.raises(ValueError, match="Y"):
        semi_discrete(good, np.zeros((0, 2)), [], 0.1)
    with pytest.raises(ValueError, match="metric"):
        semi_discrete(good, Y, b, 0.1, cost="no-such-metric")
    with pytest.raises(ValueError, match="x must be"):
        _, _, T = semi_discrete(good, Y, b, 0.1, numItermax=5)
        T(np.zeros((3, 5)))


def test_doctests():
    res = doctest.testmod(stochastic, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
