/* SPDX-License-Identifier: Apache-2.0 */
/* The one exported symbol of tripdeal-operator-nodepools.so (see nodepools_module.h). */
#include "nodepools_module.h"

__attribute__((visibility(
        "default"))) extern const struct nodepools_module tripdeal_operator_nodepools_module;

const struct nodepools_module tripdeal_operator_nodepools_module = {
        .abi = NODEPOOLS_MODULE_ABI,
        .request_size = sizeof(struct nodepools_request),
        .result_size = sizeof(struct nodepools_result),
        .options_size = sizeof(struct nodepools_options),
        .reconcile = nodepools_reconcile,
        .release_all = nodepools_release_all,
        .drill_nodes_open = nodepools_drill_nodes_open,
        .drill_nodes_close = nodepools_drill_nodes_close,
};
