/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Anonymous sessions and CSRF tokens, both HMAC-SHA256 (OpenSSL) under one
 * process secret.
 *
 * Session cookie value: "<user>.<mac>" where user is 32 lowercase hex
 * characters (16 random bytes) and mac = base64url(HMAC(key, "session:" user)).
 * CSRF token: base64url(HMAC(key, "csrf:" user)), so it needs no server-side
 * storage and is valid on every replica that shares the secret.
 * Comparisons are constant-time (CRYPTO_memcmp).
 *
 * The secret never leaves this module's struct and is never logged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SESSION_COOKIE_NAME     "td_session"
#define SESSION_USER_LENGTH     32
#define SESSION_MAC_LENGTH      43 /* base64url of 32 bytes, no padding */
#define SESSION_COOKIE_LENGTH   (SESSION_USER_LENGTH + 1 + SESSION_MAC_LENGTH)
#define SESSION_CSRF_LENGTH     SESSION_MAC_LENGTH
#define SESSION_SECRET_MIN      16
#define SESSION_SECRET_MAX      256
#define SESSION_MAX_AGE_SECONDS (30 * 24 * 3600)

struct session_keys {
        unsigned char secret[SESSION_SECRET_MAX];
        size_t secret_length;
};

/* Use the given secret (>= SESSION_SECRET_MIN bytes).  -EINVAL if too short/long. */
int session_keys_from_secret(const void *secret, size_t length, struct session_keys *ret_keys);
/* A random 32-byte secret (valid for this process only). */
int session_keys_random(struct session_keys *ret_keys);

/* New random user id: SESSION_USER_LENGTH hex chars + NUL into ret_user. */
int session_new_user(char ret_user[SESSION_USER_LENGTH + 1]);

/* Cookie value for user into ret_cookie (SESSION_COOKIE_LENGTH + 1 bytes). */
int session_cookie_sign(const struct session_keys *keys, const char *user,
                        char ret_cookie[SESSION_COOKIE_LENGTH + 1]);
/* Check a cookie value; on success copy the user id out.  -EBADMSG when
 * malformed or the MAC does not match. */
int session_cookie_verify(const struct session_keys *keys, const char *cookie,
                          char ret_user[SESSION_USER_LENGTH + 1]);

int session_csrf_token(const struct session_keys *keys, const char *user,
                       char ret_token[SESSION_CSRF_LENGTH + 1]);
/* True when token is the CSRF token of user. */
bool session_csrf_check(const struct session_keys *keys, const char *user, const char *token);
