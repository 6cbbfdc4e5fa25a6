/*
 * bench_longheads.c: what LongHeads' KV cache costs against full attention as the context
 * grows past the model's trained length L (issue 15's benchmark): decode tokens/s, prefill
 * time per token and KV bytes at contexts L, 2L, 4L, 8L and 16L, on a random-weight Llama
 * of llama2.c's 110M shape (D 768, L 12, H 12, Dh 64, F 2048, V 32000, shared
 * classifier), MHA (Hk 12) or, with --gqa, 4 query heads per KV head (Hk 3). Not a test:
 * it prints tables and whether longheads' decode step stayed flat, and exits 0 whatever
 * the figures.
 *
 *   bench_longheads [--quick] [--train-ctx L] [--mults 1,2,4,8,16] [--decode N] [--gqa]
 *
 * The trained context L is the model's n_ctx (default 1024, so that 16L = 16K tokens is
 * reached in about a quarter of an hour on 2 shared cores); longheads runs with its defaults, A = L and W = A / 16,
 * and the paper's pooled chunk keys. A random model's attention is not what a trained
 * one's is, but the costs measured here do not depend on the weights' values: which
 * chunks a head picks changes what it reads, not how much.
 *
 * One process holds two contexts, full and longheads, each made for the largest context
 * plus the decode steps, and two references, one per policy, prefilled to L once. A
 * seeded random prompt is prefilled into the two in pieces of 512 rows (the engine's
 * chunk), the policies alternating piece by piece, up to the first context N; then D
 * greedy decode steps in all four contexts, taking turns step by step (who goes first
 * rotating); then the prompt is prefilled on from where the decode steps left it up to
 * the next N, and so on (the references only decode, so they stay within a few D of L).
 * A neighbour's load on this shared machine thus falls on every policy and context
 * alike: the ratios, lh/full and a step at N over the same policy's step at L measured in
 * turn with it, mean more than the absolute figures, which vary about 12% from run to run
 * here (and more between stages minutes apart). Decode tok/s is 1 / the median step.
 * Prefill is reported per segment (positions from..to) in ms per token: the
 * first segment is below A, where longheads attends exactly as full attention does (its
 * overhead there: storing keys a second time, rotated within their chunk, and pooling
 * chunk keys); past A every row picks its chunks and reads up to A keys where they sit
 * (its query rotated once per chunk), linear in the context where full attention's rows
 * cost more the further they are.
 *
 * KV bytes: hw_context_kv_bytes of a context made for N + D tokens (the context a decode
 * row measured), for each policy. Longheads keeps every position (and its chunk-rotated
 * keys, chunk keys and the current chunk's queries), so its cache is larger than full
 * attention's: what it saves is the per-step reading, not the memory.
 *
 * --quick: a tiny model (D 64, L 2, H 4, Hk 4 / 1, Dh 16), L = 128, 8 decode steps, for
 * tests/bench_kv_smoke_test.sh; it also prints `longheads` lines with exact byte counts.
 */
#include "headwise.h"
#include "bench_util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STAGES = 8, PIECE = 512, MAX_DECODE = 256 };
/* The contexts: full and longheads at N, and each policy's reference near L. */
enum { FULL = 0, LH = 1, FULL_REF = 2, LH_REF = 3, N_CTX = 4 };
static const char *const POLICY[N_CTX] = {"full", "longheads", "full at L", "longheads at L"};

typedef struct {
    int quick, gqa, train_ctx, decode, n_mult;
    int mult[MAX_STAGES];
} options;

/* One context N: its prefill segment, its decode steps, its KV bytes. */
typedef struct {
    int n, from;               /* context N; the segment prefilled was positions from..N-1 */
    double pre_s[2];           /* seconds of that segment */
    double step[N_CTX][MAX_DECODE];
    int decoded[N_CTX];
    double step_med[N_CTX];    /* median seconds of one decode step */
    double kv[2];              /* bytes of a context made for N + decode tokens */
} stage;

typedef struct {
    const hw_model *m;
    hw_kv_policy *pol[2];
    hw_context *ctx[N_CTX];
    float *logits[N_CTX];
    int *prompt;
    int vocab;
} bench;

/* ---------------------------------------------------------------- measuring */

/* Prefill prompt[from..to) into both contexts in pieces of PIECE rows, the policies
 * alternating piece by piece (and which goes first); the last piece asks for logits. */
static int prefill(bench *b, int from, int to, stage *s) {
    for (int p = from, k = 0; p < to; p += PIECE, k++) {
        const int n = to - p < PIECE ? to - p : PIECE;
        const hw_logits_mode mode = p + n == to ? HW_LOGITS_LAST : HW_LOGITS_NONE;
        for (int i = 0; i < 2; i++) {
            const int w = (k + i) % 2;
            double t0 = bench_now();
            if (hw_forward(b->ctx[w], b->prompt + p, n, mode, b->logits[w]) != HW_OK) {
                fprintf(stderr, "bench_longheads: %s prefill at %d: %s\n", POLICY[w], p,
                        hw_last_error());
                return 0;
            }
            s->pre_s[w] += bench_now() - t0;
        }
    }
    return 1;
}

/* D greedy steps in every context, taking turns step by step (who goes first rotating). */
static int decode(bench *b, int D, stage *s) {
    for (int i = 0; i < D; i++)
        for (int j = 0; j < N_CTX; j++) {
            const int w = (i + j) % N_CTX;
            int tok = bench_argmax(b->logits[w], b->vocab);
            double t0 = bench_now();
            if (hw_forward(b->ctx[w], &tok, 1, HW_LOGITS_LAST, b->logits[w]) != HW_OK) {
                fprintf(stderr, "bench_longheads: %s decode step %d: %s\n", POLICY[w], i,
                        hw_last_error());
                return 0;
            }
            s->step[w][s->decoded[w]++] = bench_now() - t0;
        }
    for (int w = 0; w < N_CTX; w++) s->step_med[w] = bench_median(s->step[w], s->decoded[w]);
    return 1;
}

/* KV bytes of each policy's context made for n tokens (a calloc'd context: its pages
 * are never touched, so this costs no memory). */
static int kv_bytes(const bench *b, int n, stage *s) {
    for (int w = 0; w < 2; w++) {
        hw_context *c = hw_context_new_kv(b->m, n, b->pol[w]);
        if (!c) {
            fprintf(stderr, "bench_longheads: %s context of %d: %s\n", POLICY[w], n,
                    hw_last_error());
            return 0;
        }
        s->kv[w] = (double)hw_context_kv_bytes(c, -1, -1);
        hw_context_free(c);
    }
    return 1;
}

static int run_stages(bench *b, const options *o, stage *st) {
    int pos = 0;
    for (int k = 0; k < o->n_mult; k++) {
        stage *s = &st[k];
        memset(s, 0, sizeof *s);
        s->n = o->train_ctx * o->mult[k], s->from = pos;
        char cb[32];
        bench_human_ctx(s->n, cb, sizeof cb);
        double t0 = bench_now();
        if (!prefill(b, pos, s->n, s) || !decode(b, o->decode, s) ||
            !kv_bytes(b, s->n + o->decode, s))
            return 0;
        pos = s->n + o->decode;
        fprintf(stderr, "bench_longheads: %s: %.1f s (prefill of %d..%d: full %.1f s, longheads "
                "%.1f s; decode: full %.2f tok/s, longheads %.2f tok/s; at L: %.2f, %.2f)\n",
                cb, bench_now() - t0, s->from, s->n - 1, s->pre_s[FULL], s->pre_s[LH],
                1 / s->step_med[FULL], 1 / s->step_med[LH], 1 / s->step_med[FULL_REF],
                1 / s->step_med[LH_REF]);
    }
    return 1;
}

/* ---------------------------------------------------------------- the tables */

static void print_decode(const options *o, const stage *st) {
    printf("\n  decode after prefilling N tokens (%d greedy steps each; tok/s = 1 / the median "
           "step; \"vs L\": the median step over that of the same policy's context at about L, "
           "measured in turn with it)\n", o->decode);
    printf("  %-6s %6s %10s %10s %8s %8s %8s %10s %10s %8s\n", "", "N", "full", "longheads",
           "ratio", "full", "lh", "full KV", "lh KV", "KV");
    printf("  %-6s %6s %10s %10s %8s %8s %8s %10s %10s %8s\n", "", "", "tok/s", "tok/s", "lh/full",
           "vs L", "vs L", "MB", "MB", "lh/full");
    for (int k = 0; k < o->n_mult; k++) {
        const stage *s = &st[k];
        char cb[32];
        printf("  %-6s %6s %10.2f %10.2f %7.2fx %7.2fx %7.2fx %10.2f %10.2f %7.2fx\n", "decode",
               bench_human_ctx(s->n, cb, sizeof cb), 1 / s->step_med[FULL], 1 / s->step_med[LH],
               s->step_med[FULL] / s->step_med[LH], s->step_med[FULL] / s->step_med[FULL_REF],
               s->step_med[LH] / s->step_med[LH_REF], s->kv[FULL] / 1e6, s->kv[LH] / 1e6,
               s->kv[LH] / s->kv[FULL]);
    }
}

static void print_prefill(const options *o, const stage *st) {
    printf("\n  prefill of each segment (positions from..to; ms per token; interleaved in "
           "pieces of %d)\n", PIECE);
    printf("  %-7s %13s %10s %10s %8s\n", "", "positions", "full", "longheads", "ratio");
    printf("  %-7s %13s %10s %10s %8s\n", "", "", "ms/tok", "ms/tok", "lh/full");
    for (int k = 0; k < o->n_mult; k++) {
        const stage *s = &st[k];
        const int n = s->n - s->from;
        char range[32];
        snprintf(range, sizeof range, "%d..%d", s->from, s->n - 1);
        printf("  %-7s %13s %10.3f %10.3f %7.2fx\n", "prefill", range, 1e3 * s->pre_s[FULL] / n,
               1e3 * s->pre_s[LH] / n, s->pre_s[LH] / s->pre_s[FULL]);
    }
}

/* Whether longheads' step stayed flat from L to the largest N while full attention's grew;
 * --quick also prints each row's exact figures for tests/bench_kv_smoke_test.sh. */
static void print_summary(const options *o, const stage *st, int W, int A) {
    const stage *a = &st[0], *z = &st[o->n_mult - 1];
    char ca[32], cz[32];
    bench_human_ctx(a->n, ca, sizeof ca), bench_human_ctx(z->n, cz, sizeof cz);
    const double lh = z->step_med[LH] / z->step_med[LH_REF];
    const double full = z->step_med[FULL] / z->step_med[FULL_REF];
    printf("\n  longheads' decode step at %s over its step at %s (measured in turn): %.2fx (aim: "
           "near 1, i.e. flat); full attention's: %.2fx\n", cz, ca, lh, full);
    printf("  (the same from the first row's steps, minutes apart, so less robust to a "
           "neighbour's load: %.2fx and %.2fx)\n", z->step_med[LH] / a->step_med[LH],
           z->step_med[FULL] / a->step_med[FULL]);
    printf("  at %s longheads decodes %.2fx as fast as full attention; its KV cache is %.2fx "
           "full attention's\n", cz, z->step_med[FULL] / z->step_med[LH], z->kv[LH] / z->kv[FULL]);
    if (!o->quick) return;
    for (int k = 0; k < o->n_mult; k++) {
        const stage *s = &st[k];
        printf("longheads context=%d decode=%d decoded_full=%d decoded_lh=%d full_tps=%.6g "
               "lh_tps=%.6g full_bytes=%.0f lh_bytes=%.0f full_prefill_ms=%.6g "
               "lh_prefill_ms=%.6g chunk_w=%d heads_len=%d decoded_ref=%d,%d\n",
               s->n, o->decode, s->decoded[FULL], s->decoded[LH], 1 / s->step_med[FULL],
               1 / s->step_med[LH], s->kv[FULL], s->kv[LH], 1e3 * s->pre_s[FULL] / (s->n - s->from),
               1e3 * s->pre_s[LH] / (s->n - s->from), W, A, s->decoded[FULL_REF], s->decoded[LH_REF]);
    }
}

/* ---------------------------------------------------------------- main */

static int usage(const char *msg) {
    return bench_usage("bench_longheads", msg, "[--quick] [--train-ctx L] "
                       "[--mults 1,2,4,8,16] [--decode N] [--gqa]");
}

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.train_ctx = 1024, .decode = 32, .n_mult = 5, .mult = {1, 2, 4, 8, 16}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            o->quick = 1, o->train_ctx = 128, o->decode = 8;
        } else if (!strcmp(a, "--gqa")) {
            o->gqa = 1;
        } else if (!strcmp(a, "--train-ctx")) {
            if (!bench_parse_int(val, 64, 1 << 16, &o->train_ctx) || val[strcspn(val, ",")])
                return usage("--train-ctx takes 64..65536");
            i++;
        } else if (!strcmp(a, "--decode")) {
            if (!bench_parse_int(val, 1, MAX_DECODE, &o->decode) || val[strcspn(val, ",")])
                return usage("--decode takes 1..256");
            i++;
        } else if (!strcmp(a, "--mults")) {
            o->n_mult = 0;
            for (const char *p = val; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : "") {
                int *x = &o->mult[o->n_mult];
                if (o->n_mult == MAX_STAGES || !bench_parse_int(p, 1, 64, x) ||
                    (o->n_mult > 0 && *x <= x[-1]))
                    return usage("--mults takes up to 8 increasing multiples of L in 1..64");
                o->n_mult++;
            }
            if (o->n_mult == 0) return usage("--mults takes a list of multiples of L");
            i++;
        } else {
            return usage("unknown option");
        }
    }
    /* The decode steps of one context fill positions the next one's prefill starts after. */
    for (int k = 1; k < o->n_mult; k++)
        if (o->train_ctx * (o->mult[k] - o->mult[k - 1]) <= o->decode)
            return usage("--decode must be less than the gap between consecutive contexts");
    return 0;
}

static void bench_free(bench *b) {
    for (int w = 0; w < N_CTX; w++) {
        hw_context_free(b->ctx[w]);
        free(b->logits[w]);
    }
    for (int w = 0; w < 2; w++) hw_kv_policy_free(b->pol[w]);
    free(b->prompt);
}

static int bench_init(bench *b, const hw_model *m, const options *o, int *W, int *A) {
    const int most = o->train_ctx * o->mult[o->n_mult - 1];
    *b = (bench){.m = m, .vocab = hw_model_config(m)->vocab_size};
    b->pol[FULL] = hw_kv_policy_new(m, 0, 0, 0, HW_KV_COMP_NONE);
    b->pol[LH] = hw_kv_policy_new_longheads(m, 0, 0, 0, HW_LONGHEADS_POOLED);
    if (!b->pol[FULL] || !b->pol[LH] || !hw_kv_policy_longheads(b->pol[LH], W, A, NULL)) {
        fprintf(stderr, "bench_longheads: policy: %s\n", hw_last_error());
        return 0;
    }
    /* The references stay near L: each stage's decode steps move them on by D. */
    for (int w = 0; w < N_CTX; w++) {
        const int size = w < 2 ? most + o->decode : o->train_ctx + o->n_mult * o->decode;
        if (!(b->ctx[w] = hw_context_new_kv(m, size, b->pol[w % 2]))) {
            fprintf(stderr, "bench_longheads: %s context: %s\n", POLICY[w], hw_last_error());
            return 0;
        }
        if (!(b->logits[w] = malloc((size_t)b->vocab * sizeof(float)))) return 0;
    }
    if (!(b->prompt = malloc((size_t)most * sizeof *b->prompt))) return 0;
    bench_prompt(b->prompt, most, b->vocab, (uint64_t)most);
    for (int w = FULL_REF; w <= LH_REF; w++) /* not timed */
        if (hw_forward(b->ctx[w], b->prompt, o->train_ctx, HW_LOGITS_LAST, b->logits[w]) != HW_OK) {
            fprintf(stderr, "bench_longheads: %s prefill: %s\n", POLICY[w], hw_last_error());
            return 0;
        }
    return 1;
}

int main(int argc, char **argv) {
    bench_passive_threads(argv);
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) return rc;
    const double load = bench_load_average(), t0 = bench_now();
    hw_set_threads(2);
    hw_config cfg;
    hw_model_info info;
    /* n_ctx: the trained length, longheads' A by default */
    const int hk = o.gqa ? (o.quick ? 1 : 3) : (o.quick ? 4 : 12);
    hw_model *m = bench_random_llama("bench_longheads", o.quick, hk, o.train_ctx, &cfg, &info);
    if (!m) return 1;
    bench b;
    int W = 0, A = 0, ok = bench_init(&b, m, &o, &W, &A);
    const int most = o.train_ctx * o.mult[o.n_mult - 1];
    printf("bench_longheads: full attention vs LongHeads' KV cache as the context grows past "
           "the trained length, random-weight Llama%s\n",
           o.quick ? " (--quick: tiny model)" : " of the 110M shape");
    printf("  %s: D %d, L %d, H %d, Hk %d, Dh %d, F %d, V %d (tied); %.1fM parameters; "
           "trained context (n_ctx) %d\n", o.gqa ? "GQA" : "MHA", cfg.d_model, cfg.n_layer,
           cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.d_ff, cfg.vocab_size, info.n_params / 1e6,
           cfg.n_ctx);
    printf("  longheads: chunk W = %d, heads_len A = %d (the defaults: A = n_ctx, W = A / 16), "
           "pooled chunk keys\n", W, A);
    printf("  one process, both contexts made for %d tokens; prefill in pieces of %d and decode "
           "steps taking turns with a reference context near L per policy\n", most + o.decode, PIECE);
    printf("  2 threads; load average before the run: %.2f (shared machine: compare the ratios "
           "of one run, not absolute figures across runs)\n", load);
    fflush(stdout);
    if (!o.quick)
        fprintf(stderr, "bench_longheads: about 15 minutes on 2 cores, most of it the prefills "
                        "to %d tokens (full attention's O(T^2); longheads' rows past A reading "
                        "A keys each); --mults 1,2,4 for a shorter run\n", most);
    stage st[MAX_STAGES];
    ok = ok && run_stages(&b, &o, st);
    if (ok) {
        print_decode(&o, st);
        print_prefill(&o, st);
        print_summary(&o, st, W, A);
        printf("\n  total time %.0f s; load average now %.2f\n", bench_now() - t0,
               bench_load_average());
    }
    bench_free(&b);
    hw_model_free(m);
    return ok ? 0 : 1;
}
