/*
 * replay.c: main() for a fuzz target built without libFuzzer. Runs the
 * target on every file named on the command line (folders: every file in
 * them) and prints "PASS <target> <count> inputs" when none crashed; a crash
 * or a sanitizer report ends the process with a non-zero status instead.
 */
#include "fuzz.h"

#include <dirent.h>

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a folder in name order, so runs are repeatable. */
static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return run_file(dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        int r = run_file(p);
        if (r < 0) return -1;
        count += r;
        free(names[i]);
    }
    free(names);
    return count;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    int count = 0;
    for (int i = 1; i < argc; i++) {
        int r = run_dir(argv[i]);
        if (r < 0) {
            printf("FAIL %s: cannot read %s\n", name, argv[i]);
            return 1;
        }
        count += r;
    }
    printf("PASS %s: %d inputs replayed\n", name, count);
    return 0;
}
