// pybind11 bindings of the CPU Sinkhorn kernels (csrc/cpu/sinkhorn_cpu.*); the binding code itself is
// shared with the CUDA module (bind/sinkhorn_bind_impl.h).
#include "bind/sinkhorn_bind_impl.h"
#include "cpu/sinkhorn_cpu.h"

namespace otkit {
namespace {

struct CpuSinkhorn {
    template <typename T>
    static void knopp(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg,
                      const SinkhornOptions& opt, T* U, T* V, T* values, T* plan, SinkhornInfo* info,
                      std::vector<double>* trace) {
        sinkhorn_knopp_cpu<T>(M, n, m, a, B, N, reg, opt, U, V, values, plan, info, trace);
    }
    template <typename T>
    static void log(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                    T* f, T* g, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace) {
        sinkhorn_log_cpu<T>(M, n, m, a, b, reg, opt, f, g, value, plan, info, trace);
    }
    template <typename T>
    static void stabilized(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                           const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan, SinkhornInfo* info,
                           std::vector<double>* trace) {
        sinkhorn_stabilized_cpu<T>(M, n, m, a, b, reg, opt, alpha, beta, value, plan, info, trace);
    }
};

}  // namespace

void bind_sinkhorn(py::module_& m) { sinkhorn_bind::bind_all<CpuSinkhorn>(m); }

}  // namespace otkit
