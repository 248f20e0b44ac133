/* SPDX-License-Identifier: Apache-2.0 */
#include "naming.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "macros.h"

/* null members mean "unset" (kubectl sends creationTimestamp: null): they must not change the hash.
 */
static void drop_nulls(json_t *value)
{
        if (json_is_object(value)) {
                const char *key;
                json_t *member;
                void *tmp;
                json_object_foreach_safe (value, tmp, key, member) {
                        if (json_is_null(member))
                                json_object_del(value, key);
                        else
                                drop_nulls(member);
                }
        } else if (json_is_array(value)) {
                size_t i;
                json_t *item;
                json_array_foreach (value, i, item)
                        drop_nulls(item);
        }
}

int pod_template_hash(const json_t *template, int64_t collision_count, char *buf, size_t size)
{
        if (size < 11)
                return -ENOBUFS;
        /* Hash what the user wrote: the label we add to the ReplicaSet's copy must not count. */
        _cleanup_json_ json_t *copy = json_deep_copy(template);
        if (!copy && template)
                return -ENOMEM;
        json_object_del(json_object_get(json_object_get(copy, "metadata"), "labels"),
                        "pod-template-hash");
        drop_nulls(copy);
        _cleanup_free_ char *text =
                copy ? json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS) : strdup("");
        if (!text)
                return -ENOMEM;
        uint32_t h = 2166136261u;
        for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
                h ^= *p;
                h *= 16777619u;
        }
        if (collision_count > 0) {
                uint32_t c = (uint32_t)collision_count;
                for (int i = 0; i < 4; i++) {
                        h ^= (c >> (8 * i)) & 0xffu;
                        h *= 16777619u;
                }
        }
        /* rand.SafeEncodeString(fmt.Sprint(sum)): each decimal digit mapped into the alphabet. */
        char digits[16];
        snprintf(digits, sizeof(digits), "%u", h);
        const char alphabet[] = NAME_SUFFIX_ALPHABET;
        size_t n = strlen(digits);
        for (size_t i = 0; i < n; i++)
                buf[i] = alphabet[(unsigned char)digits[i] % (sizeof(alphabet) - 1)];
        buf[n] = '\0';
        return 0;
}

void random_name_suffix(char *buf, size_t size)
{
        const char alphabet[] = NAME_SUFFIX_ALPHABET;
        unsigned char bytes[5] = {0};
        if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
                for (size_t i = 0; i < sizeof(bytes); i++)
                        bytes[i] = (unsigned char)rand();
        size_t n = size > 5 ? 5 : (size ? size - 1 : 0);
        for (size_t i = 0; i < n; i++)
                buf[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
        if (size)
                buf[n] = '\0';
}
