// Wasserstein barycenters on the CPU.
//
// Fixed support, kernel form (Benamou et al. 2015, iterative Bregman projections), in POT's
// order of updates (ot.bregman.barycenter_sinkhorn): with K = exp(-M / reg) (d x d) and
// scalings u (d x N),
//     UKv = u * K^T (A / (K u)),   bar = exp(log(UKv) w),   u = u * bar / UKv,
// and every 10th iteration (ii % 10 == 1) err = sum_i std_k UKv_ik.
// The two matrix-matrix products of an iteration (X = K u, then K^T Y with Y = A / X) run on
// one of two operators, no BLAS:
// - M symmetric (any metric cost): K is symmetric, stored once in packed panels of MR rows (the
//   MR entries of each column contiguous), the layout of a GEMM micro-kernel: per column j of a
//   panel, MV vector loads of K, one broadcast per histogram and MV FMAs per histogram into
//   registers; each product reads K once and each entry serves up to 12 histograms.
// - otherwise (and for the stabilized form, whose K is never symmetric) the products are
//   *fused*: K is cut into panels of P rows that fit in L2; for each panel, X = K_panel u
//   (step A), Y = A_panel / X, then Z += K_panel^T Y (step B) while the panel is still in cache,
//   so K is streamed from memory once per iteration, with register-blocked micro-kernels on
//   SIMD vectors along the rows of K (one row-major copy of K serves both products).
//
// Log domain (POT's _barycenter_sinkhorn_log): row and column log-sum-exps with a max pass
// and a sum pass, vectorized along contiguous rows, all histograms per row load.
//
// Debiased barycenters (Janati et al. 2020, POT's _barycenter_debiased and its log and convolutional
// forms): the same operators and passes, with the debiasing potential c carried as one more
// histogram (fixed support, kernel form) or one more image (convolutional).
//
// Convolutional (Solomon et al. 2015, POT's _convolutional_barycenter2d): the Gaussian kernel
// on a (R x C) grid is K1 (R x R) along the rows and K2 (C x C) along the columns; one
// convolution of N images is T_k = K1 X_k (N small GEMMs) then T K2 (one GEMM with N R rows).
// The (RC x RC) kernel is never formed.
#include "cpu/barycenter_cpu.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "common/interrupt.h"
#include "common/otkit_common.h"

#include "common/omp_compat.h"
#include "common/threads.h"

namespace otkit {
namespace {

#if defined(__AVX512F__)
constexpr int W = 8;  // doubles per SIMD vector
constexpr int RB = 4;  // fused pass, step A: rows per micro-tile
constexpr int NRMAX = 12;  // packed products: histograms per micro-tile (2 x 12 accumulators)
#else
constexpr int W = 4;
constexpr int RB = 2;
constexpr int NRMAX = 6;  // 2 x 6 accumulators in the 16 AVX2 registers
#endif
constexpr int NBMAX = 5;  // fused pass: histograms per micro-tile (steps A and B)
constexpr int JBMAX = 4;  // fused pass, step B: vectors of columns per micro-tile
constexpr int MV = 2;  // packed products: vectors per column of a panel of K
constexpr int MR = MV * W;  // packed products: rows of K per panel
constexpr int GEMM_MR = 6, GEMM_NV = 4;  // convolution GEMM micro-tile: 6 rows x 4 vectors

typedef double vd __attribute__((vector_size(W * sizeof(double))));

inline vd vload(const double* p) {
    vd v;
    std::memcpy(&v, p, sizeof(vd));
    return v;
}
inline void vstore(double* p, vd v) { std::memcpy(p, &v, sizeof(vd)); }
inline vd vbcast(double x) {  // one vbroadcastsd
#if defined(__AVX512F__)
    return vd{x, x, x, x, x, x, x, x};
#else
    return vd{x, x, x, x};
#endif
}
// Keeps v in a register: without it GCC re-reads v from memory in every FMA of a micro-tile,
// which makes the loop load-bound.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX__)  // vd fits one AVX register
#define OTKIT_IN_REG(v) __asm__("" : "+x"(v))
#else
#define OTKIT_IN_REG(v) (void)0
#endif
inline double hsum(vd v) {
    double s = 0;
    for (int l = 0; l < W; ++l) s += v[l];
    return s;
}
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline double neg_inf() { return -std::numeric_limits<double>::infinity(); }

// The common policy (common/threads.h) with the work of a parallel region counted in register-tiled
// multiply-adds (the exps of the log passes too: measured, they gain from threads at the same sizes).
int pick_threads(const BaryOptions& opt, int64_t work) {
    return plan_parts(double(work) * kNsPerTiledFma, opt.num_threads);
}

// Split N histograms into chunks of at most nbmax, as even as possible.
std::vector<std::pair<int64_t, int>> hist_chunks(int64_t N, int nbmax) {
    std::vector<std::pair<int64_t, int>> out;
    const int64_t nc = (N + nbmax - 1) / nbmax;
    int64_t k0 = 0;
    for (int64_t c = 0; c < nc; ++c) {
        const int nb = static_cast<int>(N / nc + (c < N % nc ? 1 : 0));
        out.emplace_back(k0, nb);
        k0 += nb;
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// Fused dense pass (fixed support)
// ---------------------------------------------------------------------------------------

// Step A micro-kernel: X[i, k] = sum_j K[i, j] VT[k, j] for R rows from i0, NB histograms
// from k0 (VT: N x dp, k-major, so the sum over j runs along contiguous vectors).
template <int R, int NB>
void stepA(const double* K, int64_t dp, int64_t i0, const double* VT, int64_t k0, double* X, int64_t N) {
    vd acc[R][NB];
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < NB; ++q) acc[r][q] = vbcast(0.0);
    const double* Kr[R];
    for (int r = 0; r < R; ++r) Kr[r] = K + (i0 + r) * dp;
    const double* Vq[NB];
    for (int q = 0; q < NB; ++q) Vq[q] = VT + (k0 + q) * dp;
    for (int64_t j = 0; j < dp; j += W) {
        vd kv[R];
        for (int r = 0; r < R; ++r) kv[r] = vload(Kr[r] + j);
        for (int q = 0; q < NB; ++q) {
            vd v = vload(Vq[q] + j);
            OTKIT_IN_REG(v);
            for (int r = 0; r < R; ++r) acc[r][q] += kv[r] * v;
        }
    }
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < NB; ++q) X[(i0 + r) * N + k0 + q] = hsum(acc[r][q]);
}

template <int R>
void stepA_nb(int nb, const double* K, int64_t dp, int64_t i0, const double* VT, int64_t k0, double* X, int64_t N) {
    switch (nb) {
        case 1: stepA<R, 1>(K, dp, i0, VT, k0, X, N); break;
        case 2: stepA<R, 2>(K, dp, i0, VT, k0, X, N); break;
        case 3: stepA<R, 3>(K, dp, i0, VT, k0, X, N); break;
        case 4: stepA<R, 4>(K, dp, i0, VT, k0, X, N); break;
        default: stepA<R, 5>(K, dp, i0, VT, k0, X, N); break;
    }
}

void stepA_rows(const double* K, int64_t dp, int64_t i0, int64_t i1, const double* VT, int64_t N,
                const std::vector<std::pair<int64_t, int>>& chunks, double* X) {
    int64_t i = i0;
    for (; i + RB <= i1; i += RB)
        for (const auto& c : chunks) stepA_nb<RB>(c.second, K, dp, i, VT, c.first, X, N);
    for (; i < i1; ++i)
        for (const auto& c : chunks) stepA_nb<1>(c.second, K, dp, i, VT, c.first, X, N);
}

// Step B micro-kernel: ZT[k, j] += sum_{i in [i0, i1)} Y[i, k] K[i, j] for JB vectors of
// columns from j0 and NB histograms from k0 (accumulated in registers over the panel rows).
// pf: distance (in doubles) to the same place in the next panel, prefetched into L2 while this
// one is computed (0: none), so that step A of the next panel finds K in cache.
template <int JB, int NB>
void stepB(const double* K, int64_t dp, int64_t i0, int64_t i1, const double* Y, int64_t N, int64_t k0, int64_t j0,
           double* ZT, int64_t pf) {
    vd acc[NB][JB];
    for (int q = 0; q < NB; ++q)
        for (int v = 0; v < JB; ++v) acc[q][v] = vload(ZT + (k0 + q) * dp + j0 + v * W);
    for (int64_t i = i0; i < i1; ++i) {
        vd kv[JB];
        const double* Ki = K + i * dp + j0;
        if (pf)
            for (int v = 0; v < JB * W; v += 8) __builtin_prefetch(Ki + pf + v, 0, 2);
        for (int v = 0; v < JB; ++v) kv[v] = vload(Ki + v * W);
        const double* Yi = Y + i * N + k0;
        for (int q = 0; q < NB; ++q) {
            const vd y = vbcast(Yi[q]);
            for (int v = 0; v < JB; ++v) acc[q][v] += y * kv[v];
        }
    }
    for (int q = 0; q < NB; ++q)
        for (int v = 0; v < JB; ++v) vstore(ZT + (k0 + q) * dp + j0 + v * W, acc[q][v]);
}

template <int JB>
void stepB_nb(int nb, const double* K, int64_t dp, int64_t i0, int64_t i1, const double* Y, int64_t N, int64_t k0,
              int64_t j0, double* ZT, int64_t pf) {
    switch (nb) {
        case 1: stepB<JB, 1>(K, dp, i0, i1, Y, N, k0, j0, ZT, pf); break;
        case 2: stepB<JB, 2>(K, dp, i0, i1, Y, N, k0, j0, ZT, pf); break;
        case 3: stepB<JB, 3>(K, dp, i0, i1, Y, N, k0, j0, ZT, pf); break;
        case 4: stepB<JB, 4>(K, dp, i0, i1, Y, N, k0, j0, ZT, pf); break;
        default: stepB<JB, 5>(K, dp, i0, i1, Y, N, k0, j0, ZT, pf); break;
    }
}

// i_next: first row of the next panel of this thread (or -1).
void stepB_panel(const double* K, int64_t dp, int64_t i0, int64_t i1, const double* Y, int64_t N,
                 const std::vector<std::pair<int64_t, int>>& chunks, double* ZT, int64_t d, int64_t i_next) {
    const int64_t nv = dp / W;
    // prefetch only when the next panel is a full one (the prefetched rows then exist)
    const int64_t pf = (i_next >= 0 && i_next + (i1 - i0) <= d) ? (i_next - i0) * dp : 0;
    for (int64_t v0 = 0; v0 < nv; v0 += JBMAX) {
        const int jb = static_cast<int>(std::min<int64_t>(JBMAX, nv - v0));
        const int64_t j0 = v0 * W;
        bool first = true;
        for (const auto& c : chunks) {
            const int64_t p = first ? pf : 0;
            first = false;
            switch (jb) {
                case 1: stepB_nb<1>(c.second, K, dp, i0, i1, Y, N, c.first, j0, ZT, p); break;
                case 2: stepB_nb<2>(c.second, K, dp, i0, i1, Y, N, c.first, j0, ZT, p); break;
                case 3: stepB_nb<3>(c.second, K, dp, i0, i1, Y, N, c.first, j0, ZT, p); break;
                default: stepB_nb<4>(c.second, K, dp, i0, i1, Y, N, c.first, j0, ZT, p); break;
            }
        }
    }
}

// The scaling of step A of a fused pass, Y_ik = ratio(A_ik, X_ik, i) with X = K V:
// - Bregman projections (balanced): Y = A / X;
// - unbalanced (KL-relaxed marginal, Chizat et al. 2016): Y = (A / (X + eps))^fi f_i, fi = reg_m / (reg_m + reg),
//   f_i the absorbed factor of the stabilized form (POT's barycenter_unbalanced_*: eps 0 or 1e-16, f none or
//   exp(-alpha_i / (reg + reg_m))).
struct PlainRatio {
    double operator()(double a, double x, int64_t /*i*/) const { return a / x; }
};
// r^p for r >= 0 and p > 0 as exp(p log r) with fast_log / fast_exp (vectorizable; within a few ulps of
// std::pow, whose calls took a sixth of an unbalanced iteration at d = 1024, N = 10); inf on overflow, as pow.
inline double pow_pos(double r, double p) {
    const double t = p * fast_log(r);
    return t > 709.782712893384 ? HUGE_VAL : fast_exp(t);
}
struct PowRatio {  // fi < 1
    double fi, eps;
    const double* f;  // per-row factor
    double operator()(double a, double x, int64_t i) const { return pow_pos(a / (x + eps), fi) * f[i]; }
};
struct DivRatio {  // fi = 1 (reg_m = inf)
    double eps;
    const double* f;
    double operator()(double a, double x, int64_t i) const { return a / (x + eps) * f[i]; }
};

// Y[k] = ratio(A[k], X[k], i) for the N entries of row i (vectorized)
template <class Ratio>
inline void ratio_row(const Ratio& ratio, const double* __restrict A, const double* __restrict X, double* __restrict Y,
                      int64_t N, int64_t i) {
#pragma omp simd
    for (int64_t k = 0; k < N; ++k) Y[k] = ratio(A[k], X[k], i);
}

// K (d x dp, zero-padded columns) applied to N histograms at once.
// The panels are split into `nslots` contiguous ranges with one ZT accumulator each, summed in
// slot order: the result does not depend on how many threads (up to 8) run the pass.
struct DenseOp {
    static constexpr TunerKind tuner_kind = TUNE_BARY_DENSE;
    int64_t d = 0, dp = 0, N = 0;
    int nslots = 1;
    int64_t panel = 32;  // rows per panel: panel * dp * 8 bytes stay in L2
    std::vector<double> K;
    std::vector<double> acc;  // per-slot ZT accumulators
    std::vector<std::pair<int64_t, int>> chunks;

    void init(int64_t d_, int64_t N_, int nt) {
        d = d_;
        N = N_;
        dp = round_up(d, W);
        K.assign(static_cast<size_t>(d * dp), 0.0);
        chunks = hist_chunks(N, NBMAX);
        panel = std::max<int64_t>(RB, std::min<int64_t>(64, (256 * 1024 / 8) / std::max<int64_t>(dp, 1)));
        panel = panel / RB * RB;
        const int64_t npan = (d + panel - 1) / panel;
        // at least 8 slots whatever the thread count (results identical for 1 to 8 threads)
        nslots = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(std::max(8, nt), npan)));
    }

    // The number of histograms of the next passes (at most the N of init for the sizes of
    // the buffers given to pass): the debiased solver alternates N + 1 and N.
    void set_hists(int64_t n) {
        if (n == N) return;
        N = n;
        chunks = hist_chunks(N, NBMAX);
    }

    // K from kij.row(i, c0, cn, out) = K(i, c0 .. c0 + cn)
    template <class F>
    void build(F kij, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < d; ++i) kij.row(i, 0, d, K.data() + i * dp);
    }

    // colsum[j] = sum_i K_ij, in increasing i (serial: a single pass over a row-major K)
    void colsum(double* cs, int /*nt*/) const {
        std::fill(cs, cs + d, 0.0);
        for (int64_t i = 0; i < d; ++i) {
            const double* Ki = K.data() + i * dp;
            for (int64_t j = 0; j < d; ++j) cs[j] += Ki[j];
        }
    }

    // X = K V (V given as VT, N x dp). If A != nullptr: Y = ratio(A, X) (d x N) and ZT = K^T Y (N x dp).
    template <class Ratio = PlainRatio>
    void pass(const double* VT, double* X, const double* A, double* Y, double* ZT, int nt, Ratio ratio = Ratio()) {
        const int64_t npan = (d + panel - 1) / panel;
        const bool stepb = A != nullptr;
        nt = std::max(1, std::min(nt, nslots));
        if (stepb) acc.resize(static_cast<size_t>(nslots) * N * dp);
#pragma omp parallel num_threads(nt)
        {
#pragma omp for schedule(static, 1)
            for (int s = 0; s < nslots; ++s) {
                double* my = stepb ? acc.data() + static_cast<size_t>(s) * N * dp : nullptr;
                if (stepb) std::fill(my, my + N * dp, 0.0);
                const int64_t p0 = npan * s / nslots, p1 = npan * (s + 1) / nslots;
                for (int64_t p = p0; p < p1; ++p) {
                    const int64_t i0 = p * panel, i1 = std::min(d, i0 + panel);
                    stepA_rows(K.data(), dp, i0, i1, VT, N, chunks, X);
                    if (!stepb) continue;
                    for (int64_t i = i0; i < i1; ++i) ratio_row(ratio, A + i * N, X + i * N, Y + i * N, N, i);
                    stepB_panel(K.data(), dp, i0, i1, Y, N, chunks, my, d, p + 1 < p1 ? i1 : -1);
                }
            }
            if (stepb) {
#pragma omp for schedule(static)
                for (int64_t e = 0; e < N * dp; ++e) {
                    double sum = acc[e];
                    for (int t = 1; t < nslots; ++t) sum += acc[static_cast<size_t>(t) * N * dp + e];
                    ZT[e] = sum;
                }
            }
        }
    }
};

// ---------------------------------------------------------------------------------------
// Dense products with K (fixed support)
// ---------------------------------------------------------------------------------------

// Micro-kernel: out[i0 + r, k0 + q] = sum_j P[j * MR + r] V[j * ldv + k0 + q] for the MR rows of
// one packed panel P (MR consecutive rows of a matrix, interleaved: the MR entries of column j
// are contiguous) and NR histograms. Outer-product form: per j, MV vector loads of P, NR
// broadcasts of V and MV * NR FMAs into registers; the sum over j runs once, without horizontal
// sums. Rows past rv (the last, partial panel) are not written.
// kmajor: out[k * ldo + i] (vector stores); else out[i * ldo + k] (scalar stores).
template <int NR, bool kmajor>
void panel_tile(const double* P, int64_t d, const double* V, int64_t ldv, int64_t k0, double* out, int64_t ldo,
                int64_t i0, int64_t rv) {
    vd acc[MV][NR];
    for (int v = 0; v < MV; ++v)
        for (int q = 0; q < NR; ++q) acc[v][q] = vbcast(0.0);
    const double* vj = V + k0;
    for (int64_t j = 0; j < d; ++j, vj += ldv) {
        vd kv[MV];
        for (int v = 0; v < MV; ++v) kv[v] = vload(P + j * MR + v * W);
        for (int q = 0; q < NR; ++q) {
            const vd b = vbcast(vj[q]);
            for (int v = 0; v < MV; ++v) acc[v][q] += kv[v] * b;
        }
    }
    if (kmajor && rv == MR) {
        for (int q = 0; q < NR; ++q)
            for (int v = 0; v < MV; ++v) vstore(out + (k0 + q) * ldo + i0 + v * W, acc[v][q]);
        return;
    }
    for (int q = 0; q < NR; ++q)
        for (int v = 0; v < MV; ++v)
            for (int l = 0; l < W; ++l) {
                const int64_t r = v * W + l;
                if (r >= rv) break;
                if (kmajor)
                    out[(k0 + q) * ldo + i0 + r] = acc[v][q][l];
                else
                    out[(i0 + r) * ldo + k0 + q] = acc[v][q][l];
            }
}

template <bool kmajor>
void panel_tile_nr(int nr, const double* P, int64_t d, const double* V, int64_t ldv, int64_t k0, double* out,
                   int64_t ldo, int64_t i0, int64_t rv) {
    switch (nr) {
#define OTKIT_TILE_CASE(R) \
    case R: panel_tile<R, kmajor>(P, d, V, ldv, k0, out, ldo, i0, rv); break;
        OTKIT_TILE_CASE(1) OTKIT_TILE_CASE(2) OTKIT_TILE_CASE(3) OTKIT_TILE_CASE(4) OTKIT_TILE_CASE(5)
        OTKIT_TILE_CASE(6)
#if defined(__AVX512F__)
        OTKIT_TILE_CASE(7) OTKIT_TILE_CASE(8) OTKIT_TILE_CASE(9) OTKIT_TILE_CASE(10) OTKIT_TILE_CASE(11)
        OTKIT_TILE_CASE(12)
#endif
#undef OTKIT_TILE_CASE
        default: break;
    }
}

// A symmetric K (d x d) applied to N histograms at once, stored packed: panel p holds rows
// [p MR, p MR + MR) of K with the MR entries of each column contiguous (zero rows past d). As K
// is symmetric, K^T Y is K Y and one copy serves both products, each reading K once. (For a
// non-symmetric K a second, transposed copy would double the bytes per iteration, beyond the
// L3 cache at d = 1024: DenseOp's fused pass is faster there.) Each output entry is computed by
// one thread in a fixed order: the results do not depend on the number of threads.
struct PackedOp {
    static constexpr TunerKind tuner_kind = TUNE_BARY_PACKED;
    int64_t d = 0, dp = 0, N = 0, np = 0;
    std::unique_ptr<double[]> Kp;  // uninitialized: first touched by build, on all threads
    std::vector<double> V;  // d x N row-major copy of the input of X = K V
    std::vector<std::pair<int64_t, int>> chunks;

    void init(int64_t d_, int64_t N_) {
        d = d_;
        N = N_;
        dp = round_up(d, W);
        np = (d + MR - 1) / MR;
        Kp.reset(new double[static_cast<size_t>(np * d * MR)]);
        V.assign(static_cast<size_t>(d * N), 0.0);
        chunks = hist_chunks(N, NRMAX);
    }
    const double* K_panel(int64_t p) const { return Kp.get() + p * d * MR; }

    // Fills the panels from kij.row(i, c0, cn, out) = K(i, c0 .. c0 + cn) (contiguous,
    // vectorized): panel p holds P[i MR + r] = K(i, p MR + r) = K(p MR + r, i).
    // Rows of K are made in blocks of RBLK contiguous rows (sequential reads of M, vectorized
    // exp) into a buffer that stays in L2, then scattered into the panels: reading M panel by
    // panel instead (16 entries of every row, rows d doubles apart) took several ms at d = 1024.
    template <class F>
    void build(F kij, int nt) {
        constexpr int64_t RBLK = 32;
        const int64_t nblk = (d + RBLK - 1) / RBLK;
#pragma omp parallel num_threads(nt)
        {
            std::vector<double> buf(static_cast<size_t>(RBLK * d));
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nblk; ++b) {
                const int64_t i0 = b * RBLK, rn = std::min<int64_t>(RBLK, d - i0);
                for (int64_t t = 0; t < rn; ++t) kij.row(i0 + t, 0, d, buf.data() + t * d);
                for (int64_t p = 0; p < np; ++p) {
                    const int64_t c0 = p * MR, cn = std::min<int64_t>(MR, d - c0);
                    double* P = Kp.get() + p * d * MR + i0 * MR;
                    for (int64_t t = 0; t < rn; ++t) {
                        for (int64_t r = 0; r < cn; ++r) P[t * MR + r] = buf[t * d + c0 + r];
                        for (int64_t r = cn; r < MR; ++r) P[t * MR + r] = 0.0;  // rows past d
                    }
                }
            }
        }
    }

    // colsum[j] = sum_i K_ij = sum_i K_ji, in increasing i: panel p holds the sums of its MR
    // columns, vectorized over them
    void colsum(double* cs, int nt) const {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < np; ++p) {
            const double* P = K_panel(p);  // P[i MR + r] = K(i, p MR + r)
            vd acc[MV];
            for (int v = 0; v < MV; ++v) acc[v] = vbcast(0.0);
            for (int64_t i = 0; i < d; ++i)
                for (int v = 0; v < MV; ++v) acc[v] += vload(P + i * MR + v * W);
            const int64_t cn = std::min<int64_t>(MR, d - p * MR);
            for (int64_t r = 0; r < cn; ++r) cs[p * MR + r] = acc[r / W][r % W];
        }
    }

    // X = K V (V given as VT, N x dp; X d x N row-major). If A != nullptr: Y = ratio(A, X) (d x N)
    // and ZT = K^T Y (N x dp).
    template <class Ratio = PlainRatio>
    void pass(const double* VT, double* X, const double* A, double* Y, double* ZT, int nt, Ratio ratio = Ratio()) {
        const bool stepb = A != nullptr;
        nt = std::max(1, nt);
#pragma omp parallel num_threads(nt)
        {
#pragma omp for schedule(static)
            for (int64_t j = 0; j < d; ++j)
                for (int64_t k = 0; k < N; ++k) V[j * N + k] = VT[k * dp + j];
#pragma omp for schedule(static)
            for (int64_t p = 0; p < np; ++p) {
                const int64_t i0 = p * MR, rv = std::min<int64_t>(MR, d - i0);
                for (const auto& c : chunks) panel_tile_nr<false>(c.second, K_panel(p), d, V.data(), N, c.first, X, N, i0, rv);
                if (stepb)
                    for (int64_t i = i0; i < i0 + rv; ++i) ratio_row(ratio, A + i * N, X + i * N, Y + i * N, N, i);
            }
            if (stepb) {
#pragma omp for schedule(static)
                for (int64_t p = 0; p < np; ++p) {
                    const int64_t i0 = p * MR, rv = std::min<int64_t>(MR, d - i0);
                    for (const auto& c : chunks)
                        panel_tile_nr<true>(c.second, K_panel(p), d, Y, N, c.first, ZT, dp, i0, rv);
                }
            }
        }
    }
};

// M == M^T exactly (then K = exp(-M / reg) is symmetric too, entry by entry). Compared in 32 x 32 tiles,
// tile rows on all threads: the mirror tile is read row by row (contiguous) into a transposed copy in L1,
// then compared with the tile row by row, vectorized (0.21 ms at d = 1024 on 2 threads, against 0.87 ms
// for reading the mirror tile column by column).
bool is_symmetric(const double* M, int64_t d, int nt) {
    constexpr int64_t T = 32;
    const int64_t nb = (d + T - 1) / T;
    int asym = 0;
#pragma omp parallel num_threads(nt) reduction(| : asym)
    {
        alignas(64) double tr[T * T];
#pragma omp for schedule(dynamic, 1)
        for (int64_t bi = 0; bi < nb; ++bi) {
            if (asym) continue;
            const int64_t i0 = bi * T, ni = std::min(T, d - i0);
            for (int64_t j0 = 0; j0 <= i0 && !asym; j0 += T) {
                const int64_t nj = std::min(T, d - j0);
                for (int64_t j = 0; j < nj; ++j) {  // tr[i][j] = M[j0 + j, i0 + i]
                    const double* row = M + (j0 + j) * d + i0;
                    for (int64_t i = 0; i < ni; ++i) tr[i * T + j] = row[i];
                }
                int bad = 0;
                for (int64_t i = 0; i < ni; ++i) {
                    const double* row = M + (i0 + i) * d + j0;
                    const double* t = tr + i * T;
#pragma omp simd reduction(| : bad)
                    for (int64_t j = 0; j < nj; ++j) bad |= !(row[j] == t[j]);
                }
                asym |= bad;
            }
        }
    }
    return asym == 0;
}

// K_ij = exp(-M_ij / reg) (scale = -1 / reg), for PackedOp::build
struct KernelOf {
    const double* M;
    int64_t d;
    double scale;
    void row(int64_t i, int64_t c0, int64_t cn, double* out) const {
        const double* Mi = M + i * d + c0;
#pragma omp simd
        for (int64_t r = 0; r < cn; ++r) out[r] = fast_exp(Mi[r] * scale);
    }
};

// K_ij = exp((alpha_i + beta_j - M_ij) / reg), POT's stabilized kernel, for PackedOp::build
struct StabilizedKernelOf {
    const double* M;
    int64_t d;
    double reg;
    const double *alpha, *beta;
    void row(int64_t i, int64_t c0, int64_t cn, double* out) const {
        const double* Mi = M + i * d + c0;
        const double* b = beta + c0;
        const double ai = alpha[i];
#pragma omp simd
        for (int64_t r = 0; r < cn; ++r) out[r] = fast_exp((ai + b[r] - Mi[r]) / reg);
    }
};


// sum_j std_k X[k, j] (population std over the N histograms, two-pass), X: N x ld (k-major).
// lb_j = sum_k w_k log Z_kj (Z k-major, N x ld): the log of the weighted geometric mean of the kernel-form
// solvers, N x d logs per iteration, vectorized (libm's scalar log took ~15% of an iteration at d = 1024,
// N = 10, outside the parallel pass).
void weighted_log_sum(const double* Z, int64_t N, int64_t ld, int64_t d, const double* w, double* lb) {
    std::fill(lb, lb + d, 0.0);
    for (int64_t k = 0; k < N; ++k) {
        const double* z = Z + k * ld;
        const double wk = w[k];
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) lb[j] += wk * fast_log(z[j]);
    }
}

double sum_std_kmajor(const double* X, int64_t N, int64_t ld, int64_t d) {
    double tot = 0;
    for (int64_t j = 0; j < d; ++j) {
        double mean = 0;
        for (int64_t k = 0; k < N; ++k) mean += X[k * ld + j];
        mean /= double(N);
        double var = 0;
        for (int64_t k = 0; k < N; ++k) {
            const double e = X[k * ld + j] - mean;
            var += e * e;
        }
        tot += std::sqrt(var / double(N));
    }
    return tot;
}

// Record an error and decide: returns true when the loop must stop. may_stop: false while a small
// error must not stop the loop yet (POT's debiased solvers stop only when ii > 20); a non-finite
// error stops it always.
bool check_err(double err, const BaryOptions& opt, BaryInfo* info, int ii, bool may_stop = true) {
    info->err = err;
    info->errs.push_back(err);
    if (!std::isfinite(err)) {
        info->status = NUMERICAL_ERROR;
        info->niter = ii;
        return true;
    }
    if (may_stop && err < opt.stop_thr) {
        info->status = OK;
        info->niter = ii;
        return true;
    }
    return false;
}

}  // namespace

// Log-domain barycenter step shared by the fixed-support and convolutional solvers (k-major
// arrays, N x S): logbar = sum_k w_k L_k (+ shift, the log of the debiasing potential c of the
// debiased solvers, when not null); on check iterations err = sum_j std_k exp(G_k + L_k) (POT's
// criterion, check_err's may_stop); then G_k = logbar - L_k. Returns true when the loop must stop.
bool log_bary_update(const double* w, int64_t N, int64_t S, const double* L, double* G, std::vector<double>& logbar,
                     bool check, const BaryOptions& opt, BaryInfo* info, int ii, const double* shift = nullptr,
                     bool may_stop = true) {
    std::fill(logbar.begin(), logbar.end(), 0.0);
    for (int64_t k = 0; k < N; ++k)
        for (int64_t j = 0; j < S; ++j) logbar[j] += w[k] * L[k * S + j];
    if (shift)
        for (int64_t j = 0; j < S; ++j) logbar[j] += shift[j];
    if (check) {
        std::vector<double> E(N * S);
        for (int64_t e = 0; e < N * S; ++e) E[e] = std::exp(G[e] + L[e]);
        if (check_err(sum_std_kmajor(E.data(), N, S, S), opt, info, ii, may_stop)) return true;
    }
    for (int64_t k = 0; k < N; ++k)
        for (int64_t j = 0; j < S; ++j) G[k * S + j] = logbar[j] - L[k * S + j];
    return false;
}

// bar = exp(logbar); POT's niter when the loop ran out; NUMERICAL_ERROR on a non-finite entry.
// The end of every solver: POT's niter when the loop ran out (numItermax - 1), NUMERICAL_ERROR for a
// non-finite barycenter (n entries).
void bary_finish(const BaryOptions& opt, BaryInfo* info, int ii, const double* bar, int64_t n) {
    if (ii >= opt.max_iter) info->niter = std::max(0, opt.max_iter - 1);
    for (int64_t j = 0; j < n; ++j)
        if (!std::isfinite(bar[j])) info->status = NUMERICAL_ERROR;
}

void log_bary_finish(const std::vector<double>& logbar, const BaryOptions& opt, BaryInfo* info, int ii, double* bar) {
    for (size_t j = 0; j < logbar.size(); ++j) bar[j] = std::exp(logbar[j]);
    bary_finish(opt, info, ii, bar, static_cast<int64_t>(logbar.size()));
}

// ---------------------------------------------------------------------------------------
// Fixed support, kernel form
// ---------------------------------------------------------------------------------------
namespace {

// POT's initial scalings of the kernel-form solvers: UKv0 = K (A / colsum(K)), u0 = geomean_k(UKv0) / UKv0,
// into rows 0 .. N-1 of uT (op.N x dp, k-major; rows N .. op.N-1, extra columns of the operator, are the
// caller's: applied to K here too, their products unused). X: d x op.N.
template <class Op>
void initial_scalings(Op& op, int nt, int threads, const double* A, int64_t N, double* uT, double* X) {
    const int64_t d = op.d, dp = op.dp, no = op.N;
    std::vector<double> colsum(dp, 0.0);
    op.colsum(colsum.data(), setup_threads(nt));  // one column per panel: any split
    for (int64_t k = 0; k < N; ++k)
        for (int64_t j = 0; j < d; ++j) uT[k * dp + j] = A[j * N + k] / colsum[j];
    op.pass(uT, X, nullptr, nullptr, nullptr, threads);
    for (int64_t i = 0; i < d; ++i) {
        double s = 0;
        for (int64_t k = 0; k < N; ++k) s += std::log(X[i * no + k]);
        const double gm = std::exp(s / double(N));
        for (int64_t k = 0; k < N; ++k) uT[k * dp + i] = gm / X[i * no + k];
    }
}

// The kernel-form iterations on an operator (PackedOp or DenseOp) that holds K.
template <class Op>
void kernel_form_iterations(Op& op, int nt, const double* A, int64_t N, const double* w, const BaryOptions& opt,
                            double* bar, BaryInfo* info) {
    const int64_t d = op.d;
    ThreadTuner tuner(nt, Op::tuner_kind, double(d) * double(d) * double(N));
    const int64_t dp = op.dp;
    std::vector<double> uT(N * dp, 0.0), ZT(N * dp, 0.0), X(d * N), Y(d * N), lb(d);
    initial_scalings(op, nt, tuner.chosen, A, N, uT.data(), X.data());
    *info = BaryInfo{};
    info->status = MAX_ITER;
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        const double t0 = now_s();
        op.pass(uT.data(), X.data(), A, Y.data(), ZT.data(), tuner.threads(ii));
        tuner.record(ii, now_s() - t0);
        // UKv = u * K^T(A / Ku), stored in ZT
        for (int64_t k = 0; k < N; ++k) {
            double* z = ZT.data() + k * dp;
            const double* u = uT.data() + k * dp;
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) z[j] *= u[j];
        }
        weighted_log_sum(ZT.data(), N, dp, d, w, lb.data());
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) bar[j] = fast_exp(lb[j]);
        for (int64_t k = 0; k < N; ++k) {
            const double* z = ZT.data() + k * dp;
            double* u = uT.data() + k * dp;
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) u[j] = u[j] * bar[j] / z[j];
        }
        if (ii % 10 == 1) {
            if (check_err(sum_std_kmajor(ZT.data(), N, dp, d), opt, info, ii)) break;
        }
    }
    bary_finish(opt, info, ii, bar, d);
}

}  // namespace

void barycenter_sinkhorn_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                             const BaryOptions& opt, double* bar, BaryInfo* info) {
    const int nt = pick_threads(opt, d * d * N);
    const int st = setup_threads(nt);  // the symmetry check and K are element-wise
    if (is_symmetric(M, d, st)) {
        PackedOp op;
        op.init(d, N);
        op.build(KernelOf{M, d, -1.0 / reg}, st);
        kernel_form_iterations(op, nt, A, N, w, opt, bar, info);
    } else {
        DenseOp op;
        op.init(d, N, nt);
        op.build(KernelOf{M, d, -1.0 / reg}, st);
        kernel_form_iterations(op, nt, A, N, w, opt, bar, info);
    }
}

// ---------------------------------------------------------------------------------------
// Fixed support, debiased kernel form (Janati et al. 2020, POT's _barycenter_debiased)
// ---------------------------------------------------------------------------------------
// POT's iteration, with scalings u (d x N) and the debiasing potential c (d), both updated once:
//     UKv = K (A / (K u)),  bar = c * exp(log(UKv) w),  u = bar / UKv,  c = sqrt(c * bar / (K c))
// (K twice, not K^T; K c with the c of the previous iteration). Every 10th iteration (ii % 10 == 9)
// err = max |bar - bar_prev| / max(max(bar), 1), which stops the loop only when ii > 20 (debiased
// Sinkhorn does not converge monotonically). c rides along as an extra histogram (column N) of the
// operator, so that K c comes out of the product K u:
// - M symmetric (PackedOp): one pass, X = K [u c], Y = A / X, Z = K^T Y = K Y (column N of A is 0:
//   its Y and Z are unused);
// - otherwise (DenseOp): two plain passes, X = K [u c] (N + 1 histograms), then Z = K (A / K u) (N).
namespace {

template <class Op>
void debiased_iterations(Op& op, int nt, const double* A, int64_t N, const double* w, const BaryOptions& opt,
                         double* bar, BaryInfo* info) {
    constexpr bool sym = std::is_same<Op, PackedOp>::value;
    const int64_t d = op.d, dp = op.dp, N1 = N + 1;
    ThreadTuner tuner(nt, Op::tuner_kind, double(d) * double(d) * double(N1));
    // VT: rows 0 .. N-1 the scalings u, row N the potential c (k-major); UKv_k in row k of ZT
    std::vector<double> VT(N1 * dp, 0.0), X(d * N1), ZT(N1 * dp, 0.0), bold(d), lb(d), Kc(d);
    std::vector<double> Ae, Y, YT, X2;
    if (sym) {
        Ae.assign(d * N1, 0.0);
        Y.resize(d * N1);
        for (int64_t i = 0; i < d; ++i)
            for (int64_t k = 0; k < N; ++k) Ae[i * N1 + k] = A[i * N + k];
    } else {
        YT.assign(N * dp, 0.0);
        X2.resize(d * N);
    }
    initial_scalings(op, nt, tuner.chosen, A, N, VT.data(), X.data());  // u; c (row N) still 0 there
    double* c = VT.data() + N * dp;
    for (int64_t j = 0; j < d; ++j) c[j] = bar[j] = 1.0;
    *info = BaryInfo{};
    info->status = MAX_ITER;
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        const double t0 = now_s();
        const int cur = tuner.threads(ii);
        if constexpr (sym) {
            op.pass(VT.data(), X.data(), Ae.data(), Y.data(), ZT.data(), cur);  // X = K [u c], ZT = K (A / K u)
        } else {
            op.set_hists(N1);
            op.pass(VT.data(), X.data(), nullptr, nullptr, nullptr, cur);  // X = K [u c]
            for (int64_t k = 0; k < N; ++k)
                for (int64_t i = 0; i < d; ++i) YT[k * dp + i] = A[i * N + k] / X[i * N1 + k];
            op.set_hists(N);
            op.pass(YT.data(), X2.data(), nullptr, nullptr, nullptr, cur);  // X2 = K (A / K u)
            for (int64_t k = 0; k < N; ++k)
                for (int64_t i = 0; i < d; ++i) ZT[k * dp + i] = X2[i * N + k];
        }
        tuner.record(ii, now_s() - t0);
        for (int64_t i = 0; i < d; ++i) Kc[i] = X[i * N1 + N];
        std::copy(bar, bar + d, bold.begin());
        weighted_log_sum(ZT.data(), N, dp, d, w, lb.data());
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) bar[j] = c[j] * fast_exp(lb[j]);
        for (int64_t k = 0; k < N; ++k) {
            const double* z = ZT.data() + k * dp;
            double* u = VT.data() + k * dp;
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) u[j] = bar[j] / z[j];
        }
        for (int64_t j = 0; j < d; ++j) c[j] = std::sqrt(c[j] * bar[j] / Kc[j]);
        if (ii % 10 == 9) {
            double diff = 0, top = 0;
            bool finite = true;
            for (int64_t j = 0; j < d; ++j) {
                finite = finite && std::isfinite(bar[j]) && std::isfinite(bold[j]);
                diff = std::max(diff, std::abs(bar[j] - bold[j]));
                top = std::max(top, bar[j]);
            }
            const double err = finite ? diff / std::max(top, 1.0) : std::numeric_limits<double>::quiet_NaN();
            if (check_err(err, opt, info, ii, ii > 20)) break;
        }
    }
    bary_finish(opt, info, ii, bar, d);
}

}  // namespace

void barycenter_debiased_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                             const BaryOptions& opt, double* bar, BaryInfo* info) {
    const int nt = pick_threads(opt, d * d * (N + 1));
    const int st = setup_threads(nt);
    if (is_symmetric(M, d, st)) {
        PackedOp op;
        op.init(d, N + 1);
        op.build(KernelOf{M, d, -1.0 / reg}, st);
        debiased_iterations(op, nt, A, N, w, opt, bar, info);
    } else {
        DenseOp op;
        op.init(d, N + 1, nt);
        op.build(KernelOf{M, d, -1.0 / reg}, st);
        debiased_iterations(op, nt, A, N, w, opt, bar, info);
    }
}

// ---------------------------------------------------------------------------------------
// Fixed support, unbalanced (KL-relaxed marginals; POT's barycenter_unbalanced_sinkhorn and
// barycenter_unbalanced_stabilized)
// ---------------------------------------------------------------------------------------
// With fi = reg_m / (reg_m + reg), g = 1 - fi and scalings u, v (d x N), one fused pass per iteration:
//     u = (A / K v)^fi,   q = (sum_k w_k (K^T u)_k^g)^(1/g),   v = (q / K^T u)^fi
// (Chizat et al. 2016, the proximal step of the KL marginal penalty). reg_m = inf (fi = 1) takes the limit of
// the power mean, the weighted geometric mean: the balanced Bregman projections. err = max|q - q_prev| /
// max(max q, max q_prev, 1) at every iteration; the loop stops when err < stopThr and ii > 10.
// Stabilized (POT's absorption): u = (A / (K v + 1e-16))^fi f_alpha, q = (sum_k w_k (K^T u)_k^g f_beta)^(1/g),
// v = (q / (K^T u + 1e-16))^fi f_beta with f = exp(-alpha / (reg + reg_m)); when u or v exceeds tau,
// alpha += reg log max_k u, beta += reg log max_k v, K = exp((alpha_i + beta_j - M_ij) / reg), v = 1; err checked
// when ii % 10 == 0 without absorption (and at ii = 0), the loop stops when err < stopThr.
// A zero in K^T u or a non-finite scaling stops the loop (NUMERICAL_ERROR) with the previous iterate (u, v, q;
// stabilized: q), as POT.
namespace {

// v = (q / (z + eps))^fi f (n entries, vectorized); returns 1 when z has a zero (POT's numerical-error test)
int scaling_row(const double* __restrict q, const double* __restrict z, const double* __restrict f, double fi,
                double eps, double* __restrict v, int64_t n) {
    int zero = 0;
    if (fi == 1.0) {
#pragma omp simd reduction(| : zero)
        for (int64_t j = 0; j < n; ++j) {
            zero |= z[j] == 0.0;
            v[j] = q[j] / (z[j] + eps) * f[j];
        }
    } else {
#pragma omp simd reduction(| : zero)
        for (int64_t j = 0; j < n; ++j) {
            zero |= z[j] == 0.0;
            v[j] = pow_pos(q[j] / (z[j] + eps), fi) * f[j];
        }
    }
    return zero;
}

bool all_finite(const double* __restrict x, int64_t n) {
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t e = 0; e < n; ++e) bad |= !(std::abs(x[e]) <= 1.7976931348623157e308);  // NaN too
    return bad == 0;
}

template <class Op>
void unbalanced_iterations(Op& op, int nt, const double* M, const double* A, int64_t N, const double* w, double reg,
                           double reg_m, bool stabilized, const BaryOptions& opt, double* q, double* logu,
                           double* logv, BaryInfo* info) {
    const int64_t d = op.d, dp = op.dp;
    const double fi = std::isinf(reg_m) ? 1.0 : reg_m / (reg_m + reg), g = 1.0 - fi;
    const double eps = stabilized ? 1e-16 : 0.0, start = stabilized ? 1.0 / double(d) : 1.0;
    ThreadTuner tuner(nt, Op::tuner_kind, double(d) * double(d) * double(N));
    std::vector<double> vT(N * dp, 0.0), X(d * N), u(d * N, start), ZT(N * dp, 0.0), qprev(d);
    std::vector<double> vprev, uprev, lq(d), sq(d), alpha(d, 0.0), beta(d, 0.0), fa(d, 1.0), fb(d, 1.0);
    for (int64_t k = 0; k < N; ++k) std::fill(vT.begin() + k * dp, vT.begin() + k * dp + d, start);
    std::fill(q, q + d, start);
    *info = BaryInfo{};
    info->status = MAX_ITER;
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        std::copy(q, q + d, qprev.begin());
        if (!stabilized) {
            vprev = vT;
            uprev = u;
        } else {
            for (int64_t i = 0; i < d; ++i) {
                fa[i] = std::exp(-alpha[i] / (reg + reg_m));
                fb[i] = std::exp(-beta[i] / (reg + reg_m));
            }
        }
        const double t0 = now_s();
        if (fi == 1.0)  // u = (A / K v)^fi f_alpha, ZT = K^T u
            op.pass(vT.data(), X.data(), A, u.data(), ZT.data(), tuner.threads(ii), DivRatio{eps, fa.data()});
        else
            op.pass(vT.data(), X.data(), A, u.data(), ZT.data(), tuner.threads(ii), PowRatio{fi, eps, fa.data()});
        tuner.record(ii, now_s() - t0);
        // q = (sum_k w_k z_k^g f_beta)^(1/g) with z_k = (K^T u)_k, or its limit g -> 0, exp(sum_k w_k log z_k)
        // (times exp(-beta / reg), the limit of f_beta^(1/g)); then v_k = (q / (z_k + eps))^fi f_beta. k-major
        // loops along contiguous rows of ZT and vT, vectorized.
        int bad = 0;
        if (fi == 1.0) {
            weighted_log_sum(ZT.data(), N, dp, d, w, lq.data());
            if (stabilized)
                for (int64_t j = 0; j < d; ++j) lq[j] -= beta[j] / reg;
        } else {
            std::fill(sq.begin(), sq.end(), 0.0);
            for (int64_t k = 0; k < N; ++k) {
                const double* z = ZT.data() + k * dp;
                const double wk = w[k];
#pragma omp simd
                for (int64_t j = 0; j < d; ++j) sq[j] += pow_pos(z[j], g) * fb[j] * wk;
            }
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) lq[j] = fast_log(sq[j]) / g;
        }
#pragma omp simd
        for (int64_t j = 0; j < d; ++j) q[j] = lq[j] > 709.782712893384 ? HUGE_VAL : fast_exp(lq[j]);
        for (int64_t k = 0; k < N; ++k)
            bad |= scaling_row(q, ZT.data() + k * dp, fb.data(), fi, eps, vT.data() + k * dp, d);
        bool absorbing = false;
        if (stabilized) {
            for (int64_t e = 0; e < d * N && !absorbing; ++e) absorbing = u[e] > opt.tau;
            for (int64_t k = 0; k < N && !absorbing; ++k)
                for (int64_t j = 0; j < d && !absorbing; ++j) absorbing = vT[k * dp + j] > opt.tau;
            if (absorbing) {
                for (int64_t i = 0; i < d; ++i) {
                    double mu = u[i * N], mv = vT[i];
                    for (int64_t k = 1; k < N; ++k) {
                        mu = std::max(mu, u[i * N + k]);
                        mv = std::max(mv, vT[k * dp + i]);
                    }
                    alpha[i] += reg * std::log(mu);
                    beta[i] += reg * std::log(mv);
                }
                if constexpr (std::is_same<Op, DenseOp>::value)  // (PackedOp: symmetric K only, never stabilized)
                    op.build(StabilizedKernelOf{M, d, reg, alpha.data(), beta.data()}, setup_threads(nt));
                for (int64_t k = 0; k < N; ++k) std::fill(vT.begin() + k * dp, vT.begin() + k * dp + d, 1.0);
            }
        }
        bad |= !all_finite(u.data(), d * N);
        for (int64_t k = 0; k < N; ++k) bad |= !all_finite(vT.data() + k * dp, d);
        if (bad) {  // machine precision reached: the previous iterate, as POT
            std::copy(qprev.begin(), qprev.end(), q);
            if (!stabilized) {
                vT = vprev;
                u = uprev;
            }
            info->status = NUMERICAL_ERROR;
            info->niter = ii;
            break;
        }
        if (stabilized && !((ii % 10 == 0 && !absorbing) || ii == 0)) continue;
        double diff = 0.0, top = 1.0;
        for (int64_t j = 0; j < d; ++j) {
            diff = std::max(diff, std::abs(q[j] - qprev[j]));
            top = std::max(top, std::max(std::abs(q[j]), std::abs(qprev[j])));
        }
        if (check_err(diff / top, opt, info, ii, stabilized || ii > 10)) break;
    }
    for (int64_t i = 0; i < d; ++i)
        for (int64_t k = 0; k < N; ++k) {
            logu[i * N + k] = std::log(u[i * N + k] + 1e-300);
            logv[i * N + k] = std::log(vT[k * dp + i] + 1e-300);
        }
    bary_finish(opt, info, ii, q, d);
}

}  // namespace

void barycenter_unbalanced_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                               double reg_m, bool stabilized, const BaryOptions& opt, double* bar, double* logu,
                               double* logv, BaryInfo* info) {
    const int nt = pick_threads(opt, d * d * N);
    const int st = setup_threads(nt);
    if (!stabilized && is_symmetric(M, d, st)) {
        PackedOp op;
        op.init(d, N);
        op.build(KernelOf{M, d, -1.0 / reg}, st);
        unbalanced_iterations(op, nt, M, A, N, w, reg, reg_m, false, opt, bar, logu, logv, info);
    } else {  // the stabilized kernel exp((alpha_i + beta_j - M_ij) / reg) is not symmetric
        DenseOp op;
        op.init(d, N, nt);
        op.build(KernelOf{M, d, -1.0 / reg}, st);
        unbalanced_iterations(op, nt, M, A, N, w, reg, reg_m, stabilized, opt, bar, logu, logv, info);
    }
}

// ---------------------------------------------------------------------------------------
// Fixed support, log domain (POT's _barycenter_sinkhorn_log and _barycenter_debiased_log)
// ---------------------------------------------------------------------------------------
namespace {

constexpr int64_t LOG_JB = 64;  // columns per block of the column log-sum-exps

// f_ik = log A_ik - LSE_j(Ms_ij + G_jk) for row i (Ms = -M / reg; GT: N x d, F: d x N)
inline void log_row(const double* Ms, int64_t d, const double* logA, const double* GT, int64_t N, int64_t i,
                    double* F) {
    const double* Mi = Ms + i * d;
    for (int64_t k = 0; k < N; ++k) F[i * N + k] = logA[i * N + k] - lse_affine(Mi, 1.0, GT + k * d, d);
}

// LT[k, j] = LSE_i(Ms_ij + F_ik) for the columns of block b (F: d x N, LT: N x d; buffers mx, sm: N x LOG_JB)
void log_col_block(const double* Ms, int64_t d, const double* F, int64_t N, int64_t b, double* mx, double* sm,
                   double* LT) {
    constexpr int64_t JB = LOG_JB;
    const int64_t j0 = b * JB, nj = std::min(JB, d - j0);
    std::fill(mx, mx + N * JB, neg_inf());
    std::fill(sm, sm + N * JB, 0.0);
    for (int64_t i = 0; i < d; ++i) {
        const double* Mi = Ms + i * d + j0;
        for (int64_t k = 0; k < N; ++k) {
            const double fi = F[i * N + k];
            double* m = mx + k * JB;
#pragma omp simd
            for (int64_t jj = 0; jj < nj; ++jj) m[jj] = std::max(m[jj], Mi[jj] + fi);
        }
    }
    for (int64_t i = 0; i < d; ++i) {
        const double* Mi = Ms + i * d + j0;
        for (int64_t k = 0; k < N; ++k) {
            const double fi = F[i * N + k];
            const double* m = mx + k * JB;
            double* s = sm + k * JB;
#pragma omp simd
            for (int64_t jj = 0; jj < nj; ++jj) s[jj] += fast_exp(Mi[jj] + fi - m[jj]);
        }
    }
    for (int64_t k = 0; k < N; ++k)
        for (int64_t jj = 0; jj < nj; ++jj) {
            const double m = mx[k * JB + jj];
            LT[k * d + j0 + jj] = m == neg_inf() ? neg_inf() : m + std::log(sm[k * JB + jj]);
        }
}

// LT = LSE_cols(Ms + F) (by blocks of LOG_JB columns); with logA: first F = log A - LSE_rows(Ms + G).
void log_fixed_pass(const double* Ms, int64_t d, const double* logA, const double* GT, int64_t N, double* F,
                    double* LT, int nthreads) {
    const int64_t nJ = (d + LOG_JB - 1) / LOG_JB;
#pragma omp parallel num_threads(nthreads)
    {
        if (logA) {
            // f_ik = log A_ik - LSE_j(-M_ij / reg + G_jk)   (rows)
#pragma omp for schedule(static)
            for (int64_t i = 0; i < d; ++i) log_row(Ms, d, logA, GT, N, i, F);
        }
        // log_KU_jk = LSE_i(-M_ij / reg + f_ik)   (columns, by blocks of LOG_JB columns)
        std::vector<double> mx(N * LOG_JB), sm(N * LOG_JB);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nJ; ++b) log_col_block(Ms, d, F, N, b, mx.data(), sm.data(), LT);
    }
}

void fixed_log_form(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                    const BaryOptions& opt, double* bar, BaryInfo* info, bool debiased) {
    // debiased: 10 column log-sum-exps of c per iteration, as many exps as 5 histograms
    const int64_t Nw = debiased ? N + 5 : N;
    const int nt = pick_threads(opt, d * d * Nw);
    const double scale = -1.0 / reg;
    std::vector<double> Ms(d * d);
    for (int64_t e = 0; e < d * d; ++e) Ms[e] = M[e] * scale;
    std::vector<double> logA(d * N), GT(N * d, 0.0), F(d * N), LT(N * d, 0.0), logbar(d, 0.0);
    std::vector<double> c(debiased ? d : 0, 0.0), LC(debiased ? d : 0);
    for (int64_t e = 0; e < d * N; ++e) logA[e] = std::log(A[e] + 1e-16);
    *info = BaryInfo{};
    info->status = MAX_ITER;
    ThreadTuner tuner(nt, TUNE_BARY_LOG, double(d) * double(d) * double(Nw));
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        double t0 = now_s();
        const int cur = tuner.threads(ii);
        log_fixed_pass(Ms.data(), d, logA.data(), GT.data(), N, F.data(), LT.data(), cur);
        double secs = now_s() - t0;
        if (!debiased) tuner.record(ii, secs);
        // debiased: logbar = sum_k w_k log_KU_k + c, stops only when ii > 20
        if (log_bary_update(w, N, d, LT.data(), GT.data(), logbar, ii % 10 == 1, opt, info, ii,
                            debiased ? c.data() : nullptr, !debiased || ii > 20))
            break;
        if (debiased) {  // 10 times c = (c + logbar - LSE_i(-M_ij / reg + c_i)) / 2
            t0 = now_s();
            for (int t = 0; t < 10; ++t) {
                log_fixed_pass(Ms.data(), d, nullptr, nullptr, 1, c.data(), LC.data(), cur);
                for (int64_t j = 0; j < d; ++j) c[j] = 0.5 * (c[j] + logbar[j] - LC[j]);
            }
            tuner.record(ii, secs + now_s() - t0);
        }
    }
    log_bary_finish(logbar, opt, info, ii, bar);
}

}  // namespace

void barycenter_log_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                        const BaryOptions& opt, double* bar, BaryInfo* info) {
    fixed_log_form(M, d, A, N, w, reg, opt, bar, info, false);
}

void barycenter_debiased_log_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                                 const BaryOptions& opt, double* bar, BaryInfo* info) {
    fixed_log_form(M, d, A, N, w, reg, opt, bar, info, true);
}

// ---------------------------------------------------------------------------------------
// Fixed support, stabilized kernel form (POT's barycenter_stabilized)
// ---------------------------------------------------------------------------------------
// POT checks err = max |u * (K v) - A| with the v of the *current* iteration, i.e. with the
// product K v that the next iteration starts from; here that check is deferred to the next
// fused pass (no third product per iteration), which gives the same iterates and decisions.
void barycenter_stabilized_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                               const BaryOptions& opt, double* bar, BaryInfo* info) {
    DenseOp op;  // exp((alpha_i + beta_j - M_ij) / reg) is not symmetric
    const int nt = pick_threads(opt, d * d * N);
    op.init(d, N, nt);
    ThreadTuner tuner(nt, TUNE_BARY_STABILIZED, double(d) * double(d) * double(N));
    const int64_t dp = op.dp;
    std::vector<double> alpha(d, 0.0), beta(d, 0.0);
    auto build_K = [&]() { op.build(StabilizedKernelOf{M, d, reg, alpha.data(), beta.data()}, setup_threads(nt)); };
    build_K();
    std::vector<double> vT(N * dp, 0.0), ZT(N * dp, 0.0), X(d * N), U(d * N, 1.0 / double(d)),
        Uprev(d * N), q(d, 1.0 / double(d)), qprev(d), Xc(d * N);
    for (int64_t k = 0; k < N; ++k)
        for (int64_t j = 0; j < d; ++j) vT[k * dp + j] = 1.0 / double(d);
    auto max_err = [&](const double* u, const double* Kv) {
        double e = 0;
        for (int64_t t = 0; t < d * N; ++t) e = std::max(e, std::abs(u[t] * Kv[t] - A[t]));
        if (std::isnan(e)) return e;
        for (int64_t t = 0; t < d * N; ++t)
            if (std::isnan(u[t] * Kv[t] - A[t])) return std::numeric_limits<double>::quiet_NaN();
        return e;
    };
    *info = BaryInfo{};
    info->status = MAX_ITER;
    bool pending = false, stopped = false;
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        std::swap(U, Uprev);  // Uprev: u of iteration ii - 1
        const double t0 = now_s();
        op.pass(vT.data(), X.data(), A, U.data(), ZT.data(), tuner.threads(ii));  // X = K v, u = A / X, ZT = K^T u
        tuner.record(ii, now_s() - t0);
        if (pending) {  // POT's check of iteration ii - 1, with K v = X
            if (check_err(max_err(Uprev.data(), X.data()), opt, info, ii - 1)) {
                std::swap(U, Uprev);
                stopped = true;
                break;
            }
        }
        qprev = q;
        std::fill(q.begin(), q.end(), 0.0);
        for (int64_t k = 0; k < N; ++k)
            for (int64_t j = 0; j < d; ++j) q[j] += w[k] * std::log(ZT[k * dp + j]);
        for (int64_t j = 0; j < d; ++j) q[j] = std::exp(q[j]);
        for (int64_t k = 0; k < N; ++k)
            for (int64_t j = 0; j < d; ++j) vT[k * dp + j] = q[j] / ZT[k * dp + j];
        bool absorbing = false;
        for (int64_t t = 0; t < d * N && !absorbing; ++t) absorbing = U[t] > opt.tau;
        for (int64_t k = 0; k < N && !absorbing; ++k)
            for (int64_t j = 0; j < d && !absorbing; ++j) absorbing = vT[k * dp + j] > opt.tau;
        if (absorbing) {
            for (int64_t i = 0; i < d; ++i) {
                double mu = U[i * N];
                for (int64_t k = 1; k < N; ++k) mu = std::max(mu, U[i * N + k]);
                alpha[i] += reg * std::log(mu);
            }
            for (int64_t j = 0; j < d; ++j) {
                double mv = vT[j];
                for (int64_t k = 1; k < N; ++k) mv = std::max(mv, vT[k * dp + j]);
                beta[j] += reg * std::log(mv);
            }
            build_K();
            for (int64_t k = 0; k < N; ++k)
                for (int64_t j = 0; j < d; ++j) vT[k * dp + j] = 1.0;
        }
        bool bad = false;
        for (int64_t k = 0; k < N && !bad; ++k)
            for (int64_t j = 0; j < d; ++j) {
                const double z = ZT[k * dp + j], v = vT[k * dp + j];
                if (z == 0.0 || !std::isfinite(v)) bad = true;
            }
        for (int64_t t = 0; t < d * N && !bad; ++t) bad = !std::isfinite(U[t]);
        if (bad) {  // POT: "Numerical errors at iteration ii", returns the previous q
            q = qprev;
            info->status = NUMERICAL_ERROR;
            info->niter = ii;
            stopped = true;
            break;
        }
        pending = (ii % 10 == 0 && !absorbing) || ii == 0;
    }
    if (!stopped) {
        info->niter = std::max(0, opt.max_iter - 1);
        if (pending) {  // the check of the last iteration
            op.pass(vT.data(), Xc.data(), nullptr, nullptr, nullptr, tuner.chosen);
            check_err(max_err(U.data(), Xc.data()), opt, info, info->niter);
            if (info->status != OK && info->status != NUMERICAL_ERROR) info->status = MAX_ITER;
        }
    }
    std::copy(q.begin(), q.end(), bar);
}

// ---------------------------------------------------------------------------------------
// Convolutional barycenters on 2-D grids
// ---------------------------------------------------------------------------------------
namespace {

// C[i, 0:NV*W) (+ j0) = A[i, 0:kd) B[0:kd, j0:...] for MR rows from i0.
template <int MR, int NV>
void gemm_tile(const double* A, int64_t lda, const double* B, int64_t ldb, double* C, int64_t ldc, int64_t i0,
               int64_t j0, int64_t kd) {
    vd acc[MR][NV];
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = vbcast(0.0);
    const double* Ar[MR];
    for (int r = 0; r < MR; ++r) Ar[r] = A + (i0 + r) * lda;
    for (int64_t kk = 0; kk < kd; ++kk) {
        vd b[NV];
        const double* Bk = B + kk * ldb + j0;
        for (int v = 0; v < NV; ++v) b[v] = vload(Bk + v * W);
        for (int r = 0; r < MR; ++r) {
            const vd a = vbcast(Ar[r][kk]);
            for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) vstore(C + (i0 + r) * ldc + j0 + v * W, acc[r][v]);
}

template <int MR>
void gemm_tile_nv(int nv, const double* A, int64_t lda, const double* B, int64_t ldb, double* C, int64_t ldc,
                  int64_t i0, int64_t j0, int64_t kd) {
    switch (nv) {
        case 1: gemm_tile<MR, 1>(A, lda, B, ldb, C, ldc, i0, j0, kd); break;
        case 2: gemm_tile<MR, 2>(A, lda, B, ldb, C, ldc, i0, j0, kd); break;
        case 3: gemm_tile<MR, 3>(A, lda, B, ldb, C, ldc, i0, j0, kd); break;
        default: gemm_tile<MR, 4>(A, lda, B, ldb, C, ldc, i0, j0, kd); break;
    }
}

// C[i0:i1, 0:n) = A[i0:i1, 0:kd) B[0:kd, 0:n), n a multiple of W (single thread).
void gemm_rows(const double* A, int64_t lda, const double* B, int64_t ldb, double* C, int64_t ldc, int64_t i0,
               int64_t i1, int64_t n, int64_t kd) {
    const int64_t nvec = n / W;
    for (int64_t v0 = 0; v0 < nvec; v0 += GEMM_NV) {
        const int nv = static_cast<int>(std::min<int64_t>(GEMM_NV, nvec - v0));
        int64_t i = i0;
        for (; i + GEMM_MR <= i1; i += GEMM_MR) gemm_tile_nv<GEMM_MR>(nv, A, lda, B, ldb, C, ldc, i, v0 * W, kd);
        for (; i < i1; ++i) gemm_tile_nv<1>(nv, A, lda, B, ldb, C, ldc, i, v0 * W, kd);
    }
}

// Separable Gaussian convolution of N images (R x C, row stride Cp, zero-padded columns).
struct ConvOp {
    int64_t N, R, C, Cp;
    std::vector<double> K1, K2, T;  // K1: R x R, K2: C x Cp (zero-padded), T: N x R x Cp

    ConvOp(int64_t N_, int64_t R_, int64_t C_, double reg) : N(N_), R(R_), C(C_) {
        Cp = round_up(C, W);
        K1.assign(R * R, 0.0);
        K2.assign(C * Cp, 0.0);
        T.assign(N * R * Cp, 0.0);
        auto lin = [](int64_t n, int64_t i) { return n > 1 ? double(i) / double(n - 1) : 0.0; };
        for (int64_t i = 0; i < R; ++i)
            for (int64_t j = 0; j < R; ++j) {
                const double t = lin(R, i) - lin(R, j);
                K1[i * R + j] = std::exp(-(t * t) / reg);
            }
        for (int64_t i = 0; i < C; ++i)
            for (int64_t j = 0; j < C; ++j) {
                const double t = lin(C, i) - lin(C, j);
                K2[i * Cp + j] = std::exp(-(t * t) / reg);
            }
    }

    // out_k = K1 X_k K2 (X, out: n x R x Cp) for the first n images (n < 0: all N)
    void apply(const double* X, double* out, int nthreads, int64_t n = -1) {
        if (n < 0) n = N;
        const int64_t RBK = 24;
        const int64_t nrb = (R + RBK - 1) / RBK;
        const int64_t NRr = n * R;
        const int64_t nrb2 = (NRr + RBK - 1) / RBK;
#pragma omp parallel num_threads(nthreads)
        {
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < n * nrb; ++t) {  // T_k = K1 X_k
                const int64_t k = t / nrb, b = t % nrb;
                const int64_t i0 = b * RBK, i1 = std::min(R, i0 + RBK);
                gemm_rows(K1.data(), R, X + k * R * Cp, Cp, T.data() + k * R * Cp, Cp, i0, i1, Cp, R);
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < nrb2; ++b) {  // out = T K2 (all images stacked: N R rows)
                const int64_t i0 = b * RBK, i1 = std::min(NRr, i0 + RBK);
                gemm_rows(T.data(), Cp, K2.data(), Cp, out, Cp, i0, i1, Cp, C);
            }
        }
    }
};

// sum over pixels of std_k X[k, p] (X: N x R x ld, first C columns of each row).
double sum_std_images(const double* X, int64_t N, int64_t R, int64_t C, int64_t ld) {
    double tot = 0;
    for (int64_t r = 0; r < R; ++r) tot += sum_std_kmajor(X + r * ld, N, R * ld, C);
    return tot;
}

}  // namespace

namespace {

// POT's _convolutional_barycenter2d (debiased: _convolutional_barycenter2d_debiased, Janati et al.
// 2020): per iteration V = bar / KU, U = A / K V, bar = exp(sum_k w_k log(K U_k + stab)), with
// debiased bar = c * exp(...) and then 10 times c = sqrt(c * bar / K c) (one image through the
// same operator); every 10th iteration (ii % 10 == 9) err = sum over pixels of std_k V_k * K U_k,
// which stops the debiased loop only when ii > 20. Uout, Vout (N x R x C): the last U, V (or null).
void conv_kernel_form(const double* A, int64_t N, int64_t R, int64_t C, const double* w8, double reg,
                      const BaryOptions& opt, double* bar, BaryInfo* info, bool debiased, double* Uout,
                      double* Vout) {
    const int64_t Nw = debiased ? N + 5 : N;  // debiased: 10 one-image convolutions per iteration, 2 per image
    const int nt = pick_threads(opt, Nw * R * C * (R + C));
    ConvOp op(N, R, C, reg);
    ThreadTuner tuner(nt, TUNE_BARY_CONV, double(Nw) * double(R) * double(C) * double(R + C));
    const int64_t Cp = op.Cp, S = R * Cp;
    std::vector<double> Ap(N * S, 0.0), U(N * S, 0.0), V(N * S, 0.0), KU(N * S, 0.0), KV(N * S, 0.0),
        E(N * S, 0.0), B(R * C, 1.0 / double(R * C)), L(R * C);
    std::vector<double> cP(debiased ? S : 0, 0.0), KC(debiased ? S : 0, 0.0);  // c (R x Cp) and K c
    for (int64_t k = 0; k < N; ++k)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t c = 0; c < C; ++c) {
                Ap[k * S + r * Cp + c] = A[(k * R + r) * C + c];
                U[k * S + r * Cp + c] = 1.0;
            }
    if (debiased)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t c = 0; c < C; ++c) cP[r * Cp + c] = 1.0;
    op.apply(U.data(), KU.data(), tuner.chosen);
    *info = BaryInfo{};
    info->status = MAX_ITER;
    const double stab = opt.stab_thr;
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        double t0 = now_s();
        const int cur = tuner.threads(ii);
#pragma omp parallel for num_threads(cur) schedule(static) collapse(2)
        for (int64_t k = 0; k < N; ++k)
            for (int64_t r = 0; r < R; ++r) {
                const int64_t o = k * S + r * Cp;
                const double* b = B.data() + r * C;
                for (int64_t c = 0; c < C; ++c) V[o + c] = b[c] / KU[o + c];
            }
        op.apply(V.data(), KV.data(), cur);
#pragma omp parallel for num_threads(cur) schedule(static) collapse(2)
        for (int64_t k = 0; k < N; ++k)
            for (int64_t r = 0; r < R; ++r) {
                const int64_t o = k * S + r * Cp;
                for (int64_t c = 0; c < C; ++c) U[o + c] = Ap[o + c] / KV[o + c];
            }
        op.apply(U.data(), KU.data(), cur);
        const double secs = now_s() - t0;
        if (!debiased) tuner.record(ii, secs);
        std::fill(L.begin(), L.end(), 0.0);
        for (int64_t k = 0; k < N; ++k)
            for (int64_t r = 0; r < R; ++r) {
                const double* ku = KU.data() + k * S + r * Cp;
                double* l = L.data() + r * C;
                const double wk = w8[k];
                for (int64_t c = 0; c < C; ++c) l[c] += wk * std::log(ku[c] + stab);
            }
        if (debiased) {
            for (int64_t r = 0; r < R; ++r)
                for (int64_t c = 0; c < C; ++c) B[r * C + c] = cP[r * Cp + c] * std::exp(L[r * C + c]);
            t0 = now_s();
            for (int t = 0; t < 10; ++t) {
                op.apply(cP.data(), KC.data(), cur, 1);
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t c = 0; c < C; ++c) {
                        double& cc = cP[r * Cp + c];
                        cc = std::sqrt(cc * B[r * C + c] / KC[r * Cp + c]);
                    }
            }
            tuner.record(ii, secs + now_s() - t0);
        } else {
            for (int64_t p = 0; p < R * C; ++p) B[p] = std::exp(L[p]);
        }
        if (ii % 10 == 9) {
            for (int64_t e = 0; e < N * S; ++e) E[e] = V[e] * KU[e];
            if (check_err(sum_std_images(E.data(), N, R, C, Cp), opt, info, ii, !debiased || ii > 20)) break;
        }
    }
    std::copy(B.begin(), B.begin() + R * C, bar);
    bary_finish(opt, info, ii, bar, R * C);
    for (int64_t k = 0; k < N; ++k)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t c = 0; c < C; ++c) {
                if (Uout) Uout[(k * R + r) * C + c] = U[k * S + r * Cp + c];
                if (Vout) Vout[(k * R + r) * C + c] = V[k * S + r * Cp + c];
            }
}

}  // namespace

void conv_barycenter2d_cpu(const double* A, int64_t N, int64_t R, int64_t C, const double* w8, double reg,
                           const BaryOptions& opt, double* bar, BaryInfo* info) {
    conv_kernel_form(A, N, R, C, w8, reg, opt, bar, info, false, nullptr, nullptr);
}

void conv_barycenter2d_debiased_cpu(const double* A, int64_t N, int64_t R, int64_t C, const double* w8, double reg,
                                    const BaryOptions& opt, double* bar, BaryInfo* info, double* U, double* V) {
    conv_kernel_form(A, N, R, C, w8, reg, opt, bar, info, true, U, V);
}

namespace {

// Log-domain separable convolution of one image X (R x C):
//   Y[i, l] = LSE_j(M1[i, j] + X[j, l]),  out[i, l] = LSE_j(M2[l, j] + Y[i, j]).
struct LogConv {
    int64_t R, C;
    std::vector<double> M1, M2;
    LogConv(int64_t R_, int64_t C_, double reg) : R(R_), C(C_), M1(R_ * R_), M2(C_ * C_) {
        auto lin = [](int64_t n, int64_t i) { return n > 1 ? double(i) / double(n - 1) : 0.0; };
        for (int64_t i = 0; i < R; ++i)
            for (int64_t j = 0; j < R; ++j) {
                const double t = lin(R, i) - lin(R, j);
                M1[i * R + j] = -(t * t) / reg;
            }
        for (int64_t i = 0; i < C; ++i)
            for (int64_t j = 0; j < C; ++j) {
                const double t = lin(C, i) - lin(C, j);
                M2[i * C + j] = -(t * t) / reg;
            }
    }
    // first axis, output row i (buffers mx, s of length C)
    void axis0_row(const double* X, int64_t i, double* y, double* mx, double* s) const {
        std::fill(mx, mx + C, neg_inf());
        std::fill(s, s + C, 0.0);
        const double* m1 = M1.data() + i * R;
        for (int64_t j = 0; j < R; ++j) {
            const double mj = m1[j];
            const double* xj = X + j * C;
#pragma omp simd
            for (int64_t l = 0; l < C; ++l) mx[l] = std::max(mx[l], mj + xj[l]);
        }
        for (int64_t j = 0; j < R; ++j) {
            const double mj = m1[j];
            const double* xj = X + j * C;
#pragma omp simd
            for (int64_t l = 0; l < C; ++l) s[l] += fast_exp(mj + xj[l] - mx[l]);
        }
        for (int64_t l = 0; l < C; ++l) y[l] = mx[l] == neg_inf() ? neg_inf() : mx[l] + std::log(s[l]);
    }
    // second axis, row i of Y in place into out
    void axis1_row(const double* y, double* out) const {
        for (int64_t l = 0; l < C; ++l) out[l] = lse_affine(M2.data() + l * C, 1.0, y, C);
    }
};

// POT's _convolutional_barycenter2d_log (debiased: _convolutional_barycenter2d_debiased_log): per
// iteration f_k = log A_k - lconv(G_k), log KU_k = lconv(f_k), logbar = sum_k w_k log KU_k (+ c, then
// 10 times c = (c + logbar - lconv(c)) / 2), checked every 10th iteration (ii % 10 == 9).
void conv_log_form(const double* A, int64_t N, int64_t R, int64_t C, const double* w8, double reg,
                   const BaryOptions& opt, double* bar, BaryInfo* info, bool debiased) {
    const int64_t Nw = debiased ? N + 5 : N;  // debiased: 10 one-image convolutions per iteration
    const int nt = pick_threads(opt, Nw * R * C * (R + C));
    LogConv lc(R, C, reg);
    const int64_t S = R * C;
    std::vector<double> logA(N * S), G(N * S, 0.0), LKU(N * S, 0.0), F(N * S), Y(N * S), LB(S, 0.0);
    std::vector<double> c(debiased ? S : 0, 0.0), LC(debiased ? S : 0);
    for (int64_t e = 0; e < N * S; ++e) logA[e] = std::log(A[e] + opt.stab_thr);
    *info = BaryInfo{};
    info->status = MAX_ITER;
    // Z_k = lconv(X_k) for the first n images, through Y
    ThreadTuner tuner(nt, TUNE_BARY_CONV_LOG, double(Nw) * double(R) * double(C) * double(R + C));
    auto lconv_all = [&](const double* X, double* Z, bool sub_from_logA, int cur, int64_t n) {
#pragma omp parallel num_threads(cur)
        {
            std::vector<double> mx(C), s(C);
#pragma omp for schedule(static) collapse(2)
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < R; ++i) lc.axis0_row(X + k * S, i, Y.data() + k * S + i * C, mx.data(), s.data());
#pragma omp for schedule(static) collapse(2)
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < R; ++i) {
                    double* z = Z + k * S + i * C;
                    lc.axis1_row(Y.data() + k * S + i * C, z);
                    if (sub_from_logA) {
                        const double* la = logA.data() + k * S + i * C;
                        for (int64_t l = 0; l < C; ++l) z[l] = la[l] - z[l];
                    }
                }
        }
    };
    int ii;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        double t0 = now_s();
        const int cur = tuner.threads(ii);
        lconv_all(G.data(), F.data(), true, cur, N);    // f = log A - lconv(G)
        lconv_all(F.data(), LKU.data(), false, cur, N);  // log KU = lconv(f)
        const double secs = now_s() - t0;
        if (!debiased) tuner.record(ii, secs);
        if (log_bary_update(w8, N, S, LKU.data(), G.data(), LB, ii % 10 == 9, opt, info, ii,
                            debiased ? c.data() : nullptr, !debiased || ii > 20))
            break;
        if (debiased) {  // (POT updates c before its check, which does not read c)
            t0 = now_s();
            for (int t = 0; t < 10; ++t) {
                lconv_all(c.data(), LC.data(), false, cur, 1);
                for (int64_t p = 0; p < S; ++p) c[p] = 0.5 * (c[p] + LB[p] - LC[p]);
            }
            tuner.record(ii, secs + now_s() - t0);
        }
    }
    log_bary_finish(LB, opt, info, ii, bar);
}

}  // namespace

void conv_barycenter2d_log_cpu(const double* A, int64_t N, int64_t R, int64_t C, const double* w8, double reg,
                               const BaryOptions& opt, double* bar, BaryInfo* info) {
    conv_log_form(A, N, R, C, w8, reg, opt, bar, info, false);
}

void conv_barycenter2d_debiased_log_cpu(const double* A, int64_t N, int64_t R, int64_t C, const double* w8,
                                        double reg, const BaryOptions& opt, double* bar, BaryInfo* info) {
    conv_log_form(A, N, R, C, w8, reg, opt, bar, info, true);
}

}  // namespace otkit
