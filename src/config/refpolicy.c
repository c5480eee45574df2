/* refpolicy.c: the field policy for reference fields clonelb does not implement (see refschema.h). */
#include "config/refschema.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Nesting the policy follows into objects; the schema's own is far less. */
#define REF_MAX_DEPTH 12

const struct cfg_ref_def *cfg_ref_def_of(const char *schema_name)
{
	for (size_t i = 0; schema_name && cfg_ref_maps[i].schema; i++)
		if (strcmp(cfg_ref_maps[i].schema, schema_name) == 0)
			return cfg_ref_maps[i].def;
	return NULL;
}

const struct cfg_ref_field *cfg_ref_field_find(const struct cfg_ref_def *d, const char *name)
{
	for (size_t i = 0; d && i < d->nfields; i++)
		if (strcmp(d->fields[i].name, name) == 0)
			return &d->fields[i];
	return NULL;
}

static const char *kind_name(enum cfg_ref_kind k)
{
	switch (k) {
	case CFG_REF_BOOL:
		return "true or false";
	case CFG_REF_INT:
		return "an integer";
	case CFG_REF_NUM:
		return "a number";
	case CFG_REF_STR:
		return "a string";
	default:
		return "an object";
	}
}

static bool kind_ok(enum cfg_ref_kind k, const json_t *v)
{
	switch (k) {
	case CFG_REF_BOOL:
		return json_is_boolean(v);
	case CFG_REF_INT:
		return json_is_integer(v);
	case CFG_REF_NUM:
		return json_is_number(v);
	case CFG_REF_STR:
		return json_is_string(v);
	default:
		return json_is_object(v);
	}
}

/* The name a reference value points at: "X", "/api/cloud?name=X",
 * "https://host/api/cloud/<uuid>#X". */
static const char *ref_target(const char *s)
{
	const char *p = strrchr(s, '#');

	if (p)
		return p + 1;
	p = strstr(s, "?name=");
	return p ? p + 6 : s;
}

/* Whether scalar @v equals the default text @dflt of @f. */
static bool is_default(const struct cfg_ref_field *f, const json_t *v)
{
	json_t *d;
	bool same;

	if (!f->dflt)
		return json_is_string(v) && !*json_string_value(v);
	d = json_loads(f->dflt, JSON_DECODE_ANY, NULL);
	if (f->flags & CFG_REF_ISREF)
		same = json_is_string(v) &&
		       !strcmp(ref_target(json_string_value(v)), json_string_value(d));
	else if (json_is_number(v) && json_is_number(d))
		same = json_number_value(v) == json_number_value(d);
	else
		same = json_equal(v, d);
	json_decref(d);
	return same;
}

static char *join_path(const char *path, const char *name)
{
	return path && *path ? xasprintf("%s.%s", path, name) : xstrdup(name);
}

static int check_value(const struct cfg_ref_field *f, const json_t *v, bool stored, int depth,
		       const char *path, char **ret_err);

/* An object value of @f: each member checked against @f->sub. */
static int check_members(const struct cfg_ref_field *f, const json_t *v, bool stored, int depth,
			 const char *path, char **ret_err)
{
	const char *k;
	json_t *m;

	if (depth > REF_MAX_DEPTH) {
		*ret_err = xasprintf("%s: nested too deep", path);
		return -EINVAL;
	}
	json_object_foreach((json_t *)v, k, m)
	{
		const struct cfg_ref_field *sf = cfg_ref_field_find(f->sub, k);
		char *sub = join_path(path, k);
		int r;

		if (!sf) {
			*ret_err = xasprintf("%s: unknown field '%s' of %s", sub, k,
					     f->sub ? f->sub->name : f->name);
			free(sub);
			return -EINVAL;
		}
		r = check_value(sf, m, stored, depth + 1, sub, ret_err);
		free(sub);
		if (r < 0)
			return r;
	}
	return 0;
}

static int refuse(const struct cfg_ref_field *f, const json_t *v, const char *path, char **ret_err)
{
	char *shown = json_short(v);
	char *dflt = f->flags & CFG_REF_LIST ? xstrdup("the default []")
		     : f->dflt		     ? xasprintf("the default %s", f->dflt)
		     : f->kind == CFG_REF_STR ? xstrdup("\"\" or unset")
					      : xstrdup("unset (null)");

	*ret_err = xasprintf("%s: not supported by clonelb (got %s; only %s)", path, shown, dflt);
	free(dflt);
	free(shown);
	return -EINVAL;
}

/* One element (or the whole value of a non-list field) of @f. */
static int check_one(const struct cfg_ref_field *f, const json_t *v, bool stored, int depth,
		     const char *path, char **ret_err)
{
	if (!kind_ok(f->kind, v)) {
		char *shown = json_short(v);
		*ret_err = xasprintf("%s: expected %s, got %s", path, kind_name(f->kind), shown);
		free(shown);
		return -EINVAL;
	}
	if (f->kind == CFG_REF_OBJ)
		return check_members(f, v, stored, depth, path, ret_err);
	if (stored || is_default(f, v))
		return 0;
	return refuse(f, v, path, ret_err);
}

/*
 * Checks @v for field @f: within a stored field (@stored) any value of the
 * right kind; otherwise the default only. Read-only fields take anything.
 */
static int check_value(const struct cfg_ref_field *f, const json_t *v, bool stored, int depth,
		       const char *path, char **ret_err)
{
	size_t i;
	json_t *e;

	if (json_is_null(v) || (f->flags & CFG_REF_READONLY))
		return 0;
	stored = stored || (f->flags & CFG_REF_STORED);
	if (!(f->flags & CFG_REF_LIST))
		return check_one(f, v, stored, depth, path, ret_err);
	if (!json_is_array(v)) {
		char *shown = json_short(v);
		*ret_err = xasprintf("%s: expected a list, got %s", path, shown);
		free(shown);
		return -EINVAL;
	}
	if (!stored && json_array_size(v) && !(f->dflt && is_default(f, v)))
		return refuse(f, v, path, ret_err);
	json_array_foreach(v, i, e)
	{
		char *sub = xasprintf("%s[%zu]", path, i + 1);
		int r = check_one(f, e, stored, depth, sub, ret_err);
		free(sub);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_ref_check(const struct cfg_schema *s, const char *name, const json_t *v,
		  const char *type, const char *path, char **ret_err)
{
	const struct cfg_ref_field *f = cfg_ref_field_find(cfg_ref_def_of(s->name), name);
	char *shown;
	int r;

	if (!f)
		return -ENOENT;
	if (json_is_null(v) || (f->flags & CFG_REF_READONLY))
		return CFG_REF_DROP;
	shown = type ? xasprintf("%s.%s", type, path) : xstrdup(path);
	r = check_value(f, v, false, 0, shown, ret_err);
	free(shown);
	return r < 0 ? r : CFG_REF_KEEP;
}

char *cfg_ref_enum_unsupported(const struct cfg_schema *s, const char *name, const char *value,
			       const char *path, const char *supported)
{
	const struct cfg_ref_field *f = cfg_ref_field_find(cfg_ref_def_of(s->name), name);
	size_t n = strlen(value);

	for (const char *p = f ? f->enums : NULL; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
		if (strncmp(p, value, n) == 0 && (p[n] == ',' || !p[n]))
			return xasprintf("%s: %s is not supported by clonelb (supported: %s)", path,
					 value, supported);
	return NULL;
}

/* @f at its default, for the policy view: nested objects with each of their
 * fields at its default. New reference. */
static json_t *default_of(const struct cfg_ref_field *f, int depth)
{
	if (f->flags & CFG_REF_LIST)
		return f->dflt ? json_loads(f->dflt, JSON_DECODE_ANY, NULL) : json_array();
	if (f->kind == CFG_REF_OBJ) {
		json_t *o = json_object();
		for (size_t i = 0; f->sub && depth < REF_MAX_DEPTH && i < f->sub->nfields; i++) {
			const struct cfg_ref_field *sf = &f->sub->fields[i];
			if (!(sf->flags & CFG_REF_READONLY))
				json_object_set_new(o, sf->name, default_of(sf, depth + 1));
		}
		return o;
	}
	if (f->dflt)
		return json_loads(f->dflt, JSON_DECODE_ANY, NULL);
	return f->kind == CFG_REF_STR ? json_string("") : json_null();
}

/* Adds the entry of @s (reached by field path @path) and of its sub-objects to @out. */
static void policy_of(const struct cfg_schema *s, const char *path, bool top, json_t *out)
{
	const struct cfg_ref_def *d = cfg_ref_def_of(s->name);
	json_t *dflt = json_object(), *stored = json_array(), *ro = json_array(), *own = json_array();

	for (size_t i = 0; d && i < d->nfields; i++) {
		const struct cfg_ref_field *f = &d->fields[i];

		if (cfg_field_find(s, f->name) || (top && cfg_is_meta_field(f->name)))
			continue;
		if (f->flags & CFG_REF_READONLY)
			json_array_append_new(ro, json_string(f->name));
		else if (f->flags & CFG_REF_STORED)
			json_array_append_new(stored, json_string(f->name));
		else
			json_object_set_new(dflt, f->name, default_of(f, 0));
	}
	for (size_t i = 0; i < s->nfields; i++)
		json_array_append_new(own, json_string(s->fields[i].name));
	json_object_set_new(out, path,
			    json_pack("{s:s?, s:o, s:o, s:o, s:o}", "reference", d ? d->name : NULL,
				      "implemented", own, "defaults", dflt, "stored", stored,
				      "read_only", ro));
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		if ((f->kind == CFG_OBJLIST || f->kind == CFG_OBJECT) && f->sub) {
			char *sub = top ? xstrdup(f->name) : xasprintf("%s.%s", path, f->name);
			policy_of(f->sub, sub, false, out);
			free(sub);
		}
	}
}

json_t *cfg_ref_policy(const struct cfg_schema *s)
{
	json_t *objs = json_object();

	policy_of(s, s->name, true, objs);
	return json_pack("{s:s, s:s, s:o}", "type", s->name, "reference_version", cfg_ref_version,
			 "objects", objs);
}
