/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakekube-pod-server: a tiny HTTP server for process-pod tests (the
 * "container image" the integration tests map with --pod-command).
 *
 *   fakekube-pod-server --listen IP:PORT [--burn]
 *
 * GET /          200 "hello from NAME at IP:PORT" (NAME from $POD_NAME or $HOSTNAME)
 * GET /healthz   200, or 500 once the file "unhealthy" exists in the working directory
 * GET /ready     200, or 503 while the file "not-ready" exists in the working directory
 * GET /env/NAME  200 with the value of environment variable NAME, 404 if unset
 * --burn         one thread spins, to give the HPA CPU to measure
 *
 * On SIGTERM it prints "received SIGTERM" to stdout and exits 0.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t terminated;

static void on_sigterm(int sig)
{
        terminated = 1;
}

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned status, const char *text)
{
        struct MHD_Response *response =
                MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
        if (!response)
                return MHD_NO;
        MHD_add_response_header(response, "Content-Type", "text/plain");
        enum MHD_Result r = MHD_queue_response(connection, status, response);
        MHD_destroy_response(response);
        return r;
}

static char listen_text[128];

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
        if (strcmp(method, "GET") != 0)
                return respond(connection, 405, "method not allowed\n");
        if (strcmp(url, "/healthz") == 0)
                return access("unhealthy", F_OK) == 0 ? respond(connection, 500, "unhealthy\n")
                                                      : respond(connection, 200, "ok\n");
        if (strcmp(url, "/ready") == 0)
                return access("not-ready", F_OK) == 0 ? respond(connection, 503, "not ready\n")
                                                      : respond(connection, 200, "ready\n");
        if (strncmp(url, "/env/", 5) == 0) {
                const char *value = getenv(url + 5);
                return value ? respond(connection, 200, value)
                             : respond(connection, 404, "unset\n");
        }
        if (strcmp(url, "/") == 0) {
                const char *name = getenv("POD_NAME");
                if (!name)
                        name = getenv("HOSTNAME");
                char text[512];
                snprintf(text, sizeof(text), "hello from %s at %s\n", name ? name : "?",
                         listen_text);
                return respond(connection, 200, text);
        }
        return respond(connection, 404, "not found\n");
}

static void *burn(void *arg)
{
        volatile unsigned long x = 0;
        while (!terminated)
                x++;
        return NULL;
}

int main(int argc, char **argv)
{
        const char *listen_arg = NULL;
        bool burn_cpu = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
                        listen_arg = argv[++i];
                else if (strcmp(argv[i], "--burn") == 0)
                        burn_cpu = true;
                else {
                        fprintf(stderr, "usage: %s --listen IP:PORT [--burn]\n", argv[0]);
                        return 2;
                }
        }
        if (!listen_arg || strlen(listen_arg) >= sizeof(listen_text)) {
                fprintf(stderr, "--listen IP:PORT is required\n");
                return 2;
        }
        snprintf(listen_text, sizeof(listen_text), "%s", listen_arg);
        char host[128];
        snprintf(host, sizeof(host), "%s", listen_arg);
        char *colon = strrchr(host, ':');
        if (!colon)
                return 2;
        *colon = '\0';
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
                fprintf(stderr, "bad address %s\n", host);
                return 2;
        }
        struct sigaction sa = {.sa_handler = on_sigterm};
        sigaction(SIGTERM, &sa, NULL);
        struct MHD_Daemon *daemon = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, NULL,
                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
        if (!daemon) {
                fprintf(stderr, "cannot listen on %s\n", listen_arg);
                return 1;
        }
        printf("listening on %s\n", listen_arg);
        fflush(stdout);
        pthread_t burner;
        if (burn_cpu)
                pthread_create(&burner, NULL, burn, NULL);
        while (!terminated)
                pause();
        printf("received SIGTERM\n");
        fflush(stdout);
        MHD_stop_daemon(daemon);
        if (burn_cpu)
                pthread_join(burner, NULL);
        return 0;
}
