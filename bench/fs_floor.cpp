// The file-system floor of a fresh `pgca apply`: creates the files a client folder holds
// (postgresql.crt, postgresql.key, root.crt, pg_service.conf, copied byte for byte from a
// sample folder pgca wrote) for N clients under DIR/clients/, the way pgca's FileBatch does (one
// task per new folder: mkdir 0700, then each file created with O_EXCL and its mode, on T
// threads), then makes everything durable with one syncfs(). No keys, no signatures, no
// ledger: what is left of an apply when everything else costs nothing. Prints one line:
//   RESULT clients=… threads=… create_s=… syncfs_s=… total_s=…
//
// Usage: pgca_bench_fs_floor --sample DIR/clients/ROLE --dir OUT [--clients 10000] [--threads 2]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "pgca_bench_fs_floor: %s%s%s\n", what.c_str(), errno != 0 ? ": " : "",
                 errno != 0 ? std::strerror(errno) : "");
    std::exit(1);
}

struct File {
    const char* name;
    mode_t mode;
    std::string data;
};

void create(const std::string& path, const std::string& data, mode_t mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) die("create " + path);
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) die("write " + path);
    if (::close(fd) != 0) die("close " + path);
}

}  // namespace

int main(int argc, char** argv) {
    std::string sample, dir;
    long clients = 10000;
    int threads = 2;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value after " + a);
            return argv[++i];
        };
        if (a == "--sample") sample = next();
        else if (a == "--dir") dir = next();
        else if (a == "--clients") clients = std::atol(next().c_str());
        else if (a == "--threads") threads = std::atoi(next().c_str());
        else die("unknown argument " + a);
    }
    if (sample.empty() || dir.empty() || clients < 1 || threads < 1)
        die("usage: pgca_bench_fs_floor --sample DIR/clients/ROLE --dir OUT [--clients N] [--threads T]");

    std::vector<File> files{{"postgresql.key", 0600, {}}, {"postgresql.crt", 0644, {}}, {"root.crt", 0644, {}},
                            {"pg_service.conf", 0644, {}}};
    for (auto& f : files) {
        std::ifstream in(sample + "/" + f.name, std::ios::binary);
        if (!in) die("read " + sample + "/" + f.name);
        std::ostringstream s;
        s << in.rdbuf();
        f.data = s.str();
    }
    ::umask(022);  // as for pgca: 0600 and 0644 need no fchmod, 0700 folders no chmod
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) die("mkdir " + dir);
    const std::string parent = dir + "/clients";
    if (::mkdir(parent.c_str(), 0755) != 0) die("mkdir " + parent);

    using clk = std::chrono::steady_clock;
    auto t0 = clk::now();
    std::atomic<long> next{0};
    auto worker = [&] {
        for (long i = next++; i < clients; i = next++) {
            std::string folder = parent + "/user" + std::to_string(i);
            if (::mkdir(folder.c_str(), 0700) != 0) die("mkdir " + folder);
            for (const auto& f : files) create(folder + "/" + f.name, f.data, f.mode);
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    auto t1 = clk::now();
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::syncfs(fd) != 0) die("syncfs " + dir);
    ::close(fd);
    auto t2 = clk::now();
    auto s = [](clk::duration d) { return std::chrono::duration<double>(d).count(); };
    std::printf("RESULT clients=%ld threads=%d create_s=%.3f syncfs_s=%.3f total_s=%.6f\n", clients, threads,
                s(t1 - t0), s(t2 - t1), s(t2 - t0));
    return 0;
}
