// pybind11 bindings of the Sinkhorn kernels, shared by otkit._ext (csrc/bind/sinkhorn_bind.cpp, the
// CPU kernels) and otkit._cuda (csrc/bind_cuda.cpp, the CUDA kernels): the same functions, names and
// arguments, so that the Python layer calls either module the same way. `Solver` supplies
//   template <typename T> static void knopp(...), log(...), stabilized(...)
// with the signatures of sinkhorn_knopp_cpu, sinkhorn_log_cpu and sinkhorn_stabilized_cpu.
//
// One entry point per dtype, sinkhorn_f64 / sinkhorn_f32(M, a, B, reg, X, Y, *, method, options, ...):
// the method is the SinkhornMethod enum and the options the SinkhornOptions struct, both by name.
#pragma once

#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bind/common_bind.h"
#include "common/anderson.h"
#include "common/otkit_common.h"
#include "common/sinkhorn_types.h"

namespace otkit {
namespace sinkhorn_bind {

// The checks every entry point makes on the options (the Python layer has made them too).
inline SinkhornOptions checked(SinkhornOptions o) {
    if (o.max_iter < 0) throw py::value_error("numItermax must be >= 0");
    if (o.check_every < 1) throw py::value_error("check_every must be >= 1");
    if (!(o.omega > 0.0 && o.omega < 2.0)) throw py::value_error("omega must be in (0, 2)");
    if (!(o.anneal_start >= 0.0) || !std::isfinite(o.anneal_start))
        throw py::value_error("anneal_start (epsilon scaling) must be a finite number >= 0 (0: none)");
    if (!(o.anneal_factor > 0.0 && o.anneal_factor < 1.0)) throw py::value_error("anneal_factor must be in (0, 1)");
    if (o.anneal_inner < 1) throw py::value_error("anneal_inner must be >= 1");
    if (o.anderson < 0 || o.anderson > AndersonMixer::kMaxMemory)
        throw py::value_error("anderson (memory of the Anderson acceleration) must be in [0, " +
                              std::to_string(AndersonMixer::kMaxMemory) + "], got " + std::to_string(o.anderson));
    if (o.anderson > 0 && (o.omega != 1.0 || o.omega_auto))
        throw py::value_error("anderson and omega (over-relaxation) exclude each other: use one of the two");
    o.num_threads = check_num_threads(o.num_threads);
    return o;
}

// Epsilon scaling runs in the log-domain drivers of the CPU kernels only: anywhere else it is an error, never
// silently ignored.
inline void no_annealing(const SinkhornOptions& o, const char* where) {
    if (o.anneal_start > 0.0)
        throw py::value_error(std::string("epsilon scaling (anneal_start > 0) is not available for ") + where +
                              " (the CPU log-domain solvers have it)");
}

// Anderson acceleration runs in the CPU kernel-form (one problem) and log-domain drivers only: anywhere else it is
// an error, never silently ignored.
inline void no_anderson(const SinkhornOptions& o, const char* where) {
    if (o.anderson > 0)
        throw py::value_error(std::string("Anderson acceleration (anderson > 0) is not available for ") + where +
                              " (the CPU kernel-form and log-domain solvers have it)");
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

// The arrays every Sinkhorn entry point shares, converted and checked against the problem size n x m:
// a (n), B (m x N), and the scalings or potentials X (n x N), Y (m x N), updated in place.
template <typename T>
struct ProblemArrays {
    py::array_t<T, py::array::c_style> a, B, X, Y;
    int64_t N;
    ProblemArrays(const py::array& a_, const py::array& B_, const py::array& X_, const py::array& Y_, int64_t n,
                  int64_t m, const char* who)
        : a(as_carray<T>(a_, "a", 1)), B(as_carray<T>(B_, "b", 2)), X(as_carray<T>(X_, "X", 2)),
          Y(as_carray<T>(Y_, "Y", 2)), N(B.shape(1)) {
        if (a.shape(0) != n || B.shape(0) != m || X.shape(0) != n || X.shape(1) != N || Y.shape(0) != m ||
            Y.shape(1) != N)
            throw py::value_error(std::string(who) + ": inconsistent shapes");
    }
};

// What every Sinkhorn entry point returns: values (N), the plan (n x m) when asked, per-problem info and the
// trace. Built with the GIL; the pointers are taken before the kernel runs without it.
template <typename T>
struct Outputs {
    py::array_t<T> values;
    py::array_t<T> plan;
    std::vector<SinkhornInfo> info;
    std::vector<double> trace;
    T* vals;
    T* P;
    std::vector<double>* tr;
    Outputs(int64_t N, int64_t n, int64_t m, bool want_plan, bool want_value, bool want_trace)
        : values(N), plan(want_plan ? py::array_t<T>({n, m}) : py::array_t<T>()), info(N) {
        vals = want_value ? values.mutable_data() : nullptr;
        P = want_plan ? plan.mutable_data() : nullptr;
        tr = want_trace ? &trace : nullptr;
    }
    // A value that is not finite is never reported with status OK (e.g. an inf cost: 0 * inf in <P, M>).
    py::dict dict() {
        // (one info for all the values when the problems share a stopping rule, as the unbalanced batch)
        if (vals != nullptr && !info.empty())
            for (size_t k = 0; k < static_cast<size_t>(values.size()); ++k) {
                int& status = info[std::min(k, info.size() - 1)].status;
                if (!std::isfinite(static_cast<double>(vals[k])) && status == OK) status = NUMERICAL_ERROR;
            }
        py::dict d = info_dict(info, trace);
        d["values"] = values;
        d["plan"] = P != nullptr ? py::object(plan) : py::none();
        return d;
    }
};

// solve_one(k, x, y, b) on column k of X (n x N), Y (m x N) and B (m x N), copied into contiguous vectors and
// back: the methods that take one problem at a time, N problems in one call.
template <typename T, class F>
void for_each_column(T* X, T* Y, const T* B, int64_t n, int64_t m, int64_t N, F&& solve_one) {
    std::vector<T> x(n), y(m), b(m);
    for (int64_t k = 0; k < N; ++k) {
        for (int64_t i = 0; i < n; ++i) x[i] = X[i * N + k];
        for (int64_t j = 0; j < m; ++j) y[j] = Y[j * N + k], b[j] = B[j * N + k];
        solve_one(k, x.data(), y.data(), b.data());
        for (int64_t i = 0; i < n; ++i) X[i * N + k] = x[i];
        for (int64_t j = 0; j < m; ++j) Y[j * N + k] = y[j];
    }
}

// X (n x N), Y (m x N), updated in place: scalings u, v (KERNEL), log-scalings f, g (LOG) or dual
// potentials alpha, beta (STABILIZED). Returns dict(values, plan, status, niter, err, trace). The log-domain
// and stabilized methods solve the N problems one after the other in this one call.
template <class Solver, typename T>
py::dict solve(py::array M_, py::array a_, py::array B_, double reg, py::array X_, py::array Y_, SinkhornMethod method,
               const SinkhornOptions& options, bool want_plan, bool want_value, bool want_trace) {
    auto M = as_carray<T>(M_, "M", 2);
    const int64_t n = M.shape(0), m = M.shape(1);
    ProblemArrays<T> p(a_, B_, X_, Y_, n, m, "sinkhorn");
    const int64_t N = p.N;
    if (N == 0)  // (the kernels would read X[0] and write values[0])
        throw py::value_error("sinkhorn: B has shape (" + std::to_string(m) + ", 0): no histogram");
    if (n == 0 || m == 0)
        throw py::value_error("sinkhorn: M is empty (shape (" + std::to_string(n) + ", " + std::to_string(m) + "))");
    if (want_plan && N != 1) throw py::value_error("a plan is only returned for a single problem");
    const SinkhornOptions opt = checked(options);
    if (method == SinkhornMethod::KERNEL && opt.omega != 1.0 && N != 1)
        throw py::value_error("over-relaxation (omega != 1) of the kernel form is for single problems");
    if (method == SinkhornMethod::STABILIZED && opt.omega != 1.0)
        throw py::value_error("over-relaxation (omega != 1) is not available for the stabilized method");
    if (opt.omega_auto && (method == SinkhornMethod::STABILIZED || (method == SinkhornMethod::KERNEL && N != 1)))
        throw py::value_error("omega='auto' (over-relaxation) is for single problems of the kernel-form and log-domain methods");
    if (method != SinkhornMethod::LOG || !Solver::anneals) no_annealing(opt, Solver::anneals ? "this method" : "these kernels");
    if (!Solver::anneals) no_anderson(opt, "these kernels");
    if (method == SinkhornMethod::STABILIZED) no_anderson(opt, "the stabilized method");
    if (method == SinkhornMethod::KERNEL && N != 1) no_anderson(opt, "batched problems of the kernel form");
    Outputs<T> out(N, n, m, want_plan, want_value, want_trace);
    T* Xp = p.X.mutable_data();
    T* Yp = p.Y.mutable_data();
    const T *Mp = M.data(), *ap = p.a.data(), *Bp = p.B.data();
    const T r = static_cast<T>(reg);
    run_without_gil([&] {
        if (method == SinkhornMethod::KERNEL) {
            Solver::template knopp<T>(Mp, n, m, ap, Bp, N, r, opt, Xp, Yp, out.vals, out.P, out.info.data(), out.tr);
            return;
        }
        for_each_column(Xp, Yp, Bp, n, m, N, [&](int64_t k, T* x, T* y, const T* b) {
            T* val = out.vals != nullptr ? out.vals + k : nullptr;
            std::vector<double>* trk = N == 1 ? out.tr : nullptr;
            if (method == SinkhornMethod::LOG)
                Solver::template log<T>(Mp, n, m, ap, b, r, opt, x, y, val, out.P, &out.info[k], trk);
            else
                Solver::template stabilized<T>(Mp, n, m, ap, b, r, opt, x, y, val, out.P, &out.info[k], trk);
        });
    });
    return out.dict();
}

// The Status and SinkhornMethod enums and the SinkhornOptions struct, in each module that binds kernels
// (module_local: otkit._ext and otkit._cuda each hold their own copy of the same definitions).
inline void bind_types(py::module_& m) {
    using namespace pybind11::literals;
    py::enum_<Status>(m, "Status", py::module_local(), "Status of a kernel call (csrc/common/otkit_common.h).")
        .value("OK", OK)
        .value("MAX_ITER", MAX_ITER)
        .value("NUMERICAL_ERROR", NUMERICAL_ERROR)
        .value("INFEASIBLE", INFEASIBLE)
        .value("UNBOUNDED", UNBOUNDED)
        .value("BAD_INPUT", BAD_INPUT);
    py::enum_<SinkhornMethod>(m, "SinkhornMethod", py::module_local())
        .value("KERNEL", SinkhornMethod::KERNEL)
        .value("LOG", SinkhornMethod::LOG)
        .value("STABILIZED", SinkhornMethod::STABILIZED);
    py::enum_<UnbalancedMethod>(m, "UnbalancedMethod", py::module_local())
        .value("KNOPP", UnbalancedMethod::KNOPP)
        .value("TRANSLATION_INVARIANT", UnbalancedMethod::TRANSLATION_INVARIANT)
        .value("STABILIZED", UnbalancedMethod::STABILIZED)
        .value("LOG", UnbalancedMethod::LOG);
    py::class_<SinkhornOptions>(m, "SinkhornOptions", py::module_local(),
                                "Options of the Sinkhorn solvers (csrc/common/sinkhorn_types.h), by name.")
        .def(py::init([](int max_iter, double stop_thr, int check_every, double tau, double omega, double omega_start,
                         int num_threads, bool log_fast, double anneal_start, double anneal_factor, int anneal_inner,
                         bool omega_auto, int anderson) {
                 SinkhornOptions o;
                 o.max_iter = max_iter;
                 o.stop_thr = stop_thr;
                 o.check_every = check_every;
                 o.tau = tau;
                 o.omega = omega;
                 o.omega_start = omega_start;
                 o.num_threads = num_threads;
                 o.log_fast = log_fast;
                 o.anneal_start = anneal_start;
                 o.anneal_factor = anneal_factor;
                 o.anneal_inner = anneal_inner;
                 o.omega_auto = omega_auto;
                 o.anderson = anderson;
                 return o;
             }),
             py::kw_only(), "max_iter"_a = 1000, "stop_thr"_a = 1e-9, "check_every"_a = 10, "tau"_a = 1e3,
             "omega"_a = 1.0, "omega_start"_a = 1e-2, "num_threads"_a = 0, "log_fast"_a = true,
             "anneal_start"_a = 0.0, "anneal_factor"_a = 0.5, "anneal_inner"_a = 1, "omega_auto"_a = false, "anderson"_a = 0)
        .def_readwrite("max_iter", &SinkhornOptions::max_iter)
        .def_readwrite("stop_thr", &SinkhornOptions::stop_thr)
        .def_readwrite("check_every", &SinkhornOptions::check_every)
        .def_readwrite("tau", &SinkhornOptions::tau)
        .def_readwrite("omega", &SinkhornOptions::omega)
        .def_readwrite("omega_start", &SinkhornOptions::omega_start)
        .def_readwrite("num_threads", &SinkhornOptions::num_threads)
        .def_readwrite("log_fast", &SinkhornOptions::log_fast)
        .def_readwrite("anneal_start", &SinkhornOptions::anneal_start)
        .def_readwrite("anneal_factor", &SinkhornOptions::anneal_factor)
        .def_readwrite("anneal_inner", &SinkhornOptions::anneal_inner)
        .def_readwrite("omega_auto", &SinkhornOptions::omega_auto)
        .def_readwrite("anderson", &SinkhornOptions::anderson);
}

template <class Solver>
void bind_all(py::module_& mod) {
    using namespace pybind11::literals;
    bind_types(mod);
    const char* doc =
        "Sinkhorn on N problems sharing M (B: m x N). X (n x N), Y (m x N) updated in place: scalings u, v\n"
        "(method KERNEL), log-scalings f, g (LOG) or dual potentials alpha, beta (STABILIZED).";
    mod.def("sinkhorn_f64", &solve<Solver, double>, "M"_a, "a"_a, "B"_a, "reg"_a, "X"_a, "Y"_a, py::kw_only(),
            "method"_a, "options"_a, "want_plan"_a = false, "want_value"_a = true, "want_trace"_a = false, doc);
    mod.def("sinkhorn_f32", &solve<Solver, float>, "M"_a, "a"_a, "B"_a, "reg"_a, "X"_a, "Y"_a, py::kw_only(),
            "method"_a, "options"_a, "want_plan"_a = false, "want_value"_a = true, "want_trace"_a = false, doc);
}

}  // namespace sinkhorn_bind
}  // namespace otkit
