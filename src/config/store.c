/* store.c: the configuration store: SQLite (WAL), one transaction per change (read, merge, check, write), every rule checked first. */
#include "config/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "config/patch.h"
#include "config/rules.h"
#include "config/schema.h"
#include "config/cache.h"
#include "lib/util.h"

struct cfg_store {
	sqlite3 *db;
	char *path;
	/* One change at a time, and the cache with it: a change reads, merges,
	 * checks and writes under this lock, inside one SQLite transaction. */
	pthread_mutex_t lock;
	struct cfg_cache cache;
	uint64_t rev;              /* commits since open */
	sqlite3_int64 data_version; /* PRAGMA data_version the cache reflects */
	cfg_change_fn listener;
	void *listener_ctx;
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS objects ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" type TEXT NOT NULL, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
	" tenant TEXT NOT NULL, body TEXT NOT NULL,"
	" UNIQUE (type, tenant, name));";

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Reads PRAGMA @pragma's single integer, or -1. */
static sqlite3_int64 pragma_int(sqlite3 *db, const char *pragma)
{
	sqlite3_stmt *q;
	sqlite3_int64 v = -1;

	if (sqlite3_prepare_v2(db, pragma, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* Runs PRAGMA integrity_check and reads its answer: "ok", or up to three of
 * the problems it lists in *ret_err. */
static int integrity(sqlite3 *db, char **ret_err)
{
	sqlite3_stmt *q;
	char *found = NULL;
	int rc, n = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(4)", -1, &q, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("integrity check failed: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(q, 0);
		char *more;

		if (n == 0 && line && strcmp(line, "ok") == 0)
			break;
		if (n++ == 3)
			break;
		more = xasprintf("%s%s%s", found ? found : "", found ? "; " : "", line ? line : "?");
		free(found);
		found = more;
		/* One problem per line in SQLite's answer; one line in ours. */
		for (char *nl = strchr(found, '\n'); nl; nl = strchr(nl, '\n'))
			*nl = ' ';
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE && !found)
		found = xstrdup(sqlite3_errmsg(db));
	sqlite3_finalize(q);
	if (!found)
		return 0;
	*ret_err = xasprintf("integrity check failed: %s", found);
	free(found);
	return -EIO;
}

static int write_row(struct cfg_store *st, const char *type, json_t *obj, long long id,
		     char **ret_err);

/*
 * Rows written before references held uuids name their targets: at open
 * each such reference is rewritten to its target's uuid, all in one
 * transaction, so every reader after sees one form. A reference that names
 * nothing (only a store edited by hand has one) is left as it is: the
 * object's other references are then left too, and lookups by name still
 * find them.
 */
static int migrate_refs(struct cfg_store *st, char **ret_err)
{
	bool began = false;
	int r = 0;

	for (size_t t = 0; cfg_types[t] && r == 0; t++) {
		const struct cfg_schema *s = cfg_types[t];
		const json_t *list = cfg_cache_list(&st->cache, s);

		for (size_t i = 0; i < json_array_size(list) && r == 0; i++) {
			json_t *o = json_array_get(list, i), *c = json_deep_copy(o);
			char *why = NULL;

			if (cfg_rules_canon_refs(s, c, str(o, "tenant_ref"), &st->cache, &why) == 0 &&
			    !json_equal(c, o)) {
				if (!began && sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL,
							   NULL) != SQLITE_OK) {
					*ret_err = xasprintf("migrating references: %s",
							     sqlite3_errmsg(st->db));
					r = -EIO;
				}
				began = true;
				if (r == 0)
					r = write_row(st, s->name, c,
						      (long long)json_integer_value(
							      json_object_get(o, "_id")),
						      ret_err);
				if (r == 0)
					cfg_cache_put(&st->cache, s, c, o);
			}
			free(why);
			json_decref(c);
		}
	}
	if (began && r == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("migrating references: %s", sqlite3_errmsg(st->db));
		r = -EIO;
	}
	if (began && r < 0)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int cfg_store_open(const char *path, struct cfg_store **ret, char **ret_err)
{
	struct cfg_store *st = xcalloc(1, sizeof(*st));
	char *msg = NULL, *why = NULL;

	cfg_cache_init(&st->cache);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
						   SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		why = xstrdup(sqlite3_errmsg(st->db));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/* WAL keeps every committed change across a kill -9; FULL also across power loss. */
	if (sqlite3_exec(st->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
			 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		why = xstrdup(msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		goto fail;
	}
	/* A damaged store is refused whole: serving part of it would silently
	 * drop services, and a later change could overwrite what is left. */
	if (integrity(st->db, &why) < 0 || cfg_cache_load(&st->cache, st->db, &why) < 0 ||
	    migrate_refs(st, &why) < 0)
		goto fail;
	st->data_version = pragma_int(st->db, "PRAGMA data_version");
	st->path = xstrdup(path);
	pthread_mutex_init(&st->lock, NULL);
	*ret = st;
	return 0;
fail:
	*ret_err = xasprintf("config store %s: %s; start refused: the store is damaged or "
			     "unreadable (restore a backup, or repair what is named)",
			     path, why ? why : "?");
	free(why);
	cfg_cache_free(&st->cache);
	sqlite3_close(st->db);
	free(st);
	return -EIO;
}

void cfg_store_close(struct cfg_store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	cfg_cache_free(&st->cache);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

void cfg_store_set_listener(struct cfg_store *st, cfg_change_fn fn, void *ctx)
{
	st->listener = fn;
	st->listener_ctx = ctx;
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

/* Writes @obj (complete, checked) as a new row, setting its "_id", or over
 * row @id (> 0). */
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
		sqlite3_bind_text(q, 2, str(obj, "name"), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, str(obj, "tenant_ref"), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, body, -1, SQLITE_STATIC);
		if (id > 0)
			sqlite3_bind_int64(q, 5, id);
		else
			sqlite3_bind_text(q, 5, str(obj, "uuid"), -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
	}
	free(body);
	if (rc != SQLITE_DONE) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	json_object_set_new(obj, "_id",
			    json_integer(id > 0 ? id : sqlite3_last_insert_rowid(st->db)));
	return 0;
}

/*
 * Starts the transaction of a change; the lock is held. The cache is the
 * store's copy of the rows; should another process have committed to the
 * file meanwhile (PRAGMA data_version moved), it is read again first, so a
 * change is never checked against a stale view.
 */
static int begin(struct cfg_store *st, char **ret_err)
{
	sqlite3_int64 v;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	v = pragma_int(st->db, "PRAGMA data_version");
	if (v != st->data_version) {
		char *why = NULL;
		if (cfg_cache_load(&st->cache, st->db, &why) < 0) {
			*ret_err = xasprintf("config store %s changed under the daemon and no "
					     "longer loads: %s",
					     st->path, why);
			free(why);
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
		st->data_version = v;
	}
	return 0;
}

static int finish(struct cfg_store *st, int r, char **ret_err)
{
	if (r == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: commit failed: %s", sqlite3_errmsg(st->db));
		r = -EIO;
	}
	if (r < 0)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
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
 * Create (@key NULL), replace or patch: the whole read, merge, check, write
 * sequence runs under the lock and in one IMMEDIATE transaction, so two
 * clients changing one object never undo each other.
 */
static int change(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		  const char *if_match, const json_t *body, bool patch, json_t **ret,
		  char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *old = NULL, *obj = NULL;
	uint64_t rev = 0;
	char *ts;
	int r;

	if (!s)
		return -ENOENT;
	if (s->flags & CFG_T_READONLY)
		return read_only(s, key ? (patch ? "PATCH" : "PUT") : "POST", ret_err);
	if (!json_is_object(body)) {
		*ret_err = xasprintf("request body: expected a JSON object");
		return -EINVAL;
	}
	tenant = tenant_of(tenant);
	r = check_tenant(body, tenant, ret_err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&st->lock);
	r = begin(st, ret_err);
	if (r < 0)
		goto out;
	if (key) {
		old = json_incref(cfg_cache_find(&st->cache, s, key, tenant));
		if (!old) {
			*ret_err = xasprintf("%s '%s' not found", s->name, key);
			r = -ENOENT;
			goto done;
		}
		if (if_match && !matches(if_match, old)) {
			*ret_err = xasprintf("If-Match: %s '%s' changed since %s (its _last_modified "
					     "is now '%s'): read it again",
					     s->name, key, if_match, str(old, "_last_modified"));
			r = -ESTALE;
			goto done;
		}
	}
	if (patch && cfg_patch_is_ops(body))
		r = patch_ops(st, s, old, body, tenant, &obj, ret_err);
	else
		obj = merge(s, old, body, patch);
	if (r < 0)
		goto done;
	if (!json_object_get(obj, "tenant_ref"))
		json_object_set_new(obj, "tenant_ref", json_string(tenant));
	r = cfg_rules_meta(s, obj, old, ret_err);
	if (r == 0)
		r = cfg_check_object(s, obj, true, "", ret_err);
	if (r == 0)
		r = cfg_rules_check(s, obj, old, &st->cache, ret_err);
	if (r == 0) {
		ts = timestamp_us();
		json_object_set_new(obj, "_last_modified", json_string(ts));
		free(ts);
		r = write_row(st, s->name, obj,
			      old ? (long long)json_integer_value(json_object_get(old, "_id")) : 0,
			      ret_err);
	}
done:
	r = finish(st, r, ret_err);
	if (r == 0) {
		cfg_cache_put(&st->cache, s, obj, old);
		rev = ++st->rev;
	}
out:
	pthread_mutex_unlock(&st->lock);
	if (r == 0) {
		if (st->listener)
			st->listener(st->listener_ctx, s->name, old ? CFG_OP_UPDATE : CFG_OP_CREATE,
				     obj, rev);
		*ret = public_view(s, obj);
	}
	json_decref(obj);
	json_decref(old);
	return r;
}

int cfg_create(struct cfg_store *st, const char *type, const char *tenant, const json_t *body,
	       json_t **ret, char **ret_err)
{
	return change(st, type, NULL, tenant, NULL, body, false, ret, ret_err);
}

int cfg_replace(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		const char *if_match, const json_t *body, json_t **ret, char **ret_err)
{
	if (!key)
		key = "";
	return change(st, type, key, tenant, if_match, body, false, ret, ret_err);
}

int cfg_patch(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	      const char *if_match, const json_t *body, json_t **ret, char **ret_err)
{
	if (!key)
		key = "";
	return change(st, type, key, tenant, if_match, body, true, ret, ret_err);
}

int cfg_delete(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	       char **ret_err)
{
	const struct cfg_schema *s = type_or_err(type, ret_err);
	json_t *o = NULL;
	sqlite3_stmt *q;
	uint64_t rev = 0;
	int r;

	if (!s)
		return -ENOENT;
	if (s->flags & CFG_T_READONLY)
		return read_only(s, "DELETE", ret_err);
	tenant = tenant_of(tenant);
	if (check_tenant(NULL, tenant, ret_err) < 0)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	r = begin(st, ret_err);
	if (r < 0)
		goto out;
	o = json_incref(key ? cfg_cache_find(&st->cache, s, key, tenant) : NULL);
	if (!o) {
		*ret_err = xasprintf("%s '%s' not found", type, key ? key : "");
		r = -ENOENT;
		goto done;
	}
	r = cfg_rules_unreferenced(s, o, &st->cache, ret_err);
	if (r < 0)
		goto done;
	r = -EIO;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM objects WHERE id = ?1", -1, &q, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(q, 1, json_integer_value(json_object_get(o, "_id")));
		r = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_finalize(q);
	}
	if (r < 0)
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(st->db));
done:
	r = finish(st, r, ret_err);
	if (r == 0) {
		cfg_cache_remove(&st->cache, s, o);
		rev = ++st->rev;
	}
out:
	pthread_mutex_unlock(&st->lock);
	if (r == 0 && st->listener)
		st->listener(st->listener_ctx, s->name, CFG_OP_DELETE, o, rev);
	json_decref(o);
	return r;
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
		if (strcmp(str(o, "name"), name) == 0 &&
		    strcmp(str(o, "tenant_ref"), tenant ? tenant : "admin") == 0)
			return o;
	}
	return NULL;
}
