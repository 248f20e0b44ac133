/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP front end: routes Kubernetes API requests (discovery, OpenAPI,
 * resource verbs, watch streams) for libmicrohttpd.  The server struct is
 * borrowed for the daemon's lifetime.
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>

#include "fakekube.h"

/* MHD access handler; cls is the struct server. */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *connection, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls);
/* MHD request-completed callback: frees the per-request upload buffer. */
void http_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                            enum MHD_RequestTerminationCode toe);

/*
 * A boolean query parameter's value as kube-apiserver reads it: false when
 * absent (NULL), "0" or "false" in any letter case, true otherwise (even "").
 */
bool query_bool_value(const char *value);
