/* test_patching.c: prompt pairs, activation patching (hw_patch_run) and path patching
 * (hw_path_patch_run), methods.md sections 7 and 9.
 *
 * With no argument, on stories260K with text pairs: bad pairs refused (naming the pair),
 * the metrics, preserve_elements, the identity invariants (patching a run with its own
 * activations gives 1 for clean into clean and 0 for corrupt into corrupt) and the direct
 * effects adding up as DLA's terms (hw_dla_run on both prompts), and path patching with
 * every receiver (heads' q, k, v, MLPs, logits) equal to activation patching.
 *
 * `test_patching organism` runs on the induction organism ($HW_ORGANISM_INDUCTION, set by
 * tests/patching_test.sh): identity for every hook, hook_z patching ranks the previous-
 * token head and the induction heads (found by hw_echo_induction_run) first, path patching
 * with every receiver equals activation patching of the sender, and the previous-token
 * head's path into the induction heads goes through their keys, not queries or values. */
#include "check.h"
#include "headwise.h"

static hw_model *model;
static hw_tokenizer *tok;

static hw_prompt_pairs *text_pairs(void) {
    static const char *const clean[] = {"Lily saw a big red ball. Lily saw a big red",
                                        "Tom had a small blue car. Tom had a small blue"};
    static const char *const corrupt[] = {"Lily saw a big red cat. Lily saw a big red",
                                          "Tom had a small blue dog. Tom had a small blue"};
    static const char *const target[] = {"ball", "car"}, *const minus[] = {"cat", "dog"};
    hw_prompt_pairs *pp = hw_prompt_pairs_new();
    for (int i = 0; i < 2; i++) {
        int *a = NULL, *b = NULL;
        int na = hw_tokenizer_encode_alloc(tok, clean[i], HW_TOK_BOS, &a);
        int nb = hw_tokenizer_encode_alloc(tok, corrupt[i], HW_TOK_BOS, &b);
        CHECK(hw_prompt_pairs_add(pp, a, na, b, nb, hw_tokenizer_answer_token(tok, target[i]),
                                  hw_tokenizer_answer_token(tok, minus[i]), NULL) == HW_OK, "%s", hw_last_error());
        free(a);
        free(b);
    }
    return pp;
}

static void bad_pairs_refused(void) {
    hw_prompt_pairs *pp = hw_prompt_pairs_new();
    int a[3] = {1, 5, 6}, b[2] = {1, 7};
    CHECK(hw_prompt_pairs_add(pp, a, 3, b, 2, 5, -1, "my pair") == HW_ERR_ARG, "unequal lengths taken");
    CHECK(strstr(hw_last_error(), "my pair") && strstr(hw_last_error(), "3 tokens"), "%s", hw_last_error());
    CHECK(hw_prompt_pairs_add(pp, a, 3, a, 3, -1, -1, NULL) == HW_ERR_ARG, "no target taken");
    int far[3] = {1, 100000, 2};
    CHECK(hw_prompt_pairs_add(pp, far, 3, a, 3, 5, -1, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(hw_prompt_pairs_check(pp, model) == HW_ERR_ARG && strstr(hw_last_error(), "pair 0"), "%s", hw_last_error());
    hw_patch_params p = hw_patch_params_default();
    hw_patch_result *r = NULL;
    CHECK(hw_patch_run(model, tok, pp, &p, NULL, NULL, &r) == HW_ERR_ARG && !r, "a token outside the vocabulary ran");
    hw_prompt_pairs_free(pp);
    pp = hw_prompt_pairs_new();
    CHECK(hw_prompt_pairs_add(pp, a, 3, a, 3, 5, 6, "same") == HW_OK, "%s", hw_last_error());
    CHECK(hw_patch_run(model, tok, pp, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "same"),
          "a pair with equal metrics ran: %s", hw_last_error());
    p.hook = HW_HOOK_RESULT;
    CHECK(hw_patch_run(model, tok, pp, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "cannot be swept"),
          "%s", hw_last_error());
    hw_metric m;
    CHECK(hw_metric_parse("logit_diff", &m) == HW_ERR_ARG && hw_metric_parse("logprob", &m) == HW_OK &&
          m == HW_METRIC_LOGPROB, "metric names");
    hw_prompt_pairs_free(pp);
}

static void metrics_and_preserve(void) {
    float logits[4] = {1, 2, 3, 0.5f};
    double z = exp(1) + exp(2) + exp(3) + exp(0.5);
    CHECK(fabs(hw_metric_value(HW_METRIC_LOGIT_DIFF, logits, 4, 2, 0) - 2) < 1e-12, "logit-diff");
    CHECK(fabs(hw_metric_value(HW_METRIC_LOGIT_DIFF, logits, 4, 2, -1) - 3) < 1e-12, "logit-diff, no minus");
    CHECK(fabs(hw_metric_value(HW_METRIC_PROB, logits, 4, 1, -1) - exp(2) / z) < 1e-9, "prob");
    CHECK(fabs(hw_metric_value(HW_METRIC_LOGPROB, logits, 4, 1, -1) - (2 - log(z))) < 1e-9, "logprob");
    double eff[5] = {3, -1, 0.5, NAN, 0.5};
    int keep[5];
    CHECK(hw_preserve_elements(eff, 5, 0.8, keep) == 2 && keep[0] && keep[1] && !keep[2] && !keep[3], "preserve 0.8");
    CHECK(hw_preserve_elements(eff, 5, 1, keep) == 4 && !keep[3], "preserve 1: NaN left out");
    CHECK(hw_preserve_elements(eff, 5, 0, keep) == 0, "preserve 0");
    CHECK(hw_preserve_elements(eff, 5, 1.5, keep) == -1, "a fraction over 1 taken");
}

/* Every normalised value of a run equals want (total and, where computed, direct). */
static void check_all(const hw_patch_result *r, double want, const char *what) {
    hw_patch_info in;
    hw_patch_get_info(r, &in);
    for (int d = 0; d <= in.direct; d++) {
        const double *v = hw_patch_result_mean(r, d);
        for (int k = 0; k < in.rows * in.cols; k++)
            CHECK(fabs(v[k] - want) < 1e-4, "%s%s: cell %d is %.6f, not %g", what, d ? " direct" : "", k, v[k], want);
    }
}

static void identity_for(const hw_prompt_pairs *pp, hw_hook_point hook) {
    char name[64];
    hw_hook_name(name, sizeof name, hook, 0);
    for (int dir = 0; dir < 2; dir++) {
        hw_patch_params p = hw_patch_params_default();
        p.hook = hook;
        p.identity = 1;
        p.direct = 1;
        p.direction = dir ? HW_PATCH_NOISE : HW_PATCH_DENOISE;
        hw_patch_result *r = NULL;
        CHECK(hw_patch_run(model, tok, pp, &p, NULL, NULL, &r) == HW_OK, "%s: %s", name, hw_last_error());
        if (r) check_all(r, dir ? 1.0 : 0.0, name);
        hw_patch_result_free(r);
    }
}

/* One pair (position sweeps need equal lengths across pairs). */
static hw_prompt_pairs *first_pair(const hw_prompt_pairs *pp) {
    const int *a, *b;
    int t, m, n = hw_prompt_pairs_get(pp, 0, &a, &b, &t, &m);
    hw_prompt_pairs *one = hw_prompt_pairs_new();
    hw_prompt_pairs_add(one, a, n, b, n, t, m, NULL);
    return one;
}

static void identity_stories(void) {
    hw_prompt_pairs *pp = text_pairs(), *one = first_pair(pp);
    identity_for(pp, HW_HOOK_Z);
    identity_for(one, HW_HOOK_MLP_OUT);
    identity_for(one, HW_HOOK_RESID_PRE);
    hw_prompt_pairs_free(pp);
    hw_prompt_pairs_free(one);
}

/* The final norm's scale on a prompt's last residual (RMS: stories260K). */
static double final_scale(const int *ids, int n) {
    hw_capture *cap = hw_capture_new();
    hw_hooks *h = hw_hooks_new();
    const hw_config *cfg = hw_model_config(model);
    hw_capture_want(cap, HW_HOOK_RESID_POST, cfg->n_layer - 1);
    hw_hooks_add_capture(h, cap);
    hw_context *c = hw_context_new(model, 0);
    hw_forward_hooked(c, ids, n, HW_LOGITS_NONE, NULL, h);
    const float *r = hw_capture_get(cap, 0)->data + (size_t)(n - 1) * cfg->d_model;
    double ss = 0;
    for (int k = 0; k < cfg->d_model; k++) ss += (double)r[k] * r[k];
    hw_context_free(c);
    hw_hooks_free(h);
    hw_capture_free(cap);
    return sqrt(ss / cfg->d_model + cfg->norm_eps);
}

/* The raw direct changes (metric_direct - corrupted metric) of one denoising sweep. */
static double *direct_changes(const hw_prompt_pairs *one, hw_hook_point hook, int *n) {
    hw_patch_params p = hw_patch_params_default();
    p.hook = hook;
    p.direct = 1;
    hw_patch_result *r = NULL;
    CHECK(hw_patch_run(model, tok, one, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return NULL;
    hw_patch_info in;
    hw_patch_get_info(r, &in);
    double clean, corrupt;
    hw_patch_result_baseline(r, 0, &clean, &corrupt);
    const double *md = hw_patch_result_pair_metric(r, 0, 1);
    double *out = malloc(sizeof(double) * (size_t)in.rows * in.cols);
    for (int k = 0; k < in.rows * in.cols; k++) out[k] = md[k] - corrupt;
    *n = in.cols;
    hw_patch_result_free(r);
    return out;
}

/* DLA of one prompt: its components (count values) into vals; returns the sum but rest. */
static double dla_of(const char *prompt, const char *target, const char *minus, double *vals) {
    hw_dla_params p = hw_dla_params_default();
    p.prompt = prompt;
    p.target = target;
    p.minus = &minus;
    p.n_minus = 1;
    hw_dla_result *r = NULL;
    CHECK(hw_dla_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    hw_dla_info in;
    hw_dla_get_info(r, &in);
    memcpy(vals, hw_dla_values(r), sizeof(double) * (size_t)hw_dla_count(r));
    hw_dla_free(r);
    return in.sum;
}

/* Denoising direct effects: head (l, h)'s is DLA_clean - k DLA_corrupt, k = the corrupted
 * run's final-norm scale over the clean one's (the direction held at the clean scale); and
 * over every component (embedding, heads, MLPs; attention biases do not change) they add
 * up to DLA's clean sum minus k times its corrupted sum. */
static void direct_effects_add_up_as_dla(void) {
    const char *clean = "Lily saw a big red ball. Lily saw a big red", *corrupt = "Lily saw a big red cat. Lily saw a big red";
    const hw_config *cfg = hw_model_config(model);
    const int L = cfg->n_layer, H = cfg->n_head, nc = 1 + L * (H + 2) + 1;
    double *dc = malloc(sizeof(double) * nc), *dx = malloc(sizeof(double) * nc);
    double sum_c = dla_of(clean, "ball", "cat", dc), sum_x = dla_of(corrupt, "ball", "cat", dx);
    hw_prompt_pairs *pp = text_pairs(), *one = first_pair(pp);
    const int *a, *b;
    int T = hw_prompt_pairs_get(one, 0, &a, &b, NULL, NULL), cols;
    const double k = final_scale(b, T) / final_scale(a, T);
    double *z = direct_changes(one, HW_HOOK_Z, &cols), *mlp = direct_changes(one, HW_HOOK_MLP_OUT, &cols),
           *res = direct_changes(one, HW_HOOK_RESID_PRE, &cols);
    double total = 0;
    for (int l = 0; z && l < L; l++)
        for (int h = 0; h < H; h++) {
            int c = 1 + l * (H + 2) + h;
            double want = dc[c] - k * dx[c];
            CHECK(fabs(z[l * H + h] - want) < 2e-4 * (1 + fabs(want)), "head %d.%d: direct %.6f, DLA %.6f", l, h,
                  z[l * H + h], want);
            total += z[l * H + h];
        }
    for (int l = 0; mlp && l < L; l++) total += mlp[l * cols + T - 1];
    if (res) total += res[T - 1]; /* layer 0's residual at the last position: the embedding */
    double want = sum_c - k * sum_x;
    CHECK(fabs(total - want) < 2e-4 * (1 + fabs(want)), "direct effects sum to %.6f, DLA %.6f", total, want);
    printf("  direct effects sum %.6f, DLA clean %.6f - %.4f x corrupted %.6f = %.6f\n", total, sum_c, k, sum_x, want);
    free(z);
    free(mlp);
    free(res);
    free(dc);
    free(dx);
    hw_prompt_pairs_free(pp);
    hw_prompt_pairs_free(one);
}

/* Path patching with every receiver (every later head's q, k, v, every MLP after the
 * sender, the logits) equals activation patching of the sender (noising hook_z), on a model
 * with MLPs; a sender in the last layer reaches only the logits and its MLP. */
static void path_every_receiver_stories(void) {
    const hw_config *cfg = hw_model_config(model);
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head;
    hw_prompt_pairs *pp = text_pairs(), *one = first_pair(pp);
    hw_head snd[] = {{0, 1}, {2, 3}, {3, 7}, {4, 4}};
    hw_path_receiver rcv[512];
    int nr = 0;
    static const hw_hook_point in[] = {HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V};
    for (int x = 0; x < 3; x++)
        for (int l = 1; l < L; l++)
            for (int h = 0; h < (x ? Hk : H); h++) rcv[nr++] = (hw_path_receiver){l, h, in[x]};
    for (int l = 0; l < L; l++) rcv[nr++] = (hw_path_receiver){l, 0, HW_HOOK_MLP_OUT};
    rcv[nr++] = (hw_path_receiver){0, 0, HW_HOOK_LOGITS};
    hw_path_patch_params p = hw_path_patch_params_default();
    p.senders = snd;
    p.n_senders = 4;
    p.receivers = rcv;
    p.n_receivers = nr;
    hw_path_patch_result *r = NULL;
    CHECK(hw_path_patch_run(model, one, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    hw_patch_result *act = NULL;
    hw_patch_params ap = hw_patch_params_default();
    ap.direction = HW_PATCH_NOISE;
    CHECK(hw_patch_run(model, tok, one, &ap, NULL, NULL, &act) == HW_OK, "%s", hw_last_error());
    if (r && act) {
        const double *nm = hw_path_patch_normalized(r), *av = hw_patch_result_mean(act, 0);
        for (int a = 0; a < 4; a++) {
            double path = nm[a * (nr + 1) + nr], want = av[snd[a].layer * H + snd[a].head];
            CHECK(fabs(path - want) < 1e-4, "sender %d.%d: every receiver %.6f, activation patching %.6f",
                  snd[a].layer, snd[a].head, path, want);
            /* no path into a head of the sender's layer or an earlier one */
            CHECK(isnan(nm[a * (nr + 1) + 0]) == (snd[a].layer >= 1), "sender %d.%d: receiver 1.0.q", snd[a].layer,
                  snd[a].head);
        }
        printf("  sender 4.4 into every receiver: %.6f = activation patching %.6f\n", nm[3 * (nr + 1) + nr],
               av[4 * H + 4]);
    }
    char name[32];
    hw_path_receiver_name(name, sizeof name, &rcv[nr - 2]);
    CHECK(!strcmp(name, "mlp.4"), "%s", name);
    hw_patch_result_free(act);
    hw_path_patch_result_free(r);
    hw_prompt_pairs_free(pp);
    hw_prompt_pairs_free(one);
}

/* ---------------------------------------------------------------- the induction organism */

static void identity_organism(void) {
    hw_prompt_pairs *pp = hw_prompt_pairs_task(model, "induction", 3, 0, 7);
    CHECK(pp && hw_prompt_pairs_count(pp) == 3, "%s", hw_last_error());
    static const hw_hook_point hooks[] = {HW_HOOK_Z, HW_HOOK_PATTERN, HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V,
                                          HW_HOOK_RESID_PRE, HW_HOOK_RESID_POST, HW_HOOK_ATTN_OUT};
    for (size_t i = 0; pp && i < sizeof hooks / sizeof *hooks; i++) identity_for(pp, hooks[i]);
    hw_prompt_pairs_free(pp);
}

/* The previous-token head and the two induction heads by the echo-induction probe. */
static void circuit_heads(int *prev, int *ind0, int *ind1) {
    hw_echo_induction_params p = hw_echo_induction_params_default();
    hw_echo_induction_result *r = NULL;
    CHECK(hw_echo_induction_run(model, NULL, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    const hw_head_table *t = hw_echo_induction_table(r);
    const int n = t->n_layer * t->n_head;
    int order[64];
    hw_scores_rank(hw_head_table_column(t, "prev_token"), n, order);
    *prev = order[0];
    hw_scores_rank(hw_head_table_column(t, "induction"), n, order);
    *ind0 = order[0];
    *ind1 = order[1];
    hw_echo_induction_free(r);
}

static hw_patch_result *z_noise(const hw_prompt_pairs *pp) {
    hw_patch_params p = hw_patch_params_default();
    p.direction = HW_PATCH_NOISE;
    hw_patch_result *r = NULL;
    CHECK(hw_patch_run(model, tok, pp, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    return r;
}

static void z_patching_ranks_the_circuit(void) {
    int prev, i0, i1;
    circuit_heads(&prev, &i0, &i1);
    const int H = hw_model_config(model)->n_head, n = hw_model_config(model)->n_layer * H;
    hw_prompt_pairs *pp = hw_prompt_pairs_task(model, "induction", 20, 0, 1);
    for (int dir = 0; dir < 2; dir++) {
        hw_patch_params p = hw_patch_params_default();
        p.direction = dir ? HW_PATCH_NOISE : HW_PATCH_DENOISE;
        hw_patch_result *r = NULL;
        CHECK(hw_patch_run(model, tok, pp, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
        if (!r) continue;
        const double *v = hw_patch_result_mean(r, 0);
        double eff[64];
        int order[64];
        for (int k = 0; k < n; k++) eff[k] = fabs(v[k] - dir);
        hw_scores_rank(eff, n, order);
        int top3 = 0;
        for (int k = 0; k < 3; k++) top3 += order[k] == prev || order[k] == i0 || order[k] == i1;
        CHECK(top3 == 3, "%s: top 3 by effect are %d.%d %d.%d %d.%d, not prev %d.%d and induction %d.%d %d.%d",
              dir ? "noise" : "denoise", order[0] / H, order[0] % H, order[1] / H, order[1] % H, order[2] / H,
              order[2] % H, prev / H, prev % H, i0 / H, i0 % H, i1 / H, i1 % H);
        printf("  %s: prev-token %d.%d %.4f, induction %d.%d %.4f, %d.%d %.4f (normalised)\n", dir ? "noise" : "denoise",
               prev / H, prev % H, v[prev], i0 / H, i0 % H, v[i0], i1 / H, i1 % H, v[i1]);
        hw_patch_result_free(r);
    }
    hw_prompt_pairs_free(pp);
}

/* Path patching: every sender into every later head's q, k, v and the logits equals
 * activation patching of the sender (noising hook_z); prev-token -> induction heads goes
 * through their keys (K), not their queries or values. */
static void path_patching_organism(void) {
    int prev, i0, i1;
    circuit_heads(&prev, &i0, &i1);
    const hw_config *cfg = hw_model_config(model);
    const int H = cfg->n_head, L = cfg->n_layer;
    hw_prompt_pairs *pp = hw_prompt_pairs_task(model, "induction", 20, 0, 1);
    hw_head snd[64];
    hw_path_receiver rcv[256];
    int ns = 0, nr = 0;
    for (int l = 0; l < L - 1; l++)
        for (int h = 0; h < H; h++) snd[ns++] = (hw_head){l, h};
    static const hw_hook_point in[] = {HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V};
    for (int x = 0; x < 3; x++)
        for (int l = 1; l < L; l++)
            for (int h = 0; h < (x ? cfg->n_kv_head : H); h++) rcv[nr++] = (hw_path_receiver){l, h, in[x]};
    rcv[nr++] = (hw_path_receiver){0, 0, HW_HOOK_LOGITS};
    hw_path_patch_params p = hw_path_patch_params_default();
    p.senders = snd;
    p.n_senders = ns;
    p.receivers = rcv;
    p.n_receivers = nr;
    hw_path_patch_result *r = NULL;
    CHECK(hw_path_patch_run(model, pp, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    hw_patch_result *act = z_noise(pp);
    if (r && act) {
        const double *nm = hw_path_patch_normalized(r), *pc = hw_path_patch_percent(r), *av = hw_patch_result_mean(act, 0);
        for (int a = 0; a < ns; a++)
            CHECK(fabs(nm[a * (nr + 1) + nr] - av[snd[a].layer * H + snd[a].head]) < 1e-4,
                  "sender %d.%d: path with every receiver %.6f, activation patching %.6f", snd[a].layer, snd[a].head,
                  nm[a * (nr + 1) + nr], av[snd[a].layer * H + snd[a].head]);
        /* The prev-token head's row: K into each induction head vs its Q and V. */
        const int a = prev; /* senders are every head of the layers before the last, in order */
        for (int k = 0; k < 2; k++) {
            int ind = k ? i1 : i0, l = ind / H, h = ind % H, kv = h / (H / cfg->n_kv_head);
            int cq = (l - 1) * H + h, ck = (L - 1) * H + (l - 1) * cfg->n_kv_head + kv;
            int cv = ck + (L - 1) * cfg->n_kv_head;
            double q = pc[a * (nr + 1) + cq], kk = pc[a * (nr + 1) + ck], v = pc[a * (nr + 1) + cv];
            CHECK(kk < -30 && fabs(q) < fabs(kk) / 10 && fabs(v) < fabs(kk) / 10,
                  "prev %d.%d -> induction %d.%d: q %.2f%%, k %.2f%%, v %.2f%%", prev / H, prev % H, l, h, q, kk, v);
            printf("  path %d.%d -> %d.%d: q %.3f%%, k %.3f%%, v %.3f%%\n", prev / H, prev % H, l, h, q, kk, v);
        }
    }
    hw_patch_result_free(act);
    hw_path_patch_result_free(r);
    hw_prompt_pairs_free(pp);
}

int main(int argc, char **argv) {
    int organism = argc > 1 && !strcmp(argv[1], "organism");
    const char *dir = organism ? getenv("HW_ORGANISM_INDUCTION") : NULL;
    if (organism && !dir) {
        printf("FAIL organism: HW_ORGANISM_INDUCTION is not set\n");
        return 1;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s", organism ? dir : shared_path("models/stories260K/stories260K.bin"));
    model = hw_model_load(path);
    tok = model ? (organism ? hw_tokenizer_load_for_model(path, 0) : hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512)) : NULL;
    if (!model || !tok) {
        printf("FAIL load %s: %s\n", path, hw_last_error());
        return 1;
    }
    if (organism) {
        RUN(identity_organism);
        RUN(z_patching_ranks_the_circuit);
        RUN(path_patching_organism);
    } else {
        RUN(bad_pairs_refused);
        RUN(metrics_and_preserve);
        RUN(identity_stories);
        RUN(direct_effects_add_up_as_dla);
        RUN(path_every_receiver_stories);
    }
    hw_tokenizer_free(tok);
    hw_model_free(model);
    CHECK_DONE();
}
