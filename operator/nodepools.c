/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node pools, one reconcile: see nodepools.h.  The decisions themselves
 * (how many, which one, when to replace) are in nodepool_plan.c; this file
 * gathers what they need from libvirt and the API server and carries them out.
 */
#include "nodepools.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "macros.h"
#include "metrics.h"
#include "nodepool_plan.h"

#define DEFAULT_READY_TIMEOUT_MS (10 * 60 * 1000)
#define DEFAULT_DRAIN_TIMEOUT_MS (60 * 1000)
#define DEFAULT_DRAIN_POLL_MS    1000
/* How often to look again while a Node is registering or a drain waits. */
#define SETTLE_POLL_MS 2000
/* VMs in service are looked at this often even when nothing changes, so a
 * Node that stops being Ready is noticed (and replaced after its deadline). */
#define HEALTH_CHECK_MS 30000
/* VMs are created (and, by the finalizer, destroyed) this many at a time,
 * one libvirt connection each: starts and stops on one host overlap well
 * (bench/RESULTS.md). */
#define VM_PARALLELISM 4
/* Name clashes are astronomically rare (36^5); a few tries are plenty. */
#define NAME_ATTEMPTS 4

/* The first problem of a reconcile wins the NodesReady condition. */
struct problem {
        char reason[64];
        char message[512];
        bool unreachable; /* libvirt could not be reached: back off */
};

struct run {
        const struct nodepools_request *request;
        int64_t ready_timeout_ms, drain_timeout_ms, drain_poll_ms;
        char owner[512];
        struct problem problem;
        bool settling; /* something is on its way (registering, draining) */
        int64_t next_due_ms;
        int32_t wanted_total, ready_total;
        json_t *nodes;
};

_printf_(3, 4) static void problem_set(struct run *run, const char *reason, const char *fmt, ...)
{
        if (run->problem.reason[0])
                return;
        snprintf(run->problem.reason, sizeof(run->problem.reason), "%s", reason);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->problem.message, sizeof(run->problem.message), fmt, ap);
        va_end(ap);
}

_printf_(4, 5) static void event(struct run *run, const char *type, const char *reason,
                                 const char *fmt, ...)
{
        if (!run->request->event)
                return;
        char message[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        run->request->event(run->request->event_userdata, type, reason, message);
}

static void due_at(struct run *run, int64_t at_ms)
{
        if (at_ms > 0 && (run->next_due_ms == 0 || at_ms < run->next_due_ms))
                run->next_due_ms = at_ms;
}

static int open_conn(struct run *run, const char *uri, vmctl_conn **ret)
{
        const struct nodepools_options *o = run->request->options;
        if (o && o->open)
                return o->open(o->open_userdata, uri, ret);
        return vmctl_open(uri, ret);
}

static void sleep_ms(int64_t ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

/* ---- the Kubernetes side of a VM ---------------------------------------- */

static int64_t time_ms(const char *rfc3339)
{
        time_t t;
        return rfc3339 && clock_parse_rfc3339(rfc3339, &t) == 0 ? (int64_t)t * 1000 : 0;
}

/* Node named like the VM: registering (none yet), Ready, or not. */
static int node_state(struct run *run, struct nodepool_member *m)
{
        _cleanup_json_ json_t *node = NULL;
        struct kube_get_options get = {.name = m->name};
        int r = kube_get(run->request->client, &KUBE_NODES, &get, &node, NULL);
        if (r == KUBE_ERR_NOT_FOUND) {
                m->node = NODEPOOL_NODE_REGISTERING;
                return 0;
        }
        if (r < 0)
                return r;
        m->node = NODEPOOL_NODE_NOT_READY;
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(json_object_get(node, "status"), "conditions"), i, c) {
                const char *type = json_string_value(json_object_get(c, "type"));
                if (!type || strcmp(type, "Ready") != 0)
                        continue;
                const char *status = json_string_value(json_object_get(c, "status"));
                if (status && strcmp(status, "True") == 0)
                        m->node = NODEPOOL_NODE_READY;
                else
                        m->not_ready_since_ms = time_ms(
                                json_string_value(json_object_get(c, "lastTransitionTime")));
        }
        return 0;
}

/* Pods a drain has to move: bound to the node, not finished, and not owned
 * by a DaemonSet or mirrored from a static manifest (as kubectl drain). */
static bool pod_needs_eviction(const json_t *pod)
{
        const char *phase =
                json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
        if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
                return false;
        json_t *metadata = json_object_get(pod, "metadata");
        if (json_object_get(json_object_get(metadata, "annotations"),
                            "kubernetes.io/config.mirror"))
                return false;
        size_t i;
        json_t *ref;
        json_array_foreach (json_object_get(metadata, "ownerReferences"), i, ref) {
                const char *kind = json_string_value(json_object_get(ref, "kind"));
                if (kind && strcmp(kind, "DaemonSet") == 0)
                        return false;
        }
        return true;
}

static int pods_on_node(struct run *run, const char *node, json_t **ret_pods)
{
        char selector[128];
        snprintf(selector, sizeof(selector), "spec.nodeName=%s", node);
        struct kube_list_options options = {.field_selector = selector};
        _cleanup_json_ json_t *list = NULL;
        int r = kube_list(run->request->client, &KUBE_PODS, &options, &list, NULL);
        if (r < 0)
                return r;
        json_t *pods = json_array();
        if (!pods)
                return -ENOMEM;
        size_t i;
        json_t *pod;
        json_array_foreach (json_object_get(list, "items"), i, pod) {
                if (pod_needs_eviction(pod))
                        json_array_append(pods, pod);
        }
        *ret_pods = pods;
        return 0;
}

/*
 * Cordon the Node and evict its pods through the Eviction API until none is
 * left or the drain timeout passes.  A PodDisruptionBudget answers 429 while
 * the pod may not go; that is retried, never forced.  -ETIMEDOUT when pods
 * are still there at the deadline (the next reconcile tries again).  On a
 * Node that is not Ready no kubelet will finish terminating pods, so there
 * an accepted eviction is enough (the pod GC removes them once the Node goes).
 */
static int drain(struct run *run, const char *node, bool node_ready, char *why, size_t why_size)
{
        struct kube_client *client = run->request->client;
        _cleanup_json_ json_t *cordon = json_pack("{s:{s:b}}", "spec", "unschedulable", true);
        if (!cordon)
                return -ENOMEM;
        struct kube_patch_options patch = {.name = node, .type = KUBE_PATCH_MERGE};
        int r = kube_patch(client, &KUBE_NODES, &patch, cordon, NULL, NULL);
        if (r == KUBE_ERR_NOT_FOUND)
                return 0; /* never registered: nothing runs there */
        if (r < 0) {
                snprintf(why, why_size, "cannot cordon Node %s: %s", node, kube_strerror(r));
                return r;
        }

        int64_t deadline = clock_monotonic_ms() + run->drain_timeout_ms;
        for (;;) {
                _cleanup_json_ json_t *pods = NULL;
                if ((r = pods_on_node(run, node, &pods)) < 0) {
                        snprintf(why, why_size, "cannot list pods on Node %s: %s", node,
                                 kube_strerror(r));
                        return r;
                }
                if (json_array_size(pods) == 0)
                        return 0;
                size_t blocked = 0, i;
                json_t *pod;
                const char *blocked_name = NULL;
                json_array_foreach (pods, i, pod) {
                        if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
                                continue; /* evicted already, terminating */
                        struct kube_evict_options evict = {.namespace = kube_object_namespace(pod),
                                                           .name = kube_object_name(pod)};
                        r = kube_evict(client, &evict, NULL);
                        if (r == KUBE_ERR_TOO_MANY_REQUESTS) {
                                blocked++;
                                blocked_name = kube_object_name(pod);
                        } else if (r < 0 && r != KUBE_ERR_NOT_FOUND) {
                                snprintf(why, why_size, "cannot evict pod %s/%s: %s",
                                         kube_object_namespace(pod), kube_object_name(pod),
                                         kube_strerror(r));
                                return r;
                        }
                }
                if (!node_ready && blocked == 0)
                        return 0; /* every eviction accepted */
                if (clock_monotonic_ms() >= deadline) {
                        if (blocked)
                                snprintf(why, why_size,
                                         "draining Node %s: %zu pod(s) (e.g. %s) may not be "
                                         "evicted yet (PodDisruptionBudget); will retry",
                                         node, blocked, blocked_name);
                        else
                                snprintf(why, why_size,
                                         "draining Node %s: %zu pod(s) still terminating; will "
                                         "retry",
                                         node, json_array_size(pods));
                        return -ETIMEDOUT;
                }
                sleep_ms(run->drain_poll_ms);
        }
}

static void delete_node(struct run *run, const char *name)
{
        struct kube_delete_options del = {.name = name};
        /* Best effort: fakekube and the cloud's node controller also remove
         * Nodes whose machine is gone; a leftover NotReady Node is harmless. */
        (void)kube_delete(run->request->client, &KUBE_NODES, &del, NULL, NULL);
}

/* ---- the join command ---------------------------------------------------- */

/* data[key] of the pool's Secret, base64-decoded.  Never logged. */
static int read_join_command(struct run *run, const struct tripdeal_node_pool *pool,
                             char **ret_command)
{
        _cleanup_json_ json_t *secret = NULL;
        struct kube_get_options get = {.namespace = run->request->identity->namespace,
                                       .name = pool->join_secret_name};
        int r = kube_get(run->request->client, &KUBE_SECRETS, &get, &secret, NULL);
        if (r < 0)
                return r;
        const char *encoded = json_string_value(
                json_object_get(json_object_get(secret, "data"), pool->join_secret_key));
        if (!encoded)
                return -ENOENT;
        size_t length = strlen(encoded);
        _cleanup_free_ unsigned char *decoded = malloc(length / 4 * 3 + 4);
        if (!decoded)
                return -ENOMEM;
        int n = EVP_DecodeBlock(decoded, (const unsigned char *)encoded, (int)length);
        if (n < 0)
                return -EBADMSG;
        /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
        if (length >= 1 && encoded[length - 1] == '=')
                n--;
        if (length >= 2 && encoded[length - 2] == '=')
                n--;
        decoded[n] = '\0';
        if (strlen((char *)decoded) != (size_t)n || n == 0)
                return -EBADMSG;
        /* A trailing newline (echo > file) is not part of the command. */
        while (n > 0 && (decoded[n - 1] == '\n' || decoded[n - 1] == '\r'))
                decoded[--n] = '\0';
        *ret_command = (char *)TAKE_PTR(decoded);
        return 0;
}

/* ---- one pool ------------------------------------------------------------- */

static void status_entry(struct run *run, const char *name, const char *pool,
                         enum vmctl_state vm_state, enum nodepool_node_state node)
{
        /* "Running/Ready": the VM as libvirt sees it, then its Node. */
        char state[64];
        const char *vm = vmctl_state_to_string(vm_state);
        snprintf(state, sizeof(state), "%c%s/%s", vm[0] - 'a' + 'A', vm + 1,
                 nodepool_node_state_to_string(node));
        json_array_append_new(run->nodes, json_pack("{s:s, s:s, s:s}", "name", name, "pool", pool,
                                                    "state", state));
}

static int destroy_vm(struct run *run, vmctl_conn *conn, const char *name, const char *pool,
                      const char *why)
{
        int r = vmctl_destroy(conn, name);
        if (r < 0 && r != -ENOENT) {
                problem_set(run, "ReleaseFailed", "cannot destroy VM %s: %s", name,
                            vmctl_conn_error(conn));
                return r;
        }
        delete_node(run, name);
        event(run, "Normal", "NodeReleased", "Released node %s of pool %s (%s)", name, pool, why);
        return 0;
}

static int create_vm(struct run *run, vmctl_conn *conn, const struct tripdeal_node_pool *pool,
                     const char *join_command, char *ret_name)
{
        const struct tripdeal_identity *id = run->request->identity;
        int r = -EEXIST;
        for (int attempt = 0; attempt < NAME_ATTEMPTS && r == -EEXIST; attempt++) {
                uint8_t random[NODEPOOL_SUFFIX_LENGTH];
                if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
                        return -EIO;
                char name[64];
                if ((r = nodepool_vm_name(id->name, pool->name, random, name, sizeof(name))) < 0)
                        return r;
                struct vmctl_spec spec = {
                        .name = name,
                        .pool = pool->name,
                        .owner = run->owner,
                        .base_image = pool->base_image,
                        .storage_pool = pool->storage_pool,
                        .network = pool->network,
                        .vcpus = (unsigned)pool->vcpus,
                        .memory_mib = (uint64_t)pool->memory_mib,
                        .join_command = join_command,
                };
                int64_t started = clock_monotonic_ms();
                r = vmctl_create(conn, &spec, NULL);
                if (r == 0) {
                        metrics_vm_provisioned((double)(clock_monotonic_ms() - started) / 1000.0);
                        memcpy(ret_name, name, sizeof(name));
                }
        }
        return r;
}

/* Creating or destroying several VMs at once: worker threads share a job
 * list, one libvirt connection each (as vmctl requires). */
struct vm_job {
        char name[64];
        int result;
        char error[256];
};

struct vm_batch {
        struct run *run;
        const char *uri;
        const struct tripdeal_node_pool *pool; /* NULL: destroy the named VMs */
        const char *join_command;
        struct vm_job *jobs;
        int count;
        atomic_int next;
};

static void *vm_worker(void *userdata)
{
        struct vm_batch *batch = userdata;
        vmctl_conn *conn = NULL;
        int opened = open_conn(batch->run, batch->uri, &conn);
        for (;;) {
                int i = atomic_fetch_add(&batch->next, 1);
                if (i >= batch->count)
                        break;
                struct vm_job *job = &batch->jobs[i];
                if (opened < 0) {
                        job->result = opened;
                        snprintf(job->error, sizeof(job->error), "cannot connect to libvirt: %s",
                                 conn ? vmctl_conn_error(conn) : strerror(-opened));
                        continue;
                }
                if (batch->pool)
                        job->result = create_vm(batch->run, conn, batch->pool, batch->join_command,
                                                job->name);
                else if ((job->result = vmctl_destroy(conn, job->name)) == -ENOENT)
                        job->result = 0; /* gone already: what we wanted */
                if (job->result < 0)
                        snprintf(job->error, sizeof(job->error), "%s", vmctl_conn_error(conn));
        }
        vmctl_close(conn);
        return NULL;
}

/* Run the batch's jobs, VM_PARALLELISM at a time. */
static void vm_batch_run(struct vm_batch *batch)
{
        pthread_t threads[VM_PARALLELISM];
        int started = 0;
        for (; started < batch->count && started < VM_PARALLELISM; started++)
                if (pthread_create(&threads[started], NULL, vm_worker, batch) != 0)
                        break;
        if (started == 0)
                vm_worker(batch); /* no thread to be had: do it here */
        for (int i = 0; i < started; i++)
                pthread_join(threads[i], NULL);
}

/* Create `count` VMs of the pool.  The jobs say which were made (result 0,
 * name) and why others failed; caller frees them. */
static int create_vms(struct run *run, const struct tripdeal_node_pool *pool,
                      const char *join_command, int count, struct vm_job **ret_jobs)
{
        struct vm_batch batch = {.run = run,
                                 .uri = pool->libvirt_uri,
                                 .pool = pool,
                                 .join_command = join_command,
                                 .jobs = calloc((size_t)count, sizeof(struct vm_job)),
                                 .count = count};
        if (!batch.jobs)
                return -ENOMEM;
        vm_batch_run(&batch);
        *ret_jobs = batch.jobs;
        return 0;
}

/* Everything about one pool's VMs this reconcile knows. */
struct member_set {
        struct nodepool_member *items;
        enum vmctl_state *vm_states;
        size_t n;
};

static void member_set_clear(struct member_set *set)
{
        free(set->items);
        free(set->vm_states);
}

static void member_remove(struct member_set *set, size_t index)
{
        set->items[index] = set->items[set->n - 1];
        set->vm_states[index] = set->vm_states[set->n - 1];
        set->n--;
}

/*
 * Converge one pool.  `vms` are this owner's VMs on the pool's host; those
 * of this pool are used (and their names stay borrowed from `vms`).
 * `pool_config` is NULL for a pool no longer in the spec (release all).
 */
static int reconcile_pool(struct run *run, vmctl_conn *conn, const char *pool_name,
                          const struct tripdeal_node_pool *pool_config,
                          const struct vmctl_vm_list *vms)
{
        const struct nodepools_request *req = run->request;
        _cleanup_(member_set_clear) struct member_set set = {
                .items = calloc(vms->n_items + 1, sizeof(*set.items)),
                .vm_states = calloc(vms->n_items + 1, sizeof(*set.vm_states)),
        };
        if (!set.items || !set.vm_states)
                return -ENOMEM;
        for (size_t i = 0; i < vms->n_items; i++) {
                const struct vmctl_vm *vm = &vms->items[i];
                if (!vm->pool || strcmp(vm->pool, pool_name) != 0)
                        continue;
                struct nodepool_member *m = &set.items[set.n];
                *m = (struct nodepool_member){.name = vm->name,
                                              .created_at_ms = time_ms(vm->created_at)};
                set.vm_states[set.n++] = vm->state;
                int r = node_state(run, m);
                if (r < 0) {
                        problem_set(run, "KubernetesError", "cannot read Node %s: %s", m->name,
                                    kube_strerror(r));
                        return 0;
                }
        }

        /* A VM whose Node is not Ready after the deadline will not become
         * Ready by waiting: replace it (the loop below creates the new one). */
        for (size_t i = 0; i < set.n;) {
                struct nodepool_member *m = &set.items[i];
                if (!nodepool_needs_replacement(m, req->now_ms, run->ready_timeout_ms)) {
                        due_at(run, nodepool_replace_due_ms(m, run->ready_timeout_ms));
                        i++;
                        continue;
                }
                char why[128];
                snprintf(why, sizeof(why), "Node not Ready within %llds, replacing",
                         (long long)run->ready_timeout_ms / 1000);
                if (destroy_vm(run, conn, m->name, pool_name, why) < 0)
                        return 0;
                member_remove(&set, i);
        }

        int32_t desired = pool_config ? nodepool_desired_count(pool_config->min, pool_config->max,
                                                               req->nodes_wanted)
                                      : 0;
        run->wanted_total += desired;

        /* Scale down: the VM with the least to move goes first. */
        if ((int32_t)set.n > desired) {
                for (size_t i = 0; i < set.n; i++) {
                        _cleanup_json_ json_t *pods = NULL;
                        int r = pods_on_node(run, set.items[i].name, &pods);
                        if (r < 0) {
                                problem_set(run, "KubernetesError",
                                            "cannot list pods on Node %s: %s", set.items[i].name,
                                            kube_strerror(r));
                                return 0;
                        }
                        set.items[i].pods = (int32_t)json_array_size(pods);
                }
        }
        while ((int32_t)set.n > desired) {
                long pick = nodepool_pick_removal(set.items, set.n);
                const char *name = set.items[pick].name;
                char why[512];
                int r = drain(run, name, set.items[pick].node == NODEPOOL_NODE_READY, why,
                              sizeof(why));
                if (r < 0) {
                        problem_set(run, r == -ETIMEDOUT ? "Draining" : "DrainFailed", "%s", why);
                        run->settling = true;
                        break;
                }
                if (destroy_vm(run, conn, name, pool_name,
                               pool_config ? "scale down" : "pool removed from the spec") < 0)
                        break;
                member_remove(&set, (size_t)pick);
        }

        /* Scale up. */
        if ((int32_t)set.n < desired) {
                _cleanup_free_ char *join = NULL;
                int r = read_join_command(run, pool_config, &join);
                if (r < 0) {
                        problem_set(run, "JoinSecretMissing",
                                    "nodePool %s: cannot read key \"%s\" of Secret %s/%s: %s",
                                    pool_name, pool_config->join_secret_key,
                                    req->identity->namespace, pool_config->join_secret_name,
                                    r == -ENOENT ? "no such key" : kube_strerror(r));
                } else {
                        int32_t missing = desired - (int32_t)set.n;
                        _cleanup_free_ struct vm_job *jobs = NULL;
                        if ((r = create_vms(run, pool_config, join, missing, &jobs)) < 0)
                                return r;
                        int32_t made = 0;
                        for (int32_t k = 0; k < missing; k++) {
                                if (jobs[k].result < 0) {
                                        problem_set(run, "ProvisionFailed",
                                                    "nodePool %s: cannot create a VM: %s",
                                                    pool_name, jobs[k].error);
                                        continue;
                                }
                                made++;
                                event(run, "Normal", "NodeProvisioned",
                                      "Provisioned node %s in pool %s (%zu of %d)", jobs[k].name,
                                      pool_name, set.n + (size_t)made, desired);
                                /* New VMs have no Node yet; listed as registering. */
                                status_entry(run, jobs[k].name, pool_name, VMCTL_STATE_RUNNING,
                                             NODEPOOL_NODE_REGISTERING);
                                run->settling = true;
                                due_at(run, req->now_ms + run->ready_timeout_ms);
                        }
                }
        }

        int32_t ready = 0;
        for (size_t i = 0; i < set.n; i++) {
                status_entry(run, set.items[i].name, pool_name, set.vm_states[i],
                             set.items[i].node);
                if (set.items[i].node == NODEPOOL_NODE_READY)
                        ready++;
                else
                        run->settling = true;
        }
        run->ready_total += ready;
        return 0;
}

/* ---- per libvirt host ----------------------------------------------------- */

static bool uri_seen_before(const struct tripdeal_spec *spec, size_t index)
{
        for (size_t j = 0; j < index; j++)
                if (strcmp(spec->node_pools[j].libvirt_uri, spec->node_pools[index].libvirt_uri) ==
                    0)
                        return true;
        return false;
}

static bool pool_in_spec(const struct tripdeal_spec *spec, const char *uri, const char *name)
{
        for (size_t j = 0; j < spec->node_pools_count; j++)
                if (strcmp(spec->node_pools[j].libvirt_uri, uri) == 0 &&
                    strcmp(spec->node_pools[j].name, name) == 0)
                        return true;
        return false;
}

static int64_t count_pool(const json_t *nodes, const char *pool)
{
        int64_t n = 0;
        size_t i;
        json_t *entry;
        json_array_foreach (nodes, i, entry) {
                if (strcmp(json_string_value(json_object_get(entry, "pool")) ?: "", pool) == 0)
                        n++;
        }
        return n;
}

/* Every pool on one libvirt host (pools sharing a URI share one listing). */
/* libvirt cannot be reached: keep what status said about its pools, state unknown. */
static void carry_unknown(struct run *run, const char *uri)
{
        size_t i;
        json_t *entry;
        json_array_foreach (json_object_get(run->request->status, "nodes"), i, entry) {
                const char *pool = json_string_value(json_object_get(entry, "pool"));
                const char *name = json_string_value(json_object_get(entry, "name"));
                if (pool && name && pool_in_spec(run->request->spec, uri, pool))
                        json_array_append_new(run->nodes,
                                              json_pack("{s:s, s:s, s:s}", "name", name, "pool",
                                                        pool, "state", "Unknown"));
        }
}

static int reconcile_host(struct run *run, size_t first_index)
{
        const struct tripdeal_spec *spec = run->request->spec;
        const char *uri = spec->node_pools[first_index].libvirt_uri;
        vmctl_conn *conn = NULL;
        int r = open_conn(run, uri, &conn);
        if (r < 0) {
                problem_set(run, "LibvirtUnreachable", "cannot connect to libvirt at %s: %s", uri,
                            conn ? vmctl_conn_error(conn) : strerror(-r));
                run->problem.unreachable = true;
                vmctl_close(conn);
                carry_unknown(run, uri);
                return 0;
        }
        struct vmctl_vm_list vms = {0};
        struct vmctl_filter filter = {.owner = run->owner};
        r = vmctl_list(conn, &filter, &vms);
        if (r < 0) {
                problem_set(run, "LibvirtUnreachable", "cannot list VMs at %s: %s", uri,
                            vmctl_conn_error(conn));
                run->problem.unreachable = true;
                vmctl_close(conn);
                carry_unknown(run, uri);
                return 0;
        }

        for (size_t i = first_index; r == 0 && i < spec->node_pools_count; i++) {
                const struct tripdeal_node_pool *pool = &spec->node_pools[i];
                if (strcmp(pool->libvirt_uri, uri) != 0)
                        continue;
                r = reconcile_pool(run, conn, pool->name, pool, &vms);
                metrics_set_vms(run->request->identity->namespace, run->request->identity->name,
                                pool->name, count_pool(run->nodes, pool->name));
        }
        /* VMs of pools that were removed from the spec go too. */
        for (size_t i = 0; r == 0 && i < vms.n_items; i++) {
                const char *pool = vms.items[i].pool;
                if (!pool || pool_in_spec(spec, uri, pool))
                        continue;
                bool done_before = false;
                for (size_t j = 0; j < i; j++)
                        if (vms.items[j].pool && strcmp(vms.items[j].pool, pool) == 0)
                                done_before = true;
                if (!done_before)
                        r = reconcile_pool(run, conn, pool, NULL, &vms);
        }
        vmctl_vm_list_free(&vms);
        vmctl_close(conn);
        return r;
}

static int compare_names(const void *a, const void *b)
{
        const json_t *const *x = a, *const *y = b;
        return strcmp(json_string_value(json_object_get(*x, "name")) ?: "",
                      json_string_value(json_object_get(*y, "name")) ?: "");
}

static json_t *sorted_by_name(json_t *array /* stolen */)
{
        size_t n = json_array_size(array);
        json_t **items = calloc(n + 1, sizeof(*items));
        json_t *out = json_array();
        if (!items || !out) {
                free(items);
                json_decref(out);
                return array;
        }
        for (size_t i = 0; i < n; i++)
                items[i] = json_array_get(array, i);
        qsort(items, n, sizeof(*items), compare_names);
        for (size_t i = 0; i < n; i++)
                json_array_append(out, items[i]);
        free(items);
        json_decref(array);
        return out;
}

static void run_init(struct run *run, const struct nodepools_request *request)
{
        const struct nodepools_options *o = request->options;
        *run = (struct run){
                .request = request,
                .ready_timeout_ms = o && o->node_ready_timeout_ms > 0 ? o->node_ready_timeout_ms
                                                                      : DEFAULT_READY_TIMEOUT_MS,
                .drain_timeout_ms = o && o->drain_timeout_ms > 0 ? o->drain_timeout_ms
                                                                 : DEFAULT_DRAIN_TIMEOUT_MS,
                .drain_poll_ms =
                        o && o->drain_poll_ms > 0 ? o->drain_poll_ms : DEFAULT_DRAIN_POLL_MS,
        };
        snprintf(run->owner, sizeof(run->owner), "%s/%s", request->identity->namespace,
                 request->identity->name);
}

/* When NodesReady last became False, from the status we wrote before. */
static int64_t failing_since_ms(const json_t *status)
{
        json_t *c = conditions_find(json_object_get(status, "conditions"), "NodesReady");
        const char *s = json_string_value(json_object_get(c, "status"));
        const char *reason = json_string_value(json_object_get(c, "reason"));
        if (!s || strcmp(s, "False") != 0 || !reason || strcmp(reason, "LibvirtUnreachable") != 0)
                return 0;
        return time_ms(json_string_value(json_object_get(c, "lastTransitionTime")));
}

int nodepools_reconcile(const struct nodepools_request *request, struct nodepools_result *ret)
{
        struct run run;
        run_init(&run, request);
        const struct tripdeal_spec *spec = request->spec;
        if (spec->node_pools_count == 0)
                return nodepools_reconcile_none(request, ret);
        run.nodes = json_array();
        if (!run.nodes)
                return -ENOMEM;

        int r = 0;
        for (size_t i = 0; r == 0 && i < spec->node_pools_count; i++)
                if (!uri_seen_before(spec, i))
                        r = reconcile_host(&run, i);
        if (r < 0) {
                json_decref(run.nodes);
                return r;
        }

        struct nodepools_result result = {.nodes = sorted_by_name(run.nodes),
                                          .has_condition = true};
        if (run.problem.reason[0]) {
                result.status = CONDITION_FALSE;
                result.problem = true;
                snprintf(result.reason, sizeof(result.reason), "%s", run.problem.reason);
                snprintf(result.message, sizeof(result.message), "%s", run.problem.message);
        } else if (run.ready_total < run.wanted_total ||
                   (int64_t)json_array_size(result.nodes) != run.wanted_total) {
                result.status = CONDITION_FALSE;
                snprintf(result.reason, sizeof(result.reason), "Provisioning");
                snprintf(result.message, sizeof(result.message), "%d of %d nodes Ready, %zu VMs",
                         run.ready_total, run.wanted_total, json_array_size(result.nodes));
        } else {
                result.status = CONDITION_TRUE;
                snprintf(result.reason, sizeof(result.reason), "NodesReady");
                snprintf(result.message, sizeof(result.message), "%d of %d nodes Ready",
                         run.ready_total, run.wanted_total);
        }

        /* When to look again: libvirt down backs off (doubling, from the time
         * the condition turned False); anything in flight is polled. */
        if (run.problem.unreachable) {
                int64_t since = failing_since_ms(request->status);
                int64_t failing_for = since ? request->now_ms - since : 0;
                due_at(&run, request->now_ms + nodepool_retry_delay_ms(failing_for));
        } else if (run.problem.reason[0] || run.settling) {
                due_at(&run, request->now_ms + SETTLE_POLL_MS);
        } else if (json_array_size(result.nodes) > 0) {
                due_at(&run, request->now_ms + HEALTH_CHECK_MS);
        }
        result.requeue_at_ms = run.next_due_ms;
        *ret = result;
        return 0;
}

int nodepools_release_all(const struct nodepools_request *request, char **ret_message)
{
        struct run run;
        run_init(&run, request);
        const struct tripdeal_spec *spec = request->spec;
        int result = 0;
        char message[512] = "";

        for (size_t i = 0; spec && i < spec->node_pools_count; i++) {
                if (uri_seen_before(spec, i))
                        continue;
                const char *uri = spec->node_pools[i].libvirt_uri;
                vmctl_conn *conn = NULL;
                int r = open_conn(&run, uri, &conn);
                struct vmctl_vm_list vms = {0};
                if (r == 0)
                        r = vmctl_list(conn, &(struct vmctl_filter){.owner = run.owner}, &vms);
                if (r < 0) {
                        snprintf(message, sizeof(message), "cannot reach libvirt at %s: %s", uri,
                                 conn ? vmctl_conn_error(conn) : strerror(-r));
                        vmctl_close(conn);
                        result = -EHOSTUNREACH;
                        continue;
                }
                vmctl_close(conn);

                struct vm_batch batch = {.run = &run,
                                         .uri = uri,
                                         .jobs = calloc(vms.n_items + 1, sizeof(struct vm_job)),
                                         .count = (int)vms.n_items};
                if (!batch.jobs) {
                        vmctl_vm_list_free(&vms);
                        return -ENOMEM;
                }
                for (size_t k = 0; k < vms.n_items; k++)
                        snprintf(batch.jobs[k].name, sizeof(batch.jobs[k].name), "%s",
                                 vms.items[k].name);
                vm_batch_run(&batch);
                for (size_t k = 0; k < vms.n_items; k++) {
                        const char *pool = vms.items[k].pool ?: "";
                        metrics_set_vms(request->identity->namespace, request->identity->name, pool,
                                        0);
                        if (batch.jobs[k].result < 0) {
                                snprintf(message, sizeof(message), "cannot destroy VM %s: %s",
                                         vms.items[k].name, batch.jobs[k].error);
                                if (result == 0)
                                        result = -EIO;
                                continue;
                        }
                        delete_node(&run, vms.items[k].name);
                        event(&run, "Normal", "NodeReleased",
                              "Released node %s of pool %s (the TripDeal is being deleted)",
                              vms.items[k].name, pool);
                }
                free(batch.jobs);
                vmctl_vm_list_free(&vms);
        }
        if (result < 0 && ret_message)
                *ret_message = strdup(message);
        return result;
}
