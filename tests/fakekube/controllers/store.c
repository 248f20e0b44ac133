/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "macros.h"

static const struct {
        const char *group_path;
        const char *plural;
        bool namespaced;
} kinds[KIND_COUNT] = {
        [KIND_POD] = {"/api/v1", "pods", true},
        [KIND_NODE] = {"/api/v1", "nodes", false},
        [KIND_DEPLOYMENT] = {"/apis/apps/v1", "deployments", true},
        [KIND_REPLICASET] = {"/apis/apps/v1", "replicasets", true},
        [KIND_SERVICE] = {"/api/v1", "services", true},
        [KIND_ENDPOINTS] = {"/api/v1", "endpoints", true},
        [KIND_HPA] = {"/apis/autoscaling/v2", "horizontalpodautoscalers", true},
};

static char collection_paths[KIND_COUNT][96];

const char *kind_collection_path(enum kind kind)
{
        if (!collection_paths[kind][0])
                snprintf(collection_paths[kind], sizeof(collection_paths[kind]), "%s/%s",
                         kinds[kind].group_path, kinds[kind].plural);
        return collection_paths[kind];
}

const char *kind_group_path(enum kind kind)
{
        return kinds[kind].group_path;
}

const char *kind_plural(enum kind kind)
{
        return kinds[kind].plural;
}

bool kind_namespaced(enum kind kind)
{
        return kinds[kind].namespaced;
}

void object_key(const json_t *object, char *buf, size_t size)
{
        const json_t *meta = json_object_get(object, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (ns && *ns)
                snprintf(buf, size, "%s/%s", ns, name ? name : "");
        else
                snprintf(buf, size, "%s", name ? name : "");
}

static unsigned long long resource_version(const json_t *object)
{
        const char *rv = json_string_value(
                json_object_get(json_object_get(object, "metadata"), "resourceVersion"));
        return rv ? strtoull(rv, NULL, 10) : 0;
}

int store_init(struct store *store, const struct kclient_options *client_options, atomic_bool *stop)
{
        *store = (struct store){.client_options = *client_options, .stop = stop};
        pthread_mutex_init(&store->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&store->changed, &attr);
        pthread_condattr_destroy(&attr);
        for (int k = 0; k < KIND_COUNT; k++) {
                store->objects[k] = json_object();
                store->tombstones[k] = json_object();
                if (!store->objects[k] || !store->tombstones[k])
                        return -ENOMEM;
        }
        return 0;
}

static void bump_locked(struct store *store)
{
        store->version++;
        pthread_cond_broadcast(&store->changed);
}

void store_poke(struct store *store)
{
        pthread_mutex_lock(&store->lock);
        bump_locked(store);
        pthread_mutex_unlock(&store->lock);
}

static void apply_locked(struct store *store, enum kind kind, json_t *object)
{
        char key[512];
        object_key(object, key, sizeof(key));
        json_t *old = json_object_get(store->objects[kind], key);
        /*
         * fakekube's resourceVersion is one global counter: never go back in
         * time.  A watch event can be older than what our own write put in the
         * cache, or than our own delete (the tombstone): applying it would
         * resurrect a state the controllers already acted on.
         */
        unsigned long long rv = resource_version(object);
        if (old && resource_version(old) > rv)
                return;
        json_t *tombstone = json_object_get(store->tombstones[kind], key);
        if (tombstone && (unsigned long long)json_integer_value(tombstone) >= rv)
                return;
        json_object_del(store->tombstones[kind], key);
        json_object_set(store->objects[kind], key, object);
        bump_locked(store);
}

void store_apply(struct store *store, enum kind kind, json_t *object)
{
        if (!json_is_object(object) || !json_object_get(object, "metadata"))
                return;
        pthread_mutex_lock(&store->lock);
        apply_locked(store, kind, object);
        pthread_mutex_unlock(&store->lock);
}

void store_forget(struct store *store, enum kind kind, const json_t *object)
{
        char key[512];
        object_key(object, key, sizeof(key));
        pthread_mutex_lock(&store->lock);
        json_t *old = json_object_get(store->objects[kind], key);
        if (old) {
                json_object_set_new(store->tombstones[kind], key,
                                    json_integer((json_int_t)resource_version(old)));
                json_object_del(store->objects[kind], key);
                bump_locked(store);
        }
        pthread_mutex_unlock(&store->lock);
}

json_t *store_snapshot(struct store *store, enum kind kind)
{
        pthread_mutex_lock(&store->lock);
        json_t *copy = json_copy(store->objects[kind]);
        pthread_mutex_unlock(&store->lock);
        return copy ? copy : json_object();
}

bool store_synced(struct store *store, const bool want[KIND_COUNT])
{
        bool ok = true;
        pthread_mutex_lock(&store->lock);
        for (int k = 0; k < KIND_COUNT; k++)
                if (want[k] && !store->synced[k])
                        ok = false;
        pthread_mutex_unlock(&store->lock);
        return ok;
}

void store_wait(struct store *store, uint64_t *seen, int64_t timeout_ms)
{
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&store->lock);
        while (store->version == *seen && !atomic_load(store->stop))
                if (pthread_cond_timedwait(&store->changed, &store->lock, &deadline) != 0)
                        break;
        *seen = store->version;
        pthread_mutex_unlock(&store->lock);
}

struct informer {
        struct store *store;
        enum kind kind;
        char resource_version[64];
        bool gone; /* 410: relist */
};

static void on_event(const char *type, json_t *object, void *userdata)
{
        struct informer *inf = userdata;
        struct store *store = inf->store;
        const char *rv = json_string_value(
                json_object_get(json_object_get(object, "metadata"), "resourceVersion"));
        if (strcmp(type, "ERROR") == 0) {
                inf->gone = true;
                return;
        }
        if (rv)
                snprintf(inf->resource_version, sizeof(inf->resource_version), "%s", rv);
        if (strcmp(type, "BOOKMARK") == 0)
                return;
        pthread_mutex_lock(&store->lock);
        if (strcmp(type, "DELETED") == 0) {
                char key[512];
                object_key(object, key, sizeof(key));
                json_object_del(store->objects[inf->kind], key);
                json_object_del(store->tombstones[inf->kind], key);
                bump_locked(store);
        } else {
                apply_locked(store, inf->kind, object);
        }
        pthread_mutex_unlock(&store->lock);
}

static void sleep_unless_stopped(struct store *store, int64_t ms)
{
        for (int64_t waited = 0; waited < ms && !atomic_load(store->stop); waited += 50)
                nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
}

static int relist(struct informer *inf, struct kclient *client)
{
        struct store *store = inf->store;
        _cleanup_json_ json_t *list = NULL;
        long status = 0;
        int r = kclient_request(client, "GET", kind_collection_path(inf->kind), NULL, NULL, &status,
                                &list);
        if (r < 0)
                return r;
        if (status != 200 || !json_is_array(json_object_get(list, "items")))
                return -EPROTO;
        const char *rv = json_string_value(
                json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
        snprintf(inf->resource_version, sizeof(inf->resource_version), "%s", rv ? rv : "");
        json_t *map = json_object();
        if (!map)
                return -ENOMEM;
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(list, "items"), i, item) {
                char key[512];
                object_key(item, key, sizeof(key));
                json_object_set(map, key, item);
        }
        pthread_mutex_lock(&store->lock);
        json_decref(store->objects[inf->kind]);
        store->objects[inf->kind] = map;
        json_object_clear(store->tombstones[inf->kind]);
        store->synced[inf->kind] = true;
        bump_locked(store);
        pthread_mutex_unlock(&store->lock);
        return 0;
}

static void *informer_thread(void *userdata)
{
        struct informer *inf = userdata;
        struct store *store = inf->store;
        _cleanup_(kclient_freep) struct kclient *client = NULL;
        if (kclient_new(&store->client_options, &client) < 0) {
                log_error("fakekube controllers: cannot create an API client");
                free(inf);
                return NULL;
        }
        bool need_list = true;
        int failures = 0;
        while (!atomic_load(store->stop)) {
                if (need_list) {
                        int r = relist(inf, client);
                        if (r < 0) {
                                if (++failures % 50 == 1)
                                        log_emit(LOG_LEVEL_WARN,
                                                 json_pack("{ss si}", "resource",
                                                           kind_plural(inf->kind), "error", r),
                                                 "fakekube controllers: list failed, retrying");
                                sleep_unless_stopped(store, 200);
                                continue;
                        }
                        need_list = false;
                }
                char path[256];
                snprintf(path, sizeof(path),
                         "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion=%s",
                         kind_collection_path(inf->kind), inf->resource_version);
                inf->gone = false;
                long status = 0;
                int r = kclient_watch(client, path, on_event, inf, &status);
                if (r == -ECANCELED)
                        break;
                if (r < 0 || status != 200 || inf->gone) {
                        need_list = true;
                        if (!inf->gone)
                                sleep_unless_stopped(store, 100);
                }
                failures = 0;
        }
        free(inf);
        return NULL;
}

int store_start(struct store *store, const bool want[KIND_COUNT])
{
        for (int k = 0; k < KIND_COUNT; k++) {
                if (!want[k])
                        continue;
                struct informer *inf = calloc(1, sizeof(*inf));
                if (!inf)
                        return -ENOMEM;
                inf->store = store;
                inf->kind = k;
                int r = pthread_create(&store->threads[k], NULL, informer_thread, inf);
                if (r != 0) {
                        free(inf);
                        return -r;
                }
                store->running[k] = true;
        }
        return 0;
}

void store_finish(struct store *store)
{
        for (int k = 0; k < KIND_COUNT; k++) {
                if (store->running[k])
                        pthread_join(store->threads[k], NULL);
                store->running[k] = false;
                json_decref(store->objects[k]);
                store->objects[k] = NULL;
                json_decref(store->tombstones[k]);
                store->tombstones[k] = NULL;
        }
        pthread_cond_destroy(&store->changed);
        pthread_mutex_destroy(&store->lock);
}
