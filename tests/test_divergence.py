"""Debiased Sinkhorn divergence against POT's empirical_sinkhorn_divergence (values and torch gradients)."""
import warnings

import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")


def _clouds(seed=0, n=25, m=20):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + np.array([1.0, 0.5])


@pytest.mark.parametrize("reg", [1.0, 0.1])
@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_matches_pot(reg, metric):
    X, Y = _clouds()
    s0 = ot.bregman.empirical_sinkhorn_divergence(X, Y, reg, metric=metric, stopThr=1e-12)
    s1 = otkit.empirical_sinkhorn_divergence(X, Y, reg, metric=metric, stopThr=1e-12)
    np.testing.assert_allclose(s1, s0, rtol=1e-7)
    assert otkit.bregman.empirical_sinkhorn_divergence is otkit.empirical_sinkhorn_divergence


def test_properties():
    X, Y = _clouds(seed=1)
    assert otkit.empirical_sinkhorn_divergence(X, X, 0.3, stopThr=1e-12) < 1e-10
    assert otkit.empirical_sinkhorn_divergence(X, Y, 0.3) > 0
    M = [otkit.dist(X, Y), otkit.dist(X, X), otkit.dist(Y, Y)]
    np.testing.assert_allclose(otkit.sinkhorn_divergence(None, None, *M, 0.3, stopThr=1e-12, numItermax=10000),
                               otkit.empirical_sinkhorn_divergence(X, Y, 0.3, stopThr=1e-12), rtol=1e-9)


def test_torch_gradient_matches_pot():
    torch = pytest.importorskip("torch")
    X, Y = _clouds(seed=2)
    grads = []
    for fn in (ot.bregman.empirical_sinkhorn_divergence, otkit.empirical_sinkhorn_divergence):
        x = torch.tensor(X, requires_grad=True)
        y = torch.tensor(Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = fn(x, y, 0.5, stopThr=1e-13, numIterMax=100000)
        s.backward()
        grads.append((float(s), x.grad.numpy().copy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-9)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-6, atol=1e-10)


def test_divergence_as_a_training_loss():
    torch = pytest.importorskip("torch")
    X, Y = _clouds(seed=3, n=30, m=30)
    x = torch.tensor(X, requires_grad=True)
    y = torch.tensor(Y)
    opt = torch.optim.Adam([x], lr=0.05)
    first = None
    for _ in range(80):
        opt.zero_grad()
        s = otkit.empirical_sinkhorn_divergence(x, y, 0.1, stopThr=1e-5, warn=False)
        first = first if first is not None else s.item()
        s.backward()
        opt.step()
    assert s.item() < 0.05 * first
