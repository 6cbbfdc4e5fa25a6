/* fuzz_niah.c: the needle-in-a-haystack inputs of `score retrieval` and `mask-test`
 * (cli/niah.c): the --needles file (JSON lines: needle, question, real_needle), a
 * --haystack file, and the --template and --lengths values, read by niah_prepare
 * and made into trial prompts by niah_prompt, with stories260K and its tok512.bin
 * ($HW_SHARED, default ../shared), loaded once.
 *
 * Input: needles NUL haystack NUL template NUL lengths (an empty or missing
 * template or lengths part: the default). */
#include "fuzz.h"
#include "../../cli/niah.h"

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
    niah n = {.cmd = "fuzz", .m = model, .t = tok, .buffer = -1, .depth_count = 3};
    n.needles_path = fuzz_file("needles.jsonl", needles, needles_n);
    n.hay_paths[n.n_hay_paths++] = fuzz_file("haystack.txt", hay, hay_n);
    n.template_text = template_text;
    n.lengths_text = lengths_text;
    int bad = niah_prepare(&n);
    fuzz_note(!bad);
    const int V = hw_model_config(model)->vocab_size;
    /* The first and last needle, at the shortest and longest length, at each depth:
     * every other trial repeats one of these with other numbers. */
    for (int i = 0; !bad && i < n.n_needles; i += n.n_needles > 1 ? n.n_needles - 1 : 1)
        for (int li = 0; li < n.n_lengths; li += n.n_lengths > 1 ? n.n_lengths - 1 : 1)
            for (int di = 0; di < n.n_depths; di++) {
                int *prompt = NULL, s0, s1;
                int k = niah_prompt(&n, i, n.lengths[li], n.depths[di], &prompt, &s0, &s1);
                if (k < 0) continue;
                for (int j = 0; j < k; j++)
                    if (prompt[j] < 0 || prompt[j] >= V) abort();
                /* Room for the answer; the needle span starts inside the prompt and is
                 * as long as the answer (it may run past the end, as the paper's does;
                 * hw_retrieval_step reads only ids inside the prompt). */
                const niah_needle *nd = &n.needles[i];
                if (k + n.max_new > hw_model_config(model)->n_ctx ||
                    (s0 >= 0 && !(s0 < k && s1 == s0 + nd->n_answer_ids)))
                    abort();
                free(prompt);
            }
    niah_free(&n);
    free(template_text);
    free(lengths_text);
    return 0;
}
