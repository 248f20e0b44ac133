/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Structured logging: one JSON object per line on stdout, e.g.
 *   {"time":"2026-11-25T10:00:00.123Z","level":"info","program":"tripdeal-app",
 *    "msg":"listening","addr":"127.0.0.1:8080"}
 *
 * Only programs log (main, request handlers, reconcilers).  Library code
 * returns -errno and lets its caller log once.  Never pass secrets (tokens,
 * passwords, database URLs with credentials) in a message or a field.
 *
 * Thread-safe: each line is one write(2) to stdout, and lines of different
 * threads never mix (log.c says how).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "macros.h"

enum log_level {
        LOG_LEVEL_DEBUG,
        LOG_LEVEL_INFO,
        LOG_LEVEL_WARN,
        LOG_LEVEL_ERROR,
};

/* "debug" | "info" | "warn" | "error" -> level.  -EINVAL on anything else. */
int log_level_from_string(const char *s, enum log_level *ret_level);
const char *log_level_to_string(enum log_level level);
/* --log-level for a flags.h table: FLAG_CUSTOM, target an enum log_level. */
int log_level_parse_flag(const char *value, void *target, char *message, size_t message_size);

/* program: copied pointer, must outlive logging (pass a string literal). */
void log_setup(const char *program, enum log_level min_level);
bool log_enabled(enum log_level level);

/*
 * Emit one line.  fields: a JSON object whose members are added to the line,
 * or NULL; ownership passes to log_emit (it is decref'd even when the level is
 * filtered out), so `log_emit(LOG_LEVEL_INFO, json_pack(...), "...")` is safe.
 */
void log_emit(enum log_level level, json_t *fields, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_emit(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_emit(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
