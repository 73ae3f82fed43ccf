#include "leaf.hpp"

namespace pgca::detail {

std::unique_ptr<LeafBuilder> make_leaf_builder(const LeafIssuer& issuer, KeyAlg alg) {
    // RSA key generation dwarfs everything else, and Ed25519 leaves are rare: only EC leaves
    // have a fast path.
    if (auto fast = make_fast_leaf_builder(issuer, alg)) return fast;
    return make_generic_leaf_builder(issuer, alg);
}

}  // namespace pgca::detail
