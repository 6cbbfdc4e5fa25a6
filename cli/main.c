/* main.c: `headwise <command> ...`: dispatch to one file per command. */
#include "cli.h"
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: headwise <command> [flags]\n"
    "\n"
    "commands:\n"
    "  generate  -m MODEL [-z TOKENIZER] [-p PROMPT] [-n STEPS] [-t TEMP] [--top-p P] [-s SEED]\n"
    "            [--threads N] [--mask-uniform L.H,..] ...   generate text, heads edited or not\n"
    "  info      -m MODEL         architecture, parameters, layers, heads, head_dim, bytes\n"
    "  run       -m MODEL -p TEXT [--capture HOOK ...] [--mask-uniform L.H,..] [--scale L.H=S]\n"
    "            [-o DIR]         one prompt with captures and head interventions\n"
    "  patterns  -m MODEL -p TEXT -o DIR   every head's attention pattern (.npy + HTML)\n"
    "  score     KIND -m MODEL    head scores: retrieval, echo-induction, successor,\n"
    "            attribution, dla\n"
    "  heads     import FILE.json read a head_score file (ours or published), rank its heads\n"
    "  mask-test -m MODEL --scores FILE  task accuracy with the top-K heads masked vs K random\n"
    "  sweep     scale -m MODEL --head L.H --prompts FILE  in-context rate vs a head's scale\n"
    "  train     TASK -o DIR      train a model on a synthetic task; writes a Hugging Face folder\n"
    "  organism  TASK -o DIR      train the default model organism of a task and score it\n"
    "\n"
    "Run `headwise <command> --help` for a command's flags.\n";

int main(int argc, char **argv) {
    /* Idle threads that spin starve everything else on a shared machine. libgomp
     * and OpenBLAS read their wait settings before main, so set them and start
     * again (OpenBLAS's timeout is 2^N cycles of yielding before its threads sleep). */
    if (!getenv("OMP_WAIT_POLICY") || !getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
        execv("/proc/self/exe", argv);
        /* If re-executing fails, carry on with the defaults. */
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "patterns")) return cmd_patterns(argc - 2, argv + 2);
    if (!strcmp(cmd, "score")) return cmd_score(argc - 2, argv + 2);
    if (!strcmp(cmd, "heads")) return cmd_heads(argc - 2, argv + 2);
    if (!strcmp(cmd, "mask-test")) return cmd_mask_test(argc - 2, argv + 2);
    if (!strcmp(cmd, "sweep")) return cmd_sweep(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "organism")) return cmd_organism(argc - 2, argv + 2);
    fprintf(stderr, "headwise: unknown command '%s' (try: headwise --help)\n", cmd);
    return 2;
}
