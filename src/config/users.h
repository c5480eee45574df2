/* users.h: users, tenants and roles: password hashes, their rules in the store, the built-in objects. */
#ifndef CLONELB_CONFIG_USERS_H
#define CLONELB_CONFIG_USERS_H

#include <jansson.h>
#include <stdbool.h>

#include "config/cache.h"
#include "config/schema.h"
#include "config/store.h"

/* The built-in roles (docs/api.md, "Users, tenants and roles"). */
#define CFG_ROLE_SYSTEM_ADMIN "System-Admin"
#define CFG_ROLE_TENANT_ADMIN "Tenant-Admin"
#define CFG_ROLE_APP_OPERATOR "Application-Operator"
/* The built-in tenant, and the tenant users, tenants and roles live in. */
#define CFG_TENANT_ADMIN "admin"

/* PBKDF2-HMAC-SHA256 rounds of a stored password hash. */
#define CFG_PASSWORD_ROUNDS 100000
/* Shortest password accepted. */
#define CFG_PASSWORD_MIN 8

/*
 * Hashes @password with a fresh random salt into the stored form
 * "pbkdf2_sha256$ROUNDS$SALT$HASH" (hex). Returns 0 and *ret (caller frees),
 * or -EIO when the system has no randomness.
 */
int cfg_password_hash(const char *password, char **ret);

/* True if @password matches @stored (a cfg_password_hash() result). Takes
 * the time of one hash also when @stored is NULL or malformed, so the time
 * taken does not tell whether a user exists. */
bool cfg_password_verify(const char *password, const char *stored);

/* True for the types that belong to no tenant of their own: user, tenant,
 * role (they are kept in tenant admin). */
bool cfg_type_is_global(const char *type);

/*
 * The rules of users, tenants and roles for a create or update of @obj of
 * type @s, run with the other rules of the store: an object's tenant must
 * exist (admin always does); users, tenants and roles live in tenant admin;
 * a user's username is its name, a new or changed password is replaced by
 * its hash, and each access[] entry names an existing tenant and role
 * (rewritten to their names). Returns 0, or -EINVAL with *ret_err.
 */
int cfg_users_check(const struct cfg_schema *s, json_t *obj, const json_t *old,
		    const struct cfg_cache *all, char **ret_err);

/*
 * Whether tenant @tenant may be deleted or renamed: not admin, holding no
 * object and named by no user's access. Returns 0 or -EBUSY with *ret_err
 * naming what holds it.
 */
int cfg_tenant_unused(const json_t *tenant, const struct cfg_cache *all, char **ret_err);

/*
 * Makes sure the built-in objects exist in @st: tenant admin, a tenant for
 * every tenant_ref an older store holds, the three roles, and user admin
 * (System-Admin). A new admin user gets @admin_password, or, when NULL, a
 * random one returned in *ret_generated (caller frees; NULL otherwise) to be
 * shown once. Returns 0, or -errno with *ret_err.
 */
int cfg_users_seed(struct cfg_store *st, const char *admin_password, char **ret_generated,
		   char **ret_err);

#endif
