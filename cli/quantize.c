/* quantize.c: `headwise quantize -m MODEL.gguf -o OUT.gguf --type T`: a GGUF model with
 * its matrices in one of ggml's block types (hw_quantize_gguf). */
#include "cli.h"

static const char help[] =
    "usage: headwise quantize -m MODEL.gguf -o OUT.gguf [--type q8_0|q4_0|q4_k|q6_k]\n"
    "Write MODEL (a GGUF file) with every matrix in TYPE (default q8_0), laid out as\n"
    "llama.cpp's llama-quantize writes it: metadata and tokenizer copied, norms and other\n"
    "1-D tensors kept, the output matrix (or a tied token embedding) in Q6_K unless TYPE\n"
    "is q8_0, rows that are not whole blocks in Q5_0 / Q8_0 / F16.\n"
    "  -m MODEL.gguf     the model to quantize\n"
    "  -o OUT.gguf       the output (written atomically)\n"
    "  --type TYPE       q8_0 (default), q4_0, q4_k, q6_k\n";

int cmd_quantize(int argc, char **argv) {
    const char *cmd = "quantize", *model = NULL, *out = NULL;
    int type = 0;
    static const char *types[] = {"q8_0", "q4_0", "q4_k", "q6_k"};
    const cli_flag flags[] = {{"-m", CLI_STR, &model}, {"-o", CLI_STR, &out},
                              {"--type", CLI_CHOICE, &type, 0, 0, "q8_0|q4_0|q4_k|q6_k"}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!model) return cli_usage_error(cmd, "no model: give -m MODEL.gguf");
    if (!out) return cli_usage_error(cmd, "no output file: give -o OUT.gguf");
    if (!strcmp(model, out)) return cli_usage_error(cmd, "-m and -o name the same file");
    hw_quantize_params p = hw_quantize_params_default();
    p.type = types[type];
    p.progress = cli_progress_counted;
    p.user = (void *)cmd;
    hw_quantize_summary s;
    if (hw_quantize_gguf(model, out, &p, &s) != HW_OK) {
        cli_progress_done();
        return cli_error(cmd, "%s", hw_last_error());
    }
    cli_progress_done();
    printf("wrote %s: %lld of %lld tensors in %s (or their fallbacks), %.2f MiB of tensor data "
           "from %.2f MiB\n", out, (long long)s.n_quantized, (long long)s.n_tensors, types[type],
           (double)s.out_bytes / (1 << 20), (double)s.in_bytes / (1 << 20));
    return 0;
}
