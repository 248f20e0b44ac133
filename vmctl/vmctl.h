/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmctl: TripDeal worker-node VMs on libvirt.
 *
 * A node VM is a libvirt domain plus two volumes in one storage pool:
 *   NAME.qcow2     qcow2 overlay backed by the pool's base image
 *   NAME-seed.iso  cloud-init NoCloud seed (ISO9660, label "cidata")
 * and TripDeal metadata (pool, owner, storage pool, created-at) in the
 * domain's <metadata> under VMCTL_METADATA_NS (see vmctl/README.md).  libvirt
 * is the only record: vmctl_list() finds the VMs again from the metadata.
 *
 * Conventions (lib/common/error.h): every function that can fail returns 0 or
 * -errno, writes its ret_* outputs only on success, and fills its last
 * parameter `struct tripdeal_error *ret_error` (NULL allowed) on failure only
 * with the code and a one-line reason (libvirt's message or ours).  No state
 * is kept between calls.  The library never logs.  Free functions accept
 * NULL.  Not thread-safe per connection: use one vmctl_conn per thread.
 * vmctl_open() installs a silent libvirt error handler for the process
 * (libvirt would otherwise print every error to stderr).
 *
 * Errors: -EINVAL bad spec/name, -EEXIST the VM (domain or one of its volumes)
 * already exists, -ENOENT no such VM / pool / base image, -ENOTSUP driver
 * cannot do it, -EPERM destroy of a domain without TripDeal metadata,
 * -ECONNREFUSED vmctl_open() could not connect, -EIO any other libvirt failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VMCTL_METADATA_NS     "https://tripdeal.io/vmctl/1"
#define VMCTL_METADATA_PREFIX "tripdeal"
#define VMCTL_NAME_MAX        63

/* Owned by vmctl_open(); freed by vmctl_close(). */
typedef struct vmctl_conn vmctl_conn;

/* uri: NULL = $LIBVIRT_DEFAULT_URI or "qemu:///system". */
int vmctl_open(const char *uri, vmctl_conn **ret_conn, struct tripdeal_error *ret_error);
void vmctl_close(vmctl_conn *conn);
/* The URI actually connected to.  Owned by conn. */
const char *vmctl_conn_uri(const vmctl_conn *conn);
/* false once the link to libvirtd broke (then close and vmctl_open() again). */
bool vmctl_conn_is_alive(const vmctl_conn *conn);

#define VMCTL_STATE_LIST(X)                 \
        X(VMCTL_STATE_UNKNOWN, "unknown")   \
        X(VMCTL_STATE_RUNNING, "running")   \
        X(VMCTL_STATE_BLOCKED, "blocked")   \
        X(VMCTL_STATE_PAUSED, "paused")     \
        X(VMCTL_STATE_SHUTDOWN, "shutdown") \
        X(VMCTL_STATE_SHUTOFF, "shutoff")   \
        X(VMCTL_STATE_CRASHED, "crashed")   \
        X(VMCTL_STATE_SUSPENDED, "suspended")

#define VMCTL_X_ENUM(id, str) id,
enum vmctl_state { VMCTL_STATE_LIST(VMCTL_X_ENUM) };
const char *vmctl_state_to_string(enum vmctl_state state);

enum vmctl_domain_type {
        VMCTL_DOMAIN_TYPE_AUTO, /* kvm when the host's capabilities offer it, else qemu */
        VMCTL_DOMAIN_TYPE_QEMU, /* TCG software emulation */
        VMCTL_DOMAIN_TYPE_KVM,
};

/* Everything vmctl_create() needs.  All pointers borrowed for the call only. */
struct vmctl_spec {
        const char *name;            /* DNS-1123 label: domain name and hostname */
        const char *pool;            /* node pool (DNS-1123 label) */
        const char *owner;           /* "NAMESPACE/NAME" or NULL */
        const char *base_image;      /* path of the base image as the libvirt host sees it */
        const char *base_format;     /* "qcow2" | "raw" | NULL = detect */
        const char *storage_pool;    /* libvirt storage pool for the overlay and seed */
        const char *network;         /* libvirt network for one virtio NIC, or NULL = no NIC */
        unsigned vcpus;              /* >= 1 */
        uint64_t memory_mib;         /* >= 16 */
        uint64_t disk_bytes;         /* overlay size; 0 = the base image's size */
        const char *const *ssh_keys; /* n_ssh_keys authorized keys */
        size_t n_ssh_keys;
        const char *join_command; /* shell command run once at first boot, or NULL */
        enum vmctl_domain_type domain_type;
        const char *machine; /* NULL = "q35" */
};

struct vmctl_vm {
        char *name;
        char *uuid;
        char *pool;         /* NULL for a domain without TripDeal metadata */
        char *owner;        /* NULL when none */
        char *storage_pool; /* NULL when unknown */
        char *created_at;   /* RFC 3339, NULL when unknown */
        enum vmctl_state state;
        unsigned vcpus;
        uint64_t memory_mib;
};
void vmctl_vm_free(struct vmctl_vm *vm);

struct vmctl_vm_list {
        struct vmctl_vm *items; /* owned */
        size_t n_items;
};
void vmctl_vm_list_free(struct vmctl_vm_list *list);

/* NULL or "" fields match everything.  TripDeal VMs only (domains carrying our metadata). */
struct vmctl_filter {
        const char *pool;
        const char *owner;
};

/*
 * Define and start a node VM.  On success *ret_vm (may be NULL) is a new vm the
 * caller frees with vmctl_vm_free().  On any failure everything this call
 * made (volumes, seed, definition) is removed again; an existing VM of the
 * same name is never touched (-EEXIST).
 */
int vmctl_create(vmctl_conn *conn, const struct vmctl_spec *spec, struct vmctl_vm **ret_vm,
                 struct tripdeal_error *ret_error);
/*
 * Power off, delete NAME.qcow2 and NAME-seed.iso, undefine.  -ENOENT when no
 * such domain, -EPERM for a domain without TripDeal metadata.  Safe to retry
 * after a partial failure (the definition goes last).
 */
int vmctl_destroy(vmctl_conn *conn, const char *name, struct tripdeal_error *ret_error);
/* TripDeal VMs matching filter (NULL = all), sorted by name.  Free with vmctl_vm_list_free(). */
int vmctl_list(vmctl_conn *conn, const struct vmctl_filter *filter, struct vmctl_vm_list *ret_list,
               struct tripdeal_error *ret_error);
/* One VM by name (also domains without TripDeal metadata).  -ENOENT if none. */
int vmctl_get(vmctl_conn *conn, const char *name, struct vmctl_vm **ret_vm,
              struct tripdeal_error *ret_error);
int vmctl_start(vmctl_conn *conn, const char *name, struct tripdeal_error *ret_error);
/* Graceful ACPI shutdown, or hard power-off when force. */
int vmctl_stop(vmctl_conn *conn, const char *name, bool force, struct tripdeal_error *ret_error);
int vmctl_reboot(vmctl_conn *conn, const char *name, struct tripdeal_error *ret_error);

/* ---- Validation ------------------------------------------------------ */

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1..63.  0 or -EINVAL. */
int vmctl_validate_name(const char *name);
/* "NAMESPACE/NAME", both DNS-1123 labels. */
int vmctl_validate_owner(const char *owner);

/* ---- Pure generation (no libvirt, no I/O): golden-file tested --------- */

struct vmctl_domain_params {
        const char *name;
        const char *uuid;        /* 36-char UUID */
        const char *domain_type; /* "qemu" | "kvm" */
        const char *machine;     /* "q35" | "pc" | ... */
        unsigned vcpus;
        uint64_t memory_mib;
        const char *disk_path; /* qcow2 overlay */
        const char *seed_path; /* NoCloud ISO, attached as CD-ROM */
        const char *network;   /* NULL = no NIC */
        const char *pool;
        const char *owner; /* NULL = element omitted */
        const char *storage_pool;
        const char *created_at; /* RFC 3339 */
};
/* Domain XML; *ret_xml is malloc'd, caller frees. -EINVAL on text XML cannot carry. */
int vmctl_domain_xml(const struct vmctl_domain_params *params, char **ret_xml);

struct vmctl_volume_params {
        const char *name;
        const char *format;       /* "qcow2" | "raw" */
        uint64_t capacity_bytes;  /* 0 = element omitted (overlay: take the backing size) */
        const char *backing_path; /* NULL = no backing store */
        const char *backing_format;
};
int vmctl_volume_xml(const struct vmctl_volume_params *params, char **ret_xml);

struct vmctl_seed_params {
        const char *instance_id;
        const char *hostname;
        const char *const *ssh_keys;
        size_t n_ssh_keys;
        const char *join_command; /* NULL = no runcmd */
};
/* The three NoCloud files; each malloc'd, caller frees. */
int vmctl_seed_meta_data(const struct vmctl_seed_params *params, char **ret_text);
int vmctl_seed_user_data(const struct vmctl_seed_params *params, char **ret_text);
int vmctl_seed_network_config(const struct vmctl_seed_params *params, char **ret_text);

/*
 * Build the NoCloud ISO (label "cidata": meta-data, user-data, network-config)
 * with genisoimage into a new file under tmpdir.  *ret_path is malloc'd; the
 * caller unlinks and frees it.
 */
int vmctl_seed_iso_build(const struct vmctl_seed_params *params, const char *tmpdir,
                         char **ret_path);
