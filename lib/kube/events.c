/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kube-events.h"
#include "kube-private.h"
#include "macros.h"

#define MAX_MESSAGE 1024

/*
 * What the recorder remembers of one Event it wrote: a digest of the
 * aggregation key (object uid, kind, namespace, name, type, reason, message)
 * instead of the key itself, so that the cache costs ~50 bytes an Event in one
 * array, not a hash table of long strings (at 1,000 TripDeals that table was
 * the largest thing in the operator's heap, and its churn fragmented it).
 */
struct remembered_event {
        unsigned char digest[16]; /* first 128 bits of SHA-256(key) */
        int64_t seen_ms;          /* monotonic; 0: free slot */
        uint32_t count;
        char *name; /* the Event's metadata.name */
};

struct kube_event_recorder {
        struct kube_client *client;
        char *component;
        char *host;
        char *instance;
        int64_t window_ms;
        /*
         * One lock around the whole record call: it keeps two threads from
         * creating twin Events for the same repeat.  Events are rare enough
         * that serialising them costs nothing noticeable.
         */
        pthread_mutex_t lock;
        /* max_cached slots, allocated on first use; looked up by a scan (a
         * few thousand 16-byte compares per Event, under the lock). */
        struct remembered_event *seen;
        unsigned max_cached;
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
        pthread_mutex_init(&rec->lock, NULL);
        if (!rec->component || !rec->instance || (options->host && !rec->host)) {
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
        for (unsigned i = 0; rec->seen && i < rec->max_cached; i++)
                free(rec->seen[i].name);
        free(rec->seen);
        pthread_mutex_destroy(&rec->lock);
        free(rec);
}

/*
 * Locked.  The remembered Event with this digest still inside the window, or
 * NULL; *ret_slot is where a new one goes (a free slot, else the one seen
 * longest ago).
 */
static struct remembered_event *remembered_find(struct kube_event_recorder *rec,
                                                const unsigned char digest[16], int64_t now,
                                                struct remembered_event **ret_slot)
{
        struct remembered_event *slot = NULL;
        for (unsigned i = 0; i < rec->max_cached; i++) {
                struct remembered_event *e = &rec->seen[i];
                bool live = e->seen_ms != 0 && now - e->seen_ms <= rec->window_ms;
                if (live && memcmp(e->digest, digest, 16) == 0)
                        return e;
                /* Free slots (seen_ms 0) first, then the oldest: expired ones are older
                 * than any live one. */
                if (!slot || e->seen_ms < slot->seen_ms)
                        slot = e;
        }
        *ret_slot = slot;
        return NULL;
}

static int key_digest(const char *key, unsigned char digest[16])
{
        unsigned char full[EVP_MAX_MD_SIZE];
        unsigned length = 0;
        if (EVP_Digest(key, strlen(key), full, &length, EVP_sha256(), NULL) != 1 || length < 16)
                return -ENOMEM;
        memcpy(digest, full, 16);
        return 0;
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
        unsigned char digest[16];
        if ((r = key_digest(key, digest)) < 0)
                return r;
        /* Never 0: that marks a free slot. */
        int64_t mono = clock_monotonic_ms() | 1;
        /* Declared before any goto: the cleanup must never see it uninitialised. */
        _cleanup_json_ json_t *created = NULL;
        pthread_mutex_lock(&rec->lock);
        if (!rec->seen && !(rec->seen = calloc(rec->max_cached, sizeof(*rec->seen)))) {
                r = -ENOMEM;
                goto out;
        }
        struct remembered_event *slot = NULL;
        struct remembered_event *entry = remembered_find(rec, digest, mono, &slot);
        if (entry) {
                uint32_t count = entry->count + 1;
                _cleanup_json_ json_t *patch =
                        json_pack("{s:I, s:s}", "count", (json_int_t)count, "lastTimestamp", now);
                r = patch ? kube_patch(rec->client, &KUBE_EVENTS,
                                       &(struct kube_patch_options){
                                               .namespace = ns,
                                               .name = entry->name,
                                               .type = KUBE_PATCH_MERGE,
                                       },
                                       patch, NULL, ret_status)
                          : -ENOMEM;
                if (r == 0) {
                        entry->count = count;
                        entry->seen_ms = mono;
                        if (ret_count)
                                *ret_count = count;
                        goto out;
                }
                if (r != KUBE_ERR_NOT_FOUND)
                        goto out;
                /* The Event expired or was deleted: start a new one in its place. */
                slot = entry;
        }

        r = create_event(rec, object, ns, type, reason, message, now, &created, ret_status);
        if (r < 0)
                goto out;
        char *event_name = strdup(kube_object_name(created) ?: "");
        if (!event_name) {
                /* The Event exists; only its future repeats will not fold into it. */
                r = 0;
        } else {
                free(slot->name);
                *slot = (struct remembered_event){.seen_ms = mono, .count = 1, .name = event_name};
                memcpy(slot->digest, digest, 16);
        }
        if (ret_count)
                *ret_count = 1;
out:
        pthread_mutex_unlock(&rec->lock);
        return r;
}
