r"""Debiased Sinkhorn divergences (Feydy et al. 2019), differentiable on torch tensors.

.. math::
    S(a, b) = W(a, b) - \tfrac12 W(a, a) - \tfrac12 W(b, b),
    \quad W(a, b) = \langle P^*_{ab}, M_{ab} \rangle  \text{ (sinkhorn2's value)}

as POT's ``ot.bregman.empirical_sinkhorn_divergence`` (the same three ``sinkhorn2`` values, clipped at 0).
Each term goes through :func:`otkit.sinkhorn2`, so with torch tensors the result is a tensor whose gradient is
sinkhorn2's implicit gradient: a drop-in loss.
"""
from __future__ import annotations

import numpy as np

from . import _autograd
from .bregman import sinkhorn2
from .utils import as_float_array, dist, host_dist

__all__ = ["sinkhorn_divergence", "empirical_sinkhorn_divergence", "SamplesLoss"]

_SAMPLES_BACKENDS = ("auto", "cpp", "numba", "tensorized", "online", "multiscale")
_MULTISCALE_PAIRS = 2.5e7  # backend="auto": multiscale above n m pairs (in dimension <= 3), as GeomLoss does


def _maximum0(torch, S):
    if torch is not None and isinstance(S, torch.Tensor):
        return torch.clamp(S, min=0.0)
    return np.maximum(0.0, S)


def sinkhorn_divergence(a, b, M_ab, M_aa, M_bb, reg, clip=True, **kwargs):
    r"""Debiased Sinkhorn divergence from the three cost matrices.

    Parameters
    ----------
    a : (n,) array_like or tensor
    b : (m,) array_like or tensor
    M_ab, M_aa, M_bb : (n, m), (n, n), (m, m) cost matrices
    reg : float
        Entropic regularization.
    clip : bool
        Clip the result at 0 (POT does; the exact divergence is >= 0 at convergence, a small negative value
        is a convergence error).
    **kwargs
        Passed to :func:`otkit.sinkhorn2` (``method``, ``stopThr``, ``numItermax``, ``grad``, ``backend``, ...).

    Returns
    -------
    S : float, or a 0-d tensor for torch input (differentiable)

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([[0.0], [1.0]]); y = np.array([[0.5], [1.5]])
    >>> s = otkit.sinkhorn_divergence(None, None, otkit.dist(x, y), otkit.dist(x, x), otkit.dist(y, y), 0.1)
    >>> bool(0.0 < s < 0.25)
    True
    """
    torch = _autograd.torch_module(a, b, M_ab, M_aa, M_bb)
    if a is None:
        a = np.ones(np.shape(M_ab)[0]) / np.shape(M_ab)[0]
    if b is None:
        b = np.ones(np.shape(M_ab)[1]) / np.shape(M_ab)[1]
    if torch is not None:  # uniform weights of the tensors' dtype and device
        ref = _autograd._ref(torch, M_ab, M_aa, M_bb, a, b)
        a, b = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=ref.dtype,
                                                                         device=ref.device) for x in (a, b))
    for name, x in (("a", a), ("b", b)):
        if isinstance(x, (str, bytes)) or (torch is None and np.asarray(x).dtype.kind not in "biuf"):
            raise TypeError(f"{name} must hold real numbers, got {type(x).__name__}")
        if len(np.shape(x)) != 1:
            raise ValueError(f"{name} must be a 1-D histogram (one measure), got shape {tuple(np.shape(x))}")
    w_ab = _term(a, b, M_ab, reg, "M_ab", "(a, b)", kwargs)
    w_aa = _term(a, a, M_aa, reg, "M_aa", "(a, a)", kwargs)
    w_bb = _term(b, b, M_bb, reg, "M_bb", "(b, b)", kwargs)
    S = w_ab - 0.5 * (w_aa + w_bb)
    return _maximum0(torch, S) if clip else S


def _term(x, y, M, reg, name, pair, kwargs):
    """sinkhorn2 of one term; its errors say which cost matrix and weights they are about."""
    try:
        return sinkhorn2(x, y, M, reg, **kwargs)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"in the {name} term (sinkhorn2 of {pair} on {name}): {exc}") from None


def _dist(X, Y, metric, torch, names):
    """The cost matrix: otkit.dist (torch ops on tensors, so the graph flows back to the points); errors name
    the point sets as ``names``."""
    if torch is not None:
        return dist(X, Y, metric=metric)
    X, Y = as_float_array(X, names[0]), as_float_array(Y, names[1])
    for name, P in zip(names, (X, Y)):
        if P.shape[0] == 0:
            raise ValueError(f"{name} is empty (shape {P.shape}): a point cloud needs at least one point")
    return host_dist(X, Y, metric, names=names)


def empirical_sinkhorn_divergence(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=10000,
                                  stopThr=1e-9, verbose=False, log=False, warn=True, **kwargs):
    r"""Debiased Sinkhorn divergence between point clouds (POT's ``ot.bregman.empirical_sinkhorn_divergence``).

    The cost matrices ``dist(X_s, X_t)``, ``dist(X_s, X_s)`` and ``dist(X_t, X_t)`` are built (with torch ops
    on tensors, so the gradient reaches the points), then :func:`sinkhorn_divergence`.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 2))
    >>> float(otkit.empirical_sinkhorn_divergence(X, X, 0.5)) < 1e-9
    True
    """
    torch = _autograd.torch_module(X_s, X_t, a, b)
    if log:
        raise ValueError("log=True is not supported by otkit's empirical_sinkhorn_divergence")
    kw = dict(numItermax=numIterMax, stopThr=stopThr, verbose=verbose, warn=warn, **kwargs)
    return sinkhorn_divergence(a, b, _dist(X_s, X_t, metric, torch, ("X_s", "X_t")),
                               _dist(X_s, X_s, metric, torch, ("X_s", "X_s")),
                               _dist(X_t, X_t, metric, torch, ("X_t", "X_t")), reg, **kw)


class SamplesLoss:
    r"""GeomLoss-style loss between point clouds (``geomloss.SamplesLoss("sinkhorn", ...)`` for users switching),
    on otkit's point-cloud solver: the costs are computed inside the solver's passes, never stored.

    ``SamplesLoss(loss="sinkhorn", p=2, blur=0.05, debias=True)``, called as ``L(x, y)`` or ``L(a, x, b, y)``
    (weights a, b; uniform by default), returns GeomLoss's values: with the cost :math:`C(x, y) = |x - y|^p / p`
    (p = 1 or 2) and :math:`\varepsilon = \mathrm{blur}^p`,

    .. math::
        \mathrm{OT}_\varepsilon(a, b) = \min_{P \in \Pi(a, b)} \langle P, C \rangle + \varepsilon\,\mathrm{KL}(P | a
        \otimes b) = \langle a, f \rangle + \langle b, g \rangle, \qquad
        S_\varepsilon = \mathrm{OT}_\varepsilon(a, b) - \tfrac12 \mathrm{OT}_\varepsilon(a, a)
        - \tfrac12 \mathrm{OT}_\varepsilon(b, b)

    (``debias=True``: the Sinkhorn divergence of Feydy et al. 2019; else :math:`\mathrm{OT}_\varepsilon`). Each
    term anneals :math:`\varepsilon` as GeomLoss does (one iteration at each blur from the clouds' diameter down
    to ``blur``, in steps of ``scaling``), then goes on at ``blur`` until its marginal error is below ``tol``: the
    result is the converged value whatever ``scaling`` (GeomLoss stops after the annealing, so its accuracy is set
    by ``scaling``; at ``scaling`` near 1 the two agree to GeomLoss's accuracy, tests/test_samples_loss.py). The
    cross term runs alternating log-domain Sinkhorn, the symmetric debiasing terms the averaged fixed point
    :math:`f \leftarrow (f + T(f))/2` of Feydy et al. 2019, both in the compiled kernels. Torch tensors give a tensor with the gradients of the envelope theorem: in the
    points, :math:`\sum_j P_{ij} \nabla_x C(x_i, y_j)` (the plan applied block by block), in the weights the
    potentials f, g (GeomLoss's gradients). Batches (B, N, D) give a (B,) result.

    Parameters
    ----------
    loss : {"sinkhorn"}
    p : {1, 2}
        Exponent of the cost |x - y|^p / p.
    blur : float
        :math:`\varepsilon^{1/p}`, > 0.
    debias : bool
    reach : float, optional
        Unbalanced OT (GeomLoss's ``reach``): the marginal constraints become KL penalties of weight
        :math:`\rho = \mathrm{reach}^p`, with GeomLoss's value :math:`\mathrm{OT}_{\varepsilon,\rho}(a, b) = (\rho +
        \varepsilon/2)(\langle a, 1 - e^{-f/\rho}\rangle + \langle b, 1 - e^{-g/\rho}\rangle)` at the fixed point
        :math:`f = -\tfrac{\rho}{\rho + \varepsilon}\,\varepsilon \log \sum_j b_j e^{(g_j - C_{ij})/\varepsilon}`
        (and symmetrically for g), debiased as above. The cross term runs
        :func:`otkit.unbalanced.unbalanced_cloud` (annealed as above; ``tol`` bounds the relative change of the
        scalings, POT's unbalanced stopping rule), the debiasing terms the averaged fixed point. Gradients: the
        plan in the points, :math:`\rho + \varepsilon/2 - (\rho + \varepsilon) e^{-f_i/\rho}` in the weights
        (the exact derivative of the value). None (default): balanced. Not with ``backend="multiscale"``.
    scaling : float in (0, 1), optional
        Ratio of the blur between two annealing stages (GeomLoss's parameter; 0.5 by default). It changes the
        time, not the value (each term is then solved to ``tol``).
    tol : float
        Stopping threshold of each Sinkhorn solve (marginal error: L2 for the cross term, L1 for the symmetric
        ones), 1e-9 by default.
    max_iter : int
        Iteration cap of each solve.
    omega : float in (0, 2) or "auto"
        Over-relaxation of the cross term's Sinkhorn at the target blur (see :func:`otkit.sinkhorn`; safeguarded:
        plain steps again if the error grows). ``"auto"`` (default) picks it from the measured rate of plain
        steps; 1 gives plain Sinkhorn. The value does not depend on it beyond ``tol``. With ``reach`` it relaxes
        the unbalanced cross term's two updates the same way.
    backend : {"auto", "cpp", "numba", "tensorized", "online", "multiscale"}
        GeomLoss's names choose the solver: "tensorized" and "online" the point-cloud log-domain Sinkhorn over all
        pairs (costs computed in the passes either way), "multiscale" the multiscale solver
        (:func:`otkit.multiscale.multiscale_sinkhorn`: clusters, coarse-to-fine, a block truncation certified below
        ``tol``; points in dimension <= 3). "auto" takes the multiscale solver above 2.5e7 pairs (n m) in
        dimension <= 3, the all-pairs one below. "cpp" and "numba" choose otkit's kernels (with the "auto"
        solver).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((100, 2)), rng.random((80, 2)) + 0.5
    >>> L = otkit.SamplesLoss("sinkhorn", p=2, blur=0.05)
    >>> s = L(x, y)
    >>> bool(0.2 < s < 0.3), bool(abs(L(x, x)) < 1e-9)
    (True, True)
    """

    def __init__(self, loss="sinkhorn", p=2, blur=0.05, debias=True, scaling=None, reach=None, tol=1e-9,
                 max_iter=100000, omega="auto", backend="auto", **kwargs):
        if loss != "sinkhorn":
            raise NotImplementedError(f"SamplesLoss: loss={loss!r} is not implemented (only 'sinkhorn')")
        if p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p!r}")
        from .utils import check_max_iter, check_omega, check_reg, check_threshold
        self.blur = check_reg(blur, "blur")
        self.reach = None if reach is None else check_reg(reach, "reach")
        self.rho = None if reach is None else float(np.float64(self.reach) ** p)
        if self.rho is not None and not (np.isfinite(self.rho) and self.rho > 0):
            raise ValueError(f"reach={reach!r} gives rho = reach^{p} = {self.rho:g}, outside float64's usable range")
        self.p, self.debias = p, bool(debias)
        if backend not in _SAMPLES_BACKENDS:
            raise ValueError(f"backend must be one of {_SAMPLES_BACKENDS}, got {backend!r}")
        # GeomLoss's names choose the solver; otkit's the kernels
        self.solver = backend if backend in ("tensorized", "online", "multiscale") else "auto"
        self.backend = backend if backend in ("auto", "cpp", "numba") else "auto"
        with np.errstate(over="ignore", under="ignore"):
            self.eps = float(np.float64(self.blur) ** p)
        if not (np.isfinite(self.eps) and self.eps >= 1e-280):
            raise ValueError(f"blur={self.blur:g} gives eps = blur^{p} = {self.eps:g}, outside float64's usable range")
        self.tol, self.max_iter = check_threshold(tol), check_max_iter(max_iter, "max_iter")
        check_omega(omega)
        self.omega = omega
        self.scaling = 0.5 if scaling is None else float(scaling)
        if not 0.0 < self.scaling < 1.0:
            raise ValueError(f"scaling must be in (0, 1), got {scaling!r}")
        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")

    def __repr__(self):
        reach = "" if self.reach is None else f", reach={self.reach:g}"
        return f"SamplesLoss('sinkhorn', p={self.p}, blur={self.blur:g}{reach}, debias={self.debias})"

    def __call__(self, *args):
        if len(args) == 2:
            a, x, b, y = None, args[0], None, args[1]
        elif len(args) == 4:
            a, x, b, y = args
        else:
            raise TypeError("SamplesLoss is called as L(x, y) or L(a, x, b, y)")
        torch = _autograd.torch_module(a, x, b, y)
        if np.ndim(x) == 3:  # a batch of problems
            outs = [self(*((None if a is None else a[k]), x[k], (None if b is None else b[k]), y[k]))
                    for k in range(np.shape(x)[0])]
            return torch.stack(outs) if torch is not None else np.array(outs)
        ot_ab = self._ot(torch, a, x, b, y)
        if not self.debias:
            return ot_ab
        return ot_ab - 0.5 * self._ot(torch, a, x, a, x) - 0.5 * self._ot(torch, b, y, b, y)

    def _ot(self, torch, a, x, b, y, details=None):
        """OT_eps(a, b) between the clouds x, y, with the envelope gradients on torch tensors; a dict ``details``
        receives the solver's problem (``reg``, ``cost``: |x - y|^2 at 2 eps for p = 2), its log-scalings ``F``,
        ``G`` (P = exp(F_i + G_j - C_ij / reg)) and the loss's potentials ``f``, ``g`` (in units of the loss's cost)."""
        from . import geometry
        from .bregman import sinkhorn2
        from .empirical import LazyPlan, _check_clouds

        from .utils import as_float_array

        def host(t, name):
            if torch is not None and isinstance(t, torch.Tensor):
                return t.detach().cpu().numpy()
            return as_float_array(t, name)

        xh, yh = _check_clouds(host(x, "x"), host(y, "y"), names=("x", "y"))
        n, m = len(xh), len(yh)
        ah = np.full(n, 1.0 / n) if a is None else host(a, "a")
        bh = np.full(m, 1.0 / m) if b is None else host(b, "b")
        # C = |x - y|^2 / 2 at eps is the kernel of |x - y|^2 at 2 eps (p = 2); |x - y| at eps (p = 1)
        cost, reg = ("sqeuclidean", 2.0 * self.eps) if self.p == 2 else ("euclidean", self.eps)
        # annealing from GeomLoss's first blur, the diameter of the clouds (their bounding box's diagonal)
        lo = np.minimum(xh.min(0), yh.min(0)) if xh.shape[1] else np.zeros(0)
        hi = np.maximum(xh.max(0), yh.max(0)) if xh.shape[1] else np.zeros(0)
        diam = float(np.sqrt(np.sum((hi.astype(np.float64) - lo) ** 2)))
        reg0 = 2.0 * diam ** 2 if self.p == 2 else diam
        factor = self.scaling ** self.p
        ms = None
        if self._use_multiscale(n, m, xh.shape[1]):
            ms = self._multiscale(torch, a, x, b, y, ah, xh, bh, yh, reg, cost, reg0, factor)
            F, G = ms["f"], ms["g"]
        elif x is y and (a is b):  # a debiasing term: the symmetric problem, F = G
            F = G = self._symmetric(ah, xh, reg, cost, reg0, factor)
        elif self.rho is not None:  # unbalanced: KL marginals of weight rho (2 rho on |x - y|^2 at 2 eps)
            F, G = self._unbalanced(ah, xh, bh, yh, reg, cost, reg0, factor)
        else:
            try:
                _, lg = sinkhorn2(ah, bh, geometry.PointCloud(xh, yh, cost=cost), reg, method="sinkhorn_epsilon_scaling",
                                  epsilon_schedule="geometric", epsilon0=reg0, epsilon_factor=factor,
                                  numInnerItermax=1, numItermax=self.max_iter, stopThr=self.tol, log=True,
                                  omega=self.omega, backend=self.backend)
            except ValueError as exc:  # e.g. costs / eps overflow: say which argument of this call sets eps
                if "reg" in str(exc):
                    raise ValueError(f"blur={self.blur:g} (eps = {self.eps:g}): {exc}") from None
                raise
            F, G = np.asarray(lg["log_u"]), np.asarray(lg["log_v"])
        with np.errstate(divide="ignore", invalid="ignore"):
            f, g = self.eps * (F - np.log(ah)), self.eps * (G - np.log(bh))
        if details is not None:
            details.update(reg=reg, cost=cost, F=F, G=G, f=f, g=g, x=xh, y=yh)
        if self.rho is None:
            value = float(ah @ f + bh @ g)
            dweights = lambda h: h - h.mean()  # noqa: E731
        else:
            # GeomLoss's unbalanced value (rho + eps/2) (<a, 1 - e^(-f/rho)> + <b, 1 - e^(-g/rho)>) is, at the fixed
            # point (P 1 = a e^(-f/rho)), the dual optimum D plus eps ((m(a) + m(b)) / 2 - m(a) m(b)) (0 for
            # probability weights). dD/da_i = rho - (rho + eps) e^(-f_i/rho) + eps m(b) (envelope theorem), so the
            # value's derivative is rho + eps/2 - (rho + eps) e^(-f_i/rho)
            rho, eps = self.rho, self.eps
            with np.errstate(invalid="ignore"):
                ea, eb = np.exp(-f / rho), np.exp(-g / rho)
            value = (rho + eps / 2) * float(np.sum(np.where(ah > 0, ah * (1 - ea), 0.0))
                                            + np.sum(np.where(bh > 0, bh * (1 - eb), 0.0)))
            dweights = lambda h: (rho + eps / 2) - (rho + eps) * np.exp(-h / rho)  # noqa: E731
        if torch is None:
            return value
        ref = next(t for t in (x, y, a, b) if isinstance(t, torch.Tensor))
        out = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        grads = []
        if ms is not None:  # the plan's sums over the kept blocks, from the multiscale solver
            dx = lambda: ms["row_mass"][:, None] * ms["mean_dx"]  # noqa: E731
            dy = lambda: ms["col_mass"][:, None] * ms["mean_dy"]  # noqa: E731
        else:
            plan = LazyPlan(xh, yh, F, G, reg, cost)
            dx = lambda: self._dcost(plan, xh, yh)  # noqa: E731
            dy = lambda: self._dcost(plan, xh, yh, transpose=True)  # noqa: E731
        for t, dt in ((a, lambda: dweights(f)), (b, lambda: dweights(g)), (x, dx), (y, dy)):
            if isinstance(t, torch.Tensor) and t.requires_grad:
                grads.append((t, dt()))
        for t, dx in grads:  # value + <dx, t - t.detach()>: the value, with gradient dx in t
            out = out + torch.sum(torch.as_tensor(dx, dtype=t.dtype, device=t.device) * (t - t.detach()))
        return out

    def _use_multiscale(self, n, m, d):
        if self.solver == "multiscale":
            if d > 3:
                raise ValueError(f"backend='multiscale' clusters points on a grid: dimension <= 3, got {d}")
            if self.rho is not None:
                raise ValueError("backend='multiscale' has no unbalanced (reach) solver yet; use backend='online' "
                                 "or 'auto' (the all-pairs solver)")
            return True
        return (self.solver == "auto" and self.rho is None and d <= 3
                and float(n) * float(m) > _MULTISCALE_PAIRS)

    def _multiscale(self, torch, a, x, b, y, ah, xh, bh, yh, reg, cost, reg0, factor):
        """The multiscale solver (otkit.multiscale): the symmetric averaged fixed point for a debiasing term."""
        from .multiscale import multiscale_sinkhorn

        want_grad = torch is not None and any(isinstance(t, torch.Tensor) and t.requires_grad for t in (x, y))
        r = multiscale_sinkhorn(xh, yh, ah, bh, reg, metric=cost, tol=self.tol, max_iter=self.max_iter,
                                epsilon0=max(reg0, reg), epsilon_factor=factor, symmetric=(x is y and a is b),
                                want_value=False, want_grad=want_grad, backend=self.backend)
        self._report(r["status"], "multiscale Sinkhorn",
                     f"marginal error {r['err']:.3e}, truncation bound {r['truncation_bound']:.1e}")
        return r

    def _symmetric(self, a, x, reg, cost, reg0, factor):
        """Log-scalings F of the symmetric problem (a, x) against itself, by the compiled averaged fixed point
        (alternating Sinkhorn oscillates there: 7,000 iterations and more at blur 0.05), annealed from reg0."""
        from . import _backend

        be, impl = _backend.kernels(self.backend, "sinkhorn")
        if be == "cuda":
            raise ValueError("backend 'cuda' has no point-cloud kernels yet; use backend='cpp' or 'auto'")
        dt = np.float32 if x.dtype == np.float32 else np.float64
        fn = getattr(impl, "sinkhorn_symmetric_cloud_" + ("f32" if dt == np.float32 else "f64"))
        F = np.zeros(len(x), dtype=dt)
        opts = impl.SinkhornOptions(max_iter=int(self.max_iter), stop_thr=float(self.tol), check_every=1,
                                    anneal_start=float(reg0), anneal_factor=float(factor), anneal_inner=1)
        r = fn(np.ascontiguousarray(x, dtype=dt), np.ascontiguousarray(a, dtype=dt), float(reg), F, metric=cost,
               options=opts, reg_m=self._solver_reg_m())
        self._report(int(r["status"][0]), "the symmetric Sinkhorn of a debiasing term",
                     f"marginal error {float(r['err'][0]):.3e}")
        return F.astype(np.float64)

    def _solver_reg_m(self):
        """The marginal penalty of the solver's problem (|x - y|^2 at 2 eps for p = 2: 2 rho), inf: balanced."""
        if self.rho is None:
            return float("inf")
        return 2.0 * self.rho if self.p == 2 else self.rho

    def _unbalanced(self, a, x, b, y, reg, cost, reg0, factor):
        """Log-scalings F, G of the unbalanced problem between (a, x) and (b, y) (otkit.unbalanced.unbalanced_cloud,
        reference a b^T as GeomLoss), annealed from reg0."""
        import warnings

        from .unbalanced import unbalanced_cloud

        if self.backend not in ("auto", "cpp", "numba"):
            raise ValueError(f"backend {self.backend!r} has no unbalanced point-cloud kernel")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # reported below, with the loss's names
            r = unbalanced_cloud(x, y, a, b, reg, self._solver_reg_m(), metric=cost, reg_type="kl",
                                 numItermax=self.max_iter, stopThr=self.tol,
                                 epsilon0=reg0 if reg0 > reg else None, epsilon_factor=factor, omega=self.omega,
                                 backend=self.backend)
        self._report(r["status"], "unbalanced Sinkhorn", f"relative change {r['err']:.3e}")
        return r["f"], r["g"]

    def _report(self, status, solver, errors):
        """A numerical error raises, non-convergence warns (naming the solver and its errors)."""
        import warnings

        from . import _status

        if status == _status.NUMERICAL_ERROR:
            raise FloatingPointError(f"SamplesLoss: {solver} hit a numerical error (blur={self.blur:g}); use a larger "
                                     f"blur")
        if status != _status.OK:
            warnings.warn(f"SamplesLoss: {solver} did not converge in max_iter={self.max_iter} iterations ({errors}, "
                          f"tol {self.tol:.1e})", UserWarning, stacklevel=5)

    def _dcost(self, plan, xh, yh, transpose=False):
        """sum_j P_ij grad_x C(x_i, y_j) (or, transposed, sum_i P_ij grad_y C(x_i, y_j)), block by block."""
        if self.p == 2:  # grad_x |x - y|^2 / 2 = x - y
            if not transpose:
                return plan.sum(axis=1)[:, None] * xh - plan.dot(yh)
            PT_x = np.zeros_like(yh)
            batch = max(1, 2**22 // max(1, len(yh)))
            for i0 in range(0, len(xh), batch):
                PT_x += plan[i0:i0 + batch].T @ xh[i0:i0 + batch]
            return plan.sum(axis=0)[:, None] * yh - PT_x
        out = np.zeros_like(yh if transpose else xh)  # p = 1: grad_x |x - y| = (x - y) / |x - y| (0 at x = y)
        batch = max(1, 2**22 // max(1, len(yh)))
        for i0 in range(0, len(xh), batch):
            P = plan[i0:i0 + batch]
            D = xh[i0:i0 + batch, None, :] - yh[None, :, :]
            nrm = np.sqrt((D * D).sum(-1))
            W = np.where(nrm > 0, P / np.where(nrm > 0, nrm, 1.0), 0.0)
            if transpose:
                out -= np.einsum("ij,ijd->jd", W, D)
            else:
                out[i0:i0 + batch] = np.einsum("ij,ijd->id", W, D)
        return out
