/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deployment and ReplicaSet controllers, after kube-controller-manager's:
 * a Deployment owns one ReplicaSet per pod template (named
 * <deployment>-<pod-template-hash>), a rolling update moves replicas from the
 * old ReplicaSets to the new one within maxSurge/maxUnavailable, and a
 * ReplicaSet keeps spec.replicas active pods named <rs>-<5 random chars>.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "macros.h"
#include "naming.h"
#include "objects.h"
#include "rollout.h"

#define REVISION_ANNOTATION  "deployment.kubernetes.io/revision"
#define MAX_CREATES_PER_PASS 50

static int64_t spec_replicas(const json_t *object)
{
        const json_t *r = json_object_get(json_object_get(object, "spec"), "replicas");
        return json_is_integer(r) ? json_integer_value(r) : 1;
}

static int64_t status_int(const json_t *object, const char *field)
{
        return json_integer_value(json_object_get(json_object_get(object, "status"), field));
}

static int64_t revision_of(const json_t *object)
{
        const char *r = json_string_value(
                json_object_get(json_object_get(json_object_get(object, "metadata"), "annotations"),
                                REVISION_ANNOTATION));
        return r ? strtoll(r, NULL, 10) : 0;
}

static json_t *owner_reference(const char *api_version, const char *kind, const json_t *owner)
{
        return json_pack("{ss ss ss ss sb sb}", "apiVersion", api_version, "kind", kind, "name",
                         object_name(owner), "uid", object_uid(owner), "controller", 1,
                         "blockOwnerDeletion", 1);
}

static bool owned_by(const json_t *object, const json_t *owner)
{
        const char *uid = controller_owner_uid(object);
        const char *owner_uid = object_uid(owner);
        const char *ns = object_namespace(object), *owner_ns = object_namespace(owner);
        return uid && owner_uid && strcmp(uid, owner_uid) == 0 && ns && owner_ns &&
               strcmp(ns, owner_ns) == 0;
}

/* A pod is available once Ready for minReadySeconds. */
static bool pod_available(const json_t *pod, int64_t min_ready_seconds, int64_t now_ms)
{
        if (!pod_ready(pod))
                return false;
        if (min_ready_seconds <= 0)
                return true;
        const char *since = json_string_value(
                json_object_get(condition_get(pod, "Ready"), "lastTransitionTime"));
        time_t t = 0;
        if (!since || clock_parse_rfc3339(since, &t) < 0)
                return false;
        return (int64_t)t * 1000 + min_ready_seconds * 1000 <= now_ms;
}

/* ---------------------------------------------------------------- ReplicaSets */

static int create_pod(struct sync *s, const json_t *rs)
{
        const json_t *template = json_object_get(json_object_get(rs, "spec"), "template");
        const json_t *tmeta = json_object_get(template, "metadata");
        for (int attempt = 0; attempt < 3; attempt++) {
                char suffix[6], name[320], generate_name[300];
                random_name_suffix(suffix, sizeof(suffix));
                snprintf(generate_name, sizeof(generate_name), "%s-", object_name(rs));
                snprintf(name, sizeof(name), "%s%s", generate_name, suffix);
                _cleanup_json_ json_t *meta =
                        json_pack("{ss ss ss}", "name", name, "generateName", generate_name,
                                  "namespace", object_namespace(rs));
                if (!meta)
                        return -ENOMEM;
                if (json_object_get(tmeta, "labels"))
                        json_object_set_new(meta, "labels",
                                            json_deep_copy(json_object_get(tmeta, "labels")));
                if (json_object_get(tmeta, "annotations"))
                        json_object_set_new(meta, "annotations",
                                            json_deep_copy(json_object_get(tmeta, "annotations")));
                json_object_set_new(meta, "ownerReferences",
                                    json_pack("[o]", owner_reference("apps/v1", "ReplicaSet", rs)));
                json_t *spec = json_deep_copy(json_object_get(template, "spec"));
                _cleanup_json_ json_t *pod =
                        json_pack("{ss ss sO so}", "apiVersion", "v1", "kind", "Pod", "metadata",
                                  meta, "spec", spec ? spec : json_object());
                if (!pod)
                        return -ENOMEM;
                int r = api_create(s, KIND_POD, object_namespace(rs), pod, NULL);
                if (r == 0)
                        emit_event(s, rs, "ReplicaSet", "apps/v1", "Normal", "SuccessfulCreate",
                                   "replicaset-controller", "Created pod: %s", name);
                if (r != -EEXIST)
                        return r;
        }
        return -EEXIST;
}

/* Kubernetes' ActivePods ordering: the pods to delete first sort first. */
static int pod_phase_rank(const json_t *pod)
{
        const char *phase =
                json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
        if (!phase || strcmp(phase, "Pending") == 0)
                return 0;
        if (strcmp(phase, "Unknown") == 0)
                return 1;
        return 2;
}

static int compare_for_deletion(const void *pa, const void *pb)
{
        const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
        bool a_bound = json_object_get(json_object_get(a, "spec"), "nodeName") != NULL;
        bool b_bound = json_object_get(json_object_get(b, "spec"), "nodeName") != NULL;
        if (a_bound != b_bound)
                return a_bound ? 1 : -1;
        int ra = pod_phase_rank(a), rb = pod_phase_rank(b);
        if (ra != rb)
                return ra - rb;
        bool a_ready = pod_ready(a), b_ready = pod_ready(b);
        if (a_ready != b_ready)
                return a_ready ? 1 : -1;
        int64_t ca = object_created_ms(a), cb = object_created_ms(b);
        if (ca != cb)
                return ca > cb ? -1 : 1; /* newer first */
        return strcmp(object_name(a), object_name(b));
}

static void sync_replicaset(struct sync *s, const json_t *rs)
{
        const json_t *pods = s->objects[KIND_POD];
        size_t cap = json_object_size(pods) + 1;
        _cleanup_free_ json_t **active = calloc(cap, sizeof(*active));
        if (!active)
                return;
        size_t n_active = 0;
        int64_t ready = 0, available = 0;
        int64_t min_ready =
                json_integer_value(json_object_get(json_object_get(rs, "spec"), "minReadySeconds"));
        const char *key;
        json_t *pod;
        json_object_foreach ((json_t *)pods, key, pod) {
                if (!owned_by(pod, rs) || !pod_active(pod))
                        continue;
                active[n_active++] = pod;
                ready += pod_ready(pod);
                available += pod_available(pod, min_ready, s->now_ms);
        }
        int64_t desired = spec_replicas(rs);
        if (!object_terminating(rs)) {
                if ((int64_t)n_active < desired) {
                        int64_t missing = desired - (int64_t)n_active;
                        for (int64_t i = 0; i < missing && i < MAX_CREATES_PER_PASS; i++) {
                                int r = create_pod(s, rs);
                                if (r < 0) {
                                        log_emit(LOG_LEVEL_WARN,
                                                 json_pack("{ss ss si}", "replicaset",
                                                           object_name(rs), "namespace",
                                                           object_namespace(rs), "error", r),
                                                 "fakekube controllers: creating a pod failed");
                                        break;
                                }
                        }
                } else if ((int64_t)n_active > desired) {
                        qsort(active, n_active, sizeof(*active), compare_for_deletion);
                        for (int64_t i = 0; i < (int64_t)n_active - desired; i++)
                                if (api_delete(s, KIND_POD, object_namespace(active[i]),
                                               object_name(active[i]), -1) == 0)
                                        emit_event(s, rs, "ReplicaSet", "apps/v1", "Normal",
                                                   "SuccessfulDelete", "replicaset-controller",
                                                   "Deleted pod: %s", object_name(active[i]));
                }
        }
        _cleanup_json_ json_t *status = json_deep_copy(json_object_get(rs, "status"));
        if (!status)
                status = json_object();
        json_t *generation = json_object_get(json_object_get(rs, "metadata"), "generation");
        json_object_set_new(status, "replicas", json_integer((json_int_t)n_active));
        json_object_set_new(status, "fullyLabeledReplicas", json_integer((json_int_t)n_active));
        json_object_set_new(status, "readyReplicas", json_integer(ready));
        json_object_set_new(status, "availableReplicas", json_integer(available));
        json_object_set_new(
                status, "observedGeneration",
                json_integer(json_is_integer(generation) ? json_integer_value(generation) : 1));
        if (json_equal(status, json_object_get(rs, "status")))
                return;
        _cleanup_json_ json_t *patch = json_pack("{sO}", "status", status);
        api_merge_patch(s, KIND_REPLICASET, object_namespace(rs), object_name(rs), "status", patch);
}

void sync_replicasets(struct sync *s)
{
        const char *key;
        json_t *rs;
        json_object_foreach (s->objects[KIND_REPLICASET], key, rs)
                sync_replicaset(s, rs);
}

/* ---------------------------------------------------------------- Deployments */

static int create_replicaset(struct sync *s, const json_t *d, const char *hash, int64_t revision,
                             int64_t replicas)
{
        const json_t *spec = json_object_get(d, "spec");
        char name[300];
        snprintf(name, sizeof(name), "%s-%s", object_name(d), hash);
        _cleanup_json_ json_t *template = json_deep_copy(json_object_get(spec, "template"));
        if (!template)
                return -ENOMEM;
        json_t *tmeta = json_object_get(template, "metadata");
        if (!tmeta) {
                tmeta = json_object();
                json_object_set_new(template, "metadata", tmeta);
        }
        json_t *labels = json_object_get(tmeta, "labels");
        if (!labels) {
                labels = json_object();
                json_object_set_new(tmeta, "labels", labels);
        }
        json_object_set_new(labels, "pod-template-hash", json_string(hash));
        json_t *selector = json_deep_copy(json_object_get(spec, "selector"));
        if (!selector)
                selector = json_object();
        json_t *match = json_object_get(selector, "matchLabels");
        if (!match) {
                match = json_object();
                json_object_set_new(selector, "matchLabels", match);
        }
        json_object_set_new(match, "pod-template-hash", json_string(hash));
        char revision_text[32];
        snprintf(revision_text, sizeof(revision_text), "%lld", (long long)revision);
        char max_replicas[32];
        snprintf(max_replicas, sizeof(max_replicas), "%lld", (long long)spec_replicas(d));
        _cleanup_json_ json_t *rs =
                json_pack("{ss ss s{ss ss sO s{ss ss ss} s[o]} s{sI so sO}}", "apiVersion",
                          "apps/v1", "kind", "ReplicaSet", "metadata", "name", name, "namespace",
                          object_namespace(d), "labels", labels, "annotations", REVISION_ANNOTATION,
                          revision_text, "deployment.kubernetes.io/desired-replicas", max_replicas,
                          "deployment.kubernetes.io/max-replicas", max_replicas, "ownerReferences",
                          owner_reference("apps/v1", "Deployment", d), "spec", "replicas",
                          (json_int_t)replicas, "selector", selector, "template", template);
        if (!rs)
                return -ENOMEM;
        const json_t *min_ready = json_object_get(spec, "minReadySeconds");
        if (json_is_integer(min_ready))
                json_object_set(json_object_get(rs, "spec"), "minReadySeconds",
                                (json_t *)min_ready);
        return api_create(s, KIND_REPLICASET, object_namespace(d), rs, NULL);
}

static void set_rs_replicas(struct sync *s, const json_t *d, const json_t *rs, int64_t replicas)
{
        _cleanup_json_ json_t *patch =
                json_pack("{s{sI}}", "spec", "replicas", (json_int_t)replicas);
        int64_t before = spec_replicas(rs);
        if (api_merge_patch(s, KIND_REPLICASET, object_namespace(rs), object_name(rs), NULL,
                            patch) == 0)
                emit_event(s, d, "Deployment", "apps/v1", "Normal", "ScalingReplicaSet",
                           "deployment-controller", "Scaled %s replica set %s from %lld to %lld",
                           replicas > before ? "up" : "down", object_name(rs), (long long)before,
                           (long long)replicas);
}

static bool pods_remain(struct sync *s, const json_t *rs)
{
        const char *key;
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                if (owned_by(pod, rs))
                        return true;
        }
        return false;
}

static int compare_revision(const void *pa, const void *pb)
{
        int64_t a = revision_of(*(json_t *const *)pa), b = revision_of(*(json_t *const *)pb);
        return a < b ? -1 : a > b;
}

static void cleanup_history(struct sync *s, const json_t *d, json_t **old, size_t n_old)
{
        const json_t *limit_json =
                json_object_get(json_object_get(d, "spec"), "revisionHistoryLimit");
        int64_t limit = json_is_integer(limit_json) ? json_integer_value(limit_json) : 10;
        size_t idle = 0;
        for (size_t i = 0; i < n_old; i++)
                idle += spec_replicas(old[i]) == 0 && status_int(old[i], "replicas") == 0;
        if ((int64_t)idle <= limit)
                return;
        qsort(old, n_old, sizeof(*old), compare_revision);
        int64_t excess = (int64_t)idle - limit;
        for (size_t i = 0; i < n_old && excess > 0; i++) {
                if (spec_replicas(old[i]) != 0 || status_int(old[i], "replicas") != 0)
                        continue;
                api_delete(s, KIND_REPLICASET, object_namespace(old[i]), object_name(old[i]), -1);
                excess--;
        }
}

static void update_deployment_status(struct sync *s, const json_t *d, const json_t *new_rs,
                                     json_t **all, size_t n_all, int64_t max_unavailable,
                                     bool new_rs_created)
{
        int64_t desired = spec_replicas(d);
        int64_t replicas = 0, ready = 0, available = 0;
        for (size_t i = 0; i < n_all; i++) {
                replicas += status_int(all[i], "replicas");
                ready += status_int(all[i], "readyReplicas");
                available += status_int(all[i], "availableReplicas");
        }
        int64_t updated = new_rs ? status_int(new_rs, "replicas") : 0;
        const json_t *generation = json_object_get(json_object_get(d, "metadata"), "generation");
        int64_t gen = json_is_integer(generation) ? json_integer_value(generation) : 1;
        const json_t *old_status = json_object_get(d, "status");
        _cleanup_json_ json_t *status = json_deep_copy(old_status);
        if (!status)
                status = json_object();
        bool progressed = status_int(d, "replicas") != replicas ||
                          status_int(d, "updatedReplicas") != updated ||
                          status_int(d, "availableReplicas") != available ||
                          status_int(d, "readyReplicas") != ready || new_rs_created;
        json_object_set_new(status, "observedGeneration", json_integer(gen));
        json_object_set_new(status, "replicas", json_integer(replicas));
        json_object_set_new(status, "updatedReplicas", json_integer(updated));
        json_object_set_new(status, "readyReplicas", json_integer(ready));
        json_object_set_new(status, "availableReplicas", json_integer(available));
        json_object_set_new(status, "unavailableReplicas",
                            json_integer(desired - available > 0 ? desired - available : 0));
        /* The API omits zero counters; kubectl treats absent as 0 either way. */
        const char *counters[] = {"replicas", "updatedReplicas", "readyReplicas",
                                  "availableReplicas", "unavailableReplicas"};
        for (size_t i = 0; i < ARRAY_SIZE(counters); i++)
                if (json_integer_value(json_object_get(status, counters[i])) == 0)
                        json_object_del(status, counters[i]);

        bool minimum = available >= desired - max_unavailable;
        json_t *conditions = conditions_set(
                json_object_get(status, "conditions"), "Available", minimum ? "True" : "False",
                minimum ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                minimum ? "Deployment has minimum availability."
                        : "Deployment does not have minimum availability.",
                s->now_text, true);
        char message[512];
        const char *rs_name = new_rs ? object_name(new_rs) : "";
        bool complete = updated == desired && replicas == desired && available == desired;
        const char *progress_status = "True", *progress_reason;
        if (complete) {
                progress_reason = "NewReplicaSetAvailable";
                snprintf(message, sizeof(message), "ReplicaSet \"%s\" has successfully progressed.",
                         rs_name);
        } else if (new_rs_created) {
                progress_reason = "NewReplicaSetCreated";
                snprintf(message, sizeof(message), "Created new replica set \"%s\"", rs_name);
        } else {
                progress_reason = "ReplicaSetUpdated";
                snprintf(message, sizeof(message), "ReplicaSet \"%s\" is progressing.", rs_name);
                /* progressDeadlineSeconds: no progress for that long -> ProgressDeadlineExceeded.
                 */
                const json_t *deadline_json =
                        json_object_get(json_object_get(d, "spec"), "progressDeadlineSeconds");
                int64_t deadline =
                        json_is_integer(deadline_json) ? json_integer_value(deadline_json) : 600;
                const char *last = json_string_value(
                        json_object_get(condition_get(d, "Progressing"), "lastUpdateTime"));
                time_t t = 0;
                if (!progressed && last && clock_parse_rfc3339(last, &t) == 0 &&
                    (int64_t)t * 1000 + deadline * 1000 < s->now_ms) {
                        progress_status = "False";
                        progress_reason = "ProgressDeadlineExceeded";
                        snprintf(message, sizeof(message),
                                 "ReplicaSet \"%s\" has timed out progressing.", rs_name);
                }
        }
        json_t *with_progress = conditions_set(conditions, "Progressing", progress_status,
                                               progress_reason, message, s->now_text, true);
        json_decref(conditions);
        if (progressed && with_progress) {
                size_t i;
                json_t *c;
                json_array_foreach (with_progress, i, c) {
                        const char *type = json_string_value(json_object_get(c, "type"));
                        if (type && strcmp(type, "Progressing") == 0)
                                json_object_set_new(c, "lastUpdateTime", json_string(s->now_text));
                }
        }
        if (with_progress)
                json_object_set_new(status, "conditions", with_progress);
        if (json_equal(status, old_status))
                return;
        /* Status is replaced as a whole (counters that dropped to 0 disappear). */
        _cleanup_json_ json_t *copy = json_deep_copy(d);
        if (!copy)
                return;
        json_object_set(copy, "status", status);
        int r = api_update(s, KIND_DEPLOYMENT, copy, "status");
        if (r == -ECONNABORTED)
                store_poke(&s->c->store);
}

static void sync_deployment(struct sync *s, const json_t *d)
{
        if (object_terminating(d))
                return;
        const json_t *spec = json_object_get(d, "spec");
        int64_t desired = spec_replicas(d);
        int64_t collisions =
                json_integer_value(json_object_get(json_object_get(d, "status"), "collisionCount"));
        char hash[16];
        if (pod_template_hash(json_object_get(spec, "template"), collisions, hash, sizeof(hash)) <
            0)
                return;
        const json_t *rss = s->objects[KIND_REPLICASET];
        size_t cap = json_object_size(rss) + 1;
        _cleanup_free_ json_t **all = calloc(cap, sizeof(*all));
        _cleanup_free_ json_t **old = calloc(cap, sizeof(*old));
        if (!all || !old)
                return;
        size_t n_all = 0, n_old = 0;
        json_t *new_rs = NULL;
        int64_t max_revision = 0;
        const char *key;
        json_t *rs;
        json_object_foreach ((json_t *)rss, key, rs) {
                if (!owned_by(rs, d))
                        continue;
                all[n_all++] = rs;
                const char *label = json_string_value(
                        json_object_get(json_object_get(json_object_get(rs, "metadata"), "labels"),
                                        "pod-template-hash"));
                if (label && strcmp(label, hash) == 0 && !object_terminating(rs))
                        new_rs = rs;
                else
                        old[n_old++] = rs;
                if (revision_of(rs) > max_revision)
                        max_revision = revision_of(rs);
        }
        const json_t *strategy = json_object_get(spec, "strategy");
        const char *strategy_type = json_string_value(json_object_get(strategy, "type"));
        bool recreate = strategy_type && strcmp(strategy_type, "Recreate") == 0;
        const json_t *rolling = json_object_get(strategy, "rollingUpdate");
        const json_t *surge_json = json_object_get(rolling, "maxSurge");
        const json_t *unavailable_json = json_object_get(rolling, "maxUnavailable");
        int64_t max_surge = 0, max_unavailable = 0;
        _cleanup_json_ json_t *quarter = json_string("25%");
        if (recreate) {
                max_surge = 0;
                max_unavailable = desired;
        } else if (int_or_percent(surge_json ? surge_json : quarter, desired, true, &max_surge) <
                           0 ||
                   int_or_percent(unavailable_json ? unavailable_json : quarter, desired, false,
                                  &max_unavailable) < 0) {
                return;
        }
        if (!recreate && max_surge == 0 && max_unavailable == 0)
                max_unavailable = 1;
        bool paused = json_is_true(json_object_get(spec, "paused"));
        bool created = false;
        if (!new_rs && !paused) {
                int64_t initial = 0;
                if (!recreate) {
                        /* NewRSNewReplicas: surge into the room left by the old ReplicaSets. */
                        int64_t total = 0;
                        for (size_t i = 0; i < n_old; i++)
                                total += spec_replicas(old[i]);
                        initial = desired + max_surge - total;
                        if (initial > desired)
                                initial = desired;
                        if (initial < 0)
                                initial = 0;
                }
                int r = create_replicaset(s, d, hash, max_revision + 1, initial);
                if (r == 0) {
                        created = true;
                        emit_event(s, d, "Deployment", "apps/v1", "Normal", "ScalingReplicaSet",
                                   "deployment-controller",
                                   "Scaled up replica set %s-%s from 0 to %lld", object_name(d),
                                   hash, (long long)initial);
                } else if (r == -EEXIST) {
                        /* A ReplicaSet of that name and another template: bump collisionCount. */
                        _cleanup_json_ json_t *patch =
                                json_pack("{s{sI}}", "status", "collisionCount",
                                          (json_int_t)(collisions + 1));
                        api_merge_patch(s, KIND_DEPLOYMENT, object_namespace(d), object_name(d),
                                        "status", patch);
                        return;
                } else {
                        log_emit(LOG_LEVEL_WARN,
                                 json_pack("{ss ss si}", "deployment", object_name(d), "namespace",
                                           object_namespace(d), "error", r),
                                 "fakekube controllers: creating a ReplicaSet failed");
                        return;
                }
                return; /* next pass sees it in the cache */
        }
        if (new_rs) {
                /* The Deployment carries the revision of its newest ReplicaSet (kubectl rollout
                 * history). */
                if (revision_of(new_rs) < max_revision) {
                        char text[32];
                        snprintf(text, sizeof(text), "%lld", (long long)(max_revision + 1));
                        _cleanup_json_ json_t *patch = json_pack(
                                "{s{s{ss}}}", "metadata", "annotations", REVISION_ANNOTATION, text);
                        api_merge_patch(s, KIND_REPLICASET, object_namespace(new_rs),
                                        object_name(new_rs), NULL, patch);
                        return;
                }
                char text[32];
                snprintf(text, sizeof(text), "%lld", (long long)revision_of(new_rs));
                const char *have = json_string_value(json_object_get(
                        json_object_get(json_object_get(d, "metadata"), "annotations"),
                        REVISION_ANNOTATION));
                if (!have || strcmp(have, text) != 0) {
                        _cleanup_json_ json_t *patch = json_pack(
                                "{s{s{ss}}}", "metadata", "annotations", REVISION_ANNOTATION, text);
                        api_merge_patch(s, KIND_DEPLOYMENT, object_namespace(d), object_name(d),
                                        NULL, patch);
                }
        }
        if (!paused && new_rs) {
                if (recreate) {
                        bool old_active = false;
                        for (size_t i = 0; i < n_old; i++) {
                                if (spec_replicas(old[i]) > 0) {
                                        set_rs_replicas(s, d, old[i], 0);
                                        old_active = true;
                                } else if (pods_remain(s, old[i])) {
                                        old_active = true;
                                }
                        }
                        if (!old_active && spec_replicas(new_rs) != desired)
                                set_rs_replicas(s, d, new_rs, desired);
                } else {
                        _cleanup_free_ struct rollout_rs *plan = calloc(n_all, sizeof(*plan));
                        size_t new_index = 0;
                        if (!plan)
                                return;
                        for (size_t i = 0; i < n_all; i++) {
                                plan[i] = (struct rollout_rs){
                                        .replicas = (int32_t)spec_replicas(all[i]),
                                        .available =
                                                (int32_t)status_int(all[i], "availableReplicas"),
                                        .created_ms = object_created_ms(all[i]),
                                };
                                if (all[i] == new_rs)
                                        new_index = i;
                        }
                        if (rollout_rolling_step((int32_t)desired, (int32_t)max_surge,
                                                 (int32_t)max_unavailable, plan, n_all,
                                                 new_index) > 0)
                                for (size_t i = 0; i < n_all; i++)
                                        if (plan[i].target != plan[i].replicas)
                                                set_rs_replicas(s, d, all[i], plan[i].target);
                }
                cleanup_history(s, d, old, n_old);
        }
        update_deployment_status(s, d, new_rs, all, n_all, recreate ? 0 : max_unavailable, created);
}

void sync_deployments(struct sync *s)
{
        const char *key;
        json_t *d;
        json_object_foreach (s->objects[KIND_DEPLOYMENT], key, d)
                sync_deployment(s, d);
}
