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

// Kernel form on arrays already in the memory of CUDA device `device` (pointers as integers, C-contiguous,
// dtype T, shapes checked by the Python layer): U (n x N), V (m x N) updated in place, the plan written to
// `plan` (0: none). Returns dict(values, status, niter, err, trace) in host memory.
template <typename T>
py::dict knopp_dev(int device, uintptr_t M, int64_t n, int64_t m, uintptr_t a, uintptr_t B, int64_t N, double reg,
                   uintptr_t U, uintptr_t V, int max_iter, double stop_thr, int check_every, double omega,
                   double omega_start, uintptr_t plan, bool want_value, bool want_trace) {
    if (device < 0) throw py::value_error("device must be >= 0");
    if (N <= 0) throw py::value_error("sinkhorn_knopp_dev: N must be >= 1 (B has no histogram)");
    if (n <= 0 || m <= 0) throw py::value_error("sinkhorn_knopp_dev: M is empty");
    if (plan && N != 1) throw py::value_error("a plan is only returned for a single problem");
    if (omega != 1.0 && N != 1) throw py::value_error("over-relaxation (omega != 1) is for single problems");
    auto opt = sinkhorn_bind::make_opts(max_iter, stop_thr, check_every, 0.0, omega, omega_start, 0);
    py::array_t<T> values(N);
    std::vector<SinkhornInfo> info(N);
    std::vector<double> trace;
    {
        T* vals = want_value ? values.mutable_data() : nullptr;
        run_without_gil([&] {
            sinkhorn_knopp_cuda<T>(dptr<T>(M), n, m, dptr<T>(a), dptr<T>(B), N, static_cast<T>(reg), opt, dptr<T>(U),
                                   dptr<T>(V), vals, dptr<T>(plan), info.data(), want_trace ? &trace : nullptr, device);
        });
    }
    py::dict d = sinkhorn_bind::info_dict(info, trace);
    d["values"] = values;
    return d;
}

// Log-domain (kind 0: x, y = f, g) or stabilized (kind 1: x, y = alpha, beta) on device arrays.
template <typename T>
py::dict logdomain_dev(int kind, int device, uintptr_t M, int64_t n, int64_t m, uintptr_t a, uintptr_t b, double reg,
                       uintptr_t x, uintptr_t y, int max_iter, double stop_thr, int check_every, double tau,
                       double omega, double omega_start, uintptr_t plan, bool want_value, bool want_trace) {
    if (device < 0) throw py::value_error("device must be >= 0");
    auto opt = sinkhorn_bind::make_opts(max_iter, stop_thr, check_every, tau, omega, omega_start, 0);
    py::array_t<T> value(1);
    std::vector<SinkhornInfo> info(1);
    std::vector<double> trace;
    {
        T* val = want_value ? value.mutable_data() : nullptr;
        std::vector<double>* tr = want_trace ? &trace : nullptr;
        run_without_gil([&] {
            if (kind == 0)
                sinkhorn_log_cuda<T>(dptr<T>(M), n, m, dptr<T>(a), dptr<T>(b), static_cast<T>(reg), opt, dptr<T>(x),
                                     dptr<T>(y), val, dptr<T>(plan), info.data(), tr, device);
            else
                sinkhorn_stabilized_cuda<T>(dptr<T>(M), n, m, dptr<T>(a), dptr<T>(b), static_cast<T>(reg), opt,
                                            dptr<T>(x), dptr<T>(y), val, dptr<T>(plan), info.data(), tr, device);
        });
    }
    py::dict d = sinkhorn_bind::info_dict(info, trace);
    d["values"] = value;
    return d;
}

template <typename T>
void def_dev(py::module_& mod, const char* suffix) {
    using namespace pybind11::literals;
    mod.def((std::string("sinkhorn_knopp_dev_") + suffix).c_str(), &knopp_dev<T>, "device"_a, "M"_a, "n"_a, "m"_a,
            "a"_a, "B"_a, "N"_a, "reg"_a, "U"_a, "V"_a, "max_iter"_a, "stop_thr"_a, "check_every"_a, "omega"_a,
            "omega_start"_a, "plan"_a, "want_value"_a, "want_trace"_a,
            "Kernel-form Sinkhorn on device arrays (pointers); U, V updated in place, plan written if not 0.");
    mod.def((std::string("sinkhorn_log_dev_") + suffix).c_str(), &logdomain_dev<T>, "kind"_a, "device"_a, "M"_a,
            "n"_a, "m"_a, "a"_a, "b"_a, "reg"_a, "x"_a, "y"_a, "max_iter"_a, "stop_thr"_a, "check_every"_a, "tau"_a,
            "omega"_a, "omega_start"_a, "plan"_a, "want_value"_a, "want_trace"_a,
            "Log-domain (kind=0) or stabilized (kind=1) Sinkhorn on device arrays; x, y updated in place.");
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
