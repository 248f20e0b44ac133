/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the pure parts of tripdeal-app (no sockets, no database). */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"
#include "http.h"
#include "metrics.h"
#include "routes.h"
#include "session.h"
#include "stock.h"

/* ------------------------------------------------------------ routing */

static void test_path_match(void **state)
{
        int64_t id = -1;
        assert_true(http_path_match("/", "/", NULL));
        assert_false(http_path_match("/", "/x", NULL));
        assert_true(http_path_match("/deals/{id}", "/deals/42", &id));
        assert_int_equal(id, 42);
        assert_true(http_path_match("/deals/{id}/claim", "/deals/7/claim", &id));
        assert_int_equal(id, 7);

        id = -1;
        assert_false(http_path_match("/deals/{id}", "/deals/", &id));
        assert_false(http_path_match("/deals/{id}", "/deals/abc", &id));
        assert_false(http_path_match("/deals/{id}", "/deals/-1", &id));
        assert_false(http_path_match("/deals/{id}", "/deals/1x", &id));
        assert_false(http_path_match("/deals/{id}", "/deals/1/", &id));
        assert_false(http_path_match("/deals/{id}", "/deals/1234567890123456789", &id));
        /* 19 nines do not fit in int64: refused without overflowing (UBSan). */
        assert_false(http_path_match("/deals/{id}", "/deals/9999999999999999999", &id));
        assert_int_equal(id, -1); /* untouched when nothing matched */
        assert_true(http_path_match("/deals/{id}", "/deals/999999999999999999", &id));
        assert_int_equal(id, 999999999999999999);
        id = -1;
        assert_false(http_path_match("/sales", "/Sales", NULL));
        assert_false(http_path_match("/sales", "/sales/", NULL));
}

static void test_routes_lookup(void **state)
{
        size_t route = 999;
        int64_t id = 0;
        const char *allow = NULL;

        assert_int_equal(routes_lookup(HTTP_METHOD_GET, "/deals/12", &route, &id, &allow),
                         ROUTE_FOUND);
        assert_string_equal(routes_pattern(route), "/deals/{id}");
        assert_int_equal(id, 12);

        /* HEAD is served as GET. */
        assert_int_equal(routes_lookup(HTTP_METHOD_HEAD, "/sales", &route, &id, &allow),
                         ROUTE_FOUND);
        assert_string_equal(routes_pattern(route), "/sales");

        assert_int_equal(
                routes_lookup(HTTP_METHOD_POST, "/api/deals/3/claims", &route, &id, &allow),
                ROUTE_FOUND);
        assert_string_equal(routes_pattern(route), "/api/deals/{id}/claims");
        assert_int_equal(id, 3);

        /* Known path, wrong method: 405 with Allow, labelled by the pattern. */
        assert_int_equal(routes_lookup(HTTP_METHOD_GET, "/api/deals/3/claims", &route, &id, &allow),
                         ROUTE_METHOD_NOT_ALLOWED);
        assert_string_equal(allow, "POST");
        assert_string_equal(routes_pattern(route), "/api/deals/{id}/claims");
        assert_int_equal(routes_lookup(HTTP_METHOD_DELETE, "/", &route, &id, &allow),
                         ROUTE_METHOD_NOT_ALLOWED);
        assert_string_equal(allow, "GET, HEAD");

        /* Unknown path: 404, labelled "unmatched" (never the raw path). */
        assert_int_equal(routes_lookup(HTTP_METHOD_GET, "/no/such/page", &route, &id, &allow),
                         ROUTE_NOT_FOUND);
        assert_int_equal(route, routes_count());
        assert_string_equal(routes_pattern(route), "unmatched");
        assert_int_equal(routes_lookup(HTTP_METHOD_GET, "/deals/abc", &route, &id, &allow),
                         ROUTE_NOT_FOUND);
}

static void test_query_value(void **state)
{
        struct http_request request = {
                .query_args = {"page=3", "q=", "pager=9"},
                .n_query_args = 3,
        };
        assert_string_equal(http_query_value(&request, "page"), "3");
        assert_string_equal(http_query_value(&request, "q"), "");
        assert_null(http_query_value(&request, "pag"));
        assert_null(http_query_value(&request, "missing"));
}

/* ------------------------------------------------------------ decoding and forms */

static void test_url_decode(void **state)
{
        char out[64];
        assert_int_equal(http_url_decode("a+b%20c%41", 10, out, sizeof(out)), 0);
        assert_string_equal(out, "a b cA");
        /* UTF-8 "제주" percent-encoded. */
        const char *jeju = "%EC%A0%9C%EC%A3%BC";
        assert_int_equal(http_url_decode(jeju, strlen(jeju), out, sizeof(out)), 0);
        assert_string_equal(out, "제주");
        /* Only `length` bytes are read. */
        assert_int_equal(http_url_decode("abcdef", 3, out, sizeof(out)), 0);
        assert_string_equal(out, "abc");

        assert_int_equal(http_url_decode("%zz", 3, out, sizeof(out)), -EINVAL);
        assert_int_equal(http_url_decode("%4", 2, out, sizeof(out)), -EINVAL);
        assert_int_equal(http_url_decode("abc%", 4, out, sizeof(out)), -EINVAL);
        assert_int_equal(http_url_decode("a%00b", 5, out, sizeof(out)), -EINVAL);
        assert_int_equal(http_url_decode("abcdef", 6, out, 4), -ENOBUFS);
        assert_int_equal(http_url_decode("abc", 3, out, 4), 0);
}

static void test_form_value(void **state)
{
        const char *body = "csrf=tok%2Den&title=%EC%A0%9C%EC%A3%BC+trip&empty=&flag&title=second";
        char *value = NULL;

        assert_int_equal(http_form_value(body, strlen(body), "title", 100, &value), 0);
        assert_string_equal(value, "제주 trip"); /* the first occurrence wins */
        free(value);
        assert_int_equal(http_form_value(body, strlen(body), "csrf", 100, &value), 0);
        assert_string_equal(value, "tok-en");
        free(value);
        assert_int_equal(http_form_value(body, strlen(body), "empty", 100, &value), 0);
        assert_string_equal(value, "");
        free(value);
        assert_int_equal(http_form_value(body, strlen(body), "flag", 100, &value), 0);
        assert_string_equal(value, "");
        free(value);

        value = NULL;
        assert_int_equal(http_form_value(body, strlen(body), "tit", 100, &value), -ENOENT);
        assert_int_equal(http_form_value(body, strlen(body), "title", 3, &value), -E2BIG);
        assert_int_equal(http_form_value("a=%ZZ", 5, "a", 100, &value), -EINVAL);
        assert_int_equal(http_form_value(NULL, 0, "a", 100, &value), -ENOENT);
        assert_null(value);
}

static void test_cookie_value(void **state)
{
        char out[32];
        assert_int_equal(
                http_cookie_value("a=1; td_session=abc.def; b=2", "td_session", out, sizeof(out)),
                0);
        assert_string_equal(out, "abc.def");
        assert_int_equal(http_cookie_value("td_session=x", "td_session", out, sizeof(out)), 0);
        assert_string_equal(out, "x");
        assert_int_equal(http_cookie_value("xtd_session=1", "td_session", out, sizeof(out)),
                         -ENOENT);
        assert_int_equal(http_cookie_value(NULL, "td_session", out, sizeof(out)), -ENOENT);
        assert_int_equal(http_cookie_value("td_session=0123456789", "td_session", out, 4),
                         -ENOBUFS);
}

static void test_parse_positive_int(void **state)
{
        int64_t v = 0;
        assert_int_equal(http_parse_positive_int("42", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(http_parse_positive_int("007", &v), 0);
        assert_int_equal(v, 7);
        v = 5;
        assert_int_equal(http_parse_positive_int("0", &v), -EINVAL);
        assert_int_equal(http_parse_positive_int("-1", &v), -EINVAL);
        assert_int_equal(http_parse_positive_int("+1", &v), -EINVAL);
        assert_int_equal(http_parse_positive_int("1e3", &v), -EINVAL);
        assert_int_equal(http_parse_positive_int("", &v), -EINVAL);
        assert_int_equal(http_parse_positive_int("99999999999999999999", &v), -ERANGE);
        assert_int_equal(v, 5);
}

static void test_utf8(void **state)
{
        assert_true(http_text_is_clean_utf8("제주 Jeju\n\t", strlen("제주 Jeju\n\t")));
        assert_false(http_text_is_clean_utf8("\xff\xfe", 2));
        assert_false(http_text_is_clean_utf8("\xc0\xaf", 2));        /* overlong '/' */
        assert_false(http_text_is_clean_utf8("\xed\xa0\x80", 3));    /* surrogate */
        assert_false(http_text_is_clean_utf8("\xec\xa0", 2));        /* truncated */
        assert_false(http_text_is_clean_utf8("a\x01z", 3));          /* control byte */
        assert_true(http_text_is_clean_utf8("\xf0\x9f\x8c\x8f", 4)); /* emoji */
        assert_int_equal(http_utf8_length("제주 ab"), 5);
}

static void test_request_head(void **state)
{
#define HEAD(s) http_check_request_head(s, strlen(s))
        assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
        assert_int_equal(HEAD("POST /community/posts HTTP/1.0\r\nContent-Length: 12\r\n\r\n"), 0);
        assert_int_equal(HEAD("GET /deals/%41 HTTP/1.1\r\n\r\n"), 0);
        assert_int_equal(HEAD("GARBAGE\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET\r\n\r\n"), 400);
        assert_int_equal(HEAD("get / HTTP/1.1\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET / HTTP/9.9\r\nHost: x\r\n\r\n"), 505);
        assert_int_equal(HEAD("BREW / HTTP/1.1\r\n\r\n"), 501);
        assert_int_equal(HEAD("GET / HTTP/1.1\r\nNoColonHeader\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET /deals/%zz HTTP/1.1\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET /a%4 HTTP/1.1\r\n\r\n"), 400);
        assert_int_equal(HEAD("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), 400);
        assert_int_equal(HEAD("POST / HTTP/1.1\r\ncontent-length: abc\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400);
        assert_int_equal(http_check_request_head("\x00\x01\x02\x03\r\n\r\n", 8), 400);
        /* An encoded NUL would cut the path short in lws ("/%00x" served as "/"). */
        assert_int_equal(HEAD("GET /healthz%00 HTTP/1.1\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET /%00x HTTP/1.1\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET /deals?q=%00 HTTP/1.1\r\n\r\n"), 400);
        assert_int_equal(HEAD("GET /deals/%30 HTTP/1.1\r\n\r\n"), 0);
        const char *reason = NULL;
        assert_int_equal(http_check_request_head_reason("GET /%00 HTTP/1.1\r\n\r\n", 20, &reason),
                         400);
        assert_non_null(strstr(reason, "NUL"));
#undef HEAD
}

/* One header repeated ~100 times: lws would drop it silently, so 431 first. */
static void test_request_head_too_many_fields(void **state)
{
        char head[4096] = "GET / HTTP/1.1\r\nHost: x\r\n";
        for (int i = 0; i < 100; i++)
                strcat(head, "Cookie: a=b\r\n");
        strcat(head, "\r\n");
        const char *reason = NULL;
        assert_int_equal(http_check_request_head_reason(head, strlen(head), &reason), 431);
        assert_string_equal(reason, "Too many header fields.");

        char fine[4096] = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < HTTP_MAX_HEADER_FIELDS; i++)
                strcat(fine, "Cookie: a=b\r\n");
        strcat(fine, "\r\n");
        assert_int_equal(http_check_request_head(fine, strlen(fine)), 0);

        char query[1024] = "GET /?a=1";
        for (int i = 0; i < HTTP_MAX_REQUEST_QUERY_ARGS; i++)
                strcat(query, "&a=1");
        strcat(query, " HTTP/1.1\r\n\r\n");
        assert_int_equal(http_check_request_head(query, strlen(query)), 400);
}

/* curl --http2: the h2c Upgrade and its settings go, the request stays. */
static void test_head_drop_upgrade(void **state)
{
        char head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
                      "Accept: */*\r\n\r\n";
        assert_true(http_head_has_ignored_upgrade(head, strlen(head)));
        size_t length = http_head_drop_upgrade(head, strlen(head));
        head[length] = '\0';
        assert_string_equal(head, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
                                  "HTTP2-Settings\r\nAccept: */*\r\n\r\n");
        assert_false(http_head_has_ignored_upgrade(head, length));

        const char *websocket = "GET /ws/stock HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        assert_false(http_head_has_ignored_upgrade(websocket, strlen(websocket)));
        /* With a body lws must see the Upgrade (and the app answers 400 itself). */
        const char *post = "POST / HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\n";
        assert_false(http_head_has_ignored_upgrade(post, strlen(post)));
        const char *empty = "POST / HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n";
        assert_true(http_head_has_ignored_upgrade(empty, strlen(empty)));
}

/* ------------------------------------------------------------ templating */

static char *render(void (*fill)(struct html *))
{
        struct html page = {0};
        char *out = NULL;
        fill(&page);
        assert_int_equal(html_finish(&page, &out, NULL), 0);
        return out;
}

static void fill_xss(struct html *page)
{
        html_format(page, "<h1>%s</h1><a title=\"%s\">%d %lld %zu %%</a>",
                    "<script>alert('x')</script>", "\" onmouseover=\"evil()", -3, 1234567890123LL,
                    (size_t)9);
}

static void test_html_escapes_by_default(void **state)
{
        char *out = render(fill_xss);
        assert_string_equal(out, "<h1>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</h1>"
                                 "<a title=\"&quot; onmouseover=&quot;evil()\">-3 1234567890123 9 "
                                 "%</a>");
        assert_null(strstr(out, "<script>"));
        free(out);

        char *escaped = NULL;
        assert_int_equal(html_escape("<img src=x onerror=alert(1)> & \"q\" 제주", &escaped), 0);
        assert_string_equal(escaped, "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; 제주");
        free(escaped);
}

static void fill_raw(struct html *page)
{
        html_raw(page, "<p>");
        html_text(page, "<b>");
        html_raw(page, "</p>");
        html_text(page, NULL);
}

static void test_html_raw_is_explicit(void **state)
{
        char *out = render(fill_raw);
        assert_string_equal(out, "<p>&lt;b&gt;</p>");
        free(out);
}

/* Without the printf attribute, so the compiler lets a bad template through to the check. */
static void format_unchecked(struct html *page, const char *template, ...)
{
        va_list ap;
        va_start(ap, template);
        html_vformat(page, template, ap);
        va_end(ap);
}

static void test_html_bad_template(void **state)
{
        struct html page = {0};
        char *out = NULL;
        html_raw(&page, "ok");
        /* A conversion outside the template language is a bug: the error sticks. */
        format_unchecked(&page, "%x", 255);
        html_raw(&page, "more");
        assert_int_equal(html_finish(&page, &out, NULL), -EINVAL);
        assert_null(out);
        html_clear(&page);

        struct html empty = {0};
        size_t length = 1;
        assert_int_equal(html_finish(&empty, &out, &length), 0);
        assert_string_equal(out, "");
        assert_int_equal(length, 0);
        free(out);
}

/* ------------------------------------------------------------ sessions and CSRF */

static void test_session_cookie(void **state)
{
        struct session_keys keys, other_keys;
        assert_int_equal(session_keys_from_secret("0123456789abcdef-test", 21, &keys), 0);
        assert_int_equal(session_keys_from_secret("another secret for tests", 24, &other_keys), 0);
        assert_int_equal(session_keys_from_secret("short", 5, &keys), -EINVAL);

        char user[SESSION_USER_LENGTH + 1], again[SESSION_USER_LENGTH + 1];
        char cookie[SESSION_COOKIE_LENGTH + 1];
        assert_int_equal(session_new_user(user), 0);
        assert_int_equal(strlen(user), SESSION_USER_LENGTH);
        assert_int_equal(session_new_user(again), 0);
        assert_string_not_equal(user, again);

        assert_int_equal(session_cookie_sign(&keys, user, cookie), 0);
        assert_int_equal(strlen(cookie), SESSION_COOKIE_LENGTH);
        memset(again, 0, sizeof(again));
        assert_int_equal(session_cookie_verify(&keys, cookie, again), 0);
        assert_string_equal(again, user);

        /* Tampered: a flipped MAC byte, another user id, a truncated value, another key. */
        char tampered[SESSION_COOKIE_LENGTH + 1];
        strcpy(tampered, cookie);
        tampered[SESSION_COOKIE_LENGTH - 1] =
                tampered[SESSION_COOKIE_LENGTH - 1] == 'A' ? 'B' : 'A';
        assert_int_equal(session_cookie_verify(&keys, tampered, again), -EBADMSG);
        strcpy(tampered, cookie);
        tampered[0] = tampered[0] == 'a' ? 'b' : 'a';
        assert_int_equal(session_cookie_verify(&keys, tampered, again), -EBADMSG);
        tampered[10] = '\0';
        assert_int_equal(session_cookie_verify(&keys, tampered, again), -EBADMSG);
        assert_int_equal(session_cookie_verify(&other_keys, cookie, again), -EBADMSG);
        assert_int_equal(session_cookie_verify(&keys, NULL, again), -EBADMSG);
        assert_int_equal(session_cookie_sign(&keys, "not-hex!", cookie), -EINVAL);
}

static void test_csrf(void **state)
{
        struct session_keys keys, other_keys;
        assert_int_equal(session_keys_random(&keys), 0);
        assert_int_equal(session_keys_random(&other_keys), 0);
        char user[SESSION_USER_LENGTH + 1], other_user[SESSION_USER_LENGTH + 1];
        char token[SESSION_CSRF_LENGTH + 1], again[SESSION_CSRF_LENGTH + 1];
        assert_int_equal(session_new_user(user), 0);
        assert_int_equal(session_new_user(other_user), 0);

        assert_int_equal(session_csrf_token(&keys, user, token), 0);
        assert_int_equal(session_csrf_token(&keys, user, again), 0);
        assert_string_equal(token, again); /* derived, so stable for the session */
        assert_true(session_csrf_check(&keys, user, token));

        assert_false(session_csrf_check(&keys, other_user, token));
        assert_false(session_csrf_check(&other_keys, user, token));
        assert_false(session_csrf_check(&keys, user, NULL));
        assert_false(session_csrf_check(&keys, user, ""));
        token[3] = token[3] == 'x' ? 'y' : 'x';
        assert_false(session_csrf_check(&keys, user, token));
        /* The CSRF token is not the cookie MAC (different purpose strings). */
        char cookie[SESSION_COOKIE_LENGTH + 1];
        assert_int_equal(session_cookie_sign(&keys, user, cookie), 0);
        assert_false(session_csrf_check(&keys, user, cookie + SESSION_USER_LENGTH + 1));
}

/* ------------------------------------------------------------ metrics */

static void test_metrics_text(void **state)
{
        static const char *const names[] = {"/", "/deals/{id}"};
        struct metrics *metrics = NULL;
        assert_int_equal(metrics_new(names, 2, &metrics), 0);

        metrics_observe_request(metrics, 0, 200, 300);   /* 0.3 ms */
        metrics_observe_request(metrics, 0, 200, 20000); /* 20 ms */
        metrics_observe_request(metrics, 1, 404, 100);
        metrics_observe_request(metrics, 7, 404, 100);      /* unknown index -> unmatched */
        metrics_observe_request(metrics, 0, 200, 99000000); /* beyond the last bucket */
        metrics_count_claim(metrics, CLAIM_METRIC_CLAIMED);
        metrics_count_claim(metrics, CLAIM_METRIC_SOLD_OUT);
        metrics_count_claim(metrics, CLAIM_METRIC_SOLD_OUT);

        struct deal_stock_sample stock[] = {{.deal_id = 3, .stock_left = 17}};
        char *text = NULL;
        size_t length = 0;
        assert_int_equal(metrics_render(metrics, stock, 1, true, &text, &length), 0);
        assert_int_equal(strlen(text), length);

        assert_non_null(strstr(text, "# TYPE tripdeal_http_requests_total counter\n"));
        assert_non_null(strstr(text, "tripdeal_http_requests_total{route=\"/\",code=\"200\"} 3\n"));
        assert_non_null(strstr(
                text, "tripdeal_http_requests_total{route=\"/deals/{id}\",code=\"404\"} 1\n"));
        assert_non_null(
                strstr(text, "tripdeal_http_requests_total{route=\"unmatched\",code=\"404\"} 1\n"));
        assert_non_null(strstr(text, "# TYPE tripdeal_http_request_duration_seconds histogram\n"));
        /* Cumulative buckets: 1 at 0.5 ms, 2 at 25 ms, 3 at +Inf == _count. */
        assert_non_null(strstr(
                text,
                "tripdeal_http_request_duration_seconds_bucket{route=\"/\",le=\"0.0005\"} 1\n"));
        assert_non_null(strstr(
                text,
                "tripdeal_http_request_duration_seconds_bucket{route=\"/\",le=\"0.025\"} 2\n"));
        assert_non_null(strstr(
                text,
                "tripdeal_http_request_duration_seconds_bucket{route=\"/\",le=\"+Inf\"} 3\n"));
        assert_non_null(
                strstr(text, "tripdeal_http_request_duration_seconds_count{route=\"/\"} 3\n"));
        assert_non_null(strstr(text, "tripdeal_claims_total{outcome=\"claimed\"} 1\n"));
        assert_non_null(strstr(text, "tripdeal_claims_total{outcome=\"sold_out\"} 2\n"));
        assert_non_null(strstr(text, "tripdeal_claims_total{outcome=\"already_claimed\"} 0\n"));
        assert_non_null(strstr(text, "tripdeal_deal_stock_left{deal=\"3\"} 17\n"));
        assert_non_null(strstr(text, "tripdeal_ready 1\n"));
        /* Every sample line belongs to a family announced with # TYPE before it. */
        assert_true(strstr(text, "# TYPE tripdeal_deal_stock_left gauge") <
                    strstr(text, "tripdeal_deal_stock_left{"));
        assert_int_equal(text[length - 1], '\n');
        free(text);
        metrics_free(metrics);

        assert_int_equal(metrics_new(names, METRICS_MAX_ROUTES + 1, &metrics), -EINVAL);
}

/* ------------------------------------------------------------ stock feed */

static int changes_seen;

static void count_change(void *userdata)
{
        changes_seen++;
}

static void test_stock_feed(void **state)
{
        struct stock_feed *feed = NULL;
        assert_int_equal(
                stock_feed_new(
                        &(struct stock_feed_options){.database_url = "sqlite:/nonexistent/x.db",
                                                     .changed = count_change},
                        &feed),
                0);
        uint64_t v0 = stock_feed_version(feed);
        stock_feed_set(feed, 5, 50, 49);
        assert_int_equal(changes_seen, 1);
        assert_true(stock_feed_version(feed) > v0);
        uint64_t v1 = stock_feed_version(feed);
        stock_feed_set(feed, 5, -1, 49); /* same value: no change, no wake-up */
        assert_int_equal(changes_seen, 1);
        assert_int_equal(stock_feed_version(feed), v1);
        stock_feed_set(feed, 5, -1, 48);
        assert_int_equal(changes_seen, 2);

        char *json = NULL;
        uint64_t version = 0;
        assert_int_equal(stock_feed_snapshot_json(feed, &version, &json), 0);
        assert_int_equal(version, stock_feed_version(feed));
        json_error_t error;
        json_t *message = json_loads(json, 0, &error);
        assert_non_null(message);
        assert_string_equal(json_string_value(json_object_get(message, "type")), "stock");
        json_t *deal = json_array_get(json_object_get(message, "deals"), 0);
        assert_int_equal(json_integer_value(json_object_get(deal, "id")), 5);
        assert_int_equal(json_integer_value(json_object_get(deal, "stock_left")), 48);
        assert_int_equal(json_integer_value(json_object_get(deal, "stock_total")), 50);
        json_decref(message);
        free(json);

        struct deal_stock_sample *samples = NULL;
        size_t n = 0;
        assert_int_equal(stock_feed_samples(feed, &samples, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(samples[0].stock_left, 48);
        free(samples);

        assert_true(stock_feed_database_ok(feed));
        stock_feed_database_failed(feed);
        assert_false(stock_feed_database_ok(feed));
        stock_feed_free(feed);
        stock_feed_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_match),
                cmocka_unit_test(test_routes_lookup),
                cmocka_unit_test(test_query_value),
                cmocka_unit_test(test_url_decode),
                cmocka_unit_test(test_form_value),
                cmocka_unit_test(test_cookie_value),
                cmocka_unit_test(test_parse_positive_int),
                cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_request_head),
                cmocka_unit_test(test_request_head_too_many_fields),
                cmocka_unit_test(test_head_drop_upgrade),
                cmocka_unit_test(test_html_escapes_by_default),
                cmocka_unit_test(test_html_raw_is_explicit),
                cmocka_unit_test(test_html_bad_template),
                cmocka_unit_test(test_session_cookie),
                cmocka_unit_test(test_csrf),
                cmocka_unit_test(test_metrics_text),
                cmocka_unit_test(test_stock_feed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
