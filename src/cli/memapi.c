/* memapi.c: an in-memory REST API, so unit tests and the fuzzer run the shell without a daemon. */
#include "cli/memapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "lib/util.h"

struct cli_memapi {
	json_t *db;	   /* {"<type>": {"<tenant>/<name>": object}} */
	unsigned next_id;  /* for uuids */
	unsigned requests; /* answered so far */
};

struct cli_memapi *cli_memapi_new(void)
{
	struct cli_memapi *m = xcalloc(1, sizeof(*m));

	m->db = json_object();
	return m;
}

void cli_memapi_free(struct cli_memapi *m)
{
	if (!m)
		return;
	json_decref(m->db);
	free(m);
}

unsigned cli_memapi_requests(const struct cli_memapi *m) { return m->requests; }

/* Decodes %XX escapes of one path segment. */
static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

static int answer(json_t **ret_body, int status, json_t *body)
{
	*ret_body = body;
	return status;
}

static int error(json_t **ret_body, int status, char *msg)
{
	json_t *b = json_pack("{s:s}", "error", msg);

	free(msg);
	return answer(ret_body, status, b);
}

/* The object without its secret fields, as the API shows it. */
static json_t *shown(const struct cfg_schema *s, json_t *obj)
{
	json_t *o = json_deep_copy(obj);

	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].flags & CFG_F_SECRET)
			json_object_del(o, s->fields[i].name);
	return o;
}

static json_t *find(json_t *objs, const char *tenant, const char *key)
{
	const char *k;
	json_t *o;

	json_object_foreach(objs, k, o)
	{
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *uuid = json_string_value(json_object_get(o, "uuid"));
		const char *t = json_string_value(json_object_get(o, "tenant_ref"));
		if ((uuid && !strcmp(uuid, key)) ||
		    (name && t && !strcmp(name, key) && !strcmp(t, tenant)))
			return o;
	}
	return NULL;
}

/* A checked copy of @body for @s, or NULL with an answer in *ret_body. */
static json_t *checked(const struct cfg_schema *s, const json_t *body, int *status,
		       json_t **ret_body)
{
	json_t *o = json_deep_copy(body);
	char *err = NULL;

	if (cfg_check_object(s, o, true, "", &err) < 0) {
		json_decref(o);
		*status = error(ret_body, 400, err);
		return NULL;
	}
	return o;
}

static int view(struct cli_memapi *m, json_t *obj, const char *tenant, const char *v,
		json_t **ret_body)
{
	if (!strcmp(v, "runtime"))
		return answer(ret_body, 200,
			      json_pack("{s:O, s:s}", "name", json_object_get(obj, "name"),
					"oper_status", "UP"));
	if (strcmp(v, "traffic_clone_stats") != 0)
		return error(ret_body, 404, xasprintf("no view '%s'", v));
	json_t *stats = json_array(), *list = json_array(), *e;
	const char *ref = json_string_value(json_object_get(obj, "traffic_clone_profile_ref"));
	json_t *prof =
	    ref ? find(json_object_get(m->db, "trafficcloneprofile"), tenant, ref) : NULL;
	size_t i;

	json_array_foreach(json_object_get(prof, "clone_servers"), i, e) json_array_append_new(
	    list, json_pack("{s:O, s:i, s:i, s:i, s:i}", "ip",
			    json_object_get(json_object_get(e, "ip_address"), "addr"),
			    "num_total_pkts_cloned", 0, "num_mbuf_alloc_failed", 0,
			    "num_driver_failures", 0, "num_succeeded", 0));
	if (prof)
		json_array_append_new(stats,
				      json_pack("{s:s, s:s, s:o}", "se_uuid", "mem:se-0", "proc_id",
						"PROC_Aggregate", "clone_srvr_stats", list));
	else
		json_decref(list);
	return answer(ret_body, 200, stats);
}

int cli_memapi_request(void *ctx, const char *method, const char *path, const char *tenant,
		       const json_t *body, json_t **ret_body, char **ret_err)
{
	struct cli_memapi *m = ctx;
	const struct cfg_schema *s;
	char *seg[3] = {NULL, NULL, NULL};
	const char *p;
	json_t *objs, *obj, *o;
	int n = 0, status = 0;

	m->requests++;
	*ret_body = NULL;
	if (strncmp(path, "/api/", 5) != 0) {
		*ret_err = xasprintf("memapi: bad path '%s'", path);
		return -EINVAL;
	}
	for (p = path + 5; *p && *p != '?' && n < 3; n++) {
		size_t len = strcspn(p, "/?");
		seg[n] = unescape(p, len);
		p += len;
		if (*p == '/')
			p++;
	}
	tenant = tenant ? tenant : "admin";
	s = seg[0] ? cfg_type_find(seg[0]) : NULL;
	if (!s) {
		status = error(ret_body, 404,
			       xasprintf("unknown object type '%s'", seg[0] ? seg[0] : ""));
		goto out;
	}
	objs = json_object_get(m->db, s->name);
	if (!objs) {
		objs = json_object();
		json_object_set_new(m->db, s->name, objs);
	}
	obj = seg[1] ? find(objs, tenant, seg[1]) : NULL;
	if (seg[1] && !obj && strcmp(method, "POST") != 0) {
		status = error(ret_body, 404, xasprintf("%s '%s' not found", s->name, seg[1]));
		goto out;
	}
	if (!strcmp(method, "GET") && seg[2]) {
		status = view(m, obj, tenant, seg[2], ret_body);
	} else if (!strcmp(method, "GET") && obj) {
		status = answer(ret_body, 200, shown(s, obj));
	} else if (!strcmp(method, "GET")) {
		json_t *res = json_array();
		const char *k;
		json_object_foreach(
		    objs, k, o) if (!strcmp(json_string_value(json_object_get(o, "tenant_ref")),
					    tenant)) json_array_append_new(res, shown(s, o));
		status = answer(ret_body, 200,
				json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(res),
					  "results", res));
	} else if (!strcmp(method, "POST") && !seg[1] && json_is_object(body)) {
		const char *name = json_string_value(json_object_get(body, "name"));
		if (!name || !*name) {
			status = error(ret_body, 400, xstrdup("name: required field missing"));
		} else if (find(objs, tenant, name)) {
			status = error(ret_body, 409,
				       xasprintf("name: %s '%s' already exists in tenant '%s'",
						 s->name, name, tenant));
		} else if ((o = checked(s, body, &status, ret_body))) {
			char *uuid = xasprintf("%s-%u", s->name, ++m->next_id);
			char *k = xasprintf("%s/%s", tenant, name);
			json_object_set_new(o, "uuid", json_string(uuid));
			json_object_set_new(o, "tenant_ref", json_string(tenant));
			json_object_set_new(objs, k, o);
			status = answer(ret_body, 201, shown(s, o));
			free(uuid);
			free(k);
		}
	} else if ((!strcmp(method, "PATCH") || !strcmp(method, "PUT")) && obj &&
		   json_is_object(body)) {
		json_t *merged =
		    !strcmp(method, "PUT") ? json_deep_copy(body) : json_deep_copy(obj);
		if (!strcmp(method, "PATCH"))
			json_object_update(merged, (json_t *)body);
		json_object_set(merged, "name", json_object_get(obj, "name"));
		if ((o = checked(s, merged, &status, ret_body))) {
			json_object_set(o, "uuid", json_object_get(obj, "uuid"));
			json_object_set(o, "tenant_ref", json_object_get(obj, "tenant_ref"));
			json_object_clear(obj);
			json_object_update(obj, o);
			json_decref(o);
			status = answer(ret_body, 200, shown(s, obj));
		}
		json_decref(merged);
	} else if (!strcmp(method, "DELETE") && obj) {
		const char *k;
		char *key = NULL;
		json_object_foreach(objs, k, o) if (o == obj) key = xstrdup(k);
		json_object_del(objs, key);
		free(key);
		status = 204;
	} else {
		status =
		    error(ret_body, 400, xasprintf("memapi: %s %s not supported", method, path));
	}
out:
	for (int i = 0; i < 3; i++)
		free(seg[i]);
	return status;
}
