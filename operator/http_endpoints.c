/* SPDX-License-Identifier: Apache-2.0 */
#include "http_endpoints.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "metrics.h"

struct http_endpoints {
        struct MHD_Daemon *metrics;
        struct MHD_Daemon *health; /* NULL when it is the metrics daemon */
        struct http_endpoints_options options;
};

int http_addr_parse(const char *addr, char *ret_host, unsigned host_size, unsigned *ret_port)
{
        if (!addr)
                return -EINVAL;
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr)
                return -EINVAL;
        const char *host = addr;
        size_t host_len = (size_t)(colon - addr);
        if (host[0] == '[') {
                if (host_len < 3 || host[host_len - 1] != ']')
                        return -EINVAL;
                host++;
                host_len -= 2;
        }
        char *end;
        errno = 0;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port > 65535 || host_len >= host_size)
                return -EINVAL;
        char host_copy[64];
        if (host_len >= sizeof(host_copy))
                return -EINVAL;
        memcpy(host_copy, host, host_len);
        host_copy[host_len] = '\0';
        unsigned char probe[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, host_copy, probe) != 1 && inet_pton(AF_INET6, host_copy, probe) != 1)
                return -EINVAL;
        memcpy(ret_host, host_copy, host_len + 1);
        *ret_port = (unsigned)port;
        return 0;
}

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned code,
                               const char *content_type, char *body, size_t size)
{
        struct MHD_Response *response =
                MHD_create_response_from_buffer(size, body, MHD_RESPMEM_MUST_FREE);
        if (!response) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        enum MHD_Result r = MHD_queue_response(connection, code, response);
        MHD_destroy_response(response);
        return r;
}

static enum MHD_Result respond_text(struct MHD_Connection *connection, unsigned code,
                                    const char *text)
{
        char *body = strdup(text);
        if (!body)
                return MHD_NO;
        return respond(connection, code, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **request_state)
{
        struct http_endpoints *endpoints = cls;
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return respond_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                    "only GET and HEAD are served here\n");

        if (strcmp(url, "/metrics") == 0) {
                char *text = NULL;
                size_t size = 0;
                FILE *out = open_memstream(&text, &size);
                if (!out)
                        return MHD_NO;
                int r = metrics_write(out);
                fclose(out);
                if (r < 0) {
                        free(text);
                        return respond_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                            "cannot write metrics\n");
                }
                return respond(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                               text, size);
        }
        if (strcmp(url, "/healthz") == 0)
                return respond_text(connection, MHD_HTTP_OK, "ok\n");
        if (strcmp(url, "/readyz") == 0) {
                char why[256] = "not ready";
                bool ready =
                        !endpoints->options.ready_fn ||
                        endpoints->options.ready_fn(endpoints->options.userdata, why, sizeof(why));
                if (ready)
                        return respond_text(connection, MHD_HTTP_OK, "ok\n");
                char line[300];
                snprintf(line, sizeof(line), "%s\n", why);
                return respond_text(connection, MHD_HTTP_SERVICE_UNAVAILABLE, line);
        }
        return respond_text(connection, MHD_HTTP_NOT_FOUND,
                            "not found: try /metrics, /healthz or /readyz\n");
}

static int daemon_start(struct http_endpoints *endpoints, const char *addr,
                        struct MHD_Daemon **ret_daemon)
{
        char host[64];
        unsigned port;
        int r = http_addr_parse(addr, host, sizeof(host), &port);
        if (r < 0)
                return r;

        struct sockaddr_storage storage = {0};
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
        if (strchr(host, ':')) {
                struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&storage;
                sa->sin6_family = AF_INET6;
                sa->sin6_port = htons((uint16_t)port);
                inet_pton(AF_INET6, host, &sa->sin6_addr);
                flags |= MHD_USE_IPv6;
        } else {
                struct sockaddr_in *sa = (struct sockaddr_in *)&storage;
                sa->sin_family = AF_INET;
                sa->sin_port = htons((uint16_t)port);
                inet_pton(AF_INET, host, &sa->sin_addr);
        }
        /* Bounded: a scraper or probe that stalls is cut after 10 s. */
        struct MHD_Daemon *daemon = MHD_start_daemon(
                flags, (uint16_t)port, NULL, NULL, handle, endpoints, MHD_OPTION_SOCK_ADDR,
                (struct sockaddr *)&storage, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
        if (!daemon)
                return errno > 0 ? -errno : -EADDRINUSE;
        *ret_daemon = daemon;
        return 0;
}

static bool addr_wanted(const char *addr)
{
        return addr && *addr && strcmp(addr, "0") != 0;
}

int http_endpoints_start(const struct http_endpoints_options *options,
                         struct http_endpoints **ret_endpoints)
{
        struct http_endpoints *endpoints = calloc(1, sizeof(*endpoints));
        if (!endpoints)
                return -ENOMEM;
        endpoints->options = *options;

        int r = 0;
        if (addr_wanted(options->metrics_addr))
                r = daemon_start(endpoints, options->metrics_addr, &endpoints->metrics);
        if (r == 0 && addr_wanted(options->health_addr) &&
            !(addr_wanted(options->metrics_addr) &&
              strcmp(options->metrics_addr, options->health_addr) == 0))
                r = daemon_start(endpoints, options->health_addr, &endpoints->health);
        if (r < 0) {
                http_endpoints_stop(endpoints);
                return r;
        }
        /* Pointers into options are not kept past start. */
        endpoints->options.metrics_addr = endpoints->options.health_addr = NULL;
        *ret_endpoints = endpoints;
        return 0;
}

void http_endpoints_stop(struct http_endpoints *endpoints)
{
        if (!endpoints)
                return;
        if (endpoints->metrics)
                MHD_stop_daemon(endpoints->metrics);
        if (endpoints->health)
                MHD_stop_daemon(endpoints->health);
        free(endpoints);
}

static unsigned daemon_port(struct MHD_Daemon *daemon)
{
        if (!daemon)
                return 0;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
        return info ? info->port : 0;
}

unsigned http_endpoints_metrics_port(const struct http_endpoints *endpoints)
{
        return daemon_port(endpoints->metrics);
}

unsigned http_endpoints_health_port(const struct http_endpoints *endpoints)
{
        return daemon_port(endpoints->health ? endpoints->health : endpoints->metrics);
}
