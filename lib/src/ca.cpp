#include "pgca/ca.hpp"

#include "internal.hpp"

namespace pgca {

std::string_view to_string(CertKind kind) noexcept {
    switch (kind) {
        case CertKind::root_ca: return "root";
        case CertKind::intermediate_ca: return "intermediate";
        case CertKind::server: return "server";
        case CertKind::client: return "client";
    }
    return "unknown";
}

CertificateAuthority::CertificateAuthority(Certificate cert, PrivateKey key)
    : cert_(std::move(cert)), key_(std::move(key)) {
    if (!usable_for_ca(key_.alg()))
        throw Error(ErrorKind::policy, "a CA key must not be Ed25519: libpq cannot do SCRAM channel binding "
                                       "with certificates signed by EdDSA");
    if (!cert_.info().is_ca) throw Error(ErrorKind::policy, "certificate is not a CA certificate");
    if (!cert_.matches(key_)) throw Error(ErrorKind::policy, "CA private key does not match the CA certificate");
}

CertificateAuthority CertificateAuthority::create_root(const DistinguishedName& subject, KeyAlg alg, int days) {
    if (!usable_for_ca(alg))
        throw Error(ErrorKind::policy, "a CA key must not be " + std::string(to_string(alg)) +
                                           ": libpq cannot do SCRAM channel binding with certificates signed "
                                           "by EdDSA; use ec-p256, ec-p384 or rsa-*");
    PrivateKey key = PrivateKey::generate(alg);
    Certificate cert = detail::build_certificate(detail::kRootRules, subject, key.native(), nullptr, key, days, {});
    return CertificateAuthority(std::move(cert), std::move(key));
}

CertificateAuthority CertificateAuthority::create_intermediate(const DistinguishedName& subject, KeyAlg alg,
                                                               int days) const {
    if (!usable_for_ca(alg))
        throw Error(ErrorKind::policy, "a CA key must not be " + std::string(to_string(alg)) +
                                           ": libpq cannot do SCRAM channel binding with certificates signed "
                                           "by EdDSA; use ec-p256, ec-p384 or rsa-*");
    PrivateKey key = PrivateKey::generate(alg);
    Certificate cert =
        detail::build_certificate(detail::kIntermediateRules, subject, key.native(), &cert_, key_, days, {});
    return CertificateAuthority(std::move(cert), std::move(key));
}

Certificate CertificateAuthority::issue_server(const PrivateKey& leaf_key, const DistinguishedName& subject,
                                               const std::vector<std::string>& hosts, int days) const {
    // The library's entry point for hosts that did not come through a profile or the CLI; the
    // builders behind it trust the hosts they are given.
    for (const auto& h : hosts) validate_host(h, "host");
    return detail::build_leaf({cert_, key_}, detail::LeafRequest::server(subject, hosts, days, &leaf_key));
}

Certificate CertificateAuthority::issue_client(const PrivateKey& leaf_key, const DistinguishedName& subject,
                                               int days) const {
    return detail::build_leaf({cert_, key_}, detail::LeafRequest::client(subject, days, &leaf_key));
}

}  // namespace pgca
