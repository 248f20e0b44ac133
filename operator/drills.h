/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's scheduled chaos drills (spec.chaos): each drill fires on its
 * cron schedule in its own time zone, is skipped inside a sale blackout
 * (Event DrillSkipped naming the sale), and otherwise runs the chaos engine
 * (chaos/) in a thread of its own — one drill per TripDeal at a time —
 * against the TripDeal's site pods, probing the site's own Service; node-kill
 * drills power off a VM of the TripDeal's own node pools (the node pool
 * module's driver, nodepools_drill_nodes_open).  Results
 * go to status.lastDrill, Events DrillStarted/Passed/Failed/Aborted/Skipped
 * and the drill metrics.  A new leader restores what an interrupted drill
 * changed (the drill's Lease, see chaos/README.md).
 *
 * Process-wide state (one operator per process), thread-safe.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube.h"
#include "nodepools.h"
#include "reconcile.h"

struct drills_options {
        struct kube_client *client;
        reconcile_event_fn record_event; /* may be NULL */
        void *event_userdata;
        /* Reconcile this TripDeal again (a drill started or ended). */
        void (*requeue)(void *userdata, const char *namespace, const char *name);
        void *requeue_userdata;
        const char *prometheus_url; /* --prometheus-url; NULL: none */
        const char *identity;       /* the operator's identity (host_pid) */
        /* How node-kill drills open libvirt (NULL: vmctl_open); kept, not copied. */
        const struct nodepools_options *nodepools;
};

/* Copies what it needs.  0 or -errno. */
int drills_setup(const struct drills_options *options);
/* Abort running drills (they restore what they changed) and wait for them. */
void drills_shutdown(void);

/* The drill a schedule fires for: decided by drills_plan() (pure, for tests). */
struct drill_plan {
        bool due;                /* a fire time in the last DRILLS_START_WINDOW_MS */
        char name[64];           /* the due drill */
        int64_t scheduled_at_ms; /* its fire time */
        int64_t next_at_ms;      /* the next fire time of any drill (0: none) */
        int64_t max_recovery_ms; /* the due drill's maxRecoverySeconds */
        char error[384];         /* a schedule or zone that cannot be used ("" if none) */
};
/* A drill starts only within this long of its fire time (a restarted or
 * late operator does not run yesterday's drill). */
#define DRILLS_START_WINDOW_MS (60 * 1000)

/* Which drill of tripdeal (the object) is due at now_ms, given the one
 * already handled (status.lastDrill.scheduledAt). */
int drills_plan(const json_t *tripdeal, int64_t now_ms, struct drill_plan *ret_plan);

/*
 * From reconcile: start the due drill (or record it Skipped), and say when to
 * look again and whether a drill of this TripDeal is running (phase
 * Drilling).  Never blocks on a drill.  0 or -errno.
 */
int drills_reconcile(const json_t *tripdeal, int64_t now_ms, int64_t *ret_requeue_at_ms,
                     bool *ret_running);

/* New leader: restore drills an earlier operator left half-done (their Lease
 * held by a tripdeal-operator identity) in namespace (NULL: all). */
void drills_recover(const char *namespace);
