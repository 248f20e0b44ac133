/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nodes: static Ready nodes (--nodes N), libvirt-backed nodes (one per
 * running domain carrying TripDeal metadata, see vmctl/README.md), the node
 * lifecycle controller (NoExecute taints on NotReady nodes, pods marked not
 * ready and evicted after their toleration), and the scheduler's binding.
 */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "macros.h"
#include "objects.h"
#include "scheduler.h"

#define BACKEND_LABEL       "fakekube.tripdeal.io/backend"
#define VMCTL_NAMESPACE_URI "https://tripdeal.io/vmctl/1"
#define TAINT_UNREACHABLE   "node.kubernetes.io/unreachable"
#define TAINT_NOT_READY     "node.kubernetes.io/not-ready"

bool pod_node_alive(const struct sync *s, const json_t *pod)
{
        if (s->c->options.disable_nodes)
                return true;
        const char *node_name =
                json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
        if (!node_name)
                return false;
        const json_t *node = json_object_get(s->objects[KIND_NODE], node_name);
        return node && node_ready(node);
}

/* Ready/pressure conditions of a healthy kubelet, or Ready=Unknown for a silent one. */
static json_t *node_conditions(const json_t *old, bool ready, const char *now_text)
{
        json_t *c1 = conditions_set(old, "MemoryPressure", ready ? "False" : "Unknown",
                                    ready ? "KubeletHasSufficientMemory" : "NodeStatusUnknown",
                                    ready ? "kubelet has sufficient memory available"
                                          : "Kubelet stopped posting node status.",
                                    now_text, false);
        json_t *c2 = conditions_set(c1, "DiskPressure", ready ? "False" : "Unknown",
                                    ready ? "KubeletHasNoDiskPressure" : "NodeStatusUnknown",
                                    ready ? "kubelet has no disk pressure"
                                          : "Kubelet stopped posting node status.",
                                    now_text, false);
        json_t *c3 = conditions_set(c2, "PIDPressure", ready ? "False" : "Unknown",
                                    ready ? "KubeletHasSufficientPID" : "NodeStatusUnknown",
                                    ready ? "kubelet has sufficient PID available"
                                          : "Kubelet stopped posting node status.",
                                    now_text, false);
        json_t *c4 = conditions_set(c3, "Ready", ready ? "True" : "Unknown",
                                    ready ? "KubeletReady" : "NodeStatusUnknown",
                                    ready ? "kubelet is posting ready status"
                                          : "Kubelet stopped posting node status.",
                                    now_text, false);
        json_decref(c1);
        json_decref(c2);
        json_decref(c3);
        /* The heartbeat stamps of a live kubelet. */
        size_t i;
        json_t *c;
        json_array_foreach (c4, i, c) {
                if (ready || !json_object_get(c, "lastHeartbeatTime"))
                        json_object_set_new(c, "lastHeartbeatTime", json_string(now_text));
        }
        return c4;
}

static json_t *node_status(const char *name, const char *cpu, const char *memory, const json_t *old,
                           bool ready, const char *now_text)
{
        _cleanup_json_ json_t *resources = json_pack("{ss ss ss ss}", "cpu", cpu, "memory", memory,
                                                     "pods", "110", "ephemeral-storage", "100Gi");
        return json_pack("{sO sO so s[{ss ss} {ss ss}] s{ss ss ss ss ss ss ss ss ss ss} s{s{si}}}",
                         "capacity", resources, "allocatable", resources, "conditions",
                         node_conditions(old, ready, now_text), "addresses", "type", "InternalIP",
                         "address", "127.0.0.1", "type", "Hostname", "address", name, "nodeInfo",
                         "machineID", name, "systemUUID", name, "bootID", name, "kernelVersion",
                         "fakekube", "osImage", "fakekube", "containerRuntimeVersion",
                         "fakekube://1", "kubeletVersion", "v1.36.0-fakekube", "kubeProxyVersion",
                         "v1.36.0-fakekube", "operatingSystem", "linux", "architecture", "amd64",
                         "daemonEndpoints", "kubeletEndpoint", "Port", 10250);
}

static void ensure_node(struct sync *s, const char *name, json_t *labels, json_t *annotations,
                        const char *cpu, const char *memory, bool ready)
{
        const json_t *node = json_object_get(s->objects[KIND_NODE], name);
        if (!node) {
                _cleanup_json_ json_t *meta = json_pack("{ss sO}", "name", name, "labels", labels);
                if (!meta)
                        return;
                if (annotations)
                        json_object_set(meta, "annotations", annotations);
                _cleanup_json_ json_t *fresh = json_pack(
                        "{ss ss sO s{} so}", "apiVersion", "v1", "kind", "Node", "metadata", meta,
                        "spec", "status", node_status(name, cpu, memory, NULL, ready, s->now_text));
                json_t *created = NULL;
                if (api_create(s, KIND_NODE, NULL, fresh, &created) < 0)
                        return;
                node = created;
                json_object_set_new(s->objects[KIND_NODE], name, created);
        }
        /* A server may drop status on create, and a kubelet that comes back reports Ready again. */
        bool has_ready = condition_status(node, "Ready") != NULL;
        if (has_ready && node_ready(node) == ready)
                return;
        if (!ready && has_ready && strcmp(condition_status(node, "Ready"), "True") != 0)
                return;
        _cleanup_json_ json_t *status = node_status(
                name, cpu, memory, json_object_get(json_object_get(node, "status"), "conditions"),
                ready, s->now_text);
        _cleanup_json_ json_t *patch = json_pack("{sO}", "status", status);
        api_merge_patch(s, KIND_NODE, NULL, name, "status", patch);
}

void sync_static_nodes(struct sync *s)
{
        for (int i = 1; i <= s->c->options.static_nodes; i++) {
                char name[32];
                snprintf(name, sizeof(name), "node-%d", i);
                _cleanup_json_ json_t *labels = json_pack(
                        "{ss ss ss ss}", "kubernetes.io/hostname", name, "kubernetes.io/os",
                        "linux", "kubernetes.io/arch", "amd64", BACKEND_LABEL, "static");
                ensure_node(s, name, labels, NULL, "4", "8Gi", true);
        }
        /* Static nodes beyond --nodes (a restart with --data and fewer nodes) are gone machines. */
        const char *key;
        json_t *node;
        json_object_foreach (s->objects[KIND_NODE], key, node) {
                const char *backend = json_string_value(json_object_get(
                        json_object_get(json_object_get(node, "metadata"), "labels"),
                        BACKEND_LABEL));
                int index = 0;
                if (!backend || strcmp(backend, "static") != 0 || object_terminating(node))
                        continue;
                if (sscanf(key, "node-%d", &index) == 1 && index >= 1 &&
                    index <= s->c->options.static_nodes)
                        continue;
                api_delete(s, KIND_NODE, NULL, key, -1);
        }
}

/* ---------------------------------------------------------------- scheduler */

static int bind_pod(struct sync *s, const json_t *pod, const char *node)
{
        char path[600];
        if (s->c->binding_mode != 2) {
                object_path(KIND_POD, object_namespace(pod), object_name(pod), "binding", path,
                            sizeof(path));
                _cleanup_json_ json_t *binding = json_pack(
                        "{ss ss s{ss ss} s{ss ss ss}}", "apiVersion", "v1", "kind", "Binding",
                        "metadata", "name", object_name(pod), "namespace", object_namespace(pod),
                        "target", "apiVersion", "v1", "kind", "Node", "name", node);
                long status = 0;
                int r = kclient_request(s->client, "POST", path, binding, NULL, &status, NULL);
                if (r < 0)
                        return r;
                if (status >= 200 && status < 300) {
                        s->c->binding_mode = 1;
                        return 0;
                }
                if (status != 404 && status != 405)
                        return api_status_from_http(status);
                /* No pods/binding on this server: set spec.nodeName directly. */
                s->c->binding_mode = 2;
        }
        _cleanup_json_ json_t *patch = json_pack("{s{ss}}", "spec", "nodeName", node);
        return api_merge_patch(s, KIND_POD, object_namespace(pod), object_name(pod), NULL, patch);
}

void sync_scheduler(struct sync *s)
{
        json_t *pods = s->objects[KIND_POD];
        const char *key;
        json_t *pod;
        void *tmp;
        json_object_foreach_safe (pods, tmp, key, pod) {
                const json_t *spec = json_object_get(pod, "spec");
                if (json_object_get(spec, "nodeName") || !pod_active(pod))
                        continue;
                const char *scheduler = json_string_value(json_object_get(spec, "schedulerName"));
                if (scheduler && strcmp(scheduler, "default-scheduler") != 0)
                        continue;
                char node[256], message[512];
                int r = schedule_pod(pod, s->objects[KIND_NODE], pods, node, sizeof(node), message,
                                     sizeof(message));
                if (r == 0) {
                        if (bind_pod(s, pod, node) < 0)
                                continue;
                        emit_event(s, pod, "Pod", "v1", "Normal", "Scheduled", "default-scheduler",
                                   "Successfully assigned %s/%s to %s", object_namespace(pod),
                                   object_name(pod), node);
                        /* Later pods of this pass must see this one placed (spreading, capacity).
                         */
                        json_t *copy = json_deep_copy(pod);
                        json_object_set_new(json_object_get(copy, "spec"), "nodeName",
                                            json_string(node));
                        json_object_set_new(pods, key, copy);
                        continue;
                }
                if (r != -ENOSPC)
                        continue;
                const json_t *scheduled = condition_get(pod, "PodScheduled");
                const char *old_message = json_string_value(json_object_get(scheduled, "message"));
                if (old_message && strcmp(old_message, message) == 0)
                        continue;
                _cleanup_json_ json_t *conditions = conditions_set(
                        json_object_get(json_object_get(pod, "status"), "conditions"),
                        "PodScheduled", "False", "Unschedulable", message, s->now_text, false);
                _cleanup_json_ json_t *status =
                        json_pack("{ss sO}", "phase", "Pending", "conditions", conditions);
                pod_patch_status(s, pod, status);
                emit_event(s, pod, "Pod", "v1", "Warning", "FailedScheduling", "default-scheduler",
                           "%s", message);
        }
}

/* ---------------------------------------------------------------- node lifecycle */

static bool has_taint(const json_t *node, const char *key, const char *effect)
{
        size_t i;
        json_t *t;
        json_array_foreach (json_object_get(json_object_get(node, "spec"), "taints"), i, t) {
                const char *k = json_string_value(json_object_get(t, "key"));
                const char *e = json_string_value(json_object_get(t, "effect"));
                if (k && e && strcmp(k, key) == 0 && strcmp(e, effect) == 0)
                        return true;
        }
        return false;
}

/* Set the node's not-ready/unreachable taints to match its Ready condition. */
static void reconcile_taints(struct sync *s, const json_t *node)
{
        const char *ready = condition_status(node, "Ready");
        const char *want = NULL;
        if (ready && strcmp(ready, "False") == 0)
                want = TAINT_NOT_READY;
        else if (ready && strcmp(ready, "Unknown") == 0)
                want = TAINT_UNREACHABLE;
        bool ok = true;
        const char *keys[] = {TAINT_NOT_READY, TAINT_UNREACHABLE};
        for (size_t k = 0; k < 2; k++) {
                bool wanted = want && strcmp(want, keys[k]) == 0;
                if (has_taint(node, keys[k], "NoExecute") != wanted ||
                    has_taint(node, keys[k], "NoSchedule") != wanted)
                        ok = false;
        }
        if (ok)
                return;
        _cleanup_json_ json_t *taints = json_array();
        size_t i;
        json_t *t;
        json_array_foreach (json_object_get(json_object_get(node, "spec"), "taints"), i, t) {
                const char *k = json_string_value(json_object_get(t, "key"));
                if (k && (strcmp(k, TAINT_NOT_READY) == 0 || strcmp(k, TAINT_UNREACHABLE) == 0))
                        continue;
                json_array_append(taints, t);
        }
        if (want) {
                json_array_append_new(taints,
                                      json_pack("{ss ss}", "key", want, "effect", "NoSchedule"));
                json_array_append_new(taints, json_pack("{ss ss ss}", "key", want, "effect",
                                                        "NoExecute", "timeAdded", s->now_text));
        }
        _cleanup_json_ json_t *patch = json_pack("{s{sO}}", "spec", "taints", taints);
        api_merge_patch(s, KIND_NODE, NULL, object_name(node), NULL, patch);
}

static const json_t *noexecute_taint(const json_t *node)
{
        size_t i;
        json_t *t;
        json_array_foreach (json_object_get(json_object_get(node, "spec"), "taints"), i, t) {
                const char *k = json_string_value(json_object_get(t, "key"));
                const char *e = json_string_value(json_object_get(t, "effect"));
                if (k && e && strcmp(e, "NoExecute") == 0 &&
                    (strcmp(k, TAINT_NOT_READY) == 0 || strcmp(k, TAINT_UNREACHABLE) == 0))
                        return t;
        }
        return NULL;
}

void sync_node_lifecycle(struct sync *s)
{
        const char *key;
        json_t *node;
        json_object_foreach (s->objects[KIND_NODE], key, node)
                reconcile_taints(s, node);
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                const char *node_name = json_string_value(
                        json_object_get(json_object_get(pod, "spec"), "nodeName"));
                if (!node_name)
                        continue;
                node = json_object_get(s->objects[KIND_NODE], node_name);
                if (!node) {
                        /* podgc: a terminating pod whose node is gone can never be confirmed dead.
                         */
                        if (object_terminating(pod))
                                api_delete(s, KIND_POD, object_namespace(pod), object_name(pod), 0);
                        continue;
                }
                if (node_ready(node) || !condition_status(node, "Ready"))
                        continue;
                /* MarkPodsNotReady */
                const char *ready = condition_status(pod, "Ready");
                if (ready && strcmp(ready, "False") != 0) {
                        json_t *c1 = conditions_set(
                                json_object_get(json_object_get(pod, "status"), "conditions"),
                                "Ready", "False", "NodeNotReady", "Node is not ready", s->now_text,
                                false);
                        _cleanup_json_ json_t *status = json_pack("{so}", "conditions", c1);
                        pod_patch_status(s, pod, status);
                }
                if (object_terminating(pod))
                        continue;
                /* Taint-based eviction after the pod's toleration (default 300 s). */
                const json_t *taint = noexecute_taint(node);
                if (!taint)
                        continue;
                int64_t seconds = pod_toleration_seconds(pod, taint);
                if (seconds < 0)
                        continue;
                time_t added = 0;
                const char *added_text = json_string_value(json_object_get(taint, "timeAdded"));
                if (added_text && clock_parse_rfc3339(added_text, &added) < 0)
                        added = 0;
                if (added_text && (int64_t)added * 1000 + seconds * 1000 > s->now_ms)
                        continue;
                log_emit(LOG_LEVEL_INFO,
                         json_pack("{ss ss ss}", "pod", object_name(pod), "namespace",
                                   object_namespace(pod), "node", node_name),
                         "fakekube controllers: evicting a pod from a NotReady node");
                if (api_delete(s, KIND_POD, object_namespace(pod), object_name(pod), -1) == 0)
                        emit_event(s, pod, "Pod", "v1", "Normal", "TaintManagerEviction",
                                   "taint-eviction-controller", "Marking for deletion Pod %s/%s",
                                   object_namespace(pod), object_name(pod));
        }
}

/* ---------------------------------------------------------------- libvirt nodes */

struct domain_seen {
        char name[256];
        int64_t running_since_ms; /* monotonic, 0 when not running */
};

/* Text of <NAME>…</NAME> in the metadata libvirt returns (prefix stripped). */
static void metadata_field(const char *xml, const char *name, char *buf, size_t size)
{
        char open[64], close[64];
        snprintf(open, sizeof(open), "<%s>", name);
        snprintf(close, sizeof(close), "</%s>", name);
        buf[0] = '\0';
        const char *start = xml ? strstr(xml, open) : NULL;
        if (!start)
                return;
        start += strlen(open);
        const char *end = strstr(start, close);
        if (!end)
                return;
        size_t n = (size_t)(end - start) < size - 1 ? (size_t)(end - start) : size - 1;
        memcpy(buf, start, n);
        buf[n] = '\0';
        /* Names are DNS-1123: only &amp; could appear, and only in broken input. */
}

static void silence_libvirt(void *userdata, virErrorPtr error)
{
}

static void libvirt_pass(struct sync *s, virConnectPtr conn, struct domain_seen *seen,
                         size_t *n_seen, size_t cap)
{
        virDomainPtr *domains = NULL;
        int n = virConnectListAllDomains(conn, &domains, 0);
        if (n < 0)
                return;
        _cleanup_json_ json_t *alive = json_object();
        for (int i = 0; i < n; i++) {
                virDomainPtr dom = domains[i];
                char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                                 VMCTL_NAMESPACE_URI, 0);
                /* Our own copy: the name belongs to dom, which is freed below. */
                char name[256];
                snprintf(name, sizeof(name), "%s", virDomainGetName(dom) ?: "");
                const char *prefix = s->c->options.libvirt_domain_prefix;
                if (!xml || !name[0] || (prefix && strncmp(name, prefix, strlen(prefix)) != 0)) {
                        free(xml);
                        virDomainFree(dom);
                        continue;
                }
                char pool[256], owner[512];
                metadata_field(xml, "pool", pool, sizeof(pool));
                metadata_field(xml, "owner", owner, sizeof(owner));
                free(xml);
                json_object_set_new(alive, name, json_true());
                int state = 0, reason = 0;
                bool running = virDomainGetState(dom, &state, &reason, 0) == 0 &&
                               state == VIR_DOMAIN_RUNNING;
                virDomainInfo info;
                char cpu[32] = "1", memory[32] = "64Mi";
                if (virDomainGetInfo(dom, &info) == 0) {
                        snprintf(cpu, sizeof(cpu), "%u", info.nrVirtCpu ? info.nrVirtCpu : 1);
                        snprintf(memory, sizeof(memory), "%luKi", info.maxMem);
                }
                struct domain_seen *d = NULL;
                for (size_t k = 0; k < *n_seen; k++)
                        if (strcmp(seen[k].name, name) == 0)
                                d = &seen[k];
                if (!d && *n_seen < cap) {
                        d = &seen[(*n_seen)++];
                        *d = (struct domain_seen){0};
                        snprintf(d->name, sizeof(d->name), "%s", name);
                }
                virDomainFree(dom);
                if (!d)
                        continue;
                if (!running) {
                        d->running_since_ms = 0;
                        /* A stopped domain's node stays registered, NotReady (Ready=Unknown). */
                        const json_t *node = json_object_get(s->objects[KIND_NODE], name);
                        if (node)
                                ensure_node(s, name, NULL, NULL, cpu, memory, false);
                        continue;
                }
                if (d->running_since_ms == 0)
                        d->running_since_ms = s->mono_ms;
                if (s->mono_ms - d->running_since_ms < s->c->options.node_boot_delay_ms)
                        continue;
                _cleanup_json_ json_t *labels = json_pack(
                        "{ss ss ss ss}", "kubernetes.io/hostname", name, "kubernetes.io/os",
                        "linux", "kubernetes.io/arch", "amd64", BACKEND_LABEL, "libvirt");
                if (pool[0])
                        json_object_set_new(labels, "tripdeal.io/pool", json_string(pool));
                _cleanup_json_ json_t *annotations =
                        owner[0] ? json_pack("{ss}", "tripdeal.io/owner", owner) : NULL;
                ensure_node(s, name, labels, annotations, cpu, memory, true);
        }
        free(domains);
        /* Undefined domains: their nodes go away. */
        const char *key;
        json_t *node;
        json_object_foreach (s->objects[KIND_NODE], key, node) {
                const char *backend = json_string_value(json_object_get(
                        json_object_get(json_object_get(node, "metadata"), "labels"),
                        BACKEND_LABEL));
                if (backend && strcmp(backend, "libvirt") == 0 && !json_object_get(alive, key) &&
                    !object_terminating(node))
                        api_delete(s, KIND_NODE, NULL, key, -1);
        }
        for (size_t k = 0; k < *n_seen;) {
                if (!json_object_get(alive, seen[k].name))
                        seen[k] = seen[--*n_seen];
                else
                        k++;
        }
}

static void *libvirt_thread(void *userdata)
{
        struct controllers *c = userdata;
        _cleanup_(kclient_freep) struct kclient *client = NULL;
        if (kclient_new(&c->client_options, &client) < 0)
                return NULL;
        virSetErrorFunc(NULL, silence_libvirt);
        virConnectPtr conn = NULL;
        enum { CAP = 1024 };
        struct domain_seen *seen = calloc(CAP, sizeof(*seen));
        size_t n_seen = 0;
        bool warned = false;
        bool want[KIND_COUNT] = {[KIND_NODE] = true};
        while (!atomic_load(&c->stop) && seen) {
                if (!conn) {
                        conn = virConnectOpen(c->libvirt_uri);
                        if (!conn && !warned) {
                                log_emit(LOG_LEVEL_WARN, json_pack("{ss}", "uri", c->libvirt_uri),
                                         "fakekube controllers: cannot connect to libvirt, "
                                         "retrying");
                                warned = true;
                        }
                }
                if (conn && store_synced(&c->store, want)) {
                        struct sync s = {.c = c, .client = client};
                        s.objects[KIND_NODE] = store_snapshot(&c->store, KIND_NODE);
                        s.now_ms = clock_realtime_ms();
                        s.mono_ms = clock_monotonic_ms();
                        clock_format_rfc3339(s.now_ms / 1000, s.now_text, sizeof(s.now_text));
                        libvirt_pass(&s, conn, seen, &n_seen, CAP);
                        json_decref(s.objects[KIND_NODE]);
                        if (virConnectIsAlive(conn) != 1) {
                                virConnectClose(conn);
                                conn = NULL;
                        }
                }
                for (int i = 0; i < 10 && !atomic_load(&c->stop); i++)
                        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
        }
        if (conn)
                virConnectClose(conn);
        free(seen);
        return NULL;
}

int libvirt_nodes_start(struct controllers *c)
{
        int r = pthread_create(&c->libvirt_thread, NULL, libvirt_thread, c);
        if (r != 0)
                return -r;
        c->libvirt_running = true;
        return 0;
}
