/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-side Table output (meta.k8s.io/v1 Table), with the columns
 * Kubernetes' own printers use for built-in kinds and the
 * additionalPrinterColumns of CRDs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fakekube.h"
#include "macros.h"
#include "selector.h"
#include "table.h"

/* Go's duration.HumanDuration, as kubectl prints ages. */
void format_age(int64_t seconds, char *buf, size_t size)
{
        if (seconds < -1) {
                snprintf(buf, size, "<invalid>");
                return;
        }
        if (seconds < 0)
                seconds = 0;
        if (seconds < 120) {
                snprintf(buf, size, "%llds", (long long)seconds);
                return;
        }
        int64_t minutes = seconds / 60;
        if (minutes < 10) {
                int64_t s = seconds % 60;
                if (s == 0)
                        snprintf(buf, size, "%lldm", (long long)minutes);
                else
                        snprintf(buf, size, "%lldm%llds", (long long)minutes, (long long)s);
                return;
        }
        if (minutes < 180) {
                snprintf(buf, size, "%lldm", (long long)minutes);
                return;
        }
        int64_t hours = seconds / 3600;
        if (hours < 8) {
                int64_t m = minutes % 60;
                if (m == 0)
                        snprintf(buf, size, "%lldh", (long long)hours);
                else
                        snprintf(buf, size, "%lldh%lldm", (long long)hours, (long long)m);
                return;
        }
        if (hours < 48) {
                snprintf(buf, size, "%lldh", (long long)hours);
                return;
        }
        if (hours < 24 * 8) {
                int64_t h = hours % 24;
                if (h == 0)
                        snprintf(buf, size, "%lldd", (long long)(hours / 24));
                else
                        snprintf(buf, size, "%lldd%lldh", (long long)(hours / 24), (long long)h);
                return;
        }
        if (hours < 24 * 365 * 2) {
                snprintf(buf, size, "%lldd", (long long)(hours / 24));
                return;
        }
        if (hours < 24 * 365 * 8) {
                int64_t dy = (hours / 24) % 365;
                if (dy == 0)
                        snprintf(buf, size, "%lldy", (long long)(hours / 24 / 365));
                else
                        snprintf(buf, size, "%lldy%lldd", (long long)(hours / 24 / 365),
                                 (long long)dy);
                return;
        }
        snprintf(buf, size, "%lldy", (long long)(hours / 24 / 365));
}

static json_t *age_of(const char *timestamp)
{
        time_t t;
        if (!timestamp || clock_parse_rfc3339(timestamp, &t) < 0)
                return json_string("<unknown>");
        char buf[32];
        format_age((int64_t)(time(NULL) - t), buf, sizeof(buf));
        return json_string(buf);
}

static json_t *get(json_t *obj, const char *dotted)
{
        _cleanup_free_ char *copy = strdup(dotted);
        json_t *cur = obj;
        char *save = NULL;
        for (char *p = copy ? strtok_r(copy, ".", &save) : NULL; p && cur;
             p = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, p);
        return cur;
}

static const char *str(json_t *obj, const char *dotted, const char *fallback)
{
        const char *v = json_string_value(get(obj, dotted));
        return v ? v : fallback;
}

static long long num(json_t *obj, const char *dotted)
{
        return json_integer_value(get(obj, dotted));
}

static json_t *str_or_none(const char *s)
{
        return json_string(s && s[0] ? s : "<none>");
}

struct column {
        const char *name, *type, *format;
        int priority;
};

#define COL(n, t)           \
        {                   \
                n, t, "", 0 \
        }
#define COLF(n, t, f)      \
        {                  \
                n, t, f, 0 \
        }
#define WIDE(n, t)          \
        {                   \
                n, t, "", 1 \
        }

static json_t *columns_json(const struct column *cols, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a,
                                      json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", cols[i].name,
                                                "type", cols[i].type, "format", cols[i].format,
                                                "description", "", "priority", cols[i].priority));
        return a;
}

static json_t *joined(json_t *list, const char *field)
{
        char buf[1024] = "";
        size_t i;
        json_t *it;
        json_array_foreach (list, i, it) {
                const char *v = json_string_value(field ? json_object_get(it, field) : it);
                if (!v)
                        continue;
                if (buf[0])
                        strncat(buf, ",", sizeof(buf) - strlen(buf) - 1);
                strncat(buf, v, sizeof(buf) - strlen(buf) - 1);
        }
        return str_or_none(buf);
}

static const char *pod_status(json_t *pod)
{
        if (get(pod, "metadata.deletionTimestamp"))
                return "Terminating";
        const char *reason = str(pod, "status.reason", NULL);
        if (reason)
                return reason;
        size_t i;
        json_t *c;
        const char *out = str(pod, "status.phase", "Pending");
        json_array_foreach (get(pod, "status.containerStatuses"), i, c) {
                const char *w = str(c, "state.waiting.reason", NULL);
                const char *t = str(c, "state.terminated.reason", NULL);
                if (w)
                        out = w;
                else if (t)
                        out = t;
        }
        return out;
}

static const struct column pod_cols[] = {COLF("Name", "string", "name"),
                                         COL("Ready", "string"),
                                         COL("Status", "string"),
                                         COL("Restarts", "string"),
                                         COL("Age", "string"),
                                         WIDE("IP", "string"),
                                         WIDE("Node", "string"),
                                         WIDE("Nominated Node", "string"),
                                         WIDE("Readiness Gates", "string")};

static json_t *pod_cells(json_t *o)
{
        int total = (int)json_array_size(get(o, "spec.containers")), ready = 0;
        long long restarts = 0;
        size_t i;
        json_t *c;
        json_array_foreach (get(o, "status.containerStatuses"), i, c) {
                if (json_is_true(json_object_get(c, "ready")))
                        ready++;
                restarts += json_integer_value(json_object_get(c, "restartCount"));
        }
        char r[32], rs[32];
        snprintf(r, sizeof(r), "%d/%d", ready, total);
        snprintf(rs, sizeof(rs), "%lld", restarts);
        return json_pack("[s, s, s, s, o, o, o, s, s]", str(o, "metadata.name", ""), r,
                         pod_status(o), rs, age_of(str(o, "metadata.creationTimestamp", NULL)),
                         str_or_none(str(o, "status.podIP", NULL)),
                         str_or_none(str(o, "spec.nodeName", NULL)), "<none>", "<none>");
}

static json_t *selector_text(json_t *sel)
{
        _cleanup_free_ char *s = label_selector_json_to_string(sel);
        return str_or_none(s);
}

static const struct column deploy_cols[] = {
        COLF("Name", "string", "name"), COL("Ready", "string"),    COL("Up-to-date", "integer"),
        COL("Available", "integer"),    COL("Age", "string"),      WIDE("Containers", "string"),
        WIDE("Images", "string"),       WIDE("Selector", "string")};

static json_t *deploy_cells(json_t *o)
{
        char ready[64];
        snprintf(ready, sizeof(ready), "%lld/%lld", num(o, "status.readyReplicas"),
                 num(o, "spec.replicas"));
        return json_pack("[s, s, I, I, o, o, o, o]", str(o, "metadata.name", ""), ready,
                         (json_int_t)num(o, "status.updatedReplicas"),
                         (json_int_t)num(o, "status.availableReplicas"),
                         age_of(str(o, "metadata.creationTimestamp", NULL)),
                         joined(get(o, "spec.template.spec.containers"), "name"),
                         joined(get(o, "spec.template.spec.containers"), "image"),
                         selector_text(get(o, "spec.selector")));
}

static const struct column rs_cols[] = {
        COLF("Name", "string", "name"), COL("Desired", "integer"), COL("Current", "integer"),
        COL("Ready", "integer"),        COL("Age", "string"),      WIDE("Containers", "string"),
        WIDE("Images", "string"),       WIDE("Selector", "string")};

static json_t *rs_cells(json_t *o)
{
        return json_pack("[s, I, I, I, o, o, o, o]", str(o, "metadata.name", ""),
                         (json_int_t)num(o, "spec.replicas"), (json_int_t)num(o, "status.replicas"),
                         (json_int_t)num(o, "status.readyReplicas"),
                         age_of(str(o, "metadata.creationTimestamp", NULL)),
                         joined(get(o, "spec.template.spec.containers"), "name"),
                         joined(get(o, "spec.template.spec.containers"), "image"),
                         selector_text(get(o, "spec.selector")));
}

static const struct column svc_cols[] = {
        COLF("Name", "string", "name"), COL("Type", "string"),    COL("Cluster-IP", "string"),
        COL("External-IP", "string"),   COL("Port(s)", "string"), COL("Age", "string"),
        WIDE("Selector", "string")};

static json_t *svc_cells(json_t *o)
{
        char ports[512] = "";
        size_t i;
        json_t *p;
        json_array_foreach (get(o, "spec.ports"), i, p) {
                char one[64];
                long long np = json_integer_value(json_object_get(p, "nodePort"));
                if (np)
                        snprintf(one, sizeof(one), "%lld:%lld/%s",
                                 (long long)json_integer_value(json_object_get(p, "port")), np,
                                 str(p, "protocol", "TCP"));
                else
                        snprintf(one, sizeof(one), "%lld/%s",
                                 (long long)json_integer_value(json_object_get(p, "port")),
                                 str(p, "protocol", "TCP"));
                if (ports[0])
                        strncat(ports, ",", sizeof(ports) - strlen(ports) - 1);
                strncat(ports, one, sizeof(ports) - strlen(ports) - 1);
        }
        char selector[512] = "";
        const char *k;
        json_t *v;
        json_object_foreach (get(o, "spec.selector"), k, v) {
                char one[256];
                snprintf(one, sizeof(one), "%s%s=%s", selector[0] ? "," : "", k,
                         json_string_value(v) ?: "");
                strncat(selector, one, sizeof(selector) - strlen(selector) - 1);
        }
        const char *type = str(o, "spec.type", "ClusterIP");
        const char *ext = strcmp(type, "LoadBalancer") == 0 ? "<pending>" : "<none>";
        return json_pack("[s, s, s, s, o, o, o]", str(o, "metadata.name", ""), type,
                         str(o, "spec.clusterIP", "<none>"), ext, str_or_none(ports),
                         age_of(str(o, "metadata.creationTimestamp", NULL)), str_or_none(selector));
}

static const struct column ns_cols[] = {COLF("Name", "string", "name"), COL("Status", "string"),
                                        COL("Age", "string")};

static json_t *ns_cells(json_t *o)
{
        return json_pack("[s, s, o]", str(o, "metadata.name", ""), str(o, "status.phase", "Active"),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column cm_cols[] = {COLF("Name", "string", "name"), COL("Data", "string"),
                                        COL("Age", "string")};

static json_t *cm_cells(json_t *o)
{
        return json_pack("[s, I, o]", str(o, "metadata.name", ""),
                         (json_int_t)(json_object_size(get(o, "data")) +
                                      json_object_size(get(o, "binaryData"))),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column secret_cols[] = {COLF("Name", "string", "name"), COL("Type", "string"),
                                            COL("Data", "string"), COL("Age", "string")};

static json_t *secret_cells(json_t *o)
{
        return json_pack("[s, s, I, o]", str(o, "metadata.name", ""), str(o, "type", "Opaque"),
                         (json_int_t)json_object_size(get(o, "data")),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column node_cols[] = {
        COLF("Name", "string", "name"),   COL("Status", "string"),
        COL("Roles", "string"),           COL("Age", "string"),
        COL("Version", "string"),         WIDE("Internal-IP", "string"),
        WIDE("External-IP", "string"),    WIDE("OS-Image", "string"),
        WIDE("Kernel-Version", "string"), WIDE("Container-Runtime", "string")};

static json_t *node_cells(json_t *o)
{
        const char *status = "Unknown";
        size_t i;
        json_t *c;
        json_array_foreach (get(o, "status.conditions"), i, c) {
                if (strcmp(str(c, "type", ""), "Ready") == 0)
                        status = strcmp(str(c, "status", ""), "True") == 0 ? "Ready" : "NotReady";
        }
        char st[64];
        snprintf(st, sizeof(st), "%s%s", status,
                 json_is_true(get(o, "spec.unschedulable")) ? ",SchedulingDisabled" : "");
        char roles[256] = "";
        const char *k;
        json_t *v;
        json_object_foreach (get(o, "metadata.labels"), k, v) {
                if (strncmp(k, "node-role.kubernetes.io/", 24) == 0) {
                        if (roles[0])
                                strncat(roles, ",", sizeof(roles) - strlen(roles) - 1);
                        strncat(roles, k + 24, sizeof(roles) - strlen(roles) - 1);
                }
        }
        const char *internal = NULL, *external = NULL;
        json_array_foreach (get(o, "status.addresses"), i, c) {
                if (strcmp(str(c, "type", ""), "InternalIP") == 0)
                        internal = str(c, "address", NULL);
                if (strcmp(str(c, "type", ""), "ExternalIP") == 0)
                        external = str(c, "address", NULL);
        }
        return json_pack("[s, s, o, o, s, o, o, o, o, o]", str(o, "metadata.name", ""), st,
                         str_or_none(roles), age_of(str(o, "metadata.creationTimestamp", NULL)),
                         str(o, "status.nodeInfo.kubeletVersion", ""), str_or_none(internal),
                         str_or_none(external),
                         str_or_none(str(o, "status.nodeInfo.osImage", NULL)),
                         str_or_none(str(o, "status.nodeInfo.kernelVersion", NULL)),
                         str_or_none(str(o, "status.nodeInfo.containerRuntimeVersion", NULL)));
}

static const struct column ep_cols[] = {COLF("Name", "string", "name"), COL("Endpoints", "string"),
                                        COL("Age", "string")};

static json_t *ep_cells(json_t *o)
{
        char buf[512] = "";
        size_t i, j, k;
        json_t *subset, *addr, *port;
        json_array_foreach (get(o, "subsets"), i, subset) {
                json_array_foreach (json_object_get(subset, "addresses"), j, addr) {
                        json_array_foreach (json_object_get(subset, "ports"), k, port) {
                                char one[128];
                                snprintf(one, sizeof(one), "%s%s:%lld", buf[0] ? "," : "",
                                         str(addr, "ip", ""),
                                         (long long)json_integer_value(
                                                 json_object_get(port, "port")));
                                strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
                        }
                }
        }
        return json_pack("[s, o, o]", str(o, "metadata.name", ""), str_or_none(buf),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column event_cols[] = {COL("Last Seen", "string"), COL("Type", "string"),
                                           COL("Reason", "string"), COL("Object", "string"),
                                           COL("Message", "string")};

static json_t *event_cells(json_t *o)
{
        const char *last = str(o, "lastTimestamp", NULL);
        if (!last)
                last = str(o, "eventTime", NULL);
        if (!last)
                last = str(o, "metadata.creationTimestamp", NULL);
        json_t *regarding = get(o, "involvedObject");
        if (!regarding)
                regarding = get(o, "regarding");
        char object[300];
        const char *kind = str(regarding, "kind", "");
        char lower[64];
        snprintf(lower, sizeof(lower), "%s", kind);
        for (char *p = lower; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        snprintf(object, sizeof(object), "%s/%s", lower, str(regarding, "name", ""));
        const char *message = str(o, "message", NULL);
        if (!message)
                message = str(o, "note", "");
        return json_pack("[o, s, s, s, s]", age_of(last), str(o, "type", ""), str(o, "reason", ""),
                         object, message);
}

static const struct column hpa_cols[] = {COLF("Name", "string", "name"),
                                         COL("Reference", "string"),
                                         COL("Targets", "string"),
                                         COL("MinPods", "string"),
                                         COL("MaxPods", "string"),
                                         COL("Replicas", "string"),
                                         COL("Age", "string")};

static json_t *hpa_cells(json_t *o)
{
        char ref[300], targets[256] = "", minp[32];
        snprintf(ref, sizeof(ref), "%s/%s", str(o, "spec.scaleTargetRef.kind", ""),
                 str(o, "spec.scaleTargetRef.name", ""));
        size_t i;
        json_t *m;
        json_array_foreach (get(o, "spec.metrics"), i, m) {
                const char *name = str(m, "resource.name", "metric");
                json_t *target = get(m, "resource.target.averageUtilization");
                long long current = -1;
                size_t j;
                json_t *c;
                json_array_foreach (get(o, "status.currentMetrics"), j, c) {
                        if (strcmp(str(c, "resource.name", ""), name) == 0 &&
                            get(c, "resource.current.averageUtilization"))
                                current = num(c, "resource.current.averageUtilization");
                }
                char one[96], cur[32];
                if (current >= 0)
                        snprintf(cur, sizeof(cur), "%lld%%", current);
                else
                        snprintf(cur, sizeof(cur), "<unknown>");
                if (target)
                        snprintf(one, sizeof(one), "%s%s: %s/%lld%%", targets[0] ? ", " : "", name,
                                 cur, (long long)json_integer_value(target));
                else
                        snprintf(one, sizeof(one), "%s%s: %s", targets[0] ? ", " : "", name, cur);
                strncat(targets, one, sizeof(targets) - strlen(targets) - 1);
        }
        snprintf(minp, sizeof(minp), "%lld",
                 get(o, "spec.minReplicas") ? num(o, "spec.minReplicas") : 1);
        char maxp[32], reps[32];
        snprintf(maxp, sizeof(maxp), "%lld", num(o, "spec.maxReplicas"));
        snprintf(reps, sizeof(reps), "%lld", num(o, "status.currentReplicas"));
        return json_pack("[s, s, o, s, s, s, o]", str(o, "metadata.name", ""), ref,
                         str_or_none(targets), minp, maxp, reps,
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column ing_cols[] = {COLF("Name", "string", "name"), COL("Class", "string"),
                                         COL("Hosts", "string"),         COL("Address", "string"),
                                         COL("Ports", "string"),         COL("Age", "string")};

static json_t *ing_cells(json_t *o)
{
        char hosts[512] = "";
        size_t i;
        json_t *rule;
        json_array_foreach (get(o, "spec.rules"), i, rule) {
                const char *h = str(rule, "host", "*");
                if (hosts[0])
                        strncat(hosts, ",", sizeof(hosts) - strlen(hosts) - 1);
                strncat(hosts, h, sizeof(hosts) - strlen(hosts) - 1);
        }
        return json_pack("[s, o, s, s, s, o]", str(o, "metadata.name", ""),
                         str_or_none(str(o, "spec.ingressClassName", NULL)), hosts[0] ? hosts : "*",
                         "", json_array_size(get(o, "spec.tls")) ? "80, 443" : "80",
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column pdb_cols[] = {
        COLF("Name", "string", "name"), COL("Min Available", "string"),
        COL("Max Unavailable", "string"), COL("Allowed Disruptions", "integer"),
        COL("Age", "string")};

static json_t *int_or_string_text(json_t *v)
{
        if (json_is_integer(v)) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
                return json_string(buf);
        }
        return str_or_none(json_string_value(v));
}

static json_t *pdb_cells(json_t *o)
{
        return json_pack("[s, o, o, I, o]", str(o, "metadata.name", ""),
                         int_or_string_text(get(o, "spec.minAvailable")),
                         int_or_string_text(get(o, "spec.maxUnavailable")),
                         (json_int_t)num(o, "status.disruptionsAllowed"),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column lease_cols[] = {COLF("Name", "string", "name"), COL("Holder", "string"),
                                           COL("Age", "string")};

static json_t *lease_cells(json_t *o)
{
        return json_pack("[s, s, o]", str(o, "metadata.name", ""),
                         str(o, "spec.holderIdentity", ""),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column crd_cols[] = {COLF("Name", "string", "name"),
                                         COLF("Created At", "date", "")};

static json_t *crd_cells(json_t *o)
{
        return json_pack("[s, s]", str(o, "metadata.name", ""),
                         str(o, "metadata.creationTimestamp", ""));
}

static const struct column default_cols[] = {COLF("Name", "string", "name"), COL("Age", "string")};

static json_t *default_cells(json_t *o)
{
        return json_pack("[s, o]", str(o, "metadata.name", ""),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column job_cols[] = {
        COLF("Name", "string", "name"), COL("Status", "string"),   COL("Completions", "string"),
        COL("Duration", "string"),      COL("Age", "string"),      WIDE("Containers", "string"),
        WIDE("Images", "string"),       WIDE("Selector", "string")};

static json_t *job_cells(json_t *o)
{
        const char *status = "Running";
        size_t i;
        json_t *c;
        json_array_foreach (get(o, "status.conditions"), i, c) {
                const char *type = str(c, "type", "");
                if (strcmp(str(c, "status", ""), "True") != 0)
                        continue;
                if (strcmp(type, "Complete") == 0)
                        status = "Complete";
                else if (strcmp(type, "Failed") == 0)
                        status = "Failed";
                else if (strcmp(type, "Suspended") == 0)
                        status = "Suspended";
        }
        char completions[64], duration[32] = "";
        json_t *want = get(o, "spec.completions");
        snprintf(completions, sizeof(completions), "%lld/%lld", num(o, "status.succeeded"),
                 want ? (long long)json_integer_value(want) : 1LL);
        time_t start, end;
        if (clock_parse_rfc3339(str(o, "status.startTime", ""), &start) == 0) {
                if (clock_parse_rfc3339(str(o, "status.completionTime", ""), &end) < 0)
                        end = time(NULL);
                format_age((int64_t)(end - start), duration, sizeof(duration));
        }
        return json_pack("[s, s, s, s, o, o, o, o]", str(o, "metadata.name", ""), status,
                         completions, duration, age_of(str(o, "metadata.creationTimestamp", NULL)),
                         joined(get(o, "spec.template.spec.containers"), "name"),
                         joined(get(o, "spec.template.spec.containers"), "image"),
                         selector_text(get(o, "spec.selector")));
}

static const struct column cronjob_cols[] = {COLF("Name", "string", "name"),
                                             COL("Schedule", "string"),
                                             COL("Timezone", "string"),
                                             COL("Suspend", "boolean"),
                                             COL("Active", "integer"),
                                             COL("Last Schedule", "string"),
                                             COL("Age", "string")};

static json_t *cronjob_cells(json_t *o)
{
        const char *last = str(o, "status.lastScheduleTime", NULL);
        return json_pack("[s, s, o, b, I, o, o]", str(o, "metadata.name", ""),
                         str(o, "spec.schedule", ""), str_or_none(str(o, "spec.timeZone", NULL)),
                         json_is_true(get(o, "spec.suspend")),
                         (json_int_t)json_array_size(get(o, "status.active")),
                         last ? age_of(last) : json_string("<none>"),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column sts_cols[] = {COLF("Name", "string", "name"), COL("Ready", "string"),
                                         COL("Age", "string"), WIDE("Containers", "string"),
                                         WIDE("Images", "string")};

static json_t *sts_cells(json_t *o)
{
        char ready[64];
        snprintf(ready, sizeof(ready), "%lld/%lld", num(o, "status.readyReplicas"),
                 num(o, "spec.replicas"));
        return json_pack("[s, s, o, o, o]", str(o, "metadata.name", ""), ready,
                         age_of(str(o, "metadata.creationTimestamp", NULL)),
                         joined(get(o, "spec.template.spec.containers"), "name"),
                         joined(get(o, "spec.template.spec.containers"), "image"));
}

static const struct column sa_cols[] = {COLF("Name", "string", "name"), COL("Secrets", "string"),
                                        COL("Age", "string")};

static json_t *sa_cells(json_t *o)
{
        return json_pack("[s, I, o]", str(o, "metadata.name", ""),
                         (json_int_t)json_array_size(get(o, "secrets")),
                         age_of(str(o, "metadata.creationTimestamp", NULL)));
}

static const struct column rb_cols[] = {
        COLF("Name", "string", "name"), COL("Role", "string"),
        COL("Age", "string"),           WIDE("Users", "string"),
        WIDE("Groups", "string"),       WIDE("ServiceAccounts", "string")};

static json_t *rb_cells(json_t *o)
{
        char role[300];
        snprintf(role, sizeof(role), "%s/%s", str(o, "roleRef.kind", ""),
                 str(o, "roleRef.name", ""));
        char users[512] = "", groups[512] = "", sas[512] = "";
        size_t i;
        json_t *sub;
        json_array_foreach (get(o, "subjects"), i, sub) {
                const char *kind = str(sub, "kind", "");
                char *buf = strcmp(kind, "User") == 0    ? users
                            : strcmp(kind, "Group") == 0 ? groups
                                                         : sas;
                char one[300];
                if (buf == sas)
                        snprintf(one, sizeof(one), "%s%s/%s", buf[0] ? ", " : "",
                                 str(sub, "namespace", ""), str(sub, "name", ""));
                else
                        snprintf(one, sizeof(one), "%s%s", buf[0] ? ", " : "",
                                 str(sub, "name", ""));
                strncat(buf, one, 511 - strlen(buf));
        }
        return json_pack("[s, s, o, s, s, s]", str(o, "metadata.name", ""), role,
                         age_of(str(o, "metadata.creationTimestamp", NULL)), users, groups, sas);
}

struct printer {
        const char *group, *plural;
        const struct column *cols;
        size_t n_cols;
        json_t *(*cells)(json_t *o);
};

#define PRINTER(g, p, c, f)               \
        {                                 \
                g, p, c, ARRAY_SIZE(c), f \
        }

static const struct printer printers[] = {
        PRINTER("", "pods", pod_cols, pod_cells),
        PRINTER("apps", "deployments", deploy_cols, deploy_cells),
        PRINTER("apps", "replicasets", rs_cols, rs_cells),
        PRINTER("", "services", svc_cols, svc_cells),
        PRINTER("", "namespaces", ns_cols, ns_cells),
        PRINTER("", "configmaps", cm_cols, cm_cells),
        PRINTER("", "secrets", secret_cols, secret_cells),
        PRINTER("", "nodes", node_cols, node_cells),
        PRINTER("", "endpoints", ep_cols, ep_cells),
        PRINTER("", "events", event_cols, event_cells),
        PRINTER("events.k8s.io", "events", event_cols, event_cells),
        PRINTER("autoscaling", "horizontalpodautoscalers", hpa_cols, hpa_cells),
        PRINTER("networking.k8s.io", "ingresses", ing_cols, ing_cells),
        PRINTER("policy", "poddisruptionbudgets", pdb_cols, pdb_cells),
        PRINTER("coordination.k8s.io", "leases", lease_cols, lease_cells),
        PRINTER("apiextensions.k8s.io", "customresourcedefinitions", crd_cols, crd_cells),
        PRINTER("batch", "jobs", job_cols, job_cells),
        PRINTER("batch", "cronjobs", cronjob_cols, cronjob_cells),
        PRINTER("apps", "statefulsets", sts_cols, sts_cells),
        PRINTER("", "serviceaccounts", sa_cols, sa_cells),
        PRINTER("rbac.authorization.k8s.io", "rolebindings", rb_cols, rb_cells),
        PRINTER("rbac.authorization.k8s.io", "clusterrolebindings", rb_cols, rb_cells),
        PRINTER("rbac.authorization.k8s.io", "roles", crd_cols, crd_cells),
        PRINTER("rbac.authorization.k8s.io", "clusterroles", crd_cols, crd_cells),
};

/* A JSONPath subset for printer columns: .a.b, .a[0].b, .a[?(@.type=="Ready")].status */
static json_t *jsonpath(json_t *obj, const char *path)
{
        json_t *cur = obj;
        const char *p = path;
        if (*p == '{')
                p++;
        while (cur && *p && *p != '}') {
                if (*p == '.') {
                        p++;
                        const char *start = p;
                        while (*p && *p != '.' && *p != '[' && *p != '}')
                                p++;
                        if (p == start)
                                continue;
                        char key[256];
                        snprintf(key, sizeof(key), "%.*s", (int)(p - start), start);
                        cur = json_object_get(cur, key);
                } else if (*p == '[') {
                        p++;
                        if (p[0] == '?' && p[1] == '(' && p[2] == '@' && p[3] == '.') {
                                p += 4;
                                char field[128] = "", want[256] = "";
                                const char *eq = strstr(p, "==");
                                if (!eq)
                                        return NULL;
                                snprintf(field, sizeof(field), "%.*s", (int)(eq - p), p);
                                const char *v = eq + 2;
                                char quote = (*v == '"' || *v == '\'') ? *v++ : 0;
                                const char *end = quote ? strchr(v, quote) : strchr(v, ')');
                                if (!end)
                                        return NULL;
                                snprintf(want, sizeof(want), "%.*s", (int)(end - v), v);
                                json_t *found = NULL;
                                size_t i;
                                json_t *it;
                                json_array_foreach (cur, i, it) {
                                        if (!found &&
                                            strcmp(json_string_value(json_object_get(it, field))
                                                           ?: "",
                                                   want) == 0)
                                                found = it;
                                }
                                cur = found;
                                p = strchr(end, ']');
                                if (!p)
                                        return NULL;
                                p++;
                        } else {
                                long idx = strtol(p, (char **)&p, 10);
                                if (idx < 0)
                                        idx += (long)json_array_size(cur);
                                cur = json_array_get(cur, (size_t)idx);
                                if (*p == ']')
                                        p++;
                        }
                } else {
                        return NULL;
                }
        }
        return cur;
}

static json_t *crd_cell(json_t *column, json_t *obj)
{
        const char *type = json_string_value(json_object_get(column, "type")) ?: "string";
        json_t *v = jsonpath(obj, json_string_value(json_object_get(column, "jsonPath")) ?: "");
        if (!v || json_is_null(v))
                return json_string("<none>");
        if (strcmp(type, "date") == 0 && json_is_string(v))
                return age_of(json_string_value(v));
        if ((strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) && json_is_number(v))
                return json_incref(v);
        if (strcmp(type, "boolean") == 0 && json_is_boolean(v))
                return json_incref(v);
        if (json_is_string(v))
                return json_incref(v);
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        json_t *out = json_string(text ? text : "");
        free(text);
        return out;
}

static json_t *row_object(json_t *obj, const char *include_object)
{
        if (include_object && strcmp(include_object, "None") == 0)
                return NULL;
        if (include_object && strcmp(include_object, "Object") == 0)
                return json_incref(obj);
        return json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
                         "meta.k8s.io/v1", "metadata", json_object_get(obj, "metadata"));
}

json_t *table_build(struct server *s, const struct resource_type *t, json_t *objects,
                    const char *include_object)
{
        json_t *defs = NULL;
        json_t *rows = json_array();
        const struct printer *pr = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(printers); i++)
                if (strcmp(printers[i].group, t->group) == 0 &&
                    strcmp(printers[i].plural, t->plural) == 0)
                        pr = &printers[i];
        if (t->is_crd && json_array_size(t->printer_columns) > 0) {
                defs = json_pack("[{s:s, s:s, s:s, s:s, s:i}]", "name", "Name", "type", "string",
                                 "format", "name", "description",
                                 "Name must be unique within a namespace.", "priority", 0);
                size_t i;
                json_t *c;
                json_array_foreach (t->printer_columns, i, c) {
                        json_array_append_new(
                                defs,
                                json_pack("{s:O, s:s, s:s, s:s, s:I}", "name",
                                          json_object_get(c, "name"), "type",
                                          json_string_value(json_object_get(c, "type")) ?: "string",
                                          "format",
                                          json_string_value(json_object_get(c, "format")) ?: "",
                                          "description",
                                          json_string_value(json_object_get(c, "description"))
                                                  ?: "",
                                          "priority",
                                          json_integer_value(json_object_get(c, "priority"))));
                }
        } else if (pr) {
                defs = columns_json(pr->cols, pr->n_cols);
        } else {
                defs = columns_json(default_cols, ARRAY_SIZE(default_cols));
        }
        size_t i;
        json_t *obj;
        json_array_foreach (objects, i, obj) {
                json_t *cells;
                if (t->is_crd && json_array_size(t->printer_columns) > 0) {
                        cells = json_pack("[s]", str(obj, "metadata.name", ""));
                        size_t j;
                        json_t *c;
                        json_array_foreach (t->printer_columns, j, c) {
                                json_array_append_new(cells, crd_cell(c, obj));
                        }
                } else if (pr) {
                        cells = pr->cells(obj);
                } else {
                        cells = default_cells(obj);
                }
                json_t *row = json_pack("{s:o}", "cells", cells);
                json_t *ro = row_object(obj, include_object);
                if (ro)
                        json_object_set_new(row, "object", ro);
                json_array_append_new(rows, row);
        }
        char rv[32];
        snprintf(rv, sizeof(rv), "%llu", (unsigned long long)s->rv);
        return json_pack("{s:s, s:s, s:{s:s}, s:o, s:o}", "kind", "Table", "apiVersion",
                         "meta.k8s.io/v1", "metadata", "resourceVersion", rv, "columnDefinitions",
                         defs, "rows", rows);
}
