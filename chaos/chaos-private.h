/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the chaos engine's source files and its tests: the
 * steady-state HTTP probe, the Prometheus query and the report builder.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chaos.h"

/* Endpoints are not among lib/kube's descriptors. */
extern const struct kube_resource CHAOS_ENDPOINTS;

struct chaos_probe_sample {
        int64_t at_ms;  /* realtime, when the request was sent */
        int32_t status; /* HTTP status; 0: no answer */
        bool ok;
        int32_t latency_ms;
        char endpoint[64];
        char error[96];
};

struct chaos_probe_options {
        struct kube_client *kube;
        const char *namespace;
        const char *service; /* or url */
        int32_t port;
        const char *url;
        const char *path;
        int32_t expect_status;
        int64_t timeout_ms;
        int64_t interval_ms;
};

struct chaos_probe;
/* Starts a thread sending one request per interval until chaos_probe_stop(). */
int chaos_probe_start(const struct chaos_probe_options *options, struct chaos_probe **ret_probe);
void chaos_probe_stop(struct chaos_probe *probe);
void chaos_probe_free(struct chaos_probe *probe); /* stops first; accepts NULL */
/* Requests sent at or after from_ms and before to_ms, and how many failed. */
void chaos_probe_counts(struct chaos_probe *probe, int64_t from_ms, int64_t to_ms,
                        int64_t *ret_sent, int64_t *ret_failed);
/* The newest sample sent at or after after_ms succeeded (false when none). */
bool chaos_probe_last_ok(struct chaos_probe *probe, int64_t after_ms);
/* Wait (bounded by deadline_ms, monotonic) until n samples exist after from_ms. */
void chaos_probe_wait_samples(struct chaos_probe *probe, int64_t from_ms, int64_t n,
                              int64_t deadline_ms, atomic_bool *stop);
/* A copy of every sample so far.  *ret_samples owned by the caller. */
int chaos_probe_snapshot(struct chaos_probe *probe, struct chaos_probe_sample **ret_samples,
                         size_t *ret_count);

/* Prometheus instant query: the first sample's value.  -ENODATA on an empty
 * result, -EIO when Prometheus does not answer 200; ret_error says which. */
int chaos_prometheus_query(const char *base_url, const char *query, double *ret_value,
                           struct tripdeal_error *ret_error);
