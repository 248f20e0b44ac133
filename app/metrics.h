/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus metrics of tripdeal-app, kept in lock-free atomic counters so
 * that every worker thread records without contention on a lock:
 *
 *   tripdeal_http_requests_total{route,code}           counter
 *   tripdeal_http_request_duration_seconds{route}      histogram
 *   tripdeal_claims_total{outcome}                     counter
 *   tripdeal_deal_stock_left{deal}                     gauge
 *   tripdeal_websocket_clients                         gauge
 *   tripdeal_ready                                     gauge (1 ready, 0 not)
 *
 * `route` is always a route pattern from the route table ("/deals/{id}") or
 * "unmatched", never a raw path, so the label set stays small.
 *
 * Ownership: metrics_new() returns an object freed with metrics_free().
 * Route names are borrowed and must outlive it (string literals).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_ROUTES 32

#define CLAIM_METRIC_OUTCOMES(X)                     \
        X(CLAIM_METRIC_CLAIMED, "claimed")           \
        X(CLAIM_METRIC_SOLD_OUT, "sold_out")         \
        X(CLAIM_METRIC_ALREADY, "already_claimed")   \
        X(CLAIM_METRIC_NOT_OPEN, "not_open")         \
        X(CLAIM_METRIC_NO_SUCH_DEAL, "no_such_deal") \
        X(CLAIM_METRIC_FORBIDDEN, "forbidden")       \
        X(CLAIM_METRIC_ERROR, "error")

enum claim_metric {
#define X(name, text) name,
        CLAIM_METRIC_OUTCOMES(X)
#undef X
                _CLAIM_METRIC_COUNT,
};

const char *claim_metric_to_string(enum claim_metric outcome);

struct metrics;

struct deal_stock_sample {
        int64_t deal_id;
        int64_t stock_left;
};

/* route_names[0..n_routes) label the route indices used below. -EINVAL if n_routes too big. */
int metrics_new(const char *const *route_names, size_t n_routes, struct metrics **ret_metrics);
void metrics_free(struct metrics *metrics);

/* Any route index >= n_routes counts as "unmatched"; codes outside 100..599 as 0. */
void metrics_observe_request(struct metrics *metrics, size_t route, int code, int64_t duration_us);
void metrics_count_claim(struct metrics *metrics, enum claim_metric outcome);
void metrics_websocket_clients_add(struct metrics *metrics, int delta);

/* The whole exposition text, newly allocated (free()). */
int metrics_render(struct metrics *metrics, const struct deal_stock_sample *stock, size_t n_stock,
                   bool ready, char **ret_text, size_t *ret_length);
