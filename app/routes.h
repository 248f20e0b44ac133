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
#include "store.h"

struct route_worker {
        struct app *app;
        struct store *store;   /* this thread's connection, NULL until first use */
        bool store_needs_ping; /* last call failed: ping (which reconnects) before use */
        char *main_page;       /* cached rendering of "/" */
        size_t main_page_length;
        int64_t main_page_expires_ms;
        uint64_t main_page_generation; /* the stock_catalog it was rendered from */
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

/* A claim the handler checked (session, CSRF) and left to the claim executor. */
struct claim_request {
        int64_t deal_id;
        char user[SESSION_USER_LENGTH + 1];
        bool api; /* answer in JSON (the API) or as a page/redirect (the HTML form) */
};

/*
 * Answer one request.  *ret_route gets the route index for metrics.
 * Returns false when `response` is the answer; true when the answer waits for
 * a claim: *ret_claim says which, and routes_finish_claim() builds the
 * answer once the claim has run.
 */
bool routes_handle(struct route_worker *worker, const struct http_request *request,
                   struct http_response *response, size_t *ret_route,
                   struct claim_request *ret_claim);

/* The answer to a claim: error is 0 or the store's -errno (-ECANCELED: shutting down).
 * Also counts the outcome and pushes the new stock to live pages. */
void routes_finish_claim(struct route_worker *worker, const struct claim_request *claim, int error,
                         enum claim_outcome outcome, int64_t stock_left, const char *request_id,
                         struct http_response *response);

/* The live-stock WebSocket: the server glue upgrades this path itself. */
#define ROUTE_WEBSOCKET_PATH     "/ws/stock"
#define ROUTE_WEBSOCKET_PROTOCOL "tripdeal-stock"
