/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes REST API over libmicrohttpd (thread per connection).
 *
 * Every request takes server->lock for its whole read-modify-write, builds
 * its response body under the lock (stored objects are shared with watch
 * events) and queues it.  Watches stream from a content-reader callback
 * that blocks on server->changed until events arrive.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "clock.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"
#include "macros.h"
#include "names.h"
#include "patch.h"
#include "protobuf.h"
#include "registry.h"
#include "schema.h"
#include "selector.h"
#include "table.h"
#include "tokens.h"

#define MAX_BODY (16u * 1024 * 1024)

struct upload {
        char *body;
        size_t len;
        bool too_large;
};

struct request {
        struct server *s;
        struct MHD_Connection *conn;
        const char *method;
        const char *url;
        const char *body;
        size_t body_len;
        struct resource_type *t;
        const char *ns;
        const char *name;
        const char *sub;
        json_t *warnings; /* array of strings -> Warning headers */
};

/* ---- small utilities ---- */

void now_rfc3339(char *buf, size_t size)
{
        clock_format_rfc3339(time(NULL), buf, size);
}

void random_uuid(char *buf)
{
        unsigned char b[16];
        if (RAND_bytes(b, sizeof(b)) != 1)
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (unsigned char)rand();
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                 b[13], b[14], b[15]);
}

json_t *k8s_status_new(int code, const char *reason, const char *message)
{
        return json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
                         "v1", "metadata", "status", code < 400 ? "Success" : "Failure", "message",
                         message ? message : "", "reason", reason ? reason : "", "code", code);
}

static const char *query(struct request *r, const char *key)
{
        return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header(struct request *r, const char *key)
{
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

/*
 * A boolean query parameter as kube-apiserver decodes one
 * (apimachinery's runtime.Convert_Slice_string_To_bool, used for watch,
 * allowWatchBookmarks, sendInitialEvents, orphanDependents, follow, ...):
 * absent, "0" or "false" in any case is false; every other value, even an
 * empty one ("?watch"), is true.  So the Python client's "watch=True" watches.
 */
bool query_bool_value(const char *v)
{
        return v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

static bool query_true(struct request *r, const char *key)
{
        return query_bool_value(query(r, key));
}

static enum MHD_Result respond_text(struct request *r, unsigned code, char *text,
                                    const char *content_type)
{
        if (!text)
                return MHD_NO;
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
        size_t i;
        json_t *w;
        json_array_foreach (r->warnings, i, w) {
                char buf[1024];
                /* RFC 7234 warning: 299 - "text" (quotes in the text escaped). */
                const char *text_w = json_string_value(w);
                size_t o = 0;
                o += (size_t)snprintf(buf, sizeof(buf), "299 - \"");
                for (const char *c = text_w; *c && o + 4 < sizeof(buf); c++) {
                        if (*c == '"' || *c == '\\')
                                buf[o++] = '\\';
                        buf[o++] = *c;
                }
                snprintf(buf + o, sizeof(buf) - o, "\"");
                MHD_add_response_header(resp, "Warning", buf);
        }
        enum MHD_Result ret = MHD_queue_response(r->conn, code, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* Serialize and queue; steals body. */
static enum MHD_Result respond(struct request *r, unsigned code, json_t *body)
{
        if (code >= 400 && log_enabled(LOG_LEVEL_DEBUG))
                log_emit(LOG_LEVEL_DEBUG,
                         json_pack("{s:s, s:s, s:i, s:s}", "method", r->method, "path", r->url,
                                   "code", (int)code, "message",
                                   json_string_value(json_object_get(body, "message")) ?: ""),
                         "request failed");
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        return respond_text(r, code, text, "application/json");
}

static const char *group_or_core(const struct resource_type *t)
{
        return t->group;
}

/* "deployments.apps" / "pods": how Kubernetes names a resource in messages. */
static void qualified_resource(const struct resource_type *t, char *buf, size_t size)
{
        if (t->group[0])
                snprintf(buf, size, "%s.%s", t->plural, t->group);
        else
                snprintf(buf, size, "%s", t->plural);
}

static json_t *status_for(int code, const char *reason, const struct resource_type *t,
                          const char *name, const char *fmt, ...) _printf_(5, 6);
static json_t *status_for(int code, const char *reason, const struct resource_type *t,
                          const char *name, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        json_t *st = k8s_status_new(code, reason, msg);
        free(msg);
        if (t) {
                json_t *details =
                        json_pack("{s:s, s:s}", "group", group_or_core(t), "kind", t->plural);
                if (name)
                        json_object_set_new(details, "name", json_string(name));
                json_object_set_new(st, "details", details);
        }
        return st;
}

static enum MHD_Result respond_status(struct request *r, int code, const char *reason,
                                      const char *message)
{
        return respond(r, (unsigned)code, k8s_status_new(code, reason, message));
}

static enum MHD_Result not_found(struct request *r, const char *name)
{
        char qr[300];
        qualified_resource(r->t, qr, sizeof(qr));
        return respond(r, 404,
                       status_for(404, "NotFound", r->t, name, "%s \"%s\" not found", qr, name));
}

/* 422 with the causes listed the way Kubernetes prints them. */
static enum MHD_Result respond_invalid(struct request *r, const char *name, json_t *causes)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f) {
                json_decref(causes);
                return MHD_NO;
        }
        char kind[300];
        if (r->t->group[0])
                snprintf(kind, sizeof(kind), "%s.%s", r->t->kind, r->t->group);
        else
                snprintf(kind, sizeof(kind), "%s", r->t->kind);
        fprintf(f, "%s \"%s\" is invalid: ", kind, name ? name : "");
        if (json_array_size(causes) > 1)
                fputc('[', f);
        size_t i;
        json_t *c;
        json_array_foreach (causes, i, c) {
                fprintf(f, "%s%s: %s", i ? ", " : "",
                        json_string_value(json_object_get(c, "field")) ?: "",
                        json_string_value(json_object_get(c, "message")) ?: "");
        }
        if (json_array_size(causes) > 1)
                fputc(']', f);
        fclose(f);
        json_t *st = k8s_status_new(422, "Invalid", buf);
        free(buf);
        json_object_set_new(st, "details",
                            json_pack("{s:s, s:s, s:s, s:o}", "name", name ? name : "", "group",
                                      r->t->group, "kind", r->t->kind, "causes", causes));
        return respond(r, 422, st);
}

static char *api_version_of(const struct resource_type *t)
{
        return registry_api_version(t);
}

/* A copy of a stored object as served at t's version. */
/* ---- autoscaling/v1 HPAs: served from the autoscaling/v2 objects ---- */

static bool is_hpa_v1(const struct resource_type *t)
{
        return strcmp(t->group, "autoscaling") == 0 && strcmp(t->version, "v1") == 0 &&
               strcmp(t->plural, "horizontalpodautoscalers") == 0;
}

static bool is_cpu_utilization(json_t *metric, const char *field)
{
        json_t *res = json_object_get(metric, "resource");
        const char *name = json_string_value(json_object_get(res, "name"));
        return name && strcmp(name, "cpu") == 0 &&
               json_object_get(json_object_get(res, field), "averageUtilization");
}

/* v2 -> v1 (in place): the CPU utilization target is all v1 can say. */
static void hpa_to_v1(json_t *obj)
{
        json_t *spec = json_object_get(obj, "spec");
        json_t *status = json_object_get(obj, "status");
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(spec, "metrics"), i, m) {
                if (is_cpu_utilization(m, "target"))
                        json_object_set(
                                spec, "targetCPUUtilizationPercentage",
                                json_object_get(
                                        json_object_get(json_object_get(m, "resource"), "target"),
                                        "averageUtilization"));
        }
        json_array_foreach (json_object_get(status, "currentMetrics"), i, m) {
                if (is_cpu_utilization(m, "current"))
                        json_object_set(
                                status, "currentCPUUtilizationPercentage",
                                json_object_get(
                                        json_object_get(json_object_get(m, "resource"), "current"),
                                        "averageUtilization"));
        }
        json_object_del(spec, "metrics");
        json_object_del(spec, "behavior");
        json_object_del(status, "currentMetrics");
        json_object_del(status, "conditions");
}

/* v1 -> v2 (in place), keeping what only v2 can say (behavior, other metrics) from current. */
static void hpa_to_v2(json_t *obj, json_t *current)
{
        json_object_set_new(obj, "apiVersion", json_string("autoscaling/v2"));
        json_t *spec = json_object_get(obj, "spec");
        json_t *cur_spec = json_object_get(current, "spec");
        json_t *target = json_incref(json_object_get(spec, "targetCPUUtilizationPercentage"));
        json_object_del(spec, "targetCPUUtilizationPercentage");
        json_t *metrics = json_array();
        if (target)
                json_array_append_new(metrics,
                                      json_pack("{s:s, s:{s:s, s:{s:s, s:O}}}", "type", "Resource",
                                                "resource", "name", "cpu", "target", "type",
                                                "Utilization", "averageUtilization", target));
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(cur_spec, "metrics"), i, m) {
                if (!is_cpu_utilization(m, "target"))
                        json_array_append(metrics, m);
        }
        if (json_is_object(spec) && json_array_size(metrics))
                json_object_set(spec, "metrics", metrics);
        if (json_is_object(spec) && json_object_get(cur_spec, "behavior"))
                json_object_set(spec, "behavior", json_object_get(cur_spec, "behavior"));
        json_decref(metrics);
        json_decref(target);
        json_t *status = json_object_get(obj, "status");
        json_t *cur_status = json_object_get(current, "status");
        json_t *util = json_incref(json_object_get(status, "currentCPUUtilizationPercentage"));
        json_object_del(status, "currentCPUUtilizationPercentage");
        if (json_is_object(status) && util)
                json_object_set_new(status, "currentMetrics",
                                    json_pack("[{s:s, s:{s:s, s:{s:O}}}]", "type", "Resource",
                                              "resource", "name", "cpu", "current",
                                              "averageUtilization", util));
        if (json_is_object(status) && json_object_get(cur_status, "conditions"))
                json_object_set(status, "conditions", json_object_get(cur_status, "conditions"));
        json_decref(util);
}

/* ---- events.k8s.io/v1 Events: served from the core/v1 objects ---- */

static bool is_events_v1(const struct resource_type *t)
{
        return strcmp(t->group, "events.k8s.io") == 0 && strcmp(t->plural, "events") == 0;
}

/* Field renames between core/v1 (first) and events.k8s.io/v1 (second). */
static const char *const event_renames[][2] = {
        {"involvedObject", "regarding"},
        {"message", "note"},
        {"source", "deprecatedSource"},
        {"firstTimestamp", "deprecatedFirstTimestamp"},
        {"lastTimestamp", "deprecatedLastTimestamp"},
        {"count", "deprecatedCount"},
        {"reportingComponent", "reportingController"},
};

static void event_rename(json_t *obj, bool to_events_api)
{
        for (size_t i = 0; i < ARRAY_SIZE(event_renames); i++) {
                const char *from = event_renames[i][to_events_api ? 0 : 1];
                const char *to = event_renames[i][to_events_api ? 1 : 0];
                json_t *v = json_incref(json_object_get(obj, from));
                json_object_del(obj, from);
                if (v)
                        json_object_set_new(obj, to, v);
        }
        json_object_set_new(obj, "apiVersion",
                            json_string(to_events_api ? "events.k8s.io/v1" : "v1"));
}

static json_t *for_output(const struct resource_type *t, json_t *obj)
{
        json_t *c = json_deep_copy(obj);
        if (is_hpa_v1(t))
                hpa_to_v1(c);
        if (is_events_v1(t))
                event_rename(c, true);
        _cleanup_free_ char *av = api_version_of(t);
        json_object_set_new(c, "apiVersion", json_string(av ? av : t->version));
        json_object_set_new(c, "kind", json_string(t->kind));
        return c;
}

static bool wants_table(struct request *r)
{
        const char *accept = header(r, "Accept");
        return accept && strstr(accept, "as=Table") != NULL;
}

static const char *meta_string(json_t *obj, const char *key)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static uint64_t meta_rv(json_t *obj)
{
        const char *rv = meta_string(obj, "resourceVersion");
        return rv ? strtoull(rv, NULL, 10) : 0;
}

static enum field_validation field_validation(struct request *r)
{
        const char *v = query(r, "fieldValidation");
        if (v && strcmp(v, "Warn") == 0)
                return FIELD_VALIDATION_WARN;
        if (v && strcmp(v, "Ignore") == 0)
                return FIELD_VALIDATION_IGNORE;
        return FIELD_VALIDATION_STRICT;
}

static bool dry_run(struct request *r)
{
        const char *v = query(r, "dryRun");
        return v && strcmp(v, "All") == 0;
}

/* ---- base64 for Secret stringData and continue tokens ---- */

static char *base64_encode(const unsigned char *data, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        return out;
}

static char *base64_decode(const char *text)
{
        size_t len = strlen(text);
        unsigned char *out = malloc(len + 1);
        if (!out)
                return NULL;
        int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
        if (n < 0) {
                free(out);
                return NULL;
        }
        while (n > 0 && len > 0 && text[len - 1] == '=') {
                n--;
                len--;
        }
        out[n] = '\0';
        return (char *)out;
}

/* ---- defaults a real API server fills in ---- */

static void set_default(json_t *obj, const char *key, json_t *value)
{
        if (!json_is_object(obj) || json_object_get(obj, key)) {
                json_decref(value);
                return;
        }
        json_object_set_new(obj, key, value);
}

static json_t *ensure_object(json_t *parent, const char *key)
{
        json_t *o = json_object_get(parent, key);
        if (!json_is_object(o)) {
                o = json_object();
                json_object_set_new(parent, key, o);
        }
        return o;
}

static void default_pod_spec(json_t *spec)
{
        if (!json_is_object(spec))
                return;
        set_default(spec, "restartPolicy", json_string("Always"));
        set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
        set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
        set_default(spec, "schedulerName", json_string("default-scheduler"));
        set_default(spec, "securityContext", json_object());
        const char *lists[] = {"containers", "initContainers"};
        for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
                size_t i;
                json_t *c;
                json_array_foreach (json_object_get(spec, lists[l]), i, c) {
                        const char *image = json_string_value(json_object_get(c, "image"));
                        bool latest = image && (!strchr(image, ':') || strstr(image, ":latest"));
                        set_default(c, "imagePullPolicy",
                                    json_string(latest ? "Always" : "IfNotPresent"));
                        set_default(c, "terminationMessagePath",
                                    json_string("/dev/termination-log"));
                        set_default(c, "terminationMessagePolicy", json_string("File"));
                        set_default(c, "resources", json_object());
                        size_t k;
                        json_t *env;
                        json_array_foreach (json_object_get(c, "env"), k, env) {
                                json_t *ref = json_object_get(json_object_get(env, "valueFrom"),
                                                              "fieldRef");
                                set_default(ref, "apiVersion", json_string("v1"));
                        }
                        size_t j;
                        json_t *p;
                        json_array_foreach (json_object_get(c, "ports"), j, p) {
                                set_default(p, "protocol", json_string("TCP"));
                        }
                }
        }
}

static bool type_is(const struct resource_type *t, const char *group, const char *plural)
{
        return strcmp(t->group, group) == 0 && strcmp(t->plural, plural) == 0;
}

static void apply_builtin_defaults(struct server *s, const struct resource_type *t, json_t *obj)
{
        json_t *spec = json_object_get(obj, "spec");
        if (type_is(t, "", "pods")) {
                default_pod_spec(spec);
        } else if (type_is(t, "apps", "deployments") || type_is(t, "apps", "replicasets") ||
                   type_is(t, "apps", "statefulsets")) {
                set_default(spec, "replicas", json_integer(1));
                if (!type_is(t, "apps", "replicasets"))
                        set_default(spec, "revisionHistoryLimit", json_integer(10));
                if (type_is(t, "apps", "deployments")) {
                        set_default(spec, "progressDeadlineSeconds", json_integer(600));
                        set_default(spec, "strategy",
                                    json_pack("{s:s, s:{s:s, s:s}}", "type", "RollingUpdate",
                                              "rollingUpdate", "maxUnavailable", "25%", "maxSurge",
                                              "25%"));
                        json_t *strategy = json_object_get(spec, "strategy");
                        set_default(strategy, "type", json_string("RollingUpdate"));
                        const char *st = json_string_value(json_object_get(strategy, "type"));
                        if (st && strcmp(st, "RollingUpdate") == 0) {
                                json_t *ru = ensure_object(strategy, "rollingUpdate");
                                set_default(ru, "maxUnavailable", json_string("25%"));
                                set_default(ru, "maxSurge", json_string("25%"));
                        }
                }
                default_pod_spec(json_object_get(json_object_get(spec, "template"), "spec"));
        } else if (type_is(t, "batch", "jobs")) {
                default_pod_spec(json_object_get(json_object_get(spec, "template"), "spec"));
        } else if (type_is(t, "", "services")) {
                set_default(spec, "type", json_string("ClusterIP"));
                set_default(spec, "sessionAffinity", json_string("None"));
                const char *type = json_string_value(json_object_get(spec, "type"));
                if (json_is_object(spec) && !json_object_get(spec, "clusterIP") && type &&
                    strcmp(type, "ExternalName") != 0) {
                        /* Allocate from 10.96.0.0/16 by a counter derived from the global RV. */
                        char ip[32];
                        snprintf(ip, sizeof(ip), "10.96.%u.%u", (unsigned)((s->rv / 250) % 250),
                                 (unsigned)(s->rv % 250) + 2);
                        json_object_set_new(spec, "clusterIP", json_string(ip));
                        json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
                        json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
                        json_object_set_new(spec, "ipFamilyPolicy", json_string("SingleStack"));
                        json_object_set_new(spec, "internalTrafficPolicy", json_string("Cluster"));
                }
                size_t i;
                json_t *p;
                json_array_foreach (json_object_get(spec, "ports"), i, p) {
                        set_default(p, "protocol", json_string("TCP"));
                        if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
                                json_object_set(p, "targetPort", json_object_get(p, "port"));
                }
        } else if (type_is(t, "", "secrets")) {
                set_default(obj, "type", json_string("Opaque"));
                json_t *string_data = json_object_get(obj, "stringData");
                if (json_is_object(string_data)) {
                        json_t *data = ensure_object(obj, "data");
                        const char *k;
                        json_t *v;
                        json_object_foreach (string_data, k, v) {
                                const char *text = json_string_value(v) ?: "";
                                _cleanup_free_ char *enc =
                                        base64_encode((const unsigned char *)text, strlen(text));
                                json_object_set_new(data, k, json_string(enc ? enc : ""));
                        }
                        json_object_del(obj, "stringData");
                }
        } else if (type_is(t, "", "namespaces")) {
                json_t *labels = ensure_object(ensure_object(obj, "metadata"), "labels");
                json_object_set_new(labels, "kubernetes.io/metadata.name",
                                    json_string(meta_string(obj, "name") ?: ""));
                set_default(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
                if (!json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"))
                        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        }
}

/* CRD status as a real server sets it once names are accepted. */
static void crd_set_status(json_t *crd)
{
        char now[64];
        now_rfc3339(now, sizeof(now));
        json_t *spec = json_object_get(crd, "spec");
        json_t *stored = json_array();
        size_t i;
        json_t *v;
        json_array_foreach (json_object_get(spec, "versions"), i, v) {
                if (json_is_true(json_object_get(v, "storage")))
                        json_array_append(stored, json_object_get(v, "name"));
        }
        json_object_set_new(
                crd, "status",
                json_pack("{s:O, s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}], s:o}",
                          "acceptedNames", json_object_get(spec, "names"), "conditions", "type",
                          "NamesAccepted", "status", "True", "reason", "NoConflicts", "message",
                          "no conflicts found", "lastTransitionTime", now, "type", "Established",
                          "status", "True", "reason", "InitialNamesAccepted", "message",
                          "the initial names have been accepted", "lastTransitionTime", now,
                          "storedVersions", stored));
}

/* Fill defaults the CRD's own API would (singular, listKind) and reject a malformed CRD. */
static int crd_prepare(json_t *crd, json_t *causes)
{
        json_t *spec = json_object_get(crd, "spec");
        json_t *names = json_object_get(spec, "names");
        const char *group = json_string_value(json_object_get(spec, "group"));
        const char *plural = json_string_value(json_object_get(names, "plural"));
        const char *kind = json_string_value(json_object_get(names, "kind"));
        const char *name = meta_string(crd, "name");
        char expected[512];
        snprintf(expected, sizeof(expected), "%s.%s", plural ? plural : "", group ? group : "");
        if (name && plural && group && strcmp(name, expected) != 0) {
                json_array_append_new(causes,
                                      json_pack("{s:s, s:s, s:s}", "reason", "FieldValueInvalid",
                                                "field", "metadata.name", "message",
                                                "Invalid value: must be "
                                                "spec.names.plural+\".\"+spec.group"));
                return -EINVAL;
        }
        if (!kind || !plural)
                return 0; /* schema validation reports the missing fields */
        if (!json_object_get(names, "singular")) {
                char lower[256];
                snprintf(lower, sizeof(lower), "%s", kind);
                for (char *p = lower; *p; p++)
                        if (*p >= 'A' && *p <= 'Z')
                                *p = (char)(*p - 'A' + 'a');
                json_object_set_new(names, "singular", json_string(lower));
        }
        if (!json_object_get(names, "listKind")) {
                char lk[300];
                snprintf(lk, sizeof(lk), "%sList", kind);
                json_object_set_new(names, "listKind", json_string(lk));
        }
        set_default(spec, "conversion", json_pack("{s:s}", "strategy", "None"));
        return 0;
}

/* ---- names ---- */

static void generate_name(const char *prefix, char *buf, size_t size)
{
        static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
        unsigned char rnd[5];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                memset(rnd, 7, sizeof(rnd));
        char suffix[6];
        for (size_t i = 0; i < 5; i++)
                suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        suffix[5] = '\0';
        snprintf(buf, size, "%s%s", prefix, suffix);
}

/* ---- reading the body ---- */

static json_t *parse_body(struct request *r)
{
        if (!r->body || r->body_len == 0)
                return NULL;
        const char *ct = header(r, "Content-Type");
        if (ct && strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0)
                return protobuf_to_json(r->body, r->body_len);
        return yaml_to_json(r->body, r->body_len);
}

/* ---- verbs ---- */

static bool spec_changed(const struct resource_type *t, json_t *old, json_t *new)
{
        if (!t->is_crd)
                return !json_equal(json_object_get(old, "spec"), json_object_get(new, "spec"));
        /* CRDs: every change outside metadata (and status when it is a subresource). */
        _cleanup_json_ json_t *a = json_deep_copy(old);
        _cleanup_json_ json_t *b = json_deep_copy(new);
        json_object_del(a, "metadata");
        json_object_del(b, "metadata");
        if (t->status_subresource) {
                json_object_del(a, "status");
                json_object_del(b, "status");
        }
        return !json_equal(a, b);
}

static bool namespace_usable(struct request *r, const char *ns, enum MHD_Result *ret)
{
        struct resource_type *nst = registry_find(r->s, "", "v1", "namespaces");
        json_t *n = db_get(r->s, nst, NULL, ns);
        if (!n) {
                *ret = respond(
                        r, 404,
                        status_for(404, "NotFound", nst, ns, "namespaces \"%s\" not found", ns));
                return false;
        }
        if (json_object_get(json_object_get(n, "metadata"), "deletionTimestamp")) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "unable to create new content in namespace %s because it is being "
                         "terminated",
                         ns);
                *ret = respond_status(r, 403, "Forbidden", msg);
                return false;
        }
        return true;
}

/* Type and namespace checks shared by create and update. */
static bool check_identity(struct request *r, json_t *obj, enum MHD_Result *ret)
{
        if (!json_is_object(obj)) {
                *ret = respond_status(r, 400, "BadRequest",
                                      "the request body is not a JSON or YAML object");
                return false;
        }
        _cleanup_free_ char *av = api_version_of(r->t);
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        const char *body_av = json_string_value(json_object_get(obj, "apiVersion"));
        if (kind && strcmp(kind, r->t->kind) != 0) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "%s in version \"%s\" cannot be handled as a %s: kind mismatch", kind,
                         r->t->version, r->t->kind);
                *ret = respond_status(r, 400, "BadRequest", msg);
                return false;
        }
        if (body_av && av && strcmp(body_av, av) != 0) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "the API version in the data (%s) does not match the expected API version "
                         "(%s)",
                         body_av, av);
                *ret = respond_status(r, 400, "BadRequest", msg);
                return false;
        }
        json_object_set_new(obj, "apiVersion", json_string(av ? av : ""));
        json_object_set_new(obj, "kind", json_string(r->t->kind));
        json_t *meta = ensure_object(obj, "metadata");
        if (r->t->namespaced) {
                const char *body_ns = json_string_value(json_object_get(meta, "namespace"));
                if (body_ns && r->ns && strcmp(body_ns, r->ns) != 0) {
                        *ret = respond_status(r, 400, "BadRequest",
                                              "the namespace of the provided object does not match "
                                              "the namespace sent on the request");
                        return false;
                }
                if (r->ns)
                        json_object_set_new(meta, "namespace", json_string(r->ns));
        } else {
                json_object_del(meta, "namespace");
        }
        return true;
}

static bool validate(struct request *r, json_t *obj, const char *name, enum MHD_Result *ret)
{
        json_t *causes = NULL, *warnings = NULL;
        const struct resource_type *schema_type = r->t;
        if (is_hpa_v1(r->t) && strcmp(json_string_value(json_object_get(obj, "apiVersion")) ?: "",
                                      "autoscaling/v2") == 0)
                schema_type = registry_find(r->s, "autoscaling", "v2", "horizontalpodautoscalers");
        if (is_events_v1(r->t) &&
            strcmp(json_string_value(json_object_get(obj, "apiVersion")) ?: "", "v1") == 0)
                schema_type = registry_find(r->s, "", "v1", "events");
        int v = schema_validate(r->s, schema_type, obj, field_validation(r), &causes, &warnings);
        json_array_extend(r->warnings, warnings);
        json_decref(warnings);
        if (v < 0) {
                *ret = respond_invalid(r, name, causes);
                return false;
        }
        json_decref(causes);
        return true;
}

static enum MHD_Result do_create(struct request *r, json_t *obj)
{
        enum MHD_Result ret;
        if (!check_identity(r, obj, &ret))
                return ret;
        json_t *meta = json_object_get(obj, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *gen = json_string_value(json_object_get(meta, "generateName"));
        if ((!name || !name[0]) && gen) {
                char buf[300];
                for (int attempt = 0; attempt < 8; attempt++) {
                        generate_name(gen, buf, sizeof(buf));
                        if (!db_get(r->s, r->t, r->ns, buf))
                                break;
                }
                json_object_set_new(meta, "name", json_string(buf));
                name = json_string_value(json_object_get(meta, "name"));
        }
        if (!name || !name[0]) {
                return respond_invalid(
                        r, "",
                        json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueRequired", "field",
                                  "metadata.name", "message",
                                  "Required value: name or generateName is required"));
        }
        /* Each kind's own name rule, with kube-apiserver's messages (names.c). */
        _cleanup_json_ json_t *problems = name_problems(r->t->group, r->t->plural, name);
        if (json_array_size(problems) > 0) {
                _cleanup_json_ json_t *quoted_value = json_string(name);
                _cleanup_free_ char *quoted =
                        quoted_value ? json_dumps(quoted_value, JSON_ENCODE_ANY) : NULL;
                json_t *causes = json_array();
                size_t i;
                json_t *problem;
                json_array_foreach (problems, i, problem) {
                        char *msg = NULL;
                        if (asprintf(&msg, "Invalid value: %s: %s", quoted ? quoted : "\"\"",
                                     json_string_value(problem)) < 0)
                                continue;
                        json_array_append_new(causes, json_pack("{s:s, s:s, s:s}", "reason",
                                                                "FieldValueInvalid", "field",
                                                                "metadata.name", "message", msg));
                        free(msg);
                }
                return respond_invalid(r, name, causes);
        }
        if (r->t->namespaced && !r->ns)
                return respond_status(
                        r, 405, "MethodNotAllowed",
                        "namespaced objects are created under /namespaces/NAMESPACE/");
        if (r->t->namespaced && !namespace_usable(r, r->ns, &ret))
                return ret;
        bool is_crd_kind = type_is(r->t, "apiextensions.k8s.io", "customresourcedefinitions");
        if (is_crd_kind) {
                json_t *causes = json_array();
                if (crd_prepare(obj, causes) < 0)
                        return respond_invalid(r, name, causes);
                json_decref(causes);
        }
        /* Status is the controllers' to write, except where the real API keeps it on create. */
        if (r->t->status_subresource && !type_is(r->t, "", "nodes") &&
            !type_is(r->t, "", "namespaces"))
                json_object_del(obj, "status");
        apply_builtin_defaults(r->s, r->t, obj);
        if (!validate(r, obj, name, &ret))
                return ret;
        if (db_get(r->s, r->t, r->ns, name)) {
                char qr[300];
                qualified_resource(r->t, qr, sizeof(qr));
                return respond(r, 409,
                               status_for(409, "AlreadyExists", r->t, name,
                                          "%s \"%s\" already exists", qr, name));
        }
        /* Server-owned metadata. */
        char uid[37], now[64];
        random_uuid(uid);
        now_rfc3339(now, sizeof(now));
        json_object_set_new(meta, "uid", json_string(uid));
        json_object_set_new(meta, "creationTimestamp", json_string(now));
        json_object_del(meta, "resourceVersion");
        json_object_del(meta, "deletionTimestamp");
        json_object_del(meta, "deletionGracePeriodSeconds");
        json_object_del(meta, "managedFields");
        if (r->t->has_generation || json_object_get(obj, "spec"))
                json_object_set_new(meta, "generation", json_integer(1));
        else
                json_object_del(meta, "generation");
        if (type_is(r->t, "", "pods"))
                json_object_set_new(
                        obj, "status",
                        json_pack("{s:s, s:s}", "phase", "Pending", "qosClass", "BestEffort"));
        if (is_crd_kind)
                crd_set_status(obj);
        if (is_hpa_v1(r->t))
                hpa_to_v2(obj, NULL);
        if (is_events_v1(r->t))
                event_rename(obj, false);
        if (dry_run(r))
                return respond(r, 201, for_output(r->t, obj));
        json_t *stored = json_deep_copy(obj);
        db_put(r->s, r->t, stored, true);
        if (is_crd_kind)
                registry_apply_crd(r->s, stored);
        return respond(r, 201, for_output(r->t, stored));
}

/*
 * Store new_obj as the next version of current.  sub: NULL, "status".
 * check_rv: refuse with 409 when new_obj names another resourceVersion.
 */
static enum MHD_Result do_update(struct request *r, json_t *current, json_t *new_obj, bool check_rv)
{
        enum MHD_Result ret;
        if (!check_identity(r, new_obj, &ret))
                return ret;
        json_t *meta = json_object_get(new_obj, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (name && strcmp(name, r->name) != 0) {
                char msg[600];
                snprintf(msg, sizeof(msg),
                         "the name of the object (%s) does not match the name on the URL (%s)",
                         name, r->name);
                return respond_status(r, 400, "BadRequest", msg);
        }
        if (is_hpa_v1(r->t) || is_events_v1(r->t)) {
                /* Validate what the client sent, then store it in the storage version. */
                if (!validate(r, new_obj, r->name, &ret))
                        return ret;
                if (is_hpa_v1(r->t))
                        hpa_to_v2(new_obj, current);
                else
                        event_rename(new_obj, false);
        }
        const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
        if (check_rv && rv && rv[0] && strtoull(rv, NULL, 10) != meta_rv(current)) {
                char qr[300];
                qualified_resource(r->t, qr, sizeof(qr));
                return respond(r, 409,
                               status_for(409, "Conflict", r->t, r->name,
                                          "Operation cannot be fulfilled on %s \"%s\": the object "
                                          "has been modified; please apply your changes to the "
                                          "latest version and try again",
                                          qr, r->name));
        }
        json_t *cur_meta = json_object_get(current, "metadata");
        _cleanup_json_ json_t *next = NULL;
        bool status_write = r->sub && strcmp(r->sub, "status") == 0;
        if (status_write) {
                /* /status: only status changes (and nothing else) are taken. */
                next = json_deep_copy(current);
                json_t *st = json_object_get(new_obj, "status");
                if (st)
                        json_object_set(next, "status", st);
                else
                        json_object_del(next, "status");
        } else {
                next = json_deep_copy(new_obj);
                if (r->t->status_subresource) {
                        json_t *st = json_object_get(current, "status");
                        if (st)
                                json_object_set(next, "status", st);
                        else
                                json_object_del(next, "status");
                }
                if (type_is(r->t, "", "nodes") || type_is(r->t, "", "namespaces")) {
                        /* kubelet-style clients may write Node status through the main endpoint. */
                        if (json_object_get(new_obj, "status") && type_is(r->t, "", "nodes"))
                                json_object_set(next, "status", json_object_get(new_obj, "status"));
                }
        }
        json_t *next_meta = ensure_object(next, "metadata");
        const char *keep[] = {"uid",
                              "creationTimestamp",
                              "deletionTimestamp",
                              "deletionGracePeriodSeconds",
                              "namespace",
                              "name",
                              "generation"};
        for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
                json_t *v = json_object_get(cur_meta, keep[i]);
                if (v)
                        json_object_set(next_meta, keep[i], v);
                else
                        json_object_del(next_meta, keep[i]);
        }
        json_object_del(next_meta, "managedFields");
        bool is_crd_kind = type_is(r->t, "apiextensions.k8s.io", "customresourcedefinitions");
        if (is_crd_kind && !status_write) {
                json_t *causes = json_array();
                if (crd_prepare(next, causes) < 0)
                        return respond_invalid(r, r->name, causes);
                json_decref(causes);
        }
        apply_builtin_defaults(r->s, r->t, next);
        if (!validate(r, next, r->name, &ret))
                return ret;
        if (spec_changed(r->t, current, next) && json_object_get(cur_meta, "generation"))
                json_object_set_new(
                        next_meta, "generation",
                        json_integer(json_integer_value(json_object_get(cur_meta, "generation")) +
                                     1));
        if (is_crd_kind)
                crd_set_status(next);
        json_object_set(next_meta, "resourceVersion", json_object_get(cur_meta, "resourceVersion"));
        if (json_equal(next, current) || dry_run(r))
                return respond(r, 200,
                               for_output(r->t, json_equal(next, current) ? current : next));
        json_t *stored = json_deep_copy(next);
        db_put(r->s, r->t, stored, false);
        if (is_crd_kind)
                registry_apply_crd(r->s, stored);
        json_t *out = for_output(r->t, stored);
        lifecycle_after_update(r->s, r->t, stored);
        return respond(r, 200, out);
}

/* autoscaling/v1 Scale view of a deployment or replica set. */
static json_t *scale_of(struct request *r, json_t *obj)
{
        json_t *meta = json_object_get(obj, "metadata");
        _cleanup_free_ char *selector = label_selector_json_to_string(
                json_object_get(json_object_get(obj, "spec"), "selector"));
        return json_pack(
                "{s:s, s:s, s:{s:O, s:O*, s:O, s:O, s:O}, s:{s:I}, s:{s:I, s:s}}", "kind", "Scale",
                "apiVersion", "autoscaling/v1", "metadata", "name", json_object_get(meta, "name"),
                "namespace", json_object_get(meta, "namespace"), "uid",
                json_object_get(meta, "uid"), "resourceVersion",
                json_object_get(meta, "resourceVersion"), "creationTimestamp",
                json_object_get(meta, "creationTimestamp"), "spec", "replicas",
                json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas")),
                "status", "replicas",
                json_integer_value(json_object_get(json_object_get(obj, "status"), "replicas")),
                "selector", selector ? selector : "");
}

static enum MHD_Result write_scale(struct request *r, json_t *current, json_t *scale)
{
        json_t *replicas = json_object_get(json_object_get(scale, "spec"), "replicas");
        if (!json_is_integer(replicas) || json_integer_value(replicas) < 0)
                return respond_invalid(r, r->name,
                                       json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueInvalid",
                                                 "field", "spec.replicas", "message",
                                                 "Invalid value: must be a non-negative integer"));
        const char *rv = meta_string(scale, "resourceVersion");
        if (rv && rv[0] && strtoull(rv, NULL, 10) != meta_rv(current)) {
                char qr[300];
                qualified_resource(r->t, qr, sizeof(qr));
                return respond(r, 409,
                               status_for(409, "Conflict", r->t, r->name,
                                          "Operation cannot be fulfilled on %s \"%s\": the object "
                                          "has been modified; please apply your changes to the "
                                          "latest version and try again",
                                          qr, r->name));
        }
        json_t *next = json_deep_copy(current);
        json_object_set(ensure_object(next, "spec"), "replicas", replicas);
        json_t *meta = json_object_get(next, "metadata");
        if (!json_equal(json_object_get(json_object_get(current, "spec"), "replicas"), replicas))
                json_object_set_new(
                        meta, "generation",
                        json_integer(json_integer_value(json_object_get(meta, "generation")) + 1));
        if (dry_run(r)) {
                json_t *out = scale_of(r, next);
                json_decref(next);
                return respond(r, 200, out);
        }
        db_put(r->s, r->t, next, false);
        return respond(r, 200, scale_of(r, next));
}

static bool content_type_is(struct request *r, const char *type)
{
        const char *ct = header(r, "Content-Type");
        return ct && strncmp(ct, type, strlen(type)) == 0;
}

static enum MHD_Result do_patch(struct request *r, json_t *current)
{
        _cleanup_json_ json_t *patch = parse_body(r);
        if (!patch)
                return respond_status(r, 400, "BadRequest", "the patch is not valid JSON or YAML");
        bool apply = content_type_is(r, "application/apply-patch");
        if (!current) {
                if (!apply || r->sub)
                        return not_found(r, r->name);
                /* Server-side apply of an absent object creates it. */
                json_t *obj = json_deep_copy(patch);
                enum MHD_Result ret = do_create(r, obj);
                json_decref(obj);
                return ret;
        }
        bool scale = r->sub && strcmp(r->sub, "scale") == 0;
        _cleanup_json_ json_t *base = scale ? scale_of(r, current) : for_output(r->t, current);
        _cleanup_json_ json_t *result = NULL;
        if (content_type_is(r, "application/json-patch+json")) {
                _cleanup_free_ char *error = NULL;
                if (patch_json(base, patch, &result, &error) < 0) {
                        return respond(r, 422,
                                       k8s_status_new(422, "Invalid",
                                                      error ? error : "json patch failed"));
                }
        } else if (content_type_is(r, "application/merge-patch+json")) {
                result = patch_merge(base, patch);
        } else if (content_type_is(r, "application/strategic-merge-patch+json")) {
                if (r->t->is_crd)
                        return respond_status(
                                r, 415, "UnsupportedMediaType",
                                "the body of the request was in an unknown format - accepted media "
                                "types include: application/json-patch+json, "
                                "application/merge-patch+json, application/apply-patch+yaml");
                result = patch_strategic(r->s, base, patch,
                                         scale ? "io.k8s.api.autoscaling.v1.Scale"
                                               : r->t->definition);
        } else if (apply) {
                /* Simplification: apply = merge of the applied configuration (no field ownership).
                 */
                if (r->t->is_crd || scale)
                        result = patch_merge(base, patch);
                else
                        result = patch_strategic(r->s, base, patch, r->t->definition);
        } else {
                return respond_status(
                        r, 415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json-patch+json, application/merge-patch+json, "
                        "application/apply-patch+yaml, application/strategic-merge-patch+json");
        }
        if (!result)
                return respond_status(r, 422, "Invalid", "patch produced no object");
        if (scale)
                return write_scale(r, current, result);
        /* A resourceVersion in the patch is a precondition; otherwise the patch applies to the
         * latest. */
        bool patch_has_rv =
                json_object_get(json_object_get(patch, "metadata"), "resourceVersion") != NULL;
        return do_update(r, current, result, patch_has_rv);
}

static enum MHD_Result do_get(struct request *r, json_t *current)
{
        if (r->sub && strcmp(r->sub, "scale") == 0)
                return respond(r, 200, scale_of(r, current));
        if (wants_table(r)) {
                json_t *items = json_pack("[o]", for_output(r->t, current));
                json_t *table = table_build(r->s, r->t, items, query(r, "includeObject"));
                json_decref(items);
                return respond(r, 200, table);
        }
        return respond(r, 200, for_output(r->t, current));
}

static json_t *delete_options(struct request *r)
{
        json_t *opts = parse_body(r);
        if (!json_is_object(opts)) {
                json_decref(opts);
                opts = json_object();
        }
        const char *policy = query(r, "propagationPolicy");
        if (policy)
                json_object_set_new(opts, "propagationPolicy", json_string(policy));
        const char *grace = query(r, "gracePeriodSeconds");
        if (grace)
                json_object_set_new(opts, "gracePeriodSeconds",
                                    json_integer(strtoll(grace, NULL, 10)));
        const char *orphan = query(r, "orphanDependents");
        if (orphan)
                json_object_set_new(opts, "orphanDependents",
                                    json_boolean(query_bool_value(orphan)));
        return opts;
}

static enum MHD_Result do_delete(struct request *r, json_t *current)
{
        _cleanup_json_ json_t *opts = delete_options(r);
        json_t *pre = json_object_get(opts, "preconditions");
        const char *pre_uid = json_string_value(json_object_get(pre, "uid"));
        const char *pre_rv = json_string_value(json_object_get(pre, "resourceVersion"));
        if ((pre_uid && strcmp(pre_uid, meta_string(current, "uid") ?: "") != 0) ||
            (pre_rv && strtoull(pre_rv, NULL, 10) != meta_rv(current))) {
                char qr[300];
                qualified_resource(r->t, qr, sizeof(qr));
                return respond(
                        r, 409,
                        status_for(
                                409, "Conflict", r->t, r->name,
                                "Operation cannot be fulfilled on %s \"%s\": Precondition failed",
                                qr, r->name));
        }
        json_t *obj = NULL;
        bool removed = false;
        int ret = lifecycle_delete(r->s, r->t, current, opts, dry_run(r), &obj, &removed);
        if (ret < 0)
                return respond_status(r, 500, "InternalError", "delete failed");
        /*
         * As kube-apiserver: a finished deletion answers with a Success Status naming the
         * object, except for pods (ReturnDeletedObject), which answer with the last state.
         */
        if (removed && !type_is(r->t, "", "pods")) {
                json_t *st = k8s_status_new(200, "", "");
                json_object_set_new(st, "details",
                                    json_pack("{s:s, s:s, s:s, s:s}", "name", r->name, "group",
                                              r->t->group, "kind", r->t->plural, "uid",
                                              meta_string(obj, "uid") ?: ""));
                json_decref(obj);
                return respond(r, 200, st);
        }
        json_t *out = for_output(r->t, obj);
        json_decref(obj);
        return respond(r, 200, out);
}

/* ---- list ---- */

struct list_filter {
        struct selector *labels;
        struct selector *fields;
};

static void filter_free(struct list_filter *f)
{
        sel_free(f->labels);
        sel_free(f->fields);
}

static bool parse_filter(struct request *r, struct list_filter *f, enum MHD_Result *ret)
{
        _cleanup_free_ char *error = NULL;
        if (sel_parse_labels(query(r, "labelSelector"), &f->labels, &error) < 0 ||
            sel_parse_fields(query(r, "fieldSelector"), &f->fields, &error) < 0) {
                *ret = respond_status(r, 400, "BadRequest", error ? error : "invalid selector");
                return false;
        }
        return true;
}

static bool matches(struct request *r, struct list_filter *f, json_t *obj)
{
        if (r->t->namespaced && r->ns) {
                const char *ns = meta_string(obj, "namespace");
                if (!ns || strcmp(ns, r->ns) != 0)
                        return false;
        }
        return sel_matches(f->labels, obj) && sel_matches(f->fields, obj);
}

static int compare_keys(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of a bucket (malloc'd array of borrowed key strings). */
static const char **sorted_keys(json_t *bucket, size_t *ret_n)
{
        size_t n = json_object_size(bucket);
        const char **keys = calloc(n + 1, sizeof(*keys));
        if (!keys)
                return NULL;
        size_t i = 0;
        const char *key;
        json_t *v;
        json_object_foreach (bucket, key, v) {
                keys[i++] = key;
        }
        qsort(keys, n, sizeof(*keys), compare_keys);
        *ret_n = n;
        return keys;
}

static enum MHD_Result do_list(struct request *r)
{
        enum MHD_Result ret;
        _cleanup_(filter_free) struct list_filter f = {0};
        if (!parse_filter(r, &f, &ret))
                return ret;
        const char *limit_s = query(r, "limit");
        long long limit = limit_s ? strtoll(limit_s, NULL, 10) : 0;
        const char *cont = query(r, "continue");
        _cleanup_free_ char *start_after = NULL;
        if (cont && cont[0]) {
                _cleanup_free_ char *decoded = base64_decode(cont);
                char *sep = decoded ? strchr(decoded, '|') : NULL;
                if (!sep)
                        return respond_status(r, 400, "BadRequest", "invalid continue token");
                *sep = '\0';
                uint64_t token_rv = strtoull(decoded, NULL, 10);
                if (token_rv < r->s->first_rv)
                        return respond(
                                r, 410,
                                k8s_status_new(
                                        410, "Expired",
                                        "The provided continue parameter is too old to display a "
                                        "consistent list result. You can start a new list without "
                                        "the continue parameter, or use the continue token in this "
                                        "response to retrieve the remainder of the results. "
                                        "Continuing with the provided token results in an "
                                        "inconsistent list - objects that were created, modified, "
                                        "or deleted between the time the first chunk was returned "
                                        "and now may show up in the list."));
                start_after = strdup(sep + 1);
        }
        json_t *bucket = db_bucket(r->s, r->t->storage_key);
        size_t n = 0;
        _cleanup_free_ const char **keys = sorted_keys(bucket, &n);
        if (!keys)
                return MHD_NO;
        json_t *items = json_array();
        char *next_key = NULL;
        for (size_t i = 0; i < n; i++) {
                if (start_after && strcmp(keys[i], start_after) <= 0)
                        continue;
                json_t *obj = json_object_get(bucket, keys[i]);
                if (!matches(r, &f, obj))
                        continue;
                if (limit > 0 && (long long)json_array_size(items) >= limit) {
                        next_key = (char *)keys[i - 1 < i ? i - 1 : i];
                        break;
                }
                json_array_append_new(items, for_output(r->t, obj));
        }
        char rv[32];
        snprintf(rv, sizeof(rv), "%" PRIu64, r->s->rv);
        json_t *meta = json_pack("{s:s}", "resourceVersion", rv);
        if (next_key) {
                /* The token: the list's RV and the last key returned. */
                json_t *last = json_array_get(items, json_array_size(items) - 1);
                _cleanup_free_ char *last_key =
                        db_object_key(r->t->namespaced ? meta_string(last, "namespace") : NULL,
                                      meta_string(last, "name"));
                _cleanup_free_ char *raw = NULL;
                if (last_key && asprintf(&raw, "%s|%s", rv, last_key) >= 0) {
                        _cleanup_free_ char *token =
                                base64_encode((unsigned char *)raw, strlen(raw));
                        json_object_set_new(meta, "continue", json_string(token ? token : ""));
                }
        }
        if (wants_table(r)) {
                json_t *table = table_build(r->s, r->t, items, query(r, "includeObject"));
                json_object_set(table, "metadata", meta);
                json_decref(meta);
                json_decref(items);
                return respond(r, 200, table);
        }
        _cleanup_free_ char *av = api_version_of(r->t);
        return respond(r, 200,
                       json_pack("{s:s, s:s, s:o, s:o}", "kind", r->t->list_kind, "apiVersion",
                                 av ? av : "", "metadata", meta, "items", items));
}

static enum MHD_Result do_delete_collection(struct request *r)
{
        enum MHD_Result ret;
        _cleanup_(filter_free) struct list_filter f = {0};
        if (!parse_filter(r, &f, &ret))
                return ret;
        _cleanup_json_ json_t *opts = delete_options(r);
        json_t *bucket = db_bucket(r->s, r->t->storage_key);
        json_t *victims = json_array();
        const char *key;
        json_t *obj;
        json_object_foreach (bucket, key, obj) {
                if (matches(r, &f, obj))
                        json_array_append(victims, obj);
        }
        json_t *items = json_array();
        size_t i;
        json_array_foreach (victims, i, obj) {
                json_t *after = NULL;
                bool removed = false;
                if (lifecycle_delete(r->s, r->t, obj, opts, dry_run(r), &after, &removed) == 0) {
                        json_array_append_new(items, for_output(r->t, after));
                        json_decref(after);
                }
        }
        json_decref(victims);
        _cleanup_free_ char *av = api_version_of(r->t);
        return respond(r, 200,
                       json_pack("{s:s, s:s, s:{}, s:o}", "kind", r->t->list_kind, "apiVersion",
                                 av ? av : "", "metadata", "items", items));
}

static enum MHD_Result do_evict(struct request *r, json_t *pod)
{
        _cleanup_json_ json_t *eviction = parse_body(r);
        _cleanup_free_ char *message = NULL;
        if (lifecycle_eviction_allowed(r->s, pod, &message) < 0) {
                json_t *st = k8s_status_new(
                        429, "TooManyRequests",
                        "Cannot evict pod as it would violate the pod's disruption budget.");
                json_object_set_new(st, "details",
                                    json_pack("{s:[{s:s, s:s}]}", "causes", "reason",
                                              "DisruptionBudget", "message",
                                              message ? message : ""));
                return respond(r, 429, st);
        }
        json_t *opts = json_object_get(eviction, "deleteOptions");
        json_t *after = NULL;
        bool removed = false;
        lifecycle_delete(r->s, r->t, pod, opts, dry_run(r), &after, &removed);
        json_decref(after);
        return respond(r, 201, k8s_status_new(201, "", ""));
}

/*
 * POST serviceaccounts/NAME/token (authentication.k8s.io/v1 TokenRequest):
 * what the kubelet (and `kubectl create token`) call for a ServiceAccount
 * token.  spec.expirationSeconds defaults to 3600 and must be at least 600;
 * spec.boundObjectRef may bind the token to a Pod (kind Pod, name, uid).
 */
static enum MHD_Result do_token_request(struct request *r, json_t *service_account)
{
        _cleanup_json_ json_t *body = parse_body(r);
        if (!body)
                body = json_object();
        if (!body || !json_is_object(body))
                return respond_status(r, 400, "BadRequest",
                                      "the request body is not a TokenRequest");
        json_t *spec = json_object_get(body, "spec");
        const json_t *expiration = json_object_get(spec, "expirationSeconds");
        int64_t seconds = json_is_integer(expiration) ? json_integer_value(expiration) : 3600;
        json_t *causes = json_array();
        if (seconds < 600)
                json_array_append_new(causes,
                                      json_pack("{s:s, s:s, s:s}", "reason", "FieldValueInvalid",
                                                "field", "spec.expirationSeconds", "message",
                                                "may not specify a duration less than 10 minutes"));
        if (seconds > (int64_t)1 << 32)
                json_array_append_new(
                        causes, json_pack("{s:s, s:s, s:s}", "reason", "FieldValueInvalid", "field",
                                          "spec.expirationSeconds", "message",
                                          "may not specify a duration larger than 2^32 seconds"));
        const json_t *bound = json_object_get(spec, "boundObjectRef");
        const char *bound_kind = json_string_value(json_object_get(bound, "kind"));
        json_t *pod = NULL;
        if (bound) {
                const char *bound_name = json_string_value(json_object_get(bound, "name"));
                const char *bound_uid = json_string_value(json_object_get(bound, "uid"));
                struct resource_type *pods = registry_find(r->s, "", "v1", "pods");
                pod = bound_kind && strcmp(bound_kind, "Pod") == 0 && bound_name && pods
                              ? db_get(r->s, pods, r->ns, bound_name)
                              : NULL;
                if (!bound_kind || strcmp(bound_kind, "Pod") != 0)
                        json_array_append_new(causes,
                                              json_pack("{s:s, s:s, s:s}", "reason",
                                                        "FieldValueNotSupported", "field",
                                                        "spec.boundObjectRef.kind", "message",
                                                        "fakekube binds tokens to Pods only"));
                else if (!pod)
                        return respond(r, 404,
                                       status_for(404, "NotFound", pods, bound_name,
                                                  "pods \"%s\" not found",
                                                  bound_name ? bound_name : ""));
                else if (bound_uid && bound_uid[0] &&
                         strcmp(bound_uid, meta_string(pod, "uid") ?: "") != 0)
                        return respond_status(r, 409, "Conflict",
                                              "the UID in the bound object reference does not "
                                              "match the pod's");
        }
        if (json_array_size(causes) > 0)
                return respond_invalid(r, r->name, causes);
        json_decref(causes);
        const json_t *audiences = json_object_get(spec, "audiences");
        _cleanup_free_ char *token = NULL;
        int64_t expires = 0;
        if (sa_token_issue(r->s, service_account, audiences, seconds, pod, &token, &expires) < 0)
                return respond_status(r, 500, "InternalError", "cannot issue a token");
        char now[32], expires_text[32];
        now_rfc3339(now, sizeof(now));
        clock_format_rfc3339((time_t)expires, expires_text, sizeof(expires_text));
        json_t *out_spec =
                json_pack("{s:o, s:I}", "audiences",
                          json_array_size(audiences) > 0 ? json_deep_copy(audiences)
                                                         : json_pack("[s]", SA_TOKEN_AUDIENCE),
                          "expirationSeconds", (json_int_t)seconds);
        if (bound)
                json_object_set(out_spec, "boundObjectRef", (json_t *)bound);
        return respond(r, 201,
                       json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:o, s:{s:s, s:s}}", "kind",
                                 "TokenRequest", "apiVersion", "authentication.k8s.io/v1",
                                 "metadata", "name", r->name, "namespace", r->ns ? r->ns : "",
                                 "creationTimestamp", now, "spec", out_spec, "status", "token",
                                 token, "expirationTimestamp", expires_text));
}

/* POST pods/NAME/binding: what the scheduler uses to set spec.nodeName. */
static enum MHD_Result do_bind(struct request *r, json_t *pod)
{
        _cleanup_json_ json_t *binding = parse_body(r);
        const char *node =
                json_string_value(json_object_get(json_object_get(binding, "target"), "name"));
        if (!node || !node[0])
                return respond_invalid(r, r->name,
                                       json_pack("[{s:s, s:s, s:s}]", "reason",
                                                 "FieldValueRequired", "field", "target.name",
                                                 "message", "Required value"));
        const char *have =
                json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
        if (have && have[0]) {
                char msg[512];
                snprintf(msg, sizeof(msg), "pod %s is already assigned to node \"%s\"", r->name,
                         have);
                return respond(r, 409, status_for(409, "Conflict", r->t, r->name, "%s", msg));
        }
        if (dry_run(r))
                return respond(r, 201, k8s_status_new(201, "", ""));
        json_t *next = json_deep_copy(pod);
        json_object_set_new(ensure_object(next, "spec"), "nodeName", json_string(node));
        db_put(r->s, r->t, next, false);
        return respond(r, 201, k8s_status_new(201, "", ""));
}

/* ---- pods/log: the process pods' log files the controllers write ---- */

struct log_stream {
        struct server *s;
        FILE *file;
        char *ns, *name, *uid;
        int fd;
        bool follow;
        int64_t deadline_ms;
};

static void log_stream_free(void *cls)
{
        struct log_stream *l = cls;
        if (!l)
                return;
        if (l->file)
                fclose(l->file);
        free(l->ns);
        free(l->name);
        free(l->uid);
        free(l);
}

static bool client_gone(int fd);

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct log_stream *l = cls;
        for (;;) {
                size_t n = l->file ? fread(buf, 1, max, l->file) : 0;
                if (n > 0)
                        return (ssize_t)n;
                if (!l->follow || clock_monotonic_ms() >= l->deadline_ms || client_gone(l->fd))
                        return MHD_CONTENT_READER_END_OF_STREAM;
                /* Following: the stream ends when the pod is gone (or replaced). */
                pthread_mutex_lock(&l->s->lock);
                struct resource_type *t = registry_find(l->s, "", "v1", "pods");
                json_t *pod = db_get(l->s, t, l->ns, l->name);
                bool alive = pod && strcmp(meta_string(pod, "uid") ?: "", l->uid) == 0 &&
                             !l->s->shutting_down;
                pthread_mutex_unlock(&l->s->lock);
                if (!alive)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (l->file)
                        clearerr(l->file);
                struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000000};
                nanosleep(&ts, NULL);
        }
}

static enum MHD_Result do_log(struct request *r, json_t *pod)
{
        const char *container = query(r, "container");
        json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
        if (!container) {
                if (json_array_size(containers) != 1) {
                        char msg[512];
                        snprintf(msg, sizeof(msg),
                                 "a container name must be specified for pod %s, choose one of: "
                                 "[...]",
                                 r->name);
                        return respond_status(r, 400, "BadRequest", msg);
                }
                container =
                        json_string_value(json_object_get(json_array_get(containers, 0), "name"));
        }
        bool known = false;
        size_t i;
        json_t *c;
        json_array_foreach (containers, i, c) {
                if (strcmp(json_string_value(json_object_get(c, "name")) ?: "", container ?: "") ==
                    0)
                        known = true;
        }
        if (!known || !container) {
                char msg[512];
                snprintf(msg, sizeof(msg), "container %s is not valid for pod %s",
                         container ? container : "", r->name);
                return respond_status(r, 400, "BadRequest", msg);
        }
        struct log_stream *l = calloc(1, sizeof(*l));
        if (!l)
                return MHD_NO;
        l->s = r->s;
        l->ns = strdup(r->ns ? r->ns : "");
        l->name = strdup(r->name);
        l->uid = strdup(meta_string(pod, "uid") ?: "");
        l->follow = query_true(r, "follow");
        l->deadline_ms = clock_monotonic_ms() + 3600 * 1000;
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        l->fd = ci ? ci->connect_fd : -1;
        if (r->s->options.state_dir) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/pods/%s_%s_%s/%s.log", r->s->options.state_dir,
                         l->ns, l->name, l->uid, container);
                l->file = fopen(path, "re");
        }
        /* tailLines: start at the Nth line from the end (files are small test logs). */
        const char *tail = query(r, "tailLines");
        if (l->file && tail) {
                long want = strtol(tail, NULL, 10);
                fseek(l->file, 0, SEEK_END);
                long size = ftell(l->file), off = size;
                long lines = 0;
                while (off > 0 && want >= 0) {
                        fseek(l->file, off - 1, SEEK_SET);
                        int ch = fgetc(l->file);
                        if (ch == '\n' && off != size && ++lines > want - 1)
                                break;
                        off--;
                }
                if (want <= 0)
                        off = size;
                fseek(l->file, off, SEEK_SET);
        }
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                      log_read, l, log_stream_free);
        if (!resp) {
                log_stream_free(l);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain");
        enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ---- watch ---- */

struct watch {
        struct server *s;
        struct resource_type *t;
        char *ns;
        struct list_filter filter;
        bool table;
        bool bookmarks;
        char *include_object;
        uint64_t last_rv;
        int64_t deadline_ms;
        int64_t next_bookmark_ms;
        int fd;
        bool done;
        char *pending;
        size_t pending_len, pending_off;
};

static void watch_free(void *cls)
{
        struct watch *w = cls;
        if (!w)
                return;
        free(w->ns);
        filter_free(&w->filter);
        free(w->include_object);
        free(w->pending);
        free(w);
}

static void watch_append(struct watch *w, const char *text)
{
        size_t len = strlen(text);
        char *n = realloc(w->pending, w->pending_len + len + 2);
        if (!n)
                return;
        w->pending = n;
        memcpy(w->pending + w->pending_len, text, len);
        w->pending_len += len;
        w->pending[w->pending_len++] = '\n';
        w->pending[w->pending_len] = '\0';
}

static void watch_event(struct watch *w, const char *type, json_t *obj)
{
        json_t *payload;
        if (w->table) {
                json_t *items = json_pack("[o]", for_output(w->t, obj));
                payload = table_build(w->s, w->t, items, w->include_object);
                json_decref(items);
        } else {
                payload = for_output(w->t, obj);
        }
        json_t *ev = json_pack("{s:s, s:o}", "type", type, "object", payload);
        char *text = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (text)
                watch_append(w, text);
        free(text);
}

static void watch_bookmark(struct watch *w, bool initial_end)
{
        char rv[32];
        snprintf(rv, sizeof(rv), "%" PRIu64, w->last_rv);
        _cleanup_free_ char *av = registry_api_version(w->t);
        json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "kind", w->t->kind, "apiVersion",
                                av ? av : "", "metadata", "resourceVersion", rv);
        if (initial_end)
                json_object_set_new(json_object_get(obj, "metadata"), "annotations",
                                    json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
        json_t *ev = json_pack("{s:s, s:o}", "type", "BOOKMARK", "object", obj);
        char *text = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (text)
                watch_append(w, text);
        free(text);
}

static void watch_gone(struct watch *w, uint64_t asked)
{
        char msg[128];
        snprintf(msg, sizeof(msg), "too old resource version: %" PRIu64 " (%" PRIu64 ")", asked,
                 w->s->first_rv + 1);
        json_t *ev = json_pack("{s:s, s:o}", "type", "ERROR", "object",
                               k8s_status_new(410, "Expired", msg));
        char *text = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (text)
                watch_append(w, text);
        free(text);
        w->done = true;
}

static bool watch_matches(struct watch *w, json_t *obj)
{
        if (w->t->namespaced && w->ns) {
                const char *ns = meta_string(obj, "namespace");
                if (!ns || strcmp(ns, w->ns) != 0)
                        return false;
        }
        return sel_matches(w->filter.labels, obj) && sel_matches(w->filter.fields, obj);
}

/* Index in the ring of the first event with rv > after (ring_count if none). */
static size_t ring_first_after(struct server *s, uint64_t after)
{
        size_t lo = 0, hi = s->ring_count;
        size_t cap = s->options.watch_window;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (s->ring[(s->ring_head + mid) % cap].rv <= after)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static bool client_gone(int fd)
{
        if (fd < 0)
                return false;
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct watch *w = cls;
        struct server *s = w->s;
        for (;;) {
                if (w->pending_off < w->pending_len) {
                        size_t n = w->pending_len - w->pending_off;
                        if (n > max)
                                n = max;
                        memcpy(buf, w->pending + w->pending_off, n);
                        w->pending_off += n;
                        if (w->pending_off == w->pending_len)
                                w->pending_off = w->pending_len = 0;
                        return (ssize_t)n;
                }
                if (w->done)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                pthread_mutex_lock(&s->lock);
                for (;;) {
                        int64_t now = clock_monotonic_ms();
                        if (s->shutting_down || now >= w->deadline_ms) {
                                w->done = true;
                                break;
                        }
                        if (w->last_rv < s->first_rv) {
                                watch_gone(w, w->last_rv);
                                break;
                        }
                        size_t cap = s->options.watch_window;
                        for (size_t i = ring_first_after(s, w->last_rv); i < s->ring_count; i++) {
                                struct event *e = &s->ring[(s->ring_head + i) % cap];
                                w->last_rv = e->rv;
                                if (strcmp(e->storage_key, w->t->storage_key) != 0)
                                        continue;
                                /*
                                 * Selector transitions as kube-apiserver reports them: an
                                 * object that starts matching is ADDED, one that stops
                                 * matching is DELETED.
                                 */
                                bool matches_now = watch_matches(w, e->object);
                                bool was = e->previous && watch_matches(w, e->previous);
                                const char *type = e->type;
                                if (strcmp(type, "MODIFIED") == 0) {
                                        if (matches_now && !was)
                                                type = "ADDED";
                                        else if (!matches_now && was)
                                                type = "DELETED";
                                        else if (!matches_now)
                                                continue;
                                } else if (!matches_now) {
                                        continue;
                                }
                                watch_event(w, type, e->object);
                        }
                        if (w->pending_len)
                                break;
                        if (w->bookmarks && now >= w->next_bookmark_ms) {
                                w->last_rv = s->rv;
                                watch_bookmark(w, false);
                                w->next_bookmark_ms = now + s->options.bookmark_interval_ms;
                                break;
                        }
                        if (client_gone(w->fd)) {
                                w->done = true;
                                break;
                        }
                        /* Wake at least every second to notice a client that went away. */
                        int64_t wake = now + 1000;
                        if (w->deadline_ms < wake)
                                wake = w->deadline_ms;
                        if (w->bookmarks && w->next_bookmark_ms < wake)
                                wake = w->next_bookmark_ms;
                        int64_t real = clock_realtime_ms() + (wake - now);
                        struct timespec ts = {.tv_sec = real / 1000,
                                              .tv_nsec = (real % 1000) * 1000000};
                        pthread_cond_timedwait(&s->changed, &s->lock, &ts);
                }
                pthread_mutex_unlock(&s->lock);
        }
}

static enum MHD_Result do_watch(struct request *r)
{
        enum MHD_Result ret;
        struct watch *w = calloc(1, sizeof(*w));
        if (!w)
                return MHD_NO;
        w->s = r->s;
        w->t = r->t;
        w->ns = r->ns ? strdup(r->ns) : NULL;
        if (!parse_filter(r, &w->filter, &ret)) {
                watch_free(w);
                return ret;
        }
        w->table = wants_table(r);
        const char *inc = query(r, "includeObject");
        w->include_object = inc ? strdup(inc) : NULL;
        w->bookmarks = query_true(r, "allowWatchBookmarks");
        const char *timeout = query(r, "timeoutSeconds");
        int64_t now = clock_monotonic_ms();
        w->deadline_ms = now + (timeout ? strtoll(timeout, NULL, 10) : 1800) * 1000;
        w->next_bookmark_ms = now + r->s->options.bookmark_interval_ms;
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w->fd = ci ? ci->connect_fd : -1;
        const char *rv = query(r, "resourceVersion");
        bool initial = query_true(r, "sendInitialEvents");
        if (!rv || !rv[0] || strcmp(rv, "0") == 0 || initial) {
                /* No version: synthetic ADDED events for what exists, then changes. */
                json_t *bucket = db_bucket(r->s, r->t->storage_key);
                size_t n = 0;
                _cleanup_free_ const char **keys = sorted_keys(bucket, &n);
                for (size_t i = 0; keys && i < n; i++) {
                        json_t *obj = json_object_get(bucket, keys[i]);
                        if (watch_matches(w, obj))
                                watch_event(w, "ADDED", obj);
                }
                w->last_rv = r->s->rv;
                if (initial && w->bookmarks)
                        watch_bookmark(w, true);
        } else {
                w->last_rv = strtoull(rv, NULL, 10);
                if (w->last_rv < r->s->first_rv)
                        watch_gone(w, w->last_rv);
        }
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                                      watch_read, w, watch_free);
        if (!resp) {
                watch_free(w);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
        ret = MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ---- routing ---- */

static enum MHD_Result handle_resource(struct request *r, char **segs, size_t n)
{
        struct server *s = r->s;
        const char *group = "", *version;
        size_t i = 0;
        if (strcmp(segs[0], "api") == 0) {
                version = segs[1];
                i = 2;
        } else {
                group = segs[1];
                version = segs[2];
                i = 3;
        }
        const char *plural = NULL;
        if (n - i >= 3 && strcmp(segs[i], "namespaces") == 0) {
                struct resource_type *t = registry_find(s, group, version, segs[i + 2]);
                if (t && t->namespaced) {
                        r->ns = segs[i + 1];
                        plural = segs[i + 2];
                        r->t = t;
                        i += 3;
                }
        }
        if (!r->t) {
                plural = segs[i];
                r->t = registry_find(s, group, version, plural);
                i++;
        }
        if (!r->t) {
                return respond(r, 404,
                               k8s_status_new(404, "NotFound",
                                              "the server could not find the requested resource"));
        }
        if (i < n)
                r->name = segs[i++];
        if (i < n)
                r->sub = segs[i++];
        /* A name in the path must be a valid path segment (genericregistry's NamespaceKeyFunc). */
        _cleanup_json_ json_t *segment_problems = r->name ? path_segment_problems(r->name) : NULL;
        if (json_array_size(segment_problems) > 0) {
                _cleanup_json_ json_t *quoted_value = json_string(r->name);
                _cleanup_free_ char *quoted =
                        quoted_value ? json_dumps(quoted_value, JSON_ENCODE_ANY) : NULL;
                char msg[600];
                int o = snprintf(msg, sizeof(msg),
                                 "Name parameter invalid: %s: ", quoted ? quoted : "\"\"");
                size_t k;
                json_t *problem;
                json_array_foreach (segment_problems, k, problem)
                        if (o >= 0 && (size_t)o < sizeof(msg))
                                o += snprintf(msg + o, sizeof(msg) - (size_t)o, "%s%s",
                                              k ? ";" : "", json_string_value(problem));
                return respond_status(r, 400, "BadRequest", msg);
        }
        if (i < n)
                return respond_status(r, 404, "NotFound",
                                      "the server could not find the requested resource");
        const char *m = r->method;
        if (!r->name) {
                if (strcmp(m, "GET") == 0)
                        return query_true(r, "watch") ? do_watch(r) : do_list(r);
                if (strcmp(m, "POST") == 0) {
                        _cleanup_json_ json_t *obj = parse_body(r);
                        if (!obj)
                                return respond_status(r, 400, "BadRequest",
                                                      "the request body is not valid JSON or YAML");
                        return do_create(r, obj);
                }
                if (strcmp(m, "DELETE") == 0)
                        return do_delete_collection(r);
                return respond_status(
                        r, 405, "MethodNotAllowed",
                        "the server does not allow this method on the requested resource");
        }
        if (r->sub) {
                bool ok = (strcmp(r->sub, "status") == 0 && r->t->status_subresource) ||
                          (strcmp(r->sub, "scale") == 0 && r->t->scale_subresource) ||
                          (strcmp(r->sub, "eviction") == 0 && r->t->eviction_subresource) ||
                          (strcmp(r->sub, "binding") == 0 && r->t->eviction_subresource) ||
                          (strcmp(r->sub, "log") == 0 && r->t->eviction_subresource) ||
                          (strcmp(r->sub, "finalize") == 0 && type_is(r->t, "", "namespaces")) ||
                          (strcmp(r->sub, "token") == 0 && type_is(r->t, "", "serviceaccounts"));
                if (!ok)
                        return respond_status(r, 404, "NotFound",
                                              "the server could not find the requested resource");
        }
        json_t *current = db_get(s, r->t, r->ns, r->name);
        if (strcmp(m, "PATCH") == 0)
                return do_patch(r, current);
        if (!current) {
                if (strcmp(m, "PUT") == 0 && !r->sub &&
                    type_is(r->t, "coordination.k8s.io", "leases")) {
                        _cleanup_json_ json_t *obj = parse_body(r);
                        return obj ? do_create(r, obj)
                                   : respond_status(r, 400, "BadRequest", "bad body");
                }
                return not_found(r, r->name);
        }
        if (r->sub && strcmp(r->sub, "log") == 0) {
                if (strcmp(m, "GET") != 0)
                        return respond_status(r, 405, "MethodNotAllowed", "log only supports GET");
                return do_log(r, current);
        }
        if (r->sub && strcmp(r->sub, "token") == 0) {
                if (strcmp(m, "POST") != 0)
                        return respond_status(r, 405, "MethodNotAllowed",
                                              "token only supports POST");
                return do_token_request(r, current);
        }
        if (r->sub && strcmp(r->sub, "binding") == 0) {
                if (strcmp(m, "POST") != 0)
                        return respond_status(r, 405, "MethodNotAllowed",
                                              "binding only supports POST");
                return do_bind(r, current);
        }
        if (r->sub && strcmp(r->sub, "eviction") == 0) {
                if (strcmp(m, "POST") != 0)
                        return respond_status(r, 405, "MethodNotAllowed",
                                              "eviction only supports POST");
                return do_evict(r, current);
        }
        if (strcmp(m, "GET") == 0)
                return do_get(r, current);
        if (strcmp(m, "PUT") == 0) {
                _cleanup_json_ json_t *obj = parse_body(r);
                if (!obj)
                        return respond_status(r, 400, "BadRequest",
                                              "the request body is not valid JSON or YAML");
                if (r->sub && strcmp(r->sub, "scale") == 0)
                        return write_scale(r, current, obj);
                if (r->sub && strcmp(r->sub, "finalize") == 0)
                        r->sub = NULL;
                return do_update(r, current, obj, true);
        }
        if (strcmp(m, "DELETE") == 0 && !r->sub)
                return do_delete(r, current);
        return respond_status(r, 405, "MethodNotAllowed",
                              "the server does not allow this method on the requested resource");
}

static enum MHD_Result route(struct request *r, const char *url)
{
        struct server *s = r->s;
        if (strcmp(url, "/version") == 0)
                return respond(r, 200,
                               json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major",
                                         "1", "minor", "36", "gitVersion", "v1.36.0-fakekube",
                                         "gitCommit", "0000000000000000000000000000000000000000",
                                         "gitTreeState", "clean", "buildDate",
                                         "2026-01-01T00:00:00Z", "goVersion", "go1.25", "compiler",
                                         "gc", "platform", "linux/amd64"));
        if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
            strcmp(url, "/livez") == 0)
                return respond_text(r, 200, strdup("ok"), "text/plain");
        if (strcmp(url, "/openapi/v2") == 0)
                return respond_text(r, 200, strdup(s->openapi_v2_text), "application/json");
        if (strcmp(url, "/openapi/v3") == 0)
                return respond(r, 200, schema_openapi_v3_index(s));
        if (strncmp(url, "/openapi/v3/", 12) == 0) {
                const char *rest = url + 12;
                json_t *doc = NULL;
                char group[256] = "", version[64] = "";
                if (sscanf(rest, "api/%63[^/]", version) == 1)
                        doc = schema_openapi_v3_doc(s, "", version);
                else if (sscanf(rest, "apis/%255[^/]/%63[^/]", group, version) == 2)
                        doc = schema_openapi_v3_doc(s, group, version);
                if (!doc)
                        return respond_status(r, 404, "NotFound",
                                              "the server could not find the requested resource");
                return respond(r, 200, doc);
        }
        /* Split the path into segments. */
        _cleanup_free_ char *copy = strdup(url);
        if (!copy)
                return MHD_NO;
        char *segs[16];
        size_t n = 0;
        char *save = NULL;
        for (char *p = strtok_r(copy, "/", &save); p && n < ARRAY_SIZE(segs);
             p = strtok_r(NULL, "/", &save))
                segs[n++] = p;
        if (n == 1 && strcmp(segs[0], "api") == 0)
                return respond(r, 200, registry_api_versions(s));
        if (n == 1 && strcmp(segs[0], "apis") == 0)
                return respond(r, 200, registry_group_list(s));
        if (n == 2 && strcmp(segs[0], "api") == 0) {
                json_t *l = registry_resource_list(s, "", segs[1]);
                return l ? respond(r, 200, l)
                         : respond_status(r, 404, "NotFound",
                                          "the server could not find the requested resource");
        }
        if (n == 2 && strcmp(segs[0], "apis") == 0) {
                json_t *g = registry_group(s, segs[1]);
                return g ? respond(r, 200, g)
                         : respond_status(r, 404, "NotFound",
                                          "the server could not find the requested resource");
        }
        if (n == 3 && strcmp(segs[0], "apis") == 0) {
                json_t *l = registry_resource_list(s, segs[1], segs[2]);
                return l ? respond(r, 200, l)
                         : respond_status(r, 404, "NotFound",
                                          "the server could not find the requested resource");
        }
        if ((n >= 3 && strcmp(segs[0], "api") == 0) || (n >= 4 && strcmp(segs[0], "apis") == 0))
                return handle_resource(r, segs, n);
        return respond_status(r, 404, "NotFound",
                              "the server could not find the requested resource");
}

static bool authorized(struct server *s, struct MHD_Connection *conn, const char *url)
{
        if (strcmp(url, "/version") == 0 || strcmp(url, "/healthz") == 0 ||
            strcmp(url, "/readyz") == 0 || strcmp(url, "/livez") == 0)
                return true;
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        /* kubectl never sends a bearer token over plain HTTP: --plain-http trusts loopback. */
        if (s->options.plain_http && !auth)
                return true;
        if (!auth || strncmp(auth, "Bearer ", 7) != 0)
                return false;
        const char *given = auth + 7;
        size_t a = strlen(given), b = strlen(s->token);
        /* Constant-time compare of equal-length tokens. */
        unsigned char diff = (unsigned char)(a != b);
        for (size_t i = 0; i < a && i < b; i++)
                diff |= (unsigned char)(given[i] ^ s->token[i]);
        if (diff == 0)
                return true;
        /* A ServiceAccount token (TokenRequest): authenticated, never authorized further (no
         * RBAC). */
        if (!sa_token_looks_like_jwt(given))
                return false;
        pthread_mutex_lock(&s->lock);
        bool ok = sa_token_verify(s, given, NULL) == 0;
        pthread_mutex_unlock(&s->lock);
        return ok;
}

enum MHD_Result http_handle(void *cls, struct MHD_Connection *connection, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
        struct server *s = cls;
        struct upload *up = *con_cls;
        if (!up) {
                up = calloc(1, sizeof(*up));
                if (!up)
                        return MHD_NO;
                *con_cls = up;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (up->len + *upload_data_size > MAX_BODY) {
                        up->too_large = true;
                } else {
                        char *n = realloc(up->body, up->len + *upload_data_size + 1);
                        if (!n)
                                return MHD_NO;
                        up->body = n;
                        memcpy(up->body + up->len, upload_data, *upload_data_size);
                        up->len += *upload_data_size;
                        up->body[up->len] = '\0';
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        struct request r = {
                .s = s,
                .conn = connection,
                .method = method,
                .url = url,
                .body = up->body,
                .body_len = up->len,
                .warnings = json_array(),
        };
        enum MHD_Result ret;
        if (!authorized(s, connection, url)) {
                ret = respond(&r, 401, k8s_status_new(401, "Unauthorized", "Unauthorized"));
        } else if (up->too_large) {
                ret = respond_status(&r, 413, "RequestEntityTooLarge",
                                     "the request body is too large");
        } else {
                pthread_mutex_lock(&s->lock);
                ret = route(&r, url);
                pthread_mutex_unlock(&s->lock);
        }
        if (log_enabled(LOG_LEVEL_DEBUG))
                log_emit(LOG_LEVEL_DEBUG, json_pack("{s:s, s:s}", "method", method, "path", url),
                         "request");
        json_decref(r.warnings);
        return ret;
}

void http_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
        struct upload *up = *con_cls;
        if (up) {
                free(up->body);
                free(up);
                *con_cls = NULL;
        }
}
