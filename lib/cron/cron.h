/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 5-field cron schedules ("minute hour day-of-month month day-of-week")
 * evaluated in an IANA time zone.  See lib/cron/README.md for the exact
 * grammar and the daylight-saving rules.
 *
 * Ownership: a struct cron_schedule is a plain value (no pointers); copy it
 * freely.  Zones are borrowed (tz.h).  struct cron_error is filled by the
 * callee on failure only and holds its text inline: it is TripDeal's common
 * struct tripdeal_error (lib/common/error.h; base.code is the value returned,
 * base.message the one line to show) plus the parse details tests and tools
 * decide on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tz.h"

/*
 * How far cron_next/cron_prev look before giving up.  A date with a weekday
 * ("1 MAR" that is a Sunday, "*" + "29 FEB" + SUN) recurs within 28 years, or
 * 40 across a skipped leap year such as 2100; every schedule cron_parse
 * accepts fires within this window.
 */
#define CRON_SEARCH_DAYS (366 * 41)

/* Reasons a schedule is refused; X(name, text). */
#define CRON_ERROR_LIST(X)                                                               \
        X(NONE, "no error")                                                              \
        X(EMPTY, "schedule is empty")                                                    \
        X(FIELD_COUNT, "expected 5 fields (minute hour day-of-month month day-of-week)") \
        X(UNKNOWN_MACRO, "unknown @macro")                                               \
        X(BAD_TOKEN, "not a number or name")                                             \
        X(OUT_OF_RANGE, "value out of range")                                            \
        X(BAD_RANGE, "range start is after its end")                                     \
        X(BAD_STEP, "step must be a number from 1 up")                                   \
        X(NEVER_FIRES, "schedule never fires")                                           \
        X(UNKNOWN_ZONE, "unknown time zone")                                             \
        X(BAD_ZONE, "invalid time zone")

enum cron_error_kind {
#define CRON_ERROR_ENUM(name, text) CRON_ERROR_##name,
        CRON_ERROR_LIST(CRON_ERROR_ENUM)
#undef CRON_ERROR_ENUM
};

/* Static text for a kind ("value out of range"). */
const char *cron_error_kind_to_string(enum cron_error_kind kind);

struct cron_error {
        /* code and message, e.g. `day-of-week: "FOO": not a number or name` */
        struct tripdeal_error base;
        enum cron_error_kind kind;
        const char *field; /* static: "minute", "hour", …, "schedule", "timeZone" */
        char token[64];    /* the offending token, truncated */
};

struct cron_schedule {
        uint64_t minutes;       /* bit 0..59 */
        uint32_t hours;         /* bit 0..23 */
        uint32_t days_of_month; /* bit 1..31 */
        uint16_t months;        /* bit 1..12 */
        uint8_t days_of_week;   /* bit 0..6, 0 = Sunday (7 is folded into 0) */
        /* Vixie cron: a field that does not start with '*' is "restricted". */
        bool day_of_month_restricted;
        bool day_of_week_restricted;
};

/*
 * Parse text.  0, -EINVAL (syntax; error->kind says why), or -ERANGE (valid
 * syntax but no date ever matches, e.g. "0 0 30 2 *").  ret_error may be NULL.
 */
int cron_parse(const char *text, struct cron_schedule *ret_schedule, struct cron_error *ret_error);

/*
 * The first fire time strictly after `after` (Unix seconds).  -ERANGE if
 * none within CRON_SEARCH_DAYS.
 *
 * Daylight saving: a local time skipped by a spring-forward gap fires at the
 * instant the gap ends (02:30 on a 02:00->03:00 night fires at 03:00); several
 * skipped times collapse into that one firing.  A local time repeated by a
 * fall-back overlap fires once, at its first occurrence.
 */
int cron_next(const struct cron_schedule *schedule, const struct tz_zone *zone, int64_t after,
              int64_t *ret_time);

/* The last fire time at or before `at` (same rules).  -ERANGE if none within the search window. */
int cron_prev(const struct cron_schedule *schedule, const struct tz_zone *zone, int64_t at,
              int64_t *ret_time);

/* Does the local date (year, month 1-12, day 1-31, weekday 0-6) match? */
bool cron_matches_date(const struct cron_schedule *schedule, unsigned month, unsigned day,
                       unsigned weekday);
