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
