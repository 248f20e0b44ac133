/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process-wide state of tripdeal-app, shared by every worker thread:
 * configuration, the cookie keys, metrics, the live stock feed and the
 * drain flag.  Created by main.c, borrowed by everything else.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "session.h"
#include "stock.h"

struct app_config {
        char listen_host[64]; /* numeric IPv4/IPv6 address or "localhost" */
        int listen_port;      /* 0: the kernel picks one */
        const char *database_url;
        bool seed_demo;
        int threads;       /* HTTP worker threads, each with its own lws context */
        int claim_threads; /* claim executor threads, each with its own database connection */
        int64_t grace_ms;  /* SIGTERM: longest wait for in-flight requests */
        int64_t shutdown_delay_ms;      /* SIGTERM: serve (not ready) this long before draining */
        size_t max_body_bytes;          /* larger bodies: 413 */
        unsigned max_header_bytes;      /* request line + headers: larger gives 431 or a close */
        int idle_timeout_seconds;       /* keep-alive connection with no request */
        int request_timeout_seconds;    /* headers or body still not complete */
        size_t max_incomplete_requests; /* per state (head, body): the oldest past it gets 408 */
        int stock_poll_ms;              /* stock re-read interval */
        int main_page_cache_ms;         /* "/" is rendered at most once per this per thread */
        bool cookie_secure;             /* add "Secure" to the session cookie */
};

struct app {
        struct app_config config;
        struct session_keys keys;
        struct metrics *metrics;
        struct stock_feed *stock;
        atomic_bool draining; /* SIGTERM seen: /readyz 503, responses say Connection: close */
        atomic_int in_flight; /* requests between headers received and response written */
};
