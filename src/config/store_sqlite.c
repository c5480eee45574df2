/* store_sqlite.c: the embedded store of a single SE: SQLite (WAL), one IMMEDIATE transaction per change. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/rules.h"
#include "config/store_int.h"
#include "lib/util.h"

struct sqlite_store {
	sqlite3 *db;
	char *path;
	sqlite3_int64 data_version; /* PRAGMA data_version the cache reflects */
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

/* Replaces @c with every row of @db, each checked; on failure @c is empty. */
static int load_rows(struct cfg_cache *c, sqlite3 *db, char **ret_err)
{
	sqlite3_stmt *q;
	int rc;

	cfg_cache_free(c);
	cfg_cache_init(c);
	if (sqlite3_prepare_v2(db, "SELECT id, type, uuid, name, tenant, body FROM objects ORDER BY id",
			       -1, &q, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("cannot read the objects: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cfg_cache_load_row(c, sqlite3_column_int64(q, 0),
				       (const char *)sqlite3_column_text(q, 1),
				       (const char *)sqlite3_column_text(q, 2),
				       (const char *)sqlite3_column_text(q, 3),
				       (const char *)sqlite3_column_text(q, 4),
				       (const char *)sqlite3_column_text(q, 5), ret_err) < 0) {
			sqlite3_finalize(q);
			cfg_cache_free(c);
			cfg_cache_init(c);
			return -EIO;
		}
	}
	if (rc != SQLITE_DONE) {
		*ret_err = xasprintf("cannot read the objects: %s", sqlite3_errmsg(db));
		sqlite3_finalize(q);
		return -EIO;
	}
	sqlite3_finalize(q);
	return 0;
}

/*
 * Starts the transaction of a change; the lock is held. The cache is the
 * store's copy of the rows; should another process have committed to the
 * file meanwhile (PRAGMA data_version moved), it is read again first, so a
 * change is never checked against a stale view.
 */
static int sq_begin(struct cfg_store *st, char **ret_err)
{
	struct sqlite_store *sq = st->impl;
	sqlite3_int64 v;

	if (sqlite3_exec(sq->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(sq->db));
		return -EIO;
	}
	v = pragma_int(sq->db, "PRAGMA data_version");
	if (v != sq->data_version) {
		char *why = NULL;
		if (load_rows(&st->cache, sq->db, &why) < 0) {
			*ret_err = xasprintf("config store %s changed under the daemon and no "
					     "longer loads: %s",
					     sq->path, why);
			free(why);
			sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
		sq->data_version = v;
	}
	return 0;
}

static void sq_abort(struct cfg_store *st)
{
	sqlite3_exec(((struct sqlite_store *)st->impl)->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Writes @obj (complete, checked) as a new row, setting its "_id", or over
 * row @id (> 0). */
static int write_row(sqlite3 *db, const char *type, json_t *obj, long long id, char **ret_err)
{
	sqlite3_stmt *q;
	char *body;
	int rc;

	json_object_del(obj, "_id");
	body = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	rc = sqlite3_prepare_v2(db,
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
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	json_object_set_new(obj, "_id", json_integer(id > 0 ? id : sqlite3_last_insert_rowid(db)));
	return 0;
}

/*
 * Rows written before references held uuids name their targets: at open
 * each such reference is rewritten to its target's uuid, all in one
 * transaction, so every reader after sees one form. A reference that names
 * nothing (only a store edited by hand has one) is left as it is: the
 * object's other references are then left too, and lookups by name still
 * find them.
 */
static int migrate_refs(sqlite3 *db, struct cfg_cache *c, char **ret_err)
{
	bool began = false;
	int r = 0;

	for (size_t t = 0; cfg_types[t] && r == 0; t++) {
		const struct cfg_schema *s = cfg_types[t];
		const json_t *list = cfg_cache_list(c, s);

		for (size_t i = 0; i < json_array_size(list) && r == 0; i++) {
			json_t *o = json_array_get(list, i), *n = json_deep_copy(o);
			char *why = NULL;

			if (cfg_rules_canon_refs(s, n, str(o, "tenant_ref"), c, &why) == 0 &&
			    !json_equal(n, o)) {
				if (!began &&
				    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
					*ret_err = xasprintf("migrating references: %s",
							     sqlite3_errmsg(db));
					r = -EIO;
				}
				began = true;
				if (r == 0)
					r = write_row(db, s->name, n,
						      (long long)json_integer_value(
							      json_object_get(o, "_id")),
						      ret_err);
				if (r == 0)
					cfg_cache_put(c, s, n, o);
			}
			free(why);
			json_decref(n);
		}
	}
	if (began && r == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("migrating references: %s", sqlite3_errmsg(db));
		r = -EIO;
	}
	if (began && r < 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int delete_row(sqlite3 *db, const json_t *old, char **ret_err)
{
	sqlite3_stmt *q;
	int r = -EIO;

	if (sqlite3_prepare_v2(db, "DELETE FROM objects WHERE id = ?1", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, json_integer_value(json_object_get(old, "_id")));
		r = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_finalize(q);
	}
	if (r < 0)
		*ret_err = xasprintf("config store: %s", sqlite3_errmsg(db));
	return r;
}

static int sq_write(struct cfg_store *st, const struct cfg_schema *s, json_t *obj, const json_t *old,
		    uint64_t *ret_wait_rev, char **ret_err)
{
	struct sqlite_store *sq = st->impl;
	int r;

	if (obj)
		r = write_row(sq->db, s->name, obj,
			      old ? (long long)json_integer_value(json_object_get(old, "_id")) : 0,
			      ret_err);
	else
		r = delete_row(sq->db, old, ret_err);
	if (r == 0 && sqlite3_exec(sq->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*ret_err = xasprintf("config store: commit failed: %s", sqlite3_errmsg(sq->db));
		r = -EIO;
	}
	if (r < 0)
		sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
	*ret_wait_rev = 0;
	return r;
}

static void sq_close(struct cfg_store *st)
{
	struct sqlite_store *sq = st->impl;

	sqlite3_close(sq->db);
	free(sq->path);
	free(sq);
}

static const struct cfg_store_ops sqlite_ops = {
	.kind = "sqlite",
	.begin = sq_begin,
	.write = sq_write,
	.abort = sq_abort,
	.close = sq_close,
};

int cfg_store_sqlite_open(const char *path, struct cfg_store **ret, char **ret_err)
{
	struct sqlite_store *sq = xcalloc(1, sizeof(*sq));
	struct cfg_cache cache;
	char *msg = NULL, *why = NULL;

	cfg_cache_init(&cache);
	if (sqlite3_open_v2(path, &sq->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
						   SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		why = xstrdup(sqlite3_errmsg(sq->db));
		goto fail;
	}
	sqlite3_busy_timeout(sq->db, 5000);
	/* WAL keeps every committed change across a kill -9; FULL also across power loss. */
	if (sqlite3_exec(sq->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
			 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(sq->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		why = xstrdup(msg ? msg : sqlite3_errmsg(sq->db));
		sqlite3_free(msg);
		goto fail;
	}
	/* A damaged store is refused whole: serving part of it would silently
	 * drop services, and a later change could overwrite what is left. */
	if (integrity(sq->db, &why) < 0 || load_rows(&cache, sq->db, &why) < 0 ||
	    migrate_refs(sq->db, &cache, &why) < 0)
		goto fail;
	sq->data_version = pragma_int(sq->db, "PRAGMA data_version");
	sq->path = xstrdup(path);
	*ret = cfg_store_new(&sqlite_ops, sq, path);
	cfg_cache_free(&(*ret)->cache);
	(*ret)->cache = cache;
	return 0;
fail:
	*ret_err = xasprintf("config store %s: %s; start refused: the store is damaged or "
			     "unreadable (restore a backup, or repair what is named)",
			     path, why ? why : "?");
	free(why);
	cfg_cache_free(&cache);
	sqlite3_close(sq->db);
	free(sq);
	return -EIO;
}
