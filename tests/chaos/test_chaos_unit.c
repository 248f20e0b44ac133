/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the chaos engine's pure parts: experiment parsing (defaults,
 * every error naming its field), the YAML reader's scalar typing, the sale
 * blackout at instants around a window, and the report page's escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "chaos.h"
#include "macros.h"
#include "yaml-json.h"

#define HEADER                                     \
        "apiVersion: chaos.tripdeal.io/v1alpha1\n" \
        "kind: Experiment\n"                       \
        "metadata: {name: t}\n"

static struct chaos_experiment *parse_ok(const char *yaml)
{
        struct chaos_experiment *e = NULL;
        struct tripdeal_error error = {0};
        int r = chaos_experiment_parse_yaml(yaml, strlen(yaml), &e, &error);
        if (r < 0)
                fail_msg("parse failed: %s", tripdeal_error_message(&error));
        assert_int_equal(error.code, 0); /* filled on failure only */
        return e;
}

static void expect_error(const char *yaml, const char *field)
{
        struct chaos_experiment *e = NULL;
        struct tripdeal_error error = {0};
        assert_int_equal(chaos_experiment_parse_yaml(yaml, strlen(yaml), &e, &error), -EINVAL);
        assert_null(e);
        assert_int_equal(error.code, -EINVAL);
        if (!strstr(error.message, field))
                fail_msg("error \"%s\" does not name %s", error.message, field);
}

static void test_defaults(void **state)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e =
                parse_ok(HEADER "spec:\n"
                                "  target: {selector: {matchLabels: {app: hello, tier: web}}}\n"
                                "  action: pod-kill\n"
                                "  count: 1\n"
                                "  steadyState: {http: {service: hello, port: 8080}}\n");
        assert_string_equal(e->namespace, "default");
        assert_string_equal(e->selector, "app=hello,tier=web");
        assert_int_equal(e->action, CHAOS_ACTION_POD_KILL);
        assert_int_equal(e->count, 1);
        assert_int_equal(e->percent, 0);
        assert_int_equal(e->grace_period_seconds, 0);
        assert_int_equal(e->max_target_percent, 50);
        assert_int_equal(e->max_recovery_ms, 30000);
        assert_true(e->restore);
        assert_string_equal(e->http.path, "/");
        assert_int_equal(e->http.expect_status, 200);
        assert_int_equal(e->http.timeout_ms, 1000);
        assert_int_equal(e->http.interval_ms, 100);
}

static void test_tripdeal_target(void **state)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e =
                parse_ok(HEADER "spec:\n"
                                "  target: {namespace: shop, tripDeal: shop}\n"
                                "  action: node-kill\n"
                                "  percent: 34\n"
                                "  blackout: [sales]\n"
                                "  steadyState:\n"
                                "    prometheus: {query: 'sum(up)', max: 0.5}\n"
                                "    maxRecoverySeconds: 90\n");
        assert_string_equal(e->tripdeal, "shop");
        assert_null(e->selector);
        assert_int_equal(e->action, CHAOS_ACTION_NODE_KILL);
        assert_int_equal(e->percent, 34);
        assert_true(e->blackout_sales);
        assert_true(e->has_prometheus);
        assert_null(e->prometheus.url);
        assert_true(e->prometheus.max == 0.5);
        assert_int_equal(e->max_recovery_ms, 90000);
        assert_false(e->has_http);
}

static void test_errors_name_the_field(void **state)
{
        const char *target = "  target: {selector: {matchLabels: {app: a}}}\n";
        const char *http = "  steadyState: {http: {service: a, port: 80}}\n";
        char buf[1024];
        struct {
                const char *spec;
                const char *field;
        } cases[] = {
                {"  action: pod-kill\n  count: 1\n  percent: 5\n",
                 "exactly one of count and percent"},
                {"  action: pod-kill\n", "exactly one of count and percent"},
                {"  action: disk-fill\n  count: 1\n", "spec.action"},
                {"  action: pod-kill\n  count: 0\n", "spec.count"},
                {"  action: pod-kill\n  percent: 101\n", "spec.percent"},
                {"  action: pod-kill\n  count: 1\n  maxTargetPercent: 0\n",
                 "spec.maxTargetPercent"},
                {"  action: pod-kill\n  count: 1\n  gracePeriodSeconds: soon\n",
                 "spec.gracePeriodSeconds"},
                {"  action: pod-kill\n  count: 1\n  blackout: [weekends]\n", "spec.blackout"},
                {"  action: pod-kill\n  count: 1\n  surprise: 1\n", "unknown field \"surprise\""},
                {"  action: pod-kill\n  count: 1\n  restore: \"yes\"\n", "spec.restore"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                snprintf(buf, sizeof(buf), HEADER "spec:\n%s%s%s", target, http, cases[i].spec);
                expect_error(buf, cases[i].field);
        }
        expect_error(HEADER "spec:\n  target: {selector: {matchLabels: {app: a}}}\n"
                            "  action: pod-kill\n  count: 1\n"
                            "  steadyState: {http: {service: a, port: 70000}}\n",
                     "spec.steadyState.http.port");
        expect_error(HEADER "spec:\n  target: {selector: {matchLabels: {app: a}}}\n"
                            "  action: pod-kill\n  count: 1\n"
                            "  steadyState: {http: {service: a, port: 80, interval: fast}}\n",
                     "spec.steadyState.http.interval");
        expect_error(HEADER "spec:\n  target: {selector: {matchLabels: {app: a}}}\n"
                            "  action: pod-kill\n  count: 1\n"
                            "  steadyState: {http: {url: ftp://x}}\n",
                     "spec.steadyState.http.url");
        expect_error(HEADER "spec:\n  target: {selector: {matchLabels: {app: a}}}\n"
                            "  action: pod-kill\n  count: 1\n",
                     "spec.steadyState.http");
        expect_error(HEADER "spec:\n  target: {selector: {matchLabels: {}}}\n"
                            "  action: pod-kill\n  count: 1\n",
                     "spec.target.selector.matchLabels");
        expect_error(HEADER "spec:\n  target: {tripDeal: a, selector: {matchLabels: {a: b}}}\n"
                            "  action: pod-kill\n  count: 1\n",
                     "spec.target");
        expect_error(HEADER "spec:\n  target: {selector: {matchLabels: {app: a}}}\n"
                            "  action: pod-kill\n  count: 1\n  blackout: [sales]\n",
                     "spec.salesOf");
        expect_error("apiVersion: v1\nkind: Experiment\nmetadata: {name: t}\nspec: {}\n",
                     "apiVersion");
        expect_error("apiVersion: chaos.tripdeal.io/v1alpha1\nkind: Experiment\n"
                     "metadata: {name: Not_A_Label}\nspec: {}\n",
                     "metadata.name");
        expect_error("spec: [unclosed\n", "not valid YAML");
        expect_error("", "empty");
}

/* Experiment files read as kubectl reads YAML (lib/common/yaml-json.h): the
 * same file applied as a drill in a TripDeal means the same thing. */
static void test_yaml_scalars(void **state)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e =
                parse_ok(HEADER "spec:\n"
                                "  target: {selector: {matchLabels: {app: a}}}\n"
                                "  steadyState: {http: {service: a, port: 80}}\n"
                                "  action: pod-kill\n  count: 0x2\n  restore: no\n");
        assert_int_equal(e->count, 2);
        assert_false(e->restore);
}

/* 2026-12-04 HH:MM:SS UTC in ms. */
static int64_t utc(int hour, int minute, int second)
{
        struct tm tm = {.tm_year = 126,
                        .tm_mon = 11,
                        .tm_mday = 4,
                        .tm_hour = hour,
                        .tm_min = minute,
                        .tm_sec = second};
        return (int64_t)timegm(&tm) * 1000;
}

static void test_blackout(void **state)
{
        /* 10:00 KST (01:00 UTC), 1h, prescale 10m before, cooldown 15m:
         * the window is 00:50 to 02:15 UTC. */
        const char *text = "- name: morning-flash\n"
                           "  schedule: '0 10 * * *'\n"
                           "  timeZone: Asia/Seoul\n"
                           "  duration: 1h\n"
                           "  cooldown: 15m\n"
                           "  prescale: {leadTime: 10m, minReplicas: 24}\n";
        _cleanup_json_ json_t *sales = NULL;
        assert_int_equal(yaml_json_load(text, strlen(text), YAML_SCALARS_KUBECTL, NULL, 0, &sales),
                         0);
        struct {
                int64_t at;
                int64_t recovery_ms;
                bool blocked;
        } cases[] = {
                {utc(0, 55, 0), 60000, true},  /* prescaling */
                {utc(1, 30, 0), 60000, true},  /* on sale */
                {utc(2, 10, 0), 60000, true},  /* cooldown */
                {utc(2, 16, 0), 60000, false}, /* after */
                {utc(0, 49, 30), 60000, true}, /* recovery would reach the prescale */
                {utc(0, 48, 0), 60000, false}, /* enough room */
                {utc(0, 48, 0), 180000, true}, /* not with 3 minutes to recover */
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct chaos_blackout blackout = {.blocked = !cases[i].blocked};
                assert_int_equal(chaos_blackout_check(sales, cases[i].at, cases[i].recovery_ms,
                                                      &blackout, NULL),
                                 0);
                if (blackout.blocked != cases[i].blocked)
                        fail_msg("case %zu: blocked=%d, want %d (%s)", i, blackout.blocked,
                                 cases[i].blocked, blackout.reason);
                if (blackout.blocked)
                        assert_non_null(strstr(blackout.reason, "morning-flash"));
                else
                        assert_string_equal(blackout.reason, "");
        }
        struct chaos_blackout untouched = {.blocked = true, .reason = "before"};
        struct tripdeal_error error = {0};
        _cleanup_json_ json_t *bad = json_pack("[{s:s, s:s, s:s}]", "name", "x", "schedule",
                                               "0 10 * * *", "timeZone", "Mars/Base");
        assert_int_equal(chaos_blackout_check(bad, utc(0, 0, 0), 1000, &untouched, &error),
                         -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        assert_non_null(strstr(error.message, "spec.sales[0].timeZone"));
        assert_string_equal(untouched.reason, "before"); /* outputs untouched on failure */
}

static void test_report_html_escapes(void **state)
{
        _cleanup_json_ json_t *report = json_pack(
                "{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:s, s:s}], s:[], s:[], s:[]}", "name",
                "x", "verdict", "Failed", "reason", "<script>alert(1)</script>", "action",
                "pod-kill", "target", "namespace", "default", "selector", "app=\"a\"", "timeline",
                "at", "2026-12-04T00:00:00.000Z", "source", "probe", "message", "a & b", "targets",
                "replacements", "probeSeries");
        _cleanup_free_ char *html = NULL;
        assert_int_equal(chaos_report_html(report, &html), 0);
        assert_null(strstr(html, "<script>"));
        assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_non_null(strstr(html, "a &amp; b"));
        assert_non_null(strstr(html, "app=&quot;a&quot;"));
}

static void test_verdict_exit_codes(void **state)
{
        assert_int_equal(chaos_verdict_exit_code(CHAOS_VERDICT_PASSED), 0);
        assert_int_equal(chaos_verdict_exit_code(CHAOS_VERDICT_FAILED), 1);
        assert_int_equal(chaos_verdict_exit_code(CHAOS_VERDICT_ABORTED), 3);
        assert_int_equal(chaos_verdict_exit_code(CHAOS_VERDICT_REFUSED), 4);
        assert_int_equal(chaos_verdict_exit_code(CHAOS_VERDICT_DRY_RUN), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_tripdeal_target),
                cmocka_unit_test(test_errors_name_the_field),
                cmocka_unit_test(test_yaml_scalars),
                cmocka_unit_test(test_blackout),
                cmocka_unit_test(test_report_html_escapes),
                cmocka_unit_test(test_verdict_exit_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
