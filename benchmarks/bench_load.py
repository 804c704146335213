"""Under load: each kernel family with library defaults against one thread, on an idle machine and
with a CPU-bound competing process on every core (protocol: docs/bench.md, "Under load").

    python benchmarks/bench_load.py [--d 64,256,1024,4096] [--repeat 5] [--out benchmarks/results]

Families: Sinkhorn kernel form, log-domain and stabilized (otkit.sinkhorn2), a batched Sinkhorn
(20 histograms), the fixed-support barycenter (10 histograms), the semi-dual SGD (batch 256) and the
network simplex (otkit.emd2). Each call runs a fixed number of iterations (stopThr=0) so that both
settings do the same work. Per case, default and one-thread calls alternate (`repeat` of each); the
table gives the median and min of default / one thread (target under load: <= 1.3; idle: the gain of
the default). Writes bench_load.{json,md,png}.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import otkit  # noqa: E402


def _spin(stop):
    while not stop.is_set():
        for _ in range(100000):
            pass


class Load:
    """`n` CPU-bound processes (busy loops) while the block runs."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.stop = mp.Event()
        self.procs = [mp.Process(target=_spin, args=(self.stop,), daemon=True) for _ in range(self.n)]
        for p in self.procs:
            p.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.terminate()


def problem(d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((d, 2))
    M = otkit.dist(x, x, "euclidean")
    M /= np.median(M)
    return rng.dirichlet(np.ones(d)), rng.dirichlet(np.ones(d)), M


def families(d):
    """name -> zero-argument call, for dimension d (iterations scaled so that a call takes ~0.05-1 s)."""
    a, b, M = problem(d)
    it = int(np.clip(4e8 / d**2, 20, 2000))
    it_log = int(np.clip(1e8 / d**2, 10, 1000))
    B = np.random.default_rng(1).dirichlet(np.ones(d), size=20).T.copy()
    A = np.random.default_rng(2).dirichlet(np.ones(d), size=10).T.copy()
    rng = np.random.default_rng(3)
    out = {
        "sinkhorn": lambda: otkit.sinkhorn2(a, b, M, 0.1, numItermax=it, stopThr=0),
        "sinkhorn_log": lambda: otkit.sinkhorn2(a, b, M, 0.1, method="sinkhorn_log", numItermax=it_log, stopThr=0),
        "sinkhorn_stabilized": lambda: otkit.sinkhorn2(a, b, M, 0.1, method="sinkhorn_stabilized",
                                                       numItermax=it, stopThr=0),
        "sinkhorn_batch20": lambda: otkit.sinkhorn2(a, B, M, 0.1, numItermax=max(10, it // 10), stopThr=0),
        "barycenter": lambda: otkit.barycenter(A, M, 0.1, numItermax=max(5, it // 20), stopThr=0),
        "semidual_sgd": lambda: otkit.stochastic.solve_semi_dual_entropic(
            a, b, M, 0.1, method="SGD", batch_size=256, numItermax=max(20, int(2e7 / (256 * d))), seed=0,
            backend="cpp"),
    }
    if d <= 1024:
        out["emd"] = lambda: otkit.emd2(a, b, M)
    return out


def _sample(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def time_case(fn, repeat, min_sample=0.2):
    """Alternating samples of the time per call, default then one thread. A sample repeats the call
    until it lasts min_sample seconds: on a loaded machine a call of a few ms is preempted or not (a
    time slice is ~3 ms), and only longer samples average that out."""
    t0 = time.perf_counter()
    fn()  # warm-up (allocations, the tuner's process memory)
    calls = max(1, int(min_sample / max(time.perf_counter() - t0, 1e-6)))
    t_def, t_one = [], []
    for _ in range(repeat):
        t_def.append(_sample(fn, calls))
        with otkit.num_threads(1):
            t_one.append(_sample(fn, calls))
    return t_def, t_one, calls


def run(ds, repeat, loads):
    rows = []
    for load in loads:
        ctx = Load(os.cpu_count() * load) if load else None
        if ctx:
            ctx.__enter__()
        try:
            for d in ds:
                for name, fn in families(d).items():
                    t_def, t_one, calls = time_case(fn, repeat)
                    row = {"load": f"{load} per core" if load else "idle", "family": name, "d": d, "calls": calls,
                           "default_med": float(np.median(t_def)), "one_med": float(np.median(t_one)),
                           "default_min": min(t_def), "one_min": min(t_one),
                           "loadavg": os.getloadavg()[0]}
                    row["ratio_med"] = row["default_med"] / row["one_med"]
                    row["ratio_min"] = row["default_min"] / row["one_min"]
                    rows.append(row)
                    print(f"{row['load']:<11} {name:<20} d={d:<5} default {row['default_med']*1e3:9.2f} ms  "
                          f"one {row['one_med']*1e3:9.2f} ms  ratio {row['ratio_med']:.2f} (min {row['ratio_min']:.2f})",
                          flush=True)
        finally:
            if ctx:
                ctx.__exit__(None, None, None)
    return rows


def write(rows, out, meta):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "bench_load.json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [f"# Defaults vs one thread, idle and under load\n", f"{meta['machine']}; {meta['config']}\n",
             f"Ratio = default time / one-thread time per call, median (and min) over {meta['repeat']} alternating "
             "samples; a sample repeats the call until it lasts 0.2 s (`calls`). Under load each core also runs "
             "CPU-bound busy loops; `loadavg` is the 1-minute load average at the end of the case.\n",
             "| load | family | d | calls | default (ms) | one thread (ms) | ratio med | ratio min | loadavg |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['load']} | {r['family']} | {r['d']} | {r['calls']} | {r['default_med']*1e3:.2f} "
                     f"| {r['one_med']*1e3:.2f} | {r['ratio_med']:.2f} | {r['ratio_min']:.2f} | {r['loadavg']:.1f} |")
    worst = max((r["ratio_med"] for r in rows if r["load"] != "idle"), default=float("nan"))
    idle = [r["ratio_med"] for r in rows if r["load"] == "idle"]
    lines.append(f"\nWorst median ratio under load: {worst:.2f} (target <= 1.3). Idle: "
                 f"{min(idle, default=float('nan')):.2f} to {max(idle, default=float('nan')):.2f}.")
    (out / "bench_load.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        loads = sorted({r["load"] for r in rows}, key=lambda s: (s != "idle", s))
        fig, axes = plt.subplots(1, len(loads), figsize=(6 * len(loads), 4.2), squeeze=False, sharey=True)
        for ax, load in zip(axes[0], loads):
            for fam in sorted({r["family"] for r in rows}):
                rr = [r for r in rows if r["load"] == load and r["family"] == fam]
                ax.plot([r["d"] for r in rr], [r["ratio_med"] for r in rr], marker="o", label=fam)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.axhline(1.3, color="r", lw=0.8, ls="--", label="1.3 (target under load)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("d")
            ax.set_title(f"{load}")
        axes[0][0].set_ylabel("default / one thread (median)")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "bench_load.png", dpi=110)
    except ImportError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", default="64,256,1024,4096")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--loads", default="0,1,4", help="competing busy processes per core (0: idle)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    ds = [int(x) for x in args.d.split(",")]
    loads = [int(x) for x in args.loads.split(",")]
    cfg = otkit.show_config(as_dict=True)
    meta = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "config": f"{cfg['cpp'].get('module')} threads={cfg['cpp'].get('openmp_threads')} "
                      f"{cfg['cpp'].get('openmp_wait')}", "repeat": args.repeat}
    rows = run(ds, args.repeat, loads)
    write(rows, Path(args.out), meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
