/* train_run.c: what `headwise train` and `headwise organism` do around hw_task_train
 * (the library's training run: batches, checkpoints, resume): one progress line, the
 * Hugging Face folder, the task's score, examples, and the JSON summary. */
#include "cli.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

/* The progress line (cli_progress): redrawn at most every 0.2 s (with a bar) on a
 * terminal; elsewhere a line at every tenth of the run, so logs stay short. */
typedef struct {
    const char *cmd;
    int tty, last_tenth, start_step, steps;
    double t0, last_draw;
    long tokens_per_step;
} progress;

static void progress_show(progress *p, int step, float loss, int final) {
    double t = cli_now(), el = t - p->t0;
    int done = step - p->start_step, tenth = (int)(10.0 * step / p->steps);
    if (p->tty ? (!final && t - p->last_draw < 0.2) : (!final && tenth == p->last_tenth)) return;
    p->last_draw = t;
    p->last_tenth = tenth;
    char e[32], bar[27] = "  ";
    fmt_time(e, sizeof e, final ? el : done > 0 ? el / done * (p->steps - step) : -1);
    for (int i = 0; i < 24; i++) bar[i + 2] = i < (int)(24.0 * step / p->steps) ? '#' : '.';
    bar[p->tty ? 26 : 0] = 0;
    cli_progress(p->cmd, "step %d/%d%s  loss %.4f  %.0f tok/s  %s %s", step, p->steps, bar, loss,
                 el > 0 ? (double)done * p->tokens_per_step / el : 0, final ? "took" : "ETA", e);
    if (final) cli_progress_done();
}

/* A JSON string value (the paths and names printed are plain, but quote them properly). */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void summary(FILE *f, const cli_train_opts *o, const hw_task *task, const hw_config *c,
                    const hw_task_train_result *r, const hw_task_score *sc, const char *indent) {
    const char *nl = indent ? "\n" : " ", *in = indent ? indent : "";
    fprintf(f, "{%s%s\"task\": ", nl, in);
    json_str(f, hw_task_name(task));
    fprintf(f, ",%s%s\"folder\": ", nl, in);
    json_str(f, o->out_dir);
    fprintf(f, ",%s%s\"layers\": %d, \"heads\": %d, \"d_model\": %d, \"d_ff\": %d, \"vocab\": %d, \"seq_len\": %d,", nl,
            in, c->n_layer, c->n_head, c->d_model, c->d_ff, c->vocab_size, hw_task_seq_len(task));
    fprintf(f, "%s%s\"steps\": %d, \"batch\": %d, \"lr\": %g, \"schedule\": \"%s\", \"seed\": %llu,", nl, in, o->p.train.steps,
            o->p.batch, o->p.train.lr, o->p.train.schedule == HW_SCHED_WSD ? "wsd" : "cosine",
            (unsigned long long)o->p.train.seed);
    if (o->p.train.head_dropout > 0) {
        fprintf(f, "%s%s\"head_dropout\": %g, \"head_dropout_layers\": [", nl, in, o->p.train.head_dropout);
        for (int l = 0, k = 0; l < c->n_layer; l++)
            if (!o->p.train.head_dropout_layers || (l < 64 && (o->p.train.head_dropout_layers >> l & 1)))
                fprintf(f, "%s%d", k++ ? ", " : "", l);
        fprintf(f, "], \"head_dropout_from\": %d,", o->p.train.head_dropout_from);
    }
    /* first_loss: this run's first step; final_loss: mean of its last tenth (null when a
     * resumed run had no steps left) */
    if (isnan(r->first_loss)) fprintf(f, "%s%s\"first_loss\": null, ", nl, in);
    else fprintf(f, "%s%s\"first_loss\": %.5f, ", nl, in, r->first_loss);
    if (isnan(r->final_loss)) fprintf(f, "\"final_loss\": null, ");
    else fprintf(f, "\"final_loss\": %.5f, ", r->final_loss);
    fprintf(f, "\"seconds\": %.1f, \"tokens_per_s\": %.0f,", r->seconds, r->tokens_per_s);
    fprintf(f, "%s%s\"metric\": ", nl, in);
    json_str(f, sc->metric ? sc->metric : "");
    fprintf(f, ", \"accuracy\": %.4f", sc->accuracy);
    if (sc->metric2) {
        fprintf(f, ",%s%s\"metric2\": ", nl, in);
        json_str(f, sc->metric2);
        fprintf(f, ", \"accuracy2\": %.4f", sc->accuracy2);
    }
    fprintf(f, ", \"eval_samples\": %d%s}\n", sc->n, nl);
}

static void put_span(const hw_task *t, const int *tok, int a, int b) {
    for (int i = a; i < b; i++) fprintf(stderr, " %s", hw_task_symbol(t, tok[i]));
}

/* A few held-out samples, each prompt shown around the copied span and its end,
 * with the model's greedy continuation (hw_greedy) and the expected one (stderr). */
static int show_examples(const char *cmd, const hw_task *t, const hw_model *m, uint64_t seed, int n) {
    int T = hw_task_seq_len(t);
    int *tok = malloc((size_t)T * sizeof *tok), *tgt = malloc((size_t)T * sizeof *tgt);
    int *got = malloc((size_t)T * sizeof *got);
    hw_context *c = hw_context_new(m, T);
    int rc = tok && tgt && got && c ? 0 : cli_error(cmd, "out of memory showing examples");
    hw_greedy_params p = hw_greedy_params_default();
    p.stop = 0;
    for (int k = 0; k < n && !rc; k++) {
        hw_task_layout l;
        hw_task_sample(t, seed, k, tok, tgt, &l);
        fprintf(stderr, "  example %d:", k + 1);
        int a = l.src >= 0 ? (l.src > 4 ? l.src - 4 : 1) : 1, b = l.src >= 0 ? l.src + l.len + 1 : 1;
        if (a > 1) fprintf(stderr, " ...");
        if (b > a) put_span(t, tok, a, b < l.dst ? b : l.dst);
        int q = l.dst - 4 > b ? l.dst - 4 : b;
        if (q > b) fprintf(stderr, " ...");
        put_span(t, tok, q, l.dst);
        fprintf(stderr, "  ->");
        p.max_new = l.len;
        int made = hw_greedy(c, NULL, tok, l.dst, &p, got, NULL, 0), right = made == l.len;
        if (made < 0) rc = cli_error(cmd, "%s", hw_last_error());
        for (int i = 0; i < made; i++) {
            fprintf(stderr, " %s", hw_task_symbol(t, got[i]) ? hw_task_symbol(t, got[i]) : "?");
            right &= got[i] == tok[l.dst + i];
        }
        fprintf(stderr, "   (%s", right ? "right" : "expected");
        if (!right) put_span(t, tok, l.dst, l.dst + l.len);
        fprintf(stderr, ")\n");
    }
    hw_context_free(c);
    free(tok);
    free(tgt);
    free(got);
    return rc;
}

/* hw_task_train's callback: the header line once, then the progress line with a
 * smoothed loss (the last step's is drawn after, saying "took"). */
typedef struct {
    const char *cmd;
    const cli_train_opts *o;
    const hw_task *task;
    progress pg;
    float avg;
} train_view;

static int on_step(int step, int steps, float loss, void *user) {
    train_view *v = user;
    if (isnan(loss)) {
        const cli_train_opts *o = v->o;
        fprintf(stderr, "training %s: %d layers x %d heads, d %d, %s, vocab %d, %d x %d tokens per step, from step %d of %d\n",
                hw_task_name(v->task), o->p.n_layer, o->p.n_head, o->p.d_model, o->p.d_ff ? "MLP" : "attention-only",
                hw_task_vocab_size(v->task), o->p.batch, hw_task_seq_len(v->task), step, steps);
        v->pg = (progress){.cmd = v->cmd, .tty = isatty(2), .last_tenth = -1, .start_step = step, .steps = steps, .t0 = cli_now(),
                           .tokens_per_step = (long)o->p.batch * hw_task_seq_len(v->task)};
        v->avg = NAN;
        return 0;
    }
    v->avg = isnan(v->avg) ? loss : 0.95f * v->avg + 0.05f * loss;
    if (step < steps) progress_show(&v->pg, step, v->avg, 0);
    return 0;
}

/* The Hugging Face folder, the task's score (and examples), training.json and the
 * summary on stdout. */
static int finish(const char *cmd, const cli_train_opts *o, const hw_task *task, const hw_model *m,
                  const hw_task_train_result *r) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tokenizer.json", o->out_dir);
    if (hw_model_save_hf(m, o->out_dir) != HW_OK || hw_task_write_tokenizer(task, path) != HW_OK)
        return cli_error(cmd, "%s", hw_last_error());
    hw_task_score sc;
    if (hw_task_evaluate(task, m, o->p.train.seed + 1000003, o->eval_samples, &sc) != HW_OK)
        return cli_error(cmd, "%s", hw_last_error());
    fprintf(stderr, "%s: %s %.1f%%", hw_task_name(task), sc.metric, 100 * sc.accuracy);
    if (sc.metric2) fprintf(stderr, "; %s %.1f%%", sc.metric2, 100 * sc.accuracy2);
    fprintf(stderr, " (%d held-out samples)\n", sc.n);
    int rc = o->show > 0 ? show_examples(cmd, task, m, o->p.train.seed + 1000003, o->show) : 0;
    if (rc) return rc;
    fprintf(stderr, "wrote %s (config.json, model.safetensors, tokenizer.json, training.json)\n", o->out_dir);
    /* training.json records how the folder was made; stdout gets the same as one object. */
    hw_config c = hw_task_model_config(task, &o->p);
    snprintf(path, sizeof path, "%s/training.json", o->out_dir);
    hw_atomic_file *a = hw_atomic_open(path);
    if (a) {
        summary(hw_atomic_stream(a), o, task, &c, r, &sc, "  ");
        if (hw_atomic_commit(a) != HW_OK) a = NULL;
    }
    if (!a) return cli_error(cmd, "%s", hw_last_error());
    summary(stdout, o, task, &c, r, &sc, NULL);
    return 0;
}

int cli_train_run(const char *cmd, const cli_train_opts *o) {
    const hw_task_train_params *tp = &o->p;
    if (!o->out_dir) return cli_usage_error(cmd, "no output folder: give -o DIR");
    if (tp->d_model % tp->n_head) return cli_usage_error(cmd, "--d-model %d is not a multiple of --heads %d", tp->d_model, tp->n_head);
    if ((tp->d_model / tp->n_head) % 2) return cli_usage_error(cmd, "head dimension %d must be even (rotary)", tp->d_model / tp->n_head);
    if (o->threads > 0) hw_set_threads(o->threads);
    hw_task *task = hw_task_new(o->task, &o->task_params);
    if (!task) return cli_error(cmd, "%s", hw_last_error());
    int T = hw_task_seq_len(task);
    if ((long)T * tp->batch > 1L << 26) {
        hw_task_free(task);
        return cli_usage_error(cmd, "--batch %d x sequence %d is too many tokens per step", tp->batch, T);
    }
    char ckpt[PATH_MAX];
    hw_task_train_params p = *tp;
    snprintf(ckpt, sizeof ckpt, "%s", tp->checkpoint ? tp->checkpoint : "");
    if (!tp->checkpoint) snprintf(ckpt, sizeof ckpt, "%s/checkpoint.hwt", o->out_dir);
    p.checkpoint = ckpt;
    int rc = hw_dir_create(o->out_dir) != HW_OK ? cli_error(cmd, "%s", hw_last_error()) : 0;
    train_view v = {.cmd = cmd, .o = o, .task = task};
    hw_task_train_result r;
    hw_model *m = rc ? NULL : hw_task_train(task, &p, on_step, &v, &r);
    if (m && r.steps > r.start && !r.stopped) progress_show(&v.pg, r.steps, v.avg, 1);
    cli_progress_done();
    if (!rc && !m) {
        rc = cli_error(cmd, "%s", hw_last_error());
    } else if (m && r.stopped) {
        fprintf(stderr, "stopped after step %d; continue with --resume %s\n", r.steps, ckpt);
    } else if (m) {
        rc = finish(cmd, o, task, m, &r);
    }
    hw_model_free(m);
    hw_task_free(task);
    return rc;
}
