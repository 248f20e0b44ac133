/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static const char *log_program = "tripdeal";
static enum log_level log_min_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
        [LOG_LEVEL_DEBUG] = "debug",
        [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_WARN] = "warn",
        [LOG_LEVEL_ERROR] = "error",
};

int log_level_from_string(const char *s, enum log_level *ret_level)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret_level = (enum log_level)i;
                        return 0;
                }
        return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
        if ((unsigned)level >= ARRAY_SIZE(level_names))
                return "unknown";
        return level_names[level];
}

void log_setup(const char *program, enum log_level min_level)
{
        log_program = program;
        log_min_level = min_level;
}

bool log_enabled(enum log_level level)
{
        return level >= log_min_level;
}

void log_emit(enum log_level level, json_t *fields, const char *fmt, ...)
{
        _cleanup_json_ json_t *owned_fields = fields;
        if (!log_enabled(level))
                return;

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        char when[32];
        clock_format_rfc3339_ms(clock_realtime_ms(), when, sizeof(when));

        /* Fixed keys first so that the lines read well to a person too. */
        _cleanup_json_ json_t *line =
                json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", log_level_to_string(level),
                          "program", log_program, "msg", msg);
        if (!line)
                return;
        if (json_is_object(owned_fields))
                json_object_update_missing(line, owned_fields);

        _cleanup_free_ char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
                return;

        pthread_mutex_lock(&log_lock);
        fputs(text, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        pthread_mutex_unlock(&log_lock);
}
