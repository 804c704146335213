// Exact optimal transport on the CPU: a primal network simplex on the bipartite
// transportation graph. Raw pointers only; csrc/bind/emd_bind.cpp converts NumPy arrays and
// releases the GIL. No global state: concurrent calls from several threads are safe.
#pragma once

#include <cstdint>

namespace otkit {

struct EmdInfo {
    int status = 0;      // otkit::Status: OK (optimal) or MAX_ITER
    int64_t niter = 0;   // pivots performed
    double cost = 0.0;   // <P, M> of the returned plan
    int64_t narcs = 0;   // number of (i, j, mass) triplets written (mass > 0), <= n + m - 1
};

// Solve min_P <P, M> s.t. P 1 = a, P^T 1 = b, P >= 0.
//   M          (n x m) row-major cost matrix, read in place (never copied), finite
//   a, b       (n), (m) masses >= 0 with (numerically) equal totals; rows/columns of zero
//              mass are left out of the network
//   max_iter   pivot budget (status MAX_ITER when it runs out; the plan is then feasible)
//   arc_i, arc_j, arc_x   capacity n + m - 1: the support of the plan (original indices)
//   alpha, beta           (n), (m) dual potentials, alpha_i + beta_j <= M_ij (+ tolerance) at
//              optimality, with equality on the support; entries of zero-mass rows/columns
//              are set to NaN (the caller chooses feasible values for them)
void emd_network_simplex(const double* M, int64_t n, int64_t m, const double* a, const double* b,
                         int64_t max_iter, int64_t* arc_i, int64_t* arc_j, double* arc_x, double* alpha,
                         double* beta, EmdInfo* info);

}  // namespace otkit
