"""k-NN classification of scikit-learn's 8 x 8 digits with OT distances (Cuturi 2013, Sec. 5.1).

Each image is a histogram on the 8 x 8 pixel grid (intensities divided by their sum); the ground cost is
the Euclidean distance between pixel positions, rescaled to unit median. Pairwise distances:

* Sinkhorn distances for several lambda (reg = 1 / lambda), one batched call per image against all
  later images (one vs many: one kernel call per row of the distance matrix);
* EMD (``otkit.emd2`` when this build has it, else POT's ``ot.emd2``; the report says which);
* Euclidean and Hellinger distances between the histograms (baselines).

k-NN error by cross-validation: for each train size, ``folds`` random splits of the (sub)sample into a
train set of that size and a test set (the rest); k in {1, 3, 5, 7} is chosen by leave-one-out on the
train set; the error is the test misclassification rate, mean and std over the splits.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .common import limit_threads, machine_info, machine_line, md_table, progress, write_json

K_CHOICES = (1, 3, 5, 7)


def digits_histograms(n=None, seed=0):
    """(H, y, C): histograms (n, 64), labels, and the unit-median ground cost (64, 64) on the 8 x 8 grid.

    ``n``: a class-stratified random subsample of that size (None: all 1797 images).
    """
    from scipy.spatial.distance import cdist
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    if n is not None and n < len(y):
        rng = np.random.default_rng(seed)
        classes = np.unique(y)
        idx = []
        for c in classes:
            ic = np.flatnonzero(y == c)
            idx.append(rng.choice(ic, size=int(round(n * len(ic) / len(y))), replace=False))
        idx = np.sort(np.concatenate(idx))[:n]
        X, y = X[idx], y[idx]
    H = X / X.sum(1, keepdims=True)
    g = np.array([(i // 8, i % 8) for i in range(64)], dtype=float)
    C = cdist(g, g)
    C /= np.median(C[~np.eye(64, dtype=bool)])
    return np.ascontiguousarray(H), y, np.ascontiguousarray(C)


def sinkhorn_matrix(H, C, reg, stopThr=1e-6, numItermax=1000, threads=1, backend="auto"):
    """Symmetric matrix of Sinkhorn losses: row i is one batched call of H[i] against H[i+1:]."""
    import otkit

    n = len(H)
    D = np.zeros((n, n))
    HT = np.ascontiguousarray(H.T)
    for i in range(n - 1):
        v = otkit.sinkhorn2(H[i], HT[:, i + 1:], C, reg, method="auto", stopThr=stopThr, numItermax=numItermax,
                            backend=backend, num_threads=threads or 0, warn=False)
        D[i, i + 1:] = v
    return D + D.T


def emd_matrix(H, C):
    import otkit

    if hasattr(otkit, "emd2"):
        fn, which = otkit.emd2, "otkit.emd2"
    else:
        import ot

        fn, which = ot.emd2, "POT ot.emd2 (otkit.emd2 not available in this build)"
    n = len(H)
    D = np.zeros((n, n))
    for i in range(n - 1):
        for j in range(i + 1, n):
            D[i, j] = fn(H[i], H[j], C)
    return D + D.T, which


def knn_error(D, y, train, test, k):
    """Test error of k-NN with the precomputed distances D (ties: the nearest neighbour's label)."""
    Dt = D[np.ix_(test, train)]
    nn = np.argsort(Dt, axis=1, kind="stable")[:, :k]
    lab = y[train][nn]
    pred = np.empty(len(test), dtype=y.dtype)
    for r in range(len(test)):
        vals, cnt = np.unique(lab[r], return_counts=True)
        best = vals[cnt == cnt.max()]
        pred[r] = best[0] if len(best) == 1 else next(l for l in lab[r] if l in best)
    return float(np.mean(pred != y[test]))


def choose_k(D, y, train):
    """k in K_CHOICES by leave-one-out error on the train set."""
    Dtt = D[np.ix_(train, train)].copy()
    np.fill_diagonal(Dtt, np.inf)
    best, best_err = K_CHOICES[0], np.inf
    idx = np.arange(len(train))
    for k in K_CHOICES:
        if k >= len(train):
            break
        err = knn_error(Dtt, y[train], idx, idx, k)
        if err < best_err - 1e-12:
            best, best_err = k, err
    return best


def cv_errors(D, y, train_sizes, folds, seed=0):
    rng = np.random.default_rng(seed)
    n = len(y)
    out = {}
    for t in train_sizes:
        errs = []
        for _ in range(folds):
            perm = rng.permutation(n)
            train, test = perm[:t], perm[t:]
            k = choose_k(D, y, train)
            errs.append(knn_error(D, y, train, test, k))
        out[int(t)] = {"mean": float(np.mean(errs)), "std": float(np.std(errs)), "errors": errs}
    return out


def run_knn(n=500, lambdas=(1, 3, 10, 30, 100), train_sizes=(50, 100, 200, 400), folds=5, threads=1,
            stopThr=1e-6, numItermax=1000, seed=0, out=None, show_progress=True, stream=None) -> dict:
    from scipy.spatial.distance import cdist

    stream = stream or sys.stdout
    t_start = time.perf_counter()
    H, y, C = digits_histograms(n, seed)
    n = len(y)
    train_sizes = [t for t in train_sizes if t < n]
    info = machine_info(threads)
    dists, times, notes = {}, {}, {}
    with limit_threads(threads):
        import otkit

        otkit.sinkhorn2(H[0], H[1:3].T, C, 1.0)  # warm up, before the progress bar starts
        bar = progress(len(lambdas) + 3, "otkit bench knn", show_progress)
        for lam in lambdas:
            bar.set_postfix_str(f"Sinkhorn lambda={lam:g}")
            t0 = time.perf_counter()
            dists[f"sinkhorn lambda={lam:g}"] = sinkhorn_matrix(H, C, 1.0 / lam, stopThr, numItermax, threads)
            times[f"sinkhorn lambda={lam:g}"] = time.perf_counter() - t0
            bar.update(1)
        bar.set_postfix_str("EMD")
        t0 = time.perf_counter()
        dists["emd"], notes["emd"] = emd_matrix(H, C)
        times["emd"] = time.perf_counter() - t0
        bar.update(1)
        t0 = time.perf_counter()
        dists["euclidean"] = cdist(H, H)
        times["euclidean"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        S = np.sqrt(H)
        dists["hellinger"] = cdist(S, S) / np.sqrt(2.0)
        times["hellinger"] = time.perf_counter() - t0
        bar.update(2)
    bar.close()
    errors = {name: cv_errors(D, y, train_sizes, folds, seed) for name, D in dists.items()}
    res = {"kind": "knn", "machine": info, "settings": {
        "n": n, "n_full": 1797, "lambdas": list(lambdas), "train_sizes": train_sizes, "folds": folds, "threads": threads,
        "stopThr": stopThr, "numItermax": numItermax, "seed": seed, "k_choices": list(K_CHOICES),
        "pairs": n * (n - 1) // 2}, "emd_solver": notes["emd"], "times_s": times, "errors": errors,
        "duration_s": time.perf_counter() - t_start}
    if out is not None:
        out = Path(out)
        write_json(out / "knn.json", res)
        (out / "knn.md").write_text(markdown(res))
        plot(res, out / "knn.png")
    print(markdown(res), file=stream)
    return res


def markdown(res) -> str:
    st = res["settings"]
    ts = st["train_sizes"]
    head = ["distance", "time for the matrix"] + [f"error, {t} train" for t in ts]
    tab = []
    for name, e in res["errors"].items():
        tab.append([name, f"{res['times_s'][name]:.2f} s"] + [f"{100 * e[t]['mean']:.1f}% ± {100 * e[t]['std']:.1f}"
                                                            for t in ts])
    return "\n".join([
        f"k-NN on scikit-learn digits (8x8): a class-stratified subsample of {st['n']} of the 1797 images "
        f"({st['pairs']} pairs), {st['folds']} random train/test splits per train size (test: the rest), "
        f"k in {st['k_choices']} by leave-one-out on the train set. Sinkhorn: reg = 1/lambda on the unit-median "
        f"pixel-distance cost, stopThr {st['stopThr']:g}, numItermax {st['numItermax']}, one batched call per row. "
        f"EMD: {res['emd_solver']}. Machine: {machine_line(res['machine'])}.", "",
        md_table(head, tab), ""])


def plot(res, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = res["settings"]
    lams = st["lambdas"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("tab10")
    for i, t in enumerate(st["train_sizes"]):
        m = [res["errors"][f"sinkhorn lambda={lam:g}"][t]["mean"] for lam in lams]
        s = [res["errors"][f"sinkhorn lambda={lam:g}"][t]["std"] for lam in lams]
        ax1.errorbar(lams, m, yerr=s, marker="o", color=cmap(i), capsize=2, label=f"Sinkhorn, {t} train")
        for j, (name, ls) in enumerate((("emd", "--"), ("euclidean", ":"), ("hellinger", "-."))):
            ax1.axhline(res["errors"][name][t]["mean"], color=cmap(i), ls=ls, lw=1,
                        label=({"emd": "EMD", "euclidean": "Euclidean", "hellinger": "Hellinger"}[name] if i == 0 else None))
    ax1.set_xscale("log")
    ax1.set_xlabel("lambda (reg = 1 / lambda)")
    ax1.set_ylabel("k-NN test error")
    ax1.set_title("error vs lambda (dashed EMD, dotted Euclidean, dash-dot Hellinger)", fontsize=9)
    ax1.legend(fontsize=7)
    ax1.grid(True, which="both", alpha=0.3)
    ax2.loglog(lams, [res["times_s"][f"sinkhorn lambda={lam:g}"] for lam in lams], marker="o", label="Sinkhorn (batched)")
    ax2.axhline(res["times_s"]["emd"], color="k", ls="--", label=f"EMD ({res['emd_solver'].split(' (')[0]})")
    ax2.set_xlabel("lambda")
    ax2.set_ylabel(f"time for the {st['n']} x {st['n']} distance matrix (s)")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
