// pybind11 bindings of the barycenter kernels (csrc/cpu/barycenter_cpu.*). Float64 only.
// Every function returns dict(bar, status, niter, err, errs) (bary_conv2d_debiased: also U, V,
// POT's log["U"], log["V"]; bary_unbalanced*: also logu, logv); otkit/_numba/barycenter.py defines the
// same functions with the same arguments and results.
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bind/common_bind.h"
#include "cpu/barycenter_cpu.h"

namespace otkit {
namespace {

BaryOptions make_opts(int max_iter, double stop_thr, double tau, double stab_thr, int num_threads) {
    if (max_iter < 1) throw py::value_error("numItermax must be >= 1");
    BaryOptions o;
    o.max_iter = max_iter;
    o.stop_thr = stop_thr;
    o.tau = tau;
    o.stab_thr = stab_thr;
    o.num_threads = check_num_threads(num_threads);
    return o;
}

py::dict result(py::array_t<double> bar, const BaryInfo& info) {
    py::dict d;
    d["bar"] = bar;
    d["status"] = info.status;
    d["niter"] = info.niter;
    d["err"] = info.err;
    d["errs"] = info.errs;
    return d;
}

// The arrays of the fixed-support barycenters, converted and checked: M (d x d), A (d x N), weights (N).
struct FixedArrays {
    py::array_t<double, py::array::c_style> M, A, w;
    int64_t d, N;
    FixedArrays(py::array M_, py::array A_, py::array w_, double reg)
        : M(as_carray<double>(M_, "M", 2)), A(as_carray<double>(A_, "A", 2)), w(as_carray<double>(w_, "weights", 1)),
          d(A.shape(0)), N(A.shape(1)) {
        if (M.shape(0) != d || M.shape(1) != d)
            throw py::value_error("M must have shape (dim, dim) with dim = A.shape[0]");
        if (w.shape(0) != N) throw py::value_error("weights must have length A.shape[1]");
        if (!(reg > 0)) throw py::value_error("reg must be > 0");
    }
};

// kind: 0 kernel form, 1 log domain, 2 stabilized, 3 debiased kernel form, 4 debiased log domain
py::dict fixed(int kind, py::array M_, py::array A_, py::array w_, double reg, double tau, int max_iter,
               double stop_thr, int num_threads) {
    FixedArrays f(M_, A_, w_, reg);
    auto &M = f.M, &A = f.A, &w = f.w;
    const int64_t d = f.d, N = f.N;
    auto opt = make_opts(max_iter, stop_thr, tau, 0.0, num_threads);
    py::array_t<double> bar(d);
    BaryInfo info;
    {
        const double *Mp = M.data(), *Ap = A.data(), *wp = w.data();
        double* bp = bar.mutable_data();
        run_without_gil([&] {
            if (kind == 0)
                barycenter_sinkhorn_cpu(Mp, d, Ap, N, wp, reg, opt, bp, &info);
            else if (kind == 1)
                barycenter_log_cpu(Mp, d, Ap, N, wp, reg, opt, bp, &info);
            else if (kind == 2)
                barycenter_stabilized_cpu(Mp, d, Ap, N, wp, reg, opt, bp, &info);
            else if (kind == 3)
                barycenter_debiased_cpu(Mp, d, Ap, N, wp, reg, opt, bp, &info);
            else
                barycenter_debiased_log_cpu(Mp, d, Ap, N, wp, reg, opt, bp, &info);
        });
    }
    return result(bar, info);
}

// Unbalanced (stabilized: POT's absorption with tau): dict(bar, status, niter, err, errs, logu, logv)
py::dict unbalanced(py::array M_, py::array A_, py::array w_, double reg, double reg_m, bool stabilized, double tau,
                    int max_iter, double stop_thr, int num_threads) {
    FixedArrays f(M_, A_, w_, reg);
    auto &M = f.M, &A = f.A, &w = f.w;
    const int64_t d = f.d, N = f.N;
    if (!(reg_m > 0)) throw py::value_error("reg_m must be > 0 (inf: balanced)");
    auto opt = make_opts(max_iter, stop_thr, tau, 0.0, num_threads);
    py::array_t<double> bar(d), logu({d, N}), logv({d, N});
    BaryInfo info;
    {
        const double *Mp = M.data(), *Ap = A.data(), *wp = w.data();
        double *bp = bar.mutable_data(), *lu = logu.mutable_data(), *lv = logv.mutable_data();
        run_without_gil(
            [&] { barycenter_unbalanced_cpu(Mp, d, Ap, N, wp, reg, reg_m, stabilized, opt, bp, lu, lv, &info); });
    }
    py::dict out = result(bar, info);
    out["logu"] = logu;
    out["logv"] = logv;
    return out;
}

// kind: 0 kernel form, 1 log domain, 2 debiased kernel form (+ U, V), 3 debiased log domain
py::dict conv(int kind, py::array A_, py::array w_, double reg, int max_iter, double stop_thr, double stab_thr,
              int num_threads) {
    auto A = as_carray<double>(A_, "A", 3);
    auto w = as_carray<double>(w_, "weights", 1);
    const int64_t N = A.shape(0), R = A.shape(1), C = A.shape(2);
    if (w.shape(0) != N) throw py::value_error("weights must have length A.shape[0]");
    if (!(reg > 0)) throw py::value_error("reg must be > 0");
    auto opt = make_opts(max_iter, stop_thr, 0.0, stab_thr, num_threads);
    py::array_t<double> bar({R, C});
    py::array_t<double> U, V;
    if (kind == 2) {
        U = py::array_t<double>({N, R, C});
        V = py::array_t<double>({N, R, C});
    }
    BaryInfo info;
    {
        const double *Ap = A.data(), *wp = w.data();
        double* bp = bar.mutable_data();
        double *Up = kind == 2 ? U.mutable_data() : nullptr, *Vp = kind == 2 ? V.mutable_data() : nullptr;
        run_without_gil([&] {
            if (kind == 0)
                conv_barycenter2d_cpu(Ap, N, R, C, wp, reg, opt, bp, &info);
            else if (kind == 1)
                conv_barycenter2d_log_cpu(Ap, N, R, C, wp, reg, opt, bp, &info);
            else if (kind == 2)
                conv_barycenter2d_debiased_cpu(Ap, N, R, C, wp, reg, opt, bp, &info, Up, Vp);
            else
                conv_barycenter2d_debiased_log_cpu(Ap, N, R, C, wp, reg, opt, bp, &info);
        });
    }
    py::dict out = result(bar, info);
    if (kind == 2) {
        out["U"] = U;
        out["V"] = V;
    }
    return out;
}

}  // namespace

void bind_barycenter(py::module_& m) {
    using namespace pybind11::literals;
    m.def(
        "bary_sinkhorn",
        [](py::array M, py::array A, py::array w, double reg, int max_iter, double stop_thr, int num_threads) {
            return fixed(0, M, A, w, reg, 0.0, max_iter, stop_thr, num_threads);
        },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Fixed-support barycenter, kernel form (POT's barycenter_sinkhorn iterates).");
    m.def(
        "bary_sinkhorn_log",
        [](py::array M, py::array A, py::array w, double reg, int max_iter, double stop_thr, int num_threads) {
            return fixed(1, M, A, w, reg, 0.0, max_iter, stop_thr, num_threads);
        },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Fixed-support barycenter, log domain (POT's _barycenter_sinkhorn_log iterates).");
    m.def(
        "bary_sinkhorn_stabilized",
        [](py::array M, py::array A, py::array w, double reg, double tau, int max_iter, double stop_thr,
           int num_threads) { return fixed(2, M, A, w, reg, tau, max_iter, stop_thr, num_threads); },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "tau"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Fixed-support barycenter, stabilized kernel form (POT's barycenter_stabilized iterates).");
    m.def(
        "bary_unbalanced",
        [](py::array M, py::array A, py::array w, double reg, double reg_m, int max_iter, double stop_thr,
           int num_threads) { return unbalanced(M, A, w, reg, reg_m, false, 0.0, max_iter, stop_thr, num_threads); },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "reg_m"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Unbalanced fixed-support barycenter (POT's barycenter_unbalanced_sinkhorn iterates); also returns "
        "logu, logv.");
    m.def(
        "bary_unbalanced_stabilized",
        [](py::array M, py::array A, py::array w, double reg, double reg_m, double tau, int max_iter,
           double stop_thr, int num_threads) {
            return unbalanced(M, A, w, reg, reg_m, true, tau, max_iter, stop_thr, num_threads);
        },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "reg_m"_a, "tau"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Unbalanced fixed-support barycenter, stabilized (POT's barycenter_unbalanced_stabilized iterates).");
    m.def(
        "bary_conv2d",
        [](py::array A, py::array w, double reg, int max_iter, double stop_thr, double stab_thr, int num_threads) {
            return conv(0, A, w, reg, max_iter, stop_thr, stab_thr, num_threads);
        },
        "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "stab_thr"_a, "num_threads"_a = 0,
        "Convolutional barycenter of N images (N, h, w), separable Gaussian kernel.");
    m.def(
        "bary_conv2d_log",
        [](py::array A, py::array w, double reg, int max_iter, double stop_thr, double stab_thr, int num_threads) {
            return conv(1, A, w, reg, max_iter, stop_thr, stab_thr, num_threads);
        },
        "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "stab_thr"_a, "num_threads"_a = 0,
        "Convolutional barycenter of N images, log domain.");
    m.def(
        "bary_debiased",
        [](py::array M, py::array A, py::array w, double reg, int max_iter, double stop_thr, int num_threads) {
            return fixed(3, M, A, w, reg, 0.0, max_iter, stop_thr, num_threads);
        },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Fixed-support debiased barycenter, kernel form (POT's _barycenter_debiased iterates).");
    m.def(
        "bary_debiased_log",
        [](py::array M, py::array A, py::array w, double reg, int max_iter, double stop_thr, int num_threads) {
            return fixed(4, M, A, w, reg, 0.0, max_iter, stop_thr, num_threads);
        },
        "M"_a, "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "num_threads"_a = 0,
        "Fixed-support debiased barycenter, log domain (POT's _barycenter_debiased_log iterates).");
    m.def(
        "bary_conv2d_debiased",
        [](py::array A, py::array w, double reg, int max_iter, double stop_thr, double stab_thr, int num_threads) {
            return conv(2, A, w, reg, max_iter, stop_thr, stab_thr, num_threads);
        },
        "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "stab_thr"_a, "num_threads"_a = 0,
        "Debiased convolutional barycenter of N images (POT's _convolutional_barycenter2d_debiased); "
        "also returns the scalings U, V.");
    m.def(
        "bary_conv2d_debiased_log",
        [](py::array A, py::array w, double reg, int max_iter, double stop_thr, double stab_thr, int num_threads) {
            return conv(3, A, w, reg, max_iter, stop_thr, stab_thr, num_threads);
        },
        "A"_a, "weights"_a, "reg"_a, "max_iter"_a, "stop_thr"_a, "stab_thr"_a, "num_threads"_a = 0,
        "Debiased convolutional barycenter of N images, log domain (POT's "
        "_convolutional_barycenter2d_debiased_log).");
}

}  // namespace otkit
