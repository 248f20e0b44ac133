/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/kube: a Kubernetes API client (libcurl + OpenSSL + jansson + libyaml).
 *
 * This header covers configuration (kubeconfig and in-cluster), the client,
 * resource descriptors, typed errors and the REST calls (get, list, create,
 * update, update_status, patch, delete, evict) plus the streaming watch.
 * The informer, work queue, leader election and event recorder have their
 * own headers (kube-informer.h, kube-workqueue.h, kube-leader.h,
 * kube-events.h).
 *
 * Errors: every call returns 0 or a negative code.  The code is either one of
 * the KUBE_ERR_* values below (API and client failures) or -errno (out of
 * memory, bad arguments, ...).  kube_strerror() names both.  Calls that talk
 * to the API server also take an optional `struct kube_status *ret_status`
 * that receives the HTTP code and the metav1.Status reason/message of a
 * failure (or the transport error text); pass NULL when not needed.  There
 * is no shared "last error" anywhere: every call stands alone.
 *
 * Ownership of JSON (jansson json_t):
 *  - objects passed IN (bodies, patches) are borrowed: the call never steals
 *    or modifies them; the caller still owns its reference.
 *  - objects handed OUT through a `json_t **ret_*` are a new reference owned
 *    by the caller (json_decref() it).
 *  - objects passed to callbacks (watch, informer handlers) are borrowed for
 *    the duration of the callback; json_incref() them to keep them.
 *
 * Secrets: bearer tokens and private keys stay inside struct kube_config and
 * the curl handles; they never appear in an error message or a status.
 *
 * Threading: a struct kube_client may be used from any number of threads at
 * once.  struct kube_config is immutable after loading.
 */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ----------------------------------------------------------- */

/*
 * X(NAME, value, text).  Values are far from the errno range so a return
 * code is either -errno or one of these, never ambiguous.
 */
#define KUBE_ERRORS(X)                                                                       \
        X(KUBE_ERR_NOT_FOUND, -10001, "not found (404)")                                     \
        X(KUBE_ERR_CONFLICT, -10002, "conflict: the object was modified (409)")              \
        X(KUBE_ERR_ALREADY_EXISTS, -10003, "already exists (409)")                           \
        X(KUBE_ERR_INVALID, -10004, "invalid object (422)")                                  \
        X(KUBE_ERR_BAD_REQUEST, -10005, "bad request (400)")                                 \
        X(KUBE_ERR_GONE, -10006, "resource version too old / expired (410)")                 \
        X(KUBE_ERR_UNAUTHORIZED, -10007, "unauthorized (401)")                               \
        X(KUBE_ERR_FORBIDDEN, -10008, "forbidden (403)")                                     \
        X(KUBE_ERR_METHOD_NOT_ALLOWED, -10009, "method not allowed (405)")                   \
        X(KUBE_ERR_UNSUPPORTED_MEDIA_TYPE, -10010, "unsupported media type (415)")           \
        X(KUBE_ERR_TOO_MANY_REQUESTS, -10011, "too many requests (429)")                     \
        X(KUBE_ERR_SERVER, -10012, "server error (5xx)")                                     \
        X(KUBE_ERR_SERVER_TIMEOUT, -10013, "server timeout (504)")                           \
        X(KUBE_ERR_HTTP, -10014, "unexpected HTTP status")                                   \
        X(KUBE_ERR_TRANSPORT, -10015, "cannot reach the API server")                         \
        X(KUBE_ERR_TLS, -10016, "TLS failure (certificate not trusted or bad key)")          \
        X(KUBE_ERR_TIMEOUT, -10017, "request timed out")                                     \
        X(KUBE_ERR_PARSE, -10018, "cannot parse the API server's response")                  \
        X(KUBE_ERR_CONFIG, -10019, "invalid kubeconfig")                                     \
        X(KUBE_ERR_NO_CONFIG, -10020, "no kubeconfig and not running in a cluster")          \
        X(KUBE_ERR_CONTEXT_NOT_FOUND, -10021, "kubeconfig context not found")                \
        X(KUBE_ERR_CREDENTIALS, -10022, "cannot read credentials (token, certificate, key)") \
        X(KUBE_ERR_CANCELLED, -10023, "cancelled")                                           \
        X(KUBE_ERR_SHUTDOWN, -10024, "shut down")

enum kube_error {
#define KUBE_X_ENUM(name, value, text) name = value,
        KUBE_ERRORS(KUBE_X_ENUM)
#undef KUBE_X_ENUM
};

/*
 * Text for any return code of this library: KUBE_ERR_* or -errno.  Returns a
 * static string (never NULL).
 */
const char *kube_strerror(int error);

/*
 * Details of a failed call, copied out of the metav1.Status the server sent
 * (or made up by the client for transport/parse errors).  Fixed-size buffers:
 * nothing to free.  http_code is 0 when no HTTP response was received.
 */
struct kube_status {
        long http_code;
        char reason[64];   /* metav1.Status reason, e.g. "AlreadyExists" */
        char message[512]; /* metav1.Status message (truncated), or transport error */
};

/*
 * The error for an HTTP status code and a metav1.Status reason (reason may be
 * NULL).  0 for 2xx.  Used for responses and for watch ERROR events.
 */
int kube_error_from_http(long http_code, const char *reason);

/* ---- configuration ---------------------------------------------------- */

struct kube_config;

struct kube_config_options {
        /* Explicit kubeconfig file (--kubeconfig).  NULL: $KUBECONFIG, then
         * in-cluster (if KUBERNETES_SERVICE_HOST is set), then ~/.kube/config.
         * When $KUBECONFIG holds a colon-separated list, only the first
         * existing file is read (no merging). */
        const char *kubeconfig_path;
        /* Context name; NULL: the file's current-context. */
        const char *context;
        /* Root of the in-cluster service account files; NULL: "/" (so
         * /var/run/secrets/kubernetes.io/serviceaccount/...).  For tests. */
        const char *in_cluster_root;
        /* Only try in-cluster config (ignore files). */
        bool in_cluster_only;
};

/*
 * Load a configuration.  *ret_config is owned by the caller
 * (kube_config_free()).  Errors: KUBE_ERR_NO_CONFIG (nothing found),
 * KUBE_ERR_CONFIG (unreadable YAML, missing cluster/user/server, bad base64 or
 * PEM), KUBE_ERR_CONTEXT_NOT_FOUND, KUBE_ERR_CREDENTIALS (a token, cert or key
 * file that cannot be read), -ENOMEM.  ret_status (optional) gets a message
 * naming the offending entry (never a secret).
 */
int kube_config_load(const struct kube_config_options *options, struct kube_config **ret_config,
                     struct kube_status *ret_status);
/* In-cluster only: KUBERNETES_SERVICE_HOST/PORT + the service account files. */
int kube_config_load_in_cluster(const char *root, struct kube_config **ret_config,
                                struct kube_status *ret_status);
void kube_config_free(struct kube_config *config);

/* Borrowed strings, valid while config lives. */
const char *kube_config_server(const struct kube_config *config);
/* Namespace of the context / service account; "default" when none. */
const char *kube_config_namespace(const struct kube_config *config);
/* Name of the context used ("" for in-cluster). */
const char *kube_config_context(const struct kube_config *config);
bool kube_config_insecure(const struct kube_config *config);
/* What the user authenticates with, for diagnostics: "token", "token-file",
 * "client-certificate" or "none".  Never the secret itself. */
const char *kube_config_auth_kind(const struct kube_config *config);

/* ---- client ----------------------------------------------------------- */

struct kube_client;

struct kube_client_options {
        /* Timeout of a non-watch request in ms; 0: 30000. */
        int64_t request_timeout_ms;
        /* TCP connect timeout in ms; 0: 10000. */
        int64_t connect_timeout_ms;
        /* User-Agent; NULL: "tripdeal-kube/0.1". Copied. */
        const char *user_agent;
};

/*
 * New client.  config is copied (the caller may free it right after); options
 * may be NULL.  *ret_client owned by the caller (kube_client_free()).
 */
int kube_client_new(const struct kube_config *config, const struct kube_client_options *options,
                    struct kube_client **ret_client);
/* Accepts NULL.  No call may be running on the client. */
void kube_client_free(struct kube_client *client);
/* The client's configuration (borrowed, lives as long as the client). */
const struct kube_config *kube_client_config(const struct kube_client *client);

/* ---- resources -------------------------------------------------------- */

/*
 * Which API a call addresses.  group "" is the core group (/api/v1).
 * subresource is for descriptors like pods/eviction; NULL otherwise.
 */
struct kube_resource {
        const char *group;
        const char *version;
        const char *plural;
        const char *kind;
        bool namespaced;
        const char *subresource;
};

extern const struct kube_resource KUBE_CONFIGMAPS;
extern const struct kube_resource KUBE_SECRETS;
extern const struct kube_resource KUBE_SERVICES;
extern const struct kube_resource KUBE_PODS;
extern const struct kube_resource KUBE_POD_EVICTION; /* pods/eviction */
extern const struct kube_resource KUBE_EVENTS;
extern const struct kube_resource KUBE_NODES;
extern const struct kube_resource KUBE_NAMESPACES;
extern const struct kube_resource KUBE_DEPLOYMENTS;
extern const struct kube_resource KUBE_HPAS;      /* autoscaling/v2 */
extern const struct kube_resource KUBE_INGRESSES; /* networking.k8s.io/v1 */
extern const struct kube_resource KUBE_PDBS;      /* policy/v1 */
extern const struct kube_resource KUBE_LEASES;    /* coordination.k8s.io/v1 */
extern const struct kube_resource KUBE_TRIPDEALS; /* tripdeal.io/v1alpha1 */

/* "v1" or "apps/v1" into buf.  -ENOBUFS if it does not fit. */
int kube_resource_api_version(const struct kube_resource *resource, char *buf, size_t size);

/*
 * Build a request path: /api/v1/namespaces/NS/pods/NAME/SUB or
 * /apis/G/V/... .  namespace NULL on a namespaced resource means all
 * namespaces; name NULL means the collection.  subresource overrides the
 * descriptor's.  Segments are percent-encoded.  *ret_path owned by caller.
 */
int kube_build_path(const struct kube_resource *resource, const char *namespace, const char *name,
                    const char *subresource, char **ret_path);

/*
 * "a=1,b=2" from a JSON object of string values (e.g. a matchLabels),
 * keys sorted.  An empty object gives "".  -EINVAL when a value is not a
 * string.  *ret_selector owned by caller.
 */
int kube_label_selector_from_labels(const json_t *labels, char **ret_selector);

/* ---- calls ------------------------------------------------------------ */

struct kube_get_options {
        const char *namespace; /* required for namespaced resources */
        const char *name;      /* required */
        const char *subresource;
};
/* *ret_object: the object (new reference). */
int kube_get(struct kube_client *client, const struct kube_resource *resource,
             const struct kube_get_options *options, json_t **ret_object,
             struct kube_status *ret_status);

struct kube_list_options {
        const char *namespace; /* NULL: all namespaces */
        const char *label_selector;
        const char *field_selector;
        /* Page size (limit=); 0: 500.  All pages are fetched and merged
         * unless single_page is set, in which case `continue_token`
         * resumes and metadata.continue of the result gives the next. */
        long limit;
        bool single_page;
        const char *continue_token;
        const char *resource_version; /* resourceVersion= (e.g. "0") */
        /* Optional: kube_cancel() ends the list at once (KUBE_ERR_CANCELLED). */
        struct kube_cancel *cancel;
};
/*
 * *ret_list: the List object (new reference) with every item; items get
 * apiVersion/kind filled in when the server left them out.
 * metadata.resourceVersion is the list's (from the first page).  A continue
 * token that expired mid-way gives KUBE_ERR_GONE: list again.
 */
int kube_list(struct kube_client *client, const struct kube_resource *resource,
              const struct kube_list_options *options, json_t **ret_list,
              struct kube_status *ret_status);

struct kube_write_options {
        const char *namespace; /* NULL: taken from metadata.namespace */
        const char *field_manager;
        bool dry_run;
};
/* POST the object (borrowed).  *ret_object (optional) the created object. */
int kube_create(struct kube_client *client, const struct kube_resource *resource,
                const struct kube_write_options *options, const json_t *object, json_t **ret_object,
                struct kube_status *ret_status);
/* PUT the object (name from metadata.name; metadata.resourceVersion makes it
 * conditional: KUBE_ERR_CONFLICT when stale). */
int kube_update(struct kube_client *client, const struct kube_resource *resource,
                const struct kube_write_options *options, const json_t *object, json_t **ret_object,
                struct kube_status *ret_status);
/* PUT to the status subresource. */
int kube_update_status(struct kube_client *client, const struct kube_resource *resource,
                       const struct kube_write_options *options, const json_t *object,
                       json_t **ret_object, struct kube_status *ret_status);

enum kube_patch_type {
        KUBE_PATCH_MERGE,     /* application/merge-patch+json */
        KUBE_PATCH_JSON,      /* application/json-patch+json (patch is an array) */
        KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds only) */
        KUBE_PATCH_APPLY,     /* server-side apply; field_manager required */
};

struct kube_patch_options {
        const char *namespace;
        const char *name;        /* required */
        const char *subresource; /* e.g. "status" or "scale" */
        enum kube_patch_type type;
        const char *field_manager; /* required for KUBE_PATCH_APPLY */
        bool force;                /* apply: take over conflicting fields */
        bool dry_run;
};
int kube_patch(struct kube_client *client, const struct kube_resource *resource,
               const struct kube_patch_options *options, const json_t *patch, json_t **ret_object,
               struct kube_status *ret_status);

struct kube_delete_options {
        const char *namespace;
        const char *name; /* required */
        /* "Foreground" | "Background" | "Orphan"; NULL: server default. */
        const char *propagation_policy;
        /* Preconditions: delete only if the object still has this uid /
         * resourceVersion (KUBE_ERR_CONFLICT otherwise). */
        const char *precondition_uid;
        const char *precondition_resource_version;
        /* 0: server default; > 0: that many seconds; KUBE_GRACE_PERIOD_NOW:
         * immediately (gracePeriodSeconds=0). */
        int64_t grace_period_seconds;
        bool dry_run;
};
#define KUBE_GRACE_PERIOD_NOW (-1)
/* *ret_object (optional): what the server returned (the object, possibly
 * with deletionTimestamp, or a Status). */
int kube_delete(struct kube_client *client, const struct kube_resource *resource,
                const struct kube_delete_options *options, json_t **ret_object,
                struct kube_status *ret_status);

struct kube_evict_options {
        const char *namespace;        /* required */
        const char *name;             /* required: the pod */
        int64_t grace_period_seconds; /* as in kube_delete_options */
        bool dry_run;
};
/* POST a policy/v1 Eviction.  KUBE_ERR_TOO_MANY_REQUESTS when a PDB forbids it. */
int kube_evict(struct kube_client *client, const struct kube_evict_options *options,
               struct kube_status *ret_status);

struct kube_pod_log_options {
        const char *namespace; /* required */
        const char *name;      /* required: the pod */
        const char *container; /* NULL: the pod's only container */
        long tail_lines;       /* > 0: only the last lines (tailLines=) */
        long limit_bytes;      /* > 0: at most this many bytes (limitBytes=) */
};
/* GET pods/log: the container's log as text.  *ret_text (malloc'ed,
 * NUL-terminated) owned by the caller. */
int kube_pod_log(struct kube_client *client, const struct kube_pod_log_options *options,
                 char **ret_text, struct kube_status *ret_status);

/* ---- watch ------------------------------------------------------------ */

/*
 * Cancellation token: kube_cancel() from any thread makes a running watch (or
 * any call given the token) return KUBE_ERR_CANCELLED at once: it shuts down
 * the call's socket.  One call at a time per token.  Zero-initialise; nothing
 * to free.  The fields are private.
 */
struct kube_cancel {
        atomic_bool cancelled;
        atomic_int lock;     /* spin lock around socket_plus_one */
        int socket_plus_one; /* 0: no socket */
};
void kube_cancel(struct kube_cancel *cancel);
void kube_cancel_reset(struct kube_cancel *cancel);
bool kube_cancelled(const struct kube_cancel *cancel);

enum kube_watch_event_type {
        KUBE_WATCH_ADDED,
        KUBE_WATCH_MODIFIED,
        KUBE_WATCH_DELETED,
        KUBE_WATCH_BOOKMARK,
        KUBE_WATCH_ERROR,
};
const char *kube_watch_event_type_to_string(enum kube_watch_event_type type);

/*
 * One event.  object is borrowed for the callback (json_incref to keep it);
 * for KUBE_WATCH_ERROR it is the metav1.Status.  Return 0 to go on, anything
 * else to stop the watch (kube_watch then returns that value).
 */
typedef int (*kube_watch_callback)(enum kube_watch_event_type type, json_t *object, void *userdata);

struct kube_watch_options {
        const char *namespace; /* NULL: all namespaces */
        const char *label_selector;
        const char *field_selector;
        const char *resource_version; /* resume point; NULL: "most recent" */
        bool allow_bookmarks;
        /* timeoutSeconds=; 0: server default and no client-side limit.  With
         * a value, the client also gives up (KUBE_ERR_TIMEOUT) 30 s after it,
         * in case the connection died silently. */
        long timeout_seconds;
        struct kube_cancel *cancel;
};

/*
 * Stream events until the server ends the watch (returns 0), the callback
 * stops it (returns the callback's value), it is cancelled
 * (KUBE_ERR_CANCELLED), or it fails.  An ERROR event is passed to the
 * callback and then returned as its error (KUBE_ERR_GONE for 410 "too old
 * resource version"), with ret_status filled from it.
 */
int kube_watch(struct kube_client *client, const struct kube_resource *resource,
               const struct kube_watch_options *options, kube_watch_callback callback,
               void *userdata, struct kube_status *ret_status);

/* ---- small helpers for objects --------------------------------------- */

/* Borrowed strings from metadata (NULL when absent). */
const char *kube_object_name(const json_t *object);
const char *kube_object_namespace(const json_t *object);
const char *kube_object_resource_version(const json_t *object);
const char *kube_object_uid(const json_t *object);

/*
 * An ownerReference to owner (needs apiVersion, kind, metadata.name and
 * metadata.uid; -EINVAL otherwise).  controller=true also sets
 * blockOwnerDeletion, as controllers do for objects they own.
 * *ret_reference: new object owned by the caller.
 */
int kube_owner_reference(const json_t *owner, bool controller, json_t **ret_reference);

/*
 * Split a work-queue key "namespace/name" (or "name" for cluster-scoped
 * objects; *ret_namespace is then NULL).  Both outputs malloc'ed.
 * -EINVAL for "", "/x", "x/", "a/b/c".
 */
int kube_split_key(const char *key, char **ret_namespace, char **ret_name);

/*
 * Kubernetes MicroTime "2026-11-25T10:00:00.123456Z" for ms since the epoch
 * (buf >= 28 bytes).  -ENOBUFS if too small.
 */
int kube_format_micro_time(int64_t realtime_ms, char *buf, size_t size);
