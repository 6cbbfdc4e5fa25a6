/*
 * generate.c: the text-generation loop. As llama2.c's run.c: n_steps counts
 * positions from BOS, prompt included; the prompt is prefilled at once, then one
 * token is decoded per step. BOS (which TinyStories models emit between stories)
 * or EOS ends the text.
 */
#include "internal.h"

#include <stdlib.h>

hw_generate_params hw_generate_params_default(void) {
    return (hw_generate_params){.n_steps = 256, .sampler = hw_sampler_params_default()};
}

hw_greedy_params hw_greedy_params_default(void) {
    return (hw_greedy_params){.max_new = 64, .stop = HW_STOP_EOS};
}

int hw_greedy(hw_context *c, const hw_tokenizer *t, const int *prompt, int n,
              const hw_greedy_params *p, int *out, char *text, size_t text_cap) {
    hw_greedy_params d = hw_greedy_params_default();
    if (!p) p = &d;
    if (!c || !prompt || !out || n < 1 + (p->decode_last != 0) || p->max_new < 0)
        return hw_fail(HW_ERR_ARG, "hw_greedy: a prompt of at least %d tokens and max_new >= 0",
                       1 + (p->decode_last != 0)), -1;
    if ((text || (p->stop & HW_STOP_NEWLINE)) && !t)
        return hw_fail(HW_ERR_ARG, "hw_greedy: text and the newline stop need a tokenizer"), -1;
    const hw_config *cfg = hw_model_config(hw_context_model(c));
    const int V = cfg->vocab_size;
    if (text && text_cap) text[0] = 0;
    if (p->max_new == 0) return 0;
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!logits) return hw_fail(HW_ERR_NOMEM, "out of memory for logits"), -1;
    hw_context_reset(c);
    /* The first new token comes from the prompt's last row: from the prefill, or from
     * a decode step of the last prompt token (decode_last). */
    hw_status s = p->decode_last
                      ? hw_forward_hooked(c, prompt, n - 1, HW_LOGITS_NONE, NULL, p->hooks)
                      : HW_OK;
    int in = prompt[n - 1], prev = prompt[n - 1], produced = 0;
    size_t tl = 0;
    if (s == HW_OK)
        s = p->decode_last ? hw_forward_hooked(c, &in, 1, HW_LOGITS_LAST, logits, p->hooks)
                           : hw_forward_hooked(c, prompt, n, HW_LOGITS_LAST, logits, p->hooks);
    while (s == HW_OK) {
        int best = hw_argmax(logits, V);
        out[produced++] = best;
        if (p->on_token && p->on_token(produced - 1, best, logits, p->user)) {
            s = hw_last_error()[0] ? HW_ERR_ARG : hw_fail(HW_ERR_ARG, "stopped by the token callback");
            break;
        }
        if ((p->stop & HW_STOP_EOS) && (best == cfg->eos_id || best == cfg->bos_id)) break;
        int newline = 0;
        if (t) {
            size_t len = 0;
            const char *piece = hw_tokenizer_decode(t, prev, best, &len);
            for (size_t i = 0; piece && i < len; i++) {
                newline |= piece[i] == '\n';
                if (text && tl + 1 < text_cap) text[tl++] = piece[i];
            }
            if (text && text_cap) text[tl] = 0;
        }
        if (produced == p->max_new || ((p->stop & HW_STOP_NEWLINE) && newline) ||
            hw_context_pos(c) >= hw_context_size(c))
            break;
        prev = in = best;
        s = hw_forward_hooked(c, &in, 1, HW_LOGITS_LAST, logits, p->hooks);
    }
    free(logits);
    return s == HW_OK ? produced : -1;
}

hw_status hw_generate(const hw_model *m, const hw_tokenizer *t, const char *prompt,
                      hw_generate_params p, hw_piece_fn fn, void *user) {
    const hw_config *cfg = hw_model_config(m);
    /* Models may pad their vocabulary past the tokenizer's (Qwen2), never the reverse. */
    if (hw_tokenizer_vocab_size(t) > cfg->vocab_size)
        return hw_fail(HW_ERR_ARG, "tokenizer has %d pieces but the model's vocabulary is %d",
                       hw_tokenizer_vocab_size(t), cfg->vocab_size);
    const int reach = hw_kv_policy_max_positions(m, p.kv);
    int n_steps = p.n_steps <= 0 ? cfg->n_ctx : p.n_steps > reach ? reach : p.n_steps;
    int n_prompt = hw_tokenizer_encode(t, prompt ? prompt : "", HW_TOK_BOS, NULL, 0);
    if (n_prompt < 0) return HW_ERR_ARG;
    if (n_prompt == 0)
        return hw_fail(HW_ERR_ARG, "empty prompt and the tokenizer has no BOS token to start from");
    if (n_prompt > reach)
        return hw_fail(HW_ERR_RANGE, "prompt is %d tokens, longer than the context of %d",
                       n_prompt, reach);
    if (n_steps < n_prompt) n_steps = n_prompt;
    hw_status s = HW_OK;
    int *ids = malloc((size_t)n_prompt * sizeof *ids);
    float *logits = malloc((size_t)cfg->vocab_size * sizeof *logits);
    hw_context *c = hw_context_new_kv(m, n_steps, p.kv);
    hw_sampler *smp = hw_sampler_new(cfg->vocab_size, p.sampler);
    if (!ids || !logits || !c || !smp) {
        s = c && smp ? hw_fail(HW_ERR_NOMEM, "out of memory for generation") : HW_ERR_ARG;
        goto done;
    }
    hw_tokenizer_encode(t, prompt ? prompt : "", HW_TOK_BOS, ids, n_prompt);
    /* Prefill all prompt tokens; the last one's logits choose the first new token. */
    s = hw_forward_hooked(c, ids, n_prompt, HW_LOGITS_LAST, logits, p.hooks);
    /* Echo the prompt as run.c does, piece by piece after BOS. */
    int bos = hw_tokenizer_bos(t);
    for (int i = bos >= 0 && ids[0] == bos; i < n_prompt && s == HW_OK; i++) {
        size_t len;
        const char *piece = hw_tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], &len);
        if (fn && fn(piece, len, user)) goto done;
    }
    int prev = ids[n_prompt - 1];
    /* The token sampled from position pos's logits takes position pos + 1; as in
     * run.c the last one printed takes position n_steps, after n_steps forwards. */
    for (int pos = n_prompt; s == HW_OK; pos++) {
        int next = hw_sampler_sample(smp, logits);
        if (next == cfg->bos_id || next == cfg->eos_id) break; /* run.c stops on BOS only */
        size_t len;
        const char *piece = hw_tokenizer_decode(t, prev, next, &len);
        if (fn && fn(piece, len, user)) break;
        if (pos >= n_steps) break;
        prev = next;
        s = hw_forward_hooked(c, &next, 1, HW_LOGITS_LAST, logits, p.hooks);
    }
done:
    hw_sampler_free(smp);
    hw_context_free(c);
    free(logits);
    free(ids);
    return s;
}
