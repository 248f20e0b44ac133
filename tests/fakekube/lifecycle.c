/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object lifecycle: deletion with finalizers and grace periods, the
 * garbage collector (ownerReferences; background, foreground and orphan
 * propagation), namespace termination, and PodDisruptionBudget status.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "fakekube.h"
#include "label_selector.h"
#include "lifecycle.h"
#include "macros.h"
#include "registry.h"
#include "selector.h"

static json_t *meta_of(json_t *obj)
{
        return json_object_get(obj, "metadata");
}

static const char *meta_str(json_t *obj, const char *key)
{
        return json_string_value(json_object_get(meta_of(obj), key));
}

static bool has_finalizer(json_t *obj, const char *name)
{
        size_t i;
        json_t *f;
        json_array_foreach (json_object_get(meta_of(obj), "finalizers"), i, f) {
                if (json_is_string(f) && strcmp(json_string_value(f), name) == 0)
                        return true;
        }
        return false;
}

static void add_finalizer(json_t *obj, const char *name)
{
        if (has_finalizer(obj, name))
                return;
        json_t *list = json_object_get(meta_of(obj), "finalizers");
        if (!json_is_array(list)) {
                list = json_array();
                json_object_set_new(meta_of(obj), "finalizers", list);
        }
        json_array_append_new(list, json_string(name));
}

static void remove_finalizer(json_t *obj, const char *name)
{
        json_t *list = json_object_get(meta_of(obj), "finalizers");
        for (size_t i = json_array_size(list); i-- > 0;)
                if (strcmp(json_string_value(json_array_get(list, i)) ?: "", name) == 0)
                        json_array_remove(list, i);
        if (json_array_size(list) == 0)
                json_object_del(meta_of(obj), "finalizers");
}

static struct resource_type *type_of_key(struct server *s, const char *storage_key)
{
        for (size_t i = 0; i < s->n_types; i++)
                if (!s->types[i]->removed && strcmp(s->types[i]->storage_key, storage_key) == 0)
                        return s->types[i];
        return NULL;
}

static bool is(const struct resource_type *t, const char *group, const char *plural)
{
        return strcmp(t->group, group) == 0 && strcmp(t->plural, plural) == 0;
}

/* Remove for good, with what a real server does after: CRD objects and types go too. */
static void remove_now(struct server *s, const struct resource_type *t, json_t *obj)
{
        _cleanup_free_ char *ns =
                meta_str(obj, "namespace") ? strdup(meta_str(obj, "namespace")) : NULL;
        _cleanup_free_ char *name = strdup(meta_str(obj, "name") ?: "");
        json_incref(obj);
        db_remove(s, t, ns, name);
        if (is(t, "apiextensions.k8s.io", "customresourcedefinitions")) {
                json_t *spec = json_object_get(obj, "spec");
                char key[600];
                snprintf(
                        key, sizeof(key), "%s/%s",
                        json_string_value(json_object_get(spec, "group")) ?: "",
                        json_string_value(json_object_get(json_object_get(spec, "names"), "plural"))
                                ?: "");
                struct resource_type *crt = type_of_key(s, key);
                json_t *bucket = json_object_get(s->buckets, key);
                if (crt && bucket) {
                        json_t *victims = json_array();
                        const char *k;
                        json_t *o;
                        json_object_foreach (bucket, k, o) {
                                json_array_append(victims, o);
                        }
                        size_t i;
                        json_array_foreach (victims, i, o) {
                                db_remove(s, crt, meta_str(o, "namespace"), meta_str(o, "name"));
                        }
                        json_decref(victims);
                }
                registry_remove_crd(s, name);
        }
        json_decref(obj);
}

int lifecycle_delete(struct server *s, const struct resource_type *t, json_t *current,
                     json_t *options, bool dry_run, json_t **ret_obj, bool *ret_removed)
{
        const char *policy = json_string_value(json_object_get(options, "propagationPolicy"));
        json_t *orphan_deps = json_object_get(options, "orphanDependents");
        json_t *grace_j = json_object_get(options, "gracePeriodSeconds");
        long long grace = json_is_integer(grace_j) ? json_integer_value(grace_j) : -1;
        bool orphan = (policy && strcmp(policy, "Orphan") == 0) || json_is_true(orphan_deps);
        bool foreground = policy && strcmp(policy, "Foreground") == 0;

        json_t *obj = json_deep_copy(current);
        json_t *meta = meta_of(obj);
        if (json_object_get(meta, "deletionTimestamp")) {
                /* Already deleting: a pod deleted again with grace 0 goes now (kubelet's final
                 * delete). */
                if (is(t, "", "pods") && grace == 0 && !json_object_get(meta, "finalizers")) {
                        if (!dry_run)
                                remove_now(s, t, current);
                        *ret_obj = obj;
                        *ret_removed = true;
                        return 0;
                }
                *ret_obj = obj;
                *ret_removed = false;
                return 0;
        }
        if (orphan)
                add_finalizer(obj, "orphan");
        else if (foreground)
                add_finalizer(obj, "foregroundDeletion");

        bool graceful = false;
        if (is(t, "", "pods") && grace != 0) {
                json_t *spec = json_object_get(obj, "spec");
                const char *phase =
                        json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
                bool finished =
                        phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
                if (json_object_get(spec, "nodeName") && !finished) {
                        if (grace < 0) {
                                json_t *g = json_object_get(spec, "terminationGracePeriodSeconds");
                                grace = json_is_integer(g) ? json_integer_value(g)
                                                           : s->options.default_grace_seconds;
                        }
                        graceful = grace > 0;
                }
        }
        bool is_namespace = is(t, "", "namespaces");
        if (graceful || json_array_size(json_object_get(meta, "finalizers")) > 0 || is_namespace) {
                char ts[64];
                clock_format_rfc3339(time(NULL) + (graceful ? grace : 0), ts, sizeof(ts));
                json_object_set_new(meta, "deletionTimestamp", json_string(ts));
                json_object_set_new(meta, "deletionGracePeriodSeconds",
                                    json_integer(graceful ? grace : 0));
                if (is_namespace)
                        json_object_set_new(obj, "status",
                                            json_pack("{s:s}", "phase", "Terminating"));
                if (!dry_run) {
                        db_put(s, t, json_incref(obj), false);
                        json_t *stored = json_deep_copy(obj);
                        *ret_obj = stored;
                        json_decref(obj);
                } else {
                        *ret_obj = obj;
                }
                *ret_removed = false;
                return 0;
        }
        if (!dry_run)
                remove_now(s, t, current);
        *ret_obj = obj;
        *ret_removed = true;
        return 0;
}

void lifecycle_after_update(struct server *s, const struct resource_type *t, json_t *obj)
{
        json_t *meta = meta_of(obj);
        const char *dts = json_string_value(json_object_get(meta, "deletionTimestamp"));
        if (!dts || json_array_size(json_object_get(meta, "finalizers")) > 0 ||
            is(t, "", "namespaces"))
                return;
        time_t when = 0;
        if (clock_parse_rfc3339(dts, &when) == 0 && when > time(NULL))
                return; /* a pod still in its grace period */
        remove_now(s, t, obj);
}

/* ---- PodDisruptionBudgets ---- */

static bool pdb_pod_ready(json_t *pod)
{
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(json_object_get(pod, "status"), "conditions"), i, c) {
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *status = json_string_value(json_object_get(c, "status"));
                if (type && status && strcmp(type, "Ready") == 0)
                        return strcmp(status, "True") == 0;
        }
        return false;
}

struct pdb_counts {
        long long expected, healthy, desired, allowed;
};

static long long pdb_int_or_percent(json_t *v, long long total, bool round_up)
{
        if (json_is_integer(v))
                return json_integer_value(v);
        const char *text = json_string_value(v);
        if (!text)
                return 0;
        double pct = strtod(text, NULL);
        double x = pct * (double)total / 100.0;
        return (long long)(round_up ? ceil(x) : floor(x));
}

static void pdb_compute(struct server *s, json_t *pdb, struct pdb_counts *c)
{
        *c = (struct pdb_counts){0};
        json_t *spec = json_object_get(pdb, "spec");
        json_t *selector = json_object_get(spec, "selector");
        const char *ns = meta_str(pdb, "namespace") ?: "";
        const char *k;
        json_t *pod;
        json_object_foreach (json_object_get(s->buckets, "/pods"), k, pod) {
                if (strcmp(meta_str(pod, "namespace") ?: "", ns) != 0 ||
                    json_object_get(meta_of(pod), "deletionTimestamp") ||
                    !label_selector_matches(selector, json_object_get(meta_of(pod), "labels")))
                        continue;
                c->expected++;
                if (pdb_pod_ready(pod))
                        c->healthy++;
        }
        json_t *min = json_object_get(spec, "minAvailable");
        json_t *max = json_object_get(spec, "maxUnavailable");
        if (min)
                c->desired = pdb_int_or_percent(min, c->expected, true);
        else if (max)
                c->desired = c->expected - pdb_int_or_percent(max, c->expected, true);
        if (c->desired < 0)
                c->desired = 0;
        c->allowed = c->healthy - c->desired;
        if (c->allowed < 0)
                c->allowed = 0;
}

int lifecycle_eviction_allowed(struct server *s, json_t *pod, char **ret_message)
{
        const char *ns = meta_str(pod, "namespace") ?: "";
        json_t *labels = json_object_get(meta_of(pod), "labels");
        const char *k;
        json_t *pdb;
        json_object_foreach (json_object_get(s->buckets, "policy/poddisruptionbudgets"), k, pdb) {
                if (strcmp(meta_str(pdb, "namespace") ?: "", ns) != 0 ||
                    !label_selector_matches(
                            json_object_get(json_object_get(pdb, "spec"), "selector"), labels))
                        continue;
                struct pdb_counts c;
                pdb_compute(s, pdb, &c);
                /* An unready pod may go when the budget is otherwise met (IfHealthyBudget). */
                if (c.allowed > 0 || (!pdb_pod_ready(pod) && c.healthy >= c.desired))
                        continue;
                if (asprintf(ret_message,
                             "The disruption budget %s needs %lld healthy pods and has %lld "
                             "currently",
                             meta_str(pdb, "name") ?: "", c.desired, c.healthy) < 0)
                        *ret_message = NULL;
                return -EBUSY;
        }
        return 0;
}

static void pdb_update_status(struct server *s, struct resource_type *t, json_t *pdb)
{
        struct pdb_counts c;
        pdb_compute(s, pdb, &c);
        json_t *old = json_object_get(pdb, "status");
        const char *want = c.allowed > 0 ? "True" : "False";
        json_t *old_cond = json_array_get(json_object_get(old, "conditions"), 0);
        const char *old_status = json_string_value(json_object_get(old_cond, "status"));
        char now[64];
        clock_format_rfc3339(time(NULL), now, sizeof(now));
        const char *ltt =
                old_status && strcmp(old_status, want) == 0
                        ? json_string_value(json_object_get(old_cond, "lastTransitionTime"))
                        : now;
        json_t *gen = json_object_get(meta_of(pdb), "generation");
        json_t *status = json_pack("{s:I, s:I, s:I, s:I, s:I, s:[{s:s, s:s, s:s, s:s, s:s, s:I}]}",
                                   "observedGeneration", json_integer_value(gen),
                                   "disruptionsAllowed", c.allowed, "currentHealthy", c.healthy,
                                   "desiredHealthy", c.desired, "expectedPods", c.expected,
                                   "conditions", "type", "DisruptionAllowed", "status", want,
                                   "reason", c.allowed > 0 ? "SufficientPods" : "InsufficientPods",
                                   "message", "", "lastTransitionTime", ltt ? ltt : now,
                                   "observedGeneration", json_integer_value(gen));
        if (json_equal(old, status)) {
                json_decref(status);
                return;
        }
        json_t *next = json_deep_copy(pdb);
        json_object_set_new(next, "status", status);
        db_put(s, t, next, false);
}

/* ---- the periodic pass ---- */

struct work {
        struct resource_type *t;
        json_t *obj;
};

static void work_free(struct work *w, size_t n)
{
        for (size_t i = 0; i < n; i++)
                json_decref(w[i].obj);
        free(w);
}

static json_t *current_of(struct server *s, struct work *w)
{
        return db_get(s, w->t, meta_str(w->obj, "namespace"), meta_str(w->obj, "name"));
}

static json_t *background_options(void)
{
        return json_pack("{s:s}", "propagationPolicy", "Background");
}

static void delete_background(struct server *s, struct resource_type *t, json_t *obj)
{
        _cleanup_json_ json_t *opts = background_options();
        json_t *after = NULL;
        bool removed = false;
        lifecycle_delete(s, t, obj, opts, false, &after, &removed);
        json_decref(after);
}

/* A work list of the objects a set of refs names (caller frees). */
static struct work *resolve_all(struct server *s, json_t *refs, size_t *ret_n)
{
        struct work *list = NULL;
        size_t n = 0;
        const char *ref;
        json_t *unused;
        json_object_foreach (refs, ref, unused) {
                struct resource_type *t = NULL;
                json_t *obj = db_resolve_ref(s, ref, &t);
                if (!obj)
                        continue;
                struct work *nl = realloc(list, (n + 1) * sizeof(*nl));
                if (!nl)
                        break;
                list = nl;
                list[n++] = (struct work){t, json_incref(obj)};
        }
        *ret_n = n;
        return list;
}

/* Objects owned (ownerReferences) by uid: a work list (caller frees). */
static struct work *dependents_of(struct server *s, const char *uid, size_t *ret_n)
{
        return resolve_all(s, json_object_get(s->dependents, uid), ret_n);
}

static bool blocks_owner(json_t *dep, const char *uid)
{
        size_t i;
        json_t *ref;
        json_array_foreach (json_object_get(meta_of(dep), "ownerReferences"), i, ref) {
                const char *u = json_string_value(json_object_get(ref, "uid"));
                if (u && strcmp(u, uid) == 0)
                        return json_is_true(json_object_get(ref, "blockOwnerDeletion"));
        }
        return false;
}

static void store_finalizer_removed(struct server *s, struct resource_type *t, json_t *obj,
                                    const char *finalizer)
{
        json_t *next = json_deep_copy(obj);
        remove_finalizer(next, finalizer);
        db_put(s, t, next, false);
        lifecycle_after_update(s, t, next);
}

static void process_deleting(struct server *s, struct work *w)
{
        json_t *obj = current_of(s, w);
        if (!obj)
                return;
        const char *uid = meta_str(obj, "uid") ?: "";
        if (has_finalizer(obj, "orphan")) {
                size_t n = 0;
                struct work *deps = dependents_of(s, uid, &n);
                for (size_t i = 0; i < n; i++) {
                        json_t *next = json_deep_copy(deps[i].obj);
                        json_t *refs = json_object_get(meta_of(next), "ownerReferences");
                        for (size_t j = json_array_size(refs); j-- > 0;)
                                if (strcmp(json_string_value(
                                                   json_object_get(json_array_get(refs, j), "uid"))
                                                   ?: "",
                                           uid) == 0)
                                        json_array_remove(refs, j);
                        if (json_array_size(refs) == 0)
                                json_object_del(meta_of(next), "ownerReferences");
                        db_put(s, deps[i].t, next, false);
                }
                work_free(deps, n);
                store_finalizer_removed(s, w->t, obj, "orphan");
                return;
        }
        if (has_finalizer(obj, "foregroundDeletion")) {
                size_t n = 0;
                struct work *deps = dependents_of(s, uid, &n);
                bool blocked = false;
                for (size_t i = 0; i < n; i++) {
                        if (blocks_owner(deps[i].obj, uid))
                                blocked = true;
                        if (json_object_get(meta_of(deps[i].obj), "deletionTimestamp"))
                                continue;
                        /*
                         * As the real garbage collector: a dependent that has dependents of
                         * its own is deleted in the foreground too, so the whole tree is gone
                         * before the owner.
                         */
                        size_t grandchildren = 0;
                        struct work *g = dependents_of(s, meta_str(deps[i].obj, "uid") ?: "",
                                                       &grandchildren);
                        work_free(g, grandchildren);
                        _cleanup_json_ json_t *opts =
                                json_pack("{s:s}", "propagationPolicy",
                                          grandchildren ? "Foreground" : "Background");
                        json_t *after = NULL;
                        bool removed = false;
                        lifecycle_delete(s, deps[i].t, deps[i].obj, opts, false, &after, &removed);
                        json_decref(after);
                }
                work_free(deps, n);
                if (!blocked)
                        store_finalizer_removed(s, w->t, obj, "foregroundDeletion");
                return;
        }
        if (is(w->t, "", "namespaces")) {
                const char *ns = meta_str(obj, "name");
                bool empty = true;
                const char *bk;
                json_t *bucket;
                struct work *victims = NULL;
                size_t nv = 0;
                json_object_foreach (s->buckets, bk, bucket) {
                        struct resource_type *t = type_of_key(s, bk);
                        if (!t || !t->namespaced)
                                continue;
                        const char *k;
                        json_t *o;
                        json_object_foreach (bucket, k, o) {
                                if (strcmp(meta_str(o, "namespace") ?: "", ns) != 0)
                                        continue;
                                empty = false;
                                if (json_object_get(meta_of(o), "deletionTimestamp"))
                                        continue;
                                struct work *nl = realloc(victims, (nv + 1) * sizeof(*nl));
                                if (!nl)
                                        continue;
                                victims = nl;
                                victims[nv++] = (struct work){t, json_incref(o)};
                        }
                }
                for (size_t i = 0; i < nv; i++)
                        delete_background(s, victims[i].t, victims[i].obj);
                work_free(victims, nv);
                if (empty && !json_object_get(meta_of(obj), "finalizers"))
                        remove_now(s, w->t, obj);
                return;
        }
        if (json_object_get(meta_of(obj), "finalizers"))
                return;
        /*
         * No finalizers left: gone once the grace period is over.  For pods this is only the
         * fallback when no kubelet finishes the deletion: it waits two seconds past the
         * (whole-second) deletionTimestamp, so a kubelet that SIGKILLs at the end of the grace
         * period and then deletes with grace 0 always comes first.
         */
        time_t when = 0;
        time_t slack = is(w->t, "", "pods") ? 2 : 0;
        if (clock_parse_rfc3339(meta_str(obj, "deletionTimestamp") ?: "", &when) == 0 &&
            when + slack <= time(NULL))
                remove_now(s, w->t, obj);
}

/* Garbage collection: a dependent none of whose owners exists any more goes (background). */
static void collect_if_orphaned(struct server *s, struct work *w)
{
        json_t *obj = current_of(s, w);
        if (!obj || json_object_get(meta_of(obj), "deletionTimestamp") ||
            json_array_size(json_object_get(meta_of(obj), "ownerReferences")) == 0)
                return;
        size_t j;
        json_t *ref;
        json_array_foreach (json_object_get(meta_of(obj), "ownerReferences"), j, ref) {
                const char *u = json_string_value(json_object_get(ref, "uid"));
                if (u && json_object_get(s->uids, u))
                        return;
        }
        delete_background(s, w->t, obj);
}

/* Every PodDisruptionBudget in the namespaces where pods or budgets changed. */
static void update_pdbs(struct server *s)
{
        _cleanup_json_ json_t *namespaces = db_take_set(&s->pdb_namespaces);
        if (json_object_size(namespaces) == 0)
                return;
        struct resource_type *t = type_of_key(s, "policy/poddisruptionbudgets");
        struct work *pdbs = NULL;
        size_t n = 0;
        const char *k;
        json_t *pdb;
        json_object_foreach (json_object_get(s->buckets, "policy/poddisruptionbudgets"), k, pdb) {
                if (!t || json_object_get(meta_of(pdb), "deletionTimestamp") ||
                    !json_object_get(namespaces, meta_str(pdb, "namespace") ?: ""))
                        continue;
                struct work *nl = realloc(pdbs, (n + 1) * sizeof(*nl));
                if (!nl)
                        break;
                pdbs = nl;
                pdbs[n++] = (struct work){t, json_incref(pdb)};
        }
        for (size_t i = 0; i < n; i++) {
                json_t *obj = current_of(s, &pdbs[i]);
                if (obj)
                        pdb_update_status(s, pdbs[i].t, obj);
        }
        work_free(pdbs, n);
}

/*
 * What the garbage collector, the namespace controller, the kubelet's final delete and the
 * disruption controller would do, for what changed since the last pass: the store's indexes
 * (struct server) say which objects are being deleted, which owned objects were written or
 * lost an owner, and where pods or budgets changed.
 */
void lifecycle_pass(struct server *s)
{
        /* Snapshot the work first: acting changes the sets being iterated. */
        size_t n_deleting = 0, n_candidates = 0;
        struct work *deleting = resolve_all(s, s->deleting, &n_deleting);
        _cleanup_json_ json_t *candidates = db_take_set(&s->gc_candidates);
        struct work *owned = resolve_all(s, candidates, &n_candidates);

        for (size_t i = 0; i < n_deleting; i++)
                process_deleting(s, &deleting[i]);
        for (size_t i = 0; i < n_candidates; i++)
                collect_if_orphaned(s, &owned[i]);
        update_pdbs(s);
        work_free(deleting, n_deleting);
        work_free(owned, n_candidates);
}
