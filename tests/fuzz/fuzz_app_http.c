/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the tripdeal-app's own parsers of client input (request
 * heads before lws sees them, form bodies, URL escapes, cookies, route ids,
 * UTF-8 checks, HTML escaping, session cookies).  The first byte picks the
 * parser, the rest is the input.
 *
 * Properties: each returns only what its header promises, writes only
 * NUL-terminated results within the sizes given, and HTML escaping leaves no
 * markup character.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "http.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
        if (!ok)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1 || size > 65536)
                return 0;
        unsigned which = data[0];
        const char *input = (const char *)data + 1;
        size_t length = size - 1;
        /* A NUL-terminated copy for the parsers that take C strings. */
        char *text = malloc(length + 1);
        if (!text)
                return 0;
        memcpy(text, input, length);
        text[length] = '\0';

        switch (which % 9) {
        case 0: {
                int status = http_check_request_head(input, length);
                check(status == 0 || status == 400 || status == 431 || status == 501 ||
                      status == 505);
                /* Dropping an ignored Upgrade never grows the head, and keeps it valid. */
                char *head = malloc(length + 1);
                if (head) {
                        memcpy(head, input, length);
                        size_t dropped = http_head_drop_upgrade(head, length);
                        check(dropped <= length);
                        if (status == 0)
                                check(http_check_request_head(head, dropped) == 0);
                        free(head);
                }
                break;
        }
        case 1: {
                char decoded[256];
                int r = http_url_decode(input, length, decoded, sizeof(decoded));
                check(r == 0 || r == -EINVAL || r == -ENOBUFS);
                if (r == 0)
                        check(strnlen(decoded, sizeof(decoded)) < sizeof(decoded));
                break;
        }
        case 2: {
                char *value = NULL;
                int r = http_form_value(input, length, "text", 64, &value);
                check(r == 0 || r == -ENOENT || r == -EINVAL || r == -E2BIG || r == -ENOMEM);
                check((r == 0) == (value != NULL));
                if (value)
                        check(strlen(value) <= 64);
                free(value);
                break;
        }
        case 3: {
                char value[128];
                int r = http_cookie_value(text, "tripdeal_session", value, sizeof(value));
                check(r == 0 || r == -ENOENT || r == -ENOBUFS);
                if (r == 0)
                        check(strnlen(value, sizeof(value)) < sizeof(value));
                break;
        }
        case 4: {
                int64_t id = -1;
                if (http_path_match("/deals/{id}", text, &id))
                        check(id >= 0);
                else
                        check(id == -1);
                break;
        }
        case 5: {
                int64_t value = -1;
                if (http_parse_positive_int(text, &value) == 0)
                        check(value >= 0);
                break;
        }
        case 6:
                if (http_text_is_clean_utf8(input, length) && strlen(text) == length)
                        check(http_utf8_length(text) <= length);
                break;
        case 7: {
                char *escaped = NULL;
                if (html_escape(text, &escaped) == 0) {
                        check(escaped != NULL);
                        check(!strpbrk(escaped, "<>\"'"));
                        free(escaped);
                }
                break;
        }
        case 8: {
                static const struct session_keys keys = {.secret = "fuzz", .secret_length = 4};
                char user[SESSION_USER_LENGTH + 1];
                int r = session_cookie_verify(&keys, text, user);
                check(r == 0 || r == -EBADMSG);
                if (r == 0)
                        check(strlen(user) == SESSION_USER_LENGTH);
                break;
        }
        }
        free(text);
        return 0;
}
