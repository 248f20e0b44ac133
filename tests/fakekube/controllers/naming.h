/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names the way the real controllers make them: the pod-template-hash of a
 * Deployment's pod template (FNV-32a, encoded with Kubernetes'
 * SafeEncodeString alphabet) and the 5-character random suffix of
 * generateName.  Pure; json_t arguments borrowed.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NAME_SUFFIX_ALPHABET "bcdfghjklmnpqrstvwxz2456789"

/*
 * Hash of the template (its "pod-template-hash" label and null members
 * ignored, keys sorted)
 * and the collision count, as text into buf (>= 11 bytes).  -ENOBUFS if small.
 */
int pod_template_hash(const json_t *template, int64_t collision_count, char *buf, size_t size);

/* 5 random characters of NAME_SUFFIX_ALPHABET into buf (>= 6 bytes). */
void random_name_suffix(char *buf, size_t size);
