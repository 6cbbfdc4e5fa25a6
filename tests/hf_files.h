/*
 * hf_files.h: helpers for tests that write small Hugging Face style files
 * (safetensors, config.json) into a temporary folder and remove it after.
 */
#ifndef HW_HF_FILES_H
#define HW_HF_FILES_H

#include <dirent.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh folder under $TMPDIR (or /tmp); NULL on failure. */
static inline char *hf_tempdir(void) {
    static char dir[512];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/headwise-hf-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(dir);
}

/* dir/name, in one of a few rotating buffers. */
static inline const char *hf_path(const char *dir, const char *name) {
    static char buf[8][1024];
    static int next;
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", dir, name);
    return out;
}

static inline int hf_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* A safetensors file: u64 LE header length, the header padded with spaces to
 * a multiple of 8 (as the reference writer does), then data. header_len
 * overrides the length field when non-zero (to write lying headers). */
static inline int hf_write_st(const char *path, const char *header, const void *data,
                              size_t data_len, uint64_t header_len) {
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    size_t total = 8 + padded + data_len;
    uint8_t *buf = malloc(total);
    if (!buf) return -1;
    uint64_t n = header_len ? header_len : padded;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, header, h);
    memset(buf + 8 + h, ' ', padded - h);
    if (data_len) memcpy(buf + 8 + padded, data, data_len);
    int rc = hf_write(path, buf, total);
    free(buf);
    return rc;
}

/* Remove every file in dir (one level), then dir. */
static inline void hf_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(hf_path(dir, e->d_name));
    closedir(d);
    rmdir(dir);
}

#endif
