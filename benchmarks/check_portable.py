"""Does the build run on older x86-64 CPUs? Emulate them with qemu-user and compare the answers.

    python benchmarks/check_portable.py            # the otkit importable here (e.g. an in-place build)
    python benchmarks/check_portable.py --wheel    # build a wheel with `pip wheel .`, install it aside, check it

For each CPU model (this machine, Haswell = x86-64-v3 without AVX-512, Westmere = SSE4.2 without AVX)
it runs a small probe (Sinkhorn kernel form and log-domain, exact EMD, a barycenter) in a fresh
interpreter, under ``qemu-x86_64 -cpu MODEL`` for the emulated ones, and prints which compiled module
was loaded and the largest relative difference to this machine's answers. Exits 1 on a crash (e.g.
"Illegal instruction") or a difference above 1e-12, 2 when qemu-x86_64 is missing.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

VALUES = ("sinkhorn", "log", "emd", "bary")
CPUS = (("Haswell-v4", "otkit._ext_x86_64_v3"), ("Westmere", "otkit._ext"))

PROBE = """
import json, numpy as np, otkit
from otkit import _backend
rng = np.random.default_rng(0)
x = rng.random((60, 2)); M = otkit.dist(x, x, "euclidean"); M /= np.median(M)
a, b = rng.dirichlet(np.ones(60)), rng.dirichlet(np.ones(60))
print(json.dumps({"module": _backend._ext.__name__,
                  "sinkhorn": float(otkit.sinkhorn2(a, b, M, 0.1, stopThr=1e-9)),
                  "log": float(otkit.sinkhorn2(a, b, M, 0.02, method="sinkhorn_log", stopThr=1e-9)),
                  "emd": float(otkit.emd2(a, b, M)),
                  "bary": otkit.barycenter(np.stack([a, b], 1), M, 0.1).tolist()}))
"""


def probe(python: str, qemu: tuple[str, str] | None, pythonpath: str) -> dict:
    """Run PROBE with `python` (under `qemu` = (qemu-x86_64 path, CPU model) if given)."""
    cmd = ([qemu[0], "-cpu", qemu[1]] if qemu else []) + [python, "-c", PROBE]
    env = dict(os.environ, PYTHONPATH=pythonpath, NUMBA_DISABLE_JIT="0", OMP_NUM_THREADS="1")
    env.pop("OTKIT_CPU_TARGET", None)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}: exit {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def max_rel_diff(x: dict, y: dict) -> float:
    import numpy as np

    worst = 0.0
    for k in VALUES:
        u, v = np.asarray(x[k], float), np.asarray(y[k], float)
        worst = max(worst, float(np.max(np.abs(u - v) / np.maximum(np.abs(v), 1e-300))))
    return worst


def build_wheel(root: str, dest: str) -> str:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pip", "wheel", root, "--no-deps", "-w", dest, "-q"], check=True)
    wheel = glob.glob(os.path.join(dest, "otkit-*.whl"))[0]
    target = os.path.join(dest, "site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", target, wheel, "-q"], check=True)
    print(f"built {os.path.basename(wheel)} in {time.perf_counter() - t0:.0f} s; installed in {target}")
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", action="store_true", help="build a wheel with `pip wheel .` and check that")
    args = ap.parse_args(argv)
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        print("qemu-x86_64 not found (Debian: apt-get install qemu-user)", file=sys.stderr)
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        path = build_wheel(root, tmp) if args.wheel else root
        here = probe(sys.executable, None, path)
        print(f"{'CPU':<12} {'module loaded':<24} {'max rel. diff':>14}  time")
        print(f"{'this one':<12} {here['module']:<24} {0.0:>14.1e}")
        bad = 0
        for cpu, expected in CPUS:
            t0 = time.perf_counter()
            try:
                got = probe(sys.executable, (qemu, cpu), path)
            except RuntimeError as exc:
                print(f"{cpu:<12} CRASHED: {exc}")
                bad += 1
                continue
            diff = max_rel_diff(got, here)
            ok = got["module"] == expected and diff <= 1e-12
            bad += not ok
            print(f"{cpu:<12} {got['module']:<24} {diff:>14.1e}  {time.perf_counter() - t0:.0f} s"
                  + ("" if ok else f"  FAIL (expected {expected}, <= 1e-12)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
