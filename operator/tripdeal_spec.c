/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TripDeal .spec -> struct tripdeal_spec.
 *
 * The CRD schema already rejects wrong types, unknown enums and bad patterns,
 * and fills defaults.  This parser still checks every field it reads, because
 * the operator must never trust that (an older CRD, a server without
 * defaulting, a hand-made object) and must name the bad field in an
 * InvalidSpec condition instead of crashing.  Defaults here equal the CRD's.
 */
#include "tripdeal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "macros.h"

/* Parsing state: the first error wins and is reported with its field path. */
struct parser {
        char *error;
};

_printf_(2, 3) static int fail(struct parser *p, const char *fmt, ...)
{
        if (!p->error) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&p->error, fmt, ap) < 0)
                        p->error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

/* Member `key` of `object` (NULL if absent or JSON null); `object` may be NULL. */
static json_t *member(const json_t *object, const char *key)
{
        json_t *v = json_is_object(object) ? json_object_get(object, key) : NULL;
        return json_is_null(v) ? NULL : v;
}

static int read_object(struct parser *p, const json_t *parent, const char *key, const char *path,
                       bool required, json_t **ret)
{
        json_t *v = member(parent, key);
        if (!v) {
                if (required)
                        return fail(p, "%s.%s: required", path, key);
                *ret = NULL;
                return 0;
        }
        if (!json_is_object(v))
                return fail(p, "%s.%s: must be an object", path, key);
        *ret = v;
        return 0;
}

static int read_string(struct parser *p, const json_t *parent, const char *key, const char *path,
                       bool required, char **ret)
{
        json_t *v = member(parent, key);
        if (!v) {
                if (required)
                        return fail(p, "%s.%s: required", path, key);
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v) || json_string_length(v) == 0)
                return fail(p, "%s.%s: must be a non-empty string", path, key);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return fail(p, "%s.%s: must not contain NUL", path, key);
        char *s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int read_int(struct parser *p, const json_t *parent, const char *key, const char *path,
                    int64_t min, int64_t max, int64_t fallback, int64_t *ret)
{
        json_t *v = member(parent, key);
        if (!v) {
                *ret = fallback;
                return 0;
        }
        if (!json_is_integer(v))
                return fail(p, "%s.%s: must be an integer", path, key);
        json_int_t n = json_integer_value(v);
        if (n < min || n > max)
                return fail(p, "%s.%s: %lld is outside [%lld, %lld]", path, key, (long long)n,
                            (long long)min, (long long)max);
        *ret = n;
        return 0;
}

static int read_int32(struct parser *p, const json_t *parent, const char *key, const char *path,
                      int32_t min, int32_t max, int32_t fallback, int32_t *ret)
{
        int64_t n = fallback;
        int r = read_int(p, parent, key, path, min, max, fallback, &n);
        if (r == 0)
                *ret = (int32_t)n;
        return r;
}

static int read_duration(struct parser *p, const json_t *parent, const char *key, const char *path,
                         bool required, int64_t fallback_ms, int64_t *ret_ms)
{
        json_t *v = member(parent, key);
        if (!v) {
                if (required)
                        return fail(p, "%s.%s: required", path, key);
                *ret_ms = fallback_ms;
                return 0;
        }
        int64_t ms;
        if (!json_is_string(v) || duration_parse_ms(json_string_value(v), &ms) < 0)
                return fail(p, "%s.%s: not a duration like \"45s\", \"10m\" or \"1h30m\"", path,
                            key);
        *ret_ms = ms;
        return 0;
}

const char *tripdeal_log_level_name(enum tripdeal_log_level level)
{
        static const char *const names[_TRIPDEAL_LOG_LEVEL_MAX] = {
                [TRIPDEAL_LOG_INFO] = "info",
                [TRIPDEAL_LOG_DEBUG] = "debug",
                [TRIPDEAL_LOG_WARN] = "warn",
                [TRIPDEAL_LOG_ERROR] = "error",
        };
        return (unsigned)level < _TRIPDEAL_LOG_LEVEL_MAX ? names[level] : "info";
}

static int read_bool(struct parser *p, const json_t *parent, const char *key, const char *path,
                     bool *ret)
{
        json_t *v = member(parent, key);
        if (!v) {
                *ret = false;
                return 0;
        }
        if (!json_is_boolean(v))
                return fail(p, "%s.%s: must be true or false", path, key);
        *ret = json_is_true(v);
        return 0;
}

static int read_log_level(struct parser *p, const json_t *app, enum tripdeal_log_level *ret)
{
        json_t *v = member(app, "logLevel");
        if (!v) {
                *ret = TRIPDEAL_LOG_INFO;
                return 0;
        }
        for (unsigned i = 0; json_is_string(v) && i < _TRIPDEAL_LOG_LEVEL_MAX; i++)
                if (strcmp(json_string_value(v), tripdeal_log_level_name(i)) == 0) {
                        *ret = (enum tripdeal_log_level)i;
                        return 0;
                }
        return fail(p, "spec.app.logLevel: must be one of debug, info, warn, error");
}

/* Variables the operator sets itself: a user's value would break the pods. */
static const char *const reserved_env[] = {"POD_IP", "TRIPDEAL_DB", "TRIPDEAL_SECRET",
                                           "TRIPDEAL_SECRET_FILE"};

/* spec.app.env: core/v1 EnvVar entries, passed through to the container. */
static int read_env(struct parser *p, const json_t *app, json_t **ret)
{
        json_t *env = member(app, "env");
        *ret = NULL;
        if (!env)
                return 0;
        if (!json_is_array(env))
                return fail(p,
                            "spec.app.env: must be a list of {name, value} or {name, valueFrom}");
        size_t i;
        json_t *var;
        json_array_foreach (env, i, var) {
                json_t *name = member(var, "name");
                if (!json_is_object(var) || !json_is_string(name) || json_string_length(name) == 0)
                        return fail(p, "spec.app.env[%zu].name: required", i);
                const char *n = json_string_value(name);
                if (strlen(n) != json_string_length(name) || strchr(n, '='))
                        return fail(p, "spec.app.env[%zu].name: must not contain '=' or NUL", i);
                for (size_t j = 0; j < ARRAY_SIZE(reserved_env); j++)
                        if (strcmp(n, reserved_env[j]) == 0)
                                return fail(p,
                                            "spec.app.env[%zu].name: %s is set by the operator "
                                            "(use spec.app.database or the session Secret)",
                                            i, n);
                json_t *value = member(var, "value");
                if (value && !json_is_string(value))
                        return fail(p, "spec.app.env[%zu].value: must be a string", i);
                json_t *value_from = member(var, "valueFrom");
                if (value_from && !json_is_object(value_from))
                        return fail(p, "spec.app.env[%zu].valueFrom: must be an object", i);
        }
        *ret = json_incref(env);
        return 0;
}

/* spec.app.args: extra command-line arguments for the site. */
static int read_args(struct parser *p, const json_t *app, struct tripdeal_spec *s)
{
        json_t *args = member(app, "args");
        if (!args)
                return 0;
        if (!json_is_array(args))
                return fail(p, "spec.app.args: must be a list of strings");
        s->args = calloc(json_array_size(args) ?: 1, sizeof(*s->args));
        if (!s->args)
                return -ENOMEM;
        size_t i;
        json_t *arg;
        json_array_foreach (args, i, arg) {
                if (!json_is_string(arg) ||
                    strlen(json_string_value(arg)) != json_string_length(arg))
                        return fail(p, "spec.app.args[%zu]: must be a string without NUL", i);
                if (!(s->args[i] = strdup(json_string_value(arg))))
                        return -ENOMEM;
                s->args_count = i + 1;
        }
        return 0;
}

static int parse_app(struct parser *p, const json_t *app, struct tripdeal_spec *s)
{
        json_t *replicas, *autoscaling, *scale_up, *scale_down, *database, *secret_ref, *ingress,
                *failover, *resources;
        int r;

        if ((r = read_string(p, app, "image", "spec.app", true, &s->image)) < 0)
                return r;

        if ((r = read_object(p, app, "replicas", "spec.app", false, &replicas)) < 0 ||
            (r = read_int32(p, replicas, "min", "spec.app.replicas", 0, 10000, 2,
                            &s->replicas_min)) < 0 ||
            (r = read_int32(p, replicas, "max", "spec.app.replicas", 1, 10000, 10,
                            &s->replicas_max)) < 0)
                return r;
        if (s->replicas_min > s->replicas_max)
                return fail(p, "spec.app.replicas.min: %d is above max %d", s->replicas_min,
                            s->replicas_max);

        if ((r = read_object(p, app, "resources", "spec.app", false, &resources)) < 0)
                return r;
        s->resources = json_incref(resources);

        if ((r = read_env(p, app, &s->env)) < 0 || (r = read_args(p, app, s)) < 0 ||
            (r = read_bool(p, app, "seedDemo", "spec.app", &s->seed_demo)) < 0 ||
            (r = read_log_level(p, app, &s->log_level)) < 0)
                return r;

        if ((r = read_object(p, app, "autoscaling", "spec.app", false, &autoscaling)) < 0 ||
            (r = read_int32(p, autoscaling, "targetCPUUtilizationPercent", "spec.app.autoscaling",
                            1, 100, 60, &s->target_cpu_percent)) < 0 ||
            (r = read_object(p, autoscaling, "scaleUp", "spec.app.autoscaling", false, &scale_up)) <
                    0 ||
            (r = read_int32(p, scale_up, "stabilizationSeconds", "spec.app.autoscaling.scaleUp", 0,
                            3600, 0, &s->scale_up_stabilization_seconds)) < 0 ||
            (r = read_int32(p, scale_up, "maxPodsPer15s", "spec.app.autoscaling.scaleUp", 1, 1000,
                            8, &s->scale_up_max_pods_per_15s)) < 0 ||
            (r = read_object(p, autoscaling, "scaleDown", "spec.app.autoscaling", false,
                             &scale_down)) < 0 ||
            (r = read_int32(p, scale_down, "stabilizationSeconds", "spec.app.autoscaling.scaleDown",
                            0, 3600, 300, &s->scale_down_stabilization_seconds)) < 0 ||
            (r = read_int32(p, scale_down, "maxPercentPerMinute", "spec.app.autoscaling.scaleDown",
                            1, 100, 20, &s->scale_down_max_percent_per_minute)) < 0)
                return r;

        if ((r = read_object(p, app, "database", "spec.app", false, &database)) < 0 ||
            (r = read_object(p, database, "secretRef", "spec.app.database", database != NULL,
                             &secret_ref)) < 0 ||
            (r = read_string(p, secret_ref, "name", "spec.app.database.secretRef",
                             secret_ref != NULL, &s->database_secret_name)) < 0 ||
            (r = read_string(p, secret_ref, "key", "spec.app.database.secretRef", false,
                             &s->database_secret_key)) < 0)
                return r;
        /* SQLite lives inside one pod: replicas would each sell the whole stock. */
        if (!s->database_secret_name && s->replicas_max > 1)
                return fail(p, "spec.app.database: required when replicas.max is above 1 (the "
                               "embedded SQLite cannot be shared between pods)");
        if (s->database_secret_name && !s->database_secret_key &&
            !(s->database_secret_key = strdup("url")))
                return -ENOMEM;

        if ((r = read_object(p, app, "ingress", "spec.app", false, &ingress)) < 0 ||
            (r = read_string(p, ingress, "host", "spec.app.ingress", ingress != NULL,
                             &s->ingress_host)) < 0 ||
            (r = read_string(p, ingress, "className", "spec.app.ingress", false,
                             &s->ingress_class_name)) < 0 ||
            (r = read_string(p, ingress, "tlsSecretName", "spec.app.ingress", false,
                             &s->ingress_tls_secret_name)) < 0)
                return r;

        if ((r = read_object(p, app, "failover", "spec.app", false, &failover)) < 0 ||
            (r = read_int(p, failover, "tolerationSeconds", "spec.app.failover", 0, 3600, 30,
                          &s->toleration_seconds)) < 0)
                return r;
        return 0;
}

static int parse_sale(struct parser *p, const json_t *sale, size_t index, struct tripdeal_sale *out)
{
        char path[64];
        snprintf(path, sizeof(path), "spec.sales[%zu]", index);
        if (!json_is_object(sale))
                return fail(p, "%s: must be an object", path);

        json_t *prescale;
        int r;
        if ((r = read_string(p, sale, "name", path, true, &out->name)) < 0 ||
            (r = read_string(p, sale, "schedule", path, true, &out->schedule)) < 0 ||
            (r = read_string(p, sale, "timeZone", path, false, &out->time_zone)) < 0 ||
            (r = read_duration(p, sale, "duration", path, true, 0, &out->duration_ms)) < 0 ||
            (r = read_duration(p, sale, "cooldown", path, false, 0, &out->cooldown_ms)) < 0 ||
            (r = read_object(p, sale, "prescale", path, true, &prescale)) < 0)
                return r;
        if (!out->time_zone && !(out->time_zone = strdup("UTC")))
                return -ENOMEM;
        if (out->duration_ms <= 0)
                return fail(p, "%s.duration: must be longer than 0", path);

        char prescale_path[80];
        snprintf(prescale_path, sizeof(prescale_path), "%s.prescale", path);
        if (!member(prescale, "minReplicas"))
                return fail(p, "%s.minReplicas: required", prescale_path);
        if ((r = read_int32(p, prescale, "minReplicas", prescale_path, 0, 10000, 0,
                            &out->min_replicas)) < 0 ||
            (r = read_duration(p, prescale, "leadTime", prescale_path, false, 10 * 60 * 1000,
                               &out->lead_time_ms)) < 0 ||
            (r = read_int32(p, prescale, "nodes", prescale_path, 0, 1000, 0, &out->nodes)) < 0 ||
            (r = read_duration(p, prescale, "nodeLeadTime", prescale_path, false, out->lead_time_ms,
                               &out->node_lead_time_ms)) < 0)
                return r;
        return 0;
}

/* DNS-1123 label: it becomes part of VM, host and Node names. */
static bool is_dns_label(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

static int parse_node_pool(struct parser *p, const json_t *pool, size_t index,
                           struct tripdeal_node_pool *out)
{
        char path[64], libvirt_path[80], secret_path[96];
        snprintf(path, sizeof(path), "spec.nodePools[%zu]", index);
        snprintf(libvirt_path, sizeof(libvirt_path), "%s.libvirt", path);
        snprintf(secret_path, sizeof(secret_path), "%s.joinSecretRef", path);
        if (!json_is_object(pool))
                return fail(p, "%s: must be an object", path);

        json_t *libvirt, *secret_ref;
        int r;
        if ((r = read_string(p, pool, "name", path, true, &out->name)) < 0)
                return r;
        if (!is_dns_label(out->name))
                return fail(p,
                            "%s.name: \"%s\" is not a DNS-1123 label (a-z, 0-9, '-', at most 63)",
                            path, out->name);
        if ((r = read_object(p, pool, "libvirt", path, true, &libvirt)) < 0 ||
            (r = read_string(p, libvirt, "uri", libvirt_path, true, &out->libvirt_uri)) < 0 ||
            (r = read_string(p, libvirt, "baseImage", libvirt_path, true, &out->base_image)) < 0 ||
            (r = read_string(p, libvirt, "storagePool", libvirt_path, false, &out->storage_pool)) <
                    0 ||
            (r = read_string(p, libvirt, "network", libvirt_path, false, &out->network)) < 0 ||
            (r = read_int32(p, libvirt, "vcpus", libvirt_path, 1, 256, 2, &out->vcpus)) < 0 ||
            /* vmctl's floor (16 MiB) rather than a real node's, so OS-less test
             * domains fit; the CRD may be stricter. */
            (r = read_int32(p, libvirt, "memoryMiB", libvirt_path, 16, 4194304, 4096,
                            &out->memory_mib)) < 0)
                return r;
        if (!strstr(out->libvirt_uri, ":/"))
                return fail(p, "%s.uri: \"%s\" is not a libvirt URI like qemu:///system",
                            libvirt_path, out->libvirt_uri);
        if (out->base_image[0] != '/')
                return fail(p, "%s.baseImage: must be an absolute path", libvirt_path);
        if (!out->storage_pool && !(out->storage_pool = strdup("default")))
                return -ENOMEM;
        if (!out->network && !(out->network = strdup("default")))
                return -ENOMEM;

        if ((r = read_int32(p, pool, "min", path, 0, 1000, 0, &out->min)) < 0)
                return r;
        if (!member(pool, "max"))
                return fail(p, "%s.max: required", path);
        if ((r = read_int32(p, pool, "max", path, 0, 1000, 0, &out->max)) < 0)
                return r;
        if (out->min > out->max)
                return fail(p, "%s.min: %d is above max %d", path, out->min, out->max);

        if ((r = read_object(p, pool, "joinSecretRef", path, true, &secret_ref)) < 0 ||
            (r = read_string(p, secret_ref, "name", secret_path, true, &out->join_secret_name)) <
                    0 ||
            (r = read_string(p, secret_ref, "key", secret_path, false, &out->join_secret_key)) < 0)
                return r;
        if (!out->join_secret_key && !(out->join_secret_key = strdup("join")))
                return -ENOMEM;
        return 0;
}

static void node_pool_clear(struct tripdeal_node_pool *pool)
{
        free(pool->name);
        free(pool->libvirt_uri);
        free(pool->base_image);
        free(pool->storage_pool);
        free(pool->network);
        free(pool->join_secret_name);
        free(pool->join_secret_key);
}

static void sale_clear(struct tripdeal_sale *sale)
{
        free(sale->name);
        free(sale->schedule);
        free(sale->time_zone);
}

void tripdeal_spec_free(struct tripdeal_spec *spec)
{
        if (!spec)
                return;
        free(spec->image);
        json_decref(spec->resources);
        json_decref(spec->env);
        for (size_t i = 0; i < spec->args_count; i++)
                free(spec->args[i]);
        free(spec->args);
        free(spec->database_secret_name);
        free(spec->database_secret_key);
        free(spec->ingress_host);
        free(spec->ingress_class_name);
        free(spec->ingress_tls_secret_name);
        for (size_t i = 0; i < spec->sales_count; i++)
                sale_clear(&spec->sales[i]);
        free(spec->sales);
        for (size_t i = 0; i < spec->node_pools_count; i++)
                node_pool_clear(&spec->node_pools[i]);
        free(spec->node_pools);
        free(spec);
}

int tripdeal_spec_parse(const json_t *spec, struct tripdeal_spec **ret_spec, char **ret_error)
{
        struct parser p = {0};
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;

        int r;
        json_t *app, *sales, *pools;
        if (!json_is_object(spec)) {
                r = fail(&p, "spec: must be an object");
                goto error;
        }
        if ((r = read_object(&p, spec, "app", "spec", true, &app)) < 0 ||
            (r = parse_app(&p, app, s)) < 0)
                goto error;

        sales = member(spec, "sales");
        if (sales && !json_is_array(sales)) {
                r = fail(&p, "spec.sales: must be a list");
                goto error;
        }
        if (sales && json_array_size(sales) > 0) {
                s->sales = calloc(json_array_size(sales), sizeof(*s->sales));
                if (!s->sales) {
                        r = -ENOMEM;
                        goto error;
                }
                size_t i;
                json_t *sale;
                json_array_foreach (sales, i, sale) {
                        s->sales_count = i + 1;
                        if ((r = parse_sale(&p, sale, i, &s->sales[i])) < 0)
                                goto error;
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(s->sales[j].name, s->sales[i].name) == 0) {
                                        r = fail(&p, "spec.sales[%zu].name: \"%s\" is used twice",
                                                 i, s->sales[i].name);
                                        goto error;
                                }
                }
        }

        pools = member(spec, "nodePools");
        if (pools && !json_is_array(pools)) {
                r = fail(&p, "spec.nodePools: must be a list");
                goto error;
        }
        if (pools && json_array_size(pools) > 0) {
                s->node_pools = calloc(json_array_size(pools), sizeof(*s->node_pools));
                if (!s->node_pools) {
                        r = -ENOMEM;
                        goto error;
                }
                size_t i;
                json_t *pool;
                json_array_foreach (pools, i, pool) {
                        s->node_pools_count = i + 1;
                        if ((r = parse_node_pool(&p, pool, i, &s->node_pools[i])) < 0)
                                goto error;
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(s->node_pools[j].name, s->node_pools[i].name) == 0) {
                                        r = fail(&p,
                                                 "spec.nodePools[%zu].name: \"%s\" is used twice",
                                                 i, s->node_pools[i].name);
                                        goto error;
                                }
                }
        }

        *ret_spec = TAKE_PTR(s);
        return 0;

error:
        if (ret_error)
                *ret_error = TAKE_PTR(p.error);
        free(p.error);
        return r == -ENOMEM ? -ENOMEM : -EINVAL;
}
