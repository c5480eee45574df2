/* route.c: REST routes: objects (list, create, get, replace, patch, delete) and virtual service views. */
#include "api/route.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/se.h"
#include "config/ref.h"
#include "config/refschema.h"
#include "config/schema.h"
#include "lib/util.h"

static unsigned status_of(int r)
{
	switch (r) {
	case -EINVAL:
		return 400;
	case -ENOENT:
		return 404;
	case -EEXIST:
	case -EBUSY:
	case -ESTALE:
		return 409;
	case -EOPNOTSUPP:
		return 405;
	case -E2BIG:
		return 413;
	case -EAGAIN:
		return 503; /* the store (etcd) cannot be reached */
	default:
		return 500;
	}
}

/* The answer of a store call: @ok with @obj, or the error (@err is freed). */
static unsigned answer(int r, unsigned ok, json_t *obj, char *err, json_t **ret_body)
{
	if (r >= 0) {
		*ret_body = obj;
		return ok;
	}
	*ret_body = json_pack("{s:s}", "error", err ? err : "error");
	free(err);
	return status_of(r);
}

/* Reference @key (a uuid; a name in a store edited by hand) to an object of
 * @type, as an answer writes it. */
static json_t *ref_out(const struct api_router *rt, const struct api_query *q, const char *type,
		       const char *key)
{
	char *uuid = NULL, *name = NULL, *url;
	json_t *v;

	if (cfg_ref_lookup(rt->store, type, key, &uuid, q->include_name ? &name : NULL) < 0)
		uuid = xstrdup(key);
	url = cfg_ref_url(q->base, type, uuid, name);
	v = json_string(url);
	free(url);
	free(uuid);
	free(name);
	return v;
}

/* The references of @obj (of schema @s, at any depth) in URL form. */
static void refs_out(const struct api_router *rt, const struct api_query *q,
		     const struct cfg_schema *s, json_t *obj)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		json_t *v = json_object_get(obj, f->name), *e;
		size_t j;

		if (f->kind == CFG_REF && json_is_string(v))
			json_object_set_new(obj, f->name,
					    ref_out(rt, q, f->ref_type, json_string_value(v)));
		json_array_foreach(f->kind == CFG_REFLIST ? v : NULL, j, e)
			if (json_is_string(e))
				json_array_set_new(v, j, ref_out(rt, q, f->ref_type,
								 json_string_value(e)));
		if (f->kind == CFG_OBJECT && json_is_object(v))
			refs_out(rt, q, f->sub, v);
		json_array_foreach(f->kind == CFG_OBJLIST ? v : NULL, j, e)
			if (json_is_object(e))
				refs_out(rt, q, f->sub, e);
	}
}

/* Object @obj (stolen) of type @type as answers show it: "url" first, its
 * references and tenant_ref in URL form. New reference. */
static json_t *object_out(const struct api_router *rt, const struct api_query *q,
			  const char *type, json_t *obj)
{
	const struct cfg_schema *s = cfg_type_find(type);
	const char *tenant = json_string_value(json_object_get(obj, "tenant_ref"));
	const char *uuid = json_string_value(json_object_get(obj, "uuid"));
	json_t *out;
	char *url;

	if (!s || !json_is_object(obj))
		return obj;
	out = json_object();
	refs_out(rt, q, s, obj);
	json_object_del(obj, "url");
	if (uuid) {
		url = cfg_ref_url(q->base, type, uuid,
				  q->include_name ? json_string_value(json_object_get(obj, "name"))
						  : NULL);
		json_object_set_new(out, "url", json_string(url));
		free(url);
	}
	json_object_update(out, obj);
	if (tenant) {
		/* Tenants are objects of their own once that type exists; the
		 * tenant admin's uuid is "admin", as in the reference product. */
		char *tuuid = NULL, *tname = NULL;
		if (!cfg_type_find("tenant") ||
		    cfg_ref_lookup(rt->store, "tenant", tenant, &tuuid, &tname) < 0) {
			tuuid = xstrdup(tenant);
			tname = xstrdup(tenant);
		}
		url = cfg_ref_url(q->base, "tenant", tuuid, q->include_name ? tname : NULL);
		json_object_set_new(out, "tenant_ref", json_string(url));
		free(url);
		free(tuuid);
		free(tname);
	}
	json_decref(obj);
	return out;
}

/* tenant_ref of @holder in any reference form, rewritten to the tenant's
 * name (what the store compares with the request's tenant). */
static int tenant_in(const struct api_router *rt, json_t *holder, const char *path,
		     char **ret_err)
{
	const char *text = json_string_value(json_object_get(holder, "tenant_ref"));
	struct cfg_ref ref;
	char *why = NULL, *name = NULL;

	if (!text)
		return 0;
	if (cfg_ref_parse(text, &ref, &why) < 0) {
		*ret_err = xasprintf("%stenant_ref: %s", path, why);
		free(why);
		return -EINVAL;
	}
	if (ref.type && strcmp(ref.type, "tenant")) {
		*ret_err = xasprintf("%stenant_ref: '%s' refers to a %s, not a tenant", path, text,
				     ref.type);
		cfg_ref_clear(&ref);
		return -EINVAL;
	}
	if (!cfg_type_find("tenant") || cfg_ref_lookup(rt->store, "tenant", ref.key, NULL, &name) < 0)
		name = xstrdup(ref.key);
	json_object_set_new(holder, "tenant_ref", json_string(name));
	free(name);
	cfg_ref_clear(&ref);
	return 0;
}

/* A copy of request body @in with its tenant_ref (also inside a PATCH's
 * add, replace or delete) by name, or NULL with *ret_err. */
static json_t *body_in(const struct api_router *rt, const json_t *in, char **ret_err)
{
	static const char *const ops[] = {"add", "replace", "delete", NULL};
	json_t *b = json_deep_copy(in);

	if (tenant_in(rt, b, "", ret_err) < 0)
		goto fail;
	for (size_t i = 0; ops[i]; i++) {
		char *path = xasprintf("%s.", ops[i]);
		int r = json_is_object(json_object_get(b, ops[i]))
				? tenant_in(rt, json_object_get(b, ops[i]), path, ret_err)
				: 0;
		free(path);
		if (r < 0)
			goto fail;
	}
	return b;
fail:
	json_decref(b);
	return NULL;
}

/* traffic_clone_stats when the engine has nothing for the service: zeros for
 * each clone server of its profile. */
static json_t *zero_stats(const struct api_router *rt, const json_t *vs)
{
	json_t *list = json_array(), *prof = NULL, *cs;
	const char *pname = json_string_value(json_object_get(vs, "traffic_clone_profile_ref"));
	char *err = NULL;
	size_t i;

	if (pname)
		cfg_get(rt->store, "trafficcloneprofile", pname,
			json_string_value(json_object_get(vs, "tenant_ref")), &prof, &err);
	free(err);
	json_array_foreach(json_object_get(prof, "clone_servers"), i, cs)
	{
		json_array_append_new(
			list, json_pack("{s:O, s:i, s:i, s:i, s:i}", "ip", json_object_get(cs, "ip_address"),
					"num_total_pkts_cloned", 0, "num_mbuf_alloc_failed", 0,
					"num_driver_failures", 0, "num_succeeded", 0));
	}
	json_decref(prof);
	return json_pack("[{s:s, s:s, s:o}]", "se_uuid", rt->se_uuid ? rt->se_uuid : "unknown",
			 "proc_id", "PROC_Aggregate", "clone_srvr_stats", list);
}

static unsigned vs_view(const struct api_router *rt, const char *key, const char *view,
			const char *tenant, bool detail, json_t **ret_body)
{
	json_t *vs = NULL, *out = NULL;
	char *err = NULL;
	const char *uuid;
	int r = cfg_get(rt->store, "virtualservice", key, tenant, &vs, &err);

	if (r < 0)
		return answer(r, 0, NULL, err, ret_body);
	uuid = json_string_value(json_object_get(vs, "uuid"));
	if (strcmp(view, "traffic_clone_stats") == 0) {
		if (rt->clone_stats)
			out = rt->clone_stats(rt->ctx, uuid, detail);
		if (rt->group_stats)
			out = rt->group_stats(rt->ctx, uuid, out);
		if (!out)
			out = zero_stats(rt, vs);
	} else if (strcmp(view, "runtime") == 0) {
		if (rt->runtime)
			out = rt->runtime(rt->ctx, uuid);
		if (!out)
			out = json_pack("{s:O, s:s}", "name", json_object_get(vs, "name"), "oper_status",
					"UNKNOWN");
	} else {
		json_decref(vs);
		err = xasprintf("virtualservice has no view '%s' (traffic_clone_stats, runtime)",
				view);
		return answer(-ENOENT, 0, NULL, err, ret_body);
	}
	json_decref(vs);
	return answer(0, 200, out, NULL, ret_body);
}

static char *unknown_path(const char *first)
{
	char types[256] = "";

	for (size_t i = 0; cfg_types[i]; i++)
		snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s", i ? ", " : "",
			 cfg_types[i]->name);
	return first ? xasprintf("unknown object type '%s' (one of %s)", first, types)
		     : xasprintf("no such API path (object types: %s)", types);
}

/* Reads paging parameter @param: a decimal integer in 1..@max. */
static int page_arg(const char *param, const char *v, long max, long *ret, char **ret_err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < 1 || n > max) {
		*ret_err = xasprintf("%s: invalid value '%s' (an integer from 1 to %ld)", param, v, max);
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

/* @s escaped for a query string. */
static char *query_escape(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *p = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~", c))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = 0;
	return out;
}

/* GET /api/<type>: ?name= selects by exact name, ?page= and ?page_size= page
 * the answer; "next" is there when another page follows. */
static unsigned list(const struct api_router *rt, const char *type, const char *tenant,
		     const struct api_query *q, json_t **ret_body)
{
	struct cfg_filter f = {.name = q->name};
	long page = 1, size = 0;
	char *err = NULL;
	json_t *out = NULL;
	size_t count = 0;
	int r;

	if (q->page && page_arg("page", q->page, 1000000000L, &page, &err) < 0)
		return answer(-EINVAL, 0, NULL, err, ret_body);
	if (q->page_size && page_arg("page_size", q->page_size, API_MAX_PAGE_SIZE, &size, &err) < 0)
		return answer(-EINVAL, 0, NULL, err, ret_body);
	if (q->page && !q->page_size)
		size = API_DEFAULT_PAGE_SIZE;
	if (size) {
		f.offset = (size_t)(page - 1) * (size_t)size;
		f.limit = (size_t)size;
	}
	r = cfg_list_filtered(rt->store, type, tenant, &f, &out, &count, &err);
	if (r < 0)
		return answer(r, 0, NULL, err, ret_body);
	for (size_t i = 0; i < json_array_size(out); i++)
		json_array_set_new(out, i, object_out(rt, q, type, json_incref(json_array_get(out, i))));
	out = json_pack("{s:I, s:o}", "count", (json_int_t)count, "results", out);
	if (size && f.offset + f.limit < count) {
		char *name = q->name ? query_escape(q->name) : NULL;
		json_object_set_new(out, "next",
				    json_sprintf("/api/%s?page=%ld&page_size=%ld%s%s%s", type, page + 1,
						 size, name ? "&name=" : "", name ? name : "",
						 q->include_name ? "&include_name" : ""));
		free(name);
	}
	return answer(0, 200, out, NULL, ret_body);
}

/* GET /api/serviceengine[/<name-or-uuid>]: the SEs of the store, ?name= as
 * for collections. */
static unsigned serviceengines(const struct api_router *rt, const char *key,
			       const struct api_query *q, json_t **ret_body)
{
	json_t *all = NULL, *out, *e;
	char *err = NULL;
	size_t i;
	int r = rt->serviceengines(rt->ctx, &all, &err);

	if (r < 0)
		return answer(r, 0, NULL, err, ret_body);
	out = json_array();
	json_array_foreach(all, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		const char *u = json_string_value(json_object_get(e, "uuid"));

		if ((!key || !strcmp(n, key) || !strcmp(u, key)) && (!q->name || !strcmp(n, q->name)))
			json_array_append(out, e);
	}
	json_decref(all);
	if (key && json_array_size(out) == 0) {
		json_decref(out);
		return answer(-ENOENT, 0, NULL, xasprintf("serviceengine '%s' not found", key),
			      ret_body);
	}
	if (key) {
		e = json_incref(json_array_get(out, 0));
		json_decref(out);
		return answer(0, 200, e, NULL, ret_body);
	}
	return answer(0, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(out),
					"results", out),
		      NULL, ret_body);
}

/* POST (@key NULL), PUT or PATCH of @in. */
static unsigned change(const struct api_router *rt, const struct api_query *q, const char *type,
		       const char *key, const char *tenant, const json_t *in, bool patch,
		       json_t **ret_body)
{
	json_t *body, *out = NULL;
	char *err = NULL;
	int r;

	body = body_in(rt, in, &err);
	if (!body)
		return answer(-EINVAL, 0, NULL, err, ret_body);
	if (!key)
		r = cfg_create(rt->store, type, tenant, body, &out, &err);
	else if (patch)
		r = cfg_patch(rt->store, type, key, tenant, q->if_match, body, &out, &err);
	else
		r = cfg_replace(rt->store, type, key, tenant, q->if_match, body, &out, &err);
	json_decref(body);
	return answer(r, key ? 200 : 201, r < 0 ? NULL : object_out(rt, q, type, out), err,
		      ret_body);
}

/* Routes the split path @parts (after /api/). */
static unsigned route(const struct api_router *rt, const char *method, char **parts, int nparts,
		      const char *tenant, const struct api_query *q, const json_t *in,
		      json_t **ret_body)
{
	struct cfg_store *st = rt->store;
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST"),
	     put = !strcmp(method, "PUT"), patch = !strcmp(method, "PATCH"),
	     del = !strcmp(method, "DELETE");
	json_t *out = NULL;
	char *err = NULL;
	int r;

	if (nparts == 2 && strcmp(parts[0], "se") == 0 && strcmp(parts[1], "interfaces") == 0) {
		if (!get)
			goto bad_method;
		out = api_se_interfaces();
		if (!out)
			return answer(-EIO, 0, NULL,
				      xasprintf("se/interfaces: getifaddrs: %s", strerror(errno)),
				      ret_body);
		return answer(0, 200, out, NULL, ret_body);
	}
	if (nparts >= 1 && nparts <= 2 && rt->serviceengines &&
	    strcmp(parts[0], "serviceengine") == 0) {
		if (!get)
			goto bad_method;
		return serviceengines(rt, nparts == 2 ? parts[1] : NULL, q, ret_body);
	}
	if (nparts == 2 && strcmp(parts[0], "fieldpolicy") == 0) {
		/* Which reference fields a type accepts only at their default. */
		if (!get)
			goto bad_method;
		if (!cfg_type_find(parts[1]))
			return answer(-ENOENT, 0, NULL, unknown_path(parts[1]), ret_body);
		return answer(0, 200, cfg_ref_policy(cfg_type_find(parts[1])), NULL, ret_body);
	}
	if (nparts < 1 || nparts > 3 || !cfg_type_find(parts[0]))
		return answer(-ENOENT, 0, NULL, unknown_path(nparts ? parts[0] : NULL), ret_body);
	if (nparts == 3) {
		if (strcmp(parts[0], "virtualservice"))
			return answer(-ENOENT, 0, NULL,
				      xasprintf("%s has no views (only virtualservice has "
						"traffic_clone_stats and runtime)",
						parts[0]),
				      ret_body);
		if (!get)
			goto bad_method;
		return vs_view(rt, parts[1], parts[2], tenant, q->detail, ret_body);
	}
	if ((post || put || patch) && !json_is_object(in))
		return answer(-EINVAL, 0, NULL, xstrdup("request body: expected a JSON object"),
			      ret_body);
	if (nparts == 1) {
		if (get)
			return list(rt, parts[0], tenant, q, ret_body);
		if (!post)
			goto bad_method;
		return change(rt, q, parts[0], NULL, tenant, in, false, ret_body);
	}
	if (get) {
		r = cfg_get(st, parts[0], parts[1], tenant, &out, &err);
		return answer(r, 200, r < 0 ? NULL : object_out(rt, q, parts[0], out), err, ret_body);
	}
	if (put || patch)
		return change(rt, q, parts[0], parts[1], tenant, in, patch, ret_body);
	if (del) {
		r = cfg_delete(st, parts[0], parts[1], tenant, &err);
		return answer(r, 204, NULL, err, ret_body);
	}
bad_method:
	return answer(-EOPNOTSUPP, 0, NULL,
		      xasprintf("method %s is not allowed on this path", method), ret_body);
}

const char *api_route_allow(const char *path)
{
	char *copy, *parts[4], *save = NULL, *tok;
	const char *allow = NULL;
	int n = 0;

	if (strncmp(path, "/api/", 5) != 0)
		return NULL;
	copy = xstrdup(path + 5);
	for (tok = strtok_r(copy, "/", &save); tok && n < 4; tok = strtok_r(NULL, "/", &save))
		parts[n++] = tok;
	if (tok || n == 0)
		goto out;
	if (n == 2 && !strcmp(parts[0], "se") && !strcmp(parts[1], "interfaces"))
		allow = "GET";
	else if (n == 2 && !strcmp(parts[0], "fieldpolicy") && cfg_type_find(parts[1]))
		allow = "GET";
	else if (!cfg_type_find(parts[0]))
		allow = NULL;
	else if (n == 1)
		allow = "GET, POST";
	else if (n == 2)
		allow = "GET, PUT, PATCH, DELETE";
	else if (!strcmp(parts[0], "virtualservice") &&
		 (!strcmp(parts[2], "traffic_clone_stats") || !strcmp(parts[2], "runtime")))
		allow = "GET";
out:
	free(copy);
	return allow;
}

unsigned api_route(const struct api_router *rt, const char *method, const char *path,
		   const char *tenant, const struct api_query *q, const json_t *body,
		   json_t **ret_body)
{
	static const struct api_query none;
	char *copy, *parts[8], *save = NULL, *tok;
	int nparts = 0;
	unsigned status;

	*ret_body = NULL;
	if (strncmp(path, "/api", 4) != 0 || (path[4] && path[4] != '/'))
		return answer(-ENOENT, 0, NULL, unknown_path(NULL), ret_body);
	copy = xstrdup(path + 4);
	for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (nparts == 8) {
			free(copy);
			return answer(-ENOENT, 0, NULL, unknown_path(NULL), ret_body);
		}
		parts[nparts++] = tok;
	}
	status = route(rt, method, parts, nparts, tenant && *tenant ? tenant : "admin",
		       q ? q : &none, body, ret_body);
	free(copy);
	return status;
}
