/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reconcile one TripDeal: read it, compute the desired state from
 * (spec, now, observed), apply only the differences, write status, and say
 * when to look again.  Level-triggered and idempotent: running it twice in a
 * row changes nothing the second time.
 *
 * Ownership: the reconciler borrows the client and callbacks for its whole
 * life; reconcile_tripdeal() borrows its arguments for the call.
 * Thread-safe as long as one TripDeal is reconciled by one thread at a time
 * (the work queue guarantees it).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "kube.h"

/* Records a core/v1 Event about `involved` (the TripDeal).  type: "Normal" | "Warning". */
typedef void (*reconcile_event_fn)(void *userdata, const json_t *involved, const char *type,
                                   const char *reason, const char *message);

struct nodepools_options;

/* core/v1 serviceaccounts (lib/kube names none; the operator owns one per TripDeal). */
extern const struct kube_resource RECONCILE_SERVICEACCOUNTS;

struct reconciler {
        struct kube_client *client;
        reconcile_event_fn record_event; /* may be NULL */
        void *event_userdata;
        const struct nodepools_options *nodepools; /* NULL: defaults (nodepools.h) */
};

struct reconcile_outcome {
        /* Realtime ms at which to reconcile again (a sale window boundary);
         * 0: only when something changes. */
        int64_t requeue_at_ms;
        /* The spec was invalid: nothing was changed, status says why. */
        int invalid_spec;
};

/*
 * 0 when the TripDeal is in its desired state (or gone), or a negative
 * KUBE_ERR_* / -errno for the caller to log and retry with backoff
 * (KUBE_ERR_CONFLICT just means "someone wrote first; look again").
 */
int reconcile_tripdeal(const struct reconciler *reconciler, const char *namespace, const char *name,
                       int64_t now_ms, struct reconcile_outcome *ret_outcome);
