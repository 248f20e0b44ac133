/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scheduled chaos drills (drills.h): the schedule (lib/cron, the drill's own
 * time zone), the sale blackout, one drill thread per TripDeal running the
 * chaos engine, and the results in status.lastDrill, Events and metrics.
 * node-kill drills get their power switch from the node pool module (the
 * VMs of this TripDeal's pools only); the VMs an interrupted one powered off
 * (its Lease's powered-off annotation) are started again by the next leader.
 */
#include "drills.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos.h"
#include "clock.h"
#include "cron.h"
#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "nodepools.h"
#include "tripdeal.h"
#include "tz.h"

#define OPERATOR_IDENTITY_PREFIX "tripdeal-operator/"

struct drill_job {
        char *namespace, *name;
        json_t *tripdeal;   /* for Events' involvedObject */
        json_t *experiment; /* the Experiment built from the drill entry */
        char drill[64];
        int64_t scheduled_at_ms;
        int64_t started_at_ms;
        int64_t handled_ms; /* newest fire time handled (run or skipped) */
        pthread_t thread;
        bool has_thread;
        bool running;
        struct drill_job *next;
};

static struct {
        pthread_mutex_t lock;
        struct drills_options options;
        char *prometheus_url;
        char identity[256];
        struct drill_job *jobs;
        atomic_bool stop;
        int64_t setup_at_ms; /* drills started before this were an earlier operator's */
} state = {.lock = PTHREAD_MUTEX_INITIALIZER};

int drills_setup(const struct drills_options *options)
{
        if (!options || !options->client)
                return -EINVAL;
        pthread_mutex_lock(&state.lock);
        state.options = *options;
        free(state.prometheus_url);
        state.prometheus_url = options->prometheus_url ? strdup(options->prometheus_url) : NULL;
        snprintf(state.identity, sizeof(state.identity), OPERATOR_IDENTITY_PREFIX "%s",
                 options->identity ? options->identity : "operator");
        state.options.prometheus_url = state.prometheus_url;
        state.options.identity = state.identity;
        state.setup_at_ms = clock_realtime_ms();
        pthread_mutex_unlock(&state.lock);
        return 0;
}

static void event(const json_t *tripdeal, const char *type, const char *reason, const char *fmt,
                  ...) _printf_(4, 5);
static void event(const json_t *tripdeal, const char *type, const char *reason, const char *fmt,
                  ...)
{
        _cleanup_free_ char *message = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        if (message && state.options.record_event)
                state.options.record_event(state.options.event_userdata, tripdeal, type, reason,
                                           message);
}

static json_t *time_json(int64_t ms)
{
        char text[40];
        if (ms <= 0 || clock_format_rfc3339(ms / 1000, text, sizeof(text)) < 0)
                return json_null();
        return json_string(text);
}

/* status.lastDrill as a merge patch: every key set, null removes old ones. */
static int patch_last_drill(const char *namespace, const char *name, json_t *last /* stolen */)
{
        _cleanup_json_ json_t *patch = json_pack("{s:{s:o}}", "status", "lastDrill", last);
        if (!patch)
                return -ENOMEM;
        struct kube_status st = {0};
        int r = kube_patch(state.options.client, &KUBE_TRIPDEALS,
                           &(struct kube_patch_options){.namespace = namespace,
                                                        .name = name,
                                                        .subresource = "status",
                                                        .type = KUBE_PATCH_MERGE,
                                                        .field_manager = "tripdeal-operator"},
                           patch, NULL, &st);
        if (r < 0)
                log_emit(LOG_LEVEL_WARN,
                         json_pack("{s:s, s:s, s:s}", "namespace", namespace, "tripdeal", name,
                                   "error", kube_strerror(r)),
                         "cannot write status.lastDrill: %s", st.message);
        return r;
}

static json_t *last_drill(const char *drill, int64_t scheduled_ms, int64_t started_ms,
                          int64_t finished_ms, const char *verdict, double recovery_seconds,
                          int64_t failed, const char *message)
{
        return json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:s}", "name", drill, "scheduledAt",
                         time_json(scheduled_ms), "startedAt", time_json(started_ms), "finishedAt",
                         time_json(finished_ms), "verdict", verdict, "recoverySeconds",
                         recovery_seconds >= 0 ? json_real(recovery_seconds) : json_null(),
                         "failedRequests", failed >= 0 ? json_integer(failed) : json_null(),
                         "message", message ? message : "");
}

/* ---- schedule ---- */

static int64_t handled_from_status(const json_t *tripdeal)
{
        const char *at = json_string_value(json_object_get(
                json_object_get(json_object_get(tripdeal, "status"), "lastDrill"), "scheduledAt"));
        time_t t;
        return at && clock_parse_rfc3339(at, &t) == 0 ? (int64_t)t * 1000 : 0;
}

static void zone_freep(struct tz_zone **zone)
{
        tz_zone_free(*zone);
}

int drills_plan(const json_t *tripdeal, int64_t now_ms, struct drill_plan *ret_plan)
{
        struct drill_plan plan = {0};
        const json_t *drills = json_object_get(
                json_object_get(json_object_get(tripdeal, "spec"), "chaos"), "drills");
        int64_t handled = handled_from_status(tripdeal);
        size_t i;
        json_t *drill;
        json_array_foreach (drills, i, drill) {
                const char *name = json_string_value(json_object_get(drill, "name"));
                const char *schedule = json_string_value(json_object_get(drill, "schedule"));
                const char *zone_name = json_string_value(json_object_get(drill, "timeZone"));
                if (!name || !schedule)
                        continue;
                struct cron_schedule cron;
                struct cron_error error = {0};
                if (cron_parse(schedule, &cron, &error) < 0) {
                        snprintf(plan.error, sizeof(plan.error),
                                 "spec.chaos.drills[%zu].schedule: %.200s", i,
                                 tripdeal_error_message(&error.base));
                        continue;
                }
                _cleanup_(zone_freep) struct tz_zone *zone = NULL;
                if (tz_zone_load(zone_name ? zone_name : "UTC", NULL, &zone) < 0) {
                        snprintf(plan.error, sizeof(plan.error),
                                 "spec.chaos.drills[%zu].timeZone: unknown time zone \"%.128s\"", i,
                                 zone_name);
                        continue;
                }
                int64_t prev, next;
                if (cron_prev(&cron, zone, now_ms / 1000, &prev) == 0) {
                        int64_t prev_ms = prev * 1000;
                        if (prev_ms > handled && now_ms - prev_ms < DRILLS_START_WINDOW_MS &&
                            (!plan.due || prev_ms > plan.scheduled_at_ms)) {
                                plan.due = true;
                                plan.scheduled_at_ms = prev_ms;
                                snprintf(plan.name, sizeof(plan.name), "%s", name);
                                json_t *steady = json_object_get(drill, "steadyState");
                                json_t *mrs = json_object_get(steady, "maxRecoverySeconds");
                                plan.max_recovery_ms =
                                        (json_is_integer(mrs) ? json_integer_value(mrs) : 60) *
                                        1000;
                        }
                }
                if (cron_next(&cron, zone, now_ms / 1000, &next) == 0 &&
                    (!plan.next_at_ms || next * 1000 < plan.next_at_ms))
                        plan.next_at_ms = next * 1000;
        }
        *ret_plan = plan;
        return 0;
}

/* ---- the drill thread ---- */

static const json_t *drill_entry(const json_t *tripdeal, const char *name)
{
        size_t i;
        json_t *drill;
        json_array_foreach (
                json_object_get(json_object_get(json_object_get(tripdeal, "spec"), "chaos"),
                                "drills"),
                i, drill) {
                const char *n = json_string_value(json_object_get(drill, "name"));
                if (n && strcmp(n, name) == 0)
                        return drill;
        }
        return NULL;
}

/* The drill entry as an Experiment for the engine: the TripDeal's site pods. */
static json_t *experiment_of(const json_t *drill, const char *namespace, const char *tripdeal)
{
        json_t *target = json_object_get(drill, "target");
        json_t *steady = json_object_get(drill, "steadyState");
        json_t *spec = json_pack("{s:{s:s, s:s}, s:O}", "target", "namespace", namespace,
                                 "tripDeal", tripdeal, "action", json_object_get(drill, "action"));
        if (!spec)
                return NULL;
        static const char *const copied[] = {"gracePeriodSeconds", "maxTargetPercent"};
        for (size_t i = 0; i < ARRAY_SIZE(copied); i++)
                if (json_object_get(drill, copied[i]))
                        json_object_set(spec, copied[i], json_object_get(drill, copied[i]));
        if (json_object_get(target, "percent"))
                json_object_set(spec, "percent", json_object_get(target, "percent"));
        if (json_object_get(target, "count"))
                json_object_set(spec, "count", json_object_get(target, "count"));
        json_t *s = json_object();
        json_object_set_new(spec, "steadyState", s);
        static const char *const steady_copied[] = {"maxErrorRatePercent", "maxRecoverySeconds"};
        for (size_t i = 0; i < ARRAY_SIZE(steady_copied); i++)
                if (json_object_get(steady, steady_copied[i]))
                        json_object_set(s, steady_copied[i],
                                        json_object_get(steady, steady_copied[i]));
        if (!json_object_get(s, "maxRecoverySeconds"))
                json_object_set_new(s, "maxRecoverySeconds", json_integer(60));
        json_t *query = json_object_get(steady, "prometheusQuery");
        if (query) {
                json_t *prom = json_pack("{s:O}", "query", query);
                if (json_object_get(steady, "threshold"))
                        json_object_set(prom, "max", json_object_get(steady, "threshold"));
                json_object_set_new(s, "prometheus", prom);
        }
        return json_pack("{s:s, s:s, s:{s:O}, s:o}", "apiVersion", CHAOS_API_VERSION, "kind",
                         CHAOS_KIND, "metadata", "name", json_object_get(drill, "name"), "spec",
                         spec);
}

static const char *event_reason(enum chaos_verdict verdict)
{
        switch (verdict) {
        case CHAOS_VERDICT_PASSED:
                return "DrillPassed";
        case CHAOS_VERDICT_ABORTED:
                return "DrillAborted";
        case CHAOS_VERDICT_REFUSED:
                return "DrillSkipped";
        default:
                return "DrillFailed";
        }
}

static void requeue(const char *namespace, const char *name)
{
        if (state.options.requeue)
                state.options.requeue(state.options.requeue_userdata, namespace, name);
}

/* ---- node-kill: the TripDeal's own node-pool VMs ---- */

static void drill_nodes_closep(struct nodepools_drill_nodes **nodes)
{
        nodepools_drill_nodes_close(*nodes);
}

/* The node driver over tripdeal's pools.  0, or -errno and *ret_message. */
static int drill_nodes_open(const json_t *tripdeal, struct chaos_node_driver *ret_driver,
                            struct nodepools_drill_nodes **ret_nodes, char **ret_message)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = NULL;
        struct tripdeal_error error = {0};
        int r = tripdeal_spec_parse(json_object_get(tripdeal, "spec"), &spec, &error);
        if (r < 0) {
                if (asprintf(ret_message, "spec: %s", tripdeal_error_message(&error)) < 0)
                        *ret_message = NULL;
                return r;
        }
        struct tripdeal_identity identity = {.name = kube_object_name(tripdeal),
                                             .namespace = kube_object_namespace(tripdeal),
                                             .uid = kube_object_uid(tripdeal)};
        return nodepools_drill_nodes_open(
                &(struct nodepools_request){.client = state.options.client,
                                            .options = state.options.nodepools,
                                            .identity = &identity,
                                            .spec = spec},
                ret_driver, ret_nodes, ret_message);
}

/* The TripDeal's node pools, opened at the first VM to start: most reconciles
 * find no Lease, and opening loads libvirt. */
struct lazy_nodes {
        const json_t *tripdeal;
        struct chaos_node_driver driver;
        struct nodepools_drill_nodes *nodes;
        char *message; /* why they could not be opened */
        int error;
        bool vm_failed; /* a VM would not start (said per VM) */
};

static int lazy_power_on(void *userdata, const char *vm)
{
        struct lazy_nodes *l = userdata;
        if (!l->nodes && l->error == 0) {
                l->error = drill_nodes_open(l->tripdeal, &l->driver, &l->nodes, &l->message);
                if (l->error == 0 && !l->nodes)
                        l->error = -ENODEV;
        }
        if (l->error < 0)
                return l->error;
        return l->driver.power_on(l->driver.userdata, vm);
}

static void restored_vms(void *userdata, const json_t *lease)
{
        const json_t *tripdeal = ((const struct lazy_nodes *)userdata)->tripdeal;
        const char *vms = json_string_value(
                json_object_get(json_object_get(json_object_get(lease, "metadata"), "annotations"),
                                CHAOS_ANNOTATION_POWERED));
        if (!vms || !vms[0])
                return;
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s?, s:s?, s:s}", "namespace", kube_object_namespace(tripdeal),
                           "tripdeal", kube_object_name(tripdeal), "vms", vms),
                 "started again the VMs an interrupted node-kill drill powered off: %s", vms);
}

static void vm_failed(void *userdata, const json_t *lease, const char *vm, int error)
{
        struct lazy_nodes *lazy = userdata;
        const json_t *tripdeal = lazy->tripdeal;
        lazy->vm_failed = true;
        if (lazy->error < 0)
                return; /* the pools could not be opened: said once, by the caller */
        log_emit(LOG_LEVEL_WARN,
                 json_pack("{s:s?, s:s?, s:s?, s:s, s:s}", "namespace",
                           kube_object_namespace(tripdeal), "tripdeal", kube_object_name(tripdeal),
                           "lease", kube_object_name(lease), "vm", vm, "error", strerror(-error)),
                 "cannot start VM %s again after an interrupted drill", vm);
}

/*
 * An earlier leader's node-kill drill of this TripDeal left VMs powered off
 * (the Lease it held names them): start them again, then delete the Lease
 * (chaos_recover_stale, as tripdeal-chaos does).  A VM that is gone (the pool
 * replaced it) needs nothing.  When one cannot be started the Lease stays,
 * for the next reconcile.  No drill of this TripDeal runs in this process
 * (the caller checked).
 */
static void restore_powered_off(const json_t *tripdeal, const char *namespace, const char *name)
{
        if (json_array_size(json_object_get(json_object_get(tripdeal, "spec"), "nodePools")) == 0)
                return;
        char lease_name[128];
        snprintf(lease_name, sizeof(lease_name), "%stripdeal-%.40s", CHAOS_LEASE_PREFIX, name);
        struct lazy_nodes lazy = {.tripdeal = tripdeal};
        const struct chaos_node_driver driver = {.power_on = lazy_power_on, .userdata = &lazy};
        int r = chaos_recover_stale(state.options.client,
                                    &(struct chaos_recover_options){
                                            .namespace = namespace,
                                            .lease_name = lease_name,
                                            .nodes = &driver,
                                            .identity_prefix = OPERATOR_IDENTITY_PREFIX,
                                            .on_restored = restored_vms,
                                            .on_vm_failed = vm_failed,
                                            .userdata = &lazy,
                                    },
                                    NULL);
        if (lazy.error < 0)
                log_emit(LOG_LEVEL_WARN,
                         json_pack("{s:s, s:s, s:s, s:s}", "namespace", namespace, "tripdeal", name,
                                   "lease", lease_name, "error",
                                   lazy.message ? lazy.message : strerror(-lazy.error)),
                         "cannot restore the VMs an interrupted node-kill drill powered off");
        else if (r < 0 && !lazy.vm_failed)
                log_emit(LOG_LEVEL_WARN,
                         json_pack("{s:s, s:s, s:s, s:s}", "namespace", namespace, "tripdeal", name,
                                   "lease", lease_name, "error", kube_strerror(r)),
                         "cannot restore what an interrupted node-kill drill left");
        nodepools_drill_nodes_close(lazy.nodes);
        free(lazy.message);
}

static void *drill_main(void *userdata)
{
        struct drill_job *job = userdata;
        struct chaos_outcome outcome = {.verdict = CHAOS_VERDICT_ABORTED, .recovery_seconds = -1};
        struct tripdeal_error error = {0};
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *experiment = NULL;
        int r = chaos_experiment_from_json(job->experiment, &experiment, &error);
        struct chaos_node_driver driver = {0};
        _cleanup_(drill_nodes_closep) struct nodepools_drill_nodes *nodes = NULL;
        bool refused = false;
        if (r == 0 && experiment->action == CHAOS_ACTION_NODE_KILL) {
                /* The VMs of this TripDeal's pools, through the node pool module. */
                _cleanup_free_ char *message = NULL;
                int o = drill_nodes_open(job->tripdeal, &driver, &nodes, &message);
                if (o < 0) {
                        refused = true;
                        outcome.verdict = CHAOS_VERDICT_REFUSED;
                        snprintf(outcome.reason, sizeof(outcome.reason),
                                 "node-kill drills power off VMs of the TripDeal's own "
                                 "spec.nodePools: %.300s",
                                 message ? message : strerror(-o));
                }
        }
        if (r < 0) {
                snprintf(outcome.reason, sizeof(outcome.reason), "spec.chaos.drills[name=%s]: %s",
                         job->drill, tripdeal_error_message(&error));
        } else if (!refused) {
                _cleanup_free_ char *service = strdup(job->name);
                r = chaos_run(experiment,
                              &(struct chaos_run_options){
                                      .kube = state.options.client,
                                      .nodes = nodes ? &driver : NULL,
                                      .identity = state.identity,
                                      .prometheus_url = state.prometheus_url,
                                      .default_service = service,
                                      .default_service_port = 80,
                                      .stop = &state.stop,
                              },
                              &outcome, NULL);
                if (r < 0) {
                        outcome.verdict = CHAOS_VERDICT_ABORTED;
                        snprintf(outcome.reason, sizeof(outcome.reason),
                                 "the drill could not run: %s", kube_strerror(r));
                }
        }
        /* The VMs are started again (or the Lease keeps them): libvirt is done. */
        nodepools_drill_nodes_close(nodes);
        nodes = NULL;
        const char *verdict = chaos_verdict_to_string(outcome.verdict);
        int64_t finished = clock_realtime_ms();
        patch_last_drill(job->namespace, job->name,
                         last_drill(job->drill, job->scheduled_at_ms, job->started_at_ms, finished,
                                    verdict, outcome.recovery_seconds, outcome.probes_failed,
                                    outcome.reason));
        event(job->tripdeal, outcome.verdict == CHAOS_VERDICT_PASSED ? "Normal" : "Warning",
              event_reason(outcome.verdict), "drill %s: %s: %s", job->drill, verdict,
              outcome.reason);
        metrics_drill_done(verdict);
        if (outcome.recovery_seconds >= 0)
                metrics_drill_recovered(outcome.recovery_seconds);
        log_emit(outcome.verdict == CHAOS_VERDICT_PASSED ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
                 json_pack("{s:s, s:s, s:s, s:s, s:f, s:I}", "namespace", job->namespace,
                           "tripdeal", job->name, "drill", job->drill, "verdict", verdict,
                           "recovery_seconds", outcome.recovery_seconds, "failed_requests",
                           (json_int_t)outcome.probes_failed),
                 "drill %s: %s", verdict, outcome.reason);
        pthread_mutex_lock(&state.lock);
        job->running = false;
        pthread_mutex_unlock(&state.lock);
        requeue(job->namespace, job->name);
        return NULL;
}

/* Under the lock. */
static struct drill_job *job_for(const char *namespace, const char *name, bool create)
{
        for (struct drill_job *j = state.jobs; j; j = j->next)
                if (strcmp(j->namespace, namespace) == 0 && strcmp(j->name, name) == 0)
                        return j;
        if (!create)
                return NULL;
        struct drill_job *j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->namespace = strdup(namespace);
        j->name = strdup(name);
        if (!j->namespace || !j->name) {
                free(j->namespace);
                free(j->name);
                free(j);
                return NULL;
        }
        j->next = state.jobs;
        state.jobs = j;
        return j;
}

/* Under the lock: join a finished thread. */
static void job_reap(struct drill_job *j)
{
        if (j->has_thread && !j->running) {
                pthread_join(j->thread, NULL);
                j->has_thread = false;
                json_decref(j->tripdeal);
                json_decref(j->experiment);
                j->tripdeal = j->experiment = NULL;
        }
}

/*
 * status.lastDrill Running, not started by this process and not after it
 * started: its operator stopped while it ran.  What it changed was restored
 * from its Lease (drills_recover); say so.  Under the lock (no drill of ours
 * runs).  startedAt has whole seconds and an operator killed mid-drill is
 * often replaced within the same second, so "ours" is decided by the job this
 * process keeps (a stale informer copy of our own finished drill still says
 * Running), not by comparing the times alone.
 */
static void mark_interrupted(const struct drill_job *job, const json_t *tripdeal,
                             const char *namespace, const char *name)
{
        const json_t *last = json_object_get(json_object_get(tripdeal, "status"), "lastDrill");
        const char *verdict = json_string_value(json_object_get(last, "verdict"));
        const char *started = json_string_value(json_object_get(last, "startedAt"));
        const char *scheduled = json_string_value(json_object_get(last, "scheduledAt"));
        const char *drill = json_string_value(json_object_get(last, "name"));
        time_t s = 0, sc = 0;
        if (!verdict || strcmp(verdict, "Running") != 0 || !started ||
            clock_parse_rfc3339(started, &s) < 0 || (int64_t)s * 1000 > state.setup_at_ms)
                return;
        if (job && job->started_at_ms / 1000 == (int64_t)s)
                return;
        if (scheduled)
                clock_parse_rfc3339(scheduled, &sc);
        const char *message = "interrupted: the operator stopped while the drill ran; the new "
                              "leader restored what it changed";
        patch_last_drill(namespace, name,
                         last_drill(drill ? drill : "unknown", (int64_t)sc * 1000,
                                    (int64_t)s * 1000, clock_realtime_ms(), "Aborted", -1, -1,
                                    message));
        event(tripdeal, "Warning", "DrillAborted", "drill %s: %s", drill ? drill : "?", message);
        metrics_drill_done("Aborted");
}

static bool blackout_sales(const json_t *tripdeal)
{
        size_t i;
        json_t *item;
        json_array_foreach (
                json_object_get(json_object_get(json_object_get(tripdeal, "spec"), "chaos"),
                                "blackout"),
                i, item) {
                if (json_is_string(item) && strcmp(json_string_value(item), "sales") == 0)
                        return true;
        }
        return false;
}

int drills_reconcile(const json_t *tripdeal, int64_t now_ms, int64_t *ret_requeue_at_ms,
                     bool *ret_running)
{
        const char *namespace = kube_object_namespace(tripdeal);
        const char *name = kube_object_name(tripdeal);
        if (!namespace || !name || !state.options.client)
                return -EINVAL;
        struct drill_plan plan;
        int r = drills_plan(tripdeal, now_ms, &plan);
        if (r < 0)
                return r;
        if (plan.error[0])
                event(tripdeal, "Warning", "InvalidDrill", "%s", plan.error);

        pthread_mutex_lock(&state.lock);
        struct drill_job *job = job_for(namespace, name, plan.due);
        if (job)
                job_reap(job);
        bool running = job && job->running;
        if (!running) {
                restore_powered_off(tripdeal, namespace, name);
                mark_interrupted(job, tripdeal, namespace, name);
        }
        bool handled = job && plan.due && job->handled_ms >= plan.scheduled_at_ms;
        if (plan.due && job && !handled) {
                job->handled_ms = plan.scheduled_at_ms;
                if (running) {
                        pthread_mutex_unlock(&state.lock);
                        event(tripdeal, "Warning", "DrillSkipped",
                              "drill %s skipped: drill %s of this TripDeal is still running",
                              plan.name, job->drill);
                        metrics_drill_done("Skipped");
                        goto out;
                }
                /* Unusable sales are no blackout here: the engine's own check of
                 * them ends the drill Aborted, naming the field. */
                struct chaos_blackout blackout = {0};
                if (blackout_sales(tripdeal) &&
                    chaos_blackout_check(
                            json_object_get(json_object_get(tripdeal, "spec"), "sales"), now_ms,
                            plan.max_recovery_ms, &blackout, NULL) == 0 &&
                    blackout.blocked) {
                        pthread_mutex_unlock(&state.lock);
                        char text[sizeof(blackout.reason) + 16];
                        snprintf(text, sizeof(text), "blackout: %s", blackout.reason);
                        event(tripdeal, "Normal", "DrillSkipped", "drill %s skipped: %s", plan.name,
                              text);
                        patch_last_drill(namespace, name,
                                         last_drill(plan.name, plan.scheduled_at_ms, now_ms, now_ms,
                                                    "Skipped", -1, -1, text));
                        metrics_drill_done("Skipped");
                        goto out;
                }
                const json_t *entry = drill_entry(tripdeal, plan.name);
                snprintf(job->drill, sizeof(job->drill), "%s", plan.name);
                job->scheduled_at_ms = plan.scheduled_at_ms;
                job->started_at_ms = now_ms;
                job->tripdeal = json_deep_copy(tripdeal);
                job->experiment = entry ? experiment_of(entry, namespace, name) : NULL;
                if (!job->tripdeal || !job->experiment) {
                        pthread_mutex_unlock(&state.lock);
                        r = -ENOMEM;
                        goto out;
                }
                /* Running and DrillStarted go out before the thread starts (still
                 * under the lock, so the job stays ours): a drill refused at once
                 * must not have its verdict overwritten by Running. */
                patch_last_drill(namespace, name,
                                 last_drill(plan.name, plan.scheduled_at_ms, now_ms, 0, "Running",
                                            -1, -1, "running"));
                event(tripdeal, "Normal", "DrillStarted", "drill %s: %s of %s started", plan.name,
                      json_string_value(json_object_get(entry, "action")), name);
                job->running = true;
                if (pthread_create(&job->thread, NULL, drill_main, job) != 0) {
                        job->running = false;
                        pthread_mutex_unlock(&state.lock);
                        patch_last_drill(namespace, name,
                                         last_drill(plan.name, plan.scheduled_at_ms, now_ms,
                                                    clock_realtime_ms(), "Aborted", -1, -1,
                                                    "cannot start the drill's thread"));
                        r = -EAGAIN;
                        goto out;
                }
                job->has_thread = true;
                running = true;
                pthread_mutex_unlock(&state.lock);
                goto out;
        }
        pthread_mutex_unlock(&state.lock);
out:
        *ret_running = running;
        *ret_requeue_at_ms = plan.next_at_ms ? plan.next_at_ms + 1 : 0;
        return r;
}

void drills_shutdown(void)
{
        atomic_store(&state.stop, true);
        pthread_mutex_lock(&state.lock);
        struct drill_job *jobs = state.jobs;
        state.jobs = NULL;
        pthread_mutex_unlock(&state.lock);
        while (jobs) {
                struct drill_job *next = jobs->next;
                if (jobs->has_thread)
                        pthread_join(jobs->thread, NULL);
                json_decref(jobs->tripdeal);
                json_decref(jobs->experiment);
                free(jobs->namespace);
                free(jobs->name);
                free(jobs);
                jobs = next;
        }
}

/* ---- a new leader restores interrupted drills ---- */

static void restored(void *userdata, const json_t *lease)
{
        const json_t *annotations =
                json_object_get(json_object_get(lease, "metadata"), "annotations");
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s?, s:s?, s:s?}", "namespace", kube_object_namespace(lease), "lease",
                           kube_object_name(lease), "drill",
                           json_string_value(
                                   json_object_get(annotations, CHAOS_ANNOTATION_EXPERIMENT))),
                 "restored an interrupted drill");
}

void drills_recover(const char *namespace)
{
        if (!state.options.client)
                return;
        int n = 0;
        int r = chaos_recover_stale(state.options.client,
                                    &(struct chaos_recover_options){
                                            .namespace = namespace,
                                            .identity_prefix = OPERATOR_IDENTITY_PREFIX,
                                            .on_restored = restored,
                                    },
                                    &n);
        if (r < 0)
                log_emit(LOG_LEVEL_WARN, json_pack("{s:s}", "error", kube_strerror(r)),
                         "cannot look for interrupted drills");
        else if (n > 0)
                log_emit(LOG_LEVEL_INFO, json_pack("{s:i}", "restored", n),
                         "restored %d interrupted drill(s)", n);
}
