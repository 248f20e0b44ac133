/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Steady-state probes: an HTTP prober thread (a Service's ready endpoints
 * round-robin, as kube-proxy spreads traffic, or a fixed URL) that records
 * every request, and the Prometheus instant query.  Works against fakekube's
 * loopback pod IPs and from inside a real cluster alike.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos-private.h"
#include "clock.h"
#include "macros.h"

const struct kube_resource CHAOS_ENDPOINTS = {"", "v1", "endpoints", "Endpoints", true, NULL};

#define MAX_SAMPLES      200000
#define MAX_ENDPOINTS    256
#define ENDPOINT_REFRESH 250 /* ms */

struct chaos_probe {
        struct chaos_probe_options options;
        char *namespace, *service, *url, *path;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        bool stopping;
        struct chaos_probe_sample *samples;
        size_t n_samples, capacity;
        /* Prober thread only. */
        char endpoints[MAX_ENDPOINTS][64];
        size_t n_endpoints;
        size_t next_endpoint;
        int64_t endpoints_at;
};

static void sleep_ms(int64_t ms)
{
        if (ms <= 0)
                return;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

/* The endpoints' port for the Service port: matched by name, else the only one. */
static void refresh_endpoints(struct chaos_probe *p)
{
        const struct chaos_probe_options *o = &p->options;
        _cleanup_json_ json_t *svc = NULL, *ep = NULL;
        if (kube_get(o->kube, &KUBE_SERVICES,
                     &(struct kube_get_options){.namespace = p->namespace, .name = p->service},
                     &svc, NULL) < 0)
                return;
        const char *port_name = NULL;
        json_int_t target_port = 0;
        size_t i;
        json_t *port;
        json_array_foreach (json_object_get(json_object_get(svc, "spec"), "ports"), i, port) {
                if (json_integer_value(json_object_get(port, "port")) == o->port) {
                        port_name = json_string_value(json_object_get(port, "name"));
                        json_t *tp = json_object_get(port, "targetPort");
                        target_port = json_is_integer(tp) ? json_integer_value(tp) : 0;
                }
        }
        if (kube_get(o->kube, &CHAOS_ENDPOINTS,
                     &(struct kube_get_options){.namespace = p->namespace, .name = p->service}, &ep,
                     NULL) < 0) {
                if (svc)
                        p->n_endpoints = 0; /* Service without Endpoints: nothing ready */
                return;
        }
        size_t n = 0;
        json_t *subset;
        json_array_foreach (json_object_get(ep, "subsets"), i, subset) {
                json_int_t number = 0;
                size_t j;
                json_t *ep_port;
                json_t *ports = json_object_get(subset, "ports");
                json_array_foreach (ports, j, ep_port) {
                        const char *name = json_string_value(json_object_get(ep_port, "name"));
                        if (json_array_size(ports) == 1 ||
                            (port_name && name && strcmp(name, port_name) == 0))
                                number = json_integer_value(json_object_get(ep_port, "port"));
                }
                if (!number)
                        number = target_port ? target_port : o->port;
                json_t *address;
                json_array_foreach (json_object_get(subset, "addresses"), j, address) {
                        const char *ip = json_string_value(json_object_get(address, "ip"));
                        if (!ip || n >= MAX_ENDPOINTS)
                                continue;
                        if (strchr(ip, ':'))
                                snprintf(p->endpoints[n++], sizeof(p->endpoints[0]), "[%s]:%lld",
                                         ip, (long long)number);
                        else
                                snprintf(p->endpoints[n++], sizeof(p->endpoints[0]), "%s:%lld", ip,
                                         (long long)number);
                }
        }
        p->n_endpoints = n;
}

static size_t discard(char *data, size_t size, size_t nmemb, void *userp)
{
        return size * nmemb;
}

static void record(struct chaos_probe *p, const struct chaos_probe_sample *sample)
{
        pthread_mutex_lock(&p->lock);
        if (p->n_samples == p->capacity && p->capacity < MAX_SAMPLES) {
                size_t cap = p->capacity ? p->capacity * 2 : 1024;
                struct chaos_probe_sample *s = realloc(p->samples, cap * sizeof(*s));
                if (s) {
                        p->samples = s;
                        p->capacity = cap;
                }
        }
        if (p->n_samples < p->capacity)
                p->samples[p->n_samples++] = *sample;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
}

static void probe_once(struct chaos_probe *p, CURL *h)
{
        const struct chaos_probe_options *o = &p->options;
        struct chaos_probe_sample s = {.at_ms = clock_realtime_ms()};
        char url[512];
        if (p->service) {
                int64_t now = clock_monotonic_ms();
                if (now - p->endpoints_at >= ENDPOINT_REFRESH) {
                        refresh_endpoints(p);
                        p->endpoints_at = now;
                }
                if (p->n_endpoints == 0) {
                        snprintf(s.error, sizeof(s.error), "no ready endpoints");
                        snprintf(s.endpoint, sizeof(s.endpoint), "%s", p->service);
                        record(p, &s);
                        return;
                }
                const char *endpoint = p->endpoints[p->next_endpoint++ % p->n_endpoints];
                snprintf(s.endpoint, sizeof(s.endpoint), "%s", endpoint);
                snprintf(url, sizeof(url), "http://%s%s", endpoint, p->path);
        } else {
                snprintf(s.endpoint, sizeof(s.endpoint), "%.63s", p->url);
                snprintf(url, sizeof(url), "%s", p->url);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        int64_t t0 = clock_monotonic_ms();
        CURLcode code = curl_easy_perform(h);
        s.latency_ms = (int32_t)(clock_monotonic_ms() - t0);
        if (code != CURLE_OK) {
                snprintf(s.error, sizeof(s.error), "%s", curl_easy_strerror(code));
        } else {
                long status = 0;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                s.status = (int32_t)status;
                s.ok = status == o->expect_status;
                if (!s.ok)
                        snprintf(s.error, sizeof(s.error), "HTTP %ld, expected %d", status,
                                 o->expect_status);
        }
        record(p, &s);
}

static bool stopping(struct chaos_probe *p)
{
        pthread_mutex_lock(&p->lock);
        bool s = p->stopping;
        pthread_mutex_unlock(&p->lock);
        return s;
}

static void *prober(void *userdata)
{
        struct chaos_probe *p = userdata;
        CURL *h = curl_easy_init();
        if (!h)
                return NULL;
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L); /* each probe is a new client */
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)p->options.timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)p->options.timeout_ms);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "tripdeal-chaos-probe/0.1");
        int64_t next = clock_monotonic_ms();
        while (!stopping(p)) {
                probe_once(p, h);
                next += p->options.interval_ms;
                int64_t now = clock_monotonic_ms();
                if (next < now)
                        next = now;
                /* Wake early on stop. */
                pthread_mutex_lock(&p->lock);
                while (!p->stopping && clock_monotonic_ms() < next) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        int64_t wait = next - clock_monotonic_ms();
                        if (wait <= 0)
                                break;
                        ts.tv_sec += wait / 1000;
                        ts.tv_nsec += (wait % 1000) * 1000000;
                        if (ts.tv_nsec >= 1000000000) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&p->changed, &p->lock, &ts);
                }
                pthread_mutex_unlock(&p->lock);
        }
        curl_easy_cleanup(h);
        return NULL;
}

void chaos_probe_stop(struct chaos_probe *p)
{
        if (!p || !p->started)
                return;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        p->started = false;
}

void chaos_probe_free(struct chaos_probe *p)
{
        if (!p)
                return;
        chaos_probe_stop(p);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
        free(p->namespace);
        free(p->service);
        free(p->url);
        free(p->path);
        free(p->samples);
        free(p);
}

int chaos_probe_start(const struct chaos_probe_options *options, struct chaos_probe **ret_probe)
{
        if (!options || (!options->service == !options->url) ||
            (options->service && (!options->kube || !options->namespace)))
                return -EINVAL;
        struct chaos_probe *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->options = *options;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->changed, NULL);
        p->namespace = options->namespace ? strdup(options->namespace) : NULL;
        p->service = options->service ? strdup(options->service) : NULL;
        p->url = options->url ? strdup(options->url) : NULL;
        p->path = strdup(options->path ? options->path : "/");
        if (!p->options.expect_status)
                p->options.expect_status = 200;
        if (p->options.timeout_ms <= 0)
                p->options.timeout_ms = 1000;
        if (p->options.interval_ms <= 0)
                p->options.interval_ms = 100;
        if ((options->namespace && !p->namespace) || (options->service && !p->service) ||
            (options->url && !p->url) || !p->path) {
                chaos_probe_free(p);
                return -ENOMEM;
        }
        int r = pthread_create(&p->thread, NULL, prober, p);
        if (r != 0) {
                chaos_probe_free(p);
                return -r;
        }
        p->started = true;
        *ret_probe = p;
        return 0;
}

void chaos_probe_counts(struct chaos_probe *p, int64_t from_ms, int64_t to_ms, int64_t *ret_sent,
                        int64_t *ret_failed)
{
        int64_t sent = 0, failed = 0;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->n_samples; i++) {
                const struct chaos_probe_sample *s = &p->samples[i];
                if (s->at_ms < from_ms || s->at_ms >= to_ms)
                        continue;
                sent++;
                failed += !s->ok;
        }
        pthread_mutex_unlock(&p->lock);
        *ret_sent = sent;
        *ret_failed = failed;
}

bool chaos_probe_last_ok(struct chaos_probe *p, int64_t after_ms)
{
        pthread_mutex_lock(&p->lock);
        bool ok = p->n_samples > 0 && p->samples[p->n_samples - 1].at_ms >= after_ms &&
                  p->samples[p->n_samples - 1].ok;
        pthread_mutex_unlock(&p->lock);
        return ok;
}

void chaos_probe_wait_samples(struct chaos_probe *p, int64_t from_ms, int64_t n,
                              int64_t deadline_ms, atomic_bool *stop)
{
        for (;;) {
                int64_t sent, failed;
                chaos_probe_counts(p, from_ms, INT64_MAX, &sent, &failed);
                if (sent >= n || clock_monotonic_ms() >= deadline_ms || (stop && atomic_load(stop)))
                        return;
                sleep_ms(20);
        }
}

int chaos_probe_snapshot(struct chaos_probe *p, struct chaos_probe_sample **ret_samples,
                         size_t *ret_count)
{
        pthread_mutex_lock(&p->lock);
        size_t n = p->n_samples;
        struct chaos_probe_sample *copy = malloc((n ?: 1) * sizeof(*copy));
        if (copy && n)
                memcpy(copy, p->samples, n * sizeof(*copy));
        pthread_mutex_unlock(&p->lock);
        if (!copy)
                return -ENOMEM;
        *ret_samples = copy;
        *ret_count = n;
        return 0;
}

/* ---- Prometheus ---- */

struct buffer {
        char *data;
        size_t size;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
        struct buffer *b = userp;
        size_t n = size * nmemb;
        if (b->size + n > (8u << 20))
                return 0;
        char *d = realloc(b->data, b->size + n + 1);
        if (!d)
                return 0;
        memcpy(d + b->size, data, n);
        b->data = d;
        b->size += n;
        d[b->size] = '\0';
        return n;
}

int chaos_prometheus_query(const char *base_url, const char *query, double *ret_value,
                           struct tripdeal_error *ret_error)
{
        CURL *h = curl_easy_init();
        if (!h)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");
        struct buffer body = {0};
        _cleanup_json_ json_t *doc = NULL;
        char *escaped = curl_easy_escape(h, query, 0);
        _cleanup_free_ char *url = NULL;
        int r = 0;
        if (!escaped || asprintf(&url, "%s%sapi/v1/query?query=%s", base_url,
                                 base_url[strlen(base_url) - 1] == '/' ? "" : "/", escaped) < 0) {
                url = NULL;
                r = -ENOMEM;
                goto out;
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        CURLcode code = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (code != CURLE_OK || status != 200) {
                r = tripdeal_error_set(ret_error, -EIO, "Prometheus %s: %s", base_url,
                                       code != CURLE_OK ? curl_easy_strerror(code)
                                                        : "query refused (not HTTP 200)");
                goto out;
        }
        doc = body.data ? json_loads(body.data, 0, NULL) : NULL;
        json_t *result = json_object_get(json_object_get(doc, "data"), "result");
        json_t *first = json_array_get(result, 0);
        json_t *value = json_array_get(json_object_get(first, "value"), 1);
        if (!json_is_array(result) && json_is_array(json_object_get(doc, "data")))
                value = NULL;
        if (!value) {
                /* A scalar result: data.result = [time, "value"]. */
                json_t *data = json_object_get(doc, "data");
                if (json_is_string(json_array_get(json_object_get(data, "result"), 1)))
                        value = json_array_get(json_object_get(data, "result"), 1);
        }
        if (!json_is_string(value)) {
                r = tripdeal_error_set(ret_error, -ENODATA,
                                       "Prometheus query \"%s\" returned no sample", query);
                goto out;
        }
        *ret_value = strtod(json_string_value(value), NULL);
out:
        curl_free(escaped);
        free(body.data);
        curl_easy_cleanup(h);
        return r;
}
