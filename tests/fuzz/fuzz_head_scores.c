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
    const int L = hw_head_scores_layers(s), H = hw_head_scores_heads(s);
    if ((int64_t)L * H > 4096) {
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
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            int n, rn;
            const double *a = hw_head_scores_values(s, l, h, &n), *b = hw_head_scores_values(r, l, h, &rn);
            if (rn != n) abort(); /* outside r's grid: rn = 0 */
            for (int k = 0; k < n; k++)
                if (memcmp(&a[k], &b[k], sizeof(double)) != 0) abort();
        }
    hw_head_scores_free(r);
    hw_head_scores_free(s);
    return 0;
}
