"""Anderson acceleration of Sinkhorn (``anderson=`` of otkit.sinkhorn / sinkhorn2; csrc/common/anderson.h and its
Numba twin otkit/_numba/anderson.py): the same fixed point as plain Sinkhorn and POT, in fewer iterations, on the
C++ and Numba kernels, and clear errors where it is not available."""
import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import otkit
from otkit import geometry

from conftest import require_backend

HOST = ["cpp", "numba"]


def problem(n, m, seed=0, zeros=False):
    """Points of the unit square, Euclidean cost scaled to median 1 (the slow regime of Sinkhorn at small reg)."""
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = otkit.dist(x, y, "euclidean")
    M /= np.median(M)
    a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
    if zeros:
        b[rng.choice(m, m // 5, replace=False)] = 0.0
        b /= b.sum()
    return a, b, M


@pytest.fixture(params=HOST)
def backend(request):
    return require_backend(request.param)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_same_fixed_point_as_pot_in_fewer_iterations(backend, method):
    a, b, M = problem(150, 120)
    reg = 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P_pot = ot.sinkhorn(a, b, M, reg, stopThr=1e-12, numItermax=200000)
    P, lg = otkit.sinkhorn(a, b, M, reg, method=method, anderson=5, stopThr=1e-12, numItermax=200000, log=True,
                           backend=backend)
    _, lg_plain = otkit.sinkhorn(a, b, M, reg, method=method, stopThr=1e-12, numItermax=200000, log=True,
                                 backend=backend)
    assert lg["converged"] and lg_plain["converged"]
    np.testing.assert_allclose(P, P_pot, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(P.sum(0), b, rtol=0, atol=1e-11)
    np.testing.assert_allclose(np.sum(P * M), np.sum(P_pot * M), rtol=1e-9)
    # the point of it: at this reg plain Sinkhorn needs several times more iterations
    assert lg["niter"] * 3 < lg_plain["niter"], (lg["niter"], lg_plain["niter"])


@pytest.mark.parametrize("memory", [1, 3, 8])
def test_cpp_equals_numba(memory):
    require_backend("cpp")
    require_backend("numba")
    a, b, M = problem(90, 70, seed=3)
    for method in ("sinkhorn", "sinkhorn_log"):
        vals = [otkit.sinkhorn2(a, b, M, 0.03, method=method, anderson=memory, stopThr=1e-11, numItermax=100000,
                                backend=be) for be in HOST]
        np.testing.assert_allclose(vals[0], vals[1], rtol=1e-10)


def test_empty_columns_and_float32(backend):
    a, b, M = problem(80, 100, seed=1, zeros=True)
    for method in ("sinkhorn", "sinkhorn_log"):
        P, lg = otkit.sinkhorn(a, b, M, 0.05, method=method, anderson=5, stopThr=1e-11, numItermax=50000, log=True,
                               backend=backend)
        assert lg["converged"]
        assert np.all(P[:, b == 0] == 0)  # an empty column keeps v_j = 0
        np.testing.assert_allclose(P.sum(0), b, atol=1e-11)
        ref = otkit.sinkhorn2(a, b, M, 0.05, method=method, stopThr=1e-11, numItermax=50000, backend=backend)
        np.testing.assert_allclose(np.sum(P * M), ref, rtol=1e-9)
        v32 = otkit.sinkhorn2(a.astype(np.float32), b.astype(np.float32), M.astype(np.float32), 0.05,
                              method=method, anderson=5, stopThr=1e-5, numItermax=50000, backend=backend)
        assert v32.dtype == np.float32
        np.testing.assert_allclose(v32, ref, rtol=1e-4)


def test_point_cloud_geometry(backend):
    rng = np.random.default_rng(5)
    x, y = rng.random((120, 2)), rng.random((90, 2))
    a, b = rng.dirichlet(np.ones(120)), rng.dirichlet(np.ones(90))
    reg = 0.005
    cloud = geometry.PointCloud(x, y)
    v, lg = otkit.sinkhorn2(a, b, cloud, reg, method="sinkhorn_log", anderson=5, stopThr=1e-11, numItermax=100000,
                            log=True, backend=backend)
    dense = otkit.sinkhorn2(a, b, otkit.dist(x, y), reg, method="sinkhorn_log", stopThr=1e-11, numItermax=100000,
                            backend=backend)
    assert lg["converged"]
    np.testing.assert_allclose(v, dense, rtol=1e-9)


def test_geometric_epsilon_scaling(backend):
    a, b, M = problem(100, 100, seed=2)
    v, lg = otkit.sinkhorn2(a, b, M, 0.01, method="sinkhorn_epsilon_scaling", epsilon_schedule="geometric",
                            epsilon0=1.0, numInnerItermax=1, anderson=5, stopThr=1e-11, numItermax=100000, log=True,
                            backend=backend)
    ref = otkit.sinkhorn2(a, b, M, 0.01, method="sinkhorn_log", omega="auto", stopThr=1e-11, numItermax=100000,
                          backend=backend)
    np.testing.assert_allclose(v, ref, rtol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=hst.integers(0, 10 ** 6), n=hst.integers(2, 40), m=hst.integers(2, 40),
       reg=hst.sampled_from([1.0, 0.1, 0.03]), memory=hst.integers(1, 10))
def test_property_same_value_as_plain(seed, n, m, reg, memory):
    rng = np.random.default_rng(seed)
    M = rng.random((n, m))
    a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
    plain = otkit.sinkhorn2(a, b, M, reg, method="sinkhorn_log", stopThr=1e-12, numItermax=200000)
    for method in ("sinkhorn", "sinkhorn_log"):
        v = otkit.sinkhorn2(a, b, M, reg, method=method, anderson=memory, stopThr=1e-12, numItermax=200000)
        np.testing.assert_allclose(v, plain, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("bad,error", [(-1, ValueError), (33, ValueError), (1.5, TypeError), (True, TypeError),
                                       ("5", TypeError), (None, TypeError)])
def test_bad_memory(bad, error):
    a, b, M = problem(5, 5)
    with pytest.raises(error, match="anderson"):
        otkit.sinkhorn2(a, b, M, 0.1, anderson=bad)


def test_where_it_is_not_available(backend):
    a, b, M = problem(20, 15)
    with pytest.raises(ValueError, match="exclude each other"):
        otkit.sinkhorn2(a, b, M, 0.1, anderson=5, omega="auto", backend=backend)
    with pytest.raises(ValueError, match="exclude each other"):
        otkit.sinkhorn2(a, b, M, 0.1, anderson=5, omega=1.5, backend=backend)
    with pytest.raises(ValueError, match="anderson"):
        otkit.sinkhorn2(a, b, M, 0.1, method="sinkhorn_stabilized", anderson=5, backend=backend)
    with pytest.raises(ValueError, match="anderson"):
        otkit.sinkhorn2(a, b, M, 0.1, method="sinkhorn_epsilon_scaling", anderson=5, backend=backend)
    with pytest.raises(ValueError, match="single b"):
        otkit.sinkhorn2(a, np.stack([b, b], 1), M, 0.1, method="sinkhorn", anderson=5, backend=backend)
    # batched log-domain problems: each column accelerated on its own
    B = np.stack([b, b[::-1]], 1)
    vb = otkit.sinkhorn2(a, B, M, 0.1, method="sinkhorn_log", anderson=5, stopThr=1e-12, backend=backend)
    ref = [otkit.sinkhorn2(a, B[:, k], M, 0.1, method="sinkhorn_log", stopThr=1e-12, backend=backend)
           for k in range(2)]
    np.testing.assert_allclose(vb, ref, rtol=1e-9)


def test_raw_kernels_reject_it_where_absent(backend):
    """The kernels' own entry points refuse anderson > 0 where their driver has no mixer (never ignored)."""
    impl = otkit._backend.kernels(backend, "sinkhorn")[1]
    a, b, M = problem(10, 8)
    opts = impl.SinkhornOptions(anderson=3)
    with pytest.raises(ValueError, match="Anderson"):
        impl.sinkhorn_f64(M, a, b[:, None], 0.1, np.zeros((10, 1)), np.zeros((8, 1)), method=impl.SinkhornMethod(2),
                          options=opts)
    with pytest.raises(ValueError, match="Anderson"):
        impl.sinkhorn_f64(M, a, np.stack([b, b], 1), 0.1, np.ones((10, 2)), np.ones((8, 2)),
                          method=impl.SinkhornMethod(0), options=opts)
    with pytest.raises(ValueError, match="exclude each other"):
        impl.sinkhorn_f64(M, a, b[:, None], 0.1, np.ones((10, 1)), np.ones((8, 1)), method=impl.SinkhornMethod(0),
                          options=impl.SinkhornOptions(anderson=3, omega=1.5))
