"""Tests of otkit.solve / otkit.solve_sample (POT's ot.solve / ot.solve_sample).

References: POT 0.9.7's ot.solve and ot.solve_sample on the same problems (value, value_linear, plan,
potentials, at rtol 1e-7 or the tolerance reached); torch gradients against POT's torch backend
(grad="envelope" for the regularized value, and finite differences); unsupported options raise.
"""
import sys
import warnings

import numpy as np
import pytest

import otkit

ot = pytest.importorskip("ot")


def problem(n=30, m=25, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2)) + 0.1
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return x, y, a / a.sum(), b / b.sum(), ot.dist(x, y)


def test_exact(backend):
    x, y, a, b, M = problem()
    res = otkit.solve(M, a, b, backend=backend)
    ref = ot.solve(M, a, b)
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-12)
    np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-12)
    np.testing.assert_allclose(res.plan, ref.plan, atol=1e-14)
    # potentials: dual optimal (equal up to the centring and the degenerate directions): check the dual value
    f, g = res.potentials
    np.testing.assert_allclose(a @ f + b @ g, ref.value, rtol=1e-10)
    assert res.status == "Converged"
    np.testing.assert_allclose(res.marginal_a, a, atol=1e-14)
    np.testing.assert_allclose(res.marginal_b, b, atol=1e-14)


@pytest.mark.parametrize("reg_type", ["KL", "entropy"])
def test_entropic(backend, reg_type):
    x, y, a, b, M = problem(seed=1)
    res = otkit.solve(M, a, b, reg=0.05, reg_type=reg_type, backend=backend)
    ref = ot.solve(M, a, b, reg=0.05, reg_type=reg_type)
    np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-7, atol=1e-300)
    np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-7)
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-7)
    np.testing.assert_allclose(res.potentials[0], ref.potentials[0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.potentials[1], ref.potentials[1], rtol=1e-7, atol=1e-9)
    _, lref = ot.bregman.sinkhorn_log(a, b, M, 0.05, stopThr=1e-9, log=True)  # what POT's solve runs
    assert res.log["niter"] == lref["niter"]


@pytest.mark.parametrize("method", [None, "sinkhorn", "sinkhorn_log"])
@pytest.mark.parametrize("unbalanced", [1.0, (0.5, 3.0)])
def test_unbalanced(backend, method, unbalanced):
    x, y, a, b, M = problem(seed=2)
    b = b * 1.7
    res = otkit.solve(M, a, b, reg=0.05, unbalanced=unbalanced, method=method, backend=backend)
    ref = ot.solve(M, a, b, reg=0.05, unbalanced=unbalanced, method=method)
    np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-7, atol=1e-300)
    # the total cost is a small difference of O(1) terms here (2e-9): compared to its terms' scale
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-7)


def test_solve_sample_matches_pot(backend):
    x, y, a, b, M = problem(seed=3)
    for kw in (dict(), dict(reg=0.1), dict(reg=0.1, unbalanced=2.0), dict(reg=0.1, metric="euclidean"),
               dict(metric="cityblock")):
        res = otkit.solve_sample(x, y, a, b, backend=backend, **kw)
        ref = ot.solve_sample(x, y, a, b, **kw)
        np.testing.assert_allclose(res.value, ref.value, rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-7)
        if "reg" in kw:
            np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-7, atol=1e-14)
        else:  # exact OT (the L1 cost has several optimal plans): a coupling of the same cost
            np.testing.assert_allclose(res.plan.sum(1), a, atol=1e-14)
            np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-14)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_solve_sample_lazy(backend, metric):
    x, y, a, b, M = problem(seed=4)
    res = otkit.solve_sample(x, y, a, b, reg=0.05, metric=metric, lazy=True, tol=1e-12, backend=backend)
    dense = otkit.solve_sample(x, y, a, b, reg=0.05, metric=metric, tol=1e-12, backend=backend)
    ref = ot.solve_sample(x, y, a, b, reg=0.05, metric=metric, lazy=True, tol=1e-12)
    assert res.plan is None and ref.value is None  # POT leaves the value out; otkit gives it (from the dual)
    np.testing.assert_allclose(res.value_linear, ref.value_linear, rtol=1e-9)
    np.testing.assert_allclose(res.value, dense.value, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(res.lazy_plan), ref.lazy_plan[:], rtol=1e-8, atol=1e-15)
    np.testing.assert_allclose(res.marginal_a, a, rtol=1e-8)
    ent = otkit.solve_sample(x, y, a, b, reg=0.05, metric=metric, lazy=True, tol=1e-12, reg_type="entropy")
    np.testing.assert_allclose(ent.value, ot.solve(ot.dist(x, y, metric=metric), a, b, reg=0.05, tol=1e-12,
                                                   reg_type="entropy").value, rtol=1e-9)


def test_unsupported_options_raise():
    x, y, a, b, M = problem()
    with pytest.raises(NotImplementedError, match="L2"):
        otkit.solve(M, a, b, reg=0.1, reg_type="L2")
    with pytest.raises(NotImplementedError, match="TV"):
        otkit.solve(M, a, b, reg=0.1, unbalanced=1.0, unbalanced_type="TV")
    with pytest.raises(NotImplementedError, match="unbalanced"):
        otkit.solve(M, a, b, unbalanced=1.0)
    with pytest.raises(NotImplementedError, match="mm"):
        otkit.solve(M, a, b, reg=0.1, unbalanced=1.0, method="mm")
    with pytest.raises(ValueError, match="bsp"):
        otkit.solve_sample(x, y, method="bsp")  # (different numbers of points)
    with pytest.raises(ValueError, match="metric"):
        otkit.solve_sample(x, y, lazy=True, reg=0.1, unbalanced=1.0, metric="cityblock")
    with pytest.raises(NotImplementedError, match="TV"):
        otkit.solve_sample(x, y, lazy=True, reg=0.1, unbalanced=1.0, unbalanced_type="TV")
    with pytest.raises(ValueError, match="reg"):
        otkit.solve(M, a, b, reg=-1.0)
    with pytest.raises(TypeError, match="reg"):
        otkit.solve(M, a, b, reg="big")
    with pytest.raises(ValueError, match="reg_type"):
        otkit.solve(M, a, b, reg=0.1, reg_type="nope")
    with pytest.raises(ValueError, match="method"):
        otkit.solve(M, a, b, reg=0.1, method="nope")
    with pytest.raises(TypeError, match="unexpected"):
        otkit.solve_sample(x, y, nope=1)


def test_torch_gradients():
    torch = pytest.importorskip("torch")
    x, y, a, b, M = problem(12, 10, seed=5)

    def both(fn_ok, fn_pot, **kw):
        out = []
        for fn in (fn_ok, fn_pot):
            Mt = torch.tensor(M, requires_grad=True)
            at = torch.tensor(a, requires_grad=True)
            bt = torch.tensor(b, requires_grad=True)
            res = fn(Mt, at, bt, **kw)
            (res.value + 0.5 * res.value_linear).backward()
            out.append((float(res.value), Mt.grad.numpy().copy(), at.grad.numpy().copy(), bt.grad.numpy().copy()))
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # exact OT: the plan and the centred potentials, as POT
        o, p = both(otkit.solve, ot.solve)
        np.testing.assert_allclose(o[0], p[0], rtol=1e-12)
        for k in (1, 2, 3):
            np.testing.assert_allclose(o[k], p[k], rtol=1e-7, atol=1e-9)
        # entropic at convergence: POT's autodiff through the iterations against otkit's envelope + implicit
        o, p = both(otkit.solve, ot.solve, reg=0.1, tol=1e-13, max_iter=5000)
        np.testing.assert_allclose(o[0], p[0], rtol=1e-9)
        for k in (1, 2, 3):
            np.testing.assert_allclose(o[k] - (o[k].mean() if k > 1 else 0), p[k] - (p[k].mean() if k > 1 else 0),
                                       rtol=1e-5, atol=1e-7)
        # unbalanced: the gradients of sinkhorn_unbalanced2 (total and linear costs), fed with solve's solution
        o, _ = both(lambda Mt, at, bt, **kw: otkit.solve(Mt, at, bt, **kw), ot.solve, reg=0.1, unbalanced=1.0,
                    tol=1e-13, max_iter=20000)
        ref = []
        for total in ("total", "linear"):
            Mt, at, bt = (torch.tensor(v, requires_grad=True) for v in (M, a, b))
            v = otkit.sinkhorn_unbalanced2(at, bt, Mt, 0.1, 1.0, returnCost=total, stopThr=1e-13, numItermax=20000)
            ref.append((v, Mt, at, bt))
        (ref[0][0] + 0.5 * ref[1][0]).backward()
        for k, t in ((1, "M"), (2, "a"), (3, "b")):
            expect = ref[0][k].grad.numpy() + ref[1][k].grad.numpy()
            np.testing.assert_allclose(o[k], expect, rtol=1e-9, atol=1e-12)
    # the tensors come back as tensors
    res = otkit.solve(torch.tensor(M), reg=0.1)
    assert isinstance(res.value, torch.Tensor) and isinstance(res.plan, torch.Tensor)


def test_doctests():
    import doctest

    res = doctest.testmod(sys.modules["otkit.solve"], optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted >= 4
