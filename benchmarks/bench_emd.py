"""Exact OT benchmark: otkit.emd2 (network simplex, cpp and numba) vs POT ot.emd2 vs FastEMD.

Protocol of docs/bench.md, section 1 (the sweep): histogram dimension sweep d in {64, ..., 4096}
on two ground metrics (random-graph shortest paths and Euclidean distances in the unit square,
both rescaled to unit median), Dirichlet(1) histograms with a fixed seed per d. Every solver
runs on the same inputs in the same process, interleaved repeat by repeat; we report min and
median times, the ratios POT/otkit and FastEMD/otkit, and the relative cost differences.

FastEMD (``pyemd<2`` with ``backend="cpp"``: pyemd 1.1 made POT its default backend) is slow at large d: each call runs in a forked child with
a time budget (``--fastemd-budget``); a call over budget is killed and reported as skipped
(and larger d are skipped for that metric).

Also measures the peak memory of one ``otkit.emd2`` call at the largest d in a fresh process
(``/proc/self/status`` VmHWM after resetting it through ``/proc/self/clear_refs``; tracemalloc
cannot see C++ allocations).

Usage::

    python benchmarks/bench_emd.py                 # full sweep (several minutes)
    python benchmarks/bench_emd.py --quick         # d in {64, 128, 256}
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a source checkout

import otkit  # noqa: E402
from otkit import _backend  # noqa: E402
from otkit.bench.problems import euclidean_metric, graph_metric, random_histograms  # noqa: E402

METRICS = {"graph": graph_metric, "euclidean": euclidean_metric}
NUM_ITER = 10**9  # large enough that no solver stops early


def machine_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba
    import ot
    import scipy

    try:
        from importlib.metadata import version

        pyemd_version = version("pyemd")
    except Exception:  # noqa: BLE001
        pyemd_version = None
    info = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pot": ot.__version__,
        "pyemd": pyemd_version,
        "numba": numba.__version__,
        "otkit": otkit.__version__,
        "otkit_build": dict(_backend.ext().build_info) if _backend.is_available("cpp") else None,
        "note": "shared machine (other jobs running): compare ratios measured side by side, not absolute times",
    }
    return info


def _fastemd_child(conn, a, b, M):
    from otkit.bench.common import fastemd

    t, tc = time.perf_counter(), time.process_time()
    c = fastemd(a, b, M)
    conn.send((time.perf_counter() - t, float(c), time.process_time() - tc))
    conn.close()


def fastemd_call(a, b, M, budget):
    """(seconds, cost) or None when the call did not finish within ``budget`` seconds."""
    ctx = mp.get_context("fork")  # the child shares M copy-on-write
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_fastemd_child, args=(child, a, b, M))
    p.start()
    child.close()
    out = None
    if parent.poll(budget):
        out = parent.recv()
    p.kill() if out is None else None
    p.join()
    return out


def timed(fn):
    """(wall seconds, value, CPU seconds of this process)."""
    t, tc = time.perf_counter(), time.process_time()
    v = fn()
    return time.perf_counter() - t, float(v), time.process_time() - tc


def stats(ts):
    return {"min": float(np.min(ts)), "median": float(np.median(ts)), "all": [float(t) for t in ts]}


PEAK_CHILD = r"""
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
import otkit
def status():
    d = {}
    for line in open('/proc/self/status'):
        k, v = line.split(':', 1)
        if k in ('VmHWM', 'VmRSS'):
            d[k] = int(v.split()[0]) * 1024
    return d
M = np.load(sys.argv[2]); h = np.load(sys.argv[3]); a, b = h[0], h[1]
what = sys.argv[4]
if what == 'pot':
    import ot
    f = lambda: ot.emd2(a, b, M, numItermax=10**9)
elif what == 'otkit_emd':
    f = lambda: otkit.emd(a, b, M, numItermax=10**9, backend='cpp')
elif what == 'kernel_cpp':
    from otkit import _ext
    f = lambda: _ext.emd_network_simplex(M, a, b, 10**9)
else:
    f = lambda: otkit.emd2(a, b, M, numItermax=10**9, backend=what)
f()  # warm (imports, numba compile)
import gc; gc.collect()
base = status()['VmRSS']
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak
f()
print(json.dumps({'extra_peak_bytes': status()['VmHWM'] - base, 'M_bytes': M.nbytes}))
"""


def measure_peak(M, a, b, solvers):
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        mp_, hp = os.path.join(tmp, "M.npy"), os.path.join(tmp, "h.npy")
        np.save(mp_, M)
        np.save(hp, np.stack([a, b]))
        for s in solvers:
            r = subprocess.run([sys.executable, "-c", PEAK_CHILD, os.path.dirname(HERE), mp_, hp, s],
                               capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                out[s] = {"error": r.stderr[-500:]}
            else:
                out[s] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096])
    ap.add_argument("--metrics", nargs="+", default=list(METRICS), choices=list(METRICS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fastemd-budget", type=float, default=60.0, help="seconds per FastEMD call")
    ap.add_argument("--no-numba", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--quick", action="store_true", help="d in {64, 128, 256}")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "emd"))
    ap.add_argument("--render", action="store_true", help="only rewrite OUT.md and OUT.png from OUT.json")
    args = ap.parse_args(argv)
    if args.render:
        with open(args.out + ".json") as f:
            result = json.load(f)
        _add_derived(result)
        with open(args.out + ".md", "w") as f:
            f.write(to_markdown(result))
        plot(result, args.out + ".png")
        print(to_markdown(result))
        return
    if args.quick:
        args.d = [64, 128, 256]
    import ot
    from tqdm import tqdm

    backends = ["cpp"] if _backend.is_available("cpp") else []
    if not args.no_numba and _backend.is_available("numba"):
        backends.append("numba")
        otkit.emd2([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], backend="numba")  # compile
    runs = []
    skip_fastemd = {m: False for m in args.metrics}
    jobs = [(mname, d) for mname in args.metrics for d in args.d]
    for mname, d in tqdm(jobs, desc="emd sweep"):
        M = METRICS[mname](d, seed=d)
        a, b = random_histograms(d, 2, seed=d)
        reps = args.repeats
        times = {f"otkit_{be}": [] for be in backends}
        times["pot"] = []
        times["fastemd"] = []
        cpu = {k: [] for k in times}
        costs = {}
        fast_status = "ok"
        for _ in range(reps):
            for be in backends:
                t, c, tc = timed(lambda: otkit.emd2(a, b, M, numItermax=NUM_ITER, backend=be))
                times[f"otkit_{be}"].append(t)
                cpu[f"otkit_{be}"].append(tc)
                costs[f"otkit_{be}"] = c
            t, c, tc = timed(lambda: ot.emd2(a, b, M, numItermax=NUM_ITER))
            times["pot"].append(t)
            cpu["pot"].append(tc)
            costs["pot"] = c
            if not skip_fastemd[mname] and fast_status == "ok":
                r = fastemd_call(a, b, M, args.fastemd_budget)
                if r is None:
                    fast_status = f"skipped (over {args.fastemd_budget:g} s budget)"
                    skip_fastemd[mname] = True
                else:
                    times["fastemd"].append(r[0])
                    cpu["fastemd"].append(r[2])
                    costs["fastemd"] = r[1]
            elif skip_fastemd[mname] and fast_status == "ok":
                fast_status = "skipped (over budget at a smaller d)"
        _, lg = otkit.emd2(a, b, M, numItermax=NUM_ITER, log=True, backend=backends[0])
        ref = costs["pot"]
        run = {
            "metric": mname,
            "d": d,
            "times": {k: stats(v) for k, v in times.items() if v},
            "cpu_times": {k: stats(v) for k, v in cpu.items() if v},
            "costs": costs,
            "rel_diff_vs_pot": {k: abs(c - ref) / abs(ref) for k, c in costs.items() if k != "pot"},
            "otkit_pivots": lg["niter"],
            "fastemd": fast_status,
        }
        tm = run["times"]
        ours = tm["otkit_cpp"]["median"] if "otkit_cpp" in tm else tm[f"otkit_{backends[0]}"]["median"]
        run["ratio_pot_over_otkit"] = tm["pot"]["median"] / ours
        if "fastemd" in tm:
            run["ratio_fastemd_over_otkit"] = tm["fastemd"]["median"] / ours
        if "otkit_numba" in tm and "otkit_cpp" in tm:
            run["ratio_numba_over_cpp"] = tm["otkit_numba"]["median"] / tm["otkit_cpp"]["median"]
        ct = run["cpu_times"]
        ours_cpu = ct["otkit_cpp"]["median"] if "otkit_cpp" in ct else ct[f"otkit_{backends[0]}"]["median"]
        run["cpu_ratio_pot_over_otkit"] = ct["pot"]["median"] / ours_cpu
        if "fastemd" in ct:
            run["cpu_ratio_fastemd_over_otkit"] = ct["fastemd"]["median"] / ours_cpu
        if "otkit_numba" in ct and "otkit_cpp" in ct:
            run["cpu_ratio_numba_over_cpp"] = ct["otkit_numba"]["median"] / ct["otkit_cpp"]["median"]
        runs.append(run)
        tqdm.write(f"{mname:9s} d={d:5d} otkit {ours:.4f}s  POT/otkit {run['ratio_pot_over_otkit']:.2f}  "
                   f"FastEMD/otkit {run.get('ratio_fastemd_over_otkit', float('nan')):.2f}  "
                   f"numba/cpp {run.get('ratio_numba_over_cpp', float('nan')):.2f}  "
                   f"max rel diff {max(run['rel_diff_vs_pot'].values()):.1e}")
    memory = None
    if not args.no_memory:
        d = max(args.d)
        M = METRICS["euclidean"](d, seed=d)
        a, b = random_histograms(d, 2, seed=d)
        memory = {"d": d, "metric": "euclidean",
                  "peak": measure_peak(M, a, b, (["kernel_cpp"] if "cpp" in backends else []) + backends + ["otkit_emd", "pot"])}
    result = {"machine": machine_info(), "num_iter_max": NUM_ITER, "repeats": args.repeats,
              "fastemd_budget_s": args.fastemd_budget, "runs": runs, "memory": memory}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    md = to_markdown(result)
    with open(args.out + ".md", "w") as f:
        f.write(md)
    plot(result, args.out + ".png")
    print(md)


def _add_derived(res):
    """Ratios computed from the stored times (for JSON files written by older versions)."""
    for r in res["runs"]:
        ct = r.get("cpu_times", {})
        if "otkit_numba" in ct and "otkit_cpp" in ct:
            r["cpu_ratio_numba_over_cpp"] = ct["otkit_numba"]["median"] / ct["otkit_cpp"]["median"]


def to_markdown(res):
    mi = res["machine"]
    lines = [
        "# Exact OT: otkit.emd2 vs POT ot.emd2 vs FastEMD (pyemd)",
        "",
        f"Machine: {mi['cpu']}, nproc={mi['nproc']} (shared with other jobs: read the ratios, measured side by "
        f"side in one run). Versions: numpy {mi['numpy']}, scipy {mi['scipy']}, POT {mi['pot']}, pyemd "
        f"{mi['pyemd']}, numba {mi['numba']}. Median of {res['repeats']} repeats (min in the JSON); FastEMD "
        f"budget {res['fastemd_budget_s']:g} s per call. Ratios > 1: otkit is faster. Wall-clock ratios, and "
        "the same ratios on CPU time (time.process_time, less sensitive to the other jobs on the machine).",
        "",
        "| metric | d | otkit cpp (s) | otkit numba (s) | POT (s) | FastEMD (s) | POT / otkit | FastEMD / otkit "
        "| numba / cpp | POT / otkit (CPU) | FastEMD / otkit (CPU) | numba / cpp (CPU) | max rel. cost diff vs POT "
        "| pivots |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def t(r, k):
        return f"{r['times'][k]['median']:.4f}" if k in r["times"] else "-"

    for r in res["runs"]:
        fe = t(r, "fastemd") if "fastemd" in r["times"] else r["fastemd"]
        rd = {k: v for k, v in r["rel_diff_vs_pot"].items() if k != "fastemd"}
        rel = f"{max(rd.values()):.1e}" if rd else "-"
        if "fastemd" in r["rel_diff_vs_pot"]:
            rel += f" (FastEMD {r['rel_diff_vs_pot']['fastemd']:.1e})"
        lines.append(
            f"| {r['metric']} | {r['d']} | {t(r, 'otkit_cpp')} | {t(r, 'otkit_numba')} | {t(r, 'pot')} | {fe} | "
            f"{r['ratio_pot_over_otkit']:.2f} | "
            + (f"{r['ratio_fastemd_over_otkit']:.1f}" if "ratio_fastemd_over_otkit" in r else "-")
            + " | " + (f"{r['ratio_numba_over_cpp']:.2f}" if "ratio_numba_over_cpp" in r else "-")
            + f" | {r['cpu_ratio_pot_over_otkit']:.2f} | "
            + (f"{r['cpu_ratio_fastemd_over_otkit']:.1f}" if "cpu_ratio_fastemd_over_otkit" in r else "-")
            + " | " + (f"{r['cpu_ratio_numba_over_cpp']:.2f}" if "cpu_ratio_numba_over_cpp" in r else "-")
            + f" | {rel} | {r['otkit_pivots']} |"
        )
    if res.get("memory"):
        m = res["memory"]
        lines += ["", f"Peak memory of one call at d = {m['d']} ({m['metric']} metric; M itself is "
                  f"{next(iter(v['M_bytes'] for v in m['peak'].values() if 'M_bytes' in v), 0) / 2**20:.0f} MiB "
                  "and is not counted): increase of VmHWM over the resident size before the call.", "",
                  "| call | extra peak memory (MiB) |", "|---|---:|"]
        names = {"kernel_cpp": "C++ kernel alone (otkit._ext.emd_network_simplex)", "cpp": "otkit.emd2 (cpp)", "numba": "otkit.emd2 (numba)", "otkit_emd": "otkit.emd (dense plan, cpp)",
                 "pot": "POT ot.emd2"}
        for k, v in m["peak"].items():
            val = f"{v['extra_peak_bytes'] / 2**20:.1f}" if "extra_peak_bytes" in v else "error"
            lines.append(f"| {names.get(k, k)} | {val} |")
    return "\n".join(lines) + "\n"


def plot(res, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001
        return
    metrics = sorted({r["metric"] for r in res["runs"]})
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
    labels = {"otkit_cpp": "otkit (cpp)", "otkit_numba": "otkit (numba)", "pot": "POT ot.emd2",
              "fastemd": "FastEMD (pyemd)"}
    for ax, mname in zip(axes[0], metrics):
        rs = [r for r in res["runs"] if r["metric"] == mname]
        for k, lab in labels.items():
            key = "cpu_times" if "cpu_times" in rs[0] else "times"
            pts = [(r["d"], r[key][k]["median"]) for r in rs if k in r[key]]
            if pts:
                ax.loglog(*zip(*pts), "o-", label=lab)
        ax.set_title(f"exact OT, {mname} metric")
        ax.set_xlabel("d")
        ax.set_ylabel("CPU time (s), median" if "cpu_times" in rs[0] else "time (s), median")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
