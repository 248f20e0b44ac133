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
#include "kube-informer.h"
#include "kube-private.h"
#include "kube.h"
#include "test-pem.h"
#include "test-process.h"

static const char *stub_path;
static char dir[] = "/tmp/kube-client-test-XXXXXX";
static pid_t plain_pid, tls_pid, mtls_pid;
static int plain_port, tls_port, mtls_port;
static char *client_cert_pem, *client_key_pem;
static char *cert_pem, *key_pem;
static struct kube_client *plain; /* http://, token "stub-token" */
static struct kube_client *tls;   /* https:// with the stub's CA */

enum stub_kind { STUB_PLAIN, STUB_TLS, STUB_MTLS };

static int start_stub(const char *name, enum stub_kind kind, pid_t *ret_pid, int *ret_port)
{
        char port_file[256], log_file[256], cert_file[256], key_file[256], client_ca[256];
        snprintf(port_file, sizeof(port_file), "%s/%s.port", dir, name);
        snprintf(log_file, sizeof(log_file), "%s/%s.log", dir, name);
        snprintf(cert_file, sizeof(cert_file), "%s/server.crt", dir);
        snprintf(key_file, sizeof(key_file), "%s/server.key", dir);
        snprintf(client_ca, sizeof(client_ca), "%s/client.crt", dir);
        char *argv[12] = {"python3", (char *)stub_path, "--port-file", port_file};
        int n = 4;
        if (kind == STUB_PLAIN) {
                argv[n++] = "--token";
                argv[n++] = "stub-token";
        } else {
                argv[n++] = "--cert";
                argv[n++] = cert_file;
                argv[n++] = "--key";
                argv[n++] = key_file;
                if (kind == STUB_MTLS) {
                        argv[n++] = "--client-ca";
                        argv[n++] = client_ca;
                }
        }
        argv[n] = NULL;
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
        if (test_make_self_signed("kube-client", NULL, &client_cert_pem, &client_key_pem) < 0)
                return -1;
        free(test_write_file(dir, "client.crt", client_cert_pem));
        free(test_write_file(dir, "client.key", client_key_pem));
        if (start_stub("plain", STUB_PLAIN, &plain_pid, &plain_port) < 0 ||
            start_stub("tls", STUB_TLS, &tls_pid, &tls_port) < 0 ||
            start_stub("mtls", STUB_MTLS, &mtls_pid, &mtls_port) < 0)
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
        test_kill(mtls_pid, false);
        free(client_cert_pem);
        free(client_key_pem);
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

/* Client certificates from a kubeconfig (data and files) reach a server that
 * requires them. */
static void test_client_certificate_auth(void **state)
{
        char *server_ca_b64 = test_base64(cert_pem);
        char *cert_b64 = test_base64(client_cert_pem);
        char *key_b64 = test_base64(client_key_pem);
        char *text = NULL;
        assert_true(asprintf(&text,
                             "current-context: data\n"
                             "clusters:\n"
                             "- name: stub\n"
                             "  cluster:\n"
                             "    server: https://127.0.0.1:%d\n"
                             "    certificate-authority-data: %s\n"
                             "users:\n"
                             "- name: data\n"
                             "  user:\n"
                             "    client-certificate-data: %s\n"
                             "    client-key-data: %s\n"
                             "- name: files\n"
                             "  user: {client-certificate: client.crt, client-key: client.key}\n"
                             "- name: nobody\n"
                             "  user: {}\n"
                             "contexts:\n"
                             "- {name: data, context: {cluster: stub, user: data}}\n"
                             "- {name: files, context: {cluster: stub, user: files}}\n"
                             "- {name: nobody, context: {cluster: stub, user: nobody}}\n",
                             mtls_port, server_ca_b64, cert_b64, key_b64) > 0);
        char *path = test_write_file(dir, "mtls.kubeconfig", text);
        const char *contexts[] = {"data", "files", "nobody"};
        for (size_t i = 0; i < 3; i++) {
                struct kube_config *config = NULL;
                struct kube_status st = {0};
                assert_int_equal(
                        kube_config_load(&(struct kube_config_options){.kubeconfig_path = path,
                                                                       .context = contexts[i]},
                                         &config, &st),
                        0);
                struct kube_client *c = NULL;
                assert_int_equal(kube_client_new(config, NULL, &c), 0);
                kube_config_free(config);
                json_t *obj = NULL;
                int r = kube_get(c, &KUBE_CONFIGMAPS,
                                 &(struct kube_get_options){.namespace = "ns", .name = "m"}, &obj,
                                 &st);
                if (i < 2) {
                        assert_int_equal(r, 0);
                        assert_string_equal(kube_object_name(obj), "m");
                } else {
                        /* Refused during or right after the handshake. */
                        assert_true(r == KUBE_ERR_TLS || r == KUBE_ERR_TRANSPORT);
                }
                json_decref(obj);
                kube_client_free(c);
        }
        free(path);
        free(text);
        free(server_ca_b64);
        free(cert_b64);
        free(key_b64);
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
        int64_t start = clock_monotonic_ms();
        pthread_create(&t, NULL, cancel_later, &c);
        struct events e = {0};
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

/* Informer against a scripted server: 410 -> relist synthesises the delete
 * of a vanished object and an update for a changed one; a replayed event is
 * dropped. */
struct informer_log {
        pthread_mutex_t lock;
        char text[512];
};

static void log_line(struct informer_log *l, const char *what, const json_t *obj)
{
        pthread_mutex_lock(&l->lock);
        size_t n = strlen(l->text);
        snprintf(l->text + n, sizeof(l->text) - n, "%s %s@%s;", what, kube_object_name(obj),
                 kube_object_resource_version(obj));
        pthread_mutex_unlock(&l->lock);
}

static void inf_add(json_t *obj, void *userdata)
{
        log_line(userdata, "add", obj);
}

static void inf_update(json_t *old, json_t *obj, void *userdata)
{
        log_line(userdata, "update", obj);
}

static void inf_delete(json_t *obj, void *userdata)
{
        log_line(userdata, "delete", obj);
}

static void test_informer_relist_synthesis(void **state)
{
        struct informer_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
        struct kube_informer *inf = NULL;
        assert_int_equal(
                kube_informer_new(plain,
                                  &(struct kube_informer_options){
                                          .resource = &KUBE_CONFIGMAPS,
                                          .namespace = "relist",
                                          .handlers = {inf_add, inf_update, inf_delete, &log},
                                  },
                                  &inf),
                0);
        assert_int_equal(kube_informer_start(inf), 0);
        const char *expected = "add a@1;add b@1;delete b@1;update a@2;add c@1;update c@3;";
        int64_t deadline = clock_monotonic_ms() + 5000;
        bool done = false;
        while (!done && clock_monotonic_ms() < deadline) {
                pthread_mutex_lock(&log.lock);
                done = strcmp(log.text, expected) == 0;
                pthread_mutex_unlock(&log.lock);
                if (!done)
                        test_sleep_ms(10);
        }
        pthread_mutex_lock(&log.lock);
        assert_string_equal(log.text, expected);
        pthread_mutex_unlock(&log.lock);
        struct kube_informer_stats st;
        kube_informer_stats(inf, &st);
        assert_int_equal(st.lists, 2);
        assert_int_equal(st.gone, 1);
        assert_int_equal(st.duplicates, 1);
        char rv[32];
        assert_int_equal(kube_informer_resource_version(inf, rv, sizeof(rv)), 0);
        assert_string_equal(rv, "3");
        json_t *objects = NULL;
        assert_int_equal(kube_informer_list(inf, "relist", &objects), 0);
        assert_int_equal(json_array_size(objects), 2);
        assert_string_equal(kube_object_name(json_array_get(objects, 0)), "a");
        assert_string_equal(kube_object_name(json_array_get(objects, 1)), "c");
        json_decref(objects);
        json_t *obj = NULL;
        assert_int_equal(kube_informer_get(inf, "relist", "b", &obj), KUBE_ERR_NOT_FOUND);
        /* Stopping cancels the idle watch at once. */
        int64_t start = clock_monotonic_ms();
        kube_informer_free(inf);
        assert_true(clock_monotonic_ms() - start < 1000);
}

/* Informer refused by the server (wrong token): every failed list reaches
 * on_error with its real cause, kube_informer_last_error keeps it, and a
 * wait for sync ends at once (KUBE_ERR_CANCELLED) when the informer stops. */
struct refusals {
        pthread_mutex_t lock;
        int count;
        enum kube_informer_operation operation;
        int error;
        struct kube_status status;
        const struct kube_resource *resource;
};

static void inf_error(const struct kube_resource *resource, enum kube_informer_operation operation,
                      int error, const struct kube_status *status, void *userdata)
{
        struct refusals *r = userdata;
        pthread_mutex_lock(&r->lock);
        r->count++;
        r->operation = operation;
        r->error = error;
        r->status = *status;
        r->resource = resource;
        pthread_mutex_unlock(&r->lock);
}

struct sync_waiter {
        struct kube_informer *informer;
        int result;
};

static void *wait_for_sync_thread(void *userdata)
{
        struct sync_waiter *w = userdata;
        w->result = kube_informer_wait_for_sync(w->informer, 60000);
        return NULL;
}

static void test_informer_refused(void **state)
{
        char server[64];
        snprintf(server, sizeof(server), "http://127.0.0.1:%d", plain_port);
        struct kube_client *wrong = client_for(server, "wrong-token", NULL, false, 5000);
        assert_non_null(wrong);
        struct refusals refusals = {.lock = PTHREAD_MUTEX_INITIALIZER};
        struct kube_informer *inf = NULL;
        assert_int_equal(kube_informer_new(wrong,
                                           &(struct kube_informer_options){
                                                   .resource = &KUBE_CONFIGMAPS,
                                                   .namespace = "ns",
                                                   .handlers = {.userdata = &refusals},
                                                   .on_error = inf_error,
                                                   .backoff_base_ms = 20,
                                                   .backoff_max_ms = 50,
                                           },
                                           &inf),
                         0);
        assert_int_equal(kube_informer_last_error(inf, NULL), 0);
        assert_int_equal(kube_informer_start(inf), 0);

        /* Two failed lists, each reported (the informer keeps retrying). */
        int64_t deadline = clock_monotonic_ms() + 10000;
        pthread_mutex_lock(&refusals.lock);
        while (refusals.count < 2 && clock_monotonic_ms() < deadline) {
                pthread_mutex_unlock(&refusals.lock);
                test_sleep_ms(10);
                pthread_mutex_lock(&refusals.lock);
        }
        assert_true(refusals.count >= 2);
        assert_int_equal(refusals.operation, KUBE_INFORMER_LIST);
        assert_int_equal(refusals.error, KUBE_ERR_UNAUTHORIZED);
        assert_int_equal(refusals.status.http_code, 401);
        assert_ptr_equal(refusals.resource, &KUBE_CONFIGMAPS);
        pthread_mutex_unlock(&refusals.lock);

        assert_false(kube_informer_has_synced(inf));
        assert_int_equal(kube_informer_wait_for_sync(inf, 1), -ETIMEDOUT);
        struct kube_status status = {0};
        assert_int_equal(kube_informer_last_error(inf, &status), KUBE_ERR_UNAUTHORIZED);
        assert_int_equal(status.http_code, 401);

        /* Stop while another thread waits for sync: the wait ends, cancelled. */
        struct sync_waiter waiter = {.informer = inf, .result = 1};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, wait_for_sync_thread, &waiter), 0);
        kube_informer_stop(inf);
        pthread_join(t, NULL);
        assert_int_equal(waiter.result, KUBE_ERR_CANCELLED);
        assert_int_equal(kube_informer_wait_for_sync(inf, 60000), KUBE_ERR_CANCELLED);
        kube_informer_free(inf);
        kube_client_free(wrong);
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
                cmocka_unit_test(test_client_certificate_auth),
                cmocka_unit_test(test_list_paging),
                cmocka_unit_test(test_patch_delete_wire_format),
                cmocka_unit_test(test_watch_stream),
                cmocka_unit_test(test_watch_cancel),
                cmocka_unit_test(test_informer_relist_synthesis),
                cmocka_unit_test(test_informer_refused),
                cmocka_unit_test(test_concurrent_calls),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
