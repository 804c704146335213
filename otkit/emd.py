r"""Exact optimal transport by our own primal network simplex (POT-compatible ``emd``, ``emd2``).

The solver (csrc/cpu/emd_cpu.cpp, Numba fallback otkit/_numba/emd.py) works on the bipartite
transportation graph with a spanning-tree basis, block-search pricing computed on the fly from
``M`` (``M`` is read in place, never copied when it is C-contiguous float64) and Cunningham's
anti-cycling leaving-arc rule. It is exact in float64: no rounding of costs or masses.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _autograd, _backend, _status
from .utils import as_float_array, check_cost, check_hist, check_masses, check_max_iter, check_positive_int, resolve_dtype

__all__ = ["emd", "emd2", "emd2_batch", "emd_sample", "emd2_sample"]

# POT's result codes (ot.lp.emd_wrap.check_result): 0 infeasible, 1 optimal, 2 unbounded, 3 max iter
_POT_CODE = {_status.OK: 1, _status.INFEASIBLE: 0, _status.UNBOUNDED: 2, _status.MAX_ITER: 3}


def _check_num_threads(numThreads):
    """POT's numThreads: 1, a positive int, "max" or None; anything but 1 gets POT's DeprecationWarning (the
    network simplex is sequential, the value is ignored)."""
    if numThreads is None or (isinstance(numThreads, str) and numThreads.lower() == "max"):
        pass
    elif isinstance(numThreads, (bool, np.bool_)) or not isinstance(numThreads, (int, np.integer)) or numThreads < 1:
        raise ValueError(f'numThreads should either be "max" or a strictly positive integer, got {numThreads!r}')
    if numThreads != 1:
        warnings.warn("The 'numThreads' parameter is deprecated and will be removed in a future version. The network "
                      "simplex solver is sequential, so this parameter is ignored.", DeprecationWarning, stacklevel=3)


def _max_iter(numItermax) -> int:
    if isinstance(numItermax, (float, np.floating)) and float(numItermax).is_integer():
        numItermax = int(numItermax)  # POT users write numItermax=1e6
    return check_max_iter(numItermax, minimum=0, cap=None)


def _warning_text(status: int, niter: int, numItermax: int) -> str | None:
    if status == _status.OK:
        return None
    if status == _status.MAX_ITER:
        return (f"numItermax reached before optimality ({niter} pivots). Try to increase numItermax "
                f"(e.g. numItermax={max(10 * numItermax, 100000)}); the returned plan is feasible "
                "but not optimal.")
    if status == _status.INFEASIBLE:
        return "Problem infeasible. Check that a and b are in the simplex"
    if status == _status.UNBOUNDED:
        return "Problem unbounded"
    return f"network simplex returned status {_status.NAMES.get(status, status)}"


def _prepare(a, b, M, check_marginals: bool, normalize: bool, allow_2d: bool = False):
    """Validated (a, b, M): float64, C-contiguous; b rescaled to a's total mass like POT."""
    M = check_cost(M)
    n, m = M.shape
    a = check_hist(a, "a", n, other="M.shape[0]")
    b = check_hist(b, "b", m, allow_2d=allow_2d, other="M.shape[1]")
    if normalize:
        a = a / a.sum()
        b = b / b.sum(axis=0)
    elif check_marginals:
        try:
            check_masses(a, b, rtol=1e-6)
        except ValueError as exc:
            raise ValueError(f"{exc}, or pass normalize=True (or check_marginals=False to rescale b "
                             "to the mass of a)") from None
    # remove the round-off difference of the totals (the solver needs equal masses)
    b = b * (a.sum() / b.sum(axis=0))
    return a, np.ascontiguousarray(b), M


def _null_weight_duals(alpha, beta, block, a, b):
    """Feasible duals on zero-mass rows/columns (the solver leaves them out of the network).

    alpha_i = min_j (M_ij - beta_j) over columns of positive mass, then
    beta_j = min_i (M_ij - alpha_i) over all rows: alpha_i + beta_j <= M_ij everywhere and the
    objective <a, alpha> + <b, beta> is unchanged. ``block(rows, cols)`` returns M[rows][:, cols].
    """
    zr = np.flatnonzero(a == 0)
    zc = np.flatnonzero(b == 0)
    if zr.size == 0 and zc.size == 0:
        return alpha, beta
    pc = np.flatnonzero(b > 0)
    chunk = 256
    for s in range(0, zr.size, chunk):
        r = zr[s:s + chunk]
        alpha[r] = (block(r, pc) - beta[pc]).min(axis=1)
    rows = np.arange(a.size)
    for s in range(0, zc.size, chunk):
        c = zc[s:s + chunk]
        beta[c] = (block(rows, c) - alpha[:, None]).min(axis=0)
    return alpha, beta


def _center(alpha, beta, a, b):
    """POT's ``center_ot_dual``: shift (alpha + c, beta - c) so that <a, alpha> = <b, beta>."""
    c = (b @ beta - a @ alpha) / (a.sum() + b.sum())
    return alpha + c, beta - c


def _solve(a, b, M, numItermax, center_dual, backend, init=None, basis=None, keep_basis=False):
    """One problem: returns (I, J, X, cost, log dict).

    init: warm-start potentials (alpha0, beta0) or None. basis: warm-start tree (parent, flow)
    of an earlier solve with the same a, b (checked by the solver, which starts cold if it does
    not fit). keep_basis: put the final tree in log["basis"] and whether the given one was used
    in log["warm_basis"].
    """
    be, impl = _backend.kernels(backend, "emd")
    a0, b0 = init if init is not None else (None, None)
    res = impl.emd_network_simplex(M, a, b, numItermax, a0, b0, basis, keep_basis)
    I, J, X, cost, log = _result(res, a, b, lambda r, c: M[np.ix_(r, c)], center_dual, numItermax, be)
    if keep_basis:
        log["basis"] = res[8][:2]
        log["warm_basis"] = bool(res[8][2])
    return I, J, X, cost, log


def _result(res, a, b, block, center_dual, numItermax, be):
    """(I, J, X, cost, log) from the solver's tuple: feasible duals on zero-mass rows/columns (``block(rows,
    cols)``: those costs), centred duals, the marginal violation and the warning of a solve that did not end
    optimal."""
    I, J, X, alpha, beta, cost, niter, status = res[:8]
    alpha, beta = _null_weight_duals(alpha, beta, block, a, b)
    if center_dual:
        alpha, beta = _center(alpha, beta, a, b)
    n, m = a.size, b.size
    # marginal violation of the plan (the solver's flows are exact up to round-off)
    err = max(float(np.abs(np.bincount(I, X, minlength=n) - a).max()),
              float(np.abs(np.bincount(J, X, minlength=m) - b).max()))
    msg = _warning_text(status, niter, numItermax)
    if msg is not None:
        warnings.warn(msg, UserWarning, stacklevel=4)
    log = {
        "cost": np.float64(cost),
        "u": alpha,
        "v": beta,
        "warning": msg,
        "result_code": _POT_CODE.get(status, status),
        "niter": int(niter),
        "err": err,
        "converged": status == _status.OK,
        "backend": be,
    }
    return I, J, X, np.float64(cost), log


def _plan(I, J, X, shape, sparse: bool):
    if sparse:
        from scipy.sparse import coo_matrix

        return coo_matrix((X, (I, J)), shape=shape)
    G = np.zeros(shape)
    G[I, J] = X
    return G


def _check_potentials(potentials_init, n, m):
    """(alpha0, beta0) as C-contiguous float64 (n,), (m,) finite arrays, or None."""
    if potentials_init is None:
        return None
    if not isinstance(potentials_init, (tuple, list)) or len(potentials_init) != 2:
        raise ValueError("potentials_init must be a pair (alpha, beta) of dual potentials, e.g. "
                         "(log['u'], log['v']) of an earlier call")
    out = []
    for x, name, k, dim in ((potentials_init[0], "potentials_init[0] (alpha)", n, "M.shape[0]"),
                            (potentials_init[1], "potentials_init[1] (beta)", m, "M.shape[1]")):
        x = as_float_array(x, name)
        if x.shape != (k,):
            raise ValueError(f"{name} must have shape ({k},) = ({dim},), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} has non-finite entries (NaN or inf)")
        out.append(x)
    return tuple(out)


@_autograd.tensors_in_out("emd", ('M', 'a', 'b'))
def emd(a, b, M, numItermax=100000, log=False, center_dual=True, numThreads=1, check_marginals=True,
        potentials_init=None, sparse=False, normalize=False, backend="auto"):
    r"""Solve the exact optimal transport (Earth Mover's) problem and return the OT plan.

    .. math::
        \gamma = \mathop{\arg\min}_\gamma \quad \langle \gamma, \mathbf{M} \rangle_F

        s.t. \ \gamma \mathbf{1} = \mathbf{a}, \quad \gamma^T \mathbf{1} = \mathbf{b},
        \quad \gamma \geq 0

    solved exactly by a primal network simplex (our own C++ kernel, or its Numba fallback) on
    the bipartite transportation graph: spanning-tree basis started from the row-minimum rule,
    block-search pricing with reduced costs computed on the fly from ``M`` (never copied when
    it is C-contiguous float64), Cunningham's anti-cycling rule. Same call as ``ot.emd``.

    Parameters
    ----------
    a : (ns,) array_like, float
        Source histogram (uniform weights if empty list or None).
    b : (nt,) array_like, float
        Target histogram (uniform weights if empty list or None).
    M : (ns, nt) array_like, float
        Loss matrix (finite).
    numItermax : int, optional (default=100000)
        Maximum number of pivots. When it is reached a warning says so; the plan returned is
        feasible but not optimal: raise ``numItermax``.
    log : bool, optional
        If True, also return a dict with ``cost``, the dual potentials ``u`` (ns,) and ``v``
        (nt,), ``warning``, ``result_code`` (POT's codes: 1 optimal, 3 max iterations),
        ``niter``, ``err`` (largest marginal violation) and ``converged``.
    center_dual : bool, optional (default=True)
        Center the potentials as ``ot.lp.center_ot_dual`` does: <a, u> = <b, v>.
    numThreads : int, "max" or None, optional
        Ignored (the network simplex is sequential); kept for POT compatibility: any value but 1 gets
        POT's DeprecationWarning, an invalid one (0, -1, 1.5) POT's ValueError.
    check_marginals : bool, optional (default=True)
        Raise a ValueError when sum(a) and sum(b) differ by more than 1e-6 relative. With
        False, b is rescaled to the mass of a (as POT does).
    potentials_init : tuple (alpha, beta) of (ns,) and (nt,) arrays, optional
        Dual potentials to warm start from, typically ``(log["u"], log["v"])`` of a solve of a
        nearby problem (as ``ot.emd``). The initial basis is then built on the reduced costs
        ``M_ij - alpha_i - beta_j``; the optimum is the same, with fewer pivots when the
        potentials fit the problem.
    sparse : bool, optional (default=False)
        Return the plan as a ``scipy.sparse.coo_matrix`` with at most ns + nt - 1 nonzeros.
    normalize : bool, optional (default=False)
        Divide a and b by their totals before solving (opt-in, for masses that differ).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    gamma : (ns, nt) ndarray (or coo_matrix with ``sparse=True``)
        Optimal transport plan.
    log : dict
        Only if ``log`` is True.

    Examples
    --------
    >>> import otkit
    >>> otkit.emd([.5, .5], [.5, .5], [[0., 1.], [1., 0.]])
    array([[0.5, 0. ],
           [0. , 0.5]])

    References
    ----------
    .. [1] Ahuja, R. K., Magnanti, T. L., Orlin, J. B. (1993). Network Flows, ch. 11
       (network simplex, strongly feasible trees). Prentice Hall.
    .. [2] Bonneel, N., Van De Panne, M., Paris, S., Heidrich, W. (2011). Displacement
       interpolation using Lagrangian mass transport. ACM TOG 30(6).
    """
    numItermax = _max_iter(numItermax)
    _check_num_threads(numThreads)
    dtype = resolve_dtype(None, M)
    a, b, M = _prepare(a, b, M, check_marginals, normalize)
    init = _check_potentials(potentials_init, *M.shape)
    I, J, X, cost, lg = _solve(a, b, M, numItermax, center_dual, backend, init)
    G = _plan(I, J, X, M.shape, sparse).astype(dtype, copy=False)  # float32 M: a float32 plan, as POT
    if log:
        return G, lg
    return G


def emd2(a, b, M, processes=1, numItermax=100000, log=False, return_matrix=False, center_dual=True,
         numThreads=1, check_marginals=True, potentials_init=None, sparse=False, normalize=False,
         backend="auto"):
    r"""Solve the exact optimal transport problem and return the loss :math:`\langle \gamma^*, M\rangle`.

    .. math::
        W = \min_\gamma \quad \langle \gamma, \mathbf{M} \rangle_F

        s.t. \ \gamma \mathbf{1} = \mathbf{a}, \quad \gamma^T \mathbf{1} = \mathbf{b},
        \quad \gamma \geq 0

    Same call as ``ot.emd2``; see :func:`otkit.emd` for the solver. Without ``return_matrix``
    no (ns, nt) array is allocated: the solver's own memory is O(ns + nt).

    Parameters
    ----------
    a : (ns,) array_like, float
        Source histogram (uniform weights if empty list or None).
    b : (nt,) or (nt, N) array_like, float
        Target histogram(s); with N columns, N problems are solved and lists are returned.
    M : (ns, nt) array_like, float
        Loss matrix.
    processes : int
        Ignored (kept for POT compatibility).
    numItermax : int, optional (default=100000)
        Maximum number of pivots (a warning says to raise it when it is reached).
    log : bool, optional
        If True, also return a dict (``cost``, ``u``, ``v``, ``warning``, ``result_code``,
        ``niter``, ``err``, ``converged``).
    return_matrix : bool, optional
        If True, the plan is returned in ``log["G"]`` (and the dict is returned).
    center_dual, numThreads, check_marginals, potentials_init, sparse, normalize, backend
        As in :func:`otkit.emd`.

    Returns
    -------
    W : float (or list of floats when b has N columns)
        Optimal transport loss.
    log : dict
        Only if ``log`` or ``return_matrix`` is True.

    Examples
    --------
    >>> import otkit
    >>> float(otkit.emd2([.5, .5], [.5, .5], [[0., 1.], [1., 0.]]))
    0.0

    References
    ----------
    .. [1] Ahuja, R. K., Magnanti, T. L., Orlin, J. B. (1993). Network Flows, ch. 11.
    """
    _check_num_threads(numThreads)
    torch = _autograd.torch_module(a, b, M)
    if torch is not None:  # a tensor of M's dtype and device, with POT's gradients (G, u, v centred)
        if np.ndim(b) == 2:
            raise NotImplementedError("emd2 on torch tensors takes one b (shape (nt,)); call it once per column")
        holder = {}

        def solve(a_, b_, M_):
            cost, lg = emd2(a_, b_, M_, numItermax=numItermax, log=True, return_matrix=True, center_dual=True,
                            check_marginals=check_marginals, potentials_init=potentials_init, normalize=normalize,
                            backend=backend)
            holder["lg"] = lg
            return cost, lg

        out = _autograd.emd2_autograd(torch, a, b, M, solve)
        if log or return_matrix:
            lg = holder["lg"]
            if not return_matrix:
                lg.pop("G", None)
            return [out, lg]
        return out
    numItermax = _max_iter(numItermax)
    a, b, M = _prepare(a, b, M, check_marginals, normalize, allow_2d=True)
    init = _check_potentials(potentials_init, *M.shape)

    def one(bk):
        I, J, X, cost, lg = _solve(a, bk, M, numItermax, center_dual, backend, init)
        if log or return_matrix:
            if return_matrix:
                lg["G"] = _plan(I, J, X, M.shape, sparse)
            return [cost, lg]
        return cost

    if b.ndim == 1:
        return one(b)
    return [one(np.ascontiguousarray(b[:, k])) for k in range(b.shape[1])]



def emd2_batch(a, b, M, numItermax=100000, num_threads=0, return_plans=False, check_marginals=True,
               backend="auto"):
    r"""Exact OT costs of B independent problems in one call (minibatch OT: flow matching, GAN training).

    .. math::
        W_k = \min_{\gamma \in \Pi(a_k, b_k)} \langle \gamma, M_k \rangle_F, \quad k = 1 \dots B

    Each problem is one network simplex (as :func:`otkit.emd2`, sequential, GIL released);
    ``num_threads`` threads solve problems at once. Torch tensors (M, and a, b if given) give a (B,) tensor of
    M's dtype and device connected to the graph: emd2's gradients per problem (the plan for M, the centred
    potentials for a and b, as POT); the problems then run one after the other, and the plans come without
    a graph.

    Parameters
    ----------
    a : (B, n) or (n,) array_like, or None
        Source weights per problem (one row each; a single row or None, uniform, is shared).
    b : (B, m) or (m,) array_like, or None
        Target weights per problem.
    M : (B, n, m) array_like
        Cost matrices.
    numItermax : int
        Maximum number of pivots per problem.
    num_threads : int
        Threads (0: ``otkit.get_num_threads()``).
    return_plans : bool
        Also return the optimal plans, a (B, n, m) array.
    check_marginals : bool
        As in :func:`otkit.emd`: a ValueError when sum(a_k) and sum(b_k) differ by more than 1e-6
        relative (False: b_k is rescaled to the mass of a_k).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    W : (B,) ndarray
    plans : (B, n, m) ndarray, only with ``return_plans=True``

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([0.0, 1.0])
    >>> M = np.stack([np.abs(x[:, None] - x[None, :]), np.abs(x[:, None] - 2 * x[None, :])])
    >>> otkit.emd2_batch(None, None, M)
    array([0. , 0.5])
    """
    from ._threads import get_num_threads

    torch = _autograd.torch_module(a, b, M)
    if torch is not None:  # per problem through emd2's torch path: a tensor of M's dtype and device, with gradients
        return _emd2_batch_torch(torch, a, b, M, numItermax, num_threads, return_plans, check_marginals, backend)
    M = as_float_array(M, "M")
    if M.ndim != 3 or 0 in M.shape:
        raise ValueError(f"M must be a non-empty (B, n, m) stack of cost matrices, got shape {M.shape}")
    nb, n, m = M.shape
    numItermax = _max_iter(numItermax)
    threads = check_positive_int(num_threads, "num_threads", minimum=0) or get_num_threads()

    def rows(x, name, size):
        if x is None:
            return [None] * nb
        x = as_float_array(x, name)
        if x.ndim == 1:
            return [x] * nb
        if x.ndim != 2 or x.shape[0] != nb:
            raise ValueError(f"{name} must be ({size},) or (B, {size}) with B = M.shape[0] = {nb}, got shape {x.shape}")
        return list(x)

    A, B = rows(a, "a", n), rows(b, "b", m)

    def solve(k):
        try:
            ak, bk, Mk = _prepare(A[k], B[k], M[k], check_marginals, False)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"problem {k} (a[{k}], b[{k}], M[{k}]): {exc}") from None
        I, J, X, cost, _ = _solve(ak, bk, Mk, numItermax, False, backend)
        return cost, (I, J, X)

    if threads > 1 and nb > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, nb)) as pool:
            out = list(pool.map(solve, range(nb)))
    else:
        out = [solve(k) for k in range(nb)]
    W = np.array([c for c, _ in out])
    if not return_plans:
        return W
    plans = np.zeros((nb, n, m))
    for k, (_, (I, J, X)) in enumerate(out):
        plans[k, I, J] = X
    return W, plans


def _emd2_batch_torch(torch, a, b, M, numItermax, num_threads, return_plans, check_marginals, backend):
    """emd2_batch on torch tensors: the costs as a (B,) tensor connected to the graph of a, b and M (emd2's
    gradients per problem: the plan for M, the centred potentials for a and b); the plans without graph."""
    if not isinstance(M, torch.Tensor) or M.ndim != 3 or 0 in M.shape:
        raise ValueError(f"M must be a non-empty (B, n, m) tensor of cost matrices, got {type(M).__name__} "
                         f"of shape {tuple(np.shape(M))}")
    nb, n, m = M.shape

    def row(x, name, size, k):
        if x is None:
            return []
        if x.ndim == 1:
            return x
        if x.ndim != 2 or x.shape[0] != nb:
            raise ValueError(f"{name} must be ({size},) or (B, {size}) with B = M.shape[0] = {nb}, got shape "
                             f"{tuple(x.shape)}")
        return x[k]

    a = None if a is None else torch.as_tensor(a, dtype=M.dtype, device=M.device)
    b = None if b is None else torch.as_tensor(b, dtype=M.dtype, device=M.device)
    costs, plans = [], []
    for k in range(nb):  # emd2's torch path per problem (its own graph node); sequential: torch holds the GIL
        try:
            out = emd2(row(a, "a", n, k), row(b, "b", m, k), M[k], numItermax=numItermax, log=return_plans,
                       return_matrix=return_plans, check_marginals=check_marginals, backend=backend)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"problem {k} (a[{k}], b[{k}], M[{k}]): {exc}") from None
        if return_plans:
            costs.append(out[0])
            plans.append(torch.as_tensor(out[1]["G"], dtype=M.dtype, device=M.device))
        else:
            costs.append(out)
    W = torch.stack(costs)
    return (W, torch.stack(plans)) if return_plans else W


# ---------------------------------------------------------------------------------------------- point clouds
_CLOUD_METRICS = ("sqeuclidean", "euclidean")


def cloud_costs(X, Y, euclidean: bool) -> np.ndarray:
    """The (len(X), len(Y)) costs ||x_i - y_j||^2 (or ||x_i - y_j||) summed coordinate by coordinate, as the
    point-cloud network simplex computes them (not by the ||x||^2 + ||y||^2 - 2 <x, y> expansion, whose
    cancellation would break the ties and the complementary slackness of its potentials)."""
    D = np.zeros((X.shape[0], Y.shape[0]))
    for c in range(X.shape[1]):
        t = X[:, c, None] - Y[None, :, c]
        D += t * t
    return np.sqrt(D) if euclidean else D


def _sample_problem(X_a, X_b, a, b, metric, check_marginals):
    """Validated host float64 point clouds and weights (b rescaled to a's mass, as :func:`emd`)."""
    from .empirical import _check_clouds

    if not isinstance(metric, str) or metric.lower() not in _CLOUD_METRICS:
        err = TypeError if not isinstance(metric, str) else ValueError
        raise err(f"metric must be one of {_CLOUD_METRICS} (costs computed on the fly), got {metric!r}; for "
                  "another metric pass otkit.dist(X_a, X_b, metric) to otkit.emd2")
    X_a, X_b = _check_clouds(X_a, X_b, names=("X_a", "X_b"))
    n, m = X_a.shape[0], X_b.shape[0]
    a = check_hist(a, "a", n, other="X_a.shape[0]")
    b = check_hist(b, "b", m, other="X_b.shape[0]")
    if check_marginals:
        check_masses(a, b, rtol=1e-6)
    b = np.ascontiguousarray(b * (a.sum() / b.sum()))
    return np.ascontiguousarray(X_a), np.ascontiguousarray(X_b), a, b


def _solve_sample(X_a, X_b, a, b, metric, numItermax, center_dual, backend):
    """One point-cloud problem: (I, J, X, cost, log) as :func:`_solve`, no cost matrix."""
    n, m = X_a.shape[0], X_b.shape[0]
    numItermax = max(100000, 100 * (n + m)) if numItermax is None else _max_iter(numItermax)
    euclid = metric == "euclidean"
    be, impl = _backend.kernels(backend, "emd")
    res = impl.emd_network_simplex_cloud(X_a, X_b, a, b, numItermax, euclid)
    return _result(res, a, b, lambda r, c: cloud_costs(X_a[r], X_b[c], euclid), center_dual, numItermax, be)


def emd2_sample(X_a, X_b, a=None, b=None, metric="sqeuclidean", numItermax=None, log=False, return_plan=False,
                center_dual=True, check_marginals=True, backend="auto"):
    r"""Exact OT cost between two point clouds, without the (n, m) cost matrix.

    .. math::
        W = \min_{\gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij} \, c(x_i, y_j), \qquad
        c(x, y) = \|x - y\|_2^2 \ (\text{"sqeuclidean"}) \ \text{or} \ \|x - y\|_2 \ (\text{"euclidean"})

    The network simplex of :func:`otkit.emd` with the costs computed from the points inside its pricing
    passes (vectorized, d passes over the target coordinates per row of arcs): its memory is O((n + m) d)
    instead of the 8 n m bytes of ``emd2(a, b, dist(X_a, X_b))`` (800 MB at n = m = 10^4), and it
    returns the same optimum (it prices in smaller blocks than the dense solver: more, cheaper pivots). The
    result is exact; optimality is certified by the potentials (``log["u"] + log["v"] <= c`` everywhere,
    with equality on the plan's support).

    Parameters
    ----------
    X_a : (n, d) array_like
        Source points.
    X_b : (m, d) array_like
        Target points.
    a, b : (n,), (m,) array_like or None
        Weights (uniform if None or empty); equal total masses (to 1e-6 relative, see ``check_marginals``).
    metric : {"sqeuclidean", "euclidean"}
        Ground cost (POT's ``dist`` names). For other metrics build the matrix (``otkit.dist``) and call
        :func:`otkit.emd2`.
    numItermax : int or None
        Pivot budget (None: max(100000, 100 (n + m))); when it runs out a warning says so and the plan is
        feasible but not optimal.
    log : bool
        Also return a dict: ``cost``, the potentials ``u`` (n,), ``v`` (m,), ``niter`` (pivots),
        ``warning``, ``result_code``, ``err``, ``converged``, ``backend``.
    return_plan : bool
        Put the optimal plan in ``log["G"]`` as a ``scipy.sparse.coo_matrix`` (at most n + m - 1 nonzeros;
        the dict is then returned).
    center_dual : bool
        Centre the potentials as :func:`otkit.emd` does.
    check_marginals : bool
        Raise a ValueError when the totals of a and b differ by more than 1e-6 relative (False: b is
        rescaled to the mass of a).
    backend : {"auto", "cpp", "numba"}
        The Numba fallback builds the cost matrix (a MemoryError says so when it cannot fit).

    Returns
    -------
    W : float, or a 0-d torch tensor when the inputs are torch tensors
        Exact OT cost. For torch inputs the tensor has X_a's dtype and device, and its gradient is the
        derivative of the LP value: :math:`\sum_j \gamma_{ij} \nabla_x c(x_i, y_j)` in the points, the
        centred potentials in the weights (as :func:`otkit.emd2`; exact where the optimal plan is unique).
        Double backward is not supported.
    log : dict
        Only with ``log`` or ``return_plan``.

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0]]); y = np.array([[0.0, 1.0], [1.0, 1.0]])
    >>> float(otkit.emd2_sample(x, y))
    1.0
    >>> W, lg = otkit.emd2_sample(x, y, metric="euclidean", return_plan=True)
    >>> lg["G"].toarray()
    array([[0.5, 0. ],
           [0. , 0.5]])

    References
    ----------
    .. [1] Ahuja, R. K., Magnanti, T. L., Orlin, J. B. (1993). Network Flows, ch. 11. Prentice Hall.
    """
    torch = _autograd.torch_module(X_a, X_b, a, b)
    if torch is not None:
        return _emd2_sample_torch(torch, X_a, X_b, a, b, metric, numItermax, log, return_plan, center_dual,
                                  check_marginals, backend)
    Xa, Xb, a, b = _sample_problem(X_a, X_b, a, b, metric, check_marginals)
    I, J, X, cost, lg = _solve_sample(Xa, Xb, a, b, metric.lower(), numItermax, center_dual, backend)
    if not (log or return_plan):
        return cost
    if return_plan:
        lg["G"] = _plan(I, J, X, (a.size, b.size), sparse=True)
    lg["support"] = (I, J, X)
    return cost, lg


def emd_sample(X_a, X_b, a=None, b=None, metric="sqeuclidean", numItermax=None, log=False, center_dual=True,
               check_marginals=True, backend="auto"):
    r"""Exact optimal plan between two point clouds, as a ``scipy.sparse.coo_matrix`` (no cost matrix).

    Same solver and arguments as :func:`otkit.emd2_sample`; the plan has at most n + m - 1 nonzeros, so it
    is returned sparse (``.toarray()`` for the dense (n, m) array when it fits). Torch tensors in: a sparse
    COO tensor of X_a's dtype and device, without a graph (the plan of an LP is piecewise constant in its
    inputs; differentiate :func:`otkit.emd2_sample` instead).

    Examples
    --------
    >>> import numpy as np, otkit
    >>> x = np.array([[0.0], [1.0]]); y = np.array([[1.1], [0.1]])
    >>> otkit.emd_sample(x, y).toarray()
    array([[0. , 0.5],
           [0.5, 0. ]])
    """
    torch = _autograd.torch_module(X_a, X_b, a, b)
    if torch is not None:
        _autograd.check_same_device(torch, ("X_a", "X_b", "a", "b"), X_a, X_b, a, b)
        ref = X_a if isinstance(X_a, torch.Tensor) else X_b
        host = _to_host(torch)
        G, lg = emd_sample(host(X_a), host(X_b), host(a), host(b), metric=metric, numItermax=numItermax, log=True,
                           center_dual=center_dual, check_marginals=check_marginals, backend=backend)
        idx = torch.as_tensor(np.stack([G.row, G.col]), device=ref.device)
        Gt = torch.sparse_coo_tensor(idx, torch.as_tensor(G.data, dtype=ref.dtype, device=ref.device), G.shape)
        return (Gt, lg) if log else Gt
    Xa, Xb, a, b = _sample_problem(X_a, X_b, a, b, metric, check_marginals)
    I, J, X, cost, lg = _solve_sample(Xa, Xb, a, b, metric.lower(), numItermax, center_dual, backend)
    G = _plan(I, J, X, (a.size, b.size), sparse=True)
    return (G, lg) if log else G


def _to_host(torch):
    """t -> a NumPy copy of a torch tensor (detached, on the host); other values unchanged."""
    return lambda t: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t


def _emd2_sample_torch(torch, X_a, X_b, a, b, metric, numItermax, log, return_plan, center_dual, check_marginals,
                       backend):
    """emd2_sample on torch tensors: the LP value rebuilt in torch on the plan's support (n + m - 1 terms), so
    autograd gives sum_j P_ij grad c(x_i, y_j) in the points; the centred potentials enter through
    <u, a - a.detach()> + <v, b - b.detach()> (value unchanged, gradient u in a and v in b, as emd2)."""
    ref = X_a if isinstance(X_a, torch.Tensor) else X_b
    _autograd.check_same_device(torch, ("X_a", "X_b", "a", "b"), X_a, X_b, a, b)
    host = _to_host(torch)
    cost, lg = emd2_sample(host(X_a), host(X_b), host(a), host(b), metric=metric, numItermax=numItermax, log=True,
                           return_plan=return_plan, center_dual=center_dual, check_marginals=check_marginals,
                           backend=backend)
    I, J, X = lg.pop("support")
    dev, dt = ref.device, ref.dtype
    xa = torch.as_tensor(X_a, dtype=dt, device=dev)
    xb = torch.as_tensor(X_b, dtype=dt, device=dev)
    It, Jt = torch.as_tensor(I, device=dev), torch.as_tensor(J, device=dev)
    d2 = ((xa[It] - xb[Jt]) ** 2).sum(-1)
    c = d2 if metric.lower() == "sqeuclidean" else torch.sqrt(torch.clamp(d2, min=torch.finfo(dt).tiny))
    value = (torch.as_tensor(X, dtype=dt, device=dev) * c).sum()
    for w, pot in ((a, lg["u"]), (b, lg["v"])):
        if isinstance(w, torch.Tensor) and w.requires_grad:
            pc = pot - pot.mean()  # emd2's convention for the weights' gradient
            value = value + (torch.as_tensor(pc, dtype=dt, device=dev) * (w - w.detach())).sum()
    if not (log or return_plan):
        return value
    return value, lg
