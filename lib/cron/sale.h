/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sale-window arithmetic (DESIGN.md "Operator" -> Sales).  Pure: the caller
 * passes `now`; nothing here reads a clock.
 *
 * Every fire time s of a sale's schedule opens a window
 *     pods:  [s - leadTime,     s + duration + cooldown)
 *     nodes: [s - nodeLeadTime, s + duration + cooldown)
 * Windows of one sale may overlap each other (a schedule firing more often
 * than its window lasts) and may span midnight or days.  The HPA floor is
 * max(replicas.min, minReplicas of every sale whose pod window is open),
 * clamped to replicas.max.
 *
 * Times here are milliseconds since the epoch (the unit of clock.h and
 * duration.h); schedules fire on whole minutes.
 *
 * Ownership: specs, names and zones are borrowed; results point at the
 * spec's name strings and live as long as the specs do.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "tz.h"

/* Longest duration, lead time or cooldown accepted (366 days). */
#define SALE_SPAN_MAX_MS (INT64_C(366) * 24 * 3600 * 1000)
/* node_lead_time_ms value meaning "same as lead_time_ms" (prescale.nodeLeadTime unset). */
#define SALE_NODE_LEAD_SAME INT64_C(-1)
/* "No such instant" for boundaries. */
#define SALE_NEVER INT64_MAX

struct sale_spec {
        const char *name;
        struct cron_schedule schedule;
        const struct tz_zone *zone;
        int64_t duration_ms;       /* > 0 */
        int64_t lead_time_ms;      /* >= 0 */
        int64_t cooldown_ms;       /* >= 0 */
        int64_t node_lead_time_ms; /* >= 0, or SALE_NODE_LEAD_SAME */
        int32_t min_replicas;      /* >= 0 */
        int32_t nodes;             /* >= 0; extra nodes wanted while the node window is open */
};

struct sale_occurrence {
        const char *name;
        int64_t node_prescale_at_ms; /* starts_at - nodeLeadTime */
        int64_t prescale_at_ms;      /* starts_at - leadTime */
        int64_t starts_at_ms;
        int64_t ends_at_ms;     /* starts_at + duration */
        int64_t releases_at_ms; /* ends_at + cooldown: the floor drops here */
};

/* Ordered: a higher value wins when several sales are in different phases. */
enum sale_phase {
        SALE_PHASE_IDLE,
        SALE_PHASE_NODES_PRESCALING, /* only the node window is open */
        SALE_PHASE_COOLDOWN,         /* after the end, before the release */
        SALE_PHASE_PRESCALING,       /* pod window open, before the start */
        SALE_PHASE_ON_SALE,          /* between start and end */
};

const char *sale_phase_to_string(enum sale_phase phase);

struct sale_state {
        enum sale_phase phase;
        bool pods_open;  /* some pod window contains now */
        bool nodes_open; /* some node window contains now */
        bool has_next;
        struct sale_occurrence next; /* the first occurrence starting after now */
        int64_t next_boundary_ms;    /* first instant > now where a window opens or closes */
};

/* The floor rule's inputs beyond the sales. */
struct sales_floor_options {
        int32_t min_replicas; /* app.replicas.min */
        int32_t max_replicas; /* app.replicas.max */
};

struct sales_summary {
        int32_t floor_replicas;
        const char *floor_sale; /* the sale that sets the floor; NULL = the baseline */
        int32_t nodes;          /* max `nodes` over open node windows (0 if none) */
        const char *nodes_sale;
        enum sale_phase phase; /* the highest phase over all sales */
        bool has_next;
        struct sale_occurrence next_sale; /* earliest next start over all sales */
        int64_t next_boundary_ms;         /* earliest boundary over all sales; SALE_NEVER if none */
};

/* -EINVAL naming nothing: durations out of range, NULL zone.  Used by the evaluators. */
int sale_spec_check(const struct sale_spec *sale);

/* State of one sale at now_ms.  -EINVAL on a bad spec or an absurd now. */
int sale_state_at(const struct sale_spec *sale, int64_t now_ms, struct sale_state *ret_state);

/*
 * Evaluate n sales at now_ms.  ret_states (n entries) may be NULL.  If
 * options->min_replicas > max_replicas the floor is max_replicas (callers
 * should refuse such a spec before).
 */
int sales_evaluate(const struct sale_spec *sales, size_t n,
                   const struct sales_floor_options *options, int64_t now_ms,
                   struct sale_state *ret_states, struct sales_summary *ret_summary);
