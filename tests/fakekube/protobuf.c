/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies in Kubernetes' protobuf encoding ("k8s\0" + runtime.Unknown),
 * decoded to JSON.  client-go's generated clients always send protobuf for
 * built-in kinds, so kubectl commands built on them (create deployment,
 * create namespace/configmap/secret/service, drain's evictions, ...) need
 * it.  Only the messages those commands send are described below (field
 * numbers are the wire contract of k8s.io/api); unknown fields are skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fakekube.h"
#include "macros.h"
#include "protobuf.h"

enum field_kind {
        F_STRING,
        F_INT,
        F_BOOL,
        F_BYTES,  /* base64 in JSON */
        F_MSG,    /* nested message */
        F_MAP_SS, /* map<string,string> */
        F_MAP_SB, /* map<string,bytes> */
        F_MAP_SM, /* map<string,message> */
        F_INLINE, /* embedded message whose fields JSON inlines into the parent */
};

struct field {
        int number;
        const char *name;
        enum field_kind kind;
        bool repeated;
        const char *message;
        bool keep_zero; /* pointer fields where 0/false/"" is meaningful */
};

enum special { S_NONE, S_TIME, S_QUANTITY, S_INT_OR_STRING, S_RAW, S_DURATION };

struct message {
        const char *name;
        const struct field *fields;
        size_t n_fields;
        enum special special;
};

#define FIELDS(n) static const struct field n[]

FIELDS(object_meta) = {
        {1, "name", F_STRING, false, NULL, false},
        {2, "generateName", F_STRING, false, NULL, false},
        {3, "namespace", F_STRING, false, NULL, false},
        {5, "uid", F_STRING, false, NULL, false},
        {6, "resourceVersion", F_STRING, false, NULL, false},
        {7, "generation", F_INT, false, NULL, false},
        {8, "creationTimestamp", F_MSG, false, "Time", false},
        {9, "deletionTimestamp", F_MSG, false, "Time", false},
        {10, "deletionGracePeriodSeconds", F_INT, false, NULL, true},
        {11, "labels", F_MAP_SS, false, NULL, false},
        {12, "annotations", F_MAP_SS, false, NULL, false},
        {13, "ownerReferences", F_MSG, true, "OwnerReference", false},
        {14, "finalizers", F_STRING, true, NULL, false},
};
FIELDS(owner_reference) = {
        {1, "kind", F_STRING, false, NULL, false},
        {3, "name", F_STRING, false, NULL, false},
        {4, "uid", F_STRING, false, NULL, false},
        {5, "apiVersion", F_STRING, false, NULL, false},
        {6, "controller", F_BOOL, false, NULL, true},
        {7, "blockOwnerDeletion", F_BOOL, false, NULL, true},
};
FIELDS(label_selector) = {
        {1, "matchLabels", F_MAP_SS, false, NULL, false},
        {2, "matchExpressions", F_MSG, true, "LabelSelectorRequirement", false},
};
FIELDS(label_selector_requirement) = {
        {1, "key", F_STRING, false, NULL, false},
        {2, "operator", F_STRING, false, NULL, false},
        {3, "values", F_STRING, true, NULL, false},
};
FIELDS(time_fields) = {
        {1, "seconds", F_INT, false, NULL, true},
        {2, "nanos", F_INT, false, NULL, true},
};
FIELDS(quantity) = {{1, "string", F_STRING, false, NULL, true}};
FIELDS(int_or_string) = {
        {1, "type", F_INT, false, NULL, true},
        {2, "intVal", F_INT, false, NULL, true},
        {3, "strVal", F_STRING, false, NULL, true},
};
FIELDS(raw_extension) = {{1, "raw", F_BYTES, false, NULL, true}};
FIELDS(duration) = {{1, "duration", F_INT, false, NULL, true}};
FIELDS(delete_options) = {
        {1, "gracePeriodSeconds", F_INT, false, NULL, true},
        {2, "preconditions", F_MSG, false, "Preconditions", false},
        {3, "orphanDependents", F_BOOL, false, NULL, true},
        {4, "propagationPolicy", F_STRING, false, NULL, false},
        {5, "dryRun", F_STRING, true, NULL, false},
};
FIELDS(preconditions) = {
        {1, "uid", F_STRING, false, NULL, false},
        {2, "resourceVersion", F_STRING, false, NULL, false},
};
FIELDS(eviction) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "deleteOptions", F_MSG, false, "DeleteOptions", false},
};
/* A generic {metadata=1, spec=2, status=3} object: Deployment, Service, Pod, Namespace, ... */
FIELDS(deployment) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "DeploymentSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(deployment_spec) = {
        {1, "replicas", F_INT, false, NULL, true},
        {2, "selector", F_MSG, false, "LabelSelector", false},
        {3, "template", F_MSG, false, "PodTemplateSpec", false},
        {4, "strategy", F_MSG, false, "DeploymentStrategy", false},
        {5, "minReadySeconds", F_INT, false, NULL, false},
        {6, "revisionHistoryLimit", F_INT, false, NULL, true},
        {7, "paused", F_BOOL, false, NULL, false},
        {9, "progressDeadlineSeconds", F_INT, false, NULL, true},
};
FIELDS(deployment_strategy) = {
        {1, "type", F_STRING, false, NULL, false},
        {2, "rollingUpdate", F_MSG, false, "RollingUpdateDeployment", false},
};
FIELDS(rolling_update_deployment) = {
        {1, "maxUnavailable", F_MSG, false, "IntOrString", false},
        {2, "maxSurge", F_MSG, false, "IntOrString", false},
};
FIELDS(pod) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "PodSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(pod_template_spec) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "PodSpec", false},
};
FIELDS(pod_spec) = {
        {2, "containers", F_MSG, true, "Container", false},
        {3, "restartPolicy", F_STRING, false, NULL, false},
        {4, "terminationGracePeriodSeconds", F_INT, false, NULL, true},
        {5, "activeDeadlineSeconds", F_INT, false, NULL, true},
        {6, "dnsPolicy", F_STRING, false, NULL, false},
        {7, "nodeSelector", F_MAP_SS, false, NULL, false},
        {8, "serviceAccountName", F_STRING, false, NULL, false},
        {10, "nodeName", F_STRING, false, NULL, false},
        {11, "hostNetwork", F_BOOL, false, NULL, false},
        {16, "hostname", F_STRING, false, NULL, false},
        {17, "subdomain", F_STRING, false, NULL, false},
        {19, "schedulerName", F_STRING, false, NULL, false},
        {20, "initContainers", F_MSG, true, "Container", false},
        {24, "priorityClassName", F_STRING, false, NULL, false},
};
FIELDS(container) = {
        {1, "name", F_STRING, false, NULL, false},
        {2, "image", F_STRING, false, NULL, false},
        {3, "command", F_STRING, true, NULL, false},
        {4, "args", F_STRING, true, NULL, false},
        {5, "workingDir", F_STRING, false, NULL, false},
        {6, "ports", F_MSG, true, "ContainerPort", false},
        {7, "env", F_MSG, true, "EnvVar", false},
        {8, "resources", F_MSG, false, "ResourceRequirements", false},
        {13, "terminationMessagePath", F_STRING, false, NULL, false},
        {14, "imagePullPolicy", F_STRING, false, NULL, false},
        {16, "stdin", F_BOOL, false, NULL, false},
        {17, "stdinOnce", F_BOOL, false, NULL, false},
        {18, "tty", F_BOOL, false, NULL, false},
        {20, "terminationMessagePolicy", F_STRING, false, NULL, false},
};
FIELDS(container_port) = {
        {1, "name", F_STRING, false, NULL, false},
        {2, "hostPort", F_INT, false, NULL, false},
        {3, "containerPort", F_INT, false, NULL, true},
        {4, "protocol", F_STRING, false, NULL, false},
        {5, "hostIP", F_STRING, false, NULL, false},
};
FIELDS(env_var) = {
        {1, "name", F_STRING, false, NULL, true},
        {2, "value", F_STRING, false, NULL, false},
};
FIELDS(resource_requirements) = {
        {1, "limits", F_MAP_SM, false, "Quantity", false},
        {2, "requests", F_MAP_SM, false, "Quantity", false},
};
FIELDS(config_map) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "data", F_MAP_SS, false, NULL, false},
        {3, "binaryData", F_MAP_SB, false, NULL, false},
        {4, "immutable", F_BOOL, false, NULL, true},
};
FIELDS(secret) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "data", F_MAP_SB, false, NULL, false},
        {3, "type", F_STRING, false, NULL, false},
        {4, "stringData", F_MAP_SS, false, NULL, false},
        {5, "immutable", F_BOOL, false, NULL, true},
};
FIELDS(namespace_fields) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "NamespaceSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(namespace_spec) = {{1, "finalizers", F_STRING, true, NULL, false}};
FIELDS(service) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "ServiceSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(service_spec) = {
        {1, "ports", F_MSG, true, "ServicePort", false},
        {2, "selector", F_MAP_SS, false, NULL, false},
        {3, "clusterIP", F_STRING, false, NULL, false},
        {4, "type", F_STRING, false, NULL, false},
        {5, "externalIPs", F_STRING, true, NULL, false},
        {7, "sessionAffinity", F_STRING, false, NULL, false},
        {10, "externalName", F_STRING, false, NULL, false},
};
FIELDS(service_port) = {
        {1, "name", F_STRING, false, NULL, false},
        {2, "protocol", F_STRING, false, NULL, false},
        {3, "port", F_INT, false, NULL, true},
        {4, "targetPort", F_MSG, false, "IntOrString", false},
        {5, "nodePort", F_INT, false, NULL, false},
};
FIELDS(pdb) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "PodDisruptionBudgetSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(pdb_spec) = {
        {1, "minAvailable", F_MSG, false, "IntOrString", false},
        {2, "selector", F_MSG, false, "LabelSelector", false},
        {3, "maxUnavailable", F_MSG, false, "IntOrString", false},
        {4, "unhealthyPodEvictionPolicy", F_STRING, false, NULL, false},
};
FIELDS(scale) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "ScaleSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(scale_spec) = {{1, "replicas", F_INT, false, NULL, true}};
FIELDS(job) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "JobSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(job_spec) = {
        {1, "parallelism", F_INT, false, NULL, true},
        {2, "completions", F_INT, false, NULL, true},
        {3, "activeDeadlineSeconds", F_INT, false, NULL, true},
        {4, "selector", F_MSG, false, "LabelSelector", false},
        {5, "manualSelector", F_BOOL, false, NULL, true},
        {6, "template", F_MSG, false, "PodTemplateSpec", false},
        {7, "backoffLimit", F_INT, false, NULL, true},
        {8, "ttlSecondsAfterFinished", F_INT, false, NULL, true},
        {9, "completionMode", F_STRING, false, NULL, false},
        {10, "suspend", F_BOOL, false, NULL, true},
};
FIELDS(cron_job) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "CronJobSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(cron_job_spec) = {
        {1, "schedule", F_STRING, false, NULL, false},
        {2, "startingDeadlineSeconds", F_INT, false, NULL, true},
        {3, "concurrencyPolicy", F_STRING, false, NULL, false},
        {4, "suspend", F_BOOL, false, NULL, true},
        {5, "jobTemplate", F_MSG, false, "JobTemplateSpec", false},
        {6, "successfulJobsHistoryLimit", F_INT, false, NULL, true},
        {7, "failedJobsHistoryLimit", F_INT, false, NULL, true},
        {8, "timeZone", F_STRING, false, NULL, true},
};
FIELDS(job_template_spec) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "JobSpec", false},
};
FIELDS(service_account) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {4, "automountServiceAccountToken", F_BOOL, false, NULL, true},
};
FIELDS(token_request) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "TokenRequestSpec", false},
};
FIELDS(token_request_spec) = {
        {1, "audiences", F_STRING, true, NULL, false},
        {3, "boundObjectRef", F_MSG, false, "BoundObjectReference", false},
        {4, "expirationSeconds", F_INT, false, NULL, true},
};
FIELDS(bound_object_reference) = {
        {1, "kind", F_STRING, false, NULL, false},
        {2, "apiVersion", F_STRING, false, NULL, false},
        {3, "name", F_STRING, false, NULL, false},
        {4, "uid", F_STRING, false, NULL, false},
};
FIELDS(role) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "rules", F_MSG, true, "PolicyRule", false},
};
FIELDS(policy_rule) = {
        {1, "verbs", F_STRING, true, NULL, false},
        {2, "apiGroups", F_STRING, true, NULL, false},
        {3, "resources", F_STRING, true, NULL, false},
        {4, "resourceNames", F_STRING, true, NULL, false},
        {5, "nonResourceURLs", F_STRING, true, NULL, false},
};
FIELDS(role_binding) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "subjects", F_MSG, true, "Subject", false},
        {3, "roleRef", F_MSG, false, "RoleRef", false},
};
FIELDS(subject) = {
        {1, "kind", F_STRING, false, NULL, false},
        {2, "apiGroup", F_STRING, false, NULL, false},
        {3, "name", F_STRING, false, NULL, false},
        {4, "namespace", F_STRING, false, NULL, false},
};
FIELDS(role_ref) = {
        {1, "apiGroup", F_STRING, false, NULL, true},
        {2, "kind", F_STRING, false, NULL, false},
        {3, "name", F_STRING, false, NULL, false},
};
FIELDS(ingress) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "IngressSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(ingress_spec) = {
        {1, "defaultBackend", F_MSG, false, "IngressBackend", false},
        {2, "tls", F_MSG, true, "IngressTLS", false},
        {3, "rules", F_MSG, true, "IngressRule", false},
        {4, "ingressClassName", F_STRING, false, NULL, false},
};
FIELDS(ingress_tls) = {
        {1, "hosts", F_STRING, true, NULL, false},
        {2, "secretName", F_STRING, false, NULL, false},
};
FIELDS(ingress_rule) = {
        {1, "host", F_STRING, false, NULL, false},
        {2, "ingressRuleValue", F_INLINE, false, "IngressRuleValue", false},
};
FIELDS(ingress_rule_value) = {{1, "http", F_MSG, false, "HTTPIngressRuleValue", false}};
FIELDS(http_ingress_rule_value) = {{1, "paths", F_MSG, true, "HTTPIngressPath", false}};
FIELDS(http_ingress_path) = {
        {1, "path", F_STRING, false, NULL, false},
        {2, "backend", F_MSG, false, "IngressBackend", false},
        {3, "pathType", F_STRING, false, NULL, false},
};
FIELDS(ingress_backend) = {{4, "service", F_MSG, false, "IngressServiceBackend", false}};
FIELDS(ingress_service_backend) = {
        {1, "name", F_STRING, false, NULL, false},
        {2, "port", F_MSG, false, "ServiceBackendPort", false},
};
FIELDS(service_backend_port) = {
        {1, "name", F_STRING, false, NULL, false},
        {2, "number", F_INT, false, NULL, false},
};
FIELDS(hpa_v1) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "HorizontalPodAutoscalerSpecV1", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(hpa_v1_spec) = {
        {1, "scaleTargetRef", F_MSG, false, "CrossVersionObjectReference", false},
        {2, "minReplicas", F_INT, false, NULL, true},
        {3, "maxReplicas", F_INT, false, NULL, true},
        {4, "targetCPUUtilizationPercentage", F_INT, false, NULL, true},
};
FIELDS(cross_version_object_reference) = {
        {1, "kind", F_STRING, false, NULL, false},
        {2, "name", F_STRING, false, NULL, false},
        {3, "apiVersion", F_STRING, false, NULL, false},
};
FIELDS(resource_quota) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "spec", F_MSG, false, "ResourceQuotaSpec", false},
        {3, "status", F_MSG, false, "Empty", false},
};
FIELDS(resource_quota_spec) = {
        {1, "hard", F_MAP_SM, false, "Quantity", false},
        {2, "scopes", F_STRING, true, NULL, false},
};
FIELDS(priority_class) = {
        {1, "metadata", F_MSG, false, "ObjectMeta", false},
        {2, "value", F_INT, false, NULL, true},
        {3, "globalDefault", F_BOOL, false, NULL, false},
        {4, "description", F_STRING, false, NULL, false},
        {5, "preemptionPolicy", F_STRING, false, NULL, false},
};
FIELDS(empty) = {{0, "", F_STRING, false, NULL, false}};

#define MSG(n, f)                           \
        {                                   \
                n, f, ARRAY_SIZE(f), S_NONE \
        }
#define SPECIAL(n, f, s)               \
        {                              \
                n, f, ARRAY_SIZE(f), s \
        }

static const struct message messages[] = {
        MSG("ObjectMeta", object_meta),
        MSG("OwnerReference", owner_reference),
        MSG("LabelSelector", label_selector),
        MSG("LabelSelectorRequirement", label_selector_requirement),
        SPECIAL("Time", time_fields, S_TIME),
        SPECIAL("Quantity", quantity, S_QUANTITY),
        SPECIAL("IntOrString", int_or_string, S_INT_OR_STRING),
        SPECIAL("RawExtension", raw_extension, S_RAW),
        SPECIAL("Duration", duration, S_DURATION),
        MSG("DeleteOptions", delete_options),
        MSG("Preconditions", preconditions),
        MSG("Eviction", eviction),
        MSG("Deployment", deployment),
        MSG("DeploymentSpec", deployment_spec),
        MSG("DeploymentStrategy", deployment_strategy),
        MSG("RollingUpdateDeployment", rolling_update_deployment),
        MSG("Pod", pod),
        MSG("PodTemplateSpec", pod_template_spec),
        MSG("PodSpec", pod_spec),
        MSG("Container", container),
        MSG("ContainerPort", container_port),
        MSG("EnvVar", env_var),
        MSG("ResourceRequirements", resource_requirements),
        MSG("ConfigMap", config_map),
        MSG("Secret", secret),
        MSG("Namespace", namespace_fields),
        MSG("NamespaceSpec", namespace_spec),
        MSG("Service", service),
        MSG("ServiceSpec", service_spec),
        MSG("ServicePort", service_port),
        MSG("PodDisruptionBudget", pdb),
        MSG("PodDisruptionBudgetSpec", pdb_spec),
        MSG("Scale", scale),
        MSG("ScaleSpec", scale_spec),
        MSG("Job", job),
        MSG("JobSpec", job_spec),
        MSG("CronJob", cron_job),
        MSG("CronJobSpec", cron_job_spec),
        MSG("JobTemplateSpec", job_template_spec),
        MSG("ServiceAccount", service_account),
        MSG("TokenRequest", token_request),
        MSG("TokenRequestSpec", token_request_spec),
        MSG("BoundObjectReference", bound_object_reference),
        MSG("Role", role),
        MSG("ClusterRole", role),
        MSG("PolicyRule", policy_rule),
        MSG("RoleBinding", role_binding),
        MSG("ClusterRoleBinding", role_binding),
        MSG("Subject", subject),
        MSG("RoleRef", role_ref),
        MSG("Ingress", ingress),
        MSG("IngressSpec", ingress_spec),
        MSG("IngressTLS", ingress_tls),
        MSG("IngressRule", ingress_rule),
        MSG("IngressRuleValue", ingress_rule_value),
        MSG("HTTPIngressRuleValue", http_ingress_rule_value),
        MSG("HTTPIngressPath", http_ingress_path),
        MSG("IngressBackend", ingress_backend),
        MSG("IngressServiceBackend", ingress_service_backend),
        MSG("ServiceBackendPort", service_backend_port),
        MSG("HorizontalPodAutoscaler", hpa_v1),
        MSG("ResourceQuota", resource_quota),
        MSG("ResourceQuotaSpec", resource_quota_spec),
        MSG("PriorityClass", priority_class),
        MSG("HorizontalPodAutoscalerSpecV1", hpa_v1_spec),
        MSG("CrossVersionObjectReference", cross_version_object_reference),
        {"Empty", empty, 0, S_NONE},
};

static const struct message *message_by_name(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(messages); i++)
                if (strcmp(messages[i].name, name) == 0)
                        return &messages[i];
        return NULL;
}

struct reader {
        const unsigned char *p, *end;
};

static int read_varint(struct reader *r, uint64_t *ret)
{
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
                if (r->p >= r->end)
                        return -EINVAL;
                unsigned char b = *r->p++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EINVAL;
}

static int skip_field(struct reader *r, unsigned wire)
{
        uint64_t v;
        switch (wire) {
        case 0:
                return read_varint(r, &v);
        case 1:
                if (r->end - r->p < 8)
                        return -EINVAL;
                r->p += 8;
                return 0;
        case 2:
                if (read_varint(r, &v) < 0 || v > (uint64_t)(r->end - r->p))
                        return -EINVAL;
                r->p += v;
                return 0;
        case 5:
                if (r->end - r->p < 4)
                        return -EINVAL;
                r->p += 4;
                return 0;
        default:
                return -EINVAL;
        }
}

static json_t *decode_message(const unsigned char *data, size_t len, const struct message *m,
                              int depth);

static json_t *bytes_json(const unsigned char *data, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        json_t *s = json_string(out);
        free(out);
        return s;
}

/* A map entry message {key=1, value=2}. */
static int decode_map_entry(const unsigned char *data, size_t len, const struct field *f, int depth,
                            char **ret_key, json_t **ret_value)
{
        struct reader r = {data, data + len};
        char *key = NULL;
        json_t *value = NULL;
        while (r.p < r.end) {
                uint64_t tag, n;
                if (read_varint(&r, &tag) < 0 || (tag & 7) != 2 || read_varint(&r, &n) < 0 ||
                    n > (uint64_t)(r.end - r.p))
                        goto fail;
                if ((tag >> 3) == 1) {
                        free(key);
                        key = strndup((const char *)r.p, n);
                } else if ((tag >> 3) == 2) {
                        json_decref(value);
                        if (f->kind == F_MAP_SS)
                                value = json_stringn((const char *)r.p, n);
                        else if (f->kind == F_MAP_SB)
                                value = bytes_json(r.p, n);
                        else
                                value = decode_message(r.p, n, message_by_name(f->message),
                                                       depth + 1);
                }
                r.p += n;
        }
        if (!key)
                goto fail;
        if (!value)
                value = f->kind == F_MAP_SM ? json_null() : json_string("");
        *ret_key = key;
        *ret_value = value;
        return 0;
fail:
        free(key);
        json_decref(value);
        return -EINVAL;
}

static json_t *special_json(const struct message *m, json_t *raw)
{
        switch (m->special) {
        case S_TIME: {
                json_t *sj = json_object_get(raw, "seconds");
                int64_t seconds = json_integer_value(sj);
                /* Go's zero time: encoded (empty) for every non-pointer Time field. */
                if (!sj || seconds <= -62135596800LL)
                        return json_null();
                char buf[64];
                clock_format_rfc3339((time_t)seconds, buf, sizeof(buf));
                return json_string(buf);
        }
        case S_QUANTITY:
                return json_string(json_string_value(json_object_get(raw, "string")) ?: "0");
        case S_INT_OR_STRING:
                if (json_integer_value(json_object_get(raw, "type")) == 1)
                        return json_string(json_string_value(json_object_get(raw, "strVal")) ?: "");
                return json_integer(json_integer_value(json_object_get(raw, "intVal")));
        case S_RAW: {
                const char *b64 = json_string_value(json_object_get(raw, "raw"));
                if (!b64)
                        return json_null();
                size_t l = strlen(b64);
                unsigned char *buf = malloc(l + 1);
                if (!buf)
                        return json_null();
                int n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)l);
                while (n > 0 && l > 0 && b64[l - 1] == '=') {
                        n--;
                        l--;
                }
                json_error_t e;
                json_t *j = n >= 0 ? json_loadb((const char *)buf, (size_t)n, 0, &e) : NULL;
                free(buf);
                return j ? j : json_null();
        }
        case S_DURATION: {
                char buf[64];
                snprintf(buf, sizeof(buf), "%llds",
                         (long long)(json_integer_value(json_object_get(raw, "duration")) /
                                     1000000000LL));
                return json_string(buf);
        }
        default:
                return json_incref(raw);
        }
}

static json_t *decode_message(const unsigned char *data, size_t len, const struct message *m,
                              int depth)
{
        if (!m || depth > 32)
                return json_object();
        json_t *obj = json_object();
        struct reader r = {data, data + len};
        while (r.p < r.end) {
                uint64_t tag;
                if (read_varint(&r, &tag) < 0)
                        break;
                unsigned wire = (unsigned)(tag & 7);
                int number = (int)(tag >> 3);
                const struct field *f = NULL;
                for (size_t i = 0; i < m->n_fields; i++)
                        if (m->fields[i].number == number)
                                f = &m->fields[i];
                if (!f) {
                        if (skip_field(&r, wire) < 0)
                                break;
                        continue;
                }
                json_t *value = NULL;
                char *map_key = NULL;
                if (wire == 0) {
                        uint64_t v;
                        if (read_varint(&r, &v) < 0)
                                break;
                        if (f->kind == F_BOOL) {
                                value = (v || f->keep_zero) ? json_boolean(v != 0) : NULL;
                        } else {
                                int64_t iv = (int64_t)v;
                                value = (iv || f->keep_zero) ? json_integer(iv) : NULL;
                        }
                } else if (wire == 2) {
                        uint64_t n;
                        if (read_varint(&r, &n) < 0 || n > (uint64_t)(r.end - r.p))
                                break;
                        const unsigned char *p = r.p;
                        r.p += n;
                        switch (f->kind) {
                        case F_STRING:
                                value = (n || f->keep_zero || f->repeated)
                                                ? json_stringn((const char *)p, n)
                                                : NULL;
                                break;
                        case F_BYTES:
                                value = bytes_json(p, n);
                                break;
                        case F_MSG: {
                                const struct message *sub = message_by_name(f->message);
                                value = decode_message(p, n, sub, depth + 1);
                                if (sub && sub->special != S_NONE) {
                                        json_t *sv = special_json(sub, value);
                                        json_decref(value);
                                        value = sv;
                                        if (json_is_null(value)) {
                                                json_decref(value);
                                                value = NULL;
                                        }
                                }
                                break;
                        }
                        case F_INLINE: {
                                json_t *inner = decode_message(p, n, message_by_name(f->message),
                                                               depth + 1);
                                json_object_update(obj, inner);
                                json_decref(inner);
                                continue;
                        }
                        case F_MAP_SS:
                        case F_MAP_SB:
                        case F_MAP_SM:
                                if (decode_map_entry(p, n, f, depth, &map_key, &value) < 0)
                                        value = NULL;
                                break;
                        default:
                                break;
                        }
                } else {
                        if (skip_field(&r, wire) < 0)
                                break;
                        continue;
                }
                if (!value) {
                        free(map_key);
                        continue;
                }
                if (map_key) {
                        json_t *map = json_object_get(obj, f->name);
                        if (!map) {
                                map = json_object();
                                json_object_set_new(obj, f->name, map);
                        }
                        json_t *v = value;
                        if (f->kind == F_MAP_SM) {
                                const struct message *sub = message_by_name(f->message);
                                v = sub ? special_json(sub, value) : json_incref(value);
                                json_decref(value);
                        }
                        json_object_set_new(map, map_key, v);
                        free(map_key);
                } else if (f->repeated) {
                        json_t *arr = json_object_get(obj, f->name);
                        if (!arr) {
                                arr = json_array();
                                json_object_set_new(obj, f->name, arr);
                        }
                        json_array_append_new(arr, value);
                } else {
                        json_object_set_new(obj, f->name, value);
                }
        }
        return obj;
}

json_t *protobuf_to_json(const char *body, size_t len)
{
        const unsigned char *data = (const unsigned char *)body;
        if (len < 4 || memcmp(data, "k8s\0", 4) != 0)
                return NULL;
        struct reader r = {data + 4, data + len};
        char api_version[256] = "", kind[128] = "";
        const unsigned char *raw = NULL;
        size_t raw_len = 0;
        while (r.p < r.end) {
                uint64_t tag, n;
                if (read_varint(&r, &tag) < 0 || (tag & 7) != 2 || read_varint(&r, &n) < 0 ||
                    n > (uint64_t)(r.end - r.p))
                        return NULL;
                if ((tag >> 3) == 1) {
                        struct reader t = {r.p, r.p + n};
                        while (t.p < t.end) {
                                uint64_t ttag, tn;
                                if (read_varint(&t, &ttag) < 0 || read_varint(&t, &tn) < 0 ||
                                    tn > (uint64_t)(t.end - t.p))
                                        return NULL;
                                if ((ttag >> 3) == 1)
                                        snprintf(api_version, sizeof(api_version), "%.*s", (int)tn,
                                                 t.p);
                                else if ((ttag >> 3) == 2)
                                        snprintf(kind, sizeof(kind), "%.*s", (int)tn, t.p);
                                t.p += tn;
                        }
                } else if ((tag >> 3) == 2) {
                        raw = r.p;
                        raw_len = n;
                }
                r.p += n;
        }
        const struct message *m = message_by_name(kind);
        if (!m)
                return NULL;
        json_t *obj = decode_message(raw ? raw : (const unsigned char *)"", raw_len, m, 0);
        if (api_version[0])
                json_object_set_new(obj, "apiVersion", json_string(api_version));
        json_object_set_new(obj, "kind", json_string(kind));
        return obj;
}
