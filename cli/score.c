/* score.c: `headwise score KIND ...`: dispatch to one file per head score. */
#include "score_common.h"

#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: headwise score KIND -m MODEL [flags]   (headwise score KIND --help for flags)\n"
    "  retrieval       Retrieval Head score from needle-in-a-haystack trials (methods.md 1)\n"
    "  echo-induction  RazorAttention's echo and induction heads (methods.md 3.1)\n"
    "  successor       successor heads from OV logits over ordinal tasks (methods.md 5)\n"
    "  attribution     memory vs in-context heads: per-head logit difference (methods.md 6)\n"
    "  dla             direct logit attribution of every head and MLP (methods.md 9)\n";

int cmd_score(int argc, char **argv) {
    if (argc < 1) return fputs(help, stderr), 2;
    const char *k = argv[0];
    if (!strcmp(k, "-h") || !strcmp(k, "--help")) return fputs(help, stdout), 0;
    if (!strcmp(k, "echo-induction")) return cmd_score_echo_induction(argc - 1, argv + 1);
    if (!strcmp(k, "retrieval")) return cmd_score_retrieval(argc - 1, argv + 1);
    if (!strcmp(k, "successor")) return cmd_score_successor(argc - 1, argv + 1);
    if (!strcmp(k, "attribution")) return cmd_score_attribution(argc - 1, argv + 1);
    if (!strcmp(k, "dla")) return cmd_score_dla(argc - 1, argv + 1);
    return cli_usage_error("score", "unknown kind '%s' (try: headwise score --help)", k);
}
