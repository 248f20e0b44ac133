/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmctl over libvirt: create/destroy/list node VMs.  See vmctl.h for the
 * contract.  libvirt is the only record of a VM; everything here can run
 * against a remote URI (volumes are created and filled through the storage
 * API, never by touching the host's files).
 */
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "macros.h"
#include "vmctl-internal.h"
#include "vmctl.h"

struct vmctl_conn {
        virConnectPtr virt;
        char *uri;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(virStoragePoolPtr, virStoragePoolFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(virStorageVolPtr, virStorageVolFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(virStreamPtr, virStreamFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc);

#define VMCTL_X_STRING(id, str) [id] = str,
static const char *const state_strings[] = {VMCTL_STATE_LIST(VMCTL_X_STRING)};

const char *vmctl_state_to_string(enum vmctl_state state)
{
        if ((size_t)state >= ARRAY_SIZE(state_strings))
                return "unknown";
        return state_strings[state];
}

/* libvirt prints every error to stderr by default; a library must stay quiet. */
static void silent_error_handler(void *data, virErrorPtr error)
{
}

/* The last libvirt error as -errno, with its message after what in *ret_error. */
static int virt_error(const char *what, struct tripdeal_error *ret_error)
{
        virErrorPtr e = virGetLastError();
        int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
        int r;

        switch (code) {
        case VIR_ERR_NO_DOMAIN:
        case VIR_ERR_NO_STORAGE_POOL:
        case VIR_ERR_NO_STORAGE_VOL:
        case VIR_ERR_NO_NETWORK:
                r = -ENOENT;
                break;
        case VIR_ERR_DOM_EXIST:
        case VIR_ERR_STORAGE_VOL_EXIST:
                r = -EEXIST;
                break;
        case VIR_ERR_NO_SUPPORT:
                r = -ENOTSUP;
                break;
        case VIR_ERR_XML_ERROR:
        case VIR_ERR_INVALID_ARG:
        case VIR_ERR_CONFIG_UNSUPPORTED:
                r = -EINVAL;
                break;
        default:
                r = -EIO;
        }
        return tripdeal_error_set(ret_error, r, "%s: %s", what,
                                  e && e->message ? e->message : "libvirt error");
}

/* A failed domain lookup: "no such VM" in plain words, other failures as libvirt says. */
static int not_found(const char *name, struct tripdeal_error *ret_error)
{
        int r = virt_error(name, ret_error);
        if (r == -ENOENT)
                tripdeal_error_set(ret_error, r, "VM %s not found", name);
        return r;
}

int vmctl_open(const char *uri, vmctl_conn **ret_conn, struct tripdeal_error *ret_error)
{
        _cleanup_free_ vmctl_conn *conn = NULL;
        virConnectPtr virt;

        if (!ret_conn)
                return tripdeal_error_set(ret_error, -EINVAL, "no connection to return");
        if (!uri || !*uri)
                uri = getenv("LIBVIRT_DEFAULT_URI");
        if (!uri || !*uri)
                uri = "qemu:///system";
        conn = calloc(1, sizeof(*conn));
        if (!conn)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        virSetErrorFunc(NULL, silent_error_handler);
        virt = virConnectOpen(uri);
        if (!virt) {
                virErrorPtr e = virGetLastError();
                return tripdeal_error_set(ret_error, -ECONNREFUSED,
                                          "cannot connect to libvirt at %s: %s", uri,
                                          e && e->message ? e->message : "libvirt error");
        }
        conn->virt = virt;
        conn->uri = strdup(uri);
        if (!conn->uri) {
                virConnectClose(virt);
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        }
        *ret_conn = TAKE_PTR(conn);
        return 0;
}

void vmctl_close(vmctl_conn *conn)
{
        if (!conn)
                return;
        if (conn->virt)
                virConnectClose(conn->virt);
        free(conn->uri);
        free(conn);
}

const char *vmctl_conn_uri(const vmctl_conn *conn)
{
        return conn ? conn->uri : "";
}

bool vmctl_conn_is_alive(const vmctl_conn *conn)
{
        return conn && conn->virt && virConnectIsAlive(conn->virt) == 1;
}

/* ---- VM records ------------------------------------------------------ */

static void vm_clear(struct vmctl_vm *vm)
{
        free(vm->name);
        free(vm->uuid);
        free(vm->pool);
        free(vm->owner);
        free(vm->storage_pool);
        free(vm->created_at);
        *vm = (struct vmctl_vm){0};
}

void vmctl_vm_free(struct vmctl_vm *vm)
{
        if (!vm)
                return;
        vm_clear(vm);
        free(vm);
}

void vmctl_vm_list_free(struct vmctl_vm_list *list)
{
        if (!list)
                return;
        for (size_t i = 0; i < list->n_items; i++)
                vm_clear(&list->items[i]);
        free(list->items);
        *list = (struct vmctl_vm_list){0};
}

static enum vmctl_state state_from_virt(int state)
{
        switch (state) {
        case VIR_DOMAIN_RUNNING:
                return VMCTL_STATE_RUNNING;
        case VIR_DOMAIN_BLOCKED:
                return VMCTL_STATE_BLOCKED;
        case VIR_DOMAIN_PAUSED:
                return VMCTL_STATE_PAUSED;
        case VIR_DOMAIN_SHUTDOWN:
                return VMCTL_STATE_SHUTDOWN;
        case VIR_DOMAIN_SHUTOFF:
                return VMCTL_STATE_SHUTOFF;
        case VIR_DOMAIN_CRASHED:
                return VMCTL_STATE_CRASHED;
        case VIR_DOMAIN_PMSUSPENDED:
                return VMCTL_STATE_SUSPENDED;
        default:
                return VMCTL_STATE_UNKNOWN;
        }
}

/*
 * Parse our metadata element (libvirt hands it back without the prefix, so
 * match on local names) into vm.  Returns 0, or -ENODATA when the domain has
 * no TripDeal metadata.
 */
static int read_metadata(virDomainPtr dom, struct vmctl_vm *vm)
{
        _cleanup_free_ char *xml = NULL;
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        xmlNodePtr root;

        xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VMCTL_METADATA_NS, 0);
        if (!xml)
                return -ENODATA;
        doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                    XML_PARSE_NOWARNING);
        if (!doc)
                return -ENODATA;
        root = xmlDocGetRootElement(doc);
        if (!root)
                return -ENODATA;
        for (xmlNodePtr n = root->children; n; n = n->next) {
                char **field = NULL;
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                if (xmlStrEqual(n->name, BAD_CAST "pool"))
                        field = &vm->pool;
                else if (xmlStrEqual(n->name, BAD_CAST "owner"))
                        field = &vm->owner;
                else if (xmlStrEqual(n->name, BAD_CAST "storage-pool"))
                        field = &vm->storage_pool;
                else if (xmlStrEqual(n->name, BAD_CAST "created-at"))
                        field = &vm->created_at;
                if (!field || *field)
                        continue;
                xmlChar *content = xmlNodeGetContent(n);
                if (!content)
                        return -ENOMEM;
                *field = strdup((const char *)content);
                xmlFree(content);
                if (!*field)
                        return -ENOMEM;
        }
        return vm->pool ? 0 : -ENODATA;
}

/* Fill vm from dom.  -ENODATA (vm still filled) when dom carries no TripDeal metadata. */
static int vm_from_domain(virDomainPtr dom, struct vmctl_vm *vm, struct tripdeal_error *ret_error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        virDomainInfo info;
        int r;

        *vm = (struct vmctl_vm){0};
        vm->name = strdup(virDomainGetName(dom));
        if (!vm->name)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        if (virDomainGetUUIDString(dom, uuid) == 0) {
                vm->uuid = strdup(uuid);
                if (!vm->uuid)
                        return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        }
        if (virDomainGetInfo(dom, &info) < 0)
                return virt_error(vm->name, ret_error);
        vm->state = state_from_virt(info.state);
        vm->vcpus = info.nrVirtCpu;
        vm->memory_mib = info.maxMem / 1024;
        r = read_metadata(dom, vm);
        if (r == -ENOMEM)
                return tripdeal_error_set(ret_error, r, "out of memory");
        return r;
}

int vmctl_get(vmctl_conn *conn, const char *name, struct vmctl_vm **ret_vm,
              struct tripdeal_error *ret_error)
{
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_free_ struct vmctl_vm *vm = NULL;
        int r;

        if (!conn || !ret_vm)
                return tripdeal_error_set(ret_error, -EINVAL, "no connection or no VM to return");
        if (vmctl_validate_name(name) < 0)
                return tripdeal_error_set(ret_error, -EINVAL, "invalid VM name '%s'",
                                          name ? name : "");
        dom = virDomainLookupByName(conn->virt, name);
        if (!dom)
                return not_found(name, ret_error);
        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        r = vm_from_domain(dom, vm, ret_error);
        if (r < 0 && r != -ENODATA) {
                vm_clear(vm);
                return r;
        }
        *ret_vm = TAKE_PTR(vm);
        return 0;
}

static int compare_vm_names(const void *a, const void *b)
{
        return strcmp(((const struct vmctl_vm *)a)->name, ((const struct vmctl_vm *)b)->name);
}

static bool filter_match(const char *want, const char *have)
{
        return !want || !*want || (have && strcmp(want, have) == 0);
}

int vmctl_list(vmctl_conn *conn, const struct vmctl_filter *filter, struct vmctl_vm_list *ret_list,
               struct tripdeal_error *ret_error)
{
        virDomainPtr *doms = NULL;
        struct vmctl_vm_list list = {0};
        int n, r = 0;

        if (!conn || !ret_list)
                return tripdeal_error_set(ret_error, -EINVAL, "no connection or no list to return");
        n = virConnectListAllDomains(conn->virt, &doms, 0);
        if (n < 0)
                return virt_error("listing domains", ret_error);
        list.items = calloc(n > 0 ? (size_t)n : 1, sizeof(*list.items));
        if (!list.items)
                r = -ENOMEM;
        for (int i = 0; i < n; i++) {
                struct vmctl_vm vm;
                int k;

                if (r < 0) {
                        virDomainFree(doms[i]);
                        continue;
                }
                k = vm_from_domain(doms[i], &vm, NULL);
                virDomainFree(doms[i]);
                /* Not ours, or gone between listing and reading it: skip. */
                if (k < 0 || !filter_match(filter ? filter->pool : NULL, vm.pool) ||
                    !filter_match(filter ? filter->owner : NULL, vm.owner)) {
                        vm_clear(&vm);
                        if (k == -ENOMEM)
                                r = k;
                        continue;
                }
                list.items[list.n_items++] = vm;
        }
        free(doms);
        if (r < 0) {
                vmctl_vm_list_free(&list);
                return tripdeal_error_set(ret_error, r, "out of memory");
        }
        qsort(list.items, list.n_items, sizeof(*list.items), compare_vm_names);
        *ret_list = list;
        return 0;
}

/* ---- Lifecycle -------------------------------------------------------- */

static int lookup(vmctl_conn *conn, const char *name, virDomainPtr *ret_dom,
                  struct tripdeal_error *ret_error)
{
        virDomainPtr dom;

        if (!conn)
                return tripdeal_error_set(ret_error, -EINVAL, "no connection");
        if (vmctl_validate_name(name) < 0)
                return tripdeal_error_set(ret_error, -EINVAL, "invalid VM name '%s'",
                                          name ? name : "");
        dom = virDomainLookupByName(conn->virt, name);
        if (!dom)
                return not_found(name, ret_error);
        *ret_dom = dom;
        return 0;
}

int vmctl_start(vmctl_conn *conn, const char *name, struct tripdeal_error *ret_error)
{
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        int r = lookup(conn, name, &dom, ret_error);

        if (r < 0)
                return r;
        /* Idempotent: starting a running VM is success. */
        if (virDomainIsActive(dom) == 1)
                return 0;
        if (virDomainCreate(dom) < 0)
                return virt_error(name, ret_error);
        return 0;
}

int vmctl_stop(vmctl_conn *conn, const char *name, bool force, struct tripdeal_error *ret_error)
{
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        int r = lookup(conn, name, &dom, ret_error);

        if (r < 0)
                return r;
        if (virDomainIsActive(dom) == 0)
                return 0;
        if ((force ? virDomainDestroy(dom) : virDomainShutdown(dom)) < 0)
                return virt_error(name, ret_error);
        return 0;
}

int vmctl_reboot(vmctl_conn *conn, const char *name, struct tripdeal_error *ret_error)
{
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        int r = lookup(conn, name, &dom, ret_error);

        if (r < 0)
                return r;
        if (virDomainReboot(dom, 0) < 0)
                return virt_error(name, ret_error);
        return 0;
}

static int volume_names(const char *name, char **ret_disk, char **ret_seed)
{
        if (asprintf(ret_disk, "%s.qcow2", name) < 0)
                return -ENOMEM;
        if (asprintf(ret_seed, "%s-seed.iso", name) < 0) {
                free(*ret_disk);
                return -ENOMEM;
        }
        return 0;
}

/* Delete volume `name` in pool if it exists.  0 deleted, -ENOENT none, else error. */
static int delete_volume(virStoragePoolPtr pool, const char *name, struct tripdeal_error *ret_error)
{
        _cleanup_(virStorageVolFreep) virStorageVolPtr vol = virStorageVolLookupByName(pool, name);

        if (!vol)
                return -ENOENT;
        if (virStorageVolDelete(vol, 0) < 0)
                return virt_error(name, ret_error);
        return 0;
}

int vmctl_destroy(vmctl_conn *conn, const char *name, struct tripdeal_error *ret_error)
{
        _cleanup_(virDomainFreep) virDomainPtr dom = NULL;
        _cleanup_(virStoragePoolFreep) virStoragePoolPtr pool = NULL;
        _cleanup_free_ char *disk_name = NULL, *seed_name = NULL;
        struct vmctl_vm vm;
        int r;

        r = lookup(conn, name, &dom, ret_error);
        if (r < 0)
                return r;
        r = vm_from_domain(dom, &vm, ret_error);
        if (r < 0) {
                vm_clear(&vm);
                if (r == -ENODATA)
                        return tripdeal_error_set(ret_error, -EPERM,
                                                  "%s: not a TripDeal VM (no " VMCTL_METADATA_NS
                                                  " metadata), refusing to destroy it",
                                                  name);
                return r;
        }
        if (vm.storage_pool) {
                pool = virStoragePoolLookupByName(conn->virt, vm.storage_pool);
                if (!pool) {
                        r = virt_error(vm.storage_pool, ret_error);
                        vm_clear(&vm);
                        return r;
                }
        }
        vm_clear(&vm);

        if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0)
                return virt_error(name, ret_error);
        /*
         * Volumes before the definition: if deleting one fails, the domain and
         * its metadata are still there and `destroy` can simply be retried.
         */
        if (pool) {
                r = volume_names(name, &disk_name, &seed_name);
                if (r < 0)
                        return tripdeal_error_set(ret_error, r, "out of memory");
                /* Refresh first: another host or a crashed create may have changed the pool. */
                virStoragePoolRefresh(pool, 0);
                r = delete_volume(pool, disk_name, ret_error);
                if (r < 0 && r != -ENOENT)
                        return r;
                r = delete_volume(pool, seed_name, ret_error);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                                VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                                VIR_DOMAIN_UNDEFINE_NVRAM) < 0 &&
            virDomainUndefine(dom) < 0)
                return virt_error(name, ret_error);
        return 0;
}

/* ---- Create ---------------------------------------------------------- */

static int random_uuid(char ret[VIR_UUID_STRING_BUFLEN])
{
        unsigned char b[16];

        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
                return -EIO;
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        snprintf(ret, VIR_UUID_STRING_BUFLEN,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        return 0;
}

static int check_spec(const struct vmctl_spec *s, struct tripdeal_error *ret_error)
{
        if (vmctl_validate_name(s->name) < 0)
                return tripdeal_error_set(
                        ret_error, -EINVAL,
                        "invalid VM name '%s': must be a DNS-1123 label (lower-case "
                        "letters, digits and '-', starting and ending alphanumeric, at "
                        "most %d characters)",
                        s->name ? s->name : "", VMCTL_NAME_MAX);
        if (vmctl_validate_name(s->pool) < 0)
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "invalid pool name '%s': must be a DNS-1123 label",
                                          s->pool ? s->pool : "");
        if (s->owner && vmctl_validate_owner(s->owner) < 0)
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "invalid owner '%s': must be NAMESPACE/NAME", s->owner);
        if (!s->base_image || !*s->base_image)
                return tripdeal_error_set(ret_error, -EINVAL, "a base image is required");
        if (!s->storage_pool || !*s->storage_pool)
                return tripdeal_error_set(ret_error, -EINVAL, "a storage pool is required");
        if (s->base_format && strcmp(s->base_format, "qcow2") != 0 &&
            strcmp(s->base_format, "raw") != 0)
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "base image format must be qcow2 or raw, not '%s'",
                                          s->base_format);
        if (s->vcpus < 1 || s->vcpus > 1024)
                return tripdeal_error_set(ret_error, -EINVAL, "vcpus must be between 1 and 1024");
        if (s->memory_mib < 16 || s->memory_mib > (UINT64_C(1) << 30))
                return tripdeal_error_set(ret_error, -EINVAL, "memory must be at least 16 MiB");
        if (s->network && !*s->network)
                return tripdeal_error_set(ret_error, -EINVAL, "empty network name");
        return 0;
}

/* Format and size of the base image: from the storage API, else by reading its header here. */
static int base_image_info(vmctl_conn *conn, const struct vmctl_spec *s, char **ret_format,
                           uint64_t *ret_capacity, struct tripdeal_error *ret_error)
{
        _cleanup_(virStorageVolFreep) virStorageVolPtr vol = NULL;
        _cleanup_free_ char *xml = NULL;
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        char *format = NULL;
        virStorageVolInfo info;

        *ret_capacity = 0;
        vol = virStorageVolLookupByPath(conn->virt, s->base_image);
        if (vol) {
                if (virStorageVolGetInfo(vol, &info) == 0)
                        *ret_capacity = info.capacity;
                if (!s->base_format && (xml = virStorageVolGetXMLDesc(vol, 0))) {
                        doc = xmlReadMemory(xml, (int)strlen(xml), "volume.xml", NULL,
                                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                    XML_PARSE_NOWARNING);
                        xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
                        for (xmlNodePtr t = root ? root->children : NULL; t && !format;
                             t = t->next) {
                                if (t->type != XML_ELEMENT_NODE ||
                                    !xmlStrEqual(t->name, BAD_CAST "target"))
                                        continue;
                                for (xmlNodePtr f = t->children; f; f = f->next) {
                                        if (f->type != XML_ELEMENT_NODE ||
                                            !xmlStrEqual(f->name, BAD_CAST "format"))
                                                continue;
                                        xmlChar *type = xmlGetProp(f, BAD_CAST "type");
                                        if (type) {
                                                format = strdup((const char *)type);
                                                xmlFree(type);
                                        }
                                        break;
                                }
                        }
                }
        }
        if (s->base_format) {
                format = strdup(s->base_format);
        } else if (!format) {
                /* Not a volume libvirt knows: sniff the qcow2 magic if the file is local. */
                unsigned char magic[4];
                _cleanup_close_ int fd = open(s->base_image, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return tripdeal_error_set(
                                ret_error, -ENOENT,
                                "base image %s: not a volume of any storage pool and "
                                "not readable here; give its format (qcow2|raw)",
                                s->base_image);
                if (read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
                    memcmp(magic, "QFI\xfb", 4) == 0)
                        format = strdup("qcow2");
                else
                        format = strdup("raw");
                struct stat st;
                if (*ret_capacity == 0 && fstat(fd, &st) == 0 && strcmp(format ?: "", "raw") == 0)
                        *ret_capacity = (uint64_t)st.st_size;
        }
        if (!format)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        if (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0) {
                int r = tripdeal_error_set(ret_error, -EINVAL,
                                           "base image %s has format '%s', need qcow2 or raw",
                                           s->base_image, format);
                free(format);
                return r;
        }
        *ret_format = format;
        return 0;
}

static const char *pick_domain_type(vmctl_conn *conn, enum vmctl_domain_type type)
{
        _cleanup_free_ char *caps = NULL;

        switch (type) {
        case VMCTL_DOMAIN_TYPE_QEMU:
                return "qemu";
        case VMCTL_DOMAIN_TYPE_KVM:
                return "kvm";
        case VMCTL_DOMAIN_TYPE_AUTO:
                break;
        }
        /* The host's capabilities, not a local /dev/kvm: the URI may be remote. */
        caps = virConnectGetCapabilities(conn->virt);
        if (caps && (strstr(caps, "<domain type='kvm'") || strstr(caps, "<domain type=\"kvm\"")))
                return "kvm";
        return "qemu";
}

struct upload_source {
        int fd;
};

static int upload_read(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
        struct upload_source *src = opaque;
        ssize_t n;

        do
                n = read(src->fd, data, nbytes);
        while (n < 0 && errno == EINTR);
        return (int)n;
}

/* Create the seed volume and fill it through a virStream (works over remote URIs). */
static int create_seed_volume(vmctl_conn *conn, virStoragePoolPtr pool, const char *vol_name,
                              const char *iso_path, virStorageVolPtr *ret_vol,
                              struct tripdeal_error *ret_error)
{
        _cleanup_(virStorageVolFreep) virStorageVolPtr vol = NULL;
        _cleanup_(virStreamFreep) virStreamPtr st = NULL;
        _cleanup_free_ char *xml = NULL;
        _cleanup_close_ int fd = -1;
        struct upload_source src;
        struct stat sb;
        int r;

        fd = open(iso_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0)
                return tripdeal_error_set(ret_error, NEG_ERRNO(), "seed image %s: %m", iso_path);
        r = vmctl_volume_xml(&(struct vmctl_volume_params){.name = vol_name,
                                                           .format = "raw",
                                                           .capacity_bytes = (uint64_t)sb.st_size},
                             &xml);
        if (r < 0)
                return tripdeal_error_set(ret_error, r, "seed volume XML: %s", strerror(-r));
        vol = virStorageVolCreateXML(pool, xml, 0);
        if (!vol)
                return virt_error(vol_name, ret_error);

        st = virStreamNew(conn->virt, 0);
        if (!st) {
                r = virt_error(vol_name, ret_error);
                goto fail;
        }
        if (virStorageVolUpload(vol, st, 0, (unsigned long long)sb.st_size, 0) < 0) {
                struct tripdeal_error upload_error = {0};
                virErrorPtr e = virSaveLastError();
                r = virt_error("uploading the seed", &upload_error);
                bool unsupported = e && e->code == VIR_ERR_NO_SUPPORT;
                virFreeError(e);
                const char *type = virConnectGetType(conn->virt);
                /*
                 * libvirt's test driver cannot upload; its volumes have no
                 * content anyway, so an empty seed is as real as it gets there.
                 */
                if (unsupported && type && strcasecmp(type, "test") == 0) {
                        *ret_vol = TAKE_PTR(vol);
                        return 0;
                }
                tripdeal_error_copy(ret_error, &upload_error);
                goto fail;
        }
        src.fd = fd;
        if (virStreamSendAll(st, upload_read, &src) < 0) {
                r = virt_error("uploading the seed", ret_error);
                virStreamAbort(st);
                goto fail;
        }
        if (virStreamFinish(st) < 0) {
                r = virt_error("uploading the seed", ret_error);
                goto fail;
        }
        *ret_vol = TAKE_PTR(vol);
        return 0;
fail:
        virStorageVolDelete(vol, 0);
        return r;
}

/*
 * One vmctl_create() call: what it needs and what it made so far, so that a
 * failure at any step undoes exactly that (create_rollback).
 */
struct create_job {
        vmctl_conn *conn;
        const struct vmctl_spec *spec;
        struct tripdeal_error *error; /* the caller's ret_error (may be NULL) */
        virStoragePoolPtr pool;
        char *disk_name, *seed_name;
        char *base_format;
        uint64_t capacity;
        char uuid[VIR_UUID_STRING_BUFLEN];
        char created_at[32];
        const char *domain_type; /* "kvm" | "qemu" */
        /* Made by this call, undone by create_rollback(): */
        virStorageVolPtr disk, seed;
        char *disk_path, *seed_path;
        virDomainPtr dom;
        bool started;
};

static void create_job_done(struct create_job *job)
{
        if (job->dom)
                virDomainFree(job->dom);
        if (job->seed)
                virStorageVolFree(job->seed);
        if (job->disk)
                virStorageVolFree(job->disk);
        if (job->pool)
                virStoragePoolFree(job->pool);
        free(job->disk_name);
        free(job->seed_name);
        free(job->base_format);
        free(job->disk_path);
        free(job->seed_path);
}

/* Undo in reverse order exactly what this call made; the error on conn stays. */
static void create_rollback(struct create_job *job)
{
        if (job->dom) {
                if (job->started)
                        virDomainDestroy(job->dom);
                virDomainUndefine(job->dom);
        }
        if (job->seed)
                virStorageVolDelete(job->seed, 0);
        if (job->disk)
                virStorageVolDelete(job->disk, 0);
}

static int volume_exists_error(struct create_job *job, const char *name)
{
        return tripdeal_error_set(job->error, -EEXIST, "volume %s already exists in pool %s", name,
                                  job->spec->storage_pool);
}

/*
 * Before making anything: a valid spec, no VM or volume of that name (never a
 * second copy, never touch what exists), an active storage pool, the base
 * image's format and size.
 */
static int create_preflight(struct create_job *job)
{
        const struct vmctl_spec *s = job->spec;
        vmctl_conn *conn = job->conn;
        virDomainPtr existing;
        int r;

        r = check_spec(s, job->error);
        if (r < 0)
                return r;
        existing = virDomainLookupByName(conn->virt, s->name);
        if (existing) {
                virDomainFree(existing);
                return tripdeal_error_set(job->error, -EEXIST, "VM %s already exists", s->name);
        }
        job->pool = virStoragePoolLookupByName(conn->virt, s->storage_pool);
        if (!job->pool)
                return virt_error(s->storage_pool, job->error);
        if (virStoragePoolIsActive(job->pool) != 1)
                return tripdeal_error_set(job->error, -EINVAL, "storage pool %s is not active",
                                          s->storage_pool);
        virStoragePoolRefresh(job->pool, 0);
        r = volume_names(s->name, &job->disk_name, &job->seed_name);
        if (r < 0)
                return tripdeal_error_set(job->error, r, "out of memory");

        /* Leftovers of an earlier VM of this name are not ours to reuse or delete. */
        const char *names[] = {job->disk_name, job->seed_name};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_(virStorageVolFreep) virStorageVolPtr old =
                        virStorageVolLookupByName(job->pool, names[i]);
                if (old)
                        return volume_exists_error(job, names[i]);
        }

        r = base_image_info(conn, s, &job->base_format, &job->capacity, job->error);
        if (r < 0)
                return r;
        if (s->disk_bytes)
                job->capacity = s->disk_bytes;
        return 0;
}

/* Step 1, the qcow2 overlay.  Creating it is also the lock: a racing create gets EEXIST here. */
static int create_overlay(struct create_job *job)
{
        const struct vmctl_spec *s = job->spec;
        _cleanup_free_ char *xml = NULL;
        int r;

        r = vmctl_volume_xml(&(struct vmctl_volume_params){.name = job->disk_name,
                                                           .format = "qcow2",
                                                           .capacity_bytes = job->capacity,
                                                           .backing_path = s->base_image,
                                                           .backing_format = job->base_format},
                             &xml);
        if (r < 0)
                return tripdeal_error_set(job->error, r, "base image path cannot be put in XML");
        job->disk = virStorageVolCreateXML(job->pool, xml, 0);
        if (!job->disk) {
                r = virt_error(job->disk_name, job->error);
                /* Drivers differ in the error code for "exists" (the test driver
                 * says only "operation failed"): ask the pool.  It is a
                 * concurrent create's volume, so it is not ours to remove. */
                virStorageVolPtr other =
                        r == -EEXIST ? NULL : virStorageVolLookupByName(job->pool, job->disk_name);
                if (other) {
                        virStorageVolFree(other);
                        r = -EEXIST;
                }
                return r == -EEXIST ? volume_exists_error(job, job->disk_name) : r;
        }
        job->disk_path = virStorageVolGetPath(job->disk);
        if (!job->disk_path)
                return virt_error(job->disk_name, job->error);
        return 0;
}

/* Step 2, the cloud-init seed: built here, uploaded into the pool. */
static int create_seed(struct create_job *job)
{
        const struct vmctl_spec *s = job->spec;
        _cleanup_free_ char *iso = NULL;
        int r;

        r = random_uuid(job->uuid);
        if (r < 0)
                return tripdeal_error_set(job->error, r, "no random UUID");
        r = vmctl_seed_iso_build(&(struct vmctl_seed_params){.instance_id = job->uuid,
                                                             .hostname = s->name,
                                                             .ssh_keys = s->ssh_keys,
                                                             .n_ssh_keys = s->n_ssh_keys,
                                                             .join_command = s->join_command},
                                 NULL, &iso);
        if (r < 0)
                return tripdeal_error_set(
                        job->error, r,
                        r == -ENOENT   ? "cannot build the seed: genisoimage not found"
                        : r == -EINVAL ? "cannot build the seed: SSH key or join command is "
                                         "not valid UTF-8"
                                       : "cannot build the seed ISO with genisoimage");
        r = create_seed_volume(job->conn, job->pool, job->seed_name, iso, &job->seed, job->error);
        unlink(iso);
        if (r == -EEXIST)
                return volume_exists_error(job, job->seed_name);
        if (r < 0)
                return r;
        job->seed_path = virStorageVolGetPath(job->seed);
        if (!job->seed_path)
                return virt_error(job->seed_name, job->error);
        return 0;
}

/* Define the domain as job->domain_type. */
static int define_domain(struct create_job *job)
{
        const struct vmctl_spec *s = job->spec;
        _cleanup_free_ char *xml = NULL;
        int r;

        r = vmctl_domain_xml(&(struct vmctl_domain_params){.name = s->name,
                                                           .uuid = job->uuid,
                                                           .domain_type = job->domain_type,
                                                           .machine = s->machine ?: "q35",
                                                           .vcpus = s->vcpus,
                                                           .memory_mib = s->memory_mib,
                                                           .disk_path = job->disk_path,
                                                           .seed_path = job->seed_path,
                                                           .network = s->network,
                                                           .pool = s->pool,
                                                           .owner = s->owner,
                                                           .storage_pool = s->storage_pool,
                                                           .created_at = job->created_at},
                             &xml);
        if (r < 0)
                return tripdeal_error_set(job->error, r,
                                          "network name or volume path cannot be put in XML");
        job->dom = virDomainDefineXML(job->conn->virt, xml);
        if (!job->dom) {
                r = virt_error("defining the domain", job->error);
                if (r == -EEXIST)
                        tripdeal_error_set(job->error, r, "VM %s already exists", s->name);
                return r;
        }
        return 0;
}

/* Step 3, the definition, with the type the spec asks for or the host offers. */
static int create_definition(struct create_job *job)
{
        int r = clock_format_rfc3339(time(NULL), job->created_at, sizeof(job->created_at));
        if (r < 0)
                return tripdeal_error_set(job->error, r, "cannot format the creation time");
        job->domain_type = pick_domain_type(job->conn, job->spec->domain_type);
        return define_domain(job);
}

/*
 * Auto picked kvm from the capabilities, but /dev/kvm may be present and still
 * unusable by QEMU's user: define the domain again for software emulation and
 * start that.  Called once, after starting as kvm failed.
 */
static int start_with_software_emulation(struct create_job *job)
{
        int r;

        virDomainUndefine(job->dom);
        virDomainFree(job->dom);
        job->dom = NULL;
        job->domain_type = "qemu";
        r = define_domain(job);
        if (r < 0)
                return r;
        if (virDomainCreate(job->dom) < 0)
                return virt_error("starting the domain", job->error);
        return 0;
}

/* Step 4, power on. */
static int create_start(struct create_job *job)
{
        int r = 0;

        if (virDomainCreate(job->dom) < 0) {
                r = virt_error("starting the domain", job->error);
                if (job->spec->domain_type == VMCTL_DOMAIN_TYPE_AUTO &&
                    strcmp(job->domain_type, "kvm") == 0)
                        r = start_with_software_emulation(job);
        }
        if (r < 0)
                return r;
        job->started = true;
        return 0;
}

static int (*const create_steps[_VMCTL_CREATE_STEP_MAX])(struct create_job *job) = {
        [VMCTL_CREATE_STEP_VOLUME] = create_overlay,
        [VMCTL_CREATE_STEP_SEED] = create_seed,
        [VMCTL_CREATE_STEP_DEFINE] = create_definition,
        [VMCTL_CREATE_STEP_START] = create_start,
};

static int create_run_steps(struct create_job *job)
{
        for (size_t i = 0; i < ARRAY_SIZE(create_steps); i++) {
                int r = create_steps[i](job);
                if (r < 0)
                        return r;
                r = vmctl_create_step_done((enum vmctl_create_step)i, job->error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vmctl_create(vmctl_conn *conn, const struct vmctl_spec *s, struct vmctl_vm **ret_vm,
                 struct tripdeal_error *ret_error)
{
        _cleanup_(create_job_done) struct create_job job = {
                .conn = conn, .spec = s, .error = ret_error};
        _cleanup_free_ struct vmctl_vm *vm = NULL;
        int r;

        if (!conn || !s)
                return tripdeal_error_set(ret_error, -EINVAL, "no connection or no spec");
        r = create_preflight(&job);
        if (r < 0)
                return r;
        if (ret_vm) {
                vm = calloc(1, sizeof(*vm));
                if (!vm)
                        return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        }
        r = create_run_steps(&job);
        if (r >= 0 && vm) {
                r = vm_from_domain(job.dom, vm, ret_error);
                if (r < 0)
                        vm_clear(vm);
        }
        if (r < 0) {
                create_rollback(&job);
                return r;
        }
        if (ret_vm)
                *ret_vm = TAKE_PTR(vm);
        return 0;
}
