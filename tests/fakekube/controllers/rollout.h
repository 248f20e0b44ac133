/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Deployment controller's rolling-update arithmetic
 * (pkg/controller/deployment/rolling.go), pure: given the ReplicaSets of a
 * Deployment, how many replicas each should have after this step.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct rollout_rs {
        int32_t replicas;  /* spec.replicas */
        int32_t available; /* status.availableReplicas */
        int64_t created_ms;
        int32_t target; /* out: spec.replicas to set */
};

/*
 * One step of a RollingUpdate.  rs[new_index] is the new ReplicaSet (the one
 * whose template matches); the others are old.  max_surge/max_unavailable
 * are already resolved (both 0 -> max_unavailable 1, as Kubernetes does).
 * Fills every rs[i].target.  Returns 1 when anything changes, 0 otherwise, -ENOMEM.
 */
int rollout_rolling_step(int32_t desired, int32_t max_surge, int32_t max_unavailable,
                         struct rollout_rs *rs, size_t n, size_t new_index);
