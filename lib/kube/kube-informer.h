/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Informer: keeps a local, thread-safe cache of one resource (optionally one
 * namespace and selectors) by list + watch, and tells handlers about every
 * change.
 *
 *  - Starts with a list, then watches from the list's resourceVersion with
 *    bookmarks; every event and bookmark advances the resume point.
 *  - Watch ends (server timeout, connection cut, server restart): watch again
 *    from the last resourceVersion, with jittered exponential backoff while
 *    the server is unreachable.
 *  - 410 Gone (resume point too old): list again and reconcile the cache:
 *    objects that vanished get on_delete, objects whose resourceVersion
 *    changed get on_update, new ones on_add; unchanged ones get nothing.
 *    Events already seen (same resourceVersion as the cache) are dropped, so
 *    handlers see each change once even across reconnects.
 *
 * Threading: one internal thread runs list/watch and calls the handlers, one
 * at a time, in order, without holding the cache lock (handlers may call
 * kube_informer_get/list).  Handlers must not block for long.
 *
 * Ownership: objects given to handlers are borrowed for the call (incref to
 * keep).  kube_informer_get/list return new references to the cached
 * objects, which are shared and must be treated as read-only (deep-copy to
 * modify).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kube.h"

struct kube_informer_handlers {
        void (*on_add)(json_t *object, void *userdata);
        void (*on_update)(json_t *old_object, json_t *new_object, void *userdata);
        /* object: the last state seen (from the DELETED event or the cache). */
        void (*on_delete)(json_t *object, void *userdata);
        void *userdata;
};

enum kube_informer_operation {
        KUBE_INFORMER_LIST,
        KUBE_INFORMER_WATCH,
};

struct kube_informer_options {
        const struct kube_resource *resource; /* required; borrowed for the informer's life */
        const char *namespace;                /* NULL: all namespaces (copied) */
        const char *label_selector;           /* copied */
        const char *field_selector;           /* copied */
        struct kube_informer_handlers handlers;
        /*
         * Optional, like client-go's SetTransform: what to keep of each listed
         * or watched object, before it is cached and handed to the handlers.
         * Returns a new reference (NULL: out of memory; the object is
         * skipped); `object` is borrowed.  Called with handlers.userdata.
         * kube_object_metadata_only() keeps what a trigger-only cache needs.
         */
        json_t *(*transform)(const json_t *object, void *userdata);
        /*
         * Trigger only: keep no cache at all, for informers whose only job is
         * to wake something up.  Every listed object (initial list and every
         * relist) and every ADDED/MODIFIED event goes to on_add; DELETED to
         * on_delete; on_update is never called and events are not
         * de-duplicated.  kube_informer_get/list return -EOPNOTSUPP.
         */
        bool trigger_only;
        /*
         * Optional: told about every failed list or watch (not those ended by
         * kube_informer_stop), with the error and its details (HTTP code,
         * metav1.Status reason and message, or the transport's error), so
         * the program can log the real cause (401, certificate check, ...)
         * while the informer keeps retrying with backoff.  Called from the
         * informer's thread with handlers.userdata.
         */
        void (*on_error)(const struct kube_resource *resource,
                         enum kube_informer_operation operation, int error,
                         const struct kube_status *status, void *userdata);
        /* Server-side watch timeout; 0: random in [300, 600) s like client-go. */
        long watch_timeout_seconds;
        int64_t backoff_base_ms; /* 0: 200 ms */
        int64_t backoff_max_ms;  /* 0: 30 s */
        long list_page_size;     /* 0: 500 */
};

struct kube_informer_stats {
        uint64_t lists;      /* successful lists (initial + relists) */
        uint64_t watches;    /* watch requests started */
        uint64_t gone;       /* 410 Gone answers (each leads to a relist) */
        uint64_t errors;     /* failed lists/watches (transport, 5xx, ...) */
        uint64_t events;     /* watch events applied */
        uint64_t duplicates; /* watch events dropped as already seen */
};

struct kube_informer;

/* client is borrowed and must outlive the informer. */
int kube_informer_new(struct kube_client *client, const struct kube_informer_options *options,
                      struct kube_informer **ret_informer);
/* Start the list/watch thread.  -EALREADY when started. */
int kube_informer_start(struct kube_informer *informer);
/* Stop and join the thread (cancels the running list or watch at once).
 * Idempotent; call from one thread at a time. */
void kube_informer_stop(struct kube_informer *informer);
/* Stops first.  Accepts NULL. */
void kube_informer_free(struct kube_informer *informer);

/* True once the first list is in the cache. */
bool kube_informer_has_synced(struct kube_informer *informer);
/* 0 when synced, -ETIMEDOUT after timeout_ms, KUBE_ERR_CANCELLED when the
 * informer is (or gets) stopped before it synced. */
int kube_informer_wait_for_sync(struct kube_informer *informer, int64_t timeout_ms);
/*
 * The error of the last failed list or watch since the last successful list
 * (0: none), with its details in *ret_status (optional): why an informer has
 * not synced.
 */
int kube_informer_last_error(struct kube_informer *informer, struct kube_status *ret_status);

/* Cached object (new reference, read-only) or KUBE_ERR_NOT_FOUND.
 * namespace NULL for cluster-scoped resources. */
int kube_informer_get(struct kube_informer *informer, const char *namespace, const char *name,
                      json_t **ret_object);
/* JSON array of cached objects (new reference, read-only items) in one
 * namespace, or all when namespace is NULL; sorted by namespace/name. */
int kube_informer_list(struct kube_informer *informer, const char *namespace, json_t **ret_objects);
/* Resume point into buf ("" before the first list). */
int kube_informer_resource_version(struct kube_informer *informer, char *buf, size_t size);
void kube_informer_stats(struct kube_informer *informer, struct kube_informer_stats *ret_stats);

/* "namespace/name" (or "name" when no namespace) of an object; caller frees. */
int kube_object_key(const json_t *object, char **ret_key);

/*
 * A transform for informers whose cache only triggers work: apiVersion, kind
 * and metadata.{name, namespace, uid, resourceVersion, generation,
 * deletionTimestamp, finalizers, labels, ownerReferences}.  New reference.
 */
json_t *kube_object_metadata_only(const json_t *object, void *userdata);
