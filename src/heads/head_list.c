/* head_list.c: "L.H,L.H" head lists, checked against a model's shape. */
#include "internal.h"

#include <stdio.h>

int hw_heads_parse(const hw_model *m, const char *text, hw_head *heads, int max) {
    const hw_config *cfg = hw_model_config(m);
    int n = 0;
    const char *s = text;
    while (*s) {
        int l, h, used = 0;
        if (sscanf(s, "%d.%d%n", &l, &h, &used) != 2 || used == 0 || (s[used] && s[used] != ',')) {
            hw_fail(HW_ERR_ARG, "bad head list '%s': expected LAYER.HEAD[,LAYER.HEAD...]", text);
            return -1;
        }
        if (l < 0 || l >= cfg->n_layer || h < 0 || h >= cfg->n_head) {
            hw_fail(HW_ERR_ARG, "head %d.%d out of range (model: %d layers, %d heads)", l, h,
                    cfg->n_layer, cfg->n_head);
            return -1;
        }
        if (n >= max) {
            hw_fail(HW_ERR_ARG, "more than %d heads in '%s'", max, text);
            return -1;
        }
        heads[n++] = (hw_head){l, h};
        s += used;
        if (*s == ',') s++;
    }
    if (n == 0) hw_fail(HW_ERR_ARG, "empty head list");
    return n ? n : -1;
}
