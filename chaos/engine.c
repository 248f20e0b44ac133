/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The drill itself: guardrails (blackout, blast radius, one drill per target
 * through a Lease), steady state before, injection (pod-kill, node-kill),
 * watching recovery while probing, steady state after, restore, and the
 * report's data (timeline, logs, Events, probe and Prometheus series).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chaos-private.h"
#include "clock.h"
#include "macros.h"

#define POLL_MS       100
#define RENEW_MS      5000
#define PROMETHEUS_MS 2000
#define LEASE_EXTRA_S 120
#define MAX_LOG_BYTES 65536
#define FIELD_MANAGER "tripdeal-chaos"

struct pod_track {
        char *name, *uid, *node;
        bool ready;
        bool terminating;
        bool gone;
        bool killed;      /* a target of the drill */
        bool replacement; /* created after the injection */
        int64_t ready_at_ms;
        json_t *logs; /* last lines (killed) or first lines (replacement) */
};

struct run {
        const struct chaos_experiment *e;
        const struct chaos_run_options *o;
        struct chaos_outcome out;
        json_t *timeline;
        json_t *prometheus_samples;
        struct pod_track *pods;
        size_t n_pods;
        char *selector;
        char *service;
        int32_t port;
        json_t *tripdeal;
        char lease_name[64];
        char lease_uid[64];
        bool lease_held;
        char identity[160];
        char prometheus_url[512];
        int64_t started_mono;
        int64_t injected_at_ms;  /* 0: nothing injected */
        int64_t recovered_at_ms; /* 0: not recovered */
        int64_t after_from_ms;
        char **killed_nodes; /* node-kill: VMs powered off (NULL-terminated) */
        size_t n_killed_nodes;
        json_t *node_ready; /* node name -> last seen Ready status */
        struct chaos_probe *probe;
        int32_t ready_before;
};

static bool stop_requested(const struct run *run)
{
        return run->o->stop && atomic_load(run->o->stop);
}

static void format_time(int64_t ms, char *buf, size_t size)
{
        if (clock_format_rfc3339_ms(ms, buf, size) < 0)
                snprintf(buf, size, "%lld", (long long)ms);
}

static void progress(struct run *run, const char *fmt, ...) _printf_(2, 3);
static void progress(struct run *run, const char *fmt, ...)
{
        if (!run->o->progress)
                return;
        _cleanup_free_ char *text = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        if (!text)
                return;
        _cleanup_free_ char *line = NULL;
        double t = (double)(clock_monotonic_ms() - run->started_mono) / 1000.0;
        if (asprintf(&line, "[%6.1fs] %s", t, text) < 0)
                return;
        run->o->progress(line, run->o->progress_userdata);
}

static void timeline_add(struct run *run, int64_t at_ms, const char *source, const char *fmt, ...)
        _printf_(4, 5);
static void timeline_add(struct run *run, int64_t at_ms, const char *source, const char *fmt, ...)
{
        _cleanup_free_ char *text = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        if (!text)
                return;
        char at[40];
        format_time(at_ms, at, sizeof(at));
        json_array_append_new(run->timeline,
                              json_pack("{s:s, s:I, s:s, s:s}", "at", at, "atMs", (json_int_t)at_ms,
                                        "source", source, "message", text));
}

static void set_verdict(struct run *run, enum chaos_verdict verdict, const char *fmt, ...)
        _printf_(3, 4);
static void set_verdict(struct run *run, enum chaos_verdict verdict, const char *fmt, ...)
{
        run->out.verdict = verdict;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->out.reason, sizeof(run->out.reason), fmt, ap);
        va_end(ap);
}

static int kube_fail(struct run *run, const char *what, int r, const struct kube_status *st)
{
        set_verdict(run, CHAOS_VERDICT_ABORTED, "%s: %s%s%s", what, kube_strerror(r),
                    st && st->message[0] ? ": " : "", st ? st->message : "");
        return 0;
}

/* ---- pods ---- */

static bool pod_ready(const json_t *pod)
{
        if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
                return false;
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(json_object_get(pod, "status"), "conditions"), i, c) {
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *status = json_string_value(json_object_get(c, "status"));
                if (type && strcmp(type, "Ready") == 0)
                        return status && strcmp(status, "True") == 0;
        }
        return false;
}

static const char *pod_node(const json_t *pod)
{
        return json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
}

static int list_pods(struct run *run, json_t **ret_items, struct kube_status *st)
{
        json_t *list = NULL;
        int r = kube_list(run->o->kube, &KUBE_PODS,
                          &(struct kube_list_options){.namespace = run->e->namespace,
                                                      .label_selector = run->selector},
                          &list, st);
        if (r < 0)
                return r;
        *ret_items = json_incref(json_object_get(list, "items"));
        json_decref(list);
        return *ret_items ? 0 : KUBE_ERR_PARSE;
}

static struct pod_track *track_find(struct run *run, const char *uid)
{
        for (size_t i = 0; i < run->n_pods; i++)
                if (strcmp(run->pods[i].uid, uid) == 0)
                        return &run->pods[i];
        return NULL;
}

/* Fold a fresh pod list into the tracks; transitions go to the timeline. */
static void track_update(struct run *run, const json_t *items, int64_t now_ms)
{
        bool *seen = calloc(run->n_pods + json_array_size(items) + 1, sizeof(bool));
        if (!seen)
                return;
        size_t i;
        json_t *pod;
        json_array_foreach (items, i, pod) {
                const char *uid = kube_object_uid(pod);
                const char *name = kube_object_name(pod);
                if (!uid || !name)
                        continue;
                bool ready = pod_ready(pod);
                bool terminating =
                        json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp");
                struct pod_track *t = track_find(run, uid);
                if (!t) {
                        struct pod_track *grown =
                                realloc(run->pods, (run->n_pods + 1) * sizeof(*grown));
                        if (!grown)
                                continue;
                        run->pods = grown;
                        t = &run->pods[run->n_pods++];
                        const char *node = pod_node(pod);
                        *t = (struct pod_track){.name = strdup(name),
                                                .uid = strdup(uid),
                                                .node = node ? strdup(node) : NULL};
                        if (!t->name || !t->uid) {
                                free(t->name);
                                free(t->uid);
                                free(t->node);
                                run->n_pods--;
                                continue;
                        }
                        if (run->injected_at_ms) {
                                t->replacement = true;
                                timeline_add(run, now_ms, "pods", "pod %s created%s%s", name,
                                             node ? " on node " : "", node ? node : "");
                        }
                }
                seen[t - run->pods] = true;
                if (!t->node && pod_node(pod)) {
                        t->node = strdup(pod_node(pod));
                        if (run->injected_at_ms && t->node)
                                timeline_add(run, now_ms, "pods", "pod %s scheduled to node %s",
                                             t->name, t->node);
                }
                if (ready != t->ready && run->injected_at_ms)
                        timeline_add(run, now_ms, "pods", "pod %s %s", t->name,
                                     ready ? "Ready" : "not Ready");
                if (ready && !t->ready_at_ms)
                        t->ready_at_ms = now_ms;
                if (terminating && !t->terminating && run->injected_at_ms)
                        timeline_add(run, now_ms, "pods", "pod %s terminating", t->name);
                t->ready = ready;
                t->terminating = terminating;
                t->gone = false;
        }
        for (size_t k = 0; k < run->n_pods; k++) {
                struct pod_track *t = &run->pods[k];
                if (seen[k] || t->gone)
                        continue;
                t->gone = true;
                t->ready = false;
                if (run->injected_at_ms)
                        timeline_add(run, now_ms, "pods", "pod %s deleted", t->name);
        }
        free(seen);
}

static void tracks_free(struct run *run)
{
        for (size_t i = 0; i < run->n_pods; i++) {
                free(run->pods[i].name);
                free(run->pods[i].uid);
                free(run->pods[i].node);
                json_decref(run->pods[i].logs);
        }
        free(run->pods);
}

/* Ready pods that are not among the killed ones. */
static int32_t ready_survivors(const struct run *run)
{
        int32_t n = 0;
        for (size_t i = 0; i < run->n_pods; i++)
                n += run->pods[i].ready && !run->pods[i].gone && !run->pods[i].killed;
        return n;
}

static bool killed_still_ready(const struct run *run)
{
        for (size_t i = 0; i < run->n_pods; i++)
                if (run->pods[i].killed && run->pods[i].ready && !run->pods[i].gone)
                        return true;
        return false;
}

static json_t *log_lines(const char *text, int32_t max, bool first)
{
        json_t *lines = json_array();
        if (!text || !lines)
                return lines;
        /* Split into lines, keep the first or last max. */
        size_t count = 0;
        for (const char *p = text; *p; p++)
                count += *p == '\n';
        if (text[0] && text[strlen(text) - 1] != '\n')
                count++;
        size_t skip = (!first && count > (size_t)max) ? count - (size_t)max : 0;
        size_t index = 0;
        const char *p = text;
        while (*p && (first ? json_array_size(lines) < (size_t)max : true)) {
                const char *end = strchrnul(p, '\n');
                if (index++ >= skip)
                        json_array_append_new(lines, json_stringn(p, (size_t)(end - p)));
                p = *end ? end + 1 : end;
        }
        return lines;
}

static void read_logs(struct run *run, struct pod_track *t, bool first)
{
        _cleanup_free_ char *text = NULL;
        struct kube_status st = {0};
        int r = kube_pod_log(run->o->kube,
                             &(struct kube_pod_log_options){
                                     .namespace = run->e->namespace,
                                     .name = t->name,
                                     .tail_lines = first ? 0 : run->e->log_lines,
                                     .limit_bytes = MAX_LOG_BYTES,
                             },
                             &text, &st);
        json_decref(t->logs);
        if (r < 0) {
                t->logs = json_pack("[s]", "(log not readable)");
                return;
        }
        t->logs = log_lines(text, run->e->log_lines, first);
}

/* ---- the Lease that makes one drill per target ---- */

static void lease_name(struct run *run)
{
        if (run->e->tripdeal) {
                snprintf(run->lease_name, sizeof(run->lease_name), "%stripdeal-%.40s",
                         CHAOS_LEASE_PREFIX, run->e->tripdeal);
                return;
        }
        uint32_t h = 2166136261u; /* FNV-1a of the selector */
        for (const char *p = run->e->selector; p && *p; p++)
                h = (h ^ (unsigned char)*p) * 16777619u;
        snprintf(run->lease_name, sizeof(run->lease_name), "%sselector-%08x", CHAOS_LEASE_PREFIX,
                 h);
}

static bool lease_live(const json_t *lease, int64_t now_ms)
{
        json_t *spec = json_object_get(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        if (!holder || !holder[0])
                return false;
        const char *renew = json_string_value(json_object_get(spec, "renewTime"));
        json_int_t duration = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
        time_t t;
        if (!renew || clock_parse_rfc3339(renew, &t) < 0)
                return true; /* held, age unknown: be safe */
        return (int64_t)t * 1000 + duration * 1000 > now_ms;
}

static json_t *lease_spec(struct run *run, int64_t now_ms)
{
        char now[40];
        kube_format_micro_time(now_ms, now, sizeof(now));
        int64_t duration = run->e->max_recovery_ms / 1000 + LEASE_EXTRA_S;
        return json_pack("{s:s, s:I, s:s, s:s}", "holderIdentity", run->identity,
                         "leaseDurationSeconds", (json_int_t)duration, "acquireTime", now,
                         "renewTime", now);
}

/* 0 and run->lease_held, or a Refused / Aborted verdict. */
static int lease_acquire(struct run *run)
{
        struct kube_status st = {0};
        _cleanup_json_ json_t *lease = NULL;
        int64_t now = clock_realtime_ms();
        int r = kube_get(
                run->o->kube, &KUBE_LEASES,
                &(struct kube_get_options){.namespace = run->e->namespace, .name = run->lease_name},
                &lease, &st);
        if (r < 0 && r != KUBE_ERR_NOT_FOUND)
                return kube_fail(run, "reading the drill Lease", r, &st);
        if (lease && lease_live(lease, now)) {
                const char *holder = json_string_value(
                        json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
                const char *other = json_string_value(json_object_get(
                        json_object_get(json_object_get(lease, "metadata"), "annotations"),
                        CHAOS_ANNOTATION_EXPERIMENT));
                set_verdict(run, CHAOS_VERDICT_REFUSED,
                            "another drill holds the target: Lease %s/%s held by %s%s%s",
                            run->e->namespace, run->lease_name, holder, other ? " for " : "",
                            other ? other : "");
                return 0;
        }
        if (run->o->dry_run)
                return 0;
        _cleanup_json_ json_t *spec = lease_spec(run, now);
        _cleanup_json_ json_t *annotations =
                json_pack("{s:s, s:s, s:s}", CHAOS_ANNOTATION_EXPERIMENT, run->e->name,
                          CHAOS_ANNOTATION_ACTION, chaos_action_to_string(run->e->action),
                          CHAOS_ANNOTATION_PHASE, "Checking");
        _cleanup_json_ json_t *result = NULL;
        if (lease) {
                _cleanup_json_ json_t *updated = json_deep_copy(lease);
                json_object_set(updated, "spec", spec);
                json_object_set(json_object_get(updated, "metadata"), "annotations", annotations);
                r = kube_update(run->o->kube, &KUBE_LEASES,
                                &(struct kube_write_options){.field_manager = FIELD_MANAGER},
                                updated, &result, &st);
        } else {
                _cleanup_json_ json_t *object = json_pack(
                        "{s:s, s:s, s:{s:s, s:s, s:O, s:{s:s}}, s:O}", "apiVersion",
                        "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                        run->lease_name, "namespace", run->e->namespace, "annotations", annotations,
                        "labels", "app.kubernetes.io/managed-by", "tripdeal-chaos", "spec", spec);
                r = kube_create(run->o->kube, &KUBE_LEASES,
                                &(struct kube_write_options){.field_manager = FIELD_MANAGER},
                                object, &result, &st);
        }
        if (r == KUBE_ERR_CONFLICT || r == KUBE_ERR_ALREADY_EXISTS) {
                set_verdict(run, CHAOS_VERDICT_REFUSED,
                            "another drill took the target's Lease %s/%s first", run->e->namespace,
                            run->lease_name);
                return 0;
        }
        if (r < 0)
                return kube_fail(run, "taking the drill Lease", r, &st);
        snprintf(run->lease_uid, sizeof(run->lease_uid), "%s", kube_object_uid(result) ?: "");
        run->lease_held = true;
        timeline_add(run, now, "engine", "Lease %s/%s taken by %s", run->e->namespace,
                     run->lease_name, run->identity);
        return 0;
}

static void lease_patch(struct run *run, json_t *patch)
{
        if (!run->lease_held)
                return;
        kube_patch(run->o->kube, &KUBE_LEASES,
                   &(struct kube_patch_options){.namespace = run->e->namespace,
                                                .name = run->lease_name,
                                                .type = KUBE_PATCH_MERGE,
                                                .field_manager = FIELD_MANAGER},
                   patch, NULL, NULL);
        json_decref(patch);
}

static void lease_renew(struct run *run)
{
        char now[40];
        kube_format_micro_time(clock_realtime_ms(), now, sizeof(now));
        lease_patch(run, json_pack("{s:{s:s}}", "spec", "renewTime", now));
}

static void lease_phase(struct run *run, const char *phase, const char *powered_off)
{
        json_t *annotations = json_pack("{s:s}", CHAOS_ANNOTATION_PHASE, phase);
        if (powered_off)
                json_object_set_new(annotations, CHAOS_ANNOTATION_POWERED,
                                    json_string(powered_off));
        lease_patch(run, json_pack("{s:{s:o}}", "metadata", "annotations", annotations));
}

static void lease_release(struct run *run)
{
        if (!run->lease_held)
                return;
        kube_delete(run->o->kube, &KUBE_LEASES,
                    &(struct kube_delete_options){
                            .namespace = run->e->namespace,
                            .name = run->lease_name,
                            .precondition_uid = run->lease_uid[0] ? run->lease_uid : NULL},
                    NULL, NULL);
        run->lease_held = false;
        timeline_add(run, clock_realtime_ms(), "engine", "Lease %s/%s released", run->e->namespace,
                     run->lease_name);
}

/* ---- Prometheus ---- */

static int prometheus_sample(struct run *run, const char *phase, double *ret_value)
{
        if (!run->e->has_prometheus || !run->prometheus_url[0])
                return -ENOENT;
        double value = 0;
        struct tripdeal_error error = {0};
        int64_t at = clock_realtime_ms();
        int r = chaos_prometheus_query(run->prometheus_url, run->e->prometheus.query, &value,
                                       &error);
        char at_text[40];
        format_time(at, at_text, sizeof(at_text));
        if (r < 0) {
                timeline_add(run, at, "prometheus", "%s", tripdeal_error_message(&error));
                json_array_append_new(run->prometheus_samples,
                                      json_pack("{s:s, s:I, s:s, s:n}", "at", at_text, "atMs",
                                                (json_int_t)at, "phase", phase, "value"));
                return r;
        }
        json_array_append_new(run->prometheus_samples,
                              json_pack("{s:s, s:I, s:s, s:f}", "at", at_text, "atMs",
                                        (json_int_t)at, "phase", phase, "value", value));
        if (value > run->e->prometheus.max)
                timeline_add(run, at, "prometheus", "%s = %g, above max %g (%s)",
                             run->e->prometheus.query, value, run->e->prometheus.max, phase);
        *ret_value = value;
        return 0;
}

/* ---- target resolution ---- */

static int resolve_target(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        struct kube_status st = {0};
        if (e->tripdeal) {
                int r = kube_get(
                        run->o->kube, &KUBE_TRIPDEALS,
                        &(struct kube_get_options){.namespace = e->namespace, .name = e->tripdeal},
                        &run->tripdeal, &st);
                if (r == KUBE_ERR_NOT_FOUND) {
                        set_verdict(run, CHAOS_VERDICT_ABORTED, "TripDeal %s/%s not found",
                                    e->namespace, e->tripdeal);
                        return 0;
                }
                if (r < 0)
                        return kube_fail(run, "reading the TripDeal", r, &st);
                if (asprintf(&run->selector,
                             "app.kubernetes.io/instance=%s,app.kubernetes.io/name=tripdeal",
                             e->tripdeal) < 0) {
                        run->selector = NULL;
                        return -ENOMEM;
                }
        } else {
                run->selector = strdup(e->selector);
                if (!run->selector)
                        return -ENOMEM;
        }
        if (e->has_http && e->http.service) {
                run->service = strdup(e->http.service);
                run->port = e->http.port;
        } else if (!e->has_http && run->o->default_service) {
                run->service = strdup(run->o->default_service);
                run->port = run->o->default_service_port;
        } else if (!e->has_http && e->tripdeal) {
                /* The site's own Service: named after the TripDeal, port 80. */
                run->service = strdup(e->tripdeal);
                run->port = 80;
        }
        const char *prom = e->prometheus.url ? e->prometheus.url : run->o->prometheus_url;
        if (e->has_prometheus && !prom) {
                set_verdict(run, CHAOS_VERDICT_ABORTED,
                            "spec.steadyState.prometheus.url: no Prometheus URL (none in the "
                            "experiment and none given to the engine)");
                return 0;
        }
        if (prom)
                snprintf(run->prometheus_url, sizeof(run->prometheus_url), "%s", prom);
        return 0;
}

static int blackout_check(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        if (!e->blackout_sales)
                return 0;
        _cleanup_json_ json_t *owner = NULL;
        const json_t *td = run->tripdeal;
        const char *name = e->sales_of ? e->sales_of : e->tripdeal;
        if (!td || (e->sales_of && (!e->tripdeal || strcmp(e->sales_of, e->tripdeal) != 0))) {
                struct kube_status st = {0};
                int r = kube_get(
                        run->o->kube, &KUBE_TRIPDEALS,
                        &(struct kube_get_options){.namespace = e->namespace, .name = name}, &owner,
                        &st);
                if (r < 0)
                        return kube_fail(run, "reading the TripDeal whose sales are the blackout",
                                         r, &st);
                td = owner;
        }
        struct chaos_blackout blackout;
        struct tripdeal_error error = {0};
        int r = chaos_blackout_check(json_object_get(json_object_get(td, "spec"), "sales"),
                                     clock_realtime_ms(), e->max_recovery_ms, &blackout, &error);
        if (r < 0) {
                set_verdict(run, CHAOS_VERDICT_ABORTED, "TripDeal %s: %s", name,
                            tripdeal_error_message(&error));
                return 0;
        }
        if (blackout.blocked)
                set_verdict(run, CHAOS_VERDICT_REFUSED, "blackout: %s of TripDeal %s",
                            blackout.reason, name);
        return 0;
}

/* How many of n to hit; Refused when above maxTargetPercent. */
static int32_t blast_radius(struct run *run, int32_t n, const char *what)
{
        const struct chaos_experiment *e = run->e;
        int32_t k = e->count;
        if (e->percent)
                k = (int32_t)(((int64_t)e->percent * n + 99) / 100);
        if (k < 1)
                k = 1;
        if (k > n) {
                set_verdict(run, CHAOS_VERDICT_REFUSED,
                            "blast radius: %d %s asked for but only %d match the target", k, what,
                            n);
                return -1;
        }
        if ((int64_t)k * 100 > (int64_t)e->max_target_percent * n) {
                set_verdict(run, CHAOS_VERDICT_REFUSED,
                            "blast radius: hitting %d of %d %s is %.0f%%, above maxTargetPercent "
                            "%d%%",
                            k, n, what, 100.0 * k / n, e->max_target_percent);
                return -1;
        }
        return k;
}

static void shuffle(size_t *items, size_t n)
{
        static unsigned seed;
        if (!seed)
                seed = (unsigned)(clock_realtime_ms() ^ getpid());
        for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)rand_r(&seed) % i;
                size_t tmp = items[i - 1];
                items[i - 1] = items[j];
                items[j] = tmp;
        }
}

/* ---- steady state ---- */

static int start_probe(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        if (!run->service && !(e->has_http && e->http.url))
                return 0;
        struct chaos_probe_options po = {
                .kube = run->o->kube,
                .namespace = e->namespace,
                .service = e->has_http && e->http.url ? NULL : run->service,
                .url = e->has_http ? e->http.url : NULL,
                .port = run->port,
                .path = e->has_http ? e->http.path : "/",
                .expect_status = e->has_http ? e->http.expect_status : 200,
                .timeout_ms = e->has_http ? e->http.timeout_ms : 1000,
                .interval_ms = e->has_http ? e->http.interval_ms : 100,
        };
        return chaos_probe_start(&po, &run->probe);
}

static int64_t probe_interval(const struct run *run)
{
        return run->e->has_http ? run->e->http.interval_ms : 100;
}

static int64_t probe_timeout(const struct run *run)
{
        return run->e->has_http ? run->e->http.timeout_ms : 1000;
}

/* Probe for the steady window from from_ms; the error rate in percent. */
static double steady_window(struct run *run, int64_t from_ms, int64_t *ret_sent,
                            int64_t *ret_failed)
{
        *ret_sent = *ret_failed = 0;
        if (!run->probe)
                return 0;
        int64_t want = run->e->steady_window_ms / probe_interval(run);
        if (want < 3)
                want = 3;
        int64_t deadline =
                clock_monotonic_ms() + run->e->steady_window_ms + 2 * probe_timeout(run) + 1000;
        chaos_probe_wait_samples(run->probe, from_ms, want, deadline, run->o->stop);
        chaos_probe_counts(run->probe, from_ms, INT64_MAX, ret_sent, ret_failed);
        return *ret_sent ? 100.0 * (double)*ret_failed / (double)*ret_sent : 100.0;
}

/* ---- node-kill ---- */

static void node_ready_update(struct run *run, int64_t now_ms)
{
        for (size_t i = 0; i < run->n_killed_nodes; i++) {
                _cleanup_json_ json_t *node = NULL;
                const char *status = "Gone";
                if (kube_get(run->o->kube, &KUBE_NODES,
                             &(struct kube_get_options){.name = run->killed_nodes[i]}, &node,
                             NULL) == 0) {
                        status = "Unknown";
                        size_t j;
                        json_t *c;
                        json_array_foreach (
                                json_object_get(json_object_get(node, "status"), "conditions"), j,
                                c) {
                                const char *type = json_string_value(json_object_get(c, "type"));
                                if (type && strcmp(type, "Ready") == 0)
                                        status = json_string_value(json_object_get(c, "status"))
                                                         ?: "Unknown";
                        }
                }
                const char *before =
                        json_string_value(json_object_get(run->node_ready, run->killed_nodes[i]));
                if (!before || strcmp(before, status) != 0) {
                        timeline_add(run, now_ms, "nodes", "node %s Ready=%s", run->killed_nodes[i],
                                     status);
                        json_object_set_new(run->node_ready, run->killed_nodes[i],
                                            json_string(status));
                }
        }
}

static void restore_nodes(struct run *run)
{
        if (!run->n_killed_nodes || !run->o->nodes)
                return;
        if (!run->e->restore) {
                timeline_add(run, clock_realtime_ms(), "engine",
                             "restore: false — VMs left powered off");
                return;
        }
        for (size_t i = 0; i < run->n_killed_nodes; i++) {
                int r = run->o->nodes->power_on(run->o->nodes->userdata, run->killed_nodes[i]);
                int64_t now = clock_realtime_ms();
                if (r == -ENOENT)
                        timeline_add(run, now, "libvirt",
                                     "VM %s no longer exists (its node pool replaced it)",
                                     run->killed_nodes[i]);
                else if (r < 0)
                        timeline_add(run, now, "libvirt", "VM %s could not be started again: %s",
                                     run->killed_nodes[i], strerror(-r));
                else
                        timeline_add(run, now, "libvirt", "VM %s started again (restored)",
                                     run->killed_nodes[i]);
                progress(run, "restored VM %s", run->killed_nodes[i]);
        }
        lease_phase(run, "Restored", "");
}

static void free_names(char **names)
{
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}

/* Choose VMs; the killed pods are the target pods on them. */
static int pick_nodes(struct run *run, const json_t *items)
{
        const struct chaos_node_driver *d = run->o->nodes;
        if (!d) {
                set_verdict(run, CHAOS_VERDICT_REFUSED,
                            "node-kill needs a libvirt connection (--libvirt-uri)");
                return -1;
        }
        _cleanup_free_ char *owner = NULL;
        if (run->e->tripdeal &&
            asprintf(&owner, "%s/%s", run->e->namespace, run->e->tripdeal) < 0) {
                owner = NULL;
                return -ENOMEM;
        }
        char **vms = NULL;
        int r = d->list_running(d->userdata, owner, &vms);
        if (r < 0) {
                set_verdict(run, CHAOS_VERDICT_ABORTED, "listing the node-pool VMs: %s",
                            strerror(-r));
                return -1;
        }
        /* Candidates: running VMs that are Ready nodes hosting target pods. */
        size_t n_vms = 0;
        while (vms && vms[n_vms])
                n_vms++;
        size_t *candidates = calloc(n_vms + 1, sizeof(size_t));
        size_t n = 0;
        for (size_t i = 0; candidates && i < n_vms; i++) {
                size_t j;
                json_t *pod;
                bool hosts = false;
                json_array_foreach (items, j, pod) {
                        const char *node = pod_node(pod);
                        if (node && strcmp(node, vms[i]) == 0 && pod_ready(pod))
                                hosts = true;
                }
                if (hosts || run->e->tripdeal)
                        candidates[n++] = i;
        }
        if (!candidates) {
                free_names(vms);
                return -ENOMEM;
        }
        if (n == 0) {
                set_verdict(run, CHAOS_VERDICT_ABORTED,
                            "no running node-pool VM %s%s hosts a Ready target pod",
                            owner ? "of " : "", owner ? owner : "");
                free(candidates);
                free_names(vms);
                return -1;
        }
        int32_t k = blast_radius(run, (int32_t)n, "nodes");
        if (k < 0) {
                free(candidates);
                free_names(vms);
                return -1;
        }
        shuffle(candidates, n);
        run->killed_nodes = calloc((size_t)k + 1, sizeof(char *));
        for (int32_t i = 0; run->killed_nodes && i < k; i++)
                run->killed_nodes[run->n_killed_nodes++] = strdup(vms[candidates[i]]);
        free(candidates);
        free_names(vms);
        if (!run->killed_nodes)
                return -ENOMEM;
        for (size_t i = 0; i < run->n_pods; i++)
                for (size_t j = 0; j < run->n_killed_nodes; j++)
                        if (run->pods[i].node && run->pods[i].ready &&
                            strcmp(run->pods[i].node, run->killed_nodes[j]) == 0)
                                run->pods[i].killed = true;
        return k;
}

/* ---- events ---- */

static bool name_of_interest(struct run *run, const char *kind, const char *name)
{
        if (!kind || !name)
                return false;
        if (strcmp(kind, "Pod") == 0) {
                for (size_t i = 0; i < run->n_pods; i++)
                        if ((run->pods[i].killed || run->pods[i].replacement) &&
                            strcmp(run->pods[i].name, name) == 0)
                                return true;
        }
        if (strcmp(kind, "Node") == 0)
                for (size_t i = 0; i < run->n_killed_nodes; i++)
                        if (strcmp(run->killed_nodes[i], name) == 0)
                                return true;
        if (strcmp(kind, "TripDeal") == 0 && run->e->tripdeal)
                return strcmp(name, run->e->tripdeal) == 0;
        if (strcmp(kind, "ReplicaSet") == 0 || strcmp(kind, "Deployment") == 0 ||
            strcmp(kind, "HorizontalPodAutoscaler") == 0)
                return true;
        return false;
}

static void collect_events(struct run *run, int64_t from_ms)
{
        _cleanup_json_ json_t *list = NULL;
        if (kube_list(run->o->kube, &KUBE_EVENTS,
                      &(struct kube_list_options){.namespace = run->e->namespace}, &list, NULL) < 0)
                return;
        size_t i;
        json_t *ev;
        json_array_foreach (json_object_get(list, "items"), i, ev) {
                json_t *involved = json_object_get(ev, "involvedObject");
                const char *kind = json_string_value(json_object_get(involved, "kind"));
                const char *name = json_string_value(json_object_get(involved, "name"));
                if (!name_of_interest(run, kind, name))
                        continue;
                const char *when = json_string_value(json_object_get(ev, "lastTimestamp"));
                if (!when)
                        when = json_string_value(json_object_get(ev, "eventTime"));
                if (!when)
                        when = json_string_value(json_object_get(ev, "firstTimestamp"));
                time_t t;
                if (!when || clock_parse_rfc3339(when, &t) < 0)
                        continue;
                int64_t at = (int64_t)t * 1000;
                /* Event times have whole seconds: keep the ones of the drill's second on,
                 * and never place one before the injection it may follow. */
                if (at < from_ms - 1000)
                        continue;
                if (run->injected_at_ms && at < run->injected_at_ms &&
                    at + 1000 > run->injected_at_ms)
                        at = run->injected_at_ms;
                const char *reason = json_string_value(json_object_get(ev, "reason"));
                const char *message = json_string_value(json_object_get(ev, "message"));
                const char *type = json_string_value(json_object_get(ev, "type"));
                timeline_add(run, at, "event", "%s %s/%s %s: %s", type ? type : "Normal", kind,
                             name, reason ? reason : "", message ? message : "");
        }
}

/* ---- probe failures on the timeline, collapsed into runs ---- */

static void probe_timeline(struct run *run, json_t *series)
{
        if (!run->probe)
                return;
        struct chaos_probe_sample *s = NULL;
        size_t n = 0;
        if (chaos_probe_snapshot(run->probe, &s, &n) < 0)
                return;
        for (size_t i = 0; i < n;) {
                if (s[i].ok) {
                        i++;
                        continue;
                }
                size_t j = i;
                while (j + 1 < n && !s[j + 1].ok)
                        j++;
                char until[40];
                format_time(s[j].at_ms, until, sizeof(until));
                if (j == i)
                        timeline_add(run, s[i].at_ms, "probe", "request to %s failed: %s",
                                     s[i].endpoint, s[i].error);
                else
                        timeline_add(run, s[i].at_ms, "probe",
                                     "%zu requests failed until %s; first: %s at %s", j - i + 1,
                                     until, s[i].error, s[i].endpoint);
                i = j + 1;
        }
        /* 500 ms buckets for the report's chart. */
        if (n) {
                int64_t start = s[0].at_ms - s[0].at_ms % 500;
                int64_t sent = 0, failed = 0, bucket = start;
                for (size_t i = 0; i <= n; i++) {
                        if (i == n || s[i].at_ms >= bucket + 500) {
                                char at[40];
                                format_time(bucket, at, sizeof(at));
                                json_array_append_new(series,
                                                      json_pack("{s:s, s:I, s:I, s:I}", "at", at,
                                                                "atMs", (json_int_t)bucket, "sent",
                                                                (json_int_t)sent, "failed",
                                                                (json_int_t)failed));
                                if (i == n)
                                        break;
                                bucket = s[i].at_ms - s[i].at_ms % 500;
                                sent = failed = 0;
                        }
                        sent++;
                        failed += !s[i].ok;
                }
        }
        free(s);
}

/* ---- the drill ---- */

static int inject(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        run->injected_at_ms = clock_realtime_ms();
        if (e->action == CHAOS_ACTION_NODE_KILL) {
                _cleanup_free_ char *names = NULL;
                size_t size = 0;
                _cleanup_fclose_ FILE *f = open_memstream(&names, &size);
                for (size_t i = 0; f && i < run->n_killed_nodes; i++)
                        fprintf(f, "%s%s", i ? "," : "", run->killed_nodes[i]);
                if (!f || fflush(f) != 0)
                        return -ENOMEM;
                /* Written before the power-off: an interrupted drill is restorable. */
                lease_phase(run, "Injected", names);
                for (size_t i = 0; i < run->n_killed_nodes; i++) {
                        int r = run->o->nodes->power_off(run->o->nodes->userdata,
                                                         run->killed_nodes[i]);
                        int64_t now = clock_realtime_ms();
                        if (r < 0) {
                                timeline_add(run, now, "libvirt", "powering off VM %s failed: %s",
                                             run->killed_nodes[i], strerror(-r));
                                set_verdict(run, CHAOS_VERDICT_ABORTED,
                                            "powering off VM %s failed: %s", run->killed_nodes[i],
                                            strerror(-r));
                                return 0;
                        }
                        timeline_add(run, now, "injection",
                                     "VM %s powered off hard (virDomainDestroy)",
                                     run->killed_nodes[i]);
                        progress(run, "hit: node %s powered off", run->killed_nodes[i]);
                }
                return 0;
        }
        lease_phase(run, "Injected", NULL);
        for (size_t i = 0; i < run->n_pods; i++) {
                struct pod_track *t = &run->pods[i];
                if (!t->killed)
                        continue;
                struct kube_status st = {0};
                int r = kube_delete(
                        run->o->kube, &KUBE_PODS,
                        &(struct kube_delete_options){
                                .namespace = e->namespace,
                                .name = t->name,
                                .precondition_uid = t->uid,
                                .grace_period_seconds = e->grace_period_seconds
                                                                ? e->grace_period_seconds
                                                                : KUBE_GRACE_PERIOD_NOW,
                        },
                        NULL, &st);
                int64_t now = clock_realtime_ms();
                if (r < 0 && r != KUBE_ERR_NOT_FOUND) {
                        timeline_add(run, now, "injection", "deleting pod %s failed: %s", t->name,
                                     kube_strerror(r));
                        return kube_fail(run, "deleting a target pod", r, &st);
                }
                timeline_add(run, now, "injection", "pod %s killed (gracePeriodSeconds=%lld)%s%s",
                             t->name, (long long)e->grace_period_seconds,
                             t->node ? " on node " : "", t->node ? t->node : "");
                progress(run, "hit: pod %s%s%s", t->name, t->node ? " on " : "",
                         t->node ? t->node : "");
        }
        return 0;
}

/* Wait for recovery, probing; sets the verdict on abort or timeout. */
static int await_recovery(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        int64_t deadline = clock_monotonic_ms() + e->max_recovery_ms;
        int64_t next_progress = 0, next_renew = clock_monotonic_ms() + RENEW_MS,
                next_prom = clock_monotonic_ms() + PROMETHEUS_MS;
        int64_t loops = e->max_recovery_ms / POLL_MS + 10;
        for (int64_t loop = 0; loop < loops; loop++) {
                int64_t now_mono = clock_monotonic_ms();
                int64_t now = clock_realtime_ms();
                json_t *items = NULL;
                if (list_pods(run, &items, NULL) == 0) {
                        track_update(run, items, now);
                        json_decref(items);
                }
                if (e->action == CHAOS_ACTION_NODE_KILL)
                        node_ready_update(run, now);
                int64_t sent = 0, failed = 0;
                if (run->probe)
                        chaos_probe_counts(run->probe, run->injected_at_ms, INT64_MAX, &sent,
                                           &failed);
                int32_t ready = ready_survivors(run);
                bool probe_ok = !run->probe ||
                                chaos_probe_last_ok(run->probe, now - 2 * probe_timeout(run));
                if (ready >= run->ready_before && !killed_still_ready(run) && probe_ok) {
                        run->recovered_at_ms = now;
                        timeline_add(run, now, "engine",
                                     "recovered: %d/%d pods Ready with new identities, probe OK",
                                     ready, run->ready_before);
                        progress(run, "recovered in %.1fs: %d/%d Ready, %lld probes, %lld failed",
                                 (double)(now - run->injected_at_ms) / 1000.0, ready,
                                 run->ready_before, (long long)sent, (long long)failed);
                        return 0;
                }
                if (stop_requested(run)) {
                        set_verdict(run, CHAOS_VERDICT_ABORTED,
                                    "interrupted while waiting for recovery");
                        timeline_add(run, now, "engine", "abort: interrupted");
                        return 0;
                }
                if (e->abort_error_rate_percent > 0 && sent >= 10 &&
                    100.0 * (double)failed / (double)sent > e->abort_error_rate_percent) {
                        set_verdict(run, CHAOS_VERDICT_ABORTED,
                                    "abort condition: error rate %.1f%% above "
                                    "abortErrorRatePercent %g%% (%lld of %lld probes failed)",
                                    100.0 * (double)failed / (double)sent,
                                    e->abort_error_rate_percent, (long long)failed,
                                    (long long)sent);
                        timeline_add(run, now, "engine", "abort: %s", run->out.reason);
                        return 0;
                }
                if (now_mono >= deadline) {
                        set_verdict(run, CHAOS_VERDICT_FAILED,
                                    "not recovered within maxRecoverySeconds (%llds): %d/%d pods "
                                    "Ready, probe %s",
                                    (long long)(e->max_recovery_ms / 1000), ready,
                                    run->ready_before, probe_ok ? "OK" : "failing");
                        timeline_add(run, now, "engine", "%s", run->out.reason);
                        return 0;
                }
                if (now_mono >= next_progress) {
                        progress(run,
                                 "waiting for recovery: %d/%d Ready, %.1fs elapsed, probes %lld "
                                 "sent, %lld failed",
                                 ready, run->ready_before,
                                 (double)(now - run->injected_at_ms) / 1000.0, (long long)sent,
                                 (long long)failed);
                        next_progress = now_mono + 1000;
                }
                if (now_mono >= next_renew) {
                        lease_renew(run);
                        next_renew = now_mono + RENEW_MS;
                }
                if (now_mono >= next_prom && e->has_prometheus) {
                        double v;
                        prometheus_sample(run, "during", &v);
                        next_prom = now_mono + PROMETHEUS_MS;
                }
                struct timespec ts = {.tv_nsec = POLL_MS * 1000000L};
                nanosleep(&ts, NULL);
        }
        set_verdict(run, CHAOS_VERDICT_FAILED, "not recovered within maxRecoverySeconds");
        return 0;
}

static int drill(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        int r = resolve_target(run);
        if (r < 0 || run->out.reason[0])
                return r;
        progress(run, "drill %s: %s on %s/%s", e->name, chaos_action_to_string(e->action),
                 e->namespace, e->tripdeal ? e->tripdeal : run->selector);

        /* Guardrails: blackout, blast radius, the target's Lease. */
        if ((r = blackout_check(run)) < 0 || run->out.reason[0])
                return r;
        json_t *items = NULL;
        struct kube_status st = {0};
        r = list_pods(run, &items, &st);
        if (r < 0)
                return kube_fail(run, "listing the target pods", r, &st);
        track_update(run, items, clock_realtime_ms());
        int32_t ready = 0;
        size_t *ready_index = calloc(run->n_pods + 1, sizeof(size_t));
        if (!ready_index) {
                json_decref(items);
                return -ENOMEM;
        }
        for (size_t i = 0; i < run->n_pods; i++)
                if (run->pods[i].ready)
                        ready_index[ready++] = i;
        run->ready_before = ready;
        if (ready == 0) {
                set_verdict(run, CHAOS_VERDICT_ABORTED, "no Ready pod matches %s in namespace %s",
                            run->selector, e->namespace);
                free(ready_index);
                json_decref(items);
                return 0;
        }
        if (e->action == CHAOS_ACTION_POD_KILL) {
                int32_t k = blast_radius(run, ready, "pods");
                if (k > 0) {
                        shuffle(ready_index, (size_t)ready);
                        for (int32_t i = 0; i < k; i++)
                                run->pods[ready_index[i]].killed = true;
                }
        } else {
                r = pick_nodes(run, items);
        }
        free(ready_index);
        json_decref(items);
        if (r < -1)
                return r;
        if (run->out.reason[0])
                return 0;
        if ((r = lease_acquire(run)) < 0 || run->out.reason[0])
                return r;

        /* Steady state before: nothing is touched when it does not hold. */
        if ((r = start_probe(run)) < 0)
                return r;
        int64_t before_from = clock_realtime_ms();
        if (run->probe)
                progress(run, "checking steady state for %.1fs",
                         (double)e->steady_window_ms / 1000.0);
        int64_t sent, failed;
        double rate = steady_window(run, before_from, &sent, &failed);
        timeline_add(run, before_from, "engine",
                     "steady state before: %lld probes, %lld failed (%.1f%%)", (long long)sent,
                     (long long)failed, rate);
        if (stop_requested(run)) {
                set_verdict(run, CHAOS_VERDICT_ABORTED, "interrupted before injection");
                return 0;
        }
        if (run->probe && rate > e->max_error_rate_percent) {
                set_verdict(run, CHAOS_VERDICT_ABORTED,
                            "steady state did not hold before injection: %lld of %lld probes "
                            "failed (%.1f%%, maxErrorRatePercent %g%%); nothing was touched",
                            (long long)failed, (long long)sent, rate, e->max_error_rate_percent);
                return 0;
        }
        double value;
        if (e->has_prometheus) {
                r = prometheus_sample(run, "before", &value);
                if (r < 0 || value > e->prometheus.max) {
                        set_verdict(run, CHAOS_VERDICT_ABORTED,
                                    r < 0 ? "steady state unknown before injection: the "
                                            "Prometheus query failed; nothing was touched"
                                          : "steady state did not hold before injection: "
                                            "Prometheus value %g above max %g; nothing was "
                                            "touched",
                                    value, e->prometheus.max);
                        return 0;
                }
        }

        /* The killed pods' last log lines, read before the kill (a real
         * cluster loses them with the node). */
        for (size_t i = 0; i < run->n_pods; i++)
                if (run->pods[i].killed)
                        read_logs(run, &run->pods[i], false);

        if (run->o->dry_run) {
                size_t k = 0;
                for (size_t i = 0; i < run->n_killed_nodes; i++)
                        progress(run, "dry run: would power off VM %s", run->killed_nodes[i]);
                for (size_t i = 0; i < run->n_pods; i++) {
                        if (!run->pods[i].killed)
                                continue;
                        k++;
                        progress(run, "dry run: would kill pod %s (uid %s) on %s",
                                 run->pods[i].name, run->pods[i].uid,
                                 run->pods[i].node ? run->pods[i].node : "?");
                }
                set_verdict(run, CHAOS_VERDICT_DRY_RUN,
                            "dry run: would hit %zu of %d pods%s; nothing was touched", k,
                            run->ready_before, run->n_killed_nodes ? " (on the VMs listed)" : "");
                return 0;
        }

        if ((r = inject(run)) < 0 || run->out.reason[0]) {
                restore_nodes(run);
                return r;
        }
        r = await_recovery(run);
        restore_nodes(run);
        if (r < 0 || run->out.reason[0])
                return r;

        /* Steady state after. */
        run->after_from_ms = clock_realtime_ms();
        int64_t after_sent, after_failed;
        double after_rate = steady_window(run, run->after_from_ms, &after_sent, &after_failed);
        timeline_add(run, run->after_from_ms, "engine",
                     "steady state after: %lld probes, %lld failed (%.1f%%)", (long long)after_sent,
                     (long long)after_failed, after_rate);
        if (run->probe && after_rate > e->max_error_rate_percent) {
                set_verdict(run, CHAOS_VERDICT_FAILED,
                            "steady state not restored after recovery: %lld of %lld probes "
                            "failed (%.1f%%)",
                            (long long)after_failed, (long long)after_sent, after_rate);
                return 0;
        }
        if (e->has_prometheus) {
                r = prometheus_sample(run, "after", &value);
                if (r == 0 && value > e->prometheus.max) {
                        set_verdict(run, CHAOS_VERDICT_FAILED,
                                    "Prometheus value %g above max %g after recovery", value,
                                    e->prometheus.max);
                        return 0;
                }
        }
        if (run->probe) {
                chaos_probe_counts(run->probe, run->injected_at_ms, INT64_MAX, &sent, &failed);
                double overall = sent ? 100.0 * (double)failed / (double)sent : 0;
                if (overall > e->max_error_rate_percent) {
                        set_verdict(run, CHAOS_VERDICT_FAILED,
                                    "error rate %.2f%% above maxErrorRatePercent %g%% (%lld of "
                                    "%lld probes failed since the injection)",
                                    overall, e->max_error_rate_percent, (long long)failed,
                                    (long long)sent);
                        return 0;
                }
        }
        set_verdict(run, CHAOS_VERDICT_PASSED, "recovered in %.1fs",
                    (double)(run->recovered_at_ms - run->injected_at_ms) / 1000.0);
        return 0;
}

static int compare_timeline(const void *a, const void *b)
{
        json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "atMs"));
        json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "atMs"));
        return x < y ? -1 : x > y;
}

static json_t *sorted_timeline(json_t *timeline)
{
        size_t n = json_array_size(timeline);
        json_t **items = calloc(n + 1, sizeof(json_t *));
        json_t *sorted = json_array();
        if (!items || !sorted) {
                free(items);
                json_decref(sorted);
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                items[i] = json_array_get(timeline, i);
        /* Stable for equal times: insertion sort keeps the order of discovery. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && compare_timeline(&items[j - 1], &items[j]) > 0; j--) {
                        json_t *t = items[j];
                        items[j] = items[j - 1];
                        items[j - 1] = t;
                }
        for (size_t i = 0; i < n; i++)
                json_array_append(sorted, items[i]);
        free(items);
        return sorted;
}

static json_t *time_or_null(int64_t ms)
{
        if (!ms)
                return json_null();
        char at[40];
        format_time(ms, at, sizeof(at));
        return json_string(at);
}

static json_t *build_report(struct run *run)
{
        const struct chaos_experiment *e = run->e;
        json_t *series = json_array();
        probe_timeline(run, series);
        int64_t sent = 0, failed = 0, bsent = 0, bfailed = 0, dsent = 0, dfailed = 0, asent = 0,
                afailed = 0;
        if (run->probe) {
                int64_t inj = run->injected_at_ms ? run->injected_at_ms : INT64_MAX;
                chaos_probe_counts(run->probe, 0, INT64_MAX, &sent, &failed);
                chaos_probe_counts(run->probe, 0, inj, &bsent, &bfailed);
                chaos_probe_counts(run->probe, inj,
                                   run->after_from_ms ? run->after_from_ms : INT64_MAX, &dsent,
                                   &dfailed);
                if (run->after_from_ms)
                        chaos_probe_counts(run->probe, run->after_from_ms, INT64_MAX, &asent,
                                           &afailed);
        }
        /* The counted requests are those from the injection on (what the
         * drill cost); before-injection ones are in probes.before. */
        int64_t csent = run->injected_at_ms ? dsent + asent : sent;
        int64_t cfailed = run->injected_at_ms ? dfailed + afailed : failed;
        run->out.probes_sent = csent;
        run->out.probes_failed = cfailed;

        json_t *targets = json_array(), *replacements = json_array();
        for (size_t i = 0; i < run->n_pods; i++) {
                struct pod_track *t = &run->pods[i];
                if (t->killed)
                        json_array_append_new(targets,
                                              json_pack("{s:s, s:s, s:s, s:s*, s:O*}", "kind",
                                                        "Pod", "name", t->name, "uid", t->uid,
                                                        "node", t->node, "lastLogLines", t->logs));
                if (t->replacement)
                        json_array_append_new(
                                replacements,
                                json_pack("{s:s, s:s, s:s*, s:o, s:O*}", "name", t->name, "uid",
                                          t->uid, "node", t->node, "readyAt",
                                          time_or_null(t->ready_at_ms > 0 ? t->ready_at_ms : 0),
                                          "firstLogLines", t->logs));
        }
        for (size_t i = 0; i < run->n_killed_nodes; i++)
                json_array_append_new(targets, json_pack("{s:s, s:s, s:s, s:s}", "kind", "Node",
                                                         "name", run->killed_nodes[i], "uid", "",
                                                         "node", run->killed_nodes[i]));
        json_t *timeline = sorted_timeline(run->timeline);
        size_t i;
        json_t *entry;
        json_array_foreach (timeline, i, entry)
                json_object_del(entry, "atMs");
        json_array_foreach (run->prometheus_samples, i, entry)
                json_object_del(entry, "atMs");
        json_array_foreach (series, i, entry)
                json_object_del(entry, "atMs");

        double recovery = run->recovered_at_ms && run->injected_at_ms
                                  ? (double)(run->recovered_at_ms - run->injected_at_ms) / 1000.0
                                  : -1;
        json_t *report = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s*, s:s*, s:s*}, s:o, s:o, s:o, "
                "s:o, s:o, s:{s:I, s:I, s:f, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}}, s:o, s:o, "
                "s:o, s:o}",
                "apiVersion", CHAOS_API_VERSION, "kind", "Report", "name", e->name, "action",
                chaos_action_to_string(e->action), "verdict",
                chaos_verdict_to_string(run->out.verdict), "reason", run->out.reason, "dryRun",
                run->o->dry_run, "target", "namespace", e->namespace, "selector", run->selector,
                "tripDeal", e->tripdeal, "service", run->service, "startedAt",
                time_or_null(run->out.started_at_ms), "finishedAt",
                time_or_null(run->out.finished_at_ms), "injectedAt",
                time_or_null(run->injected_at_ms), "recoveredAt",
                time_or_null(run->recovered_at_ms), "recoverySeconds",
                recovery >= 0 ? json_real(recovery) : json_null(), "probes", "sent",
                (json_int_t)csent, "failed", (json_int_t)cfailed, "errorRatePercent",
                csent ? 100.0 * (double)cfailed / (double)csent : 0.0, "before", "sent",
                (json_int_t)bsent, "failed", (json_int_t)bfailed, "during", "sent",
                (json_int_t)dsent, "failed", (json_int_t)dfailed, "after", "sent",
                (json_int_t)asent, "failed", (json_int_t)afailed, "targets", targets,
                "replacements", replacements, "timeline", timeline ? timeline : json_array(),
                "probeSeries", series);
        if (report && e->has_prometheus)
                json_object_set_new(report, "prometheus",
                                    json_pack("{s:s, s:s, s:f, s:O}", "url", run->prometheus_url,
                                              "query", e->prometheus.query, "max",
                                              e->prometheus.max, "samples",
                                              run->prometheus_samples));
        json_object_set_new(report, "steadyState",
                            json_pack("{s:f, s:I}", "maxErrorRatePercent",
                                      e->max_error_rate_percent, "maxRecoverySeconds",
                                      (json_int_t)(e->max_recovery_ms / 1000)));
        return report;
}

int chaos_run(const struct chaos_experiment *experiment, const struct chaos_run_options *options,
              struct chaos_outcome *ret_outcome, json_t **ret_report)
{
        if (!experiment || !options || !options->kube || !ret_outcome)
                return -EINVAL;
        struct run run = {
                .e = experiment,
                .o = options,
                .timeline = json_array(),
                .prometheus_samples = json_array(),
                .node_ready = json_object(),
                .started_mono = clock_monotonic_ms(),
        };
        if (!run.timeline || !run.prometheus_samples || !run.node_ready)
                return -ENOMEM;
        run.out.started_at_ms = clock_realtime_ms();
        run.out.recovery_seconds = -1;
        if (options->identity) {
                snprintf(run.identity, sizeof(run.identity), "%s", options->identity);
        } else {
                char host[64] = "localhost";
                gethostname(host, sizeof(host) - 1);
                snprintf(run.identity, sizeof(run.identity), "tripdeal-chaos-%s-%d", host,
                         (int)getpid());
        }
        timeline_add(&run, run.out.started_at_ms, "engine", "drill %s (%s) started%s",
                     experiment->name, chaos_action_to_string(experiment->action),
                     options->dry_run ? " as a dry run" : "");
        lease_name(&run);

        int r = drill(&run);

        chaos_probe_stop(run.probe);
        if (run.injected_at_ms) {
                /* The replacements' first lines and the Events of the drill. */
                for (size_t i = 0; i < run.n_pods; i++)
                        if (run.pods[i].replacement)
                                read_logs(&run, &run.pods[i], true);
                collect_events(&run, run.out.started_at_ms);
        }
        lease_release(&run);
        run.out.finished_at_ms = clock_realtime_ms();
        if (r >= 0 && !run.out.reason[0])
                set_verdict(&run, CHAOS_VERDICT_FAILED, "no verdict reached");
        if (r >= 0) {
                timeline_add(&run, run.out.finished_at_ms, "engine", "verdict %s: %s",
                             chaos_verdict_to_string(run.out.verdict), run.out.reason);
                if (run.recovered_at_ms)
                        run.out.recovery_seconds =
                                (double)(run.recovered_at_ms - run.injected_at_ms) / 1000.0;
                json_t *report = build_report(&run);
                if (!report)
                        r = -ENOMEM;
                else if (ret_report)
                        *ret_report = report;
                else
                        json_decref(report);
        }
        if (r >= 0)
                *ret_outcome = run.out;
        chaos_probe_free(run.probe);
        tracks_free(&run);
        free(run.selector);
        free(run.service);
        json_decref(run.tripdeal);
        json_decref(run.timeline);
        json_decref(run.prometheus_samples);
        json_decref(run.node_ready);
        for (size_t i = 0; i < run.n_killed_nodes; i++)
                free(run.killed_nodes[i]);
        free(run.killed_nodes);
        return r < 0 ? r : 0;
}

/* ---- interrupted drills ---- */

/* One Lease: start its powered-off VMs, delete it unless one would not start. */
static int recover_lease(struct kube_client *kube, const json_t *lease,
                         const struct chaos_recover_options *o, int64_t now_ms, int *restored)
{
        const char *name = kube_object_name(lease);
        const char *holder = json_string_value(
                json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
        bool ours = o->identity_prefix && holder &&
                    strncmp(holder, o->identity_prefix, strlen(o->identity_prefix)) == 0;
        if (!name || strncmp(name, CHAOS_LEASE_PREFIX, strlen(CHAOS_LEASE_PREFIX)) != 0)
                return 0;
        if (!ours && lease_live(lease, now_ms))
                return 0;
        const char *powered = json_string_value(
                json_object_get(json_object_get(json_object_get(lease, "metadata"), "annotations"),
                                CHAOS_ANNOTATION_POWERED));
        if (powered && powered[0]) {
                if (!o->nodes)
                        return 0; /* cannot restore here: leave it for who can */
                _cleanup_free_ char *copy = strdup(powered);
                if (!copy)
                        return -ENOMEM;
                int failed = 0;
                char *save = NULL;
                for (char *vm = strtok_r(copy, ",", &save); vm; vm = strtok_r(NULL, ",", &save)) {
                        int p = o->nodes->power_on(o->nodes->userdata, vm);
                        if (p < 0 && p != -ENOENT && p != -EEXIST && p != -EALREADY) {
                                failed = p;
                                if (o->on_vm_failed)
                                        o->on_vm_failed(o->userdata, lease, vm, p);
                        }
                }
                if (failed < 0)
                        return failed;
        }
        kube_delete(kube, &KUBE_LEASES,
                    &(struct kube_delete_options){.namespace = kube_object_namespace(lease),
                                                  .name = name,
                                                  .precondition_uid = kube_object_uid(lease)},
                    NULL, NULL);
        if (o->on_restored)
                o->on_restored(o->userdata, lease);
        (*restored)++;
        return 0;
}

int chaos_recover_stale(struct kube_client *kube, const struct chaos_recover_options *options,
                        int *ret_restored)
{
        const struct chaos_recover_options none = {0};
        const struct chaos_recover_options *o = options ? options : &none;
        if (!kube || (o->lease_name && !o->namespace))
                return -EINVAL;
        _cleanup_json_ json_t *list = NULL;
        int r;
        if (o->lease_name) {
                json_t *lease = NULL;
                r = kube_get(kube, &KUBE_LEASES,
                             &(struct kube_get_options){.namespace = o->namespace,
                                                        .name = o->lease_name},
                             &lease, NULL);
                if (r == KUBE_ERR_NOT_FOUND) {
                        r = 0; /* nothing to restore: an empty list */
                } else if (r == 0) {
                        list = json_pack("{s:[o]}", "items", lease);
                        r = list ? 0 : -ENOMEM;
                }
        } else {
                r = kube_list(
                        kube, &KUBE_LEASES,
                        &(struct kube_list_options){
                                .namespace = o->namespace,
                                .label_selector = "app.kubernetes.io/managed-by=tripdeal-chaos"},
                        &list, NULL);
        }
        if (r < 0)
                return r;
        int restored = 0, failed = 0;
        int64_t now = clock_realtime_ms();
        size_t i;
        json_t *lease;
        json_array_foreach (json_object_get(list, "items"), i, lease) {
                int e = recover_lease(kube, lease, o, now, &restored);
                if (e < 0)
                        failed = e;
        }
        if (ret_restored)
                *ret_restored = restored;
        return failed;
}
