/*
 * bench_cdt.c: the time to find a circuit by CD-T against path patching (methods.md
 * section 8: the paper finds CD-T faster than the patching it is compared with), on one
 * model and task's prompt pairs, measured in the same run in interleaved rounds:
 *   cdt   hw_cdt_run without the faithfulness curve: every head's decomposition per prompt
 *         and discovery (what `headwise cdt --no-faithfulness` does)
 *   path  hw_path_patch_run with every head as a sender and every later head's q, k and v
 *         and the logits as receivers: the sweep that finds the same edges by patching
 * Prints each median and the ratio path / cdt (aim >= 2).
 *
 *   bench_cdt MODEL TASK [PAIRS] [ROUNDS]     (TASK: induction or mcq)
 */
#include "bench_util.h"

static double time_cdt(const hw_model *m, const hw_prompt_pairs *pp) {
    hw_cdt_params p = hw_cdt_params_default();
    p.faithfulness = 0;
    hw_cdt_result *r = NULL;
    double t0 = bench_now();
    if (hw_cdt_run(m, pp, &p, NULL, NULL, &r)) fprintf(stderr, "bench_cdt: %s\n", hw_last_error()), exit(1);
    double t = bench_now() - t0;
    hw_cdt_result_free(r);
    return t;
}

static double time_path(const hw_model *m, const hw_prompt_pairs *pp) {
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head;
    hw_head *snd = malloc(sizeof *snd * (size_t)(L * H));
    hw_path_receiver *rcv = malloc(sizeof *rcv * (size_t)((L - 1) * (H + 2 * Hk) + 1));
    int nr = 0;
    for (int k = 0; k < L * H; k++) snd[k] = (hw_head){k / H, k % H};
    for (int l = 1; l < L; l++) {
        for (int h = 0; h < H; h++) rcv[nr++] = (hw_path_receiver){l, h, HW_HOOK_Q};
        for (int h = 0; h < Hk; h++) rcv[nr++] = (hw_path_receiver){l, h, HW_HOOK_K};
        for (int h = 0; h < Hk; h++) rcv[nr++] = (hw_path_receiver){l, h, HW_HOOK_V};
    }
    rcv[nr++] = (hw_path_receiver){0, 0, HW_HOOK_LOGITS};
    hw_path_patch_params p = hw_path_patch_params_default();
    p.senders = snd, p.n_senders = L * H, p.receivers = rcv, p.n_receivers = nr;
    hw_path_patch_result *r = NULL;
    double t0 = bench_now();
    if (hw_path_patch_run(m, pp, &p, NULL, NULL, &r)) fprintf(stderr, "bench_cdt: %s\n", hw_last_error()), exit(1);
    double t = bench_now() - t0;
    hw_path_patch_result_free(r);
    free(snd);
    free(rcv);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_cdt MODEL TASK [PAIRS] [ROUNDS]\n");
        return 2;
    }
    const int pairs = argc > 3 ? atoi(argv[3]) : 20, rounds = argc > 4 ? atoi(argv[4]) : 5;
    hw_model *m = hw_model_load(argv[1]);
    hw_prompt_pairs *pp = m ? hw_prompt_pairs_task(m, argv[2], pairs, 0, 12345) : NULL;
    if (!pp) {
        fprintf(stderr, "bench_cdt: %s\n", hw_last_error());
        return 1;
    }
    double tc[64], tp[64];
    int n = rounds < 64 ? rounds : 64;
    for (int i = 0; i < n; i++) { /* interleaved, the order alternating */
        if (i % 2) tp[i] = time_path(m, pp), tc[i] = time_cdt(m, pp);
        else tc[i] = time_cdt(m, pp), tp[i] = time_path(m, pp);
    }
    double c = bench_median(tc, n), p = bench_median(tp, n);
    const hw_config *cfg = hw_model_config(m);
    printf("circuit discovery on %s (%d x %d heads), %s, %d pairs, median of %d interleaved rounds (load %.2f):\n",
           argv[1], cfg->n_layer, cfg->n_head, argv[2], pairs, n, bench_load_average());
    printf("  cdt   %.4f s\n  path  %.4f s (every head -> every later q, k, v and the logits)\n", c, p);
    printf("  ratio path/cdt %.2fx (aim >= 2)\n", p / c);
    hw_prompt_pairs_free(pp);
    hw_model_free(m);
    return 0;
}
