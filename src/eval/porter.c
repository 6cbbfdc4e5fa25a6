/*
 * porter.c: the Porter stemmer as NLTK's PorterStemmer runs it by default (the
 * NLTK_EXTENSIONS mode), because rouge_score stems with it and the Retrieval Head
 * protocol gates trials on ROUGE-1 (methods.md section 1.1). Words are lower-case
 * ASCII; the steps are Porter's (1980) with NLTK's departures marked "NLTK".
 */
#include "internal.h"

#include <string.h>

enum { STEM_MAX = 256 };

typedef struct {
    char s[STEM_MAX];
    int n;
} word;

static int consonant(const char *s, int i) {
    switch (s[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u': return 0;
    case 'y': return i == 0 ? 1 : !consonant(s, i - 1);
    default: return 1;
    }
}

/* m in Porter's [C](VC)^m[V]: the number of vowel-consonant transitions in s[0, n). */
static int measure(const char *s, int n) {
    int m = 0;
    for (int i = 1; i < n; i++) m += !consonant(s, i - 1) && consonant(s, i);
    return m;
}

static int has_vowel(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (!consonant(s, i)) return 1;
    return 0;
}

static int double_consonant(const char *s, int n) {
    return n >= 2 && s[n - 1] == s[n - 2] && consonant(s, n - 1);
}

/* *o: consonant-vowel-consonant, the last not w, x or y; NLTK also accepts a two-letter
 * vowel-consonant word. */
static int cvc(const char *s, int n) {
    if (n >= 3 && consonant(s, n - 3) && !consonant(s, n - 2) && consonant(s, n - 1) &&
        !strchr("wxy", s[n - 1]))
        return 1;
    return n == 2 && !consonant(s, 0) && consonant(s, 1);
}

static int ends(const word *w, const char *suf) {
    int k = (int)strlen(suf);
    return k <= w->n && !memcmp(w->s + w->n - k, suf, (size_t)k);
}

static void set_end(word *w, int stem_len, const char *rep) {
    int k = (int)strlen(rep);
    if (stem_len + k >= STEM_MAX) return;
    memcpy(w->s + stem_len, rep, (size_t)k);
    w->n = stem_len + k;
    w->s[w->n] = 0;
}

enum { COND_NONE, COND_M0, COND_M1, COND_ION, COND_LOGI };
typedef struct {
    const char *suf, *rep;
    int cond;
} rule;

/* The first rule whose suffix matches decides: applied if its condition holds on the
 * stem, else the word stays as it is (no later rule is tried). */
static void apply_rules(word *w, const rule *r, int n) {
    for (int i = 0; i < n; i++) {
        if (!ends(w, r[i].suf)) continue;
        int stem = w->n - (int)strlen(r[i].suf), ok;
        switch (r[i].cond) {
        case COND_M0: ok = measure(w->s, stem) > 0; break;
        case COND_M1: ok = measure(w->s, stem) > 1; break;
        case COND_ION: ok = measure(w->s, stem) > 1 && stem > 0 && strchr("st", w->s[stem - 1]);
            break;
        case COND_LOGI: ok = measure(w->s, w->n - 3) > 0; break; /* NLTK: on "...l" */
        default: ok = 1;
        }
        if (ok) set_end(w, stem, r[i].rep);
        return;
    }
}

static void step1a(word *w) {
    if (w->n == 4 && ends(w, "ies")) { set_end(w, 1, "ie"); return; } /* NLTK: ties -> tie */
    static const rule r[] = {{"sses", "ss", 0}, {"ies", "i", 0}, {"ss", "ss", 0}, {"s", "", 0}};
    apply_rules(w, r, 4);
}

static void step1b(word *w) {
    if (ends(w, "ied")) { /* NLTK: died -> die, cried -> cri */
        set_end(w, w->n - 3, w->n == 4 ? "ie" : "i");
        return;
    }
    if (ends(w, "eed")) {
        if (measure(w->s, w->n - 3) > 0) set_end(w, w->n - 3, "ee");
        return;
    }
    int stem = -1;
    if (ends(w, "ed") && has_vowel(w->s, w->n - 2)) stem = w->n - 2;
    else if (ends(w, "ing") && has_vowel(w->s, w->n - 3)) stem = w->n - 3;
    if (stem < 0) return;
    set_end(w, stem, "");
    if (ends(w, "at")) set_end(w, w->n - 2, "ate");
    else if (ends(w, "bl")) set_end(w, w->n - 2, "ble");
    else if (ends(w, "iz")) set_end(w, w->n - 2, "ize");
    else if (double_consonant(w->s, w->n)) {
        if (!strchr("lsz", w->s[w->n - 1])) set_end(w, w->n - 1, "");
    } else if (measure(w->s, w->n) == 1 && cvc(w->s, w->n))
        set_end(w, w->n, "e");
}

static void step1c(word *w) {
    /* NLTK: y -> i only after a consonant that is not the first letter. */
    if (ends(w, "y") && w->n - 1 > 1 && consonant(w->s, w->n - 2)) set_end(w, w->n - 1, "i");
}

static void step2(word *w) {
    if (ends(w, "alli") && measure(w->s, w->n - 4) > 0) { /* NLTK */
        set_end(w, w->n - 4, "al");
        step2(w);
        return;
    }
    static const rule r[] = {
        {"ational", "ate", COND_M0}, {"tional", "tion", COND_M0}, {"enci", "ence", COND_M0},
        {"anci", "ance", COND_M0},   {"izer", "ize", COND_M0},    {"bli", "ble", COND_M0},
        {"alli", "al", COND_M0},     {"entli", "ent", COND_M0},   {"eli", "e", COND_M0},
        {"ousli", "ous", COND_M0},   {"ization", "ize", COND_M0}, {"ation", "ate", COND_M0},
        {"ator", "ate", COND_M0},    {"alism", "al", COND_M0},    {"iveness", "ive", COND_M0},
        {"fulness", "ful", COND_M0}, {"ousness", "ous", COND_M0}, {"aliti", "al", COND_M0},
        {"iviti", "ive", COND_M0},   {"biliti", "ble", COND_M0},  {"fulli", "ful", COND_M0},
        {"logi", "log", COND_LOGI},
    };
    apply_rules(w, r, (int)(sizeof r / sizeof r[0]));
}

static void step3(word *w) {
    static const rule r[] = {
        {"icate", "ic", COND_M0}, {"ative", "", COND_M0}, {"alize", "al", COND_M0},
        {"iciti", "ic", COND_M0}, {"ical", "ic", COND_M0}, {"ful", "", COND_M0},
        {"ness", "", COND_M0},
    };
    apply_rules(w, r, (int)(sizeof r / sizeof r[0]));
}

static void step4(word *w) {
    static const rule r[] = {
        {"al", "", COND_M1},   {"ance", "", COND_M1}, {"ence", "", COND_M1},
        {"er", "", COND_M1},   {"ic", "", COND_M1},   {"able", "", COND_M1},
        {"ible", "", COND_M1}, {"ant", "", COND_M1},  {"ement", "", COND_M1},
        {"ment", "", COND_M1}, {"ent", "", COND_M1},  {"ion", "", COND_ION},
        {"ou", "", COND_M1},   {"ism", "", COND_M1},  {"ate", "", COND_M1},
        {"iti", "", COND_M1},  {"ous", "", COND_M1},  {"ive", "", COND_M1},
        {"ize", "", COND_M1},
    };
    apply_rules(w, r, (int)(sizeof r / sizeof r[0]));
}

static void step5(word *w) {
    if (ends(w, "e")) {
        int m = measure(w->s, w->n - 1);
        if (m > 1 || (m == 1 && !cvc(w->s, w->n - 1))) set_end(w, w->n - 1, "");
    }
    if (ends(w, "ll") && measure(w->s, w->n - 1) > 1) set_end(w, w->n - 1, "");
}

int hw_porter_stem(const char *in, char *out, size_t cap) {
    /* NLTK: irregular forms looked up first. */
    static const char *const pool[][2] = {
        {"skies", "sky"},   {"sky", "sky"},         {"dying", "die"},     {"lying", "lie"},
        {"tying", "tie"},   {"news", "news"},       {"innings", "inning"}, {"inning", "inning"},
        {"outings", "outing"}, {"outing", "outing"}, {"cannings", "canning"},
        {"canning", "canning"}, {"howe", "howe"},   {"proceed", "proceed"},
        {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    word w;
    size_t len = strlen(in);
    const char *res = NULL;
    for (size_t i = 0; i < sizeof pool / sizeof pool[0]; i++)
        if (!strcmp(in, pool[i][0])) res = pool[i][1];
    if (!res && (len <= 2 || len >= STEM_MAX)) res = in; /* NLTK: short words as they are */
    if (!res) {
        memcpy(w.s, in, len + 1);
        w.n = (int)len;
        step1a(&w);
        step1b(&w);
        step1c(&w);
        step2(&w);
        step3(&w);
        step4(&w);
        step5(&w);
        res = w.s;
    }
    size_t n = strlen(res);
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(out, res, k);
        out[k] = 0;
    }
    return (int)n;
}
