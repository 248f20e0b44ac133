/* SPDX-License-Identifier: Apache-2.0 */
#include "schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "macros.h"
#include "sale.h"
#include "tz.h"

struct loaded_sales {
        struct sale_spec *specs;
        struct tz_zone **zones;
        size_t count;
};

static void loaded_sales_clear(struct loaded_sales *loaded)
{
        for (size_t i = 0; i < loaded->count; i++)
                tz_zone_free(loaded->zones[i]);
        free(loaded->zones);
        free(loaded->specs);
}

/* Turn the spec's sales into lib/cron's form; errors name the field. */
static int load_sales(const struct tripdeal_spec *spec, struct loaded_sales *loaded,
                      char **ret_error)
{
        loaded->specs = calloc(spec->sales_count ?: 1, sizeof(*loaded->specs));
        loaded->zones = calloc(spec->sales_count ?: 1, sizeof(*loaded->zones));
        if (!loaded->specs || !loaded->zones)
                return -ENOMEM;

        for (size_t i = 0; i < spec->sales_count; i++) {
                const struct tripdeal_sale *sale = &spec->sales[i];
                struct sale_spec *out = &loaded->specs[i];
                struct cron_error cron_error = {0};
                int r = cron_parse(sale->schedule, &out->schedule, &cron_error);
                if (r < 0) {
                        if (asprintf(ret_error, "spec.sales[%zu].schedule: %s", i,
                                     cron_error.message[0] ? cron_error.message
                                                           : "not a 5-field cron schedule") < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
                r = tz_zone_load(sale->time_zone, NULL, &loaded->zones[i]);
                if (r < 0) {
                        if (asprintf(ret_error, "spec.sales[%zu].timeZone: %s \"%s\"", i,
                                     r == -ENOENT ? "unknown time zone" : "unusable time zone",
                                     sale->time_zone) < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
                loaded->count = i + 1;
                *out = (struct sale_spec){
                        .name = sale->name,
                        .schedule = out->schedule,
                        .zone = loaded->zones[i],
                        .duration_ms = sale->duration_ms,
                        .lead_time_ms = sale->lead_time_ms,
                        .cooldown_ms = sale->cooldown_ms,
                        .node_lead_time_ms = sale->node_lead_time_ms,
                        .min_replicas = sale->min_replicas,
                        .nodes = sale->nodes,
                };
                if (sale_spec_check(out) < 0) {
                        if (asprintf(ret_error,
                                     "spec.sales[%zu]: duration, leadTime or cooldown out of range "
                                     "(at most 366 days)",
                                     i) < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
        }
        return 0;
}

int schedule_evaluate(const struct tripdeal_spec *spec, int64_t now_ms,
                      struct schedule_state *ret_state, char **ret_error)
{
        _cleanup_(loaded_sales_clear) struct loaded_sales loaded = {0};
        int r = load_sales(spec, &loaded, ret_error);
        if (r < 0)
                return r;

        struct sales_floor_options floor = {.min_replicas = spec->replicas_min,
                                            .max_replicas = spec->replicas_max};
        struct sales_summary summary;
        r = sales_evaluate(loaded.specs, loaded.count, &floor, now_ms, NULL, &summary);
        if (r < 0) {
                if (asprintf(ret_error, "spec.sales: cannot evaluate the schedule at this time") <
                    0)
                        *ret_error = NULL;
                return -EINVAL;
        }

        struct schedule_state state = {
                .floor_replicas = summary.floor_replicas,
                .floor_reason = summary.floor_sale ? SCHEDULE_FLOOR_SALE : SCHEDULE_FLOOR_BASELINE,
                .floor_phase = summary.phase,
                .nodes_wanted = summary.nodes,
                .has_next_sale = summary.has_next,
                .sale_running = summary.phase == SALE_PHASE_ON_SALE,
                .prescaling = summary.phase == SALE_PHASE_PRESCALING,
        };
        if (summary.floor_sale)
                snprintf(state.floor_sale, sizeof(state.floor_sale), "%s", summary.floor_sale);

        /* lib/cron's boundaries are where windows open and close; the phase
         * also changes where a sale starts and ends (Prescaling -> OnSale ->
         * Cooldown).  The window [start, start + duration) of the same
         * schedule has exactly those instants as its boundaries. */
        int64_t next_boundary = summary.next_boundary_ms;
        for (size_t i = 0; i < loaded.count; i++) {
                struct sale_spec sale_only = loaded.specs[i];
                sale_only.lead_time_ms = 0;
                sale_only.cooldown_ms = 0;
                sale_only.node_lead_time_ms = SALE_NODE_LEAD_SAME;
                struct sale_state edges;
                if (sale_state_at(&sale_only, now_ms, &edges) == 0 &&
                    edges.next_boundary_ms < next_boundary)
                        next_boundary = edges.next_boundary_ms;
        }
        state.next_boundary_ms = next_boundary == SALE_NEVER ? 0 : next_boundary;
        if (summary.has_next) {
                snprintf(state.next_sale_name, sizeof(state.next_sale_name), "%s",
                         summary.next_sale.name);
                state.next_prescale_at_ms = summary.next_sale.prescale_at_ms;
                state.next_starts_at_ms = summary.next_sale.starts_at_ms;
                state.next_ends_at_ms = summary.next_sale.ends_at_ms;
        }
        *ret_state = state;
        return 0;
}

void schedule_floor_reason_format(const struct schedule_state *state, char *buf, size_t size)
{
        switch (state->floor_reason) {
        case SCHEDULE_FLOOR_SALE:
                snprintf(buf, size, "sale %s (%s)", state->floor_sale,
                         sale_phase_to_string(state->floor_phase));
                return;
        case SCHEDULE_FLOOR_BASELINE:
        default:
                snprintf(buf, size, "baseline");
                return;
        }
}
