// PYBIND11_MODULE(_cuda): the CUDA kernels of otkit (csrc/cuda/*.cu). The Sinkhorn functions have the
// names and arguments of otkit._ext's (bind/sinkhorn_bind_impl.h), so otkit/bregman.py calls either
// module the same way; this file adds the device queries and the build information.
#include <pybind11/pybind11.h>

#include <string>

#include "bind/sinkhorn_bind_impl.h"
#include "cuda/sinkhorn_cuda.h"

namespace otkit {
namespace {

struct CudaSinkhorn {
    template <typename T>
    static void knopp(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg,
                      const SinkhornOptions& opt, T* U, T* V, T* values, T* plan, SinkhornInfo* info,
                      std::vector<double>* trace) {
        sinkhorn_knopp_cuda<T>(M, n, m, a, B, N, reg, opt, U, V, values, plan, info, trace);
    }
    template <typename T>
    static void log(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                    T* f, T* g, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace) {
        sinkhorn_log_cuda<T>(M, n, m, a, b, reg, opt, f, g, value, plan, info, trace);
    }
    template <typename T>
    static void stabilized(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                           const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan, SinkhornInfo* info,
                           std::vector<double>* trace) {
        sinkhorn_stabilized_cuda<T>(M, n, m, a, b, reg, opt, alpha, beta, value, plan, info, trace);
    }
};

}  // namespace
}  // namespace otkit

#ifndef OTKIT_CUDA_FLAGS
#define OTKIT_CUDA_FLAGS ""
#endif

PYBIND11_MODULE(_cuda, m) {
    using namespace pybind11::literals;
    m.doc() = "otkit CUDA kernels";
    py::dict info;
    info["runtime_version"] = otkit::cuda_runtime_version();
    info["nvcc_flags"] = std::string(OTKIT_CUDA_FLAGS);
    m.attr("build_info") = info;
    m.def("device_count", &otkit::cuda_device_count, "CUDA devices the runtime sees (0 without a driver or device)");
    m.def("device_description", &otkit::cuda_device_description, "dev"_a = 0, "name, compute capability, SMs, memory");
    m.def("driver_version", &otkit::cuda_driver_version, "CUDA driver version (e.g. 13000; 0 without a driver)");
    otkit::sinkhorn_bind::bind_all<otkit::CudaSinkhorn>(m);
}
