// PYBIND11_MODULE(_ext): the C++ kernels of otkit. Each kernel family registers its functions
// from csrc/bind/<family>_bind.cpp; this file adds the build information.
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>

#include "bind/common_bind.h"
#include "common/omp_compat.h"
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
        const int nt = n < (int64_t(1) << 18) ? 1 : omp_get_max_threads();
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

PYBIND11_MODULE(_ext, m) {
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
    m.attr("build_info") = info;
    m.def("max_threads", &otkit::openmp_max_threads, "OpenMP threads a kernel uses by default");
    m.def("value_range_f64", &value_range<double>, "x"_a, "(min, max) of x in one parallel pass; (nan, nan) if x has a NaN or an inf");
    m.def("value_range_f32", &value_range<float>, "x"_a, "(min, max) of x in one parallel pass; (nan, nan) if x has a NaN or an inf");

    otkit::bind_sinkhorn(m);
    otkit::bind_emd(m);
    otkit::bind_semidual(m);
    otkit::bind_barycenter(m);
}
