// pybind11 bindings of the semi-dual stochastic kernels (csrc/cpu/semidual_cpu.*).
// otkit/_numba/semidual.py defines the same functions with the same arguments and results.
// State arrays (v, G, d, vbar) and outputs (alpha, P, arg) are allocated by the Python layer
// and updated in place; every function returns an otkit::Status code.
#include <string>

#include "bind/common_bind.h"
#include "cpu/semidual_cpu.h"

namespace otkit {
namespace {

py::array_t<int64_t, py::array::c_style> as_index(const py::array& x, const char* name) {
    if (!py::isinstance<py::array_t<int64_t>>(x) || !(x.flags() & py::array::c_style) || x.ndim() != 1)
        throw py::type_error(std::string(name) + ": expected a C-contiguous 1-D int64 array");
    return py::array_t<int64_t, py::array::c_style>::ensure(x);
}

void need(bool ok, const char* msg) {
    if (!ok) throw py::value_error(msg);
}

template <typename T>
int sag(py::array M_, py::array a_, py::array b_, double reg, double lr, py::array idx_, py::array v_, py::array G_,
        py::array d_) {
    auto M = as_carray<T>(M_, "M", 2);
    auto a = as_carray<T>(a_, "a", 1);
    auto b = as_carray<T>(b_, "b", 1);
    auto idx = as_index(idx_, "idx");
    auto v = as_carray<T>(v_, "v", 1);
    auto G = as_carray<T>(G_, "G", 2);
    auto d = as_carray<T>(d_, "d", 1);
    const int64_t n = M.shape(0), m = M.shape(1);
    need(a.shape(0) == n && b.shape(0) == m && v.shape(0) == m && G.shape(0) == n && G.shape(1) == m &&
             d.shape(0) == m,
         "semidual_sag: inconsistent shapes");
    const T *Mp = M.data(), *ap = a.data(), *bp = b.data();
    const int64_t* ip = idx.data();
    const int64_t niter = idx.shape(0);
    T *vp = v.mutable_data(), *Gp = G.mutable_data(), *dp = d.mutable_data();
    return run_without_gil(
        [&] { return semidual_sag_cpu<T>(Mp, n, m, ap, bp, static_cast<T>(reg), static_cast<T>(lr), ip, niter, vp, Gp, dp); });
}

template <typename T>
int sgd(py::array C_, py::array b_, double reg, double lr, py::array idx_, int64_t batch, int64_t k0, bool averaged,
        py::array v_, py::array vbar_, int num_threads) {
    auto C = as_carray<T>(C_, "C", 2);
    auto b = as_carray<T>(b_, "b", 1);
    auto idx = as_index(idx_, "idx");
    auto v = as_carray<T>(v_, "v", 1);
    auto vbar = as_carray<T>(vbar_, "vbar", 1);
    const int64_t rows = C.shape(0), m = C.shape(1);
    need(batch >= 1, "semidual_sgd: batch must be >= 1");
    need(k0 >= 0, "semidual_sgd: k0 must be >= 0");
    need(idx.shape(0) % batch == 0, "semidual_sgd: len(idx) must be a multiple of batch");
    need(b.shape(0) == m && v.shape(0) == m && vbar.shape(0) == m, "semidual_sgd: inconsistent shapes");
    const T *Cp = C.data(), *bp = b.data();
    const int64_t* ip = idx.data();
    const int64_t nsteps = idx.shape(0) / batch;
    T *vp = v.mutable_data(), *vbp = vbar.mutable_data();
    return run_without_gil([&] {
        return semidual_sgd_cpu<T>(Cp, rows, m, bp, static_cast<T>(reg), static_cast<T>(lr), ip, nsteps, batch, k0,
                                   averaged, vp, vbp, check_num_threads(num_threads));
    });
}

// alpha (rows) is always filled; P (rows x m) and arg (rows) only when want_plan / want_arg
// (pass any array otherwise, e.g. an empty one).
template <typename T>
int ctransform(py::array C_, py::array b_, double reg, py::array v_, py::array alpha_, bool want_plan, py::array P_,
               bool want_arg, py::array arg_, int num_threads) {
    auto C = as_carray<T>(C_, "C", 2);
    auto b = as_carray<T>(b_, "b", 1);
    auto v = as_carray<T>(v_, "v", 1);
    auto alpha = as_carray<T>(alpha_, "alpha", 1);
    const int64_t rows = C.shape(0), m = C.shape(1);
    need(b.shape(0) == m && v.shape(0) == m && alpha.shape(0) == rows, "semidual_ctransform: inconsistent shapes");
    T* Pp = nullptr;
    py::array_t<T, py::array::c_style> P;
    if (want_plan) {
        P = as_carray<T>(P_, "P", 2);
        need(P.shape(0) == rows && P.shape(1) == m, "semidual_ctransform: P must be (rows, m)");
        Pp = P.mutable_data();
    }
    int64_t* argp = nullptr;
    py::array_t<int64_t, py::array::c_style> arg;
    if (want_arg) {
        arg = as_index(arg_, "arg");
        need(arg.shape(0) == rows, "semidual_ctransform: arg must be (rows,)");
        argp = arg.mutable_data();
    }
    const T *Cp = C.data(), *bp = b.data(), *vp = v.data();
    T* ap = alpha.mutable_data();
    py::gil_scoped_release release;
    return semidual_ctransform_cpu<T>(Cp, rows, m, bp, static_cast<T>(reg), vp, ap, Pp, argp, check_num_threads(num_threads));
}

template <typename T>
void def_all(py::module_& mod, const char* suffix) {
    using namespace pybind11::literals;
    mod.def((std::string("semidual_sag_") + suffix).c_str(), &sag<T>, "M"_a, "a"_a, "b"_a, "reg"_a, "lr"_a, "idx"_a,
            "v"_a, "G"_a, "d"_a,
            "SAG on the discrete semi-dual over the index stream idx; v, G, d updated in place. Returns a status.");
    mod.def((std::string("semidual_sgd_") + suffix).c_str(), &sgd<T>, "C"_a, "b"_a, "reg"_a, "lr"_a, "idx"_a,
            "batch"_a, "k0"_a, "averaged"_a, "v"_a, "vbar"_a, "num_threads"_a = 0,
            "(Averaged) mini-batch SGD on the semi-dual over cost rows C[idx]; v, vbar updated in place.");
    mod.def((std::string("semidual_ctransform_") + suffix).c_str(), &ctransform<T>, "C"_a, "b"_a, "reg"_a, "v"_a,
            "alpha"_a, "want_plan"_a, "P"_a, "want_arg"_a, "arg"_a, "num_threads"_a = 0,
            "c-transform alpha of v for every cost row (and the row softmax P, the argmax arg).");
}

}  // namespace

void bind_semidual(py::module_& m) {
    def_all<double>(m, "f64");
    def_all<float>(m, "f32");
}

}  // namespace otkit
