"""Pairwise exact OT matrices (issue 18): otkit.pairwise_emd2 (threads, warm starts) against a loop of POT's
ot.emd2 and of FastEMD (pyemd < 2) over the same pairs (j >= i), side by side in one run.

    python benchmarks/bench_pairwise_emd.py > benchmarks/results/pairwise_emd.md
"""
import os
import sys
import time

import numpy as np
import ot

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import otkit  # noqa: E402

rng = np.random.default_rng(0)
d, N = 256, 30
g = np.stack(np.meshgrid(np.arange(16.), np.arange(16.)), -1).reshape(-1, 2)
M = ot.dist(g, g, metric="euclidean")
A = rng.dirichlet(np.ones(d) * 0.3, size=N).T.copy()
cols = [np.ascontiguousarray(A[:, i]) for i in range(N)]
pairs = N * (N + 1) // 2
def t(f):
    f(); best = 1e9
    for _ in range(3):
        t0 = time.perf_counter(); r = f(); best = min(best, time.perf_counter() - t0)
    return best, r
tp, Wp = t(lambda: np.array([[ot.emd2(cols[i], cols[j], M) if j >= i else 0.0 for j in range(N)] for i in range(N)]))
res = {"POT loop (ot.emd2 per pair, j >= i)": tp}
for th in (1, 2):
    for warm in (False, True):
        tt, W = t(lambda: otkit.pairwise_emd2(A, None, M, num_threads=th, warm_start=warm))
        res[f"otkit.pairwise_emd2 threads={th} warm_start={warm}"] = tt
        assert np.allclose(np.triu(W), np.triu(Wp), rtol=1e-9, atol=1e-12)
try:
    from otkit.bench.common import fastemd
    t0 = time.perf_counter()  # one run: FastEMD's C++ solver takes about 0.2 s per pair here
    [[fastemd(cols[i], cols[j], M) for j in range(i, N)] for i in range(N)]
    res["FastEMD (pyemd C++ backend, per pair, j >= i; one run)"] = time.perf_counter() - t0
except ImportError:
    pass
print(f"# Pairwise exact OT: {N} histograms, d = {d} (16 x 16 grid, Euclidean), {pairs} pairs (j >= i)\n\n"
      f"min of 3 runs each, side by side in one process, load average {os.getloadavg()[0]:.2f}\n")
print("| case | time | vs the POT loop |\n|---|---|---|")
for k, v in res.items():
    print(f"| {k} | {v * 1e3:.1f} ms | {res['POT loop (ot.emd2 per pair, j >= i)'] / v:.2f}x |")
