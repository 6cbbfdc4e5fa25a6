/* fuzz_score_files.c: the text files the head scorers read, with stories260K's
 * tok512.bin ($HW_SHARED, default ../shared), loaded once:
 *   0  a prompts TSV (score attribution, sweep, mask-test: hw_prompts_read), each
 *      prompt encoded and each answer made a token as the protocols do;
 *   1  a --tasks file of `score successor` (hw_successor_tasks_read);
 *   2  the FILE.trials resume log of `score retrieval` (hw_retrieval_log_read,
 *      src/methods/retrieval_log.c), for a model of 5 x 8 heads, the settings in
 *      `log_settings` and a grid of 2 needles x lengths 100, 200 x depths 0, 50, 100,
 *      then reopened for appending (cut to its last whole line).
 *
 * Input: one byte (its low two bits, modulo 3, pick the reader; for prompts, bit 2
 * asks for 2 answers instead of 1), then the file. */
#include "fuzz.h"
#include "../../src/methods/retrieval_log.h"

static hw_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tok = fuzz_stories_tokenizer("fuzz_score_files");
    return 0;
}

static void prompts(const char *path, int n_ans) {
    hw_prompts *ps = hw_prompts_read(path, n_ans);
    fuzz_note(ps != NULL);
    const int V = hw_tokenizer_vocab_size(tok);
    for (int i = 0; i < hw_prompts_count(ps); i++) {
        int *ids = NULL;
        if (!hw_prompts_text(ps, i)) abort();
        int k = hw_tokenizer_encode_alloc(tok, hw_prompts_text(ps, i), HW_TOK_BOS, &ids);
        for (int j = 0; j < k; j++)
            if (ids[j] < 0 || ids[j] >= V) abort();
        free(ids);
        for (int a = 0; a < n_ans; a++) {
            if (!hw_prompts_answer(ps, i, a)) abort(); /* the reader promised n_ans answers */
            int id = hw_tokenizer_answer_token(tok, hw_prompts_answer(ps, i, a));
            if (id >= V) abort();
        }
    }
    hw_prompts_free(ps);
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

static const char log_settings[] = "# setting lengths 100,200\n# setting depths 0,50,100\n";

static void trial_log(const char *path) {
    enum { L = 5, H = 8, N = 12 };
    hw_head_scores *s = hw_head_scores_new(L, H);
    if (!s) abort();
    hw_trial_key keys[N];
    for (int i = 0; i < N; i++) keys[i] = (hw_trial_key){i / 6, i / 3 % 2 ? 200 : 100, i % 3 * 50};
    unsigned char done[N] = {0};
    int n_done;
    long good_end;
    hw_status st = hw_retrieval_log_read(path, L, H, log_settings, keys, N, done, &n_done, s, &good_end);
    fuzz_note(st == HW_OK);
    int marked = 0, counted;
    for (int i = 0; i < N; i++) marked += done[i];
    hw_head_scores_values(s, 0, 0, &counted);
    if (st == HW_OK && (marked != n_done || counted > n_done)) abort();
    double mean[L * H];
    hw_head_scores_mean(s, mean);
    if (st == HW_OK) {
        FILE *f = hw_retrieval_log_open(path, L, H, log_settings, good_end);
        /* Appending goes after the last whole line: a fresh log is its header alone. */
        struct stat sb;
        if (f && (fstat(fileno(f), &sb) != 0 ||
                  sb.st_size != (good_end > 0 ? good_end : (long)(strlen(log_settings) + 36))))
            abort();
        if (f) fclose(f);
    }
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
