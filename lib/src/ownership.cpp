// A folder is pgca's only when pgca made it: what `apply` and `init` refuse, and what every
// command refuses when the ledger is gone but certificates remain.
#include "pgca/ownership.hpp"

#include <vector>

#include "pgca/error.hpp"
#include "pgca/io.hpp"

namespace pgca {
namespace {

// What pgca leaves in a folder that holds nothing else yet: the lock file of a run that stopped
// before it made the ledger.
bool ignorable_when_empty(const std::string& name) { return name == ".lock"; }

// "a, b, c (and 4 more: 7 entries)"
std::string name_sample(const std::vector<std::string>& names) {
    constexpr std::size_t kShown = 5;
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < kShown; ++i) out += (i == 0 ? "" : ", ") + names[i];
    if (names.size() > kShown)
        out += " (and " + std::to_string(names.size() - kShown) + " more: " + std::to_string(names.size()) + " entries)";
    return out;
}

// The certificates pgca writes, found under `l` (relative names).
std::vector<std::string> pgca_certificates(const io::Layout& l) {
    std::vector<std::string> found;
    for (const auto& path : {l.root_cert(), l.intermediate_cert()})
        if (io::exists(path)) found.push_back(path.substr(l.dir().size() + 1));
    for (const auto& name : io::list_dir(l.servers_dir()))
        if (auto path = l.server_file(name, io::Layout::kServerCert); io::exists(path))
            found.push_back(path.substr(l.dir().size() + 1));
    for (const auto& name : io::list_dir(l.clients_dir()))
        if (auto path = l.client_file(name, io::Layout::kClientCert); io::exists(path))
            found.push_back(path.substr(l.dir().size() + 1));
    return found;
}

}  // namespace

void refuse_unowned_folder(const std::string& dir, bool create) {
    io::Layout l(dir);
    if (io::exists(l.ledger()) || io::exists(l.ledger_url())) return;
    auto certs = pgca_certificates(l);
    if (!certs.empty())
        throw Error(ErrorKind::policy,
                    "\"" + l.dir() + "\" has certificates (" + name_sample(certs) + ") but no ledger (pgca.db): pgca "
                    "would issue them all again and could never revoke the old ones; run `pgca ledger rebuild --dir " +
                        dir + "` to rebuild the ledger from them");
    if (!create) return;
    std::vector<std::string> found;
    for (auto& name : io::list_dir(l.dir()))
        if (!ignorable_when_empty(name)) found.push_back(std::move(name));
    if (!found.empty())
        throw Error(ErrorKind::policy, "\"" + l.dir() + "\" is not empty and has no pgca ledger (pgca.db): found " +
                                           name_sample(found) + "; pgca only works in a folder it made (it would "
                                           "replace or remove what is there): use a new or empty folder");
}

}  // namespace pgca
