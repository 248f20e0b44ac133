/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reconcile path of tripdeal-operator, top to bottom:
 *
 *   1. read the TripDeal (gone: forget it)
 *   2. being deleted: run the finalizer, let it go
 *   3. make sure our finalizer is on it
 *   4. parse and validate the spec; invalid: say so in status, change nothing
 *   5. evaluate the sale schedule at `now`: the HPA floor and the next boundary
 *   6. build the desired owned objects
 *   7. create what is missing, patch what drifted, delete what is no longer wanted
 *  7b. converge the KVM node pools (VMs through libvirt, drains through evictions)
 *   8. write status (only when it changed)
 *   9. ask to be woken at the next sale boundary
 *
 * Every write is conditional or idempotent, so a crash or a conflict at any
 * step is healed by simply running again.
 */
#include "reconcile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conditions.h"
#include "desired.h"
#include "drift.h"
#include "drills.h"
#include "macros.h"
#include "metrics.h"
#include "nodepools.h"
#include "schedule.h"
#include "tripdeal.h"

static const struct kube_resource *const kind_resources[_DESIRED_KIND_MAX] = {
        [DESIRED_CONFIGMAP] = &KUBE_CONFIGMAPS,
        [DESIRED_DEPLOYMENT] = &KUBE_DEPLOYMENTS,
        [DESIRED_SERVICE] = &KUBE_SERVICES,
        [DESIRED_INGRESS] = &KUBE_INGRESSES,
        [DESIRED_HPA] = &KUBE_HPAS,
        [DESIRED_PDB] = &KUBE_PDBS,
};

/* Everything one reconcile needs to carry between its steps. */
struct reconcile_run {
        const struct reconciler *reconciler;
        json_t *tripdeal; /* as read in step 1 */
        struct tripdeal_identity identity;
        int64_t now_ms;
        json_t *observed[_DESIRED_KIND_MAX]; /* after step 7 */
        bool drilling;                       /* a chaos drill runs (drills.c) */
};

_printf_(4, 5) static void emit_event(struct reconcile_run *run, const char *type,
                                      const char *reason, const char *fmt, ...)
{
        if (!run->reconciler->record_event)
                return;
        char message[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        run->reconciler->record_event(run->reconciler->event_userdata, run->tripdeal, type, reason,
                                      message);
}

/* Node pools report NodeProvisioned / NodeReleased through this. */
static void nodepools_event(void *userdata, const char *type, const char *reason,
                            const char *message)
{
        emit_event(userdata, type, reason, "%s", message);
}

static json_t *member_path(const json_t *object, const char *a, const char *b)
{
        json_t *inner = json_object_get(object, a);
        return b ? json_object_get(inner, b) : inner;
}

/* ---- steps 2 and 3: the finalizer -------------------------------------- */

static bool has_finalizer(const json_t *tripdeal)
{
        size_t i;
        json_t *f;
        json_array_foreach (member_path(tripdeal, "metadata", "finalizers"), i, f) {
                if (json_is_string(f) && strcmp(json_string_value(f), TRIPDEAL_FINALIZER) == 0)
                        return true;
        }
        return false;
}

/* Replace metadata.finalizers, conditional on the version we read. */
static int write_finalizers(struct reconcile_run *run, json_t *finalizers /* stolen */)
{
        _cleanup_json_ json_t *patch =
                json_pack("{s:{s:o, s:s}}", "metadata", "finalizers", finalizers, "resourceVersion",
                          kube_object_resource_version(run->tripdeal));
        if (!patch)
                return -ENOMEM;
        struct kube_patch_options options = {.namespace = run->identity.namespace,
                                             .name = run->identity.name,
                                             .type = KUBE_PATCH_MERGE};
        json_t *updated = NULL;
        int r = kube_patch(run->reconciler->client, &KUBE_TRIPDEALS, &options, patch, &updated,
                           NULL);
        if (r < 0)
                return r;
        json_decref(run->tripdeal);
        run->tripdeal = updated;
        return 0;
}

static int add_finalizer(struct reconcile_run *run)
{
        json_t *current = member_path(run->tripdeal, "metadata", "finalizers");
        json_t *list = json_is_array(current) ? json_copy(current) : json_array();
        if (!list || json_array_append_new(list, json_string(TRIPDEAL_FINALIZER)) < 0) {
                json_decref(list);
                return -ENOMEM;
        }
        return write_finalizers(run, list);
}

static int run_finalizer(struct reconcile_run *run)
{
        /* Owned Kubernetes objects go by garbage collection (ownerReferences).
         * What GC cannot reach — KVM nodes in libvirt — is released here first:
         * the finalizer stays (and we are retried with backoff) until every VM
         * and its volumes are gone.  An unparsable spec names no libvirt host,
         * so there is nothing we could release. */
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = NULL;
        if (tripdeal_spec_parse(json_object_get(run->tripdeal, "spec"), &spec, NULL) == 0) {
                struct nodepools_request request = {.client = run->reconciler->client,
                                                    .options = run->reconciler->nodepools,
                                                    .identity = &run->identity,
                                                    .spec = spec,
                                                    .now_ms = run->now_ms,
                                                    .event = nodepools_event,
                                                    .event_userdata = run};
                _cleanup_free_ char *message = NULL;
                int r = nodepools_release_all(&request, &message);
                if (r < 0) {
                        emit_event(run, "Warning", "NodeReleaseFailed",
                                   "cannot release KVM nodes before deletion: %s",
                                   message ? message : strerror(-r));
                        return r;
                }
        }
        json_t *list = json_array();
        size_t i;
        json_t *f;
        json_array_foreach (member_path(run->tripdeal, "metadata", "finalizers"), i, f) {
                if (!(json_is_string(f) && strcmp(json_string_value(f), TRIPDEAL_FINALIZER) == 0))
                        json_array_append(list, f);
        }
        int r = write_finalizers(run, list);
        if (r == KUBE_ERR_NOT_FOUND)
                return 0;
        return r;
}

/* ---- step 7: owned objects --------------------------------------------- */

static bool controlled_by(const json_t *object, const char *uid)
{
        size_t i;
        json_t *ref;
        json_array_foreach (member_path(object, "metadata", "ownerReferences"), i, ref) {
                if (json_is_true(json_object_get(ref, "controller")))
                        return strcmp(json_string_value(json_object_get(ref, "uid")) ?: "", uid) ==
                               0;
        }
        return false;
}

static json_t *last_applied_of(const json_t *observed)
{
        const char *text =
                json_string_value(json_object_get(member_path(observed, "metadata", "annotations"),
                                                  TRIPDEAL_LAST_APPLIED_ANNOTATION));
        return text ? json_loads(text, 0, NULL) : NULL;
}

static int32_t hpa_min_replicas(const json_t *hpa)
{
        return (int32_t)json_integer_value(member_path(hpa, "spec", "minReplicas"));
}

/* Names of the top-level spec fields a patch touches, for the event text. */
static void describe_patch(const json_t *patch, char *buf, size_t size)
{
        buf[0] = '\0';
        size_t used = 0;
        const char *section, *key;
        json_t *fields, *value;
        json_object_foreach ((json_t *)patch, section, fields) {
                if (!json_is_object(fields)) {
                        used += (size_t)snprintf(buf + used, size > used ? size - used : 0, "%s%s",
                                                 used ? ", " : "", section);
                        continue;
                }
                json_object_foreach (fields, key, value) {
                        if (strcmp(key, "annotations") == 0 || used >= size)
                                continue;
                        used += (size_t)snprintf(buf + used, size - used, "%s%s.%s",
                                                 used ? ", " : "", section, key);
                }
        }
        if (used == 0)
                snprintf(buf, size, "metadata");
}

static int apply_one(struct reconcile_run *run, enum desired_kind kind, const json_t *desired)
{
        const struct kube_resource *resource = kind_resources[kind];
        struct kube_client *client = run->reconciler->client;
        const char *kind_name = desired_kind_name(kind);
        struct kube_get_options get = {.namespace = run->identity.namespace,
                                       .name = run->identity.name};
        json_t *observed = NULL;
        int r = kube_get(client, resource, &get, &observed, NULL);

        if (r == KUBE_ERR_NOT_FOUND) {
                if (!desired)
                        return 0;
                _cleanup_json_ json_t *object = drift_with_last_applied(desired);
                if (!object)
                        return -ENOMEM;
                struct kube_write_options write = {.namespace = run->identity.namespace,
                                                   .field_manager = TRIPDEAL_MANAGER};
                r = kube_create(client, resource, &write, object, &run->observed[kind], NULL);
                if (r < 0)
                        return r;
                emit_event(run, "Normal", "Created", "Created %s %s", kind_name,
                           run->identity.name);
                return 0;
        }
        if (r < 0)
                return r;
        _cleanup_json_ json_t *observed_ref = observed;

        /* Never touch an object someone else controls; say so instead. */
        if (!controlled_by(observed, run->identity.uid)) {
                emit_event(run, "Warning", "OwnershipConflict",
                           "%s %s exists and is not controlled by this TripDeal; leaving it alone",
                           kind_name, run->identity.name);
                return 0;
        }

        if (!desired) {
                /* No longer wanted (e.g. spec.app.ingress removed). */
                struct kube_delete_options del = {.namespace = run->identity.namespace,
                                                  .name = run->identity.name,
                                                  .precondition_uid = kube_object_uid(observed)};
                r = kube_delete(client, resource, &del, NULL, NULL);
                if (r < 0 && r != KUBE_ERR_NOT_FOUND)
                        return r;
                emit_event(run, "Normal", "Deleted", "Deleted %s %s (no longer in the spec)",
                           kind_name, run->identity.name);
                return 0;
        }

        _cleanup_json_ json_t *last = last_applied_of(observed);
        _cleanup_json_ json_t *patch = NULL;
        r = drift_patch(last, desired, observed, &patch);
        if (r < 0)
                return r;
        if (!patch) {
                run->observed[kind] = json_incref(observed);
                return 0;
        }

        int32_t floor_before = kind == DESIRED_HPA ? hpa_min_replicas(observed) : 0;
        struct kube_patch_options options = {.namespace = run->identity.namespace,
                                             .name = run->identity.name,
                                             .type = KUBE_PATCH_MERGE};
        r = kube_patch(client, resource, &options, patch, &run->observed[kind], NULL);
        if (r < 0)
                return r;

        int32_t floor_after = kind == DESIRED_HPA ? hpa_min_replicas(desired) : 0;
        if (floor_after > floor_before)
                emit_event(run, "Normal", "Prescaled", "HPA floor raised from %d to %d replicas",
                           floor_before, floor_after);
        else if (floor_after < floor_before)
                emit_event(run, "Normal", "Released", "HPA floor lowered from %d to %d replicas",
                           floor_before, floor_after);
        char fields[256];
        describe_patch(patch, fields, sizeof(fields));
        emit_event(run, "Normal", "Updated", "Updated %s %s: %s", kind_name, run->identity.name,
                   fields);
        return 0;
}

/* ---- step 8: status ---------------------------------------------------- */

static json_t *time_string(int64_t t)
{
        char buf[32];
        if (clock_format_rfc3339((time_t)t, buf, sizeof(buf)) < 0)
                return json_null();
        return json_string(buf);
}

/* Copy of the current conditions (or a new list) to edit. */
static json_t *conditions_copy(const json_t *tripdeal)
{
        json_t *current = member_path(tripdeal, "status", "conditions");
        return json_is_array(current) ? json_deep_copy(current) : json_array();
}

/* PUT the status subresource when `status` differs from what is there. */
static int write_status(struct reconcile_run *run, json_t *status /* stolen */)
{
        _cleanup_json_ json_t *new_status = status;
        if (!new_status)
                return -ENOMEM;
        if (json_equal(new_status, json_object_get(run->tripdeal, "status")))
                return 0;
        _cleanup_json_ json_t *object = json_copy(run->tripdeal);
        if (!object)
                return -ENOMEM;
        json_object_set(object, "status", new_status);
        struct kube_write_options options = {.namespace = run->identity.namespace,
                                             .field_manager = TRIPDEAL_MANAGER};
        return kube_update_status(run->reconciler->client, &KUBE_TRIPDEALS, &options, object, NULL,
                                  NULL);
}

static int write_invalid_spec_status(struct reconcile_run *run, const char *message)
{
        _cleanup_json_ json_t *conditions = conditions_copy(run->tripdeal);
        struct condition ready = {.type = "Ready",
                                  .status = CONDITION_FALSE,
                                  .reason = "InvalidSpec",
                                  .message = message,
                                  .observed_generation = run->identity.generation};
        int changed = conditions_set(conditions, &ready, (time_t)(run->now_ms / 1000));
        if (changed < 0)
                return changed;
        /* One event per distinct problem, not one per retry. */
        if (changed)
                emit_event(run, "Warning", "InvalidSpec", "%s", message);

        json_t *status = json_deep_copy(json_object_get(run->tripdeal, "status"));
        if (!json_is_object(status)) {
                json_decref(status);
                status = json_object();
        }
        if (!status)
                return -ENOMEM;
        json_object_set_new(status, "observedGeneration", json_integer(run->identity.generation));
        json_object_set_new(status, "phase", json_string("Error"));
        json_object_set(status, "conditions", conditions);
        return write_status(run, status);
}

/* The sale phase wins: it is what the user watches for around 10:00. */
static const char *phase_of(const struct schedule_state *sales, int64_t ready)
{
        if (sales->sale_running)
                return "OnSale";
        if (sales->prescaling)
                return "Prescaling";
        if (ready == 0)
                return "Pending";
        if (ready < sales->floor_replicas)
                return "Degraded";
        return "Ready";
}

static int write_ready_status(struct reconcile_run *run, const struct schedule_state *sales,
                              const struct nodepools_result *nodes)
{
        json_t *deploy_status = json_object_get(run->observed[DESIRED_DEPLOYMENT], "status");
        int64_t replicas = json_integer_value(json_object_get(deploy_status, "replicas"));
        int64_t ready = json_integer_value(json_object_get(deploy_status, "readyReplicas"));
        int64_t updated = json_integer_value(json_object_get(deploy_status, "updatedReplicas"));
        time_t now = (time_t)(run->now_ms / 1000);

        _cleanup_json_ json_t *conditions = conditions_copy(run->tripdeal);
        if (!conditions)
                return -ENOMEM;
        char message[256];
        snprintf(message, sizeof(message), "%lld of %d replicas ready (floor %d)", (long long)ready,
                 sales->floor_replicas, sales->floor_replicas);
        struct condition c = {
                .type = "Ready",
                .status = ready >= sales->floor_replicas ? CONDITION_TRUE : CONDITION_FALSE,
                .reason = ready >= sales->floor_replicas ? "ReplicasReady" : "ReplicasNotReady",
                .message = message,
                .observed_generation = run->identity.generation,
        };
        int r = conditions_set(conditions, &c, now);
        if (r < 0)
                return r;

        bool rolling = updated < replicas || ready < replicas;
        snprintf(message, sizeof(message), "%lld updated, %lld ready of %lld replicas",
                 (long long)updated, (long long)ready, (long long)replicas);
        c = (struct condition){.type = "Progressing",
                               .status = rolling ? CONDITION_TRUE : CONDITION_FALSE,
                               .reason = rolling ? "RollingOut" : "Stable",
                               .message = message,
                               .observed_generation = run->identity.generation};
        if ((r = conditions_set(conditions, &c, now)) < 0)
                return r;

        c = (struct condition){
                .type = "Prescaled",
                .status = strcmp(sales->floor_reason, "baseline") != 0 ? CONDITION_TRUE
                                                                       : CONDITION_FALSE,
                .reason = strcmp(sales->floor_reason, "baseline") != 0 ? "SaleWindowOpen"
                                                                       : "Baseline",
                .message = sales->floor_reason,
                .observed_generation = run->identity.generation};
        if ((r = conditions_set(conditions, &c, now)) < 0)
                return r;

        if (nodes->has_condition) {
                c = (struct condition){.type = "NodesReady",
                                       .status = nodes->status,
                                       .reason = nodes->reason,
                                       .message = nodes->message,
                                       .observed_generation = run->identity.generation};
                if ((r = conditions_set(conditions, &c, now)) < 0)
                        return r;
        }

        json_t *status = json_pack("{s:I, s:s, s:I, s:I, s:i, s:s, s:O}", "observedGeneration",
                                   (json_int_t)run->identity.generation, "phase",
                                   run->drilling ? "Drilling" : phase_of(sales, ready), "replicas",
                                   (json_int_t)replicas, "readyReplicas", (json_int_t)ready,
                                   "floorReplicas", sales->floor_replicas, "floorReason",
                                   sales->floor_reason, "conditions", conditions);
        if (status && sales->has_next_sale)
                json_object_set_new(
                        status, "nextSale",
                        json_pack("{s:s, s:o, s:o, s:o}", "name", sales->next_sale_name,
                                  "prescaleAt", time_string(sales->next_prescale_at_ms / 1000),
                                  "startsAt", time_string(sales->next_starts_at_ms / 1000),
                                  "endsAt", time_string(sales->next_ends_at_ms / 1000)));
        /* Fields other parts of the operator own (nodes, lastDrill) carry over. */
        json_t *old = json_object_get(run->tripdeal, "status");
        static const char *const carried[] = {"nodes", "lastDrill"};
        for (size_t i = 0; status && i < ARRAY_SIZE(carried); i++)
                if (json_object_get(old, carried[i]))
                        json_object_set(status, carried[i], json_object_get(old, carried[i]));
        if (status && json_array_size(nodes->nodes) > 0)
                json_object_set(status, "nodes", nodes->nodes);
        else if (status && nodes->nodes)
                json_object_del(status, "nodes");
        return write_status(run, status);
}

/* ---- the whole path ----------------------------------------------------- */

static void run_clear(struct reconcile_run *run)
{
        json_decref(run->tripdeal);
        for (size_t i = 0; i < _DESIRED_KIND_MAX; i++)
                json_decref(run->observed[i]);
}

static int identity_from(struct reconcile_run *run)
{
        json_t *metadata = json_object_get(run->tripdeal, "metadata");
        run->identity = (struct tripdeal_identity){
                .name = json_string_value(json_object_get(metadata, "name")),
                .namespace = json_string_value(json_object_get(metadata, "namespace")),
                .uid = json_string_value(json_object_get(metadata, "uid")),
                .generation = json_integer_value(json_object_get(metadata, "generation")),
        };
        return run->identity.name && run->identity.namespace && run->identity.uid ? 0
                                                                                  : KUBE_ERR_PARSE;
}

int reconcile_tripdeal(const struct reconciler *reconciler, const char *namespace, const char *name,
                       int64_t now_ms, struct reconcile_outcome *ret_outcome)
{
        _cleanup_(run_clear) struct reconcile_run run = {.reconciler = reconciler,
                                                         .now_ms = now_ms};
        struct reconcile_outcome outcome = {0};
        int r;

        /* 1. Read it.  Gone means nothing to do: owned objects follow by GC. */
        struct kube_get_options get = {.namespace = namespace, .name = name};
        r = kube_get(reconciler->client, &KUBE_TRIPDEALS, &get, &run.tripdeal, NULL);
        if (r == KUBE_ERR_NOT_FOUND) {
                metrics_forget(namespace, name);
                *ret_outcome = outcome;
                return 0;
        }
        if (r < 0)
                return r;
        if ((r = identity_from(&run)) < 0)
                return r;

        /* 2. Being deleted: release what GC cannot, then drop our finalizer. */
        if (member_path(run.tripdeal, "metadata", "deletionTimestamp")) {
                if (has_finalizer(run.tripdeal) && (r = run_finalizer(&run)) < 0)
                        return r;
                metrics_forget(namespace, name);
                *ret_outcome = outcome;
                return 0;
        }

        /* 3. Our finalizer first, so a delete can never skip the cleanup. */
        if (!has_finalizer(run.tripdeal) && (r = add_finalizer(&run)) < 0)
                return r;
        if ((r = identity_from(&run)) < 0)
                return r;

        /* 4. Parse; an invalid spec changes nothing but the status. */
        _cleanup_free_ char *error = NULL;
        struct tripdeal_spec *spec = NULL;
        r = tripdeal_spec_parse(json_object_get(run.tripdeal, "spec"), &spec, &error);
        if (r == -EINVAL) {
                outcome.invalid_spec = 1;
                r = write_invalid_spec_status(&run, error ? error : "spec: invalid");
                *ret_outcome = outcome;
                return r;
        }
        if (r < 0)
                return r;
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec_owned = spec;

        /* 5. The sale schedule at `now`. */
        struct schedule_state sales;
        r = schedule_evaluate(spec, now_ms, &sales, &error);
        if (r == -EINVAL) {
                outcome.invalid_spec = 1;
                r = write_invalid_spec_status(&run, error ? error : "spec.sales: invalid");
                *ret_outcome = outcome;
                return r;
        }
        if (r < 0)
                return r;

        /* 6. What we want to exist. */
        _cleanup_(desired_objects_clear) struct desired_objects desired = {0};
        if ((r = desired_objects_build(&run.identity, spec, sales.floor_replicas, &desired)) < 0)
                return r;

        /* 7. Make it so.  The Deployment before the HPA that scales it. */
        for (size_t kind = 0; kind < _DESIRED_KIND_MAX; kind++)
                if ((r = apply_one(&run, (enum desired_kind)kind, desired.objects[kind])) < 0)
                        return r;
        metrics_set_floor(namespace, name, sales.floor_replicas);

        /* 7b. KVM nodes.  After the app's objects, so that a slow drain or an
         * unreachable libvirt host never holds them back: node-pool problems
         * come back as the NodesReady condition and a retry time, not as an
         * error of this reconcile. */
        _cleanup_(nodepools_result_clear) struct nodepools_result nodes = {0};
        struct nodepools_request nodes_request = {
                .client = reconciler->client,
                .options = reconciler->nodepools,
                .identity = &run.identity,
                .spec = spec,
                .nodes_wanted = sales.nodes_wanted,
                .now_ms = now_ms,
                .status = json_object_get(run.tripdeal, "status"),
                .event = nodepools_event,
                .event_userdata = &run,
        };
        if ((r = nodepools_reconcile(&nodes_request, &nodes)) < 0)
                return r;

        /* 7c. Scheduled chaos drills (drills.c): starts a due one in its own
         * thread, never waits for it. */
        int64_t drill_requeue_ms = 0;
        if (drills_reconcile(run.tripdeal, now_ms, &drill_requeue_ms, &run.drilling) < 0)
                drill_requeue_ms = 0;

        /* 8. Tell the user. */
        if ((r = write_ready_status(&run, &sales, &nodes)) < 0)
                return r;

        /* 9. Wake up exactly at the next boundary (+1 ms so we land inside it),
         * or sooner when node pools have something in flight. */
        outcome.requeue_at_ms = sales.next_boundary_ms ? sales.next_boundary_ms + 1 : 0;
        if (nodes.requeue_at_ms > 0 &&
            (outcome.requeue_at_ms == 0 || nodes.requeue_at_ms < outcome.requeue_at_ms))
                outcome.requeue_at_ms = nodes.requeue_at_ms;
        if (drill_requeue_ms > 0 &&
            (outcome.requeue_at_ms == 0 || drill_requeue_ms < outcome.requeue_at_ms))
                outcome.requeue_at_ms = drill_requeue_ms;
        *ret_outcome = outcome;
        return 0;
}
