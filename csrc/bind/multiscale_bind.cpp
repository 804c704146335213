// pybind11 bindings of the block-sparse passes of multiscale Sinkhorn (csrc/cpu/multiscale_cpu.*).
#include <cmath>
#include <string>
#include <vector>

#include "bind/common_bind.h"
#include "cpu/multiscale_cpu.h"

namespace otkit {
namespace {

using i64_array = py::array_t<int64_t, py::array::c_style>;

i64_array as_index_array(const py::array& x, const char* name) {
    if (!py::isinstance<py::array_t<int64_t>>(x) || !(x.flags() & py::array::c_style) || x.ndim() != 1)
        throw py::type_error(std::string(name) + ": expected a C-contiguous 1-D int64 array");
    return i64_array::ensure(x);
}

// offsets of k clusters over `rows` points: k + 1 entries, 0 .. rows, non-decreasing
void check_offsets(const i64_array& off, int64_t rows, const char* name) {
    const int64_t* p = off.data();
    const int64_t k = off.shape(0) - 1;
    if (k < 1 || p[0] != 0 || p[k] != rows)
        throw py::value_error(std::string(name) + ": cluster offsets must start at 0 and end at the number of points");
    for (int64_t i = 0; i < k; ++i)
        if (p[i + 1] < p[i]) throw py::value_error(std::string(name) + ": cluster offsets must be non-decreasing");
}

// a CSR mask over kx row clusters and ky column clusters, indices increasing within a row
void check_mask(const i64_array& indptr, const i64_array& indices, int64_t kx, int64_t ky) {
    if (indptr.shape(0) != kx + 1) throw py::value_error("indptr must have one entry per row cluster, plus one");
    const int64_t* p = indptr.data();
    const int64_t* q = indices.data();
    if (p[0] != 0 || p[kx] != indices.shape(0)) throw py::value_error("indptr must run from 0 to len(indices)");
    for (int64_t I = 0; I < kx; ++I) {
        if (p[I + 1] < p[I]) throw py::value_error("indptr must be non-decreasing");
        for (int64_t k = p[I]; k < p[I + 1]; ++k)
            if (q[k] < 0 || q[k] >= ky || (k > p[I] && q[k] <= q[k - 1]))
                throw py::value_error("indices must be column clusters in range, increasing within each row cluster");
    }
}

bool euclidean_metric(const std::string& metric) {
    if (metric != "sqeuclidean" && metric != "euclidean")
        throw py::value_error("metric must be 'sqeuclidean' or 'euclidean', got '" + metric + "'");
    return metric == "euclidean";
}

template <typename T>
void block_lse(py::array x_, py::array yT_, py::array xoff_, py::array yoff_, py::array indptr_, py::array indices_,
               double scale, py::array g_, py::array lse_, const std::string& metric, py::object cbar_,
               py::object gbar_, int num_threads) {
    auto x = as_carray<T>(x_, "x", 2);
    auto yT = as_carray<T>(yT_, "yT", 2);
    auto g = as_carray<T>(g_, "g", 1);
    auto lse = as_carray<T>(lse_, "lse", 1);
    auto xoff = as_index_array(xoff_, "xoff"), yoff = as_index_array(yoff_, "yoff");
    auto indptr = as_index_array(indptr_, "indptr"), indices = as_index_array(indices_, "indices");
    const int64_t n = x.shape(0), d = x.shape(1), m = yT.shape(1);
    if (yT.shape(0) != d) throw py::value_error("block_lse: yT must be (d, m) with x (n, d)");
    if (g.shape(0) != m || lse.shape(0) != n) throw py::value_error("block_lse: g must have m entries, lse n");
    check_offsets(xoff, n, "xoff");
    check_offsets(yoff, m, "yoff");
    const int64_t kx = xoff.shape(0) - 1, ky = yoff.shape(0) - 1;
    check_mask(indptr, indices, kx, ky);
    const bool euclid = euclidean_metric(metric);
    T* cb = nullptr;
    py::array_t<T, py::array::c_style> cbar;
    if (!cbar_.is_none()) {
        cbar = as_carray<T>(cbar_.cast<py::array>(), "cbar", 1);
        if (cbar.shape(0) != n) throw py::value_error("block_lse: cbar must have n entries");
        cb = cbar.mutable_data();
    }
    T* gb = nullptr;
    py::array_t<T, py::array::c_style> gbar;
    if (!gbar_.is_none()) {
        gbar = as_carray<T>(gbar_.cast<py::array>(), "gbar", 2);
        if (gbar.shape(0) != n || gbar.shape(1) != d) throw py::value_error("block_lse: gbar must be (n, d)");
        gb = gbar.mutable_data();
    }
    const T *xp = x.data(), *yp = yT.data(), *gp = g.data();
    T* lp = lse.mutable_data();
    const int64_t *xo = xoff.data(), *yo = yoff.data(), *ip = indptr.data(), *ix = indices.data();
    const int nt = check_num_threads(num_threads);
    run_without_gil([&] {
        block_lse_cpu<T>(xp, yp, n, m, d, euclid, xo, kx, yo, ky, ip, ix, static_cast<T>(scale), gp, lp, cb, gb, nt);
    });
}

py::tuple block_mask(py::array cx_, py::array rx_, py::array phi_, py::array logA_, py::array cy_, py::array ry_,
                     py::array psi_, py::array logB_, double reg, double trunc, const std::string& metric,
                     py::object ref_indptr_, py::object ref_indices_, bool bounds, int num_threads) {
    auto cx = as_carray<double>(cx_, "cx", 2);
    auto cy = as_carray<double>(cy_, "cy", 2);
    auto rx = as_carray<double>(rx_, "rx", 1), phi = as_carray<double>(phi_, "phi", 1);
    auto logA = as_carray<double>(logA_, "logA", 1);
    auto ry = as_carray<double>(ry_, "ry", 1), psi = as_carray<double>(psi_, "psi", 1);
    auto logB = as_carray<double>(logB_, "logB", 1);
    const int64_t kx = cx.shape(0), ky = cy.shape(0), d = cx.shape(1);
    if (cy.shape(1) != d) throw py::value_error("block_mask: cx and cy must have the same dimension");
    if (rx.shape(0) != kx || phi.shape(0) != kx || logA.shape(0) != kx)
        throw py::value_error("block_mask: rx, phi, logA must have one entry per row cluster");
    if (ry.shape(0) != ky || psi.shape(0) != ky || logB.shape(0) != ky)
        throw py::value_error("block_mask: ry, psi, logB must have one entry per column cluster");
    if (!(reg > 0) || !std::isfinite(reg)) throw py::value_error("block_mask: reg must be a finite number > 0");
    if (!(trunc > 0)) throw py::value_error("block_mask: trunc must be > 0");
    const bool euclid = euclidean_metric(metric);
    const int64_t *rp = nullptr, *ri = nullptr;
    i64_array ref_indptr, ref_indices;
    if (!ref_indptr_.is_none()) {
        ref_indptr = as_index_array(ref_indptr_.cast<py::array>(), "ref_indptr");
        ref_indices = as_index_array(ref_indices_.cast<py::array>(), "ref_indices");
        check_mask(ref_indptr, ref_indices, kx, ky);
        rp = ref_indptr.data(), ri = ref_indices.data();
    }
    std::vector<int64_t> indptr, indices;
    py::array_t<double> drows(bounds ? kx : 0), dcols(bounds ? ky : 0);
    double *dr = bounds ? drows.mutable_data() : nullptr, *dc = bounds ? dcols.mutable_data() : nullptr;
    const int nt = check_num_threads(num_threads);
    run_without_gil([&] {
        block_mask_cpu(cx.data(), rx.data(), phi.data(), logA.data(), kx, cy.data(), ry.data(), psi.data(), logB.data(),
                       ky, d, euclid, reg, trunc, rp, ri, indptr, indices, dr, dc, nt);
    });
    py::array_t<int64_t> ip(indptr.size()), ix(indices.size());
    std::copy(indptr.begin(), indptr.end(), ip.mutable_data());
    std::copy(indices.begin(), indices.end(), ix.mutable_data());
    return py::make_tuple(ip, ix, drows, dcols);
}

}  // namespace

void bind_multiscale(py::module_& m) {
    using namespace pybind11::literals;
    const char* ldoc = "Row log-sum-exp over the kept blocks of a block mask between clustered point clouds:\n"
                       "lse_i = LSE_j (c(x_i, y_j) * scale + g_j); cbar (optional) the mean cost of each row, gbar (optional,\n"
                       "n x d) the mean of x_i - y_j (over ||x_i - y_j|| when euclidean) under the row's weights.";
    m.def("block_lse_f64", &block_lse<double>, "x"_a, "yT"_a, "xoff"_a, "yoff"_a, "indptr"_a, "indices"_a, "scale"_a,
          "g"_a, "lse"_a, py::kw_only(), "metric"_a = "sqeuclidean", "cbar"_a = py::none(), "gbar"_a = py::none(), "num_threads"_a = 0, ldoc);
    m.def("block_lse_f32", &block_lse<float>, "x"_a, "yT"_a, "xoff"_a, "yoff"_a, "indptr"_a, "indices"_a, "scale"_a,
          "g"_a, "lse"_a, py::kw_only(), "metric"_a = "sqeuclidean", "cbar"_a = py::none(), "gbar"_a = py::none(), "num_threads"_a = 0, ldoc);
    m.def("block_mask", &block_mask, "cx"_a, "rx"_a, "phi"_a, "logA"_a, "cy"_a, "ry"_a, "psi"_a, "logB"_a, "reg"_a,
          "trunc"_a, py::kw_only(), "metric"_a = "sqeuclidean", "ref_indptr"_a = py::none(),
          "ref_indices"_a = py::none(), "bounds"_a = true, "num_threads"_a = 0,
          "The truncation's block mask (indptr, indices) and the bounds (delta_rows, delta_cols) of the blocks\n"
          "outside the reference mask (the new one by default; empty arrays when bounds is False); see\n"
          "csrc/cpu/multiscale_cpu.h.");
}

}  // namespace otkit
