"""A test of the three claims of Wasserstein-proximal GAN training (Lin, Li, Osher, Montufar).

Claims: (1) lower final / best quality distance, (2) faster in wall-clock time to a given quality,
(3) robust to high learning rates. Tested on CPU-sized data at equal CPU-time budgets, paired seeds
(a seed fixes the initial weights, the data and latent streams of every variant), one torch thread per run.

Digits (sklearn 8 x 8, 70 / 30 split), non-saturating loss, MLP generator and discriminator.
Variants (h = 0.1 where a proximal term is used):

* ``plain``         -- one generator step per discriminator step;
* ``rwp``           -- the paper's form: 10 inner generator steps on loss + relaxed d_W^2 / 2h, a fresh
                       latent batch at every inner step;
* ``rwp-fixed-z``   -- the same with one latent batch for the 10 inner steps (the earlier otkit form);
* ``inner10-noprox``-- control: the same 10 inner steps and fresh latents, no proximal term (h = inf).

lr in {1e-3, 5e-3, 2e-2} (generator and discriminator), 4 seeds, 60 s of training CPU time per run,
evaluation every 5 s (excluded from the budget): the feature Frechet distance (FD) of 1,000 generated
digits to the 540 held-out ones on the features of a classifier trained once on the training split
(``otkit.proximal.metrics.feature_frechet_distance``), classes covered, and the exact W2 next to its
true-vs-true floor.

Ring-8 and grid-25 (stability): plain vs rwp, lr in {1e-3, 1e-2, 3e-2}, 3 seeds, 60 s; high-quality
share, modes captured, KL of the per-mode mass to uniform.

Decision rules, fixed before running (the thresholds come from the feature-FD reference levels
measured before the experiment, see docs/gan.md):

* every comparison is rwp vs plain, paired by seed; the test is a paired t-test on the per-seed
  differences, Holm-corrected over all comparisons of its claim; a 95 % bootstrap interval of the mean
  difference is reported beside it;
* claim 1 holds at an lr when final FD (and best FD) of rwp is lower, adjusted p < 0.05; it is
  *contradicted* when rwp is higher with adjusted p < 0.05; otherwise *not resolved*;
* claim 2: time to FD <= FD_HI and to FD <= FD_LO (a run that never gets there counts as the budget,
  which favours neither side); lower for rwp with adjusted p < 0.05;
* claim 3: at the highest lr, final FD of rwp lower than plain (adjusted p < 0.05), and on 2-D data
  the high-quality share of rwp higher at lr 3e-2.

Runs append to ``<out>/gan_experiment_runs.jsonl`` as they finish (a rerun skips what is done);
``--analyze-only`` rebuilds the tables and PNGs.

    nice python benchmarks/gan_experiment.py --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

H = 0.1
VARIANTS = {  # name -> (prox, inner steps, h, resample_latent)
    "plain": ("none", 1, H, True),
    "rwp": ("relaxed", 10, H, True),
    "rwp-fixed-z": ("relaxed", 10, H, False),
    "inner10-noprox": ("relaxed", 10, float("inf"), True),
}
SUITES = {  # data -> (lrs, seeds, variants)
    "digits": ((1e-3, 5e-3, 2e-2), 4, ("plain", "rwp", "rwp-fixed-z", "inner10-noprox")),
    "ring8": ((1e-3, 1e-2, 3e-2), 3, ("plain", "rwp")),
    "grid25": ((1e-3, 1e-2, 3e-2), 3, ("plain", "rwp")),
}
BUDGET = 60.0
EVAL_EVERY = 5.0
FD_HI, FD_LO = 5.0, 3.5  # claim 2's thresholds (docs/gan.md: fixed from the reference levels before running)
COLORS = {"plain": "tab:blue", "rwp": "tab:red", "rwp-fixed-z": "tab:orange", "inner10-noprox": "tab:purple"}


def key(t):
    return f"{t['data']}|{t['lr']:g}|{t['variant']}|{t['seed']}"


def _init_worker():
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


def run_one(task):
    import torch

    from otkit.proximal import evaluate, make_dataset, train

    prox, inner, h, resample = VARIANTS[task["variant"]]
    digits = task["data"] == "digits"
    t0 = time.perf_counter()
    res = train(data=task["data"], loss="ns", prox=prox, h=h, inner=inner, lr=task["lr"], steps=10**9,
                seed=task["seed"], time_budget=task["budget"], clock="cpu", eval_every=10**9,
                eval_every_s=task["eval_every"], eval_n=1000 if digits else 2000, progress=False, plots=False,
                threads=1, resample_latent=resample, snapshots=4)
    curve_keys = ("time", "w2", "modes", "hq", "fd" if digits else "kl")
    out = dict(task, status=res.status, message=res.message, steps=res.steps_done, train_time=res.train_time,
               curve=[[r.get(k, float("nan")) for k in curve_keys] for r in res.history], curve_keys=curve_keys)
    out["final"] = None
    if res.status != "nonfinite":
        ds = make_dataset(task["data"])
        z = torch.randn(2000, ds.latent_dim, generator=torch.Generator().manual_seed(777 + task["seed"]))
        with torch.no_grad():
            x = res.generator(z).numpy()
        if np.isfinite(x).all():
            out["final"] = evaluate(ds, x, n=2000)
            from otkit.proximal.metrics import mode_masses

            if not digits:
                out["final"]["masses"] = [float(v) for v in mode_masses(x, ds.modes, ds.std)]
        if task["seed"] == 0:  # what the pictures show (seed 0): a 6 x 6 grid of digits, 300 points
            keep = 36 if digits else 300
            out["snapshots"] = [[t, np.asarray(s)[:keep].round(3).tolist()] for t, s in res.snapshots]
    out["wall"] = time.perf_counter() - t0
    return out


def machine_info(workers):
    import torch

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except Exception:  # noqa: BLE001
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "load_at_start": os.getloadavg(), "workers": workers}


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


def _series(run, name):
    i = run["curve_keys"].index(name)
    return np.array([c[0] for c in run["curve"]], float), np.array([c[i] for c in run["curve"]], float)


def _final(run, name):
    """The final value (the 2000-sample evaluation); NaN for a run that diverged."""
    if run.get("final") is None:
        return np.nan
    return float(run["final"].get(name, np.nan))


def _best(run, name):
    _, v = _series(run, name)
    v = v[np.isfinite(v)]
    return float(v.min()) if len(v) else np.nan


def _time_to(run, name, thr):
    t, v = _series(run, name)
    hit = np.nonzero(np.isfinite(v) & (v <= thr))[0]
    return float(t[hit[0]]) if len(hit) else float(run["budget"])  # never: the budget (censored)


def paired(a, b, rng_seed=0):
    """Paired comparison of b - a over seeds: mean, 95 % bootstrap interval, two-sided t-test p."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = b[ok] - a[ok]
    if len(d) < 2:
        return {"n": int(len(d)), "mean": float(d.mean()) if len(d) else np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan}
    rng = np.random.default_rng(rng_seed)
    boots = rng.choice(d, size=(10000, len(d)), replace=True).mean(1)
    p = float(stats.ttest_rel(b[ok], a[ok]).pvalue) if np.ptp(d) > 0 else (0.0 if d[0] != 0 else 1.0)
    return {"n": int(len(d)), "mean": float(d.mean()), "lo": float(np.quantile(boots, 0.025)),
            "hi": float(np.quantile(boots, 0.975)), "p": p}


def holm(ps):
    """Holm-Bonferroni adjusted p-values (NaN kept)."""
    ps = np.asarray(ps, float)
    out = np.full_like(ps, np.nan)
    idx = [i for i in np.argsort(ps) if np.isfinite(ps[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def _verdict(c, lower_is_better=True):
    if not np.isfinite(c.get("p_adj", np.nan)):
        return "not resolved"
    better = c["mean"] < 0 if lower_is_better else c["mean"] > 0
    if c["p_adj"] < 0.05:
        return "holds" if better else "contradicted"
    return "not resolved"


def analyze(out_dir, info=None):
    runs = load_runs(os.path.join(out_dir, "gan_experiment_runs.jsonl"))
    if not runs:
        print("no runs yet")
        return
    by = {}
    for r in runs:
        by.setdefault((r["data"], r["lr"], r["variant"]), {})[r["seed"]] = r

    def vals(d, lr, v, fn):
        rs = by.get((d, lr, v), {})
        return {s: fn(r) for s, r in rs.items()}

    def pair(d, lr, fn, other="rwp"):
        a, b = vals(d, lr, "plain", fn), vals(d, lr, other, fn)
        seeds = sorted(set(a) & set(b))
        return paired([a[s] for s in seeds], [b[s] for s in seeds])

    md = ["# Wasserstein-proximal GAN experiment (benchmarks/gan_experiment.py)", ""]
    if info:
        md += [f"Machine: {info.get('cpu')}, {info.get('nproc')} cores, {info.get('workers')} runs in parallel, one torch "
               f"thread each; load {', '.join('%.1f' % x for x in info.get('load_at_start', []))} at start; torch "
               f"{info.get('torch')}. Budget {BUDGET:g} s of training CPU time per run (evaluation excluded).", ""]
    # --- the per-cell table
    lines = ["| data | lr | variant | seeds | steps | final FD / W2 (mean ± sd) | best FD / W2 | classes / modes | "
             "HQ share | KL modes | diverged |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for d, (lrs, _, variants) in SUITES.items():
        q = "fd" if d == "digits" else "w2"
        for lr in lrs:
            for v in variants:
                rs = list(by.get((d, lr, v), {}).values())
                if not rs:
                    continue
                fin = np.array([_final(r, q) for r in rs])
                best = np.array([_best(r, q) for r in rs])
                modes = np.array([_final(r, "modes") for r in rs])
                hq = np.array([_final(r, "hq") for r in rs])
                kl = np.array([_final(r, "kl") for r in rs])

                def ms(x, f="%.2f"):
                    x = x[np.isfinite(x)]
                    return "—" if not len(x) else (f % x.mean()) + (" ± " + f % x.std(ddof=1) if len(x) > 1 else "")
                lines.append(f"| {d} | {lr:g} | {v} | {len(rs)} | {np.mean([r['steps'] for r in rs]):.0f} | "
                             f"{ms(fin)} | {ms(best)} | {ms(modes, '%.1f')} | {ms(hq)} | "
                             f"{ms(kl) if d != 'digits' else '—'} | {sum(r.get('final') is None for r in rs)} |")
    md += ["## Every cell", "", "FD: feature Fréchet distance (digits, 2000 generated vs 540 held-out); W2: exact, "
           "2000 vs 2000 (2-D data). Best: the lowest value on the 5-s evaluation curve (1,000 or 2,000 samples).",
           ""] + lines + [""]
    # --- claims
    comps = []  # (claim, data, lr, label, stats dict, lower_is_better)
    for lr in SUITES["digits"][0]:
        comps.append(("1", "digits", lr, "final FD", pair("digits", lr, lambda r: _final(r, "fd")), True))
        comps.append(("1", "digits", lr, "best FD", pair("digits", lr, lambda r: _best(r, "fd")), True))
        for thr in (FD_HI, FD_LO):
            comps.append(("2", "digits", lr, f"time to FD <= {thr:g} (s)",
                          pair("digits", lr, lambda r, t=thr: _time_to(r, "fd", t)), True))
    top = max(SUITES["digits"][0])
    comps.append(("3", "digits", top, "final FD at the highest lr", pair("digits", top, lambda r: _final(r, "fd")), True))
    for d in ("ring8", "grid25"):
        lr_hi = max(SUITES[d][0])
        comps.append(("3", d, lr_hi, "final HQ share", pair(d, lr_hi, lambda r: _final(r, "hq")), False))
        comps.append(("3", d, lr_hi, "final KL of mode masses", pair(d, lr_hi, lambda r: _final(r, "kl")), True))
    for claim in ("1", "2", "3"):
        idx = [i for i, c in enumerate(comps) if c[0] == claim]
        adj = holm([comps[i][4]["p"] for i in idx])
        for i, a in zip(idx, adj):
            comps[i][4]["p_adj"] = float(a)
    md += ["## The claims: rwp − plain, paired by seed", "",
           "Mean difference (rwp − plain) over seeds, 95 % bootstrap interval, paired t-test p, Holm-adjusted within "
           "the claim; verdict by the rules fixed before running (module docstring).", "",
           "| claim | data | lr | quantity | seeds | rwp − plain | 95 % interval | p | p (Holm) | verdict |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for claim, d, lr, label, c, lower in comps:
        md.append(f"| {claim} | {d} | {lr:g} | {label} | {c['n']} | {c['mean']:+.3f} | [{c['lo']:+.3f}, {c['hi']:+.3f}] | "
                  f"{c['p']:.3f} | {c['p_adj']:.3f} | {_verdict(c, lower)} |")
    # secondary: the controls against rwp on digits (not part of the claims' tests)
    md += ["", "Controls on digits (final FD, other − rwp, paired; not corrected, descriptive):", ""]
    for lr in SUITES["digits"][0]:
        for other in ("rwp-fixed-z", "inner10-noprox"):
            a, b = vals("digits", lr, "rwp", lambda r: _final(r, "fd")), vals("digits", lr, other, lambda r: _final(r, "fd"))
            seeds = sorted(set(a) & set(b))
            c = paired([a[s] for s in seeds], [b[s] for s in seeds])
            md.append(f"* lr {lr:g}: {other} − rwp = {c['mean']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}], p {c['p']:.3f} "
                      f"({c['n']} seeds)")
    floors = _w2_floors()
    md += ["", "W2 true-vs-true floors (two independent true samples of the evaluation size): "
           + ", ".join(f"{k} {v:.3f}" for k, v in floors.items()), ""]
    with open(os.path.join(out_dir, "gan_experiment.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out_dir, "gan_experiment.json"), "w") as f:
        json.dump({"machine": info, "comparisons": [dict(claim=c[0], data=c[1], lr=c[2], quantity=c[3], **c[4],
                                                          verdict=_verdict(c[4], c[5])) for c in comps],
                   "w2_floors": floors}, f, indent=1)
    print("\n".join(md))
    plots(by, out_dir)


def _w2_floors():
    from otkit.proximal import make_dataset
    from otkit.proximal.metrics import w2_floor

    return {"digits (540)": w2_floor(make_dataset("digits"), 540), "ring8 (2000)": w2_floor(make_dataset("ring8"), 2000),
            "grid25 (2000)": w2_floor(make_dataset("grid25"), 2000)}


def plots(by, out_dir):
    from otkit.proximal import make_dataset
    from otkit.proximal.plots import save_metric_vs_time, save_mode_histogram, save_sample_grids

    for d, (lrs, _, variants) in SUITES.items():
        names = [("fd", "feature Fréchet distance to held-out digits", True), ("modes", "classes covered", False)] \
            if d == "digits" else [("hq", "high-quality share", False), ("kl", "KL of mode masses to uniform", True)]
        for name, label, logy in names:
            for lr in lrs:
                curves = {v: [list(zip(*_series(r, name))) for r in by.get((d, lr, v), {}).values()] for v in variants}
                curves = {v: c for v, c in curves.items() if c}
                if curves:
                    save_metric_vs_time(curves, os.path.join(out_dir, f"gan_{d}_{name}_lr{lr:g}.png"), label,
                                        title=f"{d}, lr {lr:g}: median and min-max over seeds", logy=logy)
        ds = make_dataset(d)
        for lr in lrs:
            for v in variants:
                r = by.get((d, lr, v), {}).get(0)
                if r and r.get("snapshots"):
                    snaps = [(t, np.array(s)) for t, s in r["snapshots"]]
                    save_sample_grids(ds, snaps, os.path.join(out_dir, f"gan_{d}_samples_lr{lr:g}_{v}.png"),
                                      title=f"{d}, lr {lr:g}, {v}, seed 0: samples over training CPU time")
        if d != "digits":
            lr_hi = max(lrs)
            sets = {}
            for v in variants:
                r = by.get((d, lr_hi, v), {}).get(0)
                if r and r.get("snapshots"):
                    sets[v] = np.array(r["snapshots"][-1][1])
            if sets:
                save_mode_histogram(ds, sets, os.path.join(out_dir, f"gan_{d}_modes_lr{lr_hi:g}.png"),
                                    title=f"{d}, lr {lr_hi:g}, seed 0, end of training: mass per mode")


# ------------------------------------------------------------------------------------------ main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", nargs="+", default=list(SUITES), choices=tuple(SUITES))
    ap.add_argument("--budget", type=float, default=BUDGET, help="training CPU seconds per run")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: 4 digits, 3 2-D sets)")
    ap.add_argument("--analyze-only", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    info_path = os.path.join(args.out, "gan_experiment_machine.json")
    if args.analyze_only:
        info = json.load(open(info_path)) if os.path.exists(info_path) else None
        analyze(args.out, info)
        return 0
    info = machine_info(args.workers)
    with open(info_path, "w") as f:
        json.dump(info, f, indent=1)
    runs_path = os.path.join(args.out, "gan_experiment_runs.jsonl")
    done = {key(r) for r in load_runs(runs_path)}
    tasks = []
    for d in args.data:  # seed-major: an interrupted experiment covers every cell with fewer seeds
        lrs, seeds, variants = SUITES[d]
        tasks += [dict(data=d, lr=lr, variant=v, seed=s, budget=args.budget, eval_every=EVAL_EVERY)
                  for s in range(args.seeds or seeds) for lr in lrs for v in variants]
    tasks.sort(key=lambda t: t["seed"])
    tasks = [t for t in tasks if key(t) not in done]
    print(f"{len(tasks)} runs to do ({len(done)} done), {args.workers} workers, {args.budget:g} s each; "
          f"load {os.getloadavg()}", flush=True)
    from tqdm import tqdm
    import multiprocessing as mp

    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers, initializer=_init_worker, maxtasksperchild=4) as pool, \
            open(runs_path, "a") as f, tqdm(total=len(tasks), desc="gan experiment", file=sys.stdout,
                                            mininterval=30) as bar:
        for r in pool.imap_unordered(run_one, tasks):
            f.write(json.dumps(r) + "\n")
            f.flush()
            bar.update(1)
    print(f"done in {time.perf_counter() - t0:.0f} s wall", flush=True)
    analyze(args.out, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
