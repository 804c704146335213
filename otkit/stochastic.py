r"""Regularized semi-dual stochastic solvers (Genevay, Cuturi, Peyré, Bach, NeurIPS 2016).

Entropic OT between :math:`\mu` and a discrete :math:`\nu = \sum_j b_j \delta_{y_j}` is solved by
maximizing the *semi-dual* over the potential :math:`v \in \mathbb{R}^m` of the discrete side,

.. math::
    H_\varepsilon(v) = \sum_j v_j b_j + \mathbb{E}_{x \sim \mu}\left[ v^{c,\varepsilon}(x) \right],
    \qquad v^{c,\varepsilon}(x) = -\varepsilon \log \sum_j b_j \exp\left(\frac{v_j - c(x, y_j)}{\varepsilon}\right),

whose maximum is :math:`\min_\pi \langle \pi, c \rangle + \varepsilon\,\mathrm{KL}(\pi \,|\, \mu \otimes \nu)`
(the paper subtracts :math:`\varepsilon` from both, defining the KL with a :math:`-1`; we do not).
For :math:`\varepsilon = 0`, :math:`v^{c,0}(x) = \min_j c(x, y_j) - v_j` (the c-transform) and the
maximum is the unregularized OT cost. The gradient of one sample's term is :math:`b - \pi(x)`,
:math:`\pi_j(x) = \mathrm{softmax}_j((v_j - c(x, y_j))/\varepsilon + \log b_j)`, a one-hot vector on the
argmin when :math:`\varepsilon = 0`.

* :func:`solve_semi_dual_entropic` -- discrete :math:`\mu` (POT-compatible): SAG (paper Alg. 1),
  averaged SGD (Alg. 2) and plain SGD.
* :func:`semi_discrete` -- :math:`\mu` given by a sampler: (averaged) mini-batch SGD, with a
  held-out stopping rule.
* :func:`plan_from_dual` -- the plan :math:`\pi_{ij} = a_i \pi_j(x_i)` of a discrete problem.
* :func:`semi_dual_value` -- :math:`H_\varepsilon(v)` of a discrete problem.

The iteration loops run in one compiled kernel per chunk of iterations (C++ ``otkit._ext`` or the
Numba fallback ``otkit._numba.semidual``); the random indices and samples are drawn here with NumPy
from ``seed``, so both backends follow the same random stream and give the same results.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _backend
from . import _status as st
from .utils import (
    as_float_array,
    check_cost,
    check_hist,
    check_masses,
    check_max_iter,
    check_method,
    check_positive_int,
    check_reg,
    check_reg_scale,
    dist,
    resolve_dtype,
)

MARGINAL_WARN = 1e-2  # warn when an unconverged plan misplaces more than 1% of the mass (L1 column error)

__all__ = ["solve_semi_dual_entropic", "semi_discrete", "plan_from_dual", "semi_dual_value", "SemiDiscreteMap"]

METHODS = ("SAG", "ASGD", "SGD")
_CHUNK = 1 << 14        # iterations per kernel call in the discrete solvers
_MAX_BLOCK = 1 << 22    # entries of a block of sampled costs (32 MiB in float64)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _sfx(dt):
    return "f64" if np.dtype(dt) == np.float64 else "f32"


def _check_status(status, what):
    if status == st.BAD_INPUT:  # the Python layer validated everything: this is a bug
        raise RuntimeError(f"{what}: the kernel rejected its input (status {status})")
    return status


def _check_reg0(reg):
    """reg >= 0 (semi-discrete solvers accept the unregularized c-transform limit reg = 0)."""
    if isinstance(reg, (numbers.Real, np.floating, np.integer)) and not isinstance(reg, (bool, np.bool_)) \
            and float(reg) == 0.0:
        return 0.0
    try:
        return check_reg(reg)
    except ValueError:
        if float(reg) > 0:  # a positive reg refused for its own reason (subnormal)
            raise
        raise ValueError(f"reg must be a finite number >= 0, got {reg}") from None


def _check_lr(lr):
    return None if lr is None else check_reg(lr, "lr")


def _check_method(method, allowed):
    return check_method(method, allowed, case=str.upper)


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _probability(b, m, dt, other):
    b = check_hist(b, "b", m, dt, other=other)
    check_masses(np.ones(1), b, names=("a probability measure", "b"))  # b must sum to 1
    return b


def _progress(total, verbose, desc):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="it", leave=True)


def _ctransform(impl, C, b, reg, v, dt, want_plan=False, want_arg=False):
    """alpha (rows), and the row softmax P (rows, m) / argmax (rows) when asked."""
    rows, m = C.shape
    alpha = np.empty(rows, dtype=dt)
    P = np.empty((rows, m) if want_plan else (0, 0), dtype=dt)
    arg = np.empty(rows if want_arg else 0, dtype=np.int64)
    status = getattr(impl, "semidual_ctransform_" + _sfx(dt))(C, b, float(reg), np.ascontiguousarray(v, dtype=dt),
                                                              alpha, want_plan, P, want_arg, arg)
    _check_status(status, "c-transform")
    return alpha, (P if want_plan else None), (arg if want_arg else None)


class _Running:
    """Running change of an objective trace: mean of the last ``window`` absolute changes. Each value
    added is also shown on the progress bar ``bar`` (if any) as ``key``."""

    def __init__(self, window=3, bar=None, key="value"):
        self.window = window
        self.trace = []
        self.bar, self.key = bar, key

    def add(self, value):
        self.trace.append(float(value))
        if self.bar is not None:
            self.bar.set_postfix({self.key: f"{self.trace[-1]:.6g}"})

    def change(self):
        t = self.trace
        if len(t) < self.window + 1:
            return np.inf
        d = np.abs(np.diff(t[-(self.window + 1):]))
        return float(d.mean())

    def converged(self, tol):
        if tol is None or not self.trace:
            return False
        return self.change() <= tol * max(1.0, abs(self.trace[-1]))


# ----------------------------------------------------------------------------------------------
# discrete problems
# ----------------------------------------------------------------------------------------------

def _prepare_discrete(a, b, M, dtype, reg):
    dt = resolve_dtype(dtype, M)
    M = check_cost(M, dt, reg=reg)
    n, m = M.shape
    a = check_hist(a, "a", n, dt, other="M.shape[0]")
    check_masses(np.ones(1), a, names=("a probability measure", "a"))
    b = _probability(b, m, dt, "M.shape[1]")
    return a, b, M, dt


def semi_dual_value(a, b, M, reg, v, backend="auto", dtype=None):
    r"""Semi-dual objective :math:`H_\varepsilon(v)` of a discrete problem.

    .. math::
        H_\varepsilon(v) = \sum_j v_j b_j + \sum_i a_i v^{c,\varepsilon}_i,\qquad
        v^{c,\varepsilon}_i = -\varepsilon \log \sum_j b_j \exp\left(\frac{v_j - M_{ij}}{\varepsilon}\right)

    (:math:`v^{c,0}_i = \min_j M_{ij} - v_j` when ``reg = 0``). Its maximum over :math:`v` is
    :math:`\min_\gamma \langle \gamma, M \rangle + \varepsilon \mathrm{KL}(\gamma | a b^T)`
    :math:`= \min_\gamma \langle \gamma, M \rangle + \varepsilon \sum_{ij} \gamma_{ij} \log \gamma_{ij}
    - \varepsilon \sum_i a_i \log a_i - \varepsilon \sum_j b_j \log b_j` (the exact OT cost when ``reg = 0``).

    Parameters
    ----------
    a : (n,) array_like, source weights (sum to 1)
    b : (m,) array_like, target weights (sum to 1)
    M : (n, m) array_like, cost matrix
    reg : float >= 0
    v : (m,) array_like, dual potential of the target side (``log["beta"]``)

    Returns
    -------
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.stochastic import semi_dual_value
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> round(semi_dual_value([0.5, 0.5], [0.5, 0.5], M, 0.0, np.zeros(2)), 6)
    0.0
    """
    reg = _check_reg0(reg)
    a, b, M, dt = _prepare_discrete(a, b, M, dtype, reg)
    v = _check_potential(v, M.shape[1], dt)
    if reg > 0:
        check_reg_scale(reg, (0.0, float(np.max(np.abs(v), initial=0.0))), dt, cost="v")
    _, impl = _backend.kernels(backend, "semidual")
    alpha, _, _ = _ctransform(impl, M, b, reg, v, dt)
    return float(np.dot(v.astype(np.float64), b) + np.dot(alpha.astype(np.float64), a))


def _check_potential(v, m, dt, name="v"):
    v = as_float_array(v, name, dt)
    if v.shape != (m,):
        raise ValueError(f"{name} must have shape ({m},), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    big = float(np.max(np.abs(v), initial=0.0))
    if not big < np.finfo(dt).max * 1e-6:  # v_j - M_ij and its scaling by 1/reg must stay finite
        raise ValueError(f"{name} has entries too large for {np.dtype(dt).name} arithmetic (max |{name}| = {big:.3g})")
    return v


def plan_from_dual(a, b, M, reg, v, backend="auto", dtype=None):
    r"""Transport plan of a discrete problem from the target potential ``v`` (semi-dual solution).

    With :math:`u = v^{c,\varepsilon}` (the c-transform, POT's ``log["alpha"]``), paper Prop. 2.1:

    .. math::
        \gamma_{ij} = a_i b_j \exp\left(\frac{u_i + v_j - M_{ij}}{\varepsilon}\right)
                    = a_i\, \mathrm{softmax}_j\left(\frac{v_j - M_{ij}}{\varepsilon} + \log b_j\right),

    computed with a max-shifted softmax (no overflow for any ``reg``). Its row sums are exactly
    ``a``; its column sums approach ``b`` as ``v`` approaches the maximizer. ``reg = 0`` gives the
    assignment plan :math:`\gamma_{ij} = a_i [j = \arg\min_k M_{ik} - v_k]`.

    Parameters
    ----------
    a : (n,) array_like, source weights (sum to 1)
    b : (m,) array_like, target weights (sum to 1)
    M : (n, m) array_like, cost matrix
    reg : float >= 0
    v : (m,) array_like, target potential
    backend : {"auto", "cpp", "numba"}
    dtype : float64 (default) or float32

    Returns
    -------
    gamma : (n, m) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.stochastic import plan_from_dual
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> plan_from_dual([0.5, 0.5], [0.5, 0.5], M, 0.0, np.zeros(2))
    array([[0.5, 0. ],
           [0. , 0.5]])

    References
    ----------
    .. [18] Genevay, A., Cuturi, M., Peyré, G. & Bach, F. (2016) Stochastic Optimization for
       Large-scale Optimal Transport. Advances in Neural Information Processing Systems.
    """
    reg = _check_reg0(reg)
    a, b, M, dt = _prepare_discrete(a, b, M, dtype, reg)
    v = _check_potential(v, M.shape[1], dt)
    if reg > 0:
        check_reg_scale(reg, (0.0, float(np.max(np.abs(v), initial=0.0))), dt, cost="v")
    _, impl = _backend.kernels(backend, "semidual")
    _, P, _ = _ctransform(impl, M, b, reg, v, dt, want_plan=True)
    P *= a[:, None]
    return P


def solve_semi_dual_entropic(a, b, M, reg, method="SAG", numItermax=10000, lr=None, log=False, *,
                             batch_size=1, tol=None, check_every=None, seed=None, verbose=False,
                             backend="auto", dtype=None, warn=True):
    r"""Entropic OT between discrete measures by stochastic maximization of the semi-dual.

    Solves

    .. math::
        \gamma = \mathop{\arg \min}_\gamma \quad \langle \gamma, \mathbf{M} \rangle_F +
        \mathrm{reg} \cdot\Omega(\gamma)
        \quad s.t. \ \gamma \mathbf{1} = \mathbf{a}, \ \gamma^T \mathbf{1} = \mathbf{b}, \ \gamma \geq 0

    (:math:`\Omega(\gamma) = \sum_{ij} \gamma_{ij} \log \gamma_{ij}`, equivalently
    :math:`\mathrm{KL}(\gamma | \mathbf{a}\mathbf{b}^T)`) through its semi-dual

    .. math::
        \max_{\mathbf{v}} \ \sum_i \mathbf{a}_i \left[ \sum_j \mathbf{v}_j \mathbf{b}_j
        - \mathrm{reg} \log \sum_j \mathbf{b}_j \exp\left(\frac{\mathbf{v}_j - \mathbf{M}_{ij}}{\mathrm{reg}}\right)
        \right]

    with the stochastic algorithms of [18]_, one sample :math:`i` per iteration:

    * ``"SAG"`` (Alg. 1): :math:`i` uniform, stored gradients :math:`g_i = a_i (b - \pi(x_i))`,
      :math:`d = \sum_i g_i`, :math:`v \leftarrow v + \frac{lr}{n} d`.
    * ``"ASGD"`` (Alg. 2): :math:`i \sim a`, :math:`v \leftarrow v + \frac{lr}{\sqrt{k}}(b - \pi(x_i))`,
      returns the average of the iterates.
    * ``"SGD"``: the same steps, returns the last iterate.

    POT-compatible with ``ot.stochastic.solve_semi_dual_entropic`` (same arguments, default
    ``lr = reg / max(a)``, same returns and ``log["alpha"]``, ``log["beta"]``). One difference: for a
    non-uniform ``a``, ASGD/SGD here draw :math:`i \sim a` (POT draws :math:`i` uniformly and so
    solves the problem with uniform source weights); with a uniform ``a`` the algorithms agree.

    Parameters
    ----------
    a : (ns,) array_like
        Source weights (sum to 1).
    b : (nt,) array_like
        Target weights (sum to 1).
    M : (ns, nt) array_like
        Cost matrix.
    reg : float
        Regularization term > 0.
    method : {"SAG", "ASGD", "SGD"}
        Algorithm (case-insensitive).
    numItermax : int
        Number of iterations (stochastic steps).
    lr : float, optional
        Learning rate > 0; default ``reg / max(a)`` as POT.
    log : bool
        Also return a dict with ``alpha`` (ns,), ``beta`` (nt,) (the dual potentials), ``value``
        (the semi-dual objective at ``beta``), ``niter``, ``converged``, ``err``, ``trace``, and
        ``marginal_err``: :math:`\|\pi^T 1 - b\|_1` (the rows of ``pi`` sum to ``a`` exactly).
    batch_size : int, optional
        Samples per step of ASGD/SGD (1 as in [18]_; SAG always uses one).
    tol : float, optional
        Stop when the running change of the exact semi-dual objective, evaluated every
        ``check_every`` iterations, is below ``tol * max(1, |H|)`` (default: no stopping rule, as POT).
    check_every : int, optional
        Iterations between two evaluations of the objective when ``tol`` is set (default ``max(n, 1000)``).
    seed : int or numpy.random.Generator, optional
        Seed of the random index stream (the same stream drives every backend).
    verbose : bool
        Show a tqdm progress bar.
    backend : {"auto", "cpp", "numba"}
    dtype : float64 (default) or float32
    warn : bool
        Warn (UserWarning) when the run ends without convergence (no ``tol``, or ``tol`` not reached) and
        the plan's column sums miss ``b`` by more than 1% of the mass in L1 (POT returns such plans
        silently; ``warn=False`` does too).

    Returns
    -------
    pi : (ns, nt) ndarray
        Transportation matrix.
    log : dict
        Only if ``log`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.stochastic import solve_semi_dual_entropic
    >>> a = b = np.full(3, 1 / 3)
    >>> M = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 1.0], [4.0, 1.0, 0.0]])
    >>> P = solve_semi_dual_entropic(a, b, M, 0.5, "SAG", numItermax=20000, seed=0)
    >>> np.round(P.sum(0), 2)
    array([0.33, 0.33, 0.33])

    References
    ----------
    .. [18] Genevay, A., Cuturi, M., Peyré, G. & Bach, F. (2016) Stochastic Optimization for
       Large-scale Optimal Transport. Advances in Neural Information Processing Systems.
    """
    reg = check_reg(reg)
    method = _check_method(method, METHODS)
    numItermax = check_max_iter(numItermax, minimum=0, cap=None)
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = _check_lr(lr)
    if tol is not None:
        tol = check_reg(tol, "tol")
    a, b, M, dt = _prepare_discrete(a, b, M, dtype, reg)
    n, m = M.shape
    if check_every is None:
        check_every = max(n, 1000)
    check_every = check_positive_int(check_every, "check_every")
    if lr is None:
        lr = reg / float(np.max(a))
    _, impl = _backend.kernels(backend, "semidual")
    rng = _rng(seed)
    sfx = _sfx(dt)

    v = np.zeros(m, dtype=dt)
    if method == "SAG":
        G = np.zeros((n, m), dtype=dt)  # stored gradients a_i (b - pi(x_i)), one row per sample
        d = np.zeros(m, dtype=dt)
        kernel = getattr(impl, "semidual_sag_" + sfx)
    else:
        vbar = np.zeros(m, dtype=dt)
        cum = np.cumsum(a, dtype=np.float64)
        kernel = getattr(impl, "semidual_sgd_" + sfx)
    averaged = method == "ASGD"

    def current():
        return vbar if averaged else v

    bar = _progress(numItermax, verbose, f"semi-dual {method}")
    run = _Running(bar=bar, key="value")
    done, status, converged = 0, st.MAX_ITER, False
    # a chunk ends at the next multiple of check_every when a stopping rule is on
    chunk = min(_CHUNK, check_every) if tol is not None else _CHUNK
    try:
        while done < numItermax:
            k = min(chunk, numItermax - done)
            if method == "SAG":
                idx = rng.integers(0, n, size=k, dtype=np.int64)  # Alg. 1: i uniform
                code = kernel(M, a, b, reg, lr, idx, v, G, d)
            else:
                u = rng.random(k * batch_size) * cum[-1]  # i ~ a
                idx = np.minimum(np.searchsorted(cum, u, side="right"), n - 1).astype(np.int64)
                code = kernel(M, b, reg, lr, idx, batch_size, done, averaged, v, vbar)
            _check_status(code, "semi-dual " + method)
            done += k
            if bar is not None:
                bar.update(k)
            if code == st.NUMERICAL_ERROR:
                status = code
                warnings.warn(f"semi-dual {method} diverged after {done} iterations (the potential is no "
                              f"longer finite); lower the learning rate lr (= {lr:g})", RuntimeWarning,
                              stacklevel=2)
                break
            if tol is not None and done % check_every == 0:
                al, _, _ = _ctransform(impl, M, b, reg, current(), dt)
                run.add(float(np.dot(current().astype(np.float64), b) + np.dot(al.astype(np.float64), a)))
                if run.converged(tol):
                    converged, status = True, st.OK
                    break
    finally:
        if bar is not None:
            bar.close()

    beta = current().copy()
    if status == st.NUMERICAL_ERROR:
        alpha = np.full(n, np.nan, dtype=dt)
        pi = np.full((n, m), np.nan, dtype=dt)
    else:
        alpha, pi, _ = _ctransform(impl, M, b, reg, beta, dt, want_plan=True)
        pi *= a[:, None]
    # the plan's rows sum to a by construction; its columns reach b only at the optimum
    marginal_err = float(np.abs(pi.sum(0, dtype=np.float64) - b).sum()) if status != st.NUMERICAL_ERROR else np.nan
    if warn and not converged and status != st.NUMERICAL_ERROR and marginal_err > MARGINAL_WARN * float(b.sum()):
        why = "without reaching tol" if tol else "(no tol set)"
        warnings.warn(f"semi-dual {method} stopped after numItermax={done} iterations {why}: "
                      f"the plan's column sums are off b by {marginal_err:.3g} (L1, total mass {float(b.sum()):.3g}); "
                      "increase numItermax or lr, or pass warn=False", UserWarning, stacklevel=2)
    if not log:
        return pi
    value = float(np.dot(beta.astype(np.float64), b) + np.dot(alpha.astype(np.float64), a))
    return pi, {
        "alpha": alpha,
        "beta": beta,
        "value": value,
        "niter": done,
        "converged": converged,
        "err": run.change() if run.trace else float("nan"),
        "trace": run.trace,
        "status": st.NAMES[status],
        "lr": lr,
        "marginal_err": marginal_err,
    }


# ----------------------------------------------------------------------------------------------
# semi-discrete problems
# ----------------------------------------------------------------------------------------------

class SemiDiscreteMap:
    r"""Transport of points ``x`` (p, k) to the discrete side, from a semi-discrete potential ``v``.

    ``T(x)`` is the barycentric map :math:`\sum_j \pi_j(x) y_j` (``reg > 0``) or the assignment
    :math:`y_{j(x)}`, :math:`j(x) = \arg\min_j c(x, y_j) - v_j` (``reg = 0``: a Laguerre cell map).
    ``T.assign(x)`` gives the indices :math:`\arg\max_j \pi_j(x)`, ``T.probabilities(x)`` the
    (p, m) matrix :math:`\pi(x)`.
    """

    def __init__(self, Y, b, v, reg, cost, impl, dt):
        self.Y, self.b, self.v, self.reg = Y, b, v, reg
        self._cost, self._impl, self._dt = cost, impl, dt

    def _costs(self, x):
        x = as_float_array(x, "x", self._dt)
        k = self.Y.shape[1]
        if x.ndim == 1 and k == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != k:
            raise ValueError(f"x must be an array of shape (p, {k}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("x has non-finite entries (NaN or inf)")
        return self._cost(x)

    def probabilities(self, x):
        _, P, _ = _ctransform(self._impl, self._costs(x), self.b, self.reg, self.v, self._dt, want_plan=True)
        return P

    def assign(self, x):
        _, _, arg = _ctransform(self._impl, self._costs(x), self.b, self.reg, self.v, self._dt, want_arg=True)
        return arg

    def __call__(self, x):
        if self.reg == 0:
            return self.Y[self.assign(x)]
        return self.probabilities(x) @ self.Y


def _make_cost(cost, Y, dt):
    if callable(cost):
        def f(x):
            C = as_float_array(cost(x, Y), "cost(x, Y)", dt)
            if C.shape != (x.shape[0], Y.shape[0]):
                raise ValueError(f"cost(x, Y) must return a ({x.shape[0]}, {Y.shape[0]}) array, got {C.shape}")
            if not np.isfinite(C).all():
                raise ValueError("cost(x, Y) returned non-finite entries")
            return C
        return f
    if not isinstance(cost, str):
        raise TypeError(f"cost must be a metric name (e.g. 'sqeuclidean') or a callable, got {type(cost).__name__}")
    dist(Y[:1], Y[:1], metric=cost)  # raises on an unknown metric

    def f(x):
        return np.ascontiguousarray(dist(x, Y, metric=cost), dtype=dt)
    return f


def _draw(sampler, size, rng, k, dt):
    x = sampler(size, rng)
    try:
        x = as_float_array(x, "sampler(n, rng)", dt)
    except TypeError as exc:
        raise TypeError(f"sampler must return an array of points: {exc}") from None
    if x.ndim == 1 and k == 1:
        x = x[:, None]
    if x.shape != (size, k):
        raise ValueError(f"sampler(n, rng) must return an array of shape (n, {k}) = ({size}, {k}) "
                         f"(one point of dimension Y.shape[1] = {k} per row), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("sampler(n, rng) returned non-finite points (NaN or inf)")
    return x


def semi_discrete(sampler, Y, b, reg, method="ASGD", batch_size=64, numItermax=10000, lr=None,
                  cost="sqeuclidean", tol=None, seed=None, log=False, *, holdout=4096, check_every=None,
                  verbose=False, backend="auto", dtype=None):
    r"""Semi-discrete (regularized) OT from a sampled measure to a discrete one, by stochastic semi-dual ascent.

    :math:`\mu` is continuous, known through ``sampler(n, rng)`` returning (n, k) samples;
    :math:`\nu = \sum_j b_j \delta_{y_j}`. Maximizes ([18]_, Alg. 2, with mini-batches)

    .. math::
        H_\varepsilon(v) = \sum_j v_j b_j + \mathbb{E}_{x \sim \mu}\left[ v^{c,\varepsilon}(x) \right],
        \qquad v^{c,\varepsilon}(x) = -\varepsilon \log \sum_j b_j e^{(v_j - c(x, y_j))/\varepsilon},

    and for ``reg = 0`` the unregularized semi-dual :math:`\sum_j v_j b_j + \mathbb{E}[\min_j c(x, y_j) - v_j]`,
    whose maximizer makes the Laguerre cells :math:`\{x : j = \arg\min_k c(x, y_k) - v_k\}` have
    :math:`\mu`-mass :math:`b_j`. Step :math:`k`: :math:`v \leftarrow v + \frac{lr}{\sqrt{k}} \left(b -
    \frac{1}{B}\sum_{s} \pi(x_s)\right)` over a fresh batch of ``batch_size`` samples; ASGD returns the
    average of the iterates, SGD the last one.

    Stopping rule: the objective :math:`H` is estimated on a held-out batch of ``holdout`` samples
    (drawn once, never used for the steps) every ``check_every`` steps; the run stops when the mean
    of its last 3 absolute changes is at most ``tol * max(1, |H|)``.

    Parameters
    ----------
    sampler : callable
        ``sampler(n, rng)`` -> (n, k) array of n i.i.d. samples of :math:`\mu` (``rng`` a
        ``numpy.random.Generator``; a (n,) array is accepted when k = 1).
    Y : (m, k) array_like
        Support of :math:`\nu` ((m,) for k = 1).
    b : (m,) array_like
        Weights of :math:`\nu` (a probability vector).
    reg : float >= 0
        Entropic regularization; 0 gives the c-transform (unregularized) problem.
    method : {"ASGD", "SGD"}
    batch_size : int >= 1
        Samples per step.
    numItermax : int
        Maximum number of steps.
    lr : float > 0, optional
        Learning rate; default: the scale of the potential, ``mean_x(mean_j c(x, y_j) - min_j c(x, y_j)) + reg``
        on the held-out samples.
    cost : str or callable
        A metric of :func:`otkit.dist` (default ``"sqeuclidean"``) or ``cost(x, Y)`` -> (p, m).
    tol : float, optional
        Stopping tolerance (None: run ``numItermax`` steps).
    seed : int or numpy.random.Generator, optional
        Seeds the sampler's ``rng`` (both backends see the same samples).
    log : bool
        Also return a dict: ``objective`` (held-out trace), ``n_samples`` (samples used for steps),
        ``value_std`` (Monte Carlo standard error of ``value``), ``niter``, ``converged``, ``err``
        (last running change), ``lr``.
    holdout : int
        Size of the held-out batch.
    check_every : int, optional
        Steps between two held-out evaluations (default ``max(1, 20000 // batch_size)``).
    verbose : bool
        Show a tqdm progress bar with the held-out objective.
    backend : {"auto", "cpp", "numba"}
    dtype : float64 (default) or float32

    Returns
    -------
    v : (m,) ndarray
        Dual potential of the discrete side.
    value : float
        Held-out (Monte Carlo, ``holdout`` samples) estimate of :math:`H(v)`: the regularized OT
        value, the OT cost when ``reg = 0``; ``log["value_std"]`` is its standard error.
    transport : SemiDiscreteMap
        ``transport(x)`` maps (p, k) points to their image (barycentric map, or assigned atom
        when ``reg = 0``); ``transport.assign(x)`` gives atom indices.
    log : dict
        Only if ``log`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from otkit.stochastic import semi_discrete
    >>> Y = np.array([[0.25], [0.75]])
    >>> v, value, T = semi_discrete(lambda n, rng: rng.random((n, 1)), Y, [0.5, 0.5], 0.0, seed=0)
    >>> round(value, 3)  # W_2^2(U[0, 1], {1/4, 3/4}) = 1/48
    0.021

    References
    ----------
    .. [18] Genevay, A., Cuturi, M., Peyré, G. & Bach, F. (2016) Stochastic Optimization for
       Large-scale Optimal Transport. Advances in Neural Information Processing Systems.
    """
    if not callable(sampler):
        raise TypeError(f"sampler must be a callable sampler(n, rng), got {type(sampler).__name__}")
    reg = _check_reg0(reg)
    method = _check_method(method, ("ASGD", "SGD"))
    batch_size = check_positive_int(batch_size, "batch_size")
    numItermax = check_max_iter(numItermax, minimum=0, cap=None)
    holdout = check_positive_int(holdout, "holdout")
    lr = _check_lr(lr)
    if tol is not None:
        tol = check_reg(tol, "tol")
    if check_every is None:
        check_every = max(1, 20000 // batch_size)
    check_every = check_positive_int(check_every, "check_every")
    dt = resolve_dtype(dtype, Y)
    Y = as_float_array(Y, "Y", dt)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] == 0 or Y.shape[1] == 0:
        raise ValueError(f"Y must be a non-empty (m, k) array of points, got shape {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError("Y has non-finite entries (NaN or inf)")
    m, k = Y.shape
    b = _probability(b, m, dt, "len(Y)")
    costf = _make_cost(cost, Y, dt)
    _, impl = _backend.kernels(backend, "semidual")
    sgd = getattr(impl, "semidual_sgd_" + _sfx(dt))
    rng = _rng(seed)
    averaged = method == "ASGD"

    C_hold = costf(_draw(sampler, holdout, rng, k, dt))

    def objective(w, with_std=False):
        alpha, _, _ = _ctransform(impl, C_hold, b, reg, w, dt)
        alpha = alpha.astype(np.float64)
        val = float(np.dot(w.astype(np.float64), b) + alpha.mean())
        if with_std:  # Monte Carlo standard error of the held-out estimate
            return val, float(alpha.std(ddof=1) / np.sqrt(holdout)) if holdout > 1 else float("nan")
        return val

    if lr is None:  # the scale of the potential: how much the cost varies over the atoms, plus reg
        lr = float(np.mean(C_hold.mean(axis=1, dtype=np.float64) - C_hold.min(axis=1))) + reg
        if not lr > 0:  # a single atom, or every atom at the same cost
            lr = 1.0
    v = np.zeros(m, dtype=dt)
    vbar = np.zeros(m, dtype=dt)
    rows_per_block = max(batch_size, (_MAX_BLOCK // m) // batch_size * batch_size)
    bar = _progress(numItermax, verbose, f"semi-discrete {method}")
    run = _Running(bar=bar, key="objective")
    done, n_samples, converged, status = 0, 0, False, st.MAX_ITER
    try:
        while done < numItermax:
            steps = min(check_every - done % check_every, numItermax - done)
            while steps > 0:  # one check period, in blocks of at most _MAX_BLOCK sampled costs
                s = min(steps, rows_per_block // batch_size)
                C = costf(_draw(sampler, s * batch_size, rng, k, dt))
                idx = np.arange(s * batch_size, dtype=np.int64)
                code = _check_status(sgd(C, b, reg, lr, idx, batch_size, done, averaged, v, vbar), "semi-discrete")
                done += s
                steps -= s
                n_samples += s * batch_size
                if bar is not None:
                    bar.update(s)
                if code == st.NUMERICAL_ERROR:
                    status = code
                    break
            if status == st.NUMERICAL_ERROR:
                warnings.warn(f"semi-discrete {method} diverged after {done} steps (the potential is no longer "
                              f"finite); lower the learning rate lr (= {lr:g})", RuntimeWarning, stacklevel=2)
                break
            if done % check_every == 0 or done == numItermax:
                run.add(objective(vbar if averaged else v))
                if run.converged(tol):
                    converged, status = True, st.OK
                    break
    finally:
        if bar is not None:
            bar.close()

    v_out = (vbar if averaged else v).copy()
    value, value_std = objective(v_out, True) if status != st.NUMERICAL_ERROR else (float("nan"), float("nan"))
    transport = SemiDiscreteMap(Y, b, v_out, reg, costf, impl, dt)
    if not log:
        return v_out, value, transport
    return v_out, value, transport, {
        "objective": run.trace,
        "n_samples": n_samples,
        "n_holdout": holdout,
        "value_std": value_std,
        "niter": done,
        "converged": converged,
        "err": run.change() if run.trace else float("nan"),
        "status": st.NAMES[status],
        "lr": lr,
    }
