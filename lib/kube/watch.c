/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming watch: newline-delimited JSON events over a chunked response. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"
#include "macros.h"

/* One event line larger than this is refused rather than buffered forever. */
#define MAX_EVENT_SIZE ((size_t)64 << 20)

const char *kube_watch_event_type_to_string(enum kube_watch_event_type type)
{
        switch (type) {
        case KUBE_WATCH_ADDED:
                return "ADDED";
        case KUBE_WATCH_MODIFIED:
                return "MODIFIED";
        case KUBE_WATCH_DELETED:
                return "DELETED";
        case KUBE_WATCH_BOOKMARK:
                return "BOOKMARK";
        case KUBE_WATCH_ERROR:
                return "ERROR";
        }
        return "UNKNOWN";
}

static int parse_type(const char *s, enum kube_watch_event_type *ret)
{
        static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
        for (size_t i = 0; s && i < ARRAY_SIZE(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum kube_watch_event_type)i;
                        return 0;
                }
        return -EINVAL;
}

void kube_watch_decoder_init(struct kube_watch_decoder *decoder, kube_watch_callback callback,
                             void *userdata)
{
        *decoder = (struct kube_watch_decoder){.callback = callback, .userdata = userdata};
}

void kube_watch_decoder_done(struct kube_watch_decoder *decoder)
{
        free(decoder->buffer);
        decoder->buffer = NULL;
        decoder->length = decoder->capacity = 0;
}

static int decode_line(struct kube_watch_decoder *decoder, const char *line, size_t size)
{
        /* Tolerate blank lines and CRLF. */
        while (size > 0 && (line[size - 1] == '\r' || line[size - 1] == ' '))
                size--;
        if (size == 0)
                return 0;
        json_error_t error;
        _cleanup_json_ json_t *event = json_loadb(line, size, 0, &error);
        enum kube_watch_event_type type;
        json_t *object = json_object_get(event, "object");
        if (!json_is_object(object) ||
            parse_type(json_string_value(json_object_get(event, "type")), &type) < 0) {
                kube_status_set(&decoder->error_status, 200, "ParseError", "malformed watch event");
                decoder->saw_error_event = true;
                return KUBE_ERR_PARSE;
        }
        int r = decoder->callback ? decoder->callback(type, object, decoder->userdata) : 0;
        if (type == KUBE_WATCH_ERROR) {
                /* The server ends the watch after an ERROR event; turn it into
                 * this call's result (410 -> KUBE_ERR_GONE: relist). */
                json_int_t code = json_integer_value(json_object_get(object, "code"));
                const char *reason = json_string_value(json_object_get(object, "reason"));
                kube_status_from_json(&decoder->error_status, (long)code, object);
                decoder->saw_error_event = true;
                if (r == 0) {
                        r = kube_error_from_http(code ? (long)code : 500, reason);
                        if (r == 0)
                                r = KUBE_ERR_SERVER;
                }
        }
        return r;
}

int kube_watch_decoder_feed(struct kube_watch_decoder *decoder, const char *data, size_t size)
{
        if (decoder->result != 0)
                return decoder->result;
        if (decoder->length + size + 1 > decoder->capacity) {
                if (decoder->length + size > MAX_EVENT_SIZE)
                        return decoder->result = KUBE_ERR_PARSE;
                size_t cap = decoder->capacity ? decoder->capacity : 8192;
                while (cap < decoder->length + size + 1)
                        cap *= 2;
                char *b = realloc(decoder->buffer, cap);
                if (!b)
                        return decoder->result = -ENOMEM;
                decoder->buffer = b;
                decoder->capacity = cap;
        }
        size_t scan_from = decoder->length;
        memcpy(decoder->buffer + decoder->length, data, size);
        decoder->length += size;

        size_t start = 0;
        for (;;) {
                char *nl = memchr(decoder->buffer + scan_from, '\n', decoder->length - scan_from);
                if (!nl)
                        break;
                size_t end = (size_t)(nl - decoder->buffer);
                int r = decode_line(decoder, decoder->buffer + start, end - start);
                start = scan_from = end + 1;
                if (r != 0) {
                        decoder->result = r;
                        break;
                }
        }
        memmove(decoder->buffer, decoder->buffer + start, decoder->length - start);
        decoder->length -= start;
        return decoder->result;
}

int kube_watch_decoder_finish(struct kube_watch_decoder *decoder)
{
        if (decoder->result != 0)
                return decoder->result;
        if (decoder->length > 0) {
                int r = decode_line(decoder, decoder->buffer, decoder->length);
                decoder->length = 0;
                if (r != 0)
                        decoder->result = r;
        }
        return decoder->result;
}

int kube_watch(struct kube_client *client, const struct kube_resource *resource,
               const struct kube_watch_options *options, kube_watch_callback callback,
               void *userdata, struct kube_status *ret_status)
{
        static const struct kube_watch_options defaults = {0};
        if (!callback)
                return -EINVAL;
        if (!options)
                options = &defaults;
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(resource, options->namespace, NULL, NULL, &path);
        if (r == 0)
                r = kube_query_append(&path, "watch", "true");
        if (r == 0 && options->label_selector && options->label_selector[0])
                r = kube_query_append(&path, "labelSelector", options->label_selector);
        if (r == 0 && options->field_selector && options->field_selector[0])
                r = kube_query_append(&path, "fieldSelector", options->field_selector);
        if (r == 0 && options->resource_version && options->resource_version[0])
                r = kube_query_append(&path, "resourceVersion", options->resource_version);
        if (r == 0 && options->allow_bookmarks)
                r = kube_query_append(&path, "allowWatchBookmarks", "true");
        if (r == 0 && options->timeout_seconds > 0) {
                char timeout[32];
                snprintf(timeout, sizeof(timeout), "%ld", options->timeout_seconds);
                r = kube_query_append(&path, "timeoutSeconds", timeout);
        }
        if (r < 0)
                return r;

        struct kube_watch_decoder decoder;
        kube_watch_decoder_init(&decoder, callback, userdata);
        r = kube_client_request(client,
                                &(struct kube_request){.method = "GET",
                                                       .path = path,
                                                       .stream = &decoder,
                                                       .cancel = options->cancel,
                                                       .no_timeout = true},
                                NULL, ret_status);
        if (decoder.saw_error_event && ret_status)
                *ret_status = decoder.error_status;
        kube_watch_decoder_done(&decoder);
        if (r == 0 && kube_cancelled(options->cancel))
                r = KUBE_ERR_CANCELLED;
        return r;
}
