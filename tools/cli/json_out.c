/* json_out.c: numbers and strings in Python's json.dumps style (the tools'
 * JSON writer, tools/common/json_write.h), and the pipeline's label order. */
#include "json_out.h"

#include "json_write.h"

#include <string.h>

void json_format_number(double v, int as_float32, char *buf, size_t len) {
    tools_json_format_float(v, as_float32, TOOLS_JSON_PYTHON, buf, len);
}

static void file_sink(void *f, const char *s, size_t n) { fwrite(s, 1, n, f); }

void json_write_string(FILE *f, const char *s) { tools_json_write_string(file_sink, f, s, strlen(s), TOOLS_JSON_PYTHON); }

void json_rank_labels(const float *scores, int L, int *order) {
    for (int i = 0; i < L; i++) order[i] = i;
    for (int i = 1; i < L; i++) {
        int o = order[i], j = i;
        while (j > 0 && scores[order[j - 1]] < scores[o]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = o;
    }
}

void json_print_error(encore_status st, const char *message) {
    fputs("{\"error\": ", stdout);
    json_write_string(stdout, message);
    fputs(", \"status\": ", stdout);
    json_write_string(stdout, encore_status_str(st));
    fputs("}\n", stdout);
}
