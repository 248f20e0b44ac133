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

int db_init(struct server *s)
{
        s->buckets = json_object();
        s->ring = calloc(s->options.watch_window, sizeof(*s->ring));
        if (!s->buckets || !s->ring)
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
        json_object_del(bucket, key);
        push_event(s, "DELETED", t->storage_key, last, NULL);
        json_decref(last);
}

json_t *db_find_uid(struct server *s, const char *uid, struct resource_type **ret_type)
{
        const char *bucket_key;
        json_t *bucket;
        json_object_foreach (s->buckets, bucket_key, bucket) {
                const char *k;
                json_t *obj;
                json_object_foreach (bucket, k, obj) {
                        const char *u = json_string_value(
                                json_object_get(json_object_get(obj, "metadata"), "uid"));
                        if (u && strcmp(u, uid) == 0) {
                                if (ret_type) {
                                        *ret_type = NULL;
                                        for (size_t i = 0; i < s->n_types; i++)
                                                if (strcmp(s->types[i]->storage_key, bucket_key) ==
                                                            0 &&
                                                    !s->types[i]->removed) {
                                                        *ret_type = s->types[i];
                                                        break;
                                                }
                                }
                                return obj;
                        }
                }
        }
        return NULL;
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
