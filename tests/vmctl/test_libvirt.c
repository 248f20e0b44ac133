/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvmctl against libvirt.  `test-vmctl-libvirt test` runs on libvirt's
 * in-memory test driver (test:///default, one connection per process);
 * `test-vmctl-libvirt qemu` runs the same assertions against the real
 * libvirtd at $TRIPDEAL_TEST_QEMU_URI (exit 77 when unset) with tiny OS-less
 * domains in a temporary directory pool, and also checks the QEMU processes.
 *
 * Every name starts with a random per-run prefix; the group teardown removes
 * every domain and volume with that prefix and the pool, even after failures.
 */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "fault-seam.h"
#include "macros.h"
#include "vmctl.h"

static struct {
        bool qemu;
        const char *uri;
        char prefix[16];
        char storage_pool[64];
        char dir[256];
        char base_image[512];
        vmctl_conn *conn;
        struct tripdeal_error error; /* of the last failed library call on conn */
        virConnectPtr virt;          /* a second connection for checks behind the library's back */
} env;

static void silent(void *data, virErrorPtr e)
{
}

static char *vm_name(const char *suffix)
{
        char *name;
        assert_true(asprintf(&name, "%s-%s", env.prefix, suffix) > 0);
        return name;
}

static struct vmctl_spec base_spec(const char *name)
{
        static char owner[80];
        static const char *const keys[] = {"ssh-ed25519 AAAA test@vmctl"};
        snprintf(owner, sizeof(owner), "tripdeal/%s", env.prefix);
        return (struct vmctl_spec){
                .name = name,
                .pool = env.prefix,
                .owner = owner,
                .base_image = env.base_image,
                .storage_pool = env.storage_pool,
                .vcpus = 1,
                .memory_mib = 64,
                .join_command = "kubeadm join 10.0.0.1:6443 --token abc.def",
                .ssh_keys = keys,
                .n_ssh_keys = 1,
        };
}

static bool volume_exists(const char *name)
{
        virStoragePoolPtr pool = virStoragePoolLookupByName(env.virt, env.storage_pool);
        assert_non_null(pool);
        virStoragePoolRefresh(pool, 0);
        virStorageVolPtr vol = virStorageVolLookupByName(pool, name);
        virStoragePoolFree(pool);
        if (vol)
                virStorageVolFree(vol);
        return vol != NULL;
}

static bool domain_exists(const char *name)
{
        virDomainPtr dom = virDomainLookupByName(env.virt, name);
        if (dom)
                virDomainFree(dom);
        return dom != NULL;
}

/* Everything a VM of this name could leave behind, checked directly through libvirt. */
static void assert_nothing_left(const char *name)
{
        _cleanup_free_ char *disk = NULL, *seed = NULL;
        assert_true(asprintf(&disk, "%s.qcow2", name) > 0);
        assert_true(asprintf(&seed, "%s-seed.iso", name) > 0);
        if (domain_exists(name))
                fail_msg("domain %s left behind", name);
        if (volume_exists(disk))
                fail_msg("volume %s left behind", disk);
        if (volume_exists(seed))
                fail_msg("volume %s left behind", seed);
}

/* The QEMU process of a running domain (local qemu:///system only), or 0. */
static pid_t qemu_pid(const char *name)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        long pid = 0;

        assert_true(asprintf(&path, "/run/libvirt/qemu/%s.pid", name) > 0);
        f = fopen(path, "re");
        if (!f || fscanf(f, "%ld", &pid) != 1)
                return 0;
        return (pid_t)pid;
}

static bool process_is_qemu_of(pid_t pid, const char *name)
{
        _cleanup_free_ char *path = NULL, *want = NULL;
        char cmdline[8192];
        size_t n;
        FILE *f;

        assert_true(asprintf(&path, "/proc/%ld/cmdline", (long)pid) > 0);
        assert_true(asprintf(&want, "guest=%s,", name) > 0);
        f = fopen(path, "re");
        if (!f)
                return false;
        n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
                if (cmdline[i] == '\0')
                        cmdline[i] = ' ';
        cmdline[n] = '\0';
        return strstr(cmdline, "qemu-system") && strstr(cmdline, want);
}

/* Poll (bounded) until pid no longer runs this domain's QEMU. */
static void assert_process_gone(pid_t pid, const char *name)
{
        int64_t deadline = clock_monotonic_ms() + 15000;
        while (process_is_qemu_of(pid, name)) {
                if (clock_monotonic_ms() > deadline)
                        fail_msg("QEMU pid %ld of %s still running", (long)pid, name);
                usleep(50 * 1000);
        }
}

/*
 * The seed volume really holds the ISO we built (uploaded through a
 * virStream): ISO9660 volume id "cidata" and the join command in user-data.
 */
static void assert_seed_uploaded(const char *name, const char *join_command)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        static char image[1 << 20];
        size_t n;

        assert_true(asprintf(&path, "%s/%s-seed.iso", env.dir, name) > 0);
        f = fopen(path, "re");
        assert_non_null(f);
        n = fread(image, 1, sizeof(image), f);
        assert_true(n > 0x8028 + 6);
        assert_memory_equal(image + 0x8001, "CD001", 5);
        assert_memory_equal(image + 0x8028, "cidata", 6);
        assert_non_null(memmem(image, n, join_command, strlen(join_command)));
}

/* ---- Setup / teardown --------------------------------------------------- */

static int run_command(const char *fmt, ...)
{
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -1;
        return system(cmd);
}

static int group_setup(void **state)
{
        unsigned char rnd[3];
        char *xml = NULL;
        int r;

        if (getrandom(rnd, sizeof(rnd), 0) != 3)
                return -1;
        snprintf(env.prefix, sizeof(env.prefix), "vt%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
        virSetErrorFunc(NULL, silent);
        r = vmctl_open(env.uri, &env.conn, &env.error);
        if (r < 0) {
                fprintf(stderr, "%s\n", env.error.message);
                return -1;
        }
        env.virt = virConnectOpen(env.uri);
        if (!env.virt)
                return -1;

        if (!env.qemu) {
                /* The test driver's default-pool; volumes there have no content. */
                snprintf(env.storage_pool, sizeof(env.storage_pool), "default-pool");
                virStoragePoolPtr pool = virStoragePoolLookupByName(env.virt, env.storage_pool);
                if (!pool)
                        return -1;
                assert_true(asprintf(&xml,
                                     "<volume><name>%s-base.qcow2</name><capacity>67108864</"
                                     "capacity><target><format type='qcow2'/></target></volume>",
                                     env.prefix) > 0);
                virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);
                free(xml);
                if (!vol)
                        return -1;
                char *path = virStorageVolGetPath(vol);
                snprintf(env.base_image, sizeof(env.base_image), "%s", path);
                free(path);
                virStorageVolFree(vol);
                virStoragePoolFree(pool);
                return 0;
        }

        /* A transient dir pool in a fresh directory QEMU's user can traverse. */
        snprintf(env.storage_pool, sizeof(env.storage_pool), "vmctl-test-%s", env.prefix);
        snprintf(env.dir, sizeof(env.dir), "/var/tmp/vmctl-test-%s-XXXXXX", env.prefix);
        if (!mkdtemp(env.dir) || chmod(env.dir, 0755) < 0)
                return -1;
        snprintf(env.base_image, sizeof(env.base_image), "%s/base.qcow2", env.dir);
        /* The base image is made outside libvirt (as an admin would), then found by refresh. */
        if (run_command("qemu-img create -q -f qcow2 '%s' 64M", env.base_image) != 0)
                return -1;
        assert_true(asprintf(&xml,
                             "<pool type='dir'><name>%s</name><target><path>%s</path></target>"
                             "</pool>",
                             env.storage_pool, env.dir) > 0);
        virStoragePoolPtr pool = virStoragePoolCreateXML(env.virt, xml, 0);
        free(xml);
        if (!pool) {
                fprintf(stderr, "cannot create pool: %s\n", virGetLastErrorMessage());
                return -1;
        }
        virStoragePoolFree(pool);
        return 0;
}

static int group_teardown(void **state)
{
        virDomainPtr *doms = NULL;
        int n;

        /* Whatever a failed test left: every domain and volume with our prefix. */
        n = env.virt ? virConnectListAllDomains(env.virt, &doms, 0) : 0;
        for (int i = 0; i < n; i++) {
                if (strncmp(virDomainGetName(doms[i]), env.prefix, strlen(env.prefix)) == 0) {
                        virDomainDestroy(doms[i]);
                        virDomainUndefine(doms[i]);
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        virStoragePoolPtr pool =
                env.virt ? virStoragePoolLookupByName(env.virt, env.storage_pool) : NULL;
        if (pool) {
                virStorageVolPtr *vols = NULL;
                virStoragePoolRefresh(pool, 0);
                n = virStoragePoolListAllVolumes(pool, &vols, 0);
                for (int i = 0; i < n; i++) {
                        const char *vname = virStorageVolGetName(vols[i]);
                        if (env.qemu || strncmp(vname, env.prefix, strlen(env.prefix)) == 0)
                                virStorageVolDelete(vols[i], 0);
                        virStorageVolFree(vols[i]);
                }
                free(vols);
                if (env.qemu)
                        virStoragePoolDestroy(pool);
                virStoragePoolFree(pool);
        }
        if (env.qemu && env.dir[0]) {
                unlink(env.base_image);
                rmdir(env.dir);
        }
        vmctl_close(env.conn);
        if (env.virt)
                virConnectClose(env.virt);
        return 0;
}

/* ---- Tests ------------------------------------------------------------ */

static void test_create_list_show_destroy(void **state)
{
        _cleanup_free_ char *name = vm_name("node");
        struct vmctl_vm *vm = NULL;
        struct vmctl_vm_list list = {0};
        struct vmctl_spec spec = base_spec(name);
        pid_t pid = 0;

        assert_true(vmctl_conn_is_alive(env.conn));
        assert_false(vmctl_conn_is_alive(NULL));
        /* Software emulation explicitly: what hosts without /dev/kvm get. */
        spec.domain_type = VMCTL_DOMAIN_TYPE_QEMU;
        if (vmctl_create(env.conn, &spec, &vm, &env.error) != 0)
                fail_msg("create: %s", env.error.message);
        assert_string_equal(vm->name, name);
        assert_int_equal(vm->state, VMCTL_STATE_RUNNING);
        assert_string_equal(vm->pool, env.prefix);
        assert_string_equal(vm->owner, spec.owner);
        assert_string_equal(vm->storage_pool, env.storage_pool);
        assert_non_null(vm->created_at);
        assert_int_equal(vm->vcpus, 1);
        assert_int_equal(vm->memory_mib, 64);
        vmctl_vm_free(vm);
        vm = NULL;

        if (env.qemu) {
                /* A real QEMU process runs this domain. */
                pid = qemu_pid(name);
                assert_true(pid > 0);
                assert_true(process_is_qemu_of(pid, name));
                virDomainPtr dom = virDomainLookupByName(env.virt, name);
                int st = -1, reason;
                assert_int_equal(virDomainGetState(dom, &st, &reason, 0), 0);
                assert_int_equal(st, VIR_DOMAIN_RUNNING);
                _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
                assert_non_null(strstr(xml, "<domain type='qemu'"));
                virDomainFree(dom);
                assert_seed_uploaded(name, spec.join_command);
        }

        /* Found again from libvirt alone, by pool and by owner. */
        assert_int_equal(
                vmctl_list(env.conn, &(struct vmctl_filter){.pool = env.prefix}, &list, &env.error),
                0);
        assert_int_equal(list.n_items, 1);
        assert_string_equal(list.items[0].name, name);
        vmctl_vm_list_free(&list);
        assert_int_equal(vmctl_list(env.conn, &(struct vmctl_filter){.owner = spec.owner}, &list,
                                    &env.error),
                         0);
        assert_int_equal(list.n_items, 1);
        vmctl_vm_list_free(&list);
        assert_int_equal(vmctl_list(env.conn, &(struct vmctl_filter){.owner = "other/owner"}, &list,
                                    &env.error),
                         0);
        for (size_t i = 0; i < list.n_items; i++)
                assert_string_not_equal(list.items[i].name, name);
        vmctl_vm_list_free(&list);

        assert_int_equal(vmctl_get(env.conn, name, &vm, &env.error), 0);
        assert_string_equal(vm->pool, env.prefix);
        vmctl_vm_free(vm);

        if (vmctl_destroy(env.conn, name, &env.error) != 0)
                fail_msg("destroy: %s", env.error.message);
        assert_int_equal(vmctl_get(env.conn, name, &vm, &env.error), -ENOENT);
        assert_nothing_left(name);
        if (env.qemu)
                assert_process_gone(pid, name);
        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), -ENOENT);
}

static void test_create_twice_is_exists_and_still_one(void **state)
{
        _cleanup_free_ char *name = vm_name("twice");
        struct vmctl_spec spec = base_spec(name);
        struct vmctl_vm_list list = {0};
        struct vmctl_vm *vm = NULL;
        size_t count = 0;

        if (vmctl_create(env.conn, &spec, NULL, &env.error) != 0)
                fail_msg("create: %s", env.error.message);
        assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error), -EEXIST);
        assert_null(vm);
        assert_non_null(strstr(env.error.message, "already exists"));

        assert_int_equal(vmctl_list(env.conn, NULL, &list, &env.error), 0);
        for (size_t i = 0; i < list.n_items; i++)
                count += strcmp(list.items[i].name, name) == 0;
        vmctl_vm_list_free(&list);
        assert_int_equal(count, 1);
        /* The failed second create did not damage the first VM. */
        assert_int_equal(vmctl_get(env.conn, name, &vm, &env.error), 0);
        assert_int_equal(vm->state, VMCTL_STATE_RUNNING);
        vmctl_vm_free(vm);

        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), 0);
        assert_nothing_left(name);
}

static void test_fault_at_each_step_leaves_nothing(void **state)
{
        const enum vmctl_create_step faults[] = {VMCTL_CREATE_STEP_VOLUME, VMCTL_CREATE_STEP_SEED,
                                                 VMCTL_CREATE_STEP_DEFINE, VMCTL_CREATE_STEP_START};
        _cleanup_free_ char *name = vm_name("fault");

        for (size_t i = 0; i < ARRAY_SIZE(faults); i++) {
                struct vmctl_spec spec = base_spec(name);
                struct vmctl_vm *vm = NULL;

                vmctl_test_fail_after = (int)faults[i];
                assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error),
                                 TRIPDEAL_ERR_INJECTED_FAULT);
                vmctl_test_fail_after = -1;
                assert_null(vm);
                assert_non_null(strstr(env.error.message, "injected"));
                assert_nothing_left(name);
                if (env.qemu)
                        assert_int_equal(qemu_pid(name), 0);
        }
        /* And the name is free again: a clean create works. */
        struct vmctl_spec spec = base_spec(name);
        if (vmctl_create(env.conn, &spec, NULL, &env.error) != 0)
                fail_msg("create: %s", env.error.message);
        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), 0);
        assert_nothing_left(name);
}

static void test_lifecycle(void **state)
{
        _cleanup_free_ char *name = vm_name("life");
        struct vmctl_spec spec = base_spec(name);
        struct vmctl_vm *vm = NULL;

        if (vmctl_create(env.conn, &spec, NULL, &env.error) != 0)
                fail_msg("create: %s", env.error.message);
        assert_int_equal(vmctl_stop(env.conn, name, true, &env.error), 0);
        assert_int_equal(vmctl_get(env.conn, name, &vm, &env.error), 0);
        assert_int_equal(vm->state, VMCTL_STATE_SHUTOFF);
        vmctl_vm_free(vm);
        assert_int_equal(vmctl_stop(env.conn, name, true, &env.error), 0); /* idempotent */
        assert_int_equal(vmctl_start(env.conn, name, &env.error), 0);
        assert_int_equal(vmctl_get(env.conn, name, &vm, &env.error), 0);
        assert_int_equal(vm->state, VMCTL_STATE_RUNNING);
        vmctl_vm_free(vm);
        assert_int_equal(vmctl_start(env.conn, name, &env.error), 0); /* idempotent */
        assert_int_equal(vmctl_reboot(env.conn, name, &env.error), 0);
        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), 0);
        assert_nothing_left(name);
        assert_int_equal(vmctl_start(env.conn, name, &env.error), -ENOENT);
        assert_int_equal(vmctl_stop(env.conn, name, false, &env.error), -ENOENT);
        assert_int_equal(vmctl_reboot(env.conn, name, &env.error), -ENOENT);
}

static void test_invalid_specs_make_nothing(void **state)
{
        _cleanup_free_ char *name = vm_name("bad");
        struct vmctl_spec spec;
        struct vmctl_vm *vm = NULL;

        spec = base_spec("Bad_Name");
        assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error), -EINVAL);
        assert_non_null(strstr(env.error.message, "DNS-1123"));
        spec = base_spec(name);
        spec.owner = "no-slash";
        assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error), -EINVAL);
        spec = base_spec(name);
        spec.vcpus = 0;
        assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error), -EINVAL);
        spec = base_spec(name);
        spec.storage_pool = "no-such-pool-vmctl";
        assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error), -ENOENT);
        spec = base_spec(name);
        spec.base_image = "/nonexistent/vmctl/base.qcow2";
        assert_int_equal(vmctl_create(env.conn, &spec, &vm, &env.error), -ENOENT);
        assert_null(vm);
        assert_nothing_left(name);
        assert_int_equal(vmctl_get(env.conn, "Not-Valid", &vm, &env.error), -EINVAL);
}

static void test_destroy_refuses_foreign_domain(void **state)
{
        _cleanup_free_ char *name = vm_name("foreign"), *xml = NULL;
        virDomainPtr dom;
        struct vmctl_vm *vm = NULL;
        struct vmctl_vm_list list = {0};

        assert_true(asprintf(&xml,
                             "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>"
                             "<os><type>hvm</type></os></domain>",
                             name) > 0);
        dom = virDomainDefineXML(env.virt, xml);
        assert_non_null(dom);
        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), -EPERM);
        assert_int_equal(env.error.code, -EPERM);
        assert_non_null(strstr(env.error.message, "not a TripDeal VM"));
        assert_true(domain_exists(name));
        /* get shows it, list (TripDeal VMs only) does not. */
        assert_int_equal(vmctl_get(env.conn, name, &vm, &env.error), 0);
        assert_null(vm->pool);
        vmctl_vm_free(vm);
        assert_int_equal(vmctl_list(env.conn, NULL, &list, &env.error), 0);
        for (size_t i = 0; i < list.n_items; i++)
                assert_string_not_equal(list.items[i].name, name);
        vmctl_vm_list_free(&list);
        virDomainUndefine(dom);
        virDomainFree(dom);
}

static void test_network_nic(void **state)
{
        /* Only the test driver has a startable network here (no dnsmasq for QEMU). */
        if (env.qemu)
                skip(); /* before allocating: skip() longjmps past cleanups */

        _cleanup_free_ char *name = vm_name("net");
        struct vmctl_spec spec = base_spec(name);
        spec.network = "default";
        if (vmctl_create(env.conn, &spec, NULL, &env.error) != 0)
                fail_msg("create: %s", env.error.message);
        virDomainPtr dom = virDomainLookupByName(env.virt, name);
        assert_non_null(dom);
        _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
        assert_non_null(strstr(xml, "<source network='default'"));
        virDomainFree(dom);
        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), 0);
        assert_nothing_left(name);
}

/* The error convention: filled with the returned code on failure, untouched on success. */
static void test_error_is_per_call(void **state)
{
        _cleanup_free_ char *name = vm_name("err");
        struct vmctl_spec spec = base_spec(name);
        const struct tripdeal_error sentinel = {.code = 12345, .message = "untouched"};
        struct tripdeal_error error = sentinel;
        struct vmctl_vm *vm = NULL;

        if (vmctl_create(env.conn, &spec, NULL, &error) != 0)
                fail_msg("create: %s", error.message);
        assert_memory_equal(&error, &sentinel, sizeof(error));
        assert_int_equal(vmctl_get(env.conn, name, &vm, &error), 0);
        vmctl_vm_free(vm);
        assert_memory_equal(&error, &sentinel, sizeof(error));

        assert_int_equal(vmctl_destroy(env.conn, name, &error), 0);
        assert_memory_equal(&error, &sentinel, sizeof(error));
        assert_int_equal(vmctl_get(env.conn, name, &vm, &error), -ENOENT);
        assert_int_equal(error.code, -ENOENT);
        assert_non_null(strstr(error.message, name));
        assert_non_null(strstr(error.message, "not found"));
        /* NULL: the caller only wants the code. */
        assert_int_equal(vmctl_get(env.conn, name, &vm, NULL), -ENOENT);
        assert_nothing_left(name);
}

struct racer {
        const char *name;
        pthread_barrier_t *barrier;
        int result;
        struct tripdeal_error error;
};

static void *race_create(void *arg)
{
        struct racer *racer = arg;
        vmctl_conn *conn = NULL;
        struct vmctl_spec spec = base_spec(racer->name);

        racer->result = vmctl_open(env.uri, &conn, &racer->error);
        pthread_barrier_wait(racer->barrier);
        if (racer->result == 0)
                racer->result = vmctl_create(conn, &spec, NULL, &racer->error);
        vmctl_close(conn);
        return NULL;
}

/* Two creates of one name at once, on two connections: one VM, one -EEXIST, no debris. */
static void test_concurrent_creates_make_one(void **state)
{
        _cleanup_free_ char *name = vm_name("race");
        pthread_barrier_t barrier;
        pthread_t threads[2];
        struct racer racers[2];
        struct vmctl_vm_list list = {0};
        size_t count = 0;

        pthread_barrier_init(&barrier, NULL, 2);
        for (int i = 0; i < 2; i++) {
                racers[i] = (struct racer){.name = name, .barrier = &barrier};
                pthread_create(&threads[i], NULL, race_create, &racers[i]);
        }
        for (int i = 0; i < 2; i++)
                pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&barrier);

        int ok = (racers[0].result == 0) + (racers[1].result == 0);
        int exists = (racers[0].result == -EEXIST) + (racers[1].result == -EEXIST);
        if (ok != 1 || exists != 1)
                fail_msg("want one success and one -EEXIST, got %d (%s) and %d (%s)",
                         racers[0].result, racers[0].error.message, racers[1].result,
                         racers[1].error.message);
        assert_int_equal(vmctl_list(env.conn, NULL, &list, &env.error), 0);
        for (size_t i = 0; i < list.n_items; i++)
                count += strcmp(list.items[i].name, name) == 0;
        vmctl_vm_list_free(&list);
        assert_int_equal(count, 1);
        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), 0);
        assert_nothing_left(name);
}

/*
 * A base image whose path holds quotes, markup, an entity and unicode goes
 * through the volume XML to libvirt (and qemu-img) unharmed.
 */
static void test_hostile_base_image_path(void **state)
{
        static const char hostile[] = "it's \"<b>&amp;<\\b>\" ]]> \xc3\xbcn\xc3\xaf "
                                      "\xe6\x97\xa5\xe6\x9c\xac.qcow2";
        _cleanup_free_ char *name = vm_name("hostile"), *base_path = NULL, *disk = NULL;
        _cleanup_free_ char *vol_xml = NULL, *overlay_xml = NULL;
        virStoragePoolPtr pool = virStoragePoolLookupByName(env.virt, env.storage_pool);
        virStorageVolPtr base;

        assert_non_null(pool);
        if (env.qemu) {
                assert_true(asprintf(&base_path, "%s/%s", env.dir, hostile) > 0);
                /* Exec directly (no shell): the file name needs no quoting at all. */
                pid_t pid = fork();
                if (pid == 0) {
                        execlp("qemu-img", "qemu-img", "create", "-q", "-f", "qcow2", base_path,
                               "64M", (char *)NULL);
                        _exit(127);
                }
                int status;
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                assert_int_equal(virStoragePoolRefresh(pool, 0), 0);
                base = virStorageVolLookupByPath(env.virt, base_path);
        } else {
                _cleanup_free_ char *vol_name = NULL;
                assert_true(asprintf(&vol_name, "%s-%s", env.prefix, hostile) > 0);
                assert_int_equal(
                        vmctl_volume_xml(&(struct vmctl_volume_params){.name = vol_name,
                                                                       .format = "qcow2",
                                                                       .capacity_bytes = 1 << 26},
                                         &vol_xml),
                        0);
                base = virStorageVolCreateXML(pool, vol_xml, 0);
                assert_non_null(base);
                base_path = virStorageVolGetPath(base);
        }
        assert_non_null(base);
        assert_non_null(strstr(base_path, hostile));

        struct vmctl_spec spec = base_spec(name);
        spec.base_image = base_path;
        if (vmctl_create(env.conn, &spec, NULL, &env.error) != 0)
                fail_msg("create: %s", env.error.message);

        /* The overlay's backing store is exactly that path. */
        assert_true(asprintf(&disk, "%s.qcow2", name) > 0);
        virStorageVolPtr overlay = virStorageVolLookupByName(pool, disk);
        assert_non_null(overlay);
        overlay_xml = virStorageVolGetXMLDesc(overlay, 0);
        xmlDocPtr doc = xmlReadMemory(overlay_xml, (int)strlen(overlay_xml), "v.xml", NULL, 0);
        assert_non_null(doc);
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr res =
                xmlXPathEvalExpression(BAD_CAST "string(/volume/backingStore/path)", ctx);
        assert_string_equal((const char *)res->stringval, base_path);
        xmlXPathFreeObject(res);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        virStorageVolFree(overlay);

        assert_int_equal(vmctl_destroy(env.conn, name, &env.error), 0);
        assert_nothing_left(name);
        virStorageVolDelete(base, 0);
        virStorageVolFree(base);
        virStoragePoolFree(pool);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_create_list_show_destroy),
                cmocka_unit_test(test_create_twice_is_exists_and_still_one),
                cmocka_unit_test(test_fault_at_each_step_leaves_nothing),
                cmocka_unit_test(test_error_is_per_call),
                cmocka_unit_test(test_lifecycle),
                cmocka_unit_test(test_invalid_specs_make_nothing),
                cmocka_unit_test(test_destroy_refuses_foreign_domain),
                cmocka_unit_test(test_network_nic),
                cmocka_unit_test(test_hostile_base_image_path),
                cmocka_unit_test(test_concurrent_creates_make_one),
        };

        if (argc != 2 || (strcmp(argv[1], "test") != 0 && strcmp(argv[1], "qemu") != 0)) {
                fprintf(stderr, "usage: %s test|qemu\n", argv[0]);
                return 2;
        }
        env.qemu = strcmp(argv[1], "qemu") == 0;
        if (env.qemu) {
                env.uri = getenv("TRIPDEAL_TEST_QEMU_URI");
                if (!env.uri || !*env.uri) {
                        fprintf(stderr, "TRIPDEAL_TEST_QEMU_URI unset: skipping\n");
                        return 77;
                }
        } else
                env.uri = "test:///default";
        return cmocka_run_group_tests_name(env.qemu ? "vmctl-qemu" : "vmctl-testdriver", tests,
                                           group_setup, group_teardown);
}
