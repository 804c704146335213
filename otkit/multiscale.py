r"""Multiscale Sinkhorn between large point clouds: coarse-to-fine epsilon scaling with a block truncation of the
kernel whose error is bounded (certified) at the end.

The method (Schmitzer 2019, "Stabilized sparse scaling algorithms for entropy regularized transport problems";
Feydy 2020, Sec. 3.3 of his thesis, GeomLoss's ``backend="multiscale"``):

1. **Clusters.** Each cloud is cut by a regular grid into cells (clusters) of side ``cell``; the points are
   sorted by cell, so a cluster is a contiguous range of rows. Each cluster has its mass, its centre (the
   weighted mean) and its radius (the largest distance from the centre to one of its points).
2. **Coarse.** The OT problem between the cluster centres, with the cluster masses, is solved by the compiled
   point-cloud log-domain Sinkhorn (:func:`otkit.sinkhorn2` on a :class:`otkit.geometry.PointCloud`), with
   epsilon scaling from the clouds' diameter down to ``reg_jump`` (the cells are then about one kernel width).
3. **Fine.** The coarse log-scalings, spread over each cluster's points, start the fine problem. From then
   on, each Sinkhorn half-step is a row log-sum-exp over the *kept blocks* only: block (I, J) is kept when
   the bound

   .. math::  u_{IJ} = \max_{i \in I} \varphi_i + \max_{j \in J} \psi_j - \underline{c}_{IJ} / \varepsilon

   exceeds ``-trunc``, where :math:`\varphi_i = f_i - \log a_i`, :math:`\psi_j = g_j - \log b_j` are the
   potentials (log-scalings without the weights) and :math:`\underline{c}_{IJ}` bounds the cost between the
   two clusters from below (triangle inequality on the centres and radii). Every plan entry of a dropped
   block is at most :math:`a_i b_j e^{u_{IJ}}`. The mask is recomputed from the current potentials at each
   epsilon stage (compiled: ``block_mask``).
4. **Certificate.** At the target reg the solver iterates until the column marginal error of the truncated
   problem is below ``tol`` (the rows are exact after each row update), then bounds what the dropped blocks
   would add with the final potentials: row i of the full (untruncated) kernel has mass in
   :math:`[a_i, a_i (1 + \delta_I)]` with :math:`\delta_I = \sum_{J\ \mathrm{dropped}} B_J e^{u_{IJ}}`, and
   likewise the columns. When the bound (L2 over the points, as the marginal error) is above ``tol``, the
   dropped blocks that the final potentials select are added and the iterations go on. So on return

   .. math::  \| P^{\mathrm{full}} 1 - a \|_2 \le \texttt{truncation\_bound}, \qquad
              \| (P^{\mathrm{full}})^T 1 - b \|_2 \le \texttt{err} + \texttt{truncation\_bound}

   for the plan :math:`P^{\mathrm{full}}_{ij} = \exp(f_i + g_j - c_{ij}/\varepsilon)` of the returned
   potentials on *all* pairs: the same guarantee as the dense solver's stopping rule, up to the stated bound.

The costs are computed inside the passes (never an n x m array); memory is O((n + m) d) plus the block mask.
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import _backend, _status

__all__ = ["multiscale_sinkhorn"]

_DIRECT_CLUSTERS = 1500  # above, the cluster problem is solved by multiscale Sinkhorn too (one more level)


class _Clusters:
    """One cloud cut into grid cells: the points sorted by cell (``order``: sorted position -> original index),
    cluster offsets, centres, radii and log masses."""

    def __init__(self, X, w, lo, cell, dtype):
        n, d = X.shape
        X64 = np.asarray(X, dtype=np.float64)
        idx = np.floor((X64 - lo) / cell).astype(np.int64)
        np.maximum(idx, 0, out=idx)
        dims = idx.max(axis=0) + 1 if n else np.ones(d, np.int64)
        key = np.ravel_multi_index(tuple(idx.T), tuple(int(v) for v in dims)) if d else np.zeros(n, np.int64)
        self.order = np.argsort(key, kind="stable")
        ks = key[self.order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        self.off = np.r_[starts, n].astype(np.int64)
        self.k = len(starts)
        Xs = X64[self.order]
        ws = np.asarray(w, dtype=np.float64)[self.order]
        self.w = ws
        mass = np.add.reduceat(ws, starts)
        count = np.diff(self.off).astype(np.float64)
        # centre: the weighted mean (the plain mean for a cluster without mass)
        wsum = np.add.reduceat(ws[:, None] * Xs, starts, axis=0)
        plain = np.add.reduceat(Xs, starts, axis=0) / count[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.centers = np.where(mass[:, None] > 0, wsum / np.where(mass > 0, mass, 1.0)[:, None], plain)
        rep = np.repeat(np.arange(self.k), np.diff(self.off))
        dist = np.sqrt(((Xs - self.centers[rep]) ** 2).sum(axis=1))
        self.radii = np.maximum.reduceat(dist, starts)
        with np.errstate(divide="ignore"):
            self.logmass = np.log(mass)
            self.logw = np.log(ws)
        self.mass = mass
        self.rep = rep  # cluster of each sorted point
        self.pts = np.ascontiguousarray(Xs, dtype=dtype)
        self.ptsT = np.ascontiguousarray(Xs.T, dtype=dtype)
        self.w2 = np.add.reduceat(ws * ws, starts)  # sum of squared weights per cluster (L2 bounds)

    def cluster_max(self, phi):
        """max over each cluster's points with weight > 0 (-inf for a cluster without mass)."""
        v = np.where(self.w > 0, phi, -np.inf)
        return np.maximum.reduceat(v, self.off[:-1])


class _OmegaGuard:
    """omega="auto" of the log-domain drivers (``OmegaGuard`` in csrc/common/sinkhorn_types.h), checked at every
    iteration: plain steps until the error is below ``start`` and falling, then omega = 2 / (1 + sqrt(1 - r))
    from the measured rate r of the plain steps (at most ``omega_max``); plain steps for good if the error grows
    10x above its best. Two changes here: the rate is measured after ``plain_steps`` plain steps (the first steps
    after the coarse-to-fine jump fall fast, local corrections, and would give an omega near 1), and omega is
    re-estimated every ``window`` steps: an over-relaxed iteration below the optimal omega converges at a rate
    rho with (rho + omega - 1)^2 = rho omega^2 r (SOR theory, Young 1971), which gives the plain rate r back;
    omega only grows."""

    def __init__(self, start=1e-2, omega_max=1.95, plain_steps=10, window=20):
        self.start, self.omega_max, self.plain_steps, self.window = start, omega_max, plain_steps, window
        self.omega, self.best, self.prev, self.on, self.off, self.seen = 1.0, np.inf, 0.0, False, False, 0
        self.mark = None  # (step, error) at the start of the current window

    def _omega_for(self, r):
        return min(self.omega_max, 2.0 / (1.0 + math.sqrt(max(0.0, 1.0 - r))))

    def update(self, err):
        if self.off:
            return 1.0
        if self.on and not err <= 10.0 * self.best:
            self.off = True
            return 1.0
        self.best = min(self.best, err)
        self.seen += 1
        if not self.on:
            r = err / self.prev if self.prev > 0 else 1.0
            self.prev = err
            if err < self.start and r < 1.0 and self.seen > self.plain_steps:
                self.omega = self._omega_for(r)
                self.on = True
                self.mark = (self.seen, err)
        elif self.seen - self.mark[0] >= self.window:
            rho = (err / self.mark[1]) ** (1.0 / (self.seen - self.mark[0])) if self.mark[1] > 0 else 1.0
            w = self.omega
            if 0.0 < rho < 1.0 and rho > 1.05 * (w - 1.0):
                r = min(1.0, (rho + w - 1.0) ** 2 / (rho * w * w))
                self.omega = max(w, self._omega_for(r))
            self.mark = (self.seen, err)
        return self.omega if self.on else 1.0


def _relax(old, new, omega):
    """(1 - omega) old + omega new; -inf (an empty row or column) stays -inf."""
    if omega == 1.0:
        return new
    with np.errstate(invalid="ignore"):
        out = (1.0 - omega) * old + omega * new
    return np.where(np.isneginf(new) | np.isneginf(old), new, out)


def _transpose(indptr, indices, ky):
    """The CSR mask by column clusters (same kept blocks)."""
    kx = len(indptr) - 1
    rows = np.repeat(np.arange(kx, dtype=np.int64), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    t_indices = np.ascontiguousarray(rows[order])
    t_indptr = np.zeros(ky + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=ky), out=t_indptr[1:])
    return t_indptr, t_indices


def _union(m1, m2, ky):
    """Union of two CSR masks over the same clusters."""
    kx = len(m1[0]) - 1
    r1 = np.repeat(np.arange(kx, dtype=np.int64), np.diff(m1[0]))
    r2 = np.repeat(np.arange(kx, dtype=np.int64), np.diff(m2[0]))
    keys = np.unique(np.r_[r1 * ky + m1[1], r2 * ky + m2[1]])
    rows, cols = keys // ky, keys % ky
    indptr = np.zeros(kx + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=kx), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols, dtype=np.int64)


def default_cell(X, Y, reg, metric, max_clusters=8192, min_points=8):
    """Grid cell side: a cell diagonal of half a kernel width (sqrt(reg) for "sqeuclidean", reg for "euclidean"):
    the cluster problem then approximates the fine one down to reg, and the blocks pad the truncation radius by
    little (at n = 10^5, blur 0.05: 0.156 of the pairs kept instead of 0.194 with a whole kernel width, 5.7 s
    instead of 9.9 s at tol 1e-4); but at least ``min_points`` points per cell and at most ``max_clusters`` cells
    when the points fill their bounding box. Returns (side, lower corner)."""
    lo = np.minimum(X.min(0), Y.min(0))
    ext = np.maximum(np.maximum(X.max(0), Y.max(0)) - lo, 0.0)
    d = X.shape[1]
    width = math.sqrt(reg) if metric == "sqeuclidean" else reg
    side = 0.5 * width / math.sqrt(d)
    vol = float(np.prod(np.maximum(ext, 1e-300)))
    if vol > 0:
        k_points = max(1.0, max(len(X), len(Y)) / min_points)
        side = max(side, (vol / min(k_points, max_clusters)) ** (1.0 / d))
    return float(max(side, float(ext.max()) * 1e-6, 1e-300)), lo


def multiscale_sinkhorn(X, Y, a, b, reg, metric="sqeuclidean", tol=1e-6, max_iter=100000, epsilon0=None,
                        epsilon_factor=0.25, symmetric=False, cell=None, trunc=None, want_value=True,
                        want_grad=False, backend="auto", verbose=False):
    r"""Entropic OT between point clouds by multiscale Sinkhorn (module docstring: the method and its bound).

    Solves :math:`\min_P \langle P, C\rangle + \varepsilon \mathrm{KL}(P | a \otimes b)` with
    :math:`C_{ij} = \|x_i - y_j\|^2` (or :math:`\|x_i - y_j\|`), ``reg`` = :math:`\varepsilon`, as
    ``sinkhorn2(a, b, PointCloud(X, Y), reg, method="sinkhorn_log")`` does, without the n x m work per
    iteration: only the blocks of clusters whose plan can matter are visited.

    Parameters
    ----------
    X : (n, d) ndarray
    Y : (m, d) ndarray (ignored when ``symmetric``)
    a, b : (n,), (m,) ndarray of weights (same total mass)
    reg : float
        Entropic regularization :math:`\varepsilon` (> 0), in the units of the cost.
    metric : {"sqeuclidean", "euclidean"}
    tol : float
        Stop when the L2 column marginal error of the truncated problem is below ``tol`` and the truncation
        bound is below ``tol`` too.
    max_iter : int
        Iterations at the target reg (after the annealing), at most.
    epsilon0 : float, optional
        First reg of the annealing (default: the squared diameter of the clouds' bounding box, its diameter
        for "euclidean").
    epsilon_factor : float in (0, 1)
        Ratio of two annealing stages (one iteration each, as GeomLoss).
    symmetric : bool
        Solve the symmetric problem (X, a) against itself by the averaged fixed point f <- (f + T(f)) / 2
        (the debiasing terms of a Sinkhorn divergence); the error is then the L1 marginal error.
    cell : float, optional
        Side of the grid cells (default: :func:`default_cell`).
    trunc : float, optional
        Truncation threshold (blocks with :math:`u_{IJ} \le -`trunc are dropped); default
        max(5, log(1 / tol) - 4). It sets the speed, not the guarantee: the certificate adds blocks until the bound
        is below ``tol``.
    want_value : bool
        Compute <P, C> of the truncated plan (one more pass).
    want_grad : bool
        Also return, per point, the plan's row and column masses and the means of x_i - y_j over each row and of
        y_j - x_i over each column under the plan (over the distance for "euclidean"): the gradient of <P, C> in
        the points, for a fixed P, is 2 row_mass * mean_dx ("sqeuclidean") or row_mass * mean_dx ("euclidean").
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    dict with ``f``, ``g`` (log-scalings in the input order; :math:`P_{ij} = \exp(f_i + g_j - C_{ij}/\varepsilon)`),
    ``value_linear`` (<P, C>, or None), ``row_mass``, ``col_mass``, ``mean_dx``, ``mean_dy`` (``want_grad``, else
    None), ``niter`` (iterations at the target reg), ``n_stages`` (annealing
    stages), ``err``, ``truncation_bound``, ``status`` (``otkit._status`` code), ``kept_fraction`` (of the n m
    pairs visited per half-step at the end), ``n_clusters`` (kx, ky), ``time`` (s per phase).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> from otkit.multiscale import multiscale_sinkhorn
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((2000, 2)), rng.random((2000, 2))
    >>> a = b = np.full(2000, 1 / 2000)
    >>> r = multiscale_sinkhorn(X, Y, a, b, reg=1e-3, tol=1e-9)
    >>> ref = otkit.sinkhorn2(a, b, otkit.geometry.PointCloud(X, Y), 1e-3, method="sinkhorn_log", stopThr=1e-12,
    ...                       numItermax=100000)
    >>> bool(abs(r["value_linear"] - ref) < 1e-8 * ref), r["status"] == 0
    (True, True)
    """
    if metric not in ("sqeuclidean", "euclidean"):
        raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean', got {metric!r}")
    from .empirical import _check_clouds
    from .utils import as_float_array, check_max_iter, check_reg, check_threshold
    reg, tol = check_reg(reg), check_threshold(tol, "tol")
    max_iter = check_max_iter(max_iter, "max_iter", minimum=0)
    if symmetric:
        Y, b = X, a
    X, Y = _check_clouds(as_float_array(X, "X"), as_float_array(Y, "Y"), names=("X", "Y"))
    if X.shape[1] > 3:
        raise ValueError(f"multiscale Sinkhorn clusters the points on a grid: dimension <= 3, got {X.shape[1]}")
    a, b = (np.asarray(w, dtype=np.float64) for w in (a, b))
    for name, w, P in (("a", a, X), ("b", b, Y)):
        if w.shape != (len(P),):
            raise ValueError(f"{name} must have one weight per point ({len(P)}), got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"{name} must hold finite weights >= 0 with a positive sum")
    if abs(a.sum() - b.sum()) > 1e-9 * max(a.sum(), b.sum()):
        raise ValueError(f"a and b must have the same total mass (sum(a) = {a.sum():g}, sum(b) = {b.sum():g})")
    be, impl = _backend.kernels(backend, "multiscale")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    lse_fn = getattr(impl, "block_lse_" + ("f32" if dtype == np.float32 else "f64"))
    t_start = time.perf_counter()
    times = {}
    if cell is None:
        cell, lo = default_cell(X, Y, reg, metric)
    else:
        lo = np.minimum(X.min(0), Y.min(0))
    cx = _Clusters(X, a, lo, cell, dtype)
    cy = cx if symmetric else _Clusters(Y, b, lo, cell, dtype)
    if trunc is None:  # (the certificate at the end checks it; the bound has come out far below tol with this)
        trunc = max(5.0, math.log(1.0 / tol) - 4.0)
    ext = np.maximum(X.max(0), Y.max(0)) - lo
    diam = float(np.sqrt((ext.astype(np.float64) ** 2).sum()))
    cell_diam = cell * math.sqrt(X.shape[1])
    to_cost = (lambda r: r * r) if metric == "sqeuclidean" else (lambda r: r)
    if epsilon0 is None:
        epsilon0 = max(to_cost(diam), reg)
    reg_jump = max(reg, to_cost(cell_diam))
    # the annealing stages: epsilon0, epsilon0 * factor, ... above reg; the coarse ones above reg_jump
    stages = []
    r = float(epsilon0)
    while r > reg and len(stages) < 10000:
        stages.append(r)
        r *= epsilon_factor
    coarse = [s for s in stages if s > reg_jump]
    fine = [s for s in stages if s <= reg_jump]
    times["clusters"] = time.perf_counter() - t_start

    # 2. coarse: the cluster problem, annealed down to r_c = max(reg, reg_jump) and solved there to tol (its
    # size is the number of clusters: cheap), over-relaxed (omega="auto")
    t0 = time.perf_counter()
    F_c = np.zeros(cx.k)
    G_c = np.zeros(cy.k)
    r_c = max(reg, reg_jump)
    sk = _backend.kernels(be, "sinkhorn")[1]
    opts = sk.SinkhornOptions(max_iter=int(max_iter), stop_thr=float(tol), check_every=1,
                              anneal_start=float(coarse[0] if coarse else 0.0), anneal_factor=float(epsilon_factor),
                              anneal_inner=1, omega_auto=not symmetric)
    A_c, B_c = cx.mass, cy.mass
    keep_a, keep_b = A_c > 0, B_c > 0
    Xc_pts, Yc_pts = np.ascontiguousarray(cx.centers[keep_a]), np.ascontiguousarray(cy.centers[keep_b])
    if max(len(Xc_pts), len(Yc_pts)) > _DIRECT_CLUSTERS:
        # many clusters: the cluster problem is itself solved by multiscale Sinkhorn, on cells 3x wider
        rc = multiscale_sinkhorn(Xc_pts, Yc_pts, A_c[keep_a], B_c[keep_b], r_c, metric=metric, tol=tol,
                                 max_iter=max_iter, epsilon0=epsilon0, epsilon_factor=epsilon_factor,
                                 symmetric=symmetric, cell=3.0 * cell, want_value=False, backend=be)
        F_c[keep_a], G_c[keep_b] = rc["f"], rc["g"]
        coarse_iter = rc["niter"]
    elif symmetric:
        fc = np.zeros(len(Xc_pts))
        rc = sk.sinkhorn_symmetric_cloud_f64(Xc_pts, np.ascontiguousarray(A_c[keep_a]), float(r_c), fc, metric=metric,
                                             options=opts)
        F_c[keep_a] = fc
        coarse_iter = int(rc["niter"][0])
    else:
        Xc = np.zeros((len(Xc_pts), 1))
        Yc = np.zeros((len(Yc_pts), 1))
        rc = sk.sinkhorn_cloud_f64(Xc_pts, Yc_pts, np.ascontiguousarray(A_c[keep_a]),
                                   np.ascontiguousarray(B_c[keep_b][:, None]), float(r_c), Xc, Yc, metric=metric,
                                   options=opts, want_value=False)
        F_c[keep_a], G_c[keep_b] = Xc[:, 0], Yc[:, 0]
        coarse_iter = int(rc["niter"][0])
    if symmetric:
        G_c = F_c
    F_c[~keep_a] = -np.inf
    G_c[~keep_b] = -np.inf
    times["coarse"] = time.perf_counter() - t0

    # 3. fine: phi = f - log a per point, spread from the clusters (phi_i = F_I - log A_I), rescaled to each reg
    with np.errstate(invalid="ignore"):
        phi = (F_c - cx.logmass)[cx.rep]
        psi = (G_c - cy.logmass)[cy.rep]
    phi[cx.w == 0] = 0.0
    psi[cy.w == 0] = 0.0
    r_prev = r_c

    trunc_now = [float(trunc)]  # raised when the certificate fails

    def mask_for(r, ref=None, bounds=False):
        Phi = cx.cluster_max(phi)
        Psi = Phi if symmetric else cy.cluster_max(psi)
        out = impl.block_mask(cx.centers, cx.radii, Phi, cx.logmass, cy.centers, cy.radii, Psi, cy.logmass,
                              float(r), float(trunc_now[0]), metric=metric,
                              ref_indptr=None if ref is None else ref[0], ref_indices=None if ref is None else ref[1],
                              bounds=bounds)
        return (out[0], out[1]), out[2], out[3]

    lse_x = np.empty(cx.pts.shape[0], dtype=dtype)
    lse_y = np.empty(cy.pts.shape[0], dtype=dtype)

    # LSE over the kept blocks, per point of x (row_lse) or of y (col_lse), in float64 (no copy for float64 input;
    # the buffer is overwritten by the next call); cbar, gbar: the plan's means of the cost and of x - y per point
    def row_lse(mask, r, pot_other, cbar=None, gbar=None):
        lse_fn(cx.pts, cy.ptsT, cx.off, cy.off, mask[0], mask[1], float(-1.0 / r),
               (pot_other + cy.logw).astype(dtype, copy=False), lse_x, metric=metric, cbar=cbar, gbar=gbar)
        return lse_x.astype(np.float64, copy=False)

    def col_lse(maskT, r, pot_other, gbar=None):
        lse_fn(cy.pts, cx.ptsT, cy.off, cx.off, maskT[0], maskT[1], float(-1.0 / r),
               (pot_other + cx.logw).astype(dtype, copy=False), lse_y, metric=metric, gbar=gbar)
        return lse_y.astype(np.float64, copy=False)

    def half_steps(mask, maskT, r):
        """One Sinkhorn iteration (psi from phi, then phi from psi) or one averaged symmetric step."""
        nonlocal phi, psi
        if symmetric:
            t = -row_lse(mask, r, phi)
            phi = 0.5 * (phi + t)
            psi = phi
        else:
            psi = -col_lse(maskT, r, phi)
            phi = -row_lse(mask, r, psi)

    t0 = time.perf_counter()
    n_stages = len(coarse)
    mask = None
    for r in fine + [reg]:
        phi *= r_prev / r
        if not symmetric:
            psi *= r_prev / r
        else:
            psi = phi
        r_prev = r
        mask, _, _ = mask_for(r)
        maskT = mask if symmetric else _transpose(mask[0], mask[1], cy.k)
        if r != reg:
            half_steps(mask, maskT, r)
            n_stages += 1
    times["annealing"] = time.perf_counter() - t0

    # 4. the target reg: iterate to tol (over-relaxed, omega="auto", safeguarded), then certify the truncation
    t0 = time.perf_counter()
    status, err, bound, it = _status.MAX_ITER, np.inf, np.inf, 0
    nx, ny = cx.pts.shape[0], cy.pts.shape[0]
    guard = _OmegaGuard()
    exact_rows = True  # phi = -row_lse(psi) exactly (the last row update was plain): the rows are exact
    while it < max_iter:
        if symmetric:
            t = -row_lse(mask, reg, phi)
            with np.errstate(invalid="ignore"):
                err = float(np.sum(np.where(cx.w > 0, cx.w * np.abs(np.expm1(phi - t)), 0.0)))
        else:
            lse = col_lse(maskT, reg, phi)
            with np.errstate(invalid="ignore", over="ignore"):
                err = float(np.sqrt(np.sum(np.where(cy.w > 0, cy.w * np.expm1(psi + lse), 0.0) ** 2)))
        if not np.isfinite(err):
            status = _status.NUMERICAL_ERROR
            break
        if verbose:
            print(f"multiscale: iteration {it}, marginal error {err:.3e}")
        omega = guard.update(err)
        if err < tol:
            if exact_rows:
                # the bound of the dropped blocks with the final potentials
                _, dr, dc = mask_for(reg, ref=mask, bounds=True)
                if symmetric:
                    bound = max(float(np.sum(cx.mass * dr)), float(np.sum(cy.mass * dc)))
                else:
                    bound = max(float(np.sqrt(np.sum(cx.w2 * dr * dr))), float(np.sqrt(np.sum(cy.w2 * dc * dc))))
                if bound <= tol:
                    status = _status.OK
                    break
                # blocks that matter were dropped: a wider mask (a higher threshold) from the final potentials, so
                # that the kept set grows at each failure (all blocks in the end, where the bound is 0)
                trunc_now[0] += 3.0
                new, _, _ = mask_for(reg)
                mask = _union(mask, new, cy.k)
                maskT = mask if symmetric else _transpose(mask[0], mask[1], cy.k)
            omega = 1.0  # a plain step, so that the rows are exact at the next test
        if symmetric:
            phi = 0.5 * (phi + t)
            psi = phi
        else:
            psi = _relax(psi, -lse, omega)
            phi = _relax(phi, -row_lse(mask, reg, psi), omega)
            exact_rows = omega == 1.0
        it += 1
    times["target"] = time.perf_counter() - t0
    value = None
    mean_dx = mean_dy = row_mass = col_mass = None
    if (want_value or want_grad) and status != _status.NUMERICAL_ERROR:
        cbar = np.empty(nx, dtype=dtype)
        gx = np.empty((nx, cx.pts.shape[1]), dtype=dtype) if want_grad else None
        lse = row_lse(mask, reg, psi, cbar=cbar, gbar=gx)
        with np.errstate(invalid="ignore", over="ignore"):
            rm = np.where(cx.w > 0, cx.w * np.exp(phi + lse), 0.0)
        value = float(np.sum(rm * cbar))
        if want_grad:
            row_mass, mean_dx = np.empty(nx), np.empty((nx, gx.shape[1]))
            row_mass[cx.order], mean_dx[cx.order] = rm, gx
            if symmetric:
                col_mass, mean_dy = row_mass, mean_dx
            else:
                gy = np.empty((ny, gx.shape[1]), dtype=dtype)
                lse = col_lse(maskT, reg, phi, gbar=gy)
                with np.errstate(invalid="ignore", over="ignore"):
                    cm = np.where(cy.w > 0, cy.w * np.exp(psi + lse), 0.0)
                col_mass, mean_dy = np.empty(ny), np.empty((ny, gx.shape[1]))
                col_mass[cy.order], mean_dy[cy.order] = cm, gy
        if not want_value:
            value = None
    kept = float(np.sum(np.diff(cy.off)[mask[1]] * np.repeat(np.diff(cx.off), np.diff(mask[0])))) / (nx * ny)
    f = np.empty(nx)
    f[cx.order] = phi + cx.logw
    if symmetric:
        g = f
    else:
        g = np.empty(ny)
        g[cy.order] = psi + cy.logw
    times["total"] = time.perf_counter() - t_start
    return dict(f=f, g=g, value_linear=value, row_mass=row_mass, col_mass=col_mass, mean_dx=mean_dx, mean_dy=mean_dy,
                niter=it, coarse_niter=coarse_iter, n_stages=n_stages, err=err, truncation_bound=bound,
                status=status, kept_fraction=kept, n_clusters=(cx.k, cy.k), time=times, cell=cell, trunc=trunc_now[0])
