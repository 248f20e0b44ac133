/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metav1.LabelSelector matching, once for fakekube's server (PDBs,
 * lifecycle.c) and its simulated controllers (HPA, scheduler).  The
 * controllers compile this file into their own object (its symbols stay
 * local there, see controllers/meson.build), so the two share the code, not
 * state.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/*
 * Does labels (an object of strings, or NULL for none) match selector, as
 * metav1.LabelSelectorAsSelector would?  A null or non-object selector
 * matches nothing, {} matches everything; matchLabels and matchExpressions
 * (In, NotIn, Exists, DoesNotExist) must all hold; an unknown operator or a
 * malformed expression matches nothing (the API server refuses it).
 */
bool label_selector_matches(const json_t *selector, const json_t *labels);
