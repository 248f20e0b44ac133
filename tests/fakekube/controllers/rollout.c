/* SPDX-License-Identifier: Apache-2.0 */
#include "rollout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static int32_t min32(int32_t a, int32_t b)
{
        return a < b ? a : b;
}

int rollout_rolling_step(int32_t desired, int32_t max_surge, int32_t max_unavailable,
                         struct rollout_rs *rs, size_t n, size_t new_index)
{
        if (max_surge == 0 && max_unavailable == 0)
                max_unavailable = 1;
        int32_t total = 0;
        for (size_t i = 0; i < n; i++) {
                rs[i].target = rs[i].replicas;
                total += rs[i].replicas;
        }
        struct rollout_rs *new_rs = &rs[new_index];
        /* reconcileNewReplicaSet: never above desired; surge up to desired + maxSurge in total. */
        if (new_rs->replicas > desired) {
                new_rs->target = desired;
                return 1;
        }
        if (new_rs->replicas < desired) {
                int32_t max_total = desired + max_surge;
                if (total < max_total) {
                        int32_t up = min32(max_total - total, desired - new_rs->replicas);
                        new_rs->target = new_rs->replicas + up;
                        return 1;
                }
        }
        /* reconcileOldReplicaSets */
        int32_t old_total = 0;
        for (size_t i = 0; i < n; i++)
                if (i != new_index)
                        old_total += rs[i].replicas;
        if (old_total == 0)
                return 0;
        int32_t min_available = desired - max_unavailable;
        int32_t new_unavailable = new_rs->replicas - new_rs->available;
        if (new_unavailable < 0)
                new_unavailable = 0;
        int32_t max_scaled_down = total - min_available - new_unavailable;
        if (max_scaled_down <= 0)
                return 0;
        bool changed = false;
        /* cleanupUnhealthyReplicas: old pods that are not available go first, oldest RS first. */
        size_t *order = calloc(n > 0 ? n : 1, sizeof(*order));
        if (!order)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (i != new_index)
                        order[k++] = i;
        for (size_t a = 0; a < k; a++)
                for (size_t b = a + 1; b < k; b++)
                        if (rs[order[b]].created_ms < rs[order[a]].created_ms) {
                                size_t t = order[a];
                                order[a] = order[b];
                                order[b] = t;
                        }
        int32_t cleaned = 0;
        for (size_t a = 0; a < k && cleaned < max_scaled_down; a++) {
                struct rollout_rs *old = &rs[order[a]];
                int32_t unhealthy = old->target - old->available;
                if (unhealthy <= 0)
                        continue;
                int32_t down = min32(unhealthy, max_scaled_down - cleaned);
                old->target -= down;
                cleaned += down;
                changed = true;
        }
        /* scaleDownOldReplicaSetsForRollingUpdate: keep minAvailable available pods. */
        int32_t available = 0;
        for (size_t i = 0; i < n; i++) {
                int32_t a = rs[i].available;
                if (i != new_index && a > rs[i].target)
                        a = rs[i].target;
                available += a;
        }
        int32_t scale_down = available - min_available;
        for (size_t a = 0; a < k && scale_down > 0; a++) {
                struct rollout_rs *old = &rs[order[a]];
                if (old->target == 0)
                        continue;
                int32_t down = min32(old->target, scale_down);
                old->target -= down;
                scale_down -= down;
                changed = true;
        }
        free(order);
        return changed ? 1 : 0;
}
