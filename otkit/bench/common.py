"""Shared pieces of ``otkit bench``: machine info, timing, thread limits, cached metrics, output files."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .._cli_common import check_out_dir  # noqa: F401 - shared with otkit gan; kept importable here
from . import problems

METRICS = ("graph", "euclidean")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(mod: str):
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def machine_info(threads: int | None = None) -> dict:
    """nproc, CPU model, load average, library versions and otkit's build configuration."""
    import otkit

    info = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "threads_used": threads,
        "versions": {
            "otkit": otkit.__version__,
            "numpy": np.__version__,
            "scipy": _version("scipy"),
            "numba": _version("numba"),
            "POT": _version("POT"),
            "pyemd": _version("pyemd"),
            "matplotlib": _version("matplotlib"),
            "scikit-learn": _version("scikit-learn"),
        },
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        info["otkit_config"] = otkit.show_config(as_dict=True)
    except Exception as exc:  # pragma: no cover
        info["otkit_config"] = f"unavailable: {exc}"
    return info


@contextlib.contextmanager
def limit_threads(threads: int):
    """Limit BLAS/OpenMP pools (NumPy, POT) and Numba to ``threads`` (0: leave the defaults)."""
    if not threads:
        yield
        return
    stack = contextlib.ExitStack()
    try:
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(threads))
    except ImportError:  # pragma: no cover
        pass
    old = None
    try:
        import numba

        old = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # pragma: no cover
        old = None
    try:
        with stack:
            yield
    finally:
        if old is not None:
            import numba

            numba.set_num_threads(old)


# OpenBLAS worker threads busy-wait for a while after each call (about 2^28 cycles, ~0.1 s) and take the
# cores from whatever runs next. Measured on the 2-core VM: otkit.barycenter (d = 1024, N = 10) took 79-178 ms
# right after a NumPy 1024^3 product, and 37-40 ms after a 0.25 s pause. The pause is a busy wait, not a
# sleep: after time.sleep(0.25) the next short call was slower instead (Sinkhorn at d = 128, 0.7 ms: 2-13 ms),
# as idle cores take time to come back.
SETTLE_S = float(os.environ.get("OTKIT_BENCH_SETTLE", "0.25"))


def settle_seconds(threads=0, seconds=None) -> float:
    """The pause of :func:`settle`: none with one thread (nothing spins), else `seconds` (default SETTLE_S)."""
    return 0.0 if threads == 1 else max(0.0, SETTLE_S if seconds is None else seconds)


def settle(threads=0, seconds=None):
    """Pause before a solver is timed so that the threads of the previous library (OpenBLAS, OpenMP, Numba)
    have stopped spinning: every solver starts on idle cores. Nothing to wait for with one thread.
    ``OTKIT_BENCH_SETTLE`` (seconds) changes the pause; 0 turns it off."""
    seconds = settle_seconds(threads, seconds)
    if seconds <= 0:
        return
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:  # busy: keeps this core awake (see above)
        pass


def more_runs(times, repeat, short_total, short_max) -> bool:
    """Whether to time another call: until `repeat` calls, then on while they add up to less than `short_total`
    seconds, up to `short_max` calls (a millisecond call is cheap to repeat, and one run of it can be hit by a
    stall of a shared machine: a 1-2 ms Sinkhorn once took 18 ms in a one-repeat sweep)."""
    return len(times) < repeat or (sum(times) < short_total and len(times) < short_max)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def peak_gflops(n: int = 2048, seconds: float = 1.5) -> float:
    """The machine's float64 matrix-product rate: NumPy's (OpenBLAS) n x n x n product with the current
    threads, the best of repeated runs over about `seconds` (on a shared or virtual machine the best run is
    the one least disturbed). No float64 kernel does multiply-adds faster than this, so it bounds the time
    of flop-bound solvers (batched Sinkhorn, fixed-support barycenters) from below."""
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n)), rng.random((n, n))
    A @ B
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        best = min(best, timed(np.dot, A, B)[0])
    return 2.0 * n ** 3 / best / 1e9


def default_cache_dir() -> Path:
    base = os.environ.get("OTKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "otkit")
    return Path(base)


def get_metric(kind: str, d: int, seed: int = 0, cache_dir: Path | None = None) -> np.ndarray:
    """The ground metric of the protocol; the graph metric is cached on disk (``.npy``, keyed by d and seed)."""
    if kind == "euclidean":
        return problems.euclidean_metric(d, seed)
    if kind != "graph":
        raise ValueError(f"unknown metric {kind!r}; choose one of {METRICS}")
    if cache_dir is not None:
        path = Path(cache_dir) / f"graph_metric_d{d}_seed{seed}.npy"
        if path.exists():
            try:
                M = np.load(path)
                if M.shape == (d, d):
                    return M
            except Exception:
                pass
        M = problems.graph_metric(d, seed)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, M)
            os.replace(tmp, path)
        except OSError:
            pass  # caching is best effort
        return M
    return problems.graph_metric(d, seed)


def _jsonable(x):
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def fastemd(a, b, M) -> float:
    """FastEMD (Pele & Werman's C++ min-cost flow, pyemd) on float64 inputs.

    pyemd 1.1 made POT its default backend (``pyemd.emd(..., backend="pot")`` calls POT's
    ``partial_wasserstein``), so a plain ``pyemd.emd(a, b, M)`` no longer measures FastEMD: ask for
    ``backend="cpp"``; older pyemd (< 1.1) has no ``backend`` argument and only the C++ solver.
    """
    import pyemd

    a, b, M = (np.ascontiguousarray(x, dtype=np.float64) for x in (a, b, M))
    try:
        return float(pyemd.emd(a, b, M, backend="cpp"))
    except TypeError as exc:
        if "backend" not in str(exc):
            raise
        return float(pyemd.emd(a, b, M))


def write_json(path: Path, obj) -> None:
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=_jsonable)


def emit_report(text: str, obj, out: str | None) -> None:
    """Print a Markdown report; with ``out``, also write it to OUT.md and the data to OUT.json."""
    print(text)
    if out:
        Path(out + ".md").write_text(text)
        write_json(Path(out + ".json"), obj)


def write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def fmt_time(t) -> str:
    if t is None or not np.isfinite(t):
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def machine_line(info: dict) -> str:
    la = info.get("load_average")
    la_s = f", load average {la[0]:.1f}" if la else ""
    v = info["versions"]
    return (f"{info['cpu_model']}, nproc={info['nproc']}{la_s}; threads used: {info.get('threads_used') or 'library defaults'}; "
            f"otkit {v['otkit']}, NumPy {v['numpy']}, POT {v['POT']}, pyemd {v['pyemd']}, Numba {v['numba']}")


def progress(total: int, desc: str, enable: bool = True):
    """A tqdm bar (stderr), or a no-op object when tqdm is missing or disabled."""
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, disable=not enable, leave=False, file=sys.stderr)
    except ImportError:  # pragma: no cover
        class _Null:
            def update(self, *a):
                pass

            def set_postfix_str(self, *a, **k):
                pass

            def close(self):
                pass

        return _Null()
