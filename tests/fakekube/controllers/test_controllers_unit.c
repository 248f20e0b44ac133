/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the controllers' pure logic: the HPA algorithm against the
 * worked examples of the Kubernetes documentation, the scheduler's choice,
 * pod-template-hash and pod names, env/$(VAR) expansion and probes,
 * quantities and selectors, the rolling-update arithmetic, and volume
 * payloads and securityContext identities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "hpa_algorithm.h"
#include "macros.h"
#include "naming.h"
#include "objects.h"
#include "podenv.h"
#include "rollout.h"
#include "scheduler.h"
#include "volumes.h"

static json_t *parse(const char *text)
{
        json_error_t error;
        json_t *j = json_loads(text, 0, &error);
        if (!j)
                fail_msg("bad JSON in test: %s (%s)", error.text, text);
        return j;
}

/* ------------------------------------------------------------------ HPA */

static void fill_pods(struct hpa_pod_metric *pods, size_t n, int64_t request, int64_t usage)
{
        for (size_t i = 0; i < n; i++)
                pods[i] = (struct hpa_pod_metric){.ready = true,
                                                  .has_metric = true,
                                                  .request_milli = request,
                                                  .usage_milli = usage};
}

/* Docs: "if the current metric value is 200m, and the desired value is 100m, the number of replicas
 * will be doubled". */
static void test_hpa_ratio_doubles_and_halves(void **state)
{
        struct hpa_pod_metric pods[4];
        struct hpa_metric_result r;
        fill_pods(pods, 4, 1000, 200);
        assert_int_equal(hpa_resource_replicas(4, pods, 4, HPA_TARGET_AVERAGE_VALUE, 100, &r), 0);
        assert_int_equal(r.replicas, 8);
        fill_pods(pods, 4, 1000, 50);
        assert_int_equal(hpa_resource_replicas(4, pods, 4, HPA_TARGET_AVERAGE_VALUE, 100, &r), 0);
        assert_int_equal(r.replicas, 2);
}

/* desiredReplicas = ceil[currentReplicas * (currentMetricValue / desiredMetricValue)], with 0.1
 * tolerance. */
static void test_hpa_utilization_and_tolerance(void **state)
{
        struct hpa_pod_metric pods[3];
        struct hpa_metric_result r;
        /* 3 pods at 90 % of a 500m request, target 50 % -> ceil(3 * 1.8) = 6 */
        fill_pods(pods, 3, 500, 450);
        assert_int_equal(hpa_resource_replicas(3, pods, 3, HPA_TARGET_UTILIZATION, 50, &r), 0);
        assert_int_equal(r.utilization, 90);
        assert_int_equal(r.replicas, 6);
        /* 54 % against 50 %: ratio 1.08 is within tolerance -> unchanged */
        fill_pods(pods, 3, 500, 270);
        assert_int_equal(hpa_resource_replicas(3, pods, 3, HPA_TARGET_UTILIZATION, 50, &r), 0);
        assert_int_equal(r.replicas, 3);
        /* 56 %: ratio 1.12 -> ceil(3.36) = 4 */
        fill_pods(pods, 3, 500, 280);
        assert_int_equal(hpa_resource_replicas(3, pods, 3, HPA_TARGET_UTILIZATION, 50, &r), 0);
        assert_int_equal(r.replicas, 4);
}

static void test_hpa_missing_and_unready_pods(void **state)
{
        struct hpa_pod_metric pods[4];
        struct hpa_metric_result r;
        /* Scale up: 2 pods at 100 %, 2 without metrics (counted 0 %): target 50 -> ratio 2, new
         * ratio 1 -> unchanged */
        fill_pods(pods, 4, 1000, 1000);
        pods[2].has_metric = pods[3].has_metric = false;
        assert_int_equal(hpa_resource_replicas(4, pods, 4, HPA_TARGET_UTILIZATION, 50, &r), 0);
        assert_int_equal(r.replicas, 4);
        /* Scale down: 2 pods at 10 %, 2 missing (counted 100 %): new ratio (10+10+100+100)/4/50
         * = 1.1 -> within tolerance */
        fill_pods(pods, 4, 1000, 100);
        pods[2].has_metric = pods[3].has_metric = false;
        assert_int_equal(hpa_resource_replicas(4, pods, 4, HPA_TARGET_UTILIZATION, 50, &r), 0);
        assert_int_equal(r.replicas, 4);
        /* Unready pods count as 0 % when scaling up: 2 ready at 100 %, 2 unready, target 25 ->
         * 200/4/25 = 2 -> 8 */
        fill_pods(pods, 4, 1000, 1000);
        pods[2].ready = pods[3].ready = false;
        assert_int_equal(hpa_resource_replicas(4, pods, 4, HPA_TARGET_UTILIZATION, 25, &r), 0);
        assert_int_equal(r.replicas, 8);
        /* No ready pod with a metric: no recommendation */
        pods[0].ready = pods[1].ready = false;
        assert_int_equal(hpa_resource_replicas(4, pods, 4, HPA_TARGET_UTILIZATION, 25, &r),
                         -ENODATA);
        /* Utilization without a request is an error, as in Kubernetes */
        fill_pods(pods, 1, 0, 100);
        assert_int_equal(hpa_resource_replicas(1, pods, 1, HPA_TARGET_UTILIZATION, 50, &r),
                         -EINVAL);
}

static void test_hpa_behavior_defaults(void **state)
{
        struct hpa_behavior b;
        assert_int_equal(hpa_behavior_parse(NULL, &b), 0);
        assert_int_equal(b.scale_up.stabilization_window_seconds, 0);
        assert_int_equal(b.scale_up.n_policies, 2);
        assert_int_equal(b.scale_down.stabilization_window_seconds, 300);
        assert_int_equal(b.scale_down.policies[0].type, HPA_POLICY_PERCENT);
        assert_int_equal(b.scale_down.policies[0].value, 100);
        _cleanup_json_ json_t *bad = parse("{\"scaleUp\":{\"selectPolicy\":\"Sometimes\"}}");
        assert_int_equal(hpa_behavior_parse(bad, &b), -EINVAL);
}

/* Docs: scale up from 1 with the defaults (4 pods or 100 % per 15 s, Max) -> 5. */
static void test_hpa_default_scale_up_rate(void **state)
{
        struct hpa_behavior b;
        struct hpa_history h = {0};
        struct hpa_decision d;
        _cleanup_json_ json_t *empty = json_object();
        assert_int_equal(hpa_behavior_parse(empty, &b), 0);
        hpa_normalize(&h, &b, 1, 10, 1, 20, 1000000, &d);
        assert_int_equal(d.desired, 5);
        assert_true(d.limited);
        assert_string_equal(d.limited_reason, "ScaleUpLimit");
        hpa_record_scale(&h, &b, 1, 5, 1000000);
        /* 5 s later, still in the 15 s period: start was 1 -> limit 5 still */
        hpa_normalize(&h, &b, 5, 10, 1, 20, 1005000, &d);
        assert_int_equal(d.desired, 5);
        /* 16 s later the period is over: 5 + 4 = 9 or 5 * 2 = 10 -> Max -> 10 */
        hpa_normalize(&h, &b, 5, 10, 1, 20, 1016000, &d);
        assert_int_equal(d.desired, 10);
        /* maxReplicas clamps */
        hpa_normalize(&h, &b, 10, 50, 1, 12, 1040000, &d);
        assert_int_equal(d.desired, 12);
        assert_string_equal(d.limited_reason, "TooManyReplicas");
}

/*
 * Docs (scaling policies): Pods 4/60s and Percent 10/60s on scale down; "if
 * there are 80 replicas and the target has to be scaled down to 10 replicas
 * then during the first step 8 replicas will be reduced.  In the next
 * iteration when the number of replicas is 72, 10% of the pods is 7.2 but
 * the number is rounded up to 8."
 */
static void test_hpa_scale_down_policies_docs_example(void **state)
{
        _cleanup_json_ json_t *spec =
                parse("{\"scaleDown\":{\"stabilizationWindowSeconds\":0,\"policies\":["
                      "{\"type\":\"Pods\",\"value\":4,\"periodSeconds\":60},"
                      "{\"type\":\"Percent\",\"value\":10,\"periodSeconds\":60}]}}");
        struct hpa_behavior b;
        struct hpa_history h = {0};
        struct hpa_decision d;
        assert_int_equal(hpa_behavior_parse(spec, &b), 0);
        int64_t t = 10000000;
        hpa_normalize(&h, &b, 80, 10, 1, 100, t, &d);
        assert_int_equal(d.desired, 72);
        assert_string_equal(d.limited_reason, "ScaleDownLimit");
        hpa_record_scale(&h, &b, 80, 72, t);
        /* Within the 60 s period: no further step */
        hpa_normalize(&h, &b, 72, 10, 1, 100, t + 30000, &d);
        assert_int_equal(d.desired, 72);
        /* After it: 72 - 8 = 64 */
        hpa_normalize(&h, &b, 72, 10, 1, 100, t + 61000, &d);
        assert_int_equal(d.desired, 64);
        /* With fewer than 40 pods the Pods policy allows more: 30 -> 26 (10 % would be 27) */
        struct hpa_history h2 = {0};
        hpa_normalize(&h2, &b, 30, 10, 1, 100, t, &d);
        assert_int_equal(d.desired, 26);
}

static void test_hpa_select_policy_min_and_disabled(void **state)
{
        _cleanup_json_ json_t *min_spec =
                parse("{\"scaleDown\":{\"stabilizationWindowSeconds\":0,\"selectPolicy\":\"Min\","
                      "\"policies\":["
                      "{\"type\":\"Pods\",\"value\":4,\"periodSeconds\":60},"
                      "{\"type\":\"Percent\",\"value\":10,\"periodSeconds\":60}]}}");
        _cleanup_json_ json_t *disabled_spec =
                parse("{\"scaleDown\":{\"selectPolicy\":\"Disabled\"}}");
        struct hpa_behavior b;
        struct hpa_history h = {0};
        struct hpa_decision d;
        assert_int_equal(hpa_behavior_parse(min_spec, &b), 0);
        /* Min picks the smaller change: 80 -> 76 (Pods) rather than 72 (Percent) */
        hpa_normalize(&h, &b, 80, 10, 1, 100, 5000000, &d);
        assert_int_equal(d.desired, 76);
        struct hpa_history h2 = {0};
        assert_int_equal(hpa_behavior_parse(disabled_spec, &b), 0);
        hpa_normalize(&h2, &b, 80, 10, 1, 100, 5000000, &d);
        assert_int_equal(d.desired, 80);
}

/* Docs: the default 300 s scale-down stabilization window keeps the highest recommendation. */
static void test_hpa_stabilization_window(void **state)
{
        struct hpa_behavior b;
        struct hpa_history h = {0};
        struct hpa_decision d;
        assert_int_equal(hpa_behavior_parse(NULL, &b), 0);
        int64_t t = 50000000;
        hpa_normalize(&h, &b, 10, 10, 1, 20, t, &d);
        assert_int_equal(d.desired, 10);
        hpa_normalize(&h, &b, 10, 3, 1, 20, t + 60000, &d);
        assert_int_equal(d.desired, 10);
        assert_string_equal(d.able_reason, "ScaleDownStabilized");
        hpa_normalize(&h, &b, 10, 4, 1, 20, t + 200000, &d);
        assert_int_equal(d.desired, 10);
        /* 301 s after the recommendation of 10 it leaves the window: max(3@60s, 4@200s, 4) = 4 */
        hpa_normalize(&h, &b, 10, 4, 1, 20, t + 301000, &d);
        assert_int_equal(d.desired, 4);
        /* Scale-up stabilization: window 60 s keeps the lowest recommendation */
        _cleanup_json_ json_t *up = parse("{\"scaleUp\":{\"stabilizationWindowSeconds\":60}}");
        struct hpa_history h2 = {0};
        assert_int_equal(hpa_behavior_parse(up, &b), 0);
        hpa_normalize(&h2, &b, 2, 2, 1, 20, t, &d);
        hpa_normalize(&h2, &b, 2, 6, 1, 20, t + 15000, &d);
        assert_int_equal(d.desired, 2);
        assert_string_equal(d.able_reason, "ScaleUpStabilized");
        hpa_normalize(&h2, &b, 2, 6, 1, 20, t + 61000, &d);
        assert_int_equal(d.desired, 6);
}

/* No spec.behavior: the legacy path (5 min downscale window, scale up to max(2x, 4)). */
static void test_hpa_legacy_normalization(void **state)
{
        struct hpa_history h = {0};
        struct hpa_decision d;
        hpa_normalize(&h, NULL, 2, 10, 1, 20, 1000, &d);
        assert_int_equal(d.desired, 4);
        assert_string_equal(d.limited_reason, "ScaleUpLimit");
        hpa_normalize(&h, NULL, 4, 1, 2, 20, 2000, &d);
        /* The 10 of a second ago is still in the window; from 4 the scale-up limit is 8. */
        assert_int_equal(d.desired, 8);
        struct hpa_history h2 = {0};
        hpa_normalize(&h2, NULL, 4, 1, 2, 20, 2000, &d);
        assert_int_equal(d.desired, 2);
        assert_string_equal(d.limited_reason, "TooFewReplicas");
}

/* ------------------------------------------------------------------ scheduler */

static json_t *node(const char *name, const char *cpu, bool ready, bool cordoned)
{
        char text[1024];
        snprintf(text, sizeof(text),
                 "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubernetes.io/hostname\":\"%s\"}},"
                 "\"spec\":{%s},\"status\":{\"allocatable\":{\"cpu\":\"%s\",\"memory\":\"8Gi\","
                 "\"pods\":\"110\"},"
                 "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
                 name, name, cordoned ? "\"unschedulable\":true" : "", cpu,
                 ready ? "True" : "Unknown");
        return parse(text);
}

static json_t *pod(const char *name, const char *node_name, const char *cpu, const char *app)
{
        char text[1024];
        snprintf(text, sizeof(text),
                 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"labels\":{\"app\":\"%"
                 "s\"}},"
                 "\"spec\":{%s%s%s\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{"
                 "\"cpu\":\"%s\"}}}]}}",
                 name, app, node_name ? "\"nodeName\":\"" : "", node_name ? node_name : "",
                 node_name ? "\"," : "", cpu);
        return parse(text);
}

static void test_scheduler_spreads_and_filters(void **state)
{
        _cleanup_json_ json_t *nodes = json_object();
        json_object_set_new(nodes, "node-1", node("node-1", "4", true, false));
        json_object_set_new(nodes, "node-2", node("node-2", "4", true, false));
        json_object_set_new(nodes, "node-3", node("node-3", "4", false, false));
        _cleanup_json_ json_t *pods = json_object();
        json_object_set_new(pods, "default/a", pod("a", "node-1", "100m", "web"));
        _cleanup_json_ json_t *p = pod("new", NULL, "100m", "web");
        char chosen[64], message[256];
        /* Fewest pods first; node-3 is not Ready */
        assert_int_equal(
                schedule_pod(p, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)), 0);
        assert_string_equal(chosen, "node-2");
        /* Cordon node-2: only node-1 is left */
        json_object_set_new(nodes, "node-2", node("node-2", "4", true, true));
        assert_int_equal(
                schedule_pod(p, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)), 0);
        assert_string_equal(chosen, "node-1");
        /* Requests against allocatable */
        _cleanup_json_ json_t *big = pod("big", NULL, "3950m", "web");
        assert_int_equal(
                schedule_pod(big, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)),
                -ENOSPC);
        assert_string_equal(message,
                            "0/3 nodes are available: 1 node(s) were not ready, 1 node(s) were "
                            "unschedulable, 1 Insufficient cpu.");
}

static void test_scheduler_topology_spread(void **state)
{
        _cleanup_json_ json_t *nodes = json_object();
        json_object_set_new(nodes, "node-1", node("node-1", "4", true, false));
        json_object_set_new(nodes, "node-2", node("node-2", "4", true, false));
        _cleanup_json_ json_t *pods = json_object();
        /* node-1 has 1 "web" pod; node-2 has 3 unrelated pods: plain spreading would pick node-1 */
        json_object_set_new(pods, "default/a", pod("a", "node-1", "100m", "web"));
        json_object_set_new(pods, "default/b", pod("b", "node-2", "100m", "db"));
        json_object_set_new(pods, "default/c", pod("c", "node-2", "100m", "db"));
        json_object_set_new(pods, "default/d", pod("d", "node-2", "100m", "db"));
        _cleanup_json_ json_t *p = pod("new", NULL, "100m", "web");
        json_object_set_new(
                json_object_get(p, "spec"), "topologySpreadConstraints",
                parse("[{\"maxSkew\":1,\"topologyKey\":\"kubernetes.io/hostname\","
                      "\"whenUnsatisfiable\":\"DoNotSchedule\",\"labelSelector\":{\"matchLabels\":"
                      "{\"app\":\"web\"}}}]"));
        char chosen[64], message[256];
        assert_int_equal(
                schedule_pod(p, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)), 0);
        assert_string_equal(chosen, "node-2");
        /* With node-2 cordoned, node-1 would make the skew 2 > maxSkew 1... but node-2 is no longer
         * a domain */
        json_object_set_new(nodes, "node-2", node("node-2", "4", true, true));
        assert_int_equal(
                schedule_pod(p, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)), 0);
        assert_string_equal(chosen, "node-1");
}

static void test_scheduler_taints(void **state)
{
        _cleanup_json_ json_t *nodes = json_object();
        json_t *n = node("node-1", "4", true, false);
        json_object_set_new(
                json_object_get(n, "spec"), "taints",
                parse("[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]"));
        json_object_set_new(nodes, "node-1", n);
        _cleanup_json_ json_t *pods = json_object();
        _cleanup_json_ json_t *p = pod("new", NULL, "100m", "web");
        char chosen[64], message[256];
        assert_int_equal(
                schedule_pod(p, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)),
                -ENOSPC);
        json_object_set_new(
                json_object_get(p, "spec"), "tolerations",
                parse("[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"db\",\"effect\":"
                      "\"NoSchedule\"}]"));
        assert_int_equal(
                schedule_pod(p, nodes, pods, chosen, sizeof(chosen), message, sizeof(message)), 0);
}

static void test_toleration_seconds(void **state)
{
        _cleanup_json_ json_t *taint =
                parse("{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}");
        _cleanup_json_ json_t *p = pod("p", "node-1", "1", "x");
        assert_int_equal(pod_toleration_seconds(p, taint), 300);
        json_object_set_new(
                json_object_get(p, "spec"), "tolerations",
                parse("[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
                      "\"effect\":\"NoExecute\",\"tolerationSeconds\":5}]"));
        assert_int_equal(pod_toleration_seconds(p, taint), 5);
        json_object_set_new(json_object_get(p, "spec"), "tolerations",
                            parse("[{\"operator\":\"Exists\"}]"));
        assert_int_equal(pod_toleration_seconds(p, taint), -1);
}

/* ------------------------------------------------------------------ naming */

static void test_pod_template_hash(void **state)
{
        _cleanup_json_ json_t *t1 =
                parse("{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":"
                      "[{\"name\":\"c\",\"image\":\"web:1\"}]}}");
        _cleanup_json_ json_t *t1_labelled =
                parse("{\"spec\":{\"containers\":[{\"image\":\"web:1\",\"name\":\"c\"}]},"
                      "\"metadata\":{\"labels\":{\"pod-template-hash\":\"zzz\","
                      "\"app\":\"web\"}}}");
        _cleanup_json_ json_t *t2 =
                parse("{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":"
                      "[{\"name\":\"c\",\"image\":\"web:2\"}]}}");
        char h1[16], h1b[16], h2[16], h1c[16];
        assert_int_equal(pod_template_hash(t1, 0, h1, sizeof(h1)), 0);
        assert_int_equal(pod_template_hash(t1_labelled, 0, h1b, sizeof(h1b)), 0);
        assert_int_equal(pod_template_hash(t2, 0, h2, sizeof(h2)), 0);
        assert_int_equal(pod_template_hash(t1, 1, h1c, sizeof(h1c)), 0);
        assert_string_equal(h1, h1b); /* key order and our own label do not matter */
        _cleanup_json_ json_t *t1_null =
                parse("{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"web\"}},"
                      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"web:1\"}]}}");
        char h1n[16];
        assert_int_equal(pod_template_hash(t1_null, 0, h1n, sizeof(h1n)), 0);
        assert_string_equal(h1,
                            h1n); /* nor "creationTimestamp": null, as kubectl rollout undo sends */
        assert_string_not_equal(h1, h2);
        assert_string_not_equal(h1, h1c); /* collisionCount changes the hash */
        assert_true(strlen(h1) >= 1 && strlen(h1) <= 10);
        assert_true(strspn(h1, NAME_SUFFIX_ALPHABET) == strlen(h1));
        char small[4];
        assert_int_equal(pod_template_hash(t1, 0, small, sizeof(small)), -ENOBUFS);
}

static void test_random_suffix(void **state)
{
        char a[6], b[6];
        int same = 0;
        for (int i = 0; i < 20; i++) {
                random_name_suffix(a, sizeof(a));
                random_name_suffix(b, sizeof(b));
                assert_int_equal(strlen(a), 5);
                assert_true(strspn(a, NAME_SUFFIX_ALPHABET) == 5);
                same += strcmp(a, b) == 0;
        }
        assert_true(same < 2);
}

/* ------------------------------------------------------------------ env and probes */

static void test_expand_vars(void **state)
{
        _cleanup_json_ json_t *vars = parse("{\"POD_IP\":\"127.0.10.2\",\"PORT\":\"8080\"}");
        _cleanup_free_ char *a = expand_vars("--listen=$(POD_IP):$(PORT)", vars);
        _cleanup_free_ char *b = expand_vars("$(MISSING) and $$(POD_IP) and $", vars);
        _cleanup_free_ char *c = expand_vars("$(unterminated", vars);
        assert_string_equal(a, "--listen=127.0.10.2:8080");
        assert_string_equal(b, "$(MISSING) and $(POD_IP) and $");
        assert_string_equal(c, "$(unterminated");
}

static char *fake_lookup(const char *kind, const char *namespace_, const char *name,
                         const char *key, void *userdata)
{
        if (strcmp(kind, "Secret") == 0 && strcmp(name, "db") == 0 && key &&
            strcmp(key, "url") == 0)
                return strdup("postgresql://db");
        if (strcmp(kind, "ConfigMap") == 0 && !key)
                return strdup("{\"MODE\":\"demo\"}");
        return NULL;
}

static void test_container_environment(void **state)
{
        _cleanup_json_ json_t *p = parse(
                "{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\",\"labels\":{\"app\":"
                "\"web\"}},\"spec\":{\"nodeName\":\"node-1\"}}");
        _cleanup_json_ json_t *container = parse(
                "{\"envFrom\":[{\"configMapRef\":{\"name\":\"cfg\"}}],\"env\":["
                "{\"name\":\"IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}},"
                "{\"name\":\"NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}"
                ","
                "{\"name\":\"NS\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata."
                "namespace\"}}},"
                "{\"name\":\"APP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['"
                "app']\"}}},"
                "{\"name\":\"DB\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"db\",\"key\":\"url\"}"
                "}},"
                "{\"name\":\"ADDR\",\"value\":\"$(IP):8080\"}]}");
        _cleanup_json_ json_t *env =
                container_environment(p, container, "127.0.20.3", fake_lookup, NULL);
        assert_non_null(env);
        assert_string_equal(json_string_value(json_object_get(env, "IP")), "127.0.20.3");
        assert_string_equal(json_string_value(json_object_get(env, "NAME")), "web-1");
        assert_string_equal(json_string_value(json_object_get(env, "NS")), "shop");
        assert_string_equal(json_string_value(json_object_get(env, "APP")), "web");
        assert_string_equal(json_string_value(json_object_get(env, "DB")), "postgresql://db");
        assert_string_equal(json_string_value(json_object_get(env, "MODE")), "demo");
        assert_string_equal(json_string_value(json_object_get(env, "ADDR")), "127.0.20.3:8080");
}

static void test_probe_parse(void **state)
{
        _cleanup_json_ json_t *container =
                parse("{\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}");
        _cleanup_json_ json_t *named =
                parse("{\"httpGet\":{\"path\":\"healthz\",\"port\":\"http\"},\"periodSeconds\":2,"
                      "\"failureThreshold\":1,\"initialDelaySeconds\":3}");
        _cleanup_json_ json_t *unknown = parse("{\"httpGet\":{\"port\":\"metrics\"}}");
        _cleanup_json_ json_t *exec_probe = parse("{\"exec\":{\"command\":[\"true\"]}}");
        struct http_probe p;
        assert_int_equal(probe_parse(named, container, &p), 0);
        assert_int_equal(p.port, 8080);
        assert_string_equal(p.path, "/healthz");
        assert_int_equal(p.period_ms, 2000);
        assert_int_equal(p.initial_delay_ms, 3000);
        assert_int_equal(p.failure_threshold, 1);
        assert_int_equal(p.timeout_ms, 1000);
        assert_false(p.tcp);
        _cleanup_json_ json_t *tcp = parse("{\"tcpSocket\":{\"port\":\"http\"}}");
        assert_int_equal(probe_parse(tcp, container, &p), 0);
        assert_true(p.tcp);
        assert_int_equal(p.port, 8080);
        assert_int_equal(probe_parse(unknown, container, &p), -EINVAL);
        assert_int_equal(probe_parse(exec_probe, container, &p), -EINVAL);
}

/* ------------------------------------------------------------------ objects */

static void test_quantities_and_selectors(void **state)
{
        int64_t v = 0;
        assert_int_equal(quantity_parse_milli("500m", &v), 0);
        assert_int_equal(v, 500);
        assert_int_equal(quantity_parse_milli("2", &v), 0);
        assert_int_equal(v, 2000);
        assert_int_equal(quantity_parse_milli("1.5", &v), 0);
        assert_int_equal(v, 1500);
        assert_int_equal(quantity_parse_milli("128Mi", &v), 0);
        assert_int_equal(v, 134217728000LL);
        assert_int_equal(quantity_parse_milli("1e3", &v), 0);
        assert_int_equal(v, 1000000);
        assert_int_equal(quantity_parse_milli("12xyz", &v), -EINVAL);
        int64_t n = 0;
        _cleanup_json_ json_t *quarter = json_string("25%");
        assert_int_equal(int_or_percent(quarter, 10, true, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(int_or_percent(quarter, 10, false, &n), 0);
        assert_int_equal(n, 2);
        _cleanup_json_ json_t *labels = parse("{\"app\":\"web\",\"tier\":\"front\"}");
        _cleanup_json_ json_t *sel =
                parse("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                      "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"front\",\"edge\"]},"
                      "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"}]}");
        _cleanup_json_ json_t *sel_no =
                parse("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\","
                      "\"values\":[\"front\"]}]}");
        assert_true(selector_matches(sel, labels));
        assert_false(selector_matches(sel_no, labels));
        _cleanup_json_ json_t *empty = json_object();
        assert_false(map_selector_matches(empty, labels));
}

/* ------------------------------------------------------------------ rolling update */

static void test_rolling_update_max_unavailable_zero(void **state)
{
        /* 3 replicas, maxSurge 1, maxUnavailable 0: old 3 (available), new 0 */
        struct rollout_rs rs[2] = {{.replicas = 3, .available = 3, .created_ms = 1},
                                   {.replicas = 0, .available = 0, .created_ms = 2}};
        assert_int_equal(rollout_rolling_step(3, 1, 0, rs, 2, 1), 1);
        assert_int_equal(rs[1].target, 1);
        assert_int_equal(rs[0].target, 3);
        /* New pod not yet available: nothing may be scaled down */
        rs[1].replicas = 1;
        assert_int_equal(rollout_rolling_step(3, 1, 0, rs, 2, 1), 0);
        /* Once it is available, one old replica goes */
        rs[1].available = 1;
        assert_int_equal(rollout_rolling_step(3, 1, 0, rs, 2, 1), 1);
        assert_int_equal(rs[0].target, 2);
        /* Done: new at 3, old at 0 */
        rs[0].replicas = 0;
        rs[0].available = 0;
        rs[1].replicas = 3;
        rs[1].available = 3;
        assert_int_equal(rollout_rolling_step(3, 1, 0, rs, 2, 1), 0);
}

static void test_rolling_update_max_unavailable_allows_down_first(void **state)
{
        /* 4 replicas, maxSurge 0, maxUnavailable 2: two old pods may go at once */
        struct rollout_rs rs[2] = {{.replicas = 4, .available = 4, .created_ms = 1},
                                   {.replicas = 0, .available = 0, .created_ms = 2}};
        assert_int_equal(rollout_rolling_step(4, 0, 2, rs, 2, 1), 1);
        assert_int_equal(rs[0].target, 2);
        assert_int_equal(rs[1].target, 0);
        rs[0].replicas = 2;
        rs[0].available = 2;
        assert_int_equal(rollout_rolling_step(4, 0, 2, rs, 2, 1), 1);
        assert_int_equal(rs[1].target, 2);
        /* Scaling down the Deployment clamps the new ReplicaSet */
        struct rollout_rs only[1] = {{.replicas = 5, .available = 5}};
        assert_int_equal(rollout_rolling_step(2, 1, 0, only, 1, 0), 1);
        assert_int_equal(only[0].target, 2);
}

/* ------------------------------------------------------------------ volumes */

static json_t *fake_get_object(const char *kind, const char *ns, const char *name, void *userdata)
{
        (void)userdata;
        assert_string_equal(ns, "shop");
        if (strcmp(kind, "Secret") == 0 && strcmp(name, "db") == 0)
                /* url=postgresql://x, bin=\x00\x01 (base64 as stored) */
                return parse("{\"data\":{\"url\":\"cG9zdGdyZXNxbDovL3g=\",\"bin\":\"AAE=\"}}");
        if (strcmp(kind, "ConfigMap") == 0 && strcmp(name, "cfg") == 0)
                return parse(
                        "{\"data\":{\"a\":\"1\",\"b\":\"two\"},\"binaryData\":{\"c\":\"AAE=\"}}");
        return NULL;
}

static char *fake_get_token(const char *audience, int64_t seconds, void *userdata)
{
        (void)audience;
        (void)userdata;
        assert_int_equal(seconds, 3607);
        return strdup("tok");
}

static json_t *payload_of(const char *volume_text, int *ret_code, char **ret_error)
{
        _cleanup_json_ json_t *pod =
                parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"shop\",\"uid\":\"u1\","
                      "\"labels\":{\"b\":\"2\",\"a\":\"1\"}}}");
        _cleanup_json_ json_t *volume = parse(volume_text);
        struct volume_sources sources = {
                .get_object = fake_get_object, .get_token = fake_get_token, .ca_pem = "PEM"};
        json_t *files = NULL;
        *ret_code = volume_payload(pod, volume, "127.0.0.9", &sources, &files, ret_error);
        return files;
}

static void assert_file(const json_t *files, const char *path, const char *b64, int mode)
{
        const json_t *f = json_object_get(files, path);
        if (!f)
                fail_msg("no file %s", path);
        assert_string_equal(json_string_value(json_object_get(f, "data")), b64);
        assert_int_equal(json_integer_value(json_object_get(f, "mode")), mode);
}

static void test_volume_payloads(void **state)
{
        (void)state;
        int r;
        char *error = NULL;
        /* A Secret: every key, defaultMode; bytes kept as stored. */
        _cleanup_json_ json_t *all = payload_of(
                "{\"name\":\"s\",\"secret\":{\"secretName\":\"db\",\"defaultMode\":256}}", &r,
                &error);
        assert_int_equal(r, 0);
        assert_int_equal(json_object_size(all), 2);
        assert_file(all, "url", "cG9zdGdyZXNxbDovL3g=", 0400);
        assert_file(all, "bin", "AAE=", 0400);
        /* items: only those keys, at their paths, with their modes. */
        _cleanup_json_ json_t *items = payload_of(
                "{\"name\":\"c\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":\"b\","
                "\"path\":\"dir/b.txt\",\"mode\":384},{\"key\":\"c\",\"path\":\"c.bin\"}]}}",
                &r, &error);
        assert_int_equal(r, 0);
        assert_int_equal(json_object_size(items), 2);
        assert_file(items, "dir/b.txt", "dHdv", 0600);
        assert_file(items, "c.bin", "AAE=", 0644);
        /* Missing objects and keys: errors in the kubelet's words, unless optional. */
        assert_null(
                payload_of("{\"name\":\"s\",\"secret\":{\"secretName\":\"nope\"}}", &r, &error));
        assert_int_equal(r, -ENOENT);
        assert_string_equal(error, "secret \"nope\" not found");
        free(error);
        error = NULL;
        _cleanup_json_ json_t *optional = payload_of(
                "{\"name\":\"s\",\"secret\":{\"secretName\":\"nope\",\"optional\":true}}", &r,
                &error);
        assert_int_equal(r, 0);
        assert_int_equal(json_object_size(optional), 0);
        assert_null(
                payload_of("{\"name\":\"c\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":"
                           "\"zz\",\"path\":\"z\"}]}}",
                           &r, &error));
        assert_int_equal(r, -ENOENT);
        free(error);
        error = NULL;
        /* Paths escaping the volume are refused. */
        assert_null(
                payload_of("{\"name\":\"c\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":"
                           "\"a\",\"path\":\"../x\"}]}}",
                           &r, &error));
        assert_int_equal(r, -EINVAL);
        free(error);
        error = NULL;
        /* emptyDir has no payload; unsupported types are named. */
        assert_null(payload_of("{\"name\":\"e\",\"emptyDir\":{}}", &r, &error));
        assert_int_equal(r, -ENOTDIR);
        assert_null(payload_of("{\"name\":\"v\",\"persistentVolumeClaim\":{\"claimName\":\"x\"}}",
                               &r, &error));
        assert_int_equal(r, -EOPNOTSUPP);
        assert_non_null(strstr(error, "not supported"));
        free(error);
        error = NULL;
        /* downwardAPI: labels as sorted key="value" lines. */
        _cleanup_json_ json_t *down = payload_of(
                "{\"name\":\"d\",\"downwardAPI\":{\"items\":[{\"path\":\"labels\",\"fieldRef\":{"
                "\"fieldPath\":\"metadata.labels\"}},{\"path\":\"ns\",\"fieldRef\":{\"fieldPath\":"
                "\"metadata.namespace\"}}]}}",
                &r, &error);
        assert_int_equal(r, 0);
        assert_file(down, "labels", "YT0iMSIKYj0iMiI=", 0644); /* a="1"\nb="2" */
        assert_file(down, "ns", "c2hvcA==", 0644);
}

static void test_service_account_volume(void **state)
{
        (void)state;
        _cleanup_json_ json_t *pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"shop\"},"
                                           "\"spec\":{}}");
        _cleanup_json_ json_t *sa_off = parse("{\"automountServiceAccountToken\":false}");
        _cleanup_json_ json_t *volume = service_account_volume(pod, NULL);
        assert_non_null(volume);
        int r;
        char *error = NULL;
        _cleanup_free_ char *text = json_dumps(volume, 0);
        _cleanup_json_ json_t *files = payload_of(text, &r, &error);
        assert_int_equal(r, 0);
        assert_file(files, "token", "dG9r", 0644);
        assert_file(files, "ca.crt", "UEVN", 0644);
        assert_file(files, "namespace", "c2hvcA==", 0644);
        assert_true(json_is_true(json_object_get(json_object_get(files, "token"), "token")));
        /* Off on the ServiceAccount: none, unless the pod says true; off on the pod: none. */
        assert_null(service_account_volume(pod, sa_off));
        json_object_set_new(json_object_get(pod, "spec"), "automountServiceAccountToken",
                            json_true());
        json_t *forced = service_account_volume(pod, sa_off);
        assert_non_null(forced);
        json_decref(forced);
        json_object_set_new(json_object_get(pod, "spec"), "automountServiceAccountToken",
                            json_false());
        assert_null(service_account_volume(pod, NULL));
}

static void test_container_identity(void **state)
{
        (void)state;
        _cleanup_json_ json_t *pod = parse(
                "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"securityContext\":{\"runAsUser\":1000,"
                "\"runAsNonRoot\":true,\"fsGroup\":2000,\"supplementalGroups\":[3000]}}}");
        _cleanup_json_ json_t *container = parse(
                "{\"name\":\"c\",\"securityContext\":{\"runAsUser\":65532,\"runAsGroup\":65533,"
                "\"readOnlyRootFilesystem\":true,\"allowPrivilegeEscalation\":false}}");
        struct run_as ra;
        char *error = NULL;
        assert_int_equal(container_run_as(pod, container, &ra, &error), 0);
        assert_true(ra.change_ids);
        assert_int_equal(ra.uid, 65532); /* the container's over the pod's */
        assert_int_equal(ra.gid, 65533);
        assert_int_equal(ra.n_groups, 2);
        assert_int_equal(ra.groups[0], 2000);
        assert_int_equal(ra.groups[1], 3000);
        assert_true(ra.read_only_root && ra.no_new_privs);
        assert_int_equal(ra.capabilities, 0xa80425fb); /* a runtime's 14 defaults */
        /* drop ALL, add one back; unknown names are refused. */
        _cleanup_json_ json_t *dropping =
                parse("{\"name\":\"c\",\"securityContext\":{\"capabilities\":{\"drop\":[\"ALL\"],"
                      "\"add\":[\"CAP_NET_BIND_SERVICE\"]}}}");
        assert_int_equal(container_run_as(pod, dropping, &ra, &error), 0);
        assert_int_equal(ra.capabilities, UINT64_C(1) << 10);
        _cleanup_json_ json_t *unknown = parse(
                "{\"name\":\"c\",\"securityContext\":{\"capabilities\":{\"add\":[\"FLY\"]}}}");
        assert_int_equal(container_run_as(pod, unknown, &ra, &error), -EINVAL);
        assert_string_equal(error, "unknown capability FLY");
        free(error);
        error = NULL;
        /* runAsNonRoot with no user: refused with the kubelet's message. */
        _cleanup_json_ json_t *rootish =
                parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"securityContext\":{"
                      "\"runAsNonRoot\":true}}}");
        _cleanup_json_ json_t *plain = parse("{\"name\":\"c\"}");
        assert_int_equal(container_run_as(rootish, plain, &ra, &error), -EPERM);
        assert_string_equal(error, "container has runAsNonRoot and image will run as root (pod: "
                                   "\"p\", container: c)");
        free(error);
        error = NULL;
        /* Nothing set: no identity change. */
        _cleanup_json_ json_t *bare = parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{}}");
        assert_int_equal(container_run_as(bare, plain, &ra, &error), 0);
        assert_false(ra.change_ids || ra.read_only_root || ra.no_new_privs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hpa_ratio_doubles_and_halves),
                cmocka_unit_test(test_hpa_utilization_and_tolerance),
                cmocka_unit_test(test_hpa_missing_and_unready_pods),
                cmocka_unit_test(test_hpa_behavior_defaults),
                cmocka_unit_test(test_hpa_default_scale_up_rate),
                cmocka_unit_test(test_hpa_scale_down_policies_docs_example),
                cmocka_unit_test(test_hpa_select_policy_min_and_disabled),
                cmocka_unit_test(test_hpa_stabilization_window),
                cmocka_unit_test(test_hpa_legacy_normalization),
                cmocka_unit_test(test_scheduler_spreads_and_filters),
                cmocka_unit_test(test_scheduler_topology_spread),
                cmocka_unit_test(test_scheduler_taints),
                cmocka_unit_test(test_toleration_seconds),
                cmocka_unit_test(test_pod_template_hash),
                cmocka_unit_test(test_random_suffix),
                cmocka_unit_test(test_expand_vars),
                cmocka_unit_test(test_container_environment),
                cmocka_unit_test(test_probe_parse),
                cmocka_unit_test(test_quantities_and_selectors),
                cmocka_unit_test(test_rolling_update_max_unavailable_zero),
                cmocka_unit_test(test_rolling_update_max_unavailable_allows_down_first),
                cmocka_unit_test(test_volume_payloads),
                cmocka_unit_test(test_service_account_volume),
                cmocka_unit_test(test_container_identity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
