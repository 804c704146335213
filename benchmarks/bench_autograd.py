"""Forward + backward of sinkhorn2 on torch tensors (issue 15): otkit (compiled solver + implicit gradient)
against POT's torch backend (which differentiates through its iterations), side by side in one process.

    python benchmarks/bench_autograd.py [--d 1024 4096] [--regs 0.1 0.02] [--out benchmarks/results]

Cost: squared Euclidean between two uniform clouds in the unit square, uniform weights, stopThr 1e-6 (both
solvers stop on the same marginal rule). Two cases: M built from points x that require grad (the torch part,
building M and back-propagating into x, is the same for both), and M itself the leaf (sinkhorn2 alone).
Reports the time of loss + backward (min of repeats), the iterations, and the relative difference of the
gradients (at stopThr 1e-6 the solvers are not at the fixed point: POT's unrolled gradient and the
implicit one differ by about the marginal error; they agree to 1e-9 at convergence, tests/test_autograd.py).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    import ot
    import torch

    import otkit

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--regs", type=float, nargs="+", default=[0.1, 0.02])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for d in args.d:
        rng = np.random.default_rng(0)
        x0, y = rng.random((d, 2)), torch.tensor(rng.random((d, 2)))
        for reg in args.regs:
          M0 = ((torch.tensor(x0)[:, None] - y[None]) ** 2).sum(-1)
          for case in ("M(x)", "M leaf"):
            res = {}
            for name in ("pot", "otkit"):
                best, g, it = np.inf, None, None
                for _ in range(args.repeat):
                    x = torch.tensor(x0, requires_grad=True)
                    t = time.perf_counter()
                    if case == "M(x)":  # the cost built from points that require grad (both pay this part)
                        M = ((x[:, None] - y[None]) ** 2).sum(-1)
                    else:  # the cost itself is the leaf: sinkhorn2's forward + backward alone
                        M = x = M0.clone().requires_grad_(True)
                    if name == "pot":
                        w, lg = ot.sinkhorn2(torch.tensor([]), torch.tensor([]), M, reg, stopThr=1e-6,
                                             numItermax=100000, log=True)
                    else:
                        w, lg = otkit.sinkhorn2(None, None, M, reg, stopThr=1e-6, numItermax=100000, log=True)
                    w.backward()
                    best = min(best, time.perf_counter() - t)
                    g, it = x.grad.clone(), lg["niter"]
                res[name] = (best, g, it)
                print(f"d={d} reg={reg} {case} {name}: {best:.3f} s ({it} iterations)", file=sys.stderr, flush=True)
            gdiff = float((res["otkit"][1] - res["pot"][1]).abs().max() / res["pot"][1].abs().max())
            rows.append({"d": d, "reg": reg, "case": case, "pot_s": res["pot"][0], "otkit_s": res["otkit"][0],
                         "speedup": res["pot"][0] / res["otkit"][0], "pot_iter": int(res["pot"][2]),
                         "otkit_iter": int(res["otkit"][2]), "grad_rel_diff": gdiff})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_autograd.json").write_text(json.dumps(rows, indent=1))
    lines = ["| d | reg | differentiated w.r.t. | POT torch fwd+bwd (s) | otkit fwd+bwd (s) | speed-up | "
             "iterations POT / otkit | max rel. diff of the gradient |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['d']} | {r['reg']} | {'x (M built from x)' if r['case'] == 'M(x)' else 'M'} | {r['pot_s']:.3f} | {r['otkit_s']:.3f} | {r['speedup']:.1f}x | "
                     f"{r['pot_iter']} / {r['otkit_iter']} | {r['grad_rel_diff']:.1e} |")
    load = os.getloadavg()[0]
    text = ("# sinkhorn2 forward + backward on torch tensors (CPU)\n\n" + "\n".join(lines) +
            f"\n\nmin of {args.repeat} repeats; torch threads {torch.get_num_threads()}; load average {load:.2f}\n")
    (out / "bench_autograd.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
