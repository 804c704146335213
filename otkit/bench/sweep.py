"""The histogram-dimension sweep (protocol section 1; Cuturi 2013, Sec. 5 and Figure 4).

For each d: build the ground metric (random-graph shortest paths, cached on disk, or Euclidean),
draw a, b ~ Dirichlet(1) with a seed fixed per d, and time every selected solver side by side in the
same process, ``repeat`` times each (min and median). Exact solvers run once per d; Sinkhorn solvers
once per reg, all with the same stopping rule (POT's: L2 norm of the column-marginal violation below
``stopThr``, checked every 10 iterations) and the same ``numItermax``. Values are checked while timing:
exact solvers agree to 1e-9 relative (FastEMD, which rounds its inputs to 6 digits, to 1e-4), Sinkhorn
values agree with POT's to 1e-6 relative, else a loud MISMATCH line (also recorded in the JSON).

Per-call budget: a solver whose call took longer than ``budget`` seconds at some d, or whose time
predicted from the previous d (time ~ d^2 for Sinkhorn, d^2.5 for the network simplex, d^3 for FastEMD)
exceeds it, is reported as skipped for that d and every larger one.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import solvers as S
from .common import (fmt_time, get_metric, limit_threads, machine_info, machine_line, md_table, progress,
                     more_runs, settle, settle_seconds, timed, write_csv, write_json)
from .problems import random_histograms


def _rel(x, ref):
    return abs(x - ref) / max(abs(ref), 1e-300)


SHORT_TOTAL, SHORT_MAX = 0.2, 5  # short calls: repeated up to 5 times within 0.2 s


def run_sweep(dims, regs, metric="graph", solvers=None, repeat=3, out=None, budget=60.0, threads=1,
              stopThr=1e-6, numItermax=1000, seed=0, cache_dir=None, registry=None, bandwidth_d=4096,
              show_progress=True, stream=None, quick=False) -> dict:
    """Run the sweep; write ``sweep.{json,csv,md,png}`` into ``out`` (if given); return the results dict."""
    stream = stream or sys.stdout
    registry = registry if registry is not None else S.SOLVERS
    names = list(solvers) if solvers else list(registry)
    dims = sorted(int(d) for d in dims)
    info = machine_info(threads)
    t_start = time.perf_counter()
    rows: list[dict] = []
    mismatches: list[dict] = []
    unavailable = {}
    for n in names:
        ok, why = registry[n].available()
        if not ok:
            unavailable[n] = why
            print(f"{n}: {why}", file=stream)
    active = [n for n in names if n not in unavailable]
    exact = [n for n in active if registry[n].family == "exact"]
    sink = [n for n in active if registry[n].family == "sinkhorn"]
    state: dict = {}  # (name, reg) -> {"d":, "t":, "skip": reason}
    ntasks = len(dims) * (len(exact) + len(sink) * len(regs))
    with limit_threads(threads):
        # JIT compilation and first-call costs are excluded from the timings. The warm-up runs before the
        # progress bar starts, so a first Numba compilation shows its notice (otkit._numba._notice), not a
        # bar frozen at 0%.
        for n in active:
            if registry[n].warmup is not None:
                registry[n].warmup()
        bar = progress(ntasks, "otkit bench", show_progress)
        for d in dims:
            t0 = time.perf_counter()
            M = get_metric(metric, d, seed, cache_dir)
            t_metric = time.perf_counter() - t0
            a, b = random_histograms(d, 2, seed + d)
            groups = ([(None, exact)] if exact else []) + [(r, sink) for r in regs if sink]
            for reg, group in groups:
                grows = {}
                for n in group:
                    s = registry[n]
                    bar.set_postfix_str(f"d={d} {'' if reg is None else f'reg={reg:g} '}{n}")
                    key = (n, reg)
                    st = state.setdefault(key, {})
                    row = {"metric": metric, "d": d, "reg": reg, "solver": n, "family": s.family,
                           "repeat": repeat, "stopThr": stopThr if s.family == "sinkhorn" else None,
                           "numItermax": numItermax if s.family == "sinkhorn" else None}
                    reason = st.get("skip")
                    if reason is None and st.get("t") is not None:
                        pred = st["t"] * (d / st["d"]) ** s.growth
                        if pred > budget:
                            reason = (f"skipped (over budget: predicted {pred:.0f} s per call at d={d} "
                                      f"> {budget:g} s)")
                            st["skip"] = reason
                    if reason is not None:
                        row["status"] = reason
                        rows.append(row)
                        bar.update(1)
                        continue
                    times, res = [], None
                    settle(threads)
                    try:
                        while more_runs(times, repeat, SHORT_TOTAL, SHORT_MAX):
                            t, res = timed(s.run, a, b, M, reg, stopThr, numItermax, threads)
                            times.append(t)
                            if t > budget:
                                break
                    except Exception as exc:  # a crash is reported, not fatal
                        row["status"] = f"error ({type(exc).__name__}: {exc})"
                        st["skip"] = f"skipped (error at d={st.get('d', d)})"
                        rows.append(row)
                        bar.update(1)
                        continue
                    row.update(status="ok", repeat=len(times), t_min=min(times), t_median=float(np.median(times)),
                               times=times, **res)
                    st.update(t=min(times), d=d)
                    if min(times) > budget:
                        st["skip"] = f"skipped (over budget: {min(times):.0f} s per call at d={d} > {budget:g} s)"
                    rows.append(row)
                    grows[n] = row
                    bar.update(1)
                # agreement checks of this group
                for n, row in grows.items():
                    for ref in S.agreement_reference(n, registry):
                        if ref in grows and ref != n:
                            rel = _rel(row["value"], grows[ref]["value"])
                            tol = S.agreement_tolerance(n, ref, registry)
                            row["agree_ref"], row["agree_rel"], row["agree_tol"] = ref, rel, tol
                            row["agree_ok"] = bool(rel <= tol)
                            if rel > tol:
                                mm = {"metric": metric, "d": d, "reg": reg, "solver": n, "ref": ref,
                                      "value": row["value"], "ref_value": grows[ref]["value"], "rel": rel,
                                      "tol": tol}
                                mismatches.append(mm)
                                print(f"!!! MISMATCH: {n} = {row['value']:.15g} vs {ref} = "
                                      f"{grows[ref]['value']:.15g} (relative difference {rel:.3e} > {tol:g}) "
                                      f"at d={d}, reg={reg}, metric={metric}", file=stream, flush=True)
                            break
                    for ref in registry[n].refs:
                        if ref in grows:
                            row[f"speedup_vs_{ref}"] = grows[ref]["t_min"] / row["t_min"]
            rows.append({"metric": metric, "d": d, "solver": "(metric)", "status": "ok", "t_min": t_metric,
                         "family": "setup"})
    bar.close()
    bw = None
    if bandwidth_d and any(registry[n].meta.get("method") == "sinkhorn" for n in sink):
        from .bandwidth import measure_bandwidth

        backends = sorted({registry[n].meta["backend"] for n in sink if registry[n].meta.get("backend")
                           and registry[n].meta.get("method") == "sinkhorn"})
        print(f"measuring the memory-bandwidth bound at d={bandwidth_d} ...", file=stream, flush=True)
        bw = measure_bandwidth(bandwidth_d, threads=threads, backends=backends,
                               include_pot="pot-sinkhorn" in sink, n_iter=20 if quick else 40)
    res = {"kind": "sweep", "machine": info, "settings": {
        "dims": dims, "regs": list(regs), "metric": metric, "solvers": names, "repeat": repeat, "budget_s": budget,
        "threads": threads, "settle_s": settle_seconds(threads), "stopThr": stopThr, "check_every": 10,
        "numItermax": numItermax, "seed": seed, "quick": quick, "jit_compile_excluded": True},
        "unavailable": unavailable, "rows": rows, "mismatches": mismatches, "bandwidth": bw,
        "duration_s": time.perf_counter() - t_start}
    if out is not None:
        write_outputs(res, Path(out), registry)
    status = f"{len(mismatches)} MISMATCH(ES)" if mismatches else "all values agree"
    print(f"sweep done in {res['duration_s']:.0f} s: {status}" + (f"; results in {out}" if out else ""),
          file=stream)
    return res


def _label(n, registry):
    return registry[n].label if n in registry else n


def markdown(res, registry) -> str:
    st = res["settings"]
    rows = [r for r in res["rows"] if r["family"] != "setup"]
    names = [n for n in st["solvers"] if n in registry]
    wait = f", each solver after a {st['settle_s']:g} s busy wait (idle cores)" if st.get("settle_s") else ""
    lines = [f"# otkit bench: {st['metric']} metric, d in {st['dims']}, reg in {st['regs']}", "",
             f"Machine: {machine_line(res['machine'])}.", "",
             f"Stopping: marginal L2 error < {st['stopThr']:g} checked every 10 iterations, numItermax "
             f"{st['numItermax']}, for every Sinkhorn; min over {st['repeat']} repeat(s), or up to {SHORT_MAX} for "
             f"calls that add up to less than {SHORT_TOTAL:g} s{wait}; per-call budget "
             f"{st['budget_s']:g} s; Numba JIT compilation excluded. Total {res['duration_s']:.0f} s.", ""]
    # speed ratios
    pairs = [(n, ref) for n in names for ref in registry[n].refs if ref in names]
    if pairs:
        lines += ["## Speed-up (reference time / solver time, min over repeats; > 1: faster than the reference)", ""]
        head = ["d", "reg"] + [f"{_label(n, registry)} vs {_label(r, registry)}" for n, r in pairs]
        tab = []
        keys = sorted({(r["d"], -1 if r["reg"] is None else r["reg"]) for r in rows}, key=lambda k: (k[1] != -1, -k[1], k[0]))
        for d, reg in keys:
            reg = None if reg == -1 else reg
            cells = []
            for n, ref in pairs:
                row = next((r for r in rows if r["d"] == d and r["reg"] == reg and r["solver"] == n), None)
                if row is None:
                    cells.append(None)
                    continue
                v = row.get(f"speedup_vs_{ref}")
                cells.append(f"{v:.2f}x" if v is not None else ("-" if row["status"] == "ok" else "skipped"))
            if all(c is None for c in cells):
                continue
            tab.append([d, "exact" if reg is None else f"{reg:g}"] + [c if c is not None else "" for c in cells])
        lines += [md_table(head, tab), ""]
    # times
    lines += ["## Times (min over repeats), iterations and achieved marginal error", ""]
    head = ["d", "reg"] + [_label(n, registry) for n in names]
    tab = []
    keys = sorted({(r["d"], -1 if r["reg"] is None else r["reg"]) for r in rows}, key=lambda k: (k[1] != -1, -k[1], k[0]))
    for d, reg in keys:
        reg = None if reg == -1 else reg
        cells = []
        for n in names:
            row = next((r for r in rows if r["d"] == d and r["reg"] == reg and r["solver"] == n), None)
            if row is None:
                cells.append("")
            elif row["status"] != "ok":
                cells.append("skipped" if row["status"].startswith("skipped") else "error")
            else:
                c = fmt_time(row["t_min"])
                if row.get("niter") is not None:
                    c += f" ({row['niter']} it, {row['err']:.1e})"
                if row.get("agree_ok") is False:
                    c += " **MISMATCH**"
                cells.append(c)
        tab.append([d, "exact" if reg is None else f"{reg:g}"] + cells)
    lines += [md_table(head, tab), ""]
    agree = [r for r in rows if r.get("agree_rel") is not None]
    if agree:
        worst, tols = {}, {}
        for r in agree:
            fam = r["family"] + (" (FastEMD)" if r.get("agree_tol", 0) == S.RTOL_FASTEMD else "")
            worst[fam] = max(worst.get(fam, 0.0), r["agree_rel"])
            tols[fam] = r.get("agree_tol", S.RTOL.get(r["family"]))
        lines += ["Agreement: largest relative difference to the reference value: "
                  + ", ".join(f"{fam} {w:.1e} (tolerance {tols[fam]:g})" for fam, w in worst.items()) + ".", ""]
    if res["mismatches"]:
        lines += ["## MISMATCHES", ""] + [
            f"- {m['solver']} vs {m['ref']} at d={m['d']}, reg={m['reg']}: {m['value']:.15g} vs {m['ref_value']:.15g} "
            f"(relative {m['rel']:.2e} > {m['tol']:g})" for m in res["mismatches"]] + [""]
    skipped = {}
    for r in rows:
        if r["status"] != "ok":
            skipped.setdefault((r["solver"], r["status"]), []).append((r["d"], r["reg"]))
    if skipped or res["unavailable"]:
        lines += ["## Skipped", ""]
        for n, why in res["unavailable"].items():
            lines.append(f"- {n}: {why}")
        for (n, why), where in skipped.items():
            ds = sorted({w[0] for w in where})
            lines.append(f"- {n}: {why} (d in {ds})")
        lines.append("")
    if res.get("bandwidth"):
        from .bandwidth import bandwidth_markdown

        lines += ["## Memory-bandwidth bound", "", bandwidth_markdown(res["bandwidth"]), ""]
    return "\n".join(lines)


def plot(res, path: Path, registry) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = res["settings"]
    rows = [r for r in res["rows"] if r["status"] == "ok" and r["family"] != "setup"]
    regs = st["regs"] or [None]
    fig, axes = plt.subplots(1, len(regs), figsize=(max(6.5, 5.2 * len(regs)), 4.6), squeeze=False, sharey=True)
    names = [n for n in st["solvers"] if n in registry]
    cmap = plt.get_cmap("tab10")
    for k, reg in enumerate(regs):
        ax = axes[0, k]
        for i, n in enumerate(names):
            fam = registry[n].family
            sel = [r for r in rows if r["solver"] == n and (r["reg"] == reg if fam == "sinkhorn" else r["reg"] is None)]
            if not sel:
                continue
            sel.sort(key=lambda r: r["d"])
            ax.loglog([r["d"] for r in sel], [r["t_min"] for r in sel], marker="o", ms=3,
                      ls="-" if fam == "sinkhorn" else "--", color=cmap(i % 10),
                      lw=2.2 if n.startswith("otkit") else 1.2, label=_label(n, registry))
        ax.set_xlabel("histogram dimension d")
        ax.set_title(f"reg = {reg:g} (lambda = {1 / reg:g})" if reg else "exact")
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("time per distance (s, min over repeats)")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"otkit bench: time vs d, {st['metric']} metric (cf. Cuturi 2013, Fig. 4)\n"
                 "solid: Sinkhorn (stopThr %g), dashed: exact solvers" % st["stopThr"],
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(res, out: Path, registry) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", res)
    write_csv(out / "sweep.csv", [{k: v for k, v in r.items() if k != "times"} for r in res["rows"]])
    (out / "sweep.md").write_text(markdown(res, registry))
    plot(res, out / "sweep.png", registry)
