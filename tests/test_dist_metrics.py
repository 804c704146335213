"""otkit.dist with POT's metrics on NumPy and torch: scipy's values, torch results on the inputs' dtype and
device, gradients equal to POT's torch ones (where POT has them) and to finite differences."""
import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist

import otkit

torch = pytest.importorskip("torch")

TORCH_OPS = ["sqeuclidean", "euclidean", "cityblock", "minkowski", "chebyshev", "cosine", "correlation", "canberra",
             "braycurtis", "seuclidean"]
SCIPY_ONLY = ["hamming", "jaccard", "jensenshannon", "sqeuclidean"]


def _points(seed=0, n=6, m=5, k=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)), rng.normal(size=(m, k))


@pytest.mark.parametrize("metric", TORCH_OPS)
def test_torch_metrics_equal_scipy_and_keep_dtype(metric):
    x, y = _points()
    kw = {"p": 3.0} if metric == "minkowski" else {}
    ref = cdist(x, y, metric=metric, **kw)
    D = otkit.dist(torch.tensor(x), torch.tensor(y), metric=metric, **kw)
    assert isinstance(D, torch.Tensor) and D.dtype == torch.float64
    np.testing.assert_allclose(D.numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(otkit.dist(x, y, metric=metric, **kw), ref, rtol=1e-10, atol=1e-12)
    D32 = otkit.dist(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), metric=metric, **kw)
    assert D32.dtype == torch.float32
    np.testing.assert_allclose(D32.numpy(), ref, rtol=2e-4, atol=1e-4)


def test_weighted_minkowski():
    x, y = _points(1)
    w = np.array([0.5, 1.0, 2.0, 0.1])
    ref = cdist(x, y, metric="minkowski", p=1.5, w=w)
    np.testing.assert_allclose(otkit.dist(x, y, metric="minkowski", p=1.5, w=w), ref, rtol=1e-12)
    np.testing.assert_allclose(otkit.dist(torch.tensor(x), torch.tensor(y), metric="minkowski", p=1.5, w=w).numpy(),
                               ref, rtol=1e-10)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock", "minkowski", "cosine", "correlation"])
def test_gradients_equal_pot_torch(metric):
    x, y = _points(2)
    xs = [torch.tensor(x, requires_grad=True) for _ in range(2)]
    ys = [torch.tensor(y, requires_grad=True) for _ in range(2)]
    G = torch.tensor(np.random.default_rng(3).random((6, 5)))
    (otkit.dist(xs[0], ys[0], metric=metric) * G).sum().backward()
    (ot.dist(xs[1], ys[1], metric=metric) * G).sum().backward()
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ys[0].grad.numpy(), ys[1].grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("metric", ["chebyshev", "canberra", "braycurtis", "seuclidean"])
def test_gradients_finite_differences(metric):
    x, y = _points(4, n=3, m=2, k=3)
    G = np.random.default_rng(5).random((3, 2))
    xt = torch.tensor(x, requires_grad=True)
    (otkit.dist(xt, torch.tensor(y), metric=metric) * torch.tensor(G)).sum().backward()
    h = 1e-6
    for i in range(3):
        for k in range(3):
            e = np.zeros_like(x)
            e[i, k] = h
            fd = ((cdist(x + e, y, metric=metric) - cdist(x - e, y, metric=metric)) * G).sum() / (2 * h)
            np.testing.assert_allclose(xt.grad[i, k].item(), fd, rtol=1e-5, atol=1e-7)


def test_scipy_only_metrics_on_tensors_warn_when_grad_requested():
    rng = np.random.default_rng(6)
    x, y = rng.random((4, 5)), rng.random((3, 5))
    for metric in ("hamming", "jensenshannon"):
        D = otkit.dist(torch.tensor(x), torch.tensor(y), metric=metric)
        assert isinstance(D, torch.Tensor)
        np.testing.assert_allclose(D.numpy(), cdist(x, y, metric=metric), rtol=1e-12)
    with pytest.warns(UserWarning, match="no autograd graph"):
        otkit.dist(torch.tensor(x, requires_grad=True), torch.tensor(y), metric="jensenshannon")
    D = otkit.dist(torch.tensor(x), torch.tensor(y), metric="sqeuclidean", backend="scipy")
    np.testing.assert_allclose(D.numpy(), cdist(x, y, "sqeuclidean"), rtol=1e-12)
    with pytest.raises(ValueError, match="unknown or invalid metric 'nope'"):
        otkit.dist(torch.tensor(x), torch.tensor(y), metric="nope")
