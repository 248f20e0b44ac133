/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The route handlers in-process against a real SQLite database (no sockets):
 * pages, sessions, CSRF, claims, posts, errors, readiness.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"
#include "claims.h"
#include "routes.h"
#include "store.h"
#include "support.h"

struct fixture {
        char *directory; /* support_temp_dir() */
        char url[128];
        struct app app;
        struct route_worker worker;
        struct store *claim_store;
        bool claim_store_needs_ping;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        assert_int_equal(support_temp_dir("routes", &f->directory), 0);
        snprintf(f->url, sizeof(f->url), "sqlite:%s/test.db", f->directory);

        struct store *store = NULL;
        assert_int_equal(store_open(&(struct store_options){.url = f->url}, &store, NULL), 0);
        assert_int_equal(store_migrate(store, NULL), 0);
        assert_int_equal(store_seed_demo(store, time(NULL), NULL), 0);
        store_close(store);

        f->app.config = (struct app_config){.database_url = f->url, .main_page_cache_ms = 1000};
        assert_int_equal(session_keys_from_secret("unit-test-secret-0123456789", 27, &f->app.keys),
                         0);
        static const char *const names[] = {"/"};
        assert_int_equal(metrics_new(names, 1, &f->app.metrics), 0);
        assert_int_equal(
                stock_feed_new(&(struct stock_feed_options){.database_url = f->url}, &f->app.stock),
                0);
        f->worker.app = &f->app;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        route_worker_clear(&f->worker);
        store_close(f->claim_store);
        stock_feed_free(f->app.stock);
        metrics_free(f->app.metrics);
        assert_int_equal(support_remove_tree(f->directory), 0);
        free(f->directory);
        free(f);
        return 0;
}

struct call {
        enum http_method method;
        const char *path;
        const char *query; /* one "name=value" or NULL */
        const char *cookie;
        const char *csrf;
        const char *content_type;
        const char *body;
};

static void run(struct fixture *f, const struct call *c, struct http_response *response)
{
        struct http_request request = {
                .method = c->method,
                .path = c->path,
                .cookie_header = c->cookie,
                .csrf_header = c->csrf,
                .content_type = c->content_type,
                .body = c->body,
                .body_length = c->body ? strlen(c->body) : 0,
                .request_id = "test",
        };
        if (c->query) {
                request.query_args[0] = c->query;
                request.n_query_args = 1;
        }
        size_t route = 0;
        struct claim_request claim;
        *response = (struct http_response){0};
        if (!routes_handle(&f->worker, &request, response, &route, &claim))
                return;
        /* A claim: run it as the executor would, then let the route answer. */
        struct claim_job job = {.deal_id = claim.deal_id, .now = time(NULL)};
        memcpy(job.user, claim.user, sizeof(job.user));
        claim_job_run(&job, f->url, f->app.stock, &f->claim_store, &f->claim_store_needs_ping);
        routes_finish_claim(&f->worker, &claim, job.error, job.outcome, job.stock_left, "test",
                            response);
}

static bool body_has(const struct http_response *response, const char *text)
{
        return response->body && strstr(response->body, text);
}

/* A session: the cookie header value and the CSRF token from GET /api/session. */
static void new_session(struct fixture *f, char cookie[128], char csrf[64])
{
        struct http_response response;
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/api/session"}, &response);
        assert_int_equal(response.status, 200);
        assert_non_null(strstr(response.set_cookie, "HttpOnly"));
        size_t length = strcspn(response.set_cookie, ";");
        assert_true(length < 128);
        memcpy(cookie, response.set_cookie, length);
        cookie[length] = '\0';
        json_t *document = json_loads(response.body, 0, NULL);
        assert_non_null(document);
        snprintf(csrf, 64, "%s", json_string_value(json_object_get(document, "csrf")));
        json_decref(document);
        http_response_clear(&response);
}

static int64_t open_deal(struct fixture *f, int64_t *ret_stock_left)
{
        struct http_response response;
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/api/deals"}, &response);
        assert_int_equal(response.status, 200);
        json_t *deals = json_loads(response.body, 0, NULL);
        assert_true(json_is_array(deals));
        int64_t id = 0;
        size_t i;
        json_t *deal;
        json_array_foreach (deals, i, deal) {
                if (strcmp(json_string_value(json_object_get(deal, "state")), "open") == 0) {
                        id = json_integer_value(json_object_get(deal, "id"));
                        *ret_stock_left = json_integer_value(json_object_get(deal, "stock_left"));
                        /* Times are RFC 3339 UTC strings. */
                        const char *starts = json_string_value(json_object_get(deal, "starts_at"));
                        assert_non_null(starts);
                        assert_int_equal(starts[strlen(starts) - 1], 'Z');
                        break;
                }
        }
        json_decref(deals);
        http_response_clear(&response);
        assert_true(id > 0);
        return id;
}

/*
 * The pages' catalog: a reload publishes a new one while a reader still holding
 * the old one can keep using it (the sanitizer run catches a use after free),
 * and the deal page shows live stock from the feed, not the catalog's copy.
 */
static void test_catalog(void **state)
{
        struct fixture *f = *state;
        struct http_response response;

        int64_t stock_left = 0;
        int64_t deal_id = open_deal(f, &stock_left);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/"}, &response);
        assert_int_equal(response.status, 200);
        http_response_clear(&response);

        struct stock_catalog *old = stock_feed_catalog(f->app.stock);
        assert_non_null(old);
        assert_true(old->n_deals > 0);
        assert_true(old->n_products > 0);

        struct store *store = NULL;
        assert_int_equal(store_open(&(struct store_options){.url = f->url}, &store, NULL), 0);
        assert_int_equal(stock_feed_reload(f->app.stock, store, NULL), 0);
        store_close(store);
        struct stock_catalog *current = stock_feed_catalog(f->app.stock);
        assert_non_null(current);
        assert_true(current != old);
        assert_true(current->generation > old->generation);
        /* The old catalog is still whole for its holder. */
        assert_true(strlen(old->deals[0].title) > 0);
        assert_true(strlen(old->products[0].destination) > 0);
        stock_catalog_unref(old);
        stock_catalog_unref(current);

        /* Live stock: a value the feed learned (a claim) shows at once. */
        stock_feed_set(f->app.stock, deal_id, -1, 7);
        char path[64];
        snprintf(path, sizeof(path), "/deals/%lld", (long long)deal_id);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = path}, &response);
        assert_int_equal(response.status, 200);
        assert_true(body_has(&response, ">7</strong>"));
        http_response_clear(&response);
}

static void test_pages(void **state)
{
        struct fixture *f = *state;
        struct http_response response;

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/"}, &response);
        assert_int_equal(response.status, 200);
        assert_string_equal(response.content_type, "text/html; charset=utf-8");
        assert_true(body_has(&response, "제주"));
        assert_true(body_has(&response, "</html>"));
        http_response_clear(&response);

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/sales"}, &response);
        assert_int_equal(response.status, 200);
        assert_true(body_has(&response, "data-ws=\"/ws/stock\""));
        assert_true(body_has(&response, "data-ends-at="));
        http_response_clear(&response);

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/community", .query = "page=abc"},
            &response);
        assert_int_equal(response.status, 400);
        http_response_clear(&response);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/community", .query = "page=999"},
            &response);
        assert_int_equal(response.status, 404);
        http_response_clear(&response);

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/deals/999999"}, &response);
        assert_int_equal(response.status, 404);
        assert_true(body_has(&response, "<html"));
        http_response_clear(&response);

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/api/nothing"}, &response);
        assert_int_equal(response.status, 404);
        assert_string_equal(response.content_type, "application/json");
        assert_true(body_has(&response, "\"error\":\"not_found\""));
        http_response_clear(&response);

        run(f, &(struct call){.method = HTTP_METHOD_POST, .path = "/sales"}, &response);
        assert_int_equal(response.status, 405);
        assert_string_equal(response.allow, "GET, HEAD");
        http_response_clear(&response);
}

static void test_api_claims(void **state)
{
        struct fixture *f = *state;
        struct http_response response;
        char cookie[128], csrf[64], other_cookie[128], other_csrf[64];
        new_session(f, cookie, csrf);
        new_session(f, other_cookie, other_csrf);
        int64_t stock_left = 0;
        int64_t id = open_deal(f, &stock_left);
        char path[64];
        snprintf(path, sizeof(path), "/api/deals/%lld/claims", (long long)id);

        struct call claim = {.method = HTTP_METHOD_POST, .path = path};
        run(f, &claim, &response); /* no cookie */
        assert_int_equal(response.status, 403);
        assert_true(body_has(&response, "no_session"));
        http_response_clear(&response);

        claim.cookie = cookie;
        run(f, &claim, &response); /* no token */
        assert_int_equal(response.status, 403);
        assert_true(body_has(&response, "bad_csrf"));
        http_response_clear(&response);

        claim.csrf = other_csrf; /* another session's token */
        run(f, &claim, &response);
        assert_int_equal(response.status, 403);
        http_response_clear(&response);

        claim.csrf = csrf;
        run(f, &claim, &response);
        assert_int_equal(response.status, 201);
        http_response_clear(&response);
        run(f, &claim, &response);
        assert_int_equal(response.status, 409);
        assert_true(body_has(&response, "already_claimed"));
        http_response_clear(&response);

        int64_t after = 0;
        open_deal(f, &after);
        assert_int_equal(after, stock_left - 1);

        /* The HTML form: CSRF in the body, success is a redirect to the deal page. */
        char form_path[64], form_body[128];
        snprintf(form_path, sizeof(form_path), "/deals/%lld/claim", (long long)id);
        snprintf(form_body, sizeof(form_body), "csrf=%s", other_csrf);
        run(f,
            &(struct call){.method = HTTP_METHOD_POST,
                           .path = form_path,
                           .cookie = other_cookie,
                           .content_type = "application/x-www-form-urlencoded",
                           .body = form_body},
            &response);
        assert_int_equal(response.status, 303);
        assert_non_null(strstr(response.location, "claimed=1"));
        http_response_clear(&response);

        claim.path = "/api/deals/999999/claims";
        run(f, &claim, &response);
        assert_int_equal(response.status, 404);
        http_response_clear(&response);
}

static void test_post_escaped(void **state)
{
        struct fixture *f = *state;
        struct http_response response;
        char cookie[128], csrf[64], body[512];
        new_session(f, cookie, csrf);

        snprintf(body, sizeof(body),
                 "csrf=%s&title=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E&body=%%3Cimg+src%%3Dx+"
                 "onerror%%3Dalert(1)%%3E+%%26&rating=4",
                 csrf);
        struct call post = {.method = HTTP_METHOD_POST,
                            .path = "/community/posts",
                            .cookie = cookie,
                            .content_type = "application/x-www-form-urlencoded",
                            .body = body};
        run(f, &post, &response);
        assert_int_equal(response.status, 303);
        char location[HTTP_HEADER_VALUE_MAX];
        snprintf(location, sizeof(location), "%s", response.location);
        http_response_clear(&response);
        assert_int_equal(strncmp(location, "/community/posts/", 17), 0);

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = location}, &response);
        assert_int_equal(response.status, 200);
        assert_true(body_has(&response, "&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_true(body_has(&response, "&lt;img src=x onerror=alert(1)&gt; &amp;"));
        assert_false(body_has(&response, "<script>alert"));
        assert_false(body_has(&response, "<img src=x"));
        http_response_clear(&response);

        /* Wrong token: 403 and nothing stored; invalid rating: 422; not a form: 415. */
        snprintf(body, sizeof(body), "csrf=wrong&title=csrf-test&body=x&rating=4");
        run(f, &post, &response);
        assert_int_equal(response.status, 403);
        http_response_clear(&response);
        snprintf(body, sizeof(body), "csrf=%s&title=t&body=b&rating=9", csrf);
        run(f, &post, &response);
        assert_int_equal(response.status, 422);
        http_response_clear(&response);
        snprintf(body, sizeof(body), "csrf=%s&title=%%FF%%FE&body=b", csrf);
        run(f, &post, &response);
        assert_int_equal(response.status, 422);
        http_response_clear(&response);
        post.content_type = "text/plain";
        run(f, &post, &response);
        assert_int_equal(response.status, 415);
        http_response_clear(&response);

        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/community"}, &response);
        assert_false(body_has(&response, "csrf-test"));
        http_response_clear(&response);
}

static void test_readiness(void **state)
{
        struct fixture *f = *state;
        struct http_response response;
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/readyz"}, &response);
        assert_int_equal(response.status, 200);
        http_response_clear(&response);

        atomic_store(&f->app.draining, true);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/readyz"}, &response);
        assert_int_equal(response.status, 503);
        assert_true(body_has(&response, "draining"));
        http_response_clear(&response);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/healthz"}, &response);
        assert_int_equal(response.status, 200);
        http_response_clear(&response);
        atomic_store(&f->app.draining, false);

        /* Database reported down: readiness off and pages answer 503 with a reason. */
        stock_feed_database_failed(f->app.stock);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/readyz"}, &response);
        assert_int_equal(response.status, 503);
        http_response_clear(&response);
        run(f, &(struct call){.method = HTTP_METHOD_GET, .path = "/api/deals"}, &response);
        assert_int_equal(response.status, 503);
        assert_true(body_has(&response, "database_unavailable"));
        http_response_clear(&response);
}

/* The claim executor: every submitted job comes back through finished() with its outcome. */
static pthread_mutex_t finished_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finished_cond = PTHREAD_COND_INITIALIZER;
static int finished_count;

static void job_finished(struct claim_job *job)
{
        pthread_mutex_lock(&finished_lock);
        finished_count++;
        pthread_cond_signal(&finished_cond);
        pthread_mutex_unlock(&finished_lock);
}

static void test_claim_executor(void **state)
{
        struct fixture *f = *state;
        int64_t stock_left = 0;
        int64_t id = open_deal(f, &stock_left);
        struct claim_executor *executor = NULL;
        assert_int_equal(
                claim_executor_new(&(struct claim_executor_options){.database_url = f->url,
                                                                    .threads = 4,
                                                                    .stock = f->app.stock,
                                                                    .finished = job_finished},
                                   &executor),
                0);
        enum { N = 12 };
        struct claim_job jobs[N] = {0};
        for (int i = 0; i < N; i++) {
                jobs[i].deal_id = id;
                jobs[i].now = time(NULL);
                /* Users 0..5 twice each: six claims, six "already claimed". */
                snprintf(jobs[i].user, sizeof(jobs[i].user), "%032d", i % 6);
                claim_executor_submit(executor, &jobs[i]);
        }
        pthread_mutex_lock(&finished_lock);
        while (finished_count < N)
                pthread_cond_wait(&finished_cond, &finished_lock);
        pthread_mutex_unlock(&finished_lock);
        claim_executor_free(executor);

        int ok = 0, already = 0;
        for (int i = 0; i < N; i++) {
                assert_int_equal(jobs[i].error, 0);
                ok += jobs[i].outcome == CLAIM_OK;
                already += jobs[i].outcome == CLAIM_ALREADY_CLAIMED;
        }
        assert_int_equal(ok, 6);
        assert_int_equal(already, 6);
        int64_t after = 0;
        open_deal(f, &after);
        assert_int_equal(after, stock_left - 6);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_catalog, setup, teardown),
                cmocka_unit_test_setup_teardown(test_api_claims, setup, teardown),
                cmocka_unit_test_setup_teardown(test_post_escaped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_readiness, setup, teardown),
                cmocka_unit_test_setup_teardown(test_claim_executor, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
