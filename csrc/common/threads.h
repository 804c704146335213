// One threading policy for every CPU kernel family (Sinkhorn, barycenters, semi-dual).
//
// Two decisions, made separately so that results never depend on the machine's load:
//
// * parts (plan_parts): into how many fixed pieces a kernel splits its rows, each with its own
//   partial sums, added in part order. This fixes the arithmetic of a call: it depends on the
//   problem size and the thread setting only.
// * threads (ThreadTuner): how many OpenMP threads run those parts in a given iteration (thread t
//   takes parts t, t + threads, ...). On an idle machine all threads are faster; on a machine shared
//   with other jobs a parallel iteration waits at its barrier for threads that are not scheduled (a
//   time slice each), and one thread is then much faster. The tuner times both and keeps the faster.
//
// A kernel goes parallel only when each thread's share of the work between two barriers is at
// least kMinShareNs (20 us): a barrier of an idle team costs about 1 us, so it stays under 5%.
// Work is estimated in nanoseconds of one thread (per-kernel costs per entry below).
//
// The thread count itself: an explicit num_threads > 0 of a call, capped at the processors
// available; otherwise otkit.set_num_threads (thread_limit), else the OpenMP default
// (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/omp_compat.h"

namespace otkit {

constexpr double kMinShareNs = 20000.0;  // a thread's share between two barriers, at least

// Estimated one-thread cost of one unit of work, in ns (measured on x86-64 AVX2/AVX-512, order of
// magnitude is what matters): a streamed multiply-add over a dense kernel entry (memory-bound), an
// exp (log-domain entries, softmax), a register-tiled multiply-add (barycenter GEMM-like passes).
constexpr double kNsPerKernelEntry = 0.4;
constexpr double kNsPerExp = 1.5;
constexpr double kNsPerTiledFma = 0.04;

// Process-wide cap from otkit.set_num_threads (0: none).
inline std::atomic<int>& thread_limit() {
    static std::atomic<int> limit{0};
    return limit;
}

inline int processors() {
#ifdef _OPENMP
    return std::max(1, omp_get_num_procs());
#else
    return 1;
#endif
}

// Threads a call may use: num_threads > 0 (capped at the processors: more only oversubscribes, and
// thousands make the OpenMP runtime abort the process), else the otkit limit, else OpenMP's default.
inline int threads_allowed(int num_threads) {
    if (num_threads > 0) return std::min(num_threads, processors());
    const int lim = thread_limit().load(std::memory_order_relaxed);
    return lim > 0 ? std::min(lim, processors()) : std::max(1, omp_get_max_threads());
}

// Parts of a kernel whose threads meet at a barrier after `ns_between_barriers` of one-thread work.
// A loop that forks a team per iteration (a parallel region per step, not a barrier) passes a larger
// share (kMinForkShareNs): a fork wakes sleeping threads, which a busy machine may not schedule soon.
constexpr double kMinForkShareNs = 500000.0;
inline int plan_parts(double ns_between_barriers, int num_threads, double min_share_ns = kMinShareNs) {
    const int full = threads_allowed(num_threads);
    const double by_work = ns_between_barriers / min_share_ns;
    if (by_work < 2.0) return 1;
    return std::max(1, std::min(full, static_cast<int>(by_work)));
}

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The solvers whose one-thread speed ThreadTuner remembers for the process.
enum TunerKind {
    TUNE_SINKHORN,
    TUNE_SINKHORN_BATCH,
    TUNE_SINKHORN_LOG,
    TUNE_SINKHORN_STAB,
    TUNE_BARY_PACKED,
    TUNE_BARY_DENSE,
    TUNE_BARY_LOG,
    TUNE_BARY_STABILIZED,
    TUNE_BARY_CONV,
    TUNE_BARY_CONV_LOG,
    TUNE_SEMIDUAL,
    TUNE_KINDS
};

// Tests only: > 0 makes every tuned iteration run on min(that, parts) threads, to check that results
// do not depend on the tuner's choice.
inline std::atomic<int>& tuner_override() {
    static std::atomic<int> forced{0};
    return forced;
}

// What the tuner remembers for the process, per solver.
struct TunerMemo {
    std::atomic<double> one_s_per_work{0};  // one-thread seconds per unit of work (0: not measured yet)
    std::atomic<double> busy_until{0};      // until then (now_s), start on one thread without probing
    std::atomic<double> backoff{0};         // seconds to the next probe after one thread won
};

inline TunerMemo& tuner_memo(TunerKind kind) {
    static TunerMemo memo[TUNE_KINDS];
    return memo[kind];
}

// True while some solver found one thread faster than all (the machine is busy): one-shot parallel
// regions (no tuner) then run on one thread as well.
inline bool machine_busy() {
    const double t = now_s();
    for (int k = 0; k < TUNE_KINDS; ++k)
        if (tuner_memo(static_cast<TunerKind>(k)).busy_until.load(std::memory_order_relaxed) > t) return true;
    return false;
}

// Threads of a parallel region run once per call (no tuner): a barrier on a busy machine can cost a
// time slice (milliseconds), so each thread's share must be larger (0.5 ms), and none while busy.
// For regions whose result does not depend on the split (row-wise work, min/max).
inline int once_threads(double ns, int num_threads) {
    if (machine_busy()) return 1;
    const int full = threads_allowed(num_threads);
    const int by_work = static_cast<int>(ns / 500000.0);
    return std::max(1, std::min(full, by_work));
}

// Threads of a one-shot setup region of a tuned solver whose result does not depend on the split
// (element-wise builds, independent columns): its parts' threads, or one while the machine is busy.
inline int setup_threads(int parts) { return machine_busy() ? 1 : parts; }

// Per iteration, run on all threads (`full`, the parts of the call) or on one, whichever the
// timings say is faster. A probe runs one untimed iteration, then times two iterations on one thread
// and up to two on all threads (the second only if the first was not clearly slower), and keeps
// the faster choice. Once the one-thread speed of the solver is known (for the process), a probe
// times two iterations on all threads first and tries one thread only if they were slower than it,
// so that on an idle machine calls run every iteration on all threads.
// The next probe comes after `period` iterations and, when one thread won, after a back-off in time
// that doubles while one thread keeps winning (20 ms to 1 s, remembered for the process): on a busy
// machine a probe's parallel iterations are the slow ones, and later calls start on one thread.
// Kernels split their work in `full` fixed parts, so results do not depend on the choice.
struct ThreadTuner {
    static constexpr int period = 100;
    static constexpr double kBackoffMin = 0.02, kBackoffMax = 1.0;
    int full, chosen;
    double work;  // units of work of one iteration
    TunerMemo* memo;
    bool probing = true, full_first = false;
    int start = 0;                 // first (untimed) iteration of the current probe
    int next_iter = 0;             // no probe before this iteration ...
    double next_time = 0;          // ... nor before this time
    double t_one = 0, t_full = 0;
    double watch_s = 0;  // time of the iterations on all threads since the last watchdog check
    int watch_n = 0;
    ThreadTuner(int full_, TunerKind kind, double work_)
        : full(std::max(1, full_)), chosen(std::max(1, full_)), work(std::max(1.0, work_)), memo(&tuner_memo(kind)) {
        full_first = memo->one_s_per_work.load(std::memory_order_relaxed) > 0;
        const double busy = memo->busy_until.load(std::memory_order_relaxed);
        if (full > 1 && busy > now_s()) {  // one thread won lately: start there
            chosen = 1;
            probing = false;
            next_iter = period;
            next_time = busy;
        }
    }
    int threads(int ii) const {
        if (full <= 1) return 1;
        if (const int forced = tuner_override().load(std::memory_order_relaxed)) return std::min(forced, full);
        const int r = ii - start;
        if (!probing || r <= 0 || r > 4) return chosen;
        const bool one = full_first ? r >= 3 : r <= 2;  // the iterations timed on one thread
        return one ? 1 : full;
    }
    void record(int ii, double secs) {
        if (full <= 1) return;
        if (!probing) {
            // watchdog: all threads chosen, but 8 iterations took more than 1.2x the one-thread time
            // (the machine became busy, or the probe was lucky): one thread until the next probe
            if (chosen == full && threads(ii) == full) {
                watch_s += secs;
                if (++watch_n == 8) {
                    const double one = memo->one_s_per_work.load(std::memory_order_relaxed) * work;
                    if (one > 0 && watch_s > 1.2 * 8.0 * one) finish(ii, 1, false);
                    watch_s = 0;
                    watch_n = 0;
                }
            }
            if (ii + 1 >= next_iter && now_s() >= next_time) {
                probing = true;
                start = ii + 1;
                t_one = t_full = 0;
                full_first = memo->one_s_per_work.load(std::memory_order_relaxed) > 0;
            }
            return;
        }
        const int r = ii - start;
        if (r <= 0) return;  // the untimed iteration
        if (full_first) {
            if (r <= 2) {
                t_full += secs;
                if (r == 2 && t_full < 2.0 * work * memo->one_s_per_work.load(std::memory_order_relaxed))
                    finish(ii, full, false);  // all threads beat the remembered one-thread time: no probe
            } else {
                t_one += secs;
                if (r == 4) finish(ii, t_full < t_one ? full : 1, true);
            }
        } else if (r <= 2) {
            t_one += secs;
        } else if (r == 3 && secs > 0.75 * t_one) {  // slower than one thread would be at 1.5x per iteration
            finish(ii, 1, true);
        } else {
            t_full += secs;
            if (r == 4) finish(ii, t_full < t_one ? full : 1, true);
        }
    }
    void finish(int ii, int choice, bool measured_one) {
        chosen = choice;
        probing = false;
        watch_s = 0;
        watch_n = 0;
        if (measured_one) memo->one_s_per_work.store(t_one / (2.0 * work), std::memory_order_relaxed);
        const double t = now_s();
        next_iter = ii + period;
        if (choice == 1) {
            const double b = memo->backoff.load(std::memory_order_relaxed);
            const double nb = b <= 0 ? kBackoffMin : std::min(kBackoffMax, 2.0 * b);
            memo->backoff.store(nb, std::memory_order_relaxed);
            memo->busy_until.store(t + nb, std::memory_order_relaxed);
            next_time = t + nb;
        } else {
            memo->backoff.store(0, std::memory_order_relaxed);
            memo->busy_until.store(0, std::memory_order_relaxed);
            next_time = t;
        }
    }
};

// Times one iteration of a tuned loop: `TunedIteration it(tuner, ii);`, then run it on it.threads.
struct TunedIteration {
    ThreadTuner& tuner;
    int ii;
    int threads;
    double t0;
    TunedIteration(ThreadTuner& t, int i) : tuner(t), ii(i), threads(t.threads(i)), t0(now_s()) {}
    ~TunedIteration() { tuner.record(ii, now_s() - t0); }
};

}  // namespace otkit
