"""The GAN trainer behind ``otkit gan``: progress bar, CSV log, checkpoints with resume, PNGs."""
from __future__ import annotations

import csv
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..metric import KINDS
from ..utils import check_positive_int, check_reg
from .core import NonFiniteGeneratorError, WassersteinProximal, _check_h
from .datasets import check_dataset_name, make_dataset
from .losses import get_loss
from .metrics import evaluate
from .models import make_discriminator, make_generator

PROX_CHOICES = ("none",) + KINDS


class ResumeError(ValueError):
    """``resume=True`` but the checkpoint cannot be loaded (corrupt, or written by an incompatible run)."""
CSV_FIELDS = ("step", "time", "wall", "d_loss", "g_loss", "prox", "w2", "modes", "hq")


@dataclass
class TrainConfig:
    """Everything a run needs (the ``otkit gan`` options).

    ``step`` = ``n_critic`` discriminator steps, then one generator update: a Wasserstein proximal
    step (``inner`` optimizer steps on loss + d_W^2 / 2h) when ``prox`` is a metric, or one plain
    optimizer step when ``prox="none"``. ``time_budget`` (seconds of training on ``clock``,
    evaluation excluded) stops a run early; ``clock="cpu"`` counts the process CPU time (fair on a
    shared machine), ``"wall"`` the wall-clock time.
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
    resume: bool = False
    progress: bool = True
    plots: bool = True
    threads: int | None = None

    def validate(self):
        check_dataset_name(self.data)
        get_loss(self.loss)
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
        for name in ("eval_every", "ckpt_every", "threads"):
            if getattr(self, name) is not None:
                setattr(self, name, check_positive_int(getattr(self, name), name))
        if self.eval_every_s is not None:
            self.eval_every_s = check_reg(self.eval_every_s, "eval_every_s")
        if self.reg is not None:
            self.reg = check_reg(self.reg, "reg")
        if self.resume and not self.out:
            raise ValueError("resume=True needs out, the folder that holds checkpoint.pt")
        return self


@dataclass
class TrainResult:
    status: str  # "ok", "budget" (stopped by the time budget) or "nonfinite"
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
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({k: (int(float(v)) if k in ("step", "modes") else float(v)) for k, v in r.items()})
    return out


def train(config: TrainConfig | None = None, **kwargs) -> TrainResult:
    """Train a GAN; see :class:`TrainConfig` for the options (keywords override ``config``).

    Writes under ``config.out`` (when given): ``log.csv`` (one row per evaluation), ``checkpoint.pt``
    (the last good state; ``resume=True`` continues from it: ``FileNotFoundError`` when there is none,
    :class:`ResumeError` when it cannot be loaded), ``samples.png`` and ``curves.png``.
    A generator that outputs NaN/inf stops the run: the checkpoint is left as it was (the last good
    state) and the result says at which step it happened.
    """
    cfg = TrainConfig(**{**(asdict(config) if config else {}), **kwargs}).validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ds = make_dataset(cfg.data)
    loss = get_loss(cfg.loss)
    n_critic = cfg.n_critic or loss.n_critic
    torch.manual_seed(cfg.seed)
    G = make_generator(ds, hidden=cfg.hidden)
    D = make_discriminator(ds, hidden=cfg.hidden)
    g_opt = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=cfg.d_lr or cfg.lr, betas=(0.5, 0.999))
    prox = None
    if cfg.prox != "none":
        prox = WassersteinProximal(G, g_opt, h=cfg.h, inner_steps=cfg.inner, metric=cfg.prox, reg=cfg.reg)
    rng = torch.Generator().manual_seed(cfg.seed)
    z_eval = torch.randn(cfg.eval_n, ds.latent_dim, generator=torch.Generator().manual_seed(10_000 + cfg.seed))
    eval_every = cfg.eval_every or max(1, cfg.steps // 20)
    ckpt_every = cfg.ckpt_every or eval_every

    files, ckpt_path, csv_path = [], None, None
    if cfg.out:
        ckpt_path = os.path.join(cfg.out, "checkpoint.pt")
        if cfg.resume and not os.path.isfile(ckpt_path):
            raise FileNotFoundError(f"resume=True but there is no checkpoint to continue from: {ckpt_path}")
        os.makedirs(cfg.out, exist_ok=True)
        csv_path = os.path.join(cfg.out, "log.csv")

    start, history, t_start = 0, [], 0.0
    if cfg.resume:
        try:
            ck = torch.load(ckpt_path, weights_only=False)
        except Exception as exc:
            raise ResumeError(f"{ckpt_path} cannot be read ({type(exc).__name__}: {exc})") from exc
        old = ck.get("config", {}) if isinstance(ck, dict) else {}
        for key in ("data", "hidden"):
            if key in old and old[key] != getattr(cfg, key):
                raise ResumeError(f"{ckpt_path} was written by a run with {key} {old[key]!r}, "
                                  f"this run has {key} {getattr(cfg, key)!r}")
        try:
            G.load_state_dict(ck["G"])
            D.load_state_dict(ck["D"])
            g_opt.load_state_dict(ck["g_opt"])
            d_opt.load_state_dict(ck["d_opt"])
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

    def do_eval(step):
        clock.pause()
        with torch.no_grad():
            x = G(z_eval).numpy()
        row = {"step": step, "time": clock.elapsed(), "wall": time.perf_counter() - wall0, **last}
        if np.isfinite(x).all():
            row.update(evaluate(ds, x, n=cfg.eval_n))
        else:
            row.update({"w2": float("nan"), "modes": 0, "hq": 0.0})
        history.append(row)
        if csv_path:
            _write_csv(csv_path, history)
        clock.start()
        return row

    def save_ckpt(step):
        nonlocal last_ckpt_step
        if not ckpt_path:
            return
        clock.pause()
        tmp = ckpt_path + ".tmp"
        torch.save({"G": G.state_dict(), "D": D.state_dict(), "g_opt": g_opt.state_dict(),
                    "d_opt": d_opt.state_dict(), "rng": rng.get_state(), "step": step,
                    "time": clock.elapsed(), "config": asdict(cfg)}, tmp)
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
            cur = step + 1
            for _ in range(n_critic):
                real = ds.sample(cfg.batch, rng)
                z = torch.randn(cfg.batch, ds.latent_dim, generator=rng)
                with torch.no_grad():
                    fake = G(z)
                if not torch.isfinite(fake).all():
                    raise NonFiniteGeneratorError("the generator produced non-finite values (NaN or inf)")
                d_opt.zero_grad(set_to_none=True)
                dl = loss.d_loss(D, real, fake)
                dl.backward()
                d_opt.step()
            z = torch.randn(cfg.batch, ds.latent_dim, generator=rng)
            if prox is not None:
                info = prox.step(g_loss_fn, z)
                gl, pv = info["loss"], info["prox"]
            else:
                g_opt.zero_grad(set_to_none=True)
                x = G(z)
                if not torch.isfinite(x).all():
                    raise NonFiniteGeneratorError("the generator produced non-finite values (NaN or inf)")
                gll = g_loss_fn(x)
                gll.backward()
                g_opt.step()
                gl, pv = float(gll.detach()), 0.0
            last.update(d_loss=float(dl.detach()), g_loss=gl, prox=pv)
            step = cur
            bar.update(1)
            timed_eval = next_eval_t is not None and clock.elapsed() >= next_eval_t
            if step % eval_every == 0 or step == cfg.steps or timed_eval:
                row = do_eval(step)
                bar.set_postfix(w2=f"{row['w2']:.3f}", modes=row["modes"])
                if timed_eval:
                    while next_eval_t <= clock.elapsed():
                        next_eval_t += cfg.eval_every_s
            if step % ckpt_every == 0 or step == cfg.steps:
                save_ckpt(step)
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
    if status != "nonfinite":
        message = f"{step} steps in {clock.elapsed():.1f} s of training ({cfg.clock} clock)" + (
            " (time budget reached)" if status == "budget" else "")

    final = {}
    if status != "nonfinite":
        with torch.no_grad():
            x = G(z_eval).numpy()
        final = evaluate(ds, x, n=cfg.eval_n)
        if cfg.out and cfg.plots:
            from .plots import save_samples

            p = os.path.join(cfg.out, "samples.png")
            save_samples(ds, x, p, title=f"{cfg.data} {cfg.loss} prox={cfg.prox} step {step}: W2 {final['w2']:.3f}")
            files.append(p)
    elif cfg.out and cfg.plots and last_ckpt_step is not None:
        from .plots import save_samples

        G.load_state_dict(torch.load(ckpt_path, weights_only=False)["G"])
        with torch.no_grad():
            x = G(z_eval).numpy()
        p = os.path.join(cfg.out, "samples.png")
        save_samples(ds, x, p, title=f"last good checkpoint (step {last_ckpt_step})")
        files.append(p)
    if cfg.out and cfg.plots:
        from .plots import save_curves

        p = os.path.join(cfg.out, "curves.png")
        save_curves(history, p, title=f"{cfg.data} {cfg.loss} prox={cfg.prox} h={cfg.h:g} inner={cfg.inner} lr={cfg.lr:g}")
        files.append(p)
    if csv_path:
        files.insert(0, csv_path)
    return TrainResult(status=status, message=message, steps_done=step, train_time=clock.elapsed(),
                       history=history, final=final, failed_step=failed_step,
                       checkpoint=ckpt_path if last_ckpt_step is not None else None, files=files,
                       generator=G, discriminator=D)


__all__ = ["TrainConfig", "TrainResult", "ResumeError", "train", "PROX_CHOICES"]
