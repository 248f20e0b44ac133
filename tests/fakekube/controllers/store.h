/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Informers: one thread per resource kind doing list + watch against the API
 * server (relisting on 410 Gone), keeping a cache of whole objects.
 *
 * Cached objects are never mutated: an event replaces the object.  So a
 * snapshot is a shallow copy (new map, shared references) and readers copy
 * an object (json_deep_copy) before changing it.
 *
 * Ownership: store_snapshot() returns a new reference owned by the caller;
 * store_apply() takes a borrowed object (it increfs).
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kclient.h"

enum kind {
        KIND_POD,
        KIND_NODE,
        KIND_DEPLOYMENT,
        KIND_REPLICASET,
        KIND_SERVICE,
        KIND_ENDPOINTS,
        KIND_HPA,
        KIND_COUNT,
};

struct store {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        uint64_t version;               /* bumped on every change */
        json_t *objects[KIND_COUNT];    /* "namespace/name" (or "name") -> object */
        json_t *tombstones[KIND_COUNT]; /* key -> resourceVersion when we deleted it */
        bool synced[KIND_COUNT];
        bool running[KIND_COUNT];
        pthread_t threads[KIND_COUNT];
        struct kclient_options client_options;
        atomic_bool *stop;
};

/* "/api/v1/pods" etc.: the all-namespaces collection path of a kind. */
const char *kind_collection_path(enum kind kind);
/* "/api/v1" etc. and the plural: to build "/api/v1/namespaces/NS/pods/NAME". */
const char *kind_group_path(enum kind kind);
const char *kind_plural(enum kind kind);
bool kind_namespaced(enum kind kind);

int store_init(struct store *store, const struct kclient_options *client_options,
               atomic_bool *stop);
/* Start informers for the kinds whose want[] is true. */
int store_start(struct store *store, const bool want[KIND_COUNT]);
/* Joins the informer threads (the caller set *stop first) and frees the caches. */
void store_finish(struct store *store);

bool store_synced(struct store *store, const bool want[KIND_COUNT]);
json_t *store_snapshot(struct store *store, enum kind kind);
/* Write-through after our own successful write; ignored when older than the cache. */
void store_apply(struct store *store, enum kind kind, json_t *object);
void store_forget(struct store *store, enum kind kind, const json_t *object);
/* Wake whoever waits in store_wait (e.g. a timer-driven change). */
void store_poke(struct store *store);
/* Wait until the version differs from *seen or timeout_ms passes; updates *seen. */
void store_wait(struct store *store, uint64_t *seen, int64_t timeout_ms);

/* "ns/name" or "name" into buf. */
void object_key(const json_t *object, char *buf, size_t size);
