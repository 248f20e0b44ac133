/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks and RFC 3339 time stamps (always UTC, as the Kubernetes API writes them). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t clock_realtime_ms(void);
/* Milliseconds on CLOCK_MONOTONIC: for deadlines and durations. */
int64_t clock_monotonic_ms(void);

/* "2026-11-25T10:00:00Z" into buf (>= 21 bytes).  -ENOBUFS if too small. */
int clock_format_rfc3339(time_t t, char *buf, size_t size);
/* "2026-11-25T10:00:00.123Z" into buf (>= 25 bytes). */
int clock_format_rfc3339_ms(int64_t ms, char *buf, size_t size);
/* Kubernetes MicroTime, "2026-11-25T10:00:00.123000Z" (>= 28 bytes), from ms. */
int clock_format_rfc3339_micro(int64_t ms, char *buf, size_t size);
/*
 * Parse RFC 3339 ("2026-11-25T10:00:00Z", fractional seconds and numeric
 * offsets accepted).  -EINVAL on anything else; *ret_t untouched on failure.
 */
int clock_parse_rfc3339(const char *s, time_t *ret_t);
