// Options, per-problem outcome and the over-relaxation safeguard of the Sinkhorn solvers, shared by
// the CPU (csrc/cpu/sinkhorn_cpu.*) and CUDA (csrc/cuda/sinkhorn_cuda.*) kernels. Host code only.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace otkit {

// Per-problem outcome of a Sinkhorn solve.
struct SinkhornInfo {
    int status = 0;    // otkit::Status
    int niter = 0;     // index of the last iteration run (POT's log["niter"])
    double err = 0.0;  // last marginal violation ||colsum(P) - b||_2 that was computed
};

struct SinkhornOptions {
    int max_iter = 1000;
    double stop_thr = 1e-9;
    int check_every = 10;   // the marginal error is evaluated when ii % check_every == 0
    double tau = 1e3;       // absorption threshold (stabilized only)
    double omega = 1.0;     // over-relaxation: x <- x_old^(1-omega) * x_sinkhorn^omega (1 = plain Sinkhorn)
    double omega_start = 1e-2;  // relax only once the marginal error is below this, and stop relaxing
                                // for good if the error grows between two checks (safeguard)
    bool omega_auto = false;  // choose omega from the measured rate of the plain iterates (OmegaGuard)
    int num_threads = 0;    // 0: OpenMP default
    bool log_fast = true;   // log-domain: one exp per entry where safe (else the exact two-exp pass)
    // Epsilon scaling (log-domain drivers on the CPU): before the solve at reg, anneal_inner iterations at
    // each reg_k = anneal_start * anneal_factor^k > reg (k = 0, 1, ...), the dual potentials reg_k f, reg_k g
    // carried from stage to stage (Schmitzer 2019, Sec. 3.2; Feydy 2020, Sec. 3.3.3). 0: no annealing.
    double anneal_start = 0.0;
    double anneal_factor = 0.5;
    int anneal_inner = 1;
    // Anderson acceleration (csrc/common/anderson.h): the number of past iterates mixed (0: off). CPU kernel-form
    // (single problem) and log-domain drivers; exclusive with over-relaxation.
    int anderson = 0;
};

// The regularizations of the annealing stages of `o` above the target reg (empty without annealing).
inline std::vector<double> anneal_stages(const SinkhornOptions& o, double reg) {
    std::vector<double> regs;
    for (double r = o.anneal_start; r > reg && regs.size() < 10000; r *= o.anneal_factor) regs.push_back(r);
    return regs;
}

// The balanced solvers: kernel form (scalings u, v), log-domain (log-scalings f, g), stabilized (dual
// potentials alpha, beta with absorption).
enum class SinkhornMethod : int { KERNEL = 0, LOG = 1, STABILIZED = 2 };

// Unbalanced Sinkhorn (KL-relaxed marginals), in POT's three algorithms plus the log-domain.
enum class UnbalancedMethod : int {
    KNOPP = 0,                  // POT's sinkhorn_knopp_unbalanced (Chizat et al. 2018)
    TRANSLATION_INVARIANT = 1,  // POT's sinkhorn_unbalanced_translation_invariant (Sejourne et al. 2022)
    STABILIZED = 2,             // POT's sinkhorn_stabilized_unbalanced (absorption into alpha, beta)
    LOG = 3,                    // log-domain iterates of KNOPP (same stopping rule)
};

struct UnbalancedOptions {
    double reg_m1 = std::numeric_limits<double>::infinity();  // KL weight of the row marginal (inf: hard)
    double reg_m2 = std::numeric_limits<double>::infinity();  // KL weight of the column marginal
    UnbalancedMethod method = UnbalancedMethod::KNOPP;
};

// Safeguarded over-relaxation: plain Sinkhorn steps until the marginal error falls below
// omega_start, then omega; back to plain steps for good if the relaxed iterates diverge (the error
// exceeds 10x the best error seen since relaxing, or is not finite). With omega_auto, omega is the SOR
// optimum 2 / (1 + sqrt(1 - r)) for the contraction rate r per iteration of the plain iterates, measured
// between the last two checks before relaxing (Young 1950; for Sinkhorn, Thibault et al. 2021), at most
// kOmegaAutoMax.
constexpr double kOmegaAutoMax = 1.9;
struct OmegaGuard {
    double omega, start, best = std::numeric_limits<double>::infinity(), prev = 0.0;
    bool on = false, off = false, autoset;
    int period;
    explicit OmegaGuard(const SinkhornOptions& o)
        : omega(o.omega_auto ? 1.0 : o.omega), start(o.omega_start), autoset(o.omega_auto), period(o.check_every) {}
    double update(double err) {  // called at every check; returns the omega for the next steps
        if ((omega == 1.0 && !autoset) || off) return 1.0;
        if (on && !(err <= 10.0 * best)) {
            off = true;
            return 1.0;
        }
        best = std::min(best, err);
        if (!on && autoset) {
            const double r = prev > 0.0 ? std::pow(err / prev, 1.0 / period) : 1.0;
            prev = err;
            if (err < start && r < 1.0) {
                omega = std::min(kOmegaAutoMax, 2.0 / (1.0 + std::sqrt(1.0 - r)));
                on = true;
            }
        } else if (err < start) {
            on = true;
        }
        return on ? omega : 1.0;
    }
};

}  // namespace otkit
