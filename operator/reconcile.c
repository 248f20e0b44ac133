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
#include <sys/random.h>

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

const struct kube_resource RECONCILE_SERVICEACCOUNTS = {
        "", "v1", "serviceaccounts", "ServiceAccount", true, NULL};

static const struct kube_resource *const kind_resources[_DESIRED_KIND_MAX] = {
        [DESIRED_CONFIGMAP] = &KUBE_CONFIGMAPS,
        [DESIRED_SERVICEACCOUNT] = &RECONCILE_SERVICEACCOUNTS,
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
        /* Borrowed from identity_source, which identity_from() pins: the
         * strings stay valid when run->tripdeal is replaced (a finalizer write). */
        struct tripdeal_identity identity;
        json_t *identity_source;
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

/* A value for an Event: compact JSON (strings bare), at most ~60 bytes. */
static void value_text(const json_t *value, char *buf, size_t size)
{
        if (!value || json_is_null(value)) {
                snprintf(buf, size, "(none)");
                return;
        }
        _cleanup_free_ char *text = json_is_string(value)
                                            ? strdup(json_string_value(value))
                                            : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
                snprintf(buf, size, "?");
                return;
        }
        snprintf(buf, size, "%.60s%s", text, strlen(text) > 60 ? "..." : "");
}

struct change_text {
        char *buf;
        size_t size, used;
        unsigned count;
};

_printf_(2, 3) static void change_append(struct change_text *out, const char *fmt, ...)
{
        if (out->used >= out->size)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(out->buf + out->used, out->size - out->used, fmt, ap);
        va_end(ap);
        out->used = n < 0 ? out->size : out->used + (size_t)n;
}

static void describe_leaf(struct change_text *out, const char *path, const json_t *have,
                          const json_t *want)
{
        char from[80], to[80];
        value_text(have, from, sizeof(from));
        value_text(want, to, sizeof(to));
        change_append(out, "%s%s: %s -> %s", out->count++ ? ", " : "", path, from, to);
}

/* Each value the patch really replaces, as "path: old -> new".  Arrays (which
 * a merge patch replaces whole) are compared element by element, so a hand
 * edit of one image reads "spec.template.spec.containers[0].image: X -> Y". */
static void describe_changes(struct change_text *out, const char *path, const json_t *want,
                             const json_t *have)
{
        char sub[512];
        if (json_is_object(want)) {
                const char *key;
                json_t *value;
                json_object_foreach ((json_t *)want, key, value) {
                        if (strcmp(key, "annotations") == 0 && strcmp(path, "metadata") == 0) {
                                /* Our last-applied record is not news; other annotations are. */
                                const char *k;
                                json_t *v;
                                json_object_foreach (value, k, v) {
                                        if (strcmp(k, TRIPDEAL_LAST_APPLIED_ANNOTATION) == 0)
                                                continue;
                                        snprintf(sub, sizeof(sub), "metadata.annotations.%s", k);
                                        describe_leaf(
                                                out, sub,
                                                json_object_get(json_object_get(have, key), k), v);
                                }
                                continue;
                        }
                        snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
                        json_t *had = json_is_object(have) ? json_object_get(have, key) : NULL;
                        if (json_is_object(value) && json_is_object(had))
                                describe_changes(out, sub, value, had);
                        else if (json_is_array(value) && json_is_array(had) &&
                                 json_array_size(value) == json_array_size(had))
                                describe_changes(out, sub, value, had);
                        else
                                describe_leaf(out, sub, had, value);
                }
                return;
        }
        if (json_is_array(want)) {
                for (size_t i = 0; i < json_array_size(want); i++) {
                        json_t *w = json_array_get(want, i), *h = json_array_get(have, i);
                        if (json_contains(h, w))
                                continue;
                        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                        if ((json_is_object(w) && json_is_object(h)) ||
                            (json_is_array(w) && json_is_array(h) &&
                             json_array_size(w) == json_array_size(h)))
                                describe_changes(out, sub, w, h);
                        else
                                describe_leaf(out, sub, h, w);
                }
                return;
        }
        describe_leaf(out, path, have, want);
}

static void describe_patch(const json_t *patch, const json_t *observed, char *buf, size_t size)
{
        struct change_text out = {.buf = buf, .size = size};
        buf[0] = '\0';
        describe_changes(&out, "", patch, observed);
        if (out.count == 0)
                snprintf(buf, size, "metadata");
}

static int apply_one(struct reconcile_run *run, enum desired_kind kind, const json_t *desired,
                     struct kube_status *ret_status)
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
                r = kube_create(client, resource, &write, object, &run->observed[kind], ret_status);
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
        r = kube_patch(client, resource, &options, patch, &run->observed[kind], ret_status);
        if (r < 0)
                return r;

        int32_t floor_after = kind == DESIRED_HPA ? hpa_min_replicas(desired) : 0;
        if (floor_after > floor_before)
                emit_event(run, "Normal", "Prescaled", "HPA floor raised from %d to %d replicas",
                           floor_before, floor_after);
        else if (floor_after < floor_before)
                emit_event(run, "Normal", "Released", "HPA floor lowered from %d to %d replicas",
                           floor_before, floor_after);
        char fields[400];
        describe_patch(patch, observed, fields, sizeof(fields));
        emit_event(run, "Normal", "Updated", "Updated %s %s: %s", kind_name, run->identity.name,
                   fields);
        return 0;
}

/* ---- step 6b: the session key ------------------------------------------ */

/*
 * The Secret "<name>-session" holds the key the site signs session cookies
 * and CSRF tokens with, so every replica accepts every session.  Made once
 * with 32 random bytes (64 hex digits) and never rotated by a reconcile:
 * rotating it would log every user out in the middle of a sale.  A value
 * changed by hand is the user's rotation and is kept (pods read it when they
 * start: `kubectl rollout restart` applies it).  Only a key that is missing
 * or too short for the app (under 16 bytes) is replaced, with a Warning.
 * The key is never logged and never put in an Event.
 */
#define SESSION_KEY_MIN_BYTES 16

static int session_key_generate(char ret_hex[static 65])
{
        unsigned char random[32];
        size_t got = 0;
        while (got < sizeof(random)) {
                ssize_t n = getrandom(random + got, sizeof(random) - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof(random); i++)
                snprintf(ret_hex + 2 * i, 3, "%02x", random[i]);
        explicit_bzero(random, sizeof(random));
        return 0;
}

/* Bytes a base64 value decodes to, without decoding it. */
static size_t base64_decoded_size(const char *text)
{
        size_t n = strlen(text);
        while (n > 0 && text[n - 1] == '=')
                n--;
        return n * 3 / 4;
}

static int ensure_session_secret(struct reconcile_run *run)
{
        struct kube_client *client = run->reconciler->client;
        char name[320];
        int n = snprintf(name, sizeof(name), "%s%s", run->identity.name,
                         TRIPDEAL_SESSION_SECRET_SUFFIX);
        if (n < 0 || (size_t)n >= sizeof(name))
                return -ENAMETOOLONG;

        struct kube_get_options get = {.namespace = run->identity.namespace, .name = name};
        _cleanup_json_ json_t *observed = NULL;
        int r = kube_get(client, &KUBE_SECRETS, &get, &observed, NULL);
        if (r < 0 && r != KUBE_ERR_NOT_FOUND)
                return r;

        if (r == 0) {
                if (!controlled_by(observed, run->identity.uid)) {
                        emit_event(run, "Warning", "OwnershipConflict",
                                   "Secret %s exists and is not controlled by this TripDeal; "
                                   "the pods use its key \"%s\" as it is",
                                   name, TRIPDEAL_SESSION_SECRET_KEY);
                        return 0;
                }
                const char *have = json_string_value(json_object_get(
                        json_object_get(observed, "data"), TRIPDEAL_SESSION_SECRET_KEY));
                if (have && base64_decoded_size(have) >= SESSION_KEY_MIN_BYTES)
                        return 0;
        }

        char key[65];
        if ((r = session_key_generate(key)) < 0)
                return r;
        if (observed) {
                _cleanup_json_ json_t *patch =
                        json_pack("{s:{s:s}}", "stringData", TRIPDEAL_SESSION_SECRET_KEY, key);
                explicit_bzero(key, sizeof(key));
                if (!patch)
                        return -ENOMEM;
                struct kube_patch_options options = {.namespace = run->identity.namespace,
                                                     .name = name,
                                                     .type = KUBE_PATCH_MERGE};
                r = kube_patch(client, &KUBE_SECRETS, &options, patch, NULL, NULL);
                if (r < 0)
                        return r;
                emit_event(run, "Warning", "SessionKeyReplaced",
                           "Secret %s had no usable key \"%s\" (at least %d bytes); made a new "
                           "one: sessions signed with the old key are no longer accepted",
                           name, TRIPDEAL_SESSION_SECRET_KEY, SESSION_KEY_MIN_BYTES);
                return 0;
        }

        json_t *metadata = desired_owned_metadata(&run->identity, name);
        _cleanup_json_ json_t *secret =
                metadata ? json_pack("{s:s, s:s, s:o, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                     "Secret", "metadata", metadata, "type", "Opaque", "stringData",
                                     TRIPDEAL_SESSION_SECRET_KEY, key)
                         : NULL;
        explicit_bzero(key, sizeof(key));
        if (!secret)
                return -ENOMEM;
        struct kube_write_options write = {.namespace = run->identity.namespace,
                                           .field_manager = TRIPDEAL_MANAGER};
        r = kube_create(client, &KUBE_SECRETS, &write, secret, NULL, NULL);
        if (r == KUBE_ERR_ALREADY_EXISTS)
                return KUBE_ERR_CONFLICT; /* made meanwhile: look again */
        if (r < 0)
                return r;
        emit_event(run, "Normal", "Created", "Created Secret %s (the session key)", name);
        return 0;
}

/* ---- step 8: status ---------------------------------------------------- */

/* status.phase.  Decisions use the enum; the names are for the API only. */
enum tripdeal_phase {
        PHASE_PENDING,
        PHASE_READY,
        PHASE_PRESCALING,
        PHASE_ON_SALE,
        PHASE_DEGRADED,
        PHASE_ERROR,
        _PHASE_MAX,
};

static const char *const phase_names[_PHASE_MAX] = {
        [PHASE_PENDING] = "Pending",       [PHASE_READY] = "Ready",
        [PHASE_PRESCALING] = "Prescaling", [PHASE_ON_SALE] = "OnSale",
        [PHASE_DEGRADED] = "Degraded",     [PHASE_ERROR] = "Error",
};

static const char *phase_name(enum tripdeal_phase phase)
{
        return (unsigned)phase < _PHASE_MAX ? phase_names[phase] : "Unknown";
}

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

/* Condition reasons (and the Events that go with them): one table. */
enum reason {
        REASON_INVALID_SPEC,
        REASON_OBJECT_REJECTED,
        REASON_REPLICAS_READY,
        REASON_REPLICAS_NOT_READY,
        REASON_ROLLING_OUT,
        REASON_STABLE,
        REASON_SALE_WINDOW_OPEN,
        REASON_BASELINE,
        REASON_SECRET_FOUND,
        REASON_SECRET_NOT_FOUND,
        REASON_SECRET_KEY_NOT_FOUND,
        REASON_CPU_REQUEST_SET,
        REASON_NO_CPU_REQUEST,
        _REASON_MAX,
};

static const char *const reason_names[_REASON_MAX] = {
        [REASON_INVALID_SPEC] = "InvalidSpec",
        [REASON_OBJECT_REJECTED] = "ObjectRejected",
        [REASON_REPLICAS_READY] = "ReplicasReady",
        [REASON_REPLICAS_NOT_READY] = "ReplicasNotReady",
        [REASON_ROLLING_OUT] = "RollingOut",
        [REASON_STABLE] = "Stable",
        [REASON_SALE_WINDOW_OPEN] = "SaleWindowOpen",
        [REASON_BASELINE] = "Baseline",
        [REASON_SECRET_FOUND] = "SecretFound",
        [REASON_SECRET_NOT_FOUND] = "SecretNotFound",
        [REASON_SECRET_KEY_NOT_FOUND] = "SecretKeyNotFound",
        [REASON_CPU_REQUEST_SET] = "CPURequestSet",
        [REASON_NO_CPU_REQUEST] = "NoCPURequest",
};

static const char *reason_name(enum reason reason)
{
        return (unsigned)reason < _REASON_MAX ? reason_names[reason] : "Unknown";
}

/* Ready=False for a spec (or an object built from it) that cannot be
 * applied: one Warning Event per distinct problem, phase Error, nothing else. */
static int write_refused_status(struct reconcile_run *run, enum reason reason, const char *message)
{
        _cleanup_json_ json_t *conditions = conditions_copy(run->tripdeal);
        if (!conditions)
                return -ENOMEM;
        struct condition ready = {.type = "Ready",
                                  .status = CONDITION_FALSE,
                                  .reason = reason_name(reason),
                                  .message = message,
                                  .observed_generation = run->identity.generation};
        int changed = conditions_set(conditions, &ready, (time_t)(run->now_ms / 1000));
        if (changed < 0)
                return changed;
        /* One event per distinct problem, not one per retry. */
        if (changed)
                emit_event(run, "Warning", reason_name(reason), "%s", message);

        json_t *status = json_deep_copy(json_object_get(run->tripdeal, "status"));
        if (!json_is_object(status)) {
                json_decref(status);
                status = json_object();
        }
        if (!status)
                return -ENOMEM;
        json_object_set_new(status, "observedGeneration", json_integer(run->identity.generation));
        json_object_set_new(status, "phase", json_string(phase_name(PHASE_ERROR)));
        json_object_set(status, "conditions", conditions);
        return write_status(run, status);
}

static int write_invalid_spec_status(struct reconcile_run *run, const char *message)
{
        return write_refused_status(run, REASON_INVALID_SPEC, message);
}

/* The sale phase wins: it is what the user watches for around 10:00. */
static enum tripdeal_phase phase_of(const struct schedule_state *sales, int64_t ready)
{
        if (sales->sale_running)
                return PHASE_ON_SALE;
        if (sales->prescaling)
                return PHASE_PRESCALING;
        if (ready == 0)
                return PHASE_PENDING;
        if (ready < sales->floor_replicas)
                return PHASE_DEGRADED;
        return PHASE_READY;
}

/* Conditions about what the spec points at, found in steps 6-7b. */
struct dependencies {
        /* DatabaseReady; has_database false without spec.app.database (the
         * condition does not apply then and is removed). */
        bool has_database;
        enum reason database_reason;
        char database_message[512];
        /* AutoscalingReady: does the HPA's CPU target mean anything? */
        enum reason autoscaling_reason;
        char autoscaling_message[512];
};

/* Set c; when it turns False (or False for another reason) and `problem`
 * says that is something to fix, one Warning Event (and so one log line)
 * saying why. */
static int set_and_warn(struct reconcile_run *run, json_t *conditions, const struct condition *c,
                        bool problem, time_t now)
{
        json_t *old = conditions_find(conditions, c->type);
        const char *was_status = json_string_value(json_object_get(old, "status"));
        const char *was_reason = json_string_value(json_object_get(old, "reason"));
        bool same_problem = was_status && strcmp(was_status, "False") == 0 && was_reason &&
                            strcmp(was_reason, c->reason) == 0;
        int r = conditions_set(conditions, c, now);
        if (r < 0)
                return r;
        if (problem && c->status == CONDITION_FALSE && !same_problem)
                emit_event(run, "Warning", c->reason, "%s: %s", c->type, c->message);
        return 0;
}

/* The per-TripDeal gauges of metrics.h, from what this reconcile saw. */
static void record_gauges(const struct reconcile_run *run, const struct tripdeal_spec *spec,
                          const struct schedule_state *sales, const struct nodepools_result *nodes)
{
        json_t *deploy_status = json_object_get(run->observed[DESIRED_DEPLOYMENT], "status");
        struct tripdeal_gauges gauges = {
                .replicas = json_integer_value(json_object_get(deploy_status, "replicas")),
                .ready_replicas =
                        json_integer_value(json_object_get(deploy_status, "readyReplicas")),
                .max_replicas = spec->replicas_max,
                .nodes_wanted = sales->nodes_wanted,
                .nodes = (int64_t)json_array_size(nodes->nodes),
                .sale_window_open = sales->floor_reason == SCHEDULE_FLOOR_SALE,
                .sale_running = sales->sale_running,
                .next_sale_start_seconds =
                        sales->has_next_sale ? sales->next_starts_at_ms / 1000 : 0,
        };
        size_t i;
        json_t *node;
        json_array_foreach (nodes->nodes, i, node) {
                const char *state = json_string_value(json_object_get(node, "state"));
                size_t len = state ? strlen(state) : 0;
                if (len >= 5 && strcmp(state + len - 5, "Ready") == 0 &&
                    (len == 5 || state[len - 6] == '/'))
                        gauges.nodes_ready++;
        }
        metrics_set_tripdeal(run->identity.namespace, run->identity.name, &gauges);
}

static int write_ready_status(struct reconcile_run *run, const struct schedule_state *sales,
                              const struct nodepools_result *nodes, const struct dependencies *deps)
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
        snprintf(message, sizeof(message), "%lld of %d replicas ready (the floor)",
                 (long long)ready, sales->floor_replicas);
        bool all_ready = ready >= sales->floor_replicas;
        struct condition c = {
                .type = "Ready",
                .status = all_ready ? CONDITION_TRUE : CONDITION_FALSE,
                .reason =
                        reason_name(all_ready ? REASON_REPLICAS_READY : REASON_REPLICAS_NOT_READY),
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
                               .reason = reason_name(rolling ? REASON_ROLLING_OUT : REASON_STABLE),
                               .message = message,
                               .observed_generation = run->identity.generation};
        if ((r = conditions_set(conditions, &c, now)) < 0)
                return r;

        char floor_reason[160];
        schedule_floor_reason_format(sales, floor_reason, sizeof(floor_reason));
        bool prescaled = sales->floor_reason == SCHEDULE_FLOOR_SALE;
        c = (struct condition){
                .type = "Prescaled",
                .status = prescaled ? CONDITION_TRUE : CONDITION_FALSE,
                .reason = reason_name(prescaled ? REASON_SALE_WINDOW_OPEN : REASON_BASELINE),
                .message = floor_reason,
                .observed_generation = run->identity.generation};
        if ((r = conditions_set(conditions, &c, now)) < 0)
                return r;

        if (deps->has_database) {
                bool found = deps->database_reason == REASON_SECRET_FOUND;
                c = (struct condition){.type = "DatabaseReady",
                                       .status = found ? CONDITION_TRUE : CONDITION_FALSE,
                                       .reason = reason_name(deps->database_reason),
                                       .message = deps->database_message,
                                       .observed_generation = run->identity.generation};
                if ((r = set_and_warn(run, conditions, &c, true, now)) < 0)
                        return r;
        } else
                conditions_remove(conditions, "DatabaseReady");

        bool cpu = deps->autoscaling_reason == REASON_CPU_REQUEST_SET;
        c = (struct condition){.type = "AutoscalingReady",
                               .status = cpu ? CONDITION_TRUE : CONDITION_FALSE,
                               .reason = reason_name(deps->autoscaling_reason),
                               .message = deps->autoscaling_message,
                               .observed_generation = run->identity.generation};
        if ((r = set_and_warn(run, conditions, &c, true, now)) < 0)
                return r;

        if (nodes->has_condition) {
                c = (struct condition){.type = "NodesReady",
                                       .status = nodes->status,
                                       .reason = nodes->reason,
                                       .message = nodes->message,
                                       .observed_generation = run->identity.generation};
                if ((r = set_and_warn(run, conditions, &c, nodes->problem, now)) < 0)
                        return r;
        } else
                /* No node pools and no VMs left: the condition no longer applies. */
                conditions_remove(conditions, "NodesReady");

        json_t *status = json_pack("{s:I, s:s, s:I, s:I, s:i, s:s, s:O}", "observedGeneration",
                                   (json_int_t)run->identity.generation, "phase",
                                   run->drilling ? "Drilling" : phase_name(phase_of(sales, ready)),
                                   "replicas", (json_int_t)replicas, "readyReplicas",
                                   (json_int_t)ready, "floorReplicas", sales->floor_replicas,
                                   "floorReason", floor_reason, "conditions", conditions);
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

/* ---- what the spec points at ------------------------------------------- */

/* Does the HPA's CPU target (a share of requests.cpu) mean anything?  A
 * missing request falls back to limits.cpu in Kubernetes. */
static bool has_cpu_request(const struct tripdeal_spec *spec)
{
        if (!spec->resources)
                return true; /* the operator's defaults have one */
        json_t *cpu = json_object_get(json_object_get(spec->resources, "requests"), "cpu");
        if (!cpu)
                cpu = json_object_get(json_object_get(spec->resources, "limits"), "cpu");
        if (json_is_number(cpu))
                return json_number_value(cpu) > 0;
        if (json_is_string(cpu))
                return strtod(json_string_value(cpu), NULL) > 0;
        return false;
}

static int check_dependencies(struct reconcile_run *run, const struct tripdeal_spec *spec,
                              struct dependencies *ret)
{
        struct dependencies deps = {.has_database = spec->database_secret_name != NULL};

        if (has_cpu_request(spec)) {
                deps.autoscaling_reason = REASON_CPU_REQUEST_SET;
                snprintf(deps.autoscaling_message, sizeof(deps.autoscaling_message),
                         "the HPA keeps CPU at %d%% of each pod's CPU request",
                         spec->target_cpu_percent);
        } else {
                deps.autoscaling_reason = REASON_NO_CPU_REQUEST;
                snprintf(deps.autoscaling_message, sizeof(deps.autoscaling_message),
                         "spec.app.resources sets no CPU request (requests.cpu, or limits.cpu): "
                         "the HPA's target of %d%% CPU is a share of it and cannot be computed, "
                         "so the HPA neither scales up nor down; set requests.cpu, or drop "
                         "spec.app.resources for the defaults (%s)",
                         spec->target_cpu_percent, DESIRED_DEFAULT_CPU_REQUEST);
        }

        if (deps.has_database) {
                struct kube_get_options get = {.namespace = run->identity.namespace,
                                               .name = spec->database_secret_name};
                _cleanup_json_ json_t *secret = NULL;
                int r = kube_get(run->reconciler->client, &KUBE_SECRETS, &get, &secret, NULL);
                if (r < 0 && r != KUBE_ERR_NOT_FOUND)
                        return r;
                if (r == KUBE_ERR_NOT_FOUND) {
                        deps.database_reason = REASON_SECRET_NOT_FOUND;
                        snprintf(deps.database_message, sizeof(deps.database_message),
                                 "Secret %s (spec.app.database.secretRef.name) does not exist in "
                                 "namespace %s: the pods cannot start",
                                 spec->database_secret_name, run->identity.namespace);
                } else if (!json_object_get(json_object_get(secret, "data"),
                                            spec->database_secret_key)) {
                        deps.database_reason = REASON_SECRET_KEY_NOT_FOUND;
                        snprintf(deps.database_message, sizeof(deps.database_message),
                                 "Secret %s has no key \"%s\" (spec.app.database.secretRef.key): "
                                 "the pods cannot start",
                                 spec->database_secret_name, spec->database_secret_key);
                } else {
                        deps.database_reason = REASON_SECRET_FOUND;
                        snprintf(deps.database_message, sizeof(deps.database_message),
                                 "the database URL is in Secret %s, key \"%s\"",
                                 spec->database_secret_name, spec->database_secret_key);
                }
        }
        *ret = deps;
        return 0;
}

/* The Service, the Deployment and the labels all take the TripDeal's name:
 * it must be a DNS-1035 label (Service names are), which also makes it a
 * valid label value.  The CRD cannot say so (no CEL on metadata.name). */
static bool name_is_dns1035_label(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > 63 || !(name[0] >= 'a' && name[0] <= 'z') || name[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
                      name[i] == '-'))
                        return false;
        return true;
}

static void name_problem(const char *name, char *buf, size_t size)
{
        size_t n = strlen(name);
        char count[48] = "";
        if (n > 63)
                snprintf(count, sizeof(count), " (%zu characters)", n);
        snprintf(buf, size,
                 "metadata.name: \"%.63s%s\"%s cannot name the Service, Deployment and labels "
                 "this TripDeal owns: it must be a DNS-1035 label (a-z, 0-9 and '-', starting "
                 "with a letter, ending with a letter or digit, at most 63 characters)",
                 name, n > 63 ? "..." : "", count);
}

/* ---- the whole path ----------------------------------------------------- */

static void run_clear(struct reconcile_run *run)
{
        json_decref(run->tripdeal);
        json_decref(run->identity_source);
        for (size_t i = 0; i < _DESIRED_KIND_MAX; i++)
                json_decref(run->observed[i]);
}

/* The only way identity is set: it borrows from the object it pins. */
static int identity_from(struct reconcile_run *run)
{
        json_decref(run->identity_source);
        run->identity_source = json_incref(run->tripdeal);
        json_t *metadata = json_object_get(run->identity_source, "metadata");
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

        /* 4. Parse; an invalid spec changes nothing but the status.  The name
         * first: every owned object takes it. */
        if (!name_is_dns1035_label(run.identity.name)) {
                char message[512];
                name_problem(run.identity.name, message, sizeof(message));
                outcome.invalid_spec = 1;
                r = write_invalid_spec_status(&run, message);
                *ret_outcome = outcome;
                return r;
        }
        struct tripdeal_error error = {0};
        struct tripdeal_spec *spec = NULL;
        r = tripdeal_spec_parse(json_object_get(run.tripdeal, "spec"), &spec, &error);
        if (r == -EINVAL) {
                outcome.invalid_spec = 1;
                r = write_invalid_spec_status(&run, error.message);
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
                r = write_invalid_spec_status(&run, error.message);
                *ret_outcome = outcome;
                return r;
        }
        if (r < 0)
                return r;

        /* 6. What we want to exist. */
        _cleanup_(desired_objects_clear) struct desired_objects desired = {0};
        if ((r = desired_objects_build(&run.identity, spec, sales.floor_replicas, &desired)) < 0)
                return r;

        /* 6b. The session key the pods share (made once, never rotated here). */
        if ((r = ensure_session_secret(&run)) < 0)
                return r;

        /* 7. Make it so.  The Deployment before the HPA that scales it.  An
         * object the API server refuses (422) will be refused again until the
         * spec changes: say so in status instead of retrying forever. */
        for (size_t kind = 0; kind < _DESIRED_KIND_MAX; kind++) {
                struct kube_status status = {0};
                r = apply_one(&run, (enum desired_kind)kind, desired.objects[kind], &status);
                if (r == KUBE_ERR_INVALID) {
                        char message[768];
                        snprintf(message, sizeof(message), "the API server refused %s %s: %s",
                                 desired_kind_name((enum desired_kind)kind), run.identity.name,
                                 status.message[0] ? status.message : kube_strerror(r));
                        outcome.invalid_spec = 1;
                        r = write_refused_status(&run, REASON_OBJECT_REJECTED, message);
                        *ret_outcome = outcome;
                        return r;
                }
                if (r < 0)
                        return r;
        }
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
        struct dependencies deps;
        if ((r = check_dependencies(&run, spec, &deps)) < 0)
                return r;
        if ((r = write_ready_status(&run, &sales, &nodes, &deps)) < 0)
                return r;
        record_gauges(&run, spec, &sales, &nodes);

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
