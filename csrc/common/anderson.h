// Anderson acceleration of the Sinkhorn fixed-point map on the column log-scalings (host code, shared by the
// kernel-form and log-domain drivers of csrc/cpu/sinkhorn_cpu.cpp; the Numba twin is otkit/_numba/anderson.py).
//
// One Sinkhorn iteration is a map g -> G(g) on g = log v: u = a / (K v) (the fused pass), then v = b / (K^T u).
// Type-II Anderson mixing (Walker & Ni 2011, eq. 2.2 in the difference form) keeps the last `memory` pairs
// (r_i = G(g_i) - g_i, y_i = G(g_i)) and takes as the next input
//     g_{k+1} = y_k - dY gamma,   gamma = argmin ||r_k - dR gamma||_2,
// with dR, dY the differences of consecutive r, y. The map's output is already computed when the mixing is
// applied, so an accelerated iteration costs the same one read of K (or M) as a plain one. The least-squares
// problem is solved through its normal equations with a Tikhonov term 1e-10 trace (Anderson-type Sinkhorn
// acceleration with regularized mixing: Chizat 2020; OTT-JAX's `anderson`).
//
// Entries that are -inf (b_j = 0: an empty column) are left out of the mixing and stay -inf. A mix that is not
// finite, or that leaves [lo, hi] (the kernel form: exp(g) must stay a normal number), is discarded: the plain
// output is used and the history restarts. The driver also restarts it (restart()) when the marginal error
// grows 10x above its best; after kMaxRestarts restarts the acceleration is switched off for good.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace otkit {

class AndersonMixer {
  public:
    static constexpr int kMaxRestarts = 8;

    AndersonMixer(int memory, int64_t size, double lo = -std::numeric_limits<double>::infinity(),
                  double hi = std::numeric_limits<double>::infinity())
        : mem_(memory), n_(size), lo_(lo), hi_(hi) {
        if (mem_ > 0) {
            R_.assign(static_cast<size_t>(mem_ + 1) * n_, 0.0);
            Y_.assign(static_cast<size_t>(mem_ + 1) * n_, 0.0);
            mixed_.resize(n_);
            live_.resize(n_);
        }
    }

    bool enabled() const { return mem_ > 0 && restarts_ <= kMaxRestarts; }

    // x: the map's input g_k, y: its output G(g_k), both log-scalings (read once each through get(i) accessors,
    // so that the kernel form can pass logs of its scalings); set_y(i, value) receives g_{k+1} on the live entries.
    template <class GetX, class GetY, class SetY>
    void step(GetX x, GetY y, SetY set_y) {
        if (!enabled()) return;
        const int size = mem_ + 1;
        double* r = &R_[static_cast<size_t>(count_ % size) * n_];
        double* yy = &Y_[static_cast<size_t>(count_ % size) * n_];
        for (int64_t i = 0; i < n_; ++i) {
            const double yi = y(i), xi = x(i);
            live_[i] = std::isfinite(yi) && std::isfinite(xi);
            yy[i] = live_[i] ? yi : 0.0;
            r[i] = live_[i] ? yi - xi : 0.0;
        }
        ++count_;
        const int k = std::min(count_ - 1, mem_);  // number of differences available
        if (k == 0) return;
        // the ring entries `back` steps before the newest (back = 0: this step's); dR_c = R[c] - R[c + 1]
        const double *Rb[kMaxMemory + 1], *Yb[kMaxMemory + 1];
        for (int back = 0; back <= k; ++back) {
            const size_t s = static_cast<size_t>((count_ - 1 - back) % size) * n_;
            Rb[back] = &R_[s];
            Yb[back] = &Y_[s];
        }
        double G[kMaxMemory * kMaxMemory], rhs[kMaxMemory];
        for (int c = 0; c < k; ++c) {
            double s = 0.0;
            for (int64_t i = 0; i < n_; ++i) s += (Rb[c][i] - Rb[c + 1][i]) * r[i];
            rhs[c] = s;
            for (int e = 0; e <= c; ++e) {
                double t = 0.0;
                for (int64_t i = 0; i < n_; ++i) t += (Rb[c][i] - Rb[c + 1][i]) * (Rb[e][i] - Rb[e + 1][i]);
                G[c * kMaxMemory + e] = G[e * kMaxMemory + c] = t;
            }
        }
        double trace = 0.0;
        for (int c = 0; c < k; ++c) trace += G[c * kMaxMemory + c];
        if (!(trace > 0.0) || !std::isfinite(trace)) return;  // no progress measured: the plain step
        for (int c = 0; c < k; ++c) G[c * kMaxMemory + c] += 1e-10 * trace;
        double gamma[kMaxMemory];
        if (!solve_spd(G, rhs, gamma, k)) return;
        for (int64_t i = 0; i < n_; ++i) {
            if (!live_[i]) continue;  // left out (-inf: empty column)
            double v = yy[i];
            for (int c = 0; c < k; ++c) v -= (Yb[c][i] - Yb[c + 1][i]) * gamma[c];
            if (!(v >= lo_ && v <= hi_)) {  // not finite or out of range: keep the plain step
                restart();
                return;
            }
            mixed_[i] = v;
        }
        for (int64_t i = 0; i < n_; ++i)
            if (live_[i]) set_y(i, mixed_[i]);
    }

    // forget the history (the next mixes start from the current iterate); counts towards kMaxRestarts
    void restart() {
        count_ = 0;
        ++restarts_;
    }

    // the safeguard, at each check of the marginal error: restart when it grew 10x above its best
    void check(double err) {
        if (!enabled()) return;
        if (!(err <= 10.0 * best_)) {
            restart();
            best_ = err;  // measured from the restart
            return;
        }
        best_ = std::min(best_, err);
    }

    static constexpr int kMaxMemory = 32;

  private:
    // Cholesky solve of the k x k system G x = rhs (row stride kMaxMemory); false if G is not positive
    static bool solve_spd(double* G, const double* rhs, double* x, int k) {
        for (int c = 0; c < k; ++c) {
            double d = G[c * kMaxMemory + c];
            for (int e = 0; e < c; ++e) d -= G[c * kMaxMemory + e] * G[c * kMaxMemory + e];
            if (!(d > 0.0)) return false;
            d = std::sqrt(d);
            G[c * kMaxMemory + c] = d;
            for (int r = c + 1; r < k; ++r) {
                double s = G[r * kMaxMemory + c];
                for (int e = 0; e < c; ++e) s -= G[r * kMaxMemory + e] * G[c * kMaxMemory + e];
                G[r * kMaxMemory + c] = s / d;
            }
        }
        for (int c = 0; c < k; ++c) {  // L z = rhs
            double s = rhs[c];
            for (int e = 0; e < c; ++e) s -= G[c * kMaxMemory + e] * x[e];
            x[c] = s / G[c * kMaxMemory + c];
        }
        for (int c = k - 1; c >= 0; --c) {  // L^T x = z
            double s = x[c];
            for (int e = c + 1; e < k; ++e) s -= G[e * kMaxMemory + c] * x[e];
            x[c] = s / G[c * kMaxMemory + c];
        }
        for (int c = 0; c < k; ++c)
            if (!std::isfinite(x[c])) return false;
        return true;
    }

    int mem_;
    int64_t n_;
    double lo_, hi_;
    int count_ = 0, restarts_ = 0;
    double best_ = std::numeric_limits<double>::infinity();
    std::vector<double> R_, Y_, mixed_;
    std::vector<char> live_;
};

}  // namespace otkit
