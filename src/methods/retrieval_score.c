/*
 * retrieval_score.c: the Retrieval Head score (methods.md section 1.1, Wu et al. 2024):
 * where the needle sits in the prompt, and which heads copy-paste from it while the
 * model decodes the answer; and the protocol that runs it over needle-in-a-haystack
 * trials or the retrieval task's samples (hw_retrieval_run).
 */
#include "internal.h"
#include "retrieval_log.h"
#include "../eval/eval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Section 1.1, one decode step: a head copy-pastes when its most attended key lies in
 * the needle span and holds the token being generated. The increment is 1/|span| per
 * step, with no de-duplication of repeated tokens (the paper's code). */
int hw_retrieval_step(double *score, const float *pattern, int H, int P, const int *ids,
                      int n_ids, int start, int end, int generated) {
    if (start < 0 || end <= start || P <= 0) return 0;
    int copied = 0;
    for (int h = 0; h < H; h++) {
        const float *row = pattern + (size_t)h * P;
        int best = hw_argmax(row, P);
        if (best >= start && best < end && best < n_ids && ids[best] == generated) {
            score[h] += 1.0 / (end - start);
            copied++;
        }
    }
    return copied;
}

/* ---------------------------------------------------------------- the protocol */

/* hw_retrieval_run (sections 1.1-1.2): every trial of the grid, greedy decoding through
 * hw_greedy with a pattern hook and a per-token callback that scores each step. */

/* OUT.partial.json is rewritten at most this often: rewriting OUT after every trial made
 * a run of 8,080 trials 60% slower (3m21s against 2m05s). */
#define PARTIAL_SECONDS 5.0

struct hw_retrieval_result {
    hw_head_scores *scores;
    int trials, run, counted_run;
};

hw_retrieval_params hw_retrieval_params_default(void) {
    hw_retrieval_params p = {.niah = hw_niah_params_default(), .task = hw_task_eval_params_default(),
                             .min_rouge = 50};
    p.task.name = NULL;
    return p;
}

/* What one decode step needs: this step's pattern rows (from the hook) and the trial. */
typedef struct {
    int L, H;
    float *pat;            /* (L, H, C) this step's rows, n_keys used per head */
    int n_keys;
    double *trial;         /* (L, H) this trial's running scores */
    const int *prompt;
    int n_prompt, start, end;
} step_state;

static int pattern_hook(hw_hook_call *c, void *user) {
    step_state *s = user;
    if (c->point != HW_HOOK_PATTERN || !c->decode) return 0;
    if (c->ask) return 1;
    int P = c->shape[2];
    for (int h = 0; h < s->H; h++)
        memcpy(s->pat + ((size_t)c->layer * s->H + h) * P, c->data + (size_t)h * P, sizeof(float) * (size_t)P);
    s->n_keys = P;
    return 0;
}

static int on_token(int step, int token, const float *logits, void *user) {
    step_state *s = user;
    for (int l = 0; l < s->L; l++)
        hw_retrieval_step(s->trial + (size_t)l * s->H, s->pat + (size_t)l * s->H * s->n_keys, s->H, s->n_keys,
                          s->prompt, s->n_prompt, s->start, s->end, token);
    return 0;
}

typedef struct {
    const hw_tokenizer *t;
    const hw_retrieval_params *p;
    int L, H, total;
    hw_niah *niah;            /* text trials, or */
    hw_task *task;            /* the retrieval task's samples */
    int *task_tok;            /* (2, T) a sample's tokens and targets */
    hw_trial_key *keys;       /* (total) */
    unsigned char *done;      /* (total) logged already */
    hw_context *ctx;
    hw_hooks *hooks;
    step_state st;
    int *gen, max_new_cap;
    FILE *log, *save;
    char *log_path, *partial_path;
    double last_partial;
    hw_retrieval_result *r;
} run_state;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The KV-cache policy as a setting, when it drops anything: its name, sizes and which
 * KV heads are full (one digit per (layer, KV head)), since the name alone (a heads
 * file's path) does not pin what the trials saw. An all-full policy is today's cache and
 * writes nothing, so logs written before policies existed, or without one, still resume. */
static void write_kv_setting(const hw_kv_policy *kv, FILE *f) {
    const int L = hw_kv_policy_layers(kv), Hk = hw_kv_policy_kv_heads(kv);
    if (!kv || hw_kv_policy_full_count(kv) == L * Hk) return;
    fprintf(f, "# setting kv %s sink %d recent %d chunk %d compensation %d full ", hw_kv_policy_name(kv),
            hw_kv_policy_sink(kv), hw_kv_policy_recent(kv), hw_kv_policy_chunk(kv),
            (int)hw_kv_policy_compensation(kv));
    for (int l = 0; l < L; l++)
        for (int h = 0; h < Hk; h++) fputc(hw_kv_policy_is_full(kv, l, h) ? '1' : '0', f);
    fputc('\n', f);
}

/* The settings the trials depend on, as the log's "# setting" lines (malloc'd). */
static char *settings_text(const run_state *rs) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return hw_fail(HW_ERR_NOMEM, "out of memory"), NULL;
    const hw_task_eval_params *tp = &rs->p->task;
    if (rs->task)
        fprintf(f, "# setting task %s\n# setting samples %d\n# setting task_seed %llu\n"
                "# setting task_depth %.9g\n# setting task_symbols %d\n", tp->name, tp->samples,
                (unsigned long long)tp->seed, (double)tp->depth, tp->n_symbols);
    else
        hw_niah_write_settings(rs->niah, f);
    fprintf(f, "# setting min_rouge %.17g\n", rs->p->min_rouge);
    write_kv_setting(rs->p->kv, f);
    if (fclose(f) != 0) return free(buf), hw_fail(HW_ERR_NOMEM, "out of memory"), NULL;
    return buf;
}

/* The trial source: text trials or task samples, and every trial's key. */
static hw_status open_trials(run_state *rs, const hw_model *m) {
    const hw_retrieval_params *p = rs->p;
    if (p->task.name) {
        if (strcmp(p->task.name, "retrieval"))
            return hw_fail(HW_ERR_ARG, "the task must be retrieval (a task with a needle to copy), not %s",
                           p->task.name);
        if (p->task.samples < 1) return hw_fail(HW_ERR_ARG, "samples must be at least 1");
        if (!(rs->task = hw_task_new_for_model(m, &p->task))) return HW_ERR_ARG;
        rs->total = p->task.samples;
        rs->max_new_cap = hw_task_seq_len(rs->task);
        if (!(rs->task_tok = malloc(sizeof(int) * (size_t)hw_task_seq_len(rs->task) * 2)))
            return hw_fail(HW_ERR_NOMEM, "out of memory");
    } else {
        if (!(rs->niah = hw_niah_new(m, rs->t, &p->niah))) return HW_ERR_ARG;
        rs->total = hw_niah_trial_count(rs->niah);
        rs->max_new_cap = hw_niah_max_new(rs->niah);
    }
    rs->keys = malloc(sizeof *rs->keys * (size_t)rs->total);
    rs->done = calloc((size_t)rs->total, 1);
    if (!rs->keys || !rs->done) return hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int i = 0; i < rs->total; i++) {
        hw_trial_key *k = &rs->keys[i];
        /* One "needle" (logged as 0), the sequence length, and the sample as the depth. */
        if (rs->task) *k = (hw_trial_key){0, hw_task_seq_len(rs->task), i};
        else hw_niah_trial_key(rs->niah, i, &k->needle, &k->length, &k->depth);
    }
    return HW_OK;
}

/* Outputs checked and the log read before any trial runs. */
static hw_status open_outputs(run_state *rs, int *n_done) {
    const hw_retrieval_params *p = rs->p;
    *n_done = 0;
    if (p->contexts_path) {
        if (hw_output_prepare(p->contexts_path)) return HW_ERR_IO;
        if (!(rs->save = fopen(p->contexts_path, "w")))
            return hw_fail(HW_ERR_IO, "cannot write %s: %s", p->contexts_path, strerror(errno));
    }
    if (!p->out) return HW_OK;
    if (hw_output_prepare(p->out)) return HW_ERR_IO;
    size_t k = strlen(p->out) + 16;
    rs->log_path = malloc(k);
    rs->partial_path = malloc(k);
    char *settings = settings_text(rs);
    if (!rs->log_path || !rs->partial_path || !settings)
        return free(settings), hw_fail(HW_ERR_NOMEM, "out of memory");
    snprintf(rs->log_path, k, "%s.trials", p->out);
    snprintf(rs->partial_path, k, "%s.partial.json", p->out);
    long good_end;
    hw_status s = hw_retrieval_log_read(rs->log_path, rs->L, rs->H, settings, rs->keys, rs->total, rs->done,
                                        n_done, rs->r->scores, &good_end);
    if (!s && !(rs->log = hw_retrieval_log_open(rs->log_path, rs->L, rs->H, settings, good_end))) s = HW_ERR_IO;
    free(settings);
    /* A file at OUT claims a whole run: one left from an earlier run goes before this
     * one adds trials (it would be overwritten at the end anyway). */
    if (!s && *n_done < rs->total && unlink(p->out) != 0 && errno != ENOENT)
        s = hw_fail(HW_ERR_IO, "cannot remove %s: %s", p->out, strerror(errno));
    return s;
}

/* Trial i's prompt (into *prompt), needle span (into rs->st), answer text (answer,
 * cap bytes) and decode budget; the prompt's length or -1. */
static int trial_prompt(run_state *rs, int i, int **prompt, char *answer, size_t cap, int *max_new) {
    if (!rs->task) {
        int n = hw_niah_trial_prompt(rs->niah, i, prompt, &rs->st.start, &rs->st.end);
        snprintf(answer, cap, "%s", hw_niah_answer(rs->niah, rs->keys[i].needle));
        *max_new = hw_niah_max_new(rs->niah);
        return n;
    }
    /* The sample up to its answer is the prompt; the answer's symbols are the real
     * needle, located in the prompt as the paper locates it. */
    hw_task_layout lay;
    int T = hw_task_seq_len(rs->task), *tok = rs->task_tok;
    if (hw_task_sample(rs->task, rs->p->task.seed, i, tok, tok + T, &lay)) return -1;
    if (!(*prompt = malloc(sizeof(int) * (size_t)lay.dst))) return hw_fail(HW_ERR_NOMEM, "out of memory"), -1;
    memcpy(*prompt, tok, sizeof(int) * (size_t)lay.dst);
    if (hw_needle_span(*prompt, lay.dst, tok + lay.dst, lay.len, &rs->st.start, &rs->st.end) < 0)
        return free(*prompt), *prompt = NULL, -1;
    size_t al = 0;
    answer[0] = 0;
    for (int j = 0; j < lay.len; j++) {
        const char *sym = hw_task_symbol(rs->task, tok[lay.dst + j]);
        al += (size_t)snprintf(answer + al, al < cap ? cap - al : 0, "%s%s", j ? " " : "", sym ? sym : "?");
        if (al >= cap) al = cap - 1;
    }
    *max_new = lay.len;
    return lay.dst;
}

static void save_context(FILE *f, const hw_trial_key *key, int task, const step_state *st, const int *gen,
                         int got) {
    fprintf(f, "{\"needle\": %d, \"length\": %d, \"depth\": %d, \"span\": [%d, %d], \"prompt\": [",
            task ? -1 : key->needle, key->length, key->depth, st->start, st->end);
    for (int j = 0; j < st->n_prompt; j++) fprintf(f, "%s%d", j ? ", " : "", st->prompt[j]);
    fputs("], \"generated\": [", f);
    for (int j = 0; j < got; j++) fprintf(f, "%s%d", j ? ", " : "", gen[j]);
    fputs("]}\n", f);
}

/* The log line of a trial, flushed: the log is whole after every trial. */
static hw_status log_trial(run_state *rs, const hw_trial_key *key, double rouge, int ok, const char *text) {
    FILE *f = rs->log;
    fprintf(f, "%d\t%d\t%d\t%.4f\t%d\t", key->needle, key->length, key->depth, rouge, ok);
    for (int i = 0; ok && i < rs->L * rs->H; i++) fprintf(f, "%s%.17g", i ? "," : "", rs->st.trial[i]);
    fprintf(f, "\t%s\n", text);
    if (fflush(f) != 0) return hw_fail(HW_ERR_IO, "cannot write %s: %s", rs->log_path, strerror(errno));
    return HW_OK;
}

/* Run trial i: decode, score, log; *stage gets the progress line. */
static hw_status run_trial(run_state *rs, int i, char *stage, size_t stage_cap) {
    const hw_trial_key *key = &rs->keys[i];
    int *prompt = NULL, max_new;
    char answer[2048], text[4096];
    int n = trial_prompt(rs, i, &prompt, answer, sizeof answer, &max_new);
    if (n < 0) return free(prompt), HW_ERR_ARG;
    step_state *st = &rs->st;
    st->prompt = prompt;
    st->n_prompt = n;
    memset(st->trial, 0, sizeof(double) * (size_t)rs->L * rs->H);
    hw_greedy_params g = hw_greedy_params_default();
    g.max_new = max_new;
    g.stop = HW_STOP_EOS | HW_STOP_NEWLINE;
    g.decode_last = 1;
    g.hooks = rs->hooks;
    g.on_token = on_token;
    g.user = st;
    int got = hw_greedy(rs->ctx, rs->t, prompt, n, &g, rs->gen, text, sizeof text);
    if (got < 0) return free(prompt), HW_ERR_ARG;
    double rouge = hw_rouge1_recall(answer, text) * 100;
    if (rs->save) save_context(rs->save, key, rs->task != NULL, st, rs->gen, got);
    free(prompt);
    st->prompt = NULL;
    int ok = rouge > rs->p->min_rouge;
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\t' || *c == '\r') *c = ' ';
    snprintf(stage, stage_cap, "trial %d/%d: needle %d, length %d, depth %d: span %s, ROUGE-1 %.0f%s: \"%.60s\"",
             i + 1, rs->total, key->needle, key->length, key->depth, st->start >= 0 ? "found" : "NOT found", rouge,
             ok ? " (counted)" : "", text);
    rs->r->run++;
    rs->r->counted_run += ok;
    for (int h = 0; ok && h < rs->L * rs->H; h++)
        if (hw_head_scores_append(rs->r->scores, h / rs->H, h % rs->H, st->trial[h])) return HW_ERR_NOMEM;
    return rs->log ? log_trial(rs, key, rouge, ok, text) : HW_OK;
}

/* Every trial not in the log, in grid order. */
static hw_status run_trials(run_state *rs, int n_done, hw_progress_fn progress, void *user) {
    char stage[512];
    if (n_done && progress) {
        snprintf(stage, sizeof stage, "resuming: %d trials already in %s", n_done, rs->log_path);
        if (progress(stage, n_done, rs->total, user)) return hw_fail(HW_ERR_ARG, "stopped by the caller");
    }
    /* The first partial file comes after the first trial, so that a run stopped early
     * still leaves one. */
    rs->last_partial = -PARTIAL_SECONDS;
    for (int i = 0; i < rs->total; i++) {
        if (rs->done[i]) continue;
        hw_status s = run_trial(rs, i, stage, sizeof stage);
        if (s) return s;
        if (rs->partial_path && now_seconds() - rs->last_partial >= PARTIAL_SECONDS) {
            if (hw_head_scores_write(rs->r->scores, rs->partial_path)) return HW_ERR_IO;
            rs->last_partial = now_seconds();
        }
        if (progress && progress(stage, i + 1, rs->total, user)) return hw_fail(HW_ERR_ARG, "stopped by the caller");
    }
    return HW_OK;
}

static hw_status check_params(const hw_model *m, const hw_tokenizer *t, const hw_retrieval_params *p,
                              hw_retrieval_result **out) {
    if (!out) return hw_fail(HW_ERR_ARG, "hw_retrieval_run: no result pointer");
    *out = NULL;
    if (!m || !t || !p) return hw_fail(HW_ERR_ARG, "hw_retrieval_run: no model, tokenizer or params");
    if (!isfinite(p->min_rouge) || p->min_rouge < -1 || p->min_rouge > 100)
        return hw_fail(HW_ERR_ARG, "min_rouge must be a number in [-1, 100]");
    return HW_OK;
}

static void close_run(run_state *rs) {
    if (rs->log) fclose(rs->log);
    if (rs->save) fclose(rs->save);
    free(rs->log_path);
    free(rs->partial_path);
    free(rs->keys);
    free(rs->done);
    free(rs->gen);
    free(rs->st.pat);
    free(rs->st.trial);
    free(rs->task_tok);
    hw_task_free(rs->task);
    hw_niah_free(rs->niah);
    hw_hooks_free(rs->hooks);
    hw_context_free(rs->ctx);
}

/* The end of a run: OUT on success (and its partial file removed), else the scores so
 * far to OUT.partial.json, keeping the first error's message. */
static hw_status finish_outputs(run_state *rs, hw_status s) {
    if (rs->save && fclose(rs->save) != 0 && !s)
        s = hw_fail(HW_ERR_IO, "cannot write %s", rs->p->contexts_path);
    rs->save = NULL;
    if (!rs->log) return s;
    if (!s) {
        if (!(s = hw_head_scores_write(rs->r->scores, rs->p->out))) unlink(rs->partial_path);
        return s;
    }
    char why[1024];
    snprintf(why, sizeof why, "%s", hw_last_error());
    if (hw_head_scores_write(rs->r->scores, rs->partial_path) == HW_OK) hw_fail(s, "%s", why);
    else hw_fail(s, "%s (and %s)", why, hw_last_error());
    return s;
}

hw_status hw_retrieval_run(const hw_model *m, const hw_tokenizer *t, const hw_retrieval_params *p,
                           hw_progress_fn progress, void *user, hw_retrieval_result **out) {
    hw_status s = check_params(m, t, p, out);
    if (s) return s;
    const hw_config *cfg = hw_model_config(m);
    run_state rs = {.t = t, .p = p, .L = cfg->n_layer, .H = cfg->n_head};
    rs.st = (step_state){.L = rs.L, .H = rs.H, .start = -1, .end = -1};
    if (!(rs.r = calloc(1, sizeof *rs.r)) || !(rs.r->scores = hw_head_scores_new(rs.L, rs.H))) {
        hw_retrieval_result_free(rs.r);
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    }
    int n_done = 0;
    s = open_trials(&rs, m);
    if (!s) s = open_outputs(&rs, &n_done);
    if (!s) {
        rs.r->trials = rs.total;
        rs.ctx = hw_context_new_kv(m, 0, p->kv);
        rs.hooks = hw_hooks_new();
        rs.st.pat = malloc(sizeof(float) * (size_t)rs.L * rs.H * cfg->n_ctx);
        rs.st.trial = malloc(sizeof(double) * (size_t)rs.L * rs.H);
        rs.gen = malloc(sizeof(int) * (size_t)rs.max_new_cap);
        if (!rs.ctx || !rs.hooks || !rs.st.pat || !rs.st.trial || !rs.gen)
            s = rs.ctx && rs.hooks ? hw_fail(HW_ERR_NOMEM, "out of memory") : HW_ERR_NOMEM;
        else s = hw_hooks_add(rs.hooks, pattern_hook, &rs.st);
    }
    if (!s) s = run_trials(&rs, n_done, progress, user);
    if (rs.log_path || rs.save) s = finish_outputs(&rs, s);
    close_run(&rs);
    if (s) {
        hw_retrieval_result_free(rs.r);
        return s;
    }
    *out = rs.r;
    return HW_OK;
}

void hw_retrieval_result_free(hw_retrieval_result *r) {
    if (!r) return;
    hw_head_scores_free(r->scores);
    free(r);
}

const hw_head_scores *hw_retrieval_result_scores(const hw_retrieval_result *r) { return r ? r->scores : NULL; }
int hw_retrieval_result_trials(const hw_retrieval_result *r) { return r ? r->trials : 0; }
int hw_retrieval_result_trials_run(const hw_retrieval_result *r) { return r ? r->run : 0; }
int hw_retrieval_result_counted_run(const hw_retrieval_result *r) { return r ? r->counted_run : 0; }
int hw_retrieval_result_counted(const hw_retrieval_result *r) {
    int n = 0;
    if (r) hw_head_scores_values(r->scores, 0, 0, &n);
    return n;
}

hw_status hw_retrieval_result_write(const hw_retrieval_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "hw_retrieval_result_write: no result or path");
    return hw_head_scores_write(r->scores, path);
}

hw_status hw_retrieval_result_write_tsv(const hw_retrieval_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "hw_retrieval_result_write_tsv: no result or path");
    const int L = hw_head_scores_layers(r->scores), H = hw_head_scores_heads(r->scores), N = L * H;
    double *mean = malloc(sizeof(double) * (size_t)N);
    int *order = malloc(sizeof(int) * (size_t)N);
    hw_atomic_file *a = mean && order ? hw_atomic_open(path) : NULL;
    if (!a) {
        free(mean);
        free(order);
        return mean && order ? HW_ERR_IO : hw_fail(HW_ERR_NOMEM, "out of memory");
    }
    hw_head_scores_mean(r->scores, mean);
    hw_scores_rank(mean, N, order);
    FILE *f = hw_atomic_stream(a);
    fputs("layer\thead\tscore\ttrials\n", f);
    for (int k = 0; k < N; k++) {
        int i = order[k], cnt;
        hw_head_scores_values(r->scores, i / H, i % H, &cnt);
        fprintf(f, "%d\t%d\t%.9g\t%.9g\n", i / H, i % H, mean[i], (double)cnt);
    }
    free(mean);
    free(order);
    return hw_atomic_commit(a);
}
