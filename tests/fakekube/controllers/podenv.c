/* SPDX-License-Identifier: Apache-2.0 */
#include "podenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"

char *expand_vars(const char *text, const json_t *vars)
{
        if (!text)
                return NULL;
        char *out = NULL;
        size_t out_size = 0;
        FILE *f = open_memstream(&out, &out_size);
        if (!f)
                return NULL;
        for (const char *p = text; *p;) {
                if (p[0] == '$' && p[1] == '$') {
                        fputc('$', f);
                        p += 2;
                        continue;
                }
                if (p[0] == '$' && p[1] == '(') {
                        const char *close = strchr(p + 2, ')');
                        if (close) {
                                size_t n = (size_t)(close - (p + 2));
                                char name[256];
                                if (n < sizeof(name)) {
                                        memcpy(name, p + 2, n);
                                        name[n] = '\0';
                                        const char *value =
                                                json_string_value(json_object_get(vars, name));
                                        if (value) {
                                                fputs(value, f);
                                                p = close + 1;
                                                continue;
                                        }
                                }
                                /* Undefined: kept verbatim, as Kubernetes does. */
                                fwrite(p, 1, n + 3, f);
                                p = close + 1;
                                continue;
                        }
                }
                fputc(*p++, f);
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

const char *downward_field(const json_t *pod, const char *pod_ip, const char *field_path)
{
        const json_t *meta = json_object_get(pod, "metadata");
        const json_t *spec = json_object_get(pod, "spec");
        if (!field_path)
                return NULL;
        if (strcmp(field_path, "status.podIP") == 0)
                return pod_ip;
        if (strcmp(field_path, "metadata.name") == 0)
                return json_string_value(json_object_get(meta, "name"));
        if (strcmp(field_path, "metadata.namespace") == 0)
                return json_string_value(json_object_get(meta, "namespace"));
        if (strcmp(field_path, "metadata.uid") == 0)
                return json_string_value(json_object_get(meta, "uid"));
        if (strcmp(field_path, "spec.nodeName") == 0)
                return json_string_value(json_object_get(spec, "nodeName"));
        if (strcmp(field_path, "spec.serviceAccountName") == 0)
                return json_string_value(json_object_get(spec, "serviceAccountName"));
        if (strcmp(field_path, "status.hostIP") == 0)
                return json_string_value(json_object_get(json_object_get(pod, "status"), "hostIP"));
        /* metadata.labels['x'] / metadata.annotations['x'] */
        const char *maps[] = {"labels", "annotations"};
        for (size_t i = 0; i < 2; i++) {
                char prefix[32];
                snprintf(prefix, sizeof(prefix), "metadata.%s['", maps[i]);
                size_t n = strlen(prefix);
                if (strncmp(field_path, prefix, n) == 0) {
                        char key[256];
                        snprintf(key, sizeof(key), "%s", field_path + n);
                        char *end = strstr(key, "']");
                        if (!end)
                                return NULL;
                        *end = '\0';
                        return json_string_value(
                                json_object_get(json_object_get(meta, maps[i]), key));
                }
        }
        return NULL;
}

static void add_from(json_t *env, const json_t *pod, const json_t *source, env_lookup_fn lookup,
                     void *userdata)
{
        const char *ns =
                json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
        const char *prefix = json_string_value(json_object_get(source, "prefix"));
        const char *kinds[] = {"configMapRef", "secretRef"};
        const char *kind_names[] = {"ConfigMap", "Secret"};
        for (size_t i = 0; i < 2; i++) {
                const json_t *ref = json_object_get(source, kinds[i]);
                const char *name = json_string_value(json_object_get(ref, "name"));
                if (!name || !lookup)
                        continue;
                /* key NULL: the whole object as JSON {"k":"v",...}. */
                _cleanup_free_ char *all = lookup(kind_names[i], ns, name, NULL, userdata);
                _cleanup_json_ json_t *data = all ? json_loads(all, 0, NULL) : NULL;
                const char *key;
                json_t *value;
                json_object_foreach (data, key, value) {
                        char full[512];
                        snprintf(full, sizeof(full), "%s%s", prefix ? prefix : "", key);
                        if (json_is_string(value))
                                json_object_set(env, full, value);
                }
        }
}

json_t *container_environment(const json_t *pod, const json_t *container, const char *pod_ip,
                              env_lookup_fn lookup, void *userdata)
{
        json_t *env = json_object();
        if (!env)
                return NULL;
        const char *ns =
                json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(container, "envFrom"), i, item)
                add_from(env, pod, item, lookup, userdata);
        json_array_foreach (json_object_get(container, "env"), i, item) {
                const char *name = json_string_value(json_object_get(item, "name"));
                if (!name)
                        continue;
                const json_t *value = json_object_get(item, "value");
                const json_t *from = json_object_get(item, "valueFrom");
                if (json_is_string(value) || !from) {
                        _cleanup_free_ char *expanded = expand_vars(
                                json_is_string(value) ? json_string_value(value) : "", env);
                        if (expanded)
                                json_object_set_new(env, name, json_string(expanded));
                        continue;
                }
                const json_t *field = json_object_get(from, "fieldRef");
                if (field) {
                        const char *v = downward_field(
                                pod, pod_ip,
                                json_string_value(json_object_get(field, "fieldPath")));
                        if (v)
                                json_object_set_new(env, name, json_string(v));
                        continue;
                }
                const char *refs[] = {"configMapKeyRef", "secretKeyRef"};
                const char *kind_names[] = {"ConfigMap", "Secret"};
                for (size_t k = 0; k < 2; k++) {
                        const json_t *ref = json_object_get(from, refs[k]);
                        const char *ref_name = json_string_value(json_object_get(ref, "name"));
                        const char *key = json_string_value(json_object_get(ref, "key"));
                        if (!ref || !ref_name || !key || !lookup)
                                continue;
                        _cleanup_free_ char *v = lookup(kind_names[k], ns, ref_name, key, userdata);
                        if (v)
                                json_object_set_new(env, name, json_string(v));
                }
        }
        return env;
}

static int64_t seconds_field(const json_t *probe, const char *field, int64_t fallback)
{
        const json_t *v = json_object_get(probe, field);
        return json_is_integer(v) ? json_integer_value(v) : fallback;
}

int probe_parse(const json_t *probe, const json_t *container, struct http_probe *ret)
{
        const json_t *get = json_object_get(probe, "httpGet");
        bool tcp = false;
        if (!get) {
                get = json_object_get(probe, "tcpSocket");
                tcp = true;
        }
        if (!get)
                return -EINVAL;
        const json_t *port = json_object_get(get, "port");
        int number = 0;
        if (json_is_integer(port)) {
                number = (int)json_integer_value(port);
        } else if (json_is_string(port)) {
                char *end = NULL;
                long n = strtol(json_string_value(port), &end, 10);
                if (end && *end == '\0' && end != json_string_value(port)) {
                        number = (int)n;
                } else {
                        size_t i;
                        json_t *cp;
                        json_array_foreach (json_object_get(container, "ports"), i, cp) {
                                const char *pn = json_string_value(json_object_get(cp, "name"));
                                if (pn && strcmp(pn, json_string_value(port)) == 0)
                                        number = (int)json_integer_value(
                                                json_object_get(cp, "containerPort"));
                        }
                }
        }
        if (number <= 0 || number > 65535)
                return -EINVAL;
        struct http_probe p = {
                .tcp = tcp,
                .port = number,
                .initial_delay_ms = 1000 * seconds_field(probe, "initialDelaySeconds", 0),
                .period_ms = 1000 * seconds_field(probe, "periodSeconds", 10),
                .timeout_ms = 1000 * seconds_field(probe, "timeoutSeconds", 1),
                .failure_threshold = (int)seconds_field(probe, "failureThreshold", 3),
                .success_threshold = (int)seconds_field(probe, "successThreshold", 1),
        };
        const char *path = json_string_value(json_object_get(get, "path"));
        snprintf(p.path, sizeof(p.path), "%s%s", path && path[0] == '/' ? "" : "/",
                 path ? path : "");
        if (p.period_ms <= 0)
                p.period_ms = 10000;
        if (p.timeout_ms <= 0)
                p.timeout_ms = 1000;
        if (p.failure_threshold <= 0)
                p.failure_threshold = 3;
        if (p.success_threshold <= 0)
                p.success_threshold = 1;
        *ret = p;
        return 0;
}
