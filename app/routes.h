/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The site's request path: route table, then one handler per route, in
 * routes.c, read top to bottom.  Handlers are synchronous: they run on the
 * worker thread that owns `struct route_worker` (its database connection and
 * page cache) and fill in a struct http_response.
 *
 * Ownership: struct route_worker is owned by its worker thread
 * (route_worker_clear frees what it holds); `app` is borrowed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "http.h"

struct store;

struct route_worker {
        struct app *app;
        struct store *store;   /* this thread's connection, NULL until first use */
        bool store_needs_ping; /* last call failed: ping (which reconnects) before use */
        char *main_page;       /* cached rendering of "/" */
        size_t main_page_length;
        int64_t main_page_expires_ms;
};

void route_worker_clear(struct route_worker *worker);

/* Number of routes and the pattern of route i ("/deals/{id}"): metrics' route labels. */
size_t routes_count(void);
const char *routes_pattern(size_t route);

enum route_lookup_result {
        ROUTE_FOUND,
        ROUTE_NOT_FOUND,
        ROUTE_METHOD_NOT_ALLOWED,
};

/*
 * Find the route for method + path.  *ret_route is the route index (or
 * routes_count() when nothing matched), *ret_id the {id} path parameter, and
 * *ret_allow the Allow header text for ROUTE_METHOD_NOT_ALLOWED.
 * HEAD is looked up as GET.
 */
enum route_lookup_result routes_lookup(enum http_method method, const char *path, size_t *ret_route,
                                       int64_t *ret_id, const char **ret_allow);

/* Answer one request.  *ret_route gets the route index for metrics. */
void routes_handle(struct route_worker *worker, const struct http_request *request,
                   struct http_response *response, size_t *ret_route);

/* The live-stock WebSocket: the server glue upgrades this path itself. */
#define ROUTE_WEBSOCKET_PATH     "/ws/stock"
#define ROUTE_WEBSOCKET_PROTOCOL "tripdeal-stock"
