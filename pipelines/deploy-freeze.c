/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-deploy-freeze: may the pipeline roll out now?  Reads the TripDeals
 * (`kubectl get tripdeals -A -o json`) and says whether any sale window is
 * open — from a sale's prescale start (or node prescale start, whichever is
 * earlier) to its end + cooldown — now or within --margin (a rollout started
 * now must be over before a window opens).  The windows come from the
 * operator's own code: its spec parser (defaults, validation) and lib/cron's
 * sale arithmetic (cron, IANA zones, DST).
 *
 * Exit 0: clear to deploy.  1: frozen (each open window printed with its end).
 * 2: bad usage.  3: the input is not a TripDeal list.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cron.h"
#include "macros.h"
#include "sale.h"
#include "tripdeal.h"
#include "tz.h"

/* Boundaries walked to find where an open window closes (each is a window edge). */
#define BOUNDARY_STEPS_MAX 64

struct window {
        const char *sale;
        int64_t opens_at_ms;  /* 0: already open at `from` */
        int64_t closes_at_ms; /* < 0: still open at -closes_at_ms (occurrences overlap) */
};

static bool open_at(const struct sale_spec *sale, int64_t at_ms, struct sale_state *ret_state)
{
        return sale_state_at(sale, at_ms, ret_state) == 0 &&
               (ret_state->pods_open || ret_state->nodes_open);
}

/*
 * The window of `sale` that is open at some instant of [now, now + margin],
 * if any.  1 and *ret_window when there is one, 0 when not, -errno on error.
 */
static int sale_window(const struct sale_spec *sale, int64_t now_ms, int64_t margin_ms,
                       struct window *ret_window)
{
        struct sale_state state;
        int64_t at = now_ms, opens = 0;
        if (!open_at(sale, at, &state)) {
                if (sale_state_at(sale, at, &state) < 0)
                        return -EINVAL;
                /* Closed now: the next boundary is where it opens, if within the margin. */
                if (state.next_boundary_ms == SALE_NEVER ||
                    state.next_boundary_ms > now_ms + margin_ms)
                        return 0;
                at = opens = state.next_boundary_ms;
                if (!open_at(sale, at, &state))
                        return 0;
        }
        /* Walk the window's edges until it closes.  Back-to-back or overlapping
         * occurrences (e.g. every 5 minutes for an hour) may never close: then
         * report the last edge looked at, with closes_at_ms negated. */
        for (int step = 0; step < BOUNDARY_STEPS_MAX; step++) {
                if (state.next_boundary_ms == SALE_NEVER)
                        break;
                at = state.next_boundary_ms;
                if (!open_at(sale, at, &state)) {
                        *ret_window = (struct window){
                                .sale = sale->name, .opens_at_ms = opens, .closes_at_ms = at};
                        return 1;
                }
        }
        *ret_window =
                (struct window){.sale = sale->name, .opens_at_ms = opens, .closes_at_ms = -at};
        return 1;
}

static void print_time(FILE *out, int64_t ms)
{
        char buf[64];
        if (clock_format_rfc3339_ms(ms, buf, sizeof(buf)) < 0)
                snprintf(buf, sizeof(buf), "%lld ms", (long long)ms);
        fputs(buf, out);
}

/* Check one TripDeal; returns how many windows block (>= 0) or -errno. */
static int check_tripdeal(json_t *item, int64_t now_ms, int64_t margin_ms, bool quiet)
{
        const char *ns =
                json_string_value(json_object_get(json_object_get(item, "metadata"), "namespace"));
        const char *name =
                json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        if (!name)
                return -EINVAL;
        if (!ns)
                ns = "default";
        struct tripdeal_spec *spec = NULL;
        _cleanup_free_ char *error = NULL;
        int r = tripdeal_spec_parse(json_object_get(item, "spec"), &spec, &error);
        if (r < 0) {
                /* The operator does not act on it either (InvalidSpec): say so, do not block. */
                fprintf(stderr,
                        "tripdeal-deploy-freeze: %s/%s: %s (ignored, as the operator does)\n", ns,
                        name, error ? error : strerror(-r));
                return 0;
        }
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *owned = spec;
        int blocking = 0;
        for (size_t i = 0; i < spec->sales_count; i++) {
                const struct tripdeal_sale *s = &spec->sales[i];
                struct sale_spec sale = {
                        .name = s->name,
                        .duration_ms = s->duration_ms,
                        .lead_time_ms = s->lead_time_ms,
                        .cooldown_ms = s->cooldown_ms,
                        .node_lead_time_ms = s->node_lead_time_ms,
                        .min_replicas = s->min_replicas,
                        .nodes = s->nodes,
                };
                struct cron_error cron_error = {0};
                struct tz_zone *zone = NULL;
                if (cron_parse(s->schedule, &sale.schedule, &cron_error) < 0 ||
                    tz_zone_load(s->time_zone, NULL, &zone) < 0) {
                        fprintf(stderr,
                                "tripdeal-deploy-freeze: %s/%s: spec.sales[%zu]: bad schedule or "
                                "time zone (ignored, as the operator does)\n",
                                ns, name, i);
                        tz_zone_free(zone);
                        continue;
                }
                sale.zone = zone;
                struct window w;
                r = sale_window(&sale, now_ms, margin_ms, &w);
                tz_zone_free(zone);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                blocking++;
                if (quiet)
                        continue;
                printf("frozen: TripDeal %s/%s sale %s: window ", ns, name, w.sale);
                if (w.opens_at_ms) {
                        fputs("opens ", stdout);
                        print_time(stdout, w.opens_at_ms);
                        fputs(" (within the margin), ", stdout);
                } else {
                        fputs("open, ", stdout);
                }
                if (w.closes_at_ms >= 0) {
                        fputs("closes ", stdout);
                        print_time(stdout, w.closes_at_ms);
                } else {
                        fputs("still open at ", stdout);
                        print_time(stdout, -w.closes_at_ms);
                        fputs(" (occurrences overlap)", stdout);
                }
                putchar('\n');
        }
        return blocking;
}

static int parse_duration_ms(const char *text, int64_t *ret_ms)
{
        int64_t total = 0;
        const char *p = text;
        if (!*p)
                return -EINVAL;
        while (*p) {
                char *end;
                errno = 0;
                long long n = strtoll(p, &end, 10);
                if (end == p || errno || n < 0)
                        return -EINVAL;
                int64_t unit = *end == 'h' ? 3600000 : *end == 'm' ? 60000 : *end == 's' ? 1000 : 0;
                if (!unit)
                        return -EINVAL;
                total += (int64_t)n * unit;
                p = end + 1;
        }
        *ret_ms = total;
        return 0;
}

static const char usage_text[] =
        "Usage: kubectl get tripdeals -A -o json | tripdeal-deploy-freeze [OPTIONS]\n"
        "\n"
        "Exit 0 when no TripDeal sale window (prescale start to end + cooldown) is open\n"
        "now or opens within --margin; else print each such window with its end and\n"
        "exit 1 (a deploy freeze).\n"
        "\n"
        "  --file PATH      read the TripDeal list from PATH instead of stdin\n"
        "  --margin DUR     also freeze when a window opens within DUR (e.g. 15m; default 0s)\n"
        "  --now RFC3339    evaluate at this instant instead of the clock (tests)\n"
        "  --quiet          print nothing, only the exit status\n"
        "  --help, --version\n";

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"file", required_argument, NULL, 'f'},
                {"margin", required_argument, NULL, 'm'},
                {"now", required_argument, NULL, 'n'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        const char *file = NULL;
        int64_t margin_ms = 0, now_ms = clock_realtime_ms();
        bool quiet = false;
        opterr = 0;
        int c;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 'f':
                        file = optarg;
                        break;
                case 'm':
                        if (parse_duration_ms(optarg, &margin_ms) < 0) {
                                fprintf(stderr,
                                        "tripdeal-deploy-freeze: --margin %s: expected a "
                                        "duration like 15m or 1h30m\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'n': {
                        time_t t;
                        if (clock_parse_rfc3339(optarg, &t) < 0) {
                                fprintf(stderr,
                                        "tripdeal-deploy-freeze: --now %s: expected RFC 3339 "
                                        "like 2026-12-04T01:00:00Z\n",
                                        optarg);
                                return 2;
                        }
                        now_ms = (int64_t)t * 1000;
                        break;
                }
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                case 'V':
                        puts("tripdeal-deploy-freeze " TRIPDEAL_PROGRAM_VERSION);
                        return 0;
                case ':':
                        fprintf(stderr, "tripdeal-deploy-freeze: %s needs a value\n",
                                argv[optind - 1]);
                        return 2;
                default:
                        fprintf(stderr, "tripdeal-deploy-freeze: unknown option %s (see --help)\n",
                                argv[optind - 1]);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "tripdeal-deploy-freeze: unexpected argument %s (see --help)\n",
                        argv[optind]);
                return 2;
        }

        json_error_t jerr;
        _cleanup_json_ json_t *list =
                file ? json_load_file(file, 0, &jerr) : json_loadf(stdin, 0, &jerr);
        if (!list) {
                fprintf(stderr, "tripdeal-deploy-freeze: %s: not JSON: %s (line %d)\n",
                        file ? file : "stdin", jerr.text, jerr.line);
                return 3;
        }
        json_t *items = json_object_get(list, "items");
        const char *kind = json_string_value(json_object_get(list, "kind"));
        if (!json_is_array(items) && kind && strcmp(kind, "TripDeal") == 0) {
                items = json_pack("[O]", list); /* one object (kubectl get td NAME -o json) */
                json_decref(list);
                list = items;
        } else if (!json_is_array(items)) {
                fprintf(stderr,
                        "tripdeal-deploy-freeze: %s: expected a TripDeal list "
                        "(kubectl get tripdeals -A -o json)\n",
                        file ? file : "stdin");
                return 3;
        }
        size_t i;
        json_t *item;
        int blocking = 0;
        json_array_foreach (items, i, item) {
                int r = check_tripdeal(item, now_ms, margin_ms, quiet);
                if (r < 0) {
                        fprintf(stderr, "tripdeal-deploy-freeze: item %zu: %s\n", i, strerror(-r));
                        return 3;
                }
                blocking += r;
        }
        if (!quiet && !blocking) {
                printf("clear: no sale window open at ");
                print_time(stdout, now_ms);
                if (margin_ms)
                        printf(" or within %lld s", (long long)(margin_ms / 1000));
                printf(" (%zu TripDeals)\n", json_array_size(items));
        }
        return blocking ? 1 : 0;
}
