/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's small HTTP servers (libmicrohttpd): /metrics on
 * --metrics-addr, /healthz and /readyz on --health-addr (the same server
 * when both flags name one address).
 *
 *   /healthz  200 while the process runs its loops
 *   /readyz   200 once the caches have synced (standby replicas too: a
 *             non-leader is healthy, just idle); 503 with the reason otherwise
 *   /metrics  Prometheus text (metrics.h)
 *
 * Ownership: the server copies nothing it is given except the addresses;
 * ready_fn is called from the server's thread and must be thread-safe.
 */
#pragma once

#include <stdbool.h>

struct http_endpoints;

struct http_endpoints_options {
        const char *metrics_addr; /* "HOST:PORT"; NULL or "0": no metrics server */
        const char *health_addr;  /* "HOST:PORT"; NULL or "0": no health server */
        /* Fills why (>= 128 bytes) when not ready. */
        bool (*ready_fn)(void *userdata, char *why, unsigned why_size);
        void *userdata;
};

/* -EINVAL on a bad address, -EADDRINUSE etc. when a socket cannot listen. */
int http_endpoints_start(const struct http_endpoints_options *options,
                         struct http_endpoints **ret_endpoints);
void http_endpoints_stop(struct http_endpoints *endpoints);

/* Split "HOST:PORT" (IPv4 or [IPv6]).  -EINVAL on anything else. */
int http_addr_parse(const char *addr, char *ret_host, unsigned host_size, unsigned *ret_port);

/* The port a server really listens on (useful with port 0); 0 if none. */
unsigned http_endpoints_metrics_port(const struct http_endpoints *endpoints);
unsigned http_endpoints_health_port(const struct http_endpoints *endpoints);
