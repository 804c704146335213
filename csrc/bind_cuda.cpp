// PYBIND11_MODULE(_cuda): the CUDA kernels of otkit (csrc/cuda/*.cu). The Sinkhorn functions have the
// names and arguments of otkit._ext's (bind/sinkhorn_bind_impl.h), so otkit/bregman.py calls either
// module the same way; this file adds the device queries and the build information.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include <utility>

#include "bind/sinkhorn_bind_impl.h"
#include "cuda/sinkhorn_cuda.h"

namespace otkit {
namespace {

struct CudaSinkhorn {  // the Solver policy of bind/sinkhorn_bind_impl.h
    static constexpr bool anneals = false;
    template <typename T, typename... A>
    static void knopp(A&&... a) { sinkhorn_knopp_cuda<T>(std::forward<A>(a)...); }
    template <typename T, typename... A>
    static void log(A&&... a) { sinkhorn_log_cuda<T>(std::forward<A>(a)...); }
    template <typename T, typename... A>
    static void stabilized(A&&... a) { sinkhorn_stabilized_cuda<T>(std::forward<A>(a)...); }
};

template <typename T>
T* dptr(uintptr_t p) {
    return reinterpret_cast<T*>(p);
}

// Sinkhorn on arrays already in the memory of CUDA device `device` (pointers as integers, C-contiguous,
// dtype T, shapes checked by the Python layer): X (n x N), Y (m x N) updated in place (scalings u, v for
// KERNEL; for LOG and STABILIZED one problem, N = 1: f, g or alpha, beta), the plan written to `plan`
// (0: none). Returns dict(values, status, niter, err, trace) in host memory.
template <typename T>
py::dict solve_dev(int device, uintptr_t M, int64_t n, int64_t m, uintptr_t a, uintptr_t B, int64_t N, double reg,
                   uintptr_t X, uintptr_t Y, SinkhornMethod method, const SinkhornOptions& options, uintptr_t plan,
                   bool want_value, bool want_trace) {
    if (device < 0) throw py::value_error("device must be >= 0");
    if (N <= 0) throw py::value_error("sinkhorn_dev: N must be >= 1 (B has no histogram)");
    if (n <= 0 || m <= 0) throw py::value_error("sinkhorn_dev: M is empty");
    if (plan && N != 1) throw py::value_error("a plan is only returned for a single problem");
    if (method != SinkhornMethod::KERNEL && N != 1)
        throw py::value_error("sinkhorn_dev: the log-domain and stabilized methods take one problem (N = 1)");
    SinkhornOptions opt = sinkhorn_bind::checked(options);
    sinkhorn_bind::no_annealing(opt, "the CUDA kernels");
    sinkhorn_bind::no_anderson(opt, "the CUDA kernels");
    opt.num_threads = 0;
    if (method == SinkhornMethod::KERNEL && opt.omega != 1.0 && N != 1)
        throw py::value_error("over-relaxation (omega != 1) is for single problems");
    py::array_t<T> values(N);
    std::vector<SinkhornInfo> info(N);
    std::vector<double> trace;
    {
        T* vals = want_value ? values.mutable_data() : nullptr;
        std::vector<double>* tr = want_trace ? &trace : nullptr;
        run_without_gil([&] {
            if (method == SinkhornMethod::KERNEL)
                sinkhorn_knopp_cuda<T>(dptr<T>(M), n, m, dptr<T>(a), dptr<T>(B), N, static_cast<T>(reg), opt, dptr<T>(X),
                                       dptr<T>(Y), vals, dptr<T>(plan), info.data(), tr, device);
            else if (method == SinkhornMethod::LOG)
                sinkhorn_log_cuda<T>(dptr<T>(M), n, m, dptr<T>(a), dptr<T>(B), static_cast<T>(reg), opt, dptr<T>(X),
                                     dptr<T>(Y), vals, dptr<T>(plan), info.data(), tr, device);
            else
                sinkhorn_stabilized_cuda<T>(dptr<T>(M), n, m, dptr<T>(a), dptr<T>(B), static_cast<T>(reg), opt,
                                            dptr<T>(X), dptr<T>(Y), vals, dptr<T>(plan), info.data(), tr, device);
        });
    }
    py::dict d = sinkhorn_bind::info_dict(info, trace);
    d["values"] = values;
    return d;
}

template <typename T>
void def_dev(py::module_& mod, const char* suffix) {
    using namespace pybind11::literals;
    mod.def((std::string("sinkhorn_dev_") + suffix).c_str(), &solve_dev<T>, "device"_a, "M"_a, "n"_a, "m"_a, "a"_a,
            "B"_a, "N"_a, "reg"_a, "X"_a, "Y"_a, py::kw_only(), "method"_a, "options"_a, "plan"_a = 0,
            "want_value"_a = true, "want_trace"_a = false,
            "Sinkhorn on device arrays (pointers); X, Y updated in place, plan written if not 0.");
}

}  // namespace
}  // namespace otkit

#ifndef OTKIT_CUDA_FLAGS
#define OTKIT_CUDA_FLAGS ""
#endif

PYBIND11_MODULE(_cuda, m) {
    using namespace pybind11::literals;
    m.doc() = "otkit CUDA kernels";
    otkit::install_interrupt_hook();  // Ctrl-C stops the long kernels (common/interrupt.h)
    py::dict info;
    info["runtime_version"] = otkit::cuda_runtime_version();
    info["nvcc_flags"] = std::string(OTKIT_CUDA_FLAGS);
    m.attr("build_info") = info;
    m.def("device_count", &otkit::cuda_device_count, "CUDA devices the runtime sees (0 without a driver or device)");
    m.def("device_description", &otkit::cuda_device_description, "dev"_a = 0, "name, compute capability, SMs, memory");
    m.def("driver_version", &otkit::cuda_driver_version, "CUDA driver version (e.g. 13000; 0 without a driver)");
    otkit::sinkhorn_bind::bind_all<otkit::CudaSinkhorn>(m);
    otkit::def_dev<double>(m, "f64");
    otkit::def_dev<float>(m, "f32");
}
