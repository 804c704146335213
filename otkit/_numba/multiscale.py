"""Numba fallback of the block-sparse passes of multiscale Sinkhorn (csrc/cpu/multiscale_cpu.cpp): same names,
arguments and results as ``otkit._ext.block_lse_f64/_f32`` and ``block_mask`` (the driver is
otkit/multiscale.py)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _interrupt


def _check_offsets(off, rows, name):
    if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != rows or np.any(np.diff(off) < 0):
        raise ValueError(f"{name}: cluster offsets must start at 0 and end at the number of points")


def _check_mask(indptr, indices, kx, ky):
    if len(indptr) != kx + 1:
        raise ValueError("indptr must have one entry per row cluster, plus one")
    if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must run from 0 to len(indices)")
    if len(indices) and (indices.min() < 0 or indices.max() >= ky):
        raise ValueError("indices must be column clusters in range, increasing within each row cluster")
    steps = np.diff(indices)
    first = np.zeros(len(indices), dtype=bool)
    first[indptr[:-1][np.diff(indptr) > 0]] = True
    if np.any((steps <= 0) & ~first[1:]):
        raise ValueError("indices must be column clusters in range, increasing within each row cluster")


def _check_index(x, name):
    if not (isinstance(x, np.ndarray) and x.dtype == np.int64 and x.ndim == 1 and x.flags.c_contiguous):
        raise TypeError(f"{name}: expected a C-contiguous 1-D int64 array")


def _metric(metric):
    if metric not in ("sqeuclidean", "euclidean"):
        raise ValueError(f"metric must be 'sqeuclidean' or 'euclidean', got '{metric}'")
    return metric == "euclidean"


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _block_lse(x, yT, xoff, yoff, indptr, indices, scale, g, lse, cbar, want_cbar, gbar, want_gbar, euclid, I0, I1):
    d, m = yT.shape
    for I in prange(I0, I1):
        L = 0
        for k in range(indptr[I], indptr[I + 1]):
            J = indices[k]
            L += yoff[J + 1] - yoff[J]
        C = np.empty(L, dtype=x.dtype)
        Z = np.empty(L, dtype=x.dtype)
        cols = np.empty(L, dtype=np.int64)
        p = 0
        for k in range(indptr[I], indptr[I + 1]):
            J = indices[k]
            for j in range(yoff[J], yoff[J + 1]):
                cols[p] = j
                p += 1
        for i in range(xoff[I], xoff[I + 1]):
            mx = -np.inf
            for q in range(L):
                j = cols[q]
                s = 0.0
                for c in range(d):  # coordinates in order, as cloud_cost_row
                    t = x[i, c] - yT[c, j]
                    s += t * t
                if euclid:
                    s = math.sqrt(s)
                C[q] = s
                Z[q] = s * scale + g[j]
                if Z[q] > mx:
                    mx = Z[q]
            if mx == -np.inf:
                lse[i] = mx
                if want_cbar:
                    cbar[i] = 0.0
                if want_gbar:
                    gbar[i, :] = 0.0
                continue
            s = 0.0
            sc = 0.0
            for q in range(L):
                e = math.exp(Z[q] - mx)
                Z[q] = e
                s += e
                sc += e * C[q]
            if want_cbar:
                cbar[i] = sc / s
            if want_gbar:  # mean of x_i - y_j (over |x_i - y_j| when euclidean) under the row's weights
                for c in range(d):
                    acc = 0.0
                    for q in range(L):
                        t = Z[q] * (x[i, c] - yT[c, cols[q]])
                        if euclid:
                            t = t / C[q] if C[q] > 0 else 0.0
                        acc += t
                    gbar[i, c] = acc / s
            lse[i] = mx + math.log(s)


def _kernel_lse(x, yT, xoff, yoff, indptr, indices, scale, g, lse, cbar, want_cbar, gbar, want_gbar, euclid, work,
                stop):
    # chunks of clusters of about 1e7 entries, the stop flag read between them
    kx = len(xoff) - 1
    I0 = 0
    while I0 < kx and stop[0] == 0:
        I1 = int(np.searchsorted(work, work[I0] + 1e7, side="right"))
        I1 = min(kx, max(I0 + 1, I1 - 1))
        _block_lse(x, yT, xoff, yoff, indptr, indices, scale, g, lse, cbar, want_cbar, gbar, want_gbar, euclid, I0, I1)
        I0 = I1


def _block_lse_entry(dtype, x, yT, xoff, yoff, indptr, indices, scale, g, lse, metric="sqeuclidean", cbar=None,
                     gbar=None, num_threads=0):
    for name, arr, nd in (("x", x, 2), ("yT", yT, 2), ("g", g, 1), ("lse", lse, 1)):
        if not (isinstance(arr, np.ndarray) and arr.dtype == dtype and arr.flags.c_contiguous):
            raise TypeError(f"{name}: expected a C-contiguous {np.dtype(dtype).name} array")
        if arr.ndim != nd:
            raise ValueError(f"{name}: expected {nd} dimensions, got {arr.ndim}")
    for name, arr in (("xoff", xoff), ("yoff", yoff), ("indptr", indptr), ("indices", indices)):
        _check_index(arr, name)
    n, d = x.shape
    m = yT.shape[1]
    if yT.shape[0] != d:
        raise ValueError("block_lse: yT must be (d, m) with x (n, d)")
    if g.shape[0] != m or lse.shape[0] != n:
        raise ValueError("block_lse: g must have m entries, lse n")
    _check_offsets(xoff, n, "xoff")
    _check_offsets(yoff, m, "yoff")
    kx, ky = len(xoff) - 1, len(yoff) - 1
    _check_mask(indptr, indices, kx, ky)
    euclid = _metric(metric)
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0: otkit's default), got {num_threads}")
    want = cbar is not None
    if want and (not isinstance(cbar, np.ndarray) or cbar.dtype != dtype or cbar.shape != (n,)):
        raise ValueError("block_lse: cbar must have n entries")
    cb = cbar if want else np.empty(1, dtype=dtype)
    want_g = gbar is not None
    if want_g and (not isinstance(gbar, np.ndarray) or gbar.dtype != dtype or gbar.shape != (n, d)):
        raise ValueError("block_lse: gbar must be (n, d)")
    gb = gbar if want_g else np.empty((1, 1), dtype=dtype)
    cum = np.r_[0, np.cumsum(np.diff(yoff)[indices])]
    per_cluster = (cum[indptr[1:]] - cum[indptr[:-1]]) * np.diff(xoff)  # entries of each row cluster
    work = np.r_[0.0, np.cumsum(per_cluster, dtype=np.float64)]
    _interrupt.run(_kernel_lse, x, yT, xoff, yoff, indptr, indices, dtype.type(scale), g, lse, cb, want, gb, want_g, euclid,
                   work, work=float(work[-1]))


def block_lse_f64(x, yT, xoff, yoff, indptr, indices, scale, g, lse, *, metric="sqeuclidean", cbar=None, gbar=None,
                  num_threads=0):
    """Row log-sum-exp over the kept blocks (csrc/cpu/multiscale_cpu.h, block_lse_cpu)."""
    _block_lse_entry(np.dtype(np.float64), x, yT, xoff, yoff, indptr, indices, scale, g, lse, metric, cbar, gbar, num_threads)


def block_lse_f32(x, yT, xoff, yoff, indptr, indices, scale, g, lse, *, metric="sqeuclidean", cbar=None, gbar=None,
                  num_threads=0):
    _block_lse_entry(np.dtype(np.float32), x, yT, xoff, yoff, indptr, indices, scale, g, lse, metric, cbar, gbar, num_threads)


@njit(cache=True, error_model="numpy", nogil=True)
def _cost_lb(cx, cy, rx, ry, I, J, euclid):
    s = 0.0
    for c in range(cx.shape[1]):
        t = cx[I, c] - cy[J, c]
        s += t * t
    gap = max(0.0, (math.sqrt(s) - rx[I] - ry[J]) * (1 - 1e-12))
    return gap if euclid else gap * gap


@njit(cache=True, error_model="numpy", nogil=True)
def _u(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, I, J):
    """u_IJ = phi_I + psi_J - cmin_IJ / reg; -inf when either cluster has no mass (never needed)."""
    if logA[I] == -np.inf or phi[I] == -np.inf or logB[J] == -np.inf or psi[J] == -np.inf:
        return -np.inf
    return phi[I] + psi[J] - _cost_lb(cx, cy, rx, ry, I, J, euclid) / reg


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _mask_rows(cx, rx, phi, logA, cy, ry, psi, logB, reg, trunc, euclid, keep, best):
    # the kept blocks and each row cluster's best column cluster (block_mask_cpu's pass)
    kx, ky = cx.shape[0], cy.shape[0]
    for I in prange(kx):
        best[I] = -1
        ub = -np.inf
        for J in range(ky):
            v = _u(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, I, J)
            if v == -np.inf:
                continue
            keep[I, J] = v > -trunc
            if v > ub or best[I] < 0:
                ub = v
                best[I] = J


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _best_rows(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, col_kept, best):
    # the best row cluster of each column cluster that no block keeps
    kx, ky = cx.shape[0], cy.shape[0]
    for J in prange(ky):
        best[J] = -1
        if col_kept[J]:
            continue
        ub = -np.inf
        for I in range(kx):
            v = _u(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, I, J)
            if v != -np.inf and (v > ub or best[J] < 0):
                ub = v
                best[J] = I


@njit(cache=True, parallel=True, error_model="numpy", nogil=True)
def _deltas(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, ref, drows, dcols):
    # the bounds of the blocks outside ref: sum_J B_J exp(u_IJ) per row cluster, sum_I A_I exp(u_IJ) per column
    kx, ky = cx.shape[0], cy.shape[0]
    for I in prange(kx):
        s = 0.0
        for J in range(ky):
            if not ref[I, J]:
                s += math.exp(_u(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, I, J) + logB[J])
        drows[I] = s
    for J in prange(ky):
        s = 0.0
        for I in range(kx):
            if not ref[I, J]:
                s += math.exp(_u(cx, rx, phi, logA, cy, ry, psi, logB, reg, euclid, I, J) + logA[I])
        dcols[J] = s


def _dense_mask(indptr, indices, kx, ky):
    M = np.zeros((kx, ky), dtype=np.bool_)
    M[np.repeat(np.arange(kx), np.diff(indptr)), indices] = True
    return M


def block_mask(cx, rx, phi, logA, cy, ry, psi, logB, reg, trunc, *, metric="sqeuclidean", ref_indptr=None,
               ref_indices=None, bounds=True, num_threads=0):
    """The truncation's block mask and the bounds of the dropped blocks (csrc/cpu/multiscale_cpu.h, block_mask_cpu).
    Here the mask is held as a dense kx x ky boolean array while it is built."""
    arrs = [np.ascontiguousarray(v, dtype=np.float64) for v in (cx, rx, phi, logA, cy, ry, psi, logB)]
    cx, rx, phi, logA, cy, ry, psi, logB = arrs
    kx, ky = cx.shape[0], cy.shape[0]
    if cy.shape[1] != cx.shape[1]:
        raise ValueError("block_mask: cx and cy must have the same dimension")
    if not (rx.shape[0] == kx and phi.shape[0] == kx and logA.shape[0] == kx):
        raise ValueError("block_mask: rx, phi, logA must have one entry per row cluster")
    if not (ry.shape[0] == ky and psi.shape[0] == ky and logB.shape[0] == ky):
        raise ValueError("block_mask: ry, psi, logB must have one entry per column cluster")
    if not (reg > 0 and math.isfinite(reg)):
        raise ValueError("block_mask: reg must be a finite number > 0")
    if not trunc > 0:
        raise ValueError("block_mask: trunc must be > 0")
    euclid = _metric(metric)
    keep = np.zeros((kx, ky), dtype=np.bool_)
    best = np.empty(kx, dtype=np.int64)
    _mask_rows(cx, rx, phi, logA, cy, ry, psi, logB, float(reg), float(trunc), euclid, keep, best)
    empty = ~keep.any(axis=1) & (best >= 0)
    keep[np.flatnonzero(empty), best[empty]] = True
    col_best = np.empty(ky, dtype=np.int64)
    _best_rows(cx, rx, phi, logA, cy, ry, psi, logB, float(reg), euclid, keep.any(axis=0), col_best)
    fix = np.flatnonzero(col_best >= 0)
    keep[col_best[fix], fix] = True
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(kx + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=kx), out=indptr[1:])
    indices = cols.astype(np.int64)
    if not bounds:
        return indptr, indices, np.empty(0), np.empty(0)
    if ref_indptr is not None:
        _check_index(ref_indptr, "ref_indptr")
        _check_index(ref_indices, "ref_indices")
        _check_mask(ref_indptr, ref_indices, kx, ky)
        ref = _dense_mask(ref_indptr, ref_indices, kx, ky)
    else:
        ref = keep
    drows, dcols = np.empty(kx), np.empty(ky)
    _deltas(cx, rx, phi, logA, cy, ry, psi, logB, float(reg), euclid, ref, drows, dcols)
    return indptr, indices, drows, dcols
