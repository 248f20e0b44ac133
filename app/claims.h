/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The claim executor: a pool of threads, each with its own database
 * connection, that runs store_claim() for the HTTP workers.
 *
 * Why: a claim waits for a commit (a disk flush on PostgreSQL).  Run on the
 * HTTP worker it would stall every other connection of that worker, and the
 * store could only combine as many concurrent claims as there are workers.
 * Here many claims wait at once, the store's combiner sends them to the
 * database together, and the workers keep serving pages meanwhile.
 *
 * Flow: a worker fills a struct claim_job and calls claim_executor_submit();
 * a pool thread runs the claim, fills in the result and calls
 * options.finished(job) (on the pool thread); the worker then answers.
 *
 * Ownership: a submitted job belongs to the executor until finished() hands
 * it back.  claim_executor_free() lets running claims finish and hands the
 * jobs never run back through finished() with error -ECANCELED.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "session.h"
#include "stock.h"
#include "store.h"

struct claim_job {
        /* Input, set by the submitter. */
        int64_t deal_id;
        char user[SESSION_USER_LENGTH + 1];
        time_t now;
        /* Result, set by the executor: error is 0 or the store's -errno. */
        int error;
        enum claim_outcome outcome;
        int64_t stock_left;
        /* For the submitter; the executor never touches these. */
        void *userdata;
        struct claim_job *next;
};

struct claim_executor_options {
        const char *database_url; /* borrowed; outlives the executor */
        int threads;
        struct stock_feed *stock; /* database health: fail fast while it is down */
        void (*finished)(struct claim_job *job);
};

struct claim_executor;

int claim_executor_new(const struct claim_executor_options *options,
                       struct claim_executor **ret_executor);
void claim_executor_submit(struct claim_executor *executor, struct claim_job *job);
void claim_executor_free(struct claim_executor *executor);

/* Run one claim on a connection the caller owns (the executor's thread body;
 * also what tests call).  *needs_ping tracks a connection that failed. */
void claim_job_run(struct claim_job *job, const char *database_url, struct stock_feed *stock,
                   struct store **store, bool *needs_ping);
