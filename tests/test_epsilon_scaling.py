"""method="sinkhorn_epsilon_scaling": POT's schedule against ot.bregman.sinkhorn_epsilon_scaling, the
geometric schedule against the log-domain solve at the target reg."""
import warnings

import numpy as np
import pytest

import otkit
from otkit import _backend

ot = pytest.importorskip("ot")
BACKENDS = [b for b in ("cpp", "numba") if _backend.is_available(b)]


def _problem(n=40, m=30, seed=0):
    rng = np.random.default_rng(seed)
    M = ot.dist(rng.random((n, 2)), rng.random((m, 2)))
    return rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m)), M


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reg", [0.05, 0.005])
def test_matches_pot(backend, reg):
    a, b, M = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G0, l0 = ot.bregman.sinkhorn_epsilon_scaling(a, b, M, reg, numItermax=100, log=True)
    G1, l1 = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_epsilon_scaling", numItermax=100, log=True,
                            backend=backend)
    np.testing.assert_allclose(G1, G0, rtol=1e-7, atol=1e-14)
    assert l1["niter"] == l0["niter"]
    np.testing.assert_allclose(l1["err"], l0["err"], rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(l1["alpha"], l0["alpha"], rtol=1e-7, atol=1e-10)
    w = otkit.sinkhorn2(a, b, M, reg, method="sinkhorn_epsilon_scaling", numItermax=100, backend=backend)
    np.testing.assert_allclose(w, np.sum(G0 * M), rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_geometric_schedule_reaches_the_log_domain_solution(backend):
    a, b, M = _problem(seed=1)
    kw = dict(stopThr=1e-11, numItermax=100000, log=True, backend=backend)
    G0, l0 = otkit.sinkhorn(a, b, M, 2e-3, method="sinkhorn_log", **kw)
    G1, l1 = otkit.sinkhorn(a, b, M, 2e-3, method="sinkhorn_epsilon_scaling", epsilon_schedule="geometric",
                            epsilon0=1.0, numInnerItermax=20, **kw)
    assert l0["converged"] and l1["converged"]
    np.testing.assert_allclose(G1, G0, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(G1.sum(0), b, atol=1e-11)


def test_batched_is_per_histogram():
    a, b, M = _problem(seed=2)
    rng = np.random.default_rng(3)
    B = rng.dirichlet(np.ones(M.shape[1]), size=3).T
    w = otkit.sinkhorn2(a, B, M, 0.02, method="sinkhorn_epsilon_scaling", numItermax=50)
    for k in range(3):
        wk = otkit.sinkhorn2(a, B[:, k], M, 0.02, method="sinkhorn_epsilon_scaling", numItermax=50)
        np.testing.assert_allclose(w[k], wk, rtol=1e-12)


def test_bad_options():
    a, b, M = _problem()
    for kw, match in ((dict(epsilon_schedule="linear"), "epsilon_schedule"), (dict(epsilon0=-1.0), "epsilon0"),
                      (dict(numInnerItermax=0), "numInnerItermax"), (dict(epsilon_factor=1.5), "epsilon_factor"),
                      (dict(omega=1.5), "omega")):
        with pytest.raises(ValueError, match=match):
            otkit.sinkhorn(a, b, M, 0.1, method="sinkhorn_epsilon_scaling", **kw)
