// Sinkhorn matrix scaling on an NVIDIA GPU: kernel form (single and batched), log-domain and stabilized,
// with the iterates, stopping rule, status and log of the CPU kernels (csrc/cpu/sinkhorn_cpu.cpp),
// which follow POT's ot.sinkhorn.
//
// Control stays on the device between checks: every problem (column) has a Ctl record that the kernels
// read (skip the problem once it stopped) and write (a scaling became 0, inf or NaN -> restore the
// previous scalings and stop with NUMERICAL_ERROR; the marginal error fell below stopThr -> stop with
// OK). The host only reads the records at check iterations (every check_every), so the GPU runs
// check_every iterations without waiting for the host. The stabilized form decides on absorptions
// every iteration and reads its record every iteration.
//
// Products with K (n x m, row-major): one warp per row for K v, a column per thread over row chunks
// (partial sums added in a fixed order) for K^T u; for N > 1 columns, a shared-memory tiled product.
// Every output entry is summed in an order fixed by the shapes and the device: results are the same
// from run to run.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/interrupt.h"
#include "common/otkit_common.h"
#include "common/sinkhorn_rules.h"
#include "cuda/sinkhorn_cuda.h"

namespace otkit {

namespace {

void cuda_check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) {
        cudaGetLastError();  // clear a sticky launch error so that the next call starts clean
        throw std::runtime_error(std::string("otkit CUDA error (") + what + "): " + cudaGetErrorString(e));
    }
}
#define OTKIT_CUDA(x) cuda_check((x), #x)
#define OTKIT_LAUNCHED(name) cuda_check(cudaGetLastError(), name)

// Device buffer (RAII).
template <typename T>
struct DevBuf {
    T* p = nullptr;
    size_t n = 0;
    DevBuf() = default;
    explicit DevBuf(size_t n_) : n(n_) {
        if (n) OTKIT_CUDA(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
    }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    ~DevBuf() {
        if (p) cudaFree(p);
    }
    void alloc(size_t n_) {  // (re)allocate, contents undefined
        if (p) cudaFree(p);
        p = nullptr;
        n = n_;
        if (n) OTKIT_CUDA(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
    }
    void upload(const T* h) {
        if (n) OTKIT_CUDA(cudaMemcpy(p, h, n * sizeof(T), cudaMemcpyHostToDevice));
    }
    void download(T* h) const {
        if (n) OTKIT_CUDA(cudaMemcpy(h, p, n * sizeof(T), cudaMemcpyDeviceToHost));
    }
    void copy_from(const DevBuf& o) {
        if (n) OTKIT_CUDA(cudaMemcpy(p, o.p, n * sizeof(T), cudaMemcpyDeviceToDevice));
    }
};

// An input array on the device: the caller's device array itself (dev) or a copy of its host array.
template <typename T>
struct DevIn {
    DevBuf<T> own;
    const T* p;
    DevIn(const T* src, size_t n, bool dev) : p(src) {
        if (!dev) {
            own.alloc(n);
            own.upload(src);
            p = own.p;
        }
    }
};

// An in/out or output array: the caller's device array, used in place (dev), or a device buffer that
// starts as a copy of the caller's host array (copy_in) and that finish() copies back. src may be null
// (an output that is not asked for).
template <typename T>
struct DevInOut {
    DevBuf<T> own;
    T* p;
    T* host = nullptr;
    DevInOut(T* src, size_t n, bool dev, bool copy_in = true) : p(src) {
        if (!dev && src != nullptr) {
            own.alloc(n);
            if (copy_in) own.upload(src);
            p = own.p;
            host = src;
        }
    }
    void finish() {
        if (host) own.download(host);
    }
};

// Per-problem control record, shared by the host and the kernels.
struct Ctl {
    int active;   // 1 while the problem iterates
    int bad;      // set by an update kernel: a scaling became 0, inf or NaN in this iteration
    int status;   // otkit::Status
    int niter;
    int checked;  // iteration of the last error check (-1: none yet)
    int absorb;   // stabilized form: a scaling exceeds tau (absorb into the potentials)
    double err;   // last marginal error computed
};

int sm_count() {
    int dev = 0, nsm = 0;
    OTKIT_CUDA(cudaGetDevice(&dev));
    OTKIT_CUDA(cudaDeviceGetAttribute(&nsm, cudaDevAttrMultiProcessorCount, dev));
    return std::max(1, nsm);
}

constexpr int kThreads = 256;
inline unsigned grid_for(int64_t work) {
    return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, 65535)));
}
#define GRID_STRIDE(e, total) \
    for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

__device__ __forceinline__ double dexp(double x) { return exp(x); }
__device__ __forceinline__ float dexp(float x) { return expf(x); }
__device__ __forceinline__ double dlog(double x) { return log(x); }
__device__ __forceinline__ float dlog(float x) { return logf(x); }
template <typename T>
__device__ __forceinline__ T ninf() {
    return -std::numeric_limits<T>::infinity();
}
template <typename T>
__device__ __forceinline__ bool nan_or_pinf(T x) {  // the log-domain test (-inf is a valid log-scaling)
    return x != x || x == std::numeric_limits<T>::infinity();
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); the result is valid in thread 0.
__device__ double block_sum(double s) {
    __shared__ double warp_sums[32];
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) warp_sums[w] = s;
    __syncthreads();
    if (w == 0) {
        s = lane < int(blockDim.x >> 5) ? warp_sums[lane] : 0.0;
        for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
    }
    return s;
}

// Merge a running log-sum-exp (mx, sm: sum of exp(x - mx)) with another.
template <typename T>
__device__ __forceinline__ void lse_merge(T& mx, T& sm, T omx, T osm) {
    if (omx > mx) {
        sm = sm * dexp(mx - omx) + osm;  // mx = -inf: sm is 0
        mx = omx;
    } else if (omx != ninf<T>()) {
        sm += osm * dexp(omx - mx);
    }
}
template <typename T>
__device__ __forceinline__ void lse_add(T& mx, T& sm, T x) {
    if (x > mx) {
        sm = sm * dexp(mx - x) + T(1);
        mx = x;
    } else {
        sm += dexp(x - mx);
    }
}

// ------------------------------------------------------------------------------------- products
// x = K v (N = 1): one warp per row, lanes over the columns (coalesced), sum by shuffles.
template <typename T>
__global__ void k_gemv_n(const T* __restrict__ K, int64_t n, int64_t m, const T* __restrict__ v, T* __restrict__ x) {
    const int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (row >= n) return;
    const T* Kr = K + row * m;
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = lane;
    for (; j + 96 < m; j += 128) {
        s0 += Kr[j] * v[j];
        s1 += Kr[j + 32] * v[j + 32];
        s2 += Kr[j + 64] * v[j + 64];
        s3 += Kr[j + 96] * v[j + 96];
    }
    for (; j < m; j += 32) s0 += Kr[j] * v[j];
    T s = (s0 + s1) + (s2 + s3);
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) x[row] = s;
}

// part[s, j] = sum over rows [s rows_per, (s + 1) rows_per) of K_ij u_i (N = 1): a column per thread
// (coalesced over j), row chunks over blockIdx.y.
template <typename T>
__global__ void k_gemv_t_part(const T* __restrict__ K, int64_t n, int64_t m, const T* __restrict__ u, int64_t rows_per,
                              T* __restrict__ part) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= m) return;
    const int64_t r0 = blockIdx.y * rows_per, r1 = std::min<int64_t>(n, r0 + rows_per);
    T s = 0;
    int64_t i = r0;
    for (; i + 4 <= r1; i += 4) {
        const T k0 = K[i * m + j], k1 = K[(i + 1) * m + j], k2 = K[(i + 2) * m + j], k3 = K[(i + 3) * m + j];
        s += k0 * u[i];
        s += k1 * u[i + 1];
        s += k2 * u[i + 2];
        s += k3 * u[i + 3];
    }
    for (; i < r1; ++i) s += K[i * m + j] * u[i];
    part[blockIdx.y * m + j] = s;
}

template <typename T>
__global__ void k_sum_parts(const T* __restrict__ part, int S, int64_t m, T* __restrict__ out) {
    GRID_STRIDE(j, m) {
        T s = 0;
        for (int q = 0; q < S; ++q) s += part[q * m + j];
        out[j] = s;
    }
}

// C = op(K) B with op(K) = K (n x m; TRANS false) or K^T (m x n; TRANS true), B (inner x N) and C
// (rows x N) row-major. 32 x 32 output tiles, 16-deep slices of K and B in shared memory, 128 threads
// of 4 x 2 outputs each; each output is summed over the inner index in increasing order.
template <typename T, bool TRANS>
__global__ void __launch_bounds__(128) k_gemm(const T* __restrict__ K, int64_t n, int64_t m, const T* __restrict__ B,
                                              int64_t N, T* __restrict__ C) {
    constexpr int BM = 32, BN = 32, BK = 16, TM = 4, TN = 2, NT = 128;
    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN];
    const int64_t rows = TRANS ? m : n, inner = TRANS ? n : m;
    const int64_t r0 = blockIdx.x * int64_t(BM), c0 = blockIdx.y * int64_t(BN);
    const int t = threadIdx.x, tr = t / 16, tc = t % 16;
    T acc[TM][TN];
#pragma unroll
    for (int a = 0; a < TM; ++a)
#pragma unroll
        for (int b = 0; b < TN; ++b) acc[a][b] = T(0);
    for (int64_t k0 = 0; k0 < inner; k0 += BK) {
#pragma unroll
        for (int q = 0; q < BM * BK / NT; ++q) {
            const int idx = t + q * NT;
            int r, kk;
            if (TRANS) {  // K[k0 + kk, r0 + r]: consecutive threads along r (contiguous)
                kk = idx / BM;
                r = idx % BM;
            } else {  // K[r0 + r, k0 + kk]: consecutive threads along kk (contiguous)
                r = idx / BK;
                kk = idx % BK;
            }
            const int64_t gr = r0 + r, gk = k0 + kk;
            T val = T(0);
            if (gr < rows && gk < inner) val = TRANS ? K[gk * m + gr] : K[gr * m + gk];
            As[kk][r] = val;
        }
#pragma unroll
        for (int q = 0; q < BK * BN / NT; ++q) {
            const int idx = t + q * NT, kk = idx / BN, c = idx % BN;
            const int64_t gk = k0 + kk, gc = c0 + c;
            Bs[kk][c] = (gk < inner && gc < N) ? B[gk * N + gc] : T(0);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T av[TM], bv[TN];
#pragma unroll
            for (int a = 0; a < TM; ++a) av[a] = As[kk][tr * TM + a];
#pragma unroll
            for (int b = 0; b < TN; ++b) bv[b] = Bs[kk][tc + 16 * b];
#pragma unroll
            for (int a = 0; a < TM; ++a)
#pragma unroll
                for (int b = 0; b < TN; ++b) acc[a][b] += av[a] * bv[b];
        }
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < TM; ++a) {
        const int64_t gr = r0 + tr * TM + a;
        if (gr >= rows) continue;
#pragma unroll
        for (int b = 0; b < TN; ++b) {
            const int64_t gc = c0 + tc + 16 * b;
            if (gc < N) C[gr * N + gc] = acc[a][b];
        }
    }
}

// The products of one problem size, with their scratch space.
template <typename T>
struct Products {
    int64_t n, m, N;
    int S = 1;            // row chunks of K^T u (N = 1)
    int64_t rows_per = 1;
    DevBuf<T> part;
    Products(int64_t n_, int64_t m_, int64_t N_) : n(n_), m(m_), N(N_) {
        if (N == 1) {
            const int64_t bx = (m + kThreads - 1) / kThreads;
            int64_t s = std::max<int64_t>(1, (4 * sm_count() + bx - 1) / bx);  // about 4 blocks per SM
            s = std::min<int64_t>(s, std::max<int64_t>(1, n / 32));            // at least 32 rows a chunk
            rows_per = (n + s - 1) / s;
            S = static_cast<int>((n + rows_per - 1) / rows_per);
            part.alloc(static_cast<size_t>(S) * m);
        }
    }
    // X (n x N) = K V (V: m x N)
    void kv(const T* K, const T* V, T* X) const {
        if (N == 1) {
            const int64_t threads = n * 32;
            k_gemv_n<T><<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads>>>(K, n, m, V, X);
        } else {
            dim3 grid(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>((N + 31) / 32));
            k_gemm<T, false><<<grid, 128>>>(K, n, m, V, N, X);
        }
        OTKIT_LAUNCHED("K v");
    }
    // Z (m x N) = K^T U (U: n x N)
    void ktu(const T* K, const T* U, T* Z) const {
        if (N == 1) {
            dim3 grid(static_cast<unsigned>((m + kThreads - 1) / kThreads), static_cast<unsigned>(S));
            k_gemv_t_part<T><<<grid, kThreads>>>(K, n, m, U, rows_per, part.p);
            k_sum_parts<T><<<grid_for(m), kThreads>>>(part.p, S, m, Z);
        } else {
            dim3 grid(static_cast<unsigned>((m + 31) / 32), static_cast<unsigned>((N + 31) / 32));
            k_gemm<T, true><<<grid, 128>>>(K, n, m, U, N, Z);
        }
        OTKIT_LAUNCHED("K^T u");
    }
};

// ------------------------------------------------------------------------------------- kernel form
template <typename T>
__global__ void k_build_K(const T* __restrict__ M, int64_t count, T scale, T* __restrict__ K) {
    GRID_STRIDE(e, count) K[e] = dexp(M[e] * scale);
}

// K_ij = exp((M_ij - alpha_i - beta_j) * scale): the stabilized kernel (POT's)
template <typename T>
__global__ void k_build_K_shift(const T* __restrict__ M, int64_t n, int64_t m, const T* __restrict__ alpha,
                                const T* __restrict__ beta, T scale, T* __restrict__ K) {
    GRID_STRIDE(e, n * m) {
        const int64_t i = e / m, j = e % m;
        K[e] = dexp((M[e] - alpha[i] - beta[j]) * scale);
    }
}

// A scaling update on the active problems: x = w / denom (relaxed), x = 0 where w = 0 (POT: an empty row
// or column keeps a zero scaling); xprev keeps the previous x; a scaling that is not finite (w > 0 and
// denom = 0, an overflow, NaN) marks the problem bad. x, xprev, denom: rows x N; w: rows x N (wdiv = 1,
// b) or one weight per row (wdiv = N, a).
//   v = b / K^T u:  k_update_scaling(m * N, N, B, 1, ktu, V, Vprev, ...)
//   u = a / K v:    k_update_scaling(n * N, N, a, N, Kv, U, Uprev, ...)
template <typename T>
__global__ void k_update_scaling(int64_t count, int64_t N, const T* __restrict__ w, int64_t wdiv,
                                 const T* __restrict__ denom, T* __restrict__ x, T* __restrict__ xprev, Ctl* ctl,
                                 T omega) {
    GRID_STRIDE(e, count) {
        const int64_t k = e % N;
        if (!ctl[k].active) continue;
        const T old = x[e];
        xprev[e] = old;
        const T xe = BalancedRule<T>{omega}(w[e / wdiv], denom[e], old, e);  // common/sinkhorn_rules.h
        x[e] = xe;
        if (!isfinite(xe)) ctl[k].bad = 1;
    }
}

// Fused pass for one problem (N = 1): u = a / (K v) and part = per-block pieces of K^T u, reading K once.
// Persistent blocks take the rows i = blockIdx.x, blockIdx.x + gridDim.x, ...: the block loads row i into
// registers (CPT entries per thread), reduces (K v)_i over the block, updates u_i, and adds K_ij u_i to
// its accumulator row in shared memory while row i is still in registers. k_sum_parts then adds the
// gridDim.x accumulator rows in a fixed order. Each thread owns the columns t + NT c, so the
// accumulators need no atomics; one barrier per row (the two halves of `red` alternate).
template <typename T, int CPT>
__global__ void __launch_bounds__(512) k_fused_row_pass(const T* __restrict__ K, int64_t n, int64_t m,
                                                        const T* __restrict__ v, const T* __restrict__ a,
                                                        T* __restrict__ u, T* __restrict__ Uprev, T omega, Ctl* ctl,
                                                        T* __restrict__ part) {
    constexpr int NT = 512, NW = NT / 32;
    constexpr bool VREG = CPT <= 16;  // v in registers, else re-read (from cache) at every row
    extern __shared__ unsigned char smem_raw[];
    T* acc = reinterpret_cast<T*>(smem_raw);
    __shared__ T red[2][NW];
    if (!ctl->active) return;
    const int t = threadIdx.x, lane = t & 31, w = t >> 5;
    T vr[VREG ? CPT : 1];
#pragma unroll
    for (int c = 0; c < CPT; ++c) {
        const int64_t j = t + int64_t(NT) * c;
        if (j < m) acc[j] = T(0);
        if (VREG) vr[c] = j < m ? v[j] : T(0);
    }
    int r = 0;
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x, ++r) {
        const T* Ki = K + i * m;
        const T old = u[i];
        T kv[CPT];
#pragma unroll
        for (int c = 0; c < CPT; ++c) {
            const int64_t j = t + int64_t(NT) * c;
            kv[c] = j < m ? Ki[j] : T(0);
        }
        T s = T(0);
#pragma unroll
        for (int c = 0; c < CPT; ++c) {
            const int64_t j = t + int64_t(NT) * c;
            s += kv[c] * (VREG ? vr[c] : (j < m ? v[j] : T(0)));
        }
        for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
        if (lane == 0) red[r & 1][w] = s;
        __syncthreads();
        T tot = T(0);
#pragma unroll
        for (int q = 0; q < NW; ++q) tot += red[r & 1][q];
        const T ui = BalancedRule<T>{omega}(a[i], tot, old, i);
        if (t == 0) {
            Uprev[i] = old;
            u[i] = ui;
            if (!isfinite(ui)) ctl->bad = 1;
        }
#pragma unroll
        for (int c = 0; c < CPT; ++c) {
            const int64_t j = t + int64_t(NT) * c;
            if (j < m) acc[j] += kv[c] * ui;
        }
    }
#pragma unroll
    for (int c = 0; c < CPT; ++c) {
        const int64_t j = t + int64_t(NT) * c;
        if (j < m) part[blockIdx.x * m + j] = acc[j];
    }
}

// The fused pass of one problem size: usable for m <= 512 * 32 (the row in registers); the grid is as
// many blocks as fit on the device at once.
template <typename T>
struct FusedPass {
    int64_t n, m;
    int cpt = 0, blocks = 0;
    size_t smem = 0;
    DevBuf<T> part;
    FusedPass(int64_t n_, int64_t m_) : n(n_), m(m_) {
        const int64_t need = (m + 511) / 512;
        for (int c = 1; c <= 32; c *= 2)
            if (c >= need) {
                cpt = c;
                break;
            }
        if (cpt == 0) return;
        smem = static_cast<size_t>(m) * sizeof(T);
        int per_sm = 0;
        dispatch([&](auto kern) {
            OTKIT_CUDA(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
            OTKIT_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kern, 512, smem));
        });
        if (per_sm < 1) {  // does not fit (shared memory): the unfused products are used
            cpt = 0;
            return;
        }
        blocks = static_cast<int>(std::min<int64_t>(n, int64_t(per_sm) * sm_count()));
        part.alloc(static_cast<size_t>(blocks) * m);
    }
    bool usable() const { return cpt > 0; }
    template <class F>
    void dispatch(F&& f) const {
        switch (cpt) {
            case 1: f(k_fused_row_pass<T, 1>); break;
            case 2: f(k_fused_row_pass<T, 2>); break;
            case 4: f(k_fused_row_pass<T, 4>); break;
            case 8: f(k_fused_row_pass<T, 8>); break;
            case 16: f(k_fused_row_pass<T, 16>); break;
            default: f(k_fused_row_pass<T, 32>); break;
        }
    }
    // u = a / (K v) (relaxed; Uprev keeps the old u) and ktu = K^T u
    void run(const T* K, const T* v, const T* a, T* u, T* Uprev, T omega, Ctl* ctl, T* ktu) const {
        dispatch([&](auto kern) { kern<<<blocks, 512, smem>>>(K, n, m, v, a, u, Uprev, omega, ctl, part.p); });
        k_sum_parts<T><<<grid_for(m), kThreads>>>(part.p, blocks, m, ktu);
        OTKIT_LAUNCHED("fused Sinkhorn pass");
    }
};

// End of an iteration, one block per problem: a problem with a bad scaling gets its previous scalings
// back and stops (NUMERICAL_ERROR); at a check, err = ||v * K^T u - b||_2 and the problem stops when
// err < thr.
template <typename T>
__global__ void k_end_iteration(int64_t n, int64_t m, int64_t N, const T* __restrict__ B, const T* __restrict__ ktu_new,
                                T* __restrict__ U, T* __restrict__ V, const T* __restrict__ Uprev,
                                const T* __restrict__ Vprev, Ctl* ctl, int ii, int check, double thr) {
    const int64_t k = blockIdx.x;
    Ctl& c = ctl[k];
    const int active = c.active, bad = c.bad;
    __syncthreads();
    if (!active) return;
    if (bad) {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) U[i * N + k] = Uprev[i * N + k];
        for (int64_t j = threadIdx.x; j < m; j += blockDim.x) V[j * N + k] = Vprev[j * N + k];
        if (threadIdx.x == 0) {
            c.status = NUMERICAL_ERROR;
            c.niter = ii;
            c.active = 0;
            c.bad = 0;
        }
        return;
    }
    if (!check) return;
    double s = 0;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
        const double d = double(V[j * N + k]) * double(ktu_new[j * N + k]) - double(B[j * N + k]);
        s += d * d;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
        const double err = sqrt(s);
        c.err = err;
        c.checked = ii;
        if (err < thr) {
            c.status = OK;
            c.niter = ii;
            c.active = 0;
        }
    }
}

template <typename T>
__global__ void k_plan_uKv(const T* __restrict__ K, int64_t n, int64_t m, const T* __restrict__ u,
                           const T* __restrict__ v, T* __restrict__ P) {
    GRID_STRIDE(e, n * m) P[e] = u[e / m] * K[e] * v[e % m];
}

template <typename T>
__global__ void k_mul_inplace(T* __restrict__ K, const T* __restrict__ M, int64_t count) {
    GRID_STRIDE(e, count) K[e] *= M[e];
}

// out[k] = sum_i U[i, k] X[i, k], one block per column (double accumulation)
template <typename T>
__global__ void k_col_dots(const T* __restrict__ U, const T* __restrict__ X, int64_t n, int64_t N, double* out) {
    const int64_t k = blockIdx.x;
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += double(U[i * N + k]) * double(X[i * N + k]);
    s = block_sum(s);
    if (threadIdx.x == 0) out[k] = s;
}

std::vector<Ctl> initial_ctl(int64_t N) { return std::vector<Ctl>(static_cast<size_t>(N), Ctl{1, 0, MAX_ITER, 0, -1, 0, 1.0}); }

// ------------------------------------------------------------------------------------- log domain
// Partial column log-sum-exps over the row chunk blockIdx.y: LSE_i (M_ij scale + f_i), rows with
// f_i = -inf skipped.
template <typename T>
__global__ void k_col_lse_part(const T* __restrict__ M, int64_t n, int64_t m, T scale, const T* __restrict__ f,
                               int64_t rows_per, T* __restrict__ pm, T* __restrict__ ps, const Ctl* ctl) {
    if (!ctl->active) return;
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= m) return;
    const int64_t r0 = blockIdx.y * rows_per, r1 = std::min<int64_t>(n, r0 + rows_per);
    T mx = ninf<T>(), sm = T(0);
    for (int64_t i = r0; i < r1; ++i) {
        const T fi = f[i];
        if (fi == ninf<T>()) continue;
        lse_add(mx, sm, M[i * m + j] * scale + fi);
    }
    pm[blockIdx.y * m + j] = mx;
    ps[blockIdx.y * m + j] = sm;
}

template <typename T>
__global__ void k_col_lse_finish(const T* __restrict__ pm, const T* __restrict__ ps, int S, int64_t m,
                                 T* __restrict__ lse, const Ctl* ctl) {
    if (!ctl->active) return;
    GRID_STRIDE(j, m) {
        T mx = ninf<T>(), sm = T(0);
        for (int q = 0; q < S; ++q) lse_merge(mx, sm, pm[q * m + j], ps[q * m + j]);
        lse[j] = mx == ninf<T>() ? mx : mx + dlog(sm);
    }
}

// g = log b - lse (relaxed); gprev keeps the previous g
template <typename T>
__global__ void k_log_update_g(int64_t m, const T* __restrict__ logb, const T* __restrict__ lse, T* __restrict__ g,
                               T* __restrict__ gprev, T omega, Ctl* ctl) {
    if (!ctl->active) return;
    GRID_STRIDE(j, m) {
        const T old = g[j];
        gprev[j] = old;
        const T x = BalancedRule<T>{omega}.log(logb[j], lse[j], old, j);
        g[j] = x;
        if (nan_or_pinf(x)) ctl->bad = 1;
    }
}

// f_i = log a_i - LSE_j (M_ij scale + g_j) (relaxed), one warp per row; fprev keeps the previous f
template <typename T>
__global__ void k_log_update_f(const T* __restrict__ M, int64_t n, int64_t m, T scale, const T* __restrict__ g,
                               const T* __restrict__ loga, T* __restrict__ f, T* __restrict__ fprev, T omega, Ctl* ctl) {
    if (!ctl->active) return;
    const int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (row >= n) return;
    const T* Mr = M + row * m;
    T mx = ninf<T>(), sm = T(0);
    for (int64_t j = lane; j < m; j += 32) {
        const T gj = g[j];
        if (gj == ninf<T>()) continue;
        lse_add(mx, sm, Mr[j] * scale + gj);
    }
    for (int off = 16; off > 0; off >>= 1) {
        const T omx = __shfl_down_sync(0xffffffffu, mx, off), osm = __shfl_down_sync(0xffffffffu, sm, off);
        lse_merge(mx, sm, omx, osm);
    }
    if (lane == 0) {
        const T lse = mx == ninf<T>() ? mx : mx + dlog(sm);
        const T old = f[row];
        fprev[row] = old;
        const T x = BalancedRule<T>{omega}.log(loga[row], lse, old, row);
        f[row] = x;
        if (nan_or_pinf(x)) ctl->bad = 1;
    }
}

// A NaN or +inf log-scaling: previous f, g back, stop (NUMERICAL_ERROR). One block.
template <typename T>
__global__ void k_log_fix_bad(int64_t n, int64_t m, T* __restrict__ f, T* __restrict__ g, const T* __restrict__ fprev,
                              const T* __restrict__ gprev, Ctl* ctl, int ii) {
    const int active = ctl->active, bad = ctl->bad;
    __syncthreads();
    if (!active || !bad) return;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) f[i] = fprev[i];
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) g[j] = gprev[j];
    if (threadIdx.x == 0) {
        ctl->status = NUMERICAL_ERROR;
        ctl->niter = ii;
        ctl->active = 0;
        ctl->bad = 0;
    }
}

// err = || exp(g + lse) - b ||_2 (the column marginal of the plan of f, g). One block.
template <typename T>
__global__ void k_log_check(int64_t m, const T* __restrict__ g, const T* __restrict__ lse, const T* __restrict__ b,
                            Ctl* ctl, int ii, double thr) {
    const int active = ctl->active;
    __syncthreads();
    if (!active) return;
    double s = 0;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
        const double d = exp(double(g[j]) + double(lse[j])) - double(b[j]);
        s += d * d;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
        const double err = sqrt(s);
        ctl->err = err;
        ctl->checked = ii;
        if (err < thr) {
            ctl->status = OK;
            ctl->niter = ii;
            ctl->active = 0;
        }
    }
}

// Per-block partial sums of sum_ij exp(M_ij scale + f_i + g_j) M_ij (the plan written when P != nullptr);
// rows are dealt to the blocks in a fixed pattern (deterministic).
template <typename T>
__global__ void k_log_value(const T* __restrict__ M, int64_t n, int64_t m, T scale, const T* __restrict__ f,
                            const T* __restrict__ g, T* __restrict__ P, double* __restrict__ part) {
    double s = 0;
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const T fi = f[i];
        for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
            const T Mij = M[i * m + j];
            const T p = dexp(Mij * scale + fi + g[j]);
            if (P != nullptr) P[i * m + j] = p;
            s += double(p * Mij);
        }
    }
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

template <typename T>
__global__ void k_log_of(const T* __restrict__ x, int64_t count, T* __restrict__ out) {
    GRID_STRIDE(e, count) out[e] = dlog(x[e]);
}

// Column log-sum-exp helper (partials over row chunks, then merged in chunk order).
template <typename T>
struct ColLse {
    int64_t n, m, rows_per;
    int S;
    DevBuf<T> pm, ps;
    ColLse(int64_t n_, int64_t m_) : n(n_), m(m_) {
        const int64_t bx = (m + kThreads - 1) / kThreads;
        int64_t s = std::max<int64_t>(1, (4 * sm_count() + bx - 1) / bx);
        s = std::min<int64_t>(s, std::max<int64_t>(1, n / 16));
        rows_per = (n + s - 1) / s;
        S = static_cast<int>((n + rows_per - 1) / rows_per);
        pm.alloc(static_cast<size_t>(S) * m);
        ps.alloc(static_cast<size_t>(S) * m);
    }
    void run(const T* M, T scale, const T* f, T* lse, const Ctl* ctl) {
        dim3 grid(static_cast<unsigned>((m + kThreads - 1) / kThreads), static_cast<unsigned>(S));
        k_col_lse_part<T><<<grid, kThreads>>>(M, n, m, scale, f, rows_per, pm.p, ps.p, ctl);
        k_col_lse_finish<T><<<grid_for(m), kThreads>>>(pm.p, ps.p, S, m, lse, ctl);
        OTKIT_LAUNCHED("column log-sum-exp");
    }
};

// sum_ij exp(M_ij scale + f_i + g_j) M_ij on the device arrays (and the plan into the device array P
// when not null)
template <typename T>
T log_plan_value_dev(const T* M, int64_t n, int64_t m, T scale, const T* f, const T* g, T* P) {
    const int nb = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, 4 * int64_t(sm_count()))));
    DevBuf<double> part(nb);
    k_log_value<T><<<nb, kThreads>>>(M, n, m, scale, f, g, P, part.p);
    OTKIT_LAUNCHED("plan value");
    std::vector<double> h(nb);
    part.download(h.data());
    double s = 0;
    for (double x : h) s += x;
    return static_cast<T>(s);
}

Ctl read_ctl(const DevBuf<Ctl>& c) {
    Ctl h;
    OTKIT_CUDA(cudaMemcpy(&h, c.p, sizeof(Ctl), cudaMemcpyDeviceToHost));
    return h;
}

// alpha_i <- alpha_i + reg log u_i (-inf where a_i = 0); the same for beta (stabilized)
template <typename T>
__global__ void k_absorb(const T* __restrict__ x, const T* __restrict__ w, int64_t count, T reg, T* __restrict__ pot) {
    GRID_STRIDE(e, count) pot[e] = w[e] == T(0) ? ninf<T>() : pot[e] + reg * dlog(x[e]);
}

// absorb flag: max |u| > tau or max |v| > tau (one block)
template <typename T>
__global__ void k_absorb_flag(const T* __restrict__ u, int64_t n, const T* __restrict__ v, int64_t m, T tau, Ctl* ctl) {
    __shared__ int any;
    if (threadIdx.x == 0) any = 0;
    __syncthreads();
    int mine = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) mine |= fabs(double(u[i])) > double(tau);
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) mine |= fabs(double(v[j])) > double(tau);
    if (mine) any = 1;
    __syncthreads();
    if (threadIdx.x == 0) ctl->absorb = ctl->active ? any : 0;
}

template <typename T>
__global__ void k_fill(T* __restrict__ x, int64_t count, T value) {
    GRID_STRIDE(e, count) x[e] = value;
}

template <typename T>
__global__ void k_scale_copy(const T* __restrict__ x, int64_t count, T s, T* __restrict__ out) {
    GRID_STRIDE(e, count) out[e] = x[e] / s;
}

}  // namespace

// ===================================================================================== entry points
int cuda_device_count() {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return c;
}

std::string cuda_device_description(int dev) {
    cudaDeviceProp p;
    OTKIT_CUDA(cudaGetDeviceProperties(&p, dev));
    return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
           std::to_string(p.multiProcessorCount) + " SMs, " +
           std::to_string(static_cast<long long>(p.totalGlobalMem >> 30)) + " GiB)";
}

int cuda_runtime_version() {
    int v = 0;
    return cudaRuntimeGetVersion(&v) == cudaSuccess ? v : 0;
}

int cuda_driver_version() {
    int v = 0;
    return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
}

namespace {

// Makes `device` current for the call and gives the caller's current device back afterwards (a call on
// arrays of cuda:1 must not leave the calling thread, and so torch or CuPy, on another device).
struct DeviceScope {
    int prev = -1;
    explicit DeviceScope(int device) {
        OTKIT_CUDA(cudaGetDevice(&prev));
        if (device != prev) OTKIT_CUDA(cudaSetDevice(device));
    }
    DeviceScope(const DeviceScope&) = delete;
    DeviceScope& operator=(const DeviceScope&) = delete;
    ~DeviceScope() {
        int cur = -1;
        if (cudaGetDevice(&cur) == cudaSuccess && cur != prev) cudaSetDevice(prev);
    }
};

template <typename T>
void knopp_run(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg, const SinkhornOptions& opt,
               T* U, T* V, T* values, T* plan, SinkhornInfo* info, std::vector<double>* trace, bool dev) {
    const size_t nm = static_cast<size_t>(n) * m;
    DevIn<T> dM(M, nm, dev), da(a, n, dev), dB(B, m * N, dev);
    DevInOut<T> dU(U, n * N, dev), dV(V, m * N, dev);
    DevBuf<T> dK(nm), dUp(n * N), dVp(m * N), dX(n * N), dKtu(m * N), dKtuNew(m * N);
    DevBuf<Ctl> dctl(N);
    std::vector<Ctl> ctl = initial_ctl(N);
    dctl.upload(ctl.data());
    Products<T> prod(n, m, N);
    FusedPass<T> fused(N == 1 ? n : 0, N == 1 ? m : int64_t(1) << 40);  // single problems: K read once

    k_build_K<T><<<grid_for(nm), kThreads>>>(dM.p, static_cast<int64_t>(nm), T(-1) / reg, dK.p);
    OTKIT_LAUNCHED("build K");
    T* ktu = dKtu.p;
    T* ktu_new = dKtuNew.p;
    prod.ktu(dK.p, dU.p, ktu);

    OmegaGuard guard(opt);
    double omega_eff = 1.0;
    int ii = 0;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        const T omega = static_cast<T>(omega_eff);
        const bool check = (ii % opt.check_every) == 0;
        k_update_scaling<T><<<grid_for(m * N), kThreads>>>(m * N, N, dB.p, 1, ktu, dV.p, dVp.p, dctl.p, omega);
        if (fused.usable()) {
            fused.run(dK.p, dV.p, da.p, dU.p, dUp.p, omega, dctl.p, ktu_new);
        } else {
            prod.kv(dK.p, dV.p, dX.p);
            k_update_scaling<T><<<grid_for(n * N), kThreads>>>(n * N, N, da.p, N, dX.p, dU.p, dUp.p, dctl.p, omega);
            prod.ktu(dK.p, dU.p, ktu_new);
        }
        k_end_iteration<T><<<static_cast<unsigned>(N), kThreads>>>(n, m, N, dB.p, ktu_new, dU.p, dV.p, dUp.p, dVp.p,
                                                                    dctl.p, ii, check ? 1 : 0, opt.stop_thr);
        OTKIT_LAUNCHED("Sinkhorn iteration");
        std::swap(ktu, ktu_new);
        if (check) {
            dctl.download(ctl.data());
            int64_t active = 0;
            for (const Ctl& c : ctl) active += c.active;
            if (N == 1 && ctl[0].checked == ii) {
                if (trace) trace->push_back(ctl[0].err);
                if (ctl[0].active) omega_eff = guard.update(ctl[0].err);
            }
            if (active == 0) {
                ++ii;
                break;
            }
        }
    }
    dctl.download(ctl.data());
    dU.finish();
    dV.finish();
    for (int64_t k = 0; k < N; ++k) {
        const Ctl& c = ctl[k];
        info[k] = SinkhornInfo{c.active ? MAX_ITER : c.status, c.active ? std::max(0, ii - 1) : c.niter, c.err};
    }
    if (plan != nullptr && N == 1) {
        DevInOut<T> dP(plan, nm, dev, false);
        k_plan_uKv<T><<<grid_for(nm), kThreads>>>(dK.p, n, m, dU.p, dV.p, dP.p);
        OTKIT_LAUNCHED("plan");
        dP.finish();
    }
    if (values != nullptr) {  // <P_k, M> = sum_i u_ik ((K o M) v_k)_i
        k_mul_inplace<T><<<grid_for(nm), kThreads>>>(dK.p, dM.p, static_cast<int64_t>(nm));
        prod.kv(dK.p, dV.p, dX.p);
        DevBuf<double> dvals(N);
        k_col_dots<T><<<static_cast<unsigned>(N), kThreads>>>(dU.p, dX.p, n, N, dvals.p);
        OTKIT_LAUNCHED("values");
        std::vector<double> h(N);
        dvals.download(h.data());
        for (int64_t k = 0; k < N; ++k) values[k] = static_cast<T>(h[k]);
    }
}

template <typename T>
void log_run(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt, T* f, T* g,
             T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace, bool dev) {
    const size_t nm = static_cast<size_t>(n) * m;
    const T scale = T(-1) / reg;
    DevIn<T> dM(M, nm, dev), da(a, n, dev), db(b, m, dev);
    DevInOut<T> df(f, n, dev), dg(g, m, dev);
    DevBuf<T> dloga(n), dlogb(m), dfp(n), dgp(m), dlse(m);
    DevBuf<Ctl> dctl(1);
    k_log_of<T><<<grid_for(n), kThreads>>>(da.p, n, dloga.p);
    k_log_of<T><<<grid_for(m), kThreads>>>(db.p, m, dlogb.p);
    std::vector<Ctl> ctl = initial_ctl(1);
    dctl.upload(ctl.data());
    ColLse<T> col(n, m);
    col.run(dM.p, scale, df.p, dlse.p, dctl.p);  // the column LSE of the initial f

    OmegaGuard guard(opt);
    double omega_eff = 1.0;
    const unsigned row_blocks = static_cast<unsigned>((n * 32 + kThreads - 1) / kThreads);
    int ii = 0;
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        const T omega = static_cast<T>(omega_eff);
        const bool check = (ii % opt.check_every) == 0;
        k_log_update_g<T><<<grid_for(m), kThreads>>>(m, dlogb.p, dlse.p, dg.p, dgp.p, omega, dctl.p);
        k_log_update_f<T><<<row_blocks, kThreads>>>(dM.p, n, m, scale, dg.p, dloga.p, df.p, dfp.p, omega, dctl.p);
        k_log_fix_bad<T><<<1, 1024>>>(n, m, df.p, dg.p, dfp.p, dgp.p, dctl.p, ii);
        col.run(dM.p, scale, df.p, dlse.p, dctl.p);  // for the next g, and the error of this iteration
        if (check) k_log_check<T><<<1, 1024>>>(m, dg.p, dlse.p, db.p, dctl.p, ii, opt.stop_thr);
        OTKIT_LAUNCHED("log-domain iteration");
        if (check) {
            const Ctl c = read_ctl(dctl);
            if (c.checked == ii) {
                if (trace) trace->push_back(c.err);
                if (c.active) omega_eff = guard.update(c.err);
            }
            if (!c.active) {
                ++ii;
                break;
            }
        }
    }
    const Ctl c = read_ctl(dctl);
    *info = SinkhornInfo{c.active ? MAX_ITER : c.status, c.active ? std::max(0, ii - 1) : c.niter, c.err};
    if (value != nullptr || plan != nullptr) {
        DevInOut<T> dP(plan, nm, dev, false);
        const T v = log_plan_value_dev(dM.p, n, m, scale, df.p, dg.p, dP.p);
        dP.finish();
        if (value != nullptr) *value = v;
    }
    df.finish();
    dg.finish();
}

template <typename T>
void stabilized_run(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                    T* alpha, T* beta, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace, bool dev) {
    const size_t nm = static_cast<size_t>(n) * m;
    DevIn<T> dM(M, nm, dev), da(a, n, dev), db(b, m, dev);
    DevInOut<T> dal(alpha, n, dev), dbe(beta, m, dev);
    DevBuf<T> dK(nm), du(n), dv(m), dup(n), dvp(m), dx(n), dktu(m), dktuNew(m);
    DevBuf<Ctl> dctl(1);
    std::vector<Ctl> ctl0 = initial_ctl(1);
    dctl.upload(ctl0.data());
    Products<T> prod(n, m, 1);
    FusedPass<T> fused(n, m);
    const T tau = static_cast<T>(opt.tau);
    T* ktu = dktu.p;
    T* ktu_new = dktuNew.p;
    // POT's iterates: K_ij = exp((alpha_i + beta_j - M_ij) / reg); the scalings restart from u0 = 1/n, v0 = 1/m
    auto rebuild = [&]() {
        k_build_K_shift<T><<<grid_for(nm), kThreads>>>(dM.p, n, m, dal.p, dbe.p, T(-1) / reg, dK.p);
        k_fill<T><<<grid_for(n), kThreads>>>(du.p, n, T(1) / T(n));
        k_fill<T><<<grid_for(m), kThreads>>>(dv.p, m, T(1) / T(m));
        OTKIT_LAUNCHED("stabilized kernel");
        prod.ktu(dK.p, du.p, ktu);
    };
    rebuild();
    // absorbed: the last iteration ended with an absorption, so its plan is K itself (not the restart
    // point diag(u0) K diag(v0) of the next iteration, of mass 1/(n m)): see sinkhorn_cpu.cpp
    bool absorbed = false;
    int ii = 0;
    Ctl c{};
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (ii = 0; ii < opt.max_iter; ++ii) {
        poll.check();
        const bool check = (ii % opt.check_every) == 0;
        const bool absorbed_prev = absorbed;
        absorbed = false;
        k_update_scaling<T><<<grid_for(m), kThreads>>>(m, 1, db.p, 1, ktu, dv.p, dvp.p, dctl.p, T(1));
        if (fused.usable()) {
            fused.run(dK.p, dv.p, da.p, du.p, dup.p, T(1), dctl.p, ktu_new);
        } else {
            prod.kv(dK.p, dv.p, dx.p);
            k_update_scaling<T><<<grid_for(n), kThreads>>>(n, 1, da.p, 1, dx.p, du.p, dup.p, dctl.p, T(1));
            prod.ktu(dK.p, du.p, ktu_new);
        }
        k_end_iteration<T><<<1, kThreads>>>(n, m, 1, db.p, ktu_new, du.p, dv.p, dup.p, dvp.p, dctl.p, ii,
                                             check ? 1 : 0, opt.stop_thr);
        k_absorb_flag<T><<<1, 1024>>>(du.p, n, dv.p, m, tau, dctl.p);
        OTKIT_LAUNCHED("stabilized iteration");
        c = read_ctl(dctl);
        if (check && c.checked == ii && trace) trace->push_back(c.err);
        if (!c.active) {
            if (c.status == NUMERICAL_ERROR) absorbed = absorbed_prev;  // u, v are back to the previous ones
            ++ii;
            break;
        }
        if (c.absorb) {
            k_absorb<T><<<grid_for(n), kThreads>>>(du.p, da.p, n, reg, dal.p);
            k_absorb<T><<<grid_for(m), kThreads>>>(dv.p, db.p, m, reg, dbe.p);
            rebuild();
            absorbed = true;
        } else {
            std::swap(ktu, ktu_new);
        }
    }
    c = read_ctl(dctl);
    *info = SinkhornInfo{c.active ? MAX_ITER : c.status, c.active ? std::max(0, ii - 1) : c.niter, c.err};
    // final potentials: alpha + reg log u (nothing to add right after an absorption)
    if (!absorbed) {
        k_absorb<T><<<grid_for(n), kThreads>>>(du.p, da.p, n, reg, dal.p);
        k_absorb<T><<<grid_for(m), kThreads>>>(dv.p, db.p, m, reg, dbe.p);
        OTKIT_LAUNCHED("final potentials");
    }
    if (value != nullptr || plan != nullptr) {
        DevBuf<T> df(n), dg(m);
        k_scale_copy<T><<<grid_for(n), kThreads>>>(dal.p, n, reg, df.p);
        k_scale_copy<T><<<grid_for(m), kThreads>>>(dbe.p, m, reg, dg.p);
        OTKIT_LAUNCHED("potentials to log-scalings");
        DevInOut<T> dP(plan, nm, dev, false);
        const T v = log_plan_value_dev(dM.p, n, m, T(-1) / reg, df.p, dg.p, dP.p);
        dP.finish();
        if (value != nullptr) *value = v;
    }
    dal.finish();
    dbe.finish();
}

}  // namespace

template <typename T>
void sinkhorn_knopp_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg,
                         const SinkhornOptions& opt, T* U, T* V, T* values, T* plan, SinkhornInfo* info,
                         std::vector<double>* trace, int device) {
    DeviceScope scope(device < 0 ? 0 : device);
    knopp_run<T>(M, n, m, a, B, N, reg, opt, U, V, values, plan, info, trace, device >= 0);
}

template <typename T>
void sinkhorn_log_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                       T* f, T* g, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace, int device) {
    DeviceScope scope(device < 0 ? 0 : device);
    log_run<T>(M, n, m, a, b, reg, opt, f, g, value, plan, info, trace, device >= 0);
}

template <typename T>
void sinkhorn_stabilized_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                              const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan, SinkhornInfo* info,
                              std::vector<double>* trace, int device) {
    DeviceScope scope(device < 0 ? 0 : device);
    stabilized_run<T>(M, n, m, a, b, reg, opt, alpha, beta, value, plan, info, trace, device >= 0);
}

#define OTKIT_INSTANTIATE(T)                                                                                   \
    template void sinkhorn_knopp_cuda<T>(const T*, int64_t, int64_t, const T*, const T*, int64_t, T,          \
                                         const SinkhornOptions&, T*, T*, T*, T*, SinkhornInfo*,               \
                                         std::vector<double>*, int);                                          \
    template void sinkhorn_log_cuda<T>(const T*, int64_t, int64_t, const T*, const T*, T, const SinkhornOptions&, \
                                       T*, T*, T*, T*, SinkhornInfo*, std::vector<double>*, int);             \
    template void sinkhorn_stabilized_cuda<T>(const T*, int64_t, int64_t, const T*, const T*, T,              \
                                              const SinkhornOptions&, T*, T*, T*, T*, SinkhornInfo*,          \
                                              std::vector<double>*, int);
OTKIT_INSTANTIATE(double)
OTKIT_INSTANTIATE(float)

}  // namespace otkit
