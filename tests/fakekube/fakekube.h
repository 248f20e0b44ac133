/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakekube internals: the data structures every module shares (the server,
 * resource types, watch events).  Each module has its own header for its
 * functions: registry.h (resources.c), db.h (store.c), lifecycle.h,
 * patch.h, protobuf.h, schema.h, table.h, selector.h; api.h is the HTTP
 * front end.
 *
 * Locking: one global mutex (server->lock) protects the registry and the
 * store.  Every function here that takes a `struct server *` expects the
 * caller to hold it unless its comment says otherwise.  Stored objects are
 * immutable once inserted: a change stores a new json_t, so watch events can
 * keep references to old versions.
 *
 * Ownership: json_t pointers returned by functions named *_new or documented
 * "new reference" belong to the caller; "borrowed" ones stay owned by the
 * store or registry and are valid while the lock is held.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct resource_type {
        char *group; /* "" for the core group */
        char *version;
        char *plural;
        char *singular;
        char *kind;
        char *list_kind;
        char *storage_key; /* "group/plural": one store bucket for all versions */
        bool namespaced;
        json_t *short_names; /* array of strings */
        json_t *categories;  /* array of strings */
        bool status_subresource;
        bool scale_subresource;
        bool eviction_subresource;
        bool has_generation;
        const char *definition;  /* swagger definition of the kind, NULL for CRDs */
        json_t *crd_schema;      /* CRD openAPIV3Schema of this version, or NULL */
        json_t *printer_columns; /* CRD additionalPrinterColumns, or NULL */
        bool is_crd;
        char *crd_name; /* the CRD that defines this type, or NULL */
        bool removed;   /* CRD deleted: no longer served (kept until exit) */
};

struct event {
        uint64_t rv;
        const char *type;        /* "ADDED", "MODIFIED", "DELETED" */
        const char *storage_key; /* borrowed from the resource type (never freed before exit) */
        json_t *object;
        json_t *previous; /* the state before a MODIFIED (selector transitions), or NULL */
};

struct server_options {
        const char *listen;
        const char *kubeconfig_out;
        const char *data_file;
        const char *openapi_file;
        const char *state_dir; /* process pods' logs: STATE_DIR/pods/NS_POD_UID/CONTAINER.log */
        size_t watch_window;
        int64_t bookmark_interval_ms;
        int64_t default_grace_seconds;
        bool plain_http;
};

struct server {
        pthread_mutex_t lock;
        pthread_cond_t changed; /* broadcast on every store change and on shutdown */
        struct server_options options;

        /* registry */
        struct resource_type **types;
        size_t n_types;

        /* store */
        uint64_t rv;
        json_t *buckets; /* storage_key -> { "ns/name" -> object } */
        struct event *ring;
        size_t ring_head, ring_count; /* ring capacity: options.watch_window */
        uint64_t first_rv;            /* watchable: every event with rv > first_rv is retained */
        bool dirty;                   /* persistence: changes not yet written */
        /*
         * Indexes kept by db_put/db_remove so that the periodic lifecycle pass
         * costs what changed, not what is stored (a full scan under the lock
         * stalled every request for tens of ms with thousands of objects).
         * Objects are named by a ref, "STORAGE_KEY KEY" (db_ref_new).
         */
        json_t *uids;           /* uid -> ref, for every stored object */
        json_t *dependents;     /* owner uid -> {ref: true}, from ownerReferences */
        json_t *deleting;       /* ref -> true: objects that carry a deletionTimestamp */
        json_t *gc_candidates;  /* ref -> true: owned objects written, or whose owner went,
                                   since the last pass */
        json_t *pdb_namespaces; /* namespace -> true: pods or PDBs changed since the last pass */
        bool shutting_down;

        /* schema */
        json_t *swagger;        /* the OpenAPI v2 document */
        json_t *swagger_by_gvk; /* "group/version/Kind" -> definition name */
        char *openapi_v2_text;  /* serialized once */

        char *token;
        char *url;
        /* {token, host, ca, cert, key}: kept in --data so a restart keeps its clients' trust */
        json_t *identity;
};

/* ---- helpers defined in api.c ---- */
void now_rfc3339(char *buf, size_t size);
json_t *k8s_status_new(int code, const char *reason, const char *message);
void random_uuid(char *buf); /* 37 bytes */
