/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's /metrics, /healthz, /readyz: served over real sockets, and
 * the metrics text accepted by promtool (argv[1], when given). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "http_endpoints.h"
#include "macros.h"
#include "metrics.h"

static const char *promtool;

/* One HTTP/1.0 GET on loopback; returns the whole response (caller frees). */
static char *http_get(const char *host, unsigned port, const char *path)
{
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct timeval timeout = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, host, &sa.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        char request[256];
        int n = snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
        assert_int_equal(write(fd, request, (size_t)n), n);

        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        char buf[4096];
        ssize_t got;
        while ((got = read(fd, buf, sizeof(buf))) > 0)
                fwrite(buf, 1, (size_t)got, out);
        fclose(out);
        return text;
}

static bool ready;

static bool ready_fn(void *userdata, char *why, unsigned why_size)
{
        if (!ready)
                snprintf(why, why_size, "informer caches not synced yet");
        return ready;
}

static void endpoints_serve_health_ready_and_metrics(void **state)
{
        metrics_reset();
        metrics_reconcile_done(RECONCILE_RESULT_SUCCESS, 1500);
        metrics_set_floor("tripdeal", "shop", 2);
        metrics_set_floor("tripdeal", "shop", 24);
        metrics_set_tripdeal("tripdeal", "shop",
                             &(struct tripdeal_gauges){.replicas = 24,
                                                       .ready_replicas = 20,
                                                       .max_replicas = 40,
                                                       .nodes_wanted = 3,
                                                       .nodes = 3,
                                                       .nodes_ready = 2,
                                                       .sale_window_open = true,
                                                       .next_sale_start_seconds = 1767229200});

        struct http_endpoints *endpoints = NULL;
        struct http_endpoints_options options = {
                .metrics_addr = "127.0.0.1:0", .health_addr = "127.0.0.2:0", .ready_fn = ready_fn};
        assert_int_equal(http_endpoints_start(&options, &endpoints), 0);
        unsigned metrics_port = http_endpoints_metrics_port(endpoints);
        unsigned health_port = http_endpoints_health_port(endpoints);
        assert_true(metrics_port > 0 && health_port > 0 && metrics_port != health_port);

        _cleanup_free_ char *healthz = http_get("127.0.0.2", health_port, "/healthz");
        assert_non_null(strstr(healthz, " 200 "));

        ready = false;
        _cleanup_free_ char *not_ready = http_get("127.0.0.2", health_port, "/readyz");
        assert_non_null(strstr(not_ready, " 503 "));
        assert_non_null(strstr(not_ready, "informer caches not synced yet"));
        ready = true;
        _cleanup_free_ char *is_ready = http_get("127.0.0.2", health_port, "/readyz");
        assert_non_null(strstr(is_ready, " 200 "));

        _cleanup_free_ char *m = http_get("127.0.0.1", metrics_port, "/metrics");
        assert_non_null(strstr(m, "tripdeal_operator_reconcile_total{result=\"success\"} 1\n"));
        assert_non_null(strstr(
                m, "tripdeal_operator_floor_replicas{namespace=\"tripdeal\",name=\"shop\"} 24\n"));
        assert_non_null(strstr(
                m,
                "tripdeal_operator_floor_changes_total{namespace=\"tripdeal\",name=\"shop\"} 1\n"));
        assert_non_null(strstr(
                m, "tripdeal_operator_reconcile_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
        /* The per-TripDeal gauges dashboards and alerts read. */
        assert_non_null(strstr(
                m,
                "tripdeal_operator_app_ready_replicas{namespace=\"tripdeal\",name=\"shop\"} 20\n"));
        assert_non_null(strstr(
                m,
                "tripdeal_operator_app_max_replicas{namespace=\"tripdeal\",name=\"shop\"} 40\n"));
        assert_non_null(strstr(
                m, "tripdeal_operator_nodes_ready{namespace=\"tripdeal\",name=\"shop\"} 2\n"));
        assert_non_null(strstr(
                m, "tripdeal_operator_sale_window_open{namespace=\"tripdeal\",name=\"shop\"} 1\n"));
        assert_non_null(strstr(m, "tripdeal_operator_next_sale_start_timestamp_seconds{namespace="
                                  "\"tripdeal\",name=\"shop\"} 1767229200\n"));

        _cleanup_free_ char *missing = http_get("127.0.0.1", metrics_port, "/nope");
        assert_non_null(strstr(missing, " 404 "));
        http_endpoints_stop(endpoints);
}

static void metrics_text_passes_promtool(void **state)
{
        if (!promtool)
                skip();
        metrics_reset();
        metrics_reconcile_done(RECONCILE_RESULT_ERROR, 200000);
        metrics_set_floor("ns", "we\"ird", 3);
        metrics_drill_done("Passed");
        char command[512];
        snprintf(command, sizeof(command), "%s check metrics", promtool);
        FILE *pipe = popen(command, "w");
        assert_non_null(pipe);
        assert_int_equal(metrics_write(pipe), 0);
        assert_int_equal(pclose(pipe), 0);
}

static void bad_addresses_are_refused(void **state)
{
        char host[64];
        unsigned port;
        assert_int_equal(http_addr_parse("127.0.0.1:8080", host, sizeof(host), &port), 0);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 8080);
        assert_int_equal(http_addr_parse("[::1]:9", host, sizeof(host), &port), 0);
        assert_string_equal(host, "::1");
        static const char *const bad[] = {"",          ":80",           "localhost:80", "1.2.3.4",
                                          "1.2.3.4:x", "1.2.3.4:70000", "[::1:80"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(http_addr_parse(bad[i], host, sizeof(host), &port), -EINVAL);
        struct http_endpoints *endpoints = NULL;
        struct http_endpoints_options options = {.metrics_addr = "nowhere"};
        assert_int_equal(http_endpoints_start(&options, &endpoints), -EINVAL);
        assert_null(endpoints);
}

int main(int argc, char **argv)
{
        promtool = argc > 1 ? argv[1] : NULL;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(endpoints_serve_health_ready_and_metrics),
                cmocka_unit_test(metrics_text_passes_promtool),
                cmocka_unit_test(bad_addresses_are_refused),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        metrics_reset();
        return r;
}
