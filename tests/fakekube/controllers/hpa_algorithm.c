/* SPDX-License-Identifier: Apache-2.0 */
#include "hpa_algorithm.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"

static int32_t min32(int32_t a, int32_t b)
{
        return a < b ? a : b;
}

static int32_t max32(int32_t a, int32_t b)
{
        return a > b ? a : b;
}

/* metricsclient.GetResourceUtilizationRatio / GetMetricUsageRatio over the pods in use[]. */
static int usage_ratio(const struct hpa_pod_metric *pods, const int64_t *usage, const bool *use,
                       size_t n, enum hpa_target_type type, int64_t target, double *ret_ratio,
                       int32_t *ret_utilization, int64_t *ret_average)
{
        int64_t usage_total = 0, request_total = 0, entries = 0;
        for (size_t i = 0; i < n; i++) {
                if (!use[i])
                        continue;
                usage_total += usage[i];
                request_total += pods[i].request_milli;
                entries++;
        }
        if (entries == 0)
                return -ENODATA;
        *ret_average = usage_total / entries;
        if (type == HPA_TARGET_UTILIZATION) {
                if (request_total == 0)
                        return -EINVAL;
                /* Integer percent first, as Kubernetes does. */
                int32_t utilization = (int32_t)(usage_total * 100 / request_total);
                *ret_utilization = utilization;
                *ret_ratio = (double)utilization / (double)target;
        } else {
                *ret_utilization = 0;
                *ret_ratio = (double)*ret_average / (double)target;
        }
        return 0;
}

int hpa_resource_replicas(int32_t current_replicas, const struct hpa_pod_metric *pods,
                          size_t n_pods, enum hpa_target_type type, int64_t target,
                          struct hpa_metric_result *ret)
{
        if (target <= 0 || n_pods > 100000)
                return -EINVAL;
        _cleanup_free_ int64_t *usage = calloc(n_pods > 0 ? n_pods : 1, sizeof(*usage));
        _cleanup_free_ bool *use = calloc(n_pods > 0 ? n_pods : 1, sizeof(*use));
        if (!usage || !use)
                return -ENOMEM;
        size_t ready = 0, unready = 0, missing = 0;
        for (size_t i = 0; i < n_pods; i++) {
                usage[i] = pods[i].usage_milli;
                use[i] = false;
                if (pods[i].ignored)
                        continue;
                if (!pods[i].has_metric) {
                        missing++;
                        continue;
                }
                if (!pods[i].ready) {
                        unready++;
                        continue;
                }
                if (type == HPA_TARGET_UTILIZATION && pods[i].request_milli <= 0)
                        return -EINVAL;
                use[i] = true;
                ready++;
        }
        if (ready == 0)
                return -ENODATA;
        double ratio = 0;
        int32_t utilization = 0;
        int64_t average = 0;
        int r = usage_ratio(pods, usage, use, n_pods, type, target, &ratio, &utilization, &average);
        if (r < 0)
                return r;
        struct hpa_metric_result result = {.utilization = utilization,
                                           .average_usage_milli = average};
        bool scale_up_with_unready = unready > 0 && ratio > 1.0;
        if (!scale_up_with_unready && missing == 0) {
                result.replicas = fabs(1.0 - ratio) <= HPA_TOLERANCE
                                          ? current_replicas
                                          : (int32_t)ceil(ratio * (double)ready);
                *ret = result;
                return 0;
        }
        /* Missing pods: assume 100 % (or the target if higher) when scaling down, 0 when up. */
        for (size_t i = 0; i < n_pods; i++) {
                if (pods[i].ignored)
                        continue;
                if (!pods[i].has_metric && ratio != 1.0) {
                        if (ratio < 1.0) {
                                int64_t fallback = type == HPA_TARGET_UTILIZATION
                                                           ? pods[i].request_milli *
                                                                     (target > 100 ? target : 100) /
                                                                     100
                                                           : target;
                                usage[i] = fallback;
                        } else {
                                usage[i] = 0;
                        }
                        use[i] = true;
                } else if (pods[i].has_metric && !pods[i].ready && scale_up_with_unready) {
                        usage[i] = 0;
                        use[i] = true;
                }
        }
        double new_ratio = 0;
        int32_t ignored_utilization = 0;
        int64_t ignored_average = 0;
        r = usage_ratio(pods, usage, use, n_pods, type, target, &new_ratio, &ignored_utilization,
                        &ignored_average);
        if (r < 0)
                return r;
        size_t entries = 0;
        for (size_t i = 0; i < n_pods; i++)
                entries += use[i];
        if (fabs(1.0 - new_ratio) <= HPA_TOLERANCE || (ratio < 1.0 && new_ratio > 1.0) ||
            (ratio > 1.0 && new_ratio < 1.0)) {
                result.replicas = current_replicas;
                *ret = result;
                return 0;
        }
        int32_t replicas = (int32_t)ceil(new_ratio * (double)entries);
        /* Never move against the direction of the raw ratio. */
        if ((new_ratio < 1.0 && replicas > current_replicas) ||
            (new_ratio > 1.0 && replicas < current_replicas))
                replicas = current_replicas;
        result.replicas = replicas;
        *ret = result;
        return 0;
}

static void rules_default_up(struct hpa_rules *r)
{
        *r = (struct hpa_rules){
                .stabilization_window_seconds = 0,
                .select = HPA_SELECT_MAX,
                .policies = {{HPA_POLICY_PODS, 4, 15}, {HPA_POLICY_PERCENT, 100, 15}},
                .n_policies = 2,
        };
}

static void rules_default_down(struct hpa_rules *r)
{
        *r = (struct hpa_rules){
                .stabilization_window_seconds = HPA_DEFAULT_DOWNSCALE_WINDOW_SECS,
                .select = HPA_SELECT_MAX,
                .policies = {{HPA_POLICY_PERCENT, 100, 15}},
                .n_policies = 1,
        };
}

static int rules_parse(const json_t *rules, struct hpa_rules *r)
{
        if (!rules)
                return 0;
        const json_t *window = json_object_get(rules, "stabilizationWindowSeconds");
        if (window) {
                if (!json_is_integer(window) || json_integer_value(window) < 0 ||
                    json_integer_value(window) > 3600)
                        return -EINVAL;
                r->stabilization_window_seconds = (int32_t)json_integer_value(window);
        }
        const char *select = json_string_value(json_object_get(rules, "selectPolicy"));
        if (select) {
                if (strcmp(select, "Max") == 0)
                        r->select = HPA_SELECT_MAX;
                else if (strcmp(select, "Min") == 0)
                        r->select = HPA_SELECT_MIN;
                else if (strcmp(select, "Disabled") == 0)
                        r->select = HPA_SELECT_DISABLED;
                else
                        return -EINVAL;
        }
        const json_t *policies = json_object_get(rules, "policies");
        if (json_is_array(policies)) {
                if (json_array_size(policies) > HPA_MAX_POLICIES)
                        return -EINVAL;
                r->n_policies = 0;
                size_t i;
                json_t *p;
                json_array_foreach (policies, i, p) {
                        const char *type = json_string_value(json_object_get(p, "type"));
                        const json_t *value = json_object_get(p, "value");
                        const json_t *period = json_object_get(p, "periodSeconds");
                        if (!type || !json_is_integer(value) || !json_is_integer(period) ||
                            json_integer_value(value) <= 0 || json_integer_value(period) <= 0 ||
                            json_integer_value(period) > 1800)
                                return -EINVAL;
                        struct hpa_policy *dst = &r->policies[r->n_policies++];
                        if (strcmp(type, "Pods") == 0)
                                dst->type = HPA_POLICY_PODS;
                        else if (strcmp(type, "Percent") == 0)
                                dst->type = HPA_POLICY_PERCENT;
                        else
                                return -EINVAL;
                        dst->value = (int32_t)json_integer_value(value);
                        dst->period_seconds = (int32_t)json_integer_value(period);
                }
        }
        return 0;
}

int hpa_behavior_parse(const json_t *behavior, struct hpa_behavior *ret)
{
        struct hpa_behavior b;
        rules_default_up(&b.scale_up);
        rules_default_down(&b.scale_down);
        int r = rules_parse(json_object_get(behavior, "scaleUp"), &b.scale_up);
        if (r < 0)
                return r;
        r = rules_parse(json_object_get(behavior, "scaleDown"), &b.scale_down);
        if (r < 0)
                return r;
        *ret = b;
        return 0;
}

static void remember(struct hpa_history *h, int64_t now_ms, int32_t replicas, bool found_old,
                     size_t old_index)
{
        struct hpa_recommendation rec = {.at_ms = now_ms, .replicas = replicas};
        if (found_old)
                h->recommendations[old_index] = rec;
        else if (h->n_recommendations < HPA_MAX_HISTORY)
                h->recommendations[h->n_recommendations++] = rec;
        else {
                /* Full (only with a very long window and short period): drop the oldest. */
                memmove(&h->recommendations[0], &h->recommendations[1],
                        (HPA_MAX_HISTORY - 1) * sizeof(h->recommendations[0]));
                h->recommendations[HPA_MAX_HISTORY - 1] = rec;
        }
}

static int32_t changes_in_period(const struct hpa_scale_event *events, size_t n, int32_t period_s,
                                 int64_t now_ms)
{
        int64_t cutoff = now_ms - (int64_t)period_s * 1000;
        int32_t total = 0;
        for (size_t i = 0; i < n; i++)
                if (events[i].at_ms > cutoff)
                        total += events[i].change;
        return total;
}

static int32_t scale_up_limit(int32_t current, const struct hpa_history *h,
                              const struct hpa_rules *rules, int64_t now_ms)
{
        if (rules->select == HPA_SELECT_DISABLED)
                return current;
        bool pick_min = rules->select == HPA_SELECT_MIN;
        int32_t result = pick_min ? INT32_MAX : INT32_MIN;
        for (size_t i = 0; i < rules->n_policies; i++) {
                const struct hpa_policy *p = &rules->policies[i];
                int32_t added = changes_in_period(h->up, h->n_up, p->period_seconds, now_ms);
                int32_t deleted = changes_in_period(h->down, h->n_down, p->period_seconds, now_ms);
                int32_t start = current - added + deleted;
                int32_t proposed =
                        p->type == HPA_POLICY_PODS
                                ? start + p->value
                                : (int32_t)ceil((double)start * (1.0 + p->value / 100.0));
                result = pick_min ? min32(result, proposed) : max32(result, proposed);
        }
        return result;
}

static int32_t scale_down_limit(int32_t current, const struct hpa_history *h,
                                const struct hpa_rules *rules, int64_t now_ms)
{
        if (rules->select == HPA_SELECT_DISABLED)
                return current;
        bool pick_min_change = rules->select == HPA_SELECT_MIN;
        int32_t result = pick_min_change ? INT32_MIN : INT32_MAX;
        for (size_t i = 0; i < rules->n_policies; i++) {
                const struct hpa_policy *p = &rules->policies[i];
                int32_t added = changes_in_period(h->up, h->n_up, p->period_seconds, now_ms);
                int32_t deleted = changes_in_period(h->down, h->n_down, p->period_seconds, now_ms);
                int32_t start = current - added + deleted;
                int32_t proposed = p->type == HPA_POLICY_PODS
                                           ? start - p->value
                                           : (int32_t)((double)start * (1.0 - p->value / 100.0));
                result = pick_min_change ? max32(result, proposed) : min32(result, proposed);
        }
        return result;
}

static void normalize_legacy(struct hpa_history *h, int32_t current, int32_t recommended,
                             int32_t min_replicas, int32_t max_replicas, int64_t now_ms,
                             struct hpa_decision *d)
{
        /* stabilizeRecommendation: the highest recommendation of the last 5 minutes. */
        int64_t cutoff = now_ms - (int64_t)HPA_DEFAULT_DOWNSCALE_WINDOW_SECS * 1000;
        int32_t stabilized = recommended;
        bool found_old = false;
        size_t old_index = 0;
        for (size_t i = 0; i < h->n_recommendations; i++) {
                if (h->recommendations[i].at_ms < cutoff) {
                        found_old = true;
                        old_index = i;
                } else if (h->recommendations[i].replicas > stabilized) {
                        stabilized = h->recommendations[i].replicas;
                }
        }
        remember(h, now_ms, recommended, found_old, old_index);
        if (stabilized != recommended) {
                d->able_reason = "ScaleDownStabilized";
                d->able_message = "recent recommendations were higher than current one, applying "
                                  "the highest recent recommendation";
        } else {
                d->able_reason = "ReadyForNewScale";
                d->able_message = "recommended size matches current size";
        }
        /* convertDesiredReplicasWithRules */
        int32_t up_limit = (int32_t)fmax(2.0 * current, 4.0);
        int32_t maximum;
        const char *reason, *message;
        if (max_replicas > up_limit) {
                maximum = up_limit;
                reason = "ScaleUpLimit";
                message = "the desired replica count is increasing faster than the maximum scale "
                          "rate";
        } else {
                maximum = max_replicas;
                reason = "TooManyReplicas";
                message = "the desired replica count is more than the maximum replica count";
        }
        int32_t desired = stabilized;
        if (stabilized < min_replicas) {
                desired = min_replicas;
                reason = "TooFewReplicas";
                message = "the desired replica count is less than the minimum replica count";
        } else if (stabilized > maximum) {
                desired = maximum;
        } else {
                reason = "DesiredWithinRange";
                message = "the desired count is within the acceptable range";
        }
        d->desired = desired;
        d->limited = desired != stabilized;
        d->limited_reason = reason;
        d->limited_message = message;
}

void hpa_normalize(struct hpa_history *h, const struct hpa_behavior *behavior, int32_t current,
                   int32_t recommended, int32_t min_replicas, int32_t max_replicas, int64_t now_ms,
                   struct hpa_decision *ret)
{
        struct hpa_decision d = {0};
        if (!behavior) {
                normalize_legacy(h, current, recommended, min_replicas, max_replicas, now_ms, &d);
                *ret = d;
                return;
        }
        /* stabilizeRecommendationWithBehaviors */
        int64_t up_cutoff =
                now_ms - (int64_t)behavior->scale_up.stabilization_window_seconds * 1000;
        int64_t down_cutoff =
                now_ms - (int64_t)behavior->scale_down.stabilization_window_seconds * 1000;
        int32_t up = recommended, down = recommended;
        bool found_old = false;
        size_t old_index = 0;
        for (size_t i = 0; i < h->n_recommendations; i++) {
                const struct hpa_recommendation *rec = &h->recommendations[i];
                if (rec->at_ms > up_cutoff)
                        up = min32(rec->replicas, up);
                if (rec->at_ms > down_cutoff)
                        down = max32(rec->replicas, down);
                if (rec->at_ms < up_cutoff && rec->at_ms < down_cutoff) {
                        found_old = true;
                        old_index = i;
                }
        }
        int32_t stabilized = current;
        if (stabilized < up)
                stabilized = up;
        if (stabilized > down)
                stabilized = down;
        remember(h, now_ms, recommended, found_old, old_index);
        if (stabilized != recommended) {
                if (recommended >= current) {
                        d.able_reason = "ScaleUpStabilized";
                        d.able_message = "recent recommendations were lower than current one, "
                                         "applying the lowest recent recommendation";
                } else {
                        d.able_reason = "ScaleDownStabilized";
                        d.able_message = "recent recommendations were higher than current one, "
                                         "applying the highest recent recommendation";
                }
        } else {
                d.able_reason = "ReadyForNewScale";
                d.able_message = "recommended size matches current size";
        }
        /* convertDesiredReplicasWithBehaviorRate */
        int32_t desired = stabilized;
        const char *reason = "DesiredWithinRange";
        const char *message = "the desired count is within the acceptable range";
        if (stabilized > current) {
                int32_t limit = scale_up_limit(current, h, &behavior->scale_up, now_ms);
                if (limit < current)
                        limit = current;
                int32_t maximum = max_replicas;
                const char *r_reason, *r_message;
                if (maximum > limit) {
                        maximum = limit;
                        r_reason = "ScaleUpLimit";
                        r_message = "the desired replica count is increasing faster than the "
                                    "maximum scale rate";
                } else {
                        r_reason = "TooManyReplicas";
                        r_message =
                                "the desired replica count is more than the maximum replica count";
                }
                if (stabilized > maximum) {
                        desired = maximum;
                        reason = r_reason;
                        message = r_message;
                }
        } else if (stabilized < current) {
                int32_t limit = scale_down_limit(current, h, &behavior->scale_down, now_ms);
                if (limit > current)
                        limit = current;
                int32_t minimum = min_replicas;
                const char *r_reason, *r_message;
                if (minimum < limit) {
                        minimum = limit;
                        r_reason = "ScaleDownLimit";
                        r_message = "the desired replica count is decreasing faster than the "
                                    "maximum scale rate";
                } else {
                        r_reason = "TooFewReplicas";
                        r_message =
                                "the desired replica count is less than the minimum replica count";
                }
                if (stabilized < minimum) {
                        desired = minimum;
                        reason = r_reason;
                        message = r_message;
                }
        }
        d.desired = desired;
        d.limited = desired != stabilized;
        d.limited_reason = reason;
        d.limited_message = message;
        *ret = d;
}

static void record_event(struct hpa_scale_event *events, size_t *n, const struct hpa_rules *rules,
                         int32_t change, int64_t now_ms)
{
        int32_t longest = 0;
        for (size_t i = 0; i < rules->n_policies; i++)
                longest = max32(longest, rules->policies[i].period_seconds);
        int64_t cutoff = now_ms - (int64_t)longest * 1000;
        bool reused = false;
        for (size_t i = 0; i < *n; i++) {
                if (events[i].at_ms < cutoff)
                        events[i].outdated = true;
        }
        struct hpa_scale_event ev = {.at_ms = now_ms, .change = change};
        for (size_t i = 0; i < *n && !reused; i++) {
                if (events[i].outdated) {
                        events[i] = ev;
                        reused = true;
                }
        }
        if (!reused) {
                if (*n < HPA_MAX_HISTORY) {
                        events[(*n)++] = ev;
                } else {
                        memmove(&events[0], &events[1], (HPA_MAX_HISTORY - 1) * sizeof(events[0]));
                        events[HPA_MAX_HISTORY - 1] = ev;
                }
        }
}

void hpa_record_scale(struct hpa_history *h, const struct hpa_behavior *behavior,
                      int32_t old_replicas, int32_t new_replicas, int64_t now_ms)
{
        if (!behavior || old_replicas == new_replicas)
                return;
        if (new_replicas > old_replicas)
                record_event(h->up, &h->n_up, &behavior->scale_up, new_replicas - old_replicas,
                             now_ms);
        else
                record_event(h->down, &h->n_down, &behavior->scale_down,
                             old_replicas - new_replicas, now_ms);
}
