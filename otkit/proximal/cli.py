"""``otkit gan``: train a GAN with or without the Wasserstein proximal term."""
from __future__ import annotations

import math
import sys

from .datasets import DATASETS
from .losses import LOSSES
from .trainer import PROX_CHOICES, TrainConfig, train


def _h(s):
    return math.inf if s.lower() in ("inf", "infinity") else float(s)


def add_parser(subparsers):
    """Add the ``gan`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "gan", help="train a GAN with a Wasserstein proximal generator update (needs torch)",
        description="Train a small GAN on CPU-sized data, with or without the (relaxed) Wasserstein "
                    "proximal term on the generator. Writes log.csv, checkpoint.pt, samples.png and "
                    "curves.png to --out.")
    p.add_argument("--data", choices=DATASETS, default="ring8")
    p.add_argument("--loss", choices=tuple(LOSSES), default="ns", help="ns: non-saturating GAN; wgan-gp: WGAN with gradient penalty")
    p.add_argument("--prox", choices=PROX_CHOICES, default="relaxed",
                   help="metric of the proximal term; none = plain generator steps")
    p.add_argument("--h", type=_h, default=0.1, help="proximal step size (> 0; 'inf' = no proximal term)")
    p.add_argument("--inner", type=int, default=10, help="generator optimizer steps per proximal step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (generator and discriminator)")
    p.add_argument("--d-lr", type=float, default=None, help="discriminator learning rate (default: --lr)")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/gan", help="output folder")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--n-critic", type=int, default=None, help="discriminator steps per step (default 1 for ns, 5 for wgan-gp)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between evaluations (default steps/20)")
    p.add_argument("--eval-n", type=int, default=2000, help="samples for the exact W2 to held-out data")
    p.add_argument("--ckpt-every", type=int, default=None, help="steps between checkpoints (default: --eval-every)")
    p.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds of training")
    p.add_argument("--reg", type=float, default=None, help="entropic regularization for --prox sinkhorn")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=run, _parser=p)
    return p


def run(args):
    cfg = TrainConfig(data=args.data, loss=args.loss, prox=args.prox, h=args.h, inner=args.inner, lr=args.lr,
                      d_lr=args.d_lr, steps=args.steps, seed=args.seed, out=args.out, batch=args.batch,
                      n_critic=args.n_critic, eval_every=args.eval_every, eval_n=args.eval_n,
                      ckpt_every=args.ckpt_every, time_budget=args.time_budget, reg=args.reg,
                      resume=args.resume, threads=args.threads, progress=not args.no_progress,
                      plots=not args.no_plots)
    try:
        cfg.validate()
    except (ValueError, TypeError) as exc:
        args._parser.error(str(exc))
    res = train(cfg)
    if res.status == "nonfinite":
        print(f"error: {res.message}", file=sys.stderr)
        return 1
    f = res.final
    print(f"{res.message}; final exact W2 to held-out data {f['w2']:.4f}, modes {f['modes']}, "
          f"high-quality share {f['hq']:.3f}")
    for path in res.files:
        print(f"wrote {path}")
    return 0
