"""solve_sample's methods side by side with POT's (``ot.solve_sample``), one run, same inputs: time (best of
``--repeat``) and value, and a reference where one exists (exact OT, the dense Sinkhorn value, POT's own).

    python benchmarks/bench_solve_sample.py [--quick] [--repeat 3]

Writes benchmarks/results/solve_sample_methods.md and .json. Methods: "nystroem", "lowrank", "factored",
"bsp", "gaussian_hd", "geomloss", and debias=True. Run alone on the machine (the load average is recorded).
"""
import argparse
import json
import os
import platform
import time
import warnings

import numpy as np


def best_time(fn, repeat):
    out, best = None, float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def value(res):
    v = res.value
    return float(np.ravel(v.detach().cpu().numpy() if hasattr(v, "detach") else v)[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "solve_sample_methods"))
    args = ap.parse_args()
    import ot
    import torch

    import otkit

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    k = 4 if args.quick else 1
    n = 4000 // k
    x, y = rng.random((n, 2)), rng.random((n, 2)) + [0.5, 0.0]
    rows = []

    def case(name, kw_ot, kw_otkit=None, ref=None, ref_name="", X=None, Y=None, torch_in=False):
        X = x if X is None else X
        Y = y if Y is None else Y
        kw_otkit = kw_ot if kw_otkit is None else kw_otkit
        Xp, Yp = (torch.tensor(X), torch.tensor(Y)) if torch_in else (X, Y)
        t_pot, r_pot = best_time(lambda: ot.solve_sample(Xp, Yp, **kw_ot), args.repeat)
        t_ok, r_ok = best_time(lambda: otkit.solve_sample(X, Y, **kw_otkit), args.repeat)
        row = dict(case=name, n=len(X), d=X.shape[1], pot_s=t_pot, otkit_s=t_ok, speedup=t_pot / t_ok,
                   pot_value=value(r_pot), otkit_value=value(r_ok), reference=ref, reference_name=ref_name)
        rows.append(row)
        print(f"{name:45s} n={len(X):6d}  POT {t_pot:8.3f} s  otkit {t_ok:8.3f} s  ({t_pot / t_ok:6.1f}x)  "
              f"values {row['pot_value']:.8g} / {row['otkit_value']:.8g}" + (f"  ref {ref:.8g}" if ref else ""),
              flush=True)

    exact = otkit.emd2([], [], otkit.dist(x, y), numItermax=10**8)  # (POT's default cap of 1e5 pivots stops short)
    dense_sk = otkit.sinkhorn2(np.full(n, 1 / n), np.full(n, 1 / n), otkit.dist(x, y), 0.5, stopThr=1e-9)
    case("nystroem (reg 0.5, 100 anchors)", dict(method="nystroem", reg=0.5, rank=100, random_state=0),
         ref=dense_sk, ref_name="dense Sinkhorn <P, C>")
    case("lowrank (rank 10, reg 0)", dict(method="lowrank", rank=10), ref=exact, ref_name="exact OT")
    X0 = rng.normal(size=(20, 2))
    kw = dict(method="factored", rank=20)
    # (POT's solve_sample starts factored OT at random points it draws itself: the same start through X_init here)
    t_pot, out = best_time(lambda: ot.factored_optimal_transport(x, y, r=20, X0=X0, log=True), args.repeat)
    t_ok, res = best_time(lambda: otkit.solve_sample(x, y, X_init=X0, **kw), args.repeat)
    pv = out[3]["costa"] + out[3]["costb"]
    rows.append(dict(case="factored (20 points, exact OT, same start)", n=n, d=2, pot_s=t_pot, otkit_s=t_ok,
                     speedup=t_pot / t_ok, pot_value=float(pv), otkit_value=value(res), reference=exact,
                     reference_name="exact OT"))
    print(f"{'factored':45s} n={n:6d}  POT {t_pot:8.3f} s  otkit {t_ok:8.3f} s  ({t_pot / t_ok:6.1f}x)  values "
          f"{float(pv):.8g} / {value(res):.8g}", flush=True)
    case("bsp (64 plans)", dict(method="bsp", n_projections=64), ref=exact, ref_name="exact OT")
    nb = 20000 // k
    xb, yb = rng.random((nb, 3)), rng.random((nb, 3)) + 0.5
    case("bsp (64 plans), 3-D", dict(method="bsp", n_projections=64), X=xb, Y=yb)
    p = 2000 // k
    xh, yh = rng.standard_normal((1000, p)), rng.standard_normal((800, p)) * 1.5 + 0.1
    case(f"gaussian_hd (p = {p}, rank 20)", dict(method="gaussian_hd", rank=20), X=xh, Y=yh)
    ng = 2000 // k
    xg, yg = x[:ng], y[:ng]
    ref = otkit.solve_sample(xg, yg, reg=0.0025, lazy=True, tol=1e-12, max_iter=100000).value
    case("geomloss (reg 0.0025 = blur 0.05^2, torch in)", dict(method="geomloss", reg=0.0025),
         ref=ref, ref_name="converged lazy Sinkhorn", X=xg, Y=yg, torch_in=True)
    nd = 1000 // k
    case("debias=True (reg 0.05, dense)", dict(reg=0.05, debias=True), X=x[:nd], Y=y[:nd])

    meta = dict(machine=platform.processor() or platform.machine(), load_average=os.getloadavg(),
                ot_version=ot.__version__, repeat=args.repeat, quick=args.quick)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump(dict(meta=meta, rows=rows), fh, indent=1)
    lines = [f"# solve_sample methods: otkit against POT {ot.__version__} (best of {args.repeat}; load average "
             f"{meta['load_average'][0]:.2f})", "",
             "| case | n | POT s | otkit s | POT / otkit | POT value | otkit value | reference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref = f"{r['reference']:.8g} ({r['reference_name']})" if r["reference"] else ""
        lines.append(f"| {r['case']} | {r['n']} | {r['pot_s']:.3f} | {r['otkit_s']:.3f} | {r['speedup']:.1f}x | "
                     f"{r['pot_value']:.8g} | {r['otkit_value']:.8g} | {ref} |")
    with open(args.out + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
