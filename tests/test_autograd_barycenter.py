"""barycenter on torch tensors that require grad: the kernel's iteration count, the same iterations in
torch, gradients by autograd (unrolled, as POT); checked against POT's torch backend and finite differences."""
import numpy as np
import ot
import pytest

import otkit

torch = pytest.importorskip("torch")


def _problem(d=12, N=3, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(d, dtype=float)
    M = (x[:, None] - x[None, :]) ** 2
    A = rng.random((d, N))
    return A / A.sum(0), M / M.max(), rng.random(d)


def test_kernel_form_equals_pot_torch():
    A, M, G = _problem()
    At, Mt = torch.tensor(A, requires_grad=True), torch.tensor(M, requires_grad=True)
    bar = otkit.barycenter(At, Mt, 0.05, stopThr=1e-10)
    (bar * torch.tensor(G)).sum().backward()
    Ap, Mp = torch.tensor(A, requires_grad=True), torch.tensor(M, requires_grad=True)
    ref = ot.barycenter(Ap, Mp, 0.05, stopThr=1e-10)
    (ref * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(bar.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(At.grad.numpy(), Ap.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(Mt.grad.numpy(), Mp.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_finite_differences_and_kernel_value(method):
    A, M, G = _problem(seed=1)
    w = np.array([0.2, 0.5, 0.3])
    At, wt = torch.tensor(A, requires_grad=True), torch.tensor(w, requires_grad=True)
    bar, lg = otkit.barycenter(At, M, 0.05, weights=wt, method=method, stopThr=1e-10, log=True)
    assert isinstance(bar, torch.Tensor) and lg["converged"]
    np.testing.assert_allclose(bar.detach().numpy(), otkit.barycenter(A, M, 0.05, weights=w, method=method,
                                                                      stopThr=1e-10), rtol=1e-11, atol=1e-15)
    (bar @ torch.tensor(G)).backward()
    rng = np.random.default_rng(2)
    h = 1e-6
    D = rng.normal(size=A.shape)
    D -= D.mean(0)  # keep the columns' mass
    f = lambda dA, dw: otkit.barycenter(A + dA, M, 0.05, weights=w + dw, method=method, stopThr=1e-10) @ G  # noqa: E731
    np.testing.assert_allclose(float((At.grad * torch.tensor(D)).sum()), (f(h * D, 0) - f(-h * D, 0)) / (2 * h),
                               rtol=1e-5, atol=1e-9)
    dw = np.array([1.0, -0.5, -0.5])
    np.testing.assert_allclose(float(wt.grad @ torch.tensor(dw)), (f(0, h * dw) - f(0, -h * dw)) / (2 * h),
                               rtol=1e-5, atol=1e-9)


def test_float32_and_barycenter_sinkhorn_alias():
    A, M, _ = _problem(seed=3)
    A32 = torch.tensor(A, dtype=torch.float32, requires_grad=True)
    bar = otkit.barycenter_sinkhorn(A32, torch.tensor(M, dtype=torch.float32), 0.05)
    assert bar.dtype == torch.float32 and bar.requires_grad
    bar.sum().backward()
    assert torch.isfinite(A32.grad).all()


@pytest.mark.parametrize("weighted", [False, True])
def test_convolutional_torch_gradients_match_pots_unrolled(weighted):
    """convolutional_barycenter2d (kernel form) unrolled in torch: POT's torch backend differentiates the same
    iterations (issue 17: gradients of the convolutional barycenters)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    A = rng.random((3, 12, 10)) + 0.05
    A /= A.sum(axis=(1, 2), keepdims=True)
    w = np.array([0.2, 0.5, 0.3])
    gr = {}
    for lib in ("otkit", "pot"):
        At = torch.tensor(A, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True) if weighted else None
        fn = otkit.convolutional_barycenter2d if lib == "otkit" else ot.bregman.convolutional_barycenter2d
        bar = fn(At, 0.01, weights=wt, stopThr=1e-8)
        (bar * torch.linspace(0.0, 1.0, 120, dtype=torch.float64).reshape(12, 10)).sum().backward()
        gr[lib] = [bar.detach().numpy(), At.grad.numpy()] + ([wt.grad.numpy()] if weighted else [])
    for x, y in zip(gr["otkit"], gr["pot"]):
        np.testing.assert_allclose(x, y, rtol=1e-7, atol=1e-13)


@pytest.mark.parametrize("case", [("barycenter", "sinkhorn_stabilized", 0.05, {"tau": 1e10}),
                                  ("barycenter", "sinkhorn_stabilized", 0.003, {"tau": 1e3}),
                                  ("barycenter_debiased", "sinkhorn", 0.05, {})])
def test_stabilized_and_debiased_equal_pot_torch(case):
    """Values and gradients (in A, M and the weights) against POT's torch backend on the same tensors; the
    second case absorbs (reg 0.003, tau 1e3: POT's absorption branch runs). POT 0.9.7's debiased log-domain
    barycenter raises on tensors that require grad (an in-place write into a view), so that method is checked
    against finite differences below."""
    fn, method, reg, kw = case
    A, M, G = _problem(d=15, seed=4)
    w = np.array([0.2, 0.5, 0.3])
    ours = getattr(otkit, fn)
    ref_fn = getattr(ot.bregman, fn)
    outs = []
    for f in (ours, ref_fn):
        At, Mt, wt = (torch.tensor(v, requires_grad=True) for v in (A, M, w))
        bar, lg = f(At, Mt, reg, weights=wt, method=method, stopThr=1e-9, numItermax=3000, log=True, **kw)
        (bar @ torch.tensor(G)).backward()
        outs.append((bar.detach().numpy(), At.grad.numpy(), Mt.grad.numpy(), wt.grad.numpy(), lg["niter"]))
    (b1, gA1, gM1, gw1, n1), (b2, gA2, gM2, gw2, n2) = outs
    assert n1 == n2
    np.testing.assert_allclose(b1, b2, rtol=1e-9, atol=1e-14)
    for g1, g2 in ((gA1, gA2), (gM1, gM2), (gw1, gw2)):
        np.testing.assert_allclose(g1, g2, rtol=1e-7, atol=1e-9 * np.abs(g2).max())


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_debiased_finite_differences(method):
    A, M, G = _problem(seed=5)
    At = torch.tensor(A, requires_grad=True)
    bar = otkit.barycenter_debiased(At, M, 0.05, method=method, stopThr=1e-10)
    assert isinstance(bar, torch.Tensor) and bar.requires_grad
    np.testing.assert_allclose(bar.detach().numpy(), otkit.barycenter_debiased(A, M, 0.05, method=method,
                                                                               stopThr=1e-10), rtol=1e-10)
    (bar @ torch.tensor(G)).backward()
    D = np.random.default_rng(6).normal(size=A.shape)
    D -= D.mean(0)
    h = 1e-6
    f = lambda dA: otkit.barycenter_debiased(A + dA, M, 0.05, method=method, stopThr=1e-10) @ G  # noqa: E731
    np.testing.assert_allclose(float((At.grad * torch.tensor(D)).sum()), (f(h * D) - f(-h * D)) / (2 * h),
                               rtol=1e-5, atol=1e-9)


def test_convolutional_log_domain_gradients():
    """convolutional_barycenter2d(method="sinkhorn_log") unrolled in torch: the value equals the kernel's, the
    gradient in the images and the weights equals central finite differences (POT 0.9.7's log-domain version
    writes into a view in place and cannot be differentiated)."""
    rng = np.random.default_rng(16)
    A = rng.random((3, 9, 8)) + 0.05
    A /= A.sum(axis=(1, 2), keepdims=True)
    w = np.array([0.2, 0.5, 0.3])
    G = rng.random((9, 8))
    At, wt = torch.tensor(A, requires_grad=True), torch.tensor(w, requires_grad=True)
    kw = dict(method="sinkhorn_log", stopThr=1e-10, numItermax=20000)
    bar = otkit.convolutional_barycenter2d(At, 0.02, weights=wt, **kw)
    np.testing.assert_allclose(bar.detach().numpy(), otkit.convolutional_barycenter2d(A, 0.02, weights=w, **kw),
                               rtol=1e-10)
    (bar * torch.tensor(G)).sum().backward()
    f = lambda dA, dw: float((otkit.convolutional_barycenter2d(A + dA, 0.02, weights=w + dw, **kw) * G).sum())  # noqa
    h = 1e-6
    D = rng.normal(size=A.shape)
    D -= D.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(float((At.grad * torch.tensor(D)).sum()), (f(h * D, 0) - f(-h * D, 0)) / (2 * h),
                               rtol=1e-5, atol=1e-9)
    dw = np.array([1.0, -0.5, -0.5])
    np.testing.assert_allclose(float(wt.grad @ torch.tensor(dw)), (f(0, h * dw) - f(0, -h * dw)) / (2 * h),
                               rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_convolutional_debiased_gradients(method):
    """convolutional_barycenter2d_debiased unrolled in torch: the kernel form against POT's torch backend (values
    and gradients), both methods against central finite differences."""
    rng = np.random.default_rng(17)
    A = rng.random((3, 9, 8)) + 0.05
    A /= A.sum(axis=(1, 2), keepdims=True)
    w = np.array([0.2, 0.5, 0.3])
    G = rng.random((9, 8))
    kw = dict(method=method, stopThr=1e-9, numItermax=5000)
    At, wt = torch.tensor(A, requires_grad=True), torch.tensor(w, requires_grad=True)
    bar = otkit.convolutional_barycenter2d_debiased(At, 0.02, weights=wt, **kw)
    np.testing.assert_allclose(bar.detach().numpy(),
                               otkit.convolutional_barycenter2d_debiased(A, 0.02, weights=w, **kw), rtol=1e-10)
    (bar * torch.tensor(G)).sum().backward()
    if method == "sinkhorn":
        Ap, wp = torch.tensor(A, requires_grad=True), torch.tensor(w, requires_grad=True)
        ref = ot.bregman.convolutional_barycenter2d_debiased(Ap, 0.02, weights=wp, **kw)
        (ref * torch.tensor(G)).sum().backward()
        np.testing.assert_allclose(bar.detach().numpy(), ref.detach().numpy(), rtol=1e-9)
        np.testing.assert_allclose(At.grad.numpy(), Ap.grad.numpy(), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(wt.grad.numpy(), wp.grad.numpy(), rtol=1e-7, atol=1e-12)
    f = lambda dA: float((otkit.convolutional_barycenter2d_debiased(A + dA, 0.02, weights=w, **kw) * G).sum())  # noqa
    h = 1e-6
    D = rng.normal(size=A.shape)
    D -= D.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(float((At.grad * torch.tensor(D)).sum()), (f(h * D) - f(-h * D)) / (2 * h),
                               rtol=1e-5, atol=1e-9)
