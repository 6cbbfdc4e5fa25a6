/* fuzz_kv_heads.c: the head-importance files a KV-cache policy reads
 * (hw_kv_head_scores_read: retrieval JSON, "layer head ..." tables, DuoAttention's
 * full_attention_heads.tsv with a config.json beside it, 0/1 masks) and the --kv text
 * itself (hw_kv_policy_parse on stories260K, $HW_SHARED, default ../shared, loaded once).
 *
 * Input: one selector byte, then the heads file, then optionally a NUL and a config.json
 * written beside it (removed when absent). Selector bits 0-1: the model shape the file is
 * read for, (0,0,0) (the file's own grid), (2,4,2), (2,4,4) or (3,2,1); bit 2: read the
 * "echo" column instead of the default one; bit 3: instead, the file is a --kv spec in
 * which every '@' stands for the path of the config part written as heads.tsv (a razor
 * spec without heads= is skipped: it runs the probe, a forward pass, not a parser). A
 * file that reads must give finite scores on the grid promised, and the selection rules
 * the counts they promise. */
#include "fuzz.h"

#include <math.h>

static hw_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *shared = getenv("HW_SHARED");
    char p[4096];
    snprintf(p, sizeof p, "%s/models/stories260K/stories260K.bin", shared ? shared : "../shared");
    model = hw_model_load(p);
    if (!model) {
        fprintf(stderr, "fuzz_kv_heads: %s (set HW_SHARED)\n", hw_last_error());
        abort(); /* the harness, not the readers, is broken */
    }
    return 0;
}

static void check_selection(const double *s, int n) {
    int *full = malloc(sizeof(int) * (size_t)n);
    if (!full) return;
    /* Distinct noisy values: n - ceil(pos) full; a tau rounded onto a neighbour (an
     * interpolation between values an ulp apart) at most one more. */
    double pos = 0.5 * (n - 1);
    int k = hw_duo_select_sparsity(s, n, 0.5, HW_DUO_SEED, full, NULL);
    if (k < n - (int)ceil(pos) || k > n - (int)floor(pos)) abort();
    k = hw_duo_select_top(s, n, 0.25, full);
    if (k != (int)lround(0.25 * n)) abort();
    int sum = 0;
    for (int i = 0; i < n; i++) sum += full[i];
    if (sum != k) abort();
    free(full);
}

static void read_file(const char *path, int mode) {
    static const int shapes[4][3] = {{0, 0, 0}, {2, 4, 2}, {2, 4, 4}, {3, 2, 1}};
    const int *sh = shapes[mode & 3];
    double *s = NULL;
    hw_kv_file_info in;
    hw_status st = hw_kv_head_scores_read(path, mode & 4 ? "echo" : NULL, sh[0], sh[1], sh[2], &s, &in);
    fuzz_note(st == HW_OK);
    if (st != HW_OK) {
        if (s) abort(); /* nothing returned on failure */
        return;
    }
    const int n = in.n_layer * in.n_kv_head;
    if (!s || in.n_layer <= 0 || in.n_kv_head <= 0 || in.file_heads <= 0) abort();
    if (sh[0] && (in.n_layer != sh[0] || in.n_kv_head != sh[2] ||
                  (in.file_heads != sh[1] && in.file_heads != sh[2])))
        abort();
    if (in.kind < HW_KV_FILE_RETRIEVAL || in.kind > HW_KV_FILE_MASK || in.config_sink < -1 || in.config_recent < -1)
        abort();
    for (int i = 0; i < n; i++) {
        if (!isfinite(s[i])) abort();
        if (in.kind == HW_KV_FILE_MASK && s[i] != 0 && s[i] != 1) abort();
    }
    if (n <= (1 << 16)) check_selection(s, n);
    free(s);
}

static void parse_spec(const uint8_t *data, size_t size, const char *path) {
    size_t plen = strlen(path), n = 0;
    char *spec = malloc(size * (plen + 1) + 1);
    if (!spec) return;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '@') memcpy(spec + n, path, plen), n += plen;
        else spec[n++] = (char)data[i];
    }
    spec[n] = 0;
    if (!strncmp(spec, "razor", 5) && !strstr(spec, "heads=")) {
        free(spec);
        return;
    }
    hw_kv_policy *p = hw_kv_policy_parse(model, NULL, spec);
    fuzz_note(p != NULL);
    if (p) {
        const hw_config *c = hw_model_config(model);
        int full = hw_kv_policy_full_count(p);
        if (hw_kv_policy_layers(p) != c->n_layer || hw_kv_policy_kv_heads(p) != c->n_kv_head || full < 0 ||
            full > c->n_layer * c->n_kv_head || strcmp(hw_kv_policy_name(p), spec))
            abort();
    }
    hw_kv_policy_free(p);
    free(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *a, *b;
    size_t alen, blen;
    fuzz_split(data + 1, size - 1, &a, &alen, &b, &blen);
    const int spec_mode = data[0] & 8;
    /* The config part is config.json beside a file read, or the heads file of a spec. */
    const int config = !spec_mode && b > a + alen;
    if (config) fuzz_file("config.json", b, blen);
    else fuzz_unlink("config.json");
    if (spec_mode) {
        const char *heads = fuzz_file("heads.tsv", b, blen);
        parse_spec(a, alen, heads);
    } else {
        read_file(fuzz_file("heads.tsv", a, alen), data[0]);
    }
    return 0;
}
