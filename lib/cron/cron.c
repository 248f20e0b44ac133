/* SPDX-License-Identifier: Apache-2.0 */
#include "cron.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macros.h"

#define SECONDS_PER_DAY 86400
/* Instants beyond this are refused rather than risking overflow (about ±35 million years). */
#define INSTANT_LIMIT (INT64_C(1) << 50)

static const char *const error_texts[] = {
#define CRON_ERROR_TEXT(name, text) [CRON_ERROR_##name] = text,
        CRON_ERROR_LIST(CRON_ERROR_TEXT)
#undef CRON_ERROR_TEXT
};

const char *cron_error_kind_to_string(enum cron_error_kind kind)
{
        if ((size_t)kind >= ARRAY_SIZE(error_texts) || !error_texts[kind])
                return "unknown error";
        return error_texts[kind];
}

static int fail(struct cron_error *error, int code, enum cron_error_kind kind, const char *field,
                const char *token, size_t token_length)
{
        if (!error)
                return code;
        *error = (struct cron_error){.kind = kind, .field = field};
        if (token_length >= sizeof(error->token))
                token_length = sizeof(error->token) - 1;
        memcpy(error->token, token ? token : "", token ? token_length : 0);
        if (error->token[0])
                return tripdeal_error_set(&error->base, code, "%s: \"%s\": %s", field, error->token,
                                          cron_error_kind_to_string(kind));
        return tripdeal_error_set(&error->base, code, "%s: %s", field,
                                  cron_error_kind_to_string(kind));
}

struct field_spec {
        const char *name;
        int min;
        int max;
        const char *const *names; /* names[i] is the value names_base + i */
        int names_base;
        size_t n_names;
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

enum { FIELD_MINUTE, FIELD_HOUR, FIELD_DAY_OF_MONTH, FIELD_MONTH, FIELD_DAY_OF_WEEK, N_FIELDS };

static const struct field_spec fields[N_FIELDS] = {
        [FIELD_MINUTE] = {"minute", 0, 59, NULL, 0, 0},
        [FIELD_HOUR] = {"hour", 0, 23, NULL, 0, 0},
        [FIELD_DAY_OF_MONTH] = {"day-of-month", 1, 31, NULL, 0, 0},
        [FIELD_MONTH] = {"month", 1, 12, month_names, 1, ARRAY_SIZE(month_names)},
        /* 7 is accepted as Sunday and folded into 0 after parsing. */
        [FIELD_DAY_OF_WEEK] = {"day-of-week", 0, 7, weekday_names, 0, ARRAY_SIZE(weekday_names)},
};

static const struct {
        const char *name;
        const char *expansion;
} macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
};

/* A number or (for month/day-of-week) a three-letter name; [s, s+n). */
static int parse_value(const struct field_spec *field, const char *s, size_t n, int *ret)
{
        if (n == 0)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '9') {
                int value = 0;
                for (size_t i = 0; i < n; i++) {
                        if (s[i] < '0' || s[i] > '9')
                                return -EINVAL;
                        if (value > 1000)
                                return -ERANGE;
                        value = value * 10 + (s[i] - '0');
                }
                if (value < field->min || value > field->max)
                        return -ERANGE;
                *ret = value;
                return 0;
        }
        for (size_t i = 0; i < field->n_names; i++)
                if (n == 3 && strncasecmp(s, field->names[i], 3) == 0) {
                        *ret = field->names_base + (int)i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_field(const struct field_spec *field, const char *text, size_t length,
                       uint64_t *ret_bits, struct cron_error *error)
{
        uint64_t bits = 0;
        const char *end = text + length;

        for (const char *item = text; item <= end;) {
                const char *item_end = memchr(item, ',', (size_t)(end - item));
                if (!item_end)
                        item_end = end;
                size_t item_length = (size_t)(item_end - item);
                if (item_length == 0)
                        return fail(error, -EINVAL, CRON_ERROR_BAD_TOKEN, field->name, text,
                                    length);

                const char *slash = memchr(item, '/', item_length);
                const char *range_end = slash ? slash : item_end;
                int low, high, step = 1;
                int r;

                if (range_end - item == 1 && item[0] == '*') {
                        low = field->min;
                        high = field->max == 7 ? 6 : field->max;
                } else {
                        const char *dash = memchr(item, '-', (size_t)(range_end - item));
                        const char *low_end = dash ? dash : range_end;
                        r = parse_value(field, item, (size_t)(low_end - item), &low);
                        if (r < 0)
                                return fail(error, -EINVAL,
                                            r == -ERANGE ? CRON_ERROR_OUT_OF_RANGE
                                                         : CRON_ERROR_BAD_TOKEN,
                                            field->name, item,
                                            low_end > item ? (size_t)(low_end - item)
                                                           : item_length);
                        if (dash) {
                                r = parse_value(field, dash + 1, (size_t)(range_end - dash - 1),
                                                &high);
                                if (r < 0)
                                        return fail(error, -EINVAL,
                                                    r == -ERANGE ? CRON_ERROR_OUT_OF_RANGE
                                                                 : CRON_ERROR_BAD_TOKEN,
                                                    field->name,
                                                    range_end > dash + 1 ? dash + 1 : item,
                                                    range_end > dash + 1
                                                            ? (size_t)(range_end - dash - 1)
                                                            : item_length);
                                if (low > high)
                                        return fail(error, -EINVAL, CRON_ERROR_BAD_RANGE,
                                                    field->name, item, item_length);
                        } else {
                                /* "5/15" means 5-max/15, as Kubernetes CronJob reads it. */
                                high = slash ? field->max : low;
                        }
                }

                if (slash) {
                        const char *s = slash + 1;
                        size_t n = (size_t)(item_end - s);
                        step = 0;
                        for (size_t i = 0; i < n && step <= 1000; i++) {
                                if (s[i] < '0' || s[i] > '9') {
                                        step = 0;
                                        break;
                                }
                                step = step * 10 + (s[i] - '0');
                        }
                        if (n == 0 || step < 1 || step > field->max)
                                return fail(error, -EINVAL, CRON_ERROR_BAD_STEP, field->name, item,
                                            item_length);
                }

                for (int v = low; v <= high; v += step)
                        bits |= UINT64_C(1) << v;
                item = item_end + 1;
        }
        *ret_bits = bits;
        return 0;
}

static bool and_mode(const struct cron_schedule *schedule)
{
        /* Vixie cron: when either day field is '*', both must match; otherwise either may. */
        return !schedule->day_of_month_restricted || !schedule->day_of_week_restricted;
}

bool cron_matches_date(const struct cron_schedule *schedule, unsigned month, unsigned day,
                       unsigned weekday)
{
        if (!(schedule->months & (1u << month)))
                return false;
        bool dom = schedule->days_of_month & (UINT32_C(1) << day);
        bool dow = schedule->days_of_week & (1u << weekday);
        return and_mode(schedule) ? dom && dow : dom || dow;
}

/* Could any date match?  Only "day-of-month AND month" can be impossible (30 Feb). */
static bool can_fire(const struct cron_schedule *schedule)
{
        if (!and_mode(schedule))
                return true;
        for (unsigned month = 1; month <= 12; month++) {
                if (!(schedule->months & (1u << month)))
                        continue;
                /* 2000 is a leap year: February 29 counts. */
                for (unsigned day = 1; day <= tz_days_in_month(2000, month); day++)
                        if (schedule->days_of_month & (UINT32_C(1) << day))
                                return true;
        }
        return false;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cron_parse(const char *text, struct cron_schedule *ret_schedule, struct cron_error *ret_error)
{
        if (!text)
                return fail(ret_error, -EINVAL, CRON_ERROR_EMPTY, "schedule", NULL, 0);
        while (is_space(*text))
                text++;
        size_t length = strlen(text);
        while (length > 0 && is_space(text[length - 1]))
                length--;
        if (length == 0)
                return fail(ret_error, -EINVAL, CRON_ERROR_EMPTY, "schedule", NULL, 0);

        if (text[0] == '@') {
                for (size_t i = 0; i < ARRAY_SIZE(macros); i++)
                        if (strlen(macros[i].name) == length &&
                            strncasecmp(text, macros[i].name, length) == 0)
                                return cron_parse(macros[i].expansion, ret_schedule, ret_error);
                return fail(ret_error, -EINVAL, CRON_ERROR_UNKNOWN_MACRO, "schedule", text, length);
        }

        const char *starts[N_FIELDS];
        size_t lengths[N_FIELDS];
        size_t n = 0;
        for (size_t i = 0; i < length;) {
                if (is_space(text[i])) {
                        i++;
                        continue;
                }
                size_t j = i;
                while (j < length && !is_space(text[j]))
                        j++;
                if (n == N_FIELDS)
                        return fail(ret_error, -EINVAL, CRON_ERROR_FIELD_COUNT, "schedule", text,
                                    length);
                starts[n] = text + i;
                lengths[n] = j - i;
                n++;
                i = j;
        }
        if (n != N_FIELDS)
                return fail(ret_error, -EINVAL, CRON_ERROR_FIELD_COUNT, "schedule", text, length);

        uint64_t bits[N_FIELDS];
        for (size_t i = 0; i < N_FIELDS; i++) {
                int r = parse_field(&fields[i], starts[i], lengths[i], &bits[i], ret_error);
                if (r < 0)
                        return r;
        }

        struct cron_schedule schedule = {
                .minutes = bits[FIELD_MINUTE],
                .hours = (uint32_t)bits[FIELD_HOUR],
                .days_of_month = (uint32_t)bits[FIELD_DAY_OF_MONTH],
                .months = (uint16_t)bits[FIELD_MONTH],
                .days_of_week =
                        (uint8_t)((bits[FIELD_DAY_OF_WEEK] | bits[FIELD_DAY_OF_WEEK] >> 7) & 0x7f),
                .day_of_month_restricted = starts[FIELD_DAY_OF_MONTH][0] != '*',
                .day_of_week_restricted = starts[FIELD_DAY_OF_WEEK][0] != '*',
        };
        if (!can_fire(&schedule))
                return fail(ret_error, -ERANGE, CRON_ERROR_NEVER_FIRES, "day-of-month", text,
                            length);

        *ret_schedule = schedule;
        return 0;
}

static bool instant_ok(int64_t t)
{
        return t > -INSTANT_LIMIT && t < INSTANT_LIMIT;
}

/* The instant a local time fires at: its first occurrence, or the end of the gap it falls in. */
static int64_t fire_instant(const struct tz_zone *zone, int64_t local_seconds)
{
        struct tz_local_mapping mapping;
        tz_local_to_utc(zone, local_seconds, &mapping);
        return mapping.earliest;
}

/*
 * Both searches walk local calendar days and, inside a day, the set hours and
 * minutes in order.  fire_instant() is monotone in the local time (gaps map to
 * their end, overlaps to the first occurrence), so the first candidate past
 * the bound in local order is the answer.
 */
int cron_next(const struct cron_schedule *schedule, const struct tz_zone *zone, int64_t after,
              int64_t *ret_time)
{
        if (!schedule || !zone || !instant_ok(after))
                return -EINVAL;
        /* Local times at or before after's own local time fire at or before after. */
        int64_t local_after = tz_local_seconds(zone, after);
        int64_t first_day = tz_floor_div(local_after, SECONDS_PER_DAY);

        for (int64_t day = first_day; day < first_day + CRON_SEARCH_DAYS; day++) {
                int64_t year;
                unsigned month, mday;
                tz_civil_from_days(day, &year, &month, &mday);
                if (!(schedule->months & (1u << month))) {
                        /* Skip the rest of an unscheduled month. */
                        day += tz_days_in_month(year, month) - mday;
                        continue;
                }
                if (!cron_matches_date(schedule, month, mday, tz_weekday_from_days(day)))
                        continue;
                for (uint32_t hours = schedule->hours; hours; hours &= hours - 1) {
                        int hour = __builtin_ctz(hours);
                        for (uint64_t minutes = schedule->minutes; minutes;
                             minutes &= minutes - 1) {
                                int minute = __builtin_ctzll(minutes);
                                int64_t local = day * SECONDS_PER_DAY + hour * 3600 + minute * 60;
                                if (local <= local_after)
                                        continue;
                                int64_t t = fire_instant(zone, local);
                                if (t > after) {
                                        *ret_time = t;
                                        return 0;
                                }
                        }
                }
        }
        return -ERANGE;
}

int cron_prev(const struct cron_schedule *schedule, const struct tz_zone *zone, int64_t at,
              int64_t *ret_time)
{
        if (!schedule || !zone || !instant_ok(at))
                return -EINVAL;
        /*
         * A local time L can fire at or before `at` only if L <= local(at) +
         * the zone's offset span (an overlap repeats up to that much).
         */
        int64_t local_bound = tz_local_seconds(zone, at) + tz_offset_span(zone);
        int64_t first_day = tz_floor_div(local_bound, SECONDS_PER_DAY);

        for (int64_t day = first_day; day > first_day - CRON_SEARCH_DAYS; day--) {
                int64_t year;
                unsigned month, mday;
                tz_civil_from_days(day, &year, &month, &mday);
                if (!(schedule->months & (1u << month))) {
                        day -= mday - 1; /* to the 1st; the loop steps to the previous month */
                        continue;
                }
                if (!cron_matches_date(schedule, month, mday, tz_weekday_from_days(day)))
                        continue;
                for (uint32_t hours = schedule->hours; hours;) {
                        int hour = 31 - __builtin_clz(hours);
                        hours &= ~(UINT32_C(1) << hour);
                        for (uint64_t minutes = schedule->minutes; minutes;) {
                                int minute = 63 - __builtin_clzll(minutes);
                                minutes &= ~(UINT64_C(1) << minute);
                                int64_t local = day * SECONDS_PER_DAY + hour * 3600 + minute * 60;
                                if (local > local_bound)
                                        continue;
                                int64_t t = fire_instant(zone, local);
                                if (t <= at) {
                                        *ret_time = t;
                                        return 0;
                                }
                        }
                }
        }
        return -ERANGE;
}
