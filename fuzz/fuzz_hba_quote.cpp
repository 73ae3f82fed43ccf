// libFuzzer target: for any byte string s that pgca::pg::validate_hba_token accepts,
// pgca::pg::quote_name(s) must read back as exactly s under PostgreSQL 15's pg_hba.conf /
// pg_ident.conf tokenizer, as one token, marked quoted whenever an unquoted s would mean something
// else (a keyword, a +group, an @file). The tokenizer below is a faithful reimplementation of
// PostgreSQL 15 src/backend/libpq/hba.c: tokenize_auth_file() (backslash continuation, CR/LF
// stripping), next_field_expand() (comma lists, @file includes) and next_token() (blanks, quotes,
// doubled quotes, '#' comments, MAX_TOKEN). Its limits were checked against a real 15.18 server:
// an unquoted token may hold 10239 bytes (10238 when a list's comma follows it) and a quoted one
// 10238, one more is "authentication file token too long".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/error.hpp"
#include "pgca/pg.hpp"

namespace {

constexpr std::size_t kMaxToken = 10240;  // hba.c MAX_TOKEN: the buffer, including its '\0'

struct HbaToken {
    std::string string;
    bool quoted = false;   // hba.c: initial_quote, what token_is_keyword() and check_role() test
    bool include = false;  // an unquoted @file: hba.c would read the file instead
};

struct Tokenized {
    std::vector<std::vector<HbaToken>> fields;
    std::string error;  // "" or hba.c's err_msg
};

// hba.c pg_isblank().
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// hba.c next_token(): reads one token from *p (a NUL-terminated line). Returns false at the end
// of the line or on error (then `error` is set).
bool next_token(const char*& p, std::string& buf, bool& initial_quote, bool& terminating_comma, std::string& error) {
    bool in_quote = false, was_quote = false, saw_quote = false;
    buf.clear();
    initial_quote = false;
    terminating_comma = false;

    char c;
    // Move over any whitespace and commas preceding the next token.
    while ((c = *p++) != '\0' && (is_blank(c) || c == ','))
        ;
    // Build a token of the next characters up to EOL, unquoted comma, or unquoted whitespace.
    while (c != '\0' && (!is_blank(c) || in_quote)) {
        // Skip comments to EOL.
        if (c == '#' && !in_quote) {
            while ((c = *p++) != '\0')
                ;
            break;
        }
        if (buf.size() >= kMaxToken - 1) {
            error = "authentication file token too long";
            while ((c = *p++) != '\0')
                ;
            --p;  // un-eat the '\0', in case we're called again
            return false;
        }
        // We do not pass back a terminating comma in the token.
        if (c == ',' && !in_quote) {
            terminating_comma = true;
            break;
        }
        if (c != '"' || was_quote) buf += c;
        // Literal double-quote is two double-quotes.
        if (in_quote && c == '"')
            was_quote = !was_quote;
        else
            was_quote = false;
        if (c == '"') {
            in_quote = !in_quote;
            saw_quote = true;
            if (buf.empty()) initial_quote = true;
        }
        c = *p++;
    }
    // Un-eat the char right after the token (critical in case it is '\0').
    --p;
    return saw_quote || !buf.empty();
}

// hba.c next_field_expand(): one field, a comma-separated list of tokens.
std::vector<HbaToken> next_field(const char*& p, std::string& error) {
    std::vector<HbaToken> tokens;
    std::string buf;
    bool initial_quote = false, trailing_comma = false;
    do {
        if (!next_token(p, buf, initial_quote, trailing_comma, error)) break;
        HbaToken t;
        t.string = buf;
        t.quoted = initial_quote;
        // "Is this referencing a file?"
        t.include = !initial_quote && buf.size() > 1 && buf[0] == '@';
        tokens.push_back(std::move(t));
    } while (trailing_comma && error.empty());
    return tokens;
}

// hba.c tokenize_auth_file() for the text of one file: the first logical line's fields.
Tokenized tokenize_first_line(const std::string& file) {
    // Collect the next input line, handling backslash continuations: pg_get_line_append() reads
    // through the '\n', pg_strip_crlf() strips trailing CR/LF, a trailing backslash joins the next line.
    std::string line;
    std::size_t pos = 0;
    while (pos < file.size()) {
        std::size_t end = file.find('\n', pos);
        end = end == std::string::npos ? file.size() : end + 1;
        line.append(file, pos, end - pos);
        pos = end;
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        if (!line.empty() && line.back() == '\\') {
            line.pop_back();
            continue;
        }
        break;
    }
    Tokenized out;
    const char* p = line.c_str();
    while (*p != '\0' && out.error.empty()) {
        auto field = next_field(p, out.error);
        if (!field.empty()) out.fields.push_back(std::move(field));
    }
    return out;
}

[[noreturn]] void bug(const char* what, std::string_view s, const std::string& line) {
    std::fprintf(stderr, "fuzz_hba_quote: %s\nname (%zu bytes): ", what, s.size());
    for (unsigned char c : s.substr(0, 200)) {
        if (c >= 0x20 && c < 0x7f && c != '\\')
            std::fputc(c, stderr);
        else
            std::fprintf(stderr, "\\x%02x", c);
    }
    std::fprintf(stderr, "%s\nline: %.300s%s\n", s.size() > 200 ? "…" : "", line.c_str(), line.size() > 300 ? "…" : "");
    std::abort();
}

bool is_keyword(std::string_view s) {
    // hba.c token_is_keyword() calls: databases all/sameuser/samegroup/samerole/replication,
    // users all; pg_ident.conf (PostgreSQL 16+) all.
    return s == "all" || s == "sameuser" || s == "samegroup" || s == "samerole" || s == "replication";
}

// `field` must be exactly `count` tokens, each s, literal, and quoted when it must be.
void check_field(const Tokenized& t, std::size_t index, std::size_t fields, std::size_t count, std::string_view s,
                 const std::string& line) {
    if (!t.error.empty()) bug(("PostgreSQL would refuse the line: " + t.error).c_str(), s, line);
    if (t.fields.size() != fields) bug("the line does not have the expected number of fields", s, line);
    const auto& field = t.fields[index];
    if (field.size() != count) bug("the name is not read back as one token", s, line);
    for (const auto& tok : field) {
        if (tok.string != s) bug("the token read back differs from the name", s, line);
        if (tok.include) bug("the name is read as an @file inclusion", s, line);
        if (is_keyword(s) && !tok.quoted) bug("a keyword used as a name is not quoted", s, line);
        if ((s.front() == '+' || s.front() == '@') && !tok.quoted) bug("a leading + or @ is not quoted", s, line);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view s(reinterpret_cast<const char*>(data), size);
    try {
        // Accepted even before a comma: the name is also written twice in a list below.
        pgca::pg::validate_hba_token(s, "user", false, true);
    } catch (const pgca::Error&) {
        return 0;
    }
    const std::string q = pgca::pg::quote_name(s);

    // A pg_hba.conf line with the name as the user field, alone and twice in a list.
    std::string line = "hostssl all " + q + " 127.0.0.1/32 cert";
    check_field(tokenize_first_line(line + "\n"), 2, 5, 1, s, line);
    line = "hostssl all " + q + "," + q + " 127.0.0.1/32 cert map=m # comment";
    check_field(tokenize_first_line(line + "\n"), 2, 6, 2, s, line);
    // A pg_ident.conf line with the name last (where a trailing backslash would continue the line).
    line = "m " + q + " " + q;
    Tokenized ident = tokenize_first_line(line + "\nnext line\n");
    check_field(ident, 1, 3, 1, s, line);
    check_field(ident, 2, 3, 1, s, line);
    return 0;
}
