"""GPU benchmark of otkit's CUDA Sinkhorn kernels (protocol: docs/bench.md, sections 1-3, on a GPU).

    python benchmarks/bench_gpu.py [--dims 1024 4096 8192 16384] [--regs 1 0.1 0.02] [--quick] [--out DIR]

Side by side in one process, on the same inputs (Euclidean metric between d random points of the unit
square, unit median; a, b ~ Dirichlet(1); stopThr 1e-6, POT's marginal criterion every 10 iterations):

* otkit on torch CUDA tensors (the CUDA kernels take them in place; M already on the GPU), kernel form
  and log-domain, against POT ``ot.sinkhorn2`` on the same tensors (POT's GPU path), kernel form and
  ``sinkhorn_log``: the speed-ups;
* otkit ``backend="cuda"`` called with NumPy arrays: that time includes the copy of M to the GPU;
* otkit ``backend="cpp"`` and POT on NumPy (the machine's CPU cores) up to ``--cpu-max-d``.

Every value is checked against POT's (relative difference reported). The time of one kernel-form iteration
on the GPU is the slope between two iteration counts (copies and set-up cancel out). For a single problem
with m <= 16384 an iteration reads K once (the fused pass computes K v, u and K^T u from one read), so
its time is compared with torch's ``K @ v`` (cuBLAS) on the same K, one read of K at the device's
measured bandwidth: the bound of any kernel-form iteration. Batched: one histogram against N = 100 at d = 1024 and 4096, time per
pair against POT on the GPU (all columns at once) and sequential POT calls on the CPU (d = 1024).
Writes <out>/bench_gpu.{json,md,png}; progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import otkit  # noqa: E402
from otkit.bench import problems  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tmin(fn, repeat, budget=20.0):
    """(min time, result) over up to `repeat` calls (fewer when the first call is long)."""
    best, out = float("inf"), None
    t_start = time.perf_counter()
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - t_start > budget:
            break
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[1024, 4096, 8192, 16384])
    ap.add_argument("--regs", type=float, nargs="+", default=[1.0, 0.1, 0.02])
    ap.add_argument("--cpu-max-d", type=int, default=4096, help="largest d run on the CPU solvers")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    if args.quick:
        args.dims, args.regs, args.repeat = [1024, 4096], [0.1], 2

    import ot
    import torch

    if not torch.cuda.is_available() or otkit._backend.cuda_device_count() == 0:
        log("no CUDA device (torch or otkit._cuda): nothing to benchmark")
        return 1
    dev = torch.device("cuda")
    sync = torch.cuda.synchronize
    cfg = otkit.show_config(as_dict=True)
    info = {"gpu": cfg["cuda"].get("device"), "cuda": cfg["cuda"], "nproc": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "pot": ot.__version__, "otkit": otkit.__version__}

    def gpu_timed(fn, repeat):
        def run():
            r = fn()
            sync()
            return r
        run()  # warm-up (CUDA context, torch kernels)
        return tmin(run, repeat)

    rows, iters, batched = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in args.dims:
            M = problems.euclidean_metric(d, seed=d)
            ab = problems.random_histograms(d, 2, seed=d)
            a, b = ab[0], ab[1]
            Mt, at, bt = (torch.as_tensor(x, device=dev) for x in (M, a, b))
            for reg in args.regs:
                row = {"d": d, "reg": reg}
                kw = dict(stopThr=1e-6, numItermax=100000)
                t, (v_ok, lg) = gpu_timed(lambda: otkit.sinkhorn2(at, bt, Mt, reg, log=True, **kw), args.repeat)
                v_ok = float(v_ok)
                row.update(otkit_cuda_s=t, otkit_cuda_niter=lg["niter"], value=v_ok)
                t, v_np = gpu_timed(lambda: otkit.sinkhorn2(a, b, M, reg, backend="cuda", **kw), args.repeat)
                row.update(otkit_cuda_numpy_s=t, rel_diff_numpy_input=abs(float(v_np) - v_ok) / abs(v_ok))
                t, v = gpu_timed(lambda: ot.sinkhorn2(at, bt, Mt, reg, **kw), args.repeat)
                row.update(pot_torch_cuda_s=t, rel_diff_pot=abs(float(v) - v_ok) / abs(float(v)))
                t, (v_log, lg2) = gpu_timed(lambda: otkit.sinkhorn2(at, bt, Mt, reg, method="sinkhorn_log", log=True,
                                                                   **kw), args.repeat)
                v_log = float(v_log)
                row.update(otkit_cuda_log_s=t, otkit_cuda_log_niter=lg2["niter"])
                t, v = gpu_timed(lambda: ot.sinkhorn2(at, bt, Mt, reg, method="sinkhorn_log", **kw), 1)
                row.update(pot_torch_cuda_log_s=t, rel_diff_pot_log=abs(float(v) - v_log) / abs(float(v)))
                if d <= args.cpu_max_d:
                    t, v = tmin(lambda: otkit.sinkhorn2(a, b, M, reg, backend="cpp", **kw), args.repeat)
                    row.update(otkit_cpp_s=t)
                    t, v = tmin(lambda: ot.sinkhorn2(a, b, M, reg, **kw), args.repeat)
                    row.update(pot_numpy_s=t)
                row["speedup_vs_pot_cuda"] = row["pot_torch_cuda_s"] / row["otkit_cuda_s"]
                row["speedup_log_vs_pot_cuda_log"] = row["pot_torch_cuda_log_s"] / row["otkit_cuda_log_s"]
                if "pot_numpy_s" in row:
                    row["speedup_vs_pot_numpy"] = row["pot_numpy_s"] / row["otkit_cuda_numpy_s"]
                    row["speedup_vs_otkit_cpp"] = row["otkit_cpp_s"] / row["otkit_cuda_numpy_s"]
                rows.append(row)
                log(f"d={d:6d} reg={reg:<5g} niter={row['otkit_cuda_niter']:5d}  otkit cuda {row['otkit_cuda_s']:.4f}s"
                    f" (NumPy input {row['otkit_cuda_numpy_s']:.4f}s)"
                    f"  POT torch-cuda {row['pot_torch_cuda_s']:.4f}s (x{row['speedup_vs_pot_cuda']:.2f})"
                    f"  log: otkit {row['otkit_cuda_log_s']:.4f}s POT {row['pot_torch_cuda_log_s']:.4f}s"
                    f" (x{row['speedup_log_vs_pot_cuda_log']:.2f})"
                    + (f"  cpp {row['otkit_cpp_s']:.3f}s POT numpy {row['pot_numpy_s']:.3f}s" if "pot_numpy_s" in row
                       else "") + f"  rel.diff {row['rel_diff_pot']:.1e}")

            # one kernel-form iteration: slope between two iteration counts; bound: cuBLAS K @ v on K
            k1, k2 = 20, 220
            t1, _ = gpu_timed(lambda: otkit.sinkhorn2(at, bt, Mt, 0.1, stopThr=0.0, numItermax=k1), args.repeat)
            t2, _ = gpu_timed(lambda: otkit.sinkhorn2(at, bt, Mt, 0.1, stopThr=0.0, numItermax=k2), args.repeat)
            per_it = max(t2 - t1, 1e-9) / (k2 - k1)
            Kt = torch.exp(-Mt / 0.1)
            vt = torch.rand(d, device=dev, dtype=torch.float64)
            reps = 50

            def kv():
                for _ in range(reps):
                    Kt @ vt
            t_kv, _ = gpu_timed(kv, args.repeat)
            t_kv /= reps
            bytes_it = 8 * d * d  # the fused pass reads K once (K v, then K^T u from the same read)
            iters.append({"d": d, "otkit_iter_s": per_it, "cublas_Kv_s": t_kv,
                          "otkit_GBps": bytes_it / per_it / 1e9, "cublas_Kv_GBps": 8 * d * d / t_kv / 1e9,
                          "fraction_of_cublas_bound": t_kv / per_it})
            log(f"d={d:6d} iteration {per_it * 1e6:.1f} us = {bytes_it / per_it / 1e9:.0f} GB/s; cuBLAS K@v "
                f"{t_kv * 1e6:.1f} us = {8 * d * d / t_kv / 1e9:.0f} GB/s; fraction {t_kv / per_it:.2f}")
            del Kt, Mt
            torch.cuda.empty_cache()

        for d in (1024, 4096):
            if d not in args.dims and not args.quick:
                continue
            M = problems.euclidean_metric(d, seed=d)
            H = problems.random_histograms(d, 101, seed=d + 1)
            a, B = H[0], np.ascontiguousarray(H[1:].T)
            N = B.shape[1]
            kw = dict(stopThr=1e-6, numItermax=100000)
            Mt, at, Bt = (torch.as_tensor(x, device=dev) for x in (M, a, B))
            t_ok, (vals, lg) = gpu_timed(lambda: otkit.sinkhorn2(at, Bt, Mt, 0.1, log=True, **kw), args.repeat)
            vals = vals.cpu().numpy()
            t_pc, vp = gpu_timed(lambda: ot.sinkhorn2(at, Bt, Mt, 0.1, **kw), args.repeat)
            rec = {"d": d, "N": N, "reg": 0.1, "otkit_cuda_per_pair_s": t_ok / N,
                   "pot_torch_cuda_per_pair_s": t_pc / N, "speedup_vs_pot_cuda": t_pc / t_ok,
                   "max_niter": int(np.max(lg["niter"]))}
            if d <= 1024:
                t0 = time.perf_counter()
                ref = np.array([ot.sinkhorn2(a, B[:, k], M, 0.1, **kw) for k in range(N)])
                t_seq = time.perf_counter() - t0
                rec.update(pot_numpy_sequential_per_pair_s=t_seq / N, speedup_vs_pot_numpy_sequential=t_seq / t_ok,
                           rel_diff_pot=float(np.max(np.abs(vals - ref) / np.abs(ref))))
            batched.append(rec)
            log(f"batched d={d} N={N}: otkit cuda {t_ok / N * 1e3:.3f} ms/pair, POT torch-cuda "
                f"{t_pc / N * 1e3:.3f} ms/pair (x{t_pc / t_ok:.2f})"
                + (f", POT numpy sequential {rec['pot_numpy_sequential_per_pair_s'] * 1e3:.2f} ms/pair "
                   f"(x{rec['speedup_vs_pot_numpy_sequential']:.1f}), rel.diff {rec['rel_diff_pot']:.1e}"
                   if "rel_diff_pot" in rec else ""))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"machine": info, "sinkhorn": rows, "iteration": iters, "batched": batched}
    (out / "bench_gpu.json").write_text(json.dumps(res, indent=1))
    (out / "bench_gpu.md").write_text(markdown(res))
    plot(res, out / "bench_gpu.png")
    log(f"wrote {out / 'bench_gpu.md'}")
    print(markdown(res))
    return 0


def markdown(res):
    m = res["machine"]
    L = ["# otkit CUDA Sinkhorn vs POT (side by side, one run)", "",
         f"GPU: {m['gpu']}; {m['nproc']} CPU cores; torch {m['torch']}, POT {m['pot']}, numpy {m['numpy']}, "
         f"otkit {m['otkit']}.", "",
         "Euclidean metric (unit median), a, b ~ Dirichlet(1), stopThr 1e-6. otkit and POT run on the same torch "
         "CUDA tensors (M already on the GPU); 'NumPy input' is otkit with backend='cuda' on NumPy arrays, which "
         "copies M to the GPU at each call. otkit cpp and POT numpy run on the CPU cores. Min over repeats.", "",
         "| d | reg | niter | otkit cuda (s) | POT torch-cuda (s) | speed-up | otkit cuda log (s) | POT cuda log (s) "
         "| speed-up log | otkit cuda, NumPy input (s) | otkit cpp (s) | POT numpy (s) | cuda (NumPy input) vs POT numpy | rel. diff |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["sinkhorn"]:
        f = (lambda k: f"{r[k]:.4f}" if k in r else "-")
        L.append(f"| {r['d']} | {r['reg']:g} | {r['otkit_cuda_niter']} | {r['otkit_cuda_s']:.4f} | "
                 f"{r['pot_torch_cuda_s']:.4f} | {r['speedup_vs_pot_cuda']:.2f}x | {r['otkit_cuda_log_s']:.4f} | "
                 f"{r['pot_torch_cuda_log_s']:.4f} | {r['speedup_log_vs_pot_cuda_log']:.2f}x | "
                 f"{f('otkit_cuda_numpy_s')} | {f('otkit_cpp_s')} | "
                 f"{f('pot_numpy_s')} | "
                 + (f"{r['speedup_vs_pot_numpy']:.1f}x" if "speedup_vs_pot_numpy" in r else "-")
                 + f" | {r['rel_diff_pot']:.1e} |")
    L += ["", "One kernel-form iteration (slope between 20 and 220 iterations; the fused pass reads K once: K v, "
          "then K^T u from the same read) against cuBLAS `K @ v` on the same K (torch), one read of K, the "
          "bound of any kernel-form iteration:", "",
          "| d | otkit iteration (us) | GB/s (K read once) | cuBLAS K @ v (us) | GB/s | fraction of the K @ v bound |",
          "|---|---|---|---|---|---|"]
    for r in res["iteration"]:
        L.append(f"| {r['d']} | {r['otkit_iter_s'] * 1e6:.1f} | {r['otkit_GBps']:.0f} | {r['cublas_Kv_s'] * 1e6:.1f} | "
                 f"{r['cublas_Kv_GBps']:.0f} | {r['fraction_of_cublas_bound']:.2f} |")
    if res["batched"]:
        L += ["", "Batched, one histogram against N histograms sharing M (reg 0.1):", "",
              "| d | N | otkit cuda (ms/pair) | POT torch-cuda (ms/pair) | speed-up | POT numpy sequential (ms/pair) "
              "| speed-up | rel. diff |", "|---|---|---|---|---|---|---|---|"]
        for r in res["batched"]:
            seq = r.get("pot_numpy_sequential_per_pair_s")
            L.append(f"| {r['d']} | {r['N']} | {r['otkit_cuda_per_pair_s'] * 1e3:.3f} | "
                     f"{r['pot_torch_cuda_per_pair_s'] * 1e3:.3f} | {r['speedup_vs_pot_cuda']:.2f}x | "
                     + (f"{seq * 1e3:.2f} | {r['speedup_vs_pot_numpy_sequential']:.1f}x | {r['rel_diff_pot']:.1e} |"
                        if seq else "- | - | - |"))
    return "\n".join(L) + "\n"


def plot(res, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    fig, axes = plt.subplots(1, len({r["reg"] for r in res["sinkhorn"]}), figsize=(14, 4.2), squeeze=False)
    for ax, reg in zip(axes[0], sorted({r["reg"] for r in res["sinkhorn"]}, reverse=True)):
        rs = [r for r in res["sinkhorn"] if r["reg"] == reg]
        for key, label in [("otkit_cuda_s", "otkit cuda"), ("otkit_cuda_numpy_s", "otkit cuda (NumPy input)"),
                           ("pot_torch_cuda_s", "POT torch-cuda"),
                           ("otkit_cuda_log_s", "otkit cuda log"), ("pot_torch_cuda_log_s", "POT torch-cuda log"),
                           ("otkit_cpp_s", "otkit cpp"), ("pot_numpy_s", "POT numpy")]:
            pts = [(r["d"], r[key]) for r in rs if key in r]
            if pts:
                ax.loglog(*zip(*pts), "o-", label=label)
        ax.set_title(f"reg = {reg:g}")
        ax.set_xlabel("histogram dimension d")
        ax.set_ylabel("time (s)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Sinkhorn on {res['machine']['gpu']}: otkit CUDA vs POT")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
