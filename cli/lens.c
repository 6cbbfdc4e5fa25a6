/* lens.c: `headwise lens`, the logit lens (hw_lens_run): one position's residual stream
 * (and with --components every head, attention and MLP output) through the final norm
 * and W_U, layer by layer. Also the comma-separated integer lists of lens and subspace. */
#include "cli.h"

int cli_ints_flag(const char *cmd, const char *flag, const char *value, void *dst) {
    cli_ints *l = dst;
    l->n = 0;
    for (const char *s = value; *s;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 0x7fffffff || (*end && *end != ','))
            return cli_usage_error(cmd, "%s: '%s' is not a list of integers >= 0 (1,2,3)", flag, value);
        if (l->n == CLI_MAX_INTS) return cli_usage_error(cmd, "%s: more than %d values", flag, CLI_MAX_INTS);
        l->v[l->n++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return l->n ? 0 : cli_usage_error(cmd, "%s: an empty list", flag);
}

static const char help[] =
    "usage: headwise lens -m MODEL [-z TOKENIZER] -p TEXT|--ids I,J,... [flags]\n"
    "  -p TEXT          the prompt (encoded with BOS); or --ids: token ids as given (no\n"
    "                   tokenizer needed then: tokens printed as ids)\n"
    "  --target TEXT    report this answer's rank and logit per row (its first token);\n"
    "  --target-id N    or this token's\n"
    "  --pos P          the position read (default: the last)\n"
    "  --top K          tokens per row (default 10)\n"
    "  --norm MODE      recompute (default): the final norm recomputed on each vector (the\n"
    "                   last row is then the model's logits); fixed: its scale held at the\n"
    "                   full residual's, no bias, so the rows are linear (as DLA)\n"
    "  --components     also every head (L.H), attention output (attn.L), MLP (mlp.L)\n"
    "  -o FILE          .json (every row: top ids, texts, logits, target rank) or .html\n"
    "                   (a table), atomically\n"
    "Rows: resid_pre.L of every layer, then resid_post of the last (the model's output).\n" CLI_KV_HELP;

/* A token's text on one line: control bytes escaped. */
static void put_token(const char *s) {
    putchar('\'');
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20) printf("\\x%02x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('\'');
}

static void print_lens(const hw_lens_result *r, const hw_tokenizer *t) {
    hw_lens_info in;
    hw_lens_get_info(r, &in);
    const int *top = hw_lens_top(r), *rank = hw_lens_target_rank(r), show = in.top < 5 ? in.top : 5;
    printf("# logit lens at position %d of %d tokens, final norm %s", in.pos, in.n_tokens,
           in.norm == HW_LENS_NORM_FIXED ? "scale held fixed" : "recomputed");
    if (rank) {
        printf(", target ");
        put_token(in.target_text);
        printf(" = token %d\nrow\trank\tlogit\ttop tokens\n", in.target);
    } else {
        printf("\nrow\ttop tokens\n");
    }
    for (int i = 0; i < hw_lens_rows(r); i++) {
        printf("%s\t", hw_lens_row_name(r, i));
        if (rank) printf("%d\t%.3f\t", rank[i], hw_lens_target_logit(r)[i]);
        for (int k = 0; k < show; k++) {
            size_t len = 0;
            int id = top[(size_t)i * in.top + k];
            const char *s = t ? hw_tokenizer_decode(t, 0x7fffffff, id, &len) : NULL;
            char buf[64];
            if (s) snprintf(buf, sizeof buf, "%.*s", (int)(len < 63 ? len : 63), s);
            if (k) putchar(' ');
            if (s) put_token(buf);
            else printf("%d", id);
        }
        putchar('\n');
    }
}

int cmd_lens(int argc, char **argv) {
    const char *cmd = "lens", *out = NULL;
    static cli_ints ids;
    int n_ids = 0, norm = 0;
    cli_model_flags f = {0};
    hw_lens_params p = hw_lens_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &out}, {"-p", CLI_STR, &p.prompt},
        {"--ids", CLI_FN, &ids, .fn = cli_ints_flag, .n = &n_ids}, {"--target", CLI_STR, &p.target},
        {"--target-id", CLI_INT, &p.target_id, 0, 1 << 30}, {"--pos", CLI_INT, &p.pos, 0, 1 << 30},
        {"--top", CLI_INT, &p.top, 1, 1 << 30}, {"--norm", CLI_CHOICE, &norm, .choices = "recompute|fixed"},
        {"--components", CLI_SET, &p.components, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!p.prompt == !n_ids) return cli_usage_error(cmd, "give -p TEXT or --ids I,J,... (one of them)");
    if (p.target && p.target_id >= 0) return cli_usage_error(cmd, "give --target or --target-id, not both");
    p.norm = norm ? HW_LENS_NORM_FIXED : HW_LENS_NORM_RECOMPUTE;
    p.ids = ids.v;
    p.n_ids = ids.n;
    cli_session s;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, p.prompt || p.target, &s)) return 1;
    hw_lens_result *r = NULL;
    p.kv = s.kv;
    rc = hw_lens_run(s.m, s.t, &p, NULL, NULL, &r) ? 1 : 0;
    if (!rc) print_lens(r, s.t);
    if (rc || (out && hw_lens_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    hw_lens_free(r);
    cli_close(&s);
    return rc;
}
