// pgca::Error — the one exception type of the library.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace pgca {

/// What went wrong, coarse enough to choose an exit code and fine enough to test on.
enum class ErrorKind {
    usage,     ///< bad command-line use
    profile,   ///< the profile is malformed or asks for something invalid
    crypto,    ///< an OpenSSL operation failed
    io,        ///< a file or folder could not be read or written
    ledger,    ///< the certificate ledger is unusable or inconsistent
    policy,    ///< the request is well-formed but pgca refuses it (e.g. a name PostgreSQL cannot match)
    input,     ///< a file given on the command line is not what it should be (bad PEM, …)
    internal,  ///< a bug in pgca
};

/// Thrown by every library call that could not do what was asked. The message names the object
/// and the cause ("issue client \"alice\": sign certificate: …"); `kind()` classifies it.
class Error final : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

    [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }

    /// A copy of this error with `context + ": "` in front of the message.
    [[nodiscard]] Error with_context(std::string_view context) const;

private:
    ErrorKind kind_;
};

/// Exit code for an error kind: 2 for usage, profile, policy and input errors, 1 otherwise.
[[nodiscard]] int exit_code_for(ErrorKind kind) noexcept;

/// Runs `fn`; any pgca::Error it throws is rethrown with `context` prepended.
template <class Fn>
decltype(auto) in_context(std::string_view context, Fn&& fn) {
    try {
        return fn();
    } catch (const Error& e) {
        throw e.with_context(context);
    }
}

}  // namespace pgca
