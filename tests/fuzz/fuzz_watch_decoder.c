/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: arbitrary bytes as a watch stream (one JSON event per
 * line), cut into chunks wherever the input says, as TCP would.  The first
 * byte picks the chunk size.
 *
 * Properties: every event handed over is a JSON object; the decoder ends in
 * 0, KUBE_ERR_PARSE, or -- only after an ERROR event, whose Status it keeps --
 * the error that event carries; the same bytes in one chunk decode to the
 * same result and the same number of events.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"
#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_event(enum kube_watch_event_type type, json_t *object, void *userdata)
{
        (void)type;
        if (!json_is_object(object))
                abort();
        (*(unsigned *)userdata)++;
        return 0;
}

static int decode(const char *data, size_t size, size_t chunk, unsigned *ret_events)
{
        /* Events after the one that ended decoding are not counted: the
         * callback is not called for them. */
        struct kube_watch_decoder decoder;
        kube_watch_decoder_init(&decoder, count_event, ret_events);
        int r = 0;
        for (size_t at = 0; r == 0 && at < size; at += chunk) {
                size_t n = size - at < chunk ? size - at : chunk;
                r = kube_watch_decoder_feed(&decoder, data + at, n);
        }
        if (r == 0)
                r = kube_watch_decoder_finish(&decoder);
        if (r != 0 && r != KUBE_ERR_PARSE && r != -ENOMEM &&
            !(decoder.saw_error_event &&
              memchr(decoder.error_status.message, '\0', sizeof(decoder.error_status.message))))
                abort();
        kube_watch_decoder_done(&decoder);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t chunk = (size_t)data[0] % 64 + 1;
        const char *stream = (const char *)data + 1;
        size_t length = size - 1;

        unsigned chunked = 0, whole = 0;
        int r = decode(stream, length, chunk, &chunked);
        int r_whole = decode(stream, length, length ? length : 1, &whole);
        if (r_whole != r || whole != chunked)
                abort();
        return 0;
}
