"""Batched exact OT (issue 18, minibatch OT): otkit.emd2_batch on B problems of n x n point clouds against a
loop of POT's ot.emd (the plan, as minibatch OT needs it) and ot.emd2, side by side in one run.

    python benchmarks/bench_emd_batch.py [--B 1000] [--n 256] > benchmarks/results/emd_batch.md
"""
import argparse
import os
import sys
import time

import numpy as np
import ot

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import otkit  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    B, n = args.B, args.n
    x, y = rng.standard_normal((B, n, 2)), rng.standard_normal((B, n, 2)) + 1.0
    M = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)  # squared Euclidean, as flow matching uses
    a = b = np.full(n, 1.0 / n)
    Mk = [np.ascontiguousarray(M[k]) for k in range(B)]

    def timed(f):
        best, out = float("inf"), None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = f()
            best = min(best, time.perf_counter() - t0)
        return best, out

    rows = {}
    rows["POT loop of ot.emd (plans)"], ref_plans = timed(lambda: [ot.emd(a, b, m) for m in Mk])
    rows["POT loop of ot.emd2"], ref = timed(lambda: np.array([ot.emd2(a, b, m) for m in Mk]))
    for th in (1, 2):
        rows[f"otkit.emd2_batch, {th} thread(s)"], W = timed(lambda: otkit.emd2_batch(a, b, M, num_threads=th))
        assert np.allclose(W, ref, rtol=1e-9)
        rows[f"otkit.emd2_batch + plans, {th} thread(s)"], (W2, P) = timed(
            lambda: otkit.emd2_batch(a, b, M, num_threads=th, return_plans=True))
        assert np.allclose(W2, ref, rtol=1e-9)
    base = rows["POT loop of ot.emd2"]
    print(f"# Batched exact OT: B = {B} problems of {n} x {n} (2-D Gaussian clouds, squared Euclidean)\n")
    print(f"min of {args.repeat} runs, side by side in one process, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at the end; costs equal POT's to 1e-9\n")
    print("| case | time (s) | per problem (ms) | vs the ot.emd2 loop |\n|---|---|---|---|")
    for k, t in rows.items():
        print(f"| {k} | {t:.2f} | {t / B * 1e3:.2f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
