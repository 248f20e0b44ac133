/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kube-events.h"
#include "kube-private.h"
#include "macros.h"

#define MAX_MESSAGE 1024

struct kube_event_recorder {
        struct kube_client *client;
        char *component;
        char *host;
        char *instance;
        int64_t window_ms;
        unsigned max_cached;
        /*
         * One lock around the whole record call: it keeps two threads from
         * creating twin Events for the same repeat.  Events are rare enough
         * that serialising them costs nothing noticeable.
         */
        pthread_mutex_t lock;
        json_t *seen; /* aggregation key -> {name, namespace, count, seen_ms} */
};

int kube_event_recorder_new(struct kube_client *client,
                            const struct kube_event_recorder_options *options,
                            struct kube_event_recorder **ret_recorder)
{
        if (!client || !options || !options->component || !options->component[0] || !ret_recorder)
                return -EINVAL;
        struct kube_event_recorder *rec = calloc(1, sizeof(*rec));
        if (!rec)
                return -ENOMEM;
        rec->client = client;
        rec->component = strdup(options->component);
        rec->host = options->host ? strdup(options->host) : NULL;
        rec->instance = strdup(options->instance ? options->instance : options->component);
        rec->window_ms =
                options->aggregation_window_ms > 0 ? options->aggregation_window_ms : 600000;
        rec->max_cached = options->max_cached > 0 ? options->max_cached : 4096;
        rec->seen = json_object();
        pthread_mutex_init(&rec->lock, NULL);
        if (!rec->component || !rec->instance || !rec->seen || (options->host && !rec->host)) {
                kube_event_recorder_free(rec);
                return -ENOMEM;
        }
        *ret_recorder = rec;
        return 0;
}

void kube_event_recorder_free(struct kube_event_recorder *rec)
{
        if (!rec)
                return;
        free(rec->component);
        free(rec->host);
        free(rec->instance);
        json_decref(rec->seen);
        pthread_mutex_destroy(&rec->lock);
        free(rec);
}

/* Locked.  Forget entries past the window; if still too many, forget all. */
static void trim_cache(struct kube_event_recorder *rec, int64_t now)
{
        if (json_object_size(rec->seen) < rec->max_cached)
                return;
        const char *key;
        json_t *value, *tmp;
        json_object_foreach_safe (rec->seen, tmp, key, value) {
                if (now - json_integer_value(json_object_get(value, "seen_ms")) > rec->window_ms)
                        json_object_del(rec->seen, key);
        }
        if (json_object_size(rec->seen) >= rec->max_cached)
                json_object_clear(rec->seen);
}

static int create_event(struct kube_event_recorder *rec, const json_t *object, const char *ns,
                        const char *type, const char *reason, const char *message, const char *now,
                        json_t **ret_created, struct kube_status *status)
{
        const char *name = kube_object_name(object);
        json_t *involved =
                json_pack("{s:s, s:s, s:s}", "apiVersion",
                          json_string_value(json_object_get(object, "apiVersion")), "kind",
                          json_string_value(json_object_get(object, "kind")), "name", name);
        if (!involved)
                return -ENOMEM;
        const char *obj_ns = kube_object_namespace(object);
        if (obj_ns)
                json_object_set_new(involved, "namespace", json_string(obj_ns));
        if (kube_object_uid(object))
                json_object_set_new(involved, "uid", json_string(kube_object_uid(object)));
        if (kube_object_resource_version(object))
                json_object_set_new(involved, "resourceVersion",
                                    json_string(kube_object_resource_version(object)));

        /* Unique name like client-go's: object name + hex nanoseconds. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char event_name[320];
        snprintf(event_name, sizeof(event_name), "%.200s.%llx", name,
                 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);

        _cleanup_json_ json_t *event = json_pack(
                "{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s%, s:s, s:{s:s}, s:s, s:s, s:i, s:s, s:s}",
                "apiVersion", "v1", "kind", "Event", "metadata", "name", event_name, "namespace",
                ns, "involvedObject", involved, "reason", reason, "message", message,
                strnlen(message, MAX_MESSAGE), "type", type, "source", "component", rec->component,
                "firstTimestamp", now, "lastTimestamp", now, "count", 1, "reportingComponent",
                rec->component, "reportingInstance", rec->instance);
        if (!event)
                return -ENOMEM;
        if (rec->host)
                json_object_set_new(json_object_get(event, "source"), "host",
                                    json_string(rec->host));
        return kube_create(rec->client, &KUBE_EVENTS, &(struct kube_write_options){.namespace = ns},
                           event, ret_created, status);
}

int kube_event_record(struct kube_event_recorder *rec, const json_t *object, const char *type,
                      const char *reason, const char *message, unsigned *ret_count,
                      struct kube_status *ret_status)
{
        if (!rec || !object || !type || !reason || !message)
                return -EINVAL;
        const char *name = kube_object_name(object);
        const char *kind = json_string_value(json_object_get(object, "kind"));
        const char *api_version = json_string_value(json_object_get(object, "apiVersion"));
        if (!name || !kind || !api_version)
                return -EINVAL;
        const char *obj_ns = kube_object_namespace(object);
        const char *ns = obj_ns && obj_ns[0] ? obj_ns : "default";
        const char *uid = kube_object_uid(object);

        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%.*s", uid ? uid : "", kind, ns,
                     name, type, reason, MAX_MESSAGE, message) < 0)
                return -ENOMEM;
        char now[32];
        int64_t now_ms = clock_realtime_ms();
        int r = clock_format_rfc3339(now_ms / 1000, now, sizeof(now));
        if (r < 0)
                return r;
        int64_t mono = clock_monotonic_ms();
        /* Declared before any goto: the cleanup must never see it uninitialised. */
        _cleanup_json_ json_t *created = NULL;
        pthread_mutex_lock(&rec->lock);
        json_t *entry = json_object_get(rec->seen, key);
        if (entry &&
            mono - json_integer_value(json_object_get(entry, "seen_ms")) <= rec->window_ms) {
                json_int_t count = json_integer_value(json_object_get(entry, "count")) + 1;
                _cleanup_json_ json_t *patch =
                        json_pack("{s:I, s:s}", "count", count, "lastTimestamp", now);
                r = patch ? kube_patch(rec->client, &KUBE_EVENTS,
                                       &(struct kube_patch_options){
                                               .namespace = ns,
                                               .name = json_string_value(
                                                       json_object_get(entry, "name")),
                                               .type = KUBE_PATCH_MERGE,
                                       },
                                       patch, NULL, ret_status)
                          : -ENOMEM;
                if (r == 0) {
                        json_object_set_new(entry, "count", json_integer(count));
                        json_object_set_new(entry, "seen_ms", json_integer(mono));
                        if (ret_count)
                                *ret_count = (unsigned)count;
                        goto out;
                }
                if (r != KUBE_ERR_NOT_FOUND)
                        goto out;
                /* The Event expired or was deleted: start a new one. */
                json_object_del(rec->seen, key);
        }

        r = create_event(rec, object, ns, type, reason, message, now, &created, ret_status);
        if (r < 0)
                goto out;
        trim_cache(rec, mono);
        json_object_set_new(rec->seen, key,
                            json_pack("{s:s, s:I, s:I}", "name", kube_object_name(created) ?: "",
                                      "count", (json_int_t)1, "seen_ms", (json_int_t)mono));
        if (ret_count)
                *ret_count = 1;
out:
        pthread_mutex_unlock(&rec->lock);
        return r;
}
