/*
 * kv_spec.c: a KV-cache policy from its text, the --kv flag of every command
 * (headwise.h, "KV-cache head selection"): full, window (StreamingLLM), duo
 * (DuoAttention, methods.md section 2.3: full heads from a file of any kind) and razor
 * (RazorAttention, section 3: echo + induction heads, a compensation token) and
 * longheads (LongHeads, section 4: chunk= is its chunk W there, heads_len= its A, score=
 * pooled, the paper's chunk key, or max). The
 * policies themselves are the model layer's (src/model/kv_policy.c); this file only
 * reads the text, the files it names, and chooses the full heads.
 */
#include "internal.h"
#include "hw_limits.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { P_FULL, P_WINDOW, P_DUO, P_RAZOR, P_LONGHEADS, N_POLICIES };
static const char *const policy_names[N_POLICIES] = {"full", "window", "duo", "razor", "longheads"};

/* The keys, and which policies take them (bit p for policy p). */
enum { K_CHUNK, K_SINK, K_RECENT, K_HEADS, K_TOP, K_SPARSITY, K_SEED, K_COMP, K_ECHO, K_IND, K_HEADS_LEN, K_SCORE, N_KEYS };
static const struct {
    const char *name;
    unsigned policies;
    double lo, hi;              /* numbers: the range */
} keys[N_KEYS] = {
    [K_CHUNK] = {"chunk", 0x1F, 1, HW_MAX_CONTEXT},
    [K_SINK] = {"sink", 1 << P_WINDOW | 1 << P_DUO | 1 << P_RAZOR, 0, HW_MAX_CONTEXT},
    [K_RECENT] = {"recent", 1 << P_WINDOW | 1 << P_DUO | 1 << P_RAZOR, 1, HW_MAX_CONTEXT},
    [K_HEADS] = {"heads", 1 << P_DUO | 1 << P_RAZOR, 0, 0},
    [K_TOP] = {"top", 1 << P_DUO, 0, 1},
    [K_SPARSITY] = {"sparsity", 1 << P_DUO, 0, 1},
    [K_SEED] = {"seed", 1 << P_DUO, 0, 0},
    [K_COMP] = {"compensation", 1 << P_RAZOR, 0, 0},
    [K_ECHO] = {"echo", 1 << P_RAZOR, 0, 1},
    [K_IND] = {"induction", 1 << P_RAZOR, 0, 1},
    [K_HEADS_LEN] = {"heads_len", 1 << P_LONGHEADS, 1, HW_MAX_CONTEXT},
    [K_SCORE] = {"score", 1 << P_LONGHEADS, 0, 0},
};
static const char *const comp_names[] = {"none", "mean", "weighted"}; /* hw_kv_compensation */

/* A spec taken apart: each key's value, and which were given. */
typedef struct {
    const char *spec;
    int policy;
    unsigned given;             /* bit k: key k was given */
    double num[N_KEYS];         /* numeric keys */
    const char *heads;          /* into the caller's copy of spec */
    uint64_t seed;              /* duo's noise */
    hw_kv_compensation comp;
    hw_longheads_score score;   /* longheads' chunk score */
} spec_parts;

/* What a policy takes, for error messages: "heads, top, ...". */
static void key_list(int policy, char *out, size_t n) {
    out[0] = 0;
    for (int k = 0; k < N_KEYS; k++)
        if (keys[k].policies >> policy & 1)
            snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? ", " : "", keys[k].name);
}

/* One "key=value" part into sp. */
static hw_status parse_part(spec_parts *sp, char *part) {
    char *eq = strchr(part, '='), list[128];
    int k = 0;
    if (eq) *eq = 0;
    while (k < N_KEYS && strcmp(keys[k].name, part)) k++;
    if (eq) *eq = '=';
    if (k == N_KEYS || !(keys[k].policies >> sp->policy & 1))
        return key_list(sp->policy, list, sizeof list),
               hw_fail(HW_ERR_ARG, "kv policy '%s': unknown key in '%s' (%s takes %s)", sp->spec, part,
                       policy_names[sp->policy], list);
    if (!eq || !eq[1]) return hw_fail(HW_ERR_ARG, "kv policy '%s': '%s' needs a value", sp->spec, part);
    if (sp->given >> k & 1) return hw_fail(HW_ERR_ARG, "kv policy '%s': %s given twice", sp->spec, keys[k].name);
    sp->given |= 1u << k;
    const char *v = eq + 1;
    if (k == K_HEADS) return sp->heads = v, HW_OK;
    if (k == K_COMP) {
        for (int c = 0; c < 3; c++)
            if (!strcmp(v, comp_names[c])) return sp->comp = (hw_kv_compensation)c, HW_OK;
        return hw_fail(HW_ERR_ARG, "kv policy '%s': '%s': compensation is weighted, mean or none",
                       sp->spec, part);
    }
    if (k == K_SCORE) {
        if (!strcmp(v, "pooled") || !strcmp(v, "max"))
            return sp->score = !strcmp(v, "max") ? HW_LONGHEADS_MAX : HW_LONGHEADS_POOLED, HW_OK;
        return hw_fail(HW_ERR_ARG, "kv policy '%s': '%s': score is pooled (the paper's chunk key) or max",
                       sp->spec, part);
    }
    char *end;
    errno = 0;
    if (k == K_SEED) { /* all 64 bits, which a double would round */
        sp->seed = strtoull(v, &end, 10);
        if (errno || *end || v[strspn(v, "0123456789")])
            return hw_fail(HW_ERR_ARG, "kv policy '%s': '%s': not a whole number in [0, 2^64)", sp->spec, part);
        return HW_OK;
    }
    double x = strtod(v, &end);
    int whole = k == K_CHUNK || k == K_SINK || k == K_RECENT || k == K_HEADS_LEN;
    if (errno || *end || !isfinite(x) || x < keys[k].lo || x > keys[k].hi || (whole && x != floor(x)) ||
        v[strspn(v, "0123456789+-.eE")])
        return hw_fail(HW_ERR_ARG, "kv policy '%s': '%s': not a %s in [%.15g, %.15g]", sp->spec, part,
                       whole ? "whole number" : "number", keys[k].lo, keys[k].hi);
    sp->num[k] = x;
    return HW_OK;
}

/* spec (copied into buf, which parts point into) taken apart, defaults filled in. */
static hw_status parse_spec(const char *spec, char *buf, spec_parts *sp) {
    *sp = (spec_parts){.spec = spec, .policy = -1, .comp = HW_KV_COMP_WEIGHTED};
    size_t n = strcspn(buf, ":,");
    for (int p = 0; p < N_POLICIES; p++)
        if (strlen(policy_names[p]) == n && !strncmp(buf, policy_names[p], n)) sp->policy = p;
    if (sp->policy < 0)
        return hw_fail(HW_ERR_ARG, "kv policy '%s': unknown policy '%.*s' (full, window, duo, razor or longheads)",
                       spec, (int)n, buf);
    const int razor = sp->policy == P_RAZOR;
    sp->num[K_SINK] = razor ? 4 : 64;   /* Huawei's RAConfig; DuoAttention's deployed sink */
    sp->num[K_RECENT] = 256;            /* both papers' */
    sp->seed = HW_DUO_SEED;
    sp->num[K_ECHO] = 0.01;             /* RAConfig's echo_head_ratio */
    sp->num[K_IND] = 0.14;              /* and induction_head_ratio */
    /* Parts are cut in place and stay cut: heads= points into buf. */
    char *at = buf + n;
    for (int more = *at != 0; more;) {
        char *part = at + 1, *end = part + strcspn(part, ",");
        more = *end != 0;
        *end = 0;
        hw_status s = *part ? parse_part(sp, part)
                            : hw_fail(HW_ERR_ARG, "kv policy '%s': an empty part", spec);
        if (s) return s;
        at = end;
    }
    if ((sp->given >> K_TOP & 1) && (sp->given >> K_SPARSITY & 1))
        return hw_fail(HW_ERR_ARG, "kv policy '%s': give top= or sparsity=, not both", spec);
    if (sp->policy == P_DUO && !sp->heads)
        return hw_fail(HW_ERR_ARG, "kv policy '%s': duo needs heads=FILE (gates, retrieval scores, an "
                       "echo-induction table or a 0/1 mask)", spec);
    return HW_OK;
}

/* The streaming base every head starts from. */
static hw_kv_policy *base_policy(const hw_model *m, const spec_parts *sp) {
    int chunk = (sp->given >> K_CHUNK & 1) ? (int)sp->num[K_CHUNK] : 0;
    if (sp->policy == P_FULL) return hw_kv_policy_new(m, 0, 0, chunk, HW_KV_COMP_NONE);
    if (sp->policy == P_LONGHEADS) /* chunk= is LongHeads' chunk; prefill keeps its default */
        return hw_kv_policy_new_longheads(m, chunk,
                                          (sp->given >> K_HEADS_LEN & 1) ? (int)sp->num[K_HEADS_LEN] : 0, 0,
                                          sp->score);
    return hw_kv_policy_new(m, (int)sp->num[K_SINK], (int)sp->num[K_RECENT], chunk,
                            sp->policy == P_RAZOR ? sp->comp : HW_KV_COMP_NONE);
}

/* duo: the file's scores through the rule asked for, or its kind's default. */
static hw_status duo_select(const hw_config *cfg, const spec_parts *sp, int *full) {
    const int L = cfg->n_layer, Hk = cfg->n_kv_head, n = L * Hk;
    double *score;
    hw_kv_file_info in;
    hw_status s = hw_kv_head_scores_read(sp->heads, NULL, L, cfg->n_head, Hk, &score, &in);
    if (s) return s;
    int kept;
    if (sp->given >> K_TOP & 1) kept = hw_duo_select_top(score, n, sp->num[K_TOP], full);
    else if ((sp->given >> K_SPARSITY & 1) || in.kind == HW_KV_FILE_GATES)
        kept = hw_duo_select_sparsity(score, n, (sp->given >> K_SPARSITY & 1) ? sp->num[K_SPARSITY] : 0.5,
                                      sp->seed, full, NULL);
    else if (in.kind == HW_KV_FILE_MASK) {
        kept = 0;
        for (int i = 0; i < n; i++) kept += full[i] = score[i] != 0;
    } else kept = hw_duo_select_top(score, n, 0.25, full);
    free(score);
    return kept < 0 ? HW_ERR_ARG : HW_OK;
}

/* razor: echo + induction heads from an echo-induction table, a 0/1 mask as it stands,
 * or RazorAttention's probe run on m. */
static hw_status razor_select(const hw_model *m, const hw_tokenizer *t, const spec_parts *sp, int *full) {
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head, n = L * Hk;
    const int ratios = (sp->given >> K_ECHO & 1) || (sp->given >> K_IND & 1);
    if (!sp->heads) {
        hw_echo_induction_params p = hw_echo_induction_params_default();
        p.echo_ratio = sp->num[K_ECHO];
        p.induction_ratio = sp->num[K_IND];
        hw_echo_induction_result *r = NULL;
        hw_status s = hw_echo_induction_run(m, t, &p, NULL, NULL, &r);
        if (!s) memcpy(full, hw_echo_induction_selected(r), sizeof(int) * (size_t)n);
        hw_echo_induction_free(r);
        return s;
    }
    double *echo = NULL, *ind = NULL;
    hw_kv_file_info in;
    hw_status s = hw_kv_head_scores_read(sp->heads, NULL, L, H, Hk, &ind, &in);
    if (!s && in.kind == HW_KV_FILE_MASK && !ratios) {
        for (int i = 0; i < n; i++) full[i] = ind[i] != 0;
    } else if (!s && (in.kind != HW_KV_FILE_TABLE || !in.has_echo_induction)) {
        s = hw_fail(HW_ERR_FORMAT, "%s: razor takes an echo-induction table (`score echo-induction -o "
                    "FILE.tsv`)%s", sp->heads, ratios ? "" : " or a 0/1 mask of KV heads");
    } else if (!s) {
        free(ind);
        ind = NULL;
        if (!(s = hw_kv_head_scores_read(sp->heads, "echo", L, H, Hk, &echo, NULL)) &&
            !(s = hw_kv_head_scores_read(sp->heads, "induction", L, H, Hk, &ind, NULL)) &&
            hw_razor_select(echo, ind, n, sp->num[K_ECHO], sp->num[K_IND], full) < 0)
            s = HW_ERR_ARG;
    }
    free(echo);
    free(ind);
    return s;
}

hw_kv_policy *hw_kv_policy_parse(const hw_model *m, const hw_tokenizer *t, const char *spec) {
    if (!m || !spec) {
        hw_fail(HW_ERR_ARG, "hw_kv_policy_parse: no model or spec");
        return NULL;
    }
    const hw_config *cfg = hw_model_config(m);
    const size_t n = (size_t)cfg->n_layer * cfg->n_kv_head;
    char *buf = strdup(spec);
    int *full = calloc(n ? n : 1, sizeof(int));
    spec_parts sp = {0};
    hw_kv_policy *p = NULL;
    hw_status s = !buf || !full ? hw_fail(HW_ERR_NOMEM, "kv policy: out of memory") : parse_spec(spec, buf, &sp);
    if (!s && sp.policy == P_DUO) s = duo_select(cfg, &sp, full);
    if (!s && sp.policy == P_RAZOR) s = razor_select(m, t, &sp, full);
    if (!s && !(p = base_policy(m, &sp))) s = HW_ERR_ARG;
    for (size_t i = 0; !s && i < n && sp.policy >= P_DUO; i++)
        if (full[i]) s = hw_kv_policy_set_full(p, (int)(i / cfg->n_kv_head), (int)(i % cfg->n_kv_head), 1);
    if (!s) s = hw_kv_policy_set_name(p, spec);
    if (s) hw_kv_policy_free(p), p = NULL;
    free(full);
    free(buf);
    return p;
}
