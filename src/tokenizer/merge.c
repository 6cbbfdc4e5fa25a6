/* merge.c: the BPE merge loop, a linked list of symbols and a heap of pairs.
 *
 * The reference loops (llama2.c's encode, SentencePiece's and Hugging Face's
 * BPE) all merge the best pair first and the leftmost of equal pairs. Scanning
 * every pair after every merge costs O(n^2), which is slow on long prompts; a
 * heap keyed by (priority, position) pops the same pair each step, because
 * symbols never move, so position order is sequence order. Entries whose
 * symbols changed since they were pushed are skipped when popped. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>

typedef struct {
    double priority;
    int left, right;          /* symbol positions */
    unsigned lver, rver;      /* their versions when pushed */
    int merged;               /* id of the merged piece */
} pair_entry;

typedef struct {
    pair_entry *e;
    size_t n;
} pair_heap;

/* a pops before b: higher priority, then the leftmost. */
static int before(const pair_entry *a, const pair_entry *b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->left < b->left;
}

static void heap_push(pair_heap *h, pair_entry x) {
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&x, &h->e[p])) break;
        h->e[i] = h->e[p];
        i = p;
    }
    h->e[i] = x;
}

static pair_entry heap_pop(pair_heap *h) {
    pair_entry top = h->e[0], x = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->e[c + 1], &h->e[c])) c++;
        if (!before(&h->e[c], &x)) break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n) h->e[i] = x;
    return top;
}

int hw_merge(int *ids, int n, hw_pair_fn pair, const void *ctx) {
    if (n < 2) return n;
    /* Each merge removes one symbol and pushes at most two pairs, so the heap
     * never holds more than (n - 1) + 2 (n - 1) entries. */
    size_t cap = 3 * (size_t)n;
    /* One block for the heap and the three per-symbol arrays: words are
     * short and many, so one allocation per word instead of four. */
    pair_heap h = {malloc(cap * sizeof *h.e + 3 * (size_t)n * sizeof(int)), 0};
    if (!h.e) {
        hw_fail(HW_ERR_NOMEM, "out of memory merging %d symbols", n);
        return -1;
    }
    int *next = (int *)(h.e + cap), *prev = next + n;
    unsigned *ver = (unsigned *)(prev + n);
    for (int i = 0; i < n; i++) {
        next[i] = i + 1; /* n = end */
        prev[i] = i - 1; /* -1 = start */
        ver[i] = 0;
    }
#define TRY_PAIR(l, r)                                                          \
    do {                                                                        \
        pair_entry x = {0, (l), (r), ver[l], ver[r], -1};                       \
        if (pair(ctx, ids[l], ids[r], &x.merged, &x.priority) && x.merged >= 0) \
            heap_push(&h, x);                                                   \
    } while (0)
    for (int i = 0; i + 1 < n; i++) TRY_PAIR(i, i + 1);
    while (h.n) {
        pair_entry e = heap_pop(&h);
        int l = e.left, r = e.right;
        if (ids[l] < 0 || ids[r] < 0 || next[l] != r || ver[l] != e.lver || ver[r] != e.rver)
            continue; /* stale: one side merged since */
        ids[l] = e.merged;
        ver[l]++;
        ids[r] = -1;
        next[l] = next[r];
        if (next[r] < n) prev[next[r]] = l;
        if (prev[l] >= 0) TRY_PAIR(prev[l], l);
        if (next[l] < n) TRY_PAIR(l, next[l]);
    }
#undef TRY_PAIR
    int k = 0;
    for (int i = 0; i < n; i = next[i]) ids[k++] = ids[i];
    free(h.e);
    return k;
}
