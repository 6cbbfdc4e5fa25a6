/*
 * head_table.c: the files the head-scoring protocols write. A per-head table of named
 * columns as TSV (ranked rows) or JSON in the Retrieval Head layout {"L-H": [columns]}
 * (methods.md section 1.2), DuoAttention's full_attention_heads.tsv mask of KV heads
 * (section 2.3), and the check that an output can be written before long work starts.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const double *hw_head_table_column(const hw_head_table *t, const char *name) {
    if (!t || !name) return NULL;
    for (int c = 0; c < t->n_col; c++)
        if (!strcmp(t->cols[c], name)) return t->values + (size_t)c * t->n_layer * t->n_head;
    return NULL;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Every missing folder on the way to path's file, as `mkdir -p "$(dirname path)"`. */
/* The rows of a ranked listing: by the rank column, highest first (lowest first when
 * ascending), ties to the lower head index (hw_scores_rank). */
static int *rank_rows(const hw_head_table *t) {
    int n = t->n_layer * t->n_head;
    int *order = malloc(sizeof(int) * (size_t)n);
    double *key = malloc(sizeof(double) * (size_t)n);
    if (!order || !key) {
        free(order);
        free(key);
        hw_fail(HW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const double *col = t->values + (size_t)t->rank_col * n;
    for (int i = 0; i < n; i++) key[i] = (t->ascending ? -1 : 1) * col[i];
    hw_scores_rank(key, n, order);
    free(key);
    return order;
}

static hw_status check_table(const hw_head_table *t) {
    if (!t || !t->values || !t->cols || t->n_layer <= 0 || t->n_head <= 0 || t->n_col <= 0 ||
        t->rank_col < 0 || t->rank_col >= t->n_col)
        return hw_fail(HW_ERR_ARG, "head table: bad shape");
    return HW_OK;
}

hw_status hw_head_table_write(const hw_head_table *t, const char *path) {
    hw_status s = check_table(t);
    if (s || (s = hw_output_prepare(path))) return s;
    const int n = t->n_layer * t->n_head, H = t->n_head;
    int *order = NULL;
    if (ends_with(path, ".tsv") && !(order = rank_rows(t))) return HW_ERR_NOMEM;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) {
        free(order);
        return HW_ERR_IO;
    }
    FILE *f = hw_atomic_stream(a);
    if (order) {
        fputs("layer\thead", f);
        for (int c = 0; c < t->n_col; c++) fprintf(f, "\t%s", t->cols[c]);
        fputc('\n', f);
        for (int r = 0; r < n; r++) {
            int i = order[r];
            fprintf(f, "%d\t%d", i / H, i % H);
            for (int c = 0; c < t->n_col; c++) fprintf(f, "\t%.9g", t->values[(size_t)c * n + i]);
            fputc('\n', f);
        }
        free(order);
    } else {
        fputc('{', f);
        for (int i = 0; i < n; i++) {
            fprintf(f, "%s\"%d-%d\": [", i ? ", " : "", i / H, i % H);
            for (int c = 0; c < t->n_col; c++)
                fprintf(f, "%s%.9g", c ? ", " : "", t->values[(size_t)c * n + i]);
            fputc(']', f);
        }
        fputs("}\n", f);
    }
    return hw_atomic_commit(a);
}

hw_status hw_kv_head_mask_write(const char *path, const int *mask, int L, int Hk) {
    if (!mask || L <= 0 || Hk <= 0) return hw_fail(HW_ERR_ARG, "KV head mask: bad shape");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < Hk; k++)
            fprintf(f, "%d%c", mask[l * Hk + k] != 0, k + 1 < Hk ? '\t' : '\n');
    return hw_atomic_commit(a);
}
