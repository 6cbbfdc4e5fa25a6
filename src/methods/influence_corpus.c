/* influence_corpus.c: AttentionInfluence's corpus (methods.md section 10): a JSONL file read
 * a line at a time (plain, or gzip through zlib when the build has it), so that a corpus of
 * any size streams through a fixed buffer, and each line made a document. A shard starts
 * mid-file: the lines before it are counted on the way so that a bad line is reported with
 * the file's own line number, whatever the rank. */
#include "influence.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef HW_HAVE_ZLIB
#include <zlib.h>
#endif

#define CHUNK (1 << 16)

struct hw_corpus {
    FILE *f;
#ifdef HW_HAVE_ZLIB
    gzFile gz;
#endif
    char *buf;            /* read bytes [pos, end) not yet returned */
    size_t pos, end, cap;
    int64_t buf_offset;   /* the file offset of buf[0] */
    int64_t line_no;      /* lines returned or skipped so far */
    int64_t size;
    int eof;
    char *line;           /* the line returned, NUL-terminated */
    size_t line_cap;
    int64_t after;        /* the offset after the last line returned */
};

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

hw_corpus *hw_corpus_open(const char *path) {
    if (!path) return hw_fail(HW_ERR_ARG, "hw_corpus_open: no path"), NULL;
    if (ends_with(path, ".zst"))
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: zstd corpora are not supported by this build (libzstd is "
                       "not linked); decompress it (zstd -d) or use .gz", path), NULL;
    hw_corpus *c = calloc(1, sizeof *c);
    if (!c || !(c->buf = malloc(CHUNK))) return free(c), hw_fail(HW_ERR_NOMEM, "out of memory"), NULL;
    c->cap = CHUNK;
    c->size = -1;
    if (ends_with(path, ".gz")) {
#ifdef HW_HAVE_ZLIB
        c->gz = gzopen(path, "rb");
        if (c->gz) gzbuffer(c->gz, CHUNK);
        if (!c->gz) {
            hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            return hw_corpus_close(c), NULL;
        }
        return c;
#else
        hw_corpus_close(c);
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: this build has no zlib for .gz corpora", path), NULL;
#endif
    }
    struct stat st;
    if (!(c->f = fopen(path, "rb")) || fstat(fileno(c->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        hw_fail(HW_ERR_IO, "cannot read %s: %s", path, c->f ? "not a regular file" : strerror(errno));
        return hw_corpus_close(c), NULL;
    }
    c->size = (int64_t)st.st_size;
    return c;
}

void hw_corpus_close(hw_corpus *c) {
    if (!c) return;
    if (c->f) fclose(c->f);
#ifdef HW_HAVE_ZLIB
    if (c->gz) gzclose(c->gz);
#endif
    free(c->buf);
    free(c->line);
    free(c);
}

int64_t hw_corpus_size(const hw_corpus *c) { return c ? c->size : -1; }
int64_t hw_corpus_offset(const hw_corpus *c) { return c ? c->after : 0; }

/* Keep the unread bytes, read more after them; 0 at the end, -1 on error. */
static int fill(hw_corpus *c) {
    if (c->eof) return 0;
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->end - c->pos);
        c->buf_offset += (int64_t)c->pos;
        c->end -= c->pos, c->pos = 0;
    }
    if (c->cap - c->end < CHUNK) {
        char *nb = realloc(c->buf, c->cap * 2);
        if (!nb) return hw_fail(HW_ERR_NOMEM, "corpus: out of memory for a line of %zu bytes", c->end), -1;
        c->buf = nb, c->cap *= 2;
    }
    size_t got;
#ifdef HW_HAVE_ZLIB
    if (c->gz) {
        int r = gzread(c->gz, c->buf + c->end, (unsigned)(c->cap - c->end));
        int err = 0;
        const char *msg = gzerror(c->gz, &err);
        if (r < 0 || (err != Z_OK && err != Z_BUF_ERROR))
            return hw_fail(HW_ERR_FORMAT, "corpus: gzip stream broken: %s", msg), -1;
        got = (size_t)r;
    } else
#endif
    {
        got = fread(c->buf + c->end, 1, c->cap - c->end, c->f);
        if (got == 0 && ferror(c->f)) return hw_fail(HW_ERR_IO, "corpus: read error: %s", strerror(errno)), -1;
    }
    if (got == 0) c->eof = 1;
    c->end += got;
    return got > 0;
}

/* The next line's bounds in buf: [pos, *nl) with *nl the '\n' or end at EOF. 1, 0 at the
 * end, -1 on error. */
static int find_line(hw_corpus *c, size_t *nl) {
    size_t from = c->pos;
    for (;;) {
        char *p = memchr(c->buf + from, '\n', c->end - from);
        if (p) return *nl = (size_t)(p - c->buf), 1;
        from = c->end - c->pos; /* fill moves the unread bytes to 0 */
        int r = fill(c);
        if (r < 0) return -1;
        if (r == 0) {
            *nl = c->end;
            return c->end > c->pos;
        }
    }
}

hw_status hw_corpus_seek_line(hw_corpus *c, int64_t at) {
    if (at <= 0) return HW_OK;
    /* The line holding byte at - 1 is skipped: a line starting at `at` follows a '\n' there. */
    int64_t target = at - 1;
    /* The lines before the shard are counted in big reads, never parsed. */
    while (c->buf_offset + (int64_t)c->pos < target) {
        if (c->pos == c->end) {
            int r = fill(c);
            if (r < 0) return HW_ERR_IO;
            if (r == 0) break;
            continue;
        }
        const int64_t want = target - c->buf_offset;
        const size_t lim = want < (int64_t)c->end ? (size_t)want : c->end;
        char *p = memchr(c->buf + c->pos, '\n', lim - c->pos);
        if (p) c->pos = (size_t)(p - c->buf) + 1, c->line_no++;
        else c->pos = lim;
    }
    /* Now at byte at - 1: if it is not a '\n', the line it belongs to began before the
     * shard and is the previous rank's. */
    if (c->pos == c->end && fill(c) < 0) return HW_ERR_IO;
    if (c->pos < c->end) {
        if (c->buf[c->pos] == '\n') c->pos++, c->line_no++;
        else {
            size_t nl;
            int r = find_line(c, &nl);
            if (r < 0) return HW_ERR_IO;
            if (r > 0) c->pos = nl < c->end ? nl + 1 : nl, c->line_no++;
        }
    }
    c->after = c->buf_offset + (int64_t)c->pos;
    return HW_OK;
}

int hw_corpus_next(hw_corpus *c, char **line, size_t *len, int64_t *start, int64_t *line_no) {
    size_t nl;
    int r = find_line(c, &nl);
    if (r <= 0) return r;
    size_t n = nl - c->pos;
    if (n + 1 > c->line_cap) {
        char *l = realloc(c->line, n + 1);
        if (!l) return hw_fail(HW_ERR_NOMEM, "corpus: out of memory"), -1;
        c->line = l, c->line_cap = n + 1;
    }
    memcpy(c->line, c->buf + c->pos, n);
    c->line[n] = 0;
    *start = c->buf_offset + (int64_t)c->pos;
    c->pos = nl < c->end ? nl + 1 : nl;
    c->after = c->buf_offset + (int64_t)c->pos;
    *line = c->line, *len = n, *line_no = ++c->line_no;
    return 1;
}

/* ---------------------------------------------------------------- a line as a document */

static int bad(char *reason, size_t cap, const char *msg) {
    snprintf(reason, cap, "%s", msg);
    return -1;
}

int hw_influence_parse_line(const char *line, size_t len, int64_t line_no, hw_influence_doc *doc,
                            char *reason, size_t cap) {
    *doc = (hw_influence_doc){0};
    size_t at = 0;
    if (len && line[len - 1] == '\r') len--; /* CRLF files */
    if (!hw_utf8_valid(line, len, &at)) {
        snprintf(reason, cap, "not UTF-8 (byte %zu of the line)", at + 1);
        return -1;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    while (o && end < line + len && (*end == ' ' || *end == '\t')) end++;
    if (o && end < line + len) { /* nothing may follow the object */
        cJSON_Delete(o);
        o = NULL;
    }
    if (!o) return bad(reason, cap, len ? "malformed JSON" : "an empty line");
    int rc = -1;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *domain = cJSON_GetObjectItemCaseSensitive(o, "domain");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsObject(o)) bad(reason, cap, "not a JSON object");
    else if (!cJSON_IsString(text)) bad(reason, cap, text ? "\"text\" is not a string" : "no \"text\"");
    else if (domain && !cJSON_IsString(domain)) bad(reason, cap, "\"domain\" is not a string");
    else if (id && !cJSON_IsString(id) && !(cJSON_IsNumber(id) && fabs(id->valuedouble) < 0x1p53 &&
                                            id->valuedouble == floor(id->valuedouble)))
        bad(reason, cap, "\"id\" is neither a string nor a whole number");
    else if (!hw_utf8_valid(text->valuestring, strlen(text->valuestring), &at))
        bad(reason, cap, "the text is not UTF-8 (an escaped lone surrogate)");
    else {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)(id && cJSON_IsNumber(id) ? (int64_t)id->valuedouble : line_no));
        doc->text = strdup(text->valuestring);
        doc->domain = strdup(domain ? domain->valuestring : "");
        char *quoted = id && cJSON_IsString(id) ? cJSON_PrintUnformatted(id) : NULL;
        doc->id_json = strdup(quoted ? quoted : num);
        if (quoted) cJSON_free(quoted);
        rc = doc->text && doc->domain && doc->id_json ? 0 : bad(reason, cap, "out of memory");
        if (rc) hw_influence_doc_free(doc);
    }
    cJSON_Delete(o);
    return rc;
}

void hw_influence_doc_free(hw_influence_doc *doc) {
    if (!doc) return;
    free(doc->text);
    free(doc->domain);
    free(doc->id_json);
    *doc = (hw_influence_doc){0};
}
