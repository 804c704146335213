"""``otkit.show_config()``: which kernels loaded and how they were built."""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess

from . import _backend, _build


def _cuda_info():
    info = {"extension": _backend._cuda is not None, "nvcc": None, "device": None, "devices": 0}
    if _backend._cuda is not None:
        info.update(getattr(_backend._cuda, "build_info", {}))
        info["devices"] = _backend.cuda_device_count()
        if info["devices"]:
            info["device"] = _backend._cuda.device_description(0)
            info["driver_version"] = int(_backend._cuda.driver_version())
    else:
        info["reason"] = _backend._cuda_error
    nvcc = shutil.which("nvcc")
    if nvcc:
        try:
            out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=10).stdout
            info["nvcc"] = out.strip().splitlines()[-1] if out else nvcc
        except Exception:  # noqa: BLE001
            info["nvcc"] = nvcc
    return info


def config() -> dict:
    """Build and runtime configuration as a dict."""
    import numpy

    cfg: dict = {
        "otkit": __import__("otkit").__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
    }
    if _backend._ext is not None:
        bi = dict(_backend._ext.build_info)
        cfg["cpp"] = {
            "loaded": True,
            "module": _backend._ext.__name__,
            "target": _backend._ext_target,
            "cpu_levels": list(_backend._ext.cpu_levels()) if hasattr(_backend._ext, "cpu_levels") else None,
            "compiler": bi.get("compiler"),
            "openmp": bool(bi.get("openmp")),
            "openmp_threads": int(_backend._ext.max_threads()),
            "openmp_wait": _build.openmp_setting,
            "flags": bi.get("flags"),
        }
    else:
        cfg["cpp"] = {"loaded": False, "reason": _backend._ext_error}
    cfg["build"] = _build.build_info()
    cfg["cuda"] = _cuda_info()
    if importlib.util.find_spec("numba") is not None:
        import numba

        cfg["numba"] = {"version": numba.__version__, "threads": numba.config.NUMBA_NUM_THREADS}
    else:
        cfg["numba"] = None
    cfg["backends"] = _backend.available_backends()
    try:
        cfg["default_backend"] = _backend.default_backend()
    except Exception as exc:  # noqa: BLE001
        cfg["default_backend"] = f"none ({exc})"
    cfg["OTKIT_BACKEND"] = os.environ.get("OTKIT_BACKEND")
    return cfg


def format_config(cfg: dict) -> str:
    lines = [f"otkit {cfg['otkit']} (python {cfg['python']}, numpy {cfg['numpy']}, {cfg['platform']})"]
    c = cfg["cpp"]
    if c["loaded"]:
        lines.append(
            f"  cpp    : loaded {c['module']} (target {c['target']}; this CPU runs {', '.join(c['cpu_levels'] or ['?'])})"
            f"  compiler={c['compiler']}  openmp={'yes' if c['openmp'] else 'no'} threads={c['openmp_threads']}"
            f"  flags='{c['flags']}'"
        )
        lines.append(f"           idle OpenMP threads: {c['openmp_wait']}")
    else:
        lines.append(f"  cpp    : NOT loaded ({c.get('reason')})")
    for name, rec in sorted(((cfg.get("build") or {}).get("extensions") or {}).items()):
        if not rec.get("built", True) and not (name == "otkit._ext" and not c["loaded"]):
            lines.append(f"  build  : {name} failed: {rec.get('error')}")
    cu = cfg["cuda"]
    lines.append(
        "  cuda   : "
        + ("loaded" if cu["extension"] else "not built")
        + f"  nvcc={cu['nvcc'] or 'none'}"
        + (f"  device={cu['device']}" if cu.get("device") else ("  no CUDA device" if cu["extension"] else ""))
    )
    nb = cfg["numba"]
    lines.append("  numba  : " + (f"{nb['version']} (threads={nb['threads']})" if nb else "not installed"))
    avail = list(cfg["backends"]) + (["cuda (by name)"] if cu.get("devices") else [])
    lines.append(f"  backends available: {', '.join(avail) or 'none'};  default: {cfg['default_backend']}"
                 + (f"  (OTKIT_BACKEND={cfg['OTKIT_BACKEND']})" if cfg["OTKIT_BACKEND"] else ""))
    return "\n".join(lines)


def show_config(as_dict: bool = False):
    """Print which extensions loaded (C++: compiler, OpenMP threads; CUDA), the Numba version and the
    default backend. With ``as_dict=True`` return the information as a dict instead."""
    cfg = config()
    if as_dict:
        return cfg
    print(format_config(cfg))
    return None
