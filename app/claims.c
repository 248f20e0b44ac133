/* SPDX-License-Identifier: Apache-2.0 */
#include "claims.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"

struct claim_executor {
        struct claim_executor_options options;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        struct claim_job *head, *tail; /* FIFO: first come, first claimed */
        bool stopping;
        pthread_t *threads;
        int n_threads;
        /* Start-up: threads that have tried to open their connection, and how many could. */
        pthread_cond_t opened;
        int n_tried, n_connected;
};

void claim_job_run(struct claim_job *job, const char *database_url, struct stock_feed *stock,
                   struct store **store, bool *needs_ping)
{
        struct tripdeal_error error = {0};
        int r = 0;
        /* The poller saw the database down: answer 503 now rather than wait on a timeout. */
        if (stock && !stock_feed_database_ok(stock))
                r = -ECONNREFUSED;
        else if (!*store)
                r = store_open(&(struct store_options){.url = database_url}, store, &error);
        else if (*needs_ping)
                r = store_ping(*store, &error);
        if (r >= 0) {
                *needs_ping = false;
                r = store_claim(*store, job->deal_id, job->user, job->now, &job->outcome,
                                &job->stock_left, &error);
        }
        if (r < 0) {
                if (*store)
                        *needs_ping = true;
                /* Logged here, once, where the backend's own text is at hand. */
                log_emit(LOG_LEVEL_ERROR,
                         json_pack("{s:I, s:s, s:i}", "deal", (json_int_t)job->deal_id, "error",
                                   tripdeal_error_message(&error), "errno", -r),
                         "claim failed in the database");
        }
        job->error = r;
}

static void *executor_main(void *userdata)
{
        struct claim_executor *executor = userdata;
        struct store *store = NULL;
        bool needs_ping = false;

        /*
         * Connect now, not on the first claim: a sale's first second would otherwise
         * wait on dozens of connects at once and time out under load.  A failure here
         * is not fatal: the first claim tries again (and logs why).
         */
        struct tripdeal_error open_error = {0};
        int r = store_open(&(struct store_options){.url = executor->options.database_url}, &store,
                           &open_error);
        pthread_mutex_lock(&executor->lock);
        executor->n_tried++;
        if (r >= 0)
                executor->n_connected++;
        pthread_cond_broadcast(&executor->opened);
        pthread_mutex_unlock(&executor->lock);

        for (;;) {
                pthread_mutex_lock(&executor->lock);
                while (!executor->head && !executor->stopping)
                        pthread_cond_wait(&executor->wake, &executor->lock);
                if (executor->stopping) {
                        pthread_mutex_unlock(&executor->lock);
                        break;
                }
                struct claim_job *job = executor->head;
                executor->head = job->next;
                if (!executor->head)
                        executor->tail = NULL;
                pthread_mutex_unlock(&executor->lock);

                job->next = NULL;
                claim_job_run(job, executor->options.database_url, executor->options.stock, &store,
                              &needs_ping);
                executor->options.finished(job);
        }
        store_close(store);
        return NULL;
}

int claim_executor_new(const struct claim_executor_options *options,
                       struct claim_executor **ret_executor)
{
        struct claim_executor *executor = calloc(1, sizeof(*executor));
        if (!executor)
                return -ENOMEM;
        executor->options = *options;
        pthread_mutex_init(&executor->lock, NULL);
        pthread_cond_init(&executor->wake, NULL);
        pthread_cond_init(&executor->opened, NULL);
        int n = options->threads > 0 ? options->threads : 1;
        executor->threads = calloc((size_t)n, sizeof(*executor->threads));
        if (!executor->threads) {
                claim_executor_free(executor);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                int r = pthread_create(&executor->threads[i], NULL, executor_main, executor);
                if (r != 0) {
                        claim_executor_free(executor);
                        return -r;
                }
                executor->n_threads++;
        }
        /* Ready only once every thread has its connection (or has tried: store_open is bounded
         * by the connect timeout), so /readyz never turns true ahead of the connections. */
        pthread_mutex_lock(&executor->lock);
        while (executor->n_tried < executor->n_threads)
                pthread_cond_wait(&executor->opened, &executor->lock);
        int connected = executor->n_connected;
        pthread_mutex_unlock(&executor->lock);
        if (connected < n)
                log_emit(LOG_LEVEL_WARN,
                         json_pack("{s:i, s:i}", "connected", connected, "threads", n),
                         "claim threads: some database connections failed at start-up; they retry "
                         "on their first claim");
        *ret_executor = executor;
        return 0;
}

void claim_executor_submit(struct claim_executor *executor, struct claim_job *job)
{
        job->next = NULL;
        pthread_mutex_lock(&executor->lock);
        if (executor->tail)
                executor->tail->next = job;
        else
                executor->head = job;
        executor->tail = job;
        pthread_cond_signal(&executor->wake);
        pthread_mutex_unlock(&executor->lock);
}

void claim_executor_free(struct claim_executor *executor)
{
        if (!executor)
                return;
        pthread_mutex_lock(&executor->lock);
        executor->stopping = true;
        pthread_cond_broadcast(&executor->wake);
        pthread_mutex_unlock(&executor->lock);
        for (int i = 0; i < executor->n_threads; i++)
                pthread_join(executor->threads[i], NULL);
        /* Jobs never run go back to their submitter, marked cancelled. */
        while (executor->head) {
                struct claim_job *job = executor->head;
                executor->head = job->next;
                job->next = NULL;
                job->error = -ECANCELED;
                executor->options.finished(job);
        }
        free(executor->threads);
        pthread_cond_destroy(&executor->opened);
        pthread_cond_destroy(&executor->wake);
        pthread_mutex_destroy(&executor->lock);
        free(executor);
}
