/* store_cache.c: the store's objects in memory: loaded and checked once at open, then kept in step with each commit. */
#include "config/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/rules.h"
#include "lib/util.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Names cannot hold white space, so a newline joins the parts unambiguously. */
static char *name_key(const char *type, const char *tenant, const char *name)
{
	return xasprintf("%s\n%s\n%s", type, tenant, name);
}

void cfg_cache_init(struct cfg_cache *c)
{
	c->all = json_array();
	c->by_uuid = json_object();
	c->by_name = json_object();
	c->snap = NULL;
}

void cfg_cache_free(struct cfg_cache *c)
{
	json_decref(c->all);
	json_decref(c->by_uuid);
	json_decref(c->by_name);
	json_decref(c->snap);
	memset(c, 0, sizeof(*c));
}

static void index_add(struct cfg_cache *c, const struct cfg_schema *s, json_t *obj)
{
	char *k = name_key(s->name, str(obj, "tenant_ref"), str(obj, "name"));

	json_object_set(c->by_uuid, str(obj, "uuid"), obj);
	json_object_set(c->by_name, k, obj);
	free(k);
}

static void index_del(struct cfg_cache *c, const struct cfg_schema *s, const json_t *obj)
{
	char *k = name_key(s->name, str(obj, "tenant_ref"), str(obj, "name"));

	json_object_del(c->by_uuid, str(obj, "uuid"));
	json_object_del(c->by_name, k);
	free(k);
}

/* The position of the object with @id in the id-ordered list, or -1. */
static long position(const struct cfg_cache *c, json_int_t id)
{
	size_t lo = 0, hi = json_array_size(c->all);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		json_int_t m = json_integer_value(json_object_get(json_array_get(c->all, mid), "_id"));
		if (m == id)
			return (long)mid;
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void cfg_cache_put(struct cfg_cache *c, const struct cfg_schema *s, json_t *obj, const json_t *old)
{
	json_int_t id = json_integer_value(json_object_get(obj, "_id"));
	long at = old ? position(c, id) : -1;

	if (at >= 0) {
		index_del(c, s, old);
		json_array_set(c->all, (size_t)at, obj);
	} else {
		/* New rows get the largest id yet (AUTOINCREMENT): the list stays sorted. */
		json_array_append(c->all, obj);
	}
	index_add(c, s, obj);
	json_decref(c->snap);
	c->snap = NULL;
}

void cfg_cache_remove(struct cfg_cache *c, const struct cfg_schema *s, const json_t *obj)
{
	long at = position(c, json_integer_value(json_object_get(obj, "_id")));

	index_del(c, s, obj);
	if (at >= 0)
		json_array_remove(c->all, (size_t)at);
	json_decref(c->snap);
	c->snap = NULL;
}

json_t *cfg_cache_find(const struct cfg_cache *c, const struct cfg_schema *s, const char *key,
		       const char *tenant)
{
	json_t *o = json_object_get(c->by_uuid, key);
	size_t i;
	char *k;

	if (o && cfg_rules_type_of(o) == s &&
	    (!strcmp(tenant, "*") || !strcmp(str(o, "tenant_ref"), tenant)))
		return o;
	if (strcmp(tenant, "*") == 0) {
		json_array_foreach(c->all, i, o)
			if (cfg_rules_type_of(o) == s && !strcmp(str(o, "name"), key))
				return o;
		return NULL;
	}
	k = name_key(s->name, tenant, key);
	o = json_object_get(c->by_name, k);
	free(k);
	return o;
}

json_t *cfg_cache_snapshot(struct cfg_cache *c)
{
	json_t *o;
	size_t i;

	if (c->snap)
		return json_incref(c->snap);
	c->snap = json_object();
	for (i = 0; cfg_types[i]; i++)
		json_object_set_new(c->snap, cfg_types[i]->name, json_array());
	json_array_foreach(c->all, i, o)
		json_array_append(json_object_get(c->snap, cfg_rules_type_of(o)->name), o);
	return json_incref(c->snap);
}

/* Why row @id does not load, as "row 17 (pool 'web'): ..."; NULL when it does. */
static char *row_damage(json_int_t id, const char *type, const char *uuid, const char *name,
			const char *tenant, const char *text, json_t **ret_obj)
{
	const struct cfg_schema *s = type ? cfg_type_find(type) : NULL;
	char *where = xasprintf("row %lld (%s '%s')", (long long)id, type ? type : "no type",
				name ? name : "no name");
	char *why = NULL, *err = NULL;
	json_error_t je;
	json_t *o = NULL;

	if (!s)
		why = xasprintf("unknown object type");
	else if (!uuid || !*uuid)
		why = xasprintf("no uuid");
	else if (!text || !(o = json_loads(text, JSON_REJECT_DUPLICATES, &je)))
		why = xasprintf("body is not valid JSON (%s)", text ? je.text : "no body");
	else if (!json_is_object(o))
		why = xasprintf("body is not a JSON object");
	else if (strcmp(str(o, "uuid"), uuid) != 0)
		why = json_object_get(o, "uuid")
			      ? xasprintf("body uuid '%s' differs from the row's '%s'", str(o, "uuid"),
					  uuid)
			      : xasprintf("body has no uuid (row uuid '%s')", uuid);
	else if (cfg_rules_type_of(o) != s)
		why = xasprintf("uuid '%s' is not of type %s", uuid, type);
	else if (strcmp(str(o, "name"), name ? name : "") ||
		 strcmp(str(o, "tenant_ref"), tenant ? tenant : ""))
		why = xasprintf("body name/tenant_ref '%s'/'%s' differ from the row's '%s'/'%s'",
				str(o, "name"), str(o, "tenant_ref"), name ? name : "",
				tenant ? tenant : "");
	else if (cfg_check_object(s, o, true, "", &err) < 0)
		why = xasprintf("body does not load: %s", err);
	free(err);
	if (why) {
		char *msg = xasprintf("%s: %s", where, why);
		free(where);
		free(why);
		json_decref(o);
		return msg;
	}
	free(where);
	json_object_set_new(o, "_id", json_integer(id));
	*ret_obj = o;
	return NULL;
}

int cfg_cache_load(struct cfg_cache *c, sqlite3 *db, char **ret_err)
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
		json_t *o = NULL;
		char *why = row_damage(sqlite3_column_int64(q, 0),
				       (const char *)sqlite3_column_text(q, 1),
				       (const char *)sqlite3_column_text(q, 2),
				       (const char *)sqlite3_column_text(q, 3),
				       (const char *)sqlite3_column_text(q, 4),
				       (const char *)sqlite3_column_text(q, 5), &o);
		if (why) {
			*ret_err = why;
			sqlite3_finalize(q);
			return -EIO;
		}
		cfg_cache_put(c, cfg_rules_type_of(o), o, NULL);
		json_decref(o);
	}
	if (rc != SQLITE_DONE) {
		*ret_err = xasprintf("cannot read the objects: %s", sqlite3_errmsg(db));
		sqlite3_finalize(q);
		return -EIO;
	}
	sqlite3_finalize(q);
	return 0;
}
