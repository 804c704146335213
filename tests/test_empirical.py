"""Tests of otkit.empirical_sinkhorn / empirical_sinkhorn2 (POT's ot.bregman.empirical_sinkhorn(2)) and LazyPlan.

References: POT 0.9.7 -- not lazy: the same iterates as ot.bregman.empirical_sinkhorn(2) (rtol 1e-7, same
niter); lazy: POT's lazy potentials, plan and loss at a tight stopThr (the two loops check different marginal
norms, so they stop at nearby iterations); the dense otkit path; torch gradients against POT's torch backend.
"""
import warnings

import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")


def clouds(n=40, m=30, d=2, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, d)), rng.random((m, d)) + 0.2
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock"])
def test_not_lazy_is_pots_iterates(backend, metric):
    x, y, a, b = clouds()
    P, lg = otkit.empirical_sinkhorn(x, y, 0.1, a, b, metric=metric, log=True, backend=backend)
    Pr, lr = ot.bregman.empirical_sinkhorn(x, y, 0.1, a, b, metric=metric, log=True)
    np.testing.assert_allclose(P, Pr, rtol=1e-7, atol=1e-300)
    assert lg["niter"] == lr["niter"]
    w = otkit.empirical_sinkhorn2(x, y, 0.1, a, b, metric=metric, backend=backend)
    np.testing.assert_allclose(w, ot.bregman.empirical_sinkhorn2(x, y, 0.1, a, b, metric=metric), rtol=1e-7)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock"])
def test_lazy_matches_pot_lazy(backend, metric):
    x, y, a, b = clouds(seed=1)
    reg = 0.05
    f, g, lg = otkit.empirical_sinkhorn(x, y, reg, a, b, metric=metric, isLazy=True, log=True, stopThr=1e-13,
                                        backend=backend)
    fr, gr, lr = ot.bregman.empirical_sinkhorn(x, y, reg, a, b, metric=metric, isLazy=True, log=True,
                                               stopThr=1e-13, batchSize=7)
    # the scalings are defined up to f + c, g - c: compare the plans, and the potentials after centring
    P = np.asarray(lg["lazy_plan"])
    Pr = lr["lazy_plan"][:]
    np.testing.assert_allclose(P, Pr, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(f - f.mean(), fr - fr.mean(), atol=1e-8)
    np.testing.assert_allclose(g + f.mean(), gr + fr.mean(), atol=1e-8)
    assert lg["u"] is f and lg["v"] is g
    w = otkit.empirical_sinkhorn2(x, y, reg, a, b, metric=metric, isLazy=True, stopThr=1e-13, backend=backend)
    wr = ot.bregman.empirical_sinkhorn2(x, y, reg, a, b, metric=metric, isLazy=True, stopThr=1e-13)
    np.testing.assert_allclose(w, wr, rtol=1e-9)


def test_lazy_equals_dense_log_domain_and_stores_no_matrix(backend):
    x, y, a, b = clouds(200, 150, 3, seed=2)
    f, g, lg = otkit.empirical_sinkhorn(x, y, 0.02, a, b, isLazy=True, log=True, backend=backend)
    P, ld = otkit.sinkhorn(a, b, otkit.dist(x, y), 0.02, method="sinkhorn_log", log=True, backend=backend)
    assert lg["niter"] == ld["niter"]
    np.testing.assert_allclose(np.asarray(lg["lazy_plan"]), P, rtol=1e-9, atol=1e-15)
    assert lg["method"] == "sinkhorn_log"


def test_lazy_plan_blocks():
    x, y, a, b = clouds(seed=3)
    _, _, lg = otkit.empirical_sinkhorn(x, y, 0.1, a, b, isLazy=True, log=True, stopThr=1e-12)
    L = lg["lazy_plan"]
    P = np.asarray(L)
    assert L.shape == P.shape == (40, 30)
    np.testing.assert_allclose(L[3:9], P[3:9], rtol=1e-13)
    np.testing.assert_allclose(L[:, 5], P[:, 5], rtol=1e-13)
    np.testing.assert_allclose(L[2, 7], P[2, 7], rtol=1e-13)
    np.testing.assert_allclose(L[[1, 4], 2:6], P[[1, 4], 2:6], rtol=1e-13)
    np.testing.assert_allclose(L.sum(axis=0), b, rtol=1e-9)
    np.testing.assert_allclose(L.sum(axis=1), a, rtol=1e-9)
    np.testing.assert_allclose(L.sum(), 1.0, rtol=1e-9)
    assert "LazyPlan" in repr(L)


def test_warmstart_and_batch_size():
    x, y, a, b = clouds(seed=4)
    f, g, lg = otkit.empirical_sinkhorn(x, y, 0.05, a, b, isLazy=True, log=True, stopThr=1e-10)
    f2, g2, lg2 = otkit.empirical_sinkhorn(x, y, 0.05, a, b, isLazy=True, log=True, stopThr=1e-10,
                                           warmstart=(f, g))
    assert lg2["niter"] < lg["niter"]
    np.testing.assert_allclose(f2, f, atol=1e-8)
    for bad in (0, -3, 2.5, (3,), (1, 2, 3), "100", True):
        with pytest.raises(ValueError, match="batchSize"):
            otkit.empirical_sinkhorn(x, y, 0.05, isLazy=True, batchSize=bad)
    otkit.empirical_sinkhorn(x, y, 0.05, isLazy=True, batchSize=(5, 7))


def test_bad_input_names_itself():
    x, y, a, b = clouds()
    with pytest.raises(ValueError, match="X_s|x"):
        otkit.empirical_sinkhorn2(x[:, :1], y, 0.1)
    with pytest.raises(ValueError, match="reg"):
        otkit.empirical_sinkhorn2(x, y, -1.0, isLazy=True)
    with pytest.raises(ValueError, match="metric"):
        otkit.empirical_sinkhorn2(x, y, 0.1, metric="nope")


def test_not_converged_warns():
    x, y, a, b = clouds()
    with pytest.warns(UserWarning, match="converge"):
        otkit.empirical_sinkhorn2(x, y, 1e-3, isLazy=True, numIterMax=20)


def test_pot_namespaces():
    assert otkit.bregman.empirical_sinkhorn is otkit.empirical_sinkhorn
    assert otkit.bregman.empirical_sinkhorn2 is otkit.empirical_sinkhorn2


@pytest.mark.parametrize("lazy", [False, True])
def test_torch_gradients_match_pot(lazy):
    torch = pytest.importorskip("torch")
    x, y, a, b = clouds(25, 20, seed=5)
    xt = torch.tensor(x, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = otkit.empirical_sinkhorn2(xt, torch.tensor(y), 0.1, torch.tensor(a), torch.tensor(b), isLazy=lazy,
                                      stopThr=1e-12)
        wr = ot.bregman.empirical_sinkhorn2(xr, torch.tensor(y), 0.1, torch.tensor(a), torch.tensor(b),
                                            stopThr=1e-12)
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float64
    np.testing.assert_allclose(w.item(), wr.item(), rtol=1e-9)
    w.backward()
    wr.backward()
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_doctests():
    import doctest

    from otkit import empirical

    res = doctest.testmod(empirical, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 5


def test_lazy_log_scalings_come_back_as_tensors():
    torch = pytest.importorskip("torch")
    x, y, a, b = clouds(seed=6)
    f, g = otkit.empirical_sinkhorn(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), 0.1,
                                    isLazy=True)
    assert isinstance(f, torch.Tensor) and f.dtype == torch.float32 and g.shape == (len(y),)
    fn, gn = otkit.empirical_sinkhorn(x, y, 0.1, isLazy=True)
    np.testing.assert_allclose(f.numpy(), fn, rtol=1e-4, atol=1e-4)
