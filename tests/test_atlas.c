/* test_atlas.c: the head atlas (hw_atlas_run and its writers) on stories260K, and the
 * pattern viewer's binning and byte coding (src/report/pattern_view.c):
 *   - a 32 x 32-head model's page at 1K tokens is binned to fit 5 MB; small pages are not
 *     binned; binned rows keep their attention (each bin row sums to 1) and the
 *     previous-token diagonal lands in its bins; round(255 sqrt(w)) decodes within half
 *     a step;
 *   - text probes find stories260K's previous-token head 1.3 (about 0.6, the issue's
 *     number; random ids give it 0.60 too, and 3.6 0.75, so the "no head above
 *     0.05 on random ids" is not asserted); labels follow the thresholds (a threshold
 *     above every score removes the label);
 *   - DuoAttention gates are read per KV head and given to each of its query heads;
 *   - atlas.json has the keys, and the policy's --kv flag parsed by
 *     hw_kv_policy_parse holds exactly the KV bytes the atlas reports;
 *   - bad settings fail before any probe runs; a progress callback stops the run;
 *     accessors accept NULL. Run from the repository's root (data/ is read there). */
#include "check.h"
#include "headwise.h"
#include "report/pattern_view.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static hw_model *model;
static hw_tokenizer *tok;
static char tmp[256];

static void view_binning(void) {
    const int R = hw_view_bins(1023, 32 * 32, HW_VIEW_BUDGET);
    const size_t bytes = 32 * 32 * hw_view_packed_size(R), b64 = (bytes + 2) / 3 * 4;
    CHECK(R >= 64 && R < 1023 && b64 + 300000 < 5000000, "R %d: %zu bytes of base64", R, b64);
    CHECK(hw_view_bins(64, 32, HW_VIEW_BUDGET) == 64, "a small page is binned");
    /* A previous-token pattern over T = 10 tokens (row 0 on itself) in R = 4 bins. */
    enum { T = 10, B = 4 };
    float w[T * T] = {0};
    for (int q = 0; q < T; q++) w[q * T + (q ? q - 1 : 0)] = 1;
    double acc[B * B] = {0};
    hw_view_bin_rows(acc, w, 6, 0, T, T, B);        /* rows in two calls, as chunks come */
    hw_view_bin_rows(acc, w + 6 * T, 4, 6, T, T, B);
    unsigned char packed[B * (B + 1) / 2];
    hw_view_pack(acc, T, B, packed);
    for (int q = 0, o = 0; q < B; q++) {
        double sum = 0;
        for (int k = 0; k <= q; k++, o++) sum += (packed[o] / 255.0) * (packed[o] / 255.0);
        CHECK(fabs(sum - 1) < 0.02, "bin row %d sums to %g", q, sum);
    }
    /* Bins [0,2) [2,5) [5,7) [7,10): bin 1's rows 2, 3, 4 read 1, 2, 3: one third in bin 0. */
    const double b10 = (packed[1] / 255.0) * (packed[1] / 255.0);
    CHECK(fabs(b10 - 1.0 / 3) < 0.01, "bin (1, 0) %g", b10);
    for (int v = 0; v <= 100; v++) {
        double x = v / 100.0, a = 0;
        unsigned char c;
        a = x;
        hw_view_pack(&a, 1, 1, &c);
        CHECK(fabs(c / 255.0 - sqrt(x)) <= 0.5 / 255 + 1e-9, "weight %g coded %d", x, c);
    }
}

static hw_atlas_params quick(void) {
    hw_atlas_params p = hw_atlas_params_default();
    p.skip = HW_ATLAS_SKIP_RETRIEVAL | HW_ATLAS_SKIP_MASK | HW_ATLAS_SKIP_KV_EVAL;
    p.probe_tokens = 192;
    p.label = "stories260K";
    p.niah.data_dir = "data";   /* run from the repository root */
    return p;
}

static void text_probes(void) {
    hw_atlas_params p = quick();
    hw_atlas_result *r = NULL;
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    const double *prev = hw_atlas_score(r, "prev_token"), *st = hw_atlas_score(r, "streaming");
    CHECK(prev && st && !hw_atlas_score(r, "retrieval") && !hw_atlas_score(r, "attribution"), "scores run");
    if (!prev || !st) return;
    const int i13 = 1 * 8 + 3;
    CHECK(prev[i13] > 0.45 && prev[i13] < 0.8, "head 1.3 previous-token %g", prev[i13]);
    hw_atlas_label lab[2];
    int n = hw_atlas_labels(r, 1, 3, lab), has = 0;
    for (int k = 0; k < n; k++) has |= lab[k] == HW_ATLAS_PREV_TOKEN;
    CHECK(has, "head 1.3 not labelled previous-token (%d labels)", n);
    for (int i = 0; i < 40; i++) CHECK(st[i] >= 0 && st[i] <= 1 + 1e-9, "streaming %g", st[i]);
    const int *toks;
    const char *const *texts;
    CHECK(hw_atlas_probe(r, &toks, &texts) == 191 && toks[0] == hw_tokenizer_bos(tok) && toks[1] == toks[96] &&
          texts[1][0], "the probe is BOS + the text twice");
    /* A threshold above every score takes the label away. */
    hw_atlas_params p2 = quick();
    p2.thresholds.prev_token = 0.99;
    hw_atlas_result *r2 = NULL;
    CHECK(hw_atlas_run(model, tok, &p2, NULL, NULL, &r2) == HW_OK, "%s", hw_last_error());
    n = r2 ? hw_atlas_labels(r2, 1, 3, lab) : -1;
    for (int k = 0; k < n; k++) CHECK(lab[k] != HW_ATLAS_PREV_TOKEN, "previous-token at threshold 0.99");
    hw_atlas_free(r2);
    hw_atlas_free(r);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void files_and_policy(void) {
    hw_atlas_params p = quick();
    p.recent = 32;
    hw_atlas_result *r = NULL;
    char dir[300], path[400], flag[600], mask[400];
    snprintf(dir, sizeof dir, "%s/out", tmp);
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) == HW_OK && hw_atlas_write(r, dir) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    snprintf(path, sizeof path, "%s/atlas.json", dir);
    char *text = slurp(path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(j, "atlas.json parses");
    const char *keys[] = {"model", "layers", "heads", "kv_heads", "heads_info", "kv_policy"};
    for (int k = 0; j && k < 6; k++) CHECK(cJSON_GetObjectItem(j, keys[k]), "no %s", keys[k]);
    cJSON *hi = j ? cJSON_GetObjectItem(j, "heads_info") : NULL, *kv = j ? cJSON_GetObjectItem(j, "kv_policy") : NULL;
    CHECK(cJSON_GetArraySize(hi) == 40, "heads_info of %d", cJSON_GetArraySize(hi));
    cJSON *h0 = cJSON_GetArrayItem(hi, 0);
    CHECK(h0 && cJSON_GetObjectItem(h0, "labels") && cJSON_GetObjectItem(h0, "scores") &&
          cJSON_GetObjectItem(h0, "mask_effect"), "a head's keys");
    CHECK(kv && cJSON_GetObjectItem(kv, "full_heads") && cJSON_GetObjectItem(kv, "kv_bytes") &&
          cJSON_IsString(cJSON_GetObjectItem(kv, "flag")), "kv_policy's keys");
    snprintf(path, sizeof path, "%s/atlas.html", dir);
    char *html = slurp(path);
    CHECK(html && strstr(html, "id=\"head-card\"") && strstr(html, "atlas-data") && strstr(html, "HWView"), "page");
    /* The flag names the mask written beside atlas.json; parsed, it is the policy. */
    snprintf(mask, sizeof mask, "%s/full_heads.tsv", dir);
    hw_atlas_kv_flag(r, mask, flag, sizeof flag);
    hw_atlas_kv k;
    hw_atlas_kv_get(r, &k);
    hw_kv_policy *pol = hw_kv_policy_parse(model, tok, flag);
    hw_context *c = pol ? hw_context_new_kv(model, k.context, pol) : NULL;
    CHECK(c && hw_context_kv_bytes(c, -1, -1) == k.bytes_policy, "%s: %zu bytes vs the atlas's %zu", flag,
          c ? hw_context_kv_bytes(c, -1, -1) : 0, k.bytes_policy);
    CHECK(k.recent == 32 && k.sink == 4 && k.bytes_policy < k.bytes_full, "sink %d recent %d", k.sink, k.recent);
    hw_context_free(c);
    hw_kv_policy_free(pol);
    free(html);
    cJSON_Delete(j);
    free(text);
    hw_atlas_free(r);
}

/* DuoAttention gates (L lines of Hk values) become each query head's KV head's gate. */
static void gates(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/gates.tsv", tmp);
    FILE *f = fopen(path, "w");
    for (int l = 0; f && l < 5; l++) fprintf(f, "%g\t%g\t%g\t%g\n", l + 0.1, l + 0.2, l + 0.3, l + 0.4);
    if (f) fclose(f);
    hw_atlas_params p = quick();
    p.gates_path = path;
    p.skip |= HW_ATLAS_SKIP_ECHO | HW_ATLAS_SKIP_SUCCESSOR;
    hw_atlas_result *r = NULL;
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    const double *g = hw_atlas_score(r, "duo_gate");
    CHECK(g && !hw_atlas_score(r, "echo") && !hw_atlas_score(r, "successor"), "gates read, echo and successor skipped");
    for (int i = 0; g && i < 40; i++) {
        const double want = i / 8 + 0.1 * (i % 8 / 2 + 1);
        CHECK(fabs(g[i] - want) < 1e-9, "head %d.%d gate %g, want %g", i / 8, i % 8, g[i], want);
    }
    hw_atlas_free(r);
}

static int stop_at_first(const char *stage, int64_t done, int64_t total, void *user) {
    ++*(int *)user;
    return 1;
}

static void errors(void) {
    hw_atlas_result *r = (hw_atlas_result *)1;
    hw_atlas_params p = quick();
    p.thresholds.echo = NAN;
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && !r && strstr(hw_last_error(), "threshold"),
          "NaN threshold: %s", hw_last_error());
    p = quick();
    p.echo_repeats = 1;
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "echo_repeats 1");
    p = quick();
    CHECK(hw_atlas_run(model, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "tokenizer"),
          "text model without tokenizer: %s", hw_last_error());
    p.task.name = "nope";
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) != HW_OK, "unknown task");
    p = quick();
    p.gates_path = "/nonexistent/gates.tsv";
    CHECK(hw_atlas_run(model, tok, &p, NULL, NULL, &r) != HW_OK && strstr(hw_last_error(), "nonexistent"),
          "missing gates: %s", hw_last_error());
    p = quick();
    int calls = 0;
    CHECK(hw_atlas_run(model, tok, &p, stop_at_first, &calls, &r) == HW_ERR_ARG && calls == 1 && !r &&
          strstr(hw_last_error(), "stopped"), "stop: %s", hw_last_error());
    hw_atlas_kv k = {0};
    hw_atlas_mask_effect e;
    hw_atlas_free(NULL);
    hw_atlas_kv_get(NULL, &k);
    CHECK(!hw_atlas_score(NULL, "echo") && hw_atlas_labels(NULL, 0, 0, NULL) == -1 &&
          hw_atlas_mask_effect_get(NULL, 0, 0, &e) == HW_ERR_ARG && hw_atlas_probe(NULL, NULL, NULL) == 0 &&
          hw_atlas_write(NULL, tmp) == HW_ERR_ARG && !hw_atlas_label_name(HW_ATLAS_LABELS) &&
          !strcmp(hw_atlas_label_name(HW_ATLAS_PREV_TOKEN), "previous-token"), "NULL-safe accessors");
}

int main(void) {
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    tok = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512);
    snprintf(tmp, sizeof tmp, "/tmp/hw_test_atlas_%d", (int)getpid());
    hw_dir_create(tmp);
    if (!model || !tok) {
        printf("FAIL load: %s\n", hw_last_error());
        return 1;
    }
    RUN(view_binning);
    RUN(text_probes);
    RUN(files_and_policy);
    RUN(gates);
    RUN(errors);
    hw_model_free(model);
    hw_tokenizer_free(tok);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) return 1;
    CHECK_DONE();
}
