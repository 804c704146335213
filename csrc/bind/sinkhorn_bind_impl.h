// pybind11 bindings of the Sinkhorn kernels, shared by otkit._ext (csrc/bind/sinkhorn_bind.cpp, the
// CPU kernels) and otkit._cuda (csrc/bind_cuda.cpp, the CUDA kernels): the same functions, names and
// arguments, so that the Python layer calls either module the same way. `Solver` supplies
//   template <typename T> static void knopp(...), log(...), stabilized(...)
// with the signatures of sinkhorn_knopp_cpu, sinkhorn_log_cpu and sinkhorn_stabilized_cpu.
#pragma once

#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bind/common_bind.h"
#include "common/sinkhorn_types.h"

namespace otkit {
namespace sinkhorn_bind {


inline SinkhornOptions make_opts(int max_iter, double stop_thr, int check_every, double tau, double omega,
                          double omega_start, int num_threads) {
    if (max_iter < 0) throw py::value_error("numItermax must be >= 0");
    if (check_every < 1) throw py::value_error("check_every must be >= 1");
    SinkhornOptions o;
    o.max_iter = max_iter;
    o.stop_thr = stop_thr;
    o.check_every = check_every;
    o.tau = tau;
    if (!(omega > 0.0 && omega < 2.0)) throw py::value_error("omega must be in (0, 2)");
    o.omega = omega;
    o.omega_start = omega_start;
    o.num_threads = check_num_threads(num_threads);
    return o;
}

inline py::dict info_dict(const std::vector<SinkhornInfo>& info, const std::vector<double>& trace) {
    py::array_t<int> status(info.size()), niter(info.size());
    py::array_t<double> err(info.size());
    for (size_t k = 0; k < info.size(); ++k) {
        status.mutable_at(k) = info[k].status;
        niter.mutable_at(k) = info[k].niter;
        err.mutable_at(k) = info[k].err;
    }
    py::dict d;
    d["status"] = status;
    d["niter"] = niter;
    d["err"] = err;
    d["trace"] = trace;
    return d;
}

// U (n x N), V (m x N) are updated in place; returns dict(values, plan, status, niter, err, trace).
template <class Solver, typename T>
py::dict knopp(py::array M_, py::array a_, py::array B_, double reg, py::array U_, py::array V_, int max_iter,
               double stop_thr, int check_every, double omega, double omega_start, bool want_plan, bool want_value,
               bool want_trace, int threads) {
    auto M = as_carray<T>(M_, "M", 2);
    auto a = as_carray<T>(a_, "a", 1);
    auto B = as_carray<T>(B_, "b", 2);
    auto U = as_carray<T>(U_, "u", 2);
    auto V = as_carray<T>(V_, "v", 2);
    const int64_t n = M.shape(0), m = M.shape(1), N = B.shape(1);
    if (a.shape(0) != n || B.shape(0) != m || U.shape(0) != n || U.shape(1) != N || V.shape(0) != m ||
        V.shape(1) != N)
        throw py::value_error("sinkhorn_knopp: inconsistent shapes");
    if (N == 0)  // (the kernels would read U[0] and write values[0])
        throw py::value_error("sinkhorn_knopp: B has shape (" + std::to_string(m) + ", 0): no histogram");
    if (n == 0 || m == 0)
        throw py::value_error("sinkhorn_knopp: M is empty (shape (" + std::to_string(n) + ", " + std::to_string(m) + "))");
    if (want_plan && N != 1) throw py::value_error("a plan is only returned for a single problem");
    if (omega != 1.0 && N != 1) throw py::value_error("over-relaxation (omega != 1) is for single problems");
    auto opt = make_opts(max_iter, stop_thr, check_every, 0.0, omega, omega_start, threads);
    py::array_t<T> values(N);
    py::array_t<T> plan = want_plan ? py::array_t<T>({n, m}) : py::array_t<T>();
    std::vector<SinkhornInfo> info(N);
    std::vector<double> trace;
    {
        T* Up = U.mutable_data();
        T* Vp = V.mutable_data();
        T* vals = want_value ? values.mutable_data() : nullptr;
        T* P = want_plan ? plan.mutable_data() : nullptr;
        const T *Mp = M.data(), *ap = a.data(), *Bp = B.data();
        run_without_gil([&] {
            Solver::template knopp<T>(Mp, n, m, ap, Bp, N, static_cast<T>(reg), opt, Up, Vp, vals, P, info.data(),
                                      want_trace ? &trace : nullptr);
        });
    }
    py::dict d = info_dict(info, trace);
    d["values"] = values;
    d["plan"] = want_plan ? py::object(plan) : py::none();
    return d;
}

// Log-domain (kind = 0) or stabilized (kind = 1) single problem; x (n), y (m) updated in place:
// log-scalings f, g for kind 0, dual potentials alpha, beta for kind 1.
template <class Solver, typename T>
py::dict logdomain(int kind, py::array M_, py::array a_, py::array b_, double reg, py::array x_, py::array y_,
                   int max_iter, double stop_thr, int check_every, double tau, double omega, double omega_start,
                   bool want_plan, bool want_value, bool want_trace, int threads, bool log_fast) {
    auto M = as_carray<T>(M_, "M", 2);
    auto a = as_carray<T>(a_, "a", 1);
    auto b = as_carray<T>(b_, "b", 1);
    auto x = as_carray<T>(x_, "f", 1);
    auto y = as_carray<T>(y_, "g", 1);
    const int64_t n = M.shape(0), m = M.shape(1);
    if (a.shape(0) != n || b.shape(0) != m || x.shape(0) != n || y.shape(0) != m)
        throw py::value_error("sinkhorn_log: inconsistent shapes");
    if (n == 0 || m == 0)
        throw py::value_error("sinkhorn_log: M is empty (shape (" + std::to_string(n) + ", " + std::to_string(m) + "))");
    auto opt = make_opts(max_iter, stop_thr, check_every, tau, omega, omega_start, threads);
    opt.log_fast = log_fast;
    py::array_t<T> value(1);
    py::array_t<T> plan = want_plan ? py::array_t<T>({n, m}) : py::array_t<T>();
    std::vector<SinkhornInfo> info(1);
    std::vector<double> trace;
    {
        T* xp = x.mutable_data();
        T* yp = y.mutable_data();
        T* val = want_value ? value.mutable_data() : nullptr;
        T* P = want_plan ? plan.mutable_data() : nullptr;
        const T *Mp = M.data(), *ap = a.data(), *bp = b.data();
        std::vector<double>* tr = want_trace ? &trace : nullptr;
        run_without_gil([&] {
            if (kind == 0)
                Solver::template log<T>(Mp, n, m, ap, bp, static_cast<T>(reg), opt, xp, yp, val, P, info.data(), tr);
            else
                Solver::template stabilized<T>(Mp, n, m, ap, bp, static_cast<T>(reg), opt, xp, yp, val, P, info.data(),
                                               tr);
        });
    }
    py::dict d = info_dict(info, trace);
    d["values"] = value;
    d["plan"] = want_plan ? py::object(plan) : py::none();
    return d;
}

template <class Solver, typename T>
void def_all(py::module_& mod, const char* suffix) {
    using namespace pybind11::literals;
    mod.def((std::string("sinkhorn_knopp_") + suffix).c_str(), &knopp<Solver, T>, "M"_a, "a"_a, "B"_a, "reg"_a, "U"_a, "V"_a,
            "max_iter"_a, "stop_thr"_a, "check_every"_a, "omega"_a, "omega_start"_a, "want_plan"_a, "want_value"_a, "want_trace"_a,
            "num_threads"_a = 0,
            "Kernel-form Sinkhorn on N problems sharing M (B: m x N); U, V updated in place.");
    mod.def((std::string("sinkhorn_log_") + suffix).c_str(), &logdomain<Solver, T>, "kind"_a, "M"_a, "a"_a, "b"_a, "reg"_a,
            "x"_a, "y"_a, "max_iter"_a, "stop_thr"_a, "check_every"_a, "tau"_a, "omega"_a, "omega_start"_a, "want_plan"_a, "want_value"_a,
            "want_trace"_a, "num_threads"_a = 0, "log_fast"_a = true,
            "Log-domain (kind=0) or stabilized (kind=1) Sinkhorn; x, y updated in place. log_fast=False: always\n"
            "the exact two-exp log-sum-exp pass (default: one exp per entry where safe).");
}


template <class Solver>
void bind_all(py::module_& m) {
    def_all<Solver, double>(m, "f64");
    def_all<Solver, float>(m, "f32");
}

}  // namespace sinkhorn_bind
}  // namespace otkit
