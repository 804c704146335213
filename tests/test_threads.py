"""The threading policy: thread settings, validation, and results that do not depend on the
threads an iteration ran on (common/threads.h)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import otkit
from otkit import _backend

from conftest import CHILD_CWD, child_env, require_backend

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def problem(d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((d, 2))
    M = otkit.dist(x, x, "euclidean")
    M /= np.median(M)
    return rng.dirichlet(np.ones(d)), rng.dirichlet(np.ones(d)), M


@pytest.fixture
def ext():
    require_backend("cpp")
    yield _backend.ext()
    _backend.ext()._set_tuner_override(0)
    otkit.set_num_threads(0)


def test_set_get_num_threads(ext):
    default = otkit.get_num_threads()
    assert default >= 1
    otkit.set_num_threads(1)
    assert otkit.get_num_threads() == 1
    otkit.set_num_threads(10**6)  # capped at the processors
    assert otkit.get_num_threads() == ext.processors()
    otkit.set_num_threads(0)
    assert otkit.get_num_threads() == default
    with otkit.num_threads(1):
        assert otkit.get_num_threads() == 1
    assert otkit.get_num_threads() == default


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (1.5, TypeError), ("2", TypeError), (None, TypeError)])
def test_set_num_threads_rejects(ext, bad, exc):
    with pytest.raises(exc, match="n must"):
        otkit.set_num_threads(bad)


@pytest.mark.parametrize("backend", ["cpp", "numba"])
@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (-1000, ValueError), (2.5, TypeError), ("4", TypeError)])
def test_num_threads_argument_rejects(backend, bad, exc):
    require_backend(backend)
    a, b, M = problem(20)
    with pytest.raises(exc, match="num_threads"):
        otkit.sinkhorn2(a, b, M, 0.1, num_threads=bad, backend=backend)


def test_raw_entry_point_rejects_negative_threads(ext):
    a, b, M = problem(20)
    with pytest.raises(ValueError, match="num_threads"):
        ext.sinkhorn_f64(M, a, b.reshape(-1, 1), 0.1, np.zeros((20, 1)), np.zeros((20, 1)), method=ext.SinkhornMethod.LOG,
                         options=ext.SinkhornOptions(max_iter=10, check_every=1, num_threads=-3))


def test_huge_num_threads_is_capped(ext):
    """num_threads=1000 used to make libgomp abort the process ("Thread creation failed")."""
    a, b, M = problem(400)
    v_big = otkit.sinkhorn2(a, b, M, 0.1, num_threads=1000, stopThr=0, numItermax=30)
    v_all = otkit.sinkhorn2(a, b, M, 0.1, num_threads=ext.processors(), stopThr=0, numItermax=30)
    np.testing.assert_array_equal(v_big, v_all)


def _runs(fn):
    """fn() with the tuned iterations forced onto one thread, then onto all threads."""
    out = []
    for forced in (1, 64):
        _backend.ext()._set_tuner_override(forced)
        out.append(fn())
    _backend.ext()._set_tuner_override(0)
    return out


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
def test_sinkhorn_bit_equal_whatever_the_threads(ext, method):
    """The work is split in fixed parts; one thread or two run them with the same arithmetic."""
    if ext.processors() < 2:
        pytest.skip("one processor")
    a, b, M = problem(700)
    one, full = _runs(lambda: otkit.sinkhorn(a, b, M, 0.05, method=method, numItermax=60, stopThr=0,
                                             num_threads=2, log=True))
    np.testing.assert_array_equal(one[0], full[0])
    np.testing.assert_array_equal(one[1]["err"], full[1]["err"])


def test_batched_sinkhorn_bit_equal_whatever_the_threads(ext):
    if ext.processors() < 2:
        pytest.skip("one processor")
    a, _, M = problem(500)
    B = np.random.default_rng(3).dirichlet(np.ones(500), size=9).T.copy()
    one, full = _runs(lambda: otkit.sinkhorn2(a, B, M, 0.1, numItermax=40, stopThr=0, num_threads=2))
    np.testing.assert_array_equal(one, full)


def test_semidual_sgd_bit_equal_whatever_the_threads(ext):
    if ext.processors() < 2:
        pytest.skip("one processor")
    rng = np.random.default_rng(1)
    n, m = 600, 1500  # 512 x 1500 entries per step: 2 parts (0.5 ms per thread and step)
    M = rng.random((n, m))
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    one, full = _runs(lambda: otkit.stochastic.solve_semi_dual_entropic(
        a, b, M, 0.1, method="SGD", numItermax=50, batch_size=512, seed=0, backend="cpp"))
    np.testing.assert_array_equal(one, full)


def test_threadpoolctl_limit_is_followed(ext):
    """threadpoolctl's OpenMP limit sets the default (otkit reads OpenMP's at each call)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert otkit.get_num_threads() == 1


def test_spincount_set_before_openmp_loads():
    """otkit bounds the spinning of idle OpenMP threads unless the user chose a wait policy."""
    code = "import os, otkit, otkit._build as b; print(os.environ.get('GOMP_SPINCOUNT'), '|', b.openmp_setting)"
    env = {k: v for k, v in child_env().items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=CHILD_CWD)
    assert out.returncode == 0, out.stderr
    if _backend.is_available("cpp"):
        assert out.stdout.startswith(otkit._build.SPINCOUNT + " |"), out.stdout
    env["OMP_WAIT_POLICY"] = "passive"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=CHILD_CWD)
    assert out.stdout.startswith("None |") and "user's" in out.stdout, out.stdout
