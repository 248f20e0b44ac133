/* SPDX-License-Identifier: Apache-2.0 */
/* lib/cron: parsing, next/previous fire times across DST, month ends and leap days. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "cron.h"
#include "macros.h"
#include "tz.h"

static int64_t utc(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi)
{
        return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static struct tz_zone *load(const char *name)
{
        struct tz_zone *zone = NULL;
        if (tz_zone_load(name, NULL, &zone) < 0)
                fail_msg("cannot load %s", name);
        return zone;
}

static struct cron_schedule parse(const char *text)
{
        struct cron_schedule s;
        struct cron_error e;
        if (cron_parse(text, &s, &e) < 0)
                fail_msg("parse \"%s\": %s", text, e.base.message);
        return s;
}

/* Fire times compared as RFC 3339 text so a failure names the instant. */
static const char *iso(int64_t t, char buf[static 32])
{
        if (clock_format_rfc3339((time_t)t, buf, 32) < 0)
                snprintf(buf, 32, "%lld", (long long)t);
        return buf;
}

static void expect_next(const char *schedule, const char *zone_name, int64_t after,
                        const char *expected)
{
        struct tz_zone *zone = load(zone_name);
        struct cron_schedule s = parse(schedule);
        int64_t t = 0;
        char buf[32], buf2[32];
        assert_int_equal(cron_next(&s, zone, after, &t), 0);
        if (strcmp(iso(t, buf), expected) != 0)
                fail_msg("next(\"%s\", %s, after %s) = %s, expected %s", schedule, zone_name,
                         iso(after, buf2), buf, expected);
        tz_zone_free(zone);
}

static void expect_prev(const char *schedule, const char *zone_name, int64_t at,
                        const char *expected)
{
        struct tz_zone *zone = load(zone_name);
        struct cron_schedule s = parse(schedule);
        int64_t t = 0;
        char buf[32], buf2[32];
        assert_int_equal(cron_prev(&s, zone, at, &t), 0);
        if (strcmp(iso(t, buf), expected) != 0)
                fail_msg("prev(\"%s\", %s, at %s) = %s, expected %s", schedule, zone_name,
                         iso(at, buf2), buf, expected);
        tz_zone_free(zone);
}

static void parses_fields_lists_ranges_steps_names(void **state)
{
        struct cron_schedule s = parse("*/15 9-17/2 1,15 JAN-mar,Dec mon-FRI");
        assert_int_equal(s.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
        assert_int_equal(s.hours, (1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 17));
        assert_int_equal(s.days_of_month, (1u << 1) | (1u << 15));
        assert_int_equal(s.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
        assert_int_equal(s.days_of_week, 0x3e);
        assert_true(s.day_of_month_restricted);
        assert_true(s.day_of_week_restricted);

        s = parse("0 0 * * 7");
        assert_int_equal(s.days_of_week, 1); /* 7 is Sunday */
        s = parse("0 0 * * 5-7");
        assert_int_equal(s.days_of_week, (1u << 5) | (1u << 6) | 1u);
        s = parse("  5/20 \t 0   *   *   *\n");
        assert_int_equal(s.minutes, (1ull << 5) | (1ull << 25) | (1ull << 45));
        s = parse("0 0 */10 * *");
        assert_false(s.day_of_month_restricted); /* starts with '*': Vixie's rule */
        assert_int_equal(s.days_of_month, (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));

        struct cron_schedule daily = parse("@daily"), expanded = parse("0 0 * * *");
        assert_int_equal(daily.minutes, expanded.minutes);
        assert_int_equal(daily.hours, expanded.hours);
        assert_int_equal(daily.days_of_month, expanded.days_of_month);
        assert_int_equal(daily.months, expanded.months);
        assert_int_equal(daily.days_of_week, expanded.days_of_week);
        assert_int_equal(daily.day_of_month_restricted, expanded.day_of_month_restricted);
        struct cron_schedule weekly = parse("@WEEKLY");
        assert_int_equal(weekly.days_of_week, 1);
        parse("@hourly");
        parse("@monthly");
        parse("@yearly");
        parse("@annually");
        parse("0 0 29 2 *"); /* leap day: fires every 4 years */
        parse("0 0 30 2 1"); /* OR with Mondays: fires */
        parse("59 23 31 12 6");
}

static void expect_error(const char *text, int code, enum cron_error_kind kind, const char *field,
                         const char *token)
{
        struct cron_schedule s = {.minutes = 42};
        struct cron_error e = {0};
        int r = cron_parse(text, &s, &e);
        if (r != code || e.kind != kind || strcmp(e.field, field) != 0 ||
            (token && strcmp(e.token, token) != 0))
                fail_msg("\"%s\": got %d %s (%s), expected %d %s/%s", text, r, e.base.message,
                         e.token, code, field, token ? token : "");
        assert_int_equal(s.minutes, 42); /* untouched */
        assert_non_null(strstr(e.base.message, field));
        assert_int_equal(e.base.code, code);
}

static void rejects_bad_schedules_naming_field_and_token(void **state)
{
        expect_error("", -EINVAL, CRON_ERROR_EMPTY, "schedule", NULL);
        expect_error("0 10 * *", -EINVAL, CRON_ERROR_FIELD_COUNT, "schedule", NULL);
        expect_error("0 10 * * * *", -EINVAL, CRON_ERROR_FIELD_COUNT, "schedule", NULL);
        expect_error("@reboot", -EINVAL, CRON_ERROR_UNKNOWN_MACRO, "schedule", "@reboot");
        expect_error("60 * * * *", -EINVAL, CRON_ERROR_OUT_OF_RANGE, "minute", "60");
        expect_error("0 24 * * *", -EINVAL, CRON_ERROR_OUT_OF_RANGE, "hour", "24");
        expect_error("0 0 0 * *", -EINVAL, CRON_ERROR_OUT_OF_RANGE, "day-of-month", "0");
        expect_error("0 0 * 13 *", -EINVAL, CRON_ERROR_OUT_OF_RANGE, "month", "13");
        expect_error("0 0 * * 8", -EINVAL, CRON_ERROR_OUT_OF_RANGE, "day-of-week", "8");
        expect_error("0 0 * * MON-FOO", -EINVAL, CRON_ERROR_BAD_TOKEN, "day-of-week", "FOO");
        expect_error("0 0 * JANUARY *", -EINVAL, CRON_ERROR_BAD_TOKEN, "month", "JANUARY");
        expect_error("0 0 * * FRI-MON", -EINVAL, CRON_ERROR_BAD_RANGE, "day-of-week", "FRI-MON");
        expect_error("*/0 * * * *", -EINVAL, CRON_ERROR_BAD_STEP, "minute", "*/0");
        expect_error("*/ * * * *", -EINVAL, CRON_ERROR_BAD_STEP, "minute", "*/");
        expect_error("1,,2 * * * *", -EINVAL, CRON_ERROR_BAD_TOKEN, "minute", NULL);
        expect_error("1, * * * *", -EINVAL, CRON_ERROR_BAD_TOKEN, "minute", NULL);
        expect_error("x * * * *", -EINVAL, CRON_ERROR_BAD_TOKEN, "minute", "x");
        expect_error("-5 * * * *", -EINVAL, CRON_ERROR_BAD_TOKEN, "minute", "-5");
        expect_error("0 1- * * *", -EINVAL, CRON_ERROR_BAD_TOKEN, "hour", "1-");
        expect_error("0 * * * 1-5/9", -EINVAL, CRON_ERROR_BAD_STEP, "day-of-week", "1-5/9");
        expect_error("0 MON * * *", -EINVAL, CRON_ERROR_BAD_TOKEN, "hour", "MON");
        expect_error("0 0 30 2 *", -ERANGE, CRON_ERROR_NEVER_FIRES, "day-of-month", NULL);
        expect_error("0 0 31 4,6,9,11 *", -ERANGE, CRON_ERROR_NEVER_FIRES, "day-of-month", NULL);
        assert_int_equal(cron_parse(NULL, &(struct cron_schedule){0}, NULL), -EINVAL);
        assert_string_equal(cron_error_kind_to_string(CRON_ERROR_BAD_STEP),
                            "step must be a number from 1 up");
}

static void weekdays_skip_the_weekend(void **state)
{
        /* Friday 2026-11-27 10:00 KST = 01:00Z; next is Monday 2026-11-30. */
        expect_next("0 10 * * 1-5", "Asia/Seoul", utc(2026, 11, 27, 1, 0), "2026-11-30T01:00:00Z");
        expect_next("0 10 * * 1-5", "Asia/Seoul", utc(2026, 11, 27, 0, 59), "2026-11-27T01:00:00Z");
        expect_prev("0 10 * * 1-5", "Asia/Seoul", utc(2026, 11, 30, 0, 59), "2026-11-27T01:00:00Z");
        expect_prev("0 10 * * 1-5", "Asia/Seoul", utc(2026, 11, 30, 1, 0), "2026-11-30T01:00:00Z");
        expect_next("0 10 * * MON-FRI", "America/New_York", utc(2026, 11, 27, 15, 0),
                    "2026-11-30T15:00:00Z");
}

static void new_york_spring_forward_and_fall_back(void **state)
{
        /* 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z). 02:30 fires at the gap's end. */
        expect_next("30 2 * * *", "America/New_York", utc(2026, 3, 7, 0, 0),
                    "2026-03-07T07:30:00Z");
        expect_next("30 2 * * *", "America/New_York", utc(2026, 3, 7, 7, 30),
                    "2026-03-08T07:00:00Z");
        expect_next("30 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 0),
                    "2026-03-09T06:30:00Z");
        /* Every quarter hour of the missing hour collapses into one firing. */
        expect_next("*/15 2 * * *", "America/New_York", utc(2026, 3, 8, 6, 0),
                    "2026-03-08T07:00:00Z");
        expect_next("*/15 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 0),
                    "2026-03-09T06:00:00Z");
        expect_prev("*/15 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 30),
                    "2026-03-08T07:00:00Z");
        /* 03:00 the same morning is a normal time that coincides with the gap's end. */
        expect_next("0 3 * * *", "America/New_York", utc(2026, 3, 8, 6, 0), "2026-03-08T07:00:00Z");

        /* 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00Z); 01:30 fires once, in EDT. */
        expect_next("30 1 * * *", "America/New_York", utc(2026, 11, 1, 0, 0),
                    "2026-11-01T05:30:00Z");
        expect_next("30 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 30),
                    "2026-11-02T06:30:00Z");
        expect_prev("30 1 * * *", "America/New_York", utc(2026, 11, 1, 6, 45),
                    "2026-11-01T05:30:00Z");
        /* Hourly keeps one firing per wall-clock hour: 01:00 EDT, then 02:00 EST. */
        expect_next("0 * * * *", "America/New_York", utc(2026, 11, 1, 5, 0),
                    "2026-11-01T07:00:00Z");
        /* Schedules in UTC-like zones are untouched. */
        expect_next("0 10 * * *", "America/New_York", utc(2026, 11, 1, 0, 0),
                    "2026-11-01T15:00:00Z");
        expect_next("0 10 * * *", "America/New_York", utc(2026, 10, 31, 0, 0),
                    "2026-10-31T14:00:00Z");
}

static void berlin_transitions(void **state)
{
        /* 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
         */
        expect_next("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12, 0), "2026-03-29T01:00:00Z");
        expect_next("30 2 * * *", "Europe/Berlin", utc(2026, 3, 29, 1, 0), "2026-03-30T00:30:00Z");
        expect_next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12, 0),
                    "2026-10-25T00:30:00Z");
        expect_next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 30),
                    "2026-10-26T01:30:00Z");
        expect_prev("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 45),
                    "2026-10-25T00:30:00Z");
        expect_next("0 10 * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 0), "2026-10-25T09:00:00Z");
}

static void lord_howe_half_hour_shift(void **state)
{
        /* 2026-10-04 02:00 (+10:30) jumps to 02:30 (+11) at 2026-10-03 15:30Z. */
        expect_next("15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 12, 0),
                    "2026-10-03T15:30:00Z");
        expect_next("45 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 12, 0),
                    "2026-10-03T15:45:00Z");
        /* 2026-04-05 02:00 (+11) falls back to 01:30 (+10:30): 01:45 repeats, fires once. */
        expect_next("45 1 * * *", "Australia/Lord_Howe", utc(2026, 4, 4, 12, 0),
                    "2026-04-04T14:45:00Z");
        expect_next("45 1 * * *", "Australia/Lord_Howe", utc(2026, 4, 4, 14, 45),
                    "2026-04-05T15:15:00Z");
        expect_prev("45 1 * * *", "Australia/Lord_Howe", utc(2026, 4, 4, 15, 20),
                    "2026-04-04T14:45:00Z");
        expect_next("0 10 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 12, 0),
                    "2026-10-03T23:00:00Z");
}

static void month_ends_and_leap_days(void **state)
{
        expect_next("0 0 31 * *", "UTC", utc(2026, 1, 31, 0, 0), "2026-03-31T00:00:00Z");
        expect_next("0 0 30 * *", "UTC", utc(2026, 1, 30, 0, 0), "2026-03-30T00:00:00Z");
        expect_next("0 12 29 2 *", "UTC", utc(2025, 1, 1, 0, 0), "2028-02-29T12:00:00Z");
        /* 2100 is not a leap year: 2096 -> 2104. */
        expect_next("0 12 29 2 *", "UTC", utc(2096, 3, 1, 0, 0), "2104-02-29T12:00:00Z");
        expect_prev("0 12 29 2 *", "UTC", utc(2104, 2, 28, 0, 0), "2096-02-29T12:00:00Z");
        expect_next("0 10 29 2 *", "Asia/Seoul", utc(2027, 6, 1, 0, 0), "2028-02-29T01:00:00Z");
        expect_next("59 23 31 12 *", "Asia/Seoul", utc(2026, 12, 31, 15, 0),
                    "2027-12-31T14:59:00Z");
        expect_next("0 0 1 * *", "Asia/Seoul", utc(2026, 12, 31, 15, 0), "2027-01-31T15:00:00Z");
}

static void day_of_month_or_day_of_week(void **state)
{
        /* Vixie: both restricted -> either; "Friday the 13th" fires on every Friday and every 13th.
         */
        expect_next("0 0 13 * 5", "UTC", utc(2026, 11, 25, 0, 0), "2026-11-27T00:00:00Z");
        expect_next("0 0 13 * 5", "UTC", utc(2026, 12, 11, 0, 0), "2026-12-13T00:00:00Z");
        /* '*'-prefixed day-of-month counts as unrestricted: both must hold. */
        expect_next("0 0 */2 * 1", "UTC", utc(2026, 11, 25, 0, 0), "2026-12-07T00:00:00Z");
        /* Rare combinations: 1 March on a Sunday (11 years), 29 February on a Sunday
         * across 2100 (2088 -> 2128, 40 years).  Found by fuzzing. */
        expect_next("2 * 1 3 */7", "America/New_York", utc(2026, 3, 8, 5, 0),
                    "2037-03-01T05:02:00Z");
        expect_next("0 0 29 2 */7", "UTC", utc(2088, 3, 1, 0, 0), "2128-02-29T00:00:00Z");
        expect_prev("0 0 29 2 */7", "UTC", utc(2128, 2, 28, 0, 0), "2088-02-29T00:00:00Z");
}

static void searches_are_bounded(void **state)
{
        struct tz_zone *zone = load("UTC");
        struct cron_schedule s = parse("0 0 29 2 *");
        int64_t t = 7;
        assert_int_equal(cron_next(&s, zone, INT64_C(1) << 60, &t), -EINVAL);
        assert_int_equal(t, 7);
        /* Hand-built, impossible schedule: the search stops and says so. */
        struct cron_schedule impossible = s;
        impossible.days_of_month = 1u << 30;
        assert_int_equal(cron_next(&impossible, zone, 0, &t), -ERANGE);
        assert_int_equal(cron_prev(&impossible, zone, 0, &t), -ERANGE);
        assert_int_equal(t, 7);
        tz_zone_free(zone);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
        /* xorshift64*: a fixed, reproducible sequence. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

/*
 * For random schedules, zones and instants: next(t) > t, prev(next(t)) ==
 * next(t), nothing fires in (t, next(t)), prev(t) <= t and next(prev(t)) ==
 * next(t).  Near transitions half of the time.
 */
static void property_next_prev_agree(void **state)
{
        static const char *const schedules[] = {
                "* * * * *",       "*/15 * * * *",     "30 2 * * *",   "0 10 * * 1-5",
                "15,45 1-3 * * *", "0 0 29 2 *",       "0 0 31 * *",   "*/7 */5 */3 * *",
                "0 10 13 * 5",     "59 23 * * SUN",    "0 2 * 3,10 0", "45 1 * * *",
                "0 0 1 1 *",       "5-10/2 0-5 * * *", "0 */2 * * 6",  "30 0 1,15 * *",
        };
        static const char *const zones[] = {
                "America/New_York", "Europe/Berlin",    "Australia/Lord_Howe", "Asia/Seoul", "UTC",
                "Pacific/Chatham",  "America/Santiago", "Asia/Kolkata",
        };
        struct tz_zone *loaded[ARRAY_SIZE(zones)];
        for (size_t i = 0; i < ARRAY_SIZE(zones); i++)
                loaded[i] = load(zones[i]);
        char b1[32], b2[32];

        for (int i = 0; i < 3000; i++) {
                const char *text = schedules[rng() % ARRAY_SIZE(schedules)];
                size_t z = rng() % ARRAY_SIZE(zones);
                struct cron_schedule s = parse(text);
                int64_t t =
                        utc(2000, 1, 1, 0, 0) + (int64_t)(rng() % (uint64_t)(60ll * 365 * 86400));
                int64_t transition;
                if (rng() % 2 && tz_next_transition(loaded[z], t, &transition) == 0)
                        t = transition - 7200 + (int64_t)(rng() % 14400);

                int64_t next, back, before, prev, forward;
                assert_int_equal(cron_next(&s, loaded[z], t, &next), 0);
                if (next <= t)
                        fail_msg("%s %s: next(%s) = %s", text, zones[z], iso(t, b1), iso(next, b2));
                assert_int_equal(cron_prev(&s, loaded[z], next, &back), 0);
                if (back != next)
                        fail_msg("%s %s: prev(next(%s)) = %s", text, zones[z], iso(t, b1),
                                 iso(back, b2));
                assert_int_equal(cron_prev(&s, loaded[z], next - 1, &before), 0);
                if (before > t)
                        fail_msg("%s %s: fired at %s between %s and next", text, zones[z],
                                 iso(before, b1), iso(t, b2));
                assert_int_equal(cron_prev(&s, loaded[z], t, &prev), 0);
                assert_true(prev <= t);
                assert_int_equal(cron_next(&s, loaded[z], prev, &forward), 0);
                assert_int_equal(forward, next);
                /* Every firing is a whole minute. */
                assert_int_equal(next % 60, 0);
        }
        for (size_t i = 0; i < ARRAY_SIZE(zones); i++)
                tz_zone_free(loaded[i]);
}

/* In zones without DST, next() equals a brute-force minute-by-minute scan. */
static void matches_brute_force_without_dst(void **state)
{
        static const char *const schedules[] = {"*/15 9-17 * * 1-5", "0 10 * * *", "0 0 13 * 5",
                                                "7 3 */2 * *", "0 0 1 */2 *"};
        struct tz_zone *seoul = load("Asia/Seoul");
        for (int i = 0; i < 200; i++) {
                const char *text = schedules[rng() % ARRAY_SIZE(schedules)];
                struct cron_schedule s = parse(text);
                int64_t t = utc(2026, 1, 1, 0, 0) + (int64_t)(rng() % (365ull * 86400));
                int64_t expected = -1;
                for (int64_t u = t - t % 60 + 60; u < t + 70 * 86400; u += 60) {
                        int64_t local = u + 9 * 3600, day = tz_floor_div(local, 86400);
                        int64_t y;
                        unsigned mo, d;
                        tz_civil_from_days(day, &y, &mo, &d);
                        int minute = (int)(local % 3600 / 60), hour = (int)(local % 86400 / 3600);
                        if (cron_matches_date(&s, mo, d, tz_weekday_from_days(day)) &&
                            (s.hours >> hour & 1) && (s.minutes >> minute & 1)) {
                                expected = u;
                                break;
                        }
                }
                int64_t next;
                assert_int_equal(cron_next(&s, seoul, t, &next), 0);
                assert_int_equal(next, expected);
        }
        tz_zone_free(seoul);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_fields_lists_ranges_steps_names),
                cmocka_unit_test(rejects_bad_schedules_naming_field_and_token),
                cmocka_unit_test(weekdays_skip_the_weekend),
                cmocka_unit_test(new_york_spring_forward_and_fall_back),
                cmocka_unit_test(berlin_transitions),
                cmocka_unit_test(lord_howe_half_hour_shift),
                cmocka_unit_test(month_ends_and_leap_days),
                cmocka_unit_test(day_of_month_or_day_of_week),
                cmocka_unit_test(searches_are_bounded),
                cmocka_unit_test(property_next_prev_agree),
                cmocka_unit_test(matches_brute_force_without_dst),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
