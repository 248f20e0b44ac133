/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object name validation with kube-apiserver's rules and words
 * (k8s.io/apimachinery/pkg/util/validation and api/validation/path, and
 * the per-kind choices in pkg/apis/.../validation), so that a name a real
 * cluster refuses is refused here too, with the same message.
 */
#include "names.h"

#include <stdio.h>
#include <string.h>

#define DNS1123_LABEL_FMT     "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"
#define DNS1035_LABEL_FMT     "[a-z]([-a-z0-9]*[a-z0-9])?"

/* apimachinery's RegexError: "MSG (e.g. 'A',  or 'B', regex used for validation is 'FMT')". */
#define REGEX_ERROR(msg, a, b, fmt) \
        msg " (e.g. '" a "',  or '" b "', regex used for validation is '" fmt "')"

static const char dns1123_label_error[] = REGEX_ERROR(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character",
        "my-name", "123-abc", DNS1123_LABEL_FMT);
static const char dns1123_subdomain_error[] =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
        "used for validation is '" DNS1123_SUBDOMAIN_FMT "')";
static const char dns1035_label_error[] = REGEX_ERROR(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character",
        "my-name", "abc-123", DNS1035_LABEL_FMT);

struct rule {
        const char *group;
        const char *plural;
        enum name_rule rule;
};

static const struct rule rules[] = {
        {"", "services", NAME_DNS1035_LABEL},
        {"", "namespaces", NAME_DNS1123_LABEL},
        {"rbac.authorization.k8s.io", "roles", NAME_PATH_SEGMENT},
        {"rbac.authorization.k8s.io", "clusterroles", NAME_PATH_SEGMENT},
        {"rbac.authorization.k8s.io", "rolebindings", NAME_PATH_SEGMENT},
        {"rbac.authorization.k8s.io", "clusterrolebindings", NAME_PATH_SEGMENT},
};

enum name_rule name_rule_for(const char *group, const char *plural)
{
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
                if (strcmp(rules[i].group, group) == 0 && strcmp(rules[i].plural, plural) == 0)
                        return rules[i].rule;
        return NAME_DNS1123_SUBDOMAIN;
}

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One label of [a-z0-9]([-a-z0-9]*[a-z0-9])? (first character [a-z] when dns1035). */
static bool label_matches(const char *s, size_t n, bool dns1035)
{
        if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
                return false;
        if (dns1035 && !(s[0] >= 'a' && s[0] <= 'z'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!lower_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

static bool subdomain_matches(const char *s)
{
        for (;;) {
                const char *dot = strchr(s, '.');
                size_t n = dot ? (size_t)(dot - s) : strlen(s);
                if (!label_matches(s, n, false))
                        return false;
                if (!dot)
                        return true;
                s = dot + 1;
        }
}

static void add_max_len(json_t *out, size_t max)
{
        char msg[64];
        snprintf(msg, sizeof(msg), "must be no more than %zu characters", max);
        json_array_append_new(out, json_string(msg));
}

json_t *path_segment_problems(const char *name)
{
        json_t *out = json_array();
        if (!out)
                return NULL;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                char msg[32];
                snprintf(msg, sizeof(msg), "may not be '%s'", name);
                json_array_append_new(out, json_string(msg));
                return out;
        }
        if (strchr(name, '/'))
                json_array_append_new(out, json_string("may not contain '/'"));
        if (strchr(name, '%'))
                json_array_append_new(out, json_string("may not contain '%'"));
        return out;
}

json_t *name_problems(const char *group, const char *plural, const char *name)
{
        json_t *out = json_array();
        if (!out)
                return NULL;
        size_t len = strlen(name);
        switch (name_rule_for(group, plural)) {
        case NAME_DNS1123_SUBDOMAIN:
                if (len > 253)
                        add_max_len(out, 253);
                if (!subdomain_matches(name))
                        json_array_append_new(out, json_string(dns1123_subdomain_error));
                break;
        case NAME_DNS1123_LABEL:
                if (len > 63)
                        add_max_len(out, 63);
                if (!label_matches(name, len, false))
                        json_array_append_new(out, json_string(dns1123_label_error));
                break;
        case NAME_DNS1035_LABEL:
                if (len > 63)
                        add_max_len(out, 63);
                if (!label_matches(name, len, true))
                        json_array_append_new(out, json_string(dns1035_label_error));
                break;
        case NAME_PATH_SEGMENT:
                json_decref(out);
                return path_segment_problems(name);
        }
        /* ValidateCronJobCreate: the Job names it makes (NAME-<8 digits>) must stay labels. */
        if (strcmp(group, "batch") == 0 && strcmp(plural, "cronjobs") == 0 && len > 52)
                json_array_append_new(out, json_string("must be no more than 52 characters"));
        return out;
}
