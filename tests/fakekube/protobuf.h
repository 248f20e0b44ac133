/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes protobuf request bodies as JSON (protobuf.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

/* A "k8s\0"-framed protobuf body of a known kind as JSON (new reference), NULL otherwise. */
json_t *protobuf_to_json(const char *body, size_t len);
