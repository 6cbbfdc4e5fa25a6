/* fuzz_influence.c: AttentionInfluence's JSONL corpus (src/methods/influence_corpus.c) and
 * its score files (hw_influence_select). Every line the reader returns is parsed as a
 * document (a good one must hold UTF-8 text, a domain and an id); the same file read as
 * two shards split at a byte picked from the input must give each line exactly once, with
 * the same numbers; and the file read as a scores file either selects or fails cleanly. */
#include "fuzz.h"
#include "headwise.h"
#include "methods/influence.h"

/* Each line of the shard [begin, end) (end < 0: to the end) as "number:length;" in out. */
static int read_lines(const char *path, int64_t begin, int64_t end, char *out, size_t cap, size_t *at) {
    hw_corpus *c = hw_corpus_open(path);
    if (!c) return -1;
    if (hw_corpus_seek_line(c, begin) != HW_OK) abort(); /* a regular file reads */
    char *line, reason[160];
    size_t len;
    int64_t start, no;
    int r;
    while ((r = hw_corpus_next(c, &line, &len, &start, &no)) == 1 && (end < 0 || start < end)) {
        if (start < begin) abort(); /* a line of the previous shard */
        hw_influence_doc d;
        if (hw_influence_parse_line(line, len, no, &d, reason, sizeof reason) == 0) {
            if (!d.text || !d.domain || !d.id_json) abort();
            hw_influence_doc_free(&d);
        } else if (!reason[0]) abort(); /* a bad line always says why */
        *at += (size_t)snprintf(out + *at, *at < cap ? cap - *at : 0, "%lld:%zu;", (long long)no, len);
        if (*at >= cap) break;
    }
    if (r < 0) abort();
    hw_corpus_close(c);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("corpus.jsonl", data, size);
    static char whole[1 << 16], split[1 << 16];
    size_t a = 0, b = 0;
    if (read_lines(path, 0, -1, whole, sizeof whole, &a)) abort();
    const int64_t k = size ? (int64_t)((data[0] * 257u + data[size - 1]) % (size + 1)) : 0;
    if (read_lines(path, 0, k, split, sizeof split, &b) || read_lines(path, k, -1, split, sizeof split, &b)) abort();
    if (a < sizeof whole && (a != b || memcmp(whole, split, a))) abort();
    char out[600];
    snprintf(out, sizeof out, "%s/selected.jsonl", fuzz_dir());
    fuzz_note(hw_influence_select(path, 0.5, data[0] & 1, out, NULL) == HW_OK);
    return 0;
}
