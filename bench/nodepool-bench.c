/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node-pool benchmark: time from "the pool wants N more nodes" (one
 * nodepools_reconcile() with pool.min raised from 0 to N) to "N domains
 * running" (vmctl_list says so), and back down (nodepools_release_all()).
 * The API server is a real fakekube (no controllers), started here; libvirt
 * is whatever --uri says.  Prints one JSON line.  Built and run by
 * bench/nodepool-bench.sh.
 *
 *   nodepool-bench --fakekube PATH --uri URI --storage-pool P --base-image PATH
 *                  --count N [--network NET] [--memory-mib M]
 *
 * With --uri test:///default the base image is made in the test driver's
 * default-pool (its state lives in this process).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kube.h"
#include "macros.h"
#include "nodepools.h"
#include "tripdeal.h"
#include "vmctl.h"

extern char **environ;

static const char *fakekube, *uri, *storage_pool, *base_image_arg, *network;
static int count = 1, memory_mib = 64;
static char dir[64], kubeconfig[128], log_path[128];
static pid_t fakekube_pid;

static void die(const char *what)
{
        fprintf(stderr, "nodepool-bench: %s\n", what);
        if (fakekube_pid > 0) {
                kill(fakekube_pid, SIGTERM);
                waitpid(fakekube_pid, NULL, 0);
        }
        exit(1);
}

static void start_fakekube(void)
{
        snprintf(dir, sizeof(dir), "/tmp/nodepool-bench-XXXXXX");
        if (!mkdtemp(dir))
                die("mkdtemp");
        snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfig", dir);
        snprintf(log_path, sizeof(log_path), "%s/fakekube.log", dir);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        char *argv[] = {(char *)fakekube, "--listen",         "127.0.0.1:0", "--kubeconfig-out",
                        kubeconfig,       "--no-controllers", NULL};
        if (posix_spawn(&fakekube_pid, fakekube, &actions, NULL, argv, environ) != 0)
                die("cannot start fakekube");
        posix_spawn_file_actions_destroy(&actions);
        int64_t deadline = clock_monotonic_ms() + 30000;
        while (clock_monotonic_ms() < deadline) {
                char buf[8192] = "";
                FILE *f = fopen(log_path, "r");
                if (f) {
                        buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
                        fclose(f);
                }
                if (strstr(buf, "\"msg\":\"ready\""))
                        return;
                nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
        }
        die("fakekube did not become ready");
}

static void create(struct kube_client *client, const struct kube_resource *resource,
                   const char *namespace, json_t *object)
{
        struct kube_write_options options = {.namespace = namespace};
        if (kube_create(client, resource, &options, object, NULL, NULL) < 0)
                die("cannot create a Kubernetes object");
        json_decref(object);
}

static int running(void)
{
        vmctl_conn *conn = NULL;
        struct vmctl_vm_list list = {0};
        struct tripdeal_error error = {0};
        if (vmctl_open(uri, &conn, &error) < 0 ||
            vmctl_list(conn, &(struct vmctl_filter){.owner = "bench/shop", .pool = "burst"}, &list,
                       &error) < 0) {
                fprintf(stderr, "nodepool-bench: %s\n", error.message);
                die("cannot list VMs");
        }
        int n = 0;
        for (size_t i = 0; i < list.n_items; i++)
                n += list.items[i].state == VMCTL_STATE_RUNNING;
        vmctl_vm_list_free(&list);
        vmctl_close(conn);
        return n;
}

/* The domain type libvirt picked for one of our VMs ("kvm" or "qemu"). */
static void domain_type(virConnectPtr virt, char *buf, size_t size)
{
        snprintf(buf, size, "?");
        virDomainPtr *domains = NULL;
        int n = virConnectListAllDomains(virt, &domains, 0);
        for (int i = 0; i < n; i++) {
                if (strncmp(virDomainGetName(domains[i]), "shop-burst-", 11) == 0 &&
                    buf[0] == '?') {
                        char *xml = virDomainGetXMLDesc(domains[i], 0);
                        const char *t = xml ? strstr(xml, "type='") : NULL;
                        if (t)
                                snprintf(buf, size, "%.*s", (int)strcspn(t + 6, "'"), t + 6);
                        free(xml);
                }
                virDomainFree(domains[i]);
        }
        free(domains);
}

static void silent(void *userdata, virErrorPtr error)
{
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"fakekube", required_argument, NULL, 'f'},
                {"uri", required_argument, NULL, 'u'},
                {"storage-pool", required_argument, NULL, 's'},
                {"base-image", required_argument, NULL, 'b'},
                {"network", required_argument, NULL, 'n'},
                {"count", required_argument, NULL, 'c'},
                {"memory-mib", required_argument, NULL, 'm'},
                {0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        fakekube = optarg;
                        break;
                case 'u':
                        uri = optarg;
                        break;
                case 's':
                        storage_pool = optarg;
                        break;
                case 'b':
                        base_image_arg = optarg;
                        break;
                case 'n':
                        network = optarg;
                        break;
                case 'c':
                        count = atoi(optarg);
                        break;
                case 'm':
                        memory_mib = atoi(optarg);
                        break;
                default:
                        return 2;
                }
        }
        if (!fakekube || !uri || !storage_pool || count < 1)
                die("usage: --fakekube PATH --uri URI --storage-pool P [--base-image PATH] "
                    "--count N");
        virSetErrorFunc(NULL, silent);

        /* Keeps the test driver's state alive; also used to read domain types. */
        virConnectPtr virt = virConnectOpen(uri);
        if (!virt)
                die("cannot connect to libvirt");
        char base_image[512];
        if (base_image_arg) {
                snprintf(base_image, sizeof(base_image), "%s", base_image_arg);
        } else {
                virStoragePoolPtr pool = virStoragePoolLookupByName(virt, storage_pool);
                virStorageVolPtr vol =
                        pool ? virStorageVolCreateXML(
                                       pool,
                                       "<volume><name>bench-base.qcow2</name><capacity>67108864"
                                       "</capacity><target><format type='qcow2'/></target>"
                                       "</volume>",
                                       0)
                             : NULL;
                if (!vol)
                        die("cannot make a base image in the storage pool");
                char *path = virStorageVolGetPath(vol);
                snprintf(base_image, sizeof(base_image), "%s", path);
                free(path);
                virStorageVolFree(vol);
                virStoragePoolFree(pool);
        }

        start_fakekube();
        struct kube_config *config = NULL;
        struct kube_client *client = NULL;
        if (kube_config_load(&(struct kube_config_options){.kubeconfig_path = kubeconfig}, &config,
                             NULL) < 0 ||
            kube_client_new(config, NULL, &client) < 0)
                die("cannot connect to fakekube");
        kube_config_free(config);
        create(client, &KUBE_NAMESPACES, NULL,
               json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                         "name", "bench"));
        create(client, &KUBE_SECRETS, "bench",
               json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                         "metadata", "name", "join", "stringData", "join",
                         "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef"));

        char text[2048];
        snprintf(text, sizeof(text),
                 "{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":1,\"max\":1}},"
                 "\"nodePools\":[{\"name\":\"burst\",\"libvirt\":{\"uri\":\"%s\","
                 "\"baseImage\":\"%s\",\"storagePool\":\"%s\"%s%s%s,\"vcpus\":1,"
                 "\"memoryMiB\":%d},\"min\":%d,\"max\":%d,\"joinSecretRef\":{\"name\":\"join\"}}]}",
                 uri, base_image, storage_pool, network ? ",\"network\":\"" : "",
                 network ? network : "", network ? "\"" : "", memory_mib, count, count);
        json_t *spec_json = json_loads(text, 0, NULL);
        struct tripdeal_spec *spec = NULL;
        char *error = NULL;
        if (!spec_json || tripdeal_spec_parse(spec_json, &spec, &error) < 0)
                die(error ? error : "spec");
        json_decref(spec_json);
        /* Without --network: no NIC (the spec's default network may not run here). */
        if (!network) {
                free(spec->node_pools[0].network);
                spec->node_pools[0].network = NULL;
        }

        struct tripdeal_identity identity = {.name = "shop", .namespace = "bench", .uid = "u"};
        struct nodepools_request request = {.client = client,
                                            .identity = &identity,
                                            .spec = spec,
                                            .now_ms = clock_realtime_ms()};
        int64_t t0 = clock_monotonic_ms();
        struct nodepools_result result = {0};
        if (nodepools_reconcile(&request, &result) < 0)
                die("reconcile failed");
        int64_t t_reconcile = clock_monotonic_ms() - t0;
        if (strcmp(result.reason, "ProvisionFailed") == 0 ||
            strcmp(result.reason, "LibvirtUnreachable") == 0)
                die(result.message);
        int n_running = 0;
        int64_t deadline = t0 + 600000;
        while ((n_running = running()) < count && clock_monotonic_ms() < deadline)
                nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
        int64_t t_up = clock_monotonic_ms() - t0;
        char type[16];
        domain_type(virt, type, sizeof(type));
        nodepools_result_clear(&result);

        int64_t t1 = clock_monotonic_ms();
        _cleanup_free_ char *message = NULL;
        if (nodepools_release_all(&request, &message) < 0)
                die(message ? message : "release failed");
        int64_t t_down = clock_monotonic_ms() - t1;
        int left = running();

        printf("{\"uri\":\"%s\",\"domain_type\":\"%s\",\"count\":%d,\"running\":%d,"
               "\"reconcile_ms\":%lld,\"up_ms\":%lld,\"down_ms\":%lld,\"left\":%d}\n",
               uri, type, count, n_running, (long long)t_reconcile, (long long)t_up,
               (long long)t_down, left);

        tripdeal_spec_free(spec);
        kube_client_free(client);
        kill(fakekube_pid, SIGTERM);
        waitpid(fakekube_pid, NULL, 0);
        unlink(kubeconfig);
        char ca[160];
        snprintf(ca, sizeof(ca), "%s.ca.crt", kubeconfig);
        unlink(ca);
        unlink(log_path);
        rmdir(dir);
        virConnectClose(virt);
        return n_running == count && left == 0 ? 0 : 1;
}
