/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler's choice, pure: filter Nodes (Ready, not cordoned, taints
 * tolerated, nodeSelector, requests against allocatable, topology spread
 * DoNotSchedule), then score (topology spread, fewest pods of the same
 * owner, fewest pods, name).  json_t arguments borrowed: nodes and pods are
 * objects name -> object, as the informer caches hold them.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

/*
 * 0 and the node name in ret_node, or -ENOSPC with Kubernetes' style message
 * ("0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient
 * cpu.") in ret_message.
 */
int schedule_pod(const json_t *pod, const json_t *nodes, const json_t *pods, char *ret_node,
                 size_t node_size, char *ret_message, size_t message_size);
