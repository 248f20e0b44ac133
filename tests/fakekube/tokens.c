/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ServiceAccount tokens: the JWTs the TokenRequest subresource issues (the
 * kubelet projects one into every process pod) and their verification when
 * a client presents one as a Bearer token.  Claims follow kube-apiserver's
 * bound tokens (iss, sub, aud, exp, iat, nbf, kubernetes.io.{namespace,
 * serviceaccount, pod}); the signature is HS256 with a key derived from the
 * admin token instead of RS256 with a key pair.  As kube-apiserver does, a
 * token stops working when its ServiceAccount or bound pod is deleted (uid
 * checked), when it expires, or when its audience is not the API's.
 */
#include "tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "macros.h"
#include "registry.h"

#define ISSUER "https://kubernetes.default.svc.cluster.local"

static int signing_key(const struct server *s, unsigned char key[SHA256_DIGEST_LENGTH])
{
        static const char label[] = "fakekube service-account tokens v1:";
        unsigned int len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
                  EVP_DigestUpdate(ctx, label, sizeof(label) - 1) == 1 &&
                  EVP_DigestUpdate(ctx, s->token, strlen(s->token)) == 1 &&
                  EVP_DigestFinal_ex(ctx, key, &len) == 1;
        EVP_MD_CTX_free(ctx);
        return ok ? 0 : -EIO;
}

/* base64url without padding (new string). */
static char *b64url_encode(const unsigned char *data, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return NULL;
        int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        while (n > 0 && out[n - 1] == '=')
                n--;
        out[n] = '\0';
        for (char *c = out; *c; c++)
                *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        return out;
}

/* base64url (padding optional) to bytes, NUL-terminated (new buffer), or NULL. */
static unsigned char *b64url_decode(const char *text, size_t len, size_t *ret_len)
{
        size_t padded = (len + 3) / 4 * 4;
        _cleanup_free_ char *std = malloc(padded + 1);
        unsigned char *out = malloc(padded / 4 * 3 + 1);
        if (!std || !out || len % 4 == 1) {
                free(out);
                return NULL;
        }
        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                if (c == '+' || c == '/' || c == '=') {
                        free(out);
                        return NULL;
                }
                std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
        }
        for (size_t i = len; i < padded; i++)
                std[i] = '=';
        std[padded] = '\0';
        int n = EVP_DecodeBlock(out, (const unsigned char *)std, (int)padded);
        if (n < 0) {
                free(out);
                return NULL;
        }
        n -= (int)(padded - len); /* EVP_DecodeBlock counts padding as zero bytes */
        out[n] = '\0';
        *ret_len = (size_t)n;
        return out;
}

static char *sign(const struct server *s, const char *signing_input)
{
        unsigned char key[SHA256_DIGEST_LENGTH], mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        if (signing_key(s, key) < 0)
                return NULL;
        if (!HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)signing_input,
                  strlen(signing_input), mac, &mac_len))
                return NULL;
        OPENSSL_cleanse(key, sizeof(key));
        return b64url_encode(mac, mac_len);
}

static const char *meta(const json_t *obj, const char *field)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

int sa_token_issue(struct server *s, const json_t *service_account, const json_t *audiences,
                   int64_t expiration_seconds, const json_t *bound_pod, char **ret_token,
                   int64_t *ret_expires)
{
        const char *ns = meta(service_account, "namespace"), *name = meta(service_account, "name"),
                   *uid = meta(service_account, "uid");
        if (!ns || !name || !uid || expiration_seconds <= 0)
                return -EINVAL;
        int64_t now = (int64_t)time(NULL);
        _cleanup_free_ char *sub = NULL;
        if (asprintf(&sub, "system:serviceaccount:%s:%s", ns, name) < 0)
                return -ENOMEM;
        _cleanup_json_ json_t *aud = json_array_size(audiences) > 0
                                             ? json_deep_copy(audiences)
                                             : json_pack("[s]", SA_TOKEN_AUDIENCE);
        _cleanup_json_ json_t *k8s = json_pack("{s:s, s:{s:s, s:s}}", "namespace", ns,
                                               "serviceaccount", "name", name, "uid", uid);
        if (!aud || !k8s)
                return -ENOMEM;
        if (bound_pod) {
                const char *pod_name = meta(bound_pod, "name"), *pod_uid = meta(bound_pod, "uid");
                if (!pod_name || !pod_uid)
                        return -EINVAL;
                json_object_set_new(k8s, "pod",
                                    json_pack("{s:s, s:s}", "name", pod_name, "uid", pod_uid));
        }
        _cleanup_json_ json_t *claims =
                json_pack("{s:O, s:I, s:I, s:s, s:O, s:I, s:s}", "aud", aud, "exp",
                          (json_int_t)(now + expiration_seconds), "iat", (json_int_t)now, "iss",
                          ISSUER, "kubernetes.io", k8s, "nbf", (json_int_t)now, "sub", sub);
        if (!claims)
                return -ENOMEM;
        static const char header[] = "{\"alg\":\"HS256\",\"kid\":\"fakekube\",\"typ\":\"JWT\"}";
        _cleanup_free_ char *payload_text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *h = b64url_encode((const unsigned char *)header, sizeof(header) - 1);
        _cleanup_free_ char *p = payload_text ? b64url_encode((const unsigned char *)payload_text,
                                                              strlen(payload_text))
                                              : NULL;
        _cleanup_free_ char *signing_input = NULL;
        if (!h || !p || asprintf(&signing_input, "%s.%s", h, p) < 0)
                return -ENOMEM;
        _cleanup_free_ char *signature = sign(s, signing_input);
        char *token = NULL;
        if (!signature || asprintf(&token, "%s.%s", signing_input, signature) < 0)
                return -ENOMEM;
        *ret_token = token;
        *ret_expires = now + expiration_seconds;
        return 0;
}

bool sa_token_looks_like_jwt(const char *token)
{
        size_t dots = 0;
        for (const char *c = token; *c; c++) {
                if (*c == '.')
                        dots++;
                else if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                           (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
                        return false;
        }
        return dots == 2;
}

/* Is a stored object of this core/v1 kind present with this uid? */
static bool exists_with_uid(struct server *s, const char *plural, const char *ns, const char *name,
                            const char *uid)
{
        struct resource_type *t = registry_find(s, "", "v1", plural);
        const json_t *obj = t && ns && name ? db_get(s, t, ns, name) : NULL;
        const char *stored = meta(obj, "uid");
        return stored && uid && strcmp(stored, uid) == 0;
}

int sa_token_verify(struct server *s, const char *token, char **ret_user)
{
        if (!token || !sa_token_looks_like_jwt(token))
                return -EACCES;
        const char *dot2 = strrchr(token, '.');
        _cleanup_free_ char *signing_input = strndup(token, (size_t)(dot2 - token));
        if (!signing_input)
                return -ENOMEM;
        _cleanup_free_ char *want = sign(s, signing_input);
        if (!want)
                return -ENOMEM;
        size_t given_len = strlen(dot2 + 1);
        if (given_len != strlen(want) || CRYPTO_memcmp(want, dot2 + 1, given_len) != 0)
                return -EACCES;
        const char *dot1 = strchr(signing_input, '.');
        size_t payload_len = 0;
        _cleanup_free_ unsigned char *payload =
                b64url_decode(dot1 + 1, strlen(dot1 + 1), &payload_len);
        _cleanup_json_ json_t *claims =
                payload ? json_loadb((const char *)payload, payload_len, 0, NULL) : NULL;
        if (!claims)
                return -EACCES;
        json_int_t now = (json_int_t)time(NULL);
        if (json_integer_value(json_object_get(claims, "exp")) <= now ||
            json_integer_value(json_object_get(claims, "nbf")) > now + 60)
                return -EACCES;
        bool audience_ok = false;
        size_t i;
        json_t *a;
        json_array_foreach (json_object_get(claims, "aud"), i, a)
                audience_ok = audience_ok || (json_string_value(a) &&
                                              strcmp(json_string_value(a), SA_TOKEN_AUDIENCE) == 0);
        if (!audience_ok)
                return -EACCES;
        const json_t *k8s = json_object_get(claims, "kubernetes.io");
        const char *ns = json_string_value(json_object_get(k8s, "namespace"));
        const json_t *sa = json_object_get(k8s, "serviceaccount");
        const char *sa_name = json_string_value(json_object_get(sa, "name"));
        if (!exists_with_uid(s, "serviceaccounts", ns, sa_name,
                             json_string_value(json_object_get(sa, "uid"))))
                return -EACCES;
        const json_t *pod = json_object_get(k8s, "pod");
        if (pod && !exists_with_uid(s, "pods", ns, json_string_value(json_object_get(pod, "name")),
                                    json_string_value(json_object_get(pod, "uid"))))
                return -EACCES;
        if (ret_user) {
                char *user = NULL;
                if (asprintf(&user, "system:serviceaccount:%s:%s", ns, sa_name) < 0)
                        return -ENOMEM;
                *ret_user = user;
        }
        return 0;
}
