/*
 * head_scores.c: head-score files in the Retrieval Head repository's layout
 * (methods.md section 1.2: {"layer-head": [per-trial scores]}), so that our files and
 * the published head_score JSON files read and write alike.
 */
#include "internal.h"
#include "hw_limits.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_head_scores {
    int L, H;
    int *count;            /* (L, H) values per head */
    double **values;       /* (L, H) lists */
};

int hw_head_scores_layers(const hw_head_scores *s) { return s->L; }
int hw_head_scores_heads(const hw_head_scores *s) { return s->H; }

const double *hw_head_scores_values(const hw_head_scores *s, int layer, int head, int *n) {
    if (layer < 0 || layer >= s->L || head < 0 || head >= s->H) {
        *n = 0;
        return NULL;
    }
    *n = s->count[layer * s->H + head];
    return s->values[layer * s->H + head];
}

hw_head_scores *hw_head_scores_new(int L, int H) {
    if (L <= 0 || H <= 0 || (size_t)L * H > (1u << 24)) {
        hw_fail(HW_ERR_ARG, "head scores: bad size %d x %d", L, H);
        return NULL;
    }
    hw_head_scores *s = calloc(1, sizeof *s);
    if (s) {
        s->L = L;
        s->H = H;
        s->count = calloc((size_t)L * H, sizeof *s->count);
        s->values = calloc((size_t)L * H, sizeof *s->values);
    }
    if (!s || !s->count || !s->values) {
        hw_head_scores_free(s);
        hw_fail(HW_ERR_NOMEM, "head scores: out of memory");
        return NULL;
    }
    return s;
}

void hw_head_scores_free(hw_head_scores *s) {
    if (!s) return;
    if (s->values)
        for (int i = 0; i < s->L * s->H; i++) free(s->values[i]);
    free(s->values);
    free(s->count);
    free(s);
}

hw_status hw_head_scores_append(hw_head_scores *s, int layer, int head, double v) {
    if (layer < 0 || layer >= s->L || head < 0 || head >= s->H)
        return hw_fail(HW_ERR_ARG, "head scores: no head %d-%d", layer, head);
    /* JSON has no NaN or infinity: a file written with one would not read back. */
    if (!isfinite(v)) return hw_fail(HW_ERR_ARG, "head scores: %g for head %d-%d is not a finite number", v, layer, head);
    int i = layer * s->H + head, n = s->count[i];
    if ((n & (n - 1)) == 0) { /* grow at powers of two */
        double *nv = realloc(s->values[i], sizeof(double) * (size_t)(n ? 2 * n : 1));
        if (!nv) return hw_fail(HW_ERR_NOMEM, "head scores: out of memory");
        s->values[i] = nv;
    }
    s->values[i][n] = v;
    s->count[i] = n + 1;
    return HW_OK;
}

void hw_head_scores_mean(const hw_head_scores *s, double *mean) {
    for (int i = 0; i < s->L * s->H; i++) {
        double acc = 0;
        for (int k = 0; k < s->count[i]; k++) acc += s->values[i][k];
        mean[i] = s->count[i] ? acc / s->count[i] : 0;
    }
}

/* "12-7" -> (12, 7); 0 if the key is not two non-negative integers joined by '-'
 * (layer below HW_MAX_LAYERS, head below HW_MAX_HEADS). */
static int parse_key(const char *k, int *layer, int *head) {
    char *end;
    errno = 0;
    long l = strtol(k, &end, 10);
    if (end == k || *end != '-' || l < 0 || l >= HW_MAX_LAYERS || errno) return 0;
    const char *h0 = end + 1;
    long h = strtol(h0, &end, 10);
    if (end == h0 || *end || h < 0 || h >= HW_MAX_HEADS || errno || *k == '-' || *h0 == '-' ||
        *h0 == '+' || *k == '+')
        return 0;
    *layer = (int)l;
    *head = (int)h;
    return 1;
}

hw_head_scores *hw_head_scores_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nt = realloc(text, cap);
            if (!nt) {
                free(text);
                fclose(f);
                hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
                return NULL;
            }
            text = nt;
        }
        size_t got = fread(text + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    int bad_read = ferror(f);
    fclose(f);
    if (bad_read) {
        free(text);
        hw_fail(HW_ERR_IO, "cannot read %s", path);
        return NULL;
    }
    text[n] = 0;
    size_t bad;
    if (!hw_utf8_valid(text, n, &bad)) {
        free(text);
        hw_fail(HW_ERR_FORMAT, "%s: not UTF-8 text (invalid byte at offset %zu)", path, bad);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    hw_head_scores *s = NULL;
    if (!root || !cJSON_IsObject(root)) {
        hw_fail(HW_ERR_FORMAT, "%s: not a JSON object of head scores", path);
        goto done;
    }
    int L = 0, H = 0, l, h;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (!parse_key(it->string, &l, &h)) {
            hw_fail(HW_ERR_FORMAT, "%s: key '%s' is not LAYER-HEAD (layer < %d, head < %d)", path,
                    it->string, HW_MAX_LAYERS, HW_MAX_HEADS);
            goto done;
        }
        if (!cJSON_IsArray(it) && !cJSON_IsNumber(it)) {
            hw_fail(HW_ERR_FORMAT, "%s: value of '%s' is neither a list nor a number", path,
                    it->string);
            goto done;
        }
        L = l + 1 > L ? l + 1 : L;
        H = h + 1 > H ? h + 1 : H;
    }
    if (!L) {
        hw_fail(HW_ERR_FORMAT, "%s: no head scores (no successful trial?)", path);
        goto done;
    }
    if (!(s = hw_head_scores_new(L, H))) goto done;
    cJSON_ArrayForEach(it, root) {
        parse_key(it->string, &l, &h);
        const cJSON *v;
        /* 1e999 parses as infinity, which no JSON writer can write back. */
        if (cJSON_IsNumber(it)) {
            if (!isfinite(it->valuedouble)) {
                hw_fail(HW_ERR_FORMAT, "%s: '%s' is not a finite number", path, it->string);
                goto fail;
            }
            if (hw_head_scores_append(s, l, h, it->valuedouble)) goto fail;
            continue;
        }
        cJSON_ArrayForEach(v, it) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                hw_fail(HW_ERR_FORMAT, "%s: '%s' holds a value that is not a finite number", path,
                        it->string);
                goto fail;
            }
            if (hw_head_scores_append(s, l, h, v->valuedouble)) goto fail;
        }
    }
    goto done;
fail:
    hw_head_scores_free(s);
    s = NULL;
done:
    cJSON_Delete(root);
    return s;
}

hw_status hw_head_scores_write(const hw_head_scores *s, const char *path) {
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    fputc('{', f);
    for (int l = 0; l < s->L; l++)
        for (int h = 0; h < s->H; h++) {
            int i = l * s->H + h;
            fprintf(f, "%s\"%d-%d\": [", i ? ", " : "", l, h);
            for (int k = 0; k < s->count[i]; k++)
                fprintf(f, "%s%.17g", k ? ", " : "", s->values[i][k]);
            fputc(']', f);
        }
    fputs("}\n", f);
    return hw_atomic_commit(a);
}

/* ---------------------------------------------------------------- ranking */

/* a before b: NaN last, then higher first, then the lower index. */
static int ranks_before(const double *s, int a, int b) {
    double x = s[a], y = s[b];
    int xn = x != x, yn = y != y;
    if (xn != yn) return yn;
    if (!xn && x != y) return x > y;
    return a < b;
}

/* A stable merge sort of indices (qsort has no user pointer in C11). */
void hw_scores_rank(const double *score, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    int *tmp = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!tmp) { /* fall back to insertion sort */
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && ranks_before(score, order[j], order[j - 1]); j--) {
                int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
            }
        return;
    }
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = ranks_before(score, order[b], order[a]) ? order[b++] : order[a++];
            while (a < mid) tmp[k++] = order[a++];
            while (b < hi) tmp[k++] = order[b++];
        }
        for (int i = 0; i < n; i++) order[i] = tmp[i];
    }
    free(tmp);
}
