/* SPDX-License-Identifier: Apache-2.0 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"

static const char *const method_names[_HTTP_METHOD_COUNT] = {
        [HTTP_METHOD_GET] = "GET",         [HTTP_METHOD_HEAD] = "HEAD",
        [HTTP_METHOD_POST] = "POST",       [HTTP_METHOD_PUT] = "PUT",
        [HTTP_METHOD_PATCH] = "PATCH",     [HTTP_METHOD_DELETE] = "DELETE",
        [HTTP_METHOD_OPTIONS] = "OPTIONS", [HTTP_METHOD_OTHER] = "OTHER",
};

const char *http_method_to_string(enum http_method method)
{
        if ((unsigned)method >= _HTTP_METHOD_COUNT)
                return "OTHER";
        return method_names[method];
}

void http_response_clear(struct http_response *response)
{
        if (!response)
                return;
        if (!response->body_is_static)
                free(response->body);
        *response = (struct http_response){0};
}

const char *http_status_reason(int status)
{
        switch (status) {
        case 101:
                return "Switching Protocols";
        case 200:
                return "OK";
        case 201:
                return "Created";
        case 204:
                return "No Content";
        case 301:
                return "Moved Permanently";
        case 303:
                return "See Other";
        case 304:
                return "Not Modified";
        case 400:
                return "Bad Request";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 408:
                return "Request Timeout";
        case 409:
                return "Conflict";
        case 411:
                return "Length Required";
        case 413:
                return "Content Too Large";
        case 414:
                return "URI Too Long";
        case 415:
                return "Unsupported Media Type";
        case 426:
                return "Upgrade Required";
        case 422:
                return "Unprocessable Content";
        case 429:
                return "Too Many Requests";
        case 431:
                return "Request Header Fields Too Large";
        case 500:
                return "Internal Server Error";
        case 501:
                return "Not Implemented";
        case 503:
                return "Service Unavailable";
        case 505:
                return "HTTP Version Not Supported";
        default:
                return "Unknown";
        }
}

bool http_path_match(const char *pattern, const char *path, int64_t *ret_id)
{
        static const char placeholder[] = "{id}";
        int64_t id = 0;
        bool have_id = false;

        while (*pattern) {
                if (strncmp(pattern, placeholder, sizeof(placeholder) - 1) == 0) {
                        /* Digits only: "/deals/1x", "/deals/-1" and 19+ digit ids never match. */
                        size_t digits = 0;
                        int64_t value = 0;
                        while (isdigit((unsigned char)path[digits]) && digits < 19) {
                                /* Counted to 19 but summed to 18: 19 digits may not fit
                                 * in int64 (found by tests/fuzz). */
                                if (digits < 18)
                                        value = value * 10 + (path[digits] - '0');
                                digits++;
                        }
                        if (digits == 0 || digits > 18)
                                return false;
                        id = value;
                        have_id = true;
                        path += digits;
                        pattern += sizeof(placeholder) - 1;
                        continue;
                }
                if (*pattern != *path)
                        return false;
                pattern++;
                path++;
        }
        if (*path)
                return false;
        if (have_id && ret_id)
                *ret_id = id;
        return true;
}

const char *http_query_value(const struct http_request *request, const char *name)
{
        size_t name_length = strlen(name);
        for (size_t i = 0; i < request->n_query_args; i++) {
                const char *arg = request->query_args[i];
                if (arg && strncmp(arg, name, name_length) == 0 && arg[name_length] == '=')
                        return arg + name_length + 1;
        }
        return NULL;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int http_url_decode(const char *src, size_t length, char *dst, size_t size)
{
        /*
         * lws_urldecode() does the decoding, but it accepts a truncated "%4"
         * silently and would turn "%00" into an early end of string.  Check
         * the escapes and the output size first so that a bad form is
         * refused instead of half-read.
         */
        size_t decoded_length = 0;
        for (size_t i = 0; i < length; i++, decoded_length++) {
                if (src[i] == '\0')
                        return -EINVAL;
                if (src[i] != '%')
                        continue;
                if (i + 2 >= length || hex_value(src[i + 1]) < 0 || hex_value(src[i + 2]) < 0)
                        return -EINVAL;
                if (hex_value(src[i + 1]) == 0 && hex_value(src[i + 2]) == 0)
                        return -EINVAL;
                i += 2;
        }
        if (decoded_length + 1 > size)
                return -ENOBUFS;

        /* Not strndup(): src need not be NUL-terminated (a request body), and
         * strndup may look for the NUL past `length` (ASan's strict string
         * checks flag it; found by tests/fuzz). */
        _cleanup_free_ char *terminated = malloc(length + 1);
        if (!terminated)
                return -ENOMEM;
        memcpy(terminated, src, length);
        terminated[length] = '\0';
        if (lws_urldecode(dst, terminated, (int)decoded_length + 1) < 0)
                return -EINVAL;
        dst[decoded_length] = '\0';
        return 0;
}

int http_form_value(const char *body, size_t body_length, const char *name, size_t max_length,
                    char **ret_value)
{
        size_t name_length = strlen(name);
        const char *end = body ? body + body_length : NULL;

        for (const char *field = body; field && field < end;) {
                const char *field_end = memchr(field, '&', (size_t)(end - field));
                if (!field_end)
                        field_end = end;
                const char *equals = memchr(field, '=', (size_t)(field_end - field));
                const char *key_end = equals ? equals : field_end;

                if ((size_t)(key_end - field) == name_length &&
                    memcmp(field, name, name_length) == 0) {
                        const char *value = equals ? equals + 1 : field_end;
                        size_t encoded_length = (size_t)(field_end - value);
                        /* A decoded value is never longer than its encoding. */
                        size_t size = encoded_length + 1;
                        _cleanup_free_ char *decoded = malloc(size);
                        if (!decoded)
                                return -ENOMEM;
                        int r = http_url_decode(value, encoded_length, decoded, size);
                        if (r < 0)
                                return r;
                        if (strlen(decoded) > max_length)
                                return -E2BIG;
                        *ret_value = TAKE_PTR(decoded);
                        return 0;
                }
                field = field_end + 1;
        }
        return -ENOENT;
}

int http_cookie_value(const char *cookie_header, const char *name, char *dst, size_t size)
{
        size_t name_length = strlen(name);
        const char *p = cookie_header;

        while (p && *p) {
                while (*p == ' ' || *p == '\t' || *p == ';')
                        p++;
                const char *pair_end = strchrnul(p, ';');
                const char *equals = memchr(p, '=', (size_t)(pair_end - p));
                if (equals && (size_t)(equals - p) == name_length &&
                    memcmp(p, name, name_length) == 0) {
                        const char *value = equals + 1;
                        size_t value_length = (size_t)(pair_end - value);
                        while (value_length > 0 &&
                               (value[value_length - 1] == ' ' || value[value_length - 1] == '\t'))
                                value_length--;
                        if (value_length + 1 > size)
                                return -ENOBUFS;
                        memcpy(dst, value, value_length);
                        dst[value_length] = '\0';
                        return 0;
                }
                p = pair_end;
        }
        return -ENOENT;
}

int http_parse_positive_int(const char *s, int64_t *ret_value)
{
        if (!s || !*s)
                return -EINVAL;
        int64_t value = 0;
        for (const char *p = s; *p; p++) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                if (value > (INT64_MAX - 9) / 10)
                        return -ERANGE;
                value = value * 10 + (*p - '0');
        }
        if (value <= 0)
                return -EINVAL;
        *ret_value = value;
        return 0;
}

bool http_text_is_clean_utf8(const char *s, size_t length)
{
        const unsigned char *p = (const unsigned char *)s;
        const unsigned char *end = p + length;

        while (p < end) {
                unsigned char c = *p;
                if (c < 0x80) {
                        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
                                return false;
                        p++;
                        continue;
                }
                size_t extra;
                uint32_t code_point;
                if (c >= 0xc2 && c <= 0xdf) {
                        extra = 1;
                        code_point = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        extra = 2;
                        code_point = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        extra = 3;
                        code_point = c & 0x07;
                } else {
                        return false;
                }
                if ((size_t)(end - p) <= extra)
                        return false;
                for (size_t i = 1; i <= extra; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        code_point = (code_point << 6) | (p[i] & 0x3f);
                }
                /* Overlong forms, surrogates and values past U+10FFFF. */
                if ((extra == 2 && code_point < 0x800) || (extra == 3 && code_point < 0x10000) ||
                    (code_point >= 0xd800 && code_point <= 0xdfff) || code_point > 0x10ffff)
                        return false;
                p += extra + 1;
        }
        return true;
}

size_t http_utf8_length(const char *s)
{
        size_t count = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if ((*p & 0xc0) != 0x80)
                        count++;
        return count;
}

/* Case-insensitive: is the header line's name `name`? */
static bool header_name_is(const char *line, const char *colon, const char *name)
{
        size_t length = strlen(name);
        return (size_t)(colon - line) == length && strncasecmp(line, name, length) == 0;
}

/* The header line's value without surrounding blanks, in [*ret_value, *ret_end). */
static void header_value(const char *colon, const char *line_end, const char **ret_value,
                         const char **ret_end)
{
        const char *value = colon + 1, *end = line_end;
        while (value < end && (*value == ' ' || *value == '\t'))
                value++;
        while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *ret_value = value;
        *ret_end = end;
}

int http_check_request_head_reason(const char *head, size_t length, const char **ret_reason)
{
        static const char *const methods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                              "PATCH", "DELETE", "OPTIONS"};
        const char *reason = "Malformed request line or header.";
        int status = 400;
        const char *end = head + length;
        const char *line_end = memchr(head, '\n', length);
        if (!line_end)
                goto refuse;

        /* Request line: METHOD SP TARGET SP HTTP/1.x */
        const char *space = memchr(head, ' ', (size_t)(line_end - head));
        if (!space || space == head)
                goto refuse;
        for (const char *p = head; p < space; p++)
                if (*p < 'A' || *p > 'Z')
                        goto refuse;
        bool known = false;
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
                if ((size_t)(space - head) == strlen(methods[i]) &&
                    memcmp(head, methods[i], (size_t)(space - head)) == 0)
                        known = true;
        const char *target = space + 1;
        const char *second_space = memchr(target, ' ', (size_t)(line_end - target));
        if (!second_space || second_space == target || (*target != '/' && *target != '*'))
                goto refuse;
        size_t query_args = 0;
        bool in_query = false;
        for (const char *p = target; p < second_space; p++) {
                if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                        goto refuse;
                /* lws answers a bad escape with 403; it is the client's syntax error. */
                if (*p == '%' &&
                    (second_space - p < 3 || hex_value(p[1]) < 0 || hex_value(p[2]) < 0)) {
                        reason = "Bad percent-escape in the request target.";
                        goto refuse;
                }
                /* lws would cut the path at a decoded NUL ("/%00x" served as "/"). */
                if (*p == '%' && hex_value(p[1]) == 0 && hex_value(p[2]) == 0) {
                        reason = "The request target holds an encoded NUL (%00).";
                        goto refuse;
                }
                if (*p == '?' && !in_query) {
                        in_query = true;
                        query_args = 1;
                } else if (*p == '&' && in_query) {
                        query_args++;
                }
        }
        if (query_args > HTTP_MAX_REQUEST_QUERY_ARGS) {
                reason = "Too many query parameters.";
                goto refuse;
        }
        const char *version = second_space + 1;
        size_t version_length = (size_t)(line_end - version);
        if (version_length > 0 && version[version_length - 1] == '\r')
                version_length--;
        if (version_length != 8 || memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' ||
            !isdigit((unsigned char)version[5]) || !isdigit((unsigned char)version[7]))
                goto refuse;
        if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
                status = 505;
                reason = "Only HTTP/1.0 and HTTP/1.1 are served.";
                goto refuse;
        }
        if (!known) {
                status = 501;
                reason = "Unknown request method.";
                goto refuse;
        }

        /* Header lines: NAME ":" VALUE, no control bytes; Content-Length all digits. */
        size_t fields = 0;
        for (const char *line = line_end + 1; line < end;) {
                const char *next = memchr(line, '\n', (size_t)(end - line));
                if (!next)
                        next = end;
                size_t line_length = (size_t)(next - line);
                if (line_length > 0 && line[line_length - 1] == '\r')
                        line_length--;
                if (line_length == 0)
                        break; /* the blank line ends the head */
                const char *colon = memchr(line, ':', line_length);
                if (!colon || colon == line)
                        goto refuse;
                for (const char *p = line; p < colon; p++)
                        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                                goto refuse;
                for (const char *p = colon + 1; p < line + line_length; p++)
                        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
                                goto refuse;
                /* lws keeps a fixed number of header pieces and drops the
                 * connection without an answer past it (~90 repeats). */
                if (++fields > HTTP_MAX_HEADER_FIELDS) {
                        status = 431;
                        reason = "Too many header fields.";
                        goto refuse;
                }
                if (header_name_is(line, colon, "content-length")) {
                        const char *value, *value_end;
                        header_value(colon, line + line_length, &value, &value_end);
                        if (value == value_end || value_end - value > 18)
                                goto refuse;
                        for (const char *p = value; p < value_end; p++)
                                if (!isdigit((unsigned char)*p))
                                        goto refuse;
                }
                line = next + 1;
        }
        return 0;

refuse:
        if (ret_reason)
                *ret_reason = reason;
        return status;
}

int http_check_request_head(const char *head, size_t length)
{
        return http_check_request_head_reason(head, length, NULL);
}

/* Is this header line an Upgrade to something other than WebSocket, or its HTTP2-Settings? */
static bool is_ignored_upgrade_line(const char *line, const char *colon, const char *line_end)
{
        if (header_name_is(line, colon, "http2-settings"))
                return true;
        if (!header_name_is(line, colon, "upgrade"))
                return false;
        const char *value, *value_end;
        header_value(colon, line_end, &value, &value_end);
        return !((size_t)(value_end - value) == 9 && strncasecmp(value, "websocket", 9) == 0);
}

size_t http_head_drop_upgrade(char *head, size_t length)
{
        const char *first_line_end = memchr(head, '\n', length);
        if (!first_line_end)
                return length;
        char *out = head + (first_line_end - head) + 1;
        const char *end = head + length;
        for (const char *line = out; line < end;) {
                const char *next = memchr(line, '\n', (size_t)(end - line));
                next = next ? next + 1 : end;
                const char *line_end = next;
                while (line_end > line && (line_end[-1] == '\n' || line_end[-1] == '\r'))
                        line_end--;
                const char *colon = memchr(line, ':', (size_t)(line_end - line));
                if (line_end == line) {
                        /* The blank line and anything after it stay as they are. */
                        memmove(out, line, (size_t)(end - line));
                        out += end - line;
                        break;
                }
                if (!colon || !is_ignored_upgrade_line(line, colon, line_end)) {
                        memmove(out, line, (size_t)(next - line));
                        out += next - line;
                }
                line = next;
        }
        return (size_t)(out - head);
}

bool http_head_has_ignored_upgrade(const char *head, size_t length)
{
        bool upgrade = false, body = false;
        const char *end = head + length;
        const char *line = memchr(head, '\n', length);
        for (line = line ? line + 1 : end; line < end;) {
                const char *next = memchr(line, '\n', (size_t)(end - line));
                next = next ? next + 1 : end;
                const char *line_end = next;
                while (line_end > line && (line_end[-1] == '\n' || line_end[-1] == '\r'))
                        line_end--;
                if (line_end == line)
                        break;
                const char *colon = memchr(line, ':', (size_t)(line_end - line));
                if (colon && header_name_is(line, colon, "upgrade") &&
                    is_ignored_upgrade_line(line, colon, line_end))
                        upgrade = true;
                if (colon && header_name_is(line, colon, "transfer-encoding"))
                        body = true;
                if (colon && header_name_is(line, colon, "content-length")) {
                        const char *value, *value_end;
                        header_value(colon, line_end, &value, &value_end);
                        for (const char *p = value; p < value_end; p++)
                                if (*p != '0')
                                        body = true;
                }
                line = next;
        }
        return upgrade && !body;
}
