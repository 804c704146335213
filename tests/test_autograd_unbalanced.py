"""sinkhorn_unbalanced2 on torch tensors: values and gradients against POT's torch backend (which
differentiates through its iterations) at convergence, and against finite differences."""
import numpy as np
import ot
import pytest

import otkit

torch = pytest.importorskip("torch")


def _problem(seed=0, n=6, m=5):
    rng = np.random.default_rng(seed)
    M = rng.random((n, m))
    a, b = rng.random(n) + 0.2, rng.random(m) + 0.2
    return a / a.sum(), 1.3 * b / b.sum(), M


@pytest.mark.parametrize("reg_type", ["kl", "entropy"])
@pytest.mark.parametrize("reg_m", [0.7, (0.5, 2.0), (float("inf"), 1.0)])
@pytest.mark.parametrize("returnCost", ["linear", "total"])
def test_gradients_equal_pot_torch(reg_type, reg_m, returnCost):
    a, b, M = _problem()
    kw = dict(reg_type=reg_type, returnCost=returnCost, stopThr=1e-14, numItermax=100000)
    mine = [torch.tensor(x, requires_grad=True) for x in (a, b, M)]
    theirs = [torch.tensor(x, requires_grad=True) for x in (a, b, M)]
    v = otkit.sinkhorn_unbalanced2(*mine, 0.3, reg_m, **kw)
    w = ot.sinkhorn_unbalanced2(*theirs, 0.3, reg_m, **kw)
    assert isinstance(v, torch.Tensor) and v.dtype == torch.float64 and v.requires_grad
    np.testing.assert_allclose(v.item(), w.item(), rtol=1e-10, atol=1e-13)
    v.backward()
    w.backward()
    for x, y in zip(mine, theirs):
        scale = max(float(y.grad.abs().max()), 1e-3)  # POT's total is ~0 with both reg_m finite: compare absolutely
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=0, atol=1e-10 * scale)


def test_gradient_finite_differences_and_float32():
    a, b, M = _problem(1)
    Mt = torch.tensor(M, requires_grad=True)
    at = torch.tensor(a, requires_grad=True)
    kw = dict(stopThr=1e-14, numItermax=100000)
    otkit.sinkhorn_unbalanced2(at, b, Mt, 0.2, 0.5, **kw).backward()
    h = 1e-6
    rng = np.random.default_rng(2)
    D, d = rng.normal(size=M.shape), rng.normal(size=a.shape)
    fd = (otkit.sinkhorn_unbalanced2(a, b, M + h * D, 0.2, 0.5, **kw)
          - otkit.sinkhorn_unbalanced2(a, b, M - h * D, 0.2, 0.5, **kw)) / (2 * h)
    np.testing.assert_allclose(float((Mt.grad * torch.tensor(D)).sum()), fd, rtol=1e-6)
    fd = (otkit.sinkhorn_unbalanced2(a + h * d, b, M, 0.2, 0.5, **kw)
          - otkit.sinkhorn_unbalanced2(a - h * d, b, M, 0.2, 0.5, **kw)) / (2 * h)
    np.testing.assert_allclose(float((at.grad * torch.tensor(d)).sum()), fd, rtol=1e-6)
    M32 = torch.tensor(M, dtype=torch.float32, requires_grad=True)
    v32 = otkit.sinkhorn_unbalanced2(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32),
                                     M32, 0.2, 0.5)
    v32.backward()
    assert v32.dtype == torch.float32 and M32.grad.dtype == torch.float32


def test_no_graph_paths_warn():
    a, b, M = _problem(3)
    Mt = torch.tensor(M, requires_grad=True)
    with pytest.warns(UserWarning, match="without an autograd graph"):
        v, lg = otkit.sinkhorn_unbalanced2(a, b, Mt, 0.3, 0.7, log=True)
    assert isinstance(v, torch.Tensor) and not v.requires_grad


@pytest.mark.parametrize("grad", ["implicit", "envelope"])
def test_batched_sinkhorn2_gradients(grad):
    """b of shape (m, N): one batched solve, an (N,) tensor; its gradients are those of the N single problems."""
    rng = np.random.default_rng(7)
    M = rng.random((6, 5))
    a = np.full(6, 1 / 6)
    B = rng.random((5, 3))
    B /= B.sum(0)
    w = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    Mt, at, Bt = (torch.tensor(x, requires_grad=True) for x in (M, a, B))
    v = otkit.sinkhorn2(at, Bt, Mt, 0.2, stopThr=1e-13, numItermax=10000, grad=grad)
    assert v.shape == (3,)
    (v * w).sum().backward()
    gM, ga, gB = np.zeros_like(M), np.zeros_like(a), np.zeros_like(B)
    for k in range(3):
        Mk, ak, bk = (torch.tensor(x, requires_grad=True) for x in (M, a, B[:, k]))
        vk = otkit.sinkhorn2(ak, bk, Mk, 0.2, stopThr=1e-13, numItermax=10000, grad=grad)
        (w[k] * vk).backward()
        np.testing.assert_allclose(v[k].item(), vk.item(), rtol=1e-13)
        gM += Mk.grad.numpy()
        ga += ak.grad.numpy()
        gB[:, k] = bk.grad.numpy()
    np.testing.assert_allclose(Mt.grad.numpy(), gM, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(at.grad.numpy(), ga, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(Bt.grad.numpy(), gB, rtol=1e-10, atol=1e-13)
    if grad == "implicit":  # and POT's torch backend, which differentiates its batched iterations
        Mp = torch.tensor(M, requires_grad=True)
        (ot.sinkhorn2(torch.tensor(a), torch.tensor(B), Mp, 0.2, stopThr=1e-13, numItermax=10000) * w).sum().backward()
        np.testing.assert_allclose(Mt.grad.numpy(), Mp.grad.numpy(), rtol=1e-8, atol=1e-11)
