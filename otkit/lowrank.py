r"""Low-rank entropic OT between point clouds (POT's ``ot.lowrank`` and ``ot.factored_optimal_transport``).

Three ways to avoid the n x m plan and cost matrix, each returning its plan as a :class:`LowRankPlan`
(:math:`P = L\,\mathrm{diag}(s)\,R^T`, blocks computed on demand):

* **Nystroem Sinkhorn** (Altschuler, Bach, Rudi, Niles-Weed 2019): the Gaussian kernel
  :math:`K_{ij} = e^{-\|x_i - y_j\|^2 / reg}` approximated by :math:`K_1 K_2^T` on ``anchors`` points (half drawn
  from each cloud): :math:`K_1 = K_{xz} K_{zz}^+`, :math:`K_2 = K_{yz}`; Sinkhorn's iterates then cost
  O((n + m) r) each (:func:`kernel_nystroem`, :func:`sinkhorn_low_rank_kernel`,
  :func:`empirical_sinkhorn_nystroem`, :func:`empirical_sinkhorn_nystroem2`).
* **Low-rank Sinkhorn** (Scetbon, Cuturi, Peyre 2021): couplings :math:`P = Q\,\mathrm{diag}(1/g)\,R^T` of
  non-negative rank ``rank``, by mirror descent on (Q, R, g), each step a KL projection onto
  :math:`Q 1 = a, R 1 = b, Q^T 1 = R^T 1 = g \geq \alpha` (Dykstra); the squared Euclidean cost is applied
  through its rank-(d + 2) factors (:func:`lowrank_sinkhorn`).
* **Factored OT** (Forrow et al. 2019): the plan through ``r`` anchor points X that minimize
  :math:`W(\mu_a, \mu_X) + W(\mu_X, \mu_b)` (squared Euclidean), by alternating the two OT problems and the
  barycentric update of X (:func:`factored_optimal_transport`).

NumPy and torch arrays (the computation runs on the inputs' library and device; torch gradients flow through
the iterations, as in POT). These are also ``otkit.solve_sample``'s methods "nystroem", "lowrank" and
"factored".
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _autograd
from .utils import as_float_array, check_max_iter, check_positive_int, check_reg, check_threshold

__all__ = ["LowRankPlan", "compute_lr_sqeuclidean_matrix", "kernel_nystroem", "sinkhorn_low_rank_kernel",
           "empirical_sinkhorn_nystroem", "empirical_sinkhorn_nystroem2", "lowrank_sinkhorn",
           "factored_optimal_transport"]


class _Ops:
    """The few array operations the solvers need, on NumPy or torch (same calls, same results)."""

    def __init__(self, *xs):
        self.torch = _autograd.torch_module(*xs)
        self.xp = self.torch if self.torch is not None else np

    def asarray(self, x, ref=None):
        if self.torch is None:  # the reference's dtype; without one float32 stays float32, the rest is float64
            arr = np.asarray(x)
            if ref is not None:
                return np.asarray(arr, dtype=ref.dtype)
            return arr if arr.dtype == np.float32 else np.asarray(arr, dtype=np.float64)
        ref = ref if ref is not None else x
        if isinstance(x, self.torch.Tensor):
            return x
        return self.torch.as_tensor(np.asarray(x), dtype=ref.dtype if isinstance(ref, self.torch.Tensor) else None,
                                    device=ref.device if isinstance(ref, self.torch.Tensor) else None)

    def full(self, n, value, ref):
        if self.torch is None:
            return np.full(n, value, dtype=ref.dtype)
        return self.torch.full((n,), value, dtype=ref.dtype, device=ref.device)

    def cat(self, xs, axis):
        return self.torch.cat(xs, dim=axis) if self.torch is not None else np.concatenate(xs, axis=axis)

    def floor(self, x, lo):
        return self.torch.clamp(x, min=lo) if self.torch is not None else np.maximum(x, lo)

    def scalar(self, x):
        """A Python float (no gradient) of a 0-d array."""
        return float(x.detach()) if self.torch is not None else float(x)

    def norm(self, x):
        return self.scalar(self.xp.sqrt((x * x).sum()))

    def finite(self, x):
        return bool(self.xp.isfinite(x).all())

    def rowmax(self, x):
        """(n, 1) maxima of the rows."""
        return x.max(1, keepdim=True)[0] if self.torch is not None else x.max(1, keepdims=True)

    def l1(self, x):
        return self.scalar(abs(x).sum())


def _weights(ops, w, n, ref, name):
    if w is None or (not hasattr(w, "shape") and len(w) == 0):
        return ops.full(n, 1.0 / n, ref)
    w = ops.asarray(w, ref)
    if tuple(w.shape) != (n,):
        raise ValueError(f"{name} has shape {tuple(w.shape)}, expected ({n},)")
    wh = w.detach().cpu().numpy() if ops.torch is not None else w
    if not (np.all(np.isfinite(wh)) and np.all(wh >= 0) and wh.sum() > 0):
        raise ValueError(f"{name} must be finite, >= 0 and of positive sum")
    return w


def _check_reg0(reg, name="reg"):
    """A regularization that may be 0: a finite real number >= 0."""
    if isinstance(reg, bool) or not isinstance(reg, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a finite number >= 0, got {type(reg).__name__}")
    if not (np.isfinite(float(reg)) and float(reg) >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {reg!r}")
    return float(reg)


def _clouds(ops, X_s, X_t, names=("X_s", "X_t")):
    if ops.torch is None:  # (TypeError naming the argument for None, strings, objects)
        X_s, X_t = (x if isinstance(x, np.ndarray) and x.dtype == np.float32 else as_float_array(x, name)
                    for x, name in zip((X_s, X_t), names))
    X_s, X_t = ops.asarray(X_s), ops.asarray(X_t)
    if ops.torch is None and X_s.dtype != X_t.dtype:  # float32 only when both are
        X_s, X_t = X_s.astype(np.float64), X_t.astype(np.float64)
    for X, name in zip((X_s, X_t), names):
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty 2-D array (points x dimensions), got shape "
                             f"{tuple(X.shape)}")
        if not ops.finite(X):
            raise ValueError(f"{name} has non-finite entries (NaN or inf)")
        if ops.scalar(abs(X).max()) > 1e150:
            raise ValueError(f"{name} has coordinates too large for squared distances in float64 (largest "
                             f"{ops.scalar(abs(X).max()):.3g}); rescale the points")
    if X_s.shape[1] != X_t.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same dimension, got {X_s.shape[1]} and "
                         f"{X_t.shape[1]}")
    return X_s, X_t


class LowRankPlan:
    r"""A plan :math:`P = L\,\mathrm{diag}(s)\,R^T` ((n, r), (r,), (m, r) factors; POT's low-rank
    ``lazy_plan``), never stored: ``P[i0:i1]``, ``P[:, j]``, ``P[rows, cols]`` compute only that block,
    ``np.asarray(P)`` all of it, ``P.sum(axis)`` and ``P.dot(Y)`` cost O((n + m) r).

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.lowrank import LowRankPlan
    >>> P = LowRankPlan(np.ones((3, 1)), np.ones((2, 1)), np.array([0.5]))
    >>> P.shape, float(P[0, 1]), P.sum(axis=0)
    ((3, 2), 0.5, array([1.5, 1.5]))
    """

    def __init__(self, left, right, scale=None):
        self.left, self.right, self.scale = left, right, scale
        self.shape = (left.shape[0], right.shape[0])

    def _left(self, rows):
        L = self.left[rows]
        return L if self.scale is None else L * self.scale[None, :]

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        squeeze = [isinstance(k, (numbers.Integral, np.integer)) for k in (rows, cols)]
        rows = [rows] if squeeze[0] else rows
        cols = [cols] if squeeze[1] else cols
        out = self._left(rows) @ self.right[cols].T
        if squeeze[0] and squeeze[1]:
            return out[0, 0]
        return out[0] if squeeze[0] else (out[:, 0] if squeeze[1] else out)

    def __array__(self, dtype=None, copy=None):
        out = self[:, :]
        out = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
        return out if dtype is None else out.astype(dtype)

    def dot(self, Y):
        """P @ Y."""
        return self._left(slice(None)) @ (self.right.T @ Y)

    def sum(self, axis=None):
        """Column marginal (axis 0), row marginal (axis 1) or total mass."""
        L = self._left(slice(None))
        if axis == 0:
            return self.right @ L.sum(0)
        if axis == 1:
            return L @ self.right.sum(0)
        return (L.sum(0) * self.right.sum(0)).sum()

    def __repr__(self):
        return f"LowRankPlan(shape={self.shape}, rank={self.left.shape[1]})"


def compute_lr_sqeuclidean_matrix(X_s, X_t, rescale_cost=False, nx=None):
    r"""Factors M1 (n, d + 2), M2 (m, d + 2) with :math:`M_1 M_2^T = (\|x_i - y_j\|^2)_{ij}` (POT's
    function): rows :math:`(\|x_i\|^2, 1, -2 x_i)` and :math:`(1, \|y_j\|^2, y_j)`; ``rescale_cost`` divides
    each by the square root of its largest entry.

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.lowrank import compute_lr_sqeuclidean_matrix
    >>> x, y = np.array([[0.0, 1.0]]), np.array([[2.0, 1.0], [0.0, 0.0]])
    >>> M1, M2 = compute_lr_sqeuclidean_matrix(x, y)
    >>> M1 @ M2.T
    array([[4., 1.]])
    """
    ops = _Ops(X_s, X_t)
    X_s, X_t = _clouds(ops, X_s, X_t)
    one_s, one_t = ops.full(X_s.shape[0], 1.0, X_s)[:, None], ops.full(X_t.shape[0], 1.0, X_t)[:, None]
    M1 = ops.cat([(X_s * X_s).sum(1)[:, None], one_s, -2 * X_s], 1)
    M2 = ops.cat([one_t, (X_t * X_t).sum(1)[:, None], X_t], 1)
    if rescale_cost:
        M1, M2 = M1 / ops.xp.sqrt(M1.max()), M2 / ops.xp.sqrt(M2.max())
    return M1, M2


def kernel_nystroem(X_s, X_t, anchors=50, sigma=1.0, random_state=None):
    r"""Nystroem factors of the Gaussian kernel :math:`K_{ij} = e^{-\|x_i - y_j\|^2 / (2 \sigma^2)}` (POT's
    function): ``min(n, anchors // 2)`` points of ``X_s`` and ``min(m, anchors // 2)`` of ``X_t`` drawn without
    replacement (``np.random.RandomState(random_state).permutation``, source first: POT's draw on NumPy for a
    seed) form the basis Z; returns :math:`K_1 = K_{xz} K_{zz}^+` (n, r) and :math:`K_2 = K_{yz}` (m, r), with
    :math:`K \approx K_1 K_2^T` (exact when Z holds all the points).

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.lowrank import kernel_nystroem
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((5, 2)), rng.random((4, 2))
    >>> K1, K2 = kernel_nystroem(x, y, anchors=18, sigma=0.5)  # every point an anchor: exact
    >>> K = np.exp(-((x[:, None] - y[None]) ** 2).sum(-1) / 0.5)
    >>> bool(np.allclose(K1 @ K2.T, K, atol=1e-8))
    True
    """
    anchors = check_positive_int(anchors, "anchors", minimum=2)
    sigma = check_reg(sigma, "sigma")
    ops = _Ops(X_s, X_t)
    X_s, X_t = _clouds(ops, X_s, X_t)
    n, m = X_s.shape[0], X_t.shape[0]
    rng = np.random.RandomState(random_state)
    idx_s = rng.permutation(n)[:min(n, int(anchors) // 2)]
    idx_t = rng.permutation(m)[:min(m, int(anchors) // 2)]
    Z = ops.cat([X_s[idx_s], X_t[idx_t]], 0)

    from .utils import dist

    def gauss(X):  # exp(-|x - z|^2 / (2 sigma^2)); the distances from the differences (the basis kernel is
        return ops.xp.exp(-dist(X, Z) / (2.0 * sigma ** 2))  # ill-conditioned: its pinv amplifies rounding)

    norm = ops.xp.linalg.pinv(gauss(Z), hermitian=True)
    return gauss(X_s) @ norm, gauss(X_t)


def sinkhorn_low_rank_kernel(K1, K2, a=None, b=None, numItermax=1000, stopThr=1e-9, verbose=False, log=False,
                             warn=True, warmstart=None):
    r"""Sinkhorn's iterates for a kernel given by factors, :math:`K = K_1 K_2^T` (POT's function and iterates):
    :math:`v \leftarrow b / (K_2 (K_1^T u))`, :math:`u \leftarrow a / (K_1 (K_2^T v))`, each O((n + m) r); every
    10 iterations the error :math:`\|v \odot K^T u - b\|_2` is checked against ``stopThr``. A non-finite or
    zero update is undone and stops the loop (a warning says so); not converging in ``numItermax`` warns.
    ``warmstart``: (log u, log v). Returns u, v (and a log with ``lazy_plan``, the :class:`LowRankPlan`
    :math:`\mathrm{diag}(u) K_1 K_2^T \mathrm{diag}(v)`, ``niter``, ``err``).

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.lowrank import sinkhorn_low_rank_kernel
    >>> K1 = np.array([[1.0, 0.5], [0.2, 1.0]]); K2 = np.array([[1.0, 0.1], [0.3, 1.0], [0.5, 0.5]])
    >>> u, v, lg = sinkhorn_low_rank_kernel(K1, K2, log=True)
    >>> bool(np.allclose(lg["lazy_plan"].sum(axis=0), 1 / 3))
    True
    """
    numItermax = check_max_iter(numItermax, "numItermax")
    stopThr = check_threshold(stopThr)
    ops = _Ops(K1, K2, a, b)
    K1, K2 = ops.asarray(K1), ops.asarray(K2)
    if ops.torch is None and K1.dtype != K2.dtype:
        K1, K2 = K1.astype(np.float64), K2.astype(np.float64)
    if K1.ndim != 2 or K2.ndim != 2 or K1.shape[1] != K2.shape[1]:
        raise ValueError(f"K1 (n, r) and K2 (m, r) must be 2-D with the same rank r, got shapes {tuple(K1.shape)} "
                         f"and {tuple(K2.shape)}")
    n, m = K1.shape[0], K2.shape[0]
    a = _weights(ops, a, n, K1, "a")
    b = _weights(ops, b, m, K1, "b")
    if warmstart is None:
        u, v = ops.full(n, 1.0 / n, K1), ops.full(m, 1.0 / m, K1)
    else:
        u, v = ops.xp.exp(ops.asarray(warmstart[0], K1)), ops.xp.exp(ops.asarray(warmstart[1], K1))
    errs, err, it = [], float("inf"), 0
    for it in range(numItermax):
        u_prev, v_prev = u, v
        Ktu = K2 @ (K1.T @ u)
        v = b / Ktu
        u = a / (K1 @ (K2.T @ v))
        if bool((Ktu == 0).any()) or not (ops.finite(u) and ops.finite(v)):
            warnings.warn(f"sinkhorn_low_rank_kernel: numerical errors at iteration {it}; the previous iterate is "
                          "returned", UserWarning, stacklevel=2)
            u, v = u_prev, v_prev
            break
        if it % 10 == 0:
            err = ops.norm(v * (K2 @ (K1.T @ u)) - b)
            errs.append(err)
            if verbose:
                print(f"{it:5d}|{err:8e}|")
            if err < stopThr:
                break
    else:
        if warn:
            warnings.warn(f"sinkhorn_low_rank_kernel did not converge in numItermax={numItermax} iterations (error "
                          f"{err:.3e}, stopThr {stopThr:.1e})", UserWarning, stacklevel=2)
    if not log:
        return u, v
    return u, v, {"err": errs, "niter": it, "u": u, "v": v,
                  "lazy_plan": LowRankPlan(u[:, None] * K1, v[:, None] * K2)}


def _nystroem(X_s, X_t, reg, anchors, a, b, numItermax, stopThr, verbose, warn, warmstart, random_state):
    reg = check_reg(reg, "reg")
    K1, K2 = kernel_nystroem(X_s, X_t, anchors=anchors, sigma=(reg / 2.0) ** 0.5, random_state=random_state)
    u, v, lg = sinkhorn_low_rank_kernel(K1, K2, a, b, numItermax=numItermax, stopThr=stopThr, verbose=verbose,
                                        log=True, warn=warn, warmstart=warmstart)
    lg["left_factor"], lg["right_factor"] = K1, K2
    return lg


def empirical_sinkhorn_nystroem(X_s, X_t, reg=1.0, anchors=50, a=None, b=None, numItermax=1000, stopThr=1e-9,
                                verbose=False, log=False, warn=True, warmstart=None, random_state=None):
    r"""Entropic OT plan between the clouds with the Nystroem kernel (POT's
    ``ot.bregman.empirical_sinkhorn_nystroem``): :func:`kernel_nystroem` with :math:`2\sigma^2 = reg` (the
    squared Euclidean cost), then :func:`sinkhorn_low_rank_kernel`. Returns the plan as a :class:`LowRankPlan`
    (and the log, with ``left_factor``, ``right_factor``). At small ``reg`` the approximated kernel can have
    negative entries, and so can the plan.

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.lowrank import empirical_sinkhorn_nystroem
    >>> x = np.arange(2.0)[:, None]; y = np.arange(4.0)[:, None]
    >>> P = empirical_sinkhorn_nystroem(x, y, reg=0.5, anchors=6, random_state=0)
    >>> bool(np.allclose(P.sum(axis=1), 0.5, atol=1e-6))
    True
    """
    lg = _nystroem(X_s, X_t, reg, anchors, a, b, numItermax, stopThr, verbose, warn, warmstart, random_state)
    return (lg["lazy_plan"], lg) if log else lg["lazy_plan"]


def empirical_sinkhorn_nystroem2(X_s, X_t, reg=1.0, anchors=50, a=None, b=None, numItermax=1000, stopThr=1e-9,
                                 verbose=False, log=False, warn=True, warmstart=None, random_state=None):
    r"""The loss :math:`\langle P, C \rangle` of :func:`empirical_sinkhorn_nystroem`'s plan, C the squared
    Euclidean cost, computed through the factors of both (O((n + m) (r + d)); POT's
    ``ot.bregman.empirical_sinkhorn_nystroem2``).

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.lowrank import empirical_sinkhorn_nystroem2
    >>> x = np.arange(2.0)[:, None]; y = np.arange(4.0)[:, None]
    >>> float(np.round(empirical_sinkhorn_nystroem2(x, y, 0.1, anchors=3, random_state=42), 6))
    2.5
    """
    lg = _nystroem(X_s, X_t, reg, anchors, a, b, numItermax, stopThr, verbose, warn, warmstart, random_state)
    M1, M2 = compute_lr_sqeuclidean_matrix(X_s, X_t)
    P = lg["lazy_plan"]
    loss = ((P.left.T @ M1) * (P.right.T @ M2)).sum()  # <L R^T, M1 M2^T> = trace((L^T M1) (M2^T R))
    loss = float(loss) if _autograd.torch_module(loss) is None else loss
    return (loss, lg) if log else loss


def _project_lowrank(K1, K2, k3, a, b, alpha, tol, max_iter, ops):
    r"""The KL projection of (K1, K2, k3) onto :math:`\{Q 1 = a, R 1 = b, Q^T 1 = R^T 1 = g, g \geq \alpha\}`
    (Scetbon et al. 2021, Algorithm 2), by Dykstra's alternating projections: Q = diag(u1) K1 diag(v1),
    R = diag(u2) K2 diag(v2); the rows (u1 = a / K1 v1, u2 = b / K2 v2), the shared column sums (the KL
    projection onto Q^T 1 = R^T 1 = g is the geometric mean g = (g Q^T 1 R^T 1)^(1/3)), and g >= alpha with its
    Dykstra correction c (the only non-affine set). Stops when the column sums are within ``tol`` (L1) of g, or
    when the error stalls (less than 10% lower than 50 iterations before: kernels with near-zero blocks).
    Returns Q, R, g and the error."""
    r = K1.shape[1]
    v1, v2 = ops.full(r, 1.0, K1), ops.full(r, 1.0, K1)
    g, c = k3, ops.full(r, 1.0, K1)
    err = err_mark = float("inf")
    for it in range(max_iter):
        u1 = a / (K1 @ v1)
        u2 = b / (K2 @ v2)
        q, s = v1 * (K1.T @ u1), v2 * (K2.T @ u2)  # column sums of Q and R
        err = ops.l1(q - g) + ops.l1(s - g)
        if err < tol:
            break
        if it % 50 == 49:  # stalled (near-zero kernel blocks): less than 10% progress in 50 iterations
            if err > 0.9 * err_mark:
                break
            err_mark = err
        t = g * c  # g >= alpha, with Dykstra's correction
        g = ops.floor(t, alpha)
        c = t / g
        g_new = (g * q * s) ** (1.0 / 3.0)
        v1, v2, g = v1 * g_new / q, v2 * g_new / s, g_new
    u1 = a / (K1 @ v1)
    u2 = b / (K2 @ v2)
    return u1[:, None] * K1 * v1[None, :], u2[:, None] * K2 * v2[None, :], g, err


def _init_lowrank(ops, X_s, X_t, a, b, r, init, reg_init, seed):
    """Starting Q (Pi(a, g)), R (Pi(b, g)), g = 1/r: "random", exp of standard normal entries
    (``np.random.RandomState(seed)``) scaled onto the marginals; "deterministic", the Gaussian affinities (width
    the mean squared distance) of each cloud to r of its points at evenly spaced indices; "kmeans", the
    affinities at ``reg_init`` to the k-means centres of X_s (Lloyd, 10 iterations from those points)."""
    n, m = X_s.shape[0], X_t.shape[0]
    g = ops.full(r, 1.0 / r, X_s)
    if init == "random":
        rng = np.random.RandomState(seed)
        Q0, R0 = (ops.asarray(np.exp(rng.standard_normal((k, r))), X_s) for k in (n, m))
    else:
        Z = X_s[np.linspace(0, n - 1, r).round().astype(int)]
        if init == "kmeans":
            for _ in range(10):
                d2 = (X_s * X_s).sum(1)[:, None] + (Z * Z).sum(1)[None, :] - 2 * X_s @ Z.T
                lab = np.asarray(d2.argmin(1).cpu() if ops.torch is not None else d2.argmin(1))
                Z = ops.cat([X_s[lab == k].mean(0)[None] if np.any(lab == k) else Z[k:k + 1] for k in range(r)], 0)
        width = reg_init if init == "kmeans" else None

        def aff(X):
            d2 = ops.floor((X * X).sum(1)[:, None] + (Z * Z).sum(1)[None, :] - 2 * X @ Z.T, 0.0)
            w = width if width is not None else float(d2.mean()) + 1e-300
            e = -d2 / w
            return ops.xp.exp(e - ops.rowmax(e))
        Q0, R0 = aff(X_s), aff(X_t)
    Q, R, g, _ = _project_lowrank(Q0, R0, g, a, b, 0.0, 1e-12, 1000, ops)
    return Q, R, g


def lowrank_sinkhorn(X_s, X_t, a=None, b=None, reg=0, rank=None, alpha=1e-10, rescale_cost=True, init="random",
                     reg_init=1e-1, seed_init=49, gamma_init="rescale", numItermax=2000, stopThr=1e-7, warn=True,
                     log=False):
    r"""Entropic OT with couplings of non-negative rank ``rank`` (Scetbon, Cuturi, Peyre 2021; POT's
    ``ot.lowrank_sinkhorn`` arguments):

    .. math::
        \min_{Q \in \Pi(a, g), R \in \Pi(b, g), g \geq \alpha} \langle C, Q\,\mathrm{diag}(1/g)\,R^T\rangle
        + reg\,(\textstyle\sum Q \log Q + \sum R \log R + \sum g \log g)

    for the squared Euclidean cost C, applied through its factors :func:`compute_lr_sqeuclidean_matrix` (each
    step O((n + m)(d + r) r); ``rescale_cost`` divides C by the product of the factors' largest square roots for
    the iterations, as POT). 100 mirror-descent steps (the paper's Algorithm 3):
    :math:`Q \leftarrow Q^{1 - \gamma\,reg} e^{-\gamma C R / g}`, :math:`R \leftarrow R^{1 - \gamma\,reg}
    e^{-\gamma C^T Q / g}`, :math:`g \leftarrow g^{1 - \gamma\,reg} e^{\gamma\,\mathrm{diag}(Q^T C R) / g^2}`,
    each followed by the KL projection onto the constraints (Dykstra, at most ``numItermax`` iterations to
    ``stopThr``); ``gamma_init="rescale"``: :math:`\gamma = 10 / \max` of the three gradients' squared sup
    norms at each step, "theory": the paper's constant :math:`1 / (2L)`. A non-convex problem: the result
    depends on ``init`` ("random" with ``seed_init``, "deterministic", "kmeans" with ``reg_init``) and is not
    POT's for the same seed (POT's draw differs).

    The iterations run in float64 (float32 inputs give float32 outputs). Returns Q (n, r), R (m, r), g (r,) and,
    with ``log``, ``lazy_plan`` (the :class:`LowRankPlan`),
    ``value_linear`` :math:`\langle P, C\rangle` in the units of C (POT's is in those of the rescaled cost when
    ``rescale_cost``), ``value`` (with the entropies above), ``err`` (the last projection's error).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 0.1, (20, 2)), rng.normal(3, 0.1, (20, 2))]
    >>> y = x + 0.5
    >>> Q, R, g, lg = otkit.lowrank_sinkhorn(x, y, rank=2, log=True)
    >>> bool(np.allclose(Q.sum(1), 1 / 40) and np.allclose(Q.sum(0), g, atol=1e-6))
    True
    >>> bool(abs(lg["value_linear"] - otkit.emd2([], [], otkit.dist(x, y))) < 0.05)   # near the exact OT cost
    True
    """
    ops = _Ops(X_s, X_t, a, b)
    X_s, X_t = _clouds(ops, X_s, X_t)
    n, m = X_s.shape[0], X_t.shape[0]
    a = _weights(ops, a, n, X_s, "a")
    b = _weights(ops, b, m, X_s, "b")
    reg = _check_reg0(reg)
    r = min(check_positive_int(min(n, m) if rank is None else rank, "rank"), n, m)
    if not 0 <= alpha < 1.0 / r:
        raise ValueError(f"alpha must be in [0, 1/rank) = [0, {1.0 / r:g}), got {alpha!r}")
    if init not in ("random", "deterministic", "kmeans"):
        raise ValueError(f"init must be 'random', 'deterministic' or 'kmeans', got {init!r}")
    if gamma_init not in ("rescale", "theory"):
        raise NotImplementedError(f"gamma_init={gamma_init!r} is not implemented ('rescale' or 'theory')")
    numItermax = check_max_iter(numItermax, "numItermax")
    stopThr = check_threshold(stopThr)
    dtype = X_s.dtype  # float32 in, float32 out; the iterations run in float64 (Dykstra's scalings need it)
    if ops.torch is not None:
        X_s, X_t, a, b = (x.to(ops.torch.float64) for x in (X_s, X_t, a, b))
    else:
        X_s, X_t, a, b = (np.asarray(x, dtype=np.float64) for x in (X_s, X_t, a, b))
    M1, M2 = compute_lr_sqeuclidean_matrix(X_s, X_t, rescale_cost)
    Q, R, g = _init_lowrank(ops, X_s, X_t, a, b, r, init, reg_init, seed_init)
    xp = ops.xp
    if gamma_init == "theory":  # the paper's step 1 / (2L), L its smoothness constant
        nc = ops.norm(M1) * ops.norm(M2)
        gamma = 1.0 / (2.0 * np.sqrt(3 * (2 / alpha ** 4) * nc ** 2 + (reg + (2 / alpha ** 3) * nc) ** 2))
    err = 0.0
    for _ in range(100):
        CR = M1 @ (M2.T @ R) / g[None, :]  # C R diag(1/g)
        CQ = M2 @ (M1.T @ Q) / g[None, :]  # C^T Q diag(1/g)
        omega = (Q * (M1 @ (M2.T @ R))).sum(0)  # diag(Q^T C R)
        # the gradients of the objective in Q, R, g (up to constants the projection absorbs)
        grads = (CR + reg * xp.log(Q), CQ + reg * xp.log(R), -omega / g ** 2 + reg * xp.log(g))
        if gamma_init == "rescale":
            gamma = 10.0 / max(ops.scalar(abs(G).max()) ** 2 for G in grads)
        # the mirror step X exp(-gamma grad) in log form; each row's shift is absorbed by the row scaling
        logs = [xp.log(X) - gamma * G for X, G in zip((Q, R, g), grads)]
        K1, K2 = (xp.exp(L - ops.rowmax(L)) for L in logs[:2])
        k3 = xp.exp(logs[2] - logs[2].max())
        Q, R, g, err = _project_lowrank(K1, K2, k3, a, b, alpha, stopThr, numItermax, ops)
        Q, R, g = Q + 1e-16, R + 1e-16, g + 1e-16
    if warn and err >= stopThr:
        warnings.warn(f"lowrank_sinkhorn: the last projection did not converge in numItermax={numItermax} "
                      f"iterations (error {err:.3e}, stopThr {stopThr:.1e})", UserWarning, stacklevel=2)
    if log:  # (in float64, before the cast)
        T1, T2 = compute_lr_sqeuclidean_matrix(X_s, X_t)  # the cost itself, not rescaled
        value_linear = ((T1.T @ Q) * (T2.T @ (R / g[None, :]))).sum()
        value = value_linear + reg * sum((X * xp.log(X)).sum() for X in (Q, R, g))
    Q, R, g = (X.to(dtype) if ops.torch is not None else X.astype(dtype) for X in (Q, R, g))
    if not log:
        return Q, R, g
    if ops.torch is None:
        value_linear, value = float(value_linear), float(value)
    else:
        value_linear, value = value_linear.to(dtype), value.to(dtype)
    return Q, R, g, {"value": value, "value_linear": value_linear, "lazy_plan": LowRankPlan(Q, R, 1 / g),
                     "err": err}


def factored_optimal_transport(Xa, Xb, a=None, b=None, reg=0.0, r=100, X0=None, stopThr=1e-7, numItermax=100,
                               verbose=False, log=False, random_state=None, **kwargs):
    r"""Factored OT (Forrow, Huetter, Nitzan, Rigollet, Schiebinger, Weed 2019; POT's
    ``ot.factored_optimal_transport``): the r points X of uniform weights minimizing
    :math:`W_2^2(\mu_a, \mu_X) + W_2^2(\mu_X, \mu_b)`, by alternating the two OT problems (exact,
    :func:`otkit.emd`, or entropic, :func:`otkit.sinkhorn` with ``reg > 0`` and ``kwargs``) and the barycentric
    update :math:`X \leftarrow \tfrac{r}{2} (G_a^T X_a + G_b X_b)` until X moves less than ``stopThr`` (at most
    ``numItermax`` rounds). ``X0``: the starting points (default: standard normal (r, d) draws of
    ``np.random.RandomState(random_state)``, POT's start on NumPy for a seed).

    On torch tensors the costs ``costa``, ``costb`` are connected to the points' graph through the costs, the plans
    held fixed (the envelope theorem: the gradient of the OT costs, exact where the plans are unique).

    Returns Ga (n, r), Gb (r, m), X (r, d) and, with ``log``, the potentials (``ua``, ``va``, ``ub``, ``vb``),
    the costs ``costa``, ``costb``, ``delta_iter`` and ``lazy_plan`` (:class:`LowRankPlan` of
    :math:`r\,G_a G_b`, a coupling of a and b).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> xa, xb = rng.normal(size=(30, 2)), rng.normal(size=(40, 2)) + 1
    >>> Ga, Gb, X, lg = otkit.factored_optimal_transport(xa, xb, r=5, X0=xa[:5], log=True)
    >>> P = np.asarray(lg["lazy_plan"])
    >>> bool(np.allclose(P.sum(1), 1 / 30) and np.allclose(P.sum(0), 1 / 40))
    True
    """
    from .bregman import sinkhorn
    from .emd import emd
    from .utils import dist

    ops = _Ops(Xa, Xb, a, b, X0)
    Xa, Xb = _clouds(ops, Xa, Xb, names=("Xa", "Xb"))
    n, m, d = Xa.shape[0], Xb.shape[0], Xa.shape[1]
    a = _weights(ops, a, n, Xa, "a")
    b = _weights(ops, b, m, Xa, "b")
    r = check_positive_int(r, "r")
    if r * max(d, n + m) > 2 ** 28:
        raise MemoryError(f"r={r}: the {r} anchor points and the (n, r), (r, m) plans would not fit in memory")
    reg = _check_reg0(reg)
    numItermax = check_max_iter(numItermax, "numItermax")
    stopThr = check_threshold(stopThr)
    if X0 is None:
        X = ops.asarray(np.random.RandomState(random_state).randn(r, d), Xa)
    else:
        X = ops.asarray(X0, Xa)
        if tuple(X.shape) != (r, d):
            raise ValueError(f"X0 has shape {tuple(X.shape)}, expected (r, d) = ({r}, {d})")
    w = ops.full(r, 1.0 / r, Xa)

    def solve_ot(X1, X2, w1, w2):
        # the plans are computed without a graph; the costs <G, M> keep the one of the points (through M)
        M = dist(X1, X2)
        M = M if ops.torch is not None else M.astype(X1.dtype, copy=False)  # (NumPy's dist is float64)
        Md, w1d, w2d = (x.detach() if ops.torch is not None else x for x in (M, w1, w2))
        if reg > 0:
            G, lg = sinkhorn(w1d, w2d, Md, reg, log=True, **kwargs)
        else:
            G, lg = emd(w1d, w2d, Md, log=True, **kwargs)
        G = G.to(M.dtype) if ops.torch is not None else G.astype(M.dtype, copy=False)
        lg["cost"] = (G * M).sum()
        if ops.torch is None:
            lg["cost"] = float(lg["cost"])
        return G, lg

    deltas = []
    for it in range(numItermax):
        X_old = X
        Ga, lga = solve_ot(Xa, X, a, w)
        Gb, lgb = solve_ot(X, Xb, w, b)
        X = 0.5 * (Ga.T @ Xa + Gb @ Xb) * r
        delta = ops.norm(X - X_old)
        if verbose:
            print(f"{it:5d}|{delta:8e}|")
        if delta < stopThr:
            break
        deltas.append(delta)
    if not log:
        return Ga, Gb, X
    return Ga, Gb, X, {"delta_iter": deltas, "ua": lga["u"], "va": lga["v"], "ub": lgb["u"], "vb": lgb["v"],
                       "costa": lga["cost"], "costb": lgb["cost"], "lazy_plan": LowRankPlan(Ga * r, Gb.T)}
