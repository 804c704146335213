"""Batched entropic OT (issue 16, minibatch OT): otkit.sinkhorn2_batch / empirical_sinkhorn2_batch on B problems of
n x n point clouds against a Python loop of POT calls (ot.sinkhorn2 on ot.dist: POT's iterates, the same values)
and POT's own batched solver (ot.batch.solve_sample_batch, on fewer problems: it holds B n^2 arrays), side by
side in one run. Writes a Markdown table to stdout and a bar chart (PNG) next to --png.

    python benchmarks/bench_sinkhorn_batch.py [--B 1000] [--n 256] [--png benchmarks/results/sinkhorn_batch.png] \
        > benchmarks/results/sinkhorn_batch.md
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
import ot

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import otkit  # noqa: E402
from otkit.bench.common import settle  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--B-pot-batch", type=int, default=100, help="problems for ot.batch (B n^2 arrays)")
    ap.add_argument("--regs", default="0.05,0.01")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    B, n = args.B, args.n
    x, y = rng.random((B, n, 2)), rng.random((B, n, 2))  # minibatches of points in the unit square
    a = b = np.full(n, 1.0 / n)

    def timed(f, repeat=args.repeat):
        best, out = float("inf"), None
        for _ in range(repeat):
            settle()  # the threads of the previous library (OpenBLAS after POT) stop spinning first
            t0 = time.perf_counter()
            out = f()
            best = min(best, time.perf_counter() - t0)
        return best, out

    results = []
    for reg in (float(r) for r in args.regs.split(",")):
        rows = {}
        # POT: the costs and the solve per problem, as a loop over minibatches does
        rows["POT loop: ot.sinkhorn2(ot.dist(x, y))"], ref = timed(
            lambda: np.array([ot.sinkhorn2(a, b, ot.dist(x[k], y[k]), reg) for k in range(B)]), 1)
        Bp = min(B, args.B_pot_batch)
        t, res = timed(lambda: ot.batch.solve_sample_batch(x[:Bp], y[:Bp], reg, tol=1e-9, max_iter=1000), 1)
        rows[f"POT ot.batch.solve_sample_batch (B = {Bp}, scaled to {B})"] = t * B / Bp
        diff_batch = float(np.max(np.abs(res.value_linear - ref[:Bp]) / ref[:Bp]))
        rows["otkit loop: otkit.sinkhorn2(otkit.dist(x, y))"], W0 = timed(
            lambda: np.array([otkit.sinkhorn2(a, b, otkit.dist(x[k], y[k]), reg) for k in range(B)]), 1)
        for th in (1, 2):
            rows[f"otkit.empirical_sinkhorn2_batch, {th} thread(s)"], W = timed(
                lambda: otkit.empirical_sinkhorn2_batch(x, y, reg, num_threads=th))
            diff = float(np.max(np.abs(W - ref) / ref))
            assert diff < 1e-7, diff
        M = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
        rows["otkit.sinkhorn2_batch on the (B, n, n) costs, 2 threads"], W2 = timed(
            lambda: otkit.sinkhorn2_batch(None, None, M, reg, num_threads=2))
        _, lg = otkit.sinkhorn2_batch(None, None, M, reg, log=True)
        # over-relaxed (not POT's iterates): the same stopThr, fewer iterations; its accuracy is stated below
        rows["otkit.empirical_sinkhorn2_batch, omega='auto', 2 threads"], W3 = timed(
            lambda: otkit.empirical_sinkhorn2_batch(x, y, reg, num_threads=2, omega="auto"))
        _, lg3 = otkit.empirical_sinkhorn2_batch(x, y, reg, log=True, omega="auto")
        diff_auto = float(np.max(np.abs(W3 - ref) / ref))
        rows["otkit.empirical_sinkhorn2_batch, anderson=5, 2 threads"], W4 = timed(
            lambda: otkit.empirical_sinkhorn2_batch(x, y, reg, num_threads=2, anderson=5))
        _, lg4 = otkit.empirical_sinkhorn2_batch(x, y, reg, log=True, anderson=5)
        diff_and = float(np.max(np.abs(W4 - ref) / ref))
        results.append((reg, rows, diff, diff_batch, lg["niter"], diff_auto, lg3["niter"], diff_and, lg4["niter"]))

    base_name = "POT loop: ot.sinkhorn2(ot.dist(x, y))"
    print(f"# Batched entropic OT: B = {B} problems of {n} x {n} points (uniform in the unit square, squared "
          "Euclidean cost)\n")
    print(f"min of {args.repeat} runs (the loops: 1 run), each after a 0.25 s busy wait (otkit.bench.common.settle), "
          f"side by side in one process, {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.2f} at the end. stopThr 1e-9 (POT's default). otkit's values equal the POT "
          "loop's (same iterates per problem) to the max relative difference given; ot.batch iterates all problems "
          "until the largest row-marginal error is below tol, so its values differ within that tolerance.\n")
    for reg, rows, diff, diff_batch, niter, diff_auto, niter_auto, diff_and, niter_and in results:
        print(f"\n## reg = {reg:g} (iterations per problem: median {int(np.median(niter))}, max {int(niter.max())}; "
              f"otkit vs POT loop: max rel. diff {diff:.1e}; ot.batch vs POT loop: {diff_batch:.1e}; omega='auto': "
              f"median {int(np.median(niter_auto))}, max {int(niter_auto.max())} iterations, max rel. diff "
              f"{diff_auto:.1e}; anderson=5: median {int(np.median(niter_and))}, max {int(niter_and.max())} "
              f"iterations, max rel. diff {diff_and:.1e})\n")
        print("| case | time (s) | per problem (ms) | speed-up vs the POT loop |\n|---|---|---|---|")
        for k, t in rows.items():
            print(f"| {k} | {t:.2f} | {t / B * 1e3:.3f} | {rows[base_name] / t:.1f}x |")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
        for ax, (reg, rows, *_rest) in zip(axes[0], results):
            names = list(rows)
            ax.barh(range(len(names)), [rows[k] for k in names], color=["#999"] * 2 + ["#7aa"] + ["#c44"] * 3 + ["#e80"] * 2)
            ax.set_yticks(range(len(names)), [k.replace(": ", ":\n", 1) for k in names], fontsize=7)
            ax.set_xscale("log")
            ax.set_xlabel("seconds (log scale)")
            ax.set_title(f"B = {B} problems of {n} x {n} points, reg = {reg:g}")
            ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)


if __name__ == "__main__":
    main()
