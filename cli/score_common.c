/* score_common.c: loading, per-head tables and progress for the scoring commands. */
#include "score_common.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int score_load(const char *cmd, const char *model_path, const char *tok_path, int want_tok,
               hw_model **m, hw_tokenizer **t) {
    *m = NULL;
    if (t) *t = NULL;
    if (!model_path) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!(*m = hw_model_load(model_path))) return cli_error(cmd, "%s", hw_last_error());
    if (!t || (!want_tok && !tok_path)) return 0;
    char def[4096];
    if (!tok_path) {
        cli_default_tokenizer(model_path, def, sizeof def);
        tok_path = def;
    }
    if (!(*t = hw_tokenizer_load(tok_path, hw_model_config(*m)->vocab_size))) {
        int s = cli_error(cmd, "%s (give the tokenizer with -z)", hw_last_error());
        hw_model_free(*m);
        *m = NULL;
        return s;
    }
    return 0;
}

int score_table_write(const char *cmd, const score_table *tab, int rank_col, int ascending,
                      const char *path) {
    /* The library's writer takes columns as (L, H) arrays: transpose. */
    const size_t n = (size_t)tab->L * tab->H;
    double *cols = malloc(sizeof(double) * n * (size_t)tab->n_col);
    if (!cols) return cli_error(cmd, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < tab->n_col; c++) cols[(size_t)c * n + i] = tab->v[i * (size_t)tab->n_col + c];
    hw_head_table t = {tab->L, tab->H, tab->n_col, tab->cols, cols, rank_col, ascending};
    hw_status s = hw_head_table_write(&t, path);
    free(cols);
    return s ? cli_error(cmd, "%s", hw_last_error()) : 0;
}

/* The ranked rows of a table whose value (head i, column c) is v[i * si + c * sc]. */
static void print_ranked(int L, int H, int n_col, const char *const *cols, const double *v,
                         size_t si, size_t sc, int rank_col, int ascending, int top) {
    int n = L * H;
    int *order = malloc(sizeof(int) * (size_t)n);
    double *key = calloc((size_t)n, sizeof(double));
    if (!order || !key) {
        free(order);
        free(key);
        return;
    }
    for (int i = 0; i < n; i++) key[i] = (ascending ? -1 : 1) * v[i * si + rank_col * sc];
    hw_scores_rank(key, n, order);
    printf("rank\thead");
    for (int c = 0; c < n_col; c++) printf("\t%s", cols[c]);
    putchar('\n');
    for (int r = 0; r < n && (top <= 0 || r < top); r++) {
        int i = order[r];
        printf("%d\t%d.%d", r + 1, i / H, i % H);
        for (int c = 0; c < n_col; c++) printf("\t%.4g", v[i * si + c * sc]);
        putchar('\n');
    }
    free(order);
    free(key);
}

void score_table_print(const score_table *tab, int rank_col, int ascending, int top) {
    print_ranked(tab->L, tab->H, tab->n_col, tab->cols, tab->v, (size_t)tab->n_col, 1, rank_col,
                 ascending, top);
}

void score_head_table_print(const hw_head_table *t, int ascending, int top) {
    print_ranked(t->n_layer, t->n_head, t->n_col, t->cols, t->values, 1,
                 (size_t)t->n_layer * t->n_head, t->rank_col, ascending, top);
}

/* Progress with counts, for runs whose stages are names ("prefill", "task days"). */
int score_progress_counted(const char *stage, int64_t done, int64_t total, void *user) {
    if (total > 0) score_progress((const char *)user, "%s %lld/%lld", stage, (long long)done, (long long)total);
    else score_progress((const char *)user, "%s", stage);
    return 0;
}


static int progress_open;
void score_progress(const char *cmd, const char *fmt, ...) {
    int tty = isatty(2);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%sheadwise %s: ", tty ? "\r\033[K" : "", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty) fputc('\n', stderr);
    progress_open = tty;
}
void score_progress_done(void) {
    if (progress_open) fputc('\n', stderr);
    progress_open = 0;
}

int score_encode(const char *cmd, const hw_tokenizer *t, const char *text, int flags, int **ids) {
    /* One id per byte plus BOS and EOS holds every tokenizer's output unless a
     * normalizer added text; only then encode a second time with the count it gave
     * (encoding a haystack twice was a third of a needle-in-a-haystack setup). */
    size_t len = strlen(text);
    int cap = len < INT_MAX - 16 ? (int)len + 16 : INT_MAX;
    for (;;) {
        *ids = malloc(sizeof(int) * (size_t)cap);
        if (!*ids) return cli_error(cmd, "out of memory"), -1;
        int n = hw_tokenizer_encode(t, text, flags, *ids, cap);
        if (n < 0) return free(*ids), *ids = NULL, cli_error(cmd, "%s", hw_last_error()), -1;
        if (n <= cap) return n;
        free(*ids);
        cap = n;
    }
}

int score_single_token(const hw_tokenizer *t, const char *text) {
    char buf[512];
    int ids[4];
    snprintf(buf, sizeof buf, " %s", text);
    /* A SentencePiece-style tokenizer already puts a space before the text. */
    for (int k = 0; k < 2; k++) {
        const char *s = k ? text : buf;
        int n = hw_tokenizer_encode(t, s, 0, ids, 4);
        if (n == 1) return ids[0];
    }
    return -1;
}

int score_read_prompts(const char *cmd, const char *path, int n_ans, score_prompt **out, int *n) {
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return cli_error(cmd, "cannot read %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int line_no = 0, rc = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char *fields[5] = {0};
        int nf = 0;
        for (char *s = line; nf < 5;) {
            fields[nf++] = s;
            char *tab = strchr(s, '\t');
            if (!tab) break;
            *tab = 0;
            s = tab + 1;
        }
        if (nf < 1 + n_ans) {
            rc = cli_error(cmd, "%s:%d: expected a prompt and %d answer(s) separated by tabs", path,
                           line_no, n_ans);
            break;
        }
        score_prompt *np = realloc(*out, sizeof **out * (size_t)(*n + 1));
        if (!np) {
            rc = cli_error(cmd, "out of memory");
            break;
        }
        *out = np;
        score_prompt *p = &np[(*n)++];
        memset(p, 0, sizeof *p);
        /* "\n" escapes in the prompt */
        p->prompt = strdup(fields[0]);
        if (p->prompt) {
            char *w = p->prompt;
            for (const char *r = p->prompt; *r; r++) {
                if (r[0] == '\\' && r[1] == 'n') {
                    *w++ = '\n';
                    r++;
                } else {
                    *w++ = *r;
                }
            }
            *w = 0;
        }
        for (int k = 0; k < nf - 1 && k < 4; k++) p->ans[k] = strdup(fields[k + 1]);
    }
    free(line);
    fclose(f);
    if (!rc && !*n) rc = cli_error(cmd, "%s: no prompts", path);
    return rc;
}

void score_free_prompts(score_prompt *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].prompt);
        for (int k = 0; k < 4; k++) free(p[i].ans[k]);
    }
    free(p);
}

int score_answer_token(const hw_tokenizer *t, const char *text) {
    int id = score_single_token(t, text);
    if (id >= 0) return id;
    int ids[64];
    int n = hw_tokenizer_encode(t, text, 0, ids, 64);
    return n > 0 ? ids[0] : -1;
}

int score_task_flag(hw_task_eval_params *p, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    long v;
    double d;
    if (!strcmp(a, "--task")) return cli_value(cmd, argc, argv, i, &p->name) ? -1 : 1;
    if (!strcmp(a, "--task-seed")) {
        if (cli_int(cmd, argc, argv, i, 0, 1L << 62, &v)) return -1;
        p->seed = (uint64_t)v;
    } else if (!strcmp(a, "--samples")) {
        if (cli_int(cmd, argc, argv, i, 1, 1000000, &v)) return -1;
        p->samples = (int)v;
    } else if (!strcmp(a, "--task-depth")) {
        if (cli_float(cmd, argc, argv, i, -1, 1, &d)) return -1;
        p->depth = (float)d;
    } else if (!strcmp(a, "--task-symbols")) {
        if (cli_int(cmd, argc, argv, i, 1, 1 << 20, &v)) return -1;
        p->n_symbols = (int)v;
    } else {
        return 0;
    }
    return 1;
}

void score_niah_init(score_niah *n) {
    memset(n, 0, sizeof *n);
    n->p = hw_niah_params_default();
    n->p.haystack_paths = n->hay;
}

/* An int flag of the needle-in-a-haystack set into *out. */
static int niah_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, int *out) {
    long v;
    if (cli_int(cmd, argc, argv, i, lo, hi, &v)) return -1;
    *out = (int)v;
    return 1;
}

int score_niah_flag(score_niah *n, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    int r = 0;
    if (!strcmp(a, "--needles")) r = cli_value(cmd, argc, argv, i, &n->p.needles_path) ? -1 : 1;
    else if (!strcmp(a, "--template")) r = cli_value(cmd, argc, argv, i, &n->p.template_text) ? -1 : 1;
    else if (!strcmp(a, "--depths")) r = niah_int(cmd, argc, argv, i, 1, 1000, &n->p.n_depths);
    else if (!strcmp(a, "--buffer")) r = niah_int(cmd, argc, argv, i, 0, 1 << 24, &n->p.buffer);
    else if (!strcmp(a, "--max-new")) r = niah_int(cmd, argc, argv, i, 1, 100000, &n->p.max_new);
    else if (!strcmp(a, "--lengths")) {
        if (cli_value(cmd, argc, argv, i, &v)) return -1;
        if (hw_niah_parse_lengths(v, &n->p)) return cli_usage_error(cmd, "--%s", hw_last_error()), -1;
        r = 1;
    } else if (!strcmp(a, "--haystack")) {
        if (n->p.n_haystacks == SCORE_MAX_HAYSTACKS)
            return cli_usage_error(cmd, "at most %d --haystack files", SCORE_MAX_HAYSTACKS), -1;
        if (cli_value(cmd, argc, argv, i, &n->hay[n->p.n_haystacks])) return -1;
        n->p.n_haystacks++;
        r = 1;
    }
    n->given |= r == 1;
    return r;
}

int score_progress_fn(const char *stage, int64_t done, int64_t total, void *user) {
    score_progress(user, "%s", stage);
    return 0;
}

int score_outputs_ok(const char *cmd, const char *const *paths, int n) {
    for (int k = 0; k < n; k++)
        if (paths[k] && hw_output_prepare(paths[k])) return cli_error(cmd, "%s", hw_last_error());
    return 0;
}
