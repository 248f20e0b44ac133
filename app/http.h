/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transport-independent HTTP pieces of tripdeal-app: the request and response
 * as the route handlers see them, and the small pure parsers they use (path
 * patterns, query arguments, form bodies, URL decoding, cookies).
 *
 * Nothing here touches a socket, so all of it is unit-tested directly.
 *
 * Ownership: struct http_request only borrows (the server glue owns every
 * string for the duration of one request).  struct http_response owns its
 * body unless body_is_static; http_response_clear() frees it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method {
        HTTP_METHOD_GET,
        HTTP_METHOD_HEAD,
        HTTP_METHOD_POST,
        HTTP_METHOD_PUT,
        HTTP_METHOD_PATCH,
        HTTP_METHOD_DELETE,
        HTTP_METHOD_OPTIONS,
        HTTP_METHOD_OTHER,
        _HTTP_METHOD_COUNT,
};

const char *http_method_to_string(enum http_method method);

/* The server glue splits the query into decoded "name=value" fragments. */
#define HTTP_MAX_QUERY_ARGS 16

struct http_request {
        enum http_method method;
        const char *path; /* decoded path, no query, starts with '/' */
        const char *query_args[HTTP_MAX_QUERY_ARGS];
        size_t n_query_args;
        const char *cookie_header; /* NULL when absent */
        const char *csrf_header;   /* X-CSRF-Token, NULL when absent */
        const char *content_type;  /* NULL when absent */
        const char *body;          /* NUL-terminated copy of the body, or NULL */
        size_t body_length;
        const char *request_id;
};

#define HTTP_HEADER_VALUE_MAX 256

struct http_response {
        int status;
        const char *content_type; /* static string */
        char *body;
        size_t body_length;
        bool body_is_static;
        const char *cache_control; /* static string or NULL (then "no-store") */
        const char *allow;         /* for 405: static string */
        char location[HTTP_HEADER_VALUE_MAX];
        char set_cookie[HTTP_HEADER_VALUE_MAX];
};

/* Free the body (unless static) and reset to an empty response. */
void http_response_clear(struct http_response *response);

/* Standard reason phrase ("Not Found"), "Unknown" for codes we never send. */
const char *http_status_reason(int status);

/*
 * Match `path` against a route pattern such as "/deals/{id}".  The only
 * placeholder is {id}: 1..18 ASCII digits, stored in *ret_id (untouched on
 * no match).  Exact, case-sensitive, no trailing-slash folding.
 */
bool http_path_match(const char *pattern, const char *path, int64_t *ret_id);

/* Value of query argument `name` (borrowed from the request), or NULL. */
const char *http_query_value(const struct http_request *request, const char *name);

/*
 * Decode application/x-www-form-urlencoded text of `length` bytes ("%41" and
 * "+" for space) into dst (size bytes, NUL-terminated).  -EINVAL on a bad or
 * truncated escape or on an encoded NUL; -ENOBUFS when dst is too small.
 */
int http_url_decode(const char *src, size_t length, char *dst, size_t size);

/*
 * Find field `name` in a form body and decode its value into a newly
 * allocated string.  -ENOENT when absent, -EINVAL on bad encoding, -E2BIG
 * when the decoded value is longer than max_length bytes.
 * The first occurrence wins.
 */
int http_form_value(const char *body, size_t body_length, const char *name, size_t max_length,
                    char **ret_value);

/* Copy the value of cookie `name` from a Cookie header.  -ENOENT, -ENOBUFS. */
int http_cookie_value(const char *cookie_header, const char *name, char *dst, size_t size);

/* Parse a positive decimal integer that fits in int64 ("007" ok, "+1", "1e3", "" not). */
int http_parse_positive_int(const char *s, int64_t *ret_value);

/* True when the bytes are well-formed UTF-8 without control characters
 * other than \n, \r and \t. */
bool http_text_is_clean_utf8(const char *s, size_t length);

/* Number of Unicode code points in well-formed UTF-8. */
size_t http_utf8_length(const char *s);

/* Limits lws cannot report: past about 90 header pieces (each header line
 * lws knows and each query argument) it drops the connection silently. */
#define HTTP_MAX_HEADER_FIELDS      64
#define HTTP_MAX_REQUEST_QUERY_ARGS 24

/*
 * Check a complete request head (request line + headers, up to the blank
 * line) before lws parses it: 0 when well-formed, otherwise the status to
 * answer: 400 (malformed line, header without a colon, control bytes, bad
 * Content-Length, bad or NUL ("%00") percent-escape in the target, more than
 * HTTP_MAX_REQUEST_QUERY_ARGS query arguments), 431 (more than
 * HTTP_MAX_HEADER_FIELDS header lines), 501 (unknown method) or 505 (HTTP
 * version other than 1.0/1.1).  *ret_reason (when not NULL) gets a sentence
 * for the client on refusal, untouched on 0.
 */
int http_check_request_head_reason(const char *head, size_t length, const char **ret_reason);
int http_check_request_head(const char *head, size_t length);

/*
 * An Upgrade to anything but WebSocket (curl --http2 sends "Upgrade: h2c")
 * is ignored and the request served as HTTP/1.1 (RFC 9110 7.8 lets a server
 * ignore it).  lws would answer it with an error, so the head is rewritten
 * before lws reads it: http_head_has_ignored_upgrade() tells whether the
 * head of `length` bytes has such a line and no body (lws 4.1 mishandles a
 * body after a head it was handed); http_head_drop_upgrade() removes
 * those Upgrade and HTTP2-Settings lines in place and returns the new length
 * (bytes after the blank line are kept).
 */
bool http_head_has_ignored_upgrade(const char *head, size_t length);
size_t http_head_drop_upgrade(char *head, size_t length);
