"""sinkhorn2 on a PointCloud of torch tensors: a tensor out, gradients in the points and the weights equal
to the dense path's (and to POT's torch gradients at convergence), computed block by block."""
import numpy as np
import ot
import pytest

import otkit
from otkit import _autograd
from otkit.geometry import PointCloud

torch = pytest.importorskip("torch")


def _clouds(seed=0, n=30, m=20):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + 0.5, rng.random(n) + 0.2, rng.random(m) + 0.2


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("grad", ["implicit", "envelope"])
def test_cloud_gradients_equal_dense_path(cost, grad, monkeypatch):
    monkeypatch.setattr(_autograd._CloudPlan, "BLOCK", 7 * 20)  # several blocks of 7 rows
    xn, yn, an, bn = _clouds()
    an, bn = an / an.sum(), bn / bn.sum()
    kw = dict(stopThr=1e-13, numItermax=20000, grad=grad)
    x, y, a, b = (torch.tensor(t, requires_grad=True) for t in (xn, yn, an, bn))
    v = otkit.sinkhorn2(a, b, PointCloud(x, y, cost), 0.5, **kw)
    assert isinstance(v, torch.Tensor) and v.dtype == torch.float64
    v.backward()
    x2, y2, a2, b2 = (torch.tensor(t, requires_grad=True) for t in (xn, yn, an, bn))
    v2 = otkit.sinkhorn2(a2, b2, otkit.dist(x2, y2, metric=cost), 0.5, method="sinkhorn_log", **kw)
    v2.backward()
    np.testing.assert_allclose(v.item(), v2.item(), rtol=1e-13)
    for t1, t2 in ((x, x2), (y, y2), (a, a2), (b, b2)):
        np.testing.assert_allclose(t1.grad.numpy(), t2.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cloud_gradient_equals_pot_torch():
    xn, yn, _, _ = _clouds(1)
    x, y = torch.tensor(xn, requires_grad=True), torch.tensor(yn, requires_grad=True)
    otkit.sinkhorn2(None, None, PointCloud(x, y), 0.5, stopThr=1e-13, numItermax=20000).backward()
    xp, yp = torch.tensor(xn, requires_grad=True), torch.tensor(yn, requires_grad=True)
    a, b = torch.full((30,), 1 / 30, dtype=torch.float64), torch.full((20,), 1 / 20, dtype=torch.float64)
    ot.sinkhorn2(a, b, ot.dist(xp, yp), 0.5, stopThr=1e-13, numItermax=20000).backward()
    np.testing.assert_allclose(x.grad.numpy(), xp.grad.numpy(), rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(y.grad.numpy(), yp.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_cloud_float32_and_no_grad_paths():
    xn, yn, _, _ = _clouds(2)
    x32 = torch.tensor(xn, dtype=torch.float32, requires_grad=True)
    v = otkit.sinkhorn2(None, None, PointCloud(x32, torch.tensor(yn, dtype=torch.float32)), 0.5)
    assert v.dtype == torch.float32
    v.backward()
    assert x32.grad.dtype == torch.float32 and torch.isfinite(x32.grad).all()
    w = otkit.sinkhorn2(None, None, PointCloud(torch.tensor(xn), torch.tensor(yn)), 0.5)  # no grad wanted
    assert isinstance(w, torch.Tensor) and not w.requires_grad
    with pytest.raises(NotImplementedError, match="batched"):
        otkit.sinkhorn2(None, torch.ones(20, 2) / 20, PointCloud(torch.tensor(xn, requires_grad=True),
                                                              torch.tensor(yn)), 0.5)
