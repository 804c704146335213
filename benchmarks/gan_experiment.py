"""Wasserstein proximal (RWP) vs plain generator steps at an equal time budget.

Grid: data {ring8, grid25, digits} x loss {ns, wgan-gp} x lr {1e-4, 1e-3, 5e-3} x
variant {plain, rwp-relaxed, rwp-exact} x seeds. Every run gets the same budget of training time
(process CPU time, evaluation excluded: the machine is shared, so wall-clock time would measure the
neighbours' load, and with one torch thread per run CPU time is what wall time would be on an idle
core). Curves: exact W2 (300 vs 300 samples) at regular points of the budget; final: exact W2 between
2000 generated and 2000 held-out samples (540 for digits), modes / classes covered, high-quality share.

Results are appended to ``<out>/gan_experiment_runs.jsonl`` as runs finish (a rerun skips what is
done); ``--analyze-only`` rebuilds the table (``gan_experiment.md``/``.json``) and the curves
(``gan_experiment_<data>.png``) from it.

    nice python benchmarks/gan_experiment.py --workers 2
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

DATA = ("ring8", "grid25", "digits")
LOSSES = ("ns", "wgan-gp")
LRS = (1e-4, 1e-3, 5e-3)
H = 0.1  # proximal step size of the RWP variants
VARIANTS = {  # name -> (prox, inner steps, h)
    "plain": ("none", 1, H),
    "rwp-relaxed": ("relaxed", 10, H),
    "rwp-exact": ("exact", 10, H),
    # control: the same 10 generator steps per discriminator step, without the proximal term (h = inf)
    "inner10-noprox": ("relaxed", 10, float("inf")),
}
MAIN_VARIANTS = ("plain", "rwp-relaxed", "rwp-exact")


def key(t):
    return f"{t['data']}|{t['loss']}|{t['lr']:g}|{t['variant']}|{t['seed']}"


def _init_worker():
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


def run_one(task):
    import torch

    from otkit.proximal import evaluate, make_dataset, train

    prox, inner, h = VARIANTS[task["variant"]]
    t0 = time.perf_counter()
    res = train(data=task["data"], loss=task["loss"], prox=prox, h=h, inner=inner, lr=task["lr"],
                steps=10**9, seed=task["seed"], time_budget=task["budget"], clock="cpu",
                eval_every=10**9, eval_every_s=task["budget"] / task.get("evals", 6), eval_n=300, progress=False,
                plots=False, threads=1)
    out = dict(task, status=res.status, message=res.message, steps=res.steps_done,
               train_time=res.train_time,
               curve=[(r["time"], r["w2"], r["modes"], r["hq"]) for r in res.history])
    if res.status != "nonfinite":
        ds = make_dataset(task["data"])
        z = torch.randn(2000, ds.latent_dim, generator=torch.Generator().manual_seed(777 + task["seed"]))
        with torch.no_grad():
            x = res.generator(z).numpy()
        out["final"] = evaluate(ds, x, n=2000) if np.isfinite(x).all() else None
    else:
        out["final"] = None
    out["wall"] = time.perf_counter() - t0
    return out


def machine_info():
    import ot
    import torch

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except Exception:  # noqa: BLE001
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "POT": ot.__version__,
            "load_at_start": os.getloadavg()}


# ------------------------------------------------------------------------------------------ analysis
def load_runs(path):
    runs = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    runs[key(r)] = r
    return list(runs.values())


def _curve_on_grid(curve, grid):
    t = np.array([c[0] for c in curve])
    w = np.array([c[1] for c in curve])
    idx = np.searchsorted(t, grid, side="right") - 1  # last evaluation at or before each grid time
    return w[np.clip(idx, 0, len(w) - 1)]


def _first_time_below(curve, thr):
    for t, w, *_ in curve:
        if np.isfinite(w) and w <= thr:
            return t
    return None


def analyze(out_dir, info=None, prefix="gan_experiment"):
    runs = load_runs(os.path.join(out_dir, f"{prefix}_runs.jsonl"))
    if not runs:
        print("no runs yet")
        return
    groups = {}
    for r in runs:
        groups.setdefault((r["data"], r["loss"], r["lr"], r["variant"]), []).append(r)
    # W2 threshold per (data, loss): 75 % of the way from the initial curve value (mean over runs) to
    # the lowest mean final curve value of any (lr, variant) -- same 300-sample estimator on both ends
    best, init = {}, {}
    for (d, l, lr, v), rs in groups.items():
        fin = [r["curve"][-1][1] for r in rs if r["curve"] and np.isfinite(r["curve"][-1][1])]
        init.setdefault((d, l), []).extend(r["curve"][0][1] for r in rs if r["curve"])
        if fin:
            best[(d, l)] = min(best.get((d, l), np.inf), float(np.mean(fin)))
    thr = {k: b + 0.25 * (float(np.mean(init[k])) - b) for k, b in best.items()}
    rows = []
    for (d, l, lr, v) in sorted(groups, key=lambda k: (DATA.index(k[0]), LOSSES.index(k[1]), k[2], list(VARIANTS).index(k[3]))):
        rs = groups[(d, l, lr, v)]
        ok = [r for r in rs if r.get("final")]
        w2 = np.array([r["final"]["w2"] for r in ok])
        modes = np.array([r["final"]["modes"] for r in ok])
        hq = np.array([r["final"]["hq"] for r in ok])
        times = [_first_time_below(r["curve"], thr[(d, l)]) for r in ok] if (d, l) in thr else []
        reached = [t for t in times if t is not None]
        rows.append({
            "data": d, "loss": l, "lr": lr, "variant": v, "seeds": len(rs), "nonfinite": len(rs) - len(ok),
            "w2_mean": float(w2.mean()) if len(w2) else None, "w2_std": float(w2.std(ddof=1)) if len(w2) > 1 else None,
            "modes_mean": float(modes.mean()) if len(modes) else None,
            "modes_std": float(modes.std(ddof=1)) if len(modes) > 1 else None,
            "hq_mean": float(hq.mean()) if len(hq) else None,
            "steps_mean": float(np.mean([r["steps"] for r in rs])),
            "budget": rs[0]["budget"], "threshold": thr.get((d, l)),
            "reached": len(reached), "t_reach_median": float(np.median(reached)) if reached else None,
        })
    with open(os.path.join(out_dir, f"{prefix}.json"), "w") as f:
        json.dump({"machine": info, "h": H, "variants": VARIANTS, "rows": rows}, f, indent=1)

    def pm(m, s, fmt):
        if m is None:
            return "—"
        return (fmt % m) + ("" if s is None else " ± " + (fmt % s))

    n_modes = {"ring8": 8, "grid25": 25, "digits": 10}
    lines = ["| data | loss | lr | variant | steps | final W2 (mean ± std) | modes / classes | HQ share | "
             "W2 ≤ thr reached | median time to thr (s) | NaN runs |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['loss']} | {r['lr']:g} | {r['variant']} | {r['steps_mean']:.0f} | "
            f"{pm(r['w2_mean'], r['w2_std'], '%.3f')} | {pm(r['modes_mean'], r['modes_std'], '%.1f')} / {n_modes[r['data']]} | "
            f"{'—' if r['hq_mean'] is None else '%.2f' % r['hq_mean']} | {r['reached']}/{r['seeds']} (thr {r['threshold']:.3f}) | "
            f"{'—' if r['t_reach_median'] is None else '%.2f' % r['t_reach_median']} | {r['nonfinite']} |")
    # win counts: which variant has the lowest mean final W2 per (data, loss, lr)
    wins = {v: 0 for v in VARIANTS}
    for d, l, lr in sorted({(r["data"], r["loss"], r["lr"]) for r in rows}):
        cand = [(r["w2_mean"], r["variant"]) for r in rows if (r["data"], r["loss"], r["lr"]) == (d, l, lr) and r["w2_mean"] is not None]
        if len(cand) >= 2:
            wins[min(cand)[1]] += 1
    md = ["# GAN experiment: RWP vs plain generator steps at an equal CPU-time budget", ""]
    if info:
        md.append(f"Machine: {info.get('cpu')} ({info.get('nproc')} cores, shared with other jobs; load "
                  f"{', '.join('%.1f' % x for x in info.get('load_at_start', []))} at start); torch "
                  f"{info.get('torch')}, POT {info.get('POT')}, one torch thread per run, "
                  f"{info.get('workers', '?')} runs in parallel.")
        md.append("")
    md.append(f"Budget per run: {sorted(set(r['budget'] for r in rows))} s of process CPU time (evaluation "
              f"excluded). h = {H}, inner steps = 10 for RWP; plain = one generator step per "
              "discriminator step; inner10-noprox = 10 generator steps per discriminator step without the "
              "proximal term (h = inf). Final W2: exact, 2000 generated vs 2000 held-out samples (540 for digits). "
              "Threshold per (data, loss): 75 % of the way from the initial W2 to the lowest mean final W2 of any "
              "(lr, variant), both on the 300-sample curves; 'reached' counts seeds whose curve got there.")
    md.append("")
    md += lines
    md.append("")
    md.append("Lowest mean final W2 per (data, loss, lr) cell: " + ", ".join(f"{v}: {n}" for v, n in wins.items()))
    with open(os.path.join(out_dir, f"{prefix}.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    plot(groups, out_dir, prefix)


def plot(groups, out_dir, prefix="gan_experiment"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"plain": "tab:blue", "rwp-relaxed": "tab:red", "rwp-exact": "tab:green", "inner10-noprox": "tab:purple"}
    for d in DATA:
        if not any(k[0] == d for k in groups):
            continue
        losses = [l for l in LOSSES if any(k[:2] == (d, l) for k in groups)]
        lrs = sorted({k[2] for k in groups if k[0] == d})
        fig, axes = plt.subplots(len(losses), len(lrs), figsize=(4.3 * len(lrs), 3.5 * len(losses)),
                                 sharey="row", squeeze=False)
        for i, l in enumerate(losses):
            for j, lr in enumerate(lrs):
                ax = axes[i, j]
                for v in VARIANTS:
                    rs = [r for r in groups.get((d, l, lr, v), []) if r["curve"]]
                    if not rs:
                        continue
                    budget = rs[0]["budget"]
                    grid = np.linspace(0, budget, 60)
                    W = np.array([_curve_on_grid(r["curve"], grid) for r in rs])
                    W = np.where(np.isfinite(W), W, np.nan)
                    ax.plot(grid, np.nanmean(W, 0), color=colors[v], label=f"{v} ({len(rs)} seeds)")
                    ax.fill_between(grid, np.nanmin(W, 0), np.nanmax(W, 0), color=colors[v], alpha=0.15)
                ax.set_title(f"{d}, {l}, lr={lr:g}", fontsize=9)
                ax.set_yscale("log")
                if i == len(losses) - 1:
                    ax.set_xlabel("training CPU time (s)")
                if j == 0:
                    ax.set_ylabel("exact W2 to held-out (300 vs 300)")
                ax.legend(fontsize=7)
        fig.suptitle(f"{d}: mean and min/max over seeds", fontsize=11)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"{prefix}_{d}.png"), dpi=100)
        plt.close(fig)


# ------------------------------------------------------------------------------------------ main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=2.0, help="training CPU seconds per run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    ap.add_argument("--lrs", nargs="+", type=float, default=list(LRS))
    ap.add_argument("--variants", nargs="+", default=list(MAIN_VARIANTS), choices=tuple(VARIANTS))
    ap.add_argument("--evals", type=int, default=6, help="evaluations of the W2 curve per run")
    ap.add_argument("--tag", default="", help="suffix of the output files (gan_experiment_<tag>_*)")
    ap.add_argument("--analyze-only", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    prefix = "gan_experiment" + (f"_{args.tag}" if args.tag else "")
    info_path = os.path.join(args.out, f"{prefix}_machine.json")
    if args.analyze_only:
        info = json.load(open(info_path)) if os.path.exists(info_path) else None
        analyze(args.out, info, prefix)
        return 0
    info = machine_info()
    info["workers"] = args.workers
    with open(info_path, "w") as f:
        json.dump(info, f, indent=1)
    runs_path = os.path.join(args.out, f"{prefix}_runs.jsonl")
    done = {key(r) for r in load_runs(runs_path)}
    # seed-major order: an interrupted experiment still covers every configuration with fewer seeds
    tasks = [dict(data=d, loss=l, lr=lr, variant=v, seed=s, budget=args.budget, evals=args.evals)
             for s in range(args.seeds) for d in args.data for l in args.losses for lr in args.lrs for v in args.variants]
    tasks = [t for t in tasks if key(t) not in done]
    print(f"{len(tasks)} runs to do ({len(done)} already done), {args.workers} workers, "
          f"budget {args.budget} s each; load {os.getloadavg()}", flush=True)
    from tqdm import tqdm

    t0 = time.perf_counter()
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(args.workers, initializer=_init_worker) as pool, \
            open(runs_path, "a") as f, tqdm(total=len(tasks), desc="gan experiment", file=sys.stdout,
                                            mininterval=10) as bar:
        for r in pool.imap_unordered(run_one, tasks):
            f.write(json.dumps(r) + "\n")
            f.flush()
            bar.update(1)
    print(f"done in {time.perf_counter() - t0:.0f} s wall", flush=True)
    analyze(args.out, info, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
