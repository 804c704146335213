"""Tests of otkit.barycenter_unbalanced (KL-relaxed marginals, Chizat et al. 2016).

References: POT 0.9.7 (ot.unbalanced.barycenter_unbalanced, methods "sinkhorn" and "sinkhorn_stabilized") at
equal settings -- same iterates (rtol 1e-7), same iteration count, errors, logu and logv; cpp vs numba; the
limits reg_m = inf (the balanced barycenter, the fixed point of otkit.barycenter) and reg_m -> 0; the
optimality of the result (the objective is smallest there).
"""
import functools
import warnings

import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")

RTOL = 1e-7


def problem(d, N, seed=0, masses=None, sym=True):
    """N Gaussian histograms on a 1-D grid of d points with masses `masses` (default: random in [0.5, 2]),
    squared Euclidean cost (max 1; perturbed when not `sym`), random weights."""
    rng = np.random.default_rng(seed)
    x = np.arange(d, dtype=float)
    M = (x[:, None] - x[None, :]) ** 2
    M /= M.max()
    if not sym:
        M = M * (1 + 0.2 * rng.random(M.shape))
    A = np.stack([np.exp(-0.5 * ((x - rng.uniform(0.2, 0.8) * d) / rng.uniform(2, 6)) ** 2) + 1e-3 * rng.random(d)
                  for _ in range(N)], axis=1)
    A /= A.sum(axis=0)
    A *= rng.uniform(0.5, 2.0, N) if masses is None else np.asarray(masses, dtype=float)
    w = rng.random(N)
    w /= w.sum()
    return A, M, w


CASES = {  # name: (d, N, symmetric M, method, reg, reg_m, stopThr, numItermax)
    "d60-N3-sym-kernel": (60, 3, True, "sinkhorn", 5e-2, 1.0, 1e-9, 2000),
    "d60-N3-nonsym-kernel": (60, 3, False, "sinkhorn", 5e-2, 0.3, 1e-9, 2000),
    "d40-N1-sym-kernel": (40, 1, True, "sinkhorn", 1e-1, 5.0, 1e-8, 500),
    "d100-N5-sym-kernel-smallreg": (100, 5, True, "sinkhorn", 1e-2, 1.0, 1e-7, 3000),
    "d80-N4-sym-kernel-maxiter": (80, 4, True, "sinkhorn", 1e-2, 2.0, 1e-12, 40),
    "d60-N3-sym-stab": (60, 3, True, "sinkhorn_stabilized", 5e-2, 1.0, 1e-9, 2000),
    "d60-N3-nonsym-stab": (60, 3, False, "sinkhorn_stabilized", 5e-2, 0.3, 1e-9, 2000),
    "d80-N4-sym-stab-absorbs": (80, 4, True, "sinkhorn_stabilized", 3e-3, 1.0, 1e-6, 1500),
}


def inputs(name):
    d, N, sym, method, reg, reg_m, thr, nmax = CASES[name]
    A, M, w = problem(d, N, seed=d + N, sym=sym)
    return A, M, w, method, reg, reg_m, dict(stopThr=thr, numItermax=nmax)


@functools.lru_cache(maxsize=None)
def pot_run(name):
    A, M, w, method, reg, reg_m, kw = inputs(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ot.unbalanced.barycenter_unbalanced(A, M, reg, reg_m, method=method, weights=w, log=True, **kw)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pot(backend, name):
    A, M, w, method, reg, reg_m, kw = inputs(name)
    ref, lref = pot_run(name)
    assert np.isfinite(ref).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q, lg = otkit.barycenter_unbalanced(A, M, reg, reg_m, method=method, weights=w, log=True, backend=backend,
                                            **kw)
    np.testing.assert_allclose(q, ref, rtol=RTOL, atol=1e-300)
    assert lg["niter"] == lref["niter"]
    assert len(lg["err"]) == len(lref["err"])
    np.testing.assert_allclose(lg["err"], np.asarray(lref["err"], dtype=float), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(lg["logu"], lref["logu"], rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(lg["logv"], lref["logv"], rtol=RTOL, atol=1e-9)
    assert lg["converged"] == (lg["niter"] < kw["numItermax"] - 1)


def test_the_cases_cover_absorption_and_the_iteration_cap():
    # the stabilized case at reg 3e-3 absorbs (POT's errors are then checked at fewer iterations than ii/10)
    _, lref = pot_run("d80-N4-sym-stab-absorbs")
    assert len(lref["err"]) < lref["niter"] // 10 + 1
    _, lref = pot_run("d80-N4-sym-kernel-maxiter")
    assert lref["niter"] == 39


def test_cpp_equals_numba():
    pytest.importorskip("otkit._ext")
    for name in ("d60-N3-nonsym-kernel", "d80-N4-sym-stab-absorbs"):
        A, M, w, method, reg, reg_m, kw = inputs(name)
        out = [otkit.barycenter_unbalanced(A, M, reg, reg_m, method=method, weights=w, log=True, backend=b, **kw)
               for b in ("cpp", "numba")]
        np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
        assert out[0][1]["niter"] == out[1][1]["niter"]


@pytest.mark.parametrize("sym", [True, False])
def test_infinite_reg_m_is_the_balanced_barycenter(backend, sym):
    """reg_m = inf: the geometric mean (the power mean's limit); the fixed point is the balanced barycenter's.

    With non-uniform weights the reference is the log-domain barycenter: POT's kernel-form barycenter (and
    otkit's, which reproduces its iterates) starts from scalings whose *unweighted* geometric mean is 1, and
    its update keeps the weighted one fixed, so it converges to another point (POT issue 134, PR 870)."""
    A, M, w = problem(50, 3, seed=3, masses=[1, 1, 1], sym=sym)
    reg = 5e-2
    bal = otkit.barycenter(A, M, reg, weights=w, method="sinkhorn_log", stopThr=1e-14, numItermax=20000,
                           backend=backend)
    for method in ("sinkhorn", "sinkhorn_stabilized"):
        q = otkit.barycenter_unbalanced(A, M, reg, np.inf, method=method, weights=w, stopThr=1e-13,
                                        numItermax=20000, backend=backend)
        np.testing.assert_allclose(q, bal, rtol=1e-9, atol=1e-12 * bal.max())
    # a large reg_m tends to it
    q_big = otkit.barycenter_unbalanced(A, M, reg, 1e7, weights=w, stopThr=1e-13, numItermax=20000,
                                        backend=backend)
    np.testing.assert_allclose(q_big, bal, rtol=1e-6, atol=1e-7 * bal.max())
    # uniform weights: the kernel-form balanced barycenter's fixed point too
    wu = np.full(3, 1 / 3)
    q = otkit.barycenter_unbalanced(A, M, reg, np.inf, weights=wu, stopThr=1e-13, numItermax=20000,
                                    backend=backend)
    bk = otkit.barycenter(A, M, reg, weights=wu, stopThr=1e-14, numItermax=20000, backend=backend)
    np.testing.assert_allclose(q, bk, rtol=1e-9, atol=1e-12 * bk.max())


def test_small_reg_m_limit(backend):
    """reg_m -> 0 (fi -> 0): u = 1, v = 1 and q = sum_k w_k K^T 1, the weighted mean of the column sums."""
    A, M, w = problem(30, 3, seed=4)
    reg = 0.1
    q = otkit.barycenter_unbalanced(A, M, reg, 1e-12, weights=w, backend=backend)
    K = np.exp(-M / reg)
    np.testing.assert_allclose(q, K.sum(axis=0), rtol=1e-9)


def unbalanced_objective(q, A, M, reg, reg_m, w):
    """sum_k w_k W_u(a_k, q) with POT's sinkhorn_unbalanced2 (total cost, reg_type 'kl')."""
    return sum(wk * float(ot.unbalanced.sinkhorn_unbalanced2(A[:, k], q, M, reg, reg_m, returnCost="total",
                                                            stopThr=1e-12, numItermax=100000))
               for k, wk in enumerate(w))


def test_different_masses_give_a_mass_in_between(backend):
    A, M, w = problem(40, 2, seed=6, masses=[1.0, 3.0])
    w = np.array([0.5, 0.5])
    q = otkit.barycenter_unbalanced(A, M, 5e-2, 1.0, weights=w, stopThr=1e-12, numItermax=5000, backend=backend)
    assert 1.0 < q.sum() < 3.0


def test_result_is_a_stationary_point_of_the_objective(backend):
    """The barycenter minimizes sum_k w_k W_u(a_k, q) over q among the multiplicative perturbations tried."""
    pytest.importorskip("ot")
    A, M, w = problem(25, 2, seed=8)
    reg, reg_m = 5e-2, 1.0
    q = otkit.barycenter_unbalanced(A, M, reg, reg_m, weights=w, stopThr=1e-13, numItermax=20000, backend=backend)
    f0 = unbalanced_objective(q, A, M, reg, reg_m, w)
    rng = np.random.default_rng(0)
    for _ in range(3):
        e = rng.standard_normal(q.shape)
        for t in (1e-2, -1e-2):
            assert unbalanced_objective(q * np.exp(t * e), A, M, reg, reg_m, w) > f0 - 1e-12


def test_numerical_error_keeps_the_previous_iterate(backend):
    """A cost of at least 1 at reg 1e-3: K = exp(-M / reg) underflows to 0, K v = 0 and u = inf at the first
    iteration; POT warns and returns the previous q (its start, ones); otkit says NUMERICAL_ERROR."""
    A, M, w = problem(40, 2, seed=9)
    M = M + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, lref = ot.unbalanced.barycenter_unbalanced(A, M, 1e-3, 1.0, weights=w, log=True)
    assert lref["niter"] == 0
    with pytest.warns(RuntimeWarning, match="numerical error"):
        q, lg = otkit.barycenter_unbalanced(A, M, 1e-3, 1.0, weights=w, log=True, backend=backend)
    assert lg["status"] == "numerical error" and not lg["converged"]
    assert lg["niter"] == lref["niter"]
    np.testing.assert_allclose(q, ref, rtol=RTOL)


def test_unconverged_warns_and_namespaces(backend):
    A, M, w = problem(30, 2, seed=10)
    with pytest.warns(UserWarning, match="did not converge"):
        otkit.barycenter_unbalanced(A, M, 1e-2, 1.0, numItermax=5, stopThr=1e-15, backend=backend)
    q1 = otkit.unbalanced.barycenter_unbalanced_sinkhorn(A, M, 0.1, 1.0, backend=backend)
    q2 = otkit.barycenter_unbalanced(A, M, 0.1, 1.0, backend=backend)
    np.testing.assert_array_equal(q1, q2)
    q3 = otkit.unbalanced.barycenter_unbalanced_stabilized(A, M, 0.1, 1.0, tau=1e3, backend=backend)
    np.testing.assert_allclose(q3, ot.unbalanced.barycenter_unbalanced_stabilized(A, M, 0.1, 1.0), rtol=RTOL)


def test_bad_arguments_name_themselves():
    A, M, w = problem(10, 2, seed=11)
    with pytest.raises(ValueError, match="reg_m"):
        otkit.barycenter_unbalanced(A, M, 0.1, 0.0)
    with pytest.raises(ValueError, match="reg_m"):
        otkit.barycenter_unbalanced(A, M, 0.1, -1.0)
    with pytest.raises(ValueError, match="reg_m"):
        otkit.barycenter_unbalanced(A, M, 0.1, (1.0, 2.0))
    with pytest.raises(TypeError, match="reg_m"):
        otkit.barycenter_unbalanced(A, M, 0.1, "big")
    with pytest.raises(ValueError, match="method"):
        otkit.barycenter_unbalanced(A, M, 0.1, 1.0, method="sinkhorn_log")
    with pytest.raises(ValueError, match="A"):
        otkit.barycenter_unbalanced(-A, M, 0.1, 1.0)
    with pytest.raises(ValueError, match="weights"):
        otkit.barycenter_unbalanced(A, M, 0.1, 1.0, weights=[0.2, 0.2])
    with pytest.raises(ValueError, match="tau"):
        otkit.barycenter_unbalanced(A, M, 0.1, 1.0, method="sinkhorn_stabilized", tau=-1)


def test_float32_and_torch_come_back_as_they_came():
    A, M, w = problem(20, 2, seed=12)
    q32 = otkit.barycenter_unbalanced(A.astype(np.float32), M.astype(np.float32), 0.1, 1.0)
    assert q32.dtype == np.float32
    torch = pytest.importorskip("torch")
    qt = otkit.barycenter_unbalanced(torch.tensor(A), torch.tensor(M), 0.1, 1.0)
    assert isinstance(qt, torch.Tensor) and qt.dtype == torch.float64
    np.testing.assert_allclose(qt.numpy(), otkit.barycenter_unbalanced(A, M, 0.1, 1.0), rtol=1e-12)
    assert otkit.barycenter_unbalanced(torch.tensor(A, requires_grad=True), torch.tensor(M), 0.1, 1.0).requires_grad
    assert otkit.barycenter_unbalanced(torch.tensor(A, requires_grad=True), torch.tensor(M), 0.1, 1.0,
                                       method="sinkhorn_stabilized").requires_grad


@pytest.mark.parametrize("reg,reg_m,tau", [(0.1, 1.0, 1e3), (0.005, 0.5, 10.0), (0.05, np.inf, 1e3)])
def test_stabilized_gradients_equal_pot_torch(reg, reg_m, tau):
    """barycenter_unbalanced(method="sinkhorn_stabilized") on tensors that require grad: the kernel's iteration
    count, then the same iterations unrolled in torch (absorption decided on the torch iterates). Values and
    gradients in A, M and the weights against POT's torch backend on the same tensors (the second case absorbs),
    and central finite differences."""
    torch = pytest.importorskip("torch")
    A, M, w = problem(15, 3, seed=13)
    G = np.random.default_rng(0).standard_normal(15)
    kw = dict(method="sinkhorn_stabilized", tau=tau, stopThr=1e-9, numItermax=2000)
    outs = []
    # (POT's iterates are NaN at reg_m = inf: finite differences only there)
    for fn in (otkit.barycenter_unbalanced, ot.unbalanced.barycenter_unbalanced)[:1 if np.isinf(reg_m) else 2]:
        At, Mt, wt = (torch.tensor(v, requires_grad=True) for v in (A, M, w))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # (the absorbing case stops at numItermax in both)
            q = fn(At, Mt, reg, reg_m, weights=wt, **kw)
        (q @ torch.tensor(G)).backward()
        outs.append((q.detach().numpy(), At.grad.numpy(), Mt.grad.numpy(), wt.grad.numpy()))
    for x, r in zip(*outs) if len(outs) == 2 else ():
        np.testing.assert_allclose(x, r, rtol=1e-7, atol=1e-9 * np.abs(r).max())
    E = np.random.default_rng(1).standard_normal(A.shape) * A
    h = 1e-6
    kw["numItermax"] = 200  # (a fixed iteration count for both sides of the difference)
    kw["stopThr"] = 1e-300
    At = torch.tensor(A, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        (otkit.barycenter_unbalanced(At, torch.tensor(M), reg, reg_m, weights=torch.tensor(w), **kw)
         @ torch.tensor(G)).backward()
    outs[0] = (None, At.grad.numpy())

    def f(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return otkit.barycenter_unbalanced(X, M, reg, reg_m, weights=w, **kw) @ G
    np.testing.assert_allclose((outs[0][1] * E).sum(), (f(A + h * E) - f(A - h * E)) / (2 * h), rtol=1e-5)


def test_doctests_of_the_barycenter_module():
    import doctest
    import sys

    mod = sys.modules["otkit.barycenter"]  # (otkit.barycenter is also the function)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 8


@pytest.mark.parametrize("reg_m", [1.0, 0.3])
def test_torch_gradients_match_pots_unrolled(reg_m):
    """Unrolled in torch for the kernel's iteration count: POT's torch backend differentiates the same loop."""
    torch = pytest.importorskip("torch")
    A, M, w = problem(30, 3, seed=13)
    gr = {}
    for lib in ("otkit", "pot"):
        At = torch.tensor(A, requires_grad=True)
        Mt = torch.tensor(M, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        if lib == "otkit":
            q = otkit.barycenter_unbalanced(At, Mt, 0.05, reg_m, weights=wt, stopThr=1e-9)
        else:
            q = ot.unbalanced.barycenter_unbalanced(At, Mt, 0.05, reg_m, weights=wt, stopThr=1e-9)
        (q * torch.linspace(0.0, 1.0, 30, dtype=torch.float64)).sum().backward()
        gr[lib] = (q.detach().numpy(), At.grad.numpy(), Mt.grad.numpy(), wt.grad.numpy())
    for k in range(4):
        np.testing.assert_allclose(gr["otkit"][k], gr["pot"][k], rtol=1e-7, atol=1e-12)


def test_torch_gradient_by_finite_differences():
    torch = pytest.importorskip("torch")
    A, M, w = problem(12, 2, seed=14)
    At = torch.tensor(A, requires_grad=True)
    f = lambda X: float(otkit.barycenter_unbalanced(X, M, 0.1, 1.0, weights=w, stopThr=1e-14,  # noqa: E731
                                                    numItermax=100000).sum())
    q = otkit.barycenter_unbalanced(At, torch.tensor(M), 0.1, 1.0, weights=torch.tensor(w), stopThr=1e-14,
                                    numItermax=100000)
    q.sum().backward()
    E = np.random.default_rng(0).standard_normal(A.shape) * A
    h = 1e-6
    fd = (f(A + h * E) - f(A - h * E)) / (2 * h)
    np.testing.assert_allclose((At.grad.numpy() * E).sum(), fd, rtol=1e-5)

