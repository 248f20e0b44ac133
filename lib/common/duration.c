/* SPDX-License-Identifier: Apache-2.0 */
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int duration_parse_ms(const char *s, int64_t *ret_ms)
{
        if (!s || !*s)
                return -EINVAL;
        if (strcmp(s, "0") == 0) {
                *ret_ms = 0;
                return 0;
        }

        int64_t total = 0;
        const char *p = s;
        while (*p) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                int64_t n = 0;
                while (*p >= '0' && *p <= '9') {
                        if (n > (INT64_MAX - 9) / 10)
                                return -ERANGE;
                        n = n * 10 + (*p - '0');
                        p++;
                }
                int64_t unit;
                if (strncmp(p, "ms", 2) == 0) {
                        unit = 1;
                        p += 2;
                } else if (*p == 's') {
                        unit = 1000;
                        p++;
                } else if (*p == 'm') {
                        unit = 60 * 1000;
                        p++;
                } else if (*p == 'h') {
                        unit = 3600 * 1000;
                        p++;
                } else {
                        return -EINVAL;
                }
                if (n > (INT64_MAX - total) / unit)
                        return -ERANGE;
                total += n * unit;
        }
        *ret_ms = total;
        return 0;
}

int duration_format(int64_t ms, char *buf, size_t size)
{
        if (ms < 0)
                return -EINVAL;
        if (ms == 0)
                return snprintf(buf, size, "0s") < (int)size ? 0 : -ENOBUFS;

        static const struct {
                const char *suffix;
                int64_t ms;
        } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};

        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                int64_t n = ms / units[i].ms;
                if (n == 0)
                        continue;
                ms -= n * units[i].ms;
                int w = snprintf(buf + used, size - used, "%lld%s", (long long)n, units[i].suffix);
                if (w < 0 || (size_t)w >= size - used)
                        return -ENOBUFS;
                used += (size_t)w;
        }
        return 0;
}
