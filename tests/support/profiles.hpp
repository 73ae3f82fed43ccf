// Test support: the small profiles the tests start from, and a file tree's state to compare.
#pragma once

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "process.hpp"
#include "temp_dir.hpp"

namespace pgca::test {

/// A server of minimal_profile: its name and the hosts clients use.
struct TestServer {
    std::string name;
    std::vector<std::string> hosts;
};

/// A version-1 profile named `name` with a root CA "<Name> Root", `servers`, a client per role
/// of `clients`, and one hba rule (hostssl all all 127.0.0.1/32 cert). Tests add what they need
/// (an intermediate, defaults) to the JSON it returns.
inline nlohmann::json minimal_profile(const std::string& name, const std::vector<std::string>& clients = {"alice"},
                                      const std::vector<TestServer>& servers = {{"db1", {"localhost"}}}) {
    std::string cn = name;
    if (!cn.empty()) cn[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(cn[0])));
    nlohmann::json server_list = nlohmann::json::array(), client_list = nlohmann::json::array();
    for (const auto& s : servers) server_list.push_back({{"name", s.name}, {"hosts", s.hosts}});
    for (const auto& c : clients) client_list.push_back({{"user", c}});
    return {{"pgca_profile", 1},
            {"name", name},
            {"ca", {{"subject", {{"CN", cn + " Root"}}}}},
            {"servers", server_list},
            {"clients", client_list},
            {"hba", nlohmann::json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", "all"},
                                            {"address", "127.0.0.1/32"}, {"method", "cert"}}})}};
}

/// Writes `profile` to tmp/`file` and returns the path.
inline std::string write_profile(const TempDir& tmp, const nlohmann::json& profile,
                                 const std::string& file = "profile.json") {
    const std::string path = tmp.file(file);
    write_file(path, profile.dump(2));
    return path;
}

/// Everything beneath `dir`, by relative path: mode, owner and the bytes of each file (the
/// target of each link). Two equal snapshots mean nothing was created, removed or changed.
inline std::map<std::string, std::string> tree_snapshot(const std::string& dir) {
    namespace fs = std::filesystem;
    std::map<std::string, std::string> out;
    if (!fs::exists(fs::symlink_status(dir))) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        struct stat st {};
        if (::lstat(e.path().c_str(), &st) != 0) throw std::runtime_error("lstat " + e.path().string());
        std::string what = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " ";
        if (S_ISREG(st.st_mode)) {
            std::ifstream in(e.path(), std::ios::binary);
            what += std::string(std::istreambuf_iterator<char>(in), {});
        } else if (S_ISLNK(st.st_mode)) {
            what += fs::read_symlink(e.path()).string();
        }
        out[fs::relative(e.path(), dir).string()] = what;
    }
    return out;
}

}  // namespace pgca::test
