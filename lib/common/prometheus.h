/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the Prometheus text exposition format (version 0.0.4). */
#pragma once

#include <stdio.h>

/* A label value with the three reserved characters escaped (\\, ", newline),
 * so no input can break a metrics line. */
void prometheus_write_label_value(FILE *out, const char *value);
