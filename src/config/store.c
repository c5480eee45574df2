/* store.c: the configuration store: SQLite (WAL), one transaction per change, every rule checked first. */
#include "config/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "config/rules.h"
#include "config/schema.h"
#include "lib/util.h"

struct cfg_store {
	sqlite3 *db;
	pthread_mutex_t lock; /* one change at a time; readers share the connection */
	cfg_change_fn listener;
	void *listener_ctx;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS objects ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" type TEXT NOT NULL, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
	" tenant TEXT NOT NULL, body TEXT NOT NULL,"
	" UNIQUE (type, tenant, name));";

int cfg_store_open(const char *path, struct cfg_store **ret, char **ret_err)
{
	struct cfg_store *st = xcalloc(1, sizeof(*st));
	char *msg = NULL;

	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
						   SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store %s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/* WAL keeps every committed change across a kill -9; FULL also across power loss. */
	if (sqlite3_exec(st->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
			 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		*ret_err = xasprintf("config store %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	if (sqlite3_exec(st->db, "PRAGMA quick_check;", NULL, NULL, &msg) != SQLITE_OK) {
		*ret_err = xasprintf("config store %s: integrity check failed: %s", path,
				     msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	pthread_mutex_init(&st->lock, NULL);
	*ret = st;
	return 0;
fail:
	sqlite3_close(st->db);
	free(st);
	return -EIO;
}

void cfg_store_close(struct cfg_store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void cfg_store_set_listener(struct cfg_store *st, cfg_change_fn fn, void *ctx)
{
	st->listener = fn;
	st->listener_ctx = ctx;
}

/* Loads every object of @type (NULL: all types) in @tenant (NULL: all), as
 * parsed bodies with "_id" set, in creation order. */
static json_t *load(struct cfg_store *st, const char *type, const char *tenant)
{
	sqlite3_stmt *q;
	json_t *out = json_array();

	if (sqlite3_prepare_v2(st->db,
			       "SELECT id, body FROM objects WHERE (?1 IS NULL OR type = ?1)"
			       " AND (?2 IS NULL OR tenant = ?2) ORDER BY id",
			       -1, &q, NULL) != SQLITE_OK)
		return out;
	sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, tenant, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *o = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
		if (!o)
			continue;
		json_object_set_new(o, "_id", json_integer(sqlite3_column_int64(q, 0)));
		json_array_append_new(out, o);
	}
	sqlite3_finalize(q);
	return out;
}

/* Finds @key (uuid, or name within @tenant) among @objs. Borrowed or NULL. */
static json_t *find(json_t *objs, const char *key, const char *tenant)
{
	size_t i;
	json_t *o;

	json_array_foreach(objs, i, o)
	{
		if (strcmp(json_string_value(json_object_get(o, "uuid")), key) == 0)
			return o;
	}
	json_array_foreach(objs, i, o)
	{
		if (strcmp(json_string_value(json_object_get(o, "name")), key) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "tenant_ref")), tenant) == 0)
			return o;
	}
	return NULL;
}

/* Returns a copy of @o without secret fields and "_id". */
static json_t *public_view(const struct cfg_schema *s, const json_t *o)
{
	json_t *c = json_deep_copy(o);

	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].flags & CFG_F_SECRET)
			json_object_del(c, s->fields[i].name);
	json_object_del(c, "_id");
	return c;
}

static const struct cfg_schema *type_or_err(const char *type, char **ret_err)
{
	const struct cfg_schema *s = cfg_type_find(type);

	if (!s)
		*ret_err = xasprintf("unknown object type '%s'", type ? type : "");
	return s;
}

int cfg_list(struct cfg_store *st, const char *type, const char *tenant, json_t **ret,
	     char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *all, *out, *o;
	size_t i;

	if (!s)
		return -ENOENT;
	pthread_mutex_lock(&st->lock);
	all = load(st, type, tenant && strcmp(tenant, "*") ? tenant : NULL);
	pthread_mutex_unlock(&st->lock);
	out = json_array();
	json_array_foreach(all, i, o) json_array_append_new(out, public_view(s, o));
	json_decref(all);
	*ret = out;
	return 0;
}

static char *timestamp_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return xasprintf("%lld", (long long)tv.tv_sec * 1000000 + tv.tv_usec);
}

/* Writes @obj (complete, checked) as a new row or over row @id (> 0). */
static int write_row(struct cfg_store *st, const char *type, json_t *obj, long long id,
		     char **ret_err)
{
	sqlite3_stmt *q;
	char *body;
	int rc;

	json_object_del(obj, "_id");
	body = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	rc = sqlite3_prepare_v2(st->db,
				id > 0 ? "UPDATE objects SET name = ?2, tenant = ?3, body = ?4 "
					 "WHERE id = ?5"
				       : "INSERT INTO objects (type, name, tenant, body, uuid) "
					 "VALUES (?1, ?2, ?3, ?4, ?5)",
				-1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, json_string_value(json_object_get(obj, "name")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(q, 3, json_string_value(json_object_get(obj, "tenant_ref")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(q, 4, body, -1, SQLITE_STATIC);
		if (id > 0)
			sqlite3_bind_int64(q, 5, id);
		else
			sqlite3_bind_text(q, 5, json_string_value(json_object_get(obj, "uuid")), -1,
					  SQLITE_STATIC);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
	}
	free(body);
	if (rc != SQLITE_DONE) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}

/*
 * The shared path of create, replace and patch: @obj is the complete new
 * object; @old the stored one (NULL on create). Checks meta fields, the
 * schema, and the cross-object rules, then writes it in one transaction.
 */
static int commit(struct cfg_store *st, const struct cfg_schema *s, json_t *obj, json_t *old,
		  json_t **ret, char **ret_err)
{
	json_t *snap = NULL;
	char *ts;
	int r;

	r = cfg_rules_meta(s, obj, old, ret_err);
	if (r < 0)
		return r;
	r = cfg_check_object(s, obj, true, "", ret_err);
	if (r < 0)
		return r;

	pthread_mutex_lock(&st->lock);
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
		r = -EIO;
		goto out;
	}
	snap = load(st, NULL, NULL);
	r = cfg_rules_check(s, obj, old, snap, ret_err);
	if (r < 0)
		goto rollback;
	ts = timestamp_us();
	json_object_set_new(obj, "_last_modified", json_string(ts));
	free(ts);
	r = write_row(st, s->name, obj,
		      old ? (long long)json_integer_value(json_object_get(old, "_id")) : 0,
		      ret_err);
	if (r < 0)
		goto rollback;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: commit failed: %s", sqlite3_errmsg(st->db));
		r = -EIO;
		goto rollback;
	}
	pthread_mutex_unlock(&st->lock);
	json_decref(snap);
	if (st->listener)
		st->listener(st->listener_ctx, s->name, old ? CFG_OP_UPDATE : CFG_OP_CREATE, obj);
	*ret = public_view(s, obj);
	return 0;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&st->lock);
	json_decref(snap);
	return r;
}

/* Loads the stored object @key (uuid, or name in @tenant) as a new reference. */
static int load_one(struct cfg_store *st, const struct cfg_schema *s, const char *key,
		    const char *tenant, json_t **ret_old, char **ret_err)
{
	json_t *all, *o;

	pthread_mutex_lock(&st->lock);
	all = load(st, s->name, NULL);
	pthread_mutex_unlock(&st->lock);
	o = find(all, key, tenant ? tenant : "admin");
	if (!o) {
		*ret_err = xasprintf("%s '%s' not found", s->name, key);
		json_decref(all);
		return -ENOENT;
	}
	*ret_old = json_incref(o);
	json_decref(all);
	return 0;
}

int cfg_get(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	    json_t **ret, char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *o = NULL;
	int r;

	if (!s)
		return -ENOENT;
	r = load_one(st, s, key, tenant, &o, ret_err);
	if (r < 0)
		return r;
	*ret = public_view(s, o);
	json_decref(o);
	return 0;
}

/* A body must be a JSON object before anything is looked at. */
static int check_body(const json_t *body, char **ret_err)
{
	if (json_is_object(body))
		return 0;
	*ret_err = xasprintf("request body: expected a JSON object");
	return -EINVAL;
}

int cfg_create(struct cfg_store *st, const char *type, const json_t *body, json_t **ret,
	       char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *obj;
	int r;

	if (!s)
		return -ENOENT;
	if (check_body(body, ret_err) < 0)
		return -EINVAL;
	obj = json_deep_copy(body);
	r = commit(st, s, obj, NULL, ret, ret_err);
	json_decref(obj);
	return r;
}

static int update(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		  const json_t *body, bool patch, json_t **ret, char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *old = NULL, *obj;
	const char *k;
	json_t *v;
	int r;

	if (!s)
		return -ENOENT;
	if (check_body(body, ret_err) < 0)
		return -EINVAL;
	r = load_one(st, s, key, tenant, &old, ret_err);
	if (r < 0)
		return r;
	if (patch) {
		obj = json_deep_copy(old);
		json_object_foreach((json_t *)body, k, v) json_object_set(obj, k, v);
	} else {
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
		if (!json_object_get(obj, "tenant_ref"))
			json_object_set(obj, "tenant_ref", json_object_get(old, "tenant_ref"));
	}
	r = commit(st, s, obj, old, ret, ret_err);
	json_decref(obj);
	json_decref(old);
	return r;
}

int cfg_replace(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		const json_t *body, json_t **ret, char **ret_err)
{
	return update(st, type, key, tenant, body, false, ret, ret_err);
}

int cfg_patch(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	      const json_t *body, json_t **ret, char **ret_err)
{
	return update(st, type, key, tenant, body, true, ret, ret_err);
}

int cfg_delete(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	       char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *snap = NULL, *o;
	sqlite3_stmt *q;
	int r;

	if (!s)
		return -ENOENT;
	pthread_mutex_lock(&st->lock);
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
		r = -EIO;
		goto out;
	}
	snap = load(st, NULL, NULL);
	{
		json_t *of_type = json_array(), *x;
		size_t i;
		json_array_foreach(snap, i, x) if (cfg_rules_type_of(x) == s) json_array_append(of_type, x);
		o = json_incref(find(of_type, key, tenant ? tenant : "admin"));
		json_decref(of_type);
	}
	if (!o) {
		*ret_err = xasprintf("%s '%s' not found", type, key);
		r = -ENOENT;
		goto rollback;
	}
	r = cfg_rules_unreferenced(s, o, snap, ret_err);
	if (r < 0) {
		json_decref(o);
		goto rollback;
	}
	if (sqlite3_prepare_v2(st->db, "DELETE FROM objects WHERE id = ?1", -1, &q, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(q, 1, json_integer_value(json_object_get(o, "_id")));
		r = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_finalize(q);
	} else {
		r = -EIO;
	}
	if (r < 0 || sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
		r = -EIO;
		json_decref(o);
		goto rollback;
	}
	pthread_mutex_unlock(&st->lock);
	json_decref(snap);
	if (st->listener)
		st->listener(st->listener_ctx, s->name, CFG_OP_DELETE, o);
	json_decref(o);
	return 0;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&st->lock);
	json_decref(snap);
	return r;
}

json_t *cfg_snapshot(struct cfg_store *st)
{
	json_t *snap = json_object(), *all, *o;
	size_t i;

	for (i = 0; cfg_types[i]; i++)
		json_object_set_new(snap, cfg_types[i]->name, json_array());
	pthread_mutex_lock(&st->lock);
	all = load(st, NULL, NULL);
	pthread_mutex_unlock(&st->lock);
	json_array_foreach(all, i, o)
	{
		const struct cfg_schema *s = cfg_rules_type_of(o);
		if (s)
			json_array_append(json_object_get(snap, s->name), o);
	}
	json_decref(all);
	return snap;
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
		if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "tenant_ref")),
			   tenant ? tenant : "admin") == 0)
			return o;
	}
	return NULL;
}
