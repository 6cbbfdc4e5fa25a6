/* test_atomic_file.c: result files are whole or absent. An aborted atomic
 * write, or a process killed before commit, leaves the target as it was; a
 * commit replaces it in one rename; no temporary file outlives an abort. */
#include "check.h"
#include "headwise.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static const char *path_in(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* The file's bytes as a string (at most 255), or "" when absent. */
static const char *contents(const char *path) {
    static char buf[256];
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int n_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void test_abort_keeps_target(void) {
    const char *p = path_in("result.json");
    CHECK(hw_write_file_atomic(p, "old", 3) == HW_OK, "first write: %s", hw_last_error());
    hw_atomic_file *a = hw_atomic_open(p);
    CHECK(a != NULL, "open: %s", hw_last_error());
    if (!a) return;
    fputs("new but unfinished", hw_atomic_stream(a));
    fflush(hw_atomic_stream(a));
    CHECK(strcmp(contents(p), "old") == 0, "before abort the target is untouched: %s", contents(p));
    hw_atomic_abort(a);
    CHECK(strcmp(contents(p), "old") == 0, "after abort the target is untouched: %s", contents(p));
    CHECK(n_files() == 1, "abort removed the temporary file (%d files)", n_files());
}

static void test_commit_replaces_target(void) {
    const char *p = path_in("result.json");
    hw_atomic_file *a = hw_atomic_open(p);
    CHECK(a != NULL, "open: %s", hw_last_error());
    if (!a) return;
    fputs("{\"new\": 1}", hw_atomic_stream(a));
    CHECK(hw_atomic_commit(a) == HW_OK, "commit: %s", hw_last_error());
    CHECK(strcmp(contents(p), "{\"new\": 1}") == 0, "commit replaced the target: %s", contents(p));
    CHECK(n_files() == 1, "no temporary file left (%d files)", n_files());
}

/* A process killed between writing and committing: the target keeps its old
 * bytes (a stray temporary file is all a kill can leave). */
static void test_kill_before_commit(void) {
    const char *p = path_in("result.json");
    CHECK(hw_write_file_atomic(p, "before", 6) == HW_OK, "write: %s", hw_last_error());
    pid_t pid = fork();
    if (pid == 0) {
        hw_atomic_file *a = hw_atomic_open(p);
        if (a) {
            fputs("half of a new resu", hw_atomic_stream(a));
            fflush(hw_atomic_stream(a));
        }
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child was killed");
    CHECK(strcmp(contents(p), "before") == 0, "the target survived the kill: %s", contents(p));
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)pid);
    CHECK(strcmp(contents(tmp), "half of a new resu") == 0, "the half-written data went to %s", tmp);
    remove(tmp);
}

static void test_unwritable(void) {
    const char *p = path_in("no/such/folder/result.json");
    hw_atomic_file *a = hw_atomic_open(p);
    CHECK(a == NULL, "open in a missing folder fails");
    CHECK(strstr(hw_last_error(), "result.json") != NULL, "the message names the file: %s", hw_last_error());
    CHECK(hw_write_file_atomic(p, "x", 1) == HW_ERR_IO, "write_file_atomic reports an i/o error");
    CHECK(n_files() == 1, "nothing was created (%d files)", n_files());
}

static void test_npy(void) {
    const char *p = path_in("x.npy");
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    CHECK(hw_npy_write(p, v, 2, shape) == HW_OK, "npy: %s", hw_last_error());
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL, "npy file exists");
    if (!f) return;
    unsigned char b[256];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    size_t hlen = (size_t)b[8] | (size_t)b[9] << 8;
    CHECK(n == 10 + hlen + sizeof v && (10 + hlen) % 64 == 0, "size %zu, header %zu", n, hlen);
    CHECK(memcmp(b, "\x93NUMPY\x01\x00", 8) == 0, "magic and version");
    CHECK(memcmp(b + 10 + hlen, v, sizeof v) == 0, "data follows the header");
    int64_t bad[1] = {-1};
    CHECK(hw_npy_write(path_in("bad.npy"), v, 1, bad) == HW_ERR_ARG, "negative dimension refused");
    CHECK(strcmp(contents(path_in("bad.npy")), "") == 0, "and no file written");
    remove(p);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/headwise-atomic-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    RUN(test_abort_keeps_target);
    RUN(test_commit_replaces_target);
    RUN(test_kill_before_commit);
    RUN(test_unwritable);
    RUN(test_npy);
    remove(path_in("result.json"));
    rmdir(dir);
    CHECK_DONE();
}
