/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node pools against real libraries: nodepools_reconcile() with vmctl on
 * libvirt's test:///default driver (its state lives in this process, so the
 * whole scenario runs here) and the API server played by a real fakekube
 * (started by this test, without its controllers, so that the test decides
 * which Nodes are Ready and where pods run).
 *
 * Usage: test-operator-nodepools-libvirt FAKEKUBE
 *
 * The tests run in order and build on each other: scale up to min and to a
 * sale, find the VMs again, scale down (fewest pods first, PDB respected),
 * replace a Node that stays NotReady, libvirt unreachable, Secret missing,
 * then the finalizer releases everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "kube.h"
#include "macros.h"
#include "metrics.h"
#include "nodepools.h"
#include "tripdeal.h"
#include "vmctl.h"

#define URI          "test:///default"
#define STORAGE_POOL "default-pool"
#define JOIN_COMMAND "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef"

extern char **environ;

static struct {
        const char *fakekube;
        char dir[64];
        char kubeconfig[128];
        char log_path[128];
        pid_t fakekube_pid;
        struct kube_client *client;
        virConnectPtr virt; /* keeps the test driver's shared state alive */
        char base_image[512];
        char namespace[32];
        struct tripdeal_identity identity;
        struct nodepools_options options;
        json_t *status; /* what the operator would have written last time */
        json_t *events; /* [{reason, message}] */
} env;

/* ---- helpers -------------------------------------------------------------- */

static void record(void *userdata, const char *type, const char *reason, const char *message)
{
        json_array_append_new(env.events,
                              json_pack("{s:s, s:s}", "reason", reason, "message", message));
}

static size_t events_with(const char *reason)
{
        size_t n = 0, i;
        json_t *e;
        json_array_foreach (env.events, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "reason")), reason) == 0)
                        n++;
        }
        return n;
}

static struct tripdeal_spec *spec_with(int min, int max, const char *uri, const char *secret)
{
        char text[2048];
        snprintf(text, sizeof(text),
                 "{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":1,\"max\":1}},"
                 "\"nodePools\":[{\"name\":\"burst\",\"libvirt\":{\"uri\":\"%s\","
                 "\"baseImage\":\"%s\",\"storagePool\":\"" STORAGE_POOL "\",\"vcpus\":1,"
                 "\"memoryMiB\":64},\"min\":%d,\"max\":%d,\"joinSecretRef\":{\"name\":\"%s\"}}]}",
                 uri, env.base_image, min, max, secret);
        json_error_t jerr;
        _cleanup_json_ json_t *json = json_loads(text, 0, &jerr);
        assert_non_null(json);
        struct tripdeal_spec *spec = NULL;
        struct tripdeal_error error = {0};
        if (tripdeal_spec_parse(json, &spec, &error) < 0)
                fail_msg("spec refused: %s", error.message);
        return spec;
}

/* One reconcile; keeps status.nodes and the condition as the operator would. */
static void reconcile(const struct tripdeal_spec *spec, int32_t wanted, int64_t now_ms,
                      struct nodepools_result *ret)
{
        struct nodepools_request request = {
                .client = env.client,
                .options = &env.options,
                .identity = &env.identity,
                .spec = spec,
                .nodes_wanted = wanted,
                .now_ms = now_ms,
                .status = env.status,
                .event = record,
        };
        assert_int_equal(nodepools_reconcile(&request, ret), 0);
        assert_true(ret->has_condition);
        json_decref(env.status);
        char since[32];
        clock_format_rfc3339((time_t)(now_ms / 1000), since, sizeof(since));
        env.status = json_pack("{s:O, s:[{s:s, s:s, s:s, s:s}]}", "nodes", ret->nodes, "conditions",
                               "type", "NodesReady", "status",
                               ret->status == CONDITION_TRUE ? "True" : "False", "reason",
                               ret->reason, "lastTransitionTime", since);
}

static void vms(struct vmctl_vm_list *ret)
{
        vmctl_conn *conn = NULL;
        assert_int_equal(vmctl_open(URI, &conn, NULL), 0);
        char owner[64];
        snprintf(owner, sizeof(owner), "%s/shop", env.namespace);
        assert_int_equal(vmctl_list(conn, &(struct vmctl_filter){.pool = "burst", .owner = owner},
                                    ret, NULL),
                         0);
        vmctl_close(conn);
}

static size_t vm_count(void)
{
        struct vmctl_vm_list list = {0};
        vms(&list);
        size_t n = list.n_items;
        vmctl_vm_list_free(&list);
        return n;
}

static bool vm_exists(const char *name)
{
        struct vmctl_vm_list list = {0};
        vms(&list);
        bool found = false;
        for (size_t i = 0; i < list.n_items; i++)
                found |= strcmp(list.items[i].name, name) == 0;
        vmctl_vm_list_free(&list);
        return found;
}

/* Volumes in the storage pool whose name starts with prefix. */
static int volumes_with_prefix(const char *prefix)
{
        virStoragePoolPtr pool = virStoragePoolLookupByName(env.virt, STORAGE_POOL);
        assert_non_null(pool);
        virStorageVolPtr *vols = NULL;
        int n = virStoragePoolListAllVolumes(pool, &vols, 0), found = 0;
        for (int i = 0; i < n; i++) {
                if (strncmp(virStorageVolGetName(vols[i]), prefix, strlen(prefix)) == 0)
                        found++;
                virStorageVolFree(vols[i]);
        }
        free(vols);
        virStoragePoolFree(pool);
        return found;
}

static void create_object(const struct kube_resource *resource, const char *namespace,
                          json_t *object /* stolen */)
{
        _cleanup_json_ json_t *o = object;
        struct kube_status status = {0};
        struct kube_write_options options = {.namespace = namespace};
        int r = kube_create(env.client, resource, &options, o, NULL, &status);
        if (r < 0)
                fail_msg("create %s: %s: %s", resource->kind, kube_strerror(r), status.message);
}

/* A Node named like the VM, Ready or not (as a kubelet would post it). */
static void node_set(const char *name, bool ready, const char *since)
{
        json_t *existing = NULL;
        if (kube_get(env.client, &KUBE_NODES, &(struct kube_get_options){.name = name}, &existing,
                     NULL) == KUBE_ERR_NOT_FOUND)
                create_object(&KUBE_NODES, NULL,
                              json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Node",
                                        "metadata", "name", name));
        json_decref(existing);
        _cleanup_json_ json_t *patch = json_pack(
                "{s:{s:[{s:s, s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type", "Ready",
                "status", ready ? "True" : "False", "reason", ready ? "KubeletReady" : "Down",
                "lastTransitionTime", since, "lastHeartbeatTime", since);
        struct kube_patch_options options = {
                .name = name, .subresource = "status", .type = KUBE_PATCH_MERGE};
        struct kube_status status = {0};
        int r = kube_patch(env.client, &KUBE_NODES, &options, patch, NULL, &status);
        if (r < 0)
                fail_msg("patch node status: %s: %s", kube_strerror(r), status.message);
}

static void pod_on(const char *pod, const char *node, const char *app)
{
        create_object(&KUBE_PODS, env.namespace,
                      json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:i, s:[{s:s, s:s}]}}",
                                "apiVersion", "v1", "kind", "Pod", "metadata", "name", pod,
                                "labels", "app", app, "spec", "nodeName", node,
                                "terminationGracePeriodSeconds", 0, "containers", "name", "app",
                                "image", "x"));
}

static bool node_cordoned(const char *name)
{
        _cleanup_json_ json_t *node = NULL;
        if (kube_get(env.client, &KUBE_NODES, &(struct kube_get_options){.name = name}, &node,
                     NULL) < 0)
                return false;
        return json_is_true(json_object_get(json_object_get(node, "spec"), "unschedulable"));
}

static bool node_exists(const char *name)
{
        _cleanup_json_ json_t *node = NULL;
        return kube_get(env.client, &KUBE_NODES, &(struct kube_get_options){.name = name}, &node,
                        NULL) == 0;
}

static const char *entry_state(const json_t *nodes, const char *name)
{
        size_t i;
        json_t *e;
        json_array_foreach (nodes, i, e) {
                if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
                        return json_string_value(json_object_get(e, "state"));
        }
        return NULL;
}

static char *now_text(void)
{
        static char buf[32];
        clock_format_rfc3339(time(NULL), buf, sizeof(buf));
        return buf;
}

/* ---- set-up ----------------------------------------------------------------- */

static void silent(void *userdata, virErrorPtr error)
{
}

static int start_fakekube(void)
{
        snprintf(env.dir, sizeof(env.dir), "/tmp/nodepools-test-XXXXXX");
        if (!mkdtemp(env.dir))
                return -1;
        snprintf(env.kubeconfig, sizeof(env.kubeconfig), "%s/kubeconfig", env.dir);
        snprintf(env.log_path, sizeof(env.log_path), "%s/fakekube.log", env.dir);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, env.log_path, O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        char *argv[] = {(char *)env.fakekube, "--listen",         "127.0.0.1:0", "--kubeconfig-out",
                        env.kubeconfig,       "--no-controllers", NULL};
        int r = posix_spawn(&env.fakekube_pid, env.fakekube, &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return -1;

        /* Poll its log for the ready line (bounded). */
        int64_t deadline = clock_monotonic_ms() + 30000;
        while (clock_monotonic_ms() < deadline) {
                char buf[8192] = "";
                FILE *f = fopen(env.log_path, "r");
                if (f) {
                        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                        buf[n] = '\0';
                        fclose(f);
                }
                if (strstr(buf, "\"msg\":\"ready\"") || strstr(buf, "\"msg\": \"ready\""))
                        return 0;
                if (waitpid(env.fakekube_pid, NULL, WNOHANG) == env.fakekube_pid) {
                        fprintf(stderr, "fakekube exited:\n%s\n", buf);
                        env.fakekube_pid = 0;
                        return -1;
                }
                nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
        }
        return -1;
}

static int group_setup(void **state)
{
        virSetErrorFunc(NULL, silent);
        env.events = json_array();
        if (start_fakekube() < 0)
                return -1;
        struct kube_config *config = NULL;
        struct kube_config_options config_options = {.kubeconfig_path = env.kubeconfig};
        if (kube_config_load(&config_options, &config, NULL) < 0)
                return -1;
        int r = kube_client_new(config, NULL, &env.client);
        kube_config_free(config);
        if (r < 0)
                return -1;

        uint8_t rnd[3];
        if (getrandom(rnd, sizeof(rnd), 0) != 3)
                return -1;
        snprintf(env.namespace, sizeof(env.namespace), "np-%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
        env.identity = (struct tripdeal_identity){
                .name = "shop", .namespace = env.namespace, .uid = "uid-1", .generation = 1};
        create_object(&KUBE_NAMESPACES, NULL,
                      json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                                "metadata", "name", env.namespace));
        /* data is base64: "kubeadm join ..." as a Secret holds it. */
        create_object(&KUBE_SECRETS, env.namespace,
                      json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                                "Secret", "metadata", "name", "kubeadm-join", "stringData", "join",
                                JOIN_COMMAND "\n"));

        env.virt = virConnectOpen(URI);
        if (!env.virt)
                return -1;
        virStoragePoolPtr pool = virStoragePoolLookupByName(env.virt, STORAGE_POOL);
        if (!pool)
                return -1;
        virStorageVolPtr vol = virStorageVolCreateXML(
                pool,
                "<volume><name>np-base.qcow2</name><capacity>67108864</capacity>"
                "<target><format type='qcow2'/></target></volume>",
                0);
        virStoragePoolFree(pool);
        if (!vol)
                return -1;
        char *path = virStorageVolGetPath(vol);
        snprintf(env.base_image, sizeof(env.base_image), "%s", path);
        free(path);
        virStorageVolFree(vol);

        env.options = (struct nodepools_options){.node_ready_timeout_ms = 10 * 60 * 1000,
                                                 .drain_timeout_ms = 1500,
                                                 .drain_poll_ms = 100};
        return 0;
}

static int group_teardown(void **state)
{
        kube_client_free(env.client);
        if (env.fakekube_pid > 0) {
                kill(env.fakekube_pid, SIGTERM);
                waitpid(env.fakekube_pid, NULL, 0);
        }
        if (env.dir[0]) {
                unlink(env.kubeconfig);
                char ca[160];
                snprintf(ca, sizeof(ca), "%s.ca.crt", env.kubeconfig);
                unlink(ca);
                unlink(env.log_path);
                rmdir(env.dir);
        }
        if (env.virt)
                virConnectClose(env.virt);
        json_decref(env.status);
        json_decref(env.events);
        metrics_reset();
        return 0;
}

/* ---- tests ------------------------------------------------------------------- */

static void scales_up_to_min_then_to_the_sale(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_with(2, 5, URI, "kubeadm-join");
        int64_t now = clock_realtime_ms();

        _cleanup_(nodepools_result_clear) struct nodepools_result a = {0};
        reconcile(spec, 0, now, &a);
        assert_int_equal(vm_count(), 2);
        assert_int_equal(events_with("NodeProvisioned"), 2);
        assert_int_equal(json_array_size(a.nodes), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(a.nodes, 0), "state")),
                            "Running/Registering");
        assert_int_equal(a.status, CONDITION_FALSE);
        assert_string_equal(a.reason, "Provisioning");
        assert_true(a.requeue_at_ms > now && a.requeue_at_ms <= now + 5000);

        _cleanup_(nodepools_result_clear) struct nodepools_result b = {0};
        reconcile(spec, 4, now, &b);
        assert_int_equal(vm_count(), 4);

        /* A sale asking for more than max gets max. */
        _cleanup_(nodepools_result_clear) struct nodepools_result c = {0};
        reconcile(spec, 9, now, &c);
        assert_int_equal(vm_count(), 5);
        assert_int_equal(events_with("NodeProvisioned"), 5);

        /* Names and metadata: <tripdeal>-<pool>-xxxxx, owner and pool in libvirt. */
        struct vmctl_vm_list list = {0};
        vms(&list);
        char owner[64];
        snprintf(owner, sizeof(owner), "%s/shop", env.namespace);
        for (size_t i = 0; i < list.n_items; i++) {
                assert_int_equal(strncmp(list.items[i].name, "shop-burst-", 11), 0);
                assert_int_equal(strlen(list.items[i].name), 16);
                assert_string_equal(list.items[i].owner, owner);
                assert_string_equal(list.items[i].pool, "burst");
                assert_int_equal(list.items[i].memory_mib, 64);
                assert_non_null(list.items[i].created_at);
        }
        vmctl_vm_list_free(&list);

        /* The metric follows. */
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        metrics_write(out);
        fclose(out);
        char want[160];
        snprintf(want, sizeof(want),
                 "tripdeal_operator_vms{namespace=\"%s\",name=\"shop\",pool=\"burst\"} 5",
                 env.namespace);
        assert_non_null(strstr(text, want));
        assert_non_null(strstr(text, "tripdeal_operator_vm_provision_seconds_count 5"));
        /* The join command never shows up outside the VM's seed. */
        assert_null(strstr(text, "kubeadm"));
        free(text);
        char *events = json_dumps(env.events, 0);
        assert_null(strstr(events, "abcdef"));
        free(events);
}

static void finds_its_vms_again_and_ignores_others(void **state)
{
        /* Someone else's VM in the same pool name on the same host. */
        vmctl_conn *conn = NULL;
        assert_int_equal(vmctl_open(URI, &conn, NULL), 0);
        struct vmctl_spec other = {.name = "other-burst-aaaaa",
                                   .pool = "burst",
                                   .owner = "elsewhere/shop",
                                   .base_image = env.base_image,
                                   .storage_pool = STORAGE_POOL,
                                   .vcpus = 1,
                                   .memory_mib = 64};
        assert_int_equal(vmctl_create(conn, &other, NULL, NULL), 0);

        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_with(2, 5, URI, "kubeadm-join");
        size_t before = json_array_size(env.events);
        /* A fresh run (as after an operator restart, nothing remembered but
         * libvirt): nothing created, nothing released. */
        json_decref(env.status);
        env.status = NULL;
        _cleanup_(nodepools_result_clear) struct nodepools_result r = {0};
        reconcile(spec, 9, clock_realtime_ms(), &r);
        assert_int_equal(json_array_size(env.events), before);
        assert_int_equal(json_array_size(r.nodes), 5);
        assert_null(entry_state(r.nodes, "other-burst-aaaaa"));
        assert_int_equal(vm_count(), 5);

        assert_int_equal(vmctl_destroy(conn, "other-burst-aaaaa", NULL), 0);
        vmctl_close(conn);
}

static void scale_down_drains_fewest_pods_first_and_respects_pdbs(void **state)
{
        struct vmctl_vm_list list = {0};
        vms(&list);
        assert_int_equal(list.n_items, 5);
        char names[5][64];
        for (size_t i = 0; i < 5; i++) {
                snprintf(names[i], sizeof(names[i]), "%s", list.items[i].name);
                node_set(names[i], true, now_text());
        }
        vmctl_vm_list_free(&list);

        /* names[0]: 3 pods, [1]: 2 pods, [2]: 1 pod under a PDB, [3] and [4]: none. */
        pod_on("p0a", names[0], "web");
        pod_on("p0b", names[0], "web");
        pod_on("p0c", names[0], "web");
        pod_on("p1a", names[1], "web");
        pod_on("p1b", names[1], "web");
        pod_on("guarded", names[2], "guarded");
        create_object(&KUBE_PDBS, env.namespace,
                      json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}}}", "apiVersion",
                                "policy/v1", "kind", "PodDisruptionBudget", "metadata", "name",
                                "guard", "spec", "minAvailable", 1, "selector", "matchLabels",
                                "app", "guarded"));

        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_with(2, 5, URI, "kubeadm-join");
        size_t released_before = events_with("NodeReleased");
        _cleanup_(nodepools_result_clear) struct nodepools_result a = {0};
        reconcile(spec, 0, clock_realtime_ms(), &a);
        /* The two idle ones went; the guarded one is cordoned and waits. */
        assert_false(vm_exists(names[3]));
        assert_false(vm_exists(names[4]));
        assert_false(node_exists(names[3]));
        assert_true(vm_exists(names[2]));
        assert_true(node_cordoned(names[2]));
        assert_true(vm_exists(names[0]) && vm_exists(names[1]));
        assert_false(node_cordoned(names[0]));
        assert_int_equal(events_with("NodeReleased"), released_before + 2);
        assert_int_equal(a.status, CONDITION_FALSE);
        assert_string_equal(a.reason, "Draining");
        assert_non_null(strstr(a.message, "PodDisruptionBudget"));
        assert_true(a.requeue_at_ms > 0);

        /* The budget goes; the next reconcile evicts the pod and releases the VM. */
        struct kube_delete_options del = {.namespace = env.namespace, .name = "guard"};
        assert_int_equal(kube_delete(env.client, &KUBE_PDBS, &del, NULL, NULL), 0);
        _cleanup_(nodepools_result_clear) struct nodepools_result b = {0};
        reconcile(spec, 0, clock_realtime_ms(), &b);
        assert_false(vm_exists(names[2]));
        assert_false(node_exists(names[2]));
        _cleanup_json_ json_t *pod = NULL;
        assert_int_equal(
                kube_get(env.client, &KUBE_PODS,
                         &(struct kube_get_options){.namespace = env.namespace, .name = "guarded"},
                         &pod, NULL),
                KUBE_ERR_NOT_FOUND);
        assert_int_equal(vm_count(), 2);
        assert_int_equal(events_with("NodeReleased"), released_before + 3);
        /* The busiest two stay, Ready. */
        assert_string_equal(entry_state(b.nodes, names[0]), "Running/Ready");
        assert_string_equal(entry_state(b.nodes, names[1]), "Running/Ready");
        assert_int_equal(b.status, CONDITION_TRUE);
        assert_string_equal(b.reason, "NodesReady");
        /* Released VMs take their volumes with them. */
        for (int i = 2; i < 5; i++)
                assert_int_equal(volumes_with_prefix(names[i]), 0);
}

static void node_not_ready_too_long_is_replaced(void **state)
{
        struct vmctl_vm_list list = {0};
        vms(&list);
        assert_int_equal(list.n_items, 2);
        char sick[64];
        snprintf(sick, sizeof(sick), "%s", list.items[0].name);
        vmctl_vm_list_free(&list);

        int64_t now = clock_realtime_ms();
        node_set(sick, false, now_text());
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_with(2, 5, URI, "kubeadm-join");

        /* Within the deadline: kept, and a wake-up asked for the deadline. */
        _cleanup_(nodepools_result_clear) struct nodepools_result a = {0};
        reconcile(spec, 0, now + 60 * 1000, &a);
        assert_true(vm_exists(sick));
        assert_string_equal(entry_state(a.nodes, sick), "Running/NotReady");
        assert_true(a.requeue_at_ms > now && a.requeue_at_ms <= now + 60 * 1000 + 5000);

        /* Past it: destroyed and replaced by a new one. */
        _cleanup_(nodepools_result_clear) struct nodepools_result b = {0};
        reconcile(spec, 0, now + 11 * 60 * 1000, &b);
        assert_false(vm_exists(sick));
        assert_int_equal(vm_count(), 2);
        assert_null(entry_state(b.nodes, sick));
}

static void scale_down_of_a_not_ready_node_does_not_wait_for_its_kubelet(void **state)
{
        /* The replacement VM from the last test gets a NotReady Node with one
         * pod whose graceful termination no kubelet will ever finish. */
        struct vmctl_vm_list list = {0};
        vms(&list);
        assert_int_equal(list.n_items, 2);
        _cleanup_json_ json_t *status_nodes = json_incref(json_object_get(env.status, "nodes"));
        char fresh[64] = "";
        for (size_t i = 0; i < list.n_items; i++)
                if (strcmp(entry_state(status_nodes, list.items[i].name) ?: "",
                           "Running/Registering") == 0)
                        snprintf(fresh, sizeof(fresh), "%s", list.items[i].name);
        vmctl_vm_list_free(&list);
        assert_true(fresh[0]);
        node_set(fresh, false, now_text());
        create_object(&KUBE_PODS, env.namespace,
                      json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:[{s:s, s:s}]}}", "apiVersion",
                                "v1", "kind", "Pod", "metadata", "name", "stuck", "spec",
                                "nodeName", fresh, "terminationGracePeriodSeconds", 30,
                                "containers", "name", "app", "image", "x"));

        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *one =
                spec_with(1, 5, URI, "kubeadm-join");
        _cleanup_(nodepools_result_clear) struct nodepools_result a = {0};
        int64_t started = clock_monotonic_ms();
        reconcile(one, 0, clock_realtime_ms(), &a);
        assert_false(vm_exists(fresh));
        assert_int_equal(vm_count(), 1);
        /* Evicted (terminating), and no drain timeout was waited out. */
        _cleanup_json_ json_t *pod = NULL;
        assert_int_equal(
                kube_get(env.client, &KUBE_PODS,
                         &(struct kube_get_options){.namespace = env.namespace, .name = "stuck"},
                         &pod, NULL),
                0);
        assert_non_null(json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"));
        assert_true(clock_monotonic_ms() - started < env.options.drain_timeout_ms);

        /* Back to two for the tests that follow. */
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *two =
                spec_with(2, 5, URI, "kubeadm-join");
        _cleanup_(nodepools_result_clear) struct nodepools_result b = {0};
        reconcile(two, 0, clock_realtime_ms(), &b);
        assert_int_equal(vm_count(), 2);
}

static void libvirt_unreachable_is_a_condition_with_backoff(void **state)
{
        /* Nothing listens on port 1. */
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_with(2, 5, "qemu+tcp://127.0.0.1:1/system", "kubeadm-join");
        int64_t now = clock_realtime_ms();
        _cleanup_(nodepools_result_clear) struct nodepools_result a = {0};
        reconcile(spec, 0, now, &a);
        assert_int_equal(a.status, CONDITION_FALSE);
        assert_string_equal(a.reason, "LibvirtUnreachable");
        assert_non_null(strstr(a.message, "127.0.0.1:1"));
        assert_int_equal(a.requeue_at_ms, now + 1000);
        /* The nodes it knew are still listed, state unknown. */
        assert_int_equal(json_array_size(a.nodes), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(a.nodes, 0), "state")),
                            "Unknown");

        /* Still failing 8 s after the condition turned False: wait longer. */
        _cleanup_(nodepools_result_clear) struct nodepools_result b = {0};
        reconcile(spec, 0, now + 8000, &b);
        assert_true(b.requeue_at_ms >= now + 8000 + 7000);
}

static void missing_join_secret_creates_nothing(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = spec_with(3, 5, URI, "nope");
        size_t before = events_with("NodeProvisioned");
        _cleanup_(nodepools_result_clear) struct nodepools_result a = {0};
        reconcile(spec, 0, clock_realtime_ms(), &a);
        assert_int_equal(vm_count(), 2);
        assert_int_equal(events_with("NodeProvisioned"), before);
        assert_string_equal(a.reason, "JoinSecretMissing");
        assert_non_null(strstr(a.message, "nope"));
}

static void finalizer_releases_every_vm_and_volume(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec =
                spec_with(2, 5, URI, "kubeadm-join");
        struct nodepools_request request = {.client = env.client,
                                            .options = &env.options,
                                            .identity = &env.identity,
                                            .spec = spec,
                                            .now_ms = clock_realtime_ms(),
                                            .event = record};
        _cleanup_free_ char *message = NULL;
        assert_int_equal(nodepools_release_all(&request, &message), 0);
        assert_int_equal(vm_count(), 0);
        assert_int_equal(volumes_with_prefix("shop-burst-"), 0);

        /* Unreachable libvirt keeps the finalizer (an error to retry). */
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *down =
                spec_with(2, 5, "qemu+tcp://127.0.0.1:1/system", "kubeadm-join");
        request.spec = down;
        assert_int_equal(nodepools_release_all(&request, &message), -EHOSTUNREACH);
        assert_non_null(strstr(message, "127.0.0.1:1"));
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s FAKEKUBE\n", argv[0]);
                return 2;
        }
        env.fakekube = argv[1];
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(scales_up_to_min_then_to_the_sale),
                cmocka_unit_test(finds_its_vms_again_and_ignores_others),
                cmocka_unit_test(scale_down_drains_fewest_pods_first_and_respects_pdbs),
                cmocka_unit_test(node_not_ready_too_long_is_replaced),
                cmocka_unit_test(scale_down_of_a_not_ready_node_does_not_wait_for_its_kubelet),
                cmocka_unit_test(libvirt_unreachable_is_a_condition_with_backoff),
                cmocka_unit_test(missing_join_secret_creates_nothing),
                cmocka_unit_test(finalizer_releases_every_vm_and_volume),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
