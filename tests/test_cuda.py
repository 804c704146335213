"""The CUDA backend: agreement with the C++ kernels and POT on sizes beyond the tile edges, batched,
float32, non-convergence and numerical errors, and the errors it gives where it cannot run.

Tests that need a GPU skip without one (CI has none); the tests of the error paths run everywhere.
"""
import os
import warnings

import numpy as np
import ot
import pytest

import otkit
from otkit import _backend

needs_gpu = pytest.mark.skipif(_backend.cuda_device_count() == 0, reason="no CUDA device")


def problem(n, m, seed=0, N=None, zeros=False):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = otkit.dist(x, y, "sqeuclidean")
    M /= np.median(M)
    a = rng.dirichlet(np.ones(n))
    b = rng.dirichlet(np.ones(m), size=N).T if N else rng.dirichlet(np.ones(m))
    if zeros:
        a[rng.choice(n, n // 5, replace=False)] = 0
        a /= a.sum()
    return a, b, M


# ----------------------------------------------------------------------------- runs everywhere
def test_cuda_backend_is_never_auto_and_names_its_families(monkeypatch):
    monkeypatch.delenv("OTKIT_BACKEND", raising=False)
    assert _backend.resolve_backend("auto", family="sinkhorn") != "cuda"
    with pytest.raises(ValueError, match="backend 'cuda' has no kernels for emd"):
        otkit.emd2([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], backend="cuda")
    # OTKIT_BACKEND=cuda is a preference for the CUDA families only: emd still runs on the CPU
    monkeypatch.setenv("OTKIT_BACKEND", "cuda")
    assert _backend.resolve_backend("auto", family="emd") in ("cpp", "numba")


@pytest.mark.skipif(_backend.cuda_device_count() > 0, reason="a CUDA device is present")
def test_cuda_without_device_raises_clearly():
    with pytest.raises(RuntimeError, match="cuda"):
        otkit.sinkhorn2([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], 1.0, backend="cuda")


def test_show_config_reports_cuda():
    cfg = otkit.show_config(as_dict=True)["cuda"]
    assert set(cfg) >= {"extension", "nvcc", "device", "devices"}
    assert cfg["devices"] == _backend.cuda_device_count()
    if os.environ.get("OTKIT_REQUIRE_EXT", "0") not in ("", "0") and cfg["nvcc"]:
        assert cfg["extension"], "nvcc is present and OTKIT_REQUIRE_EXT=1, but otkit._cuda did not build"


# ----------------------------------------------------------------------------- on a GPU
@needs_gpu
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
@pytest.mark.parametrize("n,m", [(1, 33), (257, 129), (1000, 1531)])
def test_cuda_equals_cpp(method, n, m):
    a, b, M = problem(n, m, seed=n + m, zeros=n > 1)
    for reg in (0.5, 0.05):
        P0, l0 = otkit.sinkhorn(a, b, M, reg, method=method, log=True, backend="cpp", warn=False)
        P1, l1 = otkit.sinkhorn(a, b, M, reg, method=method, log=True, backend="cuda", warn=False)
        assert l1["niter"] == l0["niter"] and l1["backend"] == "cuda"
        np.testing.assert_allclose(P1, P0, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(l1["err"], l0["err"], rtol=1e-6, atol=1e-14)
        v0 = otkit.sinkhorn2(a, b, M, reg, method=method, backend="cpp")
        v1 = otkit.sinkhorn2(a, b, M, reg, method=method, backend="cuda")
        np.testing.assert_allclose(v1, v0, rtol=1e-10)


@needs_gpu
@pytest.mark.parametrize("N", [2, 33, 100])
def test_cuda_batched_equals_pot_loop(N):
    a, B, M = problem(300, 270, seed=N, N=N)
    vals, lg = otkit.sinkhorn2(a, B, M, 0.1, log=True, backend="cuda", stopThr=1e-8)
    ref = np.array([ot.sinkhorn2(a, B[:, k], M, 0.1, stopThr=1e-8) for k in range(N)])
    np.testing.assert_allclose(vals, ref, rtol=1e-9)
    cpp, lc = otkit.sinkhorn2(a, B, M, 0.1, log=True, backend="cpp", stopThr=1e-8)
    np.testing.assert_array_equal(lg["niter"], lc["niter"])
    np.testing.assert_allclose(vals, cpp, rtol=1e-11)


@needs_gpu
def test_cuda_log_domain_small_reg_matches_pot():
    a, b, M = problem(200, 150, seed=3)
    reg = 1e-3
    P, lg = otkit.sinkhorn(a, b, M, reg, method="sinkhorn_log", numItermax=300, log=True, warn=False, backend="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Pr = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", numItermax=300)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P, Pr, rtol=1e-6, atol=1e-12 * Pr.max())


@needs_gpu
def test_cuda_kernel_form_underflow_is_reported_as_on_cpu():
    a, b, M = problem(60, 50, seed=5)
    with pytest.warns(UserWarning):
        P1, l1 = otkit.sinkhorn(a, b, M, 2e-3, method="sinkhorn", log=True, backend="cuda")
    with pytest.warns(UserWarning):
        P0, l0 = otkit.sinkhorn(a, b, M, 2e-3, method="sinkhorn", log=True, backend="cpp")
    assert l1["status"] == l0["status"] and l1["niter"] == l0["niter"]
    assert np.isfinite(P1).all()
    # entries far below the largest (1e-206 against 1e-2) come from subnormal K entries, which the
    # GPU's exp and the CPU's fast_exp round differently
    np.testing.assert_allclose(P1, P0, rtol=1e-8, atol=1e-15 * P0.max())
    # method="auto" goes to the log-domain there and gives the log-domain answer
    Pa = otkit.sinkhorn(a, b, M, 2e-3, method="auto", backend="cuda", warn=False)
    Pl = otkit.sinkhorn(a, b, M, 2e-3, method="sinkhorn_log", backend="cpp", warn=False)
    np.testing.assert_allclose(Pa, Pl, rtol=1e-8, atol=1e-15)


@needs_gpu
def test_cuda_non_convergence_warns_with_error():
    a, b, M = problem(100, 80, seed=7)
    with pytest.warns(UserWarning, match="did not converge"):
        _, lg = otkit.sinkhorn2(a, b, M, 0.01, numItermax=15, log=True, warn=True, backend="cuda")
    assert lg["converged"] is False and lg["niter"] == 14 and len(lg["err"]) == 2


@needs_gpu
def test_cuda_float32_and_overrelaxation():
    a, b, M = problem(400, 300, seed=9)
    v32 = otkit.sinkhorn2(a, b, M.astype(np.float32), 0.1, backend="cuda", stopThr=1e-6)
    v64 = otkit.sinkhorn2(a, b, M, 0.1, backend="cpp", stopThr=1e-6)
    assert v32.dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=1e-4)
    for method in ("sinkhorn", "sinkhorn_log"):
        r1, l1 = otkit.sinkhorn2(a, b, M, 0.02, method=method, omega=1.7, log=True, backend="cuda")
        r0, l0 = otkit.sinkhorn2(a, b, M, 0.02, method=method, omega=1.7, log=True, backend="cpp")
        assert l1["niter"] == l0["niter"]
        np.testing.assert_allclose(r1, r0, rtol=1e-9)


@needs_gpu
def test_cuda_large_matches_pot():
    a, b, M = problem(2048, 2048, seed=11)
    v = otkit.sinkhorn2(a, b, M, 0.05, backend="cuda", stopThr=1e-7)
    r = ot.sinkhorn2(a, b, M, 0.05, stopThr=1e-7)
    np.testing.assert_allclose(v, r, rtol=1e-9)


# ----------------------------------------------------------------------------- arrays in GPU memory
def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    return torch


@needs_gpu
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
def test_torch_cuda_tensors_stay_on_the_gpu(method):
    torch = _torch_cuda()
    a, b, M = problem(300, 200, seed=21, zeros=True)
    Mt, at, bt = (torch.tensor(x, device="cuda") for x in (M, a, b))
    M0 = Mt.clone()
    P, lg = otkit.sinkhorn(at, bt, Mt, 0.05, method=method, log=True)  # backend "auto": the GPU
    assert isinstance(P, torch.Tensor) and P.is_cuda and P.dtype == torch.float64
    assert lg["backend"] == "cuda" and lg["u"].is_cuda
    Pc = otkit.sinkhorn(a, b, M, 0.05, method=method, backend="cpp")
    np.testing.assert_allclose(P.cpu().numpy(), Pc, rtol=1e-9, atol=1e-15)
    v = otkit.sinkhorn2(at, bt, Mt, 0.05, method=method)
    assert isinstance(v, torch.Tensor) and v.is_cuda and v.ndim == 0
    np.testing.assert_allclose(float(v), otkit.sinkhorn2(a, b, M, 0.05, method=method, backend="cpp"), rtol=1e-10)
    assert torch.equal(Mt, M0)  # input untouched


@needs_gpu
def test_torch_cuda_batched_float32_and_host_histograms():
    torch = _torch_cuda()
    a, B, M = problem(256, 300, seed=22, N=7)
    Mt = torch.tensor(M, device="cuda", dtype=torch.float32)
    vals = otkit.sinkhorn2(a, B, Mt, 0.1, stopThr=1e-6)  # histograms from the host, M on the GPU
    assert vals.is_cuda and vals.dtype == torch.float32 and vals.shape == (7,)
    ref = otkit.sinkhorn2(a, B, M.astype(np.float32), 0.1, stopThr=1e-6, backend="cpp")
    np.testing.assert_allclose(vals.cpu().numpy(), ref, rtol=1e-4)


@needs_gpu
def test_cupy_arrays():
    cp = pytest.importorskip("cupy")
    a, b, M = problem(150, 170, seed=23)
    P = otkit.sinkhorn(cp.asarray(a), cp.asarray(b), cp.asarray(M), 0.1)
    assert isinstance(P, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(P), otkit.sinkhorn(a, b, M, 0.1, backend="cpp"), rtol=1e-9, atol=1e-15)


@needs_gpu
def test_gpu_arrays_bad_input():
    torch = _torch_cuda()
    a, b, M = problem(20, 30, seed=24)
    Mt = torch.tensor(M, device="cuda")
    Mt[3, 4] = float("nan")
    with pytest.raises(ValueError, match="M has non-finite"):
        otkit.sinkhorn2(a, b, Mt, 0.1)
    with pytest.raises(ValueError, match="b has negative"):
        otkit.sinkhorn2(a, torch.tensor(-b, device="cuda"), torch.tensor(M, device="cuda"), 0.1)
    with pytest.raises(TypeError, match="in GPU memory but M is not"):
        otkit.sinkhorn2(torch.tensor(a, device="cuda"), b, M, 0.1)
    with pytest.raises(ValueError, match="length"):
        otkit.sinkhorn2(a[:-1], b, torch.tensor(M, device="cuda"), 0.1)
