/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a kubelet does to a container spec before starting it: the
 * environment (plain values, downward API fieldRef, ConfigMap/Secret keys
 * resolved by the caller) and $(VAR) expansion in env values, command and
 * args.  Pure; json_t arguments borrowed.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Kubernetes' expansion: "$(NAME)" -> value of NAME in vars (an object of
 * strings) when defined, left as written otherwise; "$$" -> "$".
 * Returns a new string (caller frees) or NULL on allocation failure.
 */
char *expand_vars(const char *text, const json_t *vars);

/* Value for a downward-API fieldPath of the pod, or NULL when unsupported. */
const char *downward_field(const json_t *pod, const char *pod_ip, const char *field_path);

/*
 * Resolve a container's env into a new object NAME -> value (in order, each
 * value expanded against those before it).  lookup resolves
 * configMapKeyRef/secretKeyRef (kind "ConfigMap"/"Secret") and may be NULL;
 * it returns a new string or NULL.  Unresolvable entries are skipped.
 */
typedef char *(*env_lookup_fn)(const char *kind, const char *namespace_, const char *name,
                               const char *key, void *userdata);
json_t *container_environment(const json_t *pod, const json_t *container, const char *pod_ip,
                              env_lookup_fn lookup, void *userdata);

/*
 * A probe's httpGet (or tcpSocket) target: port resolved by number or by the
 * container's named port; path defaults to "/".  -EINVAL when it has neither
 * (exec probes are not supported) or the port does not resolve.
 */
struct http_probe {
        bool tcp; /* tcpSocket: success = the connection opens */
        int port;
        char path[512];
        int64_t initial_delay_ms;
        int64_t period_ms;
        int64_t timeout_ms;
        int failure_threshold;
        int success_threshold;
};
int probe_parse(const json_t *probe, const json_t *container, struct http_probe *ret);
