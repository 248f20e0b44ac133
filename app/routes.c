/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request path of tripdeal-app, top to bottom:
 *   1. the route table,
 *   2. lookup and dispatch (routes_handle),
 *   3. shared helpers (errors, sessions, the database connection),
 *   4. one handler per route: pages, then the JSON API, then operations.
 *
 * Every handler fills a struct http_response and returns; the server glue
 * (server.c) writes it, logs the request and records metrics.
 */
#include "routes.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assets.h"
#include "clock.h"
#include "html.h"
#include "log.h"
#include "macros.h"
#include "store.h"

struct route_call {
        struct route_worker *worker;
        const struct http_request *request;
        struct http_response *response;
        int64_t id;                  /* the {id} path parameter */
        struct claim_request *claim; /* set by a handler that defers to the claim executor */
        bool deferred;
};

typedef void (*route_handler)(struct route_call *call);

struct route {
        enum http_method method;
        const char *pattern;
        route_handler handler;
};

/* ------------------------------------------------------------------ 1. route table */

static void handle_home(struct route_call *call);
static void handle_sales(struct route_call *call);
static void handle_deal(struct route_call *call);
static void handle_deal_claim_form(struct route_call *call);
static void handle_community(struct route_call *call);
static void handle_post(struct route_call *call);
static void handle_post_form(struct route_call *call);
static void handle_post_create(struct route_call *call);
static void handle_api_session(struct route_call *call);
static void handle_api_deals(struct route_call *call);
static void handle_api_claim(struct route_call *call);
static void handle_healthz(struct route_call *call);
static void handle_readyz(struct route_call *call);
static void handle_metrics(struct route_call *call);
static void handle_css(struct route_call *call);
static void handle_js(struct route_call *call);
static void handle_websocket_without_upgrade(struct route_call *call);

static const struct route routes[] = {
        {HTTP_METHOD_GET, "/", handle_home},
        {HTTP_METHOD_GET, "/sales", handle_sales},
        {HTTP_METHOD_GET, "/deals/{id}", handle_deal},
        {HTTP_METHOD_POST, "/deals/{id}/claim", handle_deal_claim_form},
        {HTTP_METHOD_GET, "/community", handle_community},
        {HTTP_METHOD_GET, "/community/posts/{id}", handle_post},
        {HTTP_METHOD_GET, "/community/new", handle_post_form},
        {HTTP_METHOD_POST, "/community/posts", handle_post_create},
        {HTTP_METHOD_GET, "/api/session", handle_api_session},
        {HTTP_METHOD_GET, "/api/deals", handle_api_deals},
        {HTTP_METHOD_POST, "/api/deals/{id}/claims", handle_api_claim},
        {HTTP_METHOD_GET, "/healthz", handle_healthz},
        {HTTP_METHOD_GET, "/readyz", handle_readyz},
        {HTTP_METHOD_GET, "/metrics", handle_metrics},
        {HTTP_METHOD_GET, "/static/site.css", handle_css},
        {HTTP_METHOD_GET, "/static/live.js", handle_js},
        {HTTP_METHOD_GET, ROUTE_WEBSOCKET_PATH, handle_websocket_without_upgrade},
};

size_t routes_count(void)
{
        return ARRAY_SIZE(routes);
}

const char *routes_pattern(size_t route)
{
        return route < ARRAY_SIZE(routes) ? routes[route].pattern : "unmatched";
}

/* ------------------------------------------------------------------ 2. lookup and dispatch */

enum route_lookup_result routes_lookup(enum http_method method, const char *path, size_t *ret_route,
                                       int64_t *ret_id, const char **ret_allow)
{
        if (method == HTTP_METHOD_HEAD)
                method = HTTP_METHOD_GET;

        size_t first_path_match = ARRAY_SIZE(routes);
        for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
                int64_t id = 0;
                if (!http_path_match(routes[i].pattern, path, &id))
                        continue;
                if (routes[i].method == method) {
                        *ret_route = i;
                        *ret_id = id;
                        return ROUTE_FOUND;
                }
                if (first_path_match == ARRAY_SIZE(routes))
                        first_path_match = i;
        }
        *ret_route = first_path_match;
        if (first_path_match == ARRAY_SIZE(routes))
                return ROUTE_NOT_FOUND;
        /* Each pattern has exactly one method in the table. */
        *ret_allow = routes[first_path_match].method == HTTP_METHOD_GET ? "GET, HEAD" : "POST";
        return ROUTE_METHOD_NOT_ALLOWED;
}

static void respond_error(struct route_call *call, int status, const char *error,
                          const char *message);

bool routes_handle(struct route_worker *worker, const struct http_request *request,
                   struct http_response *response, size_t *ret_route,
                   struct claim_request *ret_claim)
{
        struct route_call call = {
                .worker = worker, .request = request, .response = response, .claim = ret_claim};
        const char *allow = NULL;
        size_t route;

        switch (routes_lookup(request->method, request->path, &route, &call.id, &allow)) {
        case ROUTE_FOUND:
                routes[route].handler(&call);
                break;
        case ROUTE_METHOD_NOT_ALLOWED:
                response->allow = allow;
                respond_error(&call, 405, "method_not_allowed",
                              "This address does not accept that method.");
                break;
        case ROUTE_NOT_FOUND:
                respond_error(&call, 404, "not_found", "There is no page at this address.");
                break;
        }
        *ret_route = route;
        return call.deferred;
}

void route_worker_clear(struct route_worker *worker)
{
        if (!worker)
                return;
        store_close(worker->store);
        free(worker->main_page);
        worker->store = NULL;
        worker->main_page = NULL;
}

/* ------------------------------------------------------------------ 3. helpers */

static bool is_api(const struct http_request *request)
{
        return strncmp(request->path, "/api/", 5) == 0;
}

static void respond_body(struct route_call *call, int status, const char *content_type, char *body,
                         size_t length)
{
        http_response_clear(call->response);
        call->response->status = status;
        call->response->content_type = content_type;
        call->response->body = body;
        call->response->body_length = length;
}

static void respond_static(struct route_call *call, const char *content_type, const char *body,
                           size_t length, const char *cache_control)
{
        http_response_clear(call->response);
        call->response->status = 200;
        call->response->content_type = content_type;
        call->response->body = (char *)body;
        call->response->body_length = length;
        call->response->body_is_static = true;
        call->response->cache_control = cache_control;
}

static void respond_text(struct route_call *call, int status, const char *text)
{
        respond_static(call, "text/plain; charset=utf-8", text, strlen(text), NULL);
        call->response->status = status;
}

static void respond_json(struct route_call *call, int status, json_t *document)
{
        _cleanup_json_ json_t *owned = document;
        char *text = owned ? json_dumps(owned, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!text) {
                respond_text(call, 500, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
                call->response->content_type = "application/json";
                return;
        }
        respond_body(call, status, "application/json", text, strlen(text));
}

static void page_begin(struct html *page, const char *title, bool live_stock);
static void page_end(struct html *page);

static void respond_page(struct route_call *call, int status, struct html *page)
{
        char *body = NULL;
        size_t length = 0;
        int r = html_finish(page, &body, &length);
        html_clear(page);
        if (r < 0) {
                log_emit(LOG_LEVEL_ERROR,
                         json_pack("{s:s}", "request_id", call->request->request_id),
                         "rendering a page failed: %s", strerror(-r));
                respond_text(call, 500, "Internal error while rendering the page.\n");
                return;
        }
        respond_body(call, status, "text/html; charset=utf-8", body, length);
}

/* Every error says why: JSON {"error","message"} under /api, an HTML page elsewhere. */
static void respond_error(struct route_call *call, int status, const char *error,
                          const char *message)
{
        const char *allow = call->response->allow;
        if (is_api(call->request)) {
                respond_json(call, status,
                             json_pack("{s:s, s:s}", "error", error, "message", message));
        } else {
                struct html page = {0};
                char title[96];
                snprintf(title, sizeof(title), "%d %s", status, http_status_reason(status));
                page_begin(&page, title, false);
                html_format(&page,
                            "<section class=\"error\"><h1>%d · %s</h1><p class=\"reason\">%s</p>"
                            "<p class=\"code\">(%s)</p>",
                            status, http_status_reason(status), message, error);
                html_raw(&page, "<p><a href=\"/\">홈으로 Home</a> · <a href=\"/sales\">타임세일 "
                                "Sales</a></p></section>");
                page_end(&page);
                respond_page(call, status, &page);
        }
        call->response->allow = allow;
}

/*
 * This thread's database connection.  A failed call marks it for a ping
 * (store_ping reconnects) before the next use; while the stock poller sees
 * the database down we answer 503 at once instead of waiting on a timeout.
 */
static int worker_store(struct route_call *call, struct store **ret_store,
                        struct tripdeal_error *ret_error)
{
        struct route_worker *worker = call->worker;
        int r;

        if (!stock_feed_database_ok(worker->app->stock))
                return tripdeal_error_set(ret_error, -ECONNREFUSED,
                                          "the stock poller sees the database down");
        if (!worker->store) {
                r = store_open(&(struct store_options){.url = worker->app->config.database_url},
                               &worker->store, ret_error);
                if (r < 0)
                        return r;
        } else if (worker->store_needs_ping) {
                r = store_ping(worker->store, ret_error);
                if (r < 0)
                        return r;
        }
        worker->store_needs_ping = false;
        *ret_store = worker->store;
        return 0;
}

/*
 * The catalog (every deal, the featured products) the pages render from:
 * the stock poller re-reads it on its own connection every poll interval and
 * publishes it, so a request only takes a reference (memory, no database).
 * Without a poller (in-process tests) it is loaded here, at most once per
 * --page-cache.  The caller drops the reference with stock_catalog_unref.
 */
static int current_catalog(struct route_call *call, struct stock_catalog **ret_catalog,
                           struct tripdeal_error *ret_error)
{
        struct app *app = call->worker->app;

        if (!stock_feed_database_ok(app->stock))
                return tripdeal_error_set(ret_error, -ECONNREFUSED,
                                          "the stock poller sees the database down");
        struct stock_catalog *catalog = stock_feed_catalog(app->stock);
        if (catalog &&
            (stock_feed_polling(app->stock) ||
             clock_monotonic_ms() < catalog->loaded_ms + app->config.main_page_cache_ms)) {
                *ret_catalog = catalog;
                return 0;
        }
        stock_catalog_unref(catalog);

        struct store *store;
        int r = worker_store(call, &store, ret_error);
        if (r >= 0)
                r = stock_feed_reload(app->stock, store, ret_error);
        if (r < 0)
                return r;
        catalog = stock_feed_catalog(app->stock);
        if (!catalog)
                return tripdeal_error_set(ret_error, -ENOMEM, "no catalog after a reload");
        *ret_catalog = catalog;
        return 0;
}

/* A catalog deal with stock_left from the live stock feed, which claims of this
 * process update at once and the poller every interval (strings borrowed). */
static struct deal live_deal(struct route_call *call, const struct deal *deal)
{
        struct deal live = *deal;
        int64_t stock_left;
        if (stock_feed_get(call->worker->app->stock, deal->id, &stock_left))
                live.stock_left = stock_left;
        return live;
}

/* A store call failed with r (error says why): log once, answer 404 for a
 * missing row, 503 otherwise. */
static void respond_store_error(struct route_call *call, int r, const struct tripdeal_error *error,
                                const char *what)
{
        if (r == -ENOENT) {
                respond_error(call, 404, "not_found", "There is no such item.");
                return;
        }
        call->worker->store_needs_ping = true;
        log_emit(LOG_LEVEL_ERROR,
                 json_pack("{s:s, s:s, s:i}", "request_id", call->request->request_id, "error",
                           tripdeal_error_message(error), "errno", -r),
                 "database call failed: %s", what);
        respond_error(call, 503, "database_unavailable",
                      "The database is unavailable right now; please try again shortly.");
}

/* The user id of a valid session cookie, or false. */
static bool request_user(struct route_call *call, char user[SESSION_USER_LENGTH + 1])
{
        char cookie[SESSION_COOKIE_LENGTH + 2];
        if (http_cookie_value(call->request->cookie_header, SESSION_COOKIE_NAME, cookie,
                              sizeof(cookie)) < 0)
                return false;
        return session_cookie_verify(&call->worker->app->keys, cookie, user) == 0;
}

/* The request's user, or a new anonymous one whose cookie goes out with this response. */
static int ensure_user(struct route_call *call, char user[SESSION_USER_LENGTH + 1])
{
        if (request_user(call, user))
                return 0;
        int r = session_new_user(user);
        if (r < 0)
                return r;
        char cookie[SESSION_COOKIE_LENGTH + 1];
        r = session_cookie_sign(&call->worker->app->keys, user, cookie);
        if (r < 0)
                return r;
        snprintf(call->response->set_cookie, sizeof(call->response->set_cookie),
                 "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s", SESSION_COOKIE_NAME, cookie,
                 SESSION_MAX_AGE_SECONDS,
                 call->worker->app->config.cookie_secure ? "; Secure" : "");
        return 0;
}

/* Keep a Set-Cookie decided before the response body was (re)built. */
static void keep_cookie(struct route_call *call, const char *cookie)
{
        snprintf(call->response->set_cookie, sizeof(call->response->set_cookie), "%s", cookie);
}

/*
 * The visitor's user id and CSRF token for a page with a form (or the session
 * API), starting a session when there is none.  `cookie` receives the
 * Set-Cookie decided now, to put back with keep_cookie() after the body is
 * built.  On failure a 500 is already answered: return false.
 */
static bool begin_session(struct route_call *call, char user[SESSION_USER_LENGTH + 1],
                          char csrf[SESSION_CSRF_LENGTH + 1], char cookie[HTTP_HEADER_VALUE_MAX])
{
        if (ensure_user(call, user) < 0 ||
            session_csrf_token(&call->worker->app->keys, user, csrf) < 0) {
                respond_error(call, 500, "internal", "Could not start a session.");
                return false;
        }
        snprintf(cookie, HTTP_HEADER_VALUE_MAX, "%s", call->response->set_cookie);
        return true;
}

static bool form_content_type(const struct http_request *request)
{
        static const char expected[] = "application/x-www-form-urlencoded";
        return request->content_type &&
               strncasecmp(request->content_type, expected, sizeof(expected) - 1) == 0 &&
               (request->content_type[sizeof(expected) - 1] == '\0' ||
                request->content_type[sizeof(expected) - 1] == ';');
}

/* "129,000원" */
static void format_won(int64_t amount, char buf[40])
{
        char digits[32];
        int n = snprintf(digits, sizeof(digits), "%" PRId64, amount < 0 ? -amount : amount);
        size_t out = 0;
        if (amount < 0)
                buf[out++] = '-';
        for (int i = 0; i < n; i++) {
                buf[out++] = digits[i];
                if ((n - i - 1) % 3 == 0 && i != n - 1)
                        buf[out++] = ',';
        }
        strcpy(buf + out, "원");
}

/* Korea Standard Time has no daylight saving: UTC+9 always. */
static void format_kst(time_t t, char buf[32])
{
        time_t shifted = t + 9 * 3600;
        struct tm tm;
        gmtime_r(&shifted, &tm);
        strftime(buf, 32, "%Y-%m-%d %H:%M KST", &tm);
}

/* "2시간 5분 (2h 5m)" */
static void format_remaining(time_t seconds, char buf[64])
{
        if (seconds < 0)
                seconds = 0;
        long long days = seconds / 86400, hours = seconds % 86400 / 3600,
                  minutes = seconds % 3600 / 60;
        if (days > 0)
                snprintf(buf, 64, "%lld일 %lld시간 (%lldd %lldh)", days, hours, days, hours);
        else if (hours > 0)
                snprintf(buf, 64, "%lld시간 %lld분 (%lldh %lldm)", hours, minutes, hours, minutes);
        else
                snprintf(buf, 64, "%lld분 %lld초 (%lldm %llds)", minutes, (long long)(seconds % 60),
                         minutes, (long long)(seconds % 60));
}

enum deal_state {
        DEAL_UPCOMING,
        DEAL_OPEN,
        DEAL_ENDED,
};

static enum deal_state deal_state_at(const struct deal *deal, time_t now)
{
        if (now < deal->starts_at)
                return DEAL_UPCOMING;
        if (now >= deal->ends_at)
                return DEAL_ENDED;
        return DEAL_OPEN;
}

static const char *deal_state_name(enum deal_state state)
{
        return state == DEAL_UPCOMING ? "upcoming" : state == DEAL_OPEN ? "open" : "ended";
}

static void stars(int rating, char buf[32])
{
        buf[0] = '\0';
        for (int i = 1; i <= 5; i++)
                strcat(buf, i <= rating ? "★" : "☆");
}

/* ------------------------------------------------------------------ 4a. HTML pages */

static void page_begin(struct html *page, const char *title, bool live_stock)
{
        html_raw(page, "<!doctype html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html_format(page, "<title>%s · TripDeal 트립딜</title>", title);
        html_raw(page, "<link rel=\"stylesheet\" href=\"/static/site.css\">");
        if (live_stock)
                html_raw(page, "<script src=\"/static/live.js\" defer></script>");
        html_raw(page,
                 "</head><body><header class=\"site\"><a class=\"brand\" href=\"/\">✈ TripDeal "
                 "트립딜</a><nav><a href=\"/\">홈 Home</a><a href=\"/sales\">타임세일 "
                 "Sales</a><a href=\"/community\">커뮤니티 Community</a></nav></header><main>");
}

static void page_end(struct html *page)
{
        html_raw(page, "</main><footer>© TripDeal 트립딜 · 매일 10:00 타임세일 Daily 10:00 flash "
                       "sale</footer></body></html>\n");
}

/*
 * A small landscape per destination, drawn inline (no image files, no font
 * needed): sky, sun and sea in a hue derived from the destination's name.
 */
static void render_destination_art(struct html *page, const char *destination)
{
        unsigned hash = 0;
        for (const unsigned char *p = (const unsigned char *)destination; p && *p; p++)
                hash = hash * 31 + *p;
        unsigned sea = 170 + hash % 60;       /* teal to blue */
        unsigned sun = 20 + (hash / 60) % 30; /* orange to gold */
        html_format(page,
                    "<svg class=\"art\" viewBox=\"0 0 120 40\" aria-hidden=\"true\">"
                    "<rect width=\"120\" height=\"40\" fill=\"hsl(%u,75%%,90%%)\"/>"
                    "<circle cx=\"96\" cy=\"13\" r=\"7\" fill=\"hsl(%u,90%%,62%%)\"/>"
                    "<path d=\"M0 30 Q30 20 60 30 T120 30 V40 H0Z\" fill=\"hsl(%u,60%%,48%%)\"/>"
                    "</svg>",
                    sea + 10, sun, sea);
}

/* "/": featured products.  Rendered from the catalog at most once per cache
 * period per thread (the busiest page; it carries no per-user content). */
static void handle_home(struct route_call *call)
{
        struct route_worker *worker = call->worker;
        int64_t now_ms = clock_monotonic_ms();

        if (worker->main_page && now_ms < worker->main_page_expires_ms &&
            stock_feed_database_ok(worker->app->stock)) {
                respond_static(call, "text/html; charset=utf-8", worker->main_page,
                               worker->main_page_length, NULL);
                return;
        }

        struct stock_catalog *catalog = NULL;
        struct tripdeal_error error = {0};
        int r = current_catalog(call, &catalog, &error);
        if (r < 0) {
                respond_store_error(call, r, &error, "list featured products");
                return;
        }
        /* The same catalog renders the same page: keep it. */
        if (worker->main_page && worker->main_page_generation == catalog->generation) {
                stock_catalog_unref(catalog);
                worker->main_page_expires_ms = now_ms + worker->app->config.main_page_cache_ms;
                respond_static(call, "text/html; charset=utf-8", worker->main_page,
                               worker->main_page_length, NULL);
                return;
        }

        const struct product *products = catalog->products;
        size_t n = catalog->n_products;
        struct html page = {0};
        page_begin(&page, "여행 특가 Travel deals", false);
        html_raw(&page,
                 "<section class=\"hero\"><h1>이번 주 추천 여행 Featured trips</h1><p>매일 "
                 "오전 10시, 한정 수량 타임세일. Every day at 10:00 KST: limited-stock flash "
                 "deals.</p><p><a class=\"button\" href=\"/sales\">타임세일 보기 See today's "
                 "sale →</a></p></section><section class=\"products\">");
        for (size_t i = 0; i < n; i++) {
                char price[40];
                format_won(products[i].price, price);
                html_raw(&page, "<article class=\"product\">");
                render_destination_art(&page, products[i].destination);
                html_format(&page,
                            "<p class=\"destination\">%s</p><h2>%s</h2>"
                            "<p>%s</p><p class=\"price\">%s부터 from</p></article>",
                            products[i].destination, products[i].title, products[i].summary, price);
        }
        if (n == 0)
                html_raw(&page, "<p>추천 상품이 아직 없습니다. No featured trips yet.</p>");
        html_raw(&page, "</section>");
        page_end(&page);
        uint64_t generation = catalog->generation;
        stock_catalog_unref(catalog);

        char *body = NULL;
        size_t length = 0;
        if (html_finish(&page, &body, &length) < 0) {
                html_clear(&page);
                respond_text(call, 500, "Internal error while rendering the page.\n");
                return;
        }
        free(worker->main_page);
        worker->main_page = body;
        worker->main_page_length = length;
        worker->main_page_generation = generation;
        worker->main_page_expires_ms = now_ms + worker->app->config.main_page_cache_ms;
        respond_static(call, "text/html; charset=utf-8", body, length, NULL);
}

static void render_deal_status(struct html *page, const struct deal *deal, time_t now)
{
        char when[32], remaining[64];
        switch (deal_state_at(deal, now)) {
        case DEAL_UPCOMING:
                format_kst(deal->starts_at, when);
                format_remaining(deal->starts_at - now, remaining);
                html_format(page,
                            "<p class=\"countdown upcoming\" data-starts-at=\"%lld\">시작까지 "
                            "<span class=\"remaining\">%s</span> 남음 · starts %s</p>",
                            (long long)deal->starts_at, remaining, when);
                break;
        case DEAL_OPEN:
                format_kst(deal->ends_at, when);
                format_remaining(deal->ends_at - now, remaining);
                html_format(page,
                            "<p class=\"countdown open\" data-ends-at=\"%lld\">마감까지 <span "
                            "class=\"remaining\">%s</span> 남음 · ends %s</p>",
                            (long long)deal->ends_at, remaining, when);
                break;
        case DEAL_ENDED:
                format_kst(deal->ends_at, when);
                html_format(page, "<p class=\"countdown ended\">종료됨 Ended %s</p>", when);
                break;
        }
        html_format(page,
                    "<p class=\"stock\">남은 수량 Remaining: <strong class=\"stock-left\" "
                    "data-stock-deal=\"%lld\">%lld</strong> / %lld <span class=\"sold-out\" "
                    "data-sold-out-deal=\"%lld\"%s>매진 Sold out</span></p>",
                    (long long)deal->id, (long long)deal->stock_left, (long long)deal->stock_total,
                    (long long)deal->id, deal->stock_left > 0 ? " hidden" : "");
}

static void render_deal_prices(struct html *page, const struct deal *deal)
{
        char price[40], list_price[40];
        format_won(deal->price, price);
        format_won(deal->list_price, list_price);
        long long discount =
                deal->list_price > 0
                        ? (long long)((deal->list_price - deal->price) * 100 / deal->list_price)
                        : 0;
        html_format(page, "<p class=\"price\"><del>%s</del> <strong>%s</strong>", list_price,
                    price);
        if (discount > 0)
                html_format(page, " <span class=\"discount\">-%lld%%</span>", discount);
        html_raw(page, "</p>");
}

/* "/sales": every deal with countdown and live stock. */
static void handle_sales(struct route_call *call)
{
        struct stock_catalog *catalog = NULL;
        struct tripdeal_error error = {0};
        int r = current_catalog(call, &catalog, &error);
        if (r < 0) {
                respond_store_error(call, r, &error, "list deals");
                return;
        }
        const struct deal *deals = catalog->deals;
        size_t n = catalog->n_deals;

        time_t now = time(NULL);
        struct html page = {0};
        page_begin(&page, "타임세일 Time sale", true);
        html_raw(&page, "<h1>오늘의 타임세일 Today's time sale</h1><p class=\"hint\">남은 수량은 "
                        "실시간으로 갱신됩니다. Stock updates live.</p>"
                        "<section class=\"deals\" data-ws=\"" ROUTE_WEBSOCKET_PATH "\">");
        /* Open deals first, then upcoming, then ended. */
        static const enum deal_state order[] = {DEAL_OPEN, DEAL_UPCOMING, DEAL_ENDED};
        for (size_t o = 0; o < ARRAY_SIZE(order); o++)
                for (size_t i = 0; i < n; i++) {
                        enum deal_state state = deal_state_at(&deals[i], now);
                        if (state != order[o])
                                continue;
                        struct deal deal = live_deal(call, &deals[i]);
                        html_format(&page,
                                    "<article class=\"deal deal-%s\"><h2><a href=\"/deals/%lld\">%s"
                                    "</a></h2>",
                                    deal_state_name(state), (long long)deal.id, deal.title);
                        render_deal_prices(&page, &deal);
                        render_deal_status(&page, &deal, now);
                        html_format(&page,
                                    "<p><a class=\"button\" href=\"/deals/%lld\">자세히 보기 "
                                    "Details</a></p></article>",
                                    (long long)deals[i].id);
                }
        if (n == 0)
                html_raw(&page, "<p>진행 중인 세일이 없습니다. No sales right now.</p>");
        html_raw(&page, "</section>");
        page_end(&page);
        stock_catalog_unref(catalog);
        respond_page(call, 200, &page);
}

/* "/deals/{id}": one deal and its claim form (CSRF token of the visitor's session). */
static void handle_deal(struct route_call *call)
{
        char user[SESSION_USER_LENGTH + 1], csrf[SESSION_CSRF_LENGTH + 1];
        char cookie[HTTP_HEADER_VALUE_MAX];
        if (!begin_session(call, user, csrf, cookie))
                return;

        /* From the catalog when it has the deal (strings borrowed while we hold
         * it), else from the database (a deal newer than the catalog, or an
         * unknown id). */
        struct deal deal = {0};
        bool owned = false;
        struct stock_catalog *catalog = NULL;
        struct tripdeal_error error = {0};
        int r = current_catalog(call, &catalog, &error);
        for (size_t i = 0; r >= 0 && i < catalog->n_deals && !deal.id; i++)
                if (catalog->deals[i].id == call->id)
                        deal = live_deal(call, &catalog->deals[i]);
        if (r >= 0 && !deal.id) {
                struct store *store;
                r = worker_store(call, &store, &error);
                if (r >= 0)
                        r = store_get_deal(store, call->id, &deal, &error);
                owned = r >= 0;
        }
        if (r < 0)
                stock_catalog_unref(TAKE_PTR(catalog));
        if (r == -ENOENT) {
                respond_error(call, 404, "no_such_deal", "There is no deal with this number.");
                return;
        }
        if (r < 0) {
                respond_store_error(call, r, &error, "get deal");
                return;
        }

        time_t now = time(NULL);
        enum deal_state state = deal_state_at(&deal, now);
        struct html page = {0};
        page_begin(&page, deal.title, true);
        const char *claimed = http_query_value(call->request, "claimed");
        if (claimed && strcmp(claimed, "1") == 0)
                html_raw(&page, "<p class=\"notice ok\">구매 완료! 예약 확정 메일을 확인하세요. "
                                "Claimed: the deal is yours.</p>");
        html_format(&page,
                    "<article class=\"deal deal-%s deal-page\" data-ws=\"" ROUTE_WEBSOCKET_PATH
                    "\"><h1>%s</h1>",
                    deal_state_name(state), deal.title);
        render_deal_prices(&page, &deal);
        render_deal_status(&page, &deal, now);
        if (state == DEAL_OPEN && deal.stock_left > 0) {
                html_format(&page,
                            "<form class=\"claim\" method=\"post\" action=\"/deals/%lld/claim\">"
                            "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                            "<button type=\"submit\">지금 구매하기 Claim now</button></form>",
                            (long long)deal.id, csrf);
        } else if (state == DEAL_OPEN) {
                html_raw(&page, "<p class=\"notice\">매진되었습니다. Sold out.</p>");
        } else if (state == DEAL_UPCOMING) {
                html_raw(&page, "<p class=\"notice\">곧 시작합니다. This deal opens soon.</p>");
        } else {
                html_raw(&page, "<p class=\"notice\">종료된 세일입니다. This sale has ended.</p>");
        }
        html_raw(&page, "</article>");
        page_end(&page);
        if (owned)
                store_deal_clear(&deal);
        stock_catalog_unref(catalog);
        respond_page(call, 200, &page);
        keep_cookie(call, cookie);
}

/* Hand the claim to the claim executor; routes_finish_claim() answers. */
static void defer_claim(struct route_call *call, const char *user, bool api)
{
        *call->claim = (struct claim_request){.deal_id = call->id, .api = api};
        memcpy(call->claim->user, user, SESSION_USER_LENGTH + 1);
        call->deferred = true;
}

struct claim_answer {
        int status;
        const char *error;
        const char *message;
};

static struct claim_answer claim_answer(enum claim_outcome outcome)
{
        switch (outcome) {
        case CLAIM_OK:
                return (struct claim_answer){201, NULL, "Claimed."};
        case CLAIM_SOLD_OUT:
                return (struct claim_answer){409, "sold_out",
                                             "매진되었습니다. This deal is sold out."};
        case CLAIM_ALREADY_CLAIMED:
                return (struct claim_answer){409, "already_claimed",
                                             "이미 구매하셨습니다. You already claimed this deal "
                                             "(one per person)."};
        case CLAIM_NOT_OPEN:
                return (struct claim_answer){422, "not_open",
                                             "지금은 구매할 수 없습니다. This deal is not open now "
                                             "(it has not started or has ended)."};
        case CLAIM_NO_SUCH_DEAL:
        default:
                return (struct claim_answer){404, "no_such_deal",
                                             "There is no deal with this number."};
        }
}

/* POST /deals/{id}/claim: the HTML form; success redirects back to the deal page. */
static void handle_deal_claim_form(struct route_call *call)
{
        struct app *app = call->worker->app;
        char user[SESSION_USER_LENGTH + 1];
        _cleanup_free_ char *token = NULL;

        if (!form_content_type(call->request)) {
                respond_error(call, 415, "unsupported_media_type",
                              "Send the form as application/x-www-form-urlencoded.");
                return;
        }
        if (!request_user(call, user)) {
                metrics_count_claim(app->metrics, CLAIM_METRIC_FORBIDDEN);
                respond_error(call, 403, "no_session",
                              "Your session is missing or invalid. Reload the deal page and "
                              "try again.");
                return;
        }
        int r = http_form_value(call->request->body, call->request->body_length, "csrf",
                                SESSION_CSRF_LENGTH + 8, &token);
        if (r < 0 || !session_csrf_check(&app->keys, user, token)) {
                metrics_count_claim(app->metrics, CLAIM_METRIC_FORBIDDEN);
                respond_error(call, 403, "bad_csrf",
                              "The form's security token is missing or wrong. Reload the "
                              "deal page and try again.");
                return;
        }

        defer_claim(call, user, false);
}

/* "/community?page=N": newest reviews first. */
#define POSTS_PER_PAGE 10

static void handle_community(struct route_call *call)
{
        int64_t page_number = 1;
        const char *page_arg = http_query_value(call->request, "page");
        if (page_arg && http_parse_positive_int(page_arg, &page_number) < 0) {
                respond_error(call, 400, "bad_page",
                              "The page number must be a whole number from 1.");
                return;
        }
        if (page_number > 1000000) {
                respond_error(call, 404, "no_such_page", "There is no such page.");
                return;
        }

        struct store *store;
        struct post *posts = NULL;
        size_t n = 0;
        int64_t total = 0;
        struct tripdeal_error error = {0};
        int r = worker_store(call, &store, &error);
        if (r >= 0)
                r = store_list_posts(store, (int)page_number, POSTS_PER_PAGE, &posts, &n, &total,
                                     &error);
        if (r < 0) {
                respond_store_error(call, r, &error, "list posts");
                return;
        }

        int64_t pages = total > 0 ? (total + POSTS_PER_PAGE - 1) / POSTS_PER_PAGE : 1;
        if (page_number > pages) {
                store_posts_free(posts, n);
                respond_error(call, 404, "no_such_page", "There is no such page.");
                return;
        }

        struct html page = {0};
        page_begin(&page, "커뮤니티 Community", false);
        html_raw(&page,
                 "<h1>여행 후기 Travel reviews</h1><p><a class=\"button\" "
                 "href=\"/community/new\">후기 쓰기 Write a review</a></p><ol class=\"posts\">");
        for (size_t i = 0; i < n; i++) {
                char rating[32], when[32], excerpt[200];
                stars(posts[i].rating, rating);
                format_kst(posts[i].created_at, when);
                /* Cut at a character boundary, never inside a UTF-8 sequence. */
                size_t length = strlen(posts[i].body);
                if (length >= sizeof(excerpt) - 4) {
                        length = sizeof(excerpt) - 4;
                        while (length > 0 && ((unsigned char)posts[i].body[length] & 0xc0) == 0x80)
                                length--;
                        memcpy(excerpt, posts[i].body, length);
                        strcpy(excerpt + length, "…");
                } else {
                        strcpy(excerpt, posts[i].body);
                }
                html_format(&page,
                            "<li><h2><a href=\"/community/posts/%lld\">%s</a></h2><p "
                            "class=\"meta\"><span class=\"rating\" title=\"%d/5\">%s</span> · "
                            "%s · %s</p><p class=\"excerpt\">%s</p></li>",
                            (long long)posts[i].id, posts[i].title, posts[i].rating, rating,
                            posts[i].author, when, excerpt);
        }
        html_raw(&page, "</ol>");
        if (n == 0)
                html_raw(&page, "<p>아직 후기가 없습니다. No reviews yet.</p>");
        html_raw(&page, "<nav class=\"pager\">");
        if (page_number > 1)
                html_format(&page, "<a rel=\"prev\" href=\"/community?page=%lld\">← 최신 Newer</a>",
                            (long long)(page_number - 1));
        html_format(&page, "<span>%lld / %lld</span>", (long long)page_number, (long long)pages);
        if (page_number < pages)
                html_format(&page, "<a rel=\"next\" href=\"/community?page=%lld\">이전 Older →</a>",
                            (long long)(page_number + 1));
        html_raw(&page, "</nav>");
        page_end(&page);
        store_posts_free(posts, n);
        respond_page(call, 200, &page);
}

/* "/community/posts/{id}" */
static void handle_post(struct route_call *call)
{
        struct store *store;
        struct post post = {0};
        struct tripdeal_error error = {0};
        int r = worker_store(call, &store, &error);
        if (r >= 0)
                r = store_get_post(store, call->id, &post, &error);
        if (r == -ENOENT) {
                respond_error(call, 404, "no_such_post", "There is no post with this number.");
                return;
        }
        if (r < 0) {
                respond_store_error(call, r, &error, "get post");
                return;
        }

        char rating[32], when[32];
        stars(post.rating, rating);
        format_kst(post.created_at, when);
        struct html page = {0};
        page_begin(&page, post.title, false);
        html_format(&page,
                    "<article class=\"post\"><h1>%s</h1><p class=\"meta\"><span class=\"rating\" "
                    "title=\"%d/5\">%s</span> · %s · %s</p><div class=\"body\">%s</div></article>"
                    "<p><a href=\"/community\">← 목록 All reviews</a></p>",
                    post.title, post.rating, rating, post.author, when, post.body);
        page_end(&page);
        store_post_clear(&post);
        respond_page(call, 200, &page);
}

/* Limits of a review, in characters (not bytes). */
#define AUTHOR_MAX_CHARS 40
#define TITLE_MAX_CHARS  120
#define BODY_MAX_CHARS   5000

struct post_fields {
        const char *author;
        const char *title;
        const char *body;
        const char *rating;
};

static void render_post_form(struct html *page, const char *csrf, const struct post_fields *values,
                             const char *problem)
{
        html_raw(page, "<h1>후기 쓰기 Write a review</h1>");
        if (problem)
                html_format(page, "<p class=\"notice error\">%s</p>", problem);
        html_format(page,
                    "<form class=\"post-form\" method=\"post\" action=\"/community/posts\">"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                    "<label>이름 Name <input name=\"author\" maxlength=\"%d\" value=\"%s\" "
                    "placeholder=\"익명 Anonymous\"></label>"
                    "<label>제목 Title <input name=\"title\" maxlength=\"%d\" required "
                    "value=\"%s\"></label>"
                    "<label>평점 Rating <select name=\"rating\">",
                    csrf, AUTHOR_MAX_CHARS, values->author ? values->author : "", TITLE_MAX_CHARS,
                    values->title ? values->title : "");
        for (int i = 5; i >= 1; i--) {
                char label[32];
                stars(i, label);
                bool selected = values->rating ? values->rating[0] == '0' + i && !values->rating[1]
                                               : i == 5;
                html_format(page, "<option value=\"%d\"%s>%s</option>", i,
                            selected ? " selected" : "", label);
        }
        html_format(page,
                    "</select></label><label>내용 Review <textarea name=\"body\" rows=\"8\" "
                    "maxlength=\"%d\" required>%s</textarea></label><button "
                    "type=\"submit\">올리기 Post</button></form>",
                    BODY_MAX_CHARS, values->body ? values->body : "");
}

/* "/community/new" */
static void handle_post_form(struct route_call *call)
{
        char user[SESSION_USER_LENGTH + 1], csrf[SESSION_CSRF_LENGTH + 1];
        char cookie[HTTP_HEADER_VALUE_MAX];
        if (!begin_session(call, user, csrf, cookie))
                return;

        struct html page = {0};
        page_begin(&page, "후기 쓰기 Write a review", false);
        render_post_form(&page, csrf, &(struct post_fields){0}, NULL);
        page_end(&page);
        respond_page(call, 200, &page);
        keep_cookie(call, cookie);
}

/* One form field, checked: present (unless optional), decodable, clean UTF-8, within limits. */
static int read_field(const struct http_request *request, const char *name, size_t max_chars,
                      bool optional, char **ret_value, const char **ret_problem)
{
        char *value = NULL;
        /* A character is at most 4 bytes of UTF-8. */
        int r = http_form_value(request->body, request->body_length, name, max_chars * 4, &value);
        if (r == -ENOENT && optional) {
                *ret_value = NULL;
                return 0;
        }
        if (r == -ENOENT) {
                *ret_problem = "A required field is missing.";
                return -EINVAL;
        }
        if (r == -E2BIG) {
                *ret_problem = "A field is too long.";
                return -EINVAL;
        }
        if (r < 0) {
                *ret_problem = "The form is not correctly encoded.";
                return -EBADMSG;
        }
        if (!http_text_is_clean_utf8(value, strlen(value))) {
                free(value);
                *ret_problem = "A field is not valid UTF-8 text.";
                return -EINVAL;
        }
        if (http_utf8_length(value) > max_chars) {
                free(value);
                *ret_problem = "A field is too long.";
                return -EINVAL;
        }
        *ret_value = value;
        return 0;
}

static bool is_blank(const char *s)
{
        return !s || s[strspn(s, " \t\r\n")] == '\0';
}

/* POST /community/posts: a new review; success redirects to it. */
static void handle_post_create(struct route_call *call)
{
        struct app *app = call->worker->app;
        char user[SESSION_USER_LENGTH + 1], csrf[SESSION_CSRF_LENGTH + 1];
        _cleanup_free_ char *token = NULL, *author = NULL, *title = NULL, *body = NULL,
                            *rating_text = NULL;

        if (!form_content_type(call->request)) {
                respond_error(call, 415, "unsupported_media_type",
                              "Send the form as application/x-www-form-urlencoded.");
                return;
        }
        if (!request_user(call, user)) {
                respond_error(call, 403, "no_session",
                              "Your session is missing or invalid. Reload the form and try "
                              "again.");
                return;
        }
        int r = http_form_value(call->request->body, call->request->body_length, "csrf",
                                SESSION_CSRF_LENGTH + 8, &token);
        if (r < 0 || !session_csrf_check(&app->keys, user, token)) {
                respond_error(call, 403, "bad_csrf",
                              "The form's security token is missing or wrong. Reload the "
                              "form and try again.");
                return;
        }

        const char *problem = NULL;
        int status = 422;
        r = read_field(call->request, "author", AUTHOR_MAX_CHARS, true, &author, &problem);
        if (r >= 0)
                r = read_field(call->request, "title", TITLE_MAX_CHARS, false, &title, &problem);
        if (r >= 0)
                r = read_field(call->request, "body", BODY_MAX_CHARS, false, &body, &problem);
        if (r >= 0)
                r = read_field(call->request, "rating", 3, true, &rating_text, &problem);
        if (r == -EBADMSG)
                status = 400;
        int64_t rating = 5;
        if (r >= 0 && rating_text &&
            (http_parse_positive_int(rating_text, &rating) < 0 || rating > 5)) {
                r = -EINVAL;
                problem = "The rating must be 1 to 5 stars.";
        }
        if (r >= 0 && (is_blank(title) || is_blank(body))) {
                r = -EINVAL;
                problem = "제목과 내용을 입력하세요. Title and review must not be empty.";
        }
        if (r < 0) {
                if (session_csrf_token(&app->keys, user, csrf) < 0) {
                        respond_error(call, 500, "internal", "Could not render the form.");
                        return;
                }
                struct html page = {0};
                page_begin(&page, "후기 쓰기 Write a review", false);
                /* Values that failed to decode or are not text are not echoed back. */
                struct post_fields values = {.author = author, .title = title, .body = body};
                render_post_form(&page, csrf, &values, problem);
                page_end(&page);
                respond_page(call, status, &page);
                return;
        }

        struct store *store;
        int64_t id = 0;
        struct tripdeal_error error = {0};
        r = worker_store(call, &store, &error);
        if (r >= 0)
                r = store_create_post(store, is_blank(author) ? "익명 Anonymous" : author, title,
                                      body, (int)rating, time(NULL), &id, &error);
        if (r < 0) {
                respond_store_error(call, r == -ENOENT ? -EIO : r, &error, "create post");
                return;
        }

        respond_text(call, 303, "Posted.\n");
        snprintf(call->response->location, sizeof(call->response->location),
                 "/community/posts/%" PRId64, id);
}

/* ------------------------------------------------------------------ 4b. JSON API */

/* GET /api/session: {"user","csrf"}, setting the signed cookie when there is none. */
static void handle_api_session(struct route_call *call)
{
        char user[SESSION_USER_LENGTH + 1], csrf[SESSION_CSRF_LENGTH + 1];
        char cookie[HTTP_HEADER_VALUE_MAX];
        if (!begin_session(call, user, csrf, cookie))
                return;
        respond_json(call, 200, json_pack("{s:s, s:s}", "user", user, "csrf", csrf));
        keep_cookie(call, cookie);
}

/* GET /api/deals: every deal; times are RFC 3339 UTC strings. */
static void handle_api_deals(struct route_call *call)
{
        struct store *store;
        struct deal *deals = NULL;
        size_t n = 0;
        struct tripdeal_error error = {0};
        int r = worker_store(call, &store, &error);
        if (r >= 0)
                r = store_list_deals(store, &deals, &n, &error);
        if (r < 0) {
                respond_store_error(call, r, &error, "list deals");
                return;
        }

        time_t now = time(NULL);
        json_t *list = json_array();
        for (size_t i = 0; list && i < n; i++) {
                char starts[32], ends[32];
                clock_format_rfc3339(deals[i].starts_at, starts, sizeof(starts));
                clock_format_rfc3339(deals[i].ends_at, ends, sizeof(ends));
                json_array_append_new(
                        list,
                        json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s}", "id",
                                  (json_int_t)deals[i].id, "product_id",
                                  (json_int_t)deals[i].product_id, "title", deals[i].title, "price",
                                  (json_int_t)deals[i].price, "list_price",
                                  (json_int_t)deals[i].list_price, "stock_total",
                                  (json_int_t)deals[i].stock_total, "stock_left",
                                  (json_int_t)deals[i].stock_left, "starts_at", starts, "ends_at",
                                  ends, "state", deal_state_name(deal_state_at(&deals[i], now))));
        }
        store_deals_free(deals, n);
        respond_json(call, 200, list);
}

/* POST /api/deals/{id}/claims: session cookie + X-CSRF-Token header. */
static void handle_api_claim(struct route_call *call)
{
        struct app *app = call->worker->app;
        char user[SESSION_USER_LENGTH + 1];
        if (!request_user(call, user)) {
                metrics_count_claim(app->metrics, CLAIM_METRIC_FORBIDDEN);
                respond_error(call, 403, "no_session",
                              "Missing or invalid session cookie: call GET /api/session "
                              "first.");
                return;
        }
        if (!session_csrf_check(&app->keys, user, call->request->csrf_header)) {
                metrics_count_claim(app->metrics, CLAIM_METRIC_FORBIDDEN);
                respond_error(call, 403, "bad_csrf",
                              "Missing or wrong X-CSRF-Token header: use the csrf value "
                              "from GET /api/session.");
                return;
        }

        defer_claim(call, user, true);
}

/* The answer once the claim executor has run the claim (on the worker thread). */
void routes_finish_claim(struct route_worker *worker, const struct claim_request *claim, int error,
                         enum claim_outcome outcome, int64_t stock_left, const char *request_id,
                         struct http_response *response)
{
        struct app *app = worker->app;
        struct http_request request = {
                .method = HTTP_METHOD_POST,
                .path = claim->api ? "/api/deals/{id}/claims" : "/deals/{id}/claim",
                .request_id = request_id,
        };
        struct route_call call = {
                .worker = worker, .request = &request, .response = response, .id = claim->deal_id};

        if (error == -ECANCELED) {
                metrics_count_claim(app->metrics, CLAIM_METRIC_ERROR);
                respond_error(&call, 503, "shutting_down",
                              "This server is shutting down; please try again.");
                return;
        }
        if (error < 0) {
                /* The claim executor logged the database's reason already. */
                metrics_count_claim(app->metrics, CLAIM_METRIC_ERROR);
                respond_error(&call, 503, "database_unavailable",
                              "The database is unavailable right now; please try again shortly.");
                return;
        }

        static const enum claim_metric metric[] = {
                [CLAIM_OK] = CLAIM_METRIC_CLAIMED,
                [CLAIM_SOLD_OUT] = CLAIM_METRIC_SOLD_OUT,
                [CLAIM_ALREADY_CLAIMED] = CLAIM_METRIC_ALREADY,
                [CLAIM_NOT_OPEN] = CLAIM_METRIC_NOT_OPEN,
                [CLAIM_NO_SUCH_DEAL] = CLAIM_METRIC_NO_SUCH_DEAL,
        };
        if ((unsigned)outcome < ARRAY_SIZE(metric))
                metrics_count_claim(app->metrics, metric[outcome]);
        /* Push the new stock to every open page at once (no wait for the poller). */
        if (outcome == CLAIM_OK || outcome == CLAIM_SOLD_OUT)
                stock_feed_set(app->stock, claim->deal_id, -1, stock_left);
        log_emit(LOG_LEVEL_DEBUG,
                 json_pack("{s:s, s:I, s:s, s:I}", "request_id", request_id, "deal",
                           (json_int_t)claim->deal_id, "outcome", claim_outcome_to_string(outcome),
                           "stock_left", (json_int_t)stock_left),
                 "claim");

        struct claim_answer answer = claim_answer(outcome);
        if (outcome != CLAIM_OK) {
                respond_error(&call, answer.status, answer.error, answer.message);
                return;
        }
        if (claim->api) {
                respond_json(&call, 201,
                             json_pack("{s:b, s:I, s:s, s:I}", "claimed", 1, "deal",
                                       (json_int_t)claim->deal_id, "user", claim->user,
                                       "stock_left", (json_int_t)stock_left));
                return;
        }
        respond_text(&call, 303, "Claimed. See the deal page.\n");
        snprintf(response->location, sizeof(response->location), "/deals/%" PRId64 "?claimed=1",
                 claim->deal_id);
}

/* ------------------------------------------------------------------ 4c. operations and assets */

static void handle_healthz(struct route_call *call)
{
        respond_text(call, 200, "ok\n");
}

static void handle_readyz(struct route_call *call)
{
        struct app *app = call->worker->app;
        if (atomic_load(&app->draining)) {
                respond_text(call, 503, "not ready: shutting down (draining)\n");
                return;
        }
        if (!stock_feed_database_ok(app->stock)) {
                respond_text(call, 503, "not ready: database unreachable\n");
                return;
        }
        respond_text(call, 200, "ready\n");
}

static void handle_metrics(struct route_call *call)
{
        struct app *app = call->worker->app;
        struct deal_stock_sample *samples = NULL;
        size_t n = 0;
        char *text = NULL;
        size_t length = 0;
        bool ready = !atomic_load(&app->draining) && stock_feed_database_ok(app->stock);

        int r = stock_feed_samples(app->stock, &samples, &n);
        if (r >= 0)
                r = metrics_render(app->metrics, samples, n, ready, &text, &length);
        free(samples);
        if (r < 0) {
                respond_text(call, 500, "could not render metrics\n");
                return;
        }
        respond_body(call, 200, "text/plain; version=0.0.4; charset=utf-8", text, length);
}

static void handle_css(struct route_call *call)
{
        respond_static(call, "text/css; charset=utf-8", asset_site_css, strlen(asset_site_css),
                       "public, max-age=3600");
}

static void handle_js(struct route_call *call)
{
        respond_static(call, "text/javascript; charset=utf-8", asset_live_js, strlen(asset_live_js),
                       "public, max-age=3600");
}

static void handle_websocket_without_upgrade(struct route_call *call)
{
        respond_error(call, 426, "upgrade_required",
                      "This address is a WebSocket (protocol " ROUTE_WEBSOCKET_PROTOCOL ").");
}
