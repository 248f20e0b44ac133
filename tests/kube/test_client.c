/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transport-level tests of the client against stub-apiserver.py (canned
 * responses, chunked watch streams, TLS).  Usage: test-kube-client STUB.py
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "kube-private.h"
#include "kube.h"
#include "test-pem.h"
#include "test-process.h"

static const char *stub_path;
static char dir[] = "/tmp/kube-client-test-XXXXXX";
static pid_t plain_pid, tls_pid;
static int plain_port, tls_port;
static char *cert_pem, *key_pem;
static struct kube_client *plain; /* http://, token "stub-token" */
static struct kube_client *tls;   /* https:// with the stub's CA */

static int start_stub(const char *name, bool with_tls, pid_t *ret_pid, int *ret_port)
{
        char port_file[256], log_file[256], cert_file[256], key_file[256];
        snprintf(port_file, sizeof(port_file), "%s/%s.port", dir, name);
        snprintf(log_file, sizeof(log_file), "%s/%s.log", dir, name);
        snprintf(cert_file, sizeof(cert_file), "%s/server.crt", dir);
        snprintf(key_file, sizeof(key_file), "%s/server.key", dir);
        char *argv[] = {"python3",
                        (char *)stub_path,
                        "--port-file",
                        port_file,
                        with_tls ? "--cert" : "--token",
                        with_tls ? cert_file : "stub-token",
                        with_tls ? "--key" : NULL,
                        key_file,
                        NULL};
        if (test_spawn(argv, log_file, ret_pid) < 0 || test_wait_for_file(port_file, 10000) < 0)
                return -1;
        char *text = test_read_file(port_file);
        *ret_port = text ? atoi(text) : 0;
        free(text);
        return *ret_port > 0 ? 0 : -1;
}

static struct kube_client *client_for(const char *server, const char *token, const char *ca_pem,
                                      bool insecure, int64_t timeout_ms)
{
        struct kube_config config = {.server = (char *)server,
                                     .namespace = "ns",
                                     .token = (char *)token,
                                     .insecure = insecure};
        if (ca_pem) {
                config.ca_data.data = (unsigned char *)ca_pem;
                config.ca_data.size = strlen(ca_pem);
        }
        struct kube_client *c = NULL;
        if (kube_client_new(&config,
                            &(struct kube_client_options){.request_timeout_ms = timeout_ms},
                            &c) < 0)
                return NULL;
        return c;
}

static int group_setup(void **state)
{
        if (!mkdtemp(dir))
                return -1;
        if (test_make_self_signed("stub", "127.0.0.1", &cert_pem, &key_pem) < 0)
                return -1;
        free(test_write_file(dir, "server.crt", cert_pem));
        free(test_write_file(dir, "server.key", key_pem));
        if (start_stub("plain", false, &plain_pid, &plain_port) < 0 ||
            start_stub("tls", true, &tls_pid, &tls_port) < 0)
                return -1;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", plain_port);
        plain = client_for(url, "stub-token", NULL, false, 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d", tls_port);
        tls = client_for(url, NULL, cert_pem, false, 0);
        return plain && tls ? 0 : -1;
}

static int group_teardown(void **state)
{
        kube_client_free(plain);
        kube_client_free(tls);
        test_kill(plain_pid, false);
        test_kill(tls_pid, false);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        free(cert_pem);
        free(key_pem);
        return system(cmd) == 0 ? 0 : -1;
}

/* The stub's record of requests whose path starts with prefix (new ref). */
static json_t *requests_matching(const char *prefix)
{
        json_t *all = NULL;
        assert_int_equal(
                kube_client_request(plain,
                                    &(struct kube_request){.method = "GET", .path = "/_requests"},
                                    &all, NULL),
                0);
        json_t *out = json_array();
        size_t i;
        json_t *r;
        json_array_foreach (all, i, r) {
                const char *path = json_string_value(json_object_get(r, "path"));
                if (path && strncmp(path, prefix, strlen(prefix)) == 0)
                        json_array_append(out, r);
        }
        json_decref(all);
        return out;
}

static void test_get_and_typed_errors(void **state)
{
        json_t *obj = NULL;
        struct kube_status st = {0};
        assert_int_equal(kube_get(plain, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "any"},
                                  &obj, &st),
                         0);
        assert_string_equal(kube_object_name(obj), "any");
        json_decref(obj);
        obj = NULL;

        assert_int_equal(kube_get(plain, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "missing"},
                                  &obj, &st),
                         KUBE_ERR_NOT_FOUND);
        assert_null(obj);
        assert_int_equal(st.http_code, 404);
        assert_string_equal(st.reason, "NotFound");
        assert_string_equal(st.message, "configmaps \"missing\" not found");

        /* Same call without a status: fine. */
        assert_int_equal(kube_get(plain, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "missing"},
                                  &obj, NULL),
                         KUBE_ERR_NOT_FOUND);

        assert_int_equal(kube_get(plain, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "garbage"},
                                  &obj, &st),
                         KUBE_ERR_PARSE);
        assert_int_equal(
                kube_get(plain, &KUBE_CONFIGMAPS,
                         &(struct kube_get_options){.namespace = "ns", .name = "html-error"}, &obj,
                         &st),
                KUBE_ERR_SERVER);
        assert_int_equal(st.http_code, 502);
        assert_int_equal(
                kube_get(plain, &KUBE_CONFIGMAPS,
                         &(struct kube_get_options){.namespace = "ns", .name = "throttled"}, &obj,
                         &st),
                KUBE_ERR_TOO_MANY_REQUESTS);
        assert_int_equal(kube_get(plain, &KUBE_CONFIGMAPS, &(struct kube_get_options){.name = "x"},
                                  &obj, &st),
                         -EINVAL);

        json_t *body = json_pack("{s:{s:s}}", "metadata", "name", "exists");
        assert_int_equal(kube_create(plain, &KUBE_CONFIGMAPS,
                                     &(struct kube_write_options){.namespace = "ns"}, body, &obj,
                                     &st),
                         KUBE_ERR_ALREADY_EXISTS);
        assert_string_equal(st.reason, "AlreadyExists");
        json_object_set_new(json_object_get(body, "metadata"), "name", json_string("invalid"));
        assert_int_equal(kube_create(plain, &KUBE_CONFIGMAPS,
                                     &(struct kube_write_options){.namespace = "ns"}, body, &obj,
                                     &st),
                         KUBE_ERR_INVALID);
        json_object_set_new(json_object_get(body, "metadata"), "name", json_string("fresh"));
        json_object_set_new(json_object_get(body, "metadata"), "namespace", json_string("ns"));
        assert_int_equal(kube_create(plain, &KUBE_CONFIGMAPS, NULL, body, &obj, &st), 0);
        assert_string_equal(kube_object_resource_version(obj), "10");
        /* The input is borrowed, not modified. */
        assert_null(kube_object_resource_version(body));
        json_decref(obj);
        json_object_set_new(json_object_get(body, "metadata"), "name", json_string("stale"));
        assert_int_equal(kube_update(plain, &KUBE_CONFIGMAPS, NULL, body, NULL, &st),
                         KUBE_ERR_CONFLICT);
        json_decref(body);

        assert_int_equal(kube_evict(plain,
                                    &(struct kube_evict_options){.namespace = "ns", .name = "p1"},
                                    &st),
                         KUBE_ERR_TOO_MANY_REQUESTS);
        assert_non_null(strstr(st.message, "disruption budget"));
}

static void test_transport_errors(void **state)
{
        /* Nothing listens on port 1 of loopback. */
        struct kube_client *c = client_for("http://127.0.0.1:1", "tok-SECRET", NULL, false, 0);
        assert_non_null(c);
        struct kube_status st = {0};
        json_t *obj = NULL;
        assert_int_equal(kube_get(c, &KUBE_PODS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "p"}, &obj,
                                  &st),
                         KUBE_ERR_TRANSPORT);
        assert_int_equal(st.http_code, 0);
        assert_true(strlen(st.message) > 0);
        assert_null(strstr(st.message, "tok-SECRET"));
        kube_client_free(c);

        /* Wrong token: 401, and the token is not echoed anywhere. */
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", plain_port);
        c = client_for(url, "wrong-SECRET", NULL, false, 0);
        assert_int_equal(kube_get(c, &KUBE_PODS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "p"}, &obj,
                                  &st),
                         KUBE_ERR_UNAUTHORIZED);
        assert_null(strstr(st.message, "wrong-SECRET"));
        kube_client_free(c);

        /* Timeout. */
        c = client_for(url, "stub-token", NULL, false, 300);
        int64_t start = clock_monotonic_ms();
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "ns", .name = "slow"},
                                  &obj, &st),
                         KUBE_ERR_TIMEOUT);
        assert_true(clock_monotonic_ms() - start < 2500);
        kube_client_free(c);
}

static void test_tls(void **state)
{
        json_t *obj = NULL;
        struct kube_status st = {0};
        struct kube_get_options get = {.namespace = "ns", .name = "t"};
        assert_int_equal(kube_get(tls, &KUBE_CONFIGMAPS, &get, &obj, &st), 0);
        json_decref(obj);

        char url[64];
        snprintf(url, sizeof(url), "https://127.0.0.1:%d", tls_port);
        /* Verified by default: without the CA the self-signed server is refused. */
        struct kube_client *c = client_for(url, NULL, NULL, false, 0);
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS, &get, &obj, &st), KUBE_ERR_TLS);
        kube_client_free(c);
        /* A different CA: refused too. */
        char *other_cert = NULL, *other_key = NULL;
        assert_int_equal(test_make_self_signed("other", "127.0.0.1", &other_cert, &other_key), 0);
        c = client_for(url, NULL, other_cert, false, 0);
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS, &get, &obj, &st), KUBE_ERR_TLS);
        kube_client_free(c);
        free(other_cert);
        free(other_key);
        /* insecure-skip-tls-verify. */
        c = client_for(url, NULL, NULL, true, 0);
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS, &get, &obj, &st), 0);
        json_decref(obj);
        kube_client_free(c);
}

static void test_list_paging(void **state)
{
        json_t *list = NULL;
        struct kube_status st = {0};
        assert_int_equal(kube_list(plain, &KUBE_CONFIGMAPS,
                                   &(struct kube_list_options){.namespace = "ns",
                                                               .label_selector = "app in (a,b)",
                                                               .limit = 2},
                                   &list, &st),
                         0);
        json_t *items = json_object_get(list, "items");
        assert_int_equal(json_array_size(items), 3);
        assert_string_equal(kube_object_name(json_array_get(items, 2)), "c");
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "kind")),
                            "ConfigMap");
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(items, 0), "apiVersion")), "v1");
        assert_string_equal(kube_object_resource_version(list), "42");
        assert_null(json_object_get(json_object_get(list, "metadata"), "continue"));
        json_decref(list);

        json_t *reqs = requests_matching("/api/v1/namespaces/ns/configmaps?labelSelector=");
        assert_true(json_array_size(reqs) >= 2);
        const char *path = json_string_value(json_object_get(json_array_get(reqs, 1), "path"));
        assert_non_null(strstr(path, "labelSelector=app%20in%20%28a%2Cb%29"));
        assert_non_null(strstr(path, "limit=2"));
        assert_non_null(strstr(path, "continue=page2"));
        json_decref(reqs);

        assert_int_equal(
                kube_list(plain, &KUBE_CONFIGMAPS,
                          &(struct kube_list_options){.namespace = "ns", .single_page = true},
                          &list, &st),
                0);
        assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(list, "metadata"), "continue")),
                "page2");
        json_decref(list);
        list = NULL;
        assert_int_equal(kube_list(plain, &KUBE_CONFIGMAPS,
                                   &(struct kube_list_options){.namespace = "ns",
                                                               .continue_token = "expired"},
                                   &list, &st),
                         KUBE_ERR_GONE);
        assert_null(list);
}

static void test_patch_delete_wire_format(void **state)
{
        json_t *patch = json_pack("{s:{s:s}}", "data", "k", "v");
        json_t *ops =
                json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/data/k", "value", "w");
        static const struct {
                enum kube_patch_type type;
                const char *content_type;
        } kinds[] = {
                {KUBE_PATCH_MERGE, "application/merge-patch+json"},
                {KUBE_PATCH_JSON, "application/json-patch+json"},
                {KUBE_PATCH_STRATEGIC, "application/strategic-merge-patch+json"},
                {KUBE_PATCH_APPLY, "application/apply-patch+yaml"},
        };
        for (size_t i = 0; i < 4; i++) {
                char name[32];
                snprintf(name, sizeof(name), "patched-%zu", i);
                assert_int_equal(kube_patch(plain, &KUBE_CONFIGMAPS,
                                            &(struct kube_patch_options){
                                                    .namespace = "ns",
                                                    .name = name,
                                                    .type = kinds[i].type,
                                                    .field_manager = "tripdeal-operator",
                                                    .force = true,
                                            },
                                            kinds[i].type == KUBE_PATCH_JSON ? ops : patch, NULL,
                                            NULL),
                                 0);
                char prefix[128];
                snprintf(prefix, sizeof(prefix), "/api/v1/namespaces/ns/configmaps/%s", name);
                json_t *reqs = requests_matching(prefix);
                assert_int_equal(json_array_size(reqs), 1);
                json_t *r = json_array_get(reqs, 0);
                assert_string_equal(json_string_value(json_object_get(r, "method")), "PATCH");
                assert_string_equal(json_string_value(json_object_get(r, "content_type")),
                                    kinds[i].content_type);
                const char *path = json_string_value(json_object_get(r, "path"));
                assert_non_null(strstr(path, "fieldManager=tripdeal-operator"));
                assert_true((strstr(path, "force=true") != NULL) ==
                            (kinds[i].type == KUBE_PATCH_APPLY));
                assert_string_equal(json_string_value(json_object_get(r, "authorization")),
                                    "Bearer stub-token");
                json_decref(reqs);
        }
        /* Apply without a field manager and JSON patch with an object are refused. */
        assert_int_equal(kube_patch(plain, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = "ns",
                                                                 .name = "x",
                                                                 .type = KUBE_PATCH_APPLY},
                                    patch, NULL, NULL),
                         -EINVAL);
        assert_int_equal(kube_patch(plain, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = "ns",
                                                                 .name = "x",
                                                                 .type = KUBE_PATCH_JSON},
                                    patch, NULL, NULL),
                         -EINVAL);
        json_decref(patch);
        json_decref(ops);

        assert_int_equal(kube_delete(plain, &KUBE_DEPLOYMENTS,
                                     &(struct kube_delete_options){
                                             .namespace = "ns",
                                             .name = "gone-dep",
                                             .propagation_policy = "Foreground",
                                             .precondition_uid = "u-1",
                                             .precondition_resource_version = "7",
                                             .grace_period_seconds = KUBE_GRACE_PERIOD_NOW,
                                     },
                                     NULL, NULL),
                         0);
        json_t *reqs = requests_matching("/apis/apps/v1/namespaces/ns/deployments/gone-dep");
        assert_int_equal(json_array_size(reqs), 1);
        json_t *r = json_array_get(reqs, 0);
        assert_string_equal(json_string_value(json_object_get(r, "method")), "DELETE");
        json_t *body = json_loads(json_string_value(json_object_get(r, "body")), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(body, "propagationPolicy")),
                            "Foreground");
        assert_int_equal(json_integer_value(json_object_get(body, "gracePeriodSeconds")), 0);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(body, "preconditions"), "uid")),
                "u-1");
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(body, "preconditions"), "resourceVersion")),
                            "7");
        json_decref(body);
        json_decref(reqs);
}

struct events {
        char log[1024];
};

static int record_event(enum kube_watch_event_type type, json_t *object, void *userdata)
{
        struct events *e = userdata;
        size_t n = strlen(e->log);
        snprintf(e->log + n, sizeof(e->log) - n, "%s:%s;", kube_watch_event_type_to_string(type),
                 kube_object_resource_version(object) ? kube_object_resource_version(object) : "-");
        return 0;
}

static void test_watch_stream(void **state)
{
        struct events e = {0};
        struct kube_status st = {0};
        assert_int_equal(kube_watch(plain, &KUBE_CONFIGMAPS,
                                    &(struct kube_watch_options){.namespace = "ns",
                                                                 .resource_version = "10",
                                                                 .allow_bookmarks = true,
                                                                 .timeout_seconds = 30},
                                    record_event, &e, &st),
                         0);
        assert_string_equal(e.log, "ADDED:11;MODIFIED:12;BOOKMARK:15;DELETED:16;");
        json_t *reqs = requests_matching("/api/v1/namespaces/ns/configmaps?watch=true");
        const char *path = json_string_value(
                json_object_get(json_array_get(reqs, json_array_size(reqs) - 1), "path"));
        assert_non_null(strstr(path, "resourceVersion=10"));
        assert_non_null(strstr(path, "allowWatchBookmarks=true"));
        assert_non_null(strstr(path, "timeoutSeconds=30"));
        json_decref(reqs);

        memset(&e, 0, sizeof(e));
        assert_int_equal(kube_watch(plain, &KUBE_CONFIGMAPS,
                                    &(struct kube_watch_options){.namespace = "ns",
                                                                 .resource_version = "old"},
                                    record_event, &e, &st),
                         KUBE_ERR_GONE);
        assert_string_equal(e.log, "ERROR:-;");
        assert_int_equal(st.http_code, 410);
        assert_string_equal(st.reason, "Expired");
}

struct canceller {
        struct kube_cancel *cancel;
        int64_t delay_ms;
};

static void *cancel_later(void *userdata)
{
        struct canceller *c = userdata;
        test_sleep_ms(c->delay_ms);
        kube_cancel(c->cancel);
        return NULL;
}

static void test_watch_cancel(void **state)
{
        struct kube_cancel cancel = {0};
        struct canceller c = {&cancel, 300};
        pthread_t t;
        pthread_create(&t, NULL, cancel_later, &c);
        struct events e = {0};
        int64_t start = clock_monotonic_ms();
        int r = kube_watch(plain, &KUBE_CONFIGMAPS,
                           &(struct kube_watch_options){.namespace = "ns",
                                                        .resource_version = "hang",
                                                        .cancel = &cancel},
                           record_event, &e, NULL);
        int64_t took = clock_monotonic_ms() - start;
        pthread_join(t, NULL);
        assert_int_equal(r, KUBE_ERR_CANCELLED);
        /* Woken by the socket shutdown, not by curl's 1 s progress tick. */
        assert_true(took >= 300);
        assert_true(took < 900);
        assert_string_equal(e.log, "");

        /* An already-cancelled token returns at once. */
        assert_int_equal(
                kube_watch(plain, &KUBE_CONFIGMAPS,
                           &(struct kube_watch_options){.namespace = "ns", .cancel = &cancel},
                           record_event, &e, NULL),
                KUBE_ERR_CANCELLED);
}

#define THREADS 8
#define CALLS   40

static void *hammer(void *userdata)
{
        intptr_t failures = 0;
        for (int i = 0; i < CALLS; i++) {
                char name[32];
                snprintf(name, sizeof(name), "obj-%d", i);
                json_t *obj = NULL;
                struct kube_status st;
                int r = kube_get(tls, &KUBE_CONFIGMAPS,
                                 &(struct kube_get_options){.namespace = "ns", .name = name}, &obj,
                                 &st);
                if (r != 0 || strcmp(kube_object_name(obj), name) != 0)
                        failures++;
                json_decref(obj);
                if (kube_get(tls, &KUBE_CONFIGMAPS,
                             &(struct kube_get_options){.namespace = "ns", .name = "missing"}, &obj,
                             &st) != KUBE_ERR_NOT_FOUND ||
                    st.http_code != 404)
                        failures++;
        }
        return (void *)failures;
}

static void test_concurrent_calls(void **state)
{
        pthread_t threads[THREADS];
        for (int i = 0; i < THREADS; i++)
                pthread_create(&threads[i], NULL, hammer, NULL);
        intptr_t failures = 0;
        for (int i = 0; i < THREADS; i++) {
                void *f;
                pthread_join(threads[i], &f);
                failures += (intptr_t)f;
        }
        assert_int_equal(failures, 0);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s stub-apiserver.py\n", argv[0]);
                return 2;
        }
        stub_path = argv[1];
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_and_typed_errors),
                cmocka_unit_test(test_transport_errors),
                cmocka_unit_test(test_tls),
                cmocka_unit_test(test_list_paging),
                cmocka_unit_test(test_patch_delete_wire_format),
                cmocka_unit_test(test_watch_stream),
                cmocka_unit_test(test_watch_cancel),
                cmocka_unit_test(test_concurrent_calls),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
