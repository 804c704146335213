// Block-sparse passes of multiscale Sinkhorn (see multiscale_cpu.h; the driver is otkit/multiscale.py).
#include "cpu/multiscale_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/cloud_costs.h"
#include "common/interrupt.h"
#include "common/omp_compat.h"
#include "common/otkit_common.h"
#include "common/threads.h"

namespace otkit {

namespace {

// The kept columns of cluster I as maximal contiguous ranges [first, second) of y's rows (blocks of
// neighbouring clusters are adjacent in memory when the clusters are sorted by grid cell).
inline void kept_segments(const int64_t* yoff, const int64_t* indptr, const int64_t* indices, int64_t I,
                          std::vector<std::pair<int64_t, int64_t>>& seg) {
    seg.clear();
    for (int64_t k = indptr[I]; k < indptr[I + 1]; ++k) {
        const int64_t J = indices[k], j0 = yoff[J], j1 = yoff[J + 1];
        if (!seg.empty() && seg.back().second == j0)
            seg.back().second = j1;
        else
            seg.emplace_back(j0, j1);
    }
}

// Lower bound of the cost between two clusters (centres p, q; radii rp, rq), by the triangle inequality,
// lowered by a relative 1e-12 for the rounding of the centre distance.
inline double cluster_cost_lb(const double* p, const double* q, double rp, double rq, int64_t d, bool euclidean) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) {
        const double t = p[c] - q[c];
        s += t * t;
    }
    const double gap = std::max(0.0, (std::sqrt(s) - rp - rq) * (1 - 1e-12));
    return euclidean ? gap : gap * gap;
}

inline bool in_sorted(const int64_t* first, const int64_t* last, int64_t v) {
    return std::binary_search(first, last, v);
}

}  // namespace

template <typename T>
void block_lse_cpu(const T* x, const T* yT, int64_t n, int64_t m, int64_t d, bool euclidean, const int64_t* xoff,
                   int64_t kx, const int64_t* yoff, int64_t ky, const int64_t* indptr, const int64_t* indices, T scale,
                   const T* g, T* lse, T* cbar, int num_threads) {
    (void)n;
    (void)ky;
    // entries per cluster (rows x kept columns): the work, and the longest row for the buffers
    std::vector<double> work(kx + 1, 0.0);
    int64_t maxlen = 0;
    for (int64_t I = 0; I < kx; ++I) {
        int64_t len = 0;
        for (int64_t k = indptr[I]; k < indptr[I + 1]; ++k) len += yoff[indices[k] + 1] - yoff[indices[k]];
        maxlen = std::max(maxlen, len);
        work[I + 1] = work[I] + double(len) * double(xoff[I + 1] - xoff[I]);
    }
    const double ns_per_entry = kNsPerExp + double(d) * kNsPerKernelEntry;
    const int nt = once_threads(work[kx] * ns_per_entry, num_threads);
    // chunks of about 0.1 s of one thread's work, with a Ctrl-C poll between them
    const double chunk_work = 1e8 / ns_per_entry;
    InterruptPoll poll;
    int64_t I0 = 0;
    while (I0 < kx) {
        poll.check();
        int64_t I1 = I0 + 1;
        while (I1 < kx && work[I1 + 1] - work[I0] < chunk_work) ++I1;
#pragma omp parallel num_threads(nt)
        {
            std::vector<T> C(static_cast<size_t>(maxlen)), Z(static_cast<size_t>(maxlen));
            std::vector<std::pair<int64_t, int64_t>> seg;
#pragma omp for schedule(dynamic, 1)
            for (int64_t I = I0; I < I1; ++I) {
                kept_segments(yoff, indptr, indices, I, seg);
                for (int64_t i = xoff[I]; i < xoff[I + 1]; ++i) {
                    // costs of the kept columns, then z = c * scale + g and its maximum
                    int64_t L = 0;
                    T mx = -std::numeric_limits<T>::infinity();
                    for (const auto& s : seg) {
                        const int64_t len = s.second - s.first;
                        cloud_cost_row(x + i * d, yT, m, d, s.first, len, euclidean, C.data() + L);
                        const T* gs = g + s.first;
                        const T* cs = C.data() + L;
                        T* zs = Z.data() + L;
#pragma omp simd reduction(max : mx)
                        for (int64_t k = 0; k < len; ++k) {
                            const T z = cs[k] * scale + gs[k];
                            zs[k] = z;
                            mx = mx > z ? mx : z;  // (this form vectorizes; std::max does not here)
                        }
                        L += len;
                    }
                    if (mx == -std::numeric_limits<T>::infinity()) {
                        lse[i] = mx;
                        if (cbar != nullptr) cbar[i] = T(0);
                        continue;
                    }
                    T s = 0, sc = 0;
                    const T* zp = Z.data();
                    const T* cp = C.data();
                    if (cbar != nullptr) {
#pragma omp simd reduction(+ : s, sc)
                        for (int64_t k = 0; k < L; ++k) {
                            const T e = fast_exp_nonpos_ftz(zp[k] - mx);
                            s += e;
                            sc += e * cp[k];
                        }
                        cbar[i] = sc / s;
                    } else {
#pragma omp simd reduction(+ : s)
                        for (int64_t k = 0; k < L; ++k) s += fast_exp_nonpos_ftz(zp[k] - mx);
                    }
                    lse[i] = mx + std::log(s);
                }
            }
        }
        I0 = I1;
    }
}

void block_mask_cpu(const double* cx, const double* rx, const double* phi, const double* logA, int64_t kx,
                    const double* cy, const double* ry, const double* psi, const double* logB, int64_t ky,
                    int64_t d, bool euclidean, double reg, double trunc, const int64_t* ref_indptr,
                    const int64_t* ref_indices, std::vector<int64_t>& indptr, std::vector<int64_t>& indices,
                    double* delta_rows, double* delta_cols, int num_threads) {
    // (delta_rows == nullptr: no bounds)
    const double ninf = -std::numeric_limits<double>::infinity();
    auto u = [&](int64_t I, int64_t J) {
        return phi[I] + psi[J] - cluster_cost_lb(cx + I * d, cy + J * d, rx[I], ry[J], d, euclidean) / reg;
    };
    const int nt = once_threads(double(kx) * double(ky) * double(d) * kNsPerKernelEntry * 3, num_threads);
    std::vector<std::vector<int64_t>> rows(kx);
    std::vector<char> col_kept(ky, 0);
    InterruptPoll poll;
    poll.check();
    // the kept blocks, row cluster by row cluster
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int64_t I = 0; I < kx; ++I) {
        if (logA[I] == ninf || phi[I] == ninf) continue;  // no mass: no row of I needs a column
        int64_t best = -1;
        double ubest = ninf;
        for (int64_t J = 0; J < ky; ++J) {
            if (logB[J] == ninf || psi[J] == ninf) continue;
            const double v = u(I, J);
            if (v > -trunc) rows[I].push_back(J);
            if (v > ubest || best < 0) ubest = v, best = J;
        }
        if (rows[I].empty() && best >= 0) rows[I].push_back(best);
    }
    for (int64_t I = 0; I < kx; ++I)
        for (int64_t J : rows[I]) col_kept[J] = 1;
    // a column cluster with mass and no kept block keeps its best one
    poll.check();
    std::vector<int64_t> col_best(ky, -1);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int64_t J = 0; J < ky; ++J) {
        if (col_kept[J] || logB[J] == ninf || psi[J] == ninf) continue;
        double ubest = ninf;
        for (int64_t I = 0; I < kx; ++I) {
            if (logA[I] == ninf || phi[I] == ninf) continue;
            const double v = u(I, J);
            if (v > ubest || col_best[J] < 0) ubest = v, col_best[J] = I;
        }
    }
    for (int64_t J = 0; J < ky; ++J) {
        const int64_t I = col_best[J];
        if (I < 0) continue;
        rows[I].insert(std::lower_bound(rows[I].begin(), rows[I].end(), J), J);
    }
    indptr.assign(kx + 1, 0);
    for (int64_t I = 0; I < kx; ++I) indptr[I + 1] = indptr[I] + int64_t(rows[I].size());
    indices.resize(indptr[kx]);
    for (int64_t I = 0; I < kx; ++I) std::copy(rows[I].begin(), rows[I].end(), indices.begin() + indptr[I]);
    rows.clear();
    rows.shrink_to_fit();
    // the bound of the blocks outside the reference mask (the new mask by default)
    if (delta_rows == nullptr) return;
    const int64_t* rp = ref_indptr != nullptr ? ref_indptr : indptr.data();
    const int64_t* ri = ref_indptr != nullptr ? ref_indices : indices.data();
    poll.check();
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int64_t I = 0; I < kx; ++I) {
        double s = 0;
        if (phi[I] != ninf) {
            for (int64_t J = 0; J < ky; ++J) {
                if (logB[J] == ninf || psi[J] == ninf || in_sorted(ri + rp[I], ri + rp[I + 1], J)) continue;
                s += std::exp(u(I, J) + logB[J]);
            }
        }
        delta_rows[I] = s;
    }
    poll.check();
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int64_t J = 0; J < ky; ++J) {
        double s = 0;
        if (psi[J] != ninf) {
            for (int64_t I = 0; I < kx; ++I) {
                if (logA[I] == ninf || phi[I] == ninf || in_sorted(ri + rp[I], ri + rp[I + 1], J)) continue;
                s += std::exp(u(I, J) + logA[I]);
            }
        }
        delta_cols[J] = s;
    }
}

template void block_lse_cpu<double>(const double*, const double*, int64_t, int64_t, int64_t, bool, const int64_t*,
                                    int64_t, const int64_t*, int64_t, const int64_t*, const int64_t*, double,
                                    const double*, double*, double*, int);
template void block_lse_cpu<float>(const float*, const float*, int64_t, int64_t, int64_t, bool, const int64_t*,
                                   int64_t, const int64_t*, int64_t, const int64_t*, const int64_t*, float, const float*,
                                   float*, float*, int);

}  // namespace otkit
