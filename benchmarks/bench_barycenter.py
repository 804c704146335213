"""Barycenter benchmark: otkit vs POT, side by side in one run (protocol: docs/bench.md, part 4).

* fixed support: N = 10 histograms of dimension d = 1024 on a 1-D grid (squared Euclidean
  cost scaled to max 1), otkit.barycenter vs ot.bregman.barycenter, methods sinkhorn,
  sinkhorn_stabilized and sinkhorn_log, same stopThr (both stop at the same iteration: the
  iterates are the same);
* convolutional: N = 10 images of 64 x 64, otkit.convolutional_barycenter2d vs
  ot.bregman.convolutional_barycenter2d (sinkhorn and sinkhorn_log), and 10 images of 256 x 256;
* free support: 10 point clouds of 200 points in 2-D (both through the same exact OT solver);
* unbalanced (Chizat et al. 2016): otkit.barycenter_unbalanced vs ot.unbalanced.barycenter_unbalanced (kernel
  form and stabilized, d = 1024, N = 10, masses 0.5 to 2);
* debiased (Janati et al. 2020): otkit.barycenter_debiased vs ot.bregman.barycenter_debiased on the
  same d = 1024, N = 10 problem (kernel form to convergence, log domain 20 iterations), and
  otkit.convolutional_barycenter2d_debiased vs ot.bregman.convolutional_barycenter2d_debiased on
  4 images of 256 x 256 (POT's default stopThr) and 4 of 64 x 64 (log domain, 20 iterations).

Every case checks that the two results agree (max relative difference) and that the
iteration counts are equal. Min and median over repeats; machine and versions recorded.
Writes benchmarks/results/barycenter.{json,md}.

    python benchmarks/bench_barycenter.py [--quick] [--only SUBSTRING]

``--only debiased`` (say) runs the cases whose name contains the substring, without the otkit-only
run to convergence, and writes benchmarks/results/barycenter_subset.{json,md} unless ``--out`` is given.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ot  # noqa: E402
import otkit  # noqa: E402
from otkit.bench.common import more_runs, peak_gflops, settle  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    def tqdm(x, **k):
        return x

HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cfg = otkit._config.config()
    return {"nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "pot": ot.__version__,
            "otkit": otkit.__version__, "otkit_cpp": cfg.get("cpp"), "loadavg_at_start": load}


def timeit(f, repeats, min_total=1.0, max_repeats=10):
    """(min wall, median wall, result, min CPU time) over `repeats` runs (one when > 5 s), and more, up to
    `max_repeats`, while they add up to less than `min_total` seconds (a 40 ms case gets 10 runs). Starts after
    a pause (otkit.bench.common.settle) so that the threads of the library timed before have stopped
    spinning."""
    settle(0)
    ts, cs, out = [], [], None
    while more_runs(ts, repeats, min_total, max_repeats):
        t, c = time.perf_counter(), time.process_time()
        out = f()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
        if ts[0] > 5.0:
            break
    return float(np.min(ts)), float(np.median(ts)), out, float(np.min(cs))


def grid_hists(d, N, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(d, dtype=float)
    A = np.zeros((d, N))
    for k in range(N):  # mixtures of two Gaussians
        for _ in range(2):
            A[:, k] += np.exp(-0.5 * ((x - rng.uniform(0.1, 0.9) * d) / rng.uniform(0.02, 0.08) / d) ** 2)
    A /= A.sum(axis=0)
    M = (x[:, None] - x[None, :]) ** 2
    return A, M / M.max()


def blob_images(N, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    X, Y = np.meshgrid(t, t, indexing="ij")
    A = np.zeros((N, n, n))
    for k in range(N):
        cx, cy, r = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.08, 0.2)
        A[k] = ((X - cx) ** 2 + (Y - cy) ** 2 <= r * r) + 1e-6  # discs
        A[k] /= A[k].sum()
    return A


def run_case(rows, name, pot_fn, ok_fn, repeats, pot_repeats=None, extra=None):
    """otkit and POT side by side: default threads (wall time), and one thread each (wall and
    CPU time; threadpoolctl limits both OpenBLAS and OpenMP). CPU time on one thread is the
    figure least disturbed by other jobs on a shared machine."""
    nan = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmin_o, tmed_o, (bo, lo), _ = timeit(ok_fn, repeats)
        tmin_p, tmed_p, (bp, lp), _ = timeit(pot_fn, pot_repeats or repeats)
        if threadpool_limits is not None:
            with threadpool_limits(1):
                tmin_p1, tmed_p1, _, cpu_p1 = timeit(pot_fn, pot_repeats or repeats)
                tmin_o1, _, _, cpu_o1 = timeit(ok_fn, repeats)
        else:
            tmin_p1 = tmed_p1 = cpu_p1 = tmin_o1 = cpu_o1 = nan
    rel = float(np.max(np.abs(bo - bp)) / np.max(np.abs(bp)))
    best_min = np.nanmin([tmin_p, tmin_p1])
    best_med = np.nanmin([tmed_p, tmed_p1])
    row = {"case": name, "otkit_min_s": tmin_o, "otkit_median_s": tmed_o, "pot_min_s": tmin_p,
           "pot_median_s": tmed_p, "pot_1thread_min_s": tmin_p1, "pot_1thread_median_s": tmed_p1,
           "otkit_1thread_min_s": tmin_o1, "otkit_1thread_cpu_s": cpu_o1, "pot_1thread_cpu_s": cpu_p1,
           "speedup_min": best_min / tmin_o, "speedup_median": best_med / tmed_o,
           "speedup_cpu_1thread": cpu_p1 / cpu_o1,
           "max_rel_diff": rel, "niter_otkit": lo.get("niter"), "niter_pot": lp.get("niter", len(lp.get(
               "displacement_square_norms", [])) or None),
           "err_reached": (lo["err"][-1] if isinstance(lo.get("err"), list) and lo["err"] else lo.get("err"))}
    row.update(extra or {})
    rows.append(row)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this substring")
    ap.add_argument("--out", default=None, help="output path without extension (default: results/barycenter, "
                                                "with --only results/barycenter_subset)")
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(HERE, "results", "barycenter_subset" if args.only else "barycenter")
    rep = 2 if args.quick else 3
    info = machine()
    rows = []
    d, N = 1024, 10
    A, M = grid_hists(d, N)
    cases = []
    for reg, thr, methods in [(1e-2, 1e-4, ("sinkhorn",)), (1e-3, 1e-4, ("sinkhorn", "sinkhorn_stabilized")),
                              (1e-3, 1e-7, ("sinkhorn",))]:
        for method in methods:
            cases.append((f"fixed d={d} N={N} {method} reg={reg:g} stopThr={thr:g}",
                          lambda reg=reg, thr=thr, m=method: ot.bregman.barycenter(
                              A, M, reg, method=m, stopThr=thr, numItermax=20000, log=True),
                          lambda reg=reg, thr=thr, m=method: otkit.barycenter(
                              A, M, reg, method=m, stopThr=thr, numItermax=20000, log=True), rep, None,
                          {"reg": reg, "stopThr": thr}))
    # log domain: POT's is slow (2 N logsumexps over d x d per iteration): 20 iterations
    cases.append((f"fixed d={d} N={N} sinkhorn_log reg=1e-3 numItermax=20",
                  lambda: ot.bregman.barycenter(A, M, 1e-3, method="sinkhorn_log", stopThr=0.0, numItermax=20,
                                                log=True, warn=False),
                  lambda: otkit.barycenter(A, M, 1e-3, method="sinkhorn_log", stopThr=0.0, numItermax=20,
                                           log=True, warn=False), max(2, rep // 2), 1,
                  {"reg": 1e-3, "stopThr": 0.0}))
    imgs = blob_images(10, 64)
    for reg in (4e-3, 1e-3):
        cases.append((f"conv 10 x 64x64 sinkhorn reg={reg:g} stopThr=1e-4",
                      lambda reg=reg: ot.bregman.convolutional_barycenter2d(imgs, reg, stopThr=1e-4, log=True,
                                                                            numItermax=20000),
                      lambda reg=reg: otkit.convolutional_barycenter2d(imgs, reg, stopThr=1e-4, log=True,
                                                                       numItermax=20000),
                      rep, None, {"reg": reg, "stopThr": 1e-4}))
    cases.append(("conv 10 x 64x64 sinkhorn_log reg=1e-3 numItermax=20",
                  lambda: ot.bregman.convolutional_barycenter2d(imgs, 1e-3, method="sinkhorn_log", stopThr=0.0,
                                                                numItermax=20, log=True, warn=False),
                  lambda: otkit.convolutional_barycenter2d(imgs, 1e-3, method="sinkhorn_log", stopThr=0.0,
                                                           numItermax=20, log=True, warn=False),
                  max(2, rep // 2), 1, {"reg": 1e-3, "stopThr": 0.0}))
    big = blob_images(10, 256, seed=1)
    cases.append(("conv 10 x 256x256 sinkhorn reg=4e-3 numItermax=20",
                  lambda: ot.bregman.convolutional_barycenter2d(big, 4e-3, stopThr=0.0, numItermax=20, log=True,
                                                                warn=False),
                  lambda: otkit.convolutional_barycenter2d(big, 4e-3, stopThr=0.0, numItermax=20, log=True,
                                                           warn=False), 2, 1, {"reg": 4e-3, "stopThr": 0.0}))
    rng = np.random.default_rng(0)
    locs = [rng.normal(size=(200, 2)) * rng.uniform(0.5, 2) + rng.normal(size=2) * 3 for _ in range(10)]
    wts = [otkit.unif(200)] * 10
    X0 = rng.normal(size=(200, 2))
    cases.append(("free support 10 x 200 points (2-D)",
                  lambda: ot.lp.free_support_barycenter(locs, wts, X0, log=True),
                  lambda: otkit.free_support_barycenter(locs, wts, X0, log=True), max(2, rep // 2), None,
                  {"emd": "otkit.emd" if hasattr(otkit, "emd") else "ot.emd (otkit.emd not in this build)"}))
    # debiased barycenters (an iteration: the products of the kernel form with one more column, the
    # debiasing potential c; convolutional: 10 more one-image convolutions for c)
    for reg, thr in [(1e-2, 1e-5), (1e-3, 1e-4)]:
        cases.append((f"debiased fixed d={d} N={N} sinkhorn reg={reg:g} stopThr={thr:g}",
                      lambda reg=reg, thr=thr: ot.bregman.barycenter_debiased(A, M, reg, stopThr=thr, numItermax=20000,
                                                                             log=True),
                      lambda reg=reg, thr=thr: otkit.barycenter_debiased(A, M, reg, stopThr=thr, numItermax=20000,
                                                                        log=True),
                      rep, None, {"reg": reg, "stopThr": thr}))
    cases.append((f"debiased fixed d={d} N={N} sinkhorn_log reg=1e-3 numItermax=20",
                  lambda: ot.bregman.barycenter_debiased(A, M, 1e-3, method="sinkhorn_log", stopThr=0.0, numItermax=20,
                                                         log=True, warn=False),
                  lambda: otkit.barycenter_debiased(A, M, 1e-3, method="sinkhorn_log", stopThr=0.0, numItermax=20,
                                                    log=True, warn=False), max(2, rep // 2), 1,
                  {"reg": 1e-3, "stopThr": 0.0}))
    big4 = blob_images(4, 256, seed=1)
    cases.append(("debiased conv 4 x 256x256 sinkhorn reg=4e-3 stopThr=1e-3",
                  lambda: ot.bregman.convolutional_barycenter2d_debiased(big4, 4e-3, stopThr=1e-3, log=True,
                                                                         numItermax=20000),
                  lambda: otkit.convolutional_barycenter2d_debiased(big4, 4e-3, stopThr=1e-3, log=True,
                                                                    numItermax=20000),
                  2, 1, {"reg": 4e-3, "stopThr": 1e-3}))
    imgs4 = blob_images(4, 64)
    cases.append(("debiased conv 4 x 64x64 sinkhorn_log reg=1e-3 numItermax=20",
                  lambda: ot.bregman.convolutional_barycenter2d_debiased(imgs4, 1e-3, method="sinkhorn_log",
                                                                         stopThr=0.0, numItermax=20, log=True,
                                                                         warn=False),
                  lambda: otkit.convolutional_barycenter2d_debiased(imgs4, 1e-3, method="sinkhorn_log", stopThr=0.0,
                                                                    numItermax=20, log=True, warn=False),
                  max(2, rep // 2), 1, {"reg": 1e-3, "stopThr": 0.0}))
    # unbalanced barycenters (KL-relaxed marginals, histograms of masses 0.5 to 2): one fused pass per iteration
    # with the power u = (A / K v)^fi; POT checks the stopping rule at every iteration
    Au = A * np.linspace(0.5, 2.0, N)[None, :]
    for method, reg, thr in [("sinkhorn", 1e-2, 1e-6), ("sinkhorn_stabilized", 1e-2, 1e-6)]:
        cases.append((f"unbalanced fixed d={d} N={N} {method} reg={reg:g} reg_m=1 stopThr={thr:g}",
                      lambda method=method, reg=reg, thr=thr: ot.unbalanced.barycenter_unbalanced(
                          Au, M, reg, 1.0, method=method, stopThr=thr, numItermax=20000, log=True),
                      lambda method=method, reg=reg, thr=thr: otkit.barycenter_unbalanced(
                          Au, M, reg, 1.0, method=method, stopThr=thr, numItermax=20000, log=True),
                      rep, None, {"reg": reg, "reg_m": 1.0, "stopThr": thr}))
    if args.only:
        cases = [c for c in cases if args.only in c[0]]

    gemm_start = peak_gflops() * 1e9  # float64 peak before the cases (and again after them: the best counts)
    for c in tqdm(cases, desc="barycenter benchmark"):
        row = run_case(rows, *c)
        print(f"{row['case']:<60s} otkit {row['otkit_min_s']:.4f}s  POT {row['pot_min_s']:.4f}s "
              f"(1 thread {row['pot_1thread_min_s']:.4f}s)  CPU 1 thread x{row['speedup_cpu_1thread']:.2f}  "
              f"x{row['speedup_min']:.2f} (median x{row['speedup_median']:.2f})  rel.diff {row['max_rel_diff']:.1e}  "
              f"niter {row['niter_otkit']}/{row['niter_pot']}", flush=True)

    # the big one to convergence (otkit only; not with --only)
    big_row = None
    if not args.only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            settle(0)
            t0 = time.perf_counter()
            _, lg = otkit.convolutional_barycenter2d(big, 4e-3, stopThr=1e-4, log=True, numItermax=20000)
            t_big = time.perf_counter() - t0
        big_row = {"case": "conv 10 x 256x256 sinkhorn reg=4e-3 stopThr=1e-4, otkit to convergence",
                   "otkit_s": t_big, "niter": lg["niter"], "converged": lg["converged"], "err": lg["err"][-1]}
        print(big_row)
    # float64 flop bound of the fixed-support kernel form: an iteration is two products of K (d x d) with the
    # d x N scalings (4 d^2 N flops); NumPy's (OpenBLAS) rate for that product on this machine bounds any
    # float64 implementation, and POT's time over that bound is the best speed-up any of them could reach
    # the machine's float64 peak: a 2048^3 product, best of 1.5 s of runs, before and after the cases
    gemm = max(gemm_start, peak_gflops() * 1e9)
    bound_rows = []
    for r in rows:
        if r["case"].startswith("fixed") and " sinkhorn reg" in r["case"] and r["niter_otkit"] is not None:
            flops = 4.0 * d * d * N * (r["niter_otkit"] + 1)
            pot_best = np.nanmin([r["pot_min_s"], r["pot_1thread_min_s"]])
            r.update(flops=flops, gemm_gflops=gemm / 1e9, bound_s=flops / gemm, best_possible_vs_pot=pot_best * gemm / flops,
                     otkit_gflops=flops / r["otkit_min_s"] / 1e9)
            bound_rows.append(r)
    info["loadavg_at_end"] = os.getloadavg()
    res = {"machine": info, "rows": rows, "big": big_row}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(res, f, indent=1, default=str)
    lines = [
        "# Barycenter benchmark: otkit vs POT (side by side, one run)",
        "",
        f"Machine: {info['cpu']}, nproc={info['nproc']}, load average at start {info['loadavg_at_start']} "
        f"(shared machine: absolute times are noisy, ratios are measured side by side). "
        f"numpy {info['numpy']}, POT {info['pot']}, otkit {info['otkit']}.",
        "",
        "POT is timed with its default BLAS threads and with one BLAS thread (threadpoolctl); the speed-up is "
        "against the faster of the two. otkit runs with its default threads (OpenMP, with its per-iteration "
        "choice between one and all threads). Each timed block starts after a 0.25 s busy wait "
        "(otkit.bench.common.settle: the threads of the library timed before stop spinning); a case runs at "
        "least 3 times, and up to 10 while the runs add up to less than 1 s.",
        "",
        "The last speed-up column is the ratio of CPU times with one thread each (POT: one BLAS thread; "
        "otkit: one OpenMP thread), the figure least disturbed by the other jobs on the machine.",
        "",
        "| case | otkit min (s) | POT min (s) | POT 1 thread min (s) | speed-up (min) | speed-up (median) | speed-up CPU time, 1 thread each | max rel. diff | niter otkit/POT | err reached |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        err = r["err_reached"]
        lines.append(f"| {r['case']} | {r['otkit_min_s']:.4f} | {r['pot_min_s']:.4f} | "
                     f"{r['pot_1thread_min_s']:.4f} | {r['speedup_min']:.2f}x | "
                     f"{r['speedup_median']:.2f}x | {r['speedup_cpu_1thread']:.2f}x | "
                     f"{r['max_rel_diff']:.1e} | {r['niter_otkit']}/{r['niter_pot']} | "
                     f"{'' if err is None else f'{err:.2e}'} |")
    if bound_rows:
        lines += ["", "Float64 bound of the fixed-support kernel form: 4 d^2 N flops per iteration (two products of K "
                  f"with the d x N scalings) at the machine's float64 peak measured in this run, {gemm / 1e9:.1f} "
                  "GFLOP/s (NumPy/OpenBLAS 2048 x 2048 product, best of 1.5 s of runs before and 1.5 s after the cases, "
                  "default threads; a measured best, so on a shared machine it can come out below what the hardware "
                  "does in a quieter minute):", "",
                  "| case | flops | time at the GEMM rate | otkit time (rate) | POT time | best possible vs POT | otkit vs POT |",
                  "|---|---|---|---|---|---|---|"]
        for r in bound_rows:
            lines.append(f"| {r['case']} | {r['flops'] / 1e9:.1f} GFLOP | {r['bound_s']:.4f} s | {r['otkit_min_s']:.4f} s "
                         f"({r['otkit_gflops']:.1f} GFLOP/s) | {np.nanmin([r['pot_min_s'], r['pot_1thread_min_s']]):.4f} s "
                         f"| {r['best_possible_vs_pot']:.2f}x | {r['speedup_min']:.2f}x |")
    if big_row is not None:
        lines += ["", f"Convolutional barycenter of 10 images of 256 x 256 (reg=4e-3, stopThr=1e-4), otkit alone: "
                  f"{t_big:.2f} s, {big_row['niter'] + 1} iterations, converged={big_row['converged']}, "
                  f"err={big_row['err']:.2e}.", ""]
    else:
        lines += ["", f"(cases matching --only {args.only!r}; load average at the end {info['loadavg_at_end']})", ""]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
