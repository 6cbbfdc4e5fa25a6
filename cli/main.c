/* main.c: `headwise <command> ...` (and `headwise score KIND ...`): dispatch to one file
 * per command. */
#include "cli.h"

#include <unistd.h>

int cmd_atlas(int argc, char **argv);   /* atlas.c */

static const char usage[] =
    "usage: headwise <command> [flags]   (headwise <command> --help for its flags)\n"
    "  generate  -m MODEL [-p PROMPT] ...  text, heads edited or not\n"
    "  info      -m MODEL         architecture, parameters, layers, heads, head_dim, bytes\n"
    "  run       -m MODEL -p TEXT [--capture HOOK ...] [interventions] [-o DIR]  one prompt\n"
    "  patterns  -m MODEL -p TEXT -o DIR   every head's attention pattern (.npy + HTML)\n"
    "  atlas     -m MODEL -o DIR  every head probed, labelled and masked; KV policy; atlas.html\n"
    "  score     KIND -m MODEL    head scores: retrieval, echo-induction, successor,\n"
    "            attribution, dla\n"
    "  heads     import FILE.json read a head_score file (ours or published), rank its heads\n"
    "  mask-test -m MODEL --scores FILE  task accuracy with the top-K heads masked vs K random\n"
    "  sweep     scale -m MODEL --head L.H --prompts FILE  in-context rate vs a head's scale\n"
    "  niah      -m MODEL [--kv POLICY] -o OUT.json  needle-in-a-haystack grid under a KV cache\n"
    "  loss      -m MODEL --text FILE [--tokens N] [--kv POLICY]  next-token loss of a text\n"
    "  influence -m MODEL --heads FILE --corpus C.jsonl -o OUT  AttentionInfluence per document\n"
    "            (mpirun -np N for ranks); influence select --scores OUT --fraction F\n"
    "  facts     -m MODEL (--prompts FILE | --task recall) [-o OUT.json]  factual recall: mover\n"
    "            heads, an MLP's output regressed on upstream components, anti-overconfidence\n"
    "  train     TASK -o DIR      train a model on a synthetic task; writes a Hugging Face folder\n"
    "  organism  TASK -o DIR      train the default model organism of a task and score it\n"
    "  samples   TASK -o FILE     a task's held-out samples (and counterfactuals) as prompts\n"
    "  duo       train -m MODEL -o DIR  learn DuoAttention's gates (full vs streaming KV heads)\n"
    "  lens      -m MODEL -p TEXT [--target TOK]  logit lens: each layer's residual as tokens\n"
    "  subspace  -m MODEL --head L.H [--kind qk|ov]  SVD of a head's QK / OV circuit;\n"
    "            subspace lowrank ... --input q,k --task T: accuracy vs rank\n"
    "  patch     -m MODEL (--clean F --corrupt F | --task induction) -o OUT.json  activation\n"
    "            patching over prompt pairs; patch path: sender -> receiver heads\n"
    "  quantize  -m MODEL.gguf -o OUT.gguf --type q8_0|q4_0|q4_k|q6_k  GGUF in a block type\n";

static const char score_help[] =
    "usage: headwise score KIND -m MODEL [flags]   (headwise score KIND --help for flags)\n"
    "  retrieval       Retrieval Head score from needle-in-a-haystack trials (methods.md 1)\n"
    "  echo-induction  RazorAttention's echo and induction heads (methods.md 3.1)\n"
    "  successor       successor heads from OV logits over ordinal tasks (methods.md 5)\n"
    "  attribution     memory vs in-context heads: per-head logit difference (methods.md 6)\n"
    "  dla             direct logit attribution of every head and MLP (methods.md 9)\n";

typedef struct { const char *name; int (*fn)(int argc, char **argv); } command;

/* argv[0] among commands (n of them): its status, or -1 when there is none of that name. */
static int dispatch(const command *commands, int n, int argc, char **argv) {
    for (int i = 0; i < n; i++)
        if (!strcmp(argv[0], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    return -1;
}

static int cmd_score(int argc, char **argv) {
    static const command kinds[] = {
        {"echo-induction", cmd_score_echo_induction}, {"retrieval", cmd_score_retrieval},
        {"successor", cmd_score_successor}, {"attribution", cmd_score_attribution}, {"dla", cmd_score_dla}};
    if (argc < 1) return fputs(score_help, stderr), 2;
    if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) return fputs(score_help, stdout), 0;
    int rc = dispatch(kinds, sizeof kinds / sizeof *kinds, argc, argv);
    return rc >= 0 ? rc : cli_usage_error("score", "unknown kind '%s' (try: headwise score --help)", argv[0]);
}

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
    static const command commands[] = {
        {"generate", cmd_generate}, {"info", cmd_info}, {"run", cmd_run}, {"patterns", cmd_patterns},
        {"atlas", cmd_atlas},
        {"score", cmd_score}, {"heads", cmd_heads}, {"mask-test", cmd_mask_test}, {"sweep", cmd_sweep},
        {"niah", cmd_niah}, {"loss", cmd_loss}, {"influence", cmd_influence}, {"facts", cmd_facts}, {"train", cmd_train}, {"organism", cmd_organism}, {"duo", cmd_duo},
        {"lens", cmd_lens}, {"subspace", cmd_subspace}, {"patch", cmd_patch}, {"cdt", cmd_cdt},
        {"samples", cmd_samples}, {"quantize", cmd_quantize}};
    int rc = dispatch(commands, sizeof commands / sizeof *commands, argc - 1, argv + 1);
    if (rc >= 0) return rc;
    fprintf(stderr, "headwise: unknown command '%s' (try: headwise --help)\n", argv[1]);
    return 2;
}
