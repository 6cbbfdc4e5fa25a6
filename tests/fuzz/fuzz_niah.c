/* fuzz_niah.c: the needle-in-a-haystack inputs of `score retrieval` and `mask-test`
 * (src/eval/niah.c): the --needles file (JSON lines: needle, question, real_needle), a
 * --haystack file, and the --template and --lengths values, read by hw_niah_new (the
 * lengths by hw_niah_parse_lengths) and made into trial prompts by
 * hw_niah_trial_prompt, with stories260K and its tok512.bin ($HW_SHARED, default
 * ../shared), loaded once.
 *
 * Input: needles NUL haystack NUL template NUL lengths (an empty or missing
 * template or lengths part: the default). */
#include "fuzz.h"
#include "headwise.h"

static hw_model *model;
static hw_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hw_set_threads(1);
    const char *shared = getenv("HW_SHARED");
    char p[4096];
    snprintf(p, sizeof p, "%s/models/stories260K/stories260K.bin", shared ? shared : "../shared");
    model = hw_model_load(p);
    snprintf(p, sizeof p, "%s/models/stories260K/tok512.bin", shared ? shared : "../shared");
    tok = model ? hw_tokenizer_load(p, hw_model_config(model)->vocab_size) : NULL;
    if (!tok) {
        fprintf(stderr, "fuzz_niah: %s (set HW_SHARED)\n", hw_last_error());
        abort(); /* the harness, not the reader, is broken */
    }
    return 0;
}

/* Part `s` as a NUL-terminated string (malloc'd), or NULL when it is empty. */
static char *part(const uint8_t *s, size_t n) {
    if (n == 0) return NULL;
    char *c = malloc(n + 1);
    if (!c) abort();
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *needles, *hay, *tpl, *lens, *rest;
    size_t needles_n, hay_n, tpl_n, lens_n, rest_n;
    fuzz_split(data, size, &needles, &needles_n, &rest, &rest_n);
    fuzz_split(rest, rest_n, &hay, &hay_n, &rest, &rest_n);
    fuzz_split(rest, rest_n, &tpl, &tpl_n, &lens, &lens_n);
    char *template_text = part(tpl, tpl_n), *lengths_text = part(lens, lens_n);
    hw_niah_params p = hw_niah_params_default();
    p.n_depths = 3;
    p.needles_path = fuzz_file("needles.jsonl", needles, needles_n);
    const char *hay_path = fuzz_file("haystack.txt", hay, hay_n);
    p.haystack_paths = &hay_path;
    p.n_haystacks = 1;
    p.template_text = template_text;
    hw_niah *n = NULL;
    if (!lengths_text || hw_niah_parse_lengths(lengths_text, &p) == HW_OK) n = hw_niah_new(model, tok, &p);
    fuzz_note(n != NULL);
    const hw_config *cfg = hw_model_config(model);
    const int N = hw_niah_trial_count(n), per_needle = n ? N / hw_niah_needle_count(n) : 0;
    /* The first and last needle's trials at the shortest and longest length, every
     * depth: every other trial repeats one of these with other numbers. The whole grid
     * was checked when n was made, so every trial must build. */
    for (int i = 0; i < N; i++) {
        int needle, length, depth, first_len, last_len;
        hw_niah_trial_key(n, i, &needle, &length, &depth);
        hw_niah_trial_key(n, needle * per_needle, NULL, &first_len, NULL);
        hw_niah_trial_key(n, (needle + 1) * per_needle - 1, NULL, &last_len, NULL);
        if ((needle != 0 && needle != hw_niah_needle_count(n) - 1) || (length != first_len && length != last_len))
            continue;
        int *prompt = NULL, s0, s1, n_ans;
        int k = hw_niah_trial_prompt(n, i, &prompt, &s0, &s1);
        if (k < 0) abort();
        for (int j = 0; j < k; j++)
            if (prompt[j] < 0 || prompt[j] >= cfg->vocab_size) abort();
        /* Room for the answer; the needle span starts inside the prompt and is as long
         * as the answer (it may run past the end, as the paper's does; hw_retrieval_step
         * reads only ids inside the prompt). */
        hw_niah_answer_ids(n, needle, &n_ans);
        if (k + hw_niah_max_new(n) > cfg->n_ctx || (s0 >= 0 && !(s0 < k && s1 == s0 + n_ans))) abort();
        free(prompt);
    }
    hw_niah_free(n);
    free(template_text);
    free(lengths_text);
    return 0;
}
