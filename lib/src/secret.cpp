#include "pgca/secret.hpp"

#include <openssl/crypto.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/io.hpp"

namespace pgca {
namespace {

// PostgreSQL's ssl_passphrase_command reads only the first line and strips "\n" / "\r\n".
std::string first_line(std::string text) {
    auto nl = text.find('\n');
    if (nl != std::string::npos) {
        std::string line = text.substr(0, nl);
        wipe(text);
        text = std::move(line);
    }
    if (!text.empty() && text.back() == '\r') text.pop_back();
    return text;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

// PostgreSQL replaces %p with the prompt and %% with %: a literal % must be doubled.
std::string escape_percent(const std::string& s) {
    std::string out;
    for (char c : s) {
        out += c;
        if (c == '%') out += '%';
    }
    return out;
}

}  // namespace

void wipe(std::string& secret) noexcept {
    if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
}

std::string PassphraseSource::describe() const {
    switch (kind) {
        case Kind::env: return "environment variable " + value;
        case Kind::file: return "file " + value;
        case Kind::command: return "command `" + value + "`";
        case Kind::none: break;
    }
    return "no passphrase source";
}

std::string PassphraseSource::to_json() const {
    switch (kind) {
        case Kind::env: return nlohmann::json{{"env", value}}.dump();
        case Kind::file: return nlohmann::json{{"file", value}}.dump();
        case Kind::command: return nlohmann::json{{"command", value}}.dump();
        case Kind::none: break;
    }
    return {};
}

PassphraseSource PassphraseSource::from_json(std::string_view text) {
    PassphraseSource s;
    if (text.empty()) return s;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || j.size() != 1 || !j.begin().value().is_string())
        throw Error(ErrorKind::ledger, "malformed passphrase source in the ledger");
    const std::string key = j.begin().key();
    s.value = j.begin().value().get<std::string>();
    if (key == "env") s.kind = Kind::env;
    else if (key == "file") s.kind = Kind::file;
    else if (key == "command") s.kind = Kind::command;
    else throw Error(ErrorKind::ledger, "malformed passphrase source in the ledger");
    return s;
}

std::string read_passphrase(const PassphraseSource& source) {
    std::string pass;
    switch (source.kind) {
        case PassphraseSource::Kind::none:
            throw Error(ErrorKind::input, "no passphrase source is configured");
        case PassphraseSource::Kind::env: {
            const char* v = std::getenv(source.value.c_str());
            if (v == nullptr) throw Error(ErrorKind::input, "passphrase: environment variable " + source.value + " is not set");
            pass = v;
            break;
        }
        case PassphraseSource::Kind::file:
            try {
                pass = first_line(io::read_file(source.value, io::kMaxPassphraseFileBytes));
            } catch (const Error& e) {
                throw Error(ErrorKind::input, std::string("passphrase: ") + e.what());
            }
            break;
        case PassphraseSource::Kind::command: {
            // popen: the command is a shell command line chosen by the operator in the profile.
            FILE* f = ::popen(source.value.c_str(), "r");
            if (f == nullptr) throw Error(ErrorKind::input, "passphrase: cannot run " + source.describe());
            std::string out;
            char buf[256];
            std::size_t n = 0;
            while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
            OPENSSL_cleanse(buf, sizeof buf);
            int status = ::pclose(f);
            if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                wipe(out);
                throw Error(ErrorKind::input, "passphrase: " + source.describe() + " failed" +
                                                  (status != -1 && WIFEXITED(status)
                                                       ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")"
                                                       : std::string()));
            }
            pass = first_line(std::move(out));
            break;
        }
    }
    if (pass.empty()) throw Error(ErrorKind::input, "passphrase: " + source.describe() + " gave an empty passphrase");
    return pass;
}

std::string passphrase_command(const PassphraseSource& source) {
    switch (source.kind) {
        case PassphraseSource::Kind::env:
            // The postmaster's environment (systemd Environment=, or the pg_ctl caller's).
            return escape_percent("printf '%s\\n' \"$" + source.value + "\"");
        case PassphraseSource::Kind::file:
            return escape_percent("cat " + shell_quote(source.value));
        case PassphraseSource::Kind::command:
            return escape_percent(source.value);
        case PassphraseSource::Kind::none:
            break;
    }
    return {};
}

}  // namespace pgca
