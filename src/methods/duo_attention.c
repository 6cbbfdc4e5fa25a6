/*
 * duo_attention.c: which KV heads keep a full cache, from a head-importance file of any
 * kind (DuoAttention, Xiao et al. 2024, methods.md section 2.3; the scores of sections 1
 * and 3.1 as stand-ins for its gates), and DuoAttention's deployment rule that turns
 * scores into a selection. The gate training lives elsewhere; this file only reads.
 *
 * Every file becomes one score per (layer, KV head), (L, Hk). A file scored per query
 * head is aggregated per KV head by the max over the group (hw_scores_per_kv): a KV head
 * serves all of its query heads, so it must be kept if any of them needs it, which is
 * also RazorAttention's GQA rule (section 3.1).
 */
#include "internal.h"
#include "hw_limits.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A head-importance file is a few numbers per head (the published Retrieval Head JSON
 * of Llama-2-7B-80K, per-trial lists of 1024 heads, is 2.6 MB); a larger file is a
 * mistake, not scores, and is refused before it is read. */
#define MAX_SCORE_FILE_BYTES ((size_t)64 << 20)
/* Columns of a head table (ours have at most 5). */
#define MAX_TABLE_COLS 256

/* ---------------------------------------------------------------- small parsers */

/* path's bytes, NUL-terminated, in *text (malloc'd); refuses NUL bytes inside, since
 * every kind is text. */
static hw_status read_text(const char *path, char **text, size_t *len) {
    hw_mapped_file f;
    *text = NULL;
    hw_status s = hw_file_map(&f, path);
    if (s) {
        char why[512]; /* hw_last_error's buffer is what hw_fail writes */
        snprintf(why, sizeof why, "%s", hw_last_error());
        return hw_fail(s, "cannot read head scores: %s", why);
    }
    if (f.size > MAX_SCORE_FILE_BYTES) s = hw_fail(HW_ERR_FORMAT, "%s: %zu bytes is too large for "
                                                   "a head-score file", path, f.size);
    else if (f.size && memchr(f.data, 0, f.size)) s = hw_fail(HW_ERR_FORMAT, "%s: not a text file", path);
    else if (!(*text = malloc(f.size + 1))) s = hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    if (!s) {
        if (f.size) memcpy(*text, f.data, f.size);
        (*text)[f.size] = 0;
        *len = f.size;
    }
    hw_file_unmap(&f);
    return s;
}

/* The next field of a line (fields split by tabs or spaces), NUL-terminated in place; NULL
 * at the end of the line. *p advances. */
static char *next_field(char **p) {
    char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (!*s) return *p = s, NULL;
    char *e = s + strcspn(s, " \t\r");
    if (*e) *e++ = 0;
    *p = e;
    return s;
}

/* A decimal number (no hex, nan or inf, no overflow to infinity): 0 on success. */
static int parse_number(const char *s, double *out) {
    if (!*s || s[strspn(s, "0123456789+-.eE")]) return 1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || end == s || !isfinite(x) || (errno == ERANGE && fabs(x) > 1)) return 1;
    *out = x;
    return 0;
}

/* A whole number in [0, hi). */
static int parse_index(const char *s, int hi, int *out) {
    double x;
    if (parse_number(s, &x) || x != floor(x) || x < 0 || x >= hi || strpbrk(s, ".eE+-")) return 1;
    *out = (int)x;
    return 0;
}

/* Lines of text, in place: the next line that is neither blank nor a '#' comment (as
 * np.loadtxt skips), NUL-terminated, and its number (from 1) in *line_no; NULL at the end. */
static char *next_line(char **p, int *line_no) {
    while (**p) {
        char *s = *p, *e = s + strcspn(s, "\n");
        *p = *e ? e + 1 : e;
        *e = 0;
        ++*line_no;
        const char *t = s + strspn(s, " \t\r");
        if (*t && *t != '#') return s;
    }
    return NULL;
}

/* The first character of the first line that is neither blank nor a '#' comment ("" if
 * none): what tells the kinds apart. */
static const char *first_content(const char *s) {
    for (;;) {
        s += strspn(s, " \t\r\n");
        if (*s != '#') return s;
        s += strcspn(s, "\n");
    }
}

/* ---------------------------------------------------------------- the file kinds */

/* A grid of per-head values as read: (Lf, Hf), before aggregation. */
typedef struct {
    int L, H;
    double *v;          /* (L, H) */
} grid;

/* {"L-H": [per-trial scores]}: each head's mean (a head with no values scores 0). */
static hw_status read_retrieval(const char *path, grid *g) {
    hw_head_scores *hs = hw_head_scores_read(path);
    if (!hs) return HW_ERR_FORMAT;
    g->L = hw_head_scores_layers(hs);
    g->H = hw_head_scores_heads(hs);
    g->v = malloc(sizeof(double) * (size_t)g->L * g->H);
    if (g->v) hw_head_scores_mean(hs, g->v);
    hw_head_scores_free(hs);
    return g->v ? HW_OK : hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
}

/* The header "layer head <cols>" of a head table: which column to read (want, else
 * "score", else "induction", else the first) into *col, its name into info. */
static hw_status table_header(const char *path, char *line, const char *want, int *n_col,
                              int *col, hw_kv_file_info *info) {
    char *p = line, *f, *name[MAX_TABLE_COLS];
    int n = 0, score = -1, ind = -1, echo = -1, asked = -1;
    const char *l = next_field(&p), *h = next_field(&p);
    if (!l || !h || strcmp(l, "layer") || strcmp(h, "head"))
        return hw_fail(HW_ERR_FORMAT, "%s: a head table starts with 'layer head'", path);
    while ((f = next_field(&p))) {
        if (n == MAX_TABLE_COLS) return hw_fail(HW_ERR_FORMAT, "%s: more than %d columns", path, MAX_TABLE_COLS);
        if (want && asked < 0 && !strcmp(f, want)) asked = n;
        if (score < 0 && !strcmp(f, "score")) score = n;
        if (ind < 0 && !strcmp(f, "induction")) ind = n;
        if (echo < 0 && !strcmp(f, "echo")) echo = n;
        name[n++] = f;
    }
    if (!n) return hw_fail(HW_ERR_FORMAT, "%s: a head table with no score column", path);
    if (want && asked < 0) return hw_fail(HW_ERR_FORMAT, "%s: no column '%s' in the head table", path, want);
    *col = want ? asked : score >= 0 ? score : ind >= 0 ? ind : 0;
    snprintf(info->column, sizeof info->column, "%s", name[*col]);
    info->has_echo_induction = echo >= 0 && ind >= 0;
    *n_col = n;
    return HW_OK;
}

/* One row "layer head v0 v1 ...": every value a finite number, column col into *v. */
static hw_status table_row(const char *path, int line_no, char *line, int n_col, int col,
                           int *l, int *h, double *v) {
    char *p = line, *f;
    int k = 0;
    double x;
    f = next_field(&p);
    if (!f || parse_index(f, HW_MAX_LAYERS, l))
        return hw_fail(HW_ERR_FORMAT, "%s:%d: layer is not a whole number below %d", path, line_no, HW_MAX_LAYERS);
    f = next_field(&p);
    if (!f || parse_index(f, HW_MAX_HEADS, h))
        return hw_fail(HW_ERR_FORMAT, "%s:%d: head is not a whole number below %d", path, line_no, HW_MAX_HEADS);
    for (; (f = next_field(&p)); k++) {
        if (k == n_col) break;
        if (parse_number(f, &x))
            return hw_fail(HW_ERR_FORMAT, "%s:%d: '%s' is not a finite number", path, line_no, f);
        if (k == col) *v = x;
    }
    if (k != n_col || f)
        return hw_fail(HW_ERR_FORMAT, "%s:%d: want %d values after layer and head", path, line_no, n_col);
    return HW_OK;
}

/* A "layer head <cols>" table: every head of the (max layer + 1, max head + 1) grid
 * exactly once. */
static hw_status read_table(const char *path, char *text, const char *want, grid *g,
                            hw_kv_file_info *info) {
    char *p = text, *line;
    int line_no = 0, n_col, col, n = 0, cap = 0;
    struct row { int l, h; double v; } *rows = NULL;
    hw_status s = table_header(path, next_line(&p, &line_no), want, &n_col, &col, info);
    while (!s && (line = next_line(&p, &line_no))) {
        if (n == cap) {
            struct row *nr = realloc(rows, sizeof *rows * (size_t)(cap = cap ? 2 * cap : 256));
            if (!nr) s = hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
            else rows = nr;
        }
        if (!s) s = table_row(path, line_no, line, n_col, col, &rows[n].l, &rows[n].h, &rows[n].v);
        if (!s && ++n > HW_MAX_LAYERS * HW_MAX_HEADS)
            s = hw_fail(HW_ERR_FORMAT, "%s: more rows than %d layers x %d heads", path, HW_MAX_LAYERS, HW_MAX_HEADS);
        if (!s) g->L = rows[n - 1].l + 1 > g->L ? rows[n - 1].l + 1 : g->L;
        if (!s) g->H = rows[n - 1].h + 1 > g->H ? rows[n - 1].h + 1 : g->H;
    }
    if (!s && !n) s = hw_fail(HW_ERR_FORMAT, "%s: a head table with no rows", path);
    if (!s && (int64_t)g->L * g->H != n)
        s = hw_fail(HW_ERR_FORMAT, "%s: %d rows do not fill a grid of %d layers x %d heads (one row "
                    "per head)", path, n, g->L, g->H);
    unsigned char *seen = NULL;
    if (!s && (!(g->v = malloc(sizeof(double) * (size_t)n)) || !(seen = calloc((size_t)n, 1))))
        s = hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; !s && i < n; i++) {
        int k = rows[i].l * g->H + rows[i].h;
        if (seen[k]++) s = hw_fail(HW_ERR_FORMAT, "%s: head %d.%d is listed twice", path, rows[i].l, rows[i].h);
        g->v[k] = rows[i].v;
    }
    free(seen);
    free(rows);
    return s;
}

/* DuoAttention's layout: one line per layer, one number per head. */
static hw_status read_matrix(const char *path, char *text, grid *g, int *mask) {
    char *p = text, *line, *f;
    int line_no = 0, n = 0, cap = 0;
    *mask = 1;
    while ((line = next_line(&p, &line_no))) {
        char *q = line;
        int k = 0;
        double x;
        if (g->L == HW_MAX_LAYERS) return hw_fail(HW_ERR_FORMAT, "%s: more than %d layers", path, HW_MAX_LAYERS);
        for (; (f = next_field(&q)); k++) {
            if (parse_number(f, &x))
                return hw_fail(HW_ERR_FORMAT, "%s:%d: '%s' is not a finite number", path, line_no, f);
            if (k == HW_MAX_HEADS || (g->L && k == g->H))
                return hw_fail(HW_ERR_FORMAT, "%s:%d: more than %d values", path, line_no, g->L ? g->H : HW_MAX_HEADS);
            if (n == cap) {
                double *nv = realloc(g->v, sizeof(double) * (size_t)(cap = cap ? 2 * cap : 1024));
                if (!nv) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
                g->v = nv;
            }
            g->v[n++] = x;
            *mask &= x == 0 || x == 1;
        }
        if (g->L && k != g->H)
            return hw_fail(HW_ERR_FORMAT, "%s:%d: %d values, the lines above have %d", path, line_no, k, g->H);
        g->H = k;
        g->L++;
    }
    if (!g->L) return hw_fail(HW_ERR_FORMAT, "%s: no head scores", path);
    return HW_OK;
}

/* config.json beside a gates file, if there: a JSON object whose sink_size and
 * recent_size, when present and not null, are whole numbers >= 0 (the training window). */
static hw_status read_duo_config(const char *path, hw_kv_file_info *info) {
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path + 1) : 0;
    char *cfg = malloc(dir + sizeof "config.json"), *text = NULL;
    if (!cfg) return hw_fail(HW_ERR_NOMEM, "out of memory");
    memcpy(cfg, path, dir);
    strcpy(cfg + dir, "config.json");
    struct stat st;
    size_t len;
    hw_status s = HW_OK;
    if (stat(cfg, &st) == 0 && !(s = read_text(cfg, &text, &len))) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        const char *keys[2] = {"sink_size", "recent_size"};
        int *dst[2] = {&info->config_sink, &info->config_recent};
        if (!cJSON_IsObject(root)) s = hw_fail(HW_ERR_FORMAT, "%s: not a JSON object", cfg);
        for (int k = 0; !s && k < 2; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
            if (!v || cJSON_IsNull(v)) continue;
            double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
            if (!(x >= 0 && x <= HW_MAX_CONTEXT && x == floor(x)))
                s = hw_fail(HW_ERR_FORMAT, "%s: %s is not a whole number in [0, %d]", cfg, keys[k], HW_MAX_CONTEXT);
            else *dst[k] = (int)x;
        }
        cJSON_Delete(root);
    }
    free(text);
    free(cfg);
    return s;
}

/* The file's grid as (L, Hk) scores for a model of (L, H, Hk), or as it stands. */
static hw_status to_kv(const char *path, grid *g, int L, int H, int Hk, double **out,
                       hw_kv_file_info *info) {
    info->file_heads = g->H;
    if (!L) {
        info->n_layer = g->L, info->n_kv_head = g->H;
        *out = g->v, g->v = NULL;
        return HW_OK;
    }
    if (g->L != L || (g->H != Hk && g->H != H))
        return hw_fail(HW_ERR_FORMAT, "%s: %d layers x %d heads, but the model has %d layers x %d "
                       "query heads (%d KV heads)", path, g->L, g->H, L, H, Hk);
    info->n_layer = L, info->n_kv_head = Hk;
    if (g->H == Hk) {
        *out = g->v, g->v = NULL;
        return HW_OK;
    }
    if (!(*out = malloc(sizeof(double) * (size_t)L * Hk))) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_status s = hw_scores_per_kv(g->v, L, H, Hk, 1, *out);
    if (s) free(*out), *out = NULL;
    return s;
}

hw_status hw_kv_head_scores_read(const char *path, const char *column, int L, int H, int Hk,
                                 double **scores, hw_kv_file_info *info) {
    hw_kv_file_info in = {0};
    in.config_sink = in.config_recent = -1;
    if (scores) *scores = NULL;
    if (!path || !scores) return hw_fail(HW_ERR_ARG, "hw_kv_head_scores_read: no path or output");
    if (!((L > 0 && H > 0 && Hk > 0 && H % Hk == 0 && L <= HW_MAX_LAYERS && H <= HW_MAX_HEADS) ||
          (!L && !H && !Hk)))
        return hw_fail(HW_ERR_ARG, "hw_kv_head_scores_read: bad model shape %d x %d (%d KV heads)", L, H, Hk);
    char *text = NULL;
    size_t len;
    grid g = {0};
    int mask = 0;
    hw_status s = read_text(path, &text, &len);
    if (s) return s;
    const char *t = first_content(text);
    if (*t == '{') {
        in.kind = HW_KV_FILE_RETRIEVAL;
        s = column ? hw_fail(HW_ERR_FORMAT, "%s: a JSON head-score file has no column '%s' (give the "
                             ".tsv table)", path, column)
                   : read_retrieval(path, &g);
    } else if (!strncmp(t, "layer", 5) && (t[5] == ' ' || t[5] == '\t')) {
        in.kind = HW_KV_FILE_TABLE;
        s = read_table(path, text, column, &g, &in);
    } else {
        s = column ? hw_fail(HW_ERR_FORMAT, "%s: not a head table (no 'layer head ...' header) with "
                             "column '%s'", path, column)
                   : read_matrix(path, text, &g, &mask);
        in.kind = mask ? HW_KV_FILE_MASK : HW_KV_FILE_GATES;
        if (!s) s = read_duo_config(path, &in);
    }
    free(text);
    if (!s) s = to_kv(path, &g, L, H, Hk, scores, &in);
    free(g.v);
    if (!s && info) *info = in;
    return s;
}

/* ---------------------------------------------------------------- the selection rules */

static int all_finite(const double *x, int n, const char *what) {
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return hw_fail(HW_ERR_ARG, "%s: score %d is not a finite number", what, i), 0;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile(x, q) with the default method "linear" over sorted (n) values:
 * virtual index q * (n - 1), and numpy's _lerp, which computes from the upper value when
 * the fraction is >= 0.5 (so the last bits agree with numpy's). */
static double quantile_linear(const double *sorted, int n, double q) {
    double idx = q * (n - 1);
    if (idx <= 0) return sorted[0];
    if (idx >= n - 1) return sorted[n - 1];
    double lo = floor(idx), t = idx - lo;
    double a = sorted[(int)lo], b = sorted[(int)lo + 1], d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/* Section 2.3 (utils.sparsify_attention_heads): clip, noise, global quantile, >=. */
int hw_duo_select_sparsity(const double *alpha, int n, double sparsity, uint64_t seed,
                           int *full, double *tau) {
    if (!alpha || !full || n <= 0 || isnan(sparsity))
        return hw_fail(HW_ERR_ARG, "hw_duo_select_sparsity: %d gates, sparsity %g", n, sparsity), -1;
    if (!all_finite(alpha, n, "hw_duo_select_sparsity")) return -1;
    double *a = malloc(sizeof(double) * (size_t)n), *sorted = malloc(sizeof(double) * (size_t)n);
    if (!a || !sorted) {
        free(a), free(sorted);
        return hw_fail(HW_ERR_NOMEM, "hw_duo_select_sparsity: out of memory"), -1;
    }
    hw_rng rng = {seed};
    for (int i = 0; i < n; i++) {
        double x = alpha[i] < 0 ? 0 : alpha[i] > 1 ? 1 : alpha[i];
        a[i] = sorted[i] = x + hw_rng_unit(&rng) * 1e-6;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    /* Their code takes the quantile first and then overrides the ends. */
    double th = sparsity >= 1 ? 2 : sparsity <= 0 ? -1 : quantile_linear(sorted, n, sparsity);
    int kept = 0;
    for (int i = 0; i < n; i++) kept += full[i] = a[i] >= th;
    if (tau) *tau = th;
    free(a);
    free(sorted);
    return kept;
}

int hw_duo_select_top(const double *score, int n, double top, int *full) {
    if (!score || !full || n <= 0 || !(top >= 0 && top <= 1))
        return hw_fail(HW_ERR_ARG, "hw_duo_select_top: %d scores, top %g (want n > 0, top in [0, 1])",
                       n, top), -1;
    if (!all_finite(score, n, "hw_duo_select_top")) return -1;
    int *order = malloc(sizeof(int) * (size_t)n), k = (int)lround(top * n);
    if (!order) return hw_fail(HW_ERR_NOMEM, "hw_duo_select_top: out of memory"), -1;
    hw_scores_rank(score, n, order);
    for (int i = 0; i < n; i++) full[i] = 0;
    for (int i = 0; i < k && i < n; i++) full[order[i]] = 1;
    free(order);
    return k < n ? k : n;
}
