/* score_successor.c: `headwise score successor`: successor heads from OV logits over
 * ordinal tasks (methods.md section 5), hw_successor_run. Weights only. */
#include "cli.h"

static const char help[] =
    "usage: headwise score successor -m MODEL [-z TOKENIZER] [flags]\n"
    "  --tasks FILE        one task per line, 'name: item item ...' in order (a cyclic task\n"
    "                      repeats its first item at the end); default: numbers 1-200,\n"
    "                      number words, ordinal words, days (cyclic), day prefixes, months\n"
    "                      (cyclic), month prefixes, letters A-Z\n"
    "  --embedding mlp0|block0  effective embedding: MLP0(W_E) (default) or all of block 0\n"
    "                      on the one-token sequence\n"
    "  -o FILE             per head: score, pairs (.json {\"L-H\": [...]} or .tsv), atomic\n"
    "  --top N             rows of the ranked table on stdout (default 20; 0: all)\n"
    "Items are single tokens with a leading space (or, failing that, as written); items that\n"
    "are not one token are skipped, and only pairs of consecutive items both kept count.\n";

/* The tasks (a file's or the default ones; NULL on error), each's usable items and pairs
 * on stderr. */
static hw_successor_tasks *load_tasks(const char *cmd, const hw_tokenizer *t, const char *path) {
    hw_successor_tasks *ts = path ? hw_successor_tasks_read(t, path) : hw_successor_tasks_default(t);
    for (int k = 0; ts && k < hw_successor_tasks_count(ts); k++) {
        hw_successor_task_info ti;
        hw_successor_tasks_get(ts, k, &ti);
        fprintf(stderr, "headwise %s: task %s: %d of %d items are single tokens, %d pairs\n", cmd,
                ti.name, ti.single_tokens, ti.items, ti.pairs);
    }
    return ts;
}

int cmd_score_successor(int argc, char **argv) {
    const char *cmd = "score successor", *out = NULL, *tasks_path = NULL;
    int top = 20;
    cli_model_flags f = {0};
    hw_successor_params p = hw_successor_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"-o", CLI_STR, &out}, {"--tasks", CLI_STR, &tasks_path},
        {"--top", CLI_INT, &top, 0, 1 << 30},
        {"--embedding", CLI_CHOICE, &p.embedding, .choices = "mlp0|block0"}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    cli_session s;
    if (rc) return rc < 0 ? 0 : rc;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 1, &s)) return 1;
    hw_successor_tasks *ts = load_tasks(cmd, s.t, tasks_path);
    hw_successor_result *r = NULL;
    p.tasks = ts;
    rc = !ts || hw_successor_run(s.m, s.t, &p, cli_progress_counted, (void *)cmd, &r);
    cli_progress_done();
    if (rc) {
        cli_error(cmd, "%s", hw_last_error());
    } else {
        hw_successor_info in;
        hw_successor_get_info(r, &in);
        printf("# successor score (%s effective embedding): %d pairs over %d tasks\n",
               in.embedding ? "block0" : "mlp0", in.pairs, in.n_tasks);
        score_table_print(hw_successor_table(r), 0, top);
        rc = out && hw_successor_write(r, out) ? cli_error(cmd, "%s", hw_last_error()) : 0;
    }
    hw_successor_free(r);
    hw_successor_tasks_free(ts);
    cli_close(&s);
    return rc;
}
