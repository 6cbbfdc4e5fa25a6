/*
 * test_niah_grid.c: hw_niah_grid_run (src/eval/niah_grid.c) as a library call: the grid
 * and its accessors, the progress callback (once per trial, and a stop), the policy's
 * KV bytes and chunk against the cache layout's arithmetic, a window covering the
 * context giving full attention's every answer, the writers, and refused parameters.
 * Task trials on a small random-weight model (fast, no files); text trials on
 * stories260K ($HW_SHARED), run from the repository's root (data/ is read from there).
 * What the grid measures on a trained model is tests/niah_grid_test.sh's concern.
 */
#include "check.h"
#include "headwise.h"

#include <stdlib.h>
#include <string.h>

#define EXPECT(cond) CHECK(cond, "%s", "")

enum { C = 64, V = 192, L = 2, HK = 2, DH = 16 };

static hw_model *random_model(void) {
    hw_config cfg = {0};
    strcpy(cfg.arch, "llama");
    cfg.n_layer = L, cfg.d_model = 64, cfg.n_head = 4, cfg.n_kv_head = HK;
    cfg.head_dim = DH, cfg.d_ff = 96, cfg.vocab_size = V, cfg.n_ctx = C;
    cfg.norm = HW_NORM_RMS, cfg.norm_eps = 1e-5f, cfg.pos = HW_POS_ROTARY;
    cfg.rope_layout = HW_ROPE_HALVES, cfg.rope_theta = 10000.0f, cfg.rotary_frac = 1.0f;
    cfg.act = HW_ACT_SILU_GATED;
    cfg.bos_id = 0, cfg.eos_id = -1;
    return hw_model_new_random(&cfg, 11);
}

static hw_model *m;

static hw_niah_grid_params task_params(const hw_kv_policy *kv) {
    hw_niah_grid_params p = hw_niah_grid_params_default();
    p.task = "retrieval";
    p.samples = 3;
    p.niah.length_min = 32, p.niah.length_max = 64, p.niah.n_lengths = 3;
    p.niah.n_depths = 4;
    p.kv = kv;
    p.label = "random";
    return p;
}

static void grid_and_accessors(void) {
    hw_niah_grid_params p = task_params(NULL);
    hw_niah_grid_result *r = NULL;
    CHECK(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_OK && r, "%s", hw_last_error());
    if (!r) return;
    const int *len, *dep;
    EXPECT(hw_niah_grid_result_lengths(r, &len) == 3 && len[0] == 32 && len[1] == 48 && len[2] == 64);
    EXPECT(hw_niah_grid_result_depths(r, &dep) == 4 && dep[0] == 0 && dep[1] == 33 && dep[2] == 67 && dep[3] == 100);
    double sum[3] = {0, 0, 0};
    for (int li = 0; li < 3; li++)
        for (int di = 0; di < 4; di++) {
            int n;
            double e, rc, f;
            EXPECT(hw_niah_grid_result_cell(r, li, di, &n, &e, &rc, &f) == HW_OK);
            EXPECT(n == 3 && e >= 0 && e <= rc && rc <= 1 && f >= 0 && f <= 1);
            sum[0] += e, sum[1] += rc, sum[2] += f;
        }
    int n;
    double e, rc, f;
    hw_niah_grid_result_overall(r, &n, &e, &rc, &f);
    EXPECT(n == 36 && fabs(e - sum[0] / 12) < 1e-12 && fabs(rc - sum[1] / 12) < 1e-12 && fabs(f - sum[2] / 12) < 1e-12);
    EXPECT(hw_niah_grid_result_cell(r, 3, 0, NULL, NULL, NULL, NULL) == HW_ERR_ARG);
    EXPECT(hw_niah_grid_result_cell(r, 0, -1, NULL, NULL, NULL, NULL) == HW_ERR_ARG);
    size_t full, b = hw_niah_grid_result_kv_bytes(r, 2, &full);
    EXPECT(b == full && full == (size_t)2 * L * HK * 64 * DH * sizeof(float));
    EXPECT(hw_niah_grid_result_kv_bytes(r, 3, &full) == 0 && full == 0);
    EXPECT(!strcmp(hw_niah_grid_result_policy(r), "full") && hw_niah_grid_result_chunk(r) == 512);
    hw_niah_grid_result_free(r);
    hw_niah_grid_result_free(NULL);
}

typedef struct { int calls, last, total, stop_at; } progress_log;

static int on_progress(const char *stage, int64_t done, int64_t total, void *user) {
    progress_log *l = user;
    l->calls++;
    if (done != l->last + 1 || !stage || !strstr(stage, "length")) l->last = -1000;
    else l->last = (int)done;
    l->total = (int)total;
    return l->stop_at && done == l->stop_at;
}

static void progress_each_trial_and_stop(void) {
    hw_niah_grid_params p = task_params(NULL);
    hw_niah_grid_result *r = NULL;
    progress_log l = {0};
    EXPECT(hw_niah_grid_run(m, NULL, &p, on_progress, &l, &r) == HW_OK && r);
    CHECK(l.calls == 36 && l.last == 36 && l.total == 36, "calls %d last %d total %d", l.calls, l.last, l.total);
    hw_niah_grid_result_free(r);
    l = (progress_log){.stop_at = 5};
    r = (hw_niah_grid_result *)&l; /* must be cleared */
    EXPECT(hw_niah_grid_run(m, NULL, &p, on_progress, &l, &r) == HW_ERR_ARG && r == NULL && l.calls == 5);
    EXPECT(strstr(hw_last_error(), "stopped") != NULL);
}

static void window_bytes_and_chunk(void) {
    hw_kv_policy *kv = hw_kv_policy_new(m, 2, 8, 4, HW_KV_COMP_NONE);
    hw_niah_grid_params p = task_params(kv);
    hw_niah_grid_result *r = NULL;
    EXPECT(kv && hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_OK && r);
    if (r) {
        for (int li = 0; li < 3; li++) {
            size_t full, b = hw_niah_grid_result_kv_bytes(r, li, &full);
            const int T = 32 + 16 * li;
            /* every head a ring of sink + recent rows, against T rows */
            EXPECT(b == (size_t)2 * L * HK * (2 + 8) * DH * sizeof(float));
            EXPECT(full == (size_t)2 * L * HK * T * DH * sizeof(float));
        }
        EXPECT(hw_niah_grid_result_chunk(r) == 4 && !strcmp(hw_niah_grid_result_policy(r), "window"));
    }
    hw_niah_grid_result_free(r);
    hw_kv_policy_free(kv);
}

/* Every trial's answer is in the JSON; a window that never wraps is the full cache. */
static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* The JSON from "trial_results" on (the answers), or "" */
static const char *answers(const char *json) {
    const char *s = json ? strstr(json, "\"trial_results\"") : NULL;
    return s ? s : "";
}

static void covering_window_is_full(void) {
    char tmp[] = "/tmp/hw_niah_grid.XXXXXX";
    if (!mkdtemp(tmp)) {
        CHECK(0, "%s", "mkdtemp");
        return;
    }
    char a[128], b[128], h[128];
    snprintf(a, sizeof a, "%s/full.json", tmp);
    snprintf(b, sizeof b, "%s/win.json", tmp);
    snprintf(h, sizeof h, "%s/sub/page.html", tmp);
    hw_kv_policy *kv = hw_kv_policy_new(m, 0, C, 4, HW_KV_COMP_NONE);
    hw_niah_grid_params pf = task_params(NULL), pw = task_params(kv);
    pf.samples = pw.samples = 5;
    hw_niah_grid_result *rf = NULL, *rw = NULL;
    EXPECT(hw_niah_grid_run(m, NULL, &pf, NULL, NULL, &rf) == HW_OK && hw_niah_grid_run(m, NULL, &pw, NULL, NULL, &rw) == HW_OK);
    EXPECT(hw_niah_grid_result_write(rf, a) == HW_OK && hw_niah_grid_result_write(rw, b) == HW_OK);
    EXPECT(hw_niah_grid_result_write_html(rw, h) == HW_OK);
    char *ja = read_all(a), *jb = read_all(b), *jh = read_all(h);
    EXPECT(ja && jb && jh && strstr(ja, "\"answer\"") && !strcmp(answers(ja), answers(jb)));
    EXPECT(jb && strstr(jb, "\"chunk\":\t4") && strstr(jb, "chunks of 4 rows"));
    EXPECT(jh && strstr(jh, "<table") && !strstr(jh, "http://") && !strstr(jh, "https://"));
    free(ja), free(jb), free(jh);
    hw_niah_grid_result_free(rf);
    hw_niah_grid_result_free(rw);
    hw_kv_policy_free(kv);
    char rm[160];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    EXPECT(system(rm) == 0);
}

static void refused(void) {
    hw_niah_grid_result *r = NULL;
    hw_niah_grid_params p = task_params(NULL);
    EXPECT(hw_niah_grid_run(NULL, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG && !r);
    EXPECT(hw_niah_grid_run(m, NULL, NULL, NULL, NULL, &r) == HW_ERR_ARG);
    p.samples = 0;
    EXPECT(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) != HW_OK && !r);
    /* Past the context: refused for learned positions, run for rotary ones (LongHeads). */
    p = task_params(NULL);
    p.niah.length_max = C + 1;
    hw_config lc = *hw_model_config(m);
    lc.pos = HW_POS_LEARNED;
    hw_model *learned = hw_model_new_random(&lc, 1);
    EXPECT(learned && hw_niah_grid_run(learned, NULL, &p, NULL, NULL, &r) == HW_ERR_RANGE &&
           strstr(hw_last_error(), "context"));
    hw_model_free(learned);
    EXPECT(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_OK && r);
    hw_niah_grid_result_free(r);
    r = NULL;
    p = task_params(NULL);
    p.niah.n_depths = 0;
    EXPECT(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG);
    p = task_params(NULL);
    p.task = "successor";
    EXPECT(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "greedy"));
    p = task_params(NULL);
    p.task = NULL; /* text trials need a tokenizer */
    EXPECT(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG && !r);
    /* a policy made for another shape of model */
    hw_config cfg = *hw_model_config(m);
    cfg.n_layer = 3;
    hw_model *other = hw_model_new_random(&cfg, 1);
    hw_kv_policy *kv = other ? hw_kv_policy_new(other, 1, 4, 0, HW_KV_COMP_NONE) : NULL;
    p = task_params(kv);
    EXPECT(kv && hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) != HW_OK && !r);
    hw_kv_policy_free(kv);
    hw_model_free(other);
    EXPECT(hw_niah_grid_result_write(NULL, "/tmp/x.json") == HW_ERR_ARG);
    EXPECT(hw_niah_grid_result_write_html(NULL, "/tmp/x.html") == HW_ERR_ARG);
}

/* Text needles on stories260K: cells hold every needle, exact is ROUGE-1 recall 1. */
static void text_trials(void) {
    hw_model *sm = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    hw_tokenizer *t = sm ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512) : NULL;
    CHECK(sm && t, "%s (set HW_SHARED)", hw_last_error());
    if (!sm || !t) {
        hw_model_free(sm);
        return;
    }
    static const char *const hay[] = {"data/haystack/stories.txt"};
    hw_niah_grid_params p = hw_niah_grid_params_default();
    p.niah.needles_path = "data/needles/stories.jsonl";
    p.niah.haystack_paths = hay, p.niah.n_haystacks = 1;
    p.niah.template_text = "{context}{question}";
    p.niah.length_min = 128, p.niah.length_max = 192, p.niah.n_lengths = 2;
    p.niah.n_depths = 3, p.niah.buffer = 64;
    hw_niah_grid_result *r = NULL;
    CHECK(hw_niah_grid_run(sm, t, &p, NULL, NULL, &r) == HW_OK && r, "%s", hw_last_error());
    if (r) {
        int n;
        double e, rc;
        EXPECT(hw_niah_grid_result_lengths(r, NULL) == 2 && hw_niah_grid_result_depths(r, NULL) == 3);
        for (int li = 0; li < 2; li++)
            for (int di = 0; di < 3; di++) EXPECT(hw_niah_grid_result_cell(r, li, di, &n, &e, &rc, NULL) == HW_OK && n == 2);
        hw_niah_grid_result_overall(r, &n, &e, &rc, NULL);
        EXPECT(n == 12 && e <= rc);
    }
    hw_niah_grid_result_free(r);
    hw_tokenizer_free(t);
    hw_model_free(sm);
}

int main(void) {
    hw_set_threads(1);
    m = random_model();
    if (!m) return fprintf(stderr, "test_niah_grid: %s\n", hw_last_error()), 1;
    RUN(grid_and_accessors);
    RUN(progress_each_trial_and_stop);
    RUN(window_bytes_and_chunk);
    RUN(covering_window_is_full);
    RUN(refused);
    RUN(text_trials);
    hw_model_free(m);
    CHECK_DONE();
}
