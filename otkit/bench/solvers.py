"""The solvers ``otkit bench`` times side by side, in one registry.

Each :class:`Solver` knows whether it can run here (a solver that is missing is reported as
skipped, with the reason), how to warm up (Numba JIT compilation is excluded from the timings), and
how to solve one problem, returning the value, the iterations and the achieved marginal error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# agreement tolerances (protocol section 1)
RTOL = {"sinkhorn": 1e-6, "exact": 1e-9}
# FastEMD (pyemd's C++ emd_hat) rounds the masses and costs to integers scaled to 10^6 of their largest
# value before solving, so its costs differ from the exact ones by about 1e-5 relative (measured up to 3.8e-5)
RTOL_FASTEMD = 1e-4


def agreement_tolerance(name: str, ref: str, registry: dict) -> float:
    """The relative tolerance between the values of solver ``name`` and its reference ``ref``."""
    if "fastemd" in (name, ref):
        return RTOL_FASTEMD
    return RTOL[registry[name].family]


@dataclass
class Solver:
    name: str
    family: str  # "sinkhorn" or "exact"
    label: str
    run: Callable  # run(a, b, M, reg, stopThr, numItermax, threads) -> dict(value, niter, err, converged)
    available: Callable[[], tuple]  # () -> (ok, reason)
    refs: tuple = ()  # solvers whose value is the agreement reference, and speed references (ratio ref/self)
    warmup: Callable | None = None
    growth: float = 2.0  # time ~ d**growth, to predict whether the next d fits the budget
    meta: dict = field(default_factory=dict)


def _otkit_sinkhorn(backend: str, method: str):
    def run(a, b, M, reg, stopThr, numItermax, threads):
        import otkit

        v, lg = otkit.sinkhorn2(a, b, M, reg, method=method, numItermax=numItermax, stopThr=stopThr, log=True,
                                backend=backend, num_threads=threads or 0, warn=False)
        return {"value": float(v), "niter": int(lg["niter"]), "err": float(lg["err"][-1]),
                "converged": bool(lg["converged"])}

    def available():
        from otkit import _backend

        if _backend.is_available(backend):
            return True, ""
        return False, f"skipped (backend {backend!r} not available" + (": no CUDA device)" if backend == "cuda" else ")")

    def warmup():
        a = np.full(8, 1 / 8)
        M = np.abs(np.subtract.outer(np.arange(8.0), np.arange(8.0)))
        run(a, a, M, 1.0, 1e-6, 20, 1)
        run(a, a, M, 0.1, 1e-6, 20, 1)

    return run, available, warmup


def _otkit_emd():
    def run(a, b, M, reg, stopThr, numItermax, threads):
        import otkit

        v = otkit.emd2(a, b, M)
        return {"value": float(v), "niter": None, "err": None, "converged": True}

    def available():
        import otkit

        if hasattr(otkit, "emd2"):
            return True, ""
        return False, "skipped (not available: otkit.emd2 is not in this build)"

    def warmup():
        a = np.full(8, 1 / 8)
        M = np.abs(np.subtract.outer(np.arange(8.0), np.arange(8.0)))
        run(a, a[::-1].copy(), M, None, None, None, 1)

    return run, available, warmup


def _pot_available():
    try:
        import ot  # noqa: F401

        return True, ""
    except ImportError:
        return False, "skipped (not installed: pip install POT)"


def _pot_sinkhorn(method: str):
    def run(a, b, M, reg, stopThr, numItermax, threads):
        import warnings

        import ot

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v, lg = ot.sinkhorn2(a, b, M, reg, method=method, numItermax=numItermax, stopThr=stopThr, log=True)
        err = lg.get("err") or [np.nan]
        niter = lg.get("niter", lg.get("n_iter"))
        return {"value": float(v), "niter": None if niter is None else int(niter), "err": float(err[-1]),
                "converged": bool(float(err[-1]) < stopThr)}

    return run, _pot_available, None


def _pot_emd():
    def run(a, b, M, reg, stopThr, numItermax, threads):
        import ot

        v = ot.emd2(a, b, M, numItermax=10_000_000)
        return {"value": float(v), "niter": None, "err": None, "converged": True}

    return run, _pot_available, None


def _fastemd():
    def run(a, b, M, reg, stopThr, numItermax, threads):
        from .common import fastemd

        v = fastemd(a, b, M)
        return {"value": float(v), "niter": None, "err": None, "converged": True}

    def available():
        try:
            import pyemd  # noqa: F401

            return True, ""
        except ImportError:
            return False, "skipped (not installed: pip install 'pyemd<2')"

    return run, available, None


def build_registry() -> dict:
    """name -> Solver, in the order they are timed and plotted."""
    reg: dict = {}
    for backend in ("cpp", "numba", "cuda"):  # cuda: NumPy input, so the copy of M to the GPU is timed
        for method, short in (("sinkhorn", "sinkhorn"), ("sinkhorn_log", "sinkhorn_log")):
            run, av, wu = _otkit_sinkhorn(backend, method)
            name = f"otkit-{backend}-{short}"
            reg[name] = Solver(name, "sinkhorn", f"otkit {backend} {method}", run, av,
                               refs=(f"pot-{short}",), warmup=wu, meta={"backend": backend, "method": method})
    run, av, wu = _otkit_emd()
    reg["otkit-emd"] = Solver("otkit-emd", "exact", "otkit emd2", run, av, refs=("pot-emd", "fastemd"),
                              warmup=wu, growth=2.5)
    for method in ("sinkhorn", "sinkhorn_log"):
        run, av, wu = _pot_sinkhorn(method)
        reg[f"pot-{method}"] = Solver(f"pot-{method}", "sinkhorn", f"POT sinkhorn2 {method}", run, av,
                                      meta={"method": method})
    run, av, wu = _pot_emd()
    reg["pot-emd"] = Solver("pot-emd", "exact", "POT emd2", run, av, refs=("fastemd",), growth=2.5)
    run, av, wu = _fastemd()
    reg["fastemd"] = Solver("fastemd", "exact", "FastEMD (pyemd)", run, av, growth=3.0)
    return reg


SOLVERS = build_registry()
SOLVER_NAMES = tuple(SOLVERS)


def agreement_reference(name: str, registry: dict) -> list[str]:
    """Names whose value ``name`` is checked against, best first.

    Sinkhorn: POT's value with the same method, else POT's other method; exact: POT emd2, else FastEMD.
    """
    s = registry[name]
    if s.family == "sinkhorn":
        if name == "pot-sinkhorn":
            return []
        if name == "pot-sinkhorn_log":
            return ["pot-sinkhorn"]
        m = s.meta.get("method", "sinkhorn")
        return [f"pot-{m}", "pot-sinkhorn", "pot-sinkhorn_log"]
    if name == "pot-emd":
        return ["fastemd"]
    if name == "fastemd":
        return []
    return ["pot-emd", "fastemd"]
