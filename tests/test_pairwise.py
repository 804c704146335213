"""otkit.pairwise_sinkhorn2: against loops of single calls and of POT calls, the symmetric shortcut,
and the same matrix from a Dask cluster."""
import doctest
import warnings

import numpy as np
import ot
import pytest

import otkit
import otkit.pairwise as pw
from conftest import require_backend


def hists(d, N, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(d), size=N).T  # (d, N)


def grid_cost(d):
    x = np.linspace(0, 1, d)
    return (x[:, None] - x[None, :]) ** 2 / 0.05


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_equals_loop_of_single_calls_and_pot(backend, method):
    A, B = hists(40, 5, 0), hists(30, 7, 1)
    M = np.random.default_rng(2).random((40, 30))
    W = otkit.pairwise_sinkhorn2(A, B, M, 0.1, method=method, backend=backend, chunk=2)
    assert W.shape == (5, 7)
    loop = np.array([[otkit.sinkhorn2(A[:, i], B[:, j], M, 0.1, method=method, backend=backend)
                      for j in range(7)] for i in range(5)])
    np.testing.assert_allclose(W, loop, rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.array([[ot.sinkhorn2(A[:, i], B[:, j], M, 0.1, method=method) for j in range(7)] for i in range(5)])
    np.testing.assert_allclose(W, ref, rtol=1e-7)


def test_symmetric_shortcut_matches_full_matrix():
    A = hists(50, 6, 3)
    M = grid_cost(50)
    W = otkit.pairwise_sinkhorn2(A, None, M, 0.5, stopThr=1e-12, chunk=4)  # symmetric M: j >= i only
    full = otkit.pairwise_sinkhorn2(A, None, M, 0.5, stopThr=1e-12, symmetric=False)
    np.testing.assert_array_equal(W, W.T)
    np.testing.assert_allclose(W, full, rtol=1e-9)


def test_dirac_histograms_give_the_ground_cost():
    d = 12
    M = grid_cost(d) * 0.05
    A = np.eye(d)[:, [0, 3, 7, 11]]
    W = otkit.pairwise_sinkhorn2(A, None, M, 0.01)
    idx = np.array([0, 3, 7, 11])
    np.testing.assert_allclose(W, M[np.ix_(idx, idx)], atol=1e-12)


def test_dask_cluster_gives_the_same_matrix():
    distributed = pytest.importorskip("distributed")
    A, B = hists(60, 9, 4), hists(60, 4, 5)
    M = grid_cost(60)
    local = otkit.pairwise_sinkhorn2(A, B, M, 0.2, chunk=2)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        remote = otkit.pairwise_sinkhorn2(A, B, M, 0.2, chunk=2, client=client)
        remote_exact = otkit.pairwise_emd2(A, B, M, chunk=2, client=client)
    np.testing.assert_array_equal(remote, local)
    np.testing.assert_array_equal(remote_exact, otkit.pairwise_emd2(A, B, M, chunk=2))


def test_bad_input():
    A, M = hists(10, 3, 6), np.random.default_rng(7).random((10, 8))
    with pytest.raises(ValueError, match="B has 10 rows but M.shape\\[1\\] = 8"):
        otkit.pairwise_sinkhorn2(A, A, M, 0.1)
    with pytest.raises(ValueError, match="A has 10 rows but M.shape\\[0\\] = 9"):
        otkit.pairwise_sinkhorn2(A, hists(8, 2, 0), M[:9], 0.1)
    with pytest.raises(ValueError, match="A must be 2-D"):
        otkit.pairwise_sinkhorn2(A[:, 0], hists(8, 2, 0), M, 0.1)
    with pytest.raises(ValueError, match="symmetric=True needs B=None"):
        otkit.pairwise_sinkhorn2(A, hists(8, 2, 0), M, 0.1, symmetric=True)
    with pytest.raises(ValueError, match="chunk"):
        otkit.pairwise_sinkhorn2(A, hists(8, 2, 0), M, 0.1, chunk=0)
    with pytest.raises(ValueError, match="negative"):
        otkit.pairwise_sinkhorn2(-A, hists(8, 2, 0), M, 0.1)


def test_doctests():
    res = doctest.testmod(pw, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 1 and res.failed == 0


# ---- exact pairwise matrices ------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cpp", "numba"])
@pytest.mark.parametrize("warm_start", [False, True])
def test_pairwise_emd2_equals_pot_per_pair(backend, warm_start):
    require_backend(backend)
    rng = np.random.default_rng(3)
    n, m = 12, 9
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = ot.dist(x, y)
    A = rng.random((n, 5))
    A[rng.random((n, 5)) < 0.3] = 0.0  # zero weights too
    A /= A.sum(0)
    B = rng.dirichlet(np.ones(m), size=4).T
    W = otkit.pairwise_emd2(A, B, M, backend=backend, warm_start=warm_start, num_threads=2, chunk=2)
    ref = np.array([[ot.emd2(A[:, i], B[:, j], M) for j in range(4)] for i in range(5)])
    np.testing.assert_allclose(W, ref, rtol=1e-10, atol=1e-14)


def test_pairwise_emd2_symmetric_and_threads_agree():
    rng = np.random.default_rng(4)
    x = rng.random((15, 2))
    M = ot.dist(x, x)
    A = rng.dirichlet(np.ones(15), size=7).T
    W1 = otkit.pairwise_emd2(A, None, M, num_threads=1)
    W2 = otkit.pairwise_emd2(A, None, M, num_threads=2, chunk=1)
    W3 = otkit.pairwise_emd2(A, A, M, symmetric=False)
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_allclose(W1, W3, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(W1, W1.T)
    assert np.all(np.diag(W1) == 0.0)


def test_pairwise_emd2_bad_input_names_the_argument():
    M = np.ones((3, 3)) - np.eye(3)
    A = np.eye(3)
    with pytest.raises(ValueError, match="A"):
        otkit.pairwise_emd2(A * np.array([1, 2, 1]), None, M)
    with pytest.raises(ValueError, match="B has 2 rows"):
        otkit.pairwise_emd2(A, np.ones((2, 2)) / 2, M)
    with pytest.raises(ValueError, match="num_threads"):
        otkit.pairwise_emd2(A, None, M, num_threads=-1)
    with pytest.raises(ValueError, match="symmetric=True needs B=None"):
        otkit.pairwise_emd2(A, A, M, symmetric=True)


def test_pairwise_on_torch_tensors_returns_tensors():
    torch = pytest.importorskip("torch")
    A, M = hists(10, 3, 6), grid_cost(10)
    At, Mt = torch.tensor(A, dtype=torch.float32), torch.tensor(M, dtype=torch.float32)
    for W in (otkit.pairwise_emd2(At, None, Mt), otkit.pairwise_sinkhorn2(At, None, Mt, 0.5)):
        assert isinstance(W, torch.Tensor) and W.dtype == torch.float32 and W.shape == (3, 3)
    np.testing.assert_allclose(otkit.pairwise_emd2(At, None, Mt).numpy(), otkit.pairwise_emd2(A, None, M), rtol=1e-5)
    with pytest.warns(UserWarning, match="grad"):
        otkit.pairwise_emd2(At.clone().requires_grad_(True), None, Mt)
