/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-operator: watches TripDeals and the objects they own, and
 * reconciles each TripDeal (reconcile.c) from a deduplicating work queue.
 *
 * Threads: one per informer (list+watch), --workers reconcile workers, the
 * leader elector (with --leader-elect), the HTTP endpoints, one that waits
 * for SIGTERM/SIGINT, and main, which starts everything, then waits for that
 * signal and stops everything.  Workers reconcile only while this replica
 * leads.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "drills.h"
#include "duration.h"
#include "flags.h"
#include "http_endpoints.h"
#include "kube-events.h"
#include "kube-informer.h"
#include "kube-leader.h"
#include "kube-workqueue.h"
#include "kube.h"
#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "nodepools.h"
#include "reconcile.h"
#include "tripdeal.h"

#define MAX_WORKERS 64

struct options {
        const char *kubeconfig;
        const char *context;
        const char *namespace; /* NULL: all namespaces */
        bool leader_elect;
        const char *leader_election_namespace;
        const char *leader_election_id;
        const char *metrics_addr;
        const char *health_addr;
        const char *prometheus_url;
        enum log_level log_level;
        int workers;
        int64_t sync_timeout_ms;
        struct nodepools_options nodepools;
};

/* The kinds a TripDeal owns: their changes wake the owner up. */
static const struct kube_resource *const owned_kinds[] = {
        &KUBE_CONFIGMAPS, &KUBE_DEPLOYMENTS,          &KUBE_SERVICES, &KUBE_INGRESSES, &KUBE_HPAS,
        &KUBE_PDBS,       &RECONCILE_SERVICEACCOUNTS,
};

struct operator_state {
        struct options options;
        struct kube_client *client;
        struct kube_workqueue *queue;
        struct kube_informer *tripdeals;
        struct kube_informer *owned[ARRAY_SIZE(owned_kinds)];
        struct kube_event_recorder *recorder;
        struct kube_leader_elector *elector;
        struct http_endpoints *endpoints;
        struct reconciler reconciler;
        struct nodepools_options nodepools;
        atomic_bool leading;
        atomic_bool synced;
        pthread_t workers[MAX_WORKERS];
        int workers_started;

        pthread_mutex_t lifecycle; /* started, stop_signal */
        pthread_cond_t stop_requested;
        bool started;    /* caches synced: a signal now means an orderly stop */
        int stop_signal; /* SIGTERM/SIGINT once received */
};

/* ---- flags ---------------------------------------------------------------- */

/* --metrics-addr, --health-addr: "IP:PORT", or "0" for off. */
static int parse_endpoint_addr(const char *value, void *target, char *message, size_t message_size)
{
        char host[64];
        unsigned port;
        if (strcmp(value, "0") != 0 && http_addr_parse(value, host, sizeof(host), &port) < 0) {
                snprintf(message, message_size, "want IP:PORT, or 0 to disable");
                return -EINVAL;
        }
        *(const char **)target = value;
        return 0;
}

static void parse_options(int argc, char **argv, struct options *ret)
{
        struct options o = {
                .leader_election_id = "tripdeal-operator",
                .metrics_addr = "0.0.0.0:8090",
                .health_addr = "0.0.0.0:8091",
                .log_level = LOG_LEVEL_INFO,
                .workers = 2,
                .sync_timeout_ms = 120000,
                .nodepools = {.node_ready_timeout_ms = 10 * 60 * 1000,
                              .drain_timeout_ms = 60 * 1000},
        };
        const struct flag flags[] = {
                {.name = "kubeconfig",
                 .type = FLAG_STRING,
                 .target = &o.kubeconfig,
                 .metavar = "PATH",
                 .help = "kubeconfig file",
                 .default_text = "$KUBECONFIG, in-cluster, then ~/.kube/config"},
                {.name = "context",
                 .type = FLAG_STRING,
                 .target = &o.context,
                 .metavar = "NAME",
                 .help = "kubeconfig context",
                 .default_text = "current-context",
                 .env = "TRIPDEAL_CONTEXT"},
                {.name = "namespace",
                 .type = FLAG_STRING,
                 .target = &o.namespace,
                 .metavar = "NS",
                 .help = "watch one namespace",
                 .default_text = "all namespaces",
                 .env = "TRIPDEAL_NAMESPACE"},
                {.name = "leader-elect",
                 .type = FLAG_BOOL,
                 .target = &o.leader_elect,
                 .help = "hold a coordination.k8s.io Lease before acting",
                 .env = "TRIPDEAL_LEADER_ELECT"},
                {.name = "leader-election-namespace",
                 .type = FLAG_STRING,
                 .target = &o.leader_election_namespace,
                 .metavar = "NS",
                 .help = "namespace of the Lease",
                 .default_text = "the kubeconfig's",
                 .env = "TRIPDEAL_LEADER_ELECTION_NAMESPACE"},
                {.name = "leader-election-id",
                 .type = FLAG_STRING,
                 .target = &o.leader_election_id,
                 .metavar = "NAME",
                 .help = "name of the Lease",
                 .env = "TRIPDEAL_LEADER_ELECTION_ID"},
                {.name = "metrics-addr",
                 .type = FLAG_CUSTOM,
                 .target = &o.metrics_addr,
                 .parse = parse_endpoint_addr,
                 .metavar = "ADDR:PORT",
                 .help = "serve /metrics here; 0: off",
                 .default_text = "0.0.0.0:8090",
                 .env = "TRIPDEAL_METRICS_ADDR"},
                {.name = "health-addr",
                 .type = FLAG_CUSTOM,
                 .target = &o.health_addr,
                 .parse = parse_endpoint_addr,
                 .metavar = "ADDR:PORT",
                 .help = "serve /healthz, /readyz here; 0: off",
                 .default_text = "0.0.0.0:8091",
                 .env = "TRIPDEAL_HEALTH_ADDR"},
                {.name = "prometheus-url",
                 .type = FLAG_STRING,
                 .target = &o.prometheus_url,
                 .metavar = "URL",
                 .help = "Prometheus for drill steady-state checks",
                 .env = "TRIPDEAL_PROMETHEUS_URL"},
                {.name = "workers",
                 .type = FLAG_INT,
                 .target = &o.workers,
                 .min = 1,
                 .max = MAX_WORKERS,
                 .help = "parallel reconciles",
                 .env = "TRIPDEAL_WORKERS"},
                {.name = "node-ready-timeout",
                 .type = FLAG_DURATION,
                 .target = &o.nodepools.node_ready_timeout_ms,
                 .min = 1,
                 .help = "replace a KVM node whose Node is not Ready after this",
                 .env = "TRIPDEAL_NODE_READY_TIMEOUT"},
                {.name = "drain-timeout",
                 .type = FLAG_DURATION,
                 .target = &o.nodepools.drain_timeout_ms,
                 .min = 1,
                 .help = "per reconcile, how long to keep evicting a node's pods before trying "
                         "again later",
                 .env = "TRIPDEAL_DRAIN_TIMEOUT"},
                {.name = "log-level",
                 .type = FLAG_CUSTOM,
                 .target = &o.log_level,
                 .parse = log_level_parse_flag,
                 .metavar = "LEVEL",
                 .help = "debug, info, warn or error",
                 .default_text = "info",
                 .env = "TRIPDEAL_LOG_LEVEL"},
                {0},
        };
        const struct flags_program program = {
                .name = "tripdeal-operator",
                .summary = "Reconciles TripDeal resources (tripdeal.io/v1alpha1): the site's "
                           "Deployment,\nService, Ingress, HPA and PDB, and the HPA floor around "
                           "each sale window.",
                .epilog = "Every option can also come from the environment variable in brackets; "
                          "the flag\nwins over the environment.  Exit status: 2 for bad flags or "
                          "values.",
                .flags = flags,
        };
        flags_parse(&program, argc, argv);
        if (o.namespace && !*o.namespace)
                o.namespace = NULL; /* --namespace "": all namespaces */
        *ret = o;
}

/* ---- events into the queue ----------------------------------------------- */

static void enqueue_object(struct operator_state *op, const json_t *object)
{
        _cleanup_free_ char *key = NULL;
        if (kube_object_key(object, &key) < 0)
                return;
        log_emit(LOG_LEVEL_DEBUG,
                 json_pack("{s:s, s:s?}", "tripdeal", key, "resource_version",
                           kube_object_resource_version(object)),
                 "TripDeal changed");
        kube_workqueue_add(op->queue, key);
}

static void tripdeal_added(json_t *object, void *userdata)
{
        enqueue_object(userdata, object);
}

/*
 * What the TripDeal informer keeps of each TripDeal: its identity and one
 * string that changes exactly when a reconcile is needed.  Not for
 * status-only writes (most of them are our own): only a new generation
 * (spec), a deletion, or changed finalizers or labels.  One string instead
 * of the labels and finalizers trees: 1,000 TripDeals cost ~1.0 MiB of cache
 * instead of ~1.4 MiB (massif).
 */
static json_t *tripdeal_summary(const json_t *object, void *userdata)
{
        const json_t *metadata = json_object_get(object, "metadata");
        _cleanup_json_ json_t *trigger = json_pack(
                "[O*, O*, O*, O*]", json_object_get(metadata, "generation"),
                json_object_get(metadata, "deletionTimestamp"),
                json_object_get(metadata, "finalizers"), json_object_get(metadata, "labels"));
        _cleanup_free_ char *fingerprint =
                trigger ? json_dumps(trigger, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                        : NULL;
        if (!fingerprint)
                return NULL;
        return json_pack("{s:{s:O*, s:O*, s:O*, s:O*}, s:s}", "metadata", "name",
                         json_object_get(metadata, "name"), "namespace",
                         json_object_get(metadata, "namespace"), "uid",
                         json_object_get(metadata, "uid"), "resourceVersion",
                         json_object_get(metadata, "resourceVersion"), "trigger", fingerprint);
}

/* Does this update need a reconcile?  (Both are tripdeal_summary() forms.) */
static bool tripdeal_changed(const json_t *old_object, const json_t *new_object)
{
        return !json_equal(json_object_get(old_object, "trigger"),
                           json_object_get(new_object, "trigger")) ||
               !json_equal(json_object_get(json_object_get(old_object, "metadata"), "uid"),
                           json_object_get(json_object_get(new_object, "metadata"), "uid"));
}

static void tripdeal_updated(json_t *old_object, json_t *new_object, void *userdata)
{
        if (tripdeal_changed(old_object, new_object))
                enqueue_object(userdata, new_object);
}

/* An owned object changed: wake its controlling TripDeal. */
static void owned_changed(const json_t *object, struct operator_state *op)
{
        size_t i;
        json_t *ref;
        json_array_foreach (json_object_get(json_object_get(object, "metadata"), "ownerReferences"),
                            i, ref) {
                const char *kind = json_string_value(json_object_get(ref, "kind"));
                const char *api = json_string_value(json_object_get(ref, "apiVersion"));
                const char *name = json_string_value(json_object_get(ref, "name"));
                const char *ns = kube_object_namespace(object);
                if (!json_is_true(json_object_get(ref, "controller")) || !kind || !api || !name ||
                    !ns || strcmp(kind, TRIPDEAL_KIND) != 0 ||
                    strcmp(api, TRIPDEAL_API_VERSION) != 0)
                        continue;
                char key[512];
                snprintf(key, sizeof(key), "%s/%s", ns, name);
                kube_workqueue_add(op->queue, key);
        }
}

static void owned_added(json_t *object, void *userdata)
{
        owned_changed(object, userdata);
}

static void owned_updated(json_t *old_object, json_t *new_object, void *userdata)
{
        owned_changed(new_object, userdata);
}

static void owned_deleted(json_t *object, void *userdata)
{
        owned_changed(object, userdata);
}

/* ---- workers ------------------------------------------------------------- */

static void record_event(void *userdata, const json_t *involved, const char *type,
                         const char *reason, const char *message)
{
        struct operator_state *op = userdata;
        /* Every action the operator takes is an Event: log each one once, with
         * the TripDeal it concerns. */
        json_t *metadata = json_object_get(involved, "metadata");
        log_emit(strcmp(type, "Warning") == 0 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s%, s:s}", "namespace",
                           json_string_value(json_object_get(metadata, "namespace")) ?: "", "name",
                           json_string_value(json_object_get(metadata, "name")) ?: "",
                           /* A real API server allows 253; fakekube may pass more. */
                           strnlen(json_string_value(json_object_get(metadata, "name")) ?: "", 253),
                           "reason", reason),
                 "%s", message);
        struct kube_status status = {0};
        int r = kube_event_record(op->recorder, involved, type, reason, message, NULL, &status);
        if (r < 0)
                log_emit(LOG_LEVEL_WARN,
                         json_pack("{s:s, s:s}", "reason", reason, "error", kube_strerror(r)),
                         "cannot record event: %s", status.message);
}

static void requeue_tripdeal(void *userdata, const char *namespace, const char *name)
{
        struct operator_state *op = userdata;
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", namespace, name);
        kube_workqueue_add(op->queue, key);
}

static void *worker_main(void *userdata)
{
        struct operator_state *op = userdata;
        for (;;) {
                char *key = NULL;
                int r = kube_workqueue_get(op->queue, -1, &key);
                if (r == KUBE_ERR_SHUTDOWN)
                        return NULL;
                if (r < 0)
                        continue;
                _cleanup_free_ char *owned_key = key;
                metrics_set_queue_depth((int64_t)kube_workqueue_depth(op->queue));

                /* A standby replica watches but never writes; the new leader
                 * enqueues everything when it takes over. */
                if (!atomic_load(&op->leading)) {
                        kube_workqueue_done(op->queue, key);
                        continue;
                }

                char *slash = strchr(key, '/');
                if (!slash) {
                        kube_workqueue_done(op->queue, key);
                        continue;
                }
                *slash = '\0';
                const char *ns = key, *name = slash + 1;

                int64_t started = clock_monotonic_ms();
                struct reconcile_outcome outcome = {0};
                r = reconcile_tripdeal(&op->reconciler, ns, name, clock_realtime_ms(), &outcome);
                int64_t took_us = (clock_monotonic_ms() - started) * 1000;
                *slash = '/';

                if (r < 0) {
                        metrics_reconcile_done(RECONCILE_RESULT_ERROR, took_us);
                        /* A conflict only means we raced another writer: look again soon. */
                        log_emit(r == KUBE_ERR_CONFLICT ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
                                 json_pack("{s:s, s:s, s:I}", "tripdeal", key, "error",
                                           kube_strerror(r), "retries",
                                           (json_int_t)kube_workqueue_num_requeues(op->queue, key)),
                                 "reconcile failed; retrying with backoff");
                        kube_workqueue_add_rate_limited(op->queue, key);
                } else {
                        metrics_reconcile_done(outcome.invalid_spec ? RECONCILE_RESULT_INVALID_SPEC
                                                                    : RECONCILE_RESULT_SUCCESS,
                                               took_us);
                        kube_workqueue_forget(op->queue, key);
                        log_emit(LOG_LEVEL_DEBUG,
                                 json_pack("{s:s, s:I, s:I}", "tripdeal", key, "duration_us",
                                           (json_int_t)took_us, "requeue_at_ms",
                                           (json_int_t)outcome.requeue_at_ms),
                                 "reconciled");
                        if (outcome.requeue_at_ms > 0)
                                kube_workqueue_add_at(op->queue, key, outcome.requeue_at_ms);
                }
                kube_workqueue_done(op->queue, key);
        }
}

/* ---- leadership ---------------------------------------------------------- */

static void enqueue_all_tripdeals(struct operator_state *op)
{
        _cleanup_json_ json_t *all = NULL;
        if (kube_informer_list(op->tripdeals, NULL, &all) < 0)
                return;
        size_t i;
        json_t *td;
        json_array_foreach (all, i, td) {
                enqueue_object(op, td);
        }
}

static void started_leading(void *userdata)
{
        struct operator_state *op = userdata;
        if (op->options.leader_elect)
                log_info("became the leader; reconciling every TripDeal");
        else
                log_info("reconciling every TripDeal");
        atomic_store(&op->leading, true);
        metrics_set_leader(1);
        /* Drills an earlier leader left half-done are restored first. */
        drills_recover(op->options.namespace);
        enqueue_all_tripdeals(op);
}

static void stopped_leading(void *userdata)
{
        struct operator_state *op = userdata;
        atomic_store(&op->leading, false);
        metrics_set_leader(0);
        /* As client-go does: a replica that lost the lease while running
         * cannot know what it missed; exiting lets it restart clean. */
        if (atomic_load(&op->synced)) {
                log_error("lost the leader lease; exiting so that only one replica acts");
                _exit(1);
        }
}

static void new_leader(const char *identity, void *userdata)
{
        log_emit(LOG_LEVEL_INFO, json_pack("{s:s}", "leader", identity), "leader is %s", identity);
}

static bool ready_fn(void *userdata, char *why, unsigned why_size)
{
        struct operator_state *op = userdata;
        if (!atomic_load(&op->synced)) {
                snprintf(why, why_size, "informer caches have not synced yet");
                return false;
        }
        return true;
}

/* ---- start and stop ------------------------------------------------------ */

/* Each failed list or watch, with its real cause (401, certificate check,
 * connection refused...): the informer retries with backoff meanwhile. */
static void informer_failed(const struct kube_resource *resource,
                            enum kube_informer_operation operation, int error,
                            const struct kube_status *status, void *userdata)
{
        bool list = operation == KUBE_INFORMER_LIST;
        /* A watch cut (server restart, idle timeout) is routine; a failed list is not. */
        log_emit(list ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:s, s:I, s:s}", "resource", resource->plural, "operation",
                           list ? "list" : "watch", "error", kube_strerror(error), "http_code",
                           (json_int_t)status->http_code, "reason", status->reason),
                 "cannot %s %s: %s: %s (retrying)", list ? "list" : "watch", resource->plural,
                 kube_strerror(error), status->message[0] ? status->message : "no details");
}

/* Wait for every informer's first list; on failure log why (the last error
 * of the first informer that has not synced). */
static int wait_for_caches(struct operator_state *op)
{
        int64_t deadline = clock_monotonic_ms() + op->options.sync_timeout_ms;
        struct kube_informer *informers[1 + ARRAY_SIZE(owned_kinds)] = {op->tripdeals};
        const struct kube_resource *resources[1 + ARRAY_SIZE(owned_kinds)] = {&KUBE_TRIPDEALS};
        for (size_t i = 0; i < ARRAY_SIZE(owned_kinds); i++) {
                informers[i + 1] = op->owned[i];
                resources[i + 1] = owned_kinds[i];
        }
        for (size_t i = 0; i < ARRAY_SIZE(informers); i++) {
                int64_t left = deadline - clock_monotonic_ms();
                int r = kube_informer_wait_for_sync(informers[i], left > 0 ? left : 0);
                if (r == 0)
                        continue;
                struct kube_status status = {0};
                int last = kube_informer_last_error(informers[i], &status);
                if (last != 0)
                        log_emit(LOG_LEVEL_ERROR,
                                 json_pack("{s:s, s:s, s:I}", "resource", resources[i]->plural,
                                           "error", kube_strerror(last), "http_code",
                                           (json_int_t)status.http_code),
                                 "informer caches did not sync within %lld s: last error listing "
                                 "%s: %s: %s",
                                 (long long)op->options.sync_timeout_ms / 1000,
                                 resources[i]->plural, kube_strerror(last), status.message);
                else
                        log_error("informer caches did not sync within %lld s: %s",
                                  (long long)op->options.sync_timeout_ms / 1000, kube_strerror(r));
                return r;
        }
        return 0;
}

/* The reconcile reads objects fresh from the API, so no informer needs whole
 * objects: TripDeals keep a summary (tripdeal_summary: for leadership
 * hand-over and the change filter), owned kinds keep nothing (trigger only). */
static int start_informer(struct operator_state *op, const struct kube_resource *resource,
                          const char *label_selector, struct kube_informer_handlers handlers,
                          json_t *(*transform)(const json_t *, void *), bool trigger_only,
                          struct kube_informer **ret)
{
        struct kube_informer_options options = {
                .resource = resource,
                .namespace = op->options.namespace,
                .label_selector = label_selector,
                .handlers = handlers,
                .transform = transform,
                .on_error = informer_failed,
                .trigger_only = trigger_only,
        };
        int r = kube_informer_new(op->client, &options, ret);
        if (r < 0)
                return r;
        return kube_informer_start(*ret);
}

static void operator_stop(struct operator_state *op)
{
        if (op->queue)
                kube_workqueue_shutdown(op->queue);
        for (int i = 0; i < op->workers_started; i++)
                pthread_join(op->workers[i], NULL);
        /* A running drill aborts and restores what it changed. */
        drills_shutdown();
        /* Release the lease last, after the workers are quiet, so the next
         * leader never overlaps with us. */
        if (op->elector) {
                kube_leader_elector_stop(op->elector);
                kube_leader_elector_free(op->elector);
        }
        http_endpoints_stop(op->endpoints);
        for (size_t i = 0; i < ARRAY_SIZE(owned_kinds); i++) {
                if (op->owned[i])
                        kube_informer_stop(op->owned[i]);
                kube_informer_free(op->owned[i]);
        }
        if (op->tripdeals)
                kube_informer_stop(op->tripdeals);
        kube_informer_free(op->tripdeals);
        kube_event_recorder_free(op->recorder);
        kube_workqueue_free(op->queue);
        kube_client_free(op->client);
}

static int operator_start(struct operator_state *op)
{
        struct kube_status status = {0};
        struct kube_config *config = NULL;
        struct kube_config_options config_options = {.kubeconfig_path = op->options.kubeconfig,
                                                     .context = op->options.context};
        int r = kube_config_load(&config_options, &config, &status);
        if (r < 0) {
                log_emit(LOG_LEVEL_ERROR, json_pack("{s:s}", "error", kube_strerror(r)),
                         "cannot load Kubernetes configuration: %s", status.message);
                return r;
        }
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:s}", "server", kube_config_server(config), "context",
                           kube_config_context(config), "auth", kube_config_auth_kind(config)),
                 "connecting to the API server");
        r = kube_client_new(config, NULL, &op->client);
        const char *default_namespace = NULL;
        if (r == 0)
                default_namespace = strdupa(kube_config_namespace(config));
        kube_config_free(config);
        if (r < 0)
                return r;

        if ((r = kube_workqueue_new(NULL, &op->queue)) < 0)
                return r;
        char host[HOST_NAME_MAX + 1] = "unknown";
        gethostname(host, sizeof(host));
        struct kube_event_recorder_options recorder_options = {.component = TRIPDEAL_MANAGER,
                                                               .host = host};
        if ((r = kube_event_recorder_new(op->client, &recorder_options, &op->recorder)) < 0)
                return r;
        /* Node pools open their own libvirt connection per reconcile (one
         * vmctl connection per thread) with vmctl_open. */
        op->nodepools = op->options.nodepools;
        op->nodepools.open = NULL;
        op->reconciler = (struct reconciler){.client = op->client,
                                             .record_event = record_event,
                                             .event_userdata = op,
                                             .nodepools = &op->nodepools};
        char drill_identity[HOST_NAME_MAX + 32];
        snprintf(drill_identity, sizeof(drill_identity), "%s_%d", host, (int)getpid());
        if ((r = drills_setup(&(struct drills_options){.client = op->client,
                                                       .record_event = record_event,
                                                       .event_userdata = op,
                                                       .requeue = requeue_tripdeal,
                                                       .requeue_userdata = op,
                                                       .prometheus_url = op->options.prometheus_url,
                                                       .identity = drill_identity,
                                                       .nodepools = &op->nodepools})) < 0)
                return r;

        struct http_endpoints_options endpoint_options = {.metrics_addr = op->options.metrics_addr,
                                                          .health_addr = op->options.health_addr,
                                                          .ready_fn = ready_fn,
                                                          .userdata = op};
        if ((r = http_endpoints_start(&endpoint_options, &op->endpoints)) < 0) {
                log_error("cannot serve metrics/health on %s / %s: %s", op->options.metrics_addr,
                          op->options.health_addr, strerror(-r));
                return r;
        }

        r = start_informer(op, &KUBE_TRIPDEALS, NULL,
                           (struct kube_informer_handlers){.on_add = tripdeal_added,
                                                           .on_update = tripdeal_updated,
                                                           .userdata = op},
                           tripdeal_summary, false, &op->tripdeals);
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(owned_kinds); i++)
                r = start_informer(op, owned_kinds[i],
                                   "app.kubernetes.io/managed-by=" TRIPDEAL_MANAGER,
                                   (struct kube_informer_handlers){.on_add = owned_added,
                                                                   .on_update = owned_updated,
                                                                   .on_delete = owned_deleted,
                                                                   .userdata = op},
                                   NULL, true, &op->owned[i]);
        if (r < 0)
                return r;

        for (int i = 0; i < op->options.workers; i++) {
                if ((r = -pthread_create(&op->workers[i], NULL, worker_main, op)) < 0)
                        return r;
                op->workers_started++;
        }

        /* Wait for the caches (bounded) so the first reconciles see the world. */
        if ((r = wait_for_caches(op)) < 0)
                return r;
        /* From here on a signal stops in order (the lease may be ours soon). */
        pthread_mutex_lock(&op->lifecycle);
        op->started = true;
        pthread_mutex_unlock(&op->lifecycle);
        atomic_store(&op->synced, true);

        if (!op->options.leader_elect) {
                started_leading(op);
                return 0;
        }
        char identity[HOST_NAME_MAX + 32];
        snprintf(identity, sizeof(identity), "%s_%d", host, (int)getpid());
        struct kube_leader_options leader = {
                .namespace = op->options.leader_election_namespace ?: default_namespace,
                .name = op->options.leader_election_id,
                .identity = identity,
                .on_started_leading = started_leading,
                .on_stopped_leading = stopped_leading,
                .on_new_leader = new_leader,
                .userdata = op,
        };
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:s}", "lease_namespace", leader.namespace, "lease",
                           leader.name, "identity", identity),
                 "waiting to become the leader");
        if ((r = kube_leader_elector_new(op->client, &leader, &op->elector)) < 0)
                return r;
        return kube_leader_elector_start(op->elector);
}

static const char *signal_name(int sig)
{
        return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

/*
 * Waits for SIGTERM/SIGINT (blocked in every other thread).  Before the
 * caches sync the operator holds no lease and has written nothing, and its
 * start-up may be waiting on an API server that never answers: a signal then
 * ends the process at once.  After, main stops everything in order.
 */
static void *signal_thread(void *userdata)
{
        struct operator_state *op = userdata;
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        int sig = 0;
        sigwait(&signals, &sig);
        pthread_mutex_lock(&op->lifecycle);
        if (!op->started) {
                log_info("received %s during start-up; exiting", signal_name(sig));
                _exit(0);
        }
        op->stop_signal = sig;
        pthread_cond_signal(&op->stop_requested);
        pthread_mutex_unlock(&op->lifecycle);
        return NULL;
}

int main(int argc, char **argv)
{
        struct operator_state op = {.lifecycle = PTHREAD_MUTEX_INITIALIZER,
                                    .stop_requested = PTHREAD_COND_INITIALIZER};
        parse_options(argc, argv, &op.options);
        log_setup("tripdeal-operator", op.options.log_level);
        /* Informer, worker and HTTP threads each make short-lived JSON; with
         * glibc's default of one arena per thread that memory fragments
         * across many arenas.  One is plenty at our allocation rate (a
         * second one held ~3 MiB more at 1,000 TripDeals). */
        mallopt(M_ARENA_MAX, 1);

        /* Signals go to signal_thread's sigwait only: block them before any
         * thread starts. */
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
        signal(SIGPIPE, SIG_IGN);
        pthread_t signals_thread;
        int r = -pthread_create(&signals_thread, NULL, signal_thread, &op);
        if (r < 0) {
                log_error("cannot start the signal thread: %s", strerror(-r));
                return 1;
        }

        r = operator_start(&op);
        if (r < 0) {
                operator_stop(&op);
                return 1;
        }
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:b, s:i}", "namespace", op.options.namespace ?: "(all)",
                           "metrics_addr", op.options.metrics_addr, "leader_elect",
                           op.options.leader_elect, "workers", op.options.workers),
                 "tripdeal-operator running");

        pthread_mutex_lock(&op.lifecycle);
        while (op.stop_signal == 0)
                pthread_cond_wait(&op.stop_requested, &op.lifecycle);
        int sig = op.stop_signal;
        pthread_mutex_unlock(&op.lifecycle);
        pthread_join(signals_thread, NULL);
        log_info("received %s; shutting down", signal_name(sig));
        atomic_store(&op.synced, false);
        operator_stop(&op);
        log_info("stopped");
        return 0;
}
