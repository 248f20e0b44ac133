/* SPDX-License-Identifier: Apache-2.0 */
/* lib/cron sale windows: the HPA floor, next sale and exact boundaries over time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "macros.h"
#include "sale.h"

#define MINUTE_MS (60 * 1000)
#define HOUR_MS   (60 * MINUTE_MS)

/* UTC instant in ms. */
static int64_t utc_ms(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi)
{
        return (tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * 1000;
}

static const char *iso(int64_t ms, char buf[static 32])
{
        if (ms == SALE_NEVER)
                return "never";
        if (clock_format_rfc3339_ms(ms, buf, 32) < 0)
                snprintf(buf, 32, "%lld", (long long)ms);
        return buf;
}

struct fixture {
        struct tz_zone *zone;
        struct sale_spec sale;
};

static struct sale_spec make_sale(const char *name, const char *schedule,
                                  const struct tz_zone *zone, int64_t duration, int64_t lead,
                                  int64_t cooldown, int32_t min_replicas)
{
        struct sale_spec sale = {
                .name = name,
                .zone = zone,
                .duration_ms = duration,
                .lead_time_ms = lead,
                .cooldown_ms = cooldown,
                .node_lead_time_ms = SALE_NODE_LEAD_SAME,
                .min_replicas = min_replicas,
        };
        struct cron_error e;
        if (cron_parse(schedule, &sale.schedule, &e) < 0)
                fail_msg("%s", e.base.message);
        return sale;
}

static struct tz_zone *load(const char *name)
{
        struct tz_zone *zone = NULL;
        if (tz_zone_load(name, NULL, &zone) < 0)
                fail_msg("cannot load %s", name);
        return zone;
}

/* DESIGN.md's sale: 10:00 Seoul, 1h, lead 10m, cooldown 15m, floor 24, nodes 3 from 20m before. */
static void design_example_over_one_day(void **state)
{
        struct tz_zone *seoul = load("Asia/Seoul");
        struct sale_spec sale = make_sale("morning-flash", "0 10 * * *", seoul, HOUR_MS,
                                          10 * MINUTE_MS, 15 * MINUTE_MS, 24);
        sale.node_lead_time_ms = 20 * MINUTE_MS;
        sale.nodes = 3;
        const struct sales_floor_options floor = {.min_replicas = 2, .max_replicas = 40};
        struct sales_summary s;
        struct sale_state st;
        char b[32];

        /* 2026-11-25 10:00 KST = 01:00Z. */
        int64_t start = utc_ms(2026, 11, 25, 1, 0);
        assert_int_equal(sales_evaluate(&sale, 1, &floor, start - 21 * MINUTE_MS, &st, &s), 0);
        assert_int_equal(s.floor_replicas, 2);
        assert_null(s.floor_sale);
        assert_int_equal(s.nodes, 0);
        assert_int_equal(s.phase, SALE_PHASE_IDLE);
        assert_string_equal(iso(s.next_boundary_ms, b), "2026-11-25T00:40:00.000Z");
        assert_true(s.has_next);
        assert_string_equal(s.next_sale.name, "morning-flash");
        assert_int_equal(s.next_sale.starts_at_ms, start);
        assert_int_equal(s.next_sale.prescale_at_ms, start - 10 * MINUTE_MS);
        assert_int_equal(s.next_sale.node_prescale_at_ms, start - 20 * MINUTE_MS);
        assert_int_equal(s.next_sale.ends_at_ms, start + HOUR_MS);
        assert_int_equal(s.next_sale.releases_at_ms, start + 75 * MINUTE_MS);

        /* Nodes first, at 09:40 exactly. */
        assert_int_equal(sales_evaluate(&sale, 1, &floor, start - 20 * MINUTE_MS, &st, &s), 0);
        assert_int_equal(s.nodes, 3);
        assert_string_equal(s.nodes_sale, "morning-flash");
        assert_int_equal(s.floor_replicas, 2);
        assert_int_equal(s.phase, SALE_PHASE_NODES_PRESCALING);
        assert_string_equal(iso(s.next_boundary_ms, b), "2026-11-25T00:50:00.000Z");

        /* One millisecond before 09:50 the floor is still the baseline. */
        assert_int_equal(sales_evaluate(&sale, 1, &floor, start - 10 * MINUTE_MS - 1, &st, &s), 0);
        assert_int_equal(s.floor_replicas, 2);
        assert_int_equal(sales_evaluate(&sale, 1, &floor, start - 10 * MINUTE_MS, &st, &s), 0);
        assert_int_equal(s.floor_replicas, 24);
        assert_string_equal(s.floor_sale, "morning-flash");
        assert_int_equal(s.phase, SALE_PHASE_PRESCALING);
        assert_true(st.pods_open);
        /* Next boundary: the windows close at 11:15 (the next day's open is later). */
        assert_string_equal(iso(s.next_boundary_ms, b), "2026-11-25T02:15:00.000Z");

        assert_int_equal(sales_evaluate(&sale, 1, &floor, start + 30 * MINUTE_MS, &st, &s), 0);
        assert_int_equal(s.phase, SALE_PHASE_ON_SALE);
        assert_int_equal(s.floor_replicas, 24);
        /* During the sale, the next sale is tomorrow's. */
        assert_string_equal(iso(s.next_sale.starts_at_ms, b), "2026-11-26T01:00:00.000Z");

        assert_int_equal(sales_evaluate(&sale, 1, &floor, start + 70 * MINUTE_MS, &st, &s), 0);
        assert_int_equal(s.phase, SALE_PHASE_COOLDOWN);
        assert_int_equal(s.floor_replicas, 24);

        assert_int_equal(sales_evaluate(&sale, 1, &floor, start + 75 * MINUTE_MS, &st, &s), 0);
        assert_int_equal(s.phase, SALE_PHASE_IDLE);
        assert_int_equal(s.floor_replicas, 2);
        assert_int_equal(s.nodes, 0);
        assert_string_equal(iso(s.next_boundary_ms, b), "2026-11-26T00:40:00.000Z");
        assert_string_equal(sale_phase_to_string(SALE_PHASE_ON_SALE), "OnSale");
        tz_zone_free(seoul);
}

/* Walk boundary to boundary from `from` to `to`; record (instant, floor) at each change. */
static size_t walk(const struct sale_spec *sales, size_t n, const struct sales_floor_options *floor,
                   int64_t from, int64_t to, char out[][48], size_t max)
{
        size_t count = 0;
        int32_t last = -1;
        char b[32];
        for (int64_t now = from; now < to && count < max;) {
                struct sales_summary s;
                assert_int_equal(sales_evaluate(sales, n, floor, now, NULL, &s), 0);
                if (s.floor_replicas != last) {
                        snprintf(out[count++], 48, "%s=%d", iso(now, b), s.floor_replicas);
                        last = s.floor_replicas;
                }
                /* Between boundaries nothing changes: probe the instant before the next one. */
                if (s.next_boundary_ms != SALE_NEVER && s.next_boundary_ms - 1 > now) {
                        struct sales_summary before;
                        assert_int_equal(sales_evaluate(sales, n, floor, s.next_boundary_ms - 1,
                                                        NULL, &before),
                                         0);
                        assert_int_equal(before.floor_replicas, s.floor_replicas);
                }
                assert_true(s.next_boundary_ms > now);
                now = s.next_boundary_ms;
        }
        return count;
}

static void overlapping_sales_take_the_highest_floor(void **state)
{
        struct tz_zone *berlin = load("Europe/Berlin");
        struct sale_spec sales[] = {
                /* 09:00-11:00 local (+5m cooldown), floor 10, no lead. */
                make_sale("long", "0 9 * * *", berlin, 2 * HOUR_MS, 0, 5 * MINUTE_MS, 10),
                /* 10:00-10:30, lead 15m, floor 20. */
                make_sale("spike", "0 10 * * *", berlin, 30 * MINUTE_MS, 15 * MINUTE_MS, 0, 20),
        };
        const struct sales_floor_options floor = {.min_replicas = 2, .max_replicas = 15};
        char got[16][48];
        /* 2026-11-25 in Berlin is CET (+1). Max 15 clamps the spike's 20. */
        size_t n = walk(sales, 2, &floor, utc_ms(2026, 11, 25, 0, 0), utc_ms(2026, 11, 26, 0, 0),
                        got, 16);
        assert_int_equal(n, 5);
        assert_string_equal(got[0], "2026-11-25T00:00:00.000Z=2");
        assert_string_equal(got[1], "2026-11-25T08:00:00.000Z=10");
        assert_string_equal(got[2], "2026-11-25T08:45:00.000Z=15");
        assert_string_equal(got[4], "2026-11-25T10:05:00.000Z=2");
        /* Unclamped: 20 from 09:45 to 10:30, then back to 10 until 11:05. */
        const struct sales_floor_options wide = {.min_replicas = 2, .max_replicas = 40};
        n = walk(sales, 2, &wide, utc_ms(2026, 11, 25, 0, 0), utc_ms(2026, 11, 26, 0, 0), got, 16);
        assert_int_equal(n, 5);
        assert_string_equal(got[2], "2026-11-25T08:45:00.000Z=20");
        assert_string_equal(got[3], "2026-11-25T09:30:00.000Z=10");
        assert_string_equal(got[4], "2026-11-25T10:05:00.000Z=2");
        struct sales_summary s;
        struct sale_state states[2];
        assert_int_equal(sales_evaluate(sales, 2, &wide, utc_ms(2026, 11, 25, 9, 0), states, &s),
                         0);
        assert_string_equal(s.floor_sale, "spike");
        assert_true(states[0].pods_open && states[1].pods_open);
        tz_zone_free(berlin);
}

static void windows_span_midnight_and_days(void **state)
{
        struct tz_zone *seoul = load("Asia/Seoul");
        /* 23:30 for 2h with 30m cooldown: open 23:20 .. 02:00 next day. */
        struct sale_spec late = make_sale("late", "30 23 * * *", seoul, 2 * HOUR_MS, 10 * MINUTE_MS,
                                          30 * MINUTE_MS, 8);
        const struct sales_floor_options floor = {.min_replicas = 1, .max_replicas = 10};
        char got[8][48];
        /* Seoul midnight 2026-11-26 = 2026-11-25T15:00Z. */
        size_t n = walk(&late, 1, &floor, utc_ms(2026, 11, 25, 12, 0), utc_ms(2026, 11, 26, 12, 0),
                        got, 8);
        assert_int_equal(n, 3);
        assert_string_equal(got[1], "2026-11-25T14:20:00.000Z=8");
        assert_string_equal(got[2], "2026-11-25T17:00:00.000Z=1");

        /* A weekly sale lasting 3 days (Friday 18:00 -> Monday 18:00). */
        struct sale_spec weekend =
                make_sale("weekend", "0 18 * * FRI", seoul, 72 * HOUR_MS, 0, 0, 5);
        struct sales_summary s;
        assert_int_equal(sales_evaluate(&weekend, 1, &floor, utc_ms(2026, 11, 29, 3, 0), NULL, &s),
                         0);
        assert_int_equal(s.floor_replicas, 5);
        assert_int_equal(s.phase, SALE_PHASE_ON_SALE);
        char b[32];
        assert_string_equal(iso(s.next_boundary_ms, b), "2026-11-30T09:00:00.000Z");
        tz_zone_free(seoul);
}

static void a_sale_overlapping_itself(void **state)
{
        struct tz_zone *utc = load("UTC");
        /* Every 30 minutes for an hour: always open; boundaries every 30 minutes. */
        struct sale_spec sale = make_sale("rolling", "*/30 * * * *", utc, HOUR_MS, 0, 0, 6);
        const struct sales_floor_options floor = {.min_replicas = 2, .max_replicas = 10};
        struct sales_summary s;
        int64_t now = utc_ms(2026, 11, 25, 12, 10);
        assert_int_equal(sales_evaluate(&sale, 1, &floor, now, NULL, &s), 0);
        assert_int_equal(s.floor_replicas, 6);
        assert_int_equal(s.next_boundary_ms, utc_ms(2026, 11, 25, 12, 30));
        tz_zone_free(utc);
}

static void sale_in_a_dst_gap_starts_when_the_gap_ends(void **state)
{
        struct tz_zone *ny = load("America/New_York");
        struct sale_spec sale = make_sale("night", "30 2 * * *", ny, HOUR_MS, 10 * MINUTE_MS, 0, 9);
        const struct sales_floor_options floor = {.min_replicas = 2, .max_replicas = 10};
        struct sales_summary s;
        /* 2026-03-08: 02:30 does not exist, the sale starts at 03:00 EDT = 07:00Z. */
        assert_int_equal(sales_evaluate(&sale, 1, &floor, utc_ms(2026, 3, 8, 6, 0), NULL, &s), 0);
        assert_int_equal(s.next_sale.starts_at_ms, utc_ms(2026, 3, 8, 7, 0));
        assert_int_equal(s.next_boundary_ms, utc_ms(2026, 3, 8, 6, 50));
        assert_int_equal(sales_evaluate(&sale, 1, &floor, utc_ms(2026, 3, 8, 6, 50), NULL, &s), 0);
        assert_int_equal(s.floor_replicas, 9);
        assert_int_equal(s.next_boundary_ms, utc_ms(2026, 3, 8, 8, 0));
        tz_zone_free(ny);
}

static void bad_specs_are_refused(void **state)
{
        struct tz_zone *utc = load("UTC");
        const struct sales_floor_options floor = {.min_replicas = 2, .max_replicas = 10};
        struct sales_summary s = {.floor_replicas = 77};
        struct sale_spec sale = make_sale("x", "0 10 * * *", utc, 0, 0, 0, 3);
        assert_int_equal(sales_evaluate(&sale, 1, &floor, 0, NULL, &s), -EINVAL); /* duration 0 */
        sale.duration_ms = HOUR_MS;
        sale.cooldown_ms = -1;
        assert_int_equal(sales_evaluate(&sale, 1, &floor, 0, NULL, &s), -EINVAL);
        sale.cooldown_ms = SALE_SPAN_MAX_MS + 1;
        assert_int_equal(sales_evaluate(&sale, 1, &floor, 0, NULL, &s), -EINVAL);
        sale.cooldown_ms = 0;
        sale.zone = NULL;
        assert_int_equal(sales_evaluate(&sale, 1, &floor, 0, NULL, &s), -EINVAL);
        assert_int_equal(s.floor_replicas, 77);
        /* No sales: the baseline, no boundary. */
        assert_int_equal(sales_evaluate(NULL, 0, &floor, 0, NULL, &s), 0);
        assert_int_equal(s.floor_replicas, 2);
        assert_false(s.has_next);
        assert_int_equal(s.next_boundary_ms, SALE_NEVER);
        tz_zone_free(utc);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x9e3779b97f4a7c15ull;
}

/* Open iff some fire s has s - lead <= now < s + tail: enumerate fires one by one. */
static bool open_by_enumeration(const struct sale_spec *sale, int64_t lead, int64_t now)
{
        int64_t tail = sale->duration_ms + sale->cooldown_ms;
        int64_t s = tz_floor_div(now - tail, 1000);
        for (int i = 0; i < 100000; i++) {
                if (cron_next(&sale->schedule, sale->zone, s, &s) < 0)
                        return false;
                if (s * 1000 - lead > now)
                        return false;
                if (s * 1000 + tail > now)
                        return true;
        }
        fail_msg("enumeration did not end");
        return false;
}

/*
 * Random sales (fixed seed) in DST zones: open/closed agrees with enumerating
 * fire times, and nothing changes strictly between now and the next boundary.
 */
static void property_windows_agree_with_enumeration(void **state)
{
        static const char *const schedules[] = {"0 10 * * *",    "*/20 * * * *",  "30 2 * * *",
                                                "0 10 * * 1-5",  "45 1 * * SUN",  "0 0 1 * *",
                                                "15 23 * * 5,6", "0 9-17/4 * * *"};
        static const char *const zones[] = {"America/New_York", "Europe/Berlin",
                                            "Australia/Lord_Howe", "Asia/Seoul"};
        struct tz_zone *loaded[ARRAY_SIZE(zones)];
        for (size_t i = 0; i < ARRAY_SIZE(zones); i++)
                loaded[i] = load(zones[i]);
        const struct sales_floor_options floor = {.min_replicas = 1, .max_replicas = 1000};

        for (int i = 0; i < 1500; i++) {
                struct sale_spec sale = make_sale(
                        "p", schedules[rng() % ARRAY_SIZE(schedules)],
                        loaded[rng() % ARRAY_SIZE(zones)], (int64_t)(1 + rng() % (50 * 60)) * 1000,
                        (int64_t)(rng() % (3 * 3600)) * 1000, (int64_t)(rng() % 3600) * 1000, 7);
                sale.node_lead_time_ms = (int64_t)(rng() % (4 * 3600)) * 1000;
                sale.nodes = 2;
                /* 2025..2027 with millisecond offsets; DST nights included by chance. */
                int64_t now = utc_ms(2025, 1, 1, 0, 0) + (int64_t)(rng() % (3ull * 365 * 86400000));
                struct sale_state st;
                assert_int_equal(sale_state_at(&sale, now, &st), 0);
                assert_int_equal(st.pods_open, open_by_enumeration(&sale, sale.lead_time_ms, now));
                assert_int_equal(st.nodes_open,
                                 open_by_enumeration(&sale, sale.node_lead_time_ms, now));
                assert_true(st.next_boundary_ms > now);
                assert_true(st.has_next && st.next.starts_at_ms > now);

                struct sales_summary here;
                assert_int_equal(sales_evaluate(&sale, 1, &floor, now, NULL, &here), 0);
                assert_int_equal(here.floor_replicas, st.pods_open ? 7 : 1);
                for (int probe = 0; probe < 3 && st.next_boundary_ms - now > 1; probe++) {
                        int64_t at = now + 1 +
                                     (int64_t)(rng() % (uint64_t)(st.next_boundary_ms - now - 1));
                        struct sale_state later;
                        assert_int_equal(sale_state_at(&sale, at, &later), 0);
                        assert_int_equal(later.pods_open, st.pods_open);
                        assert_int_equal(later.nodes_open, st.nodes_open);
                        assert_int_equal(later.next_boundary_ms, st.next_boundary_ms);
                }
        }
        for (size_t i = 0; i < ARRAY_SIZE(zones); i++)
                tz_zone_free(loaded[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(design_example_over_one_day),
                cmocka_unit_test(overlapping_sales_take_the_highest_floor),
                cmocka_unit_test(windows_span_midnight_and_days),
                cmocka_unit_test(a_sale_overlapping_itself),
                cmocka_unit_test(sale_in_a_dst_gap_starts_when_the_gap_ends),
                cmocka_unit_test(bad_specs_are_refused),
                cmocka_unit_test(property_windows_agree_with_enumeration),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
