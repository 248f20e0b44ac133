/* SPDX-License-Identifier: Apache-2.0 */
/* Writes to the API server on behalf of the controllers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"
#include "log.h"
#include "macros.h"
#include "objects.h"

void object_path(enum kind kind, const char *namespace_, const char *name, const char *subresource,
                 char *buf, size_t size)
{
        int n;
        if (kind_namespaced(kind) && namespace_)
                n = snprintf(buf, size, "%s/namespaces/%s/%s", kind_group_path(kind), namespace_,
                             kind_plural(kind));
        else
                n = snprintf(buf, size, "%s/%s", kind_group_path(kind), kind_plural(kind));
        if (name && n >= 0 && (size_t)n < size)
                n += snprintf(buf + n, size - (size_t)n, "/%s", name);
        if (subresource && n >= 0 && (size_t)n < size)
                snprintf(buf + n, size - (size_t)n, "/%s", subresource);
}

/* An unexpected answer is logged once here, with the server's Status message. */
static int checked(const char *method, const char *path, long status, const json_t *body)
{
        int r = api_status_from_http(status);
        if (r == -EPROTO || r == -EOPNOTSUPP)
                log_emit(LOG_LEVEL_WARN,
                         json_pack("{ss ss sI ss*}", "method", method, "path", path, "status",
                                   (json_int_t)status, "message",
                                   json_string_value(json_object_get(body, "message"))),
                         "fakekube controllers: API request refused");
        return r;
}

int api_status_from_http(long status)
{
        if (status >= 200 && status < 300)
                return 0;
        if (status == 404)
                return -ENOENT;
        if (status == 409)
                return -ECONNABORTED;
        if (status == 405)
                return -EOPNOTSUPP;
        return -EPROTO;
}

int api_create(struct sync *s, enum kind kind, const char *namespace_, json_t *object,
               json_t **ret_created)
{
        char path[512];
        object_path(kind, namespace_, NULL, NULL, path, sizeof(path));
        long status = 0;
        _cleanup_json_ json_t *body = NULL;
        int r = kclient_request(s->client, "POST", path, object, NULL, &status, &body);
        if (r < 0)
                return r;
        if (status == 409) {
                const char *reason = json_string_value(json_object_get(body, "reason"));
                return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -ECONNABORTED;
        }
        r = checked("POST", path, status, body);
        if (r < 0)
                return r;
        store_apply(&s->c->store, kind, body);
        if (ret_created)
                *ret_created = json_incref(body);
        return 0;
}

int api_update(struct sync *s, enum kind kind, const json_t *object, const char *subresource)
{
        char path[512];
        object_path(kind, object_namespace(object), object_name(object), subresource, path,
                    sizeof(path));
        long status = 0;
        _cleanup_json_ json_t *body = NULL;
        int r = kclient_request(s->client, "PUT", path, object, NULL, &status, &body);
        if (r < 0)
                return r;
        r = checked("PUT", path, status, body);
        if (r == 0 && (!subresource || strcmp(subresource, "status") == 0))
                store_apply(&s->c->store, kind, body);
        return r;
}

int api_merge_patch(struct sync *s, enum kind kind, const char *namespace_, const char *name,
                    const char *subresource, const json_t *patch)
{
        char path[512];
        object_path(kind, namespace_, name, subresource, path, sizeof(path));
        long status = 0;
        _cleanup_json_ json_t *body = NULL;
        int r = kclient_request(s->client, "PATCH", path, patch, "application/merge-patch+json",
                                &status, &body);
        if (r < 0)
                return r;
        r = checked("PATCH", path, status, body);
        if (r == 0 && (!subresource || strcmp(subresource, "status") == 0))
                store_apply(&s->c->store, kind, body);
        return r;
}

int api_delete(struct sync *s, enum kind kind, const char *namespace_, const char *name,
               int64_t grace_seconds)
{
        char path[600];
        object_path(kind, namespace_, name, NULL, path, sizeof(path));
        if (grace_seconds >= 0) {
                size_t n = strlen(path);
                snprintf(path + n, sizeof(path) - n, "?gracePeriodSeconds=%lld",
                         (long long)grace_seconds);
        }
        long status = 0;
        _cleanup_json_ json_t *body = NULL;
        int r = kclient_request(s->client, "DELETE", path, NULL, NULL, &status, &body);
        if (r < 0)
                return r;
        r = checked("DELETE", path, status, body);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        /* A graceful delete answers with the object, now carrying deletionTimestamp. */
        const char *body_kind = json_string_value(json_object_get(body, "kind"));
        if (body_kind && strcmp(body_kind, "Status") != 0 && object_terminating(body))
                store_apply(&s->c->store, kind, body);
        else {
                json_t *stub =
                        json_pack("{s{ss* ss}}", "metadata", "namespace", namespace_, "name", name);
                if (stub)
                        store_forget(&s->c->store, kind, stub);
                json_decref(stub);
        }
        return 0;
}

int pod_patch_status(struct sync *s, const json_t *pod, json_t *status)
{
        _cleanup_json_ json_t *patch = json_pack("{sO}", "status", status);
        if (!patch)
                return -ENOMEM;
        int r = api_merge_patch(s, KIND_POD, object_namespace(pod), object_name(pod), "status",
                                patch);
        if (r == -EOPNOTSUPP || r == -EPROTO) {
                /* A server without PATCH on /status: PUT the whole object. */
                _cleanup_json_ json_t *copy = json_deep_copy(pod);
                if (!copy)
                        return -ENOMEM;
                json_t *merged = json_deep_copy(json_object_get(pod, "status"));
                if (!merged)
                        merged = json_object();
                json_object_update(merged, status);
                json_object_set_new(copy, "status", merged);
                r = api_update(s, KIND_POD, copy, "status");
        }
        return r;
}

void emit_event(struct sync *s, const json_t *object, const char *kind, const char *api_version,
                const char *type, const char *reason, const char *component, const char *fmt, ...)
{
        const char *name = object_name(object);
        const char *ns = object_namespace(object);
        if (!name)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *message = NULL;
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        if (!message)
                return;
        /* Kubernetes names events <object>.<16 hex digits>. */
        unsigned char random_bytes[8] = {0};
        if (getrandom(random_bytes, sizeof(random_bytes), 0) != (ssize_t)sizeof(random_bytes))
                return;
        char event_name[400];
        int n = snprintf(event_name, sizeof(event_name), "%.250s.", name);
        for (size_t i = 0; i < sizeof(random_bytes) && n > 0 && (size_t)n + 2 < sizeof(event_name);
             i++)
                n += snprintf(event_name + n, sizeof(event_name) - (size_t)n, "%02x",
                              random_bytes[i]);
        char now_micro[40];
        snprintf(now_micro, sizeof(now_micro), "%.19s.%06lldZ", s->now_text,
                 (long long)(s->now_ms % 1000) * 1000);
        /* Cluster-scoped objects' events go to "default", as in Kubernetes. */
        const char *event_ns = ns && *ns ? ns : "default";
        _cleanup_json_ json_t *event = json_pack(
                "{ss ss s{ss ss} s{ss ss ss* ss* ss*} ss ss ss s{ss} ss ss si ss ss ss}",
                "apiVersion", "v1", "kind", "Event", "metadata", "name", event_name, "namespace",
                event_ns, "involvedObject", "kind", kind, "apiVersion", api_version, "name", name,
                "namespace", ns, "uid", object_uid(object), "reason", reason, "message", message,
                "type", type, "source", "component", component, "firstTimestamp", s->now_text,
                "lastTimestamp", s->now_text, "count", 1, "eventTime", now_micro,
                "reportingComponent", component, "reportingInstance", component);
        if (!event)
                return;
        /* eventTime needs an action in events.k8s.io; keep core/v1's classic shape. */
        json_object_del(event, "eventTime");
        char path[512];
        object_path(KIND_SERVICE, event_ns, NULL, NULL, path, sizeof(path));
        /* .../namespaces/NS/services -> .../namespaces/NS/events */
        char *last = strrchr(path, '/');
        if (last)
                snprintf(last, sizeof(path) - (size_t)(last - path), "/events");
        long status = 0;
        kclient_request(s->client, "POST", path, event, NULL, &status, NULL);
}
