// pybind11 bindings of the network simplex (csrc/cpu/emd_cpu.*).
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "bind/common_bind.h"
#include "cpu/emd_cpu.h"

namespace otkit {
namespace {

// The raw entry point refuses what the network simplex cannot solve (the Python layer checks first):
// weights that are negative or not finite, unequal total masses (relative 1e-9: otkit.emd rescales b to
// a's mass exactly), costs that are not finite. Numba: otkit/_numba/emd.py, _check_transport_problem.
void check_masses(int64_t n, int64_t m, const double* a, const double* b) {
    double sa = 0.0, sb = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        if (!(a[i] >= 0.0) || !std::isfinite(a[i]))
            throw py::value_error("emd_network_simplex: a[" + std::to_string(i) + "] = " + std::to_string(a[i]) +
                                  ": weights must be finite and >= 0");
        sa += a[i];
    }
    for (int64_t j = 0; j < m; ++j) {
        if (!(b[j] >= 0.0) || !std::isfinite(b[j]))
            throw py::value_error("emd_network_simplex: b[" + std::to_string(j) + "] = " + std::to_string(b[j]) +
                                  ": weights must be finite and >= 0");
        sb += b[j];
    }
    if (std::fabs(sa - sb) > 1e-9 * std::max(sa, sb))
        throw py::value_error("emd_network_simplex: a and b must have the same total mass (sum(a) = " +
                              std::to_string(sa) + ", sum(b) = " + std::to_string(sb) + ")");
}

void check_transport_problem(const double* M, int64_t n, int64_t m, const double* a, const double* b) {
    check_masses(n, m, a, b);
    for (int64_t k = 0; k < n * m; ++k)
        if (!std::isfinite(M[k]))
            throw py::value_error("emd_network_simplex: M[" + std::to_string(k / m) + ", " + std::to_string(k % m) +
                                  "] is not finite");
}

// Warm-start potentials alpha0 (n,), beta0 (m,): both or neither, finite. Returns whether given.
bool warm_potentials(const py::object& alpha0_, const py::object& beta0_, int64_t n, int64_t m,
                     py::array_t<double, py::array::c_style>* alpha0, py::array_t<double, py::array::c_style>* beta0) {
    if (alpha0_.is_none() != beta0_.is_none())
        throw py::value_error("emd_network_simplex: give both alpha0 and beta0, or neither");
    if (alpha0_.is_none()) return false;
    *alpha0 = as_carray<double>(alpha0_.cast<py::array>(), "alpha0", 1);
    *beta0 = as_carray<double>(beta0_.cast<py::array>(), "beta0", 1);
    if (alpha0->shape(0) != n || beta0->shape(0) != m)
        throw py::value_error("emd_network_simplex: alpha0 and beta0 must have lengths n and m");
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(alpha0->data()[i])) throw py::value_error("emd_network_simplex: alpha0 is not finite");
    for (int64_t j = 0; j < m; ++j)
        if (!std::isfinite(beta0->data()[j])) throw py::value_error("emd_network_simplex: beta0 is not finite");
    return true;
}

// emd_network_simplex(M, a, b, max_iter, alpha0=None, beta0=None, basis=None, return_basis=False)
//   -> (I, J, X, alpha, beta, cost, niter, status[, (parent, flow, warm)])
//   I, J (k,) int64 and X (k,) float64: the plan's support (k <= n + m - 1, X > 0)
//   alpha (n,), beta (m,): dual potentials, NaN on zero-mass rows/columns
//   alpha0, beta0: optional warm-start potentials (n,), (m,), finite (checked here)
//   basis: optional (parent int64 (n+m,), flow float64 (n+m,)) from an earlier solve with the same
//   a, b (see EmdBasis; refused -> cold start); return_basis: append (parent, flow, warm) where
//   warm tells whether the given basis was used
py::tuple network_simplex(py::array M_, py::array a_, py::array b_, int64_t max_iter, py::object alpha0_,
                          py::object beta0_, py::object basis_, bool return_basis) {
    auto M = as_carray<double>(M_, "M", 2);
    auto a = as_carray<double>(a_, "a", 1);
    auto b = as_carray<double>(b_, "b", 1);
    const int64_t n = M.shape(0), m = M.shape(1);
    if (a.shape(0) != n || b.shape(0) != m)
        throw py::value_error("emd_network_simplex: a and b must have lengths M.shape[0] and M.shape[1]");
    if (n == 0 || m == 0) throw py::value_error("emd_network_simplex: M is empty");
    if (max_iter < 0) throw py::value_error("numItermax must be >= 0");
    check_transport_problem(M.data(), n, m, a.data(), b.data());
    py::array_t<double, py::array::c_style> alpha0, beta0;
    const bool warm = warm_potentials(alpha0_, beta0_, n, m, &alpha0, &beta0);
    py::array_t<int64_t, py::array::c_style> bpar_in;
    py::array_t<double, py::array::c_style> bflow_in;
    const bool has_basis = !basis_.is_none();
    if (has_basis) {
        auto t = basis_.cast<py::tuple>();
        if (t.size() < 2) throw py::value_error("emd_network_simplex: basis must be (parent, flow)");
        bpar_in = as_carray<int64_t>(t[0].cast<py::array>(), "basis parent", 1);
        bflow_in = as_carray<double>(t[1].cast<py::array>(), "basis flow", 1);
        if (bpar_in.shape(0) != n + m || bflow_in.shape(0) != n + m)
            throw py::value_error("emd_network_simplex: basis arrays must have n + m entries");
    }
    py::array_t<int64_t> bpar_out(return_basis ? n + m : 0);
    py::array_t<double> bflow_out(return_basis ? n + m : 0);
    const int64_t cap = n + m - 1;
    py::array_t<int64_t> I(cap), J(cap);
    py::array_t<double> X(cap), alpha(n), beta(m);
    EmdInfo info;
    {
        const double *Mp = M.data(), *ap = a.data(), *bp = b.data();
        const double* a0 = warm ? alpha0.data() : nullptr;
        const double* b0 = warm ? beta0.data() : nullptr;
        EmdBasis bs;
        bs.n = n;
        bs.m = m;
        if (has_basis) {
            bs.parent_in = bpar_in.data();
            bs.flow_in = bflow_in.data();
        }
        if (return_basis) {
            bs.parent_out = bpar_out.mutable_data();
            bs.flow_out = bflow_out.mutable_data();
        }
        int64_t *Ip = I.mutable_data(), *Jp = J.mutable_data();
        double *Xp = X.mutable_data(), *al = alpha.mutable_data(), *be = beta.mutable_data();
        run_without_gil([&] { emd_network_simplex(Mp, n, m, ap, bp, max_iter, Ip, Jp, Xp, al, be, &info, a0, b0, &bs); });
    }
    I.resize({info.narcs});
    J.resize({info.narcs});
    X.resize({info.narcs});
    if (return_basis)
        return py::make_tuple(I, J, X, alpha, beta, info.cost, info.niter, info.status,
                              py::make_tuple(bpar_out, bflow_out, info.warm_basis != 0));
    return py::make_tuple(I, J, X, alpha, beta, info.cost, info.niter, info.status);
}

// emd_network_simplex_cloud(X, Y, a, b, max_iter, euclidean, alpha0=None, beta0=None)
//   -> (I, J, X, alpha, beta, cost, niter, status), as emd_network_simplex, with the costs
//   ||x_i - y_j||^2 (or ||x_i - y_j|| when euclidean) computed on the fly from X (n, d), Y (m, d)
py::tuple network_simplex_cloud(py::array X_, py::array Y_, py::array a_, py::array b_, int64_t max_iter,
                                bool euclidean, py::object alpha0_, py::object beta0_) {
    auto X = as_carray<double>(X_, "X", 2);
    auto Y = as_carray<double>(Y_, "Y", 2);
    auto a = as_carray<double>(a_, "a", 1);
    auto b = as_carray<double>(b_, "b", 1);
    const int64_t n = X.shape(0), m = Y.shape(0), d = X.shape(1);
    if (Y.shape(1) != d) throw py::value_error("emd_network_simplex_cloud: X and Y must have the same dimension");
    if (a.shape(0) != n || b.shape(0) != m)
        throw py::value_error("emd_network_simplex_cloud: a and b must have lengths X.shape[0] and Y.shape[0]");
    if (n == 0 || m == 0 || d == 0) throw py::value_error("emd_network_simplex_cloud: X or Y is empty");
    if (max_iter < 0) throw py::value_error("numItermax must be >= 0");
    check_masses(n, m, a.data(), b.data());
    for (int64_t k = 0; k < n * d; ++k)
        if (!std::isfinite(X.data()[k])) throw py::value_error("emd_network_simplex_cloud: X is not finite");
    for (int64_t k = 0; k < m * d; ++k)
        if (!std::isfinite(Y.data()[k])) throw py::value_error("emd_network_simplex_cloud: Y is not finite");
    py::array_t<double, py::array::c_style> alpha0, beta0;
    const bool warm = warm_potentials(alpha0_, beta0_, n, m, &alpha0, &beta0);
    const int64_t cap = n + m - 1;
    py::array_t<int64_t> I(cap), J(cap);
    py::array_t<double> P(cap), alpha(n), beta(m);
    EmdInfo info;
    {
        const double *Xp = X.data(), *Yp = Y.data(), *ap = a.data(), *bp = b.data();
        const double* a0 = warm ? alpha0.data() : nullptr;
        const double* b0 = warm ? beta0.data() : nullptr;
        int64_t *Ip = I.mutable_data(), *Jp = J.mutable_data();
        double *Pp = P.mutable_data(), *al = alpha.mutable_data(), *be = beta.mutable_data();
        run_without_gil([&] {
            emd_network_simplex_cloud(Xp, Yp, n, m, d, euclidean, ap, bp, max_iter, Ip, Jp, Pp, al, be, &info, a0, b0);
        });
    }
    I.resize({info.narcs});
    J.resize({info.narcs});
    P.resize({info.narcs});
    return py::make_tuple(I, J, P, alpha, beta, info.cost, info.niter, info.status);
}

}  // namespace

void bind_emd(py::module_& m) {
    using namespace pybind11::literals;
    m.def("emd_network_simplex", &network_simplex, "M"_a, "a"_a, "b"_a, "max_iter"_a, "alpha0"_a = py::none(),
          "beta0"_a = py::none(), "basis"_a = py::none(), "return_basis"_a = false,
          "Exact OT by the primal network simplex: (I, J, X, alpha, beta, cost, niter, status).");
    m.def("emd_network_simplex_cloud", &network_simplex_cloud, "X"_a, "Y"_a, "a"_a, "b"_a, "max_iter"_a,
          "euclidean"_a = false, "alpha0"_a = py::none(), "beta0"_a = py::none(),
          "Exact OT between point clouds, costs computed on the fly: (I, J, X, alpha, beta, cost, niter, status).");
}

}  // namespace otkit
