/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 *
 *  - Candidates try every retry period to acquire the Lease: create it if it
 *    does not exist, or take it over (update with the resourceVersion they
 *    read, so two candidates can never both win) when its holder is empty or
 *    has not renewed it for leaseDurationSeconds.  Expiry is judged by the
 *    local clock from the moment this candidate last saw the record change,
 *    so clock skew between machines does not matter.
 *  - The leader renews every retry period; if it cannot renew for the renew
 *    deadline it stops leading (on_stopped_leading) and becomes a candidate
 *    again.
 *  - Stopping while leading releases the Lease (holderIdentity cleared,
 *    leaseDurationSeconds 1), so another candidate takes over at once.
 *
 * Threading: one internal thread; callbacks run on it.  on_started_leading
 * must return promptly (start your work elsewhere).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kube.h"

struct kube_leader_options {
        const char *namespace;     /* required (copied) */
        const char *name;          /* Lease name, required (copied) */
        const char *identity;      /* holderIdentity, required (copied), e.g. hostname_pid */
        int64_t lease_duration_ms; /* 0: 15000 */
        int64_t renew_deadline_ms; /* 0: 10000; must be < lease duration */
        int64_t retry_period_ms;   /* 0: 2000; must be < renew deadline */
        void (*on_started_leading)(void *userdata);
        void (*on_stopped_leading)(void *userdata);
        /* Someone (maybe us) holds the lease now; identity borrowed. */
        void (*on_new_leader)(const char *identity, void *userdata);
        void *userdata;
};

struct kube_leader_elector;

/* client is borrowed and must outlive the elector.  -EINVAL on bad timings. */
int kube_leader_elector_new(struct kube_client *client, const struct kube_leader_options *options,
                            struct kube_leader_elector **ret_elector);
int kube_leader_elector_start(struct kube_leader_elector *elector);
/* Stop the thread; if leading, release the Lease and call on_stopped_leading. */
void kube_leader_elector_stop(struct kube_leader_elector *elector);
/* Stops first.  Accepts NULL. */
void kube_leader_elector_free(struct kube_leader_elector *elector);
bool kube_leader_elector_is_leader(struct kube_leader_elector *elector);
