/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object store: buckets of immutable json_t objects, one global
 * resourceVersion counter, the bounded event history watches read, and
 * persistence to --data FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "fakekube.h"
#include "macros.h"
#include "registry.h"

/* Every index set of struct server, to create or drop them together. */
#define INDEX_SETS(s)                                                              \
        {                                                                          \
                &(s)->uids, &(s)->deleting, &(s)->dependents, &(s)->gc_candidates, \
                        &(s)->pdb_namespaces                                       \
        }

/* Empty index sets (dropping any there were); -ENOMEM. */
static int indexes_reset(struct server *s)
{
        json_t **sets[] = INDEX_SETS(s);
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                json_decref(*sets[i]);
                if (!(*sets[i] = json_object()))
                        return -ENOMEM;
        }
        return 0;
}

static void indexes_free(struct server *s)
{
        json_t **sets[] = INDEX_SETS(s);
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                json_decref(*sets[i]);
                *sets[i] = NULL;
        }
}

int db_init(struct server *s)
{
        s->buckets = json_object();
        s->ring = calloc(s->options.watch_window, sizeof(*s->ring));
        if (!s->buckets || !s->ring || indexes_reset(s) < 0)
                return -ENOMEM;
        s->rv = 1;
        s->first_rv = s->rv;
        return 0;
}

void db_free(struct server *s)
{
        for (size_t i = 0; i < s->ring_count; i++) {
                json_decref(s->ring[(s->ring_head + i) % s->options.watch_window].object);
                json_decref(s->ring[(s->ring_head + i) % s->options.watch_window].previous);
        }
        free(s->ring);
        s->ring = NULL;
        s->ring_count = 0;
        json_decref(s->buckets);
        s->buckets = NULL;
        indexes_free(s);
}

char *db_object_key(const char *ns, const char *name)
{
        char *key = NULL;
        if (asprintf(&key, "%s/%s", ns ? ns : "", name) < 0)
                return NULL;
        return key;
}

json_t *db_bucket(struct server *s, const char *storage_key)
{
        json_t *b = json_object_get(s->buckets, storage_key);
        if (!b) {
                b = json_object();
                json_object_set_new(s->buckets, storage_key, b);
        }
        return b;
}

json_t *db_get(struct server *s, const struct resource_type *t, const char *ns, const char *name)
{
        _cleanup_free_ char *key = db_object_key(t->namespaced ? ns : NULL, name);
        if (!key)
                return NULL;
        return json_object_get(json_object_get(s->buckets, t->storage_key), key);
}

static void push_event(struct server *s, const char *type, const char *storage_key, json_t *obj,
                       json_t *previous)
{
        size_t cap = s->options.watch_window;
        if (s->ring_count == cap) {
                /* Drop the oldest event: resuming from before it is now 410 Gone. */
                struct event *old = &s->ring[s->ring_head];
                s->first_rv = old->rv;
                json_decref(old->object);
                json_decref(old->previous);
                s->ring_head = (s->ring_head + 1) % cap;
                s->ring_count--;
        }
        struct event *e = &s->ring[(s->ring_head + s->ring_count) % cap];
        e->rv = s->rv;
        e->type = type;
        e->storage_key = storage_key;
        e->object = json_incref(obj);
        e->previous = json_incref(previous);
        s->ring_count++;
        s->dirty = true;
        pthread_cond_broadcast(&s->changed);
}

char *db_ref_new(const char *storage_key, const char *key)
{
        char *ref = NULL;
        if (asprintf(&ref, "%s %s", storage_key, key) < 0)
                return NULL;
        return ref;
}

static struct resource_type *type_of_storage_key(struct server *s, const char *storage_key,
                                                 size_t length)
{
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (!t->removed && strlen(t->storage_key) == length &&
                    memcmp(t->storage_key, storage_key, length) == 0)
                        return t;
        }
        return NULL;
}

json_t *db_resolve_ref(struct server *s, const char *ref, struct resource_type **ret_type)
{
        const char *space = strchr(ref, ' ');
        if (!space)
                return NULL;
        struct resource_type *t = type_of_storage_key(s, ref, (size_t)(space - ref));
        if (!t)
                return NULL;
        json_t *obj = json_object_get(json_object_get(s->buckets, t->storage_key), space + 1);
        if (obj && ret_type)
                *ret_type = t;
        return obj;
}

json_t *db_take_set(json_t **set)
{
        json_t *fresh = json_object();
        if (!fresh)
                return NULL; /* out of memory: the set stays for the next pass */
        json_t *taken = *set;
        *set = fresh;
        return taken;
}

static void set_add(json_t *set, const char *key)
{
        json_object_set_new(set, key, json_true());
}

static bool is_pod_or_pdb(const char *storage_key)
{
        return strcmp(storage_key, "/pods") == 0 ||
               strcmp(storage_key, "policy/poddisruptionbudgets") == 0;
}

/* Index a stored object under ref (see struct server). */
static void index_note(struct server *s, const char *storage_key, const char *ref, json_t *obj)
{
        json_t *meta = json_object_get(obj, "metadata");
        const char *uid = json_string_value(json_object_get(meta, "uid"));
        if (uid)
                json_object_set_new(s->uids, uid, json_string(ref));
        if (json_object_get(meta, "deletionTimestamp"))
                set_add(s->deleting, ref);
        size_t i;
        json_t *owner;
        json_array_foreach (json_object_get(meta, "ownerReferences"), i, owner) {
                const char *owner_uid = json_string_value(json_object_get(owner, "uid"));
                if (!owner_uid)
                        continue;
                json_t *set = json_object_get(s->dependents, owner_uid);
                if (!set) {
                        set = json_object();
                        json_object_set_new(s->dependents, owner_uid, set);
                }
                set_add(set, ref);
                set_add(s->gc_candidates, ref);
        }
        if (is_pod_or_pdb(storage_key))
                set_add(s->pdb_namespaces,
                        json_string_value(json_object_get(meta, "namespace")) ?: "");
}

/* Undo index_note for the version of an object being replaced or removed. */
static void index_forget(struct server *s, const char *storage_key, const char *ref, json_t *obj)
{
        json_t *meta = json_object_get(obj, "metadata");
        const char *uid = json_string_value(json_object_get(meta, "uid"));
        if (uid)
                json_object_del(s->uids, uid);
        json_object_del(s->deleting, ref);
        size_t i;
        json_t *owner;
        json_array_foreach (json_object_get(meta, "ownerReferences"), i, owner) {
                const char *owner_uid = json_string_value(json_object_get(owner, "uid"));
                json_t *set = owner_uid ? json_object_get(s->dependents, owner_uid) : NULL;
                json_object_del(set, ref);
                if (set && json_object_size(set) == 0)
                        json_object_del(s->dependents, owner_uid);
        }
        if (is_pod_or_pdb(storage_key))
                set_add(s->pdb_namespaces,
                        json_string_value(json_object_get(meta, "namespace")) ?: "");
}

static void set_rv(json_t *obj, uint64_t rv)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64, rv);
        json_t *meta = json_object_get(obj, "metadata");
        if (!meta) {
                meta = json_object();
                json_object_set_new(obj, "metadata", meta);
        }
        json_object_set_new(meta, "resourceVersion", json_string(buf));
}

void db_put(struct server *s, const struct resource_type *t, json_t *obj, bool added)
{
        json_t *meta = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        _cleanup_free_ char *key = db_object_key(t->namespaced ? ns : NULL, name);
        if (!key) {
                json_decref(obj);
                return;
        }
        s->rv++;
        set_rv(obj, s->rv);
        json_t *bucket = db_bucket(s, t->storage_key);
        json_t *previous = json_incref(json_object_get(bucket, key));
        json_object_set_new(bucket, key, obj);
        _cleanup_free_ char *ref = db_ref_new(t->storage_key, key);
        if (ref) {
                if (previous)
                        index_forget(s, t->storage_key, ref, previous);
                index_note(s, t->storage_key, ref, obj);
        }
        push_event(s, added ? "ADDED" : "MODIFIED", t->storage_key, obj, previous);
        json_decref(previous);
}

void db_remove(struct server *s, const struct resource_type *t, const char *ns, const char *name)
{
        _cleanup_free_ char *key = db_object_key(t->namespaced ? ns : NULL, name);
        json_t *bucket = json_object_get(s->buckets, t->storage_key);
        json_t *old = key ? json_object_get(bucket, key) : NULL;
        if (!old)
                return;
        /* The DELETED event carries the last state with the deletion's resourceVersion. */
        json_t *last = json_deep_copy(old);
        s->rv++;
        set_rv(last, s->rv);
        _cleanup_free_ char *ref = db_ref_new(t->storage_key, key);
        if (ref)
                index_forget(s, t->storage_key, ref, old);
        /* Its dependents may now have no owner left: the next pass looks at them. */
        const char *uid =
                json_string_value(json_object_get(json_object_get(old, "metadata"), "uid"));
        const char *dependent;
        json_t *unused;
        json_object_foreach (json_object_get(s->dependents, uid ?: ""), dependent, unused) {
                set_add(s->gc_candidates, dependent);
        }
        json_object_del(bucket, key);
        push_event(s, "DELETED", t->storage_key, last, NULL);
        json_decref(last);
}

json_t *db_find_uid(struct server *s, const char *uid, struct resource_type **ret_type)
{
        const char *ref = json_string_value(json_object_get(s->uids, uid));
        return ref ? db_resolve_ref(s, ref, ret_type) : NULL;
}

int db_load(struct server *s)
{
        if (!s->options.data_file || access(s->options.data_file, F_OK) < 0)
                return 0;
        json_error_t error;
        _cleanup_json_ json_t *doc = json_load_file(s->options.data_file, 0, &error);
        if (!doc)
                return -EINVAL;
        json_int_t rv = json_integer_value(json_object_get(doc, "resourceVersion"));
        json_t *buckets = json_object_get(doc, "buckets");
        if (!json_is_object(buckets) || rv <= 0)
                return -EINVAL;
        json_decref(s->buckets);
        s->buckets = json_incref(buckets);
        s->rv = (uint64_t)rv;
        s->first_rv = s->rv;
        json_decref(s->identity);
        s->identity = json_incref(json_object_get(doc, "identity"));
        /* CRDs must be served again before their objects are read. */
        const char *k;
        json_t *crd;
        json_object_foreach (
                json_object_get(s->buckets, "apiextensions.k8s.io/customresourcedefinitions"), k,
                crd) {
                registry_apply_crd(s, crd);
        }
        if (indexes_reset(s) < 0)
                return -ENOMEM;
        const char *storage_key;
        json_t *bucket;
        json_object_foreach (s->buckets, storage_key, bucket) {
                json_t *obj;
                json_object_foreach (bucket, k, obj) {
                        _cleanup_free_ char *ref = db_ref_new(storage_key, k);
                        if (!ref)
                                return -ENOMEM;
                        index_note(s, storage_key, ref, obj);
                }
        }
        s->dirty = false;
        return 0;
}

int db_save(struct server *s)
{
        if (!s->options.data_file)
                return 0;
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", s->options.data_file) < 0)
                return -ENOMEM;
        _cleanup_json_ json_t *doc =
                json_pack("{s:I, s:O, s:O*}", "resourceVersion", (json_int_t)s->rv, "buckets",
                          s->buckets, "identity", s->identity);
        if (!doc)
                return -ENOMEM;
        /* Temp file + fsync + rename: a crash leaves either the old or the new file. */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return NEG_ERRNO();
        if (json_dumpfd(doc, fd, JSON_COMPACT) < 0 || fsync(fd) < 0) {
                int r = NEG_ERRNO();
                close(fd);
                unlink(tmp);
                return r;
        }
        close(fd);
        if (rename(tmp, s->options.data_file) < 0)
                return NEG_ERRNO();
        s->dirty = false;
        return 0;
}
