// pybind11 bindings of the network simplex (csrc/cpu/emd_cpu.*).
#include <tuple>

#include "bind/common_bind.h"
#include "cpu/emd_cpu.h"

namespace otkit {
namespace {

// emd_network_simplex(M, a, b, max_iter) -> (I, J, X, alpha, beta, cost, niter, status)
//   I, J (k,) int64 and X (k,) float64: the plan's support (k <= n + m - 1, X > 0)
//   alpha (n,), beta (m,): dual potentials, NaN on zero-mass rows/columns
py::tuple network_simplex(py::array M_, py::array a_, py::array b_, int64_t max_iter) {
    auto M = as_carray<double>(M_, "M", 2);
    auto a = as_carray<double>(a_, "a", 1);
    auto b = as_carray<double>(b_, "b", 1);
    const int64_t n = M.shape(0), m = M.shape(1);
    if (a.shape(0) != n || b.shape(0) != m)
        throw py::value_error("emd_network_simplex: a and b must have lengths M.shape[0] and M.shape[1]");
    if (n == 0 || m == 0) throw py::value_error("emd_network_simplex: M is empty");
    if (max_iter < 0) throw py::value_error("numItermax must be >= 0");
    const int64_t cap = n + m - 1;
    py::array_t<int64_t> I(cap), J(cap);
    py::array_t<double> X(cap), alpha(n), beta(m);
    EmdInfo info;
    {
        const double *Mp = M.data(), *ap = a.data(), *bp = b.data();
        int64_t *Ip = I.mutable_data(), *Jp = J.mutable_data();
        double *Xp = X.mutable_data(), *al = alpha.mutable_data(), *be = beta.mutable_data();
        py::gil_scoped_release release;
        emd_network_simplex(Mp, n, m, ap, bp, max_iter, Ip, Jp, Xp, al, be, &info);
    }
    I.resize({info.narcs});
    J.resize({info.narcs});
    X.resize({info.narcs});
    return py::make_tuple(I, J, X, alpha, beta, info.cost, info.niter, info.status);
}

}  // namespace

void bind_emd(py::module_& m) {
    using namespace pybind11::literals;
    m.def("emd_network_simplex", &network_simplex, "M"_a, "a"_a, "b"_a, "max_iter"_a,
          "Exact OT by the primal network simplex: (I, J, X, alpha, beta, cost, niter, status).");
}

}  // namespace otkit
