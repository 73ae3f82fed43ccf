// The CRLs of a PKI folder: made from the ledger's revocations, written for the CA and for every
// server folder.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/ca_store.hpp"
#include "pgca/crl.hpp"
#include "pgca/io.hpp"
#include "pgca/ledger.hpp"

namespace pgca {

class CrlPublisher final {
public:
    CrlPublisher(const io::Layout& layout, Ledger& ledger, io::FileBatch& files, CaStore& ca) noexcept
        : layout_(layout), ledger_(ledger), files_(files), ca_(ca) {}

    /// Makes a new CRL for each CA whose CRL is missing, unreadable, out of date with the ledger's
    /// revocations, or has less than a third of `crl_days` left (every CA when `force`); queues
    /// DIR/crl/{root,intermediate}.crl and, for every server folder, root.crl (all CRLs in one
    /// PEM, for ssl_crl_file) and crl/HASH.r0 (for ssl_crl_dir). Returns what it did.
    std::vector<Action> refresh(int crl_days, bool force);

    /// The current CRL of each CA (root first), as on disk.
    [[nodiscard]] std::vector<std::pair<std::string, Crl>> crls() const;

private:
    const io::Layout& layout_;
    Ledger& ledger_;
    io::FileBatch& files_;
    CaStore& ca_;
};

}  // namespace pgca
