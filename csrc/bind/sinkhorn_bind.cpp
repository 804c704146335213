// pybind11 bindings of the CPU Sinkhorn kernels (csrc/cpu/sinkhorn_cpu.*); the binding code of the balanced
// solvers is shared with the CUDA module (bind/sinkhorn_bind_impl.h). The unbalanced solver takes its
// options as named fields (SinkhornOptions, UnbalancedMethod), and the status codes are the Status enum.
#include <cmath>
#include <string>
#include <utility>

#include "bind/sinkhorn_bind_impl.h"
#include "common/otkit_common.h"
#include "cpu/sinkhorn_cpu.h"

namespace otkit {
namespace {

struct CpuSinkhorn {  // the Solver policy of bind/sinkhorn_bind_impl.h
    static constexpr bool anneals = true;  // the log-domain driver has epsilon scaling
    template <typename T, typename... A>
    static void knopp(A&&... a) { sinkhorn_knopp_cpu<T>(std::forward<A>(a)...); }
    template <typename T, typename... A>
    static void log(A&&... a) { sinkhorn_log_cpu<T>(std::forward<A>(a)...); }
    template <typename T, typename... A>
    static void stabilized(A&&... a) { sinkhorn_stabilized_cpu<T>(std::forward<A>(a)...); }
};

// U (n x N), V (m x N): initial log-scalings in, final log-scalings out. Returns
// dict(values, plan, status, niter, err, trace).
template <typename T>
py::dict unbalanced(py::array M_, py::array Mk_, py::array a_, py::array B_, double reg, py::array U_, py::array V_,
                    double reg_m1, double reg_m2, UnbalancedMethod method, const SinkhornOptions& opt, bool want_plan,
                    bool want_value, bool want_trace) {
    auto M = as_carray<T>(M_, "M", 2);
    auto Mk = as_carray<T>(Mk_, "Mk", 2);
    const int64_t n = M.shape(0), m = M.shape(1);
    sinkhorn_bind::ProblemArrays<T> p(a_, B_, U_, V_, n, m, "sinkhorn_unbalanced");
    const int64_t N = p.N;
    if (Mk.shape(0) != n || Mk.shape(1) != m) throw py::value_error("sinkhorn_unbalanced: Mk must have the shape of M");
    if (n == 0 || m == 0 || N == 0) throw py::value_error("sinkhorn_unbalanced: empty problem");
    if (!(reg > 0) || !std::isfinite(reg)) throw py::value_error("reg must be a finite number > 0");
    if (!(reg_m1 > 0) || !(reg_m2 > 0)) throw py::value_error("reg_m must be > 0 (inf: balanced)");
    if (opt.max_iter < 0) throw py::value_error("numItermax must be >= 0");
    if (want_plan && N != 1) throw py::value_error("a plan is only returned for a single problem");
    UnbalancedOptions uo;
    uo.reg_m1 = reg_m1;
    uo.reg_m2 = reg_m2;
    uo.method = method;
    SinkhornOptions o = sinkhorn_bind::checked(opt);
    sinkhorn_bind::no_annealing(o, "sinkhorn_unbalanced");
    sinkhorn_bind::no_anderson(o, "sinkhorn_unbalanced");
    if (o.omega_auto || o.omega != 1.0) throw py::value_error("sinkhorn_unbalanced: no over-relaxation (omega)");
    sinkhorn_bind::Outputs<T> out(N, n, m, want_plan, want_value, want_trace);
    out.info.resize(1);  // one status for the N problems (POT's stopping rule runs over all of them)
    T* Up = p.X.mutable_data();
    T* Vp = p.Y.mutable_data();
    const T *Mp = M.data(), *Mkp = Mk.data(), *ap = p.a.data(), *Bp = p.B.data();
    run_without_gil([&] {
        sinkhorn_unbalanced_cpu<T>(Mp, Mkp, n, m, ap, Bp, N, static_cast<T>(reg), uo, o, Up, Vp, out.vals, out.P,
                                   out.info.data(), out.tr);
    });
    return out.dict();
}

// Log-domain Sinkhorn between point clouds x (n x d), y (m x d), costs computed on the fly; X (n x N), Y (m x N):
// log-scalings, updated in place; the N problems (columns of B) one after the other.
template <typename T>
py::dict cloud(py::array x_, py::array y_, py::array a_, py::array B_, double reg, py::array X_, py::array Y_,
               const std::string& metric, const SinkhornOptions& options, bool want_plan, bool want_value,
               bool want_trace) {
    auto x = as_carray<T>(x_, "x", 2);
    auto y = as_carray<T>(y_, "y", 2);
    const int64_t n = x.shape(0), m = y.shape(0), d = x.shape(1);
    if (y.shape(1) != d) throw py::value_error("x and y must have the same number of columns (dimension)");
    sinkhorn_bind::ProblemArrays<T> p(a_, B_, X_, Y_, n, m, "sinkhorn_cloud");
    const int64_t N = p.N;
    if (n == 0 || m == 0 || N == 0) throw py::value_error("sinkhorn_cloud: empty problem");
    if (metric != "sqeuclidean" && metric != "euclidean")
        throw py::value_error("metric must be 'sqeuclidean' or 'euclidean', got '" + metric + "'");
    if (want_plan && N != 1) throw py::value_error("a plan is only returned for a single problem");
    const SinkhornOptions opt = sinkhorn_bind::checked(options);
    const bool euclid = metric == "euclidean";
    sinkhorn_bind::Outputs<T> out(N, n, m, want_plan, want_value, want_trace);
    T* Xp = p.X.mutable_data();
    T* Yp = p.Y.mutable_data();
    const T *xp = x.data(), *yp = y.data(), *ap = p.a.data(), *Bp = p.B.data();
    run_without_gil([&] {
        sinkhorn_bind::for_each_column(Xp, Yp, Bp, n, m, N, [&](int64_t k, T* f, T* g, const T* b) {
            sinkhorn_log_cloud_cpu<T>(xp, yp, n, m, d, euclid, ap, b, static_cast<T>(reg), opt, f, g,
                                      out.vals != nullptr ? out.vals + k : nullptr, out.P, &out.info[k],
                                      N == 1 ? out.tr : nullptr);
        });
    });
    return out.dict();
}

// The symmetric problem (a, a) on one point cloud x (n x d) (a debiasing term): f (n) the log-scaling, updated in
// place. Returns dict(status, niter, err, trace) with err the L1 marginal error.
template <typename T>
py::dict symmetric_cloud(py::array x_, py::array a_, double reg, py::array f_, const std::string& metric,
                         const SinkhornOptions& options, bool want_trace, double reg_m) {
    auto x = as_carray<T>(x_, "x", 2);
    auto a = as_carray<T>(a_, "a", 1);
    auto f = as_carray<T>(f_, "f", 1);
    const int64_t n = x.shape(0), d = x.shape(1);
    if (n == 0) throw py::value_error("sinkhorn_symmetric_cloud: empty point cloud");
    if (a.shape(0) != n || f.shape(0) != n) throw py::value_error("sinkhorn_symmetric_cloud: a and f must have n entries");
    if (metric != "sqeuclidean" && metric != "euclidean")
        throw py::value_error("metric must be 'sqeuclidean' or 'euclidean', got '" + metric + "'");
    if (!(reg > 0) || !std::isfinite(reg)) throw py::value_error("reg must be a finite number > 0");
    if (!(reg_m > 0)) throw py::value_error("reg_m must be > 0 (inf: balanced)");
    const SinkhornOptions opt = sinkhorn_bind::checked(options);
    sinkhorn_bind::no_anderson(opt, "the symmetric (debiasing) problems");
    std::vector<SinkhornInfo> info(1);
    std::vector<double> trace;
    T* fp = f.mutable_data();
    const T *xp = x.data(), *ap = a.data();
    run_without_gil([&] {
        sinkhorn_symmetric_cloud_cpu<T>(xp, n, d, metric == "euclidean", ap, static_cast<T>(reg), reg_m, opt, fp, info.data(),
                                        want_trace ? &trace : nullptr);
    });
    return sinkhorn_bind::info_dict(info, trace);
}

// Unbalanced log-domain Sinkhorn between point clouds x (n x d), y (m x d) (sinkhorn_unbalanced_cloud_cpu); f (n),
// g (m): log-scalings, updated in place. Returns dict(value <P, c>, row_mass, col_mass, status, niter, err, trace).
template <typename T>
py::dict unbalanced_cloud(py::array x_, py::array y_, py::array a_, py::array b_, double reg, py::array f_,
                          py::array g_, double reg_m1, double reg_m2, bool kl_ref, const std::string& metric,
                          const SinkhornOptions& options, bool want_trace) {
    auto x = as_carray<T>(x_, "x", 2);
    auto y = as_carray<T>(y_, "y", 2);
    auto a = as_carray<T>(a_, "a", 1);
    auto b = as_carray<T>(b_, "b", 1);
    auto f = as_carray<T>(f_, "f", 1);
    auto g = as_carray<T>(g_, "g", 1);
    const int64_t n = x.shape(0), m = y.shape(0), d = x.shape(1);
    if (y.shape(1) != d) throw py::value_error("x and y must have the same number of columns (dimension)");
    if (n == 0 || m == 0) throw py::value_error("sinkhorn_unbalanced_cloud: empty problem");
    if (a.shape(0) != n || f.shape(0) != n) throw py::value_error("sinkhorn_unbalanced_cloud: a and f must have n entries");
    if (b.shape(0) != m || g.shape(0) != m) throw py::value_error("sinkhorn_unbalanced_cloud: b and g must have m entries");
    if (metric != "sqeuclidean" && metric != "euclidean")
        throw py::value_error("metric must be 'sqeuclidean' or 'euclidean', got '" + metric + "'");
    if (!(reg > 0) || !std::isfinite(reg)) throw py::value_error("reg must be a finite number > 0");
    if (!(reg_m1 > 0) || !(reg_m2 > 0)) throw py::value_error("reg_m must be > 0 (inf: balanced)");
    const SinkhornOptions opt = sinkhorn_bind::checked(options);
    sinkhorn_bind::no_anderson(opt, "sinkhorn_unbalanced_cloud");
    py::array_t<T> row(n), col(m);
    T value = 0;
    std::vector<SinkhornInfo> info(1);
    std::vector<double> trace;
    T *fp = f.mutable_data(), *gp = g.mutable_data(), *rp = row.mutable_data(), *cp = col.mutable_data();
    const T *xp = x.data(), *yp = y.data(), *ap = a.data(), *bp = b.data();
    run_without_gil([&] {
        sinkhorn_unbalanced_cloud_cpu<T>(xp, yp, n, m, d, metric == "euclidean", ap, bp, static_cast<T>(reg), reg_m1,
                                         reg_m2, kl_ref, opt, fp, gp, &value, rp, cp, info.data(),
                                         want_trace ? &trace : nullptr);
    });
    py::dict out = sinkhorn_bind::info_dict(info, trace);
    out["value"] = py::float_(double(value));
    out["row_mass"] = row;
    out["col_mass"] = col;
    return out;
}

// nb independent problems (sinkhorn_batch_cpu): costs M (nb x n x m), or point clouds x (nb x n x d),
// y (nb x m x d) when M is None; A (nb x n), B (nb x m) weights; X (nb x n), Y (nb x m): initial and final
// scalings / log-scalings / potentials, updated in place. Returns dict(values, plans, status, niter, err).
template <typename T>
py::dict batch(py::object M_, py::object x_, py::object y_, py::array A_, py::array B_, double reg, py::array X_,
               py::array Y_, SinkhornMethod method, const std::string& metric, const SinkhornOptions& options,
               bool want_plans) {
    py::array_t<T, py::array::c_style> M, x, y;
    int64_t nb, n, m, d = 0;
    if (!M_.is_none()) {
        M = as_carray<T>(M_.cast<py::array>(), "M", 3);
        nb = M.shape(0), n = M.shape(1), m = M.shape(2);
    } else {
        x = as_carray<T>(x_.cast<py::array>(), "x", 3);
        y = as_carray<T>(y_.cast<py::array>(), "y", 3);
        nb = x.shape(0), n = x.shape(1), m = y.shape(1), d = x.shape(2);
        if (y.shape(0) != nb || y.shape(2) != d) throw py::value_error("sinkhorn_batch: x and y must be (B, n, d), (B, m, d)");
        if (metric != "sqeuclidean" && metric != "euclidean")
            throw py::value_error("metric must be 'sqeuclidean' or 'euclidean', got '" + metric + "'");
    }
    auto A = as_carray<T>(A_, "a", 2);
    auto Bh = as_carray<T>(B_, "b", 2);
    auto X = as_carray<T>(X_, "X", 2);
    auto Y = as_carray<T>(Y_, "Y", 2);
    if (nb == 0 || n == 0 || m == 0) throw py::value_error("sinkhorn_batch: empty problem");
    for (auto* arr : {&A, &X})
        if (arr->shape(0) != nb || arr->shape(1) != n) throw py::value_error("sinkhorn_batch: a and X must be (B, n)");
    for (auto* arr : {&Bh, &Y})
        if (arr->shape(0) != nb || arr->shape(1) != m) throw py::value_error("sinkhorn_batch: b and Y must be (B, m)");
    const SinkhornOptions opt = sinkhorn_bind::checked(options);
    if ((opt.omega != 1.0 || opt.omega_auto) && method == SinkhornMethod::STABILIZED)
        throw py::value_error("sinkhorn_batch: no over-relaxation (omega != 1) for the stabilized method");
    if (method != SinkhornMethod::LOG) sinkhorn_bind::no_annealing(opt, "the kernel-form and stabilized methods");
    if (method == SinkhornMethod::STABILIZED) sinkhorn_bind::no_anderson(opt, "the stabilized method");
    py::array_t<T> values(nb);
    py::array_t<T> plans = want_plans ? py::array_t<T>({nb, n, m}) : py::array_t<T>();
    std::vector<SinkhornInfo> info(nb);
    T *Xp = X.mutable_data(), *Yp = Y.mutable_data(), *vp = values.mutable_data();
    T* Pp = want_plans ? plans.mutable_data() : nullptr;
    const T *Mp = M_.is_none() ? nullptr : M.data(), *xp = M_.is_none() ? x.data() : nullptr;
    const T *yp = M_.is_none() ? y.data() : nullptr, *Ap = A.data(), *Bp = Bh.data();
    const bool euclid = metric == "euclidean";
    run_without_gil([&] {
        sinkhorn_batch_cpu<T>(Mp, xp, yp, d, euclid, nb, n, m, Ap, Bp, static_cast<T>(reg), method, opt, Xp, Yp, vp,
                              Pp, info.data());
    });
    for (int64_t k = 0; k < nb; ++k)  // a value that is not finite is never reported with status OK
        if (!std::isfinite(static_cast<double>(vp[k])) && info[k].status == OK) info[k].status = NUMERICAL_ERROR;
    py::dict out = sinkhorn_bind::info_dict(info, {});
    out["values"] = values;
    out["plans"] = want_plans ? py::object(plans) : py::none();
    return out;
}

template <typename T>
void def_unbalanced(py::module_& m, const char* name) {
    using namespace pybind11::literals;
    m.def(name, &unbalanced<T>, "M"_a, "Mk"_a, "a"_a, "B"_a, "reg"_a, "U"_a, "V"_a, py::kw_only(), "reg_m1"_a,
          "reg_m2"_a, "method"_a, "options"_a, "want_plan"_a = false, "want_value"_a = true, "want_trace"_a = false,
          "Unbalanced Sinkhorn on N problems sharing the kernel exp(-Mk / reg) (B: m x N); U, V: log-scalings,\n"
          "updated in place.");
}

}  // namespace

void bind_sinkhorn(py::module_& m) {
    sinkhorn_bind::bind_all<CpuSinkhorn>(m);  // (with the enums and SinkhornOptions)
    def_unbalanced<double>(m, "sinkhorn_unbalanced_f64");
    def_unbalanced<float>(m, "sinkhorn_unbalanced_f32");
    using namespace pybind11::literals;
    const char* doc = "Log-domain Sinkhorn between point clouds x (n x d), y (m x d), the costs computed on the fly;\n"
                      "X (n x N), Y (m x N): log-scalings, updated in place.";
    m.def("sinkhorn_cloud_f64", &cloud<double>, "x"_a, "y"_a, "a"_a, "B"_a, "reg"_a, "X"_a, "Y"_a, py::kw_only(),
          "metric"_a, "options"_a, "want_plan"_a = false, "want_value"_a = true, "want_trace"_a = false, doc);
    m.def("sinkhorn_cloud_f32", &cloud<float>, "x"_a, "y"_a, "a"_a, "B"_a, "reg"_a, "X"_a, "Y"_a, py::kw_only(),
          "metric"_a, "options"_a, "want_plan"_a = false, "want_value"_a = true, "want_trace"_a = false, doc);
    const char* sdoc = "The symmetric problem (a, a) on one point cloud x (n x d), averaged fixed point (debiasing terms);\n"
                       "f (n): log-scaling, updated in place.";
    m.def("sinkhorn_symmetric_cloud_f64", &symmetric_cloud<double>, "x"_a, "a"_a, "reg"_a, "f"_a, py::kw_only(),
          "metric"_a, "options"_a, "want_trace"_a = false, "reg_m"_a = HUGE_VAL, sdoc);
    m.def("sinkhorn_symmetric_cloud_f32", &symmetric_cloud<float>, "x"_a, "a"_a, "reg"_a, "f"_a, py::kw_only(),
          "metric"_a, "options"_a, "want_trace"_a = false, "reg_m"_a = HUGE_VAL, sdoc);
    const char* udoc = "Unbalanced log-domain Sinkhorn between point clouds x (n x d), y (m x d), costs computed in the\n"
                       "passes; f (n), g (m): log-scalings (P = exp(f + g - c / reg)), updated in place.";
    m.def("sinkhorn_unbalanced_cloud_f64", &unbalanced_cloud<double>, "x"_a, "y"_a, "a"_a, "b"_a, "reg"_a, "f"_a,
          "g"_a, py::kw_only(), "reg_m1"_a, "reg_m2"_a, "kl_ref"_a, "metric"_a, "options"_a, "want_trace"_a = false,
          udoc);
    m.def("sinkhorn_unbalanced_cloud_f32", &unbalanced_cloud<float>, "x"_a, "y"_a, "a"_a, "b"_a, "reg"_a, "f"_a,
          "g"_a, py::kw_only(), "reg_m1"_a, "reg_m2"_a, "kl_ref"_a, "metric"_a, "options"_a, "want_trace"_a = false,
          udoc);
    const char* bdoc = "nb independent Sinkhorn problems, one per thread: costs M (nb, n, m), or point clouds x (nb, n, d),\n"
                       "y (nb, m, d) when M is None; X (nb, n), Y (nb, m) updated in place.";
    m.def("sinkhorn_batch_f64", &batch<double>, "M"_a, "x"_a, "y"_a, "a"_a, "b"_a, "reg"_a, "X"_a, "Y"_a,
          py::kw_only(), "method"_a, "metric"_a = "sqeuclidean", "options"_a, "want_plans"_a = false, bdoc);
    m.def("sinkhorn_batch_f32", &batch<float>, "M"_a, "x"_a, "y"_a, "a"_a, "b"_a, "reg"_a, "X"_a, "Y"_a,
          py::kw_only(), "method"_a, "metric"_a = "sqeuclidean", "options"_a, "want_plans"_a = false, bdoc);
}

}  // namespace otkit
