/* test_scores.c: the arithmetic of every head score (methods.md sections 1, 3.1, 5,
 * 6, 9) on hand-built attention patterns and logits, and the head-score file format. */
#include "check.h"
#include "headwise.h"
#include "internal.h"

#include <unistd.h>

/* ---- Retrieval Head (section 1.1) */

static void needle_span_first_window_over_90_percent(void) {
    /* Answer of 10 distinct tokens 100..109. Positions 2..11 hold 9 of them and a
     * stranger (exactly 90%: not enough); 20..29 hold all ten shuffled. */
    int answer[10], prompt[40];
    for (int i = 0; i < 10; i++) answer[i] = 100 + i;
    for (int i = 0; i < 40; i++) prompt[i] = i % 7;
    for (int i = 0; i < 9; i++) prompt[2 + i] = 100 + i;
    prompt[11] = 5;
    for (int i = 0; i < 10; i++) prompt[20 + i] = 109 - i;
    int s, e;
    CHECK(hw_needle_span(prompt, 40, answer, 10, &s, &e) == 1, "found");
    CHECK(s == 20 && e == 30, "span [%d, %d), want [20, 30)", s, e);
    /* A set, not a sequence: duplicates in the answer count once. */
    int dup[4] = {7, 7, 8, 8}, p2[6] = {1, 8, 7, 2, 3, 4};
    CHECK(hw_needle_span(p2, 6, dup, 4, &s, &e) == 1 && s == 0 && e == 4,
          "window [0,4) holds {7,8}: got [%d, %d)", s, e);
    int none[3] = {50, 51, 52};
    CHECK(hw_needle_span(prompt, 40, none, 3, &s, &e) == 0 && s == -1 && e == -1, "absent");
}

static void retrieval_step_copy_paste_rule(void) {
    /* ids: the needle occupies [3, 6) = tokens 40 41 42. */
    int ids[8] = {1, 9, 9, 40, 41, 42, 9, 9};
    enum { H = 4, P = 8 };
    float pat[H][P] = {{0}};
    pat[0][4] = 0.9f;                  /* top-1 in span, holds 41: copies */
    pat[1][5] = 0.9f;                  /* in span but holds 42: no */
    pat[2][1] = 0.6f; pat[2][4] = 0.4f; /* holds 41 but is not the top-1: no */
    pat[3][4] = 0.5f; pat[3][7] = 0.5f; /* tie: the first maximum (4) wins: copies */
    double score[H] = {0};
    int n = hw_retrieval_step(score, &pat[0][0], H, P, ids, 8, 3, 6, 41);
    CHECK(n == 2, "%d heads copied, want 2", n);
    CHECK(fabs(score[0] - 1.0 / 3) < 1e-12 && score[1] == 0 && score[2] == 0 &&
              fabs(score[3] - 1.0 / 3) < 1e-12,
          "scores %g %g %g %g", score[0], score[1], score[2], score[3]);
    /* No span found: nothing counts. */
    CHECK(hw_retrieval_step(score, &pat[0][0], H, P, ids, 8, -1, -1, 41) == 0, "no span");
}

static void retrieval_duplicate_count(void) {
    /* The paper's code does not de-duplicate: a needle "A A" (span 2) and a model
     * emitting A three times while attending to it gives 3/2 > 1. */
    int ids[4] = {1, 7, 7, 3};
    float pat[4] = {0, 0.2f, 0.8f, 0};
    double score = 0;
    for (int step = 0; step < 3; step++) hw_retrieval_step(&score, pat, 1, 4, ids, 4, 1, 3, 7);
    CHECK(fabs(score - 1.5) < 1e-12, "score %g, want 1.5", score);
}

static void rouge1_recall_arithmetic(void) {
    /* 6 reference unigrams (the x2); clipped counts. */
    CHECK(fabs(hw_rouge1_recall("the cat sat on the mat", "the cat") - 2.0 / 6) < 1e-12, "2/6");
    CHECK(fabs(hw_rouge1_recall("the cat sat on the mat", "the the the") - 2.0 / 6) < 1e-12,
          "clipped: %g", hw_rouge1_recall("the cat sat on the mat", "the the the"));
    CHECK(hw_rouge1_recall("The cat", "a dog") == 0, "disjoint");
    CHECK(hw_rouge1_recall("", "anything") == 0, "empty reference");
    /* Case, punctuation and stemming: sandwiches/sandwich, Dolores-Park!/dolores park. */
    double r = hw_rouge1_recall("eat a sandwich and sit in Dolores Park on a sunny day",
                                "Eating sandwiches, sitting in DOLORES-PARK!");
    /* reference: eat a sandwich and sit in dolor park on a sunni day (12); candidate
     * stems: eat sandwich sit in dolor park -> 6 shared. */
    CHECK(fabs(r - 6.0 / 12) < 1e-12, "stemmed recall %g, want 0.5", r);
    /* Words of 3 letters or fewer are not stemmed: "ran" stays, "runs" -> "run". */
    CHECK(hw_rouge1_recall("run", "runs") == 1, "runs -> run");
    CHECK(hw_rouge1_recall("ies", "i") == 0, "short words unstemmed");
}

static void porter_known_stems(void) {
    /* Porter's (1980) own examples and NLTK's departures from them. */
    const char *cases[][2] = {
        {"caresses", "caress"}, {"ponies", "poni"},      {"cats", "cat"},
        {"feed", "feed"},       {"agreed", "agre"},      {"plastered", "plaster"},
        {"motoring", "motor"},  {"sing", "sing"},        {"conflated", "conflat"},
        {"hopping", "hop"},     {"falling", "fall"},     {"filing", "file"},
        {"happy", "happi"},     {"relational", "relat"}, {"generalization", "gener"},
        {"electrical", "electr"}, {"adjustment", "adjust"}, {"controlling", "control"},
        {"ties", "tie"},        {"cried", "cri"},        {"dying", "die"},
        {"skies", "sky"},       {"fly", "fli"},          {"say", "say"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hw_porter_stem(cases[i][0], out, sizeof out);
        CHECK(!strcmp(out, cases[i][1]), "%s -> %s, want %s", cases[i][0], out, cases[i][1]);
    }
}

/* ---- RazorAttention echo and induction (section 3.1) */

static void echo_induction_on_built_patterns(void) {
    /* BOS + a block of 3 repeated 3 times: T = 10, copies start at 1. */
    enum { H = 4, T = 10, B = 3 };
    static float pat[H][T][T];
    memset(pat, 0, sizeof pat);
    for (int i = 0; i < T; i++) {
        pat[0][i][0] = pat[1][i][0] = pat[2][i][0] = pat[3][i][0] = 1; /* default: BOS */
        if (i < 1 + B) continue;
        pat[0][i][0] = 0; pat[0][i][i - B + 1] = 1;   /* induction: after the last copy */
        pat[1][i][0] = 0; pat[1][i][i - B] = 1;       /* echo: the last copy */
        /* Head 2: echo spread over every earlier copy (2 copies in the third repeat). */
        pat[2][i][0] = 0;
        int copies = (i - 1) / B;
        for (int j = i - B; j >= 1; j -= B) pat[2][i][j] = 1.0f / copies;
        /* Head 3 stays on BOS: scores 0. */
    }
    double echo[H] = {0}, ind[H] = {0};
    CHECK(hw_echo_induction_scores(&pat[0][0][0], H, T, T, 0, T, 1, B, echo, ind) == HW_OK, "ok");
    /* 6 query rows (positions 4..9) with weight 1 on the mask, over T*T = 100. */
    CHECK(fabs(ind[0] - 0.06) < 1e-9 && fabs(echo[0]) < 1e-12, "head 0: echo %g ind %g",
          echo[0], ind[0]);
    CHECK(fabs(echo[1] - 0.06) < 1e-9 && fabs(ind[1]) < 1e-12, "head 1: echo %g ind %g",
          echo[1], ind[1]);
    CHECK(fabs(echo[2] - 0.06) < 1e-7, "head 2 (spread): echo %g", echo[2]);
    /* Head 2's induction: row i puts 1/copies on j, and j + 1 is another copy's slot only
     * when ... never (j+1 is the next block position, weight 0). */
    CHECK(fabs(ind[2]) < 1e-12 && echo[3] == 0 && ind[3] == 0, "heads 2, 3: %g %g %g",
          ind[2], echo[3], ind[3]);
    CHECK(hw_echo_induction_scores(&pat[0][0][0], H, T, T, 0, T, 1, 20, echo, ind) == HW_ERR_ARG,
          "block longer than the probe");
    /* In chunks of query rows (as a chunked prefill gives them): the same sums. */
    static float chunk[H][4][T];
    double echo2[H] = {0}, ind2[H] = {0};
    for (int q0 = 0; q0 < T; q0 += 4) {
        int tq = T - q0 < 4 ? T - q0 : 4;
        for (int h = 0; h < H; h++)
            for (int r = 0; r < tq; r++) memcpy(chunk[h][r], pat[h][q0 + r], sizeof chunk[h][r]);
        /* pack (H, tq, T) contiguously */
        static float packed[H * 4 * T];
        for (int h = 0; h < H; h++)
            for (int r = 0; r < tq; r++) memcpy(packed + ((size_t)h * tq + r) * T, chunk[h][r], sizeof chunk[h][r]);
        CHECK(hw_echo_induction_scores(packed, H, tq, T, q0, T, 1, B, echo2, ind2) == HW_OK, "chunk");
    }
    for (int h = 0; h < H; h++)
        CHECK(fabs(echo2[h] - echo[h]) < 1e-12 && fabs(ind2[h] - ind[h]) < 1e-12, "chunked = whole");
}

static void kv_aggregation(void) {
    /* L = 2, H = 4, Hk = 2 (groups of 2). */
    double q[8] = {0.1, 0.5, 0.3, 0.2, 0.9, 0.0, 0.4, 0.4}, kv[4];
    CHECK(hw_scores_per_kv(q, 2, 4, 2, 1, kv) == HW_OK, "max ok");
    CHECK(kv[0] == 0.5 && kv[1] == 0.3 && kv[2] == 0.9 && kv[3] == 0.4, "max %g %g %g %g",
          kv[0], kv[1], kv[2], kv[3]);
    CHECK(hw_scores_per_kv(q, 2, 4, 2, 0, kv) == HW_OK, "mean ok");
    CHECK(fabs(kv[0] - 0.3) < 1e-12 && fabs(kv[1] - 0.25) < 1e-12 && fabs(kv[2] - 0.45) < 1e-12 &&
              fabs(kv[3] - 0.4) < 1e-12,
          "mean %g %g %g %g", kv[0], kv[1], kv[2], kv[3]);
    CHECK(hw_scores_per_kv(q, 2, 4, 3, 1, kv) == HW_ERR_ARG, "4 heads do not split into 3");
}

static void ranking_and_razor_selection(void) {
    double s[6] = {0.2, NAN, 0.9, 0.2, 0.5, -1};
    int order[6];
    hw_scores_rank(s, 6, order);
    int want[6] = {2, 4, 0, 3, 5, 1}; /* ties to the lower index, NaN last */
    for (int i = 0; i < 6; i++) CHECK(order[i] == want[i], "rank %d: %d, want %d", i, order[i], want[i]);
    /* 100 KV heads: top round(14) by induction and round(1) by echo. */
    double echo[100], ind[100];
    int keep[100];
    for (int i = 0; i < 100; i++) ind[i] = i, echo[i] = -i; /* induction top: 99..86; echo top: 0 */
    CHECK(hw_razor_select(echo, ind, 100, 0.01, 0.14, keep) == 15, "14 + 1 disjoint");
    CHECK(hw_razor_select(echo, ind, 100, NAN, 0.14, keep) == -1 && strstr(hw_last_error(), "ratios"),
          "a NaN ratio is refused with a message");
    CHECK(hw_razor_select(echo, ind, 0, 0.01, 0.14, keep) == -1 && hw_razor_select(echo, ind, 100, 0.01, 1.5, keep) == -1,
          "no scores or a ratio above 1 refused");
    CHECK(keep[0] && keep[86] && keep[99] && !keep[85] && !keep[1], "members");
    echo[99] = 1000; /* the top echo head is also an induction head: union of 14 */
    CHECK(hw_razor_select(echo, ind, 100, 0.01, 0.14, keep) == 14 && !keep[0], "union");
    CHECK(hw_razor_select(echo, ind, 100, 0.0, 0.5, keep) == 50, "ratios are parameters");
}

/* ---- Successor heads (section 5) */

static void successor_hits_counts_argmax_successors(void) {
    /* Task of U = 4 distinct tokens, cyclic sequence 0 1 2 3 0 (5 items, 4 pairs). */
    int seq[5] = {0, 1, 2, 3, 0};
    float logits[4][4] = {
        {0, 5, 1, 1},   /* 0 -> 1: hit */
        {0, 1, 3, 3},   /* 1 -> 2: tie 2/3, the first (2) wins: hit */
        {9, 0, 0, 8},   /* 2 -> 3: argmax 0, miss */
        {2, 0, 0, 1},   /* 3 -> 0: hit (cyclic) */
    };
    CHECK(hw_successor_hits(&logits[0][0], seq, 5, 4) == 3, "3 of 4 pairs");
    CHECK(hw_successor_hits(&logits[0][0], seq, 1, 4) == 0, "no pairs");
}

/* ---- direct logit attribution (sections 6, 9) */

/* A model with only what hw_logit_direction reads: LayerNorm or RMSNorm of width 5 and
 * a 3-token unembedding. With the norm's scale held at the full residual x, dir . x must
 * be the logit difference, and dir must split over any decomposition of x. */
static void logit_direction_holds_the_final_norm(void) {
    enum { D = 5, V = 3 };
    static const float U[V * D] = {0.3f, -1.2f, 0.5f, 2.0f, 0.1f, -0.7f, 0.4f, 1.1f, -0.3f, 0.9f,
                                   1.5f, 0.2f, -0.6f, 0.8f, -1.0f};
    static const float g[D] = {1.1f, 0.9f, 1.3f, 0.7f, 1.0f};
    float x[D] = {0.5f, -2.0f, 1.5f, 0.25f, 3.0f}, part[D] = {0.1f, 0.7f, -0.4f, 1.0f, -0.2f};
    for (int kind = 0; kind < 2; kind++) {
        hw_model m;
        memset(&m, 0, sizeof m);
        m.cfg.d_model = D;
        m.cfg.vocab_size = V;
        m.cfg.norm = kind ? HW_NORM_LAYER : HW_NORM_RMS;
        m.cfg.norm_eps = 1e-5f;
        m.w.classifier = (hw_matrix){.dtype = HW_F32, .rows = V, .cols = D, .f32 = U};
        m.w.final_norm = g;
        float xn[D], dir[D], raw[D];
        if (kind) hw_layernorm(xn, x, g, NULL, 1, D, 1e-5f);
        else hw_rmsnorm(xn, x, g, 1, D, 1e-5f);
        int pos = 2, neg[2] = {0, 1};
        double want = 0;
        for (int d = 0; d < D; d++) want += (double)xn[d] * (U[2 * D + d] - 0.5 * (U[d] + U[D + d]));
        CHECK(hw_logit_direction(&m, &pos, 1, neg, 2, x, dir) == HW_OK, "direction");
        CHECK(hw_logit_direction(&m, &pos, 1, neg, 2, NULL, raw) == HW_OK, "raw");
        double got = 0, a = 0, b = 0;
        for (int d = 0; d < D; d++) {
            got += (double)dir[d] * x[d];
            a += (double)dir[d] * part[d];
            b += (double)dir[d] * (x[d] - part[d]);
            CHECK(fabsf(raw[d] - (U[2 * D + d] - 0.5f * (U[d] + U[D + d]))) < 1e-6f, "raw direction");
        }
        CHECK(fabs(got - want) < 1e-5, "%s: dir . x = %g, logit difference %g",
              kind ? "LayerNorm" : "RMSNorm", got, want);
        CHECK(fabs(a + b - got) < 1e-5, "shares of a decomposition add up");
    }
}

/* ---- head-score files (section 1.2) */

static void head_scores_roundtrip_and_published_layout(void) {
    char path[] = "/tmp/hw_test_scores_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temp file");
    close(fd);
    hw_head_scores *s = hw_head_scores_new(2, 3);
    CHECK(s != NULL, "new");
    for (int k = 0; k < 5; k++) hw_head_scores_append(s, 1, 2, 0.1 * k);
    hw_head_scores_append(s, 0, 0, 1.0 / 3);
    CHECK(hw_head_scores_append(s, 2, 0, 1) == HW_ERR_ARG, "layer out of range");
    CHECK(hw_head_scores_append(s, 0, 0, NAN) == HW_ERR_ARG && hw_head_scores_append(s, 0, 0, INFINITY) == HW_ERR_ARG,
          "non-finite scores refused");
    CHECK(hw_head_scores_write(s, path) == HW_OK, "write");
    hw_head_scores *r = hw_head_scores_read(path);
    CHECK(r && hw_head_scores_layers(r) == 2 && hw_head_scores_heads(r) == 3, "read back %dx%d",
          r ? hw_head_scores_layers(r) : -1, r ? hw_head_scores_heads(r) : -1);
    if (r) {
        int n5, n0, n1;
        const double *v5 = hw_head_scores_values(r, 1, 2, &n5), *v0 = hw_head_scores_values(r, 0, 0, &n0);
        hw_head_scores_values(r, 0, 1, &n1);
        CHECK(n5 == 5 && n0 == 1 && n1 == 0, "counts");
        CHECK(v0[0] == 1.0 / 3 && v5[4] == 0.1 * 4, "values exact");
        double mean[6];
        hw_head_scores_mean(r, mean);
        CHECK(fabs(mean[5] - 0.2) < 1e-12 && mean[1] == 0, "means %g %g", mean[5], mean[1]);
    }
    hw_head_scores_free(r);
    hw_head_scores_free(s);
    /* A published file: keys in any order, lists of per-trial scores, no fixed size. */
    FILE *f = fopen(path, "w");
    fputs("{\"16-19\": [0.9, 1.0], \"0-0\": [0.0], \"3-31\": 0.25}", f);
    fclose(f);
    r = hw_head_scores_read(path);
    CHECK(r && hw_head_scores_layers(r) == 17 && hw_head_scores_heads(r) == 32, "size from the largest keys");
    if (r) {
        int n1, n2;
        hw_head_scores_values(r, 16, 19, &n1);
        const double *v = hw_head_scores_values(r, 3, 31, &n2);
        CHECK(n1 == 2 && n2 == 1 && v[0] == 0.25, "entries");
    }
    hw_head_scores_free(r);
    const char *bad[] = {"[1, 2]", "{\"a-1\": [1]}", "{\"1-2\": [\"x\"]}", "{}", "{\"1-2-3\": 1}",
                         "{\"1-2\": [1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        r = hw_head_scores_read(path);
        CHECK(!r && hw_last_error()[0], "'%s' must fail", bad[i]);
        hw_head_scores_free(r);
    }
    unlink(path);
    CHECK(!hw_head_scores_read(path) && strstr(hw_last_error(), path), "missing file named");
}

int main(int argc, char **argv) {
    /* `test_scores --stem`: stem the words of stdin, one per line (porter_nltk_test.sh
     * compares them with NLTK's PorterStemmer). */
    if (argc > 1 && !strcmp(argv[1], "--stem")) {
        char w[256], out[256];
        while (scanf("%255s", w) == 1) {
            hw_porter_stem(w, out, sizeof out);
            printf("%s %s\n", w, out);
        }
        return 0;
    }
    RUN(needle_span_first_window_over_90_percent);
    RUN(retrieval_step_copy_paste_rule);
    RUN(retrieval_duplicate_count);
    RUN(rouge1_recall_arithmetic);
    RUN(porter_known_stems);
    RUN(echo_induction_on_built_patterns);
    RUN(kv_aggregation);
    RUN(ranking_and_razor_selection);
    RUN(successor_hits_counts_argmax_successors);
    RUN(logit_direction_holds_the_final_norm);
    RUN(head_scores_roundtrip_and_published_layout);
    CHECK_DONE();
}
