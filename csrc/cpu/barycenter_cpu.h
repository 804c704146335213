// Wasserstein barycenters on the CPU (Benamou et al. 2015, iterative Bregman projections):
// fixed support (kernel form, log domain, stabilized) and convolutional on 2-D grids
// (Solomon et al. 2015). Raw pointers only; csrc/bind/barycenter_bind.cpp converts NumPy
// arrays and releases the GIL. Float64 only.
//
// Every solver reproduces the iterates, the stopping rule and the returned values of the
// corresponding POT function (ot.bregman.barycenter_sinkhorn, _barycenter_sinkhorn_log,
// barycenter_stabilized, _convolutional_barycenter2d, _convolutional_barycenter2d_log, and the
// debiased barycenters of Janati et al. 2020: _barycenter_debiased, _barycenter_debiased_log,
// _convolutional_barycenter2d_debiased, _convolutional_barycenter2d_debiased_log).
#pragma once

#include <cstdint>
#include <vector>

namespace otkit {

struct BaryOptions {
    int max_iter = 10000;
    double stop_thr = 1e-4;
    double tau = 1e10;        // absorption threshold (stabilized only)
    double stab_thr = 1e-30;  // added inside the logs (convolutional only, as POT)
    int num_threads = 0;      // 0: OpenMP default
};

struct BaryInfo {
    int status = 0;            // otkit::Status
    int niter = 0;             // index of the last iteration run (POT's log["niter"])
    double err = 1.0;          // last error computed (1 if none was computed, as POT)
    std::vector<double> errs;  // every error computed (POT's log["err"])
};

// M (d x d), A (d x N) row-major (one histogram per column), w (N). Writes bar (d).
void barycenter_sinkhorn_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                             const BaryOptions& opt, double* bar, BaryInfo* info);
void barycenter_log_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                        const BaryOptions& opt, double* bar, BaryInfo* info);
void barycenter_stabilized_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                               const BaryOptions& opt, double* bar, BaryInfo* info);
// Debiased (Sinkhorn divergence) barycenters: the loop stops only when ii > 20, as POT's.
void barycenter_debiased_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                             const BaryOptions& opt, double* bar, BaryInfo* info);
void barycenter_debiased_log_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                                 const BaryOptions& opt, double* bar, BaryInfo* info);

// Unbalanced barycenter (POT's barycenter_unbalanced_sinkhorn, or _stabilized when `stabilized`, with
// opt.tau): KL-relaxed marginals with weight reg_m > 0 (inf: balanced). Writes bar (d) and the logs of the
// last scalings, logu and logv (d x N, row-major; log(u + 1e-300) as POT's log["logu"], log["logv"]).
void barycenter_unbalanced_cpu(const double* M, int64_t d, const double* A, int64_t N, const double* w, double reg,
                               double reg_m, bool stabilized, const BaryOptions& opt, double* bar, double* logu,
                               double* logv, BaryInfo* info);

// A (N x h x w) images (row-major), w8 (N) weights. Writes bar (h x w). The Gaussian kernel
// exp(-(t_i - t_j)^2 / reg) on t = linspace(0, 1, .) is applied along each axis separately.
void conv_barycenter2d_cpu(const double* A, int64_t N, int64_t h, int64_t w, const double* w8, double reg,
                           const BaryOptions& opt, double* bar, BaryInfo* info);
void conv_barycenter2d_log_cpu(const double* A, int64_t N, int64_t h, int64_t w, const double* w8, double reg,
                               const BaryOptions& opt, double* bar, BaryInfo* info);
// Debiased. U, V (N x h x w, or null): the last scalings (POT's log["U"], log["V"]).
void conv_barycenter2d_debiased_cpu(const double* A, int64_t N, int64_t h, int64_t w, const double* w8, double reg,
                                    const BaryOptions& opt, double* bar, BaryInfo* info, double* U = nullptr,
                                    double* V = nullptr);
void conv_barycenter2d_debiased_log_cpu(const double* A, int64_t N, int64_t h, int64_t w, const double* w8,
                                        double reg, const BaryOptions& opt, double* bar, BaryInfo* info);

}  // namespace otkit
