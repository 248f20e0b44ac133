/* SPDX-License-Identifier: Apache-2.0 */
#include "test-pem.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *bio_to_string(BIO *bio)
{
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        char *s = malloc((size_t)n + 1);
        if (!s)
                return NULL;
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
        return s;
}

int test_make_self_signed(const char *common_name, const char *subject_alt_ip, char **ret_cert_pem,
                          char **ret_key_pem)
{
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *cert = X509_new();
        BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
        int r = -EIO;
        if (!key || !cert || !cb || !kb)
                goto out;
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
        X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
        X509_set_pubkey(cert, key);
        X509_NAME *name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)common_name, -1,
                                   -1, 0);
        X509_set_issuer_name(cert, name);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "CA:TRUE");
        if (ext) {
                X509_add_ext(cert, ext, -1);
                X509_EXTENSION_free(ext);
        }
        if (subject_alt_ip) {
                char san[128];
                snprintf(san, sizeof(san), "IP:%s", subject_alt_ip);
                ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
                if (ext) {
                        X509_add_ext(cert, ext, -1);
                        X509_EXTENSION_free(ext);
                }
        }
        if (!X509_sign(cert, key, EVP_sha256()))
                goto out;
        if (!PEM_write_bio_X509(cb, cert) ||
            !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
                goto out;
        *ret_cert_pem = bio_to_string(cb);
        *ret_key_pem = bio_to_string(kb);
        r = *ret_cert_pem && *ret_key_pem ? 0 : -ENOMEM;
out:
        BIO_free(cb);
        BIO_free(kb);
        X509_free(cert);
        EVP_PKEY_free(key);
        return r;
}

char *test_write_file(const char *dir, const char *name, const char *text)
{
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return NULL;
        FILE *f = fopen(path, "we");
        if (!f) {
                free(path);
                return NULL;
        }
        fputs(text, f);
        fclose(f);
        return path;
}

char *test_base64(const char *text)
{
        size_t n = strlen(text);
        char *out = malloc(4 * ((n + 2) / 3) + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
        return out;
}
