// libFuzzer target: any bytes as a profile. parse_profile either refuses them with pgca::Error or
// returns a Profile; for a Profile, plan_access either refuses it with pgca::Error or plans it, and
// every emitter must then produce files that keep their line structure (a name must never inject
// a line). Any other exception, a crash, or UB is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pgca/error.hpp"
#include "pgca/pg.hpp"
#include "pgca/profile.hpp"

namespace {

[[noreturn]] void bug(const char* what, const std::string& text) {
    std::fprintf(stderr, "fuzz_profile: %s\n---\n%s\n---\n", what, text.c_str());
    std::abort();
}

// No control characters but the newline that ends each line.
void require_clean_text(const char* what, const std::string& text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\n') || u == 0x7f) bug(what, text);
    }
    if (!text.empty() && text.back() != '\n') bug(what, text);
}

// The lines of `text` that are neither empty nor comments.
std::size_t content_lines(const std::string& text) {
    std::size_t n = 0, pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (end > pos && text[pos] != '#') ++n;
        pos = end + 1;
    }
    return n;
}

// Every non-comment line of `text` satisfies `ok`.
template <class Pred>
void each_line(const char* what, const std::string& text, Pred ok) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        if (!line.empty() && line.front() != '#' && !ok(line)) bug(what, text);
        pos = end + 1;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    pgca::Profile profile;
    try {
        profile = pgca::parse_profile(text, "fuzz.json");
    } catch (const pgca::Error&) {
        return 0;
    }
    pgca::pg::AccessPlan plan;
    try {
        plan = pgca::pg::plan_access(profile.hba, profile.clients, profile.source);
    } catch (const pgca::Error&) {
        return 0;
    }

    const std::string hba = pgca::pg::render_hba(profile.name, plan);
    require_clean_text("pg_hba.conf holds a control character", hba);
    if (content_lines(hba) != plan.hba.size()) bug("pg_hba.conf does not have one line per rule", hba);

    const std::string ident = pgca::pg::render_ident(profile.name, plan);
    require_clean_text("pg_ident.conf holds a control character", ident);
    if (content_lines(ident) != plan.ident.size()) bug("pg_ident.conf does not have one line per mapping", ident);

    for (const auto& server : profile.servers) {
        pgca::pg::ServerFiles files{"/pki/servers/x/server.crt", "/pki/servers/x/server.key", "/pki/servers/x/root.crt",
                                    "/pki/servers/x/root.crl", "/pki/servers/x/crl"};
        const std::string conf = pgca::pg::render_server_conf(profile.name, server, profile.server_settings, files);
        require_clean_text("postgresql.ssl.conf holds a control character", conf);
        each_line("postgresql.ssl.conf has a line that is not `ssl… = …`", conf, [](std::string_view line) {
            return line.substr(0, 3) == "ssl" && line.find(" = ") != std::string_view::npos;
        });
    }
    for (const auto& client : profile.clients) {
        pgca::pg::ClientFiles files{"/pki/clients/x/root.crt", "/pki/clients/x/postgresql.crt",
                                    "/pki/clients/x/postgresql.key"};
        const std::string service = pgca::pg::render_service(profile.name, client.user, profile.servers, profile.client_settings, files);
        require_clean_text("pg_service.conf holds a control character", service);
        each_line("pg_service.conf has a line that is neither [section] nor keyword=value", service,
                  [](std::string_view line) {
                      if (line.front() == '[') return line.back() == ']';
                      std::size_t eq = line.find('=');
                      if (eq == std::string_view::npos || eq == 0) return false;
                      for (char c : line.substr(0, eq))
                          if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
                      return true;
                  });
    }
    return 0;
}
