"""One histogram against N others sharing M (protocol section 2).

otkit: one batched call ``otkit.sinkhorn2(a, B, M, reg)`` with B of shape (d, N) (one kernel call, every
column stopped by its own marginal error). POT: N sequential ``ot.sinkhorn2(a, B[:, j], M, reg)`` calls,
the way a user computes N distances one by one (if that would exceed the time budget, the first pairs
are timed and the time per pair is their mean: the report says how many). POT's own batched call (b of
shape (d, N), one stopping rule for all columns) is timed too, for information.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .common import (fmt_time, get_metric, limit_threads, machine_info, machine_line, md_table, peak_gflops,
                     progress, settle, timed, write_csv, write_json)
from .problems import random_histograms


def run_batch(dims=(1024, 4096), N=100, reg=0.1, metric="graph", repeat=3, threads=1, stopThr=1e-6,
              numItermax=1000, budget=60.0, seed=0, cache_dir=None, out=None, backends=None, show_progress=True,
              stream=None) -> dict:
    import otkit

    stream = stream or sys.stdout
    backends = backends or otkit.available_backends()
    try:
        import ot
    except ImportError:
        ot = None
        print("POT: skipped (not installed: pip install POT)", file=stream)
    info = machine_info(threads)
    t_start = time.perf_counter()
    rows, mismatches = [], []
    with limit_threads(threads):
        for be in backends:  # warm up (Numba JIT excluded), before the progress bar starts
            a8 = np.full(8, 1 / 8)
            M8 = np.abs(np.subtract.outer(np.arange(8.0), np.arange(8.0)))
            otkit.sinkhorn2(a8, np.stack([a8, a8], 1), M8, 1.0, backend=be)
        bar = progress(len(dims) * (len(backends) + 2), "otkit bench batch", show_progress)
        for d in dims:
            M = get_metric(metric, d, seed, cache_dir)
            H = random_histograms(d, N + 1, seed + d)
            a, B = H[0], np.ascontiguousarray(H[1:].T)
            row = {"metric": metric, "d": d, "N": N, "reg": reg, "stopThr": stopThr, "numItermax": numItermax}
            vals = {}
            for be in backends:
                bar.set_postfix_str(f"d={d} otkit {be}")
                ts = []
                settle(threads)
                while len(ts) < repeat and sum(ts) < budget:  # fewer repeats when a call is long
                    t, (v, lg) = timed(otkit.sinkhorn2, a, B, M, reg, stopThr=stopThr, numItermax=numItermax,
                                       log=True, backend=be, num_threads=threads or 0)
                    ts.append(t)
                vals[be] = np.asarray(v)
                row[f"otkit_{be}_total_s"] = min(ts)
                row[f"otkit_{be}_median_s"] = float(np.median(ts))
                row[f"otkit_{be}_per_pair_s"] = min(ts) / N
                row[f"otkit_{be}_repeat"] = len(ts)
                row[f"otkit_{be}_niter_max"] = int(np.max(lg["niter"]))
                # multiply-adds of the kernel-form iterations: 2 products of K with a vector per column and
                # iteration (each column stops on its own), 2 flops each
                row[f"otkit_{be}_flops"] = 4.0 * d * d * float(np.sum(np.asarray(lg["niter"]) + 1))
                row[f"otkit_{be}_err_max"] = float(np.max(lg["err"]))
                bar.update(1)
            # the machine's float64 matrix-product rate (NumPy's BLAS, same threads): the batched iteration is two
            # products of K with the active columns, so flops / rate bounds its time from below
            row["gemm_gflops"] = peak_gflops()
            if ot is not None:
                bar.set_postfix_str(f"d={d} POT sequential")
                seq_t, seq_v = [], []
                settle(threads)
                t_all = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for j in range(N):
                        t, v = timed(ot.sinkhorn2, a, B[:, j], M, reg, stopThr=stopThr, numItermax=numItermax)
                        seq_t.append(t)
                        seq_v.append(float(v))
                        if time.perf_counter() - t_all > budget and j >= 2:
                            break
                npairs = len(seq_t)
                row["pot_seq_pairs_timed"] = npairs
                row["pot_seq_per_pair_s"] = float(np.mean(seq_t))
                row["pot_seq_total_s_est"] = float(np.mean(seq_t)) * N
                for be in backends:
                    row[f"speedup_{be}_vs_pot_seq"] = row["pot_seq_per_pair_s"] / row[f"otkit_{be}_per_pair_s"]
                    rel = np.abs(vals[be][:npairs] - np.array(seq_v)) / np.abs(np.array(seq_v))
                    row[f"agree_{be}_max_rel"] = float(rel.max())
                    if rel.max() > 1e-6:
                        k = int(np.argmax(rel))
                        mismatches.append({"d": d, "backend": be, "pair": k, "rel": float(rel[k])})
                        print(f"!!! MISMATCH: otkit {be} batched value {vals[be][k]:.15g} vs POT {seq_v[k]:.15g} "
                              f"(relative {rel[k]:.3e} > 1e-6) at d={d}, pair {k}", file=stream, flush=True)
                bar.update(1)
                bar.set_postfix_str(f"d={d} POT batched")
                settle(threads)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t, _ = timed(ot.sinkhorn2, a, B, M, reg, stopThr=stopThr, numItermax=numItermax)
                row["pot_batched_total_s"] = t
                row["pot_batched_per_pair_s"] = t / N
                bar.update(1)
            rows.append(row)
    bar.close()
    res = {"kind": "batch", "machine": info, "settings": {"dims": list(dims), "N": N, "reg": reg, "metric": metric,
           "repeat": repeat, "threads": threads, "stopThr": stopThr, "numItermax": numItermax, "budget_s": budget},
           "rows": rows, "mismatches": mismatches, "duration_s": time.perf_counter() - t_start}
    if out is not None:
        out = Path(out)
        write_json(out / "batch.json", res)
        write_csv(out / "batch.csv", rows)
        (out / "batch.md").write_text(markdown(res, backends))
    print(markdown(res, backends), file=stream)
    return res


def markdown(res, backends) -> str:
    st = res["settings"]
    head = ["d", "N"] + [f"otkit {be} batched / pair" for be in backends] + [
        "POT sequential / pair", "POT batched / pair"] + [f"otkit {be} vs POT sequential" for be in backends]
    tab = []
    for r in res["rows"]:
        tab.append([r["d"], r["N"]] + [fmt_time(r[f"otkit_{be}_per_pair_s"]) for be in backends] + [
            fmt_time(r.get("pot_seq_per_pair_s")) + (f" ({r['pot_seq_pairs_timed']} pairs timed)"
                                                     if r.get("pot_seq_pairs_timed", st["N"]) < st["N"] else ""),
            fmt_time(r.get("pot_batched_per_pair_s"))] + [
            (f"{r[f'speedup_{be}_vs_pot_seq']:.1f}x" if f"speedup_{be}_vs_pot_seq" in r else "-") for be in backends])
    agree = [r.get(f"agree_{be}_max_rel") for r in res["rows"] for be in backends]
    agree = [x for x in agree if x is not None]
    return "\n".join([
        f"One histogram vs N = {st['N']} sharing M ({st['metric']} metric, reg = {st['reg']:g}, stopThr "
        f"{st['stopThr']:g}, min over {st['repeat']} repeat(s)). Machine: {machine_line(res['machine'])}.", "",
        md_table(head, tab), "",
        (f"Largest relative difference otkit batched vs POT sequential: {max(agree):.1e} (tolerance 1e-6)."
         if agree else "")])
