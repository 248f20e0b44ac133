/* SPDX-License-Identifier: Apache-2.0 */
#include "sale.h"

#include <errno.h>

#include "macros.h"

#define NOW_LIMIT_MS (INT64_C(1) << 55)

const char *sale_phase_to_string(enum sale_phase phase)
{
        static const char *const names[] = {
                [SALE_PHASE_IDLE] = "Idle",
                [SALE_PHASE_NODES_PRESCALING] = "NodesPrescaling",
                [SALE_PHASE_COOLDOWN] = "Cooldown",
                [SALE_PHASE_PRESCALING] = "Prescaling",
                [SALE_PHASE_ON_SALE] = "OnSale",
        };
        return (size_t)phase < ARRAY_SIZE(names) ? names[phase] : "Unknown";
}

static bool span_ok(int64_t ms)
{
        return ms >= 0 && ms <= SALE_SPAN_MAX_MS;
}

int sale_spec_check(const struct sale_spec *sale)
{
        if (!sale || !sale->zone || !span_ok(sale->duration_ms) || sale->duration_ms == 0 ||
            !span_ok(sale->lead_time_ms) || !span_ok(sale->cooldown_ms) ||
            (sale->node_lead_time_ms != SALE_NODE_LEAD_SAME && !span_ok(sale->node_lead_time_ms)) ||
            sale->min_replicas < 0 || sale->nodes < 0)
                return -EINVAL;
        return 0;
}

static int64_t node_lead(const struct sale_spec *sale)
{
        return sale->node_lead_time_ms == SALE_NODE_LEAD_SAME ? sale->lead_time_ms
                                                              : sale->node_lead_time_ms;
}

static int64_t min64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

/* Fire times are whole seconds: s*1000 > x  <=>  s > floor(x/1000). */
static bool next_fire_ms(const struct sale_spec *sale, int64_t after_ms, int64_t *ret_ms)
{
        int64_t t;
        if (cron_next(&sale->schedule, sale->zone, tz_floor_div(after_ms, 1000), &t) < 0)
                return false;
        *ret_ms = t * 1000;
        return true;
}

/* s*1000 <= x  <=>  s <= floor(x/1000). */
static bool prev_fire_ms(const struct sale_spec *sale, int64_t at_ms, int64_t *ret_ms)
{
        int64_t t;
        if (cron_prev(&sale->schedule, sale->zone, tz_floor_div(at_ms, 1000), &t) < 0)
                return false;
        *ret_ms = t * 1000;
        return true;
}

struct window_result {
        bool open;
        int64_t next_boundary_ms;
};

/*
 * One kind of window [s - lead, s + tail) over all fire times s:
 * open at now iff some s lies in (now - tail, now + lead].
 * Opening instants s - lead grow with s, and so do closing instants s + tail,
 * so the next of each comes from the first s past the matching bound.
 */
static void evaluate_window(const struct sale_spec *sale, int64_t lead, int64_t tail,
                            int64_t now_ms, struct window_result *ret)
{
        int64_t s;
        ret->open = prev_fire_ms(sale, now_ms + lead, &s) && s + tail > now_ms;
        ret->next_boundary_ms = SALE_NEVER;
        if (next_fire_ms(sale, now_ms + lead, &s))
                ret->next_boundary_ms = min64(ret->next_boundary_ms, s - lead);
        if (next_fire_ms(sale, now_ms - tail, &s))
                ret->next_boundary_ms = min64(ret->next_boundary_ms, s + tail);
}

static struct sale_occurrence occurrence(const struct sale_spec *sale, int64_t starts_at_ms)
{
        return (struct sale_occurrence){
                .name = sale->name,
                .node_prescale_at_ms = starts_at_ms - node_lead(sale),
                .prescale_at_ms = starts_at_ms - sale->lead_time_ms,
                .starts_at_ms = starts_at_ms,
                .ends_at_ms = starts_at_ms + sale->duration_ms,
                .releases_at_ms = starts_at_ms + sale->duration_ms + sale->cooldown_ms,
        };
}

int sale_state_at(const struct sale_spec *sale, int64_t now_ms, struct sale_state *ret_state)
{
        if (sale_spec_check(sale) < 0 || now_ms <= -NOW_LIMIT_MS || now_ms >= NOW_LIMIT_MS)
                return -EINVAL;

        int64_t tail = sale->duration_ms + sale->cooldown_ms;
        struct window_result pods, nodes;
        evaluate_window(sale, sale->lead_time_ms, tail, now_ms, &pods);
        evaluate_window(sale, node_lead(sale), tail, now_ms, &nodes);

        struct sale_state state = {
                .pods_open = pods.open,
                .nodes_open = nodes.open,
                .next_boundary_ms = min64(pods.next_boundary_ms, nodes.next_boundary_ms),
        };

        int64_t s;
        if (next_fire_ms(sale, now_ms, &s)) {
                state.has_next = true;
                state.next = occurrence(sale, s);
        }

        /* Phase, most significant first: on sale, prescaling, cooldown, nodes only. */
        bool on_sale = prev_fire_ms(sale, now_ms, &s) && s + sale->duration_ms > now_ms;
        if (on_sale)
                state.phase = SALE_PHASE_ON_SALE;
        else if (state.has_next && state.next.prescale_at_ms <= now_ms)
                state.phase = SALE_PHASE_PRESCALING;
        else if (pods.open)
                state.phase = SALE_PHASE_COOLDOWN;
        else if (nodes.open)
                state.phase = SALE_PHASE_NODES_PRESCALING;
        else
                state.phase = SALE_PHASE_IDLE;

        *ret_state = state;
        return 0;
}

int sales_evaluate(const struct sale_spec *sales, size_t n,
                   const struct sales_floor_options *options, int64_t now_ms,
                   struct sale_state *ret_states, struct sales_summary *ret_summary)
{
        if ((!sales && n > 0) || !options || options->min_replicas < 0 || options->max_replicas < 0)
                return -EINVAL;

        struct sales_summary summary = {
                .floor_replicas = options->min_replicas,
                .next_boundary_ms = SALE_NEVER,
        };
        for (size_t i = 0; i < n; i++) {
                struct sale_state state;
                int r = sale_state_at(&sales[i], now_ms, &state);
                if (r < 0)
                        return r;
                if (ret_states)
                        ret_states[i] = state;

                if (state.pods_open && sales[i].min_replicas > summary.floor_replicas) {
                        summary.floor_replicas = sales[i].min_replicas;
                        summary.floor_sale = sales[i].name;
                }
                if (state.nodes_open && sales[i].nodes > summary.nodes) {
                        summary.nodes = sales[i].nodes;
                        summary.nodes_sale = sales[i].name;
                }
                if (state.phase > summary.phase)
                        summary.phase = state.phase;
                if (state.has_next && (!summary.has_next ||
                                       state.next.starts_at_ms < summary.next_sale.starts_at_ms)) {
                        summary.has_next = true;
                        summary.next_sale = state.next;
                }
                summary.next_boundary_ms = min64(summary.next_boundary_ms, state.next_boundary_ms);
        }
        if (summary.floor_replicas > options->max_replicas)
                summary.floor_replicas = options->max_replicas;

        *ret_summary = summary;
        return 0;
}
