"""What was built, what loaded, and why not: the compiled modules of otkit at import.

* ``load_cpu_extension()`` imports the fastest C++ module the CPU runs: the baseline ``otkit._ext``
  (any CPU of the architecture) says which x86-64 levels the CPU has, and ``otkit._ext_x86_64_v4``
  (AVX-512) or ``otkit._ext_x86_64_v3`` (AVX2, FMA) is loaded instead when it was built and the CPU
  has the level. ``OTKIT_CPU_TARGET=baseline | x86-64-v3 | x86-64-v4`` forces one.
* ``otkit/_build_info.json`` (written by setup.py) holds what the build made and, for a module that
  failed to build, the compiler's error, so that the reason reaches the user at import and in
  ``otkit.show_config()`` instead of only in ``pip install -v``'s log.
* ``configure_openmp()`` bounds how long OpenMP worker threads spin before they sleep (see
  docs/threads.md).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import warnings

LEVELS = ("baseline", "x86-64-v3", "x86-64-v4")

# GOMP_SPINCOUNT that otkit sets for the OpenMP runtime it loads, unless the user set the wait policy:
# libgomp's default (300,000 spins, about 0.1-0.3 ms, between every parallel region and the next)
# takes a core from whatever else runs; on a machine busier than its cores the spinning threads
# and the threads they wait for share the cores, and an iteration that waits at a barrier for a
# thread that is not scheduled costs a time slice (measured: Sinkhorn d = 512 under 8 competing
# processes on 2 cores, 2.7 s median per call instead of 0.06 s on one thread).
SPINCOUNT = "10000"
openmp_setting = "not set"  # what configure_openmp did, for show_config


class OtkitBuildWarning(UserWarning):
    """otkit runs without (part of) its compiled kernels; the message says why and how to fix it."""


def _package_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def build_info() -> dict | None:
    """The contents of otkit/_build_info.json (None when otkit was not built by setup.py)."""
    try:
        with open(os.path.join(_package_dir(), "_build_info.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def in_source_tree() -> bool:
    """True when otkit is imported from a source checkout (the folder above holds setup.py and csrc/)."""
    root = os.path.dirname(_package_dir())
    return os.path.exists(os.path.join(root, "setup.py")) and os.path.isdir(os.path.join(root, "csrc"))


def _not_built_reason(name: str) -> str:
    info = (build_info() or {}).get("extensions", {}).get(name)
    if info and not info.get("built", True):
        return f"{name} failed to build at install time: {info.get('error')}"
    if in_source_tree():
        return (f"{name} is not built in the source tree {os.path.dirname(_package_dir())} that Python imports "
                "otkit from (run `pip install .` and start Python from another folder, or build in place with "
                "`python setup.py build_ext --inplace`)")
    return f"{name} is not built"


def load_module(name: str):
    """Import the compiled module ``name``: (module, None), or (None, the reason it is missing)."""
    try:
        if importlib.util.find_spec(name) is None:
            return None, _not_built_reason(name)
        return importlib.import_module(name), None
    except Exception as exc:  # noqa: BLE001 - a module that exists but does not load (ABI, symbols)
        return None, f"{name} did not load: {type(exc).__name__}: {exc}"


def load_cpu_extension():
    """(module, error, target): the fastest C++ module this CPU runs, or (None, reason, None)."""
    base, err = load_module("otkit._ext")
    if base is None:
        return None, err, None
    levels = list(base.cpu_levels()) if hasattr(base, "cpu_levels") else ["baseline"]
    forced = os.environ.get("OTKIT_CPU_TARGET", "").strip().lower()
    if forced:
        if forced not in LEVELS:
            raise ValueError(f"OTKIT_CPU_TARGET={forced!r}: choose one of {LEVELS}")
        if forced not in levels:
            raise RuntimeError(f"OTKIT_CPU_TARGET={forced!r}: this CPU runs only {levels}")
        wanted = [forced]
    else:
        wanted = [lvl for lvl in reversed(LEVELS) if lvl in levels]
    for lvl in wanted:
        if lvl == "baseline":
            break
        mod, why = load_module("otkit._ext_" + lvl.replace("-", "_"))
        if mod is not None:
            return mod, None, lvl
        if forced:
            raise RuntimeError(f"OTKIT_CPU_TARGET={forced!r}: {why}")
    return base, None, base.build_info.get("target", "baseline")


def warn_fallback(reason: str | None) -> None:
    """One warning per process when the C++ kernels are missing: the reason and the fix."""
    warnings.warn(
        f"otkit is running on its Numba kernels (slower; the first call of each family compiles for a "
        f"minute or more) because the C++ extension is missing: {reason}. Reinstall with a C++17 compiler and "
        "the Python headers (`pip install -v .` shows the build; OTKIT_REQUIRE_EXT=1 makes a failed build an "
        "error). Silence with warnings.filterwarnings('ignore', category=otkit.OtkitBuildWarning).",
        OtkitBuildWarning,
        stacklevel=3,
    )


def _libgomp_loaded() -> bool:
    try:
        with open("/proc/self/maps") as f:
            return any("/libgomp.so" in line for line in f)
    except OSError:
        return False


def configure_openmp() -> None:
    """Bound the spinning of idle OpenMP threads (GOMP_SPINCOUNT), unless the user chose a wait policy.

    Only possible before the process loads GNU OpenMP (it reads its environment once); where another
    package loaded it first, or the user set OMP_WAIT_POLICY / GOMP_SPINCOUNT, nothing is changed.
    """
    global openmp_setting
    if os.environ.get("OMP_WAIT_POLICY") or os.environ.get("GOMP_SPINCOUNT"):
        openmp_setting = "user's (" + ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
                                                if os.environ.get(k)) + ")"
        return
    if _libgomp_loaded():
        openmp_setting = "libgomp was loaded before otkit: its default spinning applies"
        return
    os.environ["GOMP_SPINCOUNT"] = SPINCOUNT
    openmp_setting = f"GOMP_SPINCOUNT={SPINCOUNT} (set by otkit)"
