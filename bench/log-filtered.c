/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a filtered log line costs: N debug lines at level info, the way a
 * claim logs one (fields from json_pack), through log_emit() (level checked
 * before the fields are built) and through log_emit_fields() (fields built,
 * then dropped: what every filtered line cost before).  Prints ns a line.
 *
 *   cc -std=c17 -D_GNU_SOURCE -O2 -Ilib/common bench/log-filtered.c \
 *      build/lib/common/libtripdeal_common.a -ljansson -lpthread -o /tmp/log-filtered
 *   /tmp/log-filtered [N]
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"

int main(int argc, char **argv)
{
        long n = argc > 1 ? atol(argv[1]) : 2000000;
        log_setup("log-filtered", LOG_LEVEL_INFO);

        int64_t start = clock_monotonic_ms();
        for (long i = 0; i < n; i++)
                log_emit_fields(LOG_LEVEL_DEBUG,
                                json_pack("{s:I, s:s, s:i}", "deal", (json_int_t)i, "user", "u-123",
                                          "stock_left", 42),
                                "claim %ld", i);
        int64_t built = clock_monotonic_ms() - start;

        start = clock_monotonic_ms();
        for (long i = 0; i < n; i++)
                log_emit(LOG_LEVEL_DEBUG,
                         json_pack("{s:I, s:s, s:i}", "deal", (json_int_t)i, "user", "u-123",
                                   "stock_left", 42),
                         "claim %ld", i);
        int64_t checked = clock_monotonic_ms() - start;

        printf("%ld filtered debug lines: fields built then dropped %.1f ns/line, "
               "level checked first %.1f ns/line\n",
               n, (double)built * 1e6 / (double)n, (double)checked * 1e6 / (double)n);
        return 0;
}
