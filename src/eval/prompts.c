/* prompts.c: the prompts files the scoring protocols read (methods.md sections 1.3 and
 * 6): one prompt per line, "prompt<TAB>answer1[<TAB>answer2...]", "\n" in a prompt
 * standing for a newline, '#' lines comments. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWERS 4

typedef struct {
    char *prompt;
    char *ans[MAX_ANSWERS];
} prompt_line;

struct hw_prompts {
    prompt_line *p;
    int n;
};

void hw_prompts_free(hw_prompts *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) {
        free(ps->p[i].prompt);
        for (int k = 0; k < MAX_ANSWERS; k++) free(ps->p[i].ans[k]);
    }
    free(ps->p);
    free(ps);
}

/* The prompt with its "\n" escapes made newlines (malloc'd). */
static char *unescape(const char *s) {
    char *out = strdup(s), *w = out;
    if (!out) return NULL;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
    return out;
}

hw_prompts *hw_prompts_read(const char *path, int n_answers) {
    if (!path || n_answers < 0 || n_answers > MAX_ANSWERS)
        return hw_fail(HW_ERR_ARG, "hw_prompts_read: bad arguments"), NULL;
    FILE *f = fopen(path, "r");
    if (!f) return hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno)), NULL;
    hw_prompts *ps = calloc(1, sizeof *ps);
    char *line = NULL;
    size_t cap = 0;
    int line_no = 0, bad = !ps;
    if (!ps) hw_fail(HW_ERR_NOMEM, "out of memory");
    ssize_t len;
    while (!bad && (len = getline(&line, &cap, f)) > 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char *fields[1 + MAX_ANSWERS] = {0};
        int nf = 0;
        for (char *s = line; nf < 1 + MAX_ANSWERS;) {
            fields[nf++] = s;
            char *tab = strchr(s, '\t');
            if (!tab) break;
            *tab = 0;
            s = tab + 1;
        }
        if (nf < 1 + n_answers) {
            hw_fail(HW_ERR_FORMAT, "%s:%d: expected a prompt and %d answer(s) separated by tabs", path,
                    line_no, n_answers);
            bad = 1;
            break;
        }
        prompt_line *np = realloc(ps->p, sizeof *np * (size_t)(ps->n + 1));
        if (!np) {
            hw_fail(HW_ERR_NOMEM, "out of memory");
            bad = 1;
            break;
        }
        ps->p = np;
        prompt_line *p = &np[ps->n++];
        memset(p, 0, sizeof *p);
        p->prompt = unescape(fields[0]);
        bad = !p->prompt;
        for (int k = 0; k < nf - 1; k++) bad |= !(p->ans[k] = strdup(fields[k + 1]));
        if (bad) hw_fail(HW_ERR_NOMEM, "out of memory");
    }
    free(line);
    fclose(f);
    if (!bad && !ps->n) {
        hw_fail(HW_ERR_FORMAT, "%s: no prompts", path);
        bad = 1;
    }
    if (bad) {
        hw_prompts_free(ps);
        return NULL;
    }
    return ps;
}

int hw_prompts_count(const hw_prompts *ps) { return ps ? ps->n : 0; }

const char *hw_prompts_text(const hw_prompts *ps, int i) {
    return ps && i >= 0 && i < ps->n ? ps->p[i].prompt : NULL;
}

const char *hw_prompts_answer(const hw_prompts *ps, int i, int k) {
    return ps && i >= 0 && i < ps->n && k >= 0 && k < MAX_ANSWERS ? ps->p[i].ans[k] : NULL;
}
