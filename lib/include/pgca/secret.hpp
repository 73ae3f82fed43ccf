// Where passphrases come from. pgca never takes a passphrase on its command line (it would show
// in `ps` and shell history): a profile or `init` names a source, and pgca reads it when needed.
#pragma once

#include <string>
#include <string_view>
#include <list>

#include "pgca/wipe.hpp"

namespace pgca {

/// An environment variable, a file, or a command whose standard output is the passphrase.
struct PassphraseSource {
    enum class Kind { none, env, file, command };
    Kind kind = Kind::none;
    std::string value;  ///< variable name, file path, or shell command

    [[nodiscard]] bool empty() const noexcept { return kind == Kind::none; }
    /// "environment variable PGCA_CA_PASSPHRASE", "file /etc/…", "command `pass show …`".
    [[nodiscard]] std::string describe() const;
    /// {"env": …} / {"file": …} / {"command": …}, as in the profile; "" when empty.
    [[nodiscard]] std::string to_json() const;
    /// Parses to_json()'s output. Throws Error(ledger) when malformed.
    [[nodiscard]] static PassphraseSource from_json(std::string_view json);
};

/// Reads the passphrase: the variable's value, the file's first line, or the command's first line
/// of output (a trailing "\n" or "\r\n" removed, as PostgreSQL's ssl_passphrase_command does).
/// Throws Error(input) naming the source when the variable is unset, the file unreadable, the
/// command fails, or the passphrase is empty. Never puts the passphrase in a message.
[[nodiscard]] std::string read_passphrase(const PassphraseSource& source);

/// The ssl_passphrase_command for a server key protected by `source`, as the database host runs
/// it (through /bin/sh, with '%' doubled because PostgreSQL expands %p and %%).
[[nodiscard]] std::string passphrase_command(const PassphraseSource& source);

/// Passphrases read once per command: each source is read (its command run) at most once, and
/// every passphrase is wiped when the cache goes. Commands read every source they will need
/// before they write anything, so a wrong source fails before the first byte on disk.
class PassphraseCache final {
public:
    PassphraseCache() = default;
    ~PassphraseCache() { clear(); }
    PassphraseCache(const PassphraseCache&) = delete;
    PassphraseCache& operator=(const PassphraseCache&) = delete;
    PassphraseCache(PassphraseCache&& other) noexcept;
    PassphraseCache& operator=(PassphraseCache&& other) noexcept;

    /// The passphrase `source` gives, read on first use (read_passphrase's errors).
    [[nodiscard]] const std::string& get(const PassphraseSource& source);
    /// Wipes and forgets every passphrase.
    void clear() noexcept;

private:
    struct Entry {
        PassphraseSource source;
        std::string passphrase;
    };
    std::list<Entry> entries_;  // a list: get() hands out references that must stay valid
};

}  // namespace pgca
