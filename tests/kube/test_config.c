/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig and in-cluster configuration: every user/cluster form, bad files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube-private.h"
#include "kube.h"
#include "support.h"
#include "test-pem.h"

static char *dir; /* support_temp_dir() */
static char *cert_pem, *key_pem, *cert_b64, *key_b64;

static int group_setup(void **state)
{
        if (support_temp_dir("kube-config-test", &dir) < 0)
                return -1;
        if (test_make_self_signed("test-ca", NULL, &cert_pem, &key_pem) < 0)
                return -1;
        cert_b64 = test_base64(cert_pem);
        key_b64 = test_base64(key_pem);
        free(test_write_file(dir, "ca.crt", cert_pem));
        free(test_write_file(dir, "client.crt", cert_pem));
        free(test_write_file(dir, "client.key", key_pem));
        free(test_write_file(dir, "token", "file-token-SECRET\n"));
        free(test_write_file(dir, "garbage.crt", "not a certificate\n"));
        return 0;
}

static int group_teardown(void **state)
{
        if (support_remove_tree(dir) < 0)
                return -1;
        free(dir);
        free(cert_pem);
        free(key_pem);
        free(cert_b64);
        free(key_b64);
        return 0;
}

/* Write a kubeconfig with one cluster, one user, one context "main"; the
 * cluster and user bodies are given as YAML lines (indented by 4). */
static char *write_kubeconfig(const char *name, const char *cluster, const char *user,
                              const char *extra)
{
        char *text = NULL;
        if (asprintf(&text,
                     "apiVersion: v1\n"
                     "kind: Config\n"
                     "current-context: main\n"
                     "clusters:\n"
                     "- name: c1\n"
                     "  cluster:\n"
                     "%s"
                     "users:\n"
                     "- name: u1\n"
                     "  user:\n"
                     "%s"
                     "contexts:\n"
                     "- name: main\n"
                     "  context: {cluster: c1, user: u1, namespace: shop}\n"
                     "- name: other\n"
                     "  context: {cluster: c1, user: u1}\n"
                     "%s",
                     cluster, user, extra ? extra : "") < 0)
                return NULL;
        char *path = test_write_file(dir, name, text);
        free(text);
        return path;
}

static int load(const char *path, const char *context, struct kube_config **ret,
                struct kube_status *status)
{
        return kube_config_load(
                &(struct kube_config_options){.kubeconfig_path = path, .context = context}, ret,
                status);
}

static void test_token_and_ca_data(void **state)
{
        char *cluster = NULL;
        assert_true(asprintf(&cluster,
                             "    server: https://127.0.0.1:6443/\n"
                             "    certificate-authority-data: %s\n",
                             cert_b64) > 0);
        char *path = write_kubeconfig("token.yaml", cluster, "    token: abc-SECRET\n", NULL);
        struct kube_config *c = NULL;
        assert_int_equal(load(path, NULL, &c, NULL), 0);
        assert_string_equal(kube_config_server(c), "https://127.0.0.1:6443");
        assert_string_equal(kube_config_namespace(c), "shop");
        assert_string_equal(kube_config_context(c), "main");
        assert_string_equal(kube_config_auth_kind(c), "token");
        assert_false(kube_config_insecure(c));
        assert_non_null(c->ca_data.data);
        assert_memory_equal(c->ca_data.data, cert_pem, strlen(cert_pem));
        kube_config_free(c);

        /* Named context: no namespace there -> "default". */
        assert_int_equal(load(path, "other", &c, NULL), 0);
        assert_string_equal(kube_config_namespace(c), "default");
        assert_string_equal(kube_config_context(c), "other");
        kube_config_free(c);

        struct kube_status status = {0};
        assert_int_equal(load(path, "nope", &c, &status), KUBE_ERR_CONTEXT_NOT_FOUND);
        assert_non_null(strstr(status.message, "nope"));
        free(path);
        free(cluster);
}

static void test_token_file_and_ca_file(void **state)
{
        /* Relative paths are relative to the kubeconfig's directory. */
        char *path = write_kubeconfig("tokenfile.yaml",
                                      "    server: https://10.0.0.1\n"
                                      "    certificate-authority: ca.crt\n",
                                      "    tokenFile: token\n", NULL);
        struct kube_config *c = NULL;
        assert_int_equal(load(path, NULL, &c, NULL), 0);
        assert_string_equal(kube_config_auth_kind(c), "token-file");
        assert_non_null(strstr(c->ca_file, dir));
        assert_non_null(strstr(c->token_file, "/token"));
        char *token = NULL;
        assert_int_equal(kube_read_token_file(c->token_file, &token), 0);
        assert_string_equal(token, "file-token-SECRET");
        free(token);
        kube_config_free(c);
        free(path);

        /* Missing token file: a credentials error naming the file, no secret. */
        path = write_kubeconfig("tokenfile-missing.yaml", "    server: https://10.0.0.1\n",
                                "    tokenFile: /nonexistent/token\n", NULL);
        struct kube_status status = {0};
        assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CREDENTIALS);
        assert_non_null(strstr(status.message, "/nonexistent/token"));
        free(path);
}

/*
 * A token is sent as the Authorization header: one with CR/LF (or any control
 * character) would inject headers.  Refused at load, naming the field, and
 * never echoed in the message.
 */
static void test_token_with_control_characters(void **state)
{
        static const char *const tokens[] = {
                "\"abc-SECRET\\r\\nX-Injected: 1\"", /* CR LF: a second header */
                "\"abc-SECRET\\nX-Injected: 1\"",    /* LF alone */
                "\"abc-SECRET\\tmore\"",             /* tab */
                "\"abc-SECRET\\u0000tail\"",         /* NUL: would cut the token */
                "\"abc-SECRET\\x7f\"",               /* DEL */
        };
        for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
                char *user = NULL;
                assert_true(asprintf(&user, "    token: %s\n", tokens[i]) > 0);
                char *path =
                        write_kubeconfig("token-ctl.yaml", "    server: https://h:1\n", user, NULL);
                struct kube_config *c = NULL;
                struct kube_status status = {0};
                int r = load(path, NULL, &c, &status);
                if (r != KUBE_ERR_CONFIG)
                        fail_msg("token %s: got %s (%s)", tokens[i], kube_strerror(r),
                                 status.message);
                assert_null(c);
                assert_null(strstr(status.message, "SECRET"));
                /* A NUL never reaches the token check: the YAML reader refuses it first. */
                if (strstr(tokens[i], "\\u0000")) {
                        assert_non_null(strstr(status.message, "NUL character"));
                } else {
                        assert_non_null(strstr(status.message, "user \"u1\""));
                        assert_non_null(strstr(status.message, "field \"token\""));
                }
                free(path);
                free(user);
        }

        /* The same in a tokenFile (read at load and again for each request). */
        static const char *const files[] = {
                "abc-SECRET\r\nX-Injected: 1\n",
                "abc-SECRET\rX-Injected: 1",
                "abc\x01SECRET",
                "abc-SECRET\x7f",
        };
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                free(test_write_file(dir, "bad-token", files[i]));
                char *path = write_kubeconfig("tokenfile-ctl.yaml", "    server: https://h:1\n",
                                              "    tokenFile: bad-token\n", NULL);
                struct kube_config *c = NULL;
                struct kube_status status = {0};
                assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CREDENTIALS);
                assert_non_null(strstr(status.message, "field \"tokenFile\""));
                assert_non_null(strstr(status.message, "printable"));
                assert_null(strstr(status.message, "SECRET"));
                char *token = NULL;
                char *file = NULL;
                assert_true(asprintf(&file, "%s/bad-token", dir) > 0);
                assert_int_equal(kube_read_token_file(file, &token), -EINVAL);
                assert_null(token);
                free(file);
                free(path);
        }
        /* Trailing CR/LF (a file saved by a Windows editor) is fine. */
        free(test_write_file(dir, "crlf-token", "file-token\r\n"));
        char *file = NULL;
        char *token = NULL;
        assert_true(asprintf(&file, "%s/crlf-token", dir) > 0);
        assert_int_equal(kube_read_token_file(file, &token), 0);
        assert_string_equal(token, "file-token");
        free(token);
        free(file);
}

static void test_client_certificate_forms(void **state)
{
        char *user = NULL;
        assert_true(asprintf(&user,
                             "    client-certificate-data: %s\n"
                             "    client-key-data: %s\n",
                             cert_b64, key_b64) > 0);
        char *path = write_kubeconfig("cert-data.yaml",
                                      "    server: https://h:1\n"
                                      "    insecure-skip-tls-verify: true\n",
                                      user, NULL);
        struct kube_config *c = NULL;
        assert_int_equal(load(path, NULL, &c, NULL), 0);
        assert_string_equal(kube_config_auth_kind(c), "client-certificate");
        assert_true(kube_config_insecure(c));
        assert_non_null(c->client_key_data.data);
        kube_config_free(c);
        free(path);
        free(user);

        path = write_kubeconfig("cert-files.yaml", "    server: https://h:1\n",
                                "    client-certificate: client.crt\n"
                                "    client-key: client.key\n",
                                NULL);
        assert_int_equal(load(path, NULL, &c, NULL), 0);
        assert_string_equal(kube_config_auth_kind(c), "client-certificate");
        assert_non_null(c->client_cert_file);
        assert_non_null(c->client_key_file);
        kube_config_free(c);
        free(path);

        /* Certificate without key. */
        path = write_kubeconfig("cert-nokey.yaml", "    server: https://h:1\n",
                                "    client-certificate: client.crt\n", NULL);
        assert_int_equal(load(path, NULL, &c, NULL), KUBE_ERR_CONFIG);
        free(path);

        /* A "key" that is a certificate. */
        path = write_kubeconfig("cert-badkey.yaml", "    server: https://h:1\n",
                                "    client-certificate: client.crt\n"
                                "    client-key: client.crt\n",
                                NULL);
        assert_int_equal(load(path, NULL, &c, NULL), KUBE_ERR_CREDENTIALS);
        free(path);
}

/* Scalars as client-go reads a kubeconfig: YAML 1.1 booleans, string fields as written. */
static void test_yaml_scalars_like_client_go(void **state)
{
        char *path = write_kubeconfig("yaml11.yaml",
                                      "    server: https://h:1\n"
                                      "    insecure-skip-tls-verify: yes\n",
                                      "    token: 0x1F\n", NULL);
        struct kube_config *c = NULL;
        assert_int_equal(load(path, NULL, &c, NULL), 0);
        assert_true(kube_config_insecure(c));
        /* A string field keeps the text: the token is "0x1F", not 31. */
        assert_string_equal(c->token, "0x1F");
        kube_config_free(c);
        free(path);
}

static void test_bad_files(void **state)
{
        struct kube_config *c = NULL;
        struct kube_status status = {0};
        char *path;

        assert_int_equal(load("/nonexistent/kubeconfig", NULL, &c, &status), KUBE_ERR_NO_CONFIG);

        path = test_write_file(dir, "bad.yaml", "clusters: [\n  - {name: x\n");
        assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CONFIG);
        assert_non_null(strstr(status.message, "YAML"));
        free(path);

        path = test_write_file(dir, "list.yaml", "- a\n- b\n");
        assert_int_equal(load(path, NULL, &c, NULL), KUBE_ERR_CONFIG);
        free(path);

        path = test_write_file(dir, "nocontext.yaml", "apiVersion: v1\nclusters: []\n");
        assert_int_equal(load(path, NULL, &c, NULL), KUBE_ERR_CONTEXT_NOT_FOUND);
        free(path);

        path = write_kubeconfig("noserver.yaml", "    insecure-skip-tls-verify: true\n",
                                "    token: t\n", NULL);
        assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CONFIG);
        assert_non_null(strstr(status.message, "server"));
        free(path);

        path = write_kubeconfig("badb64.yaml",
                                "    server: https://h:1\n"
                                "    certificate-authority-data: '!!!notbase64'\n",
                                "    token: t\n", NULL);
        assert_int_equal(load(path, NULL, &c, NULL), KUBE_ERR_CONFIG);
        free(path);

        path = write_kubeconfig("badcafile.yaml",
                                "    server: https://h:1\n"
                                "    certificate-authority: garbage.crt\n",
                                "    token: t\n", NULL);
        assert_int_equal(load(path, NULL, &c, NULL), KUBE_ERR_CREDENTIALS);
        free(path);

        path = write_kubeconfig(
                "exec.yaml", "    server: https://h:1\n",
                "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n", NULL);
        assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CONFIG);
        assert_non_null(strstr(status.message, "exec"));
        free(path);

        /* Context pointing at a missing user. */
        path = test_write_file(dir, "nouser.yaml",
                               "current-context: a\n"
                               "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                               "contexts: [{name: a, context: {cluster: c, user: ghost}}]\n");
        assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CONFIG);
        assert_non_null(strstr(status.message, "ghost"));
        free(path);
}

static void test_no_secret_in_errors(void **state)
{
        /* A broken CA with a token present: the message must not carry the token. */
        char *path = write_kubeconfig("secret.yaml",
                                      "    server: https://h:1\n"
                                      "    certificate-authority: garbage.crt\n",
                                      "    token: VERY-SECRET-TOKEN\n", NULL);
        struct kube_config *c = NULL;
        struct kube_status status = {0};
        assert_int_equal(load(path, NULL, &c, &status), KUBE_ERR_CREDENTIALS);
        assert_null(strstr(status.message, "VERY-SECRET-TOKEN"));
        free(path);
}

static void test_env_and_home(void **state)
{
        char *path =
                write_kubeconfig("env.yaml", "    server: https://env:1\n", "    token: t\n", NULL);
        char *env = NULL;
        assert_true(asprintf(&env, "/nonexistent/one:%s:/nonexistent/two", path) > 0);
        unsetenv("KUBERNETES_SERVICE_HOST");
        setenv("KUBECONFIG", env, 1);
        struct kube_config *c = NULL;
        assert_int_equal(kube_config_load(NULL, &c, NULL), 0);
        assert_string_equal(kube_config_server(c), "https://env:1");
        kube_config_free(c);
        free(env);

        setenv("KUBECONFIG", "/nonexistent/only", 1);
        assert_int_equal(kube_config_load(NULL, &c, NULL), KUBE_ERR_NO_CONFIG);

        /* ~/.kube/config */
        unsetenv("KUBECONFIG");
        char *home = NULL, *kube_dir = NULL;
        assert_true(asprintf(&home, "%s/home", dir) > 0);
        assert_true(asprintf(&kube_dir, "%s/.kube", home) > 0);
        assert_int_equal(mkdir(home, 0700), 0);
        assert_int_equal(mkdir(kube_dir, 0700), 0);
        char *text = NULL;
        assert_true(asprintf(&text, "current-context: x\n"
                                    "clusters: [{name: c, cluster: {server: 'https://home:2'}}]\n"
                                    "contexts: [{name: x, context: {cluster: c}}]\n") > 0);
        free(test_write_file(kube_dir, "config", text));
        setenv("HOME", home, 1);
        assert_int_equal(kube_config_load(NULL, &c, NULL), 0);
        assert_string_equal(kube_config_server(c), "https://home:2");
        assert_string_equal(kube_config_auth_kind(c), "none");
        kube_config_free(c);
        free(text);
        free(home);
        free(kube_dir);
        free(path);
}

static void test_in_cluster(void **state)
{
        char *root = NULL, *sa = NULL;
        assert_true(asprintf(&root, "%s/root", dir) > 0);
        assert_true(asprintf(&sa, "%s/var/run/secrets/kubernetes.io/serviceaccount", root) > 0);
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", sa);
        assert_int_equal(system(cmd), 0);

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        struct kube_config *c = NULL;
        struct kube_status status = {0};
        /* No token yet. */
        assert_int_equal(kube_config_load_in_cluster(root, &c, &status), KUBE_ERR_CREDENTIALS);

        free(test_write_file(sa, "token", "sa-token\n"));
        free(test_write_file(sa, "ca.crt", cert_pem));
        assert_int_equal(kube_config_load_in_cluster(root, &c, NULL), 0);
        assert_string_equal(kube_config_server(c), "https://10.96.0.1:443");
        assert_string_equal(kube_config_namespace(c), "default");
        assert_string_equal(kube_config_auth_kind(c), "token-file");
        kube_config_free(c);

        free(test_write_file(sa, "namespace", "tripdeal\n"));
        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        unsetenv("KUBECONFIG");
        /* Without --kubeconfig or $KUBECONFIG, in-cluster wins when the env is set. */
        assert_int_equal(
                kube_config_load(&(struct kube_config_options){.in_cluster_root = root}, &c, NULL),
                0);
        assert_string_equal(kube_config_server(c), "https://[fd00::1]:443");
        assert_string_equal(kube_config_namespace(c), "tripdeal");
        kube_config_free(c);

        unsetenv("KUBERNETES_SERVICE_HOST");
        assert_int_equal(kube_config_load_in_cluster(root, &c, NULL), KUBE_ERR_NO_CONFIG);
        free(root);
        free(sa);
}

static void test_copy(void **state)
{
        char *path = write_kubeconfig("copy.yaml", "    server: https://h:1\n",
                                      "    client-certificate: client.crt\n"
                                      "    client-key: client.key\n",
                                      NULL);
        struct kube_config *c = NULL, *copy = NULL;
        assert_int_equal(load(path, NULL, &c, NULL), 0);
        assert_int_equal(kube_config_copy(c, &copy), 0);
        kube_config_free(c);
        assert_string_equal(kube_config_server(copy), "https://h:1");
        assert_string_equal(kube_config_auth_kind(copy), "client-certificate");
        kube_config_free(copy);
        kube_config_free(NULL);
        free(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token_and_ca_data),
                cmocka_unit_test(test_token_file_and_ca_file),
                cmocka_unit_test(test_token_with_control_characters),
                cmocka_unit_test(test_client_certificate_forms),
                cmocka_unit_test(test_yaml_scalars_like_client_go),
                cmocka_unit_test(test_bad_files),
                cmocka_unit_test(test_no_secret_in_errors),
                cmocka_unit_test(test_env_and_home),
                cmocka_unit_test(test_in_cluster),
                cmocka_unit_test(test_copy),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
