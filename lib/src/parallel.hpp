// Work spread over threads, and phase timing for benchmarks (private to the library).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace pgca::detail {

/// Calls fn(i, slot) for every i in [0, n), on up to `jobs` threads (the calling thread is slot 0
/// and always takes part; slots are 0 .. jobs-1, one per thread, for per-thread state). Runs on
/// the calling thread alone when n < min_parallel. After an exception the remaining items are
/// skipped and, once every thread stopped, the first exception (by slot) is rethrown.
template <class Fn>
void parallel_for(std::size_t n, unsigned jobs, Fn&& fn, std::size_t min_parallel = 2) {
    const std::size_t threads = n < min_parallel ? 1 : std::min<std::size_t>(std::max(1u, jobs), n);
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> errors(threads);
    auto worker = [&](std::size_t slot) {
        try {
            for (std::size_t i = next++; i < n; i = next++) fn(i, slot);
        } catch (...) {
            errors[slot] = std::current_exception();
            next = n;
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
    worker(0);
    for (auto& t : pool) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

/// With PGCA_TIMING set, prints how long the scope took to stderr ("pgca: timing: WHAT  N ms").
class PhaseTimer final {
public:
    explicit PhaseTimer(const char* what) : what_(what), on_(std::getenv("PGCA_TIMING") != nullptr) {}
    ~PhaseTimer() { stop(); }
    PhaseTimer(const PhaseTimer&) = delete;
    PhaseTimer& operator=(const PhaseTimer&) = delete;

    /// Prints now instead of at the end of the scope (once).
    void stop() {
        if (!on_) return;
        on_ = false;
        std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start_;
        std::fprintf(stderr, "pgca: timing: %-18s %10.3f ms\n", what_, ms.count());
    }

private:
    const char* what_;
    bool on_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace pgca::detail
