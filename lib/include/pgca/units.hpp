// `pgca units`: a systemd service and timer that renew what is due in a PKI folder, quoted so that
// systemd passes every path and command through unchanged.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgca::units {

struct Options {
    std::string pgca;    ///< absolute path of the pgca binary the units run
    std::string dir;     ///< the PKI folder (made absolute)
    std::string reload;  ///< shell command that reloads the servers ("" = none)
    std::string verify;  ///< HOST:PORT `rotate --verify` checks ("" = none)
    std::optional<int> within;  ///< rotate --within DAYS (default: the folder's renew_before_days)
    std::string on_calendar = "daily";
};

/// One unit file: its name and text.
struct Unit {
    std::string name;
    std::string text;
};

/// One argument of an ExecStart= line, as systemd reads it back unchanged: in double quotes,
/// `\` and `"` escaped with `\`, `%` written `%%` (specifiers), `$` written `$$` (environment
/// substitution). Throws Error(usage) for a control character, which no unit line can hold.
[[nodiscard]] std::string exec_arg(std::string_view arg);

/// `pgca-renew.service` (oneshot: `pgca rotate` with the reload and verify, then `pgca crl` and the
/// reload again, so CRLs are always fresh; any non-zero exit fails the unit) and
/// `pgca-renew.timer` (OnCalendar, Persistent, randomized by up to an hour).
[[nodiscard]] std::vector<Unit> render(const Options& options);

}  // namespace pgca::units
