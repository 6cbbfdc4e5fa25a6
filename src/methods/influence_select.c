/* influence_select.c: AttentionInfluence's selection (methods.md section 10, step 4): the
 * documents of each domain ranked by their score, descending, the top fraction kept; and
 * the masked heads from a head-score file. */
#include "influence.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int hw_influence_heads_from_file(const hw_model *m, const char *path, double top, hw_head **heads) {
    if (!m || !path || !heads) return hw_fail(HW_ERR_ARG, "hw_influence_heads_from_file: a model, file and output are needed"), -1;
    if (!(top > 0 && top <= 1)) return hw_fail(HW_ERR_ARG, "influence: --top %g is not in (0, 1]", top), -1;
    const hw_config *c = hw_model_config(m);
    const int n = c->n_layer * c->n_head;
    double *score = NULL;
    /* Hk = H: the file's scores per query head, as masking acts per query head. */
    if (hw_kv_head_scores_read(path, NULL, c->n_layer, c->n_head, c->n_head, &score, NULL)) return -1;
    int *full = malloc(sizeof(int) * (size_t)n), k = full ? hw_duo_select_top(score, n, top, full) : -1;
    if (!full) hw_fail(HW_ERR_NOMEM, "out of memory");
    if (k == 0) k = -1, hw_fail(HW_ERR_ARG, "influence: --top %g of %d heads selects none", top, n);
    *heads = k > 0 ? malloc(sizeof(hw_head) * (size_t)k) : NULL;
    if (k > 0 && !*heads) k = -1, hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int i = 0, j = 0; k > 0 && i < n; i++)
        if (full[i]) (*heads)[j++] = (hw_head){i / c->n_head, i % c->n_head};
    free(full), free(score);
    return k;
}

/* ---------------------------------------------------------------- selection */

typedef struct {
    double influence;
    int64_t index, tokens;
    int domain;
} scored;

typedef struct {
    char **names;
    int n, cap;
} domains;

static int domain_index(domains *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->names[i], name)) return i;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        char **nn = realloc(d->names, sizeof(char *) * (size_t)cap);
        if (!nn) return -1;
        d->names = nn, d->cap = cap;
    }
    return (d->names[d->n] = strdup(name)) ? d->n++ : -1;
}

/* Domain first, then influence descending, then corpus order. */
static int by_rank(const void *x, const void *y) {
    const scored *a = x, *b = y;
    if (a->domain != b->domain) return a->domain < b->domain ? -1 : 1;
    if (a->influence != b->influence) return a->influence > b->influence ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Every line of scores into *rows (and its domain into d). */
static hw_status read_scores(const char *path, int per_domain, domains *d, scored **rows, int64_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return hw_fail(HW_ERR_IO, "cannot read %s", path);
    char *line = NULL;
    size_t cap = 0, rcap = 0;
    ssize_t len;
    hw_status rc = HW_OK;
    *n = 0;
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *inf = cJSON_GetObjectItemCaseSensitive(o, "influence"),
                    *dom = cJSON_GetObjectItemCaseSensitive(o, "domain"),
                    *tok = cJSON_GetObjectItemCaseSensitive(o, "tokens");
        if (!cJSON_IsNumber(inf) || !isfinite(inf->valuedouble) || !cJSON_IsString(dom) || !cJSON_IsNumber(tok) ||
            !(tok->valuedouble >= 0 && tok->valuedouble < 0x1p53))
            rc = hw_fail(HW_ERR_FORMAT, "%s:%lld: not a score line (\"domain\", \"tokens\", finite \"influence\")",
                         path, (long long)*n + 1);
        if (!rc && (size_t)*n == rcap) {
            rcap = rcap ? rcap * 2 : 1024;
            scored *r = realloc(*rows, sizeof(scored) * rcap);
            if (!r) rc = hw_fail(HW_ERR_NOMEM, "out of memory");
            else *rows = r;
        }
        int di = rc ? -1 : domain_index(d, per_domain ? dom->valuestring : "all");
        if (!rc && di < 0) rc = hw_fail(HW_ERR_NOMEM, "out of memory");
        if (!rc) (*rows)[*n] = (scored){inf->valuedouble, *n, (int64_t)tok->valuedouble, di}, ++*n;
        cJSON_Delete(o);
    }
    if (!rc && *n == 0) rc = hw_fail(HW_ERR_FORMAT, "%s has no scores", path);
    free(line);
    fclose(f);
    return rc;
}

/* The kept lines of scores, in their order, to out. */
static hw_status write_kept(const char *scores, const unsigned char *keep, const char *out) {
    FILE *f = fopen(scores, "r");
    hw_atomic_file *a = f ? hw_atomic_open(out) : NULL;
    if (!a) {
        if (f) fclose(f);
        return f ? HW_ERR_IO : hw_fail(HW_ERR_IO, "cannot read %s", scores);
    }
    char *line = NULL;
    size_t cap = 0;
    for (int64_t i = 0; getline(&line, &cap, f) > 0; i++)
        if (keep[i]) fputs(line, hw_atomic_stream(a));
    free(line);
    fclose(f);
    return hw_atomic_commit(a);
}

static void print_table(FILE *t, const domains *d, const scored *r, int64_t n, const unsigned char *keep) {
    fprintf(t, "domain\tdocuments\tselected\ttokens\tselected_tokens\tmean_influence\tthreshold\n");
    for (int64_t i = 0, j; i < n; i = j) {
        int64_t docs = 0, sel = 0, tok = 0, stok = 0;
        double sum = 0, thr = NAN;
        for (j = i; j < n && r[j].domain == r[i].domain; j++) {
            docs++, tok += r[j].tokens, sum += r[j].influence;
            if (keep[r[j].index]) sel++, stok += r[j].tokens, thr = r[j].influence;
        }
        fprintf(t, "%s\t%lld\t%lld\t%lld\t%lld\t%.6g\t%.6g\n", d->names[r[i].domain], (long long)docs, (long long)sel,
                (long long)tok, (long long)stok, sum / (double)docs, thr);
    }
}

hw_status hw_influence_select(const char *scores, double fraction, int per_domain, const char *out, FILE *table) {
    if (!scores || !out) return hw_fail(HW_ERR_ARG, "hw_influence_select: scores and an output are needed");
    if (!(fraction > 0 && fraction <= 1)) return hw_fail(HW_ERR_ARG, "influence select: fraction %g is not in (0, 1]", fraction);
    domains d = {0};
    scored *r = NULL;
    int64_t n = 0;
    unsigned char *keep = NULL;
    hw_status rc = read_scores(scores, per_domain, &d, &r, &n);
    if (!rc && !(keep = calloc((size_t)n, 1))) rc = hw_fail(HW_ERR_NOMEM, "out of memory");
    if (!rc) {
        qsort(r, (size_t)n, sizeof *r, by_rank);
        for (int64_t i = 0, j; i < n; i = j) {
            for (j = i; j < n && r[j].domain == r[i].domain; j++) {}
            const int64_t k = llround(fraction * (double)(j - i));
            for (int64_t q = i; q < i + k; q++) keep[r[q].index] = 1;
        }
        rc = write_kept(scores, keep, out);
    }
    if (!rc && table) print_table(table, &d, r, n, keep);
    for (int i = 0; i < d.n; i++) free(d.names[i]);
    free(d.names), free(r), free(keep);
    return rc;
}
