"""The compiled modules at import: the x86-64 level chosen, the same answers on every level, and an
honest message when the C++ extension is missing (otkit/_build.py)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import otkit
from otkit import _backend

from conftest import CHILD_CWD, child_env, require_backend

PKG = os.path.dirname(otkit.__file__)

PROBE = """
import json, numpy as np, otkit
from otkit import _backend
rng = np.random.default_rng(0)
x = rng.random((300, 2)); M = otkit.dist(x, x, "euclidean"); M /= np.median(M)
a, b = rng.dirichlet(np.ones(300)), rng.dirichlet(np.ones(300))
out = {"module": _backend._ext.__name__,
       "sinkhorn": float(otkit.sinkhorn2(a, b, M, 0.1, stopThr=1e-9)),
       "log": float(otkit.sinkhorn2(a, b, M, 0.01, method="sinkhorn_log", stopThr=1e-9)),
       "emd": float(otkit.emd2(a, b, M)),
       "bary": otkit.barycenter(np.stack([a, b], 1), M, 0.1).tolist()}
print(json.dumps(out))
"""


def run_probe(env_extra):
    out = subprocess.run([sys.executable, "-c", PROBE], env=child_env(**env_extra), capture_output=True, text=True,
                         timeout=300, cwd=CHILD_CWD)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_level_gives_the_same_answers():
    require_backend("cpp")
    levels = list(_backend.ext().cpu_levels())
    ref = run_probe({})
    built = [lvl for lvl in levels if lvl == "baseline" or
             os.path.exists(os.path.join(PKG, "_build_info.json")) and
             (otkit._build.build_info() or {}).get("extensions", {}).get("otkit._ext_" + lvl.replace("-", "_"), {}).get("built")]
    assert "baseline" in built
    for lvl in built:
        got = run_probe({"OTKIT_CPU_TARGET": lvl})
        name = "otkit._ext" if lvl == "baseline" else "otkit._ext_" + lvl.replace("-", "_")
        assert got["module"] == name
        # FMA contraction and vector widths differ between levels: equal to rounding
        for key in ("sinkhorn", "log", "emd"):
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, err_msg=f"{key} on {lvl}")
        np.testing.assert_allclose(got["bary"], ref["bary"], rtol=1e-10, atol=1e-15)


def test_unknown_cpu_target_is_an_error():
    require_backend("cpp")
    out = subprocess.run([sys.executable, "-c", "import otkit"], env=child_env(OTKIT_CPU_TARGET="avx9000"),
                         capture_output=True, text=True, timeout=120, cwd=CHILD_CWD)
    assert out.returncode != 0 and "OTKIT_CPU_TARGET" in out.stderr


def _copy_without_extensions(dest):
    """The Python files of otkit, without any compiled module."""
    shutil.copytree(PKG, os.path.join(dest, "otkit"),
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "_build_info.json"))


def _import_and_show(root, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("OTKIT_REQUIRE_EXT", "PYTHONPATH")}
    env["PYTHONPATH"] = root
    code = "import otkit; otkit.show_config()"
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_failed_build_is_reported_at_import(tmp_path):
    _copy_without_extensions(tmp_path)
    error = "CompileError: command 'g++' failed: No such file or directory"
    with open(tmp_path / "otkit" / "_build_info.json", "w") as f:
        json.dump({"extensions": {"otkit._ext": {"built": False, "error": error}}}, f)
    out = _import_and_show(str(tmp_path), str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "OtkitBuildWarning" in out.stderr and error in out.stderr
    assert "Numba" in out.stderr and "C++17 compiler" in out.stderr
    assert "NOT loaded" in out.stdout and error in out.stdout
    assert "circular import" not in out.stdout + out.stderr


def test_source_tree_without_build_says_so(tmp_path):
    _copy_without_extensions(tmp_path)
    (tmp_path / "setup.py").write_text("# source checkout\n")
    (tmp_path / "csrc").mkdir()
    out = _import_and_show(str(tmp_path), str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "source tree" in out.stderr and "build_ext --inplace" in out.stderr
    assert "circular import" not in out.stdout + out.stderr


def test_build_info_of_this_install():
    """show_config names the module loaded and its target."""
    require_backend("cpp")
    cfg = otkit.show_config(as_dict=True)
    assert cfg["cpp"]["module"] == _backend.ext().__name__
    assert cfg["cpp"]["target"] in ("baseline", "native", "x86-64-v3", "x86-64-v4")
