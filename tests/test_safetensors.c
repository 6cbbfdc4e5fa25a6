/* test_safetensors.c: the safetensors reader on small files written here,
 * good and bad: every header and offset check, dtype conversion, shards. */
#include "check.h"
#include "hf_files.h"
#include "io/safetensors.h"

#include <math.h>

static char *dir;

/* Open one file; returns the status and leaves s for the caller to free. */
static hw_status open1(hw_st_set *s, const char *path) {
    memset(s, 0, sizeof *s);
    hw_status st = hw_st_add_file(s, path);
    if (st == HW_OK) st = hw_st_finish(s);
    return st;
}

/* Write header + data as name, open it, expect status want and a message
 * containing both the file's path and `needle`. */
static void expect_bad(const char *name, const char *header, const void *data, size_t n,
                       uint64_t header_len, hw_status want, const char *needle) {
    const char *path = hf_path(dir, name);
    CHECK(hf_write_st(path, header, data, n, header_len) == 0, "write %s", path);
    hw_st_set s;
    hw_status st = open1(&s, path);
    CHECK(st == want, "%s: status %s, want %s (%s)", name, hw_status_str(st), hw_status_str(want),
          hw_last_error());
    CHECK(strstr(hw_last_error(), path) != NULL, "%s: message names the file: %s", name,
          hw_last_error());
    CHECK(strstr(hw_last_error(), needle) != NULL, "%s: message has \"%s\": %s", name, needle,
          hw_last_error());
    hw_st_free(&s);
}

static void test_good_file(void) {
    /* F32 (2, 3), BF16 (2), F16 (3), an I64 buffer the loader never uses. */
    uint8_t data[24 + 4 + 6 + 8];
    float f[6] = {1, -2, 3.5f, 0.25f, -0.0f, 1e-3f};
    memcpy(data, f, 24);
    const uint8_t bf[4] = {0x80, 0x3f, 0x20, 0xc0};        /* 1.0, -2.5 */
    const uint8_t hf[6] = {0x00, 0x3c, 0x01, 0x00, 0x00, 0x7c}; /* 1.0, 2^-24, +inf */
    memcpy(data + 24, bf, 4);
    memcpy(data + 28, hf, 6);
    memset(data + 34, 7, 8);
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[28,34]},"
                    "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[34,42]},"
                    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[42,42]}}";
    const char *path = hf_path(dir, "good.safetensors");
    CHECK(hf_write_st(path, h, data, sizeof data, 0) == 0, "write");
    hw_st_set s;
    hw_status st = open1(&s, path);
    CHECK(st == HW_OK, "open: %s", hw_last_error());
    CHECK(s.n_tensors == 5, "5 tensors (metadata skipped), got %d", s.n_tensors);
    const hw_st_tensor *w = hw_st_find(&s, "w"), *b = hw_st_find(&s, "b"), *hh = hw_st_find(&s, "h");
    CHECK(w && b && hh && hw_st_find(&s, "ids") && hw_st_find(&s, "empty"), "all found");
    CHECK(!hw_st_find(&s, "__metadata__") && !hw_st_find(&s, "x"), "absent names not found");
    if (w && b && hh) {
        CHECK(w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 3 && w->numel == 6, "w shape");
        CHECK(w->dtype == HW_ST_F32 && b->dtype == HW_ST_BF16 && hh->dtype == HW_ST_F16, "dtypes");
        float out[6];
        hw_st_to_f32(w, out);
        CHECK(memcmp(out, f, sizeof f) == 0, "f32 values");
        hw_st_to_f32(b, out);
        CHECK(out[0] == 1.0f && out[1] == -2.5f, "bf16 values %g %g", out[0], out[1]);
        hw_st_to_f32(hh, out);
        CHECK(out[0] == 1.0f && out[1] == ldexpf(1, -24) && isinf(out[2]) && out[2] > 0,
              "f16 values %g %g %g", out[0], out[1], out[2]);
    }
    const hw_st_tensor *e = hw_st_find(&s, "empty");
    CHECK(e && e->numel == 0 && e->nbytes == 0, "zero-size tensor");
    hw_st_free(&s);
    CHECK(s.n_tensors == 0 && s.files == NULL, "free clears the set");
}

/* Every one of the 65536 halves against the IEEE formula. */
static void test_f16_exhaustive(void) {
    static uint8_t data[65536 * 2];
    static float out[65536];
    for (int i = 0; i < 65536; i++) data[2 * i] = (uint8_t)i, data[2 * i + 1] = (uint8_t)(i >> 8);
    hw_st_tensor t = {.name = "t", .dtype = HW_ST_F16, .ndim = 1, .numel = 65536, .data = data,
                      .nbytes = sizeof data};
    hw_st_to_f32(&t, out);
    int bad = 0;
    for (int i = 0; i < 65536; i++) {
        int sign = i >> 15, exp = (i >> 10) & 31, man = i & 1023;
        double v = exp == 0 ? ldexp(man, -24) : ldexp(1024 + man, exp - 25);
        if (sign) v = -v;
        if (exp == 31) {
            if (man ? !isnan(out[i]) : !(isinf(out[i]) && (out[i] < 0) == sign)) bad++;
        } else if (out[i] != (float)v || (signbit(out[i]) != 0) != (sign != 0)) bad++;
    }
    CHECK(bad == 0, "%d halves converted wrongly", bad);
}

static void test_bad_headers(void) {
    float z[4] = {0};
    /* Under 8 bytes: no room for the length. */
    const char *p = hf_path(dir, "tiny.safetensors");
    CHECK(hf_write(p, "abc", 3) == 0, "write");
    hw_st_set s;
    hw_status st = open1(&s, p);
    CHECK(st == HW_ERR_FORMAT && strstr(hw_last_error(), "truncated"), "tiny: %s", hw_last_error());
    hw_st_free(&s);
    const char *ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    expect_bad("long.safetensors", ok, z, sizeof z, 1000, HW_ERR_FORMAT, "truncated");
    expect_bad("huge.safetensors", ok, z, sizeof z, (uint64_t)200 << 20, HW_ERR_FORMAT, "limit");
    expect_bad("json.safetensors", "{\"w\":", z, sizeof z, 0, HW_ERR_FORMAT, "JSON");
    expect_bad("array.safetensors", "[1,2]", z, sizeof z, 0, HW_ERR_FORMAT, "JSON object");
}

static void test_bad_tensors(void) {
    float z[4] = {0};
    /* The data area ends before the tensor does: a truncated file. */
    expect_bad("cut.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
               z, 12, 0, HW_ERR_FORMAT, "tensor w");
    expect_bad("order.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "tensor w");
    expect_bad("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "16 bytes for 3");
    expect_bad("f16size.safetensors", "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "tensor w");
    expect_bad("dtype.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_UNSUPPORTED, "Q4");
    /* A product that wraps in 64 bits must not sneak past the size check. */
    expect_bad("overflow.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "tensor w");
    expect_bad("negdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "shape[0]");
    expect_bad("fracdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "shape[0]");
    expect_bad("offs.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "data_offsets");
    expect_bad("noshape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", z,
               sizeof z, 0, HW_ERR_FORMAT, "shape");
    expect_bad("nodtype.safetensors", "{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", z,
               sizeof z, 0, HW_ERR_FORMAT, "dtype");
    expect_bad("dims.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_UNSUPPORTED, "dimensions");
    /* Two tensors sharing bytes: a writer never does that. */
    expect_bad("overlap.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "overlap");
    /* JSON is UTF-8; a header that is not is refused before parsing. */
    expect_bad("utf8.safetensors", "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
               z, sizeof z, 0, HW_ERR_FORMAT, "UTF-8");
}

static void test_missing_file(void) {
    hw_st_set s;
    const char *p = hf_path(dir, "nope.safetensors");
    hw_status st = open1(&s, p);
    CHECK(st == HW_ERR_IO && strstr(hw_last_error(), p), "missing: %s", hw_last_error());
    hw_st_free(&s);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/emptydir", dir);
    CHECK(mkdir(sub, 0700) == 0, "mkdir");
    memset(&s, 0, sizeof s);
    st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_ERR_IO && strstr(hw_last_error(), "model.safetensors"), "empty folder: %s",
          hw_last_error());
    hw_st_free(&s);
    rmdir(sub);
}

/* A folder with an index and two shards; then broken variants of it. */
static void test_sharded(void) {
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sharded", dir);
    CHECK(mkdir(sub, 0700) == 0, "mkdir");
    float a[2] = {1, 2}, b[4] = {3, 4, 5, 6};
    hf_write_st(hf_path(sub, "m-1.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, 8, 0);
    hf_write_st(hf_path(sub, "m-2.safetensors"),
                "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", b, 16, 0);
    const char *idx = hf_path(sub, "model.safetensors.index.json");
    const char *good = "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"a\":\"m-1.safetensors\","
                       "\"b\":\"m-2.safetensors\",\"c\":\"m-2.safetensors\"}}";
    hf_write(idx, good, strlen(good));
    hw_st_set s = {0};
    hw_status st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_OK, "sharded: %s", hw_last_error());
    CHECK(s.n_files == 2 && s.n_tensors == 3, "2 files, 3 tensors: %d %d", s.n_files, s.n_tensors);
    const hw_st_tensor *tb = hw_st_find(&s, "b"), *ta = hw_st_find(&s, "a");
    CHECK(ta && tb && ta->file != tb->file, "tensors know their shard");
    if (tb) {
        float out[3];
        hw_st_to_f32(tb, out);
        CHECK(out[0] == 3 && out[2] == 5, "shard data");
    }
    hw_st_free(&s);

    /* weight_map places c in the wrong shard. */
    const char *wrong = "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-2.safetensors\","
                        "\"c\":\"m-1.safetensors\"}}";
    hf_write(idx, wrong, strlen(wrong));
    memset(&s, 0, sizeof s);
    st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_ERR_FORMAT && strstr(hw_last_error(), "tensor c"), "wrong shard: %s",
          hw_last_error());
    hw_st_free(&s);
    /* A shard that is not there. */
    const char *gone = "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-3.safetensors\"}}";
    hf_write(idx, gone, strlen(gone));
    memset(&s, 0, sizeof s);
    st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_ERR_IO && strstr(hw_last_error(), "m-3.safetensors"), "missing shard: %s",
          hw_last_error());
    hw_st_free(&s);
    /* A shard name that leaves the folder. */
    const char *escape = "{\"weight_map\":{\"a\":\"../m-1.safetensors\"}}";
    hf_write(idx, escape, strlen(escape));
    memset(&s, 0, sizeof s);
    st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_ERR_FORMAT && strstr(hw_last_error(), "shard"), "escape: %s", hw_last_error());
    hw_st_free(&s);
    /* The same tensor in two shards. */
    hf_write_st(hf_path(sub, "m-3.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, 8, 0);
    const char *dup = "{\"weight_map\":{\"a\":\"m-1.safetensors\",\"b\":\"m-3.safetensors\"}}";
    hf_write(idx, dup, strlen(dup));
    memset(&s, 0, sizeof s);
    st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_ERR_FORMAT && strstr(hw_last_error(), "twice"), "duplicate: %s", hw_last_error());
    hw_st_free(&s);
    /* An index without a weight_map. */
    hf_write(idx, "{}", 2);
    memset(&s, 0, sizeof s);
    st = hw_st_open_folder(&s, sub);
    CHECK(st == HW_ERR_FORMAT && strstr(hw_last_error(), "weight_map"), "no map: %s", hw_last_error());
    hw_st_free(&s);
    hf_rmdir(sub);
}

int main(void) {
    dir = hf_tempdir();
    if (!dir) {
        printf("FAIL tempdir\n");
        return 1;
    }
    RUN(test_good_file);
    RUN(test_f16_exhaustive);
    RUN(test_bad_headers);
    RUN(test_bad_tensors);
    RUN(test_missing_file);
    RUN(test_sharded);
    hf_rmdir(dir);
    CHECK_DONE();
}
