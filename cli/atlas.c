/* atlas.c: `headwise atlas`: every head probe that applies, a label per head, each
 * labelled head masked, and the KV-cache policy the labels give (hw_atlas_run), written
 * as DIR/atlas.json, DIR/atlas.html and DIR/full_heads.tsv. */
#include "cli.h"

#include <unistd.h>

static const char help[] =
    "usage: headwise atlas -m MODEL -o DIR [-z TOKENIZER] [flags]\n"
    "  runs the retrieval score, the echo / induction / previous-token probe, the successor\n"
    "  score, memory vs in-context attribution and a streaming score (attention within\n"
    "  sinks + recent window on the probe prompt), as they apply; labels each head, masks\n"
    "  each labelled head on its task and derives a KV-cache policy. Writes DIR/atlas.json,\n"
    "  DIR/atlas.html (open it in a browser) and DIR/full_heads.tsv (the policy's mask).\n"
    "  --task NAME       a model organism's task (default: the one its training.json names;\n"
    "                    none: a text model, probed with text)\n"
    "  --samples N --task-seed S   task samples per evaluation (default 50), their stream\n"
    "  --text TEXT       the probe text (default: the default haystack's stories)\n"
    "  --probe-tokens N  tokens of the probe prompt drawn on the page (default min(C, 256))\n"
    "  --prompts FILE    prompt<TAB>memorized<TAB>in-context lines: memory vs in-context heads\n"
    "  --gates FILE      DuoAttention gates (full_attention_heads.tsv) or any KV head scores\n"
    "  --successor-tasks FILE   successor tasks (default: the built-in ones)\n"
    "  --threshold NAME=V   a label's threshold (retrieval 0.1, induction 0.3, previous-token\n"
    "                    0.3, echo 0.2, successor 0.5, memory 0.5, in-context 0.5 (of the\n"
    "                    largest |attribution|), streaming 0.95); repeatable\n"
    "  --mask-max N      heads masked per label, strongest first (default 8)\n"
    "  --skip LIST       probes not run: retrieval,echo,successor,attribution,mask,kv-eval\n"
    "  --sink S --recent R   the policy's streaming heads (default 4, min(256, C/4 - S))\n"
    "  --kv-context N    KV bytes counted at N tokens (default the model's context)\n"
    "  text needle trials (retrieval score and masking): --needles --haystack --template\n"
    "                    --lengths --depths --buffer --max-new as in score retrieval\n"
    "                    (default 2 lengths up to min(C, 2000), 3 depths)\n"
    "  --threads N       threads (default: all cores)\n";

static int threshold_flag(const char *cmd, const char *flag, const char *value, void *dst) {
    hw_atlas_thresholds *t = dst;
    static const char *const names[] = {"retrieval", "induction", "previous-token", "echo", "successor",
                                        "memory", "in-context", "streaming"};
    double *slots[] = {&t->retrieval, &t->induction, &t->prev_token, &t->echo, &t->successor,
                       &t->memory, &t->in_context, &t->streaming};
    const char *eq = strchr(value, '=');
    double v;
    for (size_t i = 0; eq && i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == (size_t)(eq - value) && !strncmp(value, names[i], (size_t)(eq - value))) {
            if (cli_number(eq + 1, &v) || v < 0)
                return cli_usage_error(cmd, "%s %s: the threshold is not a finite number >= 0", flag, value);
            *slots[i] = v;
            return 0;
        }
    return cli_usage_error(cmd, "%s %s: give NAME=V, NAME one of retrieval, induction, previous-token, echo, "
                           "successor, memory, in-context, streaming", flag, value);
}

static int skip_flag(const char *cmd, const char *flag, const char *value, void *dst) {
    static const char *const names[] = {"retrieval", "echo", "successor", "attribution", "mask", "kv-eval"};
    unsigned *skip = dst;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < 6 && strcmp(tok, names[i])) i++;
        if (i == 6) return cli_usage_error(cmd, "%s: unknown probe '%s' (retrieval, echo, successor, attribution, "
                                           "mask, kv-eval)", flag, tok);
        *skip |= 1u << i;
    }
    return 0;
}

/* Progress: on a terminal every step (one line redrawn); else a line per new stage, so
 * that a log does not get one line per sample of every probe. */
static int atlas_progress(const char *stage, int64_t done, int64_t total, void *user) {
    static char last[256];
    if (isatty(2)) return cli_progress_counted(stage, done, total, user);
    if (strcmp(last, stage)) cli_progress(user, "%s", stage);
    snprintf(last, sizeof last, "%s", stage);
    return 0;
}

/* One line per label: its heads (the first 8, each with its masking effect). */
static void print_label(const hw_atlas_result *r, int label, int L, int H) {
    int n = 0;
    for (int i = 0; i < L * H; i++) {
        hw_atlas_label ls[2];
        const int k = hw_atlas_labels(r, i / H, i % H, ls);
        if (!(k > 0 && (ls[0] == (hw_atlas_label)label || (k > 1 && ls[1] == (hw_atlas_label)label)))) continue;
        if (!n++) printf("%s:", hw_atlas_label_name((hw_atlas_label)label));
        hw_atlas_mask_effect e;
        hw_atlas_mask_effect_get(r, i / H, i % H, &e);
        if (n > 8) continue;
        printf(" %d.%d", i / H, i % H);
        if (e.measured) printf(" (masked: %s %s %.2f -> %.2f)", e.task, e.metric, e.baseline, e.masked);
    }
    if (n > 8) printf(" ... %d heads in all", n);
    if (n) putchar('\n');
}

static void print_result(const hw_atlas_result *r, const char *dir) {
    char flag[4300], mask[4200];
    int L, H, Hk;
    hw_atlas_shape(r, &L, &H, &Hk);
    for (int label = 0; label < HW_ATLAS_OTHER; label++) print_label(r, label, L, H);
    snprintf(mask, sizeof mask, "%s/full_heads.tsv", dir);
    hw_atlas_kv kv;
    hw_atlas_kv_get(r, &kv);
    hw_atlas_kv_flag(r, mask, flag, sizeof flag);
    printf("kv policy: %d of %d KV heads full, %.1f%% of the full cache at %d tokens: --kv %s\n", kv.n_full, L * Hk,
           kv.bytes_full ? 100.0 * kv.bytes_policy / kv.bytes_full : 100.0, kv.context, flag);
    if (kv.evaluated)
        printf("kv policy check (%s needles, exact answers): full %.3f, policy %.3f\n", kv.eval_task,
               kv.accuracy_full, kv.accuracy_policy);
    printf("wrote %s/atlas.json, %s/atlas.html, %s\n", dir, dir, mask);
}

/* The organism's task from training.json unless --task was given; 0, or a reported error. */
static int find_task(const char *cmd, const char *model, hw_atlas_params *p, char *buf, size_t cap) {
    if (p->task.name) return 0;
    const int k = hw_organism_task_name(model, buf, cap);
    if (k < 0) return cli_error(cmd, "%s", hw_last_error());
    if (k > 0) p->task.name = buf;
    return 0;
}

int cmd_atlas(int argc, char **argv) {
    const char *cmd = "atlas", *dir = NULL, *prompts = NULL, *hay[SCORE_MAX_HAYSTACKS];
    char task[64];
    int niah_given = 0;
    cli_model_flags f = {0};
    hw_atlas_params p = hw_atlas_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"-o", CLI_STR, &dir}, {"--text", CLI_STR, &p.text}, {"--prompts", CLI_STR, &prompts},
        {"--gates", CLI_STR, &p.gates_path}, {"--successor-tasks", CLI_STR, &p.successor_tasks},
        {"--probe-tokens", CLI_INT, &p.probe_tokens, 4, 1 << 20}, {"--mask-max", CLI_INT, &p.mask_max, 0, 1 << 20},
        {"--threshold", CLI_FN, &p.thresholds, .fn = threshold_flag}, {"--skip", CLI_FN, &p.skip, .fn = skip_flag},
        {"--sink", CLI_INT, &p.sink, 0, 1 << 20}, {"--recent", CLI_INT, &p.recent, 1, 1 << 24},
        {"--kv-context", CLI_INT, &p.kv_context, 1, 1 << 30}, {"--threads", CLI_INT, &f.threads, 0, 1024},
        SCORE_TASK_FLAGS(&p.task), SCORE_NIAH_FLAGS(&p.niah, hay, &niah_given), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!dir) return cli_usage_error(cmd, "give the output folder with -o DIR");
    if (!f.model) return cli_usage_error(cmd, "give the model with -m MODEL");
    p.niah.haystack_paths = hay;
    p.label = f.model;
    cli_session s;
    hw_prompts *ps = NULL;
    hw_atlas_result *r = NULL;
    if (find_task(cmd, f.model, &p, task, sizeof task)) return 1;
    if (hw_dir_create(dir)) return cli_error(cmd, "%s", hw_last_error());
    if (cli_load(cmd, &f, 1, &s)) return 1;
    rc = prompts && !(p.prompts = ps = hw_prompts_read(prompts, 3));
    if (!rc) rc = hw_atlas_run(s.m, s.t, &p, atlas_progress, (void *)cmd, &r) ? 1 : 0;
    cli_progress_done();
    if (rc || hw_atlas_write(r, dir)) rc = cli_error(cmd, "%s", hw_last_error());
    else print_result(r, dir);
    hw_atlas_free(r);
    hw_prompts_free(ps);
    cli_close(&s);
    return rc;
}
