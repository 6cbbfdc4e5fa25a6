/* test_protocols.c: the protocol entry points (hw_retrieval_run, hw_mask_test_run,
 * hw_scale_sweep_run, hw_niah_*, hw_task_evaluate_hooked) on stories260K: each equals the
 * CLI's output file byte for byte on the same settings (the CLI is build/<kind>/headwise,
 * found beside this program's folder), calls its progress callback, and stops with an
 * error when the callback says so, leaving the retrieval log whole so that a rerun
 * resumes to the uninterrupted result.
 *
 * `test_protocols organism` runs the same checks on the retrieval organism instead, its
 * folder in $HW_ORGANISM_RETRIEVAL (tests/protocols_organism_test.sh sets it). Run from
 * the repository's root (data/ is read from there). */
#include "check.h"
#include "headwise.h"

#include <libgen.h>
#include <stdint.h>
#include <unistd.h>

static hw_model *model;
static hw_tokenizer *tok;
static char cli[1024], tmp[256], model_args[2048];

/* A whole file (malloc'd, NUL-terminated), or NULL. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static int same_files(const char *a, const char *b) {
    char *x = slurp(a), *y = slurp(b);
    int same = x && y && !strcmp(x, y);
    if (!same) fprintf(stderr, "  %s and %s differ (or are missing)\n", a, b);
    free(x);
    free(y);
    return same;
}

/* Run the CLI with arguments (after the model's); 0 on success. */
static int run_cli(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s %s >/dev/null 2>%s/cli.err", cli, args, model_args, tmp);
    int rc = system(cmd);
    if (rc) {
        snprintf(cmd, sizeof cmd, "%s/cli.err", tmp);
        char *err = slurp(cmd);
        fprintf(stderr, "  CLI failed: %s", err ? err : "?\n");
        free(err);
    }
    return rc;
}

static char *path(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

/* Counts progress calls; stops (returns 1) once `stop_after` calls have been made. */
typedef struct {
    int calls, stop_after;
    int64_t last_done, last_total;
    int monotonic;
} progress_log;

static int on_progress(const char *stage, int64_t done, int64_t total, void *user) {
    progress_log *p = user;
    if (done < p->last_done || !stage || !*stage) p->monotonic = 0;
    p->last_done = done;
    p->last_total = total;
    p->calls++;
    return p->stop_after && p->calls >= p->stop_after;
}

/* ---------------------------------------------------------------- stories260K */

static const char *const hay[] = {"data/haystack/stories.txt"};
static const char niah_flags[] = "--needles data/needles/stories.jsonl --haystack data/haystack/stories.txt "
                                 "--template '{context}{question}' --lengths 128:192:2 --depths 3 --buffer 64";

static hw_niah_params small_niah(void) {
    hw_niah_params p = hw_niah_params_default();
    p.needles_path = "data/needles/stories.jsonl";
    p.haystack_paths = hay;
    p.n_haystacks = 1;
    p.template_text = "{context}{question}";
    p.length_min = 128;
    p.length_max = 192;
    p.n_lengths = 2;
    p.n_depths = 3;
    p.buffer = 64;
    return p;
}

static void niah_grid_checked_whole(void) {
    hw_niah_params p = small_niah();
    CHECK(hw_niah_parse_lengths("100:500:5", &p) == HW_OK && p.length_max == 500, "parse");
    CHECK(hw_niah_parse_lengths("5:1:2", &p) == HW_ERR_ARG, "bad lengths accepted");
    hw_niah *n = hw_niah_new(model, tok, &p);
    /* 2 needles x 5 lengths x 3 depths; the first too long is length 500 of needle 0,
     * trial 13 (the old code found it when it got there). */
    CHECK(!n && strstr(hw_last_error(), "trial 13 of 30 (needle 0, length 500)"), "%s", hw_last_error());
    hw_niah_free(n);
    p = small_niah();
    p.haystack_paths = NULL;
    p.n_haystacks = 0;
    p.data_dir = "data";
    n = hw_niah_new(model, tok, &p);
    CHECK(n && hw_niah_trial_count(n) == 12 && hw_niah_needle_count(n) == 2, "%s", hw_last_error());
    int needle, length, depth, *prompt, s0, s1, n_ans;
    CHECK(hw_niah_trial_key(n, 7, &needle, &length, &depth) == HW_OK && needle == 1 && length == 128 && depth == 50,
          "trial 7: %d %d %d", needle, length, depth);
    int k = hw_niah_trial_prompt(n, 7, &prompt, &s0, &s1);
    const int *ans = hw_niah_answer_ids(n, 1, &n_ans);
    CHECK(k > 0 && k + hw_niah_max_new(n) <= hw_model_config(model)->n_ctx && s0 > 0 && s1 == s0 + n_ans && ans,
          "prompt %d span %d %d", k, s0, s1);
    /* The needle span holds the answer's tokens. */
    for (int i = 0; k > 0 && s0 >= 0 && i < n_ans; i++) CHECK(prompt[s0 + i] == ans[i], "span token %d", i);
    free(prompt);
    CHECK(hw_niah_trial_prompt(n, 12, &prompt, &s0, &s1) == -1, "trial 12 of 12 built");
    hw_niah_free(n);
}

static hw_retrieval_params small_retrieval(const char *out) {
    hw_retrieval_params p = hw_retrieval_params_default();
    p.niah = small_niah();
    p.out = out;
    return p;
}

static void retrieval_run_equals_cli(void) {
    char args[4096];
    snprintf(args, sizeof args, "score retrieval %s -o %s --tsv %s", niah_flags, path("cli.json"), path("cli.tsv"));
    CHECK(run_cli(args) == 0, "CLI");
    hw_retrieval_params p = small_retrieval(path("lib.json"));
    progress_log pl = {.monotonic = 1};
    hw_retrieval_result *r = NULL;
    hw_status s = hw_retrieval_run(model, tok, &p, on_progress, &pl, &r);
    CHECK(s == HW_OK && r, "%s", hw_last_error());
    if (!r) return;
    CHECK(same_files(path("lib.json"), path("cli.json")), "JSON");
    CHECK(hw_retrieval_result_write_tsv(r, path("lib.tsv")) == HW_OK && same_files(path("lib.tsv"), path("cli.tsv")),
          "TSV");
    CHECK(hw_retrieval_result_write(r, path("again.json")) == HW_OK && same_files(path("again.json"), path("cli.json")),
          "writer");
    CHECK(access(path("lib.json.partial.json"), F_OK) != 0, "partial file left after a whole run");
    CHECK(pl.calls == 12 && pl.monotonic && pl.last_done == 12 && pl.last_total == 12, "progress %d calls", pl.calls);
    int counted = hw_retrieval_result_counted(r), n;
    hw_head_scores_values(hw_retrieval_result_scores(r), 4, 7, &n);
    CHECK(hw_retrieval_result_trials(r) == 12 && hw_retrieval_result_trials_run(r) == 12 && counted >= 1 &&
              counted == n && hw_retrieval_result_counted_run(r) == counted,
          "trials %d run %d counted %d", hw_retrieval_result_trials(r), hw_retrieval_result_trials_run(r), counted);
    hw_retrieval_result_free(r);
}

/* Lines of a file not starting with '#'. */
static int data_lines(const char *file) {
    char *s = slurp(file);
    int n = 0;
    for (char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) n += *l != '#';
    free(s);
    return n;
}

static void retrieval_stopped_keeps_log_and_resumes(void) {
    hw_retrieval_params p = small_retrieval(path("stop.json"));
    progress_log pl = {.stop_after = 3, .monotonic = 1};
    hw_retrieval_result *r = NULL;
    hw_status s = hw_retrieval_run(model, tok, &p, on_progress, &pl, &r);
    CHECK(s == HW_ERR_ARG && !r && strstr(hw_last_error(), "stopped by the caller"), "%d %s", s, hw_last_error());
    CHECK(data_lines(path("stop.json.trials")) == 3, "log holds %d trials", data_lines(path("stop.json.trials")));
    CHECK(access(path("stop.json"), F_OK) != 0 && access(path("stop.json.partial.json"), F_OK) == 0,
          "a stopped run wrote its JSON, or no partial one");
    hw_head_scores *part = hw_head_scores_read(path("stop.json.partial.json"));
    CHECK(part && hw_head_scores_layers(part) == hw_model_config(model)->n_layer, "partial JSON unreadable");
    hw_head_scores_free(part);
    /* Another setting is refused, naming it; the log is untouched. */
    hw_retrieval_params other = p;
    other.niah.max_new = 20;
    s = hw_retrieval_run(model, tok, &other, NULL, NULL, &r);
    CHECK(s != HW_OK && strstr(hw_last_error(), "max_new is '50' there, '20' now"), "%s", hw_last_error());
    CHECK(data_lines(path("stop.json.trials")) == 3, "a refused run changed the log");
    /* The rerun resumes the 3 and runs the other 9, to the uninterrupted bytes. */
    pl = (progress_log){.monotonic = 1};
    s = hw_retrieval_run(model, tok, &p, on_progress, &pl, &r);
    CHECK(s == HW_OK && r && hw_retrieval_result_trials_run(r) == 9 && pl.calls == 1 + 9,
          "%s; run %d, %d progress calls", hw_last_error(), hw_retrieval_result_trials_run(r), pl.calls);
    CHECK(same_files(path("stop.json"), path("cli.json")), "resumed JSON");
    CHECK(access(path("stop.json.partial.json"), F_OK) != 0, "partial file left");
    hw_retrieval_result_free(r);
}

static void mask_test_run_equals_cli(void) {
    char args[4096];
    snprintf(args, sizeof args, "mask-test --prompts data/prompts/stories_copy.tsv --scores %s --top 2 --draws 3 "
             "--singles --seed 7 -o %s", path("cli.json"), path("cli_m.json"));
    CHECK(run_cli(args) == 0, "CLI");
    hw_mask_test_params p = hw_mask_test_params_default();
    hw_head_scores *s = hw_head_scores_read(path("cli.json"));
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_copy.tsv", 1);
    CHECK(s && ps, "%s", hw_last_error());
    p.scores = s;
    p.prompts = ps;
    p.top = 2;
    p.draws = 3;
    p.singles = 1;
    p.seed = 7;
    progress_log pl = {.monotonic = 1};
    hw_mask_test_result *r = NULL;
    CHECK(hw_mask_test_run(model, tok, &p, on_progress, &pl, &r) == HW_OK && r, "%s", hw_last_error());
    if (r) {
        CHECK(hw_mask_test_result_write(r, path("lib_m.json")) == HW_OK, "%s", hw_last_error());
        CHECK(same_files(path("lib_m.json"), path("cli_m.json")), "JSON");
        const int N = 40;
        CHECK(pl.calls == 2 + 3 + N && pl.last_total == 2 + 3 + N && pl.monotonic, "progress %d calls", pl.calls);
        int k;
        double ex, rc, base_ex, base_rc;
        const hw_head *top = hw_mask_test_result_top(r, &k, &ex, &rc);
        hw_mask_test_result_baseline(r, &base_ex, &base_rc);
        CHECK(k == 2 && top && base_ex <= base_rc + 1e-12, "top %d", k);
        /* Random draws avoid the top K; the single of rank 0 is the top head. */
        for (int d = 0; d < hw_mask_test_result_draw_count(r); d++) {
            const hw_head *h = hw_mask_test_result_draw(r, d, NULL, NULL);
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    CHECK(h[i].layer != top[j].layer || h[i].head != top[j].head, "draw %d holds a top head", d);
        }
        hw_head h0;
        CHECK(hw_mask_test_result_single(r, 0, &h0, NULL, NULL) == HW_OK && h0.layer == top[0].layer &&
                  h0.head == top[0].head && hw_mask_test_result_single_count(r) == N,
              "singles");
    }
    hw_mask_test_result_free(r);
    /* Stopped by the progress callback: an error, no result. */
    r = NULL;
    progress_log stop = {.stop_after = 2};
    CHECK(hw_mask_test_run(model, tok, &p, on_progress, &stop, &r) == HW_ERR_ARG && !r && stop.calls == 2,
          "stop: %s", hw_last_error());
    hw_head_scores_free(s);
    hw_prompts_free(ps);
}

static void mask_test_refuses_a_ranking_of_ties(void) {
    const hw_config *cfg = hw_model_config(model);
    hw_head_scores *s = hw_head_scores_new(cfg->n_layer, cfg->n_head);
    for (int l = 0; l < cfg->n_layer; l++)
        for (int h = 0; h < cfg->n_head; h++) hw_head_scores_append(s, l, h, 0);
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_copy.tsv", 1);
    hw_mask_test_params p = hw_mask_test_params_default();
    p.scores = s;
    p.prompts = ps;
    hw_mask_test_result *r = NULL;
    progress_log pl = {0};
    CHECK(hw_mask_test_run(model, tok, &p, on_progress, &pl, &r) == HW_ERR_ARG && !r && pl.calls == 0 &&
              strstr(hw_last_error(), "cannot choose the top 5 heads"),
          "%s", hw_last_error());
    /* One head above the zeros: a choice for K = 1, and for K = 3 two tie (a warning). */
    hw_head_scores_append(s, 2, 3, 1.0);
    p.top = 3;
    p.draws = 1;
    CHECK(hw_mask_test_run(model, tok, &p, NULL, NULL, &r) == HW_OK && hw_mask_test_result_ties(r) == 2, "%s",
          hw_last_error());
    hw_mask_test_result_free(r);
    hw_head_scores_free(s);
    hw_prompts_free(ps);
}

static void scale_sweep_run_equals_cli(void) {
    char args[4096];
    snprintf(args, sizeof args, "sweep scale --head 4.3 --prompts data/prompts/stories_recall.tsv --scales 0,1,2.5 -o %s",
             path("cli_s.json"));
    CHECK(run_cli(args) == 0, "CLI");
    snprintf(args, sizeof args, "sweep scale --head 4.3 --prompts data/prompts/stories_recall.tsv --from 0 --to 2 "
             "--steps 3 -o %s", path("cli_s.tsv"));
    CHECK(run_cli(args) == 0, "CLI");
    hw_prompts *ps = hw_prompts_read("data/prompts/stories_recall.tsv", 2);
    const double scales[] = {0, 1, 2.5};
    hw_scale_sweep_params p = hw_scale_sweep_params_default();
    p.head = (hw_head){4, 3};
    p.prompts = ps;
    p.scales = scales;
    p.n_scales = 3;
    progress_log pl = {.monotonic = 1};
    hw_scale_sweep_result *r = NULL;
    CHECK(hw_scale_sweep_run(model, tok, &p, on_progress, &pl, &r) == HW_OK && r, "%s", hw_last_error());
    CHECK(r && hw_scale_sweep_result_write(r, path("lib_s.json")) == HW_OK &&
              same_files(path("lib_s.json"), path("cli_s.json")),
          "JSON");
    CHECK(pl.calls == 3 * hw_prompts_count(ps) && pl.monotonic, "progress %d calls", pl.calls);
    /* Scale 1 is the unmodified model: the same rates as a run without hooks. */
    double s1, ctx1, mem1;
    CHECK(hw_scale_sweep_result_get(r, 1, &s1, &ctx1, &mem1) == HW_OK && s1 == 1, "get");
    hw_context *c = hw_context_new(model, 0);
    float *logits = malloc(sizeof(float) * (size_t)hw_model_config(model)->vocab_size);
    int ctx_hits = 0, mem_hits = 0, n = hw_prompts_count(ps);
    for (int i = 0; i < n; i++) {
        int *ids, k = hw_tokenizer_encode_alloc(tok, hw_prompts_text(ps, i), HW_TOK_BOS, &ids);
        hw_context_reset(c);
        hw_forward(c, ids, k, HW_LOGITS_LAST, logits);
        int best = hw_argmax(logits, hw_model_config(model)->vocab_size);
        ctx_hits += best == hw_tokenizer_answer_token(tok, hw_prompts_answer(ps, i, 1));
        mem_hits += best == hw_tokenizer_answer_token(tok, hw_prompts_answer(ps, i, 0));
        free(ids);
    }
    CHECK(fabs(ctx1 - (double)ctx_hits / n) < 1e-9 && fabs(mem1 - (double)mem_hits / n) < 1e-9,
          "scale 1: %g %g vs %d %d of %d", ctx1, mem1, ctx_hits, mem_hits, n);
    free(logits);
    hw_context_free(c);
    hw_scale_sweep_result_free(r);
    /* linspace and the TSV writer. */
    p.scales = NULL;
    p.from = 0;
    p.to = 2;
    p.steps = 3;
    r = NULL;
    CHECK(hw_scale_sweep_run(model, tok, &p, NULL, NULL, &r) == HW_OK &&
              hw_scale_sweep_result_write_tsv(r, path("lib_s.tsv")) == HW_OK &&
              same_files(path("lib_s.tsv"), path("cli_s.tsv")),
          "TSV %s", hw_last_error());
    hw_scale_sweep_result_free(r);
    /* Non-finite scales are refused; a stop from the callback is an error. */
    const double bad[] = {1, NAN};
    p.scales = bad;
    p.n_scales = 2;
    r = NULL;
    CHECK(hw_scale_sweep_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && !r, "nan scale accepted");
    p.scales = scales;
    p.n_scales = 3;
    progress_log stop = {.stop_after = 4};
    CHECK(hw_scale_sweep_run(model, tok, &p, on_progress, &stop, &r) == HW_ERR_ARG && !r && stop.calls == 4,
          "stop: %s", hw_last_error());
    hw_prompts_free(ps);
}

static void output_prepare_makes_folders(void) {
    CHECK(hw_output_prepare(path("x/y/z.json")) == HW_OK, "%s", hw_last_error());
    CHECK(access(path("x/y"), W_OK) == 0 && access(path("x/y/z.json"), F_OK) != 0, "folder made, no file left");
    FILE *f = fopen(path("plain"), "w");
    if (f) fclose(f);
    CHECK(hw_output_prepare(path("plain/z.json")) == HW_ERR_IO && strstr(hw_last_error(), "not a folder"), "%s",
          hw_last_error());
    CHECK(hw_output_prepare(path("x")) == HW_ERR_IO && strstr(hw_last_error(), "is a folder"), "%s",
          hw_last_error());
}

/* ---------------------------------------------------------------- the retrieval organism */

static void organism_retrieval_equals_cli(void) {
    char args[4096];
    snprintf(args, sizeof args, "score retrieval --task retrieval --samples 40 -o %s", path("ocli.json"));
    CHECK(run_cli(args) == 0, "CLI");
    hw_retrieval_params p = hw_retrieval_params_default();
    p.task.name = "retrieval";
    p.task.samples = 40;
    p.out = path("olib.json");
    progress_log pl = {.monotonic = 1};
    hw_retrieval_result *r = NULL;
    CHECK(hw_retrieval_run(model, tok, &p, on_progress, &pl, &r) == HW_OK && r, "%s", hw_last_error());
    CHECK(same_files(path("olib.json"), path("ocli.json")), "JSON");
    CHECK(pl.calls == 40 && hw_retrieval_result_trials(r) == 40, "progress %d", pl.calls);
    hw_retrieval_result_free(r);
    /* The mask test on the task (greedy: decode-only masking). */
    snprintf(args, sizeof args, "mask-test --task retrieval --samples 30 --scores %s --top 2 --draws 2 -o %s",
             path("ocli.json"), path("omcli.json"));
    CHECK(run_cli(args) == 0, "CLI");
    hw_mask_test_params mp = hw_mask_test_params_default();
    hw_head_scores *s = hw_head_scores_read(path("ocli.json"));
    mp.scores = s;
    mp.task.name = "retrieval";
    mp.task.samples = 30;
    mp.top = 2;
    mp.draws = 2;
    hw_mask_test_result *mr = NULL;
    CHECK(hw_mask_test_run(model, tok, &mp, NULL, NULL, &mr) == HW_OK && mr &&
              hw_mask_test_result_phase(mr) == HW_PHASE_DECODE,
          "%s", hw_last_error());
    CHECK(mr && hw_mask_test_result_write(mr, path("omlib.json")) == HW_OK &&
              same_files(path("omlib.json"), path("omcli.json")),
          "mask-test JSON");
    /* Unmasked, the hooked evaluation's exact rate is the baseline. */
    hw_task *t = hw_task_new_for_model(model, &mp.task);
    hw_context *c = hw_context_new(model, 0);
    double acc = -1, acc2 = -1, base_ex, base_rc;
    hw_mask_test_result_baseline(mr, &base_ex, &base_rc);
    CHECK(t && hw_task_is_greedy(t) &&
              hw_task_evaluate_hooked(t, c, mp.task.seed, 30, NULL, &acc, &acc2) == HW_OK && acc == base_ex &&
              acc2 == base_rc && acc <= acc2,
          "%g %g vs %g %g", acc, acc2, base_ex, base_rc);
    hw_context_free(c);
    hw_task_free(t);
    hw_mask_test_result_free(mr);
    hw_head_scores_free(s);
}

int main(int argc, char **argv) {
    int organism = argc > 1 && !strcmp(argv[1], "organism");
    char self[1024];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(cli, sizeof cli, "%s/../headwise", dirname(self));
    snprintf(tmp, sizeof tmp, "/tmp/hw_protocols.XXXXXX");
    if (!mkdtemp(tmp)) return perror("mkdtemp"), 1;
    hw_set_threads(2);
    if (organism) {
        const char *dir = getenv("HW_ORGANISM_RETRIEVAL");
        if (!dir) return fprintf(stderr, "test_protocols organism: set HW_ORGANISM_RETRIEVAL\n"), 1;
        model = hw_model_load(dir);
        tok = model ? hw_tokenizer_load(dir, 0) : NULL;
        snprintf(model_args, sizeof model_args, "-m '%s'", dir);
    } else {
        model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
        tok = model ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512) : NULL;
        snprintf(model_args, sizeof model_args, "-m '%s' -z '%s'", shared_path("models/stories260K/stories260K.bin"),
                 shared_path("models/stories260K/tok512.bin"));
    }
    if (!model || !tok) return fprintf(stderr, "test_protocols: %s (set HW_SHARED)\n", hw_last_error()), 1;
    if (organism) {
        RUN(organism_retrieval_equals_cli);
    } else {
        RUN(niah_grid_checked_whole);
        RUN(retrieval_run_equals_cli);
        RUN(retrieval_stopped_keeps_log_and_resumes);
        RUN(mask_test_run_equals_cli);
        RUN(mask_test_refuses_a_ranking_of_ties);
        RUN(scale_sweep_run_equals_cli);
        RUN(output_prepare_makes_folders);
    }
    hw_tokenizer_free(tok);
    hw_model_free(model);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    if (system(rm)) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
