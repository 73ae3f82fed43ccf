#include "ossl/ossl.hpp"

#include <openssl/err.h>

#include <climits>

namespace pgca::ossl {

std::string drain_errors() {
    std::string out;
    const char* data = nullptr;
    int flags = 0;
    unsigned long code = 0;
    // ERR_get_error_all keeps the data string (e.g. the file name or the provider's detail),
    // which ERR_error_string alone would lose.
    while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        const char* reason = ERR_reason_error_string(code);
        out += reason != nullptr ? reason : buf;
        if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
            out += " (";
            out += data;
            out += ")";
        }
    }
    return out;
}

void fail(std::string_view what, ErrorKind kind) {
    std::string msg(what);
    std::string queue = drain_errors();
    if (!queue.empty()) {
        msg += ": ";
        msg += queue;
    }
    throw Error(kind, msg);
}

BioPtr mem_bio() { return BioPtr(check_ptr(BIO_new(BIO_s_mem()), "allocate memory BIO")); }

BioPtr mem_bio(std::string_view data) {
    if (data.size() > static_cast<std::size_t>(INT_MAX)) throw Error(ErrorKind::input, "input too large");
    return BioPtr(check_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())), "allocate memory BIO"));
}

std::string bio_string(BIO* bio) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    if (n <= 0 || p == nullptr) return {};
    return std::string(p, static_cast<std::size_t>(n));
}

std::time_t to_time_t(const ASN1_TIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) ossl::fail("read certificate time");
    return timegm(&tm);
}

}  // namespace pgca::ossl
