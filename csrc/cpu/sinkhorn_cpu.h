// Sinkhorn matrix scaling on the CPU (kernel form, log-domain, stabilized), single and batched.
// Raw pointers only; csrc/bind/sinkhorn_bind.cpp converts NumPy arrays and releases the GIL.
#pragma once

#include <cstdint>
#include <vector>

#include "common/sinkhorn_types.h"

namespace otkit {

// Kernel form, K = exp(-M / reg), scalings u (n x N) and v (m x N), row-major.
//   B       (m x N) target histograms (N = 1: a single problem)
//   U, V    in: initial scalings; out: final scalings
//   values  (N) <P_k, M>, or nullptr
//   plan    (n x m) transport plan (N == 1 only), or nullptr
//   trace   errors at every check (N == 1 only), or nullptr
template <typename T>
void sinkhorn_knopp_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg,
                        const SinkhornOptions& opt, T* U, T* V, T* values, T* plan,
                        SinkhornInfo* info, std::vector<double>* trace);

// Log-domain form on log-scalings f (n) and g (m): P = exp(-M/reg + f_i + g_j).
//   f       in: initial log-scaling (POT starts from 0); out: final
//   g       out: final log-scaling
template <typename T>
void sinkhorn_log_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                      const SinkhornOptions& opt, T* f, T* g, T* value, T* plan,
                      SinkhornInfo* info, std::vector<double>* trace);

// Stabilized kernel form (absorption of large scalings into the potentials alpha, beta,
// Schmitzer 2016): K = exp((alpha_i + beta_j - M_ij) / reg), rebuilt after each absorption.
//   alpha (n), beta (m): in: initial dual potentials; out: final (alpha + reg log u, ...)
template <typename T>
void sinkhorn_stabilized_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                             const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan,
                             SinkhornInfo* info, std::vector<double>* trace);


}  // namespace otkit
