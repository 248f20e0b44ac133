/* SPDX-License-Identifier: Apache-2.0 */
#include "objects.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

bool map_selector_matches(const json_t *selector, const json_t *labels)
{
        if (!json_is_object(selector) || json_object_size(selector) == 0)
                return false;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)selector, key, value) {
                const char *have = json_string_value(json_object_get(labels, key));
                if (!have || !json_is_string(value) || strcmp(have, json_string_value(value)) != 0)
                        return false;
        }
        return true;
}

int quantity_parse_milli(const char *text, int64_t *ret_milli)
{
        static const struct {
                const char *suffix;
                double factor;
        } suffixes[] = {
                {"Ki", 1024.0},
                {"Mi", 1048576.0},
                {"Gi", 1073741824.0},
                {"Ti", 1099511627776.0},
                {"Pi", 1125899906842624.0},
                {"Ei", 1152921504606846976.0},
                {"n", 1e-9},
                {"u", 1e-6},
                {"m", 1e-3},
                {"k", 1e3},
                {"M", 1e6},
                {"G", 1e9},
                {"T", 1e12},
                {"P", 1e15},
                {"E", 1e18},
                {"", 1.0},
        };
        if (!text || !*text)
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        double number = strtod(text, &end);
        if (errno != 0 || end == text || !isfinite(number) || number < 0 ||
            isspace((unsigned char)*text))
                return -EINVAL;
        /* strtod accepted an exponent ("1e3") already; what is left must be a suffix. */
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                if (strcmp(end, suffixes[i].suffix) == 0) {
                        double milli = ceil(number * suffixes[i].factor * 1000.0 - 1e-6);
                        if (milli > 9.2e18)
                                return -ERANGE;
                        *ret_milli = (int64_t)milli;
                        return 0;
                }
        }
        return -EINVAL;
}

int int_or_percent(const json_t *value, int64_t total, bool round_up, int64_t *ret)
{
        if (json_is_integer(value)) {
                if (json_integer_value(value) < 0)
                        return -EINVAL;
                *ret = json_integer_value(value);
                return 0;
        }
        const char *s = json_string_value(value);
        if (!s)
                return -EINVAL;
        char *end = NULL;
        long percent = strtol(s, &end, 10);
        if (end == s || percent < 0)
                return -EINVAL;
        if (*end == '\0') {
                *ret = percent;
                return 0;
        }
        if (strcmp(end, "%") != 0)
                return -EINVAL;
        int64_t scaled = total * percent;
        *ret = round_up ? (scaled + 99) / 100 : scaled / 100;
        return 0;
}

const char *controller_owner_uid(const json_t *object)
{
        size_t i;
        json_t *ref;
        json_array_foreach (json_object_get(json_object_get(object, "metadata"), "ownerReferences"),
                            i, ref) {
                if (json_is_true(json_object_get(ref, "controller")))
                        return json_string_value(json_object_get(ref, "uid"));
        }
        return NULL;
}

static const char *meta_string(const json_t *object, const char *field)
{
        return json_string_value(json_object_get(json_object_get(object, "metadata"), field));
}

const char *object_uid(const json_t *object)
{
        return meta_string(object, "uid");
}

const char *object_name(const json_t *object)
{
        return meta_string(object, "name");
}

const char *object_namespace(const json_t *object)
{
        return meta_string(object, "namespace");
}

bool object_terminating(const json_t *object)
{
        return meta_string(object, "deletionTimestamp") != NULL;
}

int64_t object_created_ms(const json_t *object)
{
        time_t t = 0;
        const char *s = meta_string(object, "creationTimestamp");
        if (!s || clock_parse_rfc3339(s, &t) < 0)
                return 0;
        return (int64_t)t * 1000;
}

const json_t *condition_get(const json_t *object, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(json_object_get(object, "status"), "conditions"), i,
                            c) {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t && strcmp(t, type) == 0)
                        return c;
        }
        return NULL;
}

const char *condition_status(const json_t *object, const char *type)
{
        return json_string_value(json_object_get(condition_get(object, type), "status"));
}

bool pod_ready(const json_t *pod)
{
        const char *s = condition_status(pod, "Ready");
        return s && strcmp(s, "True") == 0;
}

bool pod_active(const json_t *pod)
{
        if (object_terminating(pod))
                return false;
        const char *phase =
                json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
        return !phase || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}

bool node_ready(const json_t *node)
{
        const char *s = condition_status(node, "Ready");
        return s && strcmp(s, "True") == 0;
}

static bool same_string(const json_t *a, const char *b)
{
        const char *s = json_string_value(a);
        if (!s || !b)
                return !s && !b;
        return strcmp(s, b) == 0;
}

json_t *conditions_set(const json_t *old, const char *type, const char *status, const char *reason,
                       const char *message, const char *now_text, bool with_update_time)
{
        json_t *result = json_is_array(old) ? json_deep_copy(old) : json_array();
        if (!result)
                return NULL;
        json_t *found = NULL;
        size_t i;
        json_t *c;
        json_array_foreach (result, i, c) {
                if (same_string(json_object_get(c, "type"), type))
                        found = c;
        }
        if (!found) {
                found = json_object();
                json_object_set_new(found, "type", json_string(type));
                json_array_append_new(result, found);
        }
        bool status_changed = !same_string(json_object_get(found, "status"), status);
        bool changed = status_changed || !same_string(json_object_get(found, "reason"), reason) ||
                       !same_string(json_object_get(found, "message"), message);
        json_object_set_new(found, "status", json_string(status));
        if (reason)
                json_object_set_new(found, "reason", json_string(reason));
        if (message)
                json_object_set_new(found, "message", json_string(message));
        if (status_changed || !json_object_get(found, "lastTransitionTime"))
                json_object_set_new(found, "lastTransitionTime", json_string(now_text));
        if (with_update_time && (changed || !json_object_get(found, "lastUpdateTime")))
                json_object_set_new(found, "lastUpdateTime", json_string(now_text));
        return result;
}

bool toleration_tolerates(const json_t *toleration, const json_t *taint)
{
        const char *t_key = json_string_value(json_object_get(toleration, "key"));
        const char *t_op = json_string_value(json_object_get(toleration, "operator"));
        const char *t_value = json_string_value(json_object_get(toleration, "value"));
        const char *t_effect = json_string_value(json_object_get(toleration, "effect"));
        const char *key = json_string_value(json_object_get(taint, "key"));
        const char *value = json_string_value(json_object_get(taint, "value"));
        const char *effect = json_string_value(json_object_get(taint, "effect"));
        if (t_effect && *t_effect && (!effect || strcmp(t_effect, effect) != 0))
                return false;
        bool exists = t_op && strcmp(t_op, "Exists") == 0;
        /* An empty key with Exists tolerates everything. */
        if (!t_key || !*t_key)
                return exists;
        if (!key || strcmp(t_key, key) != 0)
                return false;
        if (exists)
                return true;
        return strcmp(t_value ? t_value : "", value ? value : "") == 0;
}

static bool pod_tolerates(const json_t *pod, const json_t *taint)
{
        size_t i;
        json_t *tol;
        json_array_foreach (json_object_get(json_object_get(pod, "spec"), "tolerations"), i, tol) {
                if (toleration_tolerates(tol, taint))
                        return true;
        }
        return false;
}

bool pod_tolerates_node(const json_t *pod, const json_t *node)
{
        size_t i;
        json_t *taint;
        json_array_foreach (json_object_get(json_object_get(node, "spec"), "taints"), i, taint) {
                const char *effect = json_string_value(json_object_get(taint, "effect"));
                if (effect && strcmp(effect, "PreferNoSchedule") == 0)
                        continue;
                if (!pod_tolerates(pod, taint))
                        return false;
        }
        return true;
}

int64_t pod_toleration_seconds(const json_t *pod, const json_t *taint)
{
        size_t i;
        json_t *tol;
        bool any = false;
        int64_t best = 0;
        json_array_foreach (json_object_get(json_object_get(pod, "spec"), "tolerations"), i, tol) {
                if (!toleration_tolerates(tol, taint))
                        continue;
                const json_t *seconds = json_object_get(tol, "tolerationSeconds");
                if (!json_is_integer(seconds))
                        return -1;
                int64_t s = json_integer_value(seconds) < 0 ? 0 : json_integer_value(seconds);
                best = !any || s > best ? s : best;
                any = true;
        }
        if (any)
                return best;
        const char *key = json_string_value(json_object_get(taint, "key"));
        if (key && (strcmp(key, "node.kubernetes.io/unreachable") == 0 ||
                    strcmp(key, "node.kubernetes.io/not-ready") == 0))
                return 300;
        return 0;
}

int64_t pod_request_milli(const json_t *pod, const char *resource)
{
        int64_t total = 0;
        size_t i;
        json_t *container;
        json_array_foreach (json_object_get(json_object_get(pod, "spec"), "containers"), i,
                            container) {
                const json_t *resources = json_object_get(container, "resources");
                const json_t *q = json_object_get(json_object_get(resources, "requests"), resource);
                /* As in Kubernetes, a limit without a request implies the request. */
                if (!q)
                        q = json_object_get(json_object_get(resources, "limits"), resource);
                int64_t v = 0;
                if (json_is_string(q) && quantity_parse_milli(json_string_value(q), &v) == 0)
                        total += v;
                else if (json_is_number(q))
                        total += (int64_t)(json_number_value(q) * 1000.0);
        }
        return total;
}
