/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakekube internals: the pieces shared by the HTTP front end (api.c), the
 * object store (store.c), the resource registry (resources.c), patches
 * (patch.c), schema validation (schema.c), Table output (table.c) and
 * selectors (selector.c).
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

/* ---- resources.c ---- */
int registry_init(struct server *s);
void registry_free(struct server *s);
/* Borrowed; NULL when no (served) type matches. */
struct resource_type *registry_find(struct server *s, const char *group, const char *version,
                                    const char *plural);
struct resource_type *registry_find_kind(struct server *s, const char *api_version,
                                         const char *kind);
/* (Re)register the versions a CRD object serves; unregister when crd is being removed. */
int registry_apply_crd(struct server *s, json_t *crd);
void registry_remove_crd(struct server *s, const char *crd_name);
/* Discovery documents (new references). */
json_t *registry_api_versions(struct server *s);
json_t *registry_group_list(struct server *s);
json_t *registry_group(struct server *s, const char *group);
json_t *registry_resource_list(struct server *s, const char *group, const char *version);
char *registry_api_version(const struct resource_type *t); /* "v1" or "apps/v1" (malloc) */

/* ---- store.c ---- */
int db_init(struct server *s);
void db_free(struct server *s);
/* Borrowed. */
json_t *db_get(struct server *s, const struct resource_type *t, const char *ns, const char *name);
json_t *db_bucket(struct server *s, const char *storage_key);
/* Store obj (steals the reference), assigning a new resourceVersion; emits ADDED or MODIFIED. */
void db_put(struct server *s, const struct resource_type *t, json_t *obj, bool added);
/* Remove the object and emit DELETED (with a fresh resourceVersion). */
void db_remove(struct server *s, const struct resource_type *t, const char *ns, const char *name);
/* The storage key of an object in its bucket: "ns/name" or "/name" (malloc). */
char *db_object_key(const char *ns, const char *name);
int db_load(struct server *s);
int db_save(struct server *s);
/* Look an object up by uid over all buckets (borrowed), *ret_type set. */
json_t *db_find_uid(struct server *s, const char *uid, struct resource_type **ret_type);

/* ---- lifecycle.c: deletion, finalizers, garbage collection, PDBs ---- */
/*
 * Delete one object as DELETE does.  options: DeleteOptions JSON (may be NULL).
 * *ret_obj: new reference to the object as it is after the call (the last
 * state when removed).  *ret_removed: whether it is gone now.
 */
int lifecycle_delete(struct server *s, const struct resource_type *t, json_t *current,
                     json_t *options, bool dry_run, json_t **ret_obj, bool *ret_removed);
/* Called after an update stored obj: removes it when deleting and no finalizers remain. */
void lifecycle_after_update(struct server *s, const struct resource_type *t, json_t *obj);
/* One pass of GC, graceful deletion, namespace termination and PDB status. */
void lifecycle_pass(struct server *s);
/* PDB accounting for pod eviction: 0 when allowed, -EBUSY with *ret_message otherwise. */
int lifecycle_eviction_allowed(struct server *s, json_t *pod, char **ret_message);

/* ---- patch.c ---- */
json_t *patch_merge(json_t *target, json_t *patch); /* RFC 7386, new reference */
int patch_json(json_t *target, json_t *patch, json_t **ret, char **ret_error); /* RFC 6902 */
/* Strategic merge: definition is the swagger definition of target (may be NULL). */
json_t *patch_strategic(struct server *s, json_t *target, json_t *patch, const char *definition);
/* YAML (or JSON) text to JSON; NULL on a parse error. */
json_t *yaml_to_json(const char *text, size_t len);

/* ---- protobuf.c ---- */
/* A "k8s\0"-framed protobuf body of a known kind as JSON (new reference), NULL otherwise. */
json_t *protobuf_to_json(const char *body, size_t len);

/* ---- schema.c ---- */
enum field_validation { FIELD_VALIDATION_STRICT, FIELD_VALIDATION_WARN, FIELD_VALIDATION_IGNORE };
int schema_load(struct server *s);
/*
 * Validate obj (modified in place: unknown fields pruned unless Strict,
 * CRD defaults applied).  Returns 0 when valid.  *ret_causes: array of
 * {reason, message, field} (new reference, always set); *ret_warnings:
 * array of strings (new reference, always set).
 */
int schema_validate(struct server *s, const struct resource_type *t, json_t *obj,
                    enum field_validation mode, json_t **ret_causes, json_t **ret_warnings);
/* Swagger definition name by short name resolution: follows $ref (borrowed). */
json_t *schema_definition(struct server *s, const char *name);
json_t *schema_resolve(struct server *s, json_t *schema); /* follows $ref/allOf (borrowed) */
json_t *schema_openapi_v3_index(struct server *s);
json_t *schema_openapi_v3_doc(struct server *s, const char *group, const char *version);

/* ---- table.c ---- */
/* A meta.k8s.io/v1 Table for the objects (array), new reference. */
json_t *table_build(struct server *s, const struct resource_type *t, json_t *objects,
                    const char *include_object);
void format_age(int64_t seconds, char *buf, size_t size);

/* ---- selector.c ---- */
struct selector;
/* Parse a labelSelector query string; -EINVAL with *ret_error on bad syntax. */
int sel_parse_labels(const char *text, struct selector **ret, char **ret_error);
/* Parse a fieldSelector (field=value, field==value, field!=value, comma separated). */
int sel_parse_fields(const char *text, struct selector **ret, char **ret_error);
bool sel_matches(const struct selector *sel, json_t *obj); /* NULL matches all */
void sel_free(struct selector *sel);
/* metav1.LabelSelector (matchLabels / matchExpressions) against a labels object. */
bool label_selector_json_matches(json_t *selector, json_t *labels);
/* matchLabels/matchExpressions to the "a=b,c in (d)" text form (malloc). */
char *label_selector_json_to_string(json_t *selector);

/* ---- util (api.c) ---- */
void now_rfc3339(char *buf, size_t size);
json_t *k8s_status_new(int code, const char *reason, const char *message);
void random_uuid(char *buf);                                   /* 37 bytes */
const char *json_path_string(json_t *obj, const char *dotted); /* borrowed or NULL */
