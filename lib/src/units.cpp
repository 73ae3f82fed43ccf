// pgca units: the renewal service and timer (systemd.unit(5), systemd.service(5): "Command lines").
#include "pgca/units.hpp"

#include "pgca/error.hpp"

namespace pgca::units {
namespace {

// Specifiers are expanded in every unit setting, quoted or not.
std::string no_specifiers(std::string_view text, std::string_view what) {
    std::string out;
    for (char ch : text) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
            throw Error(ErrorKind::usage, std::string(what) + ": a control character cannot be written into a unit file");
        out += ch;
        if (ch == '%') out += '%';
    }
    return out;
}

std::string exec_line(const std::vector<std::string>& argv) {
    std::string line = "ExecStart=";
    for (std::size_t i = 0; i < argv.size(); ++i) line += (i == 0 ? "" : " ") + exec_arg(argv[i]);
    return line + "\n";
}

}  // namespace

std::string exec_arg(std::string_view arg) {
    std::string out = "\"";
    for (char ch : no_specifiers(arg, "unit argument \"" + std::string(arg.substr(0, 40)) + "\"")) {
        if (ch == '\\' || ch == '"') out += '\\';
        if (ch == '$') out += '$';
        out += ch;
    }
    return out + "\"";
}

std::vector<Unit> render(const Options& o) {
    if (o.pgca.empty() || o.pgca.front() != '/')
        throw Error(ErrorKind::usage, "units: the pgca binary must be an absolute path, not \"" + o.pgca + "\"");
    std::vector<std::string> rotate{o.pgca, "rotate", "--dir", o.dir};
    if (o.within) {
        rotate.push_back("--within");
        rotate.push_back(std::to_string(*o.within));
    }
    if (!o.reload.empty()) {
        rotate.push_back("--reload");
        rotate.push_back(o.reload);
    }
    if (!o.verify.empty()) {
        rotate.push_back("--verify");
        rotate.push_back(o.verify);
    }
    const std::string dir_text = no_specifiers(o.dir, "--dir");
    std::string service =
        "# Written by `pgca units`. Renews the server certificates of " + dir_text + " that are due\n"
        "# (rotate, reload, verify), then makes fresh CRLs and reloads again (a CRL past its nextUpdate\n"
        "# locks every certificate user out). Any failure fails this unit: see `systemctl status`, or add\n"
        "# OnFailure= to be told.\n"
        "[Unit]\n"
        "Description=pgca: renew due certificates and CRLs of " + dir_text + "\n"
        "Documentation=man:systemd.timer(5)\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "TimeoutStartSec=30min\n" +
        exec_line(rotate) + exec_line({o.pgca, "crl", "--dir", o.dir});
    if (!o.reload.empty()) service += exec_line({"/bin/sh", "-c", o.reload});
    std::string timer =
        "# Written by `pgca units`: runs pgca-renew.service " + no_specifiers(o.on_calendar, "--on-calendar") + ".\n"
        "[Unit]\n"
        "Description=pgca: renew due certificates and CRLs of " + dir_text + " on a timer\n"
        "\n"
        "[Timer]\n"
        "OnCalendar=" + no_specifiers(o.on_calendar, "--on-calendar") + "\n"
        "RandomizedDelaySec=1h\n"
        "Persistent=true\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n";
    return {{"pgca-renew.service", service}, {"pgca-renew.timer", timer}};
}

}  // namespace pgca::units
