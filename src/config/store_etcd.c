/* store_etcd.c: the configuration of an SE group in etcd: each change one transaction whose compares hold every rule, the cache fed by a watch. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/rules.h"
#include "config/store_etcd.h"
#include "config/store_int.h"
#include "lib/util.h"

/*
 * Key layout (docs/architecture.md section 10.2), under CFG_ETCD_PREFIX:
 *   obj/<uuid>                             the object (JSON); uuid = "<type>-<uuid4>"
 *   name/<type>/<tenant>/<name>            its uuid: the name index
 *   ref/<target uuid>/<uuid>               "": object <uuid> refers to <target> (or is in
 *                                          tenant <target>)
 *   vip/<addr>/<port>                      uuid of the virtual service listening there
 * Names hold no '/', so every part is unambiguous. A change compares the
 * mod_revision of each key whose state its rules read (0: absent) and
 * writes the object with its index keys in the same transaction.
 */
#define K_OBJ CFG_ETCD_PREFIX "obj/"
#define K_NAME CFG_ETCD_PREFIX "name/"
#define K_REF CFG_ETCD_PREFIX "ref/"
#define K_VIP CFG_ETCD_PREFIX "vip/"

/* How long open waits for the cluster before refusing to start. */
#define OPEN_WAIT_S 10

struct etcd_store {
	struct cfg_store *st;
	struct cfg_etcd *e;
	pthread_t watcher;
	bool started;
	atomic_bool stop;
	atomic_bool watching; /* the watch stream is open and synced */
	atomic_bool reconnect; /* cfg_store_reconnect() was called */
	bool resync;          /* the watch fell behind a compaction (watch thread only) */
	pthread_mutex_t why_lock;
	char *why; /* why the watch is down */
};

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void set_why(struct etcd_store *es, char *why)
{
	pthread_mutex_lock(&es->why_lock);
	free(es->why);
	es->why = why;
	pthread_mutex_unlock(&es->why_lock);
}

/* The type name an object uuid starts with, or NULL. */
static const struct cfg_schema *type_of_uuid(const char *uuid)
{
	json_t *o = json_pack("{s:s}", "uuid", uuid);
	const struct cfg_schema *s = cfg_rules_type_of(o);

	json_decref(o);
	return s;
}

static int by_create_revision(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "create_revision"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "create_revision"));

	return x < y ? -1 : x > y;
}

/* Reads every object into a new cache at the revision the range shows. */
static int load_all(struct etcd_store *es, struct cfg_cache *c, uint64_t *ret_rev, char **ret_err)
{
	json_t *kvs = NULL, *kv, **sorted;
	size_t i, n;
	int r = cfg_etcd_range(es->e, K_OBJ, &kvs, ret_rev, ret_err);

	if (r < 0)
		return r;
	n = json_array_size(kvs);
	sorted = xcalloc(n + 1, sizeof(*sorted));
	json_array_foreach(kvs, i, kv) sorted[i] = kv;
	/* _id is the create revision: stable for the object's life, and the
	 * order the data plane numbers services in, as SQLite's row ids. */
	qsort(sorted, n, sizeof(*sorted), by_create_revision);
	cfg_cache_init(c);
	for (i = 0; i < n && r == 0; i++) {
		const char *uuid = str(sorted[i], "key") + strlen(K_OBJ);
		const struct cfg_schema *s = type_of_uuid(uuid);
		json_t *body = json_loads(str(sorted[i], "value"), 0, NULL);
		char *why = NULL;

		r = cfg_cache_load_row(c, json_integer_value(json_object_get(sorted[i], "create_revision")),
				       s ? s->name : NULL, uuid, str(body, "name"),
				       str(body, "tenant_ref"), str(sorted[i], "value"), &why);
		if (r == 0) {
			json_t *o = json_object_get(c->by_uuid, uuid);
			json_object_set(o, "_rev", json_object_get(sorted[i], "mod_revision"));
		} else {
			*ret_err = xasprintf("key %s%s: %s", K_OBJ, uuid, why);
			free(why);
			cfg_cache_free(c);
		}
		json_decref(body);
	}
	free(sorted);
	json_decref(kvs);
	return r;
}

static bool prefixed(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* One message of the watch stream, in revision order. */
static int on_watch(void *ctx, const json_t *msg)
{
	struct etcd_store *es = ctx;
	const json_t *res = json_object_get(msg, "result"), *ev;
	uint64_t last = 0;
	size_t i;

	if (!msg) {
		/* Another call to the cluster failed: a stream that still looks
		 * open may lead nowhere (a partition keeps TCP silent). */
		if (atomic_exchange(&es->reconnect, false)) {
			set_why(es, xasprintf("store unavailable: etcd at %s: watch restarted after a "
					      "failed call", cfg_etcd_where(es->e) + 7));
			return 1;
		}
		return 0;
	}
	if (!res) {
		set_why(es, xasprintf("store unavailable: etcd at %s: watch: %s",
				      cfg_etcd_where(es->e) + 7,
				      str(json_object_get(msg, "error"), "message")));
		return 1;
	}
	if (cfg_etcd_int(json_object_get(res, "compact_revision"))) {
		/* What we missed is gone: read everything again. */
		es->resync = true;
		return 1;
	}
	if (json_is_true(json_object_get(res, "canceled")))
		return 1;
	if (json_is_true(json_object_get(res, "created"))) {
		atomic_store(&es->watching, true);
		set_why(es, NULL);
	}
	json_array_foreach(json_object_get(res, "events"), i, ev)
	{
		const json_t *kv = json_object_get(ev, "kv");
		char *key = cfg_etcd_unb64(str(kv, "key"), NULL);
		uint64_t rev = (uint64_t)cfg_etcd_int(json_object_get(kv, "mod_revision"));
		bool del = strcmp(str(ev, "type"), "DELETE") == 0;

		/* A transaction's events share its revision: the revision moves
		 * to it only once its object is in, at the end of the batch. */
		if (key && prefixed(key, K_OBJ) && del) {
			cfg_store_feed(es->st, NULL, key + strlen(K_OBJ), rev - 1);
		} else if (key && prefixed(key, K_OBJ)) {
			char *text = cfg_etcd_unb64(str(kv, "value"), NULL);
			json_t *o = text ? json_loads(text, 0, NULL) : NULL;

			if (json_is_object(o) && type_of_uuid(str(o, "uuid"))) {
				json_object_set_new(o, "_id", json_integer(cfg_etcd_int(
								      json_object_get(kv, "create_revision"))));
				json_object_set_new(o, "_rev", json_integer((json_int_t)rev));
				cfg_store_feed(es->st, o, NULL, rev - 1);
			} else {
				/* Not written by a clonelbd: nothing is skipped
				 * silently; the full read names it and refuses it,
				 * and the data plane keeps what it runs. */
				es->resync = true;
			}
			json_decref(o);
			free(text);
			if (es->resync) {
				free(key);
				return 1;
			}
		}
		free(key);
		if (rev > last)
			last = rev;
	}
	if (last)
		cfg_store_feed(es->st, NULL, NULL, last);
	return 0;
}

/* Sleeps @ms in small steps; false when asked to stop meanwhile. */
static bool nap(struct etcd_store *es, int ms)
{
	for (; ms > 0 && !atomic_load(&es->stop); ms -= 50)
		usleep(50 * 1000);
	return !atomic_load(&es->stop);
}

/*
 * Follows the cluster: a watch from the revision after the cache's; when it
 * breaks, again from there (nothing is missed); when the revision was
 * compacted, a full read first. Backs off to one try a second while etcd is
 * down; the data plane keeps the last configuration meanwhile.
 */
static void *watch_main(void *p)
{
	struct etcd_store *es = p;
	int backoff = 100;

	while (!atomic_load(&es->stop)) {
		char *why = NULL;
		uint64_t from;

		if (es->resync) {
			struct cfg_cache fresh;
			uint64_t rev = 0;
			int r = load_all(es, &fresh, &rev, &why);

			if (r == -EIO) {
				char *more = xasprintf("store unavailable: %s holds an object that "
						       "does not load: %s",
						       cfg_etcd_where(es->e), why);
				free(why);
				why = more;
			}
			if (r < 0) {
				set_why(es, why);
				nap(es, backoff);
				backoff = backoff < 1000 ? backoff * 2 : 1000;
				continue;
			}
			cfg_store_feed_all(es->st, &fresh, rev);
			es->resync = false;
		}
		atomic_store(&es->reconnect, false);
		pthread_mutex_lock(&es->st->lock);
		from = es->st->rev + 1;
		pthread_mutex_unlock(&es->st->lock);
		if (cfg_etcd_watch(es->e, CFG_ETCD_PREFIX, from, on_watch, es, &es->stop, &why) < 0) {
			set_why(es, why);
			backoff = backoff < 1000 ? backoff * 2 : 1000;
		} else {
			backoff = 100;
		}
		atomic_store(&es->watching, false);
		nap(es, es->resync ? 0 : backoff);
	}
	return NULL;
}

/* A change is checked against the cache: only while the watch keeps it
 * current. */
static int et_begin(struct cfg_store *st, char **ret_err)
{
	struct etcd_store *es = st->impl;

	if (atomic_load(&es->watching))
		return 0;
	pthread_mutex_lock(&es->why_lock);
	*ret_err = es->why ? xstrdup(es->why)
			   : xasprintf("store unavailable: %s: not following the cluster yet",
				       cfg_etcd_where(es->e));
	pthread_mutex_unlock(&es->why_lock);
	return -EAGAIN;
}

static void et_abort(struct cfg_store *st)
{
}

struct txn {
	json_t *compare, *success;
	json_t *keys; /* keys written, each once */
};

static void cmp(struct txn *t, const char *key, bool range, int64_t mod_rev)
{
	json_t *c = json_pack("{s:o, s:s, s:s, s:o}", "key", cfg_etcd_key(key), "target", "MOD",
			      "result", "EQUAL", "mod_revision",
			      json_sprintf("%lld", (long long)mod_rev));

	if (range)
		json_object_set_new(c, "range_end", cfg_etcd_prefix_end(key));
	json_array_append_new(t->compare, c);
}

static void put(struct txn *t, const char *key, const char *value)
{
	if (json_object_get(t->keys, key))
		return;
	json_object_set_new(t->keys, key, json_true());
	json_array_append_new(t->success,
			      json_pack("{s:{s:o, s:o}}", "request_put", "key", cfg_etcd_key(key),
					"value", cfg_etcd_key(value)));
}

static void del(struct txn *t, const char *key)
{
	if (json_object_get(t->keys, key))
		return;
	json_object_set_new(t->keys, key, json_true());
	json_array_append_new(t->success,
			      json_pack("{s:{s:o}}", "request_delete_range", "key", cfg_etcd_key(key)));
}

/* Adds to @out "<ref key>": target for every object that @obj (of schema
 * @s, part of the object @uuid of @tenant) refers to, at any depth, found
 * in @c as rules.c finds them. */
static void refs_walk(const struct cfg_schema *s, const json_t *obj, const char *tenant,
		      const char *uuid, const struct cfg_cache *c, json_t *out)
{
	for (size_t i = 0; obj && i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		const struct cfg_schema *ts = f->ref_type ? cfg_type_find(f->ref_type) : NULL;
		json_t *v = json_object_get(obj, f->name), *e;
		size_t j;

		if (!v)
			continue;
		if (f->sub && f->kind == CFG_OBJECT)
			refs_walk(f->sub, v, tenant, uuid, c, out);
		if (f->sub && f->kind == CFG_OBJLIST)
			json_array_foreach(v, j, e) refs_walk(f->sub, e, tenant, uuid, c, out);
		if (!ts || (f->kind != CFG_REF && f->kind != CFG_REFLIST))
			continue;
		for (j = 0; f->kind == CFG_REF ? j < 1 : j < json_array_size(v); j++) {
			e = f->kind == CFG_REF ? v : json_array_get(v, j);
			if (!json_is_string(e))
				continue;
			/* References hold uuids (names only in stores edited by
			 * hand); shared types and SE groups are admin's. */
			json_t *t = cfg_cache_find(c, ts, json_string_value(e), tenant);
			if (!t && ((ts->flags & CFG_T_SHARED) || !strcmp(ts->name, "serviceenginegroup")))
				t = cfg_cache_find(c, ts, json_string_value(e), "admin");
			if (!t)
				continue;
			char *k = xasprintf(K_REF "%s/%s", str(t, "uuid"), uuid);
			json_object_set(out, k, t);
			free(k);
		}
	}
}

/* {"<ref key>": target} of every object @obj refers to, its tenant included
 * (an object may only be in a tenant that exists, and a tenant that holds
 * objects is not deleted). */
static json_t *refs_of(const struct cfg_schema *s, const json_t *obj, const struct cfg_cache *c)
{
	const struct cfg_schema *tenants = cfg_type_find("tenant");
	const char *uuid = str(obj, "uuid"), *tenant = str(obj, "tenant_ref");
	json_t *out = json_object(), *t;

	if (!obj)
		return out;
	refs_walk(s, obj, tenant, uuid, c, out);
	if (tenants && s != tenants && (t = cfg_cache_find_name(c, tenants, "admin", tenant))) {
		char *k = xasprintf(K_REF "%s/%s", str(t, "uuid"), uuid);
		json_object_set(out, k, t);
		free(k);
	}
	return out;
}

/* {"<vip key>": true} of each VIP and port of virtual service @obj. */
static json_t *vips_of(const struct cfg_schema *s, const json_t *obj)
{
	json_t *out = json_object(), *vip, *svc;
	size_t i, j;

	if (!obj || strcmp(s->name, "virtualservice"))
		return out;
	json_array_foreach(json_object_get(obj, "vip"), i, vip)
	{
		json_array_foreach(json_object_get(obj, "services"), j, svc)
		{
			char *k = xasprintf(K_VIP "%s/%lld",
					    str(json_object_get(vip, "ip_address"), "addr"),
					    (long long)json_integer_value(json_object_get(svc, "port")));
			json_object_set_new(out, k, json_true());
			free(k);
		}
	}
	return out;
}

/*
 * The transaction of one change. Its compares are exactly what the rules
 * read from the cache: the changed object unchanged since (If-Match, and
 * read-merge-write of PUT and PATCH), a new name free, each referenced
 * object unchanged (so still there under that name), no referrer of a
 * deleted or renamed object, each new VIP:port free. Two nodes racing on any
 * of these: etcd runs the transactions one after the other, and the second
 * one's compares fail.
 */
static int et_write(struct cfg_store *st, const struct cfg_schema *s, json_t *obj,
		    const json_t *old, uint64_t *ret_wait_rev, char **ret_err)
{
	struct etcd_store *es = st->impl;
	struct txn t = {json_array(), json_array(), json_object()};
	const json_t *cur = obj ? obj : old;
	const char *uuid = str(cur, "uuid"), *tenant = str(cur, "tenant_ref");
	json_t *orefs = refs_of(s, old, &st->cache), *nrefs = refs_of(s, obj, &st->cache);
	json_t *ovips = vips_of(s, old), *nvips = vips_of(s, obj), *v, *req, *a = NULL;
	bool renamed = old && obj && strcmp(str(old, "name"), str(obj, "name"));
	char *k;
	const char *key;
	int r;

	if (old) {
		k = xasprintf(K_OBJ "%s", uuid);
		cmp(&t, k, false, json_integer_value(json_object_get(old, "_rev")));
		free(k);
	}
	if (!old || renamed) {
		k = xasprintf(K_NAME "%s/%s/%s", s->name, tenant, str(obj, "name"));
		cmp(&t, k, false, 0);
		put(&t, k, uuid);
		free(k);
	}
	if (!obj) {
		/* References hold uuids: only a delete needs no referrer. */
		k = xasprintf(K_REF "%s/", uuid);
		cmp(&t, k, true, 0);
		free(k);
	}
	if (!obj || renamed) {
		k = xasprintf(K_NAME "%s/%s/%s", s->name, tenant, str(old, "name"));
		del(&t, k);
		free(k);
	}
	json_object_foreach(nrefs, key, v)
	{
		k = xasprintf(K_OBJ "%s", str(v, "uuid"));
		cmp(&t, k, false, json_integer_value(json_object_get(v, "_rev")));
		free(k);
		if (!json_object_get(orefs, key))
			put(&t, key, "");
	}
	json_object_foreach(orefs, key, v) if (!json_object_get(nrefs, key)) del(&t, key);
	json_object_foreach(nvips, key, v) if (!json_object_get(ovips, key))
	{
		cmp(&t, key, false, 0);
		put(&t, key, uuid);
	}
	json_object_foreach(ovips, key, v) if (!json_object_get(nvips, key)) del(&t, key);
	k = xasprintf(K_OBJ "%s", uuid);
	if (obj) {
		json_t *body = json_deep_copy(obj);
		char *text;

		json_object_del(body, "_id");
		json_object_del(body, "_rev");
		text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
		put(&t, k, text);
		free(text);
		json_decref(body);
	} else {
		del(&t, k);
	}
	free(k);
	req = json_pack("{s:o, s:o, s:[]}", "compare", t.compare, "success", t.success, "failure");
	/* The compares hold the rules now, not the lock: reads and the watch
	 * go on while the cluster commits (or hangs until the call times out). */
	pthread_mutex_unlock(&st->lock);
	r = cfg_etcd_call(es->e, "/v3/kv/txn", req, &a, ret_err);
	pthread_mutex_lock(&st->lock);
	if (r == 0) {
		*ret_wait_rev = (uint64_t)cfg_etcd_int(
			json_object_get(json_object_get(a, "header"), "revision"));
		if (!json_is_true(json_object_get(a, "succeeded")))
			r = -ECANCELED;
	}
	json_decref(a);
	json_decref(req);
	json_decref(t.keys);
	json_decref(orefs);
	json_decref(nrefs);
	json_decref(ovips);
	json_decref(nvips);
	return r;
}

static void et_close(struct cfg_store *st)
{
	struct etcd_store *es = st->impl;

	atomic_store(&es->stop, true);
	if (es->started)
		pthread_join(es->watcher, NULL);
	cfg_etcd_free(es->e);
	pthread_mutex_destroy(&es->why_lock);
	free(es->why);
	free(es);
}

static const struct cfg_store_ops etcd_ops = {
	.kind = "etcd",
	.begin = et_begin,
	.write = et_write,
	.abort = et_abort,
	.close = et_close,
};

int cfg_store_etcd_open(const char *endpoints, const struct cfg_store_tls *tls,
			struct cfg_store **ret, char **ret_err)
{
	struct etcd_store *es = xcalloc(1, sizeof(*es));
	struct cfg_store *st;
	struct cfg_cache c;
	uint64_t rev = 0;
	char *why = NULL;
	int r, tries;

	pthread_mutex_init(&es->why_lock, NULL);
	r = cfg_etcd_new(endpoints, tls, &es->e, ret_err);
	if (r < 0) {
		pthread_mutex_destroy(&es->why_lock);
		free(es);
		return r;
	}
	st = cfg_store_new(&etcd_ops, es, cfg_etcd_where(es->e));
	st->etcd = es->e;
	es->st = st;
	/* A cluster that is still electing its leader answers in a moment. */
	for (tries = 0; (r = load_all(es, &c, &rev, &why)) == -EAGAIN && tries < OPEN_WAIT_S * 2;
	     tries++) {
		free(why);
		why = NULL;
		usleep(500 * 1000);
	}
	if (r < 0) {
		*ret_err = xasprintf("config store %s: %s; start refused", cfg_etcd_where(es->e), why);
		free(why);
		cfg_store_close(st);
		return r;
	}
	cfg_cache_free(&st->cache);
	st->cache = c;
	st->rev = st->told = rev;
	if (pthread_create(&es->watcher, NULL, watch_main, es) != 0) {
		*ret_err = xasprintf("config store %s: cannot start the watch thread",
				     cfg_etcd_where(es->e));
		cfg_store_close(st);
		return -EAGAIN;
	}
	es->started = true;
	/* Changes are checked against a cache the watch keeps current: the
	 * store is ready once the watch is. */
	for (tries = 0; !atomic_load(&es->watching) && tries < OPEN_WAIT_S * 20; tries++)
		usleep(50 * 1000);
	*ret = st;
	return 0;
}

bool cfg_store_following(struct cfg_store *st, char **ret_why)
{
	struct etcd_store *es;

	if (!st->etcd)
		return true;
	es = st->impl;
	if (atomic_load(&es->watching))
		return true;
	pthread_mutex_lock(&es->why_lock);
	if (ret_why)
		*ret_why = xstrdup(es->why ? es->why : "not following the cluster yet");
	pthread_mutex_unlock(&es->why_lock);
	return false;
}

void cfg_store_reconnect(struct cfg_store *st)
{
	if (st->etcd)
		atomic_store(&((struct etcd_store *)st->impl)->reconnect, true);
}
