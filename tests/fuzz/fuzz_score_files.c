/* fuzz_score_files.c: the text files the head scorers read (cli/score_*.c), with
 * stories260K's tok512.bin ($HW_SHARED, default ../shared), loaded once:
 *   0  a prompts TSV (score attribution, sweep, mask-test: score_read_prompts), each
 *      prompt encoded and each answer made a token as the scorers do;
 *   1  a --tasks file of `score successor` (hw_successor_tasks_read, in the library);
 *   2  the FILE.trials resume log of `score retrieval` (retrieval_read_log), for a
 *      model of 5 x 8 heads.
 *
 * Input: one byte (its low two bits, modulo 3, pick the reader; for prompts, bit 2
 * asks for 2 answers instead of 1), then the file. */
#include "fuzz.h"
#include "../../cli/score_common.h"

static hw_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *shared = getenv("HW_SHARED");
    char p[4096];
    snprintf(p, sizeof p, "%s/models/stories260K/tok512.bin", shared ? shared : "../shared");
    tok = hw_tokenizer_load(p, 0);
    if (!tok) {
        fprintf(stderr, "fuzz_score_files: %s (set HW_SHARED)\n", hw_last_error());
        abort(); /* the harness, not the readers, is broken */
    }
    return 0;
}

static void prompts(const char *path, int n_ans) {
    score_prompt *ps;
    int n;
    int bad = score_read_prompts("fuzz", path, n_ans, &ps, &n);
    fuzz_note(!bad);
    const int V = hw_tokenizer_vocab_size(tok);
    for (int i = 0; !bad && i < n; i++) {
        int *ids = NULL;
        int k = ps[i].prompt ? score_encode("fuzz", tok, ps[i].prompt, HW_TOK_BOS, &ids) : -1;
        for (int j = 0; j < k; j++)
            if (ids[j] < 0 || ids[j] >= V) abort();
        free(ids);
        for (int a = 0; a < n_ans; a++) {
            if (!ps[i].ans[a]) abort(); /* the reader promised n_ans answers */
            int id = score_answer_token(tok, ps[i].ans[a]);
            if (id >= V) abort();
        }
    }
    score_free_prompts(ps, n); /* what was read before an error, too */
}

static void tasks(const char *path) {
    hw_successor_tasks *ts = hw_successor_tasks_read(tok, path);
    fuzz_note(ts != NULL);
    for (int k = 0; k < hw_successor_tasks_count(ts); k++) {
        hw_successor_task_info ti;
        if (hw_successor_tasks_get(ts, k, &ti) || !ti.name) abort();
        /* pairs of kept items need kept items: 0 <= pairs < single tokens <= items */
        if (ti.single_tokens < 0 || ti.single_tokens > ti.items || ti.pairs < 0 ||
            (ti.pairs && ti.pairs >= ti.single_tokens))
            abort();
    }
    hw_successor_tasks_free(ts);
}

static void trial_log(const char *path) {
    enum { L = 5, H = 8 };
    hw_head_scores *s = hw_head_scores_new(L, H);
    if (!s) abort();
    retrieval_trial_key *done;
    int n;
    int bad = retrieval_read_log("fuzz", path, L, H, s, &done, &n);
    fuzz_note(!bad);
    double mean[L * H];
    hw_head_scores_mean(s, mean);
    free(done);
    hw_head_scores_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fuzz_file("input.txt", data + 1, size - 1);
    switch ((data[0] & 3) % 3) {
    case 0: prompts(path, data[0] & 4 ? 2 : 1); break;
    case 1: tasks(path); break;
    case 2: trial_log(path); break;
    }
    return 0;
}
