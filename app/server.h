/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libwebsockets glue: one acceptor thread owns the listening socket and
 * deals accepted connections out to N worker threads, each with its own lws
 * context (lws 4.1 in Debian serves one thread per context), its own database
 * connection and page cache.  HTTP requests go to routes_handle(); "/ws/stock" upgrades to
 * the live-stock WebSocket.
 *
 * Ownership: server_new() returns an object freed by server_free(), which
 * stops the threads first.  `app` is borrowed and must outlive it.
 */
#pragma once

#include "app.h"

struct server;

/* Bind the listening socket and create the contexts (threads not yet started). */
int server_new(struct app *app, struct server **ret_server);
/* The bound port (the kernel's choice when the configured port was 0). */
int server_port(const struct server *server);
int server_start(struct server *server);
/* Close the listening socket: new connections are refused; open ones go on. */
void server_stop_accepting(struct server *server);
/* Wake every worker so its WebSocket clients get the current stock.  Any thread. */
void server_notify_stock(struct server *server);
/* Stop the service loops and close every connection; joins the threads. */
void server_free(struct server *server);
