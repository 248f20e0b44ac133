/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: arbitrary JSON as a TripDeal (or its .spec), through
 * everything the operator does with a spec before it writes: parse and
 * validate, evaluate the sale schedule, build the owned objects.
 *
 * Properties: a refused spec comes with a message that names a field under
 * "spec."; an accepted one evaluates (or is refused by the schedule, again
 * naming a field) to a floor within [replicas.min, replicas.max] and builds
 * every object with a kind and the TripDeal's name.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "schedule.h"
#include "tripdeal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A refusal always says why, naming the field, with the code returned. */
static void check_names_field(const struct tripdeal_error *error, int r)
{
        if (error->code != r || strncmp(error->message, "spec", 4) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *document = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
        if (!document)
                return 0;
        const json_t *spec = json_object_get(document, "spec") ?: document;

        struct tripdeal_spec *parsed = NULL;
        struct tripdeal_error error = {0};
        int r = tripdeal_spec_parse(spec, &parsed, &error);
        if (r < 0) {
                check_names_field(&error, r);
                json_decref(document);
                return 0;
        }

        /* 2026-11-25 09:58:00 UTC: two minutes before a 10:00 sale in UTC. */
        struct schedule_state state;
        r = schedule_evaluate(parsed, 1795600680000, &state, &error);
        if (r < 0) {
                check_names_field(&error, r);
        } else {
                if (state.floor_replicas < parsed->replicas_min ||
                    state.floor_replicas > parsed->replicas_max)
                        abort();
                struct tripdeal_identity owner = {
                        .name = "fuzz", .namespace = "default", .uid = "0000", .generation = 1};
                struct desired_objects objects = {0};
                if (desired_objects_build(&owner, parsed, state.floor_replicas, &objects) == 0) {
                        for (size_t kind = 0; kind < _DESIRED_KIND_MAX; kind++) {
                                json_t *o = objects.objects[kind];
                                if (!o)
                                        continue;
                                const char *name = json_string_value(
                                        json_object_get(json_object_get(o, "metadata"), "name"));
                                if (!json_is_string(json_object_get(o, "kind")) || !name ||
                                    strcmp(name, "fuzz") != 0)
                                        abort();
                        }
                        desired_objects_clear(&objects);
                }
        }
        tripdeal_spec_free(parsed);
        json_decref(document);
        return 0;
}
