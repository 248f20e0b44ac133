/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between the controllers' files; not part of the contract
 * (controllers.h is).  Every controller runs in the reconcile thread over a
 * snapshot of the informer caches (struct sync), except the process kubelet
 * (its own thread, kubelet.c) and the libvirt node poller (nodes.c).
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "controllers.h"
#include "hpa_algorithm.h"
#include "kclient.h"
#include "macros.h"
#include "store.h"

struct hpa_state {
        char uid[64];
        struct hpa_history history;
        int64_t next_sync_ms;
        bool seen;
};

struct process_pod; /* kubelet.c */

struct controllers {
        struct controllers_options options; /* strings below are our copies */
        char *api_url;
        char *token;
        char *ca_file;
        char **pod_commands;
        size_t n_pod_commands;
        char *libvirt_uri;
        char *libvirt_domain_prefix;
        char *state_dir;
        bool own_state_dir; /* made by us (mkdtemp): removed at stop when empty */
        atomic_bool stop;
        struct store store;
        bool store_started;
        bool want[KIND_COUNT];
        struct kclient_options client_options;

        pthread_t reconcile_thread;
        bool reconcile_running;
        pthread_t kubelet_thread;
        bool kubelet_running;
        pthread_t libvirt_thread;
        bool libvirt_running;

        /* Pod IPs 127.0.<block>.<n>: ip -> pod uid. */
        pthread_mutex_t ip_lock;
        json_t *ips;
        int ip_block;
        int ip_next; /* next pool index to try */

        /* HPA memory (reconcile thread only). */
        struct hpa_state *hpas;
        size_t n_hpas;

        /* Process pods' CPU usage, uid -> thousandths of a core (kubelet writes, HPA reads). */
        pthread_mutex_t metrics_lock;
        json_t *cpu_usage;

        /* Scheduler binding mode: 0 unknown, 1 pods/binding works, 2 patch spec.nodeName. */
        int binding_mode;
        /* Nodes this process saw go NotReady, name -> monotonic ms (nodes.c). */
        json_t *node_seen;
        /* Virtual kubelet: pod uid -> monotonic ms it was first seen bound. */
        json_t *pod_seen;
};

/* The reconcile thread's view for one pass. */
struct sync {
        struct controllers *c;
        struct kclient *client;
        json_t *objects[KIND_COUNT]; /* snapshots, owned */
        int64_t now_ms;              /* realtime */
        int64_t mono_ms;
        char now_text[32]; /* RFC 3339 */
};

/* api.c: writes through the API (and into the cache on success). */
void object_path(enum kind kind, const char *namespace_, const char *name, const char *subresource,
                 char *buf, size_t size);
/* 0, or -EEXIST (409 AlreadyExists), -ECONNABORTED (409 conflict), -ENOENT (404), -EPROTO (other
 * status), -EIO. */
int api_create(struct sync *s, enum kind kind, const char *namespace_, json_t *object,
               json_t **ret_created);
int api_update(struct sync *s, enum kind kind, const json_t *object, const char *subresource);
int api_merge_patch(struct sync *s, enum kind kind, const char *namespace_, const char *name,
                    const char *subresource, const json_t *patch);
/* grace_seconds < 0: the object's default. */
int api_delete(struct sync *s, enum kind kind, const char *namespace_, const char *name,
               int64_t grace_seconds);
int api_status_from_http(long status);
/*
 * A core/v1 Event about object (kind/apiVersion given: list items carry
 * none), as the real component would record it; best effort, failures are
 * ignored.  type "Normal" or "Warning".
 */
void emit_event(struct sync *s, const json_t *object, const char *kind, const char *api_version,
                const char *type, const char *reason, const char *component, const char *fmt, ...)
        _printf_(8, 9);

/* Status writes of a pod through /status (merge patch of "status"). */
int pod_patch_status(struct sync *s, const json_t *pod, json_t *status);

/* Pod IP allocator (controllers.c). */
int pod_ip_allocate(struct controllers *c, const char *uid, char *buf, size_t size);
void pod_ip_release(struct controllers *c, const char *uid);
void pod_ip_reserve(struct controllers *c, const char *ip, const char *uid);

/* One pass of each controller (reconcile thread). */
void sync_deployments(struct sync *s);
void sync_replicasets(struct sync *s);
void sync_static_nodes(struct sync *s);
void sync_scheduler(struct sync *s);
void sync_node_lifecycle(struct sync *s);
void sync_virtual_kubelet(struct sync *s);
void sync_endpoints(struct sync *s);
void sync_hpas(struct sync *s);

/* nodes.c: libvirt poller thread. */
int libvirt_nodes_start(struct controllers *c);
/* kubelet.c: process pods thread. */
int process_kubelet_start(struct controllers *c);
/* CPU usage of a process pod in thousandths of a core, -ENODATA when unknown. */
int process_pod_cpu_milli(struct controllers *c, const char *uid, int64_t *ret);
/* Does this pod belong to a node that is Ready (or nodes are disabled)? */
bool pod_node_alive(const struct sync *s, const json_t *pod);
