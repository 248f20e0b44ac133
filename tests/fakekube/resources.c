/* SPDX-License-Identifier: Apache-2.0 */
/* The resource registry: built-in kinds, CRD-defined kinds, discovery documents. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekube.h"
#include "macros.h"
#include "registry.h"

struct builtin {
        const char *group, *version, *plural, *singular, *kind;
        bool namespaced;
        const char *short_names; /* comma separated */
        const char *categories;
        bool status, scale, eviction, generation;
};

/* Every built-in kind fakekube serves (a subset of Kubernetes 1.36). */
static const struct builtin builtins[] = {
        {"", "v1", "namespaces", "namespace", "Namespace", false, "ns", "", true, false, false,
         false},
        {"", "v1", "configmaps", "configmap", "ConfigMap", true, "cm", "", false, false, false,
         false},
        {"", "v1", "secrets", "secret", "Secret", true, "", "", false, false, false, false},
        {"", "v1", "services", "service", "Service", true, "svc", "all", true, false, false, false},
        {"", "v1", "endpoints", "endpoints", "Endpoints", true, "ep", "", false, false, false,
         false},
        {"", "v1", "pods", "pod", "Pod", true, "po", "all", true, false, true, true},
        {"", "v1", "events", "event", "Event", true, "ev", "", false, false, false, false},
        {"", "v1", "nodes", "node", "Node", false, "no", "", true, false, false, false},
        {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, "sa", "", false,
         false, false, false},
        {"", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true,
         "pvc", "", true, false, false, false},
        {"apps", "v1", "deployments", "deployment", "Deployment", true, "deploy", "all", true, true,
         false, true},
        {"apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, "rs", "all", true, true,
         false, true},
        {"apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, "sts", "all", true, true,
         false, true},
        {"apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, "ds", "all", true, false,
         false, true},
        {"autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
         "HorizontalPodAutoscaler", true, "hpa", "all", true, false, false, false},
        /* Served from the same objects, converted (CPU utilization only). */
        {"autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler",
         "HorizontalPodAutoscaler", true, "hpa", "all", true, false, false, false},
        {"batch", "v1", "jobs", "job", "Job", true, "", "all", true, false, false, true},
        {"batch", "v1", "cronjobs", "cronjob", "CronJob", true, "cj", "all", true, false, false,
         true},
        {"networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, "ing", "", true, false,
         false, true},
        {"networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", false, "", "",
         false, false, false, true},
        {"networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true,
         "netpol", "", false, false, false, true},
        {"policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true,
         "pdb", "", true, false, false, true},
        {"coordination.k8s.io", "v1", "leases", "lease", "Lease", true, "", "", false, false, false,
         false},
        {"events.k8s.io", "v1", "events", "event", "Event", true, "ev", "", false, false, false,
         false},
        {"rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, "", "", false, false,
         false, false},
        {"rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true, "",
         "", false, false, false, false},
        {"rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false, "",
         "", false, false, false, false},
        {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
         "ClusterRoleBinding", false, "", "", false, false, false, false},
        {"", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, "quota", "", true,
         false, false, false},
        {"", "v1", "limitranges", "limitrange", "LimitRange", true, "limits", "", false, false,
         false, false},
        {"", "v1", "podtemplates", "podtemplate", "PodTemplate", true, "", "", false, false, false,
         false},
        {"", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false, "pv", "",
         true, false, false, false},
        {"apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, "",
         "", false, false, false, false},
        {"discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, "", "",
         false, false, false, false},
        {"storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, "sc", "",
         false, false, false, false},
        {"scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false,
         "pc", "", false, false, false, false},
        {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
         "CustomResourceDefinition", false, "crd,crds", "api-extensions", true, false, false, true},
};

static json_t *split_names(const char *list)
{
        json_t *a = json_array();
        _cleanup_free_ char *copy = strdup(list ? list : "");
        char *save = NULL;
        for (char *p = copy ? strtok_r(copy, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(p));
        return a;
}

static void type_free(struct resource_type *t)
{
        if (!t)
                return;
        free(t->group);
        free(t->version);
        free(t->plural);
        free(t->singular);
        free(t->kind);
        free(t->list_kind);
        free(t->storage_key);
        free(t->crd_name);
        json_decref(t->short_names);
        json_decref(t->categories);
        json_decref(t->crd_schema);
        json_decref(t->printer_columns);
        free(t);
}

static int add_type(struct server *s, struct resource_type *t)
{
        struct resource_type **n = realloc(s->types, (s->n_types + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        s->types = n;
        s->types[s->n_types++] = t;
        return 0;
}

static struct resource_type *type_new(const char *group, const char *version, const char *plural,
                                      const char *singular, const char *kind, const char *list_kind)
{
        struct resource_type *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->group = strdup(group);
        t->version = strdup(version);
        t->plural = strdup(plural);
        t->singular = strdup(singular);
        t->kind = strdup(kind);
        if (list_kind)
                t->list_kind = strdup(list_kind);
        else if (asprintf(&t->list_kind, "%sList", kind) < 0)
                t->list_kind = NULL;
        if (asprintf(&t->storage_key, "%s/%s", group, plural) < 0)
                t->storage_key = NULL;
        if (!t->group || !t->version || !t->plural || !t->singular || !t->kind || !t->list_kind ||
            !t->storage_key) {
                type_free(t);
                return NULL;
        }
        return t;
}

int registry_init(struct server *s)
{
        for (size_t i = 0; i < ARRAY_SIZE(builtins); i++) {
                const struct builtin *b = &builtins[i];
                struct resource_type *t =
                        type_new(b->group, b->version, b->plural, b->singular, b->kind, NULL);
                if (!t)
                        return -ENOMEM;
                t->namespaced = b->namespaced;
                t->short_names = split_names(b->short_names);
                t->categories = split_names(b->categories);
                t->status_subresource = b->status;
                t->scale_subresource = b->scale;
                t->eviction_subresource = b->eviction;
                t->has_generation = b->generation;
                /* events.k8s.io/v1 Events are the core/v1 ones, converted (as in Kubernetes). */
                if (strcmp(b->group, "events.k8s.io") == 0) {
                        free(t->storage_key);
                        t->storage_key = strdup("/events");
                }
                if (add_type(s, t) < 0) {
                        type_free(t);
                        return -ENOMEM;
                }
        }
        return 0;
}

void registry_free(struct server *s)
{
        for (size_t i = 0; i < s->n_types; i++)
                type_free(s->types[i]);
        free(s->types);
        s->types = NULL;
        s->n_types = 0;
}

struct resource_type *registry_find(struct server *s, const char *group, const char *version,
                                    const char *plural)
{
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (!t->removed && strcmp(t->group, group) == 0 &&
                    strcmp(t->version, version) == 0 && strcmp(t->plural, plural) == 0)
                        return t;
        }
        return NULL;
}

struct resource_type *registry_find_kind(struct server *s, const char *api_version,
                                         const char *kind)
{
        if (!api_version || !kind)
                return NULL;
        const char *slash = strchr(api_version, '/');
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (t->removed || strcmp(t->kind, kind) != 0)
                        continue;
                if (slash) {
                        size_t gl = (size_t)(slash - api_version);
                        if (strlen(t->group) == gl && strncmp(t->group, api_version, gl) == 0 &&
                            strcmp(t->version, slash + 1) == 0)
                                return t;
                } else if (t->group[0] == '\0' && strcmp(t->version, api_version) == 0) {
                        return t;
                }
        }
        return NULL;
}

char *registry_api_version(const struct resource_type *t)
{
        char *s = NULL;
        if (t->group[0] == '\0')
                return strdup(t->version);
        if (asprintf(&s, "%s/%s", t->group, t->version) < 0)
                return NULL;
        return s;
}

void registry_remove_crd(struct server *s, const char *crd_name)
{
        for (size_t i = 0; i < s->n_types; i++)
                if (s->types[i]->crd_name && strcmp(s->types[i]->crd_name, crd_name) == 0)
                        s->types[i]->removed = true;
}

int registry_apply_crd(struct server *s, json_t *crd)
{
        const char *name =
                json_string_value(json_object_get(json_object_get(crd, "metadata"), "name"));
        json_t *spec = json_object_get(crd, "spec");
        json_t *names = json_object_get(spec, "names");
        const char *group = json_string_value(json_object_get(spec, "group"));
        const char *plural = json_string_value(json_object_get(names, "plural"));
        const char *kind = json_string_value(json_object_get(names, "kind"));
        const char *singular = json_string_value(json_object_get(names, "singular"));
        const char *list_kind = json_string_value(json_object_get(names, "listKind"));
        const char *scope = json_string_value(json_object_get(spec, "scope"));
        if (!name || !group || !plural || !kind)
                return -EINVAL;
        _cleanup_free_ char *lower_kind = strdup(kind);
        if (!lower_kind)
                return -ENOMEM;
        for (char *p = lower_kind; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);

        registry_remove_crd(s, name);
        size_t i;
        json_t *v;
        json_array_foreach (json_object_get(spec, "versions"), i, v) {
                const char *version = json_string_value(json_object_get(v, "name"));
                if (!version || !json_is_true(json_object_get(v, "served")))
                        continue;
                struct resource_type *t = type_new(
                        group, version, plural, singular ? singular : lower_kind, kind, list_kind);
                if (!t)
                        return -ENOMEM;
                t->crd_name = strdup(name);
                t->is_crd = true;
                t->has_generation = true;
                t->namespaced = !scope || strcmp(scope, "Cluster") != 0;
                t->short_names = json_deep_copy(json_object_get(names, "shortNames"));
                if (!t->short_names)
                        t->short_names = json_array();
                t->categories = json_deep_copy(json_object_get(names, "categories"));
                if (!t->categories)
                        t->categories = json_array();
                json_t *sub = json_object_get(v, "subresources");
                t->status_subresource = json_object_get(sub, "status") != NULL;
                t->crd_schema = json_deep_copy(
                        json_object_get(json_object_get(v, "schema"), "openAPIV3Schema"));
                t->printer_columns = json_deep_copy(json_object_get(v, "additionalPrinterColumns"));
                if (!t->crd_name || add_type(s, t) < 0) {
                        type_free(t);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* Served group versions in registration order: [{group, versions:[...]}] */
static json_t *served_groups(struct server *s)
{
        json_t *groups = json_array();
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (t->removed || t->group[0] == '\0')
                        continue;
                json_t *g = NULL;
                size_t j;
                json_t *it;
                json_array_foreach (groups, j, it) {
                        if (strcmp(json_string_value(json_object_get(it, "name")), t->group) == 0)
                                g = it;
                }
                if (!g) {
                        g = json_pack("{s:s, s:[]}", "name", t->group, "versions");
                        json_array_append_new(groups, g);
                }
                json_t *versions = json_object_get(g, "versions");
                bool have = false;
                json_array_foreach (versions, j, it) {
                        if (strcmp(json_string_value(json_object_get(it, "version")), t->version) ==
                            0)
                                have = true;
                }
                if (!have) {
                        char gv[256];
                        snprintf(gv, sizeof(gv), "%s/%s", t->group, t->version);
                        json_array_append_new(versions, json_pack("{s:s, s:s}", "groupVersion", gv,
                                                                  "version", t->version));
                }
        }
        /* preferredVersion: the first version listed (CRDs list the storage version first). */
        size_t j;
        json_t *g;
        json_array_foreach (groups, j, g) {
                json_object_set(g, "preferredVersion",
                                json_array_get(json_object_get(g, "versions"), 0));
        }
        return groups;
}

json_t *registry_api_versions(struct server *s)
{
        const char *hostport = s->url ? strstr(s->url, "://") : NULL;
        return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                         "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                         hostport ? hostport + 3 : "");
}

json_t *registry_group_list(struct server *s)
{
        return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
                         served_groups(s));
}

json_t *registry_group(struct server *s, const char *group)
{
        _cleanup_json_ json_t *groups = served_groups(s);
        size_t i;
        json_t *g;
        json_array_foreach (groups, i, g) {
                if (strcmp(json_string_value(json_object_get(g, "name")), group) == 0) {
                        json_t *r = json_deep_copy(g);
                        json_object_set_new(r, "kind", json_string("APIGroup"));
                        json_object_set_new(r, "apiVersion", json_string("v1"));
                        return r;
                }
        }
        return NULL;
}

static json_t *verbs(const char *list)
{
        return split_names(list);
}

json_t *registry_resource_list(struct server *s, const char *group, const char *version)
{
        json_t *resources = json_array();
        bool found = false;
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (t->removed || strcmp(t->group, group) != 0 || strcmp(t->version, version) != 0)
                        continue;
                found = true;
                json_t *r = json_pack(
                        "{s:s, s:s, s:b, s:s, s:o, s:O, s:O}", "name", t->plural, "singularName",
                        t->singular, "namespaced", t->namespaced, "kind", t->kind, "verbs",
                        verbs("create,delete,deletecollection,get,list,patch,update,watch"),
                        "shortNames", t->short_names, "categories", t->categories);
                if (json_array_size(t->short_names) == 0)
                        json_object_del(r, "shortNames");
                if (json_array_size(t->categories) == 0)
                        json_object_del(r, "categories");
                json_array_append_new(resources, r);
                char name[256];
                if (t->status_subresource) {
                        snprintf(name, sizeof(name), "%s/status", t->plural);
                        json_array_append_new(resources,
                                              json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name,
                                                        "singularName", "", "namespaced",
                                                        t->namespaced, "kind", t->kind, "verbs",
                                                        verbs("get,patch,update")));
                }
                if (t->scale_subresource) {
                        snprintf(name, sizeof(name), "%s/scale", t->plural);
                        json_array_append_new(
                                resources,
                                json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:o}", "name", name,
                                          "singularName", "", "namespaced", t->namespaced, "group",
                                          "autoscaling", "version", "v1", "kind", "Scale", "verbs",
                                          verbs("get,patch,update")));
                }
                if (!t->group[0] && strcmp(t->plural, "serviceaccounts") == 0)
                        json_array_append_new(
                                resources,
                                json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:o}", "name",
                                          "serviceaccounts/token", "singularName", "", "namespaced",
                                          true, "group", "authentication.k8s.io", "version", "v1",
                                          "kind", "TokenRequest", "verbs", verbs("create")));
                if (t->eviction_subresource) {
                        snprintf(name, sizeof(name), "%s/eviction", t->plural);
                        json_array_append_new(resources,
                                              json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:o}",
                                                        "name", name, "singularName", "",
                                                        "namespaced", t->namespaced, "group",
                                                        "policy", "version", "v1", "kind",
                                                        "Eviction", "verbs", verbs("create")));
                }
        }
        if (!found) {
                json_decref(resources);
                return NULL;
        }
        char gv[256];
        if (group[0])
                snprintf(gv, sizeof(gv), "%s/%s", group, version);
        else
                snprintf(gv, sizeof(gv), "%s", version);
        return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                         "groupVersion", gv, "resources", resources);
}
