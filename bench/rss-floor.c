/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The resident-memory floor of a Kubernetes client built on the libraries
 * this project uses: one libcurl (OpenSSL) HTTPS GET with the CA verified,
 * then VmRSS, RssAnon and RssFile of this process.  bench/operator-bench.py
 * runs it against the same fakekube as the operator, so the operator's RSS
 * can be read against what any such client costs before doing anything.
 *
 *   rss-floor URL CA_FILE TOKEN
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t discard(char *data, size_t size, size_t count, void *userdata)
{
        (void)data;
        (void)userdata;
        return size * count;
}

int main(int argc, char **argv)
{
        if (argc != 4) {
                fprintf(stderr, "usage: %s URL CA_FILE TOKEN\n", argv[0]);
                return 2;
        }
        char authorization[4096];
        snprintf(authorization, sizeof(authorization), "Authorization: Bearer %s", argv[3]);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        CURL *curl = curl_easy_init();
        struct curl_slist *headers = curl_slist_append(NULL, authorization);
        if (!curl || !headers)
                return 1;
        curl_easy_setopt(curl, CURLOPT_URL, argv[1]);
        curl_easy_setopt(curl, CURLOPT_CAINFO, argv[2]);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        CURLcode r = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (r != CURLE_OK || status != 200) {
                fprintf(stderr, "rss-floor: GET %s: %s (HTTP %ld)\n", argv[1],
                        curl_easy_strerror(r), status);
                return 1;
        }
        /* Measured with the connection still open, as a client keeps it. */
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "VmRSS:", 6) == 0 || strncmp(line, "RssAnon:", 8) == 0 ||
                    strncmp(line, "RssFile:", 8) == 0)
                        fputs(line, stdout);
        if (f)
                fclose(f);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        curl_global_cleanup();
        return 0;
}
