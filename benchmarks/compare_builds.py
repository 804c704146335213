"""Two builds of otkit side by side on the same cases: e.g. the portable dispatched build against a
``-march=native`` one, or a commit against its parent (the "no speed regression" gate).

    python benchmarks/compare_builds.py TREE_A TREE_B [--names A,B] [--rounds 5] [--out FILE.md] [--cases log,bary]

TREE_A / TREE_B are folders that hold an importable otkit with its compiled modules (a source tree
built in place, or a ``pip install --target`` folder). Each round runs every case once per tree, each
tree in a fresh interpreter (in alternating order), and the table keeps the min over rounds of each
case; ratio = B / A (below 1: B is faster). Cases: Sinkhorn kernel form (d = 256, 1024, 4096),
log-domain (1024), stabilized (1024), batched (N = 100, d = 1024), barycenters (N = 10, d = 1024: kernel
form and log-domain; convolutional 4 x 256 x 256 and log-domain 4 x 64 x 64) and
exact EMD (d = 1024), each with a fixed iteration count and one repetition of 3 calls (min); and the
annealed point-cloud losses (SamplesLoss, balanced and unbalanced, n = 2000, to tol 1e-6).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CASES = """
import json, sys, time, numpy as np, otkit
from otkit import _backend
rng = np.random.default_rng(0)
def prob(d):
    x = rng.random((d, 2)); M = otkit.dist(x, x, "euclidean"); M /= np.median(M)
    return rng.dirichlet(np.ones(d)), rng.dirichlet(np.ones(d)), M
P = {d: prob(d) for d in (256, 1024, 4096)}
a1, b1, M1 = P[1024]
B = rng.dirichlet(np.ones(1024), size=100).T.copy()
A = rng.dirichlet(np.ones(1024), size=10).T.copy()
IM256 = rng.random((4, 256, 256)); IM256 /= IM256.sum((1, 2), keepdims=True)
IM64 = rng.random((4, 64, 64)); IM64 /= IM64.sum((1, 2), keepdims=True)
X2000, Y2000 = rng.random((2000, 2)), rng.random((2000, 2))
cases = {
 "sinkhorn d=256 (1000 it)": lambda: otkit.sinkhorn2(*P[256], 0.1, numItermax=1000, stopThr=0),
 "sinkhorn d=1024 (200 it)": lambda: otkit.sinkhorn2(a1, b1, M1, 0.1, numItermax=200, stopThr=0),
 "sinkhorn d=4096 (30 it)": lambda: otkit.sinkhorn2(*P[4096], 0.1, numItermax=30, stopThr=0),
 "sinkhorn_log d=1024 (50 it)": lambda: otkit.sinkhorn2(a1, b1, M1, 0.1, method="sinkhorn_log", numItermax=50, stopThr=0),
 "sinkhorn_stabilized d=1024 (100 it)": lambda: otkit.sinkhorn2(a1, b1, M1, 0.1, method="sinkhorn_stabilized", numItermax=100, stopThr=0),
 "batched N=100 d=1024 (50 it)": lambda: otkit.sinkhorn2(a1, B, M1, 0.1, numItermax=50, stopThr=0),
 "barycenter N=10 d=1024 (81 it)": lambda: otkit.barycenter(A, M1, 0.01, numItermax=81, stopThr=0),
 "barycenter log N=10 d=1024 (20 it)": lambda: otkit.barycenter(A, M1, 0.01, method="sinkhorn_log", numItermax=20,
                                                                stopThr=0, warn=False),
 "conv barycenter 4x256x256 (30 it)": lambda: otkit.convolutional_barycenter2d(IM256, 4e-3, numItermax=30, stopThr=0,
                                                                               warn=False),
 "conv barycenter log 4x64x64 (20 it)": lambda: otkit.convolutional_barycenter2d(IM64, 4e-3, method="sinkhorn_log",
                                                                                 numItermax=20, stopThr=0, warn=False),
 "emd2 d=1024": lambda: otkit.emd2(a1, b1, M1),
 "emd2 d=4096": lambda: otkit.emd2(*P[4096], numItermax=10**7),
 "sinkhorn_log cloud n=2000 (30 it)": lambda: otkit.sinkhorn2(
     None, None, otkit.geometry.PointCloud(X2000, Y2000), 0.005, method="sinkhorn_log", numItermax=30, stopThr=0),
 "SamplesLoss n=2000 blur 0.05 (annealed, tol 1e-6)": lambda: otkit.SamplesLoss("sinkhorn", blur=0.05, tol=1e-6)(
     X2000, Y2000),
 "SamplesLoss reach 0.3 n=2000 (unbalanced, annealed)": lambda: otkit.SamplesLoss(
     "sinkhorn", blur=0.05, reach=0.3, debias=False, tol=1e-6)(X2000, Y2000),
}
import warnings; warnings.simplefilter("ignore")
out = {"module": _backend._ext.__name__}
only = [w for w in sys.argv[1:] if w]
for name, fn in cases.items():
    if only and not any(w in name for w in only):
        continue
    fn()
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    out[name] = min(ts)
print(json.dumps(out))
"""


def run_tree(tree: str, only: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    out = subprocess.run([sys.executable, "-c", CASES, *only], env=env, capture_output=True, text=True,
                         cwd=tempfile.gettempdir(), timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree_a")
    ap.add_argument("tree_b")
    ap.add_argument("--names", default="A,B")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--cases", default="", help="comma-separated substrings: only the cases whose name holds one")
    args = ap.parse_args(argv)
    names = args.names.split(",")
    best: list[dict] = [{}, {}]
    modules = ["", ""]
    for r in range(args.rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for k in order:
            res = run_tree([args.tree_a, args.tree_b][k], [w for w in args.cases.split(",") if w])
            modules[k] = res.pop("module")
            for case, t in res.items():
                best[k][case] = min(best[k].get(case, float("inf")), t)
        print(f"round {r + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
    lines = [f"| case | {names[0]} ({modules[0]}) ms | {names[1]} ({modules[1]}) ms | {names[1]} / {names[0]} |",
             "|---|---|---|---|"]
    for case in best[0]:
        ta, tb = best[0][case], best[1][case]
        lines.append(f"| {case} | {ta * 1e3:.2f} | {tb * 1e3:.2f} | {tb / ta:.3f} |")
    text = (f"min over {args.rounds} rounds x 3 calls, fresh interpreter per tree and round, alternating; "
            f"load average at the end {os.getloadavg()[0]:.2f}\n\n" + "\n".join(lines) + "\n")
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
