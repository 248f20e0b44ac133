/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: a throwaway self-signed certificate and key as PEM text. */
#pragma once

/* *ret_cert_pem and *ret_key_pem are malloc'ed; 0 or -ENOMEM/-EIO.
 * common_name goes in CN; subject_alt_ip (may be NULL) becomes an IP SAN. */
int test_make_self_signed(const char *common_name, const char *subject_alt_ip, char **ret_cert_pem,
                          char **ret_key_pem);
/* Write text to dir/name; returns the malloc'ed path or NULL. */
char *test_write_file(const char *dir, const char *name, const char *text);
/* Base64 of text (malloc'ed). */
char *test_base64(const char *text);
