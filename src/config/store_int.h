/* store_int.h: what the two store implementations (SQLite, etcd) share with the store's front (store.c). */
#ifndef CLONELB_CONFIG_STORE_INT_H
#define CLONELB_CONFIG_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "config/cache.h"
#include "config/store.h"

struct cfg_store;

/*
 * One store implementation. store.c runs every change the same way for both:
 * under st->lock it calls begin(), looks the old version up in the cache,
 * merges, runs every rule of rules.c against the cache, then write(). The
 * rules live once, above both stores; an implementation only makes the
 * checked change durable, atomically with the state the rules read.
 */
struct cfg_store_ops {
	const char *kind; /* "sqlite", "etcd" */
	/*
	 * Starts a change (st->lock held): SQLite opens its IMMEDIATE
	 * transaction and reloads the cache if another process wrote the
	 * file; etcd checks that it can reach the cluster. 0 or -errno
	 * (-EAGAIN: store unavailable) with *ret_err.
	 */
	int (*begin)(struct cfg_store *st, char **ret_err);
	/*
	 * Makes the change durable (st->lock held): @obj the new version (NULL
	 * for a delete) of @old (NULL for a create). Returns 0 and
	 * *ret_wait_rev: 0 when the front must update the cache itself (SQLite),
	 * else the revision the change got, which the store's feed (the etcd
	 * watch) brings into the cache. -ECANCELED: the cache was stale (another
	 * node changed what the rules read); the front waits until the cache
	 * reaches *ret_wait_rev and runs the change again. Other -errno with
	 * *ret_err. On failure nothing is written. etcd releases the lock
	 * while the cluster commits (its compares guard the rules then), so
	 * the cache may move meanwhile; @obj and @old stay the caller's.
	 */
	int (*write)(struct cfg_store *st, const struct cfg_schema *s, json_t *obj,
		     const json_t *old, uint64_t *ret_wait_rev, char **ret_err);
	/* Ends a change that write() was not called for, or that failed (lock held). */
	void (*abort)(struct cfg_store *st);
	/* Frees what the implementation holds (threads first). */
	void (*close)(struct cfg_store *st);
};

struct cfg_store {
	const struct cfg_store_ops *ops;
	void *impl;
	char *where; /* shown in messages: the file, or "etcd://..." */
	/* One change at a time on this node, and the cache with it. */
	pthread_mutex_t lock;
	pthread_cond_t fed; /* broadcast when rev moves */
	struct cfg_cache cache;
	uint64_t rev;  /* revision the cache reflects */
	uint64_t told; /* revision whose changes the listener has been told of (fed stores) */
	cfg_change_fn listener;
	void *listener_ctx;
	int notifying; /* listener calls under way (the lock dropped for them) */
	struct cfg_etcd *etcd; /* the etcd client, NULL for SQLite */
};

/* A new store front with @ops and @impl; the cache is empty. */
struct cfg_store *cfg_store_new(const struct cfg_store_ops *ops, void *impl, const char *where);

/*
 * The feed of a store whose changes come from elsewhere (the etcd watch): puts
 * @obj (complete, with "_id"; a reference is taken) in place of the object
 * with its uuid, or removes the object of uuid @gone_uuid when @obj is NULL,
 * moves the revision to @rev and tells the listener. Takes st->lock itself.
 */
void cfg_store_feed(struct cfg_store *st, json_t *obj, const char *gone_uuid, uint64_t rev);

/* Replaces the whole cache with @fresh at revision @rev (a resync) and tells
 * the listener (type NULL). @fresh is taken over. Takes st->lock itself. */
void cfg_store_feed_all(struct cfg_store *st, struct cfg_cache *fresh, uint64_t rev);

int cfg_store_sqlite_open(const char *path, struct cfg_store **ret, char **ret_err);
int cfg_store_etcd_open(const char *endpoints, const struct cfg_store_tls *tls,
			struct cfg_store **ret, char **ret_err);

#endif
