/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The listening socket and the first look at every new connection.
 *
 * One thread accepts, sets socket options, and peeks (without consuming) at
 * the first request head.  libwebsockets would drop an oversized or
 * malformed head without a word, so it is answered here (431, 400, 501,
 * 505).  A complete, well-formed head hands the socket to
 * options.accepted(); connections that send nothing or never finish their
 * head are closed after the request timeout.
 *
 * Ownership: acceptor_new() returns an object freed by acceptor_free().
 * accepted() takes ownership of the fd (and runs on the acceptor thread).
 */
#pragma once

#include <stddef.h>

#include "metrics.h"

struct acceptor_options {
        const char *host; /* numeric address or "localhost"; "0.0.0.0" / "::" for any */
        int port;         /* 0: the kernel picks one */
        size_t max_header_bytes;
        int request_timeout_seconds;
        struct metrics *metrics; /* refused requests count as route "unmatched" */
        void (*accepted)(int fd, void *userdata);
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
