"""Exact OT by the network simplex: otkit.emd / otkit.emd2 against POT, scipy (HiGHS) and LP optimality."""
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import ot
import pytest
from scipy.optimize import linprog

import otkit
from otkit import _backend


def _problem(n, m, seed, zeros=False, integer_costs=False):
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.01
    b = rng.random(m) + 0.01
    if zeros:
        a[rng.random(n) < 0.3] = 0.0
        b[rng.random(m) < 0.3] = 0.0
        a[0] = b[0] = 1.0  # keep some mass
    a /= a.sum()
    b /= b.sum()
    M = rng.random((n, m))
    if integer_costs:
        M = np.floor(M * 4)  # many ties
    return a, b, M


def _check_optimal(G, a, b, M, lg, tol_cs=1e-10):
    """Marginals to 1e-12 and complementary slackness with the returned potentials."""
    np.testing.assert_allclose(G.sum(axis=1), a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(G.sum(axis=0), b, rtol=0, atol=1e-12)
    assert (G >= 0).all()
    u, v = lg["u"], lg["v"]
    assert np.isfinite(u).all() and np.isfinite(v).all()
    scale = max(1.0, np.abs(M).max())
    slack = M - u[:, None] - v[None, :]
    assert slack.min() >= -tol_cs * scale, slack.min()  # dual feasible
    np.testing.assert_allclose(slack[G > 0], 0.0, atol=tol_cs * scale)  # tight on the support
    np.testing.assert_allclose(np.sum(G * M), lg["cost"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n,m,seed", [(5, 5, 0), (20, 30, 1), (64, 64, 2), (100, 57, 3), (1, 7, 4), (9, 1, 5)])
@pytest.mark.parametrize("zeros", [False, True])
def test_against_pot(backend, n, m, seed, zeros):
    a, b, M = _problem(n, m, seed, zeros=zeros)
    G, lg = otkit.emd(a, b, M, log=True, backend=backend)
    c_pot = ot.emd2(a, b, M)
    np.testing.assert_allclose(lg["cost"], c_pot, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(otkit.emd2(a, b, M, backend=backend), c_pot, rtol=1e-9, atol=1e-15)
    _check_optimal(G, a, b, M, lg)
    assert lg["result_code"] == 1 and lg["warning"] is None and lg["converged"]
    assert np.count_nonzero(G) <= n + m - 1


@pytest.mark.parametrize("n,m,seed", [(4, 6, 10), (8, 8, 11), (12, 5, 12)])
def test_against_linprog(backend, n, m, seed):
    a, b, M = _problem(n, m, seed)
    A = np.zeros((n + m, n * m))
    for i in range(n):
        A[i, i * m:(i + 1) * m] = 1.0
    for j in range(m):
        A[n + j, j::m] = 1.0
    res = linprog(M.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    assert res.status == 0
    np.testing.assert_allclose(otkit.emd2(a, b, M, backend=backend), res.fun, rtol=1e-9)


def test_duals_centered_like_pot(backend):
    a, b, M = _problem(30, 40, 7)
    _, lg = otkit.emd(a, b, M, log=True, backend=backend)
    _, lp = ot.emd(a, b, M, log=True)
    # non-degenerate random problem: the potentials are unique up to a constant, and the
    # centring (<a, u> = <b, v>) fixes the constant
    np.testing.assert_allclose(a @ lg["u"], b @ lg["v"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lg["u"], lp["u"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lg["v"], lp["v"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["equal_costs", "ties", "identity", "uniform", "n_ne_m_uniform", "one_by_one",
                                  "zero_rows_cols"])
def test_degenerate_problems(backend, case):
    rng = np.random.default_rng(3)
    if case == "equal_costs":
        a, b = otkit.unif(7), otkit.unif(9)
        M = np.full((7, 9), 2.5)
        expected = 2.5
    elif case == "ties":
        a, b, M = _problem(40, 30, 8, integer_costs=True)
        expected = ot.emd2(a, b, M)
    elif case == "identity":  # a == b with zero-diagonal M: cost 0, plan diag(a)
        x = rng.random((25, 2))
        M = ot.dist(x, x)
        a = b = rng.dirichlet(np.ones(25))
        expected = 0.0
    elif case == "uniform":  # every allocation of the initial basis is degenerate
        x = rng.random((50, 2))
        y = rng.random((50, 2))
        M = ot.dist(x, y)
        a = b = otkit.unif(50)
        expected = ot.emd2(a, b, M)
    elif case == "n_ne_m_uniform":
        M = np.floor(rng.random((12, 18)) * 3)
        a, b = otkit.unif(12), otkit.unif(18)
        expected = ot.emd2(a, b, M)
    elif case == "one_by_one":
        a, b, M = [1.0], [1.0], [[3.0]]
        expected = 3.0
    else:
        a = np.array([0.0, 0.5, 0.0, 0.5, 0.0])
        b = np.array([0.25, 0.0, 0.75])
        M = rng.random((5, 3))
        expected = ot.emd2(a, b, M)
    G, lg = otkit.emd(a, b, M, log=True, backend=backend)
    np.testing.assert_allclose(lg["cost"], expected, rtol=1e-9, atol=1e-14)
    _check_optimal(G, np.asarray(a, float), np.asarray(b, float), np.asarray(M, float), lg)
    if case == "identity":
        np.testing.assert_allclose(G, np.diag(a), atol=1e-15)


def test_sparse_plan(backend):
    a, b, M = _problem(30, 20, 9)
    G = otkit.emd(a, b, M, backend=backend)
    S = otkit.emd(a, b, M, sparse=True, backend=backend)
    assert S.nnz <= 30 + 20 - 1
    np.testing.assert_allclose(S.toarray(), G, rtol=0, atol=0)
    cost, lg = otkit.emd2(a, b, M, return_matrix=True, sparse=True, backend=backend)
    np.testing.assert_allclose(lg["G"].toarray(), G, rtol=0, atol=0)


def test_emd2_return_forms(backend):
    a, b, M = _problem(10, 12, 13)
    c = otkit.emd2(a, b, M, backend=backend)
    c2, lg = otkit.emd2(a, b, M, log=True, backend=backend)
    c3, lg3 = otkit.emd2(a, b, M, return_matrix=True, backend=backend)
    assert c == c2 == c3
    assert set(lg) >= {"cost", "u", "v", "warning", "result_code", "niter", "err", "converged"}
    np.testing.assert_allclose(lg3["G"], otkit.emd(a, b, M, backend=backend), rtol=0, atol=0)
    # several targets at once (b: (nt, N)), as POT
    B = np.stack([b, b[::-1]], axis=1)
    cs = otkit.emd2(a, B, M, backend=backend)
    np.testing.assert_allclose(cs, [ot.emd2(a, b, M), ot.emd2(a, b[::-1].copy(), M)], rtol=1e-9)
    # empty a, b mean uniform
    np.testing.assert_allclose(otkit.emd2([], [], M, backend=backend), ot.emd2([], [], M), rtol=1e-9)


def test_max_iter_warning(backend):
    a, b, M = _problem(40, 40, 14)
    with pytest.warns(UserWarning, match="numItermax"):
        G, lg = otkit.emd(a, b, M, numItermax=2, log=True, backend=backend)
    assert lg["result_code"] == 3 and not lg["converged"] and "increase numItermax" in lg["warning"]
    assert lg["niter"] == 2
    # still a feasible plan
    np.testing.assert_allclose(G.sum(1), a, atol=1e-12)
    np.testing.assert_allclose(G.sum(0), b, atol=1e-12)
    assert lg["cost"] >= ot.emd2(a, b, M) - 1e-12
    # POT-style float numItermax is accepted
    otkit.emd2(a, b, M, numItermax=1e6, backend=backend)


def test_bad_input(backend):
    a, b, M = _problem(4, 5, 15)
    with pytest.raises(ValueError, match="a has length"):
        otkit.emd(a[:3], b, M, backend=backend)
    with pytest.raises(ValueError, match="b has length"):
        otkit.emd2(a, b[:4], M, backend=backend)
    with pytest.raises(ValueError, match="negative"):
        otkit.emd(-a, b, M, backend=backend)
    bad = M.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="M has non-finite"):
        otkit.emd(a, b, bad, backend=backend)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="M has non-finite"):
        otkit.emd2(a, b, bad, backend=backend)
    with pytest.raises(ValueError, match="a has non-finite"):
        otkit.emd(np.array([np.nan, 1, 1, 1.0]), b, M, backend=backend)
    with pytest.raises(ValueError, match=r"differ by 0\.5"):
        otkit.emd(a, 1.5 * b, M, backend=backend)
    with pytest.raises(ValueError, match="M is empty"):
        otkit.emd([], [], np.zeros((0, 3)), backend=backend)
    with pytest.raises(ValueError, match="2-D"):
        otkit.emd(a, b, np.ones(5), backend=backend)
    with pytest.raises(ValueError, match="numItermax"):
        otkit.emd(a, b, M, numItermax=-1, backend=backend)
    with pytest.raises(TypeError, match="M must hold real numbers"):
        otkit.emd(a, b, np.full((4, 5), "x"), backend=backend)
    with pytest.raises(ValueError, match="potentials_init must be a pair"):
        otkit.emd(a, b, M, potentials_init=a, backend=backend)
    with pytest.raises(ValueError, match=r"potentials_init\[1\] \(beta\) must have shape \(5,\)"):
        otkit.emd(a, b, M, potentials_init=(np.zeros(4), np.zeros(4)), backend=backend)
    with pytest.raises(ValueError, match=r"potentials_init\[0\] \(alpha\) has non-finite"):
        otkit.emd(a, b, M, potentials_init=(np.array([0, np.nan, 0, 0]), np.zeros(5)), backend=backend)
    with pytest.raises(TypeError, match=r"potentials_init\[0\] \(alpha\) must hold real numbers"):
        otkit.emd(a, b, M, potentials_init=(np.full(4, "x"), np.zeros(5)), backend=backend)
    # opt-in normalization, and POT's rescaling when the check is off
    np.testing.assert_allclose(otkit.emd2(a, 1.5 * b, M, normalize=True, backend=backend), ot.emd2(a, b, M),
                               rtol=1e-9)
    np.testing.assert_allclose(otkit.emd2(a, 1.5 * b, M, check_marginals=False, backend=backend),
                               ot.emd2(a, b, M), rtol=1e-9)


def test_inputs_not_modified_and_converted(backend):
    a, b, M = _problem(6, 7, 16)
    a0, b0, M0 = a.copy(), b.copy(), M.copy()
    c = otkit.emd2(a, b, M, backend=backend)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(M, M0)
    # lists, float32, Fortran order and integer costs are converted
    np.testing.assert_allclose(otkit.emd2(a.tolist(), b.tolist(), M.tolist(), backend=backend), c, rtol=1e-12)
    np.testing.assert_allclose(otkit.emd2(a, b, np.asfortranarray(M), backend=backend), c, rtol=1e-12)
    Mi = np.arange(42).reshape(6, 7) % 5
    np.testing.assert_allclose(otkit.emd2(a, b, Mi, backend=backend), ot.emd2(a, b, Mi.astype(float)), rtol=1e-9)


def test_threads(backend):
    """Several Python threads solving at once (the kernels hold no global state)."""
    problems = [_problem(120, 110, 100 + k) for k in range(8)]
    serial = [otkit.emd2(*p, backend=backend) for p in problems]
    barrier = threading.Barrier(4)

    def run(k):
        barrier.wait(timeout=60) if k < 4 else None
        return otkit.emd2(*problems[k], backend=backend)

    with ThreadPoolExecutor(max_workers=4) as ex:
        par = list(ex.map(run, range(8)))
    assert par == serial


def test_cpp_and_numba_agree():
    if not (_backend.is_available("cpp") and _backend.is_available("numba")):
        pytest.skip("needs both backends")
    for seed in range(5):
        a, b, M = _problem(70, 50, 200 + seed, zeros=seed % 2 == 1, integer_costs=seed == 4)
        c1, l1 = otkit.emd2(a, b, M, log=True, backend="cpp")
        c2, l2 = otkit.emd2(a, b, M, log=True, backend="numba")
        np.testing.assert_allclose(c1, c2, rtol=1e-12, atol=0)
        assert l1["niter"] == l2["niter"]  # same algorithm, same pivots


def test_no_warning_when_optimal(backend):
    a, b, M = _problem(15, 15, 17)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        otkit.emd(a, b, M, backend=backend)


def test_forbidden_cells_and_cost_scales(backend):
    """Huge 'forbidden' costs next to O(1) costs, and tiny costs: the optimality tolerance
    follows the costs of the basis arcs, not max |M| (which would be 1e9 here)."""
    rng = np.random.default_rng(18)
    n = 40
    M = rng.random((n, n))
    M[rng.random((n, n)) < 0.3] = 1e9
    a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    A = np.zeros((2 * n, n * n))
    for i in range(n):
        A[i, i * n:(i + 1) * n] = 1.0
        A[n + i, i::n] = 1.0
    res = linprog(M.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    G, lg = otkit.emd(a, b, M, log=True, backend=backend)
    np.testing.assert_allclose(lg["cost"], res.fun, rtol=1e-9)
    _check_optimal(G, a, b, M, lg, tol_cs=1e-18)  # tolerance relative to max|M| = 1e9
    # a larger one: certified by strong duality (primal cost = dual objective, duals feasible)
    n = 300
    M = rng.random((n, n))
    M[rng.random((n, n)) < 0.3] = 1e9
    a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    G, lg = otkit.emd(a, b, M, log=True, backend=backend)
    assert (M - lg["u"][:, None] - lg["v"][None, :]).min() >= -1e-12
    np.testing.assert_allclose(a @ lg["u"] + b @ lg["v"], lg["cost"], rtol=1e-12)
    # tiny costs: the answer scales with M (POT's own result on 1e-12 * M is off by ~0.1%
    # here, so it is compared on the rescaled problem)
    M = rng.random((50, 60))
    a, b = otkit.unif(50), otkit.unif(60)
    tiny = otkit.emd2(a, b, 1e-12 * M, backend=backend)
    np.testing.assert_allclose(tiny, 1e-12 * ot.emd2(a, b, M), rtol=1e-9)
    np.testing.assert_allclose(tiny, 1e-12 * otkit.emd2(a, b, M, backend=backend), rtol=1e-12)


@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize("zeros", [False, True])
def test_potentials_init_warm_start(backend, uniform, zeros):
    """potentials_init (as ot.emd): the same optimum as a cold start, in fewer pivots when the
    potentials come from a nearby problem; arbitrary finite potentials are harmless."""
    rng = np.random.default_rng(7)
    n = 150
    X = rng.normal(size=(n, 2))
    Y = rng.normal(size=(n, 2)) + 0.5
    if uniform:
        a = b = np.full(n, 1.0 / n)
    else:
        a, b, _ = _problem(n, n, 8, zeros=zeros)
    if zeros and uniform:
        a = a.copy()
        a[:10] = 0.0
        a /= a.sum()
    M = otkit.dist(X, Y)
    _, lg0 = otkit.emd(a, b, M, log=True, backend=backend)
    M2 = otkit.dist(X, Y + 0.01 * rng.normal(size=Y.shape))
    G_cold, lg_cold = otkit.emd(a, b, M2, log=True, backend=backend)
    G_warm, lg_warm = otkit.emd(a, b, M2, log=True, potentials_init=(lg0["u"], lg0["v"]), backend=backend)
    _check_optimal(G_warm, a, b, M2, lg_warm)
    np.testing.assert_allclose(lg_warm["cost"], lg_cold["cost"], rtol=1e-13)
    np.testing.assert_allclose(lg_warm["cost"], ot.emd2(a, b, M2), rtol=1e-12)
    assert lg_warm["niter"] < 0.8 * lg_cold["niter"], (lg_warm["niter"], lg_cold["niter"])
    # the duals of the same problem: fewer pivots still
    _, lg_same = otkit.emd(a, b, M2, log=True, potentials_init=(lg_cold["u"], lg_cold["v"]), backend=backend)
    assert lg_same["niter"] < 0.5 * lg_cold["niter"], (lg_same["niter"], lg_cold["niter"])
    # arbitrary (bad) potentials: slower perhaps, still exact
    G_bad, lg_bad = otkit.emd(a, b, M2, log=True, backend=backend,
                              potentials_init=(1e3 * rng.normal(size=n), 1e3 * rng.normal(size=n)))
    _check_optimal(G_bad, a, b, M2, lg_bad)
    np.testing.assert_allclose(lg_bad["cost"], lg_cold["cost"], rtol=1e-13)
    # emd2 with several targets takes the same potentials for each
    B = np.stack([b, b], axis=1)
    vals = otkit.emd2(a, B, M2, potentials_init=(lg0["u"], lg0["v"]), backend=backend)
    np.testing.assert_allclose(vals, [lg_cold["cost"]] * 2, rtol=1e-13)


def test_basis_warm_start(backend):
    """The solver's own tree as a warm start (used by free_support_barycenter): same optimum as
    a cold start on a problem with the same masses and new costs, a handful of pivots when the
    costs moved little, none on the same problem; a tree that does not fit (other masses,
    wrong shape, a cycle, a negative flow) is refused and the solve starts cold."""
    from otkit.emd import _solve

    rng = np.random.default_rng(11)
    n, m = 120, 100
    X, Y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    a, b, _ = _problem(n, m, 12, zeros=True)
    b = b * (a.sum() / b.sum())
    M = otkit.dist(X, Y)
    *_, lg = _solve(a, b, M, 10**6, False, backend, keep_basis=True)
    par, flow = lg["basis"]
    assert par.shape == (n + m,) and flow.shape == (n + m,) and not lg["warm_basis"]
    assert (par == -1).sum() == 1 and ((par == -2) == np.r_[a == 0, b == 0]).all()
    *_, lg_same = _solve(a, b, M, 10**6, False, backend, basis=(par, flow), keep_basis=True)
    assert lg_same["warm_basis"] and lg_same["niter"] == 0
    np.testing.assert_allclose(lg_same["cost"], lg["cost"], rtol=1e-15)
    M2 = otkit.dist(X, Y + 0.01 * rng.normal(size=Y.shape))
    I, J, P, c_cold, lg_cold = _solve(a, b, M2, 10**6, False, backend)
    I2, J2, P2, c_warm, lg_warm = _solve(a, b, M2, 10**6, False, backend, basis=(par, flow), keep_basis=True)
    assert lg_warm["warm_basis"] and lg_warm["niter"] < lg_cold["niter"] / 5, (lg_warm["niter"], lg_cold["niter"])
    np.testing.assert_allclose(c_warm, c_cold, rtol=1e-13)
    np.testing.assert_allclose(c_warm, ot.emd2(a, b, M2), rtol=1e-12)
    G = np.zeros((n, m))
    G[I2, J2] = P2
    _check_optimal(G, a, b, M2, lg_warm)
    # refused: other masses, a cycle, a negative flow, a wrong parent type -> cold start, exact
    a3 = np.roll(a, 1)
    bad = {"other masses": (a3, par, flow)}
    p_cyc = par.copy()
    kids = np.flatnonzero(p_cyc == n + np.flatnonzero(b > 0)[1])
    p_cyc[n + np.flatnonzero(b > 0)[1]] = kids[0] if kids.size else 0
    bad["cycle"] = (a, p_cyc, flow)
    f_neg = flow.copy()
    f_neg[np.flatnonzero(par >= 0)[0]] = -1e-3
    bad["negative flow"] = (a, par, f_neg)
    p_side = par.copy()
    src = np.flatnonzero((par >= 0) & (np.arange(n + m) < n))[0]
    p_side[src] = np.flatnonzero(a > 0)[-1]  # a row hung on a row
    bad["same side"] = (a, p_side, flow)
    for name, (aa, pp, ff) in bad.items():
        *_, c_bad, lg_bad = _solve(aa, b, M2, 10**6, False, backend, basis=(pp, ff), keep_basis=True)
        assert not lg_bad["warm_basis"], name
        np.testing.assert_allclose(c_bad, ot.emd2(aa, b, M2), rtol=1e-12, err_msg=name)
    impl = otkit._ext if backend == "cpp" else _backend.numba_module("emd")
    with pytest.raises(ValueError, match="n \\+ m entries"):
        impl.emd_network_simplex(M2, a, b, 1000, None, None, (par[:-1], flow[:-1]), False)


# ---- batched exact OT ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cpp", "numba"])
def test_emd2_batch_equals_pot_per_problem(backend):
    from conftest import require_backend

    require_backend(backend)
    rng = np.random.default_rng(11)
    B, n, m = 9, 7, 5
    x, y = rng.random((B, n, 2)), rng.random((B, m, 2))
    M = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    a = rng.dirichlet(np.ones(n), size=B)
    a[2, 3] = 0.0
    a[2] /= a[2].sum()
    b = rng.dirichlet(np.ones(m), size=B)
    W, P = otkit.emd2_batch(a, b, M, return_plans=True, num_threads=2, backend=backend)
    ref = np.array([ot.emd2(a[k], b[k], M[k]) for k in range(B)])
    np.testing.assert_allclose(W, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(P.sum(2), a, atol=1e-14)  # the plans are couplings of a_k and b_k
    np.testing.assert_allclose(P.sum(1), b, atol=1e-14)
    np.testing.assert_allclose((P * M).sum((1, 2)), W, rtol=1e-12)
    np.testing.assert_array_equal(otkit.emd2_batch(a, b, M, num_threads=1, backend=backend), W)
    # shared weights: None (uniform) or one row
    np.testing.assert_allclose(otkit.emd2_batch(None, b[0], M), [ot.emd2([], b[0], M[k]) for k in range(B)],
                               rtol=1e-12)


def test_emd2_batch_bad_input():
    M = np.ones((3, 2, 2))
    with pytest.raises(ValueError, match=r"M must be a non-empty \(B, n, m\)"):
        otkit.emd2_batch(None, None, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"a must be \(2,\) or \(B, 2\)"):
        otkit.emd2_batch(np.ones((2, 2)) / 2, None, M)
    with pytest.raises(ValueError, match=r"problem 1 \(a\[1\], b\[1\], M\[1\]\).*same total mass"):
        otkit.emd2_batch(np.array([[.5, .5], [1., 1.], [.5, .5]]), None, M)
    bad = M.copy()
    bad[2, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"problem 2.*M has non-finite"):
        otkit.emd2_batch(None, None, bad)


def test_emd2_batch_torch_gradients_equal_pot():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    B, n, m = 4, 6, 5
    x = torch.tensor(rng.random((B, n, 2)), requires_grad=True)
    y = torch.tensor(rng.random((B, m, 2)))
    a = torch.tensor(rng.dirichlet(np.ones(n), size=B), requires_grad=True)
    M = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    W = otkit.emd2_batch(a, None, M)
    assert isinstance(W, torch.Tensor) and W.shape == (B,) and W.dtype == torch.float64
    W.sum().backward()
    gx, ga = x.grad.clone(), a.grad.clone()
    x.grad = None
    a.grad = None
    M2 = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    ref = torch.stack([ot.emd2(a[k], torch.full((m,), 1.0 / m, dtype=torch.float64), M2[k]) for k in range(B)])
    ref.sum().backward()
    np.testing.assert_allclose(W.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), x.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ga.numpy(), a.grad.numpy(), rtol=1e-9, atol=1e-12)
    W2, P = otkit.emd2_batch(a.detach(), None, M.detach(), return_plans=True)
    assert isinstance(P, torch.Tensor) and P.shape == (B, n, m)
    np.testing.assert_allclose((P * M.detach()).sum((1, 2)).numpy(), W2.numpy(), rtol=1e-12)
