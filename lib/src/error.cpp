#include "pgca/error.hpp"

namespace pgca {

Error Error::with_context(std::string_view context) const {
    std::string msg(context);
    msg += ": ";
    msg += what();
    return Error(kind_, msg);
}

int exit_code_for(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::usage:
        case ErrorKind::profile:
        case ErrorKind::policy:
        case ErrorKind::input:
            return 2;
        default:
            return 1;
    }
}

}  // namespace pgca
