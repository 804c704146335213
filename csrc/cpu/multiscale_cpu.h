// Block-sparse passes between clustered point clouds: the compiled pieces of multiscale Sinkhorn
// (otkit/multiscale.py holds the driver: clustering, the coarse solve, epsilon scaling, the truncation
// and its error bound). Raw pointers only; csrc/bind/multiscale_bind.cpp converts NumPy arrays.
//
// Layout: the points of each cloud are sorted by cluster; cluster I of x is rows xoff[I] .. xoff[I+1]-1 and
// cluster J of y rows yoff[J] .. yoff[J+1]-1. A block mask is a CSR structure over clusters: the clusters J
// kept for cluster I are indices[indptr[I] .. indptr[I+1]-1], increasing.
#pragma once

#include <cstdint>
#include <vector>

namespace otkit {

// Row log-sum-exp over the kept blocks:
//   lse_i = LSE_{j in kept blocks of cluster(i)} (c(x_i, y_j) * scale + g_j)
// with c = ||x_i - y_j||^2 (or ||x_i - y_j|| when euclidean), computed on the fly (x: n x d row-major;
// yT: d x m coordinate-major). cbar (n, or nullptr) receives sum_j e_ij c_ij / sum_j e_ij with
// e_ij = exp(c_ij * scale + g_j): the mean cost of row i under the plan (for <P, C>). A row whose terms
// are all -inf gets lse_i = -inf and cbar_i = 0. gbar (n x d, or nullptr) receives the mean of x_i - y_j under
// the same weights (divided by ||x_i - y_j||, 0 where it is 0, when euclidean): the gradient of the cost in x_i
// under the plan, up to the factor of the cost. Rows are independent: the result does not depend on the number
// of threads. Polls for Ctrl-C between chunks of clusters (throws Interrupted).
template <typename T>
void block_lse_cpu(const T* x, const T* yT, int64_t n, int64_t m, int64_t d, bool euclidean, const int64_t* xoff,
                   int64_t kx, const int64_t* yoff, int64_t ky, const int64_t* indptr, const int64_t* indices, T scale,
                   const T* g, T* lse, T* cbar, T* gbar, int num_threads);

// The block mask of the truncation. With u_IJ = phi_I + psi_J - cmin_IJ / reg, where phi_I, psi_J bound
// the potentials (f_i - log a_i, in units of reg) on the clusters from above and cmin_IJ bounds the
// cost between the clusters from below (centres cx, cy; radii rx, ry: cmin = max(0, |cx_I - cy_J| -
// rx_I - ry_J)^2, or without the square when euclidean), every plan entry of block (I, J) is at most
// a_i b_j exp(u_IJ). The mask keeps (I, J) when u_IJ > -trunc; a cluster with mass whose blocks would
// all be dropped keeps its largest u_IJ (so that no row or column of positive mass is empty).
// For the blocks NOT in the reference mask (ref_indptr/ref_indices, or the new mask when nullptr):
//   delta_rows[I] = sum_J B_J exp(phi_I + psi_J - cmin_IJ / reg)   (bound on the dropped mass of any
//   row i of I, relative to a_i), delta_cols[J] likewise with A_I (both nullptr: no bounds). logA, logB: log
// cluster masses.
void block_mask_cpu(const double* cx, const double* rx, const double* phi, const double* logA, int64_t kx,
                    const double* cy, const double* ry, const double* psi, const double* logB, int64_t ky,
                    int64_t d, bool euclidean, double reg, double trunc, const int64_t* ref_indptr,
                    const int64_t* ref_indices, std::vector<int64_t>& indptr, std::vector<int64_t>& indices,
                    double* delta_rows, double* delta_cols, int num_threads);

}  // namespace otkit
