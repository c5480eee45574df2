/* cache.c: the store's objects in memory: loaded and checked once at open, then kept in step with each commit (SQLite) or watch event (etcd). */
#include "config/cache.h"

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

/* Marks the list of type @s as changed since the last snapshot. */
static void mark(struct cfg_cache *c, const struct cfg_schema *s)
{
	for (size_t i = 0; cfg_types[i] && i < CFG_MAX_TYPES; i++)
		if (cfg_types[i] == s)
			c->dirty[i] = true;
}

void cfg_cache_init(struct cfg_cache *c)
{
	memset(c, 0, sizeof(*c));
	c->by_type = json_object();
	for (size_t i = 0; cfg_types[i]; i++)
		json_object_set_new(c->by_type, cfg_types[i]->name, json_array());
	c->by_uuid = json_object();
	c->by_name = json_object();
	/* Builtin objects are never rows: _id 0 sorts them before every row. */
	for (size_t i = 0; cfg_types[i]; i++) {
		json_t *b = cfg_types[i]->builtin ? json_loads(cfg_types[i]->builtin, 0, NULL) : NULL, *o;
		size_t j;
		json_array_foreach(b, j, o)
		{
			json_object_set_new(o, "_id", json_integer(0));
			cfg_cache_put(c, cfg_types[i], o, NULL);
		}
		json_decref(b);
	}
}

void cfg_cache_free(struct cfg_cache *c)
{
	json_decref(c->by_type);
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

/* The position of the object with @id in the id-ordered @list, or -1. */
static long position(const json_t *list, json_int_t id)
{
	size_t lo = 0, hi = json_array_size(list);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		json_int_t m = json_integer_value(json_object_get(json_array_get(list, mid), "_id"));
		if (m == id)
			return (long)mid;
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const json_t *cfg_cache_list(const struct cfg_cache *c, const struct cfg_schema *s)
{
	return json_object_get(c->by_type, s->name);
}

void cfg_cache_put(struct cfg_cache *c, const struct cfg_schema *s, json_t *obj, const json_t *old)
{
	json_t *list = json_object_get(c->by_type, s->name);
	long at = old ? position(list, json_integer_value(json_object_get(obj, "_id"))) : -1;

	if (at >= 0) {
		index_del(c, s, old);
		json_array_set(list, (size_t)at, obj);
	} else {
		/* New rows get the largest id yet (AUTOINCREMENT): the list stays sorted. */
		json_array_append(list, obj);
	}
	index_add(c, s, obj);
	mark(c, s);
}

void cfg_cache_remove(struct cfg_cache *c, const struct cfg_schema *s, const json_t *obj)
{
	json_t *list = json_object_get(c->by_type, s->name);
	long at = position(list, json_integer_value(json_object_get(obj, "_id")));

	index_del(c, s, obj);
	if (at >= 0)
		json_array_remove(list, (size_t)at);
	mark(c, s);
}

json_t *cfg_cache_find_name(const struct cfg_cache *c, const struct cfg_schema *s,
			    const char *tenant, const char *name)
{
	char *k = name_key(s->name, tenant, name);
	json_t *o = json_object_get(c->by_name, k);

	free(k);
	return o;
}

json_t *cfg_cache_find_uuid(const struct cfg_cache *c, const char *uuid)
{
	return json_object_get(c->by_uuid, uuid);
}

json_t *cfg_cache_find(const struct cfg_cache *c, const struct cfg_schema *s, const char *key,
		       const char *tenant)
{
	json_t *o = json_object_get(c->by_uuid, key);
	size_t i;

	if (o && cfg_rules_type_of(o) == s &&
	    (!strcmp(tenant, "*") || !strcmp(str(o, "tenant_ref"), tenant) ||
	     (s->flags & CFG_T_SHARED)))
		return o;
	if (s->flags & CFG_T_SHARED)
		tenant = "admin";
	if (strcmp(tenant, "*") == 0) {
		json_array_foreach(cfg_cache_list(c, s), i, o)
			if (!strcmp(str(o, "name"), key))
				return o;
		return NULL;
	}
	return cfg_cache_find_name(c, s, tenant, key);
}

/* Only the lists of types that changed are copied: a snapshot costs the
 * size of what changed, not of the whole configuration. */
json_t *cfg_cache_snapshot(struct cfg_cache *c)
{
	json_t *snap = json_object();
	bool changed = !c->snap;

	for (size_t i = 0; cfg_types[i]; i++) {
		const char *t = cfg_types[i]->name;
		json_t *list;

		if (c->snap && !c->dirty[i]) {
			json_object_set(snap, t, json_object_get(c->snap, t));
			continue;
		}
		list = json_array();
		json_array_extend(list, json_object_get(c->by_type, t));
		json_object_set_new(snap, t, list);
		c->dirty[i] = false;
		changed = true;
	}
	if (!changed) {
		json_decref(snap);
		return json_incref(c->snap);
	}
	json_decref(c->snap);
	c->snap = snap;
	return json_incref(snap);
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
	else if (s->flags & CFG_T_READONLY)
		why = xasprintf("type %s is built in, never stored", type);
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
	else if ((cfg_rules_upgrade(s, o), cfg_check_object(s, o, true, "", &err)) < 0)
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

int cfg_cache_load_row(struct cfg_cache *c, long long id, const char *type, const char *uuid,
		       const char *name, const char *tenant, const char *body, char **ret_err)
{
	json_t *o = NULL;
	char *why = row_damage(id, type, uuid, name, tenant, body, &o);

	if (why) {
		*ret_err = why;
		return -EIO;
	}
	cfg_cache_put(c, cfg_rules_type_of(o), o, NULL);
	json_decref(o);
	return 0;
}
