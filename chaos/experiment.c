/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Experiment files (chaos.tripdeal.io/v1alpha1 Experiment): parsed strictly
 * into struct chaos_experiment.  Every error names the field
 * ("spec.steadyState.http.port: must be between 1 and 65535"); unknown
 * fields are refused, as the API server does with strict validation.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "duration.h"
#include "macros.h"
#include "yaml-json.h"

const char *chaos_action_to_string(enum chaos_action action)
{
        return action == CHAOS_ACTION_NODE_KILL ? "node-kill" : "pod-kill";
}

const char *chaos_verdict_to_string(enum chaos_verdict verdict)
{
        switch (verdict) {
        case CHAOS_VERDICT_PASSED:
                return "Passed";
        case CHAOS_VERDICT_FAILED:
                return "Failed";
        case CHAOS_VERDICT_ABORTED:
                return "Aborted";
        case CHAOS_VERDICT_REFUSED:
                return "Refused";
        case CHAOS_VERDICT_DRY_RUN:
                return "DryRun";
        }
        return "Failed";
}

int chaos_verdict_exit_code(enum chaos_verdict verdict)
{
        switch (verdict) {
        case CHAOS_VERDICT_PASSED:
        case CHAOS_VERDICT_DRY_RUN:
                return 0;
        case CHAOS_VERDICT_FAILED:
                return 1;
        case CHAOS_VERDICT_ABORTED:
                return 3;
        case CHAOS_VERDICT_REFUSED:
                return 4;
        }
        return 1;
}

void chaos_experiment_free(struct chaos_experiment *e)
{
        if (!e)
                return;
        free(e->name);
        free(e->namespace);
        free(e->selector);
        free(e->tripdeal);
        free(e->http.service);
        free(e->http.url);
        free(e->http.path);
        free(e->prometheus.url);
        free(e->prometheus.query);
        free(e->sales_of);
        free(e);
}

/* ---- field readers: each sets *error naming the field ---- */

/* The first error wins: later checks of a broken document add nothing. */
struct parser {
        struct tripdeal_error error;
};

static int fail(struct parser *p, const char *field, const char *fmt, ...) _printf_(3, 4);
static int fail(struct parser *p, const char *field, const char *fmt, ...)
{
        if (p->error.code)
                return -EINVAL;
        char what[TRIPDEAL_ERROR_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return tripdeal_error_set(&p->error, -EINVAL, "%s: %s", field, what);
}

/* Refuse keys of object that are not in allowed (NULL-terminated). */
static int only_fields(struct parser *p, const json_t *object, const char *path,
                       const char *const *allowed)
{
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)object, key, value) {
                bool ok = false;
                for (size_t i = 0; allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0)
                                ok = true;
                if (!ok)
                        return fail(p, path, "unknown field \"%s\"", key);
        }
        return 0;
}

static int get_object(struct parser *p, const json_t *parent, const char *key, const char *path,
                      bool required, json_t **ret)
{
        json_t *v = json_object_get(parent, key);
        if (!v || json_is_null(v)) {
                *ret = NULL;
                return required ? fail(p, path, "required") : 0;
        }
        if (!json_is_object(v))
                return fail(p, path, "must be an object");
        *ret = v;
        return 0;
}

static int get_string(struct parser *p, const json_t *parent, const char *key, const char *path,
                      bool required, char **ret)
{
        json_t *v = json_object_get(parent, key);
        if (!v || json_is_null(v))
                return required ? fail(p, path, "required") : 0;
        if (!json_is_string(v))
                return fail(p, path, "must be a string");
        if (json_string_length(v) == 0)
                return fail(p, path, "must not be empty");
        free(*ret);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int get_int(struct parser *p, const json_t *parent, const char *key, const char *path,
                   int64_t min, int64_t max, bool *ret_set, int64_t *ret)
{
        json_t *v = json_object_get(parent, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v))
                return fail(p, path, "must be an integer");
        int64_t n = json_integer_value(v);
        if (n < min || n > max)
                return fail(p, path, "%lld is out of range (%lld to %lld)", (long long)n,
                            (long long)min, (long long)max);
        *ret = n;
        if (ret_set)
                *ret_set = true;
        return 0;
}

static int get_number(struct parser *p, const json_t *parent, const char *key, const char *path,
                      double min, double max, double *ret)
{
        json_t *v = json_object_get(parent, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_number(v))
                return fail(p, path, "must be a number");
        double n = json_number_value(v);
        if (!isfinite(n) || n < min || n > max)
                return fail(p, path, "%g is out of range (%g to %g)", n, min, max);
        *ret = n;
        return 0;
}

static int get_bool(struct parser *p, const json_t *parent, const char *key, const char *path,
                    bool *ret)
{
        json_t *v = json_object_get(parent, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return fail(p, path, "must be true or false");
        *ret = json_is_true(v);
        return 0;
}

/* A duration string ("1s", "100ms") or a number of seconds. */
static int get_duration(struct parser *p, const json_t *parent, const char *key, const char *path,
                        int64_t min_ms, int64_t max_ms, int64_t *ret_ms)
{
        json_t *v = json_object_get(parent, key);
        if (!v || json_is_null(v))
                return 0;
        int64_t ms;
        if (json_is_integer(v)) {
                ms = json_integer_value(v) * 1000;
        } else if (json_is_string(v)) {
                if (duration_parse_ms(json_string_value(v), &ms) < 0)
                        return fail(p, path, "\"%s\" is not a duration (like 500ms, 30s, 1m)",
                                    json_string_value(v));
        } else {
                return fail(p, path, "must be a duration (like 500ms, 30s, 1m)");
        }
        if (ms < min_ms || ms > max_ms) {
                char lo[32], hi[32];
                duration_format(min_ms, lo, sizeof(lo));
                duration_format(max_ms, hi, sizeof(hi));
                return fail(p, path, "must be between %s and %s", lo, hi);
        }
        *ret_ms = ms;
        return 0;
}

static bool dns_label(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          (c == '-' && i > 0 && i < n - 1);
                if (!ok)
                        return false;
        }
        return true;
}

static int parse_target(struct parser *p, const json_t *spec, struct chaos_experiment *e)
{
        json_t *target = NULL;
        int r = get_object(p, spec, "target", "spec.target", true, &target);
        if (r < 0)
                return r;
        static const char *const fields[] = {"namespace", "selector", "tripDeal", NULL};
        if ((r = only_fields(p, target, "spec.target", fields)) < 0)
                return r;
        if ((r = get_string(p, target, "namespace", "spec.target.namespace", false,
                            &e->namespace)) < 0)
                return r;
        if (e->namespace && !dns_label(e->namespace, 63))
                return fail(p, "spec.target.namespace", "\"%s\" is not a DNS-1123 label",
                            e->namespace);
        if ((r = get_string(p, target, "tripDeal", "spec.target.tripDeal", false, &e->tripdeal)) <
            0)
                return r;
        json_t *selector = NULL;
        if ((r = get_object(p, target, "selector", "spec.target.selector", false, &selector)) < 0)
                return r;
        if (!!selector == !!e->tripdeal)
                return fail(p, "spec.target", "exactly one of selector and tripDeal is required");
        if (selector) {
                static const char *const sel_fields[] = {"matchLabels", NULL};
                if ((r = only_fields(p, selector, "spec.target.selector", sel_fields)) < 0)
                        return r;
                json_t *labels = NULL;
                if ((r = get_object(p, selector, "matchLabels", "spec.target.selector.matchLabels",
                                    true, &labels)) < 0)
                        return r;
                if (json_object_size(labels) == 0)
                        return fail(p, "spec.target.selector.matchLabels",
                                    "must hold at least one label (an empty selector would "
                                    "match every pod)");
                r = kube_label_selector_from_labels(labels, &e->selector);
                if (r == -EINVAL)
                        return fail(p, "spec.target.selector.matchLabels",
                                    "every value must be a string");
                if (r < 0)
                        return r;
        }
        if (!e->namespace && !(e->namespace = strdup("default")))
                return -ENOMEM;
        return 0;
}

static int parse_http(struct parser *p, const json_t *steady, struct chaos_experiment *e)
{
        json_t *http = NULL;
        int r = get_object(p, steady, "http", "spec.steadyState.http", false, &http);
        if (r < 0 || !http)
                return r;
        static const char *const fields[] = {"service",      "port",    "url",      "path",
                                             "expectStatus", "timeout", "interval", NULL};
        if ((r = only_fields(p, http, "spec.steadyState.http", fields)) < 0)
                return r;
        e->has_http = true;
        struct chaos_http_probe *h = &e->http;
        if ((r = get_string(p, http, "service", "spec.steadyState.http.service", false,
                            &h->service)) < 0 ||
            (r = get_string(p, http, "url", "spec.steadyState.http.url", false, &h->url)) < 0 ||
            (r = get_string(p, http, "path", "spec.steadyState.http.path", false, &h->path)) < 0)
                return r;
        if (!!h->service == !!h->url)
                return fail(p, "spec.steadyState.http",
                            "exactly one of service and url is required");
        if (h->url && strncmp(h->url, "http://", 7) != 0 && strncmp(h->url, "https://", 8) != 0)
                return fail(p, "spec.steadyState.http.url",
                            "\"%s\" must start with http:// or https://", h->url);
        if (h->path && h->path[0] != '/')
                return fail(p, "spec.steadyState.http.path", "must start with /");
        int64_t v = 0;
        bool set = false;
        if ((r = get_int(p, http, "port", "spec.steadyState.http.port", 1, 65535, &set, &v)) < 0)
                return r;
        h->port = (int32_t)v;
        if (h->service && !set)
                return fail(p, "spec.steadyState.http.port", "required with service");
        if (h->url && set)
                return fail(p, "spec.steadyState.http.port", "only with service (put it in url)");
        v = 200;
        if ((r = get_int(p, http, "expectStatus", "spec.steadyState.http.expectStatus", 100, 599,
                         NULL, &v)) < 0)
                return r;
        h->expect_status = (int32_t)v;
        if ((r = get_duration(p, http, "timeout", "spec.steadyState.http.timeout", 10, 60000,
                              &h->timeout_ms)) < 0 ||
            (r = get_duration(p, http, "interval", "spec.steadyState.http.interval", 10, 60000,
                              &h->interval_ms)) < 0)
                return r;
        if (!h->path && !(h->path = strdup("/")))
                return -ENOMEM;
        return 0;
}

static int parse_prometheus(struct parser *p, const json_t *steady, struct chaos_experiment *e)
{
        json_t *prom = NULL;
        int r = get_object(p, steady, "prometheus", "spec.steadyState.prometheus", false, &prom);
        if (r < 0 || !prom)
                return r;
        static const char *const fields[] = {"url", "query", "max", NULL};
        if ((r = only_fields(p, prom, "spec.steadyState.prometheus", fields)) < 0)
                return r;
        e->has_prometheus = true;
        if ((r = get_string(p, prom, "url", "spec.steadyState.prometheus.url", false,
                            &e->prometheus.url)) < 0 ||
            (r = get_string(p, prom, "query", "spec.steadyState.prometheus.query", true,
                            &e->prometheus.query)) < 0)
                return r;
        if (!json_object_get(prom, "max"))
                return fail(p, "spec.steadyState.prometheus.max", "required");
        return get_number(p, prom, "max", "spec.steadyState.prometheus.max", -1e300, 1e300,
                          &e->prometheus.max);
}

static int parse_spec(struct parser *p, const json_t *spec, struct chaos_experiment *e)
{
        static const char *const fields[] = {
                "target",           "action",  "count",       "percent",  "gracePeriodSeconds",
                "maxTargetPercent", "restore", "steadyState", "blackout", "salesOf",
                "logLines",         NULL};
        int r = only_fields(p, spec, "spec", fields);
        if (r < 0)
                return r;
        if ((r = parse_target(p, spec, e)) < 0)
                return r;

        _cleanup_free_ char *action = NULL;
        if ((r = get_string(p, spec, "action", "spec.action", true, &action)) < 0)
                return r;
        if (strcmp(action, "pod-kill") == 0)
                e->action = CHAOS_ACTION_POD_KILL;
        else if (strcmp(action, "node-kill") == 0)
                e->action = CHAOS_ACTION_NODE_KILL;
        else
                return fail(p, "spec.action", "\"%s\" is not pod-kill or node-kill", action);

        int64_t v = 0;
        bool has_count = false, has_percent = false;
        if ((r = get_int(p, spec, "count", "spec.count", 1, 10000, &has_count, &v)) < 0)
                return r;
        e->count = (int32_t)v;
        v = 0;
        if ((r = get_int(p, spec, "percent", "spec.percent", 1, 100, &has_percent, &v)) < 0)
                return r;
        e->percent = (int32_t)v;
        if (has_count == has_percent)
                return fail(p, "spec", "exactly one of count and percent is required");

        v = 0;
        if ((r = get_int(p, spec, "gracePeriodSeconds", "spec.gracePeriodSeconds", 0, 3600, NULL,
                         &v)) < 0)
                return r;
        e->grace_period_seconds = v;
        v = 50;
        if ((r = get_int(p, spec, "maxTargetPercent", "spec.maxTargetPercent", 1, 100, NULL, &v)) <
            0)
                return r;
        e->max_target_percent = (int32_t)v;
        e->restore = true;
        if ((r = get_bool(p, spec, "restore", "spec.restore", &e->restore)) < 0)
                return r;
        v = 20;
        if ((r = get_int(p, spec, "logLines", "spec.logLines", 0, 1000, NULL, &v)) < 0)
                return r;
        e->log_lines = (int32_t)v;

        json_t *blackout = json_object_get(spec, "blackout");
        if (blackout && !json_is_null(blackout)) {
                if (!json_is_array(blackout))
                        return fail(p, "spec.blackout", "must be a list (like [sales])");
                size_t i;
                json_t *item;
                json_array_foreach (blackout, i, item) {
                        if (!json_is_string(item) || strcmp(json_string_value(item), "sales") != 0)
                                return fail(p, "spec.blackout", "item %zu: only \"sales\" is known",
                                            i);
                        e->blackout_sales = true;
                }
        }
        if ((r = get_string(p, spec, "salesOf", "spec.salesOf", false, &e->sales_of)) < 0)
                return r;
        if (e->blackout_sales && !e->sales_of && !e->tripdeal)
                return fail(p, "spec.salesOf",
                            "required with blackout: [sales] when the target is a selector (the "
                            "TripDeal whose sales are the blackout)");

        json_t *steady = NULL;
        if ((r = get_object(p, spec, "steadyState", "spec.steadyState", false, &steady)) < 0)
                return r;
        e->max_error_rate_percent = 1;
        e->max_recovery_ms = 30000;
        e->steady_window_ms = 1000;
        if (steady) {
                static const char *const steady_fields[] = {"http",
                                                            "prometheus",
                                                            "maxErrorRatePercent",
                                                            "maxRecoverySeconds",
                                                            "abortErrorRatePercent",
                                                            "window",
                                                            NULL};
                if ((r = only_fields(p, steady, "spec.steadyState", steady_fields)) < 0)
                        return r;
                if ((r = parse_http(p, steady, e)) < 0 || (r = parse_prometheus(p, steady, e)) < 0)
                        return r;
                if ((r = get_number(p, steady, "maxErrorRatePercent",
                                    "spec.steadyState.maxErrorRatePercent", 0, 100,
                                    &e->max_error_rate_percent)) < 0 ||
                    (r = get_number(p, steady, "abortErrorRatePercent",
                                    "spec.steadyState.abortErrorRatePercent", 0, 100,
                                    &e->abort_error_rate_percent)) < 0)
                        return r;
                v = 30;
                if ((r = get_int(p, steady, "maxRecoverySeconds",
                                 "spec.steadyState.maxRecoverySeconds", 1, 86400, NULL, &v)) < 0)
                        return r;
                e->max_recovery_ms = v * 1000;
                if ((r = get_duration(p, steady, "window", "spec.steadyState.window", 100, 600000,
                                      &e->steady_window_ms)) < 0)
                        return r;
        }
        if (!e->has_http && !e->tripdeal)
                return fail(p, "spec.steadyState.http",
                            "required when the target is a selector (a TripDeal target probes "
                            "its site Service)");
        if (e->has_http) {
                if (!e->http.timeout_ms)
                        e->http.timeout_ms = 1000;
                if (!e->http.interval_ms)
                        e->http.interval_ms = 100;
        }
        return 0;
}

int chaos_experiment_from_json(const json_t *object, struct chaos_experiment **ret_experiment,
                               struct tripdeal_error *ret_error)
{
        struct parser p = {0};
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e = calloc(1, sizeof(*e));
        if (!e)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        int r;
        if (!json_is_object(object)) {
                r = fail(&p, "(document)",
                         "must be a mapping with apiVersion, kind, metadata, spec");
                goto out;
        }
        static const char *const fields[] = {"apiVersion", "kind", "metadata", "spec", NULL};
        if ((r = only_fields(&p, object, "(document)", fields)) < 0)
                goto out;
        const char *api = json_string_value(json_object_get(object, "apiVersion"));
        if (!api || strcmp(api, CHAOS_API_VERSION) != 0) {
                r = fail(&p, "apiVersion", "must be %s", CHAOS_API_VERSION);
                goto out;
        }
        const char *kind = json_string_value(json_object_get(object, "kind"));
        if (!kind || strcmp(kind, CHAOS_KIND) != 0) {
                r = fail(&p, "kind", "must be %s", CHAOS_KIND);
                goto out;
        }
        json_t *metadata = NULL;
        if ((r = get_object(&p, object, "metadata", "metadata", true, &metadata)) < 0)
                goto out;
        if ((r = get_string(&p, metadata, "name", "metadata.name", true, &e->name)) < 0)
                goto out;
        if (!dns_label(e->name, 63)) {
                r = fail(&p, "metadata.name",
                         "\"%s\" must be a DNS-1123 label (a-z, 0-9, '-', at most 63)", e->name);
                goto out;
        }
        json_t *spec = NULL;
        if ((r = get_object(&p, object, "spec", "spec", true, &spec)) < 0)
                goto out;
        r = parse_spec(&p, spec, e);
out:
        if (r < 0) {
                if (!p.error.code) /* out of memory: no field to name */
                        return tripdeal_error_set(ret_error, r, "%s", strerror(-r));
                return tripdeal_error_copy(ret_error, &p.error);
        }
        *ret_experiment = TAKE_PTR(e);
        return 0;
}

int chaos_experiment_parse_yaml(const char *text, size_t size,
                                struct chaos_experiment **ret_experiment,
                                struct tripdeal_error *ret_error)
{
        _cleanup_json_ json_t *doc = NULL;
        char why[256] = "";
        int r = yaml_json_load(text, size, YAML_SCALARS_KUBECTL, why, sizeof(why), &doc);
        if (r == -ENODATA)
                return tripdeal_error_set(ret_error, -EINVAL, "the file is empty");
        if (r < 0)
                return tripdeal_error_set(ret_error, r, "not valid YAML: %s",
                                          why[0] ? why : strerror(-r));
        return chaos_experiment_from_json(doc, ret_experiment, ret_error);
}

int chaos_experiment_load(const char *path, struct chaos_experiment **ret_experiment,
                          struct tripdeal_error *ret_error)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) {
                int r = NEG_ERRNO();
                return tripdeal_error_set(ret_error, r, "cannot open: %s", strerror(-r));
        }
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *mem = open_memstream(&text, &size);
        if (!mem)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        char buf[8192];
        size_t n, total = 0;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
                total += n;
                if (total > (1u << 20)) {
                        return tripdeal_error_set(ret_error, -EFBIG, "larger than 1 MiB");
                }
                fwrite(buf, 1, n, mem);
        }
        if (fflush(mem) != 0)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        return chaos_experiment_parse_yaml(text, size, ret_experiment, ret_error);
}
