/* SPDX-License-Identifier: Apache-2.0 */
/* Status -> error mapping, paths, selectors, query escaping, watch decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube-informer.h"
#include "kube-private.h"
#include "kube.h"
#include "macros.h"

static void test_error_mapping(void **state)
{
        static const struct {
                long code;
                const char *reason;
                int expected;
        } cases[] = {
                {200, NULL, 0},
                {201, NULL, 0},
                {400, "BadRequest", KUBE_ERR_BAD_REQUEST},
                {401, "Unauthorized", KUBE_ERR_UNAUTHORIZED},
                {403, "Forbidden", KUBE_ERR_FORBIDDEN},
                {404, "NotFound", KUBE_ERR_NOT_FOUND},
                {404, NULL, KUBE_ERR_NOT_FOUND},
                {405, "MethodNotAllowed", KUBE_ERR_METHOD_NOT_ALLOWED},
                {409, "AlreadyExists", KUBE_ERR_ALREADY_EXISTS},
                {409, "Conflict", KUBE_ERR_CONFLICT},
                {409, NULL, KUBE_ERR_CONFLICT},
                {410, "Gone", KUBE_ERR_GONE},
                {410, "Expired", KUBE_ERR_GONE},
                {415, "UnsupportedMediaType", KUBE_ERR_UNSUPPORTED_MEDIA_TYPE},
                {422, "Invalid", KUBE_ERR_INVALID},
                {429, "TooManyRequests", KUBE_ERR_TOO_MANY_REQUESTS},
                {500, "InternalError", KUBE_ERR_SERVER},
                {503, "ServiceUnavailable", KUBE_ERR_SERVER},
                {504, "Timeout", KUBE_ERR_SERVER_TIMEOUT},
                {418, NULL, KUBE_ERR_HTTP},
                {302, NULL, KUBE_ERR_HTTP},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int r = kube_error_from_http(cases[i].code, cases[i].reason);
                if (r != cases[i].expected)
                        fail_msg("HTTP %ld %s: got %s", cases[i].code,
                                 cases[i].reason ? cases[i].reason : "-", kube_strerror(r));
        }
}

static void test_strerror(void **state)
{
#define CHECK(name, value, text)   \
        assert_true(name < -4096); \
        assert_string_equal(kube_strerror(name), text);
        KUBE_ERRORS(CHECK)
#undef CHECK
        /* All distinct: 404 vs transport vs parse must be told apart. */
        assert_int_not_equal(KUBE_ERR_NOT_FOUND, KUBE_ERR_TRANSPORT);
        assert_int_not_equal(KUBE_ERR_TRANSPORT, KUBE_ERR_PARSE);
        assert_string_equal(kube_strerror(-ENOENT), "No such file or directory");
        assert_string_equal(kube_strerror(0), "success");
        assert_string_equal(kube_strerror(-99999), "unknown error");
}

static void test_status_from_json(void **state)
{
        json_t *body = json_loads("{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
                                  "\"AlreadyExists\",\"message\":\"configmaps \\\"x\\\" already "
                                  "exists\",\"code\":409}",
                                  0, NULL);
        assert_non_null(body);
        struct kube_status status;
        kube_status_from_json(&status, 409, body);
        assert_int_equal(status.http_code, 409);
        assert_string_equal(status.reason, "AlreadyExists");
        assert_string_equal(status.message, "configmaps \"x\" already exists");
        kube_status_from_json(NULL, 409, body); /* NULL status is fine */
        json_decref(body);
}

static void test_build_path(void **state)
{
        char *p = NULL;
        assert_int_equal(kube_build_path(&KUBE_PODS, "ns1", "web-1", NULL, &p), 0);
        assert_string_equal(p, "/api/v1/namespaces/ns1/pods/web-1");
        free(p);
        assert_int_equal(kube_build_path(&KUBE_PODS, NULL, NULL, NULL, &p), 0);
        assert_string_equal(p, "/api/v1/pods");
        free(p);
        assert_int_equal(kube_build_path(&KUBE_DEPLOYMENTS, "a", NULL, NULL, &p), 0);
        assert_string_equal(p, "/apis/apps/v1/namespaces/a/deployments");
        free(p);
        assert_int_equal(kube_build_path(&KUBE_HPAS, "a", "h", NULL, &p), 0);
        assert_string_equal(p, "/apis/autoscaling/v2/namespaces/a/horizontalpodautoscalers/h");
        free(p);
        assert_int_equal(kube_build_path(&KUBE_TRIPDEALS, "t", "shop", "status", &p), 0);
        assert_string_equal(p, "/apis/tripdeal.io/v1alpha1/namespaces/t/tripdeals/shop/status");
        free(p);
        assert_int_equal(kube_build_path(&KUBE_POD_EVICTION, "n", "p", NULL, &p), 0);
        assert_string_equal(p, "/api/v1/namespaces/n/pods/p/eviction");
        free(p);
        /* Cluster-scoped: the namespace is ignored. */
        assert_int_equal(kube_build_path(&KUBE_NODES, "ignored", "node-1", NULL, &p), 0);
        assert_string_equal(p, "/api/v1/nodes/node-1");
        free(p);
        assert_int_equal(kube_build_path(&KUBE_LEASES, "kube-system", "op", NULL, &p), 0);
        assert_string_equal(p, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/op");
        free(p);
        /* Odd characters are escaped; path traversal is refused. */
        assert_int_equal(kube_build_path(&KUBE_CONFIGMAPS, "ns", "a b:c", NULL, &p), 0);
        assert_string_equal(p, "/api/v1/namespaces/ns/configmaps/a%20b%3Ac");
        free(p);
        p = NULL;
        assert_int_equal(kube_build_path(&KUBE_CONFIGMAPS, "ns", "../x", NULL, &p), -EINVAL);
        assert_int_equal(kube_build_path(&KUBE_CONFIGMAPS, "..", "x", NULL, &p), -EINVAL);
        assert_int_equal(kube_build_path(&KUBE_CONFIGMAPS, "ns", "", NULL, &p), -EINVAL);
        assert_int_equal(kube_build_path(&KUBE_CONFIGMAPS, "ns", NULL, "status", &p), -EINVAL);
        assert_null(p);

        char av[64];
        assert_int_equal(kube_resource_api_version(&KUBE_PODS, av, sizeof(av)), 0);
        assert_string_equal(av, "v1");
        assert_int_equal(kube_resource_api_version(&KUBE_INGRESSES, av, sizeof(av)), 0);
        assert_string_equal(av, "networking.k8s.io/v1");
        assert_int_equal(kube_resource_api_version(&KUBE_INGRESSES, av, 4), -ENOBUFS);
}

static void test_query_and_selectors(void **state)
{
        char *p = strdup("/api/v1/pods");
        assert_int_equal(kube_query_append(&p, "labelSelector", "app in (a,b),tier!=db"), 0);
        assert_int_equal(kube_query_append(&p, "fieldSelector", "spec.nodeName=n 1"), 0);
        assert_int_equal(kube_query_append(&p, "continue", "abc+/=="), 0);
        assert_string_equal(p, "/api/v1/pods?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb"
                               "&fieldSelector=spec.nodeName%3Dn%201&continue=abc%2B%2F%3D%3D");
        free(p);

        json_t *labels = json_pack("{s:s, s:s, s:s}", "tier", "web", "app", "tripdeal",
                                   "app.kubernetes.io/name", "shop");
        char *sel = NULL;
        assert_int_equal(kube_label_selector_from_labels(labels, &sel), 0);
        assert_string_equal(sel, "app=tripdeal,app.kubernetes.io/name=shop,tier=web");
        free(sel);
        json_decref(labels);
        labels = json_object();
        assert_int_equal(kube_label_selector_from_labels(labels, &sel), 0);
        assert_string_equal(sel, "");
        free(sel);
        json_object_set_new(labels, "n", json_integer(1));
        assert_int_equal(kube_label_selector_from_labels(labels, &sel), -EINVAL);
        json_decref(labels);
}

static void test_micro_time_and_base64(void **state)
{
        char buf[40];
        assert_int_equal(kube_format_micro_time(1795600800123, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "2026-11-25T10:00:00.123000Z");
        assert_int_equal(kube_format_micro_time(1795600800123, buf, 10), -ENOBUFS);

        struct kube_blob blob = {0};
        assert_int_equal(kube_base64_decode("aGVs\nbG8=", &blob), 0);
        assert_int_equal(blob.size, 5);
        assert_memory_equal(blob.data, "hello", 5);
        free(blob.data);
        assert_int_equal(kube_base64_decode("aGk=", &blob), 0);
        assert_int_equal(blob.size, 2);
        free(blob.data);
        assert_int_equal(kube_base64_decode("abc", &blob), -EINVAL);
        assert_int_equal(kube_base64_decode("!!!!", &blob), -EINVAL);
}

static void test_owner_reference_and_keys(void **state)
{
        json_t *owner = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "apiVersion",
                                  "tripdeal.io/v1alpha1", "kind", "TripDeal", "metadata", "name",
                                  "shop", "namespace", "t", "uid", "u-1");
        json_t *ref = NULL;
        assert_int_equal(kube_owner_reference(owner, true, &ref), 0);
        json_t *expected = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion",
                                     "tripdeal.io/v1alpha1", "kind", "TripDeal", "name", "shop",
                                     "uid", "u-1", "controller", 1, "blockOwnerDeletion", 1);
        assert_true(json_equal(ref, expected));
        json_decref(ref);
        json_decref(expected);
        json_object_del(json_object_get(owner, "metadata"), "uid");
        assert_int_equal(kube_owner_reference(owner, false, &ref), -EINVAL);
        json_decref(owner);

        char *ns = NULL, *name = NULL;
        assert_int_equal(kube_split_key("t/shop", &ns, &name), 0);
        assert_string_equal(ns, "t");
        assert_string_equal(name, "shop");
        free(ns);
        free(name);
        assert_int_equal(kube_split_key("node-1", &ns, &name), 0);
        assert_null(ns);
        assert_string_equal(name, "node-1");
        free(name);
        const char *bad[] = {"", "/x", "x/", "a/b/c"};
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(kube_split_key(bad[i], &ns, &name), -EINVAL);
}

static void test_backoff(void **state)
{
        for (unsigned attempt = 0; attempt < 40; attempt++) {
                int64_t d = kube_backoff_ms(100, 30000, attempt);
                int64_t nominal = attempt >= 9 ? 30000 : 100LL << attempt;
                if (nominal > 30000)
                        nominal = 30000;
                assert_true(d >= nominal / 2);
                assert_true(d < nominal * 3 / 2 + 1);
        }
}

/* ---- watch decoder ---- */

struct seen {
        char log[4096];
        int count;
        int stop_after; /* 0: never */
};

static int record(enum kube_watch_event_type type, json_t *object, void *userdata)
{
        struct seen *s = userdata;
        size_t len = strlen(s->log);
        snprintf(s->log + len, sizeof(s->log) - len, "%s:%s:%s;",
                 kube_watch_event_type_to_string(type),
                 kube_object_name(object) ? kube_object_name(object) : "-",
                 kube_object_resource_version(object) ? kube_object_resource_version(object) : "-");
        s->count++;
        return s->stop_after && s->count >= s->stop_after ? 42 : 0;
}

static const char STREAM[] =
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
        "\"resourceVersion\":\"1\"},\"data\":{\"k\":\"line\\nbreak \\u00e9\"}}}\n"
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
        "\"2\"}}}\r\n"
        "\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}\n"
        "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
        "\"8\"}}}\n";
static const char EXPECTED[] = "ADDED:a:1;MODIFIED:a:2;BOOKMARK:-:7;DELETED:a:8;";

static void test_watch_decoder_every_split(void **state)
{
        size_t n = strlen(STREAM);
        /* Two chunks split at every position, then one byte at a time. */
        for (size_t split = 0; split <= n; split++) {
                struct seen s = {0};
                struct kube_watch_decoder d;
                kube_watch_decoder_init(&d, record, &s);
                assert_int_equal(kube_watch_decoder_feed(&d, STREAM, split), 0);
                assert_int_equal(kube_watch_decoder_feed(&d, STREAM + split, n - split), 0);
                assert_int_equal(kube_watch_decoder_finish(&d), 0);
                assert_string_equal(s.log, EXPECTED);
                kube_watch_decoder_done(&d);
        }
        struct seen s = {0};
        struct kube_watch_decoder d;
        kube_watch_decoder_init(&d, record, &s);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(kube_watch_decoder_feed(&d, STREAM + i, 1), 0);
        assert_int_equal(kube_watch_decoder_finish(&d), 0);
        assert_string_equal(s.log, EXPECTED);
        kube_watch_decoder_done(&d);
}

static void test_watch_decoder_last_line_without_newline(void **state)
{
        const char *text = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"z\","
                           "\"resourceVersion\":\"3\"}}}";
        struct seen s = {0};
        struct kube_watch_decoder d;
        kube_watch_decoder_init(&d, record, &s);
        assert_int_equal(kube_watch_decoder_feed(&d, text, strlen(text)), 0);
        assert_int_equal(s.count, 0);
        assert_int_equal(kube_watch_decoder_finish(&d), 0);
        assert_string_equal(s.log, "ADDED:z:3;");
        kube_watch_decoder_done(&d);
}

static void test_watch_decoder_error_event(void **state)
{
        const char *text =
                "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
                "\"1\"}}}\n"
                "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":"
                "\"Expired\",\"message\":\"too old resource version: 1 (5)\"}}\n"
                "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n";
        struct seen s = {0};
        struct kube_watch_decoder d;
        kube_watch_decoder_init(&d, record, &s);
        assert_int_equal(kube_watch_decoder_feed(&d, text, strlen(text)), KUBE_ERR_GONE);
        /* Nothing after the ERROR event is delivered. */
        assert_string_equal(s.log, "ADDED:a:1;ERROR:-:-;");
        assert_true(d.saw_error_event);
        assert_int_equal(d.error_status.http_code, 410);
        assert_string_equal(d.error_status.reason, "Expired");
        assert_int_equal(kube_watch_decoder_feed(&d, "x", 1), KUBE_ERR_GONE);
        kube_watch_decoder_done(&d);

        /* ERROR with a 500 status. */
        const char *e500 = "{\"type\":\"ERROR\",\"object\":{\"code\":500,\"reason\":"
                           "\"InternalError\",\"message\":\"boom\"}}\n";
        struct seen s2 = {0};
        kube_watch_decoder_init(&d, record, &s2);
        assert_int_equal(kube_watch_decoder_feed(&d, e500, strlen(e500)), KUBE_ERR_SERVER);
        kube_watch_decoder_done(&d);
}

static void test_watch_decoder_malformed_and_stop(void **state)
{
        struct seen s = {0};
        struct kube_watch_decoder d;
        kube_watch_decoder_init(&d, record, &s);
        assert_int_equal(kube_watch_decoder_feed(&d, "{not json}\n", 11), KUBE_ERR_PARSE);
        kube_watch_decoder_done(&d);

        kube_watch_decoder_init(&d, record, &s);
        const char *unknown = "{\"type\":\"WEIRD\",\"object\":{}}\n";
        assert_int_equal(kube_watch_decoder_feed(&d, unknown, strlen(unknown)), KUBE_ERR_PARSE);
        kube_watch_decoder_done(&d);

        /* The callback stops the stream: its value comes back, later events dropped. */
        struct seen s3 = {.stop_after = 2};
        kube_watch_decoder_init(&d, record, &s3);
        assert_int_equal(kube_watch_decoder_feed(&d, STREAM, strlen(STREAM)), 42);
        assert_int_equal(s3.count, 2);
        kube_watch_decoder_done(&d);
}

/* The informer transform for trigger-only caches keeps identity, ownership
 * and lifecycle metadata, and drops spec and status. */
static void test_metadata_only(void **state)
{
        (void)state;
        json_error_t error;
        _cleanup_json_ json_t *deploy = json_loads(
                "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
                "\"shop\",\"namespace\":\"td\",\"uid\":\"u1\",\"resourceVersion\":\"7\","
                "\"generation\":3,\"labels\":{\"a\":\"b\"},\"annotations\":{\"big\":\"x\"},"
                "\"ownerReferences\":[{\"kind\":\"TripDeal\",\"name\":\"shop\",\"uid\":\"o1\","
                "\"controller\":true}],\"managedFields\":[{}]},\"spec\":{\"replicas\":2},"
                "\"status\":{\"readyReplicas\":2}}",
                0, &error);
        assert_non_null(deploy);
        _cleanup_json_ json_t *slim = kube_object_metadata_only(deploy, NULL);
        assert_non_null(slim);
        _cleanup_free_ char *text = json_dumps(slim, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(
                text,
                "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                "\"generation\":3,\"labels\":{\"a\":\"b\"},\"name\":\"shop\",\"namespace\":"
                "\"td\",\"ownerReferences\":[{\"controller\":true,\"kind\":\"TripDeal\","
                "\"name\":\"shop\",\"uid\":\"o1\"}],\"resourceVersion\":\"7\",\"uid\":\"u1\"}}");
        /* Key and resource version still work on the slim form. */
        _cleanup_free_ char *key = NULL;
        assert_int_equal(kube_object_key(slim, &key), 0);
        assert_string_equal(key, "td/shop");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_mapping),
                cmocka_unit_test(test_metadata_only),
                cmocka_unit_test(test_strerror),
                cmocka_unit_test(test_status_from_json),
                cmocka_unit_test(test_build_path),
                cmocka_unit_test(test_query_and_selectors),
                cmocka_unit_test(test_micro_time_and_base64),
                cmocka_unit_test(test_owner_reference_and_keys),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_watch_decoder_every_split),
                cmocka_unit_test(test_watch_decoder_last_line_without_newline),
                cmocka_unit_test(test_watch_decoder_error_event),
                cmocka_unit_test(test_watch_decoder_malformed_and_stop),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
