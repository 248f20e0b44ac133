/* SPDX-License-Identifier: Apache-2.0 */
#include "acceptor.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "macros.h"

static int open_listener(const char *host, int port, int *ret_fd, int *ret_port)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *addresses = NULL;
        char port_text[16];
        snprintf(port_text, sizeof(port_text), "%d", port);
        int r = getaddrinfo(host, port_text, &hints, &addresses);
        if (r != 0)
                return -EADDRNOTAVAIL;

        int fd = socket(addresses->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(addresses);
                return r;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, addresses->ai_addr, addresses->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
                r = -errno;
                freeaddrinfo(addresses);
                close(fd);
                return r;
        }
        freeaddrinfo(addresses);

        struct sockaddr_storage bound;
        socklen_t length = sizeof(bound);
        if (getsockname(fd, (struct sockaddr *)&bound, &length) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
        *ret_fd = fd;
        return 0;
}

/* A connection accepted but not yet handed to a worker. */
struct waiting_connection {
        int fd;
        int64_t deadline_ms; /* the whole request (head and body) must be in by then */
};

struct acceptor {
        struct acceptor_options options;
        int listen_fd;
        int port;
        int wake_fd; /* eventfd: tells the thread to stop */
        pthread_t thread;
        bool started;
        int epoll_fd;
        struct waiting_connection *waiting;
        size_t n_waiting;
        size_t capacity;
        char *peek_buffer;
        size_t peek_size;
        char request_id_prefix[9];
        uint64_t request_counter;
};

static void forget_waiting(struct acceptor *acceptor, size_t index, bool close_it)
{
        int fd = acceptor->waiting[index].fd;
        epoll_ctl(acceptor->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        if (close_it)
                close(fd);
        acceptor->waiting[index] = acceptor->waiting[--acceptor->n_waiting];
}

/* Answer a request we will not pass on (431, 400, 408, 501, 505) and close. */
static void refuse_waiting(struct acceptor *acceptor, size_t index, int status, const char *reason)
{
        int fd = acceptor->waiting[index].fd;
        char request_id[40];
        snprintf(request_id, sizeof(request_id), "%s-a%07" PRIx64, acceptor->request_id_prefix,
                 ++acceptor->request_counter);
        char response[512];
        int length = snprintf(response, sizeof(response),
                              "HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                              "x-request-id: %s\r\nconnection: close\r\n"
                              "content-length: %zu\r\n\r\n%s\n",
                              status, http_status_reason(status), request_id, strlen(reason) + 1,
                              reason);
        (void)send(fd, response, (size_t)length, MSG_NOSIGNAL | MSG_DONTWAIT);
        /* Half-close and read a little more, so the answer is not lost to a reset. */
        (void)shutdown(fd, SHUT_WR);
        for (int i = 0; i < 64; i++)
                if (recv(fd, acceptor->peek_buffer, acceptor->peek_size, MSG_DONTWAIT) <= 0)
                        break;
        metrics_observe_request(acceptor->options.metrics, SIZE_MAX, status, 0);
        log_emit(LOG_LEVEL_INFO,
                 json_pack("{s:s, s:s, s:i, s:s}", "request_id", request_id, "route", "unmatched",
                           "status", status, "reason", reason),
                 "request refused before parsing");
        forget_waiting(acceptor, index, true);
}

/*
 * A connection whose head did not come in time, or the oldest one when too
 * many are waiting: 408 when it sent part of a request, a plain close when
 * it sent nothing (a browser's preconnect).
 */
static void expire_waiting(struct acceptor *acceptor, size_t index, const char *reason)
{
        char byte;
        if (recv(acceptor->waiting[index].fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
                refuse_waiting(acceptor, index, 408, reason);
        else
                forget_waiting(acceptor, index, true);
}

/*
 * Hand over a connection whose head asks for an Upgrade we ignore (h2c):
 * lws would answer it with an error, so the head is read off the socket
 * without those lines and given to the worker with the socket.
 */
static void hand_over_without_upgrade(struct acceptor *acceptor, size_t index, size_t head_length)
{
        struct waiting_connection waiting = acceptor->waiting[index];
        char *head = malloc(head_length);
        if (!head || recv(waiting.fd, head, head_length, MSG_DONTWAIT) != (ssize_t)head_length) {
                /* Peeked bytes are there: a short read means the socket broke. */
                free(head);
                forget_waiting(acceptor, index, true);
                return;
        }
        size_t length = http_head_drop_upgrade(head, head_length);
        forget_waiting(acceptor, index, false);
        acceptor->options.accepted(&(struct acceptor_connection){.fd = waiting.fd,
                                                                 .deadline_ms = waiting.deadline_ms,
                                                                 .head = head,
                                                                 .head_length = length},
                                   acceptor->options.userdata);
}

/*
 * Look at (without consuming) what the client sent so far.  lws drops a
 * connection whose request head overflows its header buffer without a word,
 * so the first head is checked here: complete -> the connection goes to a
 * worker; too large -> 431; still partial -> keep waiting (until the request
 * timeout, which also ends connections that never send anything).
 */
static void inspect_waiting(struct acceptor *acceptor, size_t index)
{
        int fd = acceptor->waiting[index].fd;
        ssize_t n = recv(fd, acceptor->peek_buffer, acceptor->peek_size, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                forget_waiting(acceptor, index, true);
                return;
        }
        const char *head_end = memmem(acceptor->peek_buffer, (size_t)n, "\r\n\r\n", 4);
        if (!head_end)
                head_end = memmem(acceptor->peek_buffer, (size_t)n, "\n\n", 2);
        if (head_end) {
                size_t checked_length = (size_t)(head_end - acceptor->peek_buffer) + 2;
                const char *reason = NULL;
                int status = http_check_request_head_reason(acceptor->peek_buffer, checked_length,
                                                            &reason);
                if (status != 0) {
                        refuse_waiting(acceptor, index, status, reason);
                        return;
                }
                if (http_head_has_ignored_upgrade(acceptor->peek_buffer, checked_length)) {
                        /* The head with its blank line ("\r\n\r\n" or "\n\n"). */
                        size_t head_length = checked_length + (head_end[0] == '\r' ? 2 : 0);
                        hand_over_without_upgrade(acceptor, index, head_length);
                        return;
                }
                int64_t deadline_ms = acceptor->waiting[index].deadline_ms;
                forget_waiting(acceptor, index, false);
                acceptor->options.accepted(
                        &(struct acceptor_connection){.fd = fd, .deadline_ms = deadline_ms},
                        acceptor->options.userdata);
                return;
        }
        if ((size_t)n >= acceptor->peek_size)
                refuse_waiting(acceptor, index, 431,
                               "Request line or headers are larger than this server accepts.");
}

/* At the cap on connections still sending their head: the oldest one goes. */
static void make_room(struct acceptor *acceptor)
{
        if (acceptor->options.max_waiting == 0 ||
            acceptor->n_waiting < acceptor->options.max_waiting)
                return;
        size_t oldest = 0;
        for (size_t i = 1; i < acceptor->n_waiting; i++)
                if (acceptor->waiting[i].deadline_ms < acceptor->waiting[oldest].deadline_ms)
                        oldest = i;
        expire_waiting(acceptor, oldest,
                       "Too many connections are still sending their request; the oldest is "
                       "closed.");
}

static void accept_all(struct acceptor *acceptor)
{
        for (;;) {
                int fd = accept4(acceptor->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        /* Out of descriptors: back off instead of spinning. */
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                            errno == ENOMEM)
                                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
                        return;
                }
                /* No Nagle delay on small responses; TCP keepalive finds WebSocket
                 * clients that vanished without closing (after about 90 s). */
                int one = 1, idle = 60, interval = 10, count = 3;
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
                (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
                (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
                (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
                make_room(acceptor);
                if (acceptor->n_waiting == acceptor->capacity) {
                        size_t capacity = acceptor->capacity ? acceptor->capacity * 2 : 256;
                        struct waiting_connection *waiting =
                                realloc(acceptor->waiting, capacity * sizeof(*waiting));
                        if (!waiting) {
                                close(fd);
                                continue;
                        }
                        acceptor->waiting = waiting;
                        acceptor->capacity = capacity;
                }
                /* Edge-triggered: peeked bytes stay unread, so wake only on new data. */
                struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                            .data.fd = fd};
                if (epoll_ctl(acceptor->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
                        close(fd);
                        continue;
                }
                acceptor->waiting[acceptor->n_waiting++] = (struct waiting_connection){
                        .fd = fd,
                        .deadline_ms = clock_monotonic_ms() +
                                       (int64_t)acceptor->options.request_timeout_seconds * 1000,
                };
                inspect_waiting(acceptor, acceptor->n_waiting - 1);
        }
}

static void *acceptor_main(void *userdata)
{
        struct acceptor *acceptor = userdata;
        struct epoll_event listen_event = {.events = EPOLLIN, .data.fd = acceptor->listen_fd};
        struct epoll_event wake_event = {.events = EPOLLIN, .data.fd = acceptor->wake_fd};
        if (epoll_ctl(acceptor->epoll_fd, EPOLL_CTL_ADD, acceptor->listen_fd, &listen_event) < 0 ||
            epoll_ctl(acceptor->epoll_fd, EPOLL_CTL_ADD, acceptor->wake_fd, &wake_event) < 0) {
                log_error("the acceptor cannot start: %s", strerror(errno));
                return NULL;
        }

        for (bool stop = false; !stop;) {
                int64_t now = clock_monotonic_ms(), timeout = -1;
                for (size_t i = 0; i < acceptor->n_waiting; i++) {
                        int64_t left = acceptor->waiting[i].deadline_ms - now;
                        if (left <= 0) {
                                /* A slow or silent client. */
                                expire_waiting(acceptor, i--,
                                               "The request was not complete within the request "
                                               "timeout.");
                                continue;
                        }
                        if (timeout < 0 || left < timeout)
                                timeout = left;
                }
                struct epoll_event events[64];
                int n = epoll_wait(acceptor->epoll_fd, events, (int)ARRAY_SIZE(events),
                                   (int)timeout);
                for (int e = 0; e < n; e++) {
                        int fd = events[e].data.fd;
                        if (fd == acceptor->wake_fd) {
                                stop = true;
                        } else if (fd == acceptor->listen_fd) {
                                accept_all(acceptor);
                        } else {
                                for (size_t i = 0; i < acceptor->n_waiting; i++)
                                        if (acceptor->waiting[i].fd == fd) {
                                                inspect_waiting(acceptor, i);
                                                break;
                                        }
                        }
                }
        }
        return NULL;
}

int acceptor_new(const struct acceptor_options *options, struct acceptor **ret_acceptor)
{
        struct acceptor *acceptor = calloc(1, sizeof(*acceptor));
        if (!acceptor)
                return -ENOMEM;
        acceptor->options = *options;
        acceptor->listen_fd = acceptor->wake_fd = acceptor->epoll_fd = -1;
        acceptor->peek_size = options->max_header_bytes;
        acceptor->peek_buffer = malloc(acceptor->peek_size);
        unsigned char random_bytes[4] = {0};
        (void)RAND_bytes(random_bytes, sizeof(random_bytes));
        snprintf(acceptor->request_id_prefix, sizeof(acceptor->request_id_prefix),
                 "%02x%02x%02x%02x", random_bytes[0], random_bytes[1], random_bytes[2],
                 random_bytes[3]);
        acceptor->wake_fd = eventfd(0, EFD_CLOEXEC);
        acceptor->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        int r = !acceptor->peek_buffer                            ? -ENOMEM
                : acceptor->wake_fd < 0 || acceptor->epoll_fd < 0 ? -errno
                                                                  : 0;
        if (r >= 0)
                r = open_listener(options->host, options->port, &acceptor->listen_fd,
                                  &acceptor->port);
        if (r < 0) {
                acceptor_free(acceptor);
                return r;
        }
        *ret_acceptor = acceptor;
        return 0;
}

int acceptor_port(const struct acceptor *acceptor)
{
        return acceptor->port;
}

int acceptor_start(struct acceptor *acceptor)
{
        int r = pthread_create(&acceptor->thread, NULL, acceptor_main, acceptor);
        if (r != 0)
                return -r;
        acceptor->started = true;
        return 0;
}

void acceptor_stop(struct acceptor *acceptor)
{
        if (!acceptor)
                return;
        if (acceptor->started) {
                uint64_t one = 1;
                if (write(acceptor->wake_fd, &one, sizeof(one)) < 0)
                        log_warn("could not wake the acceptor: %s", strerror(errno));
                pthread_join(acceptor->thread, NULL);
                acceptor->started = false;
        }
        /* Later connection attempts are refused by the kernel. */
        if (acceptor->listen_fd >= 0)
                close(acceptor->listen_fd);
        acceptor->listen_fd = -1;
        for (size_t i = 0; i < acceptor->n_waiting; i++)
                close(acceptor->waiting[i].fd);
        acceptor->n_waiting = 0;
}

void acceptor_free(struct acceptor *acceptor)
{
        if (!acceptor)
                return;
        acceptor_stop(acceptor);
        if (acceptor->wake_fd >= 0)
                close(acceptor->wake_fd);
        if (acceptor->epoll_fd >= 0)
                close(acceptor->epoll_fd);
        free(acceptor->waiting);
        free(acceptor->peek_buffer);
        free(acceptor);
}
