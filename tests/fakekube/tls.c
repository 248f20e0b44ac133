/* SPDX-License-Identifier: Apache-2.0 */
/* CA and server certificate generation with OpenSSL (ECDSA P-256). */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "tls.h"

void tls_material_free(struct tls_material *m)
{
        if (!m)
                return;
        free(m->ca_cert_pem);
        free(m->server_cert_pem);
        free(m->server_key_pem);
        *m = (struct tls_material){0};
}

static char *bio_to_string(BIO *bio)
{
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);
        if (len <= 0)
                return NULL;
        /* A memory BIO's data is not NUL-terminated: copy exactly len bytes
         * (strndup may look for a NUL past the end). */
        char *s = malloc((size_t)len + 1);
        if (!s)
                return NULL;
        memcpy(s, data, (size_t)len);
        s[len] = '\0';
        return s;
}

static char *cert_pem(X509 *cert)
{
        BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
                return NULL;
        char *s = PEM_write_bio_X509(bio, cert) == 1 ? bio_to_string(bio) : NULL;
        BIO_free(bio);
        return s;
}

static char *key_pem(EVP_PKEY *key)
{
        BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
                return NULL;
        char *s = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1
                          ? bio_to_string(bio)
                          : NULL;
        BIO_free(bio);
        return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return -EINVAL;
        int ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok == 1 ? 0 : -EINVAL;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
        X509 *cert = X509_new();
        if (!cert)
                return NULL;
        unsigned char serial[16];
        RAND_bytes(serial, sizeof(serial));
        serial[0] &= 0x7f;
        BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
        ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
        BN_free(bn);
        X509_set_version(cert, 2);
        if (sn)
                X509_set_serialNumber(cert, sn);
        ASN1_INTEGER_free(sn);
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
        X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
        X509_set_pubkey(cert, key);
        X509_NAME *name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
        (void)issuer_key;
        return cert;
}

int tls_generate(const char *listen_host, struct tls_material *ret)
{
        int r = -EIO;
        EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        EVP_PKEY *srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *ca = NULL, *srv = NULL;
        if (!ca_key || !srv_key)
                goto out;
        ca = new_cert(ca_key, "fakekube-ca", NULL, NULL);
        if (!ca || add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
            add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") < 0 ||
            add_ext(ca, ca, NID_subject_key_identifier, "hash") < 0 ||
            X509_sign(ca, ca_key, EVP_sha256()) <= 0)
                goto out;
        srv = new_cert(srv_key, "fakekube", ca, ca_key);
        char san[512];
        struct in_addr a4;
        struct in6_addr a6;
        bool is_ip = listen_host && (inet_pton(AF_INET, listen_host, &a4) == 1 ||
                                     inet_pton(AF_INET6, listen_host, &a6) == 1);
        if (listen_host && listen_host[0] && strcmp(listen_host, "127.0.0.1") != 0 &&
            strcmp(listen_host, "localhost") != 0)
                snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1,%s:%s",
                         is_ip ? "IP" : "DNS", listen_host);
        else
                snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
        if (!srv || add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(srv, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") < 0 ||
            add_ext(srv, ca, NID_ext_key_usage, "serverAuth") < 0 ||
            add_ext(srv, ca, NID_subject_alt_name, san) < 0 ||
            add_ext(srv, ca, NID_authority_key_identifier, "keyid:always") < 0 ||
            X509_sign(srv, ca_key, EVP_sha256()) <= 0)
                goto out;
        struct tls_material m = {
                .ca_cert_pem = cert_pem(ca),
                .server_cert_pem = cert_pem(srv),
                .server_key_pem = key_pem(srv_key),
        };
        if (!m.ca_cert_pem || !m.server_cert_pem || !m.server_key_pem) {
                tls_material_free(&m);
                r = -ENOMEM;
                goto out;
        }
        *ret = m;
        r = 0;
out:
        X509_free(ca);
        X509_free(srv);
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(srv_key);
        return r;
}
