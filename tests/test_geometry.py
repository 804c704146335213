"""Cost geometries: a PointCloud (costs computed inside each pass) gives the iterates of the same problem on its
cost matrix, on every backend, without the n x m memory."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import otkit
from otkit import _backend
from otkit.geometry import DenseCost, PointCloud

from conftest import CHILD_CWD, child_env

ot = pytest.importorskip("ot")
BACKENDS = [b for b in ("cpp", "numba") if _backend.is_available(b)]


def _clouds(n=37, m=29, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.3, rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("reg", [0.5, 0.05])
def test_cloud_equals_dense(backend, cost, reg):
    x, y, a, b = _clouds()
    g = PointCloud(x, y, cost)
    M = g.cost_matrix()
    kw = dict(method="sinkhorn_log", stopThr=1e-10, numItermax=5000, log=True, backend=backend)
    P0, l0 = otkit.sinkhorn(a, b, M, reg, **kw)
    P1, l1 = otkit.sinkhorn(a, b, g, reg, **kw)
    np.testing.assert_allclose(P1, P0, rtol=1e-10, atol=1e-300)
    assert l1["niter"] == l0["niter"] and l1["converged"]
    w1 = otkit.sinkhorn2(a, b, g, reg, **{k: v for k, v in kw.items() if k != "log"})
    np.testing.assert_allclose(w1, np.sum(P0 * M), rtol=1e-10)
    # and against POT on the matrix
    P_ref = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-10, numItermax=5000)
    np.testing.assert_allclose(P1, P_ref, rtol=1e-7, atol=1e-14)


def test_cloud_matches_pot_dist():
    x, y, a, b = _clouds(seed=1)
    M = ot.dist(x, y)  # POT's squared Euclidean (another formula: equal to rounding)
    P0 = ot.sinkhorn(a, b, M, 0.2, method="sinkhorn_log", stopThr=1e-10)
    P1 = otkit.sinkhorn(a, b, PointCloud(x, y), 0.2, stopThr=1e-10)  # auto: the log-domain
    np.testing.assert_allclose(P1, P0, rtol=1e-7, atol=1e-14)


def test_cpp_equals_numba_and_batched():
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    x, y, a, _ = _clouds(n=50, m=40, d=2, seed=2)
    B = np.random.default_rng(3).dirichlet(np.ones(40), size=4).T
    g = PointCloud(x, y)
    w = [otkit.sinkhorn2(a, B, g, 0.05, stopThr=1e-11, backend=be) for be in BACKENDS]
    np.testing.assert_allclose(w[0], w[1], rtol=1e-10)
    for k in range(4):
        np.testing.assert_allclose(w[0][k], otkit.sinkhorn2(a, B[:, k], g, 0.05, stopThr=1e-11), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cloud_float32(backend):
    x, y, a, b = _clouds(seed=4)
    P64 = otkit.sinkhorn(a, b, PointCloud(x, y), 0.3, stopThr=1e-6, backend=backend)
    P32 = otkit.sinkhorn(a.astype(np.float32), b.astype(np.float32),
                         PointCloud(x.astype(np.float32), y.astype(np.float32)), 0.3, stopThr=1e-6, backend=backend)
    assert P32.dtype == np.float32
    np.testing.assert_allclose(P32, P64, rtol=2e-3, atol=1e-7)


def test_cloud_epsilon_scaling_geometric():
    x, y, a, b = _clouds(seed=5)
    g = PointCloud(x, y)
    P0 = otkit.sinkhorn(a, b, g.cost_matrix(), 1e-3, method="sinkhorn_log", stopThr=1e-10, numItermax=100000)
    P1 = otkit.sinkhorn(a, b, g, 1e-3, method="sinkhorn_epsilon_scaling", epsilon_schedule="geometric",
                        epsilon0=10.0, numInnerItermax=20, stopThr=1e-10, numItermax=100000)
    np.testing.assert_allclose(P1, P0, rtol=1e-5, atol=1e-9)


def test_dense_cost_is_the_matrix():
    x, y, a, b = _clouds(seed=6)
    M = PointCloud(x, y).cost_matrix()
    np.testing.assert_array_equal(otkit.sinkhorn(a, b, DenseCost(M), 0.1), otkit.sinkhorn(a, b, M, 0.1))


def test_cloud_never_stores_the_cost_matrix():
    """n = m = 20000: the cost matrix would take 3.2 GB (float64); the peak resident memory stays below 0.6 GB."""
    code = textwrap.dedent("""
        import numpy as np, otkit
        rng = np.random.default_rng(0)
        x, y = rng.random((20000, 2)), rng.random((20000, 2))
        w = otkit.sinkhorn2(None, None, otkit.geometry.PointCloud(x, y), 0.05, numItermax=2, stopThr=0, backend="cpp")
        assert np.isfinite(w)
        # the peak of this process's own address space (ru_maxrss would count the parent's at fork time)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        print(int(hwm.split()[1]) / 1024)
    """)
    if "cpp" not in BACKENDS:
        pytest.skip("needs the C++ extension")
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/status")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=CHILD_CWD,
                         env=child_env())
    assert out.returncode == 0, out.stderr
    peak_mib = float(out.stdout.strip().splitlines()[-1])
    assert peak_mib < 600, peak_mib


def test_bad_input():
    x, y, a, b = _clouds(seed=7)
    g = PointCloud(x, y)
    for method in ("sinkhorn_stabilized", "sinkhorn_epsilon_scaling"):
        with pytest.raises(ValueError, match="log-domain"):
            otkit.sinkhorn(a, b, g, 0.1, method=method)
    _, lg = otkit.sinkhorn(a, b, g, 0.1, method="sinkhorn", log=True)  # POT's iterates, in the log-domain
    assert lg["method"] == "sinkhorn_log"
    with pytest.raises(ValueError, match="DenseCost"):
        otkit.sinkhorn_unbalanced(a, b, g, 0.1, 1.0)
    with pytest.raises(ValueError, match="cost"):
        PointCloud(x, y, cost="cosine")
    with pytest.raises(ValueError, match="dimension"):
        PointCloud(x, y[:, :2])
    with pytest.raises(ValueError, match="2-D"):
        PointCloud(x[:, 0], y)
    xb = x.copy()
    xb[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        otkit.sinkhorn(a, b, PointCloud(xb, y), 0.1)
    with pytest.raises(ValueError, match="x.shape"):
        otkit.sinkhorn(a[:-1], b, g, 0.1)
