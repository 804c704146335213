"""``otkit gan``: train a GAN with or without the Wasserstein proximal term."""
from __future__ import annotations

import os
import re
import sys

from .._cli_common import CLIError, HelpFormatter, check_out_dir, float_arg, int_arg
from .datasets import DATASETS
from .losses import LOSSES
from .models import MODELS
from .trainer import PROX_CHOICES, ResumeError, TrainConfig, train

DEFAULT_OUT = os.path.join("runs", "gan")

# TrainConfig / WassersteinProximal name their arguments; the command line names its flags
FLAGS = {"inner_steps": "--inner", "inner": "--inner", "d_lr": "--d-lr", "eval_n": "--eval-n",
         "n_critic": "--n-critic", "eval_every": "--eval-every", "ckpt_every": "--ckpt-every",
         "time_budget": "--time-budget", "lr": "--lr", "steps": "--steps", "batch": "--batch", "h": "--h",
         "reg": "--reg", "threads": "--threads", "data": "--data", "loss": "--loss", "prox": "--prox",
         "model": "--model", "ema": "--ema", "device": "--device"}


def flag_message(msg: str) -> str:
    """``"inner_steps must be >= 1, got 0"`` -> ``"--inner must be >= 1, got 0"`` (the flag the user typed)."""
    return re.sub(r"^(\w+)(?= must)", lambda m: FLAGS.get(m[1], m[1]), str(msg), count=1)


def add_parser(subparsers):
    """Add the ``gan`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "gan", formatter_class=HelpFormatter,
        help="train a GAN with a Wasserstein proximal generator update (needs torch)",
        description="Train a small GAN on CPU-sized data, with or without the (relaxed) Wasserstein "
                    "proximal term on the generator. Writes log.csv, checkpoint.pt, samples.png and "
                    f"curves.png to --out (default ./{DEFAULT_OUT}, under the current folder); --resume continues "
                    "from the checkpoint there. See docs/gan.md.")
    p.add_argument("--data", choices=DATASETS, default="ring8")
    p.add_argument("--model", choices=MODELS, default="mlp",
                   help="mlp: fully connected networks; dcgan: convolutional generator (BatchNorm) and critic, digits only")
    p.add_argument("--loss", choices=tuple(LOSSES), default="ns", help="ns: non-saturating GAN; wgan-gp: WGAN with gradient penalty")
    p.add_argument("--prox", choices=PROX_CHOICES, default="relaxed",
                   help="metric of the proximal term; none = plain generator steps")
    p.add_argument("--h", type=float_arg(allow_inf=True), default=0.1,
                   help="proximal step size (> 0; 'inf' = no proximal term)")
    p.add_argument("--inner", type=int_arg(1), default=10, help="generator optimizer steps per proximal step")
    p.add_argument("--fixed-latent", action="store_true",
                   help="reuse one latent batch for all inner steps (default: a fresh batch per inner step, the paper's form)")
    p.add_argument("--ema", type=float_arg(), default=None,
                   help="keep an exponential moving average of the generator weights with this decay (e.g. 0.999); "
                        "evaluations use it")
    p.add_argument("--lr", type=float_arg(), default=1e-3, help="Adam learning rate (generator and discriminator)")
    p.add_argument("--d-lr", type=float_arg(), default=None, help="discriminator learning rate (default: --lr)")
    p.add_argument("--steps", type=int_arg(1), default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"output folder, created if missing (default: ./{DEFAULT_OUT} in the current folder; "
                        "the repository's .gitignore lists runs/)")
    p.add_argument("--batch", type=int_arg(1), default=256)
    p.add_argument("--n-critic", type=int_arg(1), default=None,
                   help="discriminator steps per step (default 1 for ns, 5 for wgan-gp)")
    p.add_argument("--eval-every", type=int_arg(1), default=None, help="steps between evaluations (default steps/20)")
    p.add_argument("--eval-n", type=int_arg(10), default=2000, help="samples for the exact W2 to held-out data (>= 10)")
    p.add_argument("--ckpt-every", type=int_arg(1), default=None,
                   help="steps between checkpoints (default: --eval-every)")
    p.add_argument("--time-budget", type=float_arg(), default=None, help="stop after this many seconds of training")
    p.add_argument("--reg", type=float_arg(), default=None,
                   help="entropic regularization for --prox sinkhorn (default: 5%% of the median cost)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint.pt in --out (an error when there is none)")
    p.add_argument("--threads", type=int_arg(1), default=None, help="torch threads")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard events to --out/tb (needs tensorboard)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=run, _parser=p)
    return p


def _check(args):
    """Checks that need more than one flag, or the file system; raises CLIError."""
    if args.model == "dcgan" and args.data != "digits":
        raise CLIError(f"--model dcgan needs image data (--data digits), this run has --data {args.data}")
    if args.ema is not None and not 0.0 < args.ema < 1.0:
        raise CLIError(f"--ema must be a decay in (0, 1), e.g. 0.999, got {args.ema}")
    if args.device is not None:
        import torch

        try:
            dev = torch.device(args.device)
        except RuntimeError as exc:
            raise CLIError(f"--device: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise CLIError(f"--device {args.device}: no CUDA device is available to torch here")
    if args.reg is not None and args.prox != "sinkhorn":
        raise CLIError(f"--reg applies to --prox sinkhorn only (this run has --prox {args.prox})")
    if args.resume:
        ckpt = os.path.join(args.out, "checkpoint.pt")
        if not os.path.isfile(ckpt):
            raise CLIError(f"--resume: there is no checkpoint to continue from ({ckpt} does not exist); "
                           "run without --resume to start a new run, or point --out at the folder of an earlier run")
    check_out_dir(args.out)


def run(args):
    cfg = TrainConfig(data=args.data, loss=args.loss, prox=args.prox, h=args.h, inner=args.inner, lr=args.lr,
                      d_lr=args.d_lr, steps=args.steps, seed=args.seed, out=args.out, batch=args.batch,
                      n_critic=args.n_critic, eval_every=args.eval_every, eval_n=args.eval_n,
                      ckpt_every=args.ckpt_every, time_budget=args.time_budget, reg=args.reg,
                      resume=args.resume, threads=args.threads, progress=not args.no_progress,
                      plots=not args.no_plots, model=args.model, resample_latent=not args.fixed_latent,
                      ema=args.ema, device=args.device, tensorboard=args.tensorboard)
    try:
        cfg.validate()  # the argument types above check the same; this is a backstop
    except (ValueError, TypeError) as exc:
        raise CLIError(flag_message(exc)) from None
    _check(args)
    try:
        res = train(cfg)
    except ResumeError as exc:
        raise CLIError(f"--resume: {exc}") from None
    except ImportError as exc:  # --tensorboard without the package
        raise CLIError(str(exc)) from None
    if res.status == "nonfinite":
        print(f"error: {res.message}", file=sys.stderr)
        return 1
    f = res.final
    extra = f", feature Frechet distance {f['fd']:.2f}" if "fd" in f else ""
    floor = f" (true-vs-true floor {f['w2_floor']:.4f})" if "w2_floor" in f else ""
    print(f"{res.message}; final exact W2 to held-out data {f['w2']:.4f}{floor}, modes {f['modes']}, "
          f"high-quality share {f['hq']:.3f}{extra}")
    for path in res.files:
        print(f"wrote {path}")
    return 0
