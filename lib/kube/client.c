/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP side: libcurl handles, TLS setup, and the REST calls. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kube-private.h"
#include "macros.h"

#define POOL_MAX 16

struct kube_client {
        struct kube_config *config;
        char *user_agent;
        int64_t request_timeout_ms;
        int64_t connect_timeout_ms;
        /*
         * Thread-safety: curl easy handles are used by one thread at a time.
         * Idle handles wait in a pool so their open connections get reused
         * (curl_easy_reset keeps them).  The share object holds the DNS and
         * TLS session caches for all handles, guarded by one mutex per data
         * kind.  The connection cache is deliberately not shared: libcurl
         * does not support sharing it between concurrent threads.
         */
        CURLSH *share;
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
        pthread_mutex_t pool_lock;
        CURL *pool[POOL_MAX];
        size_t pool_count;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userp)
{
        struct kube_client *client = userp;
        pthread_mutex_lock(&client->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userp)
{
        struct kube_client *client = userp;
        pthread_mutex_unlock(&client->share_locks[data]);
}

void kube_client_free(struct kube_client *client)
{
        if (!client)
                return;
        for (size_t i = 0; i < client->pool_count; i++)
                curl_easy_cleanup(client->pool[i]);
        if (client->share)
                curl_share_cleanup(client->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_destroy(&client->share_locks[i]);
        pthread_mutex_destroy(&client->pool_lock);
        kube_config_free(client->config);
        free(client->user_agent);
        free(client);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kube_client *, kube_client_free)

int kube_client_new(const struct kube_config *config, const struct kube_client_options *options,
                    struct kube_client **ret_client)
{
        if (!config || !ret_client)
                return -EINVAL;
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return -ENOMEM;
        _cleanup_(kube_client_freep) struct kube_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_init(&c->share_locks[i], NULL);
        pthread_mutex_init(&c->pool_lock, NULL);
        int r = kube_config_copy(config, &c->config);
        if (r < 0)
                return r;
        const char *ua = options && options->user_agent ? options->user_agent : "tripdeal-kube/0.1";
        c->user_agent = strdup(ua);
        if (!c->user_agent)
                return -ENOMEM;
        c->request_timeout_ms =
                options && options->request_timeout_ms > 0 ? options->request_timeout_ms : 30000;
        c->connect_timeout_ms =
                options && options->connect_timeout_ms > 0 ? options->connect_timeout_ms : 10000;
        c->share = curl_share_init();
        if (!c->share)
                return -ENOMEM;
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        *ret_client = TAKE_PTR(c);
        return 0;
}

const struct kube_config *kube_client_config(const struct kube_client *client)
{
        return client->config;
}

static CURL *handle_take(struct kube_client *client)
{
        CURL *handle = NULL;
        pthread_mutex_lock(&client->pool_lock);
        if (client->pool_count > 0)
                handle = client->pool[--client->pool_count];
        pthread_mutex_unlock(&client->pool_lock);
        if (handle)
                curl_easy_reset(handle);
        else
                handle = curl_easy_init();
        return handle;
}

static void handle_give_back(struct kube_client *client, CURL *handle)
{
        if (!handle)
                return;
        pthread_mutex_lock(&client->pool_lock);
        if (client->pool_count < POOL_MAX) {
                client->pool[client->pool_count++] = handle;
                handle = NULL;
        }
        pthread_mutex_unlock(&client->pool_lock);
        if (handle)
                curl_easy_cleanup(handle);
}

struct transfer {
        CURL *handle;
        char *body;
        size_t body_size;
        size_t body_capacity;
        struct kube_watch_decoder *stream;
        struct kube_cancel *cancel;
        int stream_result;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
        struct transfer *t = userp;
        size_t n = size * nmemb;
        if (t->stream) {
                long code = 0;
                curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &code);
                /* A failed watch answers with a Status document, not events. */
                if (code >= 200 && code < 300) {
                        int r = kube_watch_decoder_feed(t->stream, data, n);
                        if (r != 0) {
                                t->stream_result = r;
                                return 0; /* abort the transfer */
                        }
                        return n;
                }
        }
        if (t->body_size + n + 1 > t->body_capacity) {
                size_t cap = t->body_capacity ? t->body_capacity : 16384;
                while (cap < t->body_size + n + 1)
                        cap *= 2;
                if (cap > (size_t)512 << 20)
                        return 0;
                char *b = realloc(t->body, cap);
                if (!b)
                        return 0;
                t->body = b;
                t->body_capacity = cap;
        }
        memcpy(t->body + t->body_size, data, n);
        t->body_size += n;
        t->body[t->body_size] = '\0';
        return n;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct transfer *t = userp;
        return kube_cancelled(t->cancel) ? 1 : 0;
}

/*
 * Cancellable calls open their own connection and register its socket with
 * the token, so kube_cancel() can shut it down and end a blocked watch at
 * once.  The socket is unregistered before it is closed.
 */
static curl_socket_t on_open_socket(void *userp, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
        struct kube_cancel *cancel = userp;
        if (kube_cancelled(cancel))
                return CURL_SOCKET_BAD;
        int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
        if (fd >= 0)
                kube_cancel_set_socket(cancel, fd);
        return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static int on_close_socket(void *userp, curl_socket_t fd)
{
        kube_cancel_clear_socket(userp, fd);
        return close(fd);
}

static int curl_error_to_kube(CURLcode code)
{
        switch (code) {
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_USE_SSL_FAILED:
                return KUBE_ERR_TLS;
        case CURLE_OPERATION_TIMEDOUT:
                return KUBE_ERR_TIMEOUT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return KUBE_ERR_TRANSPORT;
        }
}

/* Set up TLS and credentials.  Returns the header list to free, or NULL. */
static int setup_handle(struct kube_client *client, CURL *h, const struct kube_request *request,
                        struct curl_slist **headers, struct kube_status *status)
{
        const struct kube_config *cfg = client->config;
        struct curl_slist *list = NULL;

        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_SHARE, client->share);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, client->user_agent);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)client->connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
        if (!request->no_timeout)
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                                 (long)(request->timeout_ms > 0 ? request->timeout_ms
                                                                : client->request_timeout_ms));

        if (cfg->insecure) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        } else {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
                if (cfg->ca_data.data) {
                        struct curl_blob blob = {cfg->ca_data.data, cfg->ca_data.size,
                                                 CURL_BLOB_COPY};
                        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
                } else if (cfg->ca_file) {
                        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
                }
        }
        if (cfg->client_cert_data.data) {
                struct curl_blob blob = {cfg->client_cert_data.data, cfg->client_cert_data.size,
                                         CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        } else if (cfg->client_cert_file) {
                curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert_file);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        }
        if (cfg->client_key_data.data) {
                struct curl_blob blob = {cfg->client_key_data.data, cfg->client_key_data.size,
                                         CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
                curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        } else if (cfg->client_key_file) {
                curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key_file);
                curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        }

        list = curl_slist_append(list, request->ret_text ? "Accept: text/plain, */*"
                                                         : "Accept: application/json");
        if (!list)
                return -ENOMEM;
        if (request->body) {
                _cleanup_free_ char *ct = NULL;
                if (asprintf(&ct, "Content-Type: %s",
                             request->content_type ? request->content_type : "application/json") <
                    0) {
                        curl_slist_free_all(list);
                        return -ENOMEM;
                }
                struct curl_slist *l = curl_slist_append(list, ct);
                /* No "Expect: 100-continue" round trip before larger bodies. */
                if (l)
                        l = curl_slist_append(l, "Expect:");
                if (!l) {
                        curl_slist_free_all(list);
                        return -ENOMEM;
                }
                list = l;
        }
        /* The token file is re-read on every request: projected service
         * account tokens rotate while the program runs. */
        _cleanup_free_ char *token_from_file = NULL;
        const char *token = cfg->token;
        if (!token && cfg->token_file) {
                int r = kube_read_token_file(cfg->token_file, &token_from_file);
                if (r < 0) {
                        curl_slist_free_all(list);
                        kube_status_set(status, 0, "CredentialsUnreadable",
                                        "cannot read token file %s: %s", cfg->token_file,
                                        r == -EINVAL ? KUBE_TOKEN_FILE_INVALID : strerror(-r));
                        return KUBE_ERR_CREDENTIALS;
                }
                token = token_from_file;
        }
        if (token) {
                _cleanup_free_ char *auth = NULL;
                int n = asprintf(&auth, "Authorization: Bearer %s", token);
                if (n < 0) {
                        curl_slist_free_all(list);
                        return -ENOMEM;
                }
                struct curl_slist *l = curl_slist_append(list, auth);
                OPENSSL_cleanse(auth, (size_t)n);
                if (token_from_file)
                        OPENSSL_cleanse(token_from_file, strlen(token_from_file));
                if (!l) {
                        curl_slist_free_all(list);
                        return -ENOMEM;
                }
                list = l;
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
        *headers = list;
        return 0;
}

int kube_client_request(struct kube_client *client, const struct kube_request *request,
                        json_t **ret_body, struct kube_status *ret_status)
{
        if (!client || !request || !request->method || !request->path)
                return -EINVAL;
        CURL *h = handle_take(client);
        if (!h)
                return -ENOMEM;
        struct transfer t = {.handle = h, .stream = request->stream, .cancel = request->cancel};
        struct curl_slist *headers = NULL;
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ char *body = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        _cleanup_json_ json_t *parsed = NULL;
        int r = setup_handle(client, h, request, &headers, ret_status);
        if (r < 0)
                goto out;
        if (asprintf(&url, "%s%s", client->config->server, request->path) < 0) {
                url = NULL;
                r = -ENOMEM;
                goto out;
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
        if (request->body) {
                body = json_dumps(request->body, JSON_COMPACT);
                if (!body) {
                        r = -ENOMEM;
                        goto out;
                }
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        }
        if (request->cancel) {
                curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
                curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
                curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, request->cancel);
                curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
                curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, request->cancel);
        }
        if (strcmp(request->method, "GET") == 0)
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        else
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request->method);

        CURLcode code = curl_easy_perform(h);
        long http_code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http_code);
        if (code != CURLE_OK) {
                if (t.stream_result != 0) {
                        r = t.stream_result;
                } else if (kube_cancelled(request->cancel)) {
                        r = KUBE_ERR_CANCELLED;
                        kube_status_set(ret_status, 0, "Cancelled", "cancelled");
                } else {
                        r = curl_error_to_kube(code);
                        /* curl's error text names host and cause, never headers. */
                        kube_status_set(ret_status, http_code, "", "%s %s: %s", request->method,
                                        client->config->server,
                                        errbuf[0] ? errbuf : curl_easy_strerror(code));
                }
                goto out;
        }

        if (t.body_size > 0) {
                json_error_t error;
                parsed = json_loadb(t.body, t.body_size, 0, &error);
        }
        if (http_code < 200 || http_code >= 300) {
                const char *reason = json_string_value(json_object_get(parsed, "reason"));
                r = kube_error_from_http(http_code, reason);
                if (json_is_object(parsed))
                        kube_status_from_json(ret_status, http_code, parsed);
                else
                        kube_status_set(ret_status, http_code, "", "HTTP %ld from %s %s", http_code,
                                        request->method, request->path);
                goto out;
        }
        if (request->stream) {
                r = kube_watch_decoder_finish(request->stream);
                goto out;
        }
        if (request->ret_text) {
                char *text = t.body ? t.body : strdup("");
                if (!text) {
                        r = -ENOMEM;
                        goto out;
                }
                t.body = NULL;
                *request->ret_text = text;
                r = 0;
                goto out;
        }
        if (ret_body) {
                if (!parsed) {
                        r = KUBE_ERR_PARSE;
                        kube_status_set(ret_status, http_code, "ParseError",
                                        "%s %s: response is not JSON", request->method,
                                        request->path);
                        goto out;
                }
                *ret_body = TAKE_PTR(parsed);
        }
        r = 0;
out:
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
        curl_slist_free_all(headers);
        handle_give_back(client, h);
        free(t.body);
        return r;
}

/* ---- REST calls ---- */

static const char *object_namespace_or(const json_t *object, const char *namespace)
{
        return namespace ? namespace : kube_object_namespace(object);
}

static int add_write_query(char **path, const char *field_manager, bool dry_run)
{
        int r = 0;
        if (field_manager)
                r = kube_query_append(path, "fieldManager", field_manager);
        if (r == 0 && dry_run)
                r = kube_query_append(path, "dryRun", "All");
        return r;
}

int kube_get(struct kube_client *client, const struct kube_resource *resource,
             const struct kube_get_options *options, json_t **ret_object,
             struct kube_status *ret_status)
{
        if (!options || !options->name)
                return -EINVAL;
        if (resource->namespaced && !options->namespace)
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(resource, options->namespace, options->name, options->subresource,
                                &path);
        if (r < 0)
                return r;
        return kube_client_request(client, &(struct kube_request){.method = "GET", .path = path},
                                   ret_object, ret_status);
}

/* List items come without apiVersion/kind; put them back for consumers
 * that build references from objects (events, ownerReferences). */
static void fill_item_kinds(json_t *list, const struct kube_resource *resource)
{
        char api_version[128];
        if (kube_resource_api_version(resource, api_version, sizeof(api_version)) < 0)
                return;
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(list, "items"), i, item) {
                if (!json_object_get(item, "apiVersion"))
                        json_object_set_new(item, "apiVersion", json_string(api_version));
                if (!json_object_get(item, "kind") && resource->kind)
                        json_object_set_new(item, "kind", json_string(resource->kind));
        }
}

int kube_list(struct kube_client *client, const struct kube_resource *resource,
              const struct kube_list_options *options, json_t **ret_list,
              struct kube_status *ret_status)
{
        static const struct kube_list_options defaults = {0};
        if (!options)
                options = &defaults;
        _cleanup_free_ char *base = NULL;
        int r = kube_build_path(resource, options->namespace, NULL, NULL, &base);
        if (r < 0)
                return r;
        if (options->label_selector && options->label_selector[0])
                r = kube_query_append(&base, "labelSelector", options->label_selector);
        if (r == 0 && options->field_selector && options->field_selector[0])
                r = kube_query_append(&base, "fieldSelector", options->field_selector);
        if (r == 0 && options->resource_version)
                r = kube_query_append(&base, "resourceVersion", options->resource_version);
        char limit[32];
        snprintf(limit, sizeof(limit), "%ld", options->limit > 0 ? options->limit : 500L);
        if (r == 0)
                r = kube_query_append(&base, "limit", limit);
        if (r < 0)
                return r;

        _cleanup_json_ json_t *result = NULL;
        _cleanup_free_ char *continue_token =
                options->continue_token ? strdup(options->continue_token) : NULL;
        if (options->continue_token && !continue_token)
                return -ENOMEM;
        /* Bounded: a server that keeps returning continue tokens forever is
         * broken; 100000 pages of 500 is far beyond any real collection. */
        for (int page = 0; page < 100000; page++) {
                _cleanup_free_ char *path = strdup(base);
                if (!path)
                        return -ENOMEM;
                if (continue_token &&
                    (r = kube_query_append(&path, "continue", continue_token)) < 0)
                        return r;
                _cleanup_json_ json_t *body = NULL;
                r = kube_client_request(client,
                                        &(struct kube_request){.method = "GET",
                                                               .path = path,
                                                               .cancel = options->cancel},
                                        &body, ret_status);
                if (r < 0)
                        return r;
                if (!json_is_array(json_object_get(body, "items"))) {
                        if (!json_is_null(json_object_get(body, "items")) ||
                            !json_is_object(body)) {
                                kube_status_set(ret_status, 200, "ParseError",
                                                "list %s: response has no items array",
                                                resource->plural);
                                return KUBE_ERR_PARSE;
                        }
                        /* Go servers send "items": null for empty lists. */
                        json_object_set_new(body, "items", json_array());
                }
                const char *next = json_string_value(
                        json_object_get(json_object_get(body, "metadata"), "continue"));
                free(continue_token);
                continue_token = next && next[0] ? strdup(next) : NULL;
                if (next && next[0] && !continue_token)
                        return -ENOMEM;
                if (!result) {
                        result = TAKE_PTR(body);
                } else if (json_array_extend(json_object_get(result, "items"),
                                             json_object_get(body, "items")) < 0) {
                        return -ENOMEM;
                }
                if (!continue_token || options->single_page)
                        break;
        }
        if (!options->single_page)
                json_object_del(json_object_get(result, "metadata"), "continue");
        fill_item_kinds(result, resource);
        *ret_list = TAKE_PTR(result);
        return 0;
}

static int write_object(struct kube_client *client, const struct kube_resource *resource,
                        const struct kube_write_options *options, const json_t *object,
                        const char *method, bool named, const char *subresource,
                        json_t **ret_object, struct kube_status *ret_status)
{
        static const struct kube_write_options defaults = {0};
        if (!options)
                options = &defaults;
        if (!json_is_object(object))
                return -EINVAL;
        const char *ns = object_namespace_or(object, options->namespace);
        const char *name = kube_object_name(object);
        if ((resource->namespaced && !ns) || (named && !name))
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(resource, ns, named ? name : NULL, subresource, &path);
        if (r == 0)
                r = add_write_query(&path, options->field_manager, options->dry_run);
        if (r < 0)
                return r;
        return kube_client_request(
                client, &(struct kube_request){.method = method, .path = path, .body = object},
                ret_object, ret_status);
}

int kube_create(struct kube_client *client, const struct kube_resource *resource,
                const struct kube_write_options *options, const json_t *object, json_t **ret_object,
                struct kube_status *ret_status)
{
        return write_object(client, resource, options, object, "POST", false, NULL, ret_object,
                            ret_status);
}

int kube_update(struct kube_client *client, const struct kube_resource *resource,
                const struct kube_write_options *options, const json_t *object, json_t **ret_object,
                struct kube_status *ret_status)
{
        return write_object(client, resource, options, object, "PUT", true, NULL, ret_object,
                            ret_status);
}

int kube_update_status(struct kube_client *client, const struct kube_resource *resource,
                       const struct kube_write_options *options, const json_t *object,
                       json_t **ret_object, struct kube_status *ret_status)
{
        return write_object(client, resource, options, object, "PUT", true, "status", ret_object,
                            ret_status);
}

int kube_patch(struct kube_client *client, const struct kube_resource *resource,
               const struct kube_patch_options *options, const json_t *patch, json_t **ret_object,
               struct kube_status *ret_status)
{
        if (!options || !options->name || !patch)
                return -EINVAL;
        if (resource->namespaced && !options->namespace)
                return -EINVAL;
        const char *content_type;
        switch (options->type) {
        case KUBE_PATCH_MERGE:
                content_type = "application/merge-patch+json";
                break;
        case KUBE_PATCH_JSON:
                if (!json_is_array(patch))
                        return -EINVAL;
                content_type = "application/json-patch+json";
                break;
        case KUBE_PATCH_STRATEGIC:
                content_type = "application/strategic-merge-patch+json";
                break;
        case KUBE_PATCH_APPLY:
                /* JSON is YAML, so the apply body can be sent as is. */
                if (!options->field_manager)
                        return -EINVAL;
                content_type = "application/apply-patch+yaml";
                break;
        default:
                return -EINVAL;
        }
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(resource, options->namespace, options->name, options->subresource,
                                &path);
        if (r == 0)
                r = add_write_query(&path, options->field_manager, options->dry_run);
        if (r == 0 && options->force && options->type == KUBE_PATCH_APPLY)
                r = kube_query_append(&path, "force", "true");
        if (r < 0)
                return r;
        return kube_client_request(client,
                                   &(struct kube_request){.method = "PATCH",
                                                          .path = path,
                                                          .body = patch,
                                                          .content_type = content_type},
                                   ret_object, ret_status);
}

int kube_delete(struct kube_client *client, const struct kube_resource *resource,
                const struct kube_delete_options *options, json_t **ret_object,
                struct kube_status *ret_status)
{
        if (!options || !options->name)
                return -EINVAL;
        if (resource->namespaced && !options->namespace)
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(resource, options->namespace, options->name, NULL, &path);
        if (r == 0 && options->dry_run)
                r = kube_query_append(&path, "dryRun", "All");
        if (r < 0)
                return r;
        _cleanup_json_ json_t *body =
                json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
        if (!body)
                return -ENOMEM;
        if (options->propagation_policy)
                json_object_set_new(body, "propagationPolicy",
                                    json_string(options->propagation_policy));
        if (options->grace_period_seconds != 0)
                json_object_set_new(body, "gracePeriodSeconds",
                                    json_integer(options->grace_period_seconds < 0
                                                         ? 0
                                                         : options->grace_period_seconds));
        if (options->precondition_uid || options->precondition_resource_version) {
                json_t *pre = json_object();
                if (options->precondition_uid)
                        json_object_set_new(pre, "uid", json_string(options->precondition_uid));
                if (options->precondition_resource_version)
                        json_object_set_new(pre, "resourceVersion",
                                            json_string(options->precondition_resource_version));
                json_object_set_new(body, "preconditions", pre);
        }
        return kube_client_request(
                client, &(struct kube_request){.method = "DELETE", .path = path, .body = body},
                ret_object, ret_status);
}

int kube_evict(struct kube_client *client, const struct kube_evict_options *options,
               struct kube_status *ret_status)
{
        if (!options || !options->namespace || !options->name)
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(&KUBE_POD_EVICTION, options->namespace, options->name, NULL, &path);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *body =
                json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "policy/v1", "kind", "Eviction",
                          "metadata", "name", options->name, "namespace", options->namespace);
        if (!body)
                return -ENOMEM;
        if (options->grace_period_seconds != 0 || options->dry_run) {
                json_t *delete_options = json_object();
                if (options->grace_period_seconds != 0)
                        json_object_set_new(delete_options, "gracePeriodSeconds",
                                            json_integer(options->grace_period_seconds < 0
                                                                 ? 0
                                                                 : options->grace_period_seconds));
                if (options->dry_run)
                        json_object_set_new(delete_options, "dryRun", json_pack("[s]", "All"));
                json_object_set_new(body, "deleteOptions", delete_options);
        }
        return kube_client_request(
                client, &(struct kube_request){.method = "POST", .path = path, .body = body}, NULL,
                ret_status);
}

int kube_pod_log(struct kube_client *client, const struct kube_pod_log_options *options,
                 char **ret_text, struct kube_status *ret_status)
{
        if (!client || !options || !options->namespace || !options->name || !ret_text)
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(&KUBE_PODS, options->namespace, options->name, "log", &path);
        if (r < 0)
                return r;
        if (options->container)
                r = kube_query_append(&path, "container", options->container);
        if (r == 0 && options->tail_lines > 0) {
                char tail[24];
                snprintf(tail, sizeof(tail), "%ld", options->tail_lines);
                r = kube_query_append(&path, "tailLines", tail);
        }
        if (r == 0 && options->limit_bytes > 0) {
                char limit[24];
                snprintf(limit, sizeof(limit), "%ld", options->limit_bytes);
                r = kube_query_append(&path, "limitBytes", limit);
        }
        if (r < 0)
                return r;
        char *text = NULL;
        r = kube_client_request(
                client, &(struct kube_request){.method = "GET", .path = path, .ret_text = &text},
                NULL, ret_status);
        if (r < 0)
                return r;
        *ret_text = text;
        return 0;
}
