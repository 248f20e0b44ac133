/* SPDX-License-Identifier: Apache-2.0 */
#include "session.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

int session_keys_from_secret(const void *secret, size_t length, struct session_keys *ret_keys)
{
        if (!secret || length < SESSION_SECRET_MIN || length > SESSION_SECRET_MAX)
                return -EINVAL;
        memcpy(ret_keys->secret, secret, length);
        ret_keys->secret_length = length;
        return 0;
}

int session_keys_random(struct session_keys *ret_keys)
{
        unsigned char secret[32];
        if (RAND_bytes(secret, sizeof(secret)) != 1)
                return -EIO;
        int r = session_keys_from_secret(secret, sizeof(secret), ret_keys);
        OPENSSL_cleanse(secret, sizeof(secret));
        return r;
}

int session_new_user(char ret_user[SESSION_USER_LENGTH + 1])
{
        static const char hex[] = "0123456789abcdef";
        unsigned char bytes[SESSION_USER_LENGTH / 2];
        if (RAND_bytes(bytes, sizeof(bytes)) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof(bytes); i++) {
                ret_user[2 * i] = hex[bytes[i] >> 4];
                ret_user[2 * i + 1] = hex[bytes[i] & 0xf];
        }
        ret_user[SESSION_USER_LENGTH] = '\0';
        return 0;
}

static bool user_is_valid(const char *user, size_t length)
{
        if (length != SESSION_USER_LENGTH)
                return false;
        for (size_t i = 0; i < length; i++)
                if (!((user[i] >= '0' && user[i] <= '9') || (user[i] >= 'a' && user[i] <= 'f')))
                        return false;
        return true;
}

/* base64url(HMAC-SHA256(secret, purpose || user)) without padding: 43 chars + NUL. */
static int mac(const struct session_keys *keys, const char *purpose, const char *user,
               char ret_text[SESSION_MAC_LENGTH + 1])
{
        char message[64];
        size_t purpose_length = strlen(purpose);
        if (purpose_length + SESSION_USER_LENGTH > sizeof(message))
                return -EINVAL;
        memcpy(message, purpose, purpose_length);
        memcpy(message + purpose_length, user, SESSION_USER_LENGTH);

        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digest_length = 0;
        if (!HMAC(EVP_sha256(), keys->secret, (int)keys->secret_length,
                  (const unsigned char *)message, purpose_length + SESSION_USER_LENGTH, digest,
                  &digest_length) ||
            digest_length != 32)
                return -EIO;

        unsigned char base64[48];
        int n = EVP_EncodeBlock(base64, digest, 32); /* 44 chars with one '=' */
        if (n != 44)
                return -EIO;
        for (int i = 0; i < SESSION_MAC_LENGTH; i++)
                ret_text[i] = base64[i] == '+' ? '-' : base64[i] == '/' ? '_' : (char)base64[i];
        ret_text[SESSION_MAC_LENGTH] = '\0';
        return 0;
}

int session_cookie_sign(const struct session_keys *keys, const char *user,
                        char ret_cookie[SESSION_COOKIE_LENGTH + 1])
{
        if (!user || !user_is_valid(user, strlen(user)))
                return -EINVAL;
        char text[SESSION_MAC_LENGTH + 1];
        int r = mac(keys, "session:", user, text);
        if (r < 0)
                return r;
        memcpy(ret_cookie, user, SESSION_USER_LENGTH);
        ret_cookie[SESSION_USER_LENGTH] = '.';
        memcpy(ret_cookie + SESSION_USER_LENGTH + 1, text, SESSION_MAC_LENGTH + 1);
        return 0;
}

int session_cookie_verify(const struct session_keys *keys, const char *cookie,
                          char ret_user[SESSION_USER_LENGTH + 1])
{
        if (!cookie || strlen(cookie) != SESSION_COOKIE_LENGTH ||
            cookie[SESSION_USER_LENGTH] != '.' || !user_is_valid(cookie, SESSION_USER_LENGTH))
                return -EBADMSG;

        char user[SESSION_USER_LENGTH + 1];
        memcpy(user, cookie, SESSION_USER_LENGTH);
        user[SESSION_USER_LENGTH] = '\0';

        char expected[SESSION_MAC_LENGTH + 1];
        int r = mac(keys, "session:", user, expected);
        if (r < 0)
                return r;
        /* Constant time, so the MAC cannot be guessed byte by byte from timing. */
        if (CRYPTO_memcmp(expected, cookie + SESSION_USER_LENGTH + 1, SESSION_MAC_LENGTH) != 0)
                return -EBADMSG;
        memcpy(ret_user, user, SESSION_USER_LENGTH + 1);
        return 0;
}

int session_csrf_token(const struct session_keys *keys, const char *user,
                       char ret_token[SESSION_CSRF_LENGTH + 1])
{
        if (!user || !user_is_valid(user, strlen(user)))
                return -EINVAL;
        return mac(keys, "csrf:", user, ret_token);
}

bool session_csrf_check(const struct session_keys *keys, const char *user, const char *token)
{
        char expected[SESSION_CSRF_LENGTH + 1];
        if (!token || strlen(token) != SESSION_CSRF_LENGTH)
                return false;
        if (session_csrf_token(keys, user, expected) < 0)
                return false;
        return CRYPTO_memcmp(expected, token, SESSION_CSRF_LENGTH) == 0;
}
