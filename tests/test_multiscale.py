"""Tests of multiscale Sinkhorn (otkit/multiscale.py, csrc/cpu/multiscale_cpu.cpp, otkit/_numba/multiscale.py).

References: the all-pairs point-cloud log-domain solver (``sinkhorn2`` on a ``PointCloud``, itself tested against
POT), the full kernel rebuilt densely from the returned potentials (the certificate), brute-force cluster bounds
(the block mask), finite differences (gradients), and C++ against Numba.
"""
import warnings

import numpy as np
import pytest

import otkit
from otkit import _backend, _status
from otkit.multiscale import multiscale_sinkhorn


def clouds(n, m, d=2, seed=0, shift=0.2):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.2, rng.random(m) + 0.2
    return rng.random((n, d)), rng.random((m, d)) + shift, a / a.sum(), b / b.sum()


def all_pairs(X, Y, a, b, reg, metric):
    val, lg = otkit.sinkhorn2(a, b, otkit.geometry.PointCloud(X, Y, cost=metric), reg, method="sinkhorn_log",
                              stopThr=1e-13, numItermax=200000, log=True)
    return float(val), np.asarray(lg["log_u"]), np.asarray(lg["log_v"])


def full_plan(X, Y, f, g, reg, metric):
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    if metric == "euclidean":
        C = np.sqrt(C)
    return np.exp(f[:, None] + g[None, :] - C / reg)


@pytest.mark.parametrize("metric,reg,d", [("sqeuclidean", 2e-3, 2), ("sqeuclidean", 5e-3, 3), ("euclidean", 0.005, 2)])
def test_equals_the_all_pairs_solver(backend, metric, reg, d):
    X, Y, a, b = clouds(700, 500, d=d)
    r = multiscale_sinkhorn(X, Y, a, b, reg, metric=metric, tol=1e-11, backend=backend)
    assert r["status"] == _status.OK
    assert r["kept_fraction"] < 0.9  # the truncation drops blocks here
    val, f, g = all_pairs(X, Y, a, b, reg, metric)
    np.testing.assert_allclose(r["value_linear"], val, rtol=1e-8)
    shift = np.mean(f - r["f"])
    np.testing.assert_allclose(r["f"] + shift, f, atol=1e-7)
    np.testing.assert_allclose(r["g"] - shift, g, atol=1e-7)


def test_certificate_bounds_the_marginals_of_the_full_kernel(backend):
    # a low truncation threshold drops blocks that matter: the certificate must add them back
    X, Y, a, b = clouds(900, 800, seed=3)
    reg, tol = 1e-3, 1e-9
    r = multiscale_sinkhorn(X, Y, a, b, reg, tol=tol, trunc=1.0, backend=backend)
    assert r["status"] == _status.OK and r["truncation_bound"] <= tol
    P = full_plan(X, Y, r["f"], r["g"], reg, "sqeuclidean")
    row_err = np.linalg.norm(P.sum(1) - a)
    col_err = np.linalg.norm(P.sum(0) - b)
    assert row_err <= r["truncation_bound"] * (1 + 1e-6) + 1e-15
    assert col_err <= r["err"] + r["truncation_bound"] + 1e-15
    assert col_err < 2 * tol


def test_zero_weights_duplicates_and_unequal_sizes(backend):
    X, Y, a, b = clouds(400, 300, seed=5)
    X[10:20] = X[0]  # duplicate points
    a[::7] = 0.0
    b[::5] = 0.0
    a, b = a / a.sum(), b / b.sum()
    r = multiscale_sinkhorn(X, Y, a, b, 4e-3, tol=1e-11, backend=backend)
    assert r["status"] == _status.OK
    val, f, g = all_pairs(X, Y, a, b, 4e-3, "sqeuclidean")
    np.testing.assert_allclose(r["value_linear"], val, rtol=1e-8)
    assert np.all(np.isneginf(r["f"][a == 0])) and np.all(np.isneginf(r["g"][b == 0]))
    assert np.all(np.isfinite(r["f"][a > 0])) and np.all(np.isfinite(r["g"][b > 0]))


def test_cpp_equals_numba():
    if not _backend.is_available("cpp"):
        pytest.skip("the C++ extension is not built")
    X, Y, a, b = clouds(500, 450, seed=7)
    out = [multiscale_sinkhorn(X, Y, a, b, 3e-3, tol=1e-10, backend=be, want_grad=True) for be in ("cpp", "numba")]
    assert out[0]["niter"] == out[1]["niter"]
    for key in ("f", "g", "mean_dx", "mean_dy"):
        np.testing.assert_allclose(out[0][key], out[1][key], rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(out[0]["value_linear"], out[1]["value_linear"], rtol=1e-12)


def test_block_mask_keeps_every_block_above_the_threshold_and_bounds_the_rest(backend):
    rng = np.random.default_rng(11)
    kx, ky, d, reg, trunc = 40, 35, 2, 0.01, 6.0
    cx, cy = rng.random((kx, d)), rng.random((ky, d))
    rx, ry = rng.random(kx) * 0.05, rng.random(ky) * 0.05
    phi, psi = rng.normal(size=kx) * 3, rng.normal(size=ky) * 3
    logA, logB = np.log(rng.random(kx) / kx), np.log(rng.random(ky) / ky)
    logB[3] = -np.inf  # a cluster without mass is never kept
    impl = _backend.kernels(backend, "multiscale")[1]
    indptr, indices, dr, dc = impl.block_mask(cx, rx, phi, logA, cy, ry, psi, logB, reg, trunc)
    gap = np.maximum(0.0, np.sqrt(((cx[:, None] - cy[None]) ** 2).sum(-1)) - rx[:, None] - ry[None])
    u = phi[:, None] + psi[None, :] - gap ** 2 / reg
    u[:, 3] = -np.inf
    kept = np.zeros((kx, ky), dtype=bool)
    kept[np.repeat(np.arange(kx), np.diff(indptr)), indices] = True
    assert np.all(kept[u > -trunc]) and not kept[:, 3].any()
    # every row and column cluster with mass keeps a block
    assert kept.any(axis=1).all() and kept[:, np.isfinite(logB)].any(axis=0).all()
    drop = np.where(kept, 0.0, np.exp(u))
    np.testing.assert_allclose(dr, (drop * np.exp(logB)[None, :]).sum(1), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(dc, (drop * np.exp(logA)[:, None]).sum(0), rtol=1e-10, atol=1e-300)
    # the bounds of a reference mask (here: nothing kept) sum over all blocks
    empty = np.zeros(kx + 1, dtype=np.int64)
    _, _, dr0, _ = impl.block_mask(cx, rx, phi, logA, cy, ry, psi, logB, reg, trunc, ref_indptr=empty,
                                   ref_indices=np.zeros(0, dtype=np.int64))
    np.testing.assert_allclose(dr0, (np.exp(u) * np.exp(logB)[None, :]).sum(1), rtol=1e-10)


def test_block_lse_equals_numpy_and_float32_is_close(backend):
    rng = np.random.default_rng(2)
    n, m, d = 60, 50, 3
    X, Y, g = rng.random((n, d)), rng.random((m, d)), rng.normal(size=m)
    xoff = np.array([0, 20, 45, 60], dtype=np.int64)
    yoff = np.array([0, 10, 30, 50], dtype=np.int64)
    indptr = np.array([0, 2, 3, 5], dtype=np.int64)
    indices = np.array([0, 2, 1, 0, 1], dtype=np.int64)
    impl = _backend.kernels(backend, "multiscale")[1]
    C = ((X[:, None] - Y[None]) ** 2).sum(-1)
    keep = np.zeros((n, m), dtype=bool)
    for I in range(3):
        for J in indices[indptr[I]:indptr[I + 1]]:
            keep[xoff[I]:xoff[I + 1], yoff[J]:yoff[J + 1]] = True
    Z = np.where(keep, -C / 0.1 + g, -np.inf)
    ref = np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1)) + Z.max(1)
    W = np.exp(Z - ref[:, None])
    lse, cbar, gbar = np.empty(n), np.empty(n), np.empty((n, d))
    impl.block_lse_f64(X, np.ascontiguousarray(Y.T), xoff, yoff, indptr, indices, -10.0, g, lse, cbar=cbar, gbar=gbar)
    np.testing.assert_allclose(lse, ref, rtol=1e-13)
    np.testing.assert_allclose(cbar, (W * C).sum(1), rtol=1e-12)
    np.testing.assert_allclose(gbar, X * W.sum(1)[:, None] - W @ Y, rtol=1e-11, atol=1e-14)
    lse32 = np.empty(n, dtype=np.float32)
    impl.block_lse_f32(X.astype(np.float32), np.ascontiguousarray(Y.T, dtype=np.float32), xoff, yoff, indptr, indices,
                       -10.0, g.astype(np.float32), lse32)
    np.testing.assert_allclose(lse32, ref, rtol=2e-5, atol=2e-5)


def test_raw_entry_points_refuse_bad_structures(backend):
    impl = _backend.kernels(backend, "multiscale")[1]
    X, Y = np.zeros((4, 2)), np.zeros((2, 3))
    g, lse = np.zeros(3), np.zeros(4)
    ok = dict(xoff=np.array([0, 4], dtype=np.int64), yoff=np.array([0, 3], dtype=np.int64),
              indptr=np.array([0, 1], dtype=np.int64), indices=np.array([0], dtype=np.int64))

    def call(**kw):
        args = {**ok, **kw}
        impl.block_lse_f64(X, Y, args["xoff"], args["yoff"], args["indptr"], args["indices"], -1.0, g, lse)

    call()
    with pytest.raises(ValueError, match="offsets"):
        call(xoff=np.array([0, 3], dtype=np.int64))
    with pytest.raises(ValueError, match="indices"):
        call(indices=np.array([1], dtype=np.int64))
    with pytest.raises(ValueError, match="indptr"):
        call(indptr=np.array([0, 2], dtype=np.int64))
    with pytest.raises(TypeError, match="int64"):
        call(indices=np.array([0], dtype=np.int32))
    with pytest.raises(ValueError, match="metric"):
        impl.block_lse_f64(X, Y, ok["xoff"], ok["yoff"], ok["indptr"], ok["indices"], -1.0, g, lse, metric="cityblock")
    with pytest.raises(ValueError, match="reg"):
        impl.block_mask(np.zeros((1, 2)), np.zeros(1), np.zeros(1), np.zeros(1), np.zeros((1, 2)), np.zeros(1),
                        np.zeros(1), np.zeros(1), 0.0, 5.0)


def test_non_convergence_is_reported():
    X, Y, a, b = clouds(300, 300, seed=4)
    r = multiscale_sinkhorn(X, Y, a, b, 1e-3, tol=1e-12, max_iter=3)
    assert r["status"] == _status.MAX_ITER and r["niter"] == 3 and r["err"] > 1e-12
    L = otkit.SamplesLoss("sinkhorn", blur=0.02, backend="multiscale", tol=1e-12, max_iter=3)
    with pytest.warns(UserWarning, match="did not converge"):
        L(X, Y)


@pytest.mark.parametrize("p", [1, 2])
def test_samples_loss_multiscale_equals_all_pairs(p):
    X, Y, a, b = clouds(1200, 1000, seed=8, shift=0.3)
    vals = [otkit.SamplesLoss("sinkhorn", p=p, blur=0.05, backend=be, tol=1e-11)(a, X, b, Y)
            for be in ("online", "multiscale")]
    np.testing.assert_allclose(vals[1], vals[0], rtol=1e-8)


@pytest.mark.parametrize("p", [1, 2])
def test_samples_loss_multiscale_gradients(p):
    torch = pytest.importorskip("torch")
    X, Y, a, b = clouds(300, 250, seed=9, shift=0.3)
    L = otkit.SamplesLoss("sinkhorn", p=p, blur=0.05, backend="multiscale", tol=1e-12)
    grads = {}
    for be in ("online", "multiscale"):
        L = otkit.SamplesLoss("sinkhorn", p=p, blur=0.05, backend=be, tol=1e-12)
        xt, yt = torch.tensor(X, requires_grad=True), torch.tensor(Y, requires_grad=True)
        L(torch.tensor(a), xt, torch.tensor(b), yt).backward()
        grads[be] = (xt.grad.numpy(), yt.grad.numpy())
    for k in range(2):
        np.testing.assert_allclose(grads["multiscale"][k], grads["online"][k], rtol=1e-7, atol=1e-12)
    # central finite differences of the value in a few coordinates
    h = 1e-6
    for i, c in ((0, 0), (17, 1), (120, 0)):
        Xp, Xm = X.copy(), X.copy()
        Xp[i, c] += h
        Xm[i, c] -= h
        fd = (L(a, Xp, b, Y) - L(a, Xm, b, Y)) / (2 * h)
        np.testing.assert_allclose(grads["multiscale"][0][i, c], fd, rtol=1e-5, atol=1e-9)


def test_samples_loss_backend_names():
    X, Y, _, _ = clouds(50, 40)
    with pytest.raises(ValueError, match="backend"):
        otkit.SamplesLoss("sinkhorn", backend="keops")
    with pytest.raises(ValueError, match="dimension"):
        otkit.SamplesLoss("sinkhorn", backend="multiscale")(np.zeros((5, 4)), np.ones((5, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = [otkit.SamplesLoss("sinkhorn", backend=be)(X, Y) for be in ("tensorized", "online", "auto", "multiscale")]
    np.testing.assert_allclose(v, v[0], rtol=1e-7)


def test_bad_input_names_the_argument():
    X, Y, a, b = clouds(30, 20)
    with pytest.raises(ValueError, match="metric"):
        multiscale_sinkhorn(X, Y, a, b, 0.1, metric="cityblock")
    with pytest.raises(ValueError, match="reg"):
        multiscale_sinkhorn(X, Y, a, b, -1.0)
    with pytest.raises(ValueError, match="dimension"):
        multiscale_sinkhorn(np.zeros((5, 4)), np.ones((5, 4)), np.full(5, 0.2), np.full(5, 0.2), 0.1)
    with pytest.raises(ValueError, match="same total mass"):
        multiscale_sinkhorn(X, Y, a, 2 * b, 0.1)
    with pytest.raises(ValueError, match="one weight per point"):
        multiscale_sinkhorn(X, Y, a[:-1], b, 0.1)
    bad = a.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="finite weights"):
        multiscale_sinkhorn(X, Y, bad, b, 0.1)
    with pytest.raises(ValueError, match="X"):
        multiscale_sinkhorn(np.zeros((0, 2)), Y, np.zeros(0), b, 0.1)
