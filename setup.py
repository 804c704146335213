"""Build the compiled kernels of otkit.

Metadata lives in pyproject.toml; this file only declares the extensions:

* ``otkit._ext``  -- C++17 kernels (csrc/cpu/*.cpp + csrc/bind_ext.cpp), OpenMP when the
  compiler supports it, for the baseline of the architecture (any x86-64 CPU; aarch64, ...).
* ``otkit._ext_x86_64_v3``, ``otkit._ext_x86_64_v4`` -- on x86-64, the same sources built for the
  micro-architecture levels x86-64-v3 (AVX2, FMA) and x86-64-v4 (AVX-512). At import otkit asks the
  baseline module which levels the CPU has and loads the best module (otkit/_backend.py), so one
  wheel runs on every x86-64 CPU at the speed of its instruction set.
* ``otkit._cuda`` -- CUDA kernels (csrc/cuda/*.cu compiled by nvcc + csrc/bind_cuda.cpp),
  built only when ``nvcc`` is found, ``OTKIT_NO_CUDA`` is unset and csrc/cuda has sources.

Environment variables:

* ``OTKIT_REQUIRE_EXT=1``  a failed build is an error (CI sets it). Without it a failed build
  prints a warning and otkit runs on its Numba kernels.
* ``OTKIT_NO_CUDA=1``      skip the CUDA extension.
* ``OTKIT_NATIVE=1``       build one module for this machine's CPU (``-march=native``) instead of the
  portable set (faster to build; the binary may crash with "Illegal instruction" on other CPUs).
  ``OTKIT_NO_NATIVE`` is accepted and ignored: portable is the default.
* ``OTKIT_BUILD_JOBS=N``   compile N files at once (default: the CPU count).

The configuration of a build (flags, compilers, these variables) is stamped in the build folder; a
stale ``build/`` from another configuration is rebuilt, never reused. What was built, or why it
failed, is written to ``otkit/_build_info.json``, which otkit reads at import (warning on a failure)
and ``otkit.show_config()`` prints.
"""
import json
import glob
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import setup
from setuptools.command.build_ext import build_ext

try:
    from pybind11.setup_helpers import ParallelCompile, Pybind11Extension
except ImportError:  # pragma: no cover - pybind11 is a build requirement
    Pybind11Extension = ParallelCompile = None

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRE = os.environ.get("OTKIT_REQUIRE_EXT", "0") not in ("", "0")


def _flag(name):
    return os.environ.get(name, "0") not in ("", "0")


def _rel(paths):
    return sorted(os.path.relpath(p, HERE) for p in paths)


def _compiler_accepts(compiler, flags, code="int main(){return 0;}\n", link_flags=()):
    """Return True when ``compiler`` compiles and links ``code`` with ``flags``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.cpp")
        with open(src, "w") as f:
            f.write(code)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=list(flags))
            compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=list(link_flags))
        except Exception:
            return False
    return True


def _find_nvcc():
    if _flag("OTKIT_NO_CUDA"):
        return None
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if cuda_home and os.path.exists(os.path.join(cuda_home, "bin", "nvcc")):
        return os.path.join(cuda_home, "bin", "nvcc")
    return shutil.which("nvcc")


def _cuda_home(nvcc):
    """The CUDA toolkit folder (holding include/cuda_runtime.h); nvcc may be a wrapper script."""
    cands = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
             os.path.dirname(os.path.dirname(os.path.realpath(nvcc))), "/usr/local/cuda", "/opt/cuda"]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "include", "cuda_runtime.h")):
            return c
    raise RuntimeError(f"cannot find the CUDA toolkit of {nvcc} (set CUDA_HOME)")


# Machine code for Turing (sm_75), Ampere (sm_80, sm_86), Ada (sm_89) and Hopper (sm_90), and PTX of
# sm_90 that the driver compiles for newer GPUs. OTKIT_CUDA_ARCH=sm_90 (say) builds for one GPU only.
_CUDA_ARCHS = ("75", "80", "86", "89", "90")


def _cuda_arch_flags(nvcc):
    arch = os.environ.get("OTKIT_CUDA_ARCH", "").strip()
    if arch:
        return [f"-arch={arch}"]
    try:
        listed = subprocess.run([nvcc, "--list-gpu-code"], capture_output=True, text=True, timeout=30).stdout.split()
    except Exception:  # noqa: BLE001 - old nvcc without --list-gpu-code
        listed = []
    archs = [a for a in _CUDA_ARCHS if not listed or f"sm_{a}" in listed]
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    if archs:
        flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
    return flags


# x86-64 micro-architecture levels built besides the baseline (module suffix, -march value).
_X86_TARGETS = (("x86_64_v3", "x86-64-v3"), ("x86_64_v4", "x86-64-v4"))
_ENV_KEYS = ("CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "OTKIT_NATIVE", "OTKIT_NO_NATIVE",
             "OTKIT_NO_CUDA", "OTKIT_CUDA_ARCH", "CUDA_HOME", "CUDA_PATH", "OTKIT_SANITIZE")


def _is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64")


class BuildExt(build_ext):
    """Build _ext (its x86-64 levels) and _cuda, soft-failing for users unless OTKIT_REQUIRE_EXT=1."""

    def _stamp(self, flags):
        """Rebuild everything when this build's configuration differs from the one in build_temp."""
        cfg = {"flags": flags, "env": {k: os.environ.get(k) for k in _ENV_KEYS},
               "compiler": list(getattr(self.compiler, "compiler_so", []) or []),
               "python": sys.version, "nvcc": _find_nvcc()}
        path = os.path.join(self.build_temp, "otkit-build-config.json")
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if old != cfg:
            if old is not None:
                sys.stderr.write("otkit: the build configuration changed since the last successful build in "
                                 f"{self.build_temp}; rebuilding everything\n")
            self.force = True
        # the stamp is written after a build without failures only (_write_stamp): a failed build leaves
        # none, so the next build starts from scratch instead of trusting what the failed one left
        self._stamp_path, self._stamp_cfg = path, cfg
        if os.path.exists(path):
            os.remove(path)

    def _write_stamp(self):
        if getattr(self, "_failed", None) or not getattr(self, "_stamp_path", None):
            return
        os.makedirs(os.path.dirname(self._stamp_path), exist_ok=True)
        with open(self._stamp_path, "w") as f:
            json.dump(self._stamp_cfg, f)

    def _write_build_info(self):
        """otkit/_build_info.json: which modules built with which flags, or why they failed."""
        info = {"extensions": getattr(self, "_info", {})}
        dests = [os.path.join(self.build_lib, "otkit")]
        if self.inplace:
            dests.append(os.path.join(HERE, "otkit"))
        for d in dests:
            if os.path.isdir(d):
                with open(os.path.join(d, "_build_info.json"), "w") as f:
                    json.dump(info, f, indent=1)

    def run(self):
        super().run()
        self._write_build_info()

    def build_extensions(self):
        cc = self.compiler
        # -fno-trapping-math: otkit never reads floating-point exception flags; without it GCC will not
        # if-convert a comparison or product that sits under a condition, and loops such as fast_log's stay
        # scalar (1.4 ns against 5.6 ns per value here). Rounding and results are unchanged.
        base = ["-O3", "-std=c++17", "-fvisibility=hidden", "-Wno-psabi"]
        if _compiler_accepts(cc, ["-fno-trapping-math"]):
            base.append("-fno-trapping-math")
        openmp = _compiler_accepts(cc, ["-fopenmp"], "#include <omp.h>\nint main(){return omp_get_max_threads()>0?0:1;}\n", ["-fopenmp"])
        native = _flag("OTKIT_NATIVE")
        if native and not _compiler_accepts(cc, ["-march=native"]):
            raise RuntimeError("OTKIT_NATIVE=1: the compiler does not accept -march=native")
        if _flag("OTKIT_SANITIZE"):  # ASan + UBSan build (run with LD_PRELOAD of libasan, see docs/build.md)
            base = ["-O1", "-g", "-std=c++17", "-fno-omit-frame-pointer", "-fsanitize=address,undefined"]
        self._stamp({"base": base, "openmp": openmp, "native": native})
        self._info = {}
        for ext in list(self.extensions):  # a compiler too old for an x86-64 level: that module is skipped
            if getattr(ext, "_march", None) and not _compiler_accepts(cc, [f"-march={ext._march}"]):
                sys.stderr.write(f"otkit: the compiler does not accept -march={ext._march}; skipping {ext.name}\n")
                self._info[ext.name] = {"built": False, "error": f"compiler does not accept -march={ext._march}"}
                self.extensions.remove(ext)
        for ext in self.extensions:
            flags = list(base)
            link = []
            if openmp:
                flags.append("-fopenmp")
                link.append("-fopenmp")
            if native:
                flags.append("-march=native")
            if getattr(ext, "_march", None):
                flags.append(f"-march={ext._march}")
            if _flag("OTKIT_SANITIZE"):
                link.append("-fsanitize=address,undefined")
            if ext.name == "otkit._cuda":
                continue
            ext.extra_compile_args = flags + list(ext.extra_compile_args or [])
            ext.extra_link_args = link + list(ext.extra_link_args or [])
            ext.define_macros = list(ext.define_macros or []) + [
                ("OTKIT_BUILD_FLAGS", '"%s"' % " ".join(flags)),
                ("OTKIT_EXT_NAME", ext.name.split(".")[-1]),
                ("OTKIT_TARGET", '"%s"' % (getattr(ext, "_march", None) or ("native" if native else "baseline"))),
            ]
        super().build_extensions()
        self._write_stamp()

    def copy_extensions_to_source(self):  # --inplace: skip the extensions that failed to build
        failed = getattr(self, "_failed", set())
        keep = self.extensions
        self.extensions = [e for e in keep if e.name not in failed]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = keep

    def build_extension(self, ext):
        self._info = getattr(self, "_info", {})  # (set in build_extensions; kept for direct calls)
        # each module in its own temporary folder: the x86-64 levels compile the same sources with
        # other flags, and must not pick up each other's object files
        keep_temp = self.build_temp
        self.build_temp = os.path.join(keep_temp, ext.name.split(".")[-1])
        try:
            if ext.name == "otkit._cuda":
                self._build_cuda(ext)
            else:
                super().build_extension(ext)
            self._info[ext.name] = {"built": True, "flags": " ".join(ext.extra_compile_args or []),
                                    "target": getattr(ext, "_march", None) or "baseline"}
        except Exception as exc:  # noqa: BLE001 - report any build failure
            self._info[ext.name] = {"built": False, "error": f"{type(exc).__name__}: {exc}"[-2000:]}
            if REQUIRE:
                self._write_build_info()
                raise
            self._failed = getattr(self, "_failed", set()) | {ext.name}
            msg = (
                "\n" + "=" * 78 + "\n"
                f"WARNING: otkit could not build the compiled extension {ext.name}:\n  {exc}\n"
                "otkit will run on its Numba kernels (slower). Set OTKIT_REQUIRE_EXT=1 to make\n"
                "this an error, and check that a C++17 compiler and the Python headers are installed.\n"
                + "=" * 78 + "\n"
            )
            sys.stderr.write(msg)
        finally:
            self.build_temp = keep_temp

    # -- CUDA ---------------------------------------------------------------------------
    def _build_cuda(self, ext):
        nvcc = ext._nvcc
        build_tmp = os.path.join(self.build_temp, "cuda")
        os.makedirs(build_tmp, exist_ok=True)
        cuda_home = _cuda_home(nvcc)
        py_inc = sysconfig.get_paths()["include"]
        import pybind11

        incs = [os.path.join(HERE, "csrc"), py_inc, pybind11.get_include()]
        objs = []
        arch_flags = _cuda_arch_flags(nvcc)
        for cu in ext._cu_sources:
            obj = os.path.join(build_tmp, os.path.basename(cu) + ".o")
            cmd = [nvcc, "-c", cu, "-o", obj, "-O3", "-std=c++17", "-Xcompiler", "-fPIC",
                   "--expt-relaxed-constexpr"] + arch_flags + [f"-I{i}" for i in incs]
            self.announce(" ".join(cmd), level=2)
            subprocess.check_call(cmd)
            objs.append(obj)
        lib_dirs = [d for d in (os.path.join(cuda_home, "lib64"), os.path.join(cuda_home, "lib"),
                                os.path.join(cuda_home, "targets", "x86_64-linux", "lib")) if os.path.isdir(d)]
        ext.extra_objects = objs
        ext.library_dirs = lib_dirs
        ext.libraries = ["cudart"]
        ext.runtime_library_dirs = lib_dirs
        ext.extra_compile_args = ["-O3", "-std=c++17", "-fvisibility=hidden"]
        ext.define_macros = list(ext.define_macros or []) + [("OTKIT_CUDA_FLAGS", '"%s"' % " ".join(arch_flags))]
        ext.include_dirs = list(ext.include_dirs) + [os.path.join(cuda_home, "include")]
        super().build_extension(ext)


def make_extensions():
    if Pybind11Extension is None:
        if REQUIRE:
            raise RuntimeError("pybind11 is required to build otkit._ext")
        sys.stderr.write("WARNING: pybind11 not found; otkit will use its Numba kernels.\n")
        return []
    inc = [os.path.join("csrc")]
    sources = (["csrc/bind_ext.cpp"] + _rel(glob.glob(os.path.join(HERE, "csrc", "cpu", "*.cpp")))
               + _rel(glob.glob(os.path.join(HERE, "csrc", "bind", "*.cpp"))))
    # the headers too: a change in csrc/common/*.h alone must rebuild the modules
    headers = _rel(glob.glob(os.path.join(HERE, "csrc", "**", "*.h"), recursive=True))
    exts = [Pybind11Extension("otkit._ext", sources, include_dirs=inc, cxx_std=17, depends=headers)]
    if _is_x86_64() and not _flag("OTKIT_NATIVE"):
        for suffix, march in _X86_TARGETS:
            ext = Pybind11Extension(f"otkit._ext_{suffix}", sources, include_dirs=inc, cxx_std=17, depends=headers)
            ext._march = march
            exts.append(ext)
    cu = _rel(glob.glob(os.path.join(HERE, "csrc", "cuda", "*.cu")))
    nvcc = _find_nvcc()
    if cu and nvcc and os.path.exists(os.path.join(HERE, "csrc", "bind_cuda.cpp")):
        ext = Pybind11Extension("otkit._cuda", ["csrc/bind_cuda.cpp"], include_dirs=inc, cxx_std=17)
        ext._nvcc = nvcc
        ext._cu_sources = [os.path.join(HERE, c) for c in cu]
        exts.append(ext)
    elif cu and not nvcc:
        sys.stderr.write("otkit: nvcc not found (or OTKIT_NO_CUDA set); skipping otkit._cuda\n")
    return exts


if ParallelCompile is not None:  # the files of a module compile in parallel
    ParallelCompile("OTKIT_BUILD_JOBS", default=0).install()

setup(ext_modules=make_extensions(), cmdclass={"build_ext": BuildExt})
