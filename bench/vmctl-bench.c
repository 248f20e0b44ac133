/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmctl-bench: time from "the pool wants N more nodes" to "N domains
 * running", the way the operator does it: N vmctl_create() calls spread over
 * P worker threads (one libvirt connection each), then poll vmctl_list()
 * until N VMs of the pool report running.  Then destroy them all (timed too).
 * Prints one JSON line.  Built and driven by bench/vmctl-bench.sh.
 *
 *   vmctl-bench --uri URI --storage-pool P --base-image PATH --count N
 *               [--parallel P] [--domain-type auto|qemu|kvm] [--base-format F]
 *               [--disk-mib M]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "vmctl.h"

static struct {
        const char *uri, *storage_pool, *base_image, *base_format;
        enum vmctl_domain_type domain_type;
        unsigned count, parallel;
        uint64_t disk_bytes;
        char pool[16];
        atomic_uint next;
        atomic_uint failed;
} cfg = {.parallel = 1};

static void *worker(void *arg)
{
        vmctl_conn *conn = NULL;
        struct tripdeal_error error = {0};
        unsigned i;

        if (vmctl_open(cfg.uri, &conn, &error) < 0) {
                fprintf(stderr, "%s\n", error.message);
                atomic_fetch_add(&cfg.failed, cfg.count);
                return NULL;
        }
        while ((i = atomic_fetch_add(&cfg.next, 1)) < cfg.count) {
                char name[32];
                snprintf(name, sizeof(name), "%s-%u", cfg.pool, i);
                struct vmctl_spec spec = {
                        .name = name,
                        .pool = cfg.pool,
                        .owner = "bench/vmctl",
                        .base_image = cfg.base_image,
                        .base_format = cfg.base_format,
                        .storage_pool = cfg.storage_pool,
                        .vcpus = 1,
                        .memory_mib = 64,
                        .disk_bytes = cfg.disk_bytes,
                        .join_command = "kubeadm join 10.0.0.1:6443 --token abc.def",
                        .domain_type = cfg.domain_type,
                };
                if (vmctl_create(conn, &spec, NULL, &error) < 0) {
                        fprintf(stderr, "create %s: %s\n", name, error.message);
                        atomic_fetch_add(&cfg.failed, 1);
                }
        }
        vmctl_close(conn);
        return NULL;
}

static int count_running(vmctl_conn *conn, struct vmctl_vm_list *list)
{
        int running = 0;
        if (vmctl_list(conn, &(struct vmctl_filter){.pool = cfg.pool}, list, NULL) < 0)
                return -1;
        for (size_t i = 0; i < list->n_items; i++)
                running += list->items[i].state == VMCTL_STATE_RUNNING;
        return running;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"uri", required_argument, NULL, 'u'},
                {"storage-pool", required_argument, NULL, 's'},
                {"base-image", required_argument, NULL, 'b'},
                {"base-format", required_argument, NULL, 'f'},
                {"count", required_argument, NULL, 'n'},
                {"parallel", required_argument, NULL, 'p'},
                {"domain-type", required_argument, NULL, 't'},
                {"disk-mib", required_argument, NULL, 'd'},
                {},
        };
        struct vmctl_vm_list list = {0};
        vmctl_conn *conn = NULL;
        pthread_t threads[64];
        unsigned char rnd[2];
        int c, running = 0;

        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'u':
                        cfg.uri = optarg;
                        break;
                case 's':
                        cfg.storage_pool = optarg;
                        break;
                case 'b':
                        cfg.base_image = optarg;
                        break;
                case 'f':
                        cfg.base_format = optarg;
                        break;
                case 'n':
                        cfg.count = (unsigned)atoi(optarg);
                        break;
                case 'p':
                        cfg.parallel = (unsigned)atoi(optarg);
                        break;
                case 'd':
                        cfg.disk_bytes = (uint64_t)atoll(optarg) << 20;
                        break;
                case 't':
                        cfg.domain_type = strcmp(optarg, "qemu") == 0  ? VMCTL_DOMAIN_TYPE_QEMU
                                          : strcmp(optarg, "kvm") == 0 ? VMCTL_DOMAIN_TYPE_KVM
                                                                       : VMCTL_DOMAIN_TYPE_AUTO;
                        break;
                default:
                        return 2;
                }
        }
        if (!cfg.uri || !cfg.storage_pool || !cfg.base_image || cfg.count == 0 ||
            cfg.parallel == 0 || cfg.parallel > 64) {
                fprintf(stderr, "usage: see the comment at the top of vmctl-bench.c\n");
                return 2;
        }
        if (cfg.parallel > cfg.count)
                cfg.parallel = cfg.count;
        if (getrandom(rnd, sizeof(rnd), 0) != 2)
                return 1;
        snprintf(cfg.pool, sizeof(cfg.pool), "vb%02x%02x", rnd[0], rnd[1]);
        /*
         * One connection for the whole run: on test:///default the state is
         * shared by the connections of one process only while one stays open.
         */
        struct tripdeal_error error = {0};
        if (vmctl_open(cfg.uri, &conn, &error) < 0) {
                fprintf(stderr, "%s\n", error.message);
                return 1;
        }

        int64_t t0 = clock_monotonic_ms();
        for (unsigned i = 0; i < cfg.parallel; i++)
                pthread_create(&threads[i], NULL, worker, NULL);
        for (unsigned i = 0; i < cfg.parallel; i++)
                pthread_join(threads[i], NULL);
        /* Bounded poll: every VM of the pool reports running. */
        int64_t deadline = clock_monotonic_ms() + 120000;
        while (atomic_load(&cfg.failed) == 0 && clock_monotonic_ms() < deadline) {
                running = count_running(conn, &list);
                vmctl_vm_list_free(&list);
                if (running == (int)cfg.count)
                        break;
                usleep(10 * 1000);
        }
        int64_t t_up = clock_monotonic_ms() - t0;

        /* Release: destroy every VM of the pool, also timed. */
        int64_t t1 = clock_monotonic_ms();
        if (vmctl_list(conn, &(struct vmctl_filter){.pool = cfg.pool}, &list, &error) == 0) {
                for (size_t i = 0; i < list.n_items; i++)
                        if (vmctl_destroy(conn, list.items[i].name, &error) < 0)
                                fprintf(stderr, "destroy %s: %s\n", list.items[i].name,
                                        error.message);
                vmctl_vm_list_free(&list);
        }
        int64_t t_down = clock_monotonic_ms() - t1;

        printf("{\"uri\":\"%s\",\"count\":%u,\"parallel\":%u,\"running\":%d,\"failed\":%u,"
               "\"up_ms\":%lld,\"down_ms\":%lld}\n",
               cfg.uri, cfg.count, cfg.parallel, running, atomic_load(&cfg.failed), (long long)t_up,
               (long long)t_down);
        vmctl_close(conn);
        return running == (int)cfg.count ? 0 : 1;
}
