/* SPDX-License-Identifier: Apache-2.0 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acceptor.h"
#include "claims.h"
#include "clock.h"
#include "http.h"
#include "log.h"
#include "macros.h"
#include "routes.h"

struct worker {
        struct server *server;
        struct lws_context *context;
        struct lws_vhost *vhost;
        /* Accepted sockets handed over by the acceptor thread, adopted on our thread. */
        pthread_mutex_t pending_lock;
        struct claim_job *finished_claims; /* from the claim executor, under pending_lock */
        struct acceptor_connection *pending;
        size_t n_pending;
        size_t pending_capacity;
        pthread_t thread;
        bool thread_started;
        struct route_worker routes;
        /* The last stock message, framed for lws (LWS_PRE bytes of headroom). */
        unsigned char *stock_message;
        size_t stock_message_length;
        uint64_t stock_message_version;
        int websockets_on_default_protocol;
        uint64_t request_counter;
        char request_id_prefix[9];
        /* Connections reading a request body, oldest first; at most max_reading. */
        struct connection *reading_oldest, *reading_newest;
        size_t n_reading;
        size_t max_reading;
};

struct server {
        struct app *app;
        struct worker *workers;
        int n_workers;
        int port;
        atomic_bool stopping;
        struct claim_executor *claims;
        struct acceptor *acceptor;
        size_t next_worker;
};

/* Per-connection state (lws allocates it zeroed, one per wsi). */
struct connection {
        bool in_flight;     /* counted in app->in_flight */
        bool response_sent; /* an early answer (413) went out; discard the body */
        bool is_websocket;
        bool dispatched; /* the request went to the routes (lws may still report its empty body) */
        bool close_after_response; /* body length unknown: lws would read the next request as body
                                    */
        bool reading;              /* in the worker's list of connections reading a body */
        bool evicted;              /* closed to make room for a newer one (408) */
        enum http_method method;
        char *path;
        char *body;
        size_t body_length;
        size_t body_expected;
        int64_t started_us;
        char request_id[40];
        uint64_t stock_version_sent;
        struct pending_claim *claim; /* a claim being run for this request */
        size_t route;                /* of the request waiting for its claim */
        struct lws *wsi;
        struct connection *reading_prev, *reading_next;
};

/* A claim on its way through the executor, and where its answer goes. */
struct pending_claim {
        struct claim_job job;
        struct claim_request request;
        struct worker *worker;
        struct lws *wsi;
        bool ready;     /* back from the executor: answer on the next writeable callback */
        bool abandoned; /* the connection closed first: free it when it comes back */
};

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

/*
 * A connection's opaque user data while the deadline set at adoption (the
 * first request's, counted from the accept) runs.  lws gives each request
 * fresh per-connection memory, so this lives on the wsi.
 */
static const char first_request_deadline;

static const struct lws_protocols protocols[] = {
        /* [0] HTTP, and WebSocket clients that name no subprotocol. */
        {"http", callback, sizeof(struct connection), 0, 0, NULL, 0},
        {ROUTE_WEBSOCKET_PROTOCOL, callback, sizeof(struct connection), 4096, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int64_t monotonic_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Off the list of connections reading a body (body complete, answered or closed). */
static void reading_remove(struct worker *worker, struct connection *connection)
{
        if (!connection->reading)
                return;
        if (connection->reading_prev)
                connection->reading_prev->reading_next = connection->reading_next;
        else
                worker->reading_oldest = connection->reading_next;
        if (connection->reading_next)
                connection->reading_next->reading_prev = connection->reading_prev;
        else
                worker->reading_newest = connection->reading_prev;
        connection->reading_prev = connection->reading_next = NULL;
        connection->reading = false;
        worker->n_reading--;
}

/*
 * A connection starts reading a request body.  Slow senders must not starve
 * the rest: at the cap, the oldest reader is told to go (its timer fires at
 * once and answers 408).
 */
static void reading_add(struct worker *worker, struct lws *wsi, struct connection *connection)
{
        if (worker->max_reading > 0 && worker->n_reading >= worker->max_reading) {
                struct connection *oldest = worker->reading_oldest;
                reading_remove(worker, oldest);
                oldest->evicted = true;
                lws_set_timer_usecs(oldest->wsi, 1);
        }
        connection->wsi = wsi;
        connection->reading = true;
        connection->reading_prev = worker->reading_newest;
        connection->reading_next = NULL;
        if (worker->reading_newest)
                worker->reading_newest->reading_next = connection;
        else
                worker->reading_oldest = connection;
        worker->reading_newest = connection;
        worker->n_reading++;
}

static void connection_end_request(struct worker *worker, struct connection *connection)
{
        reading_remove(worker, connection);
        if (connection->claim) {
                /* Still with the executor (or queued back to us): it is freed on return. */
                if (connection->claim->ready)
                        free(connection->claim);
                else
                        connection->claim->abandoned = true;
                connection->claim = NULL;
        }
        if (connection->in_flight) {
                atomic_fetch_sub(&worker->server->app->in_flight, 1);
                connection->in_flight = false;
        }
        free(connection->path);
        free(connection->body);
        connection->path = NULL;
        connection->body = NULL;
        connection->body_length = 0;
        connection->body_expected = 0;
        connection->response_sent = false;
        connection->dispatched = false;
}

/* A header's value as a new string, or NULL when absent. */
static char *header_copy(struct lws *wsi, enum lws_token_indexes token)
{
        int length = lws_hdr_total_length(wsi, token);
        if (length <= 0)
                return NULL;
        char *value = malloc((size_t)length + 1);
        if (value && lws_hdr_copy(wsi, value, length + 1, token) < 0) {
                free(value);
                return NULL;
        }
        return value;
}

static char *custom_header_copy(struct lws *wsi, const char *name_with_colon)
{
        int name_length = (int)strlen(name_with_colon);
        int length = lws_hdr_custom_length(wsi, name_with_colon, name_length);
        if (length <= 0)
                return NULL;
        char *value = malloc((size_t)length + 1);
        if (value &&
            lws_hdr_custom_copy(wsi, value, length + 1, name_with_colon, name_length) < 0) {
                free(value);
                return NULL;
        }
        return value;
}

/* Take the client's X-Request-Id when it is short and plain; otherwise make one. */
static void assign_request_id(struct worker *worker, struct lws *wsi, struct connection *connection)
{
        _cleanup_free_ char *given = custom_header_copy(wsi, "x-request-id:");
        if (given && strlen(given) <= 36 && given[0] &&
            strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
                    strlen(given)) {
                strcpy(connection->request_id, given);
                return;
        }
        snprintf(connection->request_id, sizeof(connection->request_id), "%s-%08" PRIx64,
                 worker->request_id_prefix, ++worker->request_counter);
}

/*
 * lws's status table lacks some codes (201, 422, 426...) and then writes
 * "HTTP/1.1 201 " with an empty reason phrase; fill ours in.
 */
static int add_missing_reason(unsigned char *start, unsigned char **p, unsigned char *end,
                              int status)
{
        unsigned char *line_end = memmem(start, (size_t)(*p - start), "\r\n", 2);
        if (!line_end || line_end == start || line_end[-1] != ' ')
                return 0;
        const char *reason = http_status_reason(status);
        size_t length = strlen(reason);
        if ((size_t)(end - *p) < length)
                return -ENOBUFS;
        memmove(line_end + length, line_end, (size_t)(*p - line_end));
        memcpy(line_end, reason, length);
        *p += length;
        return 0;
}

/*
 * Write the whole response (status line, headers, body) with one lws_write,
 * so a small page leaves in one send().  Content-Length is added by name,
 * which keeps lws from accounting the body separately from the headers.
 */
static int write_response(struct worker *worker, struct lws *wsi, struct connection *connection,
                          const struct http_response *response)
{
        struct app *app = worker->server->app;
        bool head = connection->method == HTTP_METHOD_HEAD;
        size_t body_length = head ? 0 : response->body_length;
        size_t header_space = 2048;
        _cleanup_free_ unsigned char *buffer = malloc(LWS_PRE + header_space + body_length);
        if (!buffer)
                return -1;
        unsigned char *start = buffer + LWS_PRE, *p = start, *end = start + header_space;
        char number[32];

#define ADD(name, value)                                                                        \
        do {                                                                                    \
                const char *v_ = (value);                                                       \
                if (lws_add_http_header_by_name(wsi, (const unsigned char *)(name),             \
                                                (const unsigned char *)v_, (int)strlen(v_), &p, \
                                                end))                                           \
                        return -1;                                                              \
        } while (0)

        if (lws_add_http_header_status(wsi, (unsigned)response->status, &p, end) ||
            add_missing_reason(start, &p, end, response->status) < 0)
                return -1;
        ADD("content-type:",
            response->content_type ? response->content_type : "text/plain; charset=utf-8");
        snprintf(number, sizeof(number), "%zu", response->body_length);
        ADD("content-length:", number);
        ADD("x-request-id:", connection->request_id);
        ADD("cache-control:", response->cache_control ? response->cache_control : "no-store");
        ADD("x-content-type-options:", "nosniff");
        if (response->content_type && strncmp(response->content_type, "text/html", 9) == 0) {
                ADD("content-security-policy:",
                    "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
                    "base-uri 'none'; form-action 'self'");
                ADD("x-frame-options:", "DENY");
                ADD("referrer-policy:", "same-origin");
        }
        if (response->set_cookie[0])
                ADD("set-cookie:", response->set_cookie);
        if (response->location[0])
                ADD("location:", response->location);
        if (response->allow)
                ADD("allow:", response->allow);
        /* Draining: ask keep-alive clients to reconnect (to another replica). */
        if (atomic_load(&app->draining) || connection->close_after_response)
                ADD("connection:", "close");
#undef ADD
        if (lws_finalize_http_header(wsi, &p, end))
                return -1;
        if (body_length > 0) {
                memcpy(p, response->body, body_length);
                p += body_length;
        }
        int n = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
        return n < 0 ? -1 : 0;
}

static void log_request(struct connection *connection, size_t route, int status,
                        int64_t duration_us, size_t bytes)
{
        if (!log_enabled(LOG_LEVEL_INFO))
                return;
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:I}", "request_id",
                           connection->request_id, "method",
                           http_method_to_string(connection->method), "path",
                           connection->path ? connection->path : "", "route", routes_pattern(route),
                           "status", status, "duration_ms", (double)duration_us / 1000.0, "bytes",
                           (json_int_t)bytes),
                 "request");
}

/* Answer a request the route table never sees (413, 400): counted as "unmatched". */
static int answer_early(struct worker *worker, struct lws *wsi, struct connection *connection,
                        int status, const char *json_error, const char *message)
{
        struct http_response response = {.status = status};
        char *body = NULL;
        bool api = connection->path && strncmp(connection->path, "/api/", 5) == 0;
        int r = api ? asprintf(&body, "{\"error\":\"%s\",\"message\":\"%s\"}", json_error, message)
                    : asprintf(&body,
                               "<!doctype html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\">"
                               "<title>%d %s</title></head><body><h1>%d %s</h1><p>%s</p>"
                               "</body></html>\n",
                               status, http_status_reason(status), status,
                               http_status_reason(status), message);
        if (r < 0)
                return -1;
        response.body = body;
        response.body_length = (size_t)r;
        response.content_type = api ? "application/json" : "text/html; charset=utf-8";
        int w = write_response(worker, wsi, connection, &response);
        int64_t duration = monotonic_us() - connection->started_us;
        metrics_observe_request(worker->server->app->metrics, routes_count(), status, duration);
        log_request(connection, routes_count(), status, duration, response.body_length);
        http_response_clear(&response);
        return w;
}

/* Write the answer, count and log it, and end the request.  Returns what the callback returns. */
static int finish_request(struct worker *worker, struct lws *wsi, struct connection *connection,
                          size_t route, struct http_response *response)
{
        int w = write_response(worker, wsi, connection, response);
        int64_t duration = monotonic_us() - connection->started_us;
        metrics_observe_request(worker->server->app->metrics, route, response->status, duration);
        log_request(connection, route, response->status, duration, response->body_length);
        http_response_clear(response);
        connection_end_request(worker, connection);

        if (w < 0 || connection->close_after_response)
                return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Build the request, run the route, write the answer.  Returns what the callback returns. */
static int dispatch(struct worker *worker, struct lws *wsi, struct connection *connection)
{
        connection->dispatched = true;
        reading_remove(worker, connection);
        /*
         * The request is in: its deadline no longer applies.  (Not
         * LWS_SET_TIMER_USEC_CANCEL: lws 4.1 then fires the timer at once;
         * on_request_deadline() ignores a timer that finds nothing to end.)
         */
        lws_set_opaque_user_data(wsi, NULL);
        struct http_request request = {
                .method = connection->method,
                .path = connection->path,
                .body = connection->body,
                .body_length = connection->body_length,
                .request_id = connection->request_id,
        };

        /* lws splits and decodes the query into "name=value" fragments. */
        char query[2048];
        size_t used = 0;
        for (int i = 0; i < HTTP_MAX_QUERY_ARGS && used < sizeof(query) - 1; i++) {
                int n = lws_hdr_copy_fragment(wsi, query + used, (int)(sizeof(query) - used),
                                              WSI_TOKEN_HTTP_URI_ARGS, i);
                if (n < 0)
                        break;
                request.query_args[request.n_query_args++] = query + used;
                used += (size_t)n + 1;
        }
        _cleanup_free_ char *cookie = header_copy(wsi, WSI_TOKEN_HTTP_COOKIE);
        _cleanup_free_ char *content_type = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
        _cleanup_free_ char *csrf = custom_header_copy(wsi, "x-csrf-token:");
        request.cookie_header = cookie;
        request.content_type = content_type;
        request.csrf_header = csrf;

        struct http_response response = {0};
        size_t route = routes_count();
        struct claim_request claim;
        if (routes_handle(&worker->routes, &request, &response, &route, &claim)) {
                /* The answer comes when the claim executor is done (finish_claim). */
                struct pending_claim *pending = calloc(1, sizeof(*pending));
                if (!pending) {
                        routes_finish_claim(&worker->routes, &claim, -ENOMEM, CLAIM_NO_SUCH_DEAL, 0,
                                            connection->request_id, &response);
                        return finish_request(worker, wsi, connection, route, &response);
                }
                pending->request = claim;
                pending->worker = worker;
                pending->wsi = wsi;
                pending->job.deal_id = claim.deal_id;
                memcpy(pending->job.user, claim.user, sizeof(pending->job.user));
                pending->job.now = time(NULL);
                pending->job.userdata = pending;
                connection->claim = pending;
                connection->route = route;
                claim_executor_submit(worker->server->claims, &pending->job);
                return 0;
        }
        return finish_request(worker, wsi, connection, route, &response);
}

/* The claim executor is done with this connection's claim: answer it. */
static int finish_claim(struct worker *worker, struct lws *wsi, struct connection *connection)
{
        struct pending_claim *pending = connection->claim;
        connection->claim = NULL;
        struct http_response response = {0};
        routes_finish_claim(&worker->routes, &pending->request, pending->job.error,
                            pending->job.outcome, pending->job.stock_left, connection->request_id,
                            &response);
        free(pending);
        return finish_request(worker, wsi, connection, connection->route, &response);
}

/* Executor thread: queue the finished claim for its worker and wake that worker. */
static void claim_finished(struct claim_job *job)
{
        struct pending_claim *pending = job->userdata;
        struct worker *worker = pending->worker;
        pthread_mutex_lock(&worker->pending_lock);
        job->next = worker->finished_claims;
        worker->finished_claims = job;
        pthread_mutex_unlock(&worker->pending_lock);
        lws_cancel_service(worker->context);
}

/* Worker thread: answer (on their next writeable callback) the claims that came back. */
static void collect_finished_claims(struct worker *worker)
{
        pthread_mutex_lock(&worker->pending_lock);
        struct claim_job *job = worker->finished_claims;
        worker->finished_claims = NULL;
        pthread_mutex_unlock(&worker->pending_lock);
        while (job) {
                struct claim_job *next = job->next;
                struct pending_claim *pending = job->userdata;
                if (pending->abandoned) {
                        free(pending);
                } else {
                        pending->ready = true;
                        lws_callback_on_writable(pending->wsi);
                }
                job = next;
        }
}

static enum http_method method_from_lws(int lws_method)
{
        switch (lws_method) {
        case LWSHUMETH_GET:
                return HTTP_METHOD_GET;
        case LWSHUMETH_HEAD:
                return HTTP_METHOD_HEAD;
        case LWSHUMETH_POST:
                return HTTP_METHOD_POST;
        case LWSHUMETH_PUT:
                return HTTP_METHOD_PUT;
        case LWSHUMETH_PATCH:
                return HTTP_METHOD_PATCH;
        case LWSHUMETH_DELETE:
                return HTTP_METHOD_DELETE;
        case LWSHUMETH_OPTIONS:
                return HTTP_METHOD_OPTIONS;
        default:
                return HTTP_METHOD_OTHER;
        }
}

/* Headers complete: answer now, or wait for the body of a POST. */
static int on_http(struct worker *worker, struct lws *wsi, struct connection *connection,
                   const char *uri, size_t length)
{
        struct app *app = worker->server->app;

        connection_end_request(worker, connection);
        connection->started_us = monotonic_us();
        connection->in_flight = true;
        atomic_fetch_add(&app->in_flight, 1);
        assign_request_id(worker, wsi, connection);

        char *uri_pointer = NULL;
        int uri_length = 0;
        connection->method =
                method_from_lws(lws_http_get_uri_and_method(wsi, &uri_pointer, &uri_length));
        connection->path = strndup(uri, length);
        if (!connection->path)
                return -1;
        /* A later request on a keep-alive connection skips the acceptor's
         * check: lws decodes "%00" into the path and would serve "/%00x" as "/". */
        if (uri_pointer && uri_length > 0 &&
            strnlen(uri_pointer, (size_t)uri_length) != (size_t)uri_length) {
                connection->close_after_response = true;
                answer_early(worker, wsi, connection, 400, "bad_request",
                             "The request target holds an encoded NUL (%00).");
                return -1;
        }

        bool may_have_body = connection->method == HTTP_METHOD_POST ||
                             connection->method == HTTP_METHOD_PUT ||
                             connection->method == HTTP_METHOD_PATCH;
        if (!may_have_body)
                return dispatch(worker, wsi, connection);

        /* Bodies must come with a Content-Length (no chunked uploads). */
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
                answer_early(worker, wsi, connection, 411, "length_required",
                             "Send the body with a Content-Length header.");
                return -1;
        }
        /*
         * No Content-Length means an empty body (RFC 9112 6.3), but lws then
         * expects a body until the connection ends.  Answer now and close the
         * connection so that a next request is not swallowed as body.
         */
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
                connection->close_after_response = true;
                return dispatch(worker, wsi, connection);
        }
        char length_text[32] = "";
        int64_t content_length = 0;
        if (lws_hdr_copy(wsi, length_text, sizeof(length_text), WSI_TOKEN_HTTP_CONTENT_LENGTH) >
                    0 &&
            (http_parse_positive_int(length_text, &content_length) < 0 &&
             strcmp(length_text, "0") != 0)) {
                answer_early(worker, wsi, connection, 400, "bad_request",
                             "Content-Length is not a number.");
                return -1;
        }
        if (content_length == 0)
                return dispatch(worker, wsi, connection);

        if ((uint64_t)content_length > app->config.max_body_bytes) {
                /*
                 * Answer at once rather than read megabytes we will refuse;
                 * then swallow what the client still sends for a few seconds
                 * so that closing does not reset the connection before the
                 * client has read the 413.
                 */
                if (answer_early(worker, wsi, connection, 413, "payload_too_large",
                                 "The request body is larger than this server accepts.") < 0)
                        return -1;
                connection->response_sent = true;
                connection_end_request(worker, connection);
                connection->response_sent = true;
                lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 3);
                return 0;
        }
        connection->body_expected = (size_t)content_length;
        connection->body = malloc(connection->body_expected + 1);
        if (!connection->body)
                return -1;
        /*
         * lws restarts its own body timeout on every byte, so a body sent a
         * byte every few seconds would never end: the request keeps one
         * deadline, set when the acceptor took the connection (first
         * request) or now (later requests on a keep-alive connection).
         */
        lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, app->config.request_timeout_seconds);
        if (lws_get_opaque_user_data(wsi) != &first_request_deadline)
                lws_set_timer_usecs(wsi, (lws_usec_t)app->config.request_timeout_seconds *
                                                 LWS_USEC_PER_SEC);
        reading_add(worker, wsi, connection);
        return 0;
}

/*
 * The request deadline (or an eviction) came before the whole request:
 * 408 and close.  Connections whose request is in, and WebSockets, stay.
 */
static int on_request_deadline(struct worker *worker, struct lws *wsi,
                               struct connection *connection)
{
        bool first_request = lws_get_opaque_user_data(wsi) == &first_request_deadline;
        if (!connection || (!connection->path && !connection->is_websocket))
                /* Adopted, but its first head never got parsed (waiting for
                 * an lws header table); else idle between requests. */
                return first_request ? -1 : 0;
        if (!connection->body || connection->dispatched || connection->response_sent)
                return 0;
        reading_remove(worker, connection);
        connection->close_after_response = true;
        answer_early(worker, wsi, connection, 408, "request_timeout",
                     connection->evicted
                             ? "Too many connections are still sending their request; the oldest "
                               "is closed."
                             : "The request was not complete within the request timeout.");
        return -1;
}

static int on_body(struct worker *worker, struct lws *wsi, struct connection *connection,
                   const void *data, size_t length)
{
        if (connection->response_sent || !connection->body)
                return 0;
        if (connection->body_length + length > connection->body_expected)
                length = connection->body_expected - connection->body_length;
        memcpy(connection->body + connection->body_length, data, length);
        connection->body_length += length;
        connection->body[connection->body_length] = '\0';
        return 0;
}

static int on_body_complete(struct worker *worker, struct lws *wsi, struct connection *connection)
{
        if (connection->response_sent) {
                connection->response_sent = false;
                return -1; /* the 413 went out already; this connection is done */
        }
        /* "Content-Length: 0" was answered (or is being answered) already. */
        if (connection->dispatched)
                return 0;
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        if (!connection->path)
                return -1; /* a body without a request we are waiting for */
        return dispatch(worker, wsi, connection);
}

/* Send the current stock message if this socket has not seen it yet. */
static int websocket_send_stock(struct worker *worker, struct lws *wsi,
                                struct connection *connection)
{
        struct stock_feed *feed = worker->server->app->stock;
        uint64_t version = stock_feed_version(feed);
        if (!worker->stock_message || worker->stock_message_version != version) {
                _cleanup_free_ char *json = NULL;
                uint64_t snapshot_version = 0;
                if (stock_feed_snapshot_json(feed, &snapshot_version, &json) < 0)
                        return 0;
                size_t length = strlen(json);
                unsigned char *message = malloc(LWS_PRE + length);
                if (!message)
                        return 0;
                memcpy(message + LWS_PRE, json, length);
                free(worker->stock_message);
                worker->stock_message = message;
                worker->stock_message_length = length;
                worker->stock_message_version = snapshot_version;
        }
        if (connection->stock_version_sent == worker->stock_message_version)
                return 0;
        if (lws_write(wsi, worker->stock_message + LWS_PRE, worker->stock_message_length,
                      LWS_WRITE_TEXT) < (int)worker->stock_message_length)
                return -1;
        connection->stock_version_sent = worker->stock_message_version;
        return 0;
}

/* Take over the sockets the acceptor queued for this worker. */
static void adopt_pending(struct worker *worker)
{
        for (;;) {
                struct acceptor_connection pending = {.fd = -1};
                pthread_mutex_lock(&worker->pending_lock);
                if (worker->n_pending > 0)
                        pending = worker->pending[--worker->n_pending];
                pthread_mutex_unlock(&worker->pending_lock);
                if (pending.fd < 0)
                        return;
                /* On failure lws closes the socket itself. */
                struct lws *wsi =
                        pending.head
                                ? lws_adopt_socket_vhost_readbuf(worker->vhost, pending.fd,
                                                                 pending.head, pending.head_length)
                                : lws_adopt_socket_vhost(worker->vhost, pending.fd);
                free(pending.head);
                if (!wsi) {
                        log_warn("could not adopt an accepted connection");
                        continue;
                }
                /* The request timeout counts from the accept, head and body together. */
                int64_t left_ms = pending.deadline_ms - clock_monotonic_ms();
                lws_set_timer_usecs(wsi, left_ms > 0 ? (lws_usec_t)left_ms * 1000 : 1);
                lws_set_opaque_user_data(wsi, (void *)&first_request_deadline);
        }
}

/*
 * Another Upgrade (h2c) that reached lws: on a later request of a keep-alive
 * connection, or on a first request with a body (the acceptor rewrites only
 * body-less heads: lws 4.1 re-reads an adopted read buffer as the body).
 */
static int on_other_upgrade(struct worker *worker, struct lws *wsi, struct connection *connection)
{
        /* Before lws binds the protocol there is no per-connection state yet. */
        struct connection answer_only = {0};
        char *uri = NULL;
        int uri_length = 0;
        int method = lws_http_get_uri_and_method(wsi, &uri, &uri_length);
        if (method < 0 || !uri)
                return -1;
        enum http_method http_method = method_from_lws(method);
        if (connection && http_method != HTTP_METHOD_POST && http_method != HTTP_METHOD_PUT &&
            http_method != HTTP_METHOD_PATCH) {
                /* Served as HTTP/1.1, as if the Upgrade were not there. */
                int r = on_http(worker, wsi, connection, uri, (size_t)uri_length);
                return r < 0 ? -1 : 1;
        }
        /* lws would read the body as the next request: refuse and close. */
        if (connection)
                connection_end_request(worker, connection);
        else
                connection = &answer_only;
        connection->started_us = monotonic_us();
        connection->method = http_method;
        connection->path = strndup(uri, (size_t)uri_length);
        connection->close_after_response = true;
        assign_request_id(worker, wsi, connection);
        answer_early(worker, wsi, connection, 400, "bad_request",
                     "Upgrade (h2c) is not served, and a request with a body that asks for it "
                     "cannot be served as HTTP/1.1 either; send it without the Upgrade header.");
        free(answer_only.path);
        return -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
        struct worker *worker = lws_context_user(lws_get_context(wsi));
        struct connection *connection = user;

        switch (reason) {
        case LWS_CALLBACK_HTTP:
                return on_http(worker, wsi, connection, in, len);
        case LWS_CALLBACK_HTTP_BODY:
                return on_body(worker, wsi, connection, in, len);
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
                return on_body_complete(worker, wsi, connection);
        case LWS_CALLBACK_HTTP_WRITEABLE:
                if (connection && connection->claim && connection->claim->ready)
                        return finish_claim(worker, wsi, connection);
                return 0;
        case LWS_CALLBACK_CLOSED_HTTP:
                if (connection)
                        connection_end_request(worker, connection);
                return 0;
        case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
                if (connection)
                        connection_end_request(worker, connection);
                return 0;

        case LWS_CALLBACK_TIMER:
                return on_request_deadline(worker, wsi, connection);

        case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
                /* Other upgrades (h2c) are ignored: the request is served as HTTP/1.1. */
                if (strcmp(in ? (const char *)in : "", "websocket") != 0)
                        return on_other_upgrade(worker, wsi, connection);
                /* Only the live-stock path upgrades to WebSocket. */
                char path[64] = "";
                lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
                if (strcmp(path, ROUTE_WEBSOCKET_PATH) != 0) {
                        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
                        return -1;
                }
                return 0;
        }
        case LWS_CALLBACK_ESTABLISHED:
                log_emit(LOG_LEVEL_DEBUG, json_pack("{s:s}", "path", ROUTE_WEBSOCKET_PATH),
                         "websocket opened");
                connection->is_websocket = true;
                connection->stock_version_sent = 0;
                if (lws_get_protocol(wsi) == &protocols[0])
                        worker->websockets_on_default_protocol++;
                metrics_websocket_clients_add(worker->server->app->metrics, 1);
                lws_callback_on_writable(wsi);
                return 0;
        case LWS_CALLBACK_SERVER_WRITEABLE:
                if (!connection || !connection->is_websocket)
                        return 0;
                return websocket_send_stock(worker, wsi, connection);
        case LWS_CALLBACK_RECEIVE:
                /* Clients have nothing to say (pings are answered by lws): a data
                 * frame, masked or not, ends the connection. */
                lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                 (unsigned char *)"no client messages", 18);
                return -1;
        case LWS_CALLBACK_CLOSED:
                if (connection && connection->is_websocket) {
                        connection->is_websocket = false;
                        if (lws_get_protocol(wsi) == &protocols[0])
                                worker->websockets_on_default_protocol--;
                        metrics_websocket_clients_add(worker->server->app->metrics, -1);
                }
                return 0;

        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                /* Woken by the acceptor, server_notify_stock or to stop. */
                if (atomic_load(&worker->server->stopping))
                        return 0;
                collect_finished_claims(worker);
                if (worker->stock_message_version !=
                    stock_feed_version(worker->server->app->stock)) {
                        lws_callback_on_writable_all_protocol(worker->context, &protocols[1]);
                        if (worker->websockets_on_default_protocol > 0)
                                lws_callback_on_writable_all_protocol(worker->context,
                                                                      &protocols[0]);
                }
                return 0;

        default:
                return 0;
        }
}

/* lws's own log lines, as JSON lines at our level. */
static void lws_log_line(int level, const char *line)
{
        size_t length = strlen(line);
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
                length--;
        /* Adopting a socket with its head already read (an ignored Upgrade) is routine. */
        if (strstr(line, "adopt_socket_readbuf: calling service") ||
            strstr(line, "adopt_socket_readbuf: deferring handling ah"))
                return;
        log_emit(level == LLL_ERR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN,
                 json_pack("{s:s, s:s%}", "source", "libwebsockets", "detail", line, length),
                 "libwebsockets");
}

static void *worker_main(void *userdata)
{
        struct worker *worker = userdata;
        while (!atomic_load(&worker->server->stopping)) {
                if (lws_service(worker->context, 0) < 0)
                        break;
                /* Outside any callback: adopting with a read buffer services the socket. */
                if (!atomic_load(&worker->server->stopping))
                        adopt_pending(worker);
        }
        return NULL;
}

/*
 * A context per worker with a server vhost that does not listen: connections
 * come from our acceptor (Debian's lws 4.1 does not set SO_REUSEPORT, so
 * contexts cannot share a port by themselves).
 */
static int create_context(struct server *server, struct worker *worker)
{
        const struct app_config *config = &server->app->config;
        struct lws_context_creation_info info = {0};

        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.protocols = protocols;
        info.max_http_header_data = (unsigned short)config->max_header_bytes;
        info.max_http_header_pool = 1024;
        info.timeout_secs = (unsigned)config->request_timeout_seconds;
        info.keepalive_timeout = config->idle_timeout_seconds;
        info.server_string = "tripdeal-app";
        info.vhost_name = "default";
        info.user = worker;
        info.count_threads = 1;

        worker->context = lws_create_context(&info);
        if (!worker->context)
                return -ENOMEM;
        worker->vhost = lws_get_vhost_by_name(worker->context, "default");
        return worker->vhost ? 0 : -ENOMEM;
}

/* Give an accepted socket whose first request head is complete to the next worker. */
static void hand_to_worker(const struct acceptor_connection *connection, void *userdata)
{
        struct server *server = userdata;
        struct worker *worker = &server->workers[server->next_worker++ % (size_t)server->n_workers];
        pthread_mutex_lock(&worker->pending_lock);
        if (worker->n_pending == worker->pending_capacity) {
                size_t capacity = worker->pending_capacity ? worker->pending_capacity * 2 : 64;
                struct acceptor_connection *pending =
                        realloc(worker->pending, capacity * sizeof(*pending));
                if (!pending) {
                        pthread_mutex_unlock(&worker->pending_lock);
                        close(connection->fd);
                        free(connection->head);
                        return;
                }
                worker->pending = pending;
                worker->pending_capacity = capacity;
        }
        worker->pending[worker->n_pending++] = *connection;
        pthread_mutex_unlock(&worker->pending_lock);
        lws_cancel_service(worker->context);
}

int server_new(struct app *app, struct server **ret_server)
{
        lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);

        struct server *server = calloc(1, sizeof(*server));
        if (!server)
                return -ENOMEM;
        server->app = app;
        server->n_workers = app->config.threads > 0 ? app->config.threads : 1;
        server->workers = calloc((size_t)server->n_workers, sizeof(*server->workers));
        if (!server->workers) {
                free(server);
                return -ENOMEM;
        }

        int r = acceptor_new(
                &(struct acceptor_options){.host = app->config.listen_host,
                                           .port = app->config.listen_port,
                                           .max_header_bytes = app->config.max_header_bytes,
                                           .request_timeout_seconds =
                                                   app->config.request_timeout_seconds,
                                           .max_waiting = app->config.max_incomplete_requests,
                                           .metrics = app->metrics,
                                           .accepted = hand_to_worker,
                                           .userdata = server},
                &server->acceptor);
        if (r >= 0)
                server->port = acceptor_port(server->acceptor);
        if (r < 0) {
                server_free(server);
                return r;
        }
        r = claim_executor_new(
                &(struct claim_executor_options){.database_url = app->config.database_url,
                                                 .threads = app->config.claim_threads,
                                                 .stock = app->stock,
                                                 .finished = claim_finished},
                &server->claims);
        if (r < 0) {
                server_free(server);
                return r;
        }
        for (int i = 0; i < server->n_workers; i++) {
                struct worker *worker = &server->workers[i];
                worker->server = server;
                pthread_mutex_init(&worker->pending_lock, NULL);
                worker->routes.app = app;
                /* The cap on connections reading a body, shared out between workers. */
                worker->max_reading =
                        app->config.max_incomplete_requests / (size_t)server->n_workers;
                if (app->config.max_incomplete_requests > 0 && worker->max_reading == 0)
                        worker->max_reading = 1;
                unsigned char random_bytes[4];
                if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1)
                        memset(random_bytes, i, sizeof(random_bytes));
                snprintf(worker->request_id_prefix, sizeof(worker->request_id_prefix),
                         "%02x%02x%02x%02x", random_bytes[0], random_bytes[1], random_bytes[2],
                         random_bytes[3]);
                r = create_context(server, worker);
                if (r < 0) {
                        server_free(server);
                        return r;
                }
        }
        *ret_server = server;
        return 0;
}

int server_port(const struct server *server)
{
        return server->port;
}

int server_start(struct server *server)
{
        for (int i = 0; i < server->n_workers; i++) {
                struct worker *worker = &server->workers[i];
                int r = pthread_create(&worker->thread, NULL, worker_main, worker);
                if (r != 0)
                        return -r;
                worker->thread_started = true;
        }
        return acceptor_start(server->acceptor);
}

void server_stop_accepting(struct server *server)
{
        if (server)
                acceptor_stop(server->acceptor);
}

void server_notify_stock(struct server *server)
{
        if (!server)
                return;
        for (int i = 0; i < server->n_workers; i++)
                if (server->workers[i].context)
                        lws_cancel_service(server->workers[i].context);
}

void server_free(struct server *server)
{
        if (!server)
                return;
        server_stop_accepting(server);
        atomic_store(&server->stopping, true);
        for (int i = 0; i < server->n_workers; i++) {
                struct worker *worker = &server->workers[i];
                if (worker->thread_started) {
                        lws_cancel_service(worker->context);
                        pthread_join(worker->thread, NULL);
                }
        }
        /*
         * Claims still running finish and come back to their worker's list
         * while the contexts exist; closing the connections then marks them
         * abandoned, and the lists are freed last.
         */
        claim_executor_free(server->claims);
        for (int i = 0; i < server->n_workers; i++) {
                struct worker *worker = &server->workers[i];
                if (worker->context)
                        lws_context_destroy(worker->context);
                for (struct claim_job *job = worker->finished_claims, *next; job; job = next) {
                        next = job->next;
                        free(job->userdata);
                }
                route_worker_clear(&worker->routes);
                free(worker->stock_message);
                for (size_t j = 0; j < worker->n_pending; j++) {
                        close(worker->pending[j].fd);
                        free(worker->pending[j].head);
                }
                free(worker->pending);
                if (worker->server)
                        pthread_mutex_destroy(&worker->pending_lock);
        }
        acceptor_free(server->acceptor);
        free(server->workers);
        free(server);
}
