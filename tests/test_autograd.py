"""Torch tensors in, tensors out, with gradients: sinkhorn2 (implicit through the fixed point, and the
envelope gradient) and emd2, against POT's torch backend and finite differences."""
import warnings

import numpy as np
import pytest

import otkit

torch = pytest.importorskip("torch")
ot = pytest.importorskip("ot")


def _setup(n=30, m=25, seed=0, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(n, 2)), dtype=dtype, requires_grad=True)
    y = torch.tensor(rng.normal(size=(m, 2)), dtype=dtype)
    a = torch.tensor(rng.dirichlet(np.ones(n)), dtype=dtype, requires_grad=True)
    b = torch.tensor(rng.dirichlet(np.ones(m)), dtype=dtype, requires_grad=True)
    return x, y, a, b


def _cost(x, y):
    return ((x[:, None] - y[None]) ** 2).sum(-1)


@pytest.mark.parametrize("reg", [1.0, 0.1, 0.03])
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_sinkhorn2_gradient_matches_pot(reg, method):
    x, y, a, b = _setup()
    kw = dict(stopThr=1e-13, numItermax=200000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w0 = ot.sinkhorn2(a, b, _cost(x, y), reg, **kw)
    g0 = torch.autograd.grad(w0, (x, a, b))
    w1 = otkit.sinkhorn2(a, b, _cost(x, y), reg, method=method, **kw)
    assert isinstance(w1, torch.Tensor) and w1.dtype == torch.float64 and w1.shape == ()
    g1 = torch.autograd.grad(w1, (x, a, b))
    np.testing.assert_allclose(w1.item(), w0.item(), rtol=1e-10)
    for u, v in zip(g1, g0):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-7, atol=1e-9 * float(v.abs().max()))


def test_sinkhorn2_gradient_matches_finite_differences():
    """d<P, M>/dM_ij and the derivative along directions that keep a and b on the simplex."""
    rng = np.random.default_rng(1)
    n, m, reg = 12, 9, 0.2
    M = torch.tensor(rng.random((n, m)), requires_grad=True)
    a = torch.tensor(rng.dirichlet(np.ones(n)), requires_grad=True)
    b = torch.tensor(rng.dirichlet(np.ones(m)), requires_grad=True)
    kw = dict(stopThr=1e-15, numItermax=100000)
    w = otkit.sinkhorn2(a, b, M, reg, **kw)
    gM, ga, gb = torch.autograd.grad(w, (M, a, b))
    f = lambda A, B_, MM: float(otkit.sinkhorn2(A, B_, MM, reg, **kw))  # noqa: E731
    A0, B0, M0 = a.detach().numpy(), b.detach().numpy(), M.detach().numpy()
    h = 1e-6
    for (i, j) in [(0, 0), (3, 5), (11, 8)]:
        E = np.zeros_like(M0)
        E[i, j] = h
        fd = (f(A0, B0, M0 + E) - f(A0, B0, M0 - E)) / (2 * h)
        np.testing.assert_allclose(gM[i, j].item(), fd, rtol=1e-6, atol=1e-10)
    da = rng.normal(size=n)
    da -= da.mean()
    db = rng.normal(size=m)
    db -= db.mean()
    for d, g, which in ((da, ga, "a"), (db, gb, "b")):
        fd = ((f(A0 + h * d, B0, M0) - f(A0 - h * d, B0, M0)) if which == "a"
              else (f(A0, B0 + h * d, M0) - f(A0, B0 - h * d, M0))) / (2 * h)
        np.testing.assert_allclose(float(g.numpy() @ d), fd, rtol=1e-6, atol=1e-10)


def test_envelope_gradient_is_the_plan():
    x, y, a, b = _setup(seed=2)
    M = _cost(x, y).detach().requires_grad_(True)
    w = otkit.sinkhorn2(a, b, M, 0.5, grad="envelope", stopThr=1e-12)
    gM, = torch.autograd.grad(w, (M,))
    P = otkit.sinkhorn(a.detach().numpy(), b.detach().numpy(), M.detach().numpy(), 0.5, stopThr=1e-12)
    np.testing.assert_allclose(gM.numpy(), P, rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match="grad"):
        otkit.sinkhorn2(a, b, M, 0.5, grad="unrolled")


def test_emd2_gradient_matches_pot():
    x, y, a, b = _setup(seed=3)
    w0 = ot.emd2(a, b, _cost(x, y))
    g0 = torch.autograd.grad(w0, (x, a, b))
    w1 = otkit.emd2(a, b, _cost(x, y))
    assert isinstance(w1, torch.Tensor) and w1.dtype == torch.float64
    g1 = torch.autograd.grad(w1, (x, a, b))
    np.testing.assert_allclose(w1.item(), w0.item(), rtol=1e-12)
    for u, v in zip(g1, g0):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-9, atol=1e-12)


def test_types_come_back():
    x, y, a, b = _setup(seed=4, dtype=torch.float32)
    M = _cost(x, y)
    w = otkit.sinkhorn2(a, b, M, 0.5)
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float32 and w.requires_grad
    w.backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    e = otkit.emd2(a.detach(), b.detach(), M.detach())
    assert isinstance(e, torch.Tensor) and e.dtype == torch.float32 and not e.requires_grad
    # numpy in, numpy out
    wn = otkit.sinkhorn2(a.detach().numpy(), b.detach().numpy(), M.detach().numpy(), 0.5)
    assert not isinstance(wn, torch.Tensor)
    # batched: an (N,) tensor, without a graph when none is asked for, with one otherwise
    B = torch.stack([b.detach(), b.detach().flip(0)], 1)
    wb = otkit.sinkhorn2(a.detach(), B, M.detach(), 0.5)
    assert isinstance(wb, torch.Tensor) and wb.shape == (2,) and not wb.requires_grad
    assert otkit.sinkhorn2(a, B, M, 0.5).requires_grad


def test_double_backward_raises():
    x, y, a, b = _setup(seed=5)
    w = otkit.sinkhorn2(a, b, _cost(x, y), 0.5)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(w, (x,), create_graph=True)


def test_training_loop_fits_a_point_cloud():
    """Gradient descent on sinkhorn2 moves a cloud onto another: the loss falls by 95%."""
    rng = np.random.default_rng(6)
    y = torch.tensor(rng.normal(size=(40, 2)) + np.array([3.0, -1.0]))
    x = torch.tensor(rng.normal(size=(40, 2)), requires_grad=True)
    opt = torch.optim.SGD([x], lr=5.0)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = otkit.sinkhorn2(None, None, _cost(x, y), 0.5, stopThr=1e-9)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0], losses[::10]


def test_sinkhorn_plan_is_a_tensor():
    x, y, a, b = _setup(seed=7, dtype=torch.float32)
    M = _cost(x, y)
    with pytest.warns(UserWarning, match="without an autograd graph"):
        P = otkit.sinkhorn(a, b, M, 0.5, stopThr=1e-6)
    assert isinstance(P, torch.Tensor) and P.dtype == torch.float32 and P.shape == M.shape
    P2 = otkit.sinkhorn(a.detach().numpy(), b.detach().numpy(), M.detach().numpy(), 0.5, stopThr=1e-6)
    np.testing.assert_allclose(P.numpy(), P2, rtol=1e-6)



def test_unif_and_dist_follow_the_tensors():
    x = torch.randn(6, 3, dtype=torch.float32, requires_grad=True)
    u = otkit.unif(6, type_as=x)
    assert isinstance(u, torch.Tensor) and u.dtype == torch.float32 and float(u.sum()) == pytest.approx(1.0)
    assert otkit.unif(4, type_as=np.zeros(1, np.float32)).dtype == np.float32
    for metric in ("sqeuclidean", "euclidean", "cityblock"):
        D = otkit.dist(x, metric=metric)
        assert isinstance(D, torch.Tensor) and D.dtype == torch.float32 and D.requires_grad
        np.testing.assert_allclose(D.detach().numpy(), otkit.dist(x.detach().numpy(), metric=metric),
                                   rtol=1e-4, atol=1e-5)
        assert float(D.diagonal().abs().max()) == 0.0  # exact 0 diagonal for dist(x) (as POT)
    y = torch.randn(4, 3, dtype=torch.float64)
    D = otkit.dist(x.detach().double(), y, backend="auto", use_tensor=True)
    np.testing.assert_allclose(D.numpy(), ot.dist(x.detach().double().numpy(), y.numpy()), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="x2"):
        otkit.dist(x, y.numpy())


def test_functions_without_gradient_return_tensors():
    """Tensors in, tensors out (M's dtype) for the functions with no gradient yet; a warning, never a silently
    dropped graph, when an input requires grad."""
    rng = np.random.default_rng(8)
    a = torch.tensor(rng.dirichlet(np.ones(6)), dtype=torch.float32)
    b = torch.tensor(rng.dirichlet(np.ones(5)), dtype=torch.float32)
    M = torch.tensor(rng.random((6, 5)), dtype=torch.float32)
    G = otkit.emd(a, b, M)
    assert isinstance(G, torch.Tensor) and G.dtype == torch.float32 and G.shape == (6, 5)
    np.testing.assert_allclose(G.numpy(), otkit.emd(a.numpy(), b.numpy(), M.numpy()), rtol=1e-6)
    P = otkit.sinkhorn_unbalanced(a, b, M, 0.5, 1.0)
    assert isinstance(P, torch.Tensor) and P.dtype == torch.float32
    w = otkit.wasserstein_1d(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([1.0, 2.0]), p=2)
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float32
    np.testing.assert_allclose(float(w), otkit.wasserstein_1d([0.0, 1.0, 3.0], [1.0, 2.0], p=2), rtol=1e-6)
    A = torch.tensor(rng.dirichlet(np.ones(6), size=3).T.copy())
    C = torch.tensor(rng.random((6, 6)))
    bar = otkit.barycenter(A, C, 0.1)
    assert isinstance(bar, torch.Tensor) and bar.dtype == torch.float64
    with pytest.warns(UserWarning, match="without an autograd graph"):
        otkit.emd(a, b, M.clone().requires_grad_(True))
