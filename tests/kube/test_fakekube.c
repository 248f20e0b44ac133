/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of lib/kube against fakekube (a real API server stand-in):
 * CRUD and typed errors, watch, informer resume / 410 relist / server
 * restart, leader election, events.
 *
 * Usage: test-kube-fakekube PATH-TO-FAKEKUBE.  Exits 77 (skip) when the
 * binary does not exist.
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
#include "kube-events.h"
#include "kube-informer.h"
#include "kube-leader.h"
#include "kube-private.h"
#include "kube.h"
#include "support.h"
#include "test-process.h"

static const char *fakekube_path;
static char *dir; /* support_temp_dir() */

struct server {
        pid_t pid;
        char kubeconfig[256];
        char data[256];
        char log[256];
        int port;
        struct kube_client *client;
};

static struct server main_server;

struct server_options {
        const char *name;
        int port;                      /* 0: a free one (kept across restarts by passing s->port) */
        const char *watch_window;      /* NULL: fakekube's default */
        const char *bookmark_interval; /* NULL: 1s */
        bool plain_http;
};

static int server_start(struct server *s, const struct server_options *o)
{
        snprintf(s->kubeconfig, sizeof(s->kubeconfig), "%s/%s.kubeconfig", dir, o->name);
        snprintf(s->data, sizeof(s->data), "%s/%s.data", dir, o->name);
        snprintf(s->log, sizeof(s->log), "%s/%s.log", dir, o->name);
        unlink(s->kubeconfig);
        char listen[64];
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", o->port);
        char *argv[20] = {(char *)fakekube_path,
                          "--listen",
                          listen,
                          "--kubeconfig-out",
                          s->kubeconfig,
                          "--data",
                          s->data,
                          "--no-controllers",
                          "--bookmark-interval",
                          (char *)(o->bookmark_interval ? o->bookmark_interval : "1s"),
                          "--log-level",
                          "warn"};
        int n = 12;
        if (o->watch_window) {
                argv[n++] = "--watch-window";
                argv[n++] = (char *)o->watch_window;
        }
        if (o->plain_http)
                argv[n++] = "--plain-http";
        argv[n] = NULL;
        if (test_spawn(argv, s->log, &s->pid) < 0)
                return -1;
        if (test_wait_for_file(s->kubeconfig, 20000) < 0) {
                fprintf(stderr, "fakekube did not write %s; log %s\n", s->kubeconfig, s->log);
                return -1;
        }
        if (s->client)
                return 0;
        /* The real kubeconfig path: TLS with the CA data and a bearer token. */
        struct kube_config *config = NULL;
        struct kube_status st = {0};
        int r = kube_config_load(&(struct kube_config_options){.kubeconfig_path = s->kubeconfig},
                                 &config, &st);
        if (r < 0) {
                fprintf(stderr, "kubeconfig: %s: %s\n", kube_strerror(r), st.message);
                return -1;
        }
        const char *colon = strrchr(kube_config_server(config), ':');
        s->port = colon ? atoi(colon + 1) : 0;
        r = kube_client_new(config, NULL, &s->client);
        kube_config_free(config);
        return r < 0 || s->port <= 0 ? -1 : 0;
}

static void server_stop(struct server *s, bool hard)
{
        test_kill(s->pid, hard);
        s->pid = 0;
}

static void server_free(struct server *s)
{
        if (s->pid)
                server_stop(s, false);
        kube_client_free(s->client);
        s->client = NULL;
}

static int create_namespace(struct kube_client *c, const char *name)
{
        json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                               "metadata", "name", name);
        int r = kube_create(c, &KUBE_NAMESPACES, NULL, ns, NULL, NULL);
        json_decref(ns);
        return r == KUBE_ERR_ALREADY_EXISTS ? 0 : r;
}

static int group_setup(void **state)
{
        if (support_temp_dir("kube-fakekube-test", &dir) < 0)
                return -1;
        if (server_start(&main_server, &(struct server_options){.name = "main"}) < 0)
                return -1;
        const char *namespaces[] = {"crud", "watch", "inf", "lease", "ev", "ev-bounded", "trigger"};
        for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++)
                if (create_namespace(main_server.client, namespaces[i]) < 0)
                        return -1;
        return 0;
}

static int group_teardown(void **state)
{
        server_free(&main_server);
        int r = support_remove_tree(dir);
        free(dir);
        return r;
}

static json_t *configmap(const char *ns, const char *name, const char *value)
{
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                         "ConfigMap", "metadata", "name", name, "namespace", ns, "labels", "app",
                         "tripdeal", "data", "k", value);
}

static const char *cm_value(const json_t *cm)
{
        return json_string_value(json_object_get(json_object_get(cm, "data"), "k"));
}

/* ---- CRUD and typed errors ---- */

static void test_crud_and_errors(void **state)
{
        struct kube_client *c = main_server.client;
        struct kube_status st = {0};
        json_t *obj = NULL, *created = NULL;

        json_t *cm = configmap("crud", "one", "v1");
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, cm, &created, &st), 0);
        assert_non_null(kube_object_uid(created));
        assert_non_null(kube_object_resource_version(created));

        /* 409 AlreadyExists vs 409 Conflict. */
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, cm, NULL, &st),
                         KUBE_ERR_ALREADY_EXISTS);
        assert_int_equal(st.http_code, 409);
        assert_string_equal(st.reason, "AlreadyExists");

        json_t *update = json_deep_copy(created);
        json_object_set_new(json_object_get(update, "data"), "k", json_string("v2"));
        json_t *updated = NULL;
        assert_int_equal(kube_update(c, &KUBE_CONFIGMAPS, NULL, update, &updated, &st), 0);
        assert_string_equal(cm_value(updated), "v2");
        assert_string_not_equal(kube_object_resource_version(updated),
                                kube_object_resource_version(created));
        /* The same stale resourceVersion again: optimistic concurrency says no. */
        assert_int_equal(kube_update(c, &KUBE_CONFIGMAPS, NULL, update, NULL, &st),
                         KUBE_ERR_CONFLICT);
        assert_int_equal(st.http_code, 409);
        json_decref(update);

        /* 404 */
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "crud", .name = "nope"},
                                  &obj, &st),
                         KUBE_ERR_NOT_FOUND);
        assert_int_equal(st.http_code, 404);
        assert_null(obj);

        /* 422: an invalid name. */
        json_t *bad = configmap("crud", "Not_A_Valid_Name", "x");
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, bad, NULL, &st), KUBE_ERR_INVALID);
        assert_int_equal(st.http_code, 422);
        json_decref(bad);

        /* Patches: merge, JSON, strategic, apply. */
        json_t *merge = json_pack("{s:{s:s}}", "data", "k", "merged");
        assert_int_equal(kube_patch(c, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = "crud",
                                                                 .name = "one",
                                                                 .type = KUBE_PATCH_MERGE},
                                    merge, &obj, &st),
                         0);
        assert_string_equal(cm_value(obj), "merged");
        json_decref(obj);
        json_decref(merge);
        json_t *ops = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/data/k", "value",
                                "json-patched");
        assert_int_equal(kube_patch(c, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = "crud",
                                                                 .name = "one",
                                                                 .type = KUBE_PATCH_JSON},
                                    ops, &obj, &st),
                         0);
        assert_string_equal(cm_value(obj), "json-patched");
        json_decref(obj);
        json_decref(ops);
        json_t *smp = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "tier", "web");
        assert_int_equal(kube_patch(c, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = "crud",
                                                                 .name = "one",
                                                                 .type = KUBE_PATCH_STRATEGIC},
                                    smp, &obj, &st),
                         0);
        json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        assert_string_equal(json_string_value(json_object_get(labels, "tier")), "web");
        assert_string_equal(json_string_value(json_object_get(labels, "app")), "tripdeal");
        json_decref(obj);
        json_decref(smp);
        json_t *apply = configmap("crud", "applied", "by-apply");
        assert_int_equal(kube_patch(c, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = "crud",
                                                                 .name = "applied",
                                                                 .type = KUBE_PATCH_APPLY,
                                                                 .field_manager = "kube-test",
                                                                 .force = true},
                                    apply, &obj, &st),
                         0);
        assert_string_equal(cm_value(obj), "by-apply");
        json_decref(obj);
        json_decref(apply);

        /* List with a label selector and paging (limit 1 -> several pages). */
        for (int i = 0; i < 4; i++) {
                char name[16];
                snprintf(name, sizeof(name), "page-%d", i);
                json_t *p = configmap("crud", name, "p");
                json_object_set_new(json_object_get(json_object_get(p, "metadata"), "labels"),
                                    "paged", json_string("yes"));
                assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, p, NULL, &st), 0);
                json_decref(p);
        }
        json_t *list = NULL;
        assert_int_equal(kube_list(c, &KUBE_CONFIGMAPS,
                                   &(struct kube_list_options){.namespace = "crud",
                                                               .label_selector = "paged=yes",
                                                               .limit = 1},
                                   &list, &st),
                         0);
        assert_int_equal(json_array_size(json_object_get(list, "items")), 4);
        assert_non_null(kube_object_resource_version(list));
        json_decref(list);
        assert_int_equal(kube_list(c, &KUBE_CONFIGMAPS,
                                   &(struct kube_list_options){.namespace = "crud",
                                                               .label_selector = "paged!=yes"},
                                   &list, &st),
                         0);
        assert_int_equal(json_array_size(json_object_get(list, "items")), 2); /* one, applied */
        json_decref(list);

        /* Delete with a wrong uid precondition: 409; then for real: 404 after. */
        assert_int_equal(kube_delete(c, &KUBE_CONFIGMAPS,
                                     &(struct kube_delete_options){.namespace = "crud",
                                                                   .name = "one",
                                                                   .precondition_uid = "wrong"},
                                     NULL, &st),
                         KUBE_ERR_CONFLICT);
        assert_int_equal(kube_delete(c, &KUBE_CONFIGMAPS,
                                     &(struct kube_delete_options){
                                             .namespace = "crud",
                                             .name = "one",
                                             .precondition_uid = kube_object_uid(created),
                                             .propagation_policy = "Background"},
                                     NULL, &st),
                         0);
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "crud", .name = "one"},
                                  &obj, &st),
                         KUBE_ERR_NOT_FOUND);
        assert_int_equal(
                kube_delete(c, &KUBE_CONFIGMAPS,
                            &(struct kube_delete_options){.namespace = "crud", .name = "one"}, NULL,
                            &st),
                KUBE_ERR_NOT_FOUND);
        json_decref(created);
        json_decref(updated);
        json_decref(cm);
}

static json_t *pod(const char *name, const char *app)
{
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion",
                         "v1", "kind", "Pod", "metadata", "name", name, "namespace", "crud",
                         "labels", "app", app, "spec", "containers", "name", "app", "image",
                         "registry.example.com/tripdeal/app:1.4.0");
}

static void test_status_subresource_and_eviction(void **state)
{
        struct kube_client *c = main_server.client;
        struct kube_status st = {0};
        json_t *dep = json_pack(
                "{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, "
                "s:s}]}}}}",
                "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web",
                "namespace", "crud", "spec", "replicas", 2, "selector", "matchLabels", "app", "web",
                "template", "metadata", "labels", "app", "web", "spec", "containers", "name", "app",
                "image", "registry.example.com/tripdeal/app:1.4.0");
        json_t *created = NULL;
        assert_int_equal(kube_create(c, &KUBE_DEPLOYMENTS, NULL, dep, &created, &st), 0);
        json_decref(dep);
        /* update_status writes status only: the spec change rides along and is ignored. */
        json_object_set_new(
                created, "status",
                json_pack("{s:i, s:i}", "observedGeneration", 1, "availableReplicas", 1));
        json_object_set_new(json_object_get(created, "spec"), "replicas", json_integer(9));
        json_t *updated = NULL;
        assert_int_equal(kube_update_status(c, &KUBE_DEPLOYMENTS, NULL, created, &updated, &st), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(updated, "status"),
                                                            "availableReplicas")),
                         1);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(updated, "spec"), "replicas")),
                2);
        json_decref(created);
        json_decref(updated);

        /* Eviction: a PDB that allows no disruption refuses with 429. */
        json_t *pdb = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:{s:{s:s}}}}", "apiVersion",
                                "policy/v1", "kind", "PodDisruptionBudget", "metadata", "name",
                                "web", "namespace", "crud", "spec", "minAvailable", 5, "selector",
                                "matchLabels", "app", "web");
        assert_int_equal(kube_create(c, &KUBE_PDBS, NULL, pdb, NULL, &st), 0);
        json_decref(pdb);
        json_t *p = pod("web-1", "web");
        assert_int_equal(kube_create(c, &KUBE_PODS, NULL, p, NULL, &st), 0);
        json_decref(p);
        assert_int_equal(
                kube_evict(c, &(struct kube_evict_options){.namespace = "crud", .name = "web-1"},
                           &st),
                KUBE_ERR_TOO_MANY_REQUESTS);
        assert_int_equal(st.http_code, 429);
        /* An unprotected pod is evicted. */
        p = pod("lonely", "other");
        assert_int_equal(kube_create(c, &KUBE_PODS, NULL, p, NULL, &st), 0);
        json_decref(p);
        assert_int_equal(kube_evict(c,
                                    &(struct kube_evict_options){.namespace = "crud",
                                                                 .name = "lonely",
                                                                 .grace_period_seconds =
                                                                         KUBE_GRACE_PERIOD_NOW},
                                    &st),
                         0);
        json_t *obj = NULL;
        int r = kube_get(c, &KUBE_PODS,
                         &(struct kube_get_options){.namespace = "crud", .name = "lonely"}, &obj,
                         &st);
        assert_true(r == KUBE_ERR_NOT_FOUND ||
                    json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"));
        json_decref(obj);
        /* Evicting a pod that does not exist: 404. */
        assert_int_equal(
                kube_evict(c, &(struct kube_evict_options){.namespace = "crud", .name = "ghost"},
                           &st),
                KUBE_ERR_NOT_FOUND);
}

/* pods/log comes back as text; a missing pod is 404. */
static void test_pod_log(void **state)
{
        struct kube_client *c = main_server.client;
        struct kube_status st = {0};
        json_t *p = pod("logged", "logged");
        assert_int_equal(kube_create(c, &KUBE_PODS, NULL, p, NULL, &st), 0);
        json_decref(p);
        char *text = NULL;
        int r = kube_pod_log(c,
                             &(struct kube_pod_log_options){
                                     .namespace = "crud", .name = "logged", .tail_lines = 5},
                             &text, &st);
        assert_int_equal(r, 0);
        assert_non_null(text); /* a virtual pod's log is empty, but it is text, not JSON */
        free(text);
        text = NULL;
        assert_int_equal(
                kube_pod_log(c,
                             &(struct kube_pod_log_options){.namespace = "crud", .name = "ghost"},
                             &text, &st),
                KUBE_ERR_NOT_FOUND);
        assert_null(text);
        assert_int_equal(kube_pod_log(c, &(struct kube_pod_log_options){.name = "x"}, &text, &st),
                         -EINVAL);
}

static void write_token(const char *path, const char *token)
{
        char tmp[300];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        FILE *f = fopen(tmp, "we");
        assert_non_null(f);
        fprintf(f, "%s\n", token);
        fclose(f);
        assert_int_equal(rename(tmp, path), 0);
}

/* A wrong token is 401 and never echoed; a token file is re-read on every
 * request, so rotating it takes effect without a new client. */
static void test_token_file_rotation(void **state)
{
        struct kube_config *config = NULL;
        assert_int_equal(
                kube_config_load(
                        &(struct kube_config_options){.kubeconfig_path = main_server.kubeconfig},
                        &config, NULL),
                0);
        char *real_token = config->token;
        char token_path[300];
        snprintf(token_path, sizeof(token_path), "%s/rotating.token", dir);
        write_token(token_path, "not-the-token");
        config->token = NULL;
        config->token_file = strdup(token_path);
        struct kube_client *c = NULL;
        assert_int_equal(kube_client_new(config, NULL, &c), 0);
        struct kube_status st = {0};
        json_t *list = NULL;
        assert_int_equal(kube_list(c, &KUBE_CONFIGMAPS, NULL, &list, &st), KUBE_ERR_UNAUTHORIZED);
        assert_int_equal(st.http_code, 401);
        assert_null(strstr(st.message, "not-the-token"));
        assert_null(list);
        write_token(token_path, real_token);
        assert_int_equal(kube_list(c, &KUBE_CONFIGMAPS, NULL, &list, &st), 0);
        json_decref(list);
        /* The file vanishing is a credentials error, not a 401. */
        unlink(token_path);
        assert_int_equal(kube_list(c, &KUBE_CONFIGMAPS, NULL, &list, &st), KUBE_ERR_CREDENTIALS);
        kube_client_free(c);
        config->token = real_token;
        kube_config_free(config);
}

/* ---- watch ---- */

struct watch_log {
        char text[2048];
        int events;
        int bookmarks;
        int stop_after_bookmarks;
};

static int log_event(enum kube_watch_event_type type, json_t *object, void *userdata)
{
        struct watch_log *w = userdata;
        if (type == KUBE_WATCH_BOOKMARK) {
                w->bookmarks++;
                return w->bookmarks >= w->stop_after_bookmarks ? 1 : 0;
        }
        size_t n = strlen(w->text);
        snprintf(w->text + n, sizeof(w->text) - n, "%s %s=%s;",
                 kube_watch_event_type_to_string(type), kube_object_name(object),
                 cm_value(object) ? cm_value(object) : "");
        w->events++;
        return 0;
}

static void test_watch_resume_and_bookmarks(void **state)
{
        struct kube_client *c = main_server.client;
        json_t *list = NULL;
        assert_int_equal(kube_list(c, &KUBE_CONFIGMAPS,
                                   &(struct kube_list_options){.namespace = "watch"}, &list, NULL),
                         0);
        char *rv = strdup(kube_object_resource_version(list));
        json_decref(list);

        /* Changes made before the watch starts are replayed from rv. */
        json_t *cm = configmap("watch", "w1", "a"), *created = NULL;
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, cm, &created, NULL), 0);
        json_object_set_new(json_object_get(created, "data"), "k", json_string("b"));
        assert_int_equal(kube_update(c, &KUBE_CONFIGMAPS, NULL, created, NULL, NULL), 0);
        assert_int_equal(
                kube_delete(c, &KUBE_CONFIGMAPS,
                            &(struct kube_delete_options){.namespace = "watch", .name = "w1"}, NULL,
                            NULL),
                0);
        /* The callback stops the watch at the first bookmark (--bookmark-interval 1s). */
        struct watch_log w = {.stop_after_bookmarks = 1};
        int64_t start = clock_monotonic_ms();
        int r = kube_watch(c, &KUBE_CONFIGMAPS,
                           &(struct kube_watch_options){.namespace = "watch",
                                                        .resource_version = rv,
                                                        .allow_bookmarks = true,
                                                        .timeout_seconds = 10},
                           log_event, &w, NULL);
        assert_int_equal(r, 1);
        assert_true(clock_monotonic_ms() - start < 5000);
        assert_string_equal(w.text, "ADDED w1=a;MODIFIED w1=b;DELETED w1=b;");
        free(rv);
        json_decref(cm);
        json_decref(created);

        /* timeoutSeconds ends the watch normally: 0. */
        struct watch_log quiet = {.stop_after_bookmarks = 1000};
        start = clock_monotonic_ms();
        assert_int_equal(
                kube_watch(c, &KUBE_CONFIGMAPS,
                           &(struct kube_watch_options){.namespace = "watch", .timeout_seconds = 1},
                           log_event, &quiet, NULL),
                0);
        assert_true(clock_monotonic_ms() - start < 5000);
}

/* ---- informer ---- */

/*
 * Handler log: per object name the sequence of values seen, and counters.
 * "No lost or duplicated change": the values an object went through appear
 * exactly in order, once each.
 */
struct tracker {
        pthread_mutex_t lock;
        json_t *history; /* name -> "v1,v2,...,DELETED" string */
        int adds, updates, deletes;
};

static void track(struct tracker *t, const json_t *obj, const char *what)
{
        pthread_mutex_lock(&t->lock);
        const char *name = kube_object_name(obj);
        const char *prev = json_string_value(json_object_get(t->history, name));
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s%s%s", prev ? prev : "", prev ? "," : "", what);
        json_object_set_new(t->history, name, json_string(buf));
        pthread_mutex_unlock(&t->lock);
}

static void on_add(json_t *obj, void *userdata)
{
        struct tracker *t = userdata;
        t->adds++;
        track(t, obj, cm_value(obj));
}

static void on_update(json_t *old, json_t *obj, void *userdata)
{
        struct tracker *t = userdata;
        t->updates++;
        track(t, obj, cm_value(obj));
}

static void on_delete(json_t *obj, void *userdata)
{
        struct tracker *t = userdata;
        t->deletes++;
        track(t, obj, "DELETED");
}

/* A copy of name's history (the tracker's string may be replaced any time). */
static const char *history(struct tracker *t, const char *name)
{
        static _Thread_local char copy[1024];
        pthread_mutex_lock(&t->lock);
        const char *h = json_string_value(json_object_get(t->history, name));
        snprintf(copy, sizeof(copy), "%s", h ? h : "");
        pthread_mutex_unlock(&t->lock);
        return copy;
}

/* Poll (bounded) until the history of name equals expected. */
static bool wait_history(struct tracker *t, const char *name, const char *expected,
                         int64_t timeout_ms)
{
        int64_t deadline = clock_monotonic_ms() + timeout_ms;
        while (clock_monotonic_ms() < deadline) {
                if (strcmp(history(t, name), expected) == 0)
                        return true;
                test_sleep_ms(10);
        }
        fprintf(stderr, "history of %s: \"%s\", expected \"%s\"\n", name, history(t, name),
                expected);
        return false;
}

static struct kube_informer *start_informer(struct kube_client *c, const char *ns,
                                            struct tracker *t, long watch_timeout,
                                            int64_t backoff_ms)
{
        pthread_mutex_init(&t->lock, NULL);
        t->history = json_object();
        struct kube_informer *inf = NULL;
        assert_int_equal(kube_informer_new(c,
                                           &(struct kube_informer_options){
                                                   .resource = &KUBE_CONFIGMAPS,
                                                   .namespace = ns,
                                                   .label_selector = "app=tripdeal",
                                                   .handlers = {on_add, on_update, on_delete, t},
                                                   .watch_timeout_seconds = watch_timeout,
                                                   .backoff_base_ms = backoff_ms,
                                                   .backoff_max_ms = backoff_ms * 4,
                                           },
                                           &inf),
                         0);
        assert_int_equal(kube_informer_start(inf), 0);
        assert_int_equal(kube_informer_wait_for_sync(inf, 10000), 0);
        return inf;
}

static void tracker_done(struct tracker *t)
{
        json_decref(t->history);
        pthread_mutex_destroy(&t->lock);
}

static void set_value(struct kube_client *c, const char *ns, const char *name, const char *value)
{
        json_t *patch = json_pack("{s:{s:s}}", "data", "k", value);
        assert_int_equal(kube_patch(c, &KUBE_CONFIGMAPS,
                                    &(struct kube_patch_options){.namespace = ns,
                                                                 .name = name,
                                                                 .type = KUBE_PATCH_MERGE},
                                    patch, NULL, NULL),
                         0);
        json_decref(patch);
}

/* Like set_value, while the server comes back up (bounded). */
static void set_value_retrying(struct kube_client *c, const char *ns, const char *name,
                               const char *value)
{
        json_t *patch = json_pack("{s:{s:s}}", "data", "k", value);
        int64_t deadline = clock_monotonic_ms() + 10000;
        int r;
        do {
                r = kube_patch(c, &KUBE_CONFIGMAPS,
                               &(struct kube_patch_options){
                                       .namespace = ns, .name = name, .type = KUBE_PATCH_MERGE},
                               patch, NULL, NULL);
                if (r != 0)
                        test_sleep_ms(20);
        } while (r != 0 && clock_monotonic_ms() < deadline);
        assert_int_equal(r, 0);
        json_decref(patch);
}

static void create_cm(struct kube_client *c, const char *ns, const char *name, const char *value)
{
        json_t *cm = configmap(ns, name, value);
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, cm, NULL, NULL), 0);
        json_decref(cm);
}

static void delete_cm(struct kube_client *c, const char *ns, const char *name)
{
        assert_int_equal(kube_delete(c, &KUBE_CONFIGMAPS,
                                     &(struct kube_delete_options){.namespace = ns, .name = name},
                                     NULL, NULL),
                         0);
}

/* The cache holds exactly what the server lists (names and resourceVersions). */
static void assert_cache_matches_server(struct kube_client *c, struct kube_informer *inf,
                                        const char *ns)
{
        int64_t deadline = clock_monotonic_ms() + 10000;
        for (;;) {
                json_t *list = NULL, *cached = NULL;
                assert_int_equal(
                        kube_list(c, &KUBE_CONFIGMAPS,
                                  &(struct kube_list_options){.namespace = ns,
                                                              .label_selector = "app=tripdeal"},
                                  &list, NULL),
                        0);
                assert_int_equal(kube_informer_list(inf, ns, &cached), 0);
                json_t *items = json_object_get(list, "items");
                bool same = json_array_size(items) == json_array_size(cached);
                size_t i;
                json_t *item;
                json_array_foreach (items, i, item) {
                        json_t *mine = NULL;
                        if (kube_informer_get(inf, ns, kube_object_name(item), &mine) < 0 ||
                            strcmp(kube_object_resource_version(mine),
                                   kube_object_resource_version(item)) != 0)
                                same = false;
                        json_decref(mine);
                }
                json_decref(list);
                json_decref(cached);
                if (same)
                        return;
                if (clock_monotonic_ms() > deadline)
                        fail_msg("informer cache differs from the server");
                test_sleep_ms(20);
        }
}

static void test_informer_basic(void **state)
{
        struct kube_client *c = main_server.client;
        create_cm(c, "inf", "pre", "p0");
        struct tracker t = {0};
        struct kube_informer *inf = start_informer(c, "inf", &t, 2, 100);
        assert_true(kube_informer_has_synced(inf));
        assert_true(wait_history(&t, "pre", "p0", 2000));

        create_cm(c, "inf", "a", "1");
        set_value(c, "inf", "a", "2");
        set_value(c, "inf", "a", "3");
        delete_cm(c, "inf", "a");
        set_value(c, "inf", "pre", "p1");
        /* Not matching the selector: never seen. */
        json_t *other = configmap("inf", "unlabelled", "x");
        json_object_del(json_object_get(other, "metadata"), "labels");
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, other, NULL, NULL), 0);
        json_decref(other);

        assert_true(wait_history(&t, "a", "1,2,3,DELETED", 5000));
        assert_true(wait_history(&t, "pre", "p0,p1", 5000));
        json_t *obj = NULL;
        assert_int_equal(kube_informer_get(inf, "inf", "a", &obj), KUBE_ERR_NOT_FOUND);
        assert_int_equal(kube_informer_get(inf, "inf", "pre", &obj), 0);
        assert_string_equal(cm_value(obj), "p1");
        json_decref(obj);
        assert_int_equal(kube_informer_get(inf, "inf", "unlabelled", &obj), KUBE_ERR_NOT_FOUND);

        /* Watches end every 2 s (timeoutSeconds) and resume: across at least
         * two of them, nothing is replayed. */
        struct kube_informer_stats before;
        kube_informer_stats(inf, &before);
        int64_t deadline = clock_monotonic_ms() + 10000;
        struct kube_informer_stats now = before;
        while (now.watches < before.watches + 2 && clock_monotonic_ms() < deadline) {
                test_sleep_ms(50);
                kube_informer_stats(inf, &now);
        }
        assert_true(now.watches >= before.watches + 2);
        set_value(c, "inf", "pre", "p2");
        assert_true(wait_history(&t, "pre", "p0,p1,p2", 5000));
        assert_string_equal(history(&t, "a"), "1,2,3,DELETED");
        assert_int_equal(now.duplicates, 0);
        /* Bookmarks moved the resume point forward. */
        char rv[64];
        assert_int_equal(kube_informer_resource_version(inf, rv, sizeof(rv)), 0);
        assert_true(rv[0] != '\0');
        assert_cache_matches_server(c, inf, "inf");

        int64_t stop_start = clock_monotonic_ms();
        kube_informer_stop(inf);
        /* Stop cancels the blocked watch at once. */
        assert_true(clock_monotonic_ms() - stop_start < 1000);
        kube_informer_free(inf);
        tracker_done(&t);
}

/*
 * Trigger-only informers (the operator's owned kinds): no cache, yet every
 * listed object and every change still reaches a handler, in order, and a
 * get on the (absent) cache says so instead of answering wrongly.
 */
static void test_informer_trigger_only(void **state)
{
        struct kube_client *c = main_server.client;
        create_cm(c, "trigger", "pre", "p0");
        struct tracker t = {0};
        pthread_mutex_init(&t.lock, NULL);
        t.history = json_object();
        struct kube_informer *inf = NULL;
        assert_int_equal(kube_informer_new(c,
                                           &(struct kube_informer_options){
                                                   .resource = &KUBE_CONFIGMAPS,
                                                   .namespace = "trigger",
                                                   .label_selector = "app=tripdeal",
                                                   .handlers = {on_add, on_update, on_delete, &t},
                                                   .trigger_only = true,
                                           },
                                           &inf),
                         0);
        assert_int_equal(kube_informer_start(inf), 0);
        assert_int_equal(kube_informer_wait_for_sync(inf, 10000), 0);
        assert_true(wait_history(&t, "pre", "p0", 2000));

        create_cm(c, "trigger", "a", "1");
        set_value(c, "trigger", "a", "2");
        delete_cm(c, "trigger", "a");
        assert_true(wait_history(&t, "a", "1,2,DELETED", 5000));
        assert_int_equal(t.updates, 0); /* changes arrive as triggers (on_add) */

        json_t *obj = NULL;
        assert_int_equal(kube_informer_get(inf, "trigger", "pre", &obj), -EOPNOTSUPP);
        assert_int_equal(kube_informer_list(inf, NULL, &obj), -EOPNOTSUPP);
        assert_null(obj);
        kube_informer_stop(inf);
        kube_informer_free(inf);
        tracker_done(&t);
}

/*
 * A tiny watch window: the informer's resume point falls out of it while it
 * sees no events of its own (changes elsewhere), so its next watch gets 410
 * Gone and it relists; changes of its own objects are still seen once each.
 */
static void test_informer_relist_on_gone(void **state)
{
        struct server s = {0};
        /* No bookmarks: they would keep the resume point fresh. */
        assert_int_equal(server_start(&s, &(struct server_options){.name = "gone",
                                                                   .watch_window = "3",
                                                                   .bookmark_interval = "1h"}),
                         0);
        struct kube_client *c = s.client;
        assert_int_equal(create_namespace(c, "mine"), 0);
        assert_int_equal(create_namespace(c, "noise"), 0);
        create_cm(c, "mine", "x", "0");
        struct tracker t = {0};
        struct kube_informer *inf = start_informer(c, "mine", &t, 1, 100);
        assert_true(wait_history(&t, "x", "0", 2000));

        char expected[256] = "0";
        for (int round = 1; round <= 3; round++) {
                /* One change of ours, seen once... */
                char value[16];
                snprintf(value, sizeof(value), "%d", round);
                set_value(c, "mine", "x", value);
                size_t n = strlen(expected);
                snprintf(expected + n, sizeof(expected) - n, ",%s", value);
                assert_true(wait_history(&t, "x", expected, 5000));
                /* ...then more changes elsewhere than the window holds, so
                 * the next watch (timeout 1 s) resumes from a point too old. */
                struct kube_informer_stats st0, st1;
                kube_informer_stats(inf, &st0);
                for (int i = 0; i < 6; i++) {
                        char name[32];
                        snprintf(name, sizeof(name), "n-%d-%d", round, i);
                        create_cm(c, "noise", name, "z");
                }
                int64_t deadline = clock_monotonic_ms() + 5000;
                do {
                        test_sleep_ms(50);
                        kube_informer_stats(inf, &st1);
                } while (st1.lists < st0.lists + 1 && clock_monotonic_ms() < deadline);
                assert_true(st1.gone > st0.gone);
                assert_true(st1.lists > st0.lists);
        }
        /* A deletion: seen once, whether by the watch or synthesised by a
         * relist that no longer lists x. */
        delete_cm(c, "mine", "x");
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof(expected) - n, ",DELETED");
        assert_true(wait_history(&t, "x", expected, 5000));
        struct kube_informer_stats st;
        kube_informer_stats(inf, &st);
        fprintf(stderr, "relist test: lists=%llu watches=%llu gone=%llu dup=%llu\n",
                (unsigned long long)st.lists, (unsigned long long)st.watches,
                (unsigned long long)st.gone, (unsigned long long)st.duplicates);
        assert_true(st.gone >= 1);
        assert_true(st.lists >= 2);
        assert_string_equal(history(&t, "x"), expected);
        assert_int_equal(t.adds, 1);
        assert_int_equal(t.updates, 3);
        assert_int_equal(t.deletes, 1);
        assert_cache_matches_server(c, inf, "mine");
        kube_informer_free(inf);
        tracker_done(&t);
        server_free(&s);
}

/*
 * fakekube killed mid-watch and restarted with its --data: the informer
 * rides through the outage with backoff and resumes; a change made right
 * after the restart, and objects deleted/created in between, are each seen
 * exactly once.
 */
/* fakekube has written "k3" to its data file (support_wait_for condition). */
static bool data_file_has_k3(void *path)
{
        char *data = NULL;
        bool found = support_read_file(path, &data, NULL) == 0 && strstr(data, "\"k3\"");
        free(data);
        return found;
}

static void test_informer_survives_restart(void **state)
{
        struct server s = {0};
        /* Over TLS with the kubeconfig's token, as the operator runs: fakekube
         * keeps its CA, certificate and token in --data across restarts. */
        struct server_options options = {.name = "restart"};
        assert_int_equal(server_start(&s, &options), 0);
        struct kube_client *c = s.client;
        assert_int_equal(create_namespace(c, "r"), 0);
        create_cm(c, "r", "keep", "k0");
        create_cm(c, "r", "doomed", "d0");
        struct tracker t = {0};
        struct kube_informer *inf = start_informer(c, "r", &t, 30, 200);
        assert_true(wait_history(&t, "keep", "k0", 2000));
        assert_true(wait_history(&t, "doomed", "d0", 2000));

        set_value(c, "r", "keep", "k1");
        assert_true(wait_history(&t, "keep", "k0,k1", 5000));

        /* SIGTERM: fakekube saves --data on exit (it only saves every 200 ms
         * otherwise, so SIGKILL right after a write could lose it). */
        server_stop(&s, false);
        /* While it is down, calls fail with a transport error (not 404). */
        json_t *obj = NULL;
        assert_int_equal(kube_get(c, &KUBE_CONFIGMAPS,
                                  &(struct kube_get_options){.namespace = "r", .name = "keep"},
                                  &obj, NULL),
                         KUBE_ERR_TRANSPORT);
        test_sleep_ms(300); /* let the informer notice and back off */
        options.port = s.port;
        assert_int_equal(server_start(&s, &options), 0);
        /* Wait until the server answers again. */
        int64_t deadline = clock_monotonic_ms() + 10000;
        struct kube_status status = {0};
        int r;
        while ((r = kube_get(c, &KUBE_CONFIGMAPS,
                             &(struct kube_get_options){.namespace = "r", .name = "keep"}, &obj,
                             &status)) != 0 &&
               clock_monotonic_ms() < deadline)
                test_sleep_ms(20);
        if (r != 0)
                fprintf(stderr, "after restart: %s: %s\n", kube_strerror(r), status.message);
        assert_non_null(obj);
        assert_string_equal(cm_value(obj), "k1"); /* --data kept it */
        json_decref(obj);

        set_value(c, "r", "keep", "k2");
        delete_cm(c, "r", "doomed");
        create_cm(c, "r", "born", "b0");
        assert_true(wait_history(&t, "keep", "k0,k1,k2", 15000));
        assert_true(wait_history(&t, "doomed", "d0,DELETED", 15000));
        assert_true(wait_history(&t, "born", "b0", 15000));
        set_value(c, "r", "keep", "k3");
        assert_true(wait_history(&t, "keep", "k0,k1,k2,k3", 5000));
        assert_cache_matches_server(c, inf, "r");

        /* Round two with SIGKILL: the watch connection is reset, not closed.
         * First poll until fakekube has saved k3 to its data file. */
        assert_int_equal(support_wait_for(data_file_has_k3, s.data, 5000, 20), 0);
        server_stop(&s, true);
        assert_int_equal(server_start(&s, &options), 0);
        set_value_retrying(c, "r", "keep", "k4");
        delete_cm(c, "r", "born");
        assert_true(wait_history(&t, "keep", "k0,k1,k2,k3,k4", 15000));
        assert_true(wait_history(&t, "born", "b0,DELETED", 15000));
        assert_true(wait_history(&t, "doomed", "d0,DELETED", 1000));
        assert_cache_matches_server(c, inf, "r");
        struct kube_informer_stats st;
        kube_informer_stats(inf, &st);
        fprintf(stderr, "restart test: lists=%llu watches=%llu gone=%llu errors=%llu dup=%llu\n",
                (unsigned long long)st.lists, (unsigned long long)st.watches,
                (unsigned long long)st.gone, (unsigned long long)st.errors,
                (unsigned long long)st.duplicates);
        assert_true(st.errors >= 1);
        kube_informer_free(inf);
        tracker_done(&t);
        server_free(&s);
}

/* ---- leader election ---- */

struct candidate {
        atomic_int started;
        atomic_int stopped;
};

static void started_leading(void *userdata)
{
        struct candidate *c = userdata;
        atomic_fetch_add(&c->started, 1);
}

static void stopped_leading(void *userdata)
{
        struct candidate *c = userdata;
        atomic_fetch_add(&c->stopped, 1);
}

static struct kube_leader_elector *elector(const char *identity, struct candidate *cand)
{
        struct kube_leader_elector *e = NULL;
        assert_int_equal(kube_leader_elector_new(main_server.client,
                                                 &(struct kube_leader_options){
                                                         .namespace = "lease",
                                                         .name = "tripdeal-operator",
                                                         .identity = identity,
                                                         .lease_duration_ms = 3000,
                                                         .renew_deadline_ms = 2000,
                                                         .retry_period_ms = 300,
                                                         .on_started_leading = started_leading,
                                                         .on_stopped_leading = stopped_leading,
                                                         .userdata = cand,
                                                 },
                                                 &e),
                         0);
        return e;
}

static bool wait_leader(struct kube_leader_elector *e, bool want, int64_t timeout_ms)
{
        int64_t deadline = clock_monotonic_ms() + timeout_ms;
        while (clock_monotonic_ms() < deadline) {
                if (kube_leader_elector_is_leader(e) == want)
                        return true;
                test_sleep_ms(10);
        }
        return false;
}

static const char *lease_holder(json_t **lease)
{
        assert_int_equal(kube_get(main_server.client, &KUBE_LEASES,
                                  &(struct kube_get_options){.namespace = "lease",
                                                             .name = "tripdeal-operator"},
                                  lease, NULL),
                         0);
        return json_string_value(
                json_object_get(json_object_get(*lease, "spec"), "holderIdentity"));
}

static void test_leader_election(void **state)
{
        struct candidate ca = {0}, cb = {0};
        struct kube_leader_elector *a = elector("a", &ca), *b = elector("b", &cb);
        /* Bad timings are refused. */
        struct kube_leader_elector *bad = NULL;
        assert_int_equal(kube_leader_elector_new(main_server.client,
                                                 &(struct kube_leader_options){
                                                         .namespace = "lease",
                                                         .name = "x",
                                                         .identity = "x",
                                                         .lease_duration_ms = 1000,
                                                         .renew_deadline_ms = 2000,
                                                 },
                                                 &bad),
                         -EINVAL);

        assert_int_equal(kube_leader_elector_start(a), 0);
        assert_true(wait_leader(a, true, 5000));
        assert_int_equal(kube_leader_elector_start(b), 0);
        /* b keeps trying, but a renews: exactly one leader for > a lease duration. */
        int64_t until = clock_monotonic_ms() + 4000;
        while (clock_monotonic_ms() < until) {
                assert_true(kube_leader_elector_is_leader(a));
                assert_false(kube_leader_elector_is_leader(b));
                test_sleep_ms(50);
        }
        json_t *lease = NULL;
        assert_string_equal(lease_holder(&lease), "a");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(lease, "spec"),
                                                            "leaseDurationSeconds")),
                         3);
        json_decref(lease);

        /* a stops: it releases the lease and b takes over well within the lease duration. */
        int64_t stop_at = clock_monotonic_ms();
        kube_leader_elector_stop(a);
        assert_false(kube_leader_elector_is_leader(a));
        assert_int_equal(atomic_load(&ca.started), 1);
        assert_int_equal(atomic_load(&ca.stopped), 1);
        assert_true(wait_leader(b, true, 3000));
        int64_t takeover = clock_monotonic_ms() - stop_at;
        fprintf(stderr, "leader takeover after release: %lld ms\n", (long long)takeover);
        assert_true(takeover < 1500);
        assert_string_equal(lease_holder(&lease), "b");
        json_decref(lease);
        kube_leader_elector_free(a);

        /* A holder that vanished without releasing (like SIGKILL): the lease
         * is taken over only after it expires.  Fake it by stealing the
         * lease for "ghost" with a fresh renewTime. */
        kube_leader_elector_stop(b);
        assert_int_equal(atomic_load(&cb.stopped), 1);
        lease_holder(&lease);
        char now[40];
        kube_format_micro_time(clock_realtime_ms(), now, sizeof(now));
        json_t *spec = json_object_get(lease, "spec");
        json_object_set_new(spec, "holderIdentity", json_string("ghost"));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(3));
        json_object_set_new(spec, "renewTime", json_string(now));
        assert_int_equal(kube_update(main_server.client, &KUBE_LEASES, NULL, lease, NULL, NULL), 0);
        json_decref(lease);
        struct candidate cc = {0};
        struct kube_leader_elector *c = elector("c", &cc);
        int64_t start = clock_monotonic_ms();
        assert_int_equal(kube_leader_elector_start(c), 0);
        assert_true(wait_leader(c, true, 8000));
        int64_t waited = clock_monotonic_ms() - start;
        fprintf(stderr, "leader takeover after expiry: %lld ms\n", (long long)waited);
        assert_true(waited >= 2900);
        assert_true(waited < 3000 + 2 * 400 + 1000);
        kube_leader_elector_free(c); /* stops and releases */
        assert_int_equal(atomic_load(&cc.stopped), 1);
        assert_string_equal(lease_holder(&lease), "");
        json_decref(lease);
        kube_leader_elector_free(b);
}

/* ---- events ---- */

static void test_events(void **state)
{
        struct kube_client *c = main_server.client;
        json_t *target = NULL;
        json_t *cm = configmap("ev", "subject", "x");
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, cm, &target, NULL), 0);
        json_decref(cm);
        /* Objects from the API may lack apiVersion/kind; ours has them. */
        struct kube_event_recorder *rec = NULL;
        assert_int_equal(kube_event_recorder_new(
                                 c,
                                 &(struct kube_event_recorder_options){
                                         .component = "tripdeal-operator", .host = "test-host"},
                                 &rec),
                         0);
        unsigned count = 0;
        struct kube_status st = {0};
        assert_int_equal(kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Prescaled",
                                           "floor raised to 24", &count, &st),
                         0);
        assert_int_equal(count, 1);
        assert_int_equal(kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Prescaled",
                                           "floor raised to 24", &count, &st),
                         0);
        assert_int_equal(count, 2);
        assert_int_equal(kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Prescaled",
                                           "floor raised to 24", &count, &st),
                         0);
        assert_int_equal(count, 3);
        assert_int_equal(kube_event_record(rec, target, KUBE_EVENT_WARNING, "InvalidSpec",
                                           "spec.app.replicas.min > max", &count, &st),
                         0);
        assert_int_equal(count, 1);

        json_t *list = NULL;
        assert_int_equal(kube_list(c, &KUBE_EVENTS, &(struct kube_list_options){.namespace = "ev"},
                                   &list, NULL),
                         0);
        json_t *items = json_object_get(list, "items");
        assert_int_equal(json_array_size(items), 2);
        size_t i;
        json_t *ev;
        json_array_foreach (items, i, ev) {
                json_t *involved = json_object_get(ev, "involvedObject");
                assert_string_equal(json_string_value(json_object_get(involved, "name")),
                                    "subject");
                assert_string_equal(json_string_value(json_object_get(involved, "kind")),
                                    "ConfigMap");
                assert_string_equal(json_string_value(json_object_get(involved, "uid")),
                                    kube_object_uid(target));
                assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "source"),
                                                                      "component")),
                                    "tripdeal-operator");
                const char *reason = json_string_value(json_object_get(ev, "reason"));
                const char *type = json_string_value(json_object_get(ev, "type"));
                json_int_t n = json_integer_value(json_object_get(ev, "count"));
                if (strcmp(reason, "Prescaled") == 0) {
                        assert_string_equal(type, "Normal");
                        assert_int_equal(n, 3);
                } else {
                        assert_string_equal(reason, "InvalidSpec");
                        assert_string_equal(type, "Warning");
                        assert_int_equal(n, 1);
                }
        }
        json_decref(list);

        /* The aggregated Event deleted behind our back: a new one is created. */
        assert_int_equal(kube_list(c, &KUBE_EVENTS, &(struct kube_list_options){.namespace = "ev"},
                                   &list, NULL),
                         0);
        json_array_foreach (json_object_get(list, "items"), i, ev) {
                assert_int_equal(
                        kube_delete(c, &KUBE_EVENTS,
                                    &(struct kube_delete_options){.namespace = "ev",
                                                                  .name = kube_object_name(ev)},
                                    NULL, NULL),
                        0);
        }
        json_decref(list);
        assert_int_equal(kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Prescaled",
                                           "floor raised to 24", &count, &st),
                         0);
        assert_int_equal(count, 1);
        kube_event_recorder_free(rec);
        json_decref(target);
}

/* The recorder remembers at most max_cached Events: the one seen longest ago
 * is forgotten first (its next repeat starts a new Event); the rest still fold. */
static void test_event_recorder_bounded(void **state)
{
        struct kube_client *c = main_server.client;
        json_t *target = NULL;
        json_t *cm = configmap("ev-bounded", "subject", "x");
        assert_int_equal(kube_create(c, &KUBE_CONFIGMAPS, NULL, cm, &target, NULL), 0);
        json_decref(cm);
        struct kube_event_recorder *rec = NULL;
        assert_int_equal(
                kube_event_recorder_new(c,
                                        &(struct kube_event_recorder_options){
                                                .component = "tripdeal-operator", .max_cached = 2},
                                        &rec),
                0);
        unsigned count = 0;
        static const char *const messages[] = {"a", "b", "c"};
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Test",
                                                   messages[i], &count, NULL),
                                 0);
                assert_int_equal(count, 1);
        }
        /* "a" was forgotten to make room for "c"; "c" is still remembered. */
        assert_int_equal(
                kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Test", "c", &count, NULL), 0);
        assert_int_equal(count, 2);
        assert_int_equal(
                kube_event_record(rec, target, KUBE_EVENT_NORMAL, "Test", "a", &count, NULL), 0);
        assert_int_equal(count, 1);
        json_t *list = NULL;
        assert_int_equal(kube_list(c, &KUBE_EVENTS,
                                   &(struct kube_list_options){.namespace = "ev-bounded"}, &list,
                                   NULL),
                         0);
        assert_int_equal(json_array_size(json_object_get(list, "items")), 4);
        json_decref(list);
        kube_event_recorder_free(rec);
        json_decref(target);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s FAKEKUBE\n", argv[0]);
                return 2;
        }
        fakekube_path = argv[1];
        if (access(fakekube_path, X_OK) != 0) {
                fprintf(stderr, "fakekube not built at %s: skipping\n", fakekube_path);
                return 77;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crud_and_errors),
                cmocka_unit_test(test_status_subresource_and_eviction),
                cmocka_unit_test(test_pod_log),
                cmocka_unit_test(test_token_file_rotation),
                cmocka_unit_test(test_watch_resume_and_bookmarks),
                cmocka_unit_test(test_informer_basic),
                cmocka_unit_test(test_informer_trigger_only),
                cmocka_unit_test(test_informer_relist_on_gone),
                cmocka_unit_test(test_informer_survives_restart),
                cmocka_unit_test(test_leader_election),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_event_recorder_bounded),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
