/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TripDeal custom resource (tripdeal.io/v1alpha1) as the operator reads
 * it: spec parsed from JSON into plain C data, with validation for what the
 * CRD's OpenAPI schema cannot express (min <= max, durations, references).
 *
 * Ownership: tripdeal_spec_parse() returns a spec the caller frees with
 * tripdeal_spec_free() (accepts NULL); every string inside is owned by the
 * spec.  The input JSON is borrowed.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRIPDEAL_GROUP       "tripdeal.io"
#define TRIPDEAL_VERSION     "v1alpha1"
#define TRIPDEAL_API_VERSION TRIPDEAL_GROUP "/" TRIPDEAL_VERSION
#define TRIPDEAL_KIND        "TripDeal"
#define TRIPDEAL_PLURAL      "tripdeals"
#define TRIPDEAL_FINALIZER   "tripdeal.io/cleanup"
#define TRIPDEAL_MANAGER     "tripdeal-operator"
/* The port the site listens on inside every pod. */
#define TRIPDEAL_APP_PORT 8080

/* The owned Secret with the site's session key (cookie signing) and its key. */
#define TRIPDEAL_SESSION_SECRET_SUFFIX "-session"
#define TRIPDEAL_SESSION_SECRET_KEY    "secret"

/* The object a TripDeal is: enough to own other objects.  The strings are
 * borrowed from the TripDeal's JSON; whoever fills this keeps that JSON alive
 * as long as the identity (reconcile.c sets it in one place, which holds a
 * reference to the object it read the strings from). */
struct tripdeal_identity {
        const char *name;
        const char *namespace;
        const char *uid;
        int64_t generation;
};

struct tripdeal_sale {
        char *name;
        char *schedule;  /* 5-field cron */
        char *time_zone; /* IANA name */
        int64_t duration_ms;
        int64_t lead_time_ms;      /* prescale.leadTime */
        int32_t min_replicas;      /* prescale.minReplicas */
        int32_t nodes;             /* prescale.nodes (0: none) */
        int64_t node_lead_time_ms; /* prescale.nodeLeadTime (defaults to leadTime) */
        int64_t cooldown_ms;
};

/* spec.nodePools[]: KVM worker nodes made through libvirt (vmctl). */
struct tripdeal_node_pool {
        char *name; /* DNS-1123 label */
        char *libvirt_uri;
        char *base_image;   /* absolute path on the libvirt host */
        char *storage_pool; /* default "default" */
        char *network;      /* default "default" */
        int32_t vcpus;      /* default 2 */
        int32_t memory_mib; /* default 4096 */
        int32_t min;        /* default 0 */
        int32_t max;
        char *join_secret_name; /* Secret holding the `kubeadm join` command */
        char *join_secret_key;  /* default "join" */
};

/* spec.app.logLevel: the site's --log-level. */
enum tripdeal_log_level {
        TRIPDEAL_LOG_INFO, /* the default */
        TRIPDEAL_LOG_DEBUG,
        TRIPDEAL_LOG_WARN,
        TRIPDEAL_LOG_ERROR,
        _TRIPDEAL_LOG_LEVEL_MAX,
};
const char *tripdeal_log_level_name(enum tripdeal_log_level level);

struct tripdeal_spec {
        char *image;
        int32_t replicas_min;
        int32_t replicas_max;
        json_t *resources; /* core/v1 ResourceRequirements, passed through; may be NULL */

        /* Settings for the site. */
        json_t *env; /* spec.app.env: list of core/v1 EnvVar; may be NULL */
        char **args; /* spec.app.args, after the operator's own */
        size_t args_count;
        bool seed_demo;                    /* spec.app.seedDemo: TRIPDEAL_SEED_DEMO=1 */
        enum tripdeal_log_level log_level; /* spec.app.logLevel */

        int32_t target_cpu_percent;
        int32_t scale_up_stabilization_seconds;
        int32_t scale_up_max_pods_per_15s;
        int32_t scale_down_stabilization_seconds;
        int32_t scale_down_max_percent_per_minute;

        char *database_secret_name; /* NULL: the app runs on its embedded SQLite */
        char *database_secret_key;

        char *ingress_host; /* NULL: no Ingress */
        char *ingress_class_name;
        char *ingress_tls_secret_name;

        int64_t toleration_seconds; /* failover.tolerationSeconds */

        struct tripdeal_sale *sales;
        size_t sales_count;

        struct tripdeal_node_pool *node_pools;
        size_t node_pools_count;
};

/*
 * Parse and validate .spec.  On failure returns -EINVAL and sets *ret_error to
 * a message naming the field, e.g. "spec.app.replicas.min: 5 is above max 3"
 * (caller frees); *ret_spec is untouched.
 */
int tripdeal_spec_parse(const json_t *spec, struct tripdeal_spec **ret_spec, char **ret_error);
void tripdeal_spec_free(struct tripdeal_spec *spec);
static inline void tripdeal_spec_freep(struct tripdeal_spec **spec)
{
        tripdeal_spec_free(*spec);
}
