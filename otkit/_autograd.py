r"""Torch autograd for otkit's losses: the value comes from the compiled kernels, the gradient from the
optimality conditions (no unrolling of the iterations).

* ``emd2``: the LP value W(a, b, M); dW/dM = the plan G, dW/da = u - mean(u), dW/db = v - mean(v) (the dual
  potentials, POT's convention).
* ``sinkhorn2``: the linear cost L = <P, M> of the entropic plan P = diag(e^{f/reg}) K diag(e^{g/reg}).
  ``grad="implicit"`` (default): the exact derivative of L through the Sinkhorn fixed point (P 1 = a,
  P^T 1 = b). With r = (M o P) 1, s = (M o P)^T 1 and the symmetric positive semi-definite

      H = [[diag(P 1), P], [P^T, diag(P^T 1)]],   H (x, y) = (r, s)

  (solved by conjugate gradients; H has the null vector (1, -1), and (r, s) is orthogonal to it),
  dL/dM = P + P o (x_i + y_j - M_ij) / reg, dL/da = x, dL/db = y, with the constant of the null direction
  chosen so that y.b = 0: at convergence this is the gradient POT's torch backend gets by differentiating
  through its iterations (its last update u = a / K v keeps the row marginal exact).
  ``grad="envelope"``: the gradient of the regularized objective <P, M> + reg sum P (log P - 1) instead:
  dM = P, da = f, db = g (with g.b = 0) -- cheaper (no linear solve), but not the derivative of the value returned.
  When the solver did not converge, both are the derivatives at the returned plan of the fixed-point
  equations, not of the truncated iteration.

Double backward is not supported (the backward is not itself differentiable).
"""
from __future__ import annotations

import sys

import numpy as np

GRADS = ("implicit", "envelope")


def torch_module(*xs):
    """torch when one of xs is a torch tensor (torch already imported by the caller), else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return torch if any(isinstance(x, torch.Tensor) for x in xs) else None


def _to_solver(torch, x):
    """A tensor as the solver takes it: NumPy for CPU tensors (no copy), the detached tensor on a GPU."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return x.numpy() if x.device.type == "cpu" else x
    return x


def host_or_device(torch, x):
    """A tensor as the solver takes it, without a graph (see _to_solver)."""
    return _to_solver(torch, x)


def as_tensor_like(torch, value, *xs):
    """A result as a tensor of the dtype and device of the reference tensor among xs (M first)."""
    ref = _ref(torch, *xs)
    if torch.is_tensor(value):
        return value.to(dtype=ref.dtype, device=ref.device)
    return torch.as_tensor(np.asarray(value), dtype=ref.dtype, device=ref.device)


def _ref(torch, *xs):
    """The tensor whose dtype and device the result takes: M's, else the first tensor (POT's rule)."""
    for x in xs:
        if isinstance(x, torch.Tensor):
            return x
    raise TypeError("no tensor")


def check_same_device(torch, names, *xs):
    devs = {str(x.device) for x in xs if isinstance(x, torch.Tensor)}
    if len(devs) > 1:
        raise TypeError(f"{', '.join(names)} are tensors on different devices ({', '.join(sorted(devs))}); "
                        "put them on one device")


def _no_double_backward(torch, name):
    """create_graph=True (a second derivative wanted): the backward is not differentiable, say so."""
    if torch.is_grad_enabled():
        raise RuntimeError(f"otkit.{name}: double backward (create_graph=True) is not supported; the gradient is "
                           "computed from the solver's optimality conditions and is not itself differentiable")


def _center(x, y, b):
    """x + c, y - c with (y - c).b = 0 (the convention of POT's unrolled sinkhorn2 gradient)."""
    c = (y @ b) / b.sum()
    return x + c, y - c


def _cg(P, pa, pb, r, s, tol=1e-11, maxiter=None, l1=1.0, l2=1.0):
    """Solve [[l1 diag(pa), l1 l2 P], [l1 l2 P^T, l2 diag(pb)]] (x, y) = (r, s) by conjugate gradients
    preconditioned by the diagonal (float64 tensors). Balanced (l1 = l2 = 1): the preconditioned operator has
    eigenvalues 1 +- sigma_k (sigma_k: singular values of diag(pa)^-1/2 P diag(pb)^-1/2, sigma_1 = 1 the null
    direction (1, -1), removed from the residual at each step), so CG needs about
    sqrt((1 + sigma_2) / (1 - sigma_2)) times fewer steps than Sinkhorn's own iterations. Unbalanced
    (l1 l2 < 1): 1 +- sqrt(l1 l2) sigma_k, positive definite. Returns (x, y, steps, relative residual)."""
    n, m = P.shape
    maxiter = maxiter or 10 * (n + m)
    ia, ib = torch_where_pos(l1 * pa), torch_where_pos(l2 * pb)
    l12 = l1 * l2
    mv, rmv = (P.mv, P.rmv) if isinstance(P, _CloudPlan) else ((lambda v: P @ v), (lambda u: P.T @ u))

    def H(x, y):
        return l1 * pa * x + l12 * mv(y), l12 * rmv(x) + l2 * pb * y

    def proj(x, y):
        if l12 < 1.0:  # no null direction
            return x, y
        c = (x.sum() - y.sum()) / (n + m)
        return x - c, y + c

    x, y = r.new_zeros(n), s.new_zeros(m)
    rx, ry = proj(r, s)
    zx, zy = rx * ia, ry * ib
    px, py = zx.clone(), zy.clone()
    rz = float(rx @ zx + ry @ zy)
    r0 = float(rx @ rx + ry @ ry) ** 0.5
    res = r0
    it = 0
    for it in range(maxiter):
        if res <= tol * max(r0, 1e-300):
            break
        hx, hy = H(px, py)
        alpha = rz / float(px @ hx + py @ hy)
        x, y = x + alpha * px, y + alpha * py
        rx, ry = proj(rx - alpha * hx, ry - alpha * hy)
        zx, zy = rx * ia, ry * ib
        rz_new = float(rx @ zx + ry @ zy)
        px, py = zx + (rz_new / rz) * px, zy + (rz_new / rz) * py
        rz = rz_new
        res = float(rx @ rx + ry @ ry) ** 0.5
    return x, y, it, res / max(r0, 1e-300)


def torch_where_pos(p):
    """1 / p where p > 0, else 0 (empty rows or columns: their unknowns are decoupled)."""
    return (p > 0) / p.clamp_min(1e-300)


def sinkhorn2_autograd(torch, a, b, M, reg, grad, solve):
    """sinkhorn2 on torch tensors: ``solve(a, b, M)`` (host or device arrays) -> (value, log with log_u,
    log_v); returns a 0-d tensor of M's dtype and device, connected to the graph of a, b, M."""
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {GRADS}, got {grad!r}")
    ref = _ref(torch, M, a, b)
    check_same_device(torch, ("a", "b", "M"), a, b, M)

    class _Sinkhorn2(torch.autograd.Function):
        @staticmethod
        def forward(ctx, at, bt, Mt):
            value, lg = solve(_to_solver(torch, at), _to_solver(torch, bt), _to_solver(torch, Mt))
            logu = torch.as_tensor(np.asarray(lg["log_u"]) if not torch.is_tensor(lg["log_u"]) else lg["log_u"])
            logv = torch.as_tensor(np.asarray(lg["log_v"]) if not torch.is_tensor(lg["log_v"]) else lg["log_v"])
            ctx.save_for_backward(Mt.detach(), logu.to(Mt.device), logv.to(Mt.device))
            ctx.lg = lg
            value = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value,
                                    dtype=Mt.dtype, device=Mt.device)
            return value.reshape(()) if logu.ndim == 1 else value.reshape(-1)

        @staticmethod
        def backward(ctx, gout):
            _no_double_backward(torch, "sinkhorn2")
            Mt, logu, logv = ctx.saved_tensors
            M64 = Mt.to(torch.float64)
            batched = logu.ndim == 2
            lus = logu.to(torch.float64).reshape(logu.shape[0], -1)
            lvs = logv.to(torch.float64).reshape(logv.shape[0], -1)
            gouts = gout.to(torch.float64).reshape(-1)
            gM = torch.zeros_like(M64) if M_t is not None and M_t.requires_grad else None
            ga = torch.zeros(lus.shape[0], dtype=torch.float64, device=M64.device)
            gbs = []
            for k in range(lus.shape[1]):  # one problem per column of b (the batched forward was one call)
                lu, lv, g = lus[:, k], lvs[:, k], gouts[k]
                P = (M64 / -reg).add_(lu[:, None]).add_(lv[None, :]).exp_()  # in place: one n x m temporary
                pa, pb = P.sum(1), P.sum(0)
                if grad == "envelope":
                    x, y = _center(reg * lu, reg * lv, pb)
                    if gM is not None:
                        gM += g * P
                else:
                    MP = M64 * P
                    x, y, _, _ = _cg(P, pa, pb, MP.sum(1), MP.sum(0))
                    del MP
                    x, y = _center(x, y, pb)
                    if gM is not None:  # dM = P (1 + (x_i + y_j - M_ij) / reg), in place
                        gM += (M64 / -reg).add_(x[:, None] / reg).add_(y[None, :] / reg).add_(1.0).mul_(P).mul_(g)
                ga += g * x
                gbs.append(g * y)
            gb = torch.stack(gbs, 1) if batched else gbs[0]
            out = []
            for t, gt in ((a_t, ga), (b_t, gb), (M_t, gM)):
                out.append(gt.to(dtype=t.dtype, device=t.device)
                           if isinstance(t, torch.Tensor) and t.requires_grad else None)
            return tuple(out)

    a_t, b_t, M_t = (x if isinstance(x, torch.Tensor) else None for x in (a, b, M))
    at = a if isinstance(a, torch.Tensor) else a
    bt = b if isinstance(b, torch.Tensor) else b
    Mt = M if isinstance(M, torch.Tensor) else torch.as_tensor(np.asarray(M, dtype=np.float64), device=ref.device)
    out = _Sinkhorn2.apply(at, bt, Mt)
    return out


def emd2_autograd(torch, a, b, M, solve):
    """emd2 on torch tensors: ``solve(a, b, M)`` -> (cost, log with G, u, v) on NumPy arrays; returns a 0-d
    tensor of M's dtype and device with POT's gradients (G, u, v centred)."""
    ref = _ref(torch, M, a, b)
    check_same_device(torch, ("a", "b", "M"), a, b, M)

    class _Emd2(torch.autograd.Function):
        @staticmethod
        def forward(ctx, at, bt, Mt):
            host = lambda x: x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x  # noqa: E731
            cost, lg = solve(host(at), host(bt), host(Mt))
            u, v = np.asarray(lg["u"]), np.asarray(lg["v"])
            ctx.grads = lg["G"], u - u.mean(), v - v.mean()
            return torch.as_tensor(float(cost), dtype=ref.dtype, device=ref.device)

        @staticmethod
        def backward(ctx, gout):
            _no_double_backward(torch, "emd2")
            G, u, v = ctx.grads
            out = []
            for t, gt in ((a_t, u), (b_t, v), (M_t, G)):
                if isinstance(t, torch.Tensor) and t.requires_grad:
                    out.append(gout * torch.as_tensor(np.asarray(gt), dtype=t.dtype, device=t.device))
                else:
                    out.append(None)
            return tuple(out)

    a_t, b_t, M_t = (x if isinstance(x, torch.Tensor) else None for x in (a, b, M))
    return _Emd2.apply(a, b, M)


def _like(torch, x, ref):
    """Results as tensors like ref: floating arrays and scalars take ref's dtype and device, integer arrays
    its device; tuples and lists element by element; anything else (log dicts, None) unchanged."""
    if isinstance(x, (tuple, list)):
        return type(x)(_like(torch, e, ref) for e in x)
    if isinstance(x, np.ndarray) or isinstance(x, (np.floating, float)) and not isinstance(x, bool):
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            return torch.as_tensor(arr, dtype=ref.dtype, device=ref.device)
        if arr.dtype.kind in "iu":
            return torch.as_tensor(arr, device=ref.device)
    return x


def tensors_in_out(name, ref_args):
    """Decorator for the functions that have no torch gradient yet: torch CPU tensors among the arguments are
    read as NumPy (no copy), and array results come back as tensors like the first tensor of `ref_args`
    (POT's rule: M's type, else the inputs'). A tensor that requires grad gives a warning (the result has
    no graph; never silently); tensors in GPU memory raise (no GPU kernel: copy them with .cpu())."""
    import functools
    import inspect
    import warnings

    def deco(fn):
        sig = inspect.signature(fn)

        def call(*a, **kw):
            # the warnings fn raises for its caller (stacklevel=2) would name this wrapper: they are re-issued
            # for the caller of the wrapper
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = fn(*a, **kw)
            for w in caught:
                if w.filename == __file__:
                    warnings.warn(w.message, w.category, stacklevel=3)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return out

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            torch = sys.modules.get("torch")
            if torch is None:
                return call(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            tensors = {k: v for k, v in bound.arguments.items() if isinstance(v, torch.Tensor)}
            if not tensors:
                return call(*args, **kwargs)
            gpu = [k for k, v in tensors.items() if v.device.type != "cpu"]
            if gpu:
                raise TypeError(f"otkit.{name}: {', '.join(gpu)} in GPU memory, but {name} has no GPU kernel yet; "
                                "copy the inputs to the host explicitly (x.cpu())")
            if any(v.requires_grad for v in tensors.values()):
                warnings.warn(f"otkit.{name} returns results without an autograd graph (no gradient yet; "
                              "differentiable: sinkhorn2, emd2, sinkhorn_divergence)", UserWarning, stacklevel=2)
            ref = next((tensors[k] for k in ref_args if k in tensors), next(iter(tensors.values())))
            for k, v in tensors.items():
                bound.arguments[k] = v.detach().numpy()
            return _like(torch, call(*bound.args, **bound.kwargs), ref)

        return wrapper

    return deco


def unbalanced2_autograd(torch, a, b, M, reg, reg_m1, reg_m2, reg_type, total, solve):
    r"""sinkhorn_unbalanced2 on torch tensors (one b): ``solve(a, b, M)`` (host arrays) -> (value, plan);
    returns a 0-d tensor of M's dtype and device connected to the graph of a, b, M.

    The plan solves the fixed point f = l1 (log a - log K e^g), g = l2 (log b - log K^T e^f) with
    l = reg_m / (reg_m + reg) (l = 1 for an infinite reg_m) and K = c o exp(-M / reg), c = a b^T for
    reg_type "kl", 1 for "entropy". The value is T(P, a, b, M): <P, M> (``returnCost="linear"``) or POT's
    total <P, M> + reg sum P log(P / c) + reg_m1 sum r log(r / a) + reg_m2 sum s log(s / b) (r = P 1,
    s = P^T 1). Its derivative through the fixed point, with Q = dT/dP and (x, y) solving

        [[l1 diag(r), l1 l2 P], [l1 l2 P^T, l2 diag(s)]] (x, y) = (l1 (Q o P) 1, l2 (Q o P)^T 1),

    is dT/dM = (dT/dM at fixed P) + P o (l1 x_i + l2 y_j - Q_ij) / reg, dT/da = (dT/da at fixed P) + r o x / a
    ("kl") or l1 r o x / a ("entropy"), dT/db likewise.
    """
    check_same_device(torch, ("a", "b", "M"), a, b, M)
    l1 = 1.0 if np.isinf(reg_m1) else reg_m1 / (reg_m1 + reg)
    l2 = 1.0 if np.isinf(reg_m2) else reg_m2 / (reg_m2 + reg)
    kl = reg_type == "kl"

    class _Unbalanced2(torch.autograd.Function):
        @staticmethod
        def forward(ctx, at, bt, Mt):
            host = lambda x: x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x  # noqa: E731
            ha, hb, hM = host(at), host(bt), host(Mt)
            value, plan = solve(ha, hb, hM)
            ctx.plan, ctx.hM = np.asarray(plan, dtype=np.float64), np.asarray(hM, dtype=np.float64)
            ctx.ha = None if ha is None else np.asarray(ha, dtype=np.float64)
            ctx.hb = None if hb is None else np.asarray(hb, dtype=np.float64)
            ref = Mt if isinstance(Mt, torch.Tensor) else next(x for x in (at, bt) if isinstance(x, torch.Tensor))
            return torch.as_tensor(float(value), dtype=ref.dtype, device=ref.device)

        @staticmethod
        def backward(ctx, gout):
            _no_double_backward(torch, "sinkhorn_unbalanced2")
            P, Mh = torch.as_tensor(ctx.plan), torch.as_tensor(ctx.hM)
            n, m = P.shape
            r, s = P.sum(1), P.sum(0)

            def weights(h, k):
                return torch.as_tensor(h) if h is not None and h.size else torch.full((k,), 1.0 / k, dtype=P.dtype)

            ha, hb = weights(ctx.ha, n), weights(ctx.hb, m)
            ia, ib = torch_where_pos(ha), torch_where_pos(hb)
            pos = P > 0
            # Q = dT/dP and the derivatives of T at fixed P
            Q, gM, ga, gb = Mh.clone(), P.clone(), torch.zeros_like(r), torch.zeros_like(s)
            if total:
                c = ha[:, None] * hb[None, :] if kl else torch.ones_like(P)
                Q += reg * (torch.where(pos, torch.log(torch.where(pos, P, 1.0) / c), 0.0) + 1.0)
                if kl:
                    ga -= reg * r * ia
                    gb -= reg * s * ib
                if np.isfinite(reg_m1):
                    Q += reg_m1 * (torch.log(torch.where(r > 0, r, 1.0) * ia.clamp_min(1e-300)) + 1.0)[:, None]
                    ga -= reg_m1 * r * ia
                if np.isfinite(reg_m2):
                    Q += reg_m2 * (torch.log(torch.where(s > 0, s, 1.0) * ib.clamp_min(1e-300)) + 1.0)[None, :]
                    gb -= reg_m2 * s * ib
            QP = Q * P
            x, y, _, _ = _cg(P, r, s, l1 * QP.sum(1), l2 * QP.sum(0), l1=l1, l2=l2)
            if l1 * l2 >= 1.0:
                x, y = _center(x, y, s)
            gM += P * (l1 * x[:, None] + l2 * y[None, :] - Q) / reg
            ga += r * x * ia * (1.0 if kl else l1)
            gb += s * y * ib * (1.0 if kl else l2)
            g = gout.detach().to(torch.float64).cpu()
            out = []
            for t, gt in ((a_t, ga), (b_t, gb), (M_t, gM)):
                out.append((g * gt).to(dtype=t.dtype, device=t.device)
                           if isinstance(t, torch.Tensor) and t.requires_grad else None)
            return tuple(out)

    a_t, b_t, M_t = (x if isinstance(x, torch.Tensor) else None for x in (a, b, M))
    return _Unbalanced2.apply(a, b, M)


class _CloudPlan:
    """The plan P_ij = exp(f_i + g_j - c(x_i, y_j) / reg) of two point clouds, never stored: products with
    P and P^T, its marginals and its rows come from blocks of about 2^22 entries computed on the fly."""

    BLOCK = 1 << 22  # entries per block (32 MiB in float64)

    def __init__(self, torch, x, y, f, g, reg, cost):
        self.torch, self.x, self.y, self.f, self.g, self.reg, self.cost = torch, x, y, f, g, reg, cost
        self.n, self.m = x.shape[0], y.shape[0]
        self.shape = (self.n, self.m)
        self.step = max(1, self.BLOCK // max(self.m, 1))

    def blocks(self):
        for i0 in range(0, self.n, self.step):
            yield i0, min(self.n, i0 + self.step)

    def cost_block(self, x_rows, y):
        from .utils import dist

        return dist(x_rows, y, metric=self.cost)

    def rows(self, i0, i1):
        """(P[i0:i1], C[i0:i1])"""
        C = self.cost_block(self.x[i0:i1], self.y)
        return (self.f[i0:i1, None] + self.g[None, :] - C / self.reg).exp(), C

    def mv(self, v):
        return self.torch.cat([self.rows(i0, i1)[0] @ v for i0, i1 in self.blocks()])

    def rmv(self, u):
        out = u.new_zeros(self.m)
        for i0, i1 in self.blocks():
            out += self.rows(i0, i1)[0].T @ u[i0:i1]
        return out


def cloud_sinkhorn2_autograd(torch, a, b, x, y, cost, reg, grad, solve):
    """sinkhorn2 on a PointCloud of torch tensors: ``solve(a, b, x, y)`` (host arrays) -> (value, log with
    log_u, log_v); returns a 0-d tensor of x's dtype connected to the graph of a, b, x and y.

    The gradient of <P, C> in C is the one of the dense case (``grad="implicit"``: through the fixed point,
    one CG solve whose products with P are computed block by block; ``"envelope"``: dC = P, one pass); it
    reaches the points through the cost, block by block (dx_i = sum_j dC_ij dc(x_i, y_j)/dx_i by torch's
    autograd on each block of c), so no n x m array is ever stored.
    """
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {GRADS}, got {grad!r}")
    check_same_device(torch, ("a", "b", "x", "y"), a, b, x, y)

    class _Cloud2(torch.autograd.Function):
        @staticmethod
        def forward(ctx, at, bt, xt, yt):
            host = lambda t: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t  # noqa: E731
            value, lg = solve(host(at), host(bt), host(xt), host(yt))
            ctx.lu = torch.as_tensor(np.asarray(lg["log_u"], dtype=np.float64))
            ctx.lv = torch.as_tensor(np.asarray(lg["log_v"], dtype=np.float64))
            ctx.x64 = torch.as_tensor(np.asarray(host(xt), dtype=np.float64))
            ctx.y64 = torch.as_tensor(np.asarray(host(yt), dtype=np.float64))
            return torch.as_tensor(float(value), dtype=xt.dtype, device=xt.device)

        @staticmethod
        def backward(ctx, gout):
            _no_double_backward(torch, "sinkhorn2")
            P = _CloudPlan(torch, ctx.x64, ctx.y64, ctx.lu, ctx.lv, reg, cost)
            # one pass for the marginals of P and (implicit) the right-hand side (C o P) 1, (C o P)^T 1
            pa, pb = torch.zeros(P.n, dtype=torch.float64), torch.zeros(P.m, dtype=torch.float64)
            r, s = torch.zeros_like(pa), torch.zeros_like(pb)
            for i0, i1 in P.blocks():
                Pb, Cb = P.rows(i0, i1)
                pa[i0:i1] = Pb.sum(1)
                pb += Pb.sum(0)
                if grad != "envelope":
                    MP = Pb * Cb
                    r[i0:i1] = MP.sum(1)
                    s += MP.sum(0)
            if grad == "envelope":
                xs, ys = None, None
                ga, gb = _center(reg * ctx.lu, reg * ctx.lv, pb)
            else:
                xs, ys, _, _ = _cg(P, pa, pb, r, s)
                xs, ys = _center(xs, ys, pb)
                ga, gb = xs, ys
            g = gout.detach().to(torch.float64).cpu()
            need_x = isinstance(x_t, torch.Tensor) and x_t.requires_grad
            need_y = isinstance(y_t, torch.Tensor) and y_t.requires_grad
            gx, gy = torch.zeros_like(ctx.x64), torch.zeros_like(ctx.y64)
            if need_x or need_y:
                yl = ctx.y64.clone().requires_grad_(True)
                for i0, i1 in P.blocks():
                    xl = ctx.x64[i0:i1].clone().requires_grad_(True)
                    with torch.enable_grad():
                        C = P.cost_block(xl, yl)
                    with torch.no_grad():
                        Pb = (P.f[i0:i1, None] + P.g[None, :] - C / reg).exp()
                        gC = Pb if grad == "envelope" else Pb * (1.0 + (xs[i0:i1, None] + ys[None, :] - C) / reg)
                    dx, dy = torch.autograd.grad(C, (xl, yl), gC)
                    gx[i0:i1] = dx
                    gy += dy
            out = []
            for t, gt in ((a_t, ga), (b_t, gb), (x_t, gx), (y_t, gy)):
                out.append((g * gt).to(dtype=t.dtype, device=t.device)
                           if isinstance(t, torch.Tensor) and t.requires_grad else None)
            return tuple(out)

    a_t, b_t, x_t, y_t = (t if isinstance(t, torch.Tensor) else None for t in (a, b, x, y))
    return _Cloud2.apply(a, b, x, y)
