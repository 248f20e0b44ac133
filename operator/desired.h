/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes objects a TripDeal owns, as the operator wants them:
 * ConfigMap, Deployment, Service, Ingress (only with spec.app.ingress),
 * HorizontalPodAutoscaler (autoscaling/v2) and PodDisruptionBudget.
 *
 * Pure: built from (identity, spec, floor) alone, no I/O, so the same input
 * always gives the same bytes (golden-file tested).  Every object carries a
 * controller ownerReference to the TripDeal and the standard
 * app.kubernetes.io labels.
 *
 * The Deployment has no spec.replicas: the HPA owns the replica count.
 *
 * Ownership: desired_objects_build() fills *ret with new references the
 * caller releases with desired_objects_clear().  Inputs are borrowed.
 */
#pragma once

#include <jansson.h>

#include "tripdeal.h"

enum desired_kind {
        DESIRED_CONFIGMAP,
        DESIRED_DEPLOYMENT,
        DESIRED_SERVICE,
        DESIRED_INGRESS,
        DESIRED_HPA,
        DESIRED_PDB,
        _DESIRED_KIND_MAX,
};

struct desired_objects {
        /* Indexed by enum desired_kind; NULL where the spec wants none (Ingress). */
        json_t *objects[_DESIRED_KIND_MAX];
};

/* Kind name of each slot ("Deployment", ...). */
const char *desired_kind_name(enum desired_kind kind);

/* floor_replicas: the HPA minReplicas in force now (sale pre-scale applied). */
int desired_objects_build(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec,
                          int32_t floor_replicas, struct desired_objects *ret);
void desired_objects_clear(struct desired_objects *objects);
