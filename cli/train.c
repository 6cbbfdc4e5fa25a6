/* train.c: `headwise train TASK -o DIR`: train a model on a synthetic task and write it
 * as a Hugging Face folder; `headwise organism TASK -o DIR`: the same from a model
 * organism's defaults, i.e. a small model trained on one task with settings known to make
 * its heads interpretable (hw_organism_params), in at most about five minutes on two
 * cores; every training flag can override a default. The run is cli_train_run. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAGS_HELP \
    "  -o DIR              output Hugging Face folder (config.json, model.safetensors,\n" \
    "                      tokenizer.json, training.json)\n" \
    "  --layers L          layers (default 2)\n" \
    "  --heads H           attention heads per layer (default 4)\n" \
    "  --d-model D         width (default 64; a multiple of H)\n" \
    "  --d-ff F            MLP width; 0 = attention-only, no MLP (default 0)\n" \
    "  --attn-bias         biases on q, k, v and o (Llama's attention_bias); --no-attn-bias\n" \
    "  --seq-len T         tokens per sequence (default: the task's)\n" \
    "  --symbols N         induction: random tokens; retrieval: filler words; recall: subjects\n" \
    "  --min-len N         induction: shortest repeat; successor: items per run;\n" \
    "                      retrieval: answer tokens\n" \
    "  --max-len N         induction: longest repeat; successor: most items per run\n" \
    "  --depth X           retrieval: needle depth in [0, 1] when scoring (default random)\n" \
    "  --override X        recall: a repeat keeps a counterfactual first mention with a\n" \
    "                      chance drawn per subject in [0, X], else reverts (default 0.6)\n" \
    "  --steps N           optimizer steps (default 1000)\n" \
    "  --batch B           sequences per step (default 32)\n" \
    "  --lr X              peak learning rate (default 1e-3)\n" \
    "  --min-lr-frac X     final lr as a fraction of the peak (default 0.1)\n" \
    "  --schedule S        cosine or wsd (warm-up, stable, decay) (default cosine)\n" \
    "  --decay-frac X      wsd: fraction of steps in the final decay (default 0.2)\n" \
    "  --warmup N          warm-up steps (default 100)\n" \
    "  --clip X            gradient-norm clip; 0 = none (default 1)\n" \
    "  --weight-decay X    AdamW decoupled weight decay (default 0.1)\n" \
    "  --head-dropout P    zero each head's output for a whole step with probability P\n" \
    "                      (drawn from the seed and step; spreads a job over several\n" \
    "                      heads so no single one is essential) (default 0: none)\n" \
    "  --head-dropout-layers LIST  comma-separated layers whose heads may drop, e.g. 1\n" \
    "                      (default: every layer)\n" \
    "  --head-dropout-from N  first step with head dropout, so a circuit can form before\n" \
    "                      it is spread (default 0)\n" \
    "  --seed S            seed of the weights and the data (default 1)\n" \
    "  --resume FILE       continue from a checkpoint of the same run\n" \
    "  --checkpoint FILE   where checkpoints go (default DIR/checkpoint.hwt)\n" \
    "  --checkpoint-every N  save a checkpoint every N steps (default 0: none)\n" \
    "  --stop-at N         stop after step N with a checkpoint, as if interrupted (the\n" \
    "                      schedule still spans --steps; continue with --resume)\n" \
    "  --eval N            held-out samples scored at the end (default 200)\n" \
    "  --show N            print N held-out examples with the model's answers (default 0)\n" \
    "  --threads N         threads (default: all cores)\n"

static const char train_help[] =
    "usage: headwise train TASK -o DIR [flags]\n"
    "Train a Llama-style model from scratch on a synthetic task (induction, retrieval,\n"
    "successor, recall) and write it as a Hugging Face folder every command loads.\n"
    "Progress goes to stderr; a JSON summary (loss, time, tokens/s, task accuracy) to stdout.\n"
    "\n" FLAGS_HELP;

static const char organism_help[] =
    "usage: headwise organism TASK -o DIR [training flags]\n"
    "Train the default model organism for TASK (induction, retrieval, successor, recall),\n"
    "write it as a Hugging Face folder and report its task accuracy. Defaults:\n"
    "  induction  2 layers x 2 heads, d 64, attention-only, 256 tokens, sequences of 72,\n"
    "             2000 steps of 32 (300 warm-up), head dropout 0.3 on layer 1 from\n"
    "             step 1000\n"
    "  retrieval  4 layers x 8 heads, d 64, attention-only, context 64, 1400 steps of 32\n"
    "  successor  3 layers x 4 heads, d 64, attention-only, runs of 8, 1500 steps of 64\n"
    "  recall     2 layers x 4 heads, d 64, MLP 256, 64 facts, 2000 steps of 64;\n"
    "             a counterfactual holds with a chance per subject in [0, 0.6]\n"
    "Training flags (as `headwise train`) override these:\n" FLAGS_HELP;

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
        {"--symbols", CLI_INT, &tp->n_symbols, 1, 1 << 20}, {"--min-len", CLI_INT, &tp->min_len, 1, 4096},
        {"--max-len", CLI_INT, &tp->max_len, 1, 4096}, {"--depth", CLI_FLOAT, &tp->depth, 0, 1},
        {"--override", CLI_FLOAT, &tp->override, 0, 1}, {"--steps", CLI_INT, &t->steps, 1, 1e8},
        {"--batch", CLI_INT, &p->batch, 1, 65536}, {"--lr", CLI_FLOAT, &t->lr, 1e-9, 10},
        {"--min-lr-frac", CLI_FLOAT, &t->min_lr_frac, 0, 1}, {"--decay-frac", CLI_FLOAT, &t->decay_frac, 0, 1},
        {"--schedule", CLI_CHOICE, &o->schedule, .choices = "cosine|wsd"}, {"--warmup", CLI_INT, &t->warmup, 0, 1e8},
        {"--clip", CLI_FLOAT, &t->clip, 0, 1e9}, {"--weight-decay", CLI_FLOAT, &t->weight_decay, 0, 10},
        {"--head-dropout", CLI_FLOAT, &t->head_dropout, 0, 0.95},
        {"--head-dropout-layers", CLI_FN, &t->head_dropout_layers, .fn = layers_flag},
        {"--head-dropout-from", CLI_INT, &t->head_dropout_from, 0, 1e8}, {"--seed", CLI_U64, &t->seed, 0, 0x7fffffff},
        {"--resume", CLI_STR, &p->resume}, {"--checkpoint", CLI_STR, &p->checkpoint},
        {"--checkpoint-every", CLI_INT, &p->checkpoint_every, 0, 1e8}, {"--stop-at", CLI_INT, &p->stop_at, 1, 1e8},
        {"--eval", CLI_INT, &o->eval_samples, 1, 1000000}, {"--show", CLI_INT, &o->show, 0, 1000},
        {"--threads", CLI_INT, &o->threads, 1, 1024}, {NULL}};
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
    if (!o.task) return cli_usage_error("train", "no task: give one of induction, retrieval, successor, recall");
    return cli_train_run("train", &o);
}

int cmd_organism(int argc, char **argv) {
    const char *cmd = "organism", *why = NULL;
    cli_train_opts first = defaults(), o = first;
    /* Once for the task (and to check every flag), then over the organism's defaults. */
    int rc = parse(cmd, argc, argv, &first, organism_help);
    if (rc) return rc < 0 ? 0 : rc;
    if (!first.task) return cli_usage_error(cmd, "no task: give one of induction, retrieval, successor, recall");
    if (hw_organism_params(first.task, &o.task_params, &o.p, &why) != HW_OK)
        return cli_usage_error(cmd, "unknown task '%s' (induction, retrieval, successor, recall)", first.task);
    parse(cmd, argc, argv, &o, organism_help);
    if (!o.out_dir) return cli_usage_error(cmd, "no output folder: give -o DIR");
    fprintf(stderr, "organism %s: %s\n", o.task, why);
    return cli_train_run(cmd, &o);
}
