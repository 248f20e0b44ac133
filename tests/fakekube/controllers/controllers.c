/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulated controllers: start/stop, the reconcile thread and the pod IP
 * allocator.  See controllers.h and README.md.
 */
#include "controllers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "macros.h"
#include "objects.h"

static int validate_options(const struct controllers_options *options)
{
        if (!options || !options->api_url || !options->token)
                return -EINVAL;
        if (options->static_nodes < 0 || options->sync_period_ms < 0 ||
            options->pod_ready_delay_ms < 0 || options->node_boot_delay_ms < 0)
                return -EINVAL;
        if (options->pods_mode != PODS_VIRTUAL && options->pods_mode != PODS_PROCESS)
                return -EINVAL;
        for (const char *const *c = options->pod_commands; c && *c; c++) {
                const char *eq = strchr(*c, '=');
                if (!eq || eq == *c || eq[1] == '\0')
                        return -EINVAL;
        }
        return 0;
}

/* ---------------------------------------------------------------- pod IPs */

#define IP_POOL_SIZE (253 * 200)

static void ip_text(int block, int index, char *buf, size_t size)
{
        /* index -> 127.0.<block + index / 253>.<2 + index % 253>; third octet in 10..255 */
        snprintf(buf, size, "127.0.%d.%d", 10 + (block - 10 + index / 253) % 246, 2 + index % 253);
}

int pod_ip_allocate(struct controllers *c, const char *uid, char *buf, size_t size)
{
        int r = -EADDRNOTAVAIL;
        pthread_mutex_lock(&c->ip_lock);
        const char *ip;
        json_t *owner;
        json_object_foreach (c->ips, ip, owner) {
                if (strcmp(json_string_value(owner), uid) == 0) {
                        snprintf(buf, size, "%s", ip);
                        r = 0;
                        goto out;
                }
        }
        /* Round robin, like an IPAM: a freed address is not handed out again at once. */
        for (int i = 0; i < IP_POOL_SIZE; i++) {
                int index = (c->ip_next + i) % IP_POOL_SIZE;
                char candidate[32];
                ip_text(c->ip_block, index, candidate, sizeof(candidate));
                if (json_object_get(c->ips, candidate))
                        continue;
                json_object_set_new(c->ips, candidate, json_string(uid));
                snprintf(buf, size, "%s", candidate);
                c->ip_next = (index + 1) % IP_POOL_SIZE;
                r = 0;
                break;
        }
out:
        pthread_mutex_unlock(&c->ip_lock);
        return r;
}

void pod_ip_reserve(struct controllers *c, const char *ip, const char *uid)
{
        pthread_mutex_lock(&c->ip_lock);
        if (!json_object_get(c->ips, ip))
                json_object_set_new(c->ips, ip, json_string(uid));
        pthread_mutex_unlock(&c->ip_lock);
}

void pod_ip_release(struct controllers *c, const char *uid)
{
        pthread_mutex_lock(&c->ip_lock);
        const char *ip;
        json_t *owner;
        void *tmp;
        json_object_foreach_safe (c->ips, tmp, ip, owner) {
                if (strcmp(json_string_value(owner), uid) == 0)
                        json_object_del(c->ips, ip);
        }
        pthread_mutex_unlock(&c->ip_lock);
}

/* Pods gone from the API give their IPs back (the process kubelet does that for its own pods). */
static void release_unused_ips(struct sync *s)
{
        struct controllers *c = s->c;
        _cleanup_json_ json_t *uids = json_object();
        const char *key;
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                const char *uid = object_uid(pod);
                if (uid)
                        json_object_set_new(uids, uid, json_true());
        }
        if (c->options.pods_mode == PODS_PROCESS)
                return;
        pthread_mutex_lock(&c->ip_lock);
        const char *ip;
        json_t *owner;
        void *tmp;
        json_object_foreach_safe (c->ips, tmp, ip, owner) {
                if (!json_object_get(uids, json_string_value(owner)))
                        json_object_del(c->ips, ip);
        }
        pthread_mutex_unlock(&c->ip_lock);
}

/* ---------------------------------------------------------------- reconcile */

/* The API server deletes an unscheduled pod at once; fakekube's may leave it terminating. */
static void confirm_unscheduled_deletions(struct sync *s)
{
        const char *key;
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                if (object_terminating(pod) &&
                    !json_object_get(json_object_get(pod, "spec"), "nodeName"))
                        api_delete(s, KIND_POD, object_namespace(pod), object_name(pod), 0);
        }
}

static void *reconcile_thread(void *userdata)
{
        struct controllers *c = userdata;
        _cleanup_(kclient_freep) struct kclient *client = NULL;
        if (kclient_new(&c->client_options, &client) < 0) {
                log_error("fakekube controllers: cannot create an API client");
                return NULL;
        }
        uint64_t seen = 0;
        while (!atomic_load(&c->stop)) {
                store_wait(&c->store, &seen, 100);
                if (atomic_load(&c->stop) || !store_synced(&c->store, c->want))
                        continue;
                struct sync s = {.c = c, .client = client};
                for (int k = 0; k < KIND_COUNT; k++)
                        s.objects[k] = c->want[k] ? store_snapshot(&c->store, k) : json_object();
                s.now_ms = clock_realtime_ms();
                s.mono_ms = clock_monotonic_ms();
                clock_format_rfc3339(s.now_ms / 1000, s.now_text, sizeof(s.now_text));
                if (!c->options.disable_nodes) {
                        sync_static_nodes(&s);
                        sync_node_lifecycle(&s);
                        sync_scheduler(&s);
                        confirm_unscheduled_deletions(&s);
                }
                if (!c->options.disable_deployments) {
                        sync_deployments(&s);
                        sync_replicasets(&s);
                }
                if (c->options.pods_mode == PODS_VIRTUAL)
                        sync_virtual_kubelet(&s);
                sync_endpoints(&s);
                if (!c->options.disable_hpa)
                        sync_hpas(&s);
                release_unused_ips(&s);
                for (int k = 0; k < KIND_COUNT; k++)
                        json_decref(s.objects[k]);
                /* Batch bursts of events instead of one pass per event. */
                nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
        }
        return NULL;
}

/* ---------------------------------------------------------------- start/stop */

static char *strdup_or_null(const char *s, bool *failed)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *failed = true;
        return d;
}

int controllers_start(const struct controllers_options *options, struct controllers **ret)
{
        int r = validate_options(options);
        if (r < 0)
                return r;
        struct controllers *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->options = *options;
        pthread_mutex_init(&c->ip_lock, NULL);
        pthread_mutex_init(&c->metrics_lock, NULL);
        bool failed = false;
        c->api_url = strdup_or_null(options->api_url, &failed);
        c->token = strdup_or_null(options->token, &failed);
        c->ca_file = strdup_or_null(options->ca_file, &failed);
        c->libvirt_uri = strdup_or_null(options->libvirt_uri, &failed);
        c->libvirt_domain_prefix = strdup_or_null(options->libvirt_domain_prefix, &failed);
        c->ips = json_object();
        c->cpu_usage = json_object();
        c->node_seen = json_object();
        c->pod_seen = json_object();
        for (const char *const *p = options->pod_commands; p && *p; p++)
                c->n_pod_commands++;
        c->pod_commands = calloc(c->n_pod_commands + 1, sizeof(*c->pod_commands));
        for (size_t i = 0; c->pod_commands && i < c->n_pod_commands; i++)
                c->pod_commands[i] = strdup_or_null(options->pod_commands[i], &failed);
        if (failed || !c->ips || !c->cpu_usage || !c->node_seen || !c->pod_seen ||
            !c->pod_commands) {
                controllers_stop(c);
                return -ENOMEM;
        }
        c->options.api_url = c->api_url;
        c->options.token = c->token;
        c->options.ca_file = c->ca_file;
        c->options.libvirt_uri = c->libvirt_uri;
        c->options.libvirt_domain_prefix = c->libvirt_domain_prefix;
        c->options.pod_commands = (const char *const *)c->pod_commands;
        if (options->state_dir) {
                c->state_dir = strdup(options->state_dir);
                if (!c->state_dir || (mkdir(c->state_dir, 0755) < 0 && errno != EEXIST)) {
                        r = c->state_dir ? -errno : -ENOMEM;
                        controllers_stop(c);
                        return r;
                }
        } else {
                const char *tmp = getenv("TMPDIR");
                if (asprintf(&c->state_dir, "%s/fakekube-controllers-XXXXXX",
                             tmp && *tmp ? tmp : "/tmp") < 0) {
                        c->state_dir = NULL;
                        controllers_stop(c);
                        return -ENOMEM;
                }
                if (!mkdtemp(c->state_dir)) {
                        r = -errno;
                        controllers_stop(c);
                        return r;
                }
                c->own_state_dir = true;
        }
        c->options.state_dir = c->state_dir;
        /* A random third octet: two fakekubes on one machine rarely hand out the same pod IPs. */
        unsigned char random_byte = 0;
        if (getrandom(&random_byte, 1, 0) != 1)
                random_byte = (unsigned char)(getpid() & 0xff);
        c->ip_block = 10 + random_byte % 200;

        c->client_options = (struct kclient_options){
                .api_url = c->api_url, .token = c->token, .ca_file = c->ca_file, .stop = &c->stop};
        r = store_init(&c->store, &c->client_options, &c->stop);
        if (r < 0) {
                controllers_stop(c);
                return r;
        }
        c->store_started = true;
        c->want[KIND_POD] = true;
        c->want[KIND_NODE] = true;
        c->want[KIND_SERVICE] = true;
        c->want[KIND_ENDPOINTS] = true;
        c->want[KIND_DEPLOYMENT] = !options->disable_deployments || !options->disable_hpa;
        c->want[KIND_REPLICASET] = !options->disable_deployments;
        c->want[KIND_HPA] = !options->disable_hpa;
        r = store_start(&c->store, c->want);
        if (r == 0) {
                r = -pthread_create(&c->reconcile_thread, NULL, reconcile_thread, c);
                c->reconcile_running = r == 0;
        }
        if (r == 0 && options->pods_mode == PODS_PROCESS)
                r = process_kubelet_start(c);
        if (r == 0 && options->libvirt_uri && !options->disable_nodes)
                r = libvirt_nodes_start(c);
        if (r < 0) {
                controllers_stop(c);
                return r;
        }
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{ss ss si}", "pods",
                           options->pods_mode == PODS_PROCESS ? "process" : "virtual", "state_dir",
                           c->state_dir, "static_nodes", options->static_nodes),
                 "fakekube controllers: started");
        *ret = c;
        return 0;
}

int controllers_pod_log_path(const struct controllers *c, const char *namespace_,
                             const char *pod_name, const char *pod_uid, const char *container,
                             char **ret_path)
{
        if (!c || !namespace_ || !pod_name || !pod_uid || !container || !ret_path)
                return -EINVAL;
        /* Names are DNS labels; refuse anything that could walk out of the directory. */
        const char *parts[] = {namespace_, pod_name, pod_uid, container};
        for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
                if (!parts[i][0] || strchr(parts[i], '/') || strcmp(parts[i], "..") == 0)
                        return -EINVAL;
        char *path = NULL;
        if (asprintf(&path, "%s/pods/%s_%s_%s/%s.log", c->state_dir, namespace_, pod_name, pod_uid,
                     container) < 0)
                return -ENOMEM;
        struct stat st;
        if (stat(path, &st) < 0) {
                int r = -errno;
                free(path);
                return r;
        }
        *ret_path = path;
        return 0;
}

void controllers_stop(struct controllers *c)
{
        if (!c)
                return;
        atomic_store(&c->stop, true);
        if (c->store_started)
                store_poke(&c->store);
        if (c->reconcile_running)
                pthread_join(c->reconcile_thread, NULL);
        if (c->kubelet_running)
                pthread_join(c->kubelet_thread, NULL);
        if (c->libvirt_running)
                pthread_join(c->libvirt_thread, NULL);
        if (c->store_started)
                store_finish(&c->store);
        pthread_mutex_destroy(&c->ip_lock);
        pthread_mutex_destroy(&c->metrics_lock);
        json_decref(c->ips);
        json_decref(c->cpu_usage);
        json_decref(c->node_seen);
        json_decref(c->pod_seen);
        for (size_t i = 0; c->pod_commands && i < c->n_pod_commands; i++)
                free(c->pod_commands[i]);
        free(c->pod_commands);
        free(c->api_url);
        if (c->token)
                explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        free(c->ca_file);
        free(c->libvirt_uri);
        free(c->libvirt_domain_prefix);
        /* A directory we made and no process pod used (virtual pods): leave no litter. */
        if (c->own_state_dir && c->state_dir) {
                _cleanup_free_ char *pods = NULL;
                if (asprintf(&pods, "%s/pods", c->state_dir) >= 0)
                        rmdir(pods);
                rmdir(c->state_dir);
        }
        free(c->state_dir);
        free(c->hpas);
        free(c);
}
