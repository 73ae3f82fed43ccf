// Uses the installed pgca library the way another program would: parses a profile, renders a DN
// the way PostgreSQL's clientname=DN compares it, and prints the version it was built against.
#include <iostream>

#include "pgca/error.hpp"
#include "pgca/name.hpp"
#include "pgca/profile.hpp"
#include "pgca/version.hpp"

int main() {
    try {
        const pgca::Profile profile = pgca::parse_profile(
            R"({"pgca_profile": 1, "name": "consumer",
                "ca": {"subject": {"CN": "Consumer Root CA"}},
                "clients": [{"user": "alice"}, {"user": "bob"}]})",
            "consumer.json");
        std::cout << "profile " << profile.name << ": " << profile.clients.size() << " clients\n";

        pgca::DistinguishedName dn = pgca::DistinguishedName::with_cn("frank");
        dn.set("O", "Acme, Inc.");
        std::cout << "dn " << dn.rfc2253() << "\n";

        std::cout << "version " << pgca::kVersionString << " (" << PGCA_VERSION_MAJOR << "." << PGCA_VERSION_MINOR
                  << "." << PGCA_VERSION_PATCH << ")\n";
        return 0;
    } catch (const pgca::Error& e) {
        std::cerr << "pgca_consumer: " << e.what() << "\n";
        return 1;
    }
}
