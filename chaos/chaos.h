/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chaos drill engine (DESIGN.md "Chaos"): one experiment — a target, an
 * action (pod-kill, node-kill), a blast radius, steady-state checks before,
 * during and after — run as a measured, guarded, reversible drill.  Used by
 * tripdeal-chaos and by the operator's scheduled drills.
 *
 * The library does not log: progress goes to a callback, results to a
 * struct chaos_outcome and the report JSON.  Functions return 0 or -errno
 * (or a KUBE_ERR_* from lib/kube); outputs are untouched on failure.
 *
 * Ownership: chaos_experiment_* return an experiment the caller frees with
 * chaos_experiment_free() (accepts NULL).  Reports are new JSON references.
 */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "kube.h"

#define CHAOS_API_VERSION "chaos.tripdeal.io/v1alpha1"
#define CHAOS_KIND        "Experiment"

/* Lease annotations a drill leaves on its target's Lease (see README.md). */
#define CHAOS_LEASE_PREFIX          "chaos-"
#define CHAOS_ANNOTATION_EXPERIMENT "chaos.tripdeal.io/experiment"
#define CHAOS_ANNOTATION_ACTION     "chaos.tripdeal.io/action"
#define CHAOS_ANNOTATION_POWERED    "chaos.tripdeal.io/powered-off"
#define CHAOS_ANNOTATION_PHASE      "chaos.tripdeal.io/phase"

enum chaos_action {
        CHAOS_ACTION_POD_KILL,
        CHAOS_ACTION_NODE_KILL,
};
const char *chaos_action_to_string(enum chaos_action action);

/* The verdict of a drill.  The exit code of `tripdeal-chaos run` is
 * chaos_verdict_exit_code(). */
enum chaos_verdict {
        CHAOS_VERDICT_PASSED,
        CHAOS_VERDICT_FAILED,
        CHAOS_VERDICT_ABORTED,
        CHAOS_VERDICT_REFUSED,
        CHAOS_VERDICT_DRY_RUN, /* --dry-run: guardrails and steady state held, nothing touched */
};
const char *chaos_verdict_to_string(enum chaos_verdict verdict);
int chaos_verdict_exit_code(enum chaos_verdict verdict);

struct chaos_http_probe {
        char *service;         /* probe the Service's ready endpoints round-robin, or */
        char *url;             /* a fixed URL */
        int32_t port;          /* Service port (name-matched to the endpoints' port) */
        char *path;            /* default "/" */
        int32_t expect_status; /* default 200 */
        int64_t timeout_ms;    /* default 1s */
        int64_t interval_ms;   /* default 100ms */
};

struct chaos_prometheus_check {
        char *url; /* NULL: the caller's default (operator --prometheus-url) */
        char *query;
        double max; /* steady when the query's value <= max */
};

struct chaos_experiment {
        char *name;
        /* Target: namespace + selector, or a TripDeal (its site pods, or the
         * VMs of its node pools for node-kill). */
        char *namespace;
        char *selector; /* "a=1,b=2" (from matchLabels); NULL with tripdeal */
        char *tripdeal;
        enum chaos_action action;
        int32_t count; /* exactly one of count and percent is > 0 */
        int32_t percent;
        int64_t grace_period_seconds; /* pod-kill; 0 = a crash */
        int32_t max_target_percent;   /* default 50 */
        bool restore;                 /* node-kill: start the VM again after (default true) */
        bool has_http;
        struct chaos_http_probe http;
        bool has_prometheus;
        struct chaos_prometheus_check prometheus;
        double max_error_rate_percent;   /* default 1 */
        double abort_error_rate_percent; /* during injection; 0: never abort on it */
        int64_t max_recovery_ms;         /* default 30s */
        int64_t steady_window_ms;        /* probing before and after; default 1s */
        bool blackout_sales;             /* spec.blackout: [sales] */
        char *sales_of;                  /* TripDeal whose sales are the blackout */
        int32_t log_lines;               /* log lines kept per pod; default 20 */
};

/*
 * Parse an Experiment from YAML text (lib/common's yaml-json: plain scalars
 * read as kubectl reads them).  -EINVAL with ret_error naming the field
 * ("spec.count: must be at least 1"); -ENOMEM.  ret_error (NULL allowed)
 * follows lib/common/error.h.
 */
int chaos_experiment_parse_yaml(const char *text, size_t size,
                                struct chaos_experiment **ret_experiment,
                                struct tripdeal_error *ret_error);
/* From a file (messages do not repeat the path: the caller names it): also
 * -errno of opening it, -EFBIG above 1 MiB. */
int chaos_experiment_load(const char *path, struct chaos_experiment **ret_experiment,
                          struct tripdeal_error *ret_error);
/* From JSON (an Experiment object).  Same errors. */
int chaos_experiment_from_json(const json_t *object, struct chaos_experiment **ret_experiment,
                               struct tripdeal_error *ret_error);
void chaos_experiment_free(struct chaos_experiment *experiment);
static inline void chaos_experiment_freep(struct chaos_experiment **experiment)
{
        chaos_experiment_free(*experiment);
}

/* The blackout guardrail's answer: blocked, and why (the sale) when it is. */
struct chaos_blackout {
        bool blocked;
        char reason[256]; /* "" when not blocked */
};

/*
 * Blackout: is now_ms inside a sale window (prescale start to end +
 * cooldown) of the sales in `sales` (a TripDeal's spec.sales array), or so
 * close before one that a drill of max_recovery_ms would overlap it?
 * -EINVAL with ret_error naming the field for an unusable sale.
 */
int chaos_blackout_check(const json_t *sales, int64_t now_ms, int64_t max_recovery_ms,
                         struct chaos_blackout *ret_blackout, struct tripdeal_error *ret_error);

/* Node power for node-kill (vmctl over libvirt in the CLI). */
struct chaos_node_driver {
        /* Names of the running VMs owned by owner ("NAMESPACE/NAME", or NULL
         * for every TripDeal VM).  *ret_names: NULL-terminated, malloc'ed. */
        int (*list_running)(void *userdata, const char *owner, char ***ret_names);
        int (*power_off)(void *userdata, const char *name); /* hard: virDomainDestroy */
        int (*power_on)(void *userdata, const char *name);
        void *userdata;
};

struct chaos_run_options {
        struct kube_client *kube;
        const struct chaos_node_driver *nodes; /* NULL: node-kill is Refused */
        bool dry_run;
        const char *identity;         /* Lease holder; NULL: "tripdeal-chaos-HOST-PID" */
        const char *prometheus_url;   /* used when the experiment's query has no url */
        const char *default_service;  /* probe when the experiment has none (operator) */
        int32_t default_service_port; /* with default_service */
        atomic_bool *stop;            /* set from a signal handler: abort and restore */
        /* One human line per call ("t+3.1s waiting for recovery: 3/4 Ready"). */
        void (*progress)(const char *line, void *userdata);
        void *progress_userdata;
};

struct chaos_outcome {
        enum chaos_verdict verdict;
        char reason[512];
        double recovery_seconds; /* < 0: did not recover (or not injected) */
        int64_t probes_sent;
        int64_t probes_failed;
        int64_t started_at_ms;
        int64_t finished_at_ms;
};

/*
 * Run the experiment.  Returns 0 when a verdict was reached (any verdict:
 * see *ret_outcome), -errno on an internal failure.  *ret_report (optional):
 * report.json's content.
 */
int chaos_run(const struct chaos_experiment *experiment, const struct chaos_run_options *options,
              struct chaos_outcome *ret_outcome, json_t **ret_report);

/* Write DIR/report.json and DIR/report.html (DIR is created). */
int chaos_report_write(const json_t *report, const char *dir);
/* The self-contained HTML page for a report.  *ret_html owned by the caller. */
int chaos_report_html(const json_t *report, char **ret_html);

/* Which interrupted drills chaos_recover_stale() restores, and how.  Every
 * pointer is borrowed for the call; every field may be NULL. */
struct chaos_recover_options {
        const char *namespace;  /* the Leases' namespace; NULL: every namespace */
        const char *lease_name; /* only this Lease (in namespace); NULL: every chaos Lease */
        /* Starts the VMs a Lease names; NULL: such Leases are left for a caller with one. */
        const struct chaos_node_driver *nodes;
        /* Holders taken even while their Lease is live (a restarted operator:
         * only one leader runs drills); others only once they stopped renewing. */
        const char *identity_prefix;
        void (*on_restored)(void *userdata, const json_t *lease); /* each Lease deleted */
        /* Each VM that would not start (its Lease is kept); error: -errno. */
        void (*on_vm_failed)(void *userdata, const json_t *lease, const char *vm, int error);
        void *userdata;
};

/*
 * Restore what interrupted drills left: each chaos Lease that options select
 * gets the VMs it powered off started again, then it is deleted and
 * on_restored sees it.  A Lease with a VM that would not start is kept (it is
 * the only record of what is off) and the call returns that error after
 * trying the rest.  *ret_restored (may be NULL): how many Leases were deleted.
 */
int chaos_recover_stale(struct kube_client *kube, const struct chaos_recover_options *options,
                        int *ret_restored);
