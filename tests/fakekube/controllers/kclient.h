/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small private Kubernetes API client for the simulated controllers
 * (libcurl + jansson).  Deliberately independent of lib/kube: the controllers
 * must see the server exactly as any other client does.
 *
 * One struct kclient per thread (a curl easy handle is not shared between
 * threads).  Paths are absolute API paths ("/api/v1/namespaces/x/pods").
 *
 * Ownership: *ret_body is a new reference owned by the caller; body and
 * content_type are borrowed.
 */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

struct kclient;

struct kclient_options {
        const char *api_url;     /* copied */
        const char *token;       /* copied */
        const char *ca_file;     /* copied; NULL: plain HTTP */
        const atomic_bool *stop; /* borrowed; aborts a watch when set */
};

int kclient_new(const struct kclient_options *options, struct kclient **ret);
void kclient_free(struct kclient *client);

/*
 * One request.  *ret_status gets the HTTP status (a transport failure returns
 * -EIO and touches nothing).  *ret_body (may be NULL) gets the decoded JSON
 * body, or NULL when the body is not JSON.
 */
int kclient_request(struct kclient *client, const char *method, const char *path,
                    const json_t *body, const char *content_type, long *ret_status,
                    json_t **ret_body);

/* A watch event: type ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR") and object (borrowed).
 */
typedef void (*kclient_event_fn)(const char *type, json_t *object, void *userdata);

/*
 * Stream a watch (path must already carry ?watch=1...).  Returns 0 when the
 * server closes the stream, -ECANCELED when stop was set, -EIO on transport
 * errors; *ret_status gets the HTTP status.
 */
int kclient_watch(struct kclient *client, const char *path, kclient_event_fn fn, void *userdata,
                  long *ret_status);

static inline void kclient_freep(struct kclient **p)
{
        kclient_free(*p);
}
