/* train.c: `headwise train TASK -o DIR`: train a model on a synthetic task and write it
 * as a Hugging Face folder; `headwise organism TASK -o DIR`: the same from a model
 * organism's defaults, i.e. a small model trained on one task with settings known to make
 * its heads interpretable (hw_organism_params), in at most about five minutes on two
 * cores; every training flag can override a default. Around hw_task_train (the library's
 * run: batches, checkpoints, resume) they print one progress line, then write the Hugging
 * Face folder, the task's score, examples and a JSON summary. */
#include "cli.h"

#include <limits.h>
#include <math.h>
#include <unistd.h>

#define FLAGS_HELP                                                                                 \
    "  -o DIR              output Hugging Face folder (config.json, model.safetensors,\n"        \
    "                      tokenizer.json, training.json)\n"                                     \
    "  --layers L          layers (default 2); --heads H  heads per layer (default 4)\n"         \
    "  --d-model D         width (default 64; a multiple of H)\n"                                \
    "  --d-ff F            MLP width; 0 = attention-only, no MLP (default 0)\n"                  \
    "  --attn-bias         biases on q, k, v and o (Llama's attention_bias); --no-attn-bias\n"   \
    "  --seq-len T         tokens per sequence (default: the task's)\n"                          \
    "  --context N         the model's context, >= T (default T; a curriculum's short stages\n"  \
    "                      train with the final context so they resume one checkpoint)\n"       \
    "  --symbols N         induction: random tokens; retrieval: filler words; recall: subjects;\n" \
    "                      mcq: words\n"                                                       \
    "  --min-len N         induction: shortest repeat; successor: items per run; retrieval:\n"   \
    "                      answer tokens; --max-len N  induction: longest repeat; successor:\n"  \
    "                      most items per run; retrieval: needles (default one per 128\n"      \
    "                      tokens from 256 on); mcq: words per option (defaults: the task's)\n" \
    "  --depth X           retrieval: needle depth in [0, 1] when scoring (default random)\n"    \
    "  --override X        recall: a repeat keeps a counterfactual first mention with a chance\n" \
    "                      drawn per subject in [0, X], else reverts (default 0.6)\n"            \
    "  --steps N, --batch B  optimizer steps (default 1000), sequences per step (default 32)\n" \
    "  --lr X              peak learning rate (default 1e-3); --min-lr-frac X  final lr as a\n"  \
    "                      fraction of the peak (default 0.1)\n"                                 \
    "  --schedule S        cosine (default) or wsd (warm-up, stable, decay); --decay-frac X\n"   \
    "                      wsd: fraction of steps in the final decay (default 0.2)\n"            \
    "  --warmup N          warm-up steps (default 100)\n"                                        \
    "  --clip X            gradient-norm clip; 0 = none (default 1)\n"                           \
    "  --weight-decay X    AdamW decoupled weight decay (default 0.1)\n"                         \
    "  --head-dropout P    zero each head's output for a whole step with probability P, so no\n" \
    "                      single head is essential (default 0: none)\n"                         \
    "  --head-dropout-layers LIST  layers whose heads may drop, e.g. 1,2 (default: all)\n"       \
    "  --head-dropout-from N  first step with head dropout (default 0)\n"                        \
    "  --seed S            seed of the weights and the data (default 1)\n"                       \
    "  --resume FILE       continue from a checkpoint of the same run\n"                         \
    "  --checkpoint FILE   where checkpoints go (default DIR/checkpoint.hwt)\n"                  \
    "  --checkpoint-every N  save a checkpoint every N steps (default 0: none)\n"                \
    "  --stop-at N         stop after step N with a checkpoint, as if interrupted (continue\n"   \
    "                      with --resume; the schedule still spans --steps)\n"                   \
    "  --eval N            held-out samples scored at the end (default 200)\n"                   \
    "  --show N            print N held-out examples with the model's answers (default 0)\n"     \
    "  --threads N         threads (default: all cores)\n"

static const char train_help[] =
    "usage: headwise train TASK -o DIR [flags]\n"
    "Train a Llama-style model from scratch on a synthetic task (induction, retrieval,\n"
    "successor, recall, mcq) and write it as a Hugging Face folder every command loads.\n"
    "Progress goes to stderr; a JSON summary (loss, time, tokens/s, task accuracy) to stdout.\n"
    "\n" FLAGS_HELP;

#define ORGANISMS "induction, retrieval, successor, recall, mcq, retrieval-long"

static const char organism_help[] =
    "usage: headwise organism NAME -o DIR [training flags]\n"
    "Train the model organism NAME (" ORGANISMS "),\n"
    "write it as a Hugging Face folder and report its task accuracy. Defaults:\n"
    "  induction  2 layers x 2 heads, d 64, attention-only, 256 tokens, sequences of 72,\n"
    "             2000 steps of 32 (300 warm-up), head dropout 0.3 on layer 1 from\n"
    "             step 1000\n"
    "  retrieval  4 layers x 8 heads, d 64, attention-only, context 64, 1400 steps of 32\n"
    "  successor  3 layers x 4 heads, d 64, attention-only, runs of 8, 1500 steps of 64\n"
    "  recall     2 layers x 4 heads, d 64, MLP 256, 64 facts, 2000 steps of 64;\n"
    "             a counterfactual holds with a chance per subject in [0, 0.6]\n"
    "  mcq        2 layers x 2 heads, d 64, attention-only, texts of 1-3 of 16 words,\n"
    "             3000 steps of 128\n"
    "  retrieval-long  the retrieval task at context 512 with 4 needles, every key asked\n"
    "             in the tail; 2 layers x 4 heads, d 64, attention-only; 3000 steps in\n"
    "             stages (each resuming the one before, one schedule): sequences of 64\n"
    "             with 2 needles to step 2000, 128 (2 needles) to 2300 (batch 32),\n"
    "             256 (4) to 2600, 512 (4) to 3000 (batch 16); --steps\n"
    "             moves the stage ends in proportion, every flag applies to every stage\n"
    "Training flags (as `headwise train`) override these:\n" FLAGS_HELP;

/* What `headwise train` and `headwise organism` run: a task, hw_task_train's
 * parameters (p.checkpoint NULL: OUT/checkpoint.hwt), and what happens after. */
typedef struct {
    const char *task;           /* "induction", ... */
    const char *out_dir;        /* Hugging Face folder written at the end */
    hw_task_params task_params;
    hw_task_train_params p;
    int eval_samples;           /* held-out samples scored at the end */
    int show;                   /* held-out examples printed with the model's answers */
    int threads;                /* 0: all cores */
    int schedule;               /* --schedule: 0 cosine, 1 wsd, -1 not given */
    int stage, stages;          /* an organism trained in stages: this one of how many */
    hw_task_train_result before; /* the stages before: seconds, first loss */
    double tokens_before;       /* tokens the stages before trained on */
} cli_train_opts;

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

/* hw_task_train's view: a header line once, then the progress line (cli_progress) with a
 * smoothed loss, redrawn at most every 0.2 s (with a bar) on a terminal, elsewhere once
 * every tenth of the run so logs stay short; the last step's is drawn after, saying "took". */
typedef struct {
    const char *cmd;
    const cli_train_opts *o;
    const hw_task *task;
    int tty, last_tenth, start_step, steps;
    double t0, last_draw;
    float avg;
} train_view;

static void progress_show(train_view *v, int step, int final) {
    double t = cli_now(), el = t - v->t0;
    int done = step - v->start_step, tenth = (int)(10.0 * step / v->steps);
    if (!final && (v->tty ? t - v->last_draw < 0.2 : tenth == v->last_tenth)) return;
    v->last_draw = t;
    v->last_tenth = tenth;
    char e[32], bar[27] = "  ";
    fmt_time(e, sizeof e, final ? el : done > 0 ? el / done * (v->steps - step) : -1);
    for (int i = 0; i < 24; i++) bar[i + 2] = i < (int)(24.0 * step / v->steps) ? '#' : '.';
    bar[v->tty ? 26 : 0] = 0;
    double tok_s = el > 0 ? (double)done * v->o->p.batch * hw_task_seq_len(v->task) / el : 0;
    cli_progress(v->cmd, "step %d/%d%s  loss %.4f  %.0f tok/s  %s %s", step, v->steps, bar, v->avg, tok_s,
                 final ? "took" : "ETA", e);
    if (final) cli_progress_done();
}

static int on_step(int step, int steps, float loss, void *user) {
    train_view *v = user;
    const hw_task_train_params *p = &v->o->p;
    if (!isnan(loss)) {
        v->avg = isnan(v->avg) ? loss : 0.95f * v->avg + 0.05f * loss;
        if (step < steps) progress_show(v, step, 0);
        return 0;
    }
    fprintf(stderr, "training %s: %d layers x %d heads, d %d, %s, vocab %d, %d x %d tokens per step, from step %d of %d\n",
            hw_task_name(v->task), p->n_layer, p->n_head, p->d_model, p->d_ff ? "MLP" : "attention-only",
            hw_task_vocab_size(v->task), p->batch, hw_task_seq_len(v->task), step, steps);
    v->tty = isatty(2), v->last_tenth = -1, v->start_step = step, v->steps = steps, v->t0 = cli_now();
    return 0;
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

/* The summary as one JSON object: on one line (indent NULL), or a key group a line. */
static void summary(FILE *f, const cli_train_opts *o, const hw_task *task, const hw_config *c,
                    const hw_task_train_result *r, const hw_task_score *sc, const char *indent) {
    const hw_train_params *t = &o->p.train;
    char nl[16], first[32], final[32];
    snprintf(nl, sizeof nl, "%s%s", indent ? "\n" : " ", indent ? indent : "");
    /* first_loss: this run's first step; final_loss: mean of its last tenth (null when a
     * resumed run had no steps left) */
    snprintf(first, sizeof first, isnan(r->first_loss) ? "null" : "%.5f", r->first_loss);
    snprintf(final, sizeof final, isnan(r->final_loss) ? "null" : "%.5f", r->final_loss);
    fprintf(f, "{%s\"task\": ", nl);
    json_str(f, hw_task_name(task));
    fprintf(f, ",%s\"folder\": ", nl);
    json_str(f, o->out_dir);
    if (o->stages > 1) fprintf(f, ",%s\"stages\": %d", nl, o->stages);
    fprintf(f, ",%s\"layers\": %d, \"heads\": %d, \"d_model\": %d, \"d_ff\": %d, \"vocab\": %d, \"seq_len\": %d,", nl,
            c->n_layer, c->n_head, c->d_model, c->d_ff, c->vocab_size, hw_task_seq_len(task));
    fprintf(f, "%s\"steps\": %d, \"batch\": %d, \"lr\": %g, \"schedule\": \"%s\", \"seed\": %llu,", nl, t->steps,
            o->p.batch, t->lr, t->schedule == HW_SCHED_WSD ? "wsd" : "cosine", (unsigned long long)t->seed);
    if (t->head_dropout > 0) {
        fprintf(f, "%s\"head_dropout\": %g, \"head_dropout_layers\": [", nl, t->head_dropout);
        for (int l = 0, k = 0; l < c->n_layer; l++)
            if (!t->head_dropout_layers || (l < 64 && (t->head_dropout_layers >> l & 1)))
                fprintf(f, "%s%d", k++ ? ", " : "", l);
        fprintf(f, "], \"head_dropout_from\": %d,", t->head_dropout_from);
    }
    fprintf(f, "%s\"first_loss\": %s, \"final_loss\": %s, \"seconds\": %.1f, \"tokens_per_s\": %.0f,%s\"metric\": ",
            nl, first, final, r->seconds, r->tokens_per_s, nl);
    json_str(f, sc->metric ? sc->metric : "");
    fprintf(f, ", \"accuracy\": %.4f", sc->accuracy);
    if (sc->metric2) {
        fprintf(f, ",%s\"metric2\": ", nl);
        json_str(f, sc->metric2);
        fprintf(f, ", \"accuracy2\": %.4f", sc->accuracy2);
    }
    fprintf(f, ", \"eval_samples\": %d%s}\n", sc->n, indent ? "\n" : " ");
}

static void put_span(const hw_task *t, const int *tok, int a, int b) {
    for (int i = a; i < b; i++) fprintf(stderr, " %s", hw_task_symbol(t, tok[i]));
}

/* A few held-out samples, each prompt shown around the copied span and its end,
 * with the model's greedy continuation (hw_greedy) and the expected one (stderr). */
static int show_examples(const char *cmd, const hw_task *t, const hw_model *m, uint64_t seed, int n) {
    int T = hw_task_seq_len(t);
    int *tok = malloc(3 * (size_t)T * sizeof *tok), *tgt = tok ? tok + T : NULL, *got = tok ? tok + 2 * T : NULL;
    hw_context *c = hw_context_new(m, T);
    int rc = tok && c ? 0 : cli_error(cmd, "out of memory showing examples");
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
    return rc;
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

/* A stage's run counted with the stages before it (seconds, first loss, tokens/s); then
 * they count as before for the next stage. */
static void add_stages(cli_train_opts *o, hw_task_train_result *r, int T) {
    double tokens = o->tokens_before + (double)(r->steps - r->start) * o->p.batch * T;
    r->seconds += o->before.seconds;
    if (o->stage > 0) r->first_loss = o->before.first_loss;
    r->tokens_per_s = r->seconds > 0 ? tokens / r->seconds : 0;
    o->before = *r, o->tokens_before = tokens;
}

/* Train, write the folder, evaluate; progress on stderr and a JSON summary on stdout. */
static int train_run(const char *cmd, cli_train_opts *o) {
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
    snprintf(ckpt, sizeof ckpt, tp->checkpoint ? "%s" : "%s/checkpoint.hwt", tp->checkpoint ? tp->checkpoint : o->out_dir);
    p.checkpoint = ckpt;
    int rc = hw_dir_create(o->out_dir) != HW_OK ? cli_error(cmd, "%s", hw_last_error()) : 0;
    train_view v = {.cmd = cmd, .o = o, .task = task, .avg = NAN};
    hw_task_train_result r;
    hw_model *m = rc ? NULL : hw_task_train(task, &p, on_step, &v, &r);
    if (m && r.steps > r.start && (!r.stopped || o->stage + 1 < o->stages)) progress_show(&v, r.steps, 1);
    cli_progress_done();
    if (m && o->stages > 1) add_stages(o, &r, T);
    if (!rc && !m) rc = cli_error(cmd, "%s", hw_last_error());
    else if (m && r.stopped && o->stage + 1 < o->stages) fprintf(stderr, "stage %d of %d done\n", o->stage + 1, o->stages);
    else if (m && r.stopped) fprintf(stderr, "stopped after step %d; continue with --resume %s\n", r.steps, ckpt);
    else if (m) rc = finish(cmd, o, task, m, &r);
    hw_model_free(m);
    hw_task_free(task);
    return rc;
}

/* --head-dropout-layers "1,3": a bit per layer; layers are 0 to 63 (--layers allows at
 * most 64). */
static int layers_flag(const char *cmd, const char *flag, const char *v, void *dst) {
    uint64_t mask = 0;
    for (const char *q = v;;) {
        char *end;
        long l = strtol(q, &end, 10);
        if (end == q || l < 0 || l > 63 || (*end && *end != ','))
            return cli_usage_error(cmd, "flag %s: '%s' is not a list of layers 0-63 like 1,2", flag, v);
        mask |= 1ull << l;
        if (!*end) break;
        q = end + 1;
    }
    *(uint64_t *)dst = mask;
    return 0;
}

/* The training flags and TASK into o; 0, -1 after --help, or the exit status. */
static int parse(const char *cmd, int argc, char **argv, cli_train_opts *o, const char *help) {
    hw_task_train_params *p = &o->p;
    hw_train_params *t = &o->p.train;
    hw_task_params *tp = &o->task_params;
    const cli_flag flags[] = {
        {"-o", CLI_STR, &o->out_dir}, {"--layers", CLI_INT, &p->n_layer, 1, 64},
        {"--heads", CLI_INT, &p->n_head, 1, 256}, {"--d-model", CLI_INT, &p->d_model, 2, 8192},
        {"--d-ff", CLI_INT, &p->d_ff, 0, 65536}, {"--attn-bias", CLI_SET, &p->attn_bias, 1},
        {"--no-attn-bias", CLI_SET, &p->attn_bias, 0}, {"--seq-len", CLI_INT, &tp->seq_len, 2, 65536},
        {"--context", CLI_INT, &p->n_ctx, 2, 65536},
        {"--symbols", CLI_INT, &tp->n_symbols, 1, 1 << 20}, {"--min-len", CLI_INT, &tp->min_len, 1, 4096},
        {"--max-len", CLI_INT, &tp->max_len, 1, 4096}, {"--depth", CLI_FLOAT, &tp->depth, 0, 1},
        {"--override", CLI_FLOAT, &tp->override, 0, 1}, {"--steps", CLI_INT, &t->steps, 1, 1e8},
        {"--batch", CLI_INT, &p->batch, 1, 65536}, {"--lr", CLI_FLOAT, &t->lr, 1e-9, 10},
        {"--min-lr-frac", CLI_FLOAT, &t->min_lr_frac, 0, 1}, {"--decay-frac", CLI_FLOAT, &t->decay_frac, 0, 1},
        {"--schedule", CLI_CHOICE, &o->schedule, .choices = "cosine|wsd"},
        {"--warmup", CLI_INT, &t->warmup, 0, 1e8}, {"--clip", CLI_FLOAT, &t->clip, 0, 1e9},
        {"--weight-decay", CLI_FLOAT, &t->weight_decay, 0, 10},
        {"--head-dropout", CLI_FLOAT, &t->head_dropout, 0, 0.95},
        {"--head-dropout-layers", CLI_FN, &t->head_dropout_layers, .fn = layers_flag},
        {"--head-dropout-from", CLI_INT, &t->head_dropout_from, 0, 1e8},
        {"--seed", CLI_U64, &t->seed, 0, 0x7fffffff}, {"--resume", CLI_STR, &p->resume},
        {"--checkpoint", CLI_STR, &p->checkpoint},
        {"--checkpoint-every", CLI_INT, &p->checkpoint_every, 0, 1e8},
        {"--stop-at", CLI_INT, &p->stop_at, 1, 1e8}, {"--eval", CLI_INT, &o->eval_samples, 1, 1000000},
        {"--show", CLI_INT, &o->show, 0, 1000}, {"--threads", CLI_INT, &o->threads, 1, 1024}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, &o->task);
    if (o->schedule >= 0) t->schedule = o->schedule == 1 ? HW_SCHED_WSD : HW_SCHED_COSINE;
    return rc;
}

static cli_train_opts defaults(void) {
    return (cli_train_opts){.task_params = hw_task_params_default(), .p = hw_task_train_params_default(),
                            .eval_samples = 200, .schedule = -1};
}

int cmd_train(int argc, char **argv) {
    cli_train_opts o = defaults();
    int rc = parse("train", argc, argv, &o, train_help);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.task) return cli_usage_error("train", "no task: give one of induction, retrieval, successor, recall, mcq");
    return train_run("train", &o);
}

/* The stages of an organism trained in stages, one run each, every stage but the first
 * resuming the checkpoint the one before stopped with; the flags apply to every stage, and
 * --steps moves the stage ends in proportion. */
static int stages_run(const char *cmd, int argc, char **argv, const hw_organism_stage *st, int n,
                      const char *why) {
    char ckpt[PATH_MAX];
    cli_train_opts o = defaults();
    o.p = st[0].params;
    parse(cmd, argc, argv, &o, organism_help);
    const int steps = o.p.train.steps, table = st[0].params.train.steps;
    if (steps < n) return cli_usage_error(cmd, "--steps %d leaves no room for %d stages", steps, n);
    fprintf(stderr, "organism %s: %s\n", o.task, why);
    int rc = 0, last = 0; /* the step the stage before ended at */
    for (int k = 0; k < n && !rc; k++) {
        cli_train_opts prev = o;
        o = defaults();
        o.task_params = st[k].task_params, o.p = st[k].params;
        parse(cmd, argc, argv, &o, organism_help);
        o.task = st[k].task, o.stage = k, o.stages = n;
        o.before = prev.before, o.tokens_before = prev.tokens_before;
        if (k + 1 < n) { /* the table's end, moved with --steps; every stage at least one step */
            int end = (int)((long)st[k].params.stop_at * steps / table);
            o.p.stop_at = last = end <= last ? last + 1 : end > steps - (n - 1 - k) ? steps - (n - 1 - k) : end;
        }
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.hwt", o.out_dir);
        if (!o.p.checkpoint) o.p.checkpoint = ckpt;
        if (k > 0) o.p.resume = o.p.checkpoint;
        rc = train_run(cmd, &o);
    }
    if (!rc && o.p.checkpoint == ckpt) unlink(ckpt); /* the folder holds the model alone, as the others */
    return rc;
}

int cmd_organism(int argc, char **argv) {
    const char *cmd = "organism", *why = NULL;
    cli_train_opts first = defaults(), o = first;
    /* Once for the task (and to check every flag), then over the organism's defaults. */
    int rc = parse(cmd, argc, argv, &first, organism_help);
    if (rc) return rc < 0 ? 0 : rc;
    if (!first.task) return cli_usage_error(cmd, "no task: give one of " ORGANISMS);
    hw_organism_stage st[HW_ORGANISM_MAX_STAGES];
    int n = hw_organism_stages(first.task, st, &why);
    if (n < 1) return cli_usage_error(cmd, "unknown organism '%s' (" ORGANISMS ")", first.task);
    if (!first.out_dir) return cli_usage_error(cmd, "no output folder: give -o DIR");
    if (n > 1 && (first.p.resume || first.p.stop_at))
        return cli_usage_error(cmd, "%s trains in %d stages: --resume and --stop-at do not apply", first.task, n);
    if (n > 1) return stages_run(cmd, argc, argv, st, n, why);
    fprintf(stderr, "organism %s: %s\n", first.task, why);
    o.task_params = st[0].task_params, o.p = st[0].params;
    parse(cmd, argc, argv, &o, organism_help);
    return train_run(cmd, &o);
}
