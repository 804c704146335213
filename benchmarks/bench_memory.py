"""Memory: (1) repeated calls leave the resident memory flat; (2) the peak memory of one call at d = 4096,
otkit against POT (issue 20).

    python benchmarks/bench_memory.py [--calls 2000] [--d 4096] [--out benchmarks/results]

(1) Each family runs ``calls`` times on a small problem in one process; the resident set size (VmRSS) is
read after the first 10% of the calls (allocator pools warmed up) and at the end: the growth per call
must be ~0. (2) Each (library, function) runs once in a fresh process on a d x d problem (float64 M of
d^2 x 8 bytes, built before the measurement): the extra memory of the call is VmHWM after the call minus
VmRSS before it, with VmHWM reset to VmRSS just before the call (``/proc/self/clear_refs``, Linux). Writes bench_memory.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = {
    "sinkhorn2": "otkit.sinkhorn2(a, b, M, 0.1, numItermax=50, warn=False)",
    "sinkhorn2 log": "otkit.sinkhorn2(a, b, M, 0.1, method='sinkhorn_log', numItermax=50, warn=False)",
    "sinkhorn2 stabilized": "otkit.sinkhorn2(a, b, M, 0.1, method='sinkhorn_stabilized', numItermax=50, warn=False)",
    "sinkhorn (plan)": "otkit.sinkhorn(a, b, M, 0.1, numItermax=50, warn=False)",
    "sinkhorn2 batched": "otkit.sinkhorn2(a, B, M, 0.1, numItermax=50, warn=False)",
    "sinkhorn_unbalanced2": "otkit.sinkhorn_unbalanced2(a, b, M, 0.1, 1.0, numItermax=50)",
    "emd2": "otkit.emd2(a, b, M)",
    "emd (log)": "otkit.emd(a, b, M, log=True)",
    "barycenter": "otkit.barycenter(A, M, 0.1, numItermax=50, warn=False)",
    "barycenter log": "otkit.barycenter(A, M, 0.1, method='sinkhorn_log', numItermax=20, warn=False)",
    "convolutional_barycenter2d": "otkit.convolutional_barycenter2d(IM, 0.05, numItermax=20, warn=False)",
    "wasserstein_1d": "otkit.wasserstein_1d(x[:, 0], y[:, 0], p=2)",
    "semi-dual SAG": "otkit.stochastic.solve_semi_dual_entropic(a, b, M, 0.1, 'SAG', numItermax=500, seed=0, warn=False)",
    "point cloud": "otkit.sinkhorn2(a, b, PointCloud(x, y), 0.1, numItermax=20, warn=False)",
}

SETUP = """
import numpy as np, otkit, warnings
from otkit.geometry import PointCloud
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
d = {d}
x, y = rng.random((d, 2)), rng.random((d, 2))
M = otkit.dist(x, y); M /= M.max()
a, b = otkit.unif(d), otkit.unif(d)
B = np.stack([b] * 4, 1)
A = rng.dirichlet(np.ones(d), size=3).T.copy()
IM = rng.random((3, 32, 32)); IM /= IM.sum((1, 2), keepdims=True)
def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
"""

LOOP = SETUP + """
import json, sys
out = {{}}
for name, stmt in {families!r}.items():
    f = eval("lambda: " + stmt)
    n0 = max(1, {calls} // 10)
    for _ in range(n0):
        f()
    r0 = status("VmRSS")
    for _ in range({calls} - n0):
        f()
    r1 = status("VmRSS")
    out[name] = [r0, r1]
    print(name, r0, r1, file=sys.stderr, flush=True)
print(json.dumps(out))
"""

PEAK = SETUP + """
import json, ot
stmt = {stmt!r}
f = eval("lambda: " + stmt)
with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM to the current RSS (the set-up's temporaries)
    fh.write("5")
before = status("VmRSS")
t0 = __import__("time").perf_counter()
f()
secs = __import__("time").perf_counter() - t0
print(json.dumps({{"before": before, "peak": status("VmHWM"), "seconds": secs}}))
"""

PEAK_CASES = {
    ("emd2", "otkit"): "otkit.emd2(a, b, M)",
    ("emd2", "POT"): "ot.emd2(a, b, M)",
    ("sinkhorn2", "otkit"): "otkit.sinkhorn2(a, b, M, 0.1, numItermax=100, warn=False)",
    ("sinkhorn2", "POT"): "ot.sinkhorn2(a, b, M, 0.1, numItermax=100)",
    ("sinkhorn2 log", "otkit"): "otkit.sinkhorn2(a, b, M, 0.1, method='sinkhorn_log', numItermax=20, warn=False)",
    ("sinkhorn2 log", "POT"): "ot.sinkhorn2(a, b, M, 0.1, method='sinkhorn_log', numItermax=20)",
    ("barycenter", "otkit"): "otkit.barycenter(A, M, 0.1, numItermax=50, warn=False)",
    ("barycenter", "POT"): "ot.barycenter(A, M, 0.1, numItermax=50, warn=False)",
}


def _run(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--loop-d", type=int, default=64)
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    t0 = time.time()
    loop = _run(LOOP.format(d=args.loop_d, families=FAMILIES, calls=args.calls))
    peaks = {}
    for (fn, lib), stmt in PEAK_CASES.items():
        peaks[f"{fn}|{lib}"] = _run(PEAK.format(d=args.d, stmt=stmt))
        print(fn, lib, peaks[f"{fn}|{lib}"], file=sys.stderr, flush=True)
    n_rest = args.calls - max(1, args.calls // 10)
    lines = [f"# Memory (issue 20)\n\nx86_64, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end; "
             f"{time.time() - t0:.0f} s in all.\n",
             f"## Repeated calls: resident memory (VmRSS) after {max(1, args.calls // 10)} calls and after "
             f"{args.calls} (d = {args.loop_d})\n",
             "| family | RSS after warm-up (MiB) | RSS at the end (MiB) | growth per call (KiB) |", "|---|---|---|---|"]
    for name, (r0, r1) in loop.items():
        lines.append(f"| {name} | {r0:.1f} | {r1:.1f} | {(r1 - r0) * 1024 / n_rest:.3f} |")
    mb = args.d * args.d * 8 / 2**20
    lines += ["", f"## Peak memory of one call, d = {args.d} (M alone: {mb:.0f} MiB), fresh process each\n",
              "| function | otkit extra peak (MiB) | POT extra peak (MiB) | otkit / POT | otkit s | POT s |",
              "|---|---|---|---|---|---|"]
    for fn in dict.fromkeys(k.split("|")[0] for k in peaks):
        o, p = peaks[f"{fn}|otkit"], peaks[f"{fn}|POT"]
        eo, ep = o["peak"] - o["before"], p["peak"] - p["before"]
        lines.append(f"| {fn} | {eo:.0f} | {ep:.0f} | {eo / ep if ep > 0 else float('nan'):.2f} | "
                     f"{o['seconds']:.2f} | {p['seconds']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_memory.md").write_text(text)
    (out / "bench_memory.json").write_text(json.dumps({"loop": loop, "peaks": peaks, "args": vars(args)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
