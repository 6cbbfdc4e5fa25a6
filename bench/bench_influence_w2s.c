/* bench_influence_w2s.c: AttentionInfluence's weak-to-strong claim in miniature
 * (methods.md section 10; issue 21's last must-show, run by bench/influence_w2s.sh): a
 * larger model than the selector (the retrieval organism, 4 x 8 heads, d 64) is trained
 * from scratch on the documents the selector chose and, with the same steps, seed and
 * shape, on a random subset of the same size; both are scored on the retrieval task's
 * held-out samples (exact greedy answers). Documents are tokenized with the organism's
 * tokenizer (the task's vocabulary), BOS first, cut into sequences of the task's length,
 * padded with targets -1.
 * usage: bench_influence_w2s ORGANISM SELECTED.txt RANDOM.txt [STEPS] [D_MODEL]
 * (each .txt: one document's text a line). */
#include "headwise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int *tok;   /* (n, T) */
    int n, T;
} sequences;

static int load(const char *path, const hw_tokenizer *t, int T, sequences *s) {
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "cannot read %s\n", path), 1;
    char *line = NULL;
    size_t cap = 0;
    int cap_seq = 1024, *ids = NULL;
    s->T = T, s->n = 0, s->tok = malloc(sizeof(int) * (size_t)cap_seq * T);
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        int n = hw_tokenizer_encode_alloc(t, line, 0, &ids);
        for (int a = 0; n > 0 && a < n; a += T - 1) {
            if (s->n == cap_seq) s->tok = realloc(s->tok, sizeof(int) * (size_t)(cap_seq *= 2) * T);
            int *q = s->tok + (size_t)s->n++ * T;
            q[0] = hw_tokenizer_bos(t);
            for (int i = 1; i < T; i++) q[i] = a + i - 1 < n ? ids[a + i - 1] : -1;
        }
        free(ids), ids = NULL;
    }
    free(line);
    fclose(f);
    return s->n ? 0 : (fprintf(stderr, "%s: no documents\n", path), 1);
}

/* Train a fresh model on s (batches drawn by a fixed permutation stream) and score it. */
static double train_and_score(const hw_task *task, const sequences *s, const hw_task_train_params *tp, float *final) {
    hw_config c = hw_task_model_config(task, tp);
    hw_model *m = hw_model_new_random(&c, tp->train.seed);
    hw_trainer *tr = m ? hw_trainer_new(m, &tp->train) : NULL;
    const int B = tp->batch, T = s->T;
    int *tok = malloc(sizeof(int) * (size_t)B * T), *tgt = malloc(sizeof(int) * (size_t)B * T);
    uint64_t r = tp->train.seed * 0x9E3779B97F4A7C15ull + 1;
    double tail = 0;
    int n_tail = 0;
    for (int step = 0; tr && step < tp->train.steps; step++) {
        for (int b = 0; b < B; b++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17; /* xorshift: the same draws for both sets' sizes */
            const int *q = s->tok + (size_t)(r % (uint64_t)s->n) * T;
            for (int i = 0; i < T; i++) {
                tok[b * T + i] = q[i] < 0 ? 0 : q[i];
                tgt[b * T + i] = i + 1 < T ? q[i + 1] : -1;
            }
        }
        hw_batch batch = {tok, tgt, B, T};
        float loss = NAN;
        if (hw_trainer_step(tr, &batch, &loss)) { fprintf(stderr, "%s\n", hw_last_error()); break; }
        if (step >= tp->train.steps * 9 / 10) tail += loss, n_tail++;
    }
    hw_task_score sc = {0};
    if (!tr || hw_task_evaluate(task, m, 12345, 200, &sc)) fprintf(stderr, "%s\n", hw_last_error());
    *final = n_tail ? (float)(tail / n_tail) : NAN;
    free(tok), free(tgt);
    hw_trainer_free(tr);
    hw_model_free(m);
    return sc.accuracy;
}

int main(int argc, char **argv) {
    if (argc < 4) return fprintf(stderr, "usage: bench_influence_w2s ORGANISM SELECTED.txt RANDOM.txt [STEPS] [D_MODEL]\n"), 2;
    hw_set_threads(2);
    hw_model *org = hw_model_load(argv[1]);
    hw_tokenizer *t = org ? hw_tokenizer_load_for_model(argv[1], hw_model_config(org)->vocab_size) : NULL;
    hw_task_eval_params ep = hw_task_eval_params_default();
    ep.name = "retrieval";
    hw_task *task = t ? hw_task_new_for_model(org, &ep) : NULL;
    hw_task_params tparams;
    hw_task_train_params tp;
    if (!task || hw_organism_params("retrieval", &tparams, &tp, NULL)) return fprintf(stderr, "%s\n", hw_last_error()), 1;
    tp.train.steps = argc > 4 ? atoi(argv[4]) : tp.train.steps;
    tp.d_model = argc > 5 ? atoi(argv[5]) : 2 * tp.d_model; /* the larger model */
    sequences sel, rnd;
    if (load(argv[2], t, hw_task_seq_len(task), &sel) || load(argv[3], t, hw_task_seq_len(task), &rnd)) return 1;
    printf("larger model: %d layers x %d heads, d_model %d (selector: d_model %d); %d steps of %d sequences, seed %llu\n",
           tp.n_layer, tp.n_head, tp.d_model, hw_model_config(org)->d_model, tp.train.steps, tp.batch,
           (unsigned long long)tp.train.seed);
    float lsel, lrnd;
    const double asel = train_and_score(task, &sel, &tp, &lsel), arnd = train_and_score(task, &rnd, &tp, &lrnd);
    printf("selected (AttentionInfluence top): %d sequences, final train loss %.3f, retrieval held-out accuracy %.3f\n",
           sel.n, lsel, asel);
    printf("random (same size):                %d sequences, final train loss %.3f, retrieval held-out accuracy %.3f\n",
           rnd.n, lrnd, arnd);
    printf("difference: %+.1f points\n", 100 * (asel - arnd));
    free(sel.tok), free(rnd.tok);
    hw_task_free(task);
    hw_tokenizer_free(t);
    hw_model_free(org);
    return 0;
}
