// Costs between two point clouds computed on the fly (never an n x m matrix), shared by the
// log-domain Sinkhorn passes (CloudRows, csrc/cpu/sinkhorn_cpu.cpp) and the point-cloud network
// simplex (CloudCosts, csrc/cpu/emd_cpu.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace otkit {

// out[k] = c(x, y_{j0 + k}) for k < len: ||x - y||^2, or ||x - y|| when euclidean. x has d coordinates;
// the targets are coordinate-major, yT[c * ld + j] (so every loop over j is contiguous and vectorized). The
// squares are added coordinate by coordinate in order, as NumPy's ((x - y) ** 2).sum(-1) does.
template <typename T>
inline void cloud_cost_row(const T* x, const T* yT, int64_t ld, int64_t d, int64_t j0, int64_t len,
                           bool euclidean, T* out) {
    std::fill(out, out + len, T(0));
    for (int64_t c = 0; c < d; ++c) {
        const T xc = x[c];
        const T* yc = yT + c * ld + j0;
#pragma omp simd
        for (int64_t k = 0; k < len; ++k) {
            const T t = xc - yc[k];
            out[k] += t * t;
        }
    }
    if (euclidean) {
#pragma omp simd
        for (int64_t k = 0; k < len; ++k) out[k] = std::sqrt(out[k]);
    }
}

}  // namespace otkit
