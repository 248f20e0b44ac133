/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event recorder: writes core/v1 Events about an object, as `kubectl
 * describe` shows them.
 *
 * Repeats of the same event (same object, type, reason and message) within
 * the aggregation window are folded into the first one: its count goes up
 * and lastTimestamp moves (a merge patch), instead of a new Event each time.
 * If the Event was deleted meanwhile, a new one is created.
 *
 * Threading: thread-safe.  Ownership: the involved object is borrowed for
 * the call; strings are copied.
 */
#pragma once

#include <stdint.h>

#include "kube.h"

struct kube_event_recorder_options {
        const char *component;         /* source.component / reportingComponent, required */
        const char *host;              /* source.host; NULL: none */
        const char *instance;          /* reportingInstance; NULL: component */
        int64_t aggregation_window_ms; /* 0: 10 minutes */
        unsigned max_cached;           /* 0: 4096 remembered events (oldest forgotten first) */
};

struct kube_event_recorder;

/* client is borrowed and must outlive the recorder. */
int kube_event_recorder_new(struct kube_client *client,
                            const struct kube_event_recorder_options *options,
                            struct kube_event_recorder **ret_recorder);
void kube_event_recorder_free(struct kube_event_recorder *recorder);

#define KUBE_EVENT_NORMAL  "Normal"
#define KUBE_EVENT_WARNING "Warning"

/*
 * Record an event about object (needs apiVersion, kind, metadata.name; uid,
 * namespace and resourceVersion are used when present).  type is
 * KUBE_EVENT_NORMAL or KUBE_EVENT_WARNING; reason is CamelCase.  Returns 0
 * or the API error (callers usually log it and go on).  *ret_count
 * (optional): the Event's count after this call.
 */
int kube_event_record(struct kube_event_recorder *recorder, const json_t *object, const char *type,
                      const char *reason, const char *message, unsigned *ret_count,
                      struct kube_status *ret_status);
