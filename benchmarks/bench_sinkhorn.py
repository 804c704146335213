"""Sinkhorn benchmark of issue 2, run through ``otkit.bench`` (protocol: docs/bench.md, sections 1-3).

    python benchmarks/bench_sinkhorn.py [--d 4096] [--threads 0] [--pot-log-budget 60] [--out benchmarks/results]

* d = 4096, random-graph shortest-path metric (unit median), a, b ~ Dirichlet(1), stopThr 1e-6 (POT's marginal
  L2 criterion, checked every 10 iterations), reg in {1, 0.1, 0.02}:
  - otkit.sinkhorn2 (cpp, kernel form) vs POT ot.sinkhorn2, end to end (target >= 3x);
  - otkit log-domain vs POT sinkhorn_log (target >= 20x). POT's sinkhorn_log is slow at d = 4096: its time per
    iteration is probed first and, if a full call would exceed --pot-log-budget seconds, numItermax is capped
    for BOTH sides equally (the table says so);
  - otkit numba vs otkit cpp (target: within 2x).
* one histogram vs N = 100 at d = 1024 (otkit batched vs sequential POT; target >= 20x per pair);
* the memory-bandwidth fraction of otkit's kernel-form iteration (target >= 70% of NumPy ``K @ v``).

Every ratio is measured side by side in one process; min (and median) over repeats (up to 3, fewer when a call
is long: see the ``repeat`` column). Results: <out>/bench_sinkhorn.json and .md.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otkit.bench import solvers as S  # noqa: E402
from otkit.bench.bandwidth import bandwidth_markdown, measure_bandwidth  # noqa: E402
from otkit.bench.batch import run_batch  # noqa: E402
from otkit.bench.common import (default_cache_dir, fmt_time, get_metric, limit_threads, machine_info,  # noqa: E402
                                machine_line, md_table, progress, settle, timed, write_json)
from otkit.bench.problems import random_histograms  # noqa: E402


def measure(name, a, b, M, reg, stopThr, numItermax, threads, max_repeat=5, budget=30.0):
    s = S.SOLVERS[name]
    times, res = [], None
    settle(threads)
    while len(times) < max_repeat and (not times or sum(times) < budget):
        t, res = timed(s.run, a, b, M, reg, stopThr, numItermax, threads)
        times.append(t)
    return {"solver": name, "t_min": min(times), "t_median": float(np.median(times)), "repeat": len(times), **res}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--regs", default="1,0.1,0.02")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--pot-log-budget", type=float, default=60.0)
    ap.add_argument("--batch-d", type=int, default=1024)
    ap.add_argument("--batch-n", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    regs = [float(r) for r in args.regs.split(",")]
    d, thr, stopThr = args.d, args.threads, 1e-6
    info = machine_info(thr)
    t0 = time.perf_counter()
    import otkit

    backends = otkit.available_backends()
    M = get_metric("graph", d, 0, default_cache_dir())
    a, b = random_histograms(d, 2, d)
    rows = []
    bar = progress(len(regs) * (2 + 2 * len(backends)), "bench_sinkhorn")
    with limit_threads(thr):
        for n in S.SOLVERS:
            if S.SOLVERS[n].warmup and n.startswith("otkit-") and S.SOLVERS[n].available()[0]:
                S.SOLVERS[n].warmup()
        for reg in regs:
            # kernel form: full numItermax = 1000 (POT's default)
            grp = {}
            for n in [f"otkit-{be}-sinkhorn" for be in backends] + ["pot-sinkhorn"]:
                bar.set_postfix_str(f"reg={reg:g} {n}")
                grp[n] = measure(n, a, b, M, reg, stopThr, 1000, thr)
                bar.update(1)
            # log-domain: probe POT's time per iteration, cap numItermax for both sides if needed
            bar.set_postfix_str(f"reg={reg:g} probing POT sinkhorn_log")
            tp, _ = timed(S.SOLVERS["pot-sinkhorn_log"].run, a, b, M, reg, stopThr, 10, thr)
            per_it = tp / 10
            cap = 1000
            if per_it * 1000 > args.pot_log_budget:
                cap = max(10, int(args.pot_log_budget / per_it) // 10 * 10)
            for n in [f"otkit-{be}-sinkhorn_log" for be in backends] + ["pot-sinkhorn_log"]:
                bar.set_postfix_str(f"reg={reg:g} {n} (numItermax {cap})")
                grp[n] = measure(n, a, b, M, reg, stopThr, cap, thr, budget=args.pot_log_budget)
                grp[n]["numItermax"] = cap
                bar.update(1)
            for n, r in grp.items():
                r.update(reg=reg, d=d, numItermax=r.get("numItermax", 1000))
                ref = "pot-sinkhorn_log" if n.endswith("_log") else "pot-sinkhorn"
                r["rel_vs_pot"] = abs(r["value"] - grp[ref]["value"]) / abs(grp[ref]["value"])
                r["speedup_vs_pot"] = grp[ref]["t_min"] / r["t_min"]
                if r["rel_vs_pot"] > 1e-6:
                    print(f"!!! MISMATCH {n} vs {ref} at reg={reg}: relative {r['rel_vs_pot']:.2e}", flush=True)
                rows.append(r)
    bar.close()
    print("batched ...", flush=True)
    batch = {"rows": [], "mismatches": []}
    for reg in regs:
        br = run_batch(dims=[args.batch_d], N=args.batch_n, reg=reg, metric="graph", repeat=5, threads=thr,
                       cache_dir=default_cache_dir(), stream=io.StringIO(), show_progress=False)
        batch["rows"] += br["rows"]
        batch["mismatches"] += br["mismatches"]
    print("bandwidth ...", flush=True)
    bw = measure_bandwidth(d, threads=thr, repeat=5, backends=backends)
    res = {"machine": info, "d": d, "threads": thr, "stopThr": stopThr, "rows": rows, "batch": batch["rows"],
           "batch_mismatches": batch["mismatches"], "bandwidth": bw, "duration_s": time.perf_counter() - t0}
    write_json(out / "bench_sinkhorn.json", res)
    md = markdown(res, backends)
    (out / "bench_sinkhorn.md").write_text(md)
    print(md)


def markdown(res, backends):
    rows = res["rows"]
    L = [f"# Sinkhorn benchmark (issue 2 protocol), d = {res['d']}, graph metric", "",
         f"Machine: {machine_line(res['machine'])}. Total {res['duration_s']:.0f} s.", "",
         "stopThr 1e-6 (marginal L2 error, checked every 10 iterations) for every solver; Numba JIT compilation "
         "excluded; speed-up = POT time / otkit time (min over the repeats).", "",
         "## End to end vs POT", ""]
    head = ["reg", "method", "numItermax", "iterations", "achieved error"] + [f"otkit {be}" for be in backends] + [
        "POT"] + [f"otkit {be} vs POT" for be in backends] + ["repeat", "rel. diff. vs POT (max)"]
    tab = []
    for reg in sorted({r["reg"] for r in rows}, reverse=True):
        for meth, pot, target in (("sinkhorn", "pot-sinkhorn", 3), ("sinkhorn_log", "pot-sinkhorn_log", 20)):
            g = {r["solver"]: r for r in rows if r["reg"] == reg and r["solver"].endswith(meth)
                 and (meth == "sinkhorn_log" or not r["solver"].endswith("_log"))}
            p = g[pot]
            ok = [g[f"otkit-{be}-{meth}"] for be in backends]
            tab.append([f"{reg:g}", meth + (f" (target >= {target}x)"), p["numItermax"], p["niter"], f"{p['err']:.1e}"]
                       + [fmt_time(r["t_min"]) for r in ok] + [fmt_time(p["t_min"])]
                       + [f"**{r['speedup_vs_pot']:.2f}x**" for r in ok] + [
                           "/".join(str(r["repeat"]) for r in ok + [p]),
                           f"{max(r['rel_vs_pot'] for r in ok):.1e}"])
    L += [md_table(head, tab), ""]
    capped = [r for r in rows if r["solver"] == "pot-sinkhorn_log" and r["numItermax"] < 1000]
    if capped:
        L += ["Log-domain rows with numItermax < 1000: POT's sinkhorn_log would take more than the budget per call at "
              "this d, so numItermax was capped for both sides equally (same iterates, same value to compare).", ""]
    if "numba" in backends and "cpp" in backends:
        L += ["## Numba vs C++ (target: numba within 2x of cpp)", ""]
        t2 = []
        for r in rows:
            if r["solver"].startswith("otkit-numba"):
                c = next(x for x in rows if x["reg"] == r["reg"] and x["solver"] == r["solver"].replace("numba", "cpp"))
                t2.append([f"{r['reg']:g}", r["solver"].split("-", 2)[2], fmt_time(c["t_min"]), fmt_time(r["t_min"]),
                           f"{r['t_min'] / c['t_min']:.2f}x"])
        L += [md_table(["reg", "method", "cpp", "numba", "numba / cpp"], t2), ""]
    L += ["## One vs N (batched), target >= 20x per pair vs sequential POT", ""]
    bt = []
    be0 = backends[0]
    for r in res["batch"]:
        flops = r[f"otkit_{be0}_flops"] / r["N"]
        bound = flops / (r["gemm_gflops"] * 1e9)
        bt.append([r["d"], r["N"], r["reg"]] + [fmt_time(r[f"otkit_{be}_per_pair_s"]) for be in backends]
                  + [fmt_time(r["pot_seq_per_pair_s"]) + f" ({r['pot_seq_pairs_timed']} pairs timed)",
                     fmt_time(r.get("pot_batched_per_pair_s"))]
                  + [f"**{r[f'speedup_{be}_vs_pot_seq']:.1f}x**" for be in backends]
                  + [f"{flops / 1e6:.0f} MFLOP, {fmt_time(bound)} at {r['gemm_gflops']:.0f} GFLOP/s "
                     f"({r['pot_seq_per_pair_s'] / bound:.1f}x)",
                     f"{flops / r[f'otkit_{be0}_per_pair_s'] / 1e9:.0f} GFLOP/s",
                     f"{max(r[f'agree_{be}_max_rel'] for be in backends):.1e}"])
    L += [md_table(["d", "N", "reg"] + [f"otkit {be} / pair" for be in backends]
                   + ["POT sequential / pair", "POT batched / pair"] + [f"otkit {be} vs POT seq." for be in backends]
                   + ["flops / pair; time at the NumPy GEMM rate (best possible vs POT seq.)", f"otkit {be0} rate",
                      "rel. diff. (max)"], bt), "",
          "The batched iteration is two products of K (d x d) with the d x N active columns: 4 d^2 flops per column "
          "and iteration, float64. The GEMM rate is the machine's float64 peak as NumPy (OpenBLAS) reaches it on a "
          "2048 x 2048 product, best of 1.5 s of runs, measured in the same run; no float64 solver does the flops "
          "faster, so the 'best possible' ratio bounds any float64 batched Sinkhorn on this machine.", ""]
    L += ["## Memory-bandwidth bound (target >= 70%)", "", bandwidth_markdown(res["bandwidth"]), ""]
    return "\n".join(L)


if __name__ == "__main__":
    main()
