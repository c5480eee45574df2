/* store.c: the configuration store's front, the same for SQLite and etcd: reads from the cache, and every change as read, merge, check, write. */
#include "config/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "config/cache.h"
#include "config/patch.h"
#include "config/rules.h"
#include "config/schema.h"
#include "config/store_int.h"
#include "lib/util.h"

/* Times a change is run again when another node changed what its rules read
 * (etcd): each retry first catches up, so only a steady stream of competing
 * changes to the same objects exhausts them. */
#define CHANGE_ATTEMPTS 8
/* How long a change waits for the store's feed to show a revision. */
#define FEED_WAIT_MS 5000

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

struct cfg_store *cfg_store_new(const struct cfg_store_ops *ops, void *impl, const char *where)
{
	struct cfg_store *st = xcalloc(1, sizeof(*st));
	pthread_condattr_t ca;

	st->ops = ops;
	st->impl = impl;
	st->where = xstrdup(where);
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->fed, &ca);
	pthread_condattr_destroy(&ca);
	cfg_cache_init(&st->cache);
	return st;
}

/*
 * Built-in objects (Default-Group, vrfcontext global) are always there. On
 * etcd another node may create one at the same moment: its name is then
 * taken, which is as good.
 */
static int builtins(struct cfg_store *st, char **ret_err)
{
	for (size_t i = 0; i < cfg_rules_builtin_count(); i++) {
		const char *type = NULL;
		json_t *b = cfg_rules_builtin(i, &type), *made = NULL;
		char *why = NULL;
		int r = 0;

		pthread_mutex_lock(&st->lock);
		bool have = cfg_cache_find_name(&st->cache, cfg_type_find(type), "admin",
						json_string_value(json_object_get(b, "name")));
		pthread_mutex_unlock(&st->lock);
		if (!have)
			r = cfg_create(st, type, "admin", b, &made, &why);
		json_decref(b);
		json_decref(made);
		if (r < 0 && r != -EEXIST) {
			*ret_err = xasprintf("config store %s: cannot create the built-in %s: %s",
					     st->where, type, why);
			free(why);
			return r == -EAGAIN ? r : -EIO;
		}
		free(why);
	}
	return 0;
}

/*
 * Rows written before references held uuids name their targets: at open each
 * such reference is rewritten to its target's uuid, so every reader after
 * sees one form. A reference that names nothing (only a store edited by hand
 * has one) is left as it is, and lookups by name still find it.
 */
static bool wait_fed(struct cfg_store *st, uint64_t rev);

static int migrate_refs(struct cfg_store *st, char **ret_err)
{
	int r = 0;

	for (size_t t = 0; cfg_types[t] && r == 0; t++) {
		const struct cfg_schema *s = cfg_types[t];
		json_t *list;

		pthread_mutex_lock(&st->lock);
		list = json_deep_copy(cfg_cache_list(&st->cache, s));
		pthread_mutex_unlock(&st->lock);
		for (size_t i = 0; i < json_array_size(list) && r == 0; i++) {
			json_t *o = json_array_get(list, i), *c = json_deep_copy(o);
			uint64_t wait = 0;
			char *why = NULL;

			pthread_mutex_lock(&st->lock);
			if (cfg_rules_canon_refs(s, c, str(o, "tenant_ref"), &st->cache, &why) == 0 &&
			    !json_equal(c, o)) {
				r = st->ops->begin(st, ret_err);
				if (r == 0)
					r = st->ops->write(st, s, c, o, &wait, ret_err);
				if (r == 0 && !wait)
					cfg_cache_put(&st->cache, s, c, o);
				else if (r == 0)
					wait_fed(st, wait);
				if (r < 0) {
					char *e = *ret_err;
					*ret_err = xasprintf("config store %s: migrating the references "
							     "of %s '%s': %s",
							     st->where, s->name, str(o, "name"), e);
					free(e);
				}
			}
			pthread_mutex_unlock(&st->lock);
			free(why);
			json_decref(c);
		}
		json_decref(list);
	}
	return r;
}

/* Opens with @open, then makes sure of the built-in objects and brings old
 * rows to today's references. */
static int opened(int r, struct cfg_store **ret, char **ret_err)
{
	if (r < 0)
		return r;
	/* Built-ins first: an old row's defaults may name one (se_group_ref). */
	r = builtins(*ret, ret_err);
	if (r == 0)
		r = migrate_refs(*ret, ret_err);
	if (r < 0) {
		cfg_store_close(*ret);
		return r;
	}
	if (strcmp((*ret)->ops->kind, "sqlite") == 0)
		(*ret)->rev = 0; /* revisions count the users' commits */
	return 0;
}

int cfg_store_open(const char *path, struct cfg_store **ret, char **ret_err)
{
	return opened(cfg_store_sqlite_open(path, ret, ret_err), ret, ret_err);
}

int cfg_store_open_spec(const char *spec, const struct cfg_store_tls *tls, struct cfg_store **ret,
			char **ret_err)
{
	if (strncmp(spec, "sqlite:", 7) == 0 && spec[7])
		return cfg_store_open(spec + 7, ret, ret_err);
	if (strncmp(spec, "etcd://", 7) == 0 && spec[7])
		return opened(cfg_store_etcd_open(spec + 7, tls, ret, ret_err), ret, ret_err);
	*ret_err = xasprintf("--store: invalid value '%s' (sqlite:PATH or "
			     "etcd://HOST:PORT[,HOST:PORT...])",
			     spec);
	return -EINVAL;
}

const char *cfg_store_kind(const struct cfg_store *st)
{
	return st->ops->kind;
}

struct cfg_etcd *cfg_store_etcd(struct cfg_store *st)
{
	return st ? st->etcd : NULL;
}

void cfg_store_close(struct cfg_store *st)
{
	if (!st)
		return;
	st->ops->close(st);
	cfg_cache_free(&st->cache);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->fed);
	free(st->where);
	free(st);
}

void cfg_store_set_listener(struct cfg_store *st, cfg_change_fn fn, void *ctx)
{
	pthread_mutex_lock(&st->lock);
	st->listener = fn;
	st->listener_ctx = ctx;
	/* The old listener may be running on another thread: its owner may
	 * free what it uses once this returns. */
	while (st->notifying)
		pthread_cond_wait(&st->fed, &st->lock);
	pthread_mutex_unlock(&st->lock);
}

/*
 * Tells the listener of a change; called with the lock held, which it drops
 * during the call. The call is counted, so that cfg_store_set_listener()
 * can wait for it.
 */
static void notify(struct cfg_store *st, const char *type, enum cfg_op op, const json_t *obj,
		   uint64_t rev)
{
	cfg_change_fn fn = st->listener;
	void *ctx = st->listener_ctx;

	if (!fn)
		return;
	st->notifying++;
	pthread_mutex_unlock(&st->lock);
	fn(ctx, type, op, obj, rev);
	pthread_mutex_lock(&st->lock);
	st->notifying--;
	pthread_cond_broadcast(&st->fed);
}

/* Waits (lock held) until the cache shows revision @rev and the listener
 * has been told (the change is applied, as SQLite's is before its answer),
 * or FEED_WAIT_MS pass. Returns whether it is. */
static bool wait_fed(struct cfg_store *st, uint64_t rev)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += FEED_WAIT_MS / 1000;
	while (st->told < rev)
		if (pthread_cond_timedwait(&st->fed, &st->lock, &until) != 0)
			break;
	return st->told >= rev;
}

void cfg_store_feed(struct cfg_store *st, json_t *obj, const char *gone_uuid, uint64_t rev)
{
	const struct cfg_schema *s;
	json_t *old, *told = NULL;

	pthread_mutex_lock(&st->lock);
	old = json_object_get(st->cache.by_uuid, obj ? str(obj, "uuid") : gone_uuid);
	s = cfg_rules_type_of(obj ? obj : old);
	if (s && obj) {
		cfg_cache_put(&st->cache, s, obj, old);
		told = json_incref(obj);
	} else if (s && old) {
		told = json_incref(old);
		cfg_cache_remove(&st->cache, s, old);
	}
	if (rev > st->rev)
		st->rev = rev;
	pthread_cond_broadcast(&st->fed);
	if (told)
		notify(st, s->name, obj ? (old ? CFG_OP_UPDATE : CFG_OP_CREATE) : CFG_OP_DELETE, told,
		       rev);
	if (rev > st->told)
		st->told = rev;
	pthread_cond_broadcast(&st->fed);
	pthread_mutex_unlock(&st->lock);
	json_decref(told);
}

void cfg_store_feed_all(struct cfg_store *st, struct cfg_cache *fresh, uint64_t rev)
{
	pthread_mutex_lock(&st->lock);
	cfg_cache_free(&st->cache);
	st->cache = *fresh;
	/* Every type changed: the next snapshot is built whole. */
	for (size_t i = 0; i < CFG_MAX_TYPES; i++)
		st->cache.dirty[i] = true;
	if (rev > st->rev)
		st->rev = rev;
	pthread_cond_broadcast(&st->fed);
	notify(st, NULL, CFG_OP_UPDATE, NULL, rev);
	if (rev > st->told)
		st->told = rev;
	pthread_cond_broadcast(&st->fed);
	pthread_mutex_unlock(&st->lock);
}

/* Returns a copy of @o without secret fields and "_id". */
static json_t *public_view(const struct cfg_schema *s, const json_t *o)
{
	json_t *c = json_deep_copy(o);

	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].flags & CFG_F_SECRET)
			json_object_del(c, s->fields[i].name);
	json_object_del(c, "_id");
	json_object_del(c, "_rev");
	return c;
}

static const struct cfg_schema *type_or_err(const char *type, char **ret_err)
{
	const struct cfg_schema *s = cfg_type_find(type);

	if (!s)
		*ret_err = xasprintf("unknown object type '%s'", type ? type : "");
	return s;
}

static const char *tenant_of(const char *tenant)
{
	return tenant && *tenant ? tenant : "admin";
}

int cfg_list_filtered(struct cfg_store *st, const char *type, const char *tenant,
		      const struct cfg_filter *f, json_t **ret, size_t *ret_count, char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	bool any = false;
	size_t i, n = 0;
	json_t *out, *o;

	if (!s)
		return -ENOENT;
	tenant = tenant_of(tenant);
	any = strcmp(tenant, "*") == 0;
	if ((s->flags & CFG_T_SHARED) && !any)
		tenant = "admin"; /* seen from every tenant */
	out = json_array();
	pthread_mutex_lock(&st->lock);
	if (f->name && !any) {
		/* The exact name: at most one object, found without a scan. */
		o = cfg_cache_find_name(&st->cache, s, tenant, f->name);
		if (o && f->offset == 0)
			json_array_append_new(out, public_view(s, o));
		n = o ? 1 : 0;
	} else {
		json_array_foreach(cfg_cache_list(&st->cache, s), i, o)
		{
			if ((!any && strcmp(str(o, "tenant_ref"), tenant)) ||
			    (f->name && strcmp(str(o, "name"), f->name)))
				continue;
			if (n >= f->offset && (!f->limit || n - f->offset < f->limit))
				json_array_append_new(out, public_view(s, o));
			n++;
		}
	}
	pthread_mutex_unlock(&st->lock);
	*ret = out;
	if (ret_count)
		*ret_count = n;
	return 0;
}

int cfg_list(struct cfg_store *st, const char *type, const char *tenant, json_t **ret,
	     char **ret_err)
{
	const struct cfg_filter all = {0};

	return cfg_list_filtered(st, type, tenant, &all, ret, NULL, ret_err);
}

int cfg_get(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	    json_t **ret, char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *o;

	if (!s)
		return -ENOENT;
	pthread_mutex_lock(&st->lock);
	o = key ? cfg_cache_find(&st->cache, s, key, tenant_of(tenant)) : NULL;
	if (o)
		*ret = public_view(s, o);
	pthread_mutex_unlock(&st->lock);
	if (!o) {
		*ret_err = xasprintf("%s '%s' not found", s->name, key ? key : "");
		return -ENOENT;
	}
	return 0;
}

static char *timestamp_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return xasprintf("%lld", (long long)tv.tv_sec * 1000000 + tv.tv_usec);
}

/* A body's tenant_ref must be the request's tenant: objects never move
 * between tenants, and a body cannot reach into another one. */
static int check_tenant(const json_t *body, const char *tenant, char **ret_err)
{
	const json_t *t = json_object_get(body, "tenant_ref");
	char *shown;

	if (strcmp(tenant, "*") == 0) {
		*ret_err = xasprintf("tenant '*' (every tenant) is for reading only: name the "
				     "tenant of the change");
		return -EINVAL;
	}
	if (!t || (json_is_string(t) && strcmp(json_string_value(t), tenant) == 0))
		return 0;
	shown = json_short(t);
	*ret_err = xasprintf("tenant_ref: %s is not the tenant of the request ('%s')", shown, tenant);
	free(shown);
	return -EINVAL;
}

/* Whether @if_match (an HTTP entity tag: quotes and W/ allowed, "*" for any)
 * names the version @old. */
static bool matches(const char *if_match, const json_t *old)
{
	const char *lm = str(old, "_last_modified");
	size_t n;

	if (!strncmp(if_match, "W/", 2))
		if_match += 2;
	if (strcmp(if_match, "*") == 0)
		return true;
	n = strlen(if_match);
	if (n >= 2 && if_match[0] == '"' && if_match[n - 1] == '"')
		return strlen(lm) == n - 2 && strncmp(if_match + 1, lm, n - 2) == 0;
	return strcmp(if_match, lm) == 0;
}

/* The new version of @old (NULL on create) that @body asks for. New reference. */
static json_t *merge(const struct cfg_schema *s, const json_t *old, const json_t *body, bool patch)
{
	json_t *obj, *v;
	const char *k;

	if (!old)
		return json_deep_copy(body);
	if (patch) {
		obj = json_deep_copy(old);
		/* The etcd store's mod_revision of the old version is not a field. */
		json_object_del(obj, "_rev");
		json_object_foreach((json_t *)body, k, v) json_object_set(obj, k, v);
		return obj;
	}
	obj = json_deep_copy(body);
	/* Write-only fields cannot round-trip through GET: keep them. */
	for (size_t i = 0; i < s->nfields; i++) {
		const char *f = s->fields[i].name;
		if ((s->fields[i].flags & CFG_F_SECRET) && !json_object_get(obj, f) &&
		    json_object_get(old, f))
			json_object_set(obj, f, json_object_get(old, f));
	}
	if (!json_object_get(obj, "name"))
		json_object_set(obj, "name", json_object_get(old, "name"));
	return obj;
}

/* The reference product's PATCH ({"add"|"replace"|"delete": {...}}) of
 * @old: its references are resolved first, so "delete" matches elements
 * whatever form names them. */
static int patch_ops(struct cfg_store *st, const struct cfg_schema *s, const json_t *old,
		     const json_t *body, const char *tenant, json_t **ret, char **ret_err)
{
	const char *op = NULL;
	json_t *fields = NULL;
	char *why = NULL;
	int r = cfg_patch_form(body, &op, &fields, ret_err);

	if (r < 0)
		return r;
	fields = json_deep_copy(fields);
	r = cfg_rules_canon_refs(s, fields, tenant, &st->cache, &why);
	if (r < 0) {
		*ret_err = xasprintf("%s.%s", op, why);
		free(why);
	} else {
		r = cfg_patch_apply(s, old, op, fields, ret, ret_err);
	}
	json_decref(fields);
	return r;
}

/* Writes to a CFG_T_READONLY type are refused: -EOPNOTSUPP (405). */
static int read_only(const struct cfg_schema *s, const char *method, char **ret_err)
{
	*ret_err = xasprintf("%s is read-only: method %s is not allowed (%s)", s->name, method,
			     s->help);
	return -EOPNOTSUPP;
}

/*
 * Create (@key NULL), replace, patch (@obj_body) or delete (@body NULL,
 * @del): the whole read, merge, check, write sequence runs under the lock and
 * in one transaction of the store, so two clients changing one object never
 * undo each other. On etcd the transaction's compares hold what the rules
 * read; when another node changed it, the cache catches up and the change
 * runs again, so its answer is the one the rules give on the current state.
 */
static int change(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		  const char *if_match, const json_t *body, bool patch, bool del, json_t **ret,
		  char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *old = NULL, *obj = NULL;
	uint64_t rev = 0, wait = 0;
	int r = 0, attempt;

	if (!s)
		return -ENOENT;
	if (s->flags & CFG_T_READONLY)
		return read_only(s, del ? "DELETE" : key ? (patch ? "PATCH" : "PUT") : "POST",
				 ret_err);
	if (!del && !json_is_object(body)) {
		*ret_err = xasprintf("request body: expected a JSON object");
		return -EINVAL;
	}
	tenant = tenant_of(tenant);
	r = check_tenant(body, tenant, ret_err);
	if (r < 0)
		return r;
	for (attempt = 1;; attempt++) {
		pthread_mutex_lock(&st->lock);
		r = st->ops->begin(st, ret_err);
		if (r < 0) {
			pthread_mutex_unlock(&st->lock);
			return r;
		}
		if (key) {
			old = json_incref(cfg_cache_find(&st->cache, s, key, tenant));
			if (!old) {
				*ret_err = xasprintf("%s '%s' not found", s->name, key);
				r = -ENOENT;
			} else if (if_match && !matches(if_match, old)) {
				*ret_err = xasprintf("If-Match: %s '%s' changed since %s (its "
						     "_last_modified is now '%s'): read it again",
						     s->name, key, if_match, str(old, "_last_modified"));
				r = -ESTALE;
			}
		}
		if (r == 0 && del) {
			r = cfg_rules_unreferenced(s, old, &st->cache, ret_err);
		} else if (r == 0) {
			if (patch && cfg_patch_is_ops(body))
				r = patch_ops(st, s, old, body, tenant, &obj, ret_err);
			else
				obj = merge(s, old, body, patch);
		}
		if (r == 0 && !del) {
			/* Bodies in the shapes of earlier versions still work. */
			cfg_rules_upgrade(s, obj);
			if (!json_object_get(obj, "tenant_ref"))
				json_object_set_new(obj, "tenant_ref", json_string(tenant));
			r = cfg_rules_meta(s, obj, old, ret_err);
			if (r == 0)
				r = cfg_check_object(s, obj, true, "", ret_err);
			if (r == 0)
				r = cfg_rules_check(s, obj, old, &st->cache, ret_err);
			if (r == 0) {
				char *ts = timestamp_us();
				json_object_set_new(obj, "_last_modified", json_string(ts));
				free(ts);
			}
		}
		if (r == 0)
			r = st->ops->write(st, s, obj, old, &wait, ret_err);
		else
			st->ops->abort(st);
		if (r == 0 && !wait) {
			if (obj)
				cfg_cache_put(&st->cache, s, obj, old);
			else
				cfg_cache_remove(&st->cache, s, old);
			rev = ++st->rev;
			pthread_cond_broadcast(&st->fed);
			notify(st, s->name,
			       del ? CFG_OP_DELETE : old ? CFG_OP_UPDATE : CFG_OP_CREATE,
			       obj ? obj : old, rev);
		} else if (r == 0 || r == -ECANCELED) {
			/* The store's feed brings this change (or the one it lost
			 * to) into the cache: a GET after the answer shows it. */
			wait_fed(st, wait);
		}
		pthread_mutex_unlock(&st->lock);
		if (r != -ECANCELED || attempt == CHANGE_ATTEMPTS)
			break;
		json_decref(obj);
		json_decref(old);
		obj = old = NULL;
	}
	if (r == -ECANCELED) {
		*ret_err = xasprintf("store unavailable: %s: %s '%s' kept changing on other nodes "
				     "(%d attempts); try again",
				     st->where, s->name, key ? key : str(obj, "name"), attempt);
		r = -EAGAIN;
	}
	if (r == 0) {
		if (ret)
			*ret = public_view(s, obj);
	}
	json_decref(obj);
	json_decref(old);
	return r;
}

int cfg_create(struct cfg_store *st, const char *type, const char *tenant, const json_t *body,
	       json_t **ret, char **ret_err)
{
	return change(st, type, NULL, tenant, NULL, body, false, false, ret, ret_err);
}

int cfg_replace(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		const char *if_match, const json_t *body, json_t **ret, char **ret_err)
{
	return change(st, type, key ? key : "", tenant, if_match, body, false, false, ret, ret_err);
}

int cfg_patch(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	      const char *if_match, const json_t *body, json_t **ret, char **ret_err)
{
	return change(st, type, key ? key : "", tenant, if_match, body, true, false, ret, ret_err);
}

int cfg_delete(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	       char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);

	if (!s)
		return -ENOENT;
	if (s->flags & CFG_T_READONLY)
		return read_only(s, "DELETE", ret_err);
	if (!key) {
		*ret_err = xasprintf("%s '' not found", type);
		return -ENOENT;
	}
	return change(st, type, key, tenant, NULL, NULL, false, true, NULL, ret_err);
}

json_t *cfg_snapshot(struct cfg_store *st, uint64_t *ret_rev)
{
	json_t *snap;

	pthread_mutex_lock(&st->lock);
	snap = cfg_cache_snapshot(&st->cache);
	if (ret_rev)
		*ret_rev = st->rev;
	pthread_mutex_unlock(&st->lock);
	return snap;
}

int cfg_ref_lookup(struct cfg_store *st, const char *type, const char *key, char **ret_uuid,
		   char **ret_name)
{
	const struct cfg_schema *s = cfg_type_find(type);
	const json_t *o;
	int r = -ENOENT;

	if (!s || !key)
		return -ENOENT;
	pthread_mutex_lock(&st->lock);
	o = cfg_cache_find(&st->cache, s, key, "*");
	if (o) {
		if (ret_uuid)
			*ret_uuid = xstrdup(str(o, "uuid"));
		if (ret_name)
			*ret_name = xstrdup(str(o, "name"));
		r = 0;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

const json_t *cfg_snap_find(const json_t *snap, const char *type, const char *tenant,
			    const char *name)
{
	size_t i;
	json_t *o;

	if (!name)
		return NULL;
	json_array_foreach(json_object_get(snap, type), i, o)
	{
		/* A reference holds a uuid: either finds the object. */
		if ((strcmp(str(o, "name"), name) == 0 || strcmp(str(o, "uuid"), name) == 0) &&
		    strcmp(str(o, "tenant_ref"), tenant ? tenant : "admin") == 0)
			return o;
	}
	return NULL;
}
