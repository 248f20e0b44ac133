/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ServiceAccount tokens (tokens.c): what the TokenRequest subresource
 * (POST .../serviceaccounts/NAME/token) issues and what the API accepts as a
 * Bearer token beside the admin kubeconfig's.  JWTs signed HS256 with a key
 * derived from the admin token (so they survive a restart with --data).
 * Functions taking a struct server * expect server->lock held.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "fakekube.h"

/* The audience fakekube issues by default and requires ("--api-audiences"). */
#define SA_TOKEN_AUDIENCE "https://kubernetes.default.svc.cluster.local"

/*
 * A token for service_account (a stored ServiceAccount object, borrowed),
 * valid for expiration_seconds from now, for the given audiences (a JSON
 * array of strings, borrowed; NULL or empty: SA_TOKEN_AUDIENCE), bound to
 * bound_pod (a stored Pod, borrowed) when not NULL.  *ret_token is a new
 * string; *ret_expires is the Unix time it expires.  -EINVAL when the
 * account lacks a name, namespace or uid, -ENOMEM.
 */
int sa_token_issue(struct server *s, const json_t *service_account, const json_t *audiences,
                   int64_t expiration_seconds, const json_t *bound_pod, char **ret_token,
                   int64_t *ret_expires);

/*
 * 0 when token is a fakekube ServiceAccount token with a valid signature,
 * not expired, for SA_TOKEN_AUDIENCE, whose ServiceAccount (and bound pod,
 * if any) still exists with the uid it was issued for; *ret_user (optional)
 * is then "system:serviceaccount:NS:NAME" (new string).  -EACCES otherwise
 * (-ENOMEM on allocation failure).
 */
int sa_token_verify(struct server *s, const char *token, char **ret_user);

/* Does this look like a JWT (three base64url parts)?  Lock not needed. */
bool sa_token_looks_like_jwt(const char *token);
