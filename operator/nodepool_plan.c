/* SPDX-License-Identifier: Apache-2.0 */
#include "nodepool_plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *nodepool_node_state_to_string(enum nodepool_node_state state)
{
        switch (state) {
        case NODEPOOL_NODE_READY:
                return "Ready";
        case NODEPOOL_NODE_NOT_READY:
                return "NotReady";
        case NODEPOOL_NODE_REGISTERING:
        default:
                return "Registering";
        }
}

int32_t nodepool_desired_count(int32_t pool_min, int32_t pool_max, int32_t nodes_wanted)
{
        int32_t want = pool_min > nodes_wanted ? pool_min : nodes_wanted;
        if (want > pool_max)
                want = pool_max;
        return want < 0 ? 0 : want;
}

/* True when a is the better one to release than b. */
static bool removal_before(const struct nodepool_member *a, const struct nodepool_member *b)
{
        if (a->pods != b->pods)
                return a->pods < b->pods;
        bool a_ready = a->node == NODEPOOL_NODE_READY, b_ready = b->node == NODEPOOL_NODE_READY;
        if (a_ready != b_ready)
                return !a_ready;
        if (a->created_at_ms != b->created_at_ms)
                return a->created_at_ms > b->created_at_ms;
        return strcmp(a->name ? a->name : "", b->name ? b->name : "") > 0;
}

long nodepool_pick_removal(const struct nodepool_member *members, size_t n)
{
        long best = -1;
        for (size_t i = 0; i < n; i++)
                if (best < 0 || removal_before(&members[i], &members[best]))
                        best = (long)i;
        return best;
}

int64_t nodepool_replace_due_ms(const struct nodepool_member *member, int64_t ready_timeout_ms)
{
        if (member->node == NODEPOOL_NODE_READY)
                return 0;
        int64_t since = member->created_at_ms;
        if (member->not_ready_since_ms > since)
                since = member->not_ready_since_ms;
        return since > 0 ? since + ready_timeout_ms : 0;
}

bool nodepool_needs_replacement(const struct nodepool_member *member, int64_t now_ms,
                                int64_t ready_timeout_ms)
{
        int64_t due = nodepool_replace_due_ms(member, ready_timeout_ms);
        return due > 0 && now_ms >= due;
}

int nodepool_vm_name(const char *tripdeal, const char *pool,
                     const uint8_t suffix_random[NODEPOOL_SUFFIX_LENGTH], char *buf, size_t size)
{
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        if (!tripdeal || !pool || !*tripdeal || !*pool)
                return -EINVAL;
        if (size < 64)
                return -ENOBUFS;

        /* The prefix may use 63 - "-" - suffix characters. */
        char prefix[64];
        size_t limit = 63 - 1 - NODEPOOL_SUFFIX_LENGTH, n = 0;
        for (const char *p = tripdeal; *p && n < limit; p++)
                prefix[n++] = *p == '.' ? '-' : *p;
        if (n < limit)
                prefix[n++] = '-';
        for (const char *p = pool; *p && n < limit; p++)
                prefix[n++] = *p;
        /* A cut can leave a trailing '-', which is fine before "-suffix" only
         * once: collapse so the label stays readable. */
        while (n > 0 && prefix[n - 1] == '-')
                n--;
        prefix[n] = '\0';

        char suffix[NODEPOOL_SUFFIX_LENGTH + 1];
        for (size_t i = 0; i < NODEPOOL_SUFFIX_LENGTH; i++)
                suffix[i] = alphabet[suffix_random[i] % (sizeof(alphabet) - 1)];
        suffix[NODEPOOL_SUFFIX_LENGTH] = '\0';
        snprintf(buf, size, "%s%s%s", prefix, n ? "-" : "", suffix);
        return 0;
}

int64_t nodepool_retry_delay_ms(int64_t failing_for_ms)
{
        const int64_t first = 1000, last = 5 * 60 * 1000;
        if (failing_for_ms < first)
                return first;
        return failing_for_ms > last ? last : failing_for_ms;
}
