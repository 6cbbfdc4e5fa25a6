/*
 * test_head_subspace.c: hw_subspace_run and hw_lowrank_run on stories260K (8 query heads
 * sharing 4 KV heads). The SVD reconstructs W_Q W_K^T and W_V W_O of every head (raw and
 * with the input norm folded in) far below 1e-4 relative, with orthonormal singular
 * vectors; heads of one KV group share the key (QK) and source (OV) subspaces and heads
 * of different groups do not; the tokens listed are the best reads of their direction;
 * the low-rank fit's spectrum is that of the head's captured q rows, r = Dh is the
 * baseline exactly, k of two heads of one group is the same fit; bad input is refused.
 */
#include "check.h"
#include "headwise.h"
#include "internal.h"

#include <math.h>

static hw_model *model;
static hw_tokenizer *tok;

/* The circuit's D x D matrix straight from the weights (row a, column b). */
static void direct(hw_head hd, hw_subspace_kind kind, int fold, double *A) {
    const hw_config *c = &model->cfg;
    const int D = c->d_model, Dh = c->head_dim, kv = hw_kv_head(c, hd.head);
    const hw_layer_weights *lw = &model->w.layers[hd.layer];
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double s = 0;
            for (int j = 0; j < Dh; j++) {
                if (kind == HW_SUBSPACE_QK)
                    s += (double)lw->wq.f32[(size_t)(hd.head * Dh + j) * D + a] * lw->wk.f32[(size_t)(kv * Dh + j) * D + b] *
                         (fold ? (double)lw->attn_norm[a] * lw->attn_norm[b] : 1);
                else
                    s += (double)lw->wv.f32[(size_t)(kv * Dh + j) * D + a] * lw->wo.f32[(size_t)b * c->n_head * Dh + hd.head * Dh + j] *
                         (fold ? lw->attn_norm[a] : 1);
            }
            A[(size_t)a * D + b] = s;
        }
}

static void subspace_reconstructs_every_head(void) {
    const hw_config *c = hw_model_config(model);
    const int D = c->d_model, k = c->head_dim;
    double *A = malloc(sizeof(double) * D * D), worst = 0, worst_orth = 0;
    int bad_order = 0;
    for (int l = 0; l < c->n_layer; l++)
        for (int h = 0; h < c->n_head; h++)
            for (int kind = 0; kind < 2; kind++)
                for (int fold = 0; fold < 2; fold++) {
                    hw_subspace_params p = hw_subspace_params_default();
                    p.head = (hw_head){l, h};
                    p.kind = kind ? HW_SUBSPACE_OV : HW_SUBSPACE_QK;
                    p.fold_norm = fold;
                    p.directions = 0;
                    hw_subspace_result *r = NULL;
                    if (hw_subspace_run(model, NULL, &p, &r)) {
                        CHECK(0, "%d.%d: %s", l, h, hw_last_error());
                        continue;
                    }
                    direct(p.head, p.kind, fold, A);
                    const double *s = hw_subspace_singular(r), *U = hw_subspace_vectors(r, 0), *V = hw_subspace_vectors(r, 1);
                    double num = 0, den = 0;
                    for (int a = 0; a < D; a++)
                        for (int b = 0; b < D; b++) {
                            double x = 0;
                            for (int i = 0; i < k; i++) x += s[i] * U[(size_t)i * D + a] * V[(size_t)i * D + b];
                            num += (x - A[(size_t)a * D + b]) * (x - A[(size_t)a * D + b]);
                            den += A[(size_t)a * D + b] * A[(size_t)a * D + b];
                        }
                    if (sqrt(num / den) > worst) worst = sqrt(num / den);
                    for (int side = 0; side < 2; side++) {
                        const double *M = side ? V : U;
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                double d = 0;
                                for (int a = 0; a < D; a++) d += M[(size_t)i * D + a] * M[(size_t)j * D + a];
                                d = fabs(d - (i == j));
                                if (d > worst_orth) worst_orth = d;
                            }
                    }
                    for (int i = 1; i < k; i++) bad_order += s[i] > s[i - 1] || s[i] < 0;
                    CHECK(hw_subspace_rank(r) == k, "rank %d", hw_subspace_rank(r));
                    hw_subspace_free(r);
                }
    printf("  worst relative reconstruction error %.3g, orthonormality %.3g\n", worst, worst_orth);
    CHECK(worst < 1e-9, "relative error %g", worst);
    CHECK(worst_orth < 1e-9, "orthonormality %g", worst_orth);
    CHECK(bad_order == 0, "%d singular values out of order", bad_order);
    free(A);
}

/* The smallest cosine between a vector of a's side and the span of b's side (1: a's
 * span inside b's). */
static double span_overlap(hw_head a, hw_head b, hw_subspace_kind kind, int side) {
    const int D = model->cfg.d_model, k = model->cfg.head_dim;
    hw_subspace_params p = hw_subspace_params_default();
    p.kind = kind;
    p.directions = 0;
    hw_subspace_result *ra = NULL, *rb = NULL;
    p.head = a;
    CHECK(hw_subspace_run(model, NULL, &p, &ra) == HW_OK, "%s", hw_last_error());
    p.head = b;
    CHECK(hw_subspace_run(model, NULL, &p, &rb) == HW_OK, "%s", hw_last_error());
    if (!ra || !rb) return -1;
    double least = 1;
    const double *A = hw_subspace_vectors(ra, side), *B = hw_subspace_vectors(rb, side);
    for (int i = 0; i < k; i++) {
        double n2 = 0;
        for (int j = 0; j < k; j++) {
            double d = 0;
            for (int x = 0; x < D; x++) d += A[(size_t)i * D + x] * B[(size_t)j * D + x];
            n2 += d * d;
        }
        if (sqrt(n2) < least) least = sqrt(n2);
    }
    hw_subspace_free(ra);
    hw_subspace_free(rb);
    return least;
}

static void subspace_gqa_groups_share_key_and_value(void) {
    /* 8 query heads, 4 KV heads: 2.0 and 2.1 read KV head 0, 2.2 reads KV head 1 */
    double same_k = span_overlap((hw_head){2, 0}, (hw_head){2, 1}, HW_SUBSPACE_QK, 1);
    double same_v = span_overlap((hw_head){2, 0}, (hw_head){2, 1}, HW_SUBSPACE_OV, 0);
    double other_k = span_overlap((hw_head){2, 0}, (hw_head){2, 2}, HW_SUBSPACE_QK, 1);
    double other_v = span_overlap((hw_head){2, 0}, (hw_head){2, 2}, HW_SUBSPACE_OV, 0);
    double queries = span_overlap((hw_head){2, 0}, (hw_head){2, 1}, HW_SUBSPACE_QK, 0);
    printf("  span overlap: same group k %.6f v %.6f, other group k %.3f v %.3f, queries %.3f\n", same_k,
           same_v, other_k, other_v, queries);
    CHECK(same_k > 1 - 1e-9 && same_v > 1 - 1e-9, "one group: %g %g", same_k, same_v);
    CHECK(other_k < 0.9 && other_v < 0.9 && queries < 0.9, "distinct: %g %g %g", other_k, other_v, queries);
}

static void subspace_tokens_are_the_best_reads(void) {
    const hw_config *c = hw_model_config(model);
    const int D = c->d_model, V = c->vocab_size;
    for (int fold = 0; fold < 2; fold++) {
        hw_subspace_params p = hw_subspace_params_default();
        p.head = (hw_head){4, 0};
        p.kind = HW_SUBSPACE_OV;
        p.fold_norm = fold;
        p.directions = 2;
        p.top = 5;
        hw_subspace_result *r = NULL;
        CHECK(hw_subspace_run(model, tok, &p, &r) == HW_OK, "%s", hw_last_error());
        if (!r) return;
        CHECK(hw_subspace_directions(r) == 2 && hw_subspace_top(r) == 5, "sizes");
        for (int side = 0; side < 2; side++) {
            const double *v = hw_subspace_vectors(r, side) + D; /* direction 1 */
            double *sc = malloc(sizeof(double) * V);
            for (int t = 0; t < V; t++) {
                const float *e = side ? model->w.classifier.f32 + (size_t)t * D : model->w.tok_embed + (size_t)t * D;
                double ss = 0, dot = 0;
                for (int a = 0; a < D; a++) {
                    ss += (double)e[a] * e[a];
                    dot += e[a] * v[a] * (side && fold ? model->w.final_norm[a] : 1);
                }
                sc[t] = !side && fold ? dot / sqrt(ss / D + c->norm_eps) : dot;
            }
            const double *got, *low;
            const int *ids = hw_subspace_tokens(r, side, 1, &got) + 5, *bot = hw_subspace_tokens(r, side, -1, &low) + 5;
            got += 5;
            low += 5;
            int above = 0, below = 0;
            for (int t = 0; t < V; t++) {
                above += sc[t] > sc[ids[4]];
                below += sc[t] < sc[bot[4]];
            }
            CHECK(above == 4 && below == 4, "fold %d side %d: %d above the 5th, %d below", fold, side, above, below);
            for (int k = 0; k < 5; k++)
                CHECK(fabs(got[k] - sc[ids[k]]) < 1e-9 && fabs(low[k] - sc[bot[k]]) < 1e-9, "scores");
            free(sc);
        }
        CHECK(!hw_subspace_tokens(r, 2, 1, NULL) && !hw_subspace_tokens(r, 0, 0, NULL), "bad side or sign");
        hw_subspace_free(r);
    }
}

static void subspace_refuses_and_writes(void) {
    hw_subspace_params p = hw_subspace_params_default();
    hw_subspace_result *r = NULL;
    p.head = (hw_head){5, 0};
    CHECK(hw_subspace_run(model, tok, &p, &r) == HW_ERR_ARG && !r, "layer 5");
    p.head = (hw_head){0, 8};
    CHECK(hw_subspace_run(model, tok, &p, &r) == HW_ERR_ARG, "head 8");
    p.head = (hw_head){0, 1};
    p.kind = (hw_subspace_kind)2;
    CHECK(hw_subspace_run(model, tok, &p, &r) == HW_ERR_ARG, "kind 2");
    p.kind = HW_SUBSPACE_QK;
    p.top = 0;
    CHECK(hw_subspace_run(model, tok, &p, &r) == HW_ERR_ARG, "top 0");
    p.top = 3;
    p.directions = 100;   /* capped at the rank */
    CHECK(hw_subspace_run(model, tok, &p, &r) == HW_OK, "%s", hw_last_error());
    CHECK(hw_subspace_directions(r) == 8, "%d directions", hw_subspace_directions(r));
    char dir[] = "/tmp/hw_subspace.XXXXXX", path[256], buf[1 << 16];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/a/s.json", dir);
    CHECK(hw_subspace_write(r, path) == HW_OK, "%s", hw_last_error());
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    CHECK(strstr(buf, "{\"head\": \"0.1\", \"kind\": \"qk\", \"fold_norm\": true, \"rank\": 8") &&
          strstr(buf, "\"query\": {\"top\": [") && strstr(buf, "\"key\": {") && strstr(buf, "\"bottom_text\""),
          "json %.300s", buf);
    hw_subspace_free(r);
    snprintf(buf, sizeof buf, "rm -rf '%s'", dir);
    CHECK(system(buf) == 0, "rm");
}

/* ---------------------------------------------------------------- low rank */

/* Sum over the prompts' forwards (prompt + answer less its last token) of |q|^2 of head
 * 1.3 and the rows seen. */
static double q_energy(const hw_prompts *ps, int *rows) {
    const int Dh = model->cfg.head_dim;
    double e = 0;
    *rows = 0;
    hw_context *c = hw_context_new(model, 0);
    for (int i = 0; i < hw_prompts_count(ps); i++) {
        int *a = NULL, *b = NULL, ids[512];
        int n = hw_tokenizer_encode_alloc(tok, hw_prompts_text(ps, i), HW_TOK_BOS, &a);
        int na = hw_tokenizer_encode_alloc(tok, hw_prompts_answer(ps, i, 0), 0, &b);
        memcpy(ids, a, sizeof(int) * n);
        memcpy(ids + n, b, sizeof(int) * na);
        hw_capture *cap = hw_capture_new();
        hw_hooks *h = hw_hooks_new();
        hw_capture_want(cap, HW_HOOK_Q, 1);
        hw_hooks_add_capture(h, cap);
        hw_context_reset(c);
        CHECK(hw_forward_hooked(c, ids, n + na - 1, HW_LOGITS_NONE, NULL, h) == HW_OK, "forward");
        const hw_capture_entry *en = hw_capture_get(cap, 0);
        for (int t = 0; t < en->T; t++)
            for (int j = 0; j < Dh; j++) {
                double x = en->data[((size_t)t * en->shape[1] + 3) * Dh + j];
                e += x * x;
            }
        *rows += en->T;
        hw_hooks_free(h);
        hw_capture_free(cap);
        free(a);
        free(b);
    }
    hw_context_free(c);
    return e;
}

static void lowrank_prompts_fit_and_full_rank(void) {
    const int Dh = model->cfg.head_dim;
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_copy.tsv", 1);
    CHECK(ps != NULL, "%s", hw_last_error());
    if (!ps) return;
    hw_lowrank_params p = hw_lowrank_params_default();
    p.head = (hw_head){1, 3};
    p.prompts = ps;
    hw_lowrank_result *r = NULL;
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    int n = hw_lowrank_count(r), rows, want_rows;
    const int *ranks = hw_lowrank_ranks(r);
    CHECK(n == 5 && ranks[0] == 0 && ranks[1] == 1 && ranks[3] == 4 && ranks[4] == 8, "default ranks");
    double base[2];
    const double *acc = hw_lowrank_accuracy(r, 0, base), *acc2 = hw_lowrank_accuracy(r, 1, NULL);
    CHECK(acc[n - 1] == base[0] && acc2[n - 1] == base[1], "r = Dh %g %g vs baseline %g %g", acc[n - 1], acc2[n - 1],
          base[0], base[1]);
    CHECK(base[1] > 0.5, "baseline share %g: stories260K copies the sentences", base[1]);
    const double *sp = hw_lowrank_spectrum(r, 0, &rows);
    double e = q_energy(ps, &want_rows), s2 = 0;
    for (int i = 0; i < Dh; i++) s2 += sp[i] * sp[i];
    for (int i = 1; i < Dh; i++) CHECK(sp[i] <= sp[i - 1], "spectrum order");
    CHECK(rows == want_rows, "rows %d, want %d", rows, want_rows);
    CHECK(fabs(s2 - e) < 1e-6 * e, "spectrum energy %.9g vs |q|^2 %.9g", s2, e);
    printf("  head 1.3 q: share of answer tokens right: baseline %.3f; rank 0 %.3f, 1 %.3f, 2 %.3f, 4 %.3f, 8 %.3f\n", base[1], acc2[0], acc2[1],
           acc2[2], acc2[3], acc2[4]);
    hw_lowrank_free(r);
    hw_prompts_free(ps);
}

static void lowrank_gqa_key_shared(void) {
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_copy.tsv", 1);
    if (!ps) return;
    int ranks[] = {2, 3};
    hw_lowrank_result *r[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        hw_lowrank_params p = hw_lowrank_params_default();
        p.head = (hw_head){3, 4 + i};   /* one KV head */
        p.inputs[0] = HW_HOOK_K;
        p.ranks = ranks;
        p.n_ranks = 2;
        p.center = 1;
        p.prompts = ps;
        CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r[i]) == HW_OK, "%s", hw_last_error());
    }
    if (r[0] && r[1]) {
        CHECK(!memcmp(hw_lowrank_spectrum(r[0], 0, NULL), hw_lowrank_spectrum(r[1], 0, NULL), sizeof(double) * 8),
              "spectra");
        CHECK(!hw_lowrank_spectrum(r[0], 1, NULL), "a second input");
        CHECK(!memcmp(hw_lowrank_accuracy(r[0], 1, NULL), hw_lowrank_accuracy(r[1], 1, NULL), sizeof(double) * 2),
              "accuracies");
        CHECK(hw_lowrank_count(r[0]) == 2 && hw_lowrank_ranks(r[0])[1] == 3, "ranks given");
    }
    hw_lowrank_free(r[0]);
    hw_lowrank_free(r[1]);
    hw_prompts_free(ps);
}

/* q and k together: each input's fit is the one made alone, and every hook acts. */
static void lowrank_q_and_k_together(void) {
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_copy.tsv", 1);
    if (!ps) return;
    int ranks[] = {0, 8};
    hw_lowrank_result *r[3] = {NULL, NULL, NULL};
    const hw_hook_point which[3][2] = {{HW_HOOK_Q, HW_HOOK_K}, {HW_HOOK_Q, 0}, {HW_HOOK_K, 0}};
    for (int i = 0; i < 3; i++) {
        hw_lowrank_params p = hw_lowrank_params_default();
        p.head = (hw_head){0, 2};
        p.inputs[0] = which[i][0];
        p.inputs[1] = which[i][1];
        p.n_inputs = i ? 1 : 2;
        p.ranks = ranks;
        p.n_ranks = 2;
        p.prompts = ps;
        CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r[i]) == HW_OK, "%s", hw_last_error());
    }
    if (r[0] && r[1] && r[2]) {
        int n;
        const hw_hook_point *in = hw_lowrank_inputs(r[0], &n);
        CHECK(n == 2 && in[0] == HW_HOOK_Q && in[1] == HW_HOOK_K, "inputs");
        CHECK(!memcmp(hw_lowrank_spectrum(r[0], 0, NULL), hw_lowrank_spectrum(r[1], 0, NULL), sizeof(double) * 8) &&
              !memcmp(hw_lowrank_spectrum(r[0], 1, NULL), hw_lowrank_spectrum(r[2], 0, NULL), sizeof(double) * 8),
              "spectra of q and k alone");
        double base[2];
        const double *a = hw_lowrank_accuracy(r[0], 1, base);
        CHECK(a[1] == base[1], "rank 8 %g vs %g", a[1], base[1]);
        /* q = 0 alone gives the head uniform attention, and so does q = k = 0 */
        CHECK(a[0] == hw_lowrank_accuracy(r[1], 1, NULL)[0], "q, k = 0 %g vs q = 0 %g", a[0],
              hw_lowrank_accuracy(r[1], 1, NULL)[0]);
    }
    for (int i = 0; i < 3; i++) hw_lowrank_free(r[i]);
    hw_prompts_free(ps);
}

static void lowrank_refuses_bad_input(void) {
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_copy.tsv", 1);
    hw_lowrank_params p = hw_lowrank_params_default();
    hw_lowrank_result *r = NULL;
    p.head = (hw_head){1, 3};
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && !r, "no task");
    p.prompts = ps;
    p.task.name = "induction";
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "both");
    p.task.name = NULL;
    p.inputs[0] = HW_HOOK_Z;
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "hook_z");
    p.inputs[0] = HW_HOOK_V;
    p.inputs[1] = HW_HOOK_V;
    p.n_inputs = 2;
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "twice"), "v twice");
    p.n_inputs = 4;
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "4 inputs");
    p.n_inputs = 1;
    int bad[] = {1, -2};
    p.ranks = bad;
    p.n_ranks = 2;
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "-2"), "rank -2");
    p.n_ranks = 0;
    p.head = (hw_head){1, 9};
    CHECK(hw_lowrank_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "head 9");
    p.head = (hw_head){1, 3};
    CHECK(hw_lowrank_run(model, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG, "prompts without tokenizer");
    CHECK(!r, "a result on failure");
    hw_lowrank_free(NULL);
    CHECK(!hw_lowrank_accuracy(NULL, 0, NULL) && hw_lowrank_count(NULL) == 0, "NULL accessors");
    hw_prompts_free(ps);
}

int main(void) {
    hw_set_threads(2);
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    tok = model ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512) : NULL;
    if (!model || !tok) return fprintf(stderr, "test_head_subspace: %s (set HW_SHARED)\n", hw_last_error()), 1;
    RUN(subspace_reconstructs_every_head);
    RUN(subspace_gqa_groups_share_key_and_value);
    RUN(subspace_tokens_are_the_best_reads);
    RUN(subspace_refuses_and_writes);
    RUN(lowrank_prompts_fit_and_full_rank);
    RUN(lowrank_gqa_key_shared);
    RUN(lowrank_q_and_k_together);
    RUN(lowrank_refuses_bad_input);
    hw_tokenizer_free(tok);
    hw_model_free(model);
    CHECK_DONE();
}
