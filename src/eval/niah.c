/* niah.c: needle-in-a-haystack trials (methods.md section 1.2): the haystack repeated
 * and cut to each context length less a buffer and the needle, the needle inserted at
 * each depth after the nearest earlier sentence end, then the question. Used by the
 * Retrieval Head score and the mask test (src/methods/). */
#include "eval.h"

#include <cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The paper's mask-test needle (methods.md 1.3), our default. */
static const char default_needle[] =
    "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a "
    "sunny day.\n";
static const char default_question[] = "What is the best thing to do in San Francisco?";
static const char default_answer[] = "eat a sandwich and sit in Dolores Park on a sunny day";
static const char default_template[] =
    "{context}Based on the content of the book, Question: {question}\nAnswer:";

typedef struct {
    char *needle, *question, *real_needle;
    /* Token ids (no BOS), made once: the needle, the template's part after {context}
     * with {question} filled in, and the answer. */
    int *needle_ids, n_needle_ids, *suffix_ids, n_suffix_ids, *answer_ids, n_answer_ids;
} needle;

struct hw_niah {
    const hw_model *m;
    const hw_tokenizer *t;
    needle *needles;
    int n_needles;
    int *hay;               /* haystack tokens (no BOS), repeated to the longest length */
    int n_hay;
    char *prefix, *suffix;  /* template around {context}; suffix holds {question} */
    int *prefix_ids, n_prefix_ids;
    int buffer, max_new;
    int *lengths, n_lengths, *depths, n_depths;
    uint64_t needles_hash, hay_hash; /* FNV-1a of the needles' texts and the haystack text */
};

hw_niah_params hw_niah_params_default(void) {
    return (hw_niah_params){.n_depths = 10, .buffer = 200, .max_new = 50};
}

hw_status hw_niah_parse_lengths(const char *text, hw_niah_params *p) {
    long lo, hi, cnt;
    char extra;
    if (!text || !p || sscanf(text, "%ld:%ld:%ld%c", &lo, &hi, &cnt, &extra) != 3 || lo < 1 ||
        hi < lo || hi > INT_MAX || cnt < 1 || cnt > 10000)
        return hw_fail(HW_ERR_ARG, "lengths '%s': expected MIN:MAX:COUNT (tokens)", text ? text : "");
    p->length_min = (int)lo;
    p->length_max = (int)hi;
    p->n_lengths = (int)cnt;
    return HW_OK;
}

/* 64-bit FNV-1a over n bytes, continuing from h: the settings key of the inputs. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* A whole text file, NUL-terminated (malloc'd). The buffer starts at the file's size
 * (a fixed 128 KB start cost a mmap and munmap per needles file) and doubles only if
 * the file grows while it is read. */
char *hw_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno)), NULL;
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    char *s = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!s) {
            fclose(f);
            return hw_fail(HW_ERR_NOMEM, "out of memory reading %s", path), NULL;
        }
        n += fread(s + n, 1, cap - 1 - n, f);
        if (n < cap - 1 || feof(f) || ferror(f)) break;
        char *ns = realloc(s, 2 * cap);
        if (!ns) free(s);
        s = ns;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(s);
        return hw_fail(HW_ERR_IO, "cannot read %s", path), NULL;
    }
    s[n] = 0;
    return s;
}

/* DIR/data/haystack/stories.txt or DIR/share/headwise/haystack/stories.txt for DIR each
 * of the three folders above `file`; 0 when found. */
static int haystack_above(const char *file, char *out, size_t cap) {
    char dir[2048];
    if (snprintf(dir, sizeof dir, "%s", file) >= (int)sizeof dir) return -1;
    static const char *const rel[] = {"data/haystack/stories.txt", "share/headwise/haystack/stories.txt"};
    for (int up = 0; up < 3; up++) {
        char *s = strrchr(dir, '/');
        if (!s) return -1;
        *s = 0;
        for (int k = 0; k < 2; k++) {
            snprintf(out, cap, "%s/%s", dir, rel[k]);
            if (access(out, R_OK) == 0) return 0;
        }
    }
    return -1;
}

hw_status hw_niah_default_haystack(const char *data_dir, char *out, size_t cap) {
    if (!out || cap == 0) return hw_fail(HW_ERR_ARG, "hw_niah_default_haystack: no buffer");
    const char *env = getenv("HEADWISE_DATA");
    const char *dirs[2] = {data_dir, env && *env ? env : NULL};
    for (int k = 0; k < 2; k++) {
        if (!dirs[k]) continue;
        snprintf(out, cap, "%s/haystack/stories.txt", dirs[k]);
        if (access(out, R_OK) == 0) return HW_OK;
    }
    /* The library's own file first (a Python process's executable is python3), then
     * the program's: build/<kind>/headwise -> ../../data. */
    Dl_info info;
    if (dladdr((void *)hw_niah_default_haystack, &info) && info.dli_fname && info.dli_fname[0] == '/' &&
        haystack_above(info.dli_fname, out, cap) == 0)
        return HW_OK;
    char exe[2048];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        if (haystack_above(exe, out, cap) == 0) return HW_OK;
    }
    out[0] = 0;
    return hw_fail(HW_ERR_IO, "no haystack: give a haystack file (text), or set HEADWISE_DATA to "
                   "the folder holding haystack/stories.txt");
}

static int add_needle(hw_niah *n, const char *ne, const char *q, const char *r) {
    needle *nn = realloc(n->needles, sizeof *nn * (size_t)(n->n_needles + 1));
    if (!nn) return hw_fail(HW_ERR_NOMEM, "out of memory");
    n->needles = nn;
    needle *d = &nn[n->n_needles++];
    *d = (needle){.needle = strdup(ne), .question = strdup(q), .real_needle = strdup(r)};
    if (!d->needle || !d->question || !d->real_needle) return hw_fail(HW_ERR_NOMEM, "out of memory");
    /* Each text with its NUL, so that ("ab", "c") and ("a", "bc") differ. */
    n->needles_hash = fnv1a(n->needles_hash, ne, strlen(ne) + 1);
    n->needles_hash = fnv1a(n->needles_hash, q, strlen(q) + 1);
    n->needles_hash = fnv1a(n->needles_hash, r, strlen(r) + 1);
    return HW_OK;
}

static hw_status read_needles(hw_niah *n, const char *path) {
    n->needles_hash = FNV_START;
    if (!path) return add_needle(n, default_needle, default_question, default_answer);
    char *text = hw_read_text(path);
    if (!text) return HW_ERR_IO;
    int line_no = 0;
    hw_status s = HW_OK;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !s; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        const cJSON *ne = cJSON_GetObjectItemCaseSensitive(o, "needle"),
                    *q = cJSON_GetObjectItemCaseSensitive(o, "question"),
                    *r = cJSON_GetObjectItemCaseSensitive(o, "real_needle");
        if (!o || !cJSON_IsString(ne) || !cJSON_IsString(q) || !cJSON_IsString(r))
            s = hw_fail(HW_ERR_FORMAT, "%s:%d: expected a JSON object with string fields needle, "
                        "question and real_needle", path, line_no);
        else
            s = add_needle(n, ne->valuestring, q->valuestring, r->valuestring);
        cJSON_Delete(o);
    }
    free(text);
    if (!s && !n->n_needles) s = hw_fail(HW_ERR_FORMAT, "%s: no needles", path);
    return s;
}

/* round(linspace(lo, hi, cnt)) into *out (malloc'd), repeats dropped. */
static int linspace_int(double lo, double hi, int cnt, int **out) {
    int *v = malloc(sizeof(int) * (size_t)cnt), n = 0;
    if (!v) return -1;
    for (int k = 0; k < cnt; k++) {
        int x = (int)lround(cnt == 1 ? hi : lo + (hi - lo) * k / (cnt - 1));
        if (n && v[n - 1] == x) continue;
        v[n++] = x;
    }
    *out = v;
    return n;
}

static hw_status make_grid(hw_niah *n, const hw_niah_params *p, int C) {
    long lo = p->length_min, hi = p->length_max, cnt = p->n_lengths;
    if (cnt) {
        if (lo < 1 || hi < lo || cnt > 10000)
            return hw_fail(HW_ERR_ARG, "lengths %ld:%ld:%ld: expected 1 <= MIN <= MAX and at most "
                           "10000 lengths", lo, hi, cnt);
    } else {
        /* The paper's linspace(1000, 50000, 20) kept within the model's context. */
        hi = C < 50000 ? C : 50000;
        lo = 1000 < hi / 4 ? 1000 : hi / 4;
        cnt = 20;
    }
    if (hi > C)
        return hw_fail(HW_ERR_RANGE, "context length %ld is longer than the model's context (%d)", hi, C);
    if (p->n_depths < 1 || p->n_depths > 1000)
        return hw_fail(HW_ERR_ARG, "depths: %d is not in [1, 1000]", p->n_depths);
    if ((n->n_lengths = linspace_int((double)lo, (double)hi, (int)cnt, &n->lengths)) < 0 ||
        (n->n_depths = linspace_int(0, 100, p->n_depths, &n->depths)) < 0)
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    return HW_OK;
}

/* The template's suffix with {question} replaced by q (malloc'd), or NULL. */
static char *fill_question(const char *suffix, const char *q) {
    size_t qlen = strlen(q), n = 1;
    for (const char *s = suffix; *s;)
        if (!strncmp(s, "{question}", 10)) n += qlen, s += 10;
        else n++, s++;
    char *out = malloc(n), *w = out;
    if (!out) return NULL;
    for (const char *s = suffix; *s;) {
        if (!strncmp(s, "{question}", 10)) {
            memcpy(w, q, qlen);
            w += qlen;
            s += 10;
        } else {
            *w++ = *s++;
        }
    }
    *w = 0;
    return out;
}

/* Every text a trial is made of, encoded once (each trial used to encode its four
 * texts again: a run has lengths x depths trials per needle). */
static hw_status encode_texts(hw_niah *n) {
    if (*n->prefix && (n->n_prefix_ids = hw_tokenizer_encode_alloc(n->t, n->prefix, 0, &n->prefix_ids)) < 0)
        return HW_ERR_ARG;
    for (int i = 0; i < n->n_needles; i++) {
        needle *nd = &n->needles[i];
        char *suffix = fill_question(n->suffix, nd->question);
        if (!suffix) return hw_fail(HW_ERR_NOMEM, "out of memory");
        nd->n_suffix_ids = hw_tokenizer_encode_alloc(n->t, suffix, 0, &nd->suffix_ids);
        free(suffix);
        if (nd->n_suffix_ids < 0 ||
            (nd->n_needle_ids = hw_tokenizer_encode_alloc(n->t, nd->needle, 0, &nd->needle_ids)) < 0 ||
            (nd->n_answer_ids = hw_tokenizer_encode_alloc(n->t, nd->real_needle, 0, &nd->answer_ids)) < 0)
            return HW_ERR_ARG;
    }
    return HW_OK;
}

/* Every haystack file, concatenated and tokenized once, then repeated to the longest
 * context (the paper repeats the text until it has enough words). */
static hw_status read_haystack(hw_niah *n, const hw_niah_params *p) {
    char def[4096];
    const char *const *paths = p->haystack_paths, *def_paths[1] = {def};
    int n_paths = p->n_haystacks;
    if (n_paths < 0 || (n_paths > 0 && !paths)) return hw_fail(HW_ERR_ARG, "niah: bad haystack list");
    if (!n_paths) {
        if (hw_niah_default_haystack(p->data_dir, def, sizeof def)) return HW_ERR_IO;
        paths = def_paths;
        n_paths = 1;
    }
    size_t total = 0;
    char *all = NULL;
    for (int k = 0; k < n_paths; k++) {
        char *s = paths[k] ? hw_read_text(paths[k]) : NULL;
        if (!s) return free(all), paths[k] ? HW_ERR_IO : hw_fail(HW_ERR_ARG, "niah: haystack %d is NULL", k);
        size_t len = strlen(s);
        char *na = realloc(all, total + len + 1);
        if (!na) return free(s), free(all), hw_fail(HW_ERR_NOMEM, "out of memory");
        all = na;
        memcpy(all + total, s, len + 1);
        total += len;
        free(s);
    }
    n->hay_hash = fnv1a(FNV_START, all, total);
    int *ids = NULL;
    int k = hw_tokenizer_encode_alloc(n->t, all, 0, &ids);
    free(all);
    if (k < 0) return HW_ERR_ARG;
    if (k < 16) return free(ids), hw_fail(HW_ERR_ARG, "haystack too short (%d tokens)", k);
    int longest = n->lengths[n->n_lengths - 1];
    n->n_hay = longest > k ? longest : k;
    n->hay = malloc(sizeof(int) * (size_t)n->n_hay);
    if (!n->hay) return free(ids), hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n->n_hay; i++) n->hay[i] = ids[i % k];
    free(ids);
    return HW_OK;
}

/* The haystack tokens a trial of needle ni at `length` holds (its buffer capped at
 * half the length), and the prompt's token count; -1 when it does not fit, with the
 * reason set. */
static int trial_size(const hw_niah *n, int ni, int length, int *n_ctx) {
    const needle *nd = &n->needles[ni];
    const hw_config *cfg = hw_model_config(n->m);
    int buffer = n->buffer < length / 2 ? n->buffer : length / 2;
    *n_ctx = length - buffer - nd->n_needle_ids;
    if (*n_ctx < 1)
        return hw_fail(HW_ERR_RANGE, "context length %d leaves no room for the haystack (buffer %d, "
                       "needle %d tokens)", length, buffer, nd->n_needle_ids), -1;
    int bos = cfg->bos_id >= 0 && hw_tokenizer_bos(n->t) >= 0;
    long total = (long)bos + n->n_prefix_ids + *n_ctx + nd->n_needle_ids + nd->n_suffix_ids;
    if (total + n->max_new > cfg->n_ctx)
        return hw_fail(HW_ERR_RANGE, "trial of %ld prompt tokens + %d new is longer than the model's "
                       "context (%d): use shorter lengths or fewer new tokens", total, n->max_new,
                       cfg->n_ctx), -1;
    return (int)total;
}

/* Every trial must fit, checked before any runs (a run of 2400 trials once failed at
 * trial 1081). The depth does not change a trial's size: one check per length x needle. */
static hw_status check_grid(const hw_niah *n) {
    for (int ni = 0; ni < n->n_needles; ni++)
        for (int li = 0; li < n->n_lengths; li++) {
            int n_ctx;
            if (trial_size(n, ni, n->lengths[li], &n_ctx) < 0) {
                char why[512];
                snprintf(why, sizeof why, "%s", hw_last_error());
                int first = (ni * n->n_lengths + li) * n->n_depths + 1;
                return hw_fail(HW_ERR_RANGE, "trial %d of %d (needle %d, length %d): %s", first,
                               hw_niah_trial_count(n), ni, n->lengths[li], why);
            }
        }
    return HW_OK;
}

hw_niah *hw_niah_new(const hw_model *m, const hw_tokenizer *t, const hw_niah_params *p) {
    hw_niah_params d = hw_niah_params_default();
    if (!p) p = &d;
    if (!m || !t) return hw_fail(HW_ERR_ARG, "hw_niah_new: no model or tokenizer"), NULL;
    if (p->buffer < 0 || p->max_new < 1)
        return hw_fail(HW_ERR_ARG, "niah: buffer must be >= 0 and max_new >= 1 (got %d, %d)", p->buffer,
                       p->max_new), NULL;
    hw_niah *n = calloc(1, sizeof *n);
    if (!n) return hw_fail(HW_ERR_NOMEM, "out of memory"), NULL;
    n->m = m;
    n->t = t;
    n->buffer = p->buffer;
    n->max_new = p->max_new;
    const char *tpl = p->template_text ? p->template_text : default_template;
    const char *at = strstr(tpl, "{context}");
    hw_status s = read_needles(n, p->needles_path);
    if (!s) s = make_grid(n, p, hw_model_config(m)->n_ctx);
    if (!s && !at) s = hw_fail(HW_ERR_ARG, "the template must contain {context}");
    if (!s && (!(n->prefix = strndup(tpl, (size_t)(at - tpl))) || !(n->suffix = strdup(at + strlen("{context}")))))
        s = hw_fail(HW_ERR_NOMEM, "out of memory");
    if (!s) s = encode_texts(n);
    if (!s) s = read_haystack(n, p);
    if (!s) s = check_grid(n);
    if (s) {
        hw_niah_free(n);
        return NULL;
    }
    return n;
}

void hw_niah_free(hw_niah *n) {
    if (!n) return;
    for (int i = 0; i < n->n_needles; i++) {
        free(n->needles[i].needle);
        free(n->needles[i].question);
        free(n->needles[i].real_needle);
        free(n->needles[i].needle_ids);
        free(n->needles[i].suffix_ids);
        free(n->needles[i].answer_ids);
    }
    free(n->prefix_ids);
    free(n->needles);
    free(n->hay);
    free(n->prefix);
    free(n->suffix);
    free(n->lengths);
    free(n->depths);
    free(n);
}

int hw_niah_trial_count(const hw_niah *n) { return n ? n->n_needles * n->n_lengths * n->n_depths : 0; }
int hw_niah_needle_count(const hw_niah *n) { return n ? n->n_needles : 0; }
int hw_niah_max_new(const hw_niah *n) { return n ? n->max_new : 0; }

hw_status hw_niah_trial_key(const hw_niah *n, int i, int *needle_i, int *length, int *depth) {
    if (!n || i < 0 || i >= hw_niah_trial_count(n)) return hw_fail(HW_ERR_ARG, "niah: no trial %d", i);
    if (needle_i) *needle_i = i / (n->n_lengths * n->n_depths);
    if (length) *length = n->lengths[i / n->n_depths % n->n_lengths];
    if (depth) *depth = n->depths[i % n->n_depths];
    return HW_OK;
}

const char *hw_niah_answer(const hw_niah *n, int i) {
    return n && i >= 0 && i < n->n_needles ? n->needles[i].real_needle : NULL;
}

const int *hw_niah_answer_ids(const hw_niah *n, int i, int *n_ids) {
    int ok = n && i >= 0 && i < n->n_needles;
    if (n_ids) *n_ids = ok ? n->needles[i].n_answer_ids : 0;
    return ok ? n->needles[i].answer_ids : NULL;
}

/* A sentence end: a token whose text ends with '.' (the paper hard-codes Llama-2's
 * period ids; this finds them for any tokenizer). */
static int is_period(const hw_tokenizer *t, int id) {
    size_t len;
    const char *s = hw_tokenizer_decode(t, 0, id, &len);
    return s && len > 0 && s[len - 1] == '.';
}

int hw_niah_trial_prompt(const hw_niah *n, int i, int **prompt, int *span_start, int *span_end) {
    int ni, length, depth, n_ctx;
    if (!prompt || !span_start || !span_end) return hw_fail(HW_ERR_ARG, "hw_niah_trial_prompt: no output"), -1;
    *prompt = NULL;
    if (hw_niah_trial_key(n, i, &ni, &length, &depth)) return -1;
    const needle *nd = &n->needles[ni];
    int total = trial_size(n, ni, length, &n_ctx);
    if (total < 0) return -1;
    int *p = malloc(sizeof(int) * (size_t)total);
    if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory"), -1;
    int k = 0, bos = hw_model_config(n->m)->bos_id >= 0 && hw_tokenizer_bos(n->t) >= 0;
    if (bos) p[k++] = hw_tokenizer_bos(n->t);
    if (n->n_prefix_ids) memcpy(p + k, n->prefix_ids, sizeof(int) * (size_t)n->n_prefix_ids);
    k += n->n_prefix_ids;
    int ins = n_ctx;
    if (depth < 100) {
        ins = (int)((long long)n_ctx * depth / 100);
        while (ins > 0 && !is_period(n->t, n->hay[ins - 1])) ins--;
    }
    memcpy(p + k, n->hay, sizeof(int) * (size_t)ins);
    k += ins;
    memcpy(p + k, nd->needle_ids, sizeof(int) * (size_t)nd->n_needle_ids);
    k += nd->n_needle_ids;
    memcpy(p + k, n->hay + ins, sizeof(int) * (size_t)(n_ctx - ins));
    k += n_ctx - ins;
    memcpy(p + k, nd->suffix_ids, sizeof(int) * (size_t)nd->n_suffix_ids);
    k += nd->n_suffix_ids;
    if (hw_needle_span(p, k, nd->answer_ids, nd->n_answer_ids, span_start, span_end) < 0)
        return free(p), -1;
    *prompt = p;
    return k;
}

/* The template with backslashes, newlines and carriage returns escaped, so that it
 * stays on one line of the trial log. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') fputs("\\\\", f);
        else if (*s == '\n') fputs("\\n", f);
        else if (*s == '\r') fputs("\\r", f);
        else fputc(*s, f);
    }
}

void hw_niah_write_settings(const hw_niah *n, FILE *f) {
    fputs("# setting template ", f);
    put_escaped(f, n->prefix);
    fputs("{context}", f);
    put_escaped(f, n->suffix);
    fputs("\n# setting lengths ", f);
    for (int i = 0; i < n->n_lengths; i++) fprintf(f, "%s%d", i ? "," : "", n->lengths[i]);
    fputs("\n# setting depths ", f);
    for (int i = 0; i < n->n_depths; i++) fprintf(f, "%s%d", i ? "," : "", n->depths[i]);
    fprintf(f, "\n# setting needles %d fnv1a:%016" PRIx64 "\n", n->n_needles, n->needles_hash);
    fprintf(f, "# setting haystack fnv1a:%016" PRIx64 "\n", n->hay_hash);
    fprintf(f, "# setting buffer %d\n# setting max_new %d\n", n->buffer, n->max_new);
}

/* ---------------------------------------------------------------- the needle span */

/* Distinct values of a (n), sorted, into out; returns how many. */
static int distinct(const int *a, int n, int *out) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int v = a[i], j = m;
        while (j > 0 && out[j - 1] > v) j--;
        if (j > 0 && out[j - 1] == v) continue;
        for (int k = m; k > j; k--) out[k] = out[k - 1];
        out[j] = v;
        m++;
    }
    return m;
}

/* The index of v in sorted (n), or -1. */
static int index_of(const int *sorted, int n, int v) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && sorted[lo] == v ? lo : -1;
}

/* A token enters or leaves the window: count it if it is in the answer's set, and
 * keep *shared = how many of the set's tokens the window holds. */
static void window_add(const int *set, int n_set, int *count, int v, int *shared) {
    int k = index_of(set, n_set, v);
    if (k >= 0 && count[k]++ == 0) (*shared)++;
}
static void window_remove(const int *set, int n_set, int *count, int v, int *shared) {
    int k = index_of(set, n_set, v);
    if (k >= 0 && --count[k] == 0) (*shared)--;
}

/* Section 1.1, "needle span": the paper's code slides a window as long as the answer
 * over the prompt and takes the first whose token *set* covers more than 90% of the
 * answer's token set. Windows near the end are shorter, as Python slicing makes them. */
int hw_needle_span(const int *prompt, int n_prompt, const int *answer, int n_answer,
                   int *start, int *end) {
    *start = *end = -1;
    if (n_answer <= 0 || n_prompt <= 0) return 0;
    int *ans = malloc(sizeof(int) * (size_t)n_answer * 2);
    if (!ans) return hw_fail(HW_ERR_NOMEM, "needle span: out of memory"), -1;
    int *count = ans + n_answer; /* per answer-set token: its copies in the window */
    int n_set = distinct(answer, n_answer, ans), shared = 0;
    for (int k = 0; k < n_set; k++) count[k] = 0;
    /* Slide the window one token at a time, counting how many answer-set tokens
     * it holds (the distinct ones shared with the answer): O(prompt log answer)
     * rather than sorting every window. */
    for (int j = 0; j < n_prompt && j < n_answer; j++) window_add(ans, n_set, count, prompt[j], &shared);
    for (int i = 0; i < n_prompt; i++) {
        /* the window is prompt[i, min(i + n_answer, n_prompt)) */
        if ((double)shared / n_set > 0.9) {
            *start = i;
            *end = i + n_answer;
            break;
        }
        window_remove(ans, n_set, count, prompt[i], &shared);
        if (i + n_answer < n_prompt) window_add(ans, n_set, count, prompt[i + n_answer], &shared);
    }
    free(ans);
    return *start >= 0;
}

/* ---------------------------------------------------------------- the passkey protocol */

/* LongHeads' passkey retrieval (methods.md section 4, "Protocol"; their
 * passkey_retrieval/passkey_retrieval.py, which follows Landmark Attention's): the
 * lines below joined by newlines, the garbage cut so that the prompt has exactly the
 * asked number of tokens. */
static const char pk_task[] = "There is an important info hidden inside a lot of irrelevant text. Find it and "
                              "memorize them. I will quiz you about the important information there.";
static const char pk_garbage[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and "
                                 "back again.";
static const char pk_question[] = "What is the pass key? The pass key is";
enum { PK_KEY_MAX = 50000 };
#define PK_SALT 0x7061737373b3e79bull /* the passkeys' stream apart from the tasks' */

struct hw_passkey {
    const hw_tokenizer *t;
    int bos;                    /* the BOS id put first, or -1 */
    int *head, n_head;          /* the task line and its newline, encoded as a text's start */
    int *first, n_first;        /* the garbage sentences after a newline */
    int *next, n_next;          /* " " + the garbage sentences after them (one period) */
    int *question, n_question;  /* "\n" + the question */
};

/* The tokens s adds when it follows ctx: encode(ctx + s) less encode(ctx), which must be
 * a prefix of it. That is how s is tokenized inside the prompt's text (no SentencePiece
 * dummy space before it, GPT-2's space kept on its first word); -1 if a token straddles
 * the boundary. */
static int continuation(const hw_tokenizer *t, const char *ctx, const char *s, int **out) {
    *out = NULL;
    size_t a = strlen(ctx), b = strlen(s);
    char *both = malloc(a + b + 1);
    if (!both) return hw_fail(HW_ERR_NOMEM, "out of memory"), -1;
    memcpy(both, ctx, a);
    memcpy(both + a, s, b + 1);
    int *x = NULL, *y = NULL, nx = hw_tokenizer_encode_alloc(t, ctx, 0, &x), ny = -1;
    if (nx >= 0) ny = hw_tokenizer_encode_alloc(t, both, 0, &y);
    free(both);
    int ok = nx >= 0 && ny >= nx && (nx == 0 || !memcmp(x, y, sizeof(int) * (size_t)nx));
    free(x);
    if (!ok) {
        free(y);
        if (nx >= 0 && ny >= 0)
            hw_fail(HW_ERR_ARG, "passkey: the tokenizer merges \"%.20s\" into the text before it", s);
        return -1;
    }
    memmove(y, y + nx, sizeof(int) * (size_t)(ny - nx));
    *out = y;
    return ny - nx;
}

/* The key line ("\n" before and after it) as it follows a garbage sentence. */
static int key_line(const hw_tokenizer *t, int key, int **ids) {
    char line[128];
    snprintf(line, sizeof line, "\nThe pass key is %d. Remember it. %d is the pass key.\n", key, key);
    return continuation(t, pk_garbage, line, ids);
}

/* The garbage is made by repeating its sentences' tokens, which is only its tokenization
 * if no token spans two repeats: checked on three after the task line. */
static hw_status check_repeats(const hw_passkey *p, const char *head) {
    char three[3 * sizeof pk_garbage];
    snprintf(three, sizeof three, "%s %s %s", pk_garbage, pk_garbage, pk_garbage);
    int *want = NULL, n = continuation(p->t, head, three, &want);
    if (n < 0) return HW_ERR_ARG;
    int ok = n == p->n_first + 2 * p->n_next && !memcmp(want, p->first, sizeof(int) * (size_t)p->n_first);
    for (int r = 0; ok && r < 2; r++)
        ok = !memcmp(want + p->n_first + r * p->n_next, p->next, sizeof(int) * (size_t)p->n_next);
    free(want);
    return ok ? HW_OK : hw_fail(HW_ERR_ARG, "passkey: the tokenizer merges tokens across the garbage's repeats");
}

hw_passkey *hw_passkey_new(const hw_model *m, const hw_tokenizer *t) {
    if (!m || !t) return hw_fail(HW_ERR_ARG, "hw_passkey_new: no model or tokenizer"), NULL;
    hw_passkey *p = calloc(1, sizeof *p);
    if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory"), NULL;
    p->t = t;
    p->bos = hw_model_config(m)->bos_id >= 0 && hw_tokenizer_bos(t) >= 0 ? hw_tokenizer_bos(t) : -1;
    char head[sizeof pk_task + 1], next[sizeof pk_garbage + 1], question[sizeof pk_question + 1];
    snprintf(head, sizeof head, "%s\n", pk_task);
    snprintf(next, sizeof next, " %s", pk_garbage);
    snprintf(question, sizeof question, "\n%s", pk_question);
    /* The head as the text's start (SentencePiece's dummy space, as the reference's
     * whole prompt has it); the rest as continuations. */
    int ok = (p->n_head = hw_tokenizer_encode_alloc(t, head, 0, &p->head)) >= 0 &&
             (p->n_first = continuation(t, head, pk_garbage, &p->first)) > 0 &&
             (p->n_next = continuation(t, pk_garbage, next, &p->next)) > 0 &&
             (p->n_question = continuation(t, pk_garbage, question, &p->question)) > 0 && !check_repeats(p, head);
    if (!ok) {
        hw_passkey_free(p);
        return NULL;
    }
    return p;
}

void hw_passkey_free(hw_passkey *p) {
    if (!p) return;
    free(p->head);
    free(p->first);
    free(p->next);
    free(p->question);
    free(p);
}

int hw_passkey_key(uint64_t seed, int sample) {
    hw_rng r = {hw_seed_mix(seed ^ PK_SALT, (uint64_t)(unsigned)sample, 0)};
    return 1 + hw_rng_int(&r, PK_KEY_MAX);
}

int hw_passkey_answer(const hw_passkey *p, int key, int **ids) {
    if (ids) *ids = NULL;
    if (!p || !ids || key < 1) return hw_fail(HW_ERR_ARG, "hw_passkey_answer: no passkey, output or key"), -1;
    char num[24];
    snprintf(num, sizeof num, " %d", key);
    return continuation(p->t, pk_question, num, ids);
}

int hw_passkey_min_length(const hw_passkey *p, int key) {
    if (!p) return hw_fail(HW_ERR_ARG, "hw_passkey_min_length: no passkey"), -1;
    int *k, n = key_line(p->t, key, &k);
    free(k);
    return n < 0 ? -1 : (p->bos >= 0) + p->n_head + n + p->n_question;
}

/* Garbage token i (of the endless repeat). */
static int garbage_at(const hw_passkey *p, long i) {
    return i < p->n_first ? p->first[i] : p->next[(i - p->n_first) % p->n_next];
}

int hw_passkey_prompt(const hw_passkey *p, int length, int depth, int key, int **prompt, int *key_start,
                      int *key_end) {
    if (prompt) *prompt = NULL;
    if (!p || !prompt || depth < 0 || depth > 100 || key < 1)
        return hw_fail(HW_ERR_ARG, "hw_passkey_prompt: no passkey or output, or depth %d outside [0, 100]", depth),
               -1;
    int *k, n_key = key_line(p->t, key, &k);
    if (n_key < 0) return -1;
    const int fixed = (p->bos >= 0) + p->n_head + n_key + p->n_question, garbage = length - fixed;
    if (garbage < 0) {
        free(k);
        return hw_fail(HW_ERR_RANGE, "passkey: length %d is shorter than the prompt without garbage (%d tokens)",
                       length, fixed), -1;
    }
    /* The key line after the garbage sentence that ends nearest before the depth (as the
     * text trials place their needle); the rest of the garbage starts the sentences over
     * after it, as the reference's suffix does. */
    int before = depth == 100 ? garbage : (int)((long long)garbage * depth / 100);
    while (depth < 100 && before > 0 && !is_period(p->t, garbage_at(p, before - 1))) before--;
    int *v = malloc(sizeof(int) * (size_t)length), w = 0;
    if (!v) return free(k), hw_fail(HW_ERR_NOMEM, "out of memory"), -1;
    if (p->bos >= 0) v[w++] = p->bos;
    memcpy(v + w, p->head, sizeof(int) * (size_t)p->n_head);
    w += p->n_head;
    for (int i = 0; i < before; i++) v[w++] = garbage_at(p, i);
    if (key_start) *key_start = w;
    memcpy(v + w, k, sizeof(int) * (size_t)n_key);
    w += n_key;
    if (key_end) *key_end = w;
    for (int i = 0; i < garbage - before; i++) v[w++] = garbage_at(p, i);
    memcpy(v + w, p->question, sizeof(int) * (size_t)p->n_question);
    free(k);
    *prompt = v;
    return length;
}
