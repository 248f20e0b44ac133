/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: arbitrary bytes through lib/common's YAML to JSON
 * converter, in both scalar modes.  Its corpus is the kubeconfig corpus plus
 * the repository's YAML (CRD, samples), fed by meson.
 *
 * Properties: a refused input comes with a message; an accepted one gives an
 * array of documents that serialises; the strings mode never refuses what
 * the kubectl mode accepts (it only skips scalar resolution).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char error[256] = "";
        json_t *kubectl = NULL, *strings = NULL;
        int r = yaml_json_load_all((const char *)data, size, YAML_SCALARS_KUBECTL, error,
                                   sizeof(error), &kubectl);
        if (r < 0 && (!error[0] || kubectl))
                abort();
        if (r == 0) {
                if (!json_is_array(kubectl))
                        abort();
                char *text = json_dumps(kubectl, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!text)
                        abort();
                free(text);
        }
        int s = yaml_json_load_all((const char *)data, size, YAML_SCALARS_AS_STRINGS, error,
                                   sizeof(error), &strings);
        if (r == 0 && s < 0)
                abort();
        if (r == 0 && json_array_size(strings) != json_array_size(kubectl))
                abort();
        json_decref(kubectl);
        json_decref(strings);
        return 0;
}
