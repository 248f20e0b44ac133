/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Endpoints controller: for every Service with a selector, an Endpoints
 * object of the same name listing the matching pods' IPs (ready ones under
 * addresses, the others under notReadyAddresses) with the resolved target
 * ports.  Endpoints it wrote carry the annotation
 * endpoints.kubernetes.io/last-change-trigger-time, as Kubernetes' do; only
 * those are deleted when their Service goes away.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "macros.h"
#include "objects.h"

#define TRIGGER_ANNOTATION "endpoints.kubernetes.io/last-change-trigger-time"

/* targetPort of a service port resolved against one pod, or 0. */
static int64_t resolve_target_port(const json_t *service_port, const json_t *pod)
{
        const json_t *target = json_object_get(service_port, "targetPort");
        if (!target)
                return json_integer_value(json_object_get(service_port, "port"));
        if (json_is_integer(target))
                return json_integer_value(target);
        const char *name = json_string_value(target);
        if (!name)
                return 0;
        char *end = NULL;
        long n = strtol(name, &end, 10);
        if (end != name && *end == '\0')
                return n;
        size_t i, j;
        json_t *container, *port;
        json_array_foreach (json_object_get(json_object_get(pod, "spec"), "containers"), i,
                            container) {
                json_array_foreach (json_object_get(container, "ports"), j, port) {
                        const char *pn = json_string_value(json_object_get(port, "name"));
                        if (pn && strcmp(pn, name) == 0)
                                return json_integer_value(json_object_get(port, "containerPort"));
                }
        }
        return 0;
}

static int compare_ip(const void *a, const void *b)
{
        const char *x = json_string_value(json_object_get(*(json_t *const *)a, "ip"));
        const char *y = json_string_value(json_object_get(*(json_t *const *)b, "ip"));
        return strcmp(x ? x : "", y ? y : "");
}

static void sort_addresses(json_t *array)
{
        size_t n = json_array_size(array);
        if (n < 2)
                return;
        json_t **items = calloc(n, sizeof(*items));
        if (!items)
                return;
        for (size_t i = 0; i < n; i++)
                items[i] = json_incref(json_array_get(array, i));
        qsort(items, n, sizeof(*items), compare_ip);
        json_array_clear(array);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(array, items[i]);
        free(items);
}

static json_t *desired_subsets(struct sync *s, const json_t *service)
{
        const json_t *spec = json_object_get(service, "spec");
        const json_t *selector = json_object_get(spec, "selector");
        bool publish_all = json_is_true(json_object_get(spec, "publishNotReadyAddresses"));
        const char *ns = object_namespace(service);
        /* ports-JSON -> subset */
        json_t *subsets = json_object();
        const char *key;
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                const char *pod_ns = object_namespace(pod);
                const json_t *status = json_object_get(pod, "status");
                const char *ip = json_string_value(json_object_get(status, "podIP"));
                if (!ip || !pod_ns || strcmp(pod_ns, ns) != 0 || !pod_active(pod))
                        continue;
                if (!map_selector_matches(
                            selector, json_object_get(json_object_get(pod, "metadata"), "labels")))
                        continue;
                json_t *ports = json_array();
                size_t i;
                json_t *sp;
                json_array_foreach (json_object_get(spec, "ports"), i, sp) {
                        int64_t port = resolve_target_port(sp, pod);
                        if (port <= 0)
                                continue;
                        const char *name = json_string_value(json_object_get(sp, "name"));
                        const char *protocol = json_string_value(json_object_get(sp, "protocol"));
                        json_t *p = json_pack("{sI ss}", "port", (json_int_t)port, "protocol",
                                              protocol ? protocol : "TCP");
                        if (name && *name)
                                json_object_set_new(p, "name", json_string(name));
                        json_array_append_new(ports, p);
                }
                _cleanup_free_ char *ports_key = json_dumps(ports, JSON_COMPACT | JSON_SORT_KEYS);
                json_t *subset = json_object_get(subsets, ports_key ? ports_key : "");
                if (!subset) {
                        subset = json_pack("{s[] s[] sO}", "addresses", "notReadyAddresses",
                                           "ports", ports);
                        json_object_set_new(subsets, ports_key ? ports_key : "", subset);
                }
                json_decref(ports);
                const char *node = json_string_value(
                        json_object_get(json_object_get(pod, "spec"), "nodeName"));
                json_t *address = json_pack("{ss s{ss ss ss ss}}", "ip", ip, "targetRef", "kind",
                                            "Pod", "namespace", pod_ns, "name", object_name(pod),
                                            "uid", object_uid(pod));
                if (node)
                        json_object_set_new(address, "nodeName", json_string(node));
                bool ready = publish_all || pod_ready(pod);
                json_array_append_new(
                        json_object_get(subset, ready ? "addresses" : "notReadyAddresses"),
                        address);
        }
        json_t *result = json_array();
        json_t *subset;
        json_object_foreach (subsets, key, subset) {
                const char *fields[] = {"addresses", "notReadyAddresses"};
                for (size_t f = 0; f < 2; f++) {
                        json_t *a = json_object_get(subset, fields[f]);
                        sort_addresses(a);
                        if (json_array_size(a) == 0)
                                json_object_del(subset, fields[f]);
                }
                if (json_array_size(json_object_get(subset, "ports")) == 0)
                        json_object_del(subset, "ports");
                json_array_append(result, subset);
        }
        json_decref(subsets);
        return result;
}

static bool same_subsets(const json_t *have, const json_t *want)
{
        if (!have)
                return json_array_size(want) == 0;
        return json_equal(have, want);
}

void sync_endpoints(struct sync *s)
{
        const char *key;
        json_t *service;
        json_object_foreach (s->objects[KIND_SERVICE], key, service) {
                const json_t *selector =
                        json_object_get(json_object_get(service, "spec"), "selector");
                if (!json_is_object(selector) || json_object_size(selector) == 0 ||
                    object_terminating(service))
                        continue;
                _cleanup_json_ json_t *subsets = desired_subsets(s, service);
                if (!subsets)
                        continue;
                const json_t *existing = json_object_get(s->objects[KIND_ENDPOINTS], key);
                if (existing && same_subsets(json_object_get(existing, "subsets"), subsets))
                        continue;
                _cleanup_json_ json_t *ep =
                        existing ? json_deep_copy(existing)
                                 : json_pack("{ss ss s{ss ss}}", "apiVersion", "v1", "kind",
                                             "Endpoints", "metadata", "name", object_name(service),
                                             "namespace", object_namespace(service));
                if (!ep)
                        continue;
                json_t *meta = json_object_get(ep, "metadata");
                const json_t *labels =
                        json_object_get(json_object_get(service, "metadata"), "labels");
                if (labels)
                        json_object_set_new(meta, "labels", json_deep_copy(labels));
                json_t *annotations = json_object_get(meta, "annotations");
                if (!annotations) {
                        annotations = json_object();
                        json_object_set_new(meta, "annotations", annotations);
                }
                json_object_set_new(annotations, TRIGGER_ANNOTATION, json_string(s->now_text));
                if (json_array_size(subsets) > 0)
                        json_object_set(ep, "subsets", subsets);
                else
                        json_object_del(ep, "subsets");
                if (existing)
                        api_update(s, KIND_ENDPOINTS, ep, NULL);
                else
                        api_create(s, KIND_ENDPOINTS, object_namespace(service), ep, NULL);
        }
        json_t *ep;
        json_object_foreach (s->objects[KIND_ENDPOINTS], key, ep) {
                const json_t *annotations =
                        json_object_get(json_object_get(ep, "metadata"), "annotations");
                if (!json_object_get(annotations, TRIGGER_ANNOTATION) ||
                    json_object_get(s->objects[KIND_SERVICE], key) || object_terminating(ep))
                        continue;
                api_delete(s, KIND_ENDPOINTS, object_namespace(ep), object_name(ep), -1);
        }
}
