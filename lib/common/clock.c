/* SPDX-License-Identifier: Apache-2.0 */
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int64_t clock_ms(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_realtime_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

int64_t clock_monotonic_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}

int clock_format_rfc3339(time_t t, char *buf, size_t size)
{
        struct tm tm;
        if (!gmtime_r(&t, &tm))
                return -EINVAL;
        if (strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -ENOBUFS;
        return 0;
}

/* digits: 3 (milliseconds) or 6 (microseconds, from ms: the last three are 0). */
static int format_fraction(int64_t ms, int digits, char *buf, size_t size)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        if (!gmtime_r(&t, &tm))
                return -EINVAL;
        char base[32];
        if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return -EINVAL;
        int fraction = (int)(ms % 1000) * (digits == 6 ? 1000 : 1);
        int n = snprintf(buf, size, "%s.%0*dZ", base, digits, fraction);
        if (n < 0 || (size_t)n >= size)
                return -ENOBUFS;
        return 0;
}

int clock_format_rfc3339_ms(int64_t ms, char *buf, size_t size)
{
        return format_fraction(ms, 3, buf, size);
}

int clock_format_rfc3339_micro(int64_t ms, char *buf, size_t size)
{
        return format_fraction(ms, 6, buf, size);
}

int clock_parse_rfc3339(const char *s, time_t *ret_t)
{
        if (!s)
                return -EINVAL;
        struct tm tm = {0};
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        long offset = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int hh, mm, n = 0;
                if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
                        return -EINVAL;
                offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
                p += 1 + n;
        } else {
                return -EINVAL;
        }
        if (*p != '\0')
                return -EINVAL;
        time_t t = timegm(&tm);
        if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mday == 31))
                return -EINVAL;
        *ret_t = t - offset;
        return 0;
}
