"""Tests of otkit.barycenter_debiased and otkit.convolutional_barycenter2d_debiased (Janati et al. 2020).

References: POT 0.9.7 (ot.bregman.barycenter_debiased, ot.bregman.convolutional_barycenter2d_debiased) at
equal settings -- same iterates (rtol 1e-7), same iteration count and errors; cpp vs numba; the defining
property (the debiased barycenter of copies of one histogram is that histogram, where the entropic
barycenter blurs it).
"""
import functools
import warnings

import numpy as np
import pytest

import otkit
from otkit import _backend

ot = pytest.importorskip("ot")

RTOL = 1e-7


def grid_problem(d, N, seed=0):
    """N Gaussian histograms on a 1-D grid of d points, squared Euclidean cost (max 1), random weights."""
    rng = np.random.default_rng(seed)
    x = np.arange(d, dtype=float)
    M = (x[:, None] - x[None, :]) ** 2
    M /= M.max()
    A = np.stack([np.exp(-0.5 * ((x - rng.uniform(0.2, 0.8) * d) / rng.uniform(2, 6)) ** 2) + 1e-3 * rng.random(d)
                  for _ in range(N)], axis=1)
    A /= A.sum(axis=0)
    w = rng.random(N)
    w /= w.sum()
    return A, M, w


def nonsymmetric(M):
    return M * (1 + 0.2 * np.random.default_rng(1).random(M.shape))


def blob_images(N=3, n=20, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    A = np.empty((N, n, n))
    for k in range(N):
        cx, cy = rng.uniform(0.3, 0.7, 2)
        A[k] = np.exp(-((t[:, None] - cx) ** 2 + (t[None, :] - cy) ** 2) / rng.uniform(0.005, 0.02)) + 1e-4
        A[k] /= A[k].sum()
    return A


def assert_same_run(bar, lg, ref, lref, rtol=RTOL):
    np.testing.assert_allclose(bar, ref, rtol=rtol, atol=1e-300)
    assert lg["niter"] == lref["niter"]
    assert len(lg["err"]) == len(lref["err"])
    # the errors are differences of nearly equal iterates (kernel form): looser
    np.testing.assert_allclose(lg["err"], np.asarray(lref["err"], dtype=float), rtol=1e-5, atol=1e-12)


# POT's runs, shared by the backends (POT's log domain is the slow part of this file)
FIXED_CASES = {  # name: (d, N, symmetric M, method, reg, stopThr, numItermax)
    "d50-N1-sym-kernel": (50, 1, True, "sinkhorn", 1e-2, 1e-6, 500),
    "d50-N1-sym-log": (50, 1, True, "sinkhorn_log", 1e-2, 1e-6, 500),
    "d100-N3-sym-kernel": (100, 3, True, "sinkhorn", 1e-2, 1e-5, 400),
    "d100-N3-sym-log": (100, 3, True, "sinkhorn_log", 2e-3, 1e-5, 150),
    "d100-N3-nonsym-kernel": (100, 3, False, "sinkhorn", 1e-2, 1e-5, 400),
    "d100-N3-nonsym-log": (100, 3, False, "sinkhorn_log", 1e-2, 1e-5, 60),
    "d50-N4-nonsym-kernel": (50, 4, False, "sinkhorn", 5e-2, 1e-7, 300),
}


def fixed_inputs(name):
    d, N, sym, method, reg, thr, nmax = FIXED_CASES[name]
    A, M, w = grid_problem(d, N, seed=d + N)
    return A, (M if sym else nonsymmetric(M)), w, method, reg, dict(stopThr=thr, numItermax=nmax)


@functools.lru_cache(maxsize=None)
def pot_fixed(name):
    A, M, w, method, reg, kw = fixed_inputs(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ot.bregman.barycenter_debiased(A, M, reg, weights=w, method=method, log=True, **kw)


@functools.lru_cache(maxsize=None)
def pot_conv(method, N, reg, thr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ot.bregman.convolutional_barycenter2d_debiased(blob_images(N), reg, method=method, stopThr=thr,
                                                              numItermax=400, log=True)


# ---------------------------------------------------------------------------------------
# agreement with POT
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FIXED_CASES))
def test_fixed_matches_pot(backend, name):
    A, M, w, method, reg, kw = fixed_inputs(name)
    ref, lref = pot_fixed(name)
    assert np.isfinite(ref).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bar, lg = otkit.barycenter_debiased(A, M, reg, weights=w, method=method, log=True, backend=backend, **kw)
    assert_same_run(bar, lg, ref, lref)
    assert lg["converged"] == (lg["niter"] < kw["numItermax"] - 1)


@pytest.mark.parametrize("method,first", [("sinkhorn", 29), ("sinkhorn_log", 21)])
def test_stops_only_after_iteration_20(backend, method, first):
    """A loose stopThr is met at the first checks (ii = 9, 19 / 1, 11), but POT's loop goes on to ii > 20."""
    A, M, w = grid_problem(40, 2, seed=5)
    ref, lref = ot.bregman.barycenter_debiased(A, M, 2e-2, weights=w, method=method, stopThr=0.5, log=True)
    bar, lg = otkit.barycenter_debiased(A, M, 2e-2, weights=w, method=method, stopThr=0.5, log=True, backend=backend)
    assert lref["niter"] == first and lg["niter"] == first and lg["converged"]
    assert all(e < 0.5 for e in lg["err"]) and len(lg["err"]) == 3
    assert_same_run(bar, lg, ref, lref)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
@pytest.mark.parametrize("N,reg,thr", [(3, 4e-3, 1e-6), (1, 1e-2, 1e-3)])
def test_convolutional_matches_pot(backend, method, N, reg, thr):
    A = blob_images(N)
    ref, lref = pot_conv(method, N, reg, thr)
    bar, lg = otkit.convolutional_barycenter2d_debiased(A, reg, method=method, stopThr=thr, numItermax=400, log=True,
                                                        backend=backend)
    assert_same_run(bar, lg, ref, lref)
    assert lg["converged"]
    if method == "sinkhorn":
        for key in ("U", "V"):
            assert lg[key].shape == A.shape
            np.testing.assert_allclose(lg[key], lref[key], rtol=RTOL)
    else:
        assert "U" not in lg


def test_convolutional_weights_list_and_stabthr(backend):
    A = blob_images(3, n=16, seed=2)
    w = np.array([0.5, 0.2, 0.3])
    for method, stab in (("sinkhorn", 1e-10), ("sinkhorn_log", 1e-20)):
        ref = ot.bregman.convolutional_barycenter2d_debiased(A, 8e-3, weights=w, method=method, stabThr=stab)
        bar = otkit.convolutional_barycenter2d_debiased(list(A), 8e-3, weights=w, method=method, stabThr=stab,
                                                        backend=backend)
        np.testing.assert_allclose(bar, ref, rtol=RTOL)


def test_cpp_equals_numba():
    if not (_backend.is_available("cpp") and _backend.is_available("numba")):
        pytest.skip("needs both the cpp and numba backends")
    A, M, w = grid_problem(70, 3, seed=9)
    imgs = blob_images(2, n=18, seed=4)
    for method in ("sinkhorn", "sinkhorn_log"):
        for Mx in (M, nonsymmetric(M)):
            kw = dict(weights=w, method=method, stopThr=1e-6, numItermax=100, log=True, warn=False)
            b1, l1 = otkit.barycenter_debiased(A, Mx, 1e-2, backend="cpp", **kw)
            b2, l2 = otkit.barycenter_debiased(A, Mx, 1e-2, backend="numba", **kw)
            np.testing.assert_allclose(b1, b2, rtol=1e-9)
            assert l1["niter"] == l2["niter"]
        c1, k1 = otkit.convolutional_barycenter2d_debiased(imgs, 5e-3, method=method, log=True, backend="cpp")
        c2, k2 = otkit.convolutional_barycenter2d_debiased(imgs, 5e-3, method=method, log=True, backend="numba")
        np.testing.assert_allclose(c1, c2, rtol=1e-9)
        assert k1["niter"] == k2["niter"] and k1["err"] == pytest.approx(k2["err"], rel=1e-9)


# ---------------------------------------------------------------------------------------
# the bias removed
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_copies_of_one_histogram(backend, method):
    """The debiased barycenter of 3 copies of a histogram is that histogram; the entropic one blurs it.
    Measured (d = 100, reg = 1e-2, default stopThr): max error 1.8e-5 (kernel form) / 6.6e-5 (log) against
    2.3e-2 for otkit.barycenter, ratios 1300 and 350."""
    d = 100
    x = np.arange(d, dtype=float)
    M = (x[:, None] - x[None, :]) ** 2
    M /= M.max()
    a = np.exp(-0.5 * ((x - 50) / 6) ** 2)
    a /= a.sum()
    A = np.stack([a] * 3, axis=1)
    deb = otkit.barycenter_debiased(A, M, 1e-2, method=method, backend=backend)
    blur = otkit.barycenter(A, M, 1e-2, method=method, backend=backend)
    err_deb, err_blur = np.abs(deb - a).max(), np.abs(blur - a).max()
    assert err_blur > 0.2 * a.max()  # the entropic barycenter is visibly wider
    assert err_deb < 1e-3 * a.max()
    assert err_blur / err_deb > 100


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_copies_of_one_image(backend, method):
    """Measured (20 x 20, reg = 4e-3): max error 2.0e-5 (kernel form) / 6.5e-6 (log) against 2.1e-2 for
    otkit.convolutional_barycenter2d, ratios 1000 and 3200."""
    img = blob_images(1, n=20, seed=7)[0]
    A = np.stack([img] * 3)
    deb = otkit.convolutional_barycenter2d_debiased(A, 4e-3, method=method, backend=backend)
    blur = otkit.convolutional_barycenter2d(A, 4e-3, method=method, backend=backend)
    err_deb, err_blur = np.abs(deb - img).max(), np.abs(blur - img).max()
    assert err_blur / err_deb > 100


# ---------------------------------------------------------------------------------------
# API: errors, dtypes, torch, warnings, exports
# ---------------------------------------------------------------------------------------
def test_bad_input_names_the_argument():
    A, M, w = grid_problem(20, 2)
    imgs = blob_images(2, n=10)
    cases = [
        (lambda: otkit.barycenter_debiased(-A, M, 1e-2), "A"),
        (lambda: otkit.barycenter_debiased(A[:, 0], M, 1e-2), "A"),
        (lambda: otkit.barycenter_debiased(A, M[:10, :10], 1e-2), "M"),
        (lambda: otkit.barycenter_debiased(A, M, 0.0), "reg"),
        (lambda: otkit.barycenter_debiased(A, M, 1e-2, weights=[1.0]), "weights"),
        (lambda: otkit.barycenter_debiased(A, M, 1e-2, weights=[0.7, 0.7]), "weights"),
        (lambda: otkit.barycenter_debiased(A, M, 1e-2, method="sinkhorn_stabilized"), "method"),
        (lambda: otkit.barycenter_debiased(A, M, 1e-2, stopThr=-1.0), "stopThr"),
        (lambda: otkit.barycenter_debiased(A, M, 1e-2, numItermax=0), "numItermax"),
        (lambda: otkit.convolutional_barycenter2d_debiased(imgs[0], 1e-2), "A"),
        (lambda: otkit.convolutional_barycenter2d_debiased(imgs * 2, 1e-2), "A"),
        (lambda: otkit.convolutional_barycenter2d_debiased(imgs, -1.0), "reg"),
        (lambda: otkit.convolutional_barycenter2d_debiased(imgs, 1e-2, weights=[1.0, 0.0, 0.0]), "weights"),
        (lambda: otkit.convolutional_barycenter2d_debiased(imgs, 1e-2, stabThr=-1.0), "stabThr"),
        (lambda: otkit.convolutional_barycenter2d_debiased(imgs, 1e-2, method="foo"), "method"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError) as exc:
            call()
        assert name in str(exc.value), (name, str(exc.value))


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_float32_in_float32_out(method):
    A, M, w = grid_problem(30, 2)
    bar = otkit.barycenter_debiased(A.astype(np.float32), M.astype(np.float32), 1e-2, method=method, numItermax=50,
                                    warn=False)
    assert bar.dtype == np.float32
    ref = otkit.barycenter_debiased(A, M, 1e-2, method=method, numItermax=50, warn=False)
    np.testing.assert_allclose(bar, ref, rtol=1e-4, atol=1e-6)
    imgs = blob_images(2, n=10).astype(np.float32)
    cb, lg = otkit.convolutional_barycenter2d_debiased(imgs, 1e-2, method=method, log=True)
    assert cb.dtype == np.float32
    if method == "sinkhorn":
        assert lg["U"].dtype == np.float32 and lg["V"].dtype == np.float32


def test_torch_tensors_in_tensors_out():
    torch = pytest.importorskip("torch")
    A, M, w = grid_problem(30, 2)
    ref = otkit.barycenter_debiased(A, M, 1e-2, weights=w)
    bar = otkit.barycenter_debiased(torch.from_numpy(A), torch.from_numpy(M), 1e-2, weights=torch.from_numpy(w))
    assert isinstance(bar, torch.Tensor) and bar.dtype == torch.float64
    np.testing.assert_allclose(bar.numpy(), ref, rtol=1e-12)
    imgs = blob_images(2, n=10)
    cref = otkit.convolutional_barycenter2d_debiased(imgs, 1e-2)
    cb, lg = otkit.convolutional_barycenter2d_debiased(torch.from_numpy(imgs).float(), 1e-2, log=True)
    assert isinstance(cb, torch.Tensor) and cb.dtype == torch.float32 and cb.shape == (10, 10)
    np.testing.assert_allclose(cb.numpy(), cref, rtol=1e-4)
    assert lg["niter"] >= 21


def test_warnings_and_log_keys():
    A, M, w = grid_problem(30, 2)
    with pytest.warns(UserWarning, match="did not converge"):
        otkit.barycenter_debiased(A, M, 1e-2, numItermax=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar, lg = otkit.barycenter_debiased(A, M, 1e-2, numItermax=5, warn=False, log=True)
    assert set(lg) >= {"err", "niter", "converged", "status"}
    assert lg["niter"] == 4 and not lg["converged"] and lg["err"] == []
    with pytest.warns(UserWarning, match="did not converge"):
        otkit.convolutional_barycenter2d_debiased(blob_images(2, n=10), 1e-2, numItermax=15)


def test_exports():
    import sys

    mod = sys.modules["otkit.barycenter"]  # (otkit.barycenter is the function)
    for name in ("barycenter_debiased", "convolutional_barycenter2d_debiased"):
        assert name in otkit.__all__ and name in mod.__all__
        assert getattr(otkit, name) is getattr(mod, name)
