/* score_echo.c: `headwise score echo-induction`: RazorAttention's probe (methods.md
 * section 3.1): BOS + a random block repeated 4 times, one prefill, echo and induction
 * scores of every head, the per-KV-head max, and the selection of heads that keep a
 * full cache (top 14% by induction + top 1% by echo). A previous-token score (mean
 * attention from each token to the one before) is reported beside them, since
 * induction heads read what previous-token heads write. */
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise score echo-induction -m MODEL [flags]\n"
    "  --block N        random block length (default: min(2500, (context - 1) / repeats))\n"
    "  --repeats N      copies of the block (default 4)\n"
    "  --lo A --hi B    block ids drawn uniformly from [A, B) (default [10000, 12500), or\n"
    "                   [V/2, V) for a vocabulary under 12500)\n"
    "  --seed S         random block seed (default 1)\n"
    "  --text TEXT      use TEXT's tokens as the block instead of random ids (for small\n"
    "                   models to which random ids are out of distribution)\n"
    "  --echo-ratio R   share of KV heads kept by echo score (default 0.01)\n"
    "  --induction-ratio R  share kept by induction score (default 0.14)\n"
    "  --agg max|mean   per-KV-head aggregation over its query heads (default max)\n"
    "  --chunk N        query rows per prefill call (default 128; the patterns of one call,\n"
    "                   H x N x keys floats per layer, are what memory it takes)\n"
    "  -o FILE          per query head: echo, induction (the paper's means over T x T),\n"
    "                   echo_mass, induction_mass (mean attention of a query in a repeat on\n"
    "                   the earlier copies / the tokens after them, 0..1), prev_token (mean\n"
    "                   attention on the previous token); .json {\"L-H\": [...]} or .tsv; atomic\n"
    "  --heads-out FILE selected KV heads as a TSV of L rows x Hk columns of 0/1 (the\n"
    "                   layout of DuoAttention's full_attention_heads.tsv)\n"
    "  --top N          rows of the ranked table on stdout (default 20; 0: all)\n"
    "  --threads N\n";

typedef struct {
    int H, T, first, block;
    double *echo, *ind, *prev; /* (L, H) */
    hw_status err;
} probe;

static int probe_hook(hw_hook_call *c, void *user) {
    probe *p = user;
    if (c->point != HW_HOOK_PATTERN) return 0;
    if (c->ask) return 1;
    int Tq = c->shape[1], P = c->shape[2];
    size_t off = (size_t)c->layer * p->H;
    hw_status s = hw_echo_induction_scores(c->data, p->H, Tq, P, c->pos, p->T, p->first, p->block,
                                           p->echo + off, p->ind + off);
    if (s) {
        p->err = s;
        return 1;
    }
    for (int h = 0; h < p->H; h++)
        for (int r = 0; r < Tq; r++) {
            int i = c->pos + r;
            if (i >= 1) p->prev[off + h] += c->data[((size_t)h * Tq + r) * P + i - 1] / (p->T - 1);
        }
    return 0;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int cmd_score_echo_induction(int argc, char **argv) {
    const char *cmd = "score echo-induction", *model_path = NULL, *out = NULL, *heads_out = NULL,
               *agg = "max", *text = NULL, *tok_path = NULL;
    long block = 0, repeats = 4, lo = -1, hi = -1, seed = 1, chunk = 128, top = 20, threads = 0;
    double echo_ratio = 0.01, ind_ratio = 0.14;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "--text")) bad = cli_value(cmd, argc, argv, &i, &text);
        else if (!strcmp(a, "--heads-out")) bad = cli_value(cmd, argc, argv, &i, &heads_out);
        else if (!strcmp(a, "--agg")) bad = cli_value(cmd, argc, argv, &i, &agg);
        else if (!strcmp(a, "--block")) bad = cli_int(cmd, argc, argv, &i, 1, 1 << 24, &block);
        else if (!strcmp(a, "--repeats")) bad = cli_int(cmd, argc, argv, &i, 2, 1000, &repeats);
        else if (!strcmp(a, "--lo")) bad = cli_int(cmd, argc, argv, &i, 0, 1L << 30, &lo);
        else if (!strcmp(a, "--hi")) bad = cli_int(cmd, argc, argv, &i, 1, 1L << 30, &hi);
        else if (!strcmp(a, "--seed")) bad = cli_int(cmd, argc, argv, &i, 0, 1L << 62, &seed);
        else if (!strcmp(a, "--chunk")) bad = cli_int(cmd, argc, argv, &i, 1, 1 << 20, &chunk);
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else if (!strcmp(a, "--threads")) bad = cli_int(cmd, argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--echo-ratio")) bad = cli_float(cmd, argc, argv, &i, 0, 1, &echo_ratio);
        else if (!strcmp(a, "--induction-ratio")) bad = cli_float(cmd, argc, argv, &i, 0, 1, &ind_ratio);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score echo-induction --help)", a);
        if (bad) return 2;
    }
    if (strcmp(agg, "max") && strcmp(agg, "mean"))
        return cli_usage_error(cmd, "--agg must be max or mean, not '%s'", agg);
    hw_model *m;
    hw_tokenizer *tok = NULL;
    if (score_load(cmd, model_path, tok_path, text != NULL, &m, &tok)) return 1;
    int *text_ids = NULL, n_text = 0;
    if (text) {
        n_text = score_encode(cmd, tok, text, 0, &text_ids);
        hw_tokenizer_free(tok);
        if (n_text < 0) return hw_model_free(m), 1;
        if (n_text < 2) return free(text_ids), hw_model_free(m), cli_error(cmd, "--text has fewer than 2 tokens");
        block = n_text;
    }
    if (threads) hw_set_threads((int)threads);
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head, V = cfg->vocab_size;
    int first = cfg->bos_id >= 0 ? 1 : 0, C = cfg->n_ctx;
    if (!block) block = (C - first) / repeats < 2500 ? (C - first) / repeats : 2500;
    if (lo < 0) lo = V > 12500 ? 10000 : V / 2;
    if (hi < 0) hi = V > 12500 ? 12500 : V;
    int rc = 1;
    long T = first + repeats * block;
    if (block < 2) {
        free(text_ids);
        hw_model_free(m);
        return cli_error(cmd, "the model's context (%d) is too short for the probe", C);
    }
    if (T > C) {
        free(text_ids);
        hw_model_free(m);
        return cli_error(cmd, "probe of %ld tokens (%ld x %ld + BOS) is longer than the model's "
                         "context (%d)", T, repeats, block, C);
    }
    if (!text_ids && (lo >= hi || hi > V)) {
        hw_model_free(m);
        return cli_usage_error(cmd, "token range [%ld, %ld) is empty or outside the vocabulary "
                               "(%d)", lo, hi, V);
    }
    int *tokens = malloc(sizeof(int) * (size_t)T);
    double *buf = calloc((size_t)L * H * 3 + (size_t)L * Hk * 2 + (size_t)L * H * 5, sizeof(double));
    int *keep = malloc(sizeof(int) * (size_t)L * Hk);
    hw_context *ctx = hw_context_new(m, (int)T);
    hw_hooks *hooks = hw_hooks_new();
    if (!tokens || !buf || !keep || !ctx || !hooks) {
        cli_error(cmd, "%s", ctx && hooks ? "out of memory" : hw_last_error());
        goto done;
    }
    uint64_t st = (uint64_t)seed;
    if (first) tokens[0] = cfg->bos_id;
    for (long i = 0; i < block; i++)
        tokens[first + i] = text_ids ? text_ids[i] : (int)(lo + (long)(splitmix(&st) % (uint64_t)(hi - lo)));
    for (long r = 1; r < repeats; r++)
        memcpy(tokens + first + r * block, tokens + first, sizeof(int) * (size_t)block);
    probe p = {H, (int)T, first, (int)block, buf, buf + (size_t)L * H, buf + (size_t)2 * L * H, HW_OK};
    double *kv_echo = buf + (size_t)3 * L * H, *kv_ind = kv_echo + (size_t)L * Hk,
           *table = kv_ind + (size_t)L * Hk;
    hw_hooks_add(hooks, probe_hook, &p);
    for (long pos = 0; pos < T; pos += chunk) {
        int n = (int)(T - pos < chunk ? T - pos : chunk);
        score_progress(cmd, "prefill %ld/%ld tokens", pos + n, T);
        if (hw_forward_hooked(ctx, tokens + pos, n, HW_LOGITS_NONE, NULL, hooks)) {
            score_progress_done();
            cli_error(cmd, "%s", p.err ? hw_last_error() : hw_last_error());
            goto done;
        }
    }
    score_progress_done();
    int use_max = !strcmp(agg, "max");
    hw_scores_per_kv(p.echo, L, H, Hk, use_max, kv_echo);
    hw_scores_per_kv(p.ind, L, H, Hk, use_max, kv_ind);
    int kept = hw_razor_select(kv_echo, kv_ind, L * Hk, echo_ratio, ind_ratio, keep);
    /* The paper's scores are means over all T*T entries, so even a perfect head scores
     * (T - first - block) / T^2; the "mass" columns divide by the rows that have earlier
     * copies instead: the mean attention a query in a repeat puts on them (0..1). The
     * ranking is the same. */
    double rows = (double)(T - first - block), to_mass = (double)T * T / rows;
    for (int i = 0; i < L * H; i++) {
        table[i * 5] = p.echo[i];
        table[i * 5 + 1] = p.ind[i];
        table[i * 5 + 2] = p.echo[i] * to_mass;
        table[i * 5 + 3] = p.ind[i] * to_mass;
        table[i * 5 + 4] = p.prev[i];
    }
    static const char *const cols[] = {"echo", "induction", "echo_mass", "induction_mass",
                                       "prev_token"};
    score_table tab = {L, H, 5, cols, table};
    if (text_ids)
        printf("# echo-induction probe: %ld tokens (BOS %s + %ld x the %ld tokens of --text)\n", T,
               first ? "yes" : "no", repeats, block);
    else
        printf("# echo-induction probe: %ld tokens (BOS %s + %ld x block of %ld, ids in [%ld, %ld)), "
               "seed %ld\n", T, first ? "yes" : "no", repeats, block, lo, hi, seed);
    score_table_print(&tab, 1, 0, (int)top);
    printf("# selected KV heads (%s over query heads; top %.0f%% induction + %.0f%% echo): %d of %d:",
           agg, ind_ratio * 100, echo_ratio * 100, kept, L * Hk);
    for (int i = 0; i < L * Hk; i++)
        if (keep[i]) printf(" %d.%d", i / Hk, i % Hk);
    putchar('\n');
    if (out && score_table_write(cmd, &tab, 1, 0, out)) goto done;
    if (heads_out) {
        hw_atomic_file *a = hw_atomic_open(heads_out);
        if (!a) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        FILE *f = hw_atomic_stream(a);
        for (int l = 0; l < L; l++)
            for (int k = 0; k < Hk; k++) fprintf(f, "%d%c", keep[l * Hk + k], k + 1 < Hk ? '\t' : '\n');
        if (hw_atomic_commit(a)) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
    }
    rc = 0;
done:
    hw_hooks_free(hooks);
    hw_context_free(ctx);
    free(keep);
    free(buf);
    free(tokens);
    free(text_ids);
    hw_model_free(m);
    return rc;
}
