/* SPDX-License-Identifier: Apache-2.0 */
/* Errors, resource descriptors, path/query building and small helpers. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "kube-private.h"
#include "macros.h"

const char *kube_strerror(int error)
{
        switch (error) {
        case 0:
                return "success";
#define KUBE_X_CASE(name, value, text) \
        case name:                     \
                return text;
                KUBE_ERRORS(KUBE_X_CASE)
#undef KUBE_X_CASE
        default:
                break;
        }
        if (error < 0 && error > -4096)
                return strerrordesc_np(-error) ? strerrordesc_np(-error) : "unknown error";
        return "unknown error";
}

int kube_error_from_http(long http_code, const char *reason)
{
        if (http_code >= 200 && http_code < 300)
                return 0;
        /* The Status reason is more precise than the code where they differ
         * (e.g. 409 is either AlreadyExists or Conflict; "Expired" continue
         * tokens come with 410). */
        if (reason) {
                if (strcmp(reason, "AlreadyExists") == 0)
                        return KUBE_ERR_ALREADY_EXISTS;
                if (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0)
                        return KUBE_ERR_GONE;
        }
        switch (http_code) {
        case 400:
                return KUBE_ERR_BAD_REQUEST;
        case 401:
                return KUBE_ERR_UNAUTHORIZED;
        case 403:
                return KUBE_ERR_FORBIDDEN;
        case 404:
                return KUBE_ERR_NOT_FOUND;
        case 405:
                return KUBE_ERR_METHOD_NOT_ALLOWED;
        case 409:
                return KUBE_ERR_CONFLICT;
        case 410:
                return KUBE_ERR_GONE;
        case 415:
                return KUBE_ERR_UNSUPPORTED_MEDIA_TYPE;
        case 422:
                return KUBE_ERR_INVALID;
        case 429:
                return KUBE_ERR_TOO_MANY_REQUESTS;
        case 504:
                return KUBE_ERR_SERVER_TIMEOUT;
        default:
                break;
        }
        if (http_code >= 500 && http_code < 600)
                return KUBE_ERR_SERVER;
        return KUBE_ERR_HTTP;
}

void kube_status_set(struct kube_status *status, long http_code, const char *reason,
                     const char *fmt, ...)
{
        if (!status)
                return;
        status->http_code = http_code;
        snprintf(status->reason, sizeof(status->reason), "%s", reason ? reason : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(status->message, sizeof(status->message), fmt, ap);
        va_end(ap);
}

void kube_status_from_json(struct kube_status *status, long http_code, const json_t *body)
{
        if (!status)
                return;
        const char *reason = json_string_value(json_object_get(body, "reason"));
        const char *message = json_string_value(json_object_get(body, "message"));
        json_int_t code = json_integer_value(json_object_get(body, "code"));
        kube_status_set(status, http_code ? http_code : (long)code, reason, "%s",
                        message ? message : "");
}

int kube_base64_decode(const char *text, struct kube_blob *ret_blob)
{
        if (!text)
                return -EINVAL;
        /* Drop whitespace: YAML folded values and PEM-ish line breaks. */
        size_t n = strlen(text);
        _cleanup_free_ char *clean = malloc(n + 1);
        if (!clean)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (!strchr(" \t\r\n", text[i]))
                        clean[k++] = text[i];
        clean[k] = '\0';
        if (k == 0 || k % 4 != 0)
                return -EINVAL;
        _cleanup_free_ unsigned char *out = malloc(k / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        int len = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k);
        if (len < 0)
                return -EINVAL;
        /* EVP_DecodeBlock counts padding as zero bytes. */
        if (clean[k - 1] == '=')
                len--;
        if (clean[k - 2] == '=')
                len--;
        out[len] = '\0';
        ret_blob->data = TAKE_PTR(out);
        ret_blob->size = (size_t)len;
        return 0;
}

int kube_query_append(char **path, const char *key, const char *value)
{
        char *escaped = curl_easy_escape(NULL, value, 0);
        if (!escaped)
                return -ENOMEM;
        char *joined = NULL;
        int r = asprintf(&joined, "%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, escaped);
        curl_free(escaped);
        if (r < 0)
                return -ENOMEM;
        free(*path);
        *path = joined;
        return 0;
}

int64_t kube_backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempt)
{
        int64_t delay = base_ms;
        for (unsigned i = 0; i < attempt && delay < max_ms; i++)
                delay *= 2;
        if (delay > max_ms)
                delay = max_ms;
        uint32_t random = 0;
        if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random))
                random = (uint32_t)clock();
        /* factor in [0.5, 1.5) */
        double factor = 0.5 + (double)random / 4294967296.0;
        return (int64_t)((double)delay * factor);
}

/* ---- resources ---- */

const struct kube_resource KUBE_CONFIGMAPS = {"", "v1", "configmaps", "ConfigMap", true, NULL};
const struct kube_resource KUBE_SECRETS = {"", "v1", "secrets", "Secret", true, NULL};
const struct kube_resource KUBE_SERVICES = {"", "v1", "services", "Service", true, NULL};
const struct kube_resource KUBE_PODS = {"", "v1", "pods", "Pod", true, NULL};
const struct kube_resource KUBE_POD_EVICTION = {"", "v1", "pods", "Eviction", true, "eviction"};
const struct kube_resource KUBE_EVENTS = {"", "v1", "events", "Event", true, NULL};
const struct kube_resource KUBE_NODES = {"", "v1", "nodes", "Node", false, NULL};
const struct kube_resource KUBE_NAMESPACES = {"", "v1", "namespaces", "Namespace", false, NULL};
const struct kube_resource KUBE_DEPLOYMENTS = {"apps",       "v1", "deployments",
                                               "Deployment", true, NULL};
const struct kube_resource KUBE_HPAS = {
        "autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, NULL};
const struct kube_resource KUBE_INGRESSES = {"networking.k8s.io", "v1", "ingresses",
                                             "Ingress",           true, NULL};
const struct kube_resource KUBE_PDBS = {
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, NULL};
const struct kube_resource KUBE_LEASES = {
        "coordination.k8s.io", "v1", "leases", "Lease", true, NULL};
const struct kube_resource KUBE_TRIPDEALS = {"tripdeal.io", "v1alpha1", "tripdeals",
                                             "TripDeal",    true,       NULL};

int kube_resource_api_version(const struct kube_resource *resource, char *buf, size_t size)
{
        int n;
        if (!resource->group || !resource->group[0])
                n = snprintf(buf, size, "%s", resource->version);
        else
                n = snprintf(buf, size, "%s/%s", resource->group, resource->version);
        if (n < 0 || (size_t)n >= size)
                return -ENOBUFS;
        return 0;
}

/* A path segment must be non-empty and must not be "." / ".." or hold '/'. */
static bool segment_ok(const char *s)
{
        return s && s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int append_segment(FILE *f, const char *segment)
{
        char *escaped = curl_easy_escape(NULL, segment, 0);
        if (!escaped)
                return -ENOMEM;
        fprintf(f, "/%s", escaped);
        curl_free(escaped);
        return 0;
}

int kube_build_path(const struct kube_resource *resource, const char *namespace, const char *name,
                    const char *subresource, char **ret_path)
{
        if (!resource || !segment_ok(resource->version) || !segment_ok(resource->plural))
                return -EINVAL;
        if ((namespace && !segment_ok(namespace)) || (name && !segment_ok(name)))
                return -EINVAL;
        if (!subresource)
                subresource = resource->subresource;
        if (subresource && (!name || !subresource[0]))
                return -EINVAL;
        /* Cluster-scoped resources ignore a namespace rather than failing, so
         * callers can pass the object's (absent) namespace blindly. */
        if (!resource->namespaced)
        namespace = NULL;

        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        int r = 0;
        if (!resource->group || !resource->group[0]) {
                fputs("/api", f);
        } else {
                fputs("/apis", f);
                r = append_segment(f, resource->group);
        }
        if (r == 0)
                r = append_segment(f, resource->version);
        if (r == 0 && namespace) {
                fputs("/namespaces", f);
                r = append_segment(f, namespace);
        }
        if (r == 0)
                r = append_segment(f, resource->plural);
        if (r == 0 && name)
                r = append_segment(f, name);
        if (r == 0 && subresource)
                fprintf(f, "/%s", subresource);
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(buf);
        return 0;
}

static int compare_strings(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int kube_label_selector_from_labels(const json_t *labels, char **ret_selector)
{
        if (!json_is_object(labels))
                return -EINVAL;
        size_t n = json_object_size(labels);
        _cleanup_free_ const char **keys = calloc(n + 1, sizeof(char *));
        if (!keys)
                return -ENOMEM;
        size_t i = 0;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)labels, key, value) {
                if (!json_is_string(value))
                        return -EINVAL;
                keys[i++] = key;
        }
        /* Sorted, so the same labels always give the same selector string. */
        qsort(keys, n, sizeof(char *), compare_strings);
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (i = 0; i < n; i++)
                fprintf(f, "%s%s=%s", i ? "," : "", keys[i],
                        json_string_value(json_object_get(labels, keys[i])));
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret_selector = TAKE_PTR(buf);
        return 0;
}

/* ---- objects ---- */

static const char *metadata_string(const json_t *object, const char *field)
{
        return json_string_value(json_object_get(json_object_get(object, "metadata"), field));
}

const char *kube_object_name(const json_t *object)
{
        return metadata_string(object, "name");
}

const char *kube_object_namespace(const json_t *object)
{
        return metadata_string(object, "namespace");
}

const char *kube_object_resource_version(const json_t *object)
{
        return metadata_string(object, "resourceVersion");
}

const char *kube_object_uid(const json_t *object)
{
        return metadata_string(object, "uid");
}

int kube_owner_reference(const json_t *owner, bool controller, json_t **ret_reference)
{
        const char *api_version = json_string_value(json_object_get(owner, "apiVersion"));
        const char *kind = json_string_value(json_object_get(owner, "kind"));
        const char *name = kube_object_name(owner);
        const char *uid = kube_object_uid(owner);
        if (!api_version || !kind || !name || !uid)
                return -EINVAL;
        json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", api_version, "kind", kind,
                                "name", name, "uid", uid);
        if (!ref)
                return -ENOMEM;
        if (controller) {
                json_object_set_new(ref, "controller", json_true());
                json_object_set_new(ref, "blockOwnerDeletion", json_true());
        }
        *ret_reference = ref;
        return 0;
}

int kube_split_key(const char *key, char **ret_namespace, char **ret_name)
{
        if (!key || !key[0])
                return -EINVAL;
        const char *slash = strchr(key, '/');
        char *ns = NULL, *name;
        if (slash) {
                if (slash == key || !slash[1] || strchr(slash + 1, '/'))
                        return -EINVAL;
                ns = strndup(key, (size_t)(slash - key));
                name = strdup(slash + 1);
        } else {
                name = strdup(key);
        }
        if ((slash && !ns) || !name) {
                free(ns);
                free(name);
                return -ENOMEM;
        }
        *ret_namespace = ns;
        *ret_name = name;
        return 0;
}

int kube_format_micro_time(int64_t realtime_ms, char *buf, size_t size)
{
        return clock_format_rfc3339_micro(realtime_ms, buf, size);
}

/* ---- cancellation ---- */

static void cancel_lock(struct kube_cancel *cancel)
{
        int expected = 0;
        while (!atomic_compare_exchange_weak(&cancel->lock, &expected, 1))
                expected = 0;
}

static void cancel_unlock(struct kube_cancel *cancel)
{
        atomic_store(&cancel->lock, 0);
}

void kube_cancel(struct kube_cancel *cancel)
{
        if (!cancel)
                return;
        atomic_store(&cancel->cancelled, true);
        /* Wake a blocked transfer now instead of at curl's next progress
         * tick: shutting the socket down makes its poll return. */
        cancel_lock(cancel);
        if (cancel->socket_plus_one > 0)
                shutdown(cancel->socket_plus_one - 1, SHUT_RDWR);
        cancel_unlock(cancel);
}

void kube_cancel_reset(struct kube_cancel *cancel)
{
        if (cancel)
                atomic_store(&cancel->cancelled, false);
}

bool kube_cancelled(const struct kube_cancel *cancel)
{
        return cancel && atomic_load(&((struct kube_cancel *)cancel)->cancelled);
}

void kube_cancel_set_socket(struct kube_cancel *cancel, int fd)
{
        if (!cancel)
                return;
        cancel_lock(cancel);
        cancel->socket_plus_one = fd + 1;
        cancel_unlock(cancel);
}

void kube_cancel_clear_socket(struct kube_cancel *cancel, int fd)
{
        if (!cancel)
                return;
        cancel_lock(cancel);
        if (cancel->socket_plus_one == fd + 1)
                cancel->socket_plus_one = 0;
        cancel_unlock(cancel);
}
