/* train.c: `headwise train`: train a model on a synthetic task and write it as a
 * Hugging Face folder; the training flags, shared with `headwise organism`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_train_flags_help[] =
    "  -o DIR              output Hugging Face folder (config.json, model.safetensors,\n"
    "                      tokenizer.json, training.json)\n"
    "  --layers L          layers (default 2)\n"
    "  --heads H           attention heads per layer (default 4)\n"
    "  --d-model D         width (default 64; a multiple of H)\n"
    "  --d-ff F            MLP width; 0 = attention-only, no MLP (default 0)\n"
    "  --attn-bias         biases on q, k, v and o (Llama's attention_bias); --no-attn-bias\n"
    "  --seq-len T         tokens per sequence (default: the task's)\n"
    "  --symbols N         induction: random tokens; retrieval: filler words; recall: subjects\n"
    "  --min-len N         induction: shortest repeat; successor: items per run;\n"
    "                      retrieval: answer tokens\n"
    "  --max-len N         induction: longest repeat; successor: most items per run\n"
    "  --depth X           retrieval: needle depth in [0, 1] when scoring (default random)\n"
    "  --override X        recall: a repeat keeps a counterfactual first mention with a\n"
    "                      chance drawn per subject in [0, X], else reverts (default 0.6)\n"
    "  --steps N           optimizer steps (default 1000)\n"
    "  --batch B           sequences per step (default 32)\n"
    "  --lr X              peak learning rate (default 1e-3)\n"
    "  --min-lr-frac X     final lr as a fraction of the peak (default 0.1)\n"
    "  --schedule S        cosine or wsd (warm-up, stable, decay) (default cosine)\n"
    "  --decay-frac X      wsd: fraction of steps in the final decay (default 0.2)\n"
    "  --warmup N          warm-up steps (default 100)\n"
    "  --clip X            gradient-norm clip; 0 = none (default 1)\n"
    "  --weight-decay X    AdamW decoupled weight decay (default 0.1)\n"
    "  --head-dropout P    zero each head's output for a whole step with probability P\n"
    "                      (drawn from the seed and step; spreads a job over several\n"
    "                      heads so no single one is essential) (default 0: none)\n"
    "  --head-dropout-layers LIST  comma-separated layers whose heads may drop, e.g. 1\n"
    "                      (default: every layer)\n"
    "  --head-dropout-from N  first step with head dropout, so a circuit can form before\n"
    "                      it is spread (default 0)\n"
    "  --seed S            seed of the weights and the data (default 1)\n"
    "  --resume FILE       continue from a checkpoint of the same run\n"
    "  --checkpoint FILE   where checkpoints go (default DIR/checkpoint.hwt)\n"
    "  --checkpoint-every N  save a checkpoint every N steps (default 0: none)\n"
    "  --stop-at N         stop after step N with a checkpoint, as if interrupted (the\n"
    "                      schedule still spans --steps; continue with --resume)\n"
    "  --eval N            held-out samples scored at the end (default 200)\n"
    "  --show N            print N held-out examples with the model's answers (default 0)\n"
    "  --threads N         threads (default: all cores)\n";

static int set_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, int *out) {
    long v;
    int bad = cli_int(cmd, argc, argv, i, lo, hi, &v);
    if (!bad) *out = (int)v;
    return bad;
}

static int set_float(const char *cmd, int argc, char **argv, int *i, double lo, double hi, float *out) {
    double v;
    int bad = cli_float(cmd, argc, argv, i, lo, hi, &v);
    if (!bad) *out = (float)v;
    return bad;
}

/* "1,3": a bit per layer; layers are 0 to 63 (--layers allows at most 64). */
static int set_layers(const char *cmd, int argc, char **argv, int *i, uint64_t *out) {
    const char *v;
    int bad = cli_value(cmd, argc, argv, i, &v);
    if (bad) return bad;
    uint64_t mask = 0;
    for (const char *q = v;;) {
        char *end;
        long l = strtol(q, &end, 10);
        if (end == q || l < 0 || l > 63 || (*end && *end != ','))
            return cli_usage_error(cmd, "flag --head-dropout-layers: '%s' is not a list of layers 0-63 like 1,2", v);
        mask |= 1ull << l;
        if (!*end) break;
        q = end + 1;
    }
    *out = mask;
    return 0;
}

int cli_train_flag(const char *cmd, int argc, char **argv, int *i, cli_train_opts *o, int *bad) {
    const char *a = argv[*i];
    hw_train_params *p = &o->p.train;
    long seed;
    if (!strcmp(a, "-o")) *bad = cli_value(cmd, argc, argv, i, &o->out_dir);
    else if (!strcmp(a, "--layers")) *bad = set_int(cmd, argc, argv, i, 1, 64, &o->p.n_layer);
    else if (!strcmp(a, "--heads")) *bad = set_int(cmd, argc, argv, i, 1, 256, &o->p.n_head);
    else if (!strcmp(a, "--d-model")) *bad = set_int(cmd, argc, argv, i, 2, 8192, &o->p.d_model);
    else if (!strcmp(a, "--attn-bias")) o->p.attn_bias = 1;
    else if (!strcmp(a, "--no-attn-bias")) o->p.attn_bias = 0;
    else if (!strcmp(a, "--d-ff")) *bad = set_int(cmd, argc, argv, i, 0, 65536, &o->p.d_ff);
    else if (!strcmp(a, "--seq-len")) *bad = set_int(cmd, argc, argv, i, 2, 65536, &o->task_params.seq_len);
    else if (!strcmp(a, "--symbols")) *bad = set_int(cmd, argc, argv, i, 1, 1 << 20, &o->task_params.n_symbols);
    else if (!strcmp(a, "--min-len")) *bad = set_int(cmd, argc, argv, i, 1, 4096, &o->task_params.min_len);
    else if (!strcmp(a, "--max-len")) *bad = set_int(cmd, argc, argv, i, 1, 4096, &o->task_params.max_len);
    else if (!strcmp(a, "--depth")) *bad = set_float(cmd, argc, argv, i, 0, 1, &o->task_params.depth);
    else if (!strcmp(a, "--override")) *bad = set_float(cmd, argc, argv, i, 0, 1, &o->task_params.override);
    else if (!strcmp(a, "--steps")) *bad = set_int(cmd, argc, argv, i, 1, 100000000, &p->steps);
    else if (!strcmp(a, "--batch")) *bad = set_int(cmd, argc, argv, i, 1, 65536, &o->p.batch);
    else if (!strcmp(a, "--lr")) *bad = set_float(cmd, argc, argv, i, 1e-9, 10, &p->lr);
    else if (!strcmp(a, "--min-lr-frac")) *bad = set_float(cmd, argc, argv, i, 0, 1, &p->min_lr_frac);
    else if (!strcmp(a, "--decay-frac")) *bad = set_float(cmd, argc, argv, i, 0, 1, &p->decay_frac);
    else if (!strcmp(a, "--warmup")) *bad = set_int(cmd, argc, argv, i, 0, 100000000, &p->warmup);
    else if (!strcmp(a, "--clip")) *bad = set_float(cmd, argc, argv, i, 0, 1e9, &p->clip);
    else if (!strcmp(a, "--weight-decay")) *bad = set_float(cmd, argc, argv, i, 0, 10, &p->weight_decay);
    else if (!strcmp(a, "--head-dropout")) *bad = set_float(cmd, argc, argv, i, 0, 0.95, &p->head_dropout);
    else if (!strcmp(a, "--head-dropout-layers")) *bad = set_layers(cmd, argc, argv, i, &p->head_dropout_layers);
    else if (!strcmp(a, "--head-dropout-from")) *bad = set_int(cmd, argc, argv, i, 0, 100000000, &p->head_dropout_from);
    else if (!strcmp(a, "--checkpoint-every")) *bad = set_int(cmd, argc, argv, i, 0, 100000000, &o->p.checkpoint_every);
    else if (!strcmp(a, "--eval")) *bad = set_int(cmd, argc, argv, i, 1, 1000000, &o->eval_samples);
    else if (!strcmp(a, "--show")) *bad = set_int(cmd, argc, argv, i, 0, 1000, &o->show);
    else if (!strcmp(a, "--threads")) *bad = set_int(cmd, argc, argv, i, 1, 1024, &o->threads);
    else if (!strcmp(a, "--stop-at")) *bad = set_int(cmd, argc, argv, i, 1, 100000000, &o->p.stop_at);
    else if (!strcmp(a, "--resume")) *bad = cli_value(cmd, argc, argv, i, &o->p.resume);
    else if (!strcmp(a, "--checkpoint")) *bad = cli_value(cmd, argc, argv, i, &o->p.checkpoint);
    else if (!strcmp(a, "--seed")) {
        if (!(*bad = cli_int(cmd, argc, argv, i, 0, 0x7fffffffL, &seed))) p->seed = (uint64_t)seed;
    } else if (!strcmp(a, "--schedule")) {
        const char *v;
        if (!(*bad = cli_value(cmd, argc, argv, i, &v))) {
            if (!strcmp(v, "cosine")) p->schedule = HW_SCHED_COSINE;
            else if (!strcmp(v, "wsd")) p->schedule = HW_SCHED_WSD;
            else *bad = cli_usage_error(cmd, "flag --schedule: '%s' is not cosine or wsd", v);
        }
    } else return 0;
    return 1;
}

static const char help[] =
    "usage: headwise train TASK -o DIR [flags]\n"
    "Train a Llama-style model from scratch on a synthetic task (induction, retrieval,\n"
    "successor, recall) and write it as a Hugging Face folder every command loads.\n"
    "Progress goes to stderr; a JSON summary (loss, time, tokens/s, task accuracy) to stdout.\n"
    "\n";

int cmd_train(int argc, char **argv) {
    const char *cmd = "train";
    cli_train_opts o = {.task_params = hw_task_params_default(), .p = hw_task_train_params_default(),
                        .eval_samples = 200};
    for (int i = 0; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            fputs(cli_train_flags_help, stdout);
            return 0;
        }
        if (cli_train_flag(cmd, argc, argv, &i, &o, &bad)) {
            if (bad) return bad;
        } else if (argv[i][0] != '-' && !o.task) {
            o.task = argv[i];
        } else {
            return cli_usage_error(cmd, "unknown flag '%s' (see headwise train --help)", argv[i]);
        }
    }
    if (!o.task) return cli_usage_error(cmd, "no task: give one of induction, retrieval, successor, recall");
    return cli_train_run(cmd, &o);
}
