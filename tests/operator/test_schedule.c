/* SPDX-License-Identifier: Apache-2.0 */
/* The HPA floor a TripDeal's sales put in force, and the field named when a
 * schedule cannot be used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "macros.h"
#include "schedule.h"

static struct tripdeal_spec *spec_from(const char *sales_json)
{
        char text[2048];
        snprintf(text, sizeof(text),
                 "{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":2,\"max\":40},"
                 "\"database\":{\"secretRef\":{\"name\":\"db\"}}},\"sales\":%s}",
                 sales_json);
        json_error_t jerr;
        _cleanup_json_ json_t *json = json_loads(text, 0, &jerr);
        assert_non_null(json);
        struct tripdeal_spec *spec = NULL;
        _cleanup_free_ char *error = NULL;
        if (tripdeal_spec_parse(json, &spec, &error) < 0)
                fail_msg("spec refused: %s", error);
        return spec;
}

static int64_t at(const char *rfc3339)
{
        time_t t;
        assert_int_equal(clock_parse_rfc3339(rfc3339, &t), 0);
        return (int64_t)t * 1000;
}

static const char *morning_flash =
        "[{\"name\":\"morning-flash\",\"schedule\":\"0 10 * * *\",\"timeZone\":\"Asia/Seoul\","
        "\"duration\":\"1h\",\"cooldown\":\"15m\",\"prescale\":{\"leadTime\":\"10m\","
        "\"minReplicas\":24,\"nodes\":3,\"nodeLeadTime\":\"20m\"}}]";

static void floor_follows_the_window(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = spec_from(morning_flash);
        struct schedule_state s;
        _cleanup_free_ char *error = NULL;

        /* 09:39:59 KST: nothing open yet; next boundary is the node window at 09:40. */
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T09:39:59+09:00"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 2);
        assert_int_equal(s.floor_reason, SCHEDULE_FLOOR_BASELINE);
        assert_int_equal(s.nodes_wanted, 0);
        assert_int_equal(s.next_boundary_ms, at("2026-11-26T09:40:00+09:00"));
        assert_true(s.has_next_sale);
        assert_string_equal(s.next_sale_name, "morning-flash");
        assert_int_equal(s.next_starts_at_ms, at("2026-11-26T10:00:00+09:00"));
        assert_int_equal(s.next_prescale_at_ms, at("2026-11-26T09:50:00+09:00"));

        /* 09:40: nodes first, pods still at baseline. */
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T09:40:00+09:00"), &s, &error), 0);
        assert_int_equal(s.nodes_wanted, 3);
        assert_int_equal(s.floor_replicas, 2);
        assert_int_equal(s.next_boundary_ms, at("2026-11-26T09:50:00+09:00"));

        /* 09:50: the floor rises. */
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T09:50:00+09:00"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 24);
        assert_true(s.prescaling);
        assert_int_equal(s.floor_reason, SCHEDULE_FLOOR_SALE);
        assert_string_equal(s.floor_sale, "morning-flash");
        char reason[160];
        schedule_floor_reason_format(&s, reason, sizeof(reason));
        assert_string_equal(reason, "sale morning-flash (Prescaling)");
        /* The phase turns OnSale at 10:00: that instant needs its own timer. */
        assert_int_equal(s.next_boundary_ms, at("2026-11-26T10:00:00+09:00"));

        /* 10:30: on sale. */
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T10:30:00+09:00"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 24);
        assert_true(s.sale_running);
        /* ... and the end at 11:00 (OnSale -> cooldown), before the release. */
        assert_int_equal(s.next_boundary_ms, at("2026-11-26T11:00:00+09:00"));

        /* 11:14:59 still in cooldown; 11:15 released. */
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T11:14:59+09:00"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 24);
        assert_int_equal(s.next_boundary_ms, at("2026-11-26T11:15:00+09:00"));
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T11:15:00+09:00"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 2);
        assert_int_equal(s.nodes_wanted, 0);
}

static void floor_is_clamped_to_max(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_from("[{\"name\":\"big\",\"schedule\":\"0 10 * * *\",\"timeZone\":\"UTC\","
                          "\"duration\":\"1h\",\"prescale\":{\"minReplicas\":400}}]");
        struct schedule_state s;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T10:00:00Z"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 40);
}

static void no_sales_means_baseline_forever(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = spec_from("[]");
        struct schedule_state s;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(schedule_evaluate(spec, at("2026-11-26T10:00:00Z"), &s, &error), 0);
        assert_int_equal(s.floor_replicas, 2);
        assert_false(s.has_next_sale);
        assert_int_equal(s.next_boundary_ms, 0);
}

static void unusable_schedules_name_the_field(void **state)
{
        static const struct {
                const char *sales;
                const char *error;
        } cases[] = {
                {"[{\"name\":\"a\",\"schedule\":\"0 10 * * *\",\"timeZone\":\"Mars/Base\","
                 "\"duration\":\"1h\",\"prescale\":{\"minReplicas\":3}}]",
                 "spec.sales[0].timeZone: unknown time zone \"Mars/Base\""},
                {"[{\"name\":\"a\",\"schedule\":\"0 10 * * *\",\"duration\":\"1h\",\"prescale\":"
                 "{\"minReplicas\":3}},{\"name\":\"b\",\"schedule\":\"0 0 30 2 *\","
                 "\"duration\":\"1h\",\"prescale\":{\"minReplicas\":3}}]",
                 "spec.sales[1].schedule: "},
                {"[{\"name\":\"a\",\"schedule\":\"61 10 * * *\",\"duration\":\"1h\",\"prescale\":"
                 "{\"minReplicas\":3}}]",
                 "spec.sales[0].schedule: "},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                        spec_from(cases[i].sales);
                struct schedule_state s = {.floor_replicas = -7};
                _cleanup_free_ char *error = NULL;
                assert_int_equal(schedule_evaluate(spec, at("2026-11-26T10:00:00Z"), &s, &error),
                                 -EINVAL);
                assert_int_equal(s.floor_replicas, -7);
                assert_non_null(error);
                if (strncmp(error, cases[i].error, strlen(cases[i].error)) != 0)
                        fail_msg("case %zu: got \"%s\"", i, error);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(floor_follows_the_window),
                cmocka_unit_test(floor_is_clamped_to_max),
                cmocka_unit_test(no_sales_means_baseline_forever),
                cmocka_unit_test(unusable_schedules_name_the_field),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
