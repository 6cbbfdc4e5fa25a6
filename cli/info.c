/* info.c: `headwise info`: what a model file holds. */
#include "cli.h"

static const char help[] = "usage: headwise info -m MODEL\n";

int cmd_info(int argc, char **argv) {
    const char *cmd = "info", *model_path = NULL;
    const cli_flag flags[] = {{"-m", CLI_STR, &model_path}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!model_path) return cli_usage_error(cmd, "no model: give -m MODEL");
    hw_model *m = hw_model_load(model_path);
    if (!m) return cli_error(cmd, "%s", hw_last_error());
    const hw_config *c = hw_model_config(m);
    hw_model_info info;
    hw_model_get_info(m, &info);
    printf("model         %s\n", model_path);
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
    hw_model_free(m);
    return 0;
}
