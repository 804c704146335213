"""Tests of otkit.barycenter, otkit.convolutional_barycenter2d and otkit.free_support_barycenter.

References: POT (ot.bregman.barycenter, ot.bregman.convolutional_barycenter2d,
ot.lp.free_support_barycenter) at equal settings, closed forms, and cpp vs numba.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import otkit
from otkit import _backend

ot = pytest.importorskip("ot")


def grid_problem(d=40, N=3, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(d, dtype=float)
    M = (x[:, None] - x[None, :]) ** 2
    M /= M.max()
    A = np.stack([np.exp(-0.5 * ((x - rng.uniform(0.2, 0.8) * d) / rng.uniform(2, 6)) ** 2) + 1e-3 * rng.random(d)
                  for _ in range(N)], axis=1)
    A /= A.sum(axis=0)
    w = rng.random(N)
    w /= w.sum()
    return A, M, w


def images(N=3, h=12, w=15, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.random((N, h, w)) ** 4 + 1e-4
    return A / A.sum(axis=(1, 2), keepdims=True)


METHODS = ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"]


# ---------------------------------------------------------------------------------------
# agreement with POT
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reg", [5e-2, 1e-2])
def test_barycenter_matches_pot(backend, method, reg):
    A, M, w = grid_problem()
    kw = dict(weights=w, method=method, stopThr=1e-9, numItermax=3000, log=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, lref = ot.bregman.barycenter(A, M, reg, **kw)
    bar, lg = otkit.barycenter(A, M, reg, backend=backend, **kw)
    np.testing.assert_allclose(bar, ref, rtol=1e-6, atol=1e-12)
    assert lg["niter"] == lref["niter"]
    np.testing.assert_allclose(lg["err"], np.asarray(lref["err"], dtype=float), rtol=1e-6, atol=1e-14)
    assert lg["converged"] == (lg["err"][-1] < 1e-9)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_convolutional_matches_pot(backend, method):
    A = images()
    w = np.array([0.2, 0.3, 0.5])
    kw = dict(weights=w, method=method, stopThr=1e-6, numItermax=2000, log=True)
    ref, lref = ot.bregman.convolutional_barycenter2d(A, 5e-3, **kw)
    bar, lg = otkit.convolutional_barycenter2d(A, 5e-3, backend=backend, **kw)
    np.testing.assert_allclose(bar, ref, rtol=1e-6, atol=1e-14)
    assert lg["niter"] == lref["niter"]
    assert lg["converged"]
    np.testing.assert_allclose(lg["err"], np.asarray(lref["err"], dtype=float), rtol=1e-6, atol=1e-14)


def test_convolutional_accepts_list_and_defaults(backend):
    A = images(N=2, h=9, w=9, seed=3)
    ref = ot.bregman.convolutional_barycenter2d(A, 1e-2)
    bar = otkit.convolutional_barycenter2d(list(A), 1e-2, backend=backend)
    np.testing.assert_allclose(bar, ref, rtol=1e-6, atol=1e-14)


def test_free_support_matches_pot(backend):
    rng = np.random.default_rng(1)
    locs = [rng.normal(size=(n, 2)) + 3 * i for i, n in enumerate((7, 9, 8))]
    wts = [rng.dirichlet(np.ones(len(x))) for x in locs]
    X_init = rng.normal(size=(6, 2))
    b = rng.dirichlet(np.ones(6))
    w = np.array([0.5, 0.3, 0.2])
    ref, lref = ot.lp.free_support_barycenter(locs, wts, X_init, b=b, weights=w, log=True)
    X, lg = otkit.free_support_barycenter(locs, wts, X_init, b=b, weights=w, log=True, backend=backend)
    np.testing.assert_allclose(X, ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(lg["displacement_square_norms"], lref["displacement_square_norms"],
                               rtol=1e-6, atol=1e-14)
    assert lg["converged"] and lg["niter"] == len(lg["displacement_square_norms"])


def test_free_support_uniform_matches_pot_and_warm_starts(backend, monkeypatch):
    """Assignment problems (uniform weights), as in the benchmark: POT's iterates, and every
    step after the first restarts each problem from its previous optimal tree."""
    import sys

    rng = np.random.default_rng(3)
    locs = [rng.normal(size=(40, 2)) * rng.uniform(0.5, 2) + rng.normal(size=2) * 3 for _ in range(4)]
    wts = [otkit.unif(40)] * 4
    X_init = rng.normal(size=(40, 2))
    ref, lref = ot.lp.free_support_barycenter(locs, wts, X_init, log=True)
    emd_mod = sys.modules["otkit.emd"]
    solve = emd_mod._solve
    calls = []

    def spy(*args, **kw):
        out = solve(*args, **kw)
        calls.append((kw.get("basis") is not None, out[4]["warm_basis"], out[4]["niter"]))
        return out

    monkeypatch.setattr(emd_mod, "_solve", spy)
    X, lg = otkit.free_support_barycenter(locs, wts, X_init, log=True, backend=backend)
    np.testing.assert_allclose(X, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lg["displacement_square_norms"], lref["displacement_square_norms"],
                               rtol=1e-9, atol=1e-14)
    assert lg["niter"] >= 3 and len(calls) == 4 * lg["niter"]
    assert [c[:2] for c in calls[:4]] == [(False, False)] * 4
    assert all(given and used for given, used, _ in calls[4:])
    # the last step (zero displacement) starts from trees that were optimal for nearly the same
    # costs: a few pivots against hundreds cold
    assert lg["displacement_square_norms"][-1] == 0.0
    cold, last = sum(c[2] for c in calls[:4]), sum(c[2] for c in calls[-4:])
    assert last < 0.05 * cold, (last, cold)


# ---------------------------------------------------------------------------------------
# closed forms and properties
# ---------------------------------------------------------------------------------------
def test_free_support_gaussians_closed_form():
    from scipy.stats import norm

    n = 200
    z = norm.ppf((np.arange(n) + 0.5) / n)  # quantiles of N(0, 1)
    means, stds = np.array([-2.0, 1.0, 5.0]), np.array([0.5, 1.0, 2.0])
    w = np.array([0.2, 0.5, 0.3])
    rng = np.random.default_rng(0)
    locs = [rng.permutation(m + s * z)[:, None] for m, s in zip(means, stds)]
    wts = [otkit.unif(n)] * 3
    X, lg = otkit.free_support_barycenter(locs, wts, rng.normal(size=(n, 1)), weights=w, log=True)
    assert lg["converged"]
    # the W2 barycenter of 1-D Gaussians is Gaussian with the weighted mean of means and of stds
    np.testing.assert_allclose(X.mean(), w @ means, rtol=1e-12)
    np.testing.assert_allclose(X.std(), (w @ stds) * z.std(), rtol=1e-12)
    np.testing.assert_allclose(np.sort(X.ravel()), w @ means + (w @ stds) * z, rtol=1e-12, atol=1e-12)


def test_free_support_weights_one_zero_returns_first_measure():
    rng = np.random.default_rng(2)
    locs = [rng.normal(size=(10, 3)), rng.normal(size=(10, 3)) + 4, rng.normal(size=(5, 3))]
    wts = [otkit.unif(10), otkit.unif(10), otkit.unif(5)]
    X = otkit.free_support_barycenter(locs, wts, rng.normal(size=(10, 3)), weights=[1.0, 0.0, 0.0])
    order = np.lexsort(X.T)
    order1 = np.lexsort(locs[0].T)
    np.testing.assert_allclose(X[order], locs[0][order1], rtol=1e-15, atol=0)


def test_copies_converge_to_histogram_as_reg_to_zero(backend):
    A1, M, _ = grid_problem(d=50, N=1, seed=4)
    A = np.repeat(A1, 4, axis=1)
    errs = []
    for reg in [1e-1, 1e-2, 1e-3, 2e-4]:
        bar = otkit.barycenter(A, M, reg, method="sinkhorn_log", stopThr=1e-10, numItermax=5000,
                               backend=backend)
        errs.append(np.abs(bar - A1[:, 0]).sum())
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-2, errs


def test_log_domain_where_kernel_underflows(backend):
    d = 60
    x = np.linspace(0, 1, d)
    M = (x[:, None] - x[None, :]) ** 2
    A = np.zeros((d, 2))
    A[:5, 0] = 0.2
    A[-5:, 1] = 0.2
    reg = 2e-4  # exp(-M / reg) underflows to 0 for |x - y| > 0.39
    with pytest.warns(RuntimeWarning, match="sinkhorn_log"):
        bad, lbad = otkit.barycenter(A, M, reg, backend=backend, log=True, stopThr=1e-8)
    assert not lbad["converged"] and not np.isfinite(bad).all()
    bar, lg = otkit.barycenter(A, M, reg, method="sinkhorn_log", backend=backend, log=True, stopThr=1e-8)
    assert lg["converged"] and np.isfinite(bar).all()
    np.testing.assert_allclose(bar.sum(), 1.0, rtol=1e-6)
    ref = ot.bregman.barycenter(A, M, reg, method="sinkhorn_log", stopThr=1e-8)
    np.testing.assert_allclose(bar, ref, rtol=1e-6, atol=1e-12)
    # the barycenter of two masses at the ends sits in the middle
    assert abs(x @ bar - 0.5) < 1e-2


def test_convolutional_log_small_reg(backend):
    A = np.zeros((2, 16, 16))
    A[0, :3, :3] = 1.0 / 9
    A[1, -3:, -3:] = 1.0 / 9
    reg = 4e-4
    bar, lg = otkit.convolutional_barycenter2d(A, reg, method="sinkhorn_log", backend=backend, log=True,
                                               stopThr=1e-6)
    ref = ot.bregman.convolutional_barycenter2d(A, reg, method="sinkhorn_log", stopThr=1e-6)
    np.testing.assert_allclose(bar, ref, rtol=1e-6, atol=1e-14)
    assert np.isfinite(bar).all()


@pytest.mark.parametrize("method", METHODS)
def test_cpp_and_numba_agree(method):
    if not (_backend.is_available("cpp") and _backend.is_available("numba")):
        pytest.skip("needs both backends")
    A, M, w = grid_problem(d=45, N=4, seed=7)
    r = [otkit.barycenter(A, M, 2e-2, weights=w, method=method, stopThr=1e-10, log=True, backend=b)
         for b in ("cpp", "numba")]
    np.testing.assert_allclose(r[0][0], r[1][0], rtol=1e-10, atol=1e-15)
    assert r[0][1]["niter"] == r[1][1]["niter"]
    imgs = images(N=2, h=10, w=11, seed=5)
    c = [otkit.convolutional_barycenter2d(imgs, 1e-2, stopThr=1e-8, backend=b) for b in ("cpp", "numba")]
    np.testing.assert_allclose(c[0], c[1], rtol=1e-10, atol=1e-15)


def test_non_convergence_warns_with_error(backend):
    A, M, w = grid_problem()
    with pytest.warns(UserWarning, match=r"reached error [0-9.e+-]+ > stopThr"):
        bar, lg = otkit.barycenter(A, M, 1e-2, numItermax=5, stopThr=1e-12, log=True, backend=backend)
    assert not lg["converged"] and lg["niter"] == 4 and len(lg["err"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        otkit.barycenter(A, M, 1e-2, numItermax=5, stopThr=1e-12, warn=False, backend=backend)
    with pytest.warns(UserWarning, match="reached error"):
        otkit.convolutional_barycenter2d(images(), 1e-2, numItermax=10, stopThr=1e-14, backend=backend)
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="displacement"):
        otkit.free_support_barycenter([rng.normal(size=(5, 1))] * 2, [otkit.unif(5)] * 2, rng.normal(size=(5, 1)),
                                      numItermax=1, stopThr=0.0)


def test_inputs_not_modified():
    A, M, w = grid_problem()
    A0, M0, w0 = A.copy(), M.copy(), w.copy()
    otkit.barycenter(A, M, 1e-2, weights=w)
    imgs = images()
    i0 = imgs.copy()
    otkit.convolutional_barycenter2d(imgs, 1e-2)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(M, M0)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(imgs, i0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), N=st.integers(1, 7), d=st.integers(2, 30))
def test_permutation_invariance_and_simplex(seed, N, d):
    rng = np.random.default_rng(seed)
    A = rng.random((d, N)) + 1e-3
    A /= A.sum(axis=0)
    x = rng.random((d, 2))
    M = otkit.dist(x, x)
    w = rng.dirichlet(np.ones(N))
    perm = rng.permutation(N)
    b1 = otkit.barycenter(A, M, 0.1, weights=w, stopThr=1e-10, warn=False)
    b2 = otkit.barycenter(A[:, perm], M, 0.1, weights=w[perm], stopThr=1e-10, warn=False)
    np.testing.assert_allclose(b1, b2, rtol=1e-8, atol=1e-14)
    assert (b1 >= 0).all()
    np.testing.assert_allclose(b1.sum(), 1.0, rtol=1e-4)


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------
def test_bad_input_fixed_support():
    A, M, w = grid_problem()
    bad = A.copy()
    bad[0, 1] = -0.1
    with pytest.raises(ValueError, match="A has negative"):
        otkit.barycenter(bad, M, 1e-2)
    bad = A.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="A has non-finite"):
        otkit.barycenter(bad, M, 1e-2)
    with pytest.raises(ValueError, match="column 2 of A must be a probability vector"):
        otkit.barycenter(A * np.array([1, 1, 2.0]), M, 1e-2)
    with pytest.raises(ValueError, match="weights must be a 1-D array of length 3"):
        otkit.barycenter(A, M, 1e-2, weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="weights must be a probability vector"):
        otkit.barycenter(A, M, 1e-2, weights=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="weights has negative"):
        otkit.barycenter(A, M, 1e-2, weights=[1.5, -0.5, 0.0])
    with pytest.raises(ValueError, match=r"M must have shape \(dim, dim\)"):
        otkit.barycenter(A, M[:-1], 1e-2)
    Minf = M.copy()
    Minf[0, 1] = np.inf
    with pytest.raises(ValueError, match="M has non-finite"):
        otkit.barycenter(A, Minf, 1e-2)
    for reg in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="reg must be"):
            otkit.barycenter(A, M, reg)
    with pytest.raises(ValueError, match="unknown method"):
        otkit.barycenter(A, M, 1e-2, method="greenkhorn")
    with pytest.raises(ValueError, match="A must be a 2-D"):
        otkit.barycenter(A[:, 0], M, 1e-2)
    with pytest.raises(ValueError, match="numItermax"):
        otkit.barycenter(A, M, 1e-2, numItermax=0)
    with pytest.raises(TypeError, match="A must hold real numbers"):
        otkit.barycenter(np.full((3, 2), "x"), M, 1e-2)
    with pytest.raises(ValueError, match="unknown backend"):
        otkit.barycenter(A, M, 1e-2, backend="fortran")


def test_bad_input_images():
    A = images()
    with pytest.raises(ValueError, match="same shape"):
        otkit.convolutional_barycenter2d([A[0], A[1][:, :-1] / A[1][:, :-1].sum()], 1e-2)
    with pytest.raises(ValueError, match="A must be a 3-D"):
        otkit.convolutional_barycenter2d(A[0], 1e-2)
    bad = A.copy()
    bad[1, 2, 3] = -1e-3
    with pytest.raises(ValueError, match="negative entries.*image 1"):
        otkit.convolutional_barycenter2d(bad, 1e-2)
    with pytest.raises(ValueError, match="image 2 of A must be a probability vector"):
        otkit.convolutional_barycenter2d(A * np.array([1, 1, 3.0])[:, None, None], 1e-2)
    with pytest.raises(ValueError, match="weights must be a 1-D array of length 3"):
        otkit.convolutional_barycenter2d(A, 1e-2, weights=[1.0])
    with pytest.raises(ValueError, match="reg must be"):
        otkit.convolutional_barycenter2d(A, 0.0)


def test_bad_input_free_support():
    rng = np.random.default_rng(0)
    locs = [rng.normal(size=(4, 2)), rng.normal(size=(5, 2))]
    wts = [otkit.unif(4), otkit.unif(5)]
    X0 = rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match=r"measures_locations\[1\] must be a \(k_i, 2\)"):
        otkit.free_support_barycenter([locs[0], rng.normal(size=(5, 3))], wts, X0)
    with pytest.raises(ValueError, match=r"measures_weights\[1\] has length 4"):
        otkit.free_support_barycenter(locs, [wts[0], otkit.unif(4)], X0)
    with pytest.raises(ValueError, match=r"measures_weights\[0\] must be a probability vector"):
        otkit.free_support_barycenter(locs, [2 * wts[0], wts[1]], X0)
    with pytest.raises(ValueError, match="weights must be a probability vector"):
        otkit.free_support_barycenter(locs, wts, X0, weights=[0.3, 0.3])
    with pytest.raises(ValueError, match="b has length 2"):
        otkit.free_support_barycenter(locs, wts, X0, b=[0.5, 0.5])
    with pytest.raises(ValueError, match="measures_weights has 1 entries"):
        otkit.free_support_barycenter(locs, wts[:1], X0)


def test_cpp_result_independent_of_threads():
    if not _backend.is_available("cpp"):
        pytest.skip("needs the C++ extension")
    ext = _backend.ext()
    A, M, w = grid_problem(d=330, N=10, seed=8)  # d * d * N above the parallel threshold
    r1 = ext.bary_sinkhorn(M, A, w, 1e-2, 25, 0.0, 1)
    r2 = ext.bary_sinkhorn(M, A, w, 1e-2, 25, 0.0, 2)
    np.testing.assert_array_equal(r1["bar"], r2["bar"])
    # past a period of the thread tuner (100 iterations), and again once it remembers the one-thread time
    # (probes all threads first): same result as one thread
    l1 = ext.bary_sinkhorn(M, A, w, 1e-2, 130, 0.0, 1)
    for _ in range(2):
        np.testing.assert_array_equal(ext.bary_sinkhorn(M, A, w, 1e-2, 130, 0.0, 2)["bar"], l1["bar"])
    Mn = M + 0.01 * np.random.default_rng(1).random(M.shape)  # not symmetric: the fused pass
    s1 = ext.bary_sinkhorn_stabilized(Mn, A, w, 1e-3, 1e3, 25, 0.0, 1)  # tau 1e3: absorbs on the way
    s2 = ext.bary_sinkhorn_stabilized(Mn, A, w, 1e-3, 1e3, 25, 0.0, 2)
    np.testing.assert_array_equal(s1["bar"], s2["bar"])
    n1 = ext.bary_sinkhorn(Mn, A, w, 1e-2, 25, 0.0, 1)
    n2 = ext.bary_sinkhorn(Mn, A, w, 1e-2, 25, 0.0, 2)
    np.testing.assert_array_equal(n1["bar"], n2["bar"])
    imgs = images(N=4, h=70, w=66, seed=9)
    c1 = ext.bary_conv2d(imgs, otkit.unif(4), 1e-2, 15, 0.0, 1e-30, 1)
    c2 = ext.bary_conv2d(imgs, otkit.unif(4), 1e-2, 15, 0.0, 1e-30, 2)
    np.testing.assert_array_equal(c1["bar"], c2["bar"])


@pytest.mark.parametrize("d,N", [(1, 2), (15, 1), (16, 12), (17, 13), (33, 25), (70, 5)])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_stabilized"])
def test_packed_products_shapes_match_pot(method, sym, d, N):
    """The C++ kernel form applies a symmetric K from packed panels of 16 (AVX-512) or 8 rows and
    up to 12 (or 6) histograms per tile, a non-symmetric one (and the stabilized form) with the
    fused row-panel pass: d around the panel sizes, N around the tile widths, 30 iterations
    against POT's iterates."""
    if not _backend.is_available("cpp"):
        pytest.skip("needs the C++ extension")
    rng = np.random.default_rng(d * 100 + N)
    A = rng.random((d, N)) + 1e-3
    A /= A.sum(axis=0)
    x = rng.random((d, 2))
    M = otkit.dist(x, x) if sym else otkit.dist(x, rng.random((d, 2)))
    assert (M == M.T).all() == (sym or d == 1)
    w = rng.dirichlet(np.ones(N))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ot.bregman.barycenter(A, M, 0.05, weights=w, method=method, stopThr=0.0, numItermax=30)
    bar = otkit.barycenter(A, M, 0.05, weights=w, method=method, stopThr=0.0, numItermax=30, warn=False,
                           backend="cpp")
    np.testing.assert_allclose(bar, ref, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_zeros_and_nonsymmetric_cost_match_pot(backend, method):
    rng = np.random.default_rng(3)
    A = rng.random((37, 3))
    A[rng.random((37, 3)) < 0.4] = 0.0
    A /= A.sum(axis=0)
    M = 2 * rng.random((37, 37))  # not symmetric, no zero diagonal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ot.bregman.barycenter(A, M, 0.1, method=method, stopThr=1e-10)
    bar = otkit.barycenter(A, M, 0.1, method=method, stopThr=1e-10, backend=backend)
    np.testing.assert_allclose(bar, ref, rtol=1e-6, atol=1e-14)


def test_geometric_mean_uses_accurate_vectorized_log_and_exp():
    """The kernel-form barycenter takes N x d logs and d exps per iteration with otkit's vectorized
    fast_log / fast_exp (~1 ulp): the iterates stay POT's to 1e-12 over many iterations, including
    histograms with tiny entries (logs of subnormal-range scalings)."""
    rng = np.random.default_rng(4)
    d, N = 60, 4
    x = np.linspace(0, 1, d)
    M = (x[:, None] - x[None, :]) ** 2
    A = rng.random((d, N)) ** 8 + 1e-300
    A /= A.sum(0)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    for reg in (0.05, 5e-3):
        b, lg = otkit.barycenter(A, M, reg, weights=w, numItermax=400, stopThr=1e-12, log=True, warn=False,
                                 backend="cpp")
        b_ref, lg_ref = ot.bregman.barycenter(A, M, reg, weights=w, numItermax=400, stopThr=1e-12, log=True,
                                              warn=False)
        assert lg["niter"] == lg_ref["niter"]
        np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-300)
