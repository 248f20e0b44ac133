/* SPDX-License-Identifier: Apache-2.0 */
/* lib/common: durations, RFC 3339 time stamps, log levels and lines, the error convention. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "duration.h"
#include "error.h"
#include "log.h"
#include "prometheus.h"

static void duration_parses_kubernetes_forms(void **state)
{
        int64_t ms = -1;
        assert_int_equal(duration_parse_ms("45s", &ms), 0);
        assert_int_equal(ms, 45000);
        assert_int_equal(duration_parse_ms("10m", &ms), 0);
        assert_int_equal(ms, 600000);
        assert_int_equal(duration_parse_ms("1h30m", &ms), 0);
        assert_int_equal(ms, 5400000);
        assert_int_equal(duration_parse_ms("250ms", &ms), 0);
        assert_int_equal(ms, 250);
        assert_int_equal(duration_parse_ms("0", &ms), 0);
        assert_int_equal(ms, 0);
}

static void duration_rejects_bad_text_and_leaves_output(void **state)
{
        static const char *const bad[] = {"", "10", "m", "1x", "-5s", "1h 30m", "1.5h", "s10"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t ms = 42;
                assert_int_equal(duration_parse_ms(bad[i], &ms), -EINVAL);
                assert_int_equal(ms, 42);
        }
        int64_t ms = 42;
        assert_int_equal(duration_parse_ms("99999999999999999999h", &ms), -ERANGE);
        assert_int_equal(ms, 42);
}

static void duration_formats_round_trip(void **state)
{
        char buf[32];
        assert_int_equal(duration_format(5400000, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "1h30m");
        assert_int_equal(duration_format(0, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0s");
        assert_int_equal(duration_format(61001, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "1m1s1ms");
        int64_t back;
        assert_int_equal(duration_parse_ms(buf, &back), 0);
        assert_int_equal(back, 61001);
        assert_int_equal(duration_format(5400000, buf, 3), -ENOBUFS);
}

static void rfc3339_round_trip(void **state)
{
        char buf[32];
        assert_int_equal(clock_format_rfc3339(1764064800, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "2025-11-25T10:00:00Z");
        time_t t = 0;
        assert_int_equal(clock_parse_rfc3339("2025-11-25T10:00:00Z", &t), 0);
        assert_int_equal(t, 1764064800);
        assert_int_equal(clock_parse_rfc3339("2025-11-25T19:00:00.5+09:00", &t), 0);
        assert_int_equal(t, 1764064800);
        assert_int_equal(clock_format_rfc3339_ms(1764064800123, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "2025-11-25T10:00:00.123Z");
}

static void rfc3339_rejects_garbage(void **state)
{
        static const char *const bad[] = {"", "2025-11-25", "2025-11-25T10:00:00",
                                          "2025-11-25T10:00:00Zjunk", "2025-11-25T10:00:00+9"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                time_t t = 7;
                assert_int_equal(clock_parse_rfc3339(bad[i], &t), -EINVAL);
                assert_int_equal(t, 7);
        }
}

static void rfc3339_micro_for_kubernetes(void **state)
{
        char buf[32];
        assert_int_equal(clock_format_rfc3339_micro(1764064800123, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "2025-11-25T10:00:00.123000Z");
        assert_int_equal(clock_format_rfc3339_micro(1764064800123, buf, 27), -ENOBUFS);
}

static void prometheus_label_values_cannot_break_a_line(void **state)
{
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        prometheus_write_label_value(out, "a\"b\\c\nd");
        fclose(out);
        assert_string_equal(text, "a\\\"b\\\\c\\nd");
        free(text);
}

static void log_levels_parse(void **state)
{
        enum log_level level = LOG_LEVEL_ERROR;
        assert_int_equal(log_level_from_string("debug", &level), 0);
        assert_int_equal(level, LOG_LEVEL_DEBUG);
        assert_int_equal(log_level_from_string("warn", &level), 0);
        assert_int_equal(level, LOG_LEVEL_WARN);
        assert_int_equal(log_level_from_string("verbose", &level), -EINVAL);
        assert_int_equal(level, LOG_LEVEL_WARN);
        assert_string_equal(log_level_to_string(LOG_LEVEL_ERROR), "error");
}

/* ---- log lines: whole JSON objects, one a line, also from many threads ---- */

#define LOG_THREADS        4
#define LOG_LINES_A_THREAD 400

struct captured {
        int fd;
        char *data;
        size_t length;
};

static void *capture_reader(void *userdata)
{
        struct captured *c = userdata;
        size_t capacity = 0;
        for (;;) {
                if (c->length + 65536 > capacity) {
                        capacity = capacity ? capacity * 2 : 1 << 20;
                        c->data = realloc(c->data, capacity + 1);
                        assert_non_null(c->data);
                }
                ssize_t n = read(c->fd, c->data + c->length, capacity - c->length);
                if (n <= 0)
                        break;
                c->length += (size_t)n;
        }
        c->data[c->length] = '\0';
        return NULL;
}

static void *log_writer(void *userdata)
{
        long thread = (long)(intptr_t)userdata;
        char long_value[6000];
        memset(long_value, 'x', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        for (int i = 0; i < LOG_LINES_A_THREAD; i++) {
                /* Every 40th line is longer than PIPE_BUF. */
                log_emit(LOG_LEVEL_INFO,
                         json_pack("{s:I, s:i, s:s}", "thread", (json_int_t)thread, "i", i,
                                   "filler", i % 40 == 0 ? long_value : "short"),
                         "line %d \"quoted\"\n", i);
        }
        return NULL;
}

/* Run fn with stdout going into a pipe; returns what was written (caller frees). */
static char *capture_stdout(void (*fn)(void))
{
        int pipe_fds[2];
        assert_int_equal(pipe(pipe_fds), 0);
        fflush(stdout);
        int saved = dup(STDOUT_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(pipe_fds[1], STDOUT_FILENO) >= 0);
        close(pipe_fds[1]);
        struct captured c = {.fd = pipe_fds[0]};
        pthread_t reader;
        assert_int_equal(pthread_create(&reader, NULL, capture_reader, &c), 0);
        fn();
        fflush(stdout);
        assert_true(dup2(saved, STDOUT_FILENO) >= 0);
        close(saved);
        pthread_join(reader, NULL);
        close(pipe_fds[0]);
        return c.data;
}

static void emit_from_threads(void)
{
        log_setup("test-common", LOG_LEVEL_INFO);
        pthread_t threads[LOG_THREADS];
        for (long t = 0; t < LOG_THREADS; t++)
                assert_int_equal(pthread_create(&threads[t], NULL, log_writer, (void *)(intptr_t)t),
                                 0);
        for (int t = 0; t < LOG_THREADS; t++)
                pthread_join(threads[t], NULL);
}

static void log_lines_never_mix(void **state)
{
        char *text = capture_stdout(emit_from_threads);
        int seen[LOG_THREADS] = {0};
        size_t lines = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                json_error_t error;
                json_t *o = json_loads(line, 0, &error);
                if (!o)
                        fail_msg("line %zu is not JSON (%s): %.200s", lines, error.text, line);
                /* The fixed keys come first, in this order. */
                assert_true(strncmp(line, "{\"time\":", 8) == 0);
                assert_non_null(
                        strstr(line, "\"level\":\"info\",\"program\":\"test-common\",\"msg\":"));
                json_int_t thread = json_integer_value(json_object_get(o, "thread"));
                json_int_t i = json_integer_value(json_object_get(o, "i"));
                assert_true(thread >= 0 && thread < LOG_THREADS);
                assert_int_equal(i, seen[thread]); /* each thread's lines in order, none lost */
                seen[thread]++;
                char want[64];
                snprintf(want, sizeof(want), "line %d \"quoted\"\n", (int)i);
                assert_string_equal(json_string_value(json_object_get(o, "msg")), want);
                assert_int_equal(strlen(json_string_value(json_object_get(o, "filler"))),
                                 i % 40 == 0 ? 5999 : 5);
                json_decref(o);
                lines++;
        }
        assert_int_equal(lines, LOG_THREADS * LOG_LINES_A_THREAD);
        free(text);
}

static void emit_with_clashing_fields(void)
{
        log_setup("test-common", LOG_LEVEL_WARN);
        log_emit(LOG_LEVEL_INFO, json_pack("{s:s}", "k", "filtered out"), "below the level");
        log_emit(LOG_LEVEL_WARN,
                 json_pack("{s:s, s:s, s:s}", "msg", "forged", "level", "debug", "k", "v"), "real");
}

static void log_fields_cannot_replace_fixed_keys(void **state)
{
        char *text = capture_stdout(emit_with_clashing_fields);
        json_t *o = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "msg")), "real");
        assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
        assert_string_equal(json_string_value(json_object_get(o, "k")), "v");
        /* One line: the filtered one left nothing. */
        assert_non_null(strchr(text, '\n'));
        assert_string_equal(strchr(text, '\n'), "\n");
        json_decref(o);
        free(text);
}

/* A filtered line builds nothing: neither its fields nor its format arguments. */
static int fields_built, arguments_evaluated;

static json_t *counted_fields(void)
{
        fields_built++;
        return json_pack("{s:s}", "k", "v");
}

static int counted_argument(void)
{
        return ++arguments_evaluated;
}

static void emit_filtered_then_enabled(void)
{
        log_setup("test-common", LOG_LEVEL_INFO);
        for (int i = 0; i < 1000; i++)
                log_emit(LOG_LEVEL_DEBUG, counted_fields(), "debug %d", counted_argument());
        log_debug("debug %d", counted_argument());
        log_emit(LOG_LEVEL_INFO, counted_fields(), "info %d", counted_argument());
}

static void log_filtered_lines_build_nothing(void **state)
{
        fields_built = arguments_evaluated = 0;
        char *text = capture_stdout(emit_filtered_then_enabled);
        assert_int_equal(fields_built, 1);
        assert_int_equal(arguments_evaluated, 1);
        json_t *o = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "msg")), "info 1");
        assert_string_equal(json_string_value(json_object_get(o, "k")), "v");
        assert_string_equal(strchr(text, '\n'), "\n");
        json_decref(o);
        free(text);
}

static void error_codes_have_text(void **state)
{
        assert_string_equal(tripdeal_strerror(0), "success");
        assert_string_equal(tripdeal_strerror(-ENOENT), "No such file or directory");
        assert_string_equal(tripdeal_strerror(TRIPDEAL_ERR_INJECTED_FAULT),
                            "injected fault (tests only)");
        assert_string_equal(tripdeal_strerror(-99999), "unknown error");
        assert_string_equal(tripdeal_strerror(1), "unknown error");
}

static void error_set_fills_one_line_and_returns_the_code(void **state)
{
        struct tripdeal_error e = {0}, copy = {0};

        assert_int_equal(tripdeal_error_set(&e, -EINVAL, "bad %s:\n%d", "vcpus", 0), -EINVAL);
        assert_int_equal(e.code, -EINVAL);
        assert_string_equal(e.message, "bad vcpus: 0");
        assert_string_equal(tripdeal_error_message(&e), "bad vcpus: 0");
        assert_int_equal(tripdeal_error_copy(&copy, &e), -EINVAL);
        assert_string_equal(copy.message, "bad vcpus: 0");
        /* NULL: the caller did not ask for details; the code still comes back. */
        assert_int_equal(tripdeal_error_set(NULL, -EIO, "x"), -EIO);
        assert_string_equal(tripdeal_error_message(NULL), "");
        /* No message written: the code's text. */
        assert_string_equal(tripdeal_error_message(&(struct tripdeal_error){.code = -EEXIST}),
                            "File exists");
        /* Truncated, still terminated. */
        char long_text[2 * TRIPDEAL_ERROR_MESSAGE_MAX];
        memset(long_text, 'a', sizeof(long_text) - 1);
        long_text[sizeof(long_text) - 1] = '\0';
        tripdeal_error_set(&e, -E2BIG, "%s", long_text);
        assert_int_equal(strlen(e.message), TRIPDEAL_ERROR_MESSAGE_MAX - 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(duration_parses_kubernetes_forms),
                cmocka_unit_test(duration_rejects_bad_text_and_leaves_output),
                cmocka_unit_test(duration_formats_round_trip),
                cmocka_unit_test(rfc3339_round_trip),
                cmocka_unit_test(rfc3339_rejects_garbage),
                cmocka_unit_test(rfc3339_micro_for_kubernetes),
                cmocka_unit_test(prometheus_label_values_cannot_break_a_line),
                cmocka_unit_test(log_levels_parse),
                cmocka_unit_test(log_lines_never_mix),
                cmocka_unit_test(log_fields_cannot_replace_fixed_keys),
                cmocka_unit_test(log_filtered_lines_build_nothing),
                cmocka_unit_test(error_codes_have_text),
                cmocka_unit_test(error_set_fills_one_line_and_returns_the_code),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
