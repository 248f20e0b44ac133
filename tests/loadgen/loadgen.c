/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-loadgen: a constant-arrival-rate load generator for the TripDeal
 * site (wrk2's model on libcurl's multi interface).
 *
 * Requests are due at fixed instants (phase start + k / rate); each one's
 * latency is measured from that intended instant, not from when a free
 * connection finally sent it, so a stall shows up as latency instead of
 * silently lowering the rate (coordinated omission).  The mix is browse
 * (GET of the site's pages and /api/deals) and claims on one deal (a fresh
 * user: GET /api/session, then POST /api/deals/ID/claims with the cookie and
 * X-CSRF-Token).  Phases change rate and mix over time.  The run is bounded
 * in time and count, and only loopback addresses are accepted as targets.
 * The result is one JSON document: totals, codes, claim outcomes, latency
 * percentiles and per-second counts and percentiles.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "duration.h"
#include "flags.h"
#include "macros.h"

#define MAX_PHASES           16
#define HARD_MAX_REQUESTS    5000000
#define HARD_MAX_DURATION_MS (6 * 3600 * 1000LL)
#define MAX_CODE             600

enum request_kind {
        KIND_BROWSE,
        KIND_SESSION,
        KIND_CLAIM,
        KIND_COUNT,
};

enum claim_outcome {
        CLAIM_OK,
        CLAIM_SOLD_OUT,
        CLAIM_ALREADY,
        CLAIM_NOT_OPEN,
        CLAIM_FAILED,
        CLAIM_OUTCOME_COUNT,
};

struct phase {
        int64_t duration_ms;
        double rate;          /* arrivals per second */
        double claim_percent; /* share of arrivals that are claims */
};

struct options {
        const char *url; /* base, no trailing slash */
        struct phase phases[MAX_PHASES];
        size_t n_phases;
        long deal_id;
        unsigned connections;
        int64_t timeout_ms;
        int64_t max_requests;
        const char *out_path;
        bool progress;
};

/* One finished request: which second of the run it was due in, and its latency. */
struct sample {
        uint32_t second;
        uint8_t kind;
        uint8_t failed;
        float latency_ms;
};

struct transaction {
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        size_t body_len;
        size_t body_cap;
        int64_t intended_us; /* when the arrival was due (monotonic) */
        int64_t step_us;     /* when this step was due: intended, or the session's end */
        enum request_kind kind;
        bool busy;
};

struct stats {
        struct sample *samples;
        size_t n_samples;
        size_t cap_samples;
        uint64_t codes[MAX_CODE + 1]; /* 0: transport error or timeout */
        uint64_t claims[CLAIM_OUTCOME_COUNT];
        uint64_t failed;
        uint64_t late_starts; /* arrivals that waited for a free connection */
        uint64_t not_sent;    /* arrivals still queued when the run's deadline passed */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        (void)sig;
        interrupted = 1;
}

static int64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char loadgen_summary[] =
        "Constant-arrival-rate browse + claim traffic against a TripDeal site on this\n"
        "machine; latency from each request's intended send time; one JSON result.";

static const char loadgen_epilog[] =
        "A request failed when it got no answer in time or a status other than 2xx/3xx\n"
        "(claims: 201, or 409 sold_out/already_claimed).  Exit 0 after the run\n"
        "(whatever failed), 1 when it could not run, 2 for bad flags.";

static int parse_number(const char *value, double min, double max, double *ret, char *message,
                        size_t message_size)
{
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v) || v < min || v > max) {
                snprintf(message, message_size, "want a number in [%g, %g]", min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_rate(const char *value, void *target, char *message, size_t message_size)
{
        return parse_number(value, 0, 100000, target, message, message_size);
}

static int parse_percent(const char *value, void *target, char *message, size_t message_size)
{
        return parse_number(value, 0, 100, target, message, message_size);
}

/* --phase DURATION:RATE:CLAIM_PERCENT, repeatable: appended in order. */
static int parse_phase(const char *value, void *target, char *message, size_t message_size)
{
        struct options *o = target;
        char buf[128];
        if (o->n_phases == MAX_PHASES) {
                snprintf(message, message_size, "at most %d phases", MAX_PHASES);
                return -EINVAL;
        }
        if (strlen(value) >= sizeof(buf)) {
                snprintf(message, message_size, "too long");
                return -EINVAL;
        }
        strcpy(buf, value);
        char *rate = strchr(buf, ':');
        char *claim = rate ? strchr(rate + 1, ':') : NULL;
        if (!rate || !claim) {
                snprintf(message, message_size, "want DURATION:RATE:CLAIM_PERCENT, e.g. 30s:50:10");
                return -EINVAL;
        }
        *rate++ = 0;
        *claim++ = 0;
        struct phase p;
        if (duration_parse_ms(buf, &p.duration_ms) < 0 || p.duration_ms <= 0 ||
            p.duration_ms > HARD_MAX_DURATION_MS) {
                snprintf(message, message_size, "'%s' is not a duration between 1ms and 6h", buf);
                return -EINVAL;
        }
        if (parse_rate(rate, &p.rate, message, message_size) < 0 ||
            parse_percent(claim, &p.claim_percent, message, message_size) < 0)
                return -EINVAL;
        o->phases[o->n_phases++] = p;
        return 0;
}

/* Is the URL's host a loopback address?  Names other than localhost are refused unresolved. */
static bool url_is_loopback(const char *url)
{
        if (strncmp(url, "http://", 7) != 0)
                return false;
        const char *p = url + 7;
        if (strncmp(p, "[::1]", 5) == 0)
                return p[5] == ':' || p[5] == '/' || p[5] == 0;
        size_t host_len = strcspn(p, ":/");
        if (host_len == 9 && strncmp(p, "localhost", 9) == 0)
                return true;
        unsigned a, b, c, d;
        char tail;
        char host[64];
        if (host_len == 0 || host_len >= sizeof(host))
                return false;
        memcpy(host, p, host_len);
        host[host_len] = 0;
        if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4)
                return false;
        return a == 127 && b < 256 && c < 256 && d < 256;
}

static void parse_options(int argc, char **argv, struct options *o)
{
        struct phase single = {.duration_ms = 10000, .rate = 10, .claim_percent = 0};
        int deal = 0, connections = 256, max_requests = 1000000;
        *o = (struct options){.timeout_ms = 5000};
        const struct flag flags[] = {
                {.name = "url",
                 .type = FLAG_STRING,
                 .target = &o->url,
                 .metavar = "URL",
                 .required = true,
                 .help = "the site (loopback only: 127.0.0.0/8, [::1], localhost)"},
                {.name = "rate",
                 .type = FLAG_CUSTOM,
                 .target = &single.rate,
                 .parse = parse_rate,
                 .metavar = "N",
                 .default_text = "10",
                 .help = "arrivals per second"},
                {.name = "duration",
                 .type = FLAG_DURATION,
                 .target = &single.duration_ms,
                 .min = 1,
                 .max = HARD_MAX_DURATION_MS,
                 .metavar = "D",
                 .help = "run time"},
                {.name = "claim-percent",
                 .type = FLAG_CUSTOM,
                 .target = &single.claim_percent,
                 .parse = parse_percent,
                 .metavar = "P",
                 .default_text = "0",
                 .help = "share of arrivals that claim --deal"},
                {.name = "phase",
                 .type = FLAG_CUSTOM,
                 .target = o,
                 .parse = parse_phase,
                 .metavar = "D:RATE:CLAIM%",
                 .help = "a phase of the run (repeatable, run in order); replaces --rate, "
                         "--duration and --claim-percent"},
                {.name = "deal",
                 .type = FLAG_INT,
                 .target = &deal,
                 .min = 1,
                 .max = INT32_MAX,
                 .metavar = "ID",
                 .default_text = "none",
                 .help = "the deal that claims go to (needed with claims)"},
                {.name = "connections",
                 .type = FLAG_INT,
                 .target = &connections,
                 .min = 1,
                 .max = 4096,
                 .metavar = "N",
                 .help = "most requests in flight"},
                {.name = "timeout",
                 .type = FLAG_DURATION,
                 .target = &o->timeout_ms,
                 .min = 1,
                 .max = 600000,
                 .metavar = "D",
                 .help = "one request's limit: then it failed"},
                {.name = "max-requests",
                 .type = FLAG_INT,
                 .target = &max_requests,
                 .min = 1,
                 .max = HARD_MAX_REQUESTS,
                 .metavar = "N",
                 .help = "stop scheduling after N arrivals"},
                {.name = "out",
                 .type = FLAG_STRING,
                 .target = &o->out_path,
                 .metavar = "FILE",
                 .default_text = "stdout",
                 .help = "write the JSON result here"},
                {.name = "progress",
                 .type = FLAG_BOOL,
                 .target = &o->progress,
                 .help = "one JSON line a second on stderr"},
                {0},
        };
        const struct flags_program program = {
                .name = "tripdeal-loadgen",
                .summary = loadgen_summary,
                .epilog = loadgen_epilog,
                .flags = flags,
        };
        flags_parse(&program, argc, argv);
        o->deal_id = deal;
        o->connections = (unsigned)connections;
        o->max_requests = max_requests;
        if (!url_is_loopback(o->url))
                flags_fail(&program,
                           "--url '%s': only http:// on loopback (127.0.0.0/8, [::1], "
                           "localhost) may be loaded from here",
                           o->url);
        if (o->n_phases == 0)
                o->phases[o->n_phases++] = single;
        int64_t total_ms = 0;
        bool claims = false;
        for (size_t i = 0; i < o->n_phases; i++) {
                total_ms += o->phases[i].duration_ms;
                claims |= o->phases[i].claim_percent > 0;
        }
        if (total_ms > HARD_MAX_DURATION_MS)
                flags_fail(&program, "the phases add up to more than 6h");
        if (claims && !o->deal_id)
                flags_fail(&program, "claims need --deal ID");
}

static size_t collect_body(char *data, size_t size, size_t count, void *userdata)
{
        struct transaction *t = userdata;
        size_t n = size * count;
        if (t->kind == KIND_BROWSE)
                return n; /* only the session's and the claim's JSON are read */
        if (t->body_len + n + 1 > t->body_cap) {
                size_t cap = (t->body_len + n + 1) * 2;
                char *p = realloc(t->body, cap);
                if (!p)
                        return 0;
                t->body = p;
                t->body_cap = cap;
        }
        memcpy(t->body + t->body_len, data, n);
        t->body_len += n;
        t->body[t->body_len] = 0;
        return n;
}

static int record(struct stats *st, int64_t run_start_us, int64_t due_us, int64_t done_us,
                  enum request_kind kind, bool failed)
{
        if (st->n_samples == st->cap_samples) {
                size_t cap = st->cap_samples ? st->cap_samples * 2 : 65536;
                struct sample *p = realloc(st->samples, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                st->samples = p;
                st->cap_samples = cap;
        }
        int64_t second = (due_us - run_start_us) / 1000000;
        st->samples[st->n_samples++] = (struct sample){
                .second = (uint32_t)(second < 0 ? 0 : second),
                .kind = (uint8_t)kind,
                .failed = failed,
                .latency_ms = (float)((done_us - due_us) / 1000.0),
        };
        if (failed)
                st->failed++;
        return 0;
}

static int start_request(CURLM *multi, const struct options *o, struct transaction *t,
                         enum request_kind kind, const char *csrf, uint64_t seq)
{
        char url[1024];
        static const char *const pages[] = {"/", "/sales", "/community", "/api/deals"};
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        t->body_len = 0;
        t->kind = kind;
        curl_easy_setopt(t->easy, CURLOPT_POST, 0L);
        curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
        switch (kind) {
        case KIND_BROWSE:
                if (o->deal_id && seq % 5 == 4)
                        snprintf(url, sizeof(url), "%s/deals/%ld", o->url, o->deal_id);
                else
                        snprintf(url, sizeof(url), "%s%s", o->url, pages[seq % ARRAY_SIZE(pages)]);
                break;
        case KIND_SESSION:
                /* a new user: forget the previous one's cookie */
                curl_easy_setopt(t->easy, CURLOPT_COOKIELIST, "ALL");
                snprintf(url, sizeof(url), "%s/api/session", o->url);
                break;
        case KIND_CLAIM: {
                char header[512];
                snprintf(url, sizeof(url), "%s/api/deals/%ld/claims", o->url, o->deal_id);
                snprintf(header, sizeof(header), "X-CSRF-Token: %s", csrf);
                t->headers = curl_slist_append(t->headers, header);
                t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
                if (!t->headers)
                        return -ENOMEM;
                curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, "{}");
                curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, 2L);
                break;
        }
        default:
                return -EINVAL;
        }
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(t->easy, CURLOPT_URL, url);
        if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
                return -EIO;
        t->busy = true;
        return 0;
}

static enum claim_outcome claim_outcome(long code, const char *body)
{
        if (code == 201)
                return CLAIM_OK;
        if (code == 409)
                return body && strstr(body, "already_claimed") ? CLAIM_ALREADY : CLAIM_SOLD_OUT;
        if (code == 422)
                return CLAIM_NOT_OPEN;
        return CLAIM_FAILED;
}

static int compare_float(const void *a, const void *b)
{
        float x = *(const float *)a, y = *(const float *)b;
        return (x > y) - (x < y);
}

static double percentile(const float *sorted, size_t n, double p)
{
        if (n == 0)
                return 0;
        size_t i = (size_t)ceil(p / 100.0 * (double)n);
        if (i == 0)
                i = 1;
        return sorted[(i > n ? n : i) - 1];
}

static json_t *latency_json(float *values, size_t n)
{
        qsort(values, n, sizeof(*values), compare_float);
        return json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50", percentile(values, n, 50), "p90",
                         percentile(values, n, 90), "p99", percentile(values, n, 99), "p999",
                         percentile(values, n, 99.9), "max", n ? (double)values[n - 1] : 0.0);
}

static json_t *build_result(const struct options *o, struct stats *st, int64_t start_realtime_ms,
                            double elapsed_s, uint64_t arrivals)
{
        json_t *result = json_object();
        json_t *phases = json_array();
        for (size_t i = 0; i < o->n_phases; i++)
                json_array_append_new(phases, json_pack("{s:I, s:f, s:f}", "durationMs",
                                                        (json_int_t)o->phases[i].duration_ms,
                                                        "rate", o->phases[i].rate, "claimPercent",
                                                        o->phases[i].claim_percent));
        json_t *codes = json_object();
        for (int c = 0; c <= MAX_CODE; c++) {
                if (!st->codes[c])
                        continue;
                char key[8];
                snprintf(key, sizeof(key), "%d", c);
                json_object_set_new(codes, c ? key : "error",
                                    json_integer((json_int_t)st->codes[c]));
        }
        _cleanup_free_ float *all = malloc((st->n_samples + 1) * sizeof(float));
        if (!all) {
                json_decref(result);
                json_decref(phases);
                json_decref(codes);
                return NULL;
        }
        for (size_t i = 0; i < st->n_samples; i++)
                all[i] = st->samples[i].latency_ms;
        json_object_set_new(result, "url", json_string(o->url));
        json_object_set_new(result, "startedAtMs", json_integer(start_realtime_ms));
        json_object_set_new(result, "elapsedSeconds", json_real(elapsed_s));
        json_object_set_new(result, "phases", phases);
        json_object_set_new(result, "arrivals", json_integer((json_int_t)arrivals));
        json_object_set_new(result, "requests",
                            json_pack("{s:I, s:I, s:I, s:I, s:o}", "total",
                                      (json_int_t)st->n_samples, "failed", (json_int_t)st->failed,
                                      "lateStarts", (json_int_t)st->late_starts, "notSent",
                                      (json_int_t)st->not_sent, "byCode", codes));
        json_object_set_new(result, "claims",
                            json_pack("{s:I, s:I, s:I, s:I, s:I}", "ok",
                                      (json_int_t)st->claims[CLAIM_OK], "soldOut",
                                      (json_int_t)st->claims[CLAIM_SOLD_OUT], "alreadyClaimed",
                                      (json_int_t)st->claims[CLAIM_ALREADY], "notOpen",
                                      (json_int_t)st->claims[CLAIM_NOT_OPEN], "failed",
                                      (json_int_t)st->claims[CLAIM_FAILED]));
        json_object_set_new(result, "latencyMs", latency_json(all, st->n_samples));

        /* per second of intended send time */
        uint32_t seconds = 0;
        for (size_t i = 0; i < st->n_samples; i++)
                if (st->samples[i].second + 1 > seconds)
                        seconds = st->samples[i].second + 1;
        json_t *per_second = json_array();
        for (uint32_t s = 0; s < seconds; s++) {
                size_t n = 0;
                uint64_t failed = 0, kinds[KIND_COUNT] = {0};
                for (size_t i = 0; i < st->n_samples; i++) {
                        if (st->samples[i].second != s)
                                continue;
                        all[n++] = st->samples[i].latency_ms;
                        failed += st->samples[i].failed;
                        kinds[st->samples[i].kind]++;
                }
                json_t *lat = latency_json(all, n);
                json_array_append_new(per_second,
                                      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "t",
                                                (json_int_t)(start_realtime_ms / 1000 + s),
                                                "requests", (json_int_t)n, "failed",
                                                (json_int_t)failed, "browse",
                                                (json_int_t)kinds[KIND_BROWSE], "sessions",
                                                (json_int_t)kinds[KIND_SESSION], "claims",
                                                (json_int_t)kinds[KIND_CLAIM], "latencyMs", lat));
        }
        json_object_set_new(result, "perSecond", per_second);
        return result;
}

static int run(const struct options *o, struct stats *st, json_t **ret_result)
{
        CURLM *multi = curl_multi_init();
        if (!multi)
                return -ENOMEM;
        curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->connections);
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)o->connections);
        struct transaction *tx = calloc(o->connections, sizeof(*tx));
        int64_t *queue = calloc(o->connections * 64 + 1024, sizeof(int64_t)); /* due arrivals */
        size_t queue_cap = o->connections * 64 + 1024, q_head = 0, q_len = 0;
        uint8_t *queue_claim = calloc(queue_cap, 1);
        int r = 0;
        if (!tx || !queue || !queue_claim) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < o->connections; i++) {
                tx[i].easy = curl_easy_init();
                if (!tx[i].easy) {
                        r = -ENOMEM;
                        goto out;
                }
                curl_easy_setopt(tx[i].easy, CURLOPT_PRIVATE, &tx[i]);
                curl_easy_setopt(tx[i].easy, CURLOPT_WRITEFUNCTION, collect_body);
                curl_easy_setopt(tx[i].easy, CURLOPT_WRITEDATA, &tx[i]);
                curl_easy_setopt(tx[i].easy, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
                curl_easy_setopt(tx[i].easy, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(tx[i].easy, CURLOPT_COOKIEFILE, "");
                curl_easy_setopt(tx[i].easy, CURLOPT_USERAGENT, "tripdeal-loadgen");
                curl_easy_setopt(tx[i].easy, CURLOPT_PROTOCOLS_STR, "http");
        }

        int64_t total_ms = 0;
        for (size_t i = 0; i < o->n_phases; i++)
                total_ms += o->phases[i].duration_ms;
        int64_t start = now_us();
        int64_t start_real = clock_realtime_ms();
        int64_t end_sched = start + total_ms * 1000;
        int64_t hard_deadline = end_sched + 2 * o->timeout_ms * 1000 + 1000000;
        size_t phase = 0;
        int64_t phase_start = start;
        uint64_t phase_k = 0, arrivals = 0, seq = 0, claim_acc = 0;
        unsigned in_flight = 0;
        int64_t last_progress = start;
        uint64_t progress_done = 0;

        for (;;) {
                int64_t now = now_us();
                /* arrivals that are due join the queue */
                while (phase < o->n_phases && !interrupted &&
                       arrivals < (uint64_t)o->max_requests) {
                        const struct phase *p = &o->phases[phase];
                        int64_t phase_end = phase_start + p->duration_ms * 1000;
                        int64_t due =
                                p->rate > 0
                                        ? phase_start + (int64_t)((double)phase_k * 1e6 / p->rate)
                                        : phase_end;
                        if (due >= phase_end) {
                                phase++;
                                phase_start = phase_end;
                                phase_k = 0;
                                continue;
                        }
                        if (due > now)
                                break;
                        if (q_len == queue_cap) {
                                st->not_sent++; /* the queue is full: the site is far behind */
                        } else {
                                size_t slot = (q_head + q_len++) % queue_cap;
                                queue[slot] = due;
                                /* claims spread evenly: every (100/claim%)th arrival */
                                claim_acc += (uint64_t)(p->claim_percent * 100);
                                queue_claim[slot] = claim_acc >= 10000;
                                if (claim_acc >= 10000)
                                        claim_acc -= 10000;
                        }
                        phase_k++;
                        arrivals++;
                }
                /* start queued arrivals on free transactions */
                for (unsigned i = 0; i < o->connections && q_len > 0; i++) {
                        if (tx[i].busy)
                                continue;
                        int64_t due = queue[q_head];
                        bool claim = queue_claim[q_head];
                        q_head = (q_head + 1) % queue_cap;
                        q_len--;
                        if (now - due > 1000)
                                st->late_starts++;
                        tx[i].intended_us = due;
                        tx[i].step_us = due;
                        r = start_request(multi, o, &tx[i], claim ? KIND_SESSION : KIND_BROWSE,
                                          NULL, seq++);
                        if (r < 0)
                                goto out;
                        in_flight++;
                }
                bool schedule_done = phase >= o->n_phases || interrupted ||
                                     arrivals >= (uint64_t)o->max_requests;
                if (schedule_done && q_len == 0 && in_flight == 0)
                        break;
                if (now > hard_deadline || (interrupted && now > end_sched)) {
                        st->not_sent += q_len;
                        break;
                }

                int running;
                curl_multi_perform(multi, &running);
                CURLMsg *msg;
                int left;
                while ((msg = curl_multi_info_read(multi, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        struct transaction *t;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
                        long code = 0;
                        if (msg->data.result == CURLE_OK)
                                curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
                        curl_multi_remove_handle(multi, t->easy);
                        int64_t done = now_us();
                        st->codes[code > 0 && code <= MAX_CODE ? code : 0]++;
                        bool ok = code >= 200 && code < 400;
                        if (t->kind == KIND_CLAIM) {
                                enum claim_outcome c =
                                        claim_outcome(code, t->body_len ? t->body : NULL);
                                st->claims[c]++;
                                ok = c == CLAIM_OK || c == CLAIM_SOLD_OUT || c == CLAIM_ALREADY;
                        }
                        /* a claim's session step is recorded with its own due time */
                        r = record(st, start, t->step_us, done, t->kind, !ok);
                        if (r < 0)
                                goto out;
                        if (t->kind == KIND_SESSION && ok) {
                                _cleanup_json_ json_t *session =
                                        json_loadb(t->body ? t->body : "", t->body_len, 0, NULL);
                                const char *csrf =
                                        json_string_value(json_object_get(session, "csrf"));
                                if (csrf) {
                                        t->step_us = done;
                                        r = start_request(multi, o, t, KIND_CLAIM, csrf, seq++);
                                        if (r < 0)
                                                goto out;
                                        continue;
                                }
                                st->claims[CLAIM_FAILED]++;
                                st->failed++;
                        } else if (t->kind == KIND_SESSION) {
                                st->claims[CLAIM_FAILED]++;
                        }
                        t->busy = false;
                        in_flight--;
                }
                if (o->progress && now - last_progress >= 1000000) {
                        fprintf(stderr,
                                "{\"elapsedS\":%.0f,\"done\":%zu,\"perSecond\":%" PRIu64
                                ",\"failed\":%" PRIu64 ",\"inFlight\":%u,\"queued\":%zu}\n",
                                (now - start) / 1e6, st->n_samples,
                                (uint64_t)st->n_samples - progress_done, st->failed, in_flight,
                                q_len);
                        progress_done = st->n_samples;
                        last_progress = now;
                }
                /* sleep until the next arrival is due or a transfer needs us (<= 10 ms) */
                int wait_ms = 10;
                if (phase < o->n_phases && o->phases[phase].rate > 0) {
                        int64_t due = phase_start +
                                      (int64_t)((double)phase_k * 1e6 / o->phases[phase].rate);
                        int64_t until = (due - now_us()) / 1000;
                        wait_ms = until < 0 ? 0 : until < 10 ? (int)until : 10;
                }
                if (q_len > 0 && in_flight < o->connections)
                        wait_ms = 0;
                curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
        }
        *ret_result = build_result(o, st, start_real, (now_us() - start) / 1e6, arrivals);
        if (!*ret_result)
                r = -ENOMEM;
out:
        if (tx) {
                for (unsigned i = 0; i < o->connections; i++) {
                        if (!tx[i].easy)
                                continue;
                        if (tx[i].busy)
                                curl_multi_remove_handle(multi, tx[i].easy);
                        curl_easy_cleanup(tx[i].easy);
                        curl_slist_free_all(tx[i].headers);
                        free(tx[i].body);
                }
        }
        free(tx);
        free(queue);
        free(queue_claim);
        curl_multi_cleanup(multi);
        return r;
}

int main(int argc, char **argv)
{
        struct options o;
        parse_options(argc, argv, &o);
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "tripdeal-loadgen: libcurl initialisation failed\n");
                return 1;
        }
        struct stats st = {0};
        json_t *result = NULL;
        int r = run(&o, &st, &result);
        free(st.samples);
        curl_global_cleanup();
        if (r < 0) {
                fprintf(stderr, "tripdeal-loadgen: %s\n", strerror(-r));
                return 1;
        }
        int dump = o.out_path ? json_dump_file(result, o.out_path, JSON_INDENT(1))
                              : json_dumpf(result, stdout, JSON_INDENT(1));
        if (!o.out_path)
                putchar('\n');
        json_decref(result);
        if (dump < 0) {
                fprintf(stderr, "tripdeal-loadgen: cannot write %s\n",
                        o.out_path ? o.out_path : "stdout");
                return 1;
        }
        return 0;
}
