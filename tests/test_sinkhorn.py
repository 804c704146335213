"""otkit.sinkhorn / sinkhorn2 against POT, closed-form bounds, and across backends."""
import doctest
import threading
import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import otkit
import otkit.bregman as sk_mod
from otkit import _backend
import otkit.utils as utils_mod

from conftest import ALL_BACKENDS, require_backend

METHODS = ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request):
    """cpp, numba and cuda (Sinkhorn has CUDA kernels); what cannot run here is skipped."""
    return require_backend(request.param)


def problem(n, m, seed=0, zeros=False, metric="uniform"):
    rng = np.random.default_rng(seed)
    if metric == "uniform":
        M = rng.random((n, m))
    else:
        x, y = rng.random((n, 2)), rng.random((m, 2))
        M = otkit.dist(x, y, "euclidean")
    M /= np.median(M)
    a = rng.dirichlet(np.ones(n))
    b = rng.dirichlet(np.ones(m))
    if zeros:
        a[rng.choice(n, max(1, n // 5), replace=False)] = 0
        b[rng.choice(m, max(1, m // 5), replace=False)] = 0
        a /= a.sum()
        b /= b.sum()
    return a, b, M


def pot_ref(a, b, M, reg, method, **kw):
    """POT's plan and log. POT breaks down when both a and b have zeros (NaN in its first iteration),
    so the reference is POT on the problem without the empty rows and columns (the Sinkhorn iterates
    of the other entries do not depend on them), embedded back."""
    I, J = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P, lg = ot.sinkhorn(a[I], b[J], np.ascontiguousarray(M[np.ix_(I, J)]), reg, method=method, log=True, **kw)
    full = np.zeros(M.shape)
    full[np.ix_(I, J)] = P
    return full, lg


# --------------------------------------------------------------------------- agreement with POT
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape,zeros", [((5, 5), False), ((30, 20), False), ((64, 100), False), ((1, 7), False),
                                         ((5, 5), True), ((30, 20), True), ((64, 100), True)])
def test_plan_and_value_match_pot(backend, method, shape, zeros):
    n, m = shape
    a, b, M = problem(n, m, seed=n * m, zeros=zeros)
    for reg in (1.0, 0.1, 0.02):
        P_ref, log_ref = pot_ref(a, b, M, reg, method)
        P, lg = otkit.sinkhorn(a, b, M, reg, method=method, log=True, backend=backend, warn=False)
        np.testing.assert_allclose(P, P_ref, rtol=1e-7, atol=1e-12 * P_ref.max())
        val = otkit.sinkhorn2(a, b, M, reg, method=method, backend=backend)
        np.testing.assert_allclose(val, np.sum(P_ref * M), rtol=1e-7)
        if method != "sinkhorn_stabilized":  # same iterates as POT: same iteration count and errors
            # (the stopping test can flip one check period where the error crosses stopThr at round-off level)
            assert abs(lg["niter"] - log_ref["niter"]) <= (10 if zeros else 0), (reg, lg["niter"], log_ref["niter"])
            np.testing.assert_allclose(lg["err"][-1], log_ref["err"][-1], rtol=1e-5, atol=1e-9)


def _stab_problem(n, m, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = otkit.dist(x, y, "euclidean")
    M /= np.median(M)
    return rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m)), M


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("numItermax", [1, 2, 7, 50, 1000])
def test_stabilized_at_numitermax_matches_pot(backend, seed, numItermax):
    """Issue 20: stopping at numItermax, the stabilized plan and value are those of the last iterate
    (they collapsed to mass 1/(n m)^2 when the last iteration absorbed the scalings). POT's iterates: at
    reg 0.01 the scalings are absorbed every few iterations. When POT absorbs at its last iteration, it
    returns the plan of its restart point diag(1/n) K diag(1/m), of mass exactly 1/(n m); otkit returns
    K, the plan of that iteration (mass 1): the reference is then POT's plan times n m."""
    n, m = 100, 90
    a, b, M = _stab_problem(n, m, seed)
    reg = 0.01
    P_ref = pot_ref(a, b, M, reg, "sinkhorn_stabilized", numItermax=numItermax, stopThr=0)[0]
    mass = P_ref.sum()
    if abs(mass * n * m - 1) < 1e-6:
        P_ref = P_ref * (n * m)
    else:
        np.testing.assert_allclose(mass, 1.0, rtol=1e-9)
    P, lg = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_stabilized", numItermax=numItermax, stopThr=0,
                           log=True, warn=False, backend=backend)
    np.testing.assert_allclose(P, P_ref, rtol=1e-7, atol=1e-12 * P_ref.max())
    np.testing.assert_allclose(P.sum(axis=1), a, rtol=1e-9, atol=1e-15)  # the last update was u = a / K v
    val = otkit.sinkhorn2(a, b, M, reg, method="sinkhorn_stabilized", numItermax=numItermax, stopThr=0,
                          backend=backend)
    np.testing.assert_allclose(val, np.sum(P_ref * M), rtol=1e-7)
    # the plan is exp((alpha_i + beta_j - M_ij) / reg) and log["err"] its column-marginal error
    np.testing.assert_allclose(P, np.exp((lg["alpha"][:, None] + lg["beta"][None, :] - M) / reg),
                               rtol=1e-9, atol=1e-300)
    if numItermax == 1:
        np.testing.assert_allclose(lg["err"][-1], np.linalg.norm(P.sum(axis=0) - b), rtol=1e-6)


def test_stabilized_max_iter_value_issue_repro(backend):
    """The repro of issue 20: reg 0.01, stopThr 1e-9, stops at numItermax=1000; it gave 6.8e-9 (plan mass 1.2e-8)."""
    a, b, M = _stab_problem(100, 90, 7)
    a, b = np.full(100, 1 / 100), np.full(90, 1 / 90)
    # the same iterates in the log domain (also stopped at numItermax = 1000)
    ref = otkit.sinkhorn2(a, b, M, 0.01, method="sinkhorn_log", stopThr=1e-9, backend="cpp")
    for dtype, rtol in ((np.float64, 1e-9), (np.float32, 1e-3)):
        val, lg = otkit.sinkhorn2(a, b, M.astype(dtype), 0.01, method="sinkhorn_stabilized", stopThr=1e-9,
                                  backend=backend, log=True)
        assert lg["status"] == 1, lg["status"]  # max_iter: the path of the bug
        np.testing.assert_allclose(val, ref, rtol=rtol)
        P = otkit.sinkhorn(a, b, M.astype(dtype), 0.01, method="sinkhorn_stabilized", stopThr=1e-9,
                           backend=backend, warn=False)
        np.testing.assert_allclose(P.sum(), 1.0, rtol=rtol)


def test_log_vs_kernel_form_agree(backend):
    a, b, M = problem(80, 60, seed=3, metric="euclidean")
    for reg in (0.5, 0.05):
        P1 = otkit.sinkhorn(a, b, M, reg, method="sinkhorn", stopThr=1e-12, backend=backend)
        P2 = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-12, backend=backend)
        P3 = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_stabilized", stopThr=1e-12, backend=backend)
        np.testing.assert_allclose(P2, P1, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(P3, P1, rtol=1e-7, atol=1e-14)


def run_log(impl, M, a, b, reg, f, g, max_iter, stop_thr, omega=1.0, log_fast=True, want_plan=True, want_trace=True,
            method="LOG"):
    """One log-domain (or stabilized) problem through the raw entry point; f, g updated in place."""
    fn = impl.sinkhorn_f64 if M.dtype == np.float64 else impl.sinkhorn_f32
    opts = impl.SinkhornOptions(max_iter=max_iter, stop_thr=stop_thr, omega=omega, log_fast=log_fast)
    return fn(M, a, b.reshape(-1, 1), reg, f.reshape(-1, 1), g.reshape(-1, 1), method=getattr(impl.SinkhornMethod, method),
              options=opts, want_plan=want_plan, want_value=True, want_trace=want_trace)


@pytest.mark.parametrize("reg,zeros,omega", [(1.0, False, 1.0), (0.05, True, 1.0), (1e-3, False, 1.0),
                                            (1e-4, True, 1.0), (1e-4, False, 1.0), (0.05, False, 1.6)])
def test_log_domain_one_exp_pass_equals_exact_pass(backend, reg, zeros, omega):
    """The log-domain iteration takes one exp per entry (column sums from the row exponentials) and
    falls back to the exact two-exp log-sum-exp pass where a column sum is tiny (small reg, first
    iterations): both give the same iterates."""
    impl = _backend.kernels(backend, "sinkhorn")[1]
    a, b, M = problem(70, 50, seed=11, zeros=zeros)
    out = {}
    for fast in (False, True):
        f, g = np.zeros(70), np.zeros(50)
        r = run_log(impl, M, a, b, reg, f, g, 500, 1e-12, omega=omega, log_fast=fast)
        out[fast] = (f, g, r)
    (f0, g0, r0), (f1, g1, r1) = out[False], out[True]
    assert r1["status"][0] == r0["status"][0] and r1["niter"][0] == r0["niter"][0]
    np.testing.assert_allclose(r1["plan"], r0["plan"], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(r1["values"], r0["values"], rtol=1e-11)
    np.testing.assert_allclose(r1["trace"], r0["trace"], rtol=1e-8, atol=1e-15)
    fin = np.isfinite(f0)
    np.testing.assert_array_equal(np.isfinite(f1), fin)
    np.testing.assert_allclose(f1[fin], f0[fin], rtol=1e-9, atol=1e-9)
    if zeros:  # empty rows and columns stay empty
        assert np.all(f1[a == 0] == -np.inf) and np.all(g1[b == 0] == -np.inf)
    # without the plan, the one-exp pass returns <P, M> accumulated during its last pass
    r2 = run_log(impl, M, a, b, reg, np.zeros(70), np.zeros(50), 500, 1e-12, omega=omega, log_fast=True,
                 want_plan=False, want_trace=False)
    np.testing.assert_allclose(r2["values"], r0["values"], rtol=1e-11)
    np.testing.assert_allclose(r2["values"][0], np.sum(r0["plan"] * M), rtol=1e-12)
    if reg == 1e-4 and not zeros:  # the kernel form underflows here: the iterates are still POT's
        # (not with zeros: POT's reference is then the reduced problem, whose first iterate differs)
        P_ref, _ = pot_ref(a, b, M, reg, "sinkhorn_log", numItermax=500, stopThr=1e-12)
        np.testing.assert_allclose(r1["plan"], P_ref, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_entry_point_rejects_empty_batch(backend, dtype):
    """Issue 20: B of shape (m, 0) made the kernel-form entry point read U[0] and write values[0] (the N = 1
    path) out of bounds. The entry points raise ValueError naming B; an empty M is refused too."""
    if backend == "cuda":
        pytest.skip("the CUDA module takes the same binding code (csrc/bind/sinkhorn_bind_impl.h)")
    impl = _backend.kernels(backend, "sinkhorn")[1]
    fn = impl.sinkhorn_f64 if dtype == np.float64 else impl.sinkhorn_f32
    opts = impl.SinkhornOptions(max_iter=100, stop_thr=1e-9)
    n, m = 50, 40
    a, _, M = problem(n, m, seed=1)
    a, M = a.astype(dtype), M.astype(dtype)
    for want_plan in (False, True):
        B = np.zeros((m, 0), dtype)
        U, V = np.ones((n, 0), dtype), np.ones((m, 0), dtype)
        with pytest.raises(ValueError, match=r"B has shape \(40, 0\): no histogram"):
            fn(M, a, B, 1.0, U, V, method=impl.SinkhornMethod.KERNEL, options=opts, want_plan=want_plan,
               want_trace=True)
    B = np.full((m, 1), 1 / m, dtype)
    with pytest.raises(ValueError, match="M is empty"):
        fn(np.zeros((0, m), dtype), np.zeros(0, dtype), B, 1.0, np.ones((0, 1), dtype), np.ones((m, 1), dtype),
           method=impl.SinkhornMethod.KERNEL, options=opts)
    for method in (impl.SinkhornMethod.LOG, impl.SinkhornMethod.STABILIZED):
        with pytest.raises(ValueError, match="M is empty"):
            fn(np.zeros((n, 0), dtype), a, np.zeros((0, 1), dtype), 1.0, np.zeros((n, 1), dtype),
               np.zeros((0, 1), dtype), method=method, options=opts)


@pytest.mark.parametrize("method", METHODS)
def test_public_sinkhorn_rejects_empty_batch(backend, method):
    """POT fails on b of shape (m, 0) (a broadcasting ValueError); otkit raises a ValueError naming b."""
    a, _, M = problem(6, 5, seed=2)
    for fn in (otkit.sinkhorn, otkit.sinkhorn2):
        with pytest.raises(ValueError, match=r"b has shape \(5, 0\): no histogram"):
            fn(a, np.zeros((5, 0)), M, 1.0, method=method, backend=backend)


@pytest.mark.parametrize("reg", [0.5, 0.05, 2e-3])
def test_log_domain_one_exp_pass_float32(backend, reg):
    impl = _backend.kernels(backend, "sinkhorn")[1]
    a, b, M = problem(90, 70, seed=5)
    a32, b32, M32 = a.astype(np.float32), b.astype(np.float32), M.astype(np.float32)
    out = []
    for fast in (False, True):
        f, g = np.zeros(90, np.float32), np.zeros(70, np.float32)
        r = run_log(impl, M32, a32, b32, reg, f, g, 300, 1e-6, log_fast=fast, want_trace=False)
        out.append(r)
    assert out[0]["niter"][0] == out[1]["niter"][0]
    np.testing.assert_allclose(out[1]["plan"], out[0]["plan"], rtol=2e-4, atol=1e-9)
    np.testing.assert_allclose(out[1]["values"], out[0]["values"], rtol=1e-5)
    P64 = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_log", numItermax=300, stopThr=1e-6, warn=False,
                         backend=backend)
    np.testing.assert_allclose(out[1]["plan"], P64, rtol=2e-3, atol=1e-7)


def test_log_domain_warm_start_with_minus_inf_recovers(backend):
    impl = _backend.kernels(backend, "sinkhorn")[1]
    a, b, M = problem(30, 20, seed=2)
    res = []
    for fast in (False, True):
        f, g = np.zeros(30), np.zeros(20)
        g[3] = -np.inf  # b_3 > 0: the one-exp pass cannot use this column, the exact pass recovers it
        r = run_log(impl, M, a, b, 0.1, f, g, 1000, 1e-11, log_fast=fast, want_trace=False)
        assert r["status"][0] == 0 and np.isfinite(g).all()
        res.append(r["plan"])
    np.testing.assert_allclose(res[1], res[0], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(res[1].sum(0), b, atol=1e-10)


def test_marginals(backend):
    a, b, M = problem(50, 70, seed=5, zeros=True)
    P, lg = otkit.sinkhorn(a, b, M, 0.05, log=True, stopThr=1e-10, backend=backend)
    assert lg["converged"]
    np.testing.assert_allclose(P.sum(0), b, atol=1e-10)  # the stopping criterion
    np.testing.assert_allclose(P.sum(1), a, atol=1e-12)  # exact after the last u update
    assert np.all(P[a == 0] == 0) and np.all(P[:, b == 0] == 0)


# --------------------------------------------------------------------------- small reg
def test_small_reg_log_and_auto_are_finite_and_correct(backend):
    a, b, M = problem(40, 30, seed=7)
    reg = 1e-4
    assert not sk_mod.kernel_form_is_safe(M, reg)
    P_ref, _ = pot_ref(a, b, M, reg, "sinkhorn_log", numItermax=300)
    for method in ("sinkhorn_log", "auto"):
        P, lg = otkit.sinkhorn(a, b, M, reg, method=method, numItermax=300, log=True, warn=False, backend=backend)
        assert np.isfinite(P).all()
        assert lg["method"] == "sinkhorn_log"
        np.testing.assert_allclose(P, P_ref, rtol=1e-6, atol=1e-12)
    if backend == "cpp":  # long run: the value tends to the exact OT cost (Sinkhorn is slow at reg = 1e-4;
        # over-relaxation gets the marginal error to 1.2e-3 in 20000 iterations here)
        val = otkit.sinkhorn2(a, b, M, reg, method="auto", numItermax=20000, omega=1.8, backend=backend)
        np.testing.assert_allclose(val, ot.emd2(a, b, M), rtol=2e-3)


def test_kernel_form_warns_at_small_reg_instead_of_nan(backend):
    a, b, M = problem(40, 30, seed=7)
    with pytest.warns(UserWarning, match="sinkhorn_log"):
        P = otkit.sinkhorn(a, b, M, 1e-4, method="sinkhorn", backend=backend)
    assert not np.isnan(P).any()


def test_auto_uses_kernel_form_when_safe():
    a, b, M = problem(20, 20, seed=1)
    _, lg = otkit.sinkhorn(a, b, M, 0.1, method="auto", log=True)
    assert lg["method"] == "sinkhorn"
    assert sk_mod.kernel_form_is_safe(M, 0.1) and not sk_mod.kernel_form_is_safe(M, 1e-3)
    assert not sk_mod.kernel_form_is_safe(M, 0.01, np.float32)


# --------------------------------------------------------------------------- batched
@pytest.mark.parametrize("method", METHODS)
def test_batched_equals_loop(backend, method):
    rng = np.random.default_rng(11)
    a, _, M = problem(40, 35, seed=11)
    B = rng.dirichlet(np.ones(35), size=6).T
    B[3, 2] = 0
    B[:, 2] /= B[:, 2].sum()
    vals, lg = otkit.sinkhorn2(a, B, M, 0.05, method=method, log=True, backend=backend)
    loop = [otkit.sinkhorn2(a, B[:, k], M, 0.05, method=method, backend=backend) for k in range(6)]
    np.testing.assert_allclose(vals, loop, rtol=1e-12)
    assert vals.shape == (6,) and lg["niter"].shape == (6,) and lg["converged"].all()
    pot_loop = [ot.sinkhorn2(a, B[:, k], M, 0.05, method=method) for k in range(6)]
    np.testing.assert_allclose(vals, pot_loop, rtol=1e-7)
    # POT's sinkhorn with 2-D b returns the losses too
    np.testing.assert_allclose(otkit.sinkhorn(a, B, M, 0.05, method=method, backend=backend), vals, rtol=1e-12)


@pytest.mark.parametrize("n,m,N", [(43, 37, 21), (203, 150, 21), (64, 80, 16), (9, 300, 3), (130, 140, 33)])
def test_batched_register_tiles_equal_loop(backend, n, m, N):
    """The batched kernel-form pass works on tiles of 8 rows x 16 (or 8) columns: row counts that are
    not multiples of 8, column counts across one and two tiles, and the multi-threaded path
    (n * m >= 16384) all give the values of single calls, and POT's."""
    rng = np.random.default_rng(n * m + N)
    a, _, M = problem(n, m, seed=n + m)
    B = rng.dirichlet(np.ones(m), size=N).T
    vals, lg = otkit.sinkhorn2(a, B, M, 0.1, log=True, backend=backend)
    loop = np.array([otkit.sinkhorn2(a, B[:, k], M, 0.1, backend=backend) for k in range(N)])
    np.testing.assert_allclose(vals, loop, rtol=1e-12)
    assert lg["converged"].all()
    pot = np.array([ot.sinkhorn2(a, B[:, k], M, 0.1) for k in range(0, N, 4)])
    np.testing.assert_allclose(vals[::4], pot, rtol=1e-7)
    U, V = lg["u"], lg["v"]  # scalings of every column: the plan marginals
    for k in range(0, N, 5):
        P = U[:, k][:, None] * np.exp(-M / 0.1) * V[:, k][None, :]
        np.testing.assert_allclose(P.sum(1), a, rtol=1e-10)
        np.testing.assert_allclose(np.sum(P * M), vals[k], rtol=1e-12)


# --------------------------------------------------------------------------- backends, dtype
def test_backends_agree():
    pytest.importorskip("numba")
    if "cpp" not in otkit.available_backends():
        pytest.skip("cpp not built")
    a, b, M = problem(70, 50, seed=2, zeros=True)
    for method in METHODS + ["auto"]:
        for reg in (0.3, 0.01):
            v1, l1 = otkit.sinkhorn2(a, b, M, reg, method=method, log=True, backend="cpp")
            v2, l2 = otkit.sinkhorn2(a, b, M, reg, method=method, log=True, backend="numba")
            np.testing.assert_allclose(v1, v2, rtol=1e-10)
            assert l1["niter"] == l2["niter"]


def test_backends_agree_on_the_parallel_path():
    """A problem above the size where the kernels split rows between threads (n*m >= 2^14)."""
    pytest.importorskip("numba")
    if "cpp" not in otkit.available_backends():
        pytest.skip("cpp not built")
    a, b, M = problem(150, 130, seed=21, zeros=True)
    rng = np.random.default_rng(21)
    B = rng.dirichlet(np.ones(130), size=3).T
    for method in METHODS:
        P1, l1 = otkit.sinkhorn(a, b, M, 0.05, method=method, log=True, backend="cpp")
        P2, l2 = otkit.sinkhorn(a, b, M, 0.05, method=method, log=True, backend="numba")
        np.testing.assert_allclose(P2, P1, rtol=1e-10, atol=1e-16)
        assert l1["niter"] == l2["niter"]
    np.testing.assert_allclose(otkit.sinkhorn2(a, B, M, 0.05, backend="numba"),
                               otkit.sinkhorn2(a, B, M, 0.05, backend="cpp"), rtol=1e-10)


def test_float32(backend):
    a, b, M = problem(30, 40, seed=4)
    P64 = otkit.sinkhorn(a, b, M, 0.1, stopThr=1e-6, backend=backend)
    P32 = otkit.sinkhorn(a, b, M, 0.1, stopThr=1e-6, dtype=np.float32, backend=backend)
    assert P32.dtype == np.float32
    np.testing.assert_allclose(P32, P64, rtol=2e-4, atol=1e-7)
    # float32 input without dtype stays float32; auto switches to the log-domain where float32 underflows
    v, lg = otkit.sinkhorn2(a.astype(np.float32), b.astype(np.float32), M.astype(np.float32), 0.005,
                            method="auto", log=True, stopThr=1e-5, numItermax=5000, backend=backend)
    assert np.asarray(v).dtype == np.float32 and np.isfinite(v) and lg["method"] == "sinkhorn_log"
    v64 = otkit.sinkhorn2(a, b, M, 0.005, method="sinkhorn_log", stopThr=1e-9, numItermax=5000, backend=backend)
    np.testing.assert_allclose(v, v64, rtol=1e-3)


# --------------------------------------------------------------------------- log, warnings, options
def test_log_contents_and_nonconvergence_warning(backend):
    a, b, M = problem(30, 30, seed=9)
    with pytest.warns(UserWarning, match="did not converge.*marginal error"):
        P, lg = otkit.sinkhorn(a, b, M, 0.01, numItermax=15, log=True, backend=backend)
    assert lg["converged"] is False and lg["niter"] == 14 and len(lg["err"]) == 2
    for key in ("u", "v", "log_u", "log_v", "err", "niter", "converged", "method", "backend"):
        assert key in lg
    np.testing.assert_allclose(P, lg["u"][:, None] * np.exp(-M / 0.01) * lg["v"][None, :], rtol=1e-12)
    _, lg = otkit.sinkhorn(a, b, M, 0.01, method="sinkhorn_log", numItermax=10000, log=True, backend=backend)
    assert lg["converged"] and lg["log_u"].shape == (30,)
    # sinkhorn2 warns by default too (POT's default is warn=False; an unconverged value can lie below the exact
    # cost), and warn=False gives POT's silence
    with pytest.warns(UserWarning, match="did not converge"):
        otkit.sinkhorn2(a, b, M, 0.01, numItermax=15, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        otkit.sinkhorn2(a, b, M, 0.01, numItermax=15, backend=backend, warn=False)


def test_verbose_prints(capsys, backend):
    a, b, M = problem(10, 10)
    otkit.sinkhorn(a, b, M, 0.1, verbose=True, backend=backend)
    out = capsys.readouterr().out
    assert "It." in out and "Err" in out


def test_overrelaxation_same_value_fewer_iterations(backend):
    a, b, M = problem(60, 60, seed=8, metric="euclidean")
    v1, l1 = otkit.sinkhorn2(a, b, M, 0.005, method="sinkhorn_log", stopThr=1e-10, numItermax=100000, log=True,
                             backend=backend)
    v2, l2 = otkit.sinkhorn2(a, b, M, 0.005, method="sinkhorn_log", stopThr=1e-10, numItermax=100000, log=True,
                             omega=1.7, backend=backend)
    assert l1["converged"] and l2["converged"]
    np.testing.assert_allclose(v2, v1, rtol=1e-7)
    assert l2["niter"] < 0.7 * l1["niter"]


def test_warmstart_roundtrip(backend):
    a, b, M = problem(25, 20, seed=12)
    _, lg = otkit.sinkhorn(a, b, M, 0.05, log=True, stopThr=1e-11, backend=backend)
    _, lg2 = otkit.sinkhorn(a, b, M, 0.05, log=True, warmstart=(lg["log_u"], lg["log_v"]), backend=backend)
    assert lg2["niter"] == 0


def test_threads_release_gil_and_agree():
    a, b, M = problem(200, 200, seed=13)
    ref = otkit.sinkhorn2(a, b, M, 0.05)
    out = [None] * 4

    def work(k):
        out[k] = otkit.sinkhorn2(a, b, M, 0.05)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    np.testing.assert_allclose(out, [ref] * 4, rtol=1e-13)


# --------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(n=hst.integers(2, 12), m=hst.integers(2, 12), seed=hst.integers(0, 10**6),
       reg=hst.floats(0.05, 2.0))
def test_symmetry_under_transpose(n, m, seed, reg):
    a, b, M = problem(n, m, seed=seed)
    v1 = otkit.sinkhorn2(a, b, M, reg, stopThr=1e-13, numItermax=20000)
    v2 = otkit.sinkhorn2(b, a, M.T, reg, stopThr=1e-13, numItermax=20000)
    np.testing.assert_allclose(v1, v2, rtol=1e-8)


@settings(max_examples=25, deadline=None)
@given(n=hst.integers(2, 10), m=hst.integers(2, 10), seed=hst.integers(0, 10**6))
def test_value_tends_to_emd_and_is_monotone_in_reg(n, m, seed):
    a, b, M = problem(n, m, seed=seed)
    emd = ot.emd2(a, b, M)
    regs = [1.0, 0.3, 0.1, 0.03]
    vals = [otkit.sinkhorn2(a, b, M, r, method="sinkhorn_log", stopThr=1e-12, numItermax=50000) for r in regs]
    for r, v in zip(regs, vals):
        # <P_reg, M> - EMD lies in [0, reg * (H(P_reg) - H(P*))] and H <= log(n m)
        assert emd - 1e-9 <= v <= emd + r * np.log(n * m) + 1e-9
    assert all(v1 >= v2 - 1e-9 for v1, v2 in zip(vals, vals[1:]))  # nondecreasing in reg


# --------------------------------------------------------------------------- bad input
def test_bad_input_messages():
    a, b, M = problem(5, 4)
    with pytest.raises(ValueError, match="b has length 3 but M.shape\\[1\\] = 4"):
        otkit.sinkhorn(a, b[:3], M, 1.0)
    with pytest.raises(ValueError, match="a has length"):
        otkit.sinkhorn(a[:4], b, M, 1.0)
    neg = a.copy()
    neg[0] = -0.1
    with pytest.raises(ValueError, match="a has negative"):
        otkit.sinkhorn(neg, b, M, 1.0)
    nan = b.copy()
    nan[1] = np.nan
    with pytest.raises(ValueError, match="b has non-finite"):
        otkit.sinkhorn(a, nan, M, 1.0)
    Mi = M.copy()
    Mi[1, 1] = np.inf
    with pytest.raises(ValueError, match="M has non-finite"):
        otkit.sinkhorn(a, b, Mi, 1.0)
    for reg in (0, -1, np.nan, np.inf):
        with pytest.raises(ValueError, match="reg"):
            otkit.sinkhorn(a, b, M, reg)
    with pytest.raises(TypeError, match="reg"):
        otkit.sinkhorn(a, b, M, "big")
    with pytest.raises(ValueError, match="differ by 0.5"):
        otkit.sinkhorn(a, 1.5 * b, M, 1.0)
    with pytest.raises(ValueError, match="M is empty"):
        otkit.sinkhorn([], [], np.zeros((0, 3)), 1.0)
    with pytest.raises(ValueError, match="M must be a 2-D"):
        otkit.sinkhorn(a, b, np.ones(5), 1.0)
    with pytest.raises(TypeError, match="M must hold real numbers"):
        otkit.sinkhorn(a, b, np.array([["x"] * 4] * 5), 1.0)
    with pytest.raises(TypeError, match="a must hold real numbers"):
        otkit.sinkhorn(a.astype(complex), b, M, 1.0)
    with pytest.raises(ValueError, match="unknown method"):
        otkit.sinkhorn(a, b, M, 1.0, method="greenkhorn9")
    with pytest.raises(ValueError, match="unknown backend"):
        otkit.sinkhorn(a, b, M, 1.0, backend="cobol")
    with pytest.raises(ValueError, match="numItermax"):
        otkit.sinkhorn(a, b, M, 1.0, numItermax=0)
    with pytest.raises(ValueError, match="omega"):
        otkit.sinkhorn(a, b, M, 1.0, omega=2.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        otkit.sinkhorn(a, b, M, 1.0, stopthr=1e-3)


def test_integer_and_list_inputs_are_converted_and_inputs_untouched():
    M = np.array([[0, 2, 1], [2, 0, 3]])  # integers
    a = [1, 1]
    b = [0.5, 0.5, 1.0]
    Mc = M.copy()
    P = otkit.sinkhorn(a, b, M, 1.0)
    np.testing.assert_allclose(P, ot.sinkhorn(np.array(a, float), np.array(b), M.astype(float), 1.0), rtol=1e-10)
    assert (M == Mc).all() and a == [1, 1]
    a64, b64, M64 = problem(10, 10)
    copies = (a64.copy(), b64.copy(), M64.copy())
    otkit.sinkhorn(a64, b64, M64, 0.1, method="sinkhorn_log")
    for x, y in zip((a64, b64, M64), copies):
        np.testing.assert_array_equal(x, y)


def test_empty_weights_mean_uniform():
    _, _, M = problem(6, 9)
    np.testing.assert_allclose(otkit.sinkhorn2([], [], M, 0.1), ot.sinkhorn2([], [], M, 0.1), rtol=1e-10)


def test_doctests():
    for mod in (sk_mod, utils_mod):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted > 0


def test_torch_cpu_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    a, b, M = problem(20, 30, seed=31)
    v32 = otkit.sinkhorn2(torch.tensor(a), torch.tensor(b), torch.tensor(M, dtype=torch.float32), 0.5)
    # a tensor like M (library and dtype: float32 M, float64 histograms), as POT
    assert isinstance(v32, torch.Tensor) and v32.dtype == torch.float32
    v64 = otkit.sinkhorn2(torch.tensor(a), torch.tensor(b), torch.tensor(M), 0.5)
    np.testing.assert_allclose(v64, otkit.sinkhorn2(a, b, M, 0.5), rtol=1e-14)
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
