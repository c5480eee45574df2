/* rules.c: the rule engine of the store: meta fields, unique names, references and their tenants, built-in objects, in-use checks; each type's own rules are in rules_*.c. */
#include "config/rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/ref.h"
#include "config/rules_int.h"
#include "config/users.h"
#include "lib/util.h"

const struct cfg_schema *cfg_rules_type_of(const json_t *obj)
{
	const char *uuid = rules_str(obj, "uuid");

	if (strcmp(uuid, "admin") == 0) /* the built-in tenant (cfg_rules_meta) */
		return cfg_type_find("tenant");
	for (size_t i = 0; cfg_types[i]; i++) {
		size_t n = strlen(cfg_types[i]->name);
		if (strncmp(uuid, cfg_types[i]->name, n) == 0 && uuid[n] == '-')
			return cfg_types[i];
	}
	return NULL;
}

static int check_name(const char *field, const json_t *v, char **ret_err)
{
	const char *s = json_string_value(v);
	char *shown;

	if (s && *s && strlen(s) <= 255) {
		size_t i;
		for (i = 0; s[i]; i++)
			if (!isgraph((unsigned char)s[i]) || s[i] == '/' || s[i] == '?' ||
			    s[i] == '#' || s[i] == '%')
				break;
		if (!s[i])
			return 0;
	}
	shown = json_short(v);
	*ret_err = xasprintf("%s: invalid name %s (1-255 printable characters, no spaces or / ? # %%)",
			     field, shown);
	free(shown);
	return -EINVAL;
}

int cfg_rules_meta(const struct cfg_schema *s, json_t *obj, const json_t *old, char **ret_err)
{
	json_t *name = json_object_get(obj, "name"), *uuid = json_object_get(obj, "uuid");
	int r;

	if (!name) {
		*ret_err = xasprintf("name: required field missing");
		return -EINVAL;
	}
	r = check_name("name", name, ret_err);
	if (r < 0)
		return r;
	if (!json_object_get(obj, "tenant_ref"))
		json_object_set_new(obj, "tenant_ref", json_string("admin"));
	r = check_name("tenant_ref", json_object_get(obj, "tenant_ref"), ret_err);
	if (r < 0)
		return r;
	if (old) {
		if (uuid && !json_equal(uuid, json_object_get(old, "uuid"))) {
			char *shown = json_short(uuid);
			*ret_err = xasprintf("uuid: cannot be changed (got %s)", shown);
			free(shown);
			return -EINVAL;
		}
		if (!json_equal(json_object_get(obj, "tenant_ref"), json_object_get(old, "tenant_ref"))) {
			*ret_err = xasprintf("tenant_ref: cannot be changed (from '%s' to '%s')",
					     rules_str(old, "tenant_ref"),
					     rules_str(obj, "tenant_ref"));
			return -EINVAL;
		}
		json_object_set(obj, "uuid", json_object_get(old, "uuid"));
		json_object_set(obj, "_id", json_object_get(old, "_id"));
	} else {
		char u[37];
		/* The store assigns uuids; the type prefix tells what a row is. */
		uuid_v4(u);
		json_object_del(obj, "_id");
		/* As in the reference product, the built-in tenant's uuid is its name:
		 * "/api/tenant/admin" is what its SDK and playbooks write. */
		if (strcmp(s->name, "tenant") == 0 && strcmp(rules_str(obj, "name"), "admin") == 0)
			json_object_set_new(obj, "uuid", json_string("admin"));
		else
			json_object_set_new(obj, "uuid", json_sprintf("%s-%s", s->name, u));
	}
	json_object_del(obj, "_last_modified");
	json_object_del(obj, "url"); /* what answers add: a GET PUT back carries it */
	return 0;
}

/* The object reference @v of field @f names, for a change in @tenant, or
 * NULL with *ret_err. Objects of other tenants are invisible, to references
 * as to every lookup: no message tells them from missing ones. */
static const json_t *ref_target(const struct cfg_field *f, const char *path, const json_t *v,
				const char *tenant, const struct cfg_cache *all, char **ret_err)
{
	const struct cfg_schema *ts = cfg_type_find(f->ref_type);
	const char *text = json_string_value(v);
	struct cfg_ref ref;
	const json_t *t = NULL, *other;
	char *why = NULL;

	if (!ts || !text) {
		*ret_err = xasprintf("%s: expected a reference to a %s", path, f->ref_type);
		return NULL;
	}
	if (cfg_ref_parse(text, &ref, &why) < 0) {
		*ret_err = xasprintf("%s: %s", path, why);
		free(why);
		return NULL;
	}
	if (ref.type && strcmp(ref.type, ts->name)) {
		*ret_err = xasprintf("%s: '%s' refers to a %s, not a %s", path, text, ref.type,
				     ts->name);
		cfg_ref_clear(&ref);
		return NULL;
	}
	if (ref.by == CFG_REF_NAME)
		t = cfg_cache_find_name(all, ts, ts->flags & CFG_T_SHARED ? "admin" : tenant,
					ref.key);
	else if (ref.by == CFG_REF_UUID) {
		t = cfg_cache_find(all, ts, ref.key, tenant);
		if (t && strcmp(rules_str(t, "uuid"), ref.key))
			t = NULL; /* found by name: the path form takes a uuid */
	} else
		t = cfg_cache_find(all, ts, ref.key, tenant);
	/* SE groups are the provider's: a tenant without a group of that name
	 * uses admin's (every tenant's services land on Default-Group). */
	if (!t && strcmp(ts->name, "serviceenginegroup") == 0)
		t = cfg_cache_find(all, ts, ref.key, "admin");
	/* So are the built-in TLS profiles (System-Standard): the only ones a
	 * tenant shares, so a delete in admin never misses a referrer. */
	if (!t && strcmp(ts->name, "sslprofile") == 0 && !strcmp(ref.key, "System-Standard"))
		t = cfg_cache_find_name(all, ts, "admin", ref.key);
	if (!t && ref.by != CFG_REF_NAME && (other = cfg_cache_find_uuid(all, ref.key)) &&
	    cfg_rules_type_of(other) != ts &&
	    (!strcmp(rules_str(other, "tenant_ref"), tenant) ||
	     (cfg_rules_type_of(other)->flags & CFG_T_SHARED)))
		*ret_err = xasprintf("%s: '%s' is a %s, not a %s", path, text,
				     cfg_rules_type_of(other)->name, ts->name);
	else if (!t)
		*ret_err = xasprintf("%s: %s '%s' does not exist", path, ts->name, text);
	cfg_ref_clear(&ref);
	return t;
}

/* What a reference to @t stores: its uuid; a tenant's name, as tenants are
 * known by name everywhere (X-Avi-Tenant, every object's tenant_ref). */
static json_t *ref_key(const json_t *t)
{
	const struct cfg_schema *ts = cfg_rules_type_of(t);

	return json_object_get(t, ts && !strcmp(ts->name, "tenant") ? "name" : "uuid");
}

/* Rewrites every reference of @obj (of schema @s; @path prefixes field
 * names) to its target's uuid, recursing into sub-objects. */
static int canon_refs(const struct cfg_schema *s, json_t *obj, const char *path,
		      const char *tenant, const struct cfg_cache *all, char **ret_err)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		json_t *v = json_object_get(obj, f->name), *e;
		char *sub = *path ? xasprintf("%s.%s", path, f->name) : xstrdup(f->name);
		const json_t *t;
		size_t j;
		int r = 0;

		if (v && f->kind == CFG_REF && !json_is_null(v)) {
			t = ref_target(f, sub, v, tenant, all, ret_err);
			if (t)
				json_object_set(obj, f->name, ref_key(t));
			r = t ? 0 : -EINVAL;
		} else if (f->kind == CFG_REFLIST && json_is_array(v)) {
			json_array_foreach(v, j, e)
			{
				char *el = xasprintf("%s[%zu]", sub, j + 1);
				t = ref_target(f, el, e, tenant, all, ret_err);
				free(el);
				if (!t) {
					r = -EINVAL;
					break;
				}
				json_array_set(v, j, ref_key(t));
			}
		} else if (f->kind == CFG_OBJECT && json_is_object(v)) {
			r = canon_refs(f->sub, v, sub, tenant, all, ret_err);
		} else if (f->kind == CFG_OBJLIST && json_is_array(v)) {
			json_array_foreach(v, j, e)
			{
				char *el = xasprintf("%s[%zu]", sub, j + 1);
				r = json_is_object(e) ? canon_refs(f->sub, e, el, tenant, all, ret_err)
						      : 0;
				free(el);
				if (r < 0)
					break;
			}
		}
		free(sub);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_rules_canon_refs(const struct cfg_schema *s, json_t *obj, const char *tenant,
			 const struct cfg_cache *all, char **ret_err)
{
	return canon_refs(s, obj, "", tenant, all, ret_err);
}

static int check_refs(const struct cfg_schema *s, json_t *obj, const struct cfg_cache *all,
		      char **ret_err)
{
	return canon_refs(s, obj, "", rules_str(obj, "tenant_ref"), all, ret_err);
}

/* The built-in objects every store holds from its first open: type, name, body. */
static const char *const builtins[][3] = {
	{"serviceenginegroup", "Default-Group", "{\"name\": \"Default-Group\"}"},
	{"vrfcontext", "global", "{\"name\": \"global\", \"bgp_profile\": {}}"},
	/* Forward-secret AEAD only, TLS 1.2 and 1.3: the schema's defaults. */
	{"sslprofile", "System-Standard", "{\"name\": \"System-Standard\"}"},
};

size_t cfg_rules_builtin_count(void)
{
	return sizeof(builtins) / sizeof(builtins[0]);
}

json_t *cfg_rules_builtin(size_t i, const char **ret_type)
{
	if (i >= cfg_rules_builtin_count())
		return NULL;
	*ret_type = builtins[i][0];
	return json_loads(builtins[i][2], 0, NULL);
}

static bool is_builtin(const struct cfg_schema *s, const json_t *obj)
{
	for (size_t i = 0; i < cfg_rules_builtin_count(); i++)
		if (strcmp(builtins[i][0], s->name) == 0 && strcmp(builtins[i][1], rules_str(obj, "name")) == 0 &&
		    strcmp(rules_str(obj, "tenant_ref"), "admin") == 0)
			return true;
	return false;
}

/* The rules of each type beyond its schema and the engine's (rules_*.c). */
static const struct {
	const char *type;
	int (*check)(json_t *obj, const struct cfg_cache *all, char **ret_err);
	void (*upgrade)(json_t *obj); /* earlier shapes of its rows, or NULL */
} type_rules[] = {
	{"trafficcloneprofile", cfg_rules_trafficcloneprofile, NULL},
	{"sslkeyandcertificate", cfg_rules_sslkeyandcertificate,
	 cfg_rules_upgrade_sslkeyandcertificate},
	{"sslprofile", cfg_rules_sslprofile, NULL},
	{"pkiprofile", cfg_rules_pkiprofile, NULL},
	{"virtualservice", cfg_rules_virtualservice, NULL},
	{"pool", cfg_rules_pool, NULL},
	{"healthmonitor", cfg_rules_healthmonitor, cfg_rules_upgrade_healthmonitor},
	{"vsvip", cfg_rules_vsvip, NULL},
	{"vrfcontext", cfg_rules_vrfcontext, NULL},
};

void cfg_rules_upgrade(const struct cfg_schema *s, json_t *obj)
{
	if (!json_is_object(obj))
		return;
	for (size_t i = 0; i < sizeof(type_rules) / sizeof(type_rules[0]); i++)
		if (strcmp(s->name, type_rules[i].type) == 0 && type_rules[i].upgrade)
			type_rules[i].upgrade(obj);
}

int cfg_rules_check(const struct cfg_schema *s, json_t *obj, const json_t *old,
		    const struct cfg_cache *all, char **ret_err)
{
	const json_t *same = cfg_cache_find_name(all, s, rules_str(obj, "tenant_ref"),
						 rules_str(obj, "name"));
	int r;

	if (same && !json_equal(json_object_get(same, "uuid"), json_object_get(obj, "uuid"))) {
		*ret_err = xasprintf("name: %s '%s' already exists in tenant '%s'", s->name,
				     rules_str(obj, "name"), rules_str(obj, "tenant_ref"));
		return -EEXIST;
	}
	/* References hold uuids: a rename needs no care for them. */
	r = check_refs(s, obj, all, ret_err);
	if (r == 0)
		r = cfg_users_check(s, obj, old, all, ret_err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(type_rules) / sizeof(type_rules[0]); i++)
		if (strcmp(s->name, type_rules[i].type) == 0)
			return type_rules[i].check(obj, all, ret_err);
	return 0;
}

/* Whether a reference of @o (of schema @s), at any depth, names the object
 * of type @type with @uuid (or, as rows written before references held
 * uuids might, its @name); *ret_field is the field. */
static bool refers_to(const struct cfg_schema *s, const json_t *o, const char *type,
		      const char *uuid, const char *name, const char **ret_field)
{
	for (size_t f = 0; f < s->nfields; f++) {
		const struct cfg_field *fd = &s->fields[f];
		json_t *v = json_object_get(o, fd->name), *e;
		size_t j;

		if (!v)
			continue;
		if (fd->sub && (fd->kind == CFG_OBJECT || fd->kind == CFG_OBJLIST)) {
			if (fd->kind == CFG_OBJECT && refers_to(fd->sub, v, type, uuid, name, ret_field))
				return true;
			json_array_foreach(v, j, e)
			{
				if (refers_to(fd->sub, e, type, uuid, name, ret_field))
					return true;
			}
			continue;
		}
		if (!fd->ref_type || strcmp(fd->ref_type, type))
			continue;
		/* A single reference is looked at as a list of one. */
		size_t n = fd->kind == CFG_REF ? 1 : json_array_size(v);
		for (j = 0; j < n; j++) {
			const char *x = json_string_value(fd->kind == CFG_REF ? v : json_array_get(v, j));
			if (x && (!strcmp(x, uuid) || !strcmp(x, name))) {
				*ret_field = fd->name;
				return true;
			}
		}
	}
	return false;
}

/* Whether schema @s has a reference field to @type at any depth. */
static bool may_refer(const struct cfg_schema *s, const char *type)
{
	for (size_t f = 0; f < s->nfields; f++) {
		const struct cfg_field *fd = &s->fields[f];
		if ((fd->ref_type && !strcmp(fd->ref_type, type)) ||
		    (fd->sub && may_refer(fd->sub, type)))
			return true;
	}
	return false;
}

int cfg_rules_unreferenced(const struct cfg_schema *s, const json_t *obj,
			   const struct cfg_cache *all, char **ret_err)
{
	const char *name = rules_str(obj, "name"), *tenant = rules_str(obj, "tenant_ref");
	const char *field = NULL;
	size_t i;
	json_t *o;

	if (is_builtin(s, obj)) {
		*ret_err = xasprintf("%s '%s' is built in and cannot be deleted or renamed", s->name,
				     name);
		return -EBUSY;
	}

	if (strcmp(s->name, "tenant") == 0)
		return cfg_tenant_unused(obj, all, ret_err);
	/* Only the types with a reference field to @s are looked at. */
	for (size_t t = 0; cfg_types[t]; t++) {
		const struct cfg_schema *os = cfg_types[t];

		if (!may_refer(os, s->name))
			continue;
		json_array_foreach(cfg_cache_list(all, os), i, o)
		{
			/* An admin SE group also serves the tenants without their own. */
			bool shared = strcmp(s->name, "serviceenginegroup") == 0 &&
				      strcmp(tenant, "admin") == 0 &&
				      !cfg_cache_find_name(all, s, rules_str(o, "tenant_ref"),
							   name);

			if (strcmp(rules_str(o, "tenant_ref"), tenant) && !shared)
				continue;
			if (refers_to(os, o, s->name, rules_str(obj, "uuid"), name, &field)) {
				*ret_err = xasprintf("%s '%s' is in use by %s '%s' (%s)", s->name, name,
						     os->name, rules_str(o, "name"), field);
				return -EBUSY;
			}
		}
	}
	return 0;
}
