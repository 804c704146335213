// PYBIND11_MODULE(_ext): the C++ kernels of otkit. Each kernel family registers its functions
// from csrc/bind/<family>_bind.cpp; this file adds the build information.
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>

#include "bind/common_bind.h"
#include "common/omp_compat.h"
#include "common/threads.h"
#include "cpu/sinkhorn_cpu.h"

namespace {

// (min, max) of a C-contiguous float array in one parallel pass (NumPy's x.min(), x.max() take two
// single-threaded passes: 10 ms against 3.2 ms for 4096 x 4096 float64 here). Lane arrays of 32 make
// the min/max vectorize (a scalar reduction is one dependent chain); x - x, summed, is NaN exactly
// when x has a NaN or an infinity, and then (nan, nan) is returned so that the validator reports it.
template <typename T>
py::tuple value_range(const py::array& x_) {
    auto x = py::array_t<T, py::array::c_style>::ensure(x_);
    if (!x) throw py::type_error("value_range: expected a C-contiguous float array");
    const T* p = x.data();
    const int64_t n = x.size();
    if (n == 0) throw py::value_error("value_range: empty array");
    constexpr int L = 32;
    T lo = std::numeric_limits<T>::infinity(), hi = -lo, chk = 0;
    {
        py::gil_scoped_release release;
        const int nt = otkit::once_threads(double(n) * otkit::kNsPerKernelEntry, 0);
#pragma omp parallel num_threads(nt) reduction(min : lo) reduction(max : hi) reduction(+ : chk)
        {
            T l[L], h[L], c[L];
            for (int k = 0; k < L; ++k) l[k] = lo, h[k] = hi, c[k] = 0;
#pragma omp for schedule(static) nowait
            for (int64_t blk = 0; blk < n / L; ++blk) {
                const T* q = p + blk * L;
#pragma omp simd
                for (int k = 0; k < L; ++k) {
                    l[k] = q[k] < l[k] ? q[k] : l[k];
                    h[k] = q[k] > h[k] ? q[k] : h[k];
                    c[k] += q[k] - q[k];
                }
            }
            for (int k = 0; k < L; ++k) lo = std::min(lo, l[k]), hi = std::max(hi, h[k]), chk += c[k];
        }
        for (int64_t i = n / L * L; i < n; ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]), chk += p[i] - p[i];
    }
    if (chk != chk) lo = hi = std::numeric_limits<T>::quiet_NaN();
    return py::make_tuple(static_cast<double>(lo), static_cast<double>(hi));
}

}  // namespace

#ifndef OTKIT_BUILD_FLAGS
#define OTKIT_BUILD_FLAGS ""
#endif

// The module name: _ext (portable baseline or -march=native), or _ext_<target> for the builds of the
// same sources for one x86-64 level (setup.py), imported instead of _ext where the CPU has it.
#ifndef OTKIT_EXT_NAME
#define OTKIT_EXT_NAME _ext
#endif
#ifndef OTKIT_TARGET
#define OTKIT_TARGET "baseline"
#endif

PYBIND11_MODULE(OTKIT_EXT_NAME, m) {
    using namespace pybind11::literals;
    m.doc() = "otkit C++ kernels";
    otkit::install_interrupt_hook();  // Ctrl-C stops the long kernels (common/interrupt.h)
    py::dict info;
#if defined(__clang__)
    info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    info["compiler"] = std::string("gcc ") + __VERSION__;
#else
    info["compiler"] = std::string("unknown");
#endif
#ifdef _OPENMP
    info["openmp"] = true;
    info["openmp_version"] = static_cast<int>(_OPENMP);
#else
    info["openmp"] = false;
    info["openmp_version"] = 0;
#endif
    info["flags"] = std::string(OTKIT_BUILD_FLAGS);
    info["target"] = std::string(OTKIT_TARGET);
    m.attr("build_info") = info;
    m.def("max_threads", [] { return otkit::threads_allowed(0); },
          "Threads a kernel may use by default (otkit.set_num_threads, else OpenMP's default)");
    m.def("set_thread_limit", [](int n) {
        if (n < 0) throw py::value_error("set_num_threads: n must be >= 0 (0: OpenMP's default), got " + std::to_string(n));
        otkit::thread_limit().store(n);
    }, "n"_a, "Cap the threads of every kernel call that does not pass num_threads (0: no cap)");
    m.def("thread_limit", [] { return otkit::thread_limit().load(); }, "The cap set by set_thread_limit (0: none)");
    m.def("processors", &otkit::processors, "Processors available to OpenMP");
    m.def("_set_tuner_override", [](int n) { otkit::tuner_override().store(n); }, "n"_a,
          "Tests only: run tuned iterations on min(n, parts) threads (0: the tuner decides)");
    // What this CPU can run, as the x86-64 micro-architecture levels (psABI): v3 = AVX2, FMA, BMI1/2,
    // F16C, LZCNT, MOVBE; v4 = v3 + AVX-512 F/BW/CD/DQ/VL. libgcc also checks that the OS saves the
    // AVX registers. Only the baseline module is ever asked (it runs on any x86-64).
    m.def("cpu_levels", [] {
        py::list out;
        out.append("baseline");
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
#if !defined(__clang__) && __GNUC__ >= 12  // the levels by name (every feature of each)
        const bool v3 = __builtin_cpu_supports("x86-64-v3");
        const bool v4 = __builtin_cpu_supports("x86-64-v4");
#else
        const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                        __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                        __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx");
        const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl");
#endif
        if (v3) out.append("x86-64-v3");
        if (v4) out.append("x86-64-v4");
#endif
        return out;
    }, "x86-64 levels this CPU runs ('baseline' always)");
    m.def("value_range_f64", &value_range<double>, "x"_a, "(min, max) of x in one parallel pass; (nan, nan) if x has a NaN or an inf");
    m.def("value_range_f32", &value_range<float>, "x"_a, "(min, max) of x in one parallel pass; (nan, nan) if x has a NaN or an inf");

    otkit::bind_sinkhorn(m);
    otkit::bind_emd(m);
    otkit::bind_semidual(m);
    otkit::bind_barycenter(m);
    otkit::bind_multiscale(m);
}
