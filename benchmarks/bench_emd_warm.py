"""Warm starts of the network simplex from entropic potentials (issue 18): is a log-domain Sinkhorn solve,
whose dual potentials (reg log u, reg log v) then guide the initial basis (``otkit.emd2(...,
potentials_init=...)``), faster than the cold start? Same problems as bench_emd.py (d = 4096, graph and
Euclidean metrics, Dirichlet(1) histograms, seed 1), side by side in one run.

    python benchmarks/bench_emd_warm.py [--d 4096] > benchmarks/results/emd_warm.md
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import otkit  # noqa: E402
from otkit.bench.problems import euclidean_metric, graph_metric, random_histograms  # noqa: E402


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=4096)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    d = args.d
    print(f"# Network simplex: cold start vs warm start from log-domain Sinkhorn potentials (d = {d})\n")
    print("| metric | start | Sinkhorn (s) | simplex (s) | pivots | total (s) | total / cold |\n|---|---|---|---|---|---|---|")
    for name, metric in (("graph", graph_metric), ("euclidean", euclidean_metric)):
        M = metric(d, 0)
        H = np.asarray(random_histograms(d, 2, 1))
        a, b = (np.ascontiguousarray(H[k]) for k in (0, 1)) if H.shape[0] == 2 else (
            np.ascontiguousarray(H[:, k]) for k in (0, 1))
        b = b * (a.sum() / b.sum())
        tc, (c0, lg0) = timed(lambda: otkit.emd2(a, b, M, numItermax=10**8, log=True))
        print(f"| {name} | cold | - | {tc:.2f} | {lg0['niter']} | {tc:.2f} | 1.00 |")
        for reg, it in ((0.05, 50), (0.01, 100), (0.01, 300), (0.002, 300)):
            ts, (_, lg) = timed(lambda: otkit.sinkhorn(a, b, M, reg, method="sinkhorn_log", numItermax=it, stopThr=0,
                                                       log=True))
            f, g = reg * lg["log_u"], reg * lg["log_v"]
            tw, (c1, lg1) = timed(lambda: otkit.emd2(a, b, M, numItermax=10**8, log=True, potentials_init=(f, g)))
            assert abs(c1 - c0) <= 1e-12 * abs(c0)  # the same optimum
            print(f"| {name} | Sinkhorn reg {reg:g} x {it} it | {ts:.2f} | {tw:.2f} | {lg1['niter']} | {ts + tw:.2f} | "
                  f"{(ts + tw) / tc:.2f} |")
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f} (2 cores; Sinkhorn on the library's default threads, "
          "the simplex on one).")


if __name__ == "__main__":
    main()
