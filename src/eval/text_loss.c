/* text_loss.c: the next-token loss of a token sequence read in one context, under a
 * KV-cache policy and hooks. The yardstick of long-context methods (LongHeads' loss past
 * the trained length) and of loss-based scores (AttentionInfluence): the sequence is
 * prefilled in chunks, as generation would see it, and every row's logits kept only
 * long enough to take its log-softmax at the next token. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>

hw_text_loss_params hw_text_loss_params_default(void) {
    return (hw_text_loss_params){.chunk = 512};
}

/* -ln softmax(logits)[target], in double so that long vocabularies add up exactly. */
static float nll(const float *logits, int V, int target) {
    float mx = logits[0];
    for (int v = 1; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    double sum = 0.0;
    for (int v = 0; v < V; v++) sum += exp((double)(logits[v] - mx));
    return (float)(log(sum) - (double)(logits[target] - mx));
}

hw_status hw_text_loss(const hw_model *m, const int *tokens, int n, const hw_text_loss_params *p,
                       hw_progress_fn progress, void *user, float *losses) {
    if (!m || !tokens || !p || !losses || n < 2)
        return hw_fail(HW_ERR_ARG, "hw_text_loss: a model, at least 2 tokens and an output are needed");
    const int V = hw_model_config(m)->vocab_size;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return hw_fail(HW_ERR_ARG, "hw_text_loss: token %d at position %d is outside the "
                                       "vocabulary (%d)", tokens[i], i, V);
    const hw_config *cfg = hw_model_config(m);
    const int G = p->n_greedy > 0 ? p->n_greedy : 0, total = n + G;
    if (G && !p->greedy) return hw_fail(HW_ERR_ARG, "hw_text_loss: n_greedy %d and no buffer", G);
    if (cfg->pos == HW_POS_LEARNED && total > cfg->n_ctx)
        return hw_fail(HW_ERR_RANGE, "hw_text_loss: %d tokens and %d greedy ones do not fit the "
                                     "model's learned positions (%d)", n, G, cfg->n_ctx);
    const int chunk = p->chunk > 0 && p->chunk < n ? p->chunk : n;
    hw_context *c = hw_context_new_kv(m, total, p->kv);
    if (!c) return HW_ERR_ARG; /* the policy does not fit the model; the error says why */
    float *logits = malloc(sizeof(float) * (size_t)chunk * V);
    hw_status st = logits ? HW_OK : hw_fail(HW_ERR_NOMEM, "hw_text_loss: logits");
    /* The last token has no next one to score: feed only n - 1. */
    for (int done = 0; st == HW_OK && done < n - 1;) {
        const int T = n - 1 - done < chunk ? n - 1 - done : chunk;
        st = hw_forward_hooked(c, tokens + done, T, HW_LOGITS_ALL, logits, p->hooks);
        for (int t = 0; st == HW_OK && t < T; t++) {
            losses[done + t] = nll(logits + (size_t)t * V, V, tokens[done + t + 1]);
            if (!isfinite(losses[done + t]))
                st = hw_fail(HW_ERR_RANGE, "hw_text_loss: non-finite loss at position %d", done + t);
        }
        done += T;
        if (st == HW_OK && progress && progress("tokens", done + 1, total, user))
            st = hw_fail(HW_ERR_ARG, "hw_text_loss: stopped by the caller");
    }
    /* The greedy continuation: the last token, then each argmax fed back. */
    for (int g = 0, next = tokens[n - 1]; st == HW_OK && g < G; g++) {
        st = hw_forward_hooked(c, &next, 1, HW_LOGITS_LAST, logits, p->hooks);
        next = 0;
        for (int v = 1; st == HW_OK && v < V; v++) next = logits[v] > logits[next] ? v : next;
        p->greedy[g] = next;
        if (st == HW_OK && progress && progress("tokens", n + g + 1, total, user))
            st = hw_fail(HW_ERR_ARG, "hw_text_loss: stopped by the caller");
    }
    free(logits);
    hw_context_free(c);
    return st;
}

int hw_text_loss_tokens(const hw_tokenizer *t, const char *text, const char *path, int n, int **ids) {
    if (!t || !ids || (!text && !path)) return hw_fail(HW_ERR_ARG, "hw_text_loss_tokens: no tokenizer, text or output"), -1;
    char *read = text ? NULL : hw_read_text(path);
    if (!text && !read) return -1;
    int *tok = NULL, len = hw_tokenizer_encode_alloc(t, text ? text : read, HW_TOK_BOS, &tok);
    free(read);
    if (len < 0) return -1;
    const int bos = len > 0 && hw_tokenizer_bos(t) == tok[0];
    if (len - bos < 1 || (n <= 0 && len < 2)) {
        free(tok);
        return hw_fail(HW_ERR_ARG, "the text has no tokens to score"), -1;
    }
    if (n <= 0) n = len;
    int *all = realloc(tok, sizeof(int) * (size_t)(n > len ? n : len));
    if (!all) {
        free(tok);
        return hw_fail(HW_ERR_NOMEM, "hw_text_loss_tokens: out of memory"), -1;
    }
    for (int i = len; i < n; i++) all[i] = all[bos + (i - bos) % (len - bos)];
    *ids = all;
    return n;
}
