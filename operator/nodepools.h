/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node pools: the KVM worker nodes of one TripDeal (spec.nodePools), made
 * and released through libvirt (vmctl) and drained through the Kubernetes
 * Eviction API.
 *
 * libvirt is the only record: every VM carries its pool and owner
 * ("NAMESPACE/NAME") in the domain metadata, and each reconcile lists them
 * again (vmctl_list with owner and pool), so an operator restart loses
 * nothing.  A VM's Node is the Node object named like the VM.
 *
 * One reconcile, per pool: replace VMs whose Node has not been Ready for
 * options->node_ready_timeout_ms; release surplus VMs (fewest pods first:
 * cordon, evict every pod honouring PodDisruptionBudgets for at most
 * options->drain_timeout_ms, destroy the VM and its volumes, delete the
 * Node); create missing VMs with the join command from the pool's Secret.
 * Problems (libvirt unreachable, Secret missing, a create failing, a drain
 * blocked) do not fail the call: they come back as a NodesReady=False
 * condition and a retry time, so the caller can still reconcile the rest of
 * the TripDeal.
 *
 * Ownership: requests and options are borrowed for the call; the result's
 * `nodes` is owned by the caller (nodepools_result_clear()).  The join
 * command never leaves this module except into the VM's cloud-init seed, and
 * is never put in a message.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "conditions.h"
#include "kube.h"
#include "tripdeal.h"
#include "vmctl.h"

/* Opens a libvirt connection for `uri` (the default is vmctl_open). */
typedef int (*nodepools_open_fn)(void *userdata, const char *uri, vmctl_conn **ret_conn,
                                 struct tripdeal_error *ret_error);

struct nodepools_options {
        int64_t node_ready_timeout_ms; /* 0: 10 minutes */
        int64_t drain_timeout_ms;      /* 0: 60 seconds */
        int64_t drain_poll_ms;         /* 0: 1 second */
        nodepools_open_fn open;        /* NULL: vmctl_open */
        void *open_userdata;
};

/* Records an Event about the TripDeal ("NodeProvisioned", "NodeReleased"). */
typedef void (*nodepools_event_fn)(void *userdata, const char *type, const char *reason,
                                   const char *message);

struct nodepools_request {
        struct kube_client *client;
        const struct nodepools_options *options; /* NULL: defaults */
        const struct tripdeal_identity *identity;
        const struct tripdeal_spec *spec;
        int32_t nodes_wanted; /* schedule_state.nodes_wanted */
        int64_t now_ms;       /* realtime */
        /* The TripDeal's current status (for the retry back-off); may be NULL. */
        const json_t *status;
        nodepools_event_fn event; /* may be NULL */
        void *event_userdata;
};

struct nodepools_result {
        json_t *nodes; /* status.nodes: [{name, pool, state}], sorted by name; owned */
        /* The NodesReady condition; has_condition is false when the TripDeal
         * has no node pools and no VMs. */
        bool has_condition;
        enum condition_status status;
        /* False because something is wrong (not merely Provisioning): worth
         * a Warning Event. */
        bool problem;
        char reason[64];
        char message[512];
        /* Realtime ms to look again (Nodes registering, a retry); 0: none. */
        int64_t requeue_at_ms;
};
void nodepools_result_clear(struct nodepools_result *result);

/*
 * Where these are defined: nodepools.c (libvirt through vmctl) is linked into
 * the tests and into the module tripdeal-operator-nodepools.so; the operator
 * itself links nodepools_module.c, which handles a TripDeal without node pools
 * in place and loads the module (dlopen) the first time one has them, so the
 * operator maps libvirt and its libraries only when node pools are in use.
 */

/* Converge every pool.  0 (problems are in the result), or -ENOMEM. */
int nodepools_reconcile(const struct nodepools_request *request, struct nodepools_result *ret);

/* nodepools_reconcile() for a spec without node pools: no libvirt call.  0 or -ENOMEM. */
int nodepools_reconcile_none(const struct nodepools_request *request, struct nodepools_result *ret);

/*
 * The finalizer's part: destroy every VM (and its volumes) the TripDeal owns
 * on every libvirt URI of its pools, and delete their Nodes.  0 when none is
 * left; -EHOSTUNREACH when a libvirt host cannot be reached, -EIO when a VM
 * could not be destroyed (*ret_message, optional, says which; caller frees).
 */
int nodepools_release_all(const struct nodepools_request *request, char **ret_message);

/*
 * node-kill drills (operator/drills.c): a chaos_node_driver over the VMs this
 * TripDeal (request->identity) owns on the libvirt URIs of its pools, found
 * through vmctl's owner metadata; VMs of anyone else are never listed,
 * powered off or started (-ENOENT).  Uses request's spec, identity and
 * options only; the spec is not kept.  *ret_driver stays valid until
 * nodepools_drill_nodes_close(*ret_nodes) (accepts NULL).  -ENOENT without
 * node pools, -ELIBACC when node pool support cannot be loaded, or the
 * libvirt error; *ret_message (optional, caller frees) says why.
 */
struct chaos_node_driver;
struct nodepools_drill_nodes;
int nodepools_drill_nodes_open(const struct nodepools_request *request,
                               struct chaos_node_driver *ret_driver,
                               struct nodepools_drill_nodes **ret_nodes, char **ret_message);
void nodepools_drill_nodes_close(struct nodepools_drill_nodes *nodes);
