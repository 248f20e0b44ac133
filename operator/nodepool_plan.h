/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure decisions behind node pools, apart from libvirt and the API
 * server so that they can be tested on their own:
 *
 *   - how many VMs a pool should have now (min, max, open sale windows);
 *   - which VM to release on scale-down (its Node runs the fewest pods);
 *   - when a VM whose Node is not Ready has waited long enough to be replaced;
 *   - the VM name, and the retry delay while libvirt cannot be reached.
 *
 * Nothing here reads clocks, random numbers or the network: they come in as
 * arguments.  Every pointer is borrowed for the call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Kubernetes side of a VM: the Node named like it. */
enum nodepool_node_state {
        NODEPOOL_NODE_REGISTERING, /* no Node object yet */
        NODEPOOL_NODE_READY,       /* Node Ready=True */
        NODEPOOL_NODE_NOT_READY,   /* Node Ready=False/Unknown */
};
/* "Registering", "Ready", "NotReady". */
const char *nodepool_node_state_to_string(enum nodepool_node_state state);

/* One VM of a pool as seen now. */
struct nodepool_member {
        const char *name;
        enum nodepool_node_state node;
        int32_t pods; /* pods bound to its Node (not finished) */
        /* Realtime ms: when the VM was created (metadata created-at; 0: unknown) */
        int64_t created_at_ms;
        /* Realtime ms: when its Node's Ready condition last turned non-True
         * (lastTransitionTime; 0: unknown or no Node). */
        int64_t not_ready_since_ms;
};

/*
 * VMs a pool should have: max(min, nodes_wanted) clamped to [0, max].
 * nodes_wanted is what the open sale windows ask for (schedule.h).
 */
int32_t nodepool_desired_count(int32_t pool_min, int32_t pool_max, int32_t nodes_wanted);

/*
 * The member to release on scale-down: the fewest pods (least to drain);
 * on a tie one whose Node is not Ready, then the newest, then the greatest
 * name (deterministic).  -1 when n is 0.
 */
long nodepool_pick_removal(const struct nodepool_member *members, size_t n);

/*
 * Realtime ms at which a member whose Node is not Ready is to be replaced:
 * ready_timeout after it was created (no Node yet) or after its Node turned
 * not Ready, whichever is later.  0 when its Node is Ready (nothing due) or
 * when neither time is known.
 */
int64_t nodepool_replace_due_ms(const struct nodepool_member *member, int64_t ready_timeout_ms);
bool nodepool_needs_replacement(const struct nodepool_member *member, int64_t now_ms,
                                int64_t ready_timeout_ms);

/*
 * "<tripdeal>-<pool>-<suffix>" as a DNS-1123 label of at most 63: '.' in the
 * TripDeal name becomes '-', and the "<tripdeal>-<pool>" prefix is cut when
 * too long.  suffix_random: 5 random bytes, mapped onto [a-z0-9].  buf must
 * hold 64 bytes.  -EINVAL on an empty name or pool, -ENOBUFS on a small buf.
 */
#define NODEPOOL_SUFFIX_LENGTH 5
int nodepool_vm_name(const char *tripdeal, const char *pool,
                     const uint8_t suffix_random[NODEPOOL_SUFFIX_LENGTH], char *buf, size_t size);

/*
 * How long to wait before trying libvirt again after it has been failing for
 * failing_for_ms: doubling from 1 s (as the time spent failing grows), at
 * most 5 minutes.
 */
int64_t nodepool_retry_delay_ms(int64_t failing_for_ms);
