"""Benchmark: otkit.stochastic.solve_semi_dual_entropic vs POT ot.stochastic.solve_semi_dual_entropic.

Protocol (docs/bench.md, part 4): the same discrete problem (n = m = 1000 points of the
unit square, squared Euclidean cost, uniform weights so that POT's and otkit's ASGD solve the same
problem), SAG and ASGD at equal iteration counts with POT's default learning rate. Both run side
by side in one process, interleaved repeat by repeat; the minimum and median times over repeats
are reported, with their ratios, and the semi-dual value H(beta) each run reached (evaluated
exactly on the returned beta with the same function for everybody) against the entropic optimum
from a tightly converged POT Sinkhorn.

Usage:  python benchmarks/bench_semidual.py [--quick] [--repeats R] [--iters 10000 100000]
Writes benchmarks/results/bench_semidual.{json,md,png}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the checkout's otkit (built in place)

import ot  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import otkit  # noqa: E402
from otkit import _backend  # noqa: E402
from otkit.stochastic import semi_dual_value, solve_semi_dual_entropic  # noqa: E402


def machine_info():
    cpu = platform.processor()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                cpu = line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001
        pass
    import numba

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "loadavg_at_start": load,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "POT": ot.__version__,
        "numba": numba.__version__,
        "otkit": otkit.__version__,
        "otkit_backends": _backend.available_backends(),
        "note": "shared machine (other engineers' builds and tests ran at the same time): absolute times are "
                "noisy, ratios are measured side by side, interleaved",
    }


def problem(n, m, seed=0):
    rng = np.random.default_rng(seed)
    M = ot.dist(rng.random((n, 2)), rng.random((m, 2)))
    return np.full(n, 1.0 / n), np.full(m, 1.0 / m), M


def entropic_optimum(a, b, M, reg):
    """min_P <P, M> + reg KL(P | a b^T) from POT's Sinkhorn (kernel form: exp(-M / reg) >= 1e-87 here)."""
    P = ot.sinkhorn(a, b, M, reg, method="sinkhorn", stopThr=1e-11,
                    numItermax=200000)
    err = float(np.abs(P.sum(0) - b).max())
    nz = P > 0
    return float((P * M).sum() + reg * (P[nz] * np.log(P[nz] / np.outer(a, b)[nz])).sum()), err


def run_pot(a, b, M, reg, method, it, seed):
    np.random.seed(seed)
    t = time.perf_counter()
    _, log = ot.stochastic.solve_semi_dual_entropic(a, b, M, reg, method, numItermax=it, log=True)
    return time.perf_counter() - t, log["beta"]


def run_otkit(a, b, M, reg, method, it, seed, backend):
    t = time.perf_counter()
    _, log = solve_semi_dual_entropic(a, b, M, reg, method, numItermax=it, log=True, seed=seed, backend=backend)
    return time.perf_counter() - t, log["beta"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--iters", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--regs", type=float, nargs="+", default=[0.1, 0.01])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="n = 200, iters 2000, 1 repeat (smoke test)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="bench_semidual", help="file name of the results (without extension)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.iters, args.repeats = 200, [2000], 1
    os.makedirs(args.out, exist_ok=True)
    backends = [be for be in ("cpp", "numba") if _backend.is_available(be)]
    info = machine_info()
    a, b, M = problem(args.n, args.n)

    # warm up (Numba compilation, page faults) outside the timings
    for be in backends:
        for method in ("SAG", "ASGD"):
            run_otkit(a, b, M, 0.1, method, 100, 0, be)

    rows = []
    jobs = [(reg, method, it) for reg in args.regs for method in ("SAG", "ASGD") for it in args.iters]
    refs = {}
    for reg in tqdm(args.regs, desc="reference Sinkhorn"):
        refs[reg] = entropic_optimum(a, b, M, reg)
    for reg, method, it in tqdm(jobs, desc="semi-dual benchmark"):
        times = {"POT": [], **{be: [] for be in backends}}
        values = {k: [] for k in times}
        for r in range(args.repeats):  # interleaved: POT, cpp, numba, POT, ...
            seed = 1000 + r
            t, beta = run_pot(a, b, M, reg, method, it, seed)
            times["POT"].append(t)
            values["POT"].append(semi_dual_value(a, b, M, reg, beta))
            for be in backends:
                t, beta = run_otkit(a, b, M, reg, method, it, seed, be)
                times[be].append(t)
                values[be].append(semi_dual_value(a, b, M, reg, beta))
        ref, ref_err = refs[reg]
        row = {"method": method, "reg": reg, "n": args.n, "m": args.n, "numItermax": it, "optimum": ref,
               "optimum_marginal_err": ref_err}
        for k in times:
            row[k] = {
                "time_min": float(np.min(times[k])),
                "time_median": float(np.median(times[k])),
                "times": times[k],
                "value_median": float(np.median(values[k])),
                "values": values[k],
                "rel_gap_median": float(np.median([(ref - v) / abs(ref) for v in values[k]])),
            }
        for be in backends:
            row[be]["ratio_min"] = row["POT"]["time_min"] / row[be]["time_min"]
            row[be]["ratio_median"] = row["POT"]["time_median"] / row[be]["time_median"]
        rows.append(row)
        tqdm.write(f"{method:4s} reg={reg:g} it={it}: POT {row['POT']['time_min']:.3f}s, "
                   + ", ".join(f"{be} {row[be]['time_min']:.3f}s (x{row[be]['ratio_min']:.1f})" for be in backends)
                   + f"; values POT {row['POT']['value_median']:.8f}, "
                   + ", ".join(f"{be} {row[be]['value_median']:.8f}" for be in backends)
                   + f", optimum {ref:.8f}")

    try:
        info["loadavg_at_end"] = os.getloadavg()
    except OSError:
        pass
    name = args.name
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump({"machine": info, "rows": rows, "args": vars(args)}, f, indent=2)

    lines = [
        f"Semi-dual stochastic solvers, n = m = {args.n} (unit square, squared Euclidean cost, uniform weights), "
        f"POT's default lr = reg / max(a), {args.repeats} interleaved repeats. Times in seconds (min / median); "
        "speed-up = POT time / otkit time; H = semi-dual value reached (median over repeats), gap = (optimum - H) / "
        "optimum with the optimum from a converged Sinkhorn.",
        "",
        f"Machine: {info['cpu']}, nproc = {info['nproc']}, load average (1, 5, 15 min) at start "
        f"{tuple(round(x, 1) for x in info['loadavg_at_start'] or ())}, at end "
        f"{tuple(round(x, 1) for x in info.get('loadavg_at_end') or ())} "
        f"(shared with other engineers' jobs); POT {info['POT']}, numpy {info['numpy']}, numba {info['numba']}.",
        "",
    ]
    head = "| method | reg | iterations | POT time | " + " | ".join(
        f"otkit {be} time | speed-up {be} (min / median)" for be in backends) + " | H POT | H otkit cpp | gap POT | gap otkit cpp |"
    lines.append(head)
    lines.append("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        cells = [r["method"], f"{r['reg']:g}", f"{r['numItermax']:,}",
                 f"{r['POT']['time_min']:.3f} / {r['POT']['time_median']:.3f}"]
        for be in backends:
            cells += [f"{r[be]['time_min']:.3f} / {r[be]['time_median']:.3f}",
                      f"**{r[be]['ratio_min']:.1f}x** / {r[be]['ratio_median']:.1f}x"]
        main_be = backends[0]
        cells += [f"{r['POT']['value_median']:.8f}", f"{r[main_be]['value_median']:.8f}",
                  f"{r['POT']['rel_gap_median']:.2e}", f"{r[main_be]['rel_gap_median']:.2e}"]
        lines.append("| " + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, name + ".md"), "w") as f:
        f.write(md)
    print(md)

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(args.regs), figsize=(5 * len(args.regs), 4), squeeze=False)
        for ax, reg in zip(axes[0], args.regs):
            for method, ls in (("SAG", "-"), ("ASGD", "--")):
                rr = [r for r in rows if r["method"] == method and r["reg"] == reg]
                its = [r["numItermax"] for r in rr]
                for k, c in (("POT", "C0"), ("cpp", "C1"), ("numba", "C2")):
                    if k in rr[0]:
                        ax.loglog(its, [r[k]["time_min"] for r in rr], ls, color=c, marker="o",
                                  label=f"{k if k == 'POT' else 'otkit ' + k} {method}")
            ax.set_xlabel("iterations")
            ax.set_ylabel("time (s, min over repeats)")
            ax.set_title(f"semi-dual, n = m = {args.n}, reg = {reg:g}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, name + ".png"), dpi=120)
    except Exception as exc:  # noqa: BLE001
        print("no plot:", exc)


if __name__ == "__main__":
    main()
