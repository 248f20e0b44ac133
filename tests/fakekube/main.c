/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakekube: a Kubernetes API server stand-in for tests (see README.md).
 * main() parses flags, generates TLS material and a token, writes the
 * kubeconfig, serves the API, runs the lifecycle thread (GC, graceful
 * deletion, PDB status, persistence) and the simulated controllers, and
 * stops cleanly on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "clock.h"
#include "db.h"
#include "fakekube.h"
#include "flags.h"
#include "lifecycle.h"
#include "log.h"
#include "macros.h"
#include "registry.h"
#include "schema.h"
#include "tls.h"
#ifdef HAVE_CONTROLLERS
#include "controllers.h"
#endif

#ifndef FAKEKUBE_DEFAULT_OPENAPI
#define FAKEKUBE_DEFAULT_OPENAPI "swagger-1.36.json"
#endif

struct flags {
        struct server_options server;
        enum log_level log_level;
        int64_t sync_period_ms;
        int64_t pod_ready_delay_ms;
        int64_t node_boot_delay_ms;
        bool process_pods;
        const char **pod_commands; /* NULL-terminated */
        size_t n_pod_commands;
        int nodes;
        const char *libvirt_uri;
        const char *libvirt_domain_prefix;
        bool no_deployments, no_hpa, no_nodes, no_controllers;
};

/* --pod-command IMAGE=PATH, repeatable; a relative PATH is made absolute. */
static int add_pod_command(const char *value, void *target, char *message, size_t message_size)
{
        struct flags *f = target;
        const char *eq = strchr(value, '=');
        if (!eq || eq == value) {
                snprintf(message, message_size, "want IMAGE=PATH");
                return -EINVAL;
        }
        const char **n = realloc(f->pod_commands, (f->n_pod_commands + 2) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        f->pod_commands = n;
        /* A relative PATH is taken from fakekube's working directory: pods run in
         * their own directories. */
        char *command = NULL;
        char cwd[4096];
        if (eq[1] != '/' && getcwd(cwd, sizeof(cwd))) {
                if (asprintf(&command, "%.*s=%s/%s", (int)(eq - value), value, cwd, eq + 1) < 0)
                        command = NULL;
        } else {
                command = strdup(value);
        }
        if (!command)
                return -ENOMEM;
        f->pod_commands[f->n_pod_commands++] = command;
        f->pod_commands[f->n_pod_commands] = NULL;
        return 0;
}

/* A start-up failure: one line on stderr with its cause (the JSON log on
 * stdout is for a running server). */
static _printf_(1, 2) void startup_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "fakekube: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static void parse_flags(int argc, char **argv, struct flags *f)
{
        static const char *const pod_modes[] = {"virtual", "process", NULL};
        int watch_window = (int)f->server.watch_window, pods = f->process_pods ? 1 : 0;
        const struct flag flags[] = {
                {.name = "listen",
                 .type = FLAG_STRING,
                 .target = &f->server.listen,
                 .metavar = "HOST:PORT",
                 .help = "address to serve on (PORT 0 picks a free port)",
                 .required = true,
                 .env = "FAKEKUBE_LISTEN"},
                {.name = "kubeconfig-out",
                 .type = FLAG_STRING,
                 .target = &f->server.kubeconfig_out,
                 .metavar = "PATH",
                 .help = "write a kubeconfig for kubectl/the operator here (the CA is also "
                         "written to PATH.ca.crt)",
                 .required = true,
                 .env = "FAKEKUBE_KUBECONFIG_OUT"},
                {.name = "data",
                 .type = FLAG_STRING,
                 .target = &f->server.data_file,
                 .metavar = "FILE",
                 .help = "persist objects to FILE across restarts",
                 .env = "FAKEKUBE_DATA"},
                {.name = "openapi",
                 .type = FLAG_STRING,
                 .target = &f->server.openapi_file,
                 .metavar = "FILE",
                 .help = "Kubernetes OpenAPI v2 document",
                 .default_text = "the repository's third_party/kubernetes/swagger-1.36.json",
                 .env = "FAKEKUBE_OPENAPI"},
                {.name = "state-dir",
                 .type = FLAG_STRING,
                 .target = &f->server.state_dir,
                 .metavar = "DIR",
                 .help = "process pods' working directories and logs (served as pods/log)",
                 .default_text = "a new $TMPDIR/fakekube-controllers-*",
                 .env = "FAKEKUBE_STATE_DIR"},
                {.name = "watch-window",
                 .type = FLAG_INT,
                 .target = &watch_window,
                 .min = 1,
                 .help = "watch events retained for resume",
                 .env = "FAKEKUBE_WATCH_WINDOW"},
                {.name = "bookmark-interval",
                 .type = FLAG_DURATION,
                 .target = &f->server.bookmark_interval_ms,
                 .min = 1,
                 .help = "BOOKMARK period for watches that allow them",
                 .env = "FAKEKUBE_BOOKMARK_INTERVAL"},
                {.name = "plain-http",
                 .type = FLAG_BOOL,
                 .target = &f->server.plain_http,
                 .help = "serve plain HTTP instead of HTTPS",
                 .env = "FAKEKUBE_PLAIN_HTTP"},
                {.name = "log-level",
                 .type = FLAG_CUSTOM,
                 .target = &f->log_level,
                 .parse = log_level_parse_flag,
                 .metavar = "LEVEL",
                 .help = "debug, info, warn or error",
                 .default_text = "info",
                 .env = "FAKEKUBE_LOG_LEVEL"},
                {.name = "sync-period",
                 .type = FLAG_DURATION,
                 .target = &f->sync_period_ms,
                 .help = "controllers: HPA sync period",
                 .env = "FAKEKUBE_SYNC_PERIOD"},
                {.name = "pods",
                 .type = FLAG_CHOICE,
                 .target = &pods,
                 .choices = pod_modes,
                 .help = "controllers: pod simulation",
                 .env = "FAKEKUBE_PODS"},
                {.name = "pod-command",
                 .type = FLAG_CUSTOM,
                 .target = f,
                 .parse = add_pod_command,
                 .metavar = "IMAGE=PATH",
                 .help = "controllers: binary to run for IMAGE (process pods; repeatable)"},
                {.name = "pod-ready-delay",
                 .type = FLAG_DURATION,
                 .target = &f->pod_ready_delay_ms,
                 .help = "controllers: virtual pods turn Ready after this",
                 .env = "FAKEKUBE_POD_READY_DELAY"},
                {.name = "nodes",
                 .type = FLAG_INT,
                 .target = &f->nodes,
                 .help = "controllers: static Ready nodes node-1..N",
                 .env = "FAKEKUBE_NODES"},
                {.name = "libvirt-uri",
                 .type = FLAG_STRING,
                 .target = &f->libvirt_uri,
                 .metavar = "URI",
                 .help = "controllers: add one Node per TripDeal libvirt domain",
                 .env = "FAKEKUBE_LIBVIRT_URI"},
                {.name = "libvirt-domain-prefix",
                 .type = FLAG_STRING,
                 .target = &f->libvirt_domain_prefix,
                 .metavar = "PREFIX",
                 .help = "controllers: only domains whose name starts with PREFIX become Nodes "
                         "(other users' VMs on a shared libvirtd stay out of this cluster)",
                 .env = "FAKEKUBE_LIBVIRT_DOMAIN_PREFIX"},
                {.name = "node-boot-delay",
                 .type = FLAG_DURATION,
                 .target = &f->node_boot_delay_ms,
                 .help = "controllers: libvirt domain running -> Node Ready",
                 .env = "FAKEKUBE_NODE_BOOT_DELAY"},
                {.name = "no-deployments",
                 .type = FLAG_BOOL,
                 .target = &f->no_deployments,
                 .help = "no Deployment/ReplicaSet controller"},
                {.name = "no-hpa",
                 .type = FLAG_BOOL,
                 .target = &f->no_hpa,
                 .help = "no HPA controller"},
                {.name = "no-nodes",
                 .type = FLAG_BOOL,
                 .target = &f->no_nodes,
                 .help = "no node lifecycle, scheduling or eviction"},
                {.name = "no-controllers",
                 .type = FLAG_BOOL,
                 .target = &f->no_controllers,
                 .help = "no simulated controllers at all"},
                {0},
        };
        const struct flags_program program = {
                .name = "fakekube",
                .usage = "--listen HOST:PORT --kubeconfig-out PATH [OPTIONS]",
                .summary = "A Kubernetes API server stand-in for tests (HTTPS + bearer token by "
                           "default).",
                .epilog = "Every option can also come from the environment variable in brackets; "
                          "the flag\nwins over the environment.",
                .flags = flags,
        };
        flags_parse(&program, argc, argv);
        f->server.watch_window = (size_t)watch_window;
        f->process_pods = pods == 1;
}

/* "127.0.0.1:8443" -> bound listening socket; *ret_port gets the real port. */
static int listen_socket(const char *address, char *host, size_t host_size, int *ret_port)
{
        const char *colon = strrchr(address, ':');
        if (!colon)
                return -EINVAL;
        size_t hl = (size_t)(colon - address);
        const char *h = address;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                h++;
                hl -= 2;
        }
        if (hl >= host_size)
                return -EINVAL;
        memcpy(host, h, hl);
        host[hl] = '\0';
        if (strcmp(host, "localhost") == 0 || host[0] == '\0')
                snprintf(host, host_size, "127.0.0.1");
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535)
                return -EINVAL;
        struct sockaddr_storage ss = {0};
        socklen_t len;
        int family;
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
                family = a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t)port);
                len = sizeof(*a4);
        } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
                family = a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)port);
                len = sizeof(*a6);
        } else {
                return -EINVAL;
        }
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return NEG_ERRNO();
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0) {
                int r = NEG_ERRNO();
                close(fd);
                return r;
        }
        len = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &len);
        *ret_port = ntohs(family == AF_INET ? a4->sin_port : a6->sin6_port);
        return fd;
}

static int write_file_atomic(const char *path, const char *content, mode_t mode)
{
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
                return -ENOMEM;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return NEG_ERRNO();
        size_t len = strlen(content), off = 0;
        while (off < len) {
                ssize_t n = write(fd, content + off, len - off);
                if (n < 0) {
                        int r = NEG_ERRNO();
                        close(fd);
                        unlink(tmp);
                        return r;
                }
                off += (size_t)n;
        }
        close(fd);
        return rename(tmp, path) < 0 ? NEG_ERRNO() : 0;
}

/* mkdir -p of path's parent directories (a fresh /tmp/td/kubeconfig works). */
static int make_parent_dirs(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        for (char *slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return NEG_ERRNO();
                *slash = '/';
        }
        return 0;
}

static int write_kubeconfig(const struct server *s, const char *ca_pem)
{
        _cleanup_free_ char *ca_b64 = NULL;
        if (ca_pem) {
                size_t len = strlen(ca_pem);
                ca_b64 = malloc(4 * ((len + 2) / 3) + 1);
                if (!ca_b64)
                        return -ENOMEM;
                EVP_EncodeBlock((unsigned char *)ca_b64, (const unsigned char *)ca_pem, (int)len);
        }
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text,
                     "apiVersion: v1\n"
                     "kind: Config\n"
                     "clusters:\n"
                     "- name: fakekube\n"
                     "  cluster:\n"
                     "    server: %s\n"
                     "%s%s%s"
                     "users:\n"
                     "- name: fakekube\n"
                     "  user:\n"
                     "    token: %s\n"
                     "contexts:\n"
                     "- name: fakekube\n"
                     "  context:\n"
                     "    cluster: fakekube\n"
                     "    user: fakekube\n"
                     "    namespace: default\n"
                     "current-context: fakekube\n",
                     s->url, ca_b64 ? "    certificate-authority-data: " : "", ca_b64 ? ca_b64 : "",
                     ca_b64 ? "\n" : "", s->token) < 0)
                return -ENOMEM;
        int r = make_parent_dirs(s->options.kubeconfig_out);
        if (r < 0)
                return r;
        r = write_file_atomic(s->options.kubeconfig_out, text, 0600);
        if (r < 0 || !ca_pem)
                return r;
        _cleanup_free_ char *ca_path = NULL;
        if (asprintf(&ca_path, "%s.ca.crt", s->options.kubeconfig_out) < 0)
                return -ENOMEM;
        return write_file_atomic(ca_path, ca_pem, 0644);
}

/* The namespaces every cluster starts with. */
static void ensure_namespaces(struct server *s)
{
        static const char *names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
        struct resource_type *t = registry_find(s, "", "v1", "namespaces");
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                if (db_get(s, t, NULL, names[i]))
                        continue;
                char uid[37], now[64];
                random_uuid(uid);
                now_rfc3339(now, sizeof(now));
                json_t *ns = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:[s]}, s:{s:s}}",
                                       "apiVersion", "v1", "kind", "Namespace", "metadata", "name",
                                       names[i], "uid", uid, "creationTimestamp", now, "labels",
                                       "kubernetes.io/metadata.name", names[i], "spec",
                                       "finalizers", "kubernetes", "status", "phase", "Active");
                db_put(s, t, ns, true);
        }
}

/* libmicrohttpd's own messages (TLS handshake failures, ...) as debug log lines. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
        if (!log_enabled(LOG_LEVEL_DEBUG))
                return;
        char buf[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        log_emit(LOG_LEVEL_DEBUG, json_pack("{s:s}", "detail", buf), "http server");
}

struct lifecycle_thread {
        struct server *s;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t stop_signal;
        bool stop; /* under lock */
};

/*
 * Every 100 ms, under the server lock: GC, graceful deletion, namespace
 * termination, PDB status, and the debounced write of --data.  A fixed
 * period (not every store change) keeps the cost independent of write rates.
 */
static void *lifecycle_main(void *arg)
{
        struct lifecycle_thread *lt = arg;
        struct server *s = lt->s;
        int64_t last_save = 0;
        pthread_mutex_lock(&lt->lock);
        while (!lt->stop) {
                pthread_mutex_unlock(&lt->lock);
                pthread_mutex_lock(&s->lock);
                lifecycle_pass(s);
                int64_t now = clock_monotonic_ms();
                if (s->dirty && s->options.data_file && now - last_save >= 200) {
                        int r = db_save(s);
                        if (r < 0)
                                log_emit(LOG_LEVEL_ERROR, json_pack("{s:s}", "error", strerror(-r)),
                                         "cannot write data file");
                        last_save = now;
                }
                pthread_mutex_unlock(&s->lock);
                pthread_mutex_lock(&lt->lock);
                int64_t wake = clock_realtime_ms() + 100;
                struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
                if (!lt->stop)
                        pthread_cond_timedwait(&lt->stop_signal, &lt->lock, &ts);
        }
        pthread_mutex_unlock(&lt->lock);
        return NULL;
}

int main(int argc, char **argv)
{
        struct flags f = {
                .server =
                        {
                                .openapi_file = FAKEKUBE_DEFAULT_OPENAPI,
                                .watch_window = 10000,
                                .bookmark_interval_ms = 10000,
                                .default_grace_seconds = 30,
                        },
                .log_level = LOG_LEVEL_INFO,
                .sync_period_ms = 15000,
                .pod_ready_delay_ms = 1000,
                .node_boot_delay_ms = 5000,
                .nodes = 1,
        };
        parse_flags(argc, argv, &f);
        log_setup("fakekube", f.log_level);

        /* Signals are taken synchronously by main; every thread inherits the mask. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        static struct server server;
        struct server *s = &server;
        s->options = f.server;
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_cond_init(&s->changed, &ca);
        int r = registry_init(s);
        if (r < 0) {
                startup_error("cannot initialise the registry: %s", strerror(-r));
                return 1;
        }
        r = schema_load(s);
        if (r < 0) {
                startup_error("cannot read the OpenAPI document %s: %s", s->options.openapi_file,
                              access(s->options.openapi_file, R_OK) < 0 ? strerror(errno)
                                                                        : "not a JSON document");
                return 1;
        }
        if (db_init(s) < 0)
                return 1;
        r = db_load(s);
        if (r < 0) {
                startup_error("cannot read the data file %s: %s", s->options.data_file,
                              access(s->options.data_file, R_OK) < 0 ? strerror(errno)
                              : r == -EINVAL                         ? "not a fakekube data file"
                                                                     : strerror(-r));
                return 1;
        }
        ensure_namespaces(s);

        char host[256];
        int port = 0;
        int fd = listen_socket(s->options.listen, host, sizeof(host), &port);
        if (fd < 0) {
                startup_error("cannot listen on %s: %s", s->options.listen, strerror(-fd));
                return 1;
        }
        bool v6 = strchr(host, ':') != NULL;
        if (asprintf(&s->url, "%s://%s%s%s:%d", s->options.plain_http ? "http" : "https",
                     v6 ? "[" : "", host, v6 ? "]" : "", port) < 0)
                return 1;

        /*
         * Token and certificates: reused from --data when they were made for this host, so
         * that clients holding the old kubeconfig keep working across a restart.
         */
        _cleanup_(tls_material_free) struct tls_material tls = {0};
        json_t *id = s->identity;
        const char *id_host = json_string_value(json_object_get(id, "host"));
        if (id_host && strcmp(id_host, host) == 0 &&
            json_string_value(json_object_get(id, "token"))) {
                s->token = strdup(json_string_value(json_object_get(id, "token")));
                if (json_string_value(json_object_get(id, "ca"))) {
                        tls.ca_cert_pem = strdup(json_string_value(json_object_get(id, "ca")));
                        tls.server_cert_pem =
                                strdup(json_string_value(json_object_get(id, "cert")) ?: "");
                        tls.server_key_pem =
                                strdup(json_string_value(json_object_get(id, "key")) ?: "");
                }
        }
        if (!s->token) {
                unsigned char raw[24];
                if (RAND_bytes(raw, sizeof(raw)) != 1)
                        return 1;
                s->token = calloc(1, 2 * sizeof(raw) + 1);
                for (size_t i = 0; s->token && i < sizeof(raw); i++)
                        sprintf(s->token + 2 * i, "%02x", raw[i]);
        }
        if (!s->options.plain_http && !tls.ca_cert_pem && tls_generate(host, &tls) < 0) {
                startup_error("cannot generate TLS certificates for %s (OpenSSL failed)", host);
                return 1;
        }
        if (!s->token)
                return 1;
        json_decref(s->identity);
        s->identity =
                json_pack("{s:s, s:s, s:s*, s:s*, s:s*}", "token", s->token, "host", host, "ca",
                          tls.ca_cert_pem, "cert", tls.server_cert_pem, "key", tls.server_key_pem);
        _cleanup_free_ char *state_dir = NULL;
#ifdef HAVE_CONTROLLERS
        if (!f.no_controllers && !s->options.state_dir) {
                /* Kept after exit: the logs are for post-mortems. */
                const char *tmp = getenv("TMPDIR");
                if (asprintf(&state_dir, "%s/fakekube-controllers-XXXXXX",
                             tmp && tmp[0] ? tmp : "/tmp") < 0) {
                        state_dir = NULL;
                        return 1;
                }
                if (!mkdtemp(state_dir)) {
                        startup_error("cannot create the state directory %s: %s", state_dir,
                                      strerror(errno));
                        return 1;
                }
                s->options.state_dir = state_dir;
        }
#endif
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ERROR_LOG;
        if (!s->options.plain_http)
                flags |= MHD_USE_TLS;
        struct MHD_Daemon *daemon;
        if (s->options.plain_http)
                daemon = MHD_start_daemon(
                        flags, 0, NULL, NULL, http_handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                        http_request_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_END);
        else
                daemon = MHD_start_daemon(
                        flags, 0, NULL, NULL, http_handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_HTTPS_MEM_KEY,
                        tls.server_key_pem, MHD_OPTION_HTTPS_MEM_CERT, tls.server_cert_pem,
                        MHD_OPTION_NOTIFY_COMPLETED, http_request_completed, NULL,
                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000, MHD_OPTION_CONNECTION_TIMEOUT,
                        (unsigned)0, MHD_OPTION_END);
        if (!daemon) {
                startup_error("cannot start the HTTP server on %s (libmicrohttpd refused it; "
                              "--log-level debug shows its reason)",
                              s->options.listen);
                return 1;
        }
        r = write_kubeconfig(s, s->options.plain_http ? NULL : tls.ca_cert_pem);
        if (r < 0) {
                startup_error("cannot write the kubeconfig %s: %s", s->options.kubeconfig_out,
                              strerror(-r));
                MHD_stop_daemon(daemon);
                return 1;
        }

        if (s->options.data_file) {
                pthread_mutex_lock(&s->lock);
                r = db_save(s);
                pthread_mutex_unlock(&s->lock);
                if (r < 0) {
                        log_emit(LOG_LEVEL_ERROR, json_pack("{s:s}", "path", s->options.data_file),
                                 "cannot write the data file");
                        return 1;
                }
        }
        struct lifecycle_thread lt = {.s = s};
        pthread_mutex_init(&lt.lock, NULL);
        pthread_cond_init(&lt.stop_signal, NULL);
        if (pthread_create(&lt.thread, NULL, lifecycle_main, &lt) != 0)
                return 1;

#ifdef HAVE_CONTROLLERS
        struct controllers *controllers = NULL;
        _cleanup_free_ char *ca_path = NULL;
        if (!s->options.plain_http &&
            asprintf(&ca_path, "%s.ca.crt", s->options.kubeconfig_out) < 0)
                return 1;
        if (!f.no_controllers) {
                struct controllers_options co = {
                        .state_dir = s->options.state_dir,
                        .api_url = s->url,
                        .token = s->token,
                        .ca_file = ca_path,
                        .sync_period_ms = f.sync_period_ms,
                        .pod_ready_delay_ms = f.pod_ready_delay_ms,
                        .node_boot_delay_ms = f.node_boot_delay_ms,
                        .pods_mode = f.process_pods ? PODS_PROCESS : PODS_VIRTUAL,
                        .pod_commands = f.pod_commands,
                        .static_nodes = f.nodes,
                        .libvirt_uri = f.libvirt_uri,
                        .libvirt_domain_prefix = f.libvirt_domain_prefix,
                        .disable_deployments = f.no_deployments,
                        .disable_hpa = f.no_hpa,
                        .disable_nodes = f.no_nodes,
                };
                r = controllers_start(&co, &controllers);
                if (r < 0) {
                        startup_error("cannot start the controllers: %s", strerror(-r));
                        return 1;
                }
        }
#endif

        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:b}", "url", s->url, "kubeconfig",
                           s->options.kubeconfig_out, "tls", !s->options.plain_http),
                 "ready");

        int sig = 0;
        sigwait(&mask, &sig);
        log_emit(LOG_LEVEL_INFO, json_pack("{s:i}", "signal", sig), "stopping");

#ifdef HAVE_CONTROLLERS
        controllers_stop(controllers);
#endif
        pthread_mutex_lock(&lt.lock);
        lt.stop = true;
        pthread_cond_signal(&lt.stop_signal);
        pthread_mutex_unlock(&lt.lock);
        pthread_join(lt.thread, NULL);
        pthread_mutex_lock(&s->lock);
        s->shutting_down = true;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        MHD_stop_daemon(daemon);
        pthread_mutex_lock(&s->lock);
        if (s->options.data_file && db_save(s) < 0)
                log_error("cannot write data file");
        pthread_mutex_unlock(&s->lock);
        db_free(s);
        registry_free(s);
        json_decref(s->swagger);
        json_decref(s->swagger_by_gvk);
        free(s->openapi_v2_text);
        free(s->token);
        free(s->url);
        json_decref(s->identity);
        for (size_t i = 0; i < f.n_pod_commands; i++)
                free((char *)f.pod_commands[i]);
        free(f.pod_commands);
        log_info("stopped");
        return 0;
}
