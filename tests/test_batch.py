"""Tests of the batched solvers (otkit.sinkhorn2_batch, empirical_sinkhorn2_batch, otkit.batch.solve_batch,
solve_sample_batch).

References: B separate otkit.sinkhorn2 calls with num_threads=1 (bit for bit: the same kernel per problem) and
POT's ot.sinkhorn2 per problem (rtol 1e-7, same iteration counts); POT's ot.batch.solve_batch at a tight tol;
exact OT per problem (otkit.emd2 / ot.emd2); torch gradients against POT's torch backend per problem.
"""
import warnings

import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")


def clouds(B=6, n=20, m=15, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((B, n, d)), rng.random((B, m, d)) + 0.1
    a, b = rng.random((B, n)) + 0.1, rng.random((B, m)) + 0.1
    return X, Y, a / a.sum(1, keepdims=True), b / b.sum(1, keepdims=True)


def costs(X, Y):
    return ((X[:, :, None, :] - Y[:, None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
def test_equals_separate_calls_and_pot(backend, method):
    X, Y, a, b = clouds()
    M = costs(X, Y)
    W, lg = otkit.sinkhorn2_batch(a, b, M, 0.05, method=method, log=True, backend=backend)
    for k in range(len(M)):
        single, ls = otkit.sinkhorn2(a[k], b[k], M[k], 0.05, method=method, log=True, num_threads=1,
                                     backend=backend)
        assert W[k] == single  # the same kernel on the same problem
        assert lg["niter"][k] == ls["niter"]
        ref, lr = ot.sinkhorn2(a[k], b[k], M[k], 0.05, method=method, log=True)
        np.testing.assert_allclose(W[k], ref, rtol=1e-7)
        if method != "sinkhorn_stabilized":
            assert lg["niter"][k] == lr["niter"]
    assert lg["converged"].all()


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_over_relaxed_batch_equals_separate_calls(backend, method):
    X, Y, a, b = clouds(seed=5)
    M = costs(X, Y)
    W0, l0 = otkit.sinkhorn2_batch(a, b, M, 0.01, method=method, log=True, backend=backend)
    W, lg = otkit.sinkhorn2_batch(a, b, M, 0.01, method=method, log=True, backend=backend, omega="auto")
    for k in range(len(M)):
        single, ls = otkit.sinkhorn2(a[k], b[k], M[k], 0.01, method=method, log=True, num_threads=1,
                                     backend=backend, omega="auto")
        assert W[k] == single and lg["niter"][k] == ls["niter"]
    np.testing.assert_allclose(W, W0, rtol=1e-7)  # the same losses (stopThr 1e-9) in fewer iterations
    assert lg["niter"].sum() < l0["niter"].sum()
    W2 = otkit.empirical_sinkhorn2_batch(X, Y, 0.01, a=a, b=b, method=method, backend=backend, omega=1.5)
    np.testing.assert_allclose(W2, W0, rtol=1e-7)
    with pytest.raises(ValueError, match="over-relaxation"):
        otkit.sinkhorn2_batch(a, b, M, 0.01, method="sinkhorn_stabilized", backend=backend, omega="auto")
    with pytest.raises(ValueError, match="omega"):
        otkit.sinkhorn2_batch(a, b, M, 0.01, backend=backend, omega=2.5)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_anderson_batch_equals_separate_calls(backend, method):
    X, Y, a, b = clouds(seed=6)
    M = costs(X, Y)
    W0, l0 = otkit.sinkhorn2_batch(a, b, M, 0.01, method=method, log=True, backend=backend)
    W, lg = otkit.sinkhorn2_batch(a, b, M, 0.01, method=method, log=True, backend=backend, anderson=5)
    for k in range(len(M)):
        single, ls = otkit.sinkhorn2(a[k], b[k], M[k], 0.01, method=method, log=True, num_threads=1,
                                     backend=backend, anderson=5)
        assert W[k] == single and lg["niter"][k] == ls["niter"]
    np.testing.assert_allclose(W, W0, rtol=1e-7)  # the same losses (stopThr 1e-9) in fewer iterations
    assert lg["niter"].sum() * 2 < l0["niter"].sum()
    W2 = otkit.empirical_sinkhorn2_batch(X, Y, 0.01, a=a, b=b, method=method, backend=backend, anderson=3)
    np.testing.assert_allclose(W2, W0, rtol=1e-7)
    with pytest.raises(ValueError, match="anderson"):
        otkit.sinkhorn2_batch(a, b, M, 0.01, method="sinkhorn_stabilized", backend=backend, anderson=5)
    with pytest.raises(ValueError, match="exclude each other"):
        otkit.sinkhorn2_batch(a, b, M, 0.01, backend=backend, anderson=5, omega="auto")


def test_plans_and_shared_weights(backend):
    X, Y, a, b = clouds(seed=1)
    M = costs(X, Y)
    W, P = otkit.sinkhorn2_batch(None, b[0], M, 0.1, return_plans=True, backend=backend)
    assert P.shape == M.shape
    for k in range(len(M)):
        np.testing.assert_allclose(P[k], ot.sinkhorn(np.full(20, 1 / 20), b[0], M[k], 0.1), rtol=1e-7, atol=1e-300)
        np.testing.assert_allclose(W[k], (P[k] * M[k]).sum(), rtol=1e-12)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_point_clouds(backend, metric):
    X, Y, a, b = clouds(seed=2)
    W = otkit.empirical_sinkhorn2_batch(X, Y, 0.05, a, b, metric=metric, backend=backend)
    Wl = otkit.empirical_sinkhorn2_batch(X, Y, 0.05, a, b, metric=metric, method="sinkhorn_log", backend=backend)
    for k in range(len(X)):
        ref = ot.sinkhorn2(a[k], b[k], ot.dist(X[k], Y[k], metric=metric), 0.05)
        np.testing.assert_allclose(W[k], ref, rtol=1e-7)
        np.testing.assert_allclose(Wl[k], ref, rtol=1e-7)


def test_many_problems_on_threads_equal_one_thread():
    pytest.importorskip("otkit._ext")
    X, Y, a, b = clouds(B=40, n=30, m=30, seed=3)
    M = costs(X, Y)
    W1, P1 = otkit.sinkhorn2_batch(a, b, M, 0.02, num_threads=1, return_plans=True)
    W2, P2 = otkit.sinkhorn2_batch(a, b, M, 0.02, num_threads=2, return_plans=True)
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(P1, P2)


def test_auto_falls_back_to_the_log_domain(backend):
    X, Y, a, b = clouds(B=3, seed=4)
    M = costs(X, Y)
    W, lg = otkit.sinkhorn2_batch(a, b, M, 1e-3, method="auto", log=True, numItermax=20000, backend=backend)
    assert lg["method"] == "sinkhorn_log"
    for k in range(3):
        np.testing.assert_allclose(W[k], ot.sinkhorn2(a[k], b[k], M[k], 1e-3, method="sinkhorn_log",
                                                      numItermax=20000), rtol=1e-7)


def test_warnings_and_errors(backend):
    X, Y, a, b = clouds(seed=5)
    M = costs(X, Y)
    with pytest.warns(UserWarning, match=r"did not converge in \d+ of 6 problems"):
        otkit.sinkhorn2_batch(a, b, M, 1e-3, numItermax=5, backend=backend)
    with pytest.raises(ValueError, match="M must be a non-empty"):
        otkit.sinkhorn2_batch(a, b, M[0], 0.1)
    with pytest.raises(ValueError, match="problem 2"):
        bb = b.copy()
        bb[2] *= 2
        otkit.sinkhorn2_batch(a, bb, M, 0.1)
    with pytest.raises(ValueError, match="non-finite"):
        Mn = M.copy()
        Mn[1, 2, 3] = np.nan
        otkit.sinkhorn2_batch(a, b, Mn, 0.1)
    with pytest.raises(ValueError, match="a must be"):
        otkit.sinkhorn2_batch(a[:, :3], b, M, 0.1)
    with pytest.raises(ValueError, match="reg"):
        otkit.sinkhorn2_batch(a, b, M, -1.0)
    with pytest.raises(ValueError, match="method"):
        otkit.sinkhorn2_batch(a, b, M, 0.1, method="nope")
    with pytest.raises(ValueError, match="metric"):
        otkit.empirical_sinkhorn2_batch(X, Y, 0.1, metric="cityblock")
    with pytest.raises(ValueError, match="X_s and X_t"):
        otkit.empirical_sinkhorn2_batch(X[:, :, :1], Y, 0.1)


def test_float32_stays_float32():
    X, Y, a, b = clouds(seed=6)
    M = costs(X, Y).astype(np.float32)
    W = otkit.sinkhorn2_batch(None, None, M, 0.1)
    assert W.dtype == np.float32
    np.testing.assert_allclose(W, otkit.sinkhorn2_batch(None, None, M.astype(np.float64), 0.1), rtol=1e-4)


def test_pot_batch_api():
    X, Y, a, b = clouds(seed=7)
    M = costs(X, Y)
    for reg_type in ("entropy", "kl"):
        res = otkit.batch.solve_batch(M, reg=0.1, a=a, b=b, tol=1e-11, reg_type=reg_type)
        ref = ot.batch.solve_batch(M, reg=0.1, a=a, b=b, tol=1e-11, reg_type=reg_type, max_iter=10000)
        np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(res.value, ref.value, rtol=1e-7)
        np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-7)
    exact = otkit.batch.solve_batch(M, a=a, b=b)
    np.testing.assert_allclose(exact.value, [ot.emd2(a[k], b[k], M[k]) for k in range(len(M))], rtol=1e-12)
    res = otkit.batch.solve_sample_batch(X, Y, 0.1, a, b, tol=1e-11)
    ref = ot.batch.solve_sample_batch(X, Y, 0.1, a, b, tol=1e-11, max_iter=10000)
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-7)
    with pytest.raises(ValueError, match="method"):
        otkit.batch.solve_batch(M, reg=0.1, method="nope")
    with pytest.raises(ValueError, match="reg"):
        otkit.batch.solve_batch(M, method="sinkhorn")


def test_torch_gradients_per_problem():
    torch = pytest.importorskip("torch")
    X, Y, a, b = clouds(B=4, n=12, m=10, seed=8)
    Xt = torch.tensor(X, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = otkit.empirical_sinkhorn2_batch(Xt, torch.tensor(Y), 0.1, torch.tensor(a), torch.tensor(b),
                                            stopThr=1e-12)
    assert isinstance(W, torch.Tensor) and W.shape == (4,)
    (W * torch.arange(1.0, 5.0, dtype=W.dtype)).sum().backward()
    for k in range(4):
        xk = torch.tensor(X[k], requires_grad=True)
        ref = ot.sinkhorn2(torch.tensor(a[k]), torch.tensor(b[k]), ot.dist(xk, torch.tensor(Y[k])), 0.1,
                           stopThr=1e-12, numItermax=10000)
        (ref * (k + 1)).backward()
        np.testing.assert_allclose(W[k].item(), ref.item(), rtol=1e-9)
        np.testing.assert_allclose(Xt.grad[k].numpy(), xk.grad.numpy(), rtol=1e-6, atol=1e-9)
    # no graph asked: a plain tensor
    W2 = otkit.sinkhorn2_batch(None, None, torch.tensor(costs(X, Y)), 0.1)
    assert isinstance(W2, torch.Tensor) and not W2.requires_grad


def test_doctests():
    import doctest

    from otkit import batch

    res = doctest.testmod(batch, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 8


def test_progress_gives_the_same_results(capsys):
    X, Y, a, b = clouds(B=150, n=8, m=7, seed=9)
    W, lg = otkit.empirical_sinkhorn2_batch(X, Y, 0.1, a, b, log=True)
    W2, P2, lg2 = otkit.empirical_sinkhorn2_batch(X, Y, 0.1, a, b, log=True, return_plans=True, progress=True)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(lg["niter"], lg2["niter"])
    np.testing.assert_array_equal(P2, otkit.empirical_sinkhorn2_batch(X, Y, 0.1, a, b, return_plans=True)[1])


def test_plans_that_cannot_fit_raise_a_memory_error(monkeypatch):
    from otkit import bregman

    monkeypatch.setattr(bregman, "_available_memory", lambda: 2**20)  # 1 MiB "available"
    M = np.zeros((70, 1000, 1000), dtype=np.float32)  # 280 MB of plans
    with pytest.raises(MemoryError, match="return_plans=True needs"):
        otkit.sinkhorn2_batch(None, None, M, 0.1, return_plans=True)
