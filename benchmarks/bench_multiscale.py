"""Large point clouds: otkit's multiscale Sinkhorn against GeomLoss's multiscale backend (KeOps on the CPU), time to
a stated accuracy of the regularized OT value.

The value is GeomLoss's ``SamplesLoss("sinkhorn", p=2, blur=blur, debias=False)``: OT_eps = <a, f> + <b, g> for the
cost |x - y|^2 / 2 and eps = blur^2 (otkit: reg = 2 blur^2 on |x - y|^2, the same problem). The reference is
otkit's multiscale solver at tol 1e-9 (its truncation certified below 1e-9, tests/test_multiscale.py checks it
against the all-pairs solver); the relative error of each row is against it. Uniform points in the unit square /
cube (seed 0), n = m, uniform weights. Each solver runs once, alone on the machine, one after the other.

    python benchmarks/bench_multiscale.py                 # 20,000 and 10^5 points (about 6 min)
    python benchmarks/bench_multiscale.py --million       # n = 10^6 in 2-D, otkit only, and its peak memory

Writes benchmarks/results/multiscale.md, .json and .png.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from otkit.multiscale import multiscale_sinkhorn  # noqa: E402

OTKIT_TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


def ot_eps(n, d, blur, tol, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, d)), rng.random((n, d))
    a = np.full(n, 1.0 / n)
    t = time.perf_counter()
    r = multiscale_sinkhorn(X, Y, a, a, 2 * blur ** 2, tol=tol, want_value=False)
    dt = time.perf_counter() - t
    v = blur ** 2 * (a @ (r["f"] - np.log(a)) + a @ (r["g"] - np.log(a)))
    return dt, float(v), r


def geomloss_value(n, d, blur, scaling, seed=0):
    import torch
    from geomloss import SamplesLoss
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, d)), rng.random((n, d))
    L = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, debias=False, backend="multiscale")
    x, y = torch.tensor(X), torch.tensor(Y)
    L(x[:500], y[:500])  # KeOps compiles its formulas at the first call of a dimension: not timed
    t = time.perf_counter()
    v = L(x, y).item()
    return time.perf_counter() - t, v


def run_case(n, d, blur, scalings, rows, known=None):
    old = [c for c in (known or []) if (c["n"], c["d"], c["blur"]) == (n, d, blur)]
    if old:  # the reference of an earlier run (the same problem)
        ref, t_ref, bound = old[0]["reference"], old[0]["reference_time"], old[0]["reference_bound"]
        print(f"n = {n}, d = {d}, blur = {blur}: reference {ref!r} from the earlier run", flush=True)
    else:
        print(f"n = {n}, d = {d}, blur = {blur}: reference (tol 1e-9) ...", flush=True)
        t_ref, ref, r = ot_eps(n, d, blur, 1e-9)
        bound = r["truncation_bound"]
    case = dict(n=n, d=d, blur=blur, reference=ref, reference_time=t_ref, reference_bound=bound, otkit=[],
                geomloss=[])
    for tol in OTKIT_TOLS:
        dt, v, r = ot_eps(n, d, blur, tol)
        case["otkit"].append(dict(tol=tol, time=dt, value=v, rel_err=abs(v - ref) / abs(ref), niter=r["niter"],
                                  kept=r["kept_fraction"], clusters=r["n_clusters"][0]))
        print(f"  otkit tol {tol:g}: {dt:.2f} s, rel. error {abs(v - ref) / abs(ref):.1e}", flush=True)
    for sc in scalings:
        try:
            dt, v = geomloss_value(n, d, blur, sc)
        except ImportError:
            print("  geomloss is not installed: skipped")
            break
        case["geomloss"].append(dict(scaling=sc, time=dt, value=v, rel_err=abs(v - ref) / abs(ref)))
        print(f"  geomloss multiscale scaling {sc}: {dt:.2f} s, rel. error {abs(v - ref) / abs(ref):.1e}", flush=True)
    rows.append(case)


def markdown(rows, note):
    out = ["# Large point clouds: multiscale Sinkhorn against GeomLoss multiscale (KeOps, CPU)", "", note, ""]
    for c in rows:
        out += [f"## n = m = {c['n']:,}, d = {c['d']}, blur = {c['blur']} (reference {c['reference']:.12g}, "
                f"{c['reference_time']:.1f} s, truncation bound {c['reference_bound']:.1e})", "",
                "| solver | time (s) | relative error | iterations at blur | kept pairs |", "|---|---|---|---|---|"]
        for o in c["otkit"]:
            out.append(f"| otkit multiscale, tol {o['tol']:g} | {o['time']:.2f} | {o['rel_err']:.1e} | {o['niter']} | "
                       f"{o['kept']:.3f} |")
        if c["geomloss"]:
            out += ["", "| GeomLoss multiscale | time (s) | relative error | otkit at least as accurate (s) | speed-up |",
                    "|---|---|---|---|---|"]
            for g in c["geomloss"]:
                better = [o for o in c["otkit"] if o["rel_err"] <= g["rel_err"]]
                if better:
                    best = min(better, key=lambda o: o["time"])
                    out.append(f"| scaling {g['scaling']} | {g['time']:.2f} | {g['rel_err']:.1e} | {best['time']:.2f} | "
                               f"{g['time'] / best['time']:.1f}x |")
                else:
                    out.append(f"| scaling {g['scaling']} | {g['time']:.2f} | {g['rel_err']:.1e} | - | - |")
        out.append("")
    return "\n".join(out)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.6), squeeze=False)
    for ax, c in zip(axes[0], rows):
        ax.loglog([o["time"] for o in c["otkit"]], [max(o["rel_err"], 1e-12) for o in c["otkit"]], "o-",
                  label="otkit multiscale (tol 1e-2 .. 1e-6)")
        if c["geomloss"]:
            ax.loglog([g["time"] for g in c["geomloss"]], [max(g["rel_err"], 1e-12) for g in c["geomloss"]], "s--",
                      label="GeomLoss multiscale (scaling)")
        ax.set_title(f"n = {c['n']:,}, d = {c['d']}, blur {c['blur']}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("relative error of OT_eps")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", help="n = 10^6 in 2-D (otkit only) instead of the table")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "multiscale"))
    ap.add_argument("--cases", default="", help="run only these cases, e.g. 20000x2x0.05,100000x2x0.05")
    ap.add_argument("--references", default="", help="a JSON of an earlier run: take its reference values")
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        pass
    if args.million:
        n = 10 ** 6
        for tol in (1e-2, 1e-3):
            dt, v, r = ot_eps(n, 2, 0.01, tol)
            print(f"n = 10^6, d = 2, blur 0.01, tol {tol:g}: {dt:.1f} s, OT_eps {v:.10g}, iterations {r['niter']}, "
                  f"kept {r['kept_fraction']:.4f}, clusters {r['n_clusters'][0]}, phases "
                  f"{ {k: round(x, 1) for k, x in r['time'].items()} }, peak RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB", flush=True)
        return
    rows = []
    known = json.load(open(args.references)) if args.references else None
    cases = [(20000, 2, 0.05, (0.5, 0.9, 0.99)), (20000, 2, 0.01, (0.5, 0.9, 0.99)), (20000, 3, 0.05, (0.5, 0.9)),
             (100000, 2, 0.05, (0.5, 0.9)), (100000, 2, 0.01, (0.5, 0.9)), (100000, 3, 0.05, (0.5, 0.9))]
    only = {tuple(float(v) for v in c.split("x")) for c in args.cases.split(",") if c}
    for n, d, blur, scalings in cases:
        if not only or (n, d, blur) in only:
            run_case(n, d, blur, scalings, rows, known)
    load = os.getloadavg()
    note = (f"One run each on this machine ({os.cpu_count()} CPUs; torch threads {os.cpu_count()}), one solver at a "
            f"time; load average at the end {load[0]:.2f}. Relative error of OT_eps against otkit at tol 1e-9. "
            f"'kept pairs': the fraction of the n m pairs visited per half-step at the end.")
    text = markdown(rows, note)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".md", "w") as fh:
        fh.write(text)
    with open(args.out + ".json", "w") as fh:
        json.dump(rows, fh, indent=1)
    plot(rows, args.out + ".png")
    print(text)


if __name__ == "__main__":
    main()
