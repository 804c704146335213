// pybind11 bindings of the CPU Sinkhorn kernels (csrc/cpu/sinkhorn_cpu.*); the binding code itself is
// shared with the CUDA module (bind/sinkhorn_bind_impl.h).
#include <utility>

#include "bind/sinkhorn_bind_impl.h"
#include "cpu/sinkhorn_cpu.h"

namespace otkit {
namespace {

struct CpuSinkhorn {  // the Solver policy of bind/sinkhorn_bind_impl.h
    template <typename T, typename... A>
    static void knopp(A&&... a) { sinkhorn_knopp_cpu<T>(std::forward<A>(a)...); }
    template <typename T, typename... A>
    static void log(A&&... a) { sinkhorn_log_cpu<T>(std::forward<A>(a)...); }
    template <typename T, typename... A>
    static void stabilized(A&&... a) { sinkhorn_stabilized_cpu<T>(std::forward<A>(a)...); }
};

}  // namespace

void bind_sinkhorn(py::module_& m) { sinkhorn_bind::bind_all<CpuSinkhorn>(m); }

}  // namespace otkit
