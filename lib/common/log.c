/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static const char *log_program = "tripdeal";
static enum log_level log_min_level = LOG_LEVEL_INFO;
/* Shared by lines up to PIPE_BUF, exclusive for longer ones (write_line). */
static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

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

int log_level_parse_flag(const char *value, void *target, char *message, size_t message_size)
{
        if (log_level_from_string(value, target) < 0) {
                snprintf(message, message_size, "want debug, info, warn or error");
                return -EINVAL;
        }
        return 0;
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

#define LINE_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/*
 * One write(2) a line, straight to stdout, with no stdio buffer to flush (a
 * mutex and stdio around every line cost the app ~45% of its request rate).
 * Lines of different threads must never mix.  A write of up to PIPE_BUF bytes
 * to a pipe is atomic, so short lines only share a read lock among
 * themselves; a longer line may be split by the kernel, so it takes the lock
 * exclusively and no short line can land inside it.  Writers are preferred,
 * so that a long line is not starved by a stream of short ones.
 */
static void write_line(const char *data, size_t length)
{
        bool exclusive = length > PIPE_BUF;
        if (exclusive)
                pthread_rwlock_wrlock(&log_lock);
        else
                pthread_rwlock_rdlock(&log_lock);
        while (length > 0) {
                ssize_t n = write(STDOUT_FILENO, data, length);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break; /* nowhere to report it: the log is what failed */
                data += n;
                length -= (size_t)n;
        }
        pthread_rwlock_unlock(&log_lock);
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

        /* Serialised into the stack in the common case: no allocation. */
        char stack[4096];
        size_t length = json_dumpb(line, stack, sizeof(stack) - 1, LINE_FLAGS);
        if (length == 0)
                return;
        if (length < sizeof(stack)) {
                stack[length] = '\n';
                write_line(stack, length + 1);
                return;
        }
        _cleanup_free_ char *text = malloc(length + 1);
        if (!text || json_dumpb(line, text, length, LINE_FLAGS) != length)
                return;
        text[length] = '\n';
        write_line(text, length + 1);
}
