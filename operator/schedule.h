/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a TripDeal's sale schedule means at one instant: the HPA floor in
 * force, why, the nodes the pools should hold, the next sale to show in
 * status, and the next instant at which any of that changes (the operator
 * sets a timer for exactly that instant instead of polling).
 *
 * The floor is max(app.replicas.min, prescale.minReplicas of every sale
 * window open now), clamped to app.replicas.max.  A window runs from
 * start - leadTime to start + duration + cooldown; for nodes, from
 * start - nodeLeadTime to the same end.
 *
 * Pure: `now` comes in, nothing is read from clocks.  The window arithmetic
 * itself is lib/cron (sale.h); this adapts a TripDeal spec to it and names
 * the field when a schedule or zone is unusable.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sale.h"
#include "tripdeal.h"

/* Why the floor is what it is.  Decisions use this, never the status text. */
enum schedule_floor_reason {
        SCHEDULE_FLOOR_BASELINE, /* app.replicas.min: no sale window raises it */
        SCHEDULE_FLOOR_SALE,     /* a sale window's prescale.minReplicas (floor_sale) */
};

struct schedule_state {
        int32_t floor_replicas;
        enum schedule_floor_reason floor_reason;
        char floor_sale[64];         /* the sale setting the floor (SCHEDULE_FLOOR_SALE) */
        enum sale_phase floor_phase; /* the highest phase over all sales */
        int32_t nodes_wanted;        /* max prescale.nodes of node windows open now */
        /* The next sale to start (status.nextSale); has_next_sale is 0 when
         * there are no sales. */
        int has_next_sale;
        char next_sale_name[64];
        int64_t next_prescale_at_ms; /* start - leadTime */
        int64_t next_starts_at_ms;
        int64_t next_ends_at_ms; /* start + duration (cooldown not included) */
        /* Next instant anything above or the phase changes (a window opens or
         * closes, a sale starts or ends); 0: never. */
        int64_t next_boundary_ms;
        int sale_running; /* a sale is between its start and its end now */
        int prescaling;   /* a window is open but its sale has not started */
};

/*
 * Evaluate at now_ms (ms since the epoch).  -EINVAL with *ret_error naming the field
 * (e.g. "spec.sales[0].timeZone: unknown time zone \"Mars/Base\"") for a
 * schedule or zone that cannot be used; caller frees *ret_error.
 */
int schedule_evaluate(const struct tripdeal_spec *spec, int64_t now_ms,
                      struct schedule_state *ret_state, char **ret_error);

/* status.floorReason: "baseline" or "sale morning-flash (Prescaling)".  For
 * people only; code decides on state->floor_reason. */
void schedule_floor_reason_format(const struct schedule_state *state, char *buf, size_t size);
