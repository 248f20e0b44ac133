/* SPDX-License-Identifier: Apache-2.0 */
/* lib/cron tz: TZif reading, offsets, local-time mapping, checked against glibc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "macros.h"
#include "support.h"
#include "tz.h"

static int64_t utc(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi)
{
        return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static struct tz_zone *load(const char *name)
{
        struct tz_zone *zone = NULL;
        int r = tz_zone_load(name, NULL, &zone);
        if (r < 0)
                fail_msg("loading %s: %d", name, r);
        return zone;
}

static void calendar_round_trips(void **state)
{
        for (int64_t days = -800000; days < 800000; days += 997) {
                int64_t y;
                unsigned m, d;
                tz_civil_from_days(days, &y, &m, &d);
                assert_int_equal(tz_days_from_civil(y, m, d), days);
        }
        assert_int_equal(tz_weekday_from_days(0), 4);                                /* Thu */
        assert_int_equal(tz_weekday_from_days(tz_days_from_civil(2026, 11, 25)), 3); /* Wed */
        assert_int_equal(tz_weekday_from_days(-1), 3);
        assert_int_equal(tz_days_in_month(2024, 2), 29);
        assert_int_equal(tz_days_in_month(2100, 2), 28);
        assert_int_equal(tz_days_in_month(2000, 2), 29);
}

static void offsets_at_known_transitions(void **state)
{
        struct tz_zone *ny = load("America/New_York");
        /* 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z; back on 2026-11-01 at 06:00Z. */
        assert_int_equal(tz_offset_at(ny, utc(2026, 3, 8, 6, 59)), -5 * 3600);
        assert_int_equal(tz_offset_at(ny, utc(2026, 3, 8, 7, 0)), -4 * 3600);
        assert_int_equal(tz_offset_at(ny, utc(2026, 11, 1, 5, 59)), -4 * 3600);
        assert_int_equal(tz_offset_at(ny, utc(2026, 11, 1, 6, 0)), -5 * 3600);
        int64_t t;
        assert_int_equal(tz_next_transition(ny, utc(2026, 1, 1, 0, 0), &t), 0);
        assert_int_equal(t, utc(2026, 3, 8, 7, 0));
        /* Beyond 2037 the footer rule supplies the transitions. */
        assert_int_equal(tz_offset_at(ny, utc(2150, 7, 1, 0, 0)), -4 * 3600);
        assert_int_equal(tz_offset_at(ny, utc(2150, 1, 1, 0, 0)), -5 * 3600);
        assert_string_equal(tz_zone_name(ny), "America/New_York");
        assert_int_equal(tz_offset_span(ny) >= 3600, 1);
        tz_zone_free(ny);

        struct tz_zone *lord_howe = load("Australia/Lord_Howe");
        /* +10:30 standard, +11 daylight: a 30-minute shift. */
        assert_int_equal(tz_offset_at(lord_howe, utc(2026, 7, 1, 0, 0)), 10 * 3600 + 1800);
        assert_int_equal(tz_offset_at(lord_howe, utc(2026, 12, 1, 0, 0)), 11 * 3600);
        /* DST starts 2026-10-04 02:00 local (+10:30) = 2026-10-03 15:30Z. */
        assert_int_equal(tz_next_transition(lord_howe, utc(2026, 7, 1, 0, 0), &t), 0);
        assert_int_equal(t, utc(2026, 10, 3, 15, 30));
        tz_zone_free(lord_howe);

        struct tz_zone *seoul = load("Asia/Seoul");
        assert_int_equal(tz_offset_at(seoul, utc(2026, 3, 29, 1, 0)), 9 * 3600);
        assert_int_equal(tz_next_transition(seoul, utc(2000, 1, 1, 0, 0), &t), -ENOENT);
        tz_zone_free(seoul);
}

/* glibc is the oracle: compare offsets at many instants, 1902..2199. */
static void offsets_match_glibc(void **state)
{
        static const char *const zones[] = {
                "America/New_York",
                "Europe/Berlin",
                "Australia/Lord_Howe",
                "Asia/Seoul",
                "UTC",
                "America/Santiago",
                "Pacific/Chatham",
                "Africa/Casablanca",
                "Asia/Kolkata",
                "America/St_Johns",
                "Europe/Dublin",
                "Pacific/Apia",
                "Asia/Tehran",
                "America/Nuuk",
                "Antarctica/Troll",
                "Europe/London",
        };
        const char *saved = getenv("TZ");
        char *saved_copy = saved ? strdup(saved) : NULL;
        srand(20261125);
        unsigned checked = 0;
        for (size_t z = 0; z < ARRAY_SIZE(zones); z++) {
                struct tz_zone *zone = NULL;
                if (tz_zone_load(zones[z], NULL, &zone) < 0)
                        continue; /* an older tzdata may lack one; the others still count */
                setenv("TZ", zones[z], 1);
                tzset();
                for (int i = 0; i < 3000; i++) {
                        /* Fixed-seed instants between 1902 and 2199 plus some near transitions. */
                        int64_t t = utc(1902, 1, 1, 0, 0) +
                                    (int64_t)(((uint64_t)rand() << 20 ^ (uint64_t)rand()) %
                                              (uint64_t)(utc(2199, 1, 1, 0, 0) -
                                                         utc(1902, 1, 1, 0, 0)));
                        if (i % 3 == 0) {
                                int64_t next;
                                if (tz_next_transition(zone, t, &next) == 0)
                                        t = next - 1 + (i % 2);
                        }
                        time_t tt = (time_t)t;
                        struct tm tm;
                        assert_non_null(localtime_r(&tt, &tm));
                        if (tm.tm_gmtoff != tz_offset_at(zone, t))
                                fail_msg("%s at %lld: glibc %ld, ours %d", zones[z], (long long)t,
                                         tm.tm_gmtoff, tz_offset_at(zone, t));
                        checked++;
                }
                tz_zone_free(zone);
        }
        if (saved_copy)
                setenv("TZ", saved_copy, 1);
        else
                unsetenv("TZ");
        tzset();
        free(saved_copy);
        assert_true(checked >= 3000 * 12);
}

static void local_times_in_gaps_and_overlaps(void **state)
{
        struct tz_zone *ny = load("America/New_York");
        struct tz_local_mapping m;
        /* 02:30 on 2026-03-08 does not exist: the gap ends at 07:00Z (03:00 EDT). */
        tz_local_to_utc(ny, utc(2026, 3, 8, 2, 30), &m);
        assert_int_equal(m.kind, TZ_LOCAL_SKIPPED);
        assert_int_equal(m.earliest, utc(2026, 3, 8, 7, 0));
        /* 01:30 on 2026-11-01 happens at 05:30Z (EDT) and 06:30Z (EST). */
        tz_local_to_utc(ny, utc(2026, 11, 1, 1, 30), &m);
        assert_int_equal(m.kind, TZ_LOCAL_REPEATED);
        assert_int_equal(m.earliest, utc(2026, 11, 1, 5, 30));
        assert_int_equal(m.latest, utc(2026, 11, 1, 6, 30));
        tz_local_to_utc(ny, utc(2026, 6, 1, 12, 0), &m);
        assert_int_equal(m.kind, TZ_LOCAL_UNIQUE);
        assert_int_equal(m.earliest, utc(2026, 6, 1, 16, 0));
        tz_zone_free(ny);

        struct tz_zone *lord_howe = load("Australia/Lord_Howe");
        /* 2026-10-04 02:00..02:29 local is skipped; 2026-04-05 01:30..01:59 repeats. */
        tz_local_to_utc(lord_howe, utc(2026, 10, 4, 2, 15), &m);
        assert_int_equal(m.kind, TZ_LOCAL_SKIPPED);
        assert_int_equal(m.earliest, utc(2026, 10, 3, 15, 30));
        tz_local_to_utc(lord_howe, utc(2026, 10, 4, 2, 30), &m);
        assert_int_equal(m.kind, TZ_LOCAL_UNIQUE);
        tz_local_to_utc(lord_howe, utc(2026, 4, 5, 1, 45), &m);
        assert_int_equal(m.kind, TZ_LOCAL_REPEATED);
        assert_int_equal(m.earliest, utc(2026, 4, 4, 14, 45));
        assert_int_equal(m.latest, utc(2026, 4, 4, 15, 15));
        tz_zone_free(lord_howe);
}

static void zone_names_are_checked(void **state)
{
        struct tz_zone *zone = (struct tz_zone *)0x1;
        assert_int_equal(tz_zone_load("../../etc/passwd", NULL, &zone), -EINVAL);
        assert_int_equal(tz_zone_load("/etc/localtime", NULL, &zone), -EINVAL);
        assert_int_equal(tz_zone_load("Europe/../Asia/Seoul", NULL, &zone), -EINVAL);
        assert_int_equal(tz_zone_load("zone.tab", NULL, &zone), -EINVAL);
        assert_int_equal(tz_zone_load("", NULL, &zone), -EINVAL);
        assert_int_equal(tz_zone_load("Asia//Seoul", NULL, &zone), -EINVAL);
        assert_int_equal(tz_zone_load("Mars/Olympus_Mons", NULL, &zone), -ENOENT);
        assert_int_equal(tz_zone_load("America", NULL, &zone), -ENOENT); /* a directory */
        assert_int_equal(tz_zone_load("Asia/Seoul",
                                      &(struct tz_load_options){.zoneinfo_dir = "/nonexistent"},
                                      &zone),
                         -ENOENT);
        assert_ptr_equal(zone, (struct tz_zone *)0x1); /* untouched on failure */
        tz_zone_free(NULL);
}

/* Truncated and bit-flipped files never crash and never yield a half-read zone. */
static void corrupt_files_are_refused_safely(void **state)
{
        char *text = NULL;
        size_t size = 0;
        assert_int_equal(support_read_file("/usr/share/zoneinfo/Australia/Lord_Howe", &text, &size),
                         0);
        uint8_t *data = (uint8_t *)text;
        struct tz_zone *zone = NULL;
        assert_int_equal(tz_zone_parse("x", data, size, &zone), 0);
        tz_zone_free(zone);

        for (size_t cut = 0; cut < size; cut++) {
                zone = NULL;
                int r = tz_zone_parse("x", data, cut, &zone);
                /* Only losing the trailing newline of the footer could be survivable; it is not. */
                assert_true(r < 0);
                assert_null(zone);
        }
        srand(4242);
        uint8_t *copy = malloc(size);
        for (int i = 0; i < 4000; i++) {
                memcpy(copy, data, size);
                for (int flips = 1 + rand() % 4; flips > 0; flips--)
                        copy[(size_t)rand() % size] ^= (uint8_t)(1u << (rand() % 8));
                zone = NULL;
                if (tz_zone_parse("x", copy, size, &zone) == 0) {
                        /* Whatever was accepted must answer queries sanely. */
                        struct tz_local_mapping m;
                        tz_local_to_utc(zone, utc(2026, 3, 8, 2, 30), &m);
                        assert_true(m.earliest <= m.latest);
                        (void)tz_offset_at(zone, utc(2100, 1, 1, 0, 0));
                        tz_zone_free(zone);
                }
        }
        free(copy);
        assert_int_equal(tz_zone_parse("x", "TZif", 4, &zone), -EINVAL);
        assert_int_equal(tz_zone_parse("x", "not a zone file at all, really no", 33, &zone),
                         -EINVAL);
        free(data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(calendar_round_trips),
                cmocka_unit_test(offsets_at_known_transitions),
                cmocka_unit_test(offsets_match_glibc),
                cmocka_unit_test(local_times_in_gaps_and_overlaps),
                cmocka_unit_test(zone_names_are_checked),
                cmocka_unit_test(corrupt_files_are_refused_safely),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
