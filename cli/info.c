/* info.c: `headwise info`: what a model file holds, and with --kv, what a KV-cache policy
 * costs at a context length. */
#include "cli.h"

static const char help[] =
    "usage: headwise info -m MODEL [--kv POLICY] [--context N] [--gguf]\n"
    "  --kv POLICY      a KV-cache policy's bytes per layer and in total, against the full\n"
    "                   cache's. POLICY: full | window[:sink=64,recent=256] (every head\n"
    "                   streaming) | duo:heads=FILE[,top=F|sparsity=S][,sink=64,recent=256]\n"
    "                   [,seed=42] | razor[:sink=4,recent=256,compensation=weighted|mean|none,\n"
    "                   echo=0.01,induction=0.14,heads=FILE]; every policy takes chunk=N,\n"
    "                   prefill rows per pass (a streaming head sees every earlier row of its\n"
    "                   own chunk: DuoAttention's semantics). duo's FILE: gates or DuoAttention's\n"
    "                   full_attention_heads.tsv (L lines of KV-head values; sparsity=0.5 by\n"
    "                   default, their quantile rule), `score retrieval -o` JSON or a table\n"
    "                   such as `score echo-induction -o X.tsv` (top=0.25 by default), or a\n"
    "                   0/1 mask (as it stands). razor's FILE: an echo-induction table or a\n"
    "                   mask; without one, the echo-induction probe runs on the model\n"
    "  --context N      tokens the cache holds (default: the model's context)\n"
    "  --gguf           MODEL is a GGUF file: print its metadata and tensor table (name,\n"
    "                   type, dims with the row length first, bytes, file offset) without\n"
    "                   loading it as a model (vocabulary-only files too)\n";

static void print_model(const char *path, const hw_model *m) {
    const hw_config *c = hw_model_config(m);
    hw_model_info info;
    hw_model_get_info(m, &info);
    printf("model         %s\n", path);
    printf("format        %s\n", info.format);
    printf("architecture  %s\n", c->arch);
    printf("parameters    %lld\n", (long long)info.n_params);
    printf("layers        %d\n", c->n_layer);
    printf("d_model       %d\n", c->d_model);
    printf("d_ff          %d\n", c->d_ff);
    printf("query heads   %d\n", c->n_head);
    printf("kv heads      %d\n", c->n_kv_head);
    printf("head_dim      %d\n", c->head_dim);
    printf("vocab         %d\n", c->vocab_size);
    printf("context       %d\n", c->n_ctx);
    printf("dtype         %s\n", info.dtype);
    printf("file bytes    %lld\n", (long long)info.file_bytes);
    printf("weight bytes  %lld (read per decoded token)\n", (long long)info.weight_bytes);
}

static double mib(size_t bytes) { return (double)bytes / (1 << 20); }

/* The policy's bytes per layer and in all at n_ctx tokens, and the full cache's. A
 * context only allocates (calloc'd pages are not touched until written), so even a long
 * context costs nothing to measure. */
static int print_kv(const char *cmd, const hw_model *m, const hw_kv_policy *p, int n_ctx) {
    hw_context *c = hw_context_new_kv(m, n_ctx, p), *full = c ? hw_context_new_kv(m, n_ctx, NULL) : NULL;
    if (!full) {
        hw_context_free(c);
        return cli_error(cmd, "%s", hw_last_error());
    }
    const int L = hw_kv_policy_layers(p), Hk = hw_kv_policy_kv_heads(p);
    printf("kv policy     %s\n", hw_kv_policy_name(p));
    printf("kv context    %d tokens\n", hw_context_size(c));
    if (hw_kv_policy_full_count(p) < L * Hk)
        printf("kv streaming  sink %d + recent %d%s per streaming head\n", hw_kv_policy_sink(p),
               hw_kv_policy_recent(p),
               hw_kv_policy_compensation(p) == HW_KV_COMP_NONE ? "" : " + 1 compensation token");
    if (hw_kv_policy_chunk(p)) printf("kv chunk      %d prefill rows per pass\n", hw_kv_policy_chunk(p));
    for (int l = 0; l < L; l++) {
        int nf = 0;
        for (int k = 0; k < Hk; k++) nf += hw_kv_policy_is_full(p, l, k);
        size_t b = hw_context_kv_bytes(c, l, -1);
        printf("layer %d: %d/%d KV heads full, %.2f MiB (%zu bytes)\n", l, nf, Hk, mib(b), b);
    }
    size_t total = hw_context_kv_bytes(c, -1, -1), all = hw_context_kv_bytes(full, -1, -1);
    printf("total: %d/%d KV heads full, %.2f MiB (%zu bytes)\n", hw_kv_policy_full_count(p), L * Hk,
           mib(total), total);
    printf("full cache: %.2f MiB (%zu bytes); this policy holds %.4f of it (%.2fx smaller)\n", mib(all),
           all, all ? (double)total / all : 0, total ? (double)all / total : 0);
    hw_context_free(c);
    hw_context_free(full);
    return 0;
}

/* --gguf: the file's metadata and tensor table, as hw_gguf_file_* reads them. */
static int print_gguf(const char *cmd, const char *path) {
    hw_gguf_file *f = hw_gguf_file_open(path);
    if (!f) return cli_error(cmd, "%s", hw_last_error());
    static char key[4200], value[1024];
    printf("gguf version  %d\nmetadata      %lld entries\n", hw_gguf_file_version(f),
           (long long)hw_gguf_file_n_metadata(f));
    for (int64_t i = 0; i < hw_gguf_file_n_metadata(f); i++)
        if (hw_gguf_file_metadata(f, i, key, sizeof key, value, sizeof value) == HW_OK)
            printf("  %s = %s\n", key, value);
    printf("tensors       %lld\n", (long long)hw_gguf_file_n_tensors(f));
    hw_gguf_tensor_info t;
    for (int64_t i = 0; i < hw_gguf_file_n_tensors(f); i++) {
        if (hw_gguf_file_tensor(f, i, &t) != HW_OK) continue;
        printf("  %-32s %-7s [", t.name, t.type);
        for (int d = 0; d < t.n_dims; d++) printf(d ? ", %lld" : "%lld", (long long)t.ne[d]);
        printf("] %lld bytes at %lld\n", (long long)t.bytes, (long long)t.offset);
    }
    hw_gguf_file_free(f);
    return 0;
}

int cmd_info(int argc, char **argv) {
    const char *cmd = "info", *model_path = NULL, *kv = NULL;
    int n_ctx = 0, n_ctx_given = 0, gguf = 0;
    const cli_flag flags[] = {{"-m", CLI_STR, &model_path}, {"--kv", CLI_STR, &kv},
                              {"--context", CLI_INT, &n_ctx, 1, 1 << 24, .n = &n_ctx_given},
                              {"--gguf", CLI_SET, &gguf, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!model_path) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (gguf) return print_gguf(cmd, model_path);
    hw_model *m = hw_model_load(model_path);
    if (!m) return cli_error(cmd, "%s", hw_last_error());
    /* The policy first: a bad --kv is one error line, before anything is printed. */
    hw_kv_policy *p = NULL;
    if ((kv || n_ctx_given) && !(p = hw_kv_policy_parse(m, NULL, kv ? kv : "full")))
        rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc) print_model(model_path, m);
    if (!rc && p) rc = print_kv(cmd, m, p, n_ctx);
    hw_kv_policy_free(p);
    hw_model_free(m);
    return rc;
}
