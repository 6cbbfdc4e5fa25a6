/* fuzz_head_scores.c: head-score JSON files ({"LAYER-HEAD": [scores]}, the
 * Retrieval Head repository's layout) as hw_head_scores_read takes them. A file
 * that reads must write back (atomically) and read again to the same scores. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hw_head_scores *s = hw_head_scores_read(fuzz_file("scores.json", data, size));
    fuzz_note(s != NULL);
    if (!s) return 0;
    /* Round trips of huge grids ("999999-0" alone makes a million heads) cost
     * megabytes of output each; the reader has been exercised already. */
    if ((int64_t)s->L * s->H > 4096) {
        hw_head_scores_free(s);
        return 0;
    }
    char out[600];
    snprintf(out, sizeof out, "%s/again.json", fuzz_dir());
    if (hw_head_scores_write(s, out) != HW_OK) abort();
    hw_head_scores *r = hw_head_scores_read(out);
    if (!r) abort(); /* what headwise writes, headwise reads */
    /* A head listed with no scores is not written back as a key, so the
     * grid of r may be smaller; every score must survive, bit for bit. */
    for (int l = 0; l < s->L; l++)
        for (int h = 0; h < s->H; h++) {
            int i = l * s->H + h, n = s->count[i];
            int j = l < r->L && h < r->H ? l * r->H + h : -1;
            if (j < 0 ? n != 0 : r->count[j] != n) abort();
            for (int k = 0; k < n; k++)
                if (memcmp(&s->values[i][k], &r->values[j][k], sizeof(double)) != 0) abort();
        }
    hw_head_scores_free(r);
    hw_head_scores_free(s);
    return 0;
}
