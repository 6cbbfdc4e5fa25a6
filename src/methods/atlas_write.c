/*
 * atlas_write.c: the head atlas's files: atlas.json (the layout the issue fixed:
 * {"model", "layers", "heads", "kv_heads", "heads_info", "kv_policy"} and what explains
 * them), the policy's 0/1 mask (full_heads.tsv, what the --kv flag names) and atlas.html
 * (src/report/atlas_html.c, given the same JSON).
 */
#include "atlas.h"

#include "report/atlas_html.h"

#include <stdlib.h>
#include <string.h>

static void put_num(FILE *f, double v) {
    if (v != v || v > 1e300 || v < -1e300) fputs("null", f);   /* JSON has no NaN or inf */
    else fprintf(f, "%.6g", v);
}

static void json_head(const hw_atlas_result *r, int i, FILE *f) {
    fprintf(f, "{\"layer\": %d, \"head\": %d, \"kv_head\": %d, \"labels\": [", i / r->H, i % r->H,
            (i % r->H) / (r->H / r->Hk));
    for (int k = 0; k < r->nlab[i]; k++) fprintf(f, "%s\"%s\"", k ? ", " : "", hw_atlas_label_name(r->lab[i][k]));
    if (!r->nlab[i]) fputs("\"other\"", f);
    fputs("], \"scores\": {", f);
    for (int k = 0, n = 0; k < AS_COUNT; k++) {
        if (!r->score[k]) continue;
        fprintf(f, "%s\"%s\": ", n++ ? ", " : "", hw_atlas_score_names[k]);
        put_num(f, r->score[k][i]);
    }
    fputs("}, \"mask_effect\": ", f);
    const atlas_mask *m = &r->mask[i];
    if (!m->measured) fputs("null", f);
    else {
        fprintf(f, "{\"task\": \"%s\", \"metric\": \"%s\", \"baseline\": ", m->task, m->metric);
        put_num(f, m->baseline);
        fputs(", \"masked\": ", f);
        put_num(f, m->masked);
        fputs(", \"delta\": ", f);
        put_num(f, m->masked - m->baseline);
        fputc('}', f);
    }
    fputc('}', f);
}

static void json_kv(const hw_atlas_result *r, const char *mask_path, FILE *f) {
    char flag[4200];
    hw_atlas_kv_flag(r, mask_path, flag, sizeof flag);
    fputs("{\"full_heads\": [", f);
    for (int i = 0, n = 0; i < r->L * r->Hk; i++)
        if (r->full[i]) fprintf(f, "%s[%d, %d]", n++ ? ", " : "", i / r->Hk, i % r->Hk);
    fputs("], \"flag\": ", f);
    char text[4300];
    snprintf(text, sizeof text, "--kv %s", flag);
    hw_json_string(f, text);
    fprintf(f, ", \"full_kv_heads\": %d, \"kv_heads_total\": %d, \"sink\": %d, \"recent\": %d, ", r->n_full,
            r->L * r->Hk, r->sink, r->recent);
    fprintf(f, "\"kv_bytes\": {\"context\": %d, \"full\": %zu, \"policy\": %zu, \"saved\": %zu, \"ratio\": ", r->context,
            r->bytes_full, r->bytes_policy, r->bytes_full - r->bytes_policy);
    put_num(f, r->bytes_full ? (double)r->bytes_policy / r->bytes_full : 1);
    fputs("}, \"accuracy\": ", f);
    if (!r->evaluated) fputs("null", f);
    else {
        fprintf(f, "{\"task\": \"%s\", \"metric\": \"exact\", \"full\": ", r->eval_task);
        put_num(f, r->acc_full);
        fputs(", \"policy\": ", f);
        put_num(f, r->acc_policy);
        fputc('}', f);
    }
    fputc('}', f);
}

static void json_all(const hw_atlas_result *r, const char *mask_path, FILE *f) {
    const hw_atlas_thresholds *th = &r->th;
    fputs("{\"model\": ", f);
    hw_json_string(f, r->label);
    fprintf(f, ", \"layers\": %d, \"heads\": %d, \"kv_heads\": %d, \"head_dim\": %d, \"context\": %d, \"task\": ",
            r->L, r->H, r->Hk, r->Dh, r->C);
    if (r->task) hw_json_string(f, r->task);
    else fputs("null", f);
    fprintf(f, ",\n \"thresholds\": {\"retrieval\": %g, \"induction\": %g, \"previous-token\": %g, \"echo\": %g, "
               "\"successor\": %g, \"memory\": %g, \"in-context\": %g, \"streaming\": %g},\n \"probes\": {",
            th->retrieval, th->induction, th->prev_token, th->echo, th->successor, th->memory, th->in_context,
            th->streaming);
    for (int k = 0; k < AS_COUNT; k++) {
        fprintf(f, "%s\"%s\": ", k ? ", " : "", hw_atlas_score_names[k]);
        hw_json_string(f, r->score[k] ? (r->probe_note[k][0] ? r->probe_note[k] : "ran")
                                      : (r->probe_note[k][0] ? r->probe_note[k] : "not run"));
    }
    fprintf(f, "},\n \"probe\": {\"tokens\": [");
    for (int i = 0; i < r->T; i++) fprintf(f, "%s%d", i ? "," : "", r->tok[i]);
    fputs("], \"text\": [", f);
    for (int i = 0; i < r->T; i++) {
        if (i) fputc(',', f);
        hw_json_string(f, r->text[i]);
    }
    fprintf(f, "], \"bins\": %d},\n \"heads_info\": [\n", r->R);
    for (int i = 0; i < r->L * r->H; i++) {
        fputs(i ? ",\n  " : "  ", f);
        json_head(r, i, f);
    }
    fputs("],\n \"kv_policy\": ", f);
    json_kv(r, mask_path, f);
    fputs("}\n", f);
}

hw_status hw_atlas_write_json(const hw_atlas_result *r, const char *path, const char *mask_path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "atlas: nothing to write");
    hw_status s = hw_output_prepare(path);
    hw_atomic_file *a = s ? NULL : hw_atomic_open(path);
    if (!a) return s ? s : HW_ERR_IO;
    json_all(r, mask_path, hw_atomic_stream(a));
    return hw_atomic_commit(a);
}

hw_status hw_atlas_write_html(const hw_atlas_result *r, const char *path, const char *mask_path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "atlas: nothing to write");
    char *json = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&json, &n);
    if (!mem) return hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    json_all(r, mask_path, mem);
    if (fclose(mem)) {
        free(json);
        return hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    }
    char title[512];
    snprintf(title, sizeof title, "Head atlas: %s", r->label);
    hw_status s = hw_output_prepare(path);
    if (!s) s = hw_atlas_html_write(path, title, json, r->T, r->R, r->L * r->H, r->pat);
    free(json);
    return s;
}

hw_status hw_atlas_write(const hw_atlas_result *r, const char *dir) {
    if (!r || !dir) return hw_fail(HW_ERR_ARG, "atlas: nothing to write");
    hw_status s = hw_dir_create(dir);
    if (s) return s;
    const size_t n = strlen(dir) + 32;
    char *mask = malloc(n), *json = malloc(n), *html = malloc(n);
    if (!mask || !json || !html) s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    else {
        snprintf(mask, n, "%s/full_heads.tsv", dir);
        snprintf(json, n, "%s/atlas.json", dir);
        snprintf(html, n, "%s/atlas.html", dir);
        s = hw_kv_head_mask_write(mask, r->full, r->L, r->Hk);
        if (!s) s = hw_atlas_write_json(r, json, mask);
        if (!s) s = hw_atlas_write_html(r, html, mask);
    }
    free(mask);
    free(json);
    free(html);
    return s;
}
