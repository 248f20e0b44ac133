/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The listening socket and the first look at every new connection.
 *
 * One thread accepts, sets socket options, and peeks (without consuming) at
 * the first request head.  libwebsockets would drop an oversized or
 * malformed head without a word, so it is answered here (431, 400, 501,
 * 505).  A complete, well-formed head hands the socket to
 * options.accepted() (with the head rewritten when it asks for an Upgrade
 * other than WebSocket, which is ignored); connections that never finish
 * their head get 408 after the request timeout, and at most max_waiting
 * wait at once (the oldest goes first).
 *
 * Ownership: acceptor_new() returns an object freed by acceptor_free().
 * accepted() takes ownership of the fd (and runs on the acceptor thread).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* A connection handed over with a complete, checked first request head. */
struct acceptor_connection {
        int fd;
        int64_t deadline_ms; /* CLOCK_MONOTONIC: accepted + request timeout */
        /* NULL, or the head already read off the socket (rewritten without an
         * ignored Upgrade); malloc'ed, the receiver frees it. */
        char *head;
        size_t head_length;
};

struct acceptor_options {
        const char *host; /* numeric address or "localhost"; "0.0.0.0" / "::" for any */
        int port;         /* 0: the kernel picks one */
        size_t max_header_bytes;
        int request_timeout_seconds;
        /* Connections still sending their first head: at this many, the
         * oldest gets 408 (or a close if it sent nothing).  0: no cap. */
        size_t max_waiting;
        struct metrics *metrics; /* refused requests count as route "unmatched" */
        void (*accepted)(const struct acceptor_connection *connection, void *userdata);
        void *userdata;
};

struct acceptor;

/* Bind and listen (no thread yet).  -errno, e.g. -EADDRINUSE. */
int acceptor_new(const struct acceptor_options *options, struct acceptor **ret_acceptor);
int acceptor_port(const struct acceptor *acceptor);
int acceptor_start(struct acceptor *acceptor);
/* Close the listener (new connections are refused) and drop connections not handed over yet. */
void acceptor_stop(struct acceptor *acceptor);
void acceptor_free(struct acceptor *acceptor);
