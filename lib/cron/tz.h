/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IANA time zones read from the system tz database (TZif files, RFC 8536),
 * without touching the process-wide TZ / tzset() state, so any thread may use
 * any zone at any time.
 *
 * A loaded zone is an immutable table of UTC offsets: the file's transitions,
 * then the transitions its POSIX TZ footer rule implies, generated through the
 * end of TZ_RULE_LAST_YEAR.  After that the last offset holds.
 *
 * Times are seconds since the Unix epoch (int64_t).  "Local seconds" are the
 * wall-clock fields of a local time encoded as if they were UTC (what timegm()
 * would return for them), so local arithmetic is plain integer arithmetic.
 *
 * Ownership: tz_zone_load()/tz_zone_parse() hand the caller a zone it frees
 * with tz_zone_free() (NULL-safe).  A zone never points into caller memory.
 * Every other function borrows the zone; it is safe to share between threads.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TZ_DEFAULT_ZONEINFO_DIR "/usr/share/zoneinfo"
/* Footer rules are expanded into explicit transitions up to this year. */
#define TZ_RULE_LAST_YEAR 2200
#define TZ_NAME_MAX       128

struct tz_zone;

struct tz_load_options {
        /* Directory holding TZif files; NULL means TZ_DEFAULT_ZONEINFO_DIR. */
        const char *zoneinfo_dir;
};

/*
 * Load the zone called name ("Asia/Seoul", "UTC").  The name is checked
 * before any file is opened: no absolute paths, no "." or ".." components,
 * only [A-Za-z0-9_+-] and '/'.  options may be NULL.
 *   -EINVAL  the name is not a valid zone name, or the file is corrupt
 *   -ENOENT  no such zone (missing file, a directory, or not a TZif file)
 *   -EOPNOTSUPP  the file carries leap seconds ("right/" zones)
 *   -ENOMEM
 */
int tz_zone_load(const char *name, const struct tz_load_options *options,
                 struct tz_zone **ret_zone);

/* Parse TZif bytes (any version).  Same errors as tz_zone_load; bad magic is -EINVAL here. */
int tz_zone_parse(const char *name, const void *data, size_t size, struct tz_zone **ret_zone);

void tz_zone_free(struct tz_zone *zone);

/* The name the zone was loaded with; owned by the zone. */
const char *tz_zone_name(const struct tz_zone *zone);

/* Seconds east of UTC in force at the instant t (e.g. +32400 in Asia/Seoul). */
int32_t tz_offset_at(const struct tz_zone *zone, int64_t t);

/* t + tz_offset_at(zone, t). */
int64_t tz_local_seconds(const struct tz_zone *zone, int64_t t);

/* Largest minus smallest offset the zone ever uses (>= 0). */
int32_t tz_offset_span(const struct tz_zone *zone);

/*
 * The first instant > after at which the offset changes.  -ENOENT when the
 * offset never changes again (within the table).
 */
int tz_next_transition(const struct tz_zone *zone, int64_t after, int64_t *ret_t);

enum tz_local_kind {
        TZ_LOCAL_UNIQUE,   /* the local time happens exactly once */
        TZ_LOCAL_REPEATED, /* it happens twice (fall-back overlap) */
        TZ_LOCAL_SKIPPED,  /* it never happens (spring-forward gap) */
};

struct tz_local_mapping {
        enum tz_local_kind kind;
        /*
         * UNIQUE: earliest == latest == the instant.
         * REPEATED: the first and the second instant.
         * SKIPPED: both are the transition instant that ends the gap, i.e. the
         * first instant whose local time is later than the one asked for.
         */
        int64_t earliest;
        int64_t latest;
};

/* Map local seconds to UTC.  Never fails. */
void tz_local_to_utc(const struct tz_zone *zone, int64_t local_seconds,
                     struct tz_local_mapping *ret_mapping);

/*
 * Calendar helpers (proleptic Gregorian, any int64 day): days since
 * 1970-01-01 from a civil date and back, weekday 0 = Sunday.
 */
int64_t tz_days_from_civil(int64_t year, unsigned month, unsigned day);
void tz_civil_from_days(int64_t days, int64_t *ret_year, unsigned *ret_month, unsigned *ret_day);
unsigned tz_weekday_from_days(int64_t days);
unsigned tz_days_in_month(int64_t year, unsigned month);

/* Floor division, as time arithmetic needs for instants before 1970. */
static inline int64_t tz_floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
