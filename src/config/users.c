/* users.c: users, tenants and roles: salted slow password hashes, their rules in the store, the built-in objects. */
#include "config/users.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define SALT_LEN 16
#define HASH_LEN 32

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int derive(const char *password, const unsigned char *salt, int rounds,
		  unsigned char out[HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, SALT_LEN, rounds,
				 EVP_sha256(), HASH_LEN, out) == 1
		       ? 0
		       : -EIO;
}

int cfg_password_hash(const char *password, char **ret)
{
	unsigned char salt[SALT_LEN], h[HASH_LEN];
	char salt_hex[2 * SALT_LEN + 1], h_hex[2 * HASH_LEN + 1];

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    derive(password, salt, CFG_PASSWORD_ROUNDS, h) < 0)
		return -EIO;
	hex(salt, SALT_LEN, salt_hex);
	hex(h, HASH_LEN, h_hex);
	*ret = xasprintf("pbkdf2_sha256$%d$%s$%s", CFG_PASSWORD_ROUNDS, salt_hex, h_hex);
	OPENSSL_cleanse(h, sizeof(h));
	return 0;
}

bool cfg_password_verify(const char *password, const char *stored)
{
	unsigned char salt[SALT_LEN] = {0}, want[HASH_LEN] = {0}, got[HASH_LEN];
	char salt_hex[2 * SALT_LEN + 1] = "", want_hex[2 * HASH_LEN + 1] = "";
	int rounds = 0;
	bool ok = stored && password &&
		  sscanf(stored, "pbkdf2_sha256$%d$%32[0-9a-f]$%64[0-9a-f]", &rounds, salt_hex,
			 want_hex) == 3 &&
		  rounds >= 1000 && rounds <= 10000000 && unhex(salt_hex, salt, SALT_LEN) == 0 &&
		  unhex(want_hex, want, HASH_LEN) == 0;

	/* A missing user or a bad hash costs a hash too. */
	if (derive(password ? password : "", salt, ok ? rounds : CFG_PASSWORD_ROUNDS, got) < 0)
		return false;
	ok = ok && CRYPTO_memcmp(got, want, HASH_LEN) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

bool cfg_type_is_global(const char *type)
{
	return type && (!strcmp(type, "user") || !strcmp(type, "tenant") || !strcmp(type, "role"));
}

/* Resolves access[@n].@field (a name or uuid of @type) to the name. */
static int access_ref(json_t *entry, size_t n, const char *field, const char *type,
		      const struct cfg_cache *all, char **ret_err)
{
	const char *key = str(entry, field);
	const json_t *t = cfg_cache_find(all, cfg_type_find(type), key, CFG_TENANT_ADMIN);

	if (!t) {
		*ret_err = xasprintf("access[%zu].%s: %s '%s' does not exist", n, field, type, key);
		return -EINVAL;
	}
	json_object_set(entry, field, json_object_get(t, "name"));
	return 0;
}

static int check_user(json_t *obj, const json_t *old, const struct cfg_cache *all, char **ret_err)
{
	const char *name = str(obj, "name");
	json_t *pw = json_object_get(obj, "password"), *e;
	size_t i;
	int r;

	if (!json_object_get(obj, "username"))
		json_object_set_new(obj, "username", json_string(name));
	if (strcmp(str(obj, "username"), name)) {
		*ret_err = xasprintf("username: '%s' must equal the name '%s' (users log in by name)",
				     str(obj, "username"), name);
		return -EINVAL;
	}
	json_array_foreach(json_object_get(obj, "access"), i, e)
	{
		r = access_ref(e, i + 1, "tenant_ref", "tenant", all, ret_err);
		if (r == 0)
			r = access_ref(e, i + 1, "role_ref", "role", all, ret_err);
		if (r < 0)
			return r;
	}
	/* An unchanged password is the stored hash itself (PATCH, or PUT
	 * without it): it stays. Anything else is a new clear password. */
	if (pw && !(old && json_equal(pw, json_object_get(old, "password")))) {
		char *h = NULL;
		if (strlen(json_string_value(pw)) < CFG_PASSWORD_MIN) {
			*ret_err = xasprintf("password: shorter than %d characters", CFG_PASSWORD_MIN);
			return -EINVAL;
		}
		if (cfg_password_hash(json_string_value(pw), &h) < 0) {
			*ret_err = xasprintf("password: no randomness for a salt");
			return -EIO;
		}
		json_object_set_new(obj, "password", json_string(h));
		free(h);
	}
	return 0;
}

int cfg_users_check(const struct cfg_schema *s, json_t *obj, const json_t *old,
		    const struct cfg_cache *all, char **ret_err)
{
	const char *tenant = str(obj, "tenant_ref");

	if (cfg_type_is_global(s->name)) {
		if (strcmp(tenant, CFG_TENANT_ADMIN)) {
			*ret_err = xasprintf("tenant_ref: a %s belongs to tenant '%s', not '%s'", s->name,
					     CFG_TENANT_ADMIN, tenant);
			return -EINVAL;
		}
		return strcmp(s->name, "user") == 0 ? check_user(obj, old, all, ret_err) : 0;
	}
	if (strcmp(tenant, CFG_TENANT_ADMIN) &&
	    !cfg_cache_find_name(all, cfg_type_find("tenant"), CFG_TENANT_ADMIN, tenant)) {
		*ret_err = xasprintf("tenant_ref: tenant '%s' does not exist (create it first: "
				     "POST /api/tenant)",
				     tenant);
		return -EINVAL;
	}
	return 0;
}

int cfg_tenant_unused(const json_t *tenant, const struct cfg_cache *all, char **ret_err)
{
	const char *name = str(tenant, "name");
	char held[512] = "";
	size_t n = 0, i, j;
	json_t *o, *e;

	if (strcmp(name, CFG_TENANT_ADMIN) == 0) {
		*ret_err = xasprintf("tenant '%s' is built in: it cannot be deleted or renamed", name);
		return -EBUSY;
	}
	for (size_t t = 0; cfg_types[t]; t++) {
		if (cfg_type_is_global(cfg_types[t]->name))
			continue;
		json_array_foreach(cfg_cache_list(all, cfg_types[t]), i, o)
		{
			if (strcmp(str(o, "tenant_ref"), name))
				continue;
			if (n++ < 5)
				snprintf(held + strlen(held), sizeof(held) - strlen(held), "%s%s '%s'",
					 n > 1 ? ", " : "", cfg_types[t]->name, str(o, "name"));
		}
	}
	if (n) {
		*ret_err = xasprintf("tenant '%s' still holds %zu object%s: %s%s (delete them first)",
				     name, n, n > 1 ? "s" : "", held, n > 5 ? ", ..." : "");
		return -EBUSY;
	}
	json_array_foreach(cfg_cache_list(all, cfg_type_find("user")), i, o)
	{
		json_array_foreach(json_object_get(o, "access"), j, e)
		{
			if (strcmp(str(e, "tenant_ref"), name) == 0) {
				*ret_err = xasprintf("tenant '%s' is in use by user '%s' "
						     "(access[%zu].tenant_ref)",
						     name, str(o, "name"), j + 1);
				return -EBUSY;
			}
		}
	}
	return 0;
}

/* Creates @body as a @type in tenant admin unless one of its name exists. */
static int ensure(struct cfg_store *st, const char *type, json_t *body, bool *ret_made,
		  char **ret_err)
{
	json_t *out = NULL;
	char *err = NULL;
	int r = cfg_get(st, type, str(body, "name"), CFG_TENANT_ADMIN, &out, &err);

	free(err);
	json_decref(out);
	if (ret_made)
		*ret_made = r < 0;
	if (r == 0) {
		json_decref(body);
		return 0;
	}
	out = NULL;
	r = cfg_create(st, type, CFG_TENANT_ADMIN, body, &out, ret_err);
	json_decref(out);
	json_decref(body);
	return r;
}

static json_t *privileges(const char *all, const char *tenant, const char *user)
{
	return json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "resource", "*", "type", all,
			 "resource", "tenant", "type", tenant, "resource", "user", "type", user);
}

/* A tenant for each tenant_ref a store from before tenants holds. */
static int adopt_tenants(struct cfg_store *st, char **ret_err)
{
	for (size_t t = 0; cfg_types[t]; t++) {
		json_t *list = NULL, *o;
		char *err = NULL;
		size_t i;
		int r = 0;

		if (cfg_type_is_global(cfg_types[t]->name))
			continue;
		if (cfg_list(st, cfg_types[t]->name, "*", &list, &err) < 0) {
			*ret_err = err;
			return -EIO;
		}
		json_array_foreach(list, i, o)
		{
			r = ensure(st, "tenant",
				   json_pack("{s:s, s:s}", "name", str(o, "tenant_ref"), "description",
					     "made at start for the objects that name it"),
				   NULL, ret_err);
			if (r < 0)
				break;
		}
		json_decref(list);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_users_seed(struct cfg_store *st, const char *admin_password, char **ret_generated,
		   char **ret_err)
{
	static const struct {
		const char *name, *all, *tenant, *user;
	} roles[] = {
		{CFG_ROLE_SYSTEM_ADMIN, "WRITE_ACCESS", "WRITE_ACCESS", "WRITE_ACCESS"},
		{CFG_ROLE_TENANT_ADMIN, "WRITE_ACCESS", "READ_ACCESS", "NO_ACCESS"},
		{CFG_ROLE_APP_OPERATOR, "READ_ACCESS", "READ_ACCESS", "NO_ACCESS"},
	};
	unsigned char raw[12];
	char *generated = NULL;
	bool made = false;
	int r;

	*ret_generated = NULL;
	r = ensure(st, "tenant",
		   json_pack("{s:s, s:s}", "name", CFG_TENANT_ADMIN, "description",
			     "the built-in tenant"),
		   NULL, ret_err);
	if (r == 0)
		r = adopt_tenants(st, ret_err);
	for (size_t i = 0; r == 0 && i < sizeof(roles) / sizeof(roles[0]); i++)
		r = ensure(st, "role",
			   json_pack("{s:s, s:o}", "name", roles[i].name, "privileges",
				     privileges(roles[i].all, roles[i].tenant, roles[i].user)),
			   NULL, ret_err);
	if (r < 0)
		return r;
	if (!admin_password) {
		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			*ret_err = xasprintf("no randomness for the admin password");
			return -EIO;
		}
		generated = xmalloc(2 * sizeof(raw) + 1);
		hex(raw, sizeof(raw), generated);
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	r = ensure(st, "user",
		   json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "name", "admin", "full_name",
			     "System Administrator", "password",
			     admin_password ? admin_password : generated, "access", "tenant_ref",
			     CFG_TENANT_ADMIN, "role_ref", CFG_ROLE_SYSTEM_ADMIN),
		   &made, ret_err);
	if (r == 0 && made && generated)
		*ret_generated = generated;
	else if (generated) {
		OPENSSL_cleanse(generated, strlen(generated));
		free(generated);
	}
	return r;
}
