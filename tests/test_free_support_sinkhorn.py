"""free_support_sinkhorn_barycenter: POT's iterates and displacement log, and the behaviour of the
exact free-support barycenter as reg -> 0."""
import warnings

import numpy as np
import ot
import pytest

import otkit


def _measures(seed=0, N=3, k=20, d=2):
    rng = np.random.default_rng(seed)
    locs = [rng.normal(size=(k + 3 * i, d)) + i for i in range(N)]
    wts = [np.full(len(x), 1.0 / len(x)) for x in locs]
    return locs, wts, rng.normal(size=(k, d))


@pytest.mark.parametrize("reg", [1.0, 0.1])
def test_equals_pot(reg):
    locs, wts, X0 = _measures()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, lg = otkit.free_support_sinkhorn_barycenter(locs, wts, X0, reg, numItermax=15, log=True)
        R, rlg = ot.bregman.free_support_sinkhorn_barycenter(locs, wts, X0, reg, numItermax=15, log=True)
    np.testing.assert_allclose(X, R, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(lg["displacement_square_norms"], [float(v) for v in rlg["displacement_square_norms"]],
                               rtol=1e-6, atol=1e-12)
    assert lg["niter"] == len(rlg["displacement_square_norms"])


def test_small_reg_approaches_exact_and_errors():
    # one fixed-point step from the same support (the problem is not convex: whole runs may end at different
    # fixed points): the entropic step tends to the exact one as reg -> 0
    locs, wts, X0 = _measures(1, N=2, k=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = otkit.free_support_barycenter(locs, wts, X0, numItermax=1)
        ent = otkit.free_support_sinkhorn_barycenter(locs, wts, X0, 1e-2, numItermax=1, method="sinkhorn_log",
                                                     numInnerItermax=100000)
        ref = otkit.free_support_sinkhorn_barycenter(locs, wts, X0, 1.0, numItermax=1)
    assert np.abs(ent - exact).max() < 0.05 * np.abs(ref - exact).max()
    with pytest.raises(ValueError, match="reg"):
        otkit.free_support_sinkhorn_barycenter(locs, wts, X0, -1.0)
    with pytest.raises(ValueError, match="measures_weights has 1 entries"):
        otkit.free_support_sinkhorn_barycenter(locs, wts[:1], X0, 0.1)


@pytest.mark.parametrize("reg", [1.0, 0.1])
def test_lazy_stores_no_matrix_and_equals_the_log_domain(backend, reg):
    """lazy=True: the plans on PointCloud geometries, applied block by block; the same iterates as the dense
    log-domain solve (method='sinkhorn_log'), and POT's iterates (kernel form: the same scalings)."""
    locs, wts, X0 = _measures(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, lg = otkit.free_support_sinkhorn_barycenter(locs, wts, X0, reg, numItermax=15, log=True, lazy=True,
                                                       backend=backend)
        D, dl = otkit.free_support_sinkhorn_barycenter(locs, wts, X0, reg, numItermax=15, log=True,
                                                       method="sinkhorn_log", backend=backend)
        R = ot.bregman.free_support_sinkhorn_barycenter(locs, wts, X0, reg, numItermax=15)
    np.testing.assert_allclose(X, D, rtol=1e-9, atol=1e-11)
    assert lg["niter"] == dl["niter"]
    np.testing.assert_allclose(X, R, rtol=1e-7, atol=1e-10)


def test_lazy_plan_dot_is_blockwise_matmul():
    rng = np.random.default_rng(3)
    x, y = rng.random((30, 2)), rng.random((20, 2))
    f, g, lg = otkit.empirical_sinkhorn(x, y, 0.1, isLazy=True, log=True)
    Y = rng.random((20, 3))
    np.testing.assert_allclose(lg["lazy_plan"].dot(Y), np.asarray(lg["lazy_plan"]) @ Y, rtol=1e-13)
