/* access.c: the built-in roles applied to each API request: which tenant it acts in, and whether its user may read or change the type. */
#include "api/access.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/users.h"
#include "lib/util.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static unsigned deny(unsigned status, char **ret_err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static unsigned deny(unsigned status, char **ret_err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_err, fmt, ap) < 0)
		abort();
	va_end(ap);
	return status;
}

/* The object type of @url ("/api/pool/x" -> "pool") in @out; "" when none. */
static void type_of(const char *url, char out[64])
{
	size_t n;

	out[0] = 0;
	if (strncmp(url, "/api/", 5))
		return;
	n = strcspn(url + 5, "/");
	if (n < 64) {
		memcpy(out, url + 5, n);
		out[n] = 0;
	}
}

/* The key of @url ("/api/tenant/t1" -> "t1") in @out; "" for a collection. */
static void key_of(const char *url, char out[256])
{
	const char *p = strncmp(url, "/api/", 5) ? NULL : strchr(url + 5, '/');
	size_t n;

	out[0] = 0;
	if (!p)
		return;
	n = strcspn(p + 1, "/");
	if (n < 256) {
		memcpy(out, p + 1, n);
		out[n] = 0;
	}
}

static json_t *get(struct cfg_store *st, const char *type, const char *key)
{
	json_t *o = NULL;
	char *err = NULL;

	if (cfg_get(st, type, key, CFG_TENANT_ADMIN, &o, &err) < 0)
		o = NULL;
	free(err);
	return o;
}

static bool sysadmin(const json_t *user)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(user, "access"), i, e)
		if (strcmp(str(e, "role_ref"), CFG_ROLE_SYSTEM_ADMIN) == 0)
			return true;
	return false;
}

/* The role @user has in @tenant, or NULL. */
static const char *role_in(const json_t *user, const char *tenant)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(user, "access"), i, e)
		if (strcmp(str(e, "tenant_ref"), tenant) == 0)
			return str(e, "role_ref");
	return NULL;
}

enum level { NO_ACCESS, READ_ACCESS, WRITE_ACCESS };

/* What role @role allows on @type: its privilege for the type, else for "*". */
static enum level privilege(struct cfg_store *st, const char *role, const char *type)
{
	json_t *r = get(st, "role", role), *p;
	const char *found = NULL, *any = NULL;
	enum level l = NO_ACCESS;
	size_t i;

	json_array_foreach(json_object_get(r, "privileges"), i, p)
	{
		if (strcmp(str(p, "resource"), type) == 0)
			found = str(p, "type");
		else if (strcmp(str(p, "resource"), "*") == 0)
			any = str(p, "type");
	}
	found = found ? found : any ? any : "NO_ACCESS";
	if (strcmp(found, "WRITE_ACCESS") == 0)
		l = WRITE_ACCESS;
	else if (strcmp(found, "READ_ACCESS") == 0)
		l = READ_ACCESS;
	json_decref(r);
	return l;
}

static bool reads(const char *method)
{
	return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

unsigned api_access_permit(struct cfg_store *st, const struct api_who *who,
			   struct MHD_Connection *c, const char *method, const char *url,
			   char **ret_tenant, char **ret_err)
{
	const char *hu = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Avi-Tenant-UUID");
	const char *hn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Avi-Tenant");
	enum level level;
	const char *role;
	json_t *user = NULL, *t;
	char type[64], *tenant;
	unsigned status = 0;
	bool sys;

	type_of(url, type);
	if (strcmp(type, "role") == 0 && !reads(method))
		return deny(403, ret_err,
			    "role: the built-in roles (%s, %s, %s) are read-only",
			    CFG_ROLE_SYSTEM_ADMIN, CFG_ROLE_TENANT_ADMIN, CFG_ROLE_APP_OPERATOR);
	if (!who->all) {
		user = get(st, "user", who->user);
		if (!user || strcmp(str(user, "name"), who->user)) {
			json_decref(user);
			return deny(401, ret_err, "user '%s' no longer exists: log in again",
				    who->user);
		}
	}
	sys = who->all || sysadmin(user);
	if (hu && *hu) {
		t = get(st, "tenant", hu);
		if (!t) {
			json_decref(user);
			return deny(404, ret_err, "X-Avi-Tenant-UUID: no tenant '%s'", hu);
		}
		tenant = xstrdup(str(t, "name"));
		json_decref(t);
	} else if (hn && *hn && strcmp(hn, "*")) {
		t = get(st, "tenant", hn);
		tenant = xstrdup(t ? str(t, "name") : hn);
		json_decref(t);
	} else if (hn && *hn) {
		tenant = xstrdup("*");
	} else if (sys || role_in(user, CFG_TENANT_ADMIN)) {
		tenant = xstrdup(CFG_TENANT_ADMIN);
	} else {
		json_t *first = json_array_get(json_object_get(user, "access"), 0);
		tenant = xstrdup(first ? str(first, "tenant_ref") : CFG_TENANT_ADMIN);
	}
	if (sys)
		goto done;
	if (strcmp(url, "/metrics") == 0) {
		status = deny(403, ret_err, "/metrics: needs the %s role", CFG_ROLE_SYSTEM_ADMIN);
		goto done;
	}
	if (strcmp(tenant, "*") == 0) {
		status = deny(403, ret_err, "X-Avi-Tenant: '*' (every tenant) needs the %s role",
			      CFG_ROLE_SYSTEM_ADMIN);
		goto done;
	}
	role = role_in(user, tenant);
	if (!role) {
		status = deny(403, ret_err, "X-Avi-Tenant: user '%s' has no access to tenant '%s'",
			      who->user, tenant);
		goto done;
	}
	level = privilege(st, role, type);
	if (level == NO_ACCESS)
		status = deny(403, ret_err, "%s: user '%s' has no access to %s objects (role %s in "
			      "tenant '%s')",
			      type, who->user, type, role, tenant);
	else if (level == READ_ACCESS && !reads(method))
		status = deny(403, ret_err, "%s: user '%s' may only read (role %s in tenant '%s')",
			      type, who->user, role, tenant);
done:
	json_decref(user);
	if (status) {
		free(tenant);
		return status;
	}
	if (cfg_type_is_global(type)) {
		free(tenant);
		tenant = xstrdup(CFG_TENANT_ADMIN);
	}
	*ret_tenant = tenant;
	return 0;
}

void api_access_filter(struct cfg_store *st, const struct api_who *who, const char *method,
		       const char *url, unsigned *status, json_t **out)
{
	char type[64], key[256];
	json_t *user, *list, *kept, *o;
	size_t i;

	type_of(url, type);
	if (who->all || *status != 200 || !reads(method) || strcmp(type, "tenant"))
		return;
	user = get(st, "user", who->user);
	if (!user || sysadmin(user)) {
		json_decref(user);
		return;
	}
	key_of(url, key);
	if (*key) {
		if (!role_in(user, str(*out, "name"))) {
			json_decref(*out);
			*out = json_pack("{s:s}", "error", "");
			json_object_set_new(*out, "error", json_sprintf("tenant '%s' not found", key));
			*status = 404;
		}
	} else {
		list = json_object_get(*out, "results");
		kept = json_array();
		json_array_foreach(list, i, o)
			if (role_in(user, str(o, "name")))
				json_array_append(kept, o);
		json_object_set_new(*out, "count", json_integer((json_int_t)json_array_size(kept)));
		json_object_set_new(*out, "results", kept);
		json_object_del(*out, "next");
	}
	json_decref(user);
}
