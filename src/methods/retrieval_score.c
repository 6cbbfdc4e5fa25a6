/*
 * retrieval_score.c: the Retrieval Head score (methods.md section 1.1, Wu et al. 2024):
 * where the needle sits in the prompt, and which heads copy-paste from it while the
 * model decodes the answer.
 */
#include "internal.h"

#include <stdlib.h>

/* Distinct values of a (n), sorted, into out; returns how many. */
static int distinct(const int *a, int n, int *out) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int v = a[i], j = m;
        while (j > 0 && out[j - 1] > v) j--;
        if (j > 0 && out[j - 1] == v) continue;
        for (int k = m; k > j; k--) out[k] = out[k - 1];
        out[j] = v;
        m++;
    }
    return m;
}

/* The index of v in sorted (n), or -1. */
static int index_of(const int *sorted, int n, int v) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && sorted[lo] == v ? lo : -1;
}

/* A token enters or leaves the window: count it if it is in the answer's set, and
 * keep *shared = how many of the set's tokens the window holds. */
static void window_add(const int *set, int n_set, int *count, int v, int *shared) {
    int k = index_of(set, n_set, v);
    if (k >= 0 && count[k]++ == 0) (*shared)++;
}
static void window_remove(const int *set, int n_set, int *count, int v, int *shared) {
    int k = index_of(set, n_set, v);
    if (k >= 0 && --count[k] == 0) (*shared)--;
}

/* Section 1.1, "needle span": the paper's code slides a window as long as the answer
 * over the prompt and takes the first whose token *set* covers more than 90% of the
 * answer's token set. Windows near the end are shorter, as Python slicing makes them. */
int hw_needle_span(const int *prompt, int n_prompt, const int *answer, int n_answer,
                   int *start, int *end) {
    *start = *end = -1;
    if (n_answer <= 0 || n_prompt <= 0) return 0;
    int *ans = malloc(sizeof(int) * (size_t)n_answer * 2);
    if (!ans) return 0;
    int *count = ans + n_answer; /* per answer-set token: its copies in the window */
    int n_set = distinct(answer, n_answer, ans), shared = 0;
    for (int k = 0; k < n_set; k++) count[k] = 0;
    /* Slide the window one token at a time, counting how many answer-set tokens
     * it holds (the distinct ones shared with the answer): O(prompt log answer)
     * rather than sorting every window. */
    for (int j = 0; j < n_prompt && j < n_answer; j++) window_add(ans, n_set, count, prompt[j], &shared);
    for (int i = 0; i < n_prompt; i++) {
        /* the window is prompt[i, min(i + n_answer, n_prompt)) */
        if ((double)shared / n_set > 0.9) {
            *start = i;
            *end = i + n_answer;
            break;
        }
        window_remove(ans, n_set, count, prompt[i], &shared);
        if (i + n_answer < n_prompt) window_add(ans, n_set, count, prompt[i + n_answer], &shared);
    }
    free(ans);
    return *start >= 0;
}

/* Section 1.1, one decode step: a head copy-pastes when its most attended key lies in
 * the needle span and holds the token being generated. The increment is 1/|span| per
 * step, with no de-duplication of repeated tokens (the paper's code). */
int hw_retrieval_step(double *score, const float *pattern, int H, int P, const int *ids,
                      int n_ids, int start, int end, int generated) {
    if (start < 0 || end <= start || P <= 0) return 0;
    int copied = 0;
    for (int h = 0; h < H; h++) {
        const float *row = pattern + (size_t)h * P;
        int best = hw_argmax(row, P);
        if (best >= start && best < end && best < n_ids && ids[best] == generated) {
            score[h] += 1.0 / (end - start);
            copied++;
        }
    }
    return copied;
}
