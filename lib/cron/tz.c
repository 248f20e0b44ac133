/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TZif reader (RFC 8536) and POSIX TZ rule expansion.
 *
 * Why our own reader: glibc converts time zones only through the process-wide
 * TZ variable and tzset(), which is not thread-safe and would make every
 * conversion in the operator serialize on one global.  The TZif format is small
 * and stable; this file reads it defensively (every count and index is bounds
 * checked, see tests/cron/fuzz for the fuzz target).
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macros.h"

/* RFC 8536 3.2: UT offsets lie in [-25:59:59, +25:59:59]; -2^31 is forbidden. */
#define OFFSET_MIN      (-93599)
#define OFFSET_MAX      93599
#define MAX_FILE_SIZE   (1024 * 1024)
#define MAX_TRANSITIONS 65536
#define RULE_FIRST_YEAR 1800
/* Internal: "not a TZif file at all", reported as -ENOENT by tz_zone_load. */
#define ERROR_NOT_TZIF     (-EBADMSG)
#define SECONDS_PER_DAY    86400
#define LOCAL_SEARCH_SLACK (27 * 3600)

struct tz_zone {
        char name[TZ_NAME_MAX + 1];
        int32_t initial_offset; /* before at[0] */
        int32_t min_offset;
        int32_t max_offset;
        size_t count;
        size_t capacity;
        int64_t *at;     /* strictly increasing transition instants */
        int32_t *offset; /* offset in force from at[i] on; differs from the one before */
};

/* ---- calendar ---------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days: exact for any int64 year in range. */
int64_t tz_days_from_civil(int64_t year, unsigned month, unsigned day)
{
        year -= month <= 2;
        int64_t era = (year >= 0 ? year : year - 399) / 400;
        unsigned year_of_era = (unsigned)(year - era * 400);
        unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        return era * 146097 + (int64_t)day_of_era - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *ret_year, unsigned *ret_month, unsigned *ret_day)
{
        days += 719468;
        int64_t era = (days >= 0 ? days : days - 146096) / 146097;
        unsigned day_of_era = (unsigned)(days - era * 146097);
        unsigned year_of_era =
                (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
        unsigned day_of_year =
                day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        unsigned mp = (5 * day_of_year + 2) / 153;
        unsigned day = day_of_year - (153 * mp + 2) / 5 + 1;
        unsigned month = mp < 10 ? mp + 3 : mp - 9;
        *ret_year = (int64_t)year_of_era + era * 400 + (month <= 2);
        *ret_month = month;
        *ret_day = day;
}

unsigned tz_weekday_from_days(int64_t days)
{
        /* 1970-01-01 was a Thursday (4). */
        int64_t r = (days + 4) % 7;
        return (unsigned)(r < 0 ? r + 7 : r);
}

static bool is_leap_year(int64_t year)
{
        return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

unsigned tz_days_in_month(int64_t year, unsigned month)
{
        static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (month < 1 || month > 12)
                return 0;
        return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

static int64_t year_of_instant(int64_t t)
{
        int64_t year;
        unsigned month, day;
        tz_civil_from_days(tz_floor_div(t, SECONDS_PER_DAY), &year, &month, &day);
        return year;
}

/* ---- the transition table --------------------------------------------- */

static int32_t offset_before(const struct tz_zone *zone, size_t index)
{
        return index == 0 ? zone->initial_offset : zone->offset[index - 1];
}

/*
 * Append a transition, keeping the table canonical: strictly increasing
 * instants and no transition that leaves the offset unchanged.  Two events at
 * the same instant (an all-year-DST rule ends and restarts at New Year)
 * collapse into one.
 */
static int table_append(struct tz_zone *zone, int64_t at, int32_t offset)
{
        if (zone->count > 0 && at < zone->at[zone->count - 1])
                return 0;
        if (zone->count > 0 && at == zone->at[zone->count - 1]) {
                zone->offset[zone->count - 1] = offset;
                if (offset_before(zone, zone->count - 1) == offset)
                        zone->count--;
                return 0;
        }
        if ((zone->count == 0 ? zone->initial_offset : zone->offset[zone->count - 1]) == offset)
                return 0;
        if (zone->count == zone->capacity) {
                size_t capacity = zone->capacity ? zone->capacity * 2 : 64;
                int64_t *at_new = realloc(zone->at, capacity * sizeof(*at_new));
                if (!at_new)
                        return -ENOMEM;
                zone->at = at_new;
                int32_t *offset_new = realloc(zone->offset, capacity * sizeof(*offset_new));
                if (!offset_new)
                        return -ENOMEM;
                zone->offset = offset_new;
                zone->capacity = capacity;
        }
        zone->at[zone->count] = at;
        zone->offset[zone->count] = offset;
        zone->count++;
        return 0;
}

/* Index of the last transition at or before t, or -1. */
static ptrdiff_t find_transition(const struct tz_zone *zone, int64_t t)
{
        size_t lo = 0, hi = zone->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (zone->at[mid] <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return (ptrdiff_t)lo - 1;
}

int32_t tz_offset_at(const struct tz_zone *zone, int64_t t)
{
        ptrdiff_t i = find_transition(zone, t);
        return i < 0 ? zone->initial_offset : zone->offset[i];
}

int64_t tz_local_seconds(const struct tz_zone *zone, int64_t t)
{
        return t + tz_offset_at(zone, t);
}

int32_t tz_offset_span(const struct tz_zone *zone)
{
        return zone->max_offset - zone->min_offset;
}

int tz_next_transition(const struct tz_zone *zone, int64_t after, int64_t *ret_t)
{
        size_t next = (size_t)(find_transition(zone, after) + 1);
        if (next >= zone->count)
                return -ENOENT;
        *ret_t = zone->at[next];
        return 0;
}

void tz_local_to_utc(const struct tz_zone *zone, int64_t local_seconds,
                     struct tz_local_mapping *ret_mapping)
{
        /*
         * Any instant u with u + offset(u) == local lies within 26 h of local,
         * so only the offsets in force in that window can produce it.
         */
        int64_t window_start = local_seconds - LOCAL_SEARCH_SLACK;
        int64_t window_end = local_seconds + LOCAL_SEARCH_SLACK;
        int64_t transitions[8];
        size_t n_transitions = 0;
        int32_t offsets[9];
        size_t n_offsets = 0;

        offsets[n_offsets++] = tz_offset_at(zone, window_start);
        for (int64_t t = window_start; n_transitions < ARRAY_SIZE(transitions);) {
                int64_t next;
                if (tz_next_transition(zone, t, &next) < 0 || next > window_end)
                        break;
                transitions[n_transitions++] = next;
                offsets[n_offsets++] = tz_offset_at(zone, next);
                t = next;
        }

        bool found = false;
        int64_t earliest = 0, latest = 0;
        for (size_t i = 0; i < n_offsets; i++) {
                int64_t u = local_seconds - offsets[i];
                if (tz_offset_at(zone, u) != offsets[i])
                        continue;
                if (!found || u < earliest)
                        earliest = u;
                if (!found || u > latest)
                        latest = u;
                found = true;
        }
        if (found) {
                *ret_mapping = (struct tz_local_mapping){
                        .kind = earliest == latest ? TZ_LOCAL_UNIQUE : TZ_LOCAL_REPEATED,
                        .earliest = earliest,
                        .latest = latest,
                };
                return;
        }

        /* A gap: the transition that jumps the wall clock over this local time. */
        for (size_t i = 0; i < n_transitions; i++) {
                int64_t t = transitions[i];
                int32_t before = tz_offset_at(zone, t - 1), after = tz_offset_at(zone, t);
                if (t + before <= local_seconds && local_seconds < t + after) {
                        *ret_mapping = (struct tz_local_mapping){
                                .kind = TZ_LOCAL_SKIPPED, .earliest = t, .latest = t};
                        return;
                }
        }
        /* Not reachable for a canonical table; stay total anyway. */
        int64_t u = local_seconds - tz_offset_at(zone, local_seconds);
        *ret_mapping =
                (struct tz_local_mapping){.kind = TZ_LOCAL_UNIQUE, .earliest = u, .latest = u};
}

/* ---- POSIX TZ strings (the TZif footer) --------------------------------- */

enum rule_kind {
        RULE_JULIAN_NO_LEAP, /* Jn: 1..365, February 29 never counted */
        RULE_DAY_OF_YEAR,    /* n: 0..365, February 29 counted */
        RULE_MONTH_WEEK_DAY, /* Mm.w.d */
};

struct rule_date {
        enum rule_kind kind;
        int day; /* Jn / n, or the weekday for M */
        int week;
        int month;
        int32_t time; /* seconds after local midnight, may be negative or > 24h */
};

struct posix_tz {
        int32_t std_offset; /* seconds east of UTC */
        int32_t dst_offset;
        bool has_dst;
        struct rule_date start, end;
};

static bool is_alpha(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static int parse_designation(const char **p)
{
        const char *s = *p;
        size_t n = 0;
        if (*s == '<') {
                s++;
                while (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '+' || s[n] == '-')
                        n++;
                if (n == 0 || s[n] != '>')
                        return -EINVAL;
                *p = s + n + 1;
                return 0;
        }
        while (is_alpha(s[n]))
                n++;
        if (n < 3)
                return -EINVAL;
        *p = s + n;
        return 0;
}

static int parse_number(const char **p, int max_digits, int max_value, int *ret)
{
        int n = 0, digits = 0;
        while (is_digit(**p) && digits < max_digits) {
                n = n * 10 + (**p - '0');
                (*p)++;
                digits++;
        }
        if (digits == 0 || n > max_value)
                return -EINVAL;
        *ret = n;
        return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= 167 (RFC 8536 extension for rule times). */
static int parse_hms(const char **p, int32_t *ret)
{
        int sign = 1, h, m = 0, s = 0;
        if (**p == '+' || **p == '-') {
                sign = **p == '-' ? -1 : 1;
                (*p)++;
        }
        if (parse_number(p, 3, 167, &h) < 0)
                return -EINVAL;
        if (**p == ':') {
                (*p)++;
                if (parse_number(p, 2, 59, &m) < 0)
                        return -EINVAL;
                if (**p == ':') {
                        (*p)++;
                        if (parse_number(p, 2, 59, &s) < 0)
                                return -EINVAL;
                }
        }
        *ret = sign * (h * 3600 + m * 60 + s);
        return 0;
}

static int parse_rule_date(const char **p, struct rule_date *ret)
{
        struct rule_date r = {.time = 2 * 3600};
        int r_ = 0;
        if (**p == 'J') {
                (*p)++;
                r.kind = RULE_JULIAN_NO_LEAP;
                r_ = parse_number(p, 3, 365, &r.day);
                if (r_ == 0 && r.day < 1)
                        r_ = -EINVAL;
        } else if (**p == 'M') {
                (*p)++;
                r.kind = RULE_MONTH_WEEK_DAY;
                if (parse_number(p, 2, 12, &r.month) < 0 || r.month < 1 || *(*p)++ != '.' ||
                    parse_number(p, 1, 5, &r.week) < 0 || r.week < 1 || *(*p)++ != '.' ||
                    parse_number(p, 1, 6, &r.day) < 0)
                        r_ = -EINVAL;
        } else {
                r.kind = RULE_DAY_OF_YEAR;
                r_ = parse_number(p, 3, 365, &r.day);
        }
        if (r_ < 0)
                return r_;
        if (**p == '/') {
                (*p)++;
                if (parse_hms(p, &r.time) < 0)
                        return -EINVAL;
        }
        *ret = r;
        return 0;
}

static bool offset_valid(int32_t offset)
{
        return offset >= OFFSET_MIN && offset <= OFFSET_MAX;
}

static int parse_posix_tz(const char *s, struct posix_tz *ret)
{
        struct posix_tz tz = {0};
        int32_t posix_offset;

        if (parse_designation(&s) < 0 || parse_hms(&s, &posix_offset) < 0)
                return -EINVAL;
        /* POSIX offsets count west of Greenwich; ours count east. */
        tz.std_offset = -posix_offset;
        if (*s) {
                tz.has_dst = true;
                if (parse_designation(&s) < 0)
                        return -EINVAL;
                tz.dst_offset = tz.std_offset + 3600;
                if (*s && *s != ',') {
                        if (parse_hms(&s, &posix_offset) < 0)
                                return -EINVAL;
                        tz.dst_offset = -posix_offset;
                }
                if (*s == ',') {
                        s++;
                        if (parse_rule_date(&s, &tz.start) < 0 || *s++ != ',' ||
                            parse_rule_date(&s, &tz.end) < 0)
                                return -EINVAL;
                } else {
                        /* POSIX leaves the default rule to the implementation; glibc uses the US
                         * one. */
                        tz.start = (struct rule_date){
                                .kind = RULE_MONTH_WEEK_DAY, .month = 3, .week = 2, .time = 7200};
                        tz.end = (struct rule_date){
                                .kind = RULE_MONTH_WEEK_DAY, .month = 11, .week = 1, .time = 7200};
                }
        }
        if (*s || !offset_valid(tz.std_offset) || (tz.has_dst && !offset_valid(tz.dst_offset)))
                return -EINVAL;
        *ret = tz;
        return 0;
}

static int64_t rule_day(const struct rule_date *r, int64_t year)
{
        int64_t jan1 = tz_days_from_civil(year, 1, 1);
        switch (r->kind) {
        case RULE_JULIAN_NO_LEAP:
                return jan1 + r->day - 1 + (is_leap_year(year) && r->day >= 60 ? 1 : 0);
        case RULE_DAY_OF_YEAR:
                return jan1 + r->day;
        case RULE_MONTH_WEEK_DAY:
        default: {
                int64_t first = tz_days_from_civil(year, (unsigned)r->month, 1);
                int64_t day = first + ((r->day - (int)tz_weekday_from_days(first) + 7) % 7);
                day += (int64_t)(r->week - 1) * 7;
                int64_t month_end = first + tz_days_in_month(year, (unsigned)r->month);
                while (day >= month_end)
                        day -= 7;
                return day;
        }
        }
}

struct rule_event {
        int64_t at;
        int32_t offset;
        int order; /* at equal instants the DST end goes first, so a restart wins */
};

static int compare_events(const void *a, const void *b)
{
        const struct rule_event *x = a, *y = b;
        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return x->order - y->order;
}

/* Expand the footer rule into transitions after the file's last one. */
static int expand_rule(struct tz_zone *zone, const struct posix_tz *tz)
{
        if (!tz->has_dst) {
                if (zone->count == 0)
                        zone->initial_offset = tz->std_offset;
                return 0;
        }
        int64_t last = zone->count > 0 ? zone->at[zone->count - 1] : INT64_MIN;
        int64_t first_year = RULE_FIRST_YEAR;
        if (zone->count > 0) {
                /* Clamp before converting: fuzzed files carry absurd instants. */
                int64_t clamped = last < -(INT64_C(1) << 40)  ? -(INT64_C(1) << 40)
                                  : last > (INT64_C(1) << 40) ? (INT64_C(1) << 40)
                                                              : last;
                int64_t y = year_of_instant(clamped) - 1;
                if (y > first_year)
                        first_year = y;
        } else {
                zone->initial_offset = tz->std_offset;
        }
        if (first_year > TZ_RULE_LAST_YEAR)
                return 0;

        size_t n_years = (size_t)(TZ_RULE_LAST_YEAR - first_year + 1);
        _cleanup_free_ struct rule_event *events = calloc(n_years * 2, sizeof(*events));
        if (!events)
                return -ENOMEM;
        size_t n = 0;
        for (int64_t year = first_year; year <= TZ_RULE_LAST_YEAR; year++) {
                /* The start is written in standard time, the end in daylight time. */
                events[n++] = (struct rule_event){
                        .at = rule_day(&tz->start, year) * SECONDS_PER_DAY + tz->start.time -
                              tz->std_offset,
                        .offset = tz->dst_offset,
                        .order = 1,
                };
                events[n++] = (struct rule_event){
                        .at = rule_day(&tz->end, year) * SECONDS_PER_DAY + tz->end.time -
                              tz->dst_offset,
                        .offset = tz->std_offset,
                        .order = 0,
                };
        }
        qsort(events, n, sizeof(*events), compare_events);
        for (size_t i = 0; i < n; i++) {
                if (events[i].at <= last)
                        continue;
                int r = table_append(zone, events[i].at, events[i].offset);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- TZif -------------------------------------------------------------- */

struct reader {
        const uint8_t *p;
        size_t left;
};

static int read_bytes(struct reader *r, size_t n, const uint8_t **ret)
{
        if (r->left < n)
                return -EINVAL;
        *ret = r->p;
        r->p += n;
        r->left -= n;
        return 0;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
        return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
        char version;
        uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_header(struct reader *r, struct tzif_header *ret)
{
        const uint8_t *h;
        if (read_bytes(r, 44, &h) < 0 || memcmp(h, "TZif", 4) != 0)
                return ERROR_NOT_TZIF;
        struct tzif_header hdr = {
                .version = (char)h[4],
                .isutcnt = be32(h + 20),
                .isstdcnt = be32(h + 24),
                .leapcnt = be32(h + 28),
                .timecnt = be32(h + 32),
                .typecnt = be32(h + 36),
                .charcnt = be32(h + 40),
        };
        if (hdr.version != 0 && (hdr.version < '2' || hdr.version > '9'))
                return -EINVAL;
        if (hdr.typecnt == 0 || hdr.typecnt > 256 || hdr.charcnt == 0 || hdr.charcnt > 4096 ||
            hdr.timecnt > MAX_TRANSITIONS || hdr.leapcnt > MAX_TRANSITIONS ||
            (hdr.isutcnt != 0 && hdr.isutcnt != hdr.typecnt) ||
            (hdr.isstdcnt != 0 && hdr.isstdcnt != hdr.typecnt))
                return -EINVAL;
        *ret = hdr;
        return 0;
}

static size_t data_block_size(const struct tzif_header *h, size_t time_size)
{
        return h->timecnt * time_size + h->timecnt + h->typecnt * 6 + h->charcnt +
               h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

static int read_data_block(struct reader *r, const struct tzif_header *h, size_t time_size,
                           struct tz_zone *zone)
{
        const uint8_t *times, *indices, *types, *rest;
        if (h->leapcnt > 0)
                return -EOPNOTSUPP;
        if (read_bytes(r, h->timecnt * time_size, &times) < 0 ||
            read_bytes(r, h->timecnt, &indices) < 0 || read_bytes(r, h->typecnt * 6, &types) < 0 ||
            read_bytes(r, h->charcnt + h->isstdcnt + h->isutcnt, &rest) < 0)
                return -EINVAL;

        int32_t type_offsets[256];
        for (uint32_t i = 0; i < h->typecnt; i++) {
                int32_t offset = (int32_t)be32(types + i * 6);
                if (!offset_valid(offset) || types[i * 6 + 4] > 1 || types[i * 6 + 5] >= h->charcnt)
                        return -EINVAL;
                type_offsets[i] = offset;
                if (i == 0 || offset < zone->min_offset)
                        zone->min_offset = offset;
                if (i == 0 || offset > zone->max_offset)
                        zone->max_offset = offset;
        }
        zone->initial_offset = type_offsets[0];

        for (uint32_t i = 0; i < h->timecnt; i++) {
                int64_t at = time_size == 8 ? be64(times + i * 8)
                                            : (int64_t)(int32_t)be32(times + i * 4);
                if (i > 0 && at <= (time_size == 8 ? be64(times + (i - 1) * 8)
                                                   : (int64_t)(int32_t)be32(times + (i - 1) * 4)))
                        return -EINVAL;
                if (indices[i] >= h->typecnt)
                        return -EINVAL;
                int r_ = table_append(zone, at, type_offsets[indices[i]]);
                if (r_ < 0)
                        return r_;
        }
        return 0;
}

static int parse_footer(struct reader *r, struct tz_zone *zone)
{
        /* "\n" TZ-string "\n"; the string may be empty (no rule). */
        if (r->left < 2 || r->p[0] != '\n')
                return -EINVAL;
        const uint8_t *end = memchr(r->p + 1, '\n', r->left - 1);
        if (!end)
                return -EINVAL;
        size_t length = (size_t)(end - (r->p + 1));
        if (length == 0)
                return 0;
        if (length > 255)
                return -EINVAL;
        char text[256];
        memcpy(text, r->p + 1, length);
        text[length] = '\0';
        if (memchr(text, '\0', length))
                return -EINVAL;

        struct posix_tz tz;
        if (parse_posix_tz(text, &tz) < 0)
                return -EINVAL;
        int32_t offsets[] = {tz.std_offset, tz.has_dst ? tz.dst_offset : tz.std_offset};
        for (size_t i = 0; i < ARRAY_SIZE(offsets); i++) {
                if (offsets[i] < zone->min_offset)
                        zone->min_offset = offsets[i];
                if (offsets[i] > zone->max_offset)
                        zone->max_offset = offsets[i];
        }
        return expand_rule(zone, &tz);
}

void tz_zone_free(struct tz_zone *zone)
{
        if (!zone)
                return;
        free(zone->at);
        free(zone->offset);
        free(zone);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tz_zone *, tz_zone_free)

static int parse_tzif(const char *name, const void *data, size_t size, struct tz_zone **ret_zone)
{
        if (!name || strlen(name) > TZ_NAME_MAX || (!data && size > 0))
                return -EINVAL;

        _cleanup_(tz_zone_freep) struct tz_zone *zone = calloc(1, sizeof(*zone));
        if (!zone)
                return -ENOMEM;
        strcpy(zone->name, name);

        struct reader r = {.p = data, .left = size};
        struct tzif_header header;
        int ret = read_header(&r, &header);
        if (ret < 0)
                return ret;

        if (header.version == 0) {
                ret = read_data_block(&r, &header, 4, zone);
                if (ret < 0)
                        return ret;
        } else {
                /* Skip the 32-bit block; the 64-bit one after it is authoritative. */
                const uint8_t *skipped;
                if (read_bytes(&r, data_block_size(&header, 4), &skipped) < 0)
                        return -EINVAL;
                ret = read_header(&r, &header);
                if (ret < 0)
                        return -EINVAL;
                if (header.version == 0)
                        return -EINVAL;
                ret = read_data_block(&r, &header, 8, zone);
                if (ret < 0)
                        return ret;
                ret = parse_footer(&r, zone);
                if (ret < 0)
                        return ret;
        }

        *ret_zone = TAKE_PTR(zone);
        return 0;
}

int tz_zone_parse(const char *name, const void *data, size_t size, struct tz_zone **ret_zone)
{
        int r = parse_tzif(name, data, size, ret_zone);
        return r == ERROR_NOT_TZIF ? -EINVAL : r;
}

const char *tz_zone_name(const struct tz_zone *zone)
{
        return zone->name;
}

/* IANA names: components of [A-Za-z0-9_+-], separated by single '/'. */
static bool zone_name_valid(const char *name)
{
        size_t length = strlen(name);
        if (length == 0 || length > TZ_NAME_MAX || name[0] == '/' || name[length - 1] == '/')
                return false;
        for (size_t i = 0; i < length; i++) {
                char c = name[i];
                if (c == '/') {
                        if (name[i + 1] == '/')
                                return false;
                        continue;
                }
                if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-')
                        return false;
        }
        return true;
}

int tz_zone_load(const char *name, const struct tz_load_options *options, struct tz_zone **ret_zone)
{
        if (!name || !zone_name_valid(name))
                return -EINVAL;
        const char *dir =
                options && options->zoneinfo_dir ? options->zoneinfo_dir : TZ_DEFAULT_ZONEINFO_DIR;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : NEG_ERRNO();
        struct stat st;
        if (fstat(fd, &st) < 0)
                return NEG_ERRNO();
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if (st.st_size > MAX_FILE_SIZE)
                return -EINVAL;

        size_t size = (size_t)st.st_size;
        _cleanup_free_ uint8_t *data = malloc(size ? size : 1);
        if (!data)
                return -ENOMEM;
        size_t done = 0;
        while (done < size) {
                ssize_t n = read(fd, data + done, size - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return NEG_ERRNO();
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }

        int r = parse_tzif(name, data, done, ret_zone);
        return r == ERROR_NOT_TZIF ? -ENOENT : r;
}
