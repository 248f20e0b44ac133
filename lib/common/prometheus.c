/* SPDX-License-Identifier: Apache-2.0 */
#include "prometheus.h"

void prometheus_write_label_value(FILE *out, const char *value)
{
        for (const char *p = value; *p; p++) {
                if (*p == '\\' || *p == '"')
                        fputc('\\', out);
                if (*p == '\n') {
                        fputs("\\n", out);
                        continue;
                }
                fputc(*p, out);
        }
}
