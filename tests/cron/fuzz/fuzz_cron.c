/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: arbitrary text as a cron schedule.  Parsed schedules must
 * satisfy next(t) > t and prev(next(t)) == next(t) in a DST zone.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tz_zone *zone;
        if (!zone && tz_zone_load("America/New_York", NULL, &zone) < 0)
                abort();
        if (size > 256)
                return 0;
        char text[257];
        memcpy(text, data, size);
        text[size] = '\0';

        struct cron_schedule schedule;
        struct cron_error error;
        int r = cron_parse(text, &schedule, &error);
        if (r < 0) {
                /* Every refusal says why, with the code it returned. */
                if (!error.base.message[0] || error.base.code != r || !error.field)
                        abort();
                return 0;
        }
        /* 2026-03-08 05:00Z: two hours before New York springs forward. */
        int64_t t = 1772946000, next, back;
        if (cron_next(&schedule, zone, t, &next) < 0)
                abort();
        if (next <= t || cron_prev(&schedule, zone, next, &back) < 0 || back != next)
                abort();
        return 0;
}
