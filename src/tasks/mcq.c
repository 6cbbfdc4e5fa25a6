/*
 * mcq.c: the `mcq` task, multiple choice (methods.md section 9, the Chinchilla study of
 * Lieberum et al.). A sequence is four options, each a short text of random words
 * followed by its label, then a question that repeats one option's text, and the label:
 *
 *   <bos> a1 a2 A b1 B c1 c2 c3 C d1 d2 D Q: c1 c2 c3 Answer: C
 *
 * The labels are A, B, C, D in that order; the four texts are distinct, each of
 * min_len..max_len words (default 1..3, drawn per option) from n_symbols words w0..
 * (default 16); the question's text is the text of the option labelled L, drawn
 * uniformly. Only L carries a loss; accuracy is L right after "Answer:", teacher-forced.
 *
 * Why each label follows its text (MMLU writes "A. text"): a head can attend to the
 * correct label only if the label's position can see the text it labels. With the label
 * first, the label cannot know its text (causal attention), and the model answers from
 * the text. Label last, the shortest circuit is the one the Chinchilla paper describes:
 * layer-0 heads move each option's text into its label's position (and the question's
 * into "Answer:", which follows its text the same way), and layer-1 "correct letter"
 * heads attend from "Answer:" to the label whose text matches and write that label.
 *
 * What was tried (2-layer attention-only models, batches of 128, lr 3e-3; accuracy on
 * 200 held-out samples). Texts all two words long: the options sit at fixed offsets
 * from "Answer:", and the models (2 x 2 heads d 64, 3000 steps: 88%; 2 x 4 heads d 128:
 * 92%) compared the question with each option slot by position in layer 0, no head
 * attending to the labels. Texts of 1-3 words (the default): 2 x 2 heads d 64 reached
 * 68% at 3000 steps with the circuit above (a layer-0 head gathering each label's text
 * and the question, a layer-1 head on the correct label, 0.39 of its attention against
 * 0.16 on each other label); 2 x 4 heads d 64 62% (5000 steps); texts of 2-3 words
 * 54% (2 x 4, 4000 steps). Separators ("|", 0-2 between options) with two-word texts:
 * 42%; without "Answer:" (the label follows the question's last word, so the query needs
 * no layer-0 input) 80%, and with one-word texts 100% in 3000 steps, but the label is
 * then written by heads that do not attend to it (a layer-0 head that attends to the
 * option word the question repeats writes a third of the logit difference). Labels shuffled per sample
 * (so that only the label token says which letter an option has): at chance (loss
 * ln 4) for 3000 steps.
 *
 * Tried since (2 x 2 heads d 64 unless said, batch 128): one-word texts with Answer:
 * reach 94.5% in 3000 steps, but the layer-1 heads that write the label (DLA 5.1, 7.2)
 * put 0.10 and 0.01 of their attention on it. Random gaps of 0-2 filler tokens after each
 * label (so no option has a fixed place) keep that: 94.5% with one-word texts, the label
 * written by a head that attends to the option word the question repeats (or to the
 * filler after its label): that word follows the previous option's label, so it knows
 * which option it is. With gaps and two-word texts 56.5%, with 1-2 words 67%, no head on
 * the labels either. Shuffled labels with one-word texts: ln 4 for 3000 steps, 46% after
 * 12000 (4 heads at lr 1e-3: loss 1.0 after 9600). Shuffled, with the other options
 * asked too in the same sequence (four answers to learn from): loss 0.46 per answer, flat
 * from step 2400 to 4000; questions drawn with replacement: ln 4 through 1800 steps.
 * 1-3 words at d 128: 2 x 4 heads 66%,
 * 2 x 2 heads 52.5% (4000 steps).
 *
 * A counterfactual (hw_task_counterfactual; `to` a letter 0-3, or -s: s letters on,
 * cyclically) swaps the correct option's text with another option's: the same options
 * and question, the answer moved to another letter, as many tokens (activation
 * patching's corrupted run; texts of other lengths shift the options between them).
 *
 * Layout of a sample: src = the correct label's position, dst = the answer's, len = 1.
 * Sequences are 5 max_len + 8 tokens (default 23); shorter texts leave <bos> padding
 * after the answer, without loss.
 */
#include "tasks/task.h"

#include <stdlib.h>
#include <string.h>

enum { N_OPT = 4, MAX_TEXT = 8 };

typedef struct {
    int q, answer, label0, word0, n_words, min_len, max_len;
} world;

static hw_status init(hw_task *t) {
    hw_task_params *p = &t->p;
    if (!p->min_len) p->min_len = 1;
    if (!p->max_len) p->max_len = p->min_len > 3 ? p->min_len : 3;
    if (!p->n_symbols) p->n_symbols = 16;
    if (p->min_len < 1 || p->max_len < p->min_len || p->max_len > MAX_TEXT)
        return hw_fail(HW_ERR_ARG, "mcq: options of %d to %d words (1 <= min <= max <= %d)", p->min_len, p->max_len,
                       MAX_TEXT);
    /* Four distinct texts need at least four; a few more keep the rejection draw short. */
    double texts = 1;
    for (int i = 0; i < p->max_len; i++) texts *= p->n_symbols;
    if (p->n_symbols > 65536 || texts < 8)
        return hw_fail(HW_ERR_ARG, "mcq: %d words make %.0f texts of up to %d (need 8 or more, at most 65536 words)",
                       p->n_symbols, texts, p->max_len);
    int T0 = 5 * p->max_len + 8; /* <bos>, 4 x (text + label), Q:, text, Answer:, label */
    if (!p->seq_len) p->seq_len = T0;
    if (p->seq_len < T0)
        return hw_fail(HW_ERR_ARG, "mcq: a sequence of %d cannot hold four options of %d words and the question (%d)",
                       p->seq_len, p->max_len, T0);
    world *w = calloc(1, sizeof *w);
    if (!w) return hw_fail(HW_ERR_NOMEM, "mcq: out of memory");
    t->world = w;
    w->min_len = p->min_len, w->max_len = p->max_len, w->n_words = p->n_symbols;
    if ((w->q = hw_task_add_symbol(t, "Q:")) < 0 || (w->answer = hw_task_add_symbol(t, "Answer:")) < 0)
        return HW_ERR_NOMEM;
    w->label0 = t->n_sym;
    for (int k = 0; k < N_OPT; k++)
        if (hw_task_add_symbol(t, "%c", 'A' + k) < 0) return HW_ERR_NOMEM;
    w->word0 = t->n_sym;
    for (int i = 0; i < w->n_words; i++)
        if (hw_task_add_symbol(t, "w%d", i) < 0) return HW_ERR_NOMEM;
    return HW_OK;
}

/* The parts of a sequence: option k's text (len[k] words at text[k]), the question's
 * text (qlen at qtext; its "Q:" right before), the correct option c. */
typedef struct {
    int text[N_OPT], len[N_OPT], qtext, qlen, c;
    int letter[N_OPT]; /* option k's label, 0-3 for A-D */
} parts;

static int same_text(const int *tok, const parts *s, int a, int b) {
    return s->len[a] == s->len[b] && !memcmp(tok + s->text[a], tok + s->text[b], (size_t)s->len[a] * sizeof *tok);
}

/* Write the options in the order `order` (texts of src at s's places), the question
 * and answer, padding, targets and layout into out from the texts in src. */
static void assemble(const hw_task *t, const int *src, const parts *s, const int *order, int c, int *out, int *tgt,
                     hw_task_layout *lay) {
    const world *w = t->world;
    int T = t->p.seq_len, i = 1, label_c = 0, x[N_OPT * MAX_TEXT + MAX_TEXT];
    /* src may be out: copy the texts first */
    for (int k = 0, n = 0; k < N_OPT; k++, n += MAX_TEXT) memcpy(x + n, src + s->text[k], (size_t)s->len[k] * sizeof *x);
    memcpy(x + N_OPT * MAX_TEXT, src + s->qtext, (size_t)s->qlen * sizeof *x);
    out[0] = 0;
    for (int k = 0; k < N_OPT; k++) {
        int o = order[k];
        memcpy(out + i, x + o * MAX_TEXT, (size_t)s->len[o] * sizeof *out);
        i += s->len[o];
        if (k == c) label_c = i;
        out[i++] = w->label0 + s->letter[k];
    }
    out[i++] = w->q;
    memcpy(out + i, x + N_OPT * MAX_TEXT, (size_t)s->qlen * sizeof *out);
    i += s->qlen;
    out[i++] = w->answer;
    out[i] = w->label0 + s->letter[c];
    for (int j = 0; j < T; j++) tgt[j] = -1;
    tgt[i - 1] = out[i];
    if (lay) *lay = (hw_task_layout){label_c, i, 1};
    for (i++; i < T; i++) out[i] = 0; /* <bos> padding, no loss */
}

static void sample(const hw_task *t, hw_rng *r, int *tok, int *tgt, hw_task_layout *lay) {
    const world *w = t->world;
    parts s;
    int i = 1;
    for (int k = 0; k < N_OPT; k++) {
        int dup;
        s.text[k] = i;
        do { /* distinct texts: otherwise the question would name two options */
            s.len[k] = w->min_len + hw_rng_int(r, w->max_len - w->min_len + 1);
            for (int j = 0; j < s.len[k]; j++) tok[i + j] = w->word0 + hw_rng_int(r, w->n_words);
            dup = 0;
            for (int j = 0; j < k && !dup; j++) dup = same_text(tok, &s, j, k);
        } while (dup);
        i += s.len[k] + 1;
    }
    for (int k = 0; k < N_OPT; k++) s.letter[k] = k;
    s.c = hw_rng_int(r, N_OPT), s.qtext = s.text[s.c], s.qlen = s.len[s.c];
    static const int order[N_OPT] = {0, 1, 2, 3};
    assemble(t, tok, &s, order, s.c, tok, tgt, lay);
}

/* The parts of an mcq sequence; -1 (error set) if tok is not one. */
static int parse(const hw_task *t, const int *tok, parts *s) {
    const world *w = t->world;
    int T = t->p.seq_len, i = 1, seen = 0;
    if (tok[0] != 0) return hw_fail(HW_ERR_ARG, "mcq: the sequence does not start with <bos>"), -1;
    for (int k = 0; k <= N_OPT; k++) {
        int at = i;
        while (i < T && tok[i] >= w->word0 && tok[i] < w->word0 + w->n_words) i++;
        int len = i - at, x = i < T ? tok[i] - w->label0 : -1;
        if (len < w->min_len || len > w->max_len)
            return hw_fail(HW_ERR_ARG, "mcq: a text of %d words at %d (%d to %d)", len, at, w->min_len, w->max_len), -1;
        if (k < N_OPT && (x < 0 || x >= N_OPT || (seen >> x & 1)))
            return hw_fail(HW_ERR_ARG, "mcq: position %d is not a label A-D not seen before", i), -1;
        if (k == N_OPT && (i >= T || tok[i] != w->answer))
            return hw_fail(HW_ERR_ARG, "mcq: position %d is not Answer:", i), -1;
        if (k < N_OPT) s->text[k] = at, s->len[k] = len, s->letter[k] = x, seen |= 1 << x;
        else s->qtext = at, s->qlen = len;
        if (++i < T && k + 1 == N_OPT && tok[i++] != w->q) return hw_fail(HW_ERR_ARG, "mcq: no Q: at %d", i - 1), -1;
    }
    s->c = -1;
    for (int k = 0; k < N_OPT; k++) {
        if (s->len[k] != s->qlen || memcmp(tok + s->text[k], tok + s->qtext, (size_t)s->qlen * sizeof *tok)) continue;
        if (s->c >= 0) return hw_fail(HW_ERR_ARG, "mcq: the question names options %c and %c", 'A' + s->c, 'A' + k), -1;
        s->c = k;
    }
    if (s->c < 0) return hw_fail(HW_ERR_ARG, "mcq: the question names no option"), -1;
    if (i >= T || tok[i] != w->label0 + s->letter[s->c])
        return hw_fail(HW_ERR_ARG, "mcq: the answer at %d is not label %c", i, 'A' + s->letter[s->c]), -1;
    for (i++; i < T; i++)
        if (tok[i]) return hw_fail(HW_ERR_ARG, "mcq: token %d after the answer is not <bos> padding", i), -1;
    return s->c;
}

static hw_status counterfactual(const hw_task *t, const int *tok, int to, int *out, int *tgt, hw_task_layout *lay) {
    parts s;
    int c = parse(t, tok, &s);
    if (c < 0) return HW_ERR_ARG;
    int from = s.letter[c];
    if (to < -(N_OPT - 1) || to >= N_OPT || to == from)
        return hw_fail(HW_ERR_ARG, "mcq: cannot move the answer from %c to %d (0-3: another letter; -1 to -3: so many "
                       "letters on)", 'A' + from, to);
    if (to < 0) to = (from - to) % N_OPT;
    int d = 0, order[N_OPT] = {0, 1, 2, 3};
    while (s.letter[d] != to) d++; /* the option labelled `to` */
    order[c] = d, order[d] = c;
    /* Texts of other lengths shift the options between them; the total stays. */
    assemble(t, tok, &s, order, d, out, tgt, lay);
    return HW_OK;
}

/* The other labels, which a logit difference subtracts. */
static int wrong_answers(const hw_task *t, const int *tok, const hw_task_layout *lay, int *out) {
    const world *w = t->world;
    int n = 0;
    for (int k = 0; k < N_OPT; k++)
        if (w->label0 + k != tok[lay->dst]) out[n++] = w->label0 + k;
    return n;
}

/* A full cache: hw_task_evaluate is the trainer's score of the model it made; a run with
 * a KV-cache policy scores through hw_task_evaluate_hooked in its own context. */
static hw_status evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out) {
    return hw_task_evaluate_targets(t, m, seed, n, "the correct label after Answer: (teacher-forced)", out);
}

const hw_task_kind hw_task_mcq = {"mcq", init, sample, evaluate, counterfactual, wrong_answers};
