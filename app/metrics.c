/* SPDX-License-Identifier: Apache-2.0 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "macros.h"
#include "prometheus.h"

/* Upper bounds in microseconds; le labels are printed in seconds. */
static const int64_t bucket_bounds_us[] = {
        250,    500,    1000,   2500,    5000,    10000,   25000,    50000,
        100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
#define N_BUCKETS ARRAY_SIZE(bucket_bounds_us)
#define N_CODES   600

struct route_metrics {
        atomic_uint_fast64_t by_code[N_CODES];
        atomic_uint_fast64_t buckets[N_BUCKETS]; /* not cumulative; summed when rendered */
        atomic_uint_fast64_t count;
        atomic_uint_fast64_t sum_us;
};

struct metrics {
        const char *route_names[METRICS_MAX_ROUTES + 1];
        size_t n_routes; /* plus one "unmatched" slot at index n_routes */
        struct route_metrics routes[METRICS_MAX_ROUTES + 1];
        atomic_uint_fast64_t claims[_CLAIM_METRIC_COUNT];
        atomic_int websocket_clients;
};

static const char *const claim_names[] = {
#define X(name, text) [name] = text,
        CLAIM_METRIC_OUTCOMES(X)
#undef X
};

const char *claim_metric_to_string(enum claim_metric outcome)
{
        if ((unsigned)outcome >= _CLAIM_METRIC_COUNT)
                return "unknown";
        return claim_names[outcome];
}

int metrics_new(const char *const *route_names, size_t n_routes, struct metrics **ret_metrics)
{
        if (n_routes > METRICS_MAX_ROUTES)
                return -EINVAL;
        struct metrics *metrics = calloc(1, sizeof(*metrics));
        if (!metrics)
                return -ENOMEM;
        for (size_t i = 0; i < n_routes; i++)
                metrics->route_names[i] = route_names[i];
        metrics->route_names[n_routes] = "unmatched";
        metrics->n_routes = n_routes;
        *ret_metrics = metrics;
        return 0;
}

void metrics_free(struct metrics *metrics)
{
        free(metrics);
}

void metrics_observe_request(struct metrics *metrics, size_t route, int code, int64_t duration_us)
{
        if (!metrics)
                return;
        if (route > metrics->n_routes)
                route = metrics->n_routes;
        if (code < 100 || code >= N_CODES)
                code = 0;
        if (duration_us < 0)
                duration_us = 0;
        struct route_metrics *m = &metrics->routes[route];
        atomic_fetch_add_explicit(&m->by_code[code], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->sum_us, (uint_fast64_t)duration_us, memory_order_relaxed);
        for (size_t i = 0; i < N_BUCKETS; i++)
                if (duration_us <= bucket_bounds_us[i]) {
                        atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
                        break;
                }
}

void metrics_count_claim(struct metrics *metrics, enum claim_metric outcome)
{
        if (metrics && (unsigned)outcome < _CLAIM_METRIC_COUNT)
                atomic_fetch_add_explicit(&metrics->claims[outcome], 1, memory_order_relaxed);
}

void metrics_websocket_clients_add(struct metrics *metrics, int delta)
{
        if (metrics)
                atomic_fetch_add_explicit(&metrics->websocket_clients, delta, memory_order_relaxed);
}

int metrics_render(struct metrics *metrics, const struct deal_stock_sample *stock, size_t n_stock,
                   bool ready, char **ret_text, size_t *ret_length)
{
        char *text = NULL;
        size_t length = 0;
        FILE *out = open_memstream(&text, &length);
        if (!out)
                return -ENOMEM;

        fputs("# HELP tripdeal_http_requests_total HTTP requests by route pattern and status "
              "code.\n# TYPE tripdeal_http_requests_total counter\n",
              out);
        for (size_t r = 0; r <= metrics->n_routes; r++)
                for (int code = 0; code < N_CODES; code++) {
                        uint_fast64_t n = atomic_load_explicit(&metrics->routes[r].by_code[code],
                                                               memory_order_relaxed);
                        if (n == 0)
                                continue;
                        fputs("tripdeal_http_requests_total{route=\"", out);
                        prometheus_write_label_value(out, metrics->route_names[r]);
                        fprintf(out, "\",code=\"%d\"} %" PRIuFAST64 "\n", code, n);
                }

        fputs("# HELP tripdeal_http_request_duration_seconds Time from request to response "
              "written, by route pattern.\n"
              "# TYPE tripdeal_http_request_duration_seconds histogram\n",
              out);
        for (size_t r = 0; r <= metrics->n_routes; r++) {
                struct route_metrics *m = &metrics->routes[r];
                uint_fast64_t count = atomic_load_explicit(&m->count, memory_order_relaxed);
                if (count == 0 && r == metrics->n_routes)
                        continue;
                uint_fast64_t cumulative = 0;
                for (size_t b = 0; b < N_BUCKETS; b++) {
                        cumulative += atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
                        fputs("tripdeal_http_request_duration_seconds_bucket{route=\"", out);
                        prometheus_write_label_value(out, metrics->route_names[r]);
                        fprintf(out, "\",le=\"%g\"} %" PRIuFAST64 "\n",
                                (double)bucket_bounds_us[b] / 1e6, cumulative);
                }
                /* Counters move while we read; +Inf must never be below a bucket. */
                if (count < cumulative)
                        count = cumulative;
                fputs("tripdeal_http_request_duration_seconds_bucket{route=\"", out);
                prometheus_write_label_value(out, metrics->route_names[r]);
                fprintf(out, "\",le=\"+Inf\"} %" PRIuFAST64 "\n", count);
                fputs("tripdeal_http_request_duration_seconds_sum{route=\"", out);
                prometheus_write_label_value(out, metrics->route_names[r]);
                fprintf(out, "\"} %.6f\n",
                        (double)atomic_load_explicit(&m->sum_us, memory_order_relaxed) / 1e6);
                fputs("tripdeal_http_request_duration_seconds_count{route=\"", out);
                prometheus_write_label_value(out, metrics->route_names[r]);
                fprintf(out, "\"} %" PRIuFAST64 "\n", count);
        }

        fputs("# HELP tripdeal_claims_total Deal claims by outcome.\n"
              "# TYPE tripdeal_claims_total counter\n",
              out);
        for (size_t i = 0; i < _CLAIM_METRIC_COUNT; i++)
                fprintf(out, "tripdeal_claims_total{outcome=\"%s\"} %" PRIuFAST64 "\n",
                        claim_names[i],
                        atomic_load_explicit(&metrics->claims[i], memory_order_relaxed));

        fputs("# HELP tripdeal_deal_stock_left Remaining stock per deal, as last read from the "
              "database.\n# TYPE tripdeal_deal_stock_left gauge\n",
              out);
        for (size_t i = 0; i < n_stock; i++)
                fprintf(out, "tripdeal_deal_stock_left{deal=\"%" PRId64 "\"} %" PRId64 "\n",
                        stock[i].deal_id, stock[i].stock_left);

        fprintf(out,
                "# HELP tripdeal_websocket_clients Open live-stock WebSocket connections.\n"
                "# TYPE tripdeal_websocket_clients gauge\n"
                "tripdeal_websocket_clients %d\n"
                "# HELP tripdeal_ready 1 when this process reports ready on /readyz.\n"
                "# TYPE tripdeal_ready gauge\n"
                "tripdeal_ready %d\n",
                atomic_load_explicit(&metrics->websocket_clients, memory_order_relaxed),
                ready ? 1 : 0);

        struct prometheus_process_sample process;
        if (prometheus_process_sample_read(&process) >= 0)
                prometheus_write_process_metrics(out, &process);

        if (fclose(out) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret_text = text;
        if (ret_length)
                *ret_length = length;
        return 0;
}
