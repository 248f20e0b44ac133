/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label and field selectors (selector.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

struct selector;
/* Parse a labelSelector query string; -EINVAL with *ret_error on bad syntax. */
int sel_parse_labels(const char *text, struct selector **ret, char **ret_error);
/* Parse a fieldSelector (field=value, field==value, field!=value, comma separated). */
int sel_parse_fields(const char *text, struct selector **ret, char **ret_error);
bool sel_matches(const struct selector *sel, json_t *obj); /* NULL matches all */
void sel_free(struct selector *sel);
/* matchLabels/matchExpressions to the "a=b,c in (d)" text form (malloc). */
char *label_selector_json_to_string(json_t *selector);
/* A string at a dotted path ("spec.nodeName"), borrowed, or NULL. */
const char *json_path_string(json_t *obj, const char *dotted);
