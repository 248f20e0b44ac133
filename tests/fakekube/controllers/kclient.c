/* SPDX-License-Identifier: Apache-2.0 */
#include "kclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"

struct kclient {
        CURL *curl;
        char *api_url;
        char *auth_header;
        char *ca_file;
        const atomic_bool *stop;
};

struct buffer {
        char *data;
        size_t size;
        size_t cap;
};

static int buffer_append(struct buffer *b, const char *data, size_t size)
{
        if (b->size + size + 1 > b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 4096;
                while (cap < b->size + size + 1)
                        cap *= 2;
                char *n = realloc(b->data, cap);
                if (!n)
                        return -ENOMEM;
                b->data = n;
                b->cap = cap;
        }
        memcpy(b->data + b->size, data, size);
        b->size += size;
        b->data[b->size] = '\0';
        return 0;
}

int kclient_new(const struct kclient_options *options, struct kclient **ret)
{
        if (!options || !options->api_url || !options->token)
                return -EINVAL;
        struct kclient *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->curl = curl_easy_init();
        c->api_url = strdup(options->api_url);
        c->ca_file = options->ca_file ? strdup(options->ca_file) : NULL;
        if (asprintf(&c->auth_header, "Authorization: Bearer %s", options->token) < 0)
                c->auth_header = NULL;
        c->stop = options->stop;
        if (!c->curl || !c->api_url || !c->auth_header || (options->ca_file && !c->ca_file)) {
                kclient_free(c);
                return -ENOMEM;
        }
        /* Trailing slashes would double up with the absolute paths. */
        size_t n = strlen(c->api_url);
        while (n > 0 && c->api_url[n - 1] == '/')
                c->api_url[--n] = '\0';
        *ret = c;
        return 0;
}

void kclient_free(struct kclient *client)
{
        if (!client)
                return;
        if (client->curl)
                curl_easy_cleanup(client->curl);
        free(client->api_url);
        /* The header carries the token: wipe it before freeing. */
        if (client->auth_header)
                explicit_bzero(client->auth_header, strlen(client->auth_header));
        free(client->auth_header);
        free(client->ca_file);
        free(client);
}

static size_t collect_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct buffer *b = userdata;
        return buffer_append(b, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

static int progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        const struct kclient *c = userdata;
        return c->stop && atomic_load(c->stop) ? 1 : 0;
}

static int setup(struct kclient *c, const char *method, const char *path, const char *content_type,
                 struct curl_slist **headers)
{
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", c->api_url, path) < 0)
                return -ENOMEM;
        curl_easy_reset(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_URL, url);
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        if (c->ca_file)
                curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
        *headers = curl_slist_append(*headers, c->auth_header);
        *headers = curl_slist_append(*headers, "Accept: application/json");
        if (content_type) {
                _cleanup_free_ char *ct = NULL;
                if (asprintf(&ct, "Content-Type: %s", content_type) < 0)
                        return -ENOMEM;
                *headers = curl_slist_append(*headers, ct);
        }
        if (!*headers)
                return -ENOMEM;
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, *headers);
        return 0;
}

int kclient_request(struct kclient *client, const char *method, const char *path,
                    const json_t *body, const char *content_type, long *ret_status,
                    json_t **ret_body)
{
        if (!client || !method || !path)
                return -EINVAL;
        struct curl_slist *headers = NULL;
        struct buffer response = {0};
        _cleanup_free_ char *payload = NULL;
        int r = setup(client, method, path,
                      body ? (content_type ? content_type : "application/json") : NULL, &headers);
        if (r < 0)
                goto out;
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                if (!payload) {
                        r = -ENOMEM;
                        goto out;
                }
                curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, payload);
        }
        curl_easy_setopt(client->curl, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(client->curl, CURLOPT_WRITEFUNCTION, collect_cb);
        curl_easy_setopt(client->curl, CURLOPT_WRITEDATA, &response);
        CURLcode cc = curl_easy_perform(client->curl);
        if (cc != CURLE_OK) {
                r = cc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED : -EIO;
                goto out;
        }
        long status = 0;
        curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &status);
        if (ret_status)
                *ret_status = status;
        if (ret_body)
                *ret_body =
                        response.data ? json_loadb(response.data, response.size, 0, NULL) : NULL;
        r = 0;
out:
        curl_slist_free_all(headers);
        free(response.data);
        return r;
}

struct watch_state {
        struct buffer line;
        kclient_event_fn fn;
        void *userdata;
};

/* Watch events are newline-delimited JSON objects; dispatch each whole line. */
static size_t watch_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct watch_state *w = userdata;
        size_t n = size * nmemb;
        if (buffer_append(&w->line, ptr, n) < 0)
                return 0;
        char *start = w->line.data;
        char *nl;
        while ((nl = memchr(start, '\n', w->line.size - (size_t)(start - w->line.data)))) {
                *nl = '\0';
                if (nl > start) {
                        json_t *event = json_loads(start, 0, NULL);
                        const char *type = json_string_value(json_object_get(event, "type"));
                        json_t *object = json_object_get(event, "object");
                        if (type && object)
                                w->fn(type, object, w->userdata);
                        json_decref(event);
                }
                start = nl + 1;
        }
        size_t rest = w->line.size - (size_t)(start - w->line.data);
        memmove(w->line.data, start, rest);
        w->line.size = rest;
        w->line.data[rest] = '\0';
        return n;
}

int kclient_watch(struct kclient *client, const char *path, kclient_event_fn fn, void *userdata,
                  long *ret_status)
{
        if (!client || !path || !fn)
                return -EINVAL;
        struct curl_slist *headers = NULL;
        struct watch_state w = {.fn = fn, .userdata = userdata};
        int r = setup(client, "GET", path, NULL, &headers);
        if (r < 0)
                goto out;
        curl_easy_setopt(client->curl, CURLOPT_WRITEFUNCTION, watch_cb);
        curl_easy_setopt(client->curl, CURLOPT_WRITEDATA, &w);
        /* A silent stream must still notice stop: the progress callback runs about once a second.
         */
        CURLcode cc = curl_easy_perform(client->curl);
        long status = 0;
        curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &status);
        if (ret_status)
                *ret_status = status;
        if (cc == CURLE_ABORTED_BY_CALLBACK)
                r = -ECANCELED;
        else if (cc != CURLE_OK && cc != CURLE_PARTIAL_FILE)
                r = -EIO;
        else
                r = 0;
out:
        curl_slist_free_all(headers);
        free(w.line.data);
        return r;
}
