// Update rules of the Sinkhorn solvers: how a scaling (kernel form) or a log-scaling (log-domain) is
// computed from the product of the operator, shared by the CPU and CUDA kernels (OTKIT_HD).
//
// A pass of an operator (the fused half-step: s_i = (K v)_i, then u_i and K^T u in the same read of K)
// calls `rule(target_i, s_i, old_i, i)` for each row; the column half-step calls it with b_j and
// (K^T u)_j. One rule object serves every pass, mode and backend; a new Sinkhorn variant is a new rule.
//
//   Balanced      u_i = a_i / s_i                          (Cuturi 2013; u_i = 0 where a_i = 0)
//   + omega       u_i = old_i^(1-omega) (a_i / s_i)^omega   (Thibault et al. 2021, safeguarded by the driver)
//   Unbalanced    u_i = phi_i (a_i / (s_i + eps))^fi,  fi = reg_m / (reg_m + reg)
//                 (Chizat et al. 2018, KL-relaxed marginals; phi_i: per-row factor of the stabilized form,
//                 eps = 1e-16 there as in POT, 0 otherwise; reg_m = inf gives fi = 1: balanced)
//
// Log-domain counterparts act on f = log u with lse_i = log s_i:
//   Balanced      f_i = log a_i - lse_i          (relaxed: (1 - omega) f_i + omega (log a_i - lse_i))
//   Unbalanced    f_i = fi (log a_i - lse_i)          (relaxed as the balanced one)
#pragma once

#include <cmath>
#include <cstdint>

#include "common/otkit_common.h"

namespace otkit {

// over-relaxed scaling old^(1 - omega) * fresh^omega; zero stays zero (empty row/column)
template <typename T>
OTKIT_HD T relax(T old, T fresh, T omega) {
    return (fresh == T(0) || old == T(0)) ? fresh : old * std::pow(fresh / old, omega);
}

// relaxed log-scaling (1 - omega) old + omega fresh; -inf (an empty row/column) is never relaxed
template <typename T>
OTKIT_HD T relax_log(T old, T fresh, T omega) {
    return (omega != T(1) && fresh != -HUGE_VAL && old != -HUGE_VAL) ? (T(1) - omega) * old + omega * fresh : fresh;
}

// 1 for reg_m = inf (a hard marginal constraint), reg_m / (reg_m + reg) otherwise
inline double unbalanced_exponent(double reg_m, double reg) {
    return std::isinf(reg_m) ? 1.0 : reg_m / (reg_m + reg);
}

template <typename T>
struct BalancedRule {
    T omega = T(1);
    // the kernel-form scaling (target = a_i or b_j, s = (K v)_i or (K^T u)_j)
    OTKIT_HD T operator()(T target, T s, T old, int64_t) const {
        T x = target == T(0) ? T(0) : target / s;  // empty rows keep u_i = 0 (as POT)
        return omega != T(1) ? relax(old, x, omega) : x;
    }
    // the log-domain update (logt = log target, lse = log s)
    OTKIT_HD T log(T logt, T lse, T old, int64_t) const { return relax_log(old, logt - lse, omega); }
    // true when exp(new f + max) is target / sum (the one-exp log pass uses the ratio, no exp)
    OTKIT_HD bool plain() const { return omega == T(1); }
};

template <typename T>
struct UnbalancedRule {
    T fi = T(1);               // exponent reg_m / (reg_m + reg)
    T eps = T(0);              // added to s (POT's stabilized unbalanced: 1e-16)
    const T* phi = nullptr;    // optional per-entry factor (stabilized: exp(-alpha_i / (reg + reg_m)))
    T omega = T(1);            // over-relaxation of the log-domain update (relax_log)
    OTKIT_HD T operator()(T target, T s, T, int64_t i) const {
        if (target == T(0)) return T(0);
        const T r = target / (s + eps);
        const T x = fi == T(1) ? r : std::pow(r, fi);
        return phi != nullptr ? x * phi[i] : x;
    }
    OTKIT_HD T log(T logt, T lse, T old, int64_t) const {
        return logt == -HUGE_VAL ? logt : relax_log(old, fi * (logt - lse), omega);
    }
    OTKIT_HD bool plain() const { return fi == T(1) && phi == nullptr && eps == T(0) && omega == T(1); }
};

}  // namespace otkit
