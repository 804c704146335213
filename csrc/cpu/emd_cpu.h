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
    int warm_basis = 0;  // 1 when the given basis was accepted (see EmdBasis)
};

// A basis (spanning tree) in original node ids: rows 0..n-1, columns n..n+m-1. parent[v] is
// the other end of v's tree arc (-1 at the root, -2 for rows/columns of zero mass), flow[v]
// the flow on that arc. *_in (nullptr: none) warm-starts the solve: it must come from a solve
// with the same masses a, b (costs may differ) and is checked (spanning tree, flows meeting
// the masses, strongly feasible); if it fails the check the solve starts cold. *_out
// (nullptr: none) receives the final basis. All arrays have n + m entries.
struct EmdBasis {
    int64_t n = 0, m = 0;
    const int64_t* parent_in = nullptr;
    const double* flow_in = nullptr;
    int64_t* parent_out = nullptr;
    double* flow_out = nullptr;
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
//   alpha0, beta0         (n), (m) finite potentials to warm start from (both or neither): the
//              initial basis is built on the reduced costs M_ij - alpha0_i - beta0_j. The result
//              is the same optimum; only the number of pivots changes.
//   basis      optional warm-start tree and/or place for the final tree (see EmdBasis); a
//              basis accepted as warm start takes precedence over alpha0, beta0
void emd_network_simplex(const double* M, int64_t n, int64_t m, const double* a, const double* b,
                         int64_t max_iter, int64_t* arc_i, int64_t* arc_j, double* arc_x, double* alpha,
                         double* beta, EmdInfo* info, const double* alpha0 = nullptr,
                         const double* beta0 = nullptr, const EmdBasis* basis = nullptr);

// The same problem between point clouds, costs computed on the fly (never an n x m matrix):
//   X (n x d), Y (m x d) row-major; cost ||x_i - y_j||^2, or ||x_i - y_j|| when euclidean.
// Memory O((n + m) d). Same outputs and warm start by potentials as above (no basis).
void emd_network_simplex_cloud(const double* X, const double* Y, int64_t n, int64_t m, int64_t d, bool euclidean,
                               const double* a, const double* b, int64_t max_iter, int64_t* arc_i, int64_t* arc_j,
                               double* arc_x, double* alpha, double* beta, EmdInfo* info,
                               const double* alpha0 = nullptr, const double* beta0 = nullptr);

}  // namespace otkit
