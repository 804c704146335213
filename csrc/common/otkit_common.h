// Header-only helpers shared by the CPU and CUDA kernels of otkit.
#pragma once

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

// exp(x) for x <= ~709, vectorizable (no branches, no calls), relative error ~2 ulp.
// Cody-Waite range reduction x = k ln2 + r, |r| <= ln2/2, then a degree-12 Taylor
// polynomial of exp(r) in Horner form and a scaling by 2^k built from the exponent bits.
// Inputs below -745.13 return exactly 0 (as std::exp underflows), NaN propagates.
template <typename T>
OTKIT_HD T fast_exp(T x);

template <>
OTKIT_HD double fast_exp<double>(double x) {
    const double lo = -745.1332191019412;   // exp(lo) underflows to 0
    const double hi = 709.782712893384;     // exp(hi) ~ DBL_MAX
    const double magic = 6755399441055744.0; // 1.5 * 2^52: adding it rounds to an integer
    double xc = x < lo ? lo : (x > hi ? hi : x);
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 0.6931471803691238;     // 33 significant bits: k*ln2_hi exact
    const double ln2_lo = 1.9082149292705877e-10;
    double kd = (xc * log2e + magic) - magic;     // round(x / ln2)
    double r = (xc - kd * ln2_hi) - kd * ln2_lo;  // |r| <= ln2 / 2
    // Taylor coefficients 1/i!, i = 0..12 (|r| <= 0.347: truncation < 1e-17 relative)
    double p = 2.08767569878680989792e-09;
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
    p = p * r + 1.0;
    // 2^k = 2^k1 * 2^k2 with k1 = floor(k/2): both halves are normal numbers, so subnormal
    // results stay exact. The exponent bits come from the magic-number trick (integer adds
    // and a logical shift only, so the loop vectorizes with AVX2).
    double k1d = (kd * 0.5 + magic) - magic;
    k1d = k1d > kd * 0.5 ? k1d - 1.0 : k1d;
    double k2d = kd - k1d;
    double t1 = k1d + magic, t2 = k2d + magic, tm = magic;
    int64_t i1, i2, im;
    std::memcpy(&i1, &t1, sizeof(double));
    std::memcpy(&i2, &t2, sizeof(double));
    std::memcpy(&im, &tm, sizeof(double));
    uint64_t b1 = static_cast<uint64_t>(i1 - im + 1023) << 52;
    uint64_t b2 = static_cast<uint64_t>(i2 - im + 1023) << 52;
    double s1, s2;
    std::memcpy(&s1, &b1, sizeof(double));
    std::memcpy(&s2, &b2, sizeof(double));
    double res = p * s1 * s2;
    res = x < lo ? 0.0 : res;
    return (x != x) ? x : res;
}

template <>
OTKIT_HD float fast_exp<float>(float x) {
    const float lo = -103.972077f;   // below: 0
    const float hi = 88.7228394f;
    const float magic = 12582912.0f;  // 1.5 * 2^23
    float xc = x < lo ? lo : (x > hi ? hi : x);
    const float log2e = 1.44269504f;
    const float ln2_hi = 0.693145752f;
    const float ln2_lo = 1.42860677e-06f;
    float kd = (xc * log2e + magic) - magic;
    float r = (xc - kd * ln2_hi) - kd * ln2_lo;
    float p = 1.98412698e-04f;
    p = p * r + 1.38888889e-03f;
    p = p * r + 8.33333333e-03f;
    p = p * r + 4.16666667e-02f;
    p = p * r + 1.66666667e-01f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    float k1d = (kd * 0.5f + magic) - magic;
    k1d = k1d > kd * 0.5f ? k1d - 1.0f : k1d;
    float k2d = kd - k1d;
    float t1 = k1d + magic, t2 = k2d + magic, tm = magic;
    int32_t i1, i2, im;
    std::memcpy(&i1, &t1, sizeof(float));
    std::memcpy(&i2, &t2, sizeof(float));
    std::memcpy(&im, &tm, sizeof(float));
    uint32_t b1 = static_cast<uint32_t>(i1 - im + 127) << 23;
    uint32_t b2 = static_cast<uint32_t>(i2 - im + 127) << 23;
    float s1, s2;
    std::memcpy(&s1, &b1, sizeof(float));
    std::memcpy(&s2, &b2, sizeof(float));
    float res = p * s1 * s2;
    res = x < lo ? 0.0f : res;
    return (x != x) ? x : res;
}

#if !defined(__CUDACC__)
// Large uninitialized work buffer (e.g. the n x m Sinkhorn kernel): 2 MiB aligned and, on Linux,
// backed by transparent huge pages when available (as NumPy does for large arrays) -- fewer page
// faults on first touch and fewer TLB misses when it is streamed every iteration.
struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
template <typename T>
using big_buffer = std::unique_ptr<T[], FreeDeleter>;

template <typename T>
big_buffer<T> alloc_big(size_t count) {
    const size_t align = size_t(1) << 21;
    size_t bytes = count * sizeof(T);
    bytes = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return big_buffer<T>(static_cast<T*>(p));
}
#endif

template <typename T>
OTKIT_HD bool is_finite(T x) {
    return x - x == T(0);  // false for inf and NaN, even under -ffast-math-like reasoning
}

}  // namespace otkit
