/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Throwaway TLS material for one fakekube run: a self-signed CA and a server
 * certificate it signs (SAN localhost, 127.0.0.1 and the listen address).
 * Ownership: the PEM strings in struct tls_material are owned by it; free
 * with tls_material_free().
 */
#pragma once

struct tls_material {
        char *ca_cert_pem;
        char *server_cert_pem;
        char *server_key_pem;
};

/* listen_host: an IPv4/IPv6 literal or a DNS name, added to the SAN.  0 or -errno. */
int tls_generate(const char *listen_host, struct tls_material *ret);
void tls_material_free(struct tls_material *m);
