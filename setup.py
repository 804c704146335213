"""Build the compiled kernels of otkit.

Metadata lives in pyproject.toml; this file only declares the extensions:

* ``otkit._ext``  -- C++17 kernels (csrc/cpu/*.cpp + csrc/bind_ext.cpp), OpenMP when the
  compiler supports it.
* ``otkit._cuda`` -- CUDA kernels (csrc/cuda/*.cu compiled by nvcc + csrc/bind_cuda.cpp),
  built only when ``nvcc`` is found, ``OTKIT_NO_CUDA`` is unset and csrc/cuda has sources.

Environment variables:

* ``OTKIT_REQUIRE_EXT=1``  a failed build is an error (CI sets it). Without it a failed build
  prints a warning and otkit runs on its Numba kernels.
* ``OTKIT_NO_CUDA=1``      skip the CUDA extension.
* ``OTKIT_NO_NATIVE=1``    do not pass ``-march=native`` (portable binaries).
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import setup
from setuptools.command.build_ext import build_ext

try:
    from pybind11.setup_helpers import Pybind11Extension
except ImportError:  # pragma: no cover - pybind11 is a build requirement
    Pybind11Extension = None

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


class BuildExt(build_ext):
    """Build _ext (and _cuda), soft-failing for users unless OTKIT_REQUIRE_EXT=1."""

    def build_extensions(self):
        cc = self.compiler
        # -fno-trapping-math: otkit never reads floating-point exception flags; without it GCC will not
        # if-convert a comparison or product that sits under a condition, and loops such as fast_log's stay
        # scalar (1.4 ns against 5.6 ns per value here). Rounding and results are unchanged.
        base = ["-O3", "-std=c++17", "-fvisibility=hidden"]
        if _compiler_accepts(cc, ["-fno-trapping-math"]):
            base.append("-fno-trapping-math")
        openmp = _compiler_accepts(cc, ["-fopenmp"], "#include <omp.h>\nint main(){return omp_get_max_threads()>0?0:1;}\n", ["-fopenmp"])
        native = (not _flag("OTKIT_NO_NATIVE")) and _compiler_accepts(cc, ["-march=native"])
        for ext in self.extensions:
            flags = list(base)
            link = []
            if openmp:
                flags.append("-fopenmp")
                link.append("-fopenmp")
            if native:
                flags.append("-march=native")
            if ext.name == "otkit._cuda":
                continue
            ext.extra_compile_args = flags + list(ext.extra_compile_args or [])
            ext.extra_link_args = link + list(ext.extra_link_args or [])
            ext.define_macros = list(ext.define_macros or []) + [
                ("OTKIT_BUILD_FLAGS", '"%s"' % " ".join(flags)),
            ]
        super().build_extensions()

    def copy_extensions_to_source(self):  # --inplace: skip the extensions that failed to build
        failed = getattr(self, "_failed", set())
        keep = self.extensions
        self.extensions = [e for e in keep if e.name not in failed]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = keep

    def build_extension(self, ext):
        try:
            if ext.name == "otkit._cuda":
                self._build_cuda(ext)
            else:
                super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - report any build failure
            if REQUIRE:
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
    exts = [
        Pybind11Extension(
            "otkit._ext",
            ["csrc/bind_ext.cpp"] + _rel(glob.glob(os.path.join(HERE, "csrc", "cpu", "*.cpp")))
            + _rel(glob.glob(os.path.join(HERE, "csrc", "bind", "*.cpp"))),
            include_dirs=inc,
            cxx_std=17,
        )
    ]
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


setup(ext_modules=make_extensions(), cmdclass={"build_ext": BuildExt})
