/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "kube-informer.h"
#include "kube-private.h"
#include "macros.h"

struct kube_informer {
        struct kube_client *client;
        const struct kube_resource *resource;
        char *namespace;
        char *label_selector;
        char *field_selector;
        struct kube_informer_handlers handlers;
        json_t *(*transform)(const json_t *object, void *userdata);
        void (*on_error)(const struct kube_resource *resource,
                         enum kube_informer_operation operation, int error,
                         const struct kube_status *status, void *userdata);
        bool trigger_only;
        long watch_timeout_seconds;
        int64_t backoff_base_ms;
        int64_t backoff_max_ms;
        long list_page_size;

        pthread_t thread;
        bool started;
        bool stopping; /* under lock */
        struct kube_cancel cancel;

        pthread_mutex_t lock; /* cache, resource_version, synced, stats, stopping */
        pthread_cond_t cond;  /* synced / stopping changes; CLOCK_MONOTONIC */
        json_t *cache;        /* "ns/name" -> object */
        char resource_version[128];
        bool synced;
        int last_error; /* since the last successful list; 0: none */
        struct kube_status last_status;
        struct kube_informer_stats stats;
};

int kube_object_key(const json_t *object, char **ret_key)
{
        const char *name = kube_object_name(object);
        const char *ns = kube_object_namespace(object);
        if (!name)
                return -EINVAL;
        int r = ns && ns[0] ? asprintf(ret_key, "%s/%s", ns, name) : asprintf(ret_key, "%s", name);
        return r < 0 ? -ENOMEM : 0;
}

static char *dup_opt(const char *s, bool *failed)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *failed = true;
        return d;
}

int kube_informer_new(struct kube_client *client, const struct kube_informer_options *options,
                      struct kube_informer **ret_informer)
{
        if (!client || !options || !options->resource || !ret_informer)
                return -EINVAL;
        struct kube_informer *inf = calloc(1, sizeof(*inf));
        if (!inf)
                return -ENOMEM;
        bool failed = false;
        inf->client = client;
        inf->resource = options->resource;
        inf->namespace = dup_opt(options->namespace, &failed);
        inf->label_selector = dup_opt(options->label_selector, &failed);
        inf->field_selector = dup_opt(options->field_selector, &failed);
        inf->handlers = options->handlers;
        inf->transform = options->transform;
        inf->on_error = options->on_error;
        inf->trigger_only = options->trigger_only;
        inf->watch_timeout_seconds = options->watch_timeout_seconds;
        inf->backoff_base_ms = options->backoff_base_ms > 0 ? options->backoff_base_ms : 200;
        inf->backoff_max_ms = options->backoff_max_ms > 0 ? options->backoff_max_ms : 30000;
        inf->list_page_size = options->list_page_size;
        inf->cache = json_object();
        pthread_mutex_init(&inf->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&inf->cond, &attr);
        pthread_condattr_destroy(&attr);
        if (failed || !inf->cache) {
                kube_informer_free(inf);
                return -ENOMEM;
        }
        *ret_informer = inf;
        return 0;
}

void kube_informer_free(struct kube_informer *inf)
{
        if (!inf)
                return;
        kube_informer_stop(inf);
        json_decref(inf->cache);
        free(inf->namespace);
        free(inf->label_selector);
        free(inf->field_selector);
        pthread_mutex_destroy(&inf->lock);
        pthread_cond_destroy(&inf->cond);
        free(inf);
}

static bool is_stopping(struct kube_informer *inf)
{
        pthread_mutex_lock(&inf->lock);
        bool s = inf->stopping;
        pthread_mutex_unlock(&inf->lock);
        return s;
}

/* Sleep up to ms, waking early on stop.  Returns true when stopping. */
static bool sleep_unless_stopped(struct kube_informer *inf, int64_t ms)
{
        int64_t deadline = clock_monotonic_ms() + ms;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                              .tv_nsec = (long)(deadline % 1000) * 1000000L};
        pthread_mutex_lock(&inf->lock);
        while (!inf->stopping && clock_monotonic_ms() < deadline)
                pthread_cond_timedwait(&inf->cond, &inf->lock, &ts);
        bool s = inf->stopping;
        pthread_mutex_unlock(&inf->lock);
        return s;
}

static void set_resource_version_locked(struct kube_informer *inf, const char *rv)
{
        if (rv && rv[0])
                snprintf(inf->resource_version, sizeof(inf->resource_version), "%s", rv);
}

static bool same_resource_version(const json_t *a, const json_t *b)
{
        const char *ra = kube_object_resource_version(a);
        const char *rb = kube_object_resource_version(b);
        return ra && rb && strcmp(ra, rb) == 0;
}

/* What the cache keeps of an object (the transform's result, or the object). */
static json_t *kept_form(struct kube_informer *inf, const json_t *object)
{
        if (!inf->transform)
                return json_incref((json_t *)object);
        return inf->transform(object, inf->handlers.userdata);
}

json_t *kube_object_metadata_only(const json_t *object, void *userdata)
{
        static const char *const kept_metadata[] = {
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "deletionTimestamp",
                "finalizers",
                "labels",
                "ownerReferences",
        };
        json_t *metadata = json_object_get(object, "metadata");
        json_t *slim_metadata = json_object();
        json_t *slim =
                json_pack("{s:O*, s:O*, s:o}", "apiVersion", json_object_get(object, "apiVersion"),
                          "kind", json_object_get(object, "kind"), "metadata", slim_metadata);
        if (!slim)
                return NULL;
        for (size_t i = 0; i < sizeof(kept_metadata) / sizeof(kept_metadata[0]); i++) {
                json_t *value = json_object_get(metadata, kept_metadata[i]);
                if (value)
                        json_object_set(slim_metadata, kept_metadata[i], value);
        }
        return slim;
}

/* Watch objects carry apiVersion/kind; relisted items got them from kube_list. */
static int on_watch_event(enum kube_watch_event_type type, json_t *object, void *userdata)
{
        struct kube_informer *inf = userdata;
        if (type == KUBE_WATCH_ERROR)
                return 0; /* kube_watch turns it into its return value */
        const char *rv = kube_object_resource_version(object);
        if (type == KUBE_WATCH_BOOKMARK) {
                pthread_mutex_lock(&inf->lock);
                set_resource_version_locked(inf, rv);
                pthread_mutex_unlock(&inf->lock);
                return 0;
        }
        _cleanup_free_ char *key = NULL;
        if (kube_object_key(object, &key) < 0)
                return 0; /* nameless object: nothing to cache */
        _cleanup_json_ json_t *kept = kept_form(inf, object);
        if (!kept)
                return 0;
        object = kept;

        if (inf->trigger_only) {
                pthread_mutex_lock(&inf->lock);
                set_resource_version_locked(inf, rv);
                inf->stats.events++;
                pthread_mutex_unlock(&inf->lock);
                const struct kube_informer_handlers *h = &inf->handlers;
                if (type == KUBE_WATCH_DELETED) {
                        if (h->on_delete)
                                h->on_delete(object, h->userdata);
                } else if (h->on_add) {
                        h->on_add(object, h->userdata);
                }
                return is_stopping(inf) ? KUBE_ERR_CANCELLED : 0;
        }

        json_t *old = NULL;
        bool duplicate = false;
        pthread_mutex_lock(&inf->lock);
        old = json_incref(json_object_get(inf->cache, key));
        if (type == KUBE_WATCH_DELETED) {
                if (old)
                        json_object_del(inf->cache, key);
                else
                        duplicate = true; /* deletion already synthesised by a relist */
        } else if (old && same_resource_version(old, object)) {
                duplicate = true; /* replayed after a reconnect */
        } else {
                json_object_set(inf->cache, key, object);
        }
        set_resource_version_locked(inf, rv);
        if (duplicate)
                inf->stats.duplicates++;
        else
                inf->stats.events++;
        pthread_mutex_unlock(&inf->lock);

        const struct kube_informer_handlers *h = &inf->handlers;
        if (!duplicate) {
                if (type == KUBE_WATCH_DELETED) {
                        if (h->on_delete)
                                h->on_delete(object, h->userdata);
                } else if (old) {
                        if (h->on_update)
                                h->on_update(old, object, h->userdata);
                } else if (h->on_add) {
                        h->on_add(object, h->userdata);
                }
        }
        json_decref(old);
        return is_stopping(inf) ? KUBE_ERR_CANCELLED : 0;
}

/*
 * Replace the cache with a fresh list and tell handlers what changed since
 * the previous state: adds, updates (resourceVersion differs) and deletes
 * for objects that vanished while we were not watching.
 */
/* Trigger-only relist: no state to diff against, so every object triggers. */
static int relist_triggers(struct kube_informer *inf, json_t *list)
{
        pthread_mutex_lock(&inf->lock);
        set_resource_version_locked(
                inf, json_string_value(json_object_get(json_object_get(list, "metadata"),
                                                       "resourceVersion")));
        inf->stats.lists++;
        inf->synced = true;
        inf->last_error = 0;
        pthread_cond_broadcast(&inf->cond);
        pthread_mutex_unlock(&inf->lock);

        const struct kube_informer_handlers *h = &inf->handlers;
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(list, "items"), i, item) {
                _cleanup_json_ json_t *kept = kept_form(inf, item);
                if (kept && h->on_add)
                        h->on_add(kept, h->userdata);
        }
        return 0;
}

static int replace_cache(struct kube_informer *inf, json_t *list)
{
        if (inf->trigger_only)
                return relist_triggers(inf, list);
        _cleanup_json_ json_t *fresh = json_object();
        _cleanup_json_ json_t *added = json_array();
        _cleanup_json_ json_t *updated = json_array(); /* [old, new] pairs */
        _cleanup_json_ json_t *deleted = json_array();
        if (!fresh || !added || !updated || !deleted)
                return -ENOMEM;
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(list, "items"), i, item) {
                _cleanup_free_ char *key = NULL;
                if (kube_object_key(item, &key) < 0)
                        continue;
                json_t *kept = kept_form(inf, item);
                if (!kept || json_object_set_new(fresh, key, kept) < 0)
                        return -ENOMEM;
        }

        pthread_mutex_lock(&inf->lock);
        const char *key;
        json_t *value;
        json_object_foreach (fresh, key, value) {
                json_t *old = json_object_get(inf->cache, key);
                if (!old)
                        json_array_append(added, value);
                else if (!same_resource_version(old, value))
                        json_array_append_new(updated, json_pack("[OO]", old, value));
        }
        json_object_foreach (inf->cache, key, value) {
                if (!json_object_get(fresh, key))
                        json_array_append(deleted, value);
        }
        json_t *previous = inf->cache;
        inf->cache = json_incref(fresh);
        set_resource_version_locked(
                inf, json_string_value(json_object_get(json_object_get(list, "metadata"),
                                                       "resourceVersion")));
        inf->stats.lists++;
        inf->synced = true;
        inf->last_error = 0;
        pthread_cond_broadcast(&inf->cond);
        pthread_mutex_unlock(&inf->lock);
        json_decref(previous);

        const struct kube_informer_handlers *h = &inf->handlers;
        json_array_foreach (deleted, i, item) {
                if (h->on_delete)
                        h->on_delete(item, h->userdata);
        }
        json_array_foreach (updated, i, item) {
                if (h->on_update)
                        h->on_update(json_array_get(item, 0), json_array_get(item, 1), h->userdata);
        }
        json_array_foreach (added, i, item) {
                if (h->on_add)
                        h->on_add(item, h->userdata);
        }
        return 0;
}

static long random_watch_timeout(void)
{
        uint32_t r = 0;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint32_t)clock();
        return 300 + (long)(r % 300);
}

/* Count a failed list or watch, remember it and tell on_error (unless it was
 * our own stop that ended it). */
static void count_error(struct kube_informer *inf, enum kube_informer_operation operation, int r,
                        const struct kube_status *status)
{
        pthread_mutex_lock(&inf->lock);
        bool stopping = inf->stopping;
        if (r == KUBE_ERR_GONE) {
                inf->stats.gone++;
        } else {
                inf->stats.errors++;
                if (!stopping) {
                        inf->last_error = r;
                        inf->last_status = *status;
                }
        }
        pthread_mutex_unlock(&inf->lock);
        if (!stopping && inf->on_error)
                inf->on_error(inf->resource, operation, r, status, inf->handlers.userdata);
}

static void *informer_thread(void *userdata)
{
        struct kube_informer *inf = userdata;
        bool need_list = true;
        unsigned attempt = 0;
        /* Bounded by stop(): every iteration either makes a request or
         * sleeps, and both end when stopping is set. */
        while (!is_stopping(inf)) {
                int r;
                if (need_list) {
                        _cleanup_json_ json_t *list = NULL;
                        struct kube_status status = {0};
                        r = kube_list(inf->client, inf->resource,
                                      &(struct kube_list_options){
                                              .namespace = inf->namespace,
                                              .label_selector = inf->label_selector,
                                              .field_selector = inf->field_selector,
                                              .limit = inf->list_page_size,
                                              .cancel = &inf->cancel,
                                      },
                                      &list, &status);
                        if (r < 0) {
                                count_error(inf, KUBE_INFORMER_LIST, r, &status);
                                if (sleep_unless_stopped(inf, kube_backoff_ms(inf->backoff_base_ms,
                                                                              inf->backoff_max_ms,
                                                                              attempt++)))
                                        break;
                                continue;
                        }
                        if (replace_cache(inf, list) < 0) {
                                sleep_unless_stopped(inf, inf->backoff_base_ms);
                                continue;
                        }
                        need_list = false;
                        attempt = 0;
                }

                char rv[128];
                pthread_mutex_lock(&inf->lock);
                snprintf(rv, sizeof(rv), "%s", inf->resource_version);
                inf->stats.watches++;
                pthread_mutex_unlock(&inf->lock);
                int64_t started = clock_monotonic_ms();
                struct kube_status status = {0};
                r = kube_watch(inf->client, inf->resource,
                               &(struct kube_watch_options){
                                       .namespace = inf->namespace,
                                       .label_selector = inf->label_selector,
                                       .field_selector = inf->field_selector,
                                       .resource_version = rv,
                                       .allow_bookmarks = true,
                                       .timeout_seconds = inf->watch_timeout_seconds > 0
                                                                  ? inf->watch_timeout_seconds
                                                                  : random_watch_timeout(),
                                       .cancel = &inf->cancel,
                               },
                               on_watch_event, inf, &status);
                if (is_stopping(inf))
                        break;
                if (r == 0) {
                        /* Normal end (timeoutSeconds): resume right away. */
                        attempt = 0;
                        continue;
                }
                count_error(inf, KUBE_INFORMER_WATCH, r, &status);
                if (r == KUBE_ERR_GONE) {
                        /* Our resume point left the server's window: relist. */
                        need_list = true;
                        continue;
                }
                /* A watch that ran a while before failing resets the backoff:
                 * it was a cut connection, not a server that is away. */
                if (clock_monotonic_ms() - started > 10000)
                        attempt = 0;
                if (sleep_unless_stopped(inf, kube_backoff_ms(inf->backoff_base_ms,
                                                              inf->backoff_max_ms, attempt++)))
                        break;
        }
        return NULL;
}

int kube_informer_start(struct kube_informer *inf)
{
        if (!inf)
                return -EINVAL;
        if (inf->started)
                return -EALREADY;
        inf->stopping = false;
        kube_cancel_reset(&inf->cancel);
        int r = pthread_create(&inf->thread, NULL, informer_thread, inf);
        if (r != 0)
                return -r;
        inf->started = true;
        return 0;
}

void kube_informer_stop(struct kube_informer *inf)
{
        if (!inf || !inf->started)
                return;
        pthread_mutex_lock(&inf->lock);
        inf->stopping = true;
        pthread_cond_broadcast(&inf->cond);
        pthread_mutex_unlock(&inf->lock);
        kube_cancel(&inf->cancel);
        pthread_join(inf->thread, NULL);
        inf->started = false;
}

bool kube_informer_has_synced(struct kube_informer *inf)
{
        pthread_mutex_lock(&inf->lock);
        bool s = inf->synced;
        pthread_mutex_unlock(&inf->lock);
        return s;
}

int kube_informer_wait_for_sync(struct kube_informer *inf, int64_t timeout_ms)
{
        int64_t deadline = clock_monotonic_ms() + timeout_ms;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                              .tv_nsec = (long)(deadline % 1000) * 1000000L};
        pthread_mutex_lock(&inf->lock);
        while (!inf->synced && !inf->stopping && clock_monotonic_ms() < deadline)
                pthread_cond_timedwait(&inf->cond, &inf->lock, &ts);
        int r = inf->synced ? 0 : inf->stopping ? KUBE_ERR_CANCELLED : -ETIMEDOUT;
        pthread_mutex_unlock(&inf->lock);
        return r;
}

int kube_informer_last_error(struct kube_informer *inf, struct kube_status *ret_status)
{
        pthread_mutex_lock(&inf->lock);
        int r = inf->last_error;
        if (r != 0 && ret_status)
                *ret_status = inf->last_status;
        pthread_mutex_unlock(&inf->lock);
        return r;
}

int kube_informer_get(struct kube_informer *inf, const char *namespace, const char *name,
                      json_t **ret_object)
{
        if (inf && inf->trigger_only)
                return -EOPNOTSUPP;
        if (!inf || !name || !ret_object)
                return -EINVAL;
        _cleanup_free_ char *key = NULL;
        int r = namespace && namespace[0] ? asprintf(&key, "%s/%s", namespace, name)
                                          : asprintf(&key, "%s", name);
        if (r < 0)
                return -ENOMEM;
        pthread_mutex_lock(&inf->lock);
        json_t *o = json_incref(json_object_get(inf->cache, key));
        pthread_mutex_unlock(&inf->lock);
        if (!o)
                return KUBE_ERR_NOT_FOUND;
        *ret_object = o;
        return 0;
}

static int compare_keys(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int kube_informer_list(struct kube_informer *inf, const char *namespace, json_t **ret_objects)
{
        if (inf && inf->trigger_only)
                return -EOPNOTSUPP;
        if (!inf || !ret_objects)
                return -EINVAL;
        _cleanup_json_ json_t *result = json_array();
        if (!result)
                return -ENOMEM;
        pthread_mutex_lock(&inf->lock);
        size_t n = json_object_size(inf->cache);
        const char **keys = calloc(n + 1, sizeof(char *));
        if (!keys) {
                pthread_mutex_unlock(&inf->lock);
                return -ENOMEM;
        }
        size_t count = 0;
        const char *key;
        json_t *value;
        json_object_foreach (inf->cache, key, value) {
                const char *ns = kube_object_namespace(value);
                if (namespace && (!ns || strcmp(ns, namespace) != 0))
                        continue;
                keys[count++] = key;
        }
        qsort(keys, count, sizeof(char *), compare_keys);
        for (size_t i = 0; i < count; i++)
                json_array_append(result, json_object_get(inf->cache, keys[i]));
        pthread_mutex_unlock(&inf->lock);
        free(keys);
        *ret_objects = TAKE_PTR(result);
        return 0;
}

int kube_informer_resource_version(struct kube_informer *inf, char *buf, size_t size)
{
        pthread_mutex_lock(&inf->lock);
        int n = snprintf(buf, size, "%s", inf->resource_version);
        pthread_mutex_unlock(&inf->lock);
        return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *ret_stats)
{
        pthread_mutex_lock(&inf->lock);
        *ret_stats = inf->stats;
        pthread_mutex_unlock(&inf->lock);
}
