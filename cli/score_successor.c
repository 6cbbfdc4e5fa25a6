/* score_successor.c: `headwise score successor`: successor heads (methods.md section 5):
 * for every head, the OV circuit applied to each ordinal token's effective embedding,
 * logits restricted to that task's tokens, and the fraction of consecutive pairs whose
 * argmax is the successor, pooled over tasks. Weights only: no forward pass. */
#include "score_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise score successor -m MODEL [-z TOKENIZER] [flags]\n"
    "  --tasks FILE        one task per line, 'name: item item ...' in order (a cyclic task\n"
    "                      repeats its first item at the end); default: numbers 1-200,\n"
    "                      number words, ordinal words, days (cyclic), day prefixes, months\n"
    "                      (cyclic), month prefixes, letters A-Z\n"
    "  --embedding mlp0|block0  effective embedding: MLP0(W_E) (default) or all of block 0\n"
    "                      on the one-token sequence\n"
    "  -o FILE             per head: score, pairs (.json {\"L-H\": [...]} or .tsv), atomic\n"
    "  --top N             rows of the ranked table on stdout (default 20; 0: all)\n"
    "Items are single tokens with a leading space (or, failing that, as written); items that\n"
    "are not one token are skipped, and only pairs of consecutive items both kept count.\n";

struct successor_task {
    char name[64];
    int n, *tok;       /* items' token ids (-1: not one token) */
    int U, *uniq;      /* distinct kept tokens */
    int *idx;          /* (n) item -> index into uniq, or -1 */
};
typedef successor_task task;

static const char *const default_tasks[] = {
    "numbers:", /* filled with 1..200 */
    "number-words: one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty",
    "ordinal-words: first second third fourth fifth sixth seventh eighth ninth tenth",
    "days: Monday Tuesday Wednesday Thursday Friday Saturday Sunday Monday",
    "day-prefixes: Mon Tue Wed Thu Fri Sat Sun",
    "months: January February March April May June July August September October November "
    "December January",
    "month-prefixes: Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "letters: A B C D E F G H I J K L M N O P Q R S T U V W X Y Z",
};

static int add_task(const char *cmd, const hw_tokenizer *t, const char *line, task **tasks, int *n) {
    const char *colon = strchr(line, ':');
    if (!colon) return cli_error(cmd, "task line '%.40s' has no 'name:'", line);
    task *nt = realloc(*tasks, sizeof **tasks * (size_t)(*n + 1));
    if (!nt) return cli_error(cmd, "out of memory");
    *tasks = nt;
    task *k = &nt[(*n)++]; /* counted now, so successor_free_tasks frees it on any error */
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%.*s", (int)(colon - line), line);
    char *items = strdup(colon + 1);
    if (!items) return cli_error(cmd, "out of memory");
    if (!strcmp(k->name, "numbers") && !*items) {
        free(items);
        items = malloc(1200);
        if (!items) return cli_error(cmd, "out of memory");
        items[0] = 0;
        for (int i = 1, o = 0; i <= 200; i++) o += sprintf(items + o, "%d ", i);
    }
    int cap = 16;
    k->tok = malloc(sizeof(int) * (size_t)cap);
    for (char *s = strtok(items, " \t\r\n"); s && k->tok; s = strtok(NULL, " \t\r\n")) {
        if (k->n == cap) {
            cap *= 2;
            int *r = realloc(k->tok, sizeof(int) * (size_t)cap);
            if (!r) break;
            k->tok = r;
        }
        k->tok[k->n++] = score_single_token(t, s);
    }
    free(items);
    k->uniq = malloc(sizeof(int) * (size_t)(k->n + 1));
    k->idx = malloc(sizeof(int) * (size_t)(k->n + 1));
    if (!k->tok || !k->uniq || !k->idx) return cli_error(cmd, "out of memory");
    for (int i = 0; i < k->n; i++) {
        k->idx[i] = -1;
        if (k->tok[i] < 0) continue;
        for (int j = 0; j < k->U && k->idx[i] < 0; j++)
            if (k->uniq[j] == k->tok[i]) k->idx[i] = j;
        if (k->idx[i] < 0) {
            k->uniq[k->U] = k->tok[i];
            k->idx[i] = k->U++;
        }
    }
    return 0;
}

int successor_read_tasks(const char *cmd, const hw_tokenizer *t, const char *path,
                         successor_task **tasks, int *n) {
    *tasks = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return cli_error(cmd, "cannot read %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int bad = 0;
    while (!bad && getline(&line, &cap, f) > 0) {
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || !*s) continue;
        bad = add_task(cmd, t, s, tasks, n);
    }
    free(line);
    fclose(f);
    return bad;
}

void successor_free_tasks(successor_task *tasks, int n) {
    for (int k = 0; k < n; k++) {
        free(tasks[k].tok);
        free(tasks[k].uniq);
        free(tasks[k].idx);
    }
    free(tasks);
}

int cmd_score_successor(int argc, char **argv) {
    const char *cmd = "score successor", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *tasks_path = NULL, *emb = "mlp0";
    long top = 20;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "--tasks")) bad = cli_value(cmd, argc, argv, &i, &tasks_path);
        else if (!strcmp(a, "--embedding")) bad = cli_value(cmd, argc, argv, &i, &emb);
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score successor --help)", a);
        if (bad) return 2;
    }
    int mode = !strcmp(emb, "mlp0") ? 0 : !strcmp(emb, "block0") ? 1 : -1;
    if (mode < 0) return cli_usage_error(cmd, "--embedding must be mlp0 or block0, not '%s'", emb);
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, D = cfg->d_model;
    task *tasks = NULL;
    int n_tasks = 0, rc = 1;
    float *e = NULL, *logits = NULL;
    double *tab_v = NULL;
    if (tasks_path) {
        if (successor_read_tasks(cmd, t, tasks_path, &tasks, &n_tasks)) goto done;
    } else {
        for (size_t k = 0; k < sizeof default_tasks / sizeof *default_tasks; k++)
            if (add_task(cmd, t, default_tasks[k], &tasks, &n_tasks)) goto done;
    }
    int total_pairs = 0, max_n = 1;
    for (int k = 0; k < n_tasks; k++) {
        int pairs = 0, items = 0;
        for (int i = 0; i < tasks[k].n; i++) items += tasks[k].idx[i] >= 0;
        for (int i = 0; i + 1 < tasks[k].n; i++) pairs += tasks[k].idx[i] >= 0 && tasks[k].idx[i + 1] >= 0;
        fprintf(stderr, "headwise %s: task %s: %d of %d items are single tokens, %d pairs\n", cmd,
                tasks[k].name, items, tasks[k].n, pairs);
        total_pairs += pairs;
        if (tasks[k].n > max_n) max_n = tasks[k].n;
    }
    if (!total_pairs) {
        cli_error(cmd, "no task has two consecutive single-token items for this tokenizer");
        goto done;
    }
    e = malloc(sizeof(float) * (size_t)max_n * D);
    logits = malloc(sizeof(float) * (size_t)max_n * max_n);
    tab_v = calloc((size_t)L * H * 2, sizeof(double));
    int *kept = malloc(sizeof(int) * (size_t)max_n);
    if (!e || !logits || !tab_v || !kept) {
        free(kept);
        cli_error(cmd, "out of memory");
        goto done;
    }
    for (int k = 0; k < n_tasks; k++) {
        task *tk = &tasks[k];
        if (tk->U < 2) continue;
        /* The distinct tokens' effective embeddings, once per task. */
        if (hw_effective_embedding(m, tk->uniq, tk->U, mode, e)) {
            free(kept);
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        score_progress(cmd, "task %s", tk->name);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) {
                /* logits (U, U): row u = OV logits of distinct token u over the task. */
                if (hw_ov_logits(m, l, h, e, tk->U, tk->uniq, tk->U, logits)) {
                    free(kept);
                    cli_error(cmd, "%s", hw_last_error());
                    goto done;
                }
                int hits = 0;
                for (int i = 0; i + 1 < tk->n; i++) {
                    int a = tk->idx[i], b = tk->idx[i + 1];
                    if (a < 0 || b < 0) continue;
                    int seq[2] = {a, b};
                    hits += hw_successor_hits(logits + (size_t)a * tk->U, seq, 2, tk->U);
                }
                tab_v[((size_t)l * H + h) * 2] += hits;
            }
    }
    score_progress_done();
    free(kept);
    for (int i = 0; i < L * H; i++) {
        tab_v[i * 2] /= total_pairs;
        tab_v[i * 2 + 1] = total_pairs;
    }
    static const char *const cols[] = {"score", "pairs"};
    score_table tab = {L, H, 2, cols, tab_v};
    printf("# successor score (%s effective embedding): %d pairs over %d tasks\n",
           mode ? "block0" : "mlp0", total_pairs, n_tasks);
    score_table_print(&tab, 0, 0, (int)top);
    if (out && score_table_write(cmd, &tab, 0, 0, out)) goto done;
    rc = 0;
done:
    successor_free_tasks(tasks, n_tasks);
    free(e);
    free(logits);
    free(tab_v);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}
