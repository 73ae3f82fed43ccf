/* Fault injection for the pairs tests: an LD_PRELOAD library that counts the calls of one group
 * of file-system functions and makes the Nth one fail.
 *
 *   PGCA_FAULT=GROUP:N:MODE       GROUP: write (write, pwrite, pwrite64), sync (fsync, fdatasync,
 *                                 syncfs), rename (rename, renameat, renameat2), link (linkat),
 *                                 unlink (unlink, unlinkat), create (open/openat that create or
 *                                 write), mkdir (mkdir, mkdirat)
 *                                 MODE: eio, enospc (the call fails with that errno, doing
 *                                 nothing) or crash (_exit(137) instead of the call)
 *   PGCA_FAULT_REPORT=FILE        "fired" is appended to FILE when the fault happens, so that a
 *                                 test knows when N has passed the last call of the group.
 *   PGCA_FAULT_SKIP=TEXT          opens, writes and syncs of files whose path contains TEXT are not
 *                                 counted (the tests skip the ledger: SQLite's own atomicity is
 *                                 not what they test, and its writes would multiply the runs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static char group[16];
static long target = -1;
static int mode_errno = 0; /* 0 = crash */
static long counter = 0;
static int configured = 0;

static void configure(void) {
    const char* spec = getenv("PGCA_FAULT");
    configured = 1;
    if (spec == NULL) return;
    const char* a = strchr(spec, ':');
    const char* b = a != NULL ? strchr(a + 1, ':') : NULL;
    if (a == NULL || b == NULL || (size_t)(a - spec) >= sizeof group) return;
    memcpy(group, spec, (size_t)(a - spec));
    group[a - spec] = '\0';
    target = atol(a + 1);
    if (strcmp(b + 1, "eio") == 0)
        mode_errno = EIO;
    else if (strcmp(b + 1, "enospc") == 0)
        mode_errno = ENOSPC;
    else
        mode_errno = 0;
}

/* Whether the file open on `fd` is one PGCA_FAULT_SKIP names. */
static int skipped(int fd) {
    const char* skip = getenv("PGCA_FAULT_SKIP");
    if (skip == NULL || *skip == '\0') return 0;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) return 0;
    target[n] = '\0';
    return strstr(target, skip) != NULL;
}

/* Returns -1 (errno set) when this call must fail; 0 to go on. Exits for a crash. */
static int fault(const char* g) {
    if (!configured) configure();
    if (target < 0 || strcmp(g, group) != 0) return 0;
    if (__atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST) != target) return 0;
    const char* report = getenv("PGCA_FAULT_REPORT");
    if (report != NULL) {
        int fd = (int)syscall(SYS_openat, AT_FDCWD, report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            syscall(SYS_write, fd, "fired\n", 6);
            syscall(SYS_close, fd);
        }
    }
    if (mode_errno == 0) _exit(137);
    errno = mode_errno;
    return -1;
}

#define REAL(name)                                  \
    static __typeof__(&name) real_##name = NULL;    \
    if (real_##name == NULL) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

/* One wrapper: `prologue` (a statement), then, when `when` holds, the fault of `group` decides
 * whether the call fails (or the process exits); otherwise the real function runs. */
#define WRAP(ret, name, group, when, prologue, params, args) \
    ret name params {                                        \
        REAL(name);                                          \
        prologue;                                            \
        if ((when) && fault(group)) return -1;               \
        return real_##name args;                             \
    }
#define NOTHING (void)0

WRAP(ssize_t, write, "write", !skipped(fd), NOTHING, (int fd, const void* buf, size_t n), (fd, buf, n))
WRAP(ssize_t, pwrite, "write", !skipped(fd), NOTHING, (int fd, const void* buf, size_t n, off_t off), (fd, buf, n, off))
WRAP(ssize_t, pwrite64, "write", !skipped(fd), NOTHING, (int fd, const void* buf, size_t n, off_t off), (fd, buf, n, off))
WRAP(int, fsync, "sync", !skipped(fd), NOTHING, (int fd), (fd))
WRAP(int, fdatasync, "sync", !skipped(fd), NOTHING, (int fd), (fd))
WRAP(int, syncfs, "sync", 1, NOTHING, (int fd), (fd))
WRAP(int, rename, "rename", 1, NOTHING, (const char* a, const char* b), (a, b))
WRAP(int, renameat, "rename", 1, NOTHING, (int da, const char* a, int db, const char* b), (da, a, db, b))
WRAP(int, renameat2, "rename", 1, NOTHING, (int da, const char* a, int db, const char* b, unsigned flags),
     (da, a, db, b, flags))
WRAP(int, linkat, "link", 1, NOTHING, (int da, const char* a, int db, const char* b, int flags), (da, a, db, b, flags))
WRAP(int, unlink, "unlink", 1, NOTHING, (const char* p), (p))
WRAP(int, unlinkat, "unlink", 1, NOTHING, (int d, const char* p, int flags), (d, p, flags))
WRAP(int, mkdir, "mkdir", 1, NOTHING, (const char* p, mode_t m), (p, m))
WRAP(int, mkdirat, "mkdir", 1, NOTHING, (int d, const char* p, mode_t m), (d, p, m))

/* Opens that create or write count (reads do not: there are many, and none changes a file),
 * except of the files PGCA_FAULT_SKIP names. */
static int counted_open(const char* path, int flags) {
    const char* skip = getenv("PGCA_FAULT_SKIP");
    if (skip != NULL && *skip != '\0' && strstr(path, skip) != NULL) return 0;
    return (flags & (O_CREAT | O_WRONLY | O_RDWR)) != 0;
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | __O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

/* The mode argument an open may carry, as `m`. */
#define OPEN_MODE      \
    va_list ap;        \
    va_start(ap, flags); \
    mode_t m = mode_arg(flags, ap); \
    va_end(ap)

WRAP(int, open, "create", counted_open(p, flags), OPEN_MODE, (const char* p, int flags, ...), (p, flags, m))
WRAP(int, open64, "create", counted_open(p, flags), OPEN_MODE, (const char* p, int flags, ...), (p, flags, m))
WRAP(int, openat, "create", counted_open(p, flags), OPEN_MODE, (int d, const char* p, int flags, ...), (d, p, flags, m))
WRAP(int, openat64, "create", counted_open(p, flags), OPEN_MODE, (int d, const char* p, int flags, ...),
     (d, p, flags, m))
