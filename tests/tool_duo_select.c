/* tool_duo_select.c: DuoAttention's deployment rule on a head-importance file, for
 * duo_patterns_test.sh (a tool, not a test: tests/run.sh runs only test_*).
 *
 *   tool_duo_select FILE SPARSITY [SEED]
 *
 * reads FILE with hw_kv_head_scores_read (no model: its own grid, per KV head) and
 * applies hw_duo_select_sparsity (seed default HW_DUO_SEED). Prints on stdout
 *   kind K              gates, mask, retrieval or table
 *   shape L HK          the grid
 *   config SINK RECENT  config.json beside the file (-1 when absent)
 *   tau T               the threshold (%.17g)
 *   full N              heads full
 * then L lines of HK 0/1 values, the selection. */
#include "headwise.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tool_duo_select FILE SPARSITY [SEED]\n");
        return 2;
    }
    double sparsity = atof(argv[2]), *s, tau;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : HW_DUO_SEED;
    hw_kv_file_info in;
    if (hw_kv_head_scores_read(argv[1], NULL, 0, 0, 0, &s, &in)) {
        fprintf(stderr, "tool_duo_select: %s\n", hw_last_error());
        return 1;
    }
    const int n = in.n_layer * in.n_kv_head;
    int *full = malloc(sizeof(int) * (size_t)n);
    int kept = full ? hw_duo_select_sparsity(s, n, sparsity, seed, full, &tau) : -1;
    if (kept < 0) {
        fprintf(stderr, "tool_duo_select: %s\n", hw_last_error());
        return 1;
    }
    static const char *const kinds[] = {"retrieval", "table", "gates", "mask"};
    printf("kind %s\nshape %d %d\nconfig %d %d\ntau %.17g\nfull %d\n", kinds[in.kind], in.n_layer,
           in.n_kv_head, in.config_sink, in.config_recent, tau, kept);
    for (int i = 0; i < n; i++) printf("%d%c", full[i], (i + 1) % in.n_kv_head ? '\t' : '\n');
    free(full);
    free(s);
    return 0;
}
