/* interventions.c: the head intervention flags every model-running command shares. */
#include "cli.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_MASK, KIND_ZERO, KIND_SCALE, KIND_MEAN };
#define MAX_EDITS 32
#define MAX_HEADS 4096
#define MAX_LIST 4096 /* bytes of one intervention's head list */

struct cli_interventions {
    struct {
        int kind;
        const char *heads;  /* "L.H,..." */
        float scale;
    } edits[MAX_EDITS];
    int n;
    hw_phase phase;
    const char *mean_ref;
    float *mean_z;          /* (L, H, Dh), kept for the hooks' lifetime */
};

const char *cli_interventions_help(void) {
    return "  --mask-uniform HEADS   heads attend uniformly (pre-softmax scores set to 0)\n"
           "  --zero-output HEADS    heads' outputs (z) set to 0\n"
           "  --scale HEADS=S        heads' outputs (equivalently values) times S\n"
           "  --mean-ablate HEADS    heads' outputs replaced by their mean over --mean-ref\n"
           "  --mean-ref FILE        reference prompts for --mean-ablate, one per line (a prompts\n"
           "                         file: '#' comments, \\n for a newline, text after a tab unused)\n"
           "  --phase P              when interventions act: both (default), prefill, decode\n"
           "  HEADS is LAYER.HEAD[,LAYER.HEAD...], query-head indices from 0\n";
}

hw_phase cli_interventions_phase(const cli_interventions *iv) { return iv->phase; }

cli_interventions *cli_interventions_new(void) {
    cli_interventions *iv = calloc(1, sizeof *iv);
    if (iv) iv->phase = HW_PHASE_BOTH;
    return iv;
}

void cli_interventions_free(cli_interventions *iv) {
    if (!iv) return;
    free(iv->mean_z);
    free(iv);
}

int cli_interventions_flag(cli_interventions *iv, const char *cmd, int argc, char **argv, int *i) {
    static const struct { const char *flag; int kind; } kinds[] = {
        {"--mask-uniform", KIND_MASK}, {"--zero-output", KIND_ZERO},
        {"--scale", KIND_SCALE}, {"--mean-ablate", KIND_MEAN}};
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--phase")) {
        if (cli_value(cmd, argc, argv, i, &v)) return 2;
        if (!strcmp(v, "both")) iv->phase = HW_PHASE_BOTH;
        else if (!strcmp(v, "prefill")) iv->phase = HW_PHASE_PREFILL;
        else if (!strcmp(v, "decode")) iv->phase = HW_PHASE_DECODE;
        else return cli_usage_error(cmd, "--phase: '%s' is not both, prefill or decode", v);
        return 1;
    }
    if (!strcmp(a, "--mean-ref")) return cli_value(cmd, argc, argv, i, &iv->mean_ref) ? 2 : 1;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strcmp(a, kinds[k].flag)) continue;
        if (cli_value(cmd, argc, argv, i, &v)) return 2;
        if (iv->n == MAX_EDITS) return cli_usage_error(cmd, "more than %d interventions", MAX_EDITS);
        /* cli_interventions_add copies the list into a buffer of MAX_LIST bytes. */
        if (strlen(v) >= MAX_LIST)
            return cli_usage_error(cmd, "%s: a head list of %zu bytes (at most %d)", a, strlen(v),
                                   MAX_LIST - 1);
        iv->edits[iv->n].kind = kinds[k].kind;
        iv->edits[iv->n].heads = v;
        iv->edits[iv->n].scale = 1.0f;
        if (kinds[k].kind == KIND_SCALE) {
            const char *eq = strrchr(v, '=');
            double s;
            if (!eq || cli_number(eq + 1, &s))
                return cli_usage_error(cmd, "--scale: '%s' is not HEADS=S with S a finite number "
                                       "(e.g. 4.2=2.0)", v);
            /* A double past float's range would become inf in the hooks. */
            if (fabs(s) > FLT_MAX)
                return cli_usage_error(cmd, "--scale: %s is out of range", eq + 1);
            iv->edits[iv->n].scale = (float)s;
        }
        iv->n++;
        return 1;
    }
    return 0;
}

/* mean z over the prompts of iv->mean_ref (a prompts file, hw_prompts_read). */
static int mean_from_file(cli_interventions *iv, const char *cmd, const hw_model *m,
                          const hw_tokenizer *t) {
    if (!iv->mean_ref) return cli_usage_error(cmd, "--mean-ablate needs --mean-ref FILE");
    hw_prompts *ps = hw_prompts_read(iv->mean_ref, 0);
    if (!ps) return cli_error(cmd, "%s", hw_last_error());
    const hw_config *cfg = hw_model_config(m);
    int n = hw_prompts_count(ps), rc = 0;
    int **seqs = calloc((size_t)n, sizeof *seqs), *lens = calloc((size_t)n, sizeof *lens);
    if (!seqs || !lens) rc = cli_error(cmd, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        lens[i] = hw_tokenizer_encode_alloc(t, hw_prompts_text(ps, i), HW_TOK_BOS, &seqs[i]);
        if (lens[i] < 0) rc = cli_error(cmd, "%s: %s", iv->mean_ref, hw_last_error());
        else if (lens[i] == 0 || lens[i] > cfg->n_ctx)
            rc = cli_error(cmd, "%s: prompt %d of %d tokens does not fit the context (%d)",
                           iv->mean_ref, i + 1, lens[i], cfg->n_ctx);
    }
    if (!rc && !(iv->mean_z = malloc(sizeof(float) * cfg->n_layer * cfg->n_head * cfg->head_dim)))
        rc = cli_error(cmd, "out of memory");
    if (!rc && hw_mean_z(m, (const int *const *)seqs, lens, n, iv->mean_z) != HW_OK)
        rc = cli_error(cmd, "mean z: %s", hw_last_error());
    for (int i = 0; seqs && i < n; i++) free(seqs[i]);
    free(seqs);
    free(lens);
    hw_prompts_free(ps);
    return rc;
}

int cli_interventions_add(cli_interventions *iv, const char *cmd, const hw_model *m,
                          const hw_tokenizer *t, hw_hooks *hooks) {
    static hw_head heads[MAX_HEADS];
    for (int e = 0; e < iv->n; e++) {
        char list[MAX_LIST];
        snprintf(list, sizeof list, "%s", iv->edits[e].heads);
        if (iv->edits[e].kind == KIND_SCALE) *strrchr(list, '=') = 0;
        int n = hw_heads_parse(m, list, heads, MAX_HEADS);
        if (n < 0) return cli_usage_error(cmd, "%s", hw_last_error());
        hw_status st = HW_OK;
        switch (iv->edits[e].kind) {
        case KIND_MASK: st = hw_hooks_mask_uniform(hooks, heads, n, iv->phase); break;
        case KIND_ZERO: st = hw_hooks_zero_output(hooks, heads, n, iv->phase); break;
        case KIND_SCALE: st = hw_hooks_scale(hooks, heads, n, iv->edits[e].scale, iv->phase); break;
        case KIND_MEAN:
            if (!iv->mean_z) {
                int rc = mean_from_file(iv, cmd, m, t);
                if (rc) return rc;
            }
            st = hw_hooks_mean_ablate(hooks, heads, n, iv->mean_z, iv->phase);
            break;
        }
        if (st != HW_OK) return cli_error(cmd, "%s", hw_last_error());
    }
    return 0;
}
