/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes objects a TripDeal owns, as the operator wants them:
 * ConfigMap, ServiceAccount, Deployment, Service, Ingress (only with
 * spec.app.ingress), HorizontalPodAutoscaler (autoscaling/v2) and
 * PodDisruptionBudget.  (The session-key Secret is not here: its content is
 * random and made once, see reconcile.c.)
 *
 * Pods run under Pod Security "restricted" as user/group 65532 with a
 * read-only root file system (an emptyDir at /tmp for the SQLite default),
 * their own ServiceAccount and no service-account token.
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
        DESIRED_SERVICEACCOUNT,
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

/* The site's user and group in every pod (the container images use it too). */
#define DESIRED_POD_USER 65532
/* Termination: the preStop sleep, the app's drain (--grace-period), and the
 * margin terminationGracePeriodSeconds keeps beyond both. */
#define DESIRED_PRESTOP_SECONDS      5
#define DESIRED_DRAIN_SECONDS        25
#define DESIRED_GRACE_MARGIN_SECONDS 10
/* spec.app.resources when the TripDeal has none (the CRD documents the same). */
#define DESIRED_DEFAULT_CPU_REQUEST    "200m"
#define DESIRED_DEFAULT_MEMORY_REQUEST "64Mi"
#define DESIRED_DEFAULT_CPU_LIMIT      "1"
#define DESIRED_DEFAULT_MEMORY_LIMIT   "256Mi"
/* Pod template annotation: digest of the ConfigMap's data, so a settings change rolls the pods. */
#define DESIRED_CONFIG_HASH_ANNOTATION "tripdeal.io/config-hash"

/* Kind name of each slot ("Deployment", ...). */
const char *desired_kind_name(enum desired_kind kind);

/* floor_replicas: the HPA minReplicas in force now (sale pre-scale applied). */
int desired_objects_build(const struct tripdeal_identity *owner, const struct tripdeal_spec *spec,
                          int32_t floor_replicas, struct desired_objects *ret);
void desired_objects_clear(struct desired_objects *objects);

/* metadata for another object the TripDeal owns, named `name`: namespace,
 * the app.kubernetes.io labels and the controller ownerReference.  NULL: out
 * of memory. */
json_t *desired_owned_metadata(const struct tripdeal_identity *owner, const char *name);
