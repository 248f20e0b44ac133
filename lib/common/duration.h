/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durations as the Kubernetes API writes them (Go's time.Duration text, whole
 * units only): "500ms", "45s", "10m", "1h30m", "0".
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* -EINVAL on bad syntax, -ERANGE on overflow; *ret_ms untouched on failure. */
int duration_parse_ms(const char *s, int64_t *ret_ms);
/* Shortest text that parses back to ms, e.g. 5400000 -> "1h30m".  -ENOBUFS if too small. */
int duration_format(int64_t ms, char *buf, size_t size);
