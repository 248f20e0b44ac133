/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-app: flags and environment, start-up (database, migrations, seed,
 * listeners), then signal handling and the graceful drain on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "duration.h"
#include "http.h"
#include "log.h"
#include "macros.h"
#include "routes.h"
#include "server.h"
#include "store.h"

#define PROGRAM "tripdeal-app"

static const char usage_text[] =
        "Usage: tripdeal-app [OPTIONS]\n"
        "\n"
        "The TripDeal travel site: pages, JSON API, live stock over WebSocket.\n"
        "Every option can also come from the environment variable in brackets;\n"
        "the flag wins over the environment.\n"
        "\n"
        "  --listen ADDR:PORT       address to serve on [TRIPDEAL_LISTEN]\n"
        "                           (default 127.0.0.1:8080; port 0 = any free port)\n"
        "  --db URL                 sqlite:PATH or postgresql://... [TRIPDEAL_DB]\n"
        "                           (default sqlite:tripdeal.db)\n"
        "  --seed-demo              load demo products, deals and posts (idempotent)\n"
        "                           [TRIPDEAL_SEED_DEMO=1]\n"
        "  --log-level LEVEL        debug|info|warn|error (default info) [TRIPDEAL_LOG_LEVEL]\n"
        "  --threads N              HTTP worker threads, one database connection each\n"
        "                           (default: usable CPUs incl. cgroup quota, at most 8)\n"
        "                           [TRIPDEAL_THREADS]\n"
        "  --claim-threads N        threads that run claims, one database connection each\n"
        "                           (default 32 for PostgreSQL, 2 for SQLite)\n"
        "                           [TRIPDEAL_CLAIM_THREADS]\n"
        "  --secret-file PATH       cookie-signing secret, >= 16 bytes [TRIPDEAL_SECRET_FILE];\n"
        "                           or the secret itself in TRIPDEAL_SECRET.  Replicas that\n"
        "                           share sessions need the same secret.  Default: a random\n"
        "                           secret per process (sessions end with the process)\n"
        "  --grace-period DUR       SIGTERM: longest wait for in-flight requests (default 25s)\n"
        "                           [TRIPDEAL_GRACE_PERIOD]\n"
        "  --shutdown-delay DUR     SIGTERM: keep serving, not ready, this long before\n"
        "                           closing the listener (default 0s) [TRIPDEAL_SHUTDOWN_DELAY]\n"
        "  --max-body-bytes N       larger request bodies get 413 (default 65536)\n"
        "                           [TRIPDEAL_MAX_BODY_BYTES]\n"
        "  --max-header-bytes N     request line + headers, else 431 (default 8192, max 65535)\n"
        "                           [TRIPDEAL_MAX_HEADER_BYTES]\n"
        "  --idle-timeout DUR       close idle keep-alive connections (default 75s,\n"
        "                           longer than a proxy's upstream keep-alive)\n"
        "                           [TRIPDEAL_IDLE_TIMEOUT]\n"
        "  --request-timeout DUR    close when headers or body are not complete in time\n"
        "                           (default 10s) [TRIPDEAL_REQUEST_TIMEOUT]\n"
        "  --stock-poll-interval DUR  re-read stock to see other replicas' claims\n"
        "                           (default 500ms) [TRIPDEAL_STOCK_POLL_INTERVAL]\n"
        "  --page-cache DUR         render \"/\" and re-read the deal list at most once per\n"
        "                           this per thread (default 1s; 0 disables)\n"
        "                           [TRIPDEAL_PAGE_CACHE]\n"
        "  --cookie-secure          mark the session cookie Secure (behind HTTPS)\n"
        "                           [TRIPDEAL_COOKIE_SECURE=1]\n"
        "  --help                   show this help\n"
        "\n"
        "Durations: 500ms, 10s, 1m30s.  Exit status: 0 after a clean shutdown, 1 when the\n"
        "database or the listener cannot be set up, 2 for bad flags or values.\n";

/* One line on stderr and exit 2, as the pinned interface says. */
_printf_(1, 2) static _Noreturn void usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs(PROGRAM ": ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs(" (see --help)\n", stderr);
        va_end(ap);
        exit(2);
}

static const char *flag_or_env(const char *flag, const char *env)
{
        if (flag)
                return flag;
        const char *value = getenv(env);
        return value && *value ? value : NULL;
}

/* "1", "true", "yes" (any case) -> true; unset, empty or anything else -> false. */
static bool env_bool(const char *env)
{
        const char *value = getenv(env);
        return value && (strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0 ||
                         strcasecmp(value, "yes") == 0);
}

static int64_t parse_duration_flag(const char *name, const char *text, int64_t fallback)
{
        if (!text)
                return fallback;
        int64_t ms = 0;
        if (duration_parse_ms(text, &ms) < 0 || ms < 0)
                usage_error("bad duration for --%s: \"%s\"", name, text);
        return ms;
}

static int64_t parse_number_flag(const char *name, const char *text, int64_t fallback, int64_t min,
                                 int64_t max)
{
        if (!text)
                return fallback;
        int64_t value = 0;
        if ((http_parse_positive_int(text, &value) < 0 && strcmp(text, "0") != 0) || value < min ||
            value > max)
                usage_error("bad value for --%s: \"%s\" (want %" PRId64 "..%" PRId64 ")", name,
                            text, min, max);
        return value;
}

/* "127.0.0.1:8080", "0.0.0.0:80", "[::1]:8080", "localhost:8080". */
static void parse_listen(const char *text, struct app_config *config)
{
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text)
                usage_error("bad --listen \"%s\": want ADDR:PORT", text);
        const char *host = text;
        size_t host_length = (size_t)(colon - text);
        if (text[0] == '[') {
                if (colon[-1] != ']')
                        usage_error("bad --listen \"%s\": want [IPv6]:PORT", text);
                host++;
                host_length -= 2;
        }
        if (host_length == 0 || host_length >= sizeof(config->listen_host))
                usage_error("bad --listen \"%s\": bad address", text);
        memcpy(config->listen_host, host, host_length);
        config->listen_host[host_length] = '\0';

        unsigned char address[16];
        if (strcmp(config->listen_host, "localhost") != 0 &&
            inet_pton(AF_INET, config->listen_host, address) != 1 &&
            inet_pton(AF_INET6, config->listen_host, address) != 1)
                usage_error("bad --listen \"%s\": the address must be numeric IPv4/IPv6 or "
                            "localhost",
                            text);
        int64_t port = 0;
        if ((http_parse_positive_int(colon + 1, &port) < 0 && strcmp(colon + 1, "0") != 0) ||
            port > 65535)
                usage_error("bad --listen \"%s\": bad port", text);
        config->listen_port = (int)port;
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

static void parse_flags(int argc, char **argv, struct app_config *config,
                        const char **ret_secret_file, enum log_level *ret_level)
{
        enum {
                OPT_LISTEN = 256,
                OPT_DB,
                OPT_SEED,
                OPT_LOG_LEVEL,
                OPT_THREADS,
                OPT_CLAIM_THREADS,
                OPT_SECRET_FILE,
                OPT_GRACE,
                OPT_SHUTDOWN_DELAY,
                OPT_MAX_BODY,
                OPT_MAX_HEADER,
                OPT_IDLE,
                OPT_REQUEST_TIMEOUT,
                OPT_STOCK_POLL,
                OPT_PAGE_CACHE,
                OPT_COOKIE_SECURE,
                OPT_HELP,
        };
        static const struct option options[] = {
                {"listen", required_argument, NULL, OPT_LISTEN},
                {"db", required_argument, NULL, OPT_DB},
                {"seed-demo", no_argument, NULL, OPT_SEED},
                {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
                {"threads", required_argument, NULL, OPT_THREADS},
                {"claim-threads", required_argument, NULL, OPT_CLAIM_THREADS},
                {"secret-file", required_argument, NULL, OPT_SECRET_FILE},
                {"grace-period", required_argument, NULL, OPT_GRACE},
                {"shutdown-delay", required_argument, NULL, OPT_SHUTDOWN_DELAY},
                {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
                {"max-header-bytes", required_argument, NULL, OPT_MAX_HEADER},
                {"idle-timeout", required_argument, NULL, OPT_IDLE},
                {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
                {"stock-poll-interval", required_argument, NULL, OPT_STOCK_POLL},
                {"page-cache", required_argument, NULL, OPT_PAGE_CACHE},
                {"cookie-secure", no_argument, NULL, OPT_COOKIE_SECURE},
                {"help", no_argument, NULL, OPT_HELP},
                {0},
        };
        const char *listen = NULL, *db = NULL, *level = NULL, *threads = NULL,
                   *claim_threads = NULL, *secret_file = NULL, *grace = NULL, *delay = NULL,
                   *max_body = NULL, *max_header = NULL, *idle = NULL, *request_timeout = NULL,
                   *poll = NULL, *page_cache = NULL;

        opterr = 0; /* our own one-line errors */
        for (;;) {
                int index = 0;
                /* A leading ':' makes a missing value ':' rather than '?'. */
                int c = getopt_long(argc, argv, ":", options, &index);
                if (c == -1)
                        break;
                switch (c) {
                case OPT_LISTEN:
                        listen = optarg;
                        break;
                case OPT_DB:
                        db = optarg;
                        break;
                case OPT_SEED:
                        config->seed_demo = true;
                        break;
                case OPT_LOG_LEVEL:
                        level = optarg;
                        break;
                case OPT_THREADS:
                        threads = optarg;
                        break;
                case OPT_CLAIM_THREADS:
                        claim_threads = optarg;
                        break;
                case OPT_SECRET_FILE:
                        secret_file = optarg;
                        break;
                case OPT_GRACE:
                        grace = optarg;
                        break;
                case OPT_SHUTDOWN_DELAY:
                        delay = optarg;
                        break;
                case OPT_MAX_BODY:
                        max_body = optarg;
                        break;
                case OPT_MAX_HEADER:
                        max_header = optarg;
                        break;
                case OPT_IDLE:
                        idle = optarg;
                        break;
                case OPT_REQUEST_TIMEOUT:
                        request_timeout = optarg;
                        break;
                case OPT_STOCK_POLL:
                        poll = optarg;
                        break;
                case OPT_PAGE_CACHE:
                        page_cache = optarg;
                        break;
                case OPT_COOKIE_SECURE:
                        config->cookie_secure = true;
                        break;
                case OPT_HELP:
                        fputs(usage_text, stdout);
                        exit(0);
                case ':':
                        usage_error("option %s needs a value", argv[optind - 1]);
                default:
                        usage_error("unknown option %s", argv[optind - 1]);
                }
        }
        if (optind < argc)
                usage_error("unexpected argument \"%s\"", argv[optind]);
        if (!config->seed_demo)
                config->seed_demo = env_bool("TRIPDEAL_SEED_DEMO");
        if (!config->cookie_secure)
                config->cookie_secure = env_bool("TRIPDEAL_COOKIE_SECURE");

        parse_listen(flag_or_env(listen, "TRIPDEAL_LISTEN") ?: "127.0.0.1:8080", config);

        config->database_url = flag_or_env(db, "TRIPDEAL_DB") ?: "sqlite:tripdeal.db";
        /* Never echo the URL: it may hold a password. */
        if (store_url_check(config->database_url) < 0)
                usage_error("bad --db: want sqlite:PATH or postgresql://USER@HOST[:PORT]/DB");

        level = flag_or_env(level, "TRIPDEAL_LOG_LEVEL") ?: "info";
        if (log_level_from_string(level, ret_level) < 0)
                usage_error("bad --log-level \"%s\": want debug, info, warn or error", level);

        config->threads = (int)parse_number_flag(
                "threads", flag_or_env(threads, "TRIPDEAL_THREADS"), default_threads(), 1, 64);
        /* Claims wait for a commit; many at once let the store combine them
         * (PostgreSQL).  SQLite has one writer at a time: a few suffice. */
        bool sqlite = strncmp(config->database_url, "sqlite:", 7) == 0;
        config->claim_threads = (int)parse_number_flag(
                "claim-threads", flag_or_env(claim_threads, "TRIPDEAL_CLAIM_THREADS"),
                sqlite ? 2 : 32, 1, 256);
        *ret_secret_file = flag_or_env(secret_file, "TRIPDEAL_SECRET_FILE");
        config->grace_ms = parse_duration_flag("grace-period",
                                               flag_or_env(grace, "TRIPDEAL_GRACE_PERIOD"), 25000);
        config->shutdown_delay_ms = parse_duration_flag(
                "shutdown-delay", flag_or_env(delay, "TRIPDEAL_SHUTDOWN_DELAY"), 0);
        config->max_body_bytes = (size_t)parse_number_flag(
                "max-body-bytes", flag_or_env(max_body, "TRIPDEAL_MAX_BODY_BYTES"), 65536, 1,
                64 << 20);
        config->max_header_bytes = (unsigned)parse_number_flag(
                "max-header-bytes", flag_or_env(max_header, "TRIPDEAL_MAX_HEADER_BYTES"), 8192,
                1024, 65535);
        config->idle_timeout_seconds =
                (int)((parse_duration_flag("idle-timeout",
                                           flag_or_env(idle, "TRIPDEAL_IDLE_TIMEOUT"), 75000) +
                       999) /
                      1000);
        config->request_timeout_seconds =
                (int)((parse_duration_flag("request-timeout",
                                           flag_or_env(request_timeout, "TRIPDEAL_REQUEST_TIMEOUT"),
                                           10000) +
                       999) /
                      1000);
        config->stock_poll_ms = (int)parse_duration_flag(
                "stock-poll-interval", flag_or_env(poll, "TRIPDEAL_STOCK_POLL_INTERVAL"), 500);
        config->main_page_cache_ms = (int)parse_duration_flag(
                "page-cache", flag_or_env(page_cache, "TRIPDEAL_PAGE_CACHE"), 1000);
        if (config->idle_timeout_seconds < 1 || config->request_timeout_seconds < 1)
                usage_error("timeouts must be at least 1s");
        if (config->stock_poll_ms < 50)
                usage_error("--stock-poll-interval must be at least 50ms");
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
        r = store_migrate(store);
        if (r < 0) {
                log_emit(LOG_LEVEL_ERROR, json_pack("{s:s}", "error", store_last_error(store)),
                         "database migration failed: %s", strerror(-r));
                store_close(store);
                return r;
        }
        if (config->seed_demo) {
                r = store_seed_demo(store, time(NULL));
                if (r < 0) {
                        log_emit(LOG_LEVEL_ERROR,
                                 json_pack("{s:s}", "error", store_last_error(store)),
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
