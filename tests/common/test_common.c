/* SPDX-License-Identifier: Apache-2.0 */
/* lib/common: durations, RFC 3339 time stamps, log levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "duration.h"
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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
