r"""The Wasserstein proximal step on generator parameters.

.. math::
    \theta_{k+1} = \arg\min_\theta\; F(\rho_\theta) + \frac{1}{2h}\, d_W(\theta, \theta_k)^2,
    \qquad \rho_\theta = g_{\theta\#}p,

with :math:`d_W^2` estimated on a latent batch (relaxed: mean squared displacement of the same
latent points; exact / sinkhorn: W2^2 / Sinkhorn divergence between the two pushforwards) and the
argmin replaced by ``inner_steps`` optimizer steps.
"""
from __future__ import annotations

import inspect
import math

import torch

from ..metric import KINDS, w2_samples
from ..utils import check_positive_int, check_reg


class NonFiniteGeneratorError(FloatingPointError):
    """The generator produced NaN or inf."""


def _check_h(h):
    if isinstance(h, (int, float)) and not isinstance(h, bool) and math.isinf(h) and h > 0:
        return math.inf  # h = inf: no proximal term, plain generator steps
    return check_reg(h, "h")


def _as_args(z):
    """The generator's positional inputs: ``z`` itself, or the items of a tuple/list (e.g. ``(noise, labels)``)."""
    return tuple(z) if isinstance(z, (tuple, list)) else (z,)


def check_latent(generator, z):
    """``z`` is a tensor of shape (batch, ...) with batch >= 1, or a tuple/list of such tensors with one
    batch size (a conditional generator's ``(noise, labels)``); floating tensors must be finite. When
    the generator declares ``latent_dim`` the noise must have that many entries per sample."""
    args = _as_args(z)
    if not args or not all(isinstance(t, torch.Tensor) for t in args):
        got = type(z).__name__ if not isinstance(z, (tuple, list)) else [type(t).__name__ for t in z]
        raise TypeError(f"z must be a torch.Tensor or a tuple of tensors (the generator's inputs), got {got}")
    batch = args[0].shape[0] if args[0].ndim else 0
    for t in args:
        single_vector = t.ndim == 1 and len(args) == 1  # a lone 1-D tensor is not a batch of latents
        if t.ndim < 1 or single_vector or t.shape[0] == 0:
            raise ValueError(f"z must be a (batch, ...) tensor with batch >= 1, got shape {tuple(t.shape)}")
        if t.shape[0] != batch:
            raise ValueError(f"the tensors of z must have one batch size, got shapes {[tuple(a.shape) for a in args]}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError("z has non-finite entries (NaN or inf)")
    dim = getattr(generator, "latent_dim", None)
    noise = args[0]
    if dim is not None and noise[0].numel() != int(dim):
        raise ValueError(f"z has shape {tuple(noise.shape)} but the generator takes latent_dim = {dim}: "
                         f"expected shape (batch, {dim}) or (batch, {dim}, 1, 1)")
    return args


def _standard_normal_like(z):
    """Fresh latents shaped like ``z``: every floating tensor redrawn from N(0, I), the others (labels) kept."""
    args = _as_args(z)
    new = tuple(torch.randn(t.shape, dtype=t.dtype, device=t.device) if t.is_floating_point() else t for t in args)
    return new if isinstance(z, (tuple, list)) else new[0]


def _takes_latent(loss_fn):
    """Whether ``loss_fn`` accepts ``(samples, z)`` (a conditional loss) rather than ``(samples)``."""
    try:
        inspect.signature(loss_fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): call it with the samples only
        return False
    return True


class WassersteinProximal:
    r"""Wasserstein proximal (JKO) step for a generator, for any ``torch.nn.Module``.

    Each :meth:`step` freezes the current parameters as :math:`\theta_k` and runs ``inner_steps``
    steps of ``optimizer`` on

    .. math::
        \mathrm{loss\_fn}(g_\theta(z_t)) + \frac{1}{2h}\, \mathrm{metric}\big(g_\theta(z_t), g_{\theta_k}(z_t)\big),

    with a fresh latent batch :math:`z_t` at every inner step (``resample_latent=True``, the paper's
    form) or the same ``z`` throughout. :math:`g_{\theta_k}` is a functional call of the generator with
    a frozen copy of the parameters and buffers of :math:`\theta_k`, in the generator's own mode and with
    the same random numbers (dropout masks) as the current forward pass: the proximal term and its
    gradient are exactly 0 at :math:`\theta = \theta_k` whatever the layers, and the anchor pass
    leaves the generator's BatchNorm running statistics untouched.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps latents to samples of shape (B, ...): any architecture (convolutional with latents of
        shape (B, nz, 1, 1), conditional with ``(noise, labels)`` inputs, ...), on any device.
    optimizer : torch.optim.Optimizer
        Over the generator's parameters (any optimizer).
    h : float
        Proximal step size, > 0; ``math.inf`` drops the proximal term (plain generator steps).
    inner_steps : int
        Optimizer steps per proximal step, >= 1.
    metric : {"relaxed", "exact", "sinkhorn"}
        ``"relaxed"`` is RWP, the mean squared displacement :math:`\frac1B\sum_i\|g_\theta(z_i) - g_{\theta_k}(z_i)\|^2`;
        ``"exact"`` the exact W2^2 between the two empirical pushforwards (the plan by ``otkit.emd`` on the
        CPU: the B x B cost is copied there and the plan back; the gradient flows through the cost on the
        device by the envelope theorem); ``"sinkhorn"`` the debiased Sinkhorn divergence at ``reg``
        (``otkit.sinkhorn`` to a marginal error ``stop_thr``).
    reg : float, optional
        For ``metric="sinkhorn"`` (default: 5% of the median cost).
    resample_latent : bool
        Draw a new latent batch at every inner step (default) or reuse ``z``.
    latent_sampler : callable, optional
        ``latent_sampler(batch_size) -> z`` (a tensor or a tuple of tensors, like ``z``). Default: every
        floating tensor of ``z`` redrawn from N(0, I) with its shape, dtype and device (torch's global
        RNG); integer tensors (labels) kept.
    stop_thr : float
        Marginal error at which the Sinkhorn solves of ``metric="sinkhorn"`` stop.

    Examples
    --------
    >>> import torch
    >>> from otkit.proximal import WassersteinProximal
    >>> g = torch.nn.Linear(2, 2)
    >>> prox = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-2), h=0.1, inner_steps=5)
    >>> float(prox.penalty(torch.randn(64, 2)))  # 0 at the anchor theta_k
    0.0
    >>> info = prox.step(lambda x: (x ** 2).sum(1).mean(), torch.randn(64, 2))
    >>> sorted(info)
    ['loss', 'loss_start', 'prox', 'total']

    With mixed precision, wrap the call: ``with torch.autocast("cuda"): prox.step(loss_fn, z, scaler=scaler)``
    (the proximal term is computed in float32 at least).

    References
    ----------
    A. T. Lin, W. Li, S. Osher, G. Montúfar, "Wasserstein proximal of GANs", GSI 2021.
    """

    def __init__(self, generator, optimizer, h=0.1, inner_steps=10, metric="relaxed", reg=None,
                 resample_latent=True, latent_sampler=None, stop_thr=1e-5):
        if not isinstance(generator, torch.nn.Module):
            raise TypeError(f"generator must be a torch.nn.Module, got {type(generator).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if metric not in KINDS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {KINDS}")
        if latent_sampler is not None and not callable(latent_sampler):
            raise TypeError(f"latent_sampler must be callable (batch_size -> z), got {type(latent_sampler).__name__}")
        self.generator = generator
        self.optimizer = optimizer
        self.h = _check_h(h)
        self.inner_steps = check_positive_int(inner_steps, "inner_steps")
        self.metric = metric
        self.reg = None if reg is None else check_reg(reg)
        self.resample_latent = bool(resample_latent)
        self.latent_sampler = latent_sampler
        self.stop_thr = check_reg(stop_thr, "stop_thr")
        self._yk = None
        self.set_anchor()

    # -- the anchor g_{theta_k} ----------------------------------------------------------------
    def set_anchor(self):
        """Freeze the current parameters and buffers as :math:`\\theta_k` (done by :meth:`step`)."""
        g = self.generator
        self._anchor_params = {k: p.detach().clone() for k, p in g.named_parameters()}
        self._anchor_buffers = {k: b.detach().clone() for k, b in g.named_buffers()}

    def _anchor_forward(self, args):
        # fresh copies of the buffers: a BatchNorm in training mode updates the running statistics it is given
        state = {**self._anchor_params, **{k: b.clone() for k, b in self._anchor_buffers.items()}}
        with torch.no_grad():
            return torch.func.functional_call(self.generator, state, args)

    def _pair(self, z):
        """``(g_theta(z), g_theta_k(z))`` with the same random numbers; the anchor is None when h = inf."""
        args = check_latent(self.generator, z)
        y = None
        try:
            if not math.isinf(self.h):
                dev = args[0].device
                devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
                with torch.random.fork_rng(devices=devices):
                    y = self._anchor_forward(args)  # the current pass below replays the same random stream
            x = self.generator(*args)
        except RuntimeError as exc:
            if y is not None:
                raise  # the anchor accepted z: not a shape problem of z
            raise ValueError(f"the generator does not accept z of shape {[tuple(a.shape) for a in args]}: "
                             f"{str(exc).splitlines()[0]}") from exc
        if not torch.isfinite(x).all():
            raise NonFiniteGeneratorError("the generator produced non-finite values (NaN or inf)")
        return x, y

    # -- the proximal term ---------------------------------------------------------------------
    def proximal_term(self, x, y_k=None):
        r""":math:`\mathrm{metric}(x, y_k) / (2h)` (0 when h is infinite); ``y_k`` defaults to the anchor
        output of the last :meth:`step`'s first latent batch."""
        if math.isinf(self.h):
            return x.new_zeros(())
        y_k = self._yk if y_k is None else y_k
        if y_k is None:
            raise RuntimeError("no anchor output y_k: call step() first or pass y_k")
        flat_x, flat_y = x.reshape(x.shape[0], -1), y_k.reshape(y_k.shape[0], -1)
        if flat_x.dtype in (torch.float16, torch.bfloat16):  # AMP: the metric in float32
            flat_x, flat_y = flat_x.float(), flat_y.float()
        flat_y = flat_y.to(flat_x.dtype)
        return w2_samples(flat_x, flat_y, kind=self.metric, reg=self.reg, stop_thr=self.stop_thr) / (2.0 * self.h)

    def penalty(self, z):
        r"""The proximal term :math:`\mathrm{metric}(g_\theta(z), g_{\theta_k}(z)) / (2h)` at the current
        parameters, differentiable in them (0 at :math:`\theta_k`)."""
        x, y = self._pair(z)
        return self.proximal_term(x, y) if y is not None else x.new_zeros(())

    def _new_latent(self, z):
        if self.latent_sampler is not None:
            return self.latent_sampler(_as_args(z)[0].shape[0])
        return _standard_normal_like(z)

    def step(self, loss_fn, z, scaler=None):
        """One proximal step from the current parameters (the new :math:`\\theta_k`).

        ``loss_fn(samples)`` -- or ``loss_fn(samples, z)`` when it takes two arguments (conditional
        losses) -- is the generator loss; ``z`` the first latent batch. ``scaler`` (a
        ``torch.amp.GradScaler``) scales the backward pass for float16 training. Returns a dict with the
        generator loss at the first and last inner step, the last proximal term and their sum.
        Raises :class:`NonFiniteGeneratorError` when the generator output is not finite.
        """
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        with_latent = _takes_latent(loss_fn)
        self.set_anchor()
        loss_start = None
        zt = z
        for t in range(self.inner_steps):
            if t and self.resample_latent:
                zt = self._new_latent(z)
            self.optimizer.zero_grad(set_to_none=True)
            x, y = self._pair(zt)
            if t == 0:
                self._yk = y
            loss = loss_fn(x, zt) if with_latent else loss_fn(x)
            prox = self.proximal_term(x, y) if y is not None else x.new_zeros(())
            total = loss + prox
            if loss_start is None:
                loss_start = float(loss.detach())
            if scaler is not None:
                scaler.scale(total).backward()
                scaler.step(self.optimizer)
                scaler.update()
            else:
                total.backward()
                self.optimizer.step()
        return {"loss_start": loss_start, "loss": float(loss.detach()), "prox": float(prox.detach()),
                "total": float(total.detach())}
