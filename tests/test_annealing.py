"""Epsilon scaling inside the log-domain drivers (SinkhornOptions.anneal_*) and the symmetric (debiasing) driver:
C++ against Numba (same iterates), the annealed solve against the plain one at convergence, a NumPy reference of
the averaged fixed point, and the option checks."""
import warnings

import numpy as np
import pytest

import otkit
from otkit import _backend, geometry

BACKENDS = [b for b in ("cpp", "numba") if _backend.is_available(b)]


def _clouds(n=60, m=45, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.random((m, d)), rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))


def _cloud_solve(backend, x, y, a, b, reg, **opt):
    impl = _backend.kernels(backend, "sinkhorn")[1]
    X, Y = np.zeros((len(x), 1)), np.zeros((len(y), 1))
    r = impl.sinkhorn_cloud_f64(x, y, a, b[:, None], reg, X, Y, metric="sqeuclidean",
                                options=impl.SinkhornOptions(**opt), want_trace=True)
    return X[:, 0], Y[:, 0], r


def test_cpp_equals_numba_with_annealing():
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    x, y, a, b = _clouds()
    opt = dict(max_iter=5000, stop_thr=1e-10, anneal_start=2.0, anneal_factor=0.5, anneal_inner=2)
    f1, g1, r1 = _cloud_solve("cpp", x, y, a, b, 2e-3, **opt)
    f2, g2, r2 = _cloud_solve("numba", x, y, a, b, 2e-3, **opt)
    assert r1["niter"][0] == r2["niter"][0]
    np.testing.assert_allclose(f1, f2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r1["trace"], r2["trace"], rtol=1e-6, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_annealed_solve_reaches_the_plain_solution(backend):
    x, y, a, b = _clouds(seed=1)
    reg = 2e-3
    f0, g0, r0 = _cloud_solve(backend, x, y, a, b, reg, max_iter=200000, stop_thr=1e-12)
    f1, g1, r1 = _cloud_solve(backend, x, y, a, b, reg, max_iter=200000, stop_thr=1e-12, anneal_start=2.0,
                              anneal_factor=0.5)
    assert r0["status"][0] == r1["status"][0] == 0
    shift = np.mean(f1 - f0)  # (f + c, g - c) is the same plan
    np.testing.assert_allclose(f1 - shift, f0, atol=1e-8)
    np.testing.assert_allclose(g1 + shift, g0, atol=1e-8)
    np.testing.assert_allclose(r1["values"], r0["values"], rtol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_annealing_counts_its_iterations(backend):
    x, y, a, b = _clouds(seed=2)
    # stages 1.0, 0.5, 0.25, 0.125 (> 0.1), 3 iterations each, then the solve at 0.1 capped at 5 iterations
    _, _, r = _cloud_solve(backend, x, y, a, b, 0.1, max_iter=5, stop_thr=0.0, anneal_start=1.0, anneal_factor=0.5,
                           anneal_inner=3)
    assert r["niter"][0] == 4 * 3 + 4
    assert r["status"][0] == 1  # MAX_ITER


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_geometric_schedule_is_one_kernel_call(backend):
    rng = np.random.default_rng(3)
    x, y = rng.random((40, 2)), rng.random((30, 2))
    a, b = np.full(40, 1 / 40), np.full(30, 1 / 30)
    M = otkit.dist(x, y)
    kw = dict(method="sinkhorn_epsilon_scaling", epsilon_schedule="geometric", epsilon0=1.0, numInnerItermax=3,
              stopThr=1e-11, numItermax=100000, log=True, backend=backend)
    G1, l1 = otkit.sinkhorn(a, b, M, 2e-3, **kw)
    G2, l2 = otkit.sinkhorn(a, b, geometry.PointCloud(x, y), 2e-3, **kw)  # the same iterates on the clouds
    assert l1["niter"] == l2["niter"]
    np.testing.assert_allclose(G2, G1, rtol=1e-8, atol=1e-14)


def _T(F, C, loga, reg):
    S = F[None, :] - C / reg
    mx = S.max(1)
    return loga - (mx + np.log(np.exp(S - mx[:, None]).sum(1)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_symmetric_driver_against_numpy(backend, metric):
    x, _, a, _ = _clouds(n=50, seed=4)
    reg = 0.05
    C = otkit.dist(x, x, metric=metric)
    loga = np.log(a)
    F = np.zeros(50)  # the averaged fixed point in NumPy, 40 steps
    for _ in range(40):
        F = 0.5 * (F + _T(F, C, loga, reg))
    impl = _backend.kernels(backend, "sinkhorn")[1]
    f = np.zeros(50)
    r = impl.sinkhorn_symmetric_cloud_f64(x, a, reg, f, metric=metric,
                                          options=impl.SinkhornOptions(max_iter=40, stop_thr=0.0, check_every=1))
    assert r["status"][0] == 1 and r["niter"][0] == 39
    np.testing.assert_allclose(f, F, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("backend", BACKENDS)
def test_symmetric_driver_converges_to_a_symmetric_plan(backend):
    x, _, a, _ = _clouds(n=70, seed=5)
    reg = 2 * 0.05 ** 2
    impl = _backend.kernels(backend, "sinkhorn")[1]
    f = np.zeros(70)
    r = impl.sinkhorn_symmetric_cloud_f64(x, a, reg, f, metric="sqeuclidean", want_trace=True,
                                          options=impl.SinkhornOptions(max_iter=100000, stop_thr=1e-13, check_every=1,
                                                                       anneal_start=2.0, anneal_factor=0.25))
    assert r["status"][0] == 0 and r["err"][0] < 1e-13
    P = np.exp(f[:, None] + f[None, :] - otkit.dist(x, x) / reg)
    np.testing.assert_allclose(P.sum(1), a, atol=1e-13)
    # the same plan as the alternating solver on the dense cost (the unique optimum)
    G = otkit.sinkhorn(a, a, otkit.dist(x, x), reg, method="sinkhorn_log", stopThr=1e-13, numItermax=10 ** 6)
    np.testing.assert_allclose(P, G, atol=1e-10)


def test_symmetric_cpp_equals_numba_with_annealing():
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    x, _, a, _ = _clouds(n=80, d=3, seed=6)
    out = []
    for be in BACKENDS:
        impl = _backend.kernels(be, "sinkhorn")[1]
        f = np.zeros(80)
        r = impl.sinkhorn_symmetric_cloud_f64(x, a, 1e-3, f, metric="sqeuclidean",
                                              options=impl.SinkhornOptions(max_iter=10000, stop_thr=1e-11,
                                                                           anneal_start=3.0, anneal_factor=0.5))
        out.append((f, int(r["niter"][0])))
    assert out[0][1] == out[1][1]
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_annealing_options_are_checked(backend):
    impl = _backend.kernels(backend, "sinkhorn")[1]
    rng = np.random.default_rng(7)
    M = rng.random((5, 4))
    a, b = np.full(5, 0.2), np.full((4, 1), 0.25)
    for method in (impl.SinkhornMethod.KERNEL, impl.SinkhornMethod.STABILIZED):
        with pytest.raises(ValueError, match="epsilon scaling"):
            impl.sinkhorn_f64(M, a, b, 0.1, np.ones((5, 1)), np.ones((4, 1)), method=method,
                              options=impl.SinkhornOptions(anneal_start=1.0))
    for bad, match in ((dict(anneal_factor=1.5), "anneal_factor"), (dict(anneal_inner=0), "anneal_inner"),
                       (dict(anneal_start=-1.0), "anneal_start"), (dict(anneal_start=np.inf), "anneal_start")):
        with pytest.raises(ValueError, match=match):
            impl.sinkhorn_f64(M, a, b, 0.1, np.zeros((5, 1)), np.zeros((4, 1)), method=impl.SinkhornMethod.LOG,
                              options=impl.SinkhornOptions(**bad))


def test_unbalanced_rejects_annealing():
    if not _backend.is_available("cpp"):
        pytest.skip("C++ extension not built")
    ext = _backend.ext()
    M = np.random.default_rng(8).random((5, 4))
    with pytest.raises(ValueError, match="epsilon scaling"):
        ext.sinkhorn_unbalanced_f64(M, M, np.full(5, 0.2), np.full((4, 1), 0.25), 0.1, np.zeros((5, 1)),
                                    np.zeros((4, 1)), reg_m1=1.0, reg_m2=1.0, method=ext.UnbalancedMethod.KNOPP,
                                    options=ext.SinkhornOptions(anneal_start=1.0))


@pytest.mark.parametrize("scaling", [0.3, 0.5, 0.9])
def test_samples_loss_value_does_not_depend_on_scaling(scaling):
    x, y, _, _ = _clouds(n=120, m=100, seed=9)
    ref = otkit.SamplesLoss("sinkhorn", p=2, blur=0.05, tol=1e-13, scaling=0.5)(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = otkit.SamplesLoss("sinkhorn", p=2, blur=0.05, tol=1e-13, scaling=scaling)(x, y)
    np.testing.assert_allclose(v, ref, rtol=1e-9)
    with pytest.raises(ValueError, match="scaling"):
        otkit.SamplesLoss(scaling=1.0)


def test_omega_auto_cpp_equals_numba():
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    x, y, a, b = _clouds(n=90, m=70, seed=10)
    opt = dict(max_iter=100000, stop_thr=1e-10, omega_auto=True, omega_start=1e-2, anneal_start=2.0)
    (f1, g1, r1), (f2, g2, r2) = (_cloud_solve(be, x, y, a, b, 1e-3, **opt) for be in BACKENDS)
    assert r1["niter"][0] == r2["niter"][0]
    np.testing.assert_allclose(f1, f2, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(g1, g2, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_omega_auto_reaches_the_plain_solution_in_fewer_iterations(backend, method):
    rng = np.random.default_rng(11)
    x, y = rng.random((80, 2)), rng.random((60, 2))
    a, b = rng.dirichlet(np.ones(80)), rng.dirichlet(np.ones(60))
    M = otkit.dist(x, y)
    kw = dict(method=method, stopThr=1e-10, numItermax=10 ** 6, log=True, backend=backend)
    G0, l0 = otkit.sinkhorn(a, b, M, 5e-3, **kw)
    G1, l1 = otkit.sinkhorn(a, b, M, 5e-3, omega="auto", **kw)
    assert l0["converged"] and l1["converged"]
    np.testing.assert_allclose(G1, G0, atol=1e-9)
    # measured on this problem: 1170 plain iterations, 270 with omega="auto" (both methods and backends)
    assert l1["niter"] < 0.5 * l0["niter"]
    with pytest.raises(ValueError, match="omega"):
        otkit.sinkhorn(a, b, M, 5e-3, omega="fast", method=method, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omega_auto_is_rejected_where_not_available(backend):
    rng = np.random.default_rng(12)
    M = rng.random((6, 5))
    a, b = np.full(6, 1 / 6), np.full(5, 0.2)
    with pytest.raises(ValueError, match="over-relaxation"):
        otkit.sinkhorn(a, b, M, 0.1, method="sinkhorn_stabilized", omega="auto", backend=backend)
    with pytest.raises(ValueError, match="over-relaxation"):
        otkit.sinkhorn(a, np.stack([b, b], 1), M, 0.1, method="sinkhorn", omega="auto", backend=backend)
    impl = _backend.kernels(backend, "sinkhorn")[1]
    with pytest.raises(ValueError, match="over-relaxation"):
        impl.sinkhorn_f64(M, a, b[:, None], 0.1, np.zeros((6, 1)), np.zeros((5, 1)),
                          method=impl.SinkhornMethod.STABILIZED, options=impl.SinkhornOptions(omega_auto=True))
