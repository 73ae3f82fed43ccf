// The library's work-sharing helper: every item once, per-thread slots, errors surface.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../../lib/src/parallel.hpp"

using pgca::detail::parallel_for;

TEST_CASE("parallel_for visits every item exactly once", "[parallel]") {
    for (unsigned jobs : {1u, 2u, 8u}) {
        INFO("jobs " << jobs);
        std::vector<std::atomic<int>> seen(1000);
        std::vector<std::set<std::thread::id>> threads_of_slot(jobs);
        std::vector<int> per_slot(jobs, 0);
        std::atomic<int> bad_slot{0};  // (Catch's assertions are not for other threads)
        parallel_for(seen.size(), jobs, [&](std::size_t i, std::size_t slot) {
            if (slot >= jobs) {
                ++bad_slot;
                return;
            }
            ++seen[i];
            ++per_slot[slot];  // a slot is one thread: no data race
            threads_of_slot[slot].insert(std::this_thread::get_id());
        });
        CHECK(bad_slot == 0);
        for (const auto& s : seen) CHECK(s == 1);
        for (const auto& t : threads_of_slot) CHECK(t.size() <= 1);
        // Slot 0 is the calling thread (which may find every item taken by the others).
        for (const auto& id : threads_of_slot[0]) CHECK(id == std::this_thread::get_id());
    }
}

TEST_CASE("parallel_for stays on the calling thread below its threshold", "[parallel]") {
    std::set<std::thread::id> ids;
    std::set<std::size_t> slots;
    parallel_for(10, 4, [&](std::size_t, std::size_t slot) {
        slots.insert(slot);  // one thread: no race
        ids.insert(std::this_thread::get_id());
    }, 11);
    CHECK(slots == std::set<std::size_t>{0});
    CHECK(ids == std::set<std::thread::id>{std::this_thread::get_id()});
    int calls = 0;
    parallel_for(0, 4, [&](std::size_t, std::size_t) { ++calls; });
    CHECK(calls == 0);
}

TEST_CASE("parallel_for rethrows a worker's exception after every thread stopped", "[parallel]") {
    std::atomic<int> done{0};
    CHECK_THROWS_WITH(parallel_for(10000, 2,
                                   [&](std::size_t i, std::size_t) {
                                       if (i == 50) throw std::runtime_error("item 50 failed");
                                       ++done;
                                   }),
                      "item 50 failed");
    CHECK(done < 10000);  // the rest was skipped
}
