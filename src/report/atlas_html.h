/* atlas_html.h: the head atlas's page (src/report/atlas_html.c), written from the
 * atlas's JSON text and its packed patterns so that the report layer does not know the
 * methods' result type. Not part of the public API. */
#ifndef HW_ATLAS_HTML_H
#define HW_ATLAS_HTML_H

#include "internal.h"

/* json: atlas.json's text (hw_atlas_write_json's layout; its probe.text are the axis
 * tokens). Patterns: n_heads (L * H, layer-major) packed patterns of the T-token probe
 * in R bins (pattern_view.h), each hw_view_packed_size(R) bytes at packed. */
hw_status hw_atlas_html_write(const char *path, const char *title, const char *json, int T, int R, int n_heads,
                              const unsigned char *packed);

#endif
