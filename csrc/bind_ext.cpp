// PYBIND11_MODULE(_ext): the C++ kernels of otkit. Each kernel family registers its functions
// from csrc/bind/<family>_bind.cpp; this file adds the build information.
#include <pybind11/pybind11.h>

#include <string>

#include "bind/common_bind.h"
#include "cpu/sinkhorn_cpu.h"

#ifndef OTKIT_BUILD_FLAGS
#define OTKIT_BUILD_FLAGS ""
#endif

PYBIND11_MODULE(_ext, m) {
    m.doc() = "otkit C++ kernels";
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

    otkit::bind_sinkhorn(m);
    otkit::bind_emd(m);
    otkit::bind_semidual(m);
    otkit::bind_barycenter(m);
}
