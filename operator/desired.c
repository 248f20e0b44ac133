/* SPDX-License-Identifier: Apache-2.0 */
/* The objects a TripDeal owns, built from its spec alone (see desired.h). */
#include "desired.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "macros.h"

static const char *const kind_names[_DESIRED_KIND_MAX] = {
        [DESIRED_CONFIGMAP] = "ConfigMap",     [DESIRED_SERVICEACCOUNT] = "ServiceAccount",
        [DESIRED_DEPLOYMENT] = "Deployment",   [DESIRED_SERVICE] = "Service",
        [DESIRED_INGRESS] = "Ingress",         [DESIRED_HPA] = "HorizontalPodAutoscaler",
        [DESIRED_PDB] = "PodDisruptionBudget",
};

const char *desired_kind_name(enum desired_kind kind)
{
        return (unsigned)kind < _DESIRED_KIND_MAX ? kind_names[kind] : "unknown";
}

/* The labels that select this TripDeal's pods.  Never change them: a
 * Deployment's selector is immutable. */
static json_t *selector_labels(const struct tripdeal_identity *owner)
{
        return json_pack("{s:s, s:s}", "app.kubernetes.io/name", "tripdeal",
                         "app.kubernetes.io/instance", owner->name);
}

static json_t *object_labels(const struct tripdeal_identity *owner)
{
        json_t *labels = selector_labels(owner);
        if (labels)
                json_object_set_new(labels, "app.kubernetes.io/managed-by",
                                    json_string(TRIPDEAL_MANAGER));
        return labels;
}

json_t *desired_owned_metadata(const struct tripdeal_identity *owner, const char *name)
{
        return json_pack("{s:s, s:s, s:o, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "name", name,
                         "namespace", owner->namespace, "labels", object_labels(owner),
                         "ownerReferences", "apiVersion", TRIPDEAL_API_VERSION, "kind",
                         TRIPDEAL_KIND, "name", owner->name, "uid", owner->uid, "controller", 1,
                         "blockOwnerDeletion", 1);
}

static json_t *object_metadata(const struct tripdeal_identity *owner)
{
        return desired_owned_metadata(owner, owner->name);
}

/* Settings the pods read as environment (envFrom).  No secrets here. */
static json_t *configmap_data(const struct tripdeal_spec *spec)
{
        char grace[16];
        snprintf(grace, sizeof(grace), "%ds", DESIRED_DRAIN_SECONDS);
        json_t *data =
                json_pack("{s:s, s:s}", "TRIPDEAL_LOG_LEVEL",
                          tripdeal_log_level_name(spec->log_level), "TRIPDEAL_GRACE_PERIOD", grace);
        if (data && spec->seed_demo)
                json_object_set_new(data, "TRIPDEAL_SEED_DEMO", json_string("1"));
        /* Behind TLS the browser must only send the session cookie over HTTPS. */
        if (data && spec->ingress_tls_secret_name)
                json_object_set_new(data, "TRIPDEAL_COOKIE_SECURE", json_string("1"));
        return data;
}

static json_t *configmap(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec)
{
        return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "ConfigMap",
                         "metadata", object_metadata(owner), "data", configmap_data(spec));
}

/* 64-bit FNV-1a of the ConfigMap's data, as 16 hex digits: envFrom is read
 * when a container starts, so the pod template must change with it. */
static json_t *config_hash(const struct tripdeal_spec *spec)
{
        _cleanup_json_ json_t *data = configmap_data(spec);
        _cleanup_free_ char *text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (!text)
                return NULL;
        uint64_t h = UINT64_C(14695981039346656037);
        for (const unsigned char *c = (const unsigned char *)text; *c; c++)
                h = (h ^ *c) * UINT64_C(1099511628211);
        char hex[17];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
        return json_string(hex);
}

static json_t *service_account(const struct tripdeal_identity *owner)
{
        /* The site never talks to the API server: no token anywhere. */
        return json_pack("{s:s, s:s, s:o, s:b}", "apiVersion", "v1", "kind", "ServiceAccount",
                         "metadata", object_metadata(owner), "automountServiceAccountToken", 0);
}

static json_t *container_env(const struct tripdeal_identity *owner,
                             const struct tripdeal_spec *spec)
{
        /* POD_IP from the downward API: the app binds its own pod address,
         * which is what lets several pods share one host in fakekube. */
        json_t *env = json_pack("[{s:s, s:{s:{s:s, s:s}}}]", "name", "POD_IP", "valueFrom",
                                "fieldRef", "apiVersion", "v1", "fieldPath", "status.podIP");
        if (!env)
                return NULL;
        if (spec->database_secret_name)
                json_array_append_new(env, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name",
                                                     "TRIPDEAL_DB", "valueFrom", "secretKeyRef",
                                                     "name", spec->database_secret_name, "key",
                                                     spec->database_secret_key));
        else
                json_array_append_new(env, json_pack("{s:s, s:s}", "name", "TRIPDEAL_DB", "value",
                                                     "sqlite:/tmp/tripdeal.db"));
        /* One session key for every replica: a session made by one pod is
         * accepted by all (the app signs cookies and CSRF tokens with it). */
        char secret_name[320];
        snprintf(secret_name, sizeof(secret_name), "%s%s", owner->name,
                 TRIPDEAL_SESSION_SECRET_SUFFIX);
        json_array_append_new(env, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", "TRIPDEAL_SECRET",
                                             "valueFrom", "secretKeyRef", "name", secret_name,
                                             "key", TRIPDEAL_SESSION_SECRET_KEY));
        /* The user's own variables last (the operator's names are refused by the parser). */
        size_t i;
        json_t *var;
        json_array_foreach (spec->env, i, var)
                json_array_append_new(env, json_deep_copy(var));
        return env;
}

static json_t *container_args(const struct tripdeal_spec *spec)
{
        json_t *args = json_pack("[s, s]", "--listen", "$(POD_IP):8080");
        for (size_t i = 0; args && i < spec->args_count; i++)
                json_array_append_new(args, json_string(spec->args[i]));
        return args;
}

/* spec.app.resources, or requests and limits that give the HPA's CPU target a meaning. */
static json_t *container_resources(const struct tripdeal_spec *spec)
{
        if (spec->resources)
                return json_deep_copy(spec->resources);
        return json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "requests", "cpu",
                         DESIRED_DEFAULT_CPU_REQUEST, "memory", DESIRED_DEFAULT_MEMORY_REQUEST,
                         "limits", "cpu", DESIRED_DEFAULT_CPU_LIMIT, "memory",
                         DESIRED_DEFAULT_MEMORY_LIMIT);
}

/* Pod Security Standards "restricted", with the user the images are built for. */
static json_t *pod_security_context(void)
{
        return json_pack("{s:b, s:i, s:i, s:i, s:{s:s}}", "runAsNonRoot", 1, "runAsUser",
                         DESIRED_POD_USER, "runAsGroup", DESIRED_POD_USER, "fsGroup",
                         DESIRED_POD_USER, "seccompProfile", "type", "RuntimeDefault");
}

static json_t *container_security_context(void)
{
        return json_pack("{s:b, s:b, s:b, s:{s:[s]}}", "runAsNonRoot", 1,
                         "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1, "capabilities",
                         "drop", "ALL");
}

static json_t *http_probe(const char *path, int period, int failure_threshold)
{
        return json_pack("{s:{s:s, s:s}, s:i, s:i, s:i}", "httpGet", "path", path, "port", "http",
                         "periodSeconds", period, "failureThreshold", failure_threshold,
                         "timeoutSeconds", 1);
}

static json_t *deployment(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec)
{
        json_t *tolerations = json_array();
        static const char *const taints[] = {"node.kubernetes.io/not-ready",
                                             "node.kubernetes.io/unreachable"};
        for (size_t i = 0; tolerations && i < ARRAY_SIZE(taints); i++)
                json_array_append_new(
                        tolerations, json_pack("{s:s, s:s, s:s, s:I}", "key", taints[i], "operator",
                                               "Exists", "effect", "NoExecute", "tolerationSeconds",
                                               (json_int_t)spec->toleration_seconds));

        json_t *container = json_pack(
                "{s:s, s:s, s:o, s:[{s:s, s:i, s:s}], s:o, s:[{s:{s:s}}], s:o, s:o, s:o, "
                "s:o, s:[{s:s, s:s}], s:{s:{s:{s:i}}}}",
                "name", "app", "image", spec->image, "args", container_args(spec), "ports", "name",
                "http", "containerPort", TRIPDEAL_APP_PORT, "protocol", "TCP", "env",
                container_env(owner, spec), "envFrom", "configMapRef", "name", owner->name,
                "readinessProbe", http_probe("/readyz", 2, 2), "livenessProbe",
                http_probe("/healthz", 10, 3), "resources", container_resources(spec),
                "securityContext", container_security_context(), "volumeMounts", "name", "tmp",
                "mountPath", "/tmp",
                /* Keep serving while endpoints drop this pod, then SIGTERM. */
                "lifecycle", "preStop", "sleep", "seconds", DESIRED_PRESTOP_SECONDS);

        return json_pack(
                "{s:s, s:s, s:o, s:{s:i, s:{s:o}, s:{s:s, s:{s:i, s:s}}, s:{s:{s:o, s:{s:s, "
                "s:s, s:s, s:o}}, s:{s:s, s:b, s:o, s:i, s:[{s:i, s:s, s:s, s:{s:o}}], s:o, "
                "s:[o], s:[{s:s, s:{}}]}}}}",
                "apiVersion", "apps/v1", "kind", "Deployment", "metadata", object_metadata(owner),
                "spec", "revisionHistoryLimit", 5, "selector", "matchLabels",
                selector_labels(owner), "strategy", "type", "RollingUpdate", "rollingUpdate",
                /* Never below the floor during a rollout. */
                "maxUnavailable", 0, "maxSurge", "25%", "template", "metadata", "labels",
                selector_labels(owner), "annotations", "prometheus.io/scrape", "true",
                "prometheus.io/port", "8080", "prometheus.io/path", "/metrics",
                DESIRED_CONFIG_HASH_ANNOTATION, config_hash(spec), "spec", "serviceAccountName",
                owner->name, "automountServiceAccountToken", 0, "securityContext",
                pod_security_context(), "terminationGracePeriodSeconds",
                DESIRED_PRESTOP_SECONDS + DESIRED_DRAIN_SECONDS + DESIRED_GRACE_MARGIN_SECONDS,
                "topologySpreadConstraints", "maxSkew", 1, "topologyKey", "kubernetes.io/hostname",
                "whenUnsatisfiable", "ScheduleAnyway", "labelSelector", "matchLabels",
                selector_labels(owner), "tolerations", tolerations, "containers", container,
                "volumes", "name", "tmp", "emptyDir");
}

static json_t *service(const struct tripdeal_identity *owner)
{
        return json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:[{s:s, s:i, s:s, s:s}]}}", "apiVersion",
                         "v1", "kind", "Service", "metadata", object_metadata(owner), "spec",
                         "type", "ClusterIP", "selector", selector_labels(owner), "ports", "name",
                         "http", "port", 80, "targetPort", "http", "protocol", "TCP");
}

static json_t *ingress(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec)
{
        json_t *backend = json_pack("{s:{s:s, s:{s:s}}}", "service", "name", owner->name, "port",
                                    "name", "http");
        json_t *ing =
                json_pack("{s:s, s:s, s:o, s:{s:[{s:s, s:{s:[{s:s, s:s, s:o}]}}]}}", "apiVersion",
                          "networking.k8s.io/v1", "kind", "Ingress", "metadata",
                          object_metadata(owner), "spec", "rules", "host", spec->ingress_host,
                          "http", "paths", "path", "/", "pathType", "Prefix", "backend", backend);
        if (!ing)
                return NULL;
        json_t *ing_spec = json_object_get(ing, "spec");
        if (spec->ingress_class_name)
                json_object_set_new(ing_spec, "ingressClassName",
                                    json_string(spec->ingress_class_name));
        if (spec->ingress_tls_secret_name)
                json_object_set_new(ing_spec, "tls",
                                    json_pack("[{s:[s], s:s}]", "hosts", spec->ingress_host,
                                              "secretName", spec->ingress_tls_secret_name));
        return ing;
}

static json_t *hpa(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec,
                   int32_t floor_replicas)
{
        return json_pack(
                "{s:s, s:s, s:o, s:{s:{s:s, s:s, s:s}, s:i, s:i, s:[{s:s, s:{s:s, s:{s:s, "
                "s:i}}}], s:{s:{s:i, s:s, s:[{s:s, s:i, s:i}]}, s:{s:i, s:s, s:[{s:s, s:i, "
                "s:i}]}}}}",
                "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler", "metadata",
                object_metadata(owner), "spec", "scaleTargetRef", "apiVersion", "apps/v1", "kind",
                "Deployment", "name", owner->name, "minReplicas", floor_replicas, "maxReplicas",
                spec->replicas_max, "metrics", "type", "Resource", "resource", "name", "cpu",
                "target", "type", "Utilization", "averageUtilization", spec->target_cpu_percent,
                "behavior", "scaleUp", "stabilizationWindowSeconds",
                spec->scale_up_stabilization_seconds, "selectPolicy", "Max", "policies", "type",
                "Pods", "value", spec->scale_up_max_pods_per_15s, "periodSeconds", 15, "scaleDown",
                "stabilizationWindowSeconds", spec->scale_down_stabilization_seconds,
                "selectPolicy", "Max", "policies", "type", "Percent", "value",
                spec->scale_down_max_percent_per_minute, "periodSeconds", 60);
}

static json_t *pdb(const struct tripdeal_identity *owner)
{
        /* One pod at a time may go voluntarily (node drain after a sale). */
        return json_pack("{s:s, s:s, s:o, s:{s:i, s:{s:o}, s:s}}", "apiVersion", "policy/v1",
                         "kind", "PodDisruptionBudget", "metadata", object_metadata(owner), "spec",
                         "maxUnavailable", 1, "selector", "matchLabels", selector_labels(owner),
                         "unhealthyPodEvictionPolicy", "AlwaysAllow");
}

void desired_objects_clear(struct desired_objects *objects)
{
        if (!objects)
                return;
        for (size_t i = 0; i < _DESIRED_KIND_MAX; i++) {
                json_decref(objects->objects[i]);
                objects->objects[i] = NULL;
        }
}

int desired_objects_build(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec,
                          int32_t floor_replicas, struct desired_objects *ret)
{
        if (!owner || !owner->name || !owner->namespace || !owner->uid || !spec || !ret)
                return -EINVAL;

        struct desired_objects built = {
                .objects =
                        {
                                [DESIRED_CONFIGMAP] = configmap(owner, spec),
                                [DESIRED_SERVICEACCOUNT] = service_account(owner),
                                [DESIRED_DEPLOYMENT] = deployment(owner, spec),
                                [DESIRED_SERVICE] = service(owner),
                                [DESIRED_INGRESS] =
                                        spec->ingress_host ? ingress(owner, spec) : NULL,
                                [DESIRED_HPA] = hpa(owner, spec, floor_replicas),
                                [DESIRED_PDB] = pdb(owner),
                        },
        };
        /* json_pack returns NULL only when out of memory (the formats are fixed). */
        for (size_t i = 0; i < _DESIRED_KIND_MAX; i++)
                if (!built.objects[i] && !(i == DESIRED_INGRESS && !spec->ingress_host)) {
                        desired_objects_clear(&built);
                        return -ENOMEM;
                }
        *ret = built;
        return 0;
}
