/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakekube's simulated controllers: Deployments -> ReplicaSets -> Pods,
 * scheduling onto Nodes, static and libvirt-backed Nodes with their
 * lifecycle, HorizontalPodAutoscalers, Endpoints, and "process pods".
 *
 * Like kube-controller-manager they are clients of the API server: they talk
 * to fakekube over its own HTTP API (list+watch, update, status writes), so
 * they see and obey exactly what kubectl and the operator see.  They must not
 * use lib/kube (the operator's client).
 *
 * Threading: controllers_start() spawns the controllers' threads and returns;
 * controllers_stop() stops them, kills process pods (SIGTERM, then SIGKILL
 * after their grace period) and joins every thread.
 *
 * Ownership: the options and every string in them are borrowed only for the
 * duration of controllers_start() (copied as needed).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum pods_mode {
        PODS_VIRTUAL, /* no process: Ready after pod_ready_delay_ms */
        PODS_PROCESS, /* each pod runs the local binary mapped to its image */
};

struct controllers_options {
        const char *api_url;        /* "https://127.0.0.1:PORT" or "http://..." */
        const char *token;          /* bearer token */
        const char *ca_file;        /* PEM CA to verify api_url; NULL with plain HTTP */
        int64_t sync_period_ms;     /* HPA sync period (default 15000 when 0) */
        int64_t pod_ready_delay_ms; /* virtual pods turn Ready after this */
        int64_t node_boot_delay_ms; /* libvirt domain running -> Node Ready after this */
        enum pods_mode pods_mode;
        const char *const *pod_commands; /* NULL-terminated list of "IMAGE=PATH" */
        int static_nodes;                /* --nodes N: Ready nodes named node-1..N */
        const char *libvirt_uri;         /* NULL: no libvirt-backed Nodes */
        /* NULL: a Node for every TripDeal domain; else only for domains named PREFIX...
         * (a test's cluster on a shared libvirtd must not schedule onto other tests' VMs) */
        const char *libvirt_domain_prefix;
        bool disable_deployments;
        bool disable_hpa;
        bool disable_nodes; /* node lifecycle, scheduling and eviction */
        /*
         * Process pods' working directories and logs:
         * STATE_DIR/pods/NAMESPACE_POD_UID/CONTAINER.log.  NULL: a new
         * directory $TMPDIR/fakekube-controllers-XXXXXX (its path is logged at
         * start; kept after stop for post-mortems when a process pod ran in
         * it, removed when empty).  Logs of deleted pods are kept too.
         */
        const char *state_dir;
};

struct controllers;

/* 0 or -errno (-EINVAL for a bad option, e.g. a pod command without '='). */
int controllers_start(const struct controllers_options *options, struct controllers **ret);
/* Accepts NULL. */
void controllers_stop(struct controllers *controllers);

/*
 * The file a process pod's container writes its stdout and stderr to (for
 * serving `kubectl logs`): a new string the caller frees, in *ret_path.
 * -ENOENT when there is none (virtual pods, a container never started).
 * Thread-safe; the arguments are borrowed.
 */
int controllers_pod_log_path(const struct controllers *controllers, const char *namespace_,
                             const char *pod_name, const char *pod_uid, const char *container,
                             char **ret_path);
