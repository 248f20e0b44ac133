/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubelet of fakekube's nodes.
 *
 * Virtual pods (sync_virtual_kubelet, reconcile thread): a bound pod on a
 * Ready node becomes Running and Ready pod_ready_delay_ms after the kubelet
 * first sees it; a terminating pod is confirmed deleted (grace 0).
 *
 * Process pods (process_kubelet thread): each container runs the local
 * binary mapped to its image, in its own process group, stdout+stderr to
 * <state_dir>/pods/<namespace>_<pod>_<uid>/<container>.log, with the pod's
 * loopback IP in status.podIP; HTTP readiness/liveness probes; restarts per
 * restartPolicy; SIGTERM, then SIGKILL after the grace period, on deletion;
 * SIGKILL at once when the pod's node goes NotReady (a dead host).  As root,
 * each container runs in a private mount namespace with the pod's volumes
 * (volumes.c) bound at their mountPath, the service-account token at
 * /var/run/secrets/kubernetes.io/serviceaccount, a read-only root when asked,
 * and as the securityContext's runAsUser/runAsGroup; not as root, without
 * any of these (logged once).
 */
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "macros.h"
#include "objects.h"
#include "podenv.h"
#include "volumes.h"

#define RESTART_BACKOFF_START_MS 1000
#define RESTART_BACKOFF_MAX_MS   30000
#define CPU_WINDOW_MS            15000
#define CPU_SAMPLES              32
#define STOP_GRACE_CAP_MS        10000
#define VOLUME_RESYNC_MS         5000 /* Secret/ConfigMap volume updates reach pods this fast */
#define VOLUME_RETRY_MS          2000
#define CONFIG_ERROR_RETRY_MS    10000

static const char *host_ip_of(const struct sync *s, const json_t *pod)
{
        const char *node_name =
                json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
        const json_t *node = node_name ? json_object_get(s->objects[KIND_NODE], node_name) : NULL;
        size_t i;
        json_t *a;
        json_array_foreach (json_object_get(json_object_get(node, "status"), "addresses"), i, a) {
                const char *type = json_string_value(json_object_get(a, "type"));
                if (type && strcmp(type, "InternalIP") == 0)
                        return json_string_value(json_object_get(a, "address"));
        }
        return "127.0.0.1";
}

/* The pod-level part of a running pod's status; container statuses are added by the caller. */
static json_t *pod_status_base(const json_t *pod, const char *phase, const char *ip,
                               const char *host_ip, bool ready, bool initialized,
                               const char *start_time, const char *now_text)
{
        const json_t *old = json_object_get(json_object_get(pod, "status"), "conditions");
        const char *r = ready ? "True" : "False";
        json_t *c1 = conditions_set(old, "PodReadyToStartContainers", "True", NULL, NULL, now_text,
                                    false);
        json_t *c2 = conditions_set(c1, "Initialized", initialized ? "True" : "False",
                                    initialized ? NULL : "ContainersNotInitialized",
                                    initialized ? NULL : "containers with incomplete status",
                                    now_text, false);
        json_t *c3 =
                conditions_set(c2, "Ready", r, ready ? NULL : "ContainersNotReady",
                               ready ? NULL : "containers with unready status", now_text, false);
        json_t *c4 =
                conditions_set(c3, "ContainersReady", r, ready ? NULL : "ContainersNotReady",
                               ready ? NULL : "containers with unready status", now_text, false);
        json_t *c5 = conditions_set(c4, "PodScheduled", "True", NULL, NULL, now_text, false);
        json_decref(c1);
        json_decref(c2);
        json_decref(c3);
        json_decref(c4);
        /* A Ready condition that became True must not keep the old "not ready" reason. */
        size_t i;
        json_t *c;
        json_array_foreach (c5, i, c) {
                const char *cs = json_string_value(json_object_get(c, "status"));
                if (cs && strcmp(cs, "True") == 0) {
                        json_object_del(c, "reason");
                        json_object_del(c, "message");
                }
        }
        const char *qos = pod_request_milli(pod, "cpu") || pod_request_milli(pod, "memory")
                                  ? "Burstable"
                                  : "BestEffort";
        return json_pack("{ss ss s[{ss}] ss s[{ss}] ss so ss}", "phase", phase, "hostIP", host_ip,
                         "hostIPs", "ip", host_ip, "podIP", ip, "podIPs", "ip", ip, "startTime",
                         start_time, "conditions", c5, "qosClass", qos);
}

/* ---------------------------------------------------------------- virtual pods */

void sync_virtual_kubelet(struct sync *s)
{
        struct controllers *c = s->c;
        const char *key;
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                const char *uid = object_uid(pod);
                if (!uid)
                        continue;
                bool bound = json_object_get(json_object_get(pod, "spec"), "nodeName") != NULL;
                if (!bound && !c->options.disable_nodes)
                        continue;
                bool alive = pod_node_alive(s, pod);
                if (object_terminating(pod)) {
                        /* The kubelet confirms the containers are gone; a dead node confirms
                         * nothing. */
                        if (alive)
                                api_delete(s, KIND_POD, object_namespace(pod), object_name(pod), 0);
                        continue;
                }
                if (!alive || !pod_active(pod))
                        continue;
                const json_t *status = json_object_get(pod, "status");
                const char *phase = json_string_value(json_object_get(status, "phase"));
                const char *old_ip = json_string_value(json_object_get(status, "podIP"));
                if (old_ip)
                        pod_ip_reserve(c, old_ip, uid);
                bool running = phase && strcmp(phase, "Running") == 0;
                if (running && pod_ready(pod))
                        continue;
                json_t *seen = json_object_get(c->pod_seen, uid);
                if (!seen) {
                        json_object_set_new(c->pod_seen, uid, json_integer(s->mono_ms));
                        store_poke(&c->store); /* come back when the delay is over */
                        continue;
                }
                if (!running &&
                    s->mono_ms - json_integer_value(seen) < c->options.pod_ready_delay_ms)
                        continue;
                char ip[32];
                if (pod_ip_allocate(c, uid, ip, sizeof(ip)) < 0)
                        continue;
                const char *start = json_string_value(json_object_get(status, "startTime"));
                _cleanup_json_ json_t *st =
                        pod_status_base(pod, "Running", ip, host_ip_of(s, pod), true, true,
                                        start ? start : s->now_text, s->now_text);
                if (!st)
                        continue;
                json_t *containers = json_array();
                size_t i;
                json_t *container;
                json_array_foreach (json_object_get(json_object_get(pod, "spec"), "containers"), i,
                                    container) {
                        const char *name = json_string_value(json_object_get(container, "name"));
                        const char *image = json_string_value(json_object_get(container, "image"));
                        char id[200], image_id[300];
                        snprintf(id, sizeof(id), "fakekube://%s-%s", uid, name ? name : "");
                        snprintf(image_id, sizeof(image_id), "fakekube://%s", image ? image : "");
                        json_array_append_new(containers,
                                              json_pack("{ss* ss* ss ss sb sb si s{s{ss}}}", "name",
                                                        name, "image", image, "imageID", image_id,
                                                        "containerID", id, "ready", 1, "started", 1,
                                                        "restartCount", 0, "state", "running",
                                                        "startedAt", start ? start : s->now_text));
                }
                json_object_set_new(st, "containerStatuses", containers);
                pod_patch_status(s, pod, st);
        }
        /* Forget pods that are gone. */
        void *tmp;
        json_t *v;
        json_object_foreach_safe (c->pod_seen, tmp, key, v) {
                bool found = false;
                const char *k2;
                json_object_foreach (s->objects[KIND_POD], k2, pod) {
                        const char *uid = object_uid(pod);
                        if (uid && strcmp(uid, key) == 0) {
                                found = true;
                                break;
                        }
                }
                if (!found)
                        json_object_del(c->pod_seen, key);
        }
}

/* ---------------------------------------------------------------- process pods */

struct container_proc {
        bool init; /* an init container: runs to completion before the others */
        char name[128];
        char image[256];
        pid_t pid;
        int restarts;
        bool ready;
        bool ever_started;
        bool image_missing;
        int last_exit_code;
        bool has_last_exit;
        bool terminated; /* exited and will not restart */
        char started_at[32];
        char finished_at[32];
        char last_started_at[32];
        int64_t next_start_mono;
        int64_t backoff_ms;
        int64_t running_since_mono;
        int64_t kill_at_mono; /* being stopped for a restart: SIGKILL at this time */
        bool has_readiness, has_liveness, has_startup;
        struct http_probe readiness, liveness, startup;
        int64_t next_readiness_mono, next_liveness_mono, next_startup_mono;
        int readiness_failures, readiness_successes, liveness_failures, startup_failures;
        bool startup_done;      /* the startup probe succeeded (or there is none) */
        char config_error[512]; /* CreateContainerConfigError's message, "" when none */
};

struct process_pod {
        char uid[64];
        char namespace_[256];
        char name[256];
        char ip[32];
        char dir[1024];
        char restart_policy[16];
        char start_time[32];
        json_t *pod; /* latest copy from the cache */
        struct container_proc *containers;
        size_t n_containers;
        bool terminating;
        bool gone;
        int64_t kill_deadline_mono;
        bool killed;
        json_t *last_status;
        int64_t cpu_mono[CPU_SAMPLES];
        int64_t cpu_ms[CPU_SAMPLES];
        size_t n_cpu;
        /* Volumes: name -> host directory; name -> last payload written; token cache. */
        json_t *volume_dirs;
        json_t *volume_payloads;
        json_t *tokens; /* "AUDIENCE|SECONDS" -> {"token", "refresh_mono"} */
        bool volumes_ready;
        int64_t next_volume_sync_mono;
        char volume_error[512];
        struct process_pod *next;
};

struct kubelet {
        struct controllers *c;
        struct kclient *client;
        CURL *probe;
        struct process_pod *pods;
        int64_t last_cpu_sample_mono;
        long clock_ticks;
        bool sandboxes; /* root: mount namespaces, volumes, runAsUser */
        char *ca_pem;   /* the API server's CA, for the token volume's ca.crt */
};

static void process_pod_free(struct process_pod *p)
{
        if (!p)
                return;
        json_decref(p->pod);
        json_decref(p->last_status);
        json_decref(p->volume_dirs);
        json_decref(p->volume_payloads);
        json_decref(p->tokens);
        free(p->containers);
        free(p);
}

static bool any_running(const struct process_pod *p)
{
        for (size_t i = 0; i < p->n_containers; i++)
                if (p->containers[i].pid > 0)
                        return true;
        return false;
}

static void signal_pod(struct process_pod *p, int sig)
{
        for (size_t i = 0; i < p->n_containers; i++)
                if (p->containers[i].pid > 0)
                        kill(-p->containers[i].pid, sig);
}

static const char *resolve_binary(struct controllers *c, const char *image)
{
        if (!image)
                return NULL;
        size_t image_len = strlen(image);
        for (size_t i = 0; i < c->n_pod_commands; i++) {
                const char *entry = c->pod_commands[i];
                const char *eq = strchr(entry, '=');
                size_t n = (size_t)(eq - entry);
                if (n == image_len && strncmp(entry, image, n) == 0)
                        return eq + 1;
        }
        /* "repo/app:tag" also matches a mapping for "repo/app". */
        const char *slash = strrchr(image, '/');
        const char *colon = strrchr(slash ? slash : image, ':');
        if (colon) {
                size_t base = (size_t)(colon - image);
                for (size_t i = 0; i < c->n_pod_commands; i++) {
                        const char *entry = c->pod_commands[i];
                        const char *eq = strchr(entry, '=');
                        if ((size_t)(eq - entry) == base && strncmp(entry, image, base) == 0)
                                return eq + 1;
                }
        }
        if (image[0] == '/' && access(image, X_OK) == 0)
                return image;
        return NULL;
}

struct lookup_ctx {
        struct kclient *client;
};

static char *decode_base64(const char *text)
{
        size_t n = strlen(text);
        unsigned char *out = malloc(n / 4 * 3 + 4);
        if (!out)
                return NULL;
        int len = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
        if (len < 0) {
                free(out);
                return NULL;
        }
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        while (n > 0 && text[n - 1] == '=' && len > 0) {
                len--;
                n--;
        }
        out[len] = '\0';
        return (char *)out;
}

/* ConfigMap/Secret keys for env (key NULL: all keys as a JSON object of strings). */
static char *lookup_key(const char *kind, const char *namespace_, const char *name, const char *key,
                        void *userdata)
{
        struct lookup_ctx *ctx = userdata;
        bool secret = strcmp(kind, "Secret") == 0;
        char path[700];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", namespace_,
                 secret ? "secrets" : "configmaps", name);
        long status = 0;
        _cleanup_json_ json_t *obj = NULL;
        if (kclient_request(ctx->client, "GET", path, NULL, NULL, &status, &obj) < 0 ||
            status != 200)
                return NULL;
        _cleanup_json_ json_t *values = json_object();
        const char *fields[] = {"data", "stringData"};
        for (size_t f = 0; f < 2; f++) {
                const char *k;
                json_t *v;
                json_object_foreach (json_object_get(obj, fields[f]), k, v) {
                        if (!json_is_string(v))
                                continue;
                        if (secret && f == 0) {
                                char *decoded = decode_base64(json_string_value(v));
                                if (decoded)
                                        json_object_set_new(values, k, json_string(decoded));
                                free(decoded);
                        } else {
                                json_object_set(values, k, v);
                        }
                }
        }
        if (key) {
                const char *v = json_string_value(json_object_get(values, key));
                return v ? strdup(v) : NULL;
        }
        return json_dumps(values, JSON_COMPACT);
}

static const char *const passed_environment[] = {
        "PATH", "HOME", "LANG", "TMPDIR", "LD_LIBRARY_PATH", NULL};

static bool passed_through(const char *entry)
{
        for (size_t i = 0; passed_environment[i]; i++) {
                size_t n = strlen(passed_environment[i]);
                if (strncmp(entry, passed_environment[i], n) == 0 && entry[n] == '=')
                        return true;
        }
        /* Sanitizer settings, so sanitized builds of pod binaries behave as in their own tests. */
        return strncmp(entry, "ASAN_", 5) == 0 || strncmp(entry, "UBSAN_", 6) == 0 ||
               strncmp(entry, "LSAN_", 5) == 0;
}

static void free_strv(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static int strv_push(char ***v, size_t *n, char *item)
{
        if (!item)
                return -ENOMEM;
        char **grown = realloc(*v, (*n + 2) * sizeof(**v));
        if (!grown) {
                free(item);
                return -ENOMEM;
        }
        *v = grown;
        (*v)[(*n)++] = item;
        (*v)[*n] = NULL;
        return 0;
}

static int build_exec(struct kubelet *k, struct process_pod *p, const json_t *container,
                      const char *binary, char ***ret_argv, char ***ret_envp)
{
        struct lookup_ctx ctx = {.client = k->client};
        _cleanup_json_ json_t *env =
                container_environment(p->pod, container, p->ip, lookup_key, &ctx);
        if (!env)
                return -ENOMEM;
        char **argv = NULL, **envp = NULL;
        size_t n_argv = 0, n_envp = 0;
        int r = strv_push(&argv, &n_argv, strdup(binary));
        /* command[0] names the image's entrypoint, which is the mapped binary; the rest are
         * arguments. */
        const json_t *command = json_object_get(container, "command");
        for (size_t i = 1; r == 0 && i < json_array_size(command); i++)
                r = strv_push(&argv, &n_argv,
                              expand_vars(json_string_value(json_array_get(command, i)), env));
        const json_t *args = json_object_get(container, "args");
        for (size_t i = 0; r == 0 && i < json_array_size(args); i++)
                r = strv_push(&argv, &n_argv,
                              expand_vars(json_string_value(json_array_get(args, i)), env));
        for (char **e = environ; r == 0 && e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if (!eq || !passed_through(*e))
                        continue;
                _cleanup_free_ char *name = strndup(*e, (size_t)(eq - *e));
                if (name && json_object_get(env, name))
                        continue;
                r = strv_push(&envp, &n_envp, strdup(*e));
        }
        char *item = NULL;
        if (r == 0 && asprintf(&item, "HOSTNAME=%s", p->name) >= 0)
                r = strv_push(&envp, &n_envp, item);
        /* What in-cluster clients look for: the API server's address. */
        const char *url = k->c->api_url;
        const char *host = strstr(url, "://");
        if (r == 0 && host) {
                host += 3;
                const char *colon = strrchr(host, ':');
                if (colon &&
                    asprintf(&item, "KUBERNETES_SERVICE_HOST=%.*s", (int)(colon - host), host) >=
                            0 &&
                    strv_push(&envp, &n_envp, item) == 0 &&
                    asprintf(&item, "KUBERNETES_SERVICE_PORT=%d", atoi(colon + 1)) >= 0)
                        r = strv_push(&envp, &n_envp, item);
        }
        const char *key;
        json_t *value;
        json_object_foreach (env, key, value) {
                if (r == 0 && asprintf(&item, "%s=%s", key, json_string_value(value)) >= 0)
                        r = strv_push(&envp, &n_envp, item);
        }
        if (r < 0) {
                free_strv(argv);
                free_strv(envp);
                return r;
        }
        *ret_argv = argv;
        *ret_envp = envp;
        return 0;
}

static const json_t *container_spec(const struct process_pod *p, const struct container_proc *cp)
{
        const char *name = cp->name;
        size_t i;
        json_t *container;
        json_array_foreach (json_object_get(json_object_get(p->pod, "spec"),
                                            cp->init ? "initContainers" : "containers"),
                            i, container) {
                const char *n = json_string_value(json_object_get(container, "name"));
                if (n && strcmp(n, name) == 0)
                        return container;
        }
        return NULL;
}

/* ---------------------------------------------------------------- volumes */

static int make_dirs(const char *path);

struct volume_ctx {
        struct kubelet *k;
        struct process_pod *p;
        int64_t mono_ms;
};

static json_t *get_core_object(struct kclient *client, const char *plural, const char *ns,
                               const char *name, long *ret_status)
{
        char path[800];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", ns, plural, name);
        long status = 0;
        json_t *obj = NULL;
        if (kclient_request(client, "GET", path, NULL, NULL, &status, &obj) < 0)
                status = 0;
        *ret_status = status;
        if (status != 200) {
                json_decref(obj);
                return NULL;
        }
        return obj;
}

static json_t *volume_get_object(const char *kind, const char *ns, const char *name, void *userdata)
{
        struct volume_ctx *ctx = userdata;
        long status;
        return get_core_object(ctx->k->client,
                               strcmp(kind, "Secret") == 0 ? "secrets" : "configmaps", ns, name,
                               &status);
}

static const char *pod_service_account(const json_t *pod)
{
        const json_t *spec = json_object_get(pod, "spec");
        const char *name = json_string_value(json_object_get(spec, "serviceAccountName"));
        if (!name || !name[0])
                name = json_string_value(json_object_get(spec, "serviceAccount"));
        return name && name[0] ? name : "default";
}

/* A token bound to the pod, from the TokenRequest API; reissued at 80 % of its lifetime. */
static char *volume_get_token(const char *audience, int64_t seconds, void *userdata)
{
        struct volume_ctx *ctx = userdata;
        struct process_pod *p = ctx->p;
        char key[600];
        snprintf(key, sizeof(key), "%s|%lld", audience ? audience : "", (long long)seconds);
        const json_t *cached = json_object_get(p->tokens, key);
        if (cached && ctx->mono_ms < json_integer_value(json_object_get(cached, "refresh_mono")))
                return strdup(json_string_value(json_object_get(cached, "token")));
        char path[800];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token",
                 p->namespace_, pod_service_account(p->pod));
        _cleanup_json_ json_t *body =
                json_pack("{s:s, s:s, s:{s:I, s:{s:s, s:s, s:s, s:s}}}", "apiVersion",
                          "authentication.k8s.io/v1", "kind", "TokenRequest", "spec",
                          "expirationSeconds", (json_int_t)seconds, "boundObjectRef", "kind", "Pod",
                          "apiVersion", "v1", "name", p->name, "uid", p->uid);
        if (body && audience && audience[0])
                json_object_set_new(json_object_get(body, "spec"), "audiences",
                                    json_pack("[s]", audience));
        long status = 0;
        _cleanup_json_ json_t *answer = NULL;
        if (!body ||
            kclient_request(ctx->k->client, "POST", path, body, NULL, &status, &answer) < 0 ||
            status != 201)
                return NULL;
        const char *token =
                json_string_value(json_object_get(json_object_get(answer, "status"), "token"));
        if (!token)
                return NULL;
        json_object_set_new(p->tokens, key,
                            json_pack("{s:s, s:I}", "token", token, "refresh_mono",
                                      (json_int_t)(ctx->mono_ms + seconds * 800)));
        return strdup(token);
}

/*
 * The pod's ServiceAccount (new reference), NULL when it cannot be read.  A
 * missing "default" account is created, standing in for kube-controller-
 * manager's serviceaccounts controller (which fakekube does not run).
 */
static json_t *pod_service_account_object(struct kubelet *k, struct process_pod *p)
{
        const char *name = pod_service_account(p->pod);
        long status = 0;
        json_t *sa = get_core_object(k->client, "serviceaccounts", p->namespace_, name, &status);
        if (sa || status != 404 || strcmp(name, "default") != 0)
                return sa;
        char path[600];
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", p->namespace_);
        _cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                                "ServiceAccount", "metadata", "name", "default");
        _cleanup_json_ json_t *created = NULL;
        if (body)
                kclient_request(k->client, "POST", path, body, NULL, &status, &created);
        return get_core_object(k->client, "serviceaccounts", p->namespace_, name, &status);
}

/* The uid every container runs as, when they agree (the token file's owner), else -1. */
static uid_t pod_uniform_uid(const json_t *pod)
{
        uid_t uid = (uid_t)-1;
        bool first = true;
        const char *lists[] = {"initContainers", "containers"};
        for (size_t l = 0; l < 2; l++) {
                size_t i;
                json_t *container;
                json_array_foreach (json_object_get(json_object_get(pod, "spec"), lists[l]), i,
                                    container) {
                        struct run_as ra;
                        _cleanup_free_ char *error = NULL;
                        if (container_run_as(pod, container, &ra, &error) < 0 || !ra.change_ids)
                                return (uid_t)-1;
                        if (!first && ra.uid != uid)
                                return (uid_t)-1;
                        uid = ra.uid;
                        first = false;
                }
        }
        return uid;
}

/*
 * Materialize the pod's volumes under <pod dir>/volumes: emptyDir
 * directories, the files of Secret/ConfigMap/downwardAPI/projected volumes
 * (rewritten atomically when their content changes), hostPath as given.  On
 * failure the pod's containers wait (FailedMount) and it is retried.
 */
static void sync_volumes(struct kubelet *k, struct sync *s, struct process_pod *p)
{
        if (s->mono_ms < p->next_volume_sync_mono)
                return;
        struct volume_ctx ctx = {.k = k, .p = p, .mono_ms = s->mono_ms};
        struct volume_sources sources = {.get_object = volume_get_object,
                                         .get_token = volume_get_token,
                                         .ca_pem = k->ca_pem,
                                         .userdata = &ctx};
        _cleanup_json_ json_t *volumes = json_deep_copy(
                json_object_get(json_object_get(p->pod, "spec"), "volumes") ?: json_null());
        if (!json_is_array(volumes)) {
                json_decref(volumes);
                volumes = json_array();
        }
        char error[512] = "", failed_volume[256] = "";
        _cleanup_json_ json_t *sa = pod_service_account_object(k, p);
        if (!sa) {
                snprintf(error, sizeof(error), "serviceaccount \"%s\" not found",
                         pod_service_account(p->pod));
                snprintf(failed_volume, sizeof(failed_volume), "%s", SERVICE_ACCOUNT_VOLUME);
        } else {
                json_t *implicit = service_account_volume(p->pod, sa);
                if (implicit)
                        json_array_append_new(volumes, implicit);
        }
        const json_t *pod_sc = json_object_get(json_object_get(p->pod, "spec"), "securityContext");
        const json_t *fs_group = json_object_get(pod_sc, "fsGroup");
        gid_t gid = json_is_integer(fs_group) ? (gid_t)json_integer_value(fs_group) : 0;
        uid_t token_uid = pod_uniform_uid(p->pod);
        size_t i;
        json_t *volume;
        json_array_foreach (volumes, i, volume) {
                if (error[0])
                        break;
                const char *name = json_string_value(json_object_get(volume, "name"));
                if (!name)
                        continue;
                char dir[1400];
                snprintf(dir, sizeof(dir), "%s/volumes/%s", p->dir, name);
                const json_t *host = json_object_get(volume, "hostPath");
                if (host) {
                        const char *path = json_string_value(json_object_get(host, "path"));
                        const char *type = json_string_value(json_object_get(host, "type"));
                        if (path && type && strcmp(type, "DirectoryOrCreate") == 0)
                                make_dirs(path);
                        if (!path || access(path, F_OK) != 0) {
                                snprintf(error, sizeof(error), "hostPath %s does not exist",
                                         path ? path : "");
                                snprintf(failed_volume, sizeof(failed_volume), "%s", name);
                                break;
                        }
                        json_object_set_new(p->volume_dirs, name, json_string(path));
                        continue;
                }
                if (json_object_get(volume, "emptyDir")) {
                        if (make_dirs(dir) < 0 || chmod(dir, 0777) < 0 ||
                            (gid && chown(dir, 0, gid) < 0)) {
                                snprintf(error, sizeof(error), "cannot create %.300s: %s", dir,
                                         strerror(errno));
                                snprintf(failed_volume, sizeof(failed_volume), "%s", name);
                                break;
                        }
                        json_object_set_new(p->volume_dirs, name, json_string(dir));
                        continue;
                }
                _cleanup_json_ json_t *files = NULL;
                _cleanup_free_ char *message = NULL;
                int r = volume_payload(p->pod, volume, p->ip, &sources, &files, &message);
                if (r == 0) {
                        if (json_equal(files, json_object_get(p->volume_payloads, name)))
                                continue;
                        char volumes_dir[1300];
                        snprintf(volumes_dir, sizeof(volumes_dir), "%s/volumes", p->dir);
                        if (make_dirs(volumes_dir) < 0 ||
                            (r = volume_write(dir, files, token_uid, gid, gid != 0)) < 0) {
                                snprintf(error, sizeof(error), "cannot write %.300s: %s", dir,
                                         strerror(-r));
                        } else {
                                json_object_set(p->volume_payloads, name, files);
                                json_object_set_new(p->volume_dirs, name, json_string(dir));
                        }
                } else {
                        snprintf(error, sizeof(error), "%s", message ? message : strerror(-r));
                }
                if (error[0])
                        snprintf(failed_volume, sizeof(failed_volume), "%s", name);
        }
        if (error[0]) {
                if (strcmp(error, p->volume_error) != 0)
                        emit_event(s, p->pod, "Pod", "v1", "Warning", "FailedMount", "kubelet",
                                   "MountVolume.SetUp failed for volume \"%s\" : %s", failed_volume,
                                   error);
                snprintf(p->volume_error, sizeof(p->volume_error), "%s", error);
                p->next_volume_sync_mono = s->mono_ms + VOLUME_RETRY_MS;
                return;
        }
        p->volume_error[0] = '\0';
        p->volumes_ready = true;
        p->next_volume_sync_mono = s->mono_ms + VOLUME_RESYNC_MS;
}

/* The container with the implicit service-account mount added, unless it mounts that path. */
static json_t *container_with_implicit_mounts(const struct process_pod *p, const json_t *container)
{
        json_t *copy = json_deep_copy(container);
        if (!copy || !json_object_get(p->volume_dirs, SERVICE_ACCOUNT_VOLUME))
                return copy;
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(copy, "volumeMounts"), i, m) {
                const char *path = json_string_value(json_object_get(m, "mountPath"));
                if (path && strcmp(path, SERVICE_ACCOUNT_MOUNT_PATH) == 0)
                        return copy;
        }
        json_t *mounts = json_object_get(copy, "volumeMounts");
        if (!json_is_array(mounts)) {
                mounts = json_array();
                json_object_set_new(copy, "volumeMounts", mounts);
        }
        json_array_append_new(mounts,
                              json_pack("{s:s, s:s, s:b}", "name", SERVICE_ACCOUNT_VOLUME,
                                        "mountPath", SERVICE_ACCOUNT_MOUNT_PATH, "readOnly", 1));
        return copy;
}

static char *read_text_file(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        char *grown = realloc(buf, cap = len + 65536);
                        if (!grown) {
                                free(buf);
                                close(fd);
                                return NULL;
                        }
                        buf = grown;
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (buf)
                buf[len] = '\0';
        return buf;
}

/* Async-signal-safe: "fakekube kubelet: cannot start the container: STEP: errno N\n" to fd. */
static void child_report(int fd, const char *step, int error)
{
        char number[16];
        size_t n = sizeof(number);
        number[--n] = '\0';
        unsigned v = (unsigned)(error < 0 ? -error : error);
        do {
                number[--n] = (char)('0' + v % 10);
                v /= 10;
        } while (v && n > 0);
        const char *parts[] = {"fakekube kubelet: cannot start the container: ", step, ": errno ",
                               number + n, "\n"};
        for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
                if (write(fd, parts[i], strlen(parts[i])) < 0)
                        return;
}

static int start_container(struct kubelet *k, struct sync *s, struct process_pod *p,
                           struct container_proc *cp)
{
        int64_t mono_ms = s->mono_ms;
        const char *now_text = s->now_text;
        const json_t *container = container_spec(p, cp);
        const char *binary = resolve_binary(k->c, cp->image);
        if (!binary) {
                cp->image_missing = true;
                cp->next_start_mono = mono_ms + RESTART_BACKOFF_MAX_MS;
                return -ENOENT;
        }
        cp->image_missing = false;
        /* The identity and mounts, resolved before fork: the child only makes system calls. */
        struct sandbox sandbox = SANDBOX_INIT;
        sandbox.mount_namespace = k->sandboxes;
        _cleanup_free_ char *config_error = NULL;
        _cleanup_json_ json_t *effective = container_with_implicit_mounts(p, container);
        _cleanup_free_ char *mountinfo = NULL;
        /* Not root: today's behaviour, securityContext ignored (logged once at start). */
        int r = k->sandboxes ? container_run_as(p->pod, container, &sandbox.run_as, &config_error)
                             : 0;
        if (r == 0 && sandbox.run_as.read_only_root)
                mountinfo = read_text_file("/proc/self/mountinfo");
        const char *working_dir = json_string_value(json_object_get(container, "workingDir"));
        if (!working_dir || access(working_dir, X_OK) != 0)
                working_dir = p->dir;
        if (r == 0)
                r = sandbox_prepare(&sandbox, k->sandboxes ? effective : NULL, p->volume_dirs,
                                    mountinfo, working_dir, &config_error);
        if (r < 0) {
                char message[sizeof(cp->config_error)];
                snprintf(message, sizeof(message), "%s",
                         config_error ? config_error : strerror(-r));
                if (strcmp(message, cp->config_error) != 0)
                        emit_event(s, p->pod, "Pod", "v1", "Warning", "Failed", "kubelet",
                                   "Error: %s", message);
                snprintf(cp->config_error, sizeof(cp->config_error), "%s", message);
                cp->next_start_mono = mono_ms + CONFIG_ERROR_RETRY_MS;
                sandbox_release(&sandbox);
                return r;
        }
        cp->config_error[0] = '\0';
        char **argv = NULL, **envp = NULL;
        r = build_exec(k, p, container, binary, &argv, &envp);
        if (r < 0) {
                sandbox_release(&sandbox);
                return r;
        }
        char log_path[1200];
        snprintf(log_path, sizeof(log_path), "%s/%s.log", p->dir, cp->name);
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        /* The binary by descriptor too: a pod user may not traverse the path to it. */
        int binary_fd = open(argv[0], O_PATH | O_CLOEXEC);
        if (log_fd < 0 || null_fd < 0) {
                r = -errno;
                goto out;
        }
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                goto out;
        }
        if (pid == 0) {
                /* Child: only async-signal-safe calls until execve. */
                setpgid(0, 0);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                signal(SIGPIPE, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                signal(SIGHUP, SIG_DFL);
                dup2(null_fd, 0);
                dup2(log_fd, 1);
                dup2(log_fd, 2);
                const char *step = "";
                int failed = sandbox_enter(&sandbox, &step);
                if (failed < 0) {
                        child_report(2, step, failed);
                        _exit(126);
                }
                /* Nothing of fakekube's (listening sockets, API connections) leaks into a pod. */
                if (binary_fd >= 0 && binary_fd != 3)
                        binary_fd = dup3(binary_fd, 3, O_CLOEXEC);
                close_range(binary_fd == 3 ? 4 : 3, ~0U, 0);
                execve(argv[0], argv, envp);
                if ((errno == EACCES || errno == ENOENT) && binary_fd >= 0)
                        execveat(binary_fd, "", argv, envp, AT_EMPTY_PATH);
                child_report(2, "execve", errno);
                _exit(127);
        }
        setpgid(pid, pid);
        cp->pid = pid;
        cp->ever_started = true;
        cp->ready = false;
        cp->running_since_mono = mono_ms;
        cp->readiness_failures = cp->readiness_successes = cp->liveness_failures = 0;
        cp->startup_failures = 0;
        cp->startup_done = !cp->has_startup;
        if (cp->has_startup)
                cp->next_startup_mono = mono_ms + cp->startup.initial_delay_ms;
        snprintf(cp->started_at, sizeof(cp->started_at), "%s", now_text);
        if (cp->has_readiness)
                cp->next_readiness_mono = mono_ms + cp->readiness.initial_delay_ms;
        if (cp->has_liveness)
                cp->next_liveness_mono = mono_ms + cp->liveness.initial_delay_ms;
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{ss ss ss ss sI ss}", "pod", p->name, "namespace", p->namespace_,
                           "container", cp->name, "ip", p->ip, "pid", (json_int_t)pid, "log",
                           log_path),
                 "fakekube controllers: started a process pod container");
        emit_event(s, p->pod, "Pod", "v1", "Normal", "Started", "kubelet", "Started container %s",
                   cp->name);
        r = 0;
out:
        sandbox_release(&sandbox);
        if (binary_fd >= 0)
                close(binary_fd);
        if (log_fd >= 0)
                close(log_fd);
        if (null_fd >= 0)
                close(null_fd);
        free_strv(argv);
        free_strv(envp);
        return r;
}

static int make_dirs(const char *path)
{
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static struct process_pod *track_pod(struct kubelet *k, const json_t *pod, int64_t now_ms)
{
        struct process_pod *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        snprintf(p->uid, sizeof(p->uid), "%s", object_uid(pod));
        snprintf(p->namespace_, sizeof(p->namespace_), "%s", object_namespace(pod));
        snprintf(p->name, sizeof(p->name), "%s", object_name(pod));
        snprintf(p->dir, sizeof(p->dir), "%s/pods/%s_%s_%s", k->c->state_dir, p->namespace_,
                 p->name, p->uid);
        const char *policy =
                json_string_value(json_object_get(json_object_get(pod, "spec"), "restartPolicy"));
        snprintf(p->restart_policy, sizeof(p->restart_policy), "%s", policy ? policy : "Always");
        clock_format_rfc3339(now_ms / 1000, p->start_time, sizeof(p->start_time));
        p->pod = json_incref((json_t *)pod);
        p->volume_dirs = json_object();
        p->volume_payloads = json_object();
        p->tokens = json_object();
        p->volumes_ready = !k->sandboxes; /* without mount namespaces: no volumes (logged) */
        const json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
        const json_t *init_containers =
                json_object_get(json_object_get(pod, "spec"), "initContainers");
        /* Init containers first, in order, then the others. */
        size_t n_init = json_array_size(init_containers);
        p->n_containers = n_init + json_array_size(containers);
        p->containers = calloc(p->n_containers ? p->n_containers : 1, sizeof(*p->containers));
        /* After a fakekube restart (--data) a pod keeps the IP its status already shows. */
        const char *old_ip =
                json_string_value(json_object_get(json_object_get(pod, "status"), "podIP"));
        if (old_ip)
                pod_ip_reserve(k->c, old_ip, p->uid);
        if (!p->containers || !p->volume_dirs || !p->volume_payloads || !p->tokens ||
            pod_ip_allocate(k->c, p->uid, p->ip, sizeof(p->ip)) < 0 || make_dirs(p->dir) < 0) {
                process_pod_free(p);
                return NULL;
        }
        for (size_t i = 0; i < p->n_containers; i++) {
                const json_t *container = i < n_init ? json_array_get(init_containers, i)
                                                     : json_array_get(containers, i - n_init);
                struct container_proc *cp = &p->containers[i];
                cp->init = i < n_init;
                snprintf(cp->name, sizeof(cp->name), "%s",
                         json_string_value(json_object_get(container, "name")) ?: "");
                snprintf(cp->image, sizeof(cp->image), "%s",
                         json_string_value(json_object_get(container, "image")) ?: "");
                cp->has_readiness = probe_parse(json_object_get(container, "readinessProbe"),
                                                container, &cp->readiness) == 0;
                cp->has_liveness = probe_parse(json_object_get(container, "livenessProbe"),
                                               container, &cp->liveness) == 0;
                cp->has_startup = probe_parse(json_object_get(container, "startupProbe"), container,
                                              &cp->startup) == 0;
                cp->backoff_ms = RESTART_BACKOFF_START_MS;
        }
        p->next = k->pods;
        k->pods = p;
        return p;
}

static bool probe_once(struct kubelet *k, const char *ip, const struct http_probe *probe)
{
        char url[700];
        snprintf(url, sizeof(url), "http://%s:%d%s", ip, probe->port, probe->path);
        curl_easy_reset(k->probe);
        curl_easy_setopt(k->probe, CURLOPT_URL, url);
        curl_easy_setopt(k->probe, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(k->probe, CURLOPT_TIMEOUT_MS, (long)probe->timeout_ms);
        curl_easy_setopt(k->probe, CURLOPT_NOBODY, 0L);
        if (probe->tcp)
                curl_easy_setopt(k->probe, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(k->probe, CURLOPT_WRITEFUNCTION, NULL);
        FILE *sink = fopen("/dev/null", "w");
        if (sink)
                curl_easy_setopt(k->probe, CURLOPT_WRITEDATA, sink);
        struct curl_slist *headers = curl_slist_append(NULL, "User-Agent: kube-probe/1.36");
        curl_easy_setopt(k->probe, CURLOPT_HTTPHEADER, headers);
        CURLcode cc = curl_easy_perform(k->probe);
        long status = 0;
        curl_easy_getinfo(k->probe, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        if (sink)
                fclose(sink);
        return cc == CURLE_OK && (probe->tcp || (status >= 200 && status < 400));
}

/* Restart a container as the kubelet does: SIGTERM now, SIGKILL after the pod's grace period. */
static void stop_for_restart(struct process_pod *p, struct container_proc *cp, int64_t mono_ms)
{
        const json_t *grace =
                json_object_get(json_object_get(p->pod, "spec"), "terminationGracePeriodSeconds");
        int64_t seconds = json_is_integer(grace) ? json_integer_value(grace) : 30;
        kill(-cp->pid, SIGTERM);
        cp->kill_at_mono = mono_ms + seconds * 1000;
        cp->ready = false;
}

static void run_probes(struct kubelet *k, struct sync *s, struct process_pod *p, int64_t mono_ms)
{
        for (size_t i = 0; i < p->n_containers; i++) {
                struct container_proc *cp = &p->containers[i];
                if (cp->pid <= 0 || cp->init)
                        continue;
                if (cp->kill_at_mono) {
                        /* Already being restarted: no more probing, SIGKILL when the grace is over.
                         */
                        if (mono_ms >= cp->kill_at_mono)
                                kill(-cp->pid, SIGKILL);
                        continue;
                }
                /* startupProbe: the other probes wait for it; failureThreshold failures restart. */
                if (!cp->startup_done) {
                        if (mono_ms < cp->next_startup_mono)
                                continue;
                        cp->next_startup_mono = mono_ms + cp->startup.period_ms;
                        if (probe_once(k, p->ip, &cp->startup)) {
                                cp->startup_done = true;
                                cp->next_readiness_mono = mono_ms;
                                cp->next_liveness_mono = mono_ms;
                        } else if (++cp->startup_failures >= cp->startup.failure_threshold) {
                                emit_event(s, p->pod, "Pod", "v1", "Warning", "Unhealthy",
                                           "kubelet", "Startup probe failed: GET %s",
                                           cp->startup.path);
                                stop_for_restart(p, cp, mono_ms);
                        }
                        continue;
                }
                if (!cp->has_readiness)
                        cp->ready = true;
                if (cp->has_readiness && mono_ms >= cp->next_readiness_mono) {
                        cp->next_readiness_mono = mono_ms + cp->readiness.period_ms;
                        if (probe_once(k, p->ip, &cp->readiness)) {
                                cp->readiness_failures = 0;
                                if (++cp->readiness_successes >= cp->readiness.success_threshold)
                                        cp->ready = true;
                        } else {
                                cp->readiness_successes = 0;
                                if (++cp->readiness_failures >= cp->readiness.failure_threshold) {
                                        if (cp->ready)
                                                emit_event(s, p->pod, "Pod", "v1", "Warning",
                                                           "Unhealthy", "kubelet",
                                                           "Readiness probe failed: GET %s",
                                                           cp->readiness.path);
                                        cp->ready = false;
                                }
                        }
                }
                if (cp->has_liveness && mono_ms >= cp->next_liveness_mono) {
                        cp->next_liveness_mono = mono_ms + cp->liveness.period_ms;
                        if (probe_once(k, p->ip, &cp->liveness)) {
                                cp->liveness_failures = 0;
                        } else if (++cp->liveness_failures >= cp->liveness.failure_threshold) {
                                /* Liveness failed: the kubelet kills the container; the restart
                                 * follows below. */
                                log_emit(LOG_LEVEL_INFO,
                                         json_pack("{ss ss ss}", "pod", p->name, "namespace",
                                                   p->namespace_, "container", cp->name),
                                         "fakekube controllers: liveness probe failed, restarting");
                                emit_event(s, p->pod, "Pod", "v1", "Warning", "Unhealthy",
                                           "kubelet", "Liveness probe failed: GET %s",
                                           cp->liveness.path);
                                emit_event(s, p->pod, "Pod", "v1", "Normal", "Killing", "kubelet",
                                           "Container %s failed liveness probe, will be restarted",
                                           cp->name);
                                stop_for_restart(p, cp, mono_ms);
                                cp->liveness_failures = 0;
                        }
                }
        }
}

static void reap(struct process_pod *p, int64_t mono_ms, const char *now_text)
{
        for (size_t i = 0; i < p->n_containers; i++) {
                struct container_proc *cp = &p->containers[i];
                if (cp->pid <= 0)
                        continue;
                int wstatus = 0;
                pid_t r = waitpid(cp->pid, &wstatus, WNOHANG);
                if (r == 0 || (r < 0 && errno == EINTR))
                        continue;
                /* Kill what the container left behind in its process group. */
                kill(-cp->pid, SIGKILL);
                cp->pid = 0;
                cp->kill_at_mono = 0;
                cp->ready = false;
                cp->has_last_exit = true;
                cp->last_exit_code = WIFEXITED(wstatus)
                                             ? WEXITSTATUS(wstatus)
                                             : 128 + (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
                snprintf(cp->finished_at, sizeof(cp->finished_at), "%s", now_text);
                snprintf(cp->last_started_at, sizeof(cp->last_started_at), "%s", cp->started_at);
                if (p->terminating)
                        continue;
                /* An init container that succeeded is done; a failed one retries unless Never. */
                bool restart = cp->init ? cp->last_exit_code != 0 &&
                                                  strcmp(p->restart_policy, "Never") != 0
                                        : strcmp(p->restart_policy, "Always") == 0 ||
                                                  (strcmp(p->restart_policy, "OnFailure") == 0 &&
                                                   cp->last_exit_code != 0);
                if (!restart) {
                        cp->terminated = true;
                        continue;
                }
                /* CrashLoopBackOff: doubling delay, reset after a container ran 60 s. */
                if (mono_ms - cp->running_since_mono > 60000)
                        cp->backoff_ms = RESTART_BACKOFF_START_MS;
                cp->next_start_mono = mono_ms + cp->backoff_ms;
                cp->backoff_ms = cp->backoff_ms * 2 > RESTART_BACKOFF_MAX_MS
                                         ? RESTART_BACKOFF_MAX_MS
                                         : cp->backoff_ms * 2;
                cp->restarts++;
        }
}

static json_t *container_status(const struct process_pod *p, const struct container_proc *cp)
{
        char id[64], image_id[300];
        snprintf(id, sizeof(id), "fakekube://%d", (int)cp->pid);
        snprintf(image_id, sizeof(image_id), "fakekube://%s", cp->image);
        json_t *state;
        if (cp->pid > 0)
                state = json_pack("{s{ss}}", "running", "startedAt", cp->started_at);
        else if (cp->terminated)
                state = json_pack("{s{si ss ss ss}}", "terminated", "exitCode", cp->last_exit_code,
                                  "reason", cp->last_exit_code == 0 ? "Completed" : "Error",
                                  "startedAt", cp->last_started_at, "finishedAt", cp->finished_at);
        else if (cp->image_missing)
                state = json_pack("{s{ss ss}}", "waiting", "reason", "ErrImagePull", "message",
                                  "fakekube: no --pod-command maps this image to a local binary");
        else if (cp->config_error[0])
                state = json_pack("{s{ss ss}}", "waiting", "reason", "CreateContainerConfigError",
                                  "message", cp->config_error);
        else if (cp->ever_started)
                state = json_pack("{s{ss}}", "waiting", "reason", "CrashLoopBackOff");
        else
                state = json_pack("{s{ss}}", "waiting", "reason", "ContainerCreating");
        json_t *st = json_pack("{ss ss ss sb sb si so}", "name", cp->name, "image", cp->image,
                               "imageID", image_id, "ready",
                               (cp->ready && cp->pid > 0) ||
                                       (cp->init && cp->terminated && cp->last_exit_code == 0),
                               "started", cp->pid > 0 && cp->startup_done, "restartCount",
                               cp->restarts, "state", state);
        if (st && cp->pid > 0)
                json_object_set_new(st, "containerID", json_string(id));
        if (st && cp->has_last_exit && !cp->terminated)
                json_object_set_new(
                        st, "lastState",
                        json_pack("{s{si ss ss ss}}", "terminated", "exitCode", cp->last_exit_code,
                                  "reason", cp->last_exit_code == 0 ? "Completed" : "Error",
                                  "startedAt", cp->last_started_at, "finishedAt", cp->finished_at));
        return st;
}

static void write_status(struct kubelet *k, struct sync *s, struct process_pod *p)
{
        bool all_ready = p->n_containers > 0, all_terminated = p->n_containers > 0,
             any_failed = false, any_started = false, initialized = true, init_failed = false;
        for (size_t i = 0; i < p->n_containers; i++) {
                const struct container_proc *cp = &p->containers[i];
                if (cp->init) {
                        initialized = initialized && cp->terminated && cp->last_exit_code == 0;
                        init_failed = init_failed || (cp->terminated && cp->last_exit_code != 0);
                        continue;
                }
                all_ready = all_ready && cp->ready && cp->pid > 0;
                all_terminated = all_terminated && cp->terminated;
                any_failed = any_failed || (cp->terminated && cp->last_exit_code != 0);
                any_started = any_started || cp->ever_started;
        }
        const char *phase = init_failed      ? "Failed"
                            : !initialized   ? "Pending"
                            : all_terminated ? (any_failed ? "Failed" : "Succeeded")
                            : any_started    ? "Running"
                                             : "Pending";
        _cleanup_json_ json_t *st =
                pod_status_base(p->pod, phase, p->ip, host_ip_of(s, p->pod),
                                all_ready && initialized, initialized, p->start_time, s->now_text);
        if (!st)
                return;
        json_t *containers = json_array();
        json_t *init_containers = json_array();
        for (size_t i = 0; i < p->n_containers; i++)
                json_array_append_new(p->containers[i].init ? init_containers : containers,
                                      container_status(p, &p->containers[i]));
        json_object_set_new(st, "containerStatuses", containers);
        if (json_array_size(init_containers) > 0)
                json_object_set_new(st, "initContainerStatuses", init_containers);
        else
                json_decref(init_containers);
        /* Compare without the condition time stamps, which conditions_set may refresh. */
        if (p->last_status && json_equal(p->last_status, st))
                return;
        if (pod_patch_status(s, p->pod, st) == 0) {
                json_decref(p->last_status);
                p->last_status = json_incref(st);
        }
}

static void sample_cpu(struct kubelet *k, int64_t mono_ms)
{
        if (mono_ms - k->last_cpu_sample_mono < 1000)
                return;
        k->last_cpu_sample_mono = mono_ms;
        /* pgid -> CPU ticks of all processes in that group */
        _cleanup_json_ json_t *by_group = json_object();
        DIR *proc = opendir("/proc");
        if (!proc || !by_group) {
                if (proc)
                        closedir(proc);
                return;
        }
        struct dirent *de;
        while ((de = readdir(proc))) {
                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                char path[300], buf[1024];
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                const char *rp = strrchr(buf, ')');
                if (!rp)
                        continue;
                /* fields after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
                 * cmajflt utime stime */
                long long pgrp = 0, utime = 0, stime = 0;
                if (sscanf(rp + 2, "%*c %*d %lld %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &pgrp,
                           &utime, &stime) != 3)
                        continue;
                char key[32];
                snprintf(key, sizeof(key), "%lld", pgrp);
                json_int_t before = json_integer_value(json_object_get(by_group, key));
                json_object_set_new(by_group, key, json_integer(before + utime + stime));
        }
        closedir(proc);
        for (struct process_pod *p = k->pods; p; p = p->next) {
                int64_t ticks = 0;
                for (size_t i = 0; i < p->n_containers; i++) {
                        char key[32];
                        snprintf(key, sizeof(key), "%d", (int)p->containers[i].pid);
                        if (p->containers[i].pid > 0)
                                ticks += json_integer_value(json_object_get(by_group, key));
                }
                int64_t cpu_ms = ticks * 1000 / (k->clock_ticks > 0 ? k->clock_ticks : 100);
                if (p->n_cpu == CPU_SAMPLES) {
                        memmove(p->cpu_mono, p->cpu_mono + 1,
                                (CPU_SAMPLES - 1) * sizeof(p->cpu_mono[0]));
                        memmove(p->cpu_ms, p->cpu_ms + 1, (CPU_SAMPLES - 1) * sizeof(p->cpu_ms[0]));
                        p->n_cpu--;
                }
                p->cpu_mono[p->n_cpu] = mono_ms;
                p->cpu_ms[p->n_cpu] = cpu_ms;
                p->n_cpu++;
                /* Usage over the last ~15 s (metrics-server's resolution), once there are 2
                 * samples. */
                size_t first = 0;
                while (first + 1 < p->n_cpu && mono_ms - p->cpu_mono[first] > CPU_WINDOW_MS)
                        first++;
                if (p->n_cpu < 2 || first == p->n_cpu - 1)
                        continue;
                int64_t dt = mono_ms - p->cpu_mono[first];
                int64_t used = cpu_ms - p->cpu_ms[first];
                if (dt <= 0)
                        continue;
                int64_t milli = used > 0 ? used * 1000 / dt : 0;
                pthread_mutex_lock(&k->c->metrics_lock);
                json_object_set_new(k->c->cpu_usage, p->uid, json_integer(milli));
                pthread_mutex_unlock(&k->c->metrics_lock);
        }
}

int process_pod_cpu_milli(struct controllers *c, const char *uid, int64_t *ret)
{
        int r = -ENODATA;
        pthread_mutex_lock(&c->metrics_lock);
        const json_t *v = json_object_get(c->cpu_usage, uid);
        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                r = 0;
        }
        pthread_mutex_unlock(&c->metrics_lock);
        return r;
}

/* The pod's volume directories go with it (emptyDir data included); its logs stay. */
static void remove_pod_volumes(const struct process_pod *p)
{
        char dir[1300];
        snprintf(dir, sizeof(dir), "%s/volumes", p->dir);
        remove_tree(dir);
}

static void begin_termination(struct process_pod *p, const json_t *pod, int64_t mono_ms)
{
        if (p->terminating)
                return;
        p->terminating = true;
        const json_t *meta = json_object_get(pod, "metadata");
        const json_t *grace = json_object_get(meta, "deletionGracePeriodSeconds");
        if (!json_is_integer(grace))
                grace = json_object_get(json_object_get(pod, "spec"),
                                        "terminationGracePeriodSeconds");
        int64_t seconds = json_is_integer(grace) ? json_integer_value(grace) : 30;
        p->kill_deadline_mono = mono_ms + seconds * 1000;
        signal_pod(p, SIGTERM);
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{ss ss sI}", "pod", p->name, "namespace", p->namespace_,
                           "grace_seconds", (json_int_t)seconds),
                 "fakekube controllers: stopping a process pod (SIGTERM)");
}

static void kubelet_pass(struct kubelet *k, struct sync *s)
{
        struct controllers *c = k->c;
        json_t *pods = s->objects[KIND_POD];
        /* uid -> cached pod */
        _cleanup_json_ json_t *by_uid = json_object();
        const char *key;
        json_t *pod;
        json_object_foreach (pods, key, pod) {
                const char *uid = object_uid(pod);
                if (uid)
                        json_object_set(by_uid, uid, pod);
        }
        /* Tracked pods: follow the API. */
        for (struct process_pod *p = k->pods; p; p = p->next) {
                json_t *current = json_object_get(by_uid, p->uid);
                if (!current) {
                        p->gone = true;
                        begin_termination(p, p->pod, s->mono_ms);
                        continue;
                }
                json_decref(p->pod);
                p->pod = json_incref(current);
                if (object_terminating(current)) {
                        if (!p->terminating)
                                for (size_t i = 0; i < p->n_containers; i++)
                                        emit_event(s, current, "Pod", "v1", "Normal", "Killing",
                                                   "kubelet", "Stopping container %s",
                                                   p->containers[i].name);
                        begin_termination(p, current, s->mono_ms);
                        continue;
                }
                if (!pod_node_alive(s, current) && !p->terminating) {
                        /* A dead host: every process dies at once, nothing is reported. */
                        signal_pod(p, SIGKILL);
                        p->terminating = true;
                        p->gone = true; /* no deletion to confirm */
                        p->kill_deadline_mono = s->mono_ms;
                }
        }
        /* New pods to run here. */
        json_object_foreach (pods, key, pod) {
                const char *uid = object_uid(pod);
                bool bound = json_object_get(json_object_get(pod, "spec"), "nodeName") != NULL;
                if (!uid || (!bound && !c->options.disable_nodes) || !pod_node_alive(s, pod))
                        continue;
                bool tracked = false;
                for (struct process_pod *p = k->pods; p && !tracked; p = p->next)
                        tracked = strcmp(p->uid, uid) == 0;
                if (tracked)
                        continue;
                /* Terminating and not running here (finished, or never started): confirm at once.
                 */
                if (object_terminating(pod)) {
                        api_delete(s, KIND_POD, object_namespace(pod), object_name(pod), 0);
                        continue;
                }
                if (!pod_active(pod))
                        continue;
                track_pod(k, pod, s->now_ms);
        }
        /* Supervise. */
        for (struct process_pod **pp = &k->pods; *pp;) {
                struct process_pod *p = *pp;
                reap(p, s->mono_ms, s->now_text);
                if (p->terminating) {
                        if (any_running(p) && !p->killed && s->mono_ms >= p->kill_deadline_mono) {
                                signal_pod(p, SIGKILL);
                                p->killed = true;
                        }
                        if (!any_running(p)) {
                                if (!p->gone)
                                        api_delete(s, KIND_POD, p->namespace_, p->name, 0);
                                json_t *uid_pod = json_object_get(by_uid, p->uid);
                                /* A pod still on a dead node keeps its IP; a pod gone for good
                                 * frees it. */
                                if (!uid_pod)
                                        pod_ip_release(c, p->uid);
                                pthread_mutex_lock(&c->metrics_lock);
                                json_object_del(c->cpu_usage, p->uid);
                                pthread_mutex_unlock(&c->metrics_lock);
                                remove_pod_volumes(p);
                                *pp = p->next;
                                process_pod_free(p);
                                continue;
                        }
                        pp = &p->next;
                        continue;
                }
                if (k->sandboxes)
                        sync_volumes(k, s, p);
                if (!p->volumes_ready) {
                        write_status(k, s, p);
                        pp = &p->next;
                        continue;
                }
                /* Init containers one at a time, in order; the others once all succeeded. */
                bool initialized = true;
                for (size_t i = 0; i < p->n_containers && initialized; i++) {
                        struct container_proc *cp = &p->containers[i];
                        if (!cp->init || (cp->terminated && cp->last_exit_code == 0))
                                continue;
                        initialized = false;
                        if (cp->pid <= 0 && !cp->terminated && s->mono_ms >= cp->next_start_mono)
                                start_container(k, s, p, cp);
                }
                for (size_t i = 0; i < p->n_containers && initialized; i++) {
                        struct container_proc *cp = &p->containers[i];
                        if (!cp->init && cp->pid <= 0 && !cp->terminated &&
                            s->mono_ms >= cp->next_start_mono)
                                start_container(k, s, p, cp);
                }
                run_probes(k, s, p, s->mono_ms);
                write_status(k, s, p);
                pp = &p->next;
        }
        sample_cpu(k, s->mono_ms);
        /* IPs of pods that are gone and not running here (e.g. force-deleted after their node
         * died). */
        pthread_mutex_lock(&c->ip_lock);
        const char *ip;
        json_t *owner;
        void *tmp;
        json_object_foreach_safe (c->ips, tmp, ip, owner) {
                const char *uid = json_string_value(owner);
                bool tracked = false;
                for (struct process_pod *p = k->pods; p && !tracked; p = p->next)
                        tracked = strcmp(p->uid, uid) == 0;
                if (!tracked && !json_object_get(by_uid, uid))
                        json_object_del(c->ips, ip);
        }
        pthread_mutex_unlock(&c->ip_lock);
}

static void stop_all(struct kubelet *k)
{
        int64_t deadline = clock_monotonic_ms() + STOP_GRACE_CAP_MS;
        for (struct process_pod *p = k->pods; p; p = p->next) {
                begin_termination(p, p->pod, clock_monotonic_ms());
                if (p->kill_deadline_mono > deadline)
                        p->kill_deadline_mono = deadline;
        }
        /* Bounded: at most the capped grace period plus a little for SIGKILL to land. */
        for (int round = 0; round < (STOP_GRACE_CAP_MS / 50) + 100; round++) {
                bool running = false;
                int64_t now = clock_monotonic_ms();
                for (struct process_pod *p = k->pods; p; p = p->next) {
                        reap(p, now, "");
                        if (any_running(p) && !p->killed && now >= p->kill_deadline_mono) {
                                signal_pod(p, SIGKILL);
                                p->killed = true;
                        }
                        running = running || any_running(p);
                }
                if (!running)
                        break;
                nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
        }
        while (k->pods) {
                struct process_pod *p = k->pods;
                k->pods = p->next;
                remove_pod_volumes(p);
                process_pod_free(p);
        }
}

static void *kubelet_thread(void *userdata)
{
        struct controllers *c = userdata;
        struct kubelet k = {.c = c, .clock_ticks = sysconf(_SC_CLK_TCK)};
        k.sandboxes = mount_namespaces_available();
        if (!k.sandboxes)
                log_emit(LOG_LEVEL_WARN, json_pack("{si}", "euid", (int)geteuid()),
                         "fakekube controllers: no mount namespaces (not root): process pods run "
                         "without volumes, service-account token, read-only root or runAsUser");
        if (c->ca_file)
                k.ca_pem = read_text_file(c->ca_file);
        if (kclient_new(&c->client_options, &k.client) < 0 || !(k.probe = curl_easy_init())) {
                log_error("fakekube controllers: the process kubelet cannot start");
                kclient_free(k.client);
                return NULL;
        }
        bool want[KIND_COUNT] = {[KIND_POD] = true, [KIND_NODE] = !c->options.disable_nodes};
        uint64_t seen = 0;
        while (!atomic_load(&c->stop)) {
                store_wait(&c->store, &seen, 100);
                if (atomic_load(&c->stop) || !store_synced(&c->store, want))
                        continue;
                struct sync s = {.c = c, .client = k.client};
                s.objects[KIND_POD] = store_snapshot(&c->store, KIND_POD);
                s.objects[KIND_NODE] = store_snapshot(&c->store, KIND_NODE);
                s.now_ms = clock_realtime_ms();
                s.mono_ms = clock_monotonic_ms();
                clock_format_rfc3339(s.now_ms / 1000, s.now_text, sizeof(s.now_text));
                kubelet_pass(&k, &s);
                json_decref(s.objects[KIND_POD]);
                json_decref(s.objects[KIND_NODE]);
        }
        stop_all(&k);
        free(k.ca_pem);
        curl_easy_cleanup(k.probe);
        kclient_free(k.client);
        return NULL;
}

int process_kubelet_start(struct controllers *c)
{
        int r = pthread_create(&c->kubelet_thread, NULL, kubelet_thread, c);
        if (r != 0)
                return -r;
        c->kubelet_running = true;
        return 0;
}
