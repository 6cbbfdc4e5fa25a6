/* hf_vocab.c: vocabularies and merge lists as Hugging Face and GPT-2 files
 * give them ({"piece": id} objects, "a b" or ["a", "b"] merges), shared by
 * tokenizer_json.c and gpt2_files.c. */
#include "tokenizer/hf_vocab.h"
#include "hw_limits.h"

#include <math.h>
#include <string.h>

/* Ids are below HW_MAX_VOCAB: larger than any real vocabulary (about 256k),
 * small enough to allocate a table of pieces by id. */
#define MAX_ID HW_MAX_VOCAB

static int json_id(const cJSON *x, int *id) {
    if (!cJSON_IsNumber(x)) return 0;
    double d = x->valuedouble;
    if (!(d >= 0 && d < MAX_ID) || d != floor(d)) return 0;
    *id = (int)d;
    return 1;
}

static int json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(x) ? cJSON_IsTrue(x) : dflt;
}

hw_status hw_hf_build_vocab(hw_tokenizer *t, const cJSON *vocab, const cJSON *added, const char *path) {
    int n = 0, n_added = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, vocab) {
        int id;
        if (!json_id(x, &id))
            return hw_fail(HW_ERR_FORMAT, "%s: vocabulary entry \"%.60s\" has no valid id", path,
                           x->string ? x->string : "");
        if (strlen(x->string) > HW_MAX_PIECE_BYTES)
            return hw_fail(HW_ERR_FORMAT, "%s: vocabulary entry %d is longer than %d bytes", path, id,
                           HW_MAX_PIECE_BYTES);
        if (id >= n) n = id + 1;
    }
    if (added && !cJSON_IsArray(added)) return hw_fail(HW_ERR_FORMAT, "%s: added_tokens is not a list", path);
    cJSON_ArrayForEach(x, added) {
        int id;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
        if (!json_id(cJSON_GetObjectItemCaseSensitive(x, "id"), &id) || !cJSON_IsString(c))
            return hw_fail(HW_ERR_FORMAT, "%s: added token %d lacks an id or content", path, n_added);
        if (strlen(c->valuestring) > HW_MAX_PIECE_BYTES)
            return hw_fail(HW_ERR_FORMAT, "%s: added token %d is longer than %d bytes", path, n_added,
                           HW_MAX_PIECE_BYTES);
        if (id >= n) n = id + 1;
        n_added++;
    }
    if (n == 0) return hw_fail(HW_ERR_FORMAT, "%s: the vocabulary is empty", path);
    int n_entries = cJSON_GetArraySize(vocab) + n_added;
    if (n - n_entries > n_entries + HW_MAX_VOCAB_HOLES)
        return hw_fail(HW_ERR_FORMAT, "%s: ids go up to %d for only %d pieces (a vocabulary is dense)",
                       path, n - 1, n_entries);
    /* Pieces by id; ids missing from both lists stay empty (never matched). */
    const char **piece = calloc((size_t)n, sizeof *piece);
    if (!piece) return hw_fail(HW_ERR_NOMEM, "%s: out of memory for %d pieces", path, n);
    hw_status s = HW_OK;
    cJSON_ArrayForEach(x, vocab) {
        int id = 0;
        json_id(x, &id);
        if (piece[id]) {
            s = hw_fail(HW_ERR_FORMAT, "%s: id %d is given to both \"%.60s\" and \"%.60s\"", path, id,
                        piece[id], x->string);
            goto done;
        }
        piece[id] = x->string;
    }
    /* An added token names its id's piece (tokenizers looks added tokens up first). */
    t->added = calloc((size_t)(n_added ? n_added : 1), sizeof *t->added);
    if (!t->added) {
        s = hw_fail(HW_ERR_NOMEM, "%s: out of memory for added tokens", path);
        goto done;
    }
    cJSON_ArrayForEach(x, added) {
        hw_added_token *a = &t->added[t->n_added];
        json_id(cJSON_GetObjectItemCaseSensitive(x, "id"), &a->id);
        const char *c = cJSON_GetObjectItemCaseSensitive(x, "content")->valuestring;
        a->len = strlen(c);
        if (!(a->content = malloc(a->len + 1))) {
            s = hw_fail(HW_ERR_NOMEM, "%s: out of memory for added tokens", path);
            goto done;
        }
        memcpy(a->content, c, a->len + 1);
        a->special = json_bool(x, "special", 0);
        a->lstrip = json_bool(x, "lstrip", 0);
        a->rstrip = json_bool(x, "rstrip", 0);
        a->single_word = json_bool(x, "single_word", 0);
        piece[a->id] = a->content;
        t->n_added++;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) total += piece[i] ? strlen(piece[i]) : 0;
    if ((s = hw_vocab_init(&t->vocab, n, total + 1)) != HW_OK) goto done;
    for (int i = 0; i < n && s == HW_OK; i++)
        s = hw_vocab_push(&t->vocab, piece[i] ? piece[i] : "", piece[i] ? strlen(piece[i]) : 0);
    if (s == HW_OK) s = hw_vocab_index(&t->vocab);
done:
    free(piece);
    return s;
}

hw_status hw_hf_add_merge(hw_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                          int rank, const char *path) {
    int ia = hw_vocab_find(&t->vocab, a, alen), ib = hw_vocab_find(&t->vocab, b, blen);
    int m = hw_vocab_find2(&t->vocab, a, alen, b, blen);
    if (ia < 0 || ib < 0 || m < 0)
        return hw_fail(HW_ERR_FORMAT, "%s: merge %d (\"%.*s\" \"%.*s\") uses a piece not in the vocabulary",
                       path, rank, (int)(alen > 40 ? 40 : alen), a, (int)(blen > 40 ? 40 : blen), b);
    return hw_pairs_add(&t->merges, ia, ib, m, rank);
}

int hw_hf_token_id(const hw_tokenizer *t, const char *content) {
    return content ? hw_vocab_find(&t->vocab, content, strlen(content)) : -1;
}
