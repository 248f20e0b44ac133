/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML to JSON (jansson) on libyaml, the one converter of the tree: the
 * kubeconfig loader (lib/kube), fakekube's YAML bodies and the CRD checks.
 *
 * Scalars resolve the way kubectl reads YAML.  Checked against kubectl 1.32
 * (`kubectl create --dry-run=client -o json`): it converts with
 * sigs.k8s.io/yaml, which resolves plain scalars with go-yaml v2's YAML 1.1
 * table, not YAML 1.2's.  So, for plain (unquoted) scalars only:
 *   null:    "", ~, null, Null, NULL
 *   true:    y Y yes Yes YES true True TRUE on On ON
 *   false:   n N no No NO false False FALSE off Off OFF
 *   integer: Go's strconv.ParseInt(s, 0) after removing "_": 12, -3, +4,
 *            0x1F (31), 0o17 and 017 (15), 0b101 (5), 1_000 (1000)
 *   real:    1.5, .5, -2e3, 1e3
 *   error:   .inf, .nan (JSON has neither; kubectl refuses them too)
 * Everything else, and every quoted or block scalar, is a string (dates
 * stay strings, as kubectl prints them).  Mapping keys become strings
 * ("yes:" and "y:" are both the key "true", "2:" is "2", as in kubectl; a
 * null key is an error, as in kubectl).  Aliases are expanded; "<<"
 * merge keys merge (explicit keys win).  Limits: 64 levels, 1,000,000 nodes
 * after alias expansion.
 *
 * YAML_SCALARS_AS_STRINGS keeps every scalar's text instead, for readers of
 * typed documents where the field's type decides (a kubeconfig: sigs.k8s.io/yaml
 * gives a string field the text as written, and yaml_json_bool() reads a
 * boolean field the YAML 1.1 way).
 *
 * Library code: returns 0 or -errno, never logs; error text goes to the
 * caller's buffer ("line N: ...").  Outputs untouched on failure.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum yaml_scalars {
        YAML_SCALARS_KUBECTL,    /* resolve plain scalars as kubectl does (above) */
        YAML_SCALARS_AS_STRINGS, /* every scalar a JSON string, its text as written */
};

/*
 * Every document of text, in order, as a JSON array (an empty document is
 * null).  -EINVAL for malformed YAML or what JSON cannot hold (a
 * non-scalar key, .inf), -E2BIG past the limits, -ENOMEM; error says what
 * and where.
 */
int yaml_json_load_all(const char *text, size_t length, enum yaml_scalars scalars, char *error,
                       size_t error_size, json_t **ret_documents);

/* The first document; an empty stream is -ENODATA. */
int yaml_json_load(const char *text, size_t length, enum yaml_scalars scalars, char *error,
                   size_t error_size, json_t **ret_value);

/* A YAML 1.1 boolean as kubectl reads one (the table above): 0, or -EINVAL. */
int yaml_json_bool(const char *text, bool *ret_value);
