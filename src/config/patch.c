/* patch.c: the reference product's PATCH operations (add, replace, delete) on one object, list semantics included. */
#include "config/patch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static const char *const ops[] = {"add", "replace", "delete", NULL};

static bool is_op(const char *k)
{
	for (size_t i = 0; ops[i]; i++)
		if (strcmp(ops[i], k) == 0)
			return true;
	return false;
}

bool cfg_patch_is_ops(const json_t *body)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)body, k, v)
	{
		if (is_op(k))
			return true;
	}
	return false;
}

int cfg_patch_form(const json_t *body, const char **ret_op, json_t **ret_fields, char **ret_err)
{
	const char *k, *op = NULL, *other = NULL;
	json_t *v, *fields = NULL;

	json_object_foreach((json_t *)body, k, v)
	{
		if (!is_op(k)) {
			other = other ? other : k;
			continue;
		}
		if (op) {
			*ret_err = xasprintf("%s: give one of add, replace or delete in a PATCH, not "
					     "both %s and %s",
					     k, op, k);
			return -EINVAL;
		}
		op = k;
		fields = v;
	}
	if (other) {
		*ret_err = xasprintf("%s: a PATCH with %s takes no other field (put '%s' inside "
				     "%s, or PATCH the fields alone)",
				     other, op, other, op);
		return -EINVAL;
	}
	if (!json_is_object(fields)) {
		char *shown = json_short(fields);
		*ret_err = xasprintf("%s: expected an object of fields, got %s", op, shown);
		free(shown);
		return -EINVAL;
	}
	*ret_op = op;
	*ret_fields = fields;
	return 0;
}

/* Whether @have holds @want: equal, or for objects every field of @want
 * held by @have's ({"addr": "10.0.0.1"} is held by {"addr": ..., "type": "V4"}). */
static bool holds(const json_t *have, const json_t *want)
{
	const char *k;
	json_t *v;

	if (!json_is_object(want) || !json_is_object(have))
		return json_equal(have, want);
	json_object_foreach((json_t *)want, k, v)
	{
		if (!holds(json_object_get(have, k), v))
			return false;
	}
	return true;
}

static bool is_list(const struct cfg_field *f)
{
	return f->kind == CFG_OBJLIST || cfg_kind_is_scalar_list(f->kind);
}

/* The meta fields of a top-level object under operation @op. */
static int meta(json_t *obj, const char *op, const char *k, json_t *v, const char *path,
		char **ret_err)
{
	const json_t *cur = json_object_get(obj, k);

	if (!strcmp(k, "url") || !strcmp(k, "_last_modified") || !strcmp(k, "_id"))
		return 0;
	if (json_equal(cur, v))
		return 0;
	if (!strcmp(k, "name") && strcmp(op, "delete") && json_is_string(v)) {
		json_object_set(obj, k, v); /* checked with the rest of the object */
		return 0;
	}
	char *shown = json_short(v);
	*ret_err = !strcmp(k, "name") ? xasprintf("%s: the name cannot be deleted (got %s)", path,
						  shown)
				      : xasprintf("%s: cannot be changed (got %s, the object's is "
						  "'%s')",
						  path, shown, json_string_value(cur) ?: "");
	free(shown);
	return -EINVAL;
}

static int apply(const struct cfg_schema *s, json_t *obj, const char *op, const json_t *fields,
		 const char *path, bool top, char **ret_err);

/* Operation @op of field @f on @obj with value @v. */
static int apply_field(const struct cfg_field *f, json_t *obj, const char *op, json_t *v,
		       const char *path, char **ret_err)
{
	json_t *cur = json_object_get(obj, f->name), *e;
	size_t i;

	if (!strcmp(op, "replace") || (!strcmp(op, "add") && !is_list(f) && f->kind != CFG_OBJECT)) {
		if (json_is_null(v))
			json_object_del(obj, f->name);
		else
			json_object_set(obj, f->name, v);
		return 0;
	}
	if (json_is_null(v) && !strcmp(op, "delete")) {
		json_object_del(obj, f->name);
		return 0;
	}
	if (f->kind == CFG_OBJECT) {
		if (!json_is_object(v)) {
			char *shown = json_short(v);
			*ret_err = xasprintf("%s: expected an object, got %s", path, shown);
			free(shown);
			return -EINVAL;
		}
		if (!json_is_object(cur)) {
			if (!strcmp(op, "delete"))
				return 0;
			cur = json_object();
			json_object_set_new(obj, f->name, cur);
		}
		return apply(f->sub, cur, op, v, path, false, ret_err);
	}
	if (!is_list(f)) {
		json_object_del(obj, f->name); /* delete: the default comes back */
		return 0;
	}
	if (!json_is_array(v)) {
		char *shown = json_short(v);
		*ret_err = xasprintf("%s: expected a list of elements to %s, got %s", path, op, shown);
		free(shown);
		return -EINVAL;
	}
	if (!json_is_array(cur)) {
		if (!strcmp(op, "delete"))
			return 0;
		cur = json_array();
		json_object_set_new(obj, f->name, cur);
	}
	json_array_foreach(v, i, e)
	{
		bool found = false;

		for (size_t j = json_array_size(cur); j-- > 0;) {
			if (!holds(json_array_get(cur, j), e))
				continue;
			found = true;
			if (!strcmp(op, "add"))
				break;
			json_array_remove(cur, j);
		}
		if (!found && !strcmp(op, "add"))
			json_array_append(cur, e);
	}
	return 0;
}

static int apply(const struct cfg_schema *s, json_t *obj, const char *op, const json_t *fields,
		 const char *path, bool top, char **ret_err)
{
	const char *k;
	json_t *v;
	int r = 0;

	json_object_foreach((json_t *)fields, k, v)
	{
		const struct cfg_field *f = cfg_field_find(s, k);
		char *sub = xasprintf("%s.%s", path, k);
		if (top && cfg_is_meta_field(k))
			r = meta(obj, op, k, v, sub, ret_err);
		else if (!f) {
			*ret_err = xasprintf("%s: unknown field '%s' of %s", sub, k, s->name);
			r = -EINVAL;
		} else {
			r = apply_field(f, obj, op, v, sub, ret_err);
		}
		free(sub);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_patch_apply(const struct cfg_schema *s, const json_t *old, const char *op,
		    const json_t *fields, json_t **ret, char **ret_err)
{
	json_t *obj = json_deep_copy(old);
	int r = apply(s, obj, op, fields, op, true, ret_err);

	if (r < 0) {
		json_decref(obj);
		return r;
	}
	*ret = obj;
	return 0;
}
