/* influence.c: `headwise influence`: AttentionInfluence over a JSONL corpus
 * (hw_influence_run, methods.md section 10), one process or one rank of `mpirun -np N`
 * (a byte range of the corpus each, rank 0 merging the ranks' logs in corpus order), and
 * `headwise influence select`: the top fraction per domain (hw_influence_select). */
#include "cli.h"
#include "cli_mpi.h"

#include <sys/stat.h>

static const char help[] =
    "usage: headwise influence -m MODEL (--heads FILE [--top F] | --heads-list L.H,...) --corpus FILE\n"
    "                          -o SCORES.jsonl [--mode uniform|zero] [--context N] [--strict]\n"
    "       headwise influence select --scores SCORES.jsonl [--fraction F] [--per-domain] -o OUT.jsonl\n"
    "  --heads FILE    a head-score file (score retrieval -o, a TSV table, gates or a 0/1 mask)\n"
    "  --top F         the fraction of heads masked, the top by score (default 0.05; it must\n"
    "                  select at least one head)\n"
    "  --heads-list L  the masked heads themselves, LAYER.HEAD[,...]\n"
    "  --mode M        uniform: the heads attend uniformly (default); zero: their output is 0\n"
    "  --corpus FILE   JSONL, one {\"text\", \"domain\", \"id\"?} a line; .gz read through zlib\n"
    "  -o FILE         {\"id\", \"domain\", \"tokens\", \"loss_base\", \"loss_masked\", \"influence\"}\n"
    "                  a line, in corpus order; the resume log FILE.log (FILE.rank-R-of-N.log\n"
    "                  under mpirun) is kept: a rerun with the same settings resumes from it\n"
    "  --context N     window in tokens (default: the model's context)\n"
    "  --strict        a bad corpus line stops the run (default: skipped with a warning)\n"
    "  --threads N     threads per process (default: all cores)\n"
    "  Under `mpirun -np N` (an MPI build) each rank scores a byte range of the corpus and\n"
    "  rank 0 writes the same output as one process would.\n";

static const char select_help[] =
    "usage: headwise influence select --scores SCORES.jsonl [--fraction F] [--per-domain] -o OUT.jsonl\n"
    "  the documents ranked by influence, descending, within each domain with --per-domain (the\n"
    "  paper's rule) or over all, the top F (default 0.2) written in corpus order; a per-domain\n"
    "  table on stdout\n";

typedef struct {
    const char *cmd;
    double t0, last;
    int64_t docs, tokens;
    int rank, size;
} progress_state;

/* documents/s, tokens/s and an ETA from the bytes left, twice a second at most. */
static int on_progress(const char *stage, int64_t done, int64_t total, void *user) {
    progress_state *p = user;
    if (!strcmp(stage, "documents")) p->docs = done;
    else if (!strcmp(stage, "tokens")) p->tokens = done;
    const double now = cli_now(), dt = now - p->t0;
    if (strcmp(stage, "bytes") || now - p->last < 0.5 || dt <= 0) return 0;
    p->last = now;
    char rank[32] = "";
    if (p->size > 1) snprintf(rank, sizeof rank, "rank %d/%d: ", p->rank, p->size);
    const double eta = total > 0 && done > 0 ? dt * (double)(total - done) / (double)done : -1;
    cli_progress(p->cmd, "%s%lld documents (%.1f/s), %lld tokens (%.0f/s), %.1f%%, ETA %.0fs", rank, (long long)p->docs,
                 (double)p->docs / dt, (long long)p->tokens, (double)p->tokens / dt,
                 total > 0 ? 100.0 * (double)done / (double)total : 0.0, eta);
    return 0;
}

static void on_bad_line(int64_t line, const char *reason, void *user) {
    cli_warn(((progress_state *)user)->cmd, "corpus line %lld: %s; skipped", (long long)line, reason);
}

static int cmd_influence_select(int argc, char **argv) {
    const char *cmd = "influence select", *scores = NULL, *out = NULL;
    double fraction = 0.2;
    int per_domain = 0;
    const cli_flag flags[] = {{"--scores", CLI_STR, &scores}, {"--fraction", CLI_DOUBLE, &fraction, 1e-9, 1},
                              {"--per-domain", CLI_SET, &per_domain, 1}, {"-o", CLI_STR, &out}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, select_help, NULL);
    if (!rc && (!scores || !out)) rc = cli_usage_error(cmd, "give --scores FILE and -o FILE");
    if (!rc && hw_influence_select(scores, fraction, per_domain, out, stdout)) rc = cli_error(cmd, "%s", hw_last_error());
    return rc < 0 ? 0 : rc;
}

typedef struct {
    const char *heads_file, *heads_list, *corpus, *out;
    double top;
    int mode, strict;
    hw_influence_params p;
} influence_flags;

/* The shard of this rank: [size * rank / n, size * (rank + 1) / n), the last to the end. */
static int shard(const char *cmd, const influence_flags *a, int rank, int n, hw_influence_params *p) {
    if (n == 1) return 0;
    struct stat st;
    const size_t len = strlen(a->corpus);
    if (len > 3 && (!strcmp(a->corpus + len - 3, ".gz") || !strcmp(a->corpus + len - 4, ".zst")))
        return cli_error(cmd, "%s: a compressed corpus cannot be split by byte ranges; decompress it, or run "
                         "one process", a->corpus);
    if (stat(a->corpus, &st) != 0) return cli_error(cmd, "cannot read %s", a->corpus);
    p->byte_begin = (int64_t)((double)st.st_size * rank / n);
    p->byte_end = rank == n - 1 ? -1 : (int64_t)((double)st.st_size * (rank + 1) / n);
    return 0;
}

/* The masked heads from --heads (and --top) or --heads-list; their number, or -1. */
static int masked_heads(const char *cmd, const influence_flags *a, const hw_model *m, hw_head **heads) {
    if (a->heads_file) {
        int n = hw_influence_heads_from_file(m, a->heads_file, a->top, heads);
        return n < 0 ? cli_error(cmd, "%s", hw_last_error()), -1 : n;
    }
    const hw_config *c = hw_model_config(m);
    *heads = malloc(sizeof(hw_head) * (size_t)(c->n_layer * c->n_head));
    int n = *heads ? hw_heads_parse(m, a->heads_list, *heads, c->n_layer * c->n_head) : -1;
    return n < 1 ? cli_error(cmd, "--heads-list: %s", n ? hw_last_error() : "no heads"), -1 : n;
}

static char *log_name(const char *out, int rank, int n) {
    char *s = malloc(strlen(out) + 64);
    if (s && n == 1) sprintf(s, "%s.log", out);
    else if (s) sprintf(s, "%s.rank-%d-of-%d.log", out, rank, n);
    return s;
}

/* Rank 0: every rank's log into -o, and the summary. */
static int merge(const char *cmd, const char *out, int n) {
    char **logs = calloc((size_t)n, sizeof *logs);
    int rc = logs ? 0 : cli_error(cmd, "out of memory");
    for (int i = 0; !rc && i < n; i++)
        if (!(logs[i] = log_name(out, i, n))) rc = cli_error(cmd, "out of memory");
    hw_influence_summary s = {0};
    if (!rc && hw_influence_merge((const char *const *)logs, n, out, &s)) rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc)
        fprintf(stderr, "headwise %s: %lld documents, %lld tokens, %lld bad lines skipped, %d process%s; wrote %s\n",
                cmd, (long long)s.documents, (long long)s.tokens, (long long)s.bad_lines, n, n > 1 ? "es" : "", out);
    for (int i = 0; logs && i < n; i++) free(logs[i]);
    free(logs);
    return rc;
}

static int run(const char *cmd, influence_flags *a, cli_model_flags *f, int rank, int n) {
    cli_session s = {0};
    hw_head *heads = NULL;
    char *log = log_name(a->out, rank, n);
    progress_state ps = {cmd, cli_now(), cli_now(), 0, 0, rank, n};
    int rc = log ? shard(cmd, a, rank, n, &a->p) : cli_error(cmd, "out of memory");
    if (!rc) rc = cli_load(cmd, f, 1, &s);
    if (!rc && (a->p.n_heads = masked_heads(cmd, a, s.m, &heads)) < 0) rc = 1;
    a->p.heads = heads, a->p.mode = (hw_influence_mode)a->mode, a->p.strict = a->strict;
    a->p.model_id = f->model, a->p.warn = on_bad_line;
    hw_influence_summary sum = {0};
    if (!rc && hw_influence_run(s.m, s.t, a->corpus, log, &a->p, on_progress, &ps, &sum))
        rc = cli_error(cmd, "%s", hw_last_error());
    cli_progress_done();
    if (!rc && sum.resumed)
        fprintf(stderr, "headwise %s: %lld documents resumed from %s\n", cmd, (long long)sum.resumed, log);
    free(heads), free(log);
    cli_close(&s);
    return rc;
}

int cmd_influence(int argc, char **argv) {
    if (argc > 0 && !strcmp(argv[0], "select")) return cmd_influence_select(argc - 1, argv + 1);
    const char *cmd = "influence";
    cli_model_flags f = {0};
    influence_flags a = {.top = 0.05, .p = hw_influence_params_default()};
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"--threads", CLI_INT, &f.threads, 1, 1024}, {"--heads", CLI_STR, &a.heads_file},
        {"--top", CLI_DOUBLE, &a.top, 1e-9, 1}, {"--heads-list", CLI_STR, &a.heads_list},
        {"--mode", CLI_CHOICE, &a.mode, .choices = "uniform|zero"}, {"--context", CLI_INT, &a.p.context, 2, 1 << 24},
        {"--corpus", CLI_STR, &a.corpus}, {"-o", CLI_STR, &a.out}, {"--strict", CLI_SET, &a.strict, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL), rank = 0, n = 1;
    if (!rc && !a.heads_file == !a.heads_list) rc = cli_usage_error(cmd, "give the heads with --heads FILE or --heads-list L.H,...");
    if (!rc && (!a.corpus || !a.out)) rc = cli_usage_error(cmd, "give --corpus FILE and -o FILE");
    if (!rc) rc = score_outputs_ok(cmd, (const char *const[]){a.out}, 1);
    if (!rc) rc = cli_mpi_init(&rank, &n);
    if (!rc) rc = run(cmd, &a, &f, rank, n);
    /* Every rank waits for the others' logs; rank 0 merges them. */
    if (rc >= 0 && cli_mpi_agree(rc > 0) == 0 && rank == 0) rc = merge(cmd, a.out, n);
    else if (rc == 0 && rank == 0) rc = cli_error(cmd, "another rank failed (see its message)");
    cli_mpi_finalize();
    return rc < 0 ? 0 : rc;
}
