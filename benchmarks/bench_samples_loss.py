"""otkit.SamplesLoss against GeomLoss's SamplesLoss("sinkhorn") at equal stated accuracy (issue 16): the debiased
Sinkhorn divergence between two uniform clouds in the unit square, p = 2, time and relative error against a long
float64 reference (otkit at tol 1e-12), side by side in one run. GeomLoss runs its tensorized backend (the online
and multiscale backends need pykeops, not installed here) at several `scaling` values: its accuracy is set by
its annealing.

    python benchmarks/bench_samples_loss.py [--n 2000] [--blur 0.05] > benchmarks/results/samples_loss.md
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import otkit  # noqa: E402
from otkit.bench.common import settle  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--blur", type=float, default=0.05)
    ap.add_argument("--scalings", default="0.5,0.9,0.99")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import geomloss
    import torch

    rng = np.random.default_rng(0)
    n, blur = args.n, args.blur
    x, y = rng.random((n, 2)), rng.random((n, 2))
    ref = otkit.SamplesLoss("sinkhorn", p=2, blur=blur, tol=1e-12)(x, y)
    rows = []
    for tol in (1e-4, 1e-6):
        settle()
        t0 = time.perf_counter()
        v = otkit.SamplesLoss("sinkhorn", p=2, blur=blur, tol=tol)(x, y)
        rows.append((f"otkit.SamplesLoss, tol {tol:g}", time.perf_counter() - t0, abs(v - ref) / ref))
    xt, yt = torch.tensor(x), torch.tensor(y)
    for sc in (float(s) for s in args.scalings.split(",")):
        G = geomloss.SamplesLoss("sinkhorn", p=2, blur=blur, scaling=sc, backend="tensorized")
        settle()
        t0 = time.perf_counter()
        g = G(xt, yt).item()
        rows.append((f"geomloss tensorized, scaling {sc:g}", time.perf_counter() - t0, abs(g - ref) / ref))
    print(f"# Sinkhorn divergence, n = m = {n} uniform points in the unit square, p = 2, blur = {blur:g}\n")
    print(f"Reference value {ref:.12g} (otkit, tol 1e-12). One run each after a 0.25 s busy wait, {os.cpu_count()} "
          f"CPUs, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f} at the end.\n")
    print("| solver | time (s) | relative error |\n|---|---|---|")
    for name, t, e in rows:
        print(f"| {name} | {t:.2f} | {e:.1e} |")


if __name__ == "__main__":
    main()
