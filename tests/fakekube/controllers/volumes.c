/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A process pod's volumes, identity and mount namespace (see volumes.h):
 * the payload of Secret/ConfigMap/downwardAPI/projected volumes, the
 * kubelet's atomic writer, securityContext resolution, and the few system
 * calls the forked child makes before execve.
 */
#include "volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"
#include "podenv.h"

#define DEFAULT_MODE                  0644
#define SERVICE_ACCOUNT_TOKEN_SECONDS 3607

/* The base64 of DATA as a new JSON string (NULL when out of memory). */
static json_t *b64_json(const void *data, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        json_t *string = json_string(out);
        free(out);
        return string;
}

static char *format_error(const char *fmt, ...) _printf_(1, 2);
static char *format_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *out = NULL;
        if (vasprintf(&out, fmt, ap) < 0)
                out = NULL;
        va_end(ap);
        return out;
}

/* A relative path with no element starting with ".." (the API server refuses ".." elements;
 * "..data" and "..<stamp>" are the atomic writer's own names). */
static bool safe_relative_path(const char *path)
{
        if (!path || !path[0] || path[0] == '/')
                return false;
        for (const char *p = path; *p;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t)(slash - p) : strlen(p);
                if (n == 0 || (n >= 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n + (slash ? 1 : 0);
        }
        return true;
}

static int mode_of(const json_t *item, int default_mode)
{
        const json_t *m = json_object_get(item, "mode");
        return json_is_integer(m) ? (int)(json_integer_value(m) & 07777) : default_mode;
}

static int add_file(json_t *files, const char *path, json_t *data_b64, int mode, bool token,
                    char **ret_error)
{
        if (!data_b64)
                return -ENOMEM;
        if (!safe_relative_path(path)) {
                json_decref(data_b64);
                *ret_error = format_error("invalid path %s in the volume", path ? path : "\"\"");
                return -EINVAL;
        }
        json_object_set_new(
                files, path,
                json_pack("{s:o, s:i, s:b}", "data", data_b64, "mode", mode, "token", token));
        return 0;
}

/* Secret (data, base64) or ConfigMap (data strings + binaryData base64) keys -> files. */
static int add_keyed(json_t *files, const char *kind, const json_t *source, const char *ns,
                     int default_mode, const struct volume_sources *sources, char **ret_error)
{
        bool secret = strcmp(kind, "Secret") == 0;
        const char *name =
                json_string_value(json_object_get(source, secret ? "secretName" : "name"));
        if (!name && secret)
                name = json_string_value(json_object_get(source, "name")); /* projected */
        bool optional = json_is_true(json_object_get(source, "optional"));
        _cleanup_json_ json_t *obj =
                name && sources->get_object ? sources->get_object(kind, ns, name, sources->userdata)
                                            : NULL;
        if (!obj) {
                if (optional)
                        return 0;
                *ret_error = format_error("%s \"%s\" not found", secret ? "secret" : "configmap",
                                          name ? name : "");
                return -ENOENT;
        }
        /* key -> base64 */
        _cleanup_json_ json_t *values = json_object();
        const char *key;
        json_t *v;
        json_object_foreach (json_object_get(obj, "data"), key, v) {
                if (!json_is_string(v))
                        continue;
                if (secret)
                        json_object_set(values, key, v);
                else
                        json_object_set_new(values, key,
                                            b64_json(json_string_value(v), json_string_length(v)));
        }
        if (!secret)
                json_object_foreach (json_object_get(obj, "binaryData"), key, v)
                        if (json_is_string(v))
                                json_object_set(values, key, v);
        const json_t *items = json_object_get(source, "items");
        if (json_array_size(items) == 0) {
                json_object_foreach (values, key, v) {
                        int r = add_file(files, key, json_incref(v), default_mode, false,
                                         ret_error);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        size_t i;
        json_t *item;
        json_array_foreach (items, i, item) {
                const char *k = json_string_value(json_object_get(item, "key"));
                const char *path = json_string_value(json_object_get(item, "path"));
                json_t *value = k ? json_object_get(values, k) : NULL;
                if (!value) {
                        if (optional)
                                continue;
                        /* The kubelet's words for each kind. */
                        *ret_error = secret ? format_error("references non-existent secret key: %s",
                                                           k ? k : "")
                                            : format_error("configmap references non-existent "
                                                           "config key: %s",
                                                           k ? k : "");
                        return -ENOENT;
                }
                int r = add_file(files, path, json_incref(value), mode_of(item, default_mode),
                                 false, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *map_lines(const json_t *map)
{
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        /* kubelet: sorted key="value" lines (value with Go's %q quoting; plain here). */
        const char **keys = calloc(json_object_size(map) + 1, sizeof(*keys));
        size_t n = 0;
        const char *key;
        json_t *v;
        json_object_foreach ((json_t *)map, key, v)
                if (keys)
                        keys[n++] = key;
        for (size_t i = 0; keys && i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (strcmp(keys[j], keys[i]) < 0) {
                                const char *t = keys[i];
                                keys[i] = keys[j];
                                keys[j] = t;
                        }
        for (size_t i = 0; keys && i < n; i++)
                fprintf(f, "%s%s=\"%s\"", i ? "\n" : "", keys[i],
                        json_string_value(json_object_get(map, keys[i])) ?: "");
        free(keys);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static int add_downward(json_t *files, const json_t *pod, const char *pod_ip, const json_t *items,
                        int default_mode, char **ret_error)
{
        size_t i;
        json_t *item;
        json_array_foreach (items, i, item) {
                const char *path = json_string_value(json_object_get(item, "path"));
                const char *field = json_string_value(
                        json_object_get(json_object_get(item, "fieldRef"), "fieldPath"));
                _cleanup_free_ char *text = NULL;
                const json_t *meta = json_object_get(pod, "metadata");
                if (field && strcmp(field, "metadata.labels") == 0)
                        text = map_lines(json_object_get(meta, "labels"));
                else if (field && strcmp(field, "metadata.annotations") == 0)
                        text = map_lines(json_object_get(meta, "annotations"));
                else if (field) {
                        const char *v = downward_field(pod, pod_ip, field);
                        text = v ? strdup(v) : NULL;
                }
                if (!text) {
                        *ret_error = format_error("downward API field %s is not supported",
                                                  field ? field : "(resourceFieldRef)");
                        return -EOPNOTSUPP;
                }
                int r = add_file(files, path, b64_json(text, strlen(text)),
                                 mode_of(item, default_mode), false, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_token(json_t *files, const json_t *source, int default_mode,
                     const struct volume_sources *sources, char **ret_error)
{
        const char *path = json_string_value(json_object_get(source, "path"));
        const char *audience = json_string_value(json_object_get(source, "audience"));
        const json_t *exp = json_object_get(source, "expirationSeconds");
        int64_t seconds = json_is_integer(exp) ? json_integer_value(exp) : 3600;
        _cleanup_free_ char *token =
                sources->get_token ? sources->get_token(audience, seconds, sources->userdata)
                                   : NULL;
        if (!token) {
                *ret_error = format_error("failed to fetch token for the pod's service account");
                return -EIO;
        }
        return add_file(files, path, b64_json(token, strlen(token)), default_mode, true, ret_error);
}

int volume_payload(const json_t *pod, const json_t *volume, const char *pod_ip,
                   const struct volume_sources *sources, json_t **ret_files, char **ret_error)
{
        const char *ns =
                json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
        if (json_object_get(volume, "emptyDir") || json_object_get(volume, "hostPath"))
                return -ENOTDIR;
        _cleanup_json_ json_t *files = json_object();
        if (!files)
                return -ENOMEM;
        char *error = NULL;
        int r;
        const json_t *v;
        if ((v = json_object_get(volume, "secret")) || (v = json_object_get(volume, "configMap"))) {
                bool secret = json_object_get(volume, "secret") != NULL;
                const json_t *dm = json_object_get(v, "defaultMode");
                r = add_keyed(files, secret ? "Secret" : "ConfigMap", v, ns,
                              json_is_integer(dm) ? (int)(json_integer_value(dm) & 07777)
                                                  : DEFAULT_MODE,
                              sources, &error);
        } else if ((v = json_object_get(volume, "downwardAPI"))) {
                const json_t *dm = json_object_get(v, "defaultMode");
                r = add_downward(files, pod, pod_ip, json_object_get(v, "items"),
                                 json_is_integer(dm) ? (int)json_integer_value(dm) : DEFAULT_MODE,
                                 &error);
        } else if ((v = json_object_get(volume, "projected"))) {
                const json_t *dm = json_object_get(v, "defaultMode");
                int mode = json_is_integer(dm) ? (int)json_integer_value(dm) : DEFAULT_MODE;
                r = 0;
                size_t i;
                json_t *src;
                json_array_foreach (json_object_get(v, "sources"), i, src) {
                        const json_t *s;
                        if ((s = json_object_get(src, "secret")))
                                r = add_keyed(files, "Secret", s, ns, mode, sources, &error);
                        else if ((s = json_object_get(src, "configMap")))
                                r = add_keyed(files, "ConfigMap", s, ns, mode, sources, &error);
                        else if ((s = json_object_get(src, "downwardAPI")))
                                r = add_downward(files, pod, pod_ip, json_object_get(s, "items"),
                                                 mode, &error);
                        else if ((s = json_object_get(src, "serviceAccountToken")))
                                r = add_token(files, s, mode, sources, &error);
                        else if ((s = json_object_get(src, "fakekubeCA"))) {
                                /* The implicit volume's ca.crt (kube-root-ca.crt in Kubernetes). */
                                const char *pem = sources->ca_pem;
                                if (pem)
                                        r = add_file(files, "ca.crt", b64_json(pem, strlen(pem)),
                                                     mode, false, &error);
                        } else {
                                error = format_error("projected volume source not supported by "
                                                     "fakekube");
                                r = -EOPNOTSUPP;
                        }
                        if (r < 0)
                                break;
                }
        } else {
                error = format_error("volume type not supported by fakekube (emptyDir, hostPath, "
                                     "secret, configMap, downwardAPI and projected are)");
                r = -EOPNOTSUPP;
        }
        if (r < 0) {
                *ret_error = error ? error : strdup("out of memory");
                return r;
        }
        *ret_files = json_incref(files);
        return 0;
}

json_t *service_account_volume(const json_t *pod, const json_t *service_account)
{
        const json_t *spec = json_object_get(pod, "spec");
        const json_t *pod_automount = json_object_get(spec, "automountServiceAccountToken");
        const json_t *sa_automount =
                json_object_get(service_account, "automountServiceAccountToken");
        if (json_is_false(pod_automount) ||
            (!json_is_true(pod_automount) && json_is_false(sa_automount)))
                return NULL;
        return json_pack(
                "{s:s, s:{s:i, s:[{s:{s:i, s:s}}, {s:{}}, {s:{s:[{s:s, s:{s:s, s:s}}]}}]}}", "name",
                SERVICE_ACCOUNT_VOLUME, "projected", "defaultMode", DEFAULT_MODE, "sources",
                "serviceAccountToken", "expirationSeconds", SERVICE_ACCOUNT_TOKEN_SECONDS, "path",
                "token", "fakekubeCA", "downwardAPI", "items", "path", "namespace", "fieldRef",
                "apiVersion", "v1", "fieldPath", "metadata.namespace");
}

/* ---- the atomic writer ---- */

static int write_file(const char *path, const char *b64, int mode, uid_t uid, gid_t gid)
{
        size_t n = strlen(b64);
        _cleanup_free_ unsigned char *data = malloc(n / 4 * 3 + 3);
        if (!data)
                return -ENOMEM;
        int len = EVP_DecodeBlock(data, (const unsigned char *)b64, (int)n);
        if (len < 0)
                return -EINVAL;
        for (size_t i = n; i > 0 && b64[i - 1] == '='; i--)
                len--;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        int r = 0;
        for (int off = 0; off < len && r == 0;) {
                ssize_t w = write(fd, data + off, (size_t)(len - off));
                if (w < 0 && errno != EINTR)
                        r = -errno;
                else if (w > 0)
                        off += (int)w;
        }
        if (r == 0 && (fchown(fd, uid, gid) < 0 || fchmod(fd, (mode_t)mode) < 0))
                r = -errno;
        close(fd);
        return r;
}

static int make_parents(char *path, size_t from)
{
        for (char *p = path + from; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                int r = mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
                *p = '/';
                if (r < 0)
                        return r;
        }
        return 0;
}

static int unlink_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int remove_tree(const char *path)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return nftw(path, unlink_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 ? -errno : 0;
}

int volume_write(const char *dir, const json_t *files, uid_t token_uid, gid_t gid, bool group_read)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        static unsigned counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char stamp[64], data_dir[4096], link_tmp[4096], data_link[4096];
        snprintf(stamp, sizeof(stamp), "..%lld_%09ld_%u", (long long)ts.tv_sec, ts.tv_nsec,
                 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
        snprintf(data_dir, sizeof(data_dir), "%s/%s", dir, stamp);
        snprintf(link_tmp, sizeof(link_tmp), "%s/..data_tmp", dir);
        snprintf(data_link, sizeof(data_link), "%s/..data", dir);
        if (mkdir(data_dir, 0755) < 0)
                return -errno;
        const char *path;
        json_t *f;
        json_object_foreach ((json_t *)files, path, f) {
                char full[8200];
                snprintf(full, sizeof(full), "%s/%s", data_dir, path);
                int r = make_parents(full, strlen(data_dir) + 1);
                int mode = (int)json_integer_value(json_object_get(f, "mode"));
                if (group_read)
                        mode |= (mode & 0400) ? 0040 : 0;
                bool token = json_is_true(json_object_get(f, "token"));
                if (r == 0)
                        r = write_file(full, json_string_value(json_object_get(f, "data")) ?: "",
                                       mode, token && token_uid != (uid_t)-1 ? token_uid : 0, gid);
                if (r < 0) {
                        remove_tree(data_dir);
                        return r;
                }
        }
        /* The previous data directory, to remove once ..data points elsewhere. */
        char old[4096] = "";
        ssize_t n = readlink(data_link, old, sizeof(old) - 1);
        old[n > 0 ? n : 0] = '\0';
        unlink(link_tmp);
        if (symlink(stamp, link_tmp) < 0 || rename(link_tmp, data_link) < 0) {
                int r = -errno;
                remove_tree(data_dir);
                return r;
        }
        /* Top-level names: NAME -> ..data/NAME; names no longer in the payload go. */
        _cleanup_json_ json_t *top = json_object();
        json_object_foreach ((json_t *)files, path, f) {
                char first[1024];
                snprintf(first, sizeof(first), "%s", path);
                char *slash = strchr(first, '/');
                if (slash)
                        *slash = '\0';
                json_object_set_new(top, first, json_true());
        }
        const char *name;
        json_t *unused;
        json_object_foreach (top, name, unused) {
                char link_path[4096], target[2048];
                snprintf(link_path, sizeof(link_path), "%s/%s", dir, name);
                snprintf(target, sizeof(target), "..data/%s", name);
                char current[2048];
                ssize_t cn = readlink(link_path, current, sizeof(current) - 1);
                if (cn > 0 && (size_t)cn == strlen(target) &&
                    strncmp(current, target, (size_t)cn) == 0)
                        continue;
                unlink(link_path);
                if (symlink(target, link_path) < 0)
                        return -errno;
        }
        /* Stale entries: symlinks of keys no longer in the payload, the old data directory. */
        DIR *listing = opendir(dir);
        struct dirent *de;
        while (listing && (de = readdir(listing))) {
                if (strncmp(de->d_name, "..", 2) == 0 || strcmp(de->d_name, ".") == 0 ||
                    json_object_get(top, de->d_name) || de->d_type != DT_LNK)
                        continue;
                unlinkat(dirfd(listing), de->d_name, 0);
        }
        if (listing)
                closedir(listing);
        char prev_dir[4096];
        if (old[0] && strcmp(old, stamp) != 0) {
                int length = snprintf(prev_dir, sizeof(prev_dir), "%s/%s", dir, old);
                if (length > 0 && (size_t)length < sizeof(prev_dir))
                        remove_tree(prev_dir);
        }
        return 0;
}

/* ---- identity ---- */

static bool id_field(const json_t *container_sc, const json_t *pod_sc, const char *field,
                     int64_t *ret)
{
        const json_t *v = json_object_get(container_sc, field);
        if (!json_is_integer(v))
                v = json_object_get(pod_sc, field);
        if (!json_is_integer(v))
                return false;
        *ret = json_integer_value(v);
        return true;
}

/* Linux capability numbers by the names Kubernetes uses (without CAP_). */
/* clang-format off */
static const char *const capability_names[] = {
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
        "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
        "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
        "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
        "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};
/* clang-format on */
_Static_assert(sizeof(capability_names) / sizeof(capability_names[0]) <= CAP_LAST_CAP + 1,
               "no name beyond the capabilities linux/capability.h knows");
#define CAP_BIT(number) (UINT64_C(1) << (number))
/* containerd's default set for a non-privileged container. */
#define DEFAULT_CAPABILITIES                                                                     \
        (CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_FSETID) |                  \
         CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_NET_RAW) | CAP_BIT(CAP_SETGID) | \
         CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETFCAP) | CAP_BIT(CAP_SETPCAP) |                     \
         CAP_BIT(CAP_NET_BIND_SERVICE) | CAP_BIT(CAP_SYS_CHROOT) | CAP_BIT(CAP_KILL) |           \
         CAP_BIT(CAP_AUDIT_WRITE))
#define ALL_CAPABILITIES ((CAP_BIT(CAP_LAST_CAP) << 1) - 1)

static int capability_mask(const json_t *names, uint64_t *ret, char **ret_error)
{
        uint64_t mask = 0;
        size_t i;
        json_t *n;
        json_array_foreach (names, i, n) {
                const char *name = json_string_value(n);
                if (name && strncmp(name, "CAP_", 4) == 0)
                        name += 4;
                if (name && strcmp(name, "ALL") == 0) {
                        mask = ALL_CAPABILITIES;
                        continue;
                }
                size_t c = 0;
                while (c < ARRAY_SIZE(capability_names) &&
                       !(name && strcmp(capability_names[c], name) == 0))
                        c++;
                if (c == ARRAY_SIZE(capability_names)) {
                        *ret_error = format_error("unknown capability %s",
                                                  json_string_value(n) ?: "(not a string)");
                        return -EINVAL;
                }
                mask |= CAP_BIT(c);
        }
        *ret = mask;
        return 0;
}

int container_run_as(const json_t *pod, const json_t *container, struct run_as *ret,
                     char **ret_error)
{
        const json_t *pod_sc = json_object_get(json_object_get(pod, "spec"), "securityContext");
        const json_t *sc = json_object_get(container, "securityContext");
        struct run_as r = {0};
        int64_t user = 0, group = 0, fs_group = 0;
        bool has_user = id_field(sc, pod_sc, "runAsUser", &user);
        bool has_group = id_field(sc, pod_sc, "runAsGroup", &group);
        r.has_fs_group = id_field(NULL, pod_sc, "fsGroup", &fs_group);
        if (user < 0 || user > 2147483647 || group < 0 || group > 2147483647 || fs_group < 0 ||
            fs_group > 2147483647)
                return -EINVAL;
        r.uid = (uid_t)user;
        r.gid = (gid_t)group;
        r.fs_group = (gid_t)fs_group;
        if (r.has_fs_group)
                r.groups[r.n_groups++] = r.fs_group;
        size_t i;
        json_t *g;
        json_array_foreach (json_object_get(pod_sc, "supplementalGroups"), i, g) {
                if (!json_is_integer(g) || json_integer_value(g) < 0 ||
                    json_integer_value(g) > 2147483647)
                        return -EINVAL;
                if (r.n_groups < ARRAY_SIZE(r.groups))
                        r.groups[r.n_groups++] = (gid_t)json_integer_value(g);
        }
        r.change_ids = has_user || has_group || r.n_groups > 0;
        const json_t *non_root = json_object_get(sc, "runAsNonRoot");
        if (!non_root)
                non_root = json_object_get(pod_sc, "runAsNonRoot");
        if (json_is_true(non_root) && r.uid == 0) {
                const char *pod_name = json_string_value(
                        json_object_get(json_object_get(pod, "metadata"), "name"));
                const char *name = json_string_value(json_object_get(container, "name"));
                /* The kubelet's words: an image without USER runs as root. */
                *ret_error = has_user ? format_error("container's runAsUser breaks non-root policy "
                                                     "(pod: \"%s\", container: %s)",
                                                     pod_name ?: "", name ?: "")
                                      : format_error("container has runAsNonRoot and image will "
                                                     "run as root (pod: \"%s\", container: %s)",
                                                     pod_name ?: "", name ?: "");
                return -EPERM;
        }
        r.read_only_root = json_is_true(json_object_get(sc, "readOnlyRootFilesystem"));
        r.no_new_privs = json_is_false(json_object_get(sc, "allowPrivilegeEscalation"));
        const json_t *caps = json_object_get(sc, "capabilities");
        uint64_t add = 0, drop = 0;
        int err = capability_mask(json_object_get(caps, "add"), &add, ret_error);
        if (err == 0)
                err = capability_mask(json_object_get(caps, "drop"), &drop, ret_error);
        if (err < 0)
                return err;
        r.capabilities = json_is_true(json_object_get(sc, "privileged"))
                                 ? ALL_CAPABILITIES
                                 : ((DEFAULT_CAPABILITIES & ~drop) | add);
        *ret = r;
        return 0;
}

/* ---- the sandbox ---- */

static int make_dirs(const char *path)
{
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s/", path);
        return make_parents(buf, 1);
}

static bool under(const char *path, const char *prefix)
{
        size_t n = strlen(prefix);
        return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Decode mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
        char *o = s;
        for (char *p = s; *p;) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 4;
                } else {
                        *o++ = *p++;
                }
        }
        *o = '\0';
}

static unsigned long flags_of(const char *options)
{
        unsigned long flags = 0;
        _cleanup_free_ char *copy = strdup(options);
        char *save = NULL;
        for (char *o = copy ? strtok_r(copy, ",", &save) : NULL; o;
             o = strtok_r(NULL, ",", &save)) {
                if (strcmp(o, "nosuid") == 0)
                        flags |= MS_NOSUID;
                else if (strcmp(o, "nodev") == 0)
                        flags |= MS_NODEV;
                else if (strcmp(o, "noexec") == 0)
                        flags |= MS_NOEXEC;
                else if (strcmp(o, "noatime") == 0)
                        flags |= MS_NOATIME;
                else if (strcmp(o, "nodiratime") == 0)
                        flags |= MS_NODIRATIME;
                else if (strcmp(o, "relatime") == 0)
                        flags |= MS_RELATIME;
        }
        return flags;
}

static int add_remounts(struct sandbox *sb, const char *mountinfo)
{
        _cleanup_free_ char *copy = strdup(mountinfo);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... */
                char point[4096], options[1024];
                if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", point, options) != 2)
                        continue;
                unescape(point);
                if (under(point, "/proc") || under(point, "/sys") || under(point, "/dev"))
                        continue;
                char **points =
                        realloc(sb->read_only_remounts, (sb->n_remounts + 1) * sizeof(*points));
                if (!points)
                        return -ENOMEM;
                sb->read_only_remounts = points;
                unsigned long *flags =
                        realloc(sb->remount_flags, (sb->n_remounts + 1) * sizeof(*flags));
                if (!flags)
                        return -ENOMEM;
                sb->remount_flags = flags;
                if (!(points[sb->n_remounts] = strdup(point)))
                        return -ENOMEM;
                flags[sb->n_remounts++] = flags_of(options);
        }
        return 0;
}

int sandbox_prepare(struct sandbox *sb, const json_t *container, const json_t *volume_dirs,
                    const char *mountinfo, const char *working_dir, char **ret_error)
{
        if (working_dir &&
            (sb->working_dir_fd = open(working_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
                *ret_error = format_error("cannot open the working directory %s", working_dir);
                return -errno;
        }
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(container, "volumeMounts"), i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));
                const char *target = json_string_value(json_object_get(m, "mountPath"));
                const char *sub = json_string_value(json_object_get(m, "subPath"));
                const char *dir =
                        name ? json_string_value(json_object_get(volume_dirs, name)) : NULL;
                if (!dir) {
                        *ret_error = format_error("unable to find volume \"%s\" for the "
                                                  "volumeMount %s",
                                                  name ? name : "", target ? target : "");
                        return -ENOENT;
                }
                if (!target || target[0] != '/' || (sub && sub[0] && !safe_relative_path(sub))) {
                        *ret_error = format_error("invalid mountPath or subPath for volume \"%s\"",
                                                  name);
                        return -EINVAL;
                }
                struct sandbox_mount *mounts =
                        realloc(sb->mounts, (sb->n_mounts + 1) * sizeof(*mounts));
                if (!mounts)
                        return -ENOMEM;
                sb->mounts = mounts;
                struct sandbox_mount *sm = &mounts[sb->n_mounts];
                *sm = (struct sandbox_mount){
                        .read_only = json_is_true(json_object_get(m, "readOnly")), .source_fd = -1};
                if (asprintf(&sm->source, "%s%s%s", dir, sub && sub[0] ? "/" : "",
                             sub && sub[0] ? sub : "") < 0) {
                        sm->source = NULL;
                        return -ENOMEM;
                }
                sm->target = strdup(target);
                sb->n_mounts++;
                if (!sm->target)
                        return -ENOMEM;
                /* Mount points exist on the host, as a runtime makes them in the image's root. */
                struct stat st;
                if (stat(sm->source, &st) < 0 && sub && sub[0]) {
                        /* kubelet creates a missing subPath as a directory */
                        if (make_dirs(sm->source) < 0 || stat(sm->source, &st) < 0) {
                                *ret_error = format_error("cannot create subPath %s", sub);
                                return -errno;
                        }
                }
                if (S_ISDIR(st.st_mode) || stat(sm->source, &st) < 0) {
                        int r = make_dirs(sm->target);
                        if (r < 0) {
                                *ret_error = format_error("cannot create the mount point %s",
                                                          sm->target);
                                return r;
                        }
                } else if (access(sm->target, F_OK) != 0) {
                        char parent[4096];
                        snprintf(parent, sizeof(parent), "%s", sm->target);
                        make_parents(parent, 1);
                        int fd = open(sm->target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        if (fd < 0) {
                                *ret_error = format_error("cannot create the mount point %s",
                                                          sm->target);
                                return -errno;
                        }
                        close(fd);
                }
        }
        if (sb->run_as.read_only_root && mountinfo)
                return add_remounts(sb, mountinfo);
        return 0;
}

void sandbox_release(struct sandbox *sb)
{
        if (!sb)
                return;
        for (size_t i = 0; i < sb->n_mounts; i++) {
                free(sb->mounts[i].source);
                free(sb->mounts[i].target);
                if (sb->mounts[i].source_fd >= 0)
                        close(sb->mounts[i].source_fd);
        }
        if (sb->working_dir_fd >= 0)
                close(sb->working_dir_fd);
        free(sb->mounts);
        for (size_t i = 0; i < sb->n_remounts; i++)
                free(sb->read_only_remounts[i]);
        free(sb->read_only_remounts);
        free(sb->remount_flags);
        *sb = (struct sandbox)SANDBOX_INIT;
}

/* "/proc/self/fd/N" without stdio (async-signal-safe). */
static void fd_path(int fd, char *buf, size_t size)
{
        static const char prefix[] = "/proc/self/fd/";
        char digits[16];
        size_t n = 0;
        unsigned v = (unsigned)fd;
        do {
                digits[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v && n < sizeof(digits));
        size_t o = 0;
        for (size_t i = 0; prefix[i] && o + 1 < size; i++)
                buf[o++] = prefix[i];
        while (n > 0 && o + 1 < size)
                buf[o++] = digits[--n];
        buf[o] = '\0';
}

int sandbox_enter(struct sandbox *sb, const char **ret_step)
{
        if (sb->mount_namespace) {
                *ret_step = "unshare(CLONE_NEWNS)";
                if (unshare(CLONE_NEWNS) < 0)
                        return -errno;
                *ret_step = "making / private";
                if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        return -errno;
                /* Sources by descriptor, opened in this namespace before any mount can hide
                 * them (an emptyDir at /tmp over a state directory under /tmp). */
                for (size_t i = 0; i < sb->n_mounts; i++) {
                        *ret_step = sb->mounts[i].source;
                        sb->mounts[i].source_fd = open(sb->mounts[i].source, O_PATH | O_CLOEXEC);
                        if (sb->mounts[i].source_fd < 0)
                                return -errno;
                        fd_path(sb->mounts[i].source_fd, sb->mounts[i].source_by_fd,
                                sizeof(sb->mounts[i].source_by_fd));
                }
                /* Volumes first: a bind of a read-only mount's subtree would be read-only. */
                for (size_t i = 0; i < sb->n_mounts; i++) {
                        *ret_step = sb->mounts[i].target;
                        if (mount(sb->mounts[i].source_by_fd, sb->mounts[i].target, NULL,
                                  MS_BIND | MS_REC, NULL) < 0)
                                return -errno;
                        if (sb->mounts[i].read_only &&
                            mount(NULL, sb->mounts[i].target, NULL,
                                  MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                                return -errno;
                }
                for (size_t i = 0; i < sb->n_remounts; i++) {
                        *ret_step = sb->read_only_remounts[i];
                        if (mount(NULL, sb->read_only_remounts[i], NULL,
                                  MS_REMOUNT | MS_BIND | MS_RDONLY | sb->remount_flags[i],
                                  NULL) < 0 &&
                            errno != EINVAL && errno != ENOENT)
                                return -errno;
                }
        }
        *ret_step = "fchdir";
        if (sb->working_dir_fd >= 0 && fchdir(sb->working_dir_fd) < 0)
                return -errno;
        /* Capabilities: the bounding set first (needs CAP_SETPCAP, so before the uid changes). */
        if (sb->mount_namespace) {
                *ret_step = "PR_CAPBSET_DROP";
                for (int c = 0; c <= CAP_LAST_CAP; c++)
                        if (!(sb->run_as.capabilities & CAP_BIT(c)) &&
                            prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                                return -errno;
        }
        if (sb->run_as.change_ids) {
                *ret_step = "setgroups";
                if (setgroups(sb->run_as.n_groups, sb->run_as.groups) < 0)
                        return -errno;
                *ret_step = "setgid";
                if (setresgid(sb->run_as.gid, sb->run_as.gid, sb->run_as.gid) < 0)
                        return -errno;
                *ret_step = "setuid";
                if (setresuid(sb->run_as.uid, sb->run_as.uid, sb->run_as.uid) < 0)
                        return -errno;
        }
        if (sb->mount_namespace) {
                /* Effective, permitted and inheritable: what the container keeps (a non-root
                 * uid lost them all in setresuid; this only ever lowers them). */
                *ret_step = "capset";
                struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
                struct __user_cap_data_struct data[2] = {0};
                if (syscall(SYS_capget, &header, data) < 0)
                        return -errno;
                for (int w = 0; w < 2; w++) {
                        uint32_t keep = (uint32_t)(sb->run_as.capabilities >> (32 * w));
                        data[w].effective &= keep;
                        data[w].permitted &= keep;
                        data[w].inheritable &= keep;
                }
                if (syscall(SYS_capset, &header, data) < 0)
                        return -errno;
        }
        if (sb->run_as.no_new_privs) {
                *ret_step = "PR_SET_NO_NEW_PRIVS";
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        return -errno;
        }
        return 0;
}

bool mount_namespaces_available(void)
{
        if (geteuid() != 0)
                return false;
        pid_t pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0)
                _exit(unshare(CLONE_NEWNS) == 0 &&
                                      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0
                              ? 0
                              : 1);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
