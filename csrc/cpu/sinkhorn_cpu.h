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

// Log-domain form on point clouds x (n x d), y (m x d), row-major: the cost c_ij = ||x_i - y_j||^2 (or
// ||x_i - y_j|| when euclidean) is computed tile by tile inside each pass and never stored; same iterates
// as sinkhorn_log_cpu on the cost matrix.
template <typename T>
void sinkhorn_log_cloud_cpu(const T* x, const T* y, int64_t n, int64_t m, int64_t d, bool euclidean, const T* a,
                            const T* b, T reg, const SinkhornOptions& opt, T* f, T* g, T* value, T* plan,
                            SinkhornInfo* info, std::vector<double>* trace);

// The symmetric problem (a, a) on one point cloud x (n x d) (a debiasing term of the Sinkhorn divergence): the
// averaged fixed point f <- (f + T(f)) / 2 on the log-scaling f (n), in: initial, out: final; the plan is
// P = exp(f_i + f_j - c_ij / reg) with c as sinkhorn_log_cloud_cpu. info->err: L1 marginal error.
// reg_m < inf: the unbalanced problem (KL-relaxed marginals of weight reg_m, reference a a^T; GeomLoss's reach^p),
// whose fixed point is f = log a - fi LSE_j(-c_ij / reg + f_j), fi = reg_m / (reg_m + reg).
template <typename T>
void sinkhorn_symmetric_cloud_cpu(const T* x, int64_t n, int64_t d, bool euclidean, const T* a, T reg, double reg_m,
                                  const SinkhornOptions& opt, T* f, SinkhornInfo* info, std::vector<double>* trace);

// Stabilized kernel form (absorption of large scalings into the potentials alpha, beta,
// Schmitzer 2016): K = exp((alpha_i + beta_j - M_ij) / reg), rebuilt after each absorption.
//   alpha (n), beta (m): in: initial dual potentials; out: final (alpha + reg log u, ...)
template <typename T>
void sinkhorn_stabilized_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                             const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan,
                             SinkhornInfo* info, std::vector<double>* trace);

// Unbalanced Sinkhorn (uo.method: POT's kernel-form, translation-invariant and stabilized algorithms, or
// the log-domain), N problems sharing the kernel (B: m x N; POT's stopping rule over all of them).
//   M       (n x m) cost of the value <P, M>
//   Mk      (n x m) cost of the kernel K = exp(-Mk / reg): M - reg log c for a reference measure c
//           (POT's reg_type="kl": c = a b^T), or M itself
//   U, V    (n x N), (m x N): in: initial log-scalings (POT's warmstart, 0 by default);
//           out: final log-scalings log u, log v (log(u + 1e-300) as POT; alpha / reg + log u when
//           stabilized), so that P = exp(log u_i + log v_j - Mk_ij / reg)
//   values  (N) <P_k, M>, or nullptr; plan (n x m, N == 1), or nullptr; info (1); trace: every error
template <typename T>
void sinkhorn_unbalanced_cpu(const T* M, const T* Mk, int64_t n, int64_t m, const T* a, const T* B, int64_t N,
                             T reg, const UnbalancedOptions& uo, const SinkhornOptions& opt, T* U, T* V,
                             T* values, T* plan, SinkhornInfo* info, std::vector<double>* trace);

// Unbalanced log-domain Sinkhorn between point clouds (costs as sinkhorn_log_cloud_cpu, computed in the passes):
// KL-relaxed marginals of weights reg_m1, reg_m2 (inf: a hard constraint), reference a b^T (kl_ref, POT's
// reg_type="kl", GeomLoss's unbalanced OT) or 1 ("entropy"). f (n), g (m): initial and final log-scalings with
// P = exp(f_i + g_j - c_ij / reg) in both cases. Epsilon scaling from opt.anneal_*. POT's stopping rule (relative
// change of exp(f), exp(g)). Outputs (each may be null): value <P, c>, row_mass P 1 (n), col_mass P^T 1 (m).
template <typename T>
void sinkhorn_unbalanced_cloud_cpu(const T* x, const T* y, int64_t n, int64_t m, int64_t d, bool euclidean,
                                   const T* a, const T* b, T reg, double reg_m1, double reg_m2, bool kl_ref,
                                   const SinkhornOptions& opt, T* f, T* g, T* value, T* row_mass, T* col_mass,
                                   SinkhornInfo* info, std::vector<double>* trace);

// nb independent problems (minibatch OT), each with the single-problem solver of `method` and its own stopping
// rule, one problem per thread (the result of nb calls with num_threads = 1). Costs: M (nb x n x m), or, when M
// is null, point clouds x (nb x n x d), y (nb x m x d) (c = ||x_i - y_j||^2, or ||x_i - y_j|| when euclidean,
// computed per problem into a buffer of the thread). A (nb x n), Bh (nb x m) weights; X (nb x n), Y (nb x m)
// the initial and final scalings (KERNEL), log-scalings (LOG) or potentials (STABILIZED); values (nb) or null;
// plans (nb x n x m) or null; info (nb).
template <typename T>
void sinkhorn_batch_cpu(const T* M, const T* x, const T* y, int64_t d, bool euclidean, int64_t nb, int64_t n,
                        int64_t m, const T* A, const T* Bh, T reg, SinkhornMethod method, const SinkhornOptions& opt,
                        T* X, T* Y, T* values, T* plans, SinkhornInfo* info);

}  // namespace otkit
