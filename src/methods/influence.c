/* influence.c: AttentionInfluence (Hua et al. 2025; methods.md section 10): a document's
 * relative loss rise when a small model's retrieval heads are masked,
 * (L_mask - L_base) / L_base, normalised by the unmasked loss as the spec settles. Scored
 * a document at a time into a resume log (format in headwise.h) that makes a killed run
 * cheap to finish and lets shards of one corpus run anywhere (MPI ranks) and be merged in
 * corpus order. */
#include "influence.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_HEAD "# headwise influence log\n"
#define LOG_END "# end\n"
#define ROWS 512 /* logits rows per forward call: (ROWS, V) floats however long the window */

hw_influence_params hw_influence_params_default(void) {
    return (hw_influence_params){.mode = HW_INFLUENCE_UNIFORM, .byte_end = -1};
}

/* ---------------------------------------------------------------- the settings a log is keyed by */

static void heads_text(const hw_head *h, int n, char *out, size_t cap) {
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%d.%d", i ? "," : "", h[i].layer, h[i].head);
}

/* Every setting the records depend on, as "# setting" lines (malloc'd). */
static char *settings_text(const hw_model *m, const hw_tokenizer *t, const char *corpus, int64_t size,
                           const hw_influence_params *p, int W, int64_t end) {
    const hw_config *c = hw_model_config(m);
    size_t hcap = (size_t)p->n_heads * 24 + 1, cap = hcap + strlen(corpus) + 1024 +
                  (p->model_id ? strlen(p->model_id) : 0);
    char *heads = malloc(hcap), *s = malloc(cap);
    if (!heads || !s) return free(heads), free(s), hw_fail(HW_ERR_NOMEM, "out of memory"), NULL;
    heads_text(p->heads, p->n_heads, heads, hcap);
    snprintf(s, cap,
             "# setting model %s L %d H %d D %d V %d ctx %d\n# setting heads %s\n# setting mode %s\n"
             "# setting context %d\n# setting bos %d\n# setting corpus %s %lld\n# setting range %lld %lld\n",
             p->model_id ? p->model_id : "unnamed", c->n_layer, c->n_head, c->d_model, c->vocab_size,
             c->n_ctx, heads, p->mode == HW_INFLUENCE_ZERO ? "zero" : "uniform", W, hw_tokenizer_bos(t),
             corpus, (long long)size, (long long)p->byte_begin, (long long)end);
    free(heads);
    return s;
}

/* ---------------------------------------------------------------- the log */

typedef struct {
    int64_t next, line;      /* after the last record: its NEXT and LINE (0, 0: none) */
    int complete;
    long good_end;           /* bytes up to the last whole line */
    hw_influence_summary sum;
} log_state;

/* One record "NEXT\tLINE\t{...}" or "NEXT\tLINE\t!reason": counted into st; *json points
 * at the JSON (NULL for a bad line). */
static hw_status read_record(const char *path, int n, char *line, log_state *st, char **json) {
    long long next, no;
    int used = 0;
    if (sscanf(line, "%lld\t%lld\t%n", &next, &no, &used) != 2 || !used || next <= st->next || no <= st->line)
        return hw_fail(HW_ERR_FORMAT, "%s:%d: malformed record", path, n);
    st->next = next, st->line = no;
    *json = NULL;
    if (line[used] == '!') return st->sum.bad_lines++, HW_OK;
    cJSON *o = cJSON_Parse(line + used);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "tokens");
    if (!cJSON_IsNumber(tok) || !(tok->valuedouble >= 0 && tok->valuedouble < 0x1p53)) {
        cJSON_Delete(o);
        return hw_fail(HW_ERR_FORMAT, "%s:%d: malformed record", path, n);
    }
    st->sum.documents++, st->sum.tokens += (int64_t)tok->valuedouble;
    cJSON_Delete(o);
    *json = line + used;
    return HW_OK;
}

/* Read a log: its settings must be `settings` (NULL: any, returned in *found when asked);
 * each JSON record goes to out when out is given. A missing log is empty. */
static hw_status read_log(const char *path, const char *settings, FILE *out, log_state *st, char **found) {
    *st = (log_state){0};
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT && !out ? HW_OK : hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char *line = NULL, *head = calloc(1, 1);
    size_t cap = 0, head_len = 0;
    ssize_t len;
    int n = 0, in_head = 1;
    hw_status s = head ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    while (!s && (len = getline(&line, &cap, f)) > 0) {
        n++;
        if (line[len - 1] != '\n') break; /* a torn last line from a killed run */
        if (n == 1) {
            if (strcmp(line, LOG_HEAD)) s = hw_fail(HW_ERR_FORMAT, "%s is not an influence log", path);
        } else if (in_head && !strncmp(line, "# setting ", 10)) {
            char *h = realloc(head, head_len + (size_t)len + 1);
            if (!h) s = hw_fail(HW_ERR_NOMEM, "out of memory");
            else memcpy((head = h) + head_len, line, (size_t)len + 1), head_len += (size_t)len;
        } else if (st->complete) {
            s = hw_fail(HW_ERR_FORMAT, "%s:%d: a line after the end", path, n);
        } else {
            if (in_head && settings && strcmp(head, settings)) {
                /* Name the first setting that differs. */
                const char *a = head, *b = settings;
                while (*a && *a == *b) a++, b++;
                while (a > head && a[-1] != '\n') a--;
                const char *ae = strchr(a, '\n'), *be = strchr(settings + (a - head), '\n');
                const char *bl = settings + (a - head);
                s = hw_fail(HW_ERR_ARG, "%s was written with other settings: '%.*s' there, '%.*s' now; delete "
                            "it to start over, or write elsewhere", path, ae ? (int)(ae - a) : 0, a,
                            be ? (int)(be - bl) : 0, bl);
                break;
            }
            in_head = 0;
            char *json = NULL;
            if (!strcmp(line, LOG_END)) st->complete = 1;
            else if (!(s = read_record(path, n, line, st, &json)) && json && out) fputs(json, out);
        }
        if (!s) st->good_end += (long)len;
    }
    if (!s && in_head && settings && st->good_end > 0 && strcmp(head, settings))
        s = hw_fail(HW_ERR_ARG, "%s was written with other settings; delete it to start over", path);
    if (!s && found) *found = head, head = NULL;
    free(line), free(head);
    fclose(f);
    return s;
}

static FILE *open_log(const char *path, const char *settings, long good_end) {
    if (good_end > 0 && truncate(path, good_end) != 0)
        return hw_fail(HW_ERR_IO, "cannot write %s: %s", path, strerror(errno)), NULL;
    FILE *f = fopen(path, good_end > 0 ? "a" : "w");
    if (!f) return hw_fail(HW_ERR_IO, "cannot write %s: %s", path, strerror(errno)), NULL;
    if (good_end <= 0) fprintf(f, LOG_HEAD "%s", settings);
    if (fflush(f)) return fclose(f), hw_fail(HW_ERR_IO, "cannot write %s: %s", path, strerror(errno)), NULL;
    return f;
}

/* ---------------------------------------------------------------- scoring */

typedef struct {
    const hw_model *m;
    hw_context *c;
    hw_hooks *mask;
    float *logits;    /* (ROWS, V) */
    int W, bos, V;
} scorer;

/* -ln softmax(row)[target] in double: a document's loss is a sum over thousands of tokens. */
static double token_nll(const float *row, int V, int target) {
    double mx = row[0], z = 0.0;
    for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (int v = 0; v < V; v++) z += exp((double)row[v] - mx);
    return mx + log(z) - (double)row[target];
}

/* The summed loss of w[0..n) (every token but the first a target) in a fresh context. */
static hw_status window_loss(scorer *s, const hw_hooks *hooks, const int *w, int n, double *sum) {
    hw_context_reset(s->c);
    *sum = 0.0;
    for (int done = 0; done < n - 1;) {
        const int T = n - 1 - done < ROWS ? n - 1 - done : ROWS;
        hw_status st = hw_forward_hooked(s->c, w + done, T, HW_LOGITS_ALL, s->logits, hooks);
        if (st) return st;
        for (int t = 0; t < T; t++) *sum += token_nll(s->logits + (size_t)t * s->V, s->V, w[done + t + 1]);
        done += T;
    }
    return HW_OK;
}

/* A document's tokens (no BOS) in consecutive windows: BOS + W - 1 tokens each, or W
 * without BOS (its first token then unscored; a last window of one token is dropped). */
static hw_status score_tokens(scorer *s, const int *tok, int n, int *buf, double *base, double *masked,
                              int64_t *scored) {
    const int step = s->bos >= 0 ? s->W - 1 : s->W;
    *base = *masked = 0.0, *scored = 0;
    for (int a = 0; a < n; a += step) {
        const int k = n - a < step ? n - a : step, len = k + (s->bos >= 0);
        if (len < 2) break;
        if (s->bos >= 0) buf[0] = s->bos;
        memcpy(buf + (s->bos >= 0), tok + a, sizeof(int) * (size_t)k);
        double b, mk;
        hw_status st = window_loss(s, NULL, buf, len, &b);
        if (!st) st = window_loss(s, s->mask, buf, len, &mk);
        if (st) return st;
        *base += b, *masked += mk, *scored += len - 1;
    }
    return HW_OK;
}

/* The record's JSON for a scored document (malloc'd), or NULL with reason. */
static char *doc_json(const hw_influence_doc *d, int64_t tokens, double lb, double lm) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddItemToObject(o, "id", cJSON_CreateRaw(d->id_json));
    cJSON_AddStringToObject(o, "domain", d->domain);
    cJSON_AddNumberToObject(o, "tokens", (double)tokens);
    cJSON_AddNumberToObject(o, "loss_base", lb);
    cJSON_AddNumberToObject(o, "loss_masked", lm);
    cJSON_AddNumberToObject(o, "influence", (lm - lb) / lb);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Score one line: 0 with *json (cJSON_free it), 1 with reason for a bad line, or an engine
 * error's status (negated) with the error set. */
static int score_line(scorer *s, const hw_tokenizer *t, const char *line, size_t len, int64_t no,
                      char **json, int64_t *tokens, char *reason, size_t cap) {
    hw_influence_doc d;
    if (hw_influence_parse_line(line, len, no, &d, reason, cap)) return 1;
    int *tok = NULL, *buf = NULL, n = hw_tokenizer_encode_alloc(t, d.text, 0, &tok), rc = 1;
    double lb = 0, lm = 0;
    hw_status st;
    if (n < 0) snprintf(reason, cap, "cannot tokenize the text: %s", hw_last_error());
    else if (n + (s->bos >= 0) < 2) snprintf(reason, cap, "the text has no token to score");
    else if (!(buf = malloc(sizeof(int) * (size_t)s->W))) rc = -(int)hw_fail(HW_ERR_NOMEM, "out of memory");
    else if ((st = score_tokens(s, tok, n, buf, &lb, &lm, tokens))) rc = -(int)st;
    else if (!(lb > 0) || !isfinite(lb) || !isfinite(lm)) snprintf(reason, cap, "a non-finite loss");
    else if (!(*json = doc_json(&d, *tokens, lb / (double)*tokens, lm / (double)*tokens)))
        rc = -(int)hw_fail(HW_ERR_NOMEM, "out of memory");
    else rc = 0;
    free(tok), free(buf);
    hw_influence_doc_free(&d);
    return rc;
}

static hw_status check_params(const hw_model *m, const hw_tokenizer *t, const char *corpus, const char *log,
                              const hw_influence_params *p, int *W) {
    if (!m || !t || !corpus || !log || !p) return hw_fail(HW_ERR_ARG, "hw_influence_run: a model, tokenizer, corpus, log and params are needed");
    const hw_config *c = hw_model_config(m);
    if (!p->heads || p->n_heads < 1) return hw_fail(HW_ERR_ARG, "influence: no heads to mask");
    for (int i = 0; i < p->n_heads; i++)
        if (p->heads[i].layer < 0 || p->heads[i].layer >= c->n_layer || p->heads[i].head < 0 || p->heads[i].head >= c->n_head)
            return hw_fail(HW_ERR_ARG, "influence: head %d.%d is not in the model (%d x %d)", p->heads[i].layer,
                           p->heads[i].head, c->n_layer, c->n_head);
    if (p->mode != HW_INFLUENCE_UNIFORM && p->mode != HW_INFLUENCE_ZERO) return hw_fail(HW_ERR_ARG, "influence: unknown mode");
    *W = p->context > 0 ? p->context : c->n_ctx;
    if (*W < 2 || (c->pos == HW_POS_LEARNED && *W > c->n_ctx))
        return hw_fail(HW_ERR_RANGE, "influence: a window of %d tokens (the model reads 2 to %d)", *W, c->n_ctx);
    if (p->byte_begin < 0 || (p->byte_end >= 0 && p->byte_end < p->byte_begin))
        return hw_fail(HW_ERR_ARG, "influence: byte range [%lld, %lld)", (long long)p->byte_begin, (long long)p->byte_end);
    return HW_OK;
}

/* The loop over the shard's lines from where the log stops. */
static hw_status score_shard(scorer *s, const hw_tokenizer *t, hw_corpus *cor, FILE *log, const hw_influence_params *p,
                             log_state *st, hw_progress_fn progress, void *user) {
    char *line, reason[160];
    size_t len;
    int64_t start, no, first = st->next > 0 ? st->next : p->byte_begin;
    hw_status rc = hw_corpus_seek_line(cor, first);
    const int64_t size = hw_corpus_size(cor), end = p->byte_end >= 0 ? p->byte_end : size;
    int r;
    while (!rc && (r = hw_corpus_next(cor, &line, &len, &start, &no)) != 0) {
        if (r < 0 || (p->byte_end >= 0 && start >= p->byte_end)) {
            rc = r < 0 ? HW_ERR_IO : HW_OK;
            break;
        }
        char *json = NULL;
        int64_t tokens = 0;
        int bad = score_line(s, t, line, len, no, &json, &tokens, reason, sizeof reason);
        if (bad < 0) return (hw_status)-bad;
        if (bad && p->strict) return hw_fail(HW_ERR_FORMAT, "corpus line %lld: %s (--strict)", (long long)no, reason);
        if (bad && p->warn) p->warn(no, reason, user);
        fprintf(log, "%lld\t%lld\t%s%s\n", (long long)hw_corpus_offset(cor), (long long)no, bad ? "!" : "", bad ? reason : json);
        cJSON_free(json);
        if (fflush(log)) return hw_fail(HW_ERR_IO, "cannot write the influence log: %s", strerror(errno));
        if (bad) st->sum.bad_lines++;
        else st->sum.documents++, st->sum.tokens += tokens;
        st->sum.bytes = hw_corpus_offset(cor) - p->byte_begin;
        if (progress && (progress("documents", st->sum.documents, 0, user) || progress("tokens", st->sum.tokens, 0, user) ||
                         progress("bytes", st->sum.bytes, end >= 0 ? end - p->byte_begin : 0, user)))
            return hw_fail(HW_ERR_ARG, "influence: stopped by the caller");
    }
    if (!rc && (fputs(LOG_END, log) < 0 || fflush(log))) rc = hw_fail(HW_ERR_IO, "cannot write the influence log");
    return rc;
}

hw_status hw_influence_run(const hw_model *m, const hw_tokenizer *t, const char *corpus, const char *log_path,
                           const hw_influence_params *p, hw_progress_fn progress, void *user,
                           hw_influence_summary *summary) {
    int W = 0;
    hw_status rc = check_params(m, t, corpus, log_path, p, &W);
    if (rc) return rc;
    hw_corpus *cor = hw_corpus_open(corpus);
    if (!cor) return HW_ERR_IO;
    const int64_t size = hw_corpus_size(cor);
    char *settings = settings_text(m, t, corpus, size, p, W, p->byte_end >= 0 ? p->byte_end : size);
    log_state st = {0};
    scorer s = {.m = m, .W = W, .bos = hw_tokenizer_bos(t), .V = hw_model_config(m)->vocab_size};
    FILE *log = NULL;
    if (!settings || (rc = read_log(log_path, settings, NULL, &st, NULL))) goto done;
    st.sum.resumed = st.sum.documents;
    if (!st.complete) {
        s.c = hw_context_new(m, W);
        s.mask = hw_hooks_new();
        s.logits = malloc(sizeof(float) * (size_t)ROWS * (size_t)s.V);
        if (!s.c || !s.mask || !s.logits) {
            rc = hw_fail(HW_ERR_NOMEM, "influence: no memory for a context of %d tokens", W);
            goto done;
        }
        rc = p->mode == HW_INFLUENCE_ZERO ? hw_hooks_zero_output(s.mask, p->heads, p->n_heads, HW_PHASE_BOTH)
                                          : hw_hooks_mask_uniform(s.mask, p->heads, p->n_heads, HW_PHASE_BOTH);
        if (!rc && !(log = open_log(log_path, settings, st.good_end))) rc = HW_ERR_IO;
        if (!rc) rc = score_shard(&s, t, cor, log, p, &st, progress, user);
    }
done:
    if (log && fclose(log) && !rc) rc = hw_fail(HW_ERR_IO, "cannot write %s", log_path);
    if (summary) *summary = st.sum;
    free(settings), free(s.logits);
    hw_hooks_free(s.mask);
    hw_context_free(s.c);
    hw_corpus_close(cor);
    return rc;
}

/* ---------------------------------------------------------------- merging shards */

/* A log's settings without its range line, and the range. */
static void split_range(char *head, long long *b, long long *e) {
    char *r = strstr(head, "# setting range ");
    *b = *e = -2;
    if (!r) return;
    sscanf(r, "# setting range %lld %lld", b, e);
    char *nl = strchr(r, '\n');
    memmove(r, nl ? nl + 1 : r + strlen(r), strlen(nl ? nl + 1 : r + strlen(r)) + 1);
}

hw_status hw_influence_merge(const char *const *logs, int n, const char *out, hw_influence_summary *summary) {
    if (!logs || n < 1 || !out) return hw_fail(HW_ERR_ARG, "hw_influence_merge: logs and an output are needed");
    hw_atomic_file *a = hw_atomic_open(out);
    if (!a) return HW_ERR_IO;
    hw_influence_summary sum = {0};
    char *first = NULL;
    long long prev_end = 0;
    hw_status rc = HW_OK;
    for (int i = 0; i < n && !rc; i++) {
        log_state st;
        char *head = NULL;
        long long b, e;
        rc = read_log(logs[i], NULL, hw_atomic_stream(a), &st, &head);
        if (!rc && !st.complete) rc = hw_fail(HW_ERR_FORMAT, "%s is not complete: rerun to finish it", logs[i]);
        if (!rc) split_range(head, &b, &e);
        if (!rc && (b != prev_end || (i == n - 1 && e != -1 && e < b)))
            rc = hw_fail(HW_ERR_FORMAT, "%s: its shard [%lld, %lld) does not follow the previous one's end %lld",
                         logs[i], b, e, prev_end);
        if (!rc && first && strcmp(first, head)) rc = hw_fail(HW_ERR_FORMAT, "%s: other settings than %s", logs[i], logs[0]);
        prev_end = e;
        if (!first) first = head, head = NULL;
        free(head);
        sum.documents += st.sum.documents, sum.bad_lines += st.sum.bad_lines, sum.tokens += st.sum.tokens;
    }
    free(first);
    if (!rc && sum.documents + sum.bad_lines == 0) rc = hw_fail(HW_ERR_FORMAT, "empty corpus: no line to score");
    if (rc) hw_atomic_abort(a);
    else rc = hw_atomic_commit(a);
    if (summary) *summary = sum;
    return rc;
}
