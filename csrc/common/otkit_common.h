// Header-only helpers shared by the CPU and CUDA kernels of otkit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#if defined(__linux__) && !defined(__CUDACC__)
#include <sys/mman.h>
#endif

#if defined(__CUDACC__)
#define OTKIT_HD __host__ __device__ __forceinline__
#else
#define OTKIT_HD inline
#endif

namespace otkit {

// Status codes returned by every kernel; otkit/_status.py mirrors them.
enum Status : int {
    OK = 0,                // converged (stopping criterion met)
    MAX_ITER = 1,          // numItermax reached before the criterion was met
    NUMERICAL_ERROR = 2,   // a scaling became 0, inf or NaN (kernel form underflow)
    INFEASIBLE = 3,
    UNBOUNDED = 4,
    BAD_INPUT = 5,
};

// Vectorizable exp (no branches, no calls). Cody-Waite range reduction x = k ln2 + r, |r| <= ln2/2,
// a Taylor polynomial of exp(r) in Horner form (degree 12 for double: truncation < 1e-17 relative;
// degree 7 for float), and 2^k built from exponent bits with the magic-number trick (integer adds
// and a logical shift only, so loops vectorize with AVX2). Relative error ~1.4 ulp (measured).
namespace detail {
template <typename T>
struct ExpConst;
template <>
struct ExpConst<double> {
    using I = int64_t;
    using U = uint64_t;
    static constexpr double lo = -745.1332191019412;   // exp(lo) underflows to 0
    static constexpr double hi = 709.782712893384;     // exp(hi) ~ DBL_MAX
    static constexpr double lo_normal = -708.3964185322641;  // log(DBL_MIN)
    static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
    static constexpr double log2e = 1.4426950408889634;
    static constexpr double ln2_hi = 0.6931471803691238;  // 33 significant bits: k*ln2_hi exact
    static constexpr double ln2_lo = 1.9082149292705877e-10;
    static constexpr int mant = 52, bias = 1023;
    OTKIT_HD static double poly(double r) {
        double p = 2.08767569878680989792e-09;  // 1/12!
        p = p * r + 2.50521083854417187751e-08;
        p = p * r + 2.75573192239858906526e-07;
        p = p * r + 2.75573192239858906526e-06;
        p = p * r + 2.48015873015873015873e-05;
        p = p * r + 1.98412698412698412698e-04;
        p = p * r + 1.38888888888888888889e-03;
        p = p * r + 8.33333333333333333333e-03;
        p = p * r + 4.16666666666666666667e-02;
        p = p * r + 1.66666666666666666667e-01;
        p = p * r + 0.5;
        p = p * r + 1.0;
        return p * r + 1.0;
    }
};
template <>
struct ExpConst<float> {
    using I = int32_t;
    using U = uint32_t;
    static constexpr float lo = -103.972077f;
    static constexpr float hi = 88.7228394f;
    static constexpr float lo_normal = -87.3365448f;  // log(FLT_MIN)
    static constexpr float magic = 12582912.0f;      // 1.5 * 2^23
    static constexpr float log2e = 1.44269504f;
    static constexpr float ln2_hi = 0.693145752f;
    static constexpr float ln2_lo = 1.42860677e-06f;
    static constexpr int mant = 23, bias = 127;
    OTKIT_HD static float poly(float r) {
        float p = 1.98412698e-04f;  // 1/7!
        p = p * r + 1.38888889e-03f;
        p = p * r + 8.33333333e-03f;
        p = p * r + 4.16666667e-02f;
        p = p * r + 1.66666667e-01f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        return p * r + 1.0f;
    }
};

// 2^k for an integer-valued kd with a normal result (kd + bias in [1, 2*bias]).
template <typename T>
OTKIT_HD T pow2(T kd) {
    using C = ExpConst<T>;
    T t = kd + C::magic, tm = C::magic;
    typename C::I it, im;
    std::memcpy(&it, &t, sizeof(T));
    std::memcpy(&im, &tm, sizeof(T));
    typename C::U bits = static_cast<typename C::U>(it - im + C::bias) << C::mant;
    T s;
    std::memcpy(&s, &bits, sizeof(T));
    return s;
}
}  // namespace detail

// exp(x), exact 0 below the underflow threshold (subnormal results kept), NaN propagated.
template <typename T>
OTKIT_HD T fast_exp(T x) {
    using C = detail::ExpConst<T>;
    T xc = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
    T kd = (xc * C::log2e + C::magic) - C::magic;  // round(x / ln2)
    T r = (xc - kd * C::ln2_hi) - kd * C::ln2_lo;   // |r| <= ln2 / 2
    T p = C::poly(r);
    // 2^k = 2^k1 * 2^k2 with k1 = floor(k/2): both halves normal, so subnormal results stay exact
    T k1d = (kd * T(0.5) + C::magic) - C::magic;
    k1d = k1d > kd * T(0.5) ? k1d - T(1) : k1d;
    T res = p * detail::pow2(k1d) * detail::pow2(kd - k1d);
    res = x < C::lo ? T(0) : res;
    return (x != x) ? x : res;
}

// exp(x) for x <= 0 with results below the smallest normal number flushed to 0 (one scaling
// instead of two: cheaper, for softmax weights where such values are negligible).
template <typename T>
OTKIT_HD T fast_exp_nonpos_ftz(T x) {
    using C = detail::ExpConst<T>;
    T xc = x < C::lo_normal ? C::lo_normal : x;
    T kd = (xc * C::log2e + C::magic) - C::magic;
    T r = (xc - kd * C::ln2_hi) - kd * C::ln2_lo;
    T res = C::poly(r) * detail::pow2(kd);
    return x < C::lo_normal ? T(0) : res;
}

// Vectorizable natural log for double (no branches, no calls): x = 2^e m with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s) = 2 (s + s^3/3 + ... + s^23/23) with s = (m - 1) / (m + 1), |s| <= 0.1716
// (truncation < 1e-20), e ln2 in two parts. Subnormal inputs are scaled by 2^54 first. log(0) = -inf,
// log(x < 0) = NaN, log(inf) = inf, NaN propagated, as std::log. Relative error ~1 ulp.
OTKIT_HD double fast_log(double x) {
    const double tiny = 2.2250738585072014e-308;  // DBL_MIN
    const bool sub = x < tiny;
    // selects on the factors, not on the products: GCC does not if-convert a conditional product
    // (it could trap), which would keep the loop from vectorizing
    const double xs = x * (sub ? 18014398509481984.0 : 1.0);  // 2^54
    uint64_t bits;
    std::memcpy(&bits, &xs, sizeof(bits));
    int64_t ei = static_cast<int64_t>((bits >> 52) & 0x7ff) - 1023 - (sub ? 54 : 0);
    const uint64_t mbits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  // m in [1, 2)
    double m;
    std::memcpy(&m, &mbits, sizeof(m));
    const bool big = m > 1.4142135623730951;
    m = m * (big ? 0.5 : 1.0);
    ei += big ? 1 : 0;
    const double e = static_cast<double>(ei);  // one conversion, after the integer selects
    const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double q = 1.0 / 23;
    q = q * s2 + 1.0 / 21;
    q = q * s2 + 1.0 / 19;
    q = q * s2 + 1.0 / 17;
    q = q * s2 + 1.0 / 15;
    q = q * s2 + 1.0 / 13;
    q = q * s2 + 1.0 / 11;
    q = q * s2 + 1.0 / 9;
    q = q * s2 + 1.0 / 7;
    q = q * s2 + 1.0 / 5;
    q = q * s2 + 1.0 / 3;
    const double logm = 2.0 * s + 2.0 * s * s2 * q;
    double r = e * 0.6931471803691238 + (logm + e * 1.9082149292705877e-10);
    // HUGE_VAL and NAN (not numeric_limits): usable in CUDA device code too
    r = x == 0.0 ? -HUGE_VAL : r;
    r = ((x < 0.0) | (x != x)) ? static_cast<double>(NAN) : r;  // | not ||: no branch
    r = x == HUGE_VAL ? x : r;
    return r;
}

#if !defined(__CUDACC__)
// LSE_j(x_j * scale + y_j) over n terms (max pass, then a sum of exponentials <= 1: terms below the
// smallest normal number are flushed, negligible next to the term equal to 1); -inf when every
// term is -inf. The row log-sum-exp of the log-domain Sinkhorn and barycenter kernels.
template <typename T>
inline T lse_affine(const T* x, T scale, const T* y, int64_t n) {
    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < n; ++j) mx = mx > x[j] * scale + y[j] ? mx : x[j] * scale + y[j];
    if (mx == -std::numeric_limits<T>::infinity()) return mx;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) s += fast_exp_nonpos_ftz(x[j] * scale + y[j] - mx);
    return mx + std::log(s);
}

// Large uninitialized work buffer (e.g. the n x m Sinkhorn kernel): 2 MiB aligned and, on Linux,
// backed by transparent huge pages when available (as NumPy does for large arrays) -- fewer page
// faults on first touch and fewer TLB misses when it is streamed every iteration.
struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
template <typename T>
using big_buffer = std::unique_ptr<T[], FreeDeleter>;

// Below 4 MiB: 64-byte aligned, from the allocator's pool. A huge page there would be a fresh 2 MiB
// page zeroed by the kernel at each call (Sinkhorn at d = 64, one iteration: 75 us, most of the call).
template <typename T>
big_buffer<T> alloc_big(size_t count) {
    const size_t huge = size_t(1) << 21;
    size_t bytes = std::max<size_t>(count * sizeof(T), 1);
    const bool big = bytes >= 2 * huge;
    const size_t align = big ? huge : 64;
    bytes = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (big) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return big_buffer<T>(static_cast<T*>(p));
}
#endif

template <typename T>
OTKIT_HD bool is_finite(T x) {
    return x - x == T(0);  // false for inf and NaN, even under -ffast-math-like reasoning
}

}  // namespace otkit
