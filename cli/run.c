/* run.c: `headwise run`: one prompt through a model with captures and head
 * interventions; the top next tokens on stdout, captured tensors as .npy. */
#include "cli.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help_head[] =
    "usage: headwise run -m MODEL -p TEXT [-z TOKENIZER] [--capture HOOK ...] [-n STEPS]\n"
    "                    [--top K] [-o DIR] [--threads N] [interventions]\n"
    "  -m MODEL        llama2.c checkpoint (.bin) or Hugging Face model folder\n"
    "  -p TEXT         the prompt (BOS is added)\n"
    "  -z TOKENIZER    as for generate (default: beside or inside the model)\n"
    "  --capture HOOK  save this hook point, e.g. blocks.3.attn.hook_pattern; blocks.*.NAME\n"
    "                  for every layer; repeatable (needs -o)\n"
    "  -n STEPS        then greedily generate STEPS tokens (decode steps, hooked too)\n"
    "  --top K         next tokens to list (default 10)\n"
    "  -o DIR          write DIR/NAME.npy per captured point (decode steps as\n"
    "                  NAME.posP.npy), DIR/index.json, DIR/tokens.json, DIR/logits.npy\n"
    "  --threads N     threads (default: all cores)\n";

/* Axis names of each hook point's tensor (headwise.h). */
static const char *axes(hw_hook_point p) {
    switch (p) {
    case HW_HOOK_Q: case HW_HOOK_ROT_Q: case HW_HOOK_Z: return "pos,head,d_head";
    case HW_HOOK_K: case HW_HOOK_V: case HW_HOOK_ROT_K: return "pos,kv_head,d_head";
    case HW_HOOK_ATTN_SCORES: case HW_HOOK_PATTERN: return "head,query_pos,key_pos";
    case HW_HOOK_RESULT: return "pos,head,d_model";
    case HW_HOOK_MLP_POST: return "pos,d_mlp";
    case HW_HOOK_LOGITS: return "pos,d_vocab";
    default: return "pos,d_model";
    }
}

/* "blocks.*.NAME" wants NAME in every layer. */
static int want_capture(hw_capture *cap, const hw_model *m, const char *cmd, const char *name) {
    char buf[256];
    const char *parse = name;
    int every = !strncmp(name, "blocks.*.", 9);
    if (every) {
        snprintf(buf, sizeof buf, "blocks.0.%s", name + 9);
        parse = buf;
    }
    hw_hook_point p;
    int layer;
    if (hw_hook_parse(m, parse, &p, &layer) != HW_OK)
        return cli_usage_error(cmd, "--capture: %s", hw_last_error());
    hw_capture_want(cap, p, every ? -1 : layer);
    return 0;
}

static int write_json(const char *cmd, const char *path, cJSON *j) {
    char *text = cJSON_Print(j);
    int rc = 0;
    if (!text || hw_write_file_atomic(path, text, strlen(text)) != HW_OK)
        rc = cli_error(cmd, "%s", text ? hw_last_error() : "out of memory");
    free(text);
    return rc;
}

static cJSON *token_json(const hw_tokenizer *t, int prev, int id, int pos) {
    size_t len;
    const char *piece = hw_tokenizer_decode(t, prev, id, &len);
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)(len < 255 ? len : 255), piece ? piece : "");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pos", pos);
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "text", text);
    return o;
}

/* Every capture entry as an .npy file, listed in index.json. */
static int write_outputs(const char *cmd, const char *dir, const hw_capture *cap,
                         const hw_tokenizer *t, const int *tok, int n_tok, const float *logits,
                         int V) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error(cmd, "cannot create %s: %s", dir, strerror(errno));
    char path[4096], name[64], file[128];
    cJSON *index = cJSON_CreateArray();
    int rc = 0;
    for (int i = 0; !rc && i < hw_capture_count(cap); i++) {
        const hw_capture_entry *e = hw_capture_get(cap, i);
        hw_hook_name(name, sizeof name, e->point, e->layer);
        if (e->decode || e->pos > 0) snprintf(file, sizeof file, "%s.pos%d.npy", name, e->pos);
        else snprintf(file, sizeof file, "%s.npy", name);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        int64_t shape[3] = {e->shape[0], e->shape[1], e->shape[2]};
        if (hw_npy_write(path, e->data, e->ndim, shape) != HW_OK) {
            rc = cli_error(cmd, "%s", hw_last_error());
            break;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "hook", name);
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddNumberToObject(o, "layer", e->layer);
        cJSON_AddNumberToObject(o, "pos", e->pos);
        cJSON_AddStringToObject(o, "phase", e->decode ? "decode" : "prefill");
        cJSON_AddStringToObject(o, "axes", axes(e->point));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(e->shape[d]));
        cJSON_AddItemToArray(index, o);
    }
    snprintf(path, sizeof path, "%s/index.json", dir);
    if (!rc) rc = write_json(cmd, path, index);
    cJSON_Delete(index);
    cJSON *toks = cJSON_CreateArray();
    for (int i = 0; i < n_tok; i++)
        cJSON_AddItemToArray(toks, token_json(t, i ? tok[i - 1] : -1, tok[i], i));
    snprintf(path, sizeof path, "%s/tokens.json", dir);
    if (!rc) rc = write_json(cmd, path, toks);
    cJSON_Delete(toks);
    snprintf(path, sizeof path, "%s/logits.npy", dir);
    int64_t shape[1] = {V};
    if (!rc && hw_npy_write(path, logits, 1, shape) != HW_OK)
        rc = cli_error(cmd, "%s", hw_last_error());
    return rc;
}

static void print_top(const hw_tokenizer *t, const float *logits, int V, int prev, int k) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < V; i++) sum += exp(logits[i] - mx);
    int *best = malloc((size_t)k * sizeof *best), n = 0;
    for (int i = 0; i < V; i++) { /* insertion into the k best */
        int j = n < k ? n++ : k;
        if (j == k && logits[i] <= logits[best[k - 1]]) continue;
        if (j == k) j = k - 1;
        while (j > 0 && logits[best[j - 1]] < logits[i]) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = i;
    }
    printf("rank  token  logit      prob    text\n");
    for (int r = 0; r < n; r++) {
        size_t len;
        const char *piece = hw_tokenizer_decode(t, prev, best[r], &len);
        printf("%4d  %5d  %9.4f  %.4f  '", r + 1, best[r], logits[best[r]],
               exp(logits[best[r]] - mx) / sum);
        for (size_t b = 0; piece && b < len; b++)
            putchar((unsigned char)piece[b] < 0x20 ? '?' : piece[b]);
        printf("'\n");
    }
    free(best);
}

int cmd_run(int argc, char **argv) {
    const char *cmd = "run";
    const char *captures[256];
    int n_captures = 0;
    long steps = 0, top = 10;
    cli_model_flags f = {.iv = cli_interventions_new()};
    int rc = 0;
    for (int i = 0; !rc && i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_flag(&f, cmd, argc, argv, &i);
        if (r) {
            rc = r == 2 ? 2 : 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(help_head, stdout);
            fputs(cli_interventions_help(), stdout);
            cli_interventions_free(f.iv);
            return 0;
        } else if (!strcmp(a, "-n")) rc = cli_int(cmd, argc, argv, &i, 0, 1L << 20, &steps);
        else if (!strcmp(a, "--top")) rc = cli_int(cmd, argc, argv, &i, 1, 1000, &top);
        else if (!strcmp(a, "--capture")) {
            if (n_captures == 256) rc = cli_usage_error(cmd, "more than 256 --capture flags");
            else rc = cli_value(cmd, argc, argv, &i, &captures[n_captures++]);
        } else rc = cli_usage_error(cmd, "unknown flag '%s' (see headwise run --help)", a);
    }
    const char *prompt = f.prompt, *out = f.out;
    cli_interventions *iv = f.iv;
    if (!rc && !prompt) rc = cli_usage_error(cmd, "no prompt: give -p TEXT");
    if (!rc && n_captures && !out) rc = cli_usage_error(cmd, "--capture needs -o DIR");
    if (rc) {
        cli_interventions_free(iv);
        return rc;
    }
    if (f.threads > 0) hw_set_threads((int)f.threads);
    hw_model *m = NULL;
    hw_tokenizer *t = NULL;
    hw_hooks *hooks = hw_hooks_new();
    hw_capture *cap = hw_capture_new();
    hw_context *c = NULL;
    int *tok = NULL;
    float *logits = NULL;
    rc = cli_load(cmd, f.model, f.tokenizer, &m, &t);
    for (int i = 0; !rc && i < n_captures; i++) rc = want_capture(cap, m, cmd, captures[i]);
    if (!rc && n_captures) hw_hooks_add_capture(hooks, cap);
    if (!rc) rc = cli_interventions_add(iv, cmd, m, t, hooks);
    int T = 0, V = m ? hw_model_config(m)->vocab_size : 0;
    if (!rc) {
        const int n_ctx = hw_model_config(m)->n_ctx;
        T = hw_tokenizer_encode(t, prompt, HW_TOK_BOS, NULL, 0);
        if (T < 0) rc = cli_error(cmd, "%s", hw_last_error());
        else if (T + steps > n_ctx)
            rc = cli_error(cmd, "the prompt (%d tokens) and %ld steps do not fit the context of "
                           "%d tokens", T, steps, n_ctx);
    }
    if (!rc) {
        tok = malloc((size_t)(T + steps) * sizeof *tok);
        logits = malloc((size_t)V * sizeof *logits);
        hw_tokenizer_encode(t, prompt, HW_TOK_BOS, tok, T);
        c = hw_context_new(m, T + (int)steps);
        if (!tok || !logits || !c) rc = cli_error(cmd, "out of memory");
    }
    if (!rc && hw_forward_hooked(c, tok, T, HW_LOGITS_LAST, logits, hooks) != HW_OK)
        rc = cli_error(cmd, "%s", hw_last_error());
    float *first = NULL;
    if (!rc) {
        printf("prompt: %d tokens\n", T);
        print_top(t, logits, V, tok[T - 1], (int)top);
        first = malloc((size_t)V * sizeof *first);
        if (first) memcpy(first, logits, (size_t)V * sizeof *first);
    }
    if (!rc && steps > 0) {
        printf("greedy: ");
        for (long s = 0; !rc && s < steps; s++) {
            int best = 0;
            for (int i = 1; i < V; i++) best = logits[i] > logits[best] ? i : best;
            tok[T + s] = best;
            size_t len;
            const char *piece = hw_tokenizer_decode(t, tok[T + s - 1], best, &len);
            printf("%.*s", (int)len, piece ? piece : "");
            if (s + 1 < steps &&
                hw_forward_hooked(c, &tok[T + s], 1, HW_LOGITS_LAST, logits, hooks) != HW_OK)
                rc = cli_error(cmd, "%s", hw_last_error());
        }
        printf("\n");
    }
    if (!rc && out) rc = write_outputs(cmd, out, cap, t, tok, T + (int)steps, first, V);
    if (!rc && out) printf("wrote %d tensors to %s (index.json)\n", hw_capture_count(cap), out);
    free(first);
    free(tok);
    free(logits);
    hw_context_free(c);
    hw_capture_free(cap);
    hw_hooks_free(hooks);
    hw_tokenizer_free(t);
    hw_model_free(m);
    cli_interventions_free(iv);
    return rc;
}
