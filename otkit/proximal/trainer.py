"""The GAN trainer: your generator, discriminator and data, or the built-in ones of ``otkit gan``.

Progress bar, CSV (and optional TensorBoard) logging, checkpoints with resume (models, optimizers,
EMA weights, every RNG state, and a check that the checkpoint belongs to this run), callbacks, an
exponential moving average of the generator weights, PNGs.
"""
from __future__ import annotations

import copy
import csv
import os
import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..metric import KINDS
from ..utils import check_positive_int, check_reg
from .core import NonFiniteGeneratorError, WassersteinProximal, _check_h
from .datasets import check_dataset_name, make_dataset
from .losses import GANLoss, get_loss
from .metrics import evaluate
from .models import check_model_name, make_discriminator, make_generator

PROX_CHOICES = ("none",) + KINDS
CUSTOM = "custom"  # cfg.data when the training data is a tensor or a DataLoader


class ResumeError(ValueError):
    """``resume=True`` but the checkpoint cannot be loaded (corrupt, or written by an incompatible run)."""


CSV_FIELDS = ("step", "time", "wall", "d_loss", "g_loss", "prox", "w2", "modes", "hq")
# what a resumed run must share with the run that wrote the checkpoint (steps and budgets may grow)
RUN_DEFINING = ("data", "model", "hidden", "latent_dim", "loss", "prox", "h", "inner", "lr", "d_lr", "batch",
                "n_critic", "reg", "resample_latent", "ema", "seed")


@dataclass
class TrainConfig:
    """Everything a run needs that can be written down (the ``otkit gan`` options).

    ``step`` = ``n_critic`` discriminator steps, then one generator update: a Wasserstein proximal
    step (``inner`` optimizer steps on loss + d_W^2 / 2h, with a fresh latent batch at every inner
    step unless ``resample_latent=False``) when ``prox`` is a metric, or one plain optimizer step when
    ``prox="none"``. ``time_budget`` (seconds of training on ``clock``, evaluation excluded) stops a
    run early; ``clock="cpu"`` counts the process CPU time (fair on a shared machine), ``"wall"`` the
    wall-clock time. ``ema`` (a decay in (0, 1), e.g. 0.999) keeps an exponential moving average of the
    generator weights; evaluations and the returned ``ema_generator`` use it.
    """

    data: str = "ring8"
    loss: str = "ns"
    prox: str = "relaxed"
    h: float = 0.1
    inner: int = 10
    lr: float = 1e-3
    d_lr: float | None = None
    steps: int = 5000
    seed: int = 0
    out: str | None = None
    batch: int = 256
    n_critic: int | None = None
    eval_every: int | None = None
    eval_n: int = 2000
    ckpt_every: int | None = None
    time_budget: float | None = None
    eval_every_s: float | None = None
    clock: str = "wall"
    reg: float | None = None
    hidden: int = 128
    model: str = "mlp"
    latent_dim: int | None = None
    resample_latent: bool = True
    ema: float | None = None
    device: str | None = None
    tensorboard: bool = False
    snapshots: int = 0
    resume: bool = False
    progress: bool = True
    plots: bool = True
    threads: int | None = None

    def validate(self):
        if self.data != CUSTOM:
            check_dataset_name(self.data)
        get_loss(self.loss)
        check_model_name(self.model)
        if self.prox not in PROX_CHOICES:
            raise ValueError(f"unknown prox {self.prox!r}; choose one of {PROX_CHOICES}")
        self.h = _check_h(self.h)
        self.inner = check_positive_int(self.inner, "inner_steps")
        self.lr = check_reg(self.lr, "lr")
        if self.d_lr is not None:
            self.d_lr = check_reg(self.d_lr, "d_lr")
        self.steps = check_positive_int(self.steps, "steps")
        self.batch = check_positive_int(self.batch, "batch")
        self.eval_n = check_positive_int(self.eval_n, "eval_n", minimum=10)
        if self.n_critic is not None:
            self.n_critic = check_positive_int(self.n_critic, "n_critic")
        if self.clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {self.clock!r}")
        if self.time_budget is not None:
            self.time_budget = check_reg(self.time_budget, "time_budget")
        for name in ("eval_every", "ckpt_every", "threads", "latent_dim"):
            if getattr(self, name) is not None:
                setattr(self, name, check_positive_int(getattr(self, name), name))
        self.snapshots = check_positive_int(self.snapshots, "snapshots", minimum=0)
        if self.eval_every_s is not None:
            self.eval_every_s = check_reg(self.eval_every_s, "eval_every_s")
        if self.reg is not None:
            self.reg = check_reg(self.reg, "reg")
        if self.ema is not None and not (isinstance(self.ema, (int, float)) and 0.0 < self.ema < 1.0):
            raise ValueError(f"ema must be a decay in (0, 1) (e.g. 0.999) or None, got {self.ema!r}")
        if self.resume and not self.out:
            raise ValueError("resume=True needs out, the folder that holds checkpoint.pt")
        return self


@dataclass
class TrainResult:
    status: str  # "ok", "budget" (stopped by the time budget), "stopped" (by a callback) or "nonfinite"
    message: str
    steps_done: int
    train_time: float
    history: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    failed_step: int | None = None
    checkpoint: str | None = None
    files: list = field(default_factory=list)
    generator: object = field(default=None, repr=False)  # the trained torch module
    discriminator: object = field(default=None, repr=False)
    ema_generator: object = field(default=None, repr=False)  # the EMA of the generator (ema=...), else None
    snapshots: list = field(default_factory=list, repr=False)  # (time, samples) pairs (snapshots=K)


class _Clock:
    """Training time that can be paused (evaluation is not counted)."""

    def __init__(self, kind, start=0.0):
        self.now = time.process_time if kind == "cpu" else time.perf_counter
        self.acc = start
        self.t0 = None

    def start(self):
        self.t0 = self.now()

    def pause(self):
        if self.t0 is not None:
            self.acc += self.now() - self.t0
            self.t0 = None

    def elapsed(self):
        return self.acc + (self.now() - self.t0 if self.t0 is not None else 0.0)


def _write_csv(path, rows):
    fields = list(CSV_FIELDS) + sorted({k for r in rows for k in r} - set(CSV_FIELDS))
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({k: (int(float(v)) if k in ("step", "modes") else float(v)) for k, v in r.items() if v != ""})
    return out


class _Batches:
    """Training batches from a built-in data set, a tensor of samples, or a DataLoader (any iterable of
    batches; a batch may be ``(x, labels)``: x is used). Loaders are cycled, a new epoch when one ends."""

    def __init__(self, data, ds, batch, rng, device):
        self.ds, self.batch, self.rng, self.device = ds, batch, rng, device
        self.tensor = data if isinstance(data, torch.Tensor) else None
        self.loader = None if (ds is not None or self.tensor is not None) else data
        self._it = None
        if self.tensor is not None and self.tensor.shape[0] == 0:
            raise ValueError("data must hold at least one sample")
        if self.loader is not None and not hasattr(self.loader, "__iter__"):
            raise TypeError(f"data must be a data set name, a tensor of samples or a DataLoader, "
                            f"got {type(data).__name__}")

    def next(self):
        if self.ds is not None:
            x = self.ds.sample(self.batch, self.rng)
        elif self.tensor is not None:
            idx = torch.randint(0, self.tensor.shape[0], (self.batch,), generator=self.rng)
            x = self.tensor[idx.to(self.tensor.device)]
        else:
            try:
                x = next(self._it) if self._it is not None else None
            except StopIteration:
                x = None
            if x is None:
                self._it = iter(self.loader)
                try:
                    x = next(self._it)
                except StopIteration:
                    raise ValueError("data (the DataLoader) yields no batch") from None
            if isinstance(x, (tuple, list)):
                x = x[0]
        return x.to(self.device)


def _rng_states(rng):
    st = {"trainer": rng.get_state(), "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
          "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_states(rng, st):
    rng.set_state(st["trainer"])
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _ema_update(ema_model, model, decay):
    with torch.no_grad():
        for pe, p in zip(ema_model.parameters(), model.parameters()):
            pe.lerp_(p.detach(), 1.0 - decay)
        for be, b in zip(ema_model.buffers(), model.buffers()):
            be.copy_(b)


def train(config: TrainConfig | None = None, *, generator=None, discriminator=None, data=None,
          latent_sampler=None, g_optimizer=None, d_optimizer=None, eval_fn=None, callbacks=(),
          **kwargs) -> TrainResult:
    """Train a GAN, with or without the Wasserstein proximal generator update.

    Parameters
    ----------
    config : TrainConfig, optional
        The options (keywords in ``kwargs`` override them); see :class:`TrainConfig`.
    generator, discriminator : torch.nn.Module, optional
        Your own models (any architecture; the discriminator maps a batch of samples to (B,) or (B, 1)
        scores). Default: the models of ``model="mlp"|"dcgan"`` sized for the built-in data set.
    data : str, torch.Tensor or DataLoader, optional
        A built-in data set name (``ring8``, ``grid25``, ``digits``), a tensor of training samples
        (N, ...) drawn with replacement, or any iterable of batches (a ``torch.utils.data.DataLoader``;
        batches may be ``(x, labels)``). Resuming with a DataLoader starts a fresh epoch.
    latent_sampler : callable, optional
        ``latent_sampler(batch_size) -> z`` on the training device (a tensor or a tuple for a conditional
        generator). Default: N(0, I) latents of shape (B, latent_dim) (``(B, latent_dim, 1, 1)`` for the
        DCGAN), drawn with the run's seeded generator.
    g_optimizer, d_optimizer : torch.optim.Optimizer, optional
        Default: Adam(lr, betas=(0.5, 0.999)) (``d_lr`` for the discriminator).
    eval_fn : callable, optional
        ``eval_fn(generator) -> dict`` of metrics added to every evaluation row (CSV, TensorBoard,
        history); for your own data this is the only evaluation (the built-in data sets add W2 to
        held-out data, modes / classes and, on digits, the feature Frechet distance ``fd``).
    callbacks : iterable of callables
        ``cb(info)`` after every generator update; ``info`` holds ``step``, ``time``, ``d_loss``,
        ``g_loss``, ``prox``, ``generator``, ``discriminator``, ``ema_generator`` and ``row`` (the
        evaluation row when one was made at this step, else None). A callback returning True stops
        training (status ``"stopped"``).

    Writes under ``out`` (when given): ``log.csv`` (one row per evaluation), ``checkpoint.pt`` (the
    last good state; ``resume=True`` continues from it: ``FileNotFoundError`` when there is none,
    :class:`ResumeError` when it cannot be loaded or was written by a run with other settings),
    ``samples.png``, ``curves.png`` and, with ``tensorboard=True``, TensorBoard events in ``out/tb``.
    A generator that outputs NaN/inf stops the run: the checkpoint is left as it was (the last good
    state) and the result says at which step it happened.

    Examples
    --------
    >>> import torch
    >>> from otkit.proximal import train
    >>> G = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    >>> D = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.LeakyReLU(0.2), torch.nn.Linear(32, 1))
    >>> real = torch.randn(1000, 2) * 0.1 + 1.0
    >>> res = train(generator=G, discriminator=D, data=real, latent_sampler=lambda b: torch.randn(b, 4),
    ...             steps=20, batch=64, inner=2, progress=False, plots=False)
    >>> res.status, res.steps_done
    ('ok', 20)
    """
    if data is not None and not isinstance(data, str):
        kwargs["data"] = CUSTOM
        custom_data = data
    else:
        if isinstance(data, str):
            kwargs["data"] = data
        custom_data = None
    cfg = TrainConfig(**{**(asdict(config) if config else {}), **kwargs}).validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.data == CUSTOM and custom_data is None:
        raise ValueError("data='custom' needs the samples: pass data=<tensor or DataLoader>")
    ds = make_dataset(cfg.data) if cfg.data != CUSTOM else None
    loss = get_loss(cfg.loss) if not isinstance(cfg.loss, GANLoss) else cfg.loss
    n_critic = cfg.n_critic or loss.n_critic
    torch.manual_seed(cfg.seed)
    if ds is None and (generator is None or discriminator is None):
        raise ValueError("with your own data, pass generator= and discriminator= (the built-in models are "
                         "sized for the built-in data sets)")
    G = generator if generator is not None else make_generator(ds, hidden=cfg.hidden, model=cfg.model)
    D = discriminator if discriminator is not None else make_discriminator(ds, hidden=cfg.hidden, model=cfg.model)
    for name, m in (("generator", G), ("discriminator", D)):
        if not isinstance(m, torch.nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    device = torch.device(cfg.device) if cfg.device else next(G.parameters()).device
    G.to(device)
    D.to(device)
    g_opt = g_optimizer or torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    d_opt = d_optimizer or torch.optim.Adam(D.parameters(), lr=cfg.d_lr or cfg.lr, betas=(0.5, 0.999))
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema else None
    rng = torch.Generator().manual_seed(cfg.seed)

    latent_dim = cfg.latent_dim or getattr(G, "latent_dim", None) or (ds.latent_dim if ds is not None else None)
    if latent_sampler is None:
        if latent_dim is None:
            raise ValueError("the latent size is unknown: pass latent_dim=, latent_sampler=, or give the "
                             "generator a latent_dim attribute")
        shape = (latent_dim, 1, 1) if cfg.model == "dcgan" and generator is None else (latent_dim,)

        def normal_latents(b, gen):
            return torch.randn((b,) + shape, generator=gen).to(device)

        def latent_sampler(b):
            return normal_latents(b, rng)

        z_eval = normal_latents(cfg.eval_n, torch.Generator().manual_seed(10_000 + cfg.seed))
    elif not callable(latent_sampler):
        raise TypeError(f"latent_sampler must be callable (batch_size -> z), got {type(latent_sampler).__name__}")
    else:  # the user's sampler draws from torch's global RNG: one fixed evaluation batch per run
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(10_000 + cfg.seed)
            z_eval = latent_sampler(cfg.eval_n)
    prox = None
    if cfg.prox != "none":
        prox = WassersteinProximal(G, g_opt, h=cfg.h, inner_steps=cfg.inner, metric=cfg.prox, reg=cfg.reg,
                                   resample_latent=cfg.resample_latent, latent_sampler=latent_sampler)
    batches = _Batches(custom_data, ds, cfg.batch, rng, device)
    eval_n = cfg.eval_n
    eval_every = cfg.eval_every or max(1, cfg.steps // 20)
    ckpt_every = cfg.ckpt_every or eval_every

    files, ckpt_path, csv_path, writer = [], None, None, None
    if cfg.out:
        ckpt_path = os.path.join(cfg.out, "checkpoint.pt")
        if cfg.resume and not os.path.isfile(ckpt_path):
            raise FileNotFoundError(f"resume=True but there is no checkpoint to continue from: {ckpt_path}")
        os.makedirs(cfg.out, exist_ok=True)
        csv_path = os.path.join(cfg.out, "log.csv")
    if cfg.tensorboard:
        if not cfg.out:
            raise ValueError("tensorboard=True needs out, the folder for the event files")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("tensorboard=True needs the tensorboard package: pip install tensorboard") from exc
        writer = SummaryWriter(os.path.join(cfg.out, "tb"))

    start, history, t_start = 0, [], 0.0
    if cfg.resume:
        try:
            ck = torch.load(ckpt_path, weights_only=False, map_location=device)
        except Exception as exc:
            raise ResumeError(f"{ckpt_path} cannot be read ({type(exc).__name__}: {exc})") from exc
        old = ck.get("config", {}) if isinstance(ck, dict) else {}
        for key in RUN_DEFINING:
            if key in old and old[key] != getattr(cfg, key):
                raise ResumeError(f"{ckpt_path} was written by a run with {key} {old[key]!r}, "
                                  f"this run has {key} {getattr(cfg, key)!r}")
        try:
            G.load_state_dict(ck["G"])
            D.load_state_dict(ck["D"])
            g_opt.load_state_dict(ck["g_opt"])
            d_opt.load_state_dict(ck["d_opt"])
            if G_ema is not None:
                G_ema.load_state_dict(ck["G_ema"])
            if "rng_states" in ck:
                _set_rng_states(rng, ck["rng_states"])
            else:  # written by an earlier version: the trainer's generator only
                rng.set_state(ck["rng"])
            start, t_start = ck["step"], ck["time"]
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ResumeError(f"{ckpt_path} does not fit this run ({type(exc).__name__}: {first})") from exc
        if os.path.exists(csv_path):
            history = [r for r in _read_csv(csv_path) if r["step"] <= start]

    clock = _Clock(cfg.clock, t_start)
    wall0 = time.perf_counter()
    last_ckpt_step = start if (cfg.resume and start) else None
    last = {"d_loss": float("nan"), "g_loss": float("nan"), "prox": 0.0}
    snapshots = []
    snap_every = cfg.time_budget / cfg.snapshots if (cfg.snapshots and cfg.time_budget) else None
    next_snap = 0.0

    def generate(n=None):
        Ge = G_ema if G_ema is not None else G
        zz = z_eval if n is None else (z_eval[:n] if isinstance(z_eval, torch.Tensor) else tuple(t[:n] for t in z_eval))
        zz = zz if isinstance(zz, (tuple, list)) else (zz,)
        was = Ge.training
        Ge.eval()
        with torch.no_grad():
            x = Ge(*zz)
        Ge.train(was)
        return x.detach().float().cpu().numpy().reshape(x.shape[0], -1)

    def do_eval(step):
        clock.pause()
        row = {"step": step, "time": clock.elapsed(), "wall": time.perf_counter() - wall0, **last}
        if ds is not None:
            x = generate(eval_n)
            if np.isfinite(x).all():
                row.update(evaluate(ds, x, n=eval_n))
            else:
                row.update({"w2": float("nan"), "modes": 0, "hq": 0.0,
                            **({"fd": float("nan")} if ds.kind == "image" else {"kl": float("nan")})})
        if eval_fn is not None:
            with torch.no_grad():
                row.update({k: float(v) for k, v in eval_fn(G_ema if G_ema is not None else G).items()})
        history.append(row)
        if csv_path:
            _write_csv(csv_path, history)
        if writer is not None:
            for k, v in row.items():
                if k != "step":
                    writer.add_scalar(k, v, step)
            writer.flush()
        clock.start()
        return row

    def save_ckpt(step):
        nonlocal last_ckpt_step
        if not ckpt_path:
            return
        clock.pause()
        tmp = ckpt_path + ".tmp"
        state = {"G": G.state_dict(), "D": D.state_dict(), "g_opt": g_opt.state_dict(), "d_opt": d_opt.state_dict(),
                 "rng_states": _rng_states(rng), "step": step, "time": clock.elapsed(), "config": asdict(cfg)}
        if G_ema is not None:
            state["G_ema"] = G_ema.state_dict()
        torch.save(state, tmp)
        os.replace(tmp, ckpt_path)
        last_ckpt_step = step
        clock.start()

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not cfg.progress, desc=f"gan {cfg.data}/{cfg.loss}/{cfg.prox}")
    status, message, failed_step = "ok", "", None
    if not history:
        do_eval(start)
    clock.start()
    step = start
    next_eval_t = cfg.eval_every_s
    g_loss_fn = lambda x: loss.g_loss(D, x)  # noqa: E731
    try:
        while step < cfg.steps:
            if cfg.time_budget is not None and clock.elapsed() >= cfg.time_budget:
                status = "budget"
                break
            if snap_every is not None and clock.elapsed() >= next_snap:
                clock.pause()
                snapshots.append((clock.elapsed(), generate(min(eval_n, 500))))
                next_snap += snap_every
                clock.start()
            cur = step + 1
            for _ in range(n_critic):
                real = batches.next()
                z = latent_sampler(real.shape[0])
                with torch.no_grad():
                    fake = G(*(z if isinstance(z, (tuple, list)) else (z,)))
                if not torch.isfinite(fake).all():
                    raise NonFiniteGeneratorError("the generator produced non-finite values (NaN or inf)")
                d_opt.zero_grad(set_to_none=True)
                dl = loss.d_loss(D, real, fake)
                dl.backward()
                d_opt.step()
            z = latent_sampler(cfg.batch)
            if prox is not None:
                info = prox.step(g_loss_fn, z)
                gl, pv = info["loss"], info["prox"]
            else:
                g_opt.zero_grad(set_to_none=True)
                x = G(*(z if isinstance(z, (tuple, list)) else (z,)))
                if not torch.isfinite(x).all():
                    raise NonFiniteGeneratorError("the generator produced non-finite values (NaN or inf)")
                gll = g_loss_fn(x)
                gll.backward()
                g_opt.step()
                gl, pv = float(gll.detach()), 0.0
            if G_ema is not None:
                _ema_update(G_ema, G, cfg.ema)
            last.update(d_loss=float(dl.detach()), g_loss=gl, prox=pv)
            step = cur
            bar.update(1)
            row = None
            timed_eval = next_eval_t is not None and clock.elapsed() >= next_eval_t
            if step % eval_every == 0 or step == cfg.steps or timed_eval:
                row = do_eval(step)
                if "w2" in row:
                    bar.set_postfix(w2=f"{row['w2']:.3f}", modes=row["modes"])
                if timed_eval:
                    while next_eval_t <= clock.elapsed():
                        next_eval_t += cfg.eval_every_s
            if step % ckpt_every == 0 or step == cfg.steps:
                save_ckpt(step)
            if callbacks:
                info = {"step": step, "time": clock.elapsed(), **last, "generator": G, "discriminator": D,
                        "ema_generator": G_ema, "row": row}
                if any([bool(cb(info)) for cb in callbacks]):
                    status = "stopped"
                    break
    except NonFiniteGeneratorError:
        status, failed_step = "nonfinite", step + 1
        where = (f"the last good checkpoint {ckpt_path} (step {last_ckpt_step}) was kept"
                 if last_ckpt_step is not None else "no checkpoint had been written yet")
        message = (f"the generator produced non-finite values (NaN or inf) at step {failed_step}; "
                   f"training stopped and {where}")
    clock.pause()
    bar.close()
    if status != "nonfinite":
        if history[-1]["step"] != step:
            do_eval(step)
            clock.pause()
        if last_ckpt_step != step:
            save_ckpt(step)
            clock.pause()
        message = f"{step} steps in {clock.elapsed():.1f} s of training ({cfg.clock} clock)" + {
            "budget": " (time budget reached)", "stopped": " (stopped by a callback)"}.get(status, "")
    if snap_every is not None and status != "nonfinite":
        snapshots.append((clock.elapsed(), generate(min(eval_n, 500))))
    if writer is not None:
        writer.close()

    final, x = {}, None
    if status != "nonfinite":
        x = generate()
        if ds is not None:
            final = evaluate(ds, x, n=eval_n)
        if eval_fn is not None:
            with torch.no_grad():
                final.update({k: float(v) for k, v in eval_fn(G_ema if G_ema is not None else G).items()})
    elif cfg.out and cfg.plots and last_ckpt_step is not None and ds is not None:
        G.load_state_dict(torch.load(ckpt_path, weights_only=False, map_location=device)["G"])
        x = generate()
    if cfg.out and cfg.plots and ds is not None and x is not None:
        from .plots import save_samples

        p = os.path.join(cfg.out, "samples.png")
        title = (f"{cfg.data} {cfg.loss} prox={cfg.prox} step {step}: W2 {final['w2']:.3f}" if final
                 else f"last good checkpoint (step {last_ckpt_step})")
        save_samples(ds, x, p, title=title)
        files.append(p)
    if cfg.out and cfg.plots and ds is not None:
        from .plots import save_curves

        p = os.path.join(cfg.out, "curves.png")
        save_curves(history, p, title=f"{cfg.data} {cfg.loss} prox={cfg.prox} h={cfg.h:g} inner={cfg.inner} lr={cfg.lr:g}")
        files.append(p)
    if csv_path:
        files.insert(0, csv_path)
    return TrainResult(status=status, message=message, steps_done=step, train_time=clock.elapsed(),
                       history=history, final=final, failed_step=failed_step,
                       checkpoint=ckpt_path if last_ckpt_step is not None else None, files=files,
                       generator=G, discriminator=D, ema_generator=G_ema, snapshots=snapshots)


__all__ = ["TrainConfig", "TrainResult", "ResumeError", "train", "PROX_CHOICES"]
