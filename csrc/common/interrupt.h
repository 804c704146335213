// Ctrl-C in the long loops of the kernels, without a Python dependency here.
//
// A binding installs a hook (set_interrupt_hook; csrc/bind/common_bind.h installs one that takes the
// GIL and runs the Python signal handlers with PyErr_CheckSignals, in the main Python thread only).
// A kernel polls with an InterruptPoll at each iteration of its long loops, from the thread that
// called it and outside parallel regions (or from thread 0 of a region, with the team told through
// a shared flag): the poll reads the clock at most about once a millisecond (an adaptive stride of
// calls) and calls the hook at most every 50 ms of work, so a short call never calls it. When the
// hook reports an interruption (the Python error, KeyboardInterrupt, is then set) the kernel throws
// Interrupted: its buffers are freed on the way out (RAII) and the binding raises the Python error.
// Never throw Interrupted out of an OpenMP parallel region (it must be left normally first).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>

namespace otkit {

// Returns true when the caller must stop (the hook's owner then holds the reason, e.g. a Python error).
using InterruptHook = bool (*)();

struct Interrupted : std::exception {
    const char* what() const noexcept override { return "otkit: interrupted (a signal is pending)"; }
};

namespace detail {
inline std::atomic<InterruptHook>& interrupt_hook_slot() {
    static std::atomic<InterruptHook> hook{nullptr};
    return hook;
}
}  // namespace detail

inline void set_interrupt_hook(InterruptHook hook) { detail::interrupt_hook_slot().store(hook); }

// Asks the hook now (false when none is installed). Only from the thread that called the kernel.
inline bool interrupted() {
    const InterruptHook hook = detail::interrupt_hook_slot().load(std::memory_order_relaxed);
    return hook != nullptr && hook();
}

// Rate-limited interrupted(): construct one per kernel call, call it once per iteration (any cost).
class InterruptPoll {
  public:
    using clock = std::chrono::steady_clock;
    explicit InterruptPoll(std::chrono::milliseconds period = std::chrono::milliseconds(50))
        : period_(period), last_clock_(clock::now()), last_hook_(last_clock_) {}

    bool operator()() {
        if (--countdown_ > 0) return false;
        return slow();
    }
    // Throws Interrupted when interrupted.
    void check() {
        if ((*this)()) throw Interrupted();
    }

  private:
    bool slow() {
        const clock::time_point now = clock::now();
        const auto since = now - last_clock_;
        // about one clock read per millisecond, whatever an iteration costs: the stride of calls
        // doubles while reads come faster, and drops in proportion when they come slower
        if (since < std::chrono::microseconds(500)) {
            if (stride_ < (int64_t(1) << 24)) stride_ *= 2;
        } else if (since > std::chrono::milliseconds(2)) {
            const double r = std::chrono::duration<double>(std::chrono::milliseconds(1)) / since;
            stride_ = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(stride_) * r));
        }
        countdown_ = stride_;
        last_clock_ = now;
        if (now - last_hook_ < period_) return false;
        last_hook_ = now;
        return interrupted();
    }

    std::chrono::milliseconds period_;
    clock::time_point last_clock_, last_hook_;
    int64_t stride_ = 1, countdown_ = 1;
};

}  // namespace otkit
