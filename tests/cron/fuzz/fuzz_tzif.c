/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: arbitrary bytes as a TZif file.  Accepted zones must
 * answer every query without crashing and map local times consistently.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tz_zone *zone = NULL;
        if (tz_zone_parse("fuzz", data, size, &zone) < 0)
                return 0;
        static const int64_t probes[] = {INT64_C(-4000000000), 0,          1774000000,
                                         1800000000,           4102444800, 7258118400};
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
                int64_t t = probes[i], next;
                struct tz_local_mapping m;
                int32_t offset = tz_offset_at(zone, t);
                tz_local_to_utc(zone, t + offset, &m);
                if (m.earliest > m.latest)
                        abort();
                if (tz_next_transition(zone, t, &next) == 0 && next <= t)
                        abort();
        }
        tz_zone_free(zone);
        return 0;
}
