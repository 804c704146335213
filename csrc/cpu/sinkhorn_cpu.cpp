// Sinkhorn matrix scaling on the CPU.
//
// Kernel form (Cuturi 2013), in POT's order of updates: at iteration ii
//     v = b / (K^T u),   u = a / (K v),
// and, when ii % check_every == 0, err = || v * (K^T u) - b ||_2 (the column-marginal violation).
// A naive implementation reads K twice per iteration (K v and K^T u) plus once per check.
// Here one *fused pass* computes, row by row, (K v)_i -> u_i and immediately accumulates
// K_ij u_i into K^T u while row i is still in cache: K is read from memory once per
// iteration, and the marginal error comes for free (K^T u of the next iteration).
//
// Log-domain form: the same fused pass on log-scalings, with a row log-sum-exp and a
// column log-sum-exp accumulated tile by tile (running maxima, one rescale per tile).
#include "cpu/sinkhorn_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <memory>
#include <type_traits>
#include <vector>

#include "common/anderson.h"
#include "common/cloud_costs.h"
#include "common/interrupt.h"
#include "common/otkit_common.h"
#include "common/sinkhorn_rules.h"

#include "common/omp_compat.h"
#include "common/threads.h"

namespace otkit {


namespace {

// The fixed parts of a pass and the threads that run them this iteration (thread t takes parts
// t, t + threads, ...); results depend on `parts` only.
struct Team {
    int parts;
    int threads;
};

template <typename T>
bool all_finite(const T* x, int64_t n) {
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= is_finite(x[i]);
    return ok;
}

// out[e] = sum over the nt per-thread accumulators acc[t * len + e]; called by every thread of a
// parallel region (orphaned omp for: the entries are split between the threads).
template <typename T>
void reduce_threads(const std::vector<T>& acc, int nt, int64_t len, T* out) {
#pragma omp for schedule(static)
    for (int64_t e = 0; e < len; ++e) {
        T sum = 0;
        for (int tt = 0; tt < nt; ++tt) sum += acc[static_cast<size_t>(tt) * len + e];
        out[e] = sum;
    }
}

// ---------------------------------------------------------------------------------------
// Kernel form
// ---------------------------------------------------------------------------------------

// Micro-kernels of the batched pass on a block of R rows of K (Kb, row stride m) and KC packed
// columns from kc (row stride ld of the packed arrays).
// dot_tile: s[r][k] = sum_j K[r, j] v[j, kc + k], the R x KC tile held in registers over j.
template <typename T, int R, int KC>
inline void dot_tile(const T* Kb, int64_t m, const T* v, int64_t ld, int64_t kc, T (&s)[R][KC]) {
    T acc[R][KC] = {};
    for (int64_t j = 0; j < m; ++j) {
        const T* vj = v + j * ld + kc;
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const T kr = Kb[r * m + j];
#pragma omp simd
            for (int k = 0; k < KC; ++k) acc[r][k] += kr * vj[k];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int k = 0; k < KC; ++k) s[r][k] = acc[r][k];
}
// acc_tile: my[j, kc + k] += sum_r K[r, j] u[r, kc + k], the R x KC tile of u held in registers over j.
template <typename T, int R, int KC>
inline void acc_tile(const T* Kb, int64_t m, const T* u, int64_t ld, int64_t kc, T* my) {
    T ut[R][KC];
    for (int r = 0; r < R; ++r)
        for (int k = 0; k < KC; ++k) ut[r][k] = u[r * ld + kc + k];
    for (int64_t j = 0; j < m; ++j) {
        T* accj = my + j * ld + kc;
        T x[KC];
#pragma omp simd
        for (int k = 0; k < KC; ++k) x[k] = accj[k];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const T kr = Kb[r * m + j];
#pragma omp simd
            for (int k = 0; k < KC; ++k) x[k] += kr * ut[r][k];
        }
#pragma omp simd
        for (int k = 0; k < KC; ++k) accj[k] = x[k];
    }
}

// In the parallel regions of the kernel form: for float32, subnormal results and operands are flushed to
// zero in this thread (x86 MXCSR FTZ | DAZ, restored at the end of the region). At small reg the scalings
// and the products u_i K_ij span more than float32's normal range, and each subnormal operation is many
// times slower on x86 (100 iterations at n = 4096, reg 0.01: 3.4 s, 1.1 s with K flushed, see kernel_exp).
// float64 is untouched (bit-identical results); other architectures: no-op.
template <typename T>
struct FlushSubnormals {};
#if defined(__SSE__)
template <>
struct FlushSubnormals<float> {
    unsigned int saved = _mm_getcsr();
    FlushSubnormals() { _mm_setcsr(saved | 0x8040u); }  // FTZ (bit 15) | DAZ (bit 6)
    ~FlushSubnormals() { _mm_setcsr(saved); }
};
#endif

// An entry of K = exp(-M / reg). float32 flushes results below FLT_MIN (exp(x), x < -87.3) to 0: subnormal
// operands make every multiply-add of the iterations that reads them many times slower on x86 (float32
// ran 100 iterations at n = 4096, reg 0.01, 3% subnormal entries, in 3.4 s against 0.71 s for float64),
// and they hold fewer than 24 significant bits anyway. float64 keeps them (they need x < -708).
template <typename T>
inline T kernel_exp(T x) {
    return fast_exp(x);
}
template <>
inline float kernel_exp<float>(float x) {
    const float v = fast_exp(x);
    return v < std::numeric_limits<float>::min() ? 0.0f : v;
}

// K = exp(-M / reg) and, fused, ktu = K^T u0 (u0: n x N, N = 1 or a multiple of 8).
template <typename T>
void build_kernel(const T* M, int64_t n, int64_t m, T reg, T* K, const T* u0, int64_t N, T* ktu,
                  std::vector<T>& acc, int nthreads) {
    const T scale = T(-1) / reg;
    constexpr int R = 8;
    acc.assign(static_cast<size_t>(nthreads) * m * N, T(0));
#pragma omp parallel num_threads(nthreads)
    {
        [[maybe_unused]] const FlushSubnormals<T> flush_guard;
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        T* my = acc.data() + static_cast<size_t>(t) * m * N;
        if (N == 1) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; ++i) {
                const T* Mi = M + i * m;
                T* Ki = K + i * m;
#pragma omp simd
                for (int64_t j = 0; j < m; ++j) Ki[j] = kernel_exp(Mi[j] * scale);
                const T ui = u0[i];
#pragma omp simd
                for (int64_t j = 0; j < m; ++j) my[j] += Ki[j] * ui;
            }
        } else {  // blocks of R rows: exp, then K^T u0 by the register-tiled acc_tile while they are in cache
            const int64_t nb = (n + R - 1) / R;
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nb; ++blk) {
                const int64_t i0 = blk * R, i1 = std::min(n, i0 + R);
                for (int64_t i = i0; i < i1; ++i) {
                    const T* Mi = M + i * m;
                    T* Ki = K + i * m;
#pragma omp simd
                    for (int64_t j = 0; j < m; ++j) Ki[j] = kernel_exp(Mi[j] * scale);
                }
                const T* Kb = K + i0 * m;
                const T* ub = u0 + i0 * N;
                if (i1 - i0 == R) {
                    int64_t kc = 0;
                    for (; kc + 16 <= N; kc += 16) acc_tile<T, R, 16>(Kb, m, ub, N, kc, my);
                    if (kc < N) acc_tile<T, R, 8>(Kb, m, ub, N, kc, my);
                } else {
                    for (int64_t i = i0; i < i1; ++i) {
                        const T* Ki = K + i * m;
                        const T* ui = u0 + i * N;
                        for (int64_t j = 0; j < m; ++j) {
                            const T kij = Ki[j];
                            T* row = my + j * N;
#pragma omp simd
                            for (int64_t k = 0; k < N; ++k) row[k] += kij * ui[k];
                        }
                    }
                }
            }
        }
        reduce_threads(acc, nt, m * N, ktu);
    }
}

// One fused pass, N = 1: u_i = a_i / (K v)_i, ktu = K^T u.
// Rows go in blocks of 4, software-pipelined: one sweep over j adds the 4 scaled rows of block b
// (still in cache) to the K^T u accumulator *and* computes the 4 dot products (K v)_i of block b+1,
// streamed from memory. K is read from memory once per iteration, with the memory stream never
// idle, and v and the accumulator cross the cache once per 4 rows. Each thread takes a contiguous
// range of blocks and has its own accumulator.
template <typename T, class Rule>
inline void update_u4(const T* a, int64_t i0, const T* s, T* u, const Rule& rule, T* uu) {
    for (int r = 0; r < 4; ++r) {
        const T ui = rule(a[i0 + r], s[r], u[i0 + r], i0 + r);
        u[i0 + r] = ui;
        uu[r] = ui;
    }
}

template <typename T, class Rule>
void fused_pass_single(const T* K, int64_t n, int64_t m, const T* a, const T* v, T* u, T* ktu,
                       std::vector<T>& acc, Team team, const Rule& rule) {
    acc.resize(static_cast<size_t>(team.parts) * m);
    const int64_t nfull = n / 4;  // full blocks of 4 rows; the n % 4 last rows are done alone
#pragma omp parallel num_threads(team.threads)
    {
        [[maybe_unused]] const FlushSubnormals<T> flush_guard;
      for (int p = omp_get_thread_num(); p < team.parts; p += omp_get_num_threads()) {
        T* my = acc.data() + static_cast<size_t>(p) * m;
        std::fill(my, my + m, T(0));
        const int64_t b0 = nfull * p / team.parts, b1 = nfull * (p + 1) / team.parts;
        T s[4], uu[4];
        if (b0 < b1) {  // prologue: dot products of the first block
            const T* K0 = K + b0 * 4 * m;
            T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int64_t j = 0; j < m; ++j) {
                const T vj = v[j];
                s0 += K0[j] * vj;
                s1 += K0[m + j] * vj;
                s2 += K0[2 * m + j] * vj;
                s3 += K0[3 * m + j] * vj;
            }
            s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
        }
        for (int64_t blk = b0; blk < b1; ++blk) {
            update_u4(a, blk * 4, s, u, rule, uu);
            const T* Kb = K + blk * 4 * m;
            const T u0 = uu[0], u1 = uu[1], u2 = uu[2], u3 = uu[3];
            if (blk + 1 < b1) {
                const T* Kn = Kb + 4 * m;
                T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                for (int64_t j = 0; j < m; ++j) {
                    my[j] += Kb[j] * u0 + Kb[m + j] * u1 + Kb[2 * m + j] * u2 + Kb[3 * m + j] * u3;
                    const T vj = v[j];
                    s0 += Kn[j] * vj;
                    s1 += Kn[m + j] * vj;
                    s2 += Kn[2 * m + j] * vj;
                    s3 += Kn[3 * m + j] * vj;
                }
                s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
            } else {
#pragma omp simd
                for (int64_t j = 0; j < m; ++j)
                    my[j] += Kb[j] * u0 + Kb[m + j] * u1 + Kb[2 * m + j] * u2 + Kb[3 * m + j] * u3;
            }
        }
        if (p == team.parts - 1) {  // the last n % 4 rows
            for (int64_t i = nfull * 4; i < n; ++i) {
                const T* Ki = K + i * m;
                T si = 0;
#pragma omp simd reduction(+ : si)
                for (int64_t j = 0; j < m; ++j) si += Ki[j] * v[j];
                const T ui = rule(a[i], si, u[i], i);
                u[i] = ui;
                if (ui != T(0)) {
#pragma omp simd
                    for (int64_t j = 0; j < m; ++j) my[j] += Ki[j] * ui;
                }
            }
        }
      }
#pragma omp barrier
        reduce_threads(acc, team.parts, m, ktu);
    }
}

// One fused pass on na packed columns stored with row stride ld (a multiple of 8 >= na; the
// padding columns hold v = 0 and get u = 0): U = a / (K V), KTU = K^T U. Register-blocked: rows
// in blocks of R = 8, columns in chunks of 16 (two AVX-512 vectors of doubles; a last chunk of 8),
// so that each K entry loaded serves 16 multiply-adds. dot_tile keeps the 8 x 16 tile of (K V) in
// registers over a row of K, acc_tile the 8 x 16 tile of U while the accumulator rows stream by.
template <typename T, class Rule>
void fused_pass_multi(const T* K, int64_t n, int64_t m, const T* a, const T* v, T* u, T* ktu, int64_t na,
                      int64_t ld, std::vector<T>& acc, Team team, const Rule& rule) {
    constexpr int R = 8;
    acc.resize(static_cast<size_t>(team.parts) * m * ld);
    const int64_t nb = n / R;  // full row blocks; the n % R last rows go one by one
#pragma omp parallel num_threads(team.threads)
    {
        [[maybe_unused]] const FlushSubnormals<T> flush_guard;
      for (int p = omp_get_thread_num(); p < team.parts; p += omp_get_num_threads()) {
        T* my = acc.data() + static_cast<size_t>(p) * m * ld;
        std::fill(my, my + m * ld, T(0));
        auto set_u = [&](int64_t i, int64_t k, T sik) {  // u_ik from (K v)_ik, padding -> 0
            T* ui = u + i * ld + k;
            *ui = k >= na ? T(0) : rule(a[i], sik, *ui, i);
        };
        const int64_t b0 = nb * p / team.parts, b1 = nb * (p + 1) / team.parts;
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t i0 = blk * R;
            const T* Kb = K + i0 * m;
            int64_t kc = 0;
            for (; kc + 16 <= ld; kc += 16) {
                T s[R][16];
                dot_tile<T, R, 16>(Kb, m, v, ld, kc, s);
                for (int r = 0; r < R; ++r)
                    for (int k = 0; k < 16; ++k) set_u(i0 + r, kc + k, s[r][k]);
            }
            if (kc < ld) {  // ld is a multiple of 8
                T s[R][8];
                dot_tile<T, R, 8>(Kb, m, v, ld, kc, s);
                for (int r = 0; r < R; ++r)
                    for (int k = 0; k < 8; ++k) set_u(i0 + r, kc + k, s[r][k]);
            }
            const T* ub = u + i0 * ld;
            for (kc = 0; kc + 16 <= ld; kc += 16) acc_tile<T, R, 16>(Kb, m, ub, ld, kc, my);
            if (kc < ld) acc_tile<T, R, 8>(Kb, m, ub, ld, kc, my);
        }
        if (p == team.parts - 1) {  // the last n % R rows
            std::vector<T> srow(ld);
            for (int64_t i = nb * R; i < n; ++i) {
                const T* Ki = K + i * m;
                std::fill(srow.begin(), srow.end(), T(0));
                for (int64_t j = 0; j < m; ++j) {
                    const T kij = Ki[j];
                    const T* vj = v + j * ld;
#pragma omp simd
                    for (int64_t k = 0; k < ld; ++k) srow[k] += kij * vj[k];
                }
                for (int64_t k = 0; k < ld; ++k) set_u(i, k, srow[k]);
                const T* ui = u + i * ld;
                for (int64_t j = 0; j < m; ++j) {
                    const T kij = Ki[j];
                    T* accj = my + j * ld;
#pragma omp simd
                    for (int64_t k = 0; k < ld; ++k) accj[k] += kij * ui[k];
                }
            }
        }
      }
#pragma omp barrier
        reduce_threads(acc, team.parts, m * ld, ktu);
    }
}

// Copy columns `cols` of X (rows x ldx) into packed Y (rows x ldy, padding columns zeroed).
template <typename T>
void pack_cols(const T* X, int64_t rows, int64_t ldx, const std::vector<int64_t>& cols, T* Y, int64_t ldy) {
    const int64_t na = static_cast<int64_t>(cols.size());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < na; ++k) Y[r * ldy + k] = X[r * ldx + cols[k]];
        for (int64_t k = na; k < ldy; ++k) Y[r * ldy + k] = T(0);
    }
}
template <typename T>
void unpack_col(const T* Y, int64_t rows, int64_t ldy, int64_t kp, T* X, int64_t ldx, int64_t col) {
    for (int64_t r = 0; r < rows; ++r) X[r * ldx + col] = Y[r * ldy + kp];
}

// Row stride of the packed arrays for na active columns.
inline int64_t packed_ld(int64_t na) { return na == 1 ? 1 : (na + 7) / 8 * 8; }

}  // namespace

template <typename T>
void sinkhorn_knopp_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg,
                        const SinkhornOptions& opt, T* U, T* V, T* values, T* plan,
                        SinkhornInfo* info, std::vector<double>* trace) {
    if (N <= 0) return;  // no histogram: nothing to do (the N = 1 code below would read U[0])
    // one pass: a streamed multiply-add per entry of K and per column (register-tiled when N > 1)
    const double pass_ns = double(n) * double(m) * (kNsPerKernelEntry + (N > 1 ? 2.0 * kNsPerTiledFma * double(N) : 0.0));
    const int nthreads = plan_parts(pass_ns, opt.num_threads);
    ThreadTuner tuner(nthreads, N == 1 ? TUNE_SINKHORN : TUNE_SINKHORN_BATCH, double(n) * double(m) * double(N));
    big_buffer<T> Kstore;  // uninitialized: build_kernel writes every entry
    T* K = plan;  // the plan buffer, when given, holds K until the final scaling
    if (K == nullptr || N != 1) {
        Kstore = alloc_big<T>(static_cast<size_t>(n) * m);
        K = Kstore.get();
    }
    std::vector<T> acc;

    // Active (not yet converged) columns, packed contiguously with row stride ld.
    std::vector<int64_t> cols(N);
    for (int64_t k = 0; k < N; ++k) cols[k] = k;
    int64_t na = N, ld = packed_ld(N);
    std::vector<T> Up(n * ld), Vp(m * ld), Bp(m * ld), Ktu(m * ld), KtuNew(m * ld), Uprev(n * ld), Vprev(m * ld);
    pack_cols(U, n, N, cols, Up.data(), ld);
    pack_cols(V, m, N, cols, Vp.data(), ld);
    pack_cols(B, m, N, cols, Bp.data(), ld);
    std::vector<double> lastErr(N, 1.0);
    for (int64_t k = 0; k < N; ++k) info[k] = SinkhornInfo{MAX_ITER, 0, 1.0};

    build_kernel(M, n, m, reg, K, Up.data(), ld, Ktu.data(), acc, nthreads);

    std::vector<char> done(N, 0);
    std::vector<char> bad(N, 0);
    OmegaGuard guard(opt);
    double omega_eff = 1.0;
    // Anderson on log v (single problem): exp of the mixed log-scalings must stay a normal number
    AndersonMixer anderson(N == 1 ? opt.anderson : 0, m, std::log(double(std::numeric_limits<T>::min())) + 1.0,
                           std::log(double(std::numeric_limits<T>::max())) - 1.0);
    int ii = 0;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (outside the parallel regions)
    for (ii = 0; ii < opt.max_iter && na > 0; ++ii) {
        poll.check();
        std::copy(Up.begin(), Up.begin() + n * ld, Uprev.begin());
        std::copy(Vp.begin(), Vp.begin() + m * ld, Vprev.begin());
        std::fill(bad.begin(), bad.begin() + na, 0);
        // v = b / K^T u
        const BalancedRule<T> rule{static_cast<T>(omega_eff)};
        for (int64_t j = 0; j < m; ++j) {
            for (int64_t k = 0; k < na; ++k) {
                const int64_t e = j * ld + k;
                const T kt = Ktu[e];
                if (Bp[e] == T(0)) {  // empty column: v_j = 0 (also when K^T u = 0 there)
                    Vp[e] = T(0);
                    continue;
                }
                const T vj = rule(Bp[e], kt, Vp[e], j);
                Vp[e] = vj;
                if (kt == T(0) || !is_finite(vj)) bad[k] = 1;
            }
        }
        if (anderson.enabled() && !bad[0])  // v <- exp(Anderson mix of log v) (na == 1: ld == 1)
            anderson.step([&](int64_t j) { return std::log(double(Vprev[j])); },
                          [&](int64_t j) { return std::log(double(Vp[j])); },
                          [&](int64_t j, double x) { Vp[j] = static_cast<T>(std::exp(x)); });
        // u = a / K v and, fused, K^T u
        {
            TunedIteration it(tuner, ii);
            const Team team{nthreads, it.threads};
            if (na == 1)
                fused_pass_single(K, n, m, a, Vp.data(), Up.data(), KtuNew.data(), acc, team, rule);
            else
                fused_pass_multi(K, n, m, a, Vp.data(), Up.data(), KtuNew.data(), na, ld, acc, team, rule);
        }
        for (int64_t i = 0; i < n; ++i)
            for (int64_t k = 0; k < na; ++k)
                if (!is_finite(Up[i * ld + k])) bad[k] = 1;

        bool removed = false;
        const bool check = (ii % opt.check_every) == 0;
        for (int64_t kp = 0; kp < na; ++kp) {
            const int64_t col = cols[kp];
            if (bad[kp]) {  // POT: "numerical errors at iteration ii" -> previous scalings, stop
                unpack_col(Uprev.data(), n, ld, kp, U, N, col);
                unpack_col(Vprev.data(), m, ld, kp, V, N, col);
                info[col] = SinkhornInfo{NUMERICAL_ERROR, ii, lastErr[col]};
                done[col] = 1;
                removed = true;
                continue;
            }
            if (check) {
                double e2 = 0;
                for (int64_t j = 0; j < m; ++j) {
                    const int64_t e = j * ld + kp;
                    const double d = double(Vp[e]) * double(KtuNew[e]) - double(Bp[e]);
                    e2 += d * d;
                }
                const double err = std::sqrt(e2);
                lastErr[col] = err;
                if (trace && N == 1) trace->push_back(err);
                if (N == 1) omega_eff = guard.update(err);
                anderson.check(err);
                if (err < opt.stop_thr) {
                    unpack_col(Up.data(), n, ld, kp, U, N, col);
                    unpack_col(Vp.data(), m, ld, kp, V, N, col);
                    info[col] = SinkhornInfo{OK, ii, err};
                    done[col] = 1;
                    removed = true;
                }
            }
        }
        std::swap(Ktu, KtuNew);
        if (removed) {  // repack the remaining columns
            std::vector<int64_t> keep, keep_pos;
            for (int64_t kp = 0; kp < na; ++kp)
                if (!done[cols[kp]]) {
                    keep.push_back(cols[kp]);
                    keep_pos.push_back(kp);
                }
            const int64_t nn = static_cast<int64_t>(keep.size());
            const int64_t nld = packed_ld(std::max<int64_t>(nn, 1));
            if (nn > 0) {
                std::vector<T> tmp;
                auto repack = [&](std::vector<T>& X, int64_t rows) {
                    tmp.resize(rows * nld);
                    pack_cols(X.data(), rows, ld, keep_pos, tmp.data(), nld);
                    std::copy(tmp.begin(), tmp.end(), X.begin());
                };
                repack(Up, n);
                repack(Vp, m);
                repack(Bp, m);
                repack(Ktu, m);
            }
            cols = keep;
            na = nn;
            ld = nld;
        }
    }
    // columns that ran out of iterations
    for (int64_t kp = 0; kp < na; ++kp) {
        const int64_t col = cols[kp];
        unpack_col(Up.data(), n, ld, kp, U, N, col);
        unpack_col(Vp.data(), m, ld, kp, V, N, col);
        info[col] = SinkhornInfo{MAX_ITER, std::max(0, ii - 1), lastErr[col]};
    }

    // N > 1: <P_k, M> = sum_i u_ik ((K o M) v_k)_i, the product by the register-tiled dot_tile on
    // padded copies of U and V (K is overwritten with K o M: not needed any more)
    if (N > 1 && values != nullptr) {
        constexpr int R = 8;
        const int64_t ldv = (N + 7) / 8 * 8, nb = n / R;
        std::vector<T> Upad(n * ldv, T(0)), Vpad(m * ldv, T(0));
        for (int64_t i = 0; i < n; ++i) std::copy(U + i * N, U + i * N + N, Upad.begin() + i * ldv);
        for (int64_t j = 0; j < m; ++j) std::copy(V + j * N, V + j * N + N, Vpad.begin() + j * ldv);
        std::vector<double> vacc(static_cast<size_t>(nthreads) * ldv, 0.0);
#pragma omp parallel num_threads(nthreads)
        {
            [[maybe_unused]] const FlushSubnormals<T> flush_guard;
            double* my = vacc.data() + static_cast<size_t>(omp_get_thread_num()) * ldv;
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < (n + R - 1) / R; ++blk) {
                const int64_t i0 = blk * R, i1 = std::min(n, i0 + R);
                for (int64_t i = i0; i < i1; ++i) {
                    T* Ki = K + i * m;
                    const T* Mi = M + i * m;
#pragma omp simd
                    for (int64_t j = 0; j < m; ++j) Ki[j] *= Mi[j];
                }
                if (blk < nb) {
                    int64_t kc = 0;
                    for (; kc + 16 <= ldv; kc += 16) {
                        T sblk[R][16];
                        dot_tile<T, R, 16>(K + i0 * m, m, Vpad.data(), ldv, kc, sblk);
                        for (int r = 0; r < R; ++r)
                            for (int k = 0; k < 16; ++k) my[kc + k] += double(Upad[(i0 + r) * ldv + kc + k]) * sblk[r][k];
                    }
                    if (kc < ldv) {
                        T sblk[R][8];
                        dot_tile<T, R, 8>(K + i0 * m, m, Vpad.data(), ldv, kc, sblk);
                        for (int r = 0; r < R; ++r)
                            for (int k = 0; k < 8; ++k) my[kc + k] += double(Upad[(i0 + r) * ldv + kc + k]) * sblk[r][k];
                    }
                } else {
                    for (int64_t i = i0; i < i1; ++i) {
                        const T* Wi = K + i * m;
                        for (int64_t k = 0; k < N; ++k) {
                            T sk = 0;
                            for (int64_t j = 0; j < m; ++j) sk += Wi[j] * Vpad[j * ldv + k];
                            my[k] += double(Upad[i * ldv + k]) * sk;
                        }
                    }
                }
            }
        }
        for (int64_t k = 0; k < N; ++k) {
            double sum = 0;
            for (int t = 0; t < nthreads; ++t) sum += vacc[static_cast<size_t>(t) * ldv + k];
            values[k] = static_cast<T>(sum);
        }
        return;
    }
    // N = 1: <P, M> and the plan P = diag(u) K diag(v) (the plan is only asked for a single b)
    if (values != nullptr || plan != nullptr) {
        std::vector<double> vacc(static_cast<size_t>(nthreads), 0.0);
#pragma omp parallel num_threads(nthreads)
        {
            [[maybe_unused]] const FlushSubnormals<T> flush_guard;
            double my = 0;  // summed per thread, then in thread order (deterministic)
#pragma omp for schedule(static) nowait
            for (int64_t i = 0; i < n; ++i) {
                const T* Ki = K + i * m;
                const T* Mi = M + i * m;
                const T ui = U[i];
                T s = 0;
                if (plan != nullptr) {
                    T* Pi = plan + i * m;
#pragma omp simd reduction(+ : s)
                    for (int64_t j = 0; j < m; ++j) {
                        const T p = ui * Ki[j] * V[j];
                        Pi[j] = p;
                        s += p * Mi[j];
                    }
                } else {
#pragma omp simd reduction(+ : s)
                    for (int64_t j = 0; j < m; ++j) s += ui * Ki[j] * V[j] * Mi[j];
                }
                my += s;
            }
            vacc[static_cast<size_t>(omp_get_thread_num())] = my;
        }
        if (values != nullptr) {
            double sum = 0;
            for (int t = 0; t < nthreads; ++t) sum += vacc[static_cast<size_t>(t)];
            values[0] = static_cast<T>(sum);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Log-domain form
// ---------------------------------------------------------------------------------------
namespace {

template <typename T>
inline T neg_inf() {
    return -std::numeric_limits<T>::infinity();
}

// Log-scalings are valid when none is NaN or +inf (-inf is an empty row or column).
template <typename T>
bool log_scalings_ok(const T* x, int64_t n) {
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= !(x[i] != x[i]) && x[i] != std::numeric_limits<T>::infinity();
    return ok;
}

// Per-thread running column log-sum-exp: colmax (m), colsum (m) with sum_i exp(x_ij - colmax_j).
// Rows are processed in tiles: one rescale of the running sum per tile and column, then one exp
// per entry.
template <typename T>
struct ColLSE {
    T* mx;
    T* sm;
    int64_t m;
    void reset() {
        std::fill(mx, mx + m, neg_inf<T>());
        std::fill(sm, sm + m, T(0));
    }
};

// Cost geometries of the log-domain passes, as row providers: tile(t0, t1, scratch) returns the cost rows
// t0 .. t1-1 (row stride m), at most kTileRows of them, written into `scratch` (scratch_size() entries per
// thread) when they are computed on the fly. The passes below are templates on the provider: one pass per
// algorithm, whatever the geometry.
constexpr int kTileRows = 8;

// A cost matrix in memory (n x m, row-major)
template <typename T>
struct DenseRows {
    const T* M;
    int64_t m;
    static constexpr size_t scratch_size() { return 0; }
    const T* tile(int64_t t0, int64_t, T*) const { return M + t0 * m; }
};

// Point clouds x (n x d), y (m x d): c_ij = ||x_i - y_j||^2, or ||x_i - y_j|| (euclidean), computed tile by
// tile and never stored (memory O((n + m) d)). yT is y transposed (d x m): the j loops are contiguous.
template <typename T>
struct CloudRows {
    const T* x;
    const T* yT;
    int64_t m, d;
    bool euclidean;
    size_t scratch_size() const { return size_t(kTileRows) * size_t(m); }
    const T* tile(int64_t t0, int64_t t1, T* C) const {
        for (int64_t i = t0; i < t1; ++i) cloud_cost_row(x + i * d, yT, m, d, int64_t(0), m, euclidean, C + (i - t0) * m);
        return C;
    }
};

// Fused log-domain pass: for rows [i0, i1):
//   f_i = log a_i - LSE_j(-M_ij / reg + g_j)          (row update, POT's u)
//   col.LSE_j accumulates (-M_ij / reg + f_i)          (for the next g update)
// When update_rows is false, f is only read (used for the initial column LSE).
// Every exp here has a non-positive argument (the maximum is taken out) and its sum has a term equal
// to 1, so results below the smallest normal number are flushed to 0 (fast_exp_nonpos_ftz: cheaper).
template <typename T, class Rule>
void log_rows(const T* M, int64_t m, T scale, const T* loga, const T* g, T* f, int64_t i0,
              int64_t i1, bool update_rows, ColLSE<T>& col, std::vector<T>& tilemax, const Rule& rule) {
    constexpr int R = 8;
    tilemax.resize(m);
    for (int64_t t0 = i0; t0 < i1; t0 += R) {
        const int64_t t1 = std::min(i1, t0 + R);
        if (update_rows) {
            for (int64_t i = t0; i < t1; ++i) {
                const T lse = lse_affine(M + i * m, scale, g, m);
                // log a_i = -inf (a_i = 0): f_i = -inf, row i is empty
                f[i] = rule.log(loga[i], lse, f[i], i);
            }
        }
        // column maxima over the tile, then rescale the running sums
        std::fill(tilemax.begin(), tilemax.end(), neg_inf<T>());
        for (int64_t i = t0; i < t1; ++i) {
            const T fi = f[i];
            if (fi == neg_inf<T>()) continue;
            const T* Mi = M + i * m;
            T* tm = tilemax.data();
#pragma omp simd
            for (int64_t j = 0; j < m; ++j) tm[j] = std::max(tm[j], Mi[j] * scale + fi);
        }
        {
            T* mx = col.mx;
            T* sm = col.sm;
            const T* tm = tilemax.data();
#pragma omp simd
            for (int64_t j = 0; j < m; ++j) {
                const T newm = std::max(mx[j], tm[j]);
                const T safe = newm == neg_inf<T>() ? T(0) : newm;
                sm[j] = sm[j] * fast_exp_nonpos_ftz(mx[j] - safe);
                mx[j] = newm;
            }
        }
        for (int64_t i = t0; i < t1; ++i) {
            const T fi = f[i];
            if (fi == neg_inf<T>()) continue;
            const T* Mi = M + i * m;
            const T* mx = col.mx;
            T* sm = col.sm;
#pragma omp simd
            for (int64_t j = 0; j < m; ++j) {
                const T safe = mx[j] == neg_inf<T>() ? T(0) : mx[j];
                sm[j] += fast_exp_nonpos_ftz(Mi[j] * scale + fi - safe);
            }
        }
    }
}

// One-exp log-domain pass (the fast path). With mx_i = max_j(Mr_ij + g_j) and
// e_ij = exp(Mr_ij + g_j - mx_i) <= 1, the row update is f_i = log a_i - mx_i - log(sum_j e_ij), and
// the column sum of the next plan is S_j = sum_i exp(Mr_ij + f_i + g_j) = sum_i e_ij A_i with
// A_i = exp(f_i + mx_i) (= a_i / sum_j e_ij without relaxation). So one exp per entry instead of two
// (the exact pass takes a second exp for the column log-sum-exp), and LSE_i(Mr_ij + f_i) =
// log S_j - g_j. S_j is the column marginal: near convergence ~ b_j, far from it possibly tiny.
// Entries e_ij below the smallest normal number are flushed to 0, which is harmless unless S_j is
// itself tiny: the pass reports failure (and the caller redoes the iteration with the exact pass)
// when a column with g_j > -inf has S_j < 1e-200 (flushed terms < n * 1e-108 relative) or not finite.
template <typename T, class Rows, class Rule>
bool log_pass_onexp(const Rows& cost, int64_t n, int64_t m, T scale, const T* a, const T* b, const T* loga, const T* g,
                    T* f, T* lse, std::vector<T>& buf, std::vector<double>& part_total, Team team, const Rule& rule,
                    double* value) {
    constexpr int R = 8;
    const int parts = team.parts;
    buf.resize(static_cast<size_t>(parts) * m + static_cast<size_t>(team.threads) * R * m);
    part_total.resize(parts);  // <P, M> per part, added in part order (reused between passes)
    // flushed terms are < n * (smallest normal) relative to a column sum >= tiny: < n * 2e-108 (double),
    // < n * 1.2e-18 (float)
    const T tiny = std::is_same<T, double>::value ? T(1e-200) : T(1e-20);
    bool ok = true;  // total: <P, M> of the plan P_ij = e_ij A_i of this pass (its final f and g)
#pragma omp parallel num_threads(team.threads) reduction(&& : ok)
    {
      T* E = buf.data() + static_cast<size_t>(parts) * m + static_cast<size_t>(omp_get_thread_num()) * R * m;
      std::vector<T> scratch(cost.scratch_size());  // cost rows computed on the fly (none for a dense M)
      for (int p = omp_get_thread_num(); p < parts; p += omp_get_num_threads()) {
        T* S = buf.data() + static_cast<size_t>(p) * m;
        std::fill(S, S + m, T(0));
        const int64_t chunk = (n + parts - 1) / parts;
        const int64_t i0 = std::min<int64_t>(n, p * chunk), i1 = std::min<int64_t>(n, i0 + chunk);
        double total = 0;
        T A[R];
        for (int64_t t0 = i0; t0 < i1; t0 += R) {
            const int64_t rows = std::min<int64_t>(R, i1 - t0);
            const T* Mt = cost.tile(t0, t0 + rows, scratch.data());
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t i = t0 + r;
                const T* Mi = Mt + r * m;
                T* Er = E + r * m;
                T mx = neg_inf<T>();
#pragma omp simd reduction(max : mx)
                for (int64_t j = 0; j < m; ++j) mx = std::max(mx, Mi[j] * scale + g[j]);
                T lse_i = neg_inf<T>(), s = 0, sm = 0;
                if (mx != neg_inf<T>()) {
#pragma omp simd reduction(+ : s, sm)
                    for (int64_t j = 0; j < m; ++j) {
                        const T e = fast_exp_nonpos_ftz(Mi[j] * scale + g[j] - mx);
                        Er[j] = e;
                        s += e;
                        sm += e * Mi[j];
                    }
                    lse_i = mx + std::log(s);
                } else {
                    std::fill(Er, Er + m, T(0));
                }
                f[i] = rule.log(loga[i], lse_i, f[i], i);  // as the exact pass (an empty row gets f_i = -inf)
                if (f[i] == neg_inf<T>() || mx == neg_inf<T>())
                    A[r] = T(0);
                else
                    A[r] = rule.plain() ? a[i] / s : std::exp(f[i] + mx);
                if (!is_finite(A[r]) || (!is_finite(f[i]) && f[i] != neg_inf<T>())) ok = false;
                total += double(A[r]) * double(sm);
            }
            for (int64_t r = rows; r < R; ++r) A[r] = T(0);
            if (rows == R) {
                const T A0 = A[0], A1 = A[1], A2 = A[2], A3 = A[3], A4 = A[4], A5 = A[5], A6 = A[6], A7 = A[7];
#pragma omp simd
                for (int64_t j = 0; j < m; ++j)
                    S[j] += ((E[j] * A0 + E[m + j] * A1) + (E[2 * m + j] * A2 + E[3 * m + j] * A3)) +
                            ((E[4 * m + j] * A4 + E[5 * m + j] * A5) + (E[6 * m + j] * A6 + E[7 * m + j] * A7));
            } else {
                for (int64_t r = 0; r < rows; ++r) {
                    const T* Er = E + r * m;
                    const T Ar = A[r];
#pragma omp simd
                    for (int64_t j = 0; j < m; ++j) S[j] += Er[j] * Ar;
                }
            }
        }
        part_total[p] = total;
      }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t j = 0; j < m; ++j) {
            T sj = 0;
            for (int tt = 0; tt < parts; ++tt) sj += buf[static_cast<size_t>(tt) * m + j];
            if (g[j] == neg_inf<T>()) {  // empty column (b_j = 0): g_j stays -inf with any finite lse_j
                lse[j] = T(0);
                if (b[j] != T(0)) ok = false;  // (-inf from a warm start: the exact pass recovers it)
                continue;
            }
            if (!(sj >= tiny) || !is_finite(sj)) ok = false;
            lse[j] = std::log(sj) - g[j];
        }
    }
    if (value != nullptr) {
        double total = 0;
        for (int p = 0; p < parts; ++p) total += part_total[p];
        *value = total;
    }
    return ok;
}

// One full log-domain pass over all rows; lse (m) receives LSE_i(-M_ij/reg + f_i).
template <typename T, class Rows, class Rule>
void log_pass(const Rows& cost, int64_t n, int64_t m, T scale, const T* loga, const T* g, T* f,
              bool update_rows, T* lse, std::vector<T>& buf, Team team, const Rule& rule) {
    const int nt = team.parts;
    buf.resize(static_cast<size_t>(nt) * 2 * m);
#pragma omp parallel num_threads(team.threads)
    {
        [[maybe_unused]] const FlushSubnormals<T> flush_guard;
        std::vector<T> tilemax, scratch(cost.scratch_size());
        for (int p = omp_get_thread_num(); p < nt; p += omp_get_num_threads()) {
            ColLSE<T> col{buf.data() + static_cast<size_t>(p) * 2 * m, buf.data() + static_cast<size_t>(p) * 2 * m + m, m};
            col.reset();
            const int64_t chunk = (n + nt - 1) / nt;
            const int64_t i0 = std::min<int64_t>(n, p * chunk), i1 = std::min<int64_t>(n, i0 + chunk);
            for (int64_t t0 = i0; t0 < i1; t0 += kTileRows) {  // log_rows' own tiles of 8 rows
                const int64_t t1 = std::min<int64_t>(i1, t0 + kTileRows);
                log_rows(cost.tile(t0, t1, scratch.data()), m, scale, loga + t0, g, f + t0, 0, t1 - t0, update_rows, col,
                         tilemax, rule);
            }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t j = 0; j < m; ++j) {
            T gm = neg_inf<T>();
            for (int tt = 0; tt < nt; ++tt) gm = std::max(gm, buf[static_cast<size_t>(tt) * 2 * m + j]);
            if (gm == neg_inf<T>()) {
                lse[j] = neg_inf<T>();
                continue;
            }
            T s = 0;
            for (int tt = 0; tt < nt; ++tt) {
                const T mt = buf[static_cast<size_t>(tt) * 2 * m + j];
                if (mt != neg_inf<T>()) s += buf[static_cast<size_t>(tt) * 2 * m + m + j] * std::exp(mt - gm);
            }
            lse[j] = gm + std::log(s);
        }
    }
}

// value = sum_ij P_ij M_ij with P_ij = exp(-M_ij/reg + f_i + g_j); writes P when plan != nullptr.
template <typename T, class Rows>
T log_plan_value(const Rows& cost, int64_t n, int64_t m, T scale, const T* f, const T* g, T* plan,
                 int nthreads) {
    double total = 0;
#pragma omp parallel num_threads(nthreads)
    {
        [[maybe_unused]] const FlushSubnormals<T> flush_guard;
    std::vector<T> scratch(cost.scratch_size());
#pragma omp for schedule(static) reduction(+ : total)
    for (int64_t i = 0; i < n; ++i) {
        const T* Mi = cost.tile(i, i + 1, scratch.data());
        const T fi = f[i];
        T s = 0;
        if (plan != nullptr) {
            T* Pi = plan + i * m;
#pragma omp simd reduction(+ : s)
            for (int64_t j = 0; j < m; ++j) {
                const T p = fast_exp(Mi[j] * scale + fi + g[j]);
                Pi[j] = p;
                s += p * Mi[j];
            }
        } else {
#pragma omp simd reduction(+ : s)
            for (int64_t j = 0; j < m; ++j) s += fast_exp(Mi[j] * scale + fi + g[j]) * Mi[j];
        }
        total += s;
    }
    }
    return static_cast<T>(total);
}

}  // namespace

namespace {

// Epsilon scaling of the log-domain drivers: at each reg_k of `stages` (above reg), rescale(c, reg_k) converts the
// log-scalings (c = reg_prev / reg_k) and `inner` iterations step(reg_k) run; a stage whose iterates are not finite
// is undone and ends the annealing. At the end rescale(c, reg) converts them to reg. Returns the iterations run.
template <typename T, class Rescale, class Step>
int anneal_log(const std::vector<double>& stages, int inner, double reg, T* f, int64_t n, T* g, int64_t m,
               InterruptPoll& poll, const Rescale& rescale, const Step& step) {
    std::vector<T> fkeep(n), gkeep(m);
    double r_prev = reg;
    int annealed = 0;
    for (const double rk : stages) {
        std::copy(f, f + n, fkeep.begin());
        std::copy(g, g + m, gkeep.begin());
        rescale(T(r_prev / rk), rk);
        for (int t = 0; t < inner; ++t) {
            poll.check();
            step(rk);
        }
        if (!log_scalings_ok(f, n) || !log_scalings_ok(g, m)) {
            std::copy(fkeep.begin(), fkeep.end(), f);
            std::copy(gkeep.begin(), gkeep.end(), g);
            break;
        }
        r_prev = rk;
        annealed += inner;
    }
    rescale(T(r_prev / reg), reg);
    return annealed;
}

// The log-domain driver, on any cost geometry (Rows: DenseRows, CloudRows); ns_per_entry: the one-thread
// time of a pass per entry (the threading policy's estimate).
template <typename T, class Rows>
void log_driver(const Rows& cost, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                T* f, T* g, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace, double ns_per_entry) {
    const int nthreads = plan_parts(double(n) * double(m) * ns_per_entry, opt.num_threads);
    ThreadTuner tuner(nthreads, TUNE_SINKHORN_LOG, double(n) * double(m));
    const Team all{nthreads, nthreads};
    const T scale = T(-1) / reg;
    std::vector<T> loga(n), logb(m), lse(m), buf, fprev(n), gprev(m);
    std::vector<double> totals;  // per-part <P, M> of the one-exp pass
    for (int64_t i = 0; i < n; ++i) loga[i] = std::log(a[i]);
    for (int64_t j = 0; j < m; ++j) logb[j] = std::log(b[j]);
    OmegaGuard guard(opt);
    BalancedRule<T> rule{T(1)};
    AndersonMixer anderson(opt.anderson, m);  // on g = log v
    const bool use_fast = opt.log_fast;
    // f from g (row log-sum-exp) and the column LSE of the new f, in one read of the costs: one exp per entry
    // where safe, else the exact two-exp pass
    // (f_saved: fprev already holds f)
    auto row_step = [&](T sc, const Team& team, double* pass_val, bool f_saved) {
        if (use_fast) {
            if (!f_saved) std::copy(f, f + n, fprev.begin());
            if (log_pass_onexp(cost, n, m, sc, a, b, loga.data(), g, f, lse.data(), buf, totals, team, rule, pass_val))
                return true;
            std::copy(fprev.begin(), fprev.end(), f);
        }
        log_pass(cost, n, m, sc, loga.data(), g, f, true, lse.data(), buf, team, rule);
        return false;
    };
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (outside the parallel regions)
    const std::vector<double> stages = anneal_stages(opt, double(reg));
    int annealed = 0;  // iterations run at the annealing stages
    if (!stages.empty()) {
        // epsilon scaling: at each stage reg_k, anneal_inner iterations from the potentials reg_{k-1} (f, g)
        // rescaled to reg_k
        annealed = anneal_log(
            stages, opt.anneal_inner, double(reg), f, n, g, m, poll,
            [&](T c, double) {
                for (int64_t i = 0; i < n; ++i) f[i] *= c;  // (-inf stays -inf: an empty row)
                for (int64_t j = 0; j < m; ++j) g[j] *= c;
            },
            [&](double rk) {
                row_step(T(-1 / rk), all, nullptr, false);
                for (int64_t j = 0; j < m; ++j) g[j] = rule.log(logb[j], lse[j], g[j], j);
            });
        row_step(scale, all, nullptr, false);  // f at the target reg, and the column LSE for the first g update
    } else {
        log_pass(cost, n, m, scale, loga.data(), g, f, false, lse.data(), buf, all, rule);  // column LSE of the initial f
    }
    *info = SinkhornInfo{MAX_ITER, 0, 1.0};
    bool value_ready = false;  // pass_value holds <P, M> of the current (f, g)
    double pass_value = 0;
    int ii;
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        std::copy(f, f + n, fprev.begin());
        std::copy(g, g + m, gprev.begin());
        for (int64_t j = 0; j < m; ++j) g[j] = rule.log(logb[j], lse[j], g[j], j);  // v = log b - LSE_i(Mr + u)
        if (anderson.enabled())
            anderson.step([&](int64_t j) { return double(gprev[j]); }, [&](int64_t j) { return double(g[j]); },
                          [&](int64_t j, double x) { g[j] = static_cast<T>(x); });
        // u, and LSE for the next v: one exp per entry; where that is not safe (a column sum far
        // below the representable range, typically in the first iterations), the exact two-exp pass
        {
            TunedIteration it(tuner, ii);
            const Team team{nthreads, it.threads};
            // <P, M> of the final (f, g) comes with a fast pass (one multiply-add per entry)
            value_ready = row_step(scale, team, &pass_value, true);
        }
        if (!log_scalings_ok(f, n) || !log_scalings_ok(g, m)) {
            std::copy(fprev.begin(), fprev.end(), f);
            std::copy(gprev.begin(), gprev.end(), g);
            info->status = NUMERICAL_ERROR;
            info->niter = ii + annealed;
            value_ready = false;
            break;
        }
        if (ii % opt.check_every == 0) {
            // column marginal: sum_i exp(Mr_ij + f_i + g_j) = exp(g_j + LSE_i(Mr_ij + f_i))
            double e2 = 0;
            for (int64_t j = 0; j < m; ++j) {
                const double d = std::exp(double(g[j]) + double(lse[j])) - double(b[j]);
                e2 += d * d;
            }
            info->err = std::sqrt(e2);
            if (trace) trace->push_back(info->err);
            if (info->err < opt.stop_thr) {
                info->status = OK;
                info->niter = ii + annealed;
                break;
            }
            rule.omega = static_cast<T>(guard.update(info->err));
            anderson.check(info->err);
        }
    }
    if (info->status == MAX_ITER) info->niter = std::max(0, ii - 1) + annealed;
    if (value_ready && plan == nullptr) {
        if (value != nullptr) *value = static_cast<T>(pass_value);
    } else if (value != nullptr || plan != nullptr) {
        const T val = log_plan_value(cost, n, m, scale, f, g, plan, nthreads);
        if (value != nullptr) *value = val;
    }
}

}  // namespace

template <typename T>
void sinkhorn_log_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                      const SinkhornOptions& opt, T* f, T* g, T* value, T* plan,
                      SinkhornInfo* info, std::vector<double>* trace) {
    log_driver(DenseRows<T>{M, m}, n, m, a, b, reg, opt, f, g, value, plan, info, trace, kNsPerExp);  // one exp per entry
}

template <typename T>
void sinkhorn_log_cloud_cpu(const T* x, const T* y, int64_t n, int64_t m, int64_t d, bool euclidean, const T* a,
                            const T* b, T reg, const SinkhornOptions& opt, T* f, T* g, T* value, T* plan,
                            SinkhornInfo* info, std::vector<double>* trace) {
    std::vector<T> yT(static_cast<size_t>(d) * m);
    for (int64_t j = 0; j < m; ++j)
        for (int64_t k = 0; k < d; ++k) yT[k * m + j] = y[j * d + k];
    // one exp and d subtract-multiply-adds per entry
    log_driver(CloudRows<T>{x, yT.data(), m, d, euclidean}, n, m, a, b, reg, opt, f, g, value, plan, info, trace,
               kNsPerExp + double(d) * kNsPerKernelEntry);
}

namespace {

// Log-scalings at reg_prev rescaled to reg_new = reg_prev / c, the dual potential reg (f - ref) kept:
// f <- (f - ref) c + ref, ref = log a (reference a b^T, with_ref) or 0. -inf (an empty row) stays; a row of
// target -inf is left for the next update (which empties it).
template <typename T>
void rescale_log(T* f, const T* loga, int64_t n, T c, bool with_ref) {
    if (c == T(1)) return;  // (the same reg: f unchanged, not (f - ref) + ref)
    for (int64_t i = 0; i < n; ++i) {
        const T ref = with_ref ? loga[i] : T(0);
        if (f[i] != neg_inf<T>() && ref != neg_inf<T>()) f[i] = (f[i] - ref) * c + ref;
    }
}

// The symmetric problem (a, a) on a symmetric cost (the debiasing terms of the Sinkhorn divergence): the averaged
// fixed point f <- (f + T(f)) / 2, T(f)_i = log a_i - LSE_j(-C_ij / reg + f_j), whose plan
// P_ij = exp(f_i + f_j - C_ij / reg) is symmetric (Feydy et al. 2019, Sec. 3.1); alternating Sinkhorn oscillates
// there and converges slowly. Stops when the L1 marginal error sum_i |a_i exp(f_i - T(f)_i) - a_i| < stop_thr
// (checked when ii % check_every == 0); epsilon scaling as the log driver (averaged steps at each stage).
// reg_m < inf: the unbalanced problem with KL-relaxed marginals and reference a a^T (GeomLoss's `reach`), whose
// map is T(f)_i = log a_i - fi LSE_j(-C_ij / reg + f_j), fi = reg_m / (reg_m + reg) (unbalanced_log_driver with
// kl_ref); the annealing then carries the dual potential reg_k (f - log a).
template <typename T, class Rows>
void symmetric_driver(const Rows& cost, int64_t n, const T* a, T reg, double reg_m, const SinkhornOptions& opt, T* f,
                      SinkhornInfo* info, std::vector<double>* trace, double ns_per_entry) {
    const int nthreads = plan_parts(double(n) * double(n) * ns_per_entry, opt.num_threads);
    std::vector<T> loga(n), tf(n);
    for (int64_t i = 0; i < n; ++i) loga[i] = std::log(a[i]);
    const bool relaxed = !std::isinf(reg_m);
    T fi = static_cast<T>(unbalanced_exponent(reg_m, double(reg)));  // the exponent at the current reg_k
    auto apply_T = [&](T sc) {  // tf = T(f) at the scale sc = -1 / reg_k
#pragma omp parallel num_threads(nthreads)
        {
            [[maybe_unused]] const FlushSubnormals<T> flush_guard;
            std::vector<T> scratch(cost.scratch_size());
#pragma omp for schedule(static)
            for (int64_t t0 = 0; t0 < n; t0 += kTileRows) {
                const int64_t t1 = std::min<int64_t>(n, t0 + kTileRows);
                const T* Ct = cost.tile(t0, t1, scratch.data());
                for (int64_t i = t0; i < t1; ++i)
                    tf[i] = loga[i] == neg_inf<T>() ? neg_inf<T>() : loga[i] - fi * lse_affine(Ct + (i - t0) * n, sc, f, n);
            }
        }
    };
    auto average = [&] {
        for (int64_t i = 0; i < n; ++i) f[i] = relax_log(f[i], tf[i], T(0.5));
    };
    InterruptPoll poll;
    int annealed = 0;
    double r_prev = double(reg);
    auto rescale = [&](double r_new) {
        const T c = T(r_prev / r_new);
        rescale_log(f, loga.data(), n, c, relaxed);
        r_prev = r_new;
        fi = static_cast<T>(unbalanced_exponent(reg_m, r_new));
    };
    for (const double rk : anneal_stages(opt, double(reg))) {
        rescale(rk);
        for (int t = 0; t < opt.anneal_inner; ++t) {
            poll.check();
            apply_T(T(-1 / rk));
            if (!log_scalings_ok(tf.data(), n)) break;
            average();
            ++annealed;
        }
    }
    rescale(double(reg));
    *info = SinkhornInfo{MAX_ITER, 0, 1.0};
    int ii;
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        apply_T(T(-1) / reg);
        if (!log_scalings_ok(tf.data(), n)) {  // f is kept (the last finite iterate)
            info->status = NUMERICAL_ERROR;
            info->niter = ii + annealed;
            return;
        }
        if (ii % opt.check_every == 0) {
            double err = 0;
            for (int64_t i = 0; i < n; ++i)
                if (a[i] != T(0)) err += double(a[i]) * std::fabs(std::expm1(double(f[i]) - double(tf[i])));
            info->err = err;
            if (trace) trace->push_back(err);
            if (err < opt.stop_thr) {
                info->status = OK;
                info->niter = ii + annealed;
                return;
            }
        }
        average();
    }
    info->niter = std::max(0, ii - 1) + annealed;
}

}  // namespace

template <typename T>
void sinkhorn_symmetric_cloud_cpu(const T* x, int64_t n, int64_t d, bool euclidean, const T* a, T reg, double reg_m,
                                  const SinkhornOptions& opt, T* f, SinkhornInfo* info, std::vector<double>* trace) {
    std::vector<T> xT(static_cast<size_t>(d) * n);
    for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < d; ++k) xT[k * n + j] = x[j * d + k];
    symmetric_driver(CloudRows<T>{x, xT.data(), n, d, euclidean}, n, a, reg, reg_m, opt, f, info, trace,
                     2 * kNsPerExp + double(d) * kNsPerKernelEntry);
}

// ---------------------------------------------------------------------------------------
// Stabilized kernel form (absorption)
// ---------------------------------------------------------------------------------------
template <typename T>
void sinkhorn_stabilized_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                             const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan,
                             SinkhornInfo* info, std::vector<double>* trace) {
    const int nthreads = plan_parts(double(n) * double(m) * kNsPerKernelEntry, opt.num_threads);
    ThreadTuner tuner(nthreads, TUNE_SINKHORN_STAB, double(n) * double(m));
    big_buffer<T> Kbuf = alloc_big<T>(static_cast<size_t>(n) * m), Mbuf = alloc_big<T>(static_cast<size_t>(n) * m);
    T* K = Kbuf.get();
    T* Mshift = Mbuf.get();
    std::vector<T> u(n, T(1) / T(n)), v(m, T(1) / T(m)), ktu(m), ktuNew(m), uprev(n), vprev(m), acc;
    const T tau = static_cast<T>(opt.tau);
    // POT's iterates: K_ij = exp((alpha_i + beta_j - M_ij)/reg) (built as exp(-Mshift/reg), Mshift =
    // M - alpha - beta) and the plan diag(u) K diag(v); u, v start from u0 = 1/n, v0 = 1/m, and so
    // they do again after each absorption (alpha += reg log u, beta += reg log v: the new K *is* the
    // plan of that iteration).
    auto rebuild = [&]() {
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < m; ++j) Mshift[i * m + j] = M[i * m + j] - alpha[i] - beta[j];
        std::fill(u.begin(), u.end(), T(1) / T(n));
        std::fill(v.begin(), v.end(), T(1) / T(m));
        build_kernel(Mshift, n, m, reg, K, u.data(), 1, ktu.data(), acc, nthreads);
    };
    rebuild();
    // absorbed: the last iteration ended with an absorption, so the iterate's plan is K itself (not
    // diag(u0) K diag(v0), the restart point of the next iteration: POT returns that one, of mass
    // 1/(n m), when it absorbs at its last iteration)
    bool absorbed = false, absorbed_prev = false;
    *info = SinkhornInfo{MAX_ITER, 0, 1.0};
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (outside the parallel regions)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        uprev = u;
        vprev = v;
        absorbed_prev = absorbed;
        absorbed = false;
        for (int64_t j = 0; j < m; ++j) v[j] = b[j] == T(0) ? T(0) : b[j] / ktu[j];
        {
            TunedIteration it(tuner, ii);
            fused_pass_single(K, n, m, a, v.data(), u.data(), ktuNew.data(), acc, Team{nthreads, it.threads},
                              BalancedRule<T>{});
        }
        bool finite = all_finite(u.data(), n) && all_finite(v.data(), m);
        if (!finite) {
            u = uprev;
            v = vprev;
            absorbed = absorbed_prev;
            info->status = NUMERICAL_ERROR;
            info->niter = ii;
            break;
        }
        if (ii % opt.check_every == 0) {
            double e2 = 0;
            for (int64_t j = 0; j < m; ++j) {
                const double d = double(v[j]) * double(ktuNew[j]) - double(b[j]);
                e2 += d * d;
            }
            info->err = std::sqrt(e2);
            if (trace) trace->push_back(info->err);
            if (info->err < opt.stop_thr) {
                info->status = OK;
                info->niter = ii;
                break;
            }
        }
        T umax = 0, vmax = 0;
        for (int64_t i = 0; i < n; ++i) umax = std::max(umax, std::abs(u[i]));
        for (int64_t j = 0; j < m; ++j) vmax = std::max(vmax, std::abs(v[j]));
        if (umax > tau || vmax > tau) {  // absorb the scalings into the potentials
            for (int64_t i = 0; i < n; ++i) alpha[i] = a[i] == T(0) ? neg_inf<T>() : alpha[i] + reg * std::log(u[i]);
            for (int64_t j = 0; j < m; ++j) beta[j] = b[j] == T(0) ? neg_inf<T>() : beta[j] + reg * std::log(v[j]);
            rebuild();
            absorbed = true;
        } else {
            std::swap(ktu, ktuNew);
        }
    }
    if (info->status == MAX_ITER) info->niter = std::max(0, ii - 1);
    // final potentials: alpha + reg log u (the plan is exp((alpha_i + beta_j - M_ij)/reg)); nothing to
    // add right after an absorption
    for (int64_t i = 0; i < n; ++i)
        alpha[i] = a[i] == T(0) ? neg_inf<T>() : (absorbed ? alpha[i] : alpha[i] + reg * std::log(u[i]));
    for (int64_t j = 0; j < m; ++j)
        beta[j] = b[j] == T(0) ? neg_inf<T>() : (absorbed ? beta[j] : beta[j] + reg * std::log(v[j]));
    if (value != nullptr || plan != nullptr) {
        std::vector<T> f(n), g(m);
        for (int64_t i = 0; i < n; ++i) f[i] = alpha[i] / reg;
        for (int64_t j = 0; j < m; ++j) g[j] = beta[j] / reg;
        const T val = log_plan_value(DenseRows<T>{M, m}, n, m, T(-1) / reg, f.data(), g.data(), plan, nthreads);
        if (value != nullptr) *value = val;
    }
}

// ---------------------------------------------------------------------------------------
// Unbalanced (KL-relaxed marginals): the same operator passes with UnbalancedRule
// ---------------------------------------------------------------------------------------
namespace {

// max|x - y| / max(max|x|, max|y|, 1) over entries (POT's relative change of a scaling)
template <typename T>
double rel_change(const std::vector<T>& x, const std::vector<T>& y) {
    double num = 0, mx = 1.0;
    for (size_t e = 0; e < x.size(); ++e) {
        num = std::max(num, std::abs(double(x[e]) - double(y[e])));
        mx = std::max(mx, std::max(std::abs(double(x[e])), std::abs(double(y[e]))));
    }
    return num / mx;
}

// the same, for u = exp(f) given log-scalings (scaled by exp(-F), F the largest exponent: no overflow)
template <typename T>
double rel_change_log(const T* f, const T* fp, int64_t n) {
    double F = 0;
    for (int64_t i = 0; i < n; ++i) F = std::max({F, double(f[i]), double(fp[i])});
    double num = 0, mx = std::exp(-F);
    for (int64_t i = 0; i < n; ++i) {
        const double x = std::exp(double(f[i]) - F), y = std::exp(double(fp[i]) - F);
        num = std::max(num, std::abs(x - y));
        mx = std::max(mx, std::max(x, y));
    }
    return num / mx;
}

// <P_k, M> and (N = 1) the plan, P_ij = exp(F_ik + G_jk - Mk_ij / reg), from log-scalings F (n x N), G (m x N)
template <typename T>
void unbalanced_plan_value(const T* M, const T* Mk, int64_t n, int64_t m, int64_t N, T scale, const T* F, const T* G,
                           T* values, T* plan, int nthreads) {
    std::vector<T> gk(m);
    for (int64_t k = 0; k < N; ++k) {
        for (int64_t j = 0; j < m; ++j) gk[j] = G[j * N + k];
        double total = 0;
        T* P = (plan != nullptr && N == 1) ? plan : nullptr;
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : total)
        for (int64_t i = 0; i < n; ++i) {
            const T fi = F[i * N + k];
            const T* Mi = M + i * m;
            const T* Mki = Mk + i * m;
            T s = 0;
            if (fi == neg_inf<T>()) {
                if (P != nullptr) std::fill(P + i * m, P + (i + 1) * m, T(0));
                continue;
            }
            for (int64_t j = 0; j < m; ++j) {
                const T p = fast_exp(Mki[j] * scale + fi + gk[j]);
                if (P != nullptr) P[i * m + j] = p;
                s += p * Mi[j];
            }
            total += s;
        }
        if (values != nullptr) values[k] = static_cast<T>(total);
    }
}

// Log-domain unbalanced Sinkhorn on one problem and any cost geometry (Rows): f = fi1 (log a - LSE_j(-C/reg + g)),
// then g = fi2 (log b - LSE_i(-C/reg + f)), fi = reg_m / (reg_m + reg) (Chizat et al. 2018), the fused exact log
// pass per iteration; POT's stopping rule on u = exp(f), v = exp(g).
//
// kl_ref: reg_type "kl" (reference a b^T) on a geometry whose costs cannot absorb -reg log(a_i b_j) (point
// clouds; the dense solver passes Mk = M - reg log(a b^T) instead). The potentials keep the form
// P = exp(f_i + g_j - C_ij / reg); the fixed point is then f = log a - fi1 LSE_j(-C/reg + g), the rule's with the
// target log a / fi1 (and the same for g).
// Epsilon scaling (opt.anneal_*): anneal_inner iterations at each reg_k > reg with the exponents of reg_k, the
// dual potentials reg_k (f - log a) (kl_ref) or reg_k f carried from stage to stage, as in log_driver. One exp per
// entry where safe (opt.log_fast: log_pass_onexp, else the exact pass), and the safeguarded over-relaxation of
// OmegaGuard (opt.omega, omega_auto) on both updates, checked at every iteration against the stopping error.
template <typename T, class Rows>
void unbalanced_log_driver(const Rows& cost, int64_t n, int64_t m, const T* a, const T* b, T reg, double reg_m1,
                           double reg_m2, bool kl_ref, const SinkhornOptions& opt, T* f, T* g, SinkhornInfo* info,
                           std::vector<double>* trace, int nthreads, ThreadTuner& tuner) {
    std::vector<T> loga(n), logb(m), ta(n), tb(m), lse(m), buf, fprev(n), gprev(m), fsave(n);
    std::vector<double> totals;
    for (int64_t i = 0; i < n; ++i) loga[i] = std::log(a[i]);
    for (int64_t j = 0; j < m; ++j) logb[j] = std::log(b[j]);
    UnbalancedRule<T> rows, cols;
    auto use_reg = [&](double r) {  // the rules (and targets) of the problem at reg r
        const double fi1 = unbalanced_exponent(reg_m1, r), fi2 = unbalanced_exponent(reg_m2, r);
        rows.fi = static_cast<T>(fi1);
        cols.fi = static_cast<T>(fi2);
        for (int64_t i = 0; i < n; ++i) ta[i] = kl_ref ? static_cast<T>(loga[i] / fi1) : loga[i];
        for (int64_t j = 0; j < m; ++j) tb[j] = kl_ref ? static_cast<T>(logb[j] / fi2) : logb[j];
    };
    // one iteration at scale sc (= -1 / reg_k): f from g, then g from the column LSE of the new f
    auto iterate = [&](T sc, const Team& team) {
        bool fast = false;
        if (opt.log_fast) {
            std::copy(f, f + n, fsave.begin());
            fast = log_pass_onexp(cost, n, m, sc, a, b, ta.data(), g, f, lse.data(), buf, totals, team, rows,
                                  static_cast<double*>(nullptr));
            if (!fast) std::copy(fsave.begin(), fsave.end(), f);
        }
        if (!fast) log_pass(cost, n, m, sc, ta.data(), g, f, true, lse.data(), buf, team, rows);
        for (int64_t j = 0; j < m; ++j) g[j] = cols.log(tb[j], lse[j], g[j], j);
    };
    InterruptPoll poll;
    const int annealed = anneal_log(
        anneal_stages(opt, double(reg)), opt.anneal_inner, double(reg), f, n, g, m, poll,
        [&](T c, double r_new) {
            rescale_log(f, loga.data(), n, c, kl_ref);
            rescale_log(g, logb.data(), m, c, kl_ref);
            use_reg(r_new);
        },
        [&](double rk) { iterate(T(-1 / rk), Team{nthreads, nthreads}); });
    const T scale = T(-1) / reg;
    SinkhornOptions every = opt;
    every.check_every = 1;  // the error below is measured at every iteration
    OmegaGuard guard(every);
    *info = SinkhornInfo{MAX_ITER, 0, 1.0};
    int ii;
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        std::copy(f, f + n, fprev.begin());
        std::copy(g, g + m, gprev.begin());
        {
            TunedIteration it(tuner, ii);
            iterate(scale, Team{nthreads, it.threads});
        }
        if (!log_scalings_ok(f, n) || !log_scalings_ok(g, m)) {
            std::copy(fprev.begin(), fprev.end(), f);
            std::copy(gprev.begin(), gprev.end(), g);
            *info = SinkhornInfo{NUMERICAL_ERROR, ii + annealed, info->err};
            return;
        }
        info->err = 0.5 * (rel_change_log(f, fprev.data(), n) + rel_change_log(g, gprev.data(), m));
        if (trace) trace->push_back(info->err);
        if (info->err < opt.stop_thr) {
            info->status = OK;
            info->niter = ii + annealed;
            return;
        }
        rows.omega = cols.omega = static_cast<T>(guard.update(info->err));
    }
    info->niter = std::max(0, ii - 1) + annealed;
}

}  // namespace

template <typename T>
void sinkhorn_unbalanced_cpu(const T* M, const T* Mk, int64_t n, int64_t m, const T* a, const T* B, int64_t N,
                             T reg, const UnbalancedOptions& uo, const SinkhornOptions& opt, T* U, T* V,
                             T* values, T* plan, SinkhornInfo* info, std::vector<double>* trace) {
    if (N <= 0) return;
    const double r1 = uo.reg_m1, r2 = uo.reg_m2, R = double(reg), inf = std::numeric_limits<double>::infinity();
    const double fi1 = unbalanced_exponent(r1, R), fi2 = unbalanced_exponent(r2, R);
    const T scale = T(-1) / reg;
    if (uo.method == UnbalancedMethod::LOG) {  // one log-domain solve per histogram
        const int nthreads = plan_parts(double(n) * double(m) * kNsPerExp, opt.num_threads);
        ThreadTuner tuner(nthreads, TUNE_SINKHORN_LOG, double(n) * double(m));
        std::vector<T> f(n), g(m), b(m);
        for (int64_t k = 0; k < N; ++k) {
            for (int64_t i = 0; i < n; ++i) f[i] = U[i * N + k];
            for (int64_t j = 0; j < m; ++j) g[j] = V[j * N + k], b[j] = B[j * N + k];
            SinkhornInfo ik;
            unbalanced_log_driver(DenseRows<T>{Mk, m}, n, m, a, b.data(), reg, r1, r2, false, opt, f.data(), g.data(),
                                  &ik, N == 1 ? trace : nullptr, nthreads, tuner);
            if (k == 0 || ik.status > info->status) *info = SinkhornInfo{ik.status, std::max(info->niter, ik.niter), ik.err};
            else info->niter = std::max(info->niter, ik.niter);
            for (int64_t i = 0; i < n; ++i) U[i * N + k] = f[i];
            for (int64_t j = 0; j < m; ++j) V[j * N + k] = g[j];
        }
        if (values != nullptr || plan != nullptr) unbalanced_plan_value(M, Mk, n, m, N, scale, U, V, values, plan, nthreads);
        return;
    }

    // Kernel forms on packed scalings (row stride ld, padding columns 0)
    const bool ti = uo.method == UnbalancedMethod::TRANSLATION_INVARIANT;
    const bool stab = uo.method == UnbalancedMethod::STABILIZED;
    const int64_t ld = packed_ld(N);
    const double pass_ns = double(n) * double(m) * (kNsPerKernelEntry + (N > 1 ? 2.0 * kNsPerTiledFma * double(ld) : 0.0));
    const int nthreads = plan_parts(pass_ns, opt.num_threads);
    ThreadTuner tuner(nthreads, N == 1 ? TUNE_SINKHORN : TUNE_SINKHORN_BATCH, double(n) * double(m) * double(N));
    std::vector<T> u(n * ld, T(0)), v(m * ld, T(0)), bp(m * ld, T(0)), ktu(m * ld), acc;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < N; ++k) u[i * ld + k] = std::exp(U[i * N + k]);
    for (int64_t j = 0; j < m; ++j)
        for (int64_t k = 0; k < N; ++k) v[j * ld + k] = std::exp(V[j * N + k]), bp[j * ld + k] = B[j * N + k];
    // TI: u, v above are the reported scalings; the products use the iterates u_, v_ (Sejourne et al.)
    std::vector<T> uit = u, vit = v, uprev, vprev;
    big_buffer<T> Kbuf = alloc_big<T>(static_cast<size_t>(n) * m), Sbuf;
    T* K = Kbuf.get();
    build_kernel(Mk, n, m, reg, K, u.data(), ld, ktu.data(), acc, nthreads);  // (ktu unused)
    // stabilized: potentials alpha, beta (shared by the histograms), per-entry factors of the rule
    std::vector<T> alpha(n, T(0)), beta(m, T(0)), phia(n, T(1)), phib(m, T(1));
    const T eps = stab ? T(1e-16) : T(0);
    UnbalancedRule<T> rows{static_cast<T>(fi1), eps, stab ? phia.data() : nullptr};
    UnbalancedRule<T> cols{static_cast<T>(fi2), eps, stab ? phib.data() : nullptr};
    // translation-invariant constants (Sejourne et al. 2022, as in POT)
    const double rr1 = std::isinf(r1) ? 0 : R / r1, rr2 = std::isinf(r2) ? 0 : R / r2;
    const double k1 = std::isinf(r1) ? 0 : R * r1 / ((R + r1) * (r1 + r2));
    const double k2 = std::isinf(r2) ? 0 : R * r2 / ((R + r2) * (r1 + r2));
    const double krho1 = std::isinf(r1) ? 0 : k1 * r1 / R, krho2 = std::isinf(r2) ? 0 : k2 * r2 / R;
    double xi1, xi2, fi12;
    if (std::isinf(r1) && std::isinf(r2)) xi1 = 0, xi2 = 0, fi12 = 1;
    else if (std::isinf(r1)) xi1 = 0, xi2 = R / r2, fi12 = r2;
    else if (std::isinf(r2)) xi1 = R / r1, xi2 = 0, fi12 = r1;
    else xi1 = (r2 * R) / (r1 * (R + r1 + r2)), xi2 = (r1 * R) / (r2 * (R + r1 + r2)), fi12 = r1 * r2 / (r1 + r2);
    const double xirho1 = std::isinf(r1) ? 0 : xi1 * r1 / R, xirho2 = std::isinf(r2) ? 0 : xi2 * r2 / R;
    (void)inf;
    // per-histogram sums sum_i w_i x_ik^p of the TI updates
    auto colsum_pow = [&](const std::vector<T>& x, const T* w, int64_t rows_, bool w_packed, double p, int64_t k) {
        double s = 0;
        for (int64_t i = 0; i < rows_; ++i) {
            const double wi = w_packed ? double(w[i * ld + k]) : double(w[i]);
            s += wi * (p == 0.0 ? 1.0 : std::pow(double(x[i * ld + k]), p));
        }
        return s;
    };

    *info = SinkhornInfo{MAX_ITER, 0, 1.0};
    double err = 1.0;
    bool absorbing = false;
    std::vector<double> cv(N), su(N);  // per-histogram factors of the translation-invariant updates
    int ii;
    InterruptPoll poll;
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        uprev = u;
        vprev = v;
        if (stab) {  // POT: f_alpha = exp(-alpha / (reg + reg_m1)) (1 for reg_m1 = inf)
            for (int64_t i = 0; i < n; ++i) phia[i] = std::isinf(r1) ? T(1) : T(std::exp(-double(alpha[i]) / (R + r1)));
            for (int64_t j = 0; j < m; ++j) phib[j] = std::isinf(r2) ? T(1) : T(std::exp(-double(beta[j]) / (R + r2)));
        }
        std::fill(cv.begin(), cv.end(), 1.0);  // TI: (sum_j b_j v_j^rr2)^krho2 per histogram, from the old v_
        if (ti)
            for (int64_t k = 0; k < N; ++k) cv[k] = std::pow(colsum_pow(vit, bp.data(), m, true, rr2, k), krho2);
        // u = rule(a, K v) and ktu = K^T u: one read of K
        {
            TunedIteration it(tuner, ii);
            const Team team{nthreads, it.threads};
            if (ld == 1) fused_pass_single(K, n, m, a, vit.data(), uit.data(), ktu.data(), acc, team, rows);
            else fused_pass_multi(K, n, m, a, vit.data(), uit.data(), ktu.data(), N, ld, acc, team, rows);
        }
        if (ti) {  // su: sum_i a_i u__i^(-rr1) per histogram
            for (int64_t k = 0; k < N; ++k) {  // u_ = u_hat (sum a u_hat^-rr1)^-xirho1, u_hat = cv (a / K v)^fi1
                double s = 0;
                for (int64_t i = 0; i < n; ++i) s += double(a[i]) * (rr1 == 0.0 ? 1.0 : std::pow(cv[k] * double(uit[i * ld + k]), -rr1));
                const double c = cv[k] * std::pow(s, -xirho1);
                for (int64_t i = 0; i < n; ++i) uit[i * ld + k] = static_cast<T>(uit[i * ld + k] * c);
                for (int64_t j = 0; j < m; ++j) ktu[j * ld + k] = static_cast<T>(ktu[j * ld + k] * c);
                su[k] = colsum_pow(uit, a, n, false, -rr1, k);
            }
        }
        // v = rule(b, K^T u)
        for (int64_t j = 0; j < m; ++j)
            for (int64_t k = 0; k < N; ++k) vit[j * ld + k] = cols(bp[j * ld + k], ktu[j * ld + k], vit[j * ld + k], j);
        if (ti) {
            for (int64_t k = 0; k < N; ++k) {  // v_ = v_hat (sum b v_hat^-rr2)^-xirho2, v_hat = (b / K^T u)^fi2 (sum a u_^-rr1)^krho1
                const double c1 = std::pow(su[k], krho1);
                double s = 0;
                for (int64_t j = 0; j < m; ++j) s += double(bp[j * ld + k]) * (rr2 == 0.0 ? 1.0 : std::pow(c1 * double(vit[j * ld + k]), -rr2));
                const double c = c1 * std::pow(s, -xirho2);
                for (int64_t j = 0; j < m; ++j) vit[j * ld + k] = static_cast<T>(vit[j * ld + k] * c);
            }
        }
        // numerical errors (POT: K^T u = 0 somewhere, or a scaling not finite): previous scalings, stop
        bool bad = false;
        for (int64_t j = 0; j < m; ++j)
            for (int64_t k = 0; k < N; ++k) bad |= ktu[j * ld + k] == T(0);
        absorbing = false;
        if (stab) {  // absorb large scalings into alpha, beta (POT: the maximum scaling; per row with N > 1)
            T umax = 0, vmax = 0;
            for (int64_t e = 0; e < n * ld; ++e) umax = std::max(umax, uit[e]);
            for (int64_t e = 0; e < m * ld; ++e) vmax = std::max(vmax, vit[e]);
            if (umax > T(opt.tau) || vmax > T(opt.tau)) {
                absorbing = true;
                for (int64_t i = 0; i < n; ++i) {
                    T mx = N == 1 ? umax : T(0);
                    if (N > 1) for (int64_t k = 0; k < N; ++k) mx = std::max(mx, uit[i * ld + k]);
                    alpha[i] += reg * std::log(mx);
                }
                for (int64_t j = 0; j < m; ++j) {
                    T mx = N == 1 ? vmax : T(0);
                    if (N > 1) for (int64_t k = 0; k < N; ++k) mx = std::max(mx, vit[j * ld + k]);
                    beta[j] += reg * std::log(mx);
                }
                if (!Sbuf) Sbuf = alloc_big<T>(static_cast<size_t>(n) * m);
                T* S = Sbuf.get();
#pragma omp parallel for num_threads(nthreads) schedule(static)
                for (int64_t i = 0; i < n; ++i)
                    for (int64_t j = 0; j < m; ++j) S[i * m + j] = Mk[i * m + j] - alpha[i] - beta[j];
                build_kernel(S, n, m, reg, K, uit.data(), ld, ktu.data(), acc, nthreads);  // (ktu rewritten below)
                for (int64_t j = 0; j < m; ++j)
                    for (int64_t k = 0; k < N; ++k) vit[j * ld + k] = T(1);
            }
        }
        for (int64_t e = 0; e < n * ld; ++e) bad |= !is_finite(uit[e]);
        for (int64_t e = 0; e < m * ld; ++e) bad |= !is_finite(vit[e]);
        if (bad) {
            u = uprev;
            v = vprev;
            *info = SinkhornInfo{NUMERICAL_ERROR, ii, err};
            break;
        }
        if (ti) {  // u = u_ t, v = v_ / t, t = (sum a u_^-rr1 / sum b v_^-rr2)^(fi12 / reg)
            for (int64_t k = 0; k < N; ++k) {
                const double t = std::pow(su[k] / colsum_pow(vit, bp.data(), m, true, -rr2, k), fi12 / R);
                for (int64_t i = 0; i < n; ++i) u[i * ld + k] = static_cast<T>(uit[i * ld + k] * t);
                for (int64_t j = 0; j < m; ++j) v[j * ld + k] = static_cast<T>(vit[j * ld + k] / t);
            }
            // t = ratio^(fi12 / reg) overflows at small reg (POT's iterate then turns NaN silently): stop
            bool finite = true;
            for (int64_t e = 0; e < n * ld; ++e) finite &= (is_finite(u[e]) && u[e] != T(0)) || uit[e] == T(0);
            for (int64_t e = 0; e < m * ld; ++e) finite &= (is_finite(v[e]) && v[e] != T(0)) || vit[e] == T(0);
            if (!finite) {
                u = uprev;
                v = vprev;
                *info = SinkhornInfo{NUMERICAL_ERROR, ii, err};
                break;
            }
        } else {
            u = uit;
            v = vit;
        }
        if (stab) {  // checked every 10 iterations, and not right after an absorption (POT)
            if ((ii % 10 == 0 && !absorbing) || ii == 0) {
                err = rel_change(u, uprev);
                if (trace) trace->push_back(err);
                if (err <= opt.stop_thr) {
                    *info = SinkhornInfo{OK, ii, err};
                    break;
                }
            }
        } else {
            err = 0.5 * (rel_change(u, uprev) + rel_change(v, vprev));
            if (trace) trace->push_back(err);
            if (err < opt.stop_thr) {
                *info = SinkhornInfo{OK, ii, err};
                break;
            }
        }
    }
    if (info->status == MAX_ITER) *info = SinkhornInfo{MAX_ITER, std::max(0, ii - 1), err};
    // log-scalings: log u (alpha / reg + log u when stabilized; -inf where u = 0) for the plan and value,
    // then out as POT's log(u + 1e-300) (log u when stabilized)
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < N; ++k) U[i * N + k] = T((stab ? double(alpha[i]) / R : 0.0) + std::log(double(u[i * ld + k])));
    for (int64_t j = 0; j < m; ++j)
        for (int64_t k = 0; k < N; ++k) V[j * N + k] = T((stab ? double(beta[j]) / R : 0.0) + std::log(double(v[j * ld + k])));
    if (values != nullptr || plan != nullptr) unbalanced_plan_value(M, Mk, n, m, N, scale, U, V, values, plan, nthreads);
    if (!stab) {
        for (int64_t i = 0; i < n; ++i)
            for (int64_t k = 0; k < N; ++k) U[i * N + k] = T(std::log(double(u[i * ld + k]) + 1e-300));
        for (int64_t j = 0; j < m; ++j)
            for (int64_t k = 0; k < N; ++k) V[j * N + k] = T(std::log(double(v[j * ld + k]) + 1e-300));
    }
}

template <typename T>
void sinkhorn_unbalanced_cloud_cpu(const T* x, const T* y, int64_t n, int64_t m, int64_t d, bool euclidean,
                                   const T* a, const T* b, T reg, double reg_m1, double reg_m2, bool kl_ref,
                                   const SinkhornOptions& opt, T* f, T* g, T* value, T* row_mass, T* col_mass,
                                   SinkhornInfo* info, std::vector<double>* trace) {
    std::vector<T> xT(static_cast<size_t>(d) * n), yT(static_cast<size_t>(d) * m);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < d; ++k) xT[k * n + i] = x[i * d + k];
    for (int64_t j = 0; j < m; ++j)
        for (int64_t k = 0; k < d; ++k) yT[k * m + j] = y[j * d + k];
    const CloudRows<T> rows{x, yT.data(), m, d, euclidean}, cols{y, xT.data(), n, d, euclidean};  // C and C^T
    const int nthreads = plan_parts(double(n) * double(m) * (kNsPerExp + double(d) * kNsPerKernelEntry),
                                    opt.num_threads);
    ThreadTuner tuner(nthreads, TUNE_SINKHORN_LOG, double(n) * double(m));
    unbalanced_log_driver(rows, n, m, a, b, reg, reg_m1, reg_m2, kl_ref, opt, f, g, info, trace, nthreads, tuner);
    // the plan's marginals P 1 = exp(f + LSE_j(-C/reg + g)), P^T 1 = exp(g + LSE_i(-C/reg + f)) (column passes of
    // C^T and C that leave the potentials as they are) and <P, C>
    const T scale = T(-1) / reg;
    const Team all{nthreads, nthreads};
    const BalancedRule<T> unused_rule{T(1)};
    std::vector<T> lse, buf;
    if (col_mass != nullptr) {
        lse.resize(m);
        log_pass(rows, n, m, scale, static_cast<const T*>(nullptr), g, f, false, lse.data(), buf, all, unused_rule);
        for (int64_t j = 0; j < m; ++j) col_mass[j] = std::exp(g[j] + lse[j]);
    }
    if (row_mass != nullptr) {
        lse.resize(n);
        log_pass(cols, m, n, scale, static_cast<const T*>(nullptr), f, g, false, lse.data(), buf, all, unused_rule);
        for (int64_t i = 0; i < n; ++i) row_mass[i] = std::exp(f[i] + lse[i]);
    }
    if (value != nullptr) *value = log_plan_value(rows, n, m, scale, f, g, static_cast<T*>(nullptr), nthreads);
}

// ---------------------------------------------------------------------------------------
// Batches of independent problems (minibatch OT)
// ---------------------------------------------------------------------------------------
// Each problem runs the single-problem solver of `method` (its own iterates and stopping rule) on one thread,
// the problems shared dynamically between the threads: the result is that of nb separate calls with
// num_threads = 1, however many threads run. Small problems (minibatches of a few hundred points) gain nothing
// from threads inside a pass, and a barrier per iteration would cost more than the pass itself; one problem
// per thread has no barrier at all. With fewer problems than threads, the problems run one after the other,
// each on all threads. Ctrl-C: the calling thread (thread 0) polls inside its solves; the other problems
// stop at their next start, and Interrupted is rethrown after the parallel region.
template <typename T>
void sinkhorn_batch_cpu(const T* M, const T* x, const T* y, int64_t d, bool euclidean, int64_t nb, int64_t n,
                        int64_t m, const T* A, const T* Bh, T reg, SinkhornMethod method, const SinkhornOptions& opt,
                        T* X, T* Y, T* values, T* plans, SinkhornInfo* info) {
    const int full = threads_allowed(opt.num_threads);
    const bool across = nb >= full && full > 1;  // one problem per thread
    SinkhornOptions one = opt;
    if (across) one.num_threads = 1;
    std::atomic<bool> stop{false};
    std::exception_ptr error = nullptr;
    auto solve = [&](int64_t k, std::vector<T>& C, std::vector<T>& yT) {
        const T* Mk = M != nullptr ? M + k * n * m : nullptr;
        if (Mk == nullptr) {  // the costs of clouds k, as CloudRows (summed over the coordinates in order)
            const T* yk = y + k * m * d;
            for (int64_t j = 0; j < m; ++j)
                for (int64_t c = 0; c < d; ++c) yT[c * m + j] = yk[j * d + c];
            CloudRows<T> rows{x + k * n * d, yT.data(), m, d, euclidean};
            for (int64_t i0 = 0; i0 < n; i0 += kTileRows)
                rows.tile(i0, std::min<int64_t>(n, i0 + kTileRows), C.data() + i0 * m);
            Mk = C.data();
        }
        T* val = values != nullptr ? values + k : nullptr;
        T* P = plans != nullptr ? plans + k * n * m : nullptr;
        if (method == SinkhornMethod::KERNEL)
            sinkhorn_knopp_cpu<T>(Mk, n, m, A + k * n, Bh + k * m, 1, reg, one, X + k * n, Y + k * m, val, P,
                                  &info[k], nullptr);
        else if (method == SinkhornMethod::LOG)
            sinkhorn_log_cpu<T>(Mk, n, m, A + k * n, Bh + k * m, reg, one, X + k * n, Y + k * m, val, P, &info[k],
                                nullptr);
        else
            sinkhorn_stabilized_cpu<T>(Mk, n, m, A + k * n, Bh + k * m, reg, one, X + k * n, Y + k * m, val, P,
                                       &info[k], nullptr);
    };
    const size_t cbuf = M == nullptr ? size_t(n) * size_t(m) : 0, ybuf = M == nullptr ? size_t(m) * size_t(d) : 0;
    if (!across) {
        std::vector<T> C(cbuf), yT(ybuf);
        for (int64_t k = 0; k < nb; ++k) solve(k, C, yT);  // (Interrupted propagates from here)
        return;
    }
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(full, nb)))
    {
        std::vector<T> C(cbuf), yT(ybuf);
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < nb; ++k) {
            if (stop.load(std::memory_order_relaxed)) continue;
            try {
                solve(k, C, yT);
            } catch (...) {  // Interrupted (thread 0) or bad_alloc: leave the region normally, rethrow below
#pragma omp critical(otkit_sinkhorn_batch_error)
                if (!error) error = std::current_exception();
                stop.store(true);
            }
        }
    }
    if (error) std::rethrow_exception(error);
}

#define OTKIT_INSTANTIATE(T)                                                                        \
    template void sinkhorn_knopp_cpu<T>(const T*, int64_t, int64_t, const T*, const T*, int64_t, T, \
                                        const SinkhornOptions&, T*, T*, T*, T*, SinkhornInfo*,      \
                                        std::vector<double>*);                                     \
    template void sinkhorn_log_cpu<T>(const T*, int64_t, int64_t, const T*, const T*, T,            \
                                      const SinkhornOptions&, T*, T*, T*, T*, SinkhornInfo*,        \
                                      std::vector<double>*);                                       \
    template void sinkhorn_stabilized_cpu<T>(const T*, int64_t, int64_t, const T*, const T*, T,     \
                                             const SinkhornOptions&, T*, T*, T*, T*, SinkhornInfo*, \
                                             std::vector<double>*);                                     \
    template void sinkhorn_log_cloud_cpu<T>(const T*, const T*, int64_t, int64_t, int64_t, bool, const T*, const T*, T,  \
                                            const SinkhornOptions&, T*, T*, T*, T*, SinkhornInfo*,                    \
                                            std::vector<double>*);                                                   \
    template void sinkhorn_symmetric_cloud_cpu<T>(const T*, int64_t, int64_t, bool, const T*, T, double,                    \
                                                  const SinkhornOptions&, T*, SinkhornInfo*, std::vector<double>*);  \
    template void sinkhorn_unbalanced_cpu<T>(const T*, const T*, int64_t, int64_t, const T*, const T*, int64_t, T, \
                                             const UnbalancedOptions&, const SinkhornOptions&, T*, T*, T*, T*,    \
                                             SinkhornInfo*, std::vector<double>*);                                \
    template void sinkhorn_unbalanced_cloud_cpu<T>(const T*, const T*, int64_t, int64_t, int64_t, bool, const T*, \
                                                   const T*, T, double, double, bool, const SinkhornOptions&, T*, T*, \
                                                   T*, T*, T*, SinkhornInfo*, std::vector<double>*);                \
    template void sinkhorn_batch_cpu<T>(const T*, const T*, const T*, int64_t, bool, int64_t, int64_t, int64_t,   \
                                        const T*, const T*, T, SinkhornMethod, const SinkhornOptions&, T*, T*, T*, \
                                        T*, SinkhornInfo*);
OTKIT_INSTANTIATE(double)
OTKIT_INSTANTIATE(float)
#undef OTKIT_INSTANTIATE

}  // namespace otkit
