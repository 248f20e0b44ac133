/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage interface: picks the backend from the URL, gives every call
 * its own struct tripdeal_error (filled on failure only, the password
 * scrubbed) and frees what the backends return.  The SQL lives in store-sqlite.c and
 * store-postgresql.c.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store-internal.h"

#define SQLITE_PREFIX "sqlite:"

static bool has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "sqlite:PATH" (or "sqlite://PATH") -> PATH; NULL when not a usable path.
 * ":memory:" is refused: every connection would see its own empty database. */
static const char *sqlite_path(const char *url)
{
        if (!has_prefix(url, SQLITE_PREFIX))
                return NULL;
        const char *path = url + strlen(SQLITE_PREFIX);
        if (has_prefix(path, "//"))
                path += 2;
        if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
                return NULL;
        return path;
}

static bool is_postgresql_url(const char *url)
{
        return has_prefix(url, "postgresql://") || has_prefix(url, "postgres://");
}

int store_url_check(const char *url)
{
        if (!url)
                return -EINVAL;
        if (sqlite_path(url))
                return 0;
        if (!is_postgresql_url(url))
                return -EINVAL;
        /* Let libpq judge the rest of the URI, as it will when connecting. */
        char *error = NULL;
        PQconninfoOption *options = PQconninfoParse(url, &error);
        PQfreemem(error);
        if (!options)
                return -EINVAL;
        PQconninfoFree(options);
        return 0;
}

/* The password inside a PostgreSQL URL (copied), or NULL when there is none. */
static char *postgresql_password(const char *url)
{
        char *error = NULL;
        PQconninfoOption *options = PQconninfoParse(url, &error);
        PQfreemem(error);
        if (!options)
                return NULL;
        char *password = NULL;
        for (PQconninfoOption *o = options; o->keyword; o++)
                if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
                        password = strdup(o->val);
        PQconninfoFree(options);
        return password;
}

/*
 * End of every call: forget the call's error sink and, on failure only, hand
 * the error to the caller with code == r (the backend wrote the message, or
 * `what` and the code's text when it had none).  Returns r.
 */
static int finish_call(struct store *store, int r, struct tripdeal_error *error, const char *what,
                       struct tripdeal_error *ret_error)
{
        store->call_error = NULL;
        if (r >= 0)
                return r;
        if (error->message[0])
                error->code = r;
        else
                tripdeal_error_set(error, r, "%s: %s", what, tripdeal_strerror(r));
        return tripdeal_error_copy(ret_error, error);
}

/* Refuse a call's arguments: -EINVAL with a message naming the call and what is wrong. */
static int invalid_argument(struct tripdeal_error *ret_error, const char *what, const char *why)
{
        return tripdeal_error_set(ret_error, -EINVAL, "%s: %s", what, why);
}

int store_open(const struct store_options *options, struct store **ret_store,
               struct tripdeal_error *ret_error)
{
        if (!options || !options->url || !ret_store || options->busy_timeout_ms < 0 ||
            options->connect_timeout_seconds < 0)
                return tripdeal_error_set(ret_error, -EINVAL, "invalid store options");
        if (store_url_check(options->url) < 0)
                return tripdeal_error_set(
                        ret_error, -EINVAL,
                        "invalid database URL: want sqlite:PATH or postgresql://...");

        struct store *store = calloc(1, sizeof(*store));
        if (!store)
                return tripdeal_error_set(ret_error, -ENOMEM, "out of memory");

        const char *target;
        if (is_postgresql_url(options->url)) {
                store->backend = &store_backend_postgresql;
                store->password = postgresql_password(options->url);
                target = options->url;
        } else {
                store->backend = &store_backend_sqlite;
                target = sqlite_path(options->url);
        }

        struct tripdeal_error error = {0};
        store->call_error = &error;
        int r = finish_call(store, store->backend->open(store, options, target), &error,
                            "store_open", ret_error);
        if (r < 0) {
                store_close(store);
                return r;
        }
        *ret_store = store;
        return 0;
}

void store_close(struct store *store)
{
        if (!store)
                return;
        if (store->impl)
                store->backend->close(store);
        if (store->password)
                explicit_bzero(store->password, strlen(store->password));
        free(store->password);
        free(store);
}

const char *store_backend_name(const struct store *store)
{
        return store ? store->backend->name : "";
}

void store_set_error(struct store *store, const char *fmt, ...)
{
        struct tripdeal_error *error = store->call_error;
        if (!error)
                return;
        char *text = error->message;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(error->message), fmt, ap);
        va_end(ap);

        /* Backends echo pieces of the connection string in some messages;
         * never let the password reach a log line. */
        if (store->password && store->password[0]) {
                size_t length = strlen(store->password);
                char *from = text, *hit;
                while ((hit = strstr(from, store->password))) {
                        memset(hit, '*', length);
                        from = hit + length;
                }
        }
        /* Messages from libpq end in a newline; a log line should not. */
        for (char *c = text; *c; c++)
                if (*c == '\n')
                        *c = ' ';
        size_t n = strlen(text);
        while (n > 0 && text[n - 1] == ' ')
                text[--n] = '\0';
}

const char *store_call_error_message(const struct store *store)
{
        return store->call_error ? store->call_error->message : "";
}

const char *claim_outcome_to_string(enum claim_outcome outcome)
{
        switch (outcome) {
        case CLAIM_OK:
                return "ok";
        case CLAIM_SOLD_OUT:
                return "sold_out";
        case CLAIM_ALREADY_CLAIMED:
                return "already_claimed";
        case CLAIM_NOT_OPEN:
                return "not_open";
        case CLAIM_NO_SUCH_DEAL:
                return "no_such_deal";
        }
        return "unknown";
}

/*
 * Well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
 * PostgreSQL refuses anything else and SQLite would store it as is, so both
 * backends check here first and answer the same -EINVAL.  NULL is valid
 * (optional fields).
 */
static bool utf8_valid(const char *text)
{
        const unsigned char *s = (const unsigned char *)text;
        if (!s)
                return true;
        while (*s) {
                unsigned char c = *s;
                size_t length;
                uint32_t code, minimum;
                if (c < 0x80) {
                        s++;
                        continue;
                } else if ((c & 0xe0) == 0xc0) {
                        length = 2, code = c & 0x1f, minimum = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        length = 3, code = c & 0x0f, minimum = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        length = 4, code = c & 0x07, minimum = 0x10000;
                } else {
                        return false;
                }
                for (size_t i = 1; i < length; i++) {
                        if ((s[i] & 0xc0) != 0x80)
                                return false; /* also stops at the terminating NUL */
                        code = (code << 6) | (s[i] & 0x3f);
                }
                if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
                        return false;
                s += length;
        }
        return true;
}

int store_check_new_product(const struct new_product *product)
{
        if (!product || !product->title || product->price < 0 || !utf8_valid(product->title) ||
            !utf8_valid(product->destination) || !utf8_valid(product->summary))
                return -EINVAL;
        return 0;
}

int store_check_new_deal(const struct new_deal *deal)
{
        if (!deal || !deal->title || deal->price < 0 || deal->list_price < 0 ||
            deal->stock_total < 0 || deal->ends_at <= deal->starts_at || !utf8_valid(deal->title))
                return -EINVAL;
        return 0;
}

/* Every entry point: check the arguments the backends rely on, give the
 * backend this call's error sink, dispatch, and finish_call(). */

#define STORE_CALL(store, what, ret_error, call)                                 \
        ({                                                                       \
                struct tripdeal_error _call_error = {0};                         \
                (store)->call_error = &_call_error;                              \
                finish_call((store), (call), &_call_error, (what), (ret_error)); \
        })

int store_migrate(struct store *store, struct tripdeal_error *ret_error)
{
        if (!store)
                return invalid_argument(ret_error, "store_migrate", "no store");
        return STORE_CALL(store, "store_migrate", ret_error, store->backend->migrate(store));
}

int store_ping(struct store *store, struct tripdeal_error *ret_error)
{
        if (!store)
                return invalid_argument(ret_error, "store_ping", "no store");
        return STORE_CALL(store, "store_ping", ret_error, store->backend->ping(store));
}

int store_seed_demo(struct store *store, time_t now, struct tripdeal_error *ret_error)
{
        if (!store)
                return invalid_argument(ret_error, "store_seed_demo", "no store");
        return STORE_CALL(store, "store_seed_demo", ret_error,
                          store->backend->seed_demo(store, now));
}

int store_list_products(struct store *store, bool featured_only, struct product **ret_products,
                        size_t *ret_count, struct tripdeal_error *ret_error)
{
        if (!store || !ret_products || !ret_count)
                return invalid_argument(ret_error, "store_list_products",
                                        "store and outputs are required");
        return STORE_CALL(
                store, "store_list_products", ret_error,
                store->backend->list_products(store, featured_only, ret_products, ret_count));
}

int store_list_deals(struct store *store, struct deal **ret_deals, size_t *ret_count,
                     struct tripdeal_error *ret_error)
{
        if (!store || !ret_deals || !ret_count)
                return invalid_argument(ret_error, "store_list_deals",
                                        "store and outputs are required");
        return STORE_CALL(store, "store_list_deals", ret_error,
                          store->backend->list_deals(store, ret_deals, ret_count));
}

int store_get_deal(struct store *store, int64_t id, struct deal *ret_deal,
                   struct tripdeal_error *ret_error)
{
        if (!store || !ret_deal)
                return invalid_argument(ret_error, "store_get_deal",
                                        "store and output are required");
        return STORE_CALL(store, "store_get_deal", ret_error,
                          store->backend->get_deal(store, id, ret_deal));
}

int store_claim(struct store *store, int64_t deal_id, const char *user_id, time_t now,
                enum claim_outcome *ret_outcome, int64_t *ret_stock_left,
                struct tripdeal_error *ret_error)
{
        if (!store || !ret_outcome || !ret_stock_left)
                return invalid_argument(ret_error, "store_claim", "store and outputs are required");
        if (!user_id || !user_id[0] || !utf8_valid(user_id))
                return invalid_argument(ret_error, "store_claim",
                                        "user id is missing, empty or not UTF-8");
        return STORE_CALL(
                store, "store_claim", ret_error,
                store->backend->claim(store, deal_id, user_id, now, ret_outcome, ret_stock_left));
}

int store_list_posts(struct store *store, int page, int per_page, struct post **ret_posts,
                     size_t *ret_count, int64_t *ret_total, struct tripdeal_error *ret_error)
{
        if (!store || !ret_posts || !ret_count || !ret_total)
                return invalid_argument(ret_error, "store_list_posts",
                                        "store and outputs are required");
        if (page < 1 || per_page < 1 || per_page > STORE_MAX_PER_PAGE)
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "store_list_posts: page %d or per_page %d out of "
                                          "range (page >= 1, 1 <= per_page <= %d)",
                                          page, per_page, STORE_MAX_PER_PAGE);
        /* The offset must fit: (page - 1) * per_page as int64 is always fine. */
        return STORE_CALL(
                store, "store_list_posts", ret_error,
                store->backend->list_posts(store, page, per_page, ret_posts, ret_count, ret_total));
}

int store_get_post(struct store *store, int64_t id, struct post *ret_post,
                   struct tripdeal_error *ret_error)
{
        if (!store || !ret_post)
                return invalid_argument(ret_error, "store_get_post",
                                        "store and output are required");
        return STORE_CALL(store, "store_get_post", ret_error,
                          store->backend->get_post(store, id, ret_post));
}

int store_create_post(struct store *store, const char *author, const char *title, const char *body,
                      int rating, time_t now, int64_t *ret_id, struct tripdeal_error *ret_error)
{
        if (!store || !author || !title || !body)
                return invalid_argument(ret_error, "store_create_post",
                                        "store, author, title and body are required");
        if (rating < 1 || rating > 5)
                return tripdeal_error_set(ret_error, -EINVAL,
                                          "store_create_post: rating %d is not 1..5", rating);
        if (!utf8_valid(author) || !utf8_valid(title) || !utf8_valid(body))
                return invalid_argument(ret_error, "store_create_post",
                                        "author, title or body is not UTF-8");
        int64_t id;
        int r = STORE_CALL(
                store, "store_create_post", ret_error,
                store->backend->create_post(store, author, title, body, rating, now, &id));
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        return 0;
}

int store_create_product(struct store *store, const struct new_product *product, int64_t *ret_id,
                         struct tripdeal_error *ret_error)
{
        if (!store)
                return invalid_argument(ret_error, "store_create_product", "no store");
        if (store_check_new_product(product) < 0)
                return invalid_argument(ret_error, "store_create_product",
                                        "product needs a UTF-8 title and a price >= 0");
        int64_t id;
        int r = STORE_CALL(store, "store_create_product", ret_error,
                           store->backend->create_product(store, product, &id));
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        return 0;
}

int store_create_deal(struct store *store, const struct new_deal *deal, int64_t *ret_id,
                      struct tripdeal_error *ret_error)
{
        if (!store)
                return invalid_argument(ret_error, "store_create_deal", "no store");
        if (store_check_new_deal(deal) < 0)
                return invalid_argument(ret_error, "store_create_deal",
                                        "deal needs a UTF-8 title, prices and stock >= 0 and "
                                        "ends_at > starts_at");
        int64_t id;
        int r = STORE_CALL(store, "store_create_deal", ret_error,
                           store->backend->create_deal(store, deal, &id));
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = id;
        return 0;
}

int store_count_claims(struct store *store, int64_t deal_id, int64_t *ret_count,
                       struct tripdeal_error *ret_error)
{
        if (!store || !ret_count)
                return invalid_argument(ret_error, "store_count_claims",
                                        "store and output are required");
        return STORE_CALL(store, "store_count_claims", ret_error,
                          store->backend->count_claims(store, deal_id, ret_count));
}

/* Freeing: every function accepts NULL. */

void store_products_free(struct product *products, size_t count)
{
        if (!products)
                return;
        for (size_t i = 0; i < count; i++) {
                free(products[i].title);
                free(products[i].destination);
                free(products[i].summary);
        }
        free(products);
}

void store_deal_clear(struct deal *deal)
{
        if (!deal)
                return;
        free(deal->title);
        deal->title = NULL;
}

void store_deals_free(struct deal *deals, size_t count)
{
        if (!deals)
                return;
        for (size_t i = 0; i < count; i++)
                store_deal_clear(&deals[i]);
        free(deals);
}

void store_post_clear(struct post *post)
{
        if (!post)
                return;
        free(post->author);
        free(post->title);
        free(post->body);
        post->author = post->title = post->body = NULL;
}

void store_posts_free(struct post *posts, size_t count)
{
        if (!posts)
                return;
        for (size_t i = 0; i < count; i++)
                store_post_clear(&posts[i]);
        free(posts);
}
