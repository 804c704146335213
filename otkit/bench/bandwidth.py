"""The memory-bandwidth bound of a Sinkhorn iteration (protocol section 3).

A kernel-form Sinkhorn iteration at large d is a streaming pass over the d x d kernel K: it cannot
go faster than the machine's memory bandwidth. We measure that bound with a large NumPy ``K @ v``
(float64), and the per-iteration time of each solver from two runs with known iteration counts
(``stopThr=0``, ``numItermax`` fixed; per iteration = (t(1 + n) - t(1)) / n, which subtracts the setup:
validation, building K and the final value). otkit's kernel form reads K once per iteration (one fused
pass computes K v, the new u and the K^T u of the next half-step); POT's reads it twice (K v and K^T u).
"""
from __future__ import annotations

import warnings

import numpy as np

from .common import limit_threads, settle, timed
from .problems import euclidean_metric


def _min_time(fn, repeat):
    return min(timed(fn)[0] for _ in range(repeat))


def measure_bandwidth(d: int = 4096, threads: int = 1, n_iter: int = 40, repeat: int = 3, reg: float = 1.0,
                      backends=None, include_pot: bool = True) -> dict:
    """Measure ``K @ v`` bytes/s and the fraction of it reached by one Sinkhorn iteration.

    Returns a dict with ``matvec_bytes_per_s`` and, per solver, ``per_iter_s``, ``bytes_per_iter``,
    ``bytes_per_s`` and ``fraction`` of the ``K @ v`` bandwidth.
    """
    import otkit

    M = euclidean_metric(d, 0)
    rng = np.random.default_rng(0)
    a = np.full(d, 1.0 / d)
    b = rng.dirichlet(np.ones(d))
    out: dict = {"d": d, "threads": threads, "n_iter": n_iter, "reg": reg, "solvers": {}}
    with limit_threads(threads):
        K = np.exp(-M / reg)
        v = rng.random(d)
        K @ v
        reps = max(5, repeat * 5)
        t_mv = _min_time(lambda: K @ v, reps)
        nbytes = 8.0 * d * d
        bw = nbytes / t_mv
        out.update(matvec_s=t_mv, matvec_bytes_per_s=bw)
        del K

        def per_iter(call, reads):
            call(1)  # warm (Numba JIT, page faults)
            settle(threads)  # after NumPy's K @ v or another solver
            t1 = _min_time(lambda: call(1), repeat)
            tn = _min_time(lambda: call(1 + n_iter), repeat)
            it = max(tn - t1, 1e-12) / n_iter
            by = reads * nbytes
            return {"per_iter_s": it, "bytes_per_iter": by, "bytes_per_s": by / it, "fraction": by / it / bw,
                    "K_reads_per_iter": reads, "setup_s": t1}

        for be in backends if backends is not None else otkit.available_backends():
            out["solvers"][f"otkit-{be}-sinkhorn"] = per_iter(
                lambda n, be=be: otkit.sinkhorn2(a, b, M, reg, numItermax=n, stopThr=0.0, backend=be,
                                                 num_threads=threads or 0, warn=False), 1)
        if include_pot:
            try:
                import ot

                def pot(n):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        return ot.sinkhorn2(a, b, M, reg, numItermax=n, stopThr=0.0)

                out["solvers"]["pot-sinkhorn"] = per_iter(pot, 2)
            except ImportError:
                out["solvers"]["pot-sinkhorn"] = "skipped (POT not installed)"
    return out


def bandwidth_markdown(bw: dict) -> str:
    from .common import md_table

    rows = []
    for name, r in bw["solvers"].items():
        if isinstance(r, str):
            rows.append([name, r, "", "", ""])
            continue
        rows.append([name, f"{r['per_iter_s'] * 1e3:.2f} ms", f"{r['K_reads_per_iter']} x 8 d^2",
                     f"{r['bytes_per_s'] / 1e9:.2f} GB/s", f"{100 * r['fraction']:.0f}%"])
    head = (f"Memory-bandwidth bound at d = {bw['d']} (float64, {bw['threads'] or 'default'} thread(s)): "
            f"NumPy `K @ v` streams {bw['matvec_bytes_per_s'] / 1e9:.2f} GB/s "
            f"({bw['matvec_s'] * 1e3:.2f} ms per product).\n\n")
    return head + md_table(["solver", "time / iteration", "K bytes read / iteration", "achieved", "fraction of K @ v"],
                           rows)
