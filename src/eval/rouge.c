/*
 * rouge.c: ROUGE-1 recall as Google's rouge_score computes it with use_stemmer=True,
 * the gate of a Retrieval Head trial (methods.md section 1.1: a trial counts only
 * when recall(real_needle, response) * 100 > 50).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char **tok;
    int n;
} tokens;

static void tokens_free(tokens *t) {
    for (int i = 0; i < t->n; i++) free(t->tok[i]);
    free(t->tok);
}

/* rouge_score's tokenizer: lower case, every run of characters outside [a-z0-9] is a
 * separator, words longer than 3 letters are Porter-stemmed. Non-ASCII bytes are
 * separators, as they are outside [a-z0-9] after Python's lower(). */
static int tokenize(const char *text, tokens *t) {
    t->tok = NULL;
    t->n = 0;
    size_t cap = 0, len = strlen(text);
    char *buf = malloc(len + 1), stem[256];
    if (!buf) return -1;
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        while (i < len) {
            char c = text[i];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) break;
            buf[k++] = c;
            i++;
        }
        buf[k] = 0;
        if (!k) {
            i++;
            continue;
        }
        const char *w = buf;
        if (k > 3) {
            hw_porter_stem(buf, stem, sizeof stem);
            w = stem;
        }
        if ((size_t)t->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nt = realloc(t->tok, cap * sizeof *nt);
            if (!nt) goto fail;
            t->tok = nt;
        }
        if (!(t->tok[t->n] = strdup(w))) goto fail;
        t->n++;
    }
    free(buf);
    return 0;
fail:
    free(buf);
    tokens_free(t);
    return -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Section 1.1: recall = clipped unigram overlap / reference unigrams. */
double hw_rouge1_recall(const char *reference, const char *candidate) {
    tokens r, c;
    if (tokenize(reference, &r)) return 0;
    if (tokenize(candidate, &c)) {
        tokens_free(&r);
        return 0;
    }
    /* Sorted lists: the multiset intersection is a merge. */
    if (r.n) qsort(r.tok, (size_t)r.n, sizeof *r.tok, cmp_str);
    if (c.n) qsort(c.tok, (size_t)c.n, sizeof *c.tok, cmp_str);
    int shared = 0;
    for (int i = 0, j = 0; i < r.n && j < c.n;) {
        int d = strcmp(r.tok[i], c.tok[j]);
        if (!d) shared++, i++, j++;
        else if (d < 0) i++;
        else j++;
    }
    double recall = r.n ? (double)shared / r.n : 0;
    tokens_free(&r);
    tokens_free(&c);
    return recall;
}
