/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blackout guardrail: no drill starts inside a TripDeal's sale window
 * (prescale start to end + cooldown), nor so close before one that the
 * drill's maxRecoverySeconds would reach into it.  The windows are lib/cron's
 * (sale.h), read here from the TripDeal's spec.sales JSON.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "clock.h"
#include "cron.h"
#include "duration.h"
#include "macros.h"
#include "sale.h"
#include "tz.h"

static int duration_field(const json_t *object, const char *key, int64_t *ret_ms)
{
        const char *text = json_string_value(json_object_get(object, key));
        *ret_ms = 0;
        if (!text)
                return json_object_get(object, key) ? -EINVAL : 0;
        return duration_parse_ms(text, ret_ms);
}

static void zone_freep(struct tz_zone **zone)
{
        tz_zone_free(*zone);
}

/* One sale: blocked now?  ret_blackout->reason says why when it is. */
static int check_sale(const json_t *sale, size_t index, int64_t now_ms, int64_t max_recovery_ms,
                      struct chaos_blackout *ret_blackout, struct tripdeal_error *ret_error)
{
        const char *name = json_string_value(json_object_get(sale, "name"));
        const char *schedule = json_string_value(json_object_get(sale, "schedule"));
        const char *zone_name = json_string_value(json_object_get(sale, "timeZone"));
        if (!name || !schedule) {
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "spec.sales[%zu]: name and schedule are required", index);
        }
        struct sale_spec spec = {.name = name, .node_lead_time_ms = SALE_NODE_LEAD_SAME};
        struct cron_error cron_error = {0};
        if (cron_parse(schedule, &spec.schedule, &cron_error) < 0) {
                return tripdeal_error_set(ret_error, -EINVAL, "spec.sales[%zu].schedule: %s", index,
                                          tripdeal_error_message(&cron_error.base));
        }
        _cleanup_(zone_freep) struct tz_zone *zone = NULL;
        if (tz_zone_load(zone_name ? zone_name : "UTC", NULL, &zone) < 0) {
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "spec.sales[%zu].timeZone: unknown time zone \"%s\"",
                                          index, zone_name);
        }
        spec.zone = zone;
        json_t *prescale = json_object_get(sale, "prescale");
        if (duration_field(sale, "duration", &spec.duration_ms) < 0 ||
            duration_field(sale, "cooldown", &spec.cooldown_ms) < 0 ||
            duration_field(prescale, "leadTime", &spec.lead_time_ms) < 0) {
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "spec.sales[%zu]: a duration is not valid", index);
        }
        if (spec.duration_ms <= 0 || sale_spec_check(&spec) < 0) {
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "spec.sales[%zu].duration: missing or out of range",
                                          index);
        }
        struct sale_state state;
        if (sale_state_at(&spec, now_ms, &state) < 0) {
                return tripdeal_error_set(ret_error, -EINVAL, "spec.sales[%zu]: cannot evaluate",
                                          index);
        }
        if (state.pods_open) {
                ret_blackout->blocked = true;
                snprintf(ret_blackout->reason, sizeof(ret_blackout->reason),
                         "inside the window of sale %s (prescale to end + cooldown)", name);
                return 0;
        }
        if (state.has_next && state.next.prescale_at_ms < now_ms + max_recovery_ms) {
                char at[40] = "";
                clock_format_rfc3339_ms(state.next.prescale_at_ms, at, sizeof(at));
                ret_blackout->blocked = true;
                snprintf(ret_blackout->reason, sizeof(ret_blackout->reason),
                         "sale %s prescales at %s, within the drill's maxRecoverySeconds (%llds)",
                         name, at, (long long)(max_recovery_ms / 1000));
        }
        return 0;
}

int chaos_blackout_check(const json_t *sales, int64_t now_ms, int64_t max_recovery_ms,
                         struct chaos_blackout *ret_blackout, struct tripdeal_error *ret_error)
{
        struct chaos_blackout blackout = {0};
        if (sales && !json_is_null(sales) && !json_is_array(sales))
                return tripdeal_error_set(ret_error, -EINVAL, "spec.sales: must be a list");
        size_t i;
        json_t *sale;
        json_array_foreach (sales, i, sale) {
                int r = check_sale(sale, i, now_ms, max_recovery_ms, &blackout, ret_error);
                if (r < 0)
                        return r;
                if (blackout.blocked)
                        break;
        }
        *ret_blackout = blackout;
        return 0;
}
