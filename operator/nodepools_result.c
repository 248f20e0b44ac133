/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of node pools that needs no libvirt: the result's cleanup and a
 * TripDeal without pools.  Linked into the operator itself, so that it can
 * answer for such a TripDeal without loading tripdeal-operator-nodepools.so.
 */
#include "nodepools.h"

#include <errno.h>
#include <stdio.h>

void nodepools_result_clear(struct nodepools_result *result)
{
        if (!result)
                return;
        json_decref(result->nodes);
        result->nodes = NULL;
}

int nodepools_reconcile_none(const struct nodepools_request *request, struct nodepools_result *ret)
{
        json_t *nodes = json_array();
        if (!nodes)
                return -ENOMEM;
        /* Nothing to do; no condition unless there was something before
         * (VMs of removed pools on unknown hosts cannot be found). */
        bool had_nodes = json_array_size(json_object_get(request->status, "nodes")) > 0;
        *ret = (struct nodepools_result){.nodes = nodes, .has_condition = had_nodes};
        if (had_nodes) {
                ret->status = CONDITION_TRUE;
                snprintf(ret->reason, sizeof(ret->reason), "NoNodePools");
                snprintf(ret->message, sizeof(ret->message), "spec.nodePools is empty");
        }
        return 0;
}
