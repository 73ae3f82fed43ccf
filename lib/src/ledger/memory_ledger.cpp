// The in-memory ledger backend: the contract of pgca/ledger.hpp without a database, so that
// every backend is tested against the same cases (tests/unit/ledger_conformance_test.cpp).
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "ledger/backends.hpp"
#include "ledger/columns.hpp"
#include "pgca/error.hpp"

namespace pgca {
namespace {

// Everything a transaction may change: begin() copies it, rollback() puts the copy back.
struct State {
    std::vector<LedgerEntry> rows;  // in id order
    std::int64_t next_id = 1;
    std::map<std::string, CrlState> crls;
    std::map<std::string, std::string> meta;
};

class MemoryLedger final : public Ledger {
public:
    void begin() override {
        if (saved_) throw Error(ErrorKind::ledger, "memory ledger: a transaction is already open");
        saved_ = state_;
    }
    void commit() override {
        if (!saved_) throw Error(ErrorKind::ledger, "memory ledger: no transaction to commit");
        saved_.reset();
    }
    void rollback() noexcept override {
        if (saved_) state_ = std::move(*saved_);
        saved_.reset();
    }

    std::unique_ptr<LedgerLock> lock_exclusive(int timeout_seconds) override {
        class Lock final : public LedgerLock {
        public:
            explicit Lock(std::shared_ptr<std::timed_mutex> mu) : mu_(std::move(mu)) {}
            ~Lock() override { mu_->unlock(); }

        private:
            std::shared_ptr<std::timed_mutex> mu_;
        };
        const bool taken = timeout_seconds < 0 ? (lock_->lock(), true)
                                               : lock_->try_lock_for(std::chrono::seconds(timeout_seconds));
        if (!taken)
            throw Error(ErrorKind::io, "the memory ledger is locked by another writer; gave up after " +
                                           std::to_string(timeout_seconds) + " s (--lock-timeout)");
        return std::make_unique<Lock>(lock_);
    }

    void record(const LedgerEntry& entry) override {
        if (find(entry.issuer, entry.serial) != nullptr)
            throw Error(ErrorKind::ledger, detail::duplicate_serial_message(entry));
        LedgerEntry e = entry;
        e.id = state_.next_id++;
        e.status = CertStatus::valid;
        e.revoked_at = 0;
        e.revocation_reason.reset();
        e.params.kind = e.kind;
        e.params.name = e.name;
        state_.rows.push_back(std::move(e));
    }

    void set_status(const std::string& issuer, const std::string& serial, CertStatus status) override {
        if (LedgerEntry* e = find(issuer, serial)) e->status = status;
    }

    std::optional<LedgerEntry> current(CertKind kind, const std::string& name) override {
        for (auto it = state_.rows.rbegin(); it != state_.rows.rend(); ++it)
            if (it->kind == kind && it->name == name && it->status == CertStatus::valid) return *it;
        return std::nullopt;
    }

    std::vector<LedgerEntry> list() override { return state_.rows; }

    std::vector<LedgerEntry> valid_entries() override {
        return where([](const LedgerEntry& e) { return e.status == CertStatus::valid; });
    }

    std::vector<LedgerEntry> by_name(CertKind kind, const std::string& name) override {
        return where([&](const LedgerEntry& e) { return e.kind == kind && e.name == name; });
    }

    std::vector<LedgerEntry> by_serial(const std::string& serial) override {
        // As the SQLite backend: stored with up to three leading zeros more than typed.
        const std::string bare = detail::bare_serial(serial);
        return where([&](const LedgerEntry& e) {
            for (const char* zeros : {"", "0", "00", "000"})
                if (e.serial == zeros + bare) return true;
            return false;
        });
    }

    std::vector<Revocation> revocations(const std::string& issuer, std::time_t now) override {
        std::vector<Revocation> out;
        for (const auto& e : state_.rows)
            if (e.issuer == issuer && e.status == CertStatus::revoked && e.not_after > now)
                out.push_back({e.serial, e.revoked_at, e.revocation_reason.value_or(RevocationReason::unspecified)});
        return out;
    }

    std::vector<std::string> valid_names(CertKind kind) override {
        std::set<std::string> names;
        for (const auto& e : state_.rows)
            if (e.kind == kind && e.status == CertStatus::valid) names.insert(e.name);
        return {names.begin(), names.end()};
    }

    bool revoke(const std::string& issuer, const std::string& serial, std::time_t when,
                RevocationReason reason) override {
        LedgerEntry* e = find(issuer, serial);
        if (e == nullptr || e->status == CertStatus::revoked) return false;
        e->status = CertStatus::revoked;
        e->revoked_at = when;
        e->revocation_reason = reason;
        return true;
    }

    std::optional<CrlState> crl_state(const std::string& issuer) override {
        auto it = state_.crls.find(issuer);
        if (it == state_.crls.end()) return std::nullopt;
        return it->second;
    }

    void record_crl(const CrlState& state) override {
        auto it = state_.crls.find(state.issuer);
        if (it != state_.crls.end() && state.number <= it->second.number)
            throw Error(ErrorKind::ledger, "CRL number " + std::to_string(state.number) + " for \"" + state.issuer +
                                               "\" is not greater than the last one");
        state_.crls[state.issuer] = state;
    }

    std::optional<std::string> get_meta(const std::string& key) override {
        auto it = state_.meta.find(key);
        if (it == state_.meta.end()) return std::nullopt;
        return it->second;
    }

    void set_meta(const std::string& key, const std::string& value) override { state_.meta[key] = value; }

private:
    LedgerEntry* find(const std::string& issuer, const std::string& serial) {
        for (auto& e : state_.rows)
            if (e.issuer == issuer && e.serial == serial) return &e;
        return nullptr;
    }

    template <class Pred>
    std::vector<LedgerEntry> where(Pred pred) const {
        std::vector<LedgerEntry> out;
        for (const auto& e : state_.rows)
            if (pred(e)) out.push_back(e);
        return out;
    }

    State state_;
    std::optional<State> saved_;
    // Shared with the locks handed out, which may outlive the ledger.
    std::shared_ptr<std::timed_mutex> lock_ = std::make_shared<std::timed_mutex>();
};

}  // namespace

std::unique_ptr<Ledger> detail::open_memory_ledger() { return std::make_unique<MemoryLedger>(); }

}  // namespace pgca
