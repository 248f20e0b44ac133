/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by lib/kube's source files and its unit tests.  Not part of
 * the public API: programs include kube.h and the kube-*.h module headers.
 */
#pragma once

#include <stdio.h>

#include "kube.h"

/* Raw bytes (PEM, which may hold NULs in theory, so keep the length). */
struct kube_blob {
        unsigned char *data;
        size_t size;
};

struct kube_config {
        char *context;   /* "" for in-cluster */
        char *server;    /* https://host:port, no trailing '/' */
        char *namespace; /* never NULL */
        bool insecure;
        /* CA: file or inline PEM (at most one set). */
        char *ca_file;
        struct kube_blob ca_data;
        /* Auth: token, token file (re-read on each request, it rotates), or
         * client certificate + key, each as file or inline PEM. */
        char *token;
        char *token_file;
        char *client_cert_file;
        struct kube_blob client_cert_data;
        char *client_key_file;
        struct kube_blob client_key_data;
};

int kube_config_copy(const struct kube_config *config, struct kube_config **ret_copy);

/* Base64 (standard alphabet, padding and whitespace tolerated) to bytes. */
int kube_base64_decode(const char *text, struct kube_blob *ret_blob);

/* Read a one-line secret file (token, namespace), trailing whitespace cut.
 * -EINVAL when empty or when it holds a control character (CR, LF, NUL, ...)
 * other than the trailing whitespace. */
int kube_read_token_file(const char *path, char **ret_token);
/* What -EINVAL from kube_read_token_file means, for messages. */
#define KUBE_TOKEN_FILE_INVALID "empty, or not one line of printable characters"
/* A token fit for an Authorization header: not empty, no control character
 * (NUL included) in its length bytes. */
bool kube_token_is_valid(const char *token, size_t length);

/* Fill *status (if not NULL); message is printf-like. */
void kube_status_set(struct kube_status *status, long http_code, const char *reason,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fill *status from a metav1.Status JSON (missing fields keep defaults). */
void kube_status_from_json(struct kube_status *status, long http_code, const json_t *body);

/*
 * Watch stream decoder: the API server sends one JSON event per line, but
 * chunk boundaries fall anywhere.  Feed bytes as they arrive; every complete
 * line is parsed and handed to the callback.
 */
struct kube_watch_decoder {
        char *buffer;
        size_t length;
        size_t capacity;
        kube_watch_callback callback;
        void *userdata;
        /* First non-zero callback result or decode error; feeding stops. */
        int result;
        /* The last ERROR event's status (set when one arrives). */
        bool saw_error_event;
        struct kube_status error_status;
};
void kube_watch_decoder_init(struct kube_watch_decoder *decoder, kube_watch_callback callback,
                             void *userdata);
/* 0, or the callback's non-zero value, KUBE_ERR_PARSE, -ENOMEM. */
int kube_watch_decoder_feed(struct kube_watch_decoder *decoder, const char *data, size_t size);
/* Parse what is left without a final newline.  Same returns. */
int kube_watch_decoder_finish(struct kube_watch_decoder *decoder);
void kube_watch_decoder_done(struct kube_watch_decoder *decoder);

/* One HTTP exchange on the client. */
struct kube_request {
        const char *method;       /* "GET", "POST", ... */
        const char *path;         /* /api/... with query */
        const char *content_type; /* for body */
        const json_t *body;       /* borrowed, may be NULL */
        /* Streaming: when set, the response body goes to this decoder
         * instead of being parsed as one JSON document. */
        struct kube_watch_decoder *stream;
        struct kube_cancel *cancel;
        bool no_timeout;    /* watches */
        int64_t timeout_ms; /* > 0: overrides the client's request timeout */
        /* Text responses (pods/log): on success the raw body goes here
         * (NUL-terminated, malloc'ed) instead of being parsed as JSON. */
        char **ret_text;
};
/* 0 with *ret_body (optional) = parsed response; or a KUBE_ERR_*. */
int kube_client_request(struct kube_client *client, const struct kube_request *request,
                        json_t **ret_body, struct kube_status *ret_status);

/* Register the socket a cancellable call uses (-1: none), under the token's
 * lock so kube_cancel() never shuts down a socket number reused elsewhere. */
void kube_cancel_set_socket(struct kube_cancel *cancel, int fd);
/* Unregister fd if it is the registered one (happy eyeballs may open and
 * close a losing socket while the winner stays registered). */
void kube_cancel_clear_socket(struct kube_cancel *cancel, int fd);

/* Query string builder: appends "?k=v" / "&k=v" with v percent-encoded. */
int kube_query_append(char **path, const char *key, const char *value);

/* Jittered exponential backoff: base * 2^attempt capped at max, then
 * multiplied by a random factor in [0.5, 1.5) (thread-safe RNG). */
int64_t kube_backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempt);
