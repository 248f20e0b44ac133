/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig files (libyaml) and in-cluster service account configuration. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "kube-private.h"
#include "macros.h"

#define SERVICE_ACCOUNT_DIR "var/run/secrets/kubernetes.io/serviceaccount"

static void blob_clear(struct kube_blob *blob)
{
        if (blob->data)
                OPENSSL_cleanse(blob->data, blob->size);
        free(blob->data);
        blob->data = NULL;
        blob->size = 0;
}

static void free_secret_string(char *s)
{
        if (s)
                OPENSSL_cleanse(s, strlen(s));
        free(s);
}

void kube_config_free(struct kube_config *config)
{
        if (!config)
                return;
        free(config->context);
        free(config->server);
        free(config->namespace);
        free(config->ca_file);
        blob_clear(&config->ca_data);
        free_secret_string(config->token);
        free(config->token_file);
        free(config->client_cert_file);
        blob_clear(&config->client_cert_data);
        free(config->client_key_file);
        blob_clear(&config->client_key_data);
        free(config);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kube_config *, kube_config_free)

static int dup_or_null(const char *s, char **ret)
{
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int blob_copy(const struct kube_blob *from, struct kube_blob *to)
{
        to->data = NULL;
        to->size = 0;
        if (!from->data)
                return 0;
        to->data = malloc(from->size + 1);
        if (!to->data)
                return -ENOMEM;
        memcpy(to->data, from->data, from->size);
        to->data[from->size] = '\0';
        to->size = from->size;
        return 0;
}

int kube_config_copy(const struct kube_config *config, struct kube_config **ret_copy)
{
        _cleanup_(kube_config_freep) struct kube_config *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->insecure = config->insecure;
        if (dup_or_null(config->context, &c->context) < 0 ||
            dup_or_null(config->server, &c->server) < 0 ||
            dup_or_null(config->namespace, &c->namespace) < 0 ||
            dup_or_null(config->ca_file, &c->ca_file) < 0 ||
            blob_copy(&config->ca_data, &c->ca_data) < 0 ||
            dup_or_null(config->token, &c->token) < 0 ||
            dup_or_null(config->token_file, &c->token_file) < 0 ||
            dup_or_null(config->client_cert_file, &c->client_cert_file) < 0 ||
            blob_copy(&config->client_cert_data, &c->client_cert_data) < 0 ||
            dup_or_null(config->client_key_file, &c->client_key_file) < 0 ||
            blob_copy(&config->client_key_data, &c->client_key_data) < 0)
                return -ENOMEM;
        *ret_copy = TAKE_PTR(c);
        return 0;
}

const char *kube_config_server(const struct kube_config *config)
{
        return config->server;
}

const char *kube_config_namespace(const struct kube_config *config)
{
        return config->namespace;
}

const char *kube_config_context(const struct kube_config *config)
{
        return config->context ? config->context : "";
}

bool kube_config_insecure(const struct kube_config *config)
{
        return config->insecure;
}

const char *kube_config_auth_kind(const struct kube_config *config)
{
        if (config->token)
                return "token";
        if (config->token_file)
                return "token-file";
        if (config->client_cert_file || config->client_cert_data.data)
                return "client-certificate";
        return "none";
}

/* ---- YAML to JSON ---- */

/*
 * kubeconfig is small and regular, so we load it as a libyaml document and
 * turn it into jansson values (every scalar a string) to navigate it with the
 * same helpers as API objects.
 */
static json_t *yaml_node_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
        if (!node || depth > 32)
                return NULL;
        switch (node->type) {
        case YAML_SCALAR_NODE:
                return json_stringn((const char *)node->data.scalar.value,
                                    node->data.scalar.length);
        case YAML_SEQUENCE_NODE: {
                json_t *array = json_array();
                for (yaml_node_item_t *item = node->data.sequence.items.start;
                     array && item < node->data.sequence.items.top; item++) {
                        json_t *child = yaml_node_to_json(doc, yaml_document_get_node(doc, *item),
                                                          depth + 1);
                        if (!child || json_array_append_new(array, child) < 0) {
                                json_decref(array);
                                return NULL;
                        }
                }
                return array;
        }
        case YAML_MAPPING_NODE: {
                json_t *object = json_object();
                for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
                     object && pair < node->data.mapping.pairs.top; pair++) {
                        yaml_node_t *key = yaml_document_get_node(doc, pair->key);
                        if (!key || key->type != YAML_SCALAR_NODE) {
                                json_decref(object);
                                return NULL;
                        }
                        json_t *child = yaml_node_to_json(
                                doc, yaml_document_get_node(doc, pair->value), depth + 1);
                        if (!child ||
                            json_object_set_new(object, (const char *)key->data.scalar.value,
                                                child) < 0) {
                                json_decref(object);
                                return NULL;
                        }
                }
                return object;
        }
        default:
                return NULL;
        }
}

static int load_yaml_file(const char *path, json_t **ret, struct kube_status *status)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) {
                int r = NEG_ERRNO();
                kube_status_set(status, 0, "ConfigUnreadable", "cannot open kubeconfig %s: %s",
                                path, strerror(-r));
                return r == -ENOENT ? KUBE_ERR_NO_CONFIG : KUBE_ERR_CONFIG;
        }
        yaml_parser_t parser;
        yaml_document_t doc;
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &doc)) {
                kube_status_set(status, 0, "ConfigInvalid",
                                "kubeconfig %s is not valid YAML: %s at line %zu", path,
                                parser.problem ? parser.problem : "syntax error",
                                parser.problem_mark.line + 1);
                yaml_parser_delete(&parser);
                return KUBE_ERR_CONFIG;
        }
        json_t *root = yaml_node_to_json(&doc, yaml_document_get_root_node(&doc), 0);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (!json_is_object(root)) {
                json_decref(root);
                kube_status_set(status, 0, "ConfigInvalid", "kubeconfig %s is not a YAML mapping",
                                path);
                return KUBE_ERR_CONFIG;
        }
        *ret = root;
        return 0;
}

/* Find {name: NAME, KEY: {...}} in a named list (clusters, users, contexts). */
static json_t *named_entry(json_t *root, const char *list, const char *key, const char *name)
{
        json_t *array = json_object_get(root, list);
        size_t i;
        json_t *entry;
        if (!name)
                return NULL;
        json_array_foreach (array, i, entry) {
                const char *entry_name = json_string_value(json_object_get(entry, "name"));
                if (entry_name && strcmp(entry_name, name) == 0) {
                        json_t *value = json_object_get(entry, key);
                        /* "user: {}" is valid YAML for an empty user; libyaml
                         * gives an empty scalar for "user:" alone. */
                        if (json_is_object(value))
                                return value;
                        json_t *empty = json_object();
                        if (!empty || json_object_set_new(entry, key, empty) < 0)
                                return NULL;
                        return empty;
                }
        }
        return NULL;
}

static const char *field(json_t *object, const char *name)
{
        const char *s = json_string_value(json_object_get(object, name));
        return s && s[0] ? s : NULL;
}

/* Paths in a kubeconfig are relative to the file's directory. */
static int resolve_path(const char *base_dir, const char *path, char **ret)
{
        if (path[0] == '/' || !base_dir)
                return dup_or_null(path, ret);
        return asprintf(ret, "%s/%s", base_dir, path) < 0 ? -ENOMEM : 0;
}

/* Read a whole small file (certs, keys, tokens) into memory. */
static int read_file(const char *path, struct kube_blob *ret)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return NEG_ERRNO();
        _cleanup_free_ unsigned char *buf = NULL;
        size_t size = 0, cap = 0;
        for (;;) {
                if (size + 4096 + 1 > cap) {
                        if (cap > (1u << 20))
                                return -EFBIG;
                        cap = cap ? cap * 2 : 8192;
                        unsigned char *n = realloc(buf, cap);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                }
                size_t got = fread(buf + size, 1, 4096, f);
                size += got;
                if (got < 4096) {
                        if (ferror(f))
                                return -EIO;
                        break;
                }
        }
        buf[size] = '\0';
        ret->data = TAKE_PTR(buf);
        ret->size = size;
        return 0;
}

/* The first control character (or DEL) in text[0..size), or -1.  A token is
 * sent as an HTTP header value: CR/LF would inject headers, NUL would cut it. */
static ssize_t control_character_at(const unsigned char *text, size_t size)
{
        for (size_t i = 0; i < size; i++)
                if (text[i] < 0x20 || text[i] == 0x7f)
                        return (ssize_t)i;
        return -1;
}

bool kube_token_is_valid(const char *token, size_t length)
{
        return token && length > 0 &&
               control_character_at((const unsigned char *)token, length) < 0;
}

int kube_read_token_file(const char *path, char **ret_token)
{
        struct kube_blob blob = {0};
        int r = read_file(path, &blob);
        if (r < 0)
                return r;
        /* Tokens are single lines; trailing newlines are common in files. */
        size_t n = blob.size;
        while (n > 0 && strchr(" \t\r\n", blob.data[n - 1]))
                n--;
        blob.data[n] = '\0';
        if (n == 0 || control_character_at(blob.data, n) >= 0) {
                blob_clear(&blob);
                return -EINVAL;
        }
        *ret_token = (char *)blob.data;
        return 0;
}

/* Check that PEM bytes hold a certificate (what) or a private key. */
static int check_pem(const struct kube_blob *blob, bool is_key)
{
        BIO *bio = BIO_new_mem_buf(blob->data, (int)blob->size);
        if (!bio)
                return -ENOMEM;
        bool ok;
        if (is_key) {
                EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
                ok = key != NULL;
                EVP_PKEY_free(key);
        } else {
                X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                ok = cert != NULL;
                X509_free(cert);
        }
        BIO_free(bio);
        ERR_clear_error();
        return ok ? 0 : -EINVAL;
}

/*
 * One credential or CA given either inline (*-data, base64 PEM) or as a file.
 * The file is read once here so that a missing or garbled file is reported at
 * load time with a clear error, not at the first request.
 */
static int load_pem(json_t *section, const char *file_key, const char *data_key,
                    const char *base_dir, bool is_key, const char *what, char **ret_file,
                    struct kube_blob *ret_data, struct kube_status *status)
{
        const char *data = field(section, data_key);
        const char *file = field(section, file_key);
        int r;
        if (data) {
                r = kube_base64_decode(data, ret_data);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || check_pem(ret_data, is_key) < 0) {
                        kube_status_set(status, 0, "ConfigInvalid",
                                        "%s: %s is not base64-encoded PEM", what, data_key);
                        return KUBE_ERR_CONFIG;
                }
                return 0;
        }
        if (!file)
                return 0;
        r = resolve_path(base_dir, file, ret_file);
        if (r < 0)
                return r;
        struct kube_blob blob = {0};
        r = read_file(*ret_file, &blob);
        if (r < 0) {
                kube_status_set(status, 0, "CredentialsUnreadable", "%s: cannot read %s %s: %s",
                                what, file_key, *ret_file, strerror(-r));
                return KUBE_ERR_CREDENTIALS;
        }
        r = check_pem(&blob, is_key);
        blob_clear(&blob);
        if (r < 0) {
                kube_status_set(status, 0, "CredentialsInvalid", "%s: %s %s holds no PEM %s", what,
                                file_key, *ret_file, is_key ? "private key" : "certificate");
                return KUBE_ERR_CREDENTIALS;
        }
        return 0;
}

static bool yaml_true(const char *s)
{
        return s && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0);
}

static int config_from_kubeconfig(json_t *root, const char *path, const char *context_name,
                                  struct kube_config **ret, struct kube_status *status)
{
        _cleanup_(kube_config_freep) struct kube_config *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        _cleanup_free_ char *path_copy = strdup(path);
        if (!path_copy)
                return -ENOMEM;
        const char *base_dir = dirname(path_copy);
        int r;

        if (!context_name)
                context_name = field(root, "current-context");
        if (!context_name) {
                kube_status_set(status, 0, "ConfigInvalid",
                                "kubeconfig %s has no current-context and none was given", path);
                return KUBE_ERR_CONTEXT_NOT_FOUND;
        }
        json_t *context = named_entry(root, "contexts", "context", context_name);
        if (!context) {
                kube_status_set(status, 0, "ContextNotFound", "context \"%s\" not in kubeconfig %s",
                                context_name, path);
                return KUBE_ERR_CONTEXT_NOT_FOUND;
        }
        c->context = strdup(context_name);
        const char *ns = field(context, "namespace");
        c->namespace = strdup(ns ? ns : "default");
        if (!c->context || !c->namespace)
                return -ENOMEM;

        const char *cluster_name = field(context, "cluster");
        json_t *cluster = named_entry(root, "clusters", "cluster", cluster_name);
        if (!cluster) {
                kube_status_set(status, 0, "ConfigInvalid",
                                "context \"%s\": cluster \"%s\" not in kubeconfig", context_name,
                                cluster_name ? cluster_name : "");
                return KUBE_ERR_CONFIG;
        }
        const char *server = field(cluster, "server");
        if (!server ||
            (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
                kube_status_set(status, 0, "ConfigInvalid",
                                "cluster \"%s\": server must be an http(s):// URL", cluster_name);
                return KUBE_ERR_CONFIG;
        }
        c->server = strdup(server);
        if (!c->server)
                return -ENOMEM;
        size_t n = strlen(c->server);
        while (n > 0 && c->server[n - 1] == '/')
                c->server[--n] = '\0';
        c->insecure = yaml_true(field(cluster, "insecure-skip-tls-verify"));
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "cluster \"%s\"", cluster_name) < 0)
                return -ENOMEM;
        r = load_pem(cluster, "certificate-authority", "certificate-authority-data", base_dir,
                     false, what, &c->ca_file, &c->ca_data, status);
        if (r < 0)
                return r;

        /* A context without a user is allowed (anonymous access). */
        const char *user_name = field(context, "user");
        if (user_name) {
                json_t *user = named_entry(root, "users", "user", user_name);
                if (!user) {
                        kube_status_set(status, 0, "ConfigInvalid",
                                        "context \"%s\": user \"%s\" not in kubeconfig",
                                        context_name, user_name);
                        return KUBE_ERR_CONFIG;
                }
                free(what);
                what = NULL;
                if (asprintf(&what, "user \"%s\"", user_name) < 0)
                        return -ENOMEM;
                if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
                        kube_status_set(status, 0, "ConfigUnsupported",
                                        "%s: exec and auth-provider credentials are not supported",
                                        what);
                        return KUBE_ERR_CONFIG;
                }
                const char *token = field(user, "token");
                const char *token_file = field(user, "tokenFile");
                if (token) {
                        /* The YAML string's full length: an escaped NUL must not hide the rest. */
                        json_t *token_value = json_object_get(user, "token");
                        if (!kube_token_is_valid(token, json_string_length(token_value))) {
                                kube_status_set(status, 0, "ConfigInvalid",
                                                "%s: field \"token\" is empty or holds a control "
                                                "character (CR, LF, NUL, ...): it would corrupt "
                                                "the Authorization header",
                                                what);
                                return KUBE_ERR_CONFIG;
                        }
                        c->token = strdup(token);
                        if (!c->token)
                                return -ENOMEM;
                } else if (token_file) {
                        r = resolve_path(base_dir, token_file, &c->token_file);
                        if (r < 0)
                                return r;
                        _cleanup_free_ char *t = NULL;
                        r = kube_read_token_file(c->token_file, &t);
                        if (t)
                                OPENSSL_cleanse(t, strlen(t));
                        if (r < 0) {
                                kube_status_set(status, 0, "CredentialsUnreadable",
                                                "%s: field \"tokenFile\": cannot read %s: %s", what,
                                                c->token_file,
                                                r == -EINVAL ? KUBE_TOKEN_FILE_INVALID
                                                             : strerror(-r));
                                return KUBE_ERR_CREDENTIALS;
                        }
                }
                r = load_pem(user, "client-certificate", "client-certificate-data", base_dir, false,
                             what, &c->client_cert_file, &c->client_cert_data, status);
                if (r < 0)
                        return r;
                r = load_pem(user, "client-key", "client-key-data", base_dir, true, what,
                             &c->client_key_file, &c->client_key_data, status);
                if (r < 0)
                        return r;
                bool has_cert = c->client_cert_file || c->client_cert_data.data;
                bool has_key = c->client_key_file || c->client_key_data.data;
                if (has_cert != has_key) {
                        kube_status_set(status, 0, "ConfigInvalid",
                                        "%s: client certificate and key must be given together",
                                        what);
                        return KUBE_ERR_CONFIG;
                }
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int kube_config_load_in_cluster(const char *root, struct kube_config **ret_config,
                                struct kube_status *ret_status)
{
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !host[0] || !port || !port[0]) {
                kube_status_set(ret_status, 0, "NoConfig",
                                "KUBERNETES_SERVICE_HOST/PORT not set: not running in a cluster");
                return KUBE_ERR_NO_CONFIG;
        }
        if (!root || !root[0])
                root = "/";
        _cleanup_(kube_config_freep) struct kube_config *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        bool ipv6 = strchr(host, ':') != NULL;
        if (asprintf(&c->server, "https://%s%s%s:%s", ipv6 ? "[" : "", host, ipv6 ? "]" : "",
                     port) < 0) {
                c->server = NULL;
                return -ENOMEM;
        }
        if (asprintf(&c->token_file, "%s/" SERVICE_ACCOUNT_DIR "/token", root) < 0 ||
            asprintf(&c->ca_file, "%s/" SERVICE_ACCOUNT_DIR "/ca.crt", root) < 0) {
                c->token_file = c->ca_file = NULL;
                return -ENOMEM;
        }
        c->context = strdup("");
        if (!c->context)
                return -ENOMEM;

        _cleanup_free_ char *token = NULL;
        int r = kube_read_token_file(c->token_file, &token);
        if (token)
                OPENSSL_cleanse(token, strlen(token));
        if (r < 0) {
                kube_status_set(ret_status, 0, "CredentialsUnreadable",
                                "in-cluster: cannot read service account token %s: %s",
                                c->token_file,
                                r == -EINVAL ? KUBE_TOKEN_FILE_INVALID : strerror(-r));
                return KUBE_ERR_CREDENTIALS;
        }
        struct kube_blob ca = {0};
        r = read_file(c->ca_file, &ca);
        if (r == 0) {
                r = check_pem(&ca, false);
                blob_clear(&ca);
        }
        if (r < 0) {
                kube_status_set(ret_status, 0, "CredentialsUnreadable",
                                "in-cluster: cannot read CA certificate %s: %s", c->ca_file,
                                r == -EINVAL ? "no PEM certificate" : strerror(-r));
                return KUBE_ERR_CREDENTIALS;
        }
        _cleanup_free_ char *ns_path = NULL;
        if (asprintf(&ns_path, "%s/" SERVICE_ACCOUNT_DIR "/namespace", root) < 0)
                return -ENOMEM;
        char *ns = NULL;
        if (kube_read_token_file(ns_path, &ns) == 0)
                c->namespace = ns;
        else
                c->namespace = strdup("default");
        if (!c->namespace)
                return -ENOMEM;
        *ret_config = TAKE_PTR(c);
        return 0;
}

/* First existing entry of a colon-separated $KUBECONFIG. */
static int first_kubeconfig_from_env(const char *env, char **ret)
{
        _cleanup_free_ char *copy = strdup(env);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
                if (access(p, F_OK) == 0)
                        return dup_or_null(p, ret);
        }
        return -ENOENT;
}

int kube_config_load(const struct kube_config_options *options, struct kube_config **ret_config,
                     struct kube_status *ret_status)
{
        static const struct kube_config_options defaults = {0};
        if (!options)
                options = &defaults;
        if (options->in_cluster_only)
                return kube_config_load_in_cluster(options->in_cluster_root, ret_config,
                                                   ret_status);

        _cleanup_free_ char *path = NULL;
        int r;
        if (options->kubeconfig_path) {
                path = strdup(options->kubeconfig_path);
                if (!path)
                        return -ENOMEM;
        } else {
                const char *env = getenv("KUBECONFIG");
                if (env && env[0]) {
                        r = first_kubeconfig_from_env(env, &path);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                kube_status_set(ret_status, 0, "NoConfig",
                                                "no file in $KUBECONFIG exists");
                                return KUBE_ERR_NO_CONFIG;
                        }
                } else if (getenv("KUBERNETES_SERVICE_HOST")) {
                        return kube_config_load_in_cluster(options->in_cluster_root, ret_config,
                                                           ret_status);
                } else {
                        const char *home = getenv("HOME");
                        if (!home || !home[0]) {
                                kube_status_set(ret_status, 0, "NoConfig",
                                                "no --kubeconfig, $KUBECONFIG or $HOME");
                                return KUBE_ERR_NO_CONFIG;
                        }
                        if (asprintf(&path, "%s/.kube/config", home) < 0) {
                                path = NULL;
                                return -ENOMEM;
                        }
                }
        }

        _cleanup_json_ json_t *root = NULL;
        r = load_yaml_file(path, &root, ret_status);
        if (r < 0)
                return r;
        return config_from_kubeconfig(root, path, options->context, ret_config, ret_status);
}
