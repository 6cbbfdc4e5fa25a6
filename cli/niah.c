/* niah.c: needle-in-a-haystack trials (methods.md section 1.2): the haystack repeated
 * and cut to each context length less a buffer and the needle, the needle inserted at
 * each depth after the nearest earlier sentence end, then the question. */
#include "niah.h"

#include <cJSON.h>
#include <errno.h>
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

int niah_flag(niah *n, int argc, char **argv, int *i) {
    const char *a = argv[*i], *cmd = n->cmd;
    long v;
    if (!strcmp(a, "--needles")) return cli_value(cmd, argc, argv, i, &n->needles_path) ? -1 : 1;
    if (!strcmp(a, "--template")) return cli_value(cmd, argc, argv, i, &n->template_text) ? -1 : 1;
    if (!strcmp(a, "--lengths")) return cli_value(cmd, argc, argv, i, &n->lengths_text) ? -1 : 1;
    if (!strcmp(a, "--haystack")) {
        if (n->n_hay_paths == NIAH_MAX_HAYSTACKS)
            return cli_usage_error(cmd, "at most %d --haystack files", NIAH_MAX_HAYSTACKS), -1;
        return cli_value(cmd, argc, argv, i, &n->hay_paths[n->n_hay_paths++]) ? -1 : 1;
    }
    if (!strcmp(a, "--depths")) return cli_int(cmd, argc, argv, i, 1, 1000, &n->depth_count) ? -1 : 1;
    if (!strcmp(a, "--buffer")) {
        if (cli_int(cmd, argc, argv, i, 0, 1 << 24, &v)) return -1;
        n->buffer = (int)v;
        return 1;
    }
    if (!strcmp(a, "--max-new")) {
        if (cli_int(cmd, argc, argv, i, 1, 100000, &v)) return -1;
        n->max_new = (int)v;
        return 1;
    }
    return 0;
}

/* A whole text file, NUL-terminated (malloc'd). The buffer starts at the file's size
 * (a fixed 128 KB start cost a mmap and munmap per needles file) and doubles only if
 * the file grows while it is read. */
static char *read_text(const char *cmd, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_error(cmd, "cannot read %s: %s", path, strerror(errno)), NULL;
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    char *s = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!s) {
            fclose(f);
            return cli_error(cmd, "out of memory reading %s", path), NULL;
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
        return cli_error(cmd, "cannot read %s", path), NULL;
    }
    s[n] = 0;
    return s;
}

/* The repository's data/haystack/stories.txt, found from the executable
 * (build/<kind>/headwise -> ../../data). */
static int default_haystack(char *out, size_t cap) {
    char exe[2048];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return -1;
    exe[k] = 0;
    for (int up = 0; up < 3; up++) {
        char *s = strrchr(exe, '/');
        if (!s) return -1;
        *s = 0;
        snprintf(out, cap, "%s/data/haystack/stories.txt", exe);
        if (access(out, R_OK) == 0) return 0;
    }
    return -1;
}

static char *dup_str(const char *s) {
    char *d = strdup(s);
    return d;
}

static int read_needles(niah *n) {
    const char *cmd = n->cmd, *needles_path = n->needles_path;
    if (!needles_path) {
        n->needles = calloc(1, sizeof *n->needles);
        if (!n->needles) return cli_error(cmd, "out of memory");
        n->n_needles = 1;
        n->needles[0] = (niah_needle){.needle = dup_str(default_needle),
                                      .question = dup_str(default_question),
                                      .real_needle = dup_str(default_answer)};
        return 0;
    }
    char *text = read_text(cmd, needles_path);
    if (!text) return 1;
    int line_no = 0, rc = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line_no++;
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        const cJSON *ne = cJSON_GetObjectItemCaseSensitive(o, "needle"),
                    *q = cJSON_GetObjectItemCaseSensitive(o, "question"),
                    *r = cJSON_GetObjectItemCaseSensitive(o, "real_needle");
        if (!o || !cJSON_IsString(ne) || !cJSON_IsString(q) || !cJSON_IsString(r)) {
            cJSON_Delete(o);
            rc = cli_error(cmd, "%s:%d: expected a JSON object with string fields needle, "
                           "question and real_needle", needles_path, line_no);
            break;
        }
        niah_needle *nn = realloc(n->needles, sizeof *nn * (size_t)(n->n_needles + 1));
        if (!nn) {
            cJSON_Delete(o);
            rc = cli_error(cmd, "out of memory");
            break;
        }
        n->needles = nn;
        nn[n->n_needles++] = (niah_needle){.needle = dup_str(ne->valuestring),
                                          .question = dup_str(q->valuestring),
                                          .real_needle = dup_str(r->valuestring)};
        cJSON_Delete(o);
    }
    free(text);
    if (!rc && !n->n_needles) rc = cli_error(cmd, "%s: no needles", needles_path);
    return rc;
}

static int parse_lengths(niah *n, int C) {
    long lo, hi, cnt, depth_count = n->depth_count ? n->depth_count : 10;
    const char *lengths_text = n->lengths_text;
    if (lengths_text) {
        char extra;
        if (sscanf(lengths_text, "%ld:%ld:%ld%c", &lo, &hi, &cnt, &extra) != 3 || lo < 1 ||
            hi < lo || cnt < 1 || cnt > 10000)
            return cli_usage_error(n->cmd, "--lengths '%s': expected MIN:MAX:COUNT (tokens)",
                                   lengths_text);
    } else {
        /* The paper's linspace(1000, 50000, 20) kept within the model's context. */
        hi = C < 50000 ? C : 50000;
        lo = 1000 < hi / 4 ? 1000 : hi / 4;
        cnt = 20;
    }
    if (hi > C)
        return cli_error(n->cmd, "context length %ld is longer than the model's context (%d)", hi, C);
    n->lengths = malloc(sizeof(int) * (size_t)cnt);
    if (!n->lengths) return cli_error(n->cmd, "out of memory");
    n->n_lengths = 0;
    for (long k = 0; k < cnt; k++) {
        int v = (int)lround(cnt == 1 ? (double)hi : lo + (double)(hi - lo) * k / (cnt - 1));
        if (n->n_lengths && n->lengths[n->n_lengths - 1] == v) continue;
        n->lengths[n->n_lengths++] = v;
    }
    n->depths = malloc(sizeof(int) * (size_t)depth_count);
    if (!n->depths) return cli_error(n->cmd, "out of memory");
    n->n_depths = 0;
    for (long k = 0; k < depth_count; k++) {
        int v = (int)lround(depth_count == 1 ? 100.0 : 100.0 * k / (depth_count - 1));
        if (n->n_depths && n->depths[n->n_depths - 1] == v) continue;
        n->depths[n->n_depths++] = v;
    }
    return 0;
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
static int encode_texts(niah *n) {
    const char *cmd = n->cmd;
    if (*n->prefix && (n->n_prefix_ids = score_encode(cmd, n->t, n->prefix, 0, &n->prefix_ids)) < 0)
        return 1;
    for (int i = 0; i < n->n_needles; i++) {
        niah_needle *nd = &n->needles[i];
        char *suffix = fill_question(n->suffix, nd->question);
        if (!suffix) return cli_error(cmd, "out of memory");
        nd->n_suffix_ids = score_encode(cmd, n->t, suffix, 0, &nd->suffix_ids);
        free(suffix);
        if (nd->n_suffix_ids < 0 ||
            (nd->n_needle_ids = score_encode(cmd, n->t, nd->needle, 0, &nd->needle_ids)) < 0 ||
            (nd->n_answer_ids = score_encode(cmd, n->t, nd->real_needle, 0, &nd->answer_ids)) < 0)
            return 1;
    }
    return 0;
}

int niah_prepare(niah *n) {
    const char *cmd = n->cmd;
    const hw_config *cfg = hw_model_config(n->m);
    if (!n->max_new) n->max_new = 50;
    if (read_needles(n) || parse_lengths(n, cfg->n_ctx)) return 1;
    if (n->buffer < 0) n->buffer = 200;
    const char *tpl = n->template_text ? n->template_text : default_template;
    const char *at = strstr(tpl, "{context}");
    if (!at) return cli_usage_error(cmd, "--template must contain {context}");
    n->prefix = strndup(tpl, (size_t)(at - tpl));
    n->suffix = strdup(at + strlen("{context}"));
    if (!n->prefix || !n->suffix) return cli_error(cmd, "out of memory");
    if (encode_texts(n)) return 1;
    char def[4096];
    const char *const *hay_paths = n->hay_paths, *def_paths[1] = {def};
    int n_hay_paths = n->n_hay_paths;
    if (!n_hay_paths) {
        if (default_haystack(def, sizeof def))
            return cli_usage_error(cmd, "no haystack: give --haystack FILE (text)");
        hay_paths = def_paths;
        n_hay_paths = 1;
    }
    /* Every haystack file, concatenated and tokenized once, then repeated to the longest
     * context (the paper repeats the text until it has enough words). */
    size_t total = 0;
    char *all = NULL;
    for (int k = 0; k < n_hay_paths; k++) {
        char *s = read_text(cmd, hay_paths[k]);
        if (!s) return free(all), 1;
        size_t len = strlen(s);
        char *na = realloc(all, total + len + 1);
        if (!na) return free(s), free(all), cli_error(cmd, "out of memory");
        all = na;
        memcpy(all + total, s, len + 1);
        total += len;
        free(s);
    }
    int *ids = NULL;
    int k = score_encode(cmd, n->t, all, 0, &ids);
    free(all);
    if (k < 0) return 1;
    if (k < 16) return free(ids), cli_error(cmd, "haystack too short (%d tokens)", k);
    int longest = n->lengths[n->n_lengths - 1];
    n->n_hay = longest > k ? longest : k;
    n->hay = malloc(sizeof(int) * (size_t)n->n_hay);
    if (!n->hay) return free(ids), cli_error(cmd, "out of memory");
    for (int i = 0; i < n->n_hay; i++) n->hay[i] = ids[i % k];
    free(ids);
    return 0;
}

void niah_free(niah *n) {
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
}

/* A sentence end: a token whose text ends with '.' (the paper hard-codes Llama-2's
 * period ids; this finds them for any tokenizer). */
static int is_period(const hw_tokenizer *t, int id) {
    size_t len;
    const char *s = hw_tokenizer_decode(t, 0, id, &len);
    return s && len > 0 && s[len - 1] == '.';
}

int niah_prompt(const niah *n, int ni, int length, int depth, int **prompt, int *span_start,
                int *span_end) {
    const char *cmd = n->cmd;
    const niah_needle *nd = &n->needles[ni];
    const hw_config *cfg = hw_model_config(n->m);
    const int *needle = nd->needle_ids, *pre = n->prefix_ids, *suf = nd->suffix_ids;
    int n_needle = nd->n_needle_ids, n_pre = n->n_prefix_ids, n_suf = nd->n_suffix_ids;
    int buffer = n->buffer < length / 2 ? n->buffer : length / 2;
    int n_ctx = length - buffer - n_needle;
    if (n_ctx < 1)
        return cli_error(cmd, "context length %d leaves no room for the haystack (buffer %d, needle "
                         "%d tokens)", length, buffer, n_needle), -1;
    int bos = cfg->bos_id >= 0 && hw_tokenizer_bos(n->t) >= 0;
    int total = bos + n_pre + n_ctx + n_needle + n_suf;
    if (total + n->max_new > cfg->n_ctx)
        return cli_error(cmd, "trial of %d prompt tokens + %d new is longer than the model's "
                         "context (%d): use shorter --lengths or a smaller --max-new", total,
                         n->max_new, cfg->n_ctx), -1;
    int *p = malloc(sizeof(int) * (size_t)total);
    if (!p) return cli_error(cmd, "out of memory"), -1;
    int k = 0;
    if (bos) p[k++] = hw_tokenizer_bos(n->t);
    if (n_pre) memcpy(p + k, pre, sizeof(int) * (size_t)n_pre);
    k += n_pre;
    int ins = n_ctx;
    if (depth < 100) {
        ins = (int)((long long)n_ctx * depth / 100);
        while (ins > 0 && !is_period(n->t, n->hay[ins - 1])) ins--;
    }
    memcpy(p + k, n->hay, sizeof(int) * (size_t)ins);
    k += ins;
    memcpy(p + k, needle, sizeof(int) * (size_t)n_needle);
    k += n_needle;
    memcpy(p + k, n->hay + ins, sizeof(int) * (size_t)(n_ctx - ins));
    k += n_ctx - ins;
    memcpy(p + k, suf, sizeof(int) * (size_t)n_suf);
    k += n_suf;
    hw_needle_span(p, k, nd->answer_ids, nd->n_answer_ids, span_start, span_end);
    *prompt = p;
    return k;
}

int niah_greedy(const char *cmd, const hw_model *m, const hw_tokenizer *t, hw_context *c,
                const int *prompt, int n, int max_new, const hw_hooks *hooks, niah_step_fn step,
                void *user, int *out, char *text, size_t text_cap) {
    const hw_config *cfg = hw_model_config(m);
    const int V = cfg->vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!logits) return cli_error(cmd, "out of memory"), -1;
    hw_context_reset(c);
    size_t tl = 0;
    if (text_cap) text[0] = 0;
    int produced = -1;
    if (n < 2) {
        cli_error(cmd, "a prompt needs at least 2 tokens");
        goto done;
    }
    if (hw_forward_hooked(c, prompt, n - 1, HW_LOGITS_NONE, NULL, hooks)) {
        cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    int in = prompt[n - 1], prev = prompt[n - 1], eos = cfg->eos_id;
    produced = 0;
    for (int s = 0; s < max_new; s++) {
        if (hw_forward_hooked(c, &in, 1, HW_LOGITS_LAST, logits, hooks)) {
            cli_error(cmd, "%s", hw_last_error());
            produced = -1;
            goto done;
        }
        int best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        out[produced++] = best;
        if (step && step(s, best, hw_context_pos(c), user)) {
            cli_error(cmd, "%s", hw_last_error());
            produced = -1;
            goto done;
        }
        /* EOS ends the answer; so does BOS, which llama2.c-style models emit between
         * stories. */
        if (best == eos || best == cfg->bos_id) break;
        size_t len = 0;
        const char *piece = hw_tokenizer_decode(t, prev, best, &len);
        int newline = 0;
        for (size_t i = 0; piece && i < len; i++) {
            if (piece[i] == '\n') newline = 1;
            if (tl + 1 < text_cap) text[tl++] = piece[i];
        }
        if (text_cap) text[tl] = 0;
        if (newline || hw_context_pos(c) >= hw_context_size(c)) break;
        prev = in = best;
    }
done:
    free(logits);
    return produced;
}
