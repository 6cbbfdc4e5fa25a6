/* niah.c: `headwise niah`: the needle-in-a-haystack grid (lengths x depths; text needles,
 * a task's samples or LongHeads' passkeys) under a
 * KV-cache policy, hw_niah_grid_run: exact match and ROUGE-1 per cell, a table on
 * stdout, JSON (-o) and the heatmap page (--html). */
#include "cli.h"

static const char help[] =
    "usage: headwise niah -m MODEL [-z TOKENIZER] [--kv POLICY] [--task NAME | --passkey] -o OUT.json\n"
    "                    [--html OUT.html] [flags]\n"
    "  --kv POLICY      the KV cache of every trial (default full):\n"
    "                     full | window[:sink=S,recent=R] | duo:heads=FILE[,top=F|sparsity=S]\n"
    "                     [,sink=S,recent=R] | razor[:sink=S,recent=R,compensation=weighted|mean|none]\n"
    "                     | longheads[:chunk=W,heads_len=A,score=pooled|max] (every head reads A\n"
    "                     tokens in chunks of W it chooses, positions re-indexed; default A =\n"
    "                     the model's context, W = A / 16; chunk= is W there; score=max picks\n"
    "                     chunks by their largest q.k rather than the paper's pooled key)\n"
    "                   each also takes chunk=N, the prefill rows per pass (default 512).\n"
    "                   Prefill follows DuoAttention: a streaming head sees the sinks, the\n"
    "                   recent window before its chunk and every earlier row of its own chunk,\n"
    "                   so a prompt prefilled in one chunk is full attention for it and only\n"
    "                   the answer's decode steps see sink + recent. Give chunk= below the\n"
    "                   lengths to stream the prefill too. The chunk used is printed and saved.\n"
    "  --lengths A:B:N  context lengths round(linspace(A, B, N)) in tokens, within the model's\n"
    "                   context, but for task and passkey trials on a rotary model (default:\n"
    "                   text 1000:50000:20 kept within it; task and passkey C/2:C:4)\n"
    "  --depths N       needle depths round(linspace(0, 100, N)) percent (default 10)\n"
    "text trials (default; the Retrieval Head protocol's construction, as score retrieval):\n"
    "  --needles FILE   JSON lines {\"needle\", \"question\", \"real_needle\"} (default: the San\n"
    "                   Francisco needle)\n"
    "  --haystack FILE  haystack text, repeatable (default: $HEADWISE_DATA/haystack/stories.txt)\n"
    "  --template T     prompt around {context} and {question}\n"
    "  --buffer N       tokens kept free of haystack per length (default 200, at most half)\n"
    "  --max-new N      decode steps at most (default 50; stops after a newline, EOS or BOS)\n"
    "                   exact = ROUGE-1 recall 1 (every answer word generated)\n"
    "task trials (model organisms):\n"
    "  --task NAME      a task scored by greedy answers (retrieval): at each length the task\n"
    "                   makes the haystack, the needle at each depth; exact = every answer\n"
    "                   token right; ROUGE-1 over the answer's symbols\n"
    "  --samples N      samples (passkeys) per cell (default 10); --seed S  their stream\n"
    "                   (default 12345); sample k has the same needle or passkey in every cell\n"
    "  --task-symbols N the task's symbols (default: its own)\n"
    "  --task-needles N retrieval: needles per sequence (default: its own, one per 128\n"
    "                   tokens from 256 on); lengths past a rotary model's context are allowed\n"
    "passkey trials (LongHeads' protocol, text models):\n"
    "  --passkey        the task line, garbage (\"The grass is green. The sky is blue. ...\"\n"
    "                   repeated), \"The pass key is N. Remember it. N is the pass key.\" at each\n"
    "                   depth, garbage, \"What is the pass key? The pass key is\"; N uniform in\n"
    "                   [1, 50000] from --seed; each prompt exactly the length in tokens\n"
    "                   (refused below the prompt without garbage). The answer is \" N\" as\n"
    "                   tokens after the question: its space a SentencePiece \"\u2581\" piece\n"
    "                   (alone or joined to digits) or in GPT-2's \" 123\" word; greedily\n"
    "                   decoded for as many tokens, exact = every token right. Lengths past\n"
    "                   a rotary model's context are allowed (--kv longheads), not past a\n"
    "                   learned-position model's (with the answer's tokens)\n"
    "outputs:\n"
    "  -o FILE.json     the grid: policy (chunk included), KV bytes per length with the policy\n"
    "                   and with every head full, exact / rouge1_recall / rouge1_f per cell\n"
    "                   ([depth][length]), every trial's answer (passkey trials: its number and\n"
    "                   the key line's first token)\n"
    "  --html FILE      the heatmap as one self-contained page (length across, depth down,\n"
    "                   red 0 to green 1; ROUGE-1 F shown, exact match and recall selectable)\n"
    "  --label NAME     the model's name in the outputs (default: the last part of -m)\n"
    "  --threads N      threads (default: all cores)\n";

/* The last part of a path, without trailing slashes, into out. */
static const char *base_name(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(out, cap, "%.*s", (int)(n - b), path + b);
    return out;
}

/* Run the grid and write what was asked. */
static int run(const char *cmd, cli_session *s, hw_niah_grid_params *p, const char *spec, const char *out,
               const char *html) {
    hw_kv_policy *kv = NULL;
    if (spec && !(kv = hw_kv_policy_parse(s->m, s->t, spec))) return cli_error(cmd, "--kv: %s", hw_last_error());
    p->kv = kv;
    hw_niah_grid_result *r = NULL;
    int rc = 0;
    hw_status st = hw_niah_grid_run(s->m, s->t, p, cli_progress_counted, (void *)cmd, &r);
    cli_progress_done();
    if (st || hw_niah_grid_result_write(r, out) || (html && hw_niah_grid_result_write_html(r, html)))
        rc = cli_error(cmd, "%s", hw_last_error());
    else
        hw_niah_grid_result_print(r, stdout);
    hw_niah_grid_result_free(r);
    hw_kv_policy_free(kv);
    return rc;
}

int cmd_niah(int argc, char **argv) {
    const char *cmd = "niah", *spec = NULL, *out = NULL, *html = NULL, *hay[SCORE_MAX_HAYSTACKS];
    int text_given = 0;
    char label[256];
    cli_model_flags f = {0};
    hw_niah_grid_params p = hw_niah_grid_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"--kv", CLI_STR, &spec}, {"-o", CLI_STR, &out}, {"--html", CLI_STR, &html},
        {"--label", CLI_STR, &p.label}, {"--threads", CLI_INT, &f.threads, 0, 1024},
        {"--lengths", CLI_FN, &p.niah, .fn = score_lengths_flag},
        {"--depths", CLI_INT, &p.niah.n_depths, 1, 1000},
        {"--needles", CLI_STR, &p.niah.needles_path, .n = &text_given},
        {"--template", CLI_STR, &p.niah.template_text, .n = &text_given},
        {"--buffer", CLI_INT, &p.niah.buffer, 0, 1 << 24, .n = &text_given},
        {"--max-new", CLI_INT, &p.niah.max_new, 1, 100000, .n = &text_given},
        {"--haystack", CLI_LIST, hay, 0, SCORE_MAX_HAYSTACKS, .n = &p.niah.n_haystacks},
        {"--task", CLI_STR, &p.task}, {"--samples", CLI_INT, &p.samples, 1, 1000000},
        {"--seed", CLI_U64, &p.seed, 0, 0x1p62}, {"--task-symbols", CLI_INT, &p.n_symbols, 1, 1 << 20},
        {"--task-needles", CLI_INT, &p.n_needles, 1, 4096}, {"--passkey", CLI_SET, &p.passkey, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!f.model) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!out) return cli_usage_error(cmd, "give -o FILE.json");
    if (p.task && p.passkey) return cli_usage_error(cmd, "--passkey and --task are two sources of trials; give one");
    if ((p.task || p.passkey) && (text_given || p.niah.n_haystacks))
        return cli_usage_error(cmd, "%s replaces the text-trial flags (--needles, --haystack, --template, "
                               "--buffer, --max-new)", p.task ? "--task" : "--passkey");
    p.niah.haystack_paths = hay;
    if (!p.label) p.label = base_name(f.model, label, sizeof label);
    const char *outs[2] = {out, html};
    cli_session s;
    if (score_outputs_ok(cmd, outs, 2) || cli_load(cmd, &f, p.task == NULL, &s)) return 1;
    rc = run(cmd, &s, &p, spec, out, html);
    cli_close(&s);
    return rc;
}
