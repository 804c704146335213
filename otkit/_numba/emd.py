"""Numba fallback of the network simplex (csrc/cpu/emd_cpu.cpp), same algorithm and answers.

``emd_network_simplex(M, a, b, max_iter)`` has the signature and return value of the C++
binding ``otkit._ext.emd_network_simplex``:
``(I, J, X, alpha, beta, cost, niter, status)``. See csrc/cpu/emd_cpu.cpp for the algorithm
(row-minimum initial basis made strongly feasible, block-search pricing on the fly from M,
Cunningham's leaving-arc rule, subtree re-rooting).
"""
import math

import numba
import numpy as np

from . import _interrupt

_OK = 0
_MAX_ITER = 1
_INFEASIBLE = 3
_SHORTLIST = 16  # cells per row offered to the least-cost phase of the initial basis


@numba.njit(cache=True, nogil=True)
def _cost(M, rows, cols, i, j):
    return M[rows[i], cols[j]]


@numba.njit(cache=True, nogil=True)
def _link(thread, rev, u, v):
    thread[u] = v
    rev[v] = u


@numba.njit(cache=True, nogil=True)
def _build_thread(n, parent, thread, rev, size, last):
    """The preorder thread (circular), subtree sizes and last nodes from parent (see emd_cpu.cpp,
    build_thread): depth first from the root (sink 0), children in increasing node id."""
    N = parent.size
    root = n
    off = np.zeros(N + 1, np.int64)
    for v in range(N):
        if parent[v] >= 0:
            off[parent[v] + 1] += 1
    for v in range(N):
        off[v + 1] += off[v]
    fill = off[:N].copy()
    kids = np.empty(N, np.int64)
    for v in range(N):
        if parent[v] >= 0:
            kids[fill[parent[v]]] = v
            fill[parent[v]] += 1
    order = np.empty(N, np.int64)
    stack = np.empty(N, np.int64)
    sp = 0
    stack[sp] = root
    sp += 1
    k = 0
    while sp > 0:
        sp -= 1
        v = stack[sp]
        order[k] = v
        k += 1
        for c in range(off[v + 1] - 1, off[v] - 1, -1):
            stack[sp] = kids[c]
            sp += 1
    for k in range(N):
        _link(thread, rev, order[k], order[(k + 1) % N])
    for k in range(N - 1, -1, -1):
        v = order[k]
        size[v] = 1
        for c in range(off[v], off[v + 1]):
            size[v] += size[kids[c]]
        last[v] = order[k + size[v] - 1]


@numba.njit(cache=True, nogil=True)
def _potentials(M, rows, cols, n, parent, thread, pot):
    """Potentials from the tree (in preorder); returns max |M_ij| over the tree arcs (the tolerance scale)."""
    root = n
    pot[root] = 0.0
    scale = 0.0
    v = thread[root]
    while v != root:
        p = parent[v]
        if v < n:
            c = _cost(M, rows, cols, v, p - n)
            pot[v] = c + pot[p]
        else:
            c = _cost(M, rows, cols, p, v - n)
            pot[v] = pot[p] - c
        scale = max(scale, abs(c))
        v = thread[v]
    return scale


@numba.njit(cache=True, nogil=True)
def _allocate(i, j, ra, rb, pen, row_closed, ei, ej, ex, E, rows_open, cols_open):
    """x = min(ra_i, rb_j) at the open cell (i, j); closes one line (see emd_cpu.cpp)."""
    x = min(ra[i], rb[j])
    ei[E] = i
    ej[E] = j
    ex[E] = x
    E += 1
    if rows_open == 1 and cols_open == 1:
        return E, rows_open, cols_open, True, True
    if cols_open == 1 or (rows_open > 1 and ra[i] <= rb[j]):
        rb[j] = max(rb[j] - x, 0.0)
        ra[i] = 0.0
        row_closed[i] = True
        return E, rows_open - 1, cols_open, False, True
    ra[i] = max(ra[i] - x, 0.0)
    rb[j] = 0.0
    pen[j] = np.inf
    return E, rows_open, cols_open - 1, False, False


@numba.njit(cache=True, nogil=True)
def _init_basis(M, rows, cols, sa, sb, parent, flow, a0, b0):
    # a0, b0: warm-start potentials (one per row / column of the network) or empty arrays;
    # both rules then run on the reduced costs M_ij - a0_i - b0_j (see emd_cpu.cpp)
    n = rows.size
    m = cols.size
    N = n + m
    ra = sa.copy()
    rb = sb.copy()
    pen = np.zeros(m)  # -b0_j, and +inf once a column is closed
    warm = a0.size == n and b0.size == m
    if warm:
        for j in range(m):
            pen[j] = -b0[j]
    ei = np.empty(N - 1, np.int64)
    ej = np.empty(N - 1, np.int64)
    ex = np.empty(N - 1)
    E = 0
    rows_open = n
    cols_open = m
    done = False
    row_closed = np.zeros(n, np.bool_)
    # phase 1: least-cost rule on the K cheapest cells of every row
    K = min(m, _SHORTLIST)
    cval = np.empty(n * K)
    cidx = np.empty(n * K, np.int64)
    kv = np.empty(K)
    kj = np.empty(K, np.int64)
    nc = 0
    for i in range(n):
        Mi = M[rows[i]]
        cnt = 0
        for j in range(m):
            c = Mi[cols[j]] + pen[j]
            if cnt == K and not (c < kv[K - 1]):
                continue
            if cnt < K:
                p = cnt
                cnt += 1
            else:
                p = K - 1
            while p > 0 and kv[p - 1] > c:
                kv[p] = kv[p - 1]
                kj[p] = kj[p - 1]
                p -= 1
            kv[p] = c
            kj[p] = j
        ai = a0[i] if warm else 0.0
        for k in range(cnt):
            cval[nc] = kv[k] - ai
            cidx[nc] = i * m + kj[k]
            nc += 1
    # by cost, then by cell index (as std::sort of (cost, index) pairs)
    o1 = np.argsort(cidx[:nc], kind="mergesort")
    order = o1[np.argsort(cval[:nc][o1], kind="mergesort")]
    for r in range(nc):
        if done:
            break
        c = cidx[order[r]]
        i = c // m
        j = c % m
        if row_closed[i] or pen[j] == np.inf:
            continue
        E, rows_open, cols_open, done, _ = _allocate(i, j, ra, rb, pen, row_closed, ei, ej, ex, E, rows_open,
                                                     cols_open)
    # phase 2: row-minimum rule for the rows still open
    for i in range(n):
        if done:
            break
        if row_closed[i]:
            continue
        Mi = M[rows[i]]
        while True:
            vmin = np.inf
            for j in range(m):
                v = Mi[cols[j]] + pen[j]
                if v < vmin:
                    vmin = v
            j = 0
            while j < m and not (Mi[cols[j]] + pen[j] == vmin):
                j += 1
            E, rows_open, cols_open, done, closed = _allocate(i, j, ra, rb, pen, row_closed, ei, ej, ex, E,
                                                              rows_open, cols_open)
            if closed:
                break
    # adjacency (CSR)
    off = np.zeros(N + 1, np.int64)
    for e in range(E):
        off[ei[e] + 1] += 1
        off[n + ej[e] + 1] += 1
    for v in range(N):
        off[v + 1] += off[v]
    fill = off[:N].copy()
    adj = np.empty(2 * E, np.int64)
    adjx = np.empty(2 * E)
    for e in range(E):
        s = ei[e]
        t = n + ej[e]
        adj[fill[s]] = t
        adjx[fill[s]] = ex[e]
        fill[s] += 1
        adj[fill[t]] = s
        adjx[fill[t]] = ex[e]
        fill[t] += 1
    # orient from the root (sink 0), breadth first
    root = n
    order = np.empty(N, np.int64)
    seen = np.zeros(N, np.bool_)
    order[0] = root
    seen[root] = True
    tail = 1
    h = 0
    while h < tail:
        v = order[h]
        h += 1
        for k in range(off[v], off[v + 1]):
            w = adj[k]
            if seen[w]:
                continue
            seen[w] = True
            parent[w] = v
            flow[w] = adjx[k]
            order[tail] = w
            tail += 1
    # strong feasibility (see emd_cpu.cpp)
    for h in range(1, tail):
        l = order[h]
        if l < n or flow[l] > 0.0:
            continue
        k = -1
        for q in range(off[l], off[l + 1]):
            w = adj[q]
            if parent[w] == l and flow[w] > 0.0:
                k = w
                break
        if k < 0:
            continue
        g = parent[parent[l]]
        fk = flow[k]
        parent[k] = g
        flow[k] = 0.0
        parent[l] = k
        flow[l] = fk


@numba.njit(cache=True, nogil=True)
def _price(M, rows, cols, n, m, pot, state, block, eps, gather):
    """Block search; state = [cur_i, cur_j]; returns (i, j) or (-1, -1)."""
    total = n * m
    scanned = 0
    budget = block
    best = -eps
    bi = -1
    bj = -1
    i = state[0]
    j = state[1]
    while scanned < total:
        ln = min(m - j, budget)
        Mi = M[rows[i]]
        pi = pot[i]
        vmin = np.inf
        if gather:
            for k in range(j, j + ln):
                v = Mi[cols[k]] + pot[n + k]
                vmin = min(vmin, v)
        else:
            for k in range(j, j + ln):
                v = Mi[k] + pot[n + k]
                vmin = min(vmin, v)
        r = vmin - pi
        if r < best:
            best = r
            bi = i
            for k in range(j, j + ln):
                if Mi[cols[k]] + pot[n + k] == vmin:
                    bj = k
                    break
        scanned += ln
        budget -= ln
        j += ln
        if j == m:
            j = 0
            i += 1
            if i == n:
                i = 0
        if budget == 0:
            if bi >= 0:
                break
            budget = block
    state[0] = i
    state[1] = j
    return bi, bj


@numba.njit(cache=True, nogil=True)
def _pivot(n, s_i, t_j, rc, parent, thread, rev, size, last, flow, pot, mark, stamp, stem, pieces):
    """One pivot (see emd_cpu.cpp, pivot and retree); returns True when the potentials of the part of the
    tree outside the moved subtree were shifted (the root's potential then leaves 0)."""
    s = s_i
    t = n + t_j
    ms = 2 * stamp
    mt = 2 * stamp + 1
    u = s
    v = t
    mark[u] = ms
    mark[v] = mt
    apex = -1
    while True:
        if u >= 0:
            u = parent[u]
            if u >= 0:
                if mark[u] == mt:
                    apex = u
                    break
                mark[u] = ms
        if v >= 0:
            v = parent[v]
            if v >= 0:
                if mark[v] == ms:
                    apex = v
                    break
                mark[v] = mt
    min_s = np.inf
    min_t = np.inf
    leave_s = -1
    leave_t = -1
    x = s
    while x != apex:
        if x < n and flow[x] < min_s:
            min_s = flow[x]
            leave_s = x
        x = parent[x]
    x = t
    while x != apex:
        if x >= n and flow[x] <= min_t:
            min_t = flow[x]
            leave_t = x
        x = parent[x]
    tside = min_t <= min_s
    theta = min_t if tside else min_s
    q = leave_t if tside else leave_s
    if theta > 0.0:
        x = s
        while x != apex:
            flow[x] += -theta if x < n else theta
            x = parent[x]
        x = t
        while x != apex:
            flow[x] += -theta if x >= n else theta
            x = parent[x]
        flow[q] = 0.0
    e_in = t if tside else s
    e_out = s if tside else t
    shift = -rc if tside else rc
    ns = 0
    x = e_in
    while True:
        stem[ns] = x
        ns += 1
        if x == q:
            break
        x = parent[x]
    _retree(stem, ns, e_out, apex, parent, thread, rev, size, last, pieces)
    cur = e_in
    newpar = e_out
    carry = theta
    while True:
        oldpar = parent[cur]
        oldflow = flow[cur]
        parent[cur] = newpar
        flow[cur] = carry
        if cur == q:
            break
        newpar = cur
        carry = oldflow
        cur = oldpar
    N = parent.size
    moved = size[e_in]
    if 2 * moved <= N:
        x = e_in
        for _ in range(moved):
            pot[x] += shift
            x = thread[x]
        return False
    x = thread[last[e_in]]
    for _ in range(N - moved):
        pot[x] -= shift
        x = thread[x]
    return True


@numba.njit(cache=True, nogil=True)
def _retree(stem, ns, e_out, apex, parent, thread, rev, size, last, pieces):
    """Thread, sizes and last nodes after moving stem[ns - 1]'s subtree under e_out through the reversed
    stem (parent still the old tree); the piece-by-piece splice of emd_cpu.cpp, retree."""
    k = ns - 1
    q = stem[k]
    p = parent[q]
    Lq = last[q]
    Zq = size[q]
    for t in range(1, k + 1):  # pieces[t] = (a_end, b_start or -1, b_end, old size of stem[t])
        below = stem[t - 1]
        pieces[t, 0] = rev[below]
        pieces[t, 1] = thread[last[below]] if last[stem[t]] != last[below] else -1
        pieces[t, 2] = last[stem[t]]
        pieces[t, 3] = size[stem[t]]
    before = rev[q]
    _link(thread, rev, before, thread[Lq])
    x = p
    while x >= 0 and last[x] == Lq:
        last[x] = before
        x = parent[x]
    x = p
    while x != apex:
        size[x] -= Zq
        x = parent[x]
    tail = last[stem[0]]
    below_size = size[stem[0]]
    for t in range(1, k + 1):
        _link(thread, rev, tail, stem[t])
        tail = pieces[t, 0]
        if pieces[t, 1] >= 0:
            _link(thread, rev, tail, pieces[t, 1])
            tail = pieces[t, 2]
        size[stem[t]] = Zq - below_size
        below_size = pieces[t, 3]
    size[stem[0]] = Zq
    for t in range(k + 1):
        last[stem[t]] = tail
    nxt = thread[e_out]
    _link(thread, rev, e_out, stem[0])
    _link(thread, rev, tail, nxt)
    if last[e_out] == e_out:
        x = e_out
        while x >= 0 and last[x] == e_out:
            last[x] = tail
            x = parent[x]
    x = e_out
    while x != apex:
        size[x] += Zq
        x = parent[x]


@numba.njit(cache=True, nogil=True)
def _load_basis(n, m, sa, sb, wpar, wflow, parent, flow):
    """Warm-start tree given in network node ids (wpar: -1 root, < -1 or out of range: invalid).

    Accepted only if it is a bipartite spanning tree rooted at sink 0 whose flows are finite,
    >= 0, > 0 on the arcs of sinks (strongly feasible) and meet the masses to 1e-9 of the total
    (see emd_cpu.cpp). Returns False (nothing usable) otherwise.
    """
    N = n + m
    root = n
    net = np.zeros(N)
    for v in range(N):
        p = wpar[v]
        if v == root:
            if p != -1:
                return False
            continue
        if p < 0 or p >= N or (p < n) == (v < n):
            return False
        f = wflow[v]
        if not (f >= 0.0 and f < np.inf):
            return False
        if v >= n and not (f > 0.0):
            return False
        parent[v] = p
        flow[v] = f
        net[v] += f
        net[p] += f
    tol = 1e-9 * sa.sum()
    for i in range(n):
        if not (abs(net[i] - sa[i]) <= tol):
            return False
    for j in range(m):
        if not (abs(net[n + j] - sb[j]) <= tol):
            return False
    st = np.zeros(N, np.int8)  # 0 not seen, 1 on the current path, 2 reaches the root
    st[root] = 2
    path = np.empty(N, np.int64)
    for v in range(N):
        k = 0
        x = v
        while st[x] == 0:
            st[x] = 1
            path[k] = x
            k += 1
            x = parent[x]
        if st[x] == 1:
            return False
        for q in range(k):
            st[path[q]] = 2
    return True


@numba.njit(cache=True, nogil=True)
def _solve(M, rows, cols, sa, sb, max_iter, gather, a0, b0, wpar, wflow, stop):
    n = rows.size
    m = cols.size
    N = n + m
    parent = np.full(N, -1, np.int64)
    thread = np.full(N, -1, np.int64)
    rev = np.full(N, -1, np.int64)
    size = np.ones(N, np.int64)
    last = np.full(N, -1, np.int64)
    stem = np.empty(N, np.int64)
    pieces = np.empty((N, 4), np.int64)
    flow = np.zeros(N)
    pot = np.zeros(N)
    mark = np.zeros(N, np.int64)
    block = max(int(math.sqrt(n * m)), 16)
    block = min(block, n * m)
    warm = False
    if wpar.size == N:
        warm = _load_basis(n, m, sa, sb, wpar, wflow, parent, flow)
        if not warm:
            parent[:] = -1
            flow[:] = 0.0
    if not warm:
        _init_basis(M, rows, cols, sa, sb, parent, flow, a0, b0)
    _build_thread(n, parent, thread, rev, size, last)
    # optimality tolerance: 2^-40 max |M_ij| over the basis arcs (see emd_cpu.cpp)
    scale = _potentials(M, rows, cols, n, parent, thread, pot)
    eps = math.ldexp(scale, -40)
    state = np.zeros(2, np.int64)
    it = 0
    status = _OK
    stamp = 0
    while True:
        bi, bj = _price(M, rows, cols, n, m, pot, state, block, eps, gather)
        if bi < 0:
            scale = _potentials(M, rows, cols, n, parent, thread, pot)
            eps = math.ldexp(scale, -40)
            bi, bj = _price(M, rows, cols, n, m, pot, state, block, eps, gather)
            if bi < 0:
                break
        if it >= max_iter or stop[0] != 0:  # stop: Ctrl-C (see _interrupt); the result is discarded then
            status = _MAX_ITER
            break
        rc = _cost(M, rows, cols, bi, bj) - pot[bi] + pot[n + bj]
        stamp += 1
        if _pivot(n, bi, bj, rc, parent, thread, rev, size, last, flow, pot, mark, stamp, stem, pieces) and \
                abs(pot[n]) > math.ldexp(scale, 10):  # re-anchor drifted potentials (see emd_cpu.cpp)
            scale = _potentials(M, rows, cols, n, parent, thread, pot)
            eps = math.ldexp(scale, -40)
        c = abs(_cost(M, rows, cols, bi, bj))
        if c > scale:
            scale = c
            eps = math.ldexp(scale, -40)
        it += 1
    _potentials(M, rows, cols, n, parent, thread, pot)
    # output: the support and the cost (compensated sum)
    I = np.empty(N - 1, np.int64)
    J = np.empty(N - 1, np.int64)
    X = np.empty(N - 1)
    k = 0
    s = 0.0
    c = 0.0
    for v in range(N):
        p = parent[v]
        if p < 0:
            continue
        x = flow[v]
        if not (x > 0.0):
            continue
        i = v if v < n else p
        j = (p if v < n else v) - n
        I[k] = rows[i]
        J[k] = cols[j]
        X[k] = x
        k += 1
        term = x * _cost(M, rows, cols, i, j)
        t = s + term
        if abs(s) >= abs(term):
            c += (s - t) + term
        else:
            c += (term - t) + s
        s = t
    return I[:k].copy(), J[:k].copy(), X[:k].copy(), pot[:n].copy(), -pot[n:], s + c, it, status, parent, flow, warm


def _basis_to_network(basis, rows, cols, n, m):
    """(parent, flow) in original node ids -> network node ids (-3 where it cannot be one)."""
    par = np.asarray(basis[0])
    flw = np.asarray(basis[1])
    if par.dtype != np.int64 or flw.dtype != np.float64 or par.ndim != 1 or flw.ndim != 1:
        raise TypeError("emd_network_simplex: basis must be (parent int64, flow float64) 1-D arrays")
    if par.shape[0] != n + m or flw.shape[0] != n + m:
        raise ValueError("emd_network_simplex: basis arrays must have n + m entries")
    node_of = np.full(n + m, -3, np.int64)  # original id -> network id
    node_of[rows] = np.arange(rows.size)
    node_of[n + cols] = rows.size + np.arange(cols.size)
    orig = np.concatenate([rows, n + cols])
    p = par[orig]
    ok = (p >= 0) & (p < n + m)
    wpar = np.where(ok, node_of[np.clip(p, 0, n + m - 1)], np.where(p == -1, -1, -3))
    return np.ascontiguousarray(wpar, dtype=np.int64), np.ascontiguousarray(flw[orig])


def _check_transport_problem(M, a, b):
    """What the network simplex cannot solve raises, as in the C++ binding (csrc/bind/emd_bind.cpp)."""
    for name, w in (("a", a), ("b", b)):
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
        if bad.size:
            raise ValueError(f"emd_network_simplex: {name}[{bad[0]}] = {w[bad[0]]}: weights must be finite and >= 0")
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > 1e-9 * max(sa, sb):
        raise ValueError(f"emd_network_simplex: a and b must have the same total mass (sum(a) = {sa}, sum(b) = {sb})")
    if not np.isfinite(M).all():
        i, j = np.argwhere(~np.isfinite(M))[0]
        raise ValueError(f"emd_network_simplex: M[{i}, {j}] is not finite")


def emd_network_simplex(M, a, b, max_iter, alpha0=None, beta0=None, basis=None, return_basis=False):
    """Exact OT by the primal network simplex: ``(I, J, X, alpha, beta, cost, niter, status)``.

    Same contract as ``otkit._ext.emd_network_simplex`` (C-contiguous float64 inputs checked by
    the caller; duals are NaN on zero-mass rows/columns; optional finite warm-start potentials
    ``alpha0`` (n,), ``beta0`` (m,); optional warm-start ``basis`` (parent, flow) from an earlier
    solve with the same masses; ``return_basis`` appends ``(parent, flow, warm)``).
    """
    n, m = M.shape
    if a.shape[0] != n or b.shape[0] != m:
        raise ValueError("emd_network_simplex: a and b must have lengths M.shape[0] and M.shape[1]")
    if max_iter < 0:
        raise ValueError("numItermax must be >= 0")
    _check_transport_problem(M, a, b)
    if (alpha0 is None) != (beta0 is None):
        raise ValueError("emd_network_simplex: give both alpha0 and beta0, or neither")
    if alpha0 is not None:
        alpha0 = np.asarray(alpha0, dtype=np.float64)
        beta0 = np.asarray(beta0, dtype=np.float64)
        if alpha0.shape != (n,) or beta0.shape != (m,):
            raise ValueError("emd_network_simplex: alpha0 and beta0 must have lengths M.shape[0] and M.shape[1]")
        if not (np.isfinite(alpha0).all() and np.isfinite(beta0).all()):
            raise ValueError("emd_network_simplex: alpha0 is not finite" if not np.isfinite(alpha0).all()
                             else "emd_network_simplex: beta0 is not finite")
    rows = np.flatnonzero(a > 0).astype(np.int64)
    cols = np.flatnonzero(b > 0).astype(np.int64)
    alpha = np.full(n, np.nan)
    beta = np.full(m, np.nan)
    if basis is not None:
        wpar, wflow = _basis_to_network(basis, rows, cols, n, m)
    else:
        wpar = np.empty(0, np.int64)
        wflow = np.empty(0)
    if rows.size == 0 or cols.size == 0:
        out = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), alpha, beta, 0.0, 0, _INFEASIBLE)
        if return_basis:
            out += ((np.full(n + m, -2, np.int64), np.zeros(n + m), False),)
        return out
    if alpha0 is None:
        a0 = b0 = np.empty(0)
    else:
        a0 = np.ascontiguousarray(alpha0[rows])
        b0 = np.ascontiguousarray(beta0[cols])
    I, J, X, al, be, cost, it, status, par, flw, warm = _interrupt.run(
        _solve, M, rows, cols, np.ascontiguousarray(a[rows]), np.ascontiguousarray(b[cols]), int(max_iter),
        cols.size != m, a0, b0, wpar, wflow, work=float(rows.size) * cols.size * (rows.size + cols.size))
    alpha[rows] = al
    beta[cols] = be
    out = (I, J, X, alpha, beta, float(cost), int(it), int(status))
    if return_basis:
        orig = np.concatenate([rows, n + cols])
        bpar = np.full(n + m, -2, np.int64)
        bflow = np.zeros(n + m)
        bpar[orig] = np.where(par >= 0, orig[np.maximum(par, 0)], -1)
        bflow[orig] = flw
        out += ((bpar, bflow, bool(warm)),)
    return out


def emd_network_simplex_cloud(X, Y, a, b, max_iter, euclidean=False, alpha0=None, beta0=None):
    """Exact OT between point clouds: ``(I, J, X, alpha, beta, cost, niter, status)``, as
    ``otkit._ext.emd_network_simplex_cloud``.

    The Numba fallback builds the (n, m) cost matrix (the compiled kernel computes the costs on the fly
    instead) and runs the dense network simplex on it: the same optimum (the compiled kernel prices in
    smaller blocks, so the pivot counts differ). A MemoryError says so before allocating a matrix that does
    not fit.
    """
    from ..bregman import _kernel_fits

    n, m = X.shape[0], Y.shape[0]
    if not _kernel_fits(n, m, np.float64):
        raise MemoryError(f"the Numba fallback of the point-cloud network simplex needs the {n} x {m} cost matrix "
                          f"({n * m * 8 / 2**30:.1f} GiB), which does not fit in memory; the compiled extension "
                          "(otkit._ext) computes the costs on the fly: see otkit.show_config() for why it is not "
                          "loaded")
    from ..emd import cloud_costs

    M = np.empty((n, m))
    chunk = max(1, 2**22 // max(1, m))
    for i0 in range(0, n, chunk):
        M[i0:i0 + chunk] = cloud_costs(X[i0:i0 + chunk], Y, euclidean)
    return emd_network_simplex(M, a, b, max_iter, alpha0, beta0)
