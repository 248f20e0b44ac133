/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a kubelet does around a process pod's container besides its
 * environment (podenv.h): the files of its volumes (emptyDir, Secret,
 * ConfigMap, downwardAPI, projected with serviceAccountToken, hostPath, and
 * the implicit kube-api-access volume at
 * /var/run/secrets/kubernetes.io/serviceaccount), the user and groups it
 * runs as (securityContext), and the private mount namespace it runs in.
 * volumes.c; json_t arguments borrowed.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SERVICE_ACCOUNT_MOUNT_PATH "/var/run/secrets/kubernetes.io/serviceaccount"
/* The implicit projected volume's name (kube-apiserver adds kube-api-access-XXXXX). */
#define SERVICE_ACCOUNT_VOLUME "kube-api-access-fakekube"

/* Where the kubelet gets what volumes hold. */
struct volume_sources {
        /* A Secret or ConfigMap ("Secret"/"ConfigMap") as stored (new reference), NULL if none. */
        json_t *(*get_object)(const char *kind, const char *namespace_, const char *name,
                              void *userdata);
        /* A token for the pod's ServiceAccount (new string), NULL on failure. */
        char *(*get_token)(const char *audience, int64_t expiration_seconds, void *userdata);
        const char *ca_pem; /* the API server's CA (ca.crt), NULL over plain HTTP */
        void *userdata;
};

/*
 * The files of a Secret, ConfigMap, downwardAPI or projected volume (the
 * implicit service-account volume included): a new object
 * {"relative/path": {"data": BASE64, "mode": N, "token": bool}}.  items and
 * defaultMode (and per-item mode) are honoured; a missing Secret/ConfigMap
 * or key is an error unless optional.  emptyDir and hostPath have no
 * payload: -ENOTDIR.  Other types: -EOPNOTSUPP.  On error *ret_error is a
 * message as the kubelet words it (new string).
 */
int volume_payload(const json_t *pod, const json_t *volume, const char *pod_ip,
                   const struct volume_sources *sources, json_t **ret_files, char **ret_error);

/*
 * The implicit kube-api-access volume: {"name": SERVICE_ACCOUNT_VOLUME,
 * "projected": {...}} (token 3607 s, ca.crt, namespace; mode 0644), or NULL
 * when automountServiceAccountToken is false on the pod, or on the
 * ServiceAccount (borrowed, may be NULL) and not true on the pod.
 */
json_t *service_account_volume(const json_t *pod, const json_t *service_account);

/*
 * Write files (from volume_payload) into dir as the kubelet's atomic writer
 * does: a fresh "..<stamp>" directory, "..data" switched to it with a
 * rename, and top-level symlinks NAME -> ..data/NAME, so a container sees
 * a whole update at once and removed keys disappear.  Files are owned by
 * uid:gid (0:0 normally; token files by token_uid when it is not -1) with
 * their mode (plus group read when group_read).  0 or -errno.
 */
int volume_write(const char *dir, const json_t *files, uid_t token_uid, gid_t gid, bool group_read);

/* rm -rf (does not follow symlinks or cross into other mounts).  0 or -errno. */
int remove_tree(const char *path);

/* A container's identity from its and its pod's securityContext. */
struct run_as {
        bool change_ids; /* runAsUser, runAsGroup, fsGroup or supplementalGroups given */
        uid_t uid;       /* runAsUser, else 0 (the "image" user: root) */
        gid_t gid;       /* runAsGroup, else 0 */
        gid_t groups[32];
        size_t n_groups;   /* fsGroup, then supplementalGroups */
        bool has_fs_group; /* fsGroup given: volume files group-owned by it */
        gid_t fs_group;
        bool read_only_root; /* readOnlyRootFilesystem */
        bool no_new_privs;   /* allowPrivilegeEscalation: false */
        /*
         * Capabilities the process keeps (bit N = capability N): a container runtime's
         * default set (containerd's 14) plus capabilities.add minus capabilities.drop
         * ("ALL" drops every one, add is applied after it); every capability when
         * privileged.  A non-root uid keeps none of them in its effective set anyway.
         */
        uint64_t capabilities;
};
/*
 * Resolve it; -EPERM with *ret_error (new string, kubelet's wording) when
 * runAsNonRoot is true and the container would run as uid 0; -EINVAL for
 * out-of-range ids or an unknown capability name (*ret_error says which).
 */
int container_run_as(const json_t *pod, const json_t *container, struct run_as *ret,
                     char **ret_error);

/* One bind mount into the container's namespace. */
struct sandbox_mount {
        char *source; /* host path */
        char *target; /* mountPath */
        bool read_only;
        /* The source opened (O_PATH) in the child's namespace before any mount, named
         * "/proc/self/fd/N": a mount (an emptyDir at /tmp) may hide the host path. */
        int source_fd;
        char source_by_fd[32];
};

/*
 * Everything the forked child needs, prepared before fork() so that the
 * child only makes system calls (fakekube is multi-threaded).
 */
struct sandbox {
        bool mount_namespace; /* unshare(CLONE_NEWNS) and mount the volumes */
        struct sandbox_mount *mounts;
        size_t n_mounts;
        /* readOnlyRootFilesystem: every mount but /proc, /sys, /dev and the volumes. */
        char **read_only_remounts; /* mount points */
        unsigned long *remount_flags;
        size_t n_remounts;
        struct run_as run_as;
        int working_dir_fd; /* fchdir'ed into (O_PATH, opened before fork); -1: stay */
};

/*
 * Fill sandbox->mounts from the container's volumeMounts (volume name ->
 * host path in volume_dirs, an object of strings; subPath honoured), create
 * their mount points on the host (mkdir -p, or an empty file for a file
 * source), and the read-only remount list from mountinfo (the text of
 * /proc/self/mountinfo) when run_as.read_only_root, and open the working
 * directory.  -ENOENT with *ret_error for a mount naming an unknown volume.
 * Initialize sandbox with SANDBOX_INIT first.
 */
#define SANDBOX_INIT                 \
        {                            \
                .working_dir_fd = -1 \
        }
int sandbox_prepare(struct sandbox *sandbox, const json_t *container, const json_t *volume_dirs,
                    const char *mountinfo, const char *working_dir, char **ret_error);
void sandbox_release(struct sandbox *sandbox);

/*
 * In the forked child, before execve and before closing inherited
 * descriptors (it uses those sandbox_prepare opened): only async-signal-safe
 * calls.  The mount namespace, the mounts, the read-only root, the working
 * directory, then groups, gid, uid, no_new_privs.  0, or -errno with *ret_step naming
 * what failed (a static string).
 */
int sandbox_enter(struct sandbox *sandbox, const char **ret_step);

/* Can this process make mount namespaces (root with CAP_SYS_ADMIN)?  Forks a probe. */
bool mount_namespaces_available(void);
