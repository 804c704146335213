"""otkit.metric: parametric W2 (relaxed / exact / sinkhorn) and the 1-D Wasserstein information matrix."""
import numpy as np
import ot
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import sqrtm
from scipy.stats import norm

from otkit.metric import param_w2, w2_samples, wasserstein_information_matrix, wasserstein_natural_gradient_step


def affine(theta, z):
    """g_theta(z) = A z + b with theta = (b (2,), A (2, 2) row-major)."""
    theta = np.asarray(theta)
    return z @ theta[2:].reshape(2, 2).T + theta[:2]


def mlp(theta, z):
    """A tiny 2-layer tanh network with 2 -> 4 -> 2 and 22 parameters."""
    W1, b1, W2, b2 = theta[:8].reshape(4, 2), theta[8:12], theta[12:20].reshape(2, 4), theta[20:22]
    return np.tanh(z @ W1.T + b1) @ W2.T + b2


def gaussian_w2sq(m0, S0, m1, S1):
    r0 = np.real(sqrtm(S0))
    cross = np.real(sqrtm(r0 @ S1 @ r0))
    return float(np.sum((m0 - m1) ** 2) + np.trace(S0) + np.trace(S1) - 2 * np.trace(cross))


def test_zero_at_same_parameters(rng):
    z = rng.standard_normal((64, 2))
    th = rng.standard_normal(22)
    for kind in ("relaxed", "exact"):
        np.testing.assert_allclose(param_w2(mlp, th, th, z, kind=kind), 0.0, atol=1e-12)
    assert abs(param_w2(mlp, th, th, z, kind="sinkhorn")) < 1e-6


def test_exact_matches_pot(rng):
    x, y = rng.standard_normal((50, 3)), rng.standard_normal((40, 3)) + 1
    ref = ot.emd2(ot.unif(50), ot.unif(40), ot.dist(x, y))
    np.testing.assert_allclose(w2_samples(x, y, "exact"), ref, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_relaxed_upper_bounds_exact(seed):
    """The identity coupling is feasible, so relaxed >= exact >= 0, on random pairs of generators."""
    r = np.random.default_rng(seed)
    z = r.standard_normal((40, 2))
    th0, th1 = r.standard_normal(22), r.standard_normal(22)
    relaxed = param_w2(mlp, th0, th1, z, "relaxed")
    exact = param_w2(mlp, th0, th1, z, "exact")
    assert exact >= -1e-12
    assert relaxed >= exact - 1e-10


def test_affine_gaussian_closed_form():
    """Exact W2^2 between the pushforwards of N(0, I) by two affine maps matches the Gaussian formula
    to sampling error, while the relaxed value (same z paired) is clearly larger."""
    r = np.random.default_rng(1)
    A0, b0 = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0.0, 0.0])
    A1, b1 = np.array([[0.5, 1.0], [-1.2, 0.3]]), np.array([1.0, -0.5])
    th0, th1 = np.r_[b0, A0.ravel()], np.r_[b1, A1.ravel()]
    ref = gaussian_w2sq(b0, A0 @ A0.T, b1, A1 @ A1.T)
    z = r.standard_normal((1500, 2))
    exact = param_w2(affine, th0, th1, z, "exact")
    relaxed = param_w2(affine, th0, th1, z, "relaxed")
    np.testing.assert_allclose(exact, ref, rtol=0.06)
    assert relaxed > 1.5 * ref
    # sinkhorn divergence with a small reg is close to the exact value on a smaller batch
    zs = z[:200]
    np.testing.assert_allclose(param_w2(affine, th0, th1, zs, "sinkhorn", reg=0.1),
                               param_w2(affine, th0, th1, zs, "exact"), rtol=0.03)


def test_bad_input(rng):
    z = rng.standard_normal((10, 2))
    th = rng.standard_normal(22)
    with pytest.raises(ValueError, match="kind"):
        param_w2(mlp, th, th, z, kind="nope")
    with pytest.raises(TypeError, match="g must be"):
        param_w2(3, th, th, z)
    with pytest.raises(ValueError, match="z must be"):
        param_w2(mlp, th, th, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="same number of rows"):
        w2_samples(np.zeros((3, 2)), np.zeros((4, 2)), "relaxed")
    with pytest.raises(ValueError, match="same dimension"):
        w2_samples(np.zeros((3, 2)), np.zeros((3, 3)), "exact")


# ---------------------------------------------------------------- torch (optional)
def test_torch_autograd_matches_numpy_and_envelope():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(2)
    z = r.standard_normal((60, 2))
    th0, th1 = r.standard_normal(22), r.standard_normal(22)

    def mlp_t(theta, z):
        W1, b1, W2, b2 = theta[:8].reshape(4, 2), theta[8:12], theta[12:20].reshape(2, 4), theta[20:22]
        return torch.tanh(z @ W1.T + b1) @ W2.T + b2

    zt = torch.tensor(z)
    for kind in ("relaxed", "exact", "sinkhorn"):
        t1 = torch.tensor(th1, requires_grad=True)
        val = param_w2(mlp_t, torch.tensor(th0), t1, zt, kind=kind, reg=0.05)
        np.testing.assert_allclose(float(val.detach()), param_w2(mlp, th0, th1, z, kind=kind, reg=0.05), rtol=1e-8, atol=1e-10)
        (grad,) = torch.autograd.grad(val, t1)
        # directional derivative against a central difference of the NumPy value
        d = r.standard_normal(22)
        d /= np.linalg.norm(d)
        eps = 1e-5
        fd = (param_w2(mlp, th0, th1 + eps * d, z, kind=kind, reg=0.05)
              - param_w2(mlp, th0, th1 - eps * d, z, kind=kind, reg=0.05)) / (2 * eps)
        np.testing.assert_allclose(float(grad.numpy() @ d), fd, rtol=2e-3, atol=1e-6)


def test_torch_module_flat_parameters():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    th0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    th1 = (th0 + 0.1 * torch.randn_like(th0)).requires_grad_(True)
    z = torch.randn(32, 2)
    val = param_w2(net, th0, th1, z, kind="relaxed")
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(th1.detach(), net.parameters())
        ref = ((net(z) - _eval_at(net, th0, z)) ** 2).sum(1).mean()
    np.testing.assert_allclose(float(val.detach()), float(ref), rtol=1e-6)
    val.backward()
    assert th1.grad is not None and torch.isfinite(th1.grad).all()
    with pytest.raises(ValueError, match="flat vector"):
        param_w2(net, th0[:-1], th0[:-1], z)


def _eval_at(net, theta, z):
    import copy

    import torch

    other = copy.deepcopy(net)
    torch.nn.utils.vector_to_parameters(theta, other.parameters())
    return other(z)


# ---------------------------------------------------------------- information matrix
GRID = np.linspace(-30.0, 30.0, 12001)


@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (1.5, 0.5), (-2.0, 3.0)])
def test_information_matrix_gaussian_identity(mu, sigma):
    """For N(mu, sigma^2) in (mu, sigma) coordinates G_W is the identity (W2 is flat there)."""
    G = wasserstein_information_matrix(lambda x, th: norm.cdf(x, th[0], th[1]), [mu, sigma], GRID)
    np.testing.assert_allclose(G, np.eye(2), atol=1e-4)  # density by finite differences
    # same with the density given explicitly
    G2 = wasserstein_information_matrix(lambda x, th: norm.cdf(x, th[0], th[1]), [mu, sigma], GRID,
                                        pdf=lambda x, th: norm.pdf(x, th[0], th[1]))
    np.testing.assert_allclose(G2, np.eye(2), atol=1e-6)


def test_information_matrix_log_sigma_and_natural_gradient():
    """In (mu, s = log sigma) coordinates G_W = diag(1, sigma^2); the natural-gradient step undoes it."""
    sigma = 2.5
    cdf = lambda x, th: norm.cdf(x, th[0], np.exp(th[1]))  # noqa: E731
    th = np.array([0.3, np.log(sigma)])
    G = wasserstein_information_matrix(cdf, th, GRID)
    np.testing.assert_allclose(G, np.diag([1.0, sigma**2]), rtol=1e-5, atol=1e-6)
    grad = np.array([0.7, -1.1])
    new = wasserstein_natural_gradient_step(th, grad, cdf, GRID, lr=0.2)
    np.testing.assert_allclose(new, th - 0.2 * np.array([0.7, -1.1 / sigma**2]), rtol=1e-5)
    # the natural gradient for the W2^2 to a target Gaussian in (mu, sigma) is the plain gradient:
    # one step with lr = 1/2 lands exactly on the target (W2^2 = (mu-m)^2 + (sigma-s)^2)
    cdf_ms = lambda x, t: norm.cdf(x, t[0], t[1])  # noqa: E731
    th = np.array([1.0, 2.0])
    target = np.array([-0.5, 0.7])
    step = wasserstein_natural_gradient_step(th, 2 * (th - target), cdf_ms, GRID, lr=0.5)
    np.testing.assert_allclose(step, target, atol=1e-5)


def test_information_matrix_bad_input():
    cdf = lambda x, th: norm.cdf(x, th[0], th[1])  # noqa: E731
    with pytest.raises(ValueError, match="increasing"):
        wasserstein_information_matrix(cdf, [0, 1], GRID[::-1])
    with pytest.raises(ValueError, match="theta"):
        wasserstein_information_matrix(cdf, [[0, 1]], GRID)
    with pytest.raises(ValueError, match="lr"):
        wasserstein_natural_gradient_step([0, 1], [1, 1], cdf, GRID, lr=0)
    with pytest.raises(ValueError, match="grad"):
        wasserstein_natural_gradient_step([0, 1], [1, 1, 1], cdf, GRID)


def test_import_without_torch_side_effect():
    """Importing otkit and otkit.metric never imports torch."""
    import subprocess
    import sys

    code = "import sys, otkit, otkit.metric, otkit.cli; assert 'torch' not in sys.modules, 'torch imported'"
    from conftest import CHILD_CWD, child_env

    subprocess.run([sys.executable, "-c", code], check=True, env=child_env(), cwd=CHILD_CWD)
