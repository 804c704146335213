"""Exact OT between point clouds without the cost matrix (issue 18): otkit.emd2_sample against the dense
route (otkit.emd2 and POT's ot.emd2 on ot.dist(x, y)), side by side in one run.

Each case runs in a fresh interpreter (one thread) that reports its wall time and its peak resident memory
(VmHWM, the whole process: Python, NumPy and the arrays included), so the memory column is what the call
really needs. Clouds: n = m uniform points in the unit square (2-D), uniform weights or random weights
(U[0.1, 1.1], normalized), squared Euclidean cost unless stated.

    python benchmarks/bench_emd_sample.py [--sizes 1000,3000,10000] [--dense-max 10000] [--budget 600]
        [--out benchmarks/results/emd_sample]
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from otkit.bench.common import emit_report, machine_info, machine_line, md_table  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
n, weights, metric, solver = {n}, {weights!r}, {metric!r}, {solver!r}
rng = np.random.default_rng(n)
x, y = rng.random((n, 2)), rng.random((n, 2))
if weights == "uniform":
    a = b = np.full(n, 1.0 / n)
else:
    a, b = rng.random(n) + 0.1, rng.random(n) + 0.1
    a, b = a / a.sum(), b / b.sum()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
info = {{}}
if solver == "otkit.emd2_sample":
    import otkit
    t0 = time.perf_counter()
    W, lg = otkit.emd2_sample(x, y, a, b, metric=metric, log=True)
    info["pivots"] = lg["niter"]
elif solver == "otkit.emd2 on dist":
    import otkit
    t0 = time.perf_counter()
    M = otkit.dist(x, y, metric=metric)
    W, lg = otkit.emd2(a, b, M, numItermax=10**9, log=True)
    info["pivots"] = lg["niter"]
else:
    import ot
    t0 = time.perf_counter()
    M = ot.dist(x, y, metric=metric)
    W = ot.emd2(a, b, M, numItermax=10**9)
info.update(seconds=time.perf_counter() - t0, cost=float(W), peak_mib=status("VmHWM"))
print(json.dumps(info))
"""


def run_case(root, n, weights, metric, solver, budget):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OTKIT_NUM_THREADS="1")
    code = CHILD.format(root=root, n=n, weights=weights, metric=metric, solver=solver)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=budget, env=env)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "note": f"over the {budget} s budget"}
    if out.returncode != 0:
        return {"seconds": None, "note": out.stderr.strip().splitlines()[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,3000,10000")
    ap.add_argument("--dense-max", type=int, default=10000, help="largest n for the dense (cost matrix) solvers")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per case")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = []
    for n in sizes:
        for weights in ("uniform", "random"):
            for metric in (("sqeuclidean", "euclidean") if n == max(sizes) else ("sqeuclidean",)):
                solvers = ["otkit.emd2_sample"]
                if n <= args.dense_max:
                    solvers += ["otkit.emd2 on dist", "POT ot.emd2 on ot.dist"]
                cases += [(n, weights, metric, s) for s in solvers]
    rows, data = [], []
    t_start = time.perf_counter()
    for k, (n, weights, metric, solver) in enumerate(cases):
        print(f"[{k + 1}/{len(cases)}] n={n} {weights} {metric} {solver} ({time.perf_counter() - t_start:.0f} s)",
              file=sys.stderr, flush=True)
        r = run_case(root, n, weights, metric, solver, args.budget)
        r.update(n=n, weights=weights, metric=metric, solver=solver)
        data.append(r)
    ref = {(r["n"], r["weights"], r["metric"]): r for r in data if r["solver"] == "otkit.emd2_sample"}
    for r in data:
        base = ref[(r["n"], r["weights"], r["metric"])]
        t = r.get("seconds")
        same = "-" if t is None or base.get("cost") is None else f"{abs(r['cost'] - base['cost']) / base['cost']:.1e}"
        ratio = "-" if t is None or base.get("seconds") is None else f"{t / base['seconds']:.2f}"
        rows.append([r["n"], r["weights"], r["metric"], r["solver"], "-" if t is None else f"{t:.2f}",
                     "-" if t is None else f"{r['peak_mib']:.0f}", r.get("pivots", "-"), ratio, same,
                     r.get("note", "")])
    info = machine_info(threads=1)
    text = ("# Exact OT between point clouds: otkit.emd2_sample vs the dense cost matrix\n\n"
            f"{machine_line(info)}\n\nOne thread, one fresh interpreter per case (peak memory = VmHWM of the whole "
            "process); uniform points in the unit square; time includes building the cost matrix for the dense "
            "solvers. Ratio > 1: emd2_sample is faster. Cost diff: relative difference of the optimal cost to "
            "emd2_sample's.\n\n"
            + md_table(["n = m", "weights", "metric", "solver", "time (s)", "peak memory (MiB)", "pivots",
                        "time / emd2_sample", "cost diff", "note"], rows) + "\n")
    emit_report(text, {"machine": info, "cases": data}, args.out)


if __name__ == "__main__":
    main()
