/* test_kv_select.c: which KV heads keep a full cache (headwise.h, "KV-cache head
 * selection"; methods.md sections 2.3 and 3.1): DuoAttention's quantile rule against
 * numpy's numbers, the top rule, the head-importance files of every kind and their
 * errors, the per-KV-head max on GQA, and hw_kv_policy_parse on stories260K (5 layers,
 * 8 query heads, 4 KV heads) with each policy and each kind of error. */
#include "check.h"
#include "headwise.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];
static hw_model *model;

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

static const char *put(const char *name, const char *text) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
    return p;
}

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* ---- DuoAttention's quantile rule (section 2.3) */

static void quantile_rule_matches_numpy(void) {
    /* np.quantile([.05, .8, .35, .6, .2, .95, .45], q): 0.3 -> 0.32 (between 0.2 and
     * 0.35), 0.5 -> 0.45, 0.9 -> 0.86. The values are 0.05 apart, so the 1e-6 noise
     * moves tau by at most 1e-6 and changes no decision. */
    const double a[7] = {0.05, 0.8, 0.35, 0.6, 0.2, 0.95, 0.45};
    const double q[3] = {0.3, 0.5, 0.9}, want_tau[3] = {0.31999999999999995, 0.45, 0.8600000000000001};
    const int want_n[3] = {5, 4, 1};
    for (int k = 0; k < 3; k++) {
        int full[7];
        double tau;
        int n = hw_duo_select_sparsity(a, 7, q[k], HW_DUO_SEED, full, &tau);
        CHECK(n == want_n[k], "sparsity %g: %d full, want %d", q[k], n, want_n[k]);
        CHECK(fabs(tau - want_tau[k]) <= 1.01e-6, "sparsity %g: tau %.17g, numpy %.17g", q[k], tau, want_tau[k]);
        for (int i = 0; i < 7; i++)
            CHECK(full[i] == (a[i] >= want_tau[k]), "sparsity %g head %d", q[k], i);
    }
}

static void quantile_rule_clips_breaks_ties_and_ends(void) {
    /* Clipped to 0, 1, 0.5, 0.5: at sparsity 0.5 tau lies between the two 0.5s (position
     * 1.5), so the 1 and exactly one of them are full; which one is the noise's choice,
     * and over 20 seeds both happen. */
    const double a[4] = {-5, 2, 0.5, 0.5};
    int full[4], seen[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        double tau;
        int n = hw_duo_select_sparsity(a, 4, 0.5, seed, full, &tau);
        CHECK(n == 2 && full[1] && !full[0] && full[2] + full[3] == 1, "seed %llu: %d full",
              (unsigned long long)seed, n);
        CHECK(tau > 0.5 && tau < 0.5 + 1e-6, "tau %.17g", tau);
        seen[full[3]] = 1;
    }
    CHECK(seen[0] && seen[1], "the tie never went both ways");
    /* The same seed, the same choice. */
    int f1[4], f2[4];
    hw_duo_select_sparsity(a, 4, 0.5, 7, f1, NULL);
    hw_duo_select_sparsity(a, 4, 0.5, 7, f2, NULL);
    CHECK(!memcmp(f1, f2, sizeof f1), "seed 7 twice differs");
    /* The ends, as theirs: >= 1 all stream (tau 2), <= 0 none do (tau -1). */
    double tau;
    CHECK(hw_duo_select_sparsity(a, 4, 1, 1, full, &tau) == 0 && tau == 2, "sparsity 1");
    CHECK(hw_duo_select_sparsity(a, 4, 1.5, 1, full, &tau) == 0, "sparsity 1.5");
    CHECK(hw_duo_select_sparsity(a, 4, 0, 1, full, &tau) == 4 && tau == -1, "sparsity 0");
    CHECK(hw_duo_select_sparsity(a, 4, -0.2, 1, full, &tau) == 4, "sparsity -0.2");
}

static void quantile_rule_count_is_n_minus_ceil(void) {
    /* With distinct noisy values, alpha >= tau holds for the values from position
     * ceil(s (n - 1)) up: n - ceil(s (n - 1)) heads, even when all gates are equal. */
    const double s[3] = {0.25, 0.5, 0.75};
    for (int n = 1; n <= 64; n++)
        for (int k = 0; k < 3; k++) {
            double a[64];
            int full[64];
            for (int i = 0; i < n; i++) a[i] = n % 3 == 0 ? 1.0 : (i * 37 % n) / (double)n;
            int got = hw_duo_select_sparsity(a, n, s[k], (uint64_t)n, full, NULL);
            int want = n - (int)ceil(s[k] * (n - 1));
            CHECK(got == want, "n %d sparsity %g: %d full, want %d", n, s[k], got, want);
        }
}

static void quantile_rule_refuses_bad_input(void) {
    const double a[3] = {0.1, NAN, 0.3}, b[3] = {0.1, 0.2, INFINITY}, ok[3] = {0.1, 0.2, 0.3};
    int full[3];
    CHECK(hw_duo_select_sparsity(a, 3, 0.5, 1, full, NULL) == -1 && has(hw_last_error(), "not a finite"), "NaN");
    CHECK(hw_duo_select_sparsity(b, 3, 0.5, 1, full, NULL) == -1, "inf");
    CHECK(hw_duo_select_sparsity(ok, 0, 0.5, 1, full, NULL) == -1, "n 0");
    CHECK(hw_duo_select_sparsity(ok, 3, NAN, 1, full, NULL) == -1, "NaN sparsity");
}

/* ---- top rule */

static void top_rule_ties_to_lower_index(void) {
    const double s[4] = {0.2, 0.9, 0.9, 0.1};
    int full[4];
    CHECK(hw_duo_select_top(s, 4, 0.25, full) == 1 && full[1] && !full[2], "top 1: the lower of the tie");
    CHECK(hw_duo_select_top(s, 4, 0.5, full) == 2 && full[1] && full[2] && !full[0], "top 2");
    CHECK(hw_duo_select_top(s, 4, 0.625, full) == 3 && full[0] && !full[3], "round(2.5) = 3");
    CHECK(hw_duo_select_top(s, 4, 0, full) == 0 && !full[0] && !full[1], "top 0");
    CHECK(hw_duo_select_top(s, 4, 1, full) == 4 && full[3], "top 1");
    CHECK(hw_duo_select_top(s, 4, 1.2, full) == -1, "top 1.2");
    CHECK(hw_duo_select_top(s, 4, NAN, full) == -1, "top NaN");
    const double bad[2] = {0.5, NAN};
    CHECK(hw_duo_select_top(bad, 2, 0.5, full) == -1, "NaN score");
}

/* ---- files */

static void retrieval_json_mean_then_max_per_kv(void) {
    /* 2 layers x 4 query heads; means 0.5 0.1 | 0.2 0.3 / 0 1 | 0.4 0.4 (a head with no
     * trials scores 0). Per KV head of 2 query heads: max -> 0.5 0.3 / 1 0.4. */
    const char *p = put("r.json", "{\"0-0\": [1, 0], \"0-1\": [0.1], \"0-2\": [0.2, 0.2, 0.2], "
                                  "\"0-3\": [0.3], \"1-0\": [], \"1-1\": [1, 1], \"1-2\": [0.4], \"1-3\": 0.4}");
    double *s;
    hw_kv_file_info in;
    CHECK(hw_kv_head_scores_read(p, NULL, 2, 4, 2, &s, &in) == HW_OK, "%s", hw_last_error());
    if (!s) return;
    const double want[4] = {0.5, 0.3, 1, 0.4};
    for (int i = 0; i < 4; i++) CHECK(fabs(s[i] - want[i]) < 1e-12, "kv %d: %g want %g", i, s[i], want[i]);
    CHECK(in.kind == HW_KV_FILE_RETRIEVAL && in.n_layer == 2 && in.n_kv_head == 2 && in.file_heads == 4, "info");
    free(s);
    /* MHA: the means themselves. */
    CHECK(hw_kv_head_scores_read(p, NULL, 2, 4, 4, &s, NULL) == HW_OK && fabs(s[2] - 0.2) < 1e-12, "MHA");
    free(s);
    CHECK(hw_kv_head_scores_read(p, NULL, 3, 4, 2, &s, NULL) != HW_OK && !s &&
          has(hw_last_error(), "2 layers x 4 heads") && has(hw_last_error(), "3 layers"), "%s", hw_last_error());
    CHECK(hw_kv_head_scores_read(p, NULL, 2, 8, 2, &s, NULL) != HW_OK, "8 heads");
    CHECK(hw_kv_head_scores_read(p, "echo", 2, 4, 2, &s, NULL) != HW_OK && has(hw_last_error(), "echo"), "column of JSON");
}

static void echo_induction_table_as_written(void) {
    /* The table hw_echo_induction_write writes, made by the writer itself. */
    static const char *const cols[] = {"echo", "induction", "echo_mass", "induction_mass", "prev_token"};
    enum { L = 2, H = 4 };
    double v[5 * L * H];
    for (int i = 0; i < 5 * L * H; i++) v[i] = (i * 7 % 13) / 13.0;
    hw_head_table t = {L, H, 5, cols, v, 1, 0};
    const char *p = tmp_path("ei.tsv");
    CHECK(hw_head_table_write(&t, p) == HW_OK, "%s", hw_last_error());
    double *ind = NULL, *echo = NULL;
    hw_kv_file_info in;
    CHECK(hw_kv_head_scores_read(p, NULL, L, H, 2, &ind, &in) == HW_OK, "%s", hw_last_error());
    CHECK(hw_kv_head_scores_read(p, "echo", L, H, 2, &echo, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(in.kind == HW_KV_FILE_TABLE && !strcmp(in.column, "induction") && in.has_echo_induction, "info %s", in.column);
    for (int l = 0; ind && echo && l < L; l++)
        for (int k = 0; k < 2; k++) {
            const double *e = v + l * H + 2 * k, *d = v + L * H + l * H + 2 * k;
            double we = fmax(e[0], e[1]), wd = fmax(d[0], d[1]);
            CHECK(fabs(echo[l * 2 + k] - we) < 1e-8 && fabs(ind[l * 2 + k] - wd) < 1e-8, "kv %d.%d", l, k);
        }
    free(ind);
    free(echo);
    /* score retrieval --tsv's table: the "score" column. */
    p = put("rt.tsv", "layer\thead\tscore\ttrials\n1\t0\t0.5\t3\n0\t0\t0.25\t3\n0\t1\t0\t3\n1\t1\t1\t3\n");
    CHECK(hw_kv_head_scores_read(p, NULL, 0, 0, 0, &ind, &in) == HW_OK && !strcmp(in.column, "score") &&
          !in.has_echo_induction, "%s", hw_last_error());
    CHECK(ind && ind[0] == 0.25 && ind[1] == 0 && ind[2] == 0.5 && ind[3] == 1, "score column in grid order");
    free(ind);
}

static void gates_matrix_with_config(void) {
    mkdir(tmp_path("duo"), 0700);
    const char *p = put("duo/full_attention_heads.tsv",
                        "# gates\n9.062500000000000000e-01\t-5.3e-04\n\n1.0\t2.5e-01\n0.5 0.75\n");
    double *s;
    hw_kv_file_info in;
    CHECK(hw_kv_head_scores_read(p, NULL, 0, 0, 0, &s, &in) == HW_OK, "%s", hw_last_error());
    CHECK(in.kind == HW_KV_FILE_GATES && in.n_layer == 3 && in.n_kv_head == 2 && in.config_sink == -1, "info");
    CHECK(s && s[0] == 0.90625 && s[1] == -5.3e-4 && s[3] == 0.25 && s[5] == 0.75, "values (unclipped)");
    free(s);
    put("duo/config.json", "{\"sink_size\": 128, \"recent_size\": 256, \"sparsity\": null, \"deploy_sink_size\": null}");
    CHECK(hw_kv_head_scores_read(p, NULL, 3, 4, 2, &s, &in) == HW_OK && in.config_sink == 128 &&
          in.config_recent == 256, "%s", hw_last_error());
    free(s);
    /* Per query head on a GQA model: max over the group. */
    CHECK(hw_kv_head_scores_read(p, NULL, 3, 2, 1, &s, &in) == HW_OK && s[0] == 0.90625 && s[1] == 1 &&
          s[2] == 0.75 && in.file_heads == 2 && in.n_kv_head == 1, "GQA max");
    free(s);
    CHECK(hw_kv_head_scores_read(p, NULL, 3, 8, 4, &s, NULL) != HW_OK && has(hw_last_error(), "3 layers x 2 heads"),
          "%s", hw_last_error());
    put("duo/config.json", "{\"sink_size\": -4}");
    CHECK(hw_kv_head_scores_read(p, NULL, 0, 0, 0, &s, NULL) != HW_OK && has(hw_last_error(), "sink_size") &&
          has(hw_last_error(), "config.json"), "%s", hw_last_error());
    put("duo/config.json", "[1, 2]");
    CHECK(hw_kv_head_scores_read(p, NULL, 0, 0, 0, &s, NULL) != HW_OK && has(hw_last_error(), "not a JSON object"),
          "%s", hw_last_error());
    unlink(tmp_path("duo/config.json"));
    p = put("mask.tsv", "1\t0\n0\t0\n0\t1\n");
    CHECK(hw_kv_head_scores_read(p, NULL, 0, 0, 0, &s, &in) == HW_OK && in.kind == HW_KV_FILE_MASK, "mask");
    free(s);
}

static void bad_files_one_clear_error(void) {
    static const struct { const char *text, *msg; } cases[] = {
        {"0.5\t0.2\n0.1\n", "1 values, the lines above have 2"},
        {"0.5\tnan\n", "'nan' is not a finite number"},
        {"0.5\tinf\n", "'inf' is not a finite number"},
        {"0.5\t1e999\n", "not a finite number"},
        {"0x1p3\n", "not a finite number"},
        {"0.5,0.2\n", "not a finite number"},
        {"", "no head scores"},
        {"# only a comment\n\n", "no head scores"},
        {"layer\thead\tscore\n0\t0\t1\n0\t0\t2\n1\t1\t3\n0\t1\t4\n", "head 0.0 is listed twice"},
        {"layer\thead\tscore\n0\t0\t1\n1\t1\t2\n", "do not fill a grid"},
        {"layer\thead\tscore\n0\t0\t1\t2\n", "want 1 values"},
        {"layer\thead\tscore\n0\t0\n", "want 1 values"},
        {"layer\thead\tscore\n-1\t0\t1\n", "layer is not a whole number"},
        {"layer\thead\tscore\n0\t1.5\t1\n", "head is not a whole number"},
        {"layer\thead\n0\t0\n", "no score column"},
        {"layer\thead\tscore\n", "no rows"},
        {"layer\tfoo\tscore\n0\t0\t1\n", "starts with 'layer head'"},
        {"{\"0-0\": [NaN]}", "not a JSON object"},
        {"{\"zero\": [1]}", "not LAYER-HEAD"},
        {"{\"0-0\": [\"x\"]}", "not a finite number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = put("bad.tsv", cases[i].text);
        double *s = (double *)1;
        hw_status st = hw_kv_head_scores_read(p, NULL, 0, 0, 0, &s, NULL);
        CHECK(st != HW_OK && !s && has(hw_last_error(), cases[i].msg) && has(hw_last_error(), "bad.tsv"),
              "case %zu: '%s' gave '%s'", i, cases[i].msg, hw_last_error());
    }
    double *s;
    CHECK(hw_kv_head_scores_read(tmp_path("missing.tsv"), NULL, 0, 0, 0, &s, NULL) == HW_ERR_IO &&
          has(hw_last_error(), "missing.tsv"), "%s", hw_last_error());
    CHECK(hw_kv_head_scores_read(put("t.tsv", "layer\thead\tscore\n0\t0\t1\n"), "echo", 0, 0, 0, &s, NULL) != HW_OK &&
          has(hw_last_error(), "no column 'echo'"), "%s", hw_last_error());
    CHECK(hw_kv_head_scores_read(put("g.tsv", "1 2\n"), NULL, 2, 3, 2, &s, NULL) == HW_ERR_ARG, "H %% Hk");
}

/* ---- policies from text (stories260K: 5 layers, 8 query heads, 4 KV heads) */

static hw_kv_policy *parse(const char *fmt, const char *file) {
    char spec[1024];
    snprintf(spec, sizeof spec, fmt, file ? file : "");
    return hw_kv_policy_parse(model, NULL, spec);
}

static void spec_full_window_chunk(void) {
    hw_kv_policy *p = parse("full", NULL);
    CHECK(p && hw_kv_policy_full_count(p) == 20 && !strcmp(hw_kv_policy_name(p), "full"), "full");
    hw_kv_policy_free(p);
    p = parse("window:sink=4,recent=32,chunk=16", NULL);
    CHECK(p && hw_kv_policy_full_count(p) == 0 && hw_kv_policy_sink(p) == 4 && hw_kv_policy_recent(p) == 32 &&
          hw_kv_policy_chunk(p) == 16 && !strcmp(hw_kv_policy_name(p), "window:sink=4,recent=32,chunk=16"), "window");
    hw_kv_policy_free(p);
    p = parse("window", NULL);
    CHECK(p && hw_kv_policy_sink(p) == 64 && hw_kv_policy_recent(p) == 256 && hw_kv_policy_chunk(p) == 0, "defaults");
    hw_kv_policy_free(p);
}

static void spec_duo_each_kind(void) {
    /* 5 x 4 gates, distinct: sparsity 0.5 keeps 20 - ceil(9.5) = 10, the top half. */
    char text[512] = "";
    for (int l = 0; l < 5; l++)
        for (int k = 0; k < 4; k++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%.3f%c", ((l * 4 + k) * 7 % 20) / 20.0,
                     k < 3 ? '\t' : '\n');
    const char *g = put("gates.tsv", text);
    hw_kv_policy *p = parse("duo:heads=%s", g);
    CHECK(p && hw_kv_policy_full_count(p) == 10 && hw_kv_policy_sink(p) == 64 && hw_kv_policy_recent(p) == 256 &&
          hw_kv_policy_compensation(p) == HW_KV_COMP_NONE, "%s", hw_last_error());
    for (int i = 0; p && i < 20; i++)
        CHECK(hw_kv_policy_is_full(p, i / 4, i % 4) == ((i * 7 % 20) >= 10), "gate head %d", i);
    hw_kv_policy_free(p);
    p = parse("duo:heads=%s,top=0.25,sink=8,recent=16", g);
    CHECK(p && hw_kv_policy_full_count(p) == 5 && hw_kv_policy_sink(p) == 8 && hw_kv_policy_recent(p) == 16, "top");
    for (int i = 0; p && i < 20; i++)
        CHECK(hw_kv_policy_is_full(p, i / 4, i % 4) == ((i * 7 % 20) >= 15), "top head %d", i);
    hw_kv_policy_free(p);
    p = parse("duo:heads=%s,sparsity=0.75", g);
    CHECK(p && hw_kv_policy_full_count(p) == 20 - 15, "sparsity 0.75"); /* ceil(0.75 * 19) = 15 */
    hw_kv_policy_free(p);
    /* All gates equal (2, clipped to 1): 10 of 20 full whatever the seed; which 10 is the seed's choice. */
    const char *eq = put("equal.tsv", "2 2 2 2\n2 2 2 2\n2 2 2 2\n2 2 2 2\n2 2 2 2\n");
    hw_kv_policy *a = parse("duo:heads=%s,seed=1", eq), *b = parse("duo:heads=%s,seed=18446744073709551615", eq);
    int same = 1;
    for (int i = 0; a && b && i < 20; i++)
        same &= hw_kv_policy_is_full(a, i / 4, i % 4) == hw_kv_policy_is_full(b, i / 4, i % 4);
    CHECK(a && b && hw_kv_policy_full_count(a) == 10 && hw_kv_policy_full_count(b) == 10 && !same, "seeds");
    hw_kv_policy_free(a);
    hw_kv_policy_free(b);
    /* A mask as it stands; scores by top 0.25. */
    p = parse("duo:heads=%s", put("m.tsv", "1\t0\t0\t0\n0\t0\t0\t0\n0\t0\t1\t1\n0\t0\t0\t0\n0\t0\t0\t1\n"));
    CHECK(p && hw_kv_policy_full_count(p) == 4 && hw_kv_policy_is_full(p, 2, 3) && hw_kv_policy_is_full(p, 4, 3), "mask");
    hw_kv_policy_free(p);
    char json[2048] = "{";
    for (int i = 0; i < 40; i++)
        snprintf(json + strlen(json), sizeof json - strlen(json), "%s\"%d-%d\": [%g]", i ? ", " : "", i / 8, i % 8,
                 i == 13 || i == 30 ? 0.9 : i / 100.0);
    strcat(json, "}");
    p = parse("duo:heads=%s", put("r.json", json));
    /* Query heads 13 (KV 1.2) and 30 (KV 3.3) score 0.9; then the highest maxes: KV 4.3,
     * 4.2, 4.1 (query heads 39, 37, 35): top round(0.25 * 20) = 5. */
    CHECK(p && hw_kv_policy_full_count(p) == 5 && hw_kv_policy_is_full(p, 1, 2) && hw_kv_policy_is_full(p, 3, 3) &&
          hw_kv_policy_is_full(p, 4, 1) && !hw_kv_policy_is_full(p, 4, 0), "retrieval json");
    hw_kv_policy_free(p);
}

static void spec_razor(void) {
    /* The probe on the model itself. */
    hw_echo_induction_params ep = hw_echo_induction_params_default();
    hw_echo_induction_result *r = NULL;
    CHECK(hw_echo_induction_run(model, NULL, &ep, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    hw_kv_policy *p = parse("razor", NULL);
    CHECK(p && hw_kv_policy_sink(p) == 4 && hw_kv_policy_recent(p) == 256 &&
          hw_kv_policy_compensation(p) == HW_KV_COMP_WEIGHTED, "razor defaults");
    const int *sel = hw_echo_induction_selected(r);
    int n_sel = 0;
    for (int i = 0; r && p && i < 20; i++) {
        n_sel += sel[i];
        CHECK(hw_kv_policy_is_full(p, i / 4, i % 4) == sel[i], "probe head %d", i);
    }
    CHECK(n_sel == 3, "round(20 * 0.14) + round(20 * 0.01) = 3 heads, got %d", n_sel);
    hw_kv_policy_free(p);
    /* The same scores through the table the probe writes. */
    const char *t = tmp_path("probe.tsv");
    CHECK(hw_echo_induction_write(r, t) == HW_OK, "%s", hw_last_error());
    p = parse("razor:compensation=mean,heads=%s", t);
    for (int i = 0; r && p && i < 20; i++) CHECK(hw_kv_policy_is_full(p, i / 4, i % 4) == sel[i], "table head %d", i);
    CHECK(p && hw_kv_policy_compensation(p) == HW_KV_COMP_MEAN, "mean");
    hw_kv_policy_free(p);
    p = parse("razor:induction=0.5,echo=0,compensation=none,heads=%s", t);
    CHECK(p && hw_kv_policy_full_count(p) == 10 && hw_kv_policy_compensation(p) == HW_KV_COMP_NONE, "ratios");
    hw_kv_policy_free(p);
    /* And its --heads-out mask. */
    const char *mk = tmp_path("probe_mask.tsv");
    CHECK(hw_echo_induction_write_selection(r, mk) == HW_OK, "%s", hw_last_error());
    p = parse("razor,heads=%s", mk);
    for (int i = 0; r && p && i < 20; i++) CHECK(hw_kv_policy_is_full(p, i / 4, i % 4) == sel[i], "mask head %d", i);
    hw_kv_policy_free(p);
    hw_echo_induction_free(r);
}

static void spec_errors_name_the_part(void) {
    const char *g = put("g5.tsv", "0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n"
                                  "0.1\t0.2\t0.3\t0.4\n");
    const char *g4 = put("g4.tsv", "0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n");
    static const struct { const char *spec, *msg; int file; } cases[] = {
        {"bogus", "unknown policy 'bogus'", 0},
        {"", "unknown policy ''", 0},
        {"fullx", "unknown policy 'fullx'", 0},
        {"full:sink=4", "unknown key in 'sink=4' (full takes chunk)", 0},
        {"window:foo=1", "unknown key in 'foo=1'", 0},
        {"window:sink=abc", "'sink=abc': not a whole number", 0},
        {"window:sink=1.5", "'sink=1.5': not a whole number", 0},
        {"window:recent=0", "'recent=0': not a whole number in [1,", 0},
        {"window:sink=-1", "'sink=-1'", 0},
        {"window:chunk=0x10", "'chunk=0x10'", 0},
        {"window:sink=4,sink=5", "sink given twice", 0},
        {"window:", "an empty part", 0},
        {"window:sink=4,,recent=5", "an empty part", 0},
        {"window:sink", "'sink' needs a value", 0},
        {"window:sink=", "'sink=' needs a value", 0},
        {"duo", "duo needs heads=FILE", 0},
        {"duo:top=0.5", "duo needs heads=FILE", 0},
        {"duo:heads=%s,top=0.2,sparsity=0.5", "not both", 1},
        {"duo:heads=%s,top=nan", "'top=nan': not a number in [0, 1]", 1},
        {"duo:heads=%s,sparsity=inf", "'sparsity=inf'", 1},
        {"duo:heads=%s,top=1.5", "'top=1.5'", 1},
        {"duo:heads=%s,compensation=mean", "unknown key in 'compensation=mean' (duo takes", 1},
        {"duo:heads=%s,seed=-1", "'seed=-1': not a whole number", 1},
        {"duo:heads=%s,seed=1.5", "'seed=1.5'", 1},
        {"duo:heads=%s,seed=18446744073709551616", "'seed=18446744073709551616'", 1},
        {"razor:compensation=half", "compensation is weighted, mean or none", 0},
        {"razor:top=0.5", "unknown key", 0},
        {"duo:heads=/nonexistent/h.tsv", "/nonexistent/h.tsv", 0},
        {"duo:heads=%s", "4 layers x 4 heads, but the model has 5 layers", 2},
        {"razor:heads=%s", "razor takes an echo-induction table", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hw_kv_policy *p = parse(cases[i].spec, cases[i].file == 1 ? g : cases[i].file == 2 ? g4 : NULL);
        CHECK(!p && has(hw_last_error(), cases[i].msg), "'%s': want '%s', got '%s'", cases[i].spec, cases[i].msg,
              hw_last_error());
        hw_kv_policy_free(p);
    }
    CHECK(!hw_kv_policy_parse(NULL, NULL, "full") && !hw_kv_policy_parse(model, NULL, NULL), "NULL arguments");
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/test_kv_select.XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    RUN(quantile_rule_matches_numpy);
    RUN(quantile_rule_clips_breaks_ties_and_ends);
    RUN(quantile_rule_count_is_n_minus_ceil);
    RUN(quantile_rule_refuses_bad_input);
    RUN(top_rule_ties_to_lower_index);
    RUN(retrieval_json_mean_then_max_per_kv);
    RUN(echo_induction_table_as_written);
    RUN(gates_matrix_with_config);
    RUN(bad_files_one_clear_error);
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    if (!model) {
        printf("FAIL load_stories260K (%s)\n", hw_last_error());
        return 1;
    }
    RUN(spec_full_window_chunk);
    RUN(spec_duo_each_kind);
    RUN(spec_razor);
    RUN(spec_errors_name_the_part);
    hw_model_free(model);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) return 1;
    CHECK_DONE();
}
