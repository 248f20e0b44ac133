/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-app: flags and environment, start-up (database, migrations, seed,
 * listeners), then signal handling and the graceful drain on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "macros.h"
#include "routes.h"
#include "server.h"
#include "store.h"

#define PROGRAM "tripdeal-app"

static const char summary_text[] =
        "The TripDeal travel site: pages, JSON API, live stock over WebSocket.\n"
        "Every option can also come from the environment variable in brackets;\n"
        "the flag wins over the environment.";

static const char epilog_text[] =
        "The session secret itself may come from TRIPDEAL_SECRET instead of --secret-file.\n"
        "Replicas that share sessions need the same secret; without one each process\n"
        "uses a random secret (sessions end with the process).\n"
        "\n"
        "Durations: 500ms, 10s, 1m30s.  Exit status: 0 after a clean shutdown, 1 when the\n"
        "database or the listener cannot be set up, 2 for bad flags or values.";

/* --listen: "127.0.0.1:8080", "0.0.0.0:80", "[::1]:8080", "localhost:8080". */
static int parse_listen(const char *text, void *target, char *message, size_t message_size)
{
        struct app_config *config = target;
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text) {
                snprintf(message, message_size, "want ADDR:PORT");
                return -EINVAL;
        }
        const char *host = text;
        size_t host_length = (size_t)(colon - text);
        if (text[0] == '[') {
                if (colon[-1] != ']') {
                        snprintf(message, message_size, "want [IPv6]:PORT");
                        return -EINVAL;
                }
                host++;
                host_length -= 2;
        }
        char host_copy[sizeof(config->listen_host)];
        if (host_length == 0 || host_length >= sizeof(host_copy)) {
                snprintf(message, message_size, "bad address");
                return -EINVAL;
        }
        memcpy(host_copy, host, host_length);
        host_copy[host_length] = '\0';

        unsigned char address[16];
        if (strcmp(host_copy, "localhost") != 0 && inet_pton(AF_INET, host_copy, address) != 1 &&
            inet_pton(AF_INET6, host_copy, address) != 1) {
                snprintf(message, message_size,
                         "the address must be numeric IPv4/IPv6 or localhost");
                return -EINVAL;
        }
        int64_t port = 0;
        if ((http_parse_positive_int(colon + 1, &port) < 0 && strcmp(colon + 1, "0") != 0) ||
            port > 65535) {
                snprintf(message, message_size, "bad port");
                return -EINVAL;
        }
        memcpy(config->listen_host, host_copy, sizeof(host_copy));
        config->listen_port = (int)port;
        return 0;
}

/* --db: never echoed (the URL may hold a password); the flag is .secret. */
static int parse_database_url(const char *text, void *target, char *message, size_t message_size)
{
        if (store_url_check(text) < 0) {
                snprintf(message, message_size,
                         "want sqlite:PATH or postgresql://USER@HOST[:PORT]/DB");
                return -EINVAL;
        }
        *(const char **)target = text;
        return 0;
}

static int load_secret(const char *secret_file, struct session_keys *keys, bool *ret_random)
{
        *ret_random = false;
        if (secret_file) {
                _cleanup_fclose_ FILE *f = fopen(secret_file, "re");
                if (!f)
                        return -errno;
                unsigned char buffer[SESSION_SECRET_MAX + 2];
                size_t n = fread(buffer, 1, sizeof(buffer), f);
                /* A trailing newline from `echo` is not part of the secret. */
                while (n > 0 && (buffer[n - 1] == '\n' || buffer[n - 1] == '\r'))
                        n--;
                int r = session_keys_from_secret(buffer, n, keys);
                OPENSSL_cleanse(buffer, sizeof(buffer));
                return r;
        }
        const char *secret = getenv("TRIPDEAL_SECRET");
        if (secret && *secret)
                return session_keys_from_secret(secret, strlen(secret), keys);
        *ret_random = true;
        return session_keys_random(keys);
}

/*
 * One worker per CPU this process may use: the affinity mask, lowered by a
 * cgroup v2 CPU quota (a pod with limits.cpu=1 gets 1), at most 8.  Each
 * worker holds a database connection, so replicas x threads must stay below
 * the server's connection limit.
 */
static int default_threads(void)
{
        cpu_set_t set;
        int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
        if (cpus <= 0)
                cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);

        _cleanup_fclose_ FILE *f = fopen("/sys/fs/cgroup/cpu.max", "re");
        long long quota = 0, period = 0;
        if (f && fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
                long long limit = (quota + period - 1) / period;
                if (limit < cpus)
                        cpus = (int)limit;
        }
        return cpus < 1 ? 1 : cpus > 8 ? 8 : cpus;
}

/*
 * Slow clients may hold a connection in each of two states (head, body):
 * together at most half the descriptors this process may open, so that
 * new connections, the database and the listener always find one.
 */
static int default_max_incomplete_requests(void)
{
        struct rlimit limit;
        int64_t files = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                                ? (int64_t)limit.rlim_cur
                                : 4096;
        int64_t cap = files / 4;
        return cap < 8 ? 8 : cap > 1024 ? 1024 : (int)cap;
}

static void parse_flags(int argc, char **argv, struct app_config *config,
                        const char **ret_secret_file, enum log_level *ret_level)
{
        /* The values as the flags take them; config gets its own types below. */
        int threads = default_threads(), claim_threads = 0;
        int max_body_bytes = 65536, max_header_bytes = 8192;
        int max_incomplete_requests = default_max_incomplete_requests();
        int64_t idle_ms = 75000, request_timeout_ms = 10000, stock_poll_ms = 500,
                page_cache_ms = 1000;
        *config = (struct app_config){
                .listen_host = "127.0.0.1",
                .listen_port = 8080,
                .database_url = "sqlite:tripdeal.db",
                .grace_ms = 25000,
        };
        const struct flag flags[] = {
                {.name = "listen",
                 .type = FLAG_CUSTOM,
                 .target = config,
                 .parse = parse_listen,
                 .metavar = "ADDR:PORT",
                 .help = "address to serve on; port 0 = any free port",
                 .default_text = "127.0.0.1:8080",
                 .env = "TRIPDEAL_LISTEN"},
                {.name = "db",
                 .type = FLAG_CUSTOM,
                 .target = &config->database_url,
                 .parse = parse_database_url,
                 .secret = true,
                 .metavar = "URL",
                 .help = "sqlite:PATH or postgresql://...",
                 .default_text = "sqlite:tripdeal.db",
                 .env = "TRIPDEAL_DB"},
                {.name = "seed-demo",
                 .type = FLAG_BOOL,
                 .target = &config->seed_demo,
                 .help = "load demo products, deals and posts (idempotent)",
                 .env = "TRIPDEAL_SEED_DEMO"},
                {.name = "log-level",
                 .type = FLAG_CUSTOM,
                 .target = ret_level,
                 .parse = log_level_parse_flag,
                 .metavar = "LEVEL",
                 .help = "debug, info, warn or error",
                 .default_text = "info",
                 .env = "TRIPDEAL_LOG_LEVEL"},
                {.name = "threads",
                 .type = FLAG_INT,
                 .target = &threads,
                 .min = 1,
                 .max = 64,
                 .help = "HTTP worker threads, one database connection each",
                 .default_text = "usable CPUs incl. cgroup quota, at most 8",
                 .env = "TRIPDEAL_THREADS"},
                {.name = "claim-threads",
                 .type = FLAG_INT,
                 .target = &claim_threads,
                 .min = 1,
                 .max = 256,
                 .help = "threads that run claims, one database connection each",
                 .default_text = "32 for PostgreSQL, 2 for SQLite",
                 .env = "TRIPDEAL_CLAIM_THREADS"},
                {.name = "secret-file",
                 .type = FLAG_STRING,
                 .target = ret_secret_file,
                 .metavar = "PATH",
                 .help = "cookie-signing secret, >= 16 bytes",
                 .env = "TRIPDEAL_SECRET_FILE"},
                {.name = "grace-period",
                 .type = FLAG_DURATION,
                 .target = &config->grace_ms,
                 .help = "SIGTERM: longest wait for in-flight requests",
                 .env = "TRIPDEAL_GRACE_PERIOD"},
                {.name = "shutdown-delay",
                 .type = FLAG_DURATION,
                 .target = &config->shutdown_delay_ms,
                 .help = "SIGTERM: keep serving, not ready, this long before closing the "
                         "listener",
                 .env = "TRIPDEAL_SHUTDOWN_DELAY"},
                {.name = "max-body-bytes",
                 .type = FLAG_INT,
                 .target = &max_body_bytes,
                 .min = 1,
                 .max = 64 << 20,
                 .help = "larger request bodies get 413",
                 .env = "TRIPDEAL_MAX_BODY_BYTES"},
                {.name = "max-header-bytes",
                 .type = FLAG_INT,
                 .target = &max_header_bytes,
                 .min = 1024,
                 .max = 65535,
                 .help = "request line + headers, else 431",
                 .env = "TRIPDEAL_MAX_HEADER_BYTES"},
                {.name = "idle-timeout",
                 .type = FLAG_DURATION,
                 .target = &idle_ms,
                 .min = 1,
                 .help = "close idle keep-alive connections (longer than a proxy's upstream "
                         "keep-alive)",
                 .env = "TRIPDEAL_IDLE_TIMEOUT"},
                {.name = "request-timeout",
                 .type = FLAG_DURATION,
                 .target = &request_timeout_ms,
                 .min = 1,
                 .help = "408 and close when headers and body are not complete this long "
                         "after the request began",
                 .env = "TRIPDEAL_REQUEST_TIMEOUT"},
                {.name = "max-incomplete-requests",
                 .type = FLAG_INT,
                 .target = &max_incomplete_requests,
                 .min = 1,
                 .max = 1 << 20,
                 .metavar = "N",
                 .help = "connections still sending a request head, and those still sending a "
                         "body, each at most N; past it the oldest gets 408",
                 .default_text = "open-file limit / 4, at most 1024",
                 .env = "TRIPDEAL_MAX_INCOMPLETE_REQUESTS"},
                {.name = "stock-poll-interval",
                 .type = FLAG_DURATION,
                 .target = &stock_poll_ms,
                 .min = 50,
                 .max = INT_MAX,
                 .help = "re-read stock to see other replicas' claims",
                 .env = "TRIPDEAL_STOCK_POLL_INTERVAL"},
                {.name = "page-cache",
                 .type = FLAG_DURATION,
                 .target = &page_cache_ms,
                 .max = INT_MAX,
                 .help = "render \"/\" and re-read the deal list at most once per this per "
                         "thread; 0 disables",
                 .env = "TRIPDEAL_PAGE_CACHE"},
                {.name = "cookie-secure",
                 .type = FLAG_BOOL,
                 .target = &config->cookie_secure,
                 .help = "mark the session cookie Secure (behind HTTPS)",
                 .env = "TRIPDEAL_COOKIE_SECURE"},
                {0},
        };
        const struct flags_program program = {
                .name = PROGRAM,
                .summary = summary_text,
                .epilog = epilog_text,
                .flags = flags,
        };
        flags_parse(&program, argc, argv);

        config->threads = threads;
        /* Claims wait for a commit; many at once let the store combine them
         * (PostgreSQL).  SQLite has one writer at a time: a few suffice. */
        bool sqlite = strncmp(config->database_url, "sqlite:", 7) == 0;
        config->claim_threads = claim_threads > 0 ? claim_threads : sqlite ? 2 : 32;
        config->max_body_bytes = (size_t)max_body_bytes;
        config->max_header_bytes = (unsigned)max_header_bytes;
        config->idle_timeout_seconds = (int)((idle_ms + 999) / 1000);
        config->request_timeout_seconds = (int)((request_timeout_ms + 999) / 1000);
        config->max_incomplete_requests = (size_t)max_incomplete_requests;
        config->stock_poll_ms = (int)stock_poll_ms;
        config->main_page_cache_ms = (int)page_cache_ms;
}

/* Migrations and the optional seed, on a connection of their own. */
static int prepare_database(const struct app_config *config)
{
        struct store *store = NULL;
        struct tripdeal_error error = {0};
        int r = store_open(&(struct store_options){.url = config->database_url}, &store, &error);
        if (r < 0) {
                log_emit(LOG_LEVEL_ERROR,
                         json_pack("{s:s}", "error", tripdeal_error_message(&error)),
                         "cannot open the database: %s", strerror(-r));
                return r;
        }
        r = store_migrate(store, &error);
        if (r < 0) {
                log_emit(LOG_LEVEL_ERROR,
                         json_pack("{s:s}", "error", tripdeal_error_message(&error)),
                         "database migration failed: %s", strerror(-r));
                store_close(store);
                return r;
        }
        if (config->seed_demo) {
                r = store_seed_demo(store, time(NULL), &error);
                if (r < 0) {
                        log_emit(LOG_LEVEL_ERROR,
                                 json_pack("{s:s}", "error", tripdeal_error_message(&error)),
                                 "loading demo data failed: %s", strerror(-r));
                        store_close(store);
                        return r;
                }
        }
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:b}", "backend", store_backend_name(store), "seed_demo",
                           config->seed_demo),
                 "database ready");
        store_close(store);
        return 0;
}

/* The stock feed calls this from any thread; the server may not exist yet. */
static _Atomic(struct server *) running_server;

static void stock_changed(void *userdata)
{
        server_notify_stock(atomic_load(&running_server));
}

/*
 * SIGTERM: readiness off at once; after --shutdown-delay refuse new
 * connections; wait for in-flight requests (bounded by --grace-period);
 * then close everything.
 */
static void drain(struct app *app, struct server *server, int signal_number)
{
        int64_t started = clock_monotonic_ms();
        atomic_store(&app->draining, true);
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:I, s:I}", "signal", strsignal(signal_number), "grace_ms",
                           (json_int_t)app->config.grace_ms, "shutdown_delay_ms",
                           (json_int_t)app->config.shutdown_delay_ms),
                 "draining: not ready any more");

        int64_t deadline = started + app->config.grace_ms;
        int64_t delay_end = started + app->config.shutdown_delay_ms;
        while (clock_monotonic_ms() < delay_end && clock_monotonic_ms() < deadline)
                nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);

        server_stop_accepting(server);
        while (atomic_load(&app->in_flight) > 0 && clock_monotonic_ms() < deadline)
                nanosleep(&(struct timespec){.tv_nsec = 5 * 1000000}, NULL);
        int left = atomic_load(&app->in_flight);
        if (left > 0)
                log_emit(LOG_LEVEL_WARN, json_pack("{s:i}", "in_flight", left),
                         "grace period over with requests still in flight");
}

int main(int argc, char **argv)
{
        struct app app = {0};
        const char *secret_file = NULL;
        enum log_level level = LOG_LEVEL_INFO;

        parse_flags(argc, argv, &app.config, &secret_file, &level);
        log_setup(PROGRAM, level);

        bool random_secret = false;
        int r = load_secret(secret_file, &app.keys, &random_secret);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": cannot use the session secret: %s (need %d..%d bytes)\n",
                        strerror(-r), SESSION_SECRET_MIN, SESSION_SECRET_MAX);
                return 2;
        }
        if (random_secret)
                log_warn("no --secret-file or TRIPDEAL_SECRET: using a random session secret; "
                         "sessions end with this process and are not shared between replicas");

        /* Signals are taken by sigwait() below; every thread inherits the mask. */
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (prepare_database(&app.config) < 0)
                return 1;

        /* Route patterns are the only values of the metrics' route label. */
        const char *route_labels[METRICS_MAX_ROUTES];
        size_t n_routes = routes_count();
        for (size_t i = 0; i < n_routes && i < METRICS_MAX_ROUTES; i++)
                route_labels[i] = routes_pattern(i);
        r = metrics_new(route_labels, n_routes, &app.metrics);
        if (r >= 0)
                r = stock_feed_new(
                        &(struct stock_feed_options){.database_url = app.config.database_url,
                                                     .poll_interval_ms = app.config.stock_poll_ms,
                                                     .changed = stock_changed},
                        &app.stock);
        if (r < 0) {
                log_error("start-up failed: %s", strerror(-r));
                return 1;
        }

        struct server *server = NULL;
        r = server_new(&app, &server);
        if (r < 0) {
                log_emit(LOG_LEVEL_ERROR,
                         json_pack("{s:s, s:i}", "host", app.config.listen_host, "port",
                                   app.config.listen_port),
                         "cannot listen: address in use or not available");
                stock_feed_free(app.stock);
                metrics_free(app.metrics);
                return 1;
        }
        atomic_store(&running_server, server);
        r = stock_feed_start(app.stock);
        if (r >= 0)
                r = server_start(server);
        if (r < 0) {
                log_error("cannot start threads: %s", strerror(-r));
                return 1;
        }

        char url[128];
        bool ipv6 = strchr(app.config.listen_host, ':') != NULL;
        snprintf(url, sizeof(url), "http://%s%s%s:%d/", ipv6 ? "[" : "", app.config.listen_host,
                 ipv6 ? "]" : "", server_port(server));
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:i, s:i, s:i}", "url", url, "port", server_port(server),
                           "threads", app.config.threads, "claim_threads",
                           app.config.claim_threads),
                 "listening");

        int signal_number = 0;
        sigwait(&signals, &signal_number);
        drain(&app, server, signal_number);

        atomic_store(&running_server, NULL);
        server_free(server);
        stock_feed_free(app.stock);
        metrics_free(app.metrics);
        OPENSSL_cleanse(&app.keys, sizeof(app.keys));
        log_info("stopped");
        return 0;
}
