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

}  // namespace

template <typename T>
void block_lse_cpu(const T* x, const T* yT, int64_t n, int64_t m, int64_t d, bool euclidean, const int64_t* xoff,
                   int64_t kx, const int64_t* yoff, int64_t ky, const int64_t* indptr, const int64_t* indices, T scale,
                   const T* g, T* lse, T* cbar, T* gbar, int num_threads) {
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
                        if (gbar != nullptr) std::fill(gbar + i * d, gbar + (i + 1) * d, T(0));
                        continue;
                    }
                    T s = 0;
                    T* zp = Z.data();
                    const T* cp = C.data();
                    if (cbar == nullptr && gbar == nullptr) {
#pragma omp simd reduction(+ : s)
                        for (int64_t k = 0; k < L; ++k) s += fast_exp_nonpos_ftz(zp[k] - mx);
                    } else {
                        // the plan's row weights e_k (kept in Z), then the means under them
                        T sc = 0;
#pragma omp simd reduction(+ : s, sc)
                        for (int64_t k = 0; k < L; ++k) {
                            const T e = fast_exp_nonpos_ftz(zp[k] - mx);
                            zp[k] = e;
                            s += e;
                            sc += e * cp[k];
                        }
                        if (cbar != nullptr) cbar[i] = sc / s;
                        if (gbar != nullptr) {
                            // sum_j e_j (x_i - y_j), divided by |x_i - y_j| (0 at x_i = y_j) when euclidean
                            for (int64_t c = 0; c < d; ++c) {
                                const T xc = x[i * d + c];
                                T acc = 0;
                                int64_t off = 0;
                                for (const auto& sg : seg) {
                                    const int64_t len = sg.second - sg.first;
                                    const T* yc = yT + c * m + sg.first;
                                    const T* ez = zp + off;
                                    const T* cz = cp + off;
                                    if (euclidean) {
#pragma omp simd reduction(+ : acc)
                                        for (int64_t k = 0; k < len; ++k)
                                            acc += cz[k] > T(0) ? ez[k] * (xc - yc[k]) / cz[k] : T(0);
                                    } else {
#pragma omp simd reduction(+ : acc)
                                        for (int64_t k = 0; k < len; ++k) acc += ez[k] * (xc - yc[k]);
                                    }
                                    off += len;
                                }
                                gbar[i * d + c] = acc / s;
                            }
                        }
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
    // One pass over the kx x ky cluster pairs, a row cluster at a time: u_IJ for all J (vectorized), the kept
    // blocks, the row's bound, and the column bounds and best rows accumulated per part (a fixed number of
    // parts, added in part order: the result does not depend on the number of threads). delta_rows == nullptr:
    // no bounds.
    const double ninf = -std::numeric_limits<double>::infinity();
    const bool bounds = delta_rows != nullptr;
    const bool use_ref = ref_indptr != nullptr;
    std::vector<double> cyT(static_cast<size_t>(d) * ky), psiv(ky);
    for (int64_t J = 0; J < ky; ++J) {
        for (int64_t c = 0; c < d; ++c) cyT[c * ky + J] = cy[J * d + c];
        psiv[J] = logB[J] == ninf ? ninf : psi[J];  // a cluster without mass is never needed
    }
    const int64_t parts = std::min<int64_t>(8, std::max<int64_t>(1, kx));
    const int64_t chunk = (kx + parts - 1) / parts;
    std::vector<double> col_sum(bounds ? static_cast<size_t>(parts) * ky : 0, 0.0);
    std::vector<double> col_best_u(static_cast<size_t>(parts) * ky, ninf);
    std::vector<int64_t> col_best_i(static_cast<size_t>(parts) * ky, -1);
    std::vector<std::vector<int64_t>> rows(kx);
    const int nt = once_threads(double(kx) * double(ky) * (double(d) + 4.0) * kNsPerKernelEntry, num_threads);
    InterruptPoll poll;
    poll.check();
    const double inv_reg = 1.0 / reg;
#pragma omp parallel num_threads(nt)
    {
        std::vector<double> u(ky);
#pragma omp for schedule(dynamic, 1)
        for (int64_t p = 0; p < parts; ++p) {
            double* csum = bounds ? col_sum.data() + p * ky : nullptr;
            double* cbu = col_best_u.data() + p * ky;
            int64_t* cbi = col_best_i.data() + p * ky;
            for (int64_t I = p * chunk; I < std::min(kx, (p + 1) * chunk); ++I) {
                if (bounds) delta_rows[I] = 0.0;
                if (logA[I] == ninf || phi[I] == ninf) continue;  // no mass: no row of I needs a column
                const double* xc = cx + I * d;
                const double ph = phi[I], rI = rx[I];
                double* up = u.data();
#pragma omp simd
                for (int64_t J = 0; J < ky; ++J) {
                    double s2 = 0;
                    for (int64_t c = 0; c < d; ++c) {
                        const double t = xc[c] - cyT[c * ky + J];
                        s2 += t * t;
                    }
                    // the cost lower bound (triangle inequality), lowered by 1e-12 relative for the rounding
                    double gap = (std::sqrt(s2) - rI - ry[J]) * (1 - 1e-12);
                    gap = gap > 0 ? gap : 0.0;
                    up[J] = ph + psiv[J] - (euclidean ? gap : gap * gap) * inv_reg;
                }
                std::vector<int64_t>& kept = rows[I];
                int64_t best = -1;
                double ubest = ninf;
                for (int64_t J = 0; J < ky; ++J) {
                    const double v = up[J];
                    if (v == ninf) continue;
                    if (v > -trunc) kept.push_back(J);
                    if (v > ubest || best < 0) ubest = v, best = J;
                    if (v > cbu[J]) cbu[J] = v, cbi[J] = I;
                }
                if (kept.empty() && best >= 0) kept.push_back(best);
                if (!bounds) continue;
                // the blocks outside the reference mask (or the kept ones): drop the others from u, then sum
                const int64_t* lb = use_ref ? ref_indices + ref_indptr[I] : kept.data();
                const int64_t* le = use_ref ? ref_indices + ref_indptr[I + 1] : kept.data() + kept.size();
                for (const int64_t* q = lb; q < le; ++q) up[*q] = ninf;
                double rs = 0;
                const double la = logA[I];
#pragma omp simd reduction(+ : rs)
                for (int64_t J = 0; J < ky; ++J) {
                    rs += fast_exp(up[J] + logB[J]);
                    csum[J] += fast_exp(up[J] + la);
                }
                delta_rows[I] = rs;
            }
        }
    }
    poll.check();
    // a column cluster with mass and no kept block keeps its best row cluster
    std::vector<char> col_kept(ky, 0);
    for (int64_t I = 0; I < kx; ++I)
        for (int64_t J : rows[I]) col_kept[J] = 1;
    for (int64_t J = 0; J < ky; ++J) {
        if (col_kept[J] || psiv[J] == ninf) continue;
        int64_t I = -1;
        double ub = ninf;
        for (int64_t p = 0; p < parts; ++p)
            if (col_best_i[p * ky + J] >= 0 && (I < 0 || col_best_u[p * ky + J] > ub))
                ub = col_best_u[p * ky + J], I = col_best_i[p * ky + J];
        if (I >= 0) rows[I].insert(std::lower_bound(rows[I].begin(), rows[I].end(), J), J);
    }
    indptr.assign(kx + 1, 0);
    for (int64_t I = 0; I < kx; ++I) indptr[I + 1] = indptr[I] + int64_t(rows[I].size());
    indices.resize(indptr[kx]);
    for (int64_t I = 0; I < kx; ++I) std::copy(rows[I].begin(), rows[I].end(), indices.begin() + indptr[I]);
    if (bounds) {
        for (int64_t J = 0; J < ky; ++J) {
            double s = 0;
            for (int64_t p = 0; p < parts; ++p) s += col_sum[p * ky + J];
            delta_cols[J] = s;
        }
    }
}

template void block_lse_cpu<double>(const double*, const double*, int64_t, int64_t, int64_t, bool, const int64_t*,
                                    int64_t, const int64_t*, int64_t, const int64_t*, const int64_t*, double,
                                    const double*, double*, double*, double*, int);
template void block_lse_cpu<float>(const float*, const float*, int64_t, int64_t, int64_t, bool, const int64_t*,
                                   int64_t, const int64_t*, int64_t, const int64_t*, const int64_t*, float, const float*,
                                   float*, float*, float*, int);

}  // namespace otkit
