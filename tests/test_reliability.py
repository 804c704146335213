"""Issue 20: what the fuzzing found, one test per finding (each failed before its fix)."""
import warnings

import numpy as np
import pytest

import otkit
from otkit import _backend
from otkit._numba import barycenter as nb_bary
from otkit._numba import emd as nb_emd
from otkit._numba import semidual as nb_semidual
from otkit._numba import unbalanced as nb_unbalanced
from otkit._numba._types import SinkhornOptions, UnbalancedMethod

BACKENDS = ["numba"] + (["cpp"] if _backend.is_available("cpp") else [])


def _problem(n=5, m=4, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


def _simplex(backend):
    return _backend.kernels(backend, "emd")[1].emd_network_simplex


# ---- raw network simplex: refuses what it cannot solve (it returned "optimal") ----------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case, match", [
    ("negative a", r"a\[1\] = -"), ("nan a", r"a\[1\] = nan"), ("inf b", r"b\[2\] = inf"),
    ("unequal masses", "same total mass"), ("nan M", r"M\[1, 2\] is not finite"), ("inf M", r"M\[1, 2\]"),
])
def test_raw_network_simplex_refuses_bad_problems(backend, case, match):
    a, b, M = _problem()
    a, b, M = a.copy(), b.copy(), M.copy()
    if case == "negative a":
        a[1] = -0.1
    elif case == "nan a":
        a[1] = np.nan
    elif case == "inf b":
        b[2] = np.inf
    elif case == "unequal masses":
        b = b * 1.5
    else:
        M[1, 2] = np.nan if case == "nan M" else np.inf
    with pytest.raises(ValueError, match=match):
        _simplex(backend)(M, a, b, 1000)


@pytest.mark.parametrize("backend", BACKENDS)
def test_raw_network_simplex_still_solves_valid_problems(backend):
    a, b, M = _problem(seed=3)
    b = b * (a.sum() / b.sum())
    out = _simplex(backend)(M, a, b, 100000)
    assert out[7] == 0
    np.testing.assert_allclose(out[5], otkit.emd2(a, b, M), rtol=1e-12)


# ---- Numba entry points: the shape checks of the C++ bindings (they indexed out of bounds) ----------

def _opts():
    o = SinkhornOptions()
    o.max_iter, o.stop_thr = 10, 1e-9
    return o


@pytest.mark.parametrize("call", [
    lambda: nb_bary.bary_sinkhorn(np.ones((4, 4)), np.ones((3, 2)) / 3, np.ones(2) / 2, 0.1, 10, 1e-9),
    lambda: nb_bary.bary_sinkhorn_log(np.ones((3, 3)), np.ones((3, 2)) / 3, np.ones(3) / 3, 0.1, 10, 1e-9),
    lambda: nb_bary.bary_sinkhorn_stabilized(np.ones((3, 3)), np.ones(3) / 3, np.ones(1), 0.1, 1e3, 10, 1e-9),
    lambda: nb_bary.bary_debiased(np.ones((3, 3)), np.ones((3, 2)) / 3, np.ones(2) / 2, 0.1, 0, 1e-9),
    lambda: nb_bary.bary_conv2d(np.ones((2, 4, 4)) / 16, np.ones(3) / 3, 0.1, 10, 1e-9, 1e-30),
    lambda: nb_bary.bary_conv2d_log(np.ones((4, 4)) / 16, np.ones(1), 0.1, 10, 1e-9, 1e-30),
    lambda: nb_semidual.semidual_sag(np.ones((3, 2)), np.ones(3) / 3, np.ones(2) / 2, 0.1, 1.0,
                                     np.zeros(5, np.int64), np.zeros(2), np.zeros((2, 2)), np.zeros(2)),
    lambda: nb_semidual.semidual_sgd(np.ones((3, 2)), np.ones(3) / 3, 0.1, 1.0, np.zeros(4, np.int64), 2, 0,
                                     False, np.zeros(2), np.zeros(2)),
    lambda: nb_semidual.semidual_ctransform(np.ones((3, 2)), np.ones(2) / 2, 0.1, np.zeros(2), np.zeros(2), True,
                                            np.zeros((3, 2)), False, np.zeros(0, np.int64)),
    lambda: nb_unbalanced.sinkhorn_unbalanced_f64(
        np.ones((3, 2)), np.ones((3, 2)), np.ones(3), np.ones((2, 1)), 0.1, np.zeros((3, 2)), np.zeros((2, 1)),
        reg_m1=1.0, reg_m2=1.0, method=UnbalancedMethod.KNOPP, options=_opts()),
    lambda: nb_unbalanced.sinkhorn_unbalanced_f64(
        np.ones((3, 2)), np.ones((2, 3)), np.ones(3), np.ones((2, 1)), 0.1, np.zeros((3, 1)), np.zeros((2, 1)),
        reg_m1=1.0, reg_m2=1.0, method=UnbalancedMethod.KNOPP, options=_opts()),
])
def test_numba_entry_points_check_shapes(call):
    with pytest.raises(ValueError):
        call()


# ---- warnings and values outside the bounds -------------------------------------------------------

def test_sinkhorn2_warns_by_default_when_not_converged():
    """POT's sinkhorn2 defaults to warn=False; a value from unconverged iterates can lie below the exact OT
    cost (no coupling reaches it), so otkit warns unless told not to."""
    a, b, M = _problem(30, 30, seed=1)
    with pytest.warns(UserWarning, match="did not converge"):
        v = otkit.sinkhorn2(a, b, M * 100, 1e-3, method="sinkhorn_log", numItermax=20)
    assert v < otkit.emd2(a, b, M * 100)  # the reason: below the exact cost
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        otkit.sinkhorn2(a, b, M * 100, 1e-3, method="sinkhorn_log", numItermax=20, warn=False)
        otkit.sinkhorn2(a, b, M, 1.0)  # converged: no warning


@pytest.mark.parametrize("fn", [
    lambda a, b, M, reg: otkit.sinkhorn2(a, b, M, reg),
    lambda a, b, M, reg: otkit.sinkhorn(a, b, M, reg, method="sinkhorn_stabilized"),
    lambda a, b, M, reg: otkit.sinkhorn_unbalanced2(a, b, M, reg, 1.0),
    lambda a, b, M, reg: otkit.barycenter(np.stack([a, a], 1), np.ones((5, 5)) - np.eye(5), reg),
])
@pytest.mark.parametrize("reg, match", [(1e-310, "subnormal"), (1e-306, "too small")])
def test_reg_out_of_range_raises(fn, reg, match):
    """A subnormal reg (1e-310) or M / reg beyond float64 gave NaN or -inf with converged=True."""
    a, b, M = _problem(5, 5)
    with pytest.raises(ValueError, match=match):
        fn(a, b, M * 10, reg)


def test_huge_costs_raise():
    a, b, M = _problem()
    M[1, 1] = -1e308
    for fn in (otkit.sinkhorn2, otkit.sinkhorn):
        with pytest.raises(ValueError, match="too large"):
            fn(a, b, M, 1.0, method="sinkhorn_stabilized")
    with pytest.raises(ValueError, match="too large"):
        otkit.sinkhorn_unbalanced2(a, b, M, 1.0, 1.0)


@pytest.mark.parametrize("bad, exc", [(None, TypeError), ("1e-9", TypeError), (np.nan, ValueError),
                                      (-1.0, ValueError), (1j, TypeError), (np.array([1e-9, 1e-8]), TypeError)])
def test_stopThr_errors_name_it(bad, exc):
    a, b, M = _problem()
    for call in (lambda: otkit.sinkhorn2(a, b, M, 0.1, stopThr=bad),
                 lambda: otkit.sinkhorn_unbalanced2(a, b, M, 0.1, 1.0, stopThr=bad),
                 lambda: otkit.barycenter(np.stack([a, a], 1), np.ones((5, 5)), 0.1, stopThr=bad)):
        with pytest.raises(exc, match="stopThr"):
            call()


def test_reg_m_errors_name_it():
    a, b, M = _problem()
    for bad in (None, 1j, "x", [1.0, "a"]):
        with pytest.raises(TypeError, match="reg_m"):
            otkit.sinkhorn_unbalanced2(a, b, M, 0.1, bad)


def test_overflowing_distances_raise_with_the_points_names():
    x = np.array([[0.0, 1e300], [1.0, 2.0]])
    with pytest.raises(ValueError, match="x1 and x2.*overflow"):
        otkit.dist(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="x_a and x_b"):
        otkit.wasserstein(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="x_a and x_b"):
        otkit.wasserstein(np.array([[0.0], [1e200]]), np.zeros((3, 1)), p=3)


def test_unif_too_large_names_n():
    with pytest.raises(MemoryError, match="n = "):
        otkit.unif(2**50)


def test_sinkhorn_divergence_errors_name_the_matrix():
    a, b, M = _problem(4, 3)
    Maa, Mbb = np.ones((4, 4)), np.ones((3, 3))
    bad = M.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="M_ab"):
        otkit.sinkhorn_divergence(a, b, bad, Maa, Mbb, 0.5)
    with pytest.raises(ValueError, match="M_bb"):
        otkit.sinkhorn_divergence(a, b, M, Maa, np.ones((2, 3)), 0.5)
    with pytest.raises(ValueError, match="b must be a 1-D"):
        otkit.sinkhorn_divergence(a, b[None], M, Maa, Mbb, 0.5)


def test_param_w2_relaxed_nan_raises():
    """kind='relaxed' returned NaN for NaN parameters (the exact and Sinkhorn kinds raised)."""
    g = lambda th, z: th[0] + th[1] * z  # noqa: E731
    z = np.random.default_rng(0).standard_normal((20, 1))
    with pytest.raises(ValueError, match="finite"):
        otkit.param_w2(g, [np.nan, 1.0], [0.0, 1.0], z, kind="relaxed")
    assert otkit.param_w2(g, [1.0, 1.0], [0.0, 1.0], z, kind="relaxed") == pytest.approx(1.0)


def test_auto_picks_the_log_domain_when_K_does_not_fit(monkeypatch):
    """method='auto' took the kernel form at n = 40,000 and died with MemoryError (std::bad_alloc) where the
    log-domain (no n x m buffer besides M) fits: it now chooses by memory too, and falls back on MemoryError."""
    from otkit import bregman

    a, b, M = _problem(6, 5)
    assert otkit.sinkhorn(a, b, M, 0.5, method="auto", log=True)[1]["method"] == "sinkhorn"
    monkeypatch.setattr(bregman, "_SMALL_K", 0)  # read the available memory even for this small K
    monkeypatch.setattr(bregman, "_available_memory", lambda: 100)  # 100 bytes left
    P, lg = otkit.sinkhorn(a, b, M, 0.5, method="auto", log=True)
    assert lg["method"] == "sinkhorn_log"
    np.testing.assert_allclose(P, otkit.sinkhorn(a, b, M, 0.5), rtol=1e-9)
    monkeypatch.setattr(bregman, "_available_memory", lambda: None)

    def no_memory(self, method, *args, **kwargs):
        if method == "KERNEL":
            raise MemoryError("std::bad_alloc")
        return original(self, method, *args, **kwargs)

    from otkit import _device
    original = _device.HostKernels.solve
    monkeypatch.setattr(_device.HostKernels, "solve", no_memory)
    v = otkit.sinkhorn2(a, b, M, 0.5, method="auto")
    np.testing.assert_allclose(v, otkit.sinkhorn2(a, b, M, 0.5, method="sinkhorn_log"), rtol=1e-12)
    with pytest.raises(MemoryError):  # an explicit method='sinkhorn' is not replaced behind the user's back
        otkit.sinkhorn2(a, b, M, 0.5, method="sinkhorn")


@pytest.mark.parametrize("backend", BACKENDS)
def test_semi_dual_warns_on_an_unconverged_plan(backend):
    """With tol=None (POT's default) the semi-dual solvers returned far-from-optimal plans silently."""
    from otkit.stochastic import solve_semi_dual_entropic

    a, b, M = _problem(20, 15, seed=4)
    with pytest.warns(UserWarning, match="column sums are off b"):
        P, lg = solve_semi_dual_entropic(a, b, M, 0.01, "SAG", numItermax=20, log=True, seed=0, backend=backend)
    assert lg["marginal_err"] > 0.01
    np.testing.assert_allclose(P.sum(1), a, rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_semi_dual_entropic(a, b, M, 0.01, "SAG", numItermax=20, seed=0, backend=backend, warn=False)
        P, lg = solve_semi_dual_entropic(a, b, M, 0.5, "SAG", numItermax=30000, log=True, seed=0, backend=backend)
    assert lg["marginal_err"] < 0.01


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_warm_starts(method, backend):
    """An infinite or huge warm start gave inf (cpp) or NaN (numba) with converged=True; (x,) an IndexError."""
    a, b, M = _problem()
    for bad in ((np.full(5, np.inf), np.zeros(4)), (np.zeros(5), np.array([0, np.nan, 0, 0]))):
        with pytest.raises(ValueError, match=r"warmstart\[[01]\]"):
            otkit.sinkhorn(a, b, M, 0.1, method=method, warmstart=bad, backend=backend)
    with pytest.raises(ValueError, match="warmstart must be a pair"):
        otkit.sinkhorn(a, b, M, 0.1, method=method, warmstart=(np.zeros(5),), backend=backend)
    huge = (np.full(5, 1e6), np.zeros(4))
    if method == "sinkhorn":
        with pytest.raises(ValueError, match=r"warmstart\[0\].*overflow"):
            otkit.sinkhorn(a, b, M, 0.1, method=method, warmstart=huge, backend=backend)
    else:  # finite: runs, and either converges to the answer or says it could not
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            P, lg = otkit.sinkhorn(a, b, M, 0.1, method=method, warmstart=huge, backend=backend, log=True)
        if lg["converged"]:
            np.testing.assert_allclose(P, otkit.sinkhorn(a, b, M, 0.1, method="sinkhorn_log"), atol=1e-8)
        else:
            assert caught, "not converged and no warning"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["KERNEL", "LOG", "STABILIZED"])
def test_raw_sinkhorn_never_reports_ok_with_a_nan_value(backend, method):
    """The raw entry points returned status OK and a NaN value for an inf cost (0 * inf in <P, M>)."""
    impl = _backend.kernels(backend, "sinkhorn")[1]
    a, b, M = _problem()
    M[1, 2] = np.inf
    n, m = M.shape
    kernel = method == "KERNEL"
    X = np.full((n, 1), 1.0 / n) if kernel else np.zeros((n, 1))
    Y = np.full((m, 1), 1.0 / m) if kernel else np.zeros((m, 1))
    o = impl.SinkhornOptions()
    o.max_iter, o.stop_thr = 1000, 1e-9
    r = impl.sinkhorn_f64(M, a, b[:, None].copy(), 0.1, X, Y, method=getattr(impl.SinkhornMethod, method), options=o)
    assert not np.isfinite(r["values"][0])
    assert r["status"][0] == 2  # NUMERICAL_ERROR


def test_numThreads_as_pot():
    """POT's emd/emd2 accept numThreads (1, an int, "max", None) with a DeprecationWarning for anything but 1
    (issue 15: POT users' code passes it), and a ValueError for an invalid value."""
    a, b, M = _problem(5, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        otkit.emd(a, b, M, numThreads=1)
        otkit.emd2(a, b, M, numThreads=1)
    for value in (4, "max", None):
        with pytest.warns(DeprecationWarning, match="numThreads"):
            np.testing.assert_allclose(otkit.emd2(a, b, M, numThreads=value), otkit.emd2(a, b, M), rtol=1e-15)
        with pytest.warns(DeprecationWarning, match="numThreads"):
            otkit.emd(a, b, M, numThreads=value)
    for bad in (0, -1, 1.5, "many"):
        with pytest.raises(ValueError, match="numThreads"):
            otkit.emd2(a, b, M, numThreads=bad)
