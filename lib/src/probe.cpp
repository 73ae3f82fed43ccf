#include "pgca/probe.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string_view>
#include <utility>

#include "ossl/ossl.hpp"
#include "pgca/error.hpp"

namespace pgca {
namespace {

using SslCtxPtr = ossl::Handle<SSL_CTX, SSL_CTX_free>;
using SslPtr = ossl::Handle<SSL, SSL_free>;
// sk_X509_free is a macro; the stack is shallow (the certificates belong to ProbeResult::chain).
void free_x509_stack(STACK_OF(X509)* stack) { sk_X509_free(stack); }
using X509StackPtr = ossl::Handle<STACK_OF(X509), free_x509_stack>;
using AddrInfoPtr = ossl::Handle<addrinfo, freeaddrinfo>;

constexpr long kDaySeconds = 86400;

// SSLRequest: Int32 length 8, Int32 80877103 = (1234 << 16) | 5679 (pqcomm.h NEGOTIATE_SSL_CODE).
constexpr unsigned char kSslRequest[8] = {0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f};
// PG_ALPN_PROTOCOL_VECTOR: PostgreSQL 17 refuses a direct TLS connection without it.
constexpr unsigned char kAlpnPostgresql[11] = {10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l'};

// ---- libpq host name rules (fe-secure-common.c, fe-secure-openssl.c) ---------------------------

// libpq's is_ip_address(): inet_aton for IPv4, so "127.1" counts as an address too.
bool libpq_ipv4(const std::string& host, unsigned char (&out)[4]) {
    in_addr addr{};
    if (inet_aton(host.c_str(), &addr) == 0) return false;
    std::memcpy(out, &addr.s_addr, sizeof out);
    return true;
}

bool libpq_ipv6(const std::string& host, unsigned char (&out)[16]) {
    return inet_pton(AF_INET6, host.c_str(), out) == 1;
}

bool libpq_is_ip_address(const std::string& host) {
    unsigned char v4[4];
    unsigned char v6[16];
    return libpq_ipv4(host, v4) || libpq_ipv6(host, v6);
}

// pg_strcasecmp folds ASCII only.
bool ascii_iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// wildcard_certificate_match(): the pattern must start "*.", the host must end in the rest of
// it, and nothing left of where the pattern starts may hold a dot, so "*" covers exactly one
// left-most label and never the bare domain ("*.example.test" does not match "example.test").
bool libpq_wildcard_matches(std::string_view pattern, std::string_view host) {
    if (pattern.size() < 3 || pattern[0] != '*' || pattern[1] != '.') return false;
    if (pattern.size() > host.size()) return false;
    std::size_t star = host.size() - pattern.size();
    if (!ascii_iequal(pattern.substr(1), host.substr(star + 1))) return false;
    return host.substr(0, star).find('.') == std::string_view::npos;
}

// pq_verify_peer_name_matches_certificate_name(): exact (case-insensitive) or wildcard.
bool libpq_dns_matches(std::string_view name, const std::string& host) {
    return ascii_iequal(name, host) || libpq_wildcard_matches(name, host);
}

// CertInfo keeps iPAddress SANs as inet_ntop text (or "<n-byte address>" for odd lengths, which
// match nothing, as in libpq).
bool san_ip_matches(const std::string& san, const std::string& host) {
    unsigned char want4[4];
    unsigned char want6[16];
    unsigned char have[16];
    if (inet_pton(AF_INET, san.c_str(), have) == 1)
        return libpq_ipv4(host, want4) && std::memcmp(have, want4, sizeof want4) == 0;
    if (inet_pton(AF_INET6, san.c_str(), have) == 1)
        return libpq_ipv6(host, want6) && std::memcmp(have, want6, sizeof want6) == 0;
    return false;
}

// ---- the socket ------------------------------------------------------------------------------

class Socket final {
public:
    Socket() noexcept = default;
    explicit Socket(int fd) noexcept : fd_(fd) {}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Socket& operator=(Socket&& o) noexcept {
        if (this != &o) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

std::string errno_text(int error) { return std::strerror(error); }

std::string endpoint_text(const std::string& host, int port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string address_text(const addrinfo* ai) {
    char buf[NI_MAXHOST] = {0};
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) return "?";
    return buf;
}

// ---- one deadline for the whole probe -----------------------------------------------------------

using Clock = std::chrono::steady_clock;

// The time a probe may take, from its start: connecting, the SSLRequest, the handshake and the
// certificate read all take from the same budget, so a server that drips one byte at a time
// cannot keep a probe alive past it.
struct Deadline {
    Clock::time_point start = Clock::now();
    int limit_ms = 0;

    [[nodiscard]] int left_ms() const {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(start + std::chrono::milliseconds(limit_ms) -
                                                                          Clock::now()).count();
        return left > 0 ? static_cast<int>(left) : 0;
    }
    [[nodiscard]] long long elapsed_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    }
};

Error timed_out(const std::string& endpoint, const std::string& phase, const Deadline& deadline) {
    return Error(ErrorKind::io, endpoint + ": timed out " + phase + " after " + std::to_string(deadline.elapsed_ms()) +
                                    " ms (the whole probe may take " + std::to_string(deadline.limit_ms) + " ms)");
}

// Waits until `fd` is ready for `events` or the deadline passes. Returns false on timeout; sets
// errno and returns false with `error` set when poll itself fails.
bool wait_ready(int fd, short events, const Deadline& deadline, int& error) {
    error = 0;
    while (true) {
        int left = deadline.left_ms();
        if (left == 0) return false;
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, left);
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) {
            error = errno;
            return false;
        }
    }
}

// What to do after a send or recv on the non-blocking `fd` failed with `error`: try again (an
// interrupted call, or the socket became ready for `events` in the time left), or stop because the
// deadline passed, or because of `error` (poll's own errno when poll failed). The one wait every
// read and write of a probe makes.
enum class AfterFailure { again, timed_out, failed };
AfterFailure after_failure(int fd, short events, const Deadline& deadline, int& error) {
    if (error == EINTR) return AfterFailure::again;
    if (error != EAGAIN && error != EWOULDBLOCK) return AfterFailure::failed;
    if (wait_ready(fd, events, deadline, error)) return AfterFailure::again;
    return error == 0 ? AfterFailure::timed_out : AfterFailure::failed;
}

// One non-blocking connect, bounded by what is left of `deadline`. The socket stays non-blocking:
// every later read and write waits with poll() for at most the time left. On failure returns an
// invalid Socket and says why in `why`.
Socket connect_one(const addrinfo* ai, const Deadline& deadline, std::string& why) {
    Socket s(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!s.valid()) {
        why = "socket: " + errno_text(errno);
        return {};
    }
    if (::connect(s.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            why = errno_text(errno);
            return {};
        }
        int error = 0;
        if (!wait_ready(s.get(), POLLOUT, deadline, error)) {
            why = error != 0 ? "poll: " + errno_text(error)
                             : "timed out while connecting after " + std::to_string(deadline.elapsed_ms()) +
                                   " ms (the whole probe may take " + std::to_string(deadline.limit_ms) + " ms)";
            return {};
        }
        socklen_t len = sizeof error;
        if (::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
        if (error != 0) {
            why = errno_text(error);
            return {};
        }
    }
    return s;
}

// Tries every address of `host` in getaddrinfo's order (like libpq), each with the time left.
Socket connect_to(const std::string& host, int port, const Deadline& deadline, const std::string& endpoint) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) {
        std::string why = rc == EAI_SYSTEM ? errno_text(errno) : gai_strerror(rc);
        throw Error(ErrorKind::io, endpoint + ": cannot resolve \"" + host + "\": " + why);
    }
    AddrInfoPtr list(found);
    std::string failures;
    for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
        std::string why;
        Socket s = connect_one(ai, deadline, why);
        if (s.valid()) return s;
        failures += (failures.empty() ? "" : "; ") + address_text(ai) + ": " + why;
    }
    throw Error(ErrorKind::io, endpoint + ": cannot connect (" + failures + ")");
}

void send_all(int fd, const unsigned char* data, std::size_t size, const Deadline& deadline,
              const std::string& endpoint) {
    while (size > 0) {
        ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0) {
            int error = errno;
            switch (after_failure(fd, POLLOUT, deadline, error)) {
                case AfterFailure::again: continue;
                case AfterFailure::timed_out: throw timed_out(endpoint, "while sending the SSLRequest", deadline);
                case AfterFailure::failed:
                    throw Error(ErrorKind::io, endpoint + ": cannot send the SSLRequest: " + errno_text(error));
            }
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

// Sends the SSLRequest and reads the one-byte answer. Exactly one byte: whatever follows belongs
// to TLS, and reading more would let a man in the middle slip plaintext in front of the
// handshake (CVE-2021-23222).
void negotiate_ssl(int fd, const Deadline& deadline, const std::string& endpoint) {
    send_all(fd, kSslRequest, sizeof kSslRequest, deadline, endpoint);
    unsigned char answer = 0;
    ssize_t n = 0;
    while (true) {
        n = ::recv(fd, &answer, 1, 0);
        if (n >= 0) break;
        int error = errno;
        switch (after_failure(fd, POLLIN, deadline, error)) {
            case AfterFailure::again: continue;
            case AfterFailure::timed_out: throw timed_out(endpoint, "waiting for the answer to the SSLRequest", deadline);
            case AfterFailure::failed:
                throw Error(ErrorKind::io, endpoint + ": cannot read the answer to the SSLRequest: " + errno_text(error));
        }
    }
    if (n == 0)
        throw Error(ErrorKind::io, endpoint + ": the server closed the connection without answering the SSLRequest");
    switch (answer) {
        case 'S':
            return;
        case 'N':
            throw Error(ErrorKind::policy, endpoint +
                                               ": the server does not accept SSL (answered 'N' to SSLRequest; "
                                               "is ssl = on?)");
        case 'E':
            // An ErrorResponse before TLS comes from an unauthenticated peer: its text is not shown
            // (CVE-2024-10977).
            throw Error(ErrorKind::io, endpoint + ": the server answered the SSLRequest with an error message "
                                                  "(not shown: it was sent before TLS)");
        default: {
            static const char digits[] = "0123456789ABCDEF";
            std::string hex = {digits[answer >> 4], digits[answer & 15]};
            throw Error(ErrorKind::io, endpoint + ": unexpected answer 0x" + hex +
                                           " to the SSLRequest (is this a PostgreSQL server?)");
        }
    }
}

// ---- a socket BIO that cannot raise SIGPIPE ----------------------------------------------------
//
// OpenSSL's own socket BIO writes with write(2), so a server that hangs up at the wrong moment
// (e.g. while we send close_notify) would kill the calling process with SIGPIPE. This one uses
// send(MSG_NOSIGNAL) and also records timeouts and EOF so the errors can say what happened. The
// socket is non-blocking: each read or write waits with poll() for at most the time left before
// the probe's deadline, so OpenSSL sees a plain failure (no retry) once it has passed.

struct Wire {
    int fd = -1;
    const Deadline* deadline = nullptr;
    bool timed_out = false;
    bool eof = false;
    int error = 0;  ///< errno of the last failed read or write, 0 if none
};

// After `io` failed with `error`: true to try again (the socket became ready in time), false
// with the failure recorded.
bool wire_retry(Wire* w, int error, short events) {
    switch (after_failure(w->fd, events, *w->deadline, error)) {
        case AfterFailure::again: return true;
        case AfterFailure::timed_out: w->timed_out = true; return false;
        case AfterFailure::failed: w->error = error; return false;
    }
    return false;
}

int wire_write(BIO* bio, const char* data, int size) {
    auto* w = static_cast<Wire*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    while (true) {
        ssize_t n = ::send(w->fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
        if (n >= 0) return static_cast<int>(n);
        if (!wire_retry(w, errno, POLLOUT)) return -1;
    }
}

int wire_read(BIO* bio, char* data, int size) {
    auto* w = static_cast<Wire*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    while (true) {
        ssize_t n = ::recv(w->fd, data, static_cast<std::size_t>(size), 0);
        if (n > 0) return static_cast<int>(n);
        if (n == 0) {
            w->eof = true;
            return 0;
        }
        if (!wire_retry(w, errno, POLLIN)) return -1;
    }
}

long wire_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
    switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1;
        case BIO_CTRL_EOF:  // lets OpenSSL report "unexpected eof while reading"
            return static_cast<Wire*>(BIO_get_data(bio))->eof ? 1 : 0;
        default:
            return 0;
    }
}

// Made once and kept for the life of the process, like OpenSSL's built-in methods.
const BIO_METHOD* wire_method() {
    static BIO_METHOD* method = [] {
        int index = BIO_get_new_index();
        if (index == -1) return static_cast<BIO_METHOD*>(nullptr);
        BIO_METHOD* m = BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "pgca probe socket");
        if (m == nullptr) return m;
        if (BIO_meth_set_write(m, wire_write) != 1 || BIO_meth_set_read(m, wire_read) != 1 ||
            BIO_meth_set_ctrl(m, wire_ctrl) != 1) {
            BIO_meth_free(m);
            return static_cast<BIO_METHOD*>(nullptr);
        }
        return m;
    }();
    return ossl::check_ptr(method, "create the socket BIO method");
}

// ---- TLS -----------------------------------------------------------------------------------

[[noreturn]] void handshake_failed(const Wire& wire, bool direct, const std::string& endpoint) {
    std::string queue = ossl::drain_errors();
    if (wire.timed_out) throw timed_out(endpoint, "during the TLS handshake", *wire.deadline);
    std::string msg = endpoint + ": TLS handshake failed";
    if (direct) msg += " (direct TLS needs PostgreSQL 17 or later)";
    if (!queue.empty())
        msg += ": " + queue;
    else if (wire.error != 0)
        msg += ": " + errno_text(wire.error);
    else if (wire.eof)
        msg += ": the server closed the connection";
    throw Error(ErrorKind::crypto, msg);
}

ossl::X509StorePtr load_roots(const std::string& ca_file) {
    ossl::X509StorePtr store(ossl::check_ptr(X509_STORE_new(), "allocate X509_STORE"));
    if (X509_STORE_load_file(store.get(), ca_file.c_str()) != 1)
        ossl::fail("CA file \"" + ca_file + "\": cannot load trusted certificates", ErrorKind::input);
    return store;
}

// Chain verification as libpq's verify-ca does it (server purpose, current time), done after the
// handshake so a failure can be reported instead of only aborting it.
void verify_chain(X509_STORE* store, ProbeResult& result) {
    X509StackPtr untrusted(ossl::check_ptr(sk_X509_new_null(), "allocate certificate stack"));
    for (std::size_t i = 1; i < result.chain.size(); ++i)
        if (sk_X509_push(untrusted.get(), result.chain[i].native()) <= 0) ossl::fail("build the served chain");
    ossl::X509StoreCtxPtr ctx(ossl::check_ptr(X509_STORE_CTX_new(), "allocate X509_STORE_CTX"));
    ossl::check1(X509_STORE_CTX_init(ctx.get(), store, result.chain.front().native(), untrusted.get()),
                 "initialise chain verification");
    ossl::check1(X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER), "set the verification purpose");
    int rc = X509_verify_cert(ctx.get());
    int code = X509_STORE_CTX_get_error(ctx.get());
    if (rc != 1 && code == X509_V_OK) ossl::fail("verify the served chain");
    ERR_clear_error();
    result.verified = rc == 1;
    if (!result.verified) result.verify_error = X509_verify_cert_error_string(code);
}

long whole_days_until(std::time_t when, std::time_t now) {
    auto diff = static_cast<long long>(when) - static_cast<long long>(now);
    long long days = diff / kDaySeconds;
    if (diff % kDaySeconds != 0 && diff < 0) --days;  // floor, not truncation
    return static_cast<long>(days);
}

}  // namespace

bool libpq_name_matches(const CertInfo& leaf, const std::string& host) {
    if (host.empty()) return false;  // "host name must be specified for a verified SSL connection"
    const bool host_is_ip = libpq_is_ip_address(host);
    bool san_of_host_type = false;
    // Every dNSName SAN is compared as a string, also for an IP host (DNS:127.0.0.1 matches
    // host=127.0.0.1); a name with an embedded NUL fails the whole check, as in libpq.
    for (const auto& name : leaf.dns_names) {
        if (name.find('\0') != std::string::npos) return false;
        if (!host_is_ip) san_of_host_type = true;
        if (libpq_dns_matches(name, host)) return true;
    }
    // iPAddress SANs compare bytes; a DNS host cannot parse as an address, so only counts them.
    for (const auto& ip : leaf.ip_addresses) {
        if (host_is_ip) san_of_host_type = true;
        if (host_is_ip && san_ip_matches(ip, host)) return true;
    }
    // The first CN only when no SAN of the host's own type exists (RFC 6125 for DNS hosts; libpq
    // deliberately does the same for IP hosts with only DNS SANs).
    if (san_of_host_type) return false;
    if (leaf.common_name.empty() || leaf.common_name.find('\0') != std::string::npos) return false;
    return libpq_dns_matches(leaf.common_name, host);
}

void parse_host_port(const std::string& text, std::string& host, int& port) {
    auto bad = [&](const std::string& why) {
        throw Error(ErrorKind::usage, "\"" + text + "\": " + why + " (expected HOST, HOST:PORT or [IPv6]:PORT)");
    };
    std::string h;
    std::string p;
    if (!text.empty() && text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string::npos) bad("missing \"]\"");
        h = text.substr(1, close - 1);
        std::string rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') bad("unexpected text after \"]\"");
            p = rest.substr(1);
            if (p.empty()) bad("empty port");
        }
    } else {
        std::size_t colon = text.find(':');
        if (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos) {
            h = text;  // a bare IPv6 literal: no port can follow without brackets
        } else if (colon != std::string::npos) {
            h = text.substr(0, colon);
            p = text.substr(colon + 1);
            if (p.empty()) bad("empty port");
        } else {
            h = text;
        }
    }
    if (h.empty()) bad("empty host");
    int value = 5432;
    if (!p.empty()) {
        if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) bad("port must be a number");
        value = std::stoi(p);
        if (value < 1 || value > 65535) bad("port must be between 1 and 65535");
    }
    host = h;
    port = value;
}

ProbeResult probe(const ProbeOptions& options) {
    if (options.host.empty()) throw Error(ErrorKind::usage, "probe: no host given");
    if (options.port < 1 || options.port > 65535)
        throw Error(ErrorKind::usage, "probe: port " + std::to_string(options.port) + " is not between 1 and 65535");
    if (options.timeout_ms < 1) throw Error(ErrorKind::usage, "probe: the timeout must be positive");
    const std::string endpoint = endpoint_text(options.host, options.port);

    ProbeResult result;
    result.name_checked = options.server_name.empty() ? options.host : options.server_name;

    // A bad CA file is reported before touching the network.
    ossl::X509StorePtr roots;
    if (!options.ca_file.empty()) roots = load_roots(options.ca_file);

    SslCtxPtr ctx(ossl::check_ptr(SSL_CTX_new(TLS_client_method()), "create TLS context"));
    ossl::check1(static_cast<int>(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION)), "set minimum TLS version");
    // The chain and the name are checked below, so that a bad certificate is reported, not just refused.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);

    // One deadline for everything from here on. Declared before the SSL object, so they outlive
    // the BIO that points at them.
    Deadline deadline;
    deadline.limit_ms = options.timeout_ms;
    Socket sock = connect_to(options.host, options.port, deadline, endpoint);
    Wire wire;
    wire.fd = sock.get();
    wire.deadline = &deadline;

    if (!options.direct) negotiate_ssl(sock.get(), deadline, endpoint);

    SslPtr ssl(ossl::check_ptr(SSL_new(ctx.get()), "create TLS connection"));
    // libpq (sslsni=1) sends the host name as SNI, except for IP literals.
    if (!libpq_is_ip_address(result.name_checked))
        ossl::check1(static_cast<int>(SSL_set_tlsext_host_name(ssl.get(), result.name_checked.c_str())),
                     "set SNI \"" + result.name_checked + "\"");
    // SSL_set_alpn_protos returns 0 on success.
    if (options.direct && SSL_set_alpn_protos(ssl.get(), kAlpnPostgresql, sizeof kAlpnPostgresql) != 0)
        ossl::fail("set ALPN \"postgresql\"");

    ossl::BioPtr bio(ossl::check_ptr(BIO_new(wire_method()), "create socket BIO"));
    BIO_set_data(bio.get(), &wire);
    BIO_set_init(bio.get(), 1);
    SSL_set_bio(ssl.get(), bio.get(), bio.get());  // one reference, now owned by the SSL object
    bio.release();

    if (SSL_connect(ssl.get()) != 1) handshake_failed(wire, options.direct, endpoint);

    result.tls_version = SSL_get_version(ssl.get());
    const char* cipher = SSL_get_cipher_name(ssl.get());
    result.cipher = cipher != nullptr ? cipher : "";
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
    if (alpn != nullptr) result.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);

    // On the client side the peer chain includes the leaf.
    STACK_OF(X509)* served = SSL_get_peer_cert_chain(ssl.get());
    int count = served != nullptr ? sk_X509_num(served) : 0;
    if (count <= 0) throw Error(ErrorKind::crypto, endpoint + ": the server sent no certificate");
    result.chain.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        X509* x = sk_X509_value(served, i);
        X509_up_ref(x);  // the stack keeps its reference; ours goes to the Certificate
        result.chain.push_back(Certificate::adopt(x));
    }

    // Done with the server: one close_notify, without waiting for its answer.
    SSL_shutdown(ssl.get());
    ERR_clear_error();

    if (roots) verify_chain(roots.get(), result);
    CertInfo leaf = result.chain.front().info();
    result.name_matches = libpq_name_matches(leaf, result.name_checked);
    result.days_left = whole_days_until(leaf.not_after, std::time(nullptr));
    return result;
}

}  // namespace pgca
