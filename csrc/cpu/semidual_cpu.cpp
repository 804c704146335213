// Regularized semi-dual stochastic solvers on the CPU: SAG, (averaged) SGD and the c-transform.
//
// The hot loop is the per-sample softmax over the discrete side (paper, Prop. 2.1 and Alg. 1-2):
//     z_j = (v_j - c_j) / reg + log b_j,   pi_j = exp(z_j - max z) / sum_k exp(z_k - max z),
//     v^{c,reg} = -reg (max z + log sum_k exp(z_k - max z)),
// shifted by the maximum so that no reg under- or overflows; atoms with b_j = 0 get z_j = -inf
// and pi_j = 0. Each pass over j is a plain loop over contiguous arrays that the compiler
// vectorizes (softmax_exp is branch-free).
#include "cpu/semidual_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/interrupt.h"
#include "common/otkit_common.h"

#include "common/omp_compat.h"
#include "common/threads.h"

namespace otkit {

namespace {

// Parts of an SGD step over `entries` cost entries (one exp each), by the common policy
// (common/threads.h); a step is one parallel region (a fork), hence the larger share.
int threads_for(int64_t entries, int num_threads) {
    return plan_parts(double(entries) * kNsPerExp, num_threads, kMinForkShareNs);
}

template <typename T>
void log_weights(const T* b, int64_t m, T* logb) {
    for (int64_t j = 0; j < m; ++j) logb[j] = b[j] > T(0) ? std::log(b[j]) : -std::numeric_limits<T>::infinity();
}

// exp(x) for the max-shifted softmax arguments x <= 0 (Cody-Waite reduction x = k ln2 + r and a
// degree-12 Taylor polynomial, as otkit::fast_exp, ~2 ulp). Results below the smallest normal
// number (x < log(DBL_MIN) ~ -708.4) are flushed to 0: next to the max term exp(0) = 1 they are
// far below the rounding of the sum. This drops fast_exp's subnormal split and its overflow
// clamp, about a third of its instructions, for the hot loop. x = -inf (b_j = 0) gives 0.
template <typename T>
inline T softmax_exp(T x) {  // x <= 0; results below the smallest normal number are flushed to 0
    return fast_exp_nonpos_ftz(x);
}

template <typename T>
inline T row_logits(const T* c, const T* v, const T* logb, int64_t m, T inv, T* z) {
    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < m; ++j) {
        const T zj = (v[j] - c[j]) * inv + logb[j];
        z[j] = zj;
        mx = zj > mx ? zj : mx;
    }
    return mx;
}

// Pass 2: z_j <- exp(z_j - mx) (unnormalized softmax), returns the sum.
template <typename T>
inline T row_exp(T* z, int64_t m, T mx) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < m; ++j) {
        const T e = softmax_exp(z[j] - mx);
        z[j] = e;
        s += e;
    }
    return s;
}

// Hard c-transform (reg = 0) of one row: min_{b_j > 0} c_j - v_j and its first argmin.
template <typename T>
inline T row_argmin(const T* c, const T* v, const T* logb, int64_t m, int64_t* jstar) {
    const T inf = std::numeric_limits<T>::infinity();
    T best = inf;
    int64_t jb = 0;
    for (int64_t j = 0; j < m; ++j) {
        const T s = c[j] - v[j];
        if (logb[j] > -inf && s < best) {
            best = s;
            jb = j;
        }
    }
    *jstar = jb;
    return best;
}

// One cost row c (m): returns v^{c,reg}(x); p (m) receives pi(x) (normalized); *jstar (if given)
// the argmax of pi (first index on ties). reg == 0: the hard c-transform.
template <typename T>
inline T row_softmax(const T* c, const T* v, const T* logb, int64_t m, T reg, T* p, int64_t* jstar) {
    if (reg == T(0)) {
        int64_t jb = 0;
        const T best = row_argmin(c, v, logb, m, &jb);
        std::fill(p, p + m, T(0));
        p[jb] = T(1);
        if (jstar) *jstar = jb;
        return best;
    }
    const T mx = row_logits(c, v, logb, m, T(1) / reg, p);
    if (jstar) {
        int64_t jb = 0;
        while (jb < m && p[jb] != mx) ++jb;
        *jstar = jb < m ? jb : 0;
    }
    const T s = row_exp(p, m, mx);
    const T is = T(1) / s;
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) p[j] *= is;
    return -reg * (mx + std::log(s));
}

#ifndef OTKIT_PF_LOC
#define OTKIT_PF_LOC 1
#endif
inline void prefetch_row(const void* x, int64_t bytes) {
    const char* c = static_cast<const char*>(x);
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, OTKIT_PF_LOC);
}

template <typename T>
bool all_finite(const T* x, int64_t n) {
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= is_finite(x[i]);
    return ok;
}

}  // namespace

namespace {

// Guards of the one-pass softmax below: the unnormalized sum s of exp(z_j - S), S an upper bound
// of max_j z_j, is accepted when tiny <= s <= huge. s >= tiny means the largest term is at least
// tiny / m, so every term within a factor exp(-40) (double) of it was computed exactly (not flushed
// by softmax_exp); s <= huge rules out an overflow. Otherwise the row is redone with its exact max.
template <typename T>
struct ShiftGuard;
template <>
struct ShiftGuard<double> {
    static constexpr double tiny = 1e-250;  // ~ exp(-575)
    static constexpr double huge = 1e300;
};
template <>
struct ShiftGuard<float> {
    static constexpr float tiny = 1e-25f;  // ~ exp(-57)
    static constexpr float huge = 1e37f;
};

// Lazily computed minima of cost rows (used by the upper bound of the logits).
template <typename T>
struct RowMin {
    const T* C;
    int64_t m;
    std::vector<T> val;
    std::vector<char> done;
    RowMin(const T* C_, int64_t rows, int64_t m_) : C(C_), m(m_), val(rows), done(rows, 0) {}
    T operator()(int64_t r) {
        if (!done[r]) {
            const T* c = C + r * m;
            T mn = std::numeric_limits<T>::infinity();
#pragma omp simd reduction(min : mn)
            for (int64_t j = 0; j < m; ++j) mn = c[j] < mn ? c[j] : mn;
            val[r] = mn;
            done[r] = 1;
        }
        return val[r];
    }
};

template <typename T>
T max_of(const T* x, int64_t m) {
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < m; ++j) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

}  // namespace

template <typename T>
int semidual_sag_cpu(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, T lr,
                     const int64_t* idx, int64_t niter, T* v, T* G, T* d) {
    if (!(reg > T(0))) return BAD_INPUT;
    for (int64_t t = 0; t < niter; ++t)
        if (idx[t] < 0 || idx[t] >= n) return BAD_INPUT;
    if (niter == 0) return all_finite(v, m) ? OK : NUMERICAL_ERROR;
    std::vector<T> logb(m), zbuf(m);
    log_weights(b, m, logb.data());
    const T logb_max = max_of(logb.data(), m);
    const T inv = T(1) / reg;
    const T step = lr / static_cast<T>(n);  // lr times the average of the stored gradients
    T* z = zbuf.data();
    RowMin<T> cmin(M, n, m);
    constexpr int64_t PF = 8;  // rows of G and M are prefetched (into L2) PF iterations ahead
    // One pass over m per iteration. The pass of iteration t applies the SAG update with the
    // softmax of row i_t (z holds its exponentials, `is` 1 / their sum) and, with the updated v,
    // computes the exponentials of row i_{t+1} shifted by an upper bound S of their logits
    // instead of their max (which is only known after the pass): each v_j moves by at most
    // step |d_j| <= step (|d_j| <= sum_i a_i = 1), so
    //     z'_j = (v'_j - c'_j) / reg + log b_j <= (max_k v_k + step - min_k c'_k) / reg + max_k log b_k = S.
    // The softmax is shift-invariant; the guard redoes the rare rows where S is far off the max.
    T s = row_exp(z, m, row_logits(M + idx[0] * m, v, logb.data(), m, inv, z));
    T vmax = max_of(v, m);
    InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
    for (int64_t t = 0; t < niter; ++t) {
        poll.check();
        const int64_t i = idx[t];
        if (t + PF < niter) {
            prefetch_row(G + idx[t + PF] * m, m * static_cast<int64_t>(sizeof(T)));
            prefetch_row(M + idx[t + PF] * m, m * static_cast<int64_t>(sizeof(T)));
        }
        const T is = T(1) / s;
        const T ai = a[i];
        T* Gi = G + i * m;
        if (t + 1 < niter) {
            const int64_t inext = idx[t + 1];
            const T* cn = M + inext * m;
            const T S = (vmax + step - cmin(inext)) * inv + logb_max;
            T s2 = 0, vmax2 = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(+ : s2) reduction(max : vmax2)
            for (int64_t j = 0; j < m; ++j) {
                const T g = ai * (b[j] - z[j] * is);  // a_i grad h(x_i, v) = a_i (b - pi(x_i))
                d[j] += g - Gi[j];
                Gi[j] = g;
                const T vj = v[j] + step * d[j];
                v[j] = vj;
                vmax2 = vj > vmax2 ? vj : vmax2;
                const T e = softmax_exp((vj - cn[j]) * inv + logb[j] - S);
                z[j] = e;
                s2 += e;
            }
            vmax = vmax2;
            if (!(s2 >= ShiftGuard<T>::tiny && s2 <= ShiftGuard<T>::huge))  // exact max, two passes
                s2 = row_exp(z, m, row_logits(cn, v, logb.data(), m, inv, z));
            s = s2;
        } else {
#pragma omp simd
            for (int64_t j = 0; j < m; ++j) {
                const T g = ai * (b[j] - z[j] * is);
                d[j] += g - Gi[j];
                Gi[j] = g;
                v[j] += step * d[j];
            }
        }
    }
    return all_finite(v, m) ? OK : NUMERICAL_ERROR;
}

namespace {

// acc += pi(c) for one cost row (reg > 0: softmax; reg = 0: one-hot on the argmin); z: scratch (m).
template <typename T>
inline void accumulate_row(const T* c, const T* v, const T* logb, int64_t m, T reg, T* z, T* acc) {
    if (reg == T(0)) {
        int64_t jb = 0;
        row_argmin(c, v, logb, m, &jb);
        acc[jb] += T(1);
        return;
    }
    const T mx = row_logits(c, v, logb, m, T(1) / reg, z);
    const T is = T(1) / row_exp(z, m, mx);
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) acc[j] += z[j] * is;
}

// v += step (b - acc / batch); vbar += (v - vbar) w when averaged.
template <typename T>
inline void sgd_update(const T* b, const T* acc, int64_t j0, int64_t j1, T inv_batch, T step, T w, bool averaged,
                       T* v, T* vbar) {
    if (averaged) {
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) {
            const T vj = v[j] + step * (b[j] - acc[j] * inv_batch);
            v[j] = vj;
            vbar[j] += (vj - vbar[j]) * w;
        }
    } else {
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) v[j] += step * (b[j] - acc[j] * inv_batch);
    }
}

// Batch-1 step in one pass: v += step (b - z * is) (z: exponentials of this step's row, is: 1 / their
// sum), vbar += (v - vbar) w when AVG, and, when NEXT, the exponentials exp(z'_j - S) of the next
// row cn (which need the updated v) into z; returns their sum and sets *vmax = max_j v_j.
template <typename T, bool AVG, bool NEXT>
inline T sgd1_pass(const T* b, const T* logb, const T* cn, int64_t m, T inv, T is, T step, T w, T S, T* z, T* v,
                   T* vbar, T* vmax) {
    T s = 0, vm = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(+ : s) reduction(max : vm)
    for (int64_t j = 0; j < m; ++j) {
        const T vj = v[j] + step * (b[j] - z[j] * is);
        v[j] = vj;
        if (AVG) vbar[j] += (vj - vbar[j]) * w;
        if (NEXT) {
            vm = vj > vm ? vj : vm;
            const T e = softmax_exp((vj - cn[j]) * inv + logb[j] - S);
            z[j] = e;
            s += e;
        }
    }
    *vmax = vm;
    return s;
}

}  // namespace

template <typename T>
int semidual_sgd_cpu(const T* C, int64_t rows, int64_t m, const T* b, T reg, T lr, const int64_t* idx,
                     int64_t nsteps, int64_t batch, int64_t k0, bool averaged, T* v, T* vbar, int num_threads) {
    if (batch < 1 || reg < T(0)) return BAD_INPUT;
    for (int64_t t = 0; t < nsteps * batch; ++t)
        if (idx[t] < 0 || idx[t] >= rows) return BAD_INPUT;
    std::vector<T> logb(m);
    log_weights(b, m, logb.data());
    const T inv_batch = T(1) / static_cast<T>(batch);
    const int nt = static_cast<int>(std::min<int64_t>(threads_for(batch * m, num_threads), batch));
    if (nt == 1 && batch == 1 && reg > T(0)) {
        // one sample per step (paper Alg. 2): one pass over m per step, as SAG. The logits of the
        // next row are shifted by the upper bound S = (max v + step max b - min c') / reg + max log b
        // (a step moves v_j by step (b_j - pi_j) <= step b_j).
        constexpr int64_t PF = 8;
        const T inv = T(1) / reg;
        const T logb_max = max_of(logb.data(), m), b_max = max_of(b, m);
        RowMin<T> cmin(C, rows, m);
        std::vector<T> zbuf(m);
        T* z = zbuf.data();
        T s = nsteps > 0 ? row_exp(z, m, row_logits(C + idx[0] * m, v, logb.data(), m, inv, z)) : T(1);
        T vmax = max_of(v, m);
        InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h)
        for (int64_t st = 0; st < nsteps; ++st) {
            poll.check();
            if (st + PF < nsteps) prefetch_row(C + idx[st + PF] * m, m * static_cast<int64_t>(sizeof(T)));
            const T is = T(1) / s;
            const T k = static_cast<T>(k0 + st + 1);
            const T step = lr / std::sqrt(k), w = T(1) / k;
            if (st + 1 < nsteps) {
                const T* cn = C + idx[st + 1] * m;
                const T S = (vmax + step * b_max - cmin(idx[st + 1])) * inv + logb_max;
                T s2 = averaged ? sgd1_pass<T, true, true>(b, logb.data(), cn, m, inv, is, step, w, S, z, v, vbar, &vmax)
                                : sgd1_pass<T, false, true>(b, logb.data(), cn, m, inv, is, step, w, S, z, v, vbar, &vmax);
                if (!(s2 >= ShiftGuard<T>::tiny && s2 <= ShiftGuard<T>::huge))  // exact max, two passes
                    s2 = row_exp(z, m, row_logits(cn, v, logb.data(), m, inv, z));
                s = s2;
            } else if (averaged) {
                sgd1_pass<T, true, false>(b, logb.data(), nullptr, m, inv, is, step, w, T(0), z, v, vbar, &vmax);
            } else {
                sgd1_pass<T, false, false>(b, logb.data(), nullptr, m, inv, is, step, w, T(0), z, v, vbar, &vmax);
            }
        }
    } else if (nt == 1) {
        std::vector<T> z(m), acc(m);
        InterruptPoll poll;
        for (int64_t s = 0; s < nsteps; ++s) {
            poll.check();
            if (s + 1 < nsteps) prefetch_row(C + idx[(s + 1) * batch] * m, m * static_cast<int64_t>(sizeof(T)));
            std::fill(acc.begin(), acc.end(), T(0));
            for (int64_t r = 0; r < batch; ++r)
                accumulate_row(C + idx[s * batch + r] * m, v, logb.data(), m, reg, z.data(), acc.data());
            const T k = static_cast<T>(k0 + s + 1);
            sgd_update(b, acc.data(), 0, m, inv_batch, lr / std::sqrt(k), T(1) / k, averaged, v, vbar);
        }
    } else {
        // the rows of a batch in nt fixed parts, per-part sums of pi added in part order; each step
        // runs on the threads the tuner picks (all, or one on a busy machine)
        const int parts = nt;
        ThreadTuner tuner(parts, TUNE_SEMIDUAL, double(batch) * double(m));
        std::vector<T> accs(static_cast<size_t>(parts) * m), acc(m), zs(static_cast<size_t>(parts) * m);
        InterruptPoll poll;  // Ctrl-C: throws Interrupted (common/interrupt.h), between two steps
        for (int64_t s = 0; s < nsteps; ++s) {
            poll.check();
            TunedIteration it(tuner, static_cast<int>(s % (int64_t(1) << 30)));
            const int64_t* rs = idx + s * batch;
            const T k = static_cast<T>(k0 + s + 1);
#pragma omp parallel num_threads(it.threads)
            {
                T* z = zs.data() + static_cast<size_t>(omp_get_thread_num()) * m;
                for (int p = omp_get_thread_num(); p < parts; p += omp_get_num_threads()) {
                    T* my = accs.data() + static_cast<size_t>(p) * m;
                    std::fill(my, my + m, T(0));
                    const int64_t r0 = batch * p / parts, r1 = batch * (p + 1) / parts;
                    for (int64_t r = r0; r < r1; ++r) accumulate_row(C + rs[r] * m, v, logb.data(), m, reg, z, my);
                }
#pragma omp barrier
#pragma omp for schedule(static)
                for (int64_t j = 0; j < m; ++j) {
                    T sp = 0;
                    for (int p = 0; p < parts; ++p) sp += accs[static_cast<size_t>(p) * m + j];
                    acc[j] = sp;
                    sgd_update(b, acc.data(), j, j + 1, inv_batch, lr / std::sqrt(k), T(1) / k, averaged, v, vbar);
                }
            }
        }
    }
    return all_finite(v, m) && (!averaged || all_finite(vbar, m)) ? OK : NUMERICAL_ERROR;
}

template <typename T>
int semidual_ctransform_cpu(const T* C, int64_t rows, int64_t m, const T* b, T reg, const T* v, T* alpha,
                            T* P, int64_t* arg, int num_threads) {
    if (reg < T(0)) return BAD_INPUT;
    std::vector<T> logb(m);
    log_weights(b, m, logb.data());
    const int nt = once_threads(double(rows) * double(m) * kNsPerExp, num_threads);  // rows are independent
#pragma omp parallel num_threads(nt)
    {
        std::vector<T> scratch(P ? 0 : m);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
            T* p = P ? P + r * m : scratch.data();
            alpha[r] = row_softmax(C + r * m, v, logb.data(), m, reg, p, arg ? arg + r : nullptr);
        }
    }
    return all_finite(alpha, rows) ? OK : NUMERICAL_ERROR;
}

#define OTKIT_SEMIDUAL_INSTANTIATE(T)                                                                            \
    template int semidual_sag_cpu<T>(const T*, int64_t, int64_t, const T*, const T*, T, T, const int64_t*,      \
                                     int64_t, T*, T*, T*);                                                       \
    template int semidual_sgd_cpu<T>(const T*, int64_t, int64_t, const T*, T, T, const int64_t*, int64_t,       \
                                     int64_t, int64_t, bool, T*, T*, int);                                       \
    template int semidual_ctransform_cpu<T>(const T*, int64_t, int64_t, const T*, T, const T*, T*, T*,          \
                                            int64_t*, int);

OTKIT_SEMIDUAL_INSTANTIATE(double)
OTKIT_SEMIDUAL_INSTANTIATE(float)

#undef OTKIT_SEMIDUAL_INSTANTIATE

}  // namespace otkit
